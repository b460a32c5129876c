/*
 * fuzz_tzif.c - libFuzzer harness for tz_parse, the reader of TZif files.
 * Any input must be refused with a reason or parsed. A parsed zone is
 * asked for offsets out to the ends of int64_t, where arithmetic could
 * overflow, and for wall-clock conversions, whose answers must show the
 * wall-clock time asked for or be the end of the gap it fell in.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tz.h"

#define OFFSET_MIN (-89999)
#define OFFSET_MAX 93599

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int32_t
checked_offset(const tz_zone *z, int64_t t)
{
	int32_t off = tz_offset_at(z, t);

	if (off < OFFSET_MIN || off > OFFSET_MAX) {
		fprintf(stderr, "offset %d at %lld\n", off, (long long)t);
		abort();
	}
	return off;
}

/* Wall-clock times to convert, with their seconds since the epoch as if
 * read as UTC: a year's ends, 1970, and days of changes in some zones. */
static const struct {
	int     year, month, day, hour;
	int64_t local;
} times[] = {
    {0, 1, 1, 0, INT64_C(-62167219200)},
    {1970, 1, 1, 0, 0},
    {2021, 3, 28, 2, INT64_C(1616896800)},
    {2021, 10, 31, 2, INT64_C(1635645600)},
    {2024, 2, 29, 23, INT64_C(1709247600)},
    {9999, 12, 31, 24, INT64_C(253402300800)},
};

/* Each answer shows the wall-clock time asked for, or is the end of a gap
 * the time fell in; the earliest is not after the latest. */
static void
check_local(const tz_zone *z, size_t i)
{
	int64_t local = times[i].local, t[2];

	for (int which = TZ_EARLIEST; which <= TZ_LATEST; which++) {
		int64_t u;

		if (tz_local_to_utc(z, times[i].year, times[i].month,
		        times[i].day, times[i].hour, 0, 0, which,
		        &t[which]) != 0)
			abort();
		u = t[which];
		if (u + checked_offset(z, u) != local &&
		    !(u - 1 + checked_offset(z, u - 1) < local &&
		        local < u + checked_offset(z, u))) {
			fprintf(stderr, "local %lld gave %lld\n",
			    (long long)local, (long long)u);
			abort();
		}
	}
	if (t[TZ_EARLIEST] > t[TZ_LATEST])
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t instants[] = {INT64_MIN, INT64_MIN + 1,
	    -(INT64_C(1) << 59), -2208988800, -1, 0, 1, INT32_MAX,
	    INT64_C(4102444800), INT64_C(1) << 59, INT64_MAX - 1, INT64_MAX};
	char                 err[256]   = "";
	tz_zone             *z;

	z = tz_parse(data, size, "fuzz", err, sizeof(err));
	if (z == NULL) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	if (tz_name(z) == NULL)
		abort();
	for (size_t i = 0; i < sizeof(instants) / sizeof(instants[0]); i++)
		checked_offset(z, instants[i]);
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		check_local(z, i);
	tz_free(z);
	return 0;
}
