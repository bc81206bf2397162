/* Unit tests for the pure parts of session and http: JWT expiry, CSRF
 * token extraction, status/curl → errno, backoff, Retry-After, redaction,
 * header lines and Content-Range. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "net/http.h"
#include "dspace/rest.h"
#include "dspace/session.h"
#include "tap.h"

/* base64url without padding of n bytes of in, into out (big enough). */
static void b64url(const char *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i;
	char *o = out;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned char)in[i] << 16 |
			     (unsigned char)in[i + 1] << 8 |
			     (unsigned char)in[i + 2];
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = tab[v >> 6 & 63];
		*o++ = tab[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned char)in[i] << 16;
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
	} else if (n - i == 2) {
		unsigned v =
		    (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = tab[v >> 6 & 63];
	}
	*o = '\0';
}

/* A JWS "header.payload.signature" whose payload is the given JSON. */
static void make_jws(const char *payload, char *out, size_t outlen)
{
	char h[256], p[1024];
	const char *hdr = "{\"alg\":\"HS256\"}";

	b64url(hdr, strlen(hdr), h);
	b64url(payload, strlen(payload), p);
	snprintf(out, outlen, "%s.%s.c2lnbmF0dXJlLWJ5dGVz", h, p);
}

/* session_jwt_expiry on JWS, JWE and garbage. */
static void test_jwt(void)
{
	char jws[2048], bearer[2100];
	int pad;

	make_jws("{\"eid\":\"2245f2c5-1234-4c8e-9b5a-000000000001\",\"sg\":[],"
		 "\"authenticationMethod\":\"password\",\"exp\":1715856030}",
		 jws, sizeof(jws));
	is_int(session_jwt_expiry(jws), 1715856030, "JWS exp decoded");
	snprintf(bearer, sizeof(bearer), "Bearer %s", jws);
	is_int(session_jwt_expiry(bearer), 1715856030,
	       "\"Bearer \" prefix is skipped");

	/* Payload lengths 0, 1, 2 mod 3 exercise every tail of the decoder. */
	for (pad = 0; pad < 3; pad++) {
		char payload[128], name[64];

		snprintf(payload, sizeof(payload), "{\"exp\":42%.*s}", pad,
			 "  ");
		make_jws(payload, jws, sizeof(jws));
		snprintf(name, sizeof(name), "payload with %d spaces", pad);
		is_int(session_jwt_expiry(jws), 42, name);
	}

	make_jws("{\"eid\":\"x\"}", jws, sizeof(jws));
	is_int(session_jwt_expiry(jws), -1, "JWS without exp → -1");
	make_jws("{\"exp\":\"soon\"}", jws, sizeof(jws));
	is_int(session_jwt_expiry(jws), -1, "string exp → -1");

	/* A JWE: five parts, encrypted payload. */
	is_int(session_jwt_expiry(
		   "eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4R0NNIn0."
		   ".48V1_ALb6US04U3b.5eym8TW_"
		   "c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6ji"
		   ".XFBoMYUZodetZdvTiFvSkQ"),
	       -1, "JWE (5 parts) → -1");
	is_int(session_jwt_expiry("not a token"), -1, "garbage → -1");
	is_int(session_jwt_expiry(""), -1, "empty → -1");
	is_int(session_jwt_expiry(NULL), -1, "NULL → -1");
	is_int(session_jwt_expiry("a.b"), -1, "two parts → -1");
	is_int(session_jwt_expiry("a..c"), -1, "empty payload → -1");
	is_int(session_jwt_expiry("eyJhbGciOiJIUzI1NiJ9.!!!!.sig"), -1,
	       "payload not base64url → -1");
	is_int(session_jwt_expiry("eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.sig"), -1,
	       "payload not JSON → -1");
}

/* http_status_errno: the table in http.h. */
static void test_status_errno(void)
{
	static const struct {
		long status;
		int err;
	} t[] = {
	    {200, 0},	      {201, 0},	     {204, 0},	 {206, 0},
	    {302, 0},	      {304, 0},	     {400, EIO}, {401, EACCES},
	    {403, EACCES},    {404, ENOENT}, {405, EIO}, {409, EEXIST},
	    {410, ENOENT},    {413, EFBIG},  {416, EIO}, {422, EIO},
	    {429, EAGAIN},    {500, EIO},    {502, EIO}, {503, EAGAIN},
	    {504, ETIMEDOUT},
	};
	size_t i;
	char name[64];

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(name, sizeof(name), "HTTP %ld → errno %d", t[i].status,
			 t[i].err);
		is_int(http_status_errno(t[i].status), t[i].err, name);
	}
}

