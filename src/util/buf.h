/* buf: a growable byte buffer with a hard size cap.
 *
 * Invariants: data is always NUL-terminated (data[len] == 0) once anything
 * was appended, so text can be used as a C string; len never exceeds cap.
 * A buffer initialised with BUF_INIT needs no allocation until first use. */
#ifndef DSPACEFS_BUF_H
#define DSPACEFS_BUF_H

#include <stddef.h>
#include <stdarg.h>

/* Every append can fail (the cap, or memory), and the compiler insists that
 * its result is used. There is no sticky error flag: a failed append leaves
 * the buffer as it was, and the caller decides at once - propagate the
 * error (usually -ENOMEM), or, where a cut-short text is fine, say so at the
 * call. A chain of appends reads as "if (buf_adds(..) || buf_addf(..))". */
#define BUF_MUST_CHECK __attribute__((warn_unused_result))

struct buf {
	char *data;
	size_t len;
	size_t alloc;
	size_t cap; /* hard limit on len; 0 means the default of 64 MiB */
};

#define BUF_INIT                                                               \
	{                                                                      \
		NULL, 0, 0, 0                                                  \
	}

void buf_init(struct buf *b, size_t cap);
/* Appends n bytes; returns 0, or -ENOSPC when the cap would be exceeded,
 * or -ENOMEM. On failure the buffer is unchanged. */
int buf_add(struct buf *b, const void *data, size_t n) BUF_MUST_CHECK;
int buf_adds(struct buf *b, const char *s) BUF_MUST_CHECK;
int buf_addf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3))) BUF_MUST_CHECK;
/* Appends s percent-encoded for a URL query value (RFC 3986 unreserved kept).
 */
int buf_add_urlencoded(struct buf *b, const char *s) BUF_MUST_CHECK;
void buf_reset(struct buf *b);
/* Hands the data to the caller (to free()); the buffer is left empty.
 * Returns "" (allocated) for an empty buffer, NULL only on ENOMEM. */
char *buf_detach(struct buf *b, size_t *len) BUF_MUST_CHECK;
void buf_release(struct buf *b);

#endif
