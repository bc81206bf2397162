/* config: the INI-style configuration file (see config.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "mount/config.h"

/* The user's home directory (see config.h). */
const char *config_home(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;
	struct stat st;

	/* A HOME that is not ours is the caller's (sudo -u, mount(8) run by
	 * a user for another): take the password database's. */
	if (home && *home == '/' && stat(home, &st) == 0 &&
	    st.st_uid == geteuid())
		return home;
	pw = getpwuid(getuid());
	return pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/";
}

/* $XDG_CONFIG_HOME/dspacefs/config, else ~/.config/dspacefs/config. */
char *config_default_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	struct buf b = BUF_INIT;
	int rc;

	if (xdg && *xdg == '/')
		rc = buf_addf(&b, "%s/dspacefs/config", xdg);
	else
		rc = buf_addf(&b, "%s/.config/dspacefs/config", config_home());
	if (rc) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

/* Frees what config_parse filled in. */
void config_section_release(struct config_section *s)
{
	size_t i;

	free(s->url);
	for (i = 0; i < s->n_opts; i++)
		free(s->opts[i]);
	free(s->opts);
	memset(s, 0, sizeof(*s));
}

/* Strips leading and trailing blanks in place. */
static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* 1 yes/true/on, 0 no/false/off, -1 anything else. */
static int boolean(const char *v)
{
	if (!*v || !strcasecmp(v, "yes") || !strcasecmp(v, "true") ||
	    !strcasecmp(v, "on"))
		return 1;
	if (!strcasecmp(v, "no") || !strcasecmp(v, "false") ||
	    !strcasecmp(v, "off"))
		return 0;
	return -1;
}

/* Appends one -o argument "key=value" (or "key" for a flag) to out, with
 * "~/" expanded and fuse_opt's separators escaped. */
static int add_opt(struct config_section *out, const char *key, const char *val)
{
	struct buf b = BUF_INIT;
	char **grown = NULL, *s;
	int rc = buf_adds(&b, key), flag = boolean(val);

	if (flag == 0)
		goto out;
	if (!rc && flag < 0) {
		rc = buf_adds(&b, "=");
		if (!rc && strncmp(val, "~/", 2) == 0) {
			rc = buf_adds(&b, config_home());
			val++;
		}
		for (; *val && !rc; val++)
			rc = (*val == ',' || *val == '\\' ? buf_adds(&b, "\\")
							  : 0) ||
			     buf_add(&b, val, 1);
	}
	s = rc ? NULL : buf_detach(&b, NULL);
	if (s)
		grown = realloc(out->opts, (out->n_opts + 1) * sizeof(char *));
	if (!grown) {
		free(s);
		rc = -ENOMEM;
		goto out;
	}
	out->opts = grown;
	out->opts[out->n_opts++] = s;
out:
	buf_release(&b);
	return rc ? -ENOMEM : 0;
}

/* Handles "key = value" (or "key") of the wanted section. */
static int section_line(struct config_section *out, char *line, int lineno,
			char *err, size_t errlen)
{
	char *eq = strchr(line, '='), *key = line, *val = "";

	if (eq) {
		*eq = '\0';
		val = trim(eq + 1);
	}
	key = trim(key);
	if (!*key || strpbrk(key, " \t,")) {
		snprintf(err, errlen, "line %d: expected \"key = value\"",
			 lineno);
		return -EINVAL;
	}
	if (!strcmp(key, "password")) {
		snprintf(err, errlen,
			 "line %d: a password does not belong in the "
			 "configuration file; put it in a file of its own "
			 "(chmod 600) and name it with password_file =",
			 lineno);
		return -EINVAL;
	}
	if (strcmp(key, "url") == 0) {
		free(out->url);
		out->url = strdup(val);
		return out->url ? 0 : -ENOMEM;
	}
	return add_opt(out, key, val);
}

/* Parses the configuration text (see config.h). */
int config_parse(const char *text, const char *name, struct config_section *out,
		 char *err, size_t errlen)
{
	char *copy = strdup(text), *line, *save = NULL;
	int lineno = 0, in = 0, found = 0, rc = 0;

	memset(out, 0, sizeof(*out));
	if (!copy)
		return -ENOMEM;
	for (line = strtok_r(copy, "\n", &save); line && !rc;
	     line = strtok_r(NULL, "\n", &save)) {
		char *s = trim(line), *end;

		lineno++;
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			end = strchr(s, ']');
			if (!end || *trim(end + 1)) {
				snprintf(err, errlen,
					 "line %d: a section is \"[name]\"",
					 lineno);
				rc = -EINVAL;
				break;
			}
			*end = '\0';
			in = strcmp(trim(s + 1), name) == 0;
			found |= in;
		} else if (in) {
			rc = section_line(out, s, lineno, err, errlen);
		}
	}
	free(copy);
	if (!rc && !found) {
		snprintf(err, errlen, "no section [%s]", name);
		rc = -ENOENT;
	}
	if (rc)
		config_section_release(out);
	return rc;
}

/* Reads the file (refusing one that others may change) and parses it. */
int config_load(const char *path, const char *name, struct config_section *out,
		char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	char chunk[4096], msg[256] = "";
	struct stat st;
	ssize_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	memset(out, 0, sizeof(*out));
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot read %s: %s", path,
			 strerror(errno));
		goto out;
	}
	if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errlen,
			 "refusing %s: it must be yours and writable by you "
			 "alone (mode %03o; run: chmod go-w %s)",
			 path, (unsigned)(st.st_mode & 0777), path);
		rc = -EPERM;
		goto out;
	}
	buf_init(&b, 1 << 20);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 && !rc)
		rc = buf_add(&b, chunk, (size_t)n);
	if (n < 0 || rc || buf_adds(&b, "")) {
		rc = n < 0 ? -errno : -ENOMEM;
		snprintf(err, errlen, "cannot read %s: %s", path,
			 strerror(-rc));
		goto out;
	}
	rc = config_parse(b.data ? b.data : "", name, out, msg, sizeof(msg));
	if (rc)
		snprintf(err, errlen, "%s: %s", path, msg);
out:
	if (fd >= 0)
		close(fd);
	buf_release(&b);
	return rc;
}
