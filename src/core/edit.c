/* edit: changes made through the mount (see edit.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util/buf.h"
#include "util/errors.h"
#include "util/log.h"
#include "dspace/dspace.h"
#include "core/edit.h"
#include "core/inval.h"
#include "core/draft.h"
#include "core/itemfiles.h"
#include "core/status.h"
#include "core/virt.h"

/* Chunk for copying a bitstream into a spool (open without O_TRUNC). */
#define COPY_CHUNK (1 << 20)

/* A tree node for a file being written. */
static int upload_node(struct upload_file *f, struct tree_node *n)
{
	struct upload_info i;
	int r = upload_info(f, &i);

	if (r < 0)
		return r;
	memset(n, 0, sizeof(*n));
	n->ino = i.ino;
	n->parent_ino = i.bundle_ino;
	n->type = DSO_BITSTREAM;
	n->name = i.name;
	n->size = i.size;
	n->mtime = i.mtime ? i.mtime : (int64_t)time(NULL);
	n->mtime_ns = i.mtime ? i.mtime_ns : 0;
	return 0;
}

/* What the status file reports on. */
struct status_src edit_status_src(const struct edit *e)
{
	struct status_src src = {.session = e->session,
				 .tree = e->tree,
				 .reader = e->reader,
				 .upload = e->upload,
				 .draft = e->draft};

	return src;
}

/* stat of any inode: the status file, a file being written, or the
 * tree's view. */
int edit_getattr(const struct edit *e, uint64_t ino, struct tree_node *out)
{
	struct upload_file *f;
	int r;

	struct status_src src = edit_status_src(e);

	if (status_is(e->tree, ino))
		return status_node(&src, out);
	if (virt_is(ino))
		return virt_getattr(e->virt, ino, out);
	r = itemfile_getattr(e, ino, out);
	if (r != ITEMFILE_PASS)
		return r;
	f = e->upload ? upload_find(e->upload, ino) : NULL;
	if (f) {
		r = upload_node(f, out);
		upload_unref(&f);
		return r;
	}
	return tree_getattr(e->tree, ino, out);
}

/* Resolves name in parent: the status file, files being written, then
 * the tree. */
int edit_lookup(const struct edit *e, uint64_t parent, const char *name,
		struct tree_node *out)
{
	struct upload_file *f;
	int r;

	struct status_src src = edit_status_src(e);

	if (parent == TREE_ROOT_INO && !strcmp(name, TREE_STATUS_NAME))
		return status_node(&src, out);
	if (virt_lookup(e->virt, parent, name, out) == 0)
		return 0;
	r = itemfile_lookup(e, parent, name, out);
	if (r != ITEMFILE_PASS)
		return r;
	f = e->upload ? upload_find_name(e->upload, parent, name) : NULL;
	if (f) {
		r = upload_node(f, out);
		upload_unref(&f);
		return r;
	}
	return tree_lookup(e->tree, parent, name, out);
}

/* Adds the files being written in dir to its listing v (*n entries); one
 * shadows a server entry of the same name (it is about to replace it). */
static int merge_uploads(const struct edit *e, uint64_t dir,
			 struct tree_node **v, size_t *n)
{
	struct upload_info *u = NULL;
	struct tree_node *nn;
	size_t nu = 0;
	int r;

	if (!e->upload)
		return 0;
	r = upload_list_dir(e->upload, dir, &u, &nu);
	if (r < 0 || nu == 0)
		return r;
	nn = realloc(*v, (*n + nu) * sizeof(*nn));
	if (!nn) {
		upload_infos_release(u, nu);
		return -ENOMEM;
	}
	*v = nn;
	for (size_t i = 0; i < nu; i++) {
		struct tree_node *x = NULL;

		for (size_t k = 0; k < *n; k++)
			if (!strcmp(nn[k].name, u[i].name) ||
			    nn[k].ino == u[i].ino)
				x = &nn[k];
		if (x)
			tree_node_release(x);
		else
			x = &nn[(*n)++];
		memset(x, 0, sizeof(*x));
		x->ino = u[i].ino;
		x->parent_ino = dir;
		x->type = DSO_BITSTREAM;
		x->name = u[i].name;
		u[i].name = NULL;
		x->size = u[i].size;
		x->mtime = u[i].mtime ? u[i].mtime : (int64_t)time(NULL);
		x->mtime_ns = u[i].mtime_ns;
	}
	upload_infos_release(u, nu);
	return 0;
}

