/* metafile: the virtual file metadata.json of every item directory
 * (core/metadata.h holds its rules). Each open serves one snapshot of
 * the item's metadata read from the server; a save — at close or fsync
 * of a handle that wrote, or when an editor's scratch file is renamed
 * over it — is merged three-way against the last snapshot served for
 * that item and sent in one PATCH. Its inode is the item's with
 * MF_INO_BIT set. Its mtime changes only when the text does. Thread
 * safe. */
#ifndef DSPACEFS_METAFILE_H
#define DSPACEFS_METAFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/buf.h"
#include "core/tree.h"

#define MF_INO_BIT (UINT64_C(1) << 62)

struct metafiles;
struct metafile;

/* ttl: seconds a snapshot answers stat without asking the server (opens
 * always ask); 0 → 60. */
struct metafiles *metafiles_new(struct session *s, struct tree *t, int ttl);
void metafiles_free(struct metafiles **m);

/* Whether ino is a metadata.json inode. */
int metafile_is(uint64_t ino);
/* The node of the metadata.json of item_ino (type DSO_NONE, size of its
 * text); -ENOENT when item_ino is not an item. */
int metafile_node(struct metafiles *m, uint64_t item_ino,
		  struct tree_node *out);
/* Opens metadata.json (its inode): a snapshot; trunc starts an empty
 * save. The base of its save is what it read, or for a write_only open
 * what the last reading open of that item read. */
int metafile_open(struct metafiles *m, uint64_t ino, int trunc, int write_only,
		  struct metafile **h);
ssize_t metafile_read(struct metafile *h, char *buf, size_t size, off_t off);
ssize_t metafile_write(struct metafile *h, const char *buf, size_t size,
		       off_t off);
int metafile_truncate(struct metafile *h, off_t size);
/* Applies what h wrote (once): 0, -EINVAL (not a non-empty JSON object),
 * -EACCES (a read-only field changed, or refused by the server), -EBUSY
 * (changed on the server meanwhile), or the server's error. */
int metafile_commit(struct metafiles *m, struct metafile *h);
void metafile_close(struct metafile **h);
/* A save of text as item_ino's metadata.json (a scratch file renamed
 * over it); errors as metafile_commit. */
int metafile_save(struct metafiles *m, uint64_t item_ino, const char *text,
		  size_t len);
/* The text served now for item_ino (a backup copy); caller releases. */
int metafile_text(struct metafiles *m, uint64_t item_ino, struct buf *out);
/* setfattr user.FIELD on an object (item or bitstream): replaces (value
 * non-NULL) or removes the field, through the same rules. */
int metafile_set_field(struct metafiles *m, uint64_t ino, const char *field,
		       const char *value, size_t len);

#endif
