/* fuzz_upload_cmd: the status-file command parser (src/upload.c). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/upload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Entry point: one line written to .dspacefs-status. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	int cmd = UPLOAD_CMD_RETRY;
	int64_t id = 42;
	int r;

	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = 0;
	r = upload_parse_command(line, &cmd, &id);
	if (r != 0 && r != 1 && r != -EINVAL)
		abort();
	/* A command: a known verb, an id >= 0, and one where the verb needs
	 * it (forget, cancel) and none where it takes none (refresh). */
	if (r == 0 &&
	    (cmd < UPLOAD_CMD_RETRY || cmd > UPLOAD_CMD_REFRESH || id < 0 ||
	     ((cmd == UPLOAD_CMD_FORGET || cmd == UPLOAD_CMD_CANCEL) &&
	      id == 0) ||
	     (cmd == UPLOAD_CMD_REFRESH && id != 0)))
		abort();
	free(line);
	return 0;
}
