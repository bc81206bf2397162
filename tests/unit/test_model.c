/* Unit tests for model.c: HAL JSON documents shaped like the contract's
 * examples (and broken variations) → structs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "dspace/model.h"
#include "tap.h"

#define U1 "1911e8a4-6939-490c-b58b-a5d70f8d91fb"
#define U2 "2245f2c5-1111-4222-8333-444455556666"
#define U3 "3c11f3f1-aaaa-4bbb-8ccc-dddddddddddd"
#define B1 "d3590000-0000-4000-8000-000000000001"
#define B2 "d3590000-0000-4000-8000-000000000002"
#define F1 "1ce60000-0000-4000-8000-000000000001"
#define F2 "1ce60000-0000-4000-8000-000000000002"
#define F3 "1ce60000-0000-4000-8000-000000000003"
#define COL "5d1a0000-0000-4000-8000-0000000000c0"
#define MD5 "59a4cfd819ce67ba7252efc52d1eb99b"

/* Calls a model parser on a string literal with its exact length. */
#define J(fn, s, ...) fn(s, strlen(s), __VA_ARGS__)

/* Parses a list page from a C string. */
static int page(const char *j, const char *rel, struct dso_list *l,
		struct page_info *p)
{
	return model_parse_page(j, strlen(j), rel, COL, l, p);
}

/* Parses a discovery page from a C string. */
static int disco(const char *j, struct dso_list *l, struct page_info *p)
{
	return model_parse_discovery(j, strlen(j), COL, l, p);
}

static const char communities_page[] =
    "{ \"_embedded\": { \"communities\": ["
    "  { \"id\": \"" U1 "\", \"uuid\": \"" U1 "\", \"name\": \"Research\","
    "    \"handle\": \"10673/1\", \"archivedItemsCount\": -1,"
    "    \"metadata\": { \"dc.title\": [ {\"value\": \"Research\","
    "       \"language\": null, \"authority\": null, \"confidence\": -1,"
    "       \"place\": 0} ] }, \"type\": \"community\","
    "    \"_links\": { \"self\": {\"href\": "
    "\"http://x/server/api/core/communities/" U1 "\"} } },"
    "  { \"uuid\": \"2245F2C5-1111-4222-8333-444455556666\", \"name\": "
    "\"Teaching\","
    "    \"handle\": null, \"type\": \"community\", \"_links\": {} } ] },"
    "  \"_links\": { \"self\": {\"href\": "
    "\"http://x/server/api/core/communities/search/top?page=0&size=2\"},"
    "    \"next\": {\"href\": "
    "\"http://x/server/api/core/communities/search/top?page=1&size=2\"} },"
    "  \"page\": { \"size\": 2, \"totalElements\": 3, \"totalPages\": 2, "
    "\"number\": 0 } }";

/* A plain list page with two communities and a next link. */
static void test_list_page(void)
{
	struct dso_list l = {0};
	struct page_info p = {0};

	is_int(page(communities_page, "communities", &l, &p), 0, "page parses");
	is_int(l.n, 2, "two communities");
	is_int(l.v[0].type, DSO_COMMUNITY, "type community");
	is_str(l.v[0].uuid, U1, "uuid");
	is_str(l.v[0].name, "Research", "name");
	is_str(l.v[0].handle, "10673/1", "handle");
	is_str(l.v[0].parent, COL, "parent from context");
	is_int(l.v[0].size, -1, "no size for communities");
	is_str(dso_meta(&l.v[0], "dc.title"), "Research", "dc.title");
	is_int(l.v[0].position, 0, "position 0");
	is_str(l.v[1].uuid, U2, "upper-case uuid lowered");
	ok(l.v[1].handle == NULL, "null handle → NULL");
	is_int(l.v[1].position, 1, "position 1");
	is_int(p.number, 0, "page number");
	is_int(p.size, 2, "page size");
	is_int(p.total_elements, 3, "total elements");
	is_int(p.total_pages, 2, "total pages");
	is_str(p.next,
	       "http://x/server/api/core/communities/search/top?page=1&size=2",
	       "next link");
	dso_list_release(&l);
	page_info_release(&p);
}

/* Top-level empty lists omit _embedded; linked ones keep []. */
static void test_empty_pages(void)
{
	struct dso_list l = {0};
	struct page_info p = {0};
	const char *no_emb = "{\"_links\":{\"self\":{\"href\":\"h\"}},"
			     "\"page\":{\"size\":20,\"totalElements\":0,"
			     "\"totalPages\":0,\"number\":0}}";
	const char *empty = "{\"_embedded\":{\"subcommunities\":[]},"
			    "\"page\":{\"size\":1000,\"totalElements\":0,"
			    "\"totalPages\":0,\"number\":0}}";

	is_int(page(no_emb, "communities", &l, &p), 0, "no _embedded is ok");
	is_int(l.n, 0, "… and empty");
	ok(p.next == NULL, "… no next");
	is_int(page(empty, "subcommunities", &l, &p), 0, "empty array is ok");
	is_int(l.n, 0, "… and empty");
	is_int(page("{}", "collections", &l, NULL), 0, "{} is an empty page");
	is_int(
	    page("{\"_embedded\":{\"other\":[{}]}}", "collections", &l, NULL),
	    0, "other rel ignored");
	is_int(l.n, 0, "… nothing appended");
	dso_list_release(&l);
	page_info_release(&p);
}

