/* http: libcurl easy handles in a pool, transient-failure retries, timeouts,
 * and the one mapping from HTTP status / curl failures to errno.
 *
 * Thread safe: any number of threads may call http_perform() at once; each
 * call borrows one easy handle (connections are reused per handle) and waits
 * for a free one when all are busy. A curl share handle is used for DNS and
 * TLS session data only (never cookies: the session module owns the CSRF
 * cookie and sends it explicitly). http_global_init() must have run before
 * http_new(). Proxy environment variables are honoured (curl's default).
 * This header exposes no curl type: only http.c includes curl. */
#ifndef DSPACEFS_HTTP_H
#define DSPACEFS_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct http;

/* Once per process, before any other thread runs: 0 or -EIO. */
int http_global_init(void);
void http_global_cleanup(void);
/* The HTTP library's version string, e.g. "libcurl/8.5.0 OpenSSL/3.0". */
const char *http_version(void);

/* Extra request header lines ("Name: value"), owned by the list. */
struct http_headers {
	char **lines;
	size_t n;
};
/* Appends a copy of line. 0 or -ENOMEM. */
int http_headers_add(struct http_headers *h, const char *line);
/* Whether a line for header name (case-insensitive) is in h (may be NULL). */
int http_headers_has(const struct http_headers *h, const char *name);
void http_headers_release(struct http_headers *h);

/* What a part's read callback returns to abort the request. */
#define HTTP_READ_ABORT ((size_t)0x10000000)

struct http_config {
	int connections;    /* size of the handle pool; 0 → 4 */
	const char *cacert; /* CA bundle file, or NULL for the system default */
	int insecure;	    /* disable TLS verification (caller warns loudly) */
	/* trace requests/headers at LL_TRACE, secrets redacted */
	int debug_http;
	long connect_timeout; /* seconds; 0 → 10 */
	long stall_timeout;   /* seconds without progress before a transfer
			       * fails (low-speed limit); 0 → 30 */
	int max_retries; /* for idempotent requests; 0 → 3, <0 → none */
	const char *user_agent; /* NULL → "dspacefs/VERSION" */
};

/* One part of a multipart/form-data body. Exactly one of data, filepath or
 * read. */
struct http_part {
	const char *name; /* form field name, e.g. "file", "properties" */
	const char *data; /* in-memory value (len bytes) */
	size_t len;
	/* stream the value from this file (not read into memory) */
	const char *filepath;
	/* or stream it from read (bytes copied, 0 at the end,
	 * HTTP_READ_ABORT to fail), length unknown: the request
	 * is sent chunked. read_end(read_ctx), if set, is called when an
	 * attempt is over; a later attempt (a session retry) reads again,
	 * so a stream that cannot replay must refuse it. */
	size_t (*read)(char *buf, size_t size, size_t nitems, void *ctx);
	void (*read_end)(void *ctx);
	void *read_ctx;
	const char *filename; /* filename= in the part header, or NULL */
	const char *type;     /* part Content-Type, or NULL */
};

struct http_response;

/* Called once per attempt, before the first body byte is delivered (status
 * and headers are available in resp). Return 0 to go on, non-zero to abort
 * the transfer (http_perform then returns -ECANCELED). */
typedef int (*http_headers_fn)(const struct http_response *resp, void *ctx);
/* Receives body bytes; return 0 to go on, non-zero to abort (-ECANCELED). */
typedef int (*http_body_fn)(const char *data, size_t len, void *ctx);

struct http_request {
	/* "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" */
	const char *method;
	const char *url; /* absolute */
	/* extra request headers, caller-owned (NULL: none) */
	const struct http_headers *headers;
	const char *body; /* request body (body_len bytes), or NULL */
	size_t body_len;
	const struct http_part *parts; /* multipart/form-data body, or NULL */
	size_t nparts;
	int idempotent; /* may be retried after a transient failure */
	http_headers_fn on_headers; /* optional */
	http_body_fn on_body;	    /* optional: stream the body here instead of
				     * collecting it into resp->body */
	void *ctx;
	size_t max_body; /* cap for a collected body; 0 → 64 MiB */
	long timeout;	 /* whole-request limit in seconds; 0 → none
			  * (stalls are still caught by stall_timeout) */
	/* > 0: once no byte moved for this many ms (from the start of the
	 * call, across retries) the request fails with ETIMEDOUT at once and
	 * is not retried (the caller owns the time budget, e.g. a read) */
	long stall_ms;
	/* the body carries a secret (a password): never traced */
	int redact_body;
	/* the answer is not JSON: the session adds no JSON Accept header */
	int binary;
};

