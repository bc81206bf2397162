/* edit: every change made through the mount — directories, files created,
 * written over, removed or renamed, times and sizes set — as plain calls:
 * the server request (rest.h), the cache update (tree.h), the upload journal
 * (upload.h) and what the kernel must forget (inval.h), with the naming
 * rules of the mount (only items and bundles are made, files live in
 * bundles, the status file is neither renamed nor removed).
 *
 * It also resolves inodes and names the way the mount shows them: the
 * status file (status.h), the virtual files of directories (virt.h), the
 * item directories' own files (itemfiles.h), then files being written, then
 * the tree.
 *
 * Inode ranges (disjoint; each module's test checks its whole range):
 *   [1, 2^55)          the tree (cache database rows), the status file
 *   [2^59, 2^60)       virt.h: VIRT_INO_FLAG | dir << 4 | k (DEPOSIT.txt)
 *   [2^60, 2^61)       views.h: .search, .handle, .uuid and their links
 *   bit 61             scratch.h: SC_INO_BIT | n (editors' scratch files)
 *   bit 62             metafile.h: MF_INO_BIT | item (metadata.json)
 *
 * Every function returns 0 or -errno (EROFS on a read-only mount, EPERM,
 * EEXIST, ENOTEMPTY, EXDEV, ... and what the server calls returned) and
 * knows nothing of FUSE. Thread safe as the modules below. */
#ifndef DSPACEFS_EDIT_H
#define DSPACEFS_EDIT_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/reader.h"
#include "core/status.h"
#include "core/tree.h"
#include "core/upload.h"

struct inval;
struct draft;
struct virt;

/* The modules a change goes through. All borrowed. */
struct edit {
	struct session *session; /* the server; NULL: nothing can be made */
	struct tree *tree;
	struct reader *reader;	 /* copies content into a spool */
	struct upload *upload;	 /* files being written; NULL when read-only */
	struct inval *inval;	 /* may be NULL */
	int writable;		 /* 0: every change fails with EROFS */
	struct metafiles *meta;	 /* metadata.json; NULL: none shown */
	struct scratch *scratch; /* editors' scratch files; may be NULL */
	struct draft *draft;	 /* the user's drafts (draft.h); NULL: none */
	struct virt *virt;	 /* virtual files of directories (virt.h) */
	int deposit_direct;	 /* mkdir in a collection: an archived item
				  * (-o deposit=direct), not a draft */
};

/* What edit_setattr changes. */
#define EDIT_SET_SIZE 1
#define EDIT_SET_MTIME 2

/* --- how the mount shows things --- */

/* What the status file (status.h) reports on, from e's modules. */
struct status_src edit_status_src(const struct edit *e);
/* The node of ino: the status file, a file being written or the tree's. */
int edit_getattr(const struct edit *e, uint64_t ino, struct tree_node *out);
/* The node called name in parent, looked up in the same order. */
int edit_lookup(const struct edit *e, uint64_t parent, const char *name,
		struct tree_node *out);
/* A counter of the changes a listing shows (the tree's adds, removes and
 * renames, and the files being written): a snapshot taken before it moved
 * must not hand the kernel the attributes of that time (a file since
 * overwritten would get its old size back). */
uint64_t edit_changes(const struct edit *e);
/* The children of dir as the mount lists them: the tree's, with the files
 * being written in it (one replaces a server entry of its name). *out:
 * caller frees with tree_nodes_release. */
int edit_list(const struct edit *e, uint64_t dir, struct tree_node **out,
	      size_t *n);
/* The path of name in dir as seen in the mount ("/a/b/name"); malloc'd,
 * NULL when out of memory. Used in log lines and the upload journal. */
char *edit_path(const struct edit *e, uint64_t dir, const char *name);

/* Opens virtual file ino (core/virt.h) with its directory's path; a
 * handle for writing needs a writable mount (-EROFS). */
struct virt_handle;
int edit_virt_open(const struct edit *e, uint64_t ino, int for_write,
		   struct virt_handle **h);

/* --- changes --- */

/* mkdir: a draft in a collection (draft.h; an archived item with
 * deposit_direct or without drafts), with an empty ORIGINAL bundle, or a
 * bundle in an item; out receives the new directory. */
int edit_mkdir(const struct edit *e, uint64_t parent, const char *name,
	       struct tree_node *out);
/* create: a new file name in bundle parent, to be written (*f: caller's
 * reference, uploaded when flushed; out: its node). When name exists,
 * -EEXIST if excl, else 0 with *f NULL and out its node (the caller opens
 * it as open(2) does). */
int edit_create(const struct edit *e, uint64_t parent, const char *name,
		int excl, struct upload_file **f, struct tree_node *out);
/* mknod: an empty regular file, uploaded at once; out receives its node. */
int edit_mknod(const struct edit *e, uint64_t parent, const char *name,
	       mode_t mode, struct tree_node *out);
/* unlink (dir 0) or rmdir (dir 1) of name in parent. */
int edit_remove(const struct edit *e, uint64_t parent, const char *name,
		int dir);
/* rename(2); flags 0 or RENAME_NOREPLACE. */
int edit_rename(const struct edit *e, uint64_t parent, const char *name,
		uint64_t newparent, const char *newname, unsigned flags);
/* Whether bitstream n (looked up before an open) is still what ino holds:
 * not being written, and the tree's content the same. Every change of
 * content is stored before the kernel's generation of ino moves
 * (inval_content), so an open that checks this after taking its
 * generation never holds the old content under the new generation. */
int edit_same_content(const struct edit *e, const struct tree_node *n);
/* Opens ino for writing when it is a file being written: *f shares its
 * spool (truncated when trunc). 0 with *f NULL when it is not one. */
int edit_open_pending(const struct edit *e, uint64_t ino, int trunc,
		      struct upload_file **f);
/* Starts writing over bitstream n: a spool replacing it under its inode,
 * filled with its first limit bytes (all when < 0) unless trunc.
 * *f: caller's reference. */
int edit_overwrite(const struct edit *e, const struct tree_node *n, int trunc,
		   int64_t limit, struct upload_file **f);
/* setattr: what (EDIT_SET_*) of ino: a size truncates a file being written
 * (open is the handle's file, or NULL) or overwrites an uploaded one; a
 * time is kept locally. chmod/chown need nothing. */
int edit_setattr(const struct edit *e, uint64_t ino, struct upload_file *open,
		 int what, off_t size, const struct timespec *mtime);
/* setxattr/removexattr: user.FIELD (a metadata field) of an item or a
 * bitstream is replaced (value non-NULL) or removed on the server; other
 * attributes come from the server and are never set (ENOTSUP). */
int edit_xattr_change(const struct edit *e);
int edit_xattr_set(const struct edit *e, uint64_t ino, const char *name,
		   const char *value, size_t size);

#endif
