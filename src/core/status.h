/* status: the file TREE_STATUS_NAME in the root of the mount. Reading it
 * gives a snapshot of the uploads (upload_status_text: one line each, taken
 * at open), then the drafts (draft_status_text: "draft" rows with the
 * same columns); writing it runs upload commands, one per line ("retry",
 * "cancel ID", ...). Its inode is allocated once per cache database
 * (tree_status_ino). No state of its own. */
#ifndef DSPACEFS_STATUS_H
#define DSPACEFS_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "core/tree.h"
#include "core/upload.h"

struct draft;

/* The status file's inode (0 when none could be allocated). */
uint64_t status_ino(struct tree *t);
/* Whether ino is the status file's. */
int status_is(struct tree *t, uint64_t ino);
/* The status file as a node: type DSO_NONE, in the root, its size that of
 * the text now. u may be NULL (size 0). */
int status_node(struct tree *t, struct upload *u, struct draft *d,
		struct tree_node *out);
/* Opens it: the snapshot read back into text (empty when u is NULL).
 * Writing needs a writable mount (-EROFS). */
int status_open(struct upload *u, struct draft *d, int for_write, int writable,
		struct buf *text);
/* Runs the commands in buf (size bytes, one per line); a failed line is
 * logged with its error. Returns the first error, or 0. */
int status_commands(struct upload *u, const char *buf, size_t size);

#endif
