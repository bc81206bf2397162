/* memo: in-memory copy of recent metadata cache reads (see memo.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/memo.h"

#define MEMO_BUCKETS (1u << 15)
#define MALLOC_OVERHEAD 16 /* what one allocation costs beyond its size */

/* One key's copy, in its hash bucket and in the use order. */
struct ent {
	uint64_t key;
	struct ent *next;	   /* bucket chain */
	struct ent *newer, *older; /* use order */
	size_t bytes;
	int r; /* MEMO_LISTED */
	int64_t when;
	struct cache_object *v;
	size_t n;
};

struct memo {
	pthread_mutex_t lock;
	uint64_t gen;
	size_t max, bytes;
	struct ent *newest, *oldest;
	struct ent **tab;
};

struct memo *memo_new(size_t max_bytes)
{
	struct memo *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->tab = calloc(MEMO_BUCKETS, sizeof(*m->tab));
	if (!m->tab) {
		free(m);
		return NULL;
	}
	m->max = max_bytes;
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

/* Frees one entry (already unlinked). */
static void ent_free(struct ent *e)
{
	cache_objects_release(e->v, e->n);
	free(e);
}

/* Drops every entry (lock held). */
static void clear_all(struct memo *m)
{
	struct ent *e = m->newest, *x;

	while (e) {
		x = e->older;
		ent_free(e);
		e = x;
	}
	memset(m->tab, 0, MEMO_BUCKETS * sizeof(*m->tab));
	m->newest = m->oldest = NULL;
	m->bytes = 0;
}

void memo_free(struct memo **pm)
{
	struct memo *m = *pm;

	if (!m)
		return;
	clear_all(m);
	free(m->tab);
	pthread_mutex_destroy(&m->lock);
	free(m);
	*pm = NULL;
}

uint64_t memo_gen(struct memo *m)
{
	uint64_t g;

	pthread_mutex_lock(&m->lock);
	g = m->gen;
	pthread_mutex_unlock(&m->lock);
	return g;
}

void memo_changed(struct memo *m)
{
	pthread_mutex_lock(&m->lock);
	m->gen++;
	if (m->newest)
		clear_all(m);
	pthread_mutex_unlock(&m->lock);
}

size_t memo_bytes(struct memo *m)
{
	size_t b;

	pthread_mutex_lock(&m->lock);
	b = m->bytes;
	pthread_mutex_unlock(&m->lock);
	return b;
}

/* The bucket of key. */
static struct ent **bucket(struct memo *m, uint64_t key)
{
	return &m->tab[(key * 0x9E3779B97F4A7C15ULL) >> 49];
}

/* The entry of key (lock held), made the most recently used; or NULL
 * (always for key 0). */
static struct ent *find(struct memo *m, uint64_t key)
{
	struct ent *e = *bucket(m, key);

	while (e && e->key != key)
		e = e->next;
	if (!e || e == m->newest)
		return e;
	/* to the front of the use order */
	e->newer->older = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		m->oldest = e->newer;
	e->newer = NULL;
	e->older = m->newest;
	m->newest->newer = e;
	m->newest = e;
	return e;
}

/* Unlinks e from its bucket and the use order and frees it (lock held). */
static void drop(struct memo *m, struct ent *e)
{
	struct ent **p = bucket(m, e->key);

	while (*p != e)
		p = &(*p)->next;
	*p = e->next;
	if (e->newer)
		e->newer->older = e->older;
	else
		m->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		m->oldest = e->newer;
	m->bytes -= e->bytes;
	ent_free(e);
}

/* Adds e as the newest (replacing its key's entry), then evicts the
 * least recently used while over budget (lock held). */
static void insert(struct memo *m, struct ent *e)
{
	struct ent *old = find(m, e->key);

	if (old)
		drop(m, old);
	e->next = *bucket(m, e->key);
	*bucket(m, e->key) = e;
	e->newer = NULL;
	e->older = m->newest;
	if (m->newest)
		m->newest->newer = e;
	else
		m->oldest = e;
	m->newest = e;
	m->bytes += e->bytes;
	while (m->bytes > m->max && m->oldest)
		drop(m, m->oldest);
}

/* Estimated bytes of one string copy. */
static size_t str_bytes(const char *s)
{
	return s ? strlen(s) + 1 + MALLOC_OVERHEAD : 0;
}

/* Duplicates s (NULL stays NULL); *bad when out of memory. */
static char *dup_or_null(const char *s, int *bad)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*bad = 1;
	return d;
}

