/* Unit tests of the write path's local parts: the cache's upload journal,
 * local times and inode re-keying, and upload.c's spool files, journal
 * recovery, state transitions and status commands (no server is
 * contacted: the session is NULL). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "core/cache.h"
#include "util/log.h"
#include "core/tree.h"
#include "core/upload.h"
#include "tap.h"
#include "tree_db.h"

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
	is_int(cache_schema_version(c), CACHE_SCHEMA_VERSION,
	       "schema version current");

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

/* Adds a journal row in state st whose spool file (named name in dir)
 * holds data, or none when data is NULL. */
static int64_t left_row(struct cache *c, const char *dir, const char *name,
			const char *st, const char *data)
{
	struct cache_upload j = {0};
	char spool[512], path[512];
	int fd;

	snprintf(spool, sizeof(spool), "%s/%s", dir, name);
	snprintf(path, sizeof(path), "/c/i/ORIGINAL/%s", name);
	if (data) {
		fd = open(spool, O_CREAT | O_WRONLY, 0600);
		if (fd < 0 || write(fd, data, strlen(data)) < 0)
			return -1;
		close(fd);
	}
	snprintf(j.state, sizeof(j.state), "%s", st);
	snprintf(j.bundle_uuid, sizeof(j.bundle_uuid), BUNDLE);
	j.name = (char *)name;
	j.path = path;
	j.spool = spool;
	j.error = "";
	if (cache_upload_add(c, &j) < 0)
		return -1;
	return j.id;
}

/* The status line of upload id (a copy; "" when none). */
static void status_line(struct upload *u, int64_t id, char *line, size_t len)
{
	struct buf b = BUF_INIT;
	char want[32];
	const char *p;

	line[0] = '\0';
	snprintf(want, sizeof(want), "%lld\t", (long long)id);
	if (upload_status_text(u, &b, NULL) < 0 || !b.data)
		goto out;
	for (p = b.data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : 0)
		if (!strncmp(p, want, strlen(want))) {
			size_t n = strcspn(p, "\n");

			snprintf(line, len, "%.*s",
				 (int)(n < len ? n : len - 1), p);
			break;
		}
out:
	buf_release(&b);
}

/* Field k (1-based) of a status line. */
static const char *field(const char *line, int k, char *out, size_t len)
{
	const char *p = line;

	for (int i = 1; i < k && p; i++) {
		p = strchr(p, '\t');
		if (p)
			p++;
	}
	snprintf(out, len, "%.*s", p ? (int)strcspn(p, "\t") : 0, p ? p : "");
	return out;
}

/* Rows an earlier run left: writing → incomplete, uploading stays (no
 * server to check here), a row without data is dropped. */
static void test_recovery(const char *dir, struct tree *t, struct cache *c,
			  struct upload **up, int64_t *w, int64_t *up_id)
{
	char err[256], line[512], x[256];
	int64_t ghost, legacy;

	*w = left_row(c, dir, "w.bin", "writing", "abc");
	*up_id = left_row(c, dir, "up.bin", "uploading", "defg");
	ghost = left_row(c, dir, "ghost.bin", "writing", NULL);
	legacy = left_row(c, dir, "old.bin", "interrupted", "xy");
	*up = upload_new(NULL, t, c, dir, err, sizeof(err));
	ok(*up != NULL, "upload opens");
	if (!*up)
		return;
	status_line(*up, *w, line, sizeof(line));
	is_str(field(line, 2, x, sizeof(x)), "upload", "kind upload");
	is_str(field(line, 3, x, sizeof(x)), "incomplete",
	       "a file never closed is incomplete after a restart");
	is_str(field(line, 4, x, sizeof(x)), "/c/i/ORIGINAL/w.bin", "path");
	is_str(field(line, 5, x, sizeof(x)), "3", "size from the spool");
	is_str(field(line, 6, x, sizeof(x)), "0", "bytes sent");
	ok(strstr(field(line, 7, x, sizeof(x)), "may be incomplete") != NULL,
	   "the detail says the content may be incomplete");
	status_line(*up, *up_id, line, sizeof(line));
	is_str(field(line, 3, x, sizeof(x)), "uploading",
	       "an interrupted POST stays uploading until checked");
	status_line(*up, ghost, line, sizeof(line));
	is_str(line, "", "a row whose data is gone is dropped");
	status_line(*up, legacy, line, sizeof(line));
	is_str(field(line, 3, x, sizeof(x)), "incomplete",
	       "an old 'interrupted' row becomes incomplete");
}

