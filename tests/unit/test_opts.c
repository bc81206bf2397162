/* Unit tests for opts: URL normalisation, sizes, netrc, cache dir. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define FUSE_USE_VERSION 312
#include <fuse_opt.h>

#include "dspace/dspace.h"
#include "mount/opts.h"
#include "tap.h"

/* Parses "dspacefs -o OPTS http://h/server /mnt" (OPTS NULL: none) into o;
 * returns opts_parse's result. */
static int parse(const char *opts, struct dspacefs_opts *o)
{
	char *argv[] = {"dspacefs",	   "-o",   (char *)opts,
			"http://h/server", "/mnt", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(5, argv);
	int r;

	if (!opts) {
		argv[1] = argv[3];
		argv[2] = argv[4];
		args.argc = 3;
	}
	r = opts_parse(&args, o);
	fuse_opt_free_args(&args);
	return r;
}

/* The -o allow_other / others= combinations. */
static void check_others(void)
{
	struct dspacefs_opts o;

	is_int(parse(NULL, &o), 0, "no options");
	ok(!o.allow_other && !o.others_read, "others may do nothing");
	opts_release(&o);
	is_int(parse("allow_other", &o), 0, "allow_other");
	ok(o.allow_other && !o.others_read,
	   "allow_other alone: others may not read");
	opts_release(&o);
	is_int(parse("allow_root", &o), 0, "allow_root");
	ok(o.allow_other && !o.others_read, "allow_root counts as other");
	opts_release(&o);
	is_int(parse("allow_other,others=read", &o), 0,
	       "allow_other,others=read");
	ok(o.allow_other && o.others_read, "others=read: others may read");
	opts_release(&o);
	is_int(parse("others=none,allow_other", &o), 0, "others=none");
	ok(o.allow_other && !o.others_read, "others=none: they may not");
	opts_release(&o);
	is_int(parse("others=read", &o), -1,
	       "others=read without allow_other refused");
	opts_release(&o);
	is_int(parse("allow_other,others=write", &o), -1,
	       "others=write refused");
	opts_release(&o);
	is_int(parse("allow_other,others=", &o), -1, "empty others= refused");
	opts_release(&o);
}

/* Normalises url and compares with want (NULL: must be refused). */
static void check_url(const char *url, const char *want)
{
	char err[256] = "";
	char *norm = opts_normalize_url(url, err, sizeof(err));
	char *got = norm ? dspace_api_root(norm) : NULL;
	char name[512];

	free(norm);
	snprintf(name, sizeof(name), "normalise %s", url);
	is_str(got, want, name);
	if (!want)
		ok(err[0] != '\0', "a refused URL comes with a reason");
	free(got);
}

int main(void)
{
	char path[] = "/tmp/dspacefs-netrc-XXXXXX";
	char *login, *pass, *dir;
	FILE *f;
	int fd;

	check_url("https://repo.example.org/server",
		  "https://repo.example.org/server/api");
	check_url("https://repo.example.org/server/",
		  "https://repo.example.org/server/api");
	check_url("https://repo.example.org/server/api",
		  "https://repo.example.org/server/api");
	check_url("https://repo.example.org/server/api//",
		  "https://repo.example.org/server/api");
	check_url("HTTP://127.0.0.1:8080/server",
		  "http://127.0.0.1:8080/server/api");
	check_url("ftp://repo.example.org/server", NULL);
	check_url("repo.example.org/server", NULL);
	check_url("https:///server", NULL);
	check_url("https://repo.example.org/server?x=1", NULL);
	check_url("https://repo.example.org/ser ver", NULL);

	check_others();

	is_int(opts_parse_size("512"), 512, "plain bytes");
	is_int(opts_parse_size("64K"), 65536, "K suffix");
	is_int(opts_parse_size("10M"), 10 << 20, "M suffix");
	is_int(opts_parse_size("2G"), 2LL << 30, "G suffix");
	is_int(opts_parse_size("2GiB"), 2LL << 30, "GiB suffix");
	is_int(opts_parse_size("1t"), 1LL << 40, "lower-case suffix");
	is_int(opts_parse_size("10X"), -1, "unknown suffix refused");
	is_int(opts_parse_size("-1"), -1, "negative refused");
	is_int(opts_parse_size(""), -1, "empty refused");
	is_int(opts_parse_size("3GBx"), -1, "trailing junk refused");

	fd = mkstemp(path);
	f = fdopen(fd, "w");
	fprintf(f, "machine other.example.org login a password b\n"
		   "machine repo.example.org\n  login admin@example.org\n"
		   "  password \"s3cret word\"\n"
		   "default login anon password none\n");
	fclose(f);
	is_int(opts_netrc_lookup(path, "repo.example.org", &login, &pass), 0,
	       "netrc machine found");
	is_str(login, "admin@example.org", "netrc login");
	is_str(pass, "s3cret word", "netrc quoted password");
	free(login);
	free(pass);
	is_int(opts_netrc_lookup(path, "unknown.example.org", &login, &pass), 0,
	       "netrc default entry matches any host");
	is_str(login, "anon", "default login");
	free(login);
	free(pass);
	unlink(path);
	is_int(opts_netrc_lookup(path, "repo.example.org", &login, &pass),
	       -2 /* -ENOENT */, "missing netrc file");

	setenv("XDG_CACHE_HOME", "/tmp/xdg", 1);
	dir = opts_default_cache_dir("https://repo.example.org:8443/server/api",
				     "admin@example.org");
	is_str(dir,
	       "/tmp/xdg/dspacefs/"
	       "repo.example.org_8443_server_api@admin_example.org",
	       "cache dir is per server and per user");
	free(dir);
	dir =
	    opts_default_cache_dir("https://repo.example.org/server/api", NULL);
	is_str(dir, "/tmp/xdg/dspacefs/repo.example.org_server_api@anonymous",
	       "anonymous cache dir is separate");
	free(dir);
	return tap_done();
}
