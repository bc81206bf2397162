/* Unit tests for config (the INI sections), the netrc host:port rule, the
 * log level names and where a daemon logs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUSE_USE_VERSION 312
#include <fuse_opt.h>

#include "mount/config.h"
#include "mount/opts.h"
#include "util/log.h"
#include "tap.h"

static const char sample[] = "# a comment\n"
			     "; another\n"
			     "[other]\n"
			     "url = https://other.example.org/server\n"
			     "\n"
			     "[ myrepo ]\n"
			     "  url = https://repo.example.org/server  \n"
			     "user = alice@example.org\n"
			     "password_file = ~/.config/dspacefs/pw\n"
			     "cache_ttl = 120\n"
			     "ro\n"
			     "direct_io = yes\n"
			     "insecure = no\n"
			     "cacert = /etc/ssl/a,b\\c.pem\n";

/* The sections, flags, "~/" and fuse_opt escaping. */
static void test_parse(void)
{
	struct config_section s;
	char err[256] = "", home[] = "/tmp/dspacefs-home-XXXXXX", want[128];

	if (!mkdtemp(home))
		return;
	setenv("HOME", home, 1);
	snprintf(want, sizeof(want), "password_file=%s/.config/dspacefs/pw",
		 home);
	is_int(config_parse(sample, "myrepo", &s, err, sizeof(err)), 0,
	       "section found (blanks around the name)");
	is_str(s.url, "https://repo.example.org/server", "url trimmed");
	is_int(s.n_opts, 6, "six options (insecure = no left out)");
	if (s.n_opts == 6) {
		is_str(s.opts[0], "user=alice@example.org", "user");
		is_str(s.opts[1], want, "~/ expanded (HOME is ours)");
		is_str(s.opts[2], "cache_ttl=120", "number");
		is_str(s.opts[3], "ro", "bare flag");
		is_str(s.opts[4], "direct_io", "flag = yes");
		is_str(s.opts[5], "cacert=/etc/ssl/a\\,b\\\\c.pem",
		       "comma and backslash escaped for fuse_opt");
	}
	config_section_release(&s);
	rmdir(home);
	is_int(config_parse(sample, "other", &s, err, sizeof(err)), 0,
	       "first section");
	is_int(s.n_opts, 0, "only a url");
	config_section_release(&s);
	is_int(config_parse(sample, "nope", &s, err, sizeof(err)), -ENOENT,
	       "missing section");
	ok(strstr(err, "no section [nope]") != NULL, "names the section");
	is_int(config_parse("[a]\npassword = x\n", "a", &s, err, sizeof(err)),
	       -EINVAL, "a password key is refused");
	ok(strstr(err, "password_file") != NULL && !strstr(err, " x"),
	   "points to password_file, never echoes the value");
	is_int(config_parse("[a\nurl = x\n", "a", &s, err, sizeof(err)),
	       -EINVAL, "broken section header");
	ok(strstr(err, "line 1") != NULL, "names the line");
	is_int(config_parse("[a]\nbad key = 1\n", "a", &s, err, sizeof(err)),
	       -EINVAL, "a key with a blank");
}

/* config_load refuses a file others may change. */
static void test_load(void)
{
	char path[] = "/tmp/dspacefs-config-XXXXXX", err[512];
	struct config_section s;
	int fd = mkstemp(path);

	if (write(fd, sample, strlen(sample)) < 0)
		perror("write");
	close(fd);
	chmod(path, 0644);
	is_int(config_load(path, "myrepo", &s, err, sizeof(err)), 0,
	       "0644 is fine (no secret in it)");
	config_section_release(&s);
	chmod(path, 0664);
	is_int(config_load(path, "myrepo", &s, err, sizeof(err)), -EPERM,
	       "group-writable refused");
	ok(strstr(err, "chmod go-w") != NULL, "says how to fix it");
	unlink(path);
	is_int(config_load(path, "myrepo", &s, err, sizeof(err)), -ENOENT,
	       "missing file");
}

/* "dspacefs myrepo /mnt" takes the section; the command line wins. */
static void test_opts_section(void)
{
	char dir[] = "/tmp/dspacefs-xdg-XXXXXX", path[256];
	char *argv[] = {"dspacefs", "-o",   "cache_ttl=5",
			"myrepo",   "/mnt", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(5, argv);
	struct dspacefs_opts o;
	FILE *f;

	if (!mkdtemp(dir))
		return;
	snprintf(path, sizeof(path), "%s/dspacefs", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/dspacefs/config", dir);
	f = fopen(path, "w");
	fputs(sample, f);
	fclose(f);
	setenv("XDG_CONFIG_HOME", dir, 1);
	is_int(opts_parse(&args, &o), 0, "a section name parses");
	is_str(o.url, "https://repo.example.org/server",
	       "url from the section");
	is_str(o.user, "alice@example.org", "user from the section");
	is_int(o.cache_ttl, 5, "the command line wins");
	is_int(o.read_only, 1, "flag from the section");
	is_str(o.config_name, "myrepo", "section remembered");
	opts_release(&o);
	fuse_opt_free_args(&args);
	unlink(path);
	snprintf(path, sizeof(path), "%s/dspacefs", dir);
	rmdir(path);
	rmdir(dir);
}

/* "machine host" matches any port; "machine host:port" is no netrc form. */
static void test_netrc_ports(void)
{
	char path[] = "/tmp/dspacefs-netrc-XXXXXX";
	char *login, *pass;
	FILE *f;
	int fd = mkstemp(path);

	f = fdopen(fd, "w");
	fputs("machine repo.example.org:8080 login a password b\n"
	      "machine other.example.org login c password d\n",
	      f);
	fclose(f);
	is_int(opts_netrc_lookup(path, "repo.example.org", &login, &pass),
	       -EINVAL, "host:port line: not found, but said so");
	ok(!login && !pass, "nothing taken from a host:port line");
	is_int(opts_netrc_lookup(path, "other.example.org", &login, &pass), 0,
	       "plain host found (the URL's port plays no part)");
	is_str(login, "c", "its login");
	free(login);
	free(pass);
	is_int(opts_netrc_lookup(path, "repo.example", &login, &pass), -ENOENT,
	       "a prefix of the host is no match");
	unlink(path);
}

/* Level names and the daemon's sink. */
static void test_log(void)
{
	is_int(log_parse_level("error"), LL_ERROR, "error");
	is_int(log_parse_level("warn"), LL_WARN, "warn");
	is_int(log_parse_level("warning"), LL_WARN, "warning");
	is_int(log_parse_level("trace"), LL_TRACE, "trace");
	is_int(log_parse_level("loud"), -1, "unknown level");
	is_int(log_daemon_sink("/x.log", 1), LOG_SINK_FILE, "log_file wins");
	is_int(log_daemon_sink(NULL, 1), LOG_SINK_SYSLOG,
	       "syslog with /dev/log");
	is_int(log_daemon_sink(NULL, 0), LOG_SINK_FALLBACK,
	       "without /dev/log: the file in the cache directory");
}

int main(void)
{
	test_parse();
	test_load();
	test_opts_section();
	test_netrc_ports();
	test_log();
	return tap_done();
}
