/* content: sparse cache files with a block map, LRU eviction under a hard
 * cap, and MD5 (RFC 1321). See content.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>

#include "core/content.h"
#include "util/log.h"

#define MAP_MAGIC "DSFSMAP1"
#define MAP_HDR 24 /* magic 8, size 8, block 4, flags 4 */
#define MAP_VERIFIED 1u
#define PERSIST_EVERY 2 /* seconds between periodic map writes */
#define KEY_LEN 69	/* 36 (uuid) + '-' + 32 (md5) */
#define KEYBUF 80
#define NAMEBUF 128	    /* a key plus ".map.tmp" */
#define MEM_CAP (16u << 20) /* memory an entry in memory mode may hold */
#define CAP_CHECK_EVERY 2   /* seconds between free-space checks */
#define FREE_MARGIN_MAX (256ull << 20) /* see refresh_cap */

struct content_entry {
	struct content *c;
	struct content_entry *prev, *next;
	char key[KEYBUF];
	char md5[33];
	int temp; /* private unlinked file, not indexed */
	int64_t size;
	/* under c->lock */
	int refs;
	uint64_t alloc;	   /* bytes this entry accounts for */
	uint64_t last_use; /* ns; the map's mtime for closed entries */
	/* under lock (only meaningful while refs > 0) */
	pthread_mutex_t lock;
	int fd;
	uint8_t *map;
	uint64_t nblocks;
	uint64_t npresent;
	uint64_t
	    low_hint; /* no present block below this index (for punching) */
	uint64_t read_pos; /* end of the most recent read */
	int verified;
	int dirty;
	int persisting;
	time_t persisted_at;
	/* Memory mode: the disk was full, so the data lives in a memfd (fd)
	 * from then on; the disk file stays open (oldfd, untouched) for reads
	 * that found their bytes there, and is removed at the last close. */
	int mem;
	int oldfd;
	/* The data file opened again with O_DIRECT (content_write_direct),
	 * -1 until first needed; no_direct once the filesystem refused it. */
	int dfd;
	int no_direct;
};

struct content {
	char *dir;
	int dirfd;
	uint64_t cap; /* in force: max, less when the disk has less room */
	uint64_t max; /* cache_max */
	time_t cap_checked;
	pthread_mutex_t lock;
	struct content_entry
	    *head; /* indexed entries (open or not) and temps */
	uint64_t usage;
	unsigned tmp_counter;
};

/* ---- MD5 (RFC 1321) ---------------------------------------------------- */

/* One step of round 1-4: a = b + ((a + F(b,c,d) + x + t) <<< s). The steps
 * are written out (not looped over tables) so that the compiler keeps the
 * state in registers and the shifts constant: about twice the speed of the
 * looped version, close to OpenSSL's assembly on x86-64 (measured in
 * doc/benchmarks.md). */
#define MD5_F(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define MD5_G(x, y, z) ((y) ^ ((z) & ((x) ^ (y))))
#define MD5_H(x, y, z) ((x) ^ (y) ^ (z))
#define MD5_I(x, y, z) ((y) ^ ((x) | ~(z)))
#define MD5_STEP(f, a, b, c, d, x, t, s)                                       \
	do {                                                                   \
		(a) += f((b), (c), (d)) + (x) + (uint32_t)(t);                 \
		(a) = ((a) << (s)) | ((a) >> (32 - (s)));                      \
		(a) += (b);                                                    \
	} while (0)
#define MD5_R4(f, i0, i1, i2, i3, t0, t1, t2, t3, s0, s1, s2, s3)              \
	do {                                                                   \
		MD5_STEP(f, a, b, c, d, w[i0], t0, s0);                        \
		MD5_STEP(f, d, a, b, c, w[i1], t1, s1);                        \
		MD5_STEP(f, c, d, a, b, w[i2], t2, s2);                        \
		MD5_STEP(f, b, c, d, a, w[i3], t3, s3);                        \
	} while (0)

/* Processes one 64-byte block. */
static void md5_block(uint32_t st[4], const unsigned char *p)
{
	uint32_t w[16], a = st[0], b = st[1], c = st[2], d = st[3];
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[i * 4] | (uint32_t)p[i * 4 + 1] << 8 |
		       (uint32_t)p[i * 4 + 2] << 16 |
		       (uint32_t)p[i * 4 + 3] << 24;
	MD5_R4(MD5_F, 0, 1, 2, 3, 0xd76aa478, 0xe8c7b756, 0x242070db,
	       0xc1bdceee, 7, 12, 17, 22);
	MD5_R4(MD5_F, 4, 5, 6, 7, 0xf57c0faf, 0x4787c62a, 0xa8304613,
	       0xfd469501, 7, 12, 17, 22);
	MD5_R4(MD5_F, 8, 9, 10, 11, 0x698098d8, 0x8b44f7af, 0xffff5bb1,
	       0x895cd7be, 7, 12, 17, 22);
	MD5_R4(MD5_F, 12, 13, 14, 15, 0x6b901122, 0xfd987193, 0xa679438e,
	       0x49b40821, 7, 12, 17, 22);
	MD5_R4(MD5_G, 1, 6, 11, 0, 0xf61e2562, 0xc040b340, 0x265e5a51,
	       0xe9b6c7aa, 5, 9, 14, 20);
	MD5_R4(MD5_G, 5, 10, 15, 4, 0xd62f105d, 0x02441453, 0xd8a1e681,
	       0xe7d3fbc8, 5, 9, 14, 20);
	MD5_R4(MD5_G, 9, 14, 3, 8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87,
	       0x455a14ed, 5, 9, 14, 20);
	MD5_R4(MD5_G, 13, 2, 7, 12, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9,
	       0x8d2a4c8a, 5, 9, 14, 20);
	MD5_R4(MD5_H, 5, 8, 11, 14, 0xfffa3942, 0x8771f681, 0x6d9d6122,
	       0xfde5380c, 4, 11, 16, 23);
	MD5_R4(MD5_H, 1, 4, 7, 10, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60,
	       0xbebfbc70, 4, 11, 16, 23);
	MD5_R4(MD5_H, 13, 0, 3, 6, 0x289b7ec6, 0xeaa127fa, 0xd4ef3085,
	       0x04881d05, 4, 11, 16, 23);
	MD5_R4(MD5_H, 9, 12, 15, 2, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8,
	       0xc4ac5665, 4, 11, 16, 23);
	MD5_R4(MD5_I, 0, 7, 14, 5, 0xf4292244, 0x432aff97, 0xab9423a7,
	       0xfc93a039, 6, 10, 15, 21);
	MD5_R4(MD5_I, 12, 3, 10, 1, 0x655b59c3, 0x8f0ccc92, 0xffeff47d,
	       0x85845dd1, 6, 10, 15, 21);
	MD5_R4(MD5_I, 8, 15, 6, 13, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314,
	       0x4e0811a1, 6, 10, 15, 21);
	MD5_R4(MD5_I, 4, 11, 2, 9, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
	       0xeb86d391, 6, 10, 15, 21);
	st[0] += a;
	st[1] += b;
	st[2] += c;
	st[3] += d;
}

