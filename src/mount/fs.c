/* fs: FUSE low-level operations → tree and reader calls (see fs.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>
#include <signal.h>

#include "util/buf.h"
#include "util/errors.h"
#include "util/log.h"
#include "core/cover.h"
#include "core/draft.h"
#include "core/edit.h"
#include "core/virt.h"
#include "core/inval.h"
#include "core/metafile.h"
#include "core/scratch.h"
#include "core/status.h"
#include "mount/fs.h"
#include "mount/caller.h"

/* Reported as st_blksize: tools such as cat and cp size their buffers
 * from it, and larger requests are what make FUSE reads fast. */
#define FS_BLKSIZE (1 << 20)

/* The kernel's read-ahead for the mount, in KiB: READs of this size (its
 * default is 128 KiB, and the INIT reply can only lower it). Not 1 MiB:
 * a reply must fit in a pipe (pipe-max-size, 1 MiB) with its header to
 * be spliced; libfuse copies larger ones through a buffer. */
#define FS_READAHEAD_KB 512

/* A directory snapshot taken at opendir, so that readdir offsets stay
 * valid while the listing is refreshed underneath. */
struct dir_handle {
	struct tree_node *nodes;
	size_t n;
	uint64_t self_ino;
	uint64_t parent_ino;
	uint64_t changes; /* edit_changes() when it was taken */
};

/* What an open file handle refers to. */
enum fh_kind {
	FH_READ,   /* a bitstream on the server, through the reader */
	FH_UPLOAD, /* a file being written (spool) */
	FH_STATUS, /* the .dspacefs-status file */
	FH_VIRT,   /* a virtual file of a directory (core/virt.h) */
	FH_META,   /* an item's metadata.json */
	FH_SCRATCH /* an editor's scratch file */
};

struct fs_file {
	enum fh_kind kind;
	struct reader_file *rf;
	uint64_t ino; /* FH_READ: the inode, and the generation of its */
	uint64_t gen; /* content it was opened on (inval.h) */
	int64_t told; /* FH_READ: the size the kernel was told (cover.h) */
	struct upload_file *uf;
	struct buf text; /* FH_STATUS: the snapshot read back */
	int wrote;	 /* FH_STATUS: commands were written */
	int writer;	 /* FH_UPLOAD: opened for writing (may publish) */
	unsigned cuts;	 /* FH_UPLOAD: upload_cuts() at open */
	struct virt_handle *vh;	     /* FH_VIRT */
	struct metafile *mf;	     /* FH_META */
	int fd;			     /* FH_SCRATCH */
	struct fs_file *prev, *next; /* in fs_open while the kernel holds it */
};

/* The handles the kernel holds, so that those it never releases (an
 * unmount while files are open) are freed by fs_detach. */
struct fs_open {
	pthread_mutex_t lock;
	struct fs_file *head;
};

/* The mount's configuration (the session's userdata). */
static struct fs_config *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Whether changes may be attempted at all on this mount. */
static int fs_writable(const struct fs_config *c)
{
	return !c->read_only && !c->anonymous;
}

/* The core modules a change goes through (edit.h), from the config. */
static struct edit edit_of(const struct fs_config *c)
{
	struct edit e = {.session = c->session,
			 .tree = c->tree,
			 .reader = c->reader,
			 .upload = c->upload,
			 .inval = c->inval,
			 .writable = fs_writable(c),
			 .meta = c->meta,
			 .scratch = c->scratch,
			 .draft = c->draft,
			 .virt = c->virt,
			 .deposit_direct = c->deposit_direct};

	return e;
}

/* Changes inside .search, .handle and .uuid are refused (views.h):
 * replies EROFS and returns 1 when a or b is a view's inode. */
static int refuse_view(fuse_req_t req, uint64_t a, uint64_t b)
{
	if (!views_owns(a) && !views_owns(b))
		return 0;
	fuse_reply_err(req, EROFS);
	return 1;
}

/* Sends an error reply: failures to reach or talk to the server become
 * EIO (util/errors.h, err_for_user). */
static void reply_err(fuse_req_t req, int negerr)
{
	fuse_reply_err(req, err_for_user(negerr));
}

/* stat of any inode (edit_getattr). */
static int get_node(struct fs_config *c, uint64_t ino, struct tree_node *n)
{
	struct edit e = edit_of(c);

	if (views_owns(ino))
		return views_getattr(c->views, ino, n);
	return edit_getattr(&e, ino, n);
}

/* Resolves name in parent (edit_lookup). */
static int lookup_node(struct fs_config *c, uint64_t parent, const char *name,
		       struct tree_node *n)
{
	struct edit e = edit_of(c);

	int r = views_lookup(c->views, parent, name, n);

	if (r != VIEWS_PASS)
		return r;
	return edit_lookup(&e, parent, name, n);
}

/* The path of name in dir as seen in the mount, for log lines. */
static char *mount_path(struct fs_config *c, uint64_t dir, const char *name)
{
	struct edit e = edit_of(c);

	return edit_path(&e, dir, name);
}

/* What a request from another local user (-o allow_other) asks for. */
enum fs_access {
	FS_READ,   /* browse or read: allowed with -o others=read */
	FS_CHANGE, /* any change: the mounting user only */
	FS_OWNER   /* the status file: the mounting user only, even to read */
};

/* How many refusals were logged in the current minute (fs_attach makes
 * it, fs_detach frees it). */
struct fs_refusals {
	pthread_mutex_t lock;
	time_t window;
	unsigned logged, dropped;
};

/* Whether a refusal is logged: at most 10 a minute, then a count. */
static int refusal_logged(struct fs_refusals *rf)
{
	time_t now = time(NULL);
	int say;

	if (!rf)
		return 1;
	pthread_mutex_lock(&rf->lock);
	if (now - rf->window >= 60) {
		if (rf->dropped)
			log_warn("%u more requests from other users refused",
				 rf->dropped);
		rf->window = now;
		rf->logged = rf->dropped = 0;
	}
	say = rf->logged < 10;
	rf->logged += say;
	rf->dropped += !say;
	pthread_mutex_unlock(&rf->lock);
	return say;
}

