/* Unit tests of core/metadata (the rules and the three-way merge of a
 * metadata.json save) and of the model's metadata.json parse, render and
 * PATCH body (dspace/model). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "core/metadata.h"

/* Parses a metadata.json text; aborts the test on failure. */
static struct md_set parse(const char *text)
{
	struct md_set m;
	int r = model_parse_md_file(text, strlen(text), &m);

	if (r != 0) {
		printf("Bail out! cannot parse %s\n", text);
		exit(1);
	}
	return m;
}

/* Runs md_merge on three texts; *changes as JSON Patch into patch. */
static int merge(const char *base, const char *saved, const char *server,
		 char **patch, char *why)
{
	struct md_set b = parse(base), s = parse(saved), c = parse(server);
	struct md_set ch;
	int r = md_merge(&b, &s, &c, NULL, NULL, &ch, why, 64);

	*patch = r == 0 ? model_md_patch(&ch, NULL) : NULL;
	md_set_release(&b);
	md_set_release(&s);
	md_set_release(&c);
	md_set_release(&ch);
	return r;
}

/* A read-only rule for "drafts": only dc.title and dc.subject offered. */
static int form_ro(const char *name, void *ctx)
{
	(void)ctx;
	return strcmp(name, "dc.title") && strcmp(name, "dc.subject");
}

/* What a saved file may be. */
static void test_parse(void)
{
	struct md_set m;
	char *t;

	is_int(model_parse_md_file("", 0, &m), -EINVAL, "empty file refused");
	is_int(model_parse_md_file("{}", 2, &m), -EINVAL, "{} refused");
	is_int(model_parse_md_file("[]", 2, &m), -EINVAL, "array refused");
	is_int(model_parse_md_file("{\"a\": \"x\"}", 10, &m), -EINVAL,
	       "a value that is not a list refused");
	is_int(model_parse_md_file("{\"a\": [1]}", 10, &m), -EINVAL,
	       "a number refused");
	m = parse("{\"dc.title\": [\"T\"], \"dc.subject\": [{\"value\": \"P\", "
		  "\"language\": \"de\", \"authority\": null, \"confidence\": "
		  "-1}, \"q\"]}");
	is_int((int)m.n, 2, "two fields");
	is_str(m.f[0].name, "dc.subject", "sorted by name");
	is_str(m.f[0].v[0].language, "de", "language kept");
	t = model_render_md(&m);
	is_str(t,
	       "{\n  \"dc.subject\": [\n    {\n      \"value\": \"P\",\n"
	       "      \"language\": \"de\",\n      \"authority\": null,\n"
	       "      \"confidence\": -1\n    },\n    \"q\"\n  ],\n"
	       "  \"dc.title\": [\n    \"T\"\n  ]\n}\n",
	       "rendered: strings unless more is set");
	free(t);
	md_set_release(&m);
}

/* The merge rules. */
static void test_merge(void)
{
	const char *base = "{\"dc.title\": [\"T\"], \"dc.subject\": [\"a\"], "
			   "\"dc.identifier.uri\": [\"h\"]}";
	char why[64], *p = NULL;

	is_int(merge(base,
		     "{\"dc.title\": [\"T\"], \"dc.subject\": [\"b\", \"c\"]}",
		     base, &p, why),
	       0, "a changed field, system field omitted");
	is_str(p,
	       "[{\"op\":\"remove\",\"path\":\"/metadata/dc.subject\"},"
	       "{\"op\":\"add\",\"path\":\"/metadata/dc.subject/-\","
	       "\"value\":{\"value\":\"b\",\"language\":null,"
	       "\"authority\":null,\"confidence\":-1}},"
	       "{\"op\":\"add\",\"path\":\"/metadata/dc.subject/-\","
	       "\"value\":{\"value\":\"c\",\"language\":null,"
	       "\"authority\":null,\"confidence\":-1}}]",
	       "remove then add /- per value");
	free(p);
	is_int(merge(base, "{\"dc.title\": [\"T\"]}", base, &p, why), 0,
	       "an omitted field");
	is_str(p, "[{\"op\":\"remove\",\"path\":\"/metadata/dc.subject\"}]",
	       "is removed");
	free(p);
	is_int(merge(base, "{\"dc.identifier.uri\": [\"x\"]}", base, &p, why),
	       -EACCES, "a system field changed: refused");
	is_str(why, "dc.identifier.uri", "and named");
	is_int(merge(base, "{\"dc.title\": [\"T2\"], \"dc.subject\": [\"b\"]}",
		     "{\"dc.title\": [\"T\"], \"dc.subject\": [\"web\"]}", &p,
		     why),
	       -EBUSY, "changed on the server meanwhile: refused");
	is_str(why, "dc.subject", "the field named");
	ok(p == NULL, "all or nothing");
	is_int(merge(base, "{\"dc.title\": [\"T\"], \"dc.subject\": [\"a\"]}",
		     "{\"dc.title\": [\"T\"], \"dc.subject\": [\"web\"]}", &p,
		     why),
	       0, "an untouched field changed on the server is kept");
	is_str(p, "[]", "nothing sent");
	free(p);
	is_int(merge(base, "{\"dc.title\": [\"T\"], \"dc.subject\": [\"b\"]}",
		     "{\"dc.title\": [\"T\"], \"dc.subject\": [\"b\"]}", &p,
		     why),
	       0, "the same save repeated");
	is_str(p, "[]", "sends nothing");
	free(p);
	ok(md_system_field("relation.isAuthorOfPublication"), "relation.*");
	ok(!md_system_field("dc.title"), "dc.title is not the system's");
}

