/* dspacefs: mount a DSpace repository. Start-up order matters:
 * http_global_init → parse options → credentials → log in (so a wrong
 * password or a dead server fails here, before anything is mounted) →
 * FUSE session → signals → mount → daemonize → open caches and start
 * threads (SQLite and threads must not cross fork) → loop → clean up. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mount/fs.h"
#include "net/http.h"
#include "core/cache.h"
#include "core/deposit.h"
#include "core/draft.h"
#include "core/inval.h"
#include "util/buf.h"
#include "core/metafile.h"
#include "core/scratch.h"
#include "util/log.h"
#include "mount/opts.h"
#include "core/reader.h"
#include "core/refresh.h"
#include "dspace/session.h"
#include "core/tree.h"

/* What the modules keep in the cache directory (see cache.c, content.c,
 * upload.c): each must be ours and no symbolic link, or a chmod, open or
 * unlink there would act on whatever it points to. */
static const char *const cache_entries[] = {
    "content",	   "spool",	      "meta.db", "meta.db-wal",
    "meta.db-shm", "meta.db-journal", "lock",	 NULL};

/* Refuses a cache directory entry that is a symbolic link or not ours
 * (a missing one is fine: the modules create it). */
static int check_cache_entry(int dirfd, const char *dir, const char *name,
			     char *err, size_t errlen)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot use cache directory %s: %s: %s",
			 dir, name, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode) || st.st_uid != geteuid()) {
		snprintf(err, errlen,
			 "refusing cache directory %s: %s is %s; remove it "
			 "or choose another -o cache_dir",
			 dir, name,
			 S_ISLNK(st.st_mode) ? "a symbolic link"
					     : "owned by another user");
		return -1;
	}
	return 0;
}

/* Creates dir (and its missing parents) with mode 0700. dir itself must be
 * a real directory owned by us, not a symbolic link; it is made 0700
 * through its descriptor, never through a path. 0, or -1 with err set. */
static int make_private_dir(const char *dir, char *err, size_t errlen)
{
	char *copy = strdup(dir), *p;
	struct stat st;
	int fd = -1, rc = 0, i;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (p = copy + 1; *p && !rc; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) && errno != EEXIST)
			rc = -errno;
		*p = '/';
	}
	if (!rc && mkdir(copy, 0700) && errno != EEXIST)
		rc = -errno;
	if (!rc) {
		fd =
		    open(copy, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		rc = fd < 0 ? -errno : 0;
	}
	free(copy);
	if (rc) {
		snprintf(err, errlen, "cannot create cache directory %s: %s",
			 dir,
			 rc == -ELOOP || rc == -ENOTDIR
			     ? "it is a symbolic link or not a directory"
			     : strerror(-rc));
		return -1;
	}
	if (fstat(fd, &st) == 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen,
			 "refusing cache directory %s: owned by uid %u, not "
			 "by you (uid %u)",
			 dir, (unsigned)st.st_uid, (unsigned)geteuid());
		rc = -1;
	} else if (fchmod(fd, 0700) != 0) {
		snprintf(err, errlen, "cannot chmod cache directory %s: %s",
			 dir, strerror(errno));
		rc = -1;
	}
	for (i = 0; !rc && cache_entries[i]; i++)
		rc = check_cache_entry(fd, dir, cache_entries[i], err, errlen);
	close(fd);
	return rc;
}

/* Keeps glibc malloc from holding freed memory under concurrent writers
 * (doc/benchmarks.md, section 6): every FUSE worker and upload thread would
 * get its own arena, and after the first 1 MiB request buffer is freed the
 * dynamic mmap threshold rises so that later ones stay in those arenas.
 * Two arenas and a fixed 256 KiB threshold keep the RSS near its idle
 * size. Before any thread starts. */
static void limit_malloc(void)
{
	mallopt(M_ARENA_MAX, 2);
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
}

/* The pieces main() builds, in start-up order; main() undoes them in
 * reverse through its labels and release_all(). */
