/* Unit tests for names.c: safe names and sibling disambiguation. */
#include <stdlib.h>
#include <string.h>

#include "core/names.h"
#include "tap.h"

/* Checks names_make_safe(raw) against want. */
static void safe_is(const char *raw, const char *want, const char *what)
{
	char *s = names_make_safe(raw);

	is_str(s, want, what);
	free(s);
}

/* Whether s is valid UTF-8 (strict: no overlongs, surrogates). */
static int valid_utf8(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	while (*u) {
		int n;

		if (*u < 0x80)
			n = 0;
		else if (*u >= 0xC2 && *u <= 0xDF)
			n = 1;
		else if (*u >= 0xE0 && *u <= 0xEF)
			n = 2;
		else if (*u >= 0xF0 && *u <= 0xF4)
			n = 3;
		else
			return 0;
		u++;
		while (n--) {
			if ((*u & 0xC0) != 0x80)
				return 0;
			u++;
		}
	}
	return 1;
}

/* The basic replacement rules. */
static void test_safe(void)
{
	safe_is("report.pdf", "report.pdf", "plain name unchanged");
	safe_is("a/b/c",
		"a\xEF\xBC\x8F"
		"b\xEF\xBC\x8F"
		"c",
		"slash → U+FF0F");
	safe_is("/", "\xEF\xBC\x8F", "lone slash");
	safe_is("a\x01"
		"b\x1f"
		"c\x7f"
		"d",
		"abcd", "C0 controls and DEL dropped");
	safe_is("a\xC2\x85"
		"b\xC2\x9F"
		"c",
		"abc", "C1 controls dropped");
	safe_is("a\xC2\xA0"
		"b",
		"a\xC2\xA0"
		"b",
		"inner NBSP kept (not a control)");
	safe_is("Title\r\nSubtitle", "Title Subtitle",
		"CR LF becomes one space");
	safe_is("a\tb", "a b", "tab becomes a space");
	safe_is("a\xFF"
		"b",
		"a\xEF\xBF\xBD"
		"b",
		"invalid byte → U+FFFD");
	safe_is("a\xE2\x82"
		"b",
		"a\xEF\xBF\xBD"
		"b",
		"truncated sequence → one U+FFFD");
	safe_is("\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD",
		"overlong '/' is two invalid bytes, not a slash");
	safe_is("\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD",
		"surrogate rejected");
	safe_is("\xF4\x90\x80\x80x",
		"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDx",
		"above U+10FFFF rejected");
	safe_is("\xE2\x82\xAC 5", "\xE2\x82\xAC 5", "euro sign kept");
	safe_is("\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80", "4-byte emoji kept");
	safe_is("  spaced  ", "spaced", "ASCII spaces trimmed");
	safe_is("\xE3\x80\x80\xC2\xA0x\xE2\x80\x83\xEF\xBB\xBF", "x",
		"Unicode spaces and BOM trimmed");
	safe_is("\n\tx\n", "x", "control white space trimmed");
	safe_is("a  b", "a  b", "inner spaces kept");
	safe_is("", "untitled", "empty → untitled");
	safe_is(NULL, "untitled", "NULL → untitled");
	safe_is("   ", "untitled", "blank → untitled");
	safe_is("\x01\x02", "untitled", "only controls → untitled");
	safe_is(".", "\xEF\xBC\x8E", "dot → U+FF0E");
	safe_is("..", "\xEF\xBC\x8E\xEF\xBC\x8E", "dot dot → two U+FF0E");
	safe_is(" .. ", "\xEF\xBC\x8E\xEF\xBC\x8E", "dot dot after trimming");
	safe_is("...", "...", "three dots are fine");
	safe_is(".hidden", ".hidden", "leading dot kept");
}