uint64_t edit_changes(const struct edit *e)
{
	return tree_changes(e->tree) + upload_changes(e->upload);
}

/* The children of dir: the tree's listing with the files being written. */
int edit_list(const struct edit *e, uint64_t dir, struct tree_node **out,
	      size_t *n)
{
	int r = tree_list(e->tree, dir, out, n);

	if (r < 0)
		return r;
	r = merge_uploads(e, dir, out, n);
	if (r == 0)
		r = virt_list(e->virt, dir, out, n);
	if (r == 0)
		r = itemfile_list(e, dir, out, n);
	if (r < 0) {
		tree_nodes_release(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return r;
}

/* Opens virtual file ino (virt.h) with its directory's mount path. */
int edit_virt_open(const struct edit *e, uint64_t ino, int for_write,
		   struct virt_handle **h)
{
	struct tree_node n;
	char *path;
	int r;

	*h = NULL;
	if (for_write && !e->writable)
		return -EROFS;
	r = tree_getattr(e->tree, (ino & ~VIRT_INO_FLAG) >> 4, &n);
	if (r)
		return r;
	path = edit_path(e, n.parent_ino, n.name);
	r = path ? virt_open(e->virt, ino, path, h) : -ENOMEM;
	free(path);
	tree_node_release(&n);
	return r;
}

/* The path of name in dir, from the names of dir's ancestors. */
char *edit_path(const struct edit *e, uint64_t dir, const char *name)
{
	struct buf b = BUF_INIT;
	char *parts[64];
	int k = 0, rc = 0;
	uint64_t ino = dir;

	while (ino != TREE_ROOT_INO && ino && k < 64) {
		struct tree_node n;

		if (tree_getattr(e->tree, ino, &n) < 0)
			break;
		parts[k++] = n.name;
		n.name = NULL;
		ino = n.parent_ino;
		tree_node_release(&n);
	}
	while (k > 0) {
		if (!rc)
			rc = buf_addf(&b, "/%s", parts[k - 1]);
		free(parts[--k]);
	}
	if (rc || buf_addf(&b, "/%s", name)) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

/* A draft called name in collection p (draft.h), stored with its
 * ORIGINAL bundle. */
static int mkdir_draft(const struct edit *e, const struct tree_node *p,
		       const char *name, struct tree_node *out)
{
	struct dso_list l = {0};
	char *path = edit_path(e, p->ino, name);
	int r;

	r = draft_create(e->draft, p->uuid, name, path, &l);
	if (r == 0)
		r = tree_add(e->tree, p->ino, &l.v[0], 0, out);
	for (size_t i = 1; r == 0 && i < l.n; i++)
		if (l.v[i].type == DSO_BUNDLE)
			tree_add(e->tree, out->ino, &l.v[i], 0, NULL);
	dso_list_release(&l);
	free(path);
	return r;
}

/* Logs a change made through the mount at info, with its path (and the
 * new path of a rename or move: dir2 non-zero). */
static void log_change(const struct edit *e, const char *what, uint64_t dir,
		       const char *name, uint64_t dir2, const char *name2)
{
	char *p = edit_path(e, dir, name);
	char *p2 = dir2 ? edit_path(e, dir2, name2) : NULL;

	log_info("%s %s%s%s", what, p ? p : name, dir2 ? " to " : "",
		 dir2 ? (p2 ? p2 : name2) : "");
	free(p);
	free(p2);
}

/* An item called name in collection p, with an empty ORIGINAL bundle (a
 * failure to make that one is only logged). */
static int mkdir_item(const struct edit *e, const struct tree_node *p,
		      const char *name, struct tree_node *out)
{
	struct dso_list l = {0}, lb = {0};
	int r, b;

	if (e->draft && !e->deposit_direct)
		return mkdir_draft(e, p, name, out);
	r = rest_create_item(e->session, p->uuid, name, &l);
	if (r == 0)
		r = tree_add(e->tree, p->ino, &l.v[0], 0, out);
	if (r == 0) {
		b = rest_create_bundle(e->session, l.v[0].uuid, "ORIGINAL",
				       &lb);
		if (b == 0)
			tree_add(e->tree, out->ino, &lb.v[0], 0, NULL);
		else
			log_warn("item \"%s\" created without an "
				 "ORIGINAL bundle: %s",
				 name, strerror(-b));
	}
	dso_list_release(&l);
	dso_list_release(&lb);
	return r;
}

/* A bundle called name in item p. */
static int mkdir_bundle(const struct edit *e, const struct tree_node *p,
			const char *name, struct tree_node *out)
{
	struct dso_list l = {0};
	int r;

	r = rest_create_bundle(e->session, p->uuid, name, &l);
	if (r == 0)
		r = tree_add(e->tree, p->ino, &l.v[0], 0, out);
	dso_list_release(&l);
	return r;
}

/* An item in a collection or a bundle in an item; nothing else. */
/* A change in dir the server refused: the modes shown were stale (or
 * unknown); fetch them again so that the next look tells the truth. */
static int refused(const struct edit *e, uint64_t dir, int r)
{
	if (r == -EACCES && tree_refresh_modes(e->tree, dir) < 0)
		log_debug("cannot refresh the modes of inode %llu",
			  (unsigned long long)dir);
	return r;
}

int edit_mkdir(const struct edit *e, uint64_t parent, const char *name,
	       struct tree_node *out)
{
	struct tree_node p, n;
	int r;

	memset(out, 0, sizeof(*out));
	if (!e->writable)
		return -EROFS;
	r = tree_getattr(e->tree, parent, &p);
	if (r < 0)
		return r;
	memset(&n, 0, sizeof(n));
	if (edit_lookup(e, parent, name, &n) == 0) {
		tree_node_release(&n);
		r = -EEXIST;
	} else if (p.type == DSO_COLLECTION) {
		r = mkdir_item(e, &p, name, out);
	} else if (p.type == DSO_ITEM) {
		r = mkdir_bundle(e, &p, name, out);
	} else {
		/* Communities and collections are not made from the mount. */
		r = -EPERM;
	}
	if (r == 0)
		log_change(e,
			   p.type == DSO_COLLECTION ? "created item"
						    : "created bundle",
			   parent, name, 0, NULL);
	tree_node_release(&p);
	return refused(e, parent, r);
}

/* A spool for a new file name in bundle parent, journalled under its
 * mount path. */
static int new_file(const struct edit *e, uint64_t parent, const char *name,
		    int not_bundle, struct upload_file **f)
{
	struct tree_node p;
	char *path = NULL;
	int r;

	r = tree_getattr(e->tree, parent, &p);
	if (r < 0)
		return r;
	if (p.type != DSO_BUNDLE) {
		r = p.type == DSO_BITSTREAM ? not_bundle : -EPERM;
		goto out;
	}
	path = edit_path(e, parent, name);
	if (!path) {
		r = -ENOMEM;
		goto out;
	}
	r = upload_create(e->upload, parent, p.uuid, name, path, 0, NULL, f);
out:
	free(path);
	tree_node_release(&p);
	return r;
}

/* create: an existing name is opened by the caller (out, *f NULL) unless
 * excl; a new one gets a spool that may upload while written. */
int edit_create(const struct edit *e, uint64_t parent, const char *name,
		int excl, struct upload_file **f, struct tree_node *out)
{
	int r;

	*f = NULL;
	if (!e->writable)
		return -EROFS;
	r = itemfile_create(e, parent, name, excl, out);
	if (r != ITEMFILE_PASS)
		return r;
	r = edit_lookup(e, parent, name, out);
	if (r == 0 && excl) {
		tree_node_release(out);
		return -EEXIST;
	}
	if (r != -ENOENT)
		return r;
	r = new_file(e, parent, name, -ENOTDIR, f);
	if (r == 0) {
		upload_stream_allow(*f);
		r = upload_node(*f, out);
	}
	if (r < 0 && *f) {
		upload_discard(*f);
		upload_unref(f);
	}
	return r;
}

/* mknod of a regular file: created empty and uploaded at once (no close
 * follows). */
int edit_mknod(const struct edit *e, uint64_t parent, const char *name,
	       mode_t mode, struct tree_node *out)
{
	struct upload_file *f = NULL;
	struct upload_info i;
	int r;

	memset(out, 0, sizeof(*out));
	if (!e->writable)
		return -EROFS;
	if (!S_ISREG(mode))
		return -EPERM;
	if (edit_lookup(e, parent, name, out) == 0) {
		tree_node_release(out);
		return -EEXIST;
	}
	r = new_file(e, parent, name, -EPERM, &f);
	if (r == 0)
		r = upload_commit(f);
	if (r == 0) {
		r = upload_info(f, &i);
		if (r == 0) {
			r = edit_getattr(e, i.ino, out);
			upload_info_release(&i);
		}
	}
	upload_unref(&f);
	return r;
}

/* Whether directory d (a bundle, or an item's bundles) holds files:
 * 1, 0 or -errno. */
static int has_files(const struct edit *e, const struct tree_node *d)
{
	struct tree_node *v = NULL;
	struct upload_info *u = NULL;
	size_t n = 0, nu = 0;
	int r, any = 0;

	r = tree_list(e->tree, d->ino, &v, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && !any; i++) {
		if (d->type == DSO_ITEM && v[i].type == DSO_BUNDLE) {
			r = has_files(e, &v[i]);
			if (r != 0)
				any = r;
		} else {
			any = 1;
		}
	}
	tree_nodes_release(v, n);
	if (!any && e->upload &&
	    upload_list_dir(e->upload, d->ino, &u, &nu) == 0) {
		any = nu > 0;
		upload_infos_release(u, nu);
	}
	return any;
}

/* Whether n may be removed by unlink (dir 0) or rmdir (dir 1). */
static int removable(const struct edit *e, const struct tree_node *n, int dir)
{
	int r;

	if (!dir && n->type != DSO_BITSTREAM)
		return -EISDIR;
	if (dir && n->type == DSO_BITSTREAM)
		return -ENOTDIR;
	if (dir && n->type != DSO_BUNDLE && n->type != DSO_ITEM)
		return -EPERM;
	if (dir && (r = has_files(e, n)) != 0)
		return r > 0 ? -ENOTEMPTY : r;
	return 0;
}

static int file_change(const struct edit *e, uint64_t dir, const char *uuid,
		       const char *name, const char *newname,
		       struct dso_list *out);

/* rmdir of a draft: its workspace item is deleted (draft.h). */
static int remove_draft(const struct edit *e, uint64_t parent, const char *name,
			const struct tree_node *n)
{
	char *path = edit_path(e, parent, name);
	int r = draft_abandon(e->draft, n->uuid, path);

	free(path);
	return r == -ENOENT ? -EACCES : r;
}

/* unlink/rmdir: deleted on the server, then from the cache; a file not
 * uploaded yet is only discarded. */
int edit_remove(const struct edit *e, uint64_t parent, const char *name,
		int dir)
{
	struct upload_file *f;
	struct tree_node n;
	int r;

	if (!e->writable)
		return -EROFS;
	if (parent == TREE_ROOT_INO && !strcmp(name, TREE_STATUS_NAME))
		return -EPERM;
	if (virt_lookup(e->virt, parent, name, &n) == 0) {
		/* not stored: nothing to remove (rm -r of a draft) */
		tree_node_release(&n);
		return dir ? -ENOTDIR : 0;
	}
	r = dir ? ITEMFILE_PASS : itemfile_remove(e, parent, name);
	if (r != ITEMFILE_PASS)
		return r;
	f = !dir && e->upload ? upload_find_name(e->upload, parent, name)
			      : NULL;
	if (f) {
		/* Not uploaded yet: nothing on the server to delete (unless
		 * it was to replace a file, which stays). */
		upload_discard(f);
		upload_unref(&f);
		return 0;
	}
	r = tree_lookup(e->tree, parent, name, &n);
	if (r < 0)
		return r;
	r = removable(e, &n, dir);
	if (r == 0 && n.type == DSO_ITEM && draft_state(e->draft, n.uuid)) {
		r = remove_draft(e, parent, name, &n);
	} else if (r == 0 && n.type == DSO_BITSTREAM) {
		r = file_change(e, parent, n.uuid, name, NULL, NULL);
		if (r == -ENOENT)
			r = 0; /* already gone */
	} else if (r == 0) {
		r = rest_delete(e->session, n.type, n.uuid);
		if (r == -ENOENT)
			r = 0; /* already gone */
	}
	if (r == 0)
		r = tree_remove(e->tree, parent, name);
	if (r == 0)
		log_change(e,
			   n.type == DSO_ITEM	  ? "deleted item"
			   : n.type == DSO_BUNDLE ? "deleted bundle"
						  : "deleted",
			   parent, name, 0, NULL);
	tree_node_release(&n);
	return refused(e, parent, r);
}

/* Renames (newname) or deletes (NULL) bitstream uuid of bundle dir: a
 * draft's through the submission route, else the bitstream's own. */
static int file_change(const struct edit *e, uint64_t dir, const char *uuid,
		       const char *name, const char *newname,
		       struct dso_list *out)
{
	struct tree_node b;
	char *path;
	int r = 1;

	if (e->draft && tree_getattr(e->tree, dir, &b) == 0) {
		path = edit_path(e, dir, name);
		r = draft_file_change(e->draft, b.uuid, uuid, newname, path);
		free(path);
		tree_node_release(&b);
	}
	if (r != 1)
		return r;
	if (newname)
		return rest_set_name(e->session, DSO_BITSTREAM, uuid, newname,
				     out);
	return rest_delete(e->session, DSO_BITSTREAM, uuid);
}

/* The item a bundle belongs to (its parent inode), or 0. */
static uint64_t item_of(const struct edit *e, uint64_t bundle_ino)
{
	struct tree_node b;
	uint64_t ino = 0;

	if (tree_getattr(e->tree, bundle_ino, &b) == 0) {
		if (b.type == DSO_BUNDLE)
			ino = b.parent_ino;
		tree_node_release(&b);
	}
	return ino;
}

/* rename(2) of a file not uploaded yet: only its pending name changes;
 * a target being written is discarded, one on the server replaced when
 * this one is uploaded. */
static int rename_pending(const struct edit *e, struct upload_file *f,
			  uint64_t newparent, const char *newname,
			  const struct tree_node *target)
{
	struct tree_node b;
	char *path;
	const char *repl = NULL;
	int r;

	r = tree_getattr(e->tree, newparent, &b);
	if (r < 0)
		return r;
	path = edit_path(e, newparent, newname);
	if (!path) {
		tree_node_release(&b);
		return -ENOMEM;
	}
	if (target) {
		struct upload_file *t =
		    upload_find_name(e->upload, newparent, newname);

		if (t) {
			upload_discard(t);
			upload_unref(&t);
		} else {
			repl = target->uuid;
		}
	}
	r = upload_rename(f, newparent, b.uuid, newname, path, repl);
	free(path);
	tree_node_release(&b);
	return r;
}

/* A dso describing node n under a new name (for the cache after a move
 * the server answered without a body). Strings borrowed. */
static void node_dso(const struct tree_node *n, const char *name, struct dso *d)
{
	memset(d, 0, sizeof(*d));
	d->type = n->type;
	memcpy(d->uuid, n->uuid, sizeof(d->uuid));
	d->name = (char *)name;
	d->handle = n->handle;
	d->size = n->size;
	memcpy(d->md5, n->md5, sizeof(d->md5));
	d->mime = n->mime;
	d->mtime = n->mtime;
}

/* One rename: the names, the nodes found under them and the server's
 * answer. */
struct rename_op {
	uint64_t parent, newparent;
	const char *name, *newname;
	struct tree_node n, t; /* the source, and the target when has_t */
	int has_t;
	struct dso_list l; /* the renamed object, when the server sent it */
};

/* Moves bitstream x->n to the bundle x->newparent on the server. */
static int move_file(const struct edit *e, struct rename_op *x)
{
	struct tree_node b;
	int r;

	r = tree_getattr(e->tree, x->newparent, &b);
	if (r == 0) {
		r = rest_move_bitstream(e->session, x->n.uuid, b.uuid);
		tree_node_release(&b);
	}
	return r;
}

/* The file x->t that a renamed file replaces: discarded when it is being
 * written, else deleted on the server first (a few tries while it is
 * unavailable), so that a failure leaves nothing changed but it: two
 * live files of one name are never left behind a success. */
static int drop_target(const struct edit *e, struct rename_op *x)
{
	struct upload_file *tf =
	    upload_find_name(e->upload, x->newparent, x->newname);
	int d = -EIO;

	if (tf) {
		upload_discard(tf);
		upload_unref(&tf);
		return 0;
	}
	for (int attempt = 0; attempt < 3; attempt++) {
		if (attempt) {
			struct timespec ts = {0, (250L << attempt) * 1000000L};

			nanosleep(&ts, NULL);
		}
		d = file_change(e, x->newparent, x->t.uuid, x->newname, NULL,
				NULL);
		if (d == 0 || d == -ENOENT)
			return 0;
		if (!err_is_unavailable(d))
			break;
	}
	log_error("rename over %s: the old file could not be deleted (%s); "
		  "nothing renamed",
		  x->newname, strerror(-d));
	return -EIO;
}

/* A handle still open on the renamed file uploads under the new name. */
static void follow_open(const struct edit *e, struct rename_op *x)
{
	struct upload_file *f = upload_find_open(e->upload, x->n.ino);
	struct tree_node b;
	char *path;

	if (!f)
		return;
	path = edit_path(e, x->newparent, x->newname);
	if (path && tree_getattr(e->tree, x->newparent, &b) == 0) {
		upload_rename(f, x->newparent, b.uuid, x->newname, path, NULL);
		tree_node_release(&b);
	}
	free(path);
	upload_unref(&f);
}

/* After a rename of x->n on the server: the format that its new name's
 * extension gives (DSpace guesses it at upload only, so rsync's temp
 * names would leave "Unknown"). A failure is only logged. */
static void fix_format(const struct edit *e, struct rename_op *x)
{
	char *mime = NULL;
	int r;

	r = rest_fix_format(e->session, x->n.uuid, x->newname, x->n.mime,
			    &mime);
	if (r < 0)
		log_warn("%s: the format of \"%s\" could not be set (%s)",
			 x->n.uuid, x->newname, strerror(-r));
	if (!mime)
		return;
	if (x->l.n) {
		free(x->l.v[0].mime);
		x->l.v[0].mime = strdup(mime);
	}
	free(x->n.mime);
	x->n.mime = mime;
}

/* Renames or moves a file within its item. 1: done (a file not uploaded
 * yet, nothing to store), 0: the cache is to be updated, or -errno. */
static int rename_file(const struct edit *e, struct rename_op *x)
{
	struct upload_file *f;
	int r = 0;

	if (x->has_t && x->t.type != DSO_BITSTREAM)
		return -EISDIR;
	if (item_of(e, x->newparent) == 0)
		return -EPERM;
	if (item_of(e, x->newparent) != item_of(e, x->parent))
		return -EXDEV;
	f = upload_find(e->upload, x->n.ino);
	if (f) {
		r = rename_pending(e, f, x->newparent, x->newname,
				   x->has_t ? &x->t : NULL);
		upload_unref(&f);
		return r < 0 ? r : 1;
	}
	if (x->has_t && (r = drop_target(e, x)) < 0)
		return r;
	if (x->newparent != x->parent && (r = move_file(e, x)) < 0)
		goto undone;
	if (strcmp(x->name, x->newname)) {
		r = file_change(e, x->newparent, x->n.uuid, x->name, x->newname,
				&x->l);
		if (r < 0)
			goto undone;
		fix_format(e, x);
	}
	follow_open(e, x);
	return 0;
undone:
	/* A move or a removed target that happened stays visible. */
	tree_invalidate(e->tree, x->newparent);
	tree_invalidate(e->tree, x->parent);
	return r;
}

/* Renames an item or a bundle: in place, never over another. */
static int rename_dir(const struct edit *e, struct rename_op *x)
{
	if (x->newparent != x->parent)
		return -EXDEV;
	if (x->has_t)
		return -ENOTEMPTY;
	return rest_set_name(e->session, x->n.type, x->n.uuid, x->newname,
			     &x->l);
}

/* Applies the rename the server did to the cache (when that fails, both
 * listings are asked again instead). */
static void rename_store(const struct edit *e, struct rename_op *x)
{
	struct dso d;

	if (x->l.n) {
		d = x->l.v[0];
		d.meta = NULL; /* listings are the source of metadata */
		d.nmeta = 0;
		/* keep what the answer may lack */
		if (d.size < 0)
			d.size = x->n.size;
		if (!d.md5[0])
			memcpy(d.md5, x->n.md5, sizeof(d.md5));
	} else {
		node_dso(&x->n, x->newname, &d);
	}
	if (tree_rename(e->tree, x->parent, x->name, x->newparent, &d) < 0) {
		tree_invalidate(e->tree, x->parent);
		tree_invalidate(e->tree, x->newparent);
	}
}

/* The checks before anything is looked up. */
static int rename_allowed(const struct edit *e, uint64_t parent,
			  const char *name, uint64_t newparent,
			  const char *newname, unsigned flags)
{
	if (!e->writable)
		return -EROFS;
	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return -EINVAL;
	if ((parent == TREE_ROOT_INO && !strcmp(name, TREE_STATUS_NAME)) ||
	    (newparent == TREE_ROOT_INO && !strcmp(newname, TREE_STATUS_NAME)))
		return -EPERM;
	return 0;
}

/* rename(2): files move between the bundles of an item, items and bundles
 * only change their name. */
int edit_rename(const struct edit *e, uint64_t parent, const char *name,
		uint64_t newparent, const char *newname, unsigned flags)
{
	struct rename_op x = {.parent = parent,
			      .newparent = newparent,
			      .name = name,
			      .newname = newname};
	int r;

	r = rename_allowed(e, parent, name, newparent, newname, flags);
	if (r < 0)
		return r;
	r = itemfile_rename(e, parent, name, newparent, newname);
	if (r != ITEMFILE_PASS)
		return r;
	r = edit_lookup(e, parent, name, &x.n);
	if (r < 0)
		return r;
	memset(&x.t, 0, sizeof(x.t));
	x.has_t = edit_lookup(e, newparent, newname, &x.t) == 0;
	if (x.has_t && x.t.ino == x.n.ino)
		r = 0; /* the same file */
	else if (x.has_t && (flags & RENAME_NOREPLACE))
		r = -EEXIST;
	else if (x.n.type == DSO_BITSTREAM)
		r = rename_file(e, &x);
	else if (x.n.type == DSO_ITEM || x.n.type == DSO_BUNDLE)
		r = rename_dir(e, &x);
	else
		r = -EPERM;
	if (r == 0 && !(x.has_t && x.t.ino == x.n.ino)) {
		rename_store(e, &x);
		log_change(e, newparent != parent ? "moved" : "renamed", parent,
			   name, newparent, newname);
	}
	dso_list_release(&x.l);
	tree_node_release(&x.n);
	tree_node_release(&x.t);
	return r > 0 ? 0 : refused(e, parent, r);
}

/* Copies a bitstream's content (up to limit bytes; all when < 0) into a
 * spool, for an open for writing without O_TRUNC. */
static int copy_in(const struct edit *e, const struct tree_node *n,
		   struct upload_file *f, int64_t limit)
{
	struct reader_file *rf = NULL;
	char *b = NULL;
	off_t off = 0;
	int r;

	if (n->size == 0 || limit == 0) /* < 0: unknown, reader_open asks */
		return 0;
	r = reader_open(e->reader, n->uuid, n->md5, n->size, &rf);
	if (r < 0)
		return r;
	b = malloc(COPY_CHUNK);
	if (!b) {
		r = -ENOMEM;
		goto out;
	}
	while (limit < 0 || off < limit) {
		size_t want = COPY_CHUNK;
		ssize_t got, w;

		if (limit >= 0 && (int64_t)want > limit - off)
			want = (size_t)(limit - off);
		got = reader_read(rf, b, want, off);
		if (got < 0) {
			r = (int)got;
			goto out;
		}
		if (got == 0)
			break;
		w = upload_write(f, b, (size_t)got, off);
		if (w < 0) {
			r = (int)w;
			goto out;
		}
		off += got;
	}
	r = 0;
out:
	free(b);
	reader_close(&rf);
	return r;
}

/* Fills a new spool over bitstream n: emptied (trunc) or copied up to
 * limit. Readers of the old version are stale once it was cut. */
static int overwrite_fill(const struct edit *e, const struct tree_node *n,
			  int trunc, int64_t limit, struct upload_file *f)
{
	int r = 0;

	/* Cut or emptied now: readers of the old version are stale. */
	if (trunc || limit >= 0)
		inval_content(e->inval, n->ino);
	if (!trunc) {
		r = copy_in(e, n, f, limit);
		if (r == 0)
			upload_set_dirty(f, 0);
	} else {
		/* Written from scratch: may upload while written. */
		upload_stream_allow(f);
	}
	return r;
}

/* The name an overwrite of n uploads under: the server's name of the
 * bitstream it replaces, never the display name (a "[uuid8]" suffix of
 * a duplicate); a nameless bitstream keeps the name it is shown under
 * ("untitled"), as an upload always has a name. */
static const char *server_name(const struct tree_node *n)
{
	return n->raw_name && n->raw_name[0] ? n->raw_name : n->name;
}

/* Starts writing over bitstream n (open for writing, truncate): a spool
 * replacing it, keeping its inode. */
int edit_overwrite(const struct edit *e, const struct tree_node *n, int trunc,
		   int64_t limit, struct upload_file **f)
{
	struct tree_node b;
	char *path = NULL;
	int r;

	*f = NULL;
	if (!e->writable)
		return -EROFS;
	if (n->type != DSO_BITSTREAM)
		return -EISDIR;
	r = tree_getattr(e->tree, n->parent_ino, &b);
	if (r < 0)
		return r;
	if (b.type != DSO_BUNDLE) {
		r = -EPERM;
		goto out;
	}
	path = edit_path(e, n->parent_ino, n->name);
	if (!path) {
		r = -ENOMEM;
		goto out;
	}
	r = upload_create(e->upload, b.ino, b.uuid, server_name(n), path,
			  n->ino, n->uuid, f);
	if (r == 0)
		r = overwrite_fill(e, n, trunc, limit, *f);
	if (r < 0 && *f) {
		upload_discard(*f);
		upload_unref(f);
	}
out:
	free(path);
	tree_node_release(&b);
	return r;
}

int edit_same_content(const struct edit *e, const struct tree_node *n)
{
	struct upload_file *f =
	    e->upload ? upload_find(e->upload, n->ino) : NULL;
	struct tree_node now;
	int same;

	if (f) {
		upload_unref(&f);
		return 0;
	}
	if (tree_getattr(e->tree, n->ino, &now) < 0)
		return 0;
	same = !strcmp(now.uuid, n->uuid) && !strcmp(now.md5, n->md5) &&
	       now.size == n->size;
	tree_node_release(&now);
	return same;
}

/* An open of a file being written shares its spool. */
int edit_open_pending(const struct edit *e, uint64_t ino, int trunc,
		      struct upload_file **f)
{
	int r;

	*f = e->upload ? upload_find(e->upload, ino) : NULL;
	if (!*f || !trunc)
		return 0;
	r = upload_truncate(*f, 0);
	if (r < 0)
		upload_unref(f);
	return r;
}

/* A new size for ino: a file being written (f) is cut or extended; an
 * uploaded one is overwritten with its first size bytes and uploaded. */
static int set_size(const struct edit *e, uint64_t ino, struct upload_file *f,
		    off_t size)
{
	struct upload_file *g = NULL;
	struct tree_node n;
	int r;

	if (f)
		return upload_truncate(f, size);
	memset(&n, 0, sizeof(n));
	r = tree_getattr(e->tree, ino, &n);
	if (r == 0 && n.size != size) {
		r = edit_overwrite(e, &n, size == 0, size, &g);
		if (r == 0)
			r = upload_truncate(g, size);
		if (r == 0)
			r = upload_commit(g);
	}
	tree_node_release(&n);
	upload_unref(&g);
	return r;
}

/* A time set on an uploaded file: kept locally, and in the bitstream's
 * metadata so that other mounts see it (a refusal is only logged: the
 * local copy answers). */
static int store_times(const struct edit *e, uint64_t ino,
		       const struct timespec *ts)
{
	struct tree_node n;
	int r = tree_set_times(e->tree, ino, ts->tv_sec, ts->tv_nsec);

	if (r < 0 || tree_getattr(e->tree, ino, &n) < 0)
		return r;
	if (n.type == DSO_BITSTREAM && n.uuid[0] &&
	    rest_set_modified(e->session, n.uuid, ts->tv_sec, ts->tv_nsec) < 0)
		log_info("%s: the time is kept on this computer only", n.uuid);
	tree_node_release(&n);
	return 0;
}

/* setattr: a size, then a modification time (now when mtime is NULL). */
int edit_setattr(const struct edit *e, uint64_t ino, struct upload_file *open,
		 int what, off_t size, const struct timespec *mtime)
{
	struct upload_file *f = NULL;
	struct timespec ts;
	int r = 0;

	if (!e->writable)
		return -EROFS;
	if (status_is(e->tree, ino) || virt_is(ino))
		return 0;
	if (open) {
		f = open;
		upload_ref(f);
	} else {
		f = e->upload ? upload_find(e->upload, ino) : NULL;
	}
	if (what & EDIT_SET_SIZE) {
		r = set_size(e, ino, f, size);
		if (r < 0)
			goto out;
	}
	if (what & EDIT_SET_MTIME) {
		if (mtime)
			ts = *mtime;
		else
			clock_gettime(CLOCK_REALTIME, &ts);
		if (f)
			upload_set_times(f, ts.tv_sec, ts.tv_nsec);
		if (f && !upload_pending(f)) /* uploaded: on the server too */
			store_times(e, ino, &ts);
		else if (!f)
			r = store_times(e, ino, &ts);
	}
out:
	upload_unref(&f);
	return r;
}

/* Extended attributes come from the server: none can be set or removed. */
int edit_xattr_change(const struct edit *e)
{
	return e->writable ? -ENOTSUP : -EROFS;
}

/* setxattr/removexattr of user.FIELD: the object's metadata field. */
int edit_xattr_set(const struct edit *e, uint64_t ino, const char *name,
		   const char *value, size_t size)
{
	int r;

	if (!e->writable)
		return -EROFS;
	r = itemfile_xattr(e, ino, name, value, size);
	return r == ITEMFILE_PASS ? -ENOTSUP : r;
}