/* http_curl_errno: transfer failures. */
static void test_curl_errno(void)
{
	is_int(http_curl_errno(CURLE_OK, 0), 0, "CURLE_OK → 0");
	is_int(http_curl_errno(CURLE_OPERATION_TIMEDOUT, 0), -ETIMEDOUT,
	       "timeout → -ETIMEDOUT");
	is_int(http_curl_errno(CURLE_COULDNT_CONNECT, ECONNREFUSED),
	       -ECONNREFUSED, "refused → -ECONNREFUSED");
	is_int(http_curl_errno(CURLE_COULDNT_CONNECT, EHOSTUNREACH),
	       -EHOSTUNREACH, "unreachable → -EHOSTUNREACH");
	is_int(http_curl_errno(CURLE_COULDNT_RESOLVE_HOST, 0), -EHOSTUNREACH,
	       "unresolvable → -EHOSTUNREACH");
	is_int(http_curl_errno(CURLE_RECV_ERROR, 0), -ENOTCONN,
	       "recv error → -ENOTCONN");
	is_int(http_curl_errno(CURLE_SEND_ERROR, 0), -ENOTCONN,
	       "send error → -ENOTCONN");
	is_int(http_curl_errno(CURLE_PARTIAL_FILE, 0), -ENOTCONN,
	       "partial file → -ENOTCONN");
	is_int(http_curl_errno(CURLE_WRITE_ERROR, 0), -ECANCELED,
	       "write error (our abort) → -ECANCELED");
	is_int(http_curl_errno(CURLE_PEER_FAILED_VERIFICATION, 0), -EIO,
	       "TLS failure → -EIO");
}

/* Retry policy helpers. */
static void test_retry(void)
{
	is_int(http_backoff_ms(1), 200, "first backoff 200 ms");
	is_int(http_backoff_ms(2), 400, "second 400 ms");
	is_int(http_backoff_ms(3), 800, "third 800 ms");
	is_int(http_backoff_ms(10), 5000, "capped at 5 s");
	is_int(http_backoff_ms(1000), 5000, "no overflow");
	ok(http_status_retryable(503) && http_status_retryable(502) &&
	       http_status_retryable(504) && http_status_retryable(429),
	   "502/503/504/429 retryable");
	ok(!http_status_retryable(500) && !http_status_retryable(404) &&
	       !http_status_retryable(200),
	   "500/404/200 not retryable");
	is_int(http_parse_retry_after("3"), 3, "Retry-After: 3");
	is_int(http_parse_retry_after(" 120 "), 120, "Retry-After with spaces");
	is_int(http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), -1,
	       "HTTP-date → -1");
	is_int(http_parse_retry_after("3x"), -1, "junk → -1");
	is_int(http_parse_retry_after(NULL), -1, "absent → -1");
	is_int(http_parse_retry_after("99999999999999999999999"), -1,
	       "overflow → -1");
}

/* Trace redaction of secret headers. */
static void test_redact(void)
{
	static const struct {
		const char *in, *out;
	} t[] = {
	    {"Authorization: Bearer eyJ.abc.def\r\n",
	     "Authorization: <redacted>"},
	    {"authorization:Bearer x", "authorization: <redacted>"},
	    {"Cookie: DSPACE-XSRF-COOKIE=abc", "Cookie: <redacted>"},
	    {"Set-Cookie: DSPACE-XSRF-COOKIE=abc; Path=/server",
	     "Set-Cookie: <redacted>"},
	    {"X-XSRF-TOKEN: 3f0c", "X-XSRF-TOKEN: <redacted>"},
	    {"DSPACE-XSRF-TOKEN: 3f0c", "DSPACE-XSRF-TOKEN: <redacted>"},
	    {"Content-Type: application/json\r\n",
	     "Content-Type: application/json"},
	    {"POST /server/api/authn/login HTTP/1.1",
	     "POST /server/api/authn/login HTTP/1.1"},
	    {"X-XSRF-TOKENS: kept", "X-XSRF-TOKENS: kept"},
	};
	char out[256], small[8], name[64];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		http_redact_header(t[i].in, strlen(t[i].in), out, sizeof(out));
		snprintf(name, sizeof(name), "redact: %.40s", t[i].in);
		is_str(out, t[i].out, name);
	}
	http_redact_header("Content-Type: text/plain", 24, small,
			   sizeof(small));
	is_str(small, "Content", "truncated to the output buffer");
}

