/* http: a pool of curl easy handles, retries with backoff, errno mapping. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "util/buf.h"
#include "net/http.h"
#include "util/errors.h"
#include "util/log.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

#define DEFAULT_CONNECTIONS 4
#define DEFAULT_CONNECT_TIMEOUT 10
#define DEFAULT_STALL_TIMEOUT 30
#define DEFAULT_MAX_RETRIES 3
#define DEFAULT_MAX_BODY (64u << 20)
/* curl's largest receive buffer (CURL_MAX_READ_SIZE) */
#define RECV_BUFFER_SIZE (512L * 1024)
#define SEND_BUFFER_SIZE (1024L * 1024)
#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS 5000
/* seconds; a longer Retry-After is not waited for */
#define RETRY_AFTER_MAX 10
#define TRACE_BODY_MAX 2048

#define DOWN_HOLD_MS 5000 /* see struct http, down_until */

struct http {
	int connections;
	char *cacert;
	int insecure;
	int debug_http;
	long connect_timeout;
	long stall_timeout;
	int max_retries;
	char *user_agent;

	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

	pthread_mutex_t lock; /* guards the free list and down_until */
	pthread_cond_t cond;
	/* After a request could not connect at all (its retries included),
	 * requests fail at once until this monotonic time (ms): a dead server
	 * then costs one timeout, not one per directory of an ls -lR. */
	int64_t down_until;
	CURL **idle; /* free handles (a stack) */
	int nidle;
	CURL **all;
	int nall;
	int stopping; /* http_abort_all: atomic */
};

/* State of one attempt, shared by the curl callbacks. */
struct xfer {
	const struct http_request *req;
	struct http_response *resp;
	struct buf body;
	int started;   /* first body byte seen (on_headers decided) */
	int collect;   /* body goes into resp->body */
	int may_retry; /* a retryable status will be retried: hold callbacks */
	int aborted;   /* a caller callback asked to stop */
	int overflow;  /* the collected body hit its cap */
	int nomem;
	uint64_t streamed;   /* bytes passed to on_body */
	int64_t *last_ms;    /* when a byte last moved (req->stall_ms) */
	curl_off_t moved;    /* bytes moved so far in this attempt */
	int stalled;	     /* req->stall_ms passed without a byte */
	const int *stopping; /* the pool's http_abort_all flag */
	char errbuf[CURL_ERROR_SIZE];
};

/* Locks the share's mutex for one kind of shared data. */
static void share_lock(CURL *c, curl_lock_data data, curl_lock_access access,
		       void *userp)
{
	struct http *h = userp;

	(void)c;
	(void)access;
	if (data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&h->share_locks[data]);
}

/* Unlocks the share's mutex for one kind of shared data. */
static void share_unlock(CURL *c, curl_lock_data data, void *userp)
{
	struct http *h = userp;

	(void)c;
	if (data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&h->share_locks[data]);
}

struct http *http_new(const struct http_config *cfg)
{
	struct http *h = calloc(1, sizeof(*h));
	int i;

	if (!h)
		return NULL;
	h->connections =
	    cfg->connections > 0 ? cfg->connections : DEFAULT_CONNECTIONS;
	h->insecure = cfg->insecure;
	h->debug_http = cfg->debug_http;
	h->connect_timeout = cfg->connect_timeout > 0 ? cfg->connect_timeout
						      : DEFAULT_CONNECT_TIMEOUT;
	h->stall_timeout =
	    cfg->stall_timeout > 0 ? cfg->stall_timeout : DEFAULT_STALL_TIMEOUT;
	h->max_retries = cfg->max_retries == 0	? DEFAULT_MAX_RETRIES
			 : cfg->max_retries < 0 ? 0
						: cfg->max_retries;
	if (cfg->cacert && !(h->cacert = strdup(cfg->cacert)))
		goto fail;
	h->user_agent = strdup(cfg->user_agent ? cfg->user_agent
					       : "dspacefs/" PACKAGE_VERSION);
	if (!h->user_agent)
		goto fail;
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&h->share_locks[i], NULL);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);

	/* DNS and TLS sessions only: cookies belong to the session module. */
	h->share = curl_share_init();
	if (!h->share)
		goto fail;
	curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(h->share, CURLSHOPT_SHARE,
			  CURL_LOCK_DATA_SSL_SESSION);

	h->all = calloc(h->connections, sizeof(*h->all));
	h->idle = calloc(h->connections, sizeof(*h->idle));
	if (!h->all || !h->idle)
		goto fail;
	for (i = 0; i < h->connections; i++) {
		h->all[i] = curl_easy_init();
		if (!h->all[i])
			goto fail;
		h->nall++;
		h->idle[h->nidle++] = h->all[i];
	}
	return h;
