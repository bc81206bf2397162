/* draft: the user's submissions in progress (DSpace workspace items) as
 * item directories of their collections (contract §7, §13).
 *
 * mkdir in a collection makes a draft (dspace_draft_create) with an
 * ORIGINAL bundle; the collection's listing is merged with the user's
 * drafts in it (draft_list_more, the tree's hook); a draft is keyed on its
 * item's UUID, so its inode and name survive the deposit; rmdir of an
 * empty draft deletes the workspace item. Every action is logged with its
 * path and kept as a "draft" row of the status file. Thread safe. */
#ifndef DSPACEFS_DRAFT_H
#define DSPACEFS_DRAFT_H

#include <stdint.h>

#include "dspace/dspace.h"
#include "util/buf.h"

struct draft;

/* ttl: seconds the user's list of drafts serves the listings of all
 * collections (the listings' TTL; 0 → 60). */
struct draft *draft_new(struct session *s, int ttl);
void draft_free(struct draft **d);

/* tree_config.more: appends the user's drafts in collection uuid (each
 * item with its bundles) to l. 0 or -errno; other types: nothing. */
int draft_list_more(void *ctx, enum dso_type type, const char *uuid,
		    struct dso_list *l);
/* tree_config.more_expire: the next listing asks the server for the
 * user's drafts again (every listing made stale; also after a draft was
 * made, abandoned or deposited here). */
void draft_expire(void *ctx);
/* upload_set_draft_target: the workspace item whose upload section
 * bundle_uuid (a draft's ORIGINAL) feeds, or 0. */
int64_t draft_of_bundle(void *ctx, const char *bundle_uuid);
/* A file (uuid) of the draft whose ORIGINAL is bundle_uuid renamed to
 * new_name, or removed when new_name is NULL, through the submission
 * route at the position the server gives it now. 1 when bundle_uuid is
 * no draft's; else 0 or -errno. path: for log lines. */
int draft_file_change(struct draft *d, const char *bundle_uuid,
		      const char *uuid, const char *new_name, const char *path);
/* mkdir: a draft called title in collection coll, with an ORIGINAL
 * bundle; l receives the item then the bundle. path: for log lines. */
int draft_create(struct draft *d, const char *coll, const char *title,
		 const char *path, struct dso_list *l);
/* "workspace" or "workflow" when item_uuid is a draft, else NULL. */
const char *draft_state(struct draft *d, const char *item_uuid);
/* rmdir of draft item_uuid: deletes the workspace item. -ENOENT when it
 * is no draft. */
int draft_abandon(struct draft *d, const char *item_uuid, const char *path);
/* Deposits draft item_uuid: -EINVAL with the missing fields logged when
 * the server lists validation errors, -EALREADY when already deposited;
 * *archived when the collection has no workflow. */
int draft_deposit(struct draft *d, const char *item_uuid, const char *path,
		  int *archived);
/* The workspace item id and collection uuid of draft item_uuid. */
int draft_info(struct draft *d, const char *item_uuid, int64_t *id,
	       char coll[UUID_LEN + 1]);
/* The status file's "draft" rows, in the columns of the upload rows:
 * "d<workspace item id>", "draft", state, path, "-", "-", detail (what
 * was last done, or the fields still missing). */
int draft_status_text(struct draft *d, struct buf *out);

#endif
