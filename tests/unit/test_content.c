/* Unit tests of the content cache: block map, persistence, MD5, eviction,
 * permissions. Runs in a fresh temporary directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/content.h"
#include "util/log.h"
#include "tap.h"

#define B CONTENT_BLOCK
#define U1 "11111111-2222-3333-4444-555555555555"
#define U2 "21111111-2222-3333-4444-555555555555"
#define U3 "31111111-2222-3333-4444-555555555555"
#define U4 "41111111-2222-3333-4444-555555555555"
#define MD5X "0123456789abcdef0123456789abcdef"

static char root[256];

/* MD5 of a string, as hex. */
static void md5_str(const char *s, size_t len, char hex[33])
{
	struct content_md5 m;

	content_md5_init(&m);
	content_md5_update(&m, s, len);
	content_md5_final(&m, hex);
}

/* The deterministic test pattern used for the multi-block MD5 vector. */
static unsigned char pattern(size_t i)
{
	return (unsigned char)(((i * 31 + 7) & 0xff) ^ ((i >> 9) & 0xff));
}

/* Whether path exists under root/content. */
static int exists(const char *name)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/content/%s", root, name);
	return stat(p, &st) == 0;
}

/* The permission bits of root/content/name. */
static int mode_of(const char *name)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/content%s%s", root, *name ? "/" : "", name);
	if (stat(p, &st) < 0)
		return -1;
	return st.st_mode & 07777;
}

/* Number of directory entries in root/content (without . and ..). */
static int count_files(void)
{
	char p[512];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(p, sizeof(p), "%s/content", root);
	d = opendir(p);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Fills an entry completely with a byte value. */
static int fill(struct content_entry *e, int val)
{
	size_t n = (size_t)content_size(e);
	char *buf = malloc(n ? n : 1);
	int rc;

	memset(buf, val, n);
	rc = content_write(e, 0, buf, n);
	free(buf);
	return rc;
}

static void test_md5(void)
{
	char hex[33];
	struct content_md5 m;
	char *big;
	size_t i;

	md5_str("", 0, hex);
	is_str(hex, "d41d8cd98f00b204e9800998ecf8427e", "md5 of empty string");
	md5_str("abc", 3, hex);
	is_str(hex, "900150983cd24fb0d6963f7d28e17f72", "md5 of abc");
	md5_str("message digest", 14, hex);
	is_str(hex, "f96b697d7cb7938d525a2f31aaf161d0",
	       "md5 of 'message digest'");
	md5_str("12345678901234567890123456789012345678901234567890123456789012"
		"345678901234567890",
		80, hex);
	is_str(hex, "57edf4a22be3c955ac49da2e2107b67a", "md5 of 80 digits");
	big = malloc(1000000);
	memset(big, 'a', 1000000);
	/* odd chunk sizes exercise the partial-block buffering */
	content_md5_init(&m);
	for (i = 0; i < 1000000;) {
		size_t n = 1 + (i * 7) % 131;

		if (n > 1000000 - i)
			n = 1000000 - i;
		content_md5_update(&m, big + i, n);
		i += n;
	}
	content_md5_final(&m, hex);
	is_str(hex, "7707d6ae4e027c70eea2a935c2296f21",
	       "md5 of a million a's fed in odd chunks");
	free(big);
}

static void test_blockmap(void)
{
	char err[256] = "";
	struct content *c = content_new(root, 0, err, sizeof(err));
	struct content_entry *e = NULL, *e2 = NULL;
	uint64_t size = 3 * B + 1000;
	char *buf = malloc(2 * B);
	char name[128], rd[64];
	int i;

	ok(c != NULL, "content_new");
	if (!c)
		return;
	is_int(mode_of(""), 0700, "content dir is 0700");
	is_int(content_open(c, "not-a-uuid", MD5X, 10, &e), -EINVAL,
	       "malformed uuid refused");
	is_int(content_open(c, U1, MD5X, (int64_t)size, &e), 0, "open entry");
	snprintf(name, sizeof(name), "%s-%s", U1, MD5X);
	is_int(mode_of(name), 0600, "data file is 0600");
	is_int(content_missing_from(e, 0), 0, "empty: missing from 0");
	is_int(content_present(e, 0, 100), 0, "empty: nothing present");
	is_int(content_present_from(e, 0), (int64_t)size,
	       "empty: no present block");

	for (i = 0; i < 2 * B; i++)
		buf[i] = (char)pattern((size_t)i);
	/* an unaligned write that covers no block completely */
	is_int(content_write(e, 100, buf + 100, B), 0, "write at odd offset");
	is_int(content_present(e, 100, 10), 0,
	       "partly written block is not present");
	is_int(content_missing_from(e, 5000), 0,
	       "missing_from rounds down to the block");
	/* covers block 0 and 1 fully */
	is_int(content_write(e, 0, buf, 2 * B), 0, "write two blocks");
	is_int(content_present(e, 10, size), 2 * B - 10,
	       "present counts contiguous bytes from an odd offset");
	is_int(content_present(e, 10, 77), 77, "present clamps to len");
	is_int(content_missing_from(e, 5), 2 * B, "first missing is block 2");
	is_int(content_present_from(e, 2 * B), (int64_t)size,
	       "nothing present after block 2");
	/* odd write ending mid-block 2 marks nothing new */
	is_int(content_write(e, 2 * B - 3, buf, 10), 0,
	       "write across a border");
	is_int(content_missing_from(e, 0), 2 * B, "block 2 still missing");
	/* the short last block counts when the write reaches EOF */
	is_int(content_write(e, 3 * B + 500, buf, 500), 0,
	       "write the tail of the last block only");
	is_int(content_present(e, 3 * B + 600, 100), 0,
	       "tail-only write does not complete the last block");
	is_int(content_write(e, 3 * B, buf, 1000), 0, "write the last block");
	is_int(content_present(e, 3 * B, 5000), 1000,
	       "last partial block present, clamped at EOF");
	is_int(content_present_from(e, 2 * B), 3 * B, "present_from finds it");
	is_int(content_present(e, size, 10), 0, "present at EOF is 0");
	ok(!content_complete(e), "not complete with a hole");
	is_int(content_write(e, size - 10, buf, 11), -EINVAL,
	       "write beyond EOF refused");

	/* shared between opens */
	is_int(content_open(c, U1, MD5X, (int64_t)size, &e2), 0, "second open");
	ok(e2 == e, "second open shares the entry");
	content_close(&e2);
	ok(e2 == NULL, "close NULLs the pointer");
	is_int(content_present(e, 0, 2 * B), 2 * B,
	       "still usable after one close");
	content_close(&e);

	snprintf(name, sizeof(name), "%s-%s.map", U1, MD5X);
	ok(exists(name), "map file written on close");
	is_int(mode_of(name), 0600, "map file is 0600");

	/* reopen in the same process */
	is_int(content_open(c, U1, MD5X, (int64_t)size, &e), 0, "reopen");
	is_int(content_missing_from(e, 0), 2 * B, "map survives close/reopen");
	content_close(&e);
	content_free(&c);
	ok(c == NULL, "content_free NULLs the pointer");

	/* and a "remount" */
	c = content_new(root, 0, err, sizeof(err));
	ok(c != NULL, "content_new again");
	is_int(content_open(c, U1, MD5X, (int64_t)size, &e), 0,
	       "open after remount");
	is_int(content_present(e, 0, size), 2 * B,
	       "blocks 0-1 survive remount");
	is_int(content_present(e, 3 * B, size), 1000,
	       "last block survives remount");
	is_int(content_missing_from(e, 0), 2 * B,
	       "block 2 still missing after remount");
	ok(pread(content_fd(e), rd, 64, 70000) == 64 &&
	       memcmp(rd, buf + 70000, 64) == 0,
	   "data readable from content_fd");
	content_close(&e);

	/* same key with another size: the old file is discarded */
	is_int(content_open(c, U1, MD5X, (int64_t)size + 1, &e), 0,
	       "open with a different size");
	is_int(content_present(e, 0, size), 0, "stale data not reused");
	content_close(&e);
	content_free(&c);
	free(buf);
}

static void test_verify(void)
{
	char err[256] = "";
	struct content *c = content_new(root, 0, err, sizeof(err));
	struct content_entry *e = NULL;
	size_t n = 200000, i;
	char *buf = malloc(n);

	for (i = 0; i < n; i++)
		buf[i] = (char)pattern(i);
	is_int(content_open(c, U2, "e69ca52c27dac6807fc0f6f91e426f3f",
			    (int64_t)n, &e),
	       0, "open multi-block entry");
	is_int(content_verify_md5(e), -EAGAIN,
	       "verify refuses an incomplete file");
	/* write in uneven but block-aligned pieces, last one to EOF */
	content_write(e, 0, buf, 3 * B);
	content_write(e, 3 * B, buf + 3 * B, n - 3 * B);
	ok(content_complete(e), "complete after writing everything");
	is_int(content_verify_md5(e), 0, "md5 of multi-block file matches");
	ok(content_verified(e), "verified flag set");
	content_close(&e);
	is_int(content_open(c, U2, "e69ca52c27dac6807fc0f6f91e426f3f",
			    (int64_t)n, &e),
	       0, "reopen");
	ok(content_verified(e), "verified flag persisted");
	content_close(&e);

	/* wrong MD5 */
	is_int(content_open(c, U3, MD5X, (int64_t)n, &e), 0,
	       "open with bad md5");
	content_write(e, 0, buf, n);
	is_int(content_verify_md5(e), -EIO, "mismatch reported as EIO");
	ok(!content_verified(e), "not verified");
	content_drop(e);
	ok(!content_complete(e), "drop forgets the blocks");
	is_int(content_present(e, 0, n), 0, "nothing present after drop");
	content_close(&e);

	/* empty files are complete at once and verify against d41d8... */
	is_int(content_open(c, U4, "d41d8cd98f00b204e9800998ecf8427e", 0, &e),
	       0, "open empty entry");
	ok(content_complete(e), "empty file is complete");
	is_int(content_verify_md5(e), 0, "empty file md5");
	content_close(&e);

	/* unknown md5: private temporary, not reused, nothing left behind */
	{
		struct content_entry *t1 = NULL, *t2 = NULL;
		int before = count_files();

		is_int(content_open(c, U1, "", 1000, &t1), 0,
		       "open without md5");
		is_int(content_open(c, U1, NULL, 1000, &t2), 0,
		       "second open without md5");
		ok(t1 && t2 && t1 != t2, "temporaries are not shared");
		content_write(t1, 0, buf, 1000);
		ok(content_complete(t1) && !content_complete(t2),
		   "temporaries are independent");
		is_int(content_verify_md5(t1), 1,
		       "nothing to verify without md5");
		is_int(count_files(), before, "temporaries are unlinked");
		content_close(&t1);
		content_close(&t2);
		is_int(content_open(c, U1, "", 1000, &t1), 0,
		       "reopen without md5");
		is_int(content_present(t1, 0, 1000), 0, "temporary not reused");
		content_close(&t1);
	}
	content_free(&c);
	free(buf);
}

static void test_eviction(void)
{
	char err[256] = "", name[128], p[512];
	uint64_t cap = 4 * B;
	struct content *c;
	struct content_entry *e = NULL;
	int fd;

	/* debris from a crashed mount is cleaned up */
	snprintf(p, sizeof(p), "%s/content/tmp-1-1", root);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	close(fd);
	snprintf(p, sizeof(p), "%s/content/%s-%s.map.tmp", root, U1, MD5X);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	close(fd);
	c = content_new(root, cap, err, sizeof(err));
	ok(c != NULL, "content_new with a small cap");
	if (!c)
		return;
	ok(!exists("tmp-1-1"), "stale temporary removed");
	snprintf(name, sizeof(name), "%s-%s.map.tmp", U1, MD5X);
	ok(!exists(name), "stale map temporary removed");
	ok(content_usage(c) <= cap, "usage within the cap at start");

	/* A, B, C: two blocks each; the cap holds two of them */
	content_open(c, U1, MD5X, 2 * B, &e);
	fill(e, 'A');
	content_close(&e);
	content_open(c, U2, MD5X, 2 * B, &e);
	fill(e, 'B');
	content_close(&e);
	snprintf(name, sizeof(name), "%s-%s", U1, MD5X);
	ok(exists(name), "A cached");
	/* touch A so that B becomes least recently used */
	content_open(c, U1, MD5X, 2 * B, &e);
	is_int(content_present(e, 0, 2 * B), 2 * B, "A still complete");
	content_close(&e);
	content_open(c, U3, MD5X, 2 * B, &e);
	fill(e, 'C');
	ok(content_usage(c) <= cap, "usage within the cap after C");
	snprintf(name, sizeof(name), "%s-%s", U2, MD5X);
	ok(!exists(name), "least recently used entry (B) evicted");
	snprintf(name, sizeof(name), "%s-%s.map", U2, MD5X);
	ok(!exists(name), "its map too");
	snprintf(name, sizeof(name), "%s-%s", U1, MD5X);
	ok(exists(name), "recently used A kept");
	content_close(&e);

	/* an open entry is never evicted; D forces out A */
	content_open(c, U3, MD5X, 2 * B, &e);
	{
		struct content_entry *d = NULL;

		content_open(c, U4, MD5X, 2 * B, &d);
		fill(d, 'D');
		snprintf(name, sizeof(name), "%s-%s", U3, MD5X);
		ok(exists(name), "open entry C not evicted");
		is_int(content_present(e, 0, 2 * B), 2 * B, "C intact");
		snprintf(name, sizeof(name), "%s-%s", U1, MD5X);
		ok(!exists(name), "closed A evicted instead");
		ok(content_usage(c) <= cap, "usage within the cap after D");
		content_close(&d);
	}
	content_close(&e);

	/* one open file larger than the cap: holes behind the reader */
	{
		uint64_t size = 32 * B, off, maxuse = 0;
		char *blk = malloc(B);
		struct stat st;
		int okay = 1;

		memset(blk, 'Z', B);
		is_int(content_open(c, U1, MD5X, (int64_t)size, &e), 0,
		       "open file 8x the cap");
		for (off = 0; off < size; off += B) {
			if (content_write(e, off, blk, B))
				okay = 0;
			content_note_read(e, off, B);
			if (content_usage(c) > maxuse)
				maxuse = content_usage(c);
		}
		ok(okay, "sequential writes succeed");
		ok(maxuse <= cap, "usage never above the cap while streaming");
		is_int(content_present(e, 0, B), 0, "early blocks released");
		is_int(content_present(e, size - B, B), B, "recent block kept");
		fstat(content_fd(e), &st);
		ok((uint64_t)st.st_blocks * 512 <= cap + B,
		   "file really has holes (st_blocks)");
		is_int(content_missing_from(e, 0), 0,
		       "released blocks are missing");
		free(blk);
		content_close(&e);
	}
	content_free(&c);
}

int main(void)
{
	char cmd[600];

	log_init("test_content", 0, LL_WARN);
	snprintf(root, sizeof(root), "%s/dspacefs-content-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_md5();
	test_blockmap();
	test_verify();
	test_eviction();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return tap_done();
}