/* Logs a refused request with the path it named (rate: refusal_logged). */
static void log_refusal(struct fs_config *c, uid_t uid, const char *op,
			uint64_t dir, uint64_t ino, const char *name)
{
	struct tree_node n;
	char *path = NULL;

	if (!refusal_logged(c->refusals))
		return;
	if (name) {
		path = mount_path(c, dir, name);
	} else if (ino != TREE_ROOT_INO && get_node(c, ino, &n) == 0) {
		path = mount_path(c, n.parent_ino, n.name);
		tree_node_release(&n);
	}
	log_warn("refused %s of %s by uid %u: only uid %u may %s", op,
		 path ? path : "/", (unsigned)uid, (unsigned)c->owner,
		 c->others_read ? "change anything" : "use this mount");
	free(path);
}

/* Refuses (replies EACCES) a request from a user other than the one who
 * mounted: every change, and reads unless -o others=read. Returns 1 when
 * it replied. Below this adapter every request is made with the mounting
 * user's DSpace account, and only here is the caller's uid known: this
 * check must stay in the FUSE adapter, at the top of every operation,
 * however the code is reorganised. */
static int refuse_other(fuse_req_t req, enum fs_access want, const char *op,
			uint64_t dir, uint64_t ino, const char *name)
{
	struct fs_config *c = fs_of(req);
	uid_t uid = fuse_req_ctx(req)->uid;

	if (uid == c->owner || (want == FS_READ && c->others_read))
		return 0;
	log_refusal(c, uid, op, dir, ino, name);
	fuse_reply_err(req, EACCES);
	return 1;
}

/* The size a bitstream node shows: its JSON size, or the one asked from
 * the server when that was unknown (reader_size), never above
 * MODEL_SIZE_MAX. 0 or -EIO when nobody knows it. */
static int node_size(const struct fs_config *c, const struct tree_node *n,
		     off_t *size)
{
	int64_t v = n->size;

	/* Served with a cover page (core/cover.h): the size served. */
	if (c->reader && n->md5[0])
		cover_known(reader_covers(c->reader), n->uuid, n->md5, &v);
	if ((v < 0 || v > MODEL_SIZE_MAX) &&
	    (!c->reader || reader_size(c->reader, n->uuid, &v) < 0))
		return -EIO;
	*size = (off_t)(v > MODEL_SIZE_MAX ? MODEL_SIZE_MAX : v);
	return 0;
}

/* Fills a struct stat from a tree node. -EIO (with st_size 0) when the
 * size of a bitstream cannot be known: never an empty file that is not. */
static int node_to_stat(const struct fs_config *c, const struct tree_node *n,
			struct stat *st)
{
	int rc = 0;

	int is_dir = n->type != DSO_BITSTREAM;
	/* what the server lets this user change (core/modes.h) */
	int w = fs_writable(c) && !n->read_only;
	time_t t = n->mtime > 0 ? (time_t)n->mtime : c->mount_time;
	mode_t keep = c->private_modes ? 0700 : 0777;

	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	if (views_owns(n->ino)) {
		/* .search, .handle, .uuid: read-only directories and links */
		st->st_mode = views_is_link(n->ino) ? S_IFLNK | 0777
						    : S_IFDIR | (0555 & keep);
		st->st_nlink = views_is_link(n->ino) ? 1 : 2;
		st->st_size = n->size;
	} else if (n->type == DSO_NONE && n->ino != TREE_ROOT_INO) {
		/* the status file, or metadata.json */
		st->st_mode = S_IFREG | (fs_writable(c) ? 0600 : 0400);
		if (metafile_is(n->ino))
			st->st_mode =
			    S_IFREG |
			    ((fs_writable(c) && !n->read_only ? 0644 : 0444) &
			     keep);
		st->st_nlink = 1;
		st->st_size = n->size;
	} else if (is_dir) {
		st->st_mode = S_IFDIR | ((w ? 0755 : 0555) & keep);
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | ((w ? 0644 : 0444) & keep);
		st->st_nlink = 1;
		rc = node_size(c, n, &st->st_size);
		st->st_blocks = (blkcnt_t)(((uint64_t)st->st_size + 511) / 512);
	}
	st->st_blksize = FS_BLKSIZE;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_atime = st->st_mtime = st->st_ctime = t;
	if (n->mtime > 0)
		st->st_atim.tv_nsec = st->st_mtim.tv_nsec =
		    st->st_ctim.tv_nsec = (long)n->mtime_ns;
	return rc;
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
	/* An unknown size is not cached: the next stat asks (and fails);
	 * nor that of a virtual file (the size of its last snapshot). */
	if (node_to_stat(c, n, &e->attr) < 0 || virt_is(n->ino))
		e->attr_timeout = 0;
}

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape_octal(char *s)
{
	char *d = s;

	for (; *s; s++, d++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*d = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
				    (s[3] - '0'));
			s += 3;
		} else {
			*d = *s;
		}
	}
	*d = 0;
}

/* The bdi name ("0:42") of the mount on mountpoint; 0 or -ENOENT. */
static int mount_bdi(const char *mountpoint, char *dev, size_t devlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, mdev[32], mdir[4096];
	size_t cap = 0;
	int rc = -ENOENT;

	while (f && rc && getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%*d %*d %31s %*s %4095s", mdev, mdir) != 2)
			continue;
		unescape_octal(mdir);
		if (!strcmp(mdir, mountpoint) && strchr(mdev, ':')) {
			snprintf(dev, devlen, "%s", mdev);
			rc = 0; /* the last one: mounts stack */
		}
	}
	free(line);
	if (f)
		fclose(f);
	return rc;
}

/* The kernel reads a file ahead in requests of at most the mount's
 * read_ahead_kb (128), 8,192 READ round trips per GiB; only its sysfs
 * file raises that, which needs root. Done once, at the first open: the
 * INIT reply (which can only lower it) has been processed by then. */