/* Cutting at 255 bytes. */
static void test_cut(void)
{
	char raw[1200], *s;
	size_t i;

	memset(raw, 'a', 300);
	raw[300] = '\0';
	s = names_make_safe(raw);
	is_int(strlen(s), 255, "300 ASCII bytes cut to 255");
	free(s);

	/* 100 × "é" (2 bytes) + ".pdf" = 204: not cut. */
	for (i = 0; i < 200; i += 2)
		memcpy(raw + i, "\xC3\xA9", 2);
	memcpy(raw + 200, ".pdf", 5);
	s = names_make_safe(raw);
	is_int(strlen(s), 204, "204 bytes not cut");
	free(s);

	/* 100 × "€" (3 bytes) + ".pdf" = 304 → cut, extension kept. */
	for (i = 0; i < 300; i += 3)
		memcpy(raw + i, "\xE2\x82\xAC", 3);
	memcpy(raw + 300, ".pdf", 5);
	s = names_make_safe(raw);
	ok(strlen(s) <= 255 && strlen(s) >= 253,
	   "multi-byte name cut near 255");
	ok(valid_utf8(s), "cut on a UTF-8 boundary");
	ok(strlen(s) > 4 && !strcmp(s + strlen(s) - 4, ".pdf"),
	   "extension kept when cutting");
	is_int((strlen(s) - 4) % 3, 0, "only whole euro signs before .pdf");
	free(s);

	/* 4-byte characters, no extension. */
	for (i = 0; i < 400; i += 4)
		memcpy(raw + i, "\xF0\x9F\x98\x80", 4);
	raw[400] = '\0';
	s = names_make_safe(raw);
	is_int(strlen(s), 252, "emoji name cut to 252 (63 whole emoji)");
	ok(valid_utf8(s), "emoji cut valid");
	free(s);

	/* A cut that lands after a space: the stem is right-trimmed. */
	memset(raw, 'b', 250);
	memset(raw + 250, ' ', 10);
	memcpy(raw + 260, "tail.txt", 9);
	s = names_make_safe(raw);
	ok(strlen(s) <= 255, "fits");
	is_int(strlen(s), 254, "trailing spaces of the cut stem trimmed");
	ok(!strcmp(s + 250, ".txt"), "stem then extension");
	free(s);

	/* A very long "extension" is not one. */
	memset(raw, 'c', 240);
	raw[240] = '.';
	memset(raw + 241, 'd', 30);
	raw[271] = '\0';
	s = names_make_safe(raw);
	is_int(strlen(s), 255, "long tail after a dot is no extension");
	ok(s[254] == 'd', "plain cut");
	free(s);

	/* Slashes expand to 3 bytes and count after expansion. */
	memset(raw, '/', 100);
	raw[100] = '\0';
	s = names_make_safe(raw);
	is_int(strlen(s), 255, "100 slashes → 85 fullwidth solidi");
	ok(valid_utf8(s), "valid after expansion and cut");
	free(s);
}

/* Looks up the name given to the entry with uuid u. */
static const char *name_of(struct names_entry *v, size_t n, const char *u)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].uuid, u))
			return v[i].name;
	return NULL;
}

