/* tree: the directory tree the mount shows — which object is where, under
 * which safe name, with which inode number — answered from the SQLite
 * metadata cache (cache.h) and refreshed through rest.h when a listing is
 * missing or older than the TTL.
 *
 * Inode numbers are stable across remounts (kept in the cache database) and
 * never reused, so FUSE lookup counts need no bookkeeping here.
 * Names are made safe and unique among siblings by names.h before they are
 * stored. Names that desktops probe (.hidden, .directory, .Trash-*, ...) get
 * ENOENT without a request. When the server cannot be reached (connection
 * failures, timeouts, 5xx after retries), an expired cached listing is served
 * and a warning is logged; something never cached fails with the error.
 * Thread safe. */
#ifndef DSPACEFS_TREE_H
#define DSPACEFS_TREE_H

#include <stdint.h>
#include <stddef.h>
#include "dspace/dspace.h"

struct inval;
struct cache;

#define TREE_ROOT_INO 1

struct tree;

struct tree_config {
	/* the cache database (cache_open); borrowed: whoever opened it
	 * closes it after tree_free */
	struct cache *cache;
	int cache_ttl; /* seconds a listing is trusted; 0 → 60 */
	/* told about every change the kernel may have cached (listings
	 * refreshed, our own writes); may be NULL. Borrowed. */
	struct inval *inval;
	/* appends further children of a directory after the server's
	 * listing (core/draft.c: the user's drafts in a collection); a
	 * failure is only logged. May be NULL. */
	int (*more)(void *ctx, enum dso_type type, const char *uuid,
		    struct dso_list *l);
	/* what more keeps between listings is stale (tree_refresh_all);
	 * may be NULL */
	void (*more_expire)(void *ctx);
	void *more_ctx;
};

/* A snapshot of one node: the caller owns it (tree_node_release). */
struct tree_node {
	uint64_t ino;
	uint64_t parent_ino;
	enum dso_type type;	 /* DSO_NONE for the root */
	char uuid[UUID_LEN + 1]; /* "" for the root */
	char *name;	  /* safe name in its directory ("" for the root) */
	char *raw_name;	  /* the server's name (may be ""), or NULL */
	char *handle;	  /* or NULL */
	int64_t size;	  /* bitstreams (-1: unknown); 0 for directories */
	int64_t mtime;	  /* Unix seconds; items' lastModified, inherited
			   * by bundles and bitstreams; 0 unknown */
	int64_t mtime_ns; /* nanoseconds of a time set through the mount */
	char md5[33];	  /* bitstreams, or "" */
	char *mime;	  /* bitstreams, or NULL */
	int read_only;	  /* the server says the user may not change it
			   * (modes.c), or a virtual file the user may not
			   * change; 0 when allowed or unknown */
};

/* A tree over the cache database cfg->cache. NULL on failure, with a
 * reason in err. */
struct tree *tree_new(struct session *s, const struct tree_config *cfg,
		      char *err, size_t errlen);
void tree_free(struct tree **t);

/* All return 0 or -errno (ENOENT, ENOTDIR, EACCES, EIO, ENOTCONN, ...). */
int tree_getattr(struct tree *t, uint64_t ino, struct tree_node *out);
int tree_lookup(struct tree *t, uint64_t parent_ino, const char *name,
		struct tree_node *out);
/* The children of a directory, in a stable order (*out: caller frees with
 * tree_nodes_release). */
int tree_list(struct tree *t, uint64_t dir_ino, struct tree_node **out,
	      size_t *n);
/* Metadata fields of the node's object (items: all dc.* fields; others
 * what the server sent). Caller frees with meta_fields_release. */
int tree_metadata(struct tree *t, uint64_t ino, struct meta_field **out,
		  size_t *n);

/* Hides bitstream uuid from listings (hide), or shows it again: an old
 * version whose DELETE is pending. 0 or -ENOMEM. */