fail:
	http_free(&h);
	return NULL;
}

void http_free(struct http **hp)
{
	struct http *h = *hp;
	int i;

	if (!h)
		return;
	for (i = 0; i < h->nall; i++)
		curl_easy_cleanup(h->all[i]);
	if (h->share)
		curl_share_cleanup(h->share);
	free(h->all);
	free(h->idle);
	free(h->cacert);
	free(h->user_agent);
	if (h->user_agent || h->share) {
		for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
			pthread_mutex_destroy(&h->share_locks[i]);
		pthread_mutex_destroy(&h->lock);
		pthread_cond_destroy(&h->cond);
	}
	free(h);
	*hp = NULL;
}

/* Borrows a free easy handle, waiting while all are busy. */
static CURL *handle_get(struct http *h)
{
	CURL *c;

	pthread_mutex_lock(&h->lock);
	while (h->nidle == 0)
		pthread_cond_wait(&h->cond, &h->lock);
	c = h->idle[--h->nidle];
	pthread_mutex_unlock(&h->lock);
	return c;
}

/* Returns a borrowed handle to the pool. */
static void handle_put(struct http *h, CURL *c)
{
	pthread_mutex_lock(&h->lock);
	h->idle[h->nidle++] = c;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

int http_status_errno(long status)
{
	if (status >= 200 && status < 400)
		return 0;
	switch (status) {
	case 401:
	case 403:
		return EACCES;
	case 404:
	case 410:
		return ENOENT;
	case 409:
		return EEXIST;
	case 413:
		return EFBIG;
	case 429:
	case 503:
		return EAGAIN;
	case 504:
		return ETIMEDOUT;
	}
	return status >= 400 ? EIO : 0;
}

_Static_assert(HTTP_READ_ABORT == CURL_READFUNC_ABORT,
	       "HTTP_READ_ABORT is curl's read abort code");

int http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_ALL) == CURLE_OK ? 0 : -EIO;
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

const char *http_version(void)
{
	return curl_version();
}

int http_headers_add(struct http_headers *h, const char *line)
{
	char **v, *copy = strdup(line);

	if (!copy)
		return -ENOMEM;
	v = realloc(h->lines, (h->n + 1) * sizeof(*v));
	if (!v) {
		free(copy);
		return -ENOMEM;
	}
	v[h->n++] = copy;
	h->lines = v;
	return 0;
}

int http_headers_has(const struct http_headers *h, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; h && i < h->n; i++)
		if (strncasecmp(h->lines[i], name, n) == 0 &&
		    h->lines[i][n] == ':')
			return 1;
	return 0;
}

void http_headers_release(struct http_headers *h)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		free(h->lines[i]);
	free(h->lines);
	h->lines = NULL;
	h->n = 0;
}

