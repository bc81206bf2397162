/* cache: the SQLite metadata cache, cache_dir/meta.db. The only module that
 * speaks SQL.
 *
 * The directory is created 0700 and the database files are 0600. WAL mode,
 * a busy timeout, schema versioned with PRAGMA user_version and migrated
 * forward on open (a newer schema than we know is refused).
 *
 * What it keeps:
 *  - inodes: uuid → inode number, allocated once and never reused or
 *    forgotten (the root, uuid "", is inode 1), so numbers survive remounts;
 *  - objects: the attributes of each object (type, primary parent, raw
 *    name, handle, size, md5, mime, mtime, position);
 *  - entries: directory → (safe name, child inode, position). An object may
 *    sit in several directories (an item mapped into two collections);
 *  - listings: directory inode → when its entries were last listed
 *    (Unix seconds), so that callers can apply a TTL;
 *  - meta: the metadata fields of each object, in order (for xattrs).
 *
 * Thread safe: a small pool of connections, one borrowed per call (or per
 * transaction), so threads read in parallel; WAL lets reads go on while a
 * write transaction runs. All functions return 0 or -errno (SQLite errors
 * are logged and mapped: busy → EAGAIN, full → ENOSPC, nomem → ENOMEM,
 * others → EIO). */
#ifndef DSPACEFS_CACHE_H
#define DSPACEFS_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include "dspace/dspace.h"

#define CACHE_ROOT_INO 1
#define CACHE_SCHEMA_VERSION 3

struct cache;
struct cache_txn;

/* One object as seen through one directory entry. Strings are malloc'd
 * and owned by the struct (cache_object_release). */
struct cache_object {
	uint64_t ino;
	uint64_t parent_ino; /* the directory of this entry; 0 for the root */
	enum dso_type type;
	char uuid[UUID_LEN + 1]; /* "" for the root */
	char *name;		 /* safe name in parent_ino ("" when none) */
	char *raw_name;		 /* the server's name ("" for the root) */
	char *handle;		 /* or NULL */
	int64_t size;
	int64_t mtime;	  /* a time set through the mount wins */
	int64_t mtime_ns; /* its nanoseconds (0 for the server's) */
	int64_t position;
	char md5[33];
	char *mime;	   /* or NULL */
	unsigned rights;   /* DSO_RIGHT_* (dspace.h); 0 unknown */
	uint64_t home_ino; /* the primary parent (parent_ino names the
			    * directory of this entry) */
	int64_t listed_at; /* as cache_listed_at, -1 when never listed */
};

/* One entry of a directory, for cache_set_children. Borrowed. */
struct cache_entry {
	uint64_t ino;
	const char *name; /* safe and unique among the siblings */
	int64_t position;
};

/* Opens (creating dir and database if needed, migrating if old) the cache.
 * On failure returns -errno and writes a reason into err. */
int cache_open(const char *dir, struct cache **out, char *err, size_t errlen);
/* Closes every connection; no call may be in progress. *c becomes NULL. */
void cache_close(struct cache **c);
/* The database's schema version (PRAGMA user_version). */
int cache_schema_version(struct cache *c);
/* Path of the database file (borrowed). */
const char *cache_db_path(const struct cache *c);

/* --- reads --- */

/* The object with inode ino, named through its primary parent. -ENOENT. */
int cache_get(struct cache *c, uint64_t ino, struct cache_object *out);
/* The inode number of uuid if one was ever given. -ENOENT. */
int cache_find_ino(struct cache *c, const char *uuid, uint64_t *ino);
/* The key (uuid, or a local key) inode ino was given, into key (len
 * bytes). -ENOENT when ino was never given. */
int cache_ino_key(struct cache *c, uint64_t ino, char *key, size_t len);
/* The entry called name in directory dir. -ENOENT. */
int cache_lookup(struct cache *c, uint64_t dir, const char *name,
		 struct cache_object *out);
/* All entries of dir ordered by position, then name (*v: caller frees with
 * cache_objects_release; may be NULL when *n is 0). */
int cache_children(struct cache *c, uint64_t dir, struct cache_object **v,
		   size_t *n);
/* When dir was last listed (0 after cache_expire_listing). -ENOENT when it
 * never was. */
int cache_listed_at(struct cache *c, uint64_t dir, int64_t *when);
/* The metadata fields of ino in stored order (*v: caller frees with
 * cache_meta_release; may be NULL when *n is 0). */
int cache_meta(struct cache *c, uint64_t ino, struct meta_field **v, size_t *n);

