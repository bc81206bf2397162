/* reader: ranged streaming of bitstream content into the content cache.
 * See reader.h for the behaviour; content.h for the cache underneath.
 *
 * Per open bitstream (struct rfile, shared by all handles of the same
 * UUID + MD5) there is at most one streaming worker thread serving
 * sequential readers: it fetches the first missing block at or after the
 * latest sequential read in windows that double from WIN_MIN to WIN_MAX,
 * staying at most two windows ahead of the reader. Random reads fetch one
 * small window in the reading thread. Fetches write into the cache in
 * FLUSH_SIZE chunks and wake the readers waiting on rf->cond; ranges being
 * fetched are listed in rf->inflight so that nobody fetches them twice.
 *
 * Lock order: r->lock → rf->lock → content locks. No lock is held during
 * HTTP transfers or cache writes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "content.h"
#include "http.h"
#include "log.h"
#include "reader.h"
#include "rest.h"
#include "session.h"

#define WIN_MIN (256u * 1024)	    /* first window of a stream */
#define WIN_MAX (64u * 1024 * 1024) /* largest window */
#define RANDOM_WIN (256u * 1024)    /* window of a random read */
#define FLUSH_SIZE (1u << 20)	    /* bytes written to the cache at once */
#define SEQ_SLACK (1u << 20)	    /* reorder tolerance of sequential reads */
#define RETRY_BUDGET                                                           \
	60	       /* default s without progress before a                  \
			* read fails (reader_config) */
#define WORKER_IDLE 10 /* s a worker waits for demand */
#define RETRY_MAX 6    /* failures in a row without progress */
#define MAX_INFLIGHT 16
#define VERIFY_INLINE_MAX (64u << 20) /* larger files: MD5 in the worker */

/* Outcomes of a fetch besides 0 and -errno. */
#define FETCH_WHOLE_NEEDED (-10001) /* 200 to a random read: use the worker */
#define FETCH_EOF (-10002)	    /* 416 */

struct range {
	uint64_t start, end; /* [start, end) still to arrive */
	int used;
};

struct rfile {
	struct reader *r;
	struct rfile *next;
	int refs; /* under r->lock */
	char uuid[40];
	char md5[33];
	uint64_t size;
	char *url;
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
	/* worker */
	pthread_t thread;
	int thread_started;
	int worker_running;
	uint64_t seq_pos; /* offset of the latest sequential read */
	uint64_t demand;  /* end of the latest sequential read */
	uint64_t window;
};

struct reader_file {
	struct rfile *rf;
	uint64_t last_end;
	unsigned nreads;
};

struct reader {
	struct session *s;
	struct content *cache;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	struct rfile *files;
	int closing;  /* read without the lock in callbacks (atomic) */
	int no_range; /* atomic: the server ignores Range */
	int active;   /* calls in progress, under lock */
	int budget;   /* s without progress before a read gives up */
};

