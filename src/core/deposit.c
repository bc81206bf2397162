/* deposit: DEPOSIT.txt, a draft's instructions and its deposit button
 * (see deposit.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/deposit.h"
#include "dspace/dspace.h"
#include "util/log.h"

/* Whether dir is a draft (in the workspace or deposited to a workflow). */
static int dep_has(void *ctx, const struct tree_node *dir)
{
	struct deposit_ctx *c = ctx;
	const char *st;

	if (dir->type != DSO_ITEM)
		return 0;
	st = draft_state(c->draft, dir->uuid);
	return st && (!strcmp(st, "workspace") || !strcmp(st, "workflow"));
}

/* Whether a line (len bytes) is "deposit" once spaces, tabs and CR are
 * trimmed. */
static int is_deposit_line(const char *p, size_t len)
{
	while (len && (*p == ' ' || *p == '\t' || *p == '\r')) {
		p++;
		len--;
	}
	while (len &&
	       (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
		len--;
	return len == 7 && !memcmp(p, "deposit", 7);
}

/* Appends text indented, a line "deposit" in it made harmless. */
static int add_indented(struct buf *out, const char *text, size_t len)
{
	const char *p = text, *end = text + len, *nl;
	int r = 0;

	while (r == 0 && p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if (is_deposit_line(p, (size_t)(nl - p)))
			r = buf_adds(out, "    (deposit)\n");
		else
			r = buf_addf(out, "    %.*s\n", (int)(nl - p), p);
		p = nl + 1;
	}
	return r;
}

/* The part of the text about what is missing. */
static int add_missing(struct deposit_ctx *c, int64_t id, struct buf *out)
{
	struct buf m = BUF_INIT;
	int r = dspace_draft_missing(c->s, id, &m);

	if (r == 0 && m.len)
		r = buf_adds(out, "Still missing before you can deposit:\n") ||
		    add_indented(out, m.data, m.len);
	else if (r == 0)
		r = buf_adds(out, "Nothing is missing: the draft can be "
				  "deposited.\n");
	else
		r = buf_adds(out, "(The server did not say what is missing: "
				  "see the log.)\n");
	buf_release(&m);
	return r;
}

static const char how_to[] =
    "\nHow to deposit:\n"
    "  1. Put your files into the folder ORIGINAL/ next to this file\n"
    "     (cp, rsync, your file manager).\n"
    "  2. Fill in what is missing above (on the repository's web site, or\n"
    "     in metadata.json in this folder where there is one).\n"
    "  3. When nothing is missing, write the word  deposit  on a line of\n"
    "     its own into this file, for example with:\n"
    "         echo deposit > DEPOSIT.txt\n"
    "     By depositing you grant the collection's licence shown above.\n"
    "     If something is still missing, the command fails and this file\n"
    "     says what.\n"
    "To abandon the draft instead, remove its folder (rm -r).\n";

/* The snapshot of DEPOSIT.txt for draft dir. */
static int dep_snapshot(void *ctx, const struct tree_node *dir,
			const char *path, struct buf *out)
{
	struct deposit_ctx *c = ctx;
	struct tree_node coll;
	struct buf lic = BUF_INIT;
	char cu[UUID_LEN + 1];
	int64_t id;
	int r;

	(void)path;
	r = draft_info(c->draft, dir->uuid, &id, cu);
	if (r)
		return r;
	if (tree_getattr(c->tree, dir->parent_ino, &coll) == 0) {
		r = buf_addf(out,
			     "This folder is a draft: \"%s\", a submission "
			     "to the collection\n\"%s\".\n",
			     dir->name, coll.name);
		tree_node_release(&coll);
	}
	if (!strcmp(draft_state(c->draft, dir->uuid), "workflow"))
		return r ? r
			 : buf_adds(out, "\nIt has been deposited and "
					 "waits for the collection's "
					 "reviewers.\nIt can no longer be "
					 "changed from here.\n");
	r = r ? r
	      : buf_adds(out, "Only you (and the repository's "
			      "administrators) can see it.\n\n");
	r = r ? r : add_missing(c, id, out);
	if (r == 0 && dspace_collection_license(c->s, cu, &lic) == 0)
		r = buf_adds(out, "\nLicence of the collection (granted when "
				  "you deposit):\n") ||
		    add_indented(out, lic.data ? lic.data : "", lic.len);
	buf_release(&lic);
	return r ? r : buf_adds(out, how_to);
}

/* Whether a file of the draft at path is still open, uploading, failed
 * or incomplete: an upload row of the status text under path (but a
 * cancelled one: the user gave that file up). */
static int files_busy(struct deposit_ctx *c, const char *path)
{
	struct buf b = BUF_INIT;
	size_t plen = strlen(path);
	const char *p, *end, *col, *nl;
	int busy = 0, k;

	if (!c->upload || upload_status_text(c->upload, &b, NULL) || !b.data) {
		buf_release(&b);
		return 0;
	}
	end = b.data + b.len;
	for (p = b.data; p && p < end && !busy; p = nl ? nl + 1 : NULL) {
		nl = memchr(p, '\n', (size_t)(end - p));
		for (col = p, k = 0; k < 3 && col; k++) {
			if (k == 2 && !strncmp(col, "cancelled\t", 10))
				col = NULL; /* given up: not the draft's */
			col =
			    col ? memchr(col, '\t', (size_t)(end - col)) : NULL;
			col = col ? col + 1 : NULL;
		}
		busy = col && (size_t)(end - col) > plen &&
		       !memcmp(col, path, plen) && col[plen] == '/';
	}
	buf_release(&b);
	return busy;
}

/* A save of DEPOSIT.txt: a line "deposit" deposits the draft. */
static int dep_write(void *ctx, const struct tree_node *dir, const char *path,
		     const char *data, size_t len)
{
	struct deposit_ctx *c = ctx;
	const char *p = data, *end = data + len, *nl;
	int archived = 0, want = 0;

	for (; p < end && !want; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		want = is_deposit_line(p, (size_t)(nl - p));
	}
	if (!want)
		return 0;
	if (strcmp(draft_state(c->draft, dir->uuid), "workspace"))
		return -EALREADY;
	if (files_busy(c, path)) {
		log_error("draft %s: cannot deposit while a file is open, "
			  "uploading or failed (see the status file)",
			  path);
		return -EBUSY;
	}
	return draft_deposit(c->draft, dir->uuid, path, &archived);
}

struct virt_file deposit_virt_file(struct deposit_ctx *ctx)
{
	struct virt_file f = {.name = DEPOSIT_NAME,
			      .has = dep_has,
			      .snapshot = dep_snapshot,
			      .write = dep_write,
			      .release = NULL,
			      .ctx = ctx};

	return f;
}
