/* inval: what the kernel may hold, and requests to make it forget (see
 * inval.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/inval.h"
#include "util/log.h"

/* Requests waiting for the worker; past this many, new ones are dropped
 * (with a warning once): the kernel's own timeouts still apply. */
#define QUEUE_MAX 65536
/* Closed inodes whose identity is remembered (for keep_cache); above this
 * the closed ones are forgotten (a later open then drops the pages). */
#define RECORDS_MAX 65536
/* Directories remembered as seen by the kernel; past this many, every
 * directory counts as seen (comparisons cost time, never correctness). */
#define SEEN_MAX (1u << 20)
/* Directories whose listing digest is kept; past that the table starts
 * afresh (a miss only costs a readdir). */
#define STAMPS_MAX (1u << 21)
/* How long a data invalidation waits for the reads of its inode that we
 * are serving; then only the attributes are invalidated. */
#define READ_WAIT_MS 1000

/* What each directory listed last looked like: an open-addressing table
 * keyed by inode that doubles as it fills. */
struct stamps {
	uint64_t *ino; /* 0: empty slot (inode 0 does not exist) */
	uint64_t *hash;
	size_t size; /* slots, a power of two */
	size_t used;
};

struct qnode {
	struct inval_req r;
	char *name;
	struct qnode *next;
};

/* What the kernel may hold of one inode's content. */
struct record {
	uint64_t ino;
	uint64_t gen;	  /* changes whenever the content is replaced */
	uint64_t id;	  /* identity of the content it may hold; 0 unknown */
	unsigned nopen;	  /* handles open on ino */
	unsigned ncur;	  /* of which opened on the current generation */
	unsigned reading; /* reads of it being served (inval_read_begin) */
	struct record *next;
};

struct inval {
	pthread_mutex_t lock;
	pthread_cond_t wake;  /* the worker: work or stop */
	pthread_cond_t empty; /* inval_drain: all delivered */
	pthread_cond_t reads; /* a record's reads drained */
	struct qnode *head, *tail;
	size_t queued;
	int busy; /* the worker is delivering one request */
	int running, stopping, overflowed;
	pthread_t worker;
	inval_sink_fn sink;
	void *arg;
	struct record **buckets;
	size_t nbuckets, nrec;
	uint64_t *seen; /* open addressing; 0 is an empty slot */
	size_t seen_size, seen_used;
	int seen_all;	      /* the set overflowed */
	struct stamps stamps; /* listing digests (inval_listing_unchanged) */
};

struct inval *inval_new(void)
{
	struct inval *inv = calloc(1, sizeof(*inv));

	if (!inv)
		return NULL;
	pthread_mutex_init(&inv->lock, NULL);
	pthread_cond_init(&inv->wake, NULL);
	pthread_cond_init(&inv->empty, NULL);
	pthread_cond_init(&inv->reads, NULL);
	return inv;
}

/* Frees every queued request (lock held). */
static void queue_clear(struct inval *inv)
{
	while (inv->head) {
		struct qnode *q = inv->head;

		inv->head = q->next;
		free(q->name);
		free(q);
	}
	inv->tail = NULL;
	inv->queued = 0;
	pthread_cond_broadcast(&inv->empty);
}

void inval_free(struct inval **invp)
{
	struct inval *inv = *invp;

	if (!inv)
		return;
	inval_stop(inv);
	queue_clear(inv);
	for (size_t i = 0; i < inv->nbuckets; i++) {
		while (inv->buckets[i]) {
			struct record *r = inv->buckets[i];

			inv->buckets[i] = r->next;
			free(r);
		}
	}
	free(inv->buckets);
	free(inv->seen);
	free(inv->stamps.ino);
	free(inv->stamps.hash);
	pthread_cond_destroy(&inv->wake);
	pthread_cond_destroy(&inv->empty);
	pthread_cond_destroy(&inv->reads);
	pthread_mutex_destroy(&inv->lock);
	free(inv);
	*invp = NULL;
}

static struct record *rec_find(struct inval *inv, uint64_t ino);

/* Before a data invalidation of q's inode (lock held): the kernel holds
 * the page locks of a read it sent us until we answer, and an
 * invalidation of those pages waits for them; were we killed meanwhile,
 * neither would ever end (an unkillable daemon). So wait until the reads
 * we serve of it are answered; when they do not drain in time, only the
 * attributes are invalidated (stale handles then get ESTALE and new
 * opens drop the pages, see inval_open). */