/* Deep copy of v[0..n) into *out; adds its estimated size to *bytes. */
static int copy_objects(const struct cache_object *v, size_t n,
			struct cache_object **out, size_t *bytes)
{
	struct cache_object *c = calloc(n ? n : 1, sizeof(*c));
	int bad = !c;

	for (size_t i = 0; !bad && i < n; i++) {
		c[i] = v[i];
		c[i].name = dup_or_null(v[i].name, &bad);
		c[i].raw_name = dup_or_null(v[i].raw_name, &bad);
		c[i].handle = dup_or_null(v[i].handle, &bad);
		c[i].mime = dup_or_null(v[i].mime, &bad);
		*bytes += sizeof(*c) + str_bytes(v[i].name) +
			  str_bytes(v[i].raw_name) + str_bytes(v[i].handle) +
			  str_bytes(v[i].mime);
	}
	if (bad) {
		cache_objects_release(c, n);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

/* The key of (kind, ino); 0 for inode numbers too large to be kept (none
 * of the cache's are). */
static uint64_t key_of(uint64_t ino, enum memo_kind kind)
{
	return ino >> 61 ? 0 : ino << 2 | kind;
}

/* Keeps e for key when gen is still current; else frees it. */
static void keep(struct memo *m, uint64_t gen, uint64_t key, struct ent *e)
{
	e->key = key;
	e->bytes += sizeof(*e) + MALLOC_OVERHEAD;
	pthread_mutex_lock(&m->lock);
	if (key && gen == m->gen && e->bytes <= m->max) {
		insert(m, e);
		e = NULL;
	}
	pthread_mutex_unlock(&m->lock);
	if (e)
		ent_free(e);
}

void memo_put(struct memo *m, uint64_t gen, enum memo_kind kind, uint64_t ino,
	      const struct cache_object *v, size_t n)
{
	struct ent *e = calloc(1, sizeof(*e));

	if (!e)
		return;
	if (copy_objects(v, n, &e->v, &e->bytes) < 0) {
		free(e);
		return;
	}
	e->n = n;
	keep(m, gen, key_of(ino, kind), e);
}

int memo_get(struct memo *m, enum memo_kind kind, uint64_t ino,
	     struct cache_object **v, size_t *n)
{
	struct ent *e;
	size_t ignored = 0;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	e = find(m, key_of(ino, kind));
	if (e) {
		r = copy_objects(e->v, e->n, v, &ignored);
		*n = e->n;
		if (r == 0)
			r = 1;
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int memo_lookup(struct memo *m, uint64_t dir, const char *name,
		struct cache_object *out)
{
	struct ent *e;
	struct cache_object *c;
	size_t ignored = 0;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	e = find(m, key_of(dir, MEMO_CHILDREN));
	for (size_t i = 0; e && i < e->n && r == 0; i++) {
		if (strcmp(e->v[i].name, name) != 0)
			continue;
		r = copy_objects(&e->v[i], 1, &c, &ignored);
		if (r == 0) {
			*out = *c;
			free(c);
			r = 1;
		}
	}
	if (e && r == 0)
		r = -ENOENT;
	pthread_mutex_unlock(&m->lock);
	return r;
}

int memo_get_when(struct memo *m, uint64_t dir, int *r, int64_t *when)
{
	struct ent *e;

	pthread_mutex_lock(&m->lock);
	e = find(m, key_of(dir, MEMO_LISTED));
	if (e) {
		*r = e->r;
		*when = e->when;
	}
	pthread_mutex_unlock(&m->lock);
	return e != NULL;
}

void memo_put_when(struct memo *m, uint64_t gen, uint64_t dir, int r,
		   int64_t when)
{
	struct ent *e = calloc(1, sizeof(*e));

	if (!e)
		return;
	e->r = r;
	e->when = when;
	keep(m, gen, key_of(dir, MEMO_LISTED), e);
}
