/* views: .uuid, .search and .handle (see views.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/names.h"
#include "core/views.h"
#include "dspace/dspace.h"
#include "util/log.h"

/* View inodes: directory i is BASE + ((i + 1) << SHIFT); its links follow
 * it, link k at +1+k. */
#define VIEWS_BASE (UINT64_C(1) << 60)
#define VIEWS_SHIFT 20
#define VIEWS_MASK ((UINT64_C(1) << VIEWS_SHIFT) - 1)
#define VIEWS_MAX_LINKS (VIEWS_MASK - 1)
#define VIEWS_MAX_DIRS (UINT64_C(1) << 30)

enum vkind { V_UUID, V_SEARCHES, V_SEARCH, V_HANDLES, V_PREFIX };

struct vlink {
	char *name;
	char *target;
};

struct vdir {
	enum vkind kind;
	uint64_t ino, parent_ino;
	char *name;		  /* entry name in the parent */
	char scope[UUID_LEN + 1]; /* searches: community/collection, or "" */
	int ups;		  /* "../" from inside this dir to the root */
	struct vlink *links;
	size_t nlinks;
	int64_t fetched; /* when the links were searched; 0: never */
	int64_t used;	 /* last looked at */
};

struct views {
	struct session *s;
	struct tree *t;
	int ttl;
	size_t max;
	pthread_mutex_t lock;
	struct vdir **d;
	size_t n, alloc;
};

/* Frees a directory's links. */
static void links_free(struct vdir *d)
{
	for (size_t i = 0; i < d->nlinks; i++) {
		free(d->links[i].name);
		free(d->links[i].target);
	}
	free(d->links);
	d->links = NULL;
	d->nlinks = 0;
	d->fetched = 0;
}

/* Adds a directory (lock held); NULL on ENOMEM. */
static struct vdir *dir_add(struct views *v, enum vkind kind, uint64_t parent,
			    const char *name)
{
	struct vdir *d;

	if (v->n == v->alloc) {
		size_t na = v->alloc ? v->alloc * 2 : 16;
		struct vdir **nd;

		if (na > VIEWS_MAX_DIRS)
			return NULL;
		nd = realloc(v->d, na * sizeof(*nd));
		if (!nd)
			return NULL;
		v->d = nd;
		v->alloc = na;
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->name = strdup(name))) {
		free(d);
		return NULL;
	}
	d->kind = kind;
	d->parent_ino = parent;
	d->ino = VIEWS_BASE + ((uint64_t)(v->n + 1) << VIEWS_SHIFT);
	v->d[v->n++] = d;
	return d;
}

struct views *views_new(struct session *s, struct tree *t, int ttl,
			size_t search_max)
{
	struct views *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->s = s;
	v->t = t;
	v->ttl = ttl > 0 ? ttl : 60;
	v->max = search_max ? search_max : VIEWS_SEARCH_MAX;
	if (v->max > VIEWS_MAX_LINKS)
		v->max = VIEWS_MAX_LINKS;
	pthread_mutex_init(&v->lock, NULL);
	/* the three at the root: dirs 0, 1, 2 */
	if (!dir_add(v, V_UUID, TREE_ROOT_INO, TREE_UUID_NAME) ||
	    !dir_add(v, V_SEARCHES, TREE_ROOT_INO, TREE_SEARCH_NAME) ||
	    !dir_add(v, V_HANDLES, TREE_ROOT_INO, TREE_HANDLE_NAME)) {
		views_free(&v);
		return NULL;
	}
	v->d[1]->ups = 2; /* from inside .search/<query>/ */
	return v;
}

void views_free(struct views **vp)
{
	struct views *v = *vp;

	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		links_free(v->d[i]);
		free(v->d[i]->name);
		free(v->d[i]);
	}
	free(v->d);
	pthread_mutex_destroy(&v->lock);
	free(v);
	*vp = NULL;
}

int views_owns(uint64_t ino)
{
	/* [2^60, 2^61): scratch files (core/scratch.h) and metadata.json
	 * (core/metafile.h) own the ranges at bits 61 and 62 */
	return ino >= VIEWS_BASE + (UINT64_C(1) << VIEWS_SHIFT) &&
	       ino < (VIEWS_BASE << 1);
}

int views_is_link(uint64_t ino)
{
	return views_owns(ino) && (ino & VIEWS_MASK) != 0;
}

