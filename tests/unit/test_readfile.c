/* Unit tests for preload/readfile.c: a whole file into a buf, capped. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "readfile.h"

static void test_readfile(void **state)
{
	(void)state;
	char dir[] = "/tmp/respan-readfile-XXXXXX";
	char path[128];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);

	/* Larger than one read chunk, so the loop is exercised. */
	size_t n = 20000;
	char *text = malloc(n);
	for (size_t i = 0; i < n; i++)
		text[i] = (char)('a' + i % 26);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, n, f), n);
	fclose(f);

	struct buf b;
	buf_init(&b, 1 << 20);
	assert_int_equal(readfile(path, &b), 0);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, text, n);
	buf_free(&b);

	buf_init(&b, 100);				/* the cap holds */
	assert_int_equal(readfile(path, &b), -EFBIG);
	assert_true(b.len <= 100);
	buf_free(&b);

	buf_init(&b, 100);
	assert_int_equal(readfile(dir, &b), -EISDIR);	/* not a regular file */
	assert_int_equal(readfile("/nonexistent/f", &b), -ENOENT);
	assert_int_equal(b.len, 0);
	buf_free(&b);

	free(text);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readfile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
