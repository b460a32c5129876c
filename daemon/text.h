/*
 * text.h - the text services every rule plugin shares: normalization for
 * matching (ICU) with a map back to the original bytes, and multi-pattern
 * matching (Hyperscan, with PCRE2 to confirm prefiltered regexes).
 *
 * Normalization: NFKC case folding, invisible and format characters
 * (Cf, e.g. U+200B, U+00AD, U+FEFF) removed, every run of white space
 * (including U+00A0) collapsed to one U+0020, leading and trailing white
 * space dropped. Every byte of the normalized text maps back to the
 * original [start,end) byte range of the character it came from.
 */
#ifndef VIGIL_TEXT_H
#define VIGIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include <vigil/plugin.h>

/* Builds the per-process tables. Call once before any other text_*
 * function, from one thread; returns 0 or -1 (logged). */
int  text_init(void);
void text_fini(void);

/* True when [s, s+len) is well-formed UTF-8 (no surrogates, no overlongs). */
bool text_utf8_valid(const char *s, size_t len);

/* Returns a new normalized text, or NULL when s is not valid UTF-8 or on
 * allocation failure. The caller owns it. [any thread] */
vigil_norm *text_normalize(const char *s, size_t len);
void        text_norm_free(vigil_norm *n);
const char *text_norm_text(const vigil_norm *n, size_t *len);
void        text_norm_to_orig(const vigil_norm *n, size_t start, size_t end,
           size_t *orig_start, size_t *orig_end);

/* Compiles patterns once (at load or reload). Literals are normalized
 * with text_normalize first; regexes are taken as written and run
 * caseless over the folded text. Returns NULL with err naming the
 * pattern (its where, or its index) and the reason. */
vigil_matcher *text_matcher_new(
    const vigil_pattern *pats, size_t n, char *err, size_t errlen);
/* Scans normalized text; calls fn once per (pattern, end) with the
 * leftmost start, in order of end. Regexes that Hyperscan can only
 * prefilter report PCRE2's leftmost, non-overlapping matches instead.
 * Scratch space is per thread. Returns 0, or -1 (logged, without the
 * text) for malformed UTF-8, text over 2 GiB, out of memory, a Hyperscan
 * error or PCRE2's match limit. A matcher must not be freed while it is
 * being scanned. [any thread] */
int  text_matcher_scan(const vigil_matcher *m, const char *text, size_t len,
     vigil_match_fn fn, void *arg);
void text_matcher_free(vigil_matcher *m);

#endif
