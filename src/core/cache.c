/* cache: SQLite metadata cache (see cache.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/cache.h"
#include "core/memo.h"
#include "util/log.h"

#define BUSY_TIMEOUT_MS 10000
/* What the in-memory copy of recent reads may hold (core/memo.h): the
 * listings of a tree of 15,000 directories take about 12 MiB. */
#define MEMO_MAX_BYTES (24u << 20)

/* Migration i takes the schema from version i to i + 1. Later migrations
 * (local times, pending uploads) are appended here, never edited. */
static const char *const migrations[] = {
    /* 0 → 1 */
    "CREATE TABLE inodes ("
    " ino INTEGER PRIMARY KEY AUTOINCREMENT,"
    " uuid TEXT NOT NULL UNIQUE);"
    "CREATE TABLE objects ("
    " ino INTEGER PRIMARY KEY,"
    " type INTEGER NOT NULL,"
    " parent_ino INTEGER NOT NULL DEFAULT 0,"
    " raw_name TEXT NOT NULL DEFAULT '',"
    " handle TEXT,"
    " size INTEGER NOT NULL DEFAULT 0,"
    " md5 TEXT NOT NULL DEFAULT '',"
    " mime TEXT,"
    " mtime INTEGER NOT NULL DEFAULT 0,"
    " position INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE entries ("
    " parent_ino INTEGER NOT NULL,"
    " name TEXT NOT NULL,"
    " ino INTEGER NOT NULL,"
    " position INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (parent_ino, name)) WITHOUT ROWID;"
    "CREATE INDEX entries_ino ON entries (ino, parent_ino);"
    "CREATE TABLE listings ("
    " ino INTEGER PRIMARY KEY,"
    " listed_at INTEGER NOT NULL);"
    "CREATE TABLE meta ("
    " ino INTEGER NOT NULL,"
    " idx INTEGER NOT NULL,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY (ino, idx)) WITHOUT ROWID;"
    "INSERT INTO inodes (ino, uuid) VALUES (1, '');"
    "INSERT INTO objects (ino, type, parent_ino) VALUES (1, 0, 0);",
    /* 1 → 2: times set through the mount (kept locally, keyed by uuid +
     * md5 so that new content drops them), and the upload journal. */
    "CREATE TABLE times ("
    " uuid TEXT NOT NULL,"
    " md5 TEXT NOT NULL,"
    " mtime INTEGER NOT NULL,"
    " mtime_ns INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (uuid, md5)) WITHOUT ROWID;"
    "CREATE TABLE uploads ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " state TEXT NOT NULL,"
    " ino INTEGER NOT NULL DEFAULT 0,"
    " bundle_ino INTEGER NOT NULL DEFAULT 0,"
    " bundle_uuid TEXT NOT NULL,"
    " replaces TEXT NOT NULL DEFAULT '',"
    " name TEXT NOT NULL,"
    " path TEXT NOT NULL DEFAULT '',"
    " spool TEXT NOT NULL,"
    " size INTEGER NOT NULL DEFAULT 0,"
    " error TEXT NOT NULL DEFAULT '',"
    " mtime INTEGER NOT NULL DEFAULT 0,"
    " mtime_ns INTEGER NOT NULL DEFAULT 0,"
    " has_times INTEGER NOT NULL DEFAULT 0);",
    /* 2 → 3: what the user may change (dspace.h DSO_RIGHT_*; 0 unknown),
     * stored with the listing that fetched it. */
    "ALTER TABLE objects ADD COLUMN rights INTEGER NOT NULL DEFAULT 0;",
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Columns read into a struct cache_object, in this order. */
#define OBJ_COLS                                                               \
	"o.ino, COALESCE(e.parent_ino, o.parent_ino), o.type, i.uuid, "        \
	"e.name, o.raw_name, o.handle, "                                       \
	"o.size, COALESCE(t.mtime, o.mtime), o.position, o.md5, o.mime, "      \
	"COALESCE(t.mtime_ns, 0), o.rights, o.parent_ino, "                    \
	"COALESCE(l.listed_at, -1)"

/* Joins the locally set times of an object and its listing time (OBJ_COLS
 * reads them). */
#define TIMES_JOIN                                                             \
	" LEFT JOIN times t ON t.uuid = i.uuid AND t.md5 = o.md5"              \
	" LEFT JOIN listings l ON l.ino = o.ino"

enum stmt_id {
	ST_INO_GET,
	ST_INO_NEW,
	ST_INO_UUID,
	ST_OBJ_PUT,
	ST_META_DEL,
	ST_META_INS,
	ST_OLD_CLEAR,
	ST_OLD_FILL,
	ST_ENT_DEL,
	ST_ENT_INS,
	ST_OLD_KEEP,
	ST_GC_META,
	ST_GC_LIST,
	ST_GC_ENT,
	ST_GC_OBJ,
	ST_LIST_PUT,
	ST_GET,
	ST_LOOKUP,
	ST_CHILDREN,
	ST_LISTED_AT,
	ST_EXPIRE,
	ST_META_GET,
	ST_UPLOADS,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_INO_GET] = "SELECT ino FROM inodes WHERE uuid = ?1",
    [ST_INO_UUID] = "SELECT uuid FROM inodes WHERE ino = ?1",
    [ST_INO_NEW] = "INSERT INTO inodes (uuid) VALUES (?1)",
    [ST_OBJ_PUT] =
	"INSERT INTO objects (ino, type, parent_ino, raw_name, handle,"
	" size, md5, mime, mtime, position, rights)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
	" ON CONFLICT (ino) DO UPDATE SET type = excluded.type,"
	" parent_ino = excluded.parent_ino, raw_name = excluded.raw_name,"
	" handle = excluded.handle, size = excluded.size,"
	" md5 = excluded.md5, mime = excluded.mime,"
	" mtime = excluded.mtime, position = excluded.position,"
	" rights = CASE WHEN excluded.rights = 0 THEN objects.rights"
	" ELSE excluded.rights END",
    [ST_META_DEL] = "DELETE FROM meta WHERE ino = ?1",
    [ST_META_INS] =
	"INSERT INTO meta (ino, idx, key, value) VALUES (?1, ?2, ?3, ?4)",
    [ST_OLD_CLEAR] = "DELETE FROM temp.old_children",
    [ST_OLD_FILL] = "INSERT OR IGNORE INTO temp.old_children (ino)"
		    " SELECT ino FROM entries WHERE parent_ino = ?1",
    [ST_ENT_DEL] = "DELETE FROM entries WHERE parent_ino = ?1",
    [ST_ENT_INS] = "INSERT OR IGNORE INTO entries (parent_ino, name, ino,"
		   " position) VALUES (?1, ?2, ?3, ?4)",
    [ST_OLD_KEEP] = "DELETE FROM temp.old_children WHERE ino = 1 OR EXISTS"
		    " (SELECT 1 FROM entries e WHERE e.ino ="
		    " temp.old_children.ino)",
    [ST_GC_META] = "DELETE FROM meta WHERE ino IN"
		   " (SELECT ino FROM temp.old_children)",
    [ST_GC_LIST] = "DELETE FROM listings WHERE ino IN"
		   " (SELECT ino FROM temp.old_children)",
    [ST_GC_ENT] = "DELETE FROM entries WHERE parent_ino IN"
		  " (SELECT ino FROM temp.old_children)",
    [ST_GC_OBJ] = "DELETE FROM objects WHERE ino IN"
		  " (SELECT ino FROM temp.old_children)",
    [ST_LIST_PUT] = "INSERT OR REPLACE INTO listings (ino, listed_at)"
		    " VALUES (?1, ?2)",
    [ST_GET] = "SELECT " OBJ_COLS " FROM objects o"
	       " JOIN inodes i ON i.ino = o.ino" TIMES_JOIN
	       " LEFT JOIN entries e ON e.ino = o.ino"
	       " WHERE o.ino = ?1"
	       " ORDER BY e.parent_ino = o.parent_ino DESC, e.parent_ino"
	       " LIMIT 1",
    [ST_LOOKUP] = "SELECT " OBJ_COLS " FROM entries e"
		  " JOIN objects o ON o.ino = e.ino"
		  " JOIN inodes i ON i.ino = o.ino" TIMES_JOIN
		  " WHERE e.parent_ino = ?1 AND e.name = ?2",
    [ST_CHILDREN] =
	"SELECT " OBJ_COLS " FROM entries e"
	" JOIN objects o ON o.ino = e.ino"
	" JOIN inodes i ON i.ino = o.ino" TIMES_JOIN " WHERE e.parent_ino = ?1"
	" ORDER BY e.position, e.name",
    [ST_LISTED_AT] = "SELECT listed_at FROM listings WHERE ino = ?1",
    [ST_EXPIRE] = "UPDATE listings SET listed_at = 0 WHERE ino = ?1 OR ?1 = 0",
    [ST_META_GET] = "SELECT key, value FROM meta WHERE ino = ?1 ORDER BY idx",
    [ST_UPLOADS] = "SELECT id, state, ino, bundle_ino, bundle_uuid, replaces,"
		   " name, path, spool, size, error, mtime, mtime_ns, has_times"
		   " FROM uploads ORDER BY id",
};