/* The directory of a view inode (lock held), or NULL. */
static struct vdir *dir_of(struct views *v, uint64_t ino)
{
	uint64_t i;

	if (!views_owns(ino))
		return NULL;
	i = ((ino - VIEWS_BASE) >> VIEWS_SHIFT) - 1;
	return i < v->n ? v->d[i] : NULL;
}

/* The child directory name of parent (lock held), or NULL. */
static struct vdir *dir_find(struct views *v, uint64_t parent, const char *name)
{
	for (size_t i = 0; i < v->n; i++)
		if (v->d[i]->parent_ino == parent &&
		    !strcmp(v->d[i]->name, name))
			return v->d[i];
	return NULL;
}

/* A node for directory d, or for its link k when k >= 0. */
static int node_of(const struct vdir *d, long k, struct tree_node *out)
{
	memset(out, 0, sizeof(*out));
	out->type = DSO_NONE;
	if (k < 0) {
		out->ino = d->ino;
		out->parent_ino = d->parent_ino;
		out->name = strdup(d->name);
	} else {
		out->ino = d->ino + 1 + (uint64_t)k;
		out->parent_ino = d->ino;
		out->name = strdup(d->links[k].name);
		out->size = (int64_t)strlen(d->links[k].target);
	}
	return out->name ? 0 : -ENOMEM;
}

/* Drops the links of searches unused for a TTL (lock held), so that
 * memory follows what is in use. */
static void sweep(struct views *v, int64_t now)
{
	for (size_t i = 3; i < v->n; i++)
		if (v->d[i]->nlinks && now - v->d[i]->used > v->ttl)
			links_free(v->d[i]);
}

/* The query a directory name stands for: %2F → '/', %25 → '%'. */
static char *query_of(const char *name)
{
	char *q = malloc(strlen(name) + 1), *o = q;

	if (!q)
		return NULL;
	while (*name) {
		if (name[0] == '%' && (!strncmp(name + 1, "2F", 2) ||
				       !strncmp(name + 1, "2f", 2))) {
			*o++ = '/';
			name += 3;
		} else if (name[0] == '%' && !strncmp(name + 1, "25", 2)) {
			*o++ = '%';
			name += 3;
		} else {
			*o++ = *name++;
		}
	}
	*o = 0;
	return q;
}

/* "../" n times then ".uuid/<uuid>" (caller frees). */
static char *target_of(int ups, const char *uuid)
{
	size_t len = (size_t)ups * 3 + sizeof(TREE_UUID_NAME) + UUID_LEN + 2;
	char *s = malloc(len), *p = s;

	if (!s)
		return NULL;
	for (int i = 0; i < ups; i++, p += 3)
		memcpy(p, "../", 3);
	snprintf(p, len - (size_t)(p - s), "%s/%s", TREE_UUID_NAME, uuid);
	return s;
}

/* Names the items found (like item directories) as links of d. */
static int make_links(const struct dso_list *l, int ups, size_t max,
		      struct vlink **out, size_t *nout)
{
	struct names_entry *ne = calloc(l->n + 1, sizeof(*ne));
	struct vlink *lk = calloc(l->n + 1, sizeof(*lk));
	size_t k = 0;
	int r = -ENOMEM;

	if (!ne || !lk)
		goto fail;
	for (size_t i = 0; i < l->n && k < max; i++) {
		if (l->v[i].type != DSO_ITEM || l->v[i].parent[0])
			continue; /* embedded bundles and bitstreams */
		ne[k].raw = l->v[i].name;
		ne[k].uuid = l->v[i].uuid;
		ne[k].handle = l->v[i].handle;
		ne[k].is_dir = 1;
		if (!(lk[k].target = target_of(ups, l->v[i].uuid)))
			goto fail;
		k++;
	}
	r = names_assign(ne, k);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < k; i++)
		lk[i].name = ne[i].name;
	free(ne);
	*out = lk;
	*nout = k;
	return 0;
fail:
	for (size_t i = 0; i < k; i++)
		free(lk[i].target);
	free(lk);
	free(ne);
	return r;
}

/* Searches for d's query unless its results are fresh. Called and
 * returns with the lock held; drops it while the server answers. */
