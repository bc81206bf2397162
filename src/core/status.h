/* status: the file TREE_STATUS_NAME in the root of the mount. Reading it
 * gives a snapshot taken at open: a header line (starting with "# ": the
 * session, the server, cache and spool use, online or offline since when)
 * then the uploads (upload_status_text: one line each), then the drafts
 * (draft_status_text: "draft" rows with the same columns). Writing it runs
 * commands, one per line: "refresh" marks every cached listing stale
 * (tree_refresh_all), the others are upload commands ("retry",
 * "cancel ID", ...). Its inode is allocated once per cache database
 * (tree_status_ino). No state of its own. */
#ifndef DSPACEFS_STATUS_H
#define DSPACEFS_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "core/reader.h"
#include "core/tree.h"
#include "core/upload.h"

struct draft;

/* What the status file reports on. All borrowed; only tree is needed. */
struct status_src {
	struct session *session; /* NULL: the header says so */
	struct tree *tree;
	struct reader *reader; /* the content cache; may be NULL */
	struct upload *upload; /* NULL: no uploads (read-only mount) */
	struct draft *draft;   /* the user's drafts; NULL: none */
};

/* The status file's inode (0 when none could be allocated). */
uint64_t status_ino(struct tree *t);
/* Whether ino is the status file's. */
int status_is(struct tree *t, uint64_t ino);
/* The whole text now: the header line, the upload rows, the
 * draft rows. */
int status_text(const struct status_src *src, struct buf *out);
/* The status file as a node: type DSO_NONE, in the root, its size that of
 * the text now. */
int status_node(const struct status_src *src, struct tree_node *out);
/* Opens it: the snapshot read back into text. Writing needs a writable
 * mount (-EROFS). */
int status_open(const struct status_src *src, int for_write, int writable,
		struct buf *text);
/* Runs the commands in buf (size bytes, one per line); a failed line is
 * logged with its error. Returns the first error, or 0. */
int status_commands(const struct status_src *src, const char *buf, size_t size);

#endif