/* Discovery result with items embedding bundles and bitstreams. */
static const char disco_embedded[] =
    "{ \"query\": null, \"scope\": \"" COL "\", \"appliedFilters\": [],"
    "  \"sort\": {\"by\": \"dc.title\", \"order\": \"ASC\"}, \"type\": "
    "\"discover\","
    "  \"_embedded\": { \"searchResult\": {"
    "    \"_embedded\": { \"objects\": ["
    "      { \"hitHighlights\": {}, \"type\": \"discover\","
    "        \"_links\": { \"indexableObject\": {\"href\": \"h\"} },"
    "        \"_embedded\": { \"indexableObject\": {"
    "          \"uuid\": \"" U1
    "\", \"name\": \"Practices\", \"handle\": \"10673/20\","
    "          \"lastModified\": \"2021-06-21T12:53:57.871+00:00\", \"type\": "
    "\"item\","
    "          \"metadata\": {"
    "            \"dc.contributor.author\": ["
    "              {\"value\": \"Second\", \"place\": 1},"
    "              {\"value\": \"Third\", \"place\": 2},"
    "              {\"value\": \"First\", \"place\": 0} ],"
    "            \"dc.title\": [ {\"value\": \"Practices\", \"place\": 0} ] },"
    "          \"_embedded\": { \"bundles\": {"
    "            \"_embedded\": { \"bundles\": ["
    "              { \"uuid\": \"" B1
    "\", \"name\": \"ORIGINAL\", \"type\": \"bundle\","
    "                \"_embedded\": { \"bitstreams\": {"
    "                  \"_embedded\": { \"bitstreams\": ["
    "                    { \"uuid\": \"" F1
    "\", \"name\": \"a.pdf\", \"sizeBytes\": 7568,"
    "                      \"checkSum\": {\"checkSumAlgorithm\": \"MD5\", "
    "\"value\": \"59A4CFD819CE67BA7252EFC52D1EB99B\"},"
    "                      \"sequenceId\": 1, \"type\": \"bitstream\","
    "                      \"_embedded\": {\"format\": {\"mimetype\": "
    "\"application/pdf\"}} },"
    "                    { \"uuid\": \"" F2
    "\", \"name\": \"b.txt\", \"sizeBytes\": 0,"
    "                      \"checkSum\": {\"checkSumAlgorithm\": \"SHA-1\", "
    "\"value\": \"da39a3ee5e6b4b0d3255bfef95601890afd80709\"},"
    "                      \"type\": \"bitstream\" } ] },"
    "                  \"page\": {\"size\": 1000, \"totalElements\": 2, "
    "\"totalPages\": 1, \"number\": 0} } } },"
    "              { \"uuid\": \"" B2
    "\", \"name\": \"THUMBNAIL\", \"type\": \"bundle\","
    "                \"_embedded\": { \"bitstreams\": {"
    "                  \"_embedded\": { \"bitstreams\": ["
    "                    { \"uuid\": \"" F3
    "\", \"name\": \"a.pdf.jpg\", \"sizeBytes\": 10,"
    "                      \"type\": \"bitstream\" } ] },"
    "                  \"page\": {\"size\": 1, \"totalElements\": 5, "
    "\"totalPages\": 5, \"number\": 0} } } } ] },"
    "            \"page\": {\"size\": 1000, \"totalElements\": 2, "
    "\"totalPages\": 1, \"number\": 0} } } } } },"
    "      { \"type\": \"discover\", \"_embedded\": { \"indexableObject\": {"
    "          \"uuid\": \"" U2 "\", \"name\": \"Zeta\", \"type\": \"item\","
    "          \"lastModified\": \"2024-01-01T00:00:00Z\","
    "          \"_embedded\": { \"bundles\": {"
    "            \"_embedded\": { \"bundles\": [] },"
    "            \"page\": {\"size\": 20, \"totalElements\": 25, "
    "\"totalPages\": 2, \"number\": 0} } } } } },"
    "      { \"type\": \"discover\", \"_embedded\": { \"indexableObject\": {"
    "          \"uuid\": \"" U3
    "\", \"name\": \"No embeds\", \"type\": \"item\" } } } ] },"
    "    \"_links\": { \"self\": {\"href\": \"s\"}, \"next\": {\"href\": "
    "\"http://x/server/api/discover/search/objects?page=1&size=100\"} },"
    "    \"page\": { \"number\": 0, \"size\": 100, \"totalPages\": 3, "
    "\"totalElements\": 250 } },"
    "    \"facets\": [] },"
    "  \"_links\": { \"self\": {\"href\": \"x\"} } }";

