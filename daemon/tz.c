/*
 * tz.c - reader of TZif files (RFC 8536) and of the POSIX TZ strings in
 * their footers, and the conversions between UTC and wall-clock time built
 * on them; see tz.h.
 *
 * Every count, index and size in a file is checked before it is used, so
 * a malformed file is refused with a reason rather than misread. The
 * arithmetic on instants stays inside int64_t for any input: the footer's
 * rules are evaluated on the instant reduced modulo the 400-year Gregorian
 * cycle, which they repeat with exactly, and every offset is bounded when
 * it is read.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tz.h"

#define SECS_PER_DAY   86400
#define DAYS_PER_CYCLE 146097 /* days in 400 Gregorian years */
#define SECS_PER_CYCLE ((int64_t)DAYS_PER_CYCLE * SECS_PER_DAY)

/* UT offsets accepted from a file (RFC 9636: more than -25 hours, less
 * than 26). Every solution of local = t + offset(t) lies within
 * OFFSET_SPAN of local. */
#define UTOFF_MIN   (-89999)
#define UTOFF_MAX   93599
#define OFFSET_SPAN 93599

#define TZIF_HEADER_LEN 44
#define TZIF_TYPES_MAX  256 /* a transition's type is one byte */
#define DEFAULT_DIR     "/usr/share/zoneinfo"

/* Limits of the TZ string: offsets within 24:59:59; rule times within
 * 167:59:59 either way (RFC 8536 section 3.3.1, the v3 extension). */
#define TZSTR_OFFSET_HOURS 24
#define TZSTR_TIME_HOURS   167
#define TZSTR_TIME_DEFAULT 7200

enum rule_kind {
	RULE_JULIAN_NOLEAP, /* Jn: 1..365, 29 February never counted */
	RULE_JULIAN_ZERO,   /* n: 0..365, 29 February counted */
	RULE_MONTH_WEEK,    /* Mm.w.d: day d of week w of month m */
};

struct tz_rule {
	enum rule_kind kind;
	int            day;   /* Jn and n */
	int            month; /* Mm.w.d */
	int            week;
	int            wday;
	int32_t        time; /* local time of day of the change, in seconds */
};

struct tz_footer {
	int32_t        std_off; /* seconds east of UTC */
	int32_t        dst_off;
	bool           has_dst;
	struct tz_rule start; /* change to DST, in standard time */
	struct tz_rule end;   /* change back, in DST */
};

struct tz_zone {
	char            *name;
	size_t           ntrans;
	int64_t         *trans;      /* strictly ascending */
	uint8_t         *trans_type; /* type after each transition */
	size_t           ntypes;
	int32_t          utoff[TZIF_TYPES_MAX];
	bool             has_footer;
	struct tz_footer footer;
};

struct tzif_header {
	unsigned char version; /* 0, '2', '3' or '4' */
	uint32_t      isutcnt;
	uint32_t      isstdcnt;
	uint32_t      leapcnt;
	uint32_t      timecnt;
	uint32_t      typecnt;
	uint32_t      charcnt;
};

/* A cursor over the file with where to report errors. */
struct reader {
	const uint8_t *p;
	size_t         left;
	const char    *source;
	char          *err;
	size_t         errlen;
};