static void raise_readahead(const struct fs_config *c)
{
	static int done;
	char dev[32], path[96];
	int fd;

	if (__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL) || !c->mountpoint ||
	    mount_bdi(c->mountpoint, dev, sizeof(dev)) < 0)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || dprintf(fd, "%d\n", FS_READAHEAD_KB) < 0)
		log_debug("read-ahead stays at the kernel's default: %s: %s",
			  path, strerror(errno));
	else
		log_info("kernel read-ahead of the mount: %d KiB (%s)",
			 FS_READAHEAD_KB, path);
	if (fd >= 0)
		close(fd);
}

/* Asks the kernel for splice and async reads when it can do them. */
static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	/* The status file's inode now, while the cache can be written:
	 * it must open also when the disk is full. */
	status_ino(((struct fs_config *)userdata)->tree);
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* Attributes come from the tree cache; the kernel keeps them for
	 * entry_ttl. Pages are not dropped on every size or time change
	 * (auto_inval_data): inval.c tells the kernel when content really
	 * changed, and opens keep the pages only of the same content.
	 * Directory contents are re-read on every opendir. */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	/* Larger write requests: fewer round trips while spooling uploads
	 * (libfuse asks the kernel for max_pages to match). */
	conn->max_write = 1 << 20;
}

/* Resolves a name in a directory. */
static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_config *c = fs_of(req);
	struct tree_node n;
	struct fuse_entry_param e;
	int rc;

	if (refuse_other(req, FS_READ, "lookup", parent, 0, name))
		return;
	/* From now on the kernel may cache entries of parent. */
	inval_dir_seen(c->inval, parent);
	rc = lookup_node(c, parent, name, &n);
	if (rc) {
		if (rc == -ENOENT) {
			/* A negative entry: the kernel need not ask again soon.
			 */
			memset(&e, 0, sizeof(e));
			e.entry_timeout = c->entry_ttl;
			fuse_reply_entry(req, &e);
			return;
		}
		reply_err(req, rc);
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

/* As op_forget, for a batch. */
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
	int rc;

	(void)fi;
	/* The root stays visible (df, file managers, automounters). */
	if (ino != TREE_ROOT_INO &&
	    refuse_other(req, FS_READ, "stat", 0, ino, NULL))
		return;
	rc = get_node(c, ino, &n);
	if (rc) {
		reply_err(req, rc);
		return;
	}
	/* Content the kernel may hold pages of was replaced meanwhile. */
	if (n.type == DSO_BITSTREAM && n.uuid[0])
		inval_check(c->inval, n.ino, n.uuid, n.md5, n.size);
	rc = node_to_stat(c, &n, &st);
	tree_node_release(&n);
	if (rc)
		reply_err(req, rc);
	else
		fuse_reply_attr(req, &st,
				virt_is(st.st_ino) ? 0 : c->entry_ttl);
}

/* FNV-1a over the bytes of one field. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--) {
		h ^= *b++;
		h *= 1099511628211ULL;
	}
	return h;
}

/* A digest of everything readdir(plus) would report for this listing. */
static uint64_t listing_hash(const struct dir_handle *d)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	h = fnv(h, &d->parent_ino, sizeof(d->parent_ino));
	for (i = 0; i < d->n; i++) {
		const struct tree_node *n = &d->nodes[i];

		h = fnv(h, &n->ino, sizeof(n->ino));
		h = fnv(h, n->name, strlen(n->name) + 1);
		h = fnv(h, &n->type, sizeof(n->type));
		h = fnv(h, &n->size, sizeof(n->size));
		h = fnv(h, &n->mtime, sizeof(n->mtime));
	}
	return h;
}

/* Snapshots the listing of a directory. */
static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs_config *c = fs_of(req);
	struct edit e = edit_of(c);
	struct dir_handle *d;
	struct tree_node self;
	int rc;

	if (refuse_other(req, FS_READ, "opendir", 0, ino, NULL))
		return;
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = views_owns(ino) ? views_getattr(c->views, ino, &self)
			     : tree_getattr(c->tree, ino, &self);
	if (rc)
		goto fail;
	d->self_ino = ino;
	d->parent_ino = self.parent_ino ? self.parent_ino : ino;
	inval_dir_seen(c->inval, ino);
	if (self.type == DSO_BITSTREAM || views_is_link(ino))
		rc = -ENOTDIR;
	tree_node_release(&self);
	if (rc)
		goto fail;
	d->changes = edit_changes(&e);
	if (views_owns(ino))
		rc = views_list(c->views, ino, &d->nodes, &d->n);
	else
		rc = edit_list(&e, ino, &d->nodes, &d->n);
	if (rc)
		goto fail;
	fi->fh = (uintptr_t)d;
	/* The kernel keeps the entries it read (FOPEN_CACHE_DIR); it may
	 * reuse them (FOPEN_KEEP_CACHE) only while the listing is the same
	 * as the one it cached. */
	fi->cache_readdir = 1;
	fi->keep_cache =
	    inval_listing_unchanged(c->inval, ino, listing_hash(d));
	fuse_reply_open(req, fi);
	return;
fail:
	free(d);
	reply_err(req, rc);
}

/* Shared body of readdir and readdirplus: offsets 1 and 2 are "." and
 * "..", offset k+3 follows child k. */
static void do_readdir(fuse_req_t req, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct fs_config *c = fs_of(req);
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	char *out;
	size_t used = 0;
	off_t i;
	struct edit ed = edit_of(c);
	/* A snapshot older than a rename or removal may name an inode by
	 * a name it no longer has, or an overwritten file's old size: no
	 * dentry or attributes from it (ino 0), only names. */
	int link = plus && edit_changes(&ed) == d->changes;

	if (refuse_other(req, FS_READ, "readdir", 0, d->self_ino, NULL))
		return;
	out = malloc(size);
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
			if (!link)
				e.ino = 0;
		}
		if (plus) {
			need = fuse_add_direntry_plus(
			    req, out + used, size - used, name, &e, i + 1);
		} else {
			need = fuse_add_direntry(req, out + used, size - used,
						 name, &e.attr, i + 1);
		}
		if (need > size - used)
			break; /* the entry did not fit: the kernel asks again
				*/
		used += need;
	}
	fuse_reply_buf(req, out, used);
	free(out);
}

/* readdir: names and modes. */
static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, 0);
}

/* readdirplus: names with their attributes. */
static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, 1);
}

