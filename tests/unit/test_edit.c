/* Unit tests of core/edit.c without FUSE: every change goes to the fake
 * DSpace server (tests/fake-dspace, started here on a free port with the
 * "small" fixture, killed by PID at the end) through a real session, and
 * is checked through the tree (what the mount would show) and, after a
 * refresh, through the server's own listing. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"
#include "net/http.h"
#include "dspace/session.h"
#include "core/cache.h"
#include "core/edit.h"
#include "core/inval.h"
#include "core/status.h"
#include "tap.h"

static pid_t fake_pid;
static struct cache *db; /* open_all's cache database */
static char fake_url[128];

/* Starts the fake server in dir; 0 once it listens (bounded wait). */
static int fake_start(const char *dir)
{
	const char *top = getenv("top_srcdir");
	char script[1024], portf[512], state[512];
	FILE *f;
	int port = 0;

	snprintf(script, sizeof(script), "%s/tests/fake-dspace/fake_dspace.py",
		 top ? top : ".");
	snprintf(portf, sizeof(portf), "%s/port", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	fake_pid = fork();
	if (fake_pid < 0)
		return -1;
	if (fake_pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		execlp("python3", "python3", script, "--port", "0",
		       "--port-file", portf, "--state", state, "--fixture",
		       "small", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 300 && !port; i++) {
		usleep(100000);
		f = fopen(portf, "r");
		if (f) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
		if (waitpid(fake_pid, NULL, WNOHANG) == fake_pid)
			return -1;
	}
	snprintf(fake_url, sizeof(fake_url), "http://127.0.0.1:%d/server/api",
		 port);
	return port ? 0 : -1;
}

/* Stops the fake server by its PID. */
static void fake_stop(void)
{
	if (fake_pid > 0) {
		kill(fake_pid, SIGTERM);
		waitpid(fake_pid, NULL, 0);
	}
}

/* The inode of a path of names below the root, 0 when not found. */
static uint64_t ino_of(const struct edit *e, const char *path)
{
	char *p = strdup(path), *save = NULL, *name;
	uint64_t ino = TREE_ROOT_INO;
	struct tree_node n;

	for (name = strtok_r(p, "/", &save); name && ino;
	     name = strtok_r(NULL, "/", &save)) {
		if (edit_lookup(e, ino, name, &n) < 0) {
			ino = 0;
		} else {
			ino = n.ino;
			tree_node_release(&n);
		}
	}
	free(p);
	return ino;
}

/* The node called name in dir after asking the server again (-errno when
 * there is none). */
static int fresh_lookup(const struct edit *e, uint64_t dir, const char *name,
			struct tree_node *n)
{
	tree_invalidate(e->tree, dir);
	return tree_lookup(e->tree, dir, name, n);
}

#define RUNS "Research Data/Physics/Particle Physics/Detector Runs"
#define THESES "Research Data/Physics/Physics Theses"
#define RUN1 RUNS "/Run 2023-01 calibration"

/* A read-only mount: every change is EROFS, nothing is asked. */
static void test_read_only(const struct edit *rw)
{
	struct edit e = *rw;
	struct tree_node n;
	struct upload_file *f = NULL;
	uint64_t orig = ino_of(rw, RUN1 "/ORIGINAL");

	e.writable = 0;
	is_int(edit_mkdir(&e, orig, "x", &n), -EROFS, "ro: mkdir");
	is_int(edit_create(&e, orig, "x", 0, &f, &n), -EROFS, "ro: create");
	is_int(edit_mknod(&e, orig, "x", S_IFREG | 0644, &n), -EROFS,
	       "ro: mknod");
	is_int(edit_remove(&e, orig, "notes.txt", 0), -EROFS, "ro: unlink");
	is_int(edit_rename(&e, orig, "notes.txt", orig, "n.txt", 0), -EROFS,
	       "ro: rename");
	is_int(edit_setattr(&e, orig, NULL, EDIT_SET_SIZE, 0, NULL), -EROFS,
	       "ro: truncate");
	is_int(edit_xattr_change(&e), -EROFS, "ro: setxattr");
	is_int(edit_xattr_change(rw), -ENOTSUP, "rw: setxattr not supported");
	is_int(edit_lookup(rw, orig, "notes.txt", &n), 0, "notes.txt kept");
	tree_node_release(&n);
}

/* mkdir: items in collections (with ORIGINAL), bundles in items. */
static void test_mkdir(const struct edit *e)
{
	uint64_t theses = ino_of(e, THESES);
	struct tree_node n, b;
	char *path;

	ok(theses != 0, "the theses collection is found");
	is_int(edit_mkdir(e, theses, "NewItem", &n), 0, "mkdir an item");
	is_int(n.type, DSO_ITEM, "it is an item");
	is_str(n.name, "NewItem", "named as asked");
	is_int(fresh_lookup(e, n.ino, "ORIGINAL", &b), 0,
	       "the server has its ORIGINAL bundle");
	is_int(b.type, DSO_BUNDLE, "a bundle");
	path = edit_path(e, b.ino, "f.txt");
	is_str(path,
	       "/Research Data/Physics/Physics Theses/NewItem/ORIGINAL/"
	       "f.txt",
	       "edit_path spells the mount path");
	free(path);
	tree_node_release(&b);
	is_int(edit_mkdir(e, n.ino, "EXTRA", &b), 0, "mkdir a bundle");
	is_int(b.type, DSO_BUNDLE, "a bundle in an item");
	tree_node_release(&b);
	is_int(edit_mkdir(e, n.ino, "EXTRA", &b), -EEXIST, "mkdir twice");
	is_int(edit_mkdir(e, TREE_ROOT_INO, "Comm", &b), -EPERM,
	       "no community from the mount");
	is_int(edit_mkdir(e, ino_of(e, "Research Data"), "Coll", &b), -EPERM,
	       "no collection from the mount");
	tree_node_release(&n);
}

/* create and mknod in a bundle; what is refused elsewhere. */
static void test_create(const struct edit *e)
{
	uint64_t orig = ino_of(e, THESES "/NewItem/ORIGINAL");
	uint64_t item = ino_of(e, THESES "/NewItem");
	struct upload_file *f = NULL;
	struct tree_node n;

	is_int(edit_create(e, orig, "a.txt", 0, &f, &n), 0, "create a file");
	ok(f != NULL, "a spool to write");
	if (!f)
		return;
	is_int(n.type, DSO_BITSTREAM, "shown as a file");
	is_int((int)upload_write(f, "hello world", 11, 0), 11, "write");
	is_int(upload_commit(f), 0, "uploaded at close");
	upload_unref(&f);
	tree_node_release(&n);
	is_int(fresh_lookup(e, orig, "a.txt", &n), 0, "on the server");
	is_int((int)n.size, 11, "with its size");
	is_str(n.md5, "5eb63bbbe01eeed093cb22bb8f5acdc3", "and its MD5");
	tree_node_release(&n);
	is_int(edit_create(e, orig, "a.txt", 1, &f, &n), -EEXIST,
	       "O_EXCL on an existing name");
	is_int(edit_create(e, orig, "a.txt", 0, &f, &n), 0,
	       "create of an existing name");
	ok(f == NULL, "is left to open");
	tree_node_release(&n);
	is_int(edit_create(e, item, "b.txt", 0, &f, &n), -EPERM,
	       "no file in an item");
	is_int(edit_create(e, ino_of(e, THESES "/NewItem/ORIGINAL/a.txt"), "c",
			   0, &f, &n),
	       -ENOTDIR, "create below a file");
	is_int(edit_mknod(e, orig, "empty.txt", S_IFREG | 0644, &n), 0,
	       "mknod");
	tree_node_release(&n);
	is_int(fresh_lookup(e, orig, "empty.txt", &n), 0,
	       "mknod uploads an empty file at once");
	is_int((int)n.size, 0, "empty");
	tree_node_release(&n);
	is_int(edit_mknod(e, orig, "fifo", S_IFIFO | 0644, &n), -EPERM,
	       "mknod of a fifo");
	is_int(edit_mknod(e, orig, "empty.txt", S_IFREG | 0644, &n), -EEXIST,
	       "mknod of an existing name");
	is_int(edit_mknod(e, item, "x", S_IFREG | 0644, &n), -EPERM,
	       "mknod in an item");
}

/* rename: inside a bundle, between bundles of one item, never across. */
static void test_rename(const struct edit *e)
{
	uint64_t orig = ino_of(e, THESES "/NewItem/ORIGINAL");
	uint64_t extra = ino_of(e, THESES "/NewItem/EXTRA");
	uint64_t run1 = ino_of(e, RUN1 "/ORIGINAL");
	uint64_t theses = ino_of(e, THESES);
	struct tree_node n;

	is_int(edit_rename(e, orig, "a.txt", orig, "b.txt", 0), 0,
	       "rename in a bundle");
	is_int(fresh_lookup(e, orig, "b.txt", &n), 0, "the server has it");
	tree_node_release(&n);
	is_int(fresh_lookup(e, orig, "a.txt", &n), -ENOENT, "old name gone");
	is_int(edit_rename(e, orig, "b.txt", extra, "b.txt", 0), 0,
	       "move to another bundle of the item");
	is_int(fresh_lookup(e, extra, "b.txt", &n), 0, "moved on the server");
	tree_node_release(&n);
	is_int(edit_rename(e, extra, "b.txt", run1, "b.txt", 0), -EXDEV,
	       "no move to another item");
	is_int(edit_rename(e, extra, "b.txt", theses, "b.txt", 0), -EPERM,
	       "no file in a collection");
	is_int(
	    edit_rename(e, extra, "b.txt", orig, "empty.txt", RENAME_NOREPLACE),
	    -EEXIST, "RENAME_NOREPLACE");
	is_int(edit_rename(e, extra, "b.txt", orig, "x", 4), -EINVAL,
	       "unknown flags");
	is_int(edit_rename(e, TREE_ROOT_INO, TREE_STATUS_NAME, TREE_ROOT_INO,
			   "s", 0),
	       -EPERM, "the status file stays");
	is_int(edit_rename(e, extra, "b.txt", orig, "empty.txt", 0), 0,
	       "rename over a file");
	is_int(fresh_lookup(e, orig, "empty.txt", &n), 0, "the name is kept");
	is_int((int)n.size, 11, "by the renamed file");
	tree_node_release(&n);
	is_int(edit_rename(e, theses, "NewItem", theses, "Renamed", 0), 0,
	       "rename an item");
	is_int(fresh_lookup(e, theses, "Renamed", &n), 0, "the server has it");
	tree_node_release(&n);
	is_int(edit_rename(e, theses, "Renamed", ino_of(e, RUNS), "Renamed", 0),
	       -EXDEV, "no item moves between collections");
}

/* How many entries of dir's listing are called name; -1 on error. size
 * receives the last one's size. */
static int listed(const struct edit *e, uint64_t dir, const char *name,
		  int64_t *size)
{
	struct tree_node *v = NULL;
	size_t n = 0;
	int k = 0;

	if (edit_list(e, dir, &v, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v[i].name, name)) {
			k++;
			*size = v[i].size;
		}
	}
	tree_nodes_release(v, n);
	return k;
}

/* A file not uploaded yet: renamed and removed locally only. */
static void test_pending(const struct edit *e)
{
	uint64_t orig = ino_of(e, THESES "/Renamed/ORIGINAL");
	struct upload_file *f = NULL, *g;
	struct tree_node n;
	int64_t size = -1;

	is_int(edit_create(e, orig, "p.txt", 0, &f, &n), 0, "create");
	tree_node_release(&n);
	is_int((int)upload_write(f, "abc", 3, 0), 3, "write");
	is_int(listed(e, orig, "p.txt", &size), 1,
	       "listed while being written");
	is_int((int)size, 3, "with its current size");
	is_int(edit_rename(e, orig, "p.txt", orig, "q.txt", 0), 0,
	       "rename before upload");
	g = upload_find_name(e->upload, orig, "q.txt");
	ok(g == f, "the spool has the new name");
	upload_unref(&g);
	is_int(fresh_lookup(e, orig, "q.txt", &n), -ENOENT,
	       "nothing on the server");
	is_int(edit_remove(e, orig, "q.txt", 0), 0, "unlink before upload");
	g = upload_find_name(e->upload, orig, "q.txt");
	ok(g == NULL, "discarded");
	upload_unref(&f);
}

/* truncate, times and an overwrite that copies the old content in. */
static void test_setattr(const struct edit *e)
{
	uint64_t orig = ino_of(e, THESES "/Renamed/ORIGINAL");
	struct upload_file *f = NULL;
	struct timespec ts = {.tv_sec = 1500000000, .tv_nsec = 123};
	struct tree_node n;
	int64_t size = -1;
	char data[32];

	is_int(edit_lookup(e, orig, "empty.txt", &n), 0, "the file");
	is_int(edit_setattr(e, n.ino, NULL, EDIT_SET_SIZE, 5, NULL), 0,
	       "truncate an uploaded file");
	tree_node_release(&n);
	is_int(fresh_lookup(e, orig, "empty.txt", &n), 0, "on the server");
	is_int((int)n.size, 5, "cut to 5 bytes");
	is_str(n.md5, "5d41402abc4b2a76b9719d911017c592",
	       "the MD5 of the first 5 bytes");
	is_int(edit_setattr(e, n.ino, NULL, EDIT_SET_MTIME, 0, &ts), 0,
	       "set the time");
	tree_node_release(&n);
	is_int(edit_getattr(e, ino_of(e, THESES "/Renamed/ORIGINAL/empty.txt"),
			    &n),
	       0, "getattr");
	is_int((int)n.mtime, 1500000000, "time kept");
	is_int((int)n.mtime_ns, 123, "nanoseconds kept");
	is_int(edit_overwrite(e, &n, 0, -1, &f), 0, "overwrite keeping data");
	tree_node_release(&n);
	if (!f)
		return;
	is_int((int)upload_read(f, data, sizeof(data), 0), 5, "copied in");
	ok(memcmp(data, "hello", 5) == 0, "the old content");
	is_int((int)upload_truncate(f, 2), 0, "cut the spool");
	is_int(listed(e, orig, "empty.txt", &size), 1,
	       "the spool replaces the server's entry in the listing");
	is_int((int)size, 2, "shown with the spool's size");
	upload_discard(f);
	upload_unref(&f);
	is_int(
	    edit_setattr(e, status_ino(e->tree), NULL, EDIT_SET_SIZE, 0, NULL),
	    0, "the status file ignores setattr");
}

/* unlink and rmdir with their refusals. */
static void test_remove(const struct edit *e)
{
	uint64_t theses = ino_of(e, THESES);
	uint64_t item = ino_of(e, THESES "/Renamed");
	uint64_t orig = ino_of(e, THESES "/Renamed/ORIGINAL");
	struct tree_node n;

	is_int(edit_remove(e, TREE_ROOT_INO, TREE_STATUS_NAME, 0), -EPERM,
	       "the status file is not removed");
	is_int(edit_remove(e, theses, "Renamed", 0), -EISDIR,
	       "unlink of a directory");
	is_int(edit_remove(e, orig, "empty.txt", 1), -ENOTDIR,
	       "rmdir of a file");
	is_int(edit_remove(e, theses, "Renamed", 1), -ENOTEMPTY,
	       "rmdir of an item with files");
	is_int(edit_remove(e, TREE_ROOT_INO, "Research Data", 1), -EPERM,
	       "rmdir of a community");
	is_int(edit_remove(e, orig, "empty.txt", 0), 0, "unlink");
	is_int(fresh_lookup(e, orig, "empty.txt", &n), -ENOENT,
	       "deleted on the server");
	is_int(edit_remove(e, item, "EXTRA", 1), 0, "rmdir of an empty bundle");
	is_int(edit_remove(e, theses, "Renamed", 1), 0,
	       "rmdir of an item with empty bundles");
	is_int(fresh_lookup(e, theses, "Renamed", &n), -ENOENT,
	       "the item is gone");
	is_int(edit_remove(e, theses, "Renamed", 1), -ENOENT, "twice");
}

/* Opens the session, tree, reader and upload on the fake server. */
static int open_all(const char *dir, struct http **h, struct session **s,
		    struct tree **t, struct reader **rd, struct upload **u)
{
	struct http_config hc = {0};
	struct session_config sc = {.api_url = fake_url,
				    .user = "admin@example.org",
				    .password = "admin"};
	struct tree_config tc = {0};
	struct reader_config rc = {.cache_dir = dir};
	char err[256];

	*h = http_new(&hc);
	*s = *h ? session_new(*h, &sc) : NULL;
	if (!*s || session_start(*s, err, sizeof(err)) < 0)
		return -1;
	if (cache_open(dir, &db, err, sizeof(err)) < 0)
		return -1;
	tc.cache = db;
	*t = tree_new(*s, &tc, err, sizeof(err));
	*rd = *t ? reader_new(*s, &rc, err, sizeof(err)) : NULL;
	*u = *rd ? upload_new(*s, *t, db, dir, err, sizeof(err)) : NULL;
	return *u ? 0 : -1;
}

int main(void)
{
	char d[] = "/tmp/test_edit.XXXXXX", cmd[64];
	struct http *h = NULL;
	struct session *s = NULL;
	struct tree *t = NULL;
	struct reader *rd = NULL;
	struct upload *u = NULL;
	struct edit e = {0};

	log_init("test_edit", 0, LL_ERROR);
	if (!mkdtemp(d))
		return 1;
	ok(fake_start(d) == 0, "the fake server starts");
	if (ok(open_all(d, &h, &s, &t, &rd, &u) == 0,
	       "session, tree, upload")) {
		e = (struct edit){.session = s,
				  .tree = t,
				  .reader = rd,
				  .upload = u,
				  .writable = 1};
		test_read_only(&e);
		test_mkdir(&e);
		test_create(&e);
		test_rename(&e);
		test_pending(&e);
		test_setattr(&e);
		test_remove(&e);
	}
	upload_free(&u);
	reader_free(&rd);
	tree_free(&t);
	cache_close(&db);
	session_free(&s);
	http_free(&h);
	fake_stop();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d);
	if (system(cmd) != 0)
		return 1;
	return tap_done();
}
