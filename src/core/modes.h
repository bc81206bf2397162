/* modes: which entries the user may change, decided from DSpace's
 * authorization features (dspace_authz) and stored with the listing, so
 * that the mount shows read-only what the server would refuse.
 *
 * One authz request per directory listing (all its entries at once; none
 * for anonymous sessions). Bundles and bitstreams are not asked about:
 * they follow their item (writable iff the item's
 * canManageBitstreamBundles). The mapping, per entry type:
 *   community  writable iff canEditMetadata (top-level ones only:
 *              in a community's listing only collections are asked)
 *   collection writable iff canEditMetadata: a new item is made with
 *              POST items, which DSpace allows administrators only
 *              (canSubmit is asked and stored, for deposits)
 *   item       writable iff canManageBitstreamBundles or canEditMetadata
 *   bundle, bitstream: writable iff their item's canManageBitstreamBundles
 * Unknown rights (not asked yet, or the request failed) keep the old
 * behaviour: writable on a logged-in read-write mount. */
#ifndef DSPACEFS_MODES_H
#define DSPACEFS_MODES_H

#include "dspace/dspace.h"

/* Asks the server about the entries of a listing of dir (type, uuid,
 * rights as stored) and sets their rights in l; a failure leaves them
 * unknown (logged). */
void modes_fetch(struct session *s, enum dso_type dir_type,
		 const char *dir_uuid, unsigned dir_rights, struct dso_list *l);

/* 1 when an object of type with these rights must be shown read-only. */
int modes_read_only(enum dso_type type, unsigned rights);

#endif
