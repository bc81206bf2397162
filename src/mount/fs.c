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

#include "util/buf.h"
#include "core/cache.h"
#include "mount/fs.h"
#include "core/inval.h"
#include "util/errors.h"
#include "util/log.h"
#include "dspace/rest.h"

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

/* What an open file handle refers to. */
enum fh_kind {
	FH_READ,   /* a bitstream on the server, through the reader */
	FH_UPLOAD, /* a file being written (spool) */
	FH_STATUS  /* the .dspacefs-status file */
};

struct fs_file {
	enum fh_kind kind;
	struct reader_file *rf;
	uint64_t ino; /* FH_READ: the inode, and the generation of its */
	uint64_t gen; /* content it was opened on (inval.h) */
	struct upload_file *uf;
	struct buf text; /* FH_STATUS: the snapshot read back */
	int wrote;	 /* FH_STATUS: commands were written */
};

/* Chunk for copying a bitstream into a spool (open without O_TRUNC). */
#define COPY_CHUNK (1 << 20)

/* The inode of the status file, allocated once per cache database. */
static uint64_t status_ino_v;
static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;

static struct fs_config *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Sends an error reply: failures to reach or talk to the server become
 * EIO (util/errors.h, err_for_user). */
static void reply_err(fuse_req_t req, int negerr)
{
	fuse_reply_err(req, err_for_user(negerr));
}

/* The status file's inode (0 when none could be allocated). */
static uint64_t status_ino(struct fs_config *c)
{
	uint64_t ino;

	pthread_mutex_lock(&status_lock);
	if (!status_ino_v && c->tree &&
	    cache_alloc_ino(tree_cache(c->tree), "local:status",
			    &status_ino_v) < 0)
		status_ino_v = 0;
	ino = status_ino_v;
	pthread_mutex_unlock(&status_lock);
	return ino;
}

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

/* The status file as a node (type DSO_NONE; node_to_stat knows it). */
static int status_node(struct fs_config *c, struct tree_node *n)
{
	struct buf b = BUF_INIT;

	memset(n, 0, sizeof(*n));
	n->ino = status_ino(c);
	n->parent_ino = TREE_ROOT_INO;
	n->type = DSO_NONE;
	n->name = strdup(TREE_STATUS_NAME);
	if (!n->ino || !n->name) {
		free(n->name);
		return -ENOMEM;
	}
	if (c->upload && upload_status_text(c->upload, &b) == 0)
		n->size = (int64_t)b.len;
	buf_release(&b);
	return 0;
}

/* stat of any inode: the status file, a file being written, or the
 * tree's view. */
static int get_node(struct fs_config *c, uint64_t ino, struct tree_node *n)
{
	struct upload_file *f;
	int r;

	if (ino != TREE_ROOT_INO && ino == status_ino(c))
		return status_node(c, n);
	f = c->upload ? upload_find(c->upload, ino) : NULL;
	if (f) {
		r = upload_node(f, n);
		upload_unref(&f);
		return r;
	}
	return tree_getattr(c->tree, ino, n);
}

/* Resolves name in parent: the status file, files being written, then
 * the tree. */
static int lookup_node(struct fs_config *c, uint64_t parent, const char *name,
		       struct tree_node *n)
{
	struct upload_file *f;
	int r;

	if (parent == TREE_ROOT_INO && !strcmp(name, TREE_STATUS_NAME))
		return status_node(c, n);
	f = c->upload ? upload_find_name(c->upload, parent, name) : NULL;
	if (f) {
		r = upload_node(f, n);
		upload_unref(&f);
		return r;
	}
	return tree_lookup(c->tree, parent, name, n);
}

