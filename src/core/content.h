/* content: the on-disk content cache. No HTTP here (reader.c fills it).
 *
 * One sparse file per bitstream under cache_dir/content (dir 0700, files
 * 0600), named <uuid>-<md5> and keyed by UUID + MD5: bitstream content never
 * changes in place, so that pair names the same bytes forever. A block map
 * (CONTENT_BLOCK bytes per block, the last block may be short) records which
 * blocks hold downloaded data; it is kept next to the data file as
 * <uuid>-<md5>.map, replaced atomically (write + rename) now and then and on
 * the last close, so a remount reuses what was downloaded. A bitstream whose
 * MD5 is unknown gets a private, already unlinked temporary file per open
 * that is never shared or reused.
 *
 * Entries are refcounted: all opens of the same bitstream share one entry
 * (one file descriptor, one map). The total allocation of the cache
 * (st_blocks-based) is kept at or below cache_max by evicting the least
 * recently used entries that are not open (last use = the map file's
 * mtime); when open entries alone exceed the cap, blocks far behind the
 * last read position are released with FALLOC_FL_PUNCH_HOLE (and marked
 * missing again), so a large sequential read works with a small cap.
 *
 * The cap in force is cache_max, lowered to what the cache holds plus the
 * free space of its filesystem less a margin (5% of the filesystem, at
 * most 256 MiB), checked every few seconds. A write that finds the disk
 * full anyway (ENOSPC, EDQUOT: another program filled it) evicts least
 * recently used closed entries and retries; when nothing is left to evict
 * the entry moves to memory mode: its data lives in an anonymous memory
 * file (memfd) of at most MEM_CAP bytes around the reader, nothing of it
 * is kept on disk, and it is forgotten at its last close. Later opens try
 * the disk again, so reads keep working while the disk is full and use it
 * again once there is room, without a remount.
 *
 * Thread safe: one mutex per entry plus one for the index. Data I/O
 * (pwrite, MD5 reads) is done without holding either. */
#ifndef DSPACEFS_CONTENT_H
#define DSPACEFS_CONTENT_H

#include <stdint.h>
#include <stddef.h>

#define CONTENT_BLOCK (64 * 1024)
/* What O_DIRECT asks of offsets, lengths and buffers (content_write_direct,
 * content_read): callers that want it align their buffers to this. */
#define CONTENT_DIRECT_ALIGN 4096

struct content;
struct content_entry;

/* Opens (creating 0700 if needed) cache_dir/content, indexes what a previous
 * mount left there and removes debris (orphan files, stale temporaries).
 * cache_max 0 → 1 GiB. NULL on failure with a reason in err. */
struct content *content_new(const char *cache_dir, uint64_t cache_max,
			    char *err, size_t errlen);
/* Persists the maps of entries still open and frees everything. Entries
 * must not be used afterwards. */
void content_free(struct content **c);

/* Opens (or shares) the entry of a bitstream. md5 may be "" or NULL when
 * unknown: then the entry is a private temporary file. size >= 0.
 * 0 or -errno (EINVAL for a malformed uuid). */
int content_open(struct content *c, const char *uuid, const char *md5,
		 int64_t size, struct content_entry **out);
/* Drops one reference; the last one persists the map and closes the file. */
void content_close(struct content_entry **e);

/* The data file's descriptor (pread/splice from it at the file offset);
 * valid while the entry is open. */
int content_fd(const struct content_entry *e);
int64_t content_size(const struct content_entry *e);

/* Writes len bytes at off (pwrite) and marks the blocks the write covers
 * completely (a short last block counts when the write reaches EOF) as
 * present; may evict to respect the cap. 0 or -errno. */
int content_write(struct content_entry *e, uint64_t off, const void *data,
		  size_t len);
/* The same, but the page-aligned part of a page-aligned data and off goes
 * to the disk with O_DIRECT (where the filesystem allows it): for bytes
 * the caller keeps in memory for its readers, so that the cache file
 * takes no page cache (and no copy) of its own. Readers of the file get
 * the same bytes either way. */
