/*
 * test_kv.c - unit tests of the key-value store (daemon/kv.c): values
 * round-trip and persist, names that could leave the namespace are
 * refused, the size limit holds at its edge, and what is on disk after a
 * crash or a hand edit is handled without harm.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kv.h"
#include "log.h"

#define NS "input.jsonl.sample"

struct fixture {
	char      root[256]; /* the state directory */
	char      dir[512];  /* root/kv/NS */
	kv_store *kv;
};

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char            err[256];
	const char     *tmp = getenv("TMPDIR");

	assert_non_null(f);
	snprintf(
	    f->root, sizeof(f->root), "%s/test_kv.XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->dir, sizeof(f->dir), "%s/kv/%s", f->root, NS);
	f->kv = kv_open(f->root, NS, 0, err, sizeof(err));
	if (f->kv == NULL)
		fail_msg("kv_open: %s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	kv_close(f->kv);
	nftw(f->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Names in the namespace directory, to see what a call left on disk. */
static int
count_entries(const char *dir, const char *skip)
{
	DIR           *d = opendir(dir);
	struct dirent *de;
	int            n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (skip != NULL && strcmp(de->d_name, skip) == 0)
			continue;
		n++;
	}
	closedir(d);
	return n;
}

static void
write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void
check_value(kv_store *kv, const char *key, const void *want, size_t n)
{
	size_t len = 12345;
	char  *got = kv_get(kv, key, &len);

	assert_non_null(got);
	assert_int_equal(len, n);
	assert_memory_equal(got, want, n);
	assert_int_equal(got[n], '\0');
	free(got);
}

static void
check_file_content(const char *path, const char *want)
{
	char buf[64] = {0};
	int  fd      = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), (ssize_t)strlen(want));
	assert_string_equal(buf, want);
	close(fd);
}

static void
check_missing(kv_store *kv, const char *key)
{
	size_t len = 12345;

	errno = 0;
	assert_null(kv_get(kv, key, &len));
	assert_int_equal(errno, ENOENT);
	assert_int_equal(len, 0);
}

