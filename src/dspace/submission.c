/* submission: DSpace's submission route for depositors (contract §7, §13):
 * workspace items (drafts), their form sections, the licence and the
 * workflow item that deposits them. Declared in dspace.h. Section names
 * come from the collection's submission definition, never hard-coded. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dspace/dspace.h"
#include "dspace/session.h"
#include "net/http.h"
#include "util/buf.h"
#include "util/log.h"

/* Formats a URL under the API base; NULL on ENOMEM or overflow. */
static char *sub_url(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *sub_url(struct session *s, const char *fmt, ...)
{
	char tail[1024], *out;
	va_list ap;
	size_t len;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tail))
		return NULL;
	len = strlen(session_api_url(s)) + (size_t)n + 1;
	out = malloc(len);
	if (out)
		snprintf(out, len, "%s%s", session_api_url(s), tail);
	return out;
}

/* One request (url freed here); *json receives the parsed body of an
 * answer with status want (NULL when empty). 0 or -errno after a log
 * line with the server's message. */
static int sub_call(struct session *s, const char *method, char *url,
		    const char *ctype, const char *body, long want,
		    json_t **json)
{
	struct http_response resp = {0};
	struct http_request req = {0};
	struct http_headers hdr = {0};
	char line[128];
	char *msg;
	int rc = 0, e;

	if (json)
		*json = NULL;
	if (!url)
		return -ENOMEM;
	snprintf(line, sizeof(line), "Content-Type: %s", ctype ? ctype : "");
	if (ctype && http_headers_add(&hdr, line) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	req.method = method;
	req.url = url;
	req.headers = &hdr;
	req.body = body;
	req.body_len = body ? strlen(body) : 0;
	req.idempotent = strcmp(method, "GET") == 0;
	rc = session_request(s, &req, &resp);
	if (rc) {
		log_error("%s %s: %s (%s)", method, url, strerror(-rc),
			  resp.errmsg);
		goto out;
	}
	if (resp.status != want) {
		msg = model_error_message(resp.body, resp.body_len);
		log_error("%s %s: HTTP %ld%s%s", method, url, resp.status,
			  msg ? ": " : "", msg ? msg : "");
		free(msg);
		e = http_status_errno(resp.status);
		rc = e ? -e : -EIO;
		goto out;
	}
	if (json && resp.body_len > 0) {
		*json = json_loadb(resp.body, resp.body_len, 0, NULL);
		if (!*json) {
			log_error("%s %s: unusable response", method, url);
			rc = -EIO;
		}
	}
out:
	http_response_release(&resp);
	http_headers_release(&hdr);
	free(url);
	return rc;
}

/* Whether a string is safe in a URL path or query (UUIDs, section ids). */
static int url_safe(const char *v)
{
	if (!v || !*v || strlen(v) > 100)
		return 0;
	for (; *v; v++)
		if (!(*v == '-' || *v == '_' || *v == '.' ||
		      (*v >= '0' && *v <= '9') || (*v >= 'a' && *v <= 'z') ||
		      (*v >= 'A' && *v <= 'Z')))
			return 0;
	return 1;
}

/* The submission definition's sections of a collection (a JSON array,
 * caller decrefs). */
static int definition_sections(struct session *s, const char *coll,
			       json_t **out)
{
	json_t *def = NULL, *page = NULL;
	const char *name;
	int rc;

	*out = NULL;
	rc = sub_call(s, "GET",
		      sub_url(s,
			      "/config/submissiondefinitions/search/"
			      "findByCollection?uuid=%s",
			      coll),
		      NULL, NULL, 200, &def);
	if (rc)
		return rc;
	name = json_string_value(json_object_get(def, "id"));
	if (!url_safe(name)) {
		rc = -EIO;
		goto out;
	}
	rc = sub_call(
	    s, "GET",
	    sub_url(s, "/config/submissiondefinitions/%s/sections", name), NULL,
	    NULL, 200, &page);
	if (rc)
		goto out;
	*out = json_incref(
	    json_object_get(json_object_get(page, "_embedded"), "sections"));
	if (!json_is_array(*out))
		rc = -EIO;
out:
	json_decref(def);
	json_decref(page);
	return rc;
}

/* Whether form (a submissionform) offers field. */
static int form_offers(json_t *form, const char *field)
{
	json_t *row, *f, *sel;
	size_t i, j, k;

	json_array_foreach(json_object_get(form, "rows"), i, row)
	    json_array_foreach(json_object_get(row, "fields"), j, f)
		json_array_foreach(
		    json_object_get(f, "selectableMetadata"), k,
		    sel) if (json_is_string(json_object_get(sel, "metadata")) &&
			     strcmp(json_string_value(
					json_object_get(sel, "metadata")),
				    field) == 0) return 1;
	return 0;
}

/* The id of the first section of type type (and, for forms, offering
 * field) in the collection's definition; out has room for 101 bytes. */
int dspace_submission_section(struct session *s, const char *coll,
			      const char *type, const char *field, char *out)
{
	json_t *secs = NULL, *sec, *form;
	const char *id, *t;
	size_t i;
	int rc;

	rc = definition_sections(s, coll, &secs);
	if (rc)
		return rc;
	rc = -ENOENT;
	json_array_foreach(secs, i, sec)
	{
		id = json_string_value(json_object_get(sec, "id"));
		t = json_string_value(json_object_get(sec, "sectionType"));
		if (!url_safe(id) || !t || strcmp(t, type) != 0)
			continue;
		if (field) {
			if (sub_call(
				s, "GET",
				sub_url(s, "/config/submissionforms/%s", id),
				NULL, NULL, 200, &form))
				continue;
			t = form_offers(form, field) ? id : NULL;
			json_decref(form);
			if (!t)
				continue;
		}
		snprintf(out, 101, "%s", id);
		rc = 0;
		break;
	}
	json_decref(secs);
	return rc;
}

/* The uuid of the item of workspace item ws (from its embedded item, or
 * its item link). */
static int ws_item_uuid(struct session *s, json_t *ws, char *out)
{
	json_t *item =
	    json_object_get(json_object_get(ws, "_embedded"), "item");
	const char *u = json_string_value(json_object_get(item, "uuid"));
	json_int_t id = json_integer_value(json_object_get(ws, "id"));
	int rc = 0;

	if (!u) {
		const char *t = json_string_value(json_object_get(ws, "type"));
		int wf = t && strcmp(t, "workflowitem") == 0;

		rc = sub_call(s, "GET",
			      sub_url(s, "/%s/%lld/item",
				      wf ? "workflow/workflowitems"
					 : "submission/workspaceitems",
				      (long long)id),
			      NULL, NULL, 200, &item);
		if (rc)
			return rc;
		u = json_string_value(json_object_get(item, "uuid"));
	} else {
		json_incref(item);
	}
	if (u && model_uuid_valid(u))
		snprintf(out, UUID_LEN + 1, "%s", u);
	else
		rc = -EIO;
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	json_decref(item);
	return rc;
}

/* Fills d from a workspace/workflow item JSON. */
static int draft_from_json(struct session *s, json_t *ws,
			   struct dspace_draft *d)
{
	const char *c = json_string_value(
	    json_object_get(json_object_get(ws, "sections"), "collection"));
	const char *t = json_string_value(json_object_get(ws, "type"));

	memset(d, 0, sizeof(*d));
	d->id = json_integer_value(json_object_get(ws, "id"));
	d->workflow = t && strcmp(t, "workflowitem") == 0;
	d->nerrors = json_array_size(json_object_get(ws, "errors"));
	if (c && model_uuid_valid(c))
		snprintf(d->collection, sizeof(d->collection), "%s", c);
	return ws_item_uuid(s, ws, d->item);
}

/* POST workspaceitems?owningCollection=; the draft's title set through
 * the form section offering dc.title. */
int dspace_draft_create(struct session *s, const char *coll, const char *title,
			struct dspace_draft *out)
{
	char sec[101];
	json_t *ws = NULL, *patch = NULL;
	char *body = NULL;
	int rc;

	if (!model_uuid_valid(coll))
		return -EINVAL;
	rc = sub_call(s, "POST",
		      sub_url(s,
			      "/submission/workspaceitems?owningCollection=%s"
			      "&embed=item",
			      coll),
		      "application/json", "{}", 201, &ws);
	if (rc)
		return rc;
	rc = draft_from_json(s, ws, out);
	if (rc == 0 && dspace_submission_section(s, coll, "submission-form",
						 "dc.title", sec) == 0) {
		patch = json_pack("[{s:s, s:s++, s:[{s:s}]}]", "op", "add",
				  "path", "/sections/", sec, "/dc.title",
				  "value", "value", title);
		body = patch ? json_dumps(patch, JSON_COMPACT) : NULL;
		rc =
		    body
			? sub_call(s, "PATCH",
				   sub_url(s, "/submission/workspaceitems/%lld",
					   (long long)out->id),
				   "application/json", body, 200, NULL)
			: -ENOMEM;
	} else if (rc == 0) {
		log_warn("draft %lld: no form of the collection offers "
			 "dc.title; left untitled",
			 (long long)out->id);
	}
	free(body);
	json_decref(patch);
	json_decref(ws);
	return rc;
}

/* The uuid of the user the session acts for (authn/status). */
static int whoami(struct session *s, char *out)
{
	json_t *st = NULL;
	const char *href;
	int rc;

	rc = sub_call(s, "GET", sub_url(s, "/authn/status"), NULL, NULL, 200,
		      &st);
	if (rc)
		return rc;
	href = json_string_value(json_object_get(
	    json_object_get(json_object_get(st, "_links"), "eperson"), "href"));
	rc = -ENOENT;
	if (href && strlen(href) > UUID_LEN &&
	    model_uuid_valid(href + strlen(href) - UUID_LEN)) {
		snprintf(out, UUID_LEN + 1, "%s",
			 href + strlen(href) - UUID_LEN);
		rc = 0;
	}
	json_decref(st);
	return rc;
}

/* Appends the drafts of one page (workspace items; or, with found set,
 * discovery results holding workflow items); *next: the next page's
 * number or -1. */
static int drafts_page(struct session *s, json_t *page, int found,
		       struct dspace_draft **v, size_t *n, int *next)
{
	json_t *emb = json_object_get(page, "_embedded"), *list, *pg, *ws;
	struct dspace_draft *nv;
	size_t i;

	if (found)
		page = json_object_get(emb, "searchResult");
	emb = json_object_get(page, "_embedded");
	list = json_object_get(emb, found ? "objects" : "workspaceitems");
	pg = json_object_get(page, "page");
	json_array_foreach(list, i, ws)
	{
		if (found)
			ws = json_object_get(json_object_get(ws, "_embedded"),
					     "indexableObject");
		nv = realloc(*v, (*n + 1) * sizeof(**v));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		if (draft_from_json(s, ws, &nv[*n]) == 0)
			(*n)++;
	}
	*next = -1;
	if (json_integer_value(json_object_get(pg, "number")) + 1 <
	    json_integer_value(json_object_get(pg, "totalPages")))
		*next =
		    (int)json_integer_value(json_object_get(pg, "number")) + 1;
	return 0;
}

/* Appends the user's workflow items, every page. Only administrators may
 * call workflowitems/search/findBySubmitter (WorkflowItemRestRepository:
 * @PreAuthorize ADMIN); a submitter finds their own through the discovery
 * configuration "workspace" of MyDSpace (discovery.xml
 * workspaceConfiguration; SolrServiceWorkspaceWorkflowRestrictionPlugin
 * filters on submitter_authority), and may read them
 * (WorkflowRestPermissionEvaluatorPlugin: the submitter has READ). */
static int workflow_mine(struct session *s, struct dspace_draft **v, size_t *n)
{
	json_t *page;
	int rc = 0, next = 0;

	while (rc == 0 && next >= 0) {
		rc = sub_call(s, "GET",
			      sub_url(s,
				      "/discover/search/objects?configuration="
				      "workspace&dsoType=XmlWorkflowItem"
				      "&size=100&page=%d&embed=item",
				      next),
			      NULL, NULL, 200, &page);
		if (rc == 0)
			rc = drafts_page(s, page, 1, v, n, &next);
		json_decref(page);
	}
	return rc;
}

/* The user's workspace items (findBySubmitter, every page), then their
 * workflow items. */
int dspace_drafts_mine(struct session *s, struct dspace_draft **v, size_t *n)
{
	char me[UUID_LEN + 1];
	json_t *page;
	int rc, next = 0;

	*v = NULL;
	*n = 0;
	rc = whoami(s, me);
	while (rc == 0 && next >= 0) {
		rc = sub_call(s, "GET",
			      sub_url(s,
				      "/submission/workspaceitems/search/"
				      "findBySubmitter?uuid=%s&size=100&page=%d"
				      "&embed=item",
				      me, next),
			      NULL, NULL, 200, &page);
		if (rc == 0)
			rc = drafts_page(s, page, 0, v, n, &next);
		json_decref(page);
	}
	if (rc == 0 && workflow_mine(s, v, n))
		log_warn("the workflow items of %s cannot be listed", me);
	if (rc) {
		free(*v);
		*v = NULL;
		*n = 0;
	}
	return rc;
}

/* DELETE workspaceitems/{id}: abandons a draft. */
int dspace_draft_delete(struct session *s, int64_t id)
{
	return sub_call(
	    s, "DELETE",
	    sub_url(s, "/submission/workspaceitems/%lld", (long long)id), NULL,
	    NULL, 204, NULL);
}

/* The draft's validation errors now (GET workspaceitems/{id}): their
 * paths, one a line, into paths. */
int dspace_draft_errors(struct session *s, int64_t id, struct buf *paths)
{
	json_t *ws = NULL, *err, *p;
	size_t i, j;
	int rc;

	rc = sub_call(
	    s, "GET",
	    sub_url(s, "/submission/workspaceitems/%lld", (long long)id), NULL,
	    NULL, 200, &ws);
	json_array_foreach(json_object_get(ws, "errors"), i, err)
	    json_array_foreach(json_object_get(err, "paths"), j,
			       p) if (json_is_string(p)) rc =
		rc ? rc : buf_addf(paths, "%s\n", json_string_value(p));
	json_decref(ws);
	return rc;
}

/* Grants the licence and posts the workflow item; *archived: the
 * collection has no workflow (201 without a body). */
int dspace_draft_deposit(struct session *s, const char *coll, int64_t id,
			 int *archived)
{
	char sec[101], body[600];
	json_t *wf = NULL;
	int rc;

	rc = dspace_submission_section(s, coll, "license", NULL, sec);
	if (rc == 0) {
		snprintf(body, sizeof(body),
			 "[{\"op\":\"add\",\"path\":\"/sections/%s/granted\","
			 "\"value\":true}]",
			 sec);
		rc = sub_call(s, "PATCH",
			      sub_url(s, "/submission/workspaceitems/%lld",
				      (long long)id),
			      "application/json", body, 200, NULL);
	} else if (rc == -ENOENT) {
		rc = 0; /* no licence step */
	}
	if (rc)
		return rc;
	snprintf(body, sizeof(body), "%s/submission/workspaceitems/%lld",
		 session_api_url(s), (long long)id);
	rc = sub_call(s, "POST", sub_url(s, "/workflow/workflowitems"),
		      "text/uri-list", body, 201, &wf);
	*archived = rc == 0 && wf == NULL;
	json_decref(wf);
	return rc;
}

/* The upload section's data of a workspace item (the section value with
 * a "files" array) and its name; NULL when none. */
static json_t *upload_section(json_t *ws, const char **name)
{
	json_t *v;
	const char *k;

	json_object_foreach(json_object_get(ws, "sections"), k, v)
	{
		if (json_is_array(json_object_get(v, "files"))) {
			*name = k;
			return v;
		}
	}
	return NULL;
}

/* Whether an error of ws names path. */
static int error_at(json_t *ws, const char *path)
{
	json_t *err, *p;
	size_t i, j;

	json_array_foreach(json_object_get(ws, "errors"), i, err)
	    json_array_foreach(
		json_object_get(err, "paths"), j,
		p) if (json_is_string(p) &&
		       !strcmp(json_string_value(p), path)) return 1;
	return 0;
}

/* The first value of field in a submission file's metadata, or NULL. */
static const char *file_meta(json_t *f, const char *field)
{
	json_t *v = json_array_get(
	    json_object_get(json_object_get(f, "metadata"), field), 0);

	return json_string_value(json_object_get(v, "value"));
}

/* Appends submission file f (at position n of the upload section) as a
 * bitstream of bundle to out. */
static int push_file(json_t *f, const char *bundle, struct dso_list *out)
{
	const char *u = json_string_value(json_object_get(f, "uuid"));
	const char *md5 = json_string_value(
	    json_object_get(json_object_get(f, "checkSum"), "value"));
	json_t *size = json_object_get(f, "sizeBytes");
	struct dso *d;

	if (!u || !model_uuid_valid(u))
		return -EIO;
	d = dso_list_push(out);
	if (!d)
		return -ENOMEM;
	d->type = DSO_BITSTREAM;
	snprintf(d->uuid, sizeof(d->uuid), "%s", u);
	snprintf(d->parent, sizeof(d->parent), "%s", bundle ? bundle : "");
	snprintf(d->md5, sizeof(d->md5), "%s",
		 md5 && strlen(md5) == 32 ? md5 : "");
	d->size = json_is_integer(size) ? json_integer_value(size) : -1;
	d->name =
	    strdup(file_meta(f, "dc.title") ? file_meta(f, "dc.title") : "");
	return d->name ? 0 : -ENOMEM;
}

/* Finds the file just uploaded as name in the answer ws (the last of that
 * name not in before), checks that no error names it, appends it. */
static int uploaded_file(struct session *s, int64_t id, json_t *ws,
			 const char *name, const char *bundle,
			 struct dso_list *out)
{
	const char *sec = NULL;
	json_t *files = json_object_get(upload_section(ws, &sec), "files");
	char path[160], body[300];
	size_t n = json_array_size(files);

	while (n > 0) {
		const char *t =
		    file_meta(json_array_get(files, n - 1), "dc.title");

		if (t && !strcmp(t, name))
			break;
		n--;
	}
	if (n == 0) {
		log_error("draft %lld: \"%s\" is not among its files after "
			  "the upload",
			  (long long)id, name);
		return -EIO;
	}
	snprintf(path, sizeof(path), "/sections/%s/files/%zu", sec, n - 1);
	if (!error_at(ws, path))
		return push_file(json_array_get(files, n - 1), bundle, out);
	log_error("draft %lld: the server saved \"%s\" with an error (%s); "
		  "removing it",
		  (long long)id, name, path);
	snprintf(body, sizeof(body), "[{\"op\":\"remove\",\"path\":\"%s\"}]",
		 path);
	sub_call(s, "PATCH",
		 sub_url(s, "/submission/workspaceitems/%lld", (long long)id),
		 "application/json", body, 200, NULL);
	return -EIO;
}

/* Multipart POST workspaceitems/{id} (part "file"): the file f becomes a
 * file of the draft's upload section; appends it to out. */
int dspace_draft_upload(struct session *s, int64_t id, const char *bundle,
			const char *name, const struct dspace_draft_body *b,
			struct dso_list *out)
{
	struct http_response resp = {0};
	struct http_request req = {0};
	struct http_part part = {0};
	char *url =
	    sub_url(s, "/submission/workspaceitems/%lld", (long long)id);
	json_t *ws = NULL;
	char *msg;
	int rc, e;

	if (!url)
		return -ENOMEM;
	part.name = "file";
	part.filename = name;
	part.type = "application/octet-stream";
	part.filepath = b->path;
	part.read = b->read;
	part.read_end = b->read_end;
	part.read_ctx = b->ctx;
	req.method = "POST";
	req.url = url;
	req.parts = &part;
	req.nparts = 1;
	rc = session_request(s, &req, &resp);
	if (rc == 0 && resp.status != 201) {
		msg = model_error_message(resp.body, resp.body_len);
		log_error("POST %s: HTTP %ld%s%s", url, resp.status,
			  msg ? ": " : "", msg ? msg : "");
		free(msg);
		e = http_status_errno(resp.status);
		rc = e ? -e : -EIO;
	} else if (rc) {
		log_error("POST %s: %s (%s)", url, strerror(-rc), resp.errmsg);
	}
	if (rc == 0) {
		ws = json_loadb(resp.body, resp.body_len, 0, NULL);
		rc = ws ? uploaded_file(s, id, ws, name, bundle, out) : -EIO;
	}
	json_decref(ws);
	http_response_release(&resp);
	free(url);
	return rc;
}

/* The position of file uuid in the draft's upload section now (re-read:
 * files are addressed by position), and the section's name. */
static int file_position(struct session *s, int64_t id, const char *uuid,
			 char *sec, size_t *pos)
{
	json_t *ws = NULL, *f;
	const char *name = NULL, *u;
	size_t i;
	int rc;

	rc = sub_call(
	    s, "GET",
	    sub_url(s, "/submission/workspaceitems/%lld", (long long)id), NULL,
	    NULL, 200, &ws);
	if (rc)
		return rc;
	rc = -ENOENT;
	json_array_foreach(json_object_get(upload_section(ws, &name), "files"),
			   i, f)
	{
		u = json_string_value(json_object_get(f, "uuid"));
		if (u && !strcasecmp(u, uuid) && url_safe(name)) {
			snprintf(sec, 101, "%s", name);
			*pos = i;
			rc = 0;
			break;
		}
	}
	json_decref(ws);
	return rc;
}

/* Renames (new_name) or removes (NULL) file uuid of the draft through its
 * upload section, at the position it has now. */
int dspace_draft_file_change(struct session *s, int64_t id, const char *uuid,
			     const char *new_name)
{
	char sec[101];
	json_t *patch;
	char *body, path[200];
	size_t pos;
	int rc;

	rc = file_position(s, id, uuid, sec, &pos);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "/sections/%s/files/%zu%s", sec, pos,
		 new_name ? "/metadata/dc.title/0" : "");
	patch = new_name
		    ? json_pack("[{s:s, s:s, s:{s:s}}]", "op", "replace",
				"path", path, "value", "value", new_name)
		    : json_pack("[{s:s, s:s}]", "op", "remove", "path", path);
	body = patch ? json_dumps(patch, JSON_COMPACT) : NULL;
	rc = body ? sub_call(s, "PATCH",
			     sub_url(s, "/submission/workspaceitems/%lld",
				     (long long)id),
			     "application/json", body, 200, NULL)
		  : -ENOMEM;
	free(body);
	json_decref(patch);
	return rc;
}

