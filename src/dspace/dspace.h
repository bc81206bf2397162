/* dspace: the one header the core includes for the DSpace backend.
 *
 * Everything that knows DSpace (its REST paths, JSON, session and CSRF
 * rules, how content is ranged) sits behind these declarations: the object
 * model (model.h) and the calls the core makes. A second backend (e.g.
 * Islandora) would sit next to dspace/ with a header like this one. No
 * HTTP or curl type appears here: the core knows neither.
 *
 * All calls go through the shared session (struct session, made by main
 * with session.h), return 0 or -errno (classes in util/errors.h), log the
 * URL and the server's message on failure, and append to caller-owned
 * lists. Paging follows the server's "next" links until the end, with the
 * largest page sizes the server honours (1000 on ordinary lists, 100 on
 * discovery, whose cap silently skips objects when a larger size is asked:
 * DS#8723). */
#ifndef DSPACEFS_DSPACE_H
#define DSPACEFS_DSPACE_H

#include <stddef.h>
#include <stdint.h>

#include "dspace/model.h"

struct session;

/* The REST API root for a server URL the user gave (caller frees; NULL on
 * ENOMEM): trailing '/' removed and "/api" appended unless already there,
 * e.g. "https://host/server" → "https://host/server/api". */
char *dspace_api_root(const char *url);

/* --- reads --- */

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

/* --- finding objects (the mount's .search, .handle and .uuid views) --- */

/* The items a discovery query finds (query as the user typed it, sent
 * encoded; scope_uuid: a community or collection, or NULL/"" for all),
 * paged at discovery's cap with the bundles embedded like a collection
 * listing. Stops after max items (0: no cap), then sets *capped. */
int rest_search_items(struct session *s, const char *scope_uuid,
		      const char *query, size_t max, struct dso_list *out,
		      int *capped);
/* The object with that UUID: one discovery search (search.resourceid) for
 * a community, collection or discoverable item; else (bitstreams, bundles,
 * withdrawn or private items) GET dso/find?uuid= (302 to the typed URL)
 * and that GET; 404 → -ENOENT. Appends the object first (an item's
 * bundles and bitstreams may follow it). */
int rest_find_uuid(struct session *s, const char *uuid, struct dso_list *out);
/* The object with that handle ("10673/20"): one discovery search (field
 * handle) for a community, collection or discoverable item; else GET
 * pid/find?id= (302), then the typed GET; 404 → -ENOENT. Appends the
 * object first. */
int rest_find_handle(struct session *s, const char *handle,
		     struct dso_list *out);

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
 * caller must compare with its own. -EFBIG when the server answers 400
 * "Request is invalid or incorrect": DSpace's answer to a body over its
 * multipart size limit (our body is otherwise well formed); any other 400
 * is -EIO. */
int rest_upload_bitstream(struct session *s, const char *bundle_uuid,
			  const char *name, const char *path,
			  struct dso_list *out);
/* The same with the modification time sec.ns in the new bitstream's
 * dcterms.modified (the multipart properties' metadata, contract 6.3):
 * no PATCH needed afterwards. */
int rest_upload_bitstream_time(struct session *s, const char *bundle_uuid,
			       const char *name, const char *path, int64_t sec,
			       int64_t ns, struct dso_list *out);
/* The same with the file's content from read/read_end/ctx, sent chunked
 * as it comes; one attempt only. read returns the bytes it copied into
 * buf (at most size * nitems), 0 at the end, REST_READ_ABORT to fail the
 * upload; read_end(ctx), if set, is called when the attempt is over. */
int rest_upload_bitstream_stream(struct session *s, const char *bundle_uuid,
				 const char *name,
				 size_t (*read)(char *, size_t, size_t, void *),
				 void (*read_end)(void *), void *ctx,
				 struct dso_list *out);

/* DSpace 10: multipart PUT bitstreams/{u}/content from the file at path.
 * Appends the new bitstream (new UUID, the old one's metadata and place;
 * the old one is deleted by the server). -EOPNOTSUPP when the server does
 * not replace content (before 10.0, or replace-bitstream.enabled = false,
 * which DSpace answers with a 400 after the body: remembered for the
 * session, not tried again): create a new bitstream instead. */
int rest_replace_bitstream(struct session *s, const char *bitstream_uuid,
			   const char *name, const char *path,
			   struct dso_list *out);
/* Whether rest_replace_bitstream is worth trying: a 10.x server that has
 * not refused it on this mount. */
int session_replace_usable(struct session *s);

/* PATCH replace /metadata/dc.title/0: renames a bitstream, bundle or item.
 * Appends the updated object when out is not NULL. */
int rest_set_name(struct session *s, enum dso_type type, const char *uuid,
		  const char *name, struct dso_list *out);

/* The MIME type DSpace gives a new bitstream called name (its format
 * registry, read once per mount: what the server guesses at upload). */
int rest_format_for_name(struct session *s, const char *name, char **mime);
/* DSpace guesses a bitstream's format from its name at upload only: after
 * a rename (e.g. rsync's ".data.csv.Xy12" → "data.csv") this sets the
 * format the registry gives the new name's extension ("Unknown" when
 * none), with PUT bitstreams/{u}/format (text/uri-list), unless cur_mime
 * (may be NULL) is already its MIME type. *mime: the new MIME type when
 * changed (caller frees), else NULL. */
