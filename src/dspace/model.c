/* model: DSpace HAL JSON → plain C structs, and the JSON bodies we send.
 * The only file that includes jansson.h. Everything the server sends is
 * untrusted: every field is type-checked, and a document we cannot use is
 * -EPROTO with a log line, never a crash. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>

#include <jansson.h>

#include "util/log.h"
#include "dspace/model.h"

/* What a list of embedded children looked like. */
struct emb_page {
	json_t *arr;  /* the entries, or NULL when nothing was embedded */
	int complete; /* every entry arrived */
};

/* Lower-case name of a dso type. */
const char *dso_type_name(enum dso_type t)
{
	switch (t) {
	case DSO_COMMUNITY:
		return "community";
	case DSO_COLLECTION:
		return "collection";
	case DSO_ITEM:
		return "item";
	case DSO_BUNDLE:
		return "bundle";
	case DSO_BITSTREAM:
		return "bitstream";
	case DSO_NONE:
		break;
	}
	return "root";
}

/* The dso type named by a HAL "type" field; DSO_NONE if unknown. */
enum dso_type dso_type_from_name(const char *s)
{
	static const enum dso_type all[] = {
	    DSO_COMMUNITY, DSO_COLLECTION, DSO_ITEM, DSO_BUNDLE, DSO_BITSTREAM};
	size_t i;

	if (!s)
		return DSO_NONE;
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(s, dso_type_name(all[i])) == 0)
			return all[i];
	return DSO_NONE;
}

/* Frees what a dso owns and leaves it zeroed. */
void dso_release(struct dso *d)
{
	size_t i;

	if (!d)
		return;
	free(d->name);
	free(d->handle);
	free(d->mime);
	for (i = 0; i < d->nmeta; i++) {
		free(d->meta[i].key);
		free(d->meta[i].value);
	}
	free(d->meta);
	memset(d, 0, sizeof(*d));
	d->size = -1;
}

/* Frees every dso in a list and the list's array. */
void dso_list_release(struct dso_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		dso_release(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
	l->alloc = 0;
}

/* Frees the next link of a page_info. */
void page_info_release(struct page_info *p)
{
	if (!p)
		return;
	free(p->next);
	p->next = NULL;
}

/* Appends a zeroed dso to a list (pointers into the list die on the next
 * push). */
struct dso *dso_list_push(struct dso_list *l)
{
	struct dso *d;

	if (l->n == l->alloc) {
		size_t na = l->alloc ? l->alloc * 2 : 16;
		struct dso *nv;

		if (na > SIZE_MAX / sizeof(*nv))
			return NULL;
		nv = realloc(l->v, na * sizeof(*nv));
		if (!nv)
			return NULL;
		l->v = nv;
		l->alloc = na;
	}
	d = &l->v[l->n++];
	memset(d, 0, sizeof(*d));
	d->size = -1;
	return d;
}

/* First value of a metadata field (borrowed), or NULL. */
const char *dso_meta(const struct dso *d, const char *key)
{
	size_t i;

	for (i = 0; i < d->nmeta; i++)
		if (strcmp(d->meta[i].key, key) == 0)
			return d->meta[i].value;
	return NULL;
}

/* A string member of an object, or NULL when absent or not a string. */
static const char *jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* An object member of an object, or NULL. */
static json_t *jobj(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_object(v) ? v : NULL;
}

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A copy of json in which each byte that is not valid UTF-8 is replaced
 * by the escape BAD_ESC (a JSON string escape of a noncharacter), so that
 * one damaged string spoils only the entry that holds it; NULL when the
 * text is valid (or on ENOMEM: then the text is parsed as it is). */
#define BAD_ESC "\\uffff"
#define BAD_UTF8 "\xef\xbf\xbf" /* U+FFFF as the parser decodes it */
static char *utf8_mend(const char *json, size_t len, size_t *outlen)
{
	const unsigned char *p = (const unsigned char *)json;
	size_t i = 0, bad = 0, k, o = 0;
	char *out;

	for (i = 0; i < len; i += k ? k : 1)
		if (!(k = utf8_seq(p + i, len - i)))
			bad++;
	if (!bad || bad > (SIZE_MAX - len) / 6)
		return NULL;
	out = malloc(len + bad * 5 + 1);
	if (!out)
		return NULL;
	for (i = 0; i < len; i += k ? k : 1) {
		k = utf8_seq(p + i, len - i);
		if (k) {
			memcpy(out + o, p + i, k);
			o += k;
		} else {
			memcpy(out + o, BAD_ESC, 6);
			o += 6;
		}
	}
	out[o] = 0;
	*outlen = o;
	return out;
}

/* Parses JSON text; NULL (with a log line) when it is not an object.
 * NUL characters and invalid UTF-8 inside strings are let through here
 * (marked, see utf8_mend) and rejected per entry by damaged(). */
static json_t *load_object(const char *json, size_t len, const char *what)
{
	json_error_t err;
	json_t *root;
	char *mended;
	size_t mlen = 0;

	if (!json) {
		log_warn("%s: empty response", what);
		return NULL;
	}
	mended = utf8_mend(json, len, &mlen);
	root = mended ? json_loadb(mended, mlen, JSON_ALLOW_NUL, &err)
		      : json_loadb(json, len, JSON_ALLOW_NUL, &err);
	free(mended);
	if (!root) {
		log_warn("%s: malformed JSON at line %d column %d: %s", what,
			 err.line, err.column, err.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		log_warn("%s: JSON document is not an object", what);
		json_decref(root);
		return NULL;
	}
	return root;
}

/* Copies s if it is a canonical UUID, lower-cased, into out[UUID_LEN+1]. */
static int uuid_copy(char *out, const char *s)
{
	size_t i;

	if (!s || strlen(s) != UUID_LEN)
		return -EINVAL;
	for (i = 0; i < UUID_LEN; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return -EINVAL;
		} else if (!isxdigit(c)) {
			return -EINVAL;
		}
		out[i] = (char)tolower(c);
	}
	out[UUID_LEN] = 0;
	return 0;
}

/* Whether s is a canonical UUID (either case). */
int model_uuid_valid(const char *s)
{
	char tmp[UUID_LEN + 1];

	return uuid_copy(tmp, s) == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), so that no TZ or timegm() is involved. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Reads exactly n digits at *p into *v and advances *p. */
static int digits(const char **p, int n, int *v)
{
	int i, x = 0;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		x = x * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*v = x;
	return 0;
}

/* ISO-8601 "YYYY-MM-DDTHH:MM:SS[.frac][Z|±HH:MM|±HHMM]" → Unix seconds
 * (UTC). No zone means UTC. Returns 0 or -EINVAL. */
int model_parse_time(const char *s, int64_t *out)
{
	const char *p = s;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	static const int mdays[] = {31, 29, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};

	if (!s || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
	    *p++ != '-' || digits(&p, 2, &d) ||
	    (*p != 'T' && *p != 't' && *p != ' '))
		return -EINVAL;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) ||
	    *p++ != ':' || digits(&p, 2, &sec))
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || sec > 60)
		return -EINVAL;
	if (*p == '.' || *p == ',') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (digits(&p, 2, &oh))
			return -EINVAL;
		if (*p == ':')
			p++;
		if (*p && digits(&p, 2, &om))
			return -EINVAL;
		if (oh > 23 || om > 59)
			return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
	       sign * (oh * 3600 + om * 60);
	return 0;
}

