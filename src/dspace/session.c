/* session: login, JWT refresh, CSRF token and the retries they need. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "util/buf.h"
#include "util/errors.h"
#include "util/log.h"
#include "dspace/model.h"
#include "dspace/session.h"

#define DEFAULT_REFRESH_MARGIN 60
#define OPAQUE_REFRESH_INTERVAL 600 /* tokens we cannot decode (JWE) */
#define REAUTH_PAUSE 5		    /* after a failed login/refresh */
#define UPLOAD_RATE (1 << 20)	    /* bytes/s an upload surely reaches */
/* error bodies we keep for a retry decision */
#define HELD_BODY_MAX (64u << 10)
#define CSRF_HEADER "DSPACE-XSRF-TOKEN"
#define CSRF_COOKIE "DSPACE-XSRF-COOKIE"

struct session {
	struct http *http;
	char *api_url;
	char *user;
	char *password;
	int refresh_margin;
	int start_timeout;
	char *version;
	int anonymous;

	/* Auth state; gen counts token changes so that threads which saw
	 * the same failure re-login only once. */
	pthread_rwlock_t auth_lock;
	char *jwt;	     /* without "Bearer " */
	int64_t refresh_at;  /* refresh the JWT from this time on */
	int64_t jwt_exp;     /* its expiry, -1 unknown */
	int64_t jwt_got;     /* when it came */
	int64_t pause_until; /* no new login attempt before this time */
	unsigned long gen;
	pthread_mutex_t login_lock; /* one login or refresh at a time */

	pthread_mutex_t csrf_lock;
	char *csrf;
	int csrf_endpoint_missing; /* GET /security/csrf answered 404 */

	int login_failing;     /* atomic: the last re-login failed */
	int64_t offline_since; /* atomic: first unanswered request; 0 */
	int replace_refused;   /* PUT bitstreams/{u}/content answered 400 */
	char *formats;	       /* the bitstream format registry page (JSON) */
};

/* Wraps the caller's callbacks so that a response we may retry (a CSRF 403,
 * a 401) is held back: its body is kept for us, not streamed out. */
struct hold {
	const struct http_request *req;
	int hold_401;
	int hold_403;
	int held;
	struct buf body;
};

/* Seconds since the epoch. */
static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* Case-insensitive substring search. */
static int contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return 0;
}