/* Frees the snapshot taken at opendir. */
static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;

	(void)ino;
	tree_nodes_release(d->nodes, d->n);
	free(d);
	fuse_reply_err(req, 0);
}

/* Allocates a handle of kind. */
static struct fs_file *fh_new(enum fh_kind kind)
{
	struct fs_file *h = calloc(1, sizeof(*h));

	if (h)
		h->kind = kind;
	return h;
}

/* Records h as held by the kernel (stored in a fuse_file_info). */
static void fh_keep(struct fs_config *c, struct fs_file *h)
{
	if (!c->open)
		return;
	pthread_mutex_lock(&c->open->lock);
	h->prev = NULL;
	h->next = c->open->head;
	if (h->next)
		h->next->prev = h;
	c->open->head = h;
	pthread_mutex_unlock(&c->open->lock);
}

/* Frees h, which the kernel released. */
static void fh_free(struct fs_config *c, struct fs_file *h)
{
	if (c->open) {
		pthread_mutex_lock(&c->open->lock);
		if (h->prev)
			h->prev->next = h->next;
		else if (c->open->head == h)
			c->open->head = h->next;
		if (h->next)
			h->next->prev = h->prev;
		pthread_mutex_unlock(&c->open->lock);
	}
	buf_release(&h->text);
	free(h);
}

/* Gives the kernel h, a file made here (status file, virtual files): one
 * snapshot per open, never in the page cache. */
static void hand_virtual(struct fs_config *c, struct fs_file *h,
			 struct fuse_file_info *fi)
{
	fi->fh = (uintptr_t)h;
	fh_keep(c, h);
	fi->direct_io = 1;
	fi->keep_cache = 0;
}

/* The handle stored in fi by an open. */
static struct fs_file *fh_of(struct fuse_file_info *fi)
{
	return (struct fs_file *)(uintptr_t)fi->fh;
}

/* Opens the status file: a snapshot to read, or commands to write. */
static int open_status(struct fs_config *c, struct fuse_file_info *fi)
{
	struct fs_file *h = fh_new(FH_STATUS);
	struct edit e = edit_of(c);
	struct status_src src = edit_status_src(&e);
	int r;

	if (!h)
		return -ENOMEM;
	r = status_open(&src, (fi->flags & O_ACCMODE) != O_RDONLY,
			fs_writable(c), &h->text);
	if (r < 0) {
		free(h);
		return r;
	}
	hand_virtual(c, h, fi);
	return 0;
}

/* Opens a virtual file: one snapshot per open, served direct_io. */
static int open_virt(struct fs_config *c, uint64_t ino,
		     struct fuse_file_info *fi)
{
	struct fs_file *h = fh_new(FH_VIRT);
	struct edit e = edit_of(c);
	int r;

	if (!h)
		return -ENOMEM;
	r = edit_virt_open(&e, ino, (fi->flags & O_ACCMODE) != O_RDONLY,
			   &h->vh);
	if (r < 0) {
		free(h);
		return r;
	}
	hand_virtual(c, h, fi);
	return 0;
}

/* Opens metadata.json (a snapshot) or a scratch file. */
static int open_itemfile(struct fs_config *c, uint64_t ino,
			 struct fuse_file_info *fi)
{
	int trunc = (fi->flags & O_TRUNC) != 0;
	struct fs_file *h = fh_new(FH_META);
	struct tree_node n;
	int r;

	if (!h)
		return -ENOMEM;
	if (metafile_is(ino) &&
	    (fi->flags & (O_ACCMODE | O_TRUNC)) != O_RDONLY &&
	    get_node(c, ino, &n) == 0) {
		r = n.read_only ? -EACCES : 0;
		tree_node_release(&n);
		if (r < 0) {
			free(h);
			return r;
		}
	}
	if (metafile_is(ino)) {
		r = c->meta ? metafile_open(c->meta, ino, trunc,
					    (fi->flags & O_ACCMODE) == O_WRONLY,
					    &h->mf)
			    : -ENOENT;
	} else {
		h->kind = FH_SCRATCH;
		h->fd = r = c->scratch
				? scratch_open(c->scratch, ino, fi->flags)
				: -ENOENT;
	}
	if (r < 0) {
		free(h);
		return r;
	}
	hand_virtual(c, h, fi);
	return 0;
}

/* Reads or writes a metadata.json or scratch handle (write: buf set). */
static ssize_t itemfile_io(struct fs_file *h, char *rbuf, const char *wbuf,
			   size_t size, off_t off)
{
	ssize_t n;

	if (h->kind == FH_META)
		return wbuf ? metafile_write(h->mf, wbuf, size, off)
			    : metafile_read(h->mf, rbuf, size, off);
	n = wbuf ? pwrite(h->fd, wbuf, size, off)
		 : pread(h->fd, rbuf, size, off);
	return n < 0 ? -errno : n;
}

/* Opens a bitstream to read: the kernel may keep its pages of this inode
 * only when they are of this very content (an overwrite keeps the
 * inode). Returns whether reads must bypass the page cache. */
static int open_read(struct fs_config *c, const struct tree_node *n,
		     struct fs_file *h, struct fuse_file_info *fi, int *direct)
{
	struct edit e = edit_of(c);
	int r = reader_open(c->reader, n->uuid, n->md5, n->size, &h->rf);
	int how;

	if (r < 0)
		return r;
	how = inval_open(c->inval, n->ino, n->uuid, n->md5, n->size, &h->gen);
	/* Replaced between the lookup and inval_open: that generation is
	 * the new content's, the handle would read the old one under it
	 * (the kernel then zero-fills past its end). Look up again. */
	if (!edit_same_content(&e, n)) {
		inval_close(c->inval, n->ino, h->gen);
		reader_close(&h->rf);
		h->gen = 0;
		return -EAGAIN;
	}
	h->ino = n->ino;
	/* Content new to the kernel: its cached size may be another
	 * version's; a read past it must ask (inval_attr_now). */
	if (how != INVAL_KEEP_CACHE)
		inval_attr_now(c->inval, n->ino);
	fi->keep_cache = !c->direct_io && how == INVAL_KEEP_CACHE;
	*direct = c->direct_io || how == INVAL_DIRECT;
	/* A cover page (core/cover.h): each open reads its own document,
	 * so never the kernel's pages (nor its idea of the size) of another. */
	h->told = n->size;
	if (reader_served_size(h->rf) >= 0) {
		fi->keep_cache = 0;
		*direct = 1;
	}
	return 0;
}

