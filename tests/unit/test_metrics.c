/*
 * test_metrics.c - unit tests of the metrics registry (daemon/metrics.c):
 * counter and histogram values, the same handle for the same series,
 * lock-free updates from several threads, the exact Prometheus text of a
 * small registry, label and HELP escaping, and the refusal of bad names,
 * label sets, bounds and type clashes.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

/* metrics_write into a malloc'd string. */
static char *
exposition(void)
{
	char  *text = NULL;
	size_t len  = 0;
	FILE  *f    = open_memstream(&text, &len);

	assert_non_null(f);
	metrics_write(f);
	assert_int_equal(fclose(f), 0);
	assert_non_null(text);
	return text;
}

static void
assert_exposition(const char *expected)
{
	char *text = exposition();

	if (strcmp(text, expected) != 0)
		fail_msg("exposition differs.\n--- got:\n%s--- expected:\n%s",
		    text, expected);
	free(text);
}

static int
teardown(void **state)
{
	metrics_reset();
	return 0;
}

static void
test_counter_values(void **state)
{
	vigil_counter *a =
	    metrics_counter("t_requests_total", "Requests.", "route=\"a\"");
	vigil_counter *b =
	    metrics_counter("t_requests_total", "Requests.", "route=\"b\"");
	vigil_counter *plain = metrics_counter("t_plain_total", NULL, NULL);

	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(plain);
	assert_ptr_not_equal(a, b);
	assert_int_equal(metrics_counter_value(a), 0);
	metrics_counter_add(a, 3);
	metrics_counter_add(a, 4);
	metrics_counter_add(b, UINT64_C(1) << 40);
	assert_int_equal(metrics_counter_value(a), 7);
	assert_int_equal(metrics_counter_value(b), UINT64_C(1) << 40);
	/* The same series is the same handle, with its value. */
	assert_ptr_equal(
	    metrics_counter("t_requests_total", "Other help.", "route=\"a\""),
	    a);
	assert_ptr_equal(metrics_counter("t_plain_total", NULL, ""), plain);
	/* NULL handles are harmless. */
	metrics_counter_add(NULL, 1);
	assert_int_equal(metrics_counter_value(NULL), 0);
	metrics_histogram_observe(NULL, 1.0);
}

static void
test_histogram_buckets(void **state)
{
	static const double bounds[] = {0.1, 1, 10};
	vigil_histogram    *h =
	    metrics_histogram("t_latency_seconds", "Latency.", NULL, bounds, 3);

	assert_non_null(h);
	metrics_histogram_observe(h, 0.05);
	metrics_histogram_observe(h, 0.1); /* le is inclusive */
	metrics_histogram_observe(h, 0.5);
	metrics_histogram_observe(h, 10);
	metrics_histogram_observe(h, 11);
	metrics_histogram_observe(h, NAN); /* dropped */
	metrics_histogram_observe(h, -1);  /* below the first bound */
	assert_exposition("# HELP t_latency_seconds Latency.\n"
	                  "# TYPE t_latency_seconds histogram\n"
	                  "t_latency_seconds_bucket{le=\"0.1\"} 3\n"
	                  "t_latency_seconds_bucket{le=\"1\"} 4\n"
	                  "t_latency_seconds_bucket{le=\"10\"} 5\n"
	                  "t_latency_seconds_bucket{le=\"+Inf\"} 6\n"
	                  "t_latency_seconds_sum 20.65\n"
	                  "t_latency_seconds_count 6\n");
	assert_ptr_equal(
	    metrics_histogram("t_latency_seconds", NULL, NULL, bounds, 3), h);
	/* Same series, other bounds: refused. */
	assert_null(
	    metrics_histogram("t_latency_seconds", NULL, NULL, bounds, 2));
}

static double
gauge_value(void *arg)
{
	return *(double *)arg;
}

