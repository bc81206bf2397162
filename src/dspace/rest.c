/* rest: DSpace endpoints and HAL paging. The only module that builds URLs.
 * Identifiers are validated before they go into a URL, and server-supplied
 * links are followed only when they stay under our API base, so that our
 * token is never sent anywhere else. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/errors.h"
#include "util/log.h"
#include "dspace/rest.h"

/* Far more pages than any real listing has; a server that keeps sending
 * "next" beyond this is broken. */
#define MAX_PAGES 100000

/* Page sizes: ordinary lists are clamped at 1000 by Spring Data REST;
 * discovery silently skips objects above 100 (DS#8723). */
#define LIST_SIZE "1000"
#define DISCOVERY_SIZE "100"

/* Embeds for an item's bundles and their bitstreams (with each one's
 * format, for the MIME type), at full size. The embed.size keys are rel
 * paths from the embedding object (DSpace
 * EmbedRelsProjection.getPaginationSize). */
#define ITEM_EMBED                                                             \
	"embed=bundles/bitstreams/format&embed.size=bundles=" LIST_SIZE        \
	"&embed.size=bundles/bitstreams=" LIST_SIZE

enum page_kind { PAGE_LIST, PAGE_DISCOVERY };

/* The plural path segment of a dso type, or NULL. */
static const char *plural(enum dso_type t)
{
	switch (t) {
	case DSO_COMMUNITY:
		return "communities";
	case DSO_COLLECTION:
		return "collections";
	case DSO_ITEM:
		return "items";
	case DSO_BUNDLE:
		return "bundles";
	case DSO_BITSTREAM:
		return "bitstreams";
	case DSO_NONE:
		break;
	}
	return NULL;
}

/* Copies a UUID into out, lower-cased, or logs and returns -EINVAL: no
 * unchecked string ever reaches a URL. */
static int safe_uuid(const char *uuid, char out[UUID_LEN + 1])
{
	size_t i;

	if (!uuid || !model_uuid_valid(uuid)) {
		log_error("rest: refusing malformed UUID \"%.40s\"",
			  uuid ? uuid : "(null)");
		return -EINVAL;
	}
	for (i = 0; i <= UUID_LEN; i++)
		out[i] = (char)(uuid[i] >= 'A' && uuid[i] <= 'F'
				    ? uuid[i] - 'A' + 'a'
				    : uuid[i]);
	return 0;
}

