/* names: server-supplied names made safe for one directory entry, and a set
 * of siblings made unique, deterministically. Pure logic, no I/O.
 *
 * Making a name safe (names_make_safe):
 *  - invalid UTF-8 → U+FFFD, one per maximal invalid subpart (a truncated
 *    sequence gives one U+FFFD, a stray byte gives one);
 *  - '/' → U+FF0F '／' (fullwidth solidus);
 *  - TAB, LF, VT, FF, CR → one space (a run of them collapses into one, so
 *    "Title\r\nSubtitle" stays readable); every other control character
 *    (0x00-0x1F, 0x7F, and the C1 code points U+0080-U+009F) is dropped;
 *  - leading and trailing white space trimmed (ASCII space and the Unicode
 *    spaces, e.g. U+00A0, U+2000-U+200B, U+3000, and the BOM U+FEFF);
 *  - empty → "untitled"; "." → "．" (U+FF0E); ".." → "．．";
 *  - longer than NAMES_MAX bytes → cut on a UTF-8 boundary, keeping a short
 *    extension (".pdf": a '.' not at the start followed by 1-10 ASCII
 *    letters or digits) when there is one.
 *
 * Making siblings unique (names_assign): every member of a group whose safe
 * names are byte-for-byte equal gets a suffix " [x]" — before the extension
 * for files, at the end for directories — where x is, in turn: the last part
 * of the object's handle ("Thesis [1234]"), the first 8 hex digits of its
 * UUID ("report [1a2b3c4d].pdf"), then 12, 16 and all 32 hex digits, moving
 * a member one step on whenever its name still collides with any sibling's.
 * Drafts (yields) colliding with other entries step on alone, so that an
 * archived sibling keeps its name.
 * The result depends only on the set of entries, never on their order. The
 * suffixed name still fits NAMES_MAX bytes (the stem is cut to make room). */
#ifndef DSPACEFS_NAMES_H
#define DSPACEFS_NAMES_H

#include <stddef.h>

#define NAMES_MAX 255 /* bytes in one directory entry name */

/* The safe form of raw (NULL counts as ""). Caller frees. NULL on ENOMEM. */
char *names_make_safe(const char *raw);

/* One sibling. The in fields are borrowed for the duration of the call. */
struct names_entry {
	const char *raw; /* in: the server's name (NULL counts as "") */
	const char
	    *uuid; /* in: the object's UUID; its hex digits make suffixes */
	const char *handle; /* in: "10673/20", or NULL */
	int is_dir; /* in: suffix at the end instead of before the extension */
	char *name; /* out: safe, unique name; malloc'd, caller frees */
	int yields; /* in: a draft: when it collides with entries that are
		     * not drafts, only the drafts get suffixes */
};

/* Sets v[i].name for every entry (previous values are overwritten, not
 * freed). Returns 0, or -ENOMEM (then every v[i].name is NULL). */
int names_assign(struct names_entry *v, size_t n);

/* Frees v[i].name for every entry and sets it to NULL. */
void names_release(struct names_entry *v, size_t n);

#endif
