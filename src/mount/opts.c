/* opts: command line, URL, cache location and credentials (see opts.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <fuse_opt.h>

#include "util/buf.h"
#include "mount/config.h"
#include "mount/opts.h"

#define OPT(t, p, v)                                                           \
	{                                                                      \
		t, offsetof(struct dspacefs_opts, p), v                        \
	}

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_PASSWORD,
	KEY_RO,
	KEY_ALLOW,
	KEY_OTHERS,
	KEY_DEPOSIT
};

static const struct fuse_opt opt_table[] = {
    OPT("user=%s", user, 0),
    OPT("password_file=%s", password_file, 0),
    OPT("anonymous", anonymous, 1),
    OPT("cache_dir=%s", cache_dir, 0),
    OPT("cache_ttl=%d", cache_ttl, 0),
    OPT("search_max=%d", search_max, 0),
    OPT("connections=%d", connections, 0),
    OPT("streams=%d", streams, 0),
    OPT("proxy=%s", proxy, 0),
    OPT("cacert=%s", cacert, 0),
    OPT("insecure", insecure, 1),
    OPT("debug_http", debug_http, 1),
    OPT("timeout=%d", timeout, 0),
    OPT("direct_io", direct_io, 1),
    OPT("nonempty", nonempty, 1),
    OPT("log_file=%s", log_file, 0),
    OPT("log_level=%s", log_level, 0),
    OPT("connect_timeout=%d", connect_timeout, 0),
    OPT("stop_timeout=%d", stop_timeout, 0),
    FUSE_OPT_KEY("cache_max=", FUSE_OPT_KEY_DISCARD),
    FUSE_OPT_KEY("password=", KEY_PASSWORD),
    FUSE_OPT_KEY("ro", KEY_RO),
    FUSE_OPT_KEY("allow_other", KEY_ALLOW),
    FUSE_OPT_KEY("allow_root", KEY_ALLOW),
    FUSE_OPT_KEY("others=", KEY_OTHERS),
    FUSE_OPT_KEY("deposit=", KEY_DEPOSIT),
    FUSE_OPT_KEY("-h", KEY_HELP),
    FUSE_OPT_KEY("--help", KEY_HELP),
    FUSE_OPT_KEY("-V", KEY_VERSION),
    FUSE_OPT_KEY("--version", KEY_VERSION),
    FUSE_OPT_END};

/* Prints the dspacefs options of the summary. */
static void usage_options(void)
{
	fputs(
	    "dspacefs options (-o name[=value],...):\n"
	    "    -o user=EMAIL          log in as EMAIL (else ~/.netrc, else "
	    "anonymous)\n"
	    "    -o password_file=FILE  read the password from FILE (mode "
	    "0600)\n"
	    "    -o anonymous           do not log in, even if ~/.netrc has an "
	    "entry\n"
	    "    -o cache_dir=DIR       metadata and content cache (private, "
	    "0700)\n"
	    "    -o cache_ttl=SECONDS   how long a listing is trusted (default "
	    "60)\n"
	    "    -o search_max=N        results kept per search directory "
	    "(default 1000)\n"
	    "    -o cache_max=SIZE      content cache cap, e.g. 500M, 10G "
	    "(default 2G)\n"
	    "    -o connections=N       parallel HTTP connections (default 4)\n"
	    "    -o streams=N           ranges in flight per reader (3)\n"
	    "    -o proxy=URL           HTTP(S) proxy (else the *_proxy vars)\n"
	    "    -o timeout=SECONDS     fail a stalled transfer after this "
	    "long (default 30)\n"
	    "    -o cacert=FILE         CA certificates to trust for TLS\n"
	    "    -o insecure            do not verify TLS certificates "
	    "(dangerous)\n"
	    "    -o debug_http          trace HTTP requests (secrets "
	    "redacted)\n"
	    "    -o direct_io           bypass the kernel page cache (faster "
	    "large reads)\n"
	    "    -o connect_timeout=SECONDS  start-up: give up on a server "
	    "that does\n"
	    "                           not answer after this long (default "
	    "30)\n"
	    "    -o stop_timeout=SECONDS  at SIGTERM, uploads under way get "
	    "this long\n"
	    "                           to finish, then are cut short (kept) "
	    "(default 60)\n"
	    "    -o log_file=PATH       write messages to PATH (also in the "
	    "foreground)\n"
	    "    -o log_level=LEVEL     error, warn, info (default), debug or "
	    "trace\n"
	    "    -o nonempty            allow a mount point that is not empty\n"
	    "    -o others=none|read    with allow_other: what other local "
	    "users may\n"
	    "                           do (default none; read shows them "
	    "whatever\n"
	    "                           your account may read, never "
	    "changes)\n"
	    "    -o deposit=draft|direct  mkdir in a collection: a draft "
	    "(default)\n"
	    "                           or, for administrators, an archived "
	    "item\n"
	    "\n",
	    stdout);
}

