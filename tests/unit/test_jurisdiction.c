/*
 * test_jurisdiction.c - the services every jurisdiction plugin shares:
 * calendars across time zones (from the system's tzdata), registries of
 * authors, and lexicons of weighted signals with evidence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "calendar.h"
#include "lexicon.h"
#include "post.h"
#include "registry.h"
#include "text.h"
#include "tz.h"
#include "util.h"
#include "verdict.h"

static const char *const kz_zones[] = {"Asia/Almaty", "Asia/Qostanay",
    "Asia/Aqtobe", "Asia/Aqtau", "Asia/Atyrau", "Asia/Oral", "Asia/Qyzylorda"};
#define N_KZ (sizeof(kz_zones) / sizeof(kz_zones[0]))

static int64_t
utc(const char *rfc3339)
{
	int64_t us;
	int32_t off;

	assert_int_equal(rfc3339_parse(rfc3339, &us, &off), 0);
	return us;
}

static post *
parse(const char *json)
{
	char  err[256];
	post *p = NULL;

	assert_int_equal(
	    post_parse(json, strlen(json), &p, err, sizeof(err)), 0);
	return p;
}

/* ------------------------------------------------------------ calendars */

static void
test_calendar_spans_zones(void **state)
{
	vigil_calendar     *cal = calendar_new();
	char                err[256];
	const vigil_window *w;

	(void)state;
	assert_non_null(cal);
	/* 2021: two zones, UTC+6 and UTC+5. The blackout opens at midnight
	 * in the east and closes at 20:00 in the west. */
	assert_int_equal(
	    calendar_add(cal, "mazhilis-2021", "blackout", kz_zones, N_KZ,
	        "2021-01-05", "2021-01-10 20:00", err, sizeof(err)),
	    VIGIL_OK);
	w = calendar_window(cal, 0);
	assert_non_null(w);
	assert_true(w->start == utc("2021-01-04T18:00:00Z"));
	assert_true(w->end == utc("2021-01-10T15:00:00Z"));
	assert_string_equal(w->event, "mazhilis-2021");
	assert_string_equal(w->name, "blackout");
	/* 20:30 in UTC+6 is still before the close of polls in UTC+5. */
	assert_ptr_equal(
	    calendar_find(cal, "blackout", utc("2021-01-10T20:30:00+06:00")),
	    w);
	assert_null(
	    calendar_find(cal, "blackout", utc("2021-01-10T21:00:00+06:00")));
	assert_null(
	    calendar_find(cal, "blackout", utc("2021-01-04T23:59:59+06:00")));
	assert_ptr_equal(
	    calendar_find(cal, NULL, utc("2021-01-05T00:00:00+06:00")), w);
	assert_null(calendar_find(cal, "silence", utc("2021-01-09T12:00:00Z")));
	calendar_free(cal);
}

/* Almaty moved to UTC+5 on 2024-03-01: all of Kazakhstan is one zone by
 * the referendum of October 2024. */
static void
test_calendar_2024_blackout_pinned(void **state)
{
	vigil_calendar *cal = calendar_new();
	char            err[256];

	(void)state;
	assert_int_equal(
	    calendar_add(cal, "referendum-2024", "blackout", kz_zones, N_KZ,
	        "2024-10-01", "2024-10-06 20:00", err, sizeof(err)),
	    VIGIL_OK);
	assert_true(
	    calendar_window(cal, 0)->start == utc("2024-09-30T19:00:00Z"));
	assert_true(
	    calendar_window(cal, 0)->end == utc("2024-10-06T15:00:00Z"));
	/* 24:00 ends the day; an empty window is allowed and never holds. */
	assert_int_equal(
	    calendar_add(cal, "referendum-2024", "silence", kz_zones, N_KZ,
	        "2024-10-05", "2024-10-05 24:00", err, sizeof(err)),
	    VIGIL_OK);
	assert_true(
	    calendar_window(cal, 1)->end == utc("2024-10-05T19:00:00Z"));
	assert_int_equal(
	    calendar_add(cal, "referendum-2024", "empty", kz_zones, N_KZ,
	        "2024-09-02", "2024-09-02", err, sizeof(err)),
	    VIGIL_OK);
	assert_null(calendar_find(cal, "empty", utc("2024-09-01T19:00:00Z")));
	assert_int_equal(calendar_count(cal), 3);
	assert_null(calendar_window(cal, 3));
	calendar_free(cal);
}