/* One metadata value while sorting by place. */
struct mval {
	int64_t place;
	size_t idx;
	const char *value;
};

/* Orders metadata values by place, then by their position in the array. */
static int mval_cmp(const void *a, const void *b)
{
	const struct mval *x = a, *y = b;

	if (x->place != y->place)
		return x->place < y->place ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Joins the values of one metadata array by '\n' in place order; NULL
 * value (and 0) when the array holds no usable value, -ENOMEM. */
static int meta_join(const json_t *arr, char **out)
{
	struct mval *v;
	size_t i, n = 0, total = 0, off = 0;
	json_t *e;
	char *s;

	*out = NULL;
	if (json_array_size(arr) == 0)
		return 0;
	v = calloc(json_array_size(arr), sizeof(*v));
	if (!v)
		return -ENOMEM;
	json_array_foreach(arr, i, e)
	{
		const char *val = json_is_object(e) ? jstr(e, "value") : NULL;
		json_t *pl = json_object_get(e, "place");

		if (!val)
			continue;
		v[n].place =
		    json_is_integer(pl) ? json_integer_value(pl) : (int64_t)i;
		v[n].idx = i;
		v[n].value = val;
		total += strlen(val) + 1;
		n++;
	}
	if (n == 0) {
		free(v);
		return 0;
	}
	qsort(v, n, sizeof(*v), mval_cmp);
	s = malloc(total);
	if (!s) {
		free(v);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		size_t l = strlen(v[i].value);

		memcpy(s + off, v[i].value, l);
		off += l;
		s[off++] = i + 1 < n ? '\n' : 0;
	}
	free(v);
	*out = s;
	return 0;
}

/* Fills d->meta from a "metadata" object (absent or mistyped: none). */
static int parse_metadata(const json_t *md, struct dso *d)
{
	const char *key;
	json_t *arr;
	size_t n = json_object_size(md);

	if (!json_is_object(md) || n == 0)
		return 0;
	d->meta = calloc(n, sizeof(*d->meta));
	if (!d->meta)
		return -ENOMEM;
	json_object_foreach((json_t *)md, key, arr)
	{
		char *val;
		int rc;

		if (!json_is_array(arr))
			continue;
		rc = meta_join(arr, &val);
		if (rc)
			return rc;
		if (!val)
			continue;
		d->meta[d->nmeta].key = strdup(key);
		if (!d->meta[d->nmeta].key) {
			free(val);
			return -ENOMEM;
		}
		d->meta[d->nmeta++].value = val;
	}
	return 0;
}

/* Copies checkSum.value into d->md5 when the algorithm is MD5 and the
 * value is 32 hex digits; otherwise leaves it empty. */
static void parse_checksum(const json_t *cs, struct dso *d)
{
	const char *alg = jstr(cs, "checkSumAlgorithm");
	const char *val = jstr(cs, "value");
	size_t i;

	if (!alg || !val || strcasecmp(alg, "MD5") != 0)
		return;
	if (strlen(val) != 32)
		goto bad;
	for (i = 0; i < 32; i++) {
		if (!isxdigit((unsigned char)val[i]))
			goto bad;
		d->md5[i] = (char)tolower((unsigned char)val[i]);
	}
	d->md5[32] = 0;
	return;
bad:
	d->md5[0] = 0;
	log_warn("bitstream %s: ignoring malformed MD5 checksum", d->uuid);
}

/* Looks at a HAL embedded list value: either an embedded page
 * {"_embedded":{rel:[...]}, "page":{...}} or a plain array. */
static int embedded_list(const json_t *v, const char *rel, struct emb_page *ep)
{
	const json_t *page, *tot, *inner;

	ep->arr = NULL;
	ep->complete = 0;
	if (!v)
		return 0;
	if (json_is_array(v)) {
		ep->arr = (json_t *)v;
		ep->complete = 1;
		return 0;
	}
	if (!json_is_object(v))
		return -EPROTO;
	inner = json_object_get(jobj(v, "_embedded"), rel);
	if (inner && !json_is_array(inner))
		return -EPROTO;
	ep->arr = (json_t *)inner;
	page = jobj(v, "page");
	tot = json_object_get(page, "totalElements");
	if (!page)
		ep->complete = 1;
	else if (json_is_integer(tot))
		ep->complete = json_integer_value(tot) <=
			       (json_int_t)json_array_size(inner);
	/* an embedded page that is not the first one cannot be complete */
	if (page && json_is_integer(json_object_get(page, "number")) &&
	    json_integer_value(json_object_get(page, "number")) != 0)
		ep->complete = 0;
	return 0;
}

static int parse_dso(const json_t *o, const char *parent, int64_t pos,
		     int64_t inherit_mtime, struct dso_list *out);

/* Appends the entries of an embedded child list after their parent. */
static int parse_children(const json_t *arr, const char *parent, int64_t mtime,
			  enum dso_type want, struct dso_list *out)
{
	size_t i;
	json_t *e;
	int rc;

	json_array_foreach(arr, i, e)
	{
		size_t at = out->n;

		rc = parse_dso(e, parent, (int64_t)i, mtime, out);
		if (rc)
			return rc;
		if (out->n == at)
			continue; /* skipped as damaged */
		if (out->v[at].type != want) {
			log_warn("embedded %s under %s has type %s",
				 dso_type_name(want), parent,
				 dso_type_name(out->v[at].type));
			return -EPROTO;
		}
	}
	return 0;
}

/* Fills the scalar fields of d from object o. */
static int parse_fields(const json_t *o, struct dso *d, int64_t inherit_mtime)
{
	const char *uuid = jstr(o, "uuid"), *tname = jstr(o, "type");
	const char *s;
	const json_t *sz;

	if (!uuid)
		uuid = jstr(o, "id");
	if (uuid_copy(d->uuid, uuid)) {
		log_warn("object without a valid uuid (type %s)",
			 tname ? tname : "?");
		return -EPROTO;
	}
	d->type = dso_type_from_name(tname);
	if (d->type == DSO_NONE) {
		log_warn("object %s has unknown type \"%s\"", d->uuid,
			 tname ? tname : "");
		return -EPROTO;
	}
	s = jstr(o, "name");
	d->name = strdup(s ? s : "");
	if (!d->name)
		return -ENOMEM;
	s = jstr(o, "handle");
	if (s && !(d->handle = strdup(s)))
		return -ENOMEM;
	sz = json_object_get(o, "sizeBytes");
	if (d->type == DSO_BITSTREAM && json_is_integer(sz) &&
	    json_integer_value(sz) >= 0 &&
	    json_integer_value(sz) <= MODEL_SIZE_MAX)
		d->size = json_integer_value(sz);
	else if (d->type == DSO_BITSTREAM)
		log_info("bitstream %s: sizeBytes missing or out of range; "
			 "size unknown (asked from the server on first use)",
			 d->uuid);
	if (d->type == DSO_BITSTREAM)
		parse_checksum(jobj(o, "checkSum"), d);
	d->mtime = inherit_mtime;
	s = jstr(o, "lastModified");
	if (s && model_parse_time(s, &d->mtime)) {
		log_debug("object %s: unparsable lastModified \"%s\"", d->uuid,
			  s);
		d->mtime = inherit_mtime;
	}
	s = jstr(jobj(jobj(o, "_embedded"), "format"), "mimetype");
	if (s && *s && !(d->mime = strdup(s)))
		return -ENOMEM;
	return parse_metadata(json_object_get(o, "metadata"), d);
}

/* Whether a string holds a NUL or a byte that was not valid UTF-8. */
static int bad_text(const char *s, size_t len)
{
	return strlen(s) != len || strstr(s, BAD_UTF8) != NULL;
}

/* Whether v (an object's own members, not what it embeds or links when
 * top is set) holds a damaged string or key. depth bounds the walk. */
static int damaged(const json_t *v, int top, int depth)
{
	const char *key;
	json_t *m;
	size_t i;

	if (depth > 32)
		return 0;
	if (json_is_string(v))
		return bad_text(json_string_value(v), json_string_length(v));
	if (json_is_array(v)) {
		json_array_foreach(v, i,
				   m) if (damaged(m, 0, depth + 1)) return 1;
		return 0;
	}
	if (!json_is_object(v))
		return 0;
	json_object_foreach((json_t *)v, key, m)
	{
		if (top &&
		    (!strcmp(key, "_embedded") || !strcmp(key, "_links")))
			continue;
		if (strstr(key, BAD_UTF8) || damaged(m, 0, depth + 1))
			return 1;
	}
	return 0;
}

/* Logs an entry skipped because of damaged text, by UUID when it has one. */
static void log_damaged(const json_t *o)
{
	const char *u = jstr(o, "uuid"), *t = jstr(o, "type");

	if (!u || bad_text(u, strlen(u)) || !model_uuid_valid(u))
		u = "(no valid uuid)";
	log_warn("%s %s skipped: its JSON holds a NUL character or invalid "
		 "UTF-8",
		 t && model_uuid_valid(u) ? t : "object", u);
}

/* Appends the object o and then its embedded descendants. An object
 * whose own text is damaged is skipped (logged; nothing appended). */
static int parse_dso(const json_t *o, const char *parent, int64_t pos,
		     int64_t inherit_mtime, struct dso_list *out)
{
	struct dso *d;
	struct emb_page ep;
	const json_t *emb;
	const char *rel;
	enum dso_type ctype, type;
	char uuid[UUID_LEN + 1];
	int64_t mtime;
	size_t at;
	int rc;

	if (!json_is_object(o)) {
		log_warn("list entry is not a JSON object");
		return -EPROTO;
	}
	if (damaged(o, 1, 0)) {
		log_damaged(o);
		return 0;
	}
	at = out->n;
	d = dso_list_push(out);
	if (!d)
		return -ENOMEM;
	if (parent)
		snprintf(d->parent, sizeof(d->parent), "%s", parent);
	d->position = pos;
	rc = parse_fields(o, d, inherit_mtime);
	if (rc)
		goto fail;
	type = d->type;
	mtime = d->mtime;
	memcpy(uuid, d->uuid, sizeof(uuid));
	if (type == DSO_ITEM) {
		rel = "bundles";
		ctype = DSO_BUNDLE;
	} else if (type == DSO_BUNDLE) {
		rel = "bitstreams";
		ctype = DSO_BITSTREAM;
	} else {
		return 0;
	}
	emb = json_object_get(jobj(o, "_embedded"), rel);
	rc = embedded_list(emb, rel, &ep);
	if (rc) {
		log_warn("%s %s: malformed embedded %s", dso_type_name(type),
			 uuid, rel);
		goto fail;
	}
	out->v[at].children_complete = emb ? ep.complete : 0;
	if (!ep.arr)
		return 0;
	rc = parse_children(ep.arr, uuid, mtime, ctype, out);
	if (rc)
		goto fail;
	return 0;
fail:
	/* drop this object and whatever it had appended */
	while (out->n > at)
		dso_release(&out->v[--out->n]);
	return rc;
}

/* Fills page from a HAL "page" object and a "_links" object. */
static int parse_page_info(const json_t *pg, const json_t *links,
			   struct page_info *page)
{
	const json_t *v;
	const char *next;

	if (!page)
		return 0;
	page_info_release(page);
	memset(page, 0, sizeof(*page));
	page->total_elements = -1;
	page->total_pages = -1;
	v = json_object_get(pg, "number");
	page->number = json_is_integer(v) ? json_integer_value(v) : 0;
	v = json_object_get(pg, "size");
	page->size = json_is_integer(v) ? json_integer_value(v) : 0;
	v = json_object_get(pg, "totalElements");
	if (json_is_integer(v))
		page->total_elements = json_integer_value(v);
	v = json_object_get(pg, "totalPages");
	if (json_is_integer(v))
		page->total_pages = json_integer_value(v);
	next = jstr(jobj(links, "next"), "href");
	if (next && *next && !(page->next = strdup(next)))
		return -ENOMEM;
	return 0;
}

/* Appends the array of list entries, undoing everything on failure. */
static int parse_entries(const json_t *arr, const char *parent,
			 struct dso_list *out)
{
	size_t i, start = out->n;
	json_t *e;
	int rc;

	json_array_foreach(arr, i, e)
	{
		rc = parse_dso(e, parent, (int64_t)i, 0, out);
		if (rc) {
			while (out->n > start)
				dso_release(&out->v[--out->n]);
			return rc;
		}
	}
	return 0;
}

/* A list page: _embedded.<rel>[]. */
int model_parse_page(const char *json, size_t len, const char *rel,
		     const char *parent_uuid, struct dso_list *out,
		     struct page_info *page)
{
	json_t *root = load_object(json, len, rel);
	const json_t *emb, *arr;
	int rc = -EPROTO;

	if (!root)
		return -EPROTO;
	emb = json_object_get(root, "_embedded");
	if (emb && !json_is_object(emb)) {
		log_warn("list of %s: _embedded is not an object", rel);
		goto out;
	}
	arr = json_object_get(emb, rel);
	if (arr && !json_is_array(arr)) {
		log_warn("list of %s: _embedded.%s is not an array", rel, rel);
		goto out;
	}
	rc = parse_entries(arr, parent_uuid, out);
	if (rc)
		goto out;
	rc = parse_page_info(jobj(root, "page"), jobj(root, "_links"), page);
out:
	json_decref(root);
	return rc;
}

/* A discovery page: _embedded.searchResult._embedded.objects[] with each
 * object's _embedded.indexableObject. */
int model_parse_discovery(const char *json, size_t len, const char *parent_uuid,
			  struct dso_list *out, struct page_info *page)
{
	json_t *root = load_object(json, len, "discovery");
	const json_t *sr, *objs, *e;
	size_t i, start = out->n;
	int rc = -EPROTO;

	if (!root)
		return -EPROTO;
	sr = jobj(jobj(root, "_embedded"), "searchResult");
	if (!sr) {
		log_warn("discovery: no _embedded.searchResult");
		goto out;
	}
	objs = json_object_get(jobj(sr, "_embedded"), "objects");
	if (objs && !json_is_array(objs)) {
		log_warn("discovery: objects is not an array");
		goto out;
	}
	json_array_foreach(objs, i, e)
	{
		const json_t *io =
		    jobj(jobj(e, "_embedded"), "indexableObject");

		if (!io) {
			log_warn("discovery: result %zu has no indexableObject",
				 i);
			rc = -EPROTO;
			goto undo;
		}
		rc = parse_dso(io, parent_uuid, (int64_t)i, 0, out);
		if (rc)
			goto undo;
	}
	rc = parse_page_info(jobj(sr, "page"), jobj(sr, "_links"), page);
	if (rc)
		goto undo;
	goto out;
undo:
	while (out->n > start)
		dso_release(&out->v[--out->n]);
out:
	json_decref(root);
	return rc;
}

/* A single object with whatever it embeds. */
int model_parse_object(const char *json, size_t len, const char *parent_uuid,
		       struct dso_list *out)
{
	json_t *root = load_object(json, len, "object");
	size_t start = out->n;
	int rc;

	if (!root)
		return -EPROTO;
	rc = parse_dso(root, parent_uuid, 0, 0, out);
	if (rc == 0 && out->n == start)
		rc = -EPROTO; /* skipped as damaged: nothing usable */
	json_decref(root);
	return rc;
}

/* The API root document's dspaceVersion. */
int model_parse_root(const char *json, size_t len, char **version)
{
	json_t *root = load_object(json, len, "API root");
	const char *v;
	int rc = -EPROTO;

	*version = NULL;
	if (!root)
		return -EPROTO;
	v = jstr(root, "dspaceVersion");
	if (!v || !jobj(root, "_links")) {
		log_warn("API root: no dspaceVersion or _links");
		goto out;
	}
	*version = strdup(v);
	rc = *version ? 0 : -ENOMEM;
out:
	json_decref(root);
	return rc;
}

/* Whether format f lists extension ext (any case). */
static int format_has_ext(const json_t *f, const char *ext)
{
	json_t *e, *arr = json_object_get(f, "extensions");
	size_t i;

	json_array_foreach(
	    arr, i, e) if (json_is_string(e) &&
			   !strcasecmp(json_string_value(e), ext)) return 1;
	return 0;
}

int model_format_for_ext(const char *json, size_t len, const char *ext,
			 int64_t *id, char **mime)
{
	json_t *root = load_object(json, len, "bitstream formats");
	json_t *arr, *f, *hit = NULL, *unknown = NULL;
	const char *m;
	size_t i;
	int rc = -ENOENT;

	*mime = NULL;
	if (!root)
		return -EPROTO;
	arr = json_object_get(jobj(root, "_embedded"), "bitstreamformats");
	json_array_foreach(arr, i, f)
	{
		const char *sd = jstr(f, "shortDescription");

		if (!hit && ext && *ext && format_has_ext(f, ext))
			hit = f;
		if (!unknown && sd && !strcmp(sd, "Unknown"))
			unknown = f;
	}
	if (!hit)
		hit = unknown;
	m = hit ? jstr(hit, "mimetype") : NULL;
	if (hit && json_is_integer(json_object_get(hit, "id")) && m) {
		*id = json_integer_value(json_object_get(hit, "id"));
		*mime = strdup(m);
		rc = *mime ? 0 : -ENOMEM;
	}
	json_decref(root);
	return rc;
}

/* The human-readable message of an error body: DSpace's "message", an
 * RFC 7807 "detail", or the status text "error". */
char *model_error_message(const char *json, size_t len)
{
	static const char *const keys[] = {"message", "detail", "error",
					   "title"};
	json_error_t err;
	json_t *root;
	char *msg = NULL;
	size_t i;

	if (!json || len == 0)
		return NULL;
	root = json_loadb(json, len, 0, &err);
	if (!json_is_object(root))
		goto out;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *s = jstr(root, keys[i]);

		if (s && *s) {
			msg = strdup(s);
			break;
		}
	}
out:
	json_decref(root);
	return msg;
}

