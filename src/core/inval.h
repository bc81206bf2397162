/* inval: what the kernel may have cached (directory entries, attributes,
 * file pages, directory listings) and when it must forget it.
 *
 * The core (tree, upload, fs) reports changes in plain terms: "the content
 * of inode X changed", "entry NAME of directory D changed", "the listing
 * of D changed", or a whole refreshed listing to compare with the previous
 * one. inval turns them into invalidation requests and hands them, one at
 * a time and from its own worker thread, to a sink registered by fs.c (the
 * only part that knows FUSE). Callers never wait for the kernel: request
 * handlers may report changes without risking a deadlock on the inode they
 * are serving.
 *
 * It also keeps, per inode, the identity (bitstream UUID + MD5 + size) of
 * the content the kernel may hold pages of, and a generation that changes
 * whenever that content is replaced. An open handle remembers the
 * generation it was opened under; once it changed, reads through it must
 * fail (ESTALE) so that they never put old bytes into the page cache that
 * readers of the new version share. The kernel may keep its pages across
 * opens (keep_cache) only when the identity opened is the one it holds.
 *
 * Every function accepts a NULL struct inval and then does nothing (opens
 * report "do not keep the cache"). Thread safe. */
#ifndef DSPACEFS_INVAL_H
#define DSPACEFS_INVAL_H

#include <stddef.h>
#include <stdint.h>

struct inval;

/* One request for the kernel. */
enum inval_kind {
	INVAL_DATA,  /* attributes and cached pages of ino */
	INVAL_ATTR,  /* attributes of ino only */
	INVAL_ENTRY, /* the entry name in directory ino (positive or not) */
};

struct inval_req {
	enum inval_kind kind;
	uint64_t ino;
	const char *name; /* INVAL_ENTRY */
};

/* Delivers one request; returns 0 or -errno (ENOENT: the kernel holds
 * nothing of it, which is fine). Called from the worker thread, and for
 * INVAL_ATTR also from inval_attr_now's caller. */
typedef int (*inval_sink_fn)(void *arg, const struct inval_req *r);

/* One entry of a directory listing, for inval_listing_diff. Borrowed. */
struct inval_child {
	uint64_t ino;
	const char *name;
	const char *uuid;
	const char *md5; /* "" for directories */
	int64_t size;
	int64_t mtime;
	int is_dir;
	unsigned rights; /* what the user may change (core/modes.h) */
};

struct inval *inval_new(void);
/* Stops the worker (pending requests are dropped) and frees. */
void inval_free(struct inval **inv);

/* Starts delivering requests to sink from a worker thread. 0 or -errno. */
int inval_start(struct inval *inv, inval_sink_fn sink, void *arg);
/* Stops the worker; requests queued meanwhile are dropped (the kernel is
 * going away). Changes are still recorded. */
void inval_stop(struct inval *inv);
/* Waits until every request queued so far was delivered (tests). */
void inval_drain(struct inval *inv);

/* --- what the kernel asked about --- */

/* The kernel asked about the entries of dir (a lookup in it, or its
 * listing): it may cache them from now on. */
void inval_dir_seen(struct inval *inv, uint64_t dir);
/* Whether the kernel may cache entries of dir (refreshes of directories
 * it never saw need no comparison). */
int inval_dir_known(struct inval *inv, uint64_t dir);

/* Records hash, a digest of everything a listing of dir reports, as an
 * opendir serves it; true when it equals the one recorded last, so that
 * the kernel may keep its cached copy of the listing (a repeated recursive
 * ls then costs no readdir calls). */
int inval_listing_unchanged(struct inval *inv, uint64_t dir, uint64_t hash);

/* --- changes --- */

/* The content of ino was replaced: handles opened before fail from now on,
 * and the kernel drops its pages and attributes. */
void inval_content(struct inval *inv, uint64_t ino);
/* Only the attributes of ino changed (times, a directory's size). */
void inval_attr(struct inval *inv, uint64_t ino);
/* Invalidates ino's attributes in the kernel at once, from the calling
 * thread, not queued: attributes involve no page lock, so a request handler
 * of ino may call it before it answers. For an open of content the kernel
 * has not seen (the size it cached may be another version's: a failed
 * upload shown until its last close, a listing of before; a read past that
 * size then asks for the attributes again instead of ending there) and for
 * the served size of a cover page (core/cover.h). 0 or -errno. */
int inval_attr_now(struct inval *inv, uint64_t ino);
/* The entry name of dir was added, removed or points elsewhere now; the
 * kernel forgets it (also a cached "no such name") and dir's listing. */
void inval_entry(struct inval *inv, uint64_t dir, const char *name);
/* The listing of dir changed (the kernel's cached readdir and its
 * attributes). */
void inval_listing(struct inval *inv, uint64_t dir);
/* Every listing the kernel may hold changed (a refresh of everything):
 * each directory it asked about is told as by inval_listing. When there
 * were too many to remember, only those remembered are. */
void inval_listings_all(struct inval *inv);
/* Compares dir's listing before (old) and after (cur) a refresh and
 * reports every difference: names added, removed or mapped to another
 * inode (the replaced inode's content is stale when it left dir), content
 * changed for an inode (UUID, MD5 or size) and attributes changed.
 * Returns how many changes were found. */
size_t inval_listing_diff(struct inval *inv, uint64_t dir,
			  const struct inval_child *old, size_t nold,
			  const struct inval_child *cur, size_t ncur);

/* --- open handles --- */

/* How inval_open lets a new handle use the page cache. */
#define INVAL_KEEP_CACHE 1 /* the kernel's pages of ino are of this content */
#define INVAL_DIRECT                                                           \
	2 /* bypass the page cache: handles on an older                        \
	   * version are still open and would read it */

/* Registers an open of ino whose content is identified by uuid, md5 and
 * size; *gen receives the generation to check reads against. Returns
 * INVAL_KEEP_CACHE, INVAL_DIRECT or 0 (use the page cache, dropping what
 * the kernel holds of ino). Another identity than the one recorded makes
 * earlier handles stale. Pair with inval_close. */
int inval_open(struct inval *inv, uint64_t ino, const char *uuid,
	       const char *md5, int64_t size, uint64_t *gen);
/* A read of ino is being served (until inval_read_end): a data
 * invalidation of ino waits for it (the kernel holds its pages locked
 * until we answer), or falls back to the attributes. */
void inval_read_begin(struct inval *inv, uint64_t ino);
void inval_read_end(struct inval *inv, uint64_t ino);
/* Whether a handle opened under gen still reads the current content. */
int inval_current(struct inval *inv, uint64_t ino, uint64_t gen);
/* The end of an open registered by inval_open under gen. */
void inval_close(struct inval *inv, uint64_t ino, uint64_t gen);
/* Compares the identity now known for ino (getattr) with the one the
 * kernel may hold; when they differ, as inval_content. Returns 1 then. */
int inval_check(struct inval *inv, uint64_t ino, const char *uuid,
		const char *md5, int64_t size);

#endif
