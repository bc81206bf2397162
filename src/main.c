/* dspacefs: mount a DSpace repository. Start-up order matters:
 * curl_global_init → parse options → credentials → log in (so a wrong
 * password or a dead server fails here, before anything is mounted) →
 * FUSE session → signals → mount → daemonize → open caches and start
 * threads (SQLite and threads must not cross fork) → loop → clean up. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fs.h"
#include "http.h"
#include "log.h"
#include "opts.h"
#include "reader.h"
#include "session.h"
#include "tree.h"

/* Creates dir and its parents with mode 0700. */
static int make_private_dir(const char *dir)
{
	char *copy = strdup(dir), *p;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
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
	if (!rc)
		rc = chmod(copy, 0700) ? -errno : 0;
	free(copy);
	return rc;
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
	struct reader *reader = NULL;
	struct fuse_session *se = NULL;
	char *password = NULL;
	char err[512] = "";
	int ret = 1, rc = -ENOMEM;

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
	if (!o.cache_dir || (rc = make_private_dir(o.cache_dir)) != 0) {
		fprintf(stderr,
			"dspacefs: cannot create cache directory %s: %s\n",
			o.cache_dir ? o.cache_dir : "?", strerror(-rc));
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

	tc.cache_dir = o.cache_dir;
	tc.cache_ttl = o.cache_ttl;
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
	fsc.tree = tree;
	fsc.reader = reader;

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
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out:
	upload_free(&fsc.upload);
	reader_free(&reader);
	tree_free(&tree);
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
