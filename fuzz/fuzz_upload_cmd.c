/* fuzz_upload_cmd: the status-file command parser (src/upload.c). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Entry point: one line written to .dspacefs-status. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	enum upload_verb verb = UPLOAD_CMD_RETRY;
	int64_t id = 42;
	int r;

	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = 0;
	r = upload_parse_command(line, &verb, &id);
	if (r != 0 && r != -EINVAL)
		abort();
	if (r == 0 && (id < -1 || verb > UPLOAD_CMD_FORGET ||
		       (verb == UPLOAD_CMD_FORGET && id < 0) ||
		       (verb == UPLOAD_CMD_NONE && id != -1)))
		abort();
	free(line);
	return 0;
}
