/* fuzz_headers: response header parsing (http.c), Content-Range (reader.c)
 * and the CSRF token a response hands out (session.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/http.h"
#include "util/log.h"
#include "dspace/rest.h"
#include "dspace/session.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reading a string into here makes ASan check all of it. */
static volatile size_t sink;

/* Logs at the most verbose level so that every log format runs too. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_headers", 0, LL_TRACE);
	return 0;
}

/* One header line as curl hands it over: exact length, not terminated. */
static void one_line(struct http_response *resp, const uint8_t *p, size_t n)
{
	char *line = malloc(n ? n : 1), out[256];

	if (!line)
		return;
	memcpy(line, p, n);
	if (http_response_add_header(resp, line, n) < 0)
		abort(); /* only ENOMEM, which does not happen here */
	http_redact_header(line, n, out, sizeof(out));
	sink += strlen(out);
	free(line);
}

/* What the callers read out of a collected response. */
static void use_response(const struct http_response *resp)
{
	const char *v;
	uint64_t a, b, total;
	char *csrf;
	size_t i;

	if (resp->status < 0)
		abort();
	for (i = 0; i < resp->nheaders; i++) {
		const struct http_header *h = &resp->headers[i];

		sink += strlen(h->name) + strlen(h->value);
		if (http_response_header(resp, h->name) == NULL)
			abort();
		(void)http_parse_retry_after(h->value);
		if (rest_parse_content_range(h->value, &a, &b, &total) == 0)
			sink += a + b + total;
		(void)session_jwt_expiry(h->value);
	}
	v = http_response_header(resp, "Retry-After");
	if (v && http_parse_retry_after(v) < -1)
		abort();
	csrf = session_csrf_from_response(resp);
	if (csrf)
		sink += strlen(csrf);
	free(csrf);
	(void)http_status_errno(resp->status);
	(void)http_status_retryable(resp->status);
}

/* Entry point: a header block, split into lines after each '\n'. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_response resp;
	size_t start = 0, i;

	memset(&resp, 0, sizeof(resp));
	for (i = 0; i < size; i++) {
		if (data[i] != '\n')
			continue;
		one_line(&resp, data + start, i + 1 - start);
		start = i + 1;
	}
	if (start < size)
		one_line(&resp, data + start, size - start);
	use_response(&resp);
	http_response_release(&resp);
	return 0;
}