static void wait_reads(struct inval *inv, struct qnode *q)
{
	struct timespec until;
	struct record *r;

	if (q->r.kind != INVAL_DATA)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (READ_WAIT_MS % 1000) * 1000000L;
	until.tv_sec += READ_WAIT_MS / 1000 + until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	while ((r = rec_find(inv, q->r.ino)) && r->reading && !inv->stopping)
		if (pthread_cond_timedwait(&inv->reads, &inv->lock, &until))
			break;
	r = rec_find(inv, q->r.ino);
	if (r && r->reading) {
		log_debug("inval: inode %llu is being read; attributes only",
			  (unsigned long long)q->r.ino);
		q->r.kind = INVAL_ATTR;
	}
}

/* The worker: delivers queued requests in order until stopped. */
static void *worker_main(void *p)
{
	struct inval *inv = p;

	pthread_mutex_lock(&inv->lock);
	for (;;) {
		struct qnode *q;
		int r;

		while (!inv->head && !inv->stopping)
			pthread_cond_wait(&inv->wake, &inv->lock);
		if (inv->stopping)
			break;
		q = inv->head;
		inv->head = q->next;
		if (!inv->head)
			inv->tail = NULL;
		inv->queued--;
		inv->busy = 1;
		wait_reads(inv, q);
		pthread_mutex_unlock(&inv->lock);
		r = inv->sink(inv->arg, &q->r);
		if (r < 0 && r != -ENOENT)
			log_debug("inval: request %d for inode %llu: %s",
				  (int)q->r.kind, (unsigned long long)q->r.ino,
				  strerror(-r));
		free(q->name);
		free(q);
		pthread_mutex_lock(&inv->lock);
		inv->busy = 0;
		if (!inv->head)
			pthread_cond_broadcast(&inv->empty);
	}
	pthread_mutex_unlock(&inv->lock);
	return NULL;
}

int inval_start(struct inval *inv, inval_sink_fn sink, void *arg)
{
	int r = 0;

	if (!inv || !sink)
		return -EINVAL;
	pthread_mutex_lock(&inv->lock);
	if (!inv->running) {
		inv->sink = sink;
		inv->arg = arg;
		inv->stopping = 0;
		r = -pthread_create(&inv->worker, NULL, worker_main, inv);
		inv->running = r == 0;
	}
	pthread_mutex_unlock(&inv->lock);
	return r;
}

void inval_stop(struct inval *inv)
{
	int join;

	if (!inv)
		return;
	pthread_mutex_lock(&inv->lock);
	join = inv->running;
	inv->stopping = 1;
	pthread_cond_broadcast(&inv->wake);
	pthread_mutex_unlock(&inv->lock);
	if (join)
		pthread_join(inv->worker, NULL);
	pthread_mutex_lock(&inv->lock);
	inv->running = 0;
	queue_clear(inv);
	pthread_mutex_unlock(&inv->lock);
}

void inval_drain(struct inval *inv)
{
	if (!inv)
		return;
	pthread_mutex_lock(&inv->lock);
	while (inv->running && (inv->head || inv->busy))
		pthread_cond_wait(&inv->empty, &inv->lock);
	pthread_mutex_unlock(&inv->lock);
}

/* Whether a request equals the last one queued (lock held). */
static int same_as_tail(struct inval *inv, enum inval_kind k, uint64_t ino,
			const char *name)
{
	const struct qnode *t = inv->tail;

	return t && t->r.kind == k && t->r.ino == ino &&
	       (!name || (t->name && !strcmp(t->name, name)));
}

/* Queues one request for the worker (dropped when nobody delivers). */
static void push(struct inval *inv, enum inval_kind k, uint64_t ino,
		 const char *name)
{
	struct qnode *q;

	if (!ino)
		return;
	pthread_mutex_lock(&inv->lock);
	if (!inv->running || same_as_tail(inv, k, ino, name))
		goto out;
	if (inv->queued >= QUEUE_MAX) {
		if (!inv->overflowed)
			log_warn("inval: too many kernel cache invalidations "
				 "waiting; some are dropped");
		inv->overflowed = 1;
		goto out;
	}
	q = calloc(1, sizeof(*q));
	if (!q || (name && !(q->name = strdup(name)))) {
		free(q);
		goto out;
	}
	q->r.kind = k;
	q->r.ino = ino;
	q->r.name = q->name;
	if (inv->tail)
		inv->tail->next = q;
	else
		inv->head = q;
	inv->tail = q;
	inv->queued++;
	pthread_cond_signal(&inv->wake);
out:
	pthread_mutex_unlock(&inv->lock);
}