/* Formats a URL under the API base; NULL on ENOMEM. */
static char *api_url(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *api_url(struct session *s, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	char tail[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tail))
		return NULL;
	if (buf_adds(&b, session_api_url(s)) || buf_adds(&b, tail)) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

/* Whether a server-supplied link stays under our API base (same scheme,
 * host, port and path prefix, no dot segments, nothing odd). */
static int link_is_ours(struct session *s, const char *href)
{
	const char *api = session_api_url(s);
	size_t n = strlen(api);
	const char *p;

	if (strncmp(href, api, n) != 0 || (href[n] != '/' && href[n] != '?'))
		return 0;
	for (p = href; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '\\' ||
		    *p == '#')
			return 0;
	p = strchr(href + n, '?');
	n = p ? (size_t)(p - href) : strlen(href);
	for (p = href; (p = strstr(p, "/.")) && (size_t)(p - href) < n; p++)
		if (p[2] == '/' || p[2] == '?' || p[2] == 0 ||
		    (p[2] == '.' && (p[3] == '/' || p[3] == '?' || p[3] == 0)))
			return 0;
	return 1;
}

/* Logs a failed request with the server's own message. */
static void log_failure(const char *method, const char *url,
			const struct http_response *resp)
{
	char *msg = model_error_message(resp->body, resp->body_len);

	log_error("%s %s: HTTP %ld%s%s", method, url, resp->status,
		  msg ? ": " : "", msg ? msg : "");
	free(msg);
}

/* Sends a request and checks that the status is one of the expected
 * ones; maps anything else to -errno after logging it. */
static int perform(struct session *s, const struct http_request *req,
		   struct http_response *resp, long want1, long want2)
{
	int rc, e;

	rc = session_request(s, req, resp);
	if (rc) {
		log_error("%s %s: %s (%s)", req->method, req->url,
			  strerror(-rc), resp->errmsg);
		return rc;
	}
	if (resp->status == want1 || resp->status == want2)
		return 0;
	log_failure(req->method, req->url, resp);
	e = http_status_errno(resp->status);
	return e ? -e : -EIO;
}

/* GETs a JSON document; 0 only for a 200. */
static int get_json(struct session *s, const char *url,
		    struct http_response *resp)
{
	struct http_request req = {0};

	req.method = "GET";
	req.url = url;
	req.idempotent = 1;
	return perform(s, &req, resp, 200, 200);
}

/* Walks the pages of a listing starting at first_url (which has a query
 * string and no page parameter). Ordinary lists follow the server's next
 * link when it stays under our API base; discovery pages are always built
 * from page numbers, because DSpace's discovery links drop the embed
 * parameters (SearchResultsResource.constructSelfLink). Positions of the
 * top-level entries continue from *pos across pages. */
static int list_pages(struct session *s, const char *first_url,
		      enum page_kind kind, const char *rel, const char *parent,
		      struct dso_list *out, int64_t *pos, size_t max)
{
	struct page_info page = {0};
	char *url = strdup(first_url);
	int64_t expect = 0;
	int rc = 0;

	if (!url)
		return -ENOMEM;
	for (;;) {
		struct http_response resp = {0};
		size_t i, start = out->n;
		int64_t count = 0;

		rc = get_json(s, url, &resp);
		if (rc == 0) {
			if (kind == PAGE_DISCOVERY)
				rc = model_parse_discovery(resp.body,
							   resp.body_len,
							   parent, out, &page);
			else
				rc = model_parse_page(resp.body, resp.body_len,
						      rel, parent, out, &page);
			if (rc == -EPROTO) {
				log_error("GET %s: unusable response", url);
				rc = -EIO;
			}
		}
		http_response_release(&resp);
		if (rc)
			goto out;
		for (i = start; i < out->n; i++) {
			if (strcmp(out->v[i].parent, parent) != 0)
				continue;
			out->v[i].position += *pos;
			count++;
		}
		*pos += count;
		if (max && *pos >= (int64_t)max)
			break; /* the caller's cap: no more pages */
		if (page.number != expect) {
			log_error("GET %s: server sent page %lld instead of "
				  "%lld",
				  url, (long long)page.number,
				  (long long)expect);
			rc = -EIO;
			goto out;
		}
		if (!page.next || count == 0 ||
		    (page.total_pages >= 0 && expect + 1 >= page.total_pages))
			break;
		if (++expect >= MAX_PAGES) {
			log_error("GET %s: more than %d pages, giving up",
				  first_url, MAX_PAGES);
			rc = -EIO;
			goto out;
		}
		free(url);
		if (kind == PAGE_LIST && link_is_ours(s, page.next)) {
			url = strdup(page.next);
		} else {
			if (kind == PAGE_LIST)
				log_warn("next link %s leaves %s; building "
					 "the page URL instead",
					 page.next, session_api_url(s));
			url = malloc(strlen(first_url) + 32);
			if (url)
				snprintf(url, strlen(first_url) + 32,
					 "%s&page=%lld", first_url,
					 (long long)expect);
		}
		if (!url) {
			rc = -ENOMEM;
			goto out;
		}
	}
out:
	free(url);
	page_info_release(&page);
	return rc;
}

/* Lists one paged sub-resource: {api}/<fmt formatted>. */
static int list_one(struct session *s, enum page_kind kind, const char *rel,
		    const char *parent, struct dso_list *out, int64_t *pos,
		    const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static int list_one(struct session *s, enum page_kind kind, const char *rel,
		    const char *parent, struct dso_list *out, int64_t *pos,
		    const char *fmt, ...)
{
	char tail[1024];
	char *url;
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tail))
		return -ENAMETOOLONG;
	url = api_url(s, "%s", tail);
	if (!url)
		return -ENOMEM;
	rc = list_pages(s, url, kind, rel, parent, out, pos, 0);
	free(url);
	return rc;
}

/* Lists the direct children (and embedded descendants) of an object. */
int rest_list_children(struct session *s, enum dso_type parent_type,
		       const char *parent_uuid, struct dso_list *out)
{
	char u[UUID_LEN + 1] = "";
	size_t start = out->n;
	int64_t pos = 0;
	int rc;

	if (parent_type != DSO_NONE && safe_uuid(parent_uuid, u))
		return -EINVAL;
	switch (parent_type) {
	case DSO_NONE:
		rc = list_one(
		    s, PAGE_LIST, "communities", "", out, &pos,
		    "/core/communities/search/top?size=" LIST_SIZE "%s", "");
		break;
	case DSO_COMMUNITY:
		rc = list_one(
		    s, PAGE_LIST, "subcommunities", u, out, &pos,
		    "/core/communities/%s/subcommunities?size=" LIST_SIZE, u);
		if (rc == 0)
			rc = list_one(s, PAGE_LIST, "collections", u, out, &pos,
				      "/core/communities/%s/collections"
				      "?size=" LIST_SIZE,
				      u);
		break;
	case DSO_COLLECTION:
		rc = list_one(s, PAGE_DISCOVERY, NULL, u, out, &pos,
			      "/discover/search/objects?scope=%s&dsoType=ITEM"
			      "&sort=dc.title,ASC&size=" DISCOVERY_SIZE
			      "&" ITEM_EMBED,
			      u);
		break;
	case DSO_ITEM:
		rc = list_one(
		    s, PAGE_LIST, "bundles", u, out, &pos,
		    "/core/items/%s/bundles?size=" LIST_SIZE
		    "&embed=bitstreams/format&embed.size=bitstreams=" LIST_SIZE,
		    u);
		break;
	case DSO_BUNDLE:
		rc = list_one(s, PAGE_LIST, "bitstreams", u, out, &pos,
			      "/core/bundles/%s/bitstreams?size=" LIST_SIZE
			      "&embed=format",
			      u);
		break;
	default:
		return -EINVAL;
	}
	if (rc)
		while (out->n > start)
			dso_release(&out->v[--out->n]);
	return rc;
}

