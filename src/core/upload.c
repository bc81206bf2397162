/* upload: spool, journal and upload of files written through the mount
 * (see upload.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/cache.h"
#include "core/content.h"
#include "util/errors.h"
#include "util/log.h"
#include "dspace/dspace.h"
#include "core/upload.h"

#define MAX_ATTEMPTS 4
#define MD5_CHUNK (256 * 1024)
/* Streamed uploads at once: each holds an HTTP handle while the writer
 * writes, and the pool must stay free for everything else. */
#define STREAM_MAX 1
/* A writer silent this long makes the streaming attempt give up (the
 * upload then happens from the spool at flush). */
#define STREAM_IDLE_MS 20000

/* The states of design.md, as journalled and shown in the status file. */
#define ST_WRITING "writing"	   /* open for writing; spool filling */
#define ST_UPLOADING "uploading"   /* closed; the POST is (or was) on */
#define ST_FAILED "failed"	   /* refused or checked wrong; retry */
#define ST_INCOMPLETE "incomplete" /* never closed or a write failed */
#define ST_CANCELLED "cancelled"   /* aborted by the user */
/* uploaded, but the version it replaces is still live: "retry" deletes
 * it (the row keeps its uuid in replaces) */
#define ST_DELETE_PENDING "delete-pending"
#define DELETE_ATTEMPTS 3
/* How long a change to a bundle waits for the start-up check of the rows
 * an earlier run left uploading there (upload_settle) */
#define SETTLE_S 30
/* A closed file under a temporary name (rsync's ".NAME.XXXXXX") waits
 * this long for the rename to its final name before it is uploaded
 * under the name it has. */
#define DEFER_MS 2000

/* An upload streamed while the file is being written (new files written
 * from offset 0 in order). Lives until the file is freed. */
struct stream {
	struct upload *u;
	int fd;		 /* the file's spool (owned by the file) */
	char bundle[64]; /* where and under which name it goes */
	char *name;
	pthread_t th;
	pthread_mutex_t m;
	pthread_cond_t cv;
	int64_t avail;		/* m: bytes written in order from 0 */
	int64_t sent;		/* m: bytes handed to the upload */
	int writing;		/* m: a write at avail is in progress */
	int eof;		/* m: flushed, no more data */
	int broken;		/* m: give up (why in reason) */
	int ends;		/* m: attempts over (a replay is refused) */
	int body_sent;		/* m: all of the file went out */
	int done, joined;	/* m: the POST returned; its thread joined */
	int claimed;		/* m: its result was used or undone */
	int rc;			/* the POST's result (once done) */
	int64_t t0_ms;		/* when it started (monotonic), for the rate */
	char reason[96];	/* m */
	struct content_md5 md5; /* of what was sent (stream thread only) */
	char hex[33];
	struct dso_list out; /* the new bitstream when rc == 0 */
};

enum file_state {
	F_WRITING,  /* content the server has not got (or not yet uploaded) */
	F_CLEAN,    /* uploaded; still open */
	F_FAILED,   /* the last upload failed; data journalled */
	F_DISCARDED /* unlinked before upload */
};

struct upload_file {
	struct upload *u;
	unsigned refs;	       /* under u->lock */
	enum file_state st;    /* under u->lock */
	int dirty;	       /* under u->lock */
	int uploaded_once;     /* under u->lock: the inode was re-keyed */
	struct cache_upload j; /* journal row (id 0 when none); u->lock */
	int fd;		       /* the spool file */
	int werr;	       /* u->lock: errno of the first failed write */
	int stream_ok;	       /* u->lock: may stream on a first write at 0 */
	int wrote;	       /* u->lock: a write() arrived since the create */
	unsigned writers;      /* u->lock: handles open for writing */
	int deferred;	       /* u->lock: closed, waits for a rename (holds
				* a reference) */
	int64_t defer_until;   /* u->lock: then it is uploaded as it is */
	struct stream *stream; /* u->lock to set; then fixed */
	pthread_mutex_t io;    /* serialises commits and truncation */
	unsigned cuts;	       /* atomic: truncations that cut bytes off */
	struct upload_file *next;
};

/* A journal row that is done but could not be removed yet (a full disk):
 * hidden, removed (then its spool file) as soon as the journal can be
 * written. */
struct gone {
	int64_t id;
	char *spool; /* "" when the file's release removes it */
	struct gone *next;
};

/* Why a write failed, for a row the journal could not update then. */
struct note {
	int64_t id;
	char *why;
	struct note *next;
};

struct upload {
	struct session *s;
	struct tree *t;
	struct cache *c;
	char *spool_dir;
	pthread_mutex_t lock;
	struct upload_file *files;
	unsigned seq;
	int streams;	     /* lock: streaming uploads running */
	int64_t next_id;     /* lock: the id of the next journal row */
	uint64_t changes;    /* atomic: upload_changes() */
	pthread_mutex_t cmd; /* serialises commands and the start-up check */
	pthread_t check;     /* the start-up check of "uploading" rows */
	struct gone *gone;   /* lock */
	struct note *notes;  /* lock */
	int checking;	     /* it was started (joined at free) */
	/* the workspace item whose upload section a bundle feeds (a
	 * draft's ORIGINAL), or 0: upload_set_draft_target */
	int64_t (*draft_of)(void *ctx, const char *bundle_uuid);
	void *draft_ctx;
	/* the uploads that wait for a rename (upload_flush) */
	pthread_t defer_th;
	pthread_cond_t defer_cv;
	int defer_started; /* lock: defer_th runs (joined at free) */
	int defer_stop;	   /* lock: upload everything now, then end */
	int no_time;	   /* atomic: the server refused a time in an upload */
	/* lock: the bundles of rows the start-up check has yet to settle
	 * (all: every bundle, the list could not grow); "settled" is
	 * signalled when it is done */
	uint64_t *unchecked;
	size_t nunchecked;
	int all_unchecked;
	pthread_cond_t settled;
};

/* Counts a change of what listings show of u's files, once it is made. */
static void changed(struct upload *u)
{
	__atomic_add_fetch(&u->changes, 1, __ATOMIC_SEQ_CST);
}

uint64_t upload_changes(struct upload *u)
{
	return u ? __atomic_load_n(&u->changes, __ATOMIC_SEQ_CST) : 0;
}

/* Sets where uploads into a draft's bundle go (see upload.h). */
void upload_set_draft_target(struct upload *u,
			     int64_t (*draft_of)(void *, const char *),
			     void *ctx)
{
	u->draft_of = draft_of;
	u->draft_ctx = ctx;
}

/* Whether bundle is a draft's (its files change through the submission:
 * no DSpace 10 replace there). */
static int into_draft(struct upload *u, const char *bundle)
{
	return u->draft_of && u->draft_of(u->draft_ctx, bundle) > 0;
}

/* Sends one upload body into bundle: the bundle's own route, or the
 * submission route when it is a draft's (an upload with another target). */
static int send_body(struct upload *u, const char *bundle, const char *name,
		     const struct dspace_draft_body *b, struct dso_list *out)
{
	int64_t ws = u->draft_of ? u->draft_of(u->draft_ctx, bundle) : 0;

	if (ws > 0)
		return dspace_draft_upload(u->s, ws, bundle, name, b, out);
	if (b->path)
		return rest_upload_bitstream(u->s, bundle, name, b->path, out);
	return rest_upload_bitstream_stream(u->s, bundle, name, b->read,
					    b->read_end, b->ctx, out);
}

static void stream_free(struct stream *s);
static int delete_retry(struct upload *u, const char *uuid);
static void gone_flush(struct upload *u);
static int defer_end(struct upload_file *f);
static int row_copy(const struct upload_file *f, struct cache_upload *j);
static void defer_stop(struct upload *u);

/* Whether name is a temporary name that a rename to the final name
 * follows: rsync's ".NAME.XXXXXX" (a dot, the name, a dot and 6 letters
 * or digits). */
static int temp_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n < 9 || name[0] != '.' || name[n - 7] != '.')
		return 0;
	for (size_t i = n - 6; i < n; i++)
		if (!isalnum((unsigned char)name[i]))
			return 0;
	return 1;
}

/* Milliseconds on the monotonic clock. */
static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Marks s given up with reason why (m held); wakes its reader. */
static void stream_break_locked(struct stream *s, const char *why)
{
	if (!s->broken && !s->body_sent) {
		s->broken = 1;
		snprintf(s->reason, sizeof(s->reason), "%s", why);
	}
	pthread_cond_broadcast(&s->cv);
}

/* Gives the streaming attempt of f up, if there is one running. */
static void stream_break(struct upload_file *f, const char *why)
{
	struct stream *s = f->stream;

	if (!s)
		return;
	pthread_mutex_lock(&s->m);
	if (!s->eof)
		stream_break_locked(s, why);
	pthread_mutex_unlock(&s->m);
}

/* The upload's read callback (dspace.h): the spool's bytes as the writer
 * provides them; waits for the writer, up to STREAM_IDLE_MS of silence. */
static size_t stream_read(char *buf, size_t size, size_t nitems, void *ctx)
{
	struct stream *s = ctx;
	size_t want = size * nitems;
	struct timespec dl;
	int64_t off;
	ssize_t n;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += STREAM_IDLE_MS / 1000;
	pthread_mutex_lock(&s->m);
	if (s->ends) {
		/* A second attempt (session.c should not make one): never
		 * send a body that is not the file's, not even an empty
		 * one. The result cannot count as the file's upload. */
		s->broken = 1;
		snprintf(s->reason, sizeof(s->reason),
			 "a retry cannot replay the stream");
		pthread_cond_broadcast(&s->cv);
	}
	while (!s->broken && s->sent >= s->avail && !s->eof) {
		if (pthread_cond_timedwait(&s->cv, &s->m, &dl) == ETIMEDOUT &&
		    s->sent >= s->avail && !s->eof)
			stream_break_locked(s, "the writer paused");
	}
	if (s->broken) {
		pthread_mutex_unlock(&s->m);
		return REST_READ_ABORT;
	}
	if (s->sent >= s->avail) {
		s->body_sent = 1;
		pthread_mutex_unlock(&s->m);
		return 0;
	}
	off = s->sent;
	if ((int64_t)want > s->avail - off)
		want = (size_t)(s->avail - off);
	pthread_mutex_unlock(&s->m);
	do
		n = pread(s->fd, buf, want, off);
	while (n < 0 && errno == EINTR);
	pthread_mutex_lock(&s->m);
	if (n <= 0) {
		stream_break_locked(s, "cannot read the spool");
		pthread_mutex_unlock(&s->m);
		return REST_READ_ABORT;
	}
	s->sent += n;
	pthread_mutex_unlock(&s->m);
	content_md5_update(&s->md5, buf, (size_t)n);
	return (size_t)n;
}

