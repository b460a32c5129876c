/*
 * util.c - small helpers with no better home: clocks, RFC 3339 times,
 * bounded formatting, hex, and path handling. Everything here is
 * reentrant and safe from any thread.
 *
 * Times are kept as microseconds since the epoch (UTC). Calendar
 * arithmetic uses the proleptic Gregorian calendar with day counts
 * computed directly, so it needs no time zone database and no locale.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

#define US_PER_SEC  INT64_C(1000000)
#define SEC_PER_DAY INT64_C(86400)

static int64_t
clock_us(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

int64_t
now_realtime_us(void)
{
	return clock_us(CLOCK_REALTIME);
}

int64_t
now_monotonic_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

/* ------------------------------------------------------------ calendar */

static int
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int64_t y, int m)
{
	static const int days[12] = {
	    31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d. Counts from March so that the leap day
 * falls at the end of the counted year; eras are 400-year cycles. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil. */
static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp  = (5 * doy + 2) / 153;
	*d  = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m  = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y  = yoe + era * 400 + (*m <= 2);
}

/* ------------------------------------------------------------ RFC 3339 */

/* Reads exactly n decimal digits. */
static int
read_digits(const char **sp, int n, int *out)
{
	const char *s = *sp;
	int         v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*sp  = s + n;
	*out = v;
	return 0;
}

static int
expect_char(const char **sp, char c1, char c2)
{
	if (**sp != c1 && **sp != c2)
		return -1;
	(*sp)++;
	return 0;
}

/* ".ddd…": the first six digits are microseconds, the rest is dropped. */
static int
read_fraction(const char **sp, int64_t *us)
{
	const char *s     = *sp;
	int64_t     scale = 100000;

	*us = 0;
	if (*s != '.')
		return 0;
	s++;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		*us += (*s - '0') * scale;
		scale /= 10;
	}
	*sp = s;
	return 0;
}

/* "Z", "+hh:mm" or "-hh:mm" (RFC 3339 time-offset). */
static int
read_offset(const char **sp, int32_t *offset)
{
	const char *s = *sp;
	int         sign, hh, mm;

	if (*s == 'Z' || *s == 'z') {
		*offset = 0;
		*sp     = s + 1;
		return 0;
	}
	if (*s != '+' && *s != '-')
		return -1;
	sign = *s == '-' ? -1 : 1;
	s++;
	if (read_digits(&s, 2, &hh) || expect_char(&s, ':', ':') ||
	    read_digits(&s, 2, &mm) || hh > 23 || mm > 59)
		return -1;
	*offset = sign * (hh * 3600 + mm * 60);
	*sp     = s;
	return 0;
}

int
rfc3339_parse(const char *s, int64_t *us, int32_t *offset)
{
	int     year, mon, day, hh, mi, ss;
	int64_t frac, secs;
	int32_t off;

	if (s == NULL || read_digits(&s, 4, &year) ||
	    expect_char(&s, '-', '-') || read_digits(&s, 2, &mon) ||
	    expect_char(&s, '-', '-') || read_digits(&s, 2, &day) ||
	    expect_char(&s, 'T', 't') || read_digits(&s, 2, &hh) ||
	    expect_char(&s, ':', ':') || read_digits(&s, 2, &mi) ||
	    expect_char(&s, ':', ':') || read_digits(&s, 2, &ss) ||
	    read_fraction(&s, &frac) || read_offset(&s, &off) || *s != '\0')
		return -1;
	if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) ||
	    hh > 23 || mi > 59 || ss > 60)
		return -1;
	secs = days_from_civil(year, mon, day) * SEC_PER_DAY + hh * 3600 +
	    mi * 60 + ss - off;
	/* POSIX time has no leap seconds: 23:59:60 UTC is accepted as the
	 * first second of the next day, and :60 anywhere else is wrong. */
	if (ss == 60 && secs % SEC_PER_DAY != 0)
		return -1;
	if (us != NULL)
		*us = secs * US_PER_SEC + frac;
	if (offset != NULL)
		*offset = off;
	return 0;
}

char *
rfc3339_format(int64_t us, char *buf, size_t len)
{
	int64_t secs, sub, days, tod, y;
	int     m, d;
	bool    ok;

	/* Floor division, so that times before 1970 come out right. */
	secs = us / US_PER_SEC;
	sub  = us % US_PER_SEC;
	if (sub < 0) {
		sub += US_PER_SEC;
		secs--;
	}
	days = secs / SEC_PER_DAY;
	tod  = secs % SEC_PER_DAY;
	if (tod < 0) {
		tod += SEC_PER_DAY;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (sub != 0)
		ok = strfmt(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02d.%06dZ",
		    (long long)y, m, d, (int)(tod / 3600), (int)(tod / 60 % 60),
		    (int)(tod % 60), (int)sub);
	else
		ok = strfmt(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02dZ",
		    (long long)y, m, d, (int)(tod / 3600), (int)(tod / 60 % 60),
		    (int)(tod % 60));
	return ok ? buf : NULL;
}

/* ------------------------------------------------------------ hashing */

static EVP_MD        *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *
util_sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	/* A failed fetch leaves the implicit lookup: slower, still right. */
	return sha256_md != NULL ? sha256_md : EVP_sha256();
}

/* ------------------------------------------------------------ strings */

bool
strfmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int     n;

	if (len == 0)
		return false;
	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		buf[0] = '\0';
		return false;
	}
	return (size_t)n < len;
}

void
hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i]     = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

void
str_ascii_line(char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			*s = ' ';
		else if (c > 0x7e)
			*s = '?';
	}
}

/* ------------------------------------------------------------ paths */

char *
path_dirname(const char *path)
{
	size_t end = strlen(path);
	char  *out;

	/* POSIX dirname(3) without modifying the argument: drop trailing
	 * slashes, then the last component, then the slashes before it. */
	while (end > 1 && path[end - 1] == '/')
		end--;
	while (end > 0 && path[end - 1] != '/')
		end--;
	while (end > 1 && path[end - 1] == '/')
		end--;
	if (end == 0)
		return strdup(path[0] == '/' ? "/" : ".");
	out = malloc(end + 1);
	if (out == NULL)
		return NULL;
	memcpy(out, path, end);
	out[end] = '\0';
	return out;
}

char *
path_join(const char *dir, const char *rel)
{
	size_t dlen, rlen;
	bool   slash;
	char  *out;

	if (rel[0] == '/' || dir == NULL || dir[0] == '\0')
		return strdup(rel);
	dlen  = strlen(dir);
	rlen  = strlen(rel);
	slash = dir[dlen - 1] != '/';
	out   = malloc(dlen + slash + rlen + 1);
	if (out == NULL)
		return NULL;
	memcpy(out, dir, dlen);
	if (slash)
		out[dlen] = '/';
	memcpy(out + dlen + slash, rel, rlen + 1);
	return out;
}

/* Creates one directory; an existing directory is fine. */
static int
mkdir_one(const char *path, unsigned mode)
{
	struct stat st;

	if (mkdir(path, (mode_t)mode) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (stat(path, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

int
mkdir_p(const char *path, unsigned mode)
{
	char *copy;
	int   rc = -1;

	if (path == NULL || path[0] == '\0') {
		errno = ENOENT;
		return -1;
	}
	copy = strdup(path);
	if (copy == NULL)
		return -1;
	for (char *p = copy + 1; *p != '\0'; p++) {
		if (*p != '/' || p[-1] == '/')
			continue;
		*p = '\0';
		if (mkdir_one(copy, mode) != 0)
			goto out;
		*p = '/';
	}
	rc = mkdir_one(copy, mode);
out:
	free(copy);
	return rc;
}
