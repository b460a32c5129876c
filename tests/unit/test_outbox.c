/*
 * test_outbox.c - the durable outbox on a real SQLite file: schema and
 * migration, commits and their suppression of repeats, loading back,
 * delivery states, operator queries, pruning, a full database, and input
 * positions recorded with the alerts or alone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <sqlite3.h>

#include "bridge.h"
#include "outbox.h"
#include "util.h"

typedef struct fixture {
	char               dir[64];
	char               path[96];
	struct event_base *base;
	bridge            *br;
	outbox            *ob;
	int                done; /* completions seen */
	int                rc;
	char               err[256];
	outbox_row        *rows;
	size_t             n_rows;
	json_t            *reply;
} fixture;

static outbox *
open_box(fixture *f, int64_t max_bytes)
{
	outbox_opts o = {.path = f->path, .max_bytes = max_bytes};
	char        err[512];
	outbox     *ob = outbox_open(&o, f->br, err, sizeof(err));

	if (ob == NULL)
		fail_msg("outbox_open: %s", err);
	return ob;
}

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/vigil-test-outbox.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/outbox.db", f->dir);
	evthread_use_pthreads();
	assert_non_null(f->base = event_base_new());
	assert_non_null(f->br = bridge_new(f->base));
	f->ob  = open_box(f, 0);
	*state = f;
	return 0;
}

static void
free_results(fixture *f)
{
	outbox_rows_free(f->rows, f->n_rows);
	f->rows   = NULL;
	f->n_rows = 0;
	json_decref(f->reply);
	f->reply = NULL;
}