/* Decodes base64url (padding optional) into out; 0 or -EINVAL. */
static int b64url_decode(const char *in, size_t n, struct buf *out)
{
	unsigned int acc = 0;
	int bits = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)in[i], v;
		char byte;

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '-' || c == '+')
			v = 62;
		else if (c == '_' || c == '/')
			v = 63;
		else if (c == '=')
			break;
		else
			return -EINVAL;
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			byte = (char)((acc >> bits) & 0xff);
			if (buf_add(out, &byte, 1) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

int64_t session_jwt_expiry(const char *jwt)
{
	const char *d1, *d2;
	struct buf b;
	int64_t exp = -1;

	if (!jwt)
		return -1;
	if (strncasecmp(jwt, "Bearer ", 7) == 0)
		jwt += 7;
	d1 = strchr(jwt, '.');
	d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	/* A JWS has exactly three parts; a JWE has five and is opaque. */
	if (!d1 || !d2 || strchr(d2 + 1, '.') || d1 == jwt || d2 == d1 + 1)
		return -1;
	buf_init(&b, 64 << 10);
	if (b64url_decode(d1 + 1, d2 - d1 - 1, &b) == 0 && b.len > 0 &&
	    model_jwt_exp(b.data, b.len, &exp) < 0)
		exp = -1;
	buf_release(&b);
	return exp;
}

char *session_csrf_from_response(const struct http_response *resp)
{
	const char *tok = http_response_header(resp, CSRF_HEADER);
	const char *last = NULL;
	size_t i, n = 0, cl = strlen(CSRF_COOKIE);

	if (tok && *tok)
		return strdup(tok);
	/* No header (a proxy may drop it): the last non-empty cookie. */
	for (i = 0; i < resp->nheaders; i++) {
		const char *v = resp->headers[i].value;
		size_t len;

		if (strcasecmp(resp->headers[i].name, "Set-Cookie") != 0 ||
		    strncmp(v, CSRF_COOKIE "=", cl + 1) != 0)
			continue;
		v += cl + 1;
		len = strcspn(v, "; \t");
		if (len) {
			last = v;
			n = len;
		}
	}
	return last ? strndup(last, n) : NULL;
}

/* Remembers the CSRF token a response carries, if any. */
static void csrf_update(struct session *s, const struct http_response *resp)
{
	char *tok = session_csrf_from_response(resp);

	if (!tok)
		return;
	pthread_mutex_lock(&s->csrf_lock);
	if (!s->csrf || strcmp(s->csrf, tok) != 0) {
		free(s->csrf);
		s->csrf = tok;
		tok = NULL;
		log_trace("new CSRF token");
	}
	pthread_mutex_unlock(&s->csrf_lock);
	free(tok);
}

/* A copy of the current CSRF token, or NULL. */
static char *csrf_copy(struct session *s)
{
	char *t;

	pthread_mutex_lock(&s->csrf_lock);
	t = s->csrf ? strdup(s->csrf) : NULL;
	pthread_mutex_unlock(&s->csrf_lock);
	return t;
}

/* Methods that need the CSRF token. */
static int is_modifying(const char *m)
{
	return m && strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 &&
	       strcmp(m, "OPTIONS") != 0 && strcmp(m, "TRACE") != 0;
}

/* Builds the header list for one attempt: ours, then the caller's. A
 * binary request (bitstream content) gets no JSON Accept header. */
static int build_headers(const struct http_request *req, const char *bearer,
			 const char *csrf, struct http_headers *out)
{
	const struct http_headers *in = req->headers;
	struct buf b = BUF_INIT;
	size_t i;

	if (!http_headers_has(in, "Accept") && !req->binary &&
	    http_headers_add(out, "Accept: application/json") < 0)
		goto fail;
	if (bearer && !http_headers_has(in, "Authorization")) {
		if (buf_addf(&b, "Authorization: Bearer %s", bearer) < 0 ||
		    http_headers_add(out, b.data) < 0)
			goto fail;
		buf_reset(&b);
	}
	if (csrf && is_modifying(req->method)) {
		if (buf_addf(&b, "X-XSRF-TOKEN: %s", csrf) < 0 ||
		    http_headers_add(out, b.data) < 0)
			goto fail;
		buf_reset(&b);
		if (buf_addf(&b, "Cookie: " CSRF_COOKIE "=%s", csrf) < 0 ||
		    http_headers_add(out, b.data) < 0)
			goto fail;
	}
	for (i = 0; in && i < in->n; i++) {
		/* DSpace refuses untrusted origins; a non-browser sends none.
		 */
		if (strncasecmp(in->lines[i], "Origin:", 7) == 0)
			continue;
		if (http_headers_add(out, in->lines[i]) < 0)
			goto fail;
	}
	buf_release(&b);
	return 0; /* may be empty: no headers at all is fine */
fail:
	buf_release(&b);
	http_headers_release(out);
	return -ENOMEM;
}

/* on_headers wrapper: holds back responses we might retry. */
static int hold_headers(const struct http_response *resp, void *ctx)
{
	struct hold *h = ctx;

	h->held = (resp->status == 401 && h->hold_401) ||
		  (resp->status == 403 && h->hold_403);
	if (h->held || !h->req->on_headers)
		return 0;
	return h->req->on_headers(resp, h->req->ctx);
}

/* on_body wrapper: keeps a held response's body, streams the rest. */
static int hold_body(const char *data, size_t len, void *ctx)
{
	struct hold *h = ctx;

	if (h->held) {
		int rc = buf_add(&h->body, data, len);

		/* the status decides: an error body cut at the cap is fine */
		return rc == -ENOSPC ? 0 : rc;
	}
	return h->req->on_body(data, len, h->req->ctx);
}

/* Does this 403 reject our CSRF token (rather than our rights)? */
static int is_csrf_403(const struct http_response *resp, const char *sent)
{
	char *msg, *tok;
	int yes;

	if (resp->status != 403)
		return 0;
	msg = model_error_message(resp->body, resp->body_len);
	if (msg) {
		yes = contains_ci(msg, "csrf");
		free(msg);
		return yes;
	}
	/* 7.0-7.2 hide the message; a 403 handing out a new token is one. */
	tok = session_csrf_from_response(resp);
	yes = tok && (!sent || strcmp(tok, sent) != 0);
	free(tok);
	return yes;
}

/* One attempt through http with the session's headers; hold_401/hold_403
 * say which statuses the caller may retry (their bodies are then kept in
 * resp->body instead of being streamed). The CSRF token used is returned
 * in *sent (caller frees). */
static int attempt(struct session *s, const struct http_request *req,
		   const char *bearer, int hold_401, int hold_403,
		   struct http_response *resp, char **sent)
{
	struct http_request r = *req;
	struct http_headers hdrs = {0};
	struct hold h = {0};
	char *csrf = NULL;
	int rc;

	*sent = NULL;
	if (is_modifying(req->method))
		csrf = csrf_copy(s);
	if (build_headers(req, bearer, csrf, &hdrs) != 0) {
		free(csrf);
		memset(resp, 0, sizeof(*resp));
		return -ENOMEM;
	}
	r.headers = &hdrs;
	h.req = req;
	h.hold_401 = hold_401;
	h.hold_403 = hold_403;
	buf_init(&h.body, HELD_BODY_MAX);
	if (req->on_headers || req->on_body) {
		r.on_headers = hold_headers;
		r.on_body = req->on_body ? hold_body : NULL;
		r.ctx = &h;
	}
	rc = http_perform(s->http, &r, resp);
	if (h.held && h.body.len) {
		char *body = buf_detach(&h.body, &resp->body_len);

		if (body) {
			free(resp->body);
			resp->body = body;
		}
	}
	buf_release(&h.body);
	http_headers_release(&hdrs);
	if (rc == 0)
		csrf_update(s, resp);
	*sent = csrf;
	return rc;
}

/* GET /security/csrf to obtain a token (7.6.2+, 8.x, 9.x). */
static int csrf_fetch(struct session *s)
{
	struct http_request req = {0};
	struct http_response resp;
	struct buf url = BUF_INIT;
	char *sent = NULL;
	int rc;

	if (buf_addf(&url, "%s/security/csrf", s->api_url) < 0)
		return -ENOMEM;
	req.method = "GET";
	req.url = url.data;
	req.idempotent = 1;
	rc = attempt(s, &req, NULL, 0, 0, &resp, &sent);
	free(sent);
	if (rc == 0 && resp.status == 404) {
		pthread_mutex_lock(&s->csrf_lock);
		s->csrf_endpoint_missing = 1;
		pthread_mutex_unlock(&s->csrf_lock);
		log_debug("no /security/csrf (DSpace before 7.6.2)");
		rc = -ENOENT;
	} else if (rc == 0 && resp.status >= 300) {
		rc = -http_status_errno(resp.status);
	}
	http_response_release(&resp);
	buf_release(&url);
	return rc;
}

/* Before a modifying request: make sure we hold a CSRF token if the
 * server has a way to give us one (else the 403 retry covers it). */
static void csrf_ensure(struct session *s)
{
	int need;

	pthread_mutex_lock(&s->csrf_lock);
	need = !s->csrf && !s->csrf_endpoint_missing;
	pthread_mutex_unlock(&s->csrf_lock);
	if (need)
		csrf_fetch(s);
}

/* Whether req can be sent a second time: a body part streamed from a read
 * callback cannot (a second attempt would send an empty or partial body;
 * the caller falls back to a replayable upload instead). */
static int replayable(const struct http_request *req)
{
	for (size_t i = 0; req->parts && i < req->nparts; i++)
		if (req->parts[i].read)
			return 0;
	return 1;
}

/* A request with the CSRF dance: ensures a token for modifying requests
 * and retries once on a CSRF 403 (unless it cannot be replayed). hold_401
 * as for attempt(). */
static int send_csrf(struct session *s, const struct http_request *req,
		     const char *bearer, int hold_401,
		     struct http_response *resp)
{
	int modifying = is_modifying(req->method);
	char *sent = NULL;
	int rc, retried = !replayable(req);

	for (;;) {
		if (modifying)
			csrf_ensure(s);
		rc = attempt(s, req, bearer, hold_401, modifying && !retried,
			     resp, &sent);
		if (rc < 0 || retried || !modifying || !is_csrf_403(resp, sent))
			break;
		/* The 403 normally carries a fresh token; fetch one if not. */
		{
			char *now = csrf_copy(s);

			if (!now || (sent && strcmp(now, sent) == 0))
				csrf_fetch(s);
			free(now);
		}
		log_debug("%s %s: CSRF token refused, retrying once",
			  req->method, req->url);
		retried = 1;
		free(sent);
		sent = NULL;
		http_response_release(resp);
	}
	free(sent);
	return rc;
}

/* When to refresh a token obtained at now with expiry exp (-1 unknown). */
int64_t session_refresh_at(int64_t exp, int64_t now, int refresh_margin)
{
	int64_t margin =
	    refresh_margin > 0 ? refresh_margin : DEFAULT_REFRESH_MARGIN;
	/* exp comes from the server: exp - now would overflow for a very
	 * negative one, so it is judged first. */
	int64_t life = exp < 0 ? 0 : exp - now;

	if (exp < 0 || life <= 0)
		return now +
		       OPAQUE_REFRESH_INTERVAL; /* opaque, or clocks differ */
	if (margin > life / 5)
		margin = life / 5;
	return exp - margin;
}

/* Takes the JWT from a login/refresh response; 0 or -EPROTO. */
static int take_token(struct session *s, const struct http_response *resp)
{
	const char *a = http_response_header(resp, "Authorization");
	int64_t exp;
	char *jwt;

	if (!a || strncasecmp(a, "Bearer ", 7) != 0)
		return -EPROTO;
	a += 7;
	while (*a == ' ')
		a++;
	if (!*a || !(jwt = strdup(a)))
		return *a ? -ENOMEM : -EPROTO;
	exp = session_jwt_expiry(jwt);
	pthread_rwlock_wrlock(&s->auth_lock);
	free(s->jwt);
	s->jwt = jwt;
	s->refresh_at = session_refresh_at(exp, now_s(), s->refresh_margin);
	s->jwt_exp = exp;
	s->jwt_got = now_s();
	s->pause_until = 0;
	s->gen++;
	pthread_rwlock_unlock(&s->auth_lock);
	if (exp > 0)
		log_debug("new JWT, expires in %lld s",
			  (long long)(exp - now_s()));
	else
		log_debug("new JWT (opaque), refreshing every %d s",
			  OPAQUE_REFRESH_INTERVAL);
	return 0;
}

/* POST /authn/login with user and password. Writes a user-facing reason
 * into err (never the password). */
static int login(struct session *s, char *err, size_t errlen)
{
	struct http_request req = {0};
	struct http_response resp;
	struct http_headers hdrs = {0};
	struct buf url = BUF_INIT, body = BUF_INIT;
	char dummy[8];
	int rc;

	if (!err) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	if (buf_addf(&url, "%s/authn/login", s->api_url) < 0 ||
	    buf_adds(&body, "user=") < 0 ||
	    buf_add_urlencoded(&body, s->user) < 0 ||
	    buf_adds(&body, "&password=") < 0 ||
	    buf_add_urlencoded(&body, s->password) < 0 ||
	    http_headers_add(&hdrs, "Content-Type: "
				    "application/x-www-form-urlencoded") < 0) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto wipe;
	}
	req.method = "POST";
	req.url = url.data;
	req.headers = &hdrs;
	req.body = body.data;
	req.body_len = body.len;
	req.redact_body = 1; /* the password */
	req.max_body = 1 << 20;
	rc = send_csrf(s, &req, NULL, 0, &resp);
	if (rc < 0) {
		snprintf(err, errlen, "cannot reach %s: %s", s->api_url,
			 resp.errmsg[0] ? resp.errmsg : strerror(-rc));
		goto out;
	}
	if (resp.status == 200) {
		rc = take_token(s, &resp);
		if (rc < 0)
			snprintf(
			    err, errlen,
			    "login for %s: no token in the server's answer",
			    s->user);
	} else if (resp.status == 401) {
		snprintf(
		    err, errlen,
		    "login failed for %s: wrong user name or password (401)",
		    s->user);
		rc = -EACCES;
	} else {
		char *msg = model_error_message(resp.body, resp.body_len);

		snprintf(err, errlen, "login failed for %s: HTTP %ld%s%s",
			 s->user, resp.status, msg ? ": " : "", msg ? msg : "");
		free(msg);
		rc = http_status_errno(resp.status)
			 ? -http_status_errno(resp.status)
			 : -EPROTO;
	}
	if (rc == 0)
		log_info("logged in as %s", s->user);
out:
	http_response_release(&resp);
wipe:
	if (body.data)
		explicit_bzero(body.data, body.alloc);
	buf_release(&body);
	buf_release(&url);
	http_headers_release(&hdrs);
	return rc;
}

