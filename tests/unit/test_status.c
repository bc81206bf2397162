/* Unit tests of core/status.c without FUSE and without a server (the
 * session is NULL): the status file's inode, kept per cache database, its
 * node, the snapshot an open reads and the commands written to it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/log.h"
#include "core/status.h"
#include "core/tree.h"
#include "core/upload.h"
#include "tap.h"
#include "tree_db.h"

#define BUNDLE "b0000000-0000-4000-8000-000000000001"

/* The inode: allocated once, the same after a reopen, never the root. */
static void test_ino(const char *dir)
{
	struct tree_config tc = {0};
	struct tree *t;
	char err[256];
	uint64_t ino;

	is_int((int)status_ino(NULL), 0, "no tree, no inode");
	ok(!status_is(NULL, TREE_ROOT_INO), "the root is not the status file");
	t = tree_db_open(dir, &tc, err, sizeof(err));
	if (!ok(t != NULL, "tree opens"))
		return;
	ino = status_ino(t);
	ok(ino != 0 && ino != TREE_ROOT_INO, "an inode of its own");
	is_int((int)status_ino(t), (int)ino, "the same on the next call");
	ok(status_is(t, ino), "status_is knows it");
	ok(!status_is(t, TREE_ROOT_INO), "but not the root");
	ok(!status_is(t, ino + 1), "nor another inode");
	tree_db_close(&t, &tc);
	t = tree_db_open(dir, &tc, err, sizeof(err));
	if (!ok(t != NULL, "tree reopens"))
		return;
	is_int((int)status_ino(t), (int)ino, "kept in the cache database");
	tree_db_close(&t, &tc);
}

/* The node, the snapshot and the commands, with an upload being written. */
static void test_file(const char *dir)
{
	struct tree_config tc = {0};
	struct tree *t;
	struct upload *u;
	struct upload_file *f = NULL;
	struct tree_node n;
	struct buf text = BUF_INIT, want = BUF_INIT;
	struct status_src src = {0}, none = {0};
	const char *hdr = "# session: none; cache: 0 of 0 bytes; spool: 0 "
			  "bytes; online\n";
	char err[256];

	t = tree_db_open(dir, &tc, err, sizeof(err));
	u = t ? upload_new(NULL, t, tc.cache, dir, err, sizeof(err)) : NULL;
	if (!ok(u != NULL, "tree and upload open"))
		goto out;
	src.tree = none.tree = t;
	src.upload = u;
	is_int(upload_create(u, 77, BUNDLE, "new.bin", "/c/i/ORIGINAL/new.bin",
			     0, NULL, &f),
	       0, "a file being written");
	is_int(buf_addf(&want, "%s", hdr), 0, "header");
	is_int(upload_status_text(u, &want, NULL), 0, "upload's status text");
	is_int(status_node(&src, &n), 0, "status_node");
	is_int((int)n.ino, (int)status_ino(t), "its inode");
	is_int((int)n.parent_ino, TREE_ROOT_INO, "in the root");
	is_int(n.type, DSO_NONE, "typed DSO_NONE");
	is_str(n.name, TREE_STATUS_NAME, "its name");
	is_int((int)n.size, (int)want.len, "its size is the text's");
	ok(want.len > strlen(hdr), "the text lists the upload");
	tree_node_release(&n);
	is_int(status_node(&none, &n), 0, "without uploads");
	is_int((int)n.size, (int)strlen(hdr), "only the header");
	tree_node_release(&n);

	is_int(status_open(&src, 1, 0, &text), -EROFS,
	       "no commands on a read-only mount");
	is_int(status_open(&src, 0, 0, &text), 0, "read on a read-only mount");
	ok(text.len == want.len && !memcmp(text.data, want.data, want.len),
	   "the snapshot is the header then upload's status text");
	buf_release(&text);
	is_int(status_open(&none, 1, 1, &text), 0, "no uploads: opens");
	is_int((int)text.len, (int)strlen(hdr), "and has only the header");
	buf_release(&text);

	is_int(status_commands(&src, "refresh\n", 8), 0, "a valid command");
	is_int(status_commands(&src, "refresh\nbogus\nforget 99999\n", 27),
	       -EINVAL, "the first error is returned");
	is_int(status_commands(&src, "forget 99999\nbogus", 18), -ENOENT,
	       "in the order written");
	is_int(status_commands(&src, "refresh\nbogus", 8), 0,
	       "only size bytes are read");
	is_int(status_commands(&none, "refresh", 7), 0,
	       "no uploads: refresh still works");
	is_int(status_commands(&none, "retry", 5), -ENOENT,
	       "no uploads: nothing else to command");
	upload_discard(f);
	upload_unref(&f);
out:
	buf_release(&want);
	upload_free(&u);
	tree_db_close(&t, &tc);
}

int main(void)
{
	char d1[] = "/tmp/test_status.XXXXXX", d2[] = "/tmp/test_status.XXXXXX";
	char cmd[128];

	log_init("test_status", 0, LL_ERROR);
	if (!mkdtemp(d1) || !mkdtemp(d2))
		return 1;
	test_ino(d1);
	test_file(d2);
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", d1, d2);
	if (system(cmd) != 0)
		return 1;
	return tap_done();
}
