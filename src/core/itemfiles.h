/* itemfiles: the files of an item directory that are not the server's
 * objects — the virtual metadata.json (metafile.h) and editors' scratch
 * files (scratch.h) — routed for edit.c: each call returns ITEMFILE_PASS
 * when the name or inode is none of them (edit.c goes on), else 0 or
 * -errno. Renaming a scratch file over metadata.json saves it; renaming
 * metadata.json to a scratch name leaves a copy there (vim's backup). */
#ifndef DSPACEFS_ITEMFILES_H
#define DSPACEFS_ITEMFILES_H

#include <stddef.h>
#include <stdint.h>

#include "core/tree.h"

struct edit;

#define ITEMFILE_PASS 1

int itemfile_getattr(const struct edit *e, uint64_t ino, struct tree_node *out);
int itemfile_lookup(const struct edit *e, uint64_t parent, const char *name,
		    struct tree_node *out);
/* Appends an item's scratch files to its listing (metadata.json is not
 * listed, only found by name). 0 or -errno. */
int itemfile_list(const struct edit *e, uint64_t dir, struct tree_node **v,
		  size_t *n);
int itemfile_create(const struct edit *e, uint64_t parent, const char *name,
		    int excl, struct tree_node *out);
int itemfile_remove(const struct edit *e, uint64_t parent, const char *name);
int itemfile_rename(const struct edit *e, uint64_t parent, const char *name,
		    uint64_t newparent, const char *newname);
/* setfattr (value non-NULL) / setfattr -x of user.FIELD on ino. */
int itemfile_xattr(const struct edit *e, uint64_t ino, const char *name,
		   const char *value, size_t size);

#endif