struct startup {
	struct fuse_args args;
	struct fuse_cmdline_opts fopts;
	struct dspacefs_opts o;
	char *password; /* wiped once the session holds it */
	struct http *http;
	struct session *session;
	struct fs_config fsc;
	struct fuse_session *se;
	struct inval *inval;
	struct cache *cache; /* the tree's and the upload journal's */
	struct tree *tree;
	struct reader *reader;
	struct virt virt;	    /* virtual files of directories */
	struct deposit_ctx deposit; /* DEPOSIT.txt of drafts */
	pthread_t hup_thread;
	int hup_started;
	pthread_t stop_thread;
	int stop_started;
	int use_syslog; /* once daemonised (plan_daemon_log) */
	int lock_fd;	/* cache_dir/lock, flock()ed while we run */
	char err[512];
};

/* SIGHUP wakes hup_main (a semaphore is async-signal-safe); hup_stop ends
 * it. libfuse's own handler would end the mount on SIGHUP. */
static sem_t hup_sem;
static volatile sig_atomic_t hup_stop;

/* The SIGHUP handler: only wakes the refresh thread. */
static void on_hup(int sig)
{
	(void)sig;
	sem_post(&hup_sem);
}

/* Refreshes on every SIGHUP until told to stop. */
static void *hup_main(void *arg)
{
	struct startup *d = arg;

	for (;;) {
		while (sem_wait(&hup_sem) != 0 && errno == EINTR)
			;
		if (hup_stop)
			break;
		log_info("SIGHUP: refreshing");
		core_refresh_all(d->tree, d->inval);
	}
	return NULL;
}

/* SIGTERM and SIGINT end the loop (as libfuse's handler does) and wake
 * stop_main, which gives uploads under way -o stop_timeout seconds;
 * stop_done tells it the loop is over. */
static struct fuse_session *stop_se;
static sem_t stop_sem, stop_done;

/* The SIGTERM/SIGINT handler: stop taking requests, start the clock. */
static void on_stop(int sig)
{
	(void)sig;
	if (stop_se)
		fuse_session_exit(stop_se);
	sem_post(&stop_sem);
}

/* Once a stop was asked for: after stop_timeout seconds with requests
 * still in flight, cuts every transfer short (uploads fail and keep their
 * data in the spool; reported at unmount). */
static void *stop_main(void *arg)
{
	struct startup *d = arg;
	struct timespec ts;

	while (sem_wait(&stop_sem) != 0 && errno == EINTR)
		;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += d->o.stop_timeout;
	while (sem_timedwait(&stop_done, &ts) != 0) {
		if (errno == EINTR)
			continue;
		if (errno == ETIMEDOUT) {
			log_warn("stopping: requests still under way after %d "
				 "s (-o stop_timeout); cutting them short",
				 d->o.stop_timeout);
			http_abort_all(d->http);
		}
		break;
	}
	return NULL;
}

/* Our SIGTERM/SIGINT handlers (over libfuse's) and the semaphores. */
static int catch_stop(struct fuse_session *se)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	if (sem_init(&stop_sem, 0, 0) != 0 || sem_init(&stop_done, 0, 0) != 0)
		return -1;
	stop_se = se;
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0)
		return -1;
	return 0;
}

/* Ends stop_main once the loop is over. */
static void stop_join(struct startup *d)
{
	if (d->stop_started) {
		sem_post(&stop_done);
		sem_post(&stop_sem);
		pthread_join(d->stop_thread, NULL);
		d->stop_started = 0;
	}
}

/* Our SIGHUP handler, over libfuse's (after fuse_set_signal_handlers). */
static int catch_hup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sem_init(&hup_sem, 0, 0) != 0)
		return -1;
	return sigaction(SIGHUP, &sa, NULL);
}

/* Stops the refresh thread and gives SIGHUP back its default. */
static void stop_hup(struct startup *d)
{
	if (d->hup_started) {
		hup_stop = 1;
		sem_post(&hup_sem);
		pthread_join(d->hup_thread, NULL);
		d->hup_started = 0;
	}
	signal(SIGHUP, SIG_DFL);
}

