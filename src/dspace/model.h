/* model: DSpace JSON (HAL) → plain C structs, and the few JSON bodies we
 * send. The only module that includes jansson.h.
 *
 * Ownership: every char * in these structs is malloc'd and owned by the
 * struct; release with dso_release()/dso_list_release(). Parsers never keep
 * pointers into the JSON text. */
#ifndef DSPACEFS_MODEL_H
#define DSPACEFS_MODEL_H

#include <stddef.h>
#include <stdint.h>

enum dso_type {
	DSO_NONE = 0, /* the repository root (parent of top communities) */
	DSO_COMMUNITY,
	DSO_COLLECTION,
	DSO_ITEM,
	DSO_BUNDLE,
	DSO_BITSTREAM,
};

#define UUID_LEN 36
/* The largest file size we believe (1 PiB): larger sizeBytes are unknown,
 * and no size above it ever becomes st_size. */
#define MODEL_SIZE_MAX (INT64_C(1) << 50)

/* One metadata field; repeated values joined by '\n' in "place" order. */
struct meta_field {
	char *key; /* "dc.title", "dc.contributor.author", ... */
	char *value;
};

/* What the user may do to an object, from DSpace's authorization features
 * (dspace_authz). 0 means unknown; DSO_RIGHT_KNOWN is set once asked. */
#define DSO_RIGHT_KNOWN 0x1u
#define DSO_RIGHT_EDIT 0x2u   /* canEditMetadata */
#define DSO_RIGHT_DELETE 0x4u /* canDelete */
#define DSO_RIGHT_ADD                                                          \
	0x8u /* collections: canSubmit; items:                                 \
	      * canManageBitstreamBundles */
struct dso {
	enum dso_type type;
	char uuid[UUID_LEN + 1]; /* lower case */
	char parent[UUID_LEN +
		    1]; /* parent's uuid when known from context, else "" */
	char *name; /* the server's name, raw (not yet made safe); never NULL */
	char *handle;  /* "10673/20", or NULL */
	int64_t size;  /* bitstreams: sizeBytes; -1 when unknown (missing,
			* negative or above MODEL_SIZE_MAX) */
	char md5[33];  /* bitstreams: checkSum.value when MD5, else "" */
	char *mime;    /* bitstreams: format MIME type when known, else NULL */
	int64_t mtime; /* items: lastModified as Unix seconds; 0 when unknown
			* (bundles and bitstreams inherit their item's) */
	int64_t position; /* order among siblings as the server listed them */
	/* The embedded children of this object arrived complete (every page);
	 * only then may a listing be taken from them. Items: bundles (and their
	 * bitstreams, each bundle has its own flag); bundles: bitstreams. */
	int children_complete;
	int restricted;	 /* set by callers when the server refused access */
	int in_progress; /* items: a draft (submission in progress), set by
			  * callers; it yields its name to archived siblings */
	unsigned
	    rights; /* DSO_RIGHT_* (dspace.h) from dspace_authz; 0 unknown */
	struct meta_field *meta;
	size_t nmeta;
};

struct dso_list {
	struct dso *v;
	size_t n;
	size_t alloc;
};

/* HAL page object plus the next link. */
struct page_info {
	int64_t number;
	int64_t size;
	int64_t total_elements;
	int64_t total_pages;
	char *next; /* absolute href of the next page, or NULL */
};

const char *dso_type_name(enum dso_type t); /* "community", ..., "bitstream" */
enum dso_type dso_type_from_name(const char *s); /* DSO_NONE if unknown */

void dso_release(struct dso *d);
void dso_list_release(struct dso_list *l);
void page_info_release(struct page_info *p);
/* Appends a copy-free slot; returns it zeroed (size -1), or NULL on ENOMEM. */
struct dso *dso_list_push(struct dso_list *l);
/* First meta value of key (borrowed), or NULL. */
const char *dso_meta(const struct dso *d, const char *key);

/* The parsers return 0, -EPROTO for malformed or unexpected JSON (with a
 * log line naming what was wrong), or -ENOMEM. An object whose own strings
 * hold a NUL character (\u0000) or bytes that are not UTF-8 is skipped
 * with a log line naming its UUID: the rest of the page is kept. They append to
 * out, and each appended object is followed by its embedded descendants
 * (bundles after their item, bitstreams after their bundle) with parent set;
 * the parent of the top-level objects is parent_uuid (may be "" or NULL).
 * Missing "_embedded" in a list page means an empty page. */

/* A list page: _embedded.<rel>[] (rel: "communities", "subcommunities",
 * "collections", "items", "bundles", "bitstreams", "mappedItems"). */
int model_parse_page(const char *json, size_t len, const char *rel,
		     const char *parent_uuid, struct dso_list *out,
		     struct page_info *page);

/* An authorization search page (authz/authorizations/search/objects):
 * each authorization's id is "<eperson>_<feature>_<type>_<object uuid>"
 * (AuthorizationRestUtil.getAuthorizationId); the feature granted is
 * added to the rights of the object of v[0..n) with that uuid. */
int model_parse_authz(const char *json, size_t len, struct dso *v, size_t n);

/* A discovery page (/api/discover/search/objects): the indexable objects of
 * _embedded.searchResult._embedded.objects[]. */
int model_parse_discovery(const char *json, size_t len, const char *parent_uuid,
			  struct dso_list *out, struct page_info *page);

/* A single object (with whatever it embeds). */
int model_parse_object(const char *json, size_t len, const char *parent_uuid,
		       struct dso_list *out);

