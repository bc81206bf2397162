/* tree_db.h: a tree over a cache database of its own, for the unit tests
 * (main.c opens the database and lends it to the tree and the upload
 * journal; these helpers do the same in one call). */
#ifndef DSPACEFS_TREE_DB_H
#define DSPACEFS_TREE_DB_H

#include <stddef.h>

#include "core/cache.h"
#include "core/tree.h"

/* Opens the cache database in dir into cfg->cache and a tree over it
 * (no session). NULL on failure, with a reason in err. */
static inline struct tree *
tree_db_open(const char *dir, struct tree_config *cfg, char *err, size_t errlen)
{
	struct tree *t;

	if (cache_open(dir, &cfg->cache, err, errlen) < 0)
		return NULL;
	t = tree_new(NULL, cfg, err, errlen);
	if (!t)
		cache_close(&cfg->cache);
	return t;
}

/* Frees the tree, then closes its database. */
static inline void tree_db_close(struct tree **t, struct tree_config *cfg)
{
	tree_free(t);
	cache_close(&cfg->cache);
}

#endif
