/* virt: virtual files of directories (see virt.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memrchr */
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/virt.h"

void virt_init(struct virt *v, struct tree *t)
{
	memset(v, 0, sizeof(*v));
	v->tree = t;
	pthread_mutex_init(&v->lock, NULL);
}

/* The size of ino's last snapshot (size < 0: look it up, else set). */
static int64_t seen(struct virt *v, uint64_t ino, int64_t size)
{
	size_t slot = (size_t)((ino >> 4) % 32);
	int64_t r = 0;

	pthread_mutex_lock(&v->lock);
	if (size >= 0) {
		v->seen_ino[slot] = ino;
		v->seen_size[slot] = size;
	} else if (v->seen_ino[slot] == ino) {
		r = v->seen_size[slot];
	}
	pthread_mutex_unlock(&v->lock);
	return r;
}

int virt_register(struct virt *v, const struct virt_file *f)
{
	if (v->n >= VIRT_MAX)
		return -ENOSPC;
	v->files[v->n++] = *f;
	return 0;
}

int virt_is(uint64_t ino)
{
	return (ino >> 59) == 1; /* [2^59, 2^60): not views' [2^60, 2^61) */
}

/* The inode of provider k's file in dir. */
static uint64_t ino_of(uint64_t dir, size_t k)
{
	return VIRT_INO_FLAG | (dir << 4) | (uint64_t)k;
}

/* Fills the node of provider k's file in dir. */
static int make_node(const struct virt_file *f, uint64_t dir, size_t k,
		     struct tree_node *out)
{
	memset(out, 0, sizeof(*out));
	out->ino = ino_of(dir, k);
	out->parent_ino = dir;
	out->type = DSO_NONE;
	out->name = strdup(f->name);
	out->size = 0;
	return out->name ? 0 : -ENOMEM;
}

int virt_resolve(struct virt *v, uint64_t ino, const struct virt_file **f,
		 struct tree_node *dir)
{
	size_t k = (size_t)(ino & 15);
	int r;

	if (!virt_is(ino) || !v || k >= v->n)
		return -ENOENT;
	r = tree_getattr(v->tree, (ino & ~VIRT_INO_FLAG) >> 4, dir);
	if (r)
		return r;
	if (v->files[k].has(v->files[k].ctx, dir) != 1) {
		tree_node_release(dir);
		return -ENOENT;
	}
	*f = &v->files[k];
	return 0;
}

int virt_getattr(struct virt *v, uint64_t ino, struct tree_node *out)
{
	const struct virt_file *f;
	struct tree_node dir;
	int r = virt_resolve(v, ino, &f, &dir);

	if (r)
		return r;
	r = make_node(f, dir.ino, (size_t)(ino & 15), out);
	if (r == 0)
		out->size = seen(v, ino, -1);
	tree_node_release(&dir);
	return r;
}

int virt_lookup(struct virt *v, uint64_t dir, const char *name,
		struct tree_node *out)
{
	struct tree_node d;
	int r = -ENOENT;

	for (size_t k = 0; v && dir < VIRT_DIR_LIMIT && k < v->n; k++) {
		if (strcmp(v->files[k].name, name))
			continue;
		if (tree_getattr(v->tree, dir, &d))
			return -ENOENT;
		if (v->files[k].has(v->files[k].ctx, &d) == 1)
			r = make_node(&v->files[k], dir, k, out);
		if (r == 0)
			out->size = seen(v, out->ino, -1);
		tree_node_release(&d);
		return r;
	}
	return -ENOENT;
}

int virt_list(struct virt *v, uint64_t dir, struct tree_node **nodes, size_t *n)
{
	struct tree_node d, *nv;
	int r = 0;

	if (!v || !v->n || dir >= VIRT_DIR_LIMIT ||
	    tree_getattr(v->tree, dir, &d))
		return 0;
	for (size_t k = 0; r == 0 && k < v->n; k++) {
		if (v->files[k].has(v->files[k].ctx, &d) != 1)
			continue;
		nv = realloc(*nodes, (*n + 1) * sizeof(**nodes));
		if (!nv) {
			r = -ENOMEM;
			break;
		}
		*nodes = nv;
		r = make_node(&v->files[k], dir, k, &nv[*n]);
		if (r == 0)
			(*n)++;
	}
	tree_node_release(&d);
	return r;
}

struct virt_handle {
	const struct virt_file *f;
	struct tree_node dir;
	char *path;
	struct buf text; /* the snapshot */
	struct buf line; /* written, not yet a complete line */
};

int virt_open(struct virt *v, uint64_t ino, const char *path,
	      struct virt_handle **out)
{
	struct virt_handle *h = calloc(1, sizeof(*h));
	int r;

	*out = NULL;
	if (!h)
		return -ENOMEM;
	r = virt_resolve(v, ino, &h->f, &h->dir);
	if (r) {
		free(h);
		return r;
	}
	h->path = strdup(path ? path : "");
	r = h->path ? h->f->snapshot(h->f->ctx, &h->dir, h->path, &h->text)
		    : -ENOMEM;
	if (r) {
		virt_close(&h);
		return r;
	}
	seen(v, ino, (int64_t)h->text.len);
	*out = h;
	return 0;
}

const struct buf *virt_text(const struct virt_handle *h)
{
	return &h->text;
}

int virt_write(struct virt_handle *h, const char *data, size_t len)
{
	char *nl;
	size_t n;
	int r;

	if (!h->f->write)
		return -EACCES;
	if (buf_add(&h->line, data, len))
		return -ENOMEM;
	nl = h->line.data ? memrchr(h->line.data, '\n', h->line.len) : NULL;
	if (!nl)
		return (int)0;
	n = (size_t)(nl - h->line.data) + 1;
	r = h->f->write(h->f->ctx, &h->dir, h->path, h->line.data, n);
	memmove(h->line.data, h->line.data + n, h->line.len - n);
	h->line.len -= n;
	return r;
}

int virt_close(struct virt_handle **ph)
{
	struct virt_handle *h = *ph;
	int r = 0;

	if (!h)
		return 0;
	if (h->line.len && h->f->write)
		r = h->f->write(h->f->ctx, &h->dir, h->path, h->line.data,
				h->line.len);
	if (h->f->release) {
		int q = h->f->release(h->f->ctx, &h->dir, h->path);

		r = r ? r : q;
	}
	tree_node_release(&h->dir);
	buf_release(&h->text);
	buf_release(&h->line);
	free(h->path);
	free(h);
	*ph = NULL;
	return r;
}

void virt_discard(struct virt_handle **ph)
{
	if (*ph)
		(*ph)->line.len = 0;
	virt_close(ph);
}