/* Appends s to b without control characters (server text shown). */
static int add_clean(struct buf *b, const char *s)
{
	int r = 0;

	for (; s && *s && r == 0; s++)
		if ((unsigned char)*s >= 0x20 && *s != 0x7f)
			r = buf_add(b, s, 1);
		else if (*s == '\n' || *s == '\t')
			r = buf_add(b, s, 1);
	return r;
}

/* The label and required-message of field on form sec, appended as
 * "label (field): message". */
static int describe_field(struct session *s, const char *sec, const char *field,
			  struct buf *out)
{
	json_t *form = NULL, *row, *f;
	const char *label = NULL, *msg = NULL;
	size_t i, j;
	int r;

	if (url_safe(sec) &&
	    sub_call(s, "GET", sub_url(s, "/config/submissionforms/%s", sec),
		     NULL, NULL, 200, &form) == 0) {
		json_array_foreach(json_object_get(form, "rows"), i, row)
		    json_array_foreach(json_object_get(row, "fields"), j, f)
		{
			json_t *one = json_array_get(
			    json_object_get(f, "selectableMetadata"), 0);
			const char *m =
			    json_string_value(json_object_get(one, "metadata"));

			if (m && !strcmp(m, field) && !label) {
				label = json_string_value(
				    json_object_get(f, "label"));
				msg = json_string_value(
				    json_object_get(f, "mandatoryMessage"));
			}
		}
	}
	r = buf_adds(out, "  - ");
	r = r ? r : add_clean(out, label ? label : field);
	r = r ? r : buf_addf(out, " (%s)", field);
	if (!r && msg) {
		r = buf_adds(out, ": ");
		r = r ? r : add_clean(out, msg);
	}
	r = r ? r : buf_adds(out, "\n");
	json_decref(form);
	return r;
}

