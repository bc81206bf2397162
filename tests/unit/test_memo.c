/* Unit tests for memo.c: the in-memory copy of recent cache reads. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/memo.h"
#include "util/log.h"
#include "tap.h"

/* An object with inode ino called name (strings borrowed). */
static struct cache_object obj(uint64_t ino, const char *name)
{
	struct cache_object o;

	memset(&o, 0, sizeof(o));
	o.ino = ino;
	o.parent_ino = 2;
	o.type = DSO_ITEM;
	o.name = (char *)name;
	o.raw_name = (char *)name;
	o.size = 7;
	return o;
}

/* Puts, gets, lookups and the write generation. */
static void test_basics(void)
{
	struct memo *m = memo_new(1 << 20);
	struct cache_object v[2] = {obj(10, "a"), obj(11, "b")}, *out, o;
	uint64_t gen = memo_gen(m);
	size_t n = 0;
	int r = 0;
	int64_t when = 0;

	is_int(memo_get(m, MEMO_CHILDREN, 2, &out, &n), 0, "empty: a miss");
	memo_put(m, gen, MEMO_CHILDREN, 2, v, 2);
	is_int(memo_get(m, MEMO_CHILDREN, 2, &out, &n), 1, "a hit after put");
	ok(n == 2 && !strcmp(out[1].name, "b") && out[1].name != v[1].name,
	   "a deep copy of what was put");
	cache_objects_release(out, n);
	is_int(memo_get(m, MEMO_OBJECT, 2, &out, &n), 0, "kinds are apart");
	is_int(memo_lookup(m, 2, "b", &o), 1, "lookup among the children");
	is_int((int)o.ino, 11, "lookup: the entry");
	cache_object_release(&o);
	is_int(memo_lookup(m, 2, "c", &o), -ENOENT, "lookup: not among them");
	is_int(memo_lookup(m, 3, "b", &o), 0, "lookup: listing unknown");
	memo_put_when(m, gen, 2, -ENOENT, 0);
	ok(memo_get_when(m, 2, &r, &when) == 1 && r == -ENOENT,
	   "a listing time that is not there is kept too");
	memo_changed(m);
	is_int(memo_get(m, MEMO_CHILDREN, 2, &out, &n), 0,
	       "a write drops everything");
	is_int(memo_get_when(m, 2, &r, &when), 0, "listing times too");
	memo_put(m, gen, MEMO_CHILDREN, 2, v, 2);
	is_int(memo_get(m, MEMO_CHILDREN, 2, &out, &n), 0,
	       "a read from before the write is not kept");
	memo_put(m, memo_gen(m), MEMO_OBJECT, 1ULL << 62, v, 1);
	is_int(memo_get(m, MEMO_OBJECT, 1ULL << 62, &out, &n), 0,
	       "inode numbers beyond the key space are not kept");
	is_int((int)memo_bytes(m), 0, "nothing held");
	memo_free(&m);
	ok(m == NULL, "free clears the pointer");
}

/* The byte budget: least recently used entries go first. */
static void test_budget(void)
{
	struct memo *m = memo_new(64 * 1024);
	struct cache_object o = obj(1, "some name of an entry"), *out;
	size_t n;
	int held = 0;

	for (uint64_t i = 1; i <= 2000; i++) {
		memo_put(m, memo_gen(m), MEMO_OBJECT, i, &o, 1);
		if (memo_get(m, MEMO_OBJECT, 1, &out, &n) == 1)
			cache_objects_release(out, n);
	}
	ok(memo_bytes(m) <= 64 * 1024, "within the budget");
	is_int(memo_get(m, MEMO_OBJECT, 1, &out, &n), 1,
	       "the entry used all along stays");
	cache_objects_release(out, n);
	is_int(memo_get(m, MEMO_OBJECT, 2, &out, &n), 0, "old ones went");
	for (uint64_t i = 1900; i <= 2000; i++)
		if (memo_get(m, MEMO_OBJECT, i, &out, &n) == 1) {
			cache_objects_release(out, n);
			held++;
		}
	ok(held > 50, "the newest are there");
	memo_free(&m);
}

int main(void)
{
	log_init("test_memo", 0, LL_ERROR);
	test_basics();
	test_budget();
	return tap_done();
}