/* Fetches one object (items with their bundles and bitstreams). */
int rest_get_object(struct session *s, enum dso_type type, const char *uuid,
		    struct dso_list *out)
{
	struct http_response resp = {0};
	const char *seg = plural(type);
	char u[UUID_LEN + 1];
	size_t start = out->n;
	char *url;
	int rc;

	if (!seg || safe_uuid(uuid, u))
		return -EINVAL;
	url = api_url(s, "/core/%s/%s%s", seg, u,
		      type == DSO_ITEM ? "?" ITEM_EMBED : "");
	if (!url)
		return -ENOMEM;
	rc = get_json(s, url, &resp);
	if (rc == 0)
		rc = model_parse_object(resp.body, resp.body_len, NULL, out);
	if (rc == -EPROTO) {
		log_error("GET %s: unusable response", url);
		rc = -EIO;
	}
	if (rc == 0 && (out->v[start].type != type ||
			strcmp(out->v[start].uuid, u) != 0)) {
		log_error("GET %s: server answered with %s %s", url,
			  dso_type_name(out->v[start].type),
			  out->v[start].uuid);
		rc = -EIO;
	}
	if (rc)
		while (out->n > start)
			dso_release(&out->v[--out->n]);
	http_response_release(&resp);
	free(url);
	return rc;
}

/* Appends s to b percent-encoded (all but RFC 3986's unreserved). */
static int add_encoded(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int r = 0;

	for (; *s && r == 0; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch))
			r = buf_add(b, s, 1);
		else
			r = buf_addf(b, "%%%c%c", hex[ch >> 4], hex[ch & 15]);
	}
	return r;
}

int rest_search_items(struct session *s, const char *scope_uuid,
		      const char *query, size_t max, struct dso_list *out,
		      int *capped)
{
	struct buf b = BUF_INIT;
	char u[UUID_LEN + 1] = "";
	size_t start = out->n;
	int64_t pos = 0;
	char *url;
	int rc;

	*capped = 0;
	if (scope_uuid && scope_uuid[0] && safe_uuid(scope_uuid, u))
		return -EINVAL;
	if (buf_adds(&b, session_api_url(s)) ||
	    buf_adds(&b, "/discover/search/objects?query=") ||
	    add_encoded(&b, query) ||
	    buf_addf(&b, "%s%s", u[0] ? "&scope=" : "", u) ||
	    buf_adds(&b, "&dsoType=ITEM&size=" DISCOVERY_SIZE "&" ITEM_EMBED)) {
		buf_release(&b);
		return -ENOMEM;
	}
	url = buf_detach(&b, NULL);
	if (!url)
		return -ENOMEM;
	rc = list_pages(s, url, PAGE_DISCOVERY, NULL, "", out, &pos, max);
	free(url);
	if (rc)
		while (out->n > start)
			dso_release(&out->v[--out->n]);
	else if (max && pos >= (int64_t)max)
		*capped = 1;
	return rc;
}

/* The object a find endpoint's redirect names ("{api}/core/items/<u>"). */
static int follow_find(struct session *s, const char *url, struct dso_list *out)
{
	static const enum dso_type types[] = {
	    DSO_COMMUNITY, DSO_COLLECTION, DSO_ITEM, DSO_BUNDLE, DSO_BITSTREAM};
	struct http_request req = {0};
	struct http_response resp = {0};
	const char *api = session_api_url(s), *loc, *p;
	size_t n = strlen(api), k;
	int rc;

	req.method = "GET";
	req.url = url;
	req.idempotent = 1;
	rc = perform(s, &req, &resp, 302, 301);
	if (rc)
		goto out;
	loc = http_response_header(&resp, "Location");
	rc = -EIO;
	if (!loc || !link_is_ours(s, loc) || strncmp(loc + n, "/core/", 6)) {
		log_error("GET %s: unusable redirect to %s", url,
			  loc ? loc : "(none)");
		goto out;
	}
	p = loc + n + 6;
	for (k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
		const char *seg = plural(types[k]);
		size_t len = strlen(seg);

		if (!strncmp(p, seg, len) && p[len] == '/' &&
		    strlen(p + len + 1) == UUID_LEN) {
			rc = rest_get_object(s, types[k], p + len + 1, out);
			goto out;
		}
	}
	log_error("GET %s: redirect to %s names no object", url, loc);
out:
	http_response_release(&resp);
	return rc;
}

/* The community, collection or item with UUID u as discovery shows it:
 * every indexed object's Solr document holds its UUID in search.resourceid
 * (IndexFactoryImpl.buildDocument), a string field queried unquoted as
 * DSpace does itself (BulkAccessControl: "search.resourceid:" + id); the
 * default configuration returns communities, collections and the latest
 * versions of archived, discoverable items (discovery.xml
 * defaultFilterQueries), an item with the embeds of a listing. One request.
 * Appends nothing (and returns 0) when discovery does not show it: bitstreams
 * and bundles are not indexed, nor are withdrawn or private items shown. */
