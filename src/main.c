/* dspacefs: mount a DSpace repository. Start-up order matters:
 * curl_global_init → parse options → credentials → log in (so a wrong
 * password or a dead server fails here, before anything is mounted) →
 * FUSE session → signals → mount → daemonize → open caches and start
 * threads (SQLite and threads must not cross fork) → loop → clean up. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "mount/fs.h"
#include "net/http.h"
#include "core/inval.h"
#include "util/log.h"
#include "mount/opts.h"
#include "core/reader.h"
#include "dspace/session.h"
#include "core/tree.h"

/* What the modules keep in the cache directory (see cache.c, content.c,
 * upload.c): each must be ours and no symbolic link, or a chmod, open or
 * unlink there would act on whatever it points to. */
static const char *const cache_entries[] = {
    "content",	   "spool",	      "meta.db", "meta.db-wal",
    "meta.db-shm", "meta.db-journal", NULL};

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

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts fopts = {0};
	struct dspacefs_opts o;
	struct fs_config fsc = {0};
	struct http_config hc = {0};
	struct session_config sc = {0};
	struct tree_config tc = {0};
	struct reader_config rc_cfg = {0};
	struct http *http = NULL;
	struct session *session = NULL;
	struct tree *tree = NULL;
	struct inval *inval = NULL;
	struct reader *reader = NULL;
	struct fuse_session *se = NULL;
	char *password = NULL;
	char err[512] = "";
	int ret = 1;

	limit_malloc();
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
		fprintf(stderr, "dspacefs: cannot initialise libcurl\n");
		return 1;
	}
	umask(077);
	if (opts_parse(&args, &o) != 0)
		goto out;
	if (o.show_help) {
		opts_usage(argv[0]);
		ret = 0;
		goto out;
	}
	if (o.show_version) {
		printf("dspacefs %s\nFUSE library version %s\n%s\n",
		       PACKAGE_VERSION, fuse_pkgversion(), curl_version());
		ret = 0;
		goto out;
	}
	if (fuse_parse_cmdline(&args, &fopts) != 0)
		goto out;
	if (!fopts.mountpoint) {
		fprintf(stderr, "dspacefs: missing MOUNTPOINT (see --help)\n");
		goto out;
	}
	log_init("dspacefs", 0,
		 fopts.debug	? LL_DEBUG
		 : o.debug_http ? LL_TRACE
				: LL_INFO);
	if (o.debug_http && log_get_level() < LL_TRACE)
		log_init(NULL, 0, LL_TRACE);

	/* The password and then the JWT live in this process: no core
	 * dumps, no ptrace or /proc/PID/mem by other processes of the same
	 * user, unless debugging (-d). */
	if (!fopts.debug && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		log_warn("cannot make the process non-dumpable: %s",
			 strerror(errno));
	if (fopts.debug)
		log_debug("debugging: the process stays dumpable (core dumps "
			  "may hold the password or the session token)");
	o.api_url = opts_normalize_url(o.url, err, sizeof(err));
	if (!o.api_url) {
		fprintf(stderr, "dspacefs: %s\n", err);
		goto out;
	}
	if (opts_credentials(&o, &password, err, sizeof(err)) != 0) {
		fprintf(stderr, "dspacefs: %s\n", err);
		goto out;
	}
	if (!o.cache_dir)
		o.cache_dir = opts_default_cache_dir(o.api_url, o.user);
	if (!o.cache_dir)
		snprintf(err, sizeof(err), "out of memory");
	if (!o.cache_dir || make_private_dir(o.cache_dir, err, sizeof(err))) {
		fprintf(stderr, "dspacefs: %s\n", err);
		goto out;
	}
	if (o.insecure)
		log_warn("TLS certificate verification is OFF (-o insecure): "
			 "anyone on the network path can read and change what "
			 "you see, and take your password");

	hc.connections = o.connections;
	hc.cacert = o.cacert;
	hc.insecure = o.insecure;
	hc.debug_http = o.debug_http;
	hc.stall_timeout = o.timeout;
	hc.connect_timeout = o.timeout < 10 ? o.timeout : 10;
	http = http_new(&hc);
	sc.api_url = o.api_url;
	sc.user = o.user;
	sc.password = password;
	session = http ? session_new(http, &sc) : NULL;
	if (password) {
		explicit_bzero(password, strlen(password));
		free(password);
		password = NULL;
	}
	if (!session) {
		fprintf(stderr, "dspacefs: out of memory\n");
		goto out;
	}
	if (session_start(session, err, sizeof(err)) != 0) {
		fprintf(stderr, "dspacefs: %s\n", err);
		goto out;
	}

	/* Read-write unless -o ro (passed on to FUSE by opts) or anonymous
	 * (then fs answers EROFS to every change). */
	fsc.read_only = o.read_only;
	fsc.anonymous = session_is_anonymous(session);
	fsc.entry_ttl = o.cache_ttl > 0 ? o.cache_ttl : 1;
	fsc.direct_io = o.direct_io;
	fsc.mount_time = time(NULL);
	fsc.owner = getuid();
	fsc.others_read = o.others_read;
	fsc.private_modes = o.allow_other && !o.others_read;
	/* With allow_other the kernel checks the modes we show (0700/0600
	 * unless others=read, 0755/0644 with it); fs checks the uid of every
	 * request on top. */
	if (o.allow_other && fuse_opt_add_arg(&args, "-odefault_permissions"))
		goto out;
	if (fuse_opt_add_arg(&args, "-ofsname=dspacefs") ||
	    fuse_opt_add_arg(&args, "-osubtype=dspacefs"))
		goto out;

	se = fuse_session_new(&args, fs_operations(), sizeof(*fs_operations()),
			      &fsc);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	if (fuse_session_mount(se, fopts.mountpoint) != 0)
		goto out_signals;
	if (fuse_daemonize(fopts.foreground) != 0)
		goto out_unmount;
	if (!fopts.foreground)
		log_init(NULL, 1, log_get_level());

	inval = inval_new();
	if (!inval) {
		log_error("out of memory");
		goto out_unmount;
	}
	tc.cache_dir = o.cache_dir;
	tc.cache_ttl = o.cache_ttl;
	tc.inval = inval;
	tree = tree_new(session, &tc, err, sizeof(err));
	rc_cfg.cache_dir = o.cache_dir;
	rc_cfg.cache_max = o.cache_max;
	/* The read contract (reader.h, dspacefs(1)): a read that sees no
	 * data for -o timeout seconds fails with EIO. */
	rc_cfg.retry_budget = o.timeout;
	reader = tree ? reader_new(session, &rc_cfg, err, sizeof(err)) : NULL;
	if (!tree || !reader) {
		log_error("%s", err);
		goto out_unmount;
	}
	/* Also on read-only mounts: uploads left pending by an earlier run
	 * are listed (fs refuses the commands). */
	fsc.upload = upload_new(session, tree, o.cache_dir, err, sizeof(err));
	if (!fsc.upload) {
		log_error("%s", err);
		goto out_unmount;
	}
	fsc.session = session;
	fsc.tree = tree;
	fsc.reader = reader;
	fsc.inval = inval;
	if (fs_attach(&fsc, se) != 0) {
		log_error("cannot start the kernel cache invalidation thread");
		goto out_unmount;
	}

	if (fopts.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();

		fuse_loop_cfg_set_clone_fd(lc, fopts.clone_fd);
		/* libfuse leaves both limits at UINT_MAX unless -o max_threads=
		 * or -o max_idle_threads= was given; passing that on only earns
		 * a warning. */
		if (fopts.max_threads > 0 && fopts.max_threads < 100000)
			fuse_loop_cfg_set_max_threads(lc, fopts.max_threads);
		if (fopts.max_idle_threads < 100000)
			fuse_loop_cfg_set_idle_threads(lc,
						       fopts.max_idle_threads);
		ret = fuse_session_loop_mt(se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	ret = ret ? 1 : 0;

out_unmount:
	/* No invalidation may reach the session once it goes away. */
	fs_detach(&fsc);
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out:
	upload_free(&fsc.upload);
	reader_free(&reader);
	tree_free(&tree);
	inval_free(&inval);
	if (se)
		fuse_session_destroy(se);
	session_free(&session);
	http_free(&http);
	free(fopts.mountpoint);
	fuse_opt_free_args(&args);
	opts_release(&o);
	curl_global_cleanup();
	return ret;
}