/* A cursor over a TZ string; why says what was wrong. */
struct tzstr {
	const char *p;
	const char *end;
	const char *why;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int
fail(struct reader *r, const char *fmt, ...)
{
	char    why[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	seterr(r->err, r->errlen, "%s: %s", r->source, why);
	return -1;
}

/* Calendar arithmetic, proleptic Gregorian. */

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool
is_leap(int64_t year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int
month_days(int64_t year, int month)
{
	static const int days[12] = {
	    31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

/* Days from 1970-01-01 to year-month-day. Years are counted from March
 * so that the leap day ends the counting year. */
static int64_t
days_from_civil(int64_t year, int month, int day)
{
	int64_t y   = month <= 2 ? year - 1 : year;
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;                     /* 0..399 */
	int64_t mp  = month > 2 ? month - 3 : month + 9; /* March is 0 */
	int64_t doy = (153 * mp + 2) / 5 + day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * DAYS_PER_CYCLE + doe - 719468;
}

/* The year holding epoch day d; d is within a few cycles of 1970. */
static int64_t
year_of_day(int64_t d)
{
	int64_t year = 1970 + floor_div(d * 400, DAYS_PER_CYCLE);

	while (days_from_civil(year, 1, 1) > d)
		year--;
	while (days_from_civil(year + 1, 1, 1) <= d)
		year++;
	return year;
}

static int64_t
sat_add(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	if (b < 0 && a < INT64_MIN - b)
		return INT64_MIN;
	return a + b;
}

/* The POSIX TZ string of the footer. */

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
tzstr_at(const struct tzstr *s, char c)
{
	return s->p < s->end && *s->p == c;
}

static int
tzstr_fail(struct tzstr *s, const char *why)
{
	s->why = why;
	return -1;
}

/* An abbreviation: three or more letters, or <...> of letters, digits,
 * '+' and '-'. Only its form matters here. */
static int
tzstr_abbr(struct tzstr *s)
{
	const char *start;
	bool        quoted = tzstr_at(s, '<');

	if (quoted)
		s->p++;
	start = s->p;
	while (s->p < s->end &&
	    (is_alpha(*s->p) ||
	        (quoted && (is_digit(*s->p) || *s->p == '+' || *s->p == '-'))))
		s->p++;
	if (s->p - start < 3)
		return tzstr_fail(
		    s, "zone abbreviation shorter than 3 characters");
	if (quoted) {
		if (!tzstr_at(s, '>'))
			return tzstr_fail(
			    s, "'<' abbreviation not closed by '>'");
		s->p++;
	}
	return 0;
}

/* A decimal number in [0, max]. */
static int
tzstr_num(struct tzstr *s, int max, int *v)
{
	long n = 0;

	if (s->p >= s->end || !is_digit(*s->p))
		return tzstr_fail(s, "number expected");
	while (s->p < s->end && is_digit(*s->p)) {
		n = n * 10 + (*s->p++ - '0');
		if (n > max)
			return tzstr_fail(s, "number out of range");
	}
	*v = (int)n;
	return 0;
}

/* [+-]hh[:mm[:ss]] with hh in [0, max_hours], as signed seconds. */
static int
tzstr_hms(struct tzstr *s, int max_hours, int32_t *secs)
{
	int sign = 1, h, m = 0, sec = 0;

	if (tzstr_at(s, '+') || tzstr_at(s, '-'))
		sign = *s->p++ == '-' ? -1 : 1;
	if (tzstr_num(s, max_hours, &h) != 0)
		return -1;
	if (tzstr_at(s, ':')) {
		s->p++;
		if (tzstr_num(s, 59, &m) != 0)
			return -1;
		if (tzstr_at(s, ':')) {
			s->p++;
			if (tzstr_num(s, 59, &sec) != 0)
				return -1;
		}
	}
	*secs = sign * (h * 3600 + m * 60 + sec);
	return 0;
}

/* A POSIX offset is positive west of Greenwich; ours east. */
static int
tzstr_offset(struct tzstr *s, int32_t *utoff)
{
	int32_t west;

	if (tzstr_hms(s, TZSTR_OFFSET_HOURS, &west) != 0)
		return -1;
	*utoff = -west;
	return 0;
}

/* Mm.w.d after the 'M'. */
static int
tzstr_month_week(struct tzstr *s, struct tz_rule *r)
{
	r->kind = RULE_MONTH_WEEK;
	if (tzstr_num(s, 12, &r->month) != 0)
		return -1;
	if (r->month < 1 || !tzstr_at(s, '.'))
		return tzstr_fail(s, "bad month in Mm.w.d");
	s->p++;
	if (tzstr_num(s, 5, &r->week) != 0)
		return -1;
	if (r->week < 1 || !tzstr_at(s, '.'))
		return tzstr_fail(s, "bad week in Mm.w.d");
	s->p++;
	return tzstr_num(s, 6, &r->wday);
}

static int
tzstr_date(struct tzstr *s, struct tz_rule *r)
{
	if (tzstr_at(s, 'M')) {
		s->p++;
		return tzstr_month_week(s, r);
	}
	if (tzstr_at(s, 'J')) {
		s->p++;
		r->kind = RULE_JULIAN_NOLEAP;
		if (tzstr_num(s, 365, &r->day) != 0)
			return -1;
		if (r->day < 1)
			return tzstr_fail(s, "day J0 does not exist");
		return 0;
	}
	r->kind = RULE_JULIAN_ZERO;
	return tzstr_num(s, 365, &r->day);
}

static int
tzstr_rule(struct tzstr *s, struct tz_rule *r)
{
	if (!tzstr_at(s, ','))
		return tzstr_fail(s, "',' expected before a rule");
	s->p++;
	if (tzstr_date(s, r) != 0)
		return -1;
	r->time = TZSTR_TIME_DEFAULT;
	if (tzstr_at(s, '/')) {
		s->p++;
		return tzstr_hms(s, TZSTR_TIME_HOURS, &r->time);
	}
	return 0;
}

/* std offset [dst [offset] [,start[/time],end[/time]]]. Without rules,
 * DST follows the US rules, as glibc and the reference code assume. */
static int
tzstr_parse(struct tzstr *s, struct tz_footer *f)
{
	memset(f, 0, sizeof(*f));
	if (tzstr_abbr(s) != 0 || tzstr_offset(s, &f->std_off) != 0)
		return -1;
	if (s->p == s->end)
		return 0;
	f->has_dst = true;
	if (tzstr_abbr(s) != 0)
		return -1;
	f->dst_off = f->std_off + 3600;
	if (s->p < s->end && !tzstr_at(s, ',') &&
	    tzstr_offset(s, &f->dst_off) != 0)
		return -1;
	if (s->p == s->end) {
		f->start = (struct tz_rule){RULE_MONTH_WEEK, 0, 3, 2, 0, 7200};
		f->end   = (struct tz_rule){RULE_MONTH_WEEK, 0, 11, 1, 0, 7200};
		return 0;
	}
	if (tzstr_rule(s, &f->start) != 0 || tzstr_rule(s, &f->end) != 0)
		return -1;
	if (s->p != s->end)
		return tzstr_fail(s, "unexpected characters after the rules");
	return 0;
}

/* Epoch day on which rule r falls in year. */
static int64_t
rule_day(const struct tz_rule *r, int64_t year)
{
	int64_t jan1 = days_from_civil(year, 1, 1), first;
	int     mday, wday;

	switch (r->kind) {
	case RULE_JULIAN_NOLEAP:
		return jan1 + r->day - 1 + (is_leap(year) && r->day >= 60);
	case RULE_JULIAN_ZERO: return jan1 + r->day;
	case RULE_MONTH_WEEK: break;
	}
	first = days_from_civil(year, r->month, 1);
	wday = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
	mday = 1 + (r->wday - wday + 7) % 7 + 7 * (r->week - 1);
	if (mday > month_days(year, r->month))
		mday -= 7;
	return first + mday - 1;
}

/* The instant rule r takes effect in year, given as local time in the
 * offset in force before it. */
static int64_t
rule_instant(const struct tz_rule *r, int64_t year, int32_t off_before)
{
	return rule_day(r, year) * SECS_PER_DAY + r->time - off_before;
}

struct footer_edge {
	int64_t at;
	bool    to_dst;
};

/* The changes of years year-2 .. year+2, in time order; a change at the
 * same instant as one before it in the list wins over it. */
static void
footer_edges(const struct tz_footer *f, int64_t year, struct footer_edge e[10])
{
	int n = 0;

	for (int64_t y = year - 2; y <= year + 2; y++) {
		e[n++] = (struct footer_edge){
		    rule_instant(&f->start, y, f->std_off), true};
		e[n++] = (struct footer_edge){
		    rule_instant(&f->end, y, f->dst_off), false};
	}
	for (int i = 1; i < n; i++) {
		struct footer_edge cur = e[i];
		int                j   = i;

		for (; j > 0 && e[j - 1].at > cur.at; j--)
			e[j] = e[j - 1];
		e[j] = cur;
	}
}

/* Offset the footer gives at t, and the next change after t. Changes lie
 * within 8 days of their year, so year-2 holds one at or before t and
 * year+2 one after it. */
static int32_t
footer_lookup(const struct tz_footer *f, int64_t t, int64_t *next)
{
	struct footer_edge e[10];
	int64_t            base = (t / SECS_PER_CYCLE) * SECS_PER_CYCLE;
	int64_t            r    = t - base;
	int                i;
	bool               dst = false;

	*next = INT64_MAX;
	if (!f->has_dst)
		return f->std_off;
	footer_edges(f, year_of_day(floor_div(r, SECS_PER_DAY)), e);
	for (i = 0; i < 10 && e[i].at <= r; i++)
		dst = e[i].to_dst;
	if (i < 10)
		*next = sat_add(e[i].at, base);
	return dst ? f->dst_off : f->std_off;
}

/* Offset in effect at t and the next instant after t at which it may
 * change (INT64_MAX for never). */
static int32_t
zone_lookup(const tz_zone *z, int64_t t, int64_t *next)
{
	size_t lo, hi;

	*next = INT64_MAX;
	if (z->ntrans == 0 || t >= z->trans[z->ntrans - 1]) {
		if (z->has_footer)
			return footer_lookup(&z->footer, t, next);
		return z->ntrans == 0 ? z->utoff[0]
		                      : z->utoff[z->trans_type[z->ntrans - 1]];
	}
	if (t < z->trans[0]) {
		*next = z->trans[0];
		return z->utoff[0];
	}
	lo = 0; /* trans[lo] <= t < trans[hi] */
	hi = z->ntrans - 1;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (z->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	*next = z->trans[hi];
	return z->utoff[z->trans_type[lo]];
}

int32_t
tz_offset_at(const tz_zone *z, int64_t t)
{
	int64_t next;

	return zone_lookup(z, t, &next);
}

/* Walks the stretches of constant offset that can hold an instant whose
 * wall-clock time is local, in time order: the stretches that hold one
 * give the answers; if none does, local fell in a gap, whose end is the
 * start of the first stretch beginning after local in wall-clock time. */
static int
resolve_local(const tz_zone *z, int64_t local, int which, int64_t *utc)
{
	int64_t start = local - OFFSET_SPAN, next, first = 0, last = 0;
	int64_t gap_end = 0;
	bool    found = false, gap = false, have_prev = false;
	int32_t off, prev_off = 0;

	while (start <= local + OFFSET_SPAN) {
		off = zone_lookup(z, start, &next);
		if (local - off >= start && local - off < next) {
			if (!found)
				first = local - off;
			last  = local - off;
			found = true;
		} else if (have_prev && !gap && start + prev_off <= local &&
		    local < start + off) {
			gap_end = start;
			gap     = true;
		}
		prev_off  = off;
		have_prev = true;
		if (next == INT64_MAX)
			break;
		start = next;
	}
	if (found)
		*utc = which == TZ_LATEST ? last : first;
	else if (gap)
		*utc = gap_end;
	return found || gap ? 0 : -1;
}

int
tz_local_to_utc(const tz_zone *z, int year, int month, int day, int hour,
    int min, int sec, int which, int64_t *utc)
{
	int64_t local;

	if (year < TZ_YEAR_MIN || year > TZ_YEAR_MAX || month < 1 ||
	    month > 12 || day < 1 || day > month_days(year, month))
		return -1;
	if (hour < 0 || hour > 24 || min < 0 || min > 59 || sec < 0 ||
	    sec > 59 || (hour == 24 && (min != 0 || sec != 0)))
		return -1;
	if (which != TZ_EARLIEST && which != TZ_LATEST)
		return -1;
	local = days_from_civil(year, month, day) * SECS_PER_DAY + hour * 3600 +
	    min * 60 + sec;
	return resolve_local(z, local, which, utc);
}

/* Exactly n ASCII digits. */
static bool
fixed_digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

int
tz_parse_local(const char *s, int *year, int *month, int *day, int *hour,
    int *min, int *sec)
{
	*hour = *min = *sec = 0;
	if (!fixed_digits(s, 4, year) || s[4] != '-' ||
	    !fixed_digits(s + 5, 2, month) || s[7] != '-' ||
	    !fixed_digits(s + 8, 2, day))
		return -1;
	if (*month < 1 || *month > 12 || *day < 1 ||
	    *day > month_days(*year, *month))
		return -1;
	s += 10;
	if (*s == '\0')
		return 0;
	if ((*s != ' ' && *s != 'T') || !fixed_digits(s + 1, 2, hour) ||
	    s[3] != ':' || !fixed_digits(s + 4, 2, min))
		return -1;
	s += 6;
	if (*s == ':') {
		if (!fixed_digits(s + 1, 2, sec))
			return -1;
		s += 3;
	}
	if (*s != '\0' || *hour > 24 || *min > 59 || *sec > 59 ||
	    (*hour == 24 && (*min != 0 || *sec != 0)))
		return -1;
	return 0;
}

/* The TZif file. */

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static int64_t
get_time(const uint8_t *p, size_t size)
{
	uint64_t u = 0;

	for (size_t i = 0; i < size; i++)
		u = u << 8 | p[i];
	if (size == 4)
		return (int32_t)(uint32_t)u;
	return (int64_t)u;
}

static void
skip(struct reader *r, size_t n)
{
	r->p += n;
	r->left -= n;
}

static int
read_header(struct reader *r, struct tzif_header *h)
{
	const uint8_t *p = r->p;

	if (r->left < TZIF_HEADER_LEN)
		return fail(r,
		    "truncated: a TZif header needs %d bytes, %zu left",
		    TZIF_HEADER_LEN, r->left);
	if (memcmp(p, "TZif", 4) != 0)
		return fail(r, "bad magic: not a TZif file");
	h->version = p[4];
	if (h->version != 0 && (h->version < '2' || h->version > '4'))
		return fail(
		    r, "unsupported TZif version byte 0x%02x", h->version);
	h->isutcnt  = get_u32(p + 20);
	h->isstdcnt = get_u32(p + 24);
	h->leapcnt  = get_u32(p + 28);
	h->timecnt  = get_u32(p + 32);
	h->typecnt  = get_u32(p + 36);
	h->charcnt  = get_u32(p + 40);
	skip(r, TZIF_HEADER_LEN);
	return 0;
}

static uint64_t
block_size(const struct tzif_header *h, size_t timesize)
{
	return (uint64_t)h->timecnt * (timesize + 1) +
	    (uint64_t)h->typecnt * 6 + h->charcnt +
	    (uint64_t)h->leapcnt * (timesize + 4) + h->isstdcnt + h->isutcnt;
}

/* Checks the counts of a header and that its data block fits. */
static int
check_counts(struct reader *r, const struct tzif_header *h, size_t timesize)
{
	uint64_t need = block_size(h, timesize);

	if (h->typecnt == 0)
		return fail(r, "no local time types (typecnt 0)");
	if (h->typecnt > TZIF_TYPES_MAX)
		return fail(
		    r, "typecnt %u exceeds %d", h->typecnt, TZIF_TYPES_MAX);
	if (h->charcnt == 0)
		return fail(r, "no abbreviation characters (charcnt 0)");
	if (h->isstdcnt != 0 && h->isstdcnt != h->typecnt)
		return fail(r, "isstdcnt %u is neither 0 nor typecnt %u",
		    h->isstdcnt, h->typecnt);
	if (h->isutcnt != 0 && h->isutcnt != h->typecnt)
		return fail(r, "isutcnt %u is neither 0 nor typecnt %u",
		    h->isutcnt, h->typecnt);
	if (need > r->left)
		return fail(r,
		    "truncated: the header's counts need %llu bytes of data, "
		    "%zu left",
		    (unsigned long long)need, r->left);
	return 0;
}

static int
load_types(struct reader *r, const struct tzif_header *h, const uint8_t *info,
    const uint8_t *chars, tz_zone *z)
{
	for (uint32_t i = 0; i < h->typecnt; i++, info += 6) {
		int32_t utoff = (int32_t)get_u32(info);

		if (utoff < UTOFF_MIN || utoff > UTOFF_MAX)
			return fail(r, "type %u: UT offset %ld out of range", i,
			    (long)utoff);
		if (info[4] > 1)
			return fail(r, "type %u: isdst %u is neither 0 nor 1",
			    i, info[4]);
		if (info[5] >= h->charcnt)
			return fail(r,
			    "type %u: abbreviation index %u not below charcnt "
			    "%u",
			    i, info[5], h->charcnt);
		if (memchr(chars + info[5], '\0', h->charcnt - info[5]) == NULL)
			return fail(
			    r, "type %u: abbreviation not NUL-terminated", i);
		z->utoff[i] = utoff;
	}
	z->ntypes = h->typecnt;
	return 0;
}

static int
load_transitions(struct reader *r, const struct tzif_header *h, size_t timesize,
    const uint8_t *times, const uint8_t *types, tz_zone *z)
{
	if (h->timecnt == 0)
		return 0;
	z->trans      = malloc(h->timecnt * sizeof(*z->trans));
	z->trans_type = malloc(h->timecnt);
	if (z->trans == NULL || z->trans_type == NULL)
		return fail(r, "out of memory for %u transitions", h->timecnt);
	for (uint32_t i = 0; i < h->timecnt; i++) {
		z->trans[i] = get_time(times + i * timesize, timesize);
		if (i > 0 && z->trans[i] <= z->trans[i - 1])
			return fail(r,
			    "transition %u is not after transition %u", i,
			    i - 1);
		if (types[i] >= h->typecnt)
			return fail(r,
			    "transition %u: type %u out of range (typecnt %u)",
			    i, types[i], h->typecnt);
		z->trans_type[i] = types[i];
	}
	z->ntrans = h->timecnt;
	return 0;
}

/* Leap-second records are not applied, but must be in order. */
static int
check_leaps(struct reader *r, const struct tzif_header *h, size_t timesize,
    const uint8_t *leaps)
{
	int64_t prev = 0;

	for (uint32_t i = 0; i < h->leapcnt; i++) {
		int64_t at = get_time(leaps + i * (timesize + 4), timesize);

		if (i > 0 && at <= prev)
			return fail(r, "leap second record %u out of order", i);
		prev = at;
	}
	return 0;
}

static int
check_indicators(struct reader *r, const struct tzif_header *h,
    const uint8_t *isstd, const uint8_t *isut)
{
	for (uint32_t i = 0; i < h->isstdcnt; i++)
		if (isstd[i] > 1)
			return fail(r,
			    "type %u: standard/wall indicator %u is neither 0 "
			    "nor 1",
			    i, isstd[i]);
	for (uint32_t i = 0; i < h->isutcnt; i++) {
		if (isut[i] > 1)
			return fail(r,
			    "type %u: UT/local indicator %u is neither 0 nor 1",
			    i, isut[i]);
		if (isut[i] == 1 && (h->isstdcnt == 0 || isstd[i] != 1))
			return fail(r,
			    "type %u: UT indicator without standard indicator",
			    i);
	}
	return 0;
}

/* Reads the data block after header h (sizes already checked). */
static int
load_block(
    struct reader *r, const struct tzif_header *h, size_t timesize, tz_zone *z)
{
	const uint8_t *times = r->p;
	const uint8_t *types = times + (size_t)h->timecnt * timesize;
	const uint8_t *info  = types + h->timecnt;
	const uint8_t *chars = info + (size_t)h->typecnt * 6;
	const uint8_t *leaps = chars + h->charcnt;
	const uint8_t *isstd = leaps + (size_t)h->leapcnt * (timesize + 4);
	const uint8_t *isut  = isstd + h->isstdcnt;

	if (load_types(r, h, info, chars, z) != 0 ||
	    load_transitions(r, h, timesize, times, types, z) != 0 ||
	    check_leaps(r, h, timesize, leaps) != 0 ||
	    check_indicators(r, h, isstd, isut) != 0)
		return -1;
	skip(r, (size_t)block_size(h, timesize));
	return 0;
}

/* The TZ string for an error message, unprintable bytes as '?'. */
static void
printable(const char *s, size_t len, char *out, size_t outlen)
{
	size_t n = len < outlen - 1 ? len : outlen - 1;

	for (size_t i = 0; i < n; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[n] = '\0';
}

/* The footer of a v2+ file: a TZ string between newlines, nothing after;
 * an empty string means none. */
static int
load_footer(struct reader *r, tz_zone *z)
{
	const char  *s = (const char *)r->p + 1;
	const char  *nl;
	struct tzstr ts;
	char         shown[64];

	if (r->left == 0 || r->p[0] != '\n')
		return fail(r, "missing footer after the v2+ data block");
	nl = memchr(s, '\n', r->left - 1);
	if (nl == NULL)
		return fail(r, "footer not ended by a newline");
	if ((size_t)(nl + 1 - (const char *)r->p) != r->left)
		return fail(r, "%zu bytes after the footer",
		    r->left - (size_t)(nl + 1 - (const char *)r->p));
	if (nl == s)
		return 0;
	ts = (struct tzstr){s, nl, NULL};
	if (tzstr_parse(&ts, &z->footer) != 0) {
		printable(s, (size_t)(nl - s), shown, sizeof(shown));
		return fail(r, "footer TZ string \"%s\": %s at offset %td",
		    shown, ts.why, ts.p - s);
	}
	z->has_footer = true;
	return 0;
}

static int
parse_v1(struct reader *r, const struct tzif_header *h, tz_zone *z)
{
	if (check_counts(r, h, 4) != 0 || load_block(r, h, 4, z) != 0)
		return -1;
	if (r->left != 0)
		return fail(r, "%zu bytes after the data block", r->left);
	return 0;
}

/* Skips the 32-bit block kept for old readers; the 64-bit one follows. */
static int
parse_v2(struct reader *r, const struct tzif_header *h1, tz_zone *z)
{
	struct tzif_header h2;
	uint64_t           v1size = block_size(h1, 4);

	if (v1size > r->left)
		return fail(r,
		    "truncated: the v1 counts need %llu bytes of data, %zu "
		    "left",
		    (unsigned long long)v1size, r->left);
	skip(r, (size_t)v1size);
	if (read_header(r, &h2) != 0)
		return -1;
	if (h2.version != h1->version)
		return fail(r, "second header has version 0x%02x, first 0x%02x",
		    h2.version, h1->version);
	if (check_counts(r, &h2, 8) != 0 || load_block(r, &h2, 8, z) != 0)
		return -1;
	return load_footer(r, z);
}

tz_zone *
tz_parse(
    const void *buf, size_t len, const char *source, char *err, size_t errlen)
{
	struct reader r = {
	    buf, len, source ? source : "TZif data", err, errlen};
	struct tzif_header h;
	tz_zone           *z;

	if (len > TZ_FILE_MAX) {
		fail(&r, "%zu bytes, more than the %d allowed", len,
		    TZ_FILE_MAX);
		return NULL;
	}
	if (read_header(&r, &h) != 0)
		return NULL;
	z = calloc(1, sizeof(*z));
	if (z == NULL || (z->name = strdup(r.source)) == NULL) {
		fail(&r, "out of memory");
		goto fail;
	}
	if ((h.version == 0 ? parse_v1(&r, &h, z) : parse_v2(&r, &h, z)) != 0)
		goto fail;
	return z;
fail:
	tz_free(z);
	return NULL;
}

void
tz_free(tz_zone *z)
{
	if (z == NULL)
		return;
	free(z->name);
	free(z->trans);
	free(z->trans_type);
	free(z);
}

const char *
tz_name(const tz_zone *z)
{
	return z->name;
}

/* Zone names: [A-Za-z0-9/_+-], not absolute, no "..". */
static const char *
zone_name_problem(const char *name)
{
	if (name == NULL || name[0] == '\0')
		return "empty zone name";
	if (strlen(name) > TZ_NAME_MAX)
		return "zone name too long";
	if (name[0] == '/')
		return "absolute zone name";
	if (strstr(name, "..") != NULL)
		return "zone name contains \"..\"";
	for (const char *p = name; *p != '\0'; p++)
		if (!is_alpha(*p) && !is_digit(*p) &&
		    strchr("/_+-", *p) == NULL)
			return "zone name has a character outside "
			       "[A-Za-z0-9/_+-]";
	return NULL;
}

/* Reads at most TZ_FILE_MAX bytes of the regular file path. */
static int
read_file(
    const char *path, uint8_t **out, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	uint8_t    *buf = NULL;
	size_t      cap, n = 0;
	ssize_t     got;
	int         fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if (st.st_size > TZ_FILE_MAX) {
		seterr(err, errlen, "%s: %lld bytes, more than the %d allowed",
		    path, (long long)st.st_size, TZ_FILE_MAX);
		goto fail;
	}
	cap = (size_t)st.st_size + 1; /* room to see the file grow */
	buf = malloc(cap);
	if (buf == NULL) {
		seterr(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	while (n < cap && (got = read(fd, buf + n, cap - n)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			seterr(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		n += (size_t)got;
	}
	if (n == cap) {
		seterr(err, errlen, "%s: file grew while being read", path);
		goto fail;
	}
	close(fd);
	*out = buf;
	*len = n;
	return 0;
fail:
	free(buf);
	close(fd);
	return -1;
}

tz_zone *
tz_load(const char *dir, const char *name, char *err, size_t errlen)
{
	const char *problem = zone_name_problem(name);
	char        path[PATH_MAX];
	uint8_t    *buf;
	size_t      len;
	tz_zone    *z;
	int         n;

	if (problem != NULL) {
		seterr(err, errlen, "zone \"%.64s\": %s",
		    name ? name : "(null)", problem);
		return NULL;
	}
	if (dir == NULL)
		dir = getenv("TZDIR");
	if (dir == NULL || dir[0] == '\0')
		dir = DEFAULT_DIR;
	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		seterr(
		    err, errlen, "zone %s: path under %s too long", name, dir);
		return NULL;
	}
	if (read_file(path, &buf, &len, err, errlen) != 0)
		return NULL;
	z = tz_parse(buf, len, path, err, errlen);
	free(buf);
	if (z == NULL)
		return NULL;
	free(z->name);
	z->name = strdup(name);
	if (z->name == NULL) {
		seterr(err, errlen, "zone %s: out of memory", name);
		tz_free(z);
		return NULL;
	}
	return z;
}

int
tz_date_add_days(const char *date, int days, char *out, size_t outlen)
{
	int     y, m, d, hh, mi, ss;
	int64_t day, year;

	if (date == NULL || out == NULL || outlen < 11 || strlen(date) != 10 ||
	    tz_parse_local(date, &y, &m, &d, &hh, &mi, &ss) != 0 ||
	    days > 366 * 100 || days < -366 * 100)
		return -1;
	day  = days_from_civil(y, m, d) + days;
	year = year_of_day(day);
	day -= days_from_civil(year, 1, 1);
	for (m = 1; m < 12 && day >= month_days(year, m); m++)
		day -= month_days(year, m);
	if (year < TZ_YEAR_MIN || year > TZ_YEAR_MAX)
		return -1;
	if (snprintf(out, outlen, "%04d-%02d-%02d", (int)year, m,
	        (int)day + 1) != 10)
		return -1;
	return 0;
}
