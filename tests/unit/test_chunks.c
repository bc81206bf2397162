/* test_chunks: a stream's latest bytes kept in memory for its reader
 * (core/chunks.h): what is found, what is given up when the budget is
 * spent, and that nothing in use is ever released. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "core/chunks.h"

#define MiB (1u << 20)

static const int tag_a = 1, tag_b = 2;

/* Puts a chunk [off, off+len) of tag into s, its bytes filled with fill;
 * returns its slot (its writer's reference dropped) or -1. */
static int put(struct chunk_pool *p, struct chunk_set *s, const void *tag,
	       uint64_t off, size_t len, uint64_t pos, char fill)
{
	char *buf = chunk_buf_get(p), *mine = buf;
	int i = chunk_reserve(p, s, off, pos);

	if (i < 0) {
		chunk_buf_put(p, buf);
		return -1;
	}
	memset(buf, fill, len);
	chunk_publish(s, i, tag, off, len, &buf);
	ok(s->slot[i].buf == mine && buf != mine, "publish swaps buffers");
	chunk_unref(s, i);
	chunk_buf_put(p, buf);
	return i;
}

static void finds(void)
{
	struct chunk_pool *p = chunk_pool_new(4);
	struct chunk_set s = {0};
	struct iovec iov[2];
	int idx[2], n, a;

	a = put(p, &s, &tag_a, 0, MiB, 0, 'a');
	put(p, &s, &tag_a, MiB, MiB / 2, 0, 'b');
	ok(a >= 0, "kept");
	ok((uintptr_t)s.slot[a].buf % CHUNK_ALIGN == 0, "buffers are aligned");
	n = chunk_find(&s, &tag_a, 4096, 8192, iov, idx);
	is_int(n, 1, "inside one chunk: one iovec");
	ok(iov[0].iov_base == s.slot[a].buf + 4096 && iov[0].iov_len == 8192,
	   "at the offset, the length asked");
	is_int(s.slot[a].refs, 1, "a reference is taken");
	chunk_unref(&s, idx[0]);
	n = chunk_find(&s, &tag_a, MiB - 100, 300, iov, idx);
	is_int(n, 2, "across two adjacent chunks: two iovecs");
	ok(iov[0].iov_len == 100 && iov[1].iov_len == 200 &&
	       ((char *)iov[1].iov_base)[0] == 'b',
	   "split where the chunks meet");
	chunk_unref(&s, idx[0]);
	chunk_unref(&s, idx[1]);
	is_int(chunk_find(&s, &tag_a, MiB + MiB / 2 - 10, 20, iov, idx), 0,
	       "past the last chunk: not in memory");
	is_int(chunk_find(&s, &tag_b, 0, 10, iov, idx), 0,
	       "another entry's bytes are never found");
	is_int(chunk_find(&s, &tag_a, 0, 0, iov, idx), 0, "nothing to find");
	chunk_release_all(p, &s);
	is_int(chunk_find(&s, &tag_a, 0, 10, iov, idx), 0, "released");
	chunk_pool_free(&p);
}

static void budget(void)
{
	struct chunk_pool *p = chunk_pool_new(2);
	struct chunk_set s = {0};
	struct iovec iov[2];
	int idx[2], far;

	ok(chunk_pool_bytes(p) == 2ull * CHUNK_SIZE, "the budget in bytes");
	put(p, &s, &tag_a, 0, MiB, 0, 'a');
	far = put(p, &s, &tag_a, 8 * MiB, MiB, 0, 'f');
	is_int(put(p, &s, &tag_a, 9 * MiB, MiB, 0, 'x'), -1,
	       "budget spent: a chunk farther ahead is not kept");
	ok(put(p, &s, &tag_a, MiB, MiB, 0, 'n') == far,
	   "a nearer one takes the place of the farthest");
	is_int(chunk_find(&s, &tag_a, 8 * MiB, 10, iov, idx), 0,
	       "the farthest is gone");
	/* The reader moved on: what is behind it goes first. */
	ok(put(p, &s, &tag_a, 12 * MiB, MiB, 4 * MiB, 'c') >= 0,
	   "a chunk behind the reader makes room");
	ok(chunk_find(&s, &tag_a, MiB, 10, iov, idx) == 1, "the other stays");
	is_int(put(p, &s, &tag_a, 13 * MiB, MiB, 4 * MiB, 'd'), -1,
	       "a chunk in use is never given up");
	chunk_unref(&s, idx[0]);
	is_int(chunk_reserve(p, &s, 0, 4 * MiB), -1,
	       "bytes the reader has passed are not kept");
	chunk_release_all(p, &s);
	chunk_pool_free(&p);
}

static void sweep_and_cancel(void)
{
	struct chunk_pool *p = chunk_pool_new(3);
	struct chunk_set s = {0};
	struct iovec iov[2];
	int idx[2], i;

	put(p, &s, &tag_a, 0, MiB, 0, 'a');
	put(p, &s, &tag_a, MiB, MiB, 0, 'b');
	chunk_sweep(p, &s, 2 * MiB - 1);
	ok(chunk_find(&s, &tag_a, 0, 10, iov, idx) == 1,
	   "within the slack behind the reader: kept");
	chunk_unref(&s, idx[0]);
	chunk_find(&s, &tag_a, 0, 10, iov, idx); /* a reply from it */
	chunk_sweep(p, &s, 2 * MiB + CHUNK_SLACK);
	ok(s.slot[idx[0]].state == CHUNK_READY,
	   "in use: kept however far behind");
	chunk_unref(&s, idx[0]);
	chunk_sweep(p, &s, 2 * MiB + CHUNK_SLACK);
	is_int(chunk_find(&s, &tag_a, 0, 10, iov, idx), 0,
	       "unused and behind: released");
	i = chunk_reserve(p, &s, 5 * MiB, 0);
	ok(i >= 0 && s.slot[i].state == CHUNK_RESERVED, "reserved");
	is_int(chunk_find(&s, &tag_a, 5 * MiB, 10, iov, idx), 0,
	       "a reservation holds no bytes yet");
	chunk_cancel(p, &s, i);
	ok(s.slot[i].state == CHUNK_FREE, "cancelled");
	ok(put(p, &s, &tag_a, 6 * MiB, MiB, 0, 'x') >= 0 &&
	       put(p, &s, &tag_a, 7 * MiB, MiB, 0, 'y') >= 0 &&
	       put(p, &s, &tag_a, 8 * MiB, MiB, 0, 'z') >= 0,
	   "the places of cancelled and released chunks are free again");
	chunk_release_all(p, &s);
	chunk_pool_trim(p);
	chunk_pool_free(&p);
	ok(p == NULL, "pool freed");
}

static void no_budget(void)
{
	struct chunk_pool *p = chunk_pool_new(0);
	struct chunk_set s = {0};

	is_int(chunk_reserve(p, &s, 0, 0), -1, "budget 0: nothing is kept");
	is_int(chunk_reserve(NULL, &s, 0, 0), -1, "no pool: nothing is kept");
	chunk_pool_free(&p);
}

int main(void)
{
	finds();
	budget();
	sweep_and_cancel();
	no_budget();
	return tap_done();
}