static int search_uuid(struct session *s, const char *u, struct dso_list *out)
{
	size_t start = out->n;
	int64_t pos = 0;
	char *url;
	int rc;

	url = api_url(s,
		      "/discover/search/objects?query=search.resourceid%%3A%s"
		      "&size=1&" ITEM_EMBED,
		      u);
	if (!url)
		return -ENOMEM;
	rc = list_pages(s, url, PAGE_DISCOVERY, NULL, "", out, &pos, 1);
	free(url);
	if (rc == 0 && out->n > start && strcmp(out->v[start].uuid, u) == 0)
		return 0;
	if (rc == 0 && out->n > start)
		log_warn("search for %s answered %s", u, out->v[start].uuid);
	while (out->n > start)
		dso_release(&out->v[--out->n]);
	return rc;
}

int rest_find_uuid(struct session *s, const char *uuid, struct dso_list *out)
{
	char u[UUID_LEN + 1];
	size_t start = out->n;
	char *url;
	int rc;

	if (safe_uuid(uuid, u))
		return -EINVAL;
	rc = search_uuid(s, u, out);
	if (out->n > start || rc == -ENOMEM || err_is_unreachable(rc))
		return rc; /* else not shown, or discovery failed: ask dso/find
			    */
	url = api_url(s, "/dso/find?uuid=%s", u);
	if (!url)
		return -ENOMEM;
	rc = follow_find(s, url, out);
	free(url);
	return rc;
}

/* Whether h is PREFIX/SUFFIX of letters, digits, '.', '_' and '-' only
 * (safe inside a Solr phrase, as minted handles are). */
static int plain_handle(const char *h)
{
	size_t slash = strcspn(h, "/");

	if (!h[slash] || slash == 0 || !h[slash + 1] ||
	    strchr(h + slash + 1, '/'))
		return 0;
	for (; *h; h++)
		if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') ||
		      (*h >= '0' && *h <= '9') || strchr("._-/", *h)))
			return 0;
	return 1;
}

/* The community, collection or item with handle h as discovery shows it:
 * their Solr documents hold it in "handle", a string field
 * (DSpaceObjectIndexFactoryImpl.buildDocument, schema.xml). One request;
 * appends nothing (and returns 0) when discovery does not show it. */
static int search_handle(struct session *s, const char *h, struct dso_list *out)
{
	size_t start = out->n;
	int64_t pos = 0;
	char *url;
	int rc;

	url = api_url(s,
		      "/discover/search/objects?query=handle%%3A%%22%s%%22"
		      "&size=1&" ITEM_EMBED,
		      h);
	if (!url)
		return -ENOMEM;
	rc = list_pages(s, url, PAGE_DISCOVERY, NULL, "", out, &pos, 1);
	free(url);
	if (rc == 0 && out->n > start && out->v[start].handle &&
	    strcmp(out->v[start].handle, h) == 0)
		return 0;
	while (out->n > start)
		dso_release(&out->v[--out->n]);
	return rc;
}

int rest_find_handle(struct session *s, const char *handle,
		     struct dso_list *out)
{
	struct buf b = BUF_INIT;
	size_t start = out->n;
	char *url;
	int rc;

	if (plain_handle(handle)) {
		rc = search_handle(s, handle, out);
		if (out->n > start || rc == -ENOMEM || err_is_unreachable(rc))
			return rc; /* else ask pid/find, as for other forms */
	}
	if (buf_adds(&b, session_api_url(s)) || buf_adds(&b, "/pid/find?id=") ||
	    add_encoded(&b, handle)) {
		buf_release(&b);
		return -ENOMEM;
	}
	url = buf_detach(&b, NULL);
	if (!url)
		return -ENOMEM;
	rc = follow_find(s, url, out);
	free(url);
	return rc;
}