/* Opens inode ino (shared by open and create on an existing name). */
static int do_open(struct fs_config *c, uint64_t ino, struct fuse_file_info *fi)
{
	int wr = (fi->flags & O_ACCMODE) != O_RDONLY;
	int trunc = (fi->flags & O_TRUNC) != 0;
	struct edit e = edit_of(c);
	struct fs_file *h;
	struct tree_node n;
	int direct = c->direct_io, r, tries = 0;

	raise_readahead(c);
	if (status_is(c->tree, ino))
		return open_status(c, fi);
	if (virt_is(ino))
		return open_virt(c, ino, fi);
	if ((wr || trunc) && !fs_writable(c))
		return -EROFS;
	if (metafile_is(ino) || scratch_is(ino))
		return open_itemfile(c, ino, fi);
	h = fh_new(FH_READ);
	if (!h)
		return -ENOMEM;
again:
	/* Being written: every open shares its spool. */
	r = edit_open_pending(&e, ino, trunc, &h->uf);
	if (r < 0 || h->uf)
		goto done;
	r = tree_getattr(c->tree, ino, &n);
	if (r < 0)
		goto done;
	if (n.type != DSO_BITSTREAM)
		r = -EISDIR;
	else if (wr || trunc)
		r = edit_overwrite(&e, &n, trunc, -1, &h->uf);
	else
		r = open_read(c, &n, h, fi, &direct);
	tree_node_release(&n);
	if (r == -EAGAIN && ++tries < 4)
		goto again;
	if (r == -EAGAIN)
		r = -ESTALE; /* replaced again and again meanwhile */
done:
	if (r < 0) {
		free(h);
		return r;
	}
	fi->fh = (uintptr_t)h;
	fh_keep(c, h);
	if (h->uf) {
		h->kind = FH_UPLOAD;
		h->writer = wr || trunc;
		h->cuts = upload_cuts(h->uf);
		if (h->writer)
			upload_writer_open(h->uf);
		fi->direct_io = 1;
	} else {
		fi->direct_io = direct;
	}
	return 0;
}

/* What opening ino with fi->flags asks for (see refuse_other). */
static enum fs_access open_access(struct fs_config *c, uint64_t ino,
				  const struct fuse_file_info *fi)
{
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return FS_CHANGE;
	return status_is(c->tree, ino) ? FS_OWNER : FS_READ;
}

/* open(2): the status file, a file being written or a bitstream. */
static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int r;

	if (refuse_other(req, open_access(fs_of(req), ino, fi), "open", 0, ino,
			 NULL))
		return;
	r = do_open(fs_of(req), ino, fi);
	if (r < 0)
		reply_err(req, r);
	else
		fuse_reply_open(req, fi);
}

/* Reads a bitstream: from a stream's buffers while they hold the bytes,
 * else spliced from the content cache (op_read). */
static void read_bitstream(fuse_req_t req, struct fs_file *h, size_t size,
			   off_t off)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
	struct reader_mem mem;
	struct inval *inv;
	uint64_t ino;
	ssize_t n;
	int fd = -1, after;

	/* A handle on a replaced version never puts old bytes into the
	 * page cache that readers of the new one share. */
	if (!inval_current(fs_of(req)->inval, h->ino, h->gen)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	n = reader_prepare_mem(h->rf, size, off, &fd, &mem);
	if (n < 0) {
		reply_err(req, (int)n);
		return;
	}
	if (!inval_current(fs_of(req)->inval, h->ino, h->gen)) {
		reader_release(&mem);
		fuse_reply_err(req, ESTALE);
		return;
	}
	/* A cover page (core/cover.h): a larger size is told before its
	 * bytes, a smaller one after the reply (req and h may be gone). */
	inv = fs_of(req)->inval;
	ino = h->ino;
	after = cover_tell(inv, ino, reader_served_size(h->rf), &h->told);
	if (n == 0) {
		fuse_reply_buf(req, NULL, 0);
	} else if (mem.n) { /* a stream's latest bytes, still in memory */
		fuse_reply_iov(req, mem.iov, mem.n);
		reader_release(&mem);
	} else {
		bv.buf[0].size = (size_t)n;
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = fd;
		bv.buf[0].pos = off;
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
	}
	if (after)
		inval_attr_now(inv, ino);
}

/* Reads a file being written (its spool). A reader whose version was cut
 * (an O_TRUNC open or truncate since its open: a new version) gets ESTALE,
 * never the new version's bytes after the old one's head; writers share
 * the spool as with a local file. */
static ssize_t read_upload(struct fs_file *h, char *b, size_t size, off_t off)
{
	ssize_t n;

	if (!h->writer && upload_cuts(h->uf) != h->cuts)
		return -ESTALE;
	n = upload_read(h->uf, b, size, off);
	if (n > 0 && !h->writer && upload_cuts(h->uf) != h->cuts)
		return -ESTALE;
	return n;
}

/* Reads from a bitstream (spliced from the content cache), a spool or
 * the status snapshot. */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_file *h = fh_of(fi);
	struct inval *inv;
	ssize_t n;

	if (refuse_other(req, h->kind == FH_STATUS ? FS_OWNER : FS_READ, "read",
			 0, ino, NULL))
		return;
	if (h->kind == FH_STATUS || h->kind == FH_VIRT) {
		const struct buf *t =
		    h->kind == FH_VIRT ? virt_text(h->vh) : &h->text;
		size_t len = t->len, cnt = 0;
		char *b;

		if ((size_t)off < len)
			cnt =
			    len - (size_t)off < size ? len - (size_t)off : size;
		/* A copy: once the reply is out the reader may close the file,
		 * and its release frees h (while the reply's buffer is still
		 * being looked at after the write to /dev/fuse). */
		b = malloc(cnt ? cnt : 1);
		if (!b) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		if (cnt)
			memcpy(b, t->data + off, cnt);
		fuse_reply_buf(req, b, cnt);
		free(b);
		return;
	}
	if (h->kind == FH_UPLOAD || h->kind == FH_META ||
	    h->kind == FH_SCRATCH) {
		char *b = malloc(size ? size : 1);

		if (!b) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		n = h->kind == FH_UPLOAD ? read_upload(h, b, size, off)
					 : itemfile_io(h, b, NULL, size, off);
		if (n < 0)
			reply_err(req, (int)n);
		else
			fuse_reply_buf(req, b, (size_t)n);
		free(b);
		return;
	}
	/* Bracketed: a data invalidation of this inode waits for the
	 * answer (the kernel holds the pages locked until then). req and
	 * h may be gone once answered. */
	inv = fs_of(req)->inval;
	ino = h->ino;
	inval_read_begin(inv, ino);
	read_bitstream(req, h, size, off);
	inval_read_end(inv, ino);
}

