/* chunks: see chunks.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/chunks.h"

/* Idle buffers are kept up to the budget (their pages stay touched: fresh
 * memory costs a fault per page): a buffer is held, idle or in a fetch, so
 * this adds nothing to the peak, which new buffers only raise when no idle
 * one is left. chunk_pool_trim gives them back. */

struct chunk_pool {
	pthread_mutex_t lock;
	unsigned budget; /* chunks held at once, at most */
	unsigned held;	 /* reserved or ready chunks */
	char **idle;	 /* budget of them */
	unsigned nidle;
};

struct chunk_pool *chunk_pool_new(unsigned budget)
{
	struct chunk_pool *p = calloc(1, sizeof(*p));

	if (!p || !(p->idle = calloc(budget ? budget : 1, sizeof(char *)))) {
		free(p);
		return NULL;
	}
	p->budget = budget;
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

void chunk_pool_free(struct chunk_pool **pp)
{
	struct chunk_pool *p = *pp;

	if (!p)
		return;
	*pp = NULL;
	chunk_pool_trim(p);
	pthread_mutex_destroy(&p->lock);
	free(p->idle);
	free(p);
}

uint64_t chunk_pool_bytes(const struct chunk_pool *p)
{
	return p ? (uint64_t)p->budget * CHUNK_SIZE : 0;
}

/* An idle buffer or a new one; pool lock held. */
static char *buf_take(struct chunk_pool *p)
{
	void *b = NULL;

	if (p->nidle)
		return p->idle[--p->nidle];
	if (posix_memalign(&b, CHUNK_ALIGN, CHUNK_SIZE))
		return NULL;
	return b;
}

/* Keeps buf idle, or frees it when enough are; pool lock held. */
static void buf_give(struct chunk_pool *p, char *buf)
{
	if (!buf)
		return;
	if (p->nidle < p->budget)
		p->idle[p->nidle++] = buf;
	else
		free(buf);
}

char *chunk_buf_get(struct chunk_pool *p)
{
	char *b;

	pthread_mutex_lock(&p->lock);
	b = buf_take(p);
	pthread_mutex_unlock(&p->lock);
	return b;
}

void chunk_buf_put(struct chunk_pool *p, char *buf)
{
	pthread_mutex_lock(&p->lock);
	buf_give(p, buf);
	pthread_mutex_unlock(&p->lock);
}

void chunk_pool_trim(struct chunk_pool *p)
{
	pthread_mutex_lock(&p->lock);
	while (p->nidle)
		free(p->idle[--p->nidle]);
	pthread_mutex_unlock(&p->lock);
}

/* Frees slot i (not in use) and its place in the budget. */
static void release(struct chunk_pool *p, struct chunk *c)
{
	pthread_mutex_lock(&p->lock);
	buf_give(p, c->buf);
	p->held--;
	pthread_mutex_unlock(&p->lock);
	memset(c, 0, sizeof(*c));
}

static int behind(const struct chunk *c, uint64_t pos)
{
	return c->off + c->len + CHUNK_SLACK <= pos;
}

/* The ready chunk that may give its place to one at off: unused and
 * behind pos, else unused and the farthest ahead beyond off. -1: none. */
static int victim(const struct chunk_set *s, uint64_t off, uint64_t pos)
{
	int i, best = -1;
	const struct chunk *c;

	for (i = 0; i < CHUNK_SLOTS; i++) {
		c = &s->slot[i];
		if (c->state != CHUNK_READY || c->refs)
			continue;
		if (behind(c, pos))
			return i;
		if (c->off > off && (best < 0 || c->off > s->slot[best].off))
			best = i;
	}
	return best;
}

/* A free slot of s, or -1. */
static int free_slot(const struct chunk_set *s)
{
	int i;

	for (i = 0; i < CHUNK_SLOTS; i++)
		if (s->slot[i].state == CHUNK_FREE)
			return i;
	return -1;
}

int chunk_reserve(struct chunk_pool *p, struct chunk_set *s, uint64_t off,
		  uint64_t pos)
{
	int i, v, full;
	char *spare;

	if (!p || off + CHUNK_SIZE + CHUNK_SLACK <= pos)
		return -1;
	pthread_mutex_lock(&p->lock);
	full = p->held >= p->budget;
	pthread_mutex_unlock(&p->lock);
	i = free_slot(s);
	if (full || i < 0) {
		v = victim(s, off, pos);
		if (v < 0)
			return -1;
		release(p, &s->slot[v]);
		i = v;
	}
	pthread_mutex_lock(&p->lock);
	spare = p->held < p->budget ? buf_take(p) : NULL;
	if (spare)
		p->held++;
	pthread_mutex_unlock(&p->lock);
	if (!spare)
		return -1; /* out of memory, or another file took the place */
	s->slot[i].state = CHUNK_RESERVED;
	s->slot[i].buf = spare;
	return i;
}

void chunk_publish(struct chunk_set *s, int i, const void *tag, uint64_t off,
		   size_t len, char **buf)
{
	struct chunk *c = &s->slot[i];
	char *spare = c->buf;

	c->buf = *buf;
	*buf = spare;
	c->tag = tag;
	c->off = off;
	c->len = len;
	c->refs = 1;
	c->state = CHUNK_READY;
}

void chunk_cancel(struct chunk_pool *p, struct chunk_set *s, int i)
{
	release(p, &s->slot[i]);
}

/* The ready chunk of tag holding byte off, or -1. */
static int holding(const struct chunk_set *s, const void *tag, uint64_t off)
{
	int i;
	const struct chunk *c;

	for (i = 0; i < CHUNK_SLOTS; i++) {
		c = &s->slot[i];
		if (c->state == CHUNK_READY && c->tag == tag && off >= c->off &&
		    off < c->off + c->len)
			return i;
	}
	return -1;
}

int chunk_find(struct chunk_set *s, const void *tag, uint64_t off, size_t len,
	       struct iovec iov[2], int idx[2])
{
	struct chunk *a, *b;
	uint64_t end = off + len, aend;

	if (!len || (idx[0] = holding(s, tag, off)) < 0)
		return 0;
	a = &s->slot[idx[0]];
	aend = a->off + a->len;
	iov[0].iov_base = a->buf + (off - a->off);
	iov[0].iov_len = (size_t)((end < aend ? end : aend) - off);
	if (end > aend) {
		if ((idx[1] = holding(s, tag, aend)) < 0)
			return 0;
		b = &s->slot[idx[1]];
		if (end > b->off + b->len)
			return 0; /* reads are smaller than a chunk */
		iov[1].iov_base = b->buf;
		iov[1].iov_len = (size_t)(end - aend);
		a->refs++;
		b->refs++;
		return 2;
	}
	a->refs++;
	return 1;
}

void chunk_unref(struct chunk_set *s, int i)
{
	if (s->slot[i].refs > 0)
		s->slot[i].refs--;
}

void chunk_sweep(struct chunk_pool *p, struct chunk_set *s, uint64_t pos)
{
	int i;
	struct chunk *c;

	for (i = 0; i < CHUNK_SLOTS; i++) {
		c = &s->slot[i];
		if (c->state == CHUNK_READY && !c->refs && behind(c, pos))
			release(p, c);
	}
}

void chunk_release_all(struct chunk_pool *p, struct chunk_set *s)
{
	int i;

	for (i = 0; i < CHUNK_SLOTS; i++)
		if (s->slot[i].state != CHUNK_FREE)
			release(p, &s->slot[i]);
}