struct http_header {
	char *name;  /* as received */
	char *value; /* trimmed */
};

struct http_response {
	long status; /* 0 if no response arrived */
	char *body; /* collected body (NUL-terminated) unless on_body was set */
	size_t body_len;
	struct http_header *headers; /* headers of the final response */
	size_t nheaders;
	uint64_t body_bytes; /* body bytes delivered in the last attempt */
	int attempts;	     /* how many attempts were made */
	char errmsg[256];    /* curl's message when the transfer failed */
};

struct http *http_new(const struct http_config *cfg);
/* The daemon is stopping: every transfer under way is cut short and every
 * later request fails at once, both with ECANCELED. Thread safe. */
void http_abort_all(struct http *h);
void http_free(struct http **h);

/* Performs the request. Returns 0 when an HTTP response arrived (whatever its
 * status: see resp->status), or -errno when none did (ETIMEDOUT for stalls
 * and timeouts, ECONNREFUSED/EHOSTUNREACH/ENOTCONN for connection failures,
 * ECANCELED when a callback aborted, EIO otherwise). Retries idempotent
 * requests with exponential backoff on connection failures, timeouts and
 * 502/503/504 (and 429), but never after body bytes were passed to on_body;
 * a response that is going to be retried is not shown to on_headers/on_body
 * (its body is collected instead). A collected body over max_body fails with
 * EFBIG. resp->body is allocated ("" when empty) whenever a response
 * arrived, also when on_body was set (then it holds what was not streamed).
 * resp must be released with http_response_release() in every case. */
int http_perform(struct http *h, const struct http_request *req,
		 struct http_response *resp);
void http_response_release(struct http_response *resp);

/* First header called name (case-insensitive), or NULL. Borrowed. */
const char *http_response_header(const struct http_response *resp,
				 const char *name);

/* The errno that an HTTP status stands for: 2xx/3xx → 0, 401/403 → EACCES,
 * 404/410 → ENOENT, 409 → EEXIST, 413 → EFBIG, 429/503 → EAGAIN,
 * 504 → ETIMEDOUT, other >= 400 → EIO. A positive errno value: callers
 * return -http_status_errno(status). */
int http_status_errno(long status);

/* --- exposed for unit tests (pure functions) --- */

/* -errno for a failed transfer (rc a CURLcode, 0 for CURLE_OK); os_errno
 * is CURLINFO_OS_ERRNO, used to tell unreachable hosts from refusals. */
int http_curl_errno(int rc, long os_errno);
/* 1 for the statuses worth retrying (429, 502, 503, 504). */
int http_status_retryable(long status);
/* Milliseconds to wait before retry number attempt (1, 2, ...):
 * 200, 400, 800, ... capped at 5000. */
long http_backoff_ms(int attempt);
/* Retry-After in seconds, or -1 when absent or not a number (HTTP-date). */
long http_parse_retry_after(const char *value);
/* Copies one header line (without CR/LF) into out, replacing the value of
 * Authorization, Cookie, Set-Cookie, X-XSRF-TOKEN and DSPACE-XSRF-TOKEN
 * with "<redacted>". */
void http_redact_header(const char *line, size_t len, char *out, size_t outlen);
/* Adds one received header line (len bytes, CR/LF optional, not
 * NUL-terminated) to resp: a status line ("HTTP/1.1 200 OK") sets
 * resp->status and drops the headers collected so far; "Name: value" is
 * appended (value trimmed); anything else is ignored. 0 or -ENOMEM. */
int http_response_add_header(struct http_response *resp, const char *line,
			     size_t len);

#endif