/* Writes to a spool, or runs commands written to the status file. */
static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs_file *h = fh_of(fi);
	ssize_t n;

	if (refuse_other(req, FS_CHANGE, "write", 0, ino, NULL))
		return;
	if (h->kind == FH_STATUS) {
		struct edit e = edit_of(fs_of(req));
		struct status_src src = edit_status_src(&e);
		int r = status_commands(&src, buf, size);

		if (r < 0)
			reply_err(req, r);
		else
			fuse_reply_write(req, size);
		return;
	}
	if (h->kind == FH_VIRT) {
		n = virt_write(h->vh, buf, size); /* 0: every byte taken */
		if (n == 0)
			n = (ssize_t)size;
	} else if (h->kind == FH_META || h->kind == FH_SCRATCH)
		n = itemfile_io(h, NULL, buf, size, off);
	else if (h->kind != FH_UPLOAD)
		n = -EBADF;
	else
		n = upload_write(h->uf, buf, size, off);
	if (n < 0)
		reply_err(req, (int)n);
	else
		fuse_reply_write(req, (size_t)n);
}

/* FUSE_INTERRUPT of a flush: the writer got a signal in close(); when it
 * kills the writer, the file is not published. */
static void flush_interrupted(fuse_req_t req, void *data)
{
	if (caller_killed(fuse_req_ctx(req)->pid))
		upload_abandon(data, "the writer was killed while closing");
}

/* Whether a close of h may be the writer's last: not when nothing was
 * written yet and the caller holds another writable descriptor of the
 * file. The shell's "> f" opens the file, dup2()s it onto standard output
 * and closes the first descriptor before the command writes: an upload
 * there would publish an empty version first. The release commits. */
static int flush_is_last(fuse_req_t req, fuse_ino_t ino,
			 const struct fs_file *h)
{
	return !h->writer || upload_written(h->uf) ||
	       !caller_holds_writer(fuse_req_ctx(req)->pid, ino);
}

/* close(): a file being written is uploaded now, so that close reports
 * a failure; not when the writer was killed by a signal (the kernel
 * closes its files as it exits) or is interrupted meanwhile. */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_file *h = fh_of(fi);
	char why[96];
	int r = 0, sig;

	if (h->kind == FH_UPLOAD) {
		sig = caller_dying_of_signal(fuse_req_ctx(req)->pid);
		if (sig) {
			snprintf(why, sizeof(why),
				 "the writer was killed by signal %d (%s)", sig,
				 strsignal(sig));
			upload_abandon(h->uf, why);
		}
		fuse_req_interrupt_func(req, flush_interrupted, h->uf);
		r = flush_is_last(req, ino, h) ? upload_flush(h->uf, h->writer)
					       : 0;
		/* waits for a callback under way; none after this */
		fuse_req_interrupt_func(req, NULL, NULL);
	} else if (h->kind == FH_META) {
		r = metafile_commit(fs_of(req)->meta, h->mf);
	}
	reply_err(req, r);
}

/* fsync(2) uploads like close. */
static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	(void)datasync;
	op_flush(req, ino, fi);
}

/* The last close of a handle: frees it. */
static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs_file *h = fh_of(fi);

	(void)ino;
	if (h->rf) {
		reader_close(&h->rf);
		inval_close(fs_of(req)->inval, h->ino, h->gen);
	}
	if (h->uf && h->writer)
		upload_writer_close(h->uf);
	if (h->uf)
		upload_unref(&h->uf);
	virt_close(&h->vh);
	if (h->kind == FH_META) {
		metafile_commit(fs_of(req)->meta, h->mf);
		metafile_close(&h->mf);
	}
	if (h->kind == FH_SCRATCH && h->fd >= 0)
		close(h->fd);
	fh_free(fs_of(req), h);
	fuse_reply_err(req, 0);
}

/* The figures of the disk holding the cache and spool (see the man page:
 * STATFS); no room on a read-only mount. */
static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs_config *c = fs_of(req);
	struct statvfs sv;

	(void)ino;
	/* DSpace publishes no capacity; what bounds a write through the
	 * mount is the room for its spool, next to the content cache. */
	if (reader_space(c->reader, &sv) < 0)
		memset(&sv, 0, sizeof(sv));
	if (!fs_writable(c))
		sv.f_bfree = sv.f_bavail = sv.f_ffree = sv.f_favail = 0;
	sv.f_bsize = sv.f_bsize ? sv.f_bsize : 4096;
	sv.f_frsize = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
	sv.f_flag = 0;
	sv.f_fsid = 0;
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
	int64_t cover;
	int found = 0, rc = 0;
	const char *type =
	    n->type == DSO_NONE ? "repository" : dso_type_name(n->type);