static int search(struct views *v, struct vdir *d)
{
	struct dso_list l = {0};
	struct vlink *lk = NULL;
	char scope[UUID_LEN + 1];
	int64_t now = (int64_t)time(NULL);
	size_t nl = 0;
	int capped = 0, ups = d->ups, r;
	char *q;

	d->used = now;
	if (d->fetched && now - d->fetched < v->ttl)
		return 0;
	q = query_of(d->name);
	if (!q)
		return -ENOMEM;
	memcpy(scope, d->scope, sizeof(scope));
	pthread_mutex_unlock(&v->lock);
	r = rest_search_items(v->s, scope, q, v->max, &l, &capped);
	if (r == 0)
		r = make_links(&l, ups, v->max, &lk, &nl);
	if (r == 0 && tree_keep_found(v->t, &l, v->max) < 0)
		log_warn("search \"%s\": results not kept in the cache", q);
	if (r == 0 && capped)
		log_warn("search \"%s\" stopped at %zu results (-o search_max)",
			 q, v->max);
	dso_list_release(&l);
	free(q);
	pthread_mutex_lock(&v->lock);
	if (r < 0)
		return r;
	sweep(v, now);
	links_free(d);
	d->links = lk;
	d->nlinks = nl;
	d->fetched = now;
	d->used = now;
	return 0;
}

/* "../" count from inside DIR/.search/<query>/ to the mount root: the
 * depth of DIR, plus one for .uuid when DIR was reached through it. */
static int ups_of(struct views *v, uint64_t dir)
{
	struct tree_node n;
	int ups = 2;

	for (int i = 0; i < 64 && dir != TREE_ROOT_INO; i++) {
		if (dir == 0 || tree_getattr(v->t, dir, &n) < 0)
			return ups + 1; /* known only through .uuid */
		ups++;
		dir = n.parent_ino;
		tree_node_release(&n);
	}
	return ups;
}

/* The scoped .search of a community or collection (lock held). */
static int scoped_root(struct views *v, uint64_t parent, struct tree_node *out)
{
	struct tree_node p;
	struct vdir *d = dir_find(v, parent, TREE_SEARCH_NAME);
	int r, ups;

	if (!d) {
		pthread_mutex_unlock(&v->lock);
		r = tree_getattr(v->t, parent, &p);
		ups = r == 0 ? ups_of(v, parent) : 0;
		pthread_mutex_lock(&v->lock);
		if (r < 0)
			return r;
		if (p.type != DSO_COMMUNITY && p.type != DSO_COLLECTION) {
			tree_node_release(&p);
			return VIEWS_PASS;
		}
		d = dir_find(v, parent, TREE_SEARCH_NAME);
		if (!d && (d = dir_add(v, V_SEARCHES, parent,
				       TREE_SEARCH_NAME)) != NULL) {
			memcpy(d->scope, p.uuid, sizeof(d->scope));
			d->ups = ups;
		}
		tree_node_release(&p);
		if (!d)
			return -ENOMEM;
	}
	return node_of(d, -1, out);
}

/* name in a search directory: a link (lock held). */
static int in_search(struct views *v, struct vdir *d, const char *name,
		     struct tree_node *out)
{
	int r = search(v, d);

	if (r < 0)
		return r;
	for (size_t k = 0; k < d->nlinks; k++)
		if (!strcmp(d->links[k].name, name))
			return node_of(d, (long)k, out);
	return -ENOENT;
}

/* A handle's link in .handle/<prefix> (lock held). */
static int in_prefix(struct views *v, struct vdir *d, const char *name,
		     struct tree_node *out)
{
	size_t hl = strlen(d->name) + strlen(name) + 2, k;
	char *h = malloc(hl), *tg;
	struct tree_node o;
	struct vlink *nl;
	int r;

	if (!h)
		return -ENOMEM;
	snprintf(h, hl, "%s/%s", d->name, name);
	pthread_mutex_unlock(&v->lock);
	r = tree_find_handle(v->t, h, &o);
	pthread_mutex_lock(&v->lock);
	free(h);
	if (r < 0)
		return r;
	tg = target_of(2, o.uuid);
	tree_node_release(&o);
	if (!tg)
		return -ENOMEM;
	d->used = (int64_t)time(NULL); /* kept a TTL (sweep) */
	for (k = 0; k < d->nlinks; k++)
		if (!strcmp(d->links[k].name, name))
			break;
	if (k == d->nlinks) {
		if (k >= VIEWS_MAX_LINKS)
			links_free(d); /* start over: k becomes 0 */
		k = d->nlinks;
		nl = realloc(d->links, (k + 1) * sizeof(*nl));
		if (!nl || !(nl[k].name = strdup(name))) {
			d->links = nl ? nl : d->links;
			free(tg);
			return -ENOMEM;
		}
		nl[k].target = NULL;
		d->links = nl;
		d->nlinks++;
	}
	free(d->links[k].target);
	d->links[k].target = tg;
	return node_of(d, (long)k, out);
}

