/* bitstream: a bitstream's content over HTTP (contract §5.4), for the
 * core's reader (see dspace.h). The core asks for bytes [start, end) of a
 * bitstream and hears back what the server sent (a range, the whole file,
 * or an error class), never a status code or a header. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/http.h"
#include "util/log.h"
#include "dspace/rest.h"

_Static_assert(REST_READ_ABORT == HTTP_READ_ABORT,
	       "REST_READ_ABORT is the net layer's read abort code");

/* State of one content request across its attempts. */
struct cget {
	const struct rest_content_req *req;
	int heard;    /* an answer with a body began (on_headers ran) */
	int accepted; /* ... and went to on_head */
};

/* Parses "bytes a-b/total". 0 or -1. */
int rest_parse_content_range(const char *v, uint64_t *a, uint64_t *b,
			     uint64_t *total)
{
	char *end;

	if (!v || strncasecmp(v, "bytes", 5))
		return -1;
	v += 5;
	while (*v == ' ')
		v++;
	if (*v < '0' || *v > '9')
		return -1;
	*a = strtoull(v, &end, 10);
	if (*end != '-' || end[1] < '0' || end[1] > '9')
		return -1;
	*b = strtoull(end + 1, &end, 10);
	if (*end != '/' || end[1] < '0' || end[1] > '9')
		return -1;
	*total = strtoull(end + 1, &end, 10);
	return *end ? -1 : 0;
}

/* A decimal Content-Length, or -1. */
static int64_t content_length(const struct http_response *resp)
{
	const char *v = http_response_header(resp, "Content-Length");
	unsigned long long n;
	char *end;

	if (!v || *v < '0' || *v > '9')
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	return *end || errno || n > MODEL_SIZE_MAX ? -1 : (int64_t)n;
}

/* The ETag's value without W/ and quotes into out ("" if none). */
static void etag_value(const struct http_response *resp, char *out, size_t len)
{
	const char *v = http_response_header(resp, "ETag");
	size_t n;

	out[0] = 0;
	if (!v)
		return;
	if (!strncmp(v, "W/", 2))
		v += 2;
	if (*v == '"')
		v++;
	n = strcspn(v, "\"");
	if (n < len)
		snprintf(out, len, "%.*s", (int)n, v);
}

/* on_headers: a 206 to a ranged request or a 200 goes to the caller's
 * on_head; any other answer is judged by its status afterwards. */
static int cget_headers(const struct http_response *resp, void *ctx)
{
	struct cget *g = ctx;
	struct rest_content_head h = {0};
	char etag[80];
	const char *cr;

	g->heard = 1;
	g->accepted = 0;
	etag_value(resp, etag, sizeof(etag));
	h.etag = etag;
	h.length = content_length(resp);
	if (resp->status == 206 && g->req->ranged) {
		cr = http_response_header(resp, "Content-Range");
		h.content_range = cr ? cr : "";
		h.range_ok = rest_parse_content_range(cr, &h.first, &h.last,
						      &h.total) == 0;
	} else if (resp->status == 200) {
		h.whole = 1;
		h.content_range = "";
	} else {
		return 0;
	}
	g->accepted = 1;
	return g->req->on_head ? g->req->on_head(&h, g->req->ctx) : 0;
}

/* on_body: an accepted answer's bytes go to the caller; others are
 * dropped. */
static int cget_body(const char *data, size_t len, void *ctx)
{
	struct cget *g = ctx;

	if (!g->accepted)
		return 0;
	return g->req->on_body ? g->req->on_body(data, len, g->req->ctx) : 0;
}

/* The outcome of an answer's status: 0 for an accepted one (or a 2xx
 * without a body: the caller sees no bytes), else -errno with res->final
 * set for what the server will repeat. */
static int cget_status(const struct cget *g, long st,
		       struct rest_content_result *res)
{
	int e;

	if (st == 416)
		return -ERANGE;
	if (st >= 500 || st == 429 || st == 408)
		return -EAGAIN;
	if (st >= 300 || st < 200 || (g->heard && !g->accepted)) {
		res->final = 1;
		e = http_status_errno(st);
		return e ? -e : -EIO;
	}
	return 0;
}

