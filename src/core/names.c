/* names: safe, unique directory entry names (see names.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/names.h"

#define EXT_MAX 10    /* letters/digits after the dot of a kept extension */
#define MAX_ROUNDS 64 /* bound on disambiguation rounds */

/* Decodes one UTF-8 sequence at s (len > 0 bytes left). Returns the number
 * of bytes consumed (at least 1) and the code point, or 0xFFFFFFFF for an
 * invalid maximal subpart. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t need, i;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		need = 1;
		v = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		v = c & 0x0F;
		if (c == 0xE0)
			lo = 0xA0; /* no overlong forms */
		else if (c == 0xED)
			hi = 0x9F; /* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		v = c & 0x07;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F; /* nothing above U+10FFFF */
	} else {
		*cp = 0xFFFFFFFF;
		return 1;
	}
	for (i = 1; i <= need; i++) {
		if (i >= len || s[i] < lo || s[i] > hi) {
			*cp = 0xFFFFFFFF;
			return i;
		}
		v = (v << 6) | (s[i] & 0x3F);
		lo = 0x80;
		hi = 0xBF;
	}
	*cp = v;
	return need + 1;
}

/* Appends cp as UTF-8 to out; returns the number of bytes written. */
static size_t utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* White space that is trimmed from both ends of a name. */
static int is_space(uint32_t cp)
{
	return cp == 0x20 || cp == 0xA0 || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200B) || cp == 0x2028 || cp == 0x2029 ||
	       cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

/* Length of the trailing white space-free prefix of valid UTF-8 s[0..len). */
static size_t rtrim_len(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t end = 0, i = 0;
	uint32_t cp;

	while (i < len) {
		size_t k = utf8_decode(u + i, len - i, &cp);

		i += k;
		if (!is_space(cp))
			end = i;
	}
	return end;
}

/* The largest prefix length <= max of valid UTF-8 s that ends on a
 * character boundary. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

/* Length of the extension of s (".pdf": the dot and 1-EXT_MAX ASCII
 * letters or digits, the dot not at the start), or 0. */
static size_t ext_len(const char *s, size_t len)
{
	size_t i = len;

	while (i > 0 && len - i <= EXT_MAX) {
		unsigned char c = (unsigned char)s[i - 1];

		if (c == '.')
			return (i - 1 > 0 && i < len) ? len - i + 1 : 0;
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z')))
			return 0;
		i--;
	}
	return 0;
}

/* Builds stem + mid + extension into a new string of at most NAMES_MAX
 * bytes; the stem (s without its extension, or all of s when keep_ext is
 * 0) is cut on a UTF-8 boundary and right-trimmed when it must shrink. */
static char *compose(const char *s, const char *mid, int keep_ext)
{
	size_t len = strlen(s), mlen = mid ? strlen(mid) : 0;
	size_t elen = keep_ext ? ext_len(s, len) : 0;
	size_t stem = len - elen, room = NAMES_MAX - mlen - elen;
	char *out;

	if (stem > room) {
		stem = utf8_cut(s, stem, room);
		stem = rtrim_len(s, stem);
	}
	out = malloc(stem + mlen + elen + 1);
	if (!out)
		return NULL;
	memcpy(out, s, stem);
	if (mlen)
		memcpy(out + stem, mid, mlen);
	memcpy(out + stem + mlen, s + len - elen, elen);
	out[stem + mlen + elen] = '\0';
	return out;
}

char *names_make_safe(const char *raw)
{
	const unsigned char *u = (const unsigned char *)(raw ? raw : "");
	size_t len = strlen((const char *)u), i = 0, o = 0;
	size_t first = (size_t)-1, end = 0;
	int last_space = 0;
	char *tmp, *out;
	uint32_t cp;

	/* Every input byte becomes at most 3 output bytes (U+FFFD, U+FF0F). */
	tmp = malloc(len * 3 + 1);
	if (!tmp)
		return NULL;
	while (i < len) {
		size_t start = o;

		i += utf8_decode(u + i, len - i, &cp);
		if (cp == 0xFFFFFFFF)
			cp = 0xFFFD;
		else if (cp == '/')
			cp = 0xFF0F;
		else if (cp >= 0x09 && cp <= 0x0D) {
			if (last_space)
				continue;
			cp = ' ';
		} else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
			continue;
		o += utf8_encode(cp, tmp + o);
		last_space = is_space(cp);
		if (!last_space) {
			if (first == (size_t)-1)
				first = start;
			end = o;
		}
	}
	if (first == (size_t)-1) {
		first = 0;
		end = 0;
	}
	tmp[end] = '\0';
	if (end == first)
		out = strdup("untitled");
	else if (strcmp(tmp + first, ".") == 0)
		out = strdup("\xEF\xBC\x8E");
	else if (strcmp(tmp + first, "..") == 0)
		out = strdup("\xEF\xBC\x8E\xEF\xBC\x8E");
	else
		out = compose(tmp + first, NULL, 1);
	free(tmp);
	return out;
}

/* Working state of one entry during names_assign. */
struct slot {
	struct names_entry *e;
	char *safe;
	char hex[33];	 /* the UUID's hex digits, lower case */
	char opt[5][40]; /* the suffixes to try, in turn: " [x]" */
	int nopt;
	int level;	/* 0: no suffix; k: opt[k - 1] */
	unsigned extra; /* last-resort counter (equal UUIDs), 0 unused */
	char *cur;	/* the name at the current level */
};

/* Whether c may appear in a handle suffix. */
static int handle_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '.' || c == '-' || c == '_';
}