static int
teardown(void **state)
{
	fixture *f = *state;
	char     cmd[128];

	outbox_close(f->ob);
	bridge_run(f->br);
	free_results(f);
	bridge_free(f->br);
	event_base_free(f->base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Runs the loop until `want` completions have arrived. */
static void
wait_for(fixture *f, int want)
{
	int64_t deadline = now_monotonic_us() + 10 * 1000000;

	while (f->done < want) {
		struct timeval tick = {0, 10000};
		if (now_monotonic_us() > deadline)
			fail_msg(
			    "timed out: %d of %d completions", f->done, want);
		event_base_loopexit(f->base, &tick);
		event_base_dispatch(f->base);
	}
}

static void
on_commit(void *arg, int rc, const char *err)
{
	fixture *f = arg;

	f->done++;
	f->rc = rc;
	snprintf(f->err, sizeof(f->err), "%s", err ? err : "");
}

static void
on_rows(void *arg, int rc, const char *err, outbox_row *rows, size_t n)
{
	fixture *f = arg;

	f->done++;
	f->rc = rc;
	snprintf(f->err, sizeof(f->err), "%s", err ? err : "");
	outbox_rows_free(f->rows, f->n_rows);
	f->rows   = rows;
	f->n_rows = n;
}

static void
on_json(void *arg, json_t *reply, const char *err)
{
	fixture *f = arg;

	f->done++;
	f->rc = reply ? 0 : -1;
	snprintf(f->err, sizeof(f->err), "%s", err ? err : "");
	json_decref(f->reply);
	f->reply = reply;
}

static const char *const two_sinks[] = {"hook", "log"};

/* Commits n alerts "a<first>".. of one set, to both sinks, and waits. */
static int
commit(fixture *f, outbox_alert *alerts, size_t n, int64_t created,
    int64_t dedup_us, const void *data, size_t len)
{
	outbox_commit c    = {.created = created,
	       .dedup_us               = dedup_us,
	       .data                   = data,
	       .len                    = len,
	       .alerts                 = alerts,
	       .n                      = n,
	       .sinks                  = (const char **)two_sinks,
	       .n_sinks                = 2};
	int           want = f->done + 1;

	outbox_commit_alerts(f->ob, &c, on_commit, f);
	wait_for(f, want);
	return f->rc;
}

static void
load(fixture *f, const char *sink, int state)
{
	int want = f->done + 1;

	outbox_load(f->ob, sink, state, 0, 1000, on_rows, f);
	wait_for(f, want);
	assert_int_equal(f->rc, 0);
}

static json_t *
query(
    fixture *f, const char *action, const char *sink, const char *id, int state)
{
	outbox_query q    = {action, sink, id, state, 0};
	int          want = f->done + 1;

	outbox_run_query(f->ob, &q, on_json, f);
	wait_for(f, want);
	if (f->reply == NULL)
		fail_msg("%s: %s", action, f->err);
	return f->reply;
}

/* Waits for marks, which have no completion, by a query behind them. */
static void
flush(fixture *f)
{
	query(f, "stats", NULL, NULL, -1);
}

static json_int_t
count_of(json_t *stats, const char *sink, const char *state)
{
	size_t  i;
	json_t *c;

	json_array_foreach(json_object_get(stats, "counts"), i,
	    c) if (strcmp(json_string_value(json_object_get(c, "sink")),
	               sink) == 0 &&
	    strcmp(json_string_value(json_object_get(c, "state")), state) ==
	        0) return json_integer_value(json_object_get(c, "count"));
	return 0;
}

static void
test_schema_version(void **state)
{
	fixture      *f = *state;
	sqlite3      *db;
	sqlite3_stmt *st;
	outbox_opts   o = {.path = f->path};
	char          err[512];

	outbox_close(f->ob);
	f->ob = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 3);
	sqlite3_finalize(st);
	/* A database from a newer release is refused, not damaged. */
	assert_int_equal(
	    sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_null(outbox_open(&o, f->br, err, sizeof(err)));
	assert_non_null(strstr(err, "schema version 99 is newer"));
	assert_non_null(strstr(err, f->path));
	/* A version 1 database (before positions, with an index of ids) is
	 * migrated forward. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                     "DROP TABLE positions; CREATE INDEX alerts_id ON "
	                     "alerts(id); PRAGMA user_version=1",
	                     NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	f->ob = open_box(f, 0);
	outbox_position(f->ob, "in", "x", 1);
	flush(f);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	                     "SELECT count(*) FROM sqlite_schema WHERE "
	                     "name='alerts_id'",
	                     -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void
test_unopenable(void **state)
{
	fixture    *f = *state;
	outbox_opts o = {.path = "/nonexistent-dir/x/outbox.db"};
	char        err[512];

	assert_null(outbox_open(&o, f->br, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent-dir/x/outbox.db"));
	assert_non_null(strstr(err, "cannot open"));
}

static void
test_commit_load_mark(void **state)
{
	fixture     *f    = *state;
	outbox_alert a[3] = {
	    {.id       = "a1",
	        .dkey  = "tg\x1fp1\x1fr1",
	        .rule  = "r1",
	        .idx   = 0,
	        .sinks = 3},
	    {.id       = "a2",
	        .dkey  = "tg\x1fp1\x1fr2",
	        .rule  = "r2",
	        .idx   = 1,
	        .sinks = 1},
	    {.id       = "a3",
	        .dkey  = "tg\x1fp1\x1fr3",
	        .rule  = "r3",
	        .idx   = 2,
	        .sinks = 0},
	};
	json_t *st;

	assert_int_equal(commit(f, a, 3, 1000, 0, "SET-BYTES", 9), 0);
	assert_true(a[0].seq > 0);
	assert_true(a[1].seq > a[0].seq);
	assert_int_equal(a[2].seq, 0); /* no sink: not recorded */

	load(f, "hook", OB_PENDING);
	assert_int_equal(f->n_rows, 2);
	assert_int_equal(f->rows[0].seq, a[0].seq);
	assert_int_equal(f->rows[1].idx, 1);
	assert_int_equal(f->rows[0].len, 9);
	assert_memory_equal(f->rows[0].data, "SET-BYTES", 9);
	/* Rows of one set share its bytes. */
	assert_ptr_equal(f->rows[0].data, f->rows[1].data);
	load(f, "log", OB_PENDING);
	assert_int_equal(f->n_rows, 1);

	outbox_mark(f->ob, a[0].seq, "hook", OB_DELIVERED, 1, NULL);
	outbox_mark(f->ob, a[1].seq, "hook", OB_DEAD, 3, "HTTP 400");
	flush(f);
	load(f, "hook", OB_PENDING);
	assert_int_equal(f->n_rows, 0);
	load(f, "hook", OB_DEAD);
	assert_int_equal(f->n_rows, 1);
	assert_int_equal(f->rows[0].attempts, 3);
	st = query(f, "stats", NULL, NULL, -1);
	assert_int_equal(count_of(st, "hook", "delivered"), 1);
	assert_int_equal(count_of(st, "hook", "dead"), 1);
	assert_int_equal(count_of(st, "log", "pending"), 1);
	st = query(f, "stats", "log", NULL, -1);
	assert_int_equal(count_of(st, "hook", "dead"), 0);
}

static void
test_dedup(void **state)
{
	fixture      *f  = *state;
	const int64_t s1 = 1000000;
	outbox_alert  a  = {.id = "x1", .dkey = "k", .rule = "r", .sinks = 1};
	outbox_alert  b  = {.id = "x2", .dkey = "k", .rule = "r", .sinks = 1};
	outbox_alert  c  = {.id = "x1", .dkey = "k", .rule = "r", .sinks = 1};

	assert_int_equal(commit(f, &a, 1, 100 * s1, 60 * s1, "d", 1), 0);
	assert_true(a.seq > 0);
	/* An edited post (new id), same post and rule, inside the window. */
	assert_int_equal(commit(f, &b, 1, 130 * s1, 60 * s1, "d", 1), 0);
	assert_int_equal(b.seq, 0);
	/* Outside the window it is a new alert. */
	assert_int_equal(commit(f, &b, 1, 200 * s1, 60 * s1, "d", 1), 0);
	assert_true(b.seq > a.seq);
	/* The same alert again (a post read twice after a crash): never
	 * recorded twice while it is kept. */
	assert_int_equal(commit(f, &c, 1, 900 * s1, 60 * s1, "d", 1), 0);
	assert_int_equal(c.seq, 0);
	/* Window 0 turns suppression off. */
	assert_int_equal(commit(f, &c, 1, 901 * s1, 0, "d", 1), 0);
	assert_true(c.seq > b.seq);
}

static void
test_held(void **state)
{
	fixture     *f = *state;
	outbox_alert a = {
	    .id = "h1", .dkey = "h", .rule = "r", .sinks = 3, .held = 2};
	json_t *st;

	assert_int_equal(commit(f, &a, 1, 5, 0, "d", 1), 0);
	load(f, "log", OB_PENDING);
	assert_int_equal(f->n_rows, 0);
	load(f, "log", OB_HELD);
	assert_int_equal(f->n_rows, 1);
	st = query(f, "stats", NULL, NULL, -1);
	assert_int_equal(count_of(st, "hook", "pending"), 1);
	assert_int_equal(count_of(st, "log", "held"), 1);
}

static void
test_queries(void **state)
{
	fixture     *f    = *state;
	outbox_alert a[3] = {
	    {.id = "q1", .dkey = "1", .rule = "r", .idx = 0, .sinks = 1},
	    {.id = "q2", .dkey = "2", .rule = "r", .idx = 1, .sinks = 1},
	    {.id = "q3", .dkey = "3", .rule = "r", .idx = 2, .sinks = 1},
	};
	json_t *r, *d;

	assert_int_equal(commit(f, a, 3, 10, 0, "d", 1), 0);
	for (int i = 0; i < 3; i++)
		outbox_mark(f->ob, a[i].seq, "hook", OB_DEAD, 2, "refused");
	r = query(f, "list", "hook", NULL, OB_DEAD);
	assert_int_equal(json_array_size(json_object_get(r, "deliveries")), 3);
	d = json_array_get(json_object_get(r, "deliveries"), 0);
	assert_string_equal(json_string_value(json_object_get(d, "id")), "q1");
	assert_string_equal(
	    json_string_value(json_object_get(d, "state")), "dead");
	assert_string_equal(
	    json_string_value(json_object_get(d, "error")), "refused");

	/* Retry one by id: pending again, attempts reset. */
	r = query(f, "retry", NULL, "q2", OB_DEAD);
	assert_int_equal(json_array_size(json_object_get(r, "deliveries")), 1);
	d = json_array_get(json_object_get(r, "deliveries"), 0);
	assert_int_equal(
	    json_integer_value(json_object_get(d, "seq")), a[1].seq);
	load(f, "hook", OB_PENDING);
	assert_int_equal(f->n_rows, 1);
	assert_int_equal(f->rows[0].attempts, 0);

	/* Purge the other dead ones; the pending one stays. */
	r = query(f, "purge", "hook", NULL, OB_DEAD);
	assert_int_equal(json_array_size(json_object_get(r, "deliveries")), 2);
	r = query(f, "list", NULL, NULL, -1);
	assert_int_equal(json_array_size(json_object_get(r, "deliveries")), 1);
	/* A retry that matches nothing changes nothing. */
	r = query(f, "retry", NULL, "nope", OB_DEAD);
	assert_int_equal(json_array_size(json_object_get(r, "deliveries")), 0);
}

static void
test_prune(void **state)
{
	fixture     *f    = *state;
	outbox_alert a[2] = {
	    {.id = "p1", .dkey = "1", .rule = "r", .idx = 0, .sinks = 1},
	    {.id = "p2", .dkey = "2", .rule = "r", .idx = 1, .sinks = 1},
	};
	outbox_alert b = {.id = "p3", .dkey = "3", .rule = "r", .sinks = 1};
	json_t      *r;

	assert_int_equal(commit(f, a, 2, 10, 0, "d", 1), 0);
	assert_int_equal(commit(f, &b, 1, 20, 0, "e", 1), 0);
	outbox_mark(f->ob, a[0].seq, "hook", OB_DELIVERED, 1, NULL);
	outbox_mark(f->ob, b.seq, "hook", OB_DELIVERED, 1, NULL);
	flush(f);
	/* Marks are stamped now: a retention of one hour keeps them. */
	outbox_prune(f->ob, now_realtime_us(), 3600LL * 1000000);
	r = query(f, "list", NULL, NULL, -1);
	assert_int_equal(json_array_size(json_object_get(r, "deliveries")), 3);
	/* Two hours later the delivered ones go; the undelivered stays. */
	outbox_prune(
	    f->ob, now_realtime_us() + 7200LL * 1000000, 3600LL * 1000000);
	r = query(f, "list", NULL, NULL, -1);
	assert_int_equal(json_array_size(json_object_get(r, "deliveries")), 1);
	load(f, "hook", OB_PENDING);
	assert_int_equal(f->n_rows, 1);
	assert_int_equal(f->rows[0].seq, a[1].seq);
	assert_int_equal(f->rows[0].len, 1);
	/* The pruned alert's id may be recorded again. */
	assert_int_equal(commit(f, &b, 1, 30, 1000, "e", 1), 0);
	assert_true(b.seq > 0);
}

static void
test_full(void **state)
{
	fixture     *f = *state;
	char        *big;
	outbox_alert a = {.id = "f1", .dkey = "1", .rule = "r", .sinks = 1};
	outbox_alert b = {.id = "f2", .dkey = "2", .rule = "r", .sinks = 1};
	json_t      *r;

	outbox_close(f->ob);
	f->ob = open_box(f, 128 * 1024);
	assert_non_null(big = calloc(1, 512 * 1024));
	assert_int_equal(commit(f, &a, 1, 10, 0, big, 512 * 1024), -1);
	assert_non_null(strstr(f->err, "full"));
	assert_non_null(strstr(f->err, f->path));
	/* Nothing of the failed commit is recorded; what fits still does. */
	assert_int_equal(commit(f, &b, 1, 10, 0, "small", 5), 0);
	r = query(f, "list", NULL, NULL, -1);
	assert_int_equal(json_array_size(json_object_get(r, "deliveries")), 1);
	free(big);
}

static void
test_group_commit_order(void **state)
{
	fixture *f = *state;
	enum { N = 200 };
	outbox_alert  a[N];
	outbox_commit c[N];
	char          ids[N][8];
	int           want = f->done + N;

	for (int i = 0; i < N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "g%d", i);
		a[i] = (outbox_alert){
		    .id = ids[i], .dkey = ids[i], .rule = "r", .sinks = 1};
		c[i] = (outbox_commit){.created = 10,
		    .data                       = "d",
		    .len                        = 1,
		    .alerts                     = &a[i],
		    .n                          = 1,
		    .sinks                      = (const char **)two_sinks,
		    .n_sinks                    = 1};
		outbox_commit_alerts(f->ob, &c[i], on_commit, f);
	}
	wait_for(f, want);
	for (int i = 1; i < N; i++)
		assert_true(a[i].seq == a[i - 1].seq + 1);
	assert_int_equal(outbox_backlog(f->ob), 0);
}

/* The WAL header's checkpoint sequence, which SQLite raises each time a
 * writer starts the log again from its beginning. */
static uint32_t
wal_sequence(const char *db_path)
{
	char          path[128];
	unsigned char h[16] = {0};
	int           fd;

	snprintf(path, sizeof(path), "%s-wal", db_path);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
			memset(h, 0, sizeof(h));
		close(fd);
	}
	return (uint32_t)h[12] << 24 | (uint32_t)h[13] << 16 |
	    (uint32_t)h[14] << 8 | h[15];
}

