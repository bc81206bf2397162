/* rest: DSpace endpoints and HAL paging. The only module that builds URLs.
 *
 * All functions go through the shared session, return 0 or -errno (HTTP
 * status mapped by http_status_errno(), malformed JSON → EIO after a log
 * line naming the URL), and append to caller-owned lists. Paging follows
 * the server's "next" links until the end, with the largest page sizes the
 * server honours (1000 on ordinary lists, 100 on discovery, whose cap
 * silently skips objects when a larger size is asked: DS#8723). */
#ifndef DSPACEFS_REST_H
#define DSPACEFS_REST_H

#include "model.h"
#include "session.h"

/* Lists the direct children of a directory-like object, plus any embedded
 * descendants that arrived with them (see model.h for the order):
 *   DSO_NONE (root)  → top-level communities
 *   DSO_COMMUNITY    → sub-communities, then collections
 *   DSO_COLLECTION   → items (discovery, scope=collection, dsoType=ITEM),
 *                      asking for each item's bundles and bitstreams to be
 *                      embedded; children_complete says whether they came
 *   DSO_ITEM         → bundles, with their bitstreams embedded
 *   DSO_BUNDLE       → bitstreams
 * Entries the server leaves out (restricted) are simply absent. */
int rest_list_children(struct session *s, enum dso_type parent_type,
		       const char *parent_uuid, struct dso_list *out);

/* Fetches one object (and, for items, its bundles and bitstreams). */
int rest_get_object(struct session *s, enum dso_type type, const char *uuid,
		    struct dso_list *out);

/* The content URL of a bitstream (caller frees), NULL on ENOMEM. */
char *rest_content_url(struct session *s, const char *uuid);

#endif