/* One SQLite connection with its prepared statements. */
struct conn {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	struct conn *next;
};

struct cache {
	char *dir;
	char *path;
	pthread_mutex_t lock;
	struct conn *idle; /* connections not borrowed right now */
	struct memo *memo; /* recent reads; every write drops it */
};

/* A write transaction is a borrowed connection. */
struct cache_txn {
	struct cache *c;
	struct conn *k;
};

/* Maps an SQLite result code to -errno, logging what went wrong. */
static int sql_err(sqlite3 *db, int rc, const char *what)
{
	log_error("cache: %s: %s", what,
		  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EAGAIN;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	default:
		return -EIO;
	}
}

/* Closes one connection and its statements. */
static void conn_free(struct conn *k)
{
	if (!k)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(k->st[i]);
	sqlite3_close(k->db);
	free(k);
}

/* Opens a connection to the (already created) database. */
static int conn_open(const char *path, struct conn **out)
{
	struct conn *k = calloc(1, sizeof(*k));
	int rc, r;

	if (!k)
		return -ENOMEM;
	rc = sqlite3_open_v2(path, &k->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		r = sql_err(k->db, rc, path);
		goto fail;
	}
	sqlite3_busy_timeout(k->db, BUSY_TIMEOUT_MS);
	rc = sqlite3_exec(k->db,
			  "PRAGMA synchronous = NORMAL;"
			  "PRAGMA temp_store = MEMORY;"
			  "CREATE TEMP TABLE IF NOT EXISTS old_children"
			  " (ino INTEGER PRIMARY KEY);",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		r = sql_err(k->db, rc, "setting up a connection");
		goto fail;
	}
	*out = k;
	return 0;
fail:
	conn_free(k);
	return r;
}

/* Returns the prepared statement id of k, reset and unbound. */
static int stmt(struct conn *k, enum stmt_id id, sqlite3_stmt **out)
{
	int rc;

	if (!k->st[id]) {
		rc = sqlite3_prepare_v3(k->db, stmt_sql[id], -1,
					SQLITE_PREPARE_PERSISTENT, &k->st[id],
					NULL);
		if (rc != SQLITE_OK)
			return sql_err(k->db, rc, stmt_sql[id]);
	}
	sqlite3_reset(k->st[id]);
	sqlite3_clear_bindings(k->st[id]);
	*out = k->st[id];
	return 0;
}