/* Keeps at least RING / 2 commits queued, so that the writer never idles,
 * until `restarts` starts of the log again or `seconds` have passed.
 * Returns the starts seen; *longest_us is the longest wait for a round. */
enum { RING = 256 };
static int
steady_load(fixture *f, int restarts_wanted, int seconds, int64_t *longest_us)
{
	static char          data[2048], ids[RING][16];
	static outbox_alert  a[RING];
	static outbox_commit c[RING];
	uint32_t             seq, last = wal_sequence(f->path);
	int                  restarts = 0, queued = f->done;
	int64_t until = now_monotonic_us() + (int64_t)seconds * 1000000;

	memset(data, 'x', sizeof(data));
	*longest_us = 0;
	while (restarts < restarts_wanted && now_monotonic_us() < until) {
		int64_t t0 = now_monotonic_us();

		/* Refill the half of the ring whose commits are done. */
		while (queued - f->done < RING) {
			int k = queued % RING;

			snprintf(ids[k], sizeof(ids[k]), "w%d", queued);
			a[k] = (outbox_alert){.id = ids[k],
			    .dkey                 = ids[k],
			    .rule                 = "r",
			    .sinks                = 1};
			c[k] = (outbox_commit){.created = 10,
			    .data                       = data,
			    .len                        = sizeof(data),
			    .alerts                     = &a[k],
			    .n                          = 1,
			    .sinks   = (const char **)two_sinks,
			    .n_sinks = 1};
			outbox_commit_alerts(f->ob, &c[k], on_commit, f);
			queued++;
		}
		wait_for(f, queued - RING / 2);
		assert_int_equal(f->rc, 0);
		if (now_monotonic_us() - t0 > *longest_us)
			*longest_us = now_monotonic_us() - t0;
		if ((seq = wal_sequence(f->path)) != last) {
			restarts++;
			last = seq;
		}
	}
	wait_for(f, queued);
	return restarts;
}