int http_curl_errno(int rc, long os_errno)
{
	switch ((CURLcode)rc) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		if (os_errno == EHOSTUNREACH || os_errno == ENETUNREACH)
			return -EHOSTUNREACH;
		if (os_errno == ETIMEDOUT)
			return -ETIMEDOUT;
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return -ENOTCONN;
	case CURLE_WRITE_ERROR:
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

int http_status_retryable(long status)
{
	return status == 429 || status == 502 || status == 503 || status == 504;
}

/* Transfer failures after which a retry may succeed. */
static int curl_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

long http_backoff_ms(int attempt)
{
	long ms = BACKOFF_FIRST_MS;

	while (--attempt > 0 && ms < BACKOFF_MAX_MS)
		ms *= 2;
	return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

long http_parse_retry_after(const char *value)
{
	long v = 0;

	if (!value)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	if (!isdigit((unsigned char)*value))
		return -1; /* an HTTP-date: not worth parsing for our short
			      waits */
	for (; isdigit((unsigned char)*value); value++) {
		if (v > (LONG_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*value - '0');
	}
	while (*value == ' ' || *value == '\t')
		value++;
	return *value ? -1 : v;
}

/* Sleeps ms milliseconds (restarting after signals). */
/* Monotonic milliseconds. */
static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether requests should fail at once because the server was just found
 * unreachable. */
static int server_down(struct http *h)
{
	int64_t until;

	pthread_mutex_lock(&h->lock);
	until = h->down_until;
	pthread_mutex_unlock(&h->lock);
	return until && mono_ms() < until;
}

/* Records the outcome of a request for server_down(). */
static void note_outcome(struct http *h, int rc, const char *url,
			 const char *why)
{
	int unreachable = err_is_unreachable(rc);
	int was_down;

	if (rc < 0 && !unreachable)
		return; /* timeouts, aborts: say nothing about reachability */
	pthread_mutex_lock(&h->lock);
	was_down = h->down_until != 0;
	h->down_until = unreachable ? mono_ms() + DOWN_HOLD_MS : 0;
	pthread_mutex_unlock(&h->lock);
	if (unreachable && !was_down)
		log_warn(
		    "cannot reach the server (%s: %s); failing requests at "
		    "once for %d s before trying again",
		    url, why && *why ? why : strerror(-rc),
		    DOWN_HOLD_MS / 1000);
	else if (!unreachable && was_down)
		log_info("the server answers again");
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Is name (len bytes) one of the headers whose value must never be logged? */
static int secret_header(const char *name, size_t len)
{
	static const char *const secret[] = {
	    "Authorization",	 "Cookie",
	    "Set-Cookie",	 "X-XSRF-TOKEN",
	    "DSPACE-XSRF-TOKEN", "Proxy-Authorization",
	};
	size_t i;

	for (i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		if (strlen(secret[i]) == len &&
		    strncasecmp(secret[i], name, len) == 0)
			return 1;
	return 0;
}

void http_redact_header(const char *line, size_t len, char *out, size_t outlen)
{
	const char *colon;
	size_t n;

	if (!outlen)
		return;
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	colon = memchr(line, ':', len);
	if (colon && secret_header(line, colon - line)) {
		n = colon - line;
		snprintf(out, outlen, "%.*s: <redacted>", (int)n, line);
		return;
	}
	n = len < outlen - 1 ? len : outlen - 1;
	memcpy(out, line, n);
	out[n] = '\0';
}

/* Logs each header line of a block (one or more lines), redacted. */
static void trace_headers(char dir, const char *data, size_t len)
{
	char line[1024];
	size_t start = 0, i;

	for (i = 0; i <= len; i++) {
		if (i < len && data[i] != '\n')
			continue;
		if (i > start) {
			http_redact_header(data + start, i - start, line,
					   sizeof(line));
			if (line[0])
				log_trace("%c %s", dir, line);
		}
		start = i + 1;
	}
}

/* Is every byte printable text (worth showing in a trace)? */
static int printable(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = p[i];

		if (ch < 0x20 && ch != '\n' && ch != '\r' && ch != '\t')
			return 0;
	}
	return 1;
}

/* CURLOPT_DEBUGFUNCTION: curl's traffic to log_trace, secrets redacted. */
static int debug_cb(CURL *c, curl_infotype type, char *data, size_t size,
		    void *userp)
{
	struct xfer *x = userp;

	(void)c;
	switch (type) {
	case CURLINFO_TEXT:
		log_trace(
		    "* %.*s",
		    (int)(size && data[size - 1] == '\n' ? size - 1 : size),
		    data);
		break;
	case CURLINFO_HEADER_OUT:
		trace_headers('>', data, size);
		break;
	case CURLINFO_HEADER_IN:
		trace_headers('<', data, size);
		break;
	case CURLINFO_DATA_OUT:
		/* Login bodies carry the password: never show them. */
		if (x->req->redact_body || size > TRACE_BODY_MAX ||
		    !printable(data, size))
			log_trace("> [%zu bytes of request body]", size);
		else
			log_trace("> %.*s", (int)size, data);
		break;
	case CURLINFO_DATA_IN:
		log_trace("< [%zu bytes of response body]", size);
		break;
	default:
		break;
	}
	return 0;
}

/* Frees the headers collected so far (a new status line started). */
static void headers_clear(struct http_response *resp)
{
	size_t i;

	for (i = 0; i < resp->nheaders; i++) {
		free(resp->headers[i].name);
		free(resp->headers[i].value);
	}
	free(resp->headers);
	resp->headers = NULL;
	resp->nheaders = 0;
}

/* Parses the status code out of "HTTP/1.1 200 OK" or "HTTP/2 200"; 0 when
 * it is not three digits (a longer run of digits must not overflow). */
static long parse_status_line(const char *p, size_t n)
{
	size_t i = 5, k;
	long st = 0;

	while (i < n && p[i] != ' ')
		i++;
	while (i < n && p[i] == ' ')
		i++;
	for (k = 0; i < n && isdigit((unsigned char)p[i]); i++, k++)
		if (k < 3)
			st = st * 10 + (p[i] - '0');
	return k == 3 ? st : 0;
}

/* Parses one received header line into resp (see http.h). */
int http_response_add_header(struct http_response *resp, const char *p,
			     size_t len)
{
	struct http_header *hv;
	size_t vs, ve;
	const char *colon;

	while (len && (p[len - 1] == '\r' || p[len - 1] == '\n'))
		len--;
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* A new response (after 100-continue or a 1xx): start over. */
		headers_clear(resp);
		resp->status = parse_status_line(p, len);
		return 0;
	}
	colon = memchr(p, ':', len);
	if (!colon || colon == p)
		return 0; /* blank line or a folded continuation: ignore */
	vs = colon - p + 1;
	while (vs < len && (p[vs] == ' ' || p[vs] == '\t'))
		vs++;
	ve = len;
	while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
		ve--;
	hv = realloc(resp->headers, (resp->nheaders + 1) * sizeof(*hv));
	if (!hv)
		return -ENOMEM;
	resp->headers = hv;
	hv = &resp->headers[resp->nheaders];
	hv->name = strndup(p, colon - p);
	hv->value = strndup(p + vs, ve - vs);
	if (!hv->name || !hv->value) {
		free(hv->name);
		free(hv->value);
		return -ENOMEM;
	}
	resp->nheaders++;
	return 0;
}

/* CURLOPT_HEADERFUNCTION: collects the headers of the final response. */
static size_t header_cb(char *p, size_t sz, size_t nm, void *userp)
{
	struct xfer *x = userp;
	size_t n = sz * nm;

	if (http_response_add_header(x->resp, p, n) < 0) {
		x->nomem = 1;
		return 0;
	}
	return n;
}

/* CURLOPT_WRITEFUNCTION: on the first byte decides between streaming to
 * on_body (after on_headers) and collecting; then passes the bytes on. */
static size_t write_cb(char *p, size_t sz, size_t nm, void *userp)
{
	struct xfer *x = userp;
	const struct http_request *req = x->req;
	size_t n = sz * nm;
	int rc;

	if (!x->started) {
		x->started = 1;
		/* A response we are going to retry is not shown to the caller.
		 */
		if (x->may_retry && http_status_retryable(x->resp->status)) {
			x->collect = 1;
		} else {
			if (req->on_headers &&
			    req->on_headers(x->resp, req->ctx) != 0) {
				x->aborted = 1;
				return 0;
			}
			x->collect = !req->on_body;
		}
	}
	x->resp->body_bytes += n;
	if (!x->collect) {
		x->streamed += n;
		if (req->on_body(p, n, req->ctx) != 0) {
			x->aborted = 1;
			return 0;
		}
		return n;
	}
	rc = buf_add(&x->body, p, n);
	if (rc == -ENOSPC) {
		x->overflow = 1;
		return 0;
	}
	if (rc < 0) {
		x->nomem = 1;
		return 0;
	}
	return n;
}

/* CURLOPT_XFERINFOFUNCTION of a request with stall_ms: stops the transfer
 * once no byte moved for that long (counted across attempts). */
static int xferinfo_cb(void *userp, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = userp;
	int64_t now = mono_ms();

	(void)dltotal;
	(void)ultotal;
	if (dlnow + ulnow > x->moved) {
		x->moved = dlnow + ulnow;
		*x->last_ms = now;
	}
	if (__atomic_load_n(x->stopping, __ATOMIC_RELAXED)) {
		x->aborted = 1;
		return 1;
	}
	if (x->req->stall_ms > 0 && now - *x->last_ms > x->req->stall_ms) {
		x->stalled = 1;
		return 1;
	}
	return 0;
}

/* Options every request needs; reapplied after curl_easy_reset(). */
static void set_fixed_options(struct http *h, CURL *c, struct xfer *x)
{
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_SHARE, h->share);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS,
			 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->connect_timeout);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->stall_timeout);
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, RECV_BUFFER_SIZE);
	curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, SEND_BUFFER_SIZE);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, h->user_agent);
	if (h->cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->cacert);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, h->insecure ? 0L : 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, h->insecure ? 0L : 2L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	if (h->debug_http) {
		curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, debug_cb);
		curl_easy_setopt(c, CURLOPT_DEBUGDATA, x);
		curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
	}
}