/* Starts a new digest. */
void content_md5_init(struct content_md5 *m)
{
	m->state[0] = 0x67452301;
	m->state[1] = 0xefcdab89;
	m->state[2] = 0x98badcfe;
	m->state[3] = 0x10325476;
	m->count = 0;
}

/* Feeds len bytes into the digest. */
void content_md5_update(struct content_md5 *m, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t have = m->count & 63;

	m->count += len;
	if (have) {
		size_t n = 64 - have < len ? 64 - have : len;

		memcpy(m->buf + have, p, n);
		p += n;
		len -= n;
		if (have + n < 64)
			return;
		md5_block(m->state, m->buf);
	}
	for (; len >= 64; p += 64, len -= 64)
		md5_block(m->state, p);
	memcpy(m->buf, p, len);
}

/* Pads, finishes and writes the digest as hex. */
void content_md5_final(struct content_md5 *m, char hex[33])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char pad[72] = {0x80};
	uint64_t bits = m->count * 8;
	size_t have = m->count & 63;
	size_t padlen = have < 56 ? 56 - have : 120 - have;
	int i;

	for (i = 0; i < 8; i++)
		pad[padlen + i] = (unsigned char)(bits >> (8 * i));
	content_md5_update(m, pad, padlen + 8);
	for (i = 0; i < 16; i++) {
		unsigned char byte =
		    (unsigned char)(m->state[i / 4] >> (8 * (i % 4)));

		hex[i * 2] = digits[byte >> 4];
		hex[i * 2 + 1] = digits[byte & 15];
	}
	hex[32] = 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* Whether s is n characters of hex digits and dashes (a UUID or an MD5). */
static int hexish(const char *s, size_t n, int dashes)
{
	size_t i;

	if (strlen(s) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) && !(dashes && s[i] == '-'))
			return 0;
	return 1;
}

/* Bytes in block b of a file of the entry's size. */
static uint64_t block_len(const struct content_entry *e, uint64_t b)
{
	uint64_t start = b * CONTENT_BLOCK;
	uint64_t end = start + CONTENT_BLOCK;

	if (end > (uint64_t)e->size)
		end = (uint64_t)e->size;
	return end > start ? end - start : 0;
}

static int bit_get(const uint8_t *map, uint64_t b)
{
	return map[b >> 3] & (1u << (b & 7));
}

static void bit_set(uint8_t *map, uint64_t b)
{
	map[b >> 3] |= (uint8_t)(1u << (b & 7));
}

static void bit_clear(uint8_t *map, uint64_t b)
{
	map[b >> 3] &= (uint8_t) ~(1u << (b & 7));
}

static uint64_t map_bytes(uint64_t nblocks)
{
	return (nblocks + 7) / 8;
}

/* Wall-clock nanoseconds: the LRU clock (comparable with file mtimes). */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The allocated size of a file in bytes, from st_blocks. */
static uint64_t file_alloc(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return 0;
	return (uint64_t)st.st_blocks * 512;
}