/* One HTTP transfer into the cache. */
struct fetch {
	struct rfile *rf;
	uint64_t start, end; /* requested [start, end) */
	uint64_t next;	     /* file offset of the next body byte */
	char *buf;	     /* bytes waiting for the cache, from bufoff */
	size_t buflen, bufcap;
	uint64_t bufoff;
	int slot;	 /* inflight slot, -1 if none */
	int allow_whole; /* a 200 may be used (worker) */
	int ranged;	 /* a Range header was sent */
	int got_headers;
	int discard;	  /* non-2xx body: ignore */
	int err;	  /* decided in a callback */
	uint64_t written; /* body bytes that reached the cache */
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

static void inflight_del(struct rfile *rf, int slot)
{
	if (slot >= 0)
		rf->inflight[slot].used = 0;
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

/* Moves buffered bytes into the cache and wakes the readers. */
static int fetch_flush(struct fetch *f)
{
	struct rfile *rf = f->rf;
	int rc;

	if (!f->buflen)
		return 0;
	rc = content_write(rf->ce, f->bufoff, f->buf, f->buflen);
	if (rc == 0)
		f->written += f->buflen;
	f->bufoff += f->buflen;
	f->buflen = 0;
	pthread_mutex_lock(&rf->lock);
	rf->progress++;
	if (f->slot >= 0 && rf->inflight[f->slot].start < f->bufoff)
		rf->inflight[f->slot].start = f->bufoff;
	pthread_cond_broadcast(&rf->cond);
	pthread_mutex_unlock(&rf->lock);
	return rc;
}

/* Parses "bytes a-b/total". 0 or -1. */
int reader_parse_content_range(const char *v, uint64_t *a, uint64_t *b,
			       uint64_t *total)
{
	char *end;

	if (!v || strncasecmp(v, "bytes", 5))
		return -1;
	v += 5;
	while (*v == ' ')
		v++;
	if (*v < '0' || *v > '9')
		return -1;
	*a = strtoull(v, &end, 10);
	if (*end != '-' || end[1] < '0' || end[1] > '9')
		return -1;
	*b = strtoull(end + 1, &end, 10);
	if (*end != '/' || end[1] < '0' || end[1] > '9')
		return -1;
	*total = strtoull(end + 1, &end, 10);
	return *end ? -1 : 0;
}

/* Remembers, once for the whole mount, that Range is ignored. */
static void note_no_range(struct reader *r)
{
	if (!__atomic_exchange_n(&r->no_range, 1, __ATOMIC_ACQ_REL))
		log_warn("the server (or a proxy) ignores HTTP Range requests: "
			 "files will be read as whole streams from offset 0");
}

/* on_headers: accepts only a 206 that matches the request (or a 200 that
 * can be used as the whole file); other statuses are judged afterwards. */
static int fetch_headers(const struct http_response *resp, void *ctx)
{
	struct fetch *f = ctx;
	struct rfile *rf = f->rf;
	uint64_t a, b, total;
	const char *cr;

	f->got_headers = 1;
	f->discard = 0;
	f->buflen = 0;
	f->next = f->bufoff = f->start;
	if (resp->status == 206 && f->ranged) {
		cr = http_response_header(resp, "Content-Range");
		if (reader_parse_content_range(cr, &a, &b, &total) < 0 ||
		    a != f->start || b != f->end - 1) {
			log_error(
			    "bitstream %s: unexpected Content-Range \"%s\" "
			    "for bytes %llu-%llu",
			    rf->uuid, cr ? cr : "",
			    (unsigned long long)f->start,
			    (unsigned long long)f->end - 1);
			f->err = -EIO;
			return 1;
		}
		if (total != rf->size) {
			log_error(
			    "bitstream %s changed on the server: %llu bytes "
			    "instead of %llu",
			    rf->uuid, (unsigned long long)total,
			    (unsigned long long)rf->size);
			f->err = -EIO;
			return 1;
		}
		return 0;
	}
	if (resp->status == 200) {
		if (f->ranged)
			note_no_range(rf->r);
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
	f->discard = 1; /* an error body: judged by status afterwards */
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
	if (f->discard)
		return 0;
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
			const struct http_response *resp, int *fatal)
{
	long st = resp->status;

	*fatal = 0;
	if (f->err) {
		*fatal = f->err != FETCH_WHOLE_NEEDED;
		return f->err;
	}
	if (rc < 0)
		return rc; /* transport: resumable */
	if (st == 416)
		return FETCH_EOF;
	if (st >= 500 || st == 429 || st == 408)
		return -EAGAIN;
	if (st >= 300 || st < 200 || f->discard) {
		rc = http_status_errno(st);
		*fatal = 1;
		return rc ? -rc : -EIO;
	}
	if (!f->got_headers || f->next < f->end)
		return -ECONNRESET; /* short body without a transport error */
	return 0;
}

/* Fetches [start, end) of rf into the cache (one attempt; http.c retries
 * before the first byte). *got is set to the bytes that reached the cache.
 * Returns 0, -errno, FETCH_WHOLE_NEEDED or FETCH_EOF. slot is the inflight
 * slot registered by the caller (or -1). */
static int fetch_range(struct rfile *rf, uint64_t start, uint64_t end,
		       int worker, int slot, uint64_t *got, int *fatal)
{
	struct reader *r = rf->r;
	struct http_request req;
	struct http_response resp;
	struct curl_slist *hdrs = NULL;
	struct fetch f;
	char range[80];
	int rc, whole = __atomic_load_n(&r->no_range, __ATOMIC_ACQUIRE);

	memset(&f, 0, sizeof(f));
	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	*got = 0;
	*fatal = 0;
	f.rf = rf;
	f.start = start;
	f.end = end;
	f.slot = slot;
	f.allow_whole = worker;
	f.bufcap =
	    end - start < FLUSH_SIZE ? (size_t)(end - start) : FLUSH_SIZE;
	if (whole && worker)
		f.bufcap = FLUSH_SIZE;
	f.buf = malloc(f.bufcap ? f.bufcap : 1);
	if (!f.buf)
		return -ENOMEM;
	/* Always at least one header: session.c treats an empty extra
	 * header list of an anonymous GET as ENOMEM. */
	hdrs = curl_slist_append(NULL, "Accept: */*");
	if (!hdrs) {
		rc = -ENOMEM;
		goto out;
	}
	if (!(whole && worker)) {
		f.ranged = 1;
		snprintf(range, sizeof(range), "Range: bytes=%llu-%llu",
			 (unsigned long long)start,
			 (unsigned long long)end - 1);
		if (!curl_slist_append(hdrs, range)) {
			rc = -ENOMEM;
			goto out;
		}
	} else {
		f.end = rf->size;
	}
	req.method = "GET";
	req.url = rf->url;
	req.headers = hdrs;
	req.idempotent = 1;
	req.on_headers = fetch_headers;
	req.on_body = fetch_body;
	req.ctx = &f;
	log_debug("bitstream %s: GET bytes %llu-%llu%s", rf->uuid,
		  (unsigned long long)start, (unsigned long long)end - 1,
		  f.ranged ? "" : " (whole file, no Range)");
	rc = session_request(r->s, &req, &resp);
	if (fetch_flush(&f) < 0 && !f.err)
		f.err = -EIO;
	rc = fetch_result(&f, rc, &resp, fatal);
	if (rc && rc != -ECANCELED && rc != FETCH_WHOLE_NEEDED)
		log_debug("bitstream %s: bytes %llu-%llu: %s (status %ld, %s)",
			  rf->uuid, (unsigned long long)start,
			  (unsigned long long)end - 1,
			  rc == FETCH_EOF ? "416" : strerror(-rc), resp.status,
			  resp.errmsg);
	*got = f.written;
out:
	http_response_release(&resp);
	curl_slist_free_all(hdrs);
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

/* Whether retrying soon is pointless: nothing answers at that address
 * (http.c has already retried the connection with backoff). */
static int server_unreachable(int rc)
{
	return rc == -ECONNREFUSED || rc == -EHOSTUNREACH || rc == -ENETUNREACH;
}

/* ---- MD5 check -------------------------------------------------------------
 */

/* Verifies a complete file once; a mismatch drops it and fails reads. */
static void maybe_verify(struct rfile *rf)
{
	int rc;

	if (!rf->md5[0] || !content_complete(rf->ce) ||
	    content_verified(rf->ce))
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

/* ---- the streaming worker ------------------------------------------------ */

/* How far beyond the demand the worker may fetch. */
static uint64_t ahead_limit(const struct rfile *rf)
{
	uint64_t ahead = 2 * rf->window, cap = content_cap(rf->r->cache) / 4;

	if (ahead > cap)
		ahead = cap;
	return ahead < WIN_MIN ? WIN_MIN : ahead;
}

/* Streams windows after the latest sequential read until the file is
 * complete, nobody needs more, or the reader stops. */
static void *worker_main(void *arg)
{
	struct rfile *rf = arg;
	struct reader *r = rf->r;
	time_t idle_since = mono_s();
	uint64_t start, end, lim, got, cap = content_cap(r->cache) / 4;
	int fails = 0, rc, slot, whole, fatal;
	time_t fail_since = 0;
	struct timespec ts;

	pthread_mutex_lock(&rf->lock);
	rf->window = WIN_MIN;
	while (!rf->stop && !is_closing(r) && !rf->fatal) {
		whole = __atomic_load_n(&r->no_range, __ATOMIC_ACQUIRE);
		lim = rf->eof_at < rf->size ? rf->eof_at : rf->size;
		start = content_missing_from(rf->ce, whole ? 0 : rf->seq_pos);
		if (start >= lim)
			break;
		if (!whole && (start >= rf->demand + ahead_limit(rf) ||
			       inflight_has(rf, start))) {
			if (mono_s() - idle_since > WORKER_IDLE)
				break;
			ts = deadline_ms(500);
			pthread_cond_timedwait(&rf->cond, &rf->lock, &ts);
			continue;
		}
		idle_since = mono_s();
		end = start + rf->window;
		if (end > lim)
			end = lim;
		if (!whole) {
			uint64_t p = content_present_from(rf->ce, start);

			if (p < end)
				end = p;
			end = inflight_next(rf, start, end);
		}
		slot = inflight_add(rf, start, whole ? rf->size : end);
		pthread_mutex_unlock(&rf->lock);
		rc = fetch_range(rf, start, end, 1, slot, &got, &fatal);
		pthread_mutex_lock(&rf->lock);
		inflight_del(rf, slot);
		idle_since = mono_s();
		if (rc == 0) {
			fails = 0;
			fail_since = 0;
			if (rf->window < WIN_MAX && rf->window < cap)
				rf->window *= 2;
			continue;
		}
		if (rc == -ECANCELED && (rf->stop || is_closing(r)))
			break;
		if (note_failure(rf, start, rc, fatal))
			break;
		/* Progress = new complete blocks, not merely bytes received
		 * (a stream that keeps breaking inside one block makes none).
		 */
		got = content_missing_from(rf->ce, start) > start ? got : 0;
		fails = got ? 0 : fails + 1;
		fail_since = got ? 0 : fail_since ? fail_since : mono_s();
		if (got)
			log_info("bitstream %s: stream broke after %llu bytes "
				 "(%s); resuming",
				 rf->uuid, (unsigned long long)got,
				 strerror(-rc));
		if (fails > RETRY_MAX || server_unreachable(rc) ||
		    (fail_since && mono_s() - fail_since >= r->budget)) {
			log_warn(
			    "bitstream %s: giving up after %d failures: %s",
			    rf->uuid, fails, strerror(-rc));
			rf->err = rc;
			rf->err_gen++;
			pthread_cond_broadcast(&rf->cond);
			break;
		}
		rf->window = WIN_MIN;
		if (!fails) /* resume at once after progress */
			continue;
		ts = deadline_ms(100L << (fails < 5 ? fails : 5));
		pthread_cond_timedwait(&rf->cond, &rf->lock, &ts);
	}
	pthread_mutex_unlock(&rf->lock);
	if (!rf->stop && !is_closing(r))
		maybe_verify(rf);
	pthread_mutex_lock(&rf->lock);
	rf->worker_running = 0;
	pthread_cond_broadcast(&rf->cond);
	pthread_mutex_unlock(&rf->lock);
	return NULL;
}

/* Starts the worker unless it runs. rf->lock held. 0 or -errno. */
static int worker_ensure(struct rfile *rf)
{
	int rc;

	if (rf->worker_running)
		return 0;
	if (rf->stop || is_closing(rf->r))
		return -EIO;
	if (rf->thread_started) {
		/* It has finished (worker_running is its last change). */
		pthread_join(rf->thread, NULL);
		rf->thread_started = 0;
	}
	rf->worker_running = 1;
	rc = pthread_create(&rf->thread, NULL, worker_main, rf);
	if (rc) {
		rf->worker_running = 0;
		log_warn("cannot start a reader thread: %s", strerror(rc));
		return -rc;
	}
	rf->thread_started = 1;
	return 0;
}

/* Stops and joins the worker. No lock held. */
static void worker_stop(struct rfile *rf)
{
	pthread_mutex_lock(&rf->lock);
	__atomic_store_n(&rf->stop, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&rf->cond);
	pthread_mutex_unlock(&rf->lock);
	if (rf->thread_started)
		pthread_join(rf->thread, NULL);
	rf->thread_started = 0;
}

/* ---- reads ------------------------------------------------------------------
 */

/* Makes [off, off+size) (clamped) present in the cache; returns the byte
 * count, 0 at EOF, or -errno. */
static ssize_t read_prepare(struct reader_file *h, size_t size, off_t off)
{
	struct rfile *rf = h->rf;
	struct reader *r = rf->r;
	uint64_t o = (uint64_t)off, lim, want, have, miss, mend, got;
	uint64_t seen_progress;
	unsigned gen;
	time_t waited_since;
	int seq, tries = 0, rc, slot, fatal, verify = 0;
	time_t fail_since = 0;
	ssize_t ret;
	struct timespec ts;

	if (off < 0)
		return -EINVAL;
	if (o >= rf->size || !size)
		return 0;
	pthread_mutex_lock(&r->lock);
	if (r->closing) {
		pthread_mutex_unlock(&r->lock);
		return -EIO;
	}
	r->active++;
	pthread_mutex_unlock(&r->lock);

	pthread_mutex_lock(&rf->lock);
	seq = h->nreads && o + SEQ_SLACK >= h->last_end &&
	      o <= h->last_end + SEQ_SLACK;
	if (seq) {
		rf->seq_pos = o;
		rf->demand = o + size;
		pthread_cond_broadcast(&rf->cond);
	}
	gen = rf->err_gen;
	seen_progress = rf->progress;
	waited_since = mono_s();
	if (rf->failed_err && rf->failed_progress == rf->progress &&
	    waited_since - rf->failed_at < r->budget &&
	    content_present(rf->ce, o, size) == 0) {
		ret = rf->failed_err;
		goto done;
	}
	for (;;) {
		if (rf->fatal) {
			ret = rf->fatal;
			break;
		}
		if (is_closing(r) || rf->stop) {
			ret = -EIO;
			break;
		}
		lim = rf->eof_at < rf->size ? rf->eof_at : rf->size;
		if (o >= lim) {
			ret = 0;
			break;
		}
		want = lim - o < size ? lim - o : size;
		have = content_present(rf->ce, o, want);
		if (have == want) {
			ret = (ssize_t)want;
			break;
		}
		if (rf->err_gen != gen) {
			ret = rf->err;
			break;
		}
		miss = content_missing_from(rf->ce, o + have);
		if (rf->progress != seen_progress) {
			seen_progress = rf->progress;
			waited_since = mono_s();
		} else if (mono_s() - waited_since > r->budget) {
			log_warn(
			    "bitstream %s: no data for %d s at offset %llu",
			    rf->uuid, r->budget, (unsigned long long)miss);
			ret = -ETIMEDOUT;
			break;
		}
		/* The worker streams from the block of seq_pos on; a block
		 * below it (a concurrent later read moved seq_pos past this
		 * one) is fetched here, or this read would stall. */
		if (inflight_has(rf, miss) ||
		    (__atomic_load_n(&r->no_range, __ATOMIC_ACQUIRE) &&
		     worker_ensure(rf) == 0) ||
		    (seq &&
		     miss >= rf->seq_pos / CONTENT_BLOCK * CONTENT_BLOCK &&
		     worker_ensure(rf) == 0)) {
			ts = deadline_ms(1000);
			pthread_cond_timedwait(&rf->cond, &rf->lock, &ts);
			continue;
		}
		/* A random read: fetch a small window here. */
		mend = miss + RANDOM_WIN;
		if (mend < o + want)
			mend = (o + want + CONTENT_BLOCK - 1) / CONTENT_BLOCK *
			       CONTENT_BLOCK;
		if (mend > lim)
			mend = lim;
		if (content_present_from(rf->ce, miss) < mend)
			mend = content_present_from(rf->ce, miss);
		mend = inflight_next(rf, miss, mend);
		slot = inflight_add(rf, miss, mend);
		pthread_mutex_unlock(&rf->lock);
		rc = fetch_range(rf, miss, mend, 0, slot, &got, &fatal);
		pthread_mutex_lock(&rf->lock);
		inflight_del(rf, slot);
		pthread_cond_broadcast(&rf->cond);
		if (rc == 0 || rc == FETCH_WHOLE_NEEDED)
			continue;
		if (note_failure(rf, miss, rc, fatal))
			continue; /* fatal/EOF is picked up at the top */
		if (rc == -ECANCELED) {
			ret = -EIO;
			break;
		}
		if (content_missing_from(rf->ce, miss) > miss) {
			tries = 0; /* progress: resume at once */
			fail_since = 0;
			continue;
		}
		if (!fail_since)
			fail_since = mono_s();
		if (++tries > RETRY_MAX || server_unreachable(rc) ||
		    mono_s() - fail_since >= r->budget) {
			log_warn("bitstream %s: reading at %llu failed: %s",
				 rf->uuid, (unsigned long long)miss,
				 strerror(-rc));
			ret = rc;
			break;
		}
		ts = deadline_ms(100L << (tries < 5 ? tries : 5));
		pthread_cond_timedwait(&rf->cond, &rf->lock, &ts);
	}
	if (ret < 0 && ret != -ECANCELED && !rf->fatal) {
		rf->failed_err = (int)ret;
		rf->failed_at = mono_s();
		rf->failed_progress = rf->progress;
	}
done:
	if (ret >= 0) {
		h->last_end = o + (uint64_t)ret;
		h->nreads++;
	}
	/* Keep a sequential reader's stream running ahead of it. */
	if (ret > 0 && seq && !rf->worker_running && !rf->fatal &&
	    !__atomic_load_n(&r->no_range, __ATOMIC_ACQUIRE)) {
		miss = content_missing_from(rf->ce, o);
		lim = rf->eof_at < rf->size ? rf->eof_at : rf->size;
		if (miss < lim && miss < rf->demand + ahead_limit(rf))
			worker_ensure(rf);
	}
	verify = ret > 0 && !rf->worker_running;
	/* A large complete file is checked by the worker thread (it finds
	 * nothing to fetch and verifies), not in this read. */
	if (verify && rf->size > VERIFY_INLINE_MAX) {
		verify = 0;
		if (rf->md5[0] && content_complete(rf->ce) &&
		    !content_verified(rf->ce) && !rf->fatal)
			worker_ensure(rf);
	}
	pthread_mutex_unlock(&rf->lock);
	if (ret > 0)
		content_note_read(rf->ce, o, (uint64_t)ret);
	if (verify) {
		/* The file may have just become complete: check it before
		 * serving from it (once; fast when already verified). */
		maybe_verify(rf);
		pthread_mutex_lock(&rf->lock);
		if (rf->fatal)
			ret = rf->fatal;
		pthread_mutex_unlock(&rf->lock);
	}
	pthread_mutex_lock(&r->lock);
	if (--r->active == 0)
		pthread_cond_broadcast(&r->idle);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

ssize_t reader_prepare(struct reader_file *f, size_t size, off_t off, int *fd)
{
	ssize_t n = read_prepare(f, size, off);

	*fd = content_fd(f->rf->ce);
	return n;
}

ssize_t reader_read(struct reader_file *f, char *buf, size_t size, off_t off)
{
	ssize_t n = read_prepare(f, size, off), got;
	size_t done = 0;

	if (n <= 0)
		return n;
	while (done < (size_t)n) {
		got = pread(content_fd(f->rf->ce), buf + done, (size_t)n - done,
			    off + (off_t)done);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		done += (size_t)got;
	}
	return n;
}

/* ---- open / close ----------------------------------------------------------
 */

/* Frees an rfile whose worker has stopped. */
static void rfile_free(struct rfile *rf)
{
	content_close(&rf->ce);
	free(rf->url);
	pthread_cond_destroy(&rf->cond);
	pthread_mutex_destroy(&rf->lock);
	free(rf);
}

int reader_open(struct reader *r, const char *uuid, const char *md5,
		int64_t size, struct reader_file **out)
{
	struct reader_file *h = NULL;
	struct rfile *rf = NULL;
	int rc = 0, known = md5 && strlen(md5) == 32;

	*out = NULL;
	if (size < 0 || !uuid)
		return -EINVAL;
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
			    rf->size == (uint64_t)size && !rf->fatal)
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
	rf->size = (uint64_t)size;
	rf->eof_at = rf->size;
	rf->window = WIN_MIN;
	pthread_mutex_init(&rf->lock, NULL);
	pthread_cond_init(&rf->cond, NULL);
	rf->url = rest_content_url(r->s, uuid);
	rc = rf->url ? content_open(r->cache, uuid, rf->md5, size, &rf->ce)
		     : -EINVAL;
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

void reader_close(struct reader_file **fp)
{
	struct reader_file *h = *fp;
	struct rfile *rf, **pp;
	struct reader *r;
	int last;

	if (!h)
		return;
	*fp = NULL;
	rf = h->rf;
	r = rf->r;
	free(h);
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
	if (--r->active == 0)
		pthread_cond_broadcast(&r->idle);
	pthread_mutex_unlock(&r->lock);
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
	r->cache = content_new(cfg->cache_dir, cfg->cache_max, err, errlen);
	if (!r->cache) {
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
	 * at their next callback (bounded by the http stall timeout). */
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
	pthread_cond_destroy(&r->idle);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