int tree_hide(struct tree *t, const char *uuid, int hide);
/* A counter of the local changes (add, remove, rename) so far: a
 * directory snapshot taken before a change must not put entries of that
 * time into the kernel's dentry cache. */
uint64_t tree_changes(struct tree *t);
/* Forgets that dir's listing is fresh, so that the next list or lookup
 * asks the server again (after a write). A fetch of dir that is in flight
 * meanwhile is stored as already expired. dir_ino TREE_ALL_DIRS: every
 * listing (the entries stay, for offline browsing). 0 or -errno. */
#define TREE_ALL_DIRS 0
int tree_invalidate(struct tree *t, uint64_t dir_ino);

/* After the server refused a change in dir (EACCES): fetches again, now,
 * the listing that holds dir's own mode (its parent's) and dir's, so that
 * the modes shown (core/modes.h) tell the truth; inval is told about every
 * mode that changed. 0 or -errno. */
int tree_refresh_modes(struct tree *t, uint64_t dir_ino);

/* Marks every cached listing stale (kept: it is served while the server
 * cannot be reached) and tells inval that every listing the kernel holds
 * changed, so that the next look at any directory asks the server ("core
 * refresh": the status file's "refresh" command, SIGHUP). 0 or -errno. */
int tree_refresh_all(struct tree *t);

/* The name reserved in the root for the status file (fs.c); a real
 * top-level entry of that name is shown with a suffix. */
#define TREE_STATUS_NAME ".dspacefs-status"

/* The names the find views (views.h) take at the root; ".search" is also
 * taken in every community and collection. Real entries of these names
 * are shown with a suffix. */
#define TREE_SEARCH_NAME ".search"
#define TREE_HANDLE_NAME ".handle"
#define TREE_UUID_NAME ".uuid"

/* The object with that UUID: from the cache when known (0 requests), else
 * asked for (rest_find_uuid: one request for a community, collection or
 * discoverable item, three for the rest) and kept with no directory
 * entry. -ENOENT for a malformed or unknown UUID. */
int tree_find_uuid(struct tree *t, const char *uuid, struct tree_node *out);
/* Keeps the first max items of a search result (l's entries without a
 * parent) that the cache does not know yet like tree_find_uuid's, so that
 * following the links costs no request. 0 or -errno. */
int tree_keep_found(struct tree *t, const struct dso_list *l, size_t max);
/* The object with that handle ("10673/20"), asked for (pid/find) and kept
 * like tree_find_uuid's. */
int tree_find_handle(struct tree *t, const char *handle, struct tree_node *out);

/* --- our own writes, applied to the cache at once (0 or -errno) --- */

/* The inode of the status file (status.h), allocated in the cache
 * database on first use and kept; 0 when none could be allocated. */
uint64_t tree_status_ino(struct tree *t);
/* Stores object d, just created on the server, as an entry of dir (named
 * by its safe name, replacing an entry of that name). When ino is not 0,
 * that inode (a file written through the mount) is re-keyed to d->uuid
 * and keeps its number. out may be NULL. */
int tree_add(struct tree *t, uint64_t dir_ino, const struct dso *d,
	     uint64_t ino, struct tree_node *out);
/* Removes the entry name of dir (after a delete on the server). */
int tree_remove(struct tree *t, uint64_t dir_ino, const char *name);
/* Moves/renames an entry after the server did: the entry old_name of
 * old_dir becomes the entry for d (renamed/moved object) in new_dir. */
int tree_rename(struct tree *t, uint64_t old_dir, const char *old_name,
		uint64_t new_dir, const struct dso *d);
/* Keeps a modification time for ino set through the mount (utimensat). */
int tree_set_times(struct tree *t, uint64_t ino, int64_t mtime,
		   int64_t mtime_ns);

void tree_node_release(struct tree_node *n);
void tree_nodes_release(struct tree_node *v, size_t n);
void meta_fields_release(struct meta_field *v, size_t n);

#endif
