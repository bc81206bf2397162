/* test_errors: the one failure taxonomy (util/errors.h). */
#include <errno.h>

#include "tap.h"
#include "util/errors.h"

int main(void)
{
	static const int unreachable[] = {ECONNREFUSED, EHOSTUNREACH,
					  ENETUNREACH};
	static const int unavailable[] = {ECONNRESET, ENOTCONN, EPIPE,
					  ETIMEDOUT,  EAGAIN,	EIO};
	static const int other[] = {ENOENT, EACCES, ENOMEM, EFBIG, EPROTO};
	size_t i;

	for (i = 0; i < sizeof(unreachable) / sizeof(*unreachable); i++) {
		ok(err_is_unreachable(-unreachable[i]), "unreachable");
		ok(err_is_unavailable(-unreachable[i]),
		   "unreachable is unavailable");
		is_int(err_for_user(-unreachable[i]), EIO,
		       "unreachable → EIO for the user");
	}
	for (i = 0; i < sizeof(unavailable) / sizeof(*unavailable); i++) {
		ok(!err_is_unreachable(-unavailable[i]),
		   "dropped/transient is not unreachable");
		ok(err_is_unavailable(-unavailable[i]),
		   "dropped/transient is unavailable");
	}
	for (i = 0; i < sizeof(other) / sizeof(*other); i++)
		ok(!err_is_unavailable(-other[i]), "not worth a retry");
	is_int(err_for_user(-ECONNRESET), EIO, "reset → EIO");
	is_int(err_for_user(-ENOTCONN), EIO, "not connected → EIO");
	is_int(err_for_user(-EPROTO), EIO, "bad answer → EIO");
	is_int(err_for_user(-ETIMEDOUT), ETIMEDOUT, "timeout passed on");
	is_int(err_for_user(-EAGAIN), EAGAIN, "EAGAIN passed on");
	is_int(err_for_user(EACCES), EACCES, "positive errno accepted");
	is_int(err_class_of(-EACCES), ERR_REFUSED, "EACCES is refused");
	is_int(err_class_of(-EPROTO), ERR_PROTOCOL, "EPROTO is protocol");
	is_int(err_class_of(-ENOENT), ERR_OTHER, "ENOENT is other");
	return tap_done();
}