/* Called when an HTTP attempt is over: later reads are replays. */
static void stream_end(void *ctx)
{
	struct stream *s = ctx;

	pthread_mutex_lock(&s->m);
	s->ends++;
	pthread_mutex_unlock(&s->m);
}

/* The stream's thread: one POST, fed by stream_read. */
static void *stream_main(void *arg)
{
	struct stream *s = arg;
	struct dspace_draft_body b = {
	    .read = stream_read, .read_end = stream_end, .ctx = s};
	int rc;

	rc = send_body(s->u, s->bundle, s->name, &b, &s->out);
	pthread_mutex_lock(&s->m);
	if (s->body_sent)
		content_md5_final(&s->md5, s->hex);
	s->rc = rc;
	s->done = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->m);
	pthread_mutex_lock(&s->u->lock);
	s->u->streams--;
	pthread_mutex_unlock(&s->u->lock);
	return NULL;
}

/* Starts streaming f's upload (u->lock held; a first write at 0). */
static void stream_start(struct upload_file *f)
{
	struct upload *u = f->u;
	struct stream *s;

	f->stream_ok = 0;
	if (u->streams >= STREAM_MAX || !f->j.name[0])
		return;
	s = calloc(1, sizeof(*s));
	if (!s)
		return;
	s->u = u;
	s->fd = f->fd;
	s->t0_ms = mono_ms();
	snprintf(s->bundle, sizeof(s->bundle), "%s", f->j.bundle_uuid);
	s->name = strdup(f->j.name);
	pthread_mutex_init(&s->m, NULL);
	pthread_cond_init(&s->cv, NULL);
	content_md5_init(&s->md5);
	if (!s->name || pthread_create(&s->th, NULL, stream_main, s)) {
		free(s->name);
		pthread_mutex_destroy(&s->m);
		pthread_cond_destroy(&s->cv);
		free(s);
		return;
	}
	u->streams++;
	f->stream = s;
	log_info("uploading %s while it is written (streamed)", f->j.path);
}

/* Before a write of f at off: starts or checks the stream. 1 when the
 * write extends it (stream_wrote must follow). */
static int stream_write_begin(struct upload_file *f, off_t off)
{
	struct stream *s;
	int mine = 0;

	pthread_mutex_lock(&f->u->lock);
	if (f->stream_ok && !f->stream && off == 0 && f->st == F_WRITING &&
	    !(f->j.replaces[0] && session_replace_usable(f->u->s)))
		stream_start(f); /* (a replace is sent from the spool) */
	s = f->stream;
	pthread_mutex_unlock(&f->u->lock);
	if (!s)
		return 0;
	pthread_mutex_lock(&s->m);
	if (!s->eof && !s->broken) {
		if (off != s->avail || s->writing)
			stream_break_locked(s,
					    "the file is not written in order");
		else
			mine = s->writing = 1;
	}
	pthread_mutex_unlock(&s->m);
	return mine;
}

/* After a write that stream_write_begin let extend the stream. */
static void stream_wrote(struct upload_file *f, ssize_t n)
{
	struct stream *s = f->stream;

	pthread_mutex_lock(&s->m);
	if (n > 0)
		s->avail += n;
	s->writing = 0;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->m);
}

/* Ends the stream's input (aborting it unless complete, with size the
 * spool's size) and waits for its POST to return. */
static void stream_wait(struct stream *s, int abort_it, int64_t size)
{
	int join = 0;

	pthread_mutex_lock(&s->m);
	if (abort_it)
		stream_break_locked(s, "the file was dropped");
	else if (!s->eof && size != s->avail)
		stream_break_locked(s, "the spool differs from the stream");
	s->eof = 1;
	pthread_cond_broadcast(&s->cv);
	while (!s->done)
		pthread_cond_wait(&s->cv, &s->m);
	if (!s->joined)
		join = s->joined = 1;
	pthread_mutex_unlock(&s->m);
	if (join)
		pthread_join(s->th, NULL);
}

/* Undoes what a stream nobody used created; frees it. */
static void stream_free(struct stream *s)
{
	if (!s)
		return;
	stream_wait(s, 1, 0);
	if (!s->claimed && s->rc == 0 && s->out.n) {
		log_warn("removing the bitstream of an abandoned upload of %s",
			 s->name);
		if (delete_retry(s->u, s->out.v[0].uuid) < 0)
			log_error("the abandoned copy %s of %s is still on "
				  "the server",
				  s->out.v[0].uuid, s->name);
	}
	dso_list_release(&s->out);
	pthread_mutex_destroy(&s->m);
	pthread_cond_destroy(&s->cv);
	free(s->name);
	free(s);
}

/* Replaces a malloc'd string field. 0 or -ENOMEM. */
static int set_str(char **dst, const char *src)
{
	char *x = strdup(src ? src : "");

	if (!x)
		return -ENOMEM;
	free(*dst);
	*dst = x;
	return 0;
}

/* Brings row j, left by an earlier run, to a state that tells the truth:
 * its data gone → dropped; never closed → incomplete; uploading stays
 * for the start-up check. 1 when it is kept. */
static int recover_row(struct upload *u, struct cache_upload *j)
{
	struct stat st;

	if (!strcmp(j->state, ST_DELETE_PENDING)) {
		log_warn("upload %" PRId64 " of %s: %s; see MOUNT/%s", j->id,
			 j->path, j->error, TREE_STATUS_NAME);
		if (u->t)
			tree_hide(u->t, j->replaces, 1);
		return 1; /* needs no data */
	}
	if (!j->spool[0] || lstat(j->spool, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_warn("upload %" PRId64 " of %s: its data (%s) is gone; "
			 "dropping its journal row",
			 j->id, j->path, j->spool[0] ? j->spool : "no file");
		cache_upload_del(u->c, j->id);
		return 0;
	}
	j->size = st.st_size;
	if (!strcmp(j->state, ST_WRITING) || !strcmp(j->state, "interrupted")) {
		snprintf(j->state, sizeof(j->state), ST_INCOMPLETE);
		set_str(&j->error, "the file was still open for writing when "
				   "dspacefs stopped: its content may be "
				   "incomplete (only \"retry ID\" sends it)");
	} else if (!strcmp(j->state, ST_UPLOADING)) {
		set_str(&j->error, "dspacefs stopped during the upload; "
				   "checking the server");
	}
	cache_upload_update(u->c, j);
	log_warn("pending upload %" PRId64 " (%s) of %s, %" PRId64
		 " bytes, kept in %s: %s; see MOUNT/%s",
		 j->id, j->state, j->path, j->size, j->spool, j->error,
		 TREE_STATUS_NAME);
	return 1;
}

static void *check_main(void *arg);

/* Notes that the start-up check has a row of bundle_ino to settle (out
 * of memory: changes to any bundle then wait for the whole check). */
static void unchecked_add(struct upload *u, uint64_t bundle_ino)
{
	uint64_t *v =
	    realloc(u->unchecked, (u->nunchecked + 1) * sizeof(*u->unchecked));

	if (!v) {
		u->all_unchecked = 1;
		return;
	}
	u->unchecked = v;
	u->unchecked[u->nunchecked++] = bundle_ino;
}

/* The start-up check is over: changes wait no more. */
static void unchecked_clear(struct upload *u)
{
	pthread_mutex_lock(&u->lock);
	free(u->unchecked);
	u->unchecked = NULL;
	u->nunchecked = 0;
	u->all_unchecked = 0;
	pthread_cond_broadcast(&u->settled);
	pthread_mutex_unlock(&u->lock);
}

/* Whether bundle_ino has a row the start-up check has yet to settle
 * (u->lock held). */
static int unchecked(const struct upload *u, uint64_t bundle_ino)
{
	for (size_t i = 0; i < u->nunchecked; i++)
		if (u->unchecked[i] == bundle_ino)
			return 1;
	return u->all_unchecked;
}

/* The condition upload_settle waits on, timed by the monotonic clock. */
static void settled_init(struct upload *u)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&u->settled, &a);
	pthread_condattr_destroy(&a);
}

int upload_settle(struct upload *u, uint64_t bundle_ino)
{
	struct timespec until;
	int r = 0;

	if (!u)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += SETTLE_S;
	pthread_mutex_lock(&u->lock);
	while (r >= 0 && unchecked(u, bundle_ino)) {
		r = 1;
		if (pthread_cond_timedwait(&u->settled, &u->lock, &until) ==
		    ETIMEDOUT)
			r = unchecked(u, bundle_ino) ? -EAGAIN : 1;
	}
	pthread_mutex_unlock(&u->lock);
	if (r < 0)
		log_warn("a change waited %d s for the start-up check of the "
			 "uploads an earlier run left; refused",
			 SETTLE_S);
	return r;
}

/* Reads the journal an earlier run left behind (never retried on its
 * own: the user decides) and starts the check of its uploading rows. */
