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

#include "cache.h"
#include "content.h"
#include "log.h"
#include "rest.h"
#include "upload.h"

#define MAX_ATTEMPTS 4
#define MD5_CHUNK (256 * 1024)
/* Streamed uploads at once: each holds an HTTP handle while the writer
 * writes, and the pool must stay free for everything else. */
#define STREAM_MAX 1
/* A writer silent this long makes the streaming attempt give up (the
 * upload then happens from the spool at flush). */
#define STREAM_IDLE_MS 20000

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
	int64_t sent;		/* m: bytes handed to curl */
	int writing;		/* m: a write at avail is in progress */
	int eof;		/* m: flushed, no more data */
	int broken;		/* m: give up (why in reason) */
	int ends;		/* m: attempts over (a replay is refused) */
	int body_sent;		/* m: all of the file went out */
	int done, joined;	/* m: the POST returned; its thread joined */
	int claimed;		/* m: its result was used or undone */
	int rc;			/* the POST's result (once done) */
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
	int stream_ok;	       /* u->lock: may stream on a first write at 0 */
	struct stream *stream; /* u->lock to set; then fixed */
	pthread_mutex_t io;    /* serialises commits and truncation */
	struct upload_file *next;
};

struct upload {
	struct session *s;
	struct tree *t;
	struct cache *c;
	char *spool_dir;
	pthread_mutex_t lock;
	struct upload_file *files;
	unsigned seq;
	int streams; /* lock: streaming uploads running */
};

static void stream_free(struct stream *s);

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

/* curl's read callback: the spool's bytes as the writer provides them;
 * waits for the writer, up to STREAM_IDLE_MS of silence. */
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
	if (s->ends)
		stream_break_locked(s, "a retry cannot replay the stream");
	while (!s->broken && s->sent >= s->avail && !s->eof) {
		if (pthread_cond_timedwait(&s->cv, &s->m, &dl) == ETIMEDOUT &&
		    s->sent >= s->avail && !s->eof)
			stream_break_locked(s, "the writer paused");
	}
	if (s->broken) {
		pthread_mutex_unlock(&s->m);
		return CURL_READFUNC_ABORT;
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
		return CURL_READFUNC_ABORT;
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
	int rc;

	rc = rest_upload_bitstream_stream(s->u->s, s->bundle, s->name,
					  stream_read, stream_end, s, &s->out);
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
	if (u->streams >= STREAM_MAX)
		return;
	s = calloc(1, sizeof(*s));
	if (!s)
		return;
	s->u = u;
	s->fd = f->fd;
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
	log_debug("streaming the upload of %s while it is written", f->j.path);
}

/* Before a write of f at off: starts or checks the stream. 1 when the
 * write extends it (stream_wrote must follow). */
static int stream_write_begin(struct upload_file *f, off_t off)
{
	struct stream *s;
	int mine = 0;

	pthread_mutex_lock(&f->u->lock);
	if (f->stream_ok && !f->stream && off == 0 && f->st == F_WRITING)
		stream_start(f);
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
		rest_delete(s->u->s, DSO_BITSTREAM, s->out.v[0].uuid);
	}
	dso_list_release(&s->out);
	pthread_mutex_destroy(&s->m);
	pthread_cond_destroy(&s->cv);
	free(s->name);
	free(s);
}

/* Whether err is worth another attempt: 5xx, timeouts, dropped
 * connections. */
