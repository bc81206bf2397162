/* status: the .dspacefs-status file (see status.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/draft.h"
#include "core/status.h"
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

/* The node; its size is that of the text it would show now. */
int status_node(struct tree *t, struct upload *u, struct draft *d,
		struct tree_node *out)
{
	struct buf b = BUF_INIT;

	memset(out, 0, sizeof(*out));
	out->ino = status_ino(t);
	out->parent_ino = TREE_ROOT_INO;
	out->type = DSO_NONE;
	out->name = strdup(TREE_STATUS_NAME);
	if (!out->ino || !out->name) {
		free(out->name);
		out->name = NULL;
		return -ENOMEM;
	}
	if ((!u || upload_status_text(u, &b) == 0) &&
	    draft_status_text(d, &b) == 0)
		out->size = (int64_t)b.len;
	buf_release(&b);
	return 0;
}

/* The snapshot an open reads back. */
int status_open(struct upload *u, struct draft *d, int for_write, int writable,
		struct buf *text)
{
	int r = 0;

	if (for_write && !writable)
		return -EROFS;
	if (u)
		r = upload_status_text(u, text);
	if (r == 0)
		r = draft_status_text(d, text);
	if (r < 0)
		buf_release(text);
	return r;
}

/* Runs the commands written, one per line. */
int status_commands(struct upload *u, const char *buf, size_t size)
{
	char *text = strndup(buf, size), *save = NULL, *line;
	int r = 0, x;

	if (!text)
		return -ENOMEM;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		x = u ? upload_command(u, line) : -ENOENT;
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