static void recover(struct upload *u)
{
	struct cache_upload *v = NULL;
	size_t n = 0;
	int uploading = 0;

	if (cache_upload_list(u->c, &v, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			if (recover_row(u, &v[i]) &&
			    !strcmp(v[i].state, ST_UPLOADING)) {
				uploading = 1;
				unchecked_add(u, v[i].bundle_ino);
			}
		cache_uploads_release(v, n);
	}
	if (cache_upload_next_id(u->c, &u->next_id) < 0)
		u->next_id = (int64_t)time(NULL);
	if (uploading && u->s &&
	    pthread_create(&u->check, NULL, check_main, u) == 0)
		u->checking = 1;
	else
		unchecked_clear(u);
}

struct upload *upload_new(struct session *s, struct tree *t, struct cache *c,
			  const char *cache_dir, char *err, size_t errlen)
{
	struct upload *u = calloc(1, sizeof(*u));
	size_t len;

	if (!u)
		goto nomem;
	u->s = s;
	u->t = t;
	u->c = c;
	len = strlen(cache_dir) + sizeof("/spool");
	u->spool_dir = malloc(len);
	if (!u->spool_dir)
		goto nomem;
	snprintf(u->spool_dir, len, "%s/spool", cache_dir);
	if ((mkdir(u->spool_dir, 0700) < 0 && errno != EEXIST) ||
	    chmod(u->spool_dir, 0700) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", u->spool_dir,
			 strerror(errno));
		free(u->spool_dir);
		free(u);
		return NULL;
	}
	pthread_mutex_init(&u->lock, NULL);
	pthread_mutex_init(&u->cmd, NULL);
	settled_init(u);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&u->defer_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	u->seq = (unsigned)time(NULL);
	recover(u);
	return u;
nomem:
	snprintf(err, errlen, "out of memory");
	free(u);
	return NULL;
}

void upload_free(struct upload **up)
{
	struct upload *u = *up;

	if (!u)
		return;
	defer_stop(u);
	if (u->checking)
		pthread_join(u->check, NULL);
	while (u->files) {
		struct upload_file *f = u->files;

		u->files = f->next;
		stream_free(f->stream);
		if (f->fd >= 0)
			close(f->fd);
		cache_upload_release(&f->j);
		pthread_mutex_destroy(&f->io);
		free(f);
	}
	gone_flush(u);
	while (u->notes) {
		struct note *x = u->notes;

		u->notes = x->next;
		free(x->why);
		free(x);
	}
	while (u->gone) {
		struct gone *g = u->gone;

		u->gone = g->next;
		free(g->spool);
		free(g);
	}
	pthread_cond_destroy(&u->defer_cv);
	pthread_mutex_destroy(&u->lock);
	pthread_mutex_destroy(&u->cmd);
	pthread_cond_destroy(&u->settled);
	free(u->unchecked);
	free(u->spool_dir);
	free(u);
	*up = NULL;
}

/* Creates f's spool file, then (one statement) its journal row in state
 * writing: a failure leaves either nothing or a row whose data exists. A
 * new inode is allocated unless ino is given. */
static int journal_start(struct upload *u, struct upload_file *f, uint64_t ino)
{
	char path[4096], key[64];
	int64_t id = 0;
	int r = 0;

	for (int tries = 0; f->fd < 0; tries++) {
		pthread_mutex_lock(&u->lock);
		id = u->next_id++;
		pthread_mutex_unlock(&u->lock);
		snprintf(path, sizeof(path), "%s/upload-%" PRId64, u->spool_dir,
			 id);
		f->fd = open(path,
			     O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			     0600);
		if (f->fd < 0 && (errno != EEXIST || tries > 100)) {
			r = -errno;
			log_error("cannot create spool file %s: %s", path,
				  strerror(errno));
			return r;
		}
	}
	r = set_str(&f->j.spool, path);
	if (r == 0 && !ino) {
		snprintf(key, sizeof(key), "local:%" PRId64 ":%u", id,
			 __atomic_add_fetch(&u->seq, 1, __ATOMIC_RELAXED));
		r = cache_alloc_ino(u->c, key, &ino);
	}
	if (r == 0) {
		f->j.ino = ino;
		f->j.id = id;
		snprintf(f->j.state, sizeof(f->j.state), ST_WRITING);
		/* Row and list entry at once: a "writing" row nobody in the
		 * list owns is one whose writer is gone. */
		pthread_mutex_lock(&u->lock);
		r = cache_upload_add(u->c, &f->j);
		if (r == 0) {
			f->next = u->files;
			u->files = f;
		}
		pthread_mutex_unlock(&u->lock);
	}
	if (r < 0) {
		f->j.id = 0;
		close(f->fd);
		f->fd = -1;
		unlink(path);
	}
	return r;
}

int upload_create(struct upload *u, uint64_t bundle_ino,
		  const char *bundle_uuid, const char *name,
		  const char *mount_path, uint64_t ino,
		  const char *replaces_uuid, struct upload_file **out)
{
	struct upload_file *f = calloc(1, sizeof(*f));
	int r = -ENOMEM;

	*out = NULL;
	if (!name || !name[0]) /* an upload always has a name */
		return -EINVAL;
	if (!f)
		return -ENOMEM;
	f->u = u;
	f->fd = -1;
	f->refs = 1;
	f->st = F_WRITING;
	f->dirty = 1;
	pthread_mutex_init(&f->io, NULL);
	f->j.bundle_ino = bundle_ino;
	snprintf(f->j.bundle_uuid, sizeof(f->j.bundle_uuid), "%s", bundle_uuid);
	snprintf(f->j.replaces, sizeof(f->j.replaces), "%s",
		 replaces_uuid ? replaces_uuid : "");
	if (set_str(&f->j.name, name) || set_str(&f->j.path, mount_path) ||
	    set_str(&f->j.spool, "") || set_str(&f->j.error, ""))
		goto fail;
	r = journal_start(u, f, ino);
	if (r < 0)
		goto fail;
	changed(u);
	*out = f;
	return 0;
fail:
	cache_upload_release(&f->j);
	pthread_mutex_destroy(&f->io);
	free(f);
	return r;
}

/* The name f is shown under: the last part of its mount path (j.name is
 * the server's name, which differs for a disambiguated duplicate). */
static const char *shown_name(const struct upload_file *f)
{
	const char *s = f->j.path ? strrchr(f->j.path, '/') : NULL;

	return s && s[1] ? s + 1 : f->j.name;
}

/* Whether f is shown in place of the server's view (not uploaded yet). */
static int shown(const struct upload_file *f)
{
	return f->st == F_WRITING || (f->st == F_FAILED && f->refs > 0);
}

struct upload_file *upload_find(struct upload *u, uint64_t ino)
{
	struct upload_file *f;

	pthread_mutex_lock(&u->lock);
	for (f = u->files; f; f = f->next)
		if (f->j.ino == ino && shown(f))
			break;
	if (f)
		f->refs++;
	pthread_mutex_unlock(&u->lock);
	return f;
}

struct upload_file *upload_find_open(struct upload *u, uint64_t ino)
{
	struct upload_file *f;

	pthread_mutex_lock(&u->lock);
	for (f = u->files; f; f = f->next)
		if (f->j.ino == ino && f->st != F_DISCARDED)
			break;
	if (f)
		f->refs++;
	pthread_mutex_unlock(&u->lock);
	return f;
}

struct upload_file *upload_find_name(struct upload *u, uint64_t bundle_ino,
				     const char *name)
{
	struct upload_file *f;

	pthread_mutex_lock(&u->lock);
	for (f = u->files; f; f = f->next)
		if (f->j.bundle_ino == bundle_ino && shown(f) &&
		    !strcmp(shown_name(f), name))
			break;
	if (f)
		f->refs++;
	pthread_mutex_unlock(&u->lock);
	return f;
}

/* Fills i from f (u->lock held). */
static int info_of(const struct upload_file *f, struct upload_info *i)
{
	struct stat st;

	memset(i, 0, sizeof(*i));
	i->ino = f->j.ino;
	i->bundle_ino = f->j.bundle_ino;
	i->name = strdup(shown_name(f));
	i->size = f->fd >= 0 && fstat(f->fd, &st) == 0 ? st.st_size : 0;
	if (f->j.has_times) {
		i->mtime = f->j.mtime;
		i->mtime_ns = f->j.mtime_ns;
	}
	return i->name ? 0 : -ENOMEM;
}

int upload_list_dir(struct upload *u, uint64_t bundle_ino,
		    struct upload_info **v, size_t *n)
{
	struct upload_info *a = NULL;
	size_t k = 0, cnt = 0;
	int r = 0;

	*v = NULL;
	*n = 0;
	pthread_mutex_lock(&u->lock);
	for (struct upload_file *f = u->files; f; f = f->next)
		if (f->j.bundle_ino == bundle_ino && shown(f))
			cnt++;
	if (cnt) {
		a = calloc(cnt, sizeof(*a));
		if (!a)
			r = -ENOMEM;
	}
	for (struct upload_file *f = u->files; !r && f; f = f->next)
		if (f->j.bundle_ino == bundle_ino && shown(f))
			r = info_of(f, &a[k++]);
	pthread_mutex_unlock(&u->lock);
	if (r) {
		upload_infos_release(a, k);
		return r;
	}
	*v = a;
	*n = k;
	return 0;
}

void upload_ref(struct upload_file *f)
{
	pthread_mutex_lock(&f->u->lock);
	f->refs++;
	pthread_mutex_unlock(&f->u->lock);
}

/* Queues row id (spool: its data, or "") for removal when the journal
 * can be written again. */
static void gone_add(struct upload *u, int64_t id, const char *spool)
{
	struct gone *g = calloc(1, sizeof(*g));

	if (g)
		g->spool = strdup(spool);
	if (!g || !g->spool) {
		free(g);
		return; /* after a restart the row is settled by recover() */
	}
	g->id = id;
	pthread_mutex_lock(&u->lock);
	g->next = u->gone;
	u->gone = g;
	pthread_mutex_unlock(&u->lock);
	log_warn("upload %" PRId64 " is done, but the journal cannot be "
		 "written: its row goes when it can",
		 id);
}

/* Whether row id is done and only waits to be removed (u->lock held). */
static int gone_has(struct upload *u, int64_t id)
{
	for (struct gone *g = u->gone; g; g = g->next)
		if (g->id == id)
			return 1;
	return 0;
}

/* Removes the queued rows the journal now accepts. */
static void gone_flush(struct upload *u)
{
	struct gone *l, *g, *keep = NULL;

	pthread_mutex_lock(&u->lock);
	l = u->gone;
	u->gone = NULL;
	pthread_mutex_unlock(&u->lock);
	while ((g = l)) {
		l = g->next;
		if (cache_upload_del(u->c, g->id) < 0) {
			g->next = keep;
			keep = g;
			continue;
		}
		if (g->spool[0] && unlink(g->spool) < 0 && errno != ENOENT)
			log_warn("cannot remove %s: %s", g->spool,
				 strerror(errno));
		free(g->spool);
		free(g);
	}
	pthread_mutex_lock(&u->lock);
	while ((g = keep)) {
		keep = g->next;
		g->next = u->gone;
		u->gone = g;
	}
	pthread_mutex_unlock(&u->lock);
}