static void
test_exposition_exact(void **state)
{
	static const double bounds[] = {0.5, 2.5};
	double              queue = 12, other = 1.5, nan_value = NAN;
	vigil_counter      *c1, *c2, *c3;
	vigil_histogram    *h1, *h2;

	c1 = metrics_counter(
	    "vigil_posts_total", "Posts received.", "input=\"a\"");
	h1 = metrics_histogram(
	    "vigil_batch_seconds", "Batch time.", "worker=\"1\"", bounds, 2);
	c2 = metrics_counter(
	    "vigil_posts_total", "Posts received.", "input=\"b\"");
	c3 = metrics_counter("vigil_reloads_total", "Reloads.", NULL);
	h2 = metrics_histogram(
	    "vigil_batch_seconds", "Batch time.", "worker=\"2\"", bounds, 2);
	metrics_gauge_fn("vigil_queue_depth",
	    "Posts waiting.\nPer queue, "
	    "in C:\\queue.",
	    "queue=\"in\"", gauge_value, &queue);
	metrics_gauge_fn("vigil_queue_depth", "ignored", "queue=\"nan\"",
	    gauge_value, &nan_value);
	metrics_gauge_fn("vigil_no_help", NULL, NULL, gauge_value, &other);
	assert_non_null(c1);
	assert_non_null(c2);
	assert_non_null(c3);
	assert_non_null(h1);
	assert_non_null(h2);
	metrics_counter_add(c1, 5);
	metrics_counter_add(c3, 1);
	metrics_histogram_observe(h1, 0.25);
	metrics_histogram_observe(h1, 1);
	metrics_histogram_observe(h1, 3);
	assert_exposition(
	    "# HELP vigil_posts_total Posts received.\n"
	    "# TYPE vigil_posts_total counter\n"
	    "vigil_posts_total{input=\"a\"} 5\n"
	    "vigil_posts_total{input=\"b\"} 0\n"
	    "# HELP vigil_batch_seconds Batch time.\n"
	    "# TYPE vigil_batch_seconds histogram\n"
	    "vigil_batch_seconds_bucket{worker=\"1\",le=\"0.5\"} 1\n"
	    "vigil_batch_seconds_bucket{worker=\"1\",le=\"2.5\"} 2\n"
	    "vigil_batch_seconds_bucket{worker=\"1\",le=\"+Inf\"} 3\n"
	    "vigil_batch_seconds_sum{worker=\"1\"} 4.25\n"
	    "vigil_batch_seconds_count{worker=\"1\"} 3\n"
	    "vigil_batch_seconds_bucket{worker=\"2\",le=\"0.5\"} 0\n"
	    "vigil_batch_seconds_bucket{worker=\"2\",le=\"2.5\"} 0\n"
	    "vigil_batch_seconds_bucket{worker=\"2\",le=\"+Inf\"} 0\n"
	    "vigil_batch_seconds_sum{worker=\"2\"} 0\n"
	    "vigil_batch_seconds_count{worker=\"2\"} 0\n"
	    "# HELP vigil_reloads_total Reloads.\n"
	    "# TYPE vigil_reloads_total counter\n"
	    "vigil_reloads_total 1\n"
	    "# HELP vigil_queue_depth Posts waiting.\\nPer queue, in "
	    "C:\\\\queue.\n"
	    "# TYPE vigil_queue_depth gauge\n"
	    "vigil_queue_depth{queue=\"in\"} 12\n"
	    "vigil_queue_depth{queue=\"nan\"} NaN\n"
	    "# TYPE vigil_no_help gauge\n"
	    "vigil_no_help 1.5\n");

	/* Gauges are read at exposition time, can be replaced and removed. */
	queue = 0.1;
	metrics_gauge_fn("vigil_no_help", NULL, NULL, gauge_value, &queue);
	metrics_gauge_remove("vigil_queue_depth", "queue=\"nan\"");
	metrics_gauge_remove("vigil_queue_depth", "queue=\"absent\"");
	metrics_gauge_remove("vigil_posts_total", "input=\"a\""); /* no gauge */
	{
		char *text = exposition();

		assert_non_null(strstr(text,
		    "vigil_queue_depth{queue=\"in\"} 0.1\n"
		    "# TYPE vigil_no_help gauge\nvigil_no_help 0.1\n"));
		assert_null(strstr(text, "queue=\"nan\""));
		assert_non_null(
		    strstr(text, "vigil_posts_total{input=\"a\"} 5\n"));
		free(text);
	}
	/* A family whose last gauge went away is not written at all. */
	metrics_gauge_remove("vigil_no_help", NULL);
	{
		char *text = exposition();

		assert_null(strstr(text, "vigil_no_help"));
		free(text);
	}
}