/* Prints the command line summary. */
void opts_usage(const char *progname)
{
	printf(
	    "usage: %s [options] URL MOUNTPOINT\n"
	    "       %s [options] NAME MOUNTPOINT   (section [NAME] of\n"
	    "           $XDG_CONFIG_HOME/dspacefs/config, else "
	    "~/.config/dspacefs/config)\n"
	    "\n"
	    "Mounts the DSpace 7/8/9 repository whose REST server is at URL\n"
	    "(e.g. https://demo.dspace.org/server) on MOUNTPOINT.\n"
	    "Communities, collections, items and bundles are directories;\n"
	    "bitstreams are files.\n"
	    "\n",
	    progname, progname);
	usage_options();
	fputs("The password is never accepted on the command line. It comes "
	      "from\n"
	      "password_file=, the DSPACEFS_PASSWORD environment variable, "
	      "~/.netrc\n"
	      "(machine HOST login EMAIL password SECRET) or a prompt on the "
	      "terminal.\n"
	      "Signals: SIGHUP asks the server again for every listing; "
	      "SIGTERM\n"
	      "lets uploads in flight finish, then unmounts.\n"
	      "\n"
	      "FUSE options:\n"
	      "    -h, --help             print this help\n"
	      "    -V, --version          print the version\n"
	      "    -f                     stay in the foreground\n"
	      "    -d                     debug output (implies -f)\n"
	      "    -s                     single-threaded\n"
	      "    -o ro                  read-only mount\n"
	      "    -o allow_other         let other users reach the mount (see "
	      "others=)\n"
	      "\n"
	      "Unmount with: fusermount3 -u MOUNTPOINT\n",
	      stdout);
}

/* -o others=none|read: what other local users may do on an allow_other
 * mount. */
static int parse_others(struct dspacefs_opts *o, const char *v)
{
	if (strcmp(v, "none") == 0 || strcmp(v, "read") == 0) {
		o->others_read = v[0] == 'r';
		return 0;
	}
	fprintf(stderr, "dspacefs: invalid others=%s (none or read)\n", v);
	return -1;
}

/* -o deposit=draft|direct: what mkdir in a collection makes. */
static int parse_deposit(struct dspacefs_opts *o, const char *v)
{
	if (strcmp(v, "draft") == 0 || strcmp(v, "direct") == 0) {
		o->deposit_direct = v[1] == 'i';
		return 0;
	}
	fprintf(stderr, "dspacefs: invalid deposit=%s (draft or direct)\n", v);
	return -1;
}

