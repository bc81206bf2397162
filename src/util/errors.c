/* errors: the one taxonomy of failures (see errors.h). */
#include <errno.h>

#include "util/errors.h"

/* The class of a -errno (a positive errno is taken as its negation). */
enum err_class err_class_of(int negerrno)
{
	switch (negerrno < 0 ? -negerrno : negerrno) {
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
		return ERR_UNREACHABLE;
	case ECONNRESET:
	case ENOTCONN:
	case EPIPE:
		return ERR_DROPPED;
	case ETIMEDOUT:
	case EAGAIN:
	case EIO:
		return ERR_TRANSIENT;
	case EACCES:
	case EPERM:
		return ERR_REFUSED;
	case EPROTO:
		return ERR_PROTOCOL;
	default:
		return ERR_OTHER;
	}
}

/* Nothing answers at the server's address. */
int err_is_unreachable(int negerrno)
{
	return err_class_of(negerrno) == ERR_UNREACHABLE;
}

/* No usable answer now, maybe later. */
int err_is_unavailable(int negerrno)
{
	enum err_class c = err_class_of(negerrno);

	return c == ERR_UNREACHABLE || c == ERR_DROPPED || c == ERR_TRANSIENT;
}

/* Failures to reach or talk to the server become EIO. */
int err_for_user(int negerrno)
{
	int e = negerrno < 0 ? -negerrno : negerrno;

	switch (err_class_of(e)) {
	case ERR_UNREACHABLE:
	case ERR_DROPPED:
	case ERR_PROTOCOL:
		return EIO;
	default:
		return e;
	}
}