/* Removes journal row id (0: none) of an upload that is done (or dropped
 * by the user) and its spool file. A row the journal cannot remove now
 * (a full disk) is hidden and removed later; its data goes at once, as
 * nothing needs it: after a restart recover() drops a row without data. */
static void row_done(struct upload *u, int64_t id, const char *spool)
{
	if (id && cache_upload_del(u->c, id) < 0)
		gone_add(u, id, "");
	if (spool[0] && unlink(spool) < 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", spool, strerror(errno));
}

/* Frees a file nobody refers to any more (unlinked from the list). */
static void file_free(struct upload_file *f)
{
	stream_free(f->stream);
	if (f->fd >= 0)
		close(f->fd);
	cache_upload_release(&f->j);
	pthread_mutex_destroy(&f->io);
	free(f);
}

void upload_unref(struct upload_file **fp)
{
	struct upload_file *f = *fp;
	struct upload *u;
	int last, dirty;

	if (!f)
		return;
	*fp = NULL;
	u = f->u;
	pthread_mutex_lock(&u->lock);
	last = f->refs == 1;
	dirty = f->dirty && f->st == F_WRITING;
	pthread_mutex_unlock(&u->lock);
	/* release after a flush that did not happen (or more writes): the
	 * data must not be lost. */
	if (last && dirty)
		upload_commit(f);
	pthread_mutex_lock(&u->lock);
	if (--f->refs > 0) {
		pthread_mutex_unlock(&u->lock);
		return;
	}
	for (struct upload_file **p = &u->files; *p; p = &(*p)->next) {
		if (*p == f) {
			*p = f->next;
			break;
		}
	}
	pthread_mutex_unlock(&u->lock);
	if ((f->st == F_WRITING && !f->dirty) || f->st == F_DISCARDED) {
		/* Opened for writing, nothing changed (the server's copy
		 * stands), or unlinked before the upload. */
		row_done(u, f->j.id, f->j.spool);
	} else if (f->st == F_CLEAN) {
		unlink(f->j.spool);
	}
	/* F_FAILED: the spool and its journal row stay for a retry. */
	file_free(f);
}

int upload_info(struct upload_file *f, struct upload_info *out)
{
	int r;

	pthread_mutex_lock(&f->u->lock);
	r = info_of(f, out);
	pthread_mutex_unlock(&f->u->lock);
	return r;
}

void upload_info_release(struct upload_info *i)
{
	if (!i)
		return;
	free(i->name);
	i->name = NULL;
}

void upload_infos_release(struct upload_info *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		upload_info_release(&v[i]);
	free(v);
}

/* Makes f dirty again after a write (a new upload will replace the one
 * that already landed). */
static void touch(struct upload_file *f)
{
	struct upload *u = f->u;
	int restart = 0;

	pthread_mutex_lock(&u->lock);
	if (f->werr) {
		/* A handle that saw a failed write stays incomplete. */
		pthread_mutex_unlock(&u->lock);
		return;
	}
	if (f->st == F_CLEAN) {
		restart = 1;
		f->st = F_WRITING;
	} else if (f->st == F_FAILED) {
		f->st = F_WRITING;
	}
	f->dirty = 1;
	if (restart) {
		/* The uploaded bitstream becomes the one to replace. */
		snprintf(f->j.state, sizeof(f->j.state), ST_WRITING);
		f->j.id = u->next_id++;
		if (cache_upload_add(u->c, &f->j) < 0)
			f->j.id = 0;
	}
	pthread_mutex_unlock(&u->lock);
}

/* Keeps why for row id until the journal can record it (u->lock held). */
static void note_add(struct upload *u, int64_t id, const char *why)
{
	struct note *x = calloc(1, sizeof(*x));

	if (x)
		x->why = strdup(why);
	if (!x || !x->why) {
		free(x);
		return;
	}
	x->id = id;
	x->next = u->notes;
	u->notes = x;
}

/* Takes the note of row id (u->lock held): its reason, or NULL. */
static char *note_take(struct upload *u, int64_t id)
{
	for (struct note **p = &u->notes; *p; p = &(*p)->next) {
		if ((*p)->id == id) {
			struct note *x = *p;
			char *why = x->why;

			*p = x->next;
			free(x);
			return why;
		}
	}
	return NULL;
}

/* Marks f incomplete for good (state, error why, journal): it is never
 * uploaded unless the user names it ("retry ID"); its stream is aborted
 * (when all of it went out already, force makes the server's copy count
 * for nothing: stream_claim removes it). e is what flush returns then. */
static void mark_incomplete(struct upload_file *f, int e, const char *why,
			    int force)
{
	struct upload *u = f->u;
	struct stat st;
	int first, r = 0;

	stream_break(f, why);
	if (force && f->stream) {
		pthread_mutex_lock(&f->stream->m);
		f->stream->broken = 1;
		pthread_cond_broadcast(&f->stream->cv);
		pthread_mutex_unlock(&f->stream->m);
	}
	pthread_mutex_lock(&u->lock);
	first = !f->werr;
	if (first) {
		f->werr = e;
		f->st = F_FAILED;
		f->dirty = 0;
		snprintf(f->j.state, sizeof(f->j.state), ST_INCOMPLETE);
		set_str(&f->j.error, why);
		if (fstat(f->fd, &st) == 0)
			f->j.size = st.st_size;
		if (f->j.id)
			r = cache_upload_update(u->c, &f->j);
		if (r < 0)
			note_add(u, f->j.id, why);
	}
	pthread_mutex_unlock(&u->lock);
	if (first)
		log_error("%s: %s%s", f->j.path, why,
			  r < 0 ? " (the journal could not record it: it will "
				  "say incomplete after a restart)"
				: "");
}

/* A write (or truncation) of f failed with errno e: f is incomplete. */
static void write_failed(struct upload_file *f, int e)
{
	char why[160];

	snprintf(why, sizeof(why),
		 "a write failed (%s): the content is incomplete; kept, sent "
		 "only by \"retry ID\"",
		 strerror(e));
	mark_incomplete(f, e, why, 0);
}

void upload_abandon(struct upload_file *f, const char *why)
{
	char text[224];

	snprintf(text, sizeof(text),
		 "%s: the content may be incomplete; kept, sent only by "
		 "\"retry ID\"",
		 why);
	mark_incomplete(f, EINTR, text, 1);
}

ssize_t upload_write(struct upload_file *f, const char *buf, size_t size,
		     off_t off)
{
	size_t done = 0;
	int streamed;

	touch(f);
	pthread_mutex_lock(&f->u->lock);
	f->wrote = 1;
	pthread_mutex_unlock(&f->u->lock);
	streamed = stream_write_begin(f, off);
	while (done < size) {
		ssize_t n =
		    pwrite(f->fd, buf + done, size - done, off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;

			if (done)
				break;
			if (streamed)
				stream_wrote(f, 0);
			log_error("writing spool file %s: %s", f->j.spool,
				  strerror(e));
			write_failed(f, e);
			return -e;
		}
		done += (size_t)n;
	}
	if (streamed)
		stream_wrote(f, (ssize_t)done);
	changed(f->u);
	return (ssize_t)done;
}

ssize_t upload_read(struct upload_file *f, char *buf, size_t size, off_t off)
{
	ssize_t n;

	do
		n = pread(f->fd, buf, size, off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

unsigned upload_cuts(struct upload_file *f)
{
	return __atomic_load_n(&f->cuts, __ATOMIC_SEQ_CST);
}

int upload_truncate(struct upload_file *f, int64_t size)
{
	struct stat st;
	int r = 0;

	touch(f);
	pthread_mutex_lock(&f->io);
	/* Counted before the bytes go: a reader that sees the count
	 * unchanged after its pread read none of the next version. */
	if (fstat(f->fd, &st) == 0 && size < (int64_t)st.st_size)
		__atomic_add_fetch(&f->cuts, 1, __ATOMIC_SEQ_CST);
	if (f->stream) {
		struct stream *s = f->stream;

		pthread_mutex_lock(&s->m);
		if (!s->eof && size != s->avail)
			stream_break_locked(s, "the file was truncated");
		pthread_mutex_unlock(&s->m);
	}
	if (ftruncate(f->fd, (off_t)size) < 0)
		r = -errno;
	pthread_mutex_unlock(&f->io);
	changed(f->u);
	if (r < 0)
		write_failed(f, -r);
	return r;
}

void upload_stream_allow(struct upload_file *f)
{
	pthread_mutex_lock(&f->u->lock);
	/* a temporary name is uploaded at its rename, not while written */
	f->stream_ok = !f->stream && !f->uploaded_once && !temp_name(f->j.name);
	pthread_mutex_unlock(&f->u->lock);
}

void upload_set_dirty(struct upload_file *f, int dirty)
{
	pthread_mutex_lock(&f->u->lock);
	f->dirty = dirty;
	pthread_mutex_unlock(&f->u->lock);
}

void upload_set_times(struct upload_file *f, int64_t mtime, int64_t ns)
{
	struct upload *u = f->u;
	int64_t id;

	pthread_mutex_lock(&u->lock);
	f->j.mtime = mtime;
	f->j.mtime_ns = ns;
	f->j.has_times = 1;
	id = f->j.id;
	if (id)
		cache_upload_update(u->c, &f->j);
	pthread_mutex_unlock(&u->lock);
}

/* Gives f the names of a rename (u->lock held): replaces is kept unless
 * a new one is given, or set as it is with exact (an undo). */
static int set_names(struct upload_file *f, uint64_t bundle_ino,
		     const char *bundle_uuid, const char *name,
		     const char *mount_path, const char *replaces_uuid,
		     int exact)
{
	char *n = strdup(name), *p = strdup(mount_path);

	if (!n || !p) {
		free(n);
		free(p);
		return -ENOMEM;
	}
	free(f->j.name);
	free(f->j.path);
	f->j.name = n;
	f->j.path = p;
	f->j.bundle_ino = bundle_ino;
	snprintf(f->j.bundle_uuid, sizeof(f->j.bundle_uuid), "%s", bundle_uuid);
	if (exact) {
		snprintf(f->j.replaces, sizeof(f->j.replaces), "%s",
			 replaces_uuid);
	} else if (replaces_uuid && *replaces_uuid) {
		if (f->j.replaces[0] && strcmp(f->j.replaces, replaces_uuid))
			log_warn("%s replaces two files; the server keeps %s",
				 mount_path, f->j.replaces);
		snprintf(f->j.replaces, sizeof(f->j.replaces), "%s",
			 replaces_uuid);
	}
	return f->j.id ? cache_upload_update(f->u->c, &f->j) : 0;
}

/* A file that waited for its rename is uploaded under the new name now
 * (the rename fails when the upload does, and is undone unless the file
 * landed: old holds the names before). 0 or -errno. */
static int rename_upload(struct upload_file *f, struct cache_upload *old)
{
	struct upload *u = f->u;
	int r = defer_end(f), undo;

	if (r >= 0)
		return 0;
	pthread_mutex_lock(&u->lock);
	undo = f->st == F_FAILED;
	if (undo && set_names(f, old->bundle_ino, old->bundle_uuid, old->name,
			      old->path, old->replaces, 1) < 0)
		log_error("%s: the failed rename could not be undone",
			  old->path);
	pthread_mutex_unlock(&u->lock);
	changed(u);
	return r;
}

int upload_rename(struct upload_file *f, uint64_t bundle_ino,
		  const char *bundle_uuid, const char *name,
		  const char *mount_path, const char *replaces_uuid)
{
	struct upload *u = f->u;
	struct cache_upload old = {0};
	int r, waits;

	if (!name || !name[0]) /* an upload always has a name */
		return -EINVAL;
	stream_break(f, "the file was renamed");
	pthread_mutex_lock(&u->lock);
	/* the final name of a file that waits for it: kept to undo */
	waits = f->deferred && !temp_name(name);
	if (waits)
		r = row_copy(f, &old);
	r = waits && r < 0 ? r
			   : set_names(f, bundle_ino, bundle_uuid, name,
				       mount_path, replaces_uuid, 0);
	pthread_mutex_unlock(&u->lock);
	changed(u);
	if (r == 0 && waits)
		r = rename_upload(f, &old);
	cache_upload_release(&old);
	return r;
}

int upload_pending(struct upload_file *f)
{
	int r;

	pthread_mutex_lock(&f->u->lock);
	r = f->st == F_WRITING && f->dirty;
	pthread_mutex_unlock(&f->u->lock);
	return r;
}

/* The MD5 and size of the file open at fd. */
static int md5_fd(int fd, char hex[33], int64_t *size)
{
	struct content_md5 m;
	char *b = malloc(MD5_CHUNK);
	off_t off = 0;
	ssize_t n;

	if (!b)
		return -ENOMEM;
	content_md5_init(&m);
	while ((n = pread(fd, b, MD5_CHUNK, off)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			free(b);
			return -errno;
		}
		content_md5_update(&m, b, (size_t)n);
		off += n;
	}
	free(b);
	content_md5_final(&m, hex);
	*size = off;
	return 0;
}

/* Whether bundle already holds a bitstream called name with content md5
 * other than the one it replaces (an earlier attempt that landed although
 * its answer was lost): 1 (appended to out), 0, or -errno when the bundle
 * cannot be listed. */
static int already_there(struct upload *u, const char *bundle, const char *name,
			 const char *md5, const char *replaces,
			 struct dso_list *out)
{
	struct dso_list l = {0};
	int found = 0, r;

	r = rest_list_children(u->s, DSO_BUNDLE, bundle, &l);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l.n && !found; i++) {
		struct dso *d = &l.v[i];

		if (d->type == DSO_BITSTREAM && !strcmp(d->name, name) &&
		    !strcasecmp(d->md5, md5) &&
		    (!replaces || strcmp(d->uuid, replaces))) {
			struct dso *x = dso_list_push(out);

			if (x) {
				dso_release(x);
				*x = *d;
				memset(d, 0, sizeof(*d));
				d->name = NULL;
				found = 1;
			}
		}
	}
	dso_list_release(&l);
	return found;
}

/* Whether bundle holds a live bitstream called name other than replaces
 * (a version that landed after this upload failed): 1, 0 or -errno. */
static int newer_there(struct upload *u, const char *bundle, const char *name,
		       const char *replaces)
{
	struct dso_list l = {0};
	int found = 0, r;

	r = rest_list_children(u->s, DSO_BUNDLE, bundle, &l);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l.n && !found; i++)
		found = l.v[i].type == DSO_BITSTREAM &&
			!strcmp(l.v[i].name, name) &&
			strcmp(l.v[i].uuid, replaces);
	dso_list_release(&l);
	return found;
}

/* An earlier attempt of row j arrived as bitstream a, but since then a
 * change put another live version under its name (a rename or overwrite
 * while the row could not be checked): a is taken back, its data stays
 * in the spool. 0 when the name is a's, else -errno (why set). */
static int superseded(struct upload *u, struct cache_upload *j, const char *a,
		      char *why, size_t whylen)
{
	struct dso_list l = {0};
	int found = 0, r;

	r = rest_list_children(u->s, DSO_BUNDLE, j->bundle_uuid, &l);
	for (size_t i = 0; r == 0 && i < l.n && !found; i++)
		found = l.v[i].type == DSO_BITSTREAM &&
			!strcmp(l.v[i].name, j->name) &&
			strcmp(l.v[i].uuid, j->replaces) &&
			strcmp(l.v[i].uuid, a);
	dso_list_release(&l);
	if (r < 0) {
		snprintf(why, whylen,
			 "cannot check whether \"%s\" changed since an "
			 "earlier attempt arrived (%s)",
			 j->name, strerror(-r));
		return r;
	}
	if (!found)
		return 0;
	r = delete_retry(u, a);
	if (r < 0)
		snprintf(why, whylen,
			 "another version of \"%s\" landed since an earlier "
			 "attempt arrived, which could not be taken back (%s)",
			 j->name, strerror(-r));
	else
		snprintf(why, whylen,
			 "another version of \"%s\" landed since; the earlier "
			 "attempt that arrived was taken back (rename the file "
			 "and \"retry\", or \"forget\" it)",
			 j->name);
	return -EEXIST;
}

/* Sends the spool into bundle with the modification time tm (sec, ns;
 * sec < 0: none) in the upload itself, so that no PATCH has to follow
 * (a bundle's route only). A server that refuses it there (an EIO, e.g.
 * 422 for a registry without dcterms.modified: nothing stored) gets the
 * upload again without it, after a check that the first did not land,
 * and no time in uploads for the rest of the mount. */
static int send_spool(struct upload *u, const char *bundle, const char *name,
		      const char *spool, const char *md5, const int64_t tm[2],
		      struct dso_list *out)
{
	struct dspace_draft_body b = {.path = spool};
	int r;

	if (tm[0] < 0 || into_draft(u, bundle) ||
	    __atomic_load_n(&u->no_time, __ATOMIC_RELAXED))
		return send_body(u, bundle, name, &b, out);
	r = rest_upload_bitstream_time(u->s, bundle, name, spool, tm[0], tm[1],
				       out);
	if (r != -EIO)
		return r;
	log_warn("upload of \"%s\" with its time in the request failed; "
		 "sending times separately from now on",
		 name);
	__atomic_store_n(&u->no_time, 1, __ATOMIC_RELAXED);
	r = already_there(u, bundle, name, md5, NULL, out);
	if (r != 0)
		return r < 0 ? r : 0;
	return send_body(u, bundle, name, &b, out);
}

/* POSTs the spool with retries (the modification time tm along, see
 * send_spool); appends the new bitstream to out. An overwrite on DSpace
 * 10 replaces the content instead when the server allows it (*replaced
 * set: the old version is gone already). */
static int post(struct upload *u, const char *bundle, const char *name,
		const char *spool, const char *md5, const char *replaces,
		const int64_t tm[2], int *replaced, struct dso_list *out,
		char *why, size_t whylen)
{
	int r = -EIO;

	for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
		if (attempt) {
			struct timespec ts;
			long ms = 250L << attempt;

			ts.tv_sec = ms / 1000;
			ts.tv_nsec = (ms % 1000) * 1000000L;
			nanosleep(&ts, NULL);
			if (already_there(u, bundle, name, md5, replaces,
					  out) == 1) {
				log_info(
				    "upload of \"%s\": the earlier attempt "
				    "arrived after all",
				    name);
				return 0;
			}
		}
		r = -EOPNOTSUPP;
		if (replaces && replaces[0] && !into_draft(u, bundle))
			r = rest_replace_bitstream(u->s, replaces, name, spool,
						   out);
		if (r == 0)
			*replaced = 1;
		if (r == -EOPNOTSUPP)
			r = send_spool(u, bundle, name, spool, md5, tm, out);
		if (r == 0) {
			struct dso *d = &out->v[out->n - 1];

			if (strcasecmp(d->md5, md5)) {
				log_error("upload of \"%s\": the server's "
					  "checksum %s differs from ours %s; "
					  "removing its copy",
					  name, d->md5[0] ? d->md5 : "(none)",
					  md5);
				snprintf(why, whylen,
					 "checksum mismatch (server %s, local "
					 "%s)",
					 d->md5[0] ? d->md5 : "none", md5);
				if (delete_retry(u, d->uuid) < 0)
					snprintf(why, whylen,
						 "checksum mismatch; its copy "
						 "%s could not be removed",
						 d->uuid);
				dso_release(d);
				out->n--;
				return -EIO;
			}
			return 0;
		}
		snprintf(why, whylen, "%s", strerror(-r));
		if (!err_is_unavailable(r))
			break;
		log_warn("upload of \"%s\" failed (%s); attempt %d of %d", name,
			 strerror(-r), attempt + 1, MAX_ATTEMPTS);
	}
	return r;
}