static void
test_label_escaping(void **state)
{
	char           buf[128]  = "";
	char           small[16] = "a=\"1\"";
	vigil_counter *c;

	assert_int_equal(
	    metrics_label(buf, sizeof(buf), "path", "C:\\dir \"x\"\nend"), 0);
	assert_string_equal(buf, "path=\"C:\\\\dir \\\"x\\\"\\nend\"");
	assert_int_equal(metrics_label(buf, sizeof(buf), "k", ""), 0);
	assert_string_equal(buf, "path=\"C:\\\\dir \\\"x\\\"\\nend\",k=\"\"");
	/* Too long, or a bad label name: refused and buf kept as it was. */
	assert_int_equal(
	    metrics_label(small, sizeof(small), "b", "0123456789"), -1);
	assert_string_equal(small, "a=\"1\"");
	assert_int_equal(metrics_label(small, sizeof(small), "b", "1"), 0);
	assert_string_equal(small, "a=\"1\",b=\"1\"");
	assert_int_equal(metrics_label(small, sizeof(small), "9x", "1"), -1);
	assert_int_equal(metrics_label(small, sizeof(small), "a-b", "1"), -1);
	assert_string_equal(small, "a=\"1\",b=\"1\"");
	/* Exactly full: "a=\"1\",b=\"1\",c=\"\"" needs 17 bytes. */
	assert_int_equal(metrics_label(small, sizeof(small), "c", ""), -1);

	c = metrics_counter("t_escaped_total", "Escaped.", buf);
	assert_non_null(c);
	metrics_counter_add(c, 2);
	assert_exposition(
	    "# HELP t_escaped_total Escaped.\n"
	    "# TYPE t_escaped_total counter\n"
	    "t_escaped_total{path=\"C:\\\\dir \\\"x\\\"\\nend\",k=\"\"} 2\n");
}

static void
test_bad_names(void **state)
{
	static const double      bounds[]     = {1, 2};
	static const double      descending[] = {2, 1};
	static const double      equal[]      = {1, 1};
	const double             with_nan[]   = {1, NAN};
	const double             with_inf[]   = {1, INFINITY};
	static const char *const names[]      = {
	         "", "9lives", "Upper", "a-b", "a.b", "a:b", "a b", "é"};
	static const char *const labels[] = {
	    "a=b",
	    "a=\"x",
	    "a=\"x\",",
	    "a=\"x\"b=\"y\"",
	    "=\"x\"",
	    "__name__=\"x\"",
	    "a=\"\\q\"",
	    "a=\"line\nbreak\"",
	    "9a=\"x\"",
	    "a=\"x\",,b=\"y\"",
	    " a=\"x\"",
	    "a",
	    "a:\"x\"",
	    "a=\"x\"\n",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		assert_null(metrics_counter(names[i], NULL, NULL));
		assert_null(metrics_histogram(names[i], NULL, NULL, bounds, 2));
		metrics_gauge_fn(names[i], NULL, NULL, gauge_value, NULL);
	}
	assert_null(metrics_counter(NULL, NULL, NULL));
	metrics_gauge_fn("t_gauge", NULL, NULL, NULL, NULL);
	for (size_t i = 0; i < sizeof(labels) / sizeof(*labels); i++) {
		if (metrics_counter("t_ok_total", NULL, labels[i]) != NULL)
			fail_msg("label set accepted: %s", labels[i]);
	}
	/* le is the histogram's own label. */
	assert_null(metrics_histogram("t_hist", NULL, "le=\"1\"", bounds, 2));
	assert_null(metrics_histogram("t_hist", NULL, NULL, descending, 2));
	assert_null(metrics_histogram("t_hist", NULL, NULL, equal, 2));
	assert_null(metrics_histogram("t_hist", NULL, NULL, with_nan, 2));
	assert_null(metrics_histogram("t_hist", NULL, NULL, with_inf, 2));
	assert_null(metrics_histogram("t_hist", NULL, NULL, NULL, 2));
	/* Nothing was registered by the refusals. */
	{
		char *text = exposition();

		assert_string_equal(text, "");
		free(text);
	}
	/* A name keeps its first type; histogram series names stay unique. */
	assert_non_null(metrics_counter("t_thing", NULL, NULL));
	assert_null(metrics_histogram("t_thing", NULL, NULL, bounds, 2));
	metrics_gauge_fn("t_thing", NULL, "x=\"1\"", gauge_value, NULL);
	assert_non_null(metrics_histogram("t_rtt", NULL, NULL, bounds, 2));
	assert_null(metrics_counter("t_rtt_count", NULL, NULL));
	assert_null(metrics_counter("t_rtt_bucket", NULL, NULL));
	assert_non_null(metrics_counter("t_wait_sum", NULL, NULL));
	assert_null(metrics_histogram("t_wait", NULL, NULL, bounds, 2));
	/* A histogram without bounds has the +Inf bucket only. */
	assert_non_null(metrics_histogram("t_any", NULL, NULL, NULL, 0));
	{
		char *text = exposition();

		assert_null(strstr(text, "x=\"1\""));
		assert_non_null(strstr(text, "t_any_bucket{le=\"+Inf\"} 0\n"));
		free(text);
	}
	/* Accepted label sets. */
	assert_non_null(metrics_counter(
	    "t_ok_total", NULL, "a=\"\",B_2=\"\\\\\\\"\\n\",_c=\"x,y=z\""));
}

