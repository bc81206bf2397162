/* tree: directories and names of the mount, answered from the metadata
 * cache and refreshed through rest (see tree.h). */
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cache.h"
#include "core/inval.h"
#include "util/errors.h"
#include "util/log.h"
#include "core/names.h"
#include "dspace/dspace.h"
#include "core/tree.h"
#include "core/modes.h"

#define DEFAULT_TTL 60
#define STALE_RETRY 10 /* seconds between attempts while unreachable */

/* A listing being fetched: other threads wait for it instead of asking
 * the server again. */
struct inflight {
	uint64_t ino;
	int done;
	int err;
	int invalidated; /* a write happened meanwhile: the result is stale */
	unsigned waiters;
	struct inflight *next;
};

/* A directory served stale during the current outage (warned once). */
struct stale {
	uint64_t ino;
	int64_t retry_at; /* no new attempt before this time */
	struct stale *next;
};

struct tree {
	struct session *s;
	struct cache *c;
	int ttl;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct inflight *inflight;
	struct stale *stale;
	struct inval *inval; /* told what changed; may be NULL */
	uint64_t status_ino; /* the status file's, once allocated */
	/* Local changes (add, remove, rename) so far, and the lock that
	 * orders them against the storing of listings: a listing fetched
	 * before a change is never stored after it (it would bring back
	 * what the change removed; sshfs's wrctr guard). */
	pthread_mutex_t store;
	uint64_t changes; /* store */
	/* Bitstreams listings leave out: old versions whose DELETE is
	 * pending (upload.c), so that their name stays the new one's. */
	char (*hidden)[UUID_LEN + 1]; /* lock */
	size_t nhidden;		      /* lock */
	int (*more)(void *, enum dso_type, const char *, struct dso_list *);
	void (*more_expire)(void *);
	void *more_ctx;
};

/* Retries of a listing that local changes overtook. */
#define REFRESH_ATTEMPTS 3

/* Names that desktops and shells probe in every directory; unless a real
 * entry has the name, they get ENOENT without asking the server. */
static const char *const probe_names[] = {
    ".hidden",	   ".directory",       ".Trash",      ".Trash-*",
    "desktop.ini", "Desktop.ini",      "autorun.inf", "AutoRun.inf",
    "Autorun.inf", ".xdg-volume-info", "folder.jpg",  "Folder.jpg",
    ".DS_Store",   ".localized",       ".git",	      ".svn",
    ".hg",
};

/* Whether name is one that desktops probe. */
static int is_probe_name(const char *name)
{
	for (size_t i = 0; i < sizeof(probe_names) / sizeof(probe_names[0]);
	     i++)
		if (fnmatch(probe_names[i], name, FNM_PERIOD) == 0)
			return 1;
	return 0;
}

/* Whether the object type is shown as a directory. */
static int is_dir_type(enum dso_type t)
{
	return t != DSO_BITSTREAM;
}

struct tree *tree_new(struct session *s, const struct tree_config *cfg,
		      char *err, size_t errlen)
{
	struct tree *t = cfg->cache ? calloc(1, sizeof(*t)) : NULL;

	if (!t) {
		snprintf(err, errlen, "%s",
			 cfg->cache ? "out of memory" : "no cache database");
		return NULL;
	}
	t->s = s;
	t->ttl = cfg->cache_ttl > 0 ? cfg->cache_ttl : DEFAULT_TTL;
	t->inval = cfg->inval;
	t->more = cfg->more;
	t->more_expire = cfg->more_expire;
	t->more_ctx = cfg->more_ctx;
	t->c = cfg->cache;
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->store, NULL);
	pthread_cond_init(&t->cond, NULL);
	return t;
}

void tree_free(struct tree **tp)
{
	struct tree *t = *tp;

	if (!t)
		return;
	while (t->stale) {
		struct stale *x = t->stale;

		t->stale = x->next;
		free(x);
	}
	/* No list may be in flight when the tree is freed. */
	free(t->hidden);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->store);
	pthread_mutex_destroy(&t->lock);
	free(t);
	*tp = NULL;
}

/* Moves a cache object into a tree node (the object is left empty). */
static void to_node(struct cache_object *o, struct tree_node *n)
{
	memset(n, 0, sizeof(*n));
	n->ino = o->ino;
	n->parent_ino = o->parent_ino;
	n->type = o->type;
	memcpy(n->uuid, o->uuid, sizeof(n->uuid));
	n->name = o->name;
	n->raw_name = o->raw_name;
	n->handle = o->handle;
	/* -1: unknown (also a size an older cache kept that is not
	 * believable); fs.c asks the server for it */
	n->size = o->type != DSO_BITSTREAM		      ? 0
		  : o->size >= 0 && o->size <= MODEL_SIZE_MAX ? o->size
							      : -1;
	n->mtime = o->mtime > 0 ? o->mtime : 0;
	n->mtime_ns = o->mtime_ns;
	memcpy(n->md5, o->md5, sizeof(n->md5));
	n->mime = o->mime;
	n->read_only = modes_read_only(o->type, o->rights);
	o->name = o->raw_name = o->handle = o->mime = NULL;
	cache_object_release(o);
}