/* Waits for f's streamed upload and takes its result: 0 when it landed
 * the whole spool of size bytes (the bitstream appended to l), else
 * -EAGAIN: upload from the spool. */
static int stream_claim(struct upload_file *f, int64_t size,
			const char *replaces, struct dso_list *l)
{
	struct stream *s = f->stream;
	int whole, r = -EAGAIN;

	if (!s)
		return -EAGAIN;
	stream_wait(s, 0, size);
	pthread_mutex_lock(&s->m);
	if (s->claimed) {
		pthread_mutex_unlock(&s->m);
		return -EAGAIN;
	}
	s->claimed = 1;
	whole = s->body_sent && !s->broken && s->sent == size;
	pthread_mutex_unlock(&s->m);
	if (s->rc == 0 && s->out.n) {
		struct dso *d = &s->out.v[0];

		if (whole && !strcasecmp(d->md5, s->hex)) {
			struct dso *x = dso_list_push(l);

			if (x) {
				dso_release(x);
				*x = *d;
				memset(d, 0, sizeof(*d));
				s->out.n = 0;
				return 0;
			}
		}
		log_warn("streamed upload of \"%s\": the server's checksum %s "
			 "differs from ours %s; removing its copy, uploading "
			 "again from the spool",
			 s->name, d->md5[0] ? d->md5 : "(none)",
			 whole ? s->hex : "(incomplete)");
		if (delete_retry(f->u, d->uuid) < 0) {
			/* Uploading again would leave it live beside. */
			log_error("streamed upload of \"%s\": its copy %s "
				  "could not be removed",
				  s->name, d->uuid);
			return -EIO;
		}
	} else if (s->rc < 0 && whole &&
		   already_there(f->u, s->bundle, s->name, s->hex, replaces,
				 l) == 1) {
		/* The answer was lost, not the upload. */
		log_info("streamed upload of \"%s\" arrived after all",
			 s->name);
		return 0;
	} else {
		log_info("upload of \"%s\" not streamed (%s); uploading from "
			 "the spool",
			 s->name,
			 s->broken ? s->reason
			 : s->rc   ? strerror(-s->rc)
				   : "no bitstream in the answer");
	}
	return r;
}