/* Refuses a mount point that is not an empty directory (libfuse 3 mounts
 * over anything; a file's mount answers EIO, a directory's files would
 * hide under the mount). 0, or -1 after saying why. */
static int check_mountpoint(const char *path, int nonempty_ok)
{
	struct stat st;
	struct dirent *e;
	DIR *dir;
	int used = 0;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "dspacefs: mount point %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr,
			"dspacefs: mount point %s is not a directory; mount "
			"on an empty directory (mkdir it)\n",
			path);
		return -1;
	}
	dir = nonempty_ok ? NULL : opendir(path);
	while (dir && !used && (e = readdir(dir)) != NULL)
		used = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	if (dir)
		closedir(dir);
	if (used) {
		fprintf(stderr,
			"dspacefs: mount point %s is not empty: its files "
			"would be hidden under the mount; use an empty "
			"directory (or -o nonempty)\n",
			path);
		return -1;
	}
	return 0;
}

/* The log level: -o log_level, raised by -d (debug) and -o debug_http
 * (trace). -1 after a message for an unknown name. */
static int choose_level(const struct startup *d)
{
	int level = LL_INFO;

	if (d->o.log_level) {
		level = log_parse_level(d->o.log_level);
		if (level < 0) {
			fprintf(stderr,
				"dspacefs: invalid log_level=%s "
				"(error, warn, info, debug or trace)\n",
				d->o.log_level);
			return -1;
		}
	}
	if (d->fopts.debug && level < LL_DEBUG)
		level = LL_DEBUG;
	if (d->o.debug_http)
		level = LL_TRACE;
	return level;
}

/* Reads the command line and sets up logging; 1 when --help or --version
 * was answered, 0 to go on, -1 on error (already reported). */
static int parse_command_line(struct startup *d, const char *argv0)
{
	struct dspacefs_opts *o = &d->o;
	int level;

	if (opts_parse(&d->args, o) != 0)
		return -1;
	if (o->show_help) {
		opts_usage(argv0);
		return 1;
	}
	if (o->show_version) {
		printf("dspacefs %s\nFUSE library version %s\n%s\n",
		       PACKAGE_VERSION, fuse_pkgversion(), http_version());
		return 1;
	}
	if (fuse_parse_cmdline(&d->args, &d->fopts) != 0)
		return -1;
	if (!d->fopts.mountpoint) {
		fprintf(stderr, "dspacefs: missing MOUNTPOINT (see --help)\n");
		return -1;
	}
	level = choose_level(d);
	if (level < 0 || check_mountpoint(d->fopts.mountpoint, o->nonempty))
		return -1;
	log_init("dspacefs", 0, (enum log_level)level);
	if (o->log_file && (level = log_open_file(o->log_file)) < 0) {
		fprintf(stderr, "dspacefs: cannot open log_file %s: %s\n",
			o->log_file, strerror(-level));
		return -1;
	}
	return 0;
}

/* The password and then the JWT live in this process: no core dumps, no
 * ptrace or /proc/PID/mem by other processes of the same user, unless
 * debugging (-d). */
static void harden_process(int debug)
{
	if (!debug && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		log_warn("cannot make the process non-dumpable: %s",
			 strerror(errno));
	if (debug)
		log_debug("debugging: the process stays dumpable (core dumps "
			  "may hold the password or the session token)");
}

/* The backend's API root for the URL the user gave (checked by opts), or
 * NULL with a reason in err. */
static char *api_root(const char *url, char *err, size_t errlen)
{
	char *norm = opts_normalize_url(url, err, errlen);
	char *root = norm ? dspace_api_root(norm) : NULL;

	if (norm && !root)
		snprintf(err, errlen, "out of memory");
	free(norm);
	return root;
}

/* Takes cache_dir/lock, so that one daemon at a time uses the cache
 * directory: two would each run the start-up check on one upload journal
 * and resend each other's uploads. A daemon killed a moment ago may still
 * be exiting: its lock is waited for up to 5 s. The lock goes with the
 * process (also after kill -9). 0, or -1 with err set. */
static int lock_cache_dir(struct startup *d)
{
	char path[4096], pid[32] = "";
	int fd, i, r = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/lock", d->o.cache_dir);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(d->err, sizeof(d->err), "cannot open %.400s/lock: %s",
			 d->o.cache_dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < 50 && (r = flock(fd, LOCK_EX | LOCK_NB)) != 0; i++)
		usleep(100 * 1000);
	if (r != 0) {
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		snprintf(d->err, sizeof(d->err),
			 "the cache directory %s is in use by another dspacefs "
			 "(pid %s): a second mount needs its own -o cache_dir",
			 d->o.cache_dir, pid[0] ? pid : "unknown");
		close(fd);
		return -1;
	}
	d->lock_fd = fd;
	return 0;
}

