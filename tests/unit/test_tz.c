/*
 * test_tz.c - unit tests of the TZif reader (daemon/tz.c): pinned answers
 * for the Kazakh zones around Asia/Almaty's 2024 move to UTC+5, a sweep
 * from 1900 to 2100 checked against glibc (which reads the same files) for
 * zones with odd rules, wall-clock conversions including repeated and
 * skipped times, footer TZ strings in hand-built files, and refusal of
 * malformed files, bad zone names and bad local times.
 *
 * glibc is driven through setenv("TZ") and tzset(); that is safe here
 * because the test runs in one thread.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tz.h"

#define ZONEINFO "/usr/share/zoneinfo"
#define HOUR     3600

/* UTC instant of a calendar time, by glibc. */
static int64_t
utc(int year, int month, int day, int hour, int min, int sec)
{
	struct tm tm = {
	    .tm_year = year - 1900,
	    .tm_mon  = month - 1,
	    .tm_mday = day,
	    .tm_hour = hour,
	    .tm_min  = min,
	    .tm_sec  = sec,
	};

	return (int64_t)timegm(&tm);
}

static tz_zone *
load(const char *name)
{
	char     err[256] = "";
	tz_zone *z        = tz_load(ZONEINFO, name, err, sizeof(err));

	if (z == NULL)
		fail_msg("tz_load %s: %s", name, err);
	return z;
}

static int64_t
local_to_utc(const tz_zone *z, const char *local, int which)
{
	int     y, mo, d, h, mi, s;
	int64_t t = 0;

	if (tz_parse_local(local, &y, &mo, &d, &h, &mi, &s) != 0)
		fail_msg("tz_parse_local refused %s", local);
	if (tz_local_to_utc(z, y, mo, d, h, mi, s, which, &t) != 0)
		fail_msg("tz_local_to_utc refused %s", local);
	return t;
}

static void
test_kazakhstan_pins(void **state)
{
	tz_zone *almaty   = load("Asia/Almaty");
	tz_zone *qostanay = load("Asia/Qostanay");
	tz_zone *oral     = load("Asia/Oral");

	assert_string_equal(tz_name(almaty), "Asia/Almaty");
	/* After the move to UTC+5 on 1 March 2024. */
	assert_int_equal(local_to_utc(almaty, "2024-10-01 00:00", TZ_EARLIEST),
	    utc(2024, 9, 30, 19, 0, 0));
	assert_int_equal(
	    local_to_utc(qostanay, "2024-10-01T00:00", TZ_EARLIEST),
	    utc(2024, 9, 30, 19, 0, 0));
	/* The close of the January 2021 election window. */
	assert_int_equal(local_to_utc(almaty, "2021-01-10 20:00", TZ_EARLIEST),
	    utc(2021, 1, 10, 14, 0, 0));
	assert_int_equal(local_to_utc(oral, "2021-01-10 20:00:00", TZ_LATEST),
	    utc(2021, 1, 10, 15, 0, 0));
	/* The last day of UTC+6, and the change itself at local midnight. */
	assert_int_equal(local_to_utc(almaty, "2024-02-29 12:00", TZ_EARLIEST),
	    utc(2024, 2, 29, 6, 0, 0));
	assert_int_equal(
	    tz_offset_at(almaty, utc(2024, 2, 29, 6, 0, 0)), 6 * HOUR);
	assert_int_equal(
	    tz_offset_at(almaty, utc(2024, 2, 29, 17, 59, 59)), 6 * HOUR);
	assert_int_equal(
	    tz_offset_at(almaty, utc(2024, 2, 29, 18, 0, 0)), 5 * HOUR);
	/* 23:00 to 23:59:59 on 29 February happened twice. */
	assert_int_equal(local_to_utc(almaty, "2024-02-29 23:30", TZ_EARLIEST),
	    utc(2024, 2, 29, 17, 30, 0));
	assert_int_equal(local_to_utc(almaty, "2024-02-29 23:30", TZ_LATEST),
	    utc(2024, 2, 29, 18, 30, 0));
	/* Footer territory, far after the last transition. */
	assert_int_equal(
	    tz_offset_at(almaty, utc(2090, 6, 1, 0, 0, 0)), 5 * HOUR);
	tz_free(almaty);
	tz_free(qostanay);
	tz_free(oral);
}