/* Deletes bitstream uuid, a few times while the server is unavailable.
 * 0 (also when it was gone) or -errno: it is still there. */
static int delete_retry(struct upload *u, const char *uuid)
{
	int r = -EIO;

	for (int attempt = 0; attempt < DELETE_ATTEMPTS; attempt++) {
		if (attempt) {
			struct timespec ts = {0, (250L << attempt) * 1000000L};

			nanosleep(&ts, NULL);
		}
		r = rest_delete(u->s, DSO_BITSTREAM, uuid);
		if (r == 0 || r == -ENOENT)
			return 0;
		if (!err_is_unavailable(r))
			break;
	}
	return r;
}

/* Row j uploaded, but the version it replaces (j->replaces) is still
 * live after the error d: journalled so, for "retry" to delete it. */
static void delete_pending(struct upload *u, struct cache_upload *j, int d)
{
	char why[200];

	snprintf(why, sizeof(why),
		 "uploaded, but the old version %s could not be deleted "
		 "(%s): both are on the server; \"retry\" deletes it",
		 j->replaces, strerror(-d));
	snprintf(j->state, sizeof(j->state), ST_DELETE_PENDING);
	set_str(&j->error, why);
	cache_upload_update(u->c, j);
	log_error("%s: %s", j->path, why);
	/* The name stays the new version's; the row tells of the old. */
	if (tree_hide(u->t, j->replaces, 1) == 0)
		tree_invalidate(u->t, j->bundle_ino);
}

/* Whether bitstream d holds row j's modification time already. */
static int time_there(const struct dso *d, const struct cache_upload *j)
{
	int64_t sec, ns;

	return model_modified_time(d, &sec, &ns) == 0 && sec == j->mtime &&
	       ns == j->mtime_ns;
}

/* What follows the arrival of row j's bitstream (l->v[0], size bytes):
 * the version it replaces deleted, the inode re-keyed, the times kept;
 * the bitstream moved to result when wanted. -errno when the old
 * version could not be deleted (row j is then delete-pending). */
static int arrived(struct upload *u, struct cache_upload *j, struct dso_list *l,
		   int64_t size, struct dso *result)
{
	int r, d = 0;

	if (j->replaces[0]) {
		d = delete_retry(u, j->replaces);
		if (d < 0)
			delete_pending(u, j, d);
		else
			j->replaces[0] = '\0';
	}
	if (!l->v[0].mime && j->name) /* the answer has no format */
		rest_format_for_name(u->s, j->name, &l->v[0].mime);
	r = tree_add(u->t, j->bundle_ino, &l->v[0], j->ino, NULL);
	if (r < 0)
		tree_invalidate(u->t, j->bundle_ino);
	if (j->has_times)
		cache_set_times(u->c, l->v[0].uuid, l->v[0].md5, j->mtime,
				j->mtime_ns);
	/* the time on the server too, unless the upload carried it; a
	 * DSpace 10 replace copied the old version's, which is dropped */
	if (j->has_times ? !time_there(&l->v[0], j)
			 : model_modified_time(&l->v[0], &(int64_t){0},
					       &(int64_t){0}) == 0)
		rest_set_modified(u->s, l->v[0].uuid,
				  j->has_times ? j->mtime : -1, j->mtime_ns);
	log_info("uploaded %s (%" PRId64 " bytes, MD5 %s)", j->path, size,
		 l->v[0].md5);
	if (result) {
		*result = l->v[0];
		memset(&l->v[0], 0, sizeof(l->v[0]));
	}
	return d;
}

/* Records row j as failed with reason why (or the error r). */
static void row_failed(struct upload *u, struct cache_upload *j, int r,
		       const char *why)
{
	snprintf(j->state, sizeof(j->state), ST_FAILED);
	set_str(&j->error, why && why[0] ? why : strerror(-r));
	cache_upload_update(u->c, j);
	log_error("upload of %s failed: %s; the data is kept in %s (see "
		  "%s)",
		  j->path, j->error, j->spool, TREE_STATUS_NAME);
}

/* Uploads journal row j from spool fd (unless landed holds the bitstream
 * a streamed upload of all size bytes created). With check, a bitstream
 * of the same name and MD5 already in the bundle (an earlier attempt
 * whose answer was lost) counts as this upload, and nothing is sent when
 * that cannot be checked. On success see arrived(). */
static int do_upload(struct upload *u, struct cache_upload *j, int fd,
		     struct dso_list *landed, int64_t lsize, int check,
		     struct dso *result)
{
	struct dso_list l = {0};
	char md5[33], why[200] = "";
	int64_t size = lsize;
	int r, replaced = 0;

	if (!j->name || !j->name[0]) {
		/* Never sent without a name (the server would invent one). */
		r = -EINVAL;
		snprintf(why, sizeof(why), "the upload has no name");
		goto fail;
	}
	if (landed && landed->n) {
		l = *landed;
		memset(landed, 0, sizeof(*landed));
		goto done;
	}
	r = md5_fd(fd, md5, &size);
	if (r < 0) {
		snprintf(why, sizeof(why), "reading the spool: %s",
			 strerror(-r));
		goto fail;
	}
	j->size = size;
	snprintf(j->state, sizeof(j->state), ST_UPLOADING);
	set_str(&j->error, "");
	cache_upload_update(u->c, j);
	r = check ? already_there(u, j->bundle_uuid, j->name, md5, j->replaces,
				  &l)
		  : 0;
	if (r == 1) {
		r = superseded(u, j, l.v[0].uuid, why, sizeof(why));
		if (r < 0)
			goto fail;
		log_info("upload of %s: an earlier attempt arrived; not sent "
			 "again",
			 j->path);
		goto done;
	}
	if (r < 0) {
		snprintf(why, sizeof(why),
			 "cannot check whether an earlier attempt arrived "
			 "(%s); nothing sent",
			 strerror(-r));
		goto fail;
	}
	/* A retry never adds a second live file of one name. */
	if (check && newer_there(u, j->bundle_uuid, j->name, j->replaces) > 0) {
		r = -EEXIST;
		snprintf(why, sizeof(why),
			 "another version of \"%s\" landed since; not sent "
			 "(rename the file and \"retry\", or \"forget\" it)",
			 j->name);
		goto fail;
	}
	log_info("uploading %s (%" PRId64 " bytes, MD5 %s)", j->path, size,
		 md5);
	r = post(u, j->bundle_uuid, j->name, j->spool, md5, j->replaces,
		 (int64_t[2]){j->has_times ? j->mtime : -1, j->mtime_ns},
		 &replaced, &l, why, sizeof(why));
	if (r < 0)
		goto fail;
	if (replaced)
		j->replaces[0] = '\0'; /* the server deleted it */
done:
	j->size = size;
	r = arrived(u, j, &l, size, result);
	dso_list_release(&l);
	return r < 0 ? -EIO : 0;
fail:
	dso_list_release(&l);
	row_failed(u, j, r, why);
	return r;
}

/* A private copy of f's journal row for an upload (u->lock held). */
static int row_copy(const struct upload_file *f, struct cache_upload *j)
{
	*j = f->j;
	j->name = strdup(f->j.name);
	j->path = strdup(f->j.path);
	j->spool = strdup(f->j.spool);
	j->error = strdup("");
	return j->name && j->path && j->spool && j->error ? 0 : -ENOMEM;
}

/* Takes the result r of f's upload of row j (the new bitstream d). */
static void commit_done(struct upload_file *f, struct cache_upload *j,
			const struct dso *d, int r)
{
	struct upload *u = f->u;
	/* Landed, the old version still live: the row stays for "retry". */
	int landed = r == 0 || !strcmp(j->state, ST_DELETE_PENDING);

	/* Journal row done; further writes replace what landed. */
	if (r == 0 && j->id && cache_upload_del(u->c, j->id) < 0)
		gone_add(u, j->id, "");
	pthread_mutex_lock(&u->lock);
	if (landed) {
		f->j.id = 0;
		snprintf(f->j.replaces, sizeof(f->j.replaces), "%s", d->uuid);
		f->j.size = j->size;
		snprintf(f->j.state, sizeof(f->j.state), ST_WRITING);
		if (!f->dirty)
			f->st = F_CLEAN;
		f->uploaded_once = 1;
	} else {
		f->st = F_FAILED;
		f->dirty = 0;
		snprintf(f->j.state, sizeof(f->j.state), "%s", j->state);
		set_str(&f->j.error, j->error);
	}
	pthread_mutex_unlock(&u->lock);
}