/* fuse_opt callback: positional arguments and the options that need code. */
static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct dspacefs_opts *o = data;
	(void)outargs;

	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (o->nonopt_count++ == 0 && !o->url) {
			o->url = strdup(arg);
			return 0;
		}
		return 1; /* the mount point: FUSE parses it */
	case FUSE_OPT_KEY_OPT:
		if (strncmp(arg, "cache_max=", 10) == 0) {
			int64_t v = opts_parse_size(arg + 10);

			if (v <= 0) {
				fprintf(stderr,
					"dspacefs: invalid cache_max: %s\n",
					arg + 10);
				return -1;
			}
			o->cache_max = (uint64_t)v;
			return 0;
		}
		return 1;
	case KEY_PASSWORD:
		o->bad_password_opt = 1;
		return 0;
	case KEY_RO:
		o->read_only = 1;
		return 1;
	case KEY_ALLOW:
		o->allow_other = 1;
		return 1;
	case KEY_OTHERS:
		return parse_others(o, arg + strlen("others="));
	case KEY_DEPOSIT:
		return parse_deposit(o, arg + strlen("deposit="));
	case KEY_HELP:
		o->show_help = 1;
		return 0;
	case KEY_VERSION:
		o->show_version = 1;
		return 0;
	}
	return 1;
}

/* The -o options handed on to FUSE; a trailing '=' takes a value. */
static const char *const fuse_known[] = {"allow_other",
					 "allow_root",
					 "auto_unmount",
					 "default_permissions",
					 "ro",
					 "rw",
					 "fsname=",
					 "subtype=",
					 "max_read=",
					 "max_idle_threads=",
					 "clone_fd",
					 "noatime",
					 "nodev",
					 "nosuid",
					 "noexec",
					 "exec",
					 "suid",
					 "dev",
					 "atime",
					 "async",
					 "sync",
					 "dirsync",
					 "large_read",
					 "blkdev",
					 "blksize=",
					 "kernel_cache",
					 "auto_cache",
					 "umask=",
					 "uid=",
					 "gid=",
					 "entry_timeout=",
					 "attr_timeout=",
					 "debug",
					 "max_threads=",
					 NULL};

/* Is tok one of fuse_known (name, or name=value)? */
static int is_fuse_opt(const char *tok)
{
	int k;

	for (k = 0; fuse_known[k]; k++) {
		size_t n = strlen(fuse_known[k]);

		if (fuse_known[k][n - 1] == '='
			? strncmp(tok, fuse_known[k], n) == 0
			: strcmp(tok, fuse_known[k]) == 0)
			return 1;
	}
	return 0;
}

/* Checks every option of a comma-separated -o list; names the first bad. */
static int check_opt_list(const char *list)
{
	char *copy, *tok, *save = NULL;
	int rc = 0;

	copy = strdup(list);
	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok && !rc;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!is_fuse_opt(tok)) {
			fprintf(stderr,
				"dspacefs: unknown option -o %s (see --help)\n",
				tok);
			rc = -1;
		}
	}
	free(copy);
	return rc;
}

/* Rejects options FUSE would not understand, naming them. */
static int check_unknown(struct fuse_args *args)
{
	int i;

	for (i = 1; i < args->argc; i++) {
		const char *a = args->argv[i];

		if (a[0] != '-')
			continue;
		if (strcmp(a, "-f") == 0 || strcmp(a, "-d") == 0 ||
		    strcmp(a, "-s") == 0 || strcmp(a, "--") == 0)
			continue;
		if (strcmp(a, "-o") == 0 && i + 1 < args->argc) {
			a = args->argv[++i];
		} else if (strncmp(a, "-o", 2) == 0 && a[2]) {
			a += 2;
		} else {
			fprintf(stderr,
				"dspacefs: unknown option %s (see --help)\n",
				a);
			return -1;
		}
		if (check_opt_list(a))
			return -1;
	}
	return 0;
}

/* The index of the first positional argument in args, or 0. */
static int first_positional(const struct fuse_args *args)
{
	int i;

	for (i = 1; i < args->argc; i++) {
		const char *a = args->argv[i];

		if (strcmp(a, "--") == 0)
			return i + 1 < args->argc ? i + 1 : 0;
		if (strcmp(a, "-o") == 0)
			i++;
		else if (a[0] != '-')
			return i;
	}
	return 0;
}