/* The "exp" claim of a JWT payload. */
int model_jwt_exp(const char *json, size_t len, int64_t *exp)
{
	json_t *root = load_object(json, len, "JWT payload");
	const json_t *v;
	int rc = -EPROTO;

	if (!root)
		return -EPROTO;
	v = json_object_get(root, "exp");
	if (json_is_integer(v)) {
		*exp = json_integer_value(v);
		rc = 0;
	} else if (json_is_real(v) && json_real_value(v) > 0 &&
		   json_real_value(v) < 9e15) {
		*exp = (int64_t)json_real_value(v);
		rc = 0;
	}
	json_decref(root);
	return rc;
}

/* authn/status: the "authenticated" flag. */
int model_parse_status(const char *json, size_t len, int *authenticated)
{
	json_t *root = load_object(json, len, "authn status");
	const json_t *v;
	int rc = -EPROTO;

	if (!root)
		return -EPROTO;
	v = json_object_get(root, "authenticated");
	if (json_is_boolean(v)) {
		*authenticated = json_is_true(v);
		rc = 0;
	} else {
		log_warn("authn status: no boolean \"authenticated\"");
	}
	json_decref(root);
	return rc;
}

/* Serialises and frees a JSON value; NULL on failure. */
static char *dump(json_t *v)
{
	char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;

	json_decref(v);
	return s;
}