/* Discovery: items, their bundles and bitstreams, in order, with flags. */
static void test_discovery_embedded(void)
{
	struct dso_list l = {0};
	struct page_info p = {0};
	int64_t t0;

	is_int(disco(disco_embedded, &l, &p), 0, "discovery parses");
	is_int(l.n, 8, "3 items + 2 bundles + 3 bitstreams");
	if (l.n != 8)
		goto out;
	model_parse_time("2021-06-21T12:53:57Z", &t0);
	/* item 1 */
	is_int(l.v[0].type, DSO_ITEM, "item");
	is_str(l.v[0].parent, COL, "item parent = scope");
	is_int(l.v[0].mtime, 1624280037, "item lastModified (+00:00, millis)");
	is_int(t0, 1624280037, "Z form equals +00:00 form");
	is_int(l.v[0].children_complete, 1, "item 1 bundles complete");
	is_str(dso_meta(&l.v[0], "dc.contributor.author"),
	       "First\nSecond\nThird", "authors joined in place order");
	/* bundle ORIGINAL */
	is_int(l.v[1].type, DSO_BUNDLE, "bundle after item");
	is_str(l.v[1].uuid, B1, "bundle uuid");
	is_str(l.v[1].parent, U1, "bundle parent = item");
	is_int(l.v[1].position, 0, "bundle position");
	is_int(l.v[1].mtime, t0, "bundle inherits item mtime");
	is_int(l.v[1].children_complete, 1, "bundle 1 bitstreams complete");
	is_int(l.v[2].type, DSO_BITSTREAM, "bitstream after bundle");
	is_str(l.v[2].parent, B1, "bitstream parent = bundle");
	is_str(l.v[2].name, "a.pdf", "bitstream name");
	is_int(l.v[2].size, 7568, "sizeBytes");
	is_str(l.v[2].md5, MD5, "MD5 lower-cased");
	is_str(l.v[2].mime, "application/pdf", "format mimetype");
	is_int(l.v[2].mtime, t0, "bitstream inherits item mtime");
	is_int(l.v[3].size, 0, "zero size kept");
	is_str(l.v[3].md5, "", "non-MD5 checksum ignored");
	ok(l.v[3].mime == NULL, "no format → NULL mime");
	is_int(l.v[3].position, 1, "second bitstream position");
	/* bundle THUMBNAIL with a truncated bitstream page */
	is_str(l.v[4].uuid, B2, "second bundle");
	is_int(l.v[4].position, 1, "second bundle position");
	is_int(l.v[4].children_complete, 0,
	       "truncated bitstreams → incomplete");
	is_str(l.v[5].parent, B2, "its bitstream");
	/* item 2: truncated (empty) bundle page */
	is_str(l.v[6].uuid, U2, "item 2");
	is_int(l.v[6].position, 1, "item 2 position");
	is_int(l.v[6].children_complete, 0, "truncated bundles → incomplete");
	is_int(l.v[6].mtime, 1704067200, "Z date");
	/* item 3: nothing embedded */
	is_str(l.v[7].uuid, U3, "item 3");
	is_int(l.v[7].children_complete, 0, "no embeds → incomplete");
	is_int(l.v[7].mtime, 0, "no lastModified → 0");
	is_int(l.v[7].position, 2, "item 3 position");
	is_int(p.total_elements, 250, "discovery totalElements");
	is_int(p.total_pages, 3, "discovery totalPages");
	is_str(p.next,
	       "http://x/server/api/discover/search/objects?page=1&size=100",
	       "discovery next");
out:
	dso_list_release(&l);
	page_info_release(&p);
}