#define XATTR(nm, val)                                                         \
	do {                                                                   \
		if (names)                                                     \
			rc = rc ? rc : buf_add(names, nm, strlen(nm) + 1);     \
		if (want && !found && strcmp(want, nm) == 0) {                 \
			found = 1;                                             \
			rc = rc ? rc : buf_adds(value, val);                   \
		}                                                              \
	} while (0)

	if (n->type != DSO_NONE) {
		XATTR("user.dspace.uuid", n->uuid);
		XATTR("user.dspace.type", type);
		if (n->handle && *n->handle)
			XATTR("user.dspace.handle", n->handle);
	}
	if (n->type == DSO_ITEM) {
		const char *st = draft_state(c->draft, n->uuid);

		XATTR("user.dspace.state", st ? st : "archived");
	}
	if (n->type == DSO_BITSTREAM) {
		if (n->md5[0])
			XATTR("user.dspace.md5", n->md5);
		if (n->md5[0] && cover_known(reader_covers(c->reader), n->uuid,
					     n->md5, &cover))
			XATTR("user.dspace.cover_page", "1");
		if (n->mime && *n->mime)
			XATTR("user.mime_type", n->mime);
	}
	if (n->type != DSO_NONE &&
	    (names || (want && !found && strncmp(want, "user.", 5) == 0))) {
		int mrc = tree_metadata(c->tree, n->ino, &meta, &nmeta);

		if (mrc && mrc != -ENOENT)
			return mrc;
		for (i = 0; i < nmeta; i++) {
			struct buf key = BUF_INIT;

			if (buf_addf(&key, "user.%s", meta[i].key) == 0)
				XATTR(key.data,
				      meta[i].value ? meta[i].value : "");
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

/* getxattr: one user.* attribute (the object's fields, metadata). */
static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct fs_config *c = fs_of(req);
	struct buf value = BUF_INIT;
	struct tree_node n;
	int rc;

	if (refuse_other(req, FS_READ, "getxattr", 0, ino, NULL))
		return;
	/* We only have user.* attributes. For the other namespaces (SELinux
	 * labels, POSIX ACLs) "not supported" is both true and cheap: ls -l
	 * then stops asking for the rest of the file system, instead of two
	 * round trips per entry. */
	if (strncmp(name, "user.", 5) != 0) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (metafile_is(ino) || scratch_is(ino) || virt_is(ino)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	rc = tree_getattr(c->tree, ino, &n);
	if (!rc) {
		rc = collect_xattrs(c, &n, name, &value, NULL);
		tree_node_release(&n);
	}
	if (rc)
		reply_err(req, rc);
	else
		reply_sized(req, &value, size);
	buf_release(&value);
}

/* listxattr: the names of the user.* attributes. */
static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs_config *c = fs_of(req);
	struct buf names = BUF_INIT;
	struct tree_node n;
	int rc;

	if (refuse_other(req, FS_READ, "listxattr", 0, ino, NULL))
		return;
	rc = virt_is(ino) ? 0 : tree_getattr(c->tree, ino, &n);
	if (!rc && !virt_is(ino)) {
		rc = collect_xattrs(c, &n, NULL, NULL, &names);
		tree_node_release(&n);
	}
	if (rc)
		reply_err(req, rc);
	else
		reply_sized(req, &names, size);
	buf_release(&names);
}

/* Replies with the entry of node n made by a change (r 0), or r. */
static void reply_made(fuse_req_t req, int r, struct tree_node *n)
{
	struct fuse_entry_param e;

	if (r < 0) {
		reply_err(req, r);
		return;
	}
	node_to_entry(fs_of(req), n, &e);
	tree_node_release(n);
	fuse_reply_entry(req, &e);
}

/* Creates a directory: an item in a collection (with an empty ORIGINAL
 * bundle) or a bundle in an item. */
static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct edit e = edit_of(fs_of(req));
	struct tree_node n;

	(void)mode;
	if (refuse_other(req, FS_CHANGE, "mkdir", parent, 0, name) ||
	    refuse_view(req, parent, 0))
		return;
	reply_made(req, edit_mkdir(&e, parent, name, &n), &n);
}

/* Creates (or opens, when it exists) a file in a bundle. */
static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fs_config *c = fs_of(req);
	struct edit e = edit_of(c);
	struct fuse_entry_param ep;
	struct tree_node n;
	struct fs_file *h;
	int r;

	(void)mode;
	if (refuse_other(req, FS_CHANGE, "create", parent, 0, name) ||
	    refuse_view(req, parent, 0))
		return;
	h = fh_new(FH_UPLOAD);
	r = h ? edit_create(&e, parent, name, (fi->flags & O_EXCL) != 0, &h->uf,
			    &n)
	      : -ENOMEM;
	if (r == 0 && !h->uf) {
		/* It exists: opened as by open(2). */
		uint64_t ino = n.ino;

		tree_node_release(&n);
		r = do_open(c, ino, fi);
		if (r == 0)
			r = get_node(c, ino, &n);
	}
	if (r < 0) {
		free(h);
		reply_err(req, r);
		return;
	}
	if (h->uf) {
		h->writer = 1;
		upload_writer_open(h->uf);
		fi->fh = (uintptr_t)h;
		fh_keep(c, h);
		fi->direct_io = 1;
	} else {
		free(h);
	}
	node_to_entry(c, &n, &ep);
	tree_node_release(&n);
	fuse_reply_create(req, &ep, fi);
}

/* Only regular files can be made, through create. */
static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct edit e = edit_of(fs_of(req));
	struct tree_node n;

	(void)rdev;
	if (refuse_other(req, FS_CHANGE, "mknod", parent, 0, name) ||
	    refuse_view(req, parent, 0))
		return;
	reply_made(req, edit_mknod(&e, parent, name, mode, &n), &n);
}

/* unlink(2) (edit_remove). */
static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct edit e = edit_of(fs_of(req));

	if (refuse_other(req, FS_CHANGE, "unlink", parent, 0, name) ||
	    refuse_view(req, parent, 0))
		return;
	reply_err(req, edit_remove(&e, parent, name, 0));
}

/* rmdir(2) (edit_remove). */
static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct edit e = edit_of(fs_of(req));

	if (refuse_other(req, FS_CHANGE, "rmdir", parent, 0, name) ||
	    refuse_view(req, parent, 0))
		return;
	reply_err(req, edit_remove(&e, parent, name, 1));
}

/* rename(2) (edit_rename). */
static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct edit e = edit_of(fs_of(req));

	if (refuse_other(req, FS_CHANGE, "rename", parent, 0, name) ||
	    refuse_view(req, parent, newparent))
		return;
	reply_err(req,
		  edit_rename(&e, parent, name, newparent, newname, flags));
}