/* {"value": s, "language": null, "authority": null, "confidence": -1} */
static json_t *meta_value(const char *s)
{
	return json_pack("{s:s, s:n, s:n, s:i}", "value", s, "language",
			 "authority", "confidence", -1);
}

/* The text of a modification time in MODEL_MODIFIED_FIELD:
 * YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ. 0 or -EINVAL. */
static int modified_text(int64_t sec, int64_t ns, char *v, size_t len)
{
	time_t t = (time_t)sec;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(v, len, "%Y-%m-%dT%H:%M:%S", &tm))
		return -EINVAL;
	snprintf(v + strlen(v), len - strlen(v), ".%09lldZ",
		 (long long)(ns >= 0 && ns < 1000000000 ? ns : 0));
	return 0;
}

/* The multipart "properties" part of an upload: {"name": name}, plus the
 * modification time in its metadata when sec >= 0. */
char *model_upload_properties(const char *name, int64_t sec, int64_t ns)
{
	char v[64];
	json_t *mv;

	if (sec < 0)
		return dump(json_pack("{s:s}", "name", name));
	if (modified_text(sec, ns, v, sizeof(v)) < 0 || !(mv = meta_value(v)))
		return NULL;
	return dump(json_pack("{s:s, s:{s:[o]}}", "name", name, "metadata",
			      MODEL_MODIFIED_FIELD, mv));
}