/* Discovery without embeds, and an empty result. */
static void test_discovery_plain(void)
{
	struct dso_list l = {0};
	struct page_info p = {0};
	const char *plain =
	    "{\"_embedded\":{\"searchResult\":{\"_embedded\":{\"objects\":["
	    "{\"_embedded\":{\"indexableObject\":{\"uuid\":\"" U1 "\","
	    "\"name\":\"A\",\"type\":\"item\"}}}]},"
	    "\"page\":{\"number\":0,\"size\":100,\"totalPages\":1,"
	    "\"totalElements\":1}}}}";
	const char *empty =
	    "{\"_embedded\":{\"searchResult\":{\"_embedded\":{\"objects\":[]},"
	    "\"_links\":{\"self\":{\"href\":\"s\"}},"
	    "\"page\":{\"number\":0,\"size\":100,\"totalPages\":0,"
	    "\"totalElements\":0}},"
	    "\"facets\":[]}}";

	is_int(disco(plain, &l, &p), 0, "plain discovery parses");
	is_int(l.n, 1, "one item");
	is_int(l.v[0].children_complete, 0, "… without children");
	ok(p.next == NULL, "no next link");
	is_int(disco(empty, &l, &p), 0, "empty objects parses");
	is_int(l.n, 1, "nothing appended");
	is_int(p.total_elements, 0, "total 0");
	is_int(disco("{\"_embedded\":{}}", &l, &p), -EPROTO,
	       "no searchResult → EPROTO");
	is_int(disco("{\"_embedded\":{\"searchResult\":{\"_embedded\":"
		     "{\"objects\":[{\"_embedded\":{}}]}}}}",
		     &l, &p),
	       -EPROTO, "object without indexableObject → EPROTO");
	is_int(disco("{\"_embedded\":{\"searchResult\":{\"_embedded\":"
		     "{\"objects\":{}}}}}",
		     &l, &p),
	       -EPROTO, "objects not an array → EPROTO");
	is_int(l.n, 1, "failed pages append nothing");
	dso_list_release(&l);
	page_info_release(&p);
}

/* An item GET with embedded bundles as a plain array (no page object). */
static void test_object(void)
{
	struct dso_list l = {0};
	const char *item =
	    "{\"uuid\":\"" U1 "\",\"name\":\"I\",\"type\":\"item\","
	    "\"lastModified\":\"2000-03-01T00:00:00+02:00\","
	    "\"_embedded\":{\"bundles\":[{\"uuid\":\"" B1
	    "\",\"name\":\"ORIGINAL\","
	    "\"type\":\"bundle\",\"_embedded\":{\"bitstreams\":{\"_embedded\":"
	    "{\"bitstreams\":[]},\"page\":{\"totalElements\":0,\"number\":0}}}}"
	    "]}}";
	const char *bad_child =
	    "{\"uuid\":\"" U1 "\",\"type\":\"item\",\"_embedded\":{\"bundles\":"
	    "[{\"uuid\":\"" F1 "\",\"type\":\"bitstream\"}]}}";
	const char *second_page =
	    "{\"uuid\":\"" B1
	    "\",\"type\":\"bundle\",\"_embedded\":{\"bitstreams\":"
	    "{\"_embedded\":{\"bitstreams\":[]},\"page\":{\"totalElements\":0,"
	    "\"number\":1}}}}";

	is_int(model_parse_object(item, strlen(item), NULL, &l), 0,
	       "item parses");
	is_int(l.n, 2, "item + bundle");
	is_str(l.v[0].parent, "", "NULL parent → \"\"");
	is_str(l.v[0].name, "I", "name");
	is_int(l.v[0].mtime, 951861600, "+02:00 offset applied");
	is_int(l.v[0].children_complete, 1, "array without page → complete");
	is_int(l.v[1].children_complete, 1, "empty complete page → complete");
	is_int(l.v[1].mtime, 951861600, "bundle inherits mtime");
	is_int(model_parse_object(bad_child, strlen(bad_child), NULL, &l),
	       -EPROTO, "bitstream where a bundle belongs → EPROTO");
	is_int(l.n, 2, "… appends nothing");
	is_int(model_parse_object(second_page, strlen(second_page), NULL, &l),
	       0, "bundle parses");
	is_int(l.v[2].children_complete, 0,
	       "non-first embedded page → incomplete");
	dso_list_release(&l);
}

