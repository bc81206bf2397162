/* opts: the command line (fuse_opt table), the server URL, the cache
 * location and the credentials. Each value here is plain data for main.c
 * to hand to the modules. */
#ifndef DSPACEFS_OPTS_H
#define DSPACEFS_OPTS_H

#include <stdint.h>
#include <stddef.h>

struct fuse_args;

struct dspacefs_opts {
	char *url;     /* as given on the command line */
	char *api_url; /* the backend's API root, from url (main.c) */
	char *user;    /* -o user= (or from ~/.netrc); NULL → anonymous */
	char *password_file; /* -o password_file= */
	int anonymous;	     /* -o anonymous */
	char *cache_dir;     /* -o cache_dir=, else a per-server, per-user dir
			      * under $XDG_CACHE_HOME (or ~/.cache)/dspacefs */
	int cache_ttl;	     /* -o cache_ttl= seconds (default 60) */
	int search_max;	     /* -o search_max= results per search (1000) */
	uint64_t
	    cache_max; /* -o cache_max= bytes, suffixes K/M/G/T (default 2G) */
	int connections; /* -o connections= (default 4) */
	int streams;	 /* -o streams= ranged requests per reader (2) */
	char *proxy;	 /* -o proxy=URL, else libcurl's *_proxy variables */
	char *cacert;	 /* -o cacert= */
	int insecure;	 /* -o insecure */
	int debug_http;	 /* -o debug_http */
	int timeout;	 /* -o timeout= seconds a stalled transfer waits (30) */
	int direct_io;	 /* -o direct_io: bypass the kernel page cache */
	int read_only;	 /* -o ro (seen, and passed on to FUSE) */
	int allow_other; /* -o allow_other or allow_root (passed on) */
	int others_read; /* -o others=read: other users may read (not the
			  * default, others=none) */
	int deposit_direct;  /* -o deposit=direct: mkdir in a collection makes
			      * an archived item (admins), not a draft */
	char *log_file;	     /* -o log_file=PATH */
	char *log_level;     /* -o log_level=error|warn|info|debug|trace */
	int connect_timeout; /* -o connect_timeout= seconds for start-up (30) */
	int nonempty;	     /* -o nonempty: mount over a non-empty directory */
	int stop_timeout;    /* -o stop_timeout= seconds uploads under way get
			      * after SIGTERM/SIGINT (60) */
	char *config_name;   /* the configuration section used, if any */
	int show_help;
	int show_version;
	int bad_password_opt; /* -o password=... was given (refused) */
	int nonopt_count;     /* positional arguments seen */
};

/* Parses our options out of args (leaving FUSE's own options and the mount
 * point in args). Returns 0, or -1 after printing a clear message. */
int opts_parse(struct fuse_args *args, struct dspacefs_opts *o);
void opts_usage(const char *progname);
void opts_release(struct dspacefs_opts *o);

/* Checks a server URL and returns it with a lower-case scheme and without
 * trailing slashes ("HTTP://h/server/" → "http://h/server"), malloc'd; or
 * NULL with a reason in err (not http/https, no host, query or fragment
 * present). The backend's API root is made from it by main
 * (dspace_api_root). */
char *opts_normalize_url(const char *url, char *err, size_t errlen);

/* Parses "512", "64K", "10M", "2G", "1T" (binary units). -1 if invalid. */
int64_t opts_parse_size(const char *s);

/* The default cache directory for this server and user (caller frees). */
char *opts_default_cache_dir(const char *api_url, const char *user);

/* Finds the password for o->user (and the user itself from ~/.netrc when
 * none was given): password_file (refused if group/other may read it),
 * DSPACEFS_PASSWORD, ~/.netrc (machine = host), or a prompt on the terminal.
 * *password is malloc'd (NULL for anonymous). 0, or -1 with err set. */
int opts_credentials(struct dspacefs_opts *o, char **password, char *err,
		     size_t errlen);

/* Looks up machine host in a netrc file: login and password (either may be
 * NULL in the result; caller frees). "machine host" matches every port of
 * host ("host:port" is no netrc form). 0 found, -ENOENT not found, -EINVAL
 * not found but a "machine host:port" line is there. */
int opts_netrc_lookup(const char *path, const char *host, char **login,
		      char **password);

#endif