static void
glibc_zone(const char *name)
{
	char tz[256];

	snprintf(tz, sizeof(tz), ":%s/%s", ZONEINFO, name);
	assert_int_equal(setenv("TZ", tz, 1), 0);
	tzset();
}

static int32_t
glibc_offset(int64_t t)
{
	time_t    tt = (time_t)t;
	struct tm tm;

	assert_non_null(localtime_r(&tt, &tm));
	return (int32_t)tm.tm_gmtoff;
}

static void
check_instant(const tz_zone *z, int64_t t)
{
	int32_t want = glibc_offset(t), got = tz_offset_at(z, t);

	if (got != want)
		fail_msg("%s at %lld: offset %d, glibc %d", tz_name(z),
		    (long long)t, got, want);
}

/* The first instant in (lo, hi] whose offset differs from lo's, by
 * bisection with the given oracle. */
static int64_t
find_change(const tz_zone *z, int64_t lo, int64_t hi, bool ours)
{
	int32_t at_lo = ours ? tz_offset_at(z, lo) : glibc_offset(lo);

	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		int32_t off = ours ? tz_offset_at(z, mid) : glibc_offset(mid);

		if (off == at_lo)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

static void
check_around(const tz_zone *z, int64_t t)
{
	check_instant(z, t - 1);
	check_instant(z, t);
	check_instant(z, t + 1);
}

/* Wall-clock time of t back to UTC: t must be one of the answers, both
 * answers must show the same wall-clock time in glibc, and an unambiguous
 * time must agree with mktime. */
static void
check_round_trip(const tz_zone *z, int64_t t)
{
	time_t    tt = (time_t)t, back;
	struct tm tm, tm2;
	int64_t   early, late;

	assert_non_null(localtime_r(&tt, &tm));
	assert_int_equal(
	    tz_local_to_utc(z, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	        tm.tm_hour, tm.tm_min, tm.tm_sec, TZ_EARLIEST, &early),
	    0);
	assert_int_equal(
	    tz_local_to_utc(z, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	        tm.tm_hour, tm.tm_min, tm.tm_sec, TZ_LATEST, &late),
	    0);
	if (early != t && late != t)
		fail_msg("%s: %lld gave %lld and %lld", tz_name(z),
		    (long long)t, (long long)early, (long long)late);
	tt = (time_t)(early == t ? late : early);
	assert_non_null(localtime_r(&tt, &tm2));
	assert_int_equal(tm2.tm_hour * 3600 + tm2.tm_min * 60 + tm2.tm_sec,
	    tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec);
	assert_int_equal(tm2.tm_yday, tm.tm_yday);
	if (early != late)
		return;
	tm.tm_isdst = -1;
	back        = mktime(&tm);
	if ((int64_t)back != t)
		fail_msg("%s: mktime gives %lld for %lld", tz_name(z),
		    (long long)back, (long long)t);
}

#define SWEEP_STEP (7 * HOUR + 13 * 60)

/* Returns how many changes of offset the sweep met. */
static int
sweep_zone(const char *name)
{
	tz_zone *z   = load(name);
	int64_t  end = utc(2100, 1, 1, 0, 0, 0), prev;
	int64_t  t   = utc(1900, 1, 1, 0, 0, 0);
	int      n = 0, changes = 0;
	int32_t  ours = tz_offset_at(z, t), theirs;

	glibc_zone(name);
	theirs = glibc_offset(t);
	for (prev = t; t <= end; prev = t, t += SWEEP_STEP, n++) {
		int32_t o = tz_offset_at(z, t), g = glibc_offset(t);

		check_instant(z, t);
		if (g != theirs) {
			check_around(z, find_change(z, prev, t, false));
			changes++;
		}
		if (o != ours)
			check_around(z, find_change(z, prev, t, true));
		if (n % 3 == 0)
			check_round_trip(z, t);
		ours   = o;
		theirs = g;
	}
	tz_free(z);
	return changes;
}

static void
test_glibc_sweep(void **state)
{
	static const struct {
		const char *name;
		int         min_changes;
	} zones[] = {
	    {"Asia/Almaty", 40}, {"Asia/Qostanay", 40}, {"Asia/Oral", 40},
	    {"Europe/Paris", 250}, {"America/New_York", 300},
	    {"Australia/Lord_Howe", 200}, /* half-hour DST */
	    {"America/Sao_Paulo", 80},
	    {"Pacific/Apia", 20},      /* skipped 30 December 2011 */
	    {"Africa/Casablanca", 60}, /* DST below standard time */
	    {"Europe/Dublin", 300},    /* negative DST in the footer */
	};

	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		int changes = sweep_zone(zones[i].name);

		if (changes < zones[i].min_changes)
			fail_msg("%s: only %d changes of offset seen",
			    zones[i].name, changes);
	}
	unsetenv("TZ");
	tzset();
}