/* Replaces args by argv[0], the section's options, then the command line
 * with the section's name replaced by its URL (so the command line wins:
 * fuse_opt keeps the last value). */
static int splice_section(struct fuse_args *args, int pos,
			  const struct config_section *sec)
{
	struct fuse_args out = FUSE_ARGS_INIT(0, NULL);
	size_t k;
	int i, rc = fuse_opt_add_arg(&out, args->argv[0]);

	for (k = 0; k < sec->n_opts && !rc; k++)
		rc = fuse_opt_add_arg(&out, "-o") ||
		     fuse_opt_add_arg(&out, sec->opts[k]);
	for (i = 1; i < args->argc && !rc; i++)
		rc =
		    fuse_opt_add_arg(&out, i == pos ? sec->url : args->argv[i]);
	if (rc) {
		fuse_opt_free_args(&out);
		return -1;
	}
	fuse_opt_free_args(args);
	*args = out;
	return 0;
}

/* A first argument that is not a URL names a section of the configuration
 * file (config.h); its options go before the command line's. */
static int expand_config(struct fuse_args *args, struct dspacefs_opts *o)
{
	struct config_section sec;
	char err[512];
	int pos = first_positional(args), rc;
	const char *name = pos ? args->argv[pos] : NULL;
	char *path;

	if (!name || strstr(name, "://"))
		return 0;
	path = config_default_path();
	if (!path)
		return -1;
	rc = config_load(path, name, &sec, err, sizeof(err));
	if (rc == -ENOENT)
		fprintf(stderr,
			"dspacefs: %s is not a URL (http:// or https://) nor "
			"a section of the configuration file: %s\n",
			name, err);
	else if (rc)
		fprintf(stderr, "dspacefs: %s\n", err);
	else if (!sec.url)
		fprintf(stderr, "dspacefs: %s: section [%s] has no url =\n",
			path, name);
	if (!rc && !sec.url)
		rc = -EINVAL;
	if (!rc && (!(o->config_name = strdup(name)) ||
		    splice_section(args, pos, &sec))) {
		fprintf(stderr, "dspacefs: out of memory\n");
		rc = -ENOMEM;
	}
	config_section_release(&sec);
	free(path);
	return rc ? -1 : 0;
}

/* Parses the command line into o; prints a message and returns -1 on error. */
int opts_parse(struct fuse_args *args, struct dspacefs_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->cache_ttl = 60;
	o->search_max = 1000;
	o->cache_max = 2ULL << 30;
	o->connections = 4;
	o->streams = 3;
	o->timeout = 30;
	o->connect_timeout = 30;
	o->stop_timeout = 60;

	if (expand_config(args, o) != 0)
		return -1;
	if (fuse_opt_parse(args, o, opt_table, opt_proc) == -1)
		return -1;
	if (o->show_help || o->show_version)
		return 0;
	if (o->bad_password_opt) {
		fprintf(
		    stderr,
		    "dspacefs: refusing -o password=: a password on the "
		    "command line "
		    "is visible to other users (ps) and kept in shell "
		    "history.\n"
		    "Use -o password_file=FILE (mode 0600), DSPACEFS_PASSWORD, "
		    "~/.netrc or the terminal prompt.\n");
		return -1;
	}
	if (check_unknown(args))
		return -1;
	if (o->others_read && !o->allow_other) {
		fprintf(stderr, "dspacefs: -o others=read needs -o allow_other "
				"(other users cannot reach the mount without "
				"it)\n");
		return -1;
	}
	if (o->cache_ttl < 0 || o->search_max < 1 || o->connections < 1 ||
	    o->connections > 64 || o->timeout < 1 || o->connect_timeout < 1 ||
	    o->stop_timeout < 0 || o->streams < 1 || o->streams > 8) {
		fprintf(stderr,
			"dspacefs: cache_ttl must be >= 0, connections "
			"1..64, streams 1..8, timeout, connect_timeout and "
			"search_max >= 1, stop_timeout >= 0\n");
		return -1;
	}
	if (!o->url || o->nonopt_count < 2) {
		fprintf(stderr,
			"dspacefs: missing %s\nusage: dspacefs [options] "
			"URL MOUNTPOINT (see --help)\n",
			o->url ? "MOUNTPOINT" : "URL and MOUNTPOINT");
		return -1;
	}
	if (o->nonopt_count > 2) {
		fprintf(stderr, "dspacefs: too many arguments (see --help)\n");
		return -1;
	}
	return 0;
}