static void
test_calendar_errors(void **state)
{
	vigil_calendar   *cal      = calendar_new();
	const char *const bad[]    = {"Asia/Almaty", "Asia/Nowhere"};
	const char *const escape[] = {"../../etc/passwd"};
	char              err[256];

	(void)state;
	assert_int_equal(calendar_add(cal, "e", "w", bad, 2, "2021-01-05",
	                     "2021-01-06", err, sizeof(err)),
	    VIGIL_ERR);
	assert_non_null(strstr(err, "Asia/Nowhere"));
	assert_non_null(strstr(err, "e: window w"));
	assert_int_equal(calendar_add(cal, "e", "w", escape, 1, "2021-01-05",
	                     "2021-01-06", err, sizeof(err)),
	    VIGIL_ERR);
	assert_int_equal(calendar_add(cal, "e", "w", kz_zones, N_KZ,
	                     "2021-02-30", "2021-03-06", err, sizeof(err)),
	    VIGIL_ERR);
	assert_non_null(strstr(err, "2021-02-30"));
	assert_int_equal(
	    calendar_add(cal, "e", "w", kz_zones, N_KZ, "2021-01-05 25:00",
	        "2021-03-06", err, sizeof(err)),
	    VIGIL_ERR);
	assert_int_equal(calendar_add(cal, "e", "w", kz_zones, N_KZ,
	                     "2021-01-06", "2021-01-05", err, sizeof(err)),
	    VIGIL_ERR);
	assert_non_null(strstr(err, "before it starts"));
	assert_int_equal(calendar_add(cal, "e", "w", kz_zones, 0, "2021-01-05",
	                     "2021-01-06", err, sizeof(err)),
	    VIGIL_ERR);
	assert_non_null(strstr(err, "no time zone"));
	assert_int_equal(calendar_count(cal), 0);
	calendar_free(cal);
}

/* The day before a vote, across months, years and leap days; dates that
 * do not exist are refused. */