static void
test_paris_repeated_and_skipped(void **state)
{
	tz_zone *z = load("Europe/Paris");
	int64_t  t;

	/* 02:30 on 31 October 2021 happened in CEST and again in CET. */
	assert_int_equal(local_to_utc(z, "2021-10-31 02:30", TZ_EARLIEST),
	    utc(2021, 10, 31, 0, 30, 0));
	assert_int_equal(local_to_utc(z, "2021-10-31 02:30", TZ_LATEST),
	    utc(2021, 10, 31, 1, 30, 0));
	/* 02:30 on 28 March 2021 never happened: the gap ends 01:00Z. */
	assert_int_equal(local_to_utc(z, "2021-03-28 02:30", TZ_EARLIEST),
	    utc(2021, 3, 28, 1, 0, 0));
	assert_int_equal(local_to_utc(z, "2021-03-28 02:00", TZ_LATEST),
	    utc(2021, 3, 28, 1, 0, 0));
	assert_int_equal(local_to_utc(z, "2021-03-28 01:59:59", TZ_LATEST),
	    utc(2021, 3, 28, 0, 59, 59));
	assert_int_equal(local_to_utc(z, "2021-03-28 03:00", TZ_EARLIEST),
	    utc(2021, 3, 28, 1, 0, 0));
	/* The same in the footer's years. */
	assert_int_equal(local_to_utc(z, "2050-03-27 02:30", TZ_EARLIEST),
	    utc(2050, 3, 27, 1, 0, 0));
	assert_int_equal(local_to_utc(z, "2050-10-30 02:30", TZ_LATEST),
	    utc(2050, 10, 30, 1, 30, 0));
	/* 24:00 is the next day's midnight. */
	assert_int_equal(local_to_utc(z, "2021-01-10 24:00", TZ_EARLIEST),
	    local_to_utc(z, "2021-01-11", TZ_EARLIEST));
	/* Fields out of range. */
	assert_int_equal(tz_local_to_utc(z, 2021, 4, 31, 0, 0, 0, 0, &t), -1);
	assert_int_equal(tz_local_to_utc(z, 2021, 13, 1, 0, 0, 0, 0, &t), -1);
	assert_int_equal(tz_local_to_utc(z, 2021, 1, 1, 24, 1, 0, 0, &t), -1);
	assert_int_equal(tz_local_to_utc(z, 2021, 1, 1, 0, 0, 60, 0, &t), -1);
	assert_int_equal(tz_local_to_utc(z, 10000, 1, 1, 0, 0, 0, 0, &t), -1);
	assert_int_equal(tz_local_to_utc(z, -1, 1, 1, 0, 0, 0, 0, &t), -1);
	assert_int_equal(tz_local_to_utc(z, 2021, 1, 1, 0, 0, 0, 2, &t), -1);
	tz_free(z);
}

/* A hand-built TZif file: the same data in the v1 and v2 blocks. */
struct ttype {
	int32_t utoff;
	uint8_t isdst;
	uint8_t abbr;
};

struct tzif {
	unsigned char version; /* 0 for a v1-only file */
	size_t        ntrans;
	int64_t       trans[4];
	uint8_t       idx[4];
	size_t        ntypes;
	struct ttype  types[4];
	const char   *chars; /* abbreviations, NUL-separated */
	size_t        charcnt;
	size_t        nleaps;
	int64_t       leaps[3];
	bool          indicators; /* write isstd and isut arrays */
	const char   *footer;     /* v2+ only; NULL writes "" */
};