/* Untrusted input: bad UUIDs, wrong types, malformed JSON. */
static void test_malformed(void)
{
	struct dso_list l = {0};
	struct page_info p = {0};
	static const char *const bad_uuids[] = {
	    "\"1911e8a4-6939-490c-b58b-a5d70f8d91f\"",	 /* short */
	    "\"1911e8a4-6939-490c-b58b-a5d70f8d91fbb\"", /* long */
	    "\"1911e8a4x6939-490c-b58b-a5d70f8d91fb\"",	 /* no dash */
	    "\"1911e8a4-6939-490c-b58b-a5d70f8d91fg\"",	 /* not hex */
	    "\"../../../etc/passwd-aaaa-bbbb-ccccccc\"", "\"\"", "42", "null",
	};
	size_t i;
	char doc[512];

	for (i = 0; i < sizeof(bad_uuids) / sizeof(bad_uuids[0]); i++) {
		snprintf(doc, sizeof(doc),
			 "{\"_embedded\":{\"items\":[{\"uuid\":%s,"
			 "\"name\":\"x\",\"type\":\"item\"}]}}",
			 bad_uuids[i]);
		is_int(page(doc, "items", &l, NULL), -EPROTO, bad_uuids[i]);
	}
	is_int(l.n, 0, "nothing appended for bad uuids");
	ok(!model_uuid_valid("not-a-uuid"), "model_uuid_valid rejects");
	ok(model_uuid_valid(U1), "model_uuid_valid accepts");
	is_int(page("{\"_embedded\":{\"items\":[{\"uuid\":\"" U1
		    "\",\"type\":\"thing\"}]}}",
		    "items", &l, NULL),
	       -EPROTO, "unknown type → EPROTO");
	is_int(page("{\"_embedded\":{\"items\":[{\"uuid\":\"" U1 "\"}]}}",
		    "items", &l, NULL),
	       -EPROTO, "no type → EPROTO");
	is_int(page("{\"_embedded\":{\"items\":[{\"uuid\":\"" U1
		    "\",\"type\":\"item\"},7]}}",
		    "items", &l, NULL),
	       -EPROTO, "non-object entry → EPROTO");
	is_int(l.n, 0, "a failed page appends nothing");
	is_int(page("{\"_embedded\":{\"items\":{}}}", "items", &l, NULL),
	       -EPROTO, "rel not an array → EPROTO");
	is_int(page("{\"_embedded\":[]}", "items", &l, NULL), -EPROTO,
	       "_embedded not an object → EPROTO");
	is_int(page("{\"_embedded\":{\"items\":[", "items", &l, NULL), -EPROTO,
	       "truncated JSON → EPROTO");
	is_int(page("[]", "items", &l, NULL), -EPROTO, "array root → EPROTO");
	is_int(page("", "items", &l, NULL), -EPROTO, "empty → EPROTO");
	is_int(model_parse_page(NULL, 0, "items", NULL, &l, NULL), -EPROTO,
	       "NULL → EPROTO");
	is_int(page("<html>502</html>", "items", &l, NULL), -EPROTO,
	       "HTML → EPROTO");
	is_int(J(model_parse_object,
		 "{\"uuid\":\"" U1 "\",\"type\":\"item\","
		 "\"_embedded\":{\"bundles\":7}}",
		 NULL, &l),
	       -EPROTO, "embedded bundles of wrong type → EPROTO");

	/* mistyped optional fields get defaults */
	is_int(
	    page("{\"_embedded\":{\"bitstreams\":[{\"uuid\":\"" F1 "\","
		 "\"type\":\"bitstream\",\"name\":5,\"handle\":[],"
		 "\"sizeBytes\":\"12\",\"checkSum\":{\"checkSumAlgorithm\":"
		 "\"MD5\","
		 "\"value\":\"zz\"},\"lastModified\":\"yesterday\","
		 "\"metadata\":{\"dc.title\":\"x\",\"dc.x\":[1,{\"value\":2},"
		 "{\"value\":\"ok\",\"place\":\"7\"}]}}]},"
		 "\"page\":\"x\",\"_links\":{\"next\":5}}",
		 "bitstreams", &l, &p),
	    0, "mistyped optional fields tolerated");
	if (l.n == 1) {
		is_str(l.v[0].name, "", "non-string name → \"\"");
		ok(l.v[0].handle == NULL, "non-string handle → NULL");
		is_int(l.v[0].size, -1, "string size → -1");
		is_str(l.v[0].md5, "", "bad MD5 → \"\"");
		is_int(l.v[0].mtime, 0, "bad date → 0");
		ok(dso_meta(&l.v[0], "dc.title") == NULL,
		   "non-array field skipped");
		is_str(dso_meta(&l.v[0], "dc.x"), "ok",
		       "only string values kept");
	}
	ok(p.next == NULL, "non-object next ignored");
	is_int(p.total_pages, -1, "unknown total pages → -1");
	dso_list_release(&l);
	page_info_release(&p);
}

/* Date forms. */
static void test_time(void)
{
	int64_t t = 0;

	is_int(model_parse_time("2021-06-21T12:53:57.871+00:00", &t), 0,
	       "+00:00");
	is_int(t, 1624280037, "… value");
	is_int(model_parse_time("2021-06-21T12:53:57Z", &t), 0, "Z");
	is_int(t, 1624280037, "… value");
	is_int(model_parse_time("2021-06-21T14:53:57.123456789+02:00", &t), 0,
	       "+02:00 with nanos");
	is_int(t, 1624280037, "… value");
	is_int(model_parse_time("2021-06-21T07:23:57-0530", &t), 0, "-0530");
	is_int(t, 1624280037, "… value");
	is_int(model_parse_time("2021-06-21T12:53:57", &t), 0, "no zone = UTC");
	is_int(t, 1624280037, "… value");
	is_int(model_parse_time("1969-12-31T23:59:59Z", &t), 0, "before 1970");
	is_int(t, -1, "… value");
	ok(model_parse_time("2021-13-01T00:00:00Z", &t) == -EINVAL, "month 13");
	ok(model_parse_time("2021-06-21", &t) == -EINVAL, "date only");
	ok(model_parse_time("2021-06-21T12:53:57+", &t) == -EINVAL,
	   "dangling +");
	ok(model_parse_time("2021-06-21T12:53:57Zjunk", &t) == -EINVAL, "junk");
	ok(model_parse_time("2021-06-21T12:53:57.+00:00", &t) == -EINVAL,
	   "empty fraction");
	ok(model_parse_time("", &t) == -EINVAL, "empty");
}