/* POST /authn/login with the bearer only: a fresh token, same session. */
static int refresh(struct session *s, const char *bearer)
{
	struct http_request req = {0};
	struct http_response resp;
	struct buf url = BUF_INIT;
	int rc;

	if (buf_addf(&url, "%s/authn/login", s->api_url) < 0)
		return -ENOMEM;
	req.method = "POST";
	req.url = url.data;
	req.max_body = 1 << 20;
	req.redact_body = 1; /* a login request */
	rc = send_csrf(s, &req, bearer, 0, &resp);
	if (rc == 0) {
		if (resp.status == 200)
			rc = take_token(s, &resp);
		else if (http_status_errno(resp.status))
			rc = -http_status_errno(resp.status);
		else
			rc = -EPROTO;
		if (rc < 0)
			log_debug("token refresh refused (HTTP %ld)",
				  resp.status);
	}
	http_response_release(&resp);
	buf_release(&url);
	return rc;
}

/* Logs in again (full) or refreshes, unless another thread already
 * replaced the token generation seen_gen. Only one thread at a time. */
static int reauth(struct session *s, unsigned long seen_gen, int full)
{
	char *bearer = NULL;
	unsigned long gen;
	int rc = 0, paused;

	pthread_mutex_lock(&s->login_lock);
	pthread_rwlock_rdlock(&s->auth_lock);
	gen = s->gen;
	paused = now_s() < s->pause_until;
	if (gen == seen_gen && s->jwt && !full)
		bearer = strdup(s->jwt);
	pthread_rwlock_unlock(&s->auth_lock);
	if (gen != seen_gen)
		goto out; /* someone else did it while we waited */
	if (paused) {
		rc =
		    -EAGAIN; /* a login just failed: do not hammer the server */
		goto out;
	}
	rc = -EPROTO;
	if (bearer)
		rc = refresh(s, bearer);
	if (rc < 0) {
		log_info("session expired: logging in again as %s", s->user);
		rc = login(s, NULL, 0);
	}
	__atomic_store_n(&s->login_failing, rc < 0, __ATOMIC_RELAXED);
	if (rc < 0) {
		log_warn("cannot log in again as %s (%s); retrying in %d s",
			 s->user, strerror(-rc), REAUTH_PAUSE);
		pthread_rwlock_wrlock(&s->auth_lock);
		s->pause_until = now_s() + REAUTH_PAUSE;
		pthread_rwlock_unlock(&s->auth_lock);
	}
out:
	pthread_mutex_unlock(&s->login_lock);
	free(bearer);
	return rc;
}