/* The path of name in dir as seen in the mount ("/a/b/name"). */
static char *mount_path(struct fs_config *c, uint64_t dir, const char *name)
{
	struct buf b = BUF_INIT;
	char *parts[64];
	int k = 0, rc = 0;
	uint64_t ino = dir;

	while (ino != TREE_ROOT_INO && ino && k < 64) {
		struct tree_node n;

		if (tree_getattr(c->tree, ino, &n) < 0)
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

/* Logs a change made through the mount at info, with its path (and the
 * new path of a rename or move: dir2 non-zero). */
static void log_change(struct fs_config *c, const char *what, uint64_t dir,
		       const char *name, uint64_t dir2, const char *name2)
{
	char *p = mount_path(c, dir, name);
	char *p2 = dir2 ? mount_path(c, dir2, name2) : NULL;

	log_info("%s %s%s%s", what, p ? p : name, dir2 ? " to " : "",
		 dir2 ? (p2 ? p2 : name2) : "");
	free(p);
	free(p2);
}

/* What a request from another local user (-o allow_other) asks for. */
enum fs_access {
	FS_READ,   /* browse or read: allowed with -o others=read */
	FS_CHANGE, /* any change: the mounting user only */
	FS_OWNER   /* the status file: the mounting user only, even to read */
};

/* Logs a refused request: at most 10 lines a minute, then a count. */
static void log_refusal(struct fs_config *c, uid_t uid, const char *op,
			uint64_t dir, uint64_t ino, const char *name)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static time_t window;
	static unsigned logged, dropped;
	time_t now = time(NULL);
	struct tree_node n;
	char *path = NULL;
	int say;

	pthread_mutex_lock(&lock);
	if (now - window >= 60) {
		if (dropped)
			log_warn("%u more requests from other users refused",
				 dropped);
		window = now;
		logged = dropped = 0;
	}
	say = logged < 10;
	logged += say;
	dropped += !say;
	pthread_mutex_unlock(&lock);
	if (!say)
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

/* Whether changes may be attempted at all on this mount. */
static int fs_writable(const struct fs_config *c)
{
	return !c->read_only && !c->anonymous;
}

/* The size a bitstream node shows: its JSON size, or the one asked from
 * the server when that was unknown (reader_size), never above
 * MODEL_SIZE_MAX. 0 or -EIO when nobody knows it. */
static int node_size(const struct fs_config *c, const struct tree_node *n,
		     off_t *size)
{
	int64_t v = n->size;

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
	time_t t = n->mtime > 0 ? (time_t)n->mtime : c->mount_time;
	mode_t keep = c->private_modes ? 0700 : 0777;

	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	if (n->type == DSO_NONE && n->ino != TREE_ROOT_INO) {
		/* the status file */
		st->st_mode = S_IFREG | (fs_writable(c) ? 0600 : 0400);
		st->st_nlink = 1;
		st->st_size = n->size;
	} else if (is_dir) {
		st->st_mode = S_IFDIR | ((fs_writable(c) ? 0755 : 0555) & keep);
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | ((fs_writable(c) ? 0644 : 0444) & keep);
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
	/* An unknown size is not cached: the next stat asks (and fails). */
	if (node_to_stat(c, n, &e->attr) < 0)
		e->attr_timeout = 0;
}

/* Asks the kernel for splice and async reads when it can do them. */
static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	/* The status file's inode now, while the cache can be written:
	 * it must open also when the disk is full. */
	status_ino(userdata);
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
		fuse_reply_attr(req, &st, c->entry_ttl);
}

/* Adds the files being written in dir to its snapshot; one shadows a
 * server entry of the same name (it is about to replace it). */
static int merge_uploads(struct fs_config *c, uint64_t dir,
			 struct dir_handle *d)
{
	struct upload_info *v = NULL;
	struct tree_node *nn;
	size_t n = 0;
	int r;

	if (!c->upload)
		return 0;
	r = upload_list_dir(c->upload, dir, &v, &n);
	if (r < 0 || n == 0)
		return r;
	nn = realloc(d->nodes, (d->n + n) * sizeof(*nn));
	if (!nn) {
		upload_infos_release(v, n);
		return -ENOMEM;
	}
	d->nodes = nn;
	for (size_t i = 0; i < n; i++) {
		struct tree_node *x = NULL;

		for (size_t k = 0; k < d->n; k++)
			if (!strcmp(d->nodes[k].name, v[i].name) ||
			    d->nodes[k].ino == v[i].ino)
				x = &d->nodes[k];
		if (x)
			tree_node_release(x);
		else
			x = &d->nodes[d->n++];
		memset(x, 0, sizeof(*x));
		x->ino = v[i].ino;
		x->parent_ino = dir;
		x->type = DSO_BITSTREAM;
		x->name = v[i].name;
		v[i].name = NULL;
		x->size = v[i].size;
		x->mtime = v[i].mtime ? v[i].mtime : (int64_t)time(NULL);
		x->mtime_ns = v[i].mtime_ns;
	}
	upload_infos_release(v, n);
	return 0;
}

/* What each directory listed last looked like, so that the kernel may keep
 * its cached copy of a listing that has not changed (FOPEN_CACHE_DIR with
 * FOPEN_KEEP_CACHE): a repeated recursive ls then costs no readdir calls.
 * An open-addressing table keyed by inode that doubles as it fills; past
 * DIR_STAMPS_MAX directories it starts afresh (a miss only costs a
 * readdir). */
#define DIR_STAMPS_MAX (1u << 21)
static struct {
	pthread_mutex_t lock;
	uint64_t *ino; /* 0: empty slot (inode 0 does not exist) */
	uint64_t *hash;
	size_t size; /* slots, a power of two */
	size_t used;
} dir_stamps = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Finds ino's slot (or the empty slot where it belongs). */
static size_t stamp_slot(uint64_t ino)
{
	size_t i =
	    (size_t)(ino * 11400714819323198485ULL) & (dir_stamps.size - 1);

	while (dir_stamps.ino[i] && dir_stamps.ino[i] != ino)
		i = (i + 1) & (dir_stamps.size - 1);
	return i;
}

/* Makes room for one more entry; false when memory is short. */
static int stamps_reserve(void)
{
	uint64_t *old_ino = dir_stamps.ino, *old_hash = dir_stamps.hash;
	size_t old_size = dir_stamps.size, i, n;

	if (dir_stamps.size && (dir_stamps.used + 1) * 2 <= dir_stamps.size)
		return 1;
	n = old_size ? old_size * 2 : 1024;
	if (n > DIR_STAMPS_MAX * 2) {
		/* Full: forget everything but keep the memory. */
		memset(dir_stamps.ino, 0, old_size * sizeof(uint64_t));
		dir_stamps.used = 0;
		return 1;
	}
	dir_stamps.ino = calloc(n, sizeof(uint64_t));
	dir_stamps.hash = calloc(n, sizeof(uint64_t));
	if (!dir_stamps.ino || !dir_stamps.hash) {
		free(dir_stamps.ino);
		free(dir_stamps.hash);
		dir_stamps.ino = old_ino;
		dir_stamps.hash = old_hash;
		return 0;
	}
	dir_stamps.size = n;
	dir_stamps.used = 0;
	for (i = 0; i < old_size; i++) {
		if (old_ino[i]) {
			size_t k = stamp_slot(old_ino[i]);

			dir_stamps.ino[k] = old_ino[i];
			dir_stamps.hash[k] = old_hash[i];
			dir_stamps.used++;
		}
	}
	free(old_ino);
	free(old_hash);
	return 1;
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

/* Records the listing's digest; true when it equals the previous one. */
static int listing_unchanged(uint64_t ino, uint64_t hash)
{
	int same = 0;
	size_t k;

	pthread_mutex_lock(&dir_stamps.lock);
	if (stamps_reserve()) {
		k = stamp_slot(ino);
		if (dir_stamps.ino[k] == ino) {
			same = dir_stamps.hash[k] == hash;
		} else {
			dir_stamps.ino[k] = ino;
			dir_stamps.used++;
		}
		dir_stamps.hash[k] = hash;
	}
	pthread_mutex_unlock(&dir_stamps.lock);
	return same;
}

/* Snapshots the listing of a directory. */
static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs_config *c = fs_of(req);
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
	rc = tree_getattr(c->tree, ino, &self);
	if (rc)
		goto fail;
	d->self_ino = ino;
	d->parent_ino = self.parent_ino ? self.parent_ino : ino;
	inval_dir_seen(c->inval, ino);
	if (self.type == DSO_BITSTREAM)
		rc = -ENOTDIR;
	tree_node_release(&self);
	if (rc)
		goto fail;
	rc = tree_list(c->tree, ino, &d->nodes, &d->n);
	if (rc)
		goto fail;
	rc = merge_uploads(c, ino, d);
	if (rc)
		goto fail;
	fi->fh = (uintptr_t)d;
	/* The kernel keeps the entries it read; it may reuse them only while
	 * the listing is the same as the one it cached. */
	fi->cache_readdir = 1;
	fi->keep_cache = listing_unchanged(ino, listing_hash(d));
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

/* Allocates a handle of kind. */
static struct fs_file *fh_new(enum fh_kind kind)
{
	struct fs_file *h = calloc(1, sizeof(*h));

	if (h)
		h->kind = kind;
	return h;
}

static struct fs_file *fh_of(struct fuse_file_info *fi)
{
	return (struct fs_file *)(uintptr_t)fi->fh;
}

/* Copies a bitstream's content (up to limit bytes) into a spool, for an
 * open for writing without O_TRUNC. */
static int copy_in(struct fs_config *c, const struct tree_node *n,
		   struct upload_file *f, int64_t limit)
{
	struct reader_file *rf = NULL;
	char *b = NULL;
	off_t off = 0;
	int r;

	if (n->size == 0 || limit == 0) /* < 0: unknown, reader_open asks */
		return 0;
	r = reader_open(c->reader, n->uuid, n->md5, n->size, &rf);
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

/* Starts writing over bitstream n (open for writing, truncate): a spool
 * replacing it, keeping its inode; filled with its content unless trunc.
 * Caller owns the returned reference. */
static int begin_overwrite(struct fs_config *c, const struct tree_node *n,
			   int trunc, int64_t limit, struct upload_file **out)
{
	struct tree_node b;
	char *path = NULL;
	int r;

	*out = NULL;
	if (!fs_writable(c))
		return -EROFS;
	if (n->type != DSO_BITSTREAM)
		return -EISDIR;
	r = tree_getattr(c->tree, n->parent_ino, &b);
	if (r < 0)
		return r;
	if (b.type != DSO_BUNDLE) {
		r = -EPERM;
		goto out;
	}
	path = mount_path(c, n->parent_ino, n->name);
	if (!path) {
		r = -ENOMEM;
		goto out;
	}
	r = upload_create(c->upload, b.ino, b.uuid, n->name, path, n->ino,
			  n->uuid, out);
	/* Cut or emptied now: readers of the old version are stale. */
	if (r == 0 && (trunc || limit >= 0))
		inval_content(c->inval, n->ino);
	if (r == 0 && !trunc) {
		r = copy_in(c, n, *out, limit);
		if (r == 0)
			upload_set_dirty(*out, 0);
	} else if (r == 0) {
		/* Written from scratch: may upload while written. */
		upload_stream_allow(*out);
	}
	if (r < 0 && *out) {
		upload_discard(*out);
		upload_unref(out);
	}
out:
	free(path);
	tree_node_release(&b);
	return r;
}

/* Opens the status file: a snapshot to read, or commands to write. */
static int open_status(struct fs_config *c, struct fuse_file_info *fi)
{
	struct fs_file *h;
	int r = 0;

	if ((fi->flags & O_ACCMODE) != O_RDONLY && !fs_writable(c))
		return -EROFS;
	h = fh_new(FH_STATUS);
	if (!h)
		return -ENOMEM;
	if (c->upload)
		r = upload_status_text(c->upload, &h->text);
	if (r < 0) {
		buf_release(&h->text);
		free(h);
		return r;
	}
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return 0;
}

/* Opens inode ino (shared by open and create on an existing name). */
static int do_open(struct fs_config *c, uint64_t ino, struct fuse_file_info *fi)
{
	int wr = (fi->flags & O_ACCMODE) != O_RDONLY;
	int trunc = (fi->flags & O_TRUNC) != 0;
	struct upload_file *f = NULL;
	struct fs_file *h;
	struct tree_node n;
	int direct = c->direct_io, r;

	if (ino != TREE_ROOT_INO && ino == status_ino(c))
		return open_status(c, fi);
	if ((wr || trunc) && !fs_writable(c))
		return -EROFS;
	h = fh_new(FH_READ);
	if (!h)
		return -ENOMEM;
	f = c->upload ? upload_find(c->upload, ino) : NULL;
	if (f) {
		/* Being written: every open shares its spool. */
		r = trunc ? upload_truncate(f, 0) : 0;
		if (r < 0)
			goto fail;
		h->kind = FH_UPLOAD;
		h->uf = f;
		fi->fh = (uintptr_t)h;
		fi->direct_io = 1;
		return 0;
	}
	r = tree_getattr(c->tree, ino, &n);
	if (r < 0)
		goto fail;
	if (n.type != DSO_BITSTREAM)
		r = -EISDIR;
	else if (wr || trunc)
		r = begin_overwrite(c, &n, trunc, -1, &h->uf);
	else
		r = reader_open(c->reader, n.uuid, n.md5, n.size, &h->rf);
	if (r == 0 && h->rf) {
		/* The kernel may keep its pages of this inode only when they
		 * are of this very content (an overwrite keeps the inode). */
		int how =
		    inval_open(c->inval, ino, n.uuid, n.md5, n.size, &h->gen);

		h->ino = ino;
		fi->keep_cache = !c->direct_io && how == INVAL_KEEP_CACHE;
		direct = c->direct_io || how == INVAL_DIRECT;
	}
	tree_node_release(&n);
	if (r < 0)
		goto fail;
	fi->fh = (uintptr_t)h;
	if (h->uf) {
		h->kind = FH_UPLOAD;
		fi->direct_io = 1;
	} else {
		fi->direct_io = direct;
	}
	return 0;
fail:
	free(h);
	return r;
}

/* What opening ino with fi->flags asks for (see refuse_other). */
static enum fs_access open_access(struct fs_config *c, uint64_t ino,
				  const struct fuse_file_info *fi)
{
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return FS_CHANGE;
	return ino != TREE_ROOT_INO && ino == status_ino(c) ? FS_OWNER
							    : FS_READ;
}

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

/* Reads from a bitstream (spliced from the content cache), a spool or
 * the status snapshot. */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_file *h = fh_of(fi);
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
	ssize_t n;
	int fd = -1;

	if (refuse_other(req, h->kind == FH_STATUS ? FS_OWNER : FS_READ, "read",
			 0, ino, NULL))
		return;
	if (h->kind == FH_STATUS) {
		size_t len = h->text.len;

		if ((size_t)off >= len)
			fuse_reply_buf(req, NULL, 0);
		else
			fuse_reply_buf(req, h->text.data + off,
				       len - (size_t)off < size
					   ? len - (size_t)off
					   : size);
		return;
	}
	if (h->kind == FH_UPLOAD) {
		char *b = malloc(size ? size : 1);

		if (!b) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		n = upload_read(h->uf, b, size, off);
		if (n < 0)
			reply_err(req, (int)n);
		else
			fuse_reply_buf(req, b, (size_t)n);
		free(b);
		return;
	}
	/* A handle on a replaced version never puts old bytes into the
	 * page cache that readers of the new one share. */
	if (!inval_current(fs_of(req)->inval, h->ino, h->gen)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	n = reader_prepare(h->rf, size, off, &fd);
	if (n < 0) {
		reply_err(req, (int)n);
		return;
	}
	if (!inval_current(fs_of(req)->inval, h->ino, h->gen)) {
		fuse_reply_err(req, ESTALE);
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

/* Runs the commands written to the status file, one per line. */
static int status_commands(struct fs_config *c, const char *buf, size_t size)
{
	char *text = strndup(buf, size), *save = NULL, *line;
	int r = 0, x;

	if (!text)
		return -ENOMEM;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		x = c->upload ? upload_command(c->upload, line) : -ENOENT;
		if (x < 0) {
			log_warn("%s: \"%s\": %s", TREE_STATUS_NAME, line,
				 strerror(-x));
			if (r == 0)
				r = x;
		}
	}
	free(text);
	return r;
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs_file *h = fh_of(fi);
	ssize_t n;

	if (refuse_other(req, FS_CHANGE, "write", 0, ino, NULL))
		return;
	if (h->kind == FH_STATUS) {
		int r = status_commands(fs_of(req), buf, size);

		if (r < 0)
			reply_err(req, r);
		else
			fuse_reply_write(req, size);
		return;
	}
	if (h->kind != FH_UPLOAD) {
		fuse_reply_err(req, EBADF);
		return;
	}
	n = upload_write(h->uf, buf, size, off);
	if (n < 0)
		reply_err(req, (int)n);
	else
		fuse_reply_write(req, (size_t)n);
}

/* close(): a file being written is uploaded now, so that close reports
 * a failure. */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_file *h = fh_of(fi);
	int r = 0;

	(void)ino;
	if (h->kind == FH_UPLOAD)
		r = upload_commit(h->uf);
	reply_err(req, r);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	(void)datasync;
	op_flush(req, ino, fi);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs_file *h = fh_of(fi);

	(void)ino;
	if (h->rf) {
		reader_close(&h->rf);
		inval_close(fs_of(req)->inval, h->ino, h->gen);
	}
	if (h->uf)
		upload_unref(&h->uf);
	buf_release(&h->text);
	free(h);
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
	if (n->type == DSO_BITSTREAM) {
		if (n->md5[0])
			XATTR("user.dspace.md5", n->md5);
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

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs_config *c = fs_of(req);
	struct buf names = BUF_INIT;
	struct tree_node n;
	int rc;

	if (refuse_other(req, FS_READ, "listxattr", 0, ino, NULL))
		return;
	rc = tree_getattr(c->tree, ino, &n);
	if (!rc) {
		rc = collect_xattrs(c, &n, NULL, NULL, &names);
		tree_node_release(&n);
	}
	if (rc)
		reply_err(req, rc);
	else
		reply_sized(req, &names, size);
	buf_release(&names);
}

/* Creates a directory: an item in a collection (with an empty ORIGINAL
 * bundle) or a bundle in an item. */
static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct fs_config *c = fs_of(req);
	struct dso_list l = {0}, lb = {0};
	struct fuse_entry_param e;
	struct tree_node p, n;
	int r;

	(void)mode;
	if (refuse_other(req, FS_CHANGE, "mkdir", parent, 0, name))
		return;
	if (!fs_writable(c)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	r = tree_getattr(c->tree, parent, &p);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	memset(&n, 0, sizeof(n));
	if (lookup_node(c, parent, name, &n) == 0) {
		tree_node_release(&n);
		r = -EEXIST;
		goto out;
	}
	if (p.type == DSO_COLLECTION) {
		r = rest_create_item(tree_session(c->tree), p.uuid, name, &l);
		if (r == 0)
			r = tree_add(c->tree, parent, &l.v[0], 0, &n);
		if (r == 0) {
			int b =
			    rest_create_bundle(tree_session(c->tree),
					       l.v[0].uuid, "ORIGINAL", &lb);

			if (b == 0)
				tree_add(c->tree, n.ino, &lb.v[0], 0, NULL);
			else
				log_warn("item \"%s\" created without an "
					 "ORIGINAL bundle: %s",
					 name, strerror(-b));
		}
	} else if (p.type == DSO_ITEM) {
		r = rest_create_bundle(tree_session(c->tree), p.uuid, name, &l);
		if (r == 0)
			r = tree_add(c->tree, parent, &l.v[0], 0, &n);
	} else {
		/* Communities and collections are not made from the mount. */
		r = -EPERM;
	}
	if (r == 0) {
		log_change(c,
			   p.type == DSO_COLLECTION ? "created item"
						    : "created bundle",
			   parent, name, 0, NULL);
		node_to_entry(c, &n, &e);
		tree_node_release(&n);
	}
out:
	tree_node_release(&p);
	dso_list_release(&l);
	dso_list_release(&lb);
	if (r < 0)
		reply_err(req, r);
	else
		fuse_reply_entry(req, &e);
}

/* Creates (or opens, when it exists) a file in a bundle. */
static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fs_config *c = fs_of(req);
	struct fuse_entry_param e;
	struct tree_node p, n;
	struct fs_file *h = NULL;
	char *path = NULL;
	int r;

	(void)mode;
	if (refuse_other(req, FS_CHANGE, "create", parent, 0, name))
		return;
	if (!fs_writable(c)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	r = lookup_node(c, parent, name, &n);
	if (r == 0) {
		if (fi->flags & O_EXCL) {
			r = -EEXIST;
		} else {
			r = do_open(c, n.ino, fi);
			if (r == 0) {
				tree_node_release(&n);
				r = get_node(c, n.ino, &n);
			}
		}
		goto reply;
	}
	if (r != -ENOENT) {
		reply_err(req, r);
		return;
	}
	r = tree_getattr(c->tree, parent, &p);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	if (p.type != DSO_BUNDLE) {
		r = p.type == DSO_BITSTREAM ? -ENOTDIR : -EPERM;
		goto out_p;
	}
	h = fh_new(FH_UPLOAD);
	path = mount_path(c, parent, name);
	if (!h || !path) {
		r = -ENOMEM;
		goto out_p;
	}
	r = upload_create(c->upload, parent, p.uuid, name, path, 0, NULL,
			  &h->uf);
	if (r == 0) {
		upload_stream_allow(h->uf);
		r = upload_node(h->uf, &n);
	}
	if (r < 0 && h->uf) {
		upload_discard(h->uf);
		upload_unref(&h->uf);
	}
	if (r == 0) {
		fi->fh = (uintptr_t)h;
		fi->direct_io = 1;
		h = NULL;
	}
out_p:
	free(h);
	free(path);
	tree_node_release(&p);
reply:
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	node_to_entry(c, &n, &e);
	tree_node_release(&n);
	fuse_reply_create(req, &e, fi);
}

/* Only regular files can be made, through create. */
static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct fs_config *c = fs_of(req);
	struct fuse_entry_param e;
	struct tree_node n;
	int r;

	(void)rdev;
	if (refuse_other(req, FS_CHANGE, "mknod", parent, 0, name))
		return;
	if (!fs_writable(c)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	/* An empty file: create, then upload at once (no close follows). */
	if (lookup_node(c, parent, name, &n) == 0) {
		tree_node_release(&n);
		fuse_reply_err(req, EEXIST);
		return;
	}
	{
		struct tree_node p;
		struct upload_file *f = NULL;
		char *path;

		r = tree_getattr(c->tree, parent, &p);
		if (r < 0) {
			reply_err(req, r);
			return;
		}
		path = mount_path(c, parent, name);
		if (p.type != DSO_BUNDLE)
			r = -EPERM;
		else if (!path)
			r = -ENOMEM;
		else
			r = upload_create(c->upload, parent, p.uuid, name, path,
					  0, NULL, &f);
		if (r == 0)
			r = upload_commit(f);
		if (r == 0) {
			struct upload_info i;

			r = upload_info(f, &i);
			if (r == 0) {
				r = get_node(c, i.ino, &n);
				upload_info_release(&i);
			}
		}
		upload_unref(&f);
		free(path);
		tree_node_release(&p);
	}
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	node_to_entry(c, &n, &e);
	tree_node_release(&n);
	fuse_reply_entry(req, &e);
}

/* Whether directory ino (a bundle, or an item's bundles) holds files. */
static int has_files(struct fs_config *c, const struct tree_node *d)
{
	struct tree_node *v = NULL;
	struct upload_info *u = NULL;
	size_t n = 0, nu = 0;
	int r, any = 0;

	r = tree_list(c->tree, d->ino, &v, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && !any; i++) {
		if (d->type == DSO_ITEM && v[i].type == DSO_BUNDLE) {
			r = has_files(c, &v[i]);
			if (r != 0)
				any = r;
		} else {
			any = 1;
		}
	}
	tree_nodes_release(v, n);
	if (!any && c->upload &&
	    upload_list_dir(c->upload, d->ino, &u, &nu) == 0) {
		any = nu > 0;
		upload_infos_release(u, nu);
	}
	return any;
}

/* unlink (dir 0) and rmdir (dir 1). */
static void do_remove(fuse_req_t req, fuse_ino_t parent, const char *name,
		      int dir)
{
	struct fs_config *c = fs_of(req);
	struct upload_file *f;
	struct tree_node n;
	int r;

	if (refuse_other(req, FS_CHANGE, dir ? "rmdir" : "unlink", parent, 0,
			 name))
		return;
	if (!fs_writable(c)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (parent == TREE_ROOT_INO && !strcmp(name, TREE_STATUS_NAME)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	f = !dir && c->upload ? upload_find_name(c->upload, parent, name)
			      : NULL;
	if (f) {
		/* Not uploaded yet: nothing on the server to delete (unless
		 * it was to replace a file, which stays). */
		upload_discard(f);
		upload_unref(&f);
		fuse_reply_err(req, 0);
		return;
	}
	r = tree_lookup(c->tree, parent, name, &n);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	if (!dir && n.type != DSO_BITSTREAM)
		r = -EISDIR;
	else if (dir && n.type == DSO_BITSTREAM)
		r = -ENOTDIR;
	else if (dir && n.type != DSO_BUNDLE && n.type != DSO_ITEM)
		r = -EPERM;
	else if (dir && (r = has_files(c, &n)) != 0)
		r = r > 0 ? -ENOTEMPTY : r;
	if (r == 0) {
		r = rest_delete(tree_session(c->tree), n.type, n.uuid);
		if (r == -ENOENT)
			r = 0; /* already gone */
	}
	if (r == 0)
		r = tree_remove(c->tree, parent, name);
	if (r == 0)
		log_change(c,
			   n.type == DSO_ITEM	  ? "deleted item"
			   : n.type == DSO_BUNDLE ? "deleted bundle"
						  : "deleted",
			   parent, name, 0, NULL);
	tree_node_release(&n);
	reply_err(req, r);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, 0);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, 1);
}

/* The item a bundle belongs to (its parent inode), or 0. */
static uint64_t item_of(struct fs_config *c, uint64_t bundle_ino)
{
	struct tree_node b;
	uint64_t ino = 0;

	if (tree_getattr(c->tree, bundle_ino, &b) == 0) {
		if (b.type == DSO_BUNDLE)
			ino = b.parent_ino;
		tree_node_release(&b);
	}
	return ino;
}

/* rename(2) of a file not uploaded yet: only its pending name changes. */
static int rename_pending(struct fs_config *c, struct upload_file *f,
			  uint64_t newparent, const char *newname,
			  struct tree_node *target, int has_target)
{
	struct tree_node b;
	char *path;
	const char *repl = NULL;
	int r;

	r = tree_getattr(c->tree, newparent, &b);
	if (r < 0)
		return r;
	path = mount_path(c, newparent, newname);
	if (!path) {
		tree_node_release(&b);
		return -ENOMEM;
	}
	if (has_target) {
		struct upload_file *t =
		    upload_find_name(c->upload, newparent, newname);

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

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct fs_config *c = fs_of(req);
	struct session *s = c->tree ? tree_session(c->tree) : NULL;
	struct upload_file *f = NULL;
	struct dso_list l = {0};
	struct tree_node n, t;
	int r, has_t;

	if (refuse_other(req, FS_CHANGE, "rename", parent, 0, name))
		return;
	if (!fs_writable(c)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (flags & ~(unsigned)RENAME_NOREPLACE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((parent == TREE_ROOT_INO && !strcmp(name, TREE_STATUS_NAME)) ||
	    (newparent == TREE_ROOT_INO &&
	     !strcmp(newname, TREE_STATUS_NAME))) {
		fuse_reply_err(req, EPERM);
		return;
	}
	r = lookup_node(c, parent, name, &n);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	memset(&t, 0, sizeof(t));
	has_t = lookup_node(c, newparent, newname, &t) == 0;
	if (has_t && t.ino == n.ino)
		goto out; /* the same file */
	if (has_t && (flags & RENAME_NOREPLACE)) {
		r = -EEXIST;
		goto out;
	}
	if (n.type == DSO_BITSTREAM) {
		if (has_t && t.type != DSO_BITSTREAM) {
			r = -EISDIR;
			goto out;
		}
		if (item_of(c, newparent) == 0) {
			r = -EPERM;
			goto out;
		}
		if (item_of(c, newparent) != item_of(c, parent)) {
			r = -EXDEV;
			goto out;
		}
		f = upload_find(c->upload, n.ino);
		if (f) {
			r = rename_pending(c, f, newparent, newname, &t, has_t);
			goto out;
		}
		if (newparent != parent) {
			struct tree_node b;

			r = tree_getattr(c->tree, newparent, &b);
			if (r == 0) {
				r = rest_move_bitstream(s, n.uuid, b.uuid);
				tree_node_release(&b);
			}
			if (r < 0)
				goto out;
		}
		if (strcmp(name, newname)) {
			r = rest_set_name(s, DSO_BITSTREAM, n.uuid, newname,
					  &l);
			if (r < 0) {
				/* A move that happened stays visible. */
				if (newparent != parent)
					tree_invalidate(c->tree, newparent),
					    tree_invalidate(c->tree, parent);
				goto out;
			}
		}
		if (has_t) {
			struct upload_file *tf =
			    upload_find_name(c->upload, newparent, newname);

			if (tf) {
				upload_discard(tf);
				upload_unref(&tf);
			} else {
				int d = rest_delete(s, DSO_BITSTREAM, t.uuid);

				if (d < 0 && d != -ENOENT)
					log_warn("rename over %s: the old file "
						 "could not be deleted: %s",
						 newname, strerror(-d));
			}
		}
		/* A handle still open on it uploads under the new name. */
		f = upload_find_open(c->upload, n.ino);
		if (f) {
			char *path = mount_path(c, newparent, newname);
			struct tree_node b;

			if (path && tree_getattr(c->tree, newparent, &b) == 0) {
				upload_rename(f, newparent, b.uuid, newname,
					      path, NULL);
				tree_node_release(&b);
			}
			free(path);
		}
	} else if (n.type == DSO_ITEM || n.type == DSO_BUNDLE) {
		if (newparent != parent) {
			r = -EXDEV;
			goto out;
		}
		if (has_t) {
			r = -ENOTEMPTY;
			goto out;
		}
		r = rest_set_name(s, n.type, n.uuid, newname, &l);
		if (r < 0)
			goto out;
	} else {
		r = -EPERM;
		goto out;
	}
	{
		struct dso d;

		if (l.n) {
			d = l.v[0];
			d.meta = NULL; /* listings are the source of metadata */
			d.nmeta = 0;
			/* keep what the answer may lack */
			if (d.size < 0)
				d.size = n.size;
			if (!d.md5[0])
				memcpy(d.md5, n.md5, sizeof(d.md5));
		} else {
			node_dso(&n, newname, &d);
		}
		r = tree_rename(c->tree, parent, name, newparent, &d);
		if (r < 0) {
			tree_invalidate(c->tree, parent);
			tree_invalidate(c->tree, newparent);
			r = 0;
		}
	}
out:
	if (r == 0 && !(has_t && t.ino == n.ino))
		log_change(c, newparent != parent ? "moved" : "renamed", parent,
			   name, newparent, newname);
	upload_unref(&f);
	dso_list_release(&l);
	tree_node_release(&n);
	tree_node_release(&t);
	reply_err(req, r);
}

/* chmod/chown succeed (nothing to keep); times are kept locally; a size
 * truncates a file being written, or overwrites an uploaded one. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fs_config *c = fs_of(req);
	struct fs_file *h = fi ? fh_of(fi) : NULL;
	struct upload_file *f = NULL;
	struct tree_node n;
	struct stat st;
	int r = 0;

	if (refuse_other(req, FS_CHANGE, "setattr", 0, ino, NULL))
		return;
	if (!fs_writable(c)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (ino != TREE_ROOT_INO && ino == status_ino(c))
		goto reply;
	if (h && h->kind == FH_UPLOAD) {
		f = h->uf;
		upload_ref(f);
	} else {
		f = c->upload ? upload_find(c->upload, ino) : NULL;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (f) {
			r = upload_truncate(f, attr->st_size);
		} else {
			memset(&n, 0, sizeof(n));
			r = tree_getattr(c->tree, ino, &n);
			if (r == 0 && n.size != attr->st_size) {
				r = begin_overwrite(c, &n, attr->st_size == 0,
						    attr->st_size, &f);
				if (r == 0)
					r = upload_truncate(f, attr->st_size);
				if (r == 0)
					r = upload_commit(f);
			}
			tree_node_release(&n);
			upload_unref(&f);
		}
		if (r < 0)
			goto out;
	}
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		struct timespec ts;

		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			clock_gettime(CLOCK_REALTIME, &ts);
		else
			ts = attr->st_mtim;
		if (f)
			upload_set_times(f, ts.tv_sec, ts.tv_nsec);
		else
			r = tree_set_times(c->tree, ino, ts.tv_sec, ts.tv_nsec);
		if (r < 0)
			goto out;
	}
reply:
	r = get_node(c, ino, &n);
	if (r == 0) {
		node_to_stat(c, &n, &st);
		tree_node_release(&n);
	}
out:
	upload_unref(&f);
	if (r < 0)
		reply_err(req, r);
	else
		fuse_reply_attr(req, &st, c->entry_ttl);
}

/* No attribute can be set or removed (they come from the server). */
static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	if (refuse_other(req, FS_CHANGE, "setxattr", 0, ino, NULL))
		return;
	fuse_reply_err(req, fs_writable(fs_of(req)) ? ENOTSUP : EROFS);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)name;
	if (refuse_other(req, FS_CHANGE, "removexattr", 0, ino, NULL))
		return;
	fuse_reply_err(req, fs_writable(fs_of(req)) ? ENOTSUP : EROFS);
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
};

/* The operation table for fuse_session_new. */
/* inval's sink: one invalidation request to the kernel. Runs on inval's
 * worker thread, never inside a request handler. */
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

int fs_attach(struct fs_config *c, struct fuse_session *se)
{
	return c->inval ? inval_start(c->inval, notify_kernel, se) : 0;
}

void fs_detach(struct fs_config *c)
{
	inval_stop(c->inval);
}

const struct fuse_lowlevel_ops *fs_operations(void)
{
	return &fs_ops;
}