static void
test_open_creates_directory(void **state)
{
	struct fixture *f = *state;
	struct stat     st;

	assert_int_equal(stat(f->dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_string_equal(kv_dir(f->kv), f->dir);
	assert_int_equal(count_entries(f->dir, NULL), 0);
}

static void
test_put_get_del(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(kv_put(f->kv, "offset", "hello", 5), 0);
	check_value(f->kv, "offset", "hello", 5);
	assert_int_equal(count_entries(f->dir, NULL), 1);
	assert_int_equal(kv_del(f->kv, "offset"), 0);
	check_missing(f->kv, "offset");
	assert_int_equal(count_entries(f->dir, NULL), 0);
	/* Deleting what is not there is not an error. */
	assert_int_equal(kv_del(f->kv, "offset"), 0);
}

static void
test_overwrite(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(kv_put(f->kv, "k", "a longer first value", 20), 0);
	assert_int_equal(kv_put(f->kv, "k", "short", 5), 0);
	check_value(f->kv, "k", "short", 5);
	assert_int_equal(kv_put(f->kv, "k", "much longer than before", 23), 0);
	check_value(f->kv, "k", "much longer than before", 23);
	/* Only the key itself: no temporary file stays behind. */
	assert_int_equal(count_entries(f->dir, NULL), 1);
}

static void
test_empty_and_binary_values(void **state)
{
	struct fixture     *f     = *state;
	const unsigned char bin[] = {0, 1, 0xff, '\n', 0, 'x'};

	assert_int_equal(kv_put(f->kv, "empty", NULL, 0), 0);
	check_value(f->kv, "empty", "", 0);
	assert_int_equal(kv_put(f->kv, "bin", bin, sizeof(bin)), 0);
	check_value(f->kv, "bin", bin, sizeof(bin));
}

static void
test_bad_keys(void **state)
{
	struct fixture          *f     = *state;
	static const char *const bad[] = {
	    "",
	    ".",
	    "..",
	    "../escape",
	    "a/b",
	    "/etc/passwd",
	    "a b",
	    "tab\there",
	    "new\nline",
	    "#offset.1.1",
	    "caf\xc3\xa9",
	    "a:b",
	    "star*",
	    "~home",
	};
	char   long_key[KV_NAME_MAX + 2];
	size_t len;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_int_equal(kv_put(f->kv, bad[i], "x", 1), -1);
		assert_int_equal(errno, EINVAL);
		errno = 0;
		len   = 7;
		assert_null(kv_get(f->kv, bad[i], &len));
		assert_int_equal(errno, EINVAL);
		assert_int_equal(len, 0);
		errno = 0;
		assert_int_equal(kv_del(f->kv, bad[i]), -1);
		assert_int_equal(errno, EINVAL);
		assert_false(kv_name_valid(bad[i]));
	}
	errno = 0;
	assert_int_equal(kv_put(f->kv, NULL, "x", 1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(count_entries(f->dir, NULL), 0);
	/* Nothing escaped into the parent directories either. */
	assert_int_equal(count_entries(f->root, "kv"), 0);

	memset(long_key, 'k', sizeof(long_key));
	long_key[KV_NAME_MAX] = '\0';
	assert_int_equal(kv_put(f->kv, long_key, "x", 1), 0);
	check_value(f->kv, long_key, "x", 1);
	long_key[KV_NAME_MAX]     = 'k';
	long_key[KV_NAME_MAX + 1] = '\0';
	errno                     = 0;
	assert_int_equal(kv_put(f->kv, long_key, "x", 1), -1);
	assert_int_equal(errno, EINVAL);

	assert_true(kv_name_valid("Offset_2.v-1"));
	assert_true(kv_name_valid("..."));
	assert_true(kv_name_valid(".hidden"));
}

static void
test_missing_key(void **state)
{
	struct fixture *f = *state;

	check_missing(f->kv, "never-set");
	assert_int_equal(kv_del(f->kv, "never-set"), 0);
}

static void
test_persistence(void **state)
{
	struct fixture *f = *state;
	char            err[256];
	kv_store       *other;

	assert_int_equal(kv_put(f->kv, "offset", "1 2 3", 5), 0);
	assert_int_equal(kv_put(f->kv, "gone", "x", 1), 0);
	assert_int_equal(kv_del(f->kv, "gone"), 0);
	kv_close(f->kv);
	f->kv = kv_open(f->root, NS, 0, err, sizeof(err));
	assert_non_null(f->kv);
	check_value(f->kv, "offset", "1 2 3", 5);
	check_missing(f->kv, "gone");

	/* Another namespace shares nothing with this one. */
	other =
	    kv_open(f->root, "input.jsonl.other", KV_NOSYNC, err, sizeof(err));
	assert_non_null(other);
	check_missing(other, "offset");
	assert_int_equal(kv_put(other, "offset", "9", 1), 0);
	check_value(f->kv, "offset", "1 2 3", 5);
	check_value(other, "offset", "9", 1);
	kv_close(other);
}

static void
test_value_limit(void **state)
{
	struct fixture *f   = *state;
	unsigned char  *big = malloc(KV_VALUE_MAX + 1);

	assert_non_null(big);
	for (size_t i = 0; i < KV_VALUE_MAX + 1; i++)
		big[i] = (unsigned char)(i * 7 + 3);
	assert_int_equal(kv_put(f->kv, "big", big, KV_VALUE_MAX), 0);
	check_value(f->kv, "big", big, KV_VALUE_MAX);

	assert_int_equal(kv_put(f->kv, "k", "old", 3), 0);
	errno = 0;
	assert_int_equal(kv_put(f->kv, "k", big, KV_VALUE_MAX + 1), -1);
	assert_int_equal(errno, EMSGSIZE);
	check_value(f->kv, "k", "old", 3);
	assert_int_equal(count_entries(f->dir, NULL), 2);
	free(big);
}

static void
test_bad_namespaces(void **state)
{
	static const char *const bad[] = {
	    "",
	    ".",
	    "..",
	    "a/b",
	    "../etc",
	    "input jsonl",
	    NULL,
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(
		    kv_open("/nonexistent-state", bad[i], 0, err, sizeof(err)));
		assert_non_null(strstr(err, "invalid namespace name"));
	}
	err[0] = '\0';
	assert_null(kv_open("", NS, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "no state directory"));
}

static void
test_state_dir_not_a_directory(void **state)
{
	struct fixture *f = *state;
	char            path[PATH_MAX], err[PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s/plain-file", f->root);
	write_file(path, "x", 1);
	err[0] = '\0';
	assert_null(kv_open(path, NS, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "plain-file/kv/" NS));
	assert_non_null(strstr(err, "cannot create"));
}

static void
test_stale_temp_removed(void **state)
{
	struct fixture *f = *state;
	char            path[PATH_MAX], err[256];

	snprintf(path, sizeof(path), "%s/#offset.999.7", f->dir);
	write_file(path, "half a val", 10);
	assert_int_equal(kv_put(f->kv, "offset", "whole", 5), 0);
	kv_close(f->kv);
	f->kv = kv_open(f->root, NS, 0, err, sizeof(err));
	assert_non_null(f->kv);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(count_entries(f->dir, NULL), 1);
	check_value(f->kv, "offset", "whole", 5);
}

static void
test_oversized_file_on_disk(void **state)
{
	struct fixture *f = *state;
	char            path[PATH_MAX];
	char           *buf = calloc(1, KV_VALUE_MAX + 1);
	size_t          len = 1;

	assert_non_null(buf);
	snprintf(path, sizeof(path), "%s/edited", f->dir);
	write_file(path, buf, KV_VALUE_MAX + 1);
	errno = 0;
	assert_null(kv_get(f->kv, "edited", &len));
	assert_int_equal(errno, EFBIG);
	assert_int_equal(len, 0);
	free(buf);
}

static void
test_key_is_a_directory(void **state)
{
	struct fixture *f = *state;
	char            path[PATH_MAX], inner[PATH_MAX + 8];
	size_t          len;

	snprintf(path, sizeof(path), "%s/offset", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(inner, sizeof(inner), "%s/keep", path);
	write_file(inner, "x", 1);

	errno = 0;
	assert_null(kv_get(f->kv, "offset", &len));
	assert_int_equal(errno, EISDIR);
	/* The rename fails; the temporary file must not stay behind. */
	assert_int_equal(kv_put(f->kv, "offset", "1", 1), -1);
	assert_int_not_equal(errno, 0);
	assert_int_equal(count_entries(f->dir, NULL), 1);
	assert_int_equal(kv_del(f->kv, "offset"), -1);
	assert_int_equal(access(inner, F_OK), 0);
}

static void
test_symlink_not_followed(void **state)
{
	struct fixture *f = *state;
	char            target[PATH_MAX], link[PATH_MAX];
	size_t          len;

	snprintf(target, sizeof(target), "%s/secret", f->root);
	write_file(target, "secret", 6);
	snprintf(link, sizeof(link), "%s/offset", f->dir);
	assert_int_equal(symlink(target, link), 0);
	errno = 0;
	assert_null(kv_get(f->kv, "offset", &len));
	assert_int_equal(errno, ELOOP);
	/* A put replaces the link itself, not the file it points to. */
	assert_int_equal(kv_put(f->kv, "offset", "mine", 4), 0);
	check_value(f->kv, "offset", "mine", 4);
	check_file_content(target, "secret");
}

/* Runs with stderr sent to a file and returns what was logged. */
static char *
capture_log_start(int *saved_fd, char *path, size_t pathlen, const char *root)
{
	int fd;

	snprintf(path, pathlen, "%s/log.txt", root);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	*saved_fd = dup(STDERR_FILENO);
	assert_true(*saved_fd >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	log_set_level(VIGIL_LOG_INFO);
	return path;
}

static char *
capture_log_end(int saved_fd, const char *path)
{
	char   *buf = calloc(1, 8192);
	int     fd;
	ssize_t n;

	log_set_level(VIGIL_LOG_ERR - 1);
	assert_int_equal(dup2(saved_fd, STDERR_FILENO), STDERR_FILENO);
	close(saved_fd);
	assert_non_null(buf);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, 8191);
	assert_true(n >= 0);
	close(fd);
	unlink(path);
	return buf;
}

static void
test_errors_name_file_and_reason(void **state)
{
	struct fixture *f = *state;
	char            path[PATH_MAX], logpath[PATH_MAX], *log;
	char           *big = calloc(1, KV_VALUE_MAX + 1);
	size_t          len;
	int             saved;

	assert_non_null(big);
	snprintf(path, sizeof(path), "%s/offset", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	capture_log_start(&saved, logpath, sizeof(logpath), f->root);
	assert_int_equal(kv_put(f->kv, "../x", "1", 1), -1);
	assert_int_equal(kv_put(f->kv, "big", big, KV_VALUE_MAX + 1), -1);
	assert_null(kv_get(f->kv, "offset", &len));
	assert_null(kv_get(f->kv, "missing", &len));
	log = capture_log_end(saved, logpath);

	assert_non_null(strstr(log, "invalid key '../x'"));
	assert_non_null(strstr(log,
	    "big: value of 65537 bytes is over the "
	    "limit of 65536"));
	assert_non_null(strstr(log,
	    "/kv/" NS "/offset: open: Is a "
	    "directory"));
	/* A key that is not set is an answer, not an error. */
	assert_null(strstr(log, "missing"));
	free(log);
	free(big);
}

static void
test_nosync(void **state)
{
	struct fixture *f = *state;
	char            err[256];
	kv_store *kv = kv_open(f->root, "nosync", KV_NOSYNC, err, sizeof(err));

	assert_non_null(kv);
	assert_int_equal(kv_put(kv, "a", "1", 1), 0);
	assert_int_equal(kv_put(kv, "a", "22", 2), 0);
	check_value(kv, "a", "22", 2);
	assert_int_equal(kv_del(kv, "a"), 0);
	check_missing(kv, "a");
	kv_close(kv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_open_creates_directory, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_put_get_del, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overwrite, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_empty_and_binary_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_value_limit, setup, teardown),
	    cmocka_unit_test(test_bad_namespaces),
	    cmocka_unit_test_setup_teardown(
	        test_state_dir_not_a_directory, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_stale_temp_removed, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_oversized_file_on_disk, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_key_is_a_directory, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_symlink_not_followed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nosync, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_errors_name_file_and_reason, setup, teardown),
	};

	/* The store logs refusals; keep the test output to cmocka's. */
	log_set_level(VIGIL_LOG_ERR - 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