/* Frees everything opts_parse allocated. */
void opts_release(struct dspacefs_opts *o)
{
	free(o->url);
	free(o->api_url);
	free(o->user);
	free(o->password_file);
	free(o->cache_dir);
	free(o->cacert);
	free(o->proxy);
	free(o->config_name);
	free(o->log_file);
	free(o->log_level);
	memset(o, 0, sizeof(*o));
}

/* Checks the server URL and drops its trailing slashes (the backend turns
 * it into its API root: dspace_api_root). */
char *opts_normalize_url(const char *url, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	const char *scheme, *host, *p;
	size_t len;

	if (strncasecmp(url, "https://", 8) == 0) {
		scheme = "https://";
		host = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		scheme = "http://";
		host = url + 7;
	} else {
		snprintf(err, errlen,
			 "URL must start with http:// or https://: %s", url);
		return NULL;
	}
	if (*host == '\0' || *host == '/') {
		snprintf(err, errlen, "URL has no host: %s", url);
		goto fail;
	}
	if (strpbrk(host, "?#")) {
		snprintf(err, errlen,
			 "URL must not contain a query or fragment: %s", url);
		goto fail;
	}
	for (p = host; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == '\\') {
			snprintf(err, errlen,
				 "URL contains invalid characters");
			goto fail;
		}
	}
	len = strlen(host);
	while (len > 0 && host[len - 1] == '/')
		len--;
	if (buf_adds(&b, scheme) || buf_add(&b, host, len))
		goto nomem;
	return buf_detach(&b, NULL);
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	buf_release(&b);
	return NULL;
}

/* Parses a byte count with an optional binary suffix. */
int64_t opts_parse_size(const char *s)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	default:
		return -1;
	}
	if (*end) {
		const char *unit = end + 1;

		if (strcasecmp(unit, "") != 0 && strcasecmp(unit, "B") != 0 &&
		    strcasecmp(unit, "iB") != 0)
			return -1;
	}
	if (v > (unsigned long long)(INT64_MAX >> shift))
		return -1;
	return (int64_t)(v << shift);
}

/* Appends s with every character outside [A-Za-z0-9.-] as '_'. */
static int add_dir_safe(struct buf *b, const char *s)
{
	int rc = 0;

	for (; *s && !rc; s++) {
		char c = *s;

		if (!(isalnum((unsigned char)c) || c == '.' || c == '-'))
			c = '_';
		rc = buf_add(b, &c, 1);
	}
	return rc;
}

/* Per server and per user, so that what one identity may see never leaks
 * into another's listings. */
char *opts_default_cache_dir(const char *api_url, const char *user)
{
	struct buf b = BUF_INIT;
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = config_home();
	const char *rest = strstr(api_url, "://");
	int rc;

	if (xdg && *xdg == '/')
		rc = buf_addf(&b, "%s/dspacefs/", xdg);
	else
		rc = buf_addf(&b, "%s/.cache/dspacefs/",
			      home && *home ? home : "/tmp");
	if (rc || add_dir_safe(&b, rest ? rest + 3 : api_url) ||
	    buf_adds(&b, "@") || add_dir_safe(&b, user ? user : "anonymous")) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

/* Copies the next netrc token (quoted or not) from *p. */
static char *netrc_token(const char **p)
{
	const char *s = *p, *start;
	char *tok;

	while (*s && isspace((unsigned char)*s))
		s++;
	if (!*s)
		return NULL;
	if (*s == '"') {
		start = ++s;
		while (*s && *s != '"')
			s++;
	} else {
		start = s;
		while (*s && !isspace((unsigned char)*s))
			s++;
	}
	tok = strndup(start, (size_t)(s - start));
	if (*s == '"')
		s++;
	*p = s;
	return tok;
}

/* Reads a whole small text file; NULL on failure. */
static char *read_small_file(const char *path, struct stat *st)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (st && fstat(fd, st) != 0) {
		close(fd);
		return NULL;
	}
	buf_init(&b, 1 << 20);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_add(&b, chunk, (size_t)n))
			break;
	close(fd);
	return buf_detach(&b, NULL);
}

