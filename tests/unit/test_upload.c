/* Unit tests of the write path's local parts: the cache's upload journal,
 * local times and inode re-keying, and upload.c's spool files, journal
 * recovery and status commands (no server is contacted). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cache.h"
#include "log.h"
#include "tree.h"
#include "upload.h"
#include "tap.h"

#define BUNDLE "b0000000-0000-4000-8000-000000000001"
#define BITS "f0000000-0000-4000-8000-000000000002"

/* Journal, times and re-keying straight on the cache. */
static void test_cache(const char *dir)
{
	struct cache *c = NULL;
	struct cache_upload u = {0}, *v = NULL;
	struct cache_txn *t = NULL;
	struct cache_object o;
	struct dso d = {0};
	uint64_t ino = 0, ino2 = 0, found = 0;
	char err[256];
	size_t n = 0;

	is_int(cache_open(dir, &c, err, sizeof(err)), 0, "cache opens");
	is_int(cache_schema_version(c), 2, "schema version 2");

	snprintf(u.state, sizeof(u.state), "failed");
	snprintf(u.bundle_uuid, sizeof(u.bundle_uuid), BUNDLE);
	u.name = "a.bin";
	u.path = "/x/a.bin";
	u.spool = "/nowhere";
	u.error = "boom";
	u.size = 42;
	is_int(cache_upload_add(c, &u), 0, "journal add");
	ok(u.id > 0, "journal id assigned");
	u.error = "boom again";
	is_int(cache_upload_update(c, &u), 0, "journal update");
	is_int(cache_upload_list(c, &v, &n), 0, "journal list");
	is_int((int)n, 1, "one row");
	if (n == 1) {
		is_str(v[0].state, "failed", "state kept");
		is_str(v[0].name, "a.bin", "name kept");
		is_str(v[0].error, "boom again", "error updated");
		is_int((int)v[0].size, 42, "size kept");
	}
	cache_uploads_release(v, n);
	is_int(cache_upload_del(c, u.id), 0, "journal delete");
	cache_upload_list(c, &v, &n);
	is_int((int)n, 0, "journal empty");
	cache_uploads_release(v, n);

	/* A file being written gets a local key; the upload re-keys it. */
	is_int(cache_alloc_ino(c, "local:1", &ino), 0, "local inode");
	d.type = DSO_BITSTREAM;
	snprintf(d.uuid, sizeof(d.uuid), BITS);
	d.name = "a.bin";
	d.size = 5;
	snprintf(d.md5, sizeof(d.md5), "0123456789abcdef0123456789abcdef");
	d.mtime = 1000;
	is_int(cache_begin(c, &t), 0, "begin");
	is_int(cache_rekey(t, ino, BITS), 0, "re-key");
	is_int(cache_put_object(t, &d, CACHE_ROOT_INO, &ino2), 0, "put");
	is_int(cache_add_entry(t, CACHE_ROOT_INO, "a.bin", ino2, 0), 0,
	       "entry");
	is_int(cache_commit(&t), 0, "commit");
	ok(ino == ino2, "the inode number survives the upload");
	is_int(cache_find_ino(c, BITS, &found), 0, "uuid found");
	ok(found == ino, "uuid maps to the old number");
	ok(cache_find_ino(c, "local:1", &found) == -ENOENT,
	   "the local key is gone");

	is_int(cache_set_times(c, BITS, d.md5, 1600000000, 123456789), 0,
	       "set times");
	is_int(cache_lookup(c, CACHE_ROOT_INO, "a.bin", &o), 0, "lookup");
	is_int((int)o.mtime, 1600000000, "local mtime wins");
	is_int((int)o.mtime_ns, 123456789, "nanoseconds kept");
	cache_object_release(&o);
	/* New content (another md5) drops the local time. */
	is_int(
	    cache_set_times(c, BITS, "ffffffffffffffffffffffffffffffff", 5, 0),
	    0, "times for other content");
	is_int(cache_get(c, ino, &o), 0, "get");
	is_int((int)o.mtime, 1600000000, "times keyed by md5 too");
	cache_object_release(&o);
	cache_close(&c);
}

