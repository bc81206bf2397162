/* Unit tests of inval.c: which kernel caches are invalidated when, and
 * when open handles become stale. A recording sink stands in for FUSE. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/inval.h"
#include "tap.h"

#define U1 "11111111-1111-4111-8111-111111111111"
#define U2 "22222222-2222-4222-8222-222222222222"
#define M1 "0123456789abcdef0123456789abcdef"
#define M2 "fedcba9876543210fedcba9876543210"

static char got[4096];
static int sink_err;

/* Records each request as "D5 " (data), "A5 " (attributes) or "E1/name ". */
static int record(void *arg, const struct inval_req *r)
{
	size_t len = strlen(got);

	(void)arg;
	if (r->kind == INVAL_ENTRY)
		snprintf(got + len, sizeof(got) - len, "E%llu/%s ",
			 (unsigned long long)r->ino, r->name);
	else
		snprintf(got + len, sizeof(got) - len, "%c%llu ",
			 r->kind == INVAL_DATA ? 'D' : 'A',
			 (unsigned long long)r->ino);
	return sink_err;
}

/* The requests delivered since the last call. */
static const char *delivered(struct inval *inv)
{
	static char out[4096];

	inval_drain(inv);
	snprintf(out, sizeof(out), "%s", got);
	got[0] = '\0';
	return out;
}

/* A bitstream entry. */
static struct inval_child file(uint64_t ino, const char *name, const char *uuid,
			       const char *md5, int64_t size)
{
	struct inval_child c = {ino, name, uuid, md5, size, 100, 0};

	return c;
}

static void test_open_keep(void)
{
	struct inval *inv = inval_new();
	uint64_t g1, g2, g3;

	is_int(inval_open(inv, 7, U1, M1, 10, &g1), 0,
	       "first open: the kernel's pages of the inode are unknown");
	is_int(inval_open(inv, 7, U1, M1, 10, &g2), INVAL_KEEP_CACHE,
	       "same content again: keep the pages");
	ok(g1 == g2 && inval_current(inv, 7, g1), "both handles current");
	inval_close(inv, 7, g1);
	inval_close(inv, 7, g2);
	is_int(inval_open(inv, 7, U1, M1, 11, &g3), 0,
	       "another size: the pages are dropped");
	ok(g3 != g1 && !inval_current(inv, 7, g1),
	   "another identity makes earlier handles stale");
	inval_close(inv, 7, g3);
	ok(inval_current(inv, 99, 5), "an unknown inode is never stale");
	inval_free(&inv);
	ok(inv == NULL, "inval_free clears the pointer");
}

static void test_content_stale(void)
{
	struct inval *inv = inval_new();
	uint64_t old, cur, later;

	inval_open(inv, 7, U1, M1, 10, &old);
	inval_content(inv, 7);
	ok(!inval_current(inv, 7, old), "a replaced content: old handle stale");
	is_int(inval_open(inv, 7, U2, M2, 20, &cur), INVAL_DIRECT,
	       "new version while an old handle is open: bypass the page "
	       "cache");
	ok(inval_current(inv, 7, cur), "the new handle is current");
	inval_close(inv, 7, old);
	is_int(inval_open(inv, 7, U2, M2, 20, &later), INVAL_KEEP_CACHE,
	       "once the old handle closed, the new pages are kept");
	inval_close(inv, 7, cur);
	inval_close(inv, 7, later);
	/* an open racing with a replacement it did not see */
	inval_open(inv, 8, U1, M1, 10, &old);
	is_int(inval_open(inv, 8, U2, M2, 10, &cur), INVAL_DIRECT,
	       "another identity with the old handle open: direct");
	ok(!inval_current(inv, 8, old) && inval_current(inv, 8, cur),
	   "the old handle is stale, the new one current");
	inval_free(&inv);
}

static void test_requests(void)
{
	struct inval *inv = inval_new();
	uint64_t g;

	inval_content(inv, 3);
	is_str(delivered(inv), "", "no worker yet: nothing delivered");
	ok(inval_start(inv, record, NULL) == 0, "worker starts");
	inval_content(inv, 3);
	is_str(delivered(inv), "D3 ", "content: pages and attributes");
	inval_attr(inv, 3);
	is_str(delivered(inv), "A3 ", "attributes only");
	inval_entry(inv, 1, "a.txt");
	is_str(delivered(inv), "E1/a.txt D1 ",
	       "entry: the name and its directory's listing");
	inval_listing(inv, 1);
	is_str(delivered(inv), "D1 ", "listing: the directory's pages");
	inval_open(inv, 4, U1, M1, 10, &g);
	ok(inval_check(inv, 4, U1, M1, 10) == 0, "check: same identity");
	is_str(delivered(inv), "", "nothing to forget");
	ok(inval_check(inv, 4, U2, M2, 10) == 1, "check: replaced");
	is_str(delivered(inv), "D4 ", "its pages are dropped");
	ok(!inval_current(inv, 4, g), "and its handle is stale");
	sink_err = -ENOENT;
	inval_content(inv, 5);
	is_str(delivered(inv), "D5 ", "ENOENT (not cached) is fine");
	sink_err = 0;
	inval_stop(inv);
	inval_content(inv, 6);
	is_str(delivered(inv), "", "after stop nothing is delivered");
	inval_free(&inv);
}

