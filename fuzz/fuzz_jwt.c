/* fuzz_jwt: JWT payload decoding and the refresh time (src/session.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "dspace/session.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Logs at the most verbose level so that every log format runs too. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_jwt", 0, LL_TRACE);
	return 0;
}

/* Entry point: an Authorization header value ("Bearer h.p.s" or "h.p.s"). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t nows[] = {0, 1764547200, INT64_MAX / 2};
	static const int margins[] = {0, 1, 60, 3600, -5};
	char *jwt = malloc(size + 1);
	int64_t exp;
	size_t i, j;

	if (!jwt)
		return 0;
	memcpy(jwt, data, size);
	jwt[size] = 0;
	exp = session_jwt_expiry(jwt);
	for (i = 0; i < sizeof(nows) / sizeof(nows[0]); i++)
		for (j = 0; j < sizeof(margins) / sizeof(margins[0]); j++)
			(void)session_refresh_at(exp, nows[i], margins[j]);
	free(jwt);
	return 0;
}