/* Is name "host:port", a form netrc does not have? */
static int has_port_of(const char *name, const char *host)
{
	size_t n = strlen(host);

	return strncmp(name, host, n) == 0 && name[n] == ':';
}

/* Finds "machine host" (or "default") in a netrc file. */
int opts_netrc_lookup(const char *path, const char *host, char **login,
		      char **password)
{
	char *text = read_small_file(path, NULL);
	const char *p = text;
	char *tok;
	int in_match = 0, found = 0, in_default = 0, with_port = 0;

	*login = *password = NULL;
	if (!text)
		return -ENOENT;
	while ((tok = netrc_token(&p)) != NULL) {
		if (strcmp(tok, "machine") == 0 ||
		    strcmp(tok, "default") == 0) {
			int is_default = strcmp(tok, "default") == 0;
			char *name = is_default ? NULL : netrc_token(&p);

			if (found && in_match && !in_default) {
				free(name);
				free(tok);
				break; /* an exact match beats everything after
					*/
			}
			in_match = is_default
				       ? !found
				       : (name && strcmp(name, host) == 0);
			if (!in_match && name && has_port_of(name, host))
				with_port = 1;
			if (in_match && !is_default && in_default) {
				free(*login);
				free(*password);
				*login = *password = NULL;
			}
			in_default = is_default;
			if (in_match)
				found = 1;
			free(name);
		} else if (strcmp(tok, "macdef") == 0) {
			/* Skip a macro definition up to its blank line. */
			const char *end = strstr(p, "\n\n");

			p = end ? end + 2 : p + strlen(p);
		} else if (in_match && (strcmp(tok, "login") == 0 ||
					strcmp(tok, "password") == 0)) {
			char **slot = tok[0] == 'l' ? login : password;
			char *val = netrc_token(&p);

			if (val) {
				free(*slot);
				*slot = val;
			}
		}
		free(tok);
	}
	explicit_bzero(text, strlen(text));
	free(text);
	return found ? 0 : with_port ? -EINVAL : -ENOENT;
}

/* The host part (without port or credentials) of the API URL. */
static char *url_host(const char *api_url)
{
	const char *s = strstr(api_url, "://"), *e;

	s = s ? s + 3 : api_url;
	if (strchr(s, '@') && strchr(s, '@') < strchr(s, '/'))
		s = strchr(s, '@') + 1;
	e = s;
	if (*e == '[') {
		while (*e && *e != ']')
			e++;
		if (*e)
			e++;
	} else {
		while (*e && *e != ':' && *e != '/')
			e++;
	}
	return strndup(s, (size_t)(e - s));
}

/* Asks for the password on the controlling terminal without echo. */
static char *prompt_password(const char *user, const char *host)
{
	struct termios old, quiet;
	char line[1024];
	FILE *tty = fopen("/dev/tty", "r+");
	char *result = NULL;

	if (!tty)
		return NULL;
	fprintf(tty, "Password for %s at %s: ", user, host);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	}
	if (fgets(line, sizeof(line), tty)) {
		line[strcspn(line, "\r\n")] = '\0';
		result = strdup(line);
	}
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fprintf(tty, "\n");
	fclose(tty);
	explicit_bzero(line, sizeof(line));
	return result;
}