static int transient(int err)
{
	return err == -EAGAIN || err == -ETIMEDOUT || err == -ECONNRESET ||
	       err == -ENOTCONN || err == -ECONNREFUSED || err == -EPIPE ||
	       err == -EIO || err == -EHOSTUNREACH;
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

struct upload *upload_new(struct session *s, struct tree *t,
			  const char *cache_dir, char *err, size_t errlen)
{
	struct upload *u = calloc(1, sizeof(*u));
	struct cache_upload *v = NULL;
	size_t n = 0, len;

	if (!u)
		goto nomem;
	u->s = s;
	u->t = t;
	u->c = tree_cache(t);
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
	u->seq = (unsigned)time(NULL);

	/* What an earlier run left behind is listed, never retried on its
	 * own: the user decides. */
	if (cache_upload_list(u->c, &v, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct stat st;

			if (!strcmp(v[i].state, "writing") ||
			    !strcmp(v[i].state, "uploading")) {
				snprintf(v[i].state, sizeof(v[i].state),
					 "interrupted");
				if (!v[i].error[0])
					set_str(&v[i].error,
						"dspacefs stopped before the "
						"upload finished");
				if (stat(v[i].spool, &st) == 0)
					v[i].size = st.st_size;
				cache_upload_update(u->c, &v[i]);
			}
			log_warn(
			    "pending upload %" PRId64 " (%s) of %s, %" PRId64
			    " bytes, kept in %s: %s; retry with: echo "
			    "\"retry %" PRId64 "\" > MOUNT/%s",
			    v[i].id, v[i].state, v[i].path, v[i].size,
			    v[i].spool, v[i].error, v[i].id, TREE_STATUS_NAME);
		}
		cache_uploads_release(v, n);
	}
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
	pthread_mutex_destroy(&u->lock);
	free(u->spool_dir);
	free(u);
	*up = NULL;
}

/* Starts a journal row for f in state writing, with a new spool file. */
static int journal_start(struct upload *u, struct upload_file *f)
{
	char path[4096];
	int r;

	snprintf(f->j.state, sizeof(f->j.state), "writing");
	r = cache_upload_add(u->c, &f->j);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/upload-%" PRId64, u->spool_dir,
		 f->j.id);
	r = set_str(&f->j.spool, path);
	if (r == 0)
		r = cache_upload_update(u->c, &f->j);
	return r;
}

int upload_create(struct upload *u, uint64_t bundle_ino,
		  const char *bundle_uuid, const char *name,
		  const char *mount_path, uint64_t ino,
		  const char *replaces_uuid, struct upload_file **out)
{
	struct upload_file *f = calloc(1, sizeof(*f));
	char key[64];
	int r = -ENOMEM;

	*out = NULL;
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
	r = journal_start(u, f);
	if (r < 0)
		goto fail;
	if (!ino) {
		snprintf(key, sizeof(key), "local:%" PRId64 ":%u", f->j.id,
			 __atomic_add_fetch(&u->seq, 1, __ATOMIC_RELAXED));
		r = cache_alloc_ino(u->c, key, &ino);
		if (r < 0)
			goto fail_journal;
	}
	f->j.ino = ino;
	r = cache_upload_update(u->c, &f->j);
	if (r < 0)
		goto fail_journal;
	f->fd = open(f->j.spool,
		     O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (f->fd < 0) {
		r = -errno;
		log_error("cannot create spool file %s: %s", f->j.spool,
			  strerror(errno));
		goto fail_journal;
	}
	pthread_mutex_lock(&u->lock);
	f->next = u->files;
	u->files = f;
	pthread_mutex_unlock(&u->lock);
	*out = f;
	return 0;
fail_journal:
	cache_upload_del(u->c, f->j.id);
fail:
	cache_upload_release(&f->j);
	pthread_mutex_destroy(&f->io);
	free(f);
	return r;
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
		    !strcmp(f->j.name, name))
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
	i->name = strdup(f->j.name);
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
	if (f->st == F_WRITING && !f->dirty && f->j.id) {
		/* Opened for writing, nothing changed: the server's copy
		 * stands. */
		cache_upload_del(u->c, f->j.id);
		unlink(f->j.spool);
	} else if (f->st == F_CLEAN || f->st == F_DISCARDED) {
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
	if (f->st == F_CLEAN) {
		restart = 1;
		f->st = F_WRITING;
	} else if (f->st == F_FAILED) {
		f->st = F_WRITING;
	}
	f->dirty = 1;
	if (restart) {
		/* The uploaded bitstream becomes the one to replace. */
		snprintf(f->j.state, sizeof(f->j.state), "writing");
		cache_upload_add(u->c, &f->j);
	}
	pthread_mutex_unlock(&u->lock);
}

ssize_t upload_write(struct upload_file *f, const char *buf, size_t size,
		     off_t off)
{
	size_t done = 0;
	int streamed;

	touch(f);
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
			return -e;
		}
		done += (size_t)n;
	}
	if (streamed)
		stream_wrote(f, (ssize_t)done);
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

int upload_truncate(struct upload_file *f, int64_t size)
{
	int r = 0;

	touch(f);
	pthread_mutex_lock(&f->io);
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
	return r;
}