int rest_content_get(struct session *s, const struct rest_content_req *req,
		     struct rest_content_result *res)
{
	struct http_request hr = {0};
	struct http_response resp;
	struct http_headers hdrs = {0};
	struct cget g = {.req = req};
	char range[80];
	char *url = rest_content_url(s, req->uuid);
	int rc;

	memset(res, 0, sizeof(*res));
	memset(&resp, 0, sizeof(resp));
	if (!url) { /* a malformed uuid (or no memory) */
		res->final = 1;
		return -EINVAL;
	}
	rc = http_headers_add(&hdrs, "Accept: */*");
	if (rc == 0 && req->ranged) {
		snprintf(range, sizeof(range), "Range: bytes=%llu-%llu",
			 (unsigned long long)req->start,
			 (unsigned long long)req->end - 1);
		rc = http_headers_add(&hdrs, range);
	}
	if (rc < 0)
		goto out;
	hr.method = "GET";
	hr.url = url;
	hr.headers = &hdrs;
	hr.binary = 1;
	hr.bulk = 1;
	hr.idempotent = 1;
	hr.stall_ms = req->stall_ms;
	hr.on_headers = cget_headers;
	hr.on_body = cget_body;
	hr.ctx = &g;
	rc = session_request(s, &hr, &resp);
	res->status = resp.status;
	snprintf(res->errmsg, sizeof(res->errmsg), "%s", resp.errmsg);
	if (rc == 0)
		rc = cget_status(&g, resp.status, res);
out:
	http_response_release(&resp);
	http_headers_release(&hdrs);
	free(url);
	return rc;
}

/* on_headers of the size probe: the total from a 206's Content-Range, or
 * Content-Length when a 200 ignored the Range (then the body is refused). */
static int probe_headers(const struct http_response *resp, void *ctx)
{
	int64_t *size = ctx;
	uint64_t a, b, total;
	const char *v;
	char *end;

	if (resp->status == 206) {
		v = http_response_header(resp, "Content-Range");
		if (v && rest_parse_content_range(v, &a, &b, &total) == 0 &&
		    total <= MODEL_SIZE_MAX)
			*size = (int64_t)total;
		return 0;
	}
	if (resp->status == 200) {
		v = http_response_header(resp, "Content-Length");
		if (v && *v >= '0' && *v <= '9') {
			errno = 0;
			total = strtoull(v, &end, 10);
			if (!*end && !errno && total <= MODEL_SIZE_MAX)
				*size = (int64_t)total;
		}
	}
	return 1;
}

int rest_content_size(struct session *s, const char *uuid, long stall_ms,
		      int64_t *out)
{
	struct http_request req = {0};
	struct http_response resp;
	struct http_headers hdrs = {0};
	int64_t size = -1;
	char *url = rest_content_url(s, uuid);
	const char *v;
	int rc;

	memset(&resp, 0, sizeof(resp));
	if (!url || http_headers_add(&hdrs, "Range: bytes=0-0") < 0)
		goto out;
	req.method = "GET";
	req.url = url;
	req.headers = &hdrs;
	req.binary = 1;
	req.idempotent = 1;
	req.on_headers = probe_headers;
	req.ctx = &size;
	req.max_body = 4096;
	req.stall_ms = stall_ms;
	rc = session_request(s, &req, &resp);
	v = http_response_header(&resp, "Content-Range");
	if (resp.status == 416 && v && !strcmp(v, "bytes */0"))
		size = 0;
	if (size < 0)
		log_warn("bitstream %s: its size is unknown and the server did "
			 "not tell it (status %ld%s%s)",
			 uuid, resp.status, rc < 0 ? ", " : "",
			 rc < 0 ? strerror(-rc) : "");
out:
	http_response_release(&resp);
	http_headers_release(&hdrs);
	free(url);
	*out = size;
	return size < 0 ? -EIO : 0;
}