/* Writes our pid into the lock file (after daemonising: the pid that
 * holds it), for the message another daemon gives. */
static void lock_note_pid(const struct startup *d)
{
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

	if (d->lock_fd < 0 || ftruncate(d->lock_fd, 0) != 0 ||
	    pwrite(d->lock_fd, pid, (size_t)n, 0) != n)
		log_debug("cannot note our pid in the cache lock");
}

/* Derives the API URL, the credentials and a private cache directory. */
static int prepare_options(struct startup *d)
{
	struct dspacefs_opts *o = &d->o;
	char *err = d->err;
	size_t errlen = sizeof(d->err);

	o->api_url = api_root(o->url, err, errlen);
	if (!o->api_url)
		goto fail;
	if (opts_credentials(o, &d->password, err, errlen) != 0)
		goto fail;
	if (!o->cache_dir)
		o->cache_dir = opts_default_cache_dir(o->api_url, o->user);
	if (!o->cache_dir)
		snprintf(err, errlen, "out of memory");
	if (!o->cache_dir || make_private_dir(o->cache_dir, err, errlen) ||
	    lock_cache_dir(d))
		goto fail;
	if (o->insecure)
		log_warn("TLS certificate verification is OFF (-o insecure): "
			 "anyone on the network path can read and change what "
			 "you see, and take your password");
	return 0;
fail:
	fprintf(stderr, "dspacefs: %s\n", err);
	return -1;
}

/* Forgets the password (it is only needed to log in). */
static void wipe_password(struct startup *d)
{
	if (d->password) {
		explicit_bzero(d->password, strlen(d->password));
		free(d->password);
		d->password = NULL;
	}
}

/* Opens the connection pool and logs in, so that a wrong password or a
 * dead server fails before anything is mounted. */
static int log_in(struct startup *d)
{
	const struct dspacefs_opts *o = &d->o;
	struct http_config hc = {0};
	struct session_config sc = {0};

	hc.connections = o->connections;
	hc.cacert = o->cacert;
	hc.proxy = o->proxy;
	hc.insecure = o->insecure;
	hc.debug_http = o->debug_http;
	hc.stall_timeout = o->timeout;
	hc.connect_timeout = o->timeout < 10 ? o->timeout : 10;
	d->http = http_new(&hc);
	sc.api_url = o->api_url;
	sc.user = o->user;
	sc.password = d->password;
	sc.start_timeout = o->connect_timeout;
	d->session = d->http ? session_new(d->http, &sc) : NULL;
	wipe_password(d);
	if (!d->session) {
		fprintf(stderr, "dspacefs: out of memory\n");
		return -1;
	}
	/* At once: the server may take up to -o connect_timeout to answer. */
	fprintf(stderr, "dspacefs: connecting to %s ...\n", o->url);
	if (session_start(d->session, d->err, sizeof(d->err)) != 0) {
		fprintf(stderr, "dspacefs: %s\n", d->err);
		return -1;
	}
	return 0;
}

