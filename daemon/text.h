/*
 * text.h - the text services every rule plugin shares: normalization for
 * matching (ICU) with a map back to the original bytes, and multi-pattern
 * matching (Hyperscan, with PCRE2 to confirm prefiltered regexes).
 *
 * Normalization, in this order:
 *  - NFKC case folding; invisible and format characters (Cf, e.g.
 *    U+200B, U+00AD, U+FEFF) and other default ignorables (variation
 *    selectors) removed; every run of white space (including U+00A0)
 *    collapsed to one U+0020, leading and trailing white space dropped;
 *  - letter folding: Latin and Cyrillic letters lose their diacritics
 *    (é e, ş s, ё е, ӧ о; й stays), dotless ı is i, Kazakh letters become
 *    their Russian-keyboard twins (ә а, ғ г, қ к, ң н, ө о, ұ у, ү у,
 *    һ х, і и); combining marks after such a letter are dropped;
 *  - three or more one-letter words spaced out by the same single
 *    separator (space . - _ * or U+00B7) are joined: "г о л о с" and
 *    "v.o.t.e" become "голос" and "vote";
 *  - a word (run of letters, joined ones included, so that "г o л o с"
 *    is one) that mixes Latin and Cyrillic letters is brought to one
 *    script through look-alike letters (Latin a o e c p x y i k h m t b r
 *    and their Cyrillic twins, from ICU's confusable skeletons; Latin h
 *    is х, H is н): to the script into which every letter of the other
 *    can be mapped; to the one with more letters when both can, Cyrillic
 *    on a tie; a word where neither can is left alone;
 *  - a run of one letter is squeezed to one ("голлосууй" is "голосуй"),
 *    and the length of the run is kept beside the text (text_norm_runs);
 *    digits and punctuation are kept as they are.
 * Every byte of the normalized text maps back to the original [start,end)
 * byte range it came from; a squeezed letter to the range of its whole
 * run.
 */
#ifndef VIGIL_TEXT_H
#define VIGIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vigil/plugin.h>

/* Builds the per-process tables (some milliseconds). Call once before
 * any other text_* function, from one thread; returns 0 or -1 (logged).
 * text_fini frees them, and the calling thread's buffers; call it once
 * no other thread uses text_* any more (the buffers of a thread that
 * ends before are freed when it ends). */
int  text_init(void);
void text_fini(void);

/* True when [s, s+len) is well-formed UTF-8 (no surrogates, no overlongs). */
bool text_utf8_valid(const char *s, size_t len);

/* Returns a new normalized text, or NULL when s is not valid UTF-8 or on
 * allocation failure. The caller owns it. Works in per-thread buffers,
 * kept between calls. [any thread] */
vigil_norm *text_normalize(const char *s, size_t len);
void        text_norm_free(vigil_norm *n);
const char *text_norm_text(const vigil_norm *n, size_t *len);
/* Per byte of the text: how many letters of the folded text were
 * squeezed into the letter it belongs to (1 for one, at most 255). */
const uint8_t *text_norm_runs(const vigil_norm *n);
void           text_norm_to_orig(const vigil_norm *n, size_t start, size_t end,
              size_t *orig_start, size_t *orig_end);

/* Folds a regex source for matching normalized text: each character
 * that is not ASCII is replaced by its folding (case, compatibility and
 * letter folding: "[а-яё]" becomes "[а-яе]", "қазақ" "казак"); ASCII
 * punctuation that comes out of a folding is escaped so that it stays
 * literal. ASCII, escapes included, is kept as written. Returns a new
 * string the caller frees, or NULL when src is not valid UTF-8, text_init
 * was not called, or out of memory. [any thread] */
char *text_fold_regex(const char *src, size_t len);

/* Compiles patterns once (at load or reload). Literals are normalized
 * with text_normalize first. Regexes are folded with text_fold_regex and
 * run caseless over the normalized text: they see folded, joined and
 * squeezed text, where a letter never follows itself ("сс" or "(д)\1"
 * can never match; write "с" and "д") and mixed-script words are already
 * in one script. VIGIL_PAT_WORD keeps matches that begin and end at word
 * edges; VIGIL_PAT_PREFIX those that begin at one (a stem: "голосу"
 * finds "голосуете" but not "проголосуете"). Returns NULL with err naming
 * the pattern (its where, or its index) and the reason. */
vigil_matcher *text_matcher_new(
    const vigil_pattern *pats, size_t n, char *err, size_t errlen);
/* Scans normalized text; calls fn once per (pattern, end) with the
 * leftmost start, in order of end. Regexes that Hyperscan can only
 * prefilter report PCRE2's leftmost, non-overlapping matches instead.
 * Scratch space is per thread. Returns 0, or -1 (logged, without the
 * text) for malformed UTF-8, text over 2 GiB, out of memory, a Hyperscan
 * error or PCRE2's match limit. A matcher must not be freed while it is
 * being scanned. [any thread] */
int text_matcher_scan(const vigil_matcher *m, const char *text, size_t len,
    vigil_match_fn fn, void *arg);
/* Scans a normalized text like text_matcher_scan, and also holds each
 * literal to the runs of letters it was written with: "poll" needs two
 * or more l (it finds "poll" and "pooolll", not "pool"), where the
 * squeezed text alone cannot tell them apart. Regexes see the squeezed
 * text either way. [any thread] */
int text_matcher_scan_norm(
    const vigil_matcher *m, const vigil_norm *n, vigil_match_fn fn, void *arg);
void text_matcher_free(vigil_matcher *m);

#endif