/* Adds a suffix option to a slot unless it repeats the previous one. */
static void slot_add_opt(struct slot *s, const char *x, int xlen)
{
	char tmp[sizeof(s->opt[0])];

	if (xlen <= 0)
		return;
	snprintf(tmp, sizeof(tmp), " [%.*s]", xlen, x);
	if (s->nopt > 0 && strcmp(s->opt[s->nopt - 1], tmp) == 0)
		return;
	memcpy(s->opt[s->nopt++], tmp, sizeof(tmp));
}

/* Fills hex and the suffix options of a slot from its entry. */
static void slot_ids(struct slot *s)
{
	static const int hexlen[] = {8, 12, 16, 32};
	const char *p = s->e->uuid ? s->e->uuid : "";
	const char *h = s->e->handle;
	int n = 0;

	for (; *p && n < 32; p++) {
		char c = *p;

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
			s->hex[n++] = c;
	}
	s->hex[n] = '\0';
	if (h) {
		const char *last = strrchr(h, '/');
		int k = 0;

		last = last ? last + 1 : h;
		while (last[k] && k < 24 && handle_char(last[k]))
			k++;
		if (last[k] == '\0')
			slot_add_opt(s, last, k);
	}
	for (size_t i = 0; i < sizeof(hexlen) / sizeof(hexlen[0]); i++)
		slot_add_opt(s, s->hex, hexlen[i] < n ? hexlen[i] : n);
}

/* Recomputes s->cur from its level and extra counter. 0 or -ENOMEM. */
static int slot_name(struct slot *s)
{
	char mid[64];

	free(s->cur);
	s->cur = NULL;
	if (s->extra)
		snprintf(mid, sizeof(mid), " [%s%s%u]", s->hex,
			 s->hex[0] ? " " : "", s->extra + 1);
	else if (s->level > 0)
		snprintf(mid, sizeof(mid), "%s", s->opt[s->level - 1]);
	if (s->level == 0 && s->extra == 0)
		s->cur = strdup(s->safe);
	else
		s->cur = compose(s->safe, mid, !s->e->is_dir);
	return s->cur ? 0 : -ENOMEM;
}

/* Orders slots by current name, then by identity, for grouping. */
static int slot_cmp(const void *a, const void *b)
{
	const struct slot *x = *(const struct slot *const *)a;
	const struct slot *y = *(const struct slot *const *)b;
	int c = strcmp(x->cur, y->cur);

	if (c)
		return c;
	c = strcmp(x->hex, y->hex);
	if (c)
		return c;
	c = strcmp(x->e->raw ? x->e->raw : "", y->e->raw ? y->e->raw : "");
	if (c)
		return c;
	c = strcmp(x->nopt ? x->opt[0] : "", y->nopt ? y->opt[0] : "");
	if (c)
		return c;
	return x->e->is_dir - y->e->is_dir;
}

/* Whether a slot has no suffix levels left. */
static int slot_exhausted(const struct slot *s)
{
	return s->level >= s->nopt;
}

/* Moves the colliding members order[a..b) one step on. When drafts
 * (yields) collide with other entries, only the drafts step: a draft never
 * takes an archived sibling's name. all_out: every member is exhausted. */
static int step_group(struct slot **order, size_t a, size_t b, int all_out,
		      unsigned base)
{
	int firm = 0, yielding = 0;
	size_t i;

	for (i = a; i < b; i++) {
		if (order[i]->e->yields && !slot_exhausted(order[i]))
			yielding = 1;
		else if (!order[i]->e->yields)
			firm = 1;
	}
	for (i = a; i < b; i++) {
		if (all_out)
			order[i]->extra += (unsigned)(i - a) + base;
		else if (firm && yielding && !order[i]->e->yields)
			continue;
		else if (!slot_exhausted(order[i]))
			order[i]->level++;
		if (slot_name(order[i]) < 0)
			return -ENOMEM;
	}
	return 0;
}

int names_assign(struct names_entry *v, size_t n)
{
	struct slot *slots = NULL, **order = NULL;
	int r = -ENOMEM, round;
	size_t i;

	for (i = 0; i < n; i++)
		v[i].name = NULL;
	if (n == 0)
		return 0;
	slots = calloc(n, sizeof(*slots));
	order = calloc(n, sizeof(*order));
	if (!slots || !order)
		goto out;
	for (i = 0; i < n; i++) {
		slots[i].e = &v[i];
		slot_ids(&slots[i]);
		slots[i].safe = names_make_safe(v[i].raw);
		if (!slots[i].safe || slot_name(&slots[i]) < 0)
			goto out;
		order[i] = &slots[i];
	}
	/* Each round depends only on the set of (entry, level), so the
	 * outcome does not depend on the order of v. */
	for (round = 0; round < MAX_ROUNDS; round++) {
		int collided = 0;
		size_t a = 0, b;

		qsort(order, n, sizeof(*order), slot_cmp);
		while (a < n) {
			int all_out = 1;

			for (b = a + 1;
			     b < n && !strcmp(order[a]->cur, order[b]->cur);
			     b++)
				;
			if (b - a < 2) {
				a = b;
				continue;
			}
			collided = 1;
			for (i = a; i < b; i++)
				if (!slot_exhausted(order[i]))
					all_out = 0;
			if (step_group(order, a, b, all_out,
				       (unsigned)round * (unsigned)n) < 0)
				goto out;
			a = b;
		}
		if (!collided)
			break;
	}
	for (i = 0; i < n; i++) {
		v[i].name = slots[i].cur;
		slots[i].cur = NULL;
	}
	r = 0;
out:
	for (i = 0; slots && i < n; i++) {
		free(slots[i].safe);
		free(slots[i].cur);
	}
	free(slots);
	free(order);
	return r;
}

void names_release(struct names_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		v[i].name = NULL;
	}
}