/* The API root: dspaceVersion ("DSpace 7.6") into *version (caller frees).
 * -EPROTO when this is not a DSpace root document. */
int model_parse_root(const char *json, size_t len, char **version);

/* From a page of the bitstream format registry: the format whose
 * extensions list ext (any case), else the one called "Unknown" (what
 * DSpace gives a name it cannot guess). Sets *id and *mime (caller
 * frees); -ENOENT when neither is there, -EPROTO for bad JSON. */
int model_format_for_ext(const char *json, size_t len, const char *ext,
			 int64_t *id, char **mime);

/* The "message" of a DSpace error body, or NULL (caller frees). */
char *model_error_message(const char *json, size_t len);

/* The "exp" claim of a decoded JWT payload. 0 or -EPROTO. */
int model_jwt_exp(const char *json, size_t len, int64_t *exp);

/* authn/status: *authenticated set to 0/1. */
int model_parse_status(const char *json, size_t len, int *authenticated);

/* Whether s is a canonical UUID (8-4-4-4-12 hex digits, either case). */
int model_uuid_valid(const char *s);

/* The bitstream metadata field that holds a file's modification time set
 * through the mount (touch, cp -p, rsync -a): dcterms.modified, "Date on
 * which the resource was changed" in DSpace's stock registry
 * dspace/config/registries/dcterms-types.xml, loaded on every DSpace
 * 7-10, and meant for this; dc.date.updated is registered for "the last
 * time the item was updated via the SWORD interface"
 * (dublin-core-types.xml). */
#define MODEL_MODIFIED_FIELD "dcterms.modified"

/* The time in d's MODEL_MODIFIED_FIELD ("2024-01-02T03:04:05.123456789Z"):
 * 0, or -ENOENT when absent or not a date-time. */
int model_modified_time(const struct dso *d, int64_t *sec, int64_t *ns);
/* A JSON Patch that sets MODEL_MODIFIED_FIELD to sec.ns (UTC, nanoseconds
 * kept), or removes it when sec < 0. NULL on ENOMEM. */
char *model_modified_patch(int64_t sec, int64_t ns);

/* ISO-8601 date-time ("2021-06-21T12:53:57.871+00:00", "...Z", "+02:00",
 * "+0200"; no zone = UTC) → Unix seconds, independent of TZ. 0 or -EINVAL. */
int model_parse_time(const char *s, int64_t *out);

/* JSON bodies for the write path; malloc'd strings (caller frees), NULL
 * on ENOMEM or when an argument is not valid UTF-8. */
/* Multipart "properties" of an upload: {"name": name}. */
char *model_upload_properties(const char *name, int64_t sec, int64_t ns);
/* POST items?owningCollection=: an archived, discoverable item (§6.1). */
char *model_item_create_body(const char *title);
/* POST items/{u}/bundles: {"name": name, "metadata": {}} (§6.2). */
char *model_bundle_create_body(const char *name);
/* JSON Patch replacing the first value of a metadata field (§6.4), e.g.
 * field "dc.title" renames a bitstream, bundle or item. */
char *model_metadata_replace_patch(const char *field, const char *value);

/* --- whole metadata, with every attribute of every value (metadata.json) */

/* One value of a field; language and authority NULL when unset,
 * confidence -1 (DSpace's CF_UNSET) when unset. */
struct md_value {
	char *value;
	char *language;
	char *authority;
	int confidence;
};

/* One field and its values in place order. */
struct md_field {
	char *name;
	struct md_value *v;
	size_t n;
};

/* Fields sorted by name. */
struct md_set {
	struct md_field *f;
	size_t n;
};

void md_set_release(struct md_set *m);
/* How many entries a list page holds in all (page.totalElements, else
 * the entries of _embedded.rel). 0 or -EPROTO. */
int model_page_total(const char *json, size_t len, const char *rel,
		     int64_t *total);
/* The "metadata" map of an object's JSON. 0, -EPROTO or -ENOMEM. */
int model_parse_md_object(const char *json, size_t len, struct md_set *out);
/* A saved metadata.json: an object of field → list of values (a string,
 * or {"value", "language", "authority", "confidence"}). -EINVAL for
 * anything else (not JSON, not an object, no field, a bad value). */
int model_parse_md_file(const char *text, size_t len, struct md_set *out);
/* metadata.json text of m (sorted, indented, newline-terminated); NULL
 * on ENOMEM. */
char *model_render_md(const struct md_set *m);
/* Appends a copy of s to the string list *v (*n entries). 0 or -ENOMEM. */
int model_strv_add(char ***v, size_t *n, const char *s);
/* Frees a list of strings. */
void model_strv_release(char **v, size_t n);
/* A workspace item (§7): its id and the names of its sections. */
int model_parse_workspace(const char *json, size_t len, int64_t *id,
			  char ***sections, size_t *n);
/* The metadata fields a submission form offers
 * (rows[].fields[].selectableMetadata[].metadata). */
int model_parse_form_fields(const char *json, size_t len, char ***fields,
			    size_t *n);
/* JSON Patch replacing the fields of m whole (§6.4): per field
 * "remove /metadata/F" then "add /metadata/F/-" for each value; a field
 * without values is only removed. section: a submission form's section
 * instead ("add /sections/S/F" with the whole list; "remove" when empty);
 * sections[i] names the section of m->f[i]. NULL on ENOMEM. */
char *model_md_patch(const struct md_set *m, const char *const *sections);

#endif