char *dspace_api_root(const char *url)
{
	struct buf b = BUF_INIT;
	size_t len = strlen(url);

	while (len > 0 && url[len - 1] == '/')
		len--;
	if (buf_add(&b, url, len) < 0 ||
	    (!(len >= 4 && strncmp(url + len - 4, "/api", 4) == 0) &&
	     buf_adds(&b, "/api") < 0)) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

/* The content URL of a bitstream. */
char *rest_content_url(struct session *s, const char *uuid)
{
	char u[UUID_LEN + 1];

	if (safe_uuid(uuid, u))
		return NULL;
	return api_url(s, "/core/bitstreams/%s/content", u);
}

/* Whether a failed multipart request got DSpace's answer to a body it
 * would not take: 400 "Request is invalid or incorrect", the wording of
 * DSpaceApiExceptionControllerAdvice.handleWrongRequestException for a
 * MultipartException, which MaxUploadSizeExceededException (the size
 * limit) is; DSpace 10 answers the same when replace-bitstream.enabled is
 * false (IllegalStateException). Our body is well formed, so on a POST
 * this is the size limit; any other 400 is not. */
static int multipart_refused(const struct http_response *resp)
{
	char *msg;
	int r;

	if (resp->status != 400)
		return 0;
	msg = model_error_message(resp->body, resp->body_len);
	r = msg && !strcmp(msg, "Request is invalid or incorrect");
	free(msg);
	return r;
}

/* Sends a write request with a body and parses the object it returns
 * (when out is not NULL). */
static int write_call(struct session *s, const char *method, char *url,
		      const char *ctype, const char *body,
		      const struct http_part *parts, size_t nparts, long want,
		      struct dso_list *out)
{
	struct http_response resp = {0};
	struct http_request req = {0};
	struct http_headers hdr = {0};
	char line[128];
	size_t start = out ? out->n : 0;
	int rc;

	if (!url)
		return -ENOMEM;
	if (ctype) {
		snprintf(line, sizeof(line), "Content-Type: %s", ctype);
		if (http_headers_add(&hdr, line) < 0) {
			rc = -ENOMEM;
			goto out;
		}
	}
	req.method = method;
	req.url = url;
	req.headers = &hdr;
	req.body = body;
	req.body_len = body ? strlen(body) : 0;
	req.parts = parts;
	req.nparts = nparts;
	req.idempotent = 0;
	rc = perform(s, &req, &resp, want, want);
	if (rc == -EIO && parts && multipart_refused(&resp)) {
		if (!strcmp(method, "POST"))
			log_error("%s: the server refused the upload; most "
				  "likely it is larger than the server's "
				  "multipart limit (spring.servlet.multipart."
				  "max-file-size, 512MB by default)",
				  url);
		rc = -EFBIG;
	}
	if (rc == 0 && out) {
		rc = model_parse_object(resp.body, resp.body_len, NULL, out);
		if (rc == -EPROTO) {
			log_error("%s %s: unusable response", method, url);
			rc = -EIO;
		}
	}
	if (rc && out)
		while (out->n > start)
			dso_release(&out->v[--out->n]);
out:
	http_response_release(&resp);
	http_headers_release(&hdr);
	free(url);
	return rc;
}

/* POSTs a JSON body to url (both freed here; a NULL body: out of memory)
 * and parses the object it creates. */
static int post_json(struct session *s, char *url, char *body,
		     struct dso_list *out)
{
	int rc = -ENOMEM;

	if (body)
		rc = write_call(s, "POST", url, "application/json", body, NULL,
				0, 201, out);
	else
		free(url);
	free(body);
	return rc;
}

/* Creates an archived, discoverable item in a collection. */
int rest_create_item(struct session *s, const char *collection_uuid,
		     const char *title, struct dso_list *out)
{
	char u[UUID_LEN + 1];

	if (safe_uuid(collection_uuid, u))
		return -EINVAL;
	return post_json(s, api_url(s, "/core/items?owningCollection=%s", u),
			 model_item_create_body(title), out);
}

/* Creates a bundle in an item. */
int rest_create_bundle(struct session *s, const char *item_uuid,
		       const char *name, struct dso_list *out)
{
	char u[UUID_LEN + 1];

	if (safe_uuid(item_uuid, u))
		return -EINVAL;
	return post_json(s, api_url(s, "/core/items/%s/bundles", u),
			 model_bundle_create_body(name), out);
}

/* The upload POST with file part f (its name and type are set here). */
static int upload_post(struct session *s, const char *bundle_uuid,
		       const char *name, int64_t sec, int64_t ns,
		       struct http_part *f, struct dso_list *out)
{
	struct http_part parts[2];
	char u[UUID_LEN + 1];
	char *props;
	int rc;

	if (safe_uuid(bundle_uuid, u))
		return -EINVAL;
	props = model_upload_properties(name, sec, ns);
	if (!props)
		return -ENOMEM;
	memset(parts, 0, sizeof(parts));
	parts[0] = *f;
	parts[0].name = "file";
	parts[0].filename = name;
	parts[0].type = "application/octet-stream";
	parts[1].name = "properties";
	parts[1].data = props;
	parts[1].len = strlen(props);
	parts[1].type = "application/json";
	rc = write_call(s, "POST", api_url(s, "/core/bundles/%s/bitstreams", u),
			NULL, NULL, parts, 2, 201, out);
	free(props);
	return rc;
}

/* Uploads a file into a bundle as a new bitstream called name. */
int rest_upload_bitstream(struct session *s, const char *bundle_uuid,
			  const char *name, const char *path,
			  struct dso_list *out)
{
	return rest_upload_bitstream_time(s, bundle_uuid, name, path, -1, 0,
					  out);
}

/* The same with its modification time in the upload's metadata. */
int rest_upload_bitstream_time(struct session *s, const char *bundle_uuid,
			       const char *name, const char *path, int64_t sec,
			       int64_t ns, struct dso_list *out)
{
	struct http_part f = {0};

	if (!path)
		return -EINVAL;
	f.filepath = path;
	return upload_post(s, bundle_uuid, name, sec, ns, &f, out);
}

/* Uploads a body produced by read() (chunked) as a new bitstream. */
int rest_upload_bitstream_stream(struct session *s, const char *bundle_uuid,
				 const char *name,
				 size_t (*read)(char *, size_t, size_t, void *),
				 void (*read_end)(void *), void *ctx,
				 struct dso_list *out)
{
	struct http_part f = {0};

	if (!read)
		return -EINVAL;
	f.read = read;
	f.read_end = read_end;
	f.read_ctx = ctx;
	return upload_post(s, bundle_uuid, name, -1, 0, &f, out);
}

/* Replaces a bitstream's content (DSpace 10): a new bitstream that keeps
 * the old one's metadata and place; the old one is gone. */
int rest_replace_bitstream(struct session *s, const char *bitstream_uuid,
			   const char *name, const char *path,
			   struct dso_list *out)
{
	struct http_part f = {0};
	char u[UUID_LEN + 1];
	int rc;

	if (!path || safe_uuid(bitstream_uuid, u))
		return -EINVAL;
	if (!session_replace_usable(s))
		return -EOPNOTSUPP;
	f.name = "file";
	f.filename = name;
	f.type = "application/octet-stream";
	f.filepath = path;
	rc = write_call(s, "PUT", api_url(s, "/core/bitstreams/%s/content", u),
			NULL, NULL, &f, 1, 201, out);
	if (rc == -EFBIG || rc == -EOPNOTSUPP) {
		/* replace-bitstream.enabled = false (DSpace's default)
		 * answers 400 after the body; 405 before 10.0. */
		log_info("the server does not replace bitstream content "
			 "(replace-bitstream.enabled = false?): overwrites "
			 "create a new bitstream and delete the old one");
		session_replace_refused(s);
		rc = -EOPNOTSUPP;
	}
	return rc;
}

/* Renames a bitstream, bundle or item: its dc.title is its name. */
int rest_set_name(struct session *s, enum dso_type type, const char *uuid,
		  const char *name, struct dso_list *out)
{
	const char *seg = plural(type);
	char u[UUID_LEN + 1];
	char *patch;
	int rc;

	if (!seg || safe_uuid(uuid, u))
		return -EINVAL;
	patch = model_metadata_replace_patch("dc.title", name);
	if (!patch)
		return -ENOMEM;
	rc =
	    write_call(s, "PATCH", api_url(s, "/core/%s/%s", seg, u),
		       "application/json-patch+json", patch, NULL, 0, 200, out);
	free(patch);
	return rc;
}

/* The format registry's format for name's extension (cached per
 * session: one GET per mount). */
static int format_for_name(struct session *s, const char *name, int64_t *id,
			   char **mime)
{
	struct http_response resp = {0};
	const char *dot = strrchr(name, '.');
	char *url = NULL, *reg = session_formats(s);
	int rc = 0;

	if (!reg) {
		url = api_url(s, "/core/bitstreamformats?size=1000");
		rc = url ? get_json(s, url, &resp) : -ENOMEM;
		if (rc == 0)
			session_set_formats(s, resp.body);
		reg = rc == 0 ? strdup(resp.body) : NULL;
		if (rc == 0 && !reg)
			rc = -ENOMEM;
	}
	if (rc == 0)
		rc = model_format_for_ext(reg, strlen(reg),
					  dot && dot != name ? dot + 1 : "", id,
					  mime);
	http_response_release(&resp);
	free(url);
	free(reg);
	return rc;
}

int rest_format_for_name(struct session *s, const char *name, char **mime)
{
	int64_t id;

	*mime = NULL;
	return format_for_name(s, name, &id, mime);
}

int rest_fix_format(struct session *s, const char *uuid, const char *name,
		    const char *cur_mime, char **mime)
{
	char u[UUID_LEN + 1];
	char *body = NULL, *fmt = NULL;
	int64_t id;
	int rc;

	*mime = NULL;
	if (safe_uuid(uuid, u))
		return -EINVAL;
	rc = format_for_name(s, name, &id, &fmt);
	if (rc < 0 || (cur_mime && !strcmp(cur_mime, fmt)))
		goto out;
	body = api_url(s, "/core/bitstreamformats/%lld", (long long)id);
	rc = body ? write_call(s, "PUT",
			       api_url(s, "/core/bitstreams/%s/format", u),
			       "text/uri-list", body, NULL, 0, 200, NULL)
		  : -ENOMEM;
	if (rc == 0) {
		*mime = fmt;
		fmt = NULL;
	}
out:
	free(body);
	free(fmt);
	return rc;
}

/* Stores a bitstream's modification time in its metadata. */
int rest_set_modified(struct session *s, const char *uuid, int64_t sec,
		      int64_t ns)
{
	char u[UUID_LEN + 1];
	char *patch;
	int rc;

	if (safe_uuid(uuid, u))
		return -EINVAL;
	patch = model_modified_patch(sec, ns);
	if (!patch)
		return -ENOMEM;
	rc = write_call(s, "PATCH", api_url(s, "/core/bitstreams/%s", u),
			"application/json-patch+json", patch, NULL, 0, 200,
			NULL);
	free(patch);
	return rc;
}

/* Moves a bitstream into another bundle. */
int rest_move_bitstream(struct session *s, const char *bitstream_uuid,
			const char *bundle_uuid)
{
	char b[UUID_LEN + 1], t[UUID_LEN + 1];
	char *target;
	int rc;

	if (safe_uuid(bitstream_uuid, b) || safe_uuid(bundle_uuid, t))
		return -EINVAL;
	target = api_url(s, "/core/bundles/%s", t);
	if (!target)
		return -ENOMEM;
	rc = write_call(s, "PUT", api_url(s, "/core/bitstreams/%s/bundle", b),
			"text/uri-list", target, NULL, 0, 200, NULL);
	free(target);
	return rc;
}

/* Deletes a bitstream, bundle or item. */
int rest_delete(struct session *s, enum dso_type type, const char *uuid)
{
	const char *seg = plural(type);
	char u[UUID_LEN + 1];

	if (!seg || type == DSO_COMMUNITY || type == DSO_COLLECTION ||
	    safe_uuid(uuid, u))
		return -EINVAL;
	return write_call(s, "DELETE", api_url(s, "/core/%s/%s", seg, u), NULL,
			  NULL, NULL, 0, 204, NULL);
}

/* The whole metadata of an object, every attribute of every value. */
int rest_get_md(struct session *s, enum dso_type type, const char *uuid,
		struct md_set *out)
{
	struct http_response resp = {0};
	const char *seg = plural(type);
	char u[UUID_LEN + 1];
	char *url;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!seg || safe_uuid(uuid, u))
		return -EINVAL;
	url = api_url(s, "/core/%s/%s", seg, u);
	if (!url)
		return -ENOMEM;
	rc = get_json(s, url, &resp);
	if (rc == 0)
		rc = model_parse_md_object(resp.body, resp.body_len, out);
	if (rc == -EPROTO) {
		log_error("GET %s: unusable response", url);
		rc = -EIO;
	}
	http_response_release(&resp);
	free(url);
	return rc;
}

