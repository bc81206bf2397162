/* tap.h: a tiny TAP producer for the C unit tests (run by automake's
 * tap-driver.sh). Usage:
 *	int main(void) { ok(1 + 1 == 2, "adds"); is_str(s, "x", "name"); return
 *tap_done(); } Run one test verbosely: ./tests/unit/test_names (prints TAP to
 *stdout). */
#ifndef DSPACEFS_TAP_H
#define DSPACEFS_TAP_H

#include <stdio.h>
#include <string.h>
#include <stdint.h>

static int tap_count;
static int tap_failed;

static inline int tap_ok(int cond, const char *file, int line, const char *name)
{
	tap_count++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_count, name);
	if (!cond) {
		tap_failed++;
		printf("# failed at %s:%d\n", file, line);
	}
	return cond;
}

#define ok(cond, name) tap_ok(!!(cond), __FILE__, __LINE__, (name))

#define is_int(got, want, name)                                                \
	do {                                                                   \
		long long g_ = (long long)(got), w_ = (long long)(want);       \
		if (!ok(g_ == w_, name))                                       \
			printf("# got %lld, want %lld\n", g_, w_);             \
	} while (0)

#define is_str(got, want, name)                                                \
	do {                                                                   \
		const char *g_ = (got), *w_ = (want);                          \
		int same_ = (g_ == NULL && w_ == NULL) ||                      \
			    (g_ && w_ && strcmp(g_, w_) == 0);                 \
		if (!ok(same_, name))                                          \
			printf("# got \"%s\", want \"%s\"\n",                  \
			       g_ ? g_ : "(null)", w_ ? w_ : "(null)");        \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif
