/* fs: translates FUSE low-level calls into calls of the core — tree
 * (metadata), reader (content), edit (changes), status (the status file)
 * — and their results into replies. The only module that knows FUSE; it
 * keeps no state of its own beyond the handles it gives the kernel. */
#ifndef DSPACEFS_FS_H
#define DSPACEFS_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <sys/types.h>

#include "core/reader.h"
#include "core/tree.h"
#include "core/upload.h"
#include "core/views.h"

struct inval;
struct draft;
struct virt;
struct session;
struct fs_refusals;

struct fs_config {
	struct session *session; /* the server, for changes (core/edit.h) */
	struct tree *tree;
	struct reader *reader;
	struct views *views;	 /* .search, .handle, .uuid */
	struct upload *upload;	 /* files being written; NULL when read-only */
	int read_only;		 /* every change fails with EROFS */
	int anonymous;		 /* shown with read-only modes */
	double entry_ttl;	 /* kernel dentry/attribute cache, seconds */
	int direct_io;		 /* open files with direct_io */
	const char *mountpoint;	 /* absolute; finds the mount's read-ahead */
	time_t mount_time;	 /* times for objects that have none */
	struct inval *inval;	 /* what the kernel caches; may be NULL */
	uid_t owner;		 /* the mounting user: the only one who may
				  * change anything (or read, see below) */
	int others_read;	 /* -o others=read: other users (allow_other)
				  * may browse and read, never change */
	int private_modes;	 /* allow_other without others=read: show
				  * no group/other permission bits */
	struct metafiles *meta;	 /* metadata.json (core/metafile.h) */
	struct scratch *scratch; /* editors' scratch files (core/scratch.h) */
	struct draft *draft;	 /* the user's drafts; NULL: none */
	struct virt *virt;	 /* virtual files of directories */
	int deposit_direct;	 /* -o deposit=direct */
	/* fs.c's own, made by fs_attach: the rate of refusal log lines */
	struct fs_refusals *refusals;
	struct fs_open *open; /* the handles the kernel holds */
};

/* The operation table; userdata for fuse_session_new must be a
 * struct fs_config that outlives the session. */
const struct fuse_lowlevel_ops *fs_operations(void);

/* Sets up fs's own state and starts telling the kernel (through se) what
 * to forget when content, entries or listings change (inval.h). 0 or
 * -errno. */
int fs_attach(struct fs_config *c, struct fuse_session *se);
/* Stops that before the session goes away and frees fs's state (also
 * when fs_attach was never called). */
void fs_detach(struct fs_config *c);

#endif