/* Replaces the fields of m whole on an object, in one PATCH (§6.4). */
int rest_patch_md(struct session *s, enum dso_type type, const char *uuid,
		  const struct md_set *m)
{
	const char *seg = plural(type);
	char u[UUID_LEN + 1];
	char *patch;
	int rc;

	if (!seg || safe_uuid(uuid, u))
		return -EINVAL;
	if (m->n == 0)
		return 0;
	patch = model_md_patch(m, NULL);
	if (!patch)
		return -ENOMEM;
	rc = write_call(s, "PATCH", api_url(s, "/core/%s/%s", seg, u),
			"application/json-patch+json", patch, NULL, 0, 200,
			NULL);
	free(patch);
	return rc;
}

/* Whether the user may edit the object's metadata (canEditMetadata). */
int rest_can_edit_md(struct session *s, enum dso_type type, const char *uuid)
{
	struct http_response resp = {0};
	const char *seg = plural(type);
	struct buf q = BUF_INIT;
	char u[UUID_LEN + 1];
	char *obj = NULL, *url = NULL;
	int64_t total = 0;
	int rc;

	if (!seg || safe_uuid(uuid, u))
		return -EINVAL;
	obj = api_url(s, "/core/%s/%s", seg, u);
	rc = obj ? buf_add_urlencoded(&q, obj) : -ENOMEM;
	if (rc == 0)
		url = api_url(s,
			      "/authz/authorizations/search/object?uri=%s"
			      "&feature=canEditMetadata",
			      q.data);
	rc = rc ? rc : url ? get_json(s, url, &resp) : -ENOMEM;
	if (rc == 0 && model_page_total(resp.body, resp.body_len,
					"authorizations", &total) < 0)
		rc = -EIO;
	http_response_release(&resp);
	buf_release(&q);
	free(obj);
	free(url);
	return rc < 0 ? rc : total > 0;
}

