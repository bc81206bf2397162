/* Unit tests for buf: growth, cap, formatting, URL encoding. */
#include <errno.h>
#include <stdlib.h>

#include "util/buf.h"
#include "tap.h"

int main(void)
{
	struct buf b = BUF_INIT;
	char *s;
	size_t len;
	int i, rc = 0;

	is_int(buf_adds(&b, "hello"), 0, "append a string");
	is_int(buf_addf(&b, " %d-%s", 42, "x"), 0, "append formatted");
	is_str(b.data, "hello 42-x", "contents are NUL-terminated text");
	for (i = 0; i < 10000 && !rc; i++)
		rc = buf_add(&b, "0123456789", 10);
	is_int(rc, 0, "grows to 100 KB");
	is_int(b.len, 10 + 100000, "length after growth");
	buf_release(&b);

	buf_init(&b, 8);
	is_int(buf_adds(&b, "12345678"), 0, "fill exactly to the cap");
	is_int(buf_adds(&b, "9"), -ENOSPC, "one more byte is refused");
	is_str(b.data, "12345678", "a refused append leaves the data alone");
	is_int(buf_addf(&b, "%s", "x"), -ENOSPC,
	       "formatted append honours the cap");
	buf_reset(&b);
	is_int(b.len, 0, "reset empties");
	buf_release(&b);

	buf_init(&b, 0);
	is_int(buf_add_urlencoded(&b, "admin@example.org&p=a b/ü~"), 0,
	       "URL encoding succeeds");
	is_str(b.data, "admin%40example.org%26p%3Da%20b%2F%C3%BC~",
	       "URL encoding keeps only unreserved characters");
	s = buf_detach(&b, &len);
	is_int(len, strlen(s), "detach returns the length");
	ok(b.data == NULL && b.len == 0, "detach leaves the buffer empty");
	free(s);
	s = buf_detach(&b, &len);
	is_str(s, "", "detaching an empty buffer gives an empty string");
	free(s);
	return tap_done();
}