/* Writes the entry's map atomically (tmp + rename). Caller holds no lock. */
static int persist_map(struct content_entry *e)
{
	struct content *c = e->c;
	char tmp[NAMEBUF], name[NAMEBUF];
	unsigned char hdr[MAP_HDR];
	uint64_t n, size = (uint64_t)e->size;
	uint32_t block = CONTENT_BLOCK, flags;
	uint8_t *copy = NULL;
	int fd = -1, rc = 0, i;
	ssize_t w;

	if (e->temp)
		return 0;
	pthread_mutex_lock(&e->lock);
	if (e->persisting || !e->map || e->mem) {
		pthread_mutex_unlock(&e->lock);
		return 0;
	}
	n = map_bytes(e->nblocks);
	copy = malloc(n ? n : 1);
	if (!copy) {
		pthread_mutex_unlock(&e->lock);
		return -ENOMEM;
	}
	memcpy(copy, e->map, n);
	flags = e->verified ? MAP_VERIFIED : 0;
	e->persisting = 1;
	e->dirty = 0;
	e->persisted_at = time(NULL);
	pthread_mutex_unlock(&e->lock);

	memcpy(hdr, MAP_MAGIC, 8);
	for (i = 0; i < 8; i++)
		hdr[8 + i] = (unsigned char)(size >> (8 * i));
	for (i = 0; i < 4; i++) {
		hdr[16 + i] = (unsigned char)(block >> (8 * i));
		hdr[20 + i] = (unsigned char)(flags >> (8 * i));
	}
	snprintf(name, sizeof(name), "%s.map", e->key);
	snprintf(tmp, sizeof(tmp), "%s.map.tmp", e->key);
	fd = openat(c->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	w = write(fd, hdr, sizeof(hdr));
	if (w == (ssize_t)sizeof(hdr) && n && write(fd, copy, n) != (ssize_t)n)
		w = -1;
	if (w != (ssize_t)sizeof(hdr)) {
		rc = -EIO;
		unlinkat(c->dirfd, tmp, 0);
		goto out;
	}
	if (renameat(c->dirfd, tmp, c->dirfd, name) < 0) {
		rc = -errno;
		unlinkat(c->dirfd, tmp, 0);
	}
out:
	if (fd >= 0)
		close(fd);
	if (rc) {
		/* An older map may list blocks punched since: without a map
		 * the next mount starts this file afresh, never trusts it. */
		unlinkat(c->dirfd, name, 0);
		log_warn("content: cannot write block map %s: %s", name,
			 strerror(-rc));
	}
	free(copy);
	pthread_mutex_lock(&e->lock);
	e->persisting = 0;
	if (rc)
		e->dirty = 1;
	pthread_mutex_unlock(&e->lock);
	return rc;
}

/* Reads the map file into e (fresh map when it is missing or does not fit).
 * Returns 1 when a valid map was loaded. */
static int load_map(struct content_entry *e)
{
	char name[NAMEBUF];
	unsigned char hdr[MAP_HDR];
	uint64_t size = 0, n = map_bytes(e->nblocks), b;
	uint32_t block = 0, flags = 0;
	int fd, i, okay = 0;

	snprintf(name, sizeof(name), "%s.map", e->key);
	fd = openat(e->c->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (read(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr) ||
	    memcmp(hdr, MAP_MAGIC, 8))
		goto out;
	for (i = 0; i < 8; i++)
		size |= (uint64_t)hdr[8 + i] << (8 * i);
	for (i = 0; i < 4; i++) {
		block |= (uint32_t)hdr[16 + i] << (8 * i);
		flags |= (uint32_t)hdr[20 + i] << (8 * i);
	}
	if (size != (uint64_t)e->size || block != CONTENT_BLOCK)
		goto out;
	if (n && read(fd, e->map, n) != (ssize_t)n)
		goto out;
	okay = 1;
	e->verified = !!(flags & MAP_VERIFIED);
	for (b = 0; b < e->nblocks; b++)
		if (bit_get(e->map, b))
			e->npresent++;
out:
	close(fd);
	if (!okay) {
		memset(e->map, 0, n);
		e->npresent = 0;
		e->verified = 0;
	}
	return okay;
}

/* Unlinks an entry's files and frees it. Caller holds c->lock; refs == 0. */
static void remove_entry(struct content *c, struct content_entry *e)
{
	char name[NAMEBUF];

	if (!e->temp) {
		unlinkat(c->dirfd, e->key, 0);
		snprintf(name, sizeof(name), "%s.map", e->key);
		unlinkat(c->dirfd, name, 0);
	}
	c->usage = c->usage > e->alloc ? c->usage - e->alloc : 0;
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	pthread_mutex_destroy(&e->lock);
	free(e->map);
	free(e);
}

/* Releases present blocks of an open entry that lie far behind its last
 * read. Caller holds c->lock. Returns the bytes released. */
static uint64_t punch_behind(struct content *c, struct content_entry *e)
{
	uint64_t margin = c->cap / 8, limit, b, run = 0, freed = 0;

	if (margin < 2 * CONTENT_BLOCK)
		margin = 2 * CONTENT_BLOCK;
	pthread_mutex_lock(&e->lock);
	if (!e->map || e->read_pos <= margin)
		goto out;
	limit = (e->read_pos - margin) / CONTENT_BLOCK;
	if (limit > e->nblocks)
		limit = e->nblocks;
	for (b = e->low_hint; b <= limit; b++) {
		if (b < limit && bit_get(e->map, b)) {
			bit_clear(e->map, b);
			e->npresent--;
			freed += block_len(e, b);
			run++;
			continue;
		}
		if (run) {
			/* Best effort: a failure only costs disk space. */
			if (fallocate(e->fd,
				      FALLOC_FL_PUNCH_HOLE |
					  FALLOC_FL_KEEP_SIZE,
				      (off_t)((b - run) * CONTENT_BLOCK),
				      (off_t)(run * CONTENT_BLOCK)) < 0)
				log_debug("content: punch hole: %s",
					  strerror(errno));
			run = 0;
		}
	}
	if (limit > e->low_hint)
		e->low_hint = limit;
	if (freed) {
		e->verified = 0;
		e->dirty = 1;
	}
out:
	pthread_mutex_unlock(&e->lock);
	return freed;
}

static void refresh_cap(struct content *c, int force);

/* Brings usage under the cap: LRU closed entries first, then holes behind
 * the readers of open ones. Caller holds c->lock. */
static void evict_locked(struct content *c)
{
	struct content_entry *e, *victim;
	uint64_t freed;

	if (c->usage > c->cap) /* is the room really gone? */
		refresh_cap(c, 1);
	while (c->usage > c->cap) {
		victim = NULL;
		for (e = c->head; e; e = e->next)
			if (!e->refs && !e->temp &&
			    (!victim || e->last_use < victim->last_use))
				victim = e;
		if (!victim)
			break;
		log_debug("content: evicting %s (%llu bytes)", victim->key,
			  (unsigned long long)victim->alloc);
		remove_entry(c, victim);
	}
	for (e = c->head; e && c->usage > c->cap; e = e->next) {
		if (!e->refs)
			continue;
		freed = punch_behind(c, e);
		if (freed > e->alloc)
			freed = e->alloc;
		e->alloc -= freed;
		c->usage = c->usage > freed ? c->usage - freed : 0;
	}
}

/* Bounds the cap by the room on the cache's filesystem: never plan to use
 * more than what we hold plus the free space less a margin (5% of the
 * filesystem, at most 256 MiB), so that the cache does not fill the disk
 * for everybody else. Checked at most every CAP_CHECK_EVERY seconds (or
 * at once with force). c->lock held. */
static void refresh_cap(struct content *c, int force)
{
	struct statvfs v;
	uint64_t avail, margin, cap;
	time_t now = time(NULL);

	if (!force && now - c->cap_checked < CAP_CHECK_EVERY)
		return;
	c->cap_checked = now;
	if (fstatvfs(c->dirfd, &v) < 0)
		return;
	avail = (uint64_t)v.f_bavail * v.f_frsize;
	margin = (uint64_t)v.f_blocks * v.f_frsize / 20;
	if (margin > FREE_MARGIN_MAX)
		margin = FREE_MARGIN_MAX;
	cap = c->usage + (avail > margin ? avail - margin : 0);
	if (cap > c->max)
		cap = c->max;
	if (cap < c->cap && c->cap == c->max)
		log_info("content: the cache filesystem has room for %llu "
			 "MiB only; cache_max lowered from %llu MiB",
			 (unsigned long long)(cap >> 20),
			 (unsigned long long)(c->max >> 20));
	c->cap = cap;
}

/* Removes the least recently used closed entry to make room on a full
 * disk. 1 when one was removed. */
static int evict_one(struct content *c)
{
	struct content_entry *e, *victim = NULL;

	pthread_mutex_lock(&c->lock);
	for (e = c->head; e; e = e->next)
		if (!e->refs && !e->temp &&
		    (!victim || e->last_use < victim->last_use))
			victim = e;
	if (victim) {
		log_info("content: disk full: evicting %s", victim->key);
		remove_entry(c, victim);
	}
	refresh_cap(c, 1);
	pthread_mutex_unlock(&c->lock);
	return victim != NULL;
}

/* Moves an entry whose disk file cannot grow into memory (if it still
 * writes to fd): blocks already on disk are forgotten, the disk file
 * stays open but unused. 0 or -errno. */
static int to_memory(struct content_entry *e, int fd)
{
	int mfd, rc = 0;
	char name[NAMEBUF];

	pthread_mutex_lock(&e->lock);
	if (e->fd != fd)
		goto out; /* another writer switched it already */
	if (e->mem) {
		rc = -ENOSPC;
		goto out;
	}
	mfd = memfd_create("dspacefs-content", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, e->size) < 0) {
		rc = -errno;
		if (mfd >= 0)
			close(mfd);
		goto out;
	}
	log_warn("content: no space left for %s in %s: this file is served "
		 "without caching on disk",
		 e->key, e->c->dir);
	if (!e->temp) {
		snprintf(name, sizeof(name), "%s.map", e->key);
		unlinkat(e->c->dirfd, name, 0);
	}
	e->oldfd = e->fd;
	e->fd = mfd;
	e->mem = 1;
	memset(e->map, 0, map_bytes(e->nblocks));
	e->npresent = 0;
	e->low_hint = 0;
	e->verified = 0;
out:
	pthread_mutex_unlock(&e->lock);
	return rc;
}

/* Memory mode: releases blocks outside the window around the last read
 * once the entry holds more than MEM_CAP. e->lock held. */
static void mem_trim(struct content_entry *e)
{
	uint64_t lo, hi, b;

	if (!e->mem || e->npresent * (uint64_t)CONTENT_BLOCK <= MEM_CAP)
		return;
	lo = e->read_pos > MEM_CAP / 4 ? (e->read_pos - MEM_CAP / 4) : 0;
	hi = e->read_pos + MEM_CAP / 2;
	lo /= CONTENT_BLOCK;
	hi /= CONTENT_BLOCK;
	for (b = 0; b < e->nblocks; b++) {
		if ((b >= lo && b < hi) || !bit_get(e->map, b))
			continue;
		bit_clear(e->map, b);
		e->npresent--;
		if (fallocate(e->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(b * CONTENT_BLOCK), CONTENT_BLOCK) < 0)
			log_debug("content: punch hole: %s", strerror(errno));
	}
	e->low_hint = 0;
}

/* Allocates an entry struct and links it into the index. c->lock held. */
static struct content_entry *entry_new(struct content *c, const char *key,
				       const char *md5, int64_t size)
{
	struct content_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->c = c;
	snprintf(e->key, sizeof(e->key), "%s", key);
	snprintf(e->md5, sizeof(e->md5), "%s", md5 ? md5 : "");
	e->size = size;
	e->fd = -1;
	e->oldfd = -1;
	e->dfd = -1;
	pthread_mutex_init(&e->lock, NULL);
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	return e;
}

/* Indexes what an earlier mount left in the directory; removes debris. */
static void scan_dir(struct content *c)
{
	DIR *d;
	struct dirent *de;
	struct stat st, mst;
	int fd = dup(c->dirfd);
	char name[512];

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		struct content_entry *e;

		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		if (len == KEY_LEN + 4 && !strcmp(n + KEY_LEN, ".map")) {
			/* handled with its data file */
			memcpy(name, n, KEY_LEN);
			name[KEY_LEN] = 0;
			if (fstatat(c->dirfd, name, &st, 0) < 0)
				unlinkat(c->dirfd, n, 0);
			continue;
		}
		if (len != KEY_LEN) {
			unlinkat(c->dirfd, n, 0); /* tmp-*, *.map.tmp, junk */
			continue;
		}
		snprintf(name, sizeof(name), "%s.map", n);
		if (fstatat(c->dirfd, n, &st, 0) < 0 || !S_ISREG(st.st_mode) ||
		    fstatat(c->dirfd, name, &mst, 0) < 0) {
			unlinkat(c->dirfd, n, 0);
			continue;
		}
		e = entry_new(c, n, n + 37, st.st_size);
		if (!e)
			break;
		e->alloc = (uint64_t)st.st_blocks * 512;
		e->last_use = (uint64_t)mst.st_mtim.tv_sec * 1000000000ull +
			      (uint64_t)mst.st_mtim.tv_nsec;
		c->usage += e->alloc;
	}
	closedir(d);
}

