/* config: the per-repository sections of the configuration file,
 * $XDG_CONFIG_HOME/dspacefs/config (else ~/.config/dspacefs/config):
 *
 *	[myrepo]
 *	url = https://repository.example.org/server
 *	user = alice@example.org
 *	password_file = ~/.config/dspacefs/myrepo.password
 *	cache_ttl = 120
 *	ro
 *
 * so that "dspacefs myrepo ~/DSpace" mounts it. Every key but url is a -o
 * option (a flag as "key" or "key = yes"; "key = no" leaves it out). No
 * secret may be written there: a "password" key is refused. */
#ifndef DSPACEFS_CONFIG_H
#define DSPACEFS_CONFIG_H

#include <stddef.h>

struct config_section {
	char *url;   /* the url key (NULL if absent) */
	char **opts; /* -o arguments ("key=value" or "key"), escaped for
		      * fuse_opt (',' and '\' behind '\') */
	size_t n_opts;
};

/* The configuration file's path (caller frees); NULL if no home is known. */
char *config_default_path(void);

/* The user's home: $HOME when it is a directory of ours, else the
 * password database's entry (mount(8) keeps the caller's environment, and
 * sudo -u may too). Never NULL. */
const char *config_home(void);

/* Parses the text of a configuration file and fills out with section name.
 * 0 found; -ENOENT no such section; -EINVAL with the line named in err. */
int config_parse(const char *text, const char *name, struct config_section *out,
		 char *err, size_t errlen);

/* Reads path (refused unless owned by us and writable by us alone) and
 * parses section name. 0; -ENOENT (file or section missing, err says
 * which); another -errno with err set. */
int config_load(const char *path, const char *name, struct config_section *out,
		char *err, size_t errlen);

void config_section_release(struct config_section *s);

#endif
