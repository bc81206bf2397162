/* draft: submissions in progress as item directories (see draft.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/draft.h"
#include "dspace/dspace.h"
#include "util/log.h"

/* One draft the mount knows, and what was last done with it. */
struct draft_entry {
	struct dspace_draft d;
	const char *state; /* "workspace", "workflow", "archived", "deleted" */
	char *path;	   /* as last seen through the mount, or NULL */
	char original[UUID_LEN + 1]; /* its ORIGINAL bundle, or "" */
	char detail[160];
};

struct draft {
	struct session *s;
	int ttl;
	pthread_mutex_t lock;
	struct draft_entry *v;
	size_t n;
	/* The user's workspace items as last asked for (findBySubmitter),
	 * shared by the listings of all collections within the TTL; mine
	 * is held while they are asked for. */
	pthread_mutex_t mine;
	struct dspace_draft *mv; /* mine */
	size_t mn;		 /* mine */
	int64_t mine_at;	 /* mine: when asked; 0 stale */
};

struct draft *draft_new(struct session *s, int ttl)
{
	struct draft *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->s = s;
	d->ttl = ttl > 0 ? ttl : 60;
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->mine, NULL);
	return d;
}

void draft_free(struct draft **pd)
{
	struct draft *d = *pd;

	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].path);
	free(d->v);
	free(d->mv);
	pthread_mutex_destroy(&d->mine);
	pthread_mutex_destroy(&d->lock);
	free(d);
	*pd = NULL;
}

/* The entry of item uuid (lock held), or NULL. */
static struct draft_entry *find(struct draft *d, const char *uuid)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].d.item, uuid) == 0)
			return &d->v[i];
	return NULL;
}

/* Records (or updates) draft dd in state (lock held). */
static struct draft_entry *
remember(struct draft *d, const struct dspace_draft *dd, const char *state)
{
	struct draft_entry *e = find(d, dd->item), *nv;

	if (!e) {
		nv = realloc(d->v, (d->n + 1) * sizeof(*nv));
		if (!nv)
			return NULL;
		d->v = nv;
		e = &nv[d->n++];
		memset(e, 0, sizeof(*e));
	}
	e->d = *dd;
	e->state = state;
	return e;
}

/* Notes the ORIGINAL bundle among l[from..] as draft item's. */
static void note_original(struct draft *d, const char *item,
			  const struct dso_list *l, size_t from)
{
	struct draft_entry *e;

	pthread_mutex_lock(&d->lock);
	e = find(d, item);
	for (size_t i = from; e && i < l->n; i++)
		if (l->v[i].type == DSO_BUNDLE &&
		    !strcmp(l->v[i].name, "ORIGINAL") &&
		    !strcmp(l->v[i].parent, item))
			snprintf(e->original, sizeof(e->original), "%s",
				 l->v[i].uuid);
	pthread_mutex_unlock(&d->lock);
}

/* upload_set_draft_target: the workspace item fed by bundle, or 0. */
int64_t draft_of_bundle(void *ctx, const char *bundle_uuid)
{
	struct draft *d = ctx;
	int64_t id = 0;

	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->v[i].original, bundle_uuid) &&
		    !strcmp(d->v[i].state, "workspace"))
			id = d->v[i].d.id;
	pthread_mutex_unlock(&d->lock);
	return id;
}

/* A file of a draft renamed (new_name) or removed (NULL) through the
 * submission route; 1 when bundle is no draft's (the caller's route). */
int draft_file_change(struct draft *d, const char *bundle_uuid,
		      const char *uuid, const char *new_name, const char *path)
{
	int64_t id = d ? draft_of_bundle(d, bundle_uuid) : 0;
	int r;

	if (id <= 0)
		return 1;
	r = dspace_draft_file_change(d->s, id, uuid, new_name);
	if (r)
		log_error("draft file %s: cannot %s it (%s)", path,
			  new_name ? "rename" : "remove", strerror(-r));
	else
		log_info("draft file %s: %s%s", path,
			 new_name ? "renamed to " : "removed",
			 new_name ? new_name : "");
	return r;
}

/* Appends item uuid (with its bundles) as a child of coll; read_only:
 * in a workflow, where the submitter keeps READ only
 * (XmlWorkflowServiceImpl.start: removeUserItemPolicies, then
 * grantSubmitterReadPolicies), so rights known and none granted. */
static int append_item(struct draft *d, const char *coll, const char *uuid,
		       int read_only, struct dso_list *l)
{
	size_t start = l->n;
	int r = rest_get_object(d->s, DSO_ITEM, uuid, l);

	for (size_t i = start; r == 0 && read_only && i < l->n; i++)
		l->v[i].rights = DSO_RIGHT_KNOWN;
	if (r == 0 && l->n > start) {
		snprintf(l->v[start].parent, sizeof(l->v[start].parent), "%s",
			 coll);
		l->v[start].position = (int64_t)start;
		l->v[start].in_progress = 1;
		note_original(d, uuid, l, start + 1);
	}
	return r;
}

