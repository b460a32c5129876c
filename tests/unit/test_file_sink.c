/*
 * test_file_sink.c - unit tests of the file sink (plugins/sink/file)
 * through the real host table, with alert completions recorded by the
 * test's loop ops in place of vigild's sink.c. Checked: the alerts of one
 * turn of the loop go out together at its end, each completed once and
 * in order; more than a batch holds; completions that hand over more
 * alerts complete each alert once; stop writes what waits; a failing
 * write (/dev/full) completes every alert of the batch with a retry and
 * the next turn opens the file again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <libconfig.h>

#include "config.h"
#include "host.h"
#include "settings.h"

const vigil_plugin *vigil_plugin_entry(void);

#define MAX_DONE 1024

struct fixture {
	struct event_base *base;
	char               dir[64];
	char               path[96];
	uint64_t           token[MAX_DONE];
	int                status[MAX_DONE];
	int                n_done;
	/* alert_done emits this many more, up to token last, as vigild's
	 * sink pump may when a completion frees room */
	int      refill;
	uint64_t next, last;
	/* the instance */
	const vigil_plugin *desc;
	config_t            lc;
	vigil_cfg          *cfg;
	vigil_ctx           ctx;
	void               *inst;
};

static struct fixture *fx; /* for the loop ops, which have no argument */

static int emit(struct fixture *f, uint64_t token);

static void
op_alert_done(vigil_ctx *ctx, uint64_t token, int status)
{
	(void)ctx;
	assert_true(fx->n_done < MAX_DONE);
	fx->token[fx->n_done]    = token;
	fx->status[fx->n_done++] = status;
	for (int i = 0; i < fx->refill && fx->next <= fx->last; i++)
		assert_int_equal(emit(fx, fx->next++), VIGIL_PENDING);
}

static const host_loop_ops test_ops = {.alert_done = op_alert_done};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_non_null(f->base = event_base_new());
	snprintf(f->dir, sizeof(f->dir), "/tmp/vigil-filesink-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/alerts.jsonl", f->dir);
	fx = f;
	host_set_loop_ops(&test_ops);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	host_set_loop_ops(NULL);
	event_base_free(f->base);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	fx = NULL;
	return 0;
}

static void
sink_new(struct fixture *f, const char *path)
{
	const vigil_setting *tables[2];
	char                 conf[256], err[512] = "";

	f->desc   = vigil_plugin_entry();
	tables[0] = config_sink_common;
	tables[1] = f->desc->settings;
	snprintf(conf, sizeof(conf), "plugin = \"file\"; path = \"%s\";", path);
	config_init(&f->lc);
	assert_int_equal(config_read_string(&f->lc, conf), CONFIG_TRUE);
	f->cfg = settings_bind(
	    config_root_setting(&f->lc), tables, 2, f->dir, err, sizeof(err));
	if (f->cfg == NULL)
		fail_msg("settings refused: %s", err);
	assert_int_equal(
	    f->desc->validate(host_table(), f->cfg, err, sizeof(err)),
	    VIGIL_OK);
	host_ctx_init(&f->ctx, VIGIL_PLUGIN_SINK, "t", f->desc, f->base, NULL);
	assert_int_equal(
	    f->desc->init(host_table(), &f->ctx, f->cfg, &f->inst), VIGIL_OK);
}

static void
sink_free(struct fixture *f)
{
	f->desc->stop(f->inst);
	f->desc->destroy(f->inst);
	settings_free(f->cfg);
	config_destroy(&f->lc);
}

static const char doc[] = "{\"version\":1,\"id\":\"a\"}";

static int
emit(struct fixture *f, uint64_t token)
{
	vigil_alert a = {
	    .struct_size = sizeof(a),
	    .token       = token,
	    .id          = "a",
	    .rule        = "r",
	    .json        = doc,
	    .json_len    = sizeof(doc) - 1,
	};

	return f->desc->emit(f->inst, &a);
}

