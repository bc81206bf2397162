/* session: the one authenticated DSpace session shared by all threads.
 *
 * Owns the JWT (from the Authorization response header of a password login),
 * its refresh before expiry, and the CSRF token (DSPACE-XSRF-TOKEN response
 * header; sent back as X-XSRF-TOKEN plus the DSPACE-XSRF-COOKIE cookie on
 * every non-GET request). Works with servers that issue CSRF tokens eagerly
 * (7.x, 8.3+, 9.2+) and with those that defer them (8.0-8.2, 9.0-9.1): a 403
 * whose message names CSRF is retried once with the fresh token it carries.
 * When a logged-in session starts being treated as anonymous (a 401, or an
 * expired token), exactly one thread logs in again while the others wait
 * (auth state under a rwlock with a generation counter), then the request is
 * retried once. Anonymous sessions never log in.
 * The password is kept only in memory and never logged. */
#ifndef DSPACEFS_SESSION_H
#define DSPACEFS_SESSION_H

#include <stdint.h>
#include "net/http.h"
#include "dspace/dspace.h"

struct session;

struct session_config {
	/* normalised: "https://host/server/api", no trailing '/' */
	const char *api_url;
	const char *user;     /* e-mail; NULL for an anonymous session */
	const char *password; /* copied; the caller should wipe its own copy */
	int start_timeout;    /* seconds session_start's first request may
			       * wait for the server, retries included;
			       * 0 → no bound but the transfer's own */
	int refresh_margin;   /* refresh this many seconds before exp; 0 → 60,
			       * or a fifth of the token lifetime if shorter */
};

/* Creates the session object; nothing is sent yet. NULL on ENOMEM. */
struct session *session_new(struct http *http,
			    const struct session_config *cfg);

/* Contacts the server: GET the API root (learns dspaceVersion, checks that
 * this really is a DSpace REST API), obtains a CSRF token, and logs in when
 * a user is configured. Returns 0 or -errno; on failure writes a clear,
 * user-facing reason into err (e.g. "login failed for admin@example.org:
 * wrong user name or password (401)", "cannot reach http://...: connection
 * refused", "http://.../api does not look like a DSpace REST API"). */
int session_start(struct session *s, char *err, size_t errlen);

/* Performs req through the session: adds Accept, Authorization and (for
 * non-GET/HEAD) the CSRF header and cookie, refreshes the JWT when it is
 * near expiry, retries once on a CSRF 403 and once after re-login on a 401
 * of a logged-in session; a request with a part streamed from a read
 * callback is never sent twice (after a 401 it logs in again for the next
 * requests and returns the 401). Same return convention as http_perform(); resp
 * is the final attempt's response. req->headers are sent in addition. */
int session_request(struct session *s, const struct http_request *req,
		    struct http_response *resp);

/* session_api_url, session_dspace_version, session_is_anonymous,
 * session_replace_usable: dspace.h */
/* The cached bitstream format registry page (a copy, NULL if none yet);
 * caching one: once per mount. */
char *session_formats(struct session *s);
void session_set_formats(struct session *s, const char *json);
/* Remembers that the server refused it (replace-bitstream.enabled off). */
void session_replace_refused(struct session *s);

void session_free(struct session **s);

/* --- exposed for unit tests (pure functions) --- */

/* The exp claim of a JWS "header.payload.signature", or -1 when the token
 * is not a decodable JWS (e.g. an encrypted JWE): such tokens are refreshed
 * on a fixed schedule instead. */
int64_t session_jwt_expiry(const char *jwt);

/* When to refresh a token obtained at now (Unix seconds) whose exp claim is
 * exp (-1 unknown): refresh_margin seconds before exp (0 → 60), at most a
 * fifth of the lifetime; unknown or past exp → a fixed interval from now. */
int64_t session_refresh_at(int64_t exp, int64_t now, int refresh_margin);

/* The CSRF token a response hands out: its DSPACE-XSRF-TOKEN header, else
 * the last non-empty DSPACE-XSRF-COOKIE Set-Cookie value; NULL if none.
 * Caller frees. */
char *session_csrf_from_response(const struct http_response *resp);

#endif