/* ---- public API -----------------------------------------------------------
 */

/* Opens the cache directory and indexes it. */
struct content *content_new(const char *cache_dir, uint64_t cache_max,
			    char *err, size_t errlen)
{
	struct content *c = calloc(1, sizeof(*c));
	size_t n;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->dirfd = -1;
	c->cap = c->max = cache_max ? cache_max : (1ull << 30);
	pthread_mutex_init(&c->lock, NULL);
	n = strlen(cache_dir);
	c->dir = malloc(n + sizeof("/content"));
	if (!c->dir) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	memcpy(c->dir, cache_dir, n);
	memcpy(c->dir + n, "/content", sizeof("/content"));
	if (mkdir(cache_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", cache_dir,
			 strerror(errno));
		goto fail;
	}
	if (mkdir(c->dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", c->dir,
			 strerror(errno));
		goto fail;
	}
	c->dirfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", c->dir,
			 strerror(errno));
		goto fail;
	}
	/* Our directory, our rules: cached content is private. */
	if (fchmod(c->dirfd, 0700) < 0)
		log_warn("content: cannot chmod %s: %s", c->dir,
			 strerror(errno));
	scan_dir(c);
	pthread_mutex_lock(&c->lock);
	refresh_cap(c, 1);
	evict_locked(c);
	pthread_mutex_unlock(&c->lock);
	return c;