static long
file_lines(const char *path)
{
	FILE *fp = fopen(path, "r");
	long  n  = 0;
	int   c;

	if (fp == NULL)
		return -1;
	while ((c = fgetc(fp)) != EOF)
		n += c == '\n';
	fclose(fp);
	return n;
}

static void
turn(struct fixture *f)
{
	event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static void
assert_done_in_order(const struct fixture *f, int n, int status)
{
	assert_int_equal(f->n_done, n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(f->token[i], (uint64_t)(i + 1));
		assert_int_equal(f->status[i], status);
	}
}

static void
test_one_write_per_turn(void **state)
{
	struct fixture *f = *state;

	sink_new(f, f->path);
	for (uint64_t t = 1; t <= 5; t++)
		assert_int_equal(emit(f, t), VIGIL_PENDING);
	/* Nothing is written, nor completed, before the turn ends. */
	assert_int_equal(file_lines(f->path), 0);
	assert_int_equal(f->n_done, 0);
	turn(f);
	assert_int_equal(file_lines(f->path), 5);
	assert_done_in_order(f, 5, VIGIL_OK);
	/* The next turn's alerts are a batch of their own. */
	assert_int_equal(emit(f, 6), VIGIL_PENDING);
	turn(f);
	assert_int_equal(file_lines(f->path), 6);
	assert_int_equal(f->n_done, 6);
	sink_free(f);
}

static void
test_more_than_a_batch(void **state)
{
	struct fixture *f = *state;

	sink_new(f, f->path);
	for (uint64_t t = 1; t <= 600; t++)
		assert_int_equal(emit(f, t), VIGIL_PENDING);
	turn(f);
	assert_int_equal(file_lines(f->path), 600);
	assert_done_in_order(f, 600, VIGIL_OK);
	sink_free(f);
}

/* Completions that hand over more alerts at once must not disturb the
 * batch being completed: each alert is written and completed once. */
static void
test_done_hands_over_more(void **state)
{
	struct fixture *f         = *state;
	bool            seen[301] = {false};

	sink_new(f, f->path);
	f->refill = 2;
	f->last   = 300;
	for (f->next = 1; f->next <= 5; f->next++)
		assert_int_equal(emit(f, f->next), VIGIL_PENDING);
	for (int i = 0; i < 20 && f->n_done < 300; i++)
		turn(f);
	assert_int_equal(f->n_done, 300);
	assert_int_equal(file_lines(f->path), 300);
	for (int i = 0; i < f->n_done; i++) {
		assert_in_range(f->token[i], 1, 300);
		assert_false(seen[f->token[i]]);
		seen[f->token[i]] = true;
		assert_int_equal(f->status[i], VIGIL_OK);
	}
	sink_free(f);
}

static void
test_stop_writes_what_waits(void **state)
{
	struct fixture *f = *state;

	sink_new(f, f->path);
	assert_int_equal(emit(f, 1), VIGIL_PENDING);
	assert_int_equal(emit(f, 2), VIGIL_PENDING);
	f->desc->stop(f->inst);
	assert_int_equal(file_lines(f->path), 2);
	assert_done_in_order(f, 2, VIGIL_OK);
	f->desc->destroy(f->inst);
	settings_free(f->cfg);
	config_destroy(&f->lc);
}

static void
test_failing_write(void **state)
{
	struct fixture *f = *state;

	if (access("/dev/full", W_OK) != 0)
		skip();
	sink_new(f, "/dev/full");
	for (uint64_t t = 1; t <= 3; t++)
		assert_int_equal(emit(f, t), VIGIL_PENDING);
	turn(f);
	assert_done_in_order(f, 3, VIGIL_ERETRY);
	/* The next batch opens the file again, and fails the same way. */
	assert_int_equal(emit(f, 4), VIGIL_PENDING);
	turn(f);
	assert_int_equal(f->n_done, 4);
	assert_int_equal(f->status[3], VIGIL_ERETRY);
	sink_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_one_write_per_turn, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_more_than_a_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_done_hands_over_more, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_stop_writes_what_waits, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_failing_write, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