/* Fills the adapter's configuration and creates the FUSE session. */
static int new_fuse_session(struct startup *d)
{
	const struct dspacefs_opts *o = &d->o;
	struct fs_config *fsc = &d->fsc;

	/* Read-write unless -o ro (passed on to FUSE by opts) or anonymous
	 * (then fs answers EROFS to every change). */
	fsc->read_only = o->read_only;
	fsc->anonymous = session_is_anonymous(d->session);
	fsc->entry_ttl = o->cache_ttl > 0 ? o->cache_ttl : 1;
	fsc->direct_io = o->direct_io;
	fsc->mountpoint = d->fopts.mountpoint;
	fsc->mount_time = time(NULL);
	fsc->owner = getuid();
	fsc->others_read = o->others_read;
	fsc->private_modes = o->allow_other && !o->others_read;
	/* With allow_other the kernel checks the modes we show (0700/0600
	 * unless others=read, 0755/0644 with it); fs checks the uid of every
	 * request on top. */
	if (o->allow_other &&
	    fuse_opt_add_arg(&d->args, "-odefault_permissions"))
		return -1;
	if (fuse_opt_add_arg(&d->args, "-ofsname=dspacefs") ||
	    fuse_opt_add_arg(&d->args, "-osubtype=dspacefs"))
		return -1;
	d->se = fuse_session_new(&d->args, fs_operations(),
				 sizeof(*fs_operations()), fsc);
	return d->se ? 0 : -1;
}

/* The virtual files of directories: DEPOSIT.txt in drafts. */
static void add_virtual_files(struct startup *d)
{
	struct virt_file f;

	virt_init(&d->virt, d->tree);
	d->deposit.s = d->session;
	d->deposit.draft = d->fsc.draft;
	d->deposit.tree = d->tree;
	d->deposit.upload = d->fsc.upload;
	f = deposit_virt_file(&d->deposit);
	if (virt_register(&d->virt, &f) == 0)
		d->fsc.virt = &d->virt;
}

/* Opens the cache database and the tree over it (with the kernel-cache
 * invalidations and the drafts it lists). 0, or -1 logged. */
static int open_tree(struct startup *d)
{
	const struct dspacefs_opts *o = &d->o;
	struct tree_config tc = {0};

	d->inval = inval_new();
	if (!d->inval) {
		log_error("out of memory");
		return -1;
	}
	if (cache_open(o->cache_dir, &d->cache, d->err, sizeof(d->err)) < 0) {
		log_error("%s", d->err);
		return -1;
	}
	tc.cache = d->cache;
	tc.cache_ttl = o->cache_ttl;
	tc.inval = d->inval;
	d->fsc.draft = draft_new(d->session, o->cache_ttl);
	d->fsc.deposit_direct = o->deposit_direct;
	tc.more = draft_list_more;
	tc.more_expire = draft_expire;
	tc.more_ctx = d->fsc.draft;
	d->tree = tree_new(d->session, &tc, d->err, sizeof(d->err));
	return 0;
}

/* Opens the caches and starts the threads (after fuse_daemonize: SQLite
 * and threads must not cross fork), then hands them to the adapter. */