/* The slot of dir in the seen set, or the empty one where it belongs. */
static size_t seen_slot(const struct inval *inv, uint64_t dir)
{
	size_t m = inv->seen_size - 1;
	size_t i = (size_t)(dir * 11400714819323198485ULL) & m;

	while (inv->seen[i] && inv->seen[i] != dir)
		i = (i + 1) & m;
	return i;
}

/* Doubles the seen set (lock held); false when memory is short. */
static int seen_grow(struct inval *inv)
{
	uint64_t *old = inv->seen;
	size_t n = inv->seen_size ? inv->seen_size * 2 : 1024;
	size_t old_size = inv->seen_size;

	inv->seen = calloc(n, sizeof(*inv->seen));
	if (!inv->seen) {
		inv->seen = old;
		return 0;
	}
	inv->seen_size = n;
	for (size_t i = 0; i < old_size; i++)
		if (old[i])
			inv->seen[seen_slot(inv, old[i])] = old[i];
	free(old);
	return 1;
}

void inval_dir_seen(struct inval *inv, uint64_t dir)
{
	if (!inv || !dir)
		return;
	pthread_mutex_lock(&inv->lock);
	if (inv->seen_all)
		goto out;
	if (inv->seen_size && inv->seen[seen_slot(inv, dir)] == dir)
		goto out;
	if ((inv->seen_used + 1) * 2 > inv->seen_size &&
	    (inv->seen_used >= SEEN_MAX || !seen_grow(inv))) {
		inv->seen_all = 1;
		goto out;
	}
	inv->seen[seen_slot(inv, dir)] = dir;
	inv->seen_used++;
out:
	pthread_mutex_unlock(&inv->lock);
}

int inval_dir_known(struct inval *inv, uint64_t dir)
{
	int known;

	if (!inv)
		return 0;
	pthread_mutex_lock(&inv->lock);
	known = inv->seen_all ||
		(inv->seen_size && inv->seen[seen_slot(inv, dir)] == dir);
	pthread_mutex_unlock(&inv->lock);
	return known;
}

