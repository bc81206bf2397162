/* reader: ranged streaming of bitstream content into the content cache.
 * See reader.h for the behaviour; content.h for the cache underneath.
 *
 * Per open bitstream (struct rfile, shared by all handles of the same
 * UUID + MD5) up to r->streams worker threads serve sequential readers:
 * each fetches the first missing block at or after the latest sequential
 * read in windows that double from WIN_MIN to WIN_MAX, staying within
 * ahead_room() of the reader. Random reads fetch one small window in the
 * reading thread. Fetches write into the cache in FLUSH_SIZE buffers and
 * wake the readers waiting on rf->cond; ranges being fetched are listed in
 * rf->inflight so that nobody fetches them twice. A sequential stream
 * keeps its buffers in memory as chunks (core/chunks.h), answers its
 * reader from them and hands them to one writer thread per file that
 * writes them behind it (section "write-behind"); see doc/HACKING.md, "A
 * read, hop by hop".
 *
 * Lock order: r->lock → rf->lock → content locks. No lock is held during
 * HTTP transfers or cache writes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/chunks.h"
#include "core/content.h"
#include "core/cover.h"
#include "util/errors.h"
#include "util/log.h"
#include "dspace/dspace.h"
#include "core/reader.h"

#define WIN_MIN (256u * 1024)	    /* first window of a stream */
#define WIN_MAX (64u * 1024 * 1024) /* largest window */
#define RANDOM_WIN (256u * 1024)    /* window of a random read */
#define FLUSH_SIZE CHUNK_SIZE	    /* bytes written to the cache at once */
#define CHUNK_BUDGET 24 /* MiB of streams kept in memory for their readers */
#define SEQ_SLACK (1u << 20) /* reorder tolerance of sequential reads */
#define RETRY_BUDGET                                                           \
	60	       /* default s without progress before a                  \
			* read fails (reader_config) */
#define WORKER_IDLE 10 /* s a worker waits for demand */
#define RETRY_MAX 6    /* failures in a row without progress */
#define MAX_INFLIGHT 16
#define STREAMS_DEFAULT 3 /* workers per file: windows in flight */
#define STREAMS_MAX 8
#define VERIFY_INLINE_MAX (64u << 20) /* larger files: MD5 in the hasher */
#define HASHER_NICE 10		      /* the hasher's nice above the daemon's */

/* Outcomes of a fetch besides 0 and -errno. */
#define FETCH_WHOLE_NEEDED (-10001) /* 200 to a random read: use the worker */
#define FETCH_EOF (-10002)	    /* 416 */
#define FETCH_COVER (-10003)	    /* a cover page: see cover_head */

struct range {
	uint64_t start, end; /* [start, end) still to arrive */
	int used;
	int pending;	 /* chunks of it queued for the cache (write-behind) */
	uint64_t queued; /* end of the last of them */
	int ended;	 /* its fetch ended: freed once pending is 0 */
};

/* A chunk queued for the cache, and the in-flight range it came from. */
struct wjob {
	int chunk, slot;
};

struct rfile {
	struct reader *r;
	struct rfile *next;
	int refs; /* under r->lock */
	char uuid[40];
	char md5[33];
	uint64_t size;
	struct content_entry *ce;
	/* under lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
	int fatal;	   /* sticky -errno: every read fails with it */
	int err;	   /* last transient failure after retries */
	unsigned err_gen;  /* bumped with err */
	uint64_t eof_at;   /* bytes at or after this do not exist (416) */
	uint64_t progress; /* bumped on every cache write */
	/* A read that gave up: later reads fail at once with the same error
	 * until data arrives again or the budget has passed, so that the
	 * kernel's retries (readahead, then page by page) do not each wait
	 * the whole budget. */
	int failed_err;
	time_t failed_at;
	uint64_t failed_progress;
	struct range inflight[MAX_INFLIGHT];
	int verifying;
	int no_range; /* atomic: a ranged request got the whole file */
	/* MD5 of the bytes [0, hashed) as they arrived in order, so that a
	 * file downloaded front to back is verified without reading it again;
	 * under hash_lock. A small file is hashed by the stream that writes
	 * it; a large one by its own thread (hasher_main) trailing the
	 * download from the cache file, so that no stream waits for MD5. */
	pthread_mutex_t hash_lock;
	struct content_md5 hash;
	uint64_t hashed;
	pthread_t hasher;
	int hasher_started;
	/* workers (up to r->streams, each one ranged request at a time) */
	struct wslot {
		struct rfile *rf;
		pthread_t thread;
		int started;
		int done; /* its last change, under lock */
	} wslot[STREAMS_MAX];
	int worker_running; /* how many run */
	uint64_t seq_pos;   /* offset of the latest sequential read */
	uint64_t demand;    /* end of the latest sequential read */
	uint64_t window;
	/* A citation cover page (core/cover.h): one whole response into a
	 * private entry (ce); ce_stored is the stored file's entry it
	 * replaced. cover, cover_begun and served under lock. */
	int cover;
	int cover_begun;    /* a response's bytes go into ce */
	int served;	    /* a read got bytes of ce */
	uint64_t json_size; /* sizeBytes: opens share the rfile by it */
	struct content_entry *ce_stored;
	/* The streams' latest bytes, answered from memory (core/chunks.h);
	 * under lock. */
	struct chunk_set chunks;
	/* How reads were answered (atomic; logged at the last close). */
	unsigned long mem_reads, file_reads;
	/* Write-behind: the streams queue their chunks here and go on
	 * receiving; one writer thread puts them into the cache in order
	 * (under lock; wcond wakes the writer). */
	struct wjob wq[CHUNK_SLOTS];
	int wq_head, wq_len;
	pthread_cond_t wcond;
	pthread_t writer;
	int writer_started;
};

struct reader_file {
	struct rfile *rf;
	uint64_t last_end;
	unsigned nreads;
};

/* A size learned from the server for a bitstream whose JSON had none. */
struct known_size {
	char uuid[40];
	int64_t size;
};
#define KNOWN_SIZES 64

struct reader {
	struct session *s;
	struct known_size sizes[KNOWN_SIZES]; /* under lock */
	unsigned sizes_next;
	struct content *cache;
	struct cover_table *covers; /* seen with a cover page */
	pthread_mutex_t lock;
	pthread_cond_t idle;
	struct rfile *files;
	int closing;  /* read without the lock in callbacks (atomic) */
	int no_range; /* atomic: some file got a 200 to a Range (logged) */
	int active;   /* calls in progress, under lock */
	int budget;   /* s without progress before a read gives up */
	int streams;  /* workers per file reading sequentially */
	struct chunk_pool *pool; /* fetch buffers and the chunks' budget */
};

/* One HTTP transfer into the cache. */
struct fetch {
	struct rfile *rf;
	uint64_t start, end; /* requested [start, end) */
	uint64_t next;	     /* file offset of the next body byte */
	char *buf;	     /* bytes waiting for the cache, from bufoff */
	size_t buflen, bufcap;
	int pooled; /* buf is a chunk buffer (chunk_buf_get) */
	uint64_t bufoff;
	int slot;	 /* inflight slot, -1 if none */
	int allow_whole; /* a 200 may be used (worker) */
	int ranged;	 /* a Range header was sent */
	int got_headers;
	int err;		  /* decided in a callback */
	uint64_t written;	  /* body bytes that reached the cache */
	struct content_entry *ce; /* where the bytes go */
	int cover;		  /* a cover-page response (not hashed) */
};

static int is_closing(const struct reader *r)
{
	return __atomic_load_n(&r->closing, __ATOMIC_ACQUIRE);
}