/* Drafts: form-offered fields only, PATCH of the form's sections. */
static void test_draft(void)
{
	struct md_set b =
	    parse("{\"dc.title\": [\"T\"], \"dc.type\": [\"x\"]}");
	struct md_set s =
	    parse("{\"dc.title\": [\"U\"], \"dc.type\": [\"x\"]}");
	struct md_set s2 =
	    parse("{\"dc.title\": [\"T\"], \"dc.type\": [\"y\"]}");
	struct md_set ch;
	const char *sec[] = {"traditionalpageone"};
	char why[64], *p;

	is_int(md_merge(&b, &s, &b, form_ro, NULL, &ch, why, sizeof(why)), 0,
	       "draft: an offered field");
	p = model_md_patch(&ch, sec);
	is_str(p,
	       "[{\"op\":\"add\",\"path\":"
	       "\"/sections/traditionalpageone/dc.title\",\"value\":"
	       "[{\"value\":\"U\",\"language\":null,\"authority\":null,"
	       "\"confidence\":-1}]}]",
	       "the whole list into the form's section");
	free(p);
	md_set_release(&ch);
	is_int(md_merge(&b, &s2, &b, form_ro, NULL, &ch, why, sizeof(why)),
	       -EACCES, "draft: a field the form does not offer is read-only");
	md_set_release(&b);
	md_set_release(&s);
	md_set_release(&s2);
}

/* What the dspace layer reads of a draft: its sections and form. */
static void test_draft_json(void)
{
	const char *ws = "{\"id\": 7, \"sections\": {\"traditionalpageone\": "
			 "{\"dc.title\": [{\"value\": \"T\"}]}, \"upload\": "
			 "{\"files\": []}, \"license\": {\"granted\": false}}}";
	const char *form =
	    "{\"id\": \"traditionalpageone\", \"rows\": [{\"fields\": "
	    "[{\"selectableMetadata\": [{\"metadata\": \"dc.title\"}]}]}, "
	    "{\"fields\": [{\"selectableMetadata\": [{\"metadata\": "
	    "\"dc.identifier.isbn\"}, {\"metadata\": "
	    "\"dc.identifier.issn\"}]}]}]}";
	char **v = NULL;
	size_t n = 0;
	int64_t id = 0;

	is_int(model_parse_workspace(ws, strlen(ws), &id, &v, &n), 0,
	       "workspace item parsed");
	ok(id == 7 && n == 3, "its id and three sections");
	model_strv_release(v, n);
	is_int(model_parse_form_fields(form, strlen(form), &v, &n), 0,
	       "form parsed");
	ok(n == 3 && !strcmp(v[2], "dc.identifier.issn"),
	   "every selectable field of every row");
	model_strv_release(v, n);
	is_int(model_parse_workspace("{}", 2, &id, &v, &n), -EPROTO,
	       "not a workspace item");
}

int main(void)
{
	test_parse();
	test_draft_json();
	test_merge();
	test_draft();
	return tap_done();
}