/* The body that creates an archived, discoverable item titled title. */
char *model_item_create_body(const char *title)
{
	json_t *mv = meta_value(title);

	if (!mv)
		return NULL;
	return dump(json_pack("{s:s, s:b, s:b, s:b, s:s, s:{s:[o]}}", "name",
			      title, "inArchive", 1, "discoverable", 1,
			      "withdrawn", 0, "type", "item", "metadata",
			      "dc.title", mv));
}

/* The body that creates a bundle called name. */
char *model_bundle_create_body(const char *name)
{
	return dump(json_pack("{s:s, s:{}}", "name", name, "metadata"));
}

/* A JSON Patch replacing the first value of a metadata field. */
char *model_metadata_replace_patch(const char *field, const char *value)
{
	json_t *mv = meta_value(value);
	char path[300];

	if (!mv)
		return NULL;
	if ((size_t)snprintf(path, sizeof(path), "/metadata/%s/0", field) >=
	    sizeof(path)) {
		json_decref(mv);
		return NULL;
	}
	return dump(json_pack("[{s:s, s:s, s:o}]", "op", "replace", "path",
			      path, "value", mv));
}

/* A bitstream's modification time stored on the server (see model.h). */
int model_modified_time(const struct dso *d, int64_t *sec, int64_t *ns)
{
	const char *v = dso_meta(d, MODEL_MODIFIED_FIELD), *p;
	int64_t n = 0;
	int k = 0;

	if (!v || model_parse_time(v, sec) < 0)
		return -ENOENT;
	p = strchr(v, 'T');
	p = p ? strchr(p, '.') : NULL;
	for (p = p ? p + 1 : ""; k < 9; k++)
		n = n * 10 + (isdigit((unsigned char)*p) ? *p++ - '0' : 0);
	*ns = n;
	return 0;
}