/* FNV-1a of a string, continuing from h. */
static uint64_t fnv_str(uint64_t h, const char *s)
{
	for (; s && *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	h ^= 0xff; /* separator */
	return h * 1099511628211ULL;
}

/* A digest of a content identity; never 0 (0 means unknown). */
static uint64_t identity(const char *uuid, const char *md5, int64_t size)
{
	uint64_t h = fnv_str(14695981039346656037ULL, uuid);

	h = fnv_str(h, md5);
	h ^= (uint64_t)size;
	h *= 1099511628211ULL;
	return h ? h : 1;
}

/* The record of ino, or NULL (lock held). */
static struct record *rec_find(struct inval *inv, uint64_t ino)
{
	struct record *r;

	if (!inv->nbuckets)
		return NULL;
	r = inv->buckets[(ino * 11400714819323198485ULL) % inv->nbuckets];
	while (r && r->ino != ino)
		r = r->next;
	return r;
}

/* Forgets the records of closed inodes (lock held). */
static void rec_sweep(struct inval *inv)
{
	for (size_t i = 0; i < inv->nbuckets; i++) {
		for (struct record **p = &inv->buckets[i]; *p;) {
			struct record *r = *p;

			if (r->nopen || r->reading) {
				p = &r->next;
				continue;
			}
			*p = r->next;
			free(r);
			inv->nrec--;
		}
	}
}

/* Doubles the bucket array (lock held); false when memory is short. */
static int rec_grow(struct inval *inv)
{
	size_t n = inv->nbuckets ? inv->nbuckets * 2 : 256;
	struct record **b = calloc(n, sizeof(*b));

	if (!b)
		return 0;
	for (size_t i = 0; i < inv->nbuckets; i++) {
		while (inv->buckets[i]) {
			struct record *r = inv->buckets[i];
			size_t k = (r->ino * 11400714819323198485ULL) % n;

			inv->buckets[i] = r->next;
			r->next = b[k];
			b[k] = r;
		}
	}
	free(inv->buckets);
	inv->buckets = b;
	inv->nbuckets = n;
	return 1;
}

/* The record of ino, created when missing (lock held); NULL when memory is
 * short. */
static struct record *rec_get(struct inval *inv, uint64_t ino)
{
	struct record *r = rec_find(inv, ino);
	size_t k;

	if (r)
		return r;
	if (inv->nrec >= RECORDS_MAX)
		rec_sweep(inv);
	if (inv->nrec >= inv->nbuckets && !rec_grow(inv) && !inv->nbuckets)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->ino = ino;
	r->gen = 1;
	k = (ino * 11400714819323198485ULL) % inv->nbuckets;
	r->next = inv->buckets[k];
	inv->buckets[k] = r;
	inv->nrec++;
	return r;
}

/* Marks ino's content replaced: new generation, identity unknown. */
static void bump(struct inval *inv, uint64_t ino)
{
	struct record *r;

	pthread_mutex_lock(&inv->lock);
	r = rec_find(inv, ino);
	if (r) {
		r->gen++;
		r->id = 0;
		r->ncur = 0;
	}
	pthread_mutex_unlock(&inv->lock);
}

void inval_content(struct inval *inv, uint64_t ino)
{
	if (!inv || !ino)
		return;
	bump(inv, ino);
	push(inv, INVAL_DATA, ino, NULL);
}

void inval_attr(struct inval *inv, uint64_t ino)
{
	if (inv)
		push(inv, INVAL_ATTR, ino, NULL);
}

int inval_attr_now(struct inval *inv, uint64_t ino)
{
	struct inval_req q = {.kind = INVAL_ATTR, .ino = ino};
	inval_sink_fn sink = NULL;
	void *arg = NULL;

	if (!inv || !ino)
		return 0;
	pthread_mutex_lock(&inv->lock);
	if (inv->running && !inv->stopping) {
		sink = inv->sink;
		arg = inv->arg;
	}
	pthread_mutex_unlock(&inv->lock);
	return sink ? sink(arg, &q) : 0;
}

void inval_entry(struct inval *inv, uint64_t dir, const char *name)
{
	if (!inv || !name || !*name)
		return;
	push(inv, INVAL_ENTRY, dir, name);
	push(inv, INVAL_DATA, dir, NULL);
}

void inval_listing(struct inval *inv, uint64_t dir)
{
	if (inv)
		push(inv, INVAL_DATA, dir, NULL);
}

void inval_listings_all(struct inval *inv)
{
	uint64_t *dirs;
	size_t n = 0;

	if (!inv)
		return;
	pthread_mutex_lock(&inv->lock);
	dirs = calloc(inv->seen_size ? inv->seen_size : 1, sizeof(*dirs));
	for (size_t i = 0; dirs && i < inv->seen_size; i++)
		if (inv->seen[i])
			dirs[n++] = inv->seen[i];
	/* The digests would let an opendir keep the kernel's old copy. */
	if (inv->stamps.size)
		memset(inv->stamps.ino, 0,
		       inv->stamps.size * sizeof(*inv->stamps.ino));
	inv->stamps.used = 0;
	pthread_mutex_unlock(&inv->lock);
	for (size_t i = 0; i < n; i++)
		push(inv, INVAL_DATA, dirs[i], NULL);
	free(dirs);
}

int inval_open(struct inval *inv, uint64_t ino, const char *uuid,
	       const char *md5, int64_t size, uint64_t *gen)
{
	uint64_t id = identity(uuid, md5, size);
	struct record *r;
	int how = 0;

	*gen = 0;
	if (!inv)
		return 0;
	pthread_mutex_lock(&inv->lock);
	r = rec_get(inv, ino);
	if (r) {
		if (r->id == id) {
			how = INVAL_KEEP_CACHE;
		} else if (r->id) {
			/* Another version than the kernel holds: handles
			 * opened on that one are stale now. */
			r->gen++;
			r->ncur = 0;
		}
		r->id = id;
		/* While handles on an older version are open, their
		 * reads must reach us (and fail): new readers must not
		 * fill the page cache they would read from. */
		if (r->nopen > r->ncur)
			how = INVAL_DIRECT;
		r->nopen++;
		r->ncur++;
		*gen = r->gen;
	} else {
		how = INVAL_DIRECT;
	}
	pthread_mutex_unlock(&inv->lock);
	return how;
}

void inval_read_begin(struct inval *inv, uint64_t ino)
{
	struct record *r;

	if (!inv)
		return;
	pthread_mutex_lock(&inv->lock);
	r = rec_find(inv, ino);
	if (r)
		r->reading++;
	pthread_mutex_unlock(&inv->lock);
}

void inval_read_end(struct inval *inv, uint64_t ino)
{
	struct record *r;

	if (!inv)
		return;
	pthread_mutex_lock(&inv->lock);
	r = rec_find(inv, ino);
	if (r && r->reading && --r->reading == 0)
		pthread_cond_broadcast(&inv->reads);
	pthread_mutex_unlock(&inv->lock);
}

int inval_current(struct inval *inv, uint64_t ino, uint64_t gen)
{
	struct record *r;
	int cur = 1;

	if (!inv || !gen)
		return 1;
	pthread_mutex_lock(&inv->lock);
	r = rec_find(inv, ino);
	if (r)
		cur = r->gen == gen;
	pthread_mutex_unlock(&inv->lock);
	return cur;
}

void inval_close(struct inval *inv, uint64_t ino, uint64_t gen)
{
	struct record *r;

	if (!inv || !gen)
		return;
	pthread_mutex_lock(&inv->lock);
	r = rec_find(inv, ino);
	if (r && r->nopen)
		r->nopen--;
	if (r && r->gen == gen && r->ncur)
		r->ncur--;
	pthread_mutex_unlock(&inv->lock);
}

int inval_check(struct inval *inv, uint64_t ino, const char *uuid,
		const char *md5, int64_t size)
{
	uint64_t id = identity(uuid, md5, size);
	struct record *r;
	int changed = 0;

	if (!inv)
		return 0;
	pthread_mutex_lock(&inv->lock);
	r = rec_find(inv, ino);
	if (r && r->id && r->id != id)
		changed = 1;
	pthread_mutex_unlock(&inv->lock);
	if (changed)
		inval_content(inv, ino);
	return changed;
}

/* qsort orders for a listing: by name, by inode. */
static int by_name(const void *a, const void *b)
{
	const struct inval_child *x = *(const struct inval_child *const *)a;
	const struct inval_child *y = *(const struct inval_child *const *)b;

	return strcmp(x->name, y->name);
}

static int by_ino(const void *a, const void *b)
{
	const struct inval_child *x = *(const struct inval_child *const *)a;
	const struct inval_child *y = *(const struct inval_child *const *)b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Pointers to v[0..n) sorted by cmp; NULL when memory is short. */
static const struct inval_child **sorted(const struct inval_child *v, size_t n,
					 int (*cmp)(const void *, const void *))
{
	const struct inval_child **p = malloc((n ? n : 1) * sizeof(*p));

	if (!p)
		return NULL;
	for (size_t i = 0; i < n; i++)
		p[i] = &v[i];
	qsort(p, n, sizeof(*p), cmp);
	return p;
}

/* Whether ino is among the n children sorted by inode. */
static int has_ino(const struct inval_child **v, size_t n, uint64_t ino)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid]->ino == ino)
			return 1;
		if (v[mid]->ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Whether two strings are equal, NULL being "". */
static int same_str(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

/* Entries: names added, removed, or now naming another inode (whose
 * content is replaced when it left the directory). */
static size_t diff_names(struct inval *inv, uint64_t dir,
			 const struct inval_child **o, size_t no,
			 const struct inval_child **c, size_t nc,
			 const struct inval_child **cino)
{
	size_t i = 0, k = 0, changes = 0;

	while (i < no || k < nc) {
		int cmp = i == no   ? 1
			  : k == nc ? -1
				    : strcmp(o[i]->name, c[k]->name);

		if (cmp == 0 && o[i]->ino == c[k]->ino) {
			i++, k++;
			continue;
		}
		changes++;
		/* the listing itself is invalidated once, at the end */
		push(inv, INVAL_ENTRY, dir, cmp <= 0 ? o[i]->name : c[k]->name);
		if (cmp == 0 && !has_ino(cino, nc, o[i]->ino))
			inval_content(inv, o[i]->ino);
		if (cmp <= 0)
			i++;
		if (cmp >= 0)
			k++;
	}
	return changes;
}

/* Inodes present before and after: content or attributes changed. */
static size_t diff_inodes(struct inval *inv, const struct inval_child **o,
			  size_t no, const struct inval_child **c, size_t nc)
{
	size_t i = 0, k = 0, changes = 0;

	while (i < no && k < nc) {
		const struct inval_child *x = o[i], *y = c[k];

		if (x->ino != y->ino) {
			if (x->ino < y->ino)
				i++;
			else
				k++;
			continue;
		}
		if (!y->is_dir &&
		    (!same_str(x->uuid, y->uuid) || !same_str(x->md5, y->md5) ||
		     x->size != y->size || x->is_dir != y->is_dir)) {
			inval_content(inv, y->ino);
			changes++;
		} else if (x->mtime != y->mtime || x->size != y->size ||
			   x->is_dir != y->is_dir || x->rights != y->rights) {
			inval_attr(inv, y->ino);
			changes++;
		}
		i++, k++;
	}
	return changes;
}

size_t inval_listing_diff(struct inval *inv, uint64_t dir,
			  const struct inval_child *old, size_t nold,
			  const struct inval_child *cur, size_t ncur)
{
	const struct inval_child **on = NULL, **cn = NULL, **oi = NULL,
				 **ci = NULL;
	size_t changes = 0;

	if (!inv)
		return 0;
	on = sorted(old, nold, by_name);
	cn = sorted(cur, ncur, by_name);
	oi = sorted(old, nold, by_ino);
	ci = sorted(cur, ncur, by_ino);
	if (!on || !cn || !oi || !ci) {
		/* Cannot tell what changed: forget the whole listing. */
		changes = 1;
		for (size_t i = 0; i < nold; i++)
			push(inv, INVAL_ENTRY, dir, old[i].name);
		goto out;
	}
	changes = diff_names(inv, dir, on, nold, cn, ncur, ci);
	changes += diff_inodes(inv, oi, nold, ci, ncur);
out:
	if (changes)
		inval_listing(inv, dir);
	free(on);
	free(cn);
	free(oi);
	free(ci);
	return changes;
}

/* Finds ino's slot in st (or the empty slot where it belongs). */
static size_t stamp_slot(const struct stamps *st, uint64_t ino)
{
	size_t i = (size_t)(ino * 11400714819323198485ULL) & (st->size - 1);

	while (st->ino[i] && st->ino[i] != ino)
		i = (i + 1) & (st->size - 1);
	return i;
}

/* Makes room in st for one more entry; false when memory is short. */
static int stamps_reserve(struct stamps *st)
{
	uint64_t *old_ino = st->ino, *old_hash = st->hash;
	size_t old_size = st->size, i, n;

	if (st->size && (st->used + 1) * 2 <= st->size)
		return 1;
	n = old_size ? old_size * 2 : 1024;
	if (n > STAMPS_MAX * 2) {
		/* Full: forget everything but keep the memory. */
		memset(st->ino, 0, old_size * sizeof(uint64_t));
		st->used = 0;
		return 1;
	}
	st->ino = calloc(n, sizeof(uint64_t));
	st->hash = calloc(n, sizeof(uint64_t));
	if (!st->ino || !st->hash) {
		free(st->ino);
		free(st->hash);
		st->ino = old_ino;
		st->hash = old_hash;
		return 0;
	}
	st->size = n;
	st->used = 0;
	for (i = 0; i < old_size; i++) {
		if (old_ino[i]) {
			size_t k = stamp_slot(st, old_ino[i]);

			st->ino[k] = old_ino[i];
			st->hash[k] = old_hash[i];
			st->used++;
		}
	}
	free(old_ino);
	free(old_hash);
	return 1;
}

/* Compares and records dir's listing digest (see inval.h). */
int inval_listing_unchanged(struct inval *inv, uint64_t dir, uint64_t hash)
{
	struct stamps *st;
	int same = 0;
	size_t k;

	if (!inv)
		return 0;
	st = &inv->stamps;
	pthread_mutex_lock(&inv->lock);
	if (stamps_reserve(st)) {
		k = stamp_slot(st, dir);
		if (st->ino[k] == dir) {
			same = st->hash[k] == hash;
		} else {
			st->ino[k] = dir;
			st->used++;
		}
		st->hash[k] = hash;
	}
	pthread_mutex_unlock(&inv->lock);
	return same;
}
