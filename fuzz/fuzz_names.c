/* fuzz_names: name sanitising and sibling disambiguation (src/names.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRIES 64

/* Length of the valid UTF-8 sequence at s (shortest form, no surrogates,
 * <= U+10FFFF), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Aborts unless s is a safe directory entry name (names.h's promises). */
static void check_safe(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), n;

	if (len == 0 || len > NAMES_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		abort();
	if (s[0] == ' ' || s[len - 1] == ' ')
		abort();
	for (; *p; p += n) {
		n = utf8_len(p);
		if (n == 0 || *p == '/' || *p < 0x20 || *p == 0x7f)
			abort();
		if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)
			abort(); /* a C1 control character */
	}
}

/* Splits the input at NUL bytes into fields: raw, uuid, handle, flags
 * (starting with 'd': a directory; holding 'y': a draft, which yields its
 * name), repeated. Returns the entry count. */
static size_t split(char *text, size_t size, struct names_entry *v)
{
	char *f[4];
	size_t n = 0, k = 0, off = 0;

	while (off <= size && n < MAX_ENTRIES) {
		f[k++] = text + off;
		off += strlen(text + off) + 1;
		if (k < 4 && off <= size)
			continue;
		while (k < 4)
			f[k++] = "";
		v[n].raw = f[0];
		v[n].uuid = f[1];
		v[n].handle = *f[2] ? f[2] : NULL;
		v[n].is_dir = f[3][0] == 'd';
		v[n].yields = strchr(f[3], 'y') != NULL;
		v[n].name = NULL;
		n++;
		k = 0;
	}
	return n;
}

/* Orders result keys bytewise. */
static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What of a handle names.c uses: its last part when it is a short run of
 * [0-9A-Za-z._-], else nothing. */
static void handle_id(const char *h, char *out, size_t outlen)
{
	const char *last = h ? strrchr(h, '/') : NULL;
	size_t k;

	*out = 0;
	if (!h)
		return;
	last = last ? last + 1 : h;
	k = strspn(last, "0123456789abcdefghijklmnopqrstuvwxyz"
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZ._-");
	if (k <= 24 && !last[k])
		snprintf(out, outlen, "%s", last);
}

/* What of a UUID names.c uses: its first 32 hex digits, lower case. */
static void uuid_id(const char *u, char *out)
{
	size_t n = 0;

	for (; *u && n < 32; u++)
		if (strchr("0123456789abcdefABCDEF", *u))
			out[n++] = (char)(*u | 0x20);
	out[n] = 0;
}

/* The suffixes names.c may give an entry, in order, as one string:
 * " [handle]", then 8, 12, 16 and 32 hex digits, repeats left out. */
static void suffixes(const char *hid, const char *hex, char *out, size_t len)
{
	static const size_t hexlen[] = {8, 12, 16, 32};
	size_t n = strlen(hex), i, l, prev = 0;
	char last[48] = "";

	*out = 0;
	if (*hid)
		snprintf(last, sizeof(last), " [%s]", hid);
	snprintf(out, len, "%s", last);
	for (i = 0; i < sizeof(hexlen) / sizeof(hexlen[0]); i++) {
		char opt[48];

		l = hexlen[i] < n ? hexlen[i] : n;
		if (!l)
			continue;
		snprintf(opt, sizeof(opt), " [%.*s]", (int)l, hex);
		if (!strcmp(opt, last) || l == prev)
			continue;
		prev = l;
		snprintf(last, sizeof(last), "%s", opt);
		l = strlen(out);
		snprintf(out + l, len - l, "%s", opt);
	}
}

/* One string per entry holding what names.c sees of it and its name,
 * sorted: equal for two runs that gave every entry the same name. */
static char **keys(const struct names_entry *v, size_t n)
{
	char **k = calloc(n, sizeof(*k)), hex[33], hid[32], sfx[256];
	size_t i, len;

	if (!k)
		abort();
	for (i = 0; i < n; i++) {
		uuid_id(v[i].uuid, hex);
		handle_id(v[i].handle, hid, sizeof(hid));
		suffixes(hid, hex, sfx, sizeof(sfx));
		len = strlen(v[i].raw) + strlen(v[i].name) + 340;
		k[i] = malloc(len);
		if (!k[i])
			abort();
		snprintf(k[i], len, "%s\x01%s\x01%s\x01%d\x01%s", v[i].raw, hex,
			 sfx, v[i].is_dir, v[i].name);
	}
	qsort(k, n, sizeof(*k), key_cmp);
	return k;
}

/* Names are safe and unique, and the same whatever the order of entries. */
static void check_assign(struct names_entry *v, size_t n)
{
	struct names_entry r[MAX_ENTRIES];
	char **k1, **k2;
	size_t i, j;

	if (names_assign(v, n) < 0)
		return;
	for (i = 0; i < n; i++) {
		check_safe(v[i].name);
		for (j = 0; j < i; j++)
			if (!strcmp(v[i].name, v[j].name))
				abort();
		r[n - 1 - i] = v[i];
		r[n - 1 - i].name = NULL;
	}
	if (names_assign(r, n) < 0)
		goto out;
	k1 = keys(v, n);
	k2 = keys(r, n);
	for (i = 0; i < n; i++) {
		if (strcmp(k1[i], k2[i]))
			abort();
		free(k1[i]);
		free(k2[i]);
	}
	free(k1);
	free(k2);
	names_release(r, n);
out:
	names_release(v, n);
}

/* Entry point: NUL-separated fields of up to MAX_ENTRIES siblings. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct names_entry v[MAX_ENTRIES];
	char *text = malloc(size + 1), *safe;
	size_t n, i;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	n = split(text, size, v);
	for (i = 0; i < n; i++) {
		safe = names_make_safe(v[i].raw);
		if (safe)
			check_safe(safe);
		free(safe);
	}
	check_assign(v, n);
	free(text);
	return 0;
}
