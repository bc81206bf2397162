/* fs: FUSE low-level operations → tree and reader calls (see fs.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "buf.h"
#include "fs.h"
#include "log.h"

/* Reported as st_blksize: tools such as cat and cp size their buffers
 * from it, and larger requests are what make FUSE reads fast. */
#define FS_BLKSIZE (1 << 20)

/* A directory snapshot taken at opendir, so that readdir offsets stay
 * valid while the listing is refreshed underneath. */
struct dir_handle {
	struct tree_node *nodes;
	size_t n;
	uint64_t self_ino;
	uint64_t parent_ino;
};

static struct fs_config *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Whether changes may be attempted at all on this mount. */
static int fs_writable(const struct fs_config *c)
{
	return !c->read_only && !c->anonymous;
}

/* Fills a struct stat from a tree node. */
static void node_to_stat(const struct fs_config *c, const struct tree_node *n,
			 struct stat *st)
{
	int is_dir = n->type != DSO_BITSTREAM;
	time_t t = n->mtime > 0 ? (time_t)n->mtime : c->mount_time;

	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	if (is_dir) {
		st->st_mode = S_IFDIR | (fs_writable(c) ? 0755 : 0555);
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | (fs_writable(c) ? 0644 : 0444);
		st->st_nlink = 1;
		st->st_size = n->size > 0 ? n->size : 0;
		st->st_blocks = (st->st_size + 511) / 512;
	}
	st->st_blksize = FS_BLKSIZE;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_atime = st->st_mtime = st->st_ctime = t;
}

/* Builds the reply for lookup-like calls. */
static void node_to_entry(const struct fs_config *c, const struct tree_node *n,
			  struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = 1;
	e->attr_timeout = c->entry_ttl;
	e->entry_timeout = c->entry_ttl;
	node_to_stat(c, n, &e->attr);
}

/* Asks the kernel for splice and async reads when it can do them. */
static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* Attributes come from the tree cache; the kernel keeps them for
	 * entry_ttl. Directory contents are re-read on every opendir. */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
}

/* Resolves a name in a directory. */
static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_config *c = fs_of(req);
	struct tree_node n;
	struct fuse_entry_param e;
	int rc = tree_lookup(c->tree, parent, name, &n);

	if (rc) {
		if (rc == -ENOENT) {
			/* A negative entry: the kernel need not ask again soon. */
			memset(&e, 0, sizeof(e));
			e.entry_timeout = c->entry_ttl;
			fuse_reply_entry(req, &e);
			return;
		}
		fuse_reply_err(req, -rc);
		return;
	}
	node_to_entry(c, &n, &e);
	tree_node_release(&n);
	fuse_reply_entry(req, &e);
}

/* Inode numbers are never reused, so there is nothing to forget. */
static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

/* stat(). */
static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs_config *c = fs_of(req);
	struct tree_node n;
	struct stat st;
	int rc = tree_getattr(c->tree, ino, &n);

	(void)fi;
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	node_to_stat(c, &n, &st);
	tree_node_release(&n);
	fuse_reply_attr(req, &st, c->entry_ttl);
}

/* Snapshots the listing of a directory. */
static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs_config *c = fs_of(req);
	struct dir_handle *d = calloc(1, sizeof(*d));
	struct tree_node self;
	int rc;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = tree_getattr(c->tree, ino, &self);
	if (rc)
		goto fail;
	d->self_ino = ino;
	d->parent_ino = self.parent_ino ? self.parent_ino : ino;
	if (self.type == DSO_BITSTREAM)
		rc = -ENOTDIR;
	tree_node_release(&self);
	if (rc)
		goto fail;
	rc = tree_list(c->tree, ino, &d->nodes, &d->n);
	if (rc)
		goto fail;
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 0;
	fuse_reply_open(req, fi);
	return;
fail:
	free(d);
	fuse_reply_err(req, -rc);
}

/* Shared body of readdir and readdirplus: offsets 1 and 2 are "." and
 * "..", offset k+3 follows child k. */
static void do_readdir(fuse_req_t req, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct fs_config *c = fs_of(req);
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	char *out = malloc(size);
	size_t used = 0;
	off_t i;

	if (!out) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (i = off; (size_t)i < d->n + 2; i++) {
		struct fuse_entry_param e;
		const char *name;
		size_t need;

		memset(&e, 0, sizeof(e));
		if (i < 2) {
			name = i == 0 ? "." : "..";
			e.attr.st_ino = i == 0 ? d->self_ino : d->parent_ino;
			e.attr.st_mode = S_IFDIR;
		} else {
			node_to_entry(c, &d->nodes[i - 2], &e);
			name = d->nodes[i - 2].name;
		}
		if (plus) {
			need = fuse_add_direntry_plus(req, out + used, size - used,
						      name, &e, i + 1);
		} else {
			need = fuse_add_direntry(req, out + used, size - used,
						 name, &e.attr, i + 1);
		}
		if (need > size - used)
			break; /* the entry did not fit: the kernel asks again */
		used += need;
	}
	fuse_reply_buf(req, out, used);
	free(out);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;

	(void)ino;
	tree_nodes_release(d->nodes, d->n);
	free(d);
	fuse_reply_err(req, 0);
}