void draft_form_release(struct draft_form *f)
{
	model_strv_release(f->field, f->n);
	model_strv_release(f->section, f->n);
	memset(f, 0, sizeof(*f));
}

/* Adds the fields that form section sec offers to out (a section that
 * is no form, 404, adds none). */
static int form_section(struct session *s, const char *sec,
			struct draft_form *out)
{
	struct http_response resp = {0};
	struct http_request req = {0};
	struct buf q = BUF_INIT;
	char **f = NULL;
	size_t nf = 0, i, ns = out->n;
	char *url = NULL;
	int rc = buf_add_urlencoded(&q, sec);

	url = rc ? NULL : api_url(s, "/config/submissionforms/%s", q.data);
	req.method = "GET";
	req.url = url;
	req.idempotent = 1;
	rc = rc ? rc : url ? perform(s, &req, &resp, 200, 404) : -ENOMEM;
	if (rc == 0 && resp.status == 200)
		rc = model_parse_form_fields(resp.body, resp.body_len, &f, &nf);
	for (i = 0; rc == 0 && i < nf; i++) {
		ns = out->n;
		rc = model_strv_add(&out->field, &ns, f[i]);
		if (rc == 0)
			rc = model_strv_add(&out->section, &out->n, sec);
	}
	model_strv_release(f, nf);
	http_response_release(&resp);
	buf_release(&q);
	free(url);
	return rc == -EPROTO ? -EIO : rc;
}

