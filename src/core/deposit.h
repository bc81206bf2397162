/* deposit: the virtual file DEPOSIT.txt of a draft (core/virt.h). Read,
 * it explains the draft to someone who has never used the tool: the
 * collection, what is still missing (the server's validation errors with
 * the form's labels), the collection's licence and how to deposit. A save
 * that holds a line that is exactly "deposit" (spaces and CR trimmed)
 * deposits the draft, acted on inside write(): -EBUSY while a file of the
 * draft is open, uploading or failed, -EINVAL while fields are missing,
 * -EALREADY once deposited (draft.h). The served text never holds such a
 * line. */
#ifndef DSPACEFS_DEPOSIT_H
#define DSPACEFS_DEPOSIT_H

#include "core/draft.h"
#include "core/tree.h"
#include "core/upload.h"
#include "core/virt.h"

#define DEPOSIT_NAME "DEPOSIT.txt"

/* What the provider reaches; borrowed, outlives the mount. */
struct deposit_ctx {
	struct session *s;
	struct draft *draft;
	struct tree *tree;
	struct upload *upload; /* may be NULL */
};

/* The provider of DEPOSIT.txt over ctx. */
struct virt_file deposit_virt_file(struct deposit_ctx *ctx);

#endif