/* Forgets a directory's outage warning after a successful refresh. */
static void stale_clear(struct tree *t, uint64_t ino)
{
	pthread_mutex_lock(&t->lock);
	for (struct stale **p = &t->stale; *p; p = &(*p)->next) {
		if ((*p)->ino == ino) {
			struct stale *x = *p;

			*p = x->next;
			free(x);
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
}

/* Records that ino is served stale and when to try again; returns 1 the
 * first time per outage. */
static int stale_mark(struct tree *t, uint64_t ino)
{
	int64_t wait = t->ttl < STALE_RETRY ? t->ttl : STALE_RETRY;
	struct stale *x;
	int first = 1;

	pthread_mutex_lock(&t->lock);
	for (x = t->stale; x; x = x->next)
		if (x->ino == ino)
			break;
	if (x) {
		first = 0;
	} else {
		x = malloc(sizeof(*x));
		if (x) {
			x->ino = ino;
			x->next = t->stale;
			t->stale = x;
		}
	}
	if (x)
		x->retry_at = (int64_t)time(NULL) + wait;
	pthread_mutex_unlock(&t->lock);
	return first;
}

/* Whether ino was just found unreachable: then its stale listing is served
 * without a new attempt, so that an outage does not cost one failing
 * request per lookup. */
static int stale_hold(struct tree *t, uint64_t ino)
{
	int64_t now = (int64_t)time(NULL);
	int hold = 0;

	pthread_mutex_lock(&t->lock);
	for (struct stale *x = t->stale; x; x = x->next)
		if (x->ino == ino && now < x->retry_at)
			hold = 1;
	pthread_mutex_unlock(&t->lock);
	return hold;
}

/* Sort key for grouping a listing's objects under their parents. */
struct member {
	long parent; /* index of the parent in the list, -1 for the directory */
	size_t idx;
	const char *uuid;
};

/* Orders members by parent, then uuid, then list order. */
static int member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	int c;

	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	c = strcmp(x->uuid, y->uuid);
	if (c)
		return c;
	return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* Names the mount reserves (fs.c, views.h): at the root, and ".search" in
 * communities and collections. A real entry of such a name collides with
 * a stand-in and gets a suffix; the stand-ins are not stored. */
static const char *const root_reserved[] = {
    TREE_STATUS_NAME,
    TREE_SEARCH_NAME,
    TREE_HANDLE_NAME,
    TREE_UUID_NAME,
};
#define NSTANDINS (sizeof(root_reserved) / sizeof(root_reserved[0]))

/* Makes the k names of ne unique in directory dir_ino, whose children are
 * of type child (the first one's), beside the reserved names. ne has room
 * for NSTANDINS more. */
static int assign_names(struct names_entry *ne, size_t k, uint64_t dir_ino,
			enum dso_type child)
{
	size_t extra = 0;
	int r;

	if (k && dir_ino == TREE_ROOT_INO) {
		extra = NSTANDINS;
		for (size_t i = 0; i < extra; i++)
			ne[k + i].raw = root_reserved[i];
	} else if (k && (child == DSO_COMMUNITY || child == DSO_COLLECTION ||
			 child == DSO_ITEM)) {
		/* children of a community or collection */
		extra = 1;
		ne[k].raw = TREE_SEARCH_NAME;
	}
	for (size_t i = 0; i < extra; i++) {
		ne[k + i].uuid = "00000000-0000-0000-0000-000000000000";
		ne[k + i].is_dir = 0;
	}
	r = names_assign(ne, k + extra);
	if (r == 0)
		names_release(ne + k, extra);
	return r;
}

/* Names and stores the children of one directory: members m[0..n) (sorted
 * by uuid, duplicates skipped). */
static int store_group(struct cache_txn *txn, uint64_t dir_ino,
		       const struct dso_list *l, const uint64_t *inos,
		       const struct member *m, size_t n, int64_t now)
{
	struct names_entry *ne = NULL;
	struct cache_entry *ce = NULL;
	size_t *which = NULL, k = 0;
	int r = -ENOMEM;

	if (n) {
		ne = calloc(n + NSTANDINS, sizeof(*ne));
		ce = calloc(n, sizeof(*ce));
		which = calloc(n, sizeof(*which));
		if (!ne || !ce || !which)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct dso *d = &l->v[m[i].idx];

		if (i > 0 && !strcmp(m[i].uuid, m[i - 1].uuid))
			continue; /* listed twice (paging drift) */
		ne[k].raw = d->name;
		ne[k].uuid = d->uuid;
		ne[k].handle = d->handle;
		ne[k].is_dir = is_dir_type(d->type);
		ne[k].yields = d->in_progress;
		which[k] = m[i].idx;
		k++;
	}
	r = assign_names(ne, k, dir_ino, k ? l->v[which[0]].type : DSO_NONE);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < k; i++) {
		ce[i].ino = inos[which[i]];
		ce[i].name = ne[i].name;
		ce[i].position = l->v[which[i]].position;
	}
	r = cache_set_children(txn, dir_ino, ce, k, now);
	names_release(ne, k);
out:
	free(ne);
	free(ce);
	free(which);
	return r;
}

/* Where each object of a listing goes; indexes are into the dso_list. */
struct plan {
	size_t n;	  /* objects in the listing */
	long *parent;	  /* index of the parent; -1 dir, -2 not found */
	char *stored;	  /* is the object stored? */
	uint64_t *inos;	  /* inode numbers, once stored */
	struct member *m; /* stored objects, sorted by parent then uuid */
	size_t nm;
};

/* Allocates a plan for n objects. */
static int plan_alloc(struct plan *pl, size_t n)
{
	memset(pl, 0, sizeof(*pl));
	pl->n = n;
	pl->parent = calloc(n + 1, sizeof(*pl->parent));
	pl->stored = calloc(n + 1, 1);
	pl->inos = calloc(n + 1, sizeof(*pl->inos));
	pl->m = calloc(n + 1, sizeof(*pl->m));
	if (!pl->parent || !pl->stored || !pl->inos || !pl->m)
		return -ENOMEM;
	return 0;
}

/* Frees what plan_alloc allocated. */
static void plan_release(struct plan *pl)
{
	free(pl->parent);
	free(pl->stored);
	free(pl->inos);
	free(pl->m);
}

/* The index of the object before i that is its parent, or -1. */
static long find_parent(const struct dso_list *l, size_t i)
{
	for (size_t j = i; j-- > 0;)
		if (!strcmp(l->v[j].uuid, l->v[i].parent))
			return (long)j;
	return -1;
}

/* Each object follows its parent (model.h): find the parent by looking
 * back; keep only objects whose parent's listing is complete, and let
 * bundles and bitstreams inherit the mtime. */
static void plan_members(struct plan *pl, const struct cache_object *dir,
			 struct dso_list *l)
{
	for (size_t i = 0; i < pl->n; i++) {
		struct dso *d = &l->v[i];
		int64_t pm = dir->mtime;
		long p;

		pl->parent[i] = -2;
		if (!d->parent[0] || !strcmp(d->parent, dir->uuid)) {
			pl->parent[i] = -1;
			pl->stored[i] = 1;
		} else {
			p = find_parent(l, i);
			if (p < 0) {
				log_debug(
				    "tree: %s %s arrived without its parent %s",
				    dso_type_name(d->type), d->uuid, d->parent);
				continue;
			}
			pl->parent[i] = p;
			pl->stored[i] =
			    pl->stored[p] && l->v[p].children_complete;
			pm = l->v[p].mtime;
		}
		if (!d->uuid[0])
			pl->stored[i] = 0;
		if ((d->type == DSO_BUNDLE || d->type == DSO_BITSTREAM) &&
		    d->mtime <= 0)
			d->mtime = pm;
		if (pl->stored[i])
			pl->m[pl->nm++] =
			    (struct member){pl->parent[i], i, d->uuid};
	}
	qsort(pl->m, pl->nm, sizeof(*pl->m), member_cmp);
}

/* Stores every planned object and its metadata, parents first. */
static int put_objects(struct cache_txn *txn, struct plan *pl,
		       const struct cache_object *dir, const struct dso_list *l)
{
	int r;

	for (size_t i = 0; i < pl->n; i++) {
		uint64_t pino;

		if (!pl->stored[i])
			continue;
		pino = pl->parent[i] < 0 ? dir->ino : pl->inos[pl->parent[i]];
		r = cache_put_object(txn, &l->v[i], pino, &pl->inos[i]);
		if (r == 0)
			r = cache_put_meta(txn, pl->inos[i], l->v[i].meta,
					   l->v[i].nmeta);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Stores the directory's own group first, then every complete parent's
 * (possibly empty) group. */
static int put_groups(struct cache_txn *txn, const struct plan *pl,
		      const struct cache_object *dir, const struct dso_list *l,
		      int64_t now)
{
	const struct member *m = pl->m;
	size_t nm = pl->nm;
	int r;

	for (long p = -1, a = 0; p < (long)pl->n; p++) {
		size_t b;
		uint64_t gino;

		/* Members are sorted by parent: each group starts where
		 * the previous one ended. */
		while ((size_t)a < nm && m[a].parent < p)
			a++;
		if (p >= 0 && !(pl->stored[p] && l->v[p].children_complete &&
				is_dir_type(l->v[p].type)))
			continue;
		gino = p < 0 ? dir->ino : pl->inos[p];
		for (b = (size_t)a; b < nm && m[b].parent == p; b++)
			;
		r = store_group(txn, gino, l, pl->inos, m + a, b - (size_t)a,
				now);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Times that other mounts stored in bitstream metadata (edit.c) become
 * this cache's times; without one the local times answer as before. */
static void server_times(struct tree *t, const struct dso_list *l)
{
	int64_t sec, ns;

	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].type == DSO_BITSTREAM &&
		    model_modified_time(&l->v[i], &sec, &ns) == 0)
			cache_set_times(t->c, l->v[i].uuid, l->v[i].md5, sec,
					ns);
}

/* Stores a fresh listing of dir: its direct children, and the listings of
 * embedded descendants that arrived complete, in one transaction. */
static int store_listing(struct tree *t, const struct cache_object *dir,
			 struct dso_list *l, int64_t now)
{
	struct cache_txn *txn = NULL;
	struct plan pl;
	int r;

	r = plan_alloc(&pl, l->n);
	if (r < 0)
		goto out;
	plan_members(&pl, dir, l);
	r = cache_begin(t->c, &txn);
	if (r == 0)
		r = put_objects(txn, &pl, dir, l);
	if (r == 0)
		r = put_groups(txn, &pl, dir, l, now);
	if (r == 0)
		r = cache_commit(&txn);
	if (r == 0)
		server_times(t, l);
out:
	cache_rollback(&txn);
	plan_release(&pl);
	return r;
}

/* A directory's entries before a listing is stored, to tell the kernel
 * what changed once it is. */
struct snap {
	uint64_t dir;
	struct cache_object *v;
	size_t n;
};

/* Snapshots the entries of dir and of every directory listed complete in
 * l (the groups store_listing replaces) that the kernel may cache. */
static int snaps_take(struct tree *t, uint64_t dir, const struct dso_list *l,
		      struct snap **out, size_t *n)
{
	struct snap *s = calloc(l->n + 1, sizeof(*s));
	size_t k = 0;

	*out = s;
	*n = 0;
	if (!s)
		return -ENOMEM;
	if (inval_dir_known(t->inval, dir))
		s[k++].dir = dir;
	for (size_t i = 0; i < l->n; i++) {
		const struct dso *d = &l->v[i];

		if (is_dir_type(d->type) && d->children_complete &&
		    d->uuid[0] &&
		    cache_find_ino(t->c, d->uuid, &s[k].dir) == 0 &&
		    inval_dir_known(t->inval, s[k].dir))
			k++;
	}
	for (size_t i = 0; i < k; i++)
		if (cache_children(t->c, s[i].dir, &s[i].v, &s[i].n) < 0)
			s[i].n = 0;
	*n = k;
	return 0;
}

/* Entries as inval sees them (pointing into v). */
static struct inval_child *as_children(const struct cache_object *v, size_t n)
{
	struct inval_child *c = calloc(n ? n : 1, sizeof(*c));

	for (size_t i = 0; c && i < n; i++) {
		c[i].ino = v[i].ino;
		c[i].name = v[i].name ? v[i].name : "";
		c[i].uuid = v[i].uuid;
		c[i].md5 = v[i].md5;
		c[i].size = v[i].size;
		c[i].mtime = v[i].mtime;
		c[i].is_dir = is_dir_type(v[i].type);
		c[i].rights = v[i].rights;
	}
	return c;
}

/* Compares each snapshot with the entries stored now, tells inval, and
 * frees the snapshots. */
static void snaps_diff(struct tree *t, struct snap *s, size_t n)
{
	if (!s)
		return;
	for (size_t i = 0; i < n; i++) {
		struct cache_object *v = NULL;
		size_t k = 0;
		struct inval_child *a, *b;

		if (cache_children(t->c, s[i].dir, &v, &k) == 0) {
			a = as_children(s[i].v, s[i].n);
			b = as_children(v, k);
			if (a && b)
				inval_listing_diff(t->inval, s[i].dir, a,
						   s[i].n, b, k);
			else
				inval_listing(t->inval, s[i].dir);
			free(a);
			free(b);
			cache_objects_release(v, k);
		}
		cache_objects_release(s[i].v, s[i].n);
	}
	free(s);
}

/* Stores a fetched listing; when someone listens, tells inval what it
 * changed. */
static int store_and_tell(struct tree *t, const struct cache_object *dir,
			  struct dso_list *l)
{
	struct snap *s = NULL;
	size_t n = 0;
	int r;

	if (t->inval && snaps_take(t, dir->ino, l, &s, &n) < 0)
		inval_listing(t->inval, dir->ino);
	r = store_listing(t, dir, l, (int64_t)time(NULL));
	if (r == 0) {
		snaps_diff(t, s, n);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		cache_objects_release(s[i].v, s[i].n);
	free(s);
	return r;
}

/* Stores listing l of dir unless a local change happened since it was
 * asked for (changes was t->changes then). 1: stored, 0: overtaken. */
static int store_unless_overtaken(struct tree *t,
				  const struct cache_object *dir,
				  struct dso_list *l, uint64_t changes)
{
	int r = 0;

	pthread_mutex_lock(&t->store);
	if (t->changes == changes) {
		r = store_and_tell(t, dir, l);
		if (r == 0)
			r = 1;
	}
	pthread_mutex_unlock(&t->store);
	return r;
}

/* Leaves the hidden bitstreams out of listing l. */
static void drop_hidden(struct tree *t, struct dso_list *l)
{
	size_t k = 0;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < l->n; i++) {
		int hide = 0;

		for (size_t h = 0; h < t->nhidden && !hide; h++)
			hide = !strcmp(t->hidden[h], l->v[i].uuid);
		if (hide)
			dso_release(&l->v[i]);
		else
			l->v[k++] = l->v[i];
	}
	l->n = k;
	pthread_mutex_unlock(&t->lock);
}

int tree_hide(struct tree *t, const char *uuid, int hide)
{
	size_t i;
	void *p;

	pthread_mutex_lock(&t->lock);
	for (i = 0; i < t->nhidden && strcmp(t->hidden[i], uuid); i++)
		;
	if (!hide && i < t->nhidden)
		memmove(&t->hidden[i], &t->hidden[i + 1],
			(t->nhidden-- - i - 1) * sizeof(*t->hidden));
	if (hide && i == t->nhidden) {
		p = realloc(t->hidden, (i + 1) * sizeof(*t->hidden));
		if (!p) {
			pthread_mutex_unlock(&t->lock);
			return -ENOMEM;
		}
		t->hidden = p;
		snprintf(t->hidden[t->nhidden++], UUID_LEN + 1, "%s", uuid);
	}
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* One fetch of dir's children, stored unless overtaken (0). 1: done. */
static int refresh_once(struct tree *t, const struct cache_object *dir,
			uint64_t changes)
{
	struct dso_list l = {0};
	int64_t when;
	int r;

	r = rest_list_children(t->s, dir->type, dir->uuid, &l);
	if (r < 0) {
		if (err_is_unavailable(r) &&
		    cache_listed_at(t->c, dir->ino, &when) == 0) {
			if (stale_mark(t, dir->ino))
				log_warn(
				    "cannot refresh \"%s\" (%s); serving the "
				    "cached listing until the server answers",
				    dir->ino == TREE_ROOT_INO ? "/" : dir->name,
				    strerror(-r));
			r = 1;
		}
		goto out;
	}
	stale_clear(t, dir->ino);
	drop_hidden(t, &l);
	modes_fetch(t->s, dir->type, dir->uuid, dir->rights, &l);
	if (t->more && t->more(t->more_ctx, dir->type, dir->uuid, &l))
		log_warn("\"%s\": listed without the entries only you see",
			 dir->name);
	r = store_unless_overtaken(t, dir, &l, changes);
out:
	dso_list_release(&l);
	return r;
}

/* Fetches dir's children from the server and stores them; serves the old
 * listing when the server cannot be reached, and the cached one (with
 * the local changes) when they keep overtaking the fetch. */
static int refresh(struct tree *t, const struct cache_object *dir)
{
	int r = 0;

	for (int i = 0; i < REFRESH_ATTEMPTS; i++) {
		uint64_t changes;

		pthread_mutex_lock(&t->store);
		changes = t->changes;
		pthread_mutex_unlock(&t->store);
		r = refresh_once(t, dir, changes);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	log_debug("listing of \"%s\" overtaken by local changes; the cached "
		  "one serves",
		  dir->name);
	return 0;
}

/* Whether a listing time is within the TTL. */
static int fresh(const struct tree *t, int64_t when)
{
	int64_t now = (int64_t)time(NULL);

	return when > 0 && when <= now && now - when < t->ttl;
}

/* Makes sure dir has a usable listing in the cache: fresh, just fetched,
 * or stale while the server is unreachable. One fetch per directory at a
 * time; concurrent callers wait for it. */
static int ensure_listing(struct tree *t, const struct cache_object *dir)
{
	struct inflight *f;
	int64_t when;
	int r;

	r = cache_listed_at(t->c, dir->ino, &when);
	if (r == 0 && (fresh(t, when) || stale_hold(t, dir->ino)))
		return 0;
	if (r < 0 && r != -ENOENT)
		return r;

	pthread_mutex_lock(&t->lock);
	for (f = t->inflight; f; f = f->next)
		if (f->ino == dir->ino)
			break;
	if (f) {
		f->waiters++;
		while (!f->done)
			pthread_cond_wait(&t->cond, &t->lock);
		r = f->err;
		if (--f->waiters == 0)
			free(f);
		pthread_mutex_unlock(&t->lock);
		return r;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		pthread_mutex_unlock(&t->lock);
		return -ENOMEM;
	}
	f->ino = dir->ino;
	f->next = t->inflight;
	t->inflight = f;
	pthread_mutex_unlock(&t->lock);

	/* Someone may have finished a fetch between our check and now. */
	if (cache_listed_at(t->c, dir->ino, &when) == 0 && fresh(t, when))
		r = 0;
	else
		r = refresh(t, dir);

	pthread_mutex_lock(&t->lock);
	for (struct inflight **p = &t->inflight; *p; p = &(*p)->next) {
		if (*p == f) {
			*p = f->next;
			break;
		}
	}
	if (f->invalidated)
		cache_expire_listing(t->c, dir->ino);
	f->done = 1;
	f->err = r;
	pthread_cond_broadcast(&t->cond);
	if (f->waiters == 0)
		free(f);
	pthread_mutex_unlock(&t->lock);
	return r;
}

/* Loads the directory object ino; ENOTDIR for files. */
static int get_dir(struct tree *t, uint64_t ino, struct cache_object *dir)
{
	int r = cache_get(t->c, ino, dir);

	if (r < 0)
		return r;
	if (!is_dir_type(dir->type)) {
		cache_object_release(dir);
		return -ENOTDIR;
	}
	return 0;
}

int tree_getattr(struct tree *t, uint64_t ino, struct tree_node *out)
{
	struct cache_object o;
	char key[UUID_LEN + 2];
	int r = cache_get(t->c, ino, &o);

	if (r == -ENOENT && ino != TREE_ROOT_INO &&
	    cache_ino_key(t->c, ino, key, sizeof(key)) == 0 &&
	    model_uuid_valid(key)) {
		/* dropped from the cache while the kernel still holds it
		 * (found through a view, or gone from a listing): ask */
		r = tree_find_uuid(t, key, out);
		if (r == 0 && out->ino != ino) {
			tree_node_release(out);
			r = -ENOENT;
		}
		return r;
	}
	if (r < 0)
		return r;
	to_node(&o, out);
	return 0;
}

int tree_lookup(struct tree *t, uint64_t parent_ino, const char *name,
		struct tree_node *out)
{
	struct cache_object dir, o;
	int64_t when;
	int r;

	r = get_dir(t, parent_ino, &dir);
	if (r < 0)
		return r;
	if (is_probe_name(name)) {
		/* Answer from whatever listing we have, never ask. */
		if (cache_listed_at(t->c, parent_ino, &when) < 0) {
			r = -ENOENT;
			goto out;
		}
	} else {
		r = ensure_listing(t, &dir);
		if (r < 0)
			goto out;
	}
	r = cache_lookup(t->c, parent_ino, name, &o);
	if (r == 0)
		to_node(&o, out);
out:
	cache_object_release(&dir);
	return r;
}

int tree_list(struct tree *t, uint64_t dir_ino, struct tree_node **out,
	      size_t *n)
{
	struct cache_object dir, *v = NULL;
	struct tree_node *nodes = NULL;
	size_t k = 0;
	int r;

	*out = NULL;
	*n = 0;
	r = get_dir(t, dir_ino, &dir);
	if (r < 0)
		return r;
	r = ensure_listing(t, &dir);
	if (r == 0)
		r = cache_children(t->c, dir_ino, &v, &k);
	if (r < 0)
		goto out;
	if (k) {
		nodes = calloc(k, sizeof(*nodes));
		if (!nodes) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < k; i++)
			to_node(&v[i], &nodes[i]);
	}
	*out = nodes;
	*n = k;
out:
	cache_objects_release(v, k);
	cache_object_release(&dir);
	return r;
}

int tree_metadata(struct tree *t, uint64_t ino, struct meta_field **out,
		  size_t *n)
{
	struct cache_object o;
	int r = cache_get(t->c, ino, &o);

	*out = NULL;
	*n = 0;
	if (r < 0)
		return r;
	cache_object_release(&o);
	return cache_meta(t->c, ino, out, n);
}

/* Objects found only through the views (tree_find_uuid, tree_find_handle,
 * tree_keep_found) are entries, named by UUID, of a cache directory of
 * their own that nothing lists, with the time they were found as their
 * position. At each find, entries older than the TTL are dropped, and with
 * them their objects unless a listing holds them too (inode numbers stay
 * reserved: tree_getattr finds a dropped one again by its UUID). */
#define FOUND_KEY "local:found"

/* Whether uuid is unknown or known only as found (so that storing it as
 * found moves nothing out of a listing). */
static int only_found(struct tree *t, const char *uuid, uint64_t found)
{
	struct cache_object o;
	uint64_t ino;
	int r;

	if (cache_find_ino(t->c, uuid, &ino) < 0 ||
	    cache_get(t->c, ino, &o) < 0)
		return 1;
	r = o.parent_ino == found;
	cache_object_release(&o);
	return r;
}

/* The entries of the found directory to keep beside the new ones: those
 * younger than the TTL. Appends to ce (room for all of old). */
static size_t found_keep(const struct tree *t, const struct cache_object *old,
			 size_t nold, int64_t now, struct cache_entry *ce)
{
	size_t m = 0;

	for (size_t i = 0; i < nold; i++)
		if (now - old[i].position < t->ttl) {
			ce[m].ino = old[i].ino;
			ce[m].name = old[i].name;
			ce[m].position = old[i].position;
			m++;
		}
	return m;
}

/* Stores the objects v[0..n) as found now and drops the found entries
 * older than the TTL, in one transaction. */
static int found_store(struct tree *t, const struct dso *const *v, size_t n)
{
	struct cache_object *old = NULL;
	struct cache_entry *ce = NULL;
	struct cache_txn *txn = NULL;
	int64_t now = (int64_t)time(NULL);
	size_t nold = 0, m = 0;
	uint64_t dir, ino;
	int r = cache_alloc_ino(t->c, FOUND_KEY, &dir);

	if (r == 0)
		r = cache_children(t->c, dir, &old, &nold);
	if (r < 0)
		return r;
	ce = calloc(n + nold + 1, sizeof(*ce));
	r = ce ? cache_begin(t->c, &txn) : -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct dso d = *v[i];

		d.position = now;
		r = cache_put_object(txn, &d, dir, &ino);
		if (r == 0)
			r = cache_put_meta(txn, ino, d.meta, d.nmeta);
		ce[m].ino = ino;
		ce[m].name = v[i]->uuid;
		ce[m++].position = now;
	}
	if (r == 0) {
		/* new entries first: a duplicate name is ignored */
		m += found_keep(t, old, nold, now, ce + m);
		r = cache_set_children(txn, dir, ce, m, now);
	}
	if (r == 0)
		r = cache_commit(&txn);
	else if (txn)
		cache_rollback(&txn);
	cache_objects_release(old, nold);
	free(ce);
	return r;
}

/* Stores d as found unless a listing holds it, and gives its node. */
static int store_found(struct tree *t, const struct dso *d,
		       struct tree_node *out)
{
	struct cache_object o;
	uint64_t ino, dir;
	int r = cache_alloc_ino(t->c, FOUND_KEY, &dir);

	if (r == 0 && only_found(t, d->uuid, dir))
		r = found_store(t, &d, 1);
	if (r == 0)
		r = cache_find_ino(t->c, d->uuid, &ino);
	if (r == 0)
		r = cache_get(t->c, ino, &o);
	if (r < 0)
		return r;
	to_node(&o, out);
	return 0;
}

int tree_keep_found(struct tree *t, const struct dso_list *l, size_t max)
{
	const struct dso **v = calloc(l->n + 1, sizeof(*v));
	size_t k = 0, n = 0;
	uint64_t dir;
	int r = v ? cache_alloc_ino(t->c, FOUND_KEY, &dir) : -ENOMEM;

	for (size_t i = 0; r == 0 && i < l->n && k < max; i++) {
		const struct dso *d = &l->v[i];

		if (d->type != DSO_ITEM || d->parent[0])
			continue;
		k++;
		if (only_found(t, d->uuid, dir))
			v[n++] = d;
	}
	if (r == 0 && n)
		r = found_store(t, v, n);
	free(v);
	return r;
}

int tree_find_uuid(struct tree *t, const char *uuid, struct tree_node *out)
{
	struct dso_list l = {0};
	struct cache_object o;
	uint64_t ino;
	int r;

	if (!model_uuid_valid(uuid))
		return -ENOENT;
	if (cache_find_ino(t->c, uuid, &ino) == 0 &&
	    cache_get(t->c, ino, &o) == 0) {
		to_node(&o, out);
		return 0;
	}
	r = rest_find_uuid(t->s, uuid, &l);
	if (r == 0)
		r = store_found(t, &l.v[0], out);
	dso_list_release(&l);
	return r;
}

int tree_find_handle(struct tree *t, const char *handle, struct tree_node *out)
{
	struct dso_list l = {0};
	int r = rest_find_handle(t->s, handle, &l);

	if (r == 0)
		r = store_found(t, &l.v[0], out);
	dso_list_release(&l);
	return r;
}

int tree_invalidate(struct tree *t, uint64_t dir_ino)
{
	pthread_mutex_lock(&t->lock);
	for (struct inflight *f = t->inflight; f; f = f->next)
		if (f->ino == dir_ino || dir_ino == TREE_ALL_DIRS)
			f->invalidated = 1;
	/* A write is worth a new attempt even during an outage. */
	for (struct stale *x = t->stale; x; x = x->next)
		if (x->ino == dir_ino || dir_ino == TREE_ALL_DIRS)
			x->retry_at = 0;
	pthread_mutex_unlock(&t->lock);
	return cache_expire_listing(t->c, dir_ino);
}

uint64_t tree_changes(struct tree *t)
{
	uint64_t n;

	pthread_mutex_lock(&t->store);
	n = t->changes;
	pthread_mutex_unlock(&t->store);
	return n;
}

/* Expires a directory's listing and fetches it again at once. */
static int relist(struct tree *t, uint64_t ino)
{
	struct cache_object dir;
	int r = get_dir(t, ino, &dir);

	if (r < 0)
		return r;
	tree_invalidate(t, ino);
	r = ensure_listing(t, &dir);
	cache_object_release(&dir);
	return r;
}

int tree_refresh_modes(struct tree *t, uint64_t dir_ino)
{
	struct cache_object dir;
	int r = cache_get(t->c, dir_ino, &dir);

	if (r < 0)
		return r;
	if (dir_ino != TREE_ROOT_INO)
		r = relist(t, dir.parent_ino);
	cache_object_release(&dir);
	if (r == 0)
		r = relist(t, dir_ino);
	return r;
}

int tree_refresh_all(struct tree *t)
{
	int r;

	pthread_mutex_lock(&t->lock);
	for (struct inflight *f = t->inflight; f; f = f->next)
		f->invalidated = 1;
	for (struct stale *x = t->stale; x; x = x->next)
		x->retry_at = 0;
	pthread_mutex_unlock(&t->lock);
	r = cache_expire_listing(t->c, 0);
	if (t->more_expire)
		t->more_expire(t->more_ctx);
	inval_listings_all(t->inval);
	return r;
}

/* Allocates the status file's inode on first use (retried after a
 * failure) and keeps it. */
uint64_t tree_status_ino(struct tree *t)
{
	uint64_t ino;

	pthread_mutex_lock(&t->lock);
	if (!t->status_ino &&
	    cache_alloc_ino(t->c, "local:status", &t->status_ino) < 0)
		t->status_ino = 0;
	ino = t->status_ino;
	pthread_mutex_unlock(&t->lock);
	return ino;
}

/* Puts d into the open transaction as the entry called by its safe name
 * in dir (replacing one of that name); returns its inode in *ino. */
static int put_entry(struct cache_txn *txn, uint64_t dir, struct dso *d,
		     uint64_t *ino)
{
	char *name = names_make_safe(d->name);
	int64_t pos;
	int r;

	if (!name)
		return -ENOMEM;
	r = cache_max_position(txn, dir, &pos);
	if (r == 0) {
		d->position = pos + 1;
		r = cache_put_object(txn, d, dir, ino);
	}
	if (r == 0)
		r = cache_add_entry(txn, dir, name, *ino, d->position);
	free(name);
	return r;
}

/* A copy of d's scalar fields sharing its strings, with the inherited
 * mtime a listing would give it. */
static struct dso inherit(struct tree *t, uint64_t dir, const struct dso *d)
{
	struct dso x = *d;
	struct cache_object o;

	if (x.mtime <= 0 && (x.type == DSO_BUNDLE || x.type == DSO_BITSTREAM) &&
	    cache_get(t->c, dir, &o) == 0) {
		x.mtime = o.mtime;
		cache_object_release(&o);
	}
	x.meta = NULL;
	x.nmeta = 0;
	return x;
}

/* The inode the safe form of raw name has in dir now, or 0. */
static uint64_t ino_named(struct tree *t, uint64_t dir, const char *raw)
{
	char *name = names_make_safe(raw);
	struct cache_object o;
	uint64_t ino = 0;

	if (name && cache_lookup(t->c, dir, name, &o) == 0) {
		ino = o.ino;
		cache_object_release(&o);
	}
	free(name);
	return ino;
}

/* Tells inval that the entry for raw name in dir is now inode ino where
 * it was inode was: another inode replaced that version. Nothing when the
 * name is new (the kernel made the entry itself: unhashing it would show
 * a directory someone entered as deleted). */
static void tell_entry(struct tree *t, uint64_t dir, const char *raw,
		       uint64_t was, uint64_t ino)
{
	char *name;

	if (!t->inval || !was || was == ino)
		return;
	name = names_make_safe(raw);
	if (name)
		inval_entry(t->inval, dir, name);
	else
		inval_listing(t->inval, dir);
	free(name);
	inval_content(t->inval, was);
}

int tree_add(struct tree *t, uint64_t dir_ino, const struct dso *d,
	     uint64_t ino, struct tree_node *out)
{
	struct cache_txn *txn = NULL;
	struct dso x = inherit(t, dir_ino, d);
	uint64_t was = t->inval ? ino_named(t, dir_ino, d->name) : 0;
	uint64_t rekeyed = ino;
	int r;

	pthread_mutex_lock(&t->store);
	t->changes++;
	r = cache_begin(t->c, &txn);
	if (r == 0 && ino)
		r = cache_rekey(txn, ino, d->uuid);
	if (r == 0)
		r = put_entry(txn, dir_ino, &x, &ino);
	if (r == 0)
		r = cache_put_meta(txn, ino, d->meta, d->nmeta);
	if (r == 0)
		r = cache_commit(&txn);
	cache_rollback(&txn);
	pthread_mutex_unlock(&t->store);
	if (r == 0) {
		/* New content under ino (an upload landing on it). */
		inval_content(t->inval, rekeyed);
		tell_entry(t, dir_ino, d->name, was, ino);
		inval_listing(t->inval, dir_ino);
	}
	if (r == 0 && out)
		r = tree_getattr(t, ino, out);
	return r;
}

int tree_remove(struct tree *t, uint64_t dir_ino, const char *name)
{
	struct cache_txn *txn = NULL;
	int r;

	pthread_mutex_lock(&t->store);
	t->changes++;
	r = cache_begin(t->c, &txn);
	if (r == 0)
		r = cache_del_entry(txn, dir_ino, name);
	if (r == 0)
		r = cache_commit(&txn);
	cache_rollback(&txn);
	pthread_mutex_unlock(&t->store);
	/* The kernel removed the entry itself; its listing changed. */
	if (r == 0)
		inval_listing(t->inval, dir_ino);
	return r;
}

int tree_rename(struct tree *t, uint64_t old_dir, const char *old_name,
		uint64_t new_dir, const struct dso *d)
{
	struct cache_txn *txn = NULL;
	struct dso x = inherit(t, new_dir, d);
	uint64_t ino = 0;
	uint64_t was = t->inval ? ino_named(t, new_dir, d->name) : 0;
	int r;

	pthread_mutex_lock(&t->store);
	t->changes++;
	r = cache_begin(t->c, &txn);
	if (r == 0)
		r = cache_del_entry(txn, old_dir, old_name);
	if (r == 0)
		r = put_entry(txn, new_dir, &x, &ino);
	if (r == 0 && d->nmeta)
		r = cache_put_meta(txn, ino, d->meta, d->nmeta);
	if (r == 0)
		r = cache_commit(&txn);
	cache_rollback(&txn);
	pthread_mutex_unlock(&t->store);
	if (r == 0 && t->inval) {
		/* The kernel moved the entry itself; a rename over a file
		 * replaces that file's version (its readers are stale). */
		if (was != ino)
			inval_content(t->inval, was);
		inval_listing(t->inval, old_dir);
		inval_listing(t->inval, new_dir);
	}
	return r;
}

int tree_set_times(struct tree *t, uint64_t ino, int64_t mtime,
		   int64_t mtime_ns)
{
	struct cache_object o;
	int r = cache_get(t->c, ino, &o);

	if (r < 0)
		return r;
	r = cache_set_times(t->c, o.uuid, o.md5, mtime, mtime_ns);
	cache_object_release(&o);
	return r;
}

void tree_node_release(struct tree_node *n)
{
	if (!n)
		return;
	free(n->name);
	free(n->raw_name);
	free(n->handle);
	free(n->mime);
	n->name = n->raw_name = n->handle = n->mime = NULL;
}

void tree_nodes_release(struct tree_node *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		tree_node_release(&v[i]);
	free(v);
}

void meta_fields_release(struct meta_field *v, size_t n)
{
	cache_meta_release(v, n);
}
