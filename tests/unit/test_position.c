/*
 * test_position.c - input positions over a real outbox: the position
 * moves over the finished prefix only, whatever order verdicts come back
 * in; a position carried by an alert commit needs no write of its own;
 * skips wait behind unfinished posts; and what is written is read back
 * when the outbox is opened again.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "bridge.h"
#include "outbox.h"
#include "position.h"

typedef struct fixture {
	char               dir[64];
	char               path[96];
	struct event_base *base;
	bridge            *br;
	outbox            *ob;
	positions         *pos;
} fixture;

static void
open_all(fixture *f)
{
	outbox_opts o = {.path = f->path};
	char        err[512];

	if ((f->ob = outbox_open(&o, f->br, err, sizeof(err))) == NULL)
		fail_msg("outbox_open: %s", err);
	assert_non_null(f->pos = positions_new(f->base, f->ob));
}

static void
close_all(fixture *f)
{
	positions_flush(f->pos);
	outbox_close(f->ob);
	bridge_run(f->br);
	positions_free(f->pos);
	f->ob  = NULL;
	f->pos = NULL;
}

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/vigil-test-position.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/outbox.db", f->dir);
	evthread_use_pthreads();
	assert_non_null(f->base = event_base_new());
	assert_non_null(f->br = bridge_new(f->base));
	open_all(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;
	char     cmd[128];

	if (f->ob)
		close_all(f);
	bridge_free(f->br);
	event_base_free(f->base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* The newest finished position of input as a string, or "" when none. */
static const char *
current(fixture *f, const char *input)
{
	static char buf[64];
	size_t      len = 0;
	char       *p   = positions_get(f->pos, input, &len);

	buf[0] = '\0';
	if (p != NULL) {
		snprintf(buf, sizeof(buf), "%.*s", (int)len, p);
		free(p);
	}
	return buf;
}

static void
test_prefix(void **state)
{
	fixture    *f = *state;
	pos_track  *t = pos_track_new(f->pos, "feed");
	pos_entry  *e1, *e2, *e3;
	const char *with;
	size_t      len;

	assert_non_null(t);
	assert_non_null(e1 = pos_submit(t, "p1", 2));
	assert_non_null(e2 = pos_submit(t, "p2", 2));
	assert_non_null(e3 = pos_submit(t, "p3", 2));
	/* e1 is unfinished: e2 can carry no position. */
	assert_null(pos_with(t, e2, &len));
	pos_done(t, e2);
	assert_string_equal(current(f, "feed"), "");
	/* e1 completes the prefix up to e2. */
	assert_non_null(with = pos_with(t, e1, &len));
	assert_int_equal(len, 2);
	assert_memory_equal(with, "p2", 2);
	pos_recorded_with(t, e1);
	pos_done(t, e1);
	assert_string_equal(current(f, "feed"), "p2");
	/* A skip behind an unfinished post waits for it. */
	assert_int_equal(pos_skip(t, "p4", 2), 0);
	assert_string_equal(current(f, "feed"), "p2");
	pos_done(t, e3);
	assert_string_equal(current(f, "feed"), "p4");
	/* Nothing in flight: a skip moves the position at once. */
	assert_int_equal(pos_skip(t, "p5", 2), 0);
	assert_string_equal(current(f, "feed"), "p5");
	pos_track_free(t);

	/* p5 was due for a write of its own; it is there after a restart,
	 * for the next instance of the input. */
	close_all(f);
	open_all(f);
	assert_string_equal(current(f, "feed"), "p5");
	assert_string_equal(current(f, "other"), "");
}

/* A post that never finishes (shutdown before its verdict) holds the
 * position before it for good. */
static void
test_unfinished(void **state)
{
	fixture   *f = *state;
	pos_track *t = pos_track_new(f->pos, "feed");
	pos_entry *e1, *e2;

	assert_non_null(e1 = pos_submit(t, "a", 1));
	assert_non_null(e2 = pos_submit(t, "b", 1));
	pos_done(t, e2);
	pos_track_free(t);
	close_all(f);
	open_all(f);
	assert_string_equal(current(f, "feed"), "");
	(void)e1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_prefix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unfinished, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