/* The PATCH that stores (or removes) it. */
char *model_modified_patch(int64_t sec, int64_t ns)
{
	char v[64], path[] = "/metadata/" MODEL_MODIFIED_FIELD;
	json_t *mv, *ops;

	ops = json_pack("[{s:s, s:s}]", "op", "remove", "path", path);
	if (!ops || sec < 0)
		return dump(ops);
	if (modified_text(sec, ns, v, sizeof(v)) < 0) {
		json_decref(ops);
		return NULL;
	}
	mv = meta_value(v);
	if (!mv || json_array_append_new(ops, json_pack("{s:s, s:s, s:[o]}",
							"op", "add", "path",
							path, "value", mv))) {
		json_decref(ops);
		return NULL;
	}
	return dump(ops);
}

/* Frees the strings of one value. */
static void md_value_release(struct md_value *v)
{
	free(v->value);
	free(v->language);
	free(v->authority);
}

/* Frees every field of m and empties it. */
void md_set_release(struct md_set *m)
{
	size_t i, j;

	for (i = 0; i < m->n; i++) {
		for (j = 0; j < m->f[i].n; j++)
			md_value_release(&m->f[i].v[j]);
		free(m->f[i].v);
		free(m->f[i].name);
	}
	free(m->f);
	m->f = NULL;
	m->n = 0;
}

/* A copy of a JSON string member, NULL when absent, null or empty;
 * -EINVAL for another type. */
static int md_opt_string(const json_t *o, const char *key, char **out)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) ||
	    bad_text(json_string_value(v), json_string_length(v)))
		return -EINVAL;
	if (json_string_length(v) == 0)
		return 0;
	*out = strdup(json_string_value(v));
	return *out ? 0 : -ENOMEM;
}

/* One value from a string or an object with "value". */
static int md_parse_value(const json_t *j, struct md_value *v)
{
	const json_t *c;
	int rc;

	memset(v, 0, sizeof(*v));
	v->confidence = -1;
	if (json_is_string(j)) {
		if (bad_text(json_string_value(j), json_string_length(j)))
			return -EINVAL;
		v->value = strdup(json_string_value(j));
		return v->value ? 0 : -ENOMEM;
	}
	if (!json_is_object(j) || !json_is_string(json_object_get(j, "value")))
		return -EINVAL;
	rc = md_opt_string(j, "value", &v->value);
	if (!rc && !v->value)
		v->value = strdup("");
	if (!rc && !v->value)
		rc = -ENOMEM;
	if (!rc)
		rc = md_opt_string(j, "language", &v->language);
	if (!rc)
		rc = md_opt_string(j, "authority", &v->authority);
	c = json_object_get(j, "confidence");
	if (!rc && c && !json_is_null(c)) {
		if (!json_is_integer(c))
			rc = -EINVAL;
		else
			v->confidence = (int)json_integer_value(c);
	}
	if (rc)
		md_value_release(v);
	return rc;
}