/* Borrows a connection from the pool, opening one when none is idle. */
static int borrow(struct cache *c, struct conn **out)
{
	struct conn *k;

	pthread_mutex_lock(&c->lock);
	k = c->idle;
	if (k)
		c->idle = k->next;
	pthread_mutex_unlock(&c->lock);
	if (k) {
		k->next = NULL;
		*out = k;
		return 0;
	}
	return conn_open(c->path, out);
}

/* Returns a borrowed connection to the pool. */
static void give_back(struct cache *c, struct conn *k)
{
	for (int i = 0; i < ST_COUNT; i++)
		if (k->st[i])
			sqlite3_reset(k->st[i]);
	pthread_mutex_lock(&c->lock);
	k->next = c->idle;
	c->idle = k;
	pthread_mutex_unlock(&c->lock);
}

/* Runs one statement that returns no rows. */
static int step_done(struct conn *k, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	if (rc != SQLITE_DONE)
		return sql_err(k->db, rc, what);
	return 0;
}

/* Creates dir and its missing parents with mode 0700. */
static int mkdir_p(const char *dir)
{
	char *p = strdup(dir);
	int r = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			goto out;
		}
		*s = '/';
	}
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		r = -errno;
out:
	free(p);
	return r;
}

/* Makes path 0600 if it exists (WAL and shared-memory files). */
static void tighten(const char *path)
{
	if (chmod(path, 0600) < 0 && errno != ENOENT)
		log_warn("cache: cannot chmod 0600 %s: %s", path,
			 strerror(errno));
}

/* Reads PRAGMA user_version. */
static int user_version(struct conn *k, int *v)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(k->db, "PRAGMA user_version", -1, &s, NULL);

	if (rc != SQLITE_OK)
		return sql_err(k->db, rc, "reading the schema version");
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		return sql_err(k->db, rc, "reading the schema version");
	}
	*v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return 0;
}

/* Brings the schema up to CACHE_SCHEMA_VERSION, one migration per
 * transaction. */
