/* metadata: the rules of metadata.json as pure functions — which fields
 * are the system's, and the three-way merge of a save: what this open
 * read (base), what was saved, and what the server holds now. No I/O. */
#ifndef DSPACEFS_METADATA_H
#define DSPACEFS_METADATA_H

#include <stddef.h>

#include "dspace/dspace.h"

/* The name of the virtual file in every item directory. */
#define MD_FILE_NAME "metadata.json"

/* Whether a field is the system's (shown, never changed): the handle,
 * accession dates, provenance and relation.* (virtual relationships). */
int md_system_field(const char *name);
/* The field called name in m, or NULL. */
const struct md_field *md_find(const struct md_set *m, const char *name);
/* Whether two fields hold the same values (NULL: no values). */
int md_field_equal(const struct md_field *a, const struct md_field *b);

/* Optional extra read-only rule (e.g. in drafts: fields the form does
 * not offer). Returns non-zero for a read-only field. */
typedef int (*md_ro_fn)(const char *name, void *ctx);

/* The change a save makes, all or nothing: for each field whose saved
 * values differ from base (a field absent from saved is removed, unless
 * read-only: then ignored), the saved values go into changes — unless
 * the server holds them already (a repeated save). 0 with changes (maybe
 * empty); -EACCES when a read-only field was changed; -EBUSY when the
 * server changed a changed field since base was read (nothing is
 * changed then: changes stays empty). The first refused field is named
 * in why. -ENOMEM. */
int md_merge(const struct md_set *base, const struct md_set *saved,
	     const struct md_set *server, md_ro_fn ro, void *ro_ctx,
	     struct md_set *changes, char *why, size_t whylen);

/* A copy of set m with only field f's values replaced by v (n values;
 * n 0 removes it), for setfattr. -ENOMEM. */
int md_with_field(const struct md_set *m, const char *f,
		  const struct md_value *v, size_t n, struct md_set *out);

#endif