fail:
	if (c->dirfd >= 0)
		close(c->dirfd);
	pthread_mutex_destroy(&c->lock);
	free(c->dir);
	free(c);
	return NULL;
}

/* Persists open maps and frees the cache and all entry structs. */
void content_free(struct content **cp)
{
	struct content *c = *cp;
	struct content_entry *e, *next;

	if (!c)
		return;
	for (e = c->head; e; e = next) {
		next = e->next;
		if (e->refs) {
			persist_map(e);
			if (e->fd >= 0)
				close(e->fd);
			if (e->oldfd >= 0)
				close(e->oldfd);
			if (e->dfd >= 0)
				close(e->dfd);
		}
		pthread_mutex_destroy(&e->lock);
		free(e->map);
		free(e);
	}
	close(c->dirfd);
	pthread_mutex_destroy(&c->lock);
	free(c->dir);
	free(c);
	*cp = NULL;
}

/* Opens the data file and map of a freshly referenced entry. c->lock held. */
static int entry_load(struct content *c, struct content_entry *e)
{
	uint64_t n;
	int fd, rc = 0;

	e->nblocks = ((uint64_t)e->size + CONTENT_BLOCK - 1) / CONTENT_BLOCK;
	n = map_bytes(e->nblocks);
	e->map = calloc(1, n ? n : 1);
	if (!e->map)
		return -ENOMEM;
	e->npresent = 0;
	e->low_hint = 0;
	e->read_pos = 0;
	e->verified = 0;
	e->dirty = 0;
	if (e->temp) {
		char name[NAMEBUF];

		snprintf(name, sizeof(name), "%s", e->key);
		fd = openat(c->dirfd, name,
			    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			unlinkat(c->dirfd, name, 0);
	} else {
		fd = openat(c->dirfd, e->key, O_RDWR | O_CREAT | O_CLOEXEC,
			    0600);
	}
	if (fd < 0 && (errno == ENOSPC || errno == EDQUOT)) {
		/* No room for even a new file: memory mode from the start. */
		fd = memfd_create("dspacefs-content", MFD_CLOEXEC);
		e->mem = fd >= 0;
		if (e->mem)
			log_warn("content: no space left in %s: %s is served "
				 "without caching on disk",
				 c->dir, e->key);
	}
	if (fd < 0) {
		rc = -errno;
		log_error("content: cannot open %s/%s: %s", c->dir, e->key,
			  strerror(errno));
		goto out;
	}
	e->fd = fd;
	if (e->mem)
		goto sized;
	if (!e->temp && !load_map(e)) {
		/* Data without a trustworthy map: start afresh. */
		if (ftruncate(fd, 0) < 0) {
			rc = -errno;
			goto out;
		}
		e->dirty = 1;
	}
	c->usage = c->usage > e->alloc ? c->usage - e->alloc : 0;
	e->alloc = file_alloc(fd);
	c->usage += e->alloc;
sized:
	if (ftruncate(fd, e->size) < 0) {
		rc = -errno;
		goto out;
	}
	e->persisted_at = time(NULL);
out:
	if (rc) {
		if (e->fd >= 0)
			close(e->fd);
		e->fd = -1;
		free(e->map);
		e->map = NULL;
	}
	return rc;
}

/* Opens or shares the entry of one bitstream. */
int content_open(struct content *c, const char *uuid, const char *md5,
		 int64_t size, struct content_entry **out)
{
	struct content_entry *e;
	char key[KEYBUF];
	int known, rc;

	*out = NULL;
	if (!uuid || !hexish(uuid, 36, 1) || size < 0)
		return -EINVAL;
	known = md5 && hexish(md5, 32, 0);
	pthread_mutex_lock(&c->lock);
	if (known) {
		snprintf(key, sizeof(key), "%s-%s", uuid, md5);
		for (e = c->head; e; e = e->next)
			if (!e->temp && !strcmp(e->key, key))
				break;
		if (e && e->size != size) {
			/* Same key, other size: the old file is wrong. */
			if (e->refs) {
				rc = -EIO;
				goto out;
			}
			remove_entry(c, e);
			e = NULL;
		}
		if (e && e->refs) {
			e->refs++;
			*out = e;
			rc = 0;
			goto out;
		}
		if (!e)
			e = entry_new(c, key, md5, size);
	} else {
		snprintf(key, sizeof(key), "tmp-%ld-%u", (long)getpid(),
			 ++c->tmp_counter);
		e = entry_new(c, key, "", size);
		if (e)
			e->temp = 1;
	}
	if (!e) {
		rc = -ENOMEM;
		goto out;
	}
	rc = entry_load(c, e);
	if (rc) {
		remove_entry(c, e);
		goto out;
	}
	e->refs = 1;
	e->last_use = now_ns();
	*out = e;
	evict_locked(c);
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Drops a reference; the last one saves the map and closes the file. */
void content_close(struct content_entry **ep)
{
	struct content_entry *e = *ep;
	struct content *c;

	if (!e)
		return;
	*ep = NULL;
	c = e->c;
	/* All under c->lock so that a concurrent content_open cannot see a
	 * half-closed entry; the map write is small. */
	pthread_mutex_lock(&c->lock);
	if (--e->refs > 0) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	if (!e->temp)
		persist_map(e);
	if (e->oldfd >= 0)
		close(e->oldfd);
	e->oldfd = -1;
	if (e->dfd >= 0)
		close(e->dfd);
	e->dfd = -1;
	if (e->fd >= 0 && !e->mem) {
		c->usage = c->usage > e->alloc ? c->usage - e->alloc : 0;
		e->alloc = file_alloc(e->fd);
		c->usage += e->alloc;
	}
	if (e->fd >= 0)
		close(e->fd);
	e->fd = -1;
	free(e->map);
	e->map = NULL;
	e->last_use = now_ns();
	if (e->temp || e->mem) {
		remove_entry(c, e); /* a memory entry has nothing on disk */
	} else {
		evict_locked(c);
	}
	pthread_mutex_unlock(&c->lock);
}

int content_fd(const struct content_entry *e)
{
	return e->fd;
}

int64_t content_size(const struct content_entry *e)
{
	return e->size;
}

/* pwrite of all len bytes at off. 0 or -errno. */
static int write_all(int fd, uint64_t off, const char *p, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pwrite(fd, p + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

/* Marks the blocks [off, off+len) completes as present, if the entry
 * still writes to fd. Returns the bytes added, or -EAGAIN when fd was
 * replaced meanwhile (memory mode). */
static int64_t mark_written(struct content_entry *e, int fd, uint64_t off,
			    size_t len, int *persist)
{
	uint64_t end = off + len, b, bend, added = 0;

	b = (off + CONTENT_BLOCK - 1) / CONTENT_BLOCK;
	bend = end == (uint64_t)e->size ? e->nblocks : end / CONTENT_BLOCK;
	pthread_mutex_lock(&e->lock);
	if (e->fd != fd) {
		pthread_mutex_unlock(&e->lock);
		return -EAGAIN;
	}
	for (; b < bend; b++) {
		if (!bit_get(e->map, b)) {
			bit_set(e->map, b);
			e->npresent++;
			added += block_len(e, b);
		}
	}
	if (off / CONTENT_BLOCK < e->low_hint)
		e->low_hint = off / CONTENT_BLOCK;
	if (added) {
		e->dirty = 1;
		if (!e->temp && !e->persisting && !e->mem &&
		    (e->npresent == e->nblocks ||
		     time(NULL) - e->persisted_at >= PERSIST_EVERY))
			*persist = 1;
	}
	mem_trim(e);
	pthread_mutex_unlock(&e->lock);
	return (int64_t)added;
}

/* The entry's O_DIRECT descriptor, opened on first use (e->lock held);
 * -1 in memory mode or where the filesystem has none. */
static int direct_fd(struct content_entry *e)
{
	char path[48];

	if (e->mem || e->no_direct || e->fd < 0)
		return -1;
	if (e->dfd < 0) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", e->fd);
		e->dfd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
		e->no_direct = e->dfd < 0;
	}
	return e->dfd;
}

/* How many bytes of [off, off+len) at p may go through dfd (O_DIRECT):
 * the aligned head, when there is a dfd and p and off are aligned. */
static size_t direct_head(int dfd, uint64_t off, const void *p, size_t len)
{
	if (dfd < 0 || off % CONTENT_DIRECT_ALIGN ||
	    (uintptr_t)p % CONTENT_DIRECT_ALIGN)
		return 0;
	return len / CONTENT_DIRECT_ALIGN * CONTENT_DIRECT_ALIGN;
}

/* Writes the aligned head of [off, off+len) through dfd and the rest
 * through fd. */
static int write_split(int fd, int dfd, uint64_t off, const char *p, size_t len)
{
	size_t head = direct_head(dfd, off, p, len);
	int rc;

	if (head && (rc = write_all(dfd, off, p, head)) < 0)
		return rc;
	return write_all(fd, off + head, p + head, len - head);
}

/* Writes data and marks the blocks it completes. A full disk (ENOSPC,
 * EDQUOT) evicts the least recently used closed entries one by one and
 * retries; with nothing left to evict the entry goes to memory mode. */
static int write_entry(struct content_entry *e, uint64_t off, const void *data,
		       size_t len, int direct)
{
	struct content *c = e->c;
	int persist = 0, fd, dfd, rc, mem;
	int64_t added;

	if (off > (uint64_t)e->size || len > (uint64_t)e->size - off)
		return -EINVAL;
	for (;;) {
		pthread_mutex_lock(&e->lock);
		fd = e->fd;
		mem = e->mem;
		dfd = direct ? direct_fd(e) : -1;
		pthread_mutex_unlock(&e->lock);
		rc = write_split(fd, dfd, off, data, len);
		if (rc == -EINVAL && dfd >= 0) {
			/* This filesystem takes no O_DIRECT writes after all.
			 */
			pthread_mutex_lock(&e->lock);
			e->no_direct = 1;
			pthread_mutex_unlock(&e->lock);
			continue;
		}
		if (rc == -ENOSPC || rc == -EDQUOT) {
			if (!mem && evict_one(c))
				continue;
			rc = to_memory(e, fd);
			if (rc == 0)
				continue;
		}
		if (rc < 0) {
			log_error("content: write %s: %s", e->key,
				  strerror(-rc));
			return rc;
		}
		added = mark_written(e, fd, off, len, &persist);
		if (added != -EAGAIN)
			break;
	}
	if (persist)
		persist_map(e);
	if (added > 0 && !mem) {
		pthread_mutex_lock(&c->lock);
		e->alloc += (uint64_t)added;
		c->usage += (uint64_t)added;
		refresh_cap(c, 0);
		if (c->usage > c->cap)
			evict_locked(c);
		pthread_mutex_unlock(&c->lock);
	}
	return 0;
}

int content_write(struct content_entry *e, uint64_t off, const void *data,
		  size_t len)
{
	return write_entry(e, off, data, len, 0);
}

int content_write_direct(struct content_entry *e, uint64_t off,
			 const void *data, size_t len)
{
	return write_entry(e, off, data, len, 1);
}

/* pread of all len bytes at off. 0 or -errno (-EIO at an early EOF). */
static int read_all(int fd, uint64_t off, char *p, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, p + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

int content_read(struct content_entry *e, uint64_t off, void *buf, size_t len)
{
	size_t head;
	int fd, dfd, rc, moved;

	pthread_mutex_lock(&e->lock);
	fd = e->fd;
	dfd = direct_fd(e);
	pthread_mutex_unlock(&e->lock);
	if (content_present(e, off, len) != len)
		return -EAGAIN;
	head = direct_head(dfd, off, buf, len);
	rc = head ? read_all(dfd, off, buf, head) : 0;
	if (rc == -EINVAL) { /* no O_DIRECT here after all */
		pthread_mutex_lock(&e->lock);
		e->no_direct = 1;
		pthread_mutex_unlock(&e->lock);
		rc = read_all(fd, off, buf, head);
	}
	if (rc == 0)
		rc = read_all(fd, off + head, (char *)buf + head, len - head);
	pthread_mutex_lock(&e->lock);
	moved = e->fd != fd;
	pthread_mutex_unlock(&e->lock);
	return moved ? -EAGAIN : rc;
}

int content_fd_present(struct content_entry *e, uint64_t off, uint64_t len)
{
	int fd;

	if (len == 0)
		return e->fd;
	pthread_mutex_lock(&e->lock);
	fd = e->fd;
	pthread_mutex_unlock(&e->lock);
	if (content_present(e, off, len) != len)
		return -1;
	pthread_mutex_lock(&e->lock);
	if (e->fd != fd)
		fd = -1;
	pthread_mutex_unlock(&e->lock);
	return fd;
}

uint64_t content_entry_cap(struct content_entry *e)
{
	int mem;

	pthread_mutex_lock(&e->lock);
	mem = e->mem;
	pthread_mutex_unlock(&e->lock);
	return mem ? MEM_CAP : content_cap(e->c);
}

/* Contiguous present bytes from off, at most len. */
uint64_t content_present(struct content_entry *e, uint64_t off, uint64_t len)
{
	uint64_t end, b, got;

	if (off >= (uint64_t)e->size)
		return 0;
	end = (uint64_t)e->size - off < len ? (uint64_t)e->size : off + len;
	pthread_mutex_lock(&e->lock);
	for (b = off / CONTENT_BLOCK; b * CONTENT_BLOCK < end; b++)
		if (!bit_get(e->map, b))
			break;
	pthread_mutex_unlock(&e->lock);
	got = b * CONTENT_BLOCK;
	if (got > end)
		got = end;
	return got > off ? got - off : 0;
}

/* Scans for the first block at/after off's block whose bit equals want. */
static uint64_t scan_from(struct content_entry *e, uint64_t off, int want)
{
	uint64_t b;

	if (off >= (uint64_t)e->size)
		return (uint64_t)e->size;
	pthread_mutex_lock(&e->lock);
	for (b = off / CONTENT_BLOCK; b < e->nblocks; b++) {
		/* skip whole bytes that cannot match */
		if (!(b & 7) && b + 8 <= e->nblocks &&
		    e->map[b >> 3] == (want ? 0x00 : 0xff)) {
			b += 7;
			continue;
		}
		if (!!bit_get(e->map, b) == want)
			break;
	}
	pthread_mutex_unlock(&e->lock);
	if (b >= e->nblocks)
		return (uint64_t)e->size;
	return b * CONTENT_BLOCK;
}

uint64_t content_missing_from(struct content_entry *e, uint64_t off)
{
	return scan_from(e, off, 0);
}

uint64_t content_present_from(struct content_entry *e, uint64_t off)
{
	return scan_from(e, off, 1);
}

int content_complete(struct content_entry *e)
{
	int r;

	pthread_mutex_lock(&e->lock);
	r = e->npresent == e->nblocks;
	pthread_mutex_unlock(&e->lock);
	return r;
}

int content_verified(struct content_entry *e)
{
	int r;

	pthread_mutex_lock(&e->lock);
	r = e->verified;
	pthread_mutex_unlock(&e->lock);
	return r;
}

/* Checks the complete file against its MD5 by reading it through. */
int content_verify_md5(struct content_entry *e)
{
	return content_verify_md5_stoppable(e, NULL);
}

int content_verify_md5_stoppable(struct content_entry *e, const int *stop)
{
	struct content_md5 m;
	char hex[33];
	size_t chunk = 1 << 20;
	uint64_t off = 0;
	char *buf = NULL;
	ssize_t n;
	int rc = 0, fd;

	if (!e->md5[0])
		return 1;
	pthread_mutex_lock(&e->lock);
	if (e->verified) {
		pthread_mutex_unlock(&e->lock);
		return 0;
	}
	if (e->npresent != e->nblocks) {
		pthread_mutex_unlock(&e->lock);
		return -EAGAIN;
	}
	fd = e->fd;
	pthread_mutex_unlock(&e->lock);
	buf = malloc(chunk);
	if (!buf)
		return -ENOMEM;
	content_md5_init(&m);
	while (off < (uint64_t)e->size) {
		if (stop && __atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
			rc = -ECANCELED;
			goto out;
		}
		n = pread(fd, buf, chunk, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			goto out;
		}
		content_md5_update(&m, buf, (size_t)n);
		off += (uint64_t)n;
	}
	content_md5_final(&m, hex);
	pthread_mutex_lock(&e->lock);
	n = e->fd != fd || e->npresent != e->nblocks;
	pthread_mutex_unlock(&e->lock);
	if (n) { /* moved to memory or punched meanwhile: not a verdict */
		rc = -EAGAIN;
		goto out;
	}
	if (strcasecmp(hex, e->md5)) {
		log_error("content: MD5 mismatch for %s: cached copy has %s",
			  e->key, hex);
		rc = -EIO;
		goto out;
	}
	pthread_mutex_lock(&e->lock);
	/* A punch or drop meanwhile would have cleared blocks. */
	if (e->npresent == e->nblocks) {
		e->verified = 1;
		e->dirty = 1;
	}
	pthread_mutex_unlock(&e->lock);
	persist_map(e);
out:
	free(buf);
	return rc;
}

/* Takes a digest computed while the data arrived as the verdict. */
int content_mark_verified(struct content_entry *e, const char *hex)
{
	int rc = 0;

	if (!e->md5[0] || strcasecmp(hex, e->md5))
		return e->md5[0] ? -EIO : 0;
	pthread_mutex_lock(&e->lock);
	if (e->npresent != e->nblocks)
		rc = -EAGAIN;
	else if (!e->verified)
		e->verified = e->dirty = 1;
	pthread_mutex_unlock(&e->lock);
	if (rc == 0)
		persist_map(e);
	return rc;
}

/* Forgets all data of an entry. */
void content_drop(struct content_entry *e)
{
	struct content *c = e->c;

	pthread_mutex_lock(&c->lock);
	pthread_mutex_lock(&e->lock);
	memset(e->map, 0, map_bytes(e->nblocks));
	e->npresent = 0;
	e->verified = 0;
	e->dirty = 1;
	if (ftruncate(e->fd, 0) < 0 || ftruncate(e->fd, e->size) < 0)
		log_warn("content: cannot truncate %s: %s", e->key,
			 strerror(errno));
	pthread_mutex_unlock(&e->lock);
	c->usage = c->usage > e->alloc ? c->usage - e->alloc : 0;
	e->alloc = 0;
	pthread_mutex_unlock(&c->lock);
	persist_map(e);
}

int content_resize(struct content_entry *e, int64_t size)
{
	struct content *c = e->c;
	uint64_t nb = ((uint64_t)size + CONTENT_BLOCK - 1) / CONTENT_BLOCK;
	uint8_t *map;

	if (!e->temp || size < 0)
		return -EINVAL;
	map = calloc(1, map_bytes(nb) ? map_bytes(nb) : 1);
	if (!map)
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	pthread_mutex_lock(&e->lock);
	free(e->map);
	e->map = map;
	e->nblocks = nb;
	e->size = size;
	e->npresent = 0;
	e->low_hint = 0;
	e->verified = 0;
	if (ftruncate(e->fd, 0) < 0 || ftruncate(e->fd, size) < 0)
		log_warn("content: cannot truncate %s: %s", e->key,
			 strerror(errno));
	pthread_mutex_unlock(&e->lock);
	c->usage = c->usage > e->alloc ? c->usage - e->alloc : 0;
	e->alloc = 0;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* Records a read for LRU and the punch-behind policy. */
void content_note_read(struct content_entry *e, uint64_t off, uint64_t len)
{
	pthread_mutex_lock(&e->lock);
	e->read_pos = off + len;
	pthread_mutex_unlock(&e->lock);
}

int content_sync(struct content_entry *e)
{
	return persist_map(e);
}

uint64_t content_usage(struct content *c)
{
	uint64_t u;

	pthread_mutex_lock(&c->lock);
	u = c->usage;
	pthread_mutex_unlock(&c->lock);
	return u;
}

uint64_t content_cap(const struct content *c)
{
	return c->cap;
}

int content_space(const struct content *c, struct statvfs *out)
{
	return fstatvfs(c->dirfd, out) < 0 ? -errno : 0;
}