static int migrate(struct conn *k, char *err, size_t errlen)
{
	char sql[64];
	int v, rc, r;

	for (;;) {
		rc = sqlite3_exec(k->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return sql_err(k->db, rc, "starting a migration");
		r = user_version(k, &v);
		if (r < 0)
			goto fail;
		if (v > NMIGRATIONS) {
			snprintf(
			    err, errlen,
			    "cache database schema %d is newer than this "
			    "dspacefs knows (%d); use another cache directory",
			    v, NMIGRATIONS);
			r = -EPROTO;
			goto fail;
		}
		if (v == NMIGRATIONS)
			break;
		rc = sqlite3_exec(k->db, migrations[v], NULL, NULL, NULL);
		if (rc == SQLITE_OK) {
			snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
				 v + 1);
			rc = sqlite3_exec(k->db, sql, NULL, NULL, NULL);
		}
		if (rc != SQLITE_OK) {
			r = sql_err(k->db, rc, "migrating the cache schema");
			snprintf(err, errlen,
				 "cache schema migration %d → %d failed", v,
				 v + 1);
			goto fail;
		}
		rc = sqlite3_exec(k->db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			r = sql_err(k->db, rc, "committing a migration");
			goto fail;
		}
		log_debug("cache: schema migrated to version %d", v + 1);
	}
	sqlite3_exec(k->db, "COMMIT", NULL, NULL, NULL);
	return 0;
fail:
	sqlite3_exec(k->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

/* Creates dir if needed; warns when other users may look into it. */
static int prepare_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	int r = mkdir_p(dir);

	if (r < 0) {
		snprintf(err, errlen, "cannot create cache directory %s: %s",
			 dir, strerror(-r));
		return r;
	}
	if (stat(dir, &st) == 0 && (st.st_mode & 077))
		log_warn("cache: %s is accessible to other users (mode %03o)",
			 dir, (unsigned)(st.st_mode & 0777));
	return 0;
}

/* Creates the database file ourselves so that it is 0600 whatever the
 * umask; SQLite gives the WAL and shm files the database file's mode. */
static int create_db_file(const char *path, char *err, size_t errlen)
{
	int fd, r;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fchmod(fd, 0600) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create %s: %s", path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	close(fd);
	return 0;
}

/* Opens a first connection in WAL mode with the schema up to date. */
static int open_schema(const char *path, struct conn **out, char *err,
		       size_t errlen)
{
	struct conn *k = NULL;
	int r, rc;

	r = conn_open(path, &k);
	if (r < 0) {
		snprintf(err, errlen, "cannot open %s", path);
		return r;
	}
	rc = sqlite3_exec(k->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		r = sql_err(k->db, rc, "switching to WAL");
		snprintf(err, errlen, "cannot use %s: %s", path,
			 sqlite3_errmsg(k->db));
		goto fail;
	}
	r = migrate(k, err, errlen);
	if (r < 0) {
		if (errlen && !err[0])
			snprintf(err, errlen, "cannot set up %s", path);
		goto fail;
	}
	*out = k;
	return 0;
fail:
	conn_free(k);
	return r;
}

/* Makes the WAL and shared-memory files next to path 0600. */
static void tighten_side_files(const char *path, char *aux, size_t auxlen)
{
	snprintf(aux, auxlen, "%s-wal", path);
	tighten(aux);
	snprintf(aux, auxlen, "%s-shm", path);
	tighten(aux);
}

/* Opens (creating if needed) the cache database in dir. */
int cache_open(const char *dir, struct cache **out, char *err, size_t errlen)
{
	struct cache *c = NULL;
	struct conn *k = NULL;
	char *aux = NULL;
	int r;
	size_t plen;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (!dir || !*dir) {
		snprintf(err, errlen, "no cache directory given");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->dir = strdup(dir);
	plen = strlen(dir) + sizeof("/meta.db");
	c->path = malloc(plen);
	aux = malloc(plen + 8);
	c->memo = memo_new(MEMO_MAX_BYTES);
	if (!c->dir || !c->path || !aux || !c->memo) {
		r = -ENOMEM;
		goto fail;
	}
	snprintf(c->path, plen, "%s/meta.db", dir);

	r = prepare_dir(dir, err, errlen);
	if (r == 0)
		r = create_db_file(c->path, err, errlen);
	if (r == 0)
		r = open_schema(c->path, &k, err, errlen);
	if (r < 0)
		goto fail;
	tighten_side_files(c->path, aux, plen + 8);
	free(aux);
	c->idle = k;
	*out = c;
	return 0;
fail:
	free(aux);
	memo_free(&c->memo);
	free(c->dir);
	free(c->path);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return r;
}

void cache_close(struct cache **cp)
{
	struct cache *c = *cp;

	if (!c)
		return;
	while (c->idle) {
		struct conn *k = c->idle;

		c->idle = k->next;
		conn_free(k);
	}
	pthread_mutex_destroy(&c->lock);
	memo_free(&c->memo);
	free(c->dir);
	free(c->path);
	free(c);
	*cp = NULL;
}

int cache_schema_version(struct cache *c)
{
	struct conn *k;
	int v = -1;

	if (borrow(c, &k) < 0)
		return -1;
	if (user_version(k, &v) < 0)
		v = -1;
	give_back(c, k);
	return v;
}

const char *cache_db_path(const struct cache *c)
{
	return c->path;
}

/* A malloc'd copy of a text column, or NULL for SQL NULL (or ENOMEM). */
static char *col_dup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? strdup((const char *)t) : NULL;
}

/* Copies the current row (OBJ_COLS) into o. 0 or -ENOMEM. */
static int read_object(sqlite3_stmt *s, struct cache_object *o)
{
	const unsigned char *t;

	memset(o, 0, sizeof(*o));
	o->ino = (uint64_t)sqlite3_column_int64(s, 0);
	o->parent_ino = (uint64_t)sqlite3_column_int64(s, 1);
	o->type = (enum dso_type)sqlite3_column_int(s, 2);
	t = sqlite3_column_text(s, 3);
	snprintf(o->uuid, sizeof(o->uuid), "%s", t ? (const char *)t : "");
	o->name = col_dup(s, 4);
	if (!o->name)
		o->name = strdup("");
	o->raw_name = col_dup(s, 5);
	if (!o->raw_name)
		o->raw_name = strdup("");
	o->handle = col_dup(s, 6);
	o->size = sqlite3_column_int64(s, 7);
	o->mtime = sqlite3_column_int64(s, 8);
	o->position = sqlite3_column_int64(s, 9);
	t = sqlite3_column_text(s, 10);
	snprintf(o->md5, sizeof(o->md5), "%s", t ? (const char *)t : "");
	o->mime = col_dup(s, 11);
	o->mtime_ns = sqlite3_column_int64(s, 12);
	o->rights = (unsigned)sqlite3_column_int(s, 13);
	o->home_ino = (uint64_t)sqlite3_column_int64(s, 14);
	o->listed_at = sqlite3_column_int64(s, 15);
	if (!o->name || !o->raw_name ||
	    (!o->handle && sqlite3_column_type(s, 6) != SQLITE_NULL) ||
	    (!o->mime && sqlite3_column_type(s, 11) != SQLITE_NULL)) {
		cache_object_release(o);
		return -ENOMEM;
	}
	return 0;
}

/* Runs a statement expected to return at most one object row. */
static int one_object(struct conn *k, sqlite3_stmt *s, struct cache_object *o)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return sql_err(k->db, rc, "reading an object");
	return read_object(s, o);
}

int cache_get(struct cache *c, uint64_t ino, struct cache_object *out)
{
	struct cache_object *v;
	uint64_t gen = memo_gen(c->memo);
	struct conn *k;
	sqlite3_stmt *s;
	size_t n;
	int r = memo_get(c->memo, MEMO_OBJECT, ino, &v, &n);

	if (r != 0) {
		if (r == 1) {
			*out = *v;
			free(v);
			r = 0;
		}
		return r;
	}
	r = borrow(c, &k);
	if (r < 0)
		return r;
	r = stmt(k, ST_GET, &s);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)ino);
	r = one_object(k, s, out);
	if (r == 0)
		memo_put(c->memo, gen, MEMO_OBJECT, ino, out, 1);
out:
	give_back(c, k);
	return r;
}

int cache_ino_key(struct cache *c, uint64_t ino, char *key, size_t len)
{
	struct conn *k;
	sqlite3_stmt *s;
	int r = borrow(c, &k), rc;

	if (r < 0)
		return r;
	r = stmt(k, ST_INO_UUID, &s);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)ino);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		snprintf(key, len, "%s",
			 (const char *)sqlite3_column_text(s, 0));
	else if (rc == SQLITE_DONE)
		r = -ENOENT;
	else
		r = sql_err(k->db, rc, "finding an inode's key");
out:
	give_back(c, k);
	return r;
}

int cache_find_ino(struct cache *c, const char *uuid, uint64_t *ino)
{
	struct conn *k;
	sqlite3_stmt *s;
	int r = borrow(c, &k), rc;

	if (r < 0)
		return r;
	r = stmt(k, ST_INO_GET, &s);
	if (r < 0)
		goto out;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*ino = (uint64_t)sqlite3_column_int64(s, 0);
	else if (rc == SQLITE_DONE)
		r = -ENOENT;
	else
		r = sql_err(k->db, rc, "finding an inode");
out:
	give_back(c, k);
	return r;
}