/* Error bodies, JWT payloads, authn status, API root. */
static void test_small_documents(void)
{
	const char *e1 = "{\"timestamp\":\"2024-05-16T10:20:30.123+00:00\","
			 "\"status\":403,\"error\":\"Forbidden\",\"message\":"
			 "\"Access is denied. Invalid CSRF "
			 "token.\",\"path\":\"/server/api/authn/login\"}";
	const char *e2 =
	    "{\"type\":\"about:blank\",\"title\":\"Bad Request\","
	    "\"status\":400,\"detail\":\"Failed to read request\"}";
	const char *e3 = "{\"status\":500,\"error\":\"Internal Server "
			 "Error\",\"message\":\"\"}";
	const char *root =
	    "{\"dspaceUI\":\"http://localhost:4000\",\"dspaceName\":\"D\","
	    "\"dspaceServer\":\"http://localhost:8080/"
	    "server\",\"dspaceVersion\":\"DSpace 9.1\","
	    "\"type\":\"root\",\"_links\":{\"self\":{\"href\":\"h\"}}}";
	char *m, *v = NULL;
	int64_t exp = 0;
	int a = -1;

	m = model_error_message(e1, strlen(e1));
	is_str(m, "Access is denied. Invalid CSRF token.", "DSpace message");
	free(m);
	m = model_error_message(e2, strlen(e2));
	is_str(m, "Failed to read request", "RFC 7807 detail");
	free(m);
	m = model_error_message(e3, strlen(e3));
	is_str(m, "Internal Server Error", "empty message → error text");
	free(m);
	ok(model_error_message("Only POST is allowed",
			       strlen("Only POST is allowed")) == NULL,
	   "plain text → NULL");
	ok(model_error_message(NULL, 0) == NULL, "no body → NULL");
	ok(model_error_message("{}", 2) == NULL, "{} → NULL");

	is_int(J(model_jwt_exp, "{\"eid\":\"x\",\"sg\":[],\"exp\":1715856030}",
		 &exp),
	       0, "jwt exp");
	is_int(exp, 1715856030, "… value");
	is_int(J(model_jwt_exp, "{\"eid\":\"x\"}", &exp), -EPROTO, "no exp");
	is_int(J(model_jwt_exp, "{\"exp\":\"1\"}", &exp), -EPROTO,
	       "string exp");
	is_int(J(model_jwt_exp, "\x01\x02", &exp), -EPROTO, "garbage payload");

	is_int(J(model_parse_status,
		 "{\"okay\":true,\"authenticated\":true,\"type\":\"status\"}",
		 &a),
	       0, "status parses");
	is_int(a, 1, "authenticated");
	is_int(J(model_parse_status, "{\"okay\":true,\"authenticated\":false}",
		 &a),
	       0, "status parses");
	is_int(a, 0, "not authenticated");
	is_int(J(model_parse_status, "{\"okay\":true}", &a), -EPROTO,
	       "no authenticated → EPROTO");

	is_int(model_parse_root(root, strlen(root), &v), 0, "root parses");
	is_str(v, "DSpace 9.1", "dspaceVersion");
	free(v);
	is_int(J(model_parse_root, "{\"hello\":1}", &v), -EPROTO, "not a root");
	ok(v == NULL, "… version NULL");
	is_int(J(model_parse_root, "<html></html>", &v), -EPROTO, "HTML root");
}

