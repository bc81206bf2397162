/* Unit tests of tree.c with rest.c replaced by a scripted stub: TTLs,
 * embedded descendants, stale-while-unreachable, concurrency, remounts. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "core/inval.h"
#include "util/log.h"
#include "dspace/model.h"
#include "dspace/rest.h"
#include "core/tree.h"
#include "tap.h"
#include "tree_db.h"

static int calls, fail_with, delay_ms, n_items = 3, item2_incomplete = 1;
static int md5_variant; /* item 1's a.pdf has another MD5 */
static pthread_mutex_t cl = PTHREAD_MUTEX_INITIALIZER;

#define COMM "c0000000-0000-4000-8000-000000000001"
#define COLL "c0000000-0000-4000-8000-000000000002"

/* Copies a UUID string into a fixed UUID_LEN + 1 field. */
static void copy_uuid(char *dst, const char *src)
{
	size_t n = strnlen(src, UUID_LEN);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static struct dso *push(struct dso_list *l, enum dso_type t, const char *uuid,
			const char *parent, const char *name, int64_t pos)
{
	struct dso *d = dso_list_push(l);

	d->type = t;
	copy_uuid(d->uuid, uuid);
	copy_uuid(d->parent, parent ? parent : "");
	d->name = strdup(name);
	d->position = pos;
	return d;
}

static void item_uuid(char *b, int i, int kind, int j)
{
	snprintf(b, UUID_LEN + 1, "%08x-0000-4000-8000-%04x%08x", i, kind, j);
}

/* Items under COLL: i, bundle ORIGINAL with 2 bitstreams, LICENSE 1. */
static void add_item(struct dso_list *l, int i, const char *parent, int pos,
		     int embed)
{
	char u[40], b[40], f[40];
	struct dso *d;

	item_uuid(u, i, 1, 0);
	d = push(l, DSO_ITEM, u, parent,
		 i == 1 ? "Same title" : (i == 2 ? "Same title" : "Other"),
		 pos);
	d->mtime = 1700000000 + i;
	d->handle = malloc(32);
	snprintf(d->handle, 32, "123/%d", 100 + i);
	d->meta = calloc(1, sizeof(*d->meta));
	d->meta[0].key = strdup("dc.title");
	d->meta[0].value = strdup(d->name);
	d->nmeta = 1;
	if (!embed)
		return;
	d->children_complete = !(i == 2 && item2_incomplete);
	if (!d->children_complete)
		return;
	item_uuid(b, i, 2, 0);
	d = push(l, DSO_BUNDLE, b, u, "ORIGINAL", 0);
	d->children_complete = 1;
	for (int j = 0; j < 2; j++) {
		item_uuid(f, i, 3, j);
		d = push(l, DSO_BITSTREAM, f, b, j ? "b/c.txt" : "a.pdf", j);
		d->size = 1000 + j;
		memcpy(d->md5, "0123456789abcdef0123456789abcdef", 33);
		if (md5_variant && i == 1 && j == 0)
			d->md5[0] = 'f';
		d->mime = strdup("application/pdf");
	}
	item_uuid(b, i, 4, 0);
	d = push(l, DSO_BUNDLE, b, u, "LICENSE", 1);
	d->children_complete = 0;
}

int rest_list_children(struct session *s, enum dso_type pt, const char *pu,
		       struct dso_list *out)
{
	(void)s;
	pthread_mutex_lock(&cl);
	calls++;
	pthread_mutex_unlock(&cl);
	if (delay_ms)
		usleep(delay_ms * 1000);
	if (fail_with)
		return fail_with;
	if (pt == DSO_NONE) {
		push(out, DSO_COMMUNITY, COMM, "", "Comm/A", 0);
		return 0;
	}
	if (pt == DSO_COMMUNITY) {
		push(out, DSO_COLLECTION, COLL, pu, "Coll", 0);
		return 0;
	}
	if (pt == DSO_COLLECTION) {
		for (int i = 1; i <= n_items; i++)
			add_item(out, i, pu, i - 1, 1);
		return 0;
	}
	if (pt == DSO_ITEM) {
		/* item 2's bundles */
		char b[40], f[40];
		struct dso *d;

		item_uuid(b, 2, 2, 0);
		d = push(out, DSO_BUNDLE, b, pu, "ORIGINAL", 0);
		d->children_complete = 1;
		item_uuid(f, 2, 3, 0);
		d = push(out, DSO_BITSTREAM, f, b, "x.pdf", 0);
		d->size = 5;
		return 0;
	}
	if (pt == DSO_BUNDLE) {
		char f[40];
		struct dso *d;

		item_uuid(f, 99, 3, 0);
		d = push(out, DSO_BITSTREAM, f, pu, "license.txt", 0);
		d->size = 7;
		return 0;
	}
	return -EINVAL;
}

/* The find calls tree.c makes for the views (not exercised here). */
int rest_find_uuid(struct session *s, const char *uuid, struct dso_list *out)
{
	(void)s;
	(void)uuid;
	(void)out;
	return -ENOENT;
}

int rest_find_handle(struct session *s, const char *handle,
		     struct dso_list *out)
{
	(void)s;
	(void)handle;
	(void)out;
	return -ENOENT;
}

int rest_get_object(struct session *s, enum dso_type type, const char *uuid,
		    struct dso_list *out)
{
	(void)s;
	(void)type;
	(void)uuid;
	(void)out;
	return -ENOSYS;
}

/* No authorization features in these tests: modes stay unknown. */
int dspace_authz(struct session *s, enum dso_type type, struct dso *v, size_t n)
{
	(void)s;
	(void)type;
	(void)v;
	(void)n;
	return -ENOSYS;
}

static struct tree *t;
static uint64_t g_coll;

static char sunk[2048];

/* inval's sink: records "D5 ", "A5 " or "E1/name ". */
static int sink(void *arg, const struct inval_req *r)
{
	size_t len = strlen(sunk);

	(void)arg;
	if (r->kind == INVAL_ENTRY)
		snprintf(sunk + len, sizeof(sunk) - len, "E%llu/%s ",
			 (unsigned long long)r->ino, r->name);
	else
		snprintf(sunk + len, sizeof(sunk) - len, "%c%llu ",
			 r->kind == INVAL_DATA ? 'D' : 'A',
			 (unsigned long long)r->ino);
	return 0;
}

/* Whether the requests delivered so far include want; forgets them. */
static int sunk_has(struct inval *inv, const char *want)
{
	int has;

	inval_drain(inv);
	has = want ? strstr(sunk, want) != NULL : sunk[0] == '\0';
	if (!has)
		printf("# delivered: %s\n", sunk);
	sunk[0] = '\0';
	return has;
}

/* A refreshed listing tells inval what changed, also in embedded
 * listings: a file's new MD5 (its reader turns stale), a vanished item. */
static void test_refresh_inval(void)
{
	char tmpl[] = "/tmp/tt_tree3.XXXXXX", err[256], want[64];
	struct tree_config cfg = {0};
	struct inval *inv = inval_new();
	struct tree_node *v, nd;
	size_t n;
	uint64_t coll, orig, a, gen;

	fail_with = 0;
	n_items = 3;
	mkdtemp(tmpl);
	cfg.cache_ttl = 60;
	cfg.inval = inv;
	inval_start(inv, sink, NULL);
	t = tree_db_open(tmpl, &cfg, err, sizeof(err));
	/* fs.c marks the directories the kernel asks about */
	inval_dir_seen(inv, TREE_ROOT_INO);
	tree_list(t, TREE_ROOT_INO, &v, &n);
	inval_dir_seen(inv, v[0].ino);
	tree_lookup(t, v[0].ino, "Coll", &nd);
	tree_nodes_release(v, n);
	coll = nd.ino;
	tree_node_release(&nd);
	inval_dir_seen(inv, coll);
	tree_lookup(t, coll, "Same title [101]", &nd);
	orig = nd.ino;
	tree_node_release(&nd);
	inval_dir_seen(inv, orig);
	tree_lookup(t, orig, "ORIGINAL", &nd);
	orig = nd.ino;
	tree_node_release(&nd);
	inval_dir_seen(inv, orig);
	tree_lookup(t, orig, "a.pdf", &nd);
	a = nd.ino;
	inval_open(inv, a, nd.uuid, nd.md5, nd.size, &gen);
	tree_node_release(&nd);
	ok(sunk_has(inv, "D1 "), "first listings: new entries told");

	tree_invalidate(t, coll);
	tree_list(t, coll, &v, &n);
	tree_nodes_release(v, n);
	ok(sunk_has(inv, NULL), "an unchanged refresh tells nothing");

	md5_variant = 1;
	tree_invalidate(t, coll);
	tree_list(t, coll, &v, &n);
	tree_nodes_release(v, n);
	snprintf(want, sizeof(want), "D%llu D%llu ", (unsigned long long)a,
		 (unsigned long long)orig);
	ok(sunk_has(inv, want), "an embedded file's new MD5: its pages");
	ok(!inval_current(inv, a, gen), "its reader is stale");

	/* a directory the kernel never asked about is not compared */
	md5_variant = 0;
	tree_lookup(t, coll, "Same title [102]", &nd);
	ok(!inval_dir_known(inv, nd.ino), "item 2 was never seen");
	tree_node_release(&nd);

	n_items = 2;
	tree_invalidate(t, coll);
	tree_list(t, coll, &v, &n);
	tree_nodes_release(v, n);
	snprintf(want, sizeof(want), "E%llu/Other ", (unsigned long long)coll);
	ok(sunk_has(inv, want), "a vanished item: its entry");
	inval_close(inv, a, gen);
	tree_db_close(&t, &cfg);
	inval_free(&inv);
	md5_variant = 0;
}

static void *lister(void *arg)
{
	struct tree_node *v;
	size_t n;
	long r = tree_list(t, g_coll, &v, &n);

	(void)arg;
	if (r == 0)
		tree_nodes_release(v, n);
	return (void *)r;
}

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/tt_tree.XXXXXX", err[256];
	struct tree_config cfg = {0};
	struct tree_node nd, *v;
	size_t n;
	uint64_t comm, coll, it1, it2, orig, it1_ino;

	log_init("tt", 0, LL_DEBUG);
	if (argc > 1) {
		struct timespec a, b;
		char tp[] = "/tmp/tt_perf.XXXXXX";
		long ndir = 0;

		mkdtemp(tp);
		cfg.cache_ttl = 60;
		n_items = atoi(argv[1]);
		item2_incomplete = 0;
		t = tree_db_open(tp, &cfg, err, sizeof(err));
		tree_list(t, 1, &v, &n);
		comm = v[0].ino;
		tree_nodes_release(v, n);
		tree_list(t, comm, &v, &n);
		coll = v[0].ino;
		tree_nodes_release(v, n);
		clock_gettime(CLOCK_MONOTONIC, &a);
		tree_list(t, coll, &v, &n);
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("store+list %zu items: %.3fs calls=%d\n", n,
		       (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9,
		       calls);
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (size_t i = 0; i < n; i++) {
			struct tree_node *w, *x;
			size_t k, q;
			tree_lookup(t, coll, v[i].name, &nd);
			tree_node_release(&nd);
			tree_list(t, v[i].ino, &w, &k);
			ndir++;
			for (size_t j = 0; j < k; j++) {
				tree_lookup(t, v[i].ino, w[j].name, &nd);
				tree_node_release(&nd);
				if (j == 0) {
					tree_list(t, w[j].ino, &x, &q);
					tree_nodes_release(x, q);
				}
			}
			tree_nodes_release(w, k);
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("walk: %.3fs calls=%d\n",
		       (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9,
		       calls);
		tree_nodes_release(v, n);
		tree_db_close(&t, &cfg);
		return 0;
	}
	mkdtemp(tmpl);
	cfg.cache_ttl = 2;
	t = tree_db_open(tmpl, &cfg, err, sizeof(err));
	ok(t != NULL, "tree_new");
	is_int(tree_getattr(t, TREE_ROOT_INO, &nd), 0, "root getattr");
	is_int(calls, 0, "root getattr no request");
	tree_node_release(&nd);
	is_int(tree_lookup(t, TREE_ROOT_INO, ".hidden", &nd), -ENOENT, "probe");
	is_int(tree_lookup(t, TREE_ROOT_INO, ".Trash-1000", &nd), -ENOENT,
	       "probe trash");
	is_int(calls, 0, "probe no request");

	is_int(tree_list(t, TREE_ROOT_INO, &v, &n), 0, "list root");
	is_int(n, 1, "one community");
	is_str(v[0].name, "Comm／A", "safe name");
	comm = v[0].ino;
	tree_nodes_release(v, n);
	is_int(calls, 1, "one request");
	is_int(tree_lookup(t, TREE_ROOT_INO, "Comm／A", &nd), 0, "lookup comm");
	is_int(nd.ino, comm, "same ino");
	tree_node_release(&nd);
	is_int(calls, 1, "lookup cached");
	is_int(tree_lookup(t, comm, "Coll", &nd), 0, "lookup coll");
	coll = nd.ino;
	g_coll = coll;
	tree_node_release(&nd);
	is_int(calls, 2, "community listed");

	is_int(tree_list(t, coll, &v, &n), 0, "list coll");
	is_int(n, 3, "three items");
	for (size_t i = 0; i < n; i++)
		printf("# %s ino=%llu mtime=%lld\n", v[i].name,
		       (unsigned long long)v[i].ino, (long long)v[i].mtime);
	is_str(v[0].name, "Same title [101]", "handle suffix 1");
	is_str(v[1].name, "Same title [102]", "handle suffix 2");
	it1 = v[0].ino;
	it1_ino = it1;
	it2 = v[1].ino;
	tree_nodes_release(v, n);
	is_int(calls, 3, "collection listed");
	is_int(tree_list(t, it1, &v, &n), 0, "list item 1");
	is_int(n, 2, "two bundles");
	is_int(calls, 3, "item 1 bundles from embedded");
	orig = v[0].ino;
	is_int(v[0].mtime, 1700000001, "bundle inherits mtime");
	tree_nodes_release(v, n);
	is_int(tree_list(t, orig, &v, &n), 0, "list ORIGINAL");
	is_int(n, 2, "two files");
	is_int(calls, 3, "bitstreams from embedded");
	is_str(v[0].name, "a.pdf", "file");
	is_str(v[1].name, "b／c.txt", "file 2");
	is_int(v[0].size, 1000, "size");
	is_int(v[0].mtime, 1700000001, "bitstream inherits mtime");
	is_str(v[0].mime, "application/pdf", "mime");
	tree_nodes_release(v, n);
	is_int(tree_lookup(t, it1, "LICENSE", &nd), 0, "lookup LICENSE");
	is_int(calls, 3, "still no request");
	is_int(tree_list(t, nd.ino, &v, &n), 0, "list LICENSE (incomplete)");
	is_int(calls, 4, "incomplete bundle listed by request");
	is_int(n, 1, "one license file");
	is_int(v[0].mtime, 1700000001, "inherits via stored bundle");
	tree_nodes_release(v, n);
	tree_node_release(&nd);
	is_int(tree_list(t, it2, &v, &n), 0, "list item 2 (incomplete)");
	is_int(calls, 5, "incomplete item listed by request");
	tree_nodes_release(v, n);

	{
		struct meta_field *m;
		is_int(tree_metadata(t, it1, &m, &n), 0, "metadata");
		is_int(n, 1, "one field");
		is_str(m[0].value, "Same title", "value");
		meta_fields_release(m, n);
	}

	int before0;
	/* TTL expiry, then unreachable → stale. */
	sleep(3);
	fail_with = -ECONNREFUSED;
	is_int(tree_list(t, coll, &v, &n), 0, "stale list served");
	is_int(n, 3, "stale items");
	tree_nodes_release(v, n);
	is_int(tree_list(t, coll, &v, &n), 0,
	       "stale list served again (one warning)");
	tree_nodes_release(v, n);
	is_int(tree_lookup(t, coll, "Other", &nd), 0, "stale lookup");
	tree_node_release(&nd);
	before0 = calls;
	is_int(tree_list(t, coll, &v, &n), 0, "held stale");
	tree_nodes_release(v, n);
	is_int(calls - before0, 0, "no retry while held");
	tree_invalidate(t, coll);
	fail_with = -EACCES;
	is_int(tree_list(t, coll, &v, &n), -EACCES, "EACCES not masked");
	fail_with = -ECONNREFUSED;
	{
		/* never cached dir: item3's? all cached. Use a fresh tree dir.
		 */
	}
	fail_with = 0;

	/* Thundering herd */
	tree_invalidate(t, coll);
	n_items = 2;
	delay_ms = 300;
	int before = calls;
	pthread_t th[8];
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, lister, NULL);
	int allok = 1;
	for (int i = 0; i < 8; i++) {
		void *rv;
		pthread_join(th[i], &rv);
		if (rv)
			allok = 0;
	}
	ok(allok, "concurrent lists ok");
	is_int(calls - before, 1, "one request for 8 concurrent lists");
	delay_ms = 0;
	is_int(tree_list(t, coll, &v, &n), 0, "list after shrink");
	is_int(n, 2, "vanished item removed");
	tree_nodes_release(v, n);
	is_int(tree_lookup(t, coll, "Other", &nd), -ENOENT, "vanished lookup");
	is_int(tree_getattr(t, it1, &nd), 0, "it1 still there");
	is_str(nd.name, "Same title [101]", "getattr name");
	tree_node_release(&nd);

	tree_db_close(&t, &cfg);
	/* remount: same inodes, expired listing revalidated */
	t = tree_db_open(tmpl, &cfg, err, sizeof(err));
	before = calls;
	is_int(tree_lookup(t, coll, "Same title [101]", &nd), 0,
	       "lookup after remount");
	is_int(nd.ino, it1_ino, "inode stable across remount");
	tree_node_release(&nd);
	is_int(calls - before, 0, "within TTL: no request");
	sleep(3);
	is_int(tree_lookup(t, coll, "Same title [101]", &nd), 0,
	       "lookup after TTL");
	is_int(nd.ino, it1_ino, "inode stable");
	tree_node_release(&nd);
	is_int(calls - before, 1, "expired: revalidated");
	tree_db_close(&t, &cfg);

	/* Never cached + unreachable → error */
	char tmpl2[] = "/tmp/tt_tree2.XXXXXX";
	mkdtemp(tmpl2);
	t = tree_db_open(tmpl2, &cfg, err, sizeof(err));
	fail_with = -ECONNREFUSED;
	is_int(tree_list(t, TREE_ROOT_INO, &v, &n), -ECONNREFUSED,
	       "never cached → error");
	tree_db_close(&t, &cfg);
	test_refresh_inval();
	return tap_done();
}