int rest_fix_format(struct session *s, const char *uuid, const char *name,
		    const char *cur_mime, char **mime);

/* PATCH bitstreams/{u}: the file's modification time sec.ns into its
 * MODEL_MODIFIED_FIELD (model.h), or the field removed when sec < 0. Each
 * change makes DSpace reindex the item. -EACCES where the user may not
 * edit the bitstream's metadata (a non-admin on an archived item). */
int rest_set_modified(struct session *s, const char *uuid, int64_t sec,
		      int64_t ns);

/* GET of an object's whole metadata (every value's language, authority
 * and confidence) into out (md_set_release). */
int rest_get_md(struct session *s, enum dso_type type, const char *uuid,
		struct md_set *out);
/* One PATCH replacing the fields of m whole (§6.4): per field "remove
 * /metadata/F" (no error when empty) then "add /metadata/F/-" per value,
 * since "add"/"replace" without a place keep only the first value
 * (DSpaceObjectMetadataAddOperation, ...ReplaceOperation). A field of m
 * without values is removed. 403 → -EACCES. */
int rest_patch_md(struct session *s, enum dso_type type, const char *uuid,
		  const struct md_set *m);

/* Whether the user may edit the object's metadata: GET
 * authz/authorizations/search/object?uri=&feature=canEditMetadata
 * (EditMetadataFeature: WRITE on the object). 1, 0, or -errno. */
int rest_can_edit_md(struct session *s, enum dso_type type, const char *uuid);

/* The submission form of a draft: which form section offers which field. */
struct draft_form {
	int64_t wsid; /* the workspace item; 0: the item is no draft */
	char **field; /* field[i] is offered by section[i] */
	char **section;
	size_t n;
};
void draft_form_release(struct draft_form *f);
/* The workspace item of item_uuid (search/item?uuid=, 204: none, then
 * wsid 0) and the fields its form sections offer (each section of the
 * workspace item that /config/submissionforms/<section> describes). */
int rest_draft_form(struct session *s, const char *item_uuid,
		    struct draft_form *out);
/* One PATCH of the draft's form sections: per field of m "add
 * /sections/<section>/<field>" with the whole list, or "remove" when
 * empty (§7.3; sections[i] for m->f[i]). */
int rest_patch_draft(struct session *s, int64_t wsid, const struct md_set *m,
		     const char *const *sections);

/* PUT bitstreams/{u}/bundle (text/uri-list): moves a bitstream into
 * another bundle. Already there → 400 (-EIO). */
int rest_move_bitstream(struct session *s, const char *bitstream_uuid,
			const char *bundle_uuid);

/* DELETE a bitstream, bundle (with its bitstreams) or item (with
 * everything in it). Unknown/already deleted → -ENOENT. Communities and
 * collections are refused with -EINVAL. */
int rest_delete(struct session *s, enum dso_type type, const char *uuid);

/* --- bitstream content (contract §5.4) --- */

/* What the server answers to a content request, told once per attempt
 * before the first body byte. */
struct rest_content_head {
	int whole;	/* the server ignored Range: the body is the whole
			 * file from offset 0 */
	int range_ok;	/* (ranged) a well-formed Content-Range came */
	uint64_t first; /* (ranged) first byte of the body */
	uint64_t last;	/* (ranged) last byte of the body */
	uint64_t total; /* (ranged) size of the file */
	const char *content_range; /* as received, "" if none (logs) */
	int64_t length;		   /* (whole) Content-Length, -1 if none */
	const char *etag;	   /* the ETag without quotes and W/, "" if none
				    * (a cover page has its own: core/cover.h) */
};

/* Return 0 to go on, non-zero to abort (the call returns -ECANCELED). */
typedef int (*rest_content_head_fn)(const struct rest_content_head *h,
				    void *ctx);
typedef int (*rest_content_body_fn)(const char *data, size_t len, void *ctx);

struct rest_content_req {
	const char *uuid;    /* of the bitstream */
	uint64_t start, end; /* bytes [start, end) */
	int ranged;	     /* 0: ask for the whole file */
	long stall_ms;	     /* > 0: fail with ETIMEDOUT once no byte moved
			      * for this long (not retried) */
	rest_content_head_fn on_head; /* 206 (when ranged) or 200 only */
	rest_content_body_fn on_body; /* the body of an accepted answer */
	void *ctx;
};

struct rest_content_result {
	int final;	  /* the server will answer the same again
			   * (refused, gone, nonsense): do not retry */
	long status;	  /* the server's status for log lines, 0: none */
	char errmsg[256]; /* the transport's message, or "" */
};

/* GETs bytes of a bitstream (transient failures before the first byte are
 * retried underneath). Returns 0 when an accepted answer arrived (whether
 * all its bytes came is the caller's to check), -ERANGE when no byte
 * exists at start (416), -EAGAIN for a busy or failing server (5xx, 429,
 * 408), -ECANCELED when a callback aborted, another -errno for the
 * server's refusal (res->final set) or a failed transfer. */