static int start_modules(struct startup *d)
{
	const struct dspacefs_opts *o = &d->o;
	struct reader_config rc_cfg = {0};
	sigset_t all, old;

	if (open_tree(d) < 0)
		return -1;
	rc_cfg.cache_dir = o->cache_dir;
	rc_cfg.cache_max = o->cache_max;
	/* The read contract (reader.h, dspacefs(1)): a read that sees no
	 * data for -o timeout seconds fails with EIO. */
	rc_cfg.retry_budget = o->timeout;
	rc_cfg.streams = o->streams;
	d->reader =
	    d->tree ? reader_new(d->session, &rc_cfg, d->err, sizeof(d->err))
		    : NULL;
	if (!d->tree || !d->reader) {
		log_error("%s", d->err);
		return -1;
	}
	/* Also on read-only mounts: uploads left pending by an earlier run
	 * are listed (fs refuses the commands). */
	d->fsc.upload = upload_new(d->session, d->tree, d->cache, o->cache_dir,
				   d->err, sizeof(d->err));
	if (!d->fsc.upload) {
		log_error("%s", d->err);
		return -1;
	}
	if (d->fsc.draft) {
		upload_set_draft_target(d->fsc.upload, draft_of_bundle,
					d->fsc.draft);
		add_virtual_files(d);
	}
	d->fsc.views =
	    views_new(d->session, d->tree, o->cache_ttl, (size_t)o->search_max);
	if (!d->fsc.views) {
		log_error("out of memory");
		return -1;
	}
	/* Signals go to the main thread, whose wait libfuse interrupts. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&d->hup_thread, NULL, hup_main, d) == 0)
		d->hup_started = 1;
	else
		log_warn("no SIGHUP refresh: cannot start its thread");
	if (pthread_create(&d->stop_thread, NULL, stop_main, d) == 0)
		d->stop_started = 1;
	else
		log_warn("no stop_timeout: cannot start its thread");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	d->fsc.meta = metafiles_new(d->session, d->tree, o->cache_ttl);
	d->fsc.scratch = scratch_new(o->cache_dir);
	if (!d->fsc.meta || !d->fsc.scratch) {
		log_error("out of memory (metadata.json)");
		return -1;
	}
	d->fsc.session = d->session;
	d->fsc.tree = d->tree;
	d->fsc.reader = d->reader;
	d->fsc.inval = d->inval;
	if (fs_attach(&d->fsc, d->se) != 0) {
		log_error("cannot start the kernel cache invalidation thread");
		return -1;
	}
	return 0;
}

/* Before daemonising: decides where the daemon's messages go (never
 * nowhere) and says so on stderr, the last line the terminal sees. */
static int plan_daemon_log(struct startup *d)
{
	struct stat st;
	struct buf b = BUF_INIT;
	int devlog = stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode), rc;

	switch (log_daemon_sink(d->o.log_file, devlog)) {
	case LOG_SINK_FILE:
		fprintf(stderr, "dspacefs: messages go to %s\n", d->o.log_file);
		return 0;
	case LOG_SINK_SYSLOG:
		d->use_syslog = 1;
		fprintf(stderr, "dspacefs: messages go to syslog (journalctl "
				"-t dspacefs)\n");
		return 0;
	case LOG_SINK_FALLBACK:
		break;
	}
	rc = buf_addf(&b, "%s/dspacefs.log", d->o.cache_dir);
	rc = rc ? rc : log_open_file(b.data);
	if (rc)
		fprintf(stderr, "dspacefs: cannot open %s/dspacefs.log: %s\n",
			d->o.cache_dir, strerror(-rc));
	else
		fprintf(stderr,
			"dspacefs: no syslog (/dev/log missing): messages go "
			"to %s\n",
			b.data);
	buf_release(&b);
	return rc ? -1 : 0;
}

/* Names, at unmount, the uploads that are not on the server (failed,
 * incomplete, cut short): stderr in the foreground, the log otherwise. */