/* The field name and values of one map member into f. */
static int md_parse_field(const char *name, const json_t *arr,
			  struct md_field *f)
{
	size_t i;
	int rc = 0;

	if (!json_is_array(arr) || !*name || bad_text(name, strlen(name)))
		return -EINVAL;
	f->name = strdup(name);
	f->v = calloc(json_array_size(arr) + 1, sizeof(*f->v));
	if (!f->name || !f->v)
		return -ENOMEM;
	for (i = 0; i < json_array_size(arr) && !rc; i++) {
		rc = md_parse_value(json_array_get(arr, i), &f->v[i]);
		if (!rc)
			f->n++;
	}
	return rc;
}

/* Compares fields by name (qsort). */
static int md_field_cmp(const void *a, const void *b)
{
	return strcmp(((const struct md_field *)a)->name,
		      ((const struct md_field *)b)->name);
}

/* A metadata map (field → array) into out. */
static int md_parse_map(const json_t *map, struct md_set *out)
{
	const char *key;
	json_t *val;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(map))
		return -EINVAL;
	out->f = calloc(json_object_size(map) + 1, sizeof(*out->f));
	if (!out->f)
		return -ENOMEM;
	json_object_foreach((json_t *)map, key, val)
	{
		rc = md_parse_field(key, val, &out->f[out->n]);
		out->n++;
		if (rc)
			break;
	}
	if (rc)
		md_set_release(out);
	else
		qsort(out->f, out->n, sizeof(*out->f), md_field_cmp);
	return rc;
}

/* The "metadata" map of an object's JSON (values in the server's order,
 * which is place order). */
int model_parse_md_object(const char *json, size_t len, struct md_set *out)
{
	json_t *root = json_loadb(json, len, 0, NULL);
	const json_t *md = root ? json_object_get(root, "metadata") : NULL;
	int rc;

	if (!md) {
		json_decref(root);
		log_error("metadata: no metadata map in the object");
		return -EPROTO;
	}
	rc = md_parse_map(md, out);
	json_decref(root);
	return rc == -EINVAL ? -EPROTO : rc;
}

/* A saved metadata.json; only a non-empty object of arrays is one. */
int model_parse_md_file(const char *text, size_t len, struct md_set *out)
{
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(root) || json_object_size(root) == 0) {
		json_decref(root);
		return -EINVAL;
	}
	rc = md_parse_map(root, out);
	json_decref(root);
	return rc;
}

/* One value as metadata.json shows it: a string unless it has more. */
static json_t *md_value_json(const struct md_value *v)
{
	if (!v->language && !v->authority && v->confidence == -1)
		return json_string(v->value);
	return json_pack("{s:s, s:s?, s:s?, s:i}", "value", v->value,
			 "language", v->language, "authority", v->authority,
			 "confidence", v->confidence);
}

/* metadata.json text of m. */
char *model_render_md(const struct md_set *m)
{
	json_t *root = json_object();
	char *s = NULL, *t = NULL;
	size_t i, j;

	for (i = 0; root && i < m->n; i++) {
		json_t *arr = json_array();

		for (j = 0; arr && j < m->f[i].n; j++)
			json_array_append_new(arr,
					      md_value_json(&m->f[i].v[j]));
		if (!arr || json_object_set_new(root, m->f[i].name, arr) < 0)
			goto out;
	}
	s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	t = s ? malloc(strlen(s) + 2) : NULL;
	if (t)
		snprintf(t, strlen(s) + 2, "%s\n", s);
out:
	free(s);
	json_decref(root);
	return t;
}

/* The JSON body of one value in a PATCH. */
static json_t *md_value_body(const struct md_value *v)
{
	return json_pack("{s:s, s:s?, s:s?, s:i}", "value", v->value,
			 "language", v->language, "authority", v->authority,
			 "confidence", v->confidence);
}

/* Appends op/path[/value] to ops; -1 on failure. */
static int md_op(json_t *ops, const char *op, const char *path, json_t *value)
{
	json_t *o = value ? json_pack("{s:s, s:s, s:o}", "op", op, "path", path,
				      "value", value)
			  : json_pack("{s:s, s:s}", "op", op, "path", path);

	return o ? json_array_append_new(ops, o) : -1;
}

/* The operations replacing field f whole into ops; -1 on failure. */
static int md_field_ops(json_t *ops, const struct md_field *f,
			const char *section)
{
	char path[512];
	json_t *arr;
	size_t j;

	if (section) {
		snprintf(path, sizeof(path), "/sections/%s/%s", section,
			 f->name);
		if (f->n == 0)
			return md_op(ops, "remove", path, NULL);
		arr = json_array();
		for (j = 0; arr && j < f->n; j++)
			json_array_append_new(arr, md_value_body(&f->v[j]));
		return arr ? md_op(ops, "add", path, arr) : -1;
	}
	snprintf(path, sizeof(path), "/metadata/%s", f->name);
	if (md_op(ops, "remove", path, NULL) < 0)
		return -1;
	snprintf(path, sizeof(path), "/metadata/%s/-", f->name);
	for (j = 0; j < f->n; j++)
		if (md_op(ops, "add", path, md_value_body(&f->v[j])) < 0)
			return -1;
	return 0;
}