/* The bytes of req's multipart body we know of (file parts by their
 * size; a streamed part is unknown: 0). */
static int64_t upload_size(const struct http_request *req)
{
	int64_t n = 0;
	struct stat st;

	for (size_t i = 0; i < req->nparts; i++)
		if (req->parts[i].filepath &&
		    stat(req->parts[i].filepath, &st) == 0)
			n += st.st_size;
		else
			n += req->parts[i].len;
	return n;
}

/* Whether the token may expire before an upload's body has arrived:
 * DSpace checks it only then (contract §13, DS#12351), so an upload starts
 * with at least half the token's lifetime left, and more for a large file
 * at a conservative UPLOAD_RATE (auth_lock held). */
static int upload_due(const struct session *s, const struct http_request *r)
{
	int64_t life = s->jwt_exp - s->jwt_got, need, margin = life / 2;

	if (!r->nparts || s->jwt_exp < 0)
		return 0;
	need = upload_size(r) / UPLOAD_RATE + DEFAULT_REFRESH_MARGIN;
	if (need > margin && need < life)
		margin = need; /* (a new token could not cover more) */
	return s->jwt_exp - now_s() < margin;
}

/* The current bearer (copy) and generation; refreshes first when due
 * (for an upload, see upload_due). */
static char *auth_snapshot(struct session *s, const struct http_request *req,
			   unsigned long *gen)
{
	char *bearer = NULL;
	int due;

	if (s->anonymous) {
		*gen = 0;
		return NULL;
	}
	pthread_rwlock_rdlock(&s->auth_lock);
	due = s->jwt && (now_s() >= s->refresh_at || upload_due(s, req)) &&
	      now_s() >= s->pause_until;
	*gen = s->gen;
	pthread_rwlock_unlock(&s->auth_lock);
	if (due)
		reauth(s, *gen, 0);
	pthread_rwlock_rdlock(&s->auth_lock);
	if (s->jwt)
		bearer = strdup(s->jwt);
	*gen = s->gen;
	pthread_rwlock_unlock(&s->auth_lock);
	return bearer;
}

