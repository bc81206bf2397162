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

/* The "message" of a DSpace error body, or NULL (caller frees). */
char *model_error_message(const char *json, size_t len);

/* The "exp" claim of a decoded JWT payload. 0 or -EPROTO. */
int model_jwt_exp(const char *json, size_t len, int64_t *exp);

/* authn/status: *authenticated set to 0/1. */
int model_parse_status(const char *json, size_t len, int *authenticated);

/* Whether s is a canonical UUID (8-4-4-4-12 hex digits, either case). */
int model_uuid_valid(const char *s);

/* ISO-8601 date-time ("2021-06-21T12:53:57.871+00:00", "...Z", "+02:00",
 * "+0200"; no zone = UTC) → Unix seconds, independent of TZ. 0 or -EINVAL. */
int model_parse_time(const char *s, int64_t *out);

/* JSON bodies for the write path; malloc'd strings (caller frees), NULL
 * on ENOMEM or when an argument is not valid UTF-8. */
/* Multipart "properties" of an upload: {"name": name}. */
char *model_upload_properties(const char *name);
/* POST items?owningCollection=: an archived, discoverable item (§6.1). */
char *model_item_create_body(const char *title);
/* POST items/{u}/bundles: {"name": name, "metadata": {}} (§6.2). */
char *model_bundle_create_body(const char *name);
/* JSON Patch replacing the first value of a metadata field (§6.4), e.g.
 * field "dc.title" renames a bitstream, bundle or item. */
char *model_metadata_replace_patch(const char *field, const char *value);

#endif
