/* errors: the one taxonomy of failures (errors are 0/-errno below fs.c).
 *
 * Every module that decides "retry?", "serve the stale copy?", "give up at
 * once?" or "what does the application see?" asks here instead of keeping
 * its own errno list:
 *   unreachable  nothing answers at the server's address: connection
 *                refused, host or network unreachable (DNS failures arrive
 *                as EHOSTUNREACH: http.c)   ECONNREFUSED EHOSTUNREACH
 *                                           ENETUNREACH
 *   dropped      a connection broke mid-exchange: ECONNRESET ENOTCONN EPIPE
 *   transient    the server is slow or busy (timeouts, 5xx, 429), worth
 *                another attempt later:     ETIMEDOUT EAGAIN EIO
 *   refused      the server said no (auth, permission): EACCES EPERM
 *   protocol     the server's answer made no sense: EPROTO
 * Anything else (ENOENT, ENOMEM, EFBIG, ...) is "other". */
#ifndef DSPACEFS_ERRORS_H
#define DSPACEFS_ERRORS_H

enum err_class {
	ERR_OTHER,
	ERR_UNREACHABLE,
	ERR_DROPPED,
	ERR_TRANSIENT,
	ERR_REFUSED,
	ERR_PROTOCOL,
};

/* The class of a -errno (a positive errno is taken as its negation). */
enum err_class err_class_of(int negerrno);

/* Nothing answers: retrying soon is pointless (http.c has already retried
 * the connection with backoff). */
int err_is_unreachable(int negerrno);

/* The server gives no usable answer now but may later: unreachable,
 * dropped or transient. A listing is served stale, an upload retried. */
int err_is_unavailable(int negerrno);

/* The errno an application sees for negerrno (positive): a failure to
 * reach or talk to the server (unreachable, dropped, protocol) becomes EIO,
 * the errno a read, stat or readdir caller expects; the modules below log
 * the real cause. Everything else is passed on. */
int err_for_user(int negerrno);

#endif
