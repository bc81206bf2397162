/* status: the .dspacefs-status file (see status.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/draft.h"
#include "core/status.h"
#include "dspace/dspace.h"
#include "util/log.h"

/* The inode, from the tree (which keeps it once allocated). */
uint64_t status_ino(struct tree *t)
{
	return t ? tree_status_ino(t) : 0;
}

/* Whether ino is the status file's (never the root). */
int status_is(struct tree *t, uint64_t ino)
{
	return ino != TREE_ROOT_INO && ino == status_ino(t);
}

/* "session: ...; server: ...; " of the header line. */
static int header_session(struct session *s, struct buf *out)
{
	int r;

	if (!s)
		return buf_addf(out, "session: none; ");
	if (session_is_anonymous(s))
		r = buf_addf(out, "session: anonymous; ");
	else if (session_login_failing(s))
		r = buf_addf(out, "session: re-login failing for %s; ",
			     session_user(s));
	else
		r = buf_addf(out, "session: logged in as %s; ",
			     session_user(s));
	if (r == 0)
		r = buf_addf(out, "server: %s at %s; ",
			     session_dspace_version(s), session_api_url(s));
	return r;
}

/* The header line: session, server, cache use, spool, online state. */
static int header(const struct status_src *src, int64_t spool, struct buf *out)
{
	uint64_t used, cap;
	int64_t since = src->session ? session_offline_since(src->session) : 0;
	time_t t = (time_t)since;
	struct tm tm;
	char when[32] = "?";
	int r;

	reader_cache_use(src->reader, &used, &cap);
	if (since && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	r = buf_addf(out, "# ");
	if (r == 0)
		r = header_session(src->session, out);
	if (r == 0)
		r = buf_addf(out,
			     "cache: %" PRIu64 " of %" PRIu64 " bytes; "
			     "spool: %" PRId64 " bytes; ",
			     used, cap, spool);
	if (r == 0)
		r = since ? buf_addf(out, "offline since %s\n", when)
			  : buf_addf(out, "online\n");
	return r;
}

/* Header then rows. */
int status_text(const struct status_src *src, struct buf *out)
{
	struct buf rows = BUF_INIT;
	int64_t spool = 0;
	int r = 0;

	if (src->upload)
		r = upload_status_text(src->upload, &rows, &spool);
	if (r == 0)
		r = header(src, spool, out);
	if (r == 0 && rows.len)
		r = buf_add(out, rows.data, rows.len);
	if (r == 0)
		r = draft_status_text(src->draft, out);
	buf_release(&rows);
	return r;
}

/* The node; its size is that of the text it would show now. */
int status_node(const struct status_src *src, struct tree_node *out)
{
	struct buf b = BUF_INIT;

	memset(out, 0, sizeof(*out));
	out->ino = status_ino(src->tree);
	out->parent_ino = TREE_ROOT_INO;
	out->type = DSO_NONE;
	out->name = strdup(TREE_STATUS_NAME);
	if (!out->ino || !out->name) {
		free(out->name);
		out->name = NULL;
		return -ENOMEM;
	}
	if (status_text(src, &b) == 0)
		out->size = (int64_t)b.len;
	buf_release(&b);
	return 0;
}

/* The snapshot an open reads back. */
int status_open(const struct status_src *src, int for_write, int writable,
		struct buf *text)
{
	int r;

	if (for_write && !writable)
		return -EROFS;
	r = status_text(src, text);
	if (r < 0)
		buf_release(text);
	return r;
}

/* Runs one command line. */
static int command(const struct status_src *src, const char *line)
{
	int64_t id;
	int cmd, r;

	r = upload_parse_command(line, &cmd, &id);
	if (r == 0 && cmd == UPLOAD_CMD_REFRESH) {
		log_info("%s: refresh: every cached listing is stale now",
			 TREE_STATUS_NAME);
		return tree_refresh_all(src->tree);
	}
	if (r)
		return r < 0 ? r : 0;
	return src->upload ? upload_command(src->upload, line) : -ENOENT;
}

/* Runs the commands written, one per line. */
int status_commands(const struct status_src *src, const char *buf, size_t size)
{
	char *text = strndup(buf, size), *save = NULL, *line;
	int r = 0, x;

	if (!text)
		return -ENOMEM;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		x = command(src, line);
		if (x < 0) {
			log_warn("%s: \"%s\": %s", TREE_STATUS_NAME, line,
				 strerror(-x));
			if (r == 0)
				r = x;
		}
	}
	free(text);
	return r;
}