/* Reads a password file, refusing one that others may read. */
static char *password_from_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	char *text = read_small_file(path, &st);

	if (!text) {
		snprintf(err, errlen, "cannot read password_file %s: %s", path,
			 strerror(errno));
		return NULL;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen,
			 "password_file %s is readable by group or others "
			 "(mode %03o); run: chmod 600 %s",
			 path, (unsigned)(st.st_mode & 0777), path);
		explicit_bzero(text, strlen(text));
		free(text);
		return NULL;
	}
	text[strcspn(text, "\r\n")] = '\0';
	return text;
}

/* Looks host up in the netrc file at path, refusing a file that others
 * may read or change (as a password file) and a "machine host:port" line
 * that would otherwise be skipped silently. 0 (found or not), or -1 with
 * err set. */
static int netrc_check(const char *path, const char *host, char **login,
		       char **password, char *err, size_t errlen)
{
	struct stat st;
	int rc;

	*login = *password = NULL;
	if (stat(path, &st) != 0)
		return 0;
	if (st.st_uid != geteuid() || (st.st_mode & (S_IRWXG | S_IRWXO))) {
		snprintf(err, errlen,
			 "refusing %s: it holds passwords and is %s (mode "
			 "%03o); run: chmod 600 %s",
			 path,
			 st.st_uid != geteuid() ? "owned by another user"
						: "readable by group or others",
			 (unsigned)(st.st_mode & 0777), path);
		return -1;
	}
	rc = opts_netrc_lookup(path, host, login, password);
	if (rc == -EINVAL) {
		snprintf(err, errlen,
			 "%s has \"machine %s:PORT\", but netrc names hosts "
			 "without a port: write \"machine %s\" (it matches "
			 "every port)",
			 path, host, host);
		return -1;
	}
	return 0;
}

/* Works out who we log in as and with which password (see opts.h). */
int opts_credentials(struct dspacefs_opts *o, char **password, char *err,
		     size_t errlen)
{
	char *host = url_host(o->api_url);
	char *netrc_login = NULL, *netrc_pass = NULL, *netrc_path = NULL;
	const char *home = config_home();
	const char *env;
	int rc = -1;

	*password = NULL;
	if (!host) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (o->anonymous) {
		free(o->user);
		o->user = NULL;
		rc = 0;
		goto out;
	}
	if (!o->user && (env = getenv("DSPACEFS_USER")) && *env)
		o->user = strdup(env);
	if (home) {
		struct buf b = BUF_INIT;

		netrc_path = buf_addf(&b, "%s/.netrc", home) == 0
				 ? buf_detach(&b, NULL)
				 : NULL;
		buf_release(&b);
		if (netrc_path && netrc_check(netrc_path, host, &netrc_login,
					      &netrc_pass, err, errlen))
			goto out;
		if (!o->user && netrc_login)
			o->user = strdup(netrc_login);
	}
	if (!o->user) {
		rc = 0; /* nobody to log in as: anonymous */
		goto out;
	}
	if (o->password_file) {
		*password = password_from_file(o->password_file, err, errlen);
		rc = *password ? 0 : -1;
		goto out;
	}
	env = getenv("DSPACEFS_PASSWORD");
	if (env && *env) {
		*password = strdup(env);
	} else if (netrc_pass &&
		   (!netrc_login || strcmp(netrc_login, o->user) == 0)) {
		*password = strdup(netrc_pass);
	} else if (isatty(STDIN_FILENO)) {
		*password = prompt_password(o->user, host);
	}
	if (!*password) {
		snprintf(
		    err, errlen,
		    "no password for %s: use -o password_file=FILE, "
		    "DSPACEFS_PASSWORD, ~/.netrc, or run on a terminal to be "
		    "asked (or -o anonymous)",
		    o->user);
		goto out;
	}
	rc = 0;
out:
	if (netrc_pass) {
		explicit_bzero(netrc_pass, strlen(netrc_pass));
		free(netrc_pass);
	}
	free(netrc_login);
	free(netrc_path);
	free(host);
	return rc;
}
