/*
 * utf8_seq.h - the one UTF-8 check that sink plugins share when they
 * cut or escape text for their receivers: ICU's U8_NEXT, which refuses
 * overlong forms, surrogates and code points past U+10FFFF. Header-only
 * (ICU's macros need no library), so that plugins still link no daemon
 * code.
 */
#ifndef VIGIL_UTF8_SEQ_H
#define VIGIL_UTF8_SEQ_H

#include <stddef.h>
#include <stdint.h>

#include <unicode/utf8.h>

/* Length of the well-formed UTF-8 character at s (n > 0 bytes there), or
 * 0 when it is not one. */
static inline size_t
utf8_seq(const unsigned char *s, size_t n)
{
	int32_t i = 0;
	UChar32 c;

	U8_NEXT(s, i, (int32_t)(n > 4 ? 4 : n), c);
	return c < 0 ? 0 : (size_t)i;
}

#endif
