/* chunks: the latest bytes of sequential streams, kept in memory after
 * they reached the content cache, so that readers are answered from them
 * (one copy: into the FUSE reply) and the cache file can be written with
 * O_DIRECT (content_write_direct: no page cache and no copy of its own).
 *
 * A chunk is one fetch buffer (CHUNK_SIZE bytes at most) of one open
 * bitstream. Memory is bounded per mount: a chunk_pool hands out the
 * buffers and lets at most `budget` chunks be held at once; what does not
 * fit goes through the page cache as before (content_write). Readers pass
 * chunks as the stream goes on, and chunks behind them are released.
 *
 * A chunk_set (the chunks of one file) is protected by its owner's lock,
 * taken by the caller around every call that takes a set; the pool has a
 * lock of its own (a leaf). Pure logic: tests/unit/test_chunks.c. */
#ifndef DSPACEFS_CHUNKS_H
#define DSPACEFS_CHUNKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/content.h"

#define CHUNK_SIZE (1u << 20)
#define CHUNK_SLOTS 32			 /* chunks of one file */
#define CHUNK_ALIGN CONTENT_DIRECT_ALIGN /* buffers suit O_DIRECT */
#define CHUNK_SLACK (1u << 20) /* kept behind a reader: reordered reads */

enum chunk_state { CHUNK_FREE, CHUNK_RESERVED, CHUNK_READY };

struct chunk {
	enum chunk_state state;
	const void *tag; /* what the bytes belong to (a content entry) */
	uint64_t off;
	size_t len;
	char *buf; /* READY: the bytes; RESERVED: the writer's spare */
	int refs;  /* replies being sent from it, and its writer */
};

struct chunk_set {
	struct chunk slot[CHUNK_SLOTS];
};

struct chunk_pool;

/* A pool that lets at most budget chunks be held at once (0: none, every
 * reservation fails). NULL when out of memory. */
struct chunk_pool *chunk_pool_new(unsigned budget);
/* Frees the pool and its idle buffers (sets must be released before). */
void chunk_pool_free(struct chunk_pool **p);
/* The bytes chunks may hold at once. */
uint64_t chunk_pool_bytes(const struct chunk_pool *p);
/* A CHUNK_SIZE buffer aligned to CHUNK_ALIGN (an idle one when there is
 * one, so its pages are touched already); NULL when out of memory. */
char *chunk_buf_get(struct chunk_pool *p);
void chunk_buf_put(struct chunk_pool *p, char *buf);
/* Frees the idle buffers (when nothing is being read). */
void chunk_pool_trim(struct chunk_pool *p);

/* Reserves a slot for the bytes at off that a writer is about to put into
 * the cache, when they are worth keeping for a reader at pos: not behind
 * it, and within the budget (for which a chunk farther ahead of pos, or
 * already behind it, is given up). The slot holds a spare buffer for the
 * writer meanwhile. Returns the slot, or -1 to write without keeping. */
int chunk_reserve(struct chunk_pool *p, struct chunk_set *s, uint64_t off,
		  uint64_t pos);
/* Makes reserved slot i the chunk [off, off+len) of tag: it takes *buf
 * (the writer's bytes, now in the cache too) and *buf becomes the spare.
 * The writer holds one reference (chunk_unref when done with the bytes). */
void chunk_publish(struct chunk_set *s, int i, const void *tag, uint64_t off,
		   size_t len, char **buf);
/* Gives a reservation up (the write failed): the spare goes back. */
void chunk_cancel(struct chunk_pool *p, struct chunk_set *s, int i);
/* Finds [off, off+len) of tag in one chunk or two adjacent ones; on
 * success takes a reference on each, fills iov[0..n) and idx[0..n) and
 * returns n (1 or 2); 0 when the bytes are not all in memory. */
int chunk_find(struct chunk_set *s, const void *tag, uint64_t off, size_t len,
	       struct iovec iov[2], int idx[2]);
void chunk_unref(struct chunk_set *s, int i);
/* Releases the chunks nobody uses that end CHUNK_SLACK or more before
 * pos (their reader has passed them). */
void chunk_sweep(struct chunk_pool *p, struct chunk_set *s, uint64_t pos);
/* Releases every chunk of s (none may be in use). */
void chunk_release_all(struct chunk_pool *p, struct chunk_set *s);

#endif
