/* scratch: editors' scratch files in item directories (vim's 4913 probe,
 * swap and backup files, GIO's .goutputstream-*, sed -i's sedXXXXXX,
 * *.tmp, ...), so that each editor saves metadata.json its own way. They
 * are plain files in a private directory of the cache, never uploaded,
 * never shown on other mounts, removed at unmount. Inodes carry
 * SC_INO_BIT. Thread safe. */
#ifndef DSPACEFS_SCRATCH_H
#define DSPACEFS_SCRATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/buf.h"
#include "core/tree.h"

#define SC_INO_BIT (UINT64_C(1) << 61)

struct scratch;

/* NULL on failure (logged). */
struct scratch *scratch_new(const char *cache_dir);
/* Removes every scratch file. */
void scratch_free(struct scratch **sc);

/* Whether name is an editor's scratch name. */
int scratch_name(const char *name);
int scratch_is(uint64_t ino);

/* Creates (or truncates) scratch file name in dir. */
int scratch_create(struct scratch *sc, uint64_t dir, const char *name,
		   struct tree_node *out);
int scratch_lookup(struct scratch *sc, uint64_t dir, const char *name,
		   struct tree_node *out);
int scratch_getattr(struct scratch *sc, uint64_t ino, struct tree_node *out);
/* An fd on it (caller closes); O_TRUNC in flags truncates. */
int scratch_open(struct scratch *sc, uint64_t ino, int flags);
int scratch_truncate(struct scratch *sc, uint64_t ino, off_t size);
int scratch_remove(struct scratch *sc, uint64_t dir, const char *name);
/* Renames a scratch file (replacing one of newname). */
int scratch_rename(struct scratch *sc, uint64_t dir, const char *name,
		   uint64_t newdir, const char *newname);
/* Its whole content into out. */
int scratch_read_all(struct scratch *sc, uint64_t dir, const char *name,
		     struct buf *out);
/* Creates name in dir holding data (a backup of a virtual file). */
int scratch_put(struct scratch *sc, uint64_t dir, const char *name,
		const char *data, size_t len);
/* Appends the scratch files of dir to v (*n entries). */
int scratch_list(struct scratch *sc, uint64_t dir, struct tree_node **v,
		 size_t *n);

#endif