/* A write that fails makes the file incomplete: never uploaded at flush
 * (the session is NULL: any request would crash this test). */
static void test_write_failure(struct upload *u)
{
	struct upload_file *f = NULL;
	struct rlimit old, lim;
	char line[512], x[256], big[8192];
	int64_t id;

	memset(big, 'x', sizeof(big));
	is_int(upload_create(u, 78, BUNDLE, "full.bin",
			     "/c/i/ORIGINAL/full.bin", 0, NULL, &f),
	       0, "create");
	if (!f)
		return;
	is_int((int)upload_write(f, big, 4096, 0), 4096, "first write");
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 4096;
	signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &lim);
	is_int((int)upload_write(f, big, 4096, 4096), -EFBIG,
	       "a write over the limit fails");
	setrlimit(RLIMIT_FSIZE, &old);
	is_int((int)upload_write(f, big, 10, 4096), 10,
	       "a later write works again");
	ok(!upload_pending(f), "nothing pending for the server");
	is_int(upload_commit(f), -EFBIG, "flush fails with the write's errno");
	is_int(upload_commit(f), -EFBIG, "every flush does");
	{
		struct buf b = BUF_INIT;

		upload_status_text(u, &b, NULL);
		ok(b.data && strstr(b.data, "\tincomplete\t/c/i/ORIGINAL/"
					    "full.bin\t"),
		   "listed as incomplete while open");
		ok(b.data && strstr(b.data, "a write failed"),
		   "with the reason");
		buf_release(&b);
	}
	id = 0;
	{
		struct buf b = BUF_INIT;
		const char *p;

		upload_status_text(u, &b, NULL);
		p = b.data ? strstr(b.data, "full.bin") : NULL;
		while (p && p > b.data && p[-1] != '\n')
			p--;
		if (p)
			id = atoll(p);
		buf_release(&b);
	}
	ok(id > 0, "its id");
	snprintf(line, sizeof(line), "forget %lld", (long long)id);
	is_int(upload_command(u, line), -EBUSY,
	       "forget of an open file: EBUSY");
	upload_unref(&f);
	status_line(u, id, line, sizeof(line));
	is_str(field(line, 3, x, sizeof(x)), "incomplete",
	       "closed: still incomplete, data kept");
	is_str(field(line, 5, x, sizeof(x)), "4106", "its size");
	is_int(upload_command(u, "retry"), 0, "plain retry skips it");
	status_line(u, id, line, sizeof(line));
	is_str(field(line, 3, x, sizeof(x)), "incomplete", "still there");
	snprintf(line, sizeof(line), "cancel %lld", (long long)id);
	is_int(upload_command(u, line), 0, "cancel ID");
	status_line(u, id, line, sizeof(line));
	is_str(field(line, 3, x, sizeof(x)), "cancelled", "cancelled");
	is_int(upload_command(u, "retry"), 0, "plain retry skips cancelled");
	snprintf(line, sizeof(line), "forget %lld", (long long)id);
	is_int(upload_command(u, line), 0, "forget ID");
	status_line(u, id, line, sizeof(line));
	is_str(line, "", "forgotten");
}