/* Opens a bitstream for reading. */
static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_config *c = fs_of(req);
	struct reader_file *f = NULL;
	struct tree_node n;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	rc = tree_getattr(c->tree, ino, &n);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (n.type != DSO_BITSTREAM)
		rc = -EISDIR;
	else
		rc = reader_open(c->reader, n.uuid, n.md5, n.size, &f);
	tree_node_release(&n);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)f;
	/* Content of a bitstream never changes in place (a new upload is a
	 * new bitstream), so the kernel may keep its pages. */
	fi->keep_cache = !c->direct_io;
	fi->direct_io = c->direct_io;
	fuse_reply_open(req, fi);
}

/* Serves a read straight from the content cache file (spliced). */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct reader_file *f = (struct reader_file *)(uintptr_t)fi->fh;
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
	ssize_t n;
	int fd = -1;

	(void)ino;
	n = reader_prepare(f, size, off, &fd);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	if (n == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	bv.buf[0].size = (size_t)n;
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = fd;
	bv.buf[0].pos = off;
	fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct reader_file *f = (struct reader_file *)(uintptr_t)fi->fh;

	(void)ino;
	reader_close(&f);
	fuse_reply_err(req, 0);
}

/* Sane, non-zero figures: some tools refuse a file system reporting 0. */
static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs_config *c = fs_of(req);
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_blocks = 1ULL << 30; /* 4 TiB: the server's real size is unknown */
	sv.f_bfree = fs_writable(c) ? sv.f_blocks / 2 : 0;
	sv.f_bavail = sv.f_bfree;
	sv.f_files = 1ULL << 24;
	sv.f_ffree = fs_writable(c) ? sv.f_files / 2 : 0;
	sv.f_favail = sv.f_ffree;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

/* Collects the node's extended attributes as "name\0value\0" pairs in
 * out; names go into names (NUL-separated) when that is non-NULL. */
static int collect_xattrs(struct fs_config *c, const struct tree_node *n,
			  const char *want, struct buf *value,
			  struct buf *names)
{
	struct meta_field *meta = NULL;
	size_t nmeta = 0, i;
	int found = 0, rc = 0;
	const char *type = n->type == DSO_NONE ? "repository" :
						 dso_type_name(n->type);

#define XATTR(nm, val)                                                      \
	do {                                                                \
		if (names)                                                  \
			rc = rc ? rc : buf_add(names, nm, strlen(nm) + 1);  \
		if (want && !found && strcmp(want, nm) == 0) {              \
			found = 1;                                          \
			rc = rc ? rc : buf_adds(value, val);                \
		}                                                           \
	} while (0)

	if (n->type != DSO_NONE) {
		XATTR("user.dspace.uuid", n->uuid);
		XATTR("user.dspace.type", type);
		if (n->handle && *n->handle)
			XATTR("user.dspace.handle", n->handle);
	}
	if (n->type == DSO_BITSTREAM) {
		if (n->md5[0])
			XATTR("user.dspace.md5", n->md5);
		if (n->mime && *n->mime)
			XATTR("user.mime_type", n->mime);
	}
	if (n->type != DSO_NONE && (names || (want && !found &&
					      strncmp(want, "user.", 5) == 0))) {
		int mrc = tree_metadata(c->tree, n->ino, &meta, &nmeta);

		if (mrc && mrc != -ENOENT)
			return mrc;
		for (i = 0; i < nmeta; i++) {
			struct buf key = BUF_INIT;

			if (buf_addf(&key, "user.%s", meta[i].key) == 0)
				XATTR(key.data, meta[i].value ? meta[i].value : "");
			buf_release(&key);
		}
		meta_fields_release(meta, nmeta);
	}
#undef XATTR
	if (rc)
		return rc;
	return want && !found ? -ENODATA : 0;
}

/* Replies with data, or its size when the caller asked for the size. */
static void reply_sized(fuse_req_t req, const struct buf *b, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, b->len);
	else if (b->len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, b->data ? b->data : "", b->len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct fs_config *c = fs_of(req);
	struct buf value = BUF_INIT;
	struct tree_node n;
	int rc = tree_getattr(c->tree, ino, &n);

	if (!rc) {
		rc = collect_xattrs(c, &n, name, &value, NULL);
		tree_node_release(&n);
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		reply_sized(req, &value, size);
	buf_release(&value);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs_config *c = fs_of(req);
	struct buf names = BUF_INIT;
	struct tree_node n;
	int rc = tree_getattr(c->tree, ino, &n);

	if (!rc) {
		rc = collect_xattrs(c, &n, NULL, NULL, &names);
		tree_node_release(&n);
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		reply_sized(req, &names, size);
	buf_release(&names);
}

/* Until the write path exists, every change is refused. */
static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	(void)parent;
	(void)name;
	(void)mode;
	fuse_reply_err(req, EROFS);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)fi;
	fuse_reply_err(req, EROFS);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)rdev;
	fuse_reply_err(req, EROFS);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	fuse_reply_err(req, EROFS);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	(void)parent;
	(void)name;
	(void)newparent;
	(void)newname;
	(void)flags;
	fuse_reply_err(req, EROFS);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	(void)ino;
	(void)attr;
	(void)to_set;
	(void)fi;
	fuse_reply_err(req, EROFS);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	(void)ino;
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	fuse_reply_err(req, EROFS);
}

static const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.setxattr = op_setxattr,
	.mkdir = op_mkdir,
	.mknod = op_mknod,
	.create = op_create,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.rename = op_rename,
};

/* The operation table for fuse_session_new. */
const struct fuse_lowlevel_ops *fs_operations(void)
{
	return &fs_ops;
}
