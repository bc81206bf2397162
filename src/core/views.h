/* views: the read-only directories that find objects without walking the
 * repository (design.md, "Names the mount reserves"):
 *
 *   MOUNT/.uuid/<uuid>                 the object itself (tree_find_uuid)
 *   MOUNT/.search/<query>/NAME         links to ../../.uuid/<uuid> of the
 *                                      items a discovery query finds
 *   DIR/.search/<query>/NAME           the same within a community or
 *                                      collection (scope=)
 *   MOUNT/.handle/<prefix>/<suffix>    a link to ../../.uuid/<uuid>
 *
 * A query is the directory name as typed, "%2F" standing for '/' and "%25"
 * for '%'; names starting with '.' are never queries nor handles (desktop
 * probes get ENOENT without a request). A query directory is searched when
 * it is listed or a name in it is looked up, and its results are kept for
 * the listing TTL; only the newest results of each are kept in memory,
 * those of directories unused for a TTL are dropped. Results stop at the
 * cap (search_max), with a warning in the log. .search, .handle and
 * .handle/<prefix> list nothing, and the views are not listed in their
 * parents.
 *
 * View directories and links have inode numbers of their own (views_owns);
 * objects under .uuid are the tree's, with the inode their regular path
 * has. Thread safe. */
#ifndef DSPACEFS_VIEWS_H
#define DSPACEFS_VIEWS_H

#include <stddef.h>
#include <stdint.h>

#include "core/tree.h"

struct views;

/* The default cap on the results of one search. */
#define VIEWS_SEARCH_MAX 1000

/* s, t: borrowed; ttl: seconds search results are trusted (0 → 60);
 * search_max: results kept per search (0 → VIEWS_SEARCH_MAX). NULL on
 * ENOMEM. */
struct views *views_new(struct session *s, struct tree *t, int ttl,
			size_t search_max);
void views_free(struct views **v);

/* Whether ino is a view's directory or link (pure arithmetic). */
int views_owns(uint64_t ino);
/* Whether a view inode is a symbolic link (else a directory). */
int views_is_link(uint64_t ino);

/* What views_lookup returns when name in parent is not a view's. */
#define VIEWS_PASS 1

/* Resolves name in parent when it is a view or inside one: 0 with *out
 * set, -errno, or VIEWS_PASS (the tree answers). */
int views_lookup(struct views *v, uint64_t parent, const char *name,
		 struct tree_node *out);
/* stat of a view inode (its size: a link's target length). */
int views_getattr(struct views *v, uint64_t ino, struct tree_node *out);
/* The entries of a view directory (*out: tree_nodes_release). */
int views_list(struct views *v, uint64_t ino, struct tree_node **out,
	       size_t *n);
/* The target of a view link (caller frees). */
int views_readlink(struct views *v, uint64_t ino, char **target);

#endif