int cache_lookup(struct cache *c, uint64_t dir, const char *name,
		 struct cache_object *out)
{
	struct conn *k;
	sqlite3_stmt *s;
	int r = memo_lookup(c->memo, dir, name, out);

	if (r != 0)
		return r == 1 ? 0 : r;
	r = borrow(c, &k);
	if (r < 0)
		return r;
	r = stmt(k, ST_LOOKUP, &s);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)dir);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	r = one_object(k, s, out);
out:
	give_back(c, k);
	return r;
}

/* Makes room for one more element in a result array a that doubles as it
 * grows (*alloc elements of size elem, len in use). Returns the (possibly
 * moved) array, or NULL on ENOMEM with a left as it was. */
static void *grow_array(void *a, size_t *alloc, size_t len, size_t elem,
			size_t first)
{
	size_t na;
	void *b;

	if (len < *alloc)
		return a;
	na = *alloc ? *alloc * 2 : first;
	b = realloc(a, na * elem);
	if (b)
		*alloc = na;
	return b;
}

/* A query of many rows: statement id bound to key, each row read by row
 * into an element of elem bytes; release frees the elements read. */
struct rows {
	enum stmt_id id;
	uint64_t key;
	size_t elem, first;
	int (*row)(sqlite3_stmt *s, void *elem);
	void (*release)(void *v, size_t n);
	const char *what;
};

/* Runs query q into a new array *v of *n elements (NULL when none). */
static int collect_rows(struct cache *c, const struct rows *q, void **v,
			size_t *n)
{
	char *a = NULL;
	size_t len = 0, alloc = 0;
	struct conn *k;
	sqlite3_stmt *s;
	int r = borrow(c, &k), rc;

	*v = NULL;
	*n = 0;
	if (r < 0)
		return r;
	r = stmt(k, q->id, &s);
	if (r < 0)
		goto out;
	if (sqlite3_bind_parameter_count(s) > 0)
		sqlite3_bind_int64(s, 1, (sqlite3_int64)q->key);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		void *b = grow_array(a, &alloc, len, q->elem, q->first);

		if (!b) {
			r = -ENOMEM;
			goto out;
		}
		a = b;
		r = q->row(s, a + len * q->elem);
		if (r < 0)
			goto out;
		len++;
	}
	if (rc != SQLITE_DONE)
		r = sql_err(k->db, rc, q->what);
out:
	give_back(c, k);
	if (r < 0) {
		q->release(a, len);
		return r;
	}
	*v = a;
	*n = len;
	return 0;
}

/* rows.row and rows.release for objects. */
static int object_row(sqlite3_stmt *s, void *elem)
{
	return read_object(s, elem);
}

static void objects_free(void *v, size_t n)
{
	cache_objects_release(v, n);
}

/* Keeps a copy of dir's entries read under gen, the listing time of each
 * (what cache_listed_at answers), and each entry whose primary parent is
 * dir as the object cache_get answers. */
static void memo_children(struct cache *c, uint64_t gen, uint64_t dir,
			  const struct cache_object *v, size_t n)
{
	memo_put(c->memo, gen, MEMO_CHILDREN, dir, v, n);
	for (size_t i = 0; i < n; i++) {
		if (v[i].type != DSO_BITSTREAM)
			memo_put_when(c->memo, gen, v[i].ino,
				      v[i].listed_at < 0 ? -ENOENT : 0,
				      v[i].listed_at < 0 ? 0 : v[i].listed_at);
		if (v[i].home_ino == dir)
			memo_put(c->memo, gen, MEMO_OBJECT, v[i].ino, &v[i], 1);
	}
}

int cache_children(struct cache *c, uint64_t dir, struct cache_object **v,
		   size_t *n)
{
	const struct rows q = {ST_CHILDREN, dir,	  sizeof(**v),	    64,
			       object_row,  objects_free, "listing entries"};
	uint64_t gen = memo_gen(c->memo);
	void *a;
	int r = memo_get(c->memo, MEMO_CHILDREN, dir, v, n);

	if (r != 0)
		return r < 0 ? r : 0;
	r = collect_rows(c, &q, &a, n);
	*v = a;
	if (r == 0)
		memo_children(c, gen, dir, *v, *n);
	return r;
}

int cache_listed_at(struct cache *c, uint64_t dir, int64_t *when)
{
	uint64_t gen = memo_gen(c->memo);
	struct conn *k;
	sqlite3_stmt *s;
	int r, rc;

	if (memo_get_when(c->memo, dir, &r, when))
		return r;
	r = borrow(c, &k);
	if (r < 0)
		return r;
	r = stmt(k, ST_LISTED_AT, &s);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)dir);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*when = sqlite3_column_int64(s, 0);
	else if (rc == SQLITE_DONE)
		r = -ENOENT;
	else
		r = sql_err(k->db, rc, "reading a listing time");
	if (r == 0 || r == -ENOENT)
		memo_put_when(c->memo, gen, dir, r, r == 0 ? *when : 0);
out:
	give_back(c, k);
	return r;
}

/* rows.row and rows.release for metadata fields. */
static int meta_row(sqlite3_stmt *s, void *elem)
{
	struct meta_field *f = elem;

	f->key = col_dup(s, 0);
	f->value = col_dup(s, 1);
	if (f->key && f->value)
		return 0;
	free(f->key);
	free(f->value);
	return -ENOMEM;
}

static void meta_free(void *v, size_t n)
{
	cache_meta_release(v, n);
}