/* Builds the multipart body; file parts are streamed by curl. */
static int build_mime(CURL *c, const struct http_request *req, curl_mime **out)
{
	curl_mime *mime = curl_mime_init(c);
	curl_mimepart *part;
	size_t i;

	if (!mime)
		return -ENOMEM;
	for (i = 0; i < req->nparts; i++) {
		const struct http_part *hp = &req->parts[i];

		part = curl_mime_addpart(mime);
		if (!part)
			goto nomem;
		curl_mime_name(part, hp->name);
		if (hp->filepath) {
			if (curl_mime_filedata(part, hp->filepath) !=
			    CURLE_OK) {
				log_error("cannot read %s for upload",
					  hp->filepath);
				curl_mime_free(mime);
				return -EIO;
			}
		} else if (hp->read) {
			curl_mime_data_cb(part, -1, hp->read, NULL,
					  hp->read_end, hp->read_ctx);
		} else {
			curl_mime_data(part, hp->data ? hp->data : "",
				       hp->data ? hp->len : 0);
		}
		/* Overrides the spool file's base name set by filedata. */
		if (hp->filename)
			curl_mime_filename(part, hp->filename);
		if (hp->type)
			curl_mime_type(part, hp->type);
	}
	*out = mime;
	return 0;
nomem:
	curl_mime_free(mime);
	return -ENOMEM;
}

