/* fuzz_model: every DSpace JSON decoder of src/model.c on one input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "dspace/model.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The list relations model_parse_page knows. */
static const char *const rels[] = {
    "communities", "subcommunities", "collections", "items",
    "bundles",	   "bitstreams",     "mappedItems",
};

/* Reading a string into here makes ASan check all of it. */
static volatile size_t sink;

/* Logs at the most verbose level so that every log format runs too. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_model", 0, LL_TRACE);
	return 0;
}

/* Checks what model.h promises about a decoded object; aborts if broken. */
static void check_dso(const struct dso *d)
{
	size_t i;

	if (d->type < DSO_COMMUNITY || d->type > DSO_BITSTREAM)
		abort();
	if (!model_uuid_valid(d->uuid) || strlen(d->parent) > UUID_LEN)
		abort();
	if (!d->name)
		abort();
	sink += strlen(d->name) + (d->handle ? strlen(d->handle) : 0);
	if (strlen(d->md5) != 0 && strlen(d->md5) != 32)
		abort();
	if (d->size < -1 || (d->mime && !*d->mime))
		abort();
	for (i = 0; i < d->nmeta; i++) {
		if (!d->meta[i].key || !d->meta[i].value)
			abort();
		if (dso_meta(d, d->meta[i].key) == NULL)
			abort();
		sink += strlen(d->meta[i].value);
	}
	(void)dso_type_name(d->type);
}

/* Checks a list and releases it. */
static void check_list(struct dso_list *l, int rc)
{
	size_t i;

	if (rc != 0 && l->n != 0)
		abort(); /* a failed parse must not leave half a list */
	for (i = 0; i < l->n; i++)
		check_dso(&l->v[i]);
	dso_list_release(l);
	memset(l, 0, sizeof(*l));
}

/* The list and discovery pages. */
static void fuzz_pages(const char *json, size_t len)
{
	struct dso_list l = {0};
	struct page_info pg = {0};
	size_t i;
	int rc;

	for (i = 0; i < sizeof(rels) / sizeof(rels[0]); i++) {
		rc = model_parse_page(json, len, rels[i], "", &l, &pg);
		check_list(&l, rc);
		page_info_release(&pg);
	}
	rc = model_parse_discovery(json, len, NULL, &l, &pg);
	check_list(&l, rc);
	page_info_release(&pg);
	rc = model_parse_object(json, len,
				"0f2c3a4b-5d6e-4f70-8192-a3b4c5d6e7f8", &l);
	check_list(&l, rc);
}

/* The single documents: root, error body, JWT payload, authn status. */
static void fuzz_documents(const char *json, size_t len)
{
	char *version = NULL, *msg;
	int64_t exp;
	int auth = -1;

	if (model_parse_root(json, len, &version) == 0 && !version)
		abort();
	free(version);
	msg = model_error_message(json, len);
	if (msg)
		sink += strlen(msg);
	free(msg);
	(void)model_jwt_exp(json, len, &exp);
	if (model_parse_status(json, len, &auth) == 0 && auth != 0 && auth != 1)
		abort();
}

/* The string helpers and the JSON bodies built from a string. */
static void fuzz_strings(const char *s)
{
	int64_t t;
	char *b;

	(void)model_parse_time(s, &t);
	(void)model_uuid_valid(s);
	(void)dso_type_from_name(s);
	b = model_upload_properties(s, 0, 0);
	free(b);
	b = model_item_create_body(s);
	free(b);
	b = model_bundle_create_body(s);
	free(b);
	b = model_metadata_replace_patch("dc.title", s);
	free(b);
}

/* Entry point: the input is a response body (exact length, no NUL added). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy;

	fuzz_pages((const char *)data, size);
	fuzz_documents((const char *)data, size);
	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = 0;
	fuzz_strings(copy);
	free(copy);
	return 0;
}
