/* virt: virtual files of directories — files that are not stored on the
 * server but made, at each open, from what it says (DEPOSIT.txt in a
 * draft; usable for metadata.json in item directories). A provider says
 * which directories have its file, makes the snapshot an open serves
 * (direct_io, st_size the bytes served), takes the writes (acting on
 * complete lines inside write(), so that a shell sees the error) and is
 * told of the close.
 *
 * Inodes: VIRT_INO_FLAG | dir << 4 | k, k the provider's index (dir below
 * VIRT_DIR_LIMIT): [2^59, 2^60), stable, never stored, never a tree inode
 * (the inode ranges are listed in core/edit.h). Unlinking one succeeds and
 * changes nothing (they are not stored). Thread safe once set up. */
#ifndef DSPACEFS_VIRT_H
#define DSPACEFS_VIRT_H

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include "core/tree.h"
#include "util/buf.h"

#define VIRT_INO_FLAG (UINT64_C(1) << 59)
#define VIRT_DIR_LIMIT (UINT64_C(1) << 55) /* dirs that can have one */
#define VIRT_MAX 8

/* One virtual file. dir: the directory's node; path: its mount path. All
 * return 0 or -errno. */
struct virt_file {
	const char *name;
	/* whether dir has this file (1/0) */
	int (*has)(void *ctx, const struct tree_node *dir);
	/* the text an open serves */
	int (*snapshot)(void *ctx, const struct tree_node *dir,
			const char *path, struct buf *text);
	/* data written at off (whole lines when the caller buffers) */
	int (*write)(void *ctx, const struct tree_node *dir, const char *path,
		     const char *data, size_t len);
	/* the handle was closed (may be NULL) */
	int (*release)(void *ctx, const struct tree_node *dir,
		       const char *path);
	void *ctx;
};

struct virt {
	struct tree *tree;
	struct virt_file files[VIRT_MAX];
	size_t n;
	/* the size of the last snapshot of a few inodes (st_size = the
	 * bytes an open serves); set up with virt_init */
	pthread_mutex_t lock;
	uint64_t seen_ino[32];
	int64_t seen_size[32];
};

/* Sets up v for the tree t (no providers yet). */
void virt_init(struct virt *v, struct tree *t);

/* Adds a provider (before the mount starts). -ENOSPC when full. */
int virt_register(struct virt *v, const struct virt_file *f);
/* Whether ino is a virtual file's. */
int virt_is(uint64_t ino);
/* The node of virtual file ino (type DSO_NONE, a regular file; size: that
 * of the last snapshot an open took, 0 before). */
int virt_getattr(struct virt *v, uint64_t ino, struct tree_node *out);
/* The virtual file name of dir, or -ENOENT. */
int virt_lookup(struct virt *v, uint64_t dir, const char *name,
		struct tree_node *out);
/* Appends dir's virtual files to *nodes (*n entries, realloc'd). */
int virt_list(struct virt *v, uint64_t dir, struct tree_node **nodes,
	      size_t *n);
/* The provider and directory of ino (dir: caller releases). */
int virt_resolve(struct virt *v, uint64_t ino, const struct virt_file **f,
		 struct tree_node *dir);

/* --- open handles --- */
struct virt_handle;

/* Opens virtual file ino: the snapshot is taken now (path: the mount path
 * of its directory). *h: caller's, virt_close. */
int virt_open(struct virt *v, uint64_t ino, const char *path,
	      struct virt_handle **h);
/* The snapshot served by h. */
const struct buf *virt_text(const struct virt_handle *h);
/* Takes written bytes; the provider acts on each complete line now. The
 * bytes are taken (len) or -errno. */
int virt_write(struct virt_handle *h, const char *data, size_t len);
/* Hands the rest (an unterminated last line) over and frees h. 0 or the
 * provider's -errno. */
int virt_close(struct virt_handle **h);
/* Frees h without acting on an unterminated last line (the mount went
 * away while it was open); the provider is still told of the close. */
void virt_discard(struct virt_handle **h);

#endif