/* Unique among siblings. */
static void test_assign(void)
{
	struct names_entry v[] = {
	    {"report.pdf", "1a2b3c4d-0000-4000-8000-000000000001", NULL, 0,
	     NULL, 0},
	    {"report.pdf", "9f8e7d6c-0000-4000-8000-000000000002", NULL, 0,
	     NULL, 0},
	    {"other.pdf", "11111111-0000-4000-8000-000000000003", NULL, 0, NULL,
	     0},
	    {"a/b", "22222222-0000-4000-8000-000000000004", NULL, 0, NULL, 0},
	};
	size_t n = sizeof(v) / sizeof(v[0]);

	is_int(names_assign(v, n), 0, "assign ok");
	is_str(v[0].name, "report [1a2b3c4d].pdf",
	       "first colliding file suffixed");
	is_str(v[1].name, "report [9f8e7d6c].pdf",
	       "second colliding file suffixed");
	is_str(v[2].name, "other.pdf", "unique name untouched");
	is_str(v[3].name,
	       "a\xEF\xBC\x8F"
	       "b",
	       "names made safe");
	names_release(v, n);
	ok(v[0].name == NULL, "release clears");

	/* Directories with handles: "Thesis [1234]". */
	struct names_entry d[] = {
	    {"Thesis", "aaaaaaaa-0000-4000-8000-000000000001", "10673/1234", 1,
	     NULL, 0},
	    {"Thesis", "bbbbbbbb-0000-4000-8000-000000000002", "10673/99", 1,
	     NULL, 0},
	    {"Thesis", "cccccccc-0000-4000-8000-000000000003", NULL, 1, NULL,
	     0},
	    {"v1.0", "dddddddd-0000-4000-8000-000000000004", NULL, 1, NULL, 0},
	    {"v1.0", "eeeeeeee-0000-4000-8000-000000000005", NULL, 1, NULL, 0},
	};
	n = sizeof(d) / sizeof(d[0]);
	is_int(names_assign(d, n), 0, "assign dirs");
	is_str(d[0].name, "Thesis [1234]", "handle suffix");
	is_str(d[1].name, "Thesis [99]", "other handle suffix");
	is_str(d[2].name, "Thesis [cccccccc]", "no handle: UUID suffix");
	is_str(d[3].name, "v1.0 [dddddddd]", "directory suffix at the end");
	is_str(d[4].name, "v1.0 [eeeeeeee]", "directory suffix at the end (2)");
	names_release(d, n);

	/* Equal handle last parts fall back to the UUID. */
	struct names_entry h[] = {
	    {"X", "12345678-0000-4000-8000-000000000001", "1/5", 1, NULL, 0},
	    {"X", "87654321-0000-4000-8000-000000000002", "2/5", 1, NULL, 0},
	};
	is_int(names_assign(h, 2), 0, "assign equal handles");
	is_str(h[0].name, "X [12345678]", "handle suffixes collide → UUID");
	is_str(h[1].name, "X [87654321]", "handle suffixes collide → UUID (2)");
	names_release(h, 2);

	/* A draft (yields) colliding with an archived sibling steps alone. */
	struct names_entry y[] = {
	    {"Thesis", "12345678-0000-4000-8000-000000000001", "1/5", 1, NULL,
	     0},
	    {"Thesis", "87654321-0000-4000-8000-000000000002", NULL, 1, NULL,
	     1},
	};
	is_int(names_assign(y, 2), 0, "assign a draft and an archived item");
	is_str(y[0].name, "Thesis", "the archived item keeps its name");
	is_str(y[1].name, "Thesis [87654321]", "the draft gets the suffix");
	names_release(y, 2);

	/* UUIDs sharing their first 8 hex digits get 12. */
	struct names_entry u[] = {
	    {"data.csv", "abcdef01-2345-4000-8000-000000000001", NULL, 0, NULL,
	     0},
	    {"data.csv", "abcdef01-6789-4000-8000-000000000002", NULL, 0, NULL,
	     0},
	    {"data.csv", "01010101-0000-4000-8000-000000000003", NULL, 0, NULL,
	     0},
	};
	is_int(names_assign(u, 3), 0, "assign suffix collisions");
	is_str(u[0].name, "data [abcdef012345].csv", "longer UUID suffix");
	is_str(u[1].name, "data [abcdef016789].csv", "longer UUID suffix (2)");
	is_str(u[2].name, "data [01010101].csv", "others keep the short one");
	names_release(u, 3);

	/* A real name equal to another's suffixed name. */
	struct names_entry r[] = {
	    {"a.txt", "aaaaaaaa-0000-4000-8000-000000000001", NULL, 0, NULL, 0},
	    {"a.txt", "bbbbbbbb-0000-4000-8000-000000000002", NULL, 0, NULL, 0},
	    {"a [aaaaaaaa].txt", "cccccccc-0000-4000-8000-000000000003", NULL,
	     0, NULL, 0},
	};
	is_int(names_assign(r, 3), 0, "assign against a literal suffix");
	ok(strcmp(r[0].name, r[2].name) && strcmp(r[0].name, r[1].name) &&
	       strcmp(r[1].name, r[2].name),
	   "all three distinct");
	is_str(r[1].name, "a [bbbbbbbb].txt", "uninvolved member keeps 8 hex");
	names_release(r, 3);

	/* Equal UUIDs (a duplicated entry) still end up distinct. */
	struct names_entry e[] = {
	    {"same", "aaaaaaaa-0000-4000-8000-000000000001", NULL, 0, NULL, 0},
	    {"same", "aaaaaaaa-0000-4000-8000-000000000001", NULL, 0, NULL, 0},
	};
	is_int(names_assign(e, 2), 0, "assign duplicates");
	ok(e[0].name && e[1].name && strcmp(e[0].name, e[1].name),
	   "duplicates get distinct names");
	names_release(e, 2);

	/* "." and empty names collide after making safe. */
	struct names_entry s[] = {
	    {"", "aaaaaaaa-0000-4000-8000-000000000001", NULL, 1, NULL, 0},
	    {"  ", "bbbbbbbb-0000-4000-8000-000000000002", NULL, 1, NULL, 0},
	    {"untitled", "cccccccc-0000-4000-8000-000000000003", NULL, 1, NULL,
	     0},
	};
	is_int(names_assign(s, 3), 0, "assign blanks");
	is_str(s[0].name, "untitled [aaaaaaaa]", "blank vs untitled (1)");
	is_str(s[1].name, "untitled [bbbbbbbb]", "blank vs untitled (2)");
	is_str(s[2].name, "untitled [cccccccc]", "blank vs untitled (3)");
	names_release(s, 3);

	ok(names_assign(NULL, 0) == 0, "empty set");
}