int cache_meta(struct cache *c, uint64_t ino, struct meta_field **v, size_t *n)
{
	const struct rows q = {ST_META_GET, ino,       sizeof(**v),	  16,
			       meta_row,    meta_free, "reading metadata"};
	void *a;
	int r = collect_rows(c, &q, &a, n);

	*v = a;
	return r;
}

int cache_expire_listing(struct cache *c, uint64_t dir)
{
	struct conn *k;
	sqlite3_stmt *s;
	int r = borrow(c, &k);

	if (r < 0)
		return r;
	r = stmt(k, ST_EXPIRE, &s);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)dir);
	r = step_done(k, s, "expiring a listing");
	memo_changed(c->memo);
out:
	give_back(c, k);
	return r;
}

int cache_begin(struct cache *c, struct cache_txn **t)
{
	struct cache_txn *x;
	int r, rc;

	*t = NULL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	r = borrow(c, &x->k);
	if (r < 0) {
		free(x);
		return r;
	}
	x->c = c;
	rc = sqlite3_exec(x->k->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		r = sql_err(x->k->db, rc, "starting a transaction");
		give_back(c, x->k);
		free(x);
		return r;
	}
	*t = x;
	return 0;
}

int cache_commit(struct cache_txn **tp)
{
	struct cache_txn *t = *tp;
	int r = 0, rc;

	if (!t)
		return -EINVAL;
	rc = sqlite3_exec(t->k->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		r = sql_err(t->k->db, rc, "committing");
		sqlite3_exec(t->k->db, "ROLLBACK", NULL, NULL, NULL);
	}
	memo_changed(t->c->memo);
	give_back(t->c, t->k);
	free(t);
	*tp = NULL;
	return r;
}

void cache_rollback(struct cache_txn **tp)
{
	struct cache_txn *t = *tp;

	if (!t)
		return;
	sqlite3_exec(t->k->db, "ROLLBACK", NULL, NULL, NULL);
	give_back(t->c, t->k);
	free(t);
	*tp = NULL;
}

/* The inode of uuid, allocated when new (inside a transaction). */
static int ino_for(struct conn *k, const char *uuid, uint64_t *ino)
{
	sqlite3_stmt *s;
	int r = stmt(k, ST_INO_GET, &s), rc;

	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*ino = (uint64_t)sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
		return 0;
	}
	if (rc != SQLITE_DONE)
		return sql_err(k->db, rc, "finding an inode");
	sqlite3_reset(s);
	r = stmt(k, ST_INO_NEW, &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	r = step_done(k, s, "allocating an inode");
	if (r < 0)
		return r;
	*ino = (uint64_t)sqlite3_last_insert_rowid(k->db);
	return 0;
}

int cache_put_object(struct cache_txn *t, const struct dso *d,
		     uint64_t parent_ino, uint64_t *inop)
{
	struct conn *k = t->k;
	sqlite3_stmt *s;
	uint64_t ino = 0;
	int r;

	if (!d->uuid[0])
		return -EINVAL; /* the root is not stored through here */
	r = ino_for(k, d->uuid, &ino);
	if (r < 0)
		return r;
	r = stmt(k, ST_OBJ_PUT, &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)ino);
	sqlite3_bind_int(s, 2, (int)d->type);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)parent_ino);
	sqlite3_bind_text(s, 4, d->name ? d->name : "", -1, SQLITE_STATIC);
	if (d->handle)
		sqlite3_bind_text(s, 5, d->handle, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, d->size);
	sqlite3_bind_text(s, 7, d->md5, -1, SQLITE_STATIC);
	if (d->mime)
		sqlite3_bind_text(s, 8, d->mime, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 9, d->mtime);
	sqlite3_bind_int64(s, 10, d->position);
	sqlite3_bind_int(s, 11, (int)d->rights);
	r = step_done(k, s, "storing an object");
	if (r == 0 && inop)
		*inop = ino;
	return r;
}

int cache_put_meta(struct cache_txn *t, uint64_t ino,
		   const struct meta_field *v, size_t n)
{
	struct conn *k = t->k;
	sqlite3_stmt *s;
	int r = stmt(k, ST_META_DEL, &s);

	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)ino);
	r = step_done(k, s, "clearing metadata");
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (!v[i].key || !v[i].value)
			continue;
		r = stmt(k, ST_META_INS, &s);
		if (r < 0)
			break;
		sqlite3_bind_int64(s, 1, (sqlite3_int64)ino);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
		sqlite3_bind_text(s, 3, v[i].key, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, v[i].value, -1, SQLITE_STATIC);
		r = step_done(k, s, "storing metadata");
	}
	return r;
}

/* Runs a statement bound to at most one integer parameter. */
static int run_simple(struct conn *k, enum stmt_id id, int bind, uint64_t v)
{
	sqlite3_stmt *s;
	int r = stmt(k, id, &s);

	if (r < 0)
		return r;
	if (bind)
		sqlite3_bind_int64(s, 1, (sqlite3_int64)v);
	return step_done(k, s, stmt_sql[id]);
}