static void
reopen_rewinding(fixture *f)
{
	outbox_opts o = {.path = f->path, .wal_rewind_frames = 16};
	char        err[512];

	outbox_close(f->ob);
	bridge_run(f->br);
	assert_non_null(f->ob = outbox_open(&o, f->br, err, sizeof(err)));
}

/* Under steady writes the checkpointer never finds the log wholly copied
 * at the moment a transaction starts, so only the writer's rewind starts
 * it again; without that the file grows as long as the writes go on. */
static void
test_log_rewound_under_load(void **state)
{
	fixture *f = *state;
	int64_t  longest;

	reopen_rewinding(f);
	assert_int_equal(steady_load(f, 3, 8, &longest), 3);
}

/* A reader of an old snapshot (an operator's sqlite3 shell) keeps the log
 * from being rewound: the writer tries briefly at each checkpoint and goes
 * on committing, instead of waiting out its 5 s lock timeout each time. */
static void
test_rewind_gives_way_to_readers(void **state)
{
	fixture      *f  = *state;
	outbox_alert  a0 = {.id = "r0", .dkey = "r0", .rule = "r", .sinks = 1};
	sqlite3      *reader;
	sqlite3_stmt *st;
	int64_t       longest;

	reopen_rewinding(f);
	/* Something in the log, so that the reader's snapshot is of it. */
	assert_int_equal(commit(f, &a0, 1, 10, 0, "d", 1), 0);
	assert_int_equal(
	    sqlite3_open_v2(f->path, &reader, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(reader,
	                     "SELECT count(*) FROM alerts", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(reader, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW); /* holds a snapshot */
	assert_int_equal(steady_load(f, 100, 2, &longest), 0);
	if (longest > 1000000)
		fail_msg("a round of commits waited %lld ms",
		    (long long)(longest / 1000));
	sqlite3_finalize(st);
	sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(reader);
	/* With the reader gone the log starts again. */
	assert_true(steady_load(f, 1, 8, &longest) == 1);
}

static const char *
saved_pos(outbox *ob, const char *input, size_t *len)
{
	const outbox_saved_position *sp;
	size_t                       n = outbox_saved_positions(ob, &sp);

	for (size_t i = 0; i < n; i++)
		if (strcmp(sp[i].input, input) == 0) {
			*len = sp[i].len;
			return sp[i].pos;
		}
	return NULL;
}

/* A position goes in the transaction of its alerts: all or nothing. */
static void
test_positions(void **state)
{
	fixture      *f = *state;
	outbox_alert  a = {.id = "p1", .dkey = "1", .rule = "r", .sinks = 1};
	outbox_alert  b = {.id = "p2", .dkey = "2", .rule = "r", .sinks = 1};
	outbox_commit c = {.created = 10,
	    .data                   = "d",
	    .len                    = 1,
	    .alerts                 = &a,
	    .n                      = 1,
	    .sinks                  = (const char **)two_sinks,
	    .n_sinks                = 1,
	    .pos_input              = "jsonl/feed",
	    .pos                    = "off=100",
	    .pos_len                = 7};
	char         *big;
	size_t        len = 0;
	const char   *p;
	int           want = f->done + 1;

	assert_null(saved_pos(f->ob, "jsonl/feed", &len));
	outbox_commit_alerts(f->ob, &c, on_commit, f);
	wait_for(f, want);
	assert_int_equal(f->rc, 0);
	outbox_position(f->ob, "tg/bot", "update=7", 8);
	flush(f);

	/* A commit that fails takes its position down with it. */
	outbox_close(f->ob);
	f->ob = open_box(f, 128 * 1024);
	assert_non_null(p = saved_pos(f->ob, "jsonl/feed", &len));
	assert_int_equal(len, 7);
	assert_memory_equal(p, "off=100", 7);
	assert_non_null(p = saved_pos(f->ob, "tg/bot", &len));
	assert_memory_equal(p, "update=7", 8);
	assert_non_null(big = calloc(1, 512 * 1024));
	c.alerts = &b;
	c.data   = big;
	c.len    = 512 * 1024;
	c.pos    = "off=999";
	want     = f->done + 1;
	outbox_commit_alerts(f->ob, &c, on_commit, f);
	wait_for(f, want);
	assert_int_equal(f->rc, -1);
	free(big);
	outbox_close(f->ob);
	f->ob = open_box(f, 0);
	assert_non_null(p = saved_pos(f->ob, "jsonl/feed", &len));
	assert_memory_equal(p, "off=100", 7);
}

static void
test_state_names(void **state)
{
	(void)state;
	for (int s = OB_PENDING; s <= OB_HELD; s++)
		assert_int_equal(outbox_state_parse(outbox_state_name(s)), s);
	assert_int_equal(outbox_state_parse("gone"), -1);
	assert_int_equal(outbox_state_parse(NULL), -1);
	assert_string_equal(outbox_state_name(42), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_schema_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unopenable, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_commit_load_mark, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dedup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_held, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_group_commit_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_positions, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_log_rewound_under_load, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_rewind_gives_way_to_readers, setup, teardown),
	    cmocka_unit_test(test_state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