/* One error path as a line of out: a form field with its label, the
 * files, or nothing (the licence, granted by the deposit). */
static int describe_path(struct session *s, const char *path, struct buf *out)
{
	char sec[101];
	const char *p = path + strlen("/sections/"), *slash;

	if (strncmp(path, "/sections/", 10) != 0)
		return 0;
	slash = strchr(p, '/');
	snprintf(sec, sizeof(sec), "%.*s",
		 (int)(slash ? (size_t)(slash - p) : strlen(p)), p);
	if (strstr(sec, "license"))
		return 0;
	if (slash && !strstr(slash, "/files"))
		return describe_field(s, sec, slash + 1, out);
	return buf_addf(out, "  - Files (%s): at least one file in ORIGINAL/\n",
			sec);
}

/* What the draft still lacks (its validation errors but the licence),
 * one "  - label (field): message" line each, into out. */
int dspace_draft_missing(struct session *s, int64_t id, struct buf *out)
{
	struct buf paths = BUF_INIT;
	char *p, *nl;
	int r;

	r = dspace_draft_errors(s, id, &paths);
	for (p = paths.data; r == 0 && p && p < paths.data + paths.len;
	     p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(paths.data + paths.len - p));
		if (!nl)
			break;
		*nl = 0;
		r = describe_path(s, p, out);
	}
	buf_release(&paths);
	return r;
}

/* The collection's licence text (GET collections/{uuid}/license),
 * without control characters, into out. */
int dspace_collection_license(struct session *s, const char *coll,
			      struct buf *out)
{
	json_t *l = NULL;
	int r;

	if (!model_uuid_valid(coll))
		return -EINVAL;
	r = sub_call(s, "GET", sub_url(s, "/core/collections/%s/license", coll),
		     NULL, NULL, 200, &l);
	if (r == 0)
		r = add_clean(out,
			      json_string_value(json_object_get(l, "text")));
	json_decref(l);
	return r;
}