static void report_pending(struct startup *d)
{
	struct buf b = BUF_INIT;
	char *line, *save = NULL;
	size_t n = 0;

	if (d->fsc.upload)
		upload_drain(d->fsc.upload); /* nothing waits for a rename */
	if (!d->fsc.upload ||
	    upload_status_text(d->fsc.upload, &b, NULL) != 0 || !b.data) {
		buf_release(&b);
		return;
	}
	for (line = strtok_r(b.data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[7] = {0}, *p = line, *tab;
		int k;

		for (k = 0; k < 7 && p; k++, p = tab ? tab + 1 : NULL) {
			tab = strchr(p, '\t');
			if (tab)
				*tab = '\0';
			f[k] = p;
		}
		if (!f[3])
			continue;
		n++;
		log_warn("at unmount: upload %s is %s, not on the server: %s "
			 "(%s bytes)%s%s",
			 f[0], f[2], f[3], f[4] ? f[4] : "?",
			 f[6] && *f[6] ? ": " : "", f[6] ? f[6] : "");
	}
	if (n)
		log_warn("%zu upload%s kept in %s/spool: the status file lists "
			 "them at the next mount (retry, cancel, forget)",
			 n, n == 1 ? "" : "s", d->o.cache_dir);
	buf_release(&b);
}

/* Serves requests until unmounted or signalled; 0 on a clean end. */
static int run_loop(struct startup *d)
{
	struct fuse_loop_config *lc;
	int ret;

	if (d->fopts.singlethread)
		return fuse_session_loop(d->se);
	lc = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(lc, d->fopts.clone_fd);
	/* libfuse leaves both limits at UINT_MAX unless -o max_threads= or
	 * -o max_idle_threads= was given; passing that on only earns a
	 * warning. */
	if (d->fopts.max_threads > 0 && d->fopts.max_threads < 100000)
		fuse_loop_cfg_set_max_threads(lc, d->fopts.max_threads);
	if (d->fopts.max_idle_threads < 100000)
		fuse_loop_cfg_set_idle_threads(lc, d->fopts.max_idle_threads);
	ret = fuse_session_loop_mt(d->se, lc);
	fuse_loop_cfg_destroy(lc);
	return ret;
}

/* Frees every piece, the modules before the session they use. */
static void release_all(struct startup *d)
{
	upload_free(&d->fsc.upload);
	views_free(&d->fsc.views);
	metafiles_free(&d->fsc.meta);
	scratch_free(&d->fsc.scratch);
	reader_free(&d->reader);
	tree_free(&d->tree);
	cache_close(&d->cache);
	draft_free(&d->fsc.draft);
	inval_free(&d->inval);
	if (d->se)
		fuse_session_destroy(d->se);
	session_free(&d->session);
	http_free(&d->http);
	wipe_password(d);
	free(d->fopts.mountpoint);
	fuse_opt_free_args(&d->args);
	opts_release(&d->o);
	if (d->lock_fd >= 0) /* last: the cache is no longer ours */
		close(d->lock_fd);
}

/* Start-up: parse → log in → FUSE session → signals → mount → daemonize
 * → modules → loop; the labels undo the steps in reverse. */
int main(int argc, char *argv[])
{
	struct startup d = {.args = FUSE_ARGS_INIT(argc, argv), .lock_fd = -1};
	int ret = 1, r;

	limit_malloc();
	if (http_global_init() < 0) {
		fprintf(stderr, "dspacefs: cannot initialise libcurl\n");
		return 1;
	}
	umask(077);
	r = parse_command_line(&d, argv[0]);
	if (r != 0) {
		ret = r > 0 ? 0 : 1;
		goto out;
	}
	harden_process(d.fopts.debug);
	if (prepare_options(&d) || log_in(&d) || new_fuse_session(&d))
		goto out;
	if (fuse_set_signal_handlers(d.se) != 0 || catch_hup() != 0 ||
	    catch_stop(d.se) != 0)
		goto out;
	if (fuse_session_mount(d.se, d.fopts.mountpoint) != 0)
		goto out_signals;
	if (!d.fopts.foreground && plan_daemon_log(&d) != 0)
		goto out_unmount;
	if (fuse_daemonize(d.fopts.foreground) != 0)
		goto out_unmount;
	if (d.use_syslog)
		log_init(NULL, 1, log_get_level());
	lock_note_pid(&d);
	if (start_modules(&d) != 0)
		goto out_unmount;
	/* libfuse answers a SIGTERM or SIGINT with the signal's number: a
	 * clean stop (systemctl --user stop), exit status 0. */
	r = run_loop(&d);
	ret = r == 0 || r == SIGTERM || r == SIGINT ? 0 : 1;

out_unmount:
	stop_join(&d);
	stop_hup(&d);
	/* No invalidation may reach the session once it goes away. */
	fs_detach(&d.fsc);
	fuse_session_unmount(d.se);
	report_pending(&d);
out_signals:
	stop_hup(&d);
	/* libfuse only removes handlers of its own. */
	stop_se = NULL;
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	fuse_remove_signal_handlers(d.se);
out:
	release_all(&d);
	http_global_cleanup();
	return ret;
}