/* Suffixed long names still fit 255 bytes and keep the extension. */
static void test_assign_long(void)
{
	char raw[400];
	struct names_entry v[2];

	for (size_t i = 0; i < 300; i += 3)
		memcpy(raw + i, "\xE2\x82\xAC", 3);
	memcpy(raw + 300, ".pdf", 5);
	v[0] = (struct names_entry){
	    raw, "aaaaaaaa-0000-4000-8000-000000000001", NULL, 0, NULL, 0};
	v[1] = (struct names_entry){
	    raw, "bbbbbbbb-0000-4000-8000-000000000002", NULL, 0, NULL, 0};
	is_int(names_assign(v, 2), 0, "assign long");
	ok(strlen(v[0].name) <= 255, "suffixed long name fits");
	ok(valid_utf8(v[0].name), "suffixed long name valid UTF-8");
	ok(strlen(v[0].name) > 15 &&
	       !strcmp(v[0].name + strlen(v[0].name) - 15, " [aaaaaaaa].pdf"),
	   "suffix before the kept extension");
	ok(strcmp(v[0].name, v[1].name), "long names distinct");
	names_release(v, 2);

	for (size_t i = 0; i < 300; i += 3)
		memcpy(raw + i, "\xE2\x82\xAC", 3);
	raw[300] = '\0';
	v[0] = (struct names_entry){
	    raw, "aaaaaaaa-0000-4000-8000-000000000001", "1/77", 1, NULL, 0};
	v[1] = (struct names_entry){
	    raw, "bbbbbbbb-0000-4000-8000-000000000002", "1/78", 1, NULL, 0};
	is_int(names_assign(v, 2), 0, "assign long dirs");
	ok(strlen(v[0].name) <= 255 && valid_utf8(v[0].name), "long dir fits");
	ok(!strcmp(v[0].name + strlen(v[0].name) - 5, " [77]"),
	   "dir suffix at end");
	names_release(v, 2);
}

/* The same set in any order gives the same names. */
static void test_order(void)
{
	static const struct names_entry base[] = {
	    {"x.pdf", "aaaaaaaa-1111-4000-8000-000000000001", NULL, 0, NULL, 0},
	    {"x.pdf", "aaaaaaaa-2222-4000-8000-000000000002", NULL, 0, NULL, 0},
	    {"x.pdf", "bbbbbbbb-0000-4000-8000-000000000003", "9/1", 0, NULL,
	     0},
	    {"x [bbbbbbbb].pdf", "cccccccc-0000-4000-8000-000000000004", NULL,
	     0, NULL, 0},
	    {"x [1].pdf", "dddddddd-0000-4000-8000-000000000005", NULL, 0, NULL,
	     0},
	    {"y", "eeeeeeee-0000-4000-8000-000000000006", NULL, 1, NULL, 0},
	};
	enum { N = sizeof(base) / sizeof(base[0]) };
	struct names_entry ref[N], v[N];
	int perm[N], same = 1, uniq = 1, tries = 0;

	memcpy(ref, base, sizeof(ref));
	if (names_assign(ref, N) < 0) {
		ok(0, "assign reference");
		return;
	}
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			if (!strcmp(ref[i].name, ref[j].name))
				uniq = 0;
	ok(uniq, "reference names unique");
	/* Every rotation and the reverse of each. */
	for (int rot = 0; rot < N; rot++) {
		for (int rev = 0; rev < 2; rev++) {
			for (int i = 0; i < N; i++)
				perm[i] = rev ? (N - 1 - (i + rot) % N)
					      : (i + rot) % N;
			for (int i = 0; i < N; i++)
				v[i] = base[perm[i]];
			if (names_assign(v, N) < 0) {
				same = 0;
				continue;
			}
			tries++;
			for (int i = 0; i < N; i++) {
				const char *w = name_of(ref, N, v[i].uuid);

				if (!w || strcmp(w, v[i].name))
					same = 0;
			}
			names_release(v, N);
		}
	}
	ok(same && tries == 2 * N, "same names in every order");
	names_release(ref, N);
}

int main(void)
{
	test_safe();
	test_cut();
	test_assign();
	test_assign_long();
	test_order();
	return tap_done();
}
