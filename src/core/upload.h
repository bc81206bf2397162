/* upload: files written through the mount. Each is written to a private
 * spool file (cache_dir/spool/upload-ID, 0700; files 0600), journalled in
 * the cache database from creation on (the spool file first, then its row
 * in one statement: a failure leaves nothing or a row whose data exists),
 * and uploaded as one multipart POST streamed from the spool when it is
 * flushed. The server's checkSum must equal the MD5 computed here.
 * Transient failures are retried a few times with backoff, after checking
 * that an earlier attempt did not land after all (the POST is not
 * idempotent). A failed upload keeps its spool file and journal row: it is
 * listed by upload_status_text and can be retried, cancelled or forgotten
 * (upload_command); nothing is dropped silently.
 *
 * The states (design.md), journalled and shown as they are:
 *   writing    open for writing, the spool filling
 *   uploading  closed, the POST under way (or cut short by a crash)
 *   (done)     the row is removed, the inode keyed to the new bitstream
 *   failed     refused, or the checksum differed; data kept; "retry"
 *   incomplete never closed (a crash), a write failed (e.g. ENOSPC), or
 *              the writer died on a signal; data kept; never sent by a
 *              plain "retry", only when named ("retry ID")
 *   cancelled  "cancel ID": nothing of it left on the server; data kept
 *              until "forget ID"
 * At start-up "writing" rows become incomplete and "uploading" rows are
 * checked against the server in the background (same name + MD5 in the
 * bundle = done; absent = failed). Every retry checks that way first.
 * A file whose write failed is never uploaded at flush: flush and release
 * fail with that errno, a streamed POST is aborted.
 *
 * While a file is being written it is visible through upload_find* with
 * its current size; after the upload its inode is re-keyed to the new
 * bitstream (tree_add), so its number never changes. Thread safe. */
#ifndef DSPACEFS_UPLOAD_H
#define DSPACEFS_UPLOAD_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/buf.h"
#include "dspace/dspace.h"
#include "core/tree.h"

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

/* Opens the spool directory and reads the journal, a table of the cache
 * database c (borrowed, closed after upload_free): rows an earlier run
 * left behind are settled as above and logged (never sent again
 * automatically); rows whose spool file is gone are dropped. NULL on
 * failure with a reason in err. */
struct upload *upload_new(struct session *s, struct tree *t, struct cache *c,
			  const char *cache_dir, char *err, size_t errlen);
/* No file may be open. */
void upload_free(struct upload **u);
/* Uploads into a bundle for which draft_of(ctx, bundle_uuid) gives a
 * workspace item id (> 0) go through the submission route
 * (dspace_draft_upload) instead; spool, journal and states unchanged. */
void upload_set_draft_target(struct upload *u,
			     int64_t (*draft_of)(void *, const char *),
			     void *ctx);

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
/* A counter of the changes to files being written (created, written,
 * truncated, renamed, discarded), counted once made: with tree_changes it
 * tells whether a directory snapshot is older than what it lists. */
uint64_t upload_changes(struct upload *u);
/* Waits (bounded) until the start-up check has settled the rows an
 * earlier run left uploading into bundle_ino, so that a change to a name
 * there sees what arrived: 0 (nothing to wait for), 1 (waited: look the
 * names up again), -EAGAIN (the check took too long; change refused). */
int upload_settle(struct upload *u, uint64_t bundle_ino);
/* How often the spool was cut shorter (an O_TRUNC open, a truncate):
 * a reader sharing the spool of a file being written compares it with
 * the count at its open, so that it never reads the next version's bytes
 * after the head of the one it opened (it gets ESTALE instead). */
unsigned upload_cuts(struct upload_file *f);
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
/* A handle that may write f was opened. Its release must call
 * upload_writer_close. */
void upload_writer_open(struct upload_file *f);
/* Whether any write() reached f since it was created or opened. */
int upload_written(struct upload_file *f);
/* close() of a handle on f (writer: it was opened for writing): only a
 * writer uploads, and only when no other writer has f open (the last
 * writer's close publishes the file; a reader's never does). A new file
 * under a temporary name (rsync's ".NAME.XXXXXX") is not uploaded then:
 * journalled as closed ("uploading"), it waits up to 2 s for its rename
 * (upload_rename uploads it under the final name and fails when the
 * upload does, renaming nothing), else it is uploaded under the name it
 * has. */
int upload_flush(struct upload_file *f, int writer);
/* The release of a writer's handle: the last one commits what no flush
 * did (a failure is logged and journalled). */
void upload_writer_close(struct upload_file *f);
/* Uploads now the files closed under a temporary name that still wait
 * for their rename (see upload_flush); at unmount, before the pending
 * uploads are reported. */
void upload_drain(struct upload *u);
/* Drops the file (unlinked before upload): no upload, spool removed. */
void upload_discard(struct upload_file *f);
/* The writer gave up (killed by a signal, or interrupted in close): f is
 * kept as incomplete (why, in the status file) and not published; a
 * stream under way is aborted and a copy it made removed. A commit under
 * way returns -EINTR unless the file had already arrived. Callable from
 * any thread, also while upload_commit runs. */
void upload_abandon(struct upload_file *f, const char *why);

/* The journalled uploads, one line each (tabs and line breaks in a field
 * become spaces): id TAB "upload" TAB state TAB path TAB size TAB bytes
 * sent (by a streamed POST under way; else 0) TAB detail (last error) TAB
 * rate (bytes per second sent by that POST since it started; else 0).
 * spool (may be NULL) receives the bytes the rows hold in the spool. */
int upload_status_text(struct upload *u, struct buf *out, int64_t *spool);

enum upload_cmd {
	UPLOAD_CMD_RETRY,   /* "retry" (failed, uploading) or "retry ID" */
	UPLOAD_CMD_FORGET,  /* "forget ID": row and data dropped */
	UPLOAD_CMD_CANCEL,  /* "cancel ID" */
	UPLOAD_CMD_REFRESH, /* "refresh": status.c runs it (a no-op here) */
};
/* Parses one command line: 0 (*cmd, *id: 0 when none), 1 for a blank
 * line, -EINVAL for anything else (an unknown word, a missing, zero or
 * extra argument). */
int upload_parse_command(const char *line, int *cmd, int64_t *id);
/* Runs one command line. 0 or -errno (EINVAL for an unknown command,
 * ENOENT for an unknown id, EBUSY for a file still open, the upload's
 * error). */
int upload_command(struct upload *u, const char *line);

#endif