int content_write_direct(struct content_entry *e, uint64_t off,
			 const void *data, size_t len);
/* Reads [off, off+len) into buf when all of it is present: 0, -EAGAIN
 * when not (or the entry moved to memory meanwhile), other -errno. With
 * O_DIRECT where buf and off are page-aligned: bytes written by
 * content_write_direct are not in the page cache, and reading them
 * through it would allocate it and copy them once more. */
int content_read(struct content_entry *e, uint64_t off, void *buf, size_t len);
/* The descriptor to read [off, off+len) from, when all of it is present
 * in it; -1 when not (e.g. the entry just moved to memory: ask again). */
int content_fd_present(struct content_entry *e, uint64_t off, uint64_t len);
/* The cap that applies to this entry: the cache's, or MEM_CAP (16 MiB)
 * in memory mode (readers should not run further ahead than a quarter). */
uint64_t content_entry_cap(struct content_entry *e);
/* How many bytes from off on (at most len) are present contiguously. */
uint64_t content_present(struct content_entry *e, uint64_t off, uint64_t len);
/* The start of the first missing block at or after the block holding off
 * (so it may be below off), or the size when nothing is missing. */
uint64_t content_missing_from(struct content_entry *e, uint64_t off);
/* The first present byte at or after off (a block start), or the size. */
uint64_t content_present_from(struct content_entry *e, uint64_t off);
/* 1 when every block is present. */
int content_complete(struct content_entry *e);

/* Streams the whole file through MD5 and compares with the entry's MD5.
 * 0 on a match (remembered in the map: later calls return 0 at once),
 * 1 when no MD5 is known, -EIO on a mismatch, -EAGAIN when the file is
 * not complete, other -errno on read errors. */
int content_verify_md5(struct content_entry *e);
/* The same, giving up with -ECANCELED as soon as *stop becomes non-zero
 * (read atomically), so that closing a file need not wait for it. */
int content_verify_md5_stoppable(struct content_entry *e, const int *stop);
/* Records that the bytes written into the entry had MD5 hex (computed by
 * the caller as they arrived in order): 0 and the entry is verified (and
 * stays so across mounts) when hex is the entry's MD5 and every block is
 * present; -EIO when hex differs; -EAGAIN when blocks are missing. */
int content_mark_verified(struct content_entry *e, const char *hex);
/* 1 once content_verify_md5 succeeded (in this or an earlier mount). */
int content_verified(struct content_entry *e);

/* Forgets all downloaded data of the entry (after an MD5 mismatch): every
 * block becomes missing and the space is released. */
void content_drop(struct content_entry *e);

/* Forgets the data of a private entry (MD5 unknown) and gives it another
 * size: a cover page's served length (core/cover.h). 0 or -errno
 * (EINVAL for a shared entry). */
int content_resize(struct content_entry *e, int64_t size);
/* Tells the cache where reading happens (for LRU and for punching holes
 * far behind the reader). */
void content_note_read(struct content_entry *e, uint64_t off, uint64_t len);

/* Persists the entry's map now (normally done periodically and on close). */
int content_sync(struct content_entry *e);

/* Bytes the cache currently accounts for, and the cap. */
uint64_t content_usage(struct content *c);
uint64_t content_cap(const struct content *c);
/* The figures of the filesystem holding the cache (fstatvfs). 0/-errno. */
struct statvfs;
int content_space(const struct content *c, struct statvfs *out);

/* --- MD5 (RFC 1321), exposed for reader.c and the unit tests --- */
struct content_md5 {
	uint32_t state[4];
	uint64_t count; /* bytes */
	unsigned char buf[64];
};
void content_md5_init(struct content_md5 *m);
void content_md5_update(struct content_md5 *m, const void *data, size_t len);
/* Writes 32 lower-case hex digits and a NUL into hex[33]. */
void content_md5_final(struct content_md5 *m, char hex[33]);

#endif