/* JSON bodies for the write path. */
static void test_builders(void)
{
	char *s;

	s = model_upload_properties("a \"b\".pdf", -1, 0);
	is_str(s, "{\"name\":\"a \\\"b\\\".pdf\"}", "upload properties");
	free(s);
	s = model_upload_properties("x.csv", 981173106, 5);
	ok(s && strstr(s, "\"name\":\"x.csv\"") &&
	       strstr(s, "\"metadata\":{\"dcterms.modified\":[{") &&
	       strstr(s, "\"value\":\"2001-02-03T04:05:06.000000005Z\""),
	   "upload properties with the modification time");
	free(s);
	s = model_bundle_create_body("ORIGINAL");
	is_str(s, "{\"name\":\"ORIGINAL\",\"metadata\":{}}", "bundle body");
	free(s);
	s = model_item_create_body("My item");
	ok(s && strstr(s, "\"inArchive\":true") &&
	       strstr(s, "\"discoverable\":true") &&
	       strstr(s, "\"dc.title\":[{") &&
	       strstr(s, "\"value\":\"My item\""),
	   "item body");
	free(s);
	s = model_metadata_replace_patch("dc.title", "new.pdf");
	ok(s && strstr(s, "\"op\":\"replace\"") &&
	       strstr(s, "\"path\":\"/metadata/dc.title/0\"") &&
	       strstr(s, "\"value\":{\"value\":\"new.pdf\""),
	   "replace patch");
	free(s);
	ok(model_upload_properties("\xff\xfe", -1, 0) == NULL,
	   "invalid UTF-8 refused");
}

/* Type names round-trip. */
static void test_types(void)
{
	is_str(dso_type_name(DSO_BITSTREAM), "bitstream", "type name");
	is_int(dso_type_from_name("collection"), DSO_COLLECTION, "from name");
	is_int(dso_type_from_name("Collection"), DSO_NONE, "case matters");
	is_int(dso_type_from_name(NULL), DSO_NONE, "NULL");
}

/* A discovery page of three items, the middle one's title is x. */
static int disco3(const char *x, struct dso_list *l)
{
	char j[2048];
	struct page_info p = {0};
	int rc;

	snprintf(
	    j, sizeof(j),
	    "{\"_embedded\":{\"searchResult\":{\"_embedded\":{\"objects\":["
	    "{\"_embedded\":{\"indexableObject\":{\"uuid\":\"" U1 "\","
	    "\"type\":\"item\",\"name\":\"one\"}}},"
	    "{\"_embedded\":{\"indexableObject\":{\"uuid\":\"" U2 "\","
	    "\"type\":\"item\",\"name\":\"two\",\"metadata\":{\"dc.title\":"
	    "[{\"value\":\"%s\"}]}}}},"
	    "{\"_embedded\":{\"indexableObject\":{\"uuid\":\"" U3 "\","
	    "\"type\":\"item\",\"name\":\"three\"}}}]},"
	    "\"page\":{\"number\":0,\"totalElements\":3}}}}",
	    x);
	rc = model_parse_discovery(j, strlen(j), COL, l, &p);
	page_info_release(&p);
	return rc;
}

/* NUL and invalid UTF-8 spoil one entry, not the page. */
static void test_damaged_text(void)
{
	static const char *const bad[] = {
	    "a\\u0000b",
	    "a\xff"
	    "b",
	    "a\xc3(b",
	    "a\xed\xa0\x80"
	    "b",	      /* UTF-16 surrogate */
	    "a\xe0\x80\xafz", /* overlong */
	};
	struct dso_list l = {0};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		is_int(disco3(bad[i], &l), 0, "damaged entry: page parses");
		is_int(l.n, 2, "damaged entry skipped, two left");
		if (l.n == 2) {
			is_str(l.v[0].uuid, U1, "first kept");
			is_str(l.v[1].uuid, U3, "third kept");
		}
		dso_list_release(&l);
	}
	is_int(disco3("caf\xc3\xa9 \xf0\x9f\x98\x80", &l), 0, "valid UTF-8");
	is_int(l.n, 3, "valid UTF-8 keeps all three");
	if (l.n == 3)
		is_str(dso_meta(&l.v[1], "dc.title"),
		       "caf\xc3\xa9 \xf0\x9f\x98\x80", "UTF-8 title intact");
	dso_list_release(&l);
	is_int(J(model_parse_object,
		 "{\"uuid\":\"" U1
		 "\",\"type\":\"item\",\"name\":\"a\\u0000\"}",
		 NULL, &l),
	       -EPROTO, "a damaged single object is unusable");
	is_int(l.n, 0, "nothing appended");
	dso_list_release(&l);
}

/* The bitstream size that sizeBytes v (JSON text) gives. */
static int64_t size_of(const char *v)
{
	char j[512];
	struct dso_list l = {0};
	int64_t size = -2;

	snprintf(j, sizeof(j),
		 "{\"uuid\":\"" F1 "\",\"type\":\"bitstream\",\"name\":\"f\""
		 "%s%s}",
		 v ? ",\"sizeBytes\":" : "", v ? v : "");
	if (model_parse_object(j, strlen(j), NULL, &l) == 0 && l.n == 1)
		size = l.v[0].size;
	dso_list_release(&l);
	return size;
}