/* Keeps when the server stopped answering (rc unavailable) and forgets
 * it at the first answer. */
static void note_reach(struct session *s, int rc)
{
	int64_t zero = 0, now = now_s();

	if (rc >= 0)
		__atomic_store_n(&s->offline_since, 0, __ATOMIC_RELAXED);
	else if (err_is_unavailable(rc))
		__atomic_compare_exchange_n(&s->offline_since, &zero, now, 0,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

int session_request(struct session *s, const struct http_request *req,
		    struct http_response *resp)
{
	unsigned long gen;
	char *bearer;
	int rc, relogged = 0;

	for (;;) {
		bearer = auth_snapshot(s, req, &gen);
		rc = send_csrf(s, req, bearer, bearer && !relogged, resp);
		if (rc < 0 || resp->status != 401 || !bearer || relogged)
			break;
		if (!replayable(req)) {
			/* Log in again for the requests that follow; this
			 * one fails (EACCES) and is not sent twice. */
			reauth(s, gen, 1);
			break;
		}
		/* A logged-in session treated as anonymous: token revoked
		 * (e.g. a server restart). Log in again, retry once. */
		relogged = 1;
		if (reauth(s, gen, 1) < 0)
			break;
		free(bearer);
		http_response_release(resp);
	}
	free(bearer);
	note_reach(s, rc);
	return rc;
}

struct session *session_new(struct http *http, const struct session_config *cfg)
{
	struct session *s = calloc(1, sizeof(*s));
	size_t n;

	if (!s)
		return NULL;
	s->http = http;
	s->refresh_margin = cfg->refresh_margin;
	s->start_timeout = cfg->start_timeout;
	s->anonymous = !cfg->user || !*cfg->user;
	pthread_rwlock_init(&s->auth_lock, NULL);
	pthread_mutex_init(&s->login_lock, NULL);
	pthread_mutex_init(&s->csrf_lock, NULL);
	s->api_url = strdup(cfg->api_url ? cfg->api_url : "");
	s->version = strdup("");
	if (!s->api_url || !s->version)
		goto fail;
	n = strlen(s->api_url);
	while (n && s->api_url[n - 1] == '/')
		s->api_url[--n] = '\0';
	if (!s->anonymous) {
		s->user = strdup(cfg->user);
		s->password = strdup(cfg->password ? cfg->password : "");
		if (!s->user || !s->password)
			goto fail;
	}
	return s;
fail:
	session_free(&s);
	return NULL;
}

/* Names why the server could not be reached: DNS, refused, TLS, timeout,
 * or curl's own words. */
static const char *unreachable_cause(const struct session *s, int rc,
				     const char *why)
{
	static __thread char text[320];

	if (strstr(why, "resolve"))
		snprintf(text, sizeof(text),
			 "DNS: the host name does not resolve (%s)", why);
	else if (rc == -ECONNREFUSED)
		snprintf(text, sizeof(text),
			 "connection refused: nothing listens there (%s)", why);
	else if (strstr(why, "SSL") || strstr(why, "certificate") ||
		 strstr(why, "TLS"))
		snprintf(text, sizeof(text),
			 "TLS: %s (-o cacert=FILE names a CA bundle)", why);
	else if (rc == -ETIMEDOUT && s->start_timeout > 0)
		snprintf(text, sizeof(text),
			 "timeout: no answer within %d s (-o "
			 "connect_timeout=SECONDS)",
			 s->start_timeout);
	else
		snprintf(text, sizeof(text), "%s", *why ? why : strerror(-rc));
	return text;
}

/* The URL to give dspacefs for a redirect of the API root to loc: loc
 * without its "/api" (dspacefs adds it), made absolute. */
static void redirect_hint(const char *from, const char *loc, char *out,
			  size_t outlen)
{
	const char *scheme_end = strstr(from, "://");
	size_t n = strlen(loc), origin = 0;

	while (n > 1 && loc[n - 1] == '/')
		n--;
	if (n >= 4 && strncmp(loc + n - 4, "/api", 4) == 0)
		n -= 4;
	if (loc[0] == '/' && scheme_end)
		origin = (size_t)(scheme_end + 3 - from) +
			 strcspn(scheme_end + 3, "/");
	snprintf(out, outlen, "%.*s%.*s", (int)origin, from, (int)n, loc);
}

/* Explains an API root that did not answer 200; returns -errno. */
static int root_refused(const char *url, struct http_response *resp, char *err,
			size_t errlen)
{
	const char *loc = http_response_header(resp, "Location");
	char hint[512];

	if (resp->status >= 300 && resp->status < 400 && loc) {
		/* We do not follow redirects: name the right URL. */
		redirect_hint(url, loc, hint, sizeof(hint));
		snprintf(err, errlen, "%s redirects to %s: use the URL %s", url,
			 loc, hint);
		return -EPROTO;
	}
	if (resp->status >= 500 || resp->status == 429) {
		snprintf(err, errlen, "%s answered HTTP %ld", url,
			 resp->status);
		return -http_status_errno(resp->status);
	}
	snprintf(err, errlen,
		 "%s does not look like a DSpace REST API (HTTP %ld)", url,
		 resp->status);
	return -EPROTO;
}

static int fetch_root(struct session *s, const char *url, char **version,
		      char *err, size_t errlen, int may_follow);

/* Is hint (a URL as the user gives it) the one whose API root is from? */
static int same_root(const char *from, const char *hint)
{
	size_t n = strlen(hint);

	return strncmp(from, hint, n) == 0 && strcmp(from + n, "/api") == 0;
}

/* The API root from redirects to loc: names the URL to use instead (loc
 * without its /api) once loc answers as DSpace, or, when that is the URL
 * given (a proxy adding a trailing slash), takes loc's answer. hops more
 * redirects are followed. 0 with *version, or -errno with err set. */
static int follow_redirect(struct session *s, const char *from, const char *loc,
			   int hops, char **version, char *err, size_t errlen)
{
	char hint[512], inner[512] = "";
	int rc;

	redirect_hint(from, loc, hint, sizeof(hint));
	rc = fetch_root(s, loc, version, inner, sizeof(inner), hops);
	if (rc == 0 && same_root(from, hint)) {
		log_info("%s redirects to %s; following it", from, loc);
		return 0;
	}
	if (rc == 0) {
		free(*version);
		*version = NULL;
		snprintf(err, errlen, "%s redirects to %s: use the URL %s",
			 from, loc, hint);
		return -EPROTO;
	}
	snprintf(err, errlen,
		 "%s redirects to %s, which does not answer as DSpace "
		 "either: %s",
		 from, loc, inner);
	return rc;
}

/* GETs the API root at url and learns the DSpace version; up to may_follow
 * redirects are followed (follow_redirect). 0 or -errno with err set. */
static int fetch_root(struct session *s, const char *url, char **version,
		      char *err, size_t errlen, int may_follow)
{
	struct http_request req = {0};
	struct http_response resp;
	const char *loc;
	char *copy;
	int rc;

	req.method = "GET";
	req.url = url;
	req.idempotent = 1;
	req.max_body = 4 << 20;
	req.stall_ms = s->start_timeout * 1000L;
	rc = send_csrf(s, &req, NULL, 0, &resp);
	if (rc < 0) {
		snprintf(err, errlen, "cannot reach %s: %s", url,
			 unreachable_cause(s, rc, resp.errmsg));
		goto out;
	}
	loc = http_response_header(&resp, "Location");
	if (may_follow && resp.status >= 300 && resp.status < 400 && loc) {
		copy = strdup(loc);
		http_response_release(&resp);
		rc = copy ? follow_redirect(s, url, copy, may_follow - 1,
					    version, err, errlen)
			  : -ENOMEM;
		free(copy);
		return rc;
	}
	if (resp.status != 200) {
		rc = root_refused(url, &resp, err, errlen);
		goto out;
	}
	rc = model_parse_root(resp.body, resp.body_len, version);
	if (rc < 0)
		snprintf(err, errlen, "%s does not look like a DSpace REST API",
			 url);
out:
	http_response_release(&resp);
	return rc;
}

int session_start(struct session *s, char *err, size_t errlen)
{
	char *version = NULL;
	int rc = fetch_root(s, s->api_url, &version, err, errlen, 2);

	if (rc < 0)
		return rc;
	free(s->version);
	s->version = version;

	csrf_ensure(s);
	if (!s->anonymous)
		rc = login(s, err, errlen);
	if (rc == 0)
		log_info("connected to %s (%s)%s", s->api_url, s->version,
			 s->anonymous ? ", anonymous" : "");
	return rc;
}

const char *session_api_url(const struct session *s)
{
	return s->api_url;
}

const char *session_dspace_version(const struct session *s)
{
	return s->version ? s->version : "";
}

/* The major number of a "DSpace 10.0" version string, 0 if none. */
static int version_major(const char *v)
{
	while (*v && (*v < '0' || *v > '9'))
		v++;
	return atoi(v);
}

int session_replace_usable(struct session *s)
{
	int r;

	pthread_mutex_lock(&s->csrf_lock);
	r = !s->replace_refused && version_major(s->version) >= 10;
	pthread_mutex_unlock(&s->csrf_lock);
	return r;
}

void session_replace_refused(struct session *s)
{
	pthread_mutex_lock(&s->csrf_lock);
	s->replace_refused = 1;
	pthread_mutex_unlock(&s->csrf_lock);
}

char *session_formats(struct session *s)
{
	char *r;

	pthread_mutex_lock(&s->csrf_lock);
	r = s->formats ? strdup(s->formats) : NULL;
	pthread_mutex_unlock(&s->csrf_lock);
	return r;
}

void session_set_formats(struct session *s, const char *json)
{
	char *c = strdup(json);

	pthread_mutex_lock(&s->csrf_lock);
	free(s->formats);
	s->formats = c;
	pthread_mutex_unlock(&s->csrf_lock);
}

int session_is_anonymous(const struct session *s)
{
	return s->anonymous;
}

const char *session_user(const struct session *s)
{
	return s->user ? s->user : "";
}

int session_login_failing(const struct session *s)
{
	return __atomic_load_n(&s->login_failing, __ATOMIC_RELAXED);
}

int64_t session_offline_since(const struct session *s)
{
	return __atomic_load_n(&s->offline_since, __ATOMIC_RELAXED);
}

void session_free(struct session **sp)
{
	struct session *s = *sp;

	if (!s)
		return;
	if (s->password) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s->user);
	free(s->api_url);
	free(s->version);
	free(s->formats);
	free(s->jwt);
	free(s->csrf);
	pthread_rwlock_destroy(&s->auth_lock);
	pthread_mutex_destroy(&s->login_lock);
	pthread_mutex_destroy(&s->csrf_lock);
	free(s);
	*sp = NULL;
}
