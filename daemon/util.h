/*
 * util.h - small helpers with no better home: time, strings, files.
 * Every function here is reentrant and may be called from any thread.
 */
#ifndef VIGIL_UTIL_H
#define VIGIL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* clang-format would read "(char *)(ptr) - x" as a cast of "-x". */
/* clang-format off */
#define container_of(ptr, type, member)                                        \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))
/* clang-format on */

int64_t now_realtime_us(void);
int64_t now_monotonic_us(void);

/* Parses RFC 3339 date-time with a mandatory offset ("Z" or +hh:mm):
 * 2021-01-10T20:30:00+06:00, optional fraction. Rejects impossible
 * dates (2021-02-30), offsets beyond +-23:59 and trailing bytes; "t" and
 * "z" may be lowercase; fraction digits past microseconds are dropped;
 * a leap second (23:59:60 UTC) counts as the next day's first second.
 * Returns 0 and fills microseconds since the epoch (UTC) and the
 * written offset in seconds (either pointer may be NULL), or -1. */
int rfc3339_parse(const char *s, int64_t *us, int32_t *offset);
/* Formats microseconds since the epoch as UTC "YYYY-MM-DDTHH:MM:SSZ"
 * (with ".ffffff" when not whole seconds). buf needs 32 bytes. Returns
 * buf, or NULL when len is too small. */
char *rfc3339_format(int64_t us, char *buf, size_t len);

/* snprintf that never overflows and reports truncation as false. */
bool strfmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* SHA-256, fetched once: EVP_sha256() makes every EVP_DigestInit_ex
 * look the algorithm up again, which costs more than hashing a post. */
const EVP_MD *util_sha256(void);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void hex_encode(const unsigned char *in, size_t n, char *out);

/* Makes s one line of printable ASCII, in place: control characters
 * become spaces, bytes above 0x7e become '?'. For messages that quote
 * outside input (a parser's error near some bytes). */
void str_ascii_line(char *s);

/* Directory part of path as dirname(3) gives it (malloc'd), "." when
 * none; NULL when out of memory. */
char *path_dirname(const char *path);
/* rel resolved against dir unless absolute or dir is NULL or empty
 * (malloc'd); NULL when out of memory. */
char *path_join(const char *dir, const char *rel);
/* mkdir -p with mode: 0, or -1 with errno set (ENOTDIR when a part of
 * the path exists and is not a directory). */
int mkdir_p(const char *path, unsigned mode);

#endif