/* CSRF token from header or cookie. */
static void test_csrf(void)
{
	struct http_header h1[] = {
	    {"Set-Cookie", "DSPACE-XSRF-COOKIE=; Max-Age=0; Path=/server"},
	    {"Set-Cookie", "DSPACE-XSRF-COOKIE=9a1d; Path=/server; HttpOnly"},
	    {"dspace-xsrf-token", "9a1d"},
	};
	struct http_header h2[] = {
	    {"Set-Cookie", "OTHER=1"},
	    {"Set-Cookie", "DSPACE-XSRF-COOKIE=; Max-Age=0"},
	    {"Set-Cookie", "DSPACE-XSRF-COOKIE=77ab; Path=/server"},
	    {"Set-Cookie", "DSPACE-XSRF-COOKIE=; Max-Age=0"},
	};
	struct http_header h3[] = {
	    {"Content-Type", "application/json"},
	};
	struct http_response r;
	char *t;

	memset(&r, 0, sizeof(r));
	r.headers = h1;
	r.nheaders = 3;
	t = session_csrf_from_response(&r);
	is_str(t, "9a1d", "token from DSPACE-XSRF-TOKEN header");
	free(t);
	r.headers = h2;
	r.nheaders = 4;
	t = session_csrf_from_response(&r);
	is_str(t, "77ab", "last non-empty cookie when there is no header");
	free(t);
	r.headers = h3;
	r.nheaders = 1;
	t = session_csrf_from_response(&r);
	ok(t == NULL, "no token → NULL");
	free(t);
}

/* When a token is refreshed; a hostile exp must not overflow (seen while
 * writing fuzz_jwt: exp = INT64_MIN). */
static void test_refresh_at(void)
{
	is_int((int)(session_refresh_at(1000 + 3600, 1000, 60) - 1000), 3540,
	       "refresh 60 s before exp");
	is_int((int)(session_refresh_at(1000 + 100, 1000, 60) - 1000), 80,
	       "margin at most a fifth of the lifetime");
	ok(session_refresh_at(-1, 1000, 60) > 1000, "unknown exp: later");
	ok(session_refresh_at(INT64_MIN, 1000, 60) > 1000,
	   "exp = INT64_MIN: no overflow, treated as unknown");
	ok(session_refresh_at(INT64_MAX, 1000, 60) == INT64_MAX - 60,
	   "exp = INT64_MAX");
}

/* Header lines as curl delivers them (found by fuzz_headers: a status code
 * of twenty digits overflowed). */
static void test_header_lines(void)
{
	static const char *const lines[] = {
	    "HTTP/1.1 100 Continue\r\n",
	    "\r\n",
	    "HTTP/1.1 206 Partial Content\r\n",
	    "Content-Range:  bytes 0-8/9 \t\r\n",
	    " folded continuation\r\n",
	    ": no name\r\n",
	};
	struct http_response r;
	const char *big = "HTTP/1.1 18446744073709551615 Odd\r\n";
	size_t i;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		is_int(http_response_add_header(&r, lines[i], strlen(lines[i])),
		       0, "header line accepted");
	is_int((int)r.status, 206, "status of the final response");
	is_int((int)r.nheaders, 1, "1xx headers dropped, junk ignored");
	is_str(http_response_header(&r, "content-range"), "bytes 0-8/9",
	       "value trimmed, name case-insensitive");
	is_int(http_response_add_header(&r, big, strlen(big)), 0,
	       "overlong status line");
	is_int((int)r.status, 0, "a status that is not 3 digits is 0");
	is_int((int)r.nheaders, 0, "a status line starts over");
	http_response_release(&r);
}

/* Content-Range values. */
static void test_content_range(void)
{
	uint64_t a = 0, b = 0, t = 0;

	is_int(rest_parse_content_range("bytes 0-8/9", &a, &b, &t), 0,
	       "Content-Range parsed");
	ok(a == 0 && b == 8 && t == 9, "Content-Range numbers");
	is_int(rest_parse_content_range("bytes */9", &a, &b, &t), -1,
	       "unsatisfied range refused");
	is_int(rest_parse_content_range("bytes 1-2/3x", &a, &b, &t), -1,
	       "trailing junk refused");
	is_int(rest_parse_content_range(NULL, &a, &b, &t), -1, "absent");
}

int main(void)
{
	test_jwt();
	test_status_errno();
	test_curl_errno();
	test_retry();
	test_redact();
	test_csrf();
	test_refresh_at();
	test_header_lines();
	test_content_range();
	return tap_done();
}