#define THREADS 4
#define ROUNDS  100000

struct shared {
	vigil_counter   *c;
	vigil_histogram *h;
};

static void *
hammer(void *arg)
{
	struct shared *s = arg;

	for (int i = 0; i < ROUNDS; i++) {
		metrics_counter_add(s->c, 1);
		metrics_histogram_observe(s->h, (i & 1) ? 0.5 : 2.0);
	}
	return NULL;
}

static void
test_concurrency(void **state)
{
	static const double bounds[] = {1};
	struct shared       s;
	pthread_t           t[THREADS];
	char                expected[512];

	s.c = metrics_counter("t_hits_total", NULL, NULL);
	s.h = metrics_histogram("t_size", NULL, NULL, bounds, 1);
	assert_non_null(s.c);
	assert_non_null(s.h);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, &s), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(metrics_counter_value(s.c), THREADS * ROUNDS);
	/* Halves of 0.5 and 2.0 sum exactly in a double. */
	snprintf(expected, sizeof(expected),
	    "# TYPE t_hits_total counter\n"
	    "t_hits_total %d\n"
	    "# TYPE t_size histogram\n"
	    "t_size_bucket{le=\"1\"} %d\n"
	    "t_size_bucket{le=\"+Inf\"} %d\n"
	    "t_size_sum %d\n"
	    "t_size_count %d\n",
	    THREADS * ROUNDS, THREADS * ROUNDS / 2, THREADS * ROUNDS,
	    THREADS * ROUNDS / 2 * 5 / 2, THREADS * ROUNDS);
	assert_exposition(expected);
}

struct creator {
	vigil_counter *got[64];
};

static void *
create_many(void *arg)
{
	struct creator *cr = arg;
	char            labels[32];

	for (int i = 0; i < 64; i++) {
		snprintf(labels, sizeof(labels), "n=\"%d\"", i);
		cr->got[i] = metrics_counter("t_created_total", NULL, labels);
		metrics_counter_add(cr->got[i], 1);
	}
	return NULL;
}

/* Threads creating the same series at once all get the same handles. */
static void
test_concurrent_creation(void **state)
{
	struct creator cr[THREADS];
	pthread_t      t[THREADS];

	for (int i = 0; i < THREADS; i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL, create_many, &cr[i]), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (int k = 0; k < 64; k++) {
		assert_non_null(cr[0].got[k]);
		for (int i = 1; i < THREADS; i++)
			assert_ptr_equal(cr[i].got[k], cr[0].got[k]);
		assert_int_equal(metrics_counter_value(cr[0].got[k]), THREADS);
	}
}

static void
test_numbers(void **state)
{
	static const double bounds[] = {1e-06, 0.1, 1e+21};
	vigil_histogram *h = metrics_histogram("t_num", NULL, NULL, bounds, 3);
	double           third = 1.0 / 3, minus_inf = -INFINITY;

	assert_non_null(h);
	metrics_gauge_fn("t_third", NULL, NULL, gauge_value, &third);
	metrics_gauge_fn("t_floor", NULL, NULL, gauge_value, &minus_inf);
	metrics_histogram_observe(h, 0.1);
	metrics_histogram_observe(h, 0.2);
	/* Doubles are written so that they read back the same. */
	assert_exposition("# TYPE t_num histogram\n"
	                  "t_num_bucket{le=\"1e-06\"} 0\n"
	                  "t_num_bucket{le=\"0.1\"} 1\n"
	                  "t_num_bucket{le=\"1e+21\"} 2\n"
	                  "t_num_bucket{le=\"+Inf\"} 2\n"
	                  "t_num_sum 0.30000000000000004\n"
	                  "t_num_count 2\n"
	                  "# TYPE t_third gauge\n"
	                  "t_third 0.33333333333333331\n"
	                  "# TYPE t_floor gauge\n"
	                  "t_floor -Inf\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_counter_values, teardown),
	    cmocka_unit_test_teardown(test_histogram_buckets, teardown),
	    cmocka_unit_test_teardown(test_exposition_exact, teardown),
	    cmocka_unit_test_teardown(test_label_escaping, teardown),
	    cmocka_unit_test_teardown(test_bad_names, teardown),
	    cmocka_unit_test_teardown(test_concurrency, teardown),
	    cmocka_unit_test_teardown(test_concurrent_creation, teardown),
	    cmocka_unit_test_teardown(test_numbers, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
