/* metafile: metadata.json — snapshots, saves and setfattr. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "core/metadata.h"
#include "core/metafile.h"

/* What was last served for one item: the base of the next save. */
struct mf_item {
	uint64_t ino;
	struct md_set base;
	char *text;
	uint64_t hash;
	int64_t mtime;
	int editable;	/* canEditMetadata: 1, 0, or -1 not asked yet */
	size_t len;	/* of text */
	time_t fetched; /* when text was read from the server */
	struct mf_item *next;
};

struct metafiles {
	struct session *s;
	struct tree *t;
	int ttl; /* seconds a snapshot answers stat */
	pthread_mutex_t lock;
	struct mf_item *items;
};

struct metafile {
	uint64_t item;
	struct md_set base; /* what this open read */
	struct buf text;    /* and served */
	struct buf saved;   /* what was written */
	int dirty;	    /* saved holds the file (written or truncated) */
	int pending;	    /* changed since the last commit */
};

struct metafiles *metafiles_new(struct session *s, struct tree *t, int ttl)
{
	struct metafiles *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->s = s;
	m->t = t;
	m->ttl = ttl > 0 ? ttl : 60;
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

void metafiles_free(struct metafiles **pm)
{
	struct metafiles *m = *pm;
	struct mf_item *it, *nx;

	if (!m)
		return;
	for (it = m->items; it; it = nx) {
		nx = it->next;
		md_set_release(&it->base);
		free(it->text);
		free(it);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
	*pm = NULL;
}

int metafile_is(uint64_t ino)
{
	return (ino & MF_INO_BIT) != 0;
}

/* FNV-1a of a string. */
static uint64_t hash_text(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* A deep copy of m. */
static int md_copy(const struct md_set *m, struct md_set *out)
{
	return md_with_field(m, "", NULL, 0, out);
}

/* The object of ino and its metadata from the server. */
static int fetch(struct metafiles *m, uint64_t ino, struct tree_node *n,
		 struct md_set *md)
{
	int r = tree_getattr(m->t, ino, n);

	if (r < 0)
		return r;
	if (n->type != DSO_ITEM && n->type != DSO_BITSTREAM) {
		tree_node_release(n);
		return -ENOENT;
	}
	r = rest_get_md(m->s, n->type, n->uuid, md);
	if (r < 0)
		tree_node_release(n);
	return r;
}

/* Remembers md (copied) and text as what is served for item now; its
 * mtime moves only when the text changed. Locked by the caller. */
static struct mf_item *remember(struct metafiles *m, uint64_t item,
				const struct md_set *md, const char *text,
				int64_t item_mtime, int set_base)
{
	struct mf_item *it;
	uint64_t h = hash_text(text);

	for (it = m->items; it && it->ino != item; it = it->next)
		;
	if (!it) {
		it = calloc(1, sizeof(*it));
		if (!it)
			return NULL;
		it->ino = item;
		it->editable = -1;
		it->next = m->items;
		m->items = it;
		it->mtime = item_mtime > 0 ? item_mtime : (int64_t)time(NULL);
	} else if (it->hash != h) {
		it->mtime = (int64_t)time(NULL);
	}
	it->hash = h;
	it->len = strlen(text);
	it->fetched = time(NULL);
	if (!set_base && it->text)
		return it;
	md_set_release(&it->base);
	free(it->text);
	it->text = strdup(text);
	if (!it->text || md_copy(md, &it->base) < 0) {
		free(it->text);
		it->text = NULL;
		return NULL;
	}
	return it;
}

/* Fetches item's metadata and renders it; *md and *text (caller frees)
 * when not NULL. It becomes the base of the next save without a read
 * of its own when set_base (an open that reads). */
static int snapshot(struct metafiles *m, uint64_t item, struct md_set *md,
		    char **text, int64_t *mtime, int set_base)
{
	struct tree_node n;
	struct md_set cur;
	struct mf_item *it;
	char *t;
	int r = fetch(m, item, &n, &cur);

	if (r < 0)
		return r;
	r = n.type == DSO_ITEM ? 0 : -ENOENT;
	t = r ? NULL : model_render_md(&cur);
	if (!r && !t)
		r = -ENOMEM;
	pthread_mutex_lock(&m->lock);
	it = r ? NULL : remember(m, item, &cur, t, n.mtime, set_base);
	if (!r && !it)
		r = -ENOMEM;
	if (it && mtime)
		*mtime = it->mtime;
	pthread_mutex_unlock(&m->lock);
	tree_node_release(&n);
	if (!r && md)
		r = md_copy(&cur, md);
	md_set_release(&cur);
	if (!r && text)
		*text = t;
	else
		free(t);
	return r;
}

/* Whether the user may edit item's metadata, asked once per mount (a
 * server that does not answer: yes, and the save tells). */
static int editable(struct metafiles *m, uint64_t item)
{
	struct mf_item *it;
	struct tree_node n;
	int e = -1;

	pthread_mutex_lock(&m->lock);
	for (it = m->items; it && it->ino != item; it = it->next)
		;
	if (it)
		e = it->editable;
	pthread_mutex_unlock(&m->lock);
	if (e >= 0)
		return e;
	if (tree_getattr(m->t, item, &n) < 0)
		return 1;
	e = rest_can_edit_md(m->s, n.type, n.uuid);
	tree_node_release(&n);
	e = e != 0;
	pthread_mutex_lock(&m->lock);
	for (it = m->items; it && it->ino != item; it = it->next)
		;
	if (it)
		it->editable = e;
	pthread_mutex_unlock(&m->lock);
	return e;
}

/* The size and mtime of a snapshot read within the TTL (any age when
 * stale); 0 or -ENOENT. */
static int recent(struct metafiles *m, uint64_t item, int stale, int64_t *len,
		  int64_t *mtime)
{
	struct mf_item *it;
	int r = -ENOENT;

	pthread_mutex_lock(&m->lock);
	for (it = m->items; it && it->ino != item; it = it->next)
		;
	if (it && it->text && (stale || time(NULL) - it->fetched < m->ttl)) {
		*len = (int64_t)it->len;
		*mtime = it->mtime;
		r = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int metafile_node(struct metafiles *m, uint64_t item, struct tree_node *out)
{
	char *text = NULL;
	int64_t mtime = 0, len = 0;
	int r = recent(m, item, 0, &len, &mtime);

	if (r < 0) {
		r = snapshot(m, item, NULL, &text, &mtime, 0);
		len = text ? (int64_t)strlen(text) : 0;
	}
	/* The server out of reach: the last snapshot, if any. */
	if (r < 0 && r != -ENOENT && recent(m, item, 1, &len, &mtime) == 0)
		r = 0;
	if (r < 0)
		return r;
	memset(out, 0, sizeof(*out));
	out->ino = item | MF_INO_BIT;
	out->parent_ino = item;
	out->type = DSO_NONE;
	out->name = strdup(MD_FILE_NAME);
	out->size = len;
	out->mtime = mtime;
	out->read_only = !editable(m, item);
	free(text);
	return out->name ? 0 : -ENOMEM;
}

static int last_base(struct metafiles *m, uint64_t item, struct md_set *out);

int metafile_open(struct metafiles *m, uint64_t ino, int trunc, int write_only,
		  struct metafile **ph)
{
	struct metafile *h = calloc(1, sizeof(*h));
	char *text = NULL;
	int r;

	if (!h)
		return -ENOMEM;
	h->item = ino & ~MF_INO_BIT;
	/* An open that only writes saves what an earlier one read. */
	r = snapshot(m, h->item, write_only ? NULL : &h->base, &text, NULL,
		     !write_only);
	if (r == 0 && write_only)
		r = last_base(m, h->item, &h->base);
	if (r == 0)
		r = buf_adds(&h->text, text);
	free(text);
	if (r < 0) {
		metafile_close(&h);
		return r;
	}
	h->dirty = h->pending = trunc;
	*ph = h;
	return 0;
}

ssize_t metafile_read(struct metafile *h, char *buf, size_t size, off_t off)
{
	const struct buf *b = h->dirty ? &h->saved : &h->text;

	if ((size_t)off >= b->len)
		return 0;
	if (size > b->len - (size_t)off)
		size = b->len - (size_t)off;
	memcpy(buf, b->data + off, size);
	return (ssize_t)size;
}

/* Makes the save buffer exactly len bytes (zero-filled when longer). */
static int saved_resize(struct metafile *h, size_t len)
{
	while (h->saved.len < len)
		if (buf_add(&h->saved, "", 1) < 0)
			return -ENOMEM;
	h->saved.len = len;
	return 0;
}

ssize_t metafile_write(struct metafile *h, const char *buf, size_t size,
		       off_t off)
{
	size_t end = (size_t)off + size;

	if (!h->dirty) {
		buf_reset(&h->saved);
		if (buf_add(&h->saved, h->text.data ? h->text.data : "",
			    h->text.len) < 0)
			return -ENOMEM;
		h->dirty = 1;
	}
	if (end > h->saved.len && saved_resize(h, end) < 0)
		return -ENOMEM;
	memcpy(h->saved.data + off, buf, size);
	h->pending = 1;
	return (ssize_t)size;
}

int metafile_truncate(struct metafile *h, off_t size)
{
	if (!h->dirty) {
		buf_reset(&h->saved);
		if (buf_add(&h->saved, h->text.data ? h->text.data : "",
			    h->text.len) < 0)
			return -ENOMEM;
		h->dirty = 1;
	}
	h->pending = 1;
	return saved_resize(h, (size_t)size);
}

/* Whether a draft's field is read-only: its form does not offer it. */
static int draft_ro(const char *name, void *ctx)
{
	const struct draft_form *f = ctx;
	size_t i;

	for (i = 0; i < f->n; i++)
		if (!strcmp(f->field[i], name))
			return 0;
	return 1;
}

/* Sends the changes: a draft's through its form sections, an archived
 * item's (or bitstream's) through its own metadata. */
static int send(struct metafiles *m, const struct tree_node *n,
		const struct draft_form *form, const struct md_set *changes)
{
	const char **sec;
	size_t i, j;
	int r;

	if (!form->wsid)
		return rest_patch_md(m->s, n->type, n->uuid, changes);
	sec = calloc(changes->n + 1, sizeof(*sec));
	if (!sec)
		return -ENOMEM;
	for (i = 0; i < changes->n; i++)
		for (j = 0; j < form->n && !sec[i]; j++)
			if (!strcmp(form->field[j], changes->f[i].name))
				sec[i] = form->section[j];
	r = rest_patch_draft(m->s, form->wsid, changes, sec);
	free(sec);
	return r;
}

/* Logs why a save was refused. */
static void log_refusal(const char *uuid, int r, const char *why)
{
	if (r == -EBUSY)
		log_warn("metadata.json of item %s: %s was changed on the "
			 "server since it was read; nothing saved (read the "
			 "file again and redo the change)",
			 uuid, why);
	else if (r == -EACCES)
		log_warn("metadata.json of item %s: %s is read-only; nothing "
			 "saved",
			 uuid, why);
}

/* Merges saved text against base and the server's now, and PATCHes the
 * changed fields of item in one request. */
static int apply(struct metafiles *m, uint64_t item, const struct md_set *base,
		 const char *text, size_t len)
{
	struct md_set saved = {0}, cur = {0}, changes = {0};
	struct draft_form form = {0};
	struct tree_node n;
	char why[256];
	int r = model_parse_md_file(text, len, &saved);

	if (r < 0) {
		log_warn("metadata.json (inode %llu): not a JSON object of "
			 "lists of values; nothing saved",
			 (unsigned long long)(item | MF_INO_BIT));
		return -EINVAL;
	}
	r = fetch(m, item, &n, &cur);
	if (r < 0)
		goto out;
	r = rest_draft_form(m->s, n.uuid, &form);
	if (r == 0)
		r = md_merge(base, &saved, &cur, form.wsid ? draft_ro : NULL,
			     &form, &changes, why, sizeof(why));
	log_refusal(n.uuid, r, why);
	if (r == 0 && changes.n)
		r = send(m, &n, &form, &changes);
	if (r == 0 && changes.n)
		log_info("metadata.json of item %s: %zu field(s) saved", n.uuid,
			 changes.n);
	tree_node_release(&n);
out:
	draft_form_release(&form);
	md_set_release(&saved);
	md_set_release(&cur);
	md_set_release(&changes);
	return r;
}

int metafile_commit(struct metafiles *m, struct metafile *h)
{
	int r;

	if (!h->pending)
		return 0;
	h->pending = 0;
	/* A shell's "> file" closes a copy of the descriptor before the
	 * command writes: an empty save is refused without a log line. */
	if (h->saved.len == 0)
		return -EINVAL;
	r = apply(m, h->item, &h->base, h->saved.data, h->saved.len);
	if (r == 0) {
		md_set_release(&h->base);
		r = snapshot(m, h->item, &h->base, NULL, NULL, 1);
	}
	return r;
}

void metafile_close(struct metafile **ph)
{
	struct metafile *h = *ph;

	if (!h)
		return;
	md_set_release(&h->base);
	buf_release(&h->text);
	buf_release(&h->saved);
	free(h);
	*ph = NULL;
}

/* A copy of the base last served for item, or a new snapshot. */
static int last_base(struct metafiles *m, uint64_t item, struct md_set *out)
{
	struct mf_item *it;
	int r = -ENOENT;

	pthread_mutex_lock(&m->lock);
	for (it = m->items; it && it->ino != item; it = it->next)
		;
	if (it && it->text)
		r = md_copy(&it->base, out);
	pthread_mutex_unlock(&m->lock);
	return r == -ENOENT ? snapshot(m, item, out, NULL, NULL, 1) : r;
}

int metafile_save(struct metafiles *m, uint64_t item, const char *text,
		  size_t len)
{
	struct md_set base = {0};
	int r = last_base(m, item, &base);

	if (r == 0)
		r = apply(m, item, &base, text, len);
	md_set_release(&base);
	if (r == 0)
		r = snapshot(m, item, NULL, NULL, NULL, 1);
	return r;
}

int metafile_text(struct metafiles *m, uint64_t item, struct buf *out)
{
	char *text = NULL;
	int r = snapshot(m, item, NULL, &text, NULL, 0);

	if (r == 0)
		r = buf_adds(out, text);
	free(text);
	return r;
}

int metafile_set_field(struct metafiles *m, uint64_t ino, const char *field,
		       const char *value, size_t len)
{
	struct md_value v = {.confidence = -1};
	struct md_field f = {
	    .name = (char *)field, .v = &v, .n = value ? 1 : 0};
	struct md_set changes = {.f = &f, .n = 1};
	struct tree_node n;
	int r;

	if (md_system_field(field))
		return -EACCES;
	r = tree_getattr(m->t, ino, &n);
	if (r < 0)
		return r;
	if (n.type != DSO_ITEM && n.type != DSO_BITSTREAM)
		r = -ENOTSUP;
	v.value = value ? strndup(value, len) : NULL;
	if (r == 0 && value && !v.value)
		r = -ENOMEM;
	if (r == 0)
		r = rest_patch_md(m->s, n.type, n.uuid, &changes);
	if (r == 0)
		log_info("%s %s: %s %s", dso_type_name(n.type), n.uuid, field,
			 value ? "set" : "removed");
	free(v.value);
	tree_node_release(&n);
	return r;
}