int rest_content_get(struct session *s, const struct rest_content_req *req,
		     struct rest_content_result *res);

/* The size of a bitstream whose JSON gave none: a GET of its first byte
 * (contract §5.4: unlike HEAD it is not counted as a download and works
 * on every DSpace 7 release); a 416 means an empty file. 0, or -EIO after
 * a log line when the server does not tell it. */
int rest_content_size(struct session *s, const char *uuid, long stall_ms,
		      int64_t *size);

/* What an upload's read callback returns to fail the upload. */
#define REST_READ_ABORT ((size_t)0x10000000)

/* --- the submission route (dspace/submission.c; contract §7, §13) --- */

struct buf;

/* A draft: a workspace item of the user (or, after a deposit, the
 * workflow item it became). */
struct dspace_draft {
	int64_t id;		       /* the workspace/workflow item's id */
	char item[UUID_LEN + 1];       /* its item's uuid */
	char collection[UUID_LEN + 1]; /* "" when the server did not say */
	int workflow;		       /* a workflow item */
	size_t nerrors;		       /* validation errors the server listed */
};

/* POST submission/workspaceitems?owningCollection=: a draft in coll, its
 * dc.title set to title through the form section that offers it (from
 * the collection's submission definition). No submit right → -EACCES. */
int dspace_draft_create(struct session *s, const char *coll, const char *title,
			struct dspace_draft *out);
/* The user's drafts, every page: workspace items (findBySubmitter), then
 * workflow items (workflow set; the discovery configuration "workspace",
 * as findBySubmitter of workflow items is for administrators only). *v:
 * caller frees. */
int dspace_drafts_mine(struct session *s, struct dspace_draft **v, size_t *n);
/* DELETE submission/workspaceitems/{id}. */
int dspace_draft_delete(struct session *s, int64_t id);
/* The paths of the draft's validation errors now, one a line. */
int dspace_draft_errors(struct session *s, int64_t id, struct buf *paths);
/* Grants the licence (the definition's license section) and posts the
 * workflow item; *archived set when the collection has no workflow. */
int dspace_draft_deposit(struct session *s, const char *coll, int64_t id,
			 int *archived);
/* The body of an upload into a draft: a file (path), or read/read_end/ctx
 * as for rest_upload_bitstream_stream. */
struct dspace_draft_body {
	const char *path;
	size_t (*read)(char *, size_t, size_t, void *);
	void (*read_end)(void *);
	void *ctx;
};
/* Multipart POST submission/workspaceitems/{id}: the body becomes a file
 * of the draft's upload section, checked to be there without a validation
 * error at its path (a file saved with one is removed: -EIO). Appends it
 * to out as a bitstream of bundle (its md5 for the caller to compare). */
int dspace_draft_upload(struct session *s, int64_t id, const char *bundle,
			const char *name, const struct dspace_draft_body *b,
			struct dso_list *out);
/* Renames (new_name) or removes (new_name NULL) file uuid of draft id
 * through its upload section (PATCH .../files/<n>/metadata/dc.title/0 or
 * remove .../files/<n>), n being the position the server gives it now.
 * -ENOENT when it is not among the draft's files. */
int dspace_draft_file_change(struct session *s, int64_t id, const char *uuid,
			     const char *new_name);
/* What draft id still lacks for a deposit (its validation errors but the
 * licence, which the deposit grants): one line each, "  - label (field):
 * message", labels and messages from the submission forms, control
 * characters removed. */
int dspace_draft_missing(struct session *s, int64_t id, struct buf *out);
/* The licence text of a collection (collections/{uuid}/license), control
 * characters but newlines and tabs removed. */
int dspace_collection_license(struct session *s, const char *coll,
			      struct buf *out);
/* The id of the first section of type type ("upload", "license",
 * "submission-form" offering field when not NULL) in the collection's
 * submission definition; out: 101 bytes. -ENOENT when none. */
int dspace_submission_section(struct session *s, const char *coll,
			      const char *type, const char *field, char *out);

/* --- the session, as the core sees it --- */

/* Borrowed strings, valid for the life of the session. */
const char *session_api_url(const struct session *s);
/* "DSpace 7.6", or "" before session_start() */
const char *session_dspace_version(const struct session *s);
int session_is_anonymous(const struct session *s);

/* Most objects asked about in one request (uuid parameters). */
#define DSPACE_AUTHZ_MAX 100
/* GET authz/authorizations/search/objects (DSpace >= 7.6) for the objects
 * of v[0..n) whose type is type, in requests of at most DSPACE_AUTHZ_MAX
 * objects: sets their rights (DSO_RIGHT_KNOWN plus what was granted).
 * 0 or -errno; on failure the rights stay unknown. */
int dspace_authz(struct session *s, enum dso_type type, struct dso *v,
		 size_t n);
/* The user logged in as ("" when anonymous). */
const char *session_user(const struct session *s);
/* Whether the last attempt to log in again failed. */
int session_login_failing(const struct session *s);
/* When the server stopped answering (Unix seconds), 0 while it answers. */
int64_t session_offline_since(const struct session *s);

#endif
