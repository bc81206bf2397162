/* refresh: "show me what the server has now" (SIGHUP; the status file's
 * "refresh" command). */
#ifndef DSPACEFS_REFRESH_H
#define DSPACEFS_REFRESH_H

struct tree;
struct inval;

/* Marks every cached listing stale (not dropped: offline browsing keeps
 * working), so the next lookup or listing asks the server. The kernel's
 * own caches expire after -o cache_ttl; invalidating them at once through
 * inv is the hook's second half (issue 10). 0 or -errno. */
int core_refresh_all(struct tree *t, struct inval *inv);

#endif