/* JSON Patch replacing the fields of m whole. */
char *model_md_patch(const struct md_set *m, const char *const *sections)
{
	json_t *ops = json_array();
	size_t i;

	for (i = 0; ops && i < m->n; i++)
		if (strlen(m->f[i].name) > 300 ||
		    md_field_ops(ops, &m->f[i], sections ? sections[i] : NULL) <
			0) {
			json_decref(ops);
			return NULL;
		}
	return dump(ops);
}

/* How many entries a list page says it has (page.totalElements, or the
 * entries of _embedded.rel when no page object came). */
int model_page_total(const char *json, size_t len, const char *rel,
		     int64_t *total)
{
	json_t *root = json_loadb(json, len, 0, NULL);
	const json_t *pg = root ? json_object_get(root, "page") : NULL;
	const json_t *te = pg ? json_object_get(pg, "totalElements") : NULL;
	const json_t *emb = root ? json_object_get(root, "_embedded") : NULL;
	const json_t *arr = emb ? json_object_get(emb, rel) : NULL;
	int rc = 0;

	if (json_is_integer(te))
		*total = (int64_t)json_integer_value(te);
	else if (json_is_object(root))
		*total = json_is_array(arr) ? (int64_t)json_array_size(arr) : 0;
	else
		rc = -EPROTO;
	json_decref(root);
	return rc;
}

/* Appends a copy of s to the string list *v (*n entries). */
int model_strv_add(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strdup(s);
	if (!nv[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* Frees a string list. */
void model_strv_release(char **v, size_t n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

/* A workspace item: its id and the names of its sections. */
int model_parse_workspace(const char *json, size_t len, int64_t *id,
			  char ***sections, size_t *n)
{
	json_t *root = json_loadb(json, len, 0, NULL);
	const json_t *jid = root ? json_object_get(root, "id") : NULL;
	const json_t *sec = root ? json_object_get(root, "sections") : NULL;
	const char *key;
	json_t *val;
	int rc = 0;

	*sections = NULL;
	*n = 0;
	if (!json_is_integer(jid) || !json_is_object(sec)) {
		json_decref(root);
		log_error("workspace item: no id or sections");
		return -EPROTO;
	}
	*id = (int64_t)json_integer_value(jid);
	json_object_foreach((json_t *)sec, key, val)
	{
		if (!bad_text(key, strlen(key)) && !strchr(key, '/'))
			rc = rc ? rc : model_strv_add(sections, n, key);
	}
	json_decref(root);
	return rc;
}

/* The fields a submission form offers: rows[].fields[].selectableMetadata
 * [].metadata. */
int model_parse_form_fields(const char *json, size_t len, char ***fields,
			    size_t *n)
{
	json_t *root = json_loadb(json, len, 0, NULL);
	const json_t *rows = root ? json_object_get(root, "rows") : NULL;
	size_t i, j, k;
	int rc = 0;

	*fields = NULL;
	*n = 0;
	if (!json_is_array(rows)) {
		json_decref(root);
		return -EPROTO;
	}
	for (i = 0; i < json_array_size(rows); i++) {
		const json_t *fs =
		    json_object_get(json_array_get(rows, i), "fields");

		for (j = 0; j < json_array_size(fs); j++) {
			const json_t *sel = json_object_get(
			    json_array_get(fs, j), "selectableMetadata");

			for (k = 0; k < json_array_size(sel) && !rc; k++) {
				const json_t *md = json_object_get(
				    json_array_get(sel, k), "metadata");

				if (json_is_string(md))
					rc = model_strv_add(
					    fields, n, json_string_value(md));
			}
		}
	}
	json_decref(root);
	return rc;
}

/* The right a feature name grants (dspace.h DSO_RIGHT_*), or 0. */
static unsigned feature_right(const char *f, size_t len)
{
	static const struct {
		const char *name;
		unsigned right;
	} map[] = {
	    {"canEditMetadata", DSO_RIGHT_EDIT},
	    {"canDelete", DSO_RIGHT_DELETE},
	    {"canSubmit", DSO_RIGHT_ADD},
	    {"canManageBitstreamBundles", DSO_RIGHT_ADD},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strlen(map[i].name) == len && !memcmp(map[i].name, f, len))
			return map[i].right;
	return 0;
}

/* Adds the right of one authorization id to the object it names. */
static void authz_apply(const char *id, struct dso *v, size_t n)
{
	const char *obj = strrchr(id, '_');
	const char *end, *feat;

	if (!obj || obj == id)
		return;
	end = obj - 1;
	while (end > id && *end != '_')
		end--; /* back over "_core.item" */
	if (end == id)
		return;
	feat = end - 1;
	while (feat > id && feat[-1] != '_')
		feat--;
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(v[i].uuid, obj + 1))
			v[i].rights |=
			    feature_right(feat, (size_t)(end - feat));
}

int model_parse_authz(const char *json, size_t len, struct dso *v, size_t n)
{
	json_error_t err;
	json_t *root = json_loadb(json, len, 0, &err);
	json_t *list, *a;
	size_t i;

	if (!root)
		return -EPROTO;
	list = json_object_get(json_object_get(root, "_embedded"),
			       "authorizations");
	json_array_foreach(list, i, a)
	{
		const char *id = json_string_value(json_object_get(a, "id"));

		if (id)
			authz_apply(id, v, n);
	}
	json_decref(root);
	return 0;
}
