/* reader: file content. Streams /bitstreams/{uuid}/content with HTTP Range
 * into the on-disk content cache (content.h) and serves reads from there.
 *
 * Sequential readers share a few ranged streams per file whose request
 * window grows (e.g. 256 KiB doubling, bounded by the memory below) and
 * runs ahead of the reader; they are answered from the streams' buffers
 * while those hold the bytes (at most 24 MiB per mount), and the cache is
 * written behind them. Random readers get small windows around the offset. A
 * reply is accepted only if it is 206 with a matching Content-Range; a 200
 * means the server or a proxy ignored Range: that file (only that one) is
 * then filled by one sequential stream from offset 0 into the cache, in the
 * same bounded memory. A stream that breaks mid-body is resumed
 * from the last byte received; 5xx and timeouts are retried with backoff.
 * A file that is complete in the cache is checked against its MD5 once; a
 * mismatch is logged, the cached copy dropped, and reads fail with EIO.
 * A PDF the server serves with a citation cover page is read whole, one
 * document per open file, and never checked against the MD5 (cover.h).
 * Memory stays bounded whatever the file size. Thread safe. */
#ifndef DSPACEFS_READER_H
#define DSPACEFS_READER_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "dspace/dspace.h"

struct reader;
struct reader_file;

struct reader_config {
	const char *cache_dir; /* content lives in cache_dir/content (0700) */
	uint64_t cache_max;    /* bytes; LRU eviction above it; 0 → 1 GiB */
	int retry_budget;      /* seconds a read waits (and retries) without
				* any data arriving before it fails with EIO;
				* 0 → 60 */
	int streams;	       /* parallel ranged requests of one sequential
				* reader (the next window in flight while one
				* streams); 0 → 3, at most 8 */
};

struct reader *reader_new(struct session *s, const struct reader_config *cfg,
			  char *err, size_t errlen);
/* Aborts transfers in flight (pending reads fail with EIO) and frees. */
void reader_free(struct reader **r);

/* Opens a bitstream for reading. md5 may be "" when unknown (then nothing
 * is verified and nothing is cached across opens). size < 0 means unknown
 * (see reader_size). 0 or -errno. */
int reader_open(struct reader *r, const char *uuid, const char *md5,
		int64_t size, struct reader_file **out);

/* Reads up to size bytes at off into buf; returns the count (0 at EOF) or
 * -errno (EACCES when the server refuses, EIO, ENOTCONN ...). The time
 * contract: a read during which no data arrives for retry_budget seconds
 * fails with EIO within about a second after that (HTTP transfers of the
 * read stop at the same moment: rest_content_req.stall_ms); every byte that
 * arrives restarts the clock. Reads of the same range right after such a
 * failure fail at once until data arrives again or the budget has passed. */
ssize_t reader_read(struct reader_file *f, char *buf, size_t size, off_t off);

/* Zero-copy variant: waits until [off, off+size) (clamped to the file size)
 * is in the cache file, then returns its length and sets *fd to a
 * descriptor the caller may pread/splice from at the same offset (valid
 * until reader_close). Returns the count, 0 at EOF, or -errno. */
ssize_t reader_prepare(struct reader_file *f, size_t size, off_t off, int *fd);

/* Bytes of a read answered from memory (reader_prepare_mem). */
struct reader_mem {
	struct iovec iov[2];
	int n; /* iovecs; 0: read from the descriptor instead */
	int idx[2];
	void *pin; /* what keeps the bytes until reader_release */
};
/* The same as reader_prepare, but when a sequential stream still holds
 * the bytes in memory (core/chunks.h), m->n > 0, m->iov has them and *fd
 * is -1: the caller replies from m->iov, then calls reader_release (also
 * valid after reader_close of f). The bytes are those of the cache. */
ssize_t reader_prepare_mem(struct reader_file *f, size_t size, off_t off,
			   int *fd, struct reader_mem *m);
void reader_release(struct reader_mem *m);

void reader_close(struct reader_file **f);

/* The size of a bitstream whose JSON gave none (sizeBytes missing,
 * negative or absurd), asked from the server once per mount (a ranged GET
 * of its first byte) and remembered for the last few bitstreams. 0, or
 * -EIO when the server does not tell it. */
int reader_size(struct reader *r, const char *uuid, int64_t *size);

/* Citation cover pages (core/cover.h): the bitstreams seen with one,
 * and the size of the document a handle reads (-1: the stored file, as
 * sizeBytes says). */
struct cover_table *reader_covers(struct reader *r);
int64_t reader_served_size(struct reader_file *f);

/* The content cache's use and capacity, bytes (status file, statfs). */
void reader_cache_use(struct reader *r, uint64_t *used, uint64_t *cap);
/* statvfs of the filesystem holding the content cache and the spool
 * (statfs of the mount). 0 or -errno (-ENOENT without a cache). */
struct statvfs;
int reader_space(struct reader *r, struct statvfs *out);

#endif