static void
test_date_add_days(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(
	    tz_date_add_days("2022-04-10", -1, out, sizeof(out)), 0);
	assert_string_equal(out, "2022-04-09");
	assert_int_equal(
	    tz_date_add_days("2021-01-01", -1, out, sizeof(out)), 0);
	assert_string_equal(out, "2020-12-31");
	assert_int_equal(
	    tz_date_add_days("2024-02-28", 1, out, sizeof(out)), 0);
	assert_string_equal(out, "2024-02-29");
	assert_int_equal(
	    tz_date_add_days("2023-02-28", 1, out, sizeof(out)), 0);
	assert_string_equal(out, "2023-03-01");
	assert_int_equal(
	    tz_date_add_days("2024-07-07", -7, out, sizeof(out)), 0);
	assert_string_equal(out, "2024-06-30");
	assert_int_equal(
	    tz_date_add_days("2000-03-01", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "2000-03-01");
	assert_int_equal(
	    tz_date_add_days("2021-02-29", -1, out, sizeof(out)), -1);
	assert_int_equal(
	    tz_date_add_days("2021-01-10 20:00", 0, out, sizeof(out)), -1);
	assert_int_equal(
	    tz_date_add_days("0000-01-01", -1, out, sizeof(out)), -1);
	assert_int_equal(tz_date_add_days("2021-01-10", 0, out, 5), -1);
}

/* ------------------------------------------------------------ registries */

static void
test_registry_ids_and_handles(void **state)
{
	vigil_registry *r = registry_new();
	post *a = parse("{\"id\":\"1\",\"created_at\":\"2021-01-01T00:00:00Z\","
	                "\"author\":{\"id\":\"tg:@qazpoll_institute\"}}");
	post *b = parse("{\"id\":\"2\",\"created_at\":\"2021-01-01T00:00:00Z\","
	                "\"author\":{\"id\":\"TG:@QAZPOLL_INSTITUTE\"}}");
	post *c =
	    parse("{\"id\":\"3\",\"created_at\":\"2021-01-01T00:00:00Z\","
	          "\"author\":{\"id\":\"x\",\"handle\":\"@SAYLAU_Zerttey\"}}");
	post *d = parse("{\"id\":\"4\",\"created_at\":\"2021-01-01T00:00:00Z\","
	                "\"author\":{\"id\":\"y\",\"handle\":\"ҚАЗАҚ_poll\"}}");
	post *e = parse("{\"id\":\"5\",\"created_at\":\"2021-01-01T00:00:00Z\","
	                "\"author\":{\"id\":\"z\",\"handle\":\"someone\"}}");

	(void)state;
	assert_int_equal(
	    registry_add(r, "  tg:@qazpoll_institute\n"), VIGIL_OK);
	assert_int_equal(registry_add(r, "saylau_zerttey"), VIGIL_OK);
	assert_int_equal(registry_add(r, "@қазақ_POLL"), VIGIL_OK);
	assert_int_equal(registry_add(r, "   "), VIGIL_ERR);
	assert_int_equal(registry_add(r, "bad\xff"), VIGIL_ERR);
	assert_int_equal(registry_size(r), 3);
	assert_true(registry_has(r, post_view(a)));
	assert_false(registry_has(r, post_view(b))); /* ids are exact */
	assert_true(registry_has(r, post_view(c)));
	assert_true(registry_has(r, post_view(d)));
	assert_false(registry_has(r, post_view(e)));
	registry_free(r);
	post_free(a);
	post_free(b);
	post_free(c);
	post_free(d);
	post_free(e);
}

static void
test_registry_file(void **state)
{
	char            path[] = "/tmp/vigil-registry-XXXXXX", err[256];
	const char      good[] = "# notified pollsters\n\n"
	                         "tg:@one   # the first\n"
	                         "  @Two\r\n";
	int             fd     = mkstemp(path);
	vigil_registry *r      = registry_new();
	FILE           *f;

	(void)state;
	assert_true(fd >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	fputs(good, f);
	fputc('\xff', f);
	fputs("\n", f);
	fclose(f);
	assert_int_equal(registry_load(r, path, err, sizeof(err)), VIGIL_ERR);
	assert_non_null(strstr(err, ":5:"));
	assert_non_null(strstr(err, path));
	registry_free(r);

	assert_non_null(f = fopen(path, "w"));
	fputs(good, f);
	fclose(f);
	r = registry_new();
	assert_int_equal(registry_load(r, path, err, sizeof(err)), VIGIL_OK);
	assert_int_equal(registry_size(r), 2);
	registry_free(r);
	unlink(path);

	r = registry_new();
	assert_int_equal(
	    registry_load(r, "/nonexistent/registry.txt", err, sizeof(err)),
	    VIGIL_ERR);
	assert_non_null(strstr(err, "/nonexistent/registry.txt"));
	registry_free(r);
}

/* ------------------------------------------------------------ lexicons */

static const char *const poll_terms[] = {"опрос", "poll"};
static const char *const vote_stems[] = {"голосу"};
static const char *const pct_regex[]  = {"\\d{1,3}\\s?%"};

static const vigil_signal_def defs[] = {
    {.name = "structural", .weight = 3.0},
    {.name = "poll_word", .weight = 1.5, .terms = poll_terms, .n_terms = 2},
    {.name = "vote", .weight = 0.5, .stems = vote_stems, .n_stems = 1},
    {.name = "percent", .weight = 2.0, .regex = pct_regex, .n_regex = 1},
};

static void
test_lexicon_scan(void **state)
{
	char            err[256];
	vigil_lexicon  *lx = lexicon_new(defs, 4, err, sizeof(err));
	vigil_hit       hits[4];
	vigil_findings *out = findings_new();
	vigil_finding  *f;
	/* Latin o inside the Cyrillic word, and a
	 * "голосу" that is not the start of a word ("проголосуете"). */
	post *p = parse("{\"id\":\"1\",\"created_at\":\"2021-01-01T00:00:00Z\","
	                "\"text\":\"Наш oпрос: Голосуйте! 45 % за\","
	                "\"poll\":{\"question\":\"проголосуете?\","
	                "\"options\":[\"poll\",\"опрос\"]}}");
	const vigil_post *v = post_view(p);
	vigil_str         t = post_field(v, VIGIL_FIELD_TEXT);

	(void)state;
	assert_non_null(lx);
	assert_int_equal(lexicon_size(lx), 4);
	assert_int_equal(lexicon_index(lx, "vote"), 2);
	assert_int_equal(lexicon_index(lx, "nope"), -1);
	assert_string_equal(lexicon_name(lx, 3), "percent");
	assert_true(lexicon_weight(lx, 1) == 1.5);
	assert_int_equal(lexicon_scan(lx, v, hits), VIGIL_OK);
	assert_int_equal(hits[0].count, 0);
	/* poll_word: text, option 0, option 1; two distinct terms. */
	assert_int_equal(hits[1].count, 3);
	assert_int_equal(hits[1].distinct, 2);
	assert_true(hits[1].fields ==
	    ((1u << VIGIL_FIELD_TEXT) | (1u << VIGIL_FIELD_POLL_OPTION(0)) |
	        (1u << VIGIL_FIELD_POLL_OPTION(1))));
	assert_int_equal(hits[1].field, VIGIL_FIELD_TEXT);
	assert_int_equal(hits[1].end - hits[1].start, strlen("oпрос"));
	assert_memory_equal(t.ptr + hits[1].start, "oпрос", strlen("oпрос"));
	/* The stem matched the start of "Голосуйте" only. */
	assert_int_equal(hits[2].count, 1);
	assert_int_equal(hits[2].fields, 1u << VIGIL_FIELD_TEXT);
	assert_memory_equal(t.ptr + hits[2].start, "Голосу", strlen("Голосу"));
	assert_int_equal(hits[3].count, 1);
	assert_memory_equal(t.ptr + hits[3].start, "45 %", 4);

	vigil_finding_spec spec = {
	    .struct_size = sizeof(spec), .rule = "x.y", .score = 1.0};
	assert_non_null(f = findings_add(out, &spec));
	assert_true(finding_hit(f, v, lx, hits, 1) == 1.5);
	assert_true(finding_hit(f, v, lx, hits, 0) == 0.0);
	assert_true(finding_hit(f, v, lx, hits, 9) == 0.0);
	findings_free(out);
	lexicon_free(lx);
	post_free(p);
}

static void
test_lexicon_errors(void **state)
{
	char                     err[256];
	static const char *const bad_regex[] = {"(unclosed"};
	vigil_signal_def         dup[]       = {
	                  {.name = "a", .weight = 1, .where = "x.conf:3"},
	                  {.name = "a", .weight = 2, .where = "x.conf:4"},
        };
	vigil_signal_def rx[]     = {{.name = "r",
	        .weight                     = 1,
	        .regex                      = bad_regex,
	        .n_regex                    = 1,
	        .where                      = "x.conf:9"}};
	vigil_signal_def noname[] = {{.name = "", .weight = 1}};

	(void)state;
	assert_null(lexicon_new(dup, 2, err, sizeof(err)));
	assert_non_null(strstr(err, "x.conf:4"));
	assert_non_null(strstr(err, "twice"));
	assert_null(lexicon_new(rx, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "x.conf:9"));
	assert_null(lexicon_new(noname, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "no name"));
}

static int
setup(void **state)
{
	(void)state;
	return text_init();
}

static int
teardown(void **state)
{
	(void)state;
	text_fini();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_calendar_spans_zones),
	    cmocka_unit_test(test_calendar_2024_blackout_pinned),
	    cmocka_unit_test(test_calendar_errors),
	    cmocka_unit_test(test_date_add_days),
	    cmocka_unit_test(test_registry_ids_and_handles),
	    cmocka_unit_test(test_registry_file),
	    cmocka_unit_test(test_lexicon_scan),
	    cmocka_unit_test(test_lexicon_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