/* Forgets that dir's listing is fresh (keeps the entries, which may still
 * be served while the server is unreachable); dir 0: every listing. 0 when
 * dir was never listed. */
int cache_expire_listing(struct cache *c, uint64_t dir);

/* --- writes, inside one transaction --- */

/* Starts a write transaction (BEGIN IMMEDIATE) on a borrowed connection. */
int cache_begin(struct cache *c, struct cache_txn **t);
/* Commits and returns the connection; *t becomes NULL even on failure
 * (then the transaction was rolled back). */
int cache_commit(struct cache_txn **t);
/* Rolls back and returns the connection; *t becomes NULL. */
void cache_rollback(struct cache_txn **t);

/* Inserts or updates the object d (its uuid, type, name as raw_name,
 * handle, size, md5, mime, mtime, position) with primary parent
 * parent_ino; allocates its inode number on first sight. *ino may be NULL. */
int cache_put_object(struct cache_txn *t, const struct dso *d,
		     uint64_t parent_ino, uint64_t *ino);
/* Replaces the metadata fields of ino. */
int cache_put_meta(struct cache_txn *t, uint64_t ino,
		   const struct meta_field *v, size_t n);
/* Replaces the entries of dir by v and records listed_at as its listing
 * time. Objects that were in dir, are no longer, and sit in no other
 * directory are dropped (with their metadata and listing); their inode
 * numbers stay reserved. Names must be unique (a duplicate is ignored). */
int cache_set_children(struct cache_txn *t, uint64_t dir,
		       const struct cache_entry *v, size_t n,
		       int64_t listed_at);

/* --- write path --- */

/* The inode of uuid, allocated when new (its own transaction). Used for
 * files being written, under a local key, before they have a uuid. */
int cache_alloc_ino(struct cache *c, const char *uuid, uint64_t *ino);
/* Gives inode ino the key uuid (an uploaded file gets its bitstream's
 * uuid and keeps its number). An inode uuid already had is retired. */
int cache_rekey(struct cache_txn *t, uint64_t ino, const char *uuid);
/* Adds (or replaces) one entry of dir without touching its listing time. */
int cache_add_entry(struct cache_txn *t, uint64_t dir, const char *name,
		    uint64_t ino, int64_t position);
/* Removes the entry name of dir (the object row stays). */
int cache_del_entry(struct cache_txn *t, uint64_t dir, const char *name);
/* The largest position among dir's entries, -1 when empty. */
int cache_max_position(struct cache_txn *t, uint64_t dir, int64_t *pos);
/* Records times set through the mount for uuid with content md5 ("" for
 * directories); reported by reads instead of the server's. */
int cache_set_times(struct cache *c, const char *uuid, const char *md5,
		    int64_t mtime, int64_t mtime_ns);

/* One row of the upload journal: a file written through the mount that is
 * not (yet) on the server. state: one of upload.c's states ("writing",
 * "uploading", "failed", "incomplete", "cancelled"; "interrupted" in rows
 * of older versions). Strings malloc'd (cache_upload_release). */
struct cache_upload {
	int64_t id;
	char state[16];
	uint64_t ino;
	uint64_t bundle_ino;
	char bundle_uuid[UUID_LEN + 1];
	char replaces[UUID_LEN + 1]; /* bitstream to delete after, or "" */
	char *name;		     /* the bitstream name to upload under */
	char *path;		     /* the path in the mount */
	char *spool;		     /* the local file holding the data */
	int64_t size;
	char *error; /* last error, "" when none */
	int64_t mtime, mtime_ns;
	int has_times;
};

/* Adds u to the journal in one statement (all or nothing): with the id
 * u->id when > 0 (an error when taken), else a new one set in u->id. */
int cache_upload_add(struct cache *c, struct cache_upload *u);
/* An id no journal row has ever had (for a row added with it later). */
int cache_upload_next_id(struct cache *c, int64_t *id);
/* Rewrites the row u->id from u. */
int cache_upload_update(struct cache *c, const struct cache_upload *u);
int cache_upload_del(struct cache *c, int64_t id);
/* Every journal row, oldest first (caller frees: cache_uploads_release). */
int cache_upload_list(struct cache *c, struct cache_upload **v, size_t *n);
void cache_upload_release(struct cache_upload *u);
void cache_uploads_release(struct cache_upload *v, size_t n);

void cache_object_release(struct cache_object *o);
void cache_objects_release(struct cache_object *v, size_t n);
void cache_meta_release(struct meta_field *v, size_t n);

#endif
