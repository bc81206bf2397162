/* rest: DSpace endpoints and HAL paging. The only module that builds URLs.
 * Its public calls are declared in dspace.h (the header the core uses);
 * this header adds what only the dspace layer needs. Errors: HTTP status
 * mapped by http_status_errno(), malformed JSON → EIO after a log line
 * naming the URL. */
#ifndef DSPACEFS_REST_H
#define DSPACEFS_REST_H

#include "dspace/dspace.h"
#include "dspace/session.h"

/* The content URL of a bitstream (caller frees), NULL on ENOMEM or a
 * malformed uuid. */
char *rest_content_url(struct session *s, const char *uuid);

/* Parses a Content-Range value "bytes a-b/total" into its three numbers.
 * 0, or -1 when v is NULL or not of that form (pure: fuzzed). */
int rest_parse_content_range(const char *v, uint64_t *a, uint64_t *b,
			     uint64_t *total);

#endif