void upload_stream_allow(struct upload_file *f)
{
	pthread_mutex_lock(&f->u->lock);
	f->stream_ok = !f->stream && !f->uploaded_once;
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

int upload_rename(struct upload_file *f, uint64_t bundle_ino,
		  const char *bundle_uuid, const char *name,
		  const char *mount_path, const char *replaces_uuid)
{
	struct upload *u = f->u;
	char *n = strdup(name), *p = strdup(mount_path);
	int r = 0;

	if (!n || !p) {
		free(n);
		free(p);
		return -ENOMEM;
	}
	stream_break(f, "the file was renamed");
	pthread_mutex_lock(&u->lock);
	free(f->j.name);
	free(f->j.path);
	f->j.name = n;
	f->j.path = p;
	f->j.bundle_ino = bundle_ino;
	snprintf(f->j.bundle_uuid, sizeof(f->j.bundle_uuid), "%s", bundle_uuid);
	if (replaces_uuid && *replaces_uuid) {
		if (f->j.replaces[0] && strcmp(f->j.replaces, replaces_uuid))
			log_warn("%s replaces two files; the server keeps %s",
				 mount_path, f->j.replaces);
		snprintf(f->j.replaces, sizeof(f->j.replaces), "%s",
			 replaces_uuid);
	}
	if (f->j.id)
		r = cache_upload_update(u->c, &f->j);
	pthread_mutex_unlock(&u->lock);
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
 * (an earlier attempt that landed although its answer was lost). */
static int already_there(struct upload *u, const char *bundle, const char *name,
			 const char *md5, struct dso_list *out)
{
	struct dso_list l = {0};
	int found = 0;

	if (rest_list_children(u->s, DSO_BUNDLE, bundle, &l) < 0)
		return 0;
	for (size_t i = 0; i < l.n && !found; i++) {
		struct dso *d = &l.v[i];

		if (d->type == DSO_BITSTREAM && !strcmp(d->name, name) &&
		    !strcasecmp(d->md5, md5)) {
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

/* POSTs the spool with retries; appends the new bitstream to out. */
static int post(struct upload *u, const char *bundle, const char *name,
		const char *spool, const char *md5, struct dso_list *out,
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
			if (already_there(u, bundle, name, md5, out)) {
				log_info(
				    "upload of \"%s\": the earlier attempt "
				    "arrived after all",
				    name);
				return 0;
			}
		}
		r = rest_upload_bitstream(u->s, bundle, name, spool, out);
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
				rest_delete(u->s, DSO_BITSTREAM, d->uuid);
				dso_release(d);
				out->n--;
				return -EIO;
			}
			return 0;
		}
		snprintf(why, whylen, "%s", strerror(-r));
		if (!transient(r))
			break;
		log_warn("upload of \"%s\" failed (%s); attempt %d of %d", name,
			 strerror(-r), attempt + 1, MAX_ATTEMPTS);
	}
	return r;
}

/* Waits for f's streamed upload and takes its result: 0 when it landed
 * the whole spool of size bytes (the bitstream appended to l), else
 * -EAGAIN: upload from the spool. */
static int stream_claim(struct upload_file *f, int64_t size, struct dso_list *l)
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
		rest_delete(f->u->s, DSO_BITSTREAM, d->uuid);
	} else if (s->rc < 0 && whole &&
		   already_there(f->u, s->bundle, s->name, s->hex, l)) {
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

/* Uploads journal row j from spool fd (unless landed holds the bitstream
 * a streamed upload of all size bytes created); on success deletes what
 * it replaces, stores the new bitstream under j->ino and keeps the
 * times. */
static int do_upload(struct upload *u, struct cache_upload *j, int fd,
		     struct dso_list *landed, int64_t lsize, struct dso *result)
{
	struct dso_list l = {0};
	char md5[33], why[200] = "";
	int64_t size = 0;
	int r;

	if (landed && landed->n) {
		l = *landed;
		memset(landed, 0, sizeof(*landed));
		size = lsize;
		j->size = size;
		goto landed;
	}
	r = md5_fd(fd, md5, &size);
	if (r < 0) {
		snprintf(why, sizeof(why), "reading the spool: %s",
			 strerror(-r));
		goto fail;
	}
	j->size = size;
	snprintf(j->state, sizeof(j->state), "uploading");
	set_str(&j->error, "");
	cache_upload_update(u->c, j);
	r = post(u, j->bundle_uuid, j->name, j->spool, md5, &l, why,
		 sizeof(why));
	if (r < 0)
		goto fail;
landed:
	if (j->replaces[0]) {
		int d = rest_delete(u->s, DSO_BITSTREAM, j->replaces);

		if (d < 0 && d != -ENOENT)
			log_warn("%s: uploaded, but the old version could not "
				 "be deleted: %s",
				 j->path, strerror(-d));
		j->replaces[0] = '\0';
	}
	r = tree_add(u->t, j->bundle_ino, &l.v[0], j->ino, NULL);
	if (r < 0)
		tree_invalidate(u->t, j->bundle_ino);
	if (j->has_times)
		cache_set_times(u->c, l.v[0].uuid, l.v[0].md5, j->mtime,
				j->mtime_ns);
	log_info("uploaded %s (%" PRId64 " bytes)", j->path, size);
	if (result) {
		*result = l.v[0];
		memset(&l.v[0], 0, sizeof(l.v[0]));
	}
	dso_list_release(&l);
	return 0;
fail:
	dso_list_release(&l);
	snprintf(j->state, sizeof(j->state), "failed");
	set_str(&j->error, why[0] ? why : strerror(-r));
	cache_upload_update(u->c, j);
	log_error("upload of %s failed: %s; the data is kept in %s (see "
		  "%s)",
		  j->path, j->error, j->spool, TREE_STATUS_NAME);
	return r;
}

int upload_commit(struct upload_file *f)
{
	struct upload *u = f->u;
	struct cache_upload j = {0};
	struct dso d;
	int r, go;

	pthread_mutex_lock(&f->io);
	pthread_mutex_lock(&u->lock);
	go = f->st == F_WRITING && f->dirty;
	r = f->st == F_FAILED ? -EIO : 0;
	if (go) {
		f->dirty = 0;
		j = f->j;
		j.name = strdup(f->j.name);
		j.path = strdup(f->j.path);
		j.spool = strdup(f->j.spool);
		j.error = strdup("");
	}
	pthread_mutex_unlock(&u->lock);
	if (!go)
		goto out;
	if (!j.name || !j.path || !j.spool || !j.error) {
		r = -ENOMEM;
		goto out_j;
	}
	memset(&d, 0, sizeof(d));
	{
		struct dso_list landed = {0};
		struct stat st;
		int64_t size = fstat(f->fd, &st) == 0 ? st.st_size : -1;

		stream_claim(f, size, &landed);
		r = do_upload(u, &j, f->fd, &landed, size, &d);
		dso_list_release(&landed);
	}
	pthread_mutex_lock(&u->lock);
	if (r == 0) {
		/* Journal row done; further writes replace what landed. */
		cache_upload_del(u->c, j.id);
		f->j.id = 0;
		snprintf(f->j.replaces, sizeof(f->j.replaces), "%s", d.uuid);
		f->j.size = j.size;
		snprintf(f->j.state, sizeof(f->j.state), "writing");
		if (!f->dirty)
			f->st = F_CLEAN;
		f->uploaded_once = 1;
	} else {
		f->st = F_FAILED;
		f->dirty = 0;
		snprintf(f->j.state, sizeof(f->j.state), "%s", j.state);
		set_str(&f->j.error, j.error);
	}
	pthread_mutex_unlock(&u->lock);
	dso_release(&d);
out_j:
	cache_upload_release(&j);
out:
	pthread_mutex_unlock(&f->io);
	return r;
}

void upload_discard(struct upload_file *f)
{
	struct upload *u = f->u;

	stream_break(f, "the file was removed");
	pthread_mutex_lock(&u->lock);
	f->st = F_DISCARDED;
	f->dirty = 0;
	if (f->j.id)
		cache_upload_del(u->c, f->j.id);
	f->j.id = 0;
	pthread_mutex_unlock(&u->lock);
}

int upload_status_text(struct upload *u, struct buf *out)
{
	struct cache_upload *v = NULL;
	size_t n = 0;
	int r = cache_upload_list(u->c, &v, &n);

	for (size_t i = 0; r == 0 && i < n; i++) {
		if (!strcmp(v[i].state, "writing"))
			continue; /* still being written: not pending yet */
		r = buf_addf(out, "%" PRId64 "\t%s\t%s\t%" PRId64 "\t%s\t%s\n",
			     v[i].id, v[i].state, v[i].path, v[i].size,
			     v[i].spool, v[i].error);
	}
	cache_uploads_release(v, n);
	return r;
}

/* Whether a file open in this run owns journal row id. */
static int row_in_use(struct upload *u, int64_t id)
{
	int used = 0;

	pthread_mutex_lock(&u->lock);
	for (struct upload_file *f = u->files; f; f = f->next)
		if (f->j.id == id && f->st != F_DISCARDED)
			used = 1;
	pthread_mutex_unlock(&u->lock);
	return used;
}

/* Retries one journal row from its spool file. */
static int retry_row(struct upload *u, struct cache_upload *j)
{
	int fd, r;

	if (row_in_use(u, j->id)) {
		log_warn("upload %" PRId64 " is still open; close it to retry",
			 j->id);
		return -EBUSY;
	}
	fd = open(j->spool, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r = -errno;
		log_error("upload %" PRId64 ": cannot open %s: %s", j->id,
			  j->spool, strerror(errno));
		return r;
	}
	r = do_upload(u, j, fd, NULL, 0, NULL);
	close(fd);
	if (r == 0) {
		cache_upload_del(u->c, j->id);
		unlink(j->spool);
	}
	return r;
}

#define CMD_BLANKS " \t\r\v\f"

/* Parses a status-file command line (see upload.h). */
int upload_parse_command(const char *line, enum upload_verb *verb, int64_t *id)
{
	static const struct {
		const char *name;
		enum upload_verb verb;
		int needs_id;
	} verbs[] = {
	    {"retry", UPLOAD_CMD_RETRY, 0},
	    {"forget", UPLOAD_CMD_FORGET, 1},
	};
	const char *p = line + strspn(line, CMD_BLANKS), *w = p;
	size_t wl = strcspn(p, CMD_BLANKS), i;
	int64_t x = 0;

	*verb = UPLOAD_CMD_NONE;
	*id = -1;
	if (!wl)
		return 0; /* an empty line */
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strlen(verbs[i].name) == wl &&
		    !strncmp(w, verbs[i].name, wl))
			break;
	if (i == sizeof(verbs) / sizeof(verbs[0]))
		return -EINVAL;
	p += wl;
	p += strspn(p, CMD_BLANKS);
	if (!*p)
		goto done;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (x > (INT64_MAX - (*p - '0')) / 10)
			return -EINVAL;
		x = x * 10 + (*p - '0');
	}
	if (p[strspn(p, CMD_BLANKS)])
		return -EINVAL;
	*id = x;