int cache_set_children(struct cache_txn *t, uint64_t dir,
		       const struct cache_entry *v, size_t n, int64_t listed_at)
{
	struct conn *k = t->k;
	sqlite3_stmt *s;
	int r;

	r = run_simple(k, ST_OLD_CLEAR, 0, 0);
	if (r == 0)
		r = run_simple(k, ST_OLD_FILL, 1, dir);
	if (r == 0)
		r = run_simple(k, ST_ENT_DEL, 1, dir);
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = stmt(k, ST_ENT_INS, &s);
		if (r < 0)
			break;
		sqlite3_bind_int64(s, 1, (sqlite3_int64)dir);
		sqlite3_bind_text(s, 2, v[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, (sqlite3_int64)v[i].ino);
		sqlite3_bind_int64(s, 4, v[i].position);
		r = step_done(k, s, "storing an entry");
	}
	/* Drop what vanished from here and is nowhere else. */
	if (r == 0)
		r = run_simple(k, ST_OLD_KEEP, 0, 0);
	if (r == 0)
		r = run_simple(k, ST_GC_META, 0, 0);
	if (r == 0)
		r = run_simple(k, ST_GC_LIST, 0, 0);
	if (r == 0)
		r = run_simple(k, ST_GC_ENT, 0, 0);
	if (r == 0)
		r = run_simple(k, ST_GC_OBJ, 0, 0);
	if (r == 0) {
		r = stmt(k, ST_LIST_PUT, &s);
		if (r == 0) {
			sqlite3_bind_int64(s, 1, (sqlite3_int64)dir);
			sqlite3_bind_int64(s, 2, listed_at);
			r = step_done(k, s, "storing a listing time");
		}
	}
	return r;
}

void cache_object_release(struct cache_object *o)
{
	if (!o)
		return;
	free(o->name);
	free(o->raw_name);
	free(o->handle);
	free(o->mime);
	o->name = o->raw_name = o->handle = o->mime = NULL;
}

void cache_objects_release(struct cache_object *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		cache_object_release(&v[i]);
	free(v);
}

void cache_meta_release(struct meta_field *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].key);
		free(v[i].value);
	}
	free(v);
}

/* --- write path: inode re-keying, single entries, local times, the
 * upload journal. Rare calls: statements are prepared per call. --- */

/* Prepares sql on k. */
static int prep(struct conn *k, const char *sql, sqlite3_stmt **s)
{
	int rc = sqlite3_prepare_v2(k->db, sql, -1, s, NULL);

	if (rc != SQLITE_OK) {
		*s = NULL;
		return sql_err(k->db, rc, sql);
	}
	return 0;
}

/* Steps a prepared one-shot statement to its end and finalizes it. */
static int finish(struct conn *k, sqlite3_stmt *s, const char *what)
{
	int r = step_done(k, s, what);

	sqlite3_finalize(s);
	return r;
}

int cache_alloc_ino(struct cache *c, const char *uuid, uint64_t *ino)
{
	struct cache_txn *t;
	int r = cache_begin(c, &t);

	if (r < 0)
		return r;
	r = ino_for(t->k, uuid, ino);
	if (r == 0)
		return cache_commit(&t);
	cache_rollback(&t);
	return r;
}

int cache_rekey(struct cache_txn *t, uint64_t ino, const char *uuid)
{
	sqlite3_stmt *s;
	int r;

	/* A listing may have given the new uuid an inode meanwhile: that
	 * number is retired (never reused) and its rows dropped. */
	r = prep(t->k,
		 "DELETE FROM entries WHERE ino IN (SELECT ino FROM inodes"
		 " WHERE uuid = ?1 AND ino != ?2)",
		 &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)ino);
	r = finish(t->k, s, "re-keying an inode");
	if (r == 0)
		r = prep(t->k,
			 "UPDATE inodes SET uuid = 'retired:' || ino"
			 " WHERE uuid = ?1 AND ino != ?2",
			 &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)ino);
	r = finish(t->k, s, "re-keying an inode");
	if (r == 0)
		r = prep(t->k, "UPDATE inodes SET uuid = ?1 WHERE ino = ?2",
			 &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)ino);
	return finish(t->k, s, "re-keying an inode");
}

int cache_add_entry(struct cache_txn *t, uint64_t dir, const char *name,
		    uint64_t ino, int64_t position)
{
	sqlite3_stmt *s;
	int r = prep(t->k,
		     "INSERT OR REPLACE INTO entries (parent_ino, name, ino,"
		     " position) VALUES (?1, ?2, ?3, ?4)",
		     &s);

	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)dir);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)ino);
	sqlite3_bind_int64(s, 4, position);
	return finish(t->k, s, "adding an entry");
}

int cache_del_entry(struct cache_txn *t, uint64_t dir, const char *name)
{
	sqlite3_stmt *s;
	int r =
	    prep(t->k,
		 "DELETE FROM entries WHERE parent_ino = ?1 AND name = ?2", &s);

	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)dir);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	return finish(t->k, s, "removing an entry");
}

int cache_max_position(struct cache_txn *t, uint64_t dir, int64_t *pos)
{
	sqlite3_stmt *s;
	int r = prep(t->k,
		     "SELECT COALESCE(MAX(position), -1) FROM entries"
		     " WHERE parent_ino = ?1",
		     &s);

	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)dir);
	if (sqlite3_step(s) == SQLITE_ROW)
		*pos = sqlite3_column_int64(s, 0);
	else
		*pos = -1;
	sqlite3_finalize(s);
	return 0;
}

int cache_set_times(struct cache *c, const char *uuid, const char *md5,
		    int64_t mtime, int64_t mtime_ns)
{
	struct conn *k;
	sqlite3_stmt *s;
	int r = borrow(c, &k);

	if (r < 0)
		return r;
	r = prep(k,
		 "INSERT OR REPLACE INTO times (uuid, md5, mtime, mtime_ns)"
		 " VALUES (?1, ?2, ?3, ?4)",
		 &s);
	if (r == 0) {
		sqlite3_bind_text(s, 1, uuid, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, md5 ? md5 : "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, mtime);
		sqlite3_bind_int64(s, 4, mtime_ns);
		r = finish(k, s, "storing times");
	}
	memo_changed(c->memo);
	give_back(c, k);
	return r;
}

/* Binds the fields of u to ?1..?13 (id excluded). */
static void bind_upload(sqlite3_stmt *s, const struct cache_upload *u)
{
	sqlite3_bind_text(s, 1, u->state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)u->ino);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)u->bundle_ino);
	sqlite3_bind_text(s, 4, u->bundle_uuid, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, u->replaces, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, u->name ? u->name : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, u->path ? u->path : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 8, u->spool ? u->spool : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 9, u->size);
	sqlite3_bind_text(s, 10, u->error ? u->error : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 11, u->mtime);
	sqlite3_bind_int64(s, 12, u->mtime_ns);
	sqlite3_bind_int(s, 13, u->has_times);
}