/* Whether f was abandoned meanwhile (upload_abandon): then its journal
 * row is written again, as incomplete. */
static int abandoned(struct upload_file *f)
{
	struct upload *u = f->u;
	int gone;

	pthread_mutex_lock(&u->lock);
	gone = f->werr != 0;
	if (gone && f->j.id)
		cache_upload_update(u->c, &f->j);
	pthread_mutex_unlock(&u->lock);
	return gone;
}

int upload_commit(struct upload_file *f)
{
	struct upload *u = f->u;
	struct cache_upload j = {0};
	struct dso_list landed = {0};
	struct dso d = {0};
	struct stat st;
	int64_t size;
	int r, go;

	pthread_mutex_lock(&f->io);
	pthread_mutex_lock(&u->lock);
	go = f->st == F_WRITING && f->dirty && !f->werr;
	r = f->werr ? -f->werr : f->st == F_FAILED ? -EIO : 0;
	if (go) {
		f->dirty = 0;
		snprintf(f->j.state, sizeof(f->j.state), ST_UPLOADING);
		r = row_copy(f, &j);
	}
	pthread_mutex_unlock(&u->lock);
	if (!go || r < 0)
		goto out;
	/* Closed: from now on a crash leaves an upload to check, not a
	 * file that may be incomplete. */
	size = fstat(f->fd, &st) == 0 ? st.st_size : -1;
	j.size = size;
	snprintf(j.state, sizeof(j.state), ST_UPLOADING);
	cache_upload_update(u->c, &j);
	if (stream_claim(f, size, j.replaces, &landed) < 0 && abandoned(f)) {
		r = -EINTR;
		goto out;
	}
	r = do_upload(u, &j, f->fd, &landed, size, 0, &d);
	dso_list_release(&landed);
	commit_done(f, &j, &d, r);
	dso_release(&d);
out:
	cache_upload_release(&j);
	pthread_mutex_unlock(&f->io);
	return r;
}

void upload_writer_open(struct upload_file *f)
{
	pthread_mutex_lock(&f->u->lock);
	f->writers++;
	pthread_mutex_unlock(&f->u->lock);
}

/* Takes f's wait for a rename off (u->lock held): 1 when it waited (the
 * caller then owns the wait's reference). */
static int defer_claim(struct upload_file *f)
{
	int was = f->deferred;

	f->deferred = 0;
	return was;
}

/* Ends a wait claimed by defer_claim: uploads f unless a writer has it
 * open again (its close uploads it), and drops the wait's reference. */
static int defer_finish(struct upload_file *f)
{
	int busy, r = 0;

	pthread_mutex_lock(&f->u->lock);
	busy = f->writers > 0;
	pthread_mutex_unlock(&f->u->lock);
	if (!busy)
		r = upload_commit(f);
	upload_unref(&f);
	return r;
}

/* Ends f's wait for a rename, if it waits: 0 or the upload's -errno, 1
 * when it did not wait. */
static int defer_end(struct upload_file *f)
{
	int was;

	pthread_mutex_lock(&f->u->lock);
	was = defer_claim(f);
	pthread_mutex_unlock(&f->u->lock);
	return was ? defer_finish(f) : 1;
}

/* The first file of u whose wait is over (all when stopping), claimed;
 * else NULL with *next the earliest end of a wait (u->lock held). */
static struct upload_file *defer_due(struct upload *u, int64_t *next, int *any)
{
	int64_t now = mono_ms();

	*next = INT64_MAX;
	*any = 0;
	for (struct upload_file *f = u->files; f; f = f->next) {
		if (!f->deferred)
			continue;
		*any = 1;
		if (u->defer_stop || f->defer_until <= now) {
			defer_claim(f);
			log_info("%s: no rename followed; uploading it under "
				 "that name",
				 f->j.path);
			return f;
		}
		if (f->defer_until < *next)
			*next = f->defer_until;
	}
	return NULL;
}

/* The thread of the files waiting for a rename: each one whose time is
 * up is uploaded under the name it has (all at once when stopping). */
static void *defer_main(void *arg)
{
	struct upload *u = arg;
	struct upload_file *f;
	struct timespec ts;
	int64_t next;
	int any;

	pthread_mutex_lock(&u->lock);
	for (;;) {
		f = defer_due(u, &next, &any);
		if (f) {
			pthread_mutex_unlock(&u->lock);
			defer_finish(f);
			pthread_mutex_lock(&u->lock);
			continue;
		}
		if (u->defer_stop && !any)
			break;
		if (next == INT64_MAX) {
			pthread_cond_wait(&u->defer_cv, &u->lock);
			continue;
		}
		ts.tv_sec = next / 1000;
		ts.tv_nsec = (next % 1000) * 1000000L;
		pthread_cond_timedwait(&u->defer_cv, &u->lock, &ts);
	}
	pthread_mutex_unlock(&u->lock);
	return NULL;
}

void upload_drain(struct upload *u)
{
	defer_stop(u);
}

/* Uploads what waits for a rename now and ends the thread (unmount). */
static void defer_stop(struct upload *u)
{
	int started;

	pthread_mutex_lock(&u->lock);
	u->defer_stop = 1;
	started = u->defer_started;
	pthread_cond_broadcast(&u->defer_cv);
	pthread_mutex_unlock(&u->lock);
	if (started)
		pthread_join(u->defer_th, NULL);
}

/* At the last writer's close of f: a new file under a temporary name
 * waits for its rename (a reference held, journalled as closed, so a
 * crash leaves an upload to check, never a lost file) instead of being
 * uploaded under that name now; DEFER_MS at most. 1 when it waits. */
static int defer(struct upload_file *f)
{
	struct upload *u = f->u;
	int r = 0;

	pthread_mutex_lock(&u->lock);
	if (f->deferred) {
		f->defer_until = mono_ms() + DEFER_MS;
		r = 1;
	} else if (f->st == F_WRITING && f->dirty && !f->werr && !f->stream &&
		   !u->defer_stop && temp_name(f->j.name) &&
		   (u->defer_started ||
		    pthread_create(&u->defer_th, NULL, defer_main, u) == 0)) {
		u->defer_started = 1;
		f->deferred = 1;
		f->refs++;
		f->defer_until = mono_ms() + DEFER_MS;
		snprintf(f->j.state, sizeof(f->j.state), ST_UPLOADING);
		set_str(&f->j.error, "closed; waits for its rename to the "
				     "final name");
		if (f->j.id)
			cache_upload_update(u->c, &f->j);
		pthread_cond_broadcast(&u->defer_cv);
		r = 1;
	}
	pthread_mutex_unlock(&u->lock);
	return r;
}

int upload_written(struct upload_file *f)
{
	int wrote;

	pthread_mutex_lock(&f->u->lock);
	wrote = f->wrote;
	pthread_mutex_unlock(&f->u->lock);
	return wrote;
}

int upload_flush(struct upload_file *f, int writer)
{
	unsigned others;

	if (!writer)
		return 0;
	pthread_mutex_lock(&f->u->lock);
	others = f->writers > 1;
	pthread_mutex_unlock(&f->u->lock);
	if (others || defer(f))
		return 0;
	return upload_commit(f);
}

void upload_writer_close(struct upload_file *f)
{
	unsigned left;

	pthread_mutex_lock(&f->u->lock);
	left = f->writers ? --f->writers : 0;
	pthread_mutex_unlock(&f->u->lock);
	if (!left && !defer(f))
		upload_commit(f);
}

void upload_discard(struct upload_file *f)
{
	struct upload *u = f->u;

	stream_break(f, "the file was removed");
	pthread_mutex_lock(&u->lock);
	f->st = F_DISCARDED;
	f->dirty = 0;
	pthread_mutex_unlock(&u->lock);
	changed(u);
	defer_end(f); /* nothing to upload; drops a wait's reference */
}

/* The bytes s sent so far and their mean rate in bytes per second. */
static void stream_progress(struct stream *s, int64_t *sent, int64_t *rate)
{
	int64_t ms = mono_ms() - s->t0_ms;

	pthread_mutex_lock(&s->m);
	*sent = s->sent;
	pthread_mutex_unlock(&s->m);
	*rate = ms > 0 ? *sent * 1000 / ms : 0;
}

/* Row j as this run knows it: an open file that owns it lends its state,
 * error and the bytes its stream sent (sent[0]) at a rate (sent[1]); a
 * "writing" row nobody owns is a writer that failed and went. 1 when an
 * open file owns it, 2 when that file was unlinked (not listed), else 0. */
static int row_view(struct upload *u, struct cache_upload *j, int64_t *sent)
{
	struct upload_file *f;
	struct stat st;
	int open = 0;

	if (sent)
		sent[0] = sent[1] = 0;
	pthread_mutex_lock(&u->lock);
	for (f = u->files; f && f->j.id != j->id; f = f->next)
		;
	if (gone_has(u, j->id) || (f && f->st == F_DISCARDED)) {
		open = 2;
	} else if (f) {
		open = 1;
		snprintf(j->state, sizeof(j->state), "%s", f->j.state);
		set_str(&j->error, f->j.error);
		if (f->fd >= 0 && fstat(f->fd, &st) == 0)
			j->size = st.st_size;
		if (f->stream && sent)
			stream_progress(f->stream, &sent[0], &sent[1]);
	} else if (!strcmp(j->state, ST_WRITING)) {
		/* Record the truth now, if the journal takes it. */
		char *why = note_take(u, j->id);

		if (stat(j->spool, &st) == 0)
			j->size = st.st_size;
		snprintf(j->state, sizeof(j->state), ST_INCOMPLETE);
		if (why || !j->error[0])
			set_str(&j->error,
				why ? why
				    : "closed after a failed write: the "
				      "content is incomplete; kept, sent only "
				      "by \"retry ID\"");
		if (why && cache_upload_update(u->c, j) < 0)
			note_add(u, j->id, why);
		free(why);
	}
	pthread_mutex_unlock(&u->lock);
	return open;
}

/* Appends text to out with tabs and line breaks made spaces. */
static int add_field(struct buf *out, const char *text)
{
	int r = 0;

	for (const char *p = text; r == 0 && *p; p++)
		r = buf_addf(out, "%c", *p == '\t' || *p == '\n' ? ' ' : *p);
	return r;
}

