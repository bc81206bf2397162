/* modes: see modes.h. */
#include <errno.h>
#include <string.h>

#include "core/modes.h"
#include "util/log.h"

/* Rights of the object uuid in l, or of the listed dir itself. */
static unsigned parent_rights(const struct dso_list *l, const char *uuid,
			      const char *dir_uuid, unsigned dir_rights)
{
	if (!strcmp(uuid, dir_uuid))
		return dir_rights;
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].uuid, uuid))
			return l->v[i].rights;
	return 0;
}

/* Bundles and bitstreams follow their parent (item or bundle). */
static void inherit(struct dso_list *l, const char *dir_uuid,
		    unsigned dir_rights)
{
	const unsigned all =
	    DSO_RIGHT_KNOWN | DSO_RIGHT_EDIT | DSO_RIGHT_DELETE | DSO_RIGHT_ADD;

	/* twice: a bitstream may come before its bundle */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < l->n; i++) {
			struct dso *d = &l->v[i];
			unsigned p;

			if (d->type != DSO_BUNDLE && d->type != DSO_BITSTREAM)
				continue;
			p = parent_rights(l, d->parent, dir_uuid, dir_rights);
			if (p & DSO_RIGHT_KNOWN)
				d->rights =
				    p & DSO_RIGHT_ADD ? all : DSO_RIGHT_KNOWN;
		}
	}
}

void modes_fetch(struct session *s, enum dso_type dir_type,
		 const char *dir_uuid, unsigned dir_rights, struct dso_list *l)
{
	int r = 0;

	if (!s || session_is_anonymous(s))
		return; /* no session: unit tests */
	switch (dir_type) {
	case DSO_NONE:
		r = dspace_authz(s, DSO_COMMUNITY, l->v, l->n);
		break;
	case DSO_COMMUNITY:
		/* one request: sub-communities stay unknown */
		r = dspace_authz(s, DSO_COLLECTION, l->v, l->n);
		break;
	case DSO_COLLECTION:
		r = dspace_authz(s, DSO_ITEM, l->v, l->n);
		break;
	default:
		break;
	}
	if (r == -ENOENT || r == -EINVAL || r == -EIO)
		log_debug("no authorization features (%s; DSpace before "
			  "7.6?): modes as before",
			  strerror(-r));
	else if (r < 0)
		log_warn("cannot ask the server what may be changed (%s); "
			 "modes stay as they were",
			 strerror(-r));
	inherit(l, dir_uuid, dir_rights);
}

int modes_read_only(enum dso_type type, unsigned rights)
{
	unsigned w;

	if (!(rights & DSO_RIGHT_KNOWN))
		return 0;
	switch (type) {
	case DSO_COMMUNITY:
		w = DSO_RIGHT_EDIT;
		break;
	case DSO_COLLECTION:
		/* mkdir makes an item with POST items: ADMIN only (contract
		 * §6); canSubmit alone does not let the mount add one */
		w = DSO_RIGHT_EDIT;
		break;
	case DSO_ITEM:
		w = DSO_RIGHT_ADD | DSO_RIGHT_EDIT;
		break;
	case DSO_BUNDLE:
	case DSO_BITSTREAM:
		w = DSO_RIGHT_ADD;
		break;
	default:
		return 0;
	}
	return !(rights & w);
}
