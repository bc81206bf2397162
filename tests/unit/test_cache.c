/* Unit tests for cache.c against a temporary cache directory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/cache.h"
#include "util/log.h"
#include "tap.h"

/* Fills a dso for storing (strings borrowed from literals). */
static struct dso mk(enum dso_type type, const char *uuid, const char *name,
		     int64_t size, int64_t mtime)
{
	struct dso d;

	memset(&d, 0, sizeof(d));
	d.type = type;
	snprintf(d.uuid, sizeof(d.uuid), "%s", uuid);
	d.name = (char *)name;
	d.size = size;
	d.mtime = mtime;
	return d;
}

/* Mode bits of path, or -1. */
static int mode_of(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -1;
	return (int)(st.st_mode & 07777);
}

#define U_COMM "c0000000-0000-4000-8000-000000000001"
#define U_COLL "c0000000-0000-4000-8000-000000000002"
#define U_ITEM1 "c0000000-0000-4000-8000-000000000003"
#define U_ITEM2 "c0000000-0000-4000-8000-000000000004"
#define U_ITEM3 "c0000000-0000-4000-8000-000000000005"

int main(void)
{
	char tmpl[] = "/tmp/test_cache.XXXXXX", dir[256], path[300], err[256];
	struct cache *c = NULL;
	struct cache_txn *t = NULL;
	struct cache_object o, *v = NULL;
	struct meta_field *m = NULL;
	uint64_t ino_comm = 0, ino_coll = 0, ino_i1 = 0, ino_i2 = 0, ino_i3 = 0;
	uint64_t x;
	int64_t when;
	size_t n;
	mode_t old;

	log_init("test_cache", 0, LL_ERROR);
	if (!mkdtemp(tmpl)) {
		ok(0, "mkdtemp");
		return tap_done();
	}
	/* A nested directory that does not exist yet, with a lax umask:
	 * the cache must still make itself private. */
	snprintf(dir, sizeof(dir), "%s/a/cache", tmpl);
	old = umask(0);
	is_int(cache_open(dir, &c, err, sizeof(err)), 0, "open creates");
	umask(old);
	if (!c) {
		printf("# %s\n", err);
		return tap_done();
	}
	is_int(mode_of(dir), 0700, "cache dir is 0700");
	snprintf(path, sizeof(path), "%s/meta.db", dir);
	is_int(mode_of(path), 0600, "meta.db is 0600");
	snprintf(path, sizeof(path), "%s/meta.db-wal", dir);
	is_int(mode_of(path), 0600, "meta.db-wal is 0600");
	snprintf(path, sizeof(path), "%s/meta.db-shm", dir);
	is_int(mode_of(path), 0600, "meta.db-shm is 0600");
	is_int(cache_schema_version(c), CACHE_SCHEMA_VERSION,
	       "schema version set");

	/* The root exists from the start. */
	is_int(cache_get(c, CACHE_ROOT_INO, &o), 0, "root present");
	is_int(o.type, DSO_NONE, "root type");
	is_str(o.uuid, "", "root uuid empty");
	cache_object_release(&o);
	is_int(cache_listed_at(c, CACHE_ROOT_INO, &when), -ENOENT,
	       "root never listed");
	is_int(cache_get(c, 999, &o), -ENOENT, "unknown inode");

	/* Store root → community → collection → 2 items, in one txn. */
	is_int(cache_begin(c, &t), 0, "begin");
	{
		struct dso d = mk(DSO_COMMUNITY, U_COMM, "Comm/unity", -1, 0);
		struct dso e = mk(DSO_COLLECTION, U_COLL, "Coll", -1, 0);
		struct dso i1 =
		    mk(DSO_ITEM, U_ITEM1, "Item one", -1, 1700000000);
		struct dso i2 =
		    mk(DSO_ITEM, U_ITEM2, "Item two", -1, 1700000001);
		struct meta_field mf[] = {{"dc.title", "Item one"},
					  {"dc.contributor.author", "A\nB"}};

		d.handle = "123/1";
		i1.position = 0;
		i2.position = 1;
		ok(cache_put_object(t, &d, CACHE_ROOT_INO, &ino_comm) == 0 &&
		       cache_put_object(t, &e, ino_comm, &ino_coll) == 0 &&
		       cache_put_object(t, &i1, ino_coll, &ino_i1) == 0 &&
		       cache_put_object(t, &i2, ino_coll, &ino_i2) == 0,
		   "put objects");
		ok(ino_comm > 1 && ino_coll > 1 && ino_i1 > 1 && ino_i2 > 1 &&
		       ino_comm != ino_coll && ino_i1 != ino_i2,
		   "distinct inodes, not root");
		is_int(cache_put_meta(t, ino_i1, mf, 2), 0, "put meta");
		struct cache_entry root_e[] = {{ino_comm, "Comm／unity", 0}};
		struct cache_entry comm_e[] = {{ino_coll, "Coll", 0}};
		struct cache_entry coll_e[] = {{ino_i2, "Item two", 1},
					       {ino_i1, "Item one", 0}};
		ok(cache_set_children(t, CACHE_ROOT_INO, root_e, 1, 1000) ==
			   0 &&
		       cache_set_children(t, ino_comm, comm_e, 1, 1001) == 0 &&
		       cache_set_children(t, ino_coll, coll_e, 2, 1002) == 0,
		   "set children");
	}
	is_int(cache_commit(&t), 0, "commit");
	ok(t == NULL, "commit clears the txn");

	/* Read back. */
	is_int(cache_lookup(c, ino_coll, "Item one", &o), 0, "lookup item");
	is_int(o.ino, ino_i1, "lookup ino");
	is_int(o.parent_ino, ino_coll, "lookup parent");
	is_int(o.type, DSO_ITEM, "lookup type");
	is_str(o.uuid, U_ITEM1, "lookup uuid");
	is_int(o.mtime, 1700000000, "lookup mtime");
	ok(o.handle == NULL, "no handle");
	cache_object_release(&o);
	is_int(cache_lookup(c, ino_coll, "Item three", &o), -ENOENT,
	       "lookup missing");
	is_int(cache_get(c, ino_comm, &o), 0, "get community");
	is_str(o.name, "Comm／unity", "get safe name");
	is_str(o.raw_name, "Comm/unity", "get raw name");
	is_str(o.handle, "123/1", "get handle");
	is_int(o.parent_ino, CACHE_ROOT_INO, "get parent");
	cache_object_release(&o);
	is_int(cache_children(c, ino_coll, &v, &n), 0, "children");
	is_int(n, 2, "two children");
	if (n == 2) {
		is_str(v[0].name, "Item one", "ordered by position (0)");
		is_str(v[1].name, "Item two", "ordered by position (1)");
	}
	cache_objects_release(v, n);
	is_int(cache_meta(c, ino_i1, &m, &n), 0, "meta");
	is_int(n, 2, "two meta fields");
	if (n == 2) {
		is_str(m[0].key, "dc.title", "meta order (0)");
		is_str(m[1].value, "A\nB", "meta value with newline");
	}
	cache_meta_release(m, n);
	is_int(cache_listed_at(c, ino_coll, &when), 0, "listed");
	is_int(when, 1002, "listing time");
	is_int(cache_listed_at(c, ino_i1, &when), -ENOENT,
	       "object without a listing");
	is_int(cache_find_ino(c, U_ITEM2, &x), 0, "find ino");
	is_int(x, ino_i2, "find ino value");

	/* Expire keeps entries. */
	is_int(cache_expire_listing(c, ino_coll), 0, "expire");
	is_int(cache_listed_at(c, ino_coll, &when), 0, "still listed");
	is_int(when, 0, "expired listing time 0");
	is_int(cache_lookup(c, ino_coll, "Item two", &o), 0,
	       "expired entries kept");
	cache_object_release(&o);

	/* Reads answered from memory (core/memo) follow every write. */
	for (int i = 0; i < 2; i++) {
		is_int(cache_children(c, ino_coll, &v, &n), 0, "children");
		cache_objects_release(v, n);
		is_int(cache_get(c, ino_i2, &o), 0, "get");
		cache_object_release(&o);
	}
	is_int(cache_begin(c, &t), 0, "begin a rename");
	ok(cache_del_entry(t, ino_coll, "Item two") == 0 &&
	       cache_add_entry(t, ino_coll, "Item 2", ino_i2, 1) == 0,
	   "rename an entry");
	is_int(cache_commit(&t), 0, "commit the rename");
	is_int(cache_children(c, ino_coll, &v, &n), 0, "children after it");
	ok(n == 2 && !strcmp(v[1].name, "Item 2"), "the new name in the list");
	cache_objects_release(v, n);
	is_int(cache_get(c, ino_i2, &o), 0, "get after the rename");
	is_str(o.name, "Item 2", "the new name by inode");
	cache_object_release(&o);
	is_int(cache_lookup(c, ino_coll, "Item two", &o), -ENOENT,
	       "the old name is gone");
	is_int(cache_begin(c, &t), 0, "begin the rename back");
	ok(cache_del_entry(t, ino_coll, "Item 2") == 0 &&
	       cache_add_entry(t, ino_coll, "Item two", ino_i2, 1) == 0,
	   "rename it back");
	is_int(cache_commit(&t), 0, "commit the rename back");

	/* Close and reopen: same inode numbers. */
	cache_close(&c);
	ok(c == NULL, "close clears");
	is_int(cache_open(dir, &c, err, sizeof(err)), 0, "reopen");
	if (!c)
		return tap_done();
	is_int(cache_schema_version(c), CACHE_SCHEMA_VERSION,
	       "version after reopen");
	is_int(cache_find_ino(c, U_ITEM1, &x), 0, "find after reopen");
	is_int(x, ino_i1, "inode stable across reopen");
	is_int(cache_lookup(c, ino_coll, "Item two", &o), 0,
	       "lookup after reopen");
	is_int(o.ino, ino_i2, "lookup inode stable");
	cache_object_release(&o);

	/* Replace the collection's children: item 1 vanishes, 3 appears. */
	is_int(cache_begin(c, &t), 0, "begin 2");
	{
		struct dso i3 = mk(DSO_ITEM, U_ITEM3, "Item three", -1, 5);
		struct dso i2 =
		    mk(DSO_ITEM, U_ITEM2, "Item two (renamed)", -1, 6);

		ok(cache_put_object(t, &i3, ino_coll, &ino_i3) == 0 &&
		       cache_put_object(t, &i2, ino_coll, &x) == 0,
		   "put 2");
		is_int(x, ino_i2, "update keeps inode");
		ok(ino_i3 > ino_i2 && ino_i3 > ino_i1,
		   "new inode above old ones");
		struct cache_entry coll_e[] = {
		    {ino_i2, "Item two (renamed)", 0},
		    {ino_i3, "Item three", 1}};
		is_int(cache_set_children(t, ino_coll, coll_e, 2, 2000), 0,
		       "replace children");
	}
	is_int(cache_commit(&t), 0, "commit 2");
	is_int(cache_lookup(c, ino_coll, "Item one", &o), -ENOENT,
	       "vanished entry gone");
	is_int(cache_lookup(c, ino_coll, "Item two", &o), -ENOENT,
	       "old name gone");
	is_int(cache_get(c, ino_i1, &o), -ENOENT, "vanished object dropped");
	is_int(cache_meta(c, ino_i1, &m, &n), 0, "meta of vanished");
	is_int(n, 0, "vanished object's meta dropped");
	cache_meta_release(m, n);
	is_int(cache_children(c, ino_coll, &v, &n), 0, "children 2");
	is_int(n, 2, "two children again");
	if (n == 2) {
		is_str(v[0].name, "Item two (renamed)", "renamed entry");
		is_str(v[1].name, "Item three", "new entry");
	}
	cache_objects_release(v, n);
	is_int(cache_listed_at(c, ino_coll, &when), 0, "listed 2");
	is_int(when, 2000, "listing time replaced");

	/* An object in two directories survives leaving one of them. */
	is_int(cache_begin(c, &t), 0, "begin 3");
	{
		struct cache_entry comm_e[] = {{ino_coll, "Coll", 0},
					       {ino_i3, "Mapped", 1}};
		struct cache_entry coll_e[] = {
		    {ino_i2, "Item two (renamed)", 0}};

		ok(cache_set_children(t, ino_comm, comm_e, 2, 3000) == 0 &&
		       cache_set_children(t, ino_coll, coll_e, 1, 3000) == 0,
		   "move item three");
	}
	is_int(cache_commit(&t), 0, "commit 3");
	is_int(cache_get(c, ino_i3, &o), 0, "object still in another dir");
	is_str(o.name, "Mapped", "named through its remaining entry");
	is_int(o.parent_ino, ino_comm, "parent is the remaining directory");
	cache_object_release(&o);
	is_int(cache_get(c, ino_i2, &o), 0, "get item two");
	is_str(o.name, "Item two (renamed)",
	       "named through its primary parent");
	is_int(o.parent_ino, ino_coll, "primary parent");
	cache_object_release(&o);
	is_int(cache_lookup(c, ino_comm, "Mapped", &o), 0, "found there");
	cache_object_release(&o);

	/* Rolled back writes leave nothing. */
	is_int(cache_begin(c, &t), 0, "begin 4");
	is_int(cache_set_children(t, ino_coll, NULL, 0, 4000), 0,
	       "empty children");
	cache_rollback(&t);
	is_int(cache_listed_at(c, ino_coll, &when), 0, "after rollback");
	is_int(when, 3000, "rollback kept the old listing");

	/* Inode numbers are never reused, even for a vanished object that
	 * comes back. */
	is_int(cache_begin(c, &t), 0, "begin 5");
	{
		struct dso i1 = mk(DSO_ITEM, U_ITEM1, "Item one", -1, 0);

		is_int(cache_put_object(t, &i1, ino_coll, &x), 0,
		       "put returning");
		is_int(x, ino_i1, "returning object keeps its inode");
	}
	is_int(cache_commit(&t), 0, "commit 5");
	cache_close(&c);

	/* A database from the future is refused. */
	{
		sqlite3 *db;

		snprintf(path, sizeof(path), "%s/meta.db", dir);
		ok(sqlite3_open(path, &db) == SQLITE_OK &&
		       sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL,
				    NULL) == SQLITE_OK,
		   "bump version");
		sqlite3_close(db);
		err[0] = '\0';
		ok(cache_open(dir, &c, err, sizeof(err)) < 0 && c == NULL,
		   "newer schema refused");
		ok(strstr(err, "newer") != NULL, "reason says newer");
	}

	/* Clean up. */
	snprintf(path, sizeof(path), "rm -rf '%s'", tmpl);
	if (system(path) != 0)
		printf("# could not remove %s\n", tmpl);
	return tap_done();
}