/* Sets method, body and headers of req on c. */
static int set_request(CURL *c, const struct http_request *req,
		       struct curl_slist **hdrs, curl_mime **mime)
{
	const char *m = req->method ? req->method : "GET";
	struct curl_slist *n;
	size_t i;
	int rc;

	for (i = 0; req->headers && i < req->headers->n; i++) {
		n = curl_slist_append(*hdrs, req->headers->lines[i]);
		if (!n)
			return -ENOMEM;
		*hdrs = n;
	}
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	if (strcmp(m, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(m, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else {
		if (req->parts) {
			rc = build_mime(c, req, mime);
			if (rc < 0)
				return rc;
			curl_easy_setopt(c, CURLOPT_MIMEPOST, *mime);
		} else if (req->body || strcmp(m, "POST") == 0) {
			curl_easy_setopt(
			    c, CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)(req->body ? req->body_len : 0));
			curl_easy_setopt(c, CURLOPT_POSTFIELDS,
					 req->body ? req->body : "");
		}
		if (strcmp(m, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
		/* Uploads go straight out: no Expect: 100-continue wait. */
		n = curl_slist_append(*hdrs, "Expect:");
		if (!n)
			return -ENOMEM;
		*hdrs = n;
	}
	if (*hdrs)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
	return 0;
}

/* Frees what one attempt left in resp. */
static void response_clear(struct http_response *resp)
{
	headers_clear(resp);
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	resp->body_bytes = 0;
	resp->status = 0;
	resp->errmsg[0] = '\0';
}

/* One attempt of req on handle c: 0 if a response arrived, or -errno;
 * *crc receives curl's code. */
static int perform_once(struct http *h, CURL *c, const struct http_request *req,
			struct http_response *resp, int may_retry,
			CURLcode *crc, uint64_t *streamed, int64_t *last_ms)
{
	struct xfer x;
	struct curl_slist *hdrs = NULL;
	curl_mime *mime = NULL;
	long os_errno = 0;
	int rc;

	memset(&x, 0, sizeof(x));
	x.req = req;
	x.resp = resp;
	x.may_retry = may_retry;
	x.last_ms = last_ms;
	x.stopping = &h->stopping;
	buf_init(&x.body, req->max_body ? req->max_body : DEFAULT_MAX_BODY);
	response_clear(resp);
	*crc = CURLE_OK;

	curl_easy_reset(c);
	set_fixed_options(h, c, &x);
	rc = set_request(c, req, &hdrs, &mime);
	if (rc < 0)
		goto out;
	if (req->timeout > 0)
		curl_easy_setopt(c, CURLOPT_TIMEOUT, req->timeout);
	/* Stalls (req->stall_ms) and http_abort_all are seen here. */
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);

	*crc = curl_easy_perform(c);
	*streamed = x.streamed;
	if (*crc != CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
		snprintf(resp->errmsg, sizeof(resp->errmsg), "%s",
			 x.errbuf[0] ? x.errbuf : curl_easy_strerror(*crc));
		if (x.stalled) {
			snprintf(resp->errmsg, sizeof(resp->errmsg),
				 "no data for %ld ms", req->stall_ms);
			rc = -ETIMEDOUT; /* crc ABORTED_BY_CALLBACK: no retry */
		} else if (x.aborted) {
			if (__atomic_load_n(&h->stopping, __ATOMIC_RELAXED))
				snprintf(resp->errmsg, sizeof(resp->errmsg),
					 "dspacefs is stopping");
			rc = -ECANCELED;
		} else if (x.nomem) {
			rc = -ENOMEM;
		} else if (x.overflow) {
			snprintf(resp->errmsg, sizeof(resp->errmsg),
				 "response body larger than %zu bytes",
				 x.body.cap);
			rc = -EFBIG;
		} else {
			rc = http_curl_errno(*crc, os_errno);
			if (rc == -ECANCELED)
				rc = -EIO; /* a write error that was not ours */
		}
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	rc = 0;
out:
	/* Partial bodies stay available (e.g. for error messages). */
	resp->body = buf_detach(&x.body, &resp->body_len);
	if (!resp->body && rc == 0)
		rc = -ENOMEM;
	buf_release(&x.body);
	/* Detach the stack buffers from the handle before they go away. */
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_MIMEPOST, NULL);
	curl_slist_free_all(hdrs);
	curl_mime_free(mime);
	return rc;
}

int http_perform(struct http *h, const struct http_request *req,
		 struct http_response *resp)
{
	int max = req->idempotent ? h->max_retries : 0;
	uint64_t streamed = 0;
	int64_t last_ms = mono_ms();
	CURLcode crc;
	CURL *c;
	int rc;

	memset(resp, 0, sizeof(*resp));
	if (__atomic_load_n(&h->stopping, __ATOMIC_RELAXED)) {
		snprintf(resp->errmsg, sizeof(resp->errmsg),
			 "dspacefs is stopping");
		return -ECANCELED;
	}
	if (server_down(h)) {
		snprintf(resp->errmsg, sizeof(resp->errmsg),
			 "server unreachable moments ago; not retried yet");
		return -ECONNREFUSED;
	}
	c = handle_get(h);
	for (;;) {
		long wait_ms, ra;
		int again = 0;

		resp->attempts++;
		rc = perform_once(h, c, req, resp, resp->attempts <= max, &crc,
				  &streamed, &last_ms);
		if (resp->attempts > max || streamed > 0)
			break;
		wait_ms = http_backoff_ms(resp->attempts);
		if (rc == 0 && http_status_retryable(resp->status)) {
			ra = http_parse_retry_after(
			    http_response_header(resp, "Retry-After"));
			if (ra > RETRY_AFTER_MAX)
				break;
			if (ra * 1000 > wait_ms)
				wait_ms = ra * 1000;
			again = 1;
		} else if (rc < 0 && rc != -ECANCELED && rc != -EFBIG &&
			   rc != -ENOMEM && curl_retryable(crc)) {
			again = 1;
		}
		/* A stall bound covers the retries too. */
		if (!again || (req->stall_ms > 0 &&
			       mono_ms() + wait_ms - last_ms > req->stall_ms))
			break;
		log_debug("%s %s: %s; retry %d in %ld ms",
			  req->method ? req->method : "GET", req->url,
			  rc < 0 ? resp->errmsg : "server busy", resp->attempts,
			  wait_ms);
		sleep_ms(wait_ms);
	}
	handle_put(h, c);
	note_outcome(h, rc, req->url, resp->errmsg);
	if (rc < 0 && rc != -ECANCELED)
		log_debug("%s %s failed: %s", req->method ? req->method : "GET",
			  req->url, resp->errmsg);
	return rc;
}

void http_abort_all(struct http *h)
{
	__atomic_store_n(&h->stopping, 1, __ATOMIC_RELAXED);
}

void http_response_release(struct http_response *resp)
{
	if (!resp)
		return;
	headers_clear(resp);
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}

const char *http_response_header(const struct http_response *resp,
				 const char *name)
{
	size_t i;

	for (i = 0; i < resp->nheaders; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}