/* The draft's workspace item and its form. */
int rest_draft_form(struct session *s, const char *item_uuid,
		    struct draft_form *out)
{
	struct http_response resp = {0};
	struct http_request req = {0};
	char u[UUID_LEN + 1];
	char **secs = NULL;
	size_t ns = 0, i;
	char *url;
	int rc;

	memset(out, 0, sizeof(*out));
	if (safe_uuid(item_uuid, u))
		return -EINVAL;
	url = api_url(s, "/submission/workspaceitems/search/item?uuid=%s", u);
	if (!url)
		return -ENOMEM;
	req.method = "GET";
	req.url = url;
	req.idempotent = 1;
	rc = perform(s, &req, &resp, 200, 204);
	if (rc == 0 && resp.status == 200)
		rc = model_parse_workspace(resp.body, resp.body_len, &out->wsid,
					   &secs, &ns);
	for (i = 0; rc == 0 && i < ns; i++)
		rc = form_section(s, secs[i], out);
	model_strv_release(secs, ns);
	http_response_release(&resp);
	free(url);
	if (rc)
		draft_form_release(out);
	return rc == -EPROTO ? -EIO : rc;
}

/* PATCHes the draft's form sections. */
int rest_patch_draft(struct session *s, int64_t wsid, const struct md_set *m,
		     const char *const *sections)
{
	char *patch;
	int rc;

	if (m->n == 0)
		return 0;
	patch = model_md_patch(m, sections);
	if (!patch)
		return -ENOMEM;
	rc = write_call(
	    s, "PATCH",
	    api_url(s, "/submission/workspaceitems/%lld", (long long)wsid),
	    "application/json-patch+json", patch, NULL, 0, 200, NULL);
	free(patch);
	return rc;
}

/* Feature names asked about per type (dspace.h DSO_RIGHT_*). */
static const char *authz_features(enum dso_type type)
{
	switch (type) {
	case DSO_COLLECTION:
		return "&feature=canEditMetadata&feature=canSubmit";
	case DSO_ITEM:
		return "&feature=canEditMetadata&feature=canDelete"
		       "&feature=canManageBitstreamBundles";
	default:
		return "&feature=canEditMetadata&feature=canDelete";
	}
}

/* One authz request for up to DSPACE_AUTHZ_MAX objects of v (the URL is
 * built here: it is longer than api_url takes). */
static int authz_some(struct session *s, const char *dtype, enum dso_type type,
		      struct dso **v, size_t n)
{
	struct http_response resp = {0};
	struct dso batch[DSPACE_AUTHZ_MAX];
	struct buf b = BUF_INIT;
	int rc = -ENOMEM;

	if (buf_adds(&b, session_api_url(s)) ||
	    buf_addf(&b,
		     "/authz/authorizations/search/objects?type=%s%s"
		     "&size=%d",
		     dtype, authz_features(type), 3 * DSPACE_AUTHZ_MAX))
		goto out;
	for (size_t i = 0; i < n; i++)
		if (buf_addf(&b, "&uuid=%s", v[i]->uuid))
			goto out;
	rc = get_json(s, b.data, &resp);
	if (rc)
		goto out;
	memset(batch, 0, sizeof(batch));
	for (size_t i = 0; i < n; i++)
		memcpy(batch[i].uuid, v[i]->uuid, sizeof(batch[i].uuid));
	rc = model_parse_authz(resp.body, resp.body_len, batch, n);
	for (size_t i = 0; rc == 0 && i < n; i++)
		v[i]->rights = DSO_RIGHT_KNOWN | batch[i].rights;
out:
	http_response_release(&resp);
	buf_release(&b);
	return rc == -EPROTO ? -EIO : rc;
}

int dspace_authz(struct session *s, enum dso_type type, struct dso *v, size_t n)
{
	static const char *const names[] = {
	    [DSO_COMMUNITY] = "core.community",
	    [DSO_COLLECTION] = "core.collection",
	    [DSO_ITEM] = "core.item",
	    [DSO_BUNDLE] = "core.bundle",
	    [DSO_BITSTREAM] = "core.bitstream",
	};
	struct dso *batch[DSPACE_AUTHZ_MAX];
	size_t k = 0;
	int rc = 0;

	if (type <= DSO_NONE || type > DSO_BITSTREAM)
		return -EINVAL;
	for (size_t i = 0; i <= n && rc == 0; i++) {
		if (i < n && v[i].type == type && model_uuid_valid(v[i].uuid))
			batch[k++] = &v[i];
		if (k == DSPACE_AUTHZ_MAX || (i == n && k > 0)) {
			rc = authz_some(s, names[type], type, batch, k);
			k = 0;
		}
	}
	return rc;
}