/* A size of metadata.json (its open handle's save; without a handle an
 * empty save, refused) or of a scratch file; times are not kept. */
static int setattr_itemfile(struct fs_config *c, uint64_t ino,
			    struct fs_file *h, int what, off_t size)
{
	if (!(what & EDIT_SET_SIZE))
		return fs_writable(c) ? 0 : -EROFS;
	if (!fs_writable(c))
		return -EROFS;
	if (scratch_is(ino))
		return scratch_truncate(c->scratch, ino, size);
	if (h && h->kind == FH_META)
		return metafile_truncate(h->mf, size);
	return -EINVAL;
}

/* chmod/chown succeed (nothing to keep); times are kept locally; a size
 * truncates a file being written, or overwrites an uploaded one. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fs_config *c = fs_of(req);
	struct edit e = edit_of(c);
	struct fs_file *h = fi ? fh_of(fi) : NULL;
	struct tree_node n;
	struct stat st;
	int what = 0, r;

	if (refuse_other(req, FS_CHANGE, "setattr", 0, ino, NULL) ||
	    refuse_view(req, ino, 0))
		return;
	if (to_set & FUSE_SET_ATTR_SIZE)
		what |= EDIT_SET_SIZE;
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))
		what |= EDIT_SET_MTIME;
	if (metafile_is(ino) || scratch_is(ino))
		r = setattr_itemfile(c, ino, h, what, attr->st_size);
	else
		r = edit_setattr(
		    &e, ino, h && h->kind == FH_UPLOAD ? h->uf : NULL, what,
		    attr->st_size,
		    to_set & FUSE_SET_ATTR_MTIME_NOW ? NULL : &attr->st_mtim);
	if (r == 0)
		r = get_node(c, ino, &n);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	node_to_stat(c, &n, &st);
	tree_node_release(&n);
	fuse_reply_attr(req, &st, c->entry_ttl);
}

/* setfattr user.FIELD: the object's metadata field (edit_xattr_set). */
static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	struct edit e = edit_of(fs_of(req));

	(void)flags;
	if (refuse_other(req, FS_CHANGE, "setxattr", 0, ino, NULL) ||
	    refuse_view(req, ino, 0))
		return;
	reply_err(req, edit_xattr_set(&e, ino, name, value, size));
}

/* setfattr -x user.FIELD: the field removed (edit_xattr_set). */
static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct edit e = edit_of(fs_of(req));

	(void)name;
	if (refuse_other(req, FS_CHANGE, "removexattr", 0, ino, NULL) ||
	    refuse_view(req, ino, 0))
		return;
	reply_err(req, edit_xattr_set(&e, ino, name, NULL, 0));
}

/* The target of a link in .search or .handle. */
static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs_config *c = fs_of(req);
	char *target = NULL;
	int rc;

	if (refuse_other(req, FS_READ, "readlink", 0, ino, NULL))
		return;
	rc = views_readlink(c->views, ino, &target);
	if (rc) {
		reply_err(req, rc);
		return;
	}
	fuse_reply_readlink(req, target);
	free(target);
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
    .write = op_write,
    .flush = op_flush,
    .fsync = op_fsync,
    .release = op_release,
    .statfs = op_statfs,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .setxattr = op_setxattr,
    .removexattr = op_removexattr,
    .mkdir = op_mkdir,
    .mknod = op_mknod,
    .create = op_create,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .rename = op_rename,
    .readlink = op_readlink,
};

/* inval's sink: one invalidation request to the kernel. Runs on inval's
 * worker thread, never inside a request handler, except attributes
 * (inval_attr_now: no page lock involved). */
static int notify_kernel(void *arg, const struct inval_req *r)
{
	struct fuse_session *se = arg;

	switch (r->kind) {
	case INVAL_DATA:
		return fuse_lowlevel_notify_inval_inode(se, r->ino, 0, 0);
	case INVAL_ATTR:
		return fuse_lowlevel_notify_inval_inode(se, r->ino, -1, 0);
	case INVAL_ENTRY:
		return fuse_lowlevel_notify_inval_entry(se, r->ino, r->name,
							strlen(r->name));
	}
	return -EINVAL;
}

/* Sets up fs's own state and hands inval fs's sink: the kernel hears of
 * changes from now on. */
int fs_attach(struct fs_config *c, struct fuse_session *se)
{
	c->refusals = calloc(1, sizeof(*c->refusals));
	if (!c->refusals)
		return -ENOMEM;
	pthread_mutex_init(&c->refusals->lock, NULL);
	c->open = calloc(1, sizeof(*c->open));
	if (!c->open)
		return -ENOMEM;
	pthread_mutex_init(&c->open->lock, NULL);
	return c->inval ? inval_start(c->inval, notify_kernel, se) : 0;
}

/* Frees the handles the kernel never released (unmounted while open): a
 * file still being written is kept as incomplete, never published. */
static void release_left_open(struct fs_config *c)
{
	struct fs_file *h;

	while (c->open && (h = c->open->head)) {
		if (h->rf)
			reader_close(&h->rf);
		if (h->uf && upload_pending(h->uf))
			upload_abandon(h->uf, "the mount went away while the "
					      "file was still open");
		if (h->uf)
			upload_unref(&h->uf);
		if (h->kind == FH_META)
			metafile_close(&h->mf); /* not saved: never closed */
		if (h->kind == FH_SCRATCH && h->fd >= 0)
			close(h->fd);
		virt_discard(&h->vh); /* a partial line is not acted on */
		fh_free(c, h);
	}
	if (c->open) {
		pthread_mutex_destroy(&c->open->lock);
		free(c->open);
		c->open = NULL;
	}
}

/* Stops inval's worker before the session goes away; frees fs's state. */
void fs_detach(struct fs_config *c)
{
	inval_stop(c->inval);
	release_left_open(c);
	if (c->refusals) {
		pthread_mutex_destroy(&c->refusals->lock);
		free(c->refusals);
		c->refusals = NULL;
	}
}

/* The operation table for fuse_session_new. */
const struct fuse_lowlevel_ops *fs_operations(void)
{
	return &fs_ops;
}