done:
	if (verbs[i].needs_id && *id < 0)
		return -EINVAL;
	*verb = verbs[i].verb;
	return 0;
}

int upload_command(struct upload *u, const char *line)
{
	struct cache_upload *v = NULL;
	enum upload_verb verb;
	int64_t id;
	size_t n = 0;
	int r, k, found = 0;

	r = upload_parse_command(line, &verb, &id);
	if (r < 0 || verb == UPLOAD_CMD_NONE)
		return r;
	k = id >= 0 ? 2 : 1; /* 2: one upload named by its id */
	r = cache_upload_list(u->c, &v, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		int x;

		if (k == 2 && v[i].id != id)
			continue;
		if (!strcmp(v[i].state, "writing") ||
		    (!strcmp(v[i].state, "uploading") &&
		     row_in_use(u, v[i].id)))
			continue;
		found = 1;
		if (verb == UPLOAD_CMD_FORGET) {
			if (row_in_use(u, v[i].id)) {
				r = -EBUSY;
				continue;
			}
			x = cache_upload_del(u->c, v[i].id);
			if (x == 0 && unlink(v[i].spool) < 0 && errno != ENOENT)
				log_warn("cannot remove %s: %s", v[i].spool,
					 strerror(errno));
			log_info("forgot upload %" PRId64 " of %s", v[i].id,
				 v[i].path);
		} else {
			x = retry_row(u, &v[i]);
		}
		if (x < 0 && r == 0)
			r = x;
	}
	cache_uploads_release(v, n);
	if (!found && k == 2)
		return -ENOENT;
	return r;
}
