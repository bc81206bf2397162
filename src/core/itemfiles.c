/* itemfiles: metadata.json and scratch files in item directories. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "core/edit.h"
#include "core/inval.h"
#include "core/itemfiles.h"
#include "core/metadata.h"
#include "core/metafile.h"
#include "core/scratch.h"

/* Whether dir is an item directory. */
static int is_item(const struct edit *e, uint64_t dir)
{
	struct tree_node n;
	int item;

	if (metafile_is(dir) || scratch_is(dir) ||
	    tree_getattr(e->tree, dir, &n) < 0)
		return 0;
	item = n.type == DSO_ITEM;
	tree_node_release(&n);
	return item;
}

int itemfile_getattr(const struct edit *e, uint64_t ino, struct tree_node *out)
{
	if (metafile_is(ino) && e->meta)
		return metafile_node(e->meta, ino & ~MF_INO_BIT, out);
	if (scratch_is(ino) && e->scratch)
		return scratch_getattr(e->scratch, ino, out);
	return ITEMFILE_PASS;
}

int itemfile_lookup(const struct edit *e, uint64_t parent, const char *name,
		    struct tree_node *out)
{
	if (!e->meta)
		return ITEMFILE_PASS;
	if (!strcmp(name, MD_FILE_NAME) && is_item(e, parent))
		return metafile_node(e->meta, parent, out);
	if (e->scratch && scratch_name(name) && is_item(e, parent))
		return scratch_lookup(e->scratch, parent, name, out);
	return ITEMFILE_PASS;
}

/* Only scratch files are listed: metadata.json is found by name (a
 * listing that showed it would cost a request per item in ls -lR, and
 * make every file count tools take for bitstreams wrong). */
int itemfile_list(const struct edit *e, uint64_t dir, struct tree_node **v,
		  size_t *n)
{
	if (!e->scratch || !is_item(e, dir))
		return 0;
	return scratch_list(e->scratch, dir, v, n);
}

int itemfile_create(const struct edit *e, uint64_t parent, const char *name,
		    int excl, struct tree_node *out)
{
	int r;

	if (!e->meta || !is_item(e, parent))
		return ITEMFILE_PASS;
	if (!strcmp(name, MD_FILE_NAME)) {
		r = metafile_node(e->meta, parent, out);
		if (r == 0 && excl) {
			tree_node_release(out);
			r = -EEXIST;
		}
		return r;
	}
	if (!e->scratch || !scratch_name(name))
		return ITEMFILE_PASS;
	r = scratch_lookup(e->scratch, parent, name, out);
	if (r == 0 && excl) {
		tree_node_release(out);
		return -EEXIST;
	}
	if (r == 0)
		return 0;
	return scratch_create(e->scratch, parent, name, out);
}

int itemfile_remove(const struct edit *e, uint64_t parent, const char *name)
{
	if (!e->meta || !is_item(e, parent))
		return ITEMFILE_PASS;
	if (!strcmp(name, MD_FILE_NAME))
		return 0; /* virtual: nothing is stored */
	if (e->scratch && scratch_name(name))
		return scratch_remove(e->scratch, parent, name);
	return ITEMFILE_PASS;
}

/* A scratch file renamed over metadata.json: the save. */
static int save_from(const struct edit *e, uint64_t dir, const char *name)
{
	struct buf b = BUF_INIT;
	int r = scratch_read_all(e->scratch, dir, name, &b);

	if (r == 0)
		r = metafile_save(e->meta, dir, b.data ? b.data : "", b.len);
	buf_release(&b);
	if (r == 0)
		r = scratch_remove(e->scratch, dir, name);
	return r;
}

/* metadata.json renamed to a scratch name: a copy stays there. */
static int backup_to(const struct edit *e, uint64_t dir, const char *name)
{
	struct buf b = BUF_INIT;
	int r = metafile_text(e->meta, dir, &b);

	if (r == 0)
		r = scratch_put(e->scratch, dir, name, b.data ? b.data : "",
				b.len);
	buf_release(&b);
	return r;
}

int itemfile_rename(const struct edit *e, uint64_t parent, const char *name,
		    uint64_t newparent, const char *newname)
{
	int src_md = !strcmp(name, MD_FILE_NAME);
	int dst_md = !strcmp(newname, MD_FILE_NAME);
	int src_sc = scratch_name(name), dst_sc = scratch_name(newname);
	int r;

	if (!e->meta || !e->scratch || (!src_md && !src_sc) ||
	    !is_item(e, parent))
		return ITEMFILE_PASS;
	if (newparent != parent)
		return -EXDEV;
	if (src_sc && dst_md)
		r = save_from(e, parent, name);
	else if (src_sc && dst_sc)
		r = scratch_rename(e->scratch, parent, name, newparent,
				   newname);
	else if (src_md && dst_sc)
		r = backup_to(e, parent, newname);
	else if (src_md && dst_md)
		r = 0;
	else
		r = -EPERM;
	inval_entry(e->inval, parent, name);
	inval_entry(e->inval, parent, newname);
	return r;
}

int itemfile_xattr(const struct edit *e, uint64_t ino, const char *name,
		   const char *value, size_t size)
{
	if (!e->meta || strncmp(name, "user.", 5) != 0 ||
	    !strncmp(name, "user.dspace.", 12) ||
	    !strcmp(name, "user.mime_type"))
		return ITEMFILE_PASS;
	return metafile_set_field(e->meta, ino, name + 5, value, size);
}