/* The command parser. */
static void test_parse(void)
{
	int64_t id;
	int c;

	is_int(upload_parse_command("retry", &c, &id), 0, "retry");
	ok(c == UPLOAD_CMD_RETRY && id == 0, "retry, no id");
	is_int(upload_parse_command("  retry 12 \r", &c, &id), 0, "retry 12");
	ok(c == UPLOAD_CMD_RETRY && id == 12, "retry 12 parsed");
	is_int(upload_parse_command("cancel 3", &c, &id), 0, "cancel 3");
	ok(c == UPLOAD_CMD_CANCEL && id == 3, "cancel parsed");
	is_int(upload_parse_command("refresh", &c, &id), 0, "refresh");
	is_int(upload_parse_command("", &c, &id), 1, "blank line");
	is_int(upload_parse_command("forget", &c, &id), -EINVAL,
	       "forget needs an id");
	is_int(upload_parse_command("cancel", &c, &id), -EINVAL,
	       "cancel needs an id");
	is_int(upload_parse_command("retry 7x", &c, &id), -EINVAL, "7x");
	is_int(upload_parse_command("retry 0", &c, &id), -EINVAL, "id 0");
	is_int(upload_parse_command("retry 1 2", &c, &id), -EINVAL, "two ids");
	is_int(upload_parse_command("refresh 1", &c, &id), -EINVAL,
	       "refresh takes none");
	is_int(upload_parse_command("retry 99999999999999999999", &c, &id),
	       -EINVAL, "overflow");
	is_int(upload_parse_command("retryx", &c, &id), -EINVAL, "retryx");
	/* found while factoring the parser out for fuzzing */
	is_int(upload_parse_command("retry abc", &c, &id), -EINVAL, "abc");
	is_int(upload_parse_command("retry 12abc", &c, &id), -EINVAL, "12abc");
	is_int(upload_parse_command("RETRY", &c, &id), -EINVAL, "RETRY");
	is_int(upload_parse_command("forget -1", &c, &id), -EINVAL, "-1");
}

/* Spool files, recovery of an earlier run, status and commands. */
static void test_upload(const char *dir)
{
	struct tree_config tc = {0};
	struct tree *t;
	struct upload *u = NULL;
	struct upload_file *f = NULL, *g;
	struct upload_info *v = NULL;
	struct stat st;
	char err[256], spool[512], line[512], x[256], data[8];
	int64_t w, upl;
	size_t n = 0;

	t = tree_db_open(dir, &tc, err, sizeof(err));
	ok(t != NULL, "tree opens");
	if (!t)
		return;
	test_recovery(dir, t, tc.cache, &u, &w, &upl);
	if (!u)
		goto out_tree;
	snprintf(spool, sizeof(spool), "%s/spool", dir);
	ok(stat(spool, &st) == 0 && (st.st_mode & 0777) == 0700,
	   "spool dir is 0700");

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
	{
		struct buf b = BUF_INIT;

		is_int(upload_status_text(u, &b, NULL), 0, "status text");
		ok(b.data && strstr(b.data, "\tupload\twriting\t/c/i/ORIGINAL/"
					    "new.bin\t2\t0\t"),
		   "a file being written is listed as writing");
		buf_release(&b);
	}
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

	is_int(upload_command(u, "retry"), -ENOTCONN,
	       "plain retry sends the uploading row (no server here)");
	snprintf(line, sizeof(line), "forget %lld", (long long)upl);
	is_int(upload_command(u, line), 0, "forget the uploading row");
	test_write_failure(u);

	is_int(upload_command(u, "bogus"), -EINVAL, "unknown command");
	is_int(upload_command(u, "refresh"), 0, "refresh: a no-op");
	is_int(upload_command(u, "forget 99999"), -ENOENT, "unknown id");
	is_int(upload_command(u, "retry"), 0,
	       "plain retry skips the incomplete row (no server here)");
	status_line(u, w, line, sizeof(line));
	is_str(field(line, 3, x, sizeof(x)), "incomplete", "still incomplete");
	snprintf(line, sizeof(line), "forget %lld", (long long)w);
	is_int(upload_command(u, line), 0, "forget");
	snprintf(spool, sizeof(spool), "%s/w.bin", dir);
	ok(access(spool, F_OK) < 0, "forget deletes the spool file");
out:
	upload_free(&u);
out_tree:
	tree_db_close(&t, &tc);
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
	test_parse();
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", d1, d2);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s %s\n", d1, d2);
	return tap_done();
}