/* Appends the drafts of coll this mount deposited into a workflow: they
 * stay visible to their submitter (read-only). */
static int append_deposited(struct draft *d, const char *coll,
			    struct dso_list *l)
{
	char items[16][UUID_LEN + 1];
	size_t k = 0;

	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n && k < 16; i++)
		if (!strcmp(d->v[i].state, "workflow") &&
		    !strcmp(d->v[i].d.collection, coll))
			memcpy(items[k++], d->v[i].d.item, UUID_LEN + 1);
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; i < k; i++) {
		size_t j = 0;

		while (j < l->n && strcmp(l->v[j].uuid, items[i]) != 0)
			j++;
		if (j == l->n) /* not listed by the server (yet) */
			append_item(d, coll, items[i], 1, l);
	}
	return 0;
}

void draft_expire(void *ctx)
{
	struct draft *d = ctx;

	if (!d)
		return;
	pthread_mutex_lock(&d->mine);
	d->mine_at = 0;
	pthread_mutex_unlock(&d->mine);
}

/* A copy of the user's drafts (workspace items, then workflow items,
 * dspace_drafts_mine): those asked for within the TTL,
 * else asked for now (once for all the collections listed meanwhile). */
static int drafts_mine(struct draft *d, struct dspace_draft **v, size_t *n)
{
	int64_t now = (int64_t)time(NULL);
	int r = 0;

	*v = NULL;
	*n = 0;
	pthread_mutex_lock(&d->mine);
	if (!d->mine_at || now < d->mine_at || now - d->mine_at >= d->ttl) {
		free(d->mv);
		d->mv = NULL;
		d->mn = 0;
		r = dspace_drafts_mine(d->s, &d->mv, &d->mn);
		d->mine_at = r == 0 ? now : 0;
	}
	if (r == 0 && d->mn) {
		*v = malloc(d->mn * sizeof(**v));
		if (*v) {
			memcpy(*v, d->mv, d->mn * sizeof(**v));
			*n = d->mn;
		} else {
			r = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&d->mine);
	return r;
}

/* tree hook: the user's drafts in collection uuid. */
int draft_list_more(void *ctx, enum dso_type type, const char *uuid,
		    struct dso_list *l)
{
	struct draft *d = ctx;
	struct dspace_draft *v = NULL;
	size_t n = 0, i;
	int r;

	if (!d || type != DSO_COLLECTION || session_is_anonymous(d->s))
		return 0;
	r = drafts_mine(d, &v, &n);
	for (i = 0; r == 0 && i < n; i++) {
		int ro;

		pthread_mutex_lock(&d->lock);
		if (!find(d, v[i].item) ||
		    !strcmp(find(d, v[i].item)->state, "workspace"))
			remember(d, &v[i],
				 v[i].workflow ? "workflow" : "workspace");
		ro = find(d, v[i].item) &&
		     !strcmp(find(d, v[i].item)->state, "workflow");
		pthread_mutex_unlock(&d->lock);
		if (strcmp(v[i].collection, uuid) != 0)
			continue;
		if (append_item(d, uuid, v[i].item, ro, l))
			log_warn("draft %lld: its item %s cannot be read",
				 (long long)v[i].id, v[i].item);
	}
	free(v);
	if (r == 0)
		r = append_deposited(d, uuid, l);
	return r;
}

/* mkdir in a collection: a new draft with an ORIGINAL bundle. */
int draft_create(struct draft *d, const char *coll, const char *title,
		 const char *path, struct dso_list *l)
{
	struct dspace_draft dd;
	struct draft_entry *e;
	int r, b;

	r = dspace_draft_create(d->s, coll, title, &dd);
	if (r) {
		log_error("draft %s: the server refused to create it (%s)",
			  path ? path : title, strerror(-r));
		return r;
	}
	snprintf(dd.collection, sizeof(dd.collection), "%s", coll);
	draft_expire(d);
	pthread_mutex_lock(&d->lock);
	e = remember(d, &dd, "workspace");
	if (e && path) {
		free(e->path);
		e->path = strdup(path);
		snprintf(e->detail, sizeof(e->detail), "created");
	}
	pthread_mutex_unlock(&d->lock);
	r = append_item(d, coll, dd.item, 0, l);
	if (r == 0 && l->n == 1) {
		b = rest_create_bundle(d->s, dd.item, "ORIGINAL", l);
		if (b)
			log_warn("draft %s: no ORIGINAL bundle (%s)", path,
				 strerror(-b));
		else {
			snprintf(l->v[1].parent, sizeof(l->v[1].parent), "%s",
				 dd.item);
			note_original(d, dd.item, l, 1);
		}
	}
	log_info("draft %s: created (workspace item %lld)", path ? path : title,
		 (long long)dd.id);
	return r;
}

/* The state of draft item_uuid, or NULL. */
const char *draft_state(struct draft *d, const char *item_uuid)
{
	struct draft_entry *e;
	const char *st;

	if (!d)
		return NULL;
	pthread_mutex_lock(&d->lock);
	e = find(d, item_uuid);
	st = e && strcmp(e->state, "deleted") != 0 ? e->state : NULL;
	pthread_mutex_unlock(&d->lock);
	return st;
}

/* Copies the entry of item_uuid into out under the lock; -ENOENT. */
static int lookup(struct draft *d, const char *item_uuid,
		  struct draft_entry *out, const char *path)
{
	struct draft_entry *e;
	int r = -ENOENT;

	pthread_mutex_lock(&d->lock);
	e = find(d, item_uuid);
	if (e) {
		if (path && (!e->path || strcmp(e->path, path) != 0)) {
			free(e->path);
			e->path = strdup(path);
		}
		*out = *e;
		r = 0;
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

/* Sets the state and detail of item_uuid's entry. */
static void set_state(struct draft *d, const char *item_uuid, const char *state,
		      const char *detail)
{
	struct draft_entry *e;

	pthread_mutex_lock(&d->lock);
	e = find(d, item_uuid);
	if (e) {
		e->state = state;
		snprintf(e->detail, sizeof(e->detail), "%s", detail);
	}
	pthread_mutex_unlock(&d->lock);
}

/* rmdir of an empty draft: the workspace item goes. */
int draft_abandon(struct draft *d, const char *item_uuid, const char *path)
{
	struct draft_entry e;
	int r;

	if (!d || lookup(d, item_uuid, &e, path) ||
	    strcmp(e.state, "workspace") != 0)
		return -ENOENT;
	r = dspace_draft_delete(d->s, e.d.id);
	if (r == 0) {
		draft_expire(d);
		set_state(d, item_uuid, "deleted", "abandoned");
		log_info("draft %s: abandoned (workspace item %lld deleted)",
			 path, (long long)e.d.id);
	} else {
		log_error("draft %s: cannot delete workspace item %lld (%s)",
			  path, (long long)e.d.id, strerror(-r));
	}
	return r;
}

/* Deposits a draft after checking the server's validation errors. */
int draft_deposit(struct draft *d, const char *item_uuid, const char *path,
		  int *archived)
{
	struct buf missing = BUF_INIT;
	struct draft_entry e;
	int r;

	if (!d || lookup(d, item_uuid, &e, path))
		return -ENOENT;
	if (strcmp(e.state, "workspace") != 0)
		return -EALREADY;
	r = dspace_draft_missing(d->s, e.d.id, &missing);
	if (r == 0 && missing.len) {
		for (size_t i = 0; i + 1 < missing.len; i++)
			if (missing.data[i] == '\n')
				missing.data[i] = ';';
		log_error("draft %s: cannot deposit, still missing:%.*s", path,
			  (int)missing.len - 1, missing.data);
		set_state(d, item_uuid, "workspace", missing.data);
		r = -EINVAL;
	}
	buf_release(&missing);
	if (r)
		return r;
	r = dspace_draft_deposit(d->s, e.d.collection, e.d.id, archived);
	if (r == 0) {
		draft_expire(d);
		set_state(d, item_uuid, *archived ? "archived" : "workflow",
			  "deposited");
		log_info("draft %s: deposited (%s)", path,
			 *archived ? "archived" : "in the workflow");
	} else {
		log_error("draft %s: deposit refused (%s)", path, strerror(-r));
	}
	return r;
}

/* The workspace item id and collection of draft item_uuid. */
int draft_info(struct draft *d, const char *item_uuid, int64_t *id,
	       char coll[UUID_LEN + 1])
{
	struct draft_entry e;

	if (!d || lookup(d, item_uuid, &e, NULL))
		return -ENOENT;
	*id = e.d.id;
	memcpy(coll, e.d.collection, UUID_LEN + 1);
	return 0;
}

/* One "draft" row per draft the mount knows. */
int draft_status_text(struct draft *d, struct buf *out)
{
	int r = 0;

	if (!d)
		return 0;
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; r == 0 && i < d->n; i++) {
		struct draft_entry *e = &d->v[i];

		if (!e->path)
			continue;
		r = buf_addf(out, "d%lld\tdraft\t%s\t%s\t-\t-\t%s\n",
			     (long long)e->d.id, e->state, e->path, e->detail);
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}