/* Spool files, recovery of an earlier run, status and commands. */
static void test_upload(const char *dir)
{
	struct tree_config tc = {0};
	struct tree *t;
	struct upload *u;
	struct upload_file *f = NULL, *g;
	struct upload_info *v = NULL;
	struct cache_upload j = {0};
	struct buf b = BUF_INIT;
	struct stat st;
	char err[256], spool[512], line[64], data[8];
	size_t n = 0;
	int fd;

	tc.cache_dir = dir;
	t = tree_new(NULL, &tc, err, sizeof(err));
	ok(t != NULL, "tree opens");
	if (!t)
		return;
	/* A row an earlier run left in state "writing" (killed). */
	snprintf(spool, sizeof(spool), "%s/left-over", dir);
	fd = open(spool, O_CREAT | O_WRONLY, 0600);
	ok(fd >= 0 && write(fd, "abc", 3) == 3, "left-over spool written");
	if (fd >= 0)
		close(fd);
	snprintf(j.state, sizeof(j.state), "writing");
	snprintf(j.bundle_uuid, sizeof(j.bundle_uuid), BUNDLE);
	j.name = "old.bin";
	j.path = "/c/i/ORIGINAL/old.bin";
	j.spool = spool;
	j.error = "";
	is_int(cache_upload_add(tree_cache(t), &j), 0, "left-over row");

	u = upload_new(NULL, t, dir, err, sizeof(err));
	ok(u != NULL, "upload opens");
	if (!u)
		goto out_tree;
	snprintf(spool, sizeof(spool), "%s/spool", dir);
	ok(stat(spool, &st) == 0 && (st.st_mode & 0777) == 0700,
	   "spool dir is 0700");
	is_int(upload_status_text(u, &b), 0, "status text");
	snprintf(line, sizeof(line), "%lld\tinterrupted\t", (long long)j.id);
	ok(b.data && strncmp(b.data, line, strlen(line)) == 0,
	   "a killed write is reported interrupted");
	ok(b.data && strstr(b.data, "\t/c/i/ORIGINAL/old.bin\t3\t"),
	   "path and size (from the spool file) listed");
	buf_release(&b);

	/* A new file: spool 0600, visible with its size, discard removes. */
	is_int(upload_create(u, 77, BUNDLE, "new.bin", "/c/i/ORIGINAL/new.bin",
			     0, NULL, &f),
	       0, "create");
	ok(f != NULL, "file handle");
	if (!f)
		goto out;
	is_int((int)upload_write(f, "hello", 5, 0), 5, "write");
	is_int((int)upload_read(f, data, sizeof(data), 1), 4, "read back");
	ok(memcmp(data, "ello", 4) == 0, "content read back");
	g = upload_find_name(u, 77, "new.bin");
	ok(g == f, "found by name in its bundle");
	upload_unref(&g);
	is_int(upload_list_dir(u, 77, &v, &n), 0, "list bundle");
	ok(n == 1 && v[0].size == 5, "listed with its current size");
	upload_infos_release(v, n);
	is_int(upload_truncate(f, 2), 0, "truncate");
	is_int(upload_status_text(u, &b), 0, "status text");
	ok(!b.data || !strstr(b.data, "new.bin"),
	   "a file being written is not pending yet");
	buf_release(&b);
	upload_rename(f, 77, BUNDLE, "renamed.bin", "/c/i/ORIGINAL/renamed.bin",
		      NULL);
	g = upload_find_name(u, 77, "renamed.bin");
	ok(g == f, "renamed before upload");
	upload_unref(&g);
	upload_discard(f);
	upload_unref(&f);
	is_int(upload_list_dir(u, 77, &v, &n), 0, "list bundle");
	is_int((int)n, 0, "discarded file gone");
	upload_infos_release(v, n);

	is_int(upload_command(u, "bogus"), -EINVAL, "unknown command");
	is_int(upload_command(u, "forget 99999"), -ENOENT, "unknown id");
	snprintf(line, sizeof(line), "forget %lld", (long long)j.id);
	is_int(upload_command(u, line), 0, "forget");
	snprintf(spool, sizeof(spool), "%s/left-over", dir);
	ok(access(spool, F_OK) < 0, "forget deletes the spool file");
	is_int(upload_status_text(u, &b), 0, "status text");
	ok(b.len == 0, "nothing pending");
	buf_release(&b);
out:
	upload_free(&u);
out_tree:
	tree_free(&t);
}

/* The status-file command parser (pure; fuzzed by fuzz_upload_cmd). */
static void test_parse_command(void)
{
	static const struct {
		const char *line;
		int rc;
		enum upload_verb verb;
		int64_t id;
	} t[] = {
	    {"", 0, UPLOAD_CMD_NONE, -1},
	    {" \t\r", 0, UPLOAD_CMD_NONE, -1},
	    {"retry", 0, UPLOAD_CMD_RETRY, -1},
	    {"retry 12", 0, UPLOAD_CMD_RETRY, 12},
	    {" forget\t7 \r", 0, UPLOAD_CMD_FORGET, 7},
	    {"forget", -EINVAL, UPLOAD_CMD_NONE, -1},
	    {"retry abc", -EINVAL, UPLOAD_CMD_NONE, -1},
	    {"retry 12abc", -EINVAL, UPLOAD_CMD_NONE, -1},
	    {"retry 1 2", -EINVAL, UPLOAD_CMD_NONE, -1},
	    {"forget -1", -EINVAL, UPLOAD_CMD_NONE, -1},
	    {"forget 99999999999999999999", -EINVAL, UPLOAD_CMD_NONE, -1},
	    {"forget 9223372036854775807", 0, UPLOAD_CMD_FORGET, INT64_MAX},
	    {"retrying", -EINVAL, UPLOAD_CMD_NONE, -1},
	    {"RETRY", -EINVAL, UPLOAD_CMD_NONE, -1},
	};
	enum upload_verb verb;
	int64_t id;
	char name[96];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(name, sizeof(name), "command \"%s\"", t[i].line);
		is_int(upload_parse_command(t[i].line, &verb, &id), t[i].rc,
		       name);
		ok(verb == t[i].verb && id == t[i].id, name);
	}
}

int main(void)
{
	char d1[] = "/tmp/test_upload.XXXXXX", d2[] = "/tmp/test_upload.XXXXXX";
	char cmd[128];

	log_init("test_upload", 0, LL_ERROR);
	if (!mkdtemp(d1) || !mkdtemp(d2))
		return 1;
	test_cache(d1);
	test_upload(d2);
	test_parse_command();
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", d1, d2);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s %s\n", d1, d2);
	return tap_done();
}
