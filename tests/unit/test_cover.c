/* test_cover: detecting citation cover pages and remembering them
 * (core/cover.h). */
#include <stdint.h>

#include "tap.h"
#include "core/cover.h"

#define MD5 "0123456789abcdef0123456789abcdef"
/* md5("coverpage:" MD5), as DSpace 9.0+ BitstreamResource.etag */
#define COVER_ETAG "cff114a3797a43e98e5395752646cfad"
#define UUID "11111111-2222-4333-8444-555555555555"

int main(void)
{
	struct cover_table *t = cover_new();
	int64_t v = -1;

	ok(!cover_detect(MD5, 100, 100, MD5), "stored file: length, ETag");
	ok(!cover_detect(MD5, 100, 100, ""), "stored file without ETag");
	ok(!cover_detect(MD5, 100, -1, ""), "no length, no ETag");
	ok(!cover_detect(MD5, 100, 100, "proxy-etag"),
	   "another ETag with the right length: the MD5 check decides");
	ok(cover_detect(MD5, 100, 1283, MD5), "7.x/8.x: found by length");
	ok(cover_detect(MD5, 100, 100, COVER_ETAG),
	   "9.0+: found by its ETag even at the same length");
	ok(cover_detect(MD5, 100, 100, "CFF114A3797A43E98E5395752646CFAD"),
	   "ETag compared without case");
	ok(cover_detect("", 100, 90, ""), "shorter, MD5 unknown");

	ok(t != NULL, "table");
	ok(!cover_known(t, UUID, MD5, &v), "unknown at first");
	cover_note(t, UUID, MD5, 1283);
	ok(cover_known(t, UUID, MD5, &v) && v == 1283, "noted with its size");
	ok(!cover_known(t, UUID, "ffffffffffffffffffffffffffffffff", &v),
	   "another MD5 is another bitstream version");
	cover_note(t, UUID, MD5, 1284);
	ok(cover_known(t, UUID, MD5, &v) && v == 1284, "latest size kept");
	cover_forget(t, UUID, MD5);
	ok(!cover_known(t, UUID, MD5, &v), "forgotten");
	ok(!cover_known(NULL, UUID, MD5, &v), "NULL table knows nothing");
	cover_free(&t);
	ok(t == NULL, "freed");

	v = 100;
	ok(cover_tell(NULL, 7, -1, &v) == 0 && v == 100, "no cover page");
	ok(cover_tell(NULL, 7, 150, &v) == 0 && v == 150,
	   "larger: told before the reply");
	ok(cover_tell(NULL, 7, 150, &v) == 0, "the same: nothing to tell");
	ok(cover_tell(NULL, 7, 90, &v) == 1 && v == 90,
	   "smaller: told after the reply");
	return tap_done();
}