static void test_diff(void)
{
	struct inval *inv = inval_new();
	struct inval_child a[3], b[4];
	uint64_t g, gb;

	inval_start(inv, record, NULL);
	a[0] = file(10, "a.bin", U1, M1, 5);
	a[1] = file(11, "b.bin", U2, M2, 6);
	a[2] = (struct inval_child){12, "sub", U2, "", 0, 100, 1};
	memcpy(b, a, sizeof(a));
	is_int(inval_listing_diff(inv, 1, a, 3, b, 3), 0, "same listing");
	is_str(delivered(inv), "", "nothing to forget");

	inval_open(inv, 10, U1, M1, 5, &g);
	b[0] = file(10, "a.bin", U1, M2, 5);
	ok(inval_listing_diff(inv, 1, a, 3, b, 3) == 1, "md5 changed");
	is_str(delivered(inv), "D10 D1 ", "the file's pages and the listing");
	ok(!inval_current(inv, 10, g), "its reader is stale");
	inval_close(inv, 10, g);

	inval_open(inv, 10, U1, M1, 5, &g);
	inval_open(inv, 11, U2, M2, 6, &gb);
	b[0] = file(20, "a.bin", U2, M1, 5);
	b[1] = file(11, "b.bin", U2, M2, 6);
	inval_listing_diff(inv, 1, a, 3, b, 3);
	is_str(delivered(inv), "E1/a.bin D10 D1 ",
	       "name now maps to a new inode: entry, and the old inode");
	ok(!inval_current(inv, 10, g),
	   "the replaced version's reader is stale");
	ok(inval_current(inv, 11, gb), "the other file's reader is not");

	/* renamed within the directory: same inode, other name */
	b[0] = a[0];
	b[1] = file(11, "c.bin", U2, M2, 6);
	inval_listing_diff(inv, 1, a, 3, b, 3);
	is_str(delivered(inv), "E1/b.bin E1/c.bin D1 ",
	       "a rename: both names, the listing once");
	ok(inval_current(inv, 11, gb), "a renamed file's reader stays current");

	/* removed, added, a directory's time changed */
	b[0] = a[2];
	b[0].mtime = 200;
	b[1] = a[1];
	b[2] = file(30, "new.bin", U1, M1, 1);
	inval_listing_diff(inv, 1, a, 3, b, 3);
	is_str(delivered(inv), "E1/a.bin E1/new.bin A12 D1 ",
	       "removed and added names, a directory's attributes");
	ok(inval_current(inv, 11, gb), "an untouched file stays current");
	inval_listing_diff(inv, 2, NULL, 0, a, 1);
	is_str(delivered(inv), "E2/a.bin D2 ", "a first listing");
	inval_free(&inv);
}

static void test_many(void)
{
	struct inval *inv = inval_new();
	uint64_t keep, g;

	inval_open(inv, 1, U1, M1, 1, &keep);
	for (uint64_t i = 2; i < 70000; i++) {
		inval_open(inv, i, U1, M1, (int64_t)i, &g);
		inval_close(inv, i, g);
	}
	ok(inval_current(inv, 1, keep), "an open handle survives a sweep");
	inval_content(inv, 1);
	ok(!inval_current(inv, 1, keep), "and still turns stale");
	inval_close(inv, 1, keep);
	inval_free(&inv);
	inv = inval_new();
	ok(!inval_dir_known(inv, 5),
	   "a directory the kernel never asked about");
	for (uint64_t i = 1; i <= 5000; i++)
		inval_dir_seen(inv, i * 3);
	ok(inval_dir_known(inv, 15) && inval_dir_known(inv, 15000) &&
	       !inval_dir_known(inv, 16),
	   "directories the kernel asked about are known");
	inval_free(&inv);
	ok(!inval_dir_known(NULL, 15), "NULL inval: no directory known");
	inval_content(NULL, 1);
	inval_entry(NULL, 1, "x");
	ok(inval_open(NULL, 1, U1, M1, 1, &g) == 0 && g == 0,
	   "NULL inval: nothing kept");
	ok(inval_current(NULL, 1, 3), "NULL inval: never stale");
}

/* Listing digests: the kernel may keep a listing only while it is the same
 * as the one recorded for that directory last. */
static void test_listing_stamps(void)
{
	struct inval *inv = inval_new();
	uint64_t d;
	int all = 1;

	ok(!inval_listing_unchanged(NULL, 5, 1), "no inval: never kept");
	ok(!inval_listing_unchanged(inv, 5, 42), "first listing: not kept");
	ok(inval_listing_unchanged(inv, 5, 42), "the same listing: kept");
	ok(!inval_listing_unchanged(inv, 5, 43), "a changed one: not kept");
	ok(inval_listing_unchanged(inv, 5, 43), "then kept again");
	ok(!inval_listing_unchanged(inv, 6, 43), "per directory");
	/* Past the first table size: every directory is still known. */
	for (d = 100; d < 5100; d++)
		inval_listing_unchanged(inv, d, d * 7);
	for (d = 100; d < 5100; d++)
		all &= inval_listing_unchanged(inv, d, d * 7);
	ok(all, "5000 directories remembered as the table grows");
	ok(inval_listing_unchanged(inv, 5, 43), "the first one too");
	inval_free(&inv);
}

int main(void)
{
	test_listing_stamps();
	test_open_keep();
	test_content_stale();
	test_requests();
	test_diff();
	test_many();
	return tap_done();
}