struct out {
	uint8_t buf[1024];
	size_t  len;
};

static void
put_be(struct out *o, uint64_t v, size_t n)
{
	assert_true(o->len + n <= sizeof(o->buf));
	for (size_t i = 0; i < n; i++)
		o->buf[o->len++] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static void
put_bytes(struct out *o, const void *p, size_t n)
{
	assert_true(o->len + n <= sizeof(o->buf));
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void
put_block(struct out *o, const struct tzif *f, size_t timesize)
{
	static const uint8_t zeros[4] = {0};
	size_t               ind      = f->indicators ? f->ntypes : 0;

	put_bytes(o, "TZif", 4);
	put_be(o, f->version, 1);
	put_bytes(o, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15);
	put_be(o, ind, 4);
	put_be(o, ind, 4);
	put_be(o, f->nleaps, 4);
	put_be(o, f->ntrans, 4);
	put_be(o, f->ntypes, 4);
	put_be(o, f->charcnt, 4);
	for (size_t i = 0; i < f->ntrans; i++)
		put_be(o, (uint64_t)f->trans[i], timesize);
	put_bytes(o, f->idx, f->ntrans);
	for (size_t i = 0; i < f->ntypes; i++) {
		put_be(o, (uint32_t)f->types[i].utoff, 4);
		put_be(o, f->types[i].isdst, 1);
		put_be(o, f->types[i].abbr, 1);
	}
	put_bytes(o, f->chars, f->charcnt);
	for (size_t i = 0; i < f->nleaps; i++) {
		put_be(o, (uint64_t)f->leaps[i], timesize);
		put_be(o, i + 1, 4);
	}
	for (size_t i = 0; i < ind; i++)
		put_bytes(o, zeros, 1);
	for (size_t i = 0; i < ind; i++)
		put_bytes(o, zeros, 1);
}

/* Builds f into o; *v2_header gets the offset of the second header. */
static void
build(const struct tzif *f, struct out *o, size_t *v2_header)
{
	o->len = 0;
	put_block(o, f, 4);
	if (v2_header != NULL)
		*v2_header = o->len;
	if (f->version == 0)
		return;
	put_block(o, f, 8);
	put_bytes(o, "\n", 1);
	if (f->footer != NULL)
		put_bytes(o, f->footer, strlen(f->footer));
	put_bytes(o, "\n", 1);
}

/* A v2 file with no transitions and one type, for footer tests. */
static struct tzif
footer_only(const char *footer)
{
	return (struct tzif){
	    .version = '2',
	    .ntypes  = 1,
	    .types   = {{-5 * HOUR, 0, 0}},
	    .chars   = "EST",
	    .charcnt = 4,
	    .footer  = footer,
	};
}

static tz_zone *
parse_ok_bytes(const void *buf, size_t len)
{
	char     err[256] = "";
	tz_zone *z        = tz_parse(buf, len, "built", err, sizeof(err));

	if (z == NULL)
		fail_msg("tz_parse: %s", err);
	return z;
}

static tz_zone *
parse_ok(const struct tzif *f)
{
	struct out o;

	build(f, &o, NULL);
	return parse_ok_bytes(o.buf, o.len);
}

/* The refusal of bytes, with the source and want in the message. */
static void
parse_fails(const void *buf, size_t len, const char *want)
{
	char     err[256] = "";
	tz_zone *z        = tz_parse(buf, len, "bad.tzif", err, sizeof(err));

	if (z != NULL)
		fail_msg("accepted, wanted refusal with \"%s\"", want);
	if (strstr(err, "bad.tzif") == NULL || strstr(err, want) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err, want);
}

static void
build_fails(const struct tzif *f, const char *want)
{
	struct out o;

	build(f, &o, NULL);
	parse_fails(o.buf, o.len, want);
}

static void
check_edge(const tz_zone *z, int64_t at, int32_t before, int32_t after)
{
	assert_int_equal(tz_offset_at(z, at - 1), before);
	assert_int_equal(tz_offset_at(z, at), after);
}

static void
test_footer_us_rules(void **state)
{
	struct tzif f = footer_only("EST5EDT,M3.2.0,M11.1.0");
	tz_zone    *z = parse_ok(&f);

	assert_string_equal(tz_name(z), "built");
	check_edge(z, utc(2021, 3, 14, 7, 0, 0), -5 * HOUR, -4 * HOUR);
	check_edge(z, utc(2021, 11, 7, 6, 0, 0), -4 * HOUR, -5 * HOUR);
	/* Fifth-week rules and far years follow the same calendar. */
	check_edge(z, utc(2400, 3, 12, 7, 0, 0), -5 * HOUR, -4 * HOUR);
	check_edge(z, utc(1800, 11, 2, 6, 0, 0), -4 * HOUR, -5 * HOUR);
	assert_int_equal(tz_offset_at(z, utc(1969, 7, 4, 0, 0, 0)), -4 * HOUR);
	/* The extremes of int64_t give an offset of the zone. */
	assert_true(tz_offset_at(z, INT64_MAX) == -5 * HOUR ||
	    tz_offset_at(z, INT64_MAX) == -4 * HOUR);
	assert_true(tz_offset_at(z, INT64_MIN) == -5 * HOUR ||
	    tz_offset_at(z, INT64_MIN) == -4 * HOUR);
	assert_int_equal(local_to_utc(z, "2021-11-07 01:30", TZ_EARLIEST),
	    utc(2021, 11, 7, 5, 30, 0));
	assert_int_equal(local_to_utc(z, "2021-11-07 01:30", TZ_LATEST),
	    utc(2021, 11, 7, 6, 30, 0));
	tz_free(z);
}

static void
test_footer_fixed_offset(void **state)
{
	struct tzif f = footer_only("<+0330>-3:30");
	tz_zone    *z = parse_ok(&f);

	assert_int_equal(tz_offset_at(z, 0), 12600);
	assert_int_equal(tz_offset_at(z, INT64_MIN), 12600);
	assert_int_equal(tz_offset_at(z, INT64_MAX), 12600);
	assert_int_equal(local_to_utc(z, "2021-01-10 20:00", TZ_EARLIEST),
	    utc(2021, 1, 10, 16, 30, 0));
	tz_free(z);
}

static void
test_footer_julian_and_extended_times(void **state)
{
	/* Standard +1, DST +2; DST from 25:00 on day J60 (1 March, leap
	 * day not counted) to -1:00 on zero-based day 300 (leap day
	 * counted: 28 October, or 27 in a leap year). */
	struct tzif f = footer_only("ABC-1DEF,J60/25,300/-1");
	tz_zone    *z = parse_ok(&f);

	check_edge(z, utc(2021, 3, 2, 0, 0, 0), HOUR, 2 * HOUR);
	check_edge(z, utc(2021, 10, 27, 21, 0, 0), 2 * HOUR, HOUR);
	check_edge(z, utc(2024, 3, 2, 0, 0, 0), HOUR, 2 * HOUR);
	check_edge(z, utc(2024, 10, 26, 21, 0, 0), 2 * HOUR, HOUR);
	tz_free(z);
}

/* DST all year: the end on 31 December at 25:00 meets next year's start. */
static void
test_footer_permanent_dst(void **state)
{
	struct tzif f = footer_only("EST5EDT4,0/0,J365/25");
	tz_zone    *z = parse_ok(&f);

	for (int year = 2019; year <= 2025; year++) {
		assert_int_equal(
		    tz_offset_at(z, utc(year, 1, 1, 5, 0, 0)), -4 * HOUR);
		assert_int_equal(
		    tz_offset_at(z, utc(year, 12, 31, 23, 0, 0)), -4 * HOUR);
	}
	tz_free(z);
}

/* Southern rules (DST across the new year) and a rule without times. */
static void
test_footer_southern_and_default_offset(void **state)
{
	struct tzif f = footer_only("<-03>3<-02>,M10.1.0/0,M2.3.0/0");
	tz_zone    *z = parse_ok(&f);

	check_edge(z, utc(2021, 10, 3, 3, 0, 0), -3 * HOUR, -2 * HOUR);
	check_edge(z, utc(2022, 2, 20, 2, 0, 0), -2 * HOUR, -3 * HOUR);
	assert_int_equal(tz_offset_at(z, utc(2022, 1, 1, 0, 0, 0)), -2 * HOUR);
	tz_free(z);
}

static void
test_table_then_footer(void **state)
{
	/* Leap seconds and indicators must be read past for the footer to
	 * be found where it is. */
	struct tzif f = {
	    .version    = '3',
	    .ntrans     = 2,
	    .trans      = {0, 1000000},
	    .idx        = {1, 2},
	    .ntypes     = 3,
	    .types      = {{100, 0, 0}, {HOUR, 0, 4}, {2 * HOUR, 0, 8}},
	    .chars      = "LMT\0+01\0+02",
	    .charcnt    = 12,
	    .nleaps     = 2,
	    .leaps      = {78796800, 94694401},
	    .indicators = true,
	    .footer     = "<+03>-3",
	};
	tz_zone *z = parse_ok(&f);

	assert_int_equal(tz_offset_at(z, INT64_MIN), 100);
	assert_int_equal(tz_offset_at(z, -1), 100);
	assert_int_equal(tz_offset_at(z, 0), HOUR);
	assert_int_equal(tz_offset_at(z, 999999), HOUR);
	assert_int_equal(tz_offset_at(z, 1000000), 3 * HOUR);
	assert_int_equal(tz_offset_at(z, INT64_MAX), 3 * HOUR);
	tz_free(z);

	/* Without a footer the last type holds after the last transition. */
	f.footer = NULL;
	z        = parse_ok(&f);
	assert_int_equal(tz_offset_at(z, INT64_MAX), 2 * HOUR);
	tz_free(z);
}

static void
test_v1_file(void **state)
{
	struct tzif f = {
	    .version = 0,
	    .ntrans  = 1,
	    .trans   = {-100},
	    .idx     = {1},
	    .ntypes  = 2,
	    .types   = {{-HOUR, 0, 0}, {HOUR, 1, 4}},
	    .chars   = "AAA\0BBB",
	    .charcnt = 8,
	    .nleaps  = 1,
	    .leaps   = {78796800},
	};
	tz_zone *z = parse_ok(&f);

	assert_int_equal(tz_offset_at(z, -101), -HOUR);
	assert_int_equal(tz_offset_at(z, -100), HOUR);
	assert_int_equal(tz_offset_at(z, INT64_MAX), HOUR);
	tz_free(z);
}

static void
test_malformed_data(void **state)
{
	struct tzif f = {
	    .version = '2',
	    .ntrans  = 2,
	    .trans   = {0, 1000},
	    .idx     = {0, 1},
	    .ntypes  = 2,
	    .types   = {{0, 0, 0}, {HOUR, 1, 4}},
	    .chars   = "AAA\0BBB",
	    .charcnt = 8,
	    .footer  = "AAA0",
	};
	struct tzif g;
	struct out  o;
	size_t      v2;

	build(&f, &o, &v2);
	tz_free(parse_ok(&f));
	o.buf[3] = 'x';
	parse_fails(o.buf, o.len, "bad magic");
	o.buf[3] = 'f';
	o.buf[4] = '5';
	parse_fails(o.buf, o.len, "unsupported TZif version");
	o.buf[4] = '2';
	/* A timecnt far beyond the bytes there are. */
	o.buf[v2 + 32] = 0x10;
	parse_fails(o.buf, o.len, "truncated");
	o.buf[v2 + 32] = 0;
	parse_fails(o.buf, o.len - 1, "footer");
	parse_fails(o.buf, 10, "truncated");
	parse_fails(o.buf, 0, "truncated");

	g        = f;
	g.idx[1] = 2;
	build_fails(&g, "type 2 out of range");
	g          = f;
	g.trans[1] = 0;
	build_fails(&g, "transition 1 is not after");
	g        = f;
	g.ntypes = 0;
	build_fails(&g, "typecnt 0");
	g         = f;
	g.charcnt = 0;
	build_fails(&g, "charcnt 0");
	g               = f;
	g.types[1].abbr = 8;
	build_fails(&g, "abbreviation index 8");
	g                = f;
	g.types[1].isdst = 2;
	build_fails(&g, "isdst 2");
	g                = f;
	g.types[1].utoff = 26 * HOUR;
	build_fails(&g, "UT offset 93600 out of range");
	g          = f;
	g.nleaps   = 2;
	g.leaps[0] = 94694401;
	g.leaps[1] = 78796800;
	build_fails(&g, "leap second record 1 out of order");
	g       = f;
	g.chars = "AAA\0BBBB";
	build_fails(&g, "not NUL-terminated");

	/* Indicators: the v2 block ends isstd[2] isut[2], then the footer
	 * "\nAAA0\n". A UT indicator needs its standard indicator. */
	g            = f;
	g.indicators = true;
	build(&g, &o, NULL);
	o.buf[o.len - 7] = 1;
	parse_fails(o.buf, o.len, "type 1: UT indicator without standard");
	o.buf[o.len - 9] = 1;
	tz_free(parse_ok_bytes(o.buf, o.len));
	o.buf[o.len - 7] = 2;
	parse_fails(o.buf, o.len, "UT/local indicator 2 is neither");
	o.buf[o.len - 7] = 1;
	o.buf[o.len - 9] = 2;
	parse_fails(o.buf, o.len, "standard/wall indicator 2 is neither");
}

static void
test_every_prefix_refused(void **state)
{
	static uint8_t buf[TZ_FILE_MAX + 1];
	FILE          *fp = fopen(ZONEINFO "/Asia/Almaty", "rb");
	size_t         len;
	char           err[256];
	tz_zone       *z;

	assert_non_null(fp);
	len = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	assert_true(len > 44 && len < sizeof(buf));
	for (size_t n = 0; n < len; n++) {
		err[0] = '\0';
		assert_null(tz_parse(buf, n, "Almaty", err, sizeof(err)));
		assert_non_null(strstr(err, "Almaty: "));
	}
	z = tz_parse(buf, len, "Almaty", err, sizeof(err));
	if (z == NULL)
		fail_msg("whole file refused: %s", err);
	tz_free(z);
	/* Bytes after the footer, and a file over the size limit. */
	buf[len] = '\n';
	parse_fails(buf, len + 1, "1 bytes after the footer");
	parse_fails(buf, sizeof(buf), "more than the");
}

static void
test_bad_footers(void **state)
{
	static const struct {
		const char *footer;
		const char *why;
	} cases[] = {
	    {"EST", "number expected"},
	    {"ES5", "shorter than 3"},
	    {"<AB>5", "shorter than 3"},
	    {"<ABC5", "not closed"},
	    {"EST25", "out of range"},
	    {"EST5EDT,M13.1.0,M11.1.0", "out of range"},
	    {"EST5EDT,M0.1.0,M11.1.0", "bad month"},
	    {"EST5EDT,M3.0.0,M11.1.0", "bad week"},
	    {"EST5EDT,M3.2.7,M11.1.0", "out of range"},
	    {"EST5EDT,J0,J10", "J0"},
	    {"EST5EDT,366,J10", "out of range"},
	    {"EST5EDT,M3.2.0/168,M11.1.0", "out of range"},
	    {"EST5EDT,M3.2.0", "',' expected"},
	    {"EST5EDT,M3.2.0,M11.1.0x", "unexpected characters"},
	    {"EST5 EDT", "shorter than 3"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tzif f = footer_only(cases[i].footer);

		build_fails(&f, cases[i].why);
	}
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
test_load_names_and_dirs(void **state)
{
	static const struct {
		const char *name;
		const char *why;
	} bad[] = {
	    {"../etc/passwd", "\"..\""},
	    {"Asia/../Asia/Almaty", "\"..\""},
	    {"/etc/localtime", "absolute"},
	    {"", "empty"},
	    {"Asia/Al maty", "character outside"},
	    {"Asia/Almaty\n", "character outside"},
	    {"./UTC", "character outside"},
	};
	struct tzif f = footer_only("<+0330>-3:30");
	char        dir[256], path[512], err[256], name[TZ_NAME_MAX + 2];
	struct out  o;
	FILE       *fp;
	tz_zone    *z;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(tz_load(ZONEINFO, bad[i].name, err, sizeof(err)));
		if (strstr(err, "zone") == NULL ||
		    strstr(err, bad[i].why) == NULL)
			fail_msg("\"%s\": message \"%s\"", bad[i].name, err);
	}
	memset(name, 'A', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_null(tz_load(ZONEINFO, name, err, sizeof(err)));
	assert_non_null(strstr(err, "too long"));
	assert_null(tz_load(ZONEINFO, NULL, err, sizeof(err)));

	assert_null(tz_load(ZONEINFO, "Asia/Nowhere", err, sizeof(err)));
	assert_non_null(strstr(err, "Asia/Nowhere"));
	assert_non_null(strstr(err, strerror(ENOENT)));
	assert_null(tz_load(ZONEINFO, "Asia", err, sizeof(err)));
	assert_non_null(strstr(err, "not a regular file"));

	/* A zone from a directory given, then from $TZDIR. */
	snprintf(dir, sizeof(dir), "/tmp/test_tz.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/Test", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/Test/Zone", dir);
	build(&f, &o, NULL);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(o.buf, 1, o.len, fp), o.len);
	assert_int_equal(fclose(fp), 0);

	z = tz_load(dir, "Test/Zone", err, sizeof(err));
	assert_non_null(z);
	assert_string_equal(tz_name(z), "Test/Zone");
	assert_int_equal(tz_offset_at(z, 0), 12600);
	tz_free(z);
	assert_int_equal(setenv("TZDIR", dir, 1), 0);
	z = tz_load(NULL, "Test/Zone", err, sizeof(err));
	assert_non_null(z);
	tz_free(z);
	assert_null(tz_load(NULL, "Asia/Almaty", err, sizeof(err)));
	assert_non_null(strstr(err, dir));
	unsetenv("TZDIR");

	/* A damaged file: the message names the file and the reason. */
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(o.buf, 1, 20, fp), 20);
	assert_int_equal(fclose(fp), 0);
	assert_null(tz_load(dir, "Test/Zone", err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "truncated"));
	nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void
test_parse_local(void **state)
{
	static const char *bad[] = {"2021-02-30", "2021-13-01", "2021-00-10",
	    "2021-01-00", "2023-02-29", "2021-01-10 25:00", "2021-01-10 24:01",
	    "2021-01-10 24:00:01", "2021-01-10 20:60", "2021-01-10 20:00:60",
	    "2021-01-10 20:00x", "2021-01-10x", "2021-01-10 20:00:00 ",
	    "2021-1-10", "2021-01-10T20", "2021-01-10t20:00", "21-01-10", "",
	    " 2021-01-10", "2021-01-10 20:00:0"};
	int                y, mo, d, h, mi, s;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (tz_parse_local(bad[i], &y, &mo, &d, &h, &mi, &s) == 0)
			fail_msg("accepted \"%s\"", bad[i]);

	assert_int_equal(
	    tz_parse_local("2024-02-29", &y, &mo, &d, &h, &mi, &s), 0);
	assert_true(
	    y == 2024 && mo == 2 && d == 29 && h == 0 && mi == 0 && s == 0);
	assert_int_equal(
	    tz_parse_local("2021-01-10T20:05:09", &y, &mo, &d, &h, &mi, &s), 0);
	assert_true(
	    y == 2021 && mo == 1 && d == 10 && h == 20 && mi == 5 && s == 9);
	assert_int_equal(
	    tz_parse_local("2021-12-31 24:00", &y, &mo, &d, &h, &mi, &s), 0);
	assert_true(d == 31 && h == 24 && mi == 0 && s == 0);
	assert_int_equal(
	    tz_parse_local("2000-02-29 00:00:00", &y, &mo, &d, &h, &mi, &s), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kazakhstan_pins),
	    cmocka_unit_test(test_glibc_sweep),
	    cmocka_unit_test(test_paris_repeated_and_skipped),
	    cmocka_unit_test(test_footer_us_rules),
	    cmocka_unit_test(test_footer_fixed_offset),
	    cmocka_unit_test(test_footer_julian_and_extended_times),
	    cmocka_unit_test(test_footer_permanent_dst),
	    cmocka_unit_test(test_footer_southern_and_default_offset),
	    cmocka_unit_test(test_table_then_footer),
	    cmocka_unit_test(test_v1_file),
	    cmocka_unit_test(test_malformed_data),
	    cmocka_unit_test(test_every_prefix_refused),
	    cmocka_unit_test(test_bad_footers),
	    cmocka_unit_test(test_load_names_and_dirs),
	    cmocka_unit_test(test_parse_local),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
