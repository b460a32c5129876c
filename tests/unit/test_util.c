/*
 * test_util.c - the small helpers: bounded formatting, hex, printable
 * reasons, dirname and join, mkdir -p, and the clocks. (RFC 3339 times
 * are tested in test_post.c, beside the field that needs them.)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

static void
test_strfmt(void **state)
{
	char buf[8];

	assert_true(strfmt(buf, sizeof(buf), "%s-%d", "ab", 42));
	assert_string_equal(buf, "ab-42");
	assert_true(strfmt(buf, sizeof(buf), "%s", "1234567"));
	assert_false(strfmt(buf, sizeof(buf), "%s", "12345678"));
	assert_string_equal(buf, "1234567");
	assert_false(strfmt(buf, 0, "x"));
}

static void
test_hex_and_ascii_line(void **state)
{
	static const unsigned char in[] = {0x00, 0x0f, 0xa5, 0xff};
	char                       hex[9], line[] = "a\nb\x01\x7f\xd0\xb6z";

	hex_encode(in, sizeof(in), hex);
	assert_string_equal(hex, "000fa5ff");
	hex_encode(in, 0, hex);
	assert_string_equal(hex, "");
	str_ascii_line(line);
	assert_string_equal(line, "a b  ??z");
}

static void
test_dirname(void **state)
{
	static const char *const cases[][2] = {
	    {"/etc/vigil/vigil.conf", "/etc/vigil"},
	    {"/etc/vigil/", "/etc"},
	    {"/etc//vigil", "/etc"},
	    {"/vigil.conf", "/"},
	    {"/", "/"},
	    {"//", "/"},
	    {"vigil.conf", "."},
	    {"conf/", "."},
	    {"", "."},
	    {"a/b", "a"},
	    {"a//b//", "a"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *d = path_dirname(cases[i][0]);

		assert_non_null(d);
		if (strcmp(d, cases[i][1]) != 0)
			fail_msg("dirname(\"%s\") = \"%s\", want \"%s\"",
			    cases[i][0], d, cases[i][1]);
		free(d);
	}
}

static void
test_join(void **state)
{
	static const char *const cases[][3] = {
	    {"/etc/vigil", "rules.txt", "/etc/vigil/rules.txt"},
	    {"/etc/vigil/", "rules.txt", "/etc/vigil/rules.txt"},
	    {"/etc/vigil", "/var/x", "/var/x"},
	    {"", "rules.txt", "rules.txt"},
	    {".", "a/b", "./a/b"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *j = path_join(cases[i][0], cases[i][1]);

		assert_non_null(j);
		assert_string_equal(j, cases[i][2]);
		free(j);
	}
	{
		char *j = path_join(NULL, "x");

		assert_string_equal(j, "x");
		free(j);
	}
}

static void
test_mkdir_p(void **state)
{
	char        base[] = "/tmp/vigil-test-XXXXXX", path[256], file[256];
	struct stat st;
	FILE       *fp;

	assert_non_null(mkdtemp(base));
	snprintf(path, sizeof(path), "%s/a/b//c/", base);
	assert_int_equal(mkdir_p(path, 0700), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	/* Again: it exists, which is fine. */
	assert_int_equal(mkdir_p(path, 0700), 0);
	/* A file in the way. */
	snprintf(file, sizeof(file), "%s/f", base);
	fp = fopen(file, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/f/g", base);
	errno = 0;
	assert_int_equal(mkdir_p(path, 0700), -1);
	assert_int_equal(errno, ENOTDIR);
	assert_int_equal(mkdir_p(file, 0700), -1);
	assert_int_equal(errno, ENOTDIR);
	assert_int_equal(mkdir_p("", 0700), -1);
	unlink(file);
	snprintf(path, sizeof(path), "%s/a/b/c", base);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/a/b", base);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/a", base);
	rmdir(path);
	assert_int_equal(rmdir(base), 0);
}

static void
test_clocks(void **state)
{
	int64_t m1 = now_monotonic_us(), r = now_realtime_us(), m2;

	/* After 2020 and before 2100. */
	assert_true(r > INT64_C(1577836800000000));
	assert_true(r < INT64_C(4102444800000000));
	usleep(2000);
	m2 = now_monotonic_us();
	assert_true(m2 - m1 >= 2000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strfmt),
	    cmocka_unit_test(test_hex_and_ascii_line),
	    cmocka_unit_test(test_dirname),
	    cmocka_unit_test(test_join),
	    cmocka_unit_test(test_mkdir_p),
	    cmocka_unit_test(test_clocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