int upload_status_text(struct upload *u, struct buf *out, int64_t *spool)
{
	struct cache_upload *v = NULL;
	int64_t sent[2];
	size_t n = 0;
	int r;

	if (spool)
		*spool = 0;
	gone_flush(u);
	r = cache_upload_list(u->c, &v, &n);
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (row_view(u, &v[i], sent) == 2)
			continue;
		if (spool)
			*spool += v[i].size;
		r = buf_addf(out, "%" PRId64 "\tupload\t%s\t", v[i].id,
			     v[i].state);
		if (r == 0)
			r = add_field(out, v[i].path);
		if (r == 0)
			r = buf_addf(out, "\t%" PRId64 "\t%" PRId64 "\t",
				     v[i].size, sent[0]);
		if (r == 0)
			r = add_field(out, v[i].error);
		if (r == 0)
			r = buf_addf(out, "\t%" PRId64 "\n", sent[1]);
	}
	cache_uploads_release(v, n);
	return r;
}

/* The MD5 and size of row j's spool. */
static int md5_spool(const struct cache_upload *j, char md5[33], int64_t *size)
{
	int fd = open(j->spool, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r;

	if (fd < 0) {
		r = -errno;
		log_error("upload %" PRId64 ": cannot open %s: %s", j->id,
			  j->spool, strerror(errno));
		return r;
	}
	r = md5_fd(fd, md5, size);
	close(fd);
	return r;
}

/* Row j is delete-pending: deletes the old version now (the row is done)
 * or records why not. */
static int retry_delete(struct upload *u, struct cache_upload *j)
{
	int r = delete_retry(u, j->replaces);

	if (r < 0) {
		delete_pending(u, j, r);
		return -EIO;
	}
	log_info("%s: the old version %s is deleted now", j->path, j->replaces);
	tree_hide(u->t, j->replaces, 0);
	tree_invalidate(u->t, j->bundle_ino);
	row_done(u, j->id, "");
	return 0;
}

/* Sends row j again from its spool, unless an earlier attempt arrived. */
static int retry_row(struct upload *u, struct cache_upload *j)
{
	int fd, r;

	if (!u->s)
		return -ENOTCONN;
	if (!strcmp(j->state, ST_DELETE_PENDING))
		return retry_delete(u, j);
	fd = open(j->spool, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r = -errno;
		log_error("upload %" PRId64 ": cannot open %s: %s", j->id,
			  j->spool, strerror(errno));
		return r;
	}
	r = do_upload(u, j, fd, NULL, 0, 1, NULL);
	close(fd);
	if (r == 0)
		row_done(u, j->id, j->spool);
	else if (!strcmp(j->state, ST_DELETE_PENDING))
		unlink(j->spool); /* landed: only the DELETE is left */
	return r;
}

/* Cancels row j: what an earlier attempt left on the server is removed
 * (-errno, nothing changed, when that cannot be checked); the data stays
 * until "forget ID". */
static int cancel_row(struct upload *u, struct cache_upload *j)
{
	struct dso_list l = {0};
	char md5[33];
	int64_t size;
	int r = 0;

	if (!strcmp(j->state, ST_CANCELLED))
		return 0;
	if (!strcmp(j->state, ST_DELETE_PENDING)) {
		log_warn("upload %" PRId64 " of %s landed: \"retry\" deletes "
			 "the old version, \"forget\" keeps both",
			 j->id, j->path);
		return -EINVAL;
	}
	if (!strcmp(j->state, ST_UPLOADING) || !strcmp(j->state, ST_FAILED)) {
		r = u->s ? md5_spool(j, md5, &size) : -ENOTCONN;
		if (r == 0)
			r = already_there(u, j->bundle_uuid, j->name, md5,
					  j->replaces, &l);
		if (r == 1)
			r = rest_delete(u->s, DSO_BITSTREAM, l.v[0].uuid);
		dso_list_release(&l);
		if (r < 0) {
			log_error("upload %" PRId64 " of %s: not cancelled: "
				  "cannot remove what reached the server: %s",
				  j->id, j->path, strerror(-r));
			return r;
		}
	}
	snprintf(j->state, sizeof(j->state), ST_CANCELLED);
	set_str(&j->error, "cancelled: nothing of it is on the server; "
			   "the data stays until \"forget ID\"");
	r = cache_upload_update(u->c, j);
	log_info("cancelled upload %" PRId64 " of %s", j->id, j->path);
	return r;
}

/* Runs command cmd on row j (named: given by its id). */
static int command_row(struct upload *u, int cmd, struct cache_upload *j,
		       int named)
{
	if (row_view(u, j, NULL)) {
		if (!named)
			return 0;
		log_warn("upload %" PRId64 " is still open; close it first",
			 j->id);
		return -EBUSY;
	}
	switch (cmd) {
	case UPLOAD_CMD_FORGET:
		/* Also when the journal cannot be written: the spool may be
		 * what filled the disk. A delete-pending row owns no spool;
		 * forgetting it shows both versions again. */
		if (!strcmp(j->state, ST_DELETE_PENDING)) {
			tree_hide(u->t, j->replaces, 0);
			tree_invalidate(u->t, j->bundle_ino);
			row_done(u, j->id, "");
			return 0;
		}
		row_done(u, j->id, j->spool);
		log_info("forgot upload %" PRId64 " of %s", j->id, j->path);
		return 0;
	case UPLOAD_CMD_CANCEL:
		return cancel_row(u, j);
	default:
		break;
	}
	if (!strcmp(j->state, ST_INCOMPLETE) ||
	    !strcmp(j->state, ST_CANCELLED)) {
		if (!named) {
			log_info("upload %" PRId64 " of %s is %s: not sent "
				 "(\"retry %" PRId64 "\" sends it)",
				 j->id, j->path, j->state, j->id);
			return 0;
		}
		log_warn("upload %" PRId64 " of %s (%s): sending it as asked; "
			 "its content may be incomplete",
			 j->id, j->path, j->state);
	}
	return retry_row(u, j);
}

int upload_parse_command(const char *line, int *cmd, int64_t *id)
{
	static const char *const names[] = {
	    [UPLOAD_CMD_RETRY] = "retry",
	    [UPLOAD_CMD_FORGET] = "forget",
	    [UPLOAD_CMD_CANCEL] = "cancel",
	    [UPLOAD_CMD_REFRESH] = "refresh",
	};
	const char *p = line, *w;
	size_t len, digits = 0;
	int64_t v = 0;

	*cmd = -1;
	*id = 0;
	while (*p == ' ' || *p == '\t' || *p == '\r')
		p++;
	if (!*p)
		return 1;
	for (w = p; *p && *p != ' ' && *p != '\t' && *p != '\r'; p++)
		;
	len = (size_t)(p - w);
	for (int i = 0; i < 4; i++)
		if (strlen(names[i]) == len && !strncmp(w, names[i], len))
			*cmd = i;
	while (*p == ' ' || *p == '\t' || *p == '\r')
		p++;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (INT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (*p - '0');
		digits++;
	}
	while (*p == ' ' || *p == '\t' || *p == '\r')
		p++;
	if (*cmd < 0 || *p || (digits && v == 0))
		return -EINVAL;
	*id = v;
	if (v ? *cmd == UPLOAD_CMD_REFRESH
	      : *cmd == UPLOAD_CMD_FORGET || *cmd == UPLOAD_CMD_CANCEL)
		return -EINVAL;
	return 0;
}

int upload_command(struct upload *u, const char *line)
{
	struct cache_upload *v = NULL;
	int64_t id;
	size_t n = 0;
	int r, cmd, found = 0;

	r = upload_parse_command(line, &cmd, &id);
	if (r)
		return r < 0 ? r : 0;
	if (cmd == UPLOAD_CMD_REFRESH) {
		log_info("%s: \"refresh\" is reserved; nothing to refresh yet",
			 TREE_STATUS_NAME);
		return 0;
	}
	pthread_mutex_lock(&u->cmd);
	gone_flush(u);
	r = cache_upload_list(u->c, &v, &n);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		int x;

		if (id && v[i].id != id)
			continue;
		found = 1;
		x = command_row(u, cmd, &v[i], id != 0);
		if (x < 0 && r == 0)
			r = x;
	}
	pthread_mutex_unlock(&u->cmd);
	cache_uploads_release(v, n);
	if (r == 0 && !found && id)
		return -ENOENT;
	return r;
}

/* Settles an "uploading" row an earlier run left: arrived (same name and
 * MD5 in its bundle) → done; not there → failed (retry sends it); the
 * server cannot be asked → stays, and retry checks first. */
static void check_row(struct upload *u, struct cache_upload *j)
{
	struct dso_list l = {0};
	char md5[33], why[160];
	int64_t size;
	int r = md5_spool(j, md5, &size);

	if (r == 0)
		r = already_there(u, j->bundle_uuid, j->name, md5, j->replaces,
				  &l);
	if (r == 1) {
		log_info("upload %" PRId64 " of %s had arrived before dspacefs "
			 "stopped",
			 j->id, j->path);
		if (arrived(u, j, &l, size, NULL) == 0)
			row_done(u, j->id, j->spool);
	} else if (r == 0) {
		row_failed(u, j, 0,
			   "dspacefs stopped during the upload and it did not "
			   "reach the server (\"retry\" sends it)");
	} else {
		snprintf(why, sizeof(why),
			 "dspacefs stopped during the upload; the server "
			 "could not be checked (%s): \"retry\" checks first",
			 strerror(-r));
		set_str(&j->error, why);
		cache_upload_update(u->c, j);
	}
	dso_list_release(&l);
}

/* The start-up check of the rows an earlier run left "uploading". */
static void *check_main(void *arg)
{
	struct upload *u = arg;
	struct cache_upload *v = NULL;
	size_t n = 0;

	pthread_mutex_lock(&u->cmd);
	if (cache_upload_list(u->c, &v, &n) == 0)
		for (size_t i = 0; i < n; i++)
			if (!strcmp(v[i].state, ST_UPLOADING) &&
			    !row_view(u, &v[i], NULL))
				check_row(u, &v[i]);
	pthread_mutex_unlock(&u->cmd);
	cache_uploads_release(v, n);
	unchecked_clear(u);
	return NULL;
}