/* Negative, missing, huge and non-integer sizes are unknown (-1). */
static void test_sizes(void)
{
	is_int(size_of("12"), 12, "plain size");
	is_int(size_of("0"), 0, "zero size");
	is_int(size_of(NULL), -1, "missing → unknown");
	is_int(size_of("-1"), -1, "-1 → unknown");
	is_int(size_of("-5000"), -1, "negative → unknown");
	is_int(size_of("null"), -1, "null → unknown");
	is_int(size_of("\"12\""), -1, "string → unknown");
	is_int(size_of("1.5"), -1, "real → unknown");
	is_int(size_of("9223372036854775807"), -1, "INT64_MAX → unknown");
	is_int(size_of("1125899906842624"), MODEL_SIZE_MAX, "1 PiB kept");
	is_int(size_of("1125899906842625"), -1, "above 1 PiB → unknown");
}

/* In a list page and among embedded children the damage stays with the
 * one entry too: a bitstream of a bundle, a bundle of an item. */
static void test_damaged_children(void)
{
	static const char lst[] =
	    "{\"_embedded\":{\"bundles\":["
	    "{\"uuid\":\"" B1 "\",\"type\":\"bundle\",\"name\":\"ORIGINAL\","
	    "\"_embedded\":{\"bitstreams\":{\"_embedded\":{\"bitstreams\":["
	    "{\"uuid\":\"" F1 "\",\"type\":\"bitstream\",\"name\":\"a\\u0000\","
	    "\"sizeBytes\":1},"
	    "{\"uuid\":\"" F2 "\",\"type\":\"bitstream\",\"name\":\"b\","
	    "\"sizeBytes\":2}]},\"page\":{\"number\":0,\"totalElements\":2}}}},"
	    "{\"uuid\":\"" B2 "\",\"type\":\"bundle\",\"name\":\"T\xff\"}"
	    "]}}";
	struct dso_list l = {0};
	struct page_info p = {0};

	is_int(page(lst, "bundles", &l, &p), 0, "list page with damage parses");
	is_int(l.n, 2, "bundle + one bitstream");
	if (l.n == 2) {
		is_str(l.v[0].uuid, B1, "good bundle kept");
		is_str(l.v[1].uuid, F2, "good bitstream kept");
		is_str(l.v[1].parent, B1, "under its bundle");
	}
	dso_list_release(&l);
	page_info_release(&p);
}

/* The modification time in bitstream metadata round-trips nanoseconds. */
static void test_modified(void)
{
	struct meta_field m = {"dcterms.modified",
			       "2021-06-21T12:53:57.123456789Z"};
	struct dso d = {.meta = &m, .nmeta = 1};
	int64_t sec = 0, ns = 0;
	char *p;

	is_int(model_modified_time(&d, &sec, &ns), 0, "modified parsed");
	is_int(sec, 1624280037, "modified seconds");
	is_int(ns, 123456789, "modified nanoseconds");
	m.value = "2021-06-21T12:53:57Z";
	model_modified_time(&d, &sec, &ns);
	is_int(ns, 0, "no fraction: 0 ns");
	m.value = "yesterday";
	is_int(model_modified_time(&d, &sec, &ns), -ENOENT, "not a date");
	p = model_modified_patch(1624280037, 5);
	ok(p && strstr(p, "\"remove\"") &&
	       strstr(p, "2021-06-21T12:53:57.000000005Z"),
	   "patch: remove then add, 9 digits");
	free(p);
	p = model_modified_patch(-1, 0);
	ok(p && !strstr(p, "\"add\""), "patch: remove only");
	free(p);
}

/* The registry gives a format by extension, else "Unknown". */
static void test_formats(void)
{
	static const char reg[] =
	    "{\"_embedded\":{\"bitstreamformats\":["
	    "{\"id\":1,\"shortDescription\":\"Unknown\","
	    "\"mimetype\":\"application/octet-stream\",\"extensions\":[]},"
	    "{\"id\":9,\"shortDescription\":\"CSV\","
	    "\"mimetype\":\"text/csv\",\"extensions\":[\"csv\"]}]}}";
	int64_t id = 0;
	char *mime = NULL;

	is_int(model_format_for_ext(reg, strlen(reg), "CSV", &id, &mime), 0,
	       "csv found");
	is_int(id, 9, "csv id");
	is_str(mime, "text/csv", "csv mime");
	free(mime);
	is_int(model_format_for_ext(reg, strlen(reg), "Xy12", &id, &mime), 0,
	       "unknown extension");
	is_int(id, 1, "Unknown id");
	free(mime);
}

int main(void)
{
	log_init("test_model", 0, LL_ERROR);
	test_list_page();
	test_empty_pages();
	test_discovery_embedded();
	test_discovery_plain();
	test_object();
	test_malformed();
	test_time();
	test_small_documents();
	test_builders();
	test_types();
	test_damaged_text();
	test_sizes();
	test_damaged_children();
	test_modified();
	test_formats();
	return tap_done();
}