/* A directory below d called name (a query or a handle prefix). */
static int sub_dir(struct views *v, struct vdir *d, enum vkind kind,
		   const char *name, struct tree_node *out)
{
	struct vdir *s = dir_find(v, d->ino, name);

	if (!s && (s = dir_add(v, kind, d->ino, name)) != NULL) {
		memcpy(s->scope, d->scope, sizeof(s->scope));
		s->ups = d->ups;
	}
	if (!s)
		return -ENOMEM;
	return node_of(s, -1, out);
}

/* name inside the view directory d (lock held). */
static int in_view(struct views *v, struct vdir *d, const char *name,
		   struct tree_node *out)
{
	int r;

	if (name[0] == '.')
		return -ENOENT; /* never a query, handle or UUID */
	switch (d->kind) {
	case V_UUID:
		pthread_mutex_unlock(&v->lock);
		r = tree_find_uuid(v->t, name, out);
		pthread_mutex_lock(&v->lock);
		return r;
	case V_SEARCHES:
		return sub_dir(v, d, V_SEARCH, name, out);
	case V_HANDLES:
		return sub_dir(v, d, V_PREFIX, name, out);
	case V_SEARCH:
		return in_search(v, d, name, out);
	case V_PREFIX:
		return in_prefix(v, d, name, out);
	}
	return -ENOENT;
}

int views_lookup(struct views *v, uint64_t parent, const char *name,
		 struct tree_node *out)
{
	struct vdir *d;
	int r = VIEWS_PASS;

	pthread_mutex_lock(&v->lock);
	d = dir_of(v, parent);
	if (d) {
		r = views_is_link(parent) ? -ENOTDIR : in_view(v, d, name, out);
	} else if (parent == TREE_ROOT_INO) {
		d = dir_find(v, parent, name);
		if (d)
			r = node_of(d, -1, out);
	} else if (!strcmp(name, TREE_SEARCH_NAME)) {
		r = scoped_root(v, parent, out);
	}
	pthread_mutex_unlock(&v->lock);
	return r;
}

int views_getattr(struct views *v, uint64_t ino, struct tree_node *out)
{
	struct vdir *d;
	uint64_t k;
	int r = -ENOENT;

	pthread_mutex_lock(&v->lock);
	d = dir_of(v, ino);
	k = ino & VIEWS_MASK;
	if (d && k == 0)
		r = node_of(d, -1, out);
	else if (d && k - 1 < d->nlinks)
		r = node_of(d, (long)(k - 1), out);
	pthread_mutex_unlock(&v->lock);
	return r;
}

int views_list(struct views *v, uint64_t ino, struct tree_node **out, size_t *n)
{
	struct tree_node *nodes = NULL;
	struct vdir *d;
	size_t k = 0;
	int r = -ENOTDIR;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&v->lock);
	d = dir_of(v, ino);
	if (!d || views_is_link(ino))
		goto out;
	r = d->kind == V_SEARCH ? search(v, d) : 0;
	if (r < 0 || d->kind != V_SEARCH || !d->nlinks)
		goto out;
	nodes = calloc(d->nlinks, sizeof(*nodes));
	r = nodes ? 0 : -ENOMEM;
	for (k = 0; r == 0 && k < d->nlinks; k++)
		r = node_of(d, (long)k, &nodes[k]);
	if (r < 0) {
		tree_nodes_release(nodes, k);
		goto out;
	}
	*out = nodes;
	*n = k;
out:
	pthread_mutex_unlock(&v->lock);
	return r;
}

int views_readlink(struct views *v, uint64_t ino, char **target)
{
	struct vdir *d;
	uint64_t k = (ino & VIEWS_MASK) - 1;
	int r = -EINVAL;

	pthread_mutex_lock(&v->lock);
	d = dir_of(v, ino);
	if (d && views_is_link(ino)) {
		r = -ENOENT;
		if (k < d->nlinks) {
			*target = strdup(d->links[k].target);
			r = *target ? 0 : -ENOMEM;
		}
	}
	pthread_mutex_unlock(&v->lock);
	return r;
}
