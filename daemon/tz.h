/*
 * tz.h - time zones read straight from the system's TZif files (RFC 8536)
 * so that jurisdiction plugins can turn legal windows written in local
 * time ("until 20:00 on 10 January in every zone of Kazakhstan") into
 * UTC instants.
 *
 * Why not ICU or glibc: ICU's bundled zone data goes stale (it misses
 * Asia/Almaty's move to UTC+5 in March 2024), while Debian keeps
 * /usr/share/zoneinfo current; glibc reads that data only through the
 * process-wide TZ variable, which cannot be changed safely while other
 * threads run.
 *
 * Model: a zone is its table of transitions (the 64-bit block of a v2+
 * file, the 32-bit block of a v1 file) plus, for instants on or after
 * the last transition, the POSIX TZ string of the footer. Instants
 * before the first transition use time type 0 (RFC 8536 and RFC 9636
 * section 3.2; glibc before 2.41 takes the first non-DST type, which zic
 * makes the same type). A zone without transitions follows its footer,
 * or type 0 when it has none. Footer rules are applied as the sequence
 * of their changes year after year, as the reference tzcode does; near
 * New Year glibc may differ, as it judges by the UTC year alone.
 * Leap-second records are read past and not applied: times are POSIX
 * times, as in the zones Debian installs by default.
 *
 * Threads: a loaded zone is immutable; any number of threads may query
 * it at once. tz_load, tz_parse and tz_free touch no global state apart
 * from reading $TZDIR (tz_load with dir NULL) through getenv.
 */
#ifndef VIGIL_TZ_H
#define VIGIL_TZ_H

#include <stddef.h>
#include <stdint.h>

/* Largest TZif file accepted; real ones are under 4 KiB. */
#define TZ_FILE_MAX (256 * 1024)
/* Longest zone name tz_load accepts. */
#define TZ_NAME_MAX 255
/* Years tz_local_to_utc accepts (those tz_parse_local can write). */
#define TZ_YEAR_MIN 0
#define TZ_YEAR_MAX 9999

typedef struct tz_zone tz_zone;

/* Loads zone name (an IANA name like "Asia/Almaty") from directory dir,
 * or when dir is NULL from $TZDIR if set, else /usr/share/zoneinfo.
 * Refuses names that are empty, absolute, longer than TZ_NAME_MAX, hold
 * "..", or characters outside [A-Za-z0-9/_+-]. Returns a zone the caller
 * owns and frees with tz_free, or NULL with a message naming the zone or
 * file and the reason in err. Blocks on file I/O. */
tz_zone *tz_load(const char *dir, const char *name, char *err, size_t errlen);

/* Parses len bytes of TZif data (versions 1 to 4). source (may be NULL)
 * names the data in error messages and becomes the zone's name. Rejects
 * data over TZ_FILE_MAX bytes and any malformed file, with the reason in
 * err. Returns a zone the caller owns (free with tz_free), or NULL. */
tz_zone *tz_parse(
    const void *buf, size_t len, const char *source, char *err, size_t errlen);

/* Frees the zone. NULL is fine. */
void tz_free(tz_zone *z);

/* The zone's name as given to tz_load (or the source given to tz_parse),
 * owned by the zone. */
const char *tz_name(const tz_zone *z);

/* Seconds east of UTC in effect at instant t (seconds since the epoch,
 * any value). */
int32_t tz_offset_at(const tz_zone *z, int64_t t);

/* Which instant tz_local_to_utc gives for a wall-clock time that occurs
 * twice because clocks were set back. */
enum { TZ_EARLIEST = 0, TZ_LATEST = 1 };

/* Converts the wall-clock time year-month-day hour:min:sec in zone z to
 * seconds since the epoch in *utc. hour may be 24 with min and sec 0,
 * meaning the end of the day. A time that occurs twice gives the earlier
 * instant with TZ_EARLIEST and the later one with TZ_LATEST; a time that
 * does not exist (clocks set forward) gives the instant the gap ends.
 * Returns 0, or -1 when a field is out of range (year outside
 * TZ_YEAR_MIN..TZ_YEAR_MAX, no such date, which not one of the two). */
int tz_local_to_utc(const tz_zone *z, int year, int month, int day, int hour,
    int min, int sec, int which, int64_t *utc);

/* Parses "YYYY-MM-DD", "YYYY-MM-DD HH:MM", "YYYY-MM-DDTHH:MM", or either
 * of the latter with ":SS", into the fields (a date alone is 00:00:00).
 * The date must exist; the time runs from 00:00:00 to 24:00:00, where
 * 24:00 is the end of the day. Nothing may follow. Returns 0, or -1
 * leaving the fields unspecified. */
int tz_parse_local(const char *s, int *year, int *month, int *day, int *hour,
    int *min, int *sec);

/* Writes the date `days` days after date ("YYYY-MM-DD"; days may be
 * negative, within a century) to out as "YYYY-MM-DD" (out holds at least
 * 11 bytes). Returns 0, or -1 when date is not a real date or the result
 * leaves TZ_YEAR_MIN..TZ_YEAR_MAX. */
int tz_date_add_days(const char *date, int days, char *out, size_t outlen);

#endif
