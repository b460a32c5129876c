/*
 * test_outbox_vfs.c - the outbox's VFS gathers write-ahead-log writes:
 * a commit must still be in the file when COMMIT returns (another
 * connection, on the default VFS, sees it; a process killed right after
 * loses nothing), and a gathered write that fails must fail its commit.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "outbox_vfs.h"

#define ROW_BYTES 3000

typedef struct fixture {
	char dir[64], path[96];
} fixture;

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/vigil-vfs-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	assert_int_equal(outbox_vfs_register(), SQLITE_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;
	char     cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void
exec_ok(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

/* A writer as the outbox opens one: WAL, no automatic checkpoints. */
static sqlite3 *
open_writer(const char *path)
{
	sqlite3 *db;

	assert_int_equal(
	    sqlite3_open_v2(path, &db,
	        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, OUTBOX_VFS),
	    SQLITE_OK);
	exec_ok(db,
	    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
	    "PRAGMA wal_autocheckpoint=0;"
	    "CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY,"
	    " v BLOB NOT NULL);");
	return db;
}

/* One transaction of n rows of ROW_BYTES each; returns COMMIT's code. */
static int
insert_rows(sqlite3 *db, int n)
{
	sqlite3_stmt *st;
	char         *blob = malloc(ROW_BYTES);
	int           rc;

	assert_non_null(blob);
	exec_ok(db, "BEGIN IMMEDIATE");
	assert_int_equal(
	    sqlite3_prepare_v2(db, "INSERT INTO t(v) VALUES(?)", -1, &st, NULL),
	    SQLITE_OK);
	for (int i = 0; i < n; i++) {
		memset(blob, 'a' + i % 26, ROW_BYTES);
		sqlite3_bind_blob(st, 1, blob, ROW_BYTES, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	free(blob);
	rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static sqlite3_int64
count_rows(const char *path)
{
	sqlite3      *db;
	sqlite3_stmt *st;
	sqlite3_int64 n;

	/* The default VFS: it reads only what reached the file. */
	assert_int_equal(
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(
	        db, "SELECT count(*) FROM t WHERE length(v)=?", -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_int(st, 1, ROW_BYTES);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* Sizes below, at and well above what one gathered write holds. */
static const int sizes[] = {1, 3, 20, 45, 200, 2};

static void
test_commit_is_in_the_file(void **state)
{
	fixture      *f    = *state;
	sqlite3      *db   = open_writer(f->path);
	sqlite3_int64 want = 0;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_int_equal(insert_rows(db, sizes[i]), SQLITE_OK);
		want += sizes[i];
		assert_int_equal(count_rows(f->path), want);
	}
	/* A checkpoint copies what the log holds. */
	exec_ok(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	assert_int_equal(count_rows(f->path), want);
	sqlite3_close(db);
}

/* Runs writes on a writer in a child, which is then killed with no
 * close and no checkpoint; returns once it is dead. */
static void
killed_after(const char *path, int (*writes)(sqlite3 *db))
{
	int   status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (writes(open_writer(path)) != SQLITE_OK)
			_exit(3);
		raise(SIGKILL);
		_exit(4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static int
write_sizes(sqlite3 *db)
{
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (insert_rows(db, sizes[i]) != SQLITE_OK)
			return SQLITE_ERROR;
	return SQLITE_OK;
}

static void
test_kill_after_commit_loses_nothing(void **state)
{
	fixture      *f    = *state;
	sqlite3_int64 want = 0;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		want += sizes[i];
	killed_after(f->path, write_sizes);
	assert_int_equal(count_rows(f->path), want);
}

/* One transaction larger than the page cache (8 pages) that writes its
 * rows twice. */
static int
write_spilling(sqlite3 *db)
{
	return sqlite3_exec(db,
	    "PRAGMA cache_size=8; BEGIN;"
	    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1"
	    " FROM c WHERE x<150) INSERT INTO t(v)"
	    " SELECT randomblob(3000) FROM c;"
	    "UPDATE t SET v=randomblob(3000); COMMIT;",
	    NULL, NULL, NULL);
}

/* A transaction larger than the page cache spills pages to the log and
 * writes some of them again in place; SQLite then rewrites the frame
 * headers of the transaction, the commit frame's last, after writing the
 * commit. Those rewrites must be in the file too, or recovery after a
 * kill drops the transaction. */
static void
test_kill_after_spilling_commit(void **state)
{
	fixture *f = *state;

	killed_after(f->path, write_spilling);
	assert_int_equal(count_rows(f->path), 150);
}

static void
test_failed_write_fails_the_commit(void **state)
{
	fixture *f = *state;
	int      status;
	pid_t    pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit lim = {256 * 1024, 256 * 1024};
		sqlite3      *db  = open_writer(f->path);
		int           rc;

		/* Files may not grow past 256 KiB: the big transaction's
		 * gathered writes fail with EFBIG. */
		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &lim) != 0 ||
		    insert_rows(db, 2) != SQLITE_OK)
			_exit(3);
		rc = insert_rows(db, 100);
		sqlite3_close(db);
		_exit(rc == SQLITE_OK ? 4 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Only the transaction that committed is there. */
	assert_int_equal(count_rows(f->path), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_commit_is_in_the_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_kill_after_commit_loses_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_kill_after_spilling_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_failed_write_fails_the_commit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
