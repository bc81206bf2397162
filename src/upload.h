/* upload: files written through the mount. Each is written to a private
 * spool file (cache_dir/spool, 0700; files 0600), journalled in the cache
 * database from creation on, and uploaded as one multipart POST streamed
 * from the spool when it is flushed. The server's checkSum must equal the
 * MD5 computed here. Transient failures are retried a few times with
 * backoff, after checking that an earlier attempt did not land after all
 * (the POST is not idempotent). A failed upload keeps its spool file and
 * journal row: it is listed by upload_status_text and can be retried or
 * forgotten (upload_command); nothing is dropped silently.
 *
 * While a file is being written it is visible through upload_find* with
 * its current size; after the upload its inode is re-keyed to the new
 * bitstream (tree_add), so its number never changes. Thread safe. */
#ifndef DSPACEFS_UPLOAD_H
#define DSPACEFS_UPLOAD_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "session.h"
#include "tree.h"

struct upload;
struct upload_file;

/* A snapshot of a file being written (name malloc'd: upload_info_release). */
struct upload_info {
	uint64_t ino;
	uint64_t bundle_ino;
	char *name;
	int64_t size;
	int64_t mtime, mtime_ns; /* 0 when never set */
};

/* Opens the spool directory and reads the journal: rows an earlier run
 * left behind are marked interrupted and logged (never retried
 * automatically). NULL on failure with a reason in err. */
struct upload *upload_new(struct session *s, struct tree *t,
			  const char *cache_dir, char *err, size_t errlen);
/* No file may be open. */
void upload_free(struct upload **u);

/* Starts a file called name in a bundle. ino 0 allocates a new inode;
 * otherwise the file replaces the bitstream replaces_uuid, whose inode ino
 * it keeps. The file starts empty and dirty. *out holds one reference. */
int upload_create(struct upload *u, uint64_t bundle_ino,
		  const char *bundle_uuid, const char *name,
		  const char *mount_path, uint64_t ino,
		  const char *replaces_uuid, struct upload_file **out);

/* The open file with inode ino / called name in bundle_ino that is not on
 * the server yet (a new reference), or NULL. */
struct upload_file *upload_find(struct upload *u, uint64_t ino);
struct upload_file *upload_find_name(struct upload *u, uint64_t bundle_ino,
				     const char *name);
/* Also files already uploaded but still open (for writing more). */
struct upload_file *upload_find_open(struct upload *u, uint64_t ino);
/* The files being written in a bundle (*v: upload_infos_release). */
int upload_list_dir(struct upload *u, uint64_t bundle_ino,
		    struct upload_info **v, size_t *n);

void upload_ref(struct upload_file *f);
/* Drops a reference; the last one of a file uploads it if still dirty
 * (errors logged) and removes it from view. */
void upload_unref(struct upload_file **f);

int upload_info(struct upload_file *f, struct upload_info *out);
void upload_info_release(struct upload_info *i);
void upload_infos_release(struct upload_info *v, size_t n);

/* I/O on the spool. Return bytes or -errno (ENOSPC keeps what was
 * written). */
ssize_t upload_write(struct upload_file *f, const char *buf, size_t size,
		     off_t off);
ssize_t upload_read(struct upload_file *f, char *buf, size_t size, off_t off);
int upload_truncate(struct upload_file *f, int64_t size);
/* Lets the upload of a new (empty) file start at its first write at
 * offset 0 and stream while it is written, so that flush mostly waits for
 * the server's answer. Any write out of order, truncation, rename, a
 * writer pausing too long or a failed POST gives the stream up; the file
 * is then uploaded from the spool at flush as usual. */
void upload_stream_allow(struct upload_file *f);
/* Marks the file dirty (its spool was filled by the caller). */
void upload_set_dirty(struct upload_file *f, int dirty);
/* Times to keep for the uploaded file. */
void upload_set_times(struct upload_file *f, int64_t mtime, int64_t ns);
/* Renames (or moves to another bundle) a file not yet uploaded; replaces
 * (a bitstream uuid, or NULL) is deleted once the upload succeeds. */
int upload_rename(struct upload_file *f, uint64_t bundle_ino,
		  const char *bundle_uuid, const char *name,
		  const char *mount_path, const char *replaces_uuid);
/* Whether the file still has content the server has not got. */
int upload_pending(struct upload_file *f);
/* Uploads the file now when dirty; 0 or -errno (EIO, EACCES, ENOSPC,
 * EFBIG, ...). On failure the data stays in the spool, journalled. */
int upload_commit(struct upload_file *f);
/* Drops the file (unlinked before upload): no upload, spool removed. */
void upload_discard(struct upload_file *f);

/* The pending uploads, one line each:
 * id TAB state TAB path TAB size TAB spool TAB last error. */
int upload_status_text(struct upload *u, struct buf *out);
/* "retry", "retry ID" or "forget ID". 0 or -errno (EINVAL for an unknown
 * command, ENOENT for an unknown id, the upload's error). */
int upload_command(struct upload *u, const char *line);

/* --- exposed for unit tests and fuzzing (pure functions) --- */

enum upload_verb { UPLOAD_CMD_NONE, UPLOAD_CMD_RETRY, UPLOAD_CMD_FORGET };

/* Parses one status-file command line: "retry", "retry ID" or "forget ID",
 * ID a decimal number; blanks around the words are allowed. Sets *verb
 * (UPLOAD_CMD_NONE for an empty line) and *id (-1 when none is given).
 * 0, or -EINVAL for anything else (an unknown word, a missing or malformed
 * ID, a number too large, extra words). */
int upload_parse_command(const char *line, enum upload_verb *verb, int64_t *id);

#endif