int cache_upload_add(struct cache *c, struct cache_upload *u)
{
	struct conn *k;
	sqlite3_stmt *s;
	int r = borrow(c, &k);

	if (r < 0)
		return r;
	r = prep(k,
		 "INSERT INTO uploads (state, ino, bundle_ino, bundle_uuid,"
		 " replaces, name, path, spool, size, error, mtime, mtime_ns,"
		 " has_times, id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
		 " ?10, ?11, ?12, ?13, ?14)",
		 &s);
	if (r == 0) {
		bind_upload(s, u);
		if (u->id > 0)
			sqlite3_bind_int64(s, 14, u->id);
		else
			sqlite3_bind_null(s, 14);
		r = finish(k, s, "journalling an upload");
		if (r == 0)
			u->id = sqlite3_last_insert_rowid(k->db);
	}
	give_back(c, k);
	return r;
}

int cache_upload_next_id(struct cache *c, int64_t *id)
{
	struct conn *k;
	sqlite3_stmt *s;
	int r = borrow(c, &k);

	if (r < 0)
		return r;
	/* AUTOINCREMENT keeps the largest id ever used in sqlite_sequence
	 * (also for explicit ids), so a number is never handed out twice. */
	r = prep(k,
		 "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence"
		 " WHERE name = 'uploads'), 0),"
		 " COALESCE((SELECT MAX(id) FROM uploads), 0)) + 1",
		 &s);
	if (r == 0) {
		if (sqlite3_step(s) == SQLITE_ROW)
			*id = sqlite3_column_int64(s, 0);
		else
			r = sql_err(k->db, sqlite3_errcode(k->db),
				    "reading the upload journal");
		sqlite3_finalize(s);
	}
	give_back(c, k);
	return r;
}

int cache_upload_update(struct cache *c, const struct cache_upload *u)
{
	struct conn *k;
	sqlite3_stmt *s;
	int r = borrow(c, &k);

	if (r < 0)
		return r;
	r = prep(k,
		 "UPDATE uploads SET state = ?1, ino = ?2, bundle_ino = ?3,"
		 " bundle_uuid = ?4, replaces = ?5, name = ?6, path = ?7,"
		 " spool = ?8, size = ?9, error = ?10, mtime = ?11,"
		 " mtime_ns = ?12, has_times = ?13 WHERE id = ?14",
		 &s);
	if (r == 0) {
		bind_upload(s, u);
		sqlite3_bind_int64(s, 14, u->id);
		r = finish(k, s, "updating the upload journal");
	}
	give_back(c, k);
	return r;
}

int cache_upload_del(struct cache *c, int64_t id)
{
	struct conn *k;
	sqlite3_stmt *s;
	int r = borrow(c, &k);

	if (r < 0)
		return r;
	r = prep(k, "DELETE FROM uploads WHERE id = ?1", &s);
	if (r == 0) {
		sqlite3_bind_int64(s, 1, id);
		r = finish(k, s, "removing an upload from the journal");
	}
	give_back(c, k);
	return r;
}

/* Copies column i (text) into dst of len bytes ("" for NULL). */
static void col_copy(sqlite3_stmt *s, int i, char *dst, size_t len)
{
	const unsigned char *x = sqlite3_column_text(s, i);

	snprintf(dst, len, "%s", x ? (const char *)x : "");
}

/* rows.row and rows.release for the upload journal. */
static int upload_row(sqlite3_stmt *s, void *elem)
{
	struct cache_upload *u = elem;

	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(s, 0);
	col_copy(s, 1, u->state, sizeof(u->state));
	u->ino = (uint64_t)sqlite3_column_int64(s, 2);
	u->bundle_ino = (uint64_t)sqlite3_column_int64(s, 3);
	col_copy(s, 4, u->bundle_uuid, sizeof(u->bundle_uuid));
	col_copy(s, 5, u->replaces, sizeof(u->replaces));
	u->name = col_dup(s, 6);
	u->path = col_dup(s, 7);
	u->spool = col_dup(s, 8);
	u->size = sqlite3_column_int64(s, 9);
	u->error = col_dup(s, 10);
	u->mtime = sqlite3_column_int64(s, 11);
	u->mtime_ns = sqlite3_column_int64(s, 12);
	u->has_times = sqlite3_column_int(s, 13);
	if (u->name && u->path && u->spool && u->error)
		return 0;
	cache_upload_release(u);
	return -ENOMEM;
}

static void uploads_free(void *v, size_t n)
{
	cache_uploads_release(v, n);
}

int cache_upload_list(struct cache *c, struct cache_upload **v, size_t *n)
{
	const struct rows q = {ST_UPLOADS,
			       0,
			       sizeof(**v),
			       8,
			       upload_row,
			       uploads_free,
			       "reading the upload journal"};
	void *a;
	int r = collect_rows(c, &q, &a, n);

	*v = a;
	return r;
}

void cache_upload_release(struct cache_upload *u)
{
	if (!u)
		return;
	free(u->name);
	free(u->path);
	free(u->spool);
	free(u->error);
	u->name = u->path = u->spool = u->error = NULL;
}

void cache_uploads_release(struct cache_upload *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		cache_upload_release(&v[i]);
	free(v);
}
