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

#include "dspace/model.h"
#include "dspace/session.h"

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

/* --- write path (§6 of the contract). Each returns 0 or -errno after a
 * log line naming the URL, status and the server's message; the objects the
 * server returns are appended to out (which may be NULL where allowed). --- */

/* POST items?owningCollection=: an archived, discoverable item titled
 * title (admin only). Appends the new item. */
int rest_create_item(struct session *s, const char *collection_uuid,
		     const char *title, struct dso_list *out);

/* POST items/{u}/bundles. A bundle of that name already existing is a 400
 * (→ -EIO): look it up. Appends the new bundle. */
int rest_create_bundle(struct session *s, const char *item_uuid,
		       const char *name, struct dso_list *out);

/* Multipart POST bundles/{u}/bitstreams streamed from the file at path,
 * with properties {"name": name}. Appends the new bitstream, whose md5 the
 * caller must compare with its own. -EFBIG when the server answers 400:
 * DSpace's answer to a body over its multipart size limit (the message
 * does not say so; our body is otherwise well formed). */
int rest_upload_bitstream(struct session *s, const char *bundle_uuid,
			  const char *name, const char *path,
			  struct dso_list *out);
/* The same with the file's content from read/read_end/ctx (see struct
 * http_part), sent chunked as it comes; one attempt only. */
int rest_upload_bitstream_stream(struct session *s, const char *bundle_uuid,
				 const char *name,
				 size_t (*read)(char *, size_t, size_t, void *),
				 void (*read_end)(void *), void *ctx,
				 struct dso_list *out);

/* PATCH replace /metadata/dc.title/0: renames a bitstream, bundle or item.
 * Appends the updated object when out is not NULL. */
int rest_set_name(struct session *s, enum dso_type type, const char *uuid,
		  const char *name, struct dso_list *out);

/* PUT bitstreams/{u}/bundle (text/uri-list): moves a bitstream into
 * another bundle. Already there → 400 (-EIO). */
int rest_move_bitstream(struct session *s, const char *bitstream_uuid,
			const char *bundle_uuid);

/* DELETE a bitstream, bundle (with its bitstreams) or item (with
 * everything in it). Unknown/already deleted → -ENOENT. Communities and
 * collections are refused with -EINVAL. */
int rest_delete(struct session *s, enum dso_type type, const char *uuid);

#endif
