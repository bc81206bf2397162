/* memo: an in-memory copy of recent reads of the metadata cache (cache.c
 * only): objects by inode, and per directory its listing time and its
 * entries, so that a warm listing (opendir, getattr) does not ask SQLite.
 *
 * It never answers differently from the database: every write to the
 * cache (a commit, an expired listing, local times) calls memo_changed,
 * which drops the whole copy. A read that missed records the generation
 * before asking SQLite (memo_gen) and hands it to memo_put, which keeps
 * nothing when a write came in between. Bounded: the least recently used
 * entries go when the copy would exceed its byte budget. Thread safe. */
#ifndef DSPACEFS_MEMO_H
#define DSPACEFS_MEMO_H

#include <stddef.h>
#include <stdint.h>

#include "core/cache.h"

struct memo;

/* What an entry holds, keyed with an inode number. */
enum memo_kind {
	MEMO_OBJECT,   /* cache_get: one object */
	MEMO_CHILDREN, /* cache_children: the entries of a directory */
	MEMO_LISTED,   /* cache_listed_at: a time, or that there is none */
};

/* A copy of at most max_bytes (estimated); NULL when out of memory. */
struct memo *memo_new(size_t max_bytes);
void memo_free(struct memo **m);

/* The generation to hand to memo_put after reading the database. */
uint64_t memo_gen(struct memo *m);
/* The database changed: forget everything. */
void memo_changed(struct memo *m);

/* Copies the objects of (kind, ino) into *v, *n (cache_objects_release):
 * 1 when known, 0 when not, -ENOMEM. */
int memo_get(struct memo *m, enum memo_kind kind, uint64_t ino,
	     struct cache_object **v, size_t *n);
/* Keeps a copy of v[0..n) as (kind, ino) read under generation gen. */
void memo_put(struct memo *m, uint64_t gen, enum memo_kind kind, uint64_t ino,
	      const struct cache_object *v, size_t n);
/* The entry called name among the known children of dir: 1 found (out
 * filled), 0 the listing is not known, -ENOENT not among them, -ENOMEM. */
int memo_lookup(struct memo *m, uint64_t dir, const char *name,
		struct cache_object *out);
/* MEMO_LISTED: 1 and *r (0 or -ENOENT) and *when when known, else 0. */
int memo_get_when(struct memo *m, uint64_t dir, int *r, int64_t *when);
void memo_put_when(struct memo *m, uint64_t gen, uint64_t dir, int r,
		   int64_t when);
/* Estimated bytes held now (tests, logs). */
size_t memo_bytes(struct memo *m);

#endif