/* An absolute deadline ms milliseconds from now (CLOCK_REALTIME). */
static struct timespec deadline_ms(long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static time_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- in-flight ranges (rf->lock held) ---------------------------------- */

static int inflight_add(struct rfile *rf, uint64_t start, uint64_t end)
{
	int i;

	for (i = 0; i < MAX_INFLIGHT; i++)
		if (!rf->inflight[i].used) {
			rf->inflight[i].used = 1;
			rf->inflight[i].start = start;
			rf->inflight[i].end = end;
			return i;
		}
	return -1;
}

/* Ends the fetch of a range: the range is free at once, or once the
 * writer has put its queued chunks into the cache (until then what they
 * hold is still "about to arrive"; nothing after them is). */
static void inflight_del(struct rfile *rf, int slot)
{
	struct range *g = slot >= 0 ? &rf->inflight[slot] : NULL;

	if (!g)
		return;
	if (g->pending) {
		g->ended = 1;
		g->end = g->queued;
		return;
	}
	memset(g, 0, sizeof(*g));
}

/* Whether byte off is about to arrive from a fetch in flight. */
static int inflight_has(const struct rfile *rf, uint64_t off)
{
	int i;

	for (i = 0; i < MAX_INFLIGHT; i++)
		if (rf->inflight[i].used && off >= rf->inflight[i].start &&
		    off < rf->inflight[i].end)
			return 1;
	return 0;
}

/* The end of the in-flight range holding off, or 0 when none does. */
static uint64_t inflight_end(const struct rfile *rf, uint64_t off)
{
	int i;

	for (i = 0; i < MAX_INFLIGHT; i++)
		if (rf->inflight[i].used && off >= rf->inflight[i].start &&
		    off < rf->inflight[i].end)
			return rf->inflight[i].end;
	return 0;
}

/* The lowest in-flight start above off (to cut a new fetch short), or lim. */
static uint64_t inflight_next(const struct rfile *rf, uint64_t off,
			      uint64_t lim)
{
	int i;

	for (i = 0; i < MAX_INFLIGHT; i++)
		if (rf->inflight[i].used && rf->inflight[i].start > off &&
		    rf->inflight[i].start < lim)
			lim = rf->inflight[i].start;
	return lim;
}

/* ---- one transfer -------------------------------------------------------- */

/* Feeds the bytes that other workers already wrote after rf->hashed into
 * the running MD5, from the cache file. hash_lock held. */
static void hash_catch_up(struct rfile *rf)
{
	uint64_t n;
	char *buf = NULL;
	ssize_t got;
	int fd;

	while (rf->hashed < rf->size &&
	       (n = content_present(rf->ce, rf->hashed, FLUSH_SIZE)) > 0) {
		fd = content_fd_present(rf->ce, rf->hashed, n);
		if (fd < 0 || (!buf && !(buf = malloc(FLUSH_SIZE))))
			break;
		got = pread(fd, buf, n, (off_t)rf->hashed);
		if (got != (ssize_t)n)
			break;
		content_md5_update(&rf->hash, buf, n);
		rf->hashed += n;
	}
	free(buf);
}

/* Feeds bytes just written at off (p may be NULL) into the running MD5
 * when they continue it, and what else the cache holds after it; the pass
 * that completes the hash marks the copy verified if the digest matches.
 * hash_lock held. */
static void hash_take(struct rfile *rf, uint64_t off, const char *p, size_t len)
{
	uint64_t before = rf->hashed;
	char hex[33];

	if (p && off > rf->hashed)
		hash_catch_up(rf);
	if (p && off <= rf->hashed && off + len > rf->hashed) {
		p += rf->hashed - off;
		len -= (size_t)(rf->hashed - off);
		content_md5_update(&rf->hash, p, len);
		rf->hashed += len;
	}
	hash_catch_up(rf);
	if (rf->hashed == rf->size && before < rf->size) {
		content_md5_final(&rf->hash, hex);
		if (content_mark_verified(rf->ce, hex) < 0)
			log_warn("bitstream %s: downloaded bytes have MD5 %s, "
				 "not %s",
				 rf->uuid, hex, rf->md5);
	}
}

/* Hashes bytes just written (a file up to VERIFY_INLINE_MAX). A stream
 * never waits for another's hashing: when the lock is taken it leaves its
 * bytes to the holder, which therefore looks again after unlocking (the
 * other stream's bytes were in the cache before it found the lock taken,
 * so they are seen), or they would never be hashed. */
static void hash_feed(struct rfile *rf, uint64_t off, const char *p, size_t len)
{
	uint64_t at, last = (uint64_t)-1;

	if (!rf->md5[0] || __atomic_load_n(&rf->cover, __ATOMIC_ACQUIRE))
		return; /* a cover page (core/cover.h) has no MD5 to match */
	for (;;) {
		if (pthread_mutex_trylock(&rf->hash_lock))
			return;
		hash_take(rf, off, p, len);
		p = NULL;
		at = rf->hashed;
		pthread_mutex_unlock(&rf->hash_lock);
		if (at == last || at >= rf->size ||
		    !content_present(rf->ce, at, 1))
			return;
		last = at;
	}
}

/* ---- write-behind ----------------------------------------------------------
 * A sequential stream keeps each buffer it fills as a chunk (core/chunks.h)
 * and queues it for one writer thread per file, which puts the chunks into
 * the cache in order with O_DIRECT while the stream goes on receiving.
 * A queued chunk's bytes count as still in flight (struct range) until
 * written: readers wait for them, workers do not fetch them again. */

/* Writes one queued chunk (no lock held). A write error is fatal for the
 * file, as in the synchronous path. */
static void writer_job(struct rfile *rf, struct wjob j)
{
	struct chunk *c = &rf->chunks.slot[j.chunk];
	struct range *g = &rf->inflight[j.slot];
	int rc = content_write_direct((struct content_entry *)c->tag, c->off,
				      c->buf, c->len);

	if (rc == 0 && rf->size <= VERIFY_INLINE_MAX)
		hash_feed(rf, c->off, c->buf, c->len);
	pthread_mutex_lock(&rf->lock);
	if (rc < 0 && !rf->fatal) {
		log_warn("bitstream %s: reading failed: the cache write: %s",
			 rf->uuid, strerror(-rc));
		rf->fatal = -EIO;
	}
	rf->progress++;
	if (g->start < c->off + c->len)
		g->start = c->off + c->len;
	if (--g->pending == 0 && g->ended)
		memset(g, 0, sizeof(*g));
	chunk_unref(&rf->chunks, j.chunk);
	pthread_cond_broadcast(&rf->cond);
	pthread_mutex_unlock(&rf->lock);
}

/* The writer: drains the queue until the file stops (also then: queued
 * bytes are in memory only, and a stopping file's fetches wait for none). */
static void *writer_main(void *arg)
{
	struct rfile *rf = arg;
	struct wjob j;

	pthread_mutex_lock(&rf->lock);
	for (;;) {
		if (!rf->wq_len) {
			if (rf->stop || is_closing(rf->r))
				break;
			pthread_cond_wait(&rf->wcond, &rf->lock);
			continue;
		}
		j = rf->wq[rf->wq_head];
		rf->wq_head = (rf->wq_head + 1) % CHUNK_SLOTS;
		rf->wq_len--;
		pthread_mutex_unlock(&rf->lock);
		writer_job(rf, j);
		pthread_mutex_lock(&rf->lock);
	}
	pthread_mutex_unlock(&rf->lock);
	return NULL;
}

/* Starts the writer (rf->lock held). 0 or -errno. */
static int writer_ensure(struct rfile *rf)
{
	int rc;

	/* Nothing is queued once the file stops: the writer may be gone. */
	if (rf->stop || is_closing(rf->r))
		return -EIO;
	if (rf->writer_started)
		return 0;
	rc = pthread_create(&rf->writer, NULL, writer_main, rf);
	if (rc) {
		log_warn("cannot start a cache writer thread: %s",
			 strerror(rc));
		return -rc;
	}
	rf->writer_started = 1;
	return 0;
}

/* Stops the writer after it drained the queue. No lock held. */
static void writer_stop(struct rfile *rf)
{
	pthread_mutex_lock(&rf->lock);
	pthread_cond_broadcast(&rf->wcond);
	pthread_mutex_unlock(&rf->lock);
	if (rf->writer_started)
		pthread_join(rf->writer, NULL);
	rf->writer_started = 0;
}

/* Queues the buffered bytes of a sequential stream for the writer, kept
 * in a chunk meanwhile (and after, for the reader): 1 when queued, 0 when
 * they must be written here (no chunk or no writer), -EIO when the file
 * failed already. */
static int flush_behind(struct fetch *f)
{
	struct rfile *rf = f->rf;
	struct range *g;
	int keep, failed;

	if (!f->pooled || !f->allow_whole || f->cover || f->slot < 0)
		return 0;
	pthread_mutex_lock(&rf->lock);
	failed = rf->fatal != 0;
	keep = failed ? -1
		      : chunk_reserve(rf->r->pool, &rf->chunks, f->bufoff,
				      rf->seq_pos);
	if (keep >= 0 && writer_ensure(rf) < 0) {
		chunk_cancel(rf->r->pool, &rf->chunks, keep);
		keep = -1;
	}
	if (keep >= 0) {
		chunk_publish(&rf->chunks, keep, f->ce, f->bufoff, f->buflen,
			      &f->buf); /* its reference is the writer's */
		rf->wq[(rf->wq_head + rf->wq_len++) % CHUNK_SLOTS] =
		    (struct wjob){keep, f->slot};
		g = &rf->inflight[f->slot];
		g->pending++;
		g->queued = f->bufoff + f->buflen;
		pthread_cond_signal(&rf->wcond);
	}
	pthread_mutex_unlock(&rf->lock);
	if (keep < 0)
		return failed ? -EIO : 0;
	f->written += f->buflen;
	f->bufoff += f->buflen;
	f->buflen = 0;
	return 1;
}

/* Moves buffered bytes into the cache, or queues them for the writer
 * (write-behind), and wakes the readers. */
static int fetch_flush(struct fetch *f)
{
	struct rfile *rf = f->rf;
	int rc;

	if (!f->buflen)
		return 0;
	rc = flush_behind(f);
	if (rc)
		return rc < 0 ? rc : 0;
	rc = content_write(f->ce, f->bufoff, f->buf, f->buflen);
	if (rc == 0)
		f->written += f->buflen;
	pthread_mutex_lock(&rf->lock);
	rf->progress++;
	if (f->slot >= 0 && !rf->inflight[f->slot].pending &&
	    rf->inflight[f->slot].start < f->bufoff + f->buflen)
		rf->inflight[f->slot].start = f->bufoff + f->buflen;
	pthread_cond_broadcast(&rf->cond);
	pthread_mutex_unlock(&rf->lock);
	/* Hash after waking the readers: they need not wait for it (a
	 * large file: the hasher does, woken by the broadcast). */
	if (rc == 0 && !f->cover && rf->size <= VERIFY_INLINE_MAX)
		hash_feed(rf, f->bufoff, f->buf, f->buflen);
	f->bufoff += f->buflen;
	f->buflen = 0;
	return rc;
}

/* Remembers that the server (or a proxy) answered a ranged request of rf
 * with the whole file: that file is read as a whole stream from then on.
 * Only that file: another may come from elsewhere (a proxy's cache, a
 * slice) and answer ranges, so Range is decided per response. */
static void note_no_range(struct rfile *rf)
{
	if (__atomic_exchange_n(&rf->no_range, 1, __ATOMIC_ACQ_REL))
		return;
	if (!__atomic_exchange_n(&rf->r->no_range, 1, __ATOMIC_ACQ_REL))
		log_warn("the server (or a proxy) ignored an HTTP Range "
			 "request: such files are read as whole streams from "
			 "offset 0 (logged once)");
	log_info("bitstream %s: Range ignored; reading it whole", rf->uuid);
}

/* ---- citation cover pages (core/cover.h) ------------------------------ */

/* Takes the whole response of a cover-page file (rf->lock held) as the
 * one document of this open file: a new response is another document, so
 * it starts afresh, and only while no read got bytes of the former one.
 * 0, or -ESTALE. */
static int cover_take(struct fetch *f, uint64_t len)
{
	struct rfile *rf = f->rf;

	if (rf->cover_begun && rf->served) {
		log_warn("bitstream %s: the cover-page document broke off "
			 "after it was read from; a new response would be "
			 "another document: this open fails (ESTALE), the "
			 "next one fetches it again",
			 rf->uuid);
		return -ESTALE;
	}
	if (content_resize(rf->ce, (int64_t)len) < 0)
		return -EIO;
	rf->cover_begun = 1;
	rf->size = rf->eof_at = len;
	if (f->slot >= 0) {
		rf->inflight[f->slot].start = 0;
		rf->inflight[f->slot].end = len;
	}
	f->ce = rf->ce;
	f->cover = 1;
	f->start = f->next = f->bufoff = 0;
	f->end = len;
	pthread_cond_broadcast(&rf->cond);
	return 0;
}

/* on_head's part for cover pages: -1 when the answer is the stored file
 * (go on), 0 when it is this open file's cover-page document, 1 to
 * abort (f->err set: FETCH_COVER to read the file whole from now on). */
static int cover_head(struct fetch *f, const struct rest_content_head *h)
{
	struct rfile *rf = f->rf;
	int64_t len = h->whole	    ? h->length
		      : h->range_ok ? (int64_t)h->total
				    : -1;
	int cover;

	pthread_mutex_lock(&rf->lock);
	cover = rf->cover;
	if (!cover && cover_detect(rf->md5, rf->json_size, len, h->etag)) {
		cover_note(rf->r->covers, rf->uuid, rf->md5, len);
		f->err = FETCH_COVER;
	} else if (cover && (!h->whole || len < 0)) {
		/* A range (asked before the switch): of another document. */
		f->err = h->whole ? -EIO : FETCH_COVER;
		if (h->whole)
			log_error("bitstream %s: a cover-page document without "
				  "Content-Length",
				  rf->uuid);
	} else if (cover) {
		f->err = cover_take(f, (uint64_t)len);
		/* The next open reads the stored file (ranged, MD5) when
		 * this document is no cover page (citation pages off). */
		if (cover_detect(rf->md5, rf->json_size, len, h->etag))
			cover_note(rf->r->covers, rf->uuid, rf->md5, len);
		else
			cover_forget(rf->r->covers, rf->uuid, rf->md5);
	}
	pthread_mutex_unlock(&rf->lock);
	return f->err ? 1 : cover ? 0 : -1;
}

/* Turns rf into a cover-page file after an answer showed one: a private
 * entry, whole responses only. 0, or -ESTALE when bytes of the stored
 * file were read through it already (the next open starts as a cover). */
static int cover_switch(struct rfile *rf)
{
	struct content_entry *ce = NULL;
	int rc = 0;

	pthread_mutex_lock(&rf->lock);
	if (rf->cover)
		goto out;
	if (rf->served || content_present_from(rf->ce, 0) < rf->size) {
		log_warn("bitstream %s: now served with a cover page, after "
			 "bytes of the stored file were read: this open "
			 "fails (ESTALE)",
			 rf->uuid);
		rc = -ESTALE;
		goto out;
	}
	rc = content_open(rf->r->cache, rf->uuid, "", (int64_t)rf->size, &ce);
	if (rc)
		goto out;
	rf->ce_stored = rf->ce;
	__atomic_store_n(&rf->ce, ce, __ATOMIC_RELEASE);
	__atomic_store_n(&rf->cover, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&rf->no_range, 1, __ATOMIC_RELEASE);
	log_info("bitstream %s: served with a citation cover page: read as "
		 "one whole response, checked by its length, not its MD5",
		 rf->uuid);
out:
	pthread_mutex_unlock(&rf->lock);
	return rc;
}

/* on_head: accepts only a range that matches the request (or the whole
 * file when it can be used); other answers are judged afterwards. */
static int fetch_head(const struct rest_content_head *h, void *ctx)
{
	struct fetch *f = ctx;
	struct rfile *rf = f->rf;
	int c;

	f->got_headers = 1;
	f->buflen = 0;
	f->next = f->bufoff = f->start;
	/* A citation cover page (core/cover.h): another document. */
	if ((c = cover_head(f, h)) >= 0)
		return c;
	if (!h->whole) {
		if (!h->range_ok || h->first != f->start ||
		    h->last != f->end - 1) {
			log_error(
			    "bitstream %s: unexpected Content-Range \"%s\" "
			    "for bytes %llu-%llu",
			    rf->uuid, h->content_range,
			    (unsigned long long)f->start,
			    (unsigned long long)f->end - 1);
			f->err = -EIO;
			return 1;
		}
		if (h->total != rf->size) {
			log_error(
			    "bitstream %s changed on the server: %llu bytes "
			    "instead of %llu",
			    rf->uuid, (unsigned long long)h->total,
			    (unsigned long long)rf->size);
			f->err = -EIO;
			return 1;
		}
		return 0;
	}
	if (f->ranged)
		note_no_range(rf);
	if (!f->allow_whole && f->ranged) {
		f->err = FETCH_WHOLE_NEEDED;
		return 1;
	}
	/* The whole file from 0; bytes before start are present. */
	f->next = 0;
	f->bufoff = f->start;
	f->end = rf->size;
	return 0;
}

/* on_body: buffers bytes in order and flushes them to the cache. */
static int fetch_body(const char *data, size_t len, void *ctx)
{
	struct fetch *f = ctx;
	struct rfile *rf = f->rf;
	size_t n;

	if (is_closing(rf->r) || __atomic_load_n(&rf->stop, __ATOMIC_ACQUIRE))
		return 1;
	if (f->next + len > f->end) {
		log_error("bitstream %s: server sent more bytes than asked",
			  rf->uuid);
		f->err = -EIO;
		return 1;
	}
	if (f->next < f->start) { /* a 200 body: skip what we have */
		n = f->start - f->next < len ? (size_t)(f->start - f->next)
					     : len;
		f->next += n;
		data += n;
		len -= n;
	}
	while (len) {
		n = f->bufcap - f->buflen < len ? f->bufcap - f->buflen : len;
		memcpy(f->buf + f->buflen, data, n);
		f->buflen += n;
		f->next += n;
		data += n;
		len -= n;
		if (f->buflen == f->bufcap && fetch_flush(f) < 0) {
			f->err = -EIO;
			return 1;
		}
	}
	return 0;
}

/* Maps a finished transfer to 0 or -errno; *fatal says whether retrying
 * is pointless (refused, gone, inconsistent with what we know). */
static int fetch_result(struct fetch *f, int rc,
			const struct rest_content_result *res, int *fatal)
{
	*fatal = 0;
	if (f->err) {
		*fatal = f->err != FETCH_WHOLE_NEEDED && f->err != FETCH_COVER;
		return f->err;
	}
	if (rc == -ERANGE)
		return FETCH_EOF;
	if (rc < 0) {
		*fatal = res->final; /* else transport or busy: resumable */
		return rc;
	}
	if (!f->got_headers || f->next < f->end)
		return -ECONNRESET; /* short body without a transport error */
	return 0;
}

/* Prepares f for [start, end) of rf: 0 or -ENOMEM. */
static int fetch_init(struct fetch *f, struct rfile *rf, uint64_t start,
		      uint64_t end, int worker, int slot)
{
	int whole = __atomic_load_n(&rf->no_range, __ATOMIC_ACQUIRE);

	memset(f, 0, sizeof(*f));
	f->rf = rf;
	f->ce = __atomic_load_n(&rf->ce, __ATOMIC_ACQUIRE);
	f->start = start;
	f->end = end;
	f->slot = slot;
	f->allow_whole = worker;
	f->ranged = !(whole && worker);
	f->bufcap =
	    end - start < FLUSH_SIZE ? (size_t)(end - start) : FLUSH_SIZE;
	if (!f->ranged) {
		f->bufcap = FLUSH_SIZE;
		f->end = rf->size;
	}
	f->pooled = f->bufcap == CHUNK_SIZE;
	f->buf = f->pooled ? chunk_buf_get(rf->r->pool)
			   : malloc(f->bufcap ? f->bufcap : 1);
	return f->buf ? 0 : -ENOMEM;
}

/* Fetches [start, end) of rf into the cache (one attempt; the backend
 * retries before the first byte). *got is set to the bytes that reached
 * the cache. Returns 0, -errno, FETCH_WHOLE_NEEDED or FETCH_EOF. slot is
 * the inflight slot registered by the caller (or -1). */
static int fetch_range(struct rfile *rf, uint64_t start, uint64_t end,
		       int worker, int slot, long stall_ms, uint64_t *got,
		       int *fatal)
{
	struct rest_content_req req = {0};
	struct rest_content_result res;
	struct fetch f;
	int rc;

	*got = 0;
	*fatal = 0;
	if (fetch_init(&f, rf, start, end, worker, slot) < 0)
		return -ENOMEM;
	req.uuid = rf->uuid;
	req.start = start;
	req.end = end;
	req.ranged = f.ranged;
	req.stall_ms = stall_ms;
	req.on_head = fetch_head;
	req.on_body = fetch_body;
	req.ctx = &f;
	log_debug("bitstream %s: GET bytes %llu-%llu%s", rf->uuid,
		  (unsigned long long)start, (unsigned long long)end - 1,
		  f.ranged ? "" : " (whole file, no Range)");
	rc = rest_content_get(rf->r->s, &req, &res);
	if (fetch_flush(&f) < 0 && !f.err)
		f.err = -EIO;
	rc = fetch_result(&f, rc, &res, fatal);
	if (rc == FETCH_COVER) { /* core/cover.h: read it whole now */
		rc = cover_switch(rf);
		*fatal = rc < 0;
	}
	if (rc && rc != -ECANCELED && rc != FETCH_WHOLE_NEEDED)
		log_debug("bitstream %s: bytes %llu-%llu: %s (status %ld, %s)",
			  rf->uuid, (unsigned long long)start,
			  (unsigned long long)end - 1,
			  rc == FETCH_EOF ? "416" : strerror(-rc), res.status,
			  res.errmsg);
	*got = f.written;
	if (f.pooled)
		chunk_buf_put(rf->r->pool, f.buf);
	else
		free(f.buf);
	return rc;
}

/* Records the outcome of a failed fetch. rf->lock held. Returns 1 when
 * the failure is final for the file (fatal or EOF) rather than transient. */
static int note_failure(struct rfile *rf, uint64_t start, int rc, int fatal)
{
	if (rc == FETCH_EOF) {
		if (start < rf->eof_at) {
			log_warn(
			    "bitstream %s: server says bytes from %llu do "
			    "not exist (416): file changed? Treating as EOF",
			    rf->uuid, (unsigned long long)start);
			rf->eof_at = start;
		}
		pthread_cond_broadcast(&rf->cond);
		return 1;
	}
	if (fatal) {
		if (!rf->fatal)
			log_warn("bitstream %s: reading failed: %s", rf->uuid,
				 strerror(-rc));
		rf->fatal = rc;
		pthread_cond_broadcast(&rf->cond);
		return 1;
	}
	return 0;
}

/* ---- MD5 check -------------------------------------------------------------
 */

/* Verifies a complete file once; a mismatch drops it and fails reads. */
static void maybe_verify(struct rfile *rf)
{
	int rc;

	if (!rf->md5[0] || __atomic_load_n(&rf->cover, __ATOMIC_ACQUIRE) ||
	    !content_complete(rf->ce) || content_verified(rf->ce))
		return;
	pthread_mutex_lock(&rf->lock);
	if (rf->verifying) {
		pthread_mutex_unlock(&rf->lock);
		return;
	}
	rf->verifying = 1;
	pthread_mutex_unlock(&rf->lock);
	rc = content_verify_md5_stoppable(rf->ce, &rf->stop);
	pthread_mutex_lock(&rf->lock);
	rf->verifying = 0;
	if (rc == -EIO) {
		log_error("bitstream %s: downloaded content does not match its "
			  "MD5 %s; cached copy dropped",
			  rf->uuid, rf->md5);
		content_drop(rf->ce);
		rf->fatal = -EIO;
		pthread_cond_broadcast(&rf->cond);
	} else if (rc < 0 && rc != -EAGAIN && rc != -ECANCELED) {
		log_warn("bitstream %s: cannot verify MD5: %s", rf->uuid,
			 strerror(-rc));
	}
	pthread_mutex_unlock(&rf->lock);
}

/* ---- the hasher of a large file ------------------------------------------ */

/* Whether the hasher goes on (rf->lock held): not after a verdict, nor
 * after the last close or at unmount (hash_finish takes over then). */
static int hasher_goes_on(struct rfile *rf)
{
	return !rf->fatal && rf->hashed < rf->size && !rf->stop &&
	       !is_closing(rf->r);
}

/* Hashes [off, off+n) from the chunks that still hold it, else (when
 * from_disk) from the cache file into buf (aligned: content_read); rf->lock
 * held, dropped while hashing. 0, 1 when the bytes are not in memory and
 * from_disk is 0, or -1. */
static int hash_run(struct rfile *rf, uint64_t off, uint64_t n, char *buf,
		    int from_disk)
{
	struct iovec iov[2];
	int idx[2], k, i, rc = 0;

	k = chunk_find(&rf->chunks, rf->ce, off, n, iov, idx);
	if (!k && !from_disk)
		return 1;
	pthread_mutex_unlock(&rf->lock);
	for (i = 0; i < k; i++)
		content_md5_update(&rf->hash, iov[i].iov_base, iov[i].iov_len);
	if (!k && (rc = content_read(rf->ce, off, buf, n)) == 0)
		content_md5_update(&rf->hash, buf, n);
	pthread_mutex_lock(&rf->lock);
	for (i = 0; i < k; i++)
		chunk_unref(&rf->chunks, idx[i]);
	return rc < 0 ? -1 : 0;
}

/* Hashes the present run at rf->hashed (rf->lock held, dropped while
 * hashing): 1 when it did, 0 when nothing is there yet, -1 on an error.
 * While streams run, only from their chunks: reading the cache file back
 * would take the disk from their writes (doc/benchmarks.md); what the
 * hasher missed is read once they stop, or by hash_finish. */
static int hasher_step(struct rfile *rf, char *buf)
{
	uint64_t off = rf->hashed, n = content_present(rf->ce, off, FLUSH_SIZE);
	int rc;

	if (!n)
		return 0;
	rc = hash_run(rf, off, n, buf, !rf->worker_running);
	if (rc)
		return rc > 0 ? 0 : -1;
	rf->hashed += n;
	return 1;
}

/* Takes the hasher's digest as the verdict. A mismatch is confirmed by
 * hashing the file again before it condemns the copy: a block dropped
 * and fetched again while the hasher read it must not. */
static void hasher_verdict(struct rfile *rf)
{
	char hex[33];

	content_md5_final(&rf->hash, hex);
	if (content_mark_verified(rf->ce, hex) != -EIO)
		return;
	log_warn("bitstream %s: downloaded bytes have MD5 %s, not %s; "
		 "checking the cached copy again",
		 rf->uuid, hex, rf->md5);
	/* Also after the last close (rf->stop): only an unmount stops it. */
	if (content_verify_md5_stoppable(rf->ce, &rf->r->closing) != -EIO)
		return;
	log_error("bitstream %s: downloaded content does not match its MD5 "
		  "%s; cached copy dropped",
		  rf->uuid, rf->md5);
	content_drop(rf->ce);
	pthread_mutex_lock(&rf->lock);
	rf->fatal = -EIO;
	pthread_cond_broadcast(&rf->cond);
	pthread_mutex_unlock(&rf->lock);
}

/* Makes the calling thread (the hasher) run only on otherwise idle CPU
 * (SCHED_IDLE), or at least HASHER_NICE lower: MD5 costs about a core-
 * second per 500 MB, which on a small machine the streams, the FUSE
 * threads and the reader itself need while a file streams
 * (doc/benchmarks.md). It catches up when they idle, and hash_finish
 * completes a closed file's hash at normal priority. */
static void hasher_nice(void)
{
	struct sched_param sp = {0};
	id_t tid = (id_t)syscall(SYS_gettid);
	int prio;

	if (sched_setscheduler(0, SCHED_IDLE, &sp) == 0)
		return;
	errno = 0;
	prio = getpriority(PRIO_PROCESS, tid);
	if (prio == -1 && errno)
		return;
	prio = prio + HASHER_NICE > 19 ? 19 : prio + HASHER_NICE;
	if (setpriority(PRIO_PROCESS, tid, prio) < 0)
		log_debug("hasher: setpriority: %s", strerror(errno));
}

/* Hashes a large file front to back as its bytes reach the cache, behind
 * the streams (which never wait for it), and records the verdict in the
 * cache map, also after the last close of a complete file. */
static void *hasher_main(void *arg)
{
	struct rfile *rf = arg;
	char *buf = chunk_buf_get(rf->r->pool); /* aligned: content_read */
	struct timespec ts;
	int rc = buf ? 0 : -1, done;

	hasher_nice();
	pthread_mutex_lock(&rf->lock);
	while (rc >= 0 && hasher_goes_on(rf)) {
		rc = hasher_step(rf, buf);
		if (rc == 0) {
			ts = deadline_ms(500);
			pthread_cond_timedwait(&rf->cond, &rf->lock, &ts);
		}
	}
	done = rf->hashed == rf->size && !rf->fatal;
	pthread_mutex_unlock(&rf->lock);
	if (done)
		hasher_verdict(rf);
	if (buf)
		chunk_buf_put(rf->r->pool, buf);
	return NULL;
}

/* After the last close (or at unmount) and the hasher's end: hashes the
 * rest of a complete file in this thread, at the daemon's priority (the
 * hasher's is low), so that its verdict is kept in the cache map and the
 * next mount does not hash it again. */
static void hash_finish(struct rfile *rf, int started)
{
	char *buf;
	int rc = 1;

	if (!started || !content_complete(rf->ce) ||
	    !(buf = chunk_buf_get(rf->r->pool)))
		return;
	pthread_mutex_lock(&rf->lock);
	if (rf->fatal || rf->hashed >= rf->size)
		rc = 0;
	while (rc > 0 && rf->hashed < rf->size)
		rc = hasher_step(rf, buf);
	pthread_mutex_unlock(&rf->lock);
	chunk_buf_put(rf->r->pool, buf);
	if (rc > 0)
		hasher_verdict(rf);
}

/* Starts the hasher of a large file not verified yet (rf->lock held). */
static void hasher_ensure(struct rfile *rf)
{
	int rc;

	if (rf->hasher_started || !rf->md5[0] ||
	    __atomic_load_n(&rf->cover, __ATOMIC_ACQUIRE) ||
	    rf->size <= VERIFY_INLINE_MAX || rf->stop || rf->fatal ||
	    is_closing(rf->r) || content_verified(rf->ce))
		return;
	rc = pthread_create(&rf->hasher, NULL, hasher_main, rf);
	if (rc) {
		log_warn("cannot start a hashing thread: %s", strerror(rc));
		return;
	}
	rf->hasher_started = 1;
}

/* ---- the streaming worker ------------------------------------------------ */

/* The most the streams may fetch ahead of their reader: a quarter of the
 * cache, and three quarters of what chunks may keep in memory (beyond that,
 * the bytes would wait for the reader in the page cache, copied once more;
 * the rest is for the chunks queued for the cache and those being read). */
static uint64_t ahead_room(const struct rfile *rf)
{
	uint64_t cap = content_entry_cap(rf->ce) / 4,
		 mem = chunk_pool_bytes(rf->r->pool) / 4 * 3;

	return mem && mem < cap ? mem : cap;
}

/* How many windows share the room ahead (at least 2: the next window is
 * asked while one arrives). */
static int windows_ahead(const struct rfile *rf)
{
	return rf->r->streams > 2 ? rf->r->streams : 2;
}

/* How far beyond the demand the worker may fetch. */
static uint64_t ahead_limit(const struct rfile *rf)
{
	uint64_t ahead = windows_ahead(rf) * rf->window, cap = ahead_room(rf);

	if (ahead > cap)
		ahead = cap;
	return ahead < WIN_MIN ? WIN_MIN : ahead;
}

/* Chooses the worker's next window [*start, *end) (rf->lock held): 1 to
 * fetch it, 0 to wait for demand, -1 when nothing is left to fetch. */
static int worker_next(struct rfile *rf, int whole, uint64_t *start,
		       uint64_t *end)
{
	uint64_t lim = rf->eof_at < rf->size ? rf->eof_at : rf->size, p;
	int skipped = 0;

	*start = content_missing_from(rf->ce, whole ? 0 : rf->seq_pos);
	/* Another worker (or a read) fetches that: take what follows. */
	while (*start < lim && (p = inflight_end(rf, *start)) > *start) {
		*start = content_missing_from(rf->ce, p);
		skipped = 1;
	}
	if (*start >= lim)
		return skipped ? 0 : -1;
	if (!whole && *start >= rf->demand + ahead_limit(rf))
		return 0;
	*end = *start + rf->window;
	if (*end > lim)
		*end = lim;
	if (!whole) {
		p = content_present_from(rf->ce, *start);
		if (p < *end)
			*end = p;
		*end = inflight_next(rf, *start, *end);
	}
	return 1;
}

/* Doubles the window after a good fetch, within the room ahead shared by
 * the streams. */
static void window_grow(struct rfile *rf)
{
	uint64_t cap =
	    ahead_room(rf) / windows_ahead(rf) / CONTENT_BLOCK * CONTENT_BLOCK;

	if (rf->window > cap && cap >= WIN_MIN)
		rf->window = cap;
	else if (rf->window < WIN_MAX && rf->window < cap)
		rf->window *= 2;
}

/* Failures in a row of one worker. */
struct wfails {
	int n;	      /* without progress */
	time_t since; /* the first of them, 0 if none */
};

/* Judges a failed fetch of the worker (rf->lock held): -1 to stop, 0 to
 * go on at once (progress was made), else the ms to wait first. */
static long worker_failed(struct rfile *rf, uint64_t start, int rc, int fatal,
			  uint64_t got, struct wfails *w)
{
	struct reader *r = rf->r;

	if (rc == -ECANCELED && (rf->stop || is_closing(r)))
		return -1;
	if (note_failure(rf, start, rc, fatal))
		return -1;
	/* Progress = new complete blocks, not merely bytes received (a
	 * stream that keeps breaking inside one block makes none). */
	got = content_missing_from(rf->ce, start) > start ? got : 0;
	w->n = got ? 0 : w->n + 1;
	w->since = got ? 0 : w->since ? w->since : mono_s();
	if (got)
		log_info("bitstream %s: stream broke after %llu bytes (%s); "
			 "resuming",
			 rf->uuid, (unsigned long long)got, strerror(-rc));
	if (w->n > RETRY_MAX || err_is_unreachable(rc) ||
	    (w->since && mono_s() - w->since >= r->budget)) {
		log_warn("bitstream %s: giving up after %d failures: %s",
			 rf->uuid, w->n, strerror(-rc));
		rf->err = rc;
		rf->err_gen++;
		pthread_cond_broadcast(&rf->cond);
		return -1;
	}
	rf->window = WIN_MIN;
	return w->n ? 100L << (w->n < 5 ? w->n : 5) : 0;
}

/* Streams windows after the latest sequential read until the file is
 * complete, nobody needs more, or the reader stops. */
static void *worker_main(void *arg)
{
	struct wslot *ws = arg;
	struct rfile *rf = ws->rf;
	struct reader *r = rf->r;
	time_t idle_since = mono_s();
	uint64_t start, end, got;
	struct wfails fails = {0, 0};
	int rc, slot, whole, fatal, verify;
	struct timespec ts;
	long wait;

	pthread_mutex_lock(&rf->lock);
	while (!rf->stop && !is_closing(r) && !rf->fatal) {
		/* Pick the next window, or wait for demand (not forever). */
		whole = __atomic_load_n(&rf->no_range, __ATOMIC_ACQUIRE);
		rc = worker_next(rf, whole, &start, &end);
		if (rc < 0)
			break;
		if (rc == 0) {
			if (mono_s() - idle_since > WORKER_IDLE)
				break;
			ts = deadline_ms(500);
			pthread_cond_timedwait(&rf->cond, &rf->lock, &ts);
			continue;
		}
		/* Fetch it without the lock. */
		slot = inflight_add(rf, start, whole ? rf->size : end);
		pthread_mutex_unlock(&rf->lock);
		rc = fetch_range(rf, start, end, 1, slot, r->budget * 1000L,
				 &got, &fatal);
		pthread_mutex_lock(&rf->lock);
		/* A failure is judged by what reached the cache: wait for
		 * what the writer still has of this fetch. */
		while (rc && slot >= 0 && rf->inflight[slot].pending)
			pthread_cond_wait(&rf->cond, &rf->lock);
		inflight_del(rf, slot);
		idle_since = mono_s();
		if (rc == 0) {
			fails.n = 0;
			fails.since = 0;
			window_grow(rf);
			continue;
		}
		/* Resume, back off or give up. */
		wait = worker_failed(rf, start, rc, fatal, got, &fails);
		if (wait < 0)
			break;
		if (wait > 0) {
			ts = deadline_ms(wait);
			pthread_cond_timedwait(&rf->cond, &rf->lock, &ts);
		}
	}
	verify = !rf->hasher_started;
	pthread_mutex_unlock(&rf->lock);
	if (verify && !rf->stop && !is_closing(r))
		maybe_verify(rf);
	pthread_mutex_lock(&rf->lock);
	rf->worker_running--;
	ws->done = 1;
	pthread_cond_broadcast(&rf->cond);
	pthread_mutex_unlock(&rf->lock);
	return NULL;
}

/* Starts the workers that do not run (r->streams of them). rf->lock held.
 * 0 or -errno. */
static int worker_ensure(struct rfile *rf)
{
	struct wslot *ws;
	int i, n, rc;

	if (rf->worker_running >= rf->r->streams)
		return 0;
	if (rf->stop || is_closing(rf->r))
		return -EIO;
	if (!rf->worker_running)
		rf->window = WIN_MIN;
	/* More streams only once the reader proved sequential (the window
	 * grew twice): a few nearby random reads must not fetch ahead. */
	n = rf->window >= 4 * WIN_MIN ? rf->r->streams : 1;
	for (i = 0; i < n; i++) {
		ws = &rf->wslot[i];
		if (ws->started && !ws->done)
			continue;
		if (ws->started) /* finished: done is its last change */
			pthread_join(ws->thread, NULL);
		ws->rf = rf;
		ws->started = ws->done = 0;
		rf->worker_running++;
		rc = pthread_create(&ws->thread, NULL, worker_main, ws);
		if (rc) {
			rf->worker_running--;
			log_warn("cannot start a reader thread: %s",
				 strerror(rc));
			return i ? 0 : -rc;
		}
		ws->started = 1;
	}
	return 0;
}

/* Stops and joins the worker. No lock held. */
static void worker_stop(struct rfile *rf)
{
	int i, started;

	pthread_mutex_lock(&rf->lock);
	__atomic_store_n(&rf->stop, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&rf->cond);
	pthread_mutex_unlock(&rf->lock);
	for (i = 0; i < STREAMS_MAX; i++) {
		if (rf->wslot[i].started)
			pthread_join(rf->wslot[i].thread, NULL);
		rf->wslot[i].started = 0;
	}
	writer_stop(rf); /* after the streams: it drains what they queued */
	/* A complete file's hash is finished here (its verdict is kept). */
	started = rf->hasher_started;
	if (started)
		pthread_join(rf->hasher, NULL);
	rf->hasher_started = 0;
	hash_finish(rf, started);
}

/* ---- reads ------------------------------------------------------------------
 */

/* The outcome of a read that saw no data for the whole budget: EIO (the
 * contract in reader.h). rf->lock held. */
static ssize_t no_data(struct rfile *rf, uint64_t off)
{
	log_warn("bitstream %s: no data for %d s at offset %llu; the read "
		 "fails",
		 rf->uuid, rf->r->budget, (unsigned long long)off);
	return -EIO;
}

/* One read waiting for its bytes. */
struct rwait {
	uint64_t o;    /* offset */
	size_t size;   /* bytes asked */
	uint64_t lim;  /* end of the file as known now */
	uint64_t want; /* bytes to serve: size clamped to lim */
	int seq;       /* part of a sequential run */
	unsigned gen;  /* rf->err_gen at the start */
	uint64_t seen_progress;
	int64_t since; /* when this read last saw data arrive (ms) */
	int64_t left;  /* ms of its budget left */
	int tries;     /* fetches of its own without progress */
};

/* Counts a call in progress (reader_free waits for it). 0 or -EIO. */
static int call_begin(struct reader *r)
{
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	if (r->closing)
		rc = -EIO;
	else
		r->active++;
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* Ends a call counted by call_begin. */
static void call_end(struct reader *r)
{
	pthread_mutex_lock(&r->lock);
	if (--r->active == 0)
		pthread_cond_broadcast(&r->idle);
	pthread_mutex_unlock(&r->lock);
}

/* Starts a read: tells the worker about a sequential one. rf->lock held. */
static void read_start(struct reader_file *h, struct rwait *w)
{
	struct rfile *rf = h->rf;

	w->seq = h->nreads && w->o + SEQ_SLACK >= h->last_end &&
		 w->o <= h->last_end + SEQ_SLACK;
	if (w->seq) {
		rf->seq_pos = w->o;
		rf->demand = w->o + w->size;
		pthread_cond_broadcast(&rf->cond);
	}
	w->gen = rf->err_gen;
	w->seen_progress = rf->progress;
	w->since = mono_ms();
}

/* Whether the read is decided (rf->lock held): 1 with *ret set (bytes,
 * 0 at EOF, -errno), else 0 with w->lim, w->want, w->left and *miss (the
 * first missing byte) set. */
static int read_decided(struct rfile *rf, struct rwait *w, uint64_t *miss,
			ssize_t *ret)
{
	uint64_t have;

	if (rf->fatal)
		return *ret = rf->fatal, 1;
	if (is_closing(rf->r) || rf->stop)
		return *ret = -EIO, 1;
	w->lim = rf->eof_at < rf->size ? rf->eof_at : rf->size;
	if (w->o >= w->lim)
		return *ret = 0, 1;
	w->want = w->lim - w->o < w->size ? w->lim - w->o : w->size;
	have = content_present(rf->ce, w->o, w->want);
	if (have == w->want) {
		rf->served = 1; /* cover_take: no other document now */
		return *ret = (ssize_t)w->want, 1;
	}
	if (rf->err_gen != w->gen)
		return *ret = rf->err, 1;
	*miss = content_missing_from(rf->ce, w->o + have);
	if (rf->progress != w->seen_progress) {
		w->seen_progress = rf->progress;
		w->since = mono_ms();
	}
	w->left = rf->r->budget * 1000L - (mono_ms() - w->since);
	if (w->left <= 0)
		return *ret = no_data(rf, *miss), 1;
	return 0;
}

/* Whether byte miss comes from elsewhere (a fetch in flight, or the
 * worker, started here if needed). rf->lock held. The worker streams from
 * the block of seq_pos on; a block below it (a concurrent later read
 * moved seq_pos past this one) is fetched by the read itself, or it would
 * stall. */
static int read_by_others(struct rfile *rf, const struct rwait *w,
			  uint64_t miss)
{
	return inflight_has(rf, miss) ||
	       (__atomic_load_n(&rf->no_range, __ATOMIC_ACQUIRE) &&
		worker_ensure(rf) == 0) ||
	       (w->seq && miss >= rf->seq_pos / CONTENT_BLOCK * CONTENT_BLOCK &&
		worker_ensure(rf) == 0);
}

/* A random read fetches a small window at miss itself (rf->lock held,
 * dropped during the transfer). 1 to look again, 0 when the read is
 * decided with *ret. */
static int read_fetch(struct rfile *rf, struct rwait *w, uint64_t miss,
		      ssize_t *ret)
{
	uint64_t mend = miss + RANDOM_WIN, got;
	int rc, slot, fatal;
	struct timespec ts;
	long wait;

	/* The window: at least to the read's end (whole blocks), within
	 * the file, the missing run and the fetches in flight. */
	if (mend < w->o + w->want)
		mend = (w->o + w->want + CONTENT_BLOCK - 1) / CONTENT_BLOCK *
		       CONTENT_BLOCK;
	if (mend > w->lim)
		mend = w->lim;
	if (content_present_from(rf->ce, miss) < mend)
		mend = content_present_from(rf->ce, miss);
	mend = inflight_next(rf, miss, mend);
	slot = inflight_add(rf, miss, mend);
	pthread_mutex_unlock(&rf->lock);
	rc = fetch_range(rf, miss, mend, 0, slot, (long)w->left, &got, &fatal);
	pthread_mutex_lock(&rf->lock);
	inflight_del(rf, slot);
	pthread_cond_broadcast(&rf->cond);
	/* Judge the outcome: done, progress, fatal, or back off. */
	if (rc == 0 || rc == FETCH_WHOLE_NEEDED)
		return 1;
	if (note_failure(rf, miss, rc, fatal))
		return 1; /* fatal/EOF is picked up by read_decided */
	if (rc == -ECANCELED)
		return *ret = -EIO, 0;
	if (content_missing_from(rf->ce, miss) > miss) {
		w->tries = 0; /* progress: resume at once */
		return 1;
	}
	w->left = rf->r->budget * 1000L - (mono_ms() - w->since);
	if (w->left <= 0)
		return *ret = no_data(rf, miss), 0;
	if (++w->tries > RETRY_MAX || err_is_unreachable(rc)) {
		log_warn("bitstream %s: reading at %llu failed: %s", rf->uuid,
			 (unsigned long long)miss, strerror(-rc));
		return *ret = rc, 0;
	}
	wait = 100L << (w->tries < 5 ? w->tries : 5);
	ts = deadline_ms(wait < w->left ? wait : (long)w->left);
	pthread_cond_timedwait(&rf->cond, &rf->lock, &ts);
	return 1;
}

/* Waits until the read is decided, fetching what nobody else does
 * (rf->lock held). Bytes, 0 at EOF, or -errno. */
static ssize_t read_wait(struct rfile *rf, struct rwait *w)
{
	struct timespec ts;
	uint64_t miss;
	ssize_t ret;

	for (;;) {
		if (read_decided(rf, w, &miss, &ret))
			break;
		if (read_by_others(rf, w, miss)) {
			ts = deadline_ms(w->left < 1000 ? (long)w->left : 1000);
			pthread_cond_timedwait(&rf->cond, &rf->lock, &ts);
			continue;
		}
		if (!read_fetch(rf, w, miss, &ret))
			break;
	}
	if (ret == -ETIMEDOUT) /* a stalled transfer: the contract says EIO */
		ret = -EIO;
	if (ret < 0 && ret != -ECANCELED && !rf->fatal) {
		rf->failed_err = (int)ret;
		rf->failed_at = mono_s();
		rf->failed_progress = rf->progress;
	}
	return ret;
}

/* Ends a read (rf->lock held, released here): keeps a sequential
 * reader's stream running ahead, checks a complete file's MD5. Returns
 * ret, or the error the check found. */
static ssize_t read_finish(struct reader_file *h, const struct rwait *w,
			   ssize_t ret)
{
	struct rfile *rf = h->rf;
	uint64_t miss, lim;
	int verify;

	if (ret >= 0) {
		h->last_end = w->o + (uint64_t)ret;
		h->nreads++;
	}
	if (ret > 0 && w->seq && rf->worker_running < rf->r->streams &&
	    !rf->fatal && !__atomic_load_n(&rf->no_range, __ATOMIC_ACQUIRE)) {
		miss = content_missing_from(rf->ce, w->o);
		lim = rf->eof_at < rf->size ? rf->eof_at : rf->size;
		if (miss < lim && miss < rf->demand + ahead_limit(rf))
			worker_ensure(rf);
	}
	/* A large file is checked by its hasher, not in this read. */
	if (ret > 0 && rf->size > VERIFY_INLINE_MAX)
		hasher_ensure(rf);
	verify =
	    ret > 0 && !rf->worker_running && rf->size <= VERIFY_INLINE_MAX;
	pthread_mutex_unlock(&rf->lock);
	if (ret > 0)
		content_note_read(rf->ce, w->o, (uint64_t)ret);
	if (verify) {
		/* The file may have just become complete: check it before
		 * serving from it (once; fast when already verified). */
		maybe_verify(rf);
		pthread_mutex_lock(&rf->lock);
		if (rf->fatal)
			ret = rf->fatal;
		pthread_mutex_unlock(&rf->lock);
	}
	return ret;
}

/* Makes [off, off+size) (clamped) present in the cache; returns the byte
 * count, 0 at EOF, or -errno. */
static ssize_t read_prepare(struct reader_file *h, size_t size, off_t off)
{
	struct rfile *rf = h->rf;
	struct rwait w = {0};
	ssize_t ret;

	if (off < 0)
		return -EINVAL;
	w.o = (uint64_t)off;
	w.size = size;
	if (w.o >= rf->size || !size)
		return 0;
	if (call_begin(rf->r) < 0)
		return -EIO;
	pthread_mutex_lock(&rf->lock);
	read_start(h, &w);
	/* Right after a read gave up here, fail at once (see rfile). */
	if (rf->failed_err && rf->failed_progress == rf->progress &&
	    mono_s() - rf->failed_at < rf->r->budget &&
	    content_present(rf->ce, w.o, size) == 0)
		ret = rf->failed_err;
	else
		ret = read_wait(rf, &w);
	ret = read_finish(h, &w, ret);
	call_end(rf->r);
	return ret;
}

/* Sets *fd to the descriptor that holds the n bytes read_prepare made
 * present at off: the entry may move to memory (disk full) between the
 * wait and here; then it waits again. Returns n, or -errno. */
static ssize_t prepare_fd(struct reader_file *f, size_t size, off_t off,
			  ssize_t n, int *fd)
{
	int tries = 0;

	for (;;) {
		*fd = n > 0 ? content_fd_present(f->rf->ce, (uint64_t)off,
						 (uint64_t)n)
			    : content_fd(f->rf->ce);
		if (*fd >= 0 || ++tries >= 4)
			break;
		n = read_prepare(f, size, off);
	}
	return *fd < 0 ? -EIO : n;
}

ssize_t reader_prepare(struct reader_file *f, size_t size, off_t off, int *fd)
{
	return prepare_fd(f, size, off, read_prepare(f, size, off), fd);
}

/* Where chunks may be released (rf->lock held): behind the reader, and
 * behind the hasher while it runs (it hashes from them when it keeps up;
 * when not, chunk_reserve gives them up for the reader's sake). */
static uint64_t sweep_pos(const struct rfile *rf)
{
	if (rf->hasher_started && rf->hashed < rf->seq_pos)
		return rf->hashed;
	return rf->seq_pos;
}

/* Takes the bytes [off, off+n) from the chunks when they are all there,
 * pinning rf until reader_release. 1 when taken. */
static int mem_take(struct rfile *rf, off_t off, size_t n, struct reader_mem *m)
{
	pthread_mutex_lock(&rf->lock);
	m->n =
	    chunk_find(&rf->chunks, rf->ce, (uint64_t)off, n, m->iov, m->idx);
	pthread_mutex_unlock(&rf->lock);
	if (!m->n)
		return 0;
	pthread_mutex_lock(&rf->r->lock);
	rf->refs++; /* the reply may outlive the handle (reader_release) */
	pthread_mutex_unlock(&rf->r->lock);
	m->pin = rf;
	return 1;
}

ssize_t reader_prepare_mem(struct reader_file *f, size_t size, off_t off,
			   int *fd, struct reader_mem *m)
{
	ssize_t n;

	memset(m, 0, sizeof(*m));
	*fd = -1;
	n = read_prepare(f, size, off);
	if (n <= 0 || !mem_take(f->rf, off, (size_t)n, m))
		n = prepare_fd(f, size, off, n, fd);
	if (n > 0)
		__atomic_add_fetch(m->n ? &f->rf->mem_reads
					: &f->rf->file_reads,
				   1, __ATOMIC_RELAXED);
	return n;
}

static void rfile_put(struct rfile *rf);

void reader_release(struct reader_mem *m)
{
	struct rfile *rf = m->pin;
	int i;

	if (!rf)
		return;
	pthread_mutex_lock(&rf->lock);
	for (i = 0; i < m->n; i++)
		chunk_unref(&rf->chunks, m->idx[i]);
	chunk_sweep(rf->r->pool, &rf->chunks, sweep_pos(rf));
	pthread_mutex_unlock(&rf->lock);
	m->pin = NULL;
	m->n = 0;
	rfile_put(rf);
}

ssize_t reader_read(struct reader_file *f, char *buf, size_t size, off_t off)
{
	ssize_t n, got;
	size_t done = 0;
	int fd;

	n = reader_prepare(f, size, off, &fd);
	if (n <= 0)
		return n;
	while (done < (size_t)n) {
		got =
		    pread(fd, buf + done, (size_t)n - done, off + (off_t)done);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		done += (size_t)got;
	}
	return n;
}

/* ---- sizes the JSON did not give ------------------------------------------
 */

int reader_size(struct reader *r, const char *uuid, int64_t *size)
{
	unsigned i;
	int64_t got;

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < KNOWN_SIZES; i++)
		if (!strcmp(r->sizes[i].uuid, uuid)) {
			*size = r->sizes[i].size;
			pthread_mutex_unlock(&r->lock);
			return 0;
		}
	pthread_mutex_unlock(&r->lock);
	if (rest_content_size(r->s, uuid, r->budget * 1000L, &got) < 0)
		return -EIO;
	pthread_mutex_lock(&r->lock);
	i = r->sizes_next++ % KNOWN_SIZES;
	snprintf(r->sizes[i].uuid, sizeof(r->sizes[i].uuid), "%s", uuid);
	r->sizes[i].size = got;
	pthread_mutex_unlock(&r->lock);
	log_info("bitstream %s: size %lld (from the server; its JSON had "
		 "none)",
		 uuid, (long long)got);
	*size = got;
	return 0;
}

/* ---- open / close ----------------------------------------------------------
 */

/* Frees an rfile whose worker has stopped. */
static void rfile_free(struct rfile *rf)
{
	chunk_release_all(rf->r->pool, &rf->chunks);
	if (rf->mem_reads)
		log_debug("bitstream %s: %lu reads answered from memory, %lu "
			  "from the cache file",
			  rf->uuid, rf->mem_reads, rf->file_reads);
	content_close(&rf->ce);
	if (rf->ce_stored)
		content_close(&rf->ce_stored);
	pthread_cond_destroy(&rf->cond);
	pthread_cond_destroy(&rf->wcond);
	pthread_mutex_destroy(&rf->lock);
	pthread_mutex_destroy(&rf->hash_lock);
	free(rf);
}

/* Opens rf's content entry: the stored file's, or for a bitstream seen
 * with a cover page (core/cover.h) a private one of the size last served
 * (the response tells the real one). 0 or -errno. */
static int open_entry(struct reader *r, struct rfile *rf)
{
	int64_t served;

	if (rf->md5[0] && cover_known(r->covers, rf->uuid, rf->md5, &served)) {
		rf->cover = 1;
		rf->no_range = 1;
		rf->size = rf->eof_at = (uint64_t)served;
		return content_open(r->cache, rf->uuid, "", served, &rf->ce);
	}
	return content_open(r->cache, rf->uuid, rf->md5, (int64_t)rf->json_size,
			    &rf->ce);
}

int reader_open(struct reader *r, const char *uuid, const char *md5,
		int64_t size, struct reader_file **out)
{
	struct reader_file *h = NULL;
	struct rfile *rf = NULL;
	int rc = 0, known = md5 && strlen(md5) == 32;

	*out = NULL;
	if (!uuid)
		return -EINVAL;
	if (size < 0 || size > MODEL_SIZE_MAX) {
		rc = reader_size(r, uuid, &size);
		if (rc < 0)
			return rc;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	pthread_mutex_lock(&r->lock);
	if (r->closing) {
		rc = -EIO;
		goto out;
	}
	if (known)
		for (rf = r->files; rf; rf = rf->next)
			if (rf->md5[0] && !strcmp(rf->uuid, uuid) &&
			    !strcasecmp(rf->md5, md5) &&
			    rf->json_size == (uint64_t)size && !rf->fatal)
				break;
	if (rf) {
		rf->refs++;
		goto out;
	}
	rf = calloc(1, sizeof(*rf));
	if (!rf) {
		rc = -ENOMEM;
		goto out;
	}
	rf->r = r;
	rf->refs = 1;
	snprintf(rf->uuid, sizeof(rf->uuid), "%s", uuid);
	snprintf(rf->md5, sizeof(rf->md5), "%s", known ? md5 : "");
	rf->size = rf->json_size = (uint64_t)size;
	rf->eof_at = rf->size;
	rf->window = WIN_MIN;
	pthread_mutex_init(&rf->lock, NULL);
	pthread_mutex_init(&rf->hash_lock, NULL);
	content_md5_init(&rf->hash);
	pthread_cond_init(&rf->cond, NULL);
	pthread_cond_init(&rf->wcond, NULL);
	rc = open_entry(r, rf);
	if (rc) {
		rfile_free(rf);
		rf = NULL;
		goto out;
	}
	rf->next = r->files;
	r->files = rf;
out:
	pthread_mutex_unlock(&r->lock);
	if (rc) {
		free(h);
		return rc;
	}
	h->rf = rf;
	*out = h;
	return 0;
}

/* Drops a reference to rf (a handle's or a reply's); the last one stops
 * its streams and frees it. */
static void rfile_put(struct rfile *rf)
{
	struct reader *r = rf->r;
	struct rfile **pp;
	int last;

	pthread_mutex_lock(&r->lock);
	last = --rf->refs == 0;
	if (last) {
		for (pp = &r->files; *pp; pp = &(*pp)->next)
			if (*pp == rf) {
				*pp = rf->next;
				break;
			}
		r->active++; /* reader_free waits for this close */
	}
	pthread_mutex_unlock(&r->lock);
	if (!last)
		return;
	worker_stop(rf);
	rfile_free(rf);
	pthread_mutex_lock(&r->lock);
	if (!r->files) /* nothing is read: give the idle buffers back */
		chunk_pool_trim(r->pool);
	if (--r->active == 0)
		pthread_cond_broadcast(&r->idle);
	pthread_mutex_unlock(&r->lock);
}

void reader_close(struct reader_file **fp)
{
	struct reader_file *h = *fp;

	if (!h)
		return;
	*fp = NULL;
	rfile_put(h->rf);
	free(h);
}

/* ---- the reader
 * -------------------------------------------------------------- */

struct reader *reader_new(struct session *s, const struct reader_config *cfg,
			  char *err, size_t errlen)
{
	struct reader *r = calloc(1, sizeof(*r));

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->s = s;
	r->budget = cfg->retry_budget > 0 ? cfg->retry_budget : RETRY_BUDGET;
	r->streams = cfg->streams > 0 ? cfg->streams : STREAMS_DEFAULT;
	if (r->streams > STREAMS_MAX)
		r->streams = STREAMS_MAX;
	r->cache = content_new(cfg->cache_dir, cfg->cache_max, err, errlen);
	r->covers = cover_new();
	r->pool = chunk_pool_new(CHUNK_BUDGET);
	if (!r->cache || !r->covers || !r->pool) {
		if (r->cache) {
			content_free(&r->cache);
			snprintf(err, errlen, "out of memory");
		}
		cover_free(&r->covers);
		chunk_pool_free(&r->pool);
		free(r);
		return NULL;
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->idle, NULL);
	return r;
}

void reader_free(struct reader **rp)
{
	struct reader *r = *rp;
	struct rfile *rf, *next;
	struct timespec ts;

	if (!r)
		return;
	*rp = NULL;
	pthread_mutex_lock(&r->lock);
	__atomic_store_n(&r->closing, 1, __ATOMIC_RELEASE);
	for (rf = r->files; rf; rf = rf->next) {
		pthread_mutex_lock(&rf->lock);
		__atomic_store_n(&rf->stop, 1, __ATOMIC_RELEASE);
		pthread_cond_broadcast(&rf->cond);
		pthread_mutex_unlock(&rf->lock);
	}
	/* Reads in progress notice `closing` at their next wake-up; transfers
	 * at their next callback (bounded by the stall timeout of the
	 * transfer). */
	while (r->active) {
		ts = deadline_ms(200);
		pthread_cond_timedwait(&r->idle, &r->lock, &ts);
		for (rf = r->files; rf; rf = rf->next) {
			pthread_mutex_lock(&rf->lock);
			pthread_cond_broadcast(&rf->cond);
			pthread_mutex_unlock(&rf->lock);
		}
	}
	rf = r->files;
	r->files = NULL;
	pthread_mutex_unlock(&r->lock);
	for (; rf; rf = next) {
		next = rf->next;
		worker_stop(rf);
		rfile_free(rf);
	}
	content_free(&r->cache);
	cover_free(&r->covers);
	chunk_pool_free(&r->pool);
	pthread_cond_destroy(&r->idle);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* The content cache's figures. */
void reader_cache_use(struct reader *r, uint64_t *used, uint64_t *cap)
{
	*used = r && r->cache ? content_usage(r->cache) : 0;
	*cap = r && r->cache ? content_cap(r->cache) : 0;
}

/* The cache's filesystem figures. */
int reader_space(struct reader *r, struct statvfs *out)
{
	return r && r->cache ? content_space(r->cache, out) : -ENOENT;
}

/* The table of bitstreams seen with a cover page (fs: stat, xattr). */
struct cover_table *reader_covers(struct reader *r)
{
	return r ? r->covers : NULL;
}

/* The size of the cover-page document f reads, -1 for the stored file. */
int64_t reader_served_size(struct reader_file *f)
{
	struct rfile *rf = f->rf;
	int64_t v;

	if (!__atomic_load_n(&rf->cover, __ATOMIC_ACQUIRE))
		return -1; /* every read asks: no lock for the usual case */
	pthread_mutex_lock(&rf->lock);
	v = rf->cover ? (int64_t)rf->size : -1;
	pthread_mutex_unlock(&rf->lock);
	return v;
}
