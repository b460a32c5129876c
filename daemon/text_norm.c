/*
 * text_norm.c - normalization of post text for matching, with a map from
 * every normalized byte back to the original bytes it came from.
 *
 * Two passes. The first folds characters: NFKC_Casefold, then letter
 * folding (Latin and Cyrillic letters lose their marks, Kazakh letters
 * become their Russian-keyboard twins). ICU's C API normalizes whole
 * strings and gives no offset map, so the work is split at normalization
 * boundaries. A character that has a boundary before it cannot interact
 * with what precedes it; most text is such characters, and each one is
 * folded by a table built at text_init. A character with no boundary
 * before it (a combining mark, a Hangul vowel) joins the preceding ones
 * into a segment that ICU normalizes as a unit, and all of the segment's
 * output maps to the segment's whole original range. Format characters
 * (Cf) are dropped before folding, so that an invisible character cannot
 * split a letter from its combining mark; white space (after folding, so
 * U+00A0 and U+3000 count) collapses to one U+0020.
 *
 * The second pass works on words (runs of letters) of the folded text:
 * three or more one-letter words spaced out by one separator are joined,
 * a word that mixes Latin and Cyrillic letters is brought to one script
 * through look-alike pairs, and runs of one letter are squeezed to one,
 * remembering how long each run was: the matcher holds a term with a
 * doubled letter to it, so that squeezing "pool" does not make it "poll".
 * The look-alike pairs come from ICU's confusable skeletons, computed
 * once at text_init: a skeleton costs microseconds per word, far too much
 * for every post.
 *
 * Both passes write into per-thread scratch buffers; the result is one
 * allocation.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uscript.h>
#include <unicode/uspoof.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include "log.h"
#include "text.h"

/* One table entry per code point of the table: how it folds on its
 * own. */
#define FOLD_OFF_MASK  0x003fffffu /* offset of the folding in fold_pool */
#define FOLD_LEN_SHIFT 22          /* bytes of the folding, 0..63 */
#define FOLD_LEN_MAX   63u
#define FOLD_IDENTITY  (1u << 28) /* folds to itself */
#define FOLD_DROP      (1u << 29) /* format character: removed */
#define FOLD_JOINS     (1u << 30) /* goes through the segment path */
#define FOLD_COMPUTE   (1u << 31) /* not in the table: fold_one it */

/* The table covers the BMP and the supplementary block that posts use:
 * mathematical letters (a way to write around word lists) and emoji. */
#define BMP_SIZE   0x10000u
#define SMP_LO     0x1d000u
#define SMP_HI     0x20000u
#define TABLE_SIZE (BMP_SIZE + SMP_HI - SMP_LO)

/* ICU reorders combining marks by insertion, quadratic in their number:
 * like Unicode's Stream-Safe Text Format (UAX #15), a run of more joining
 * characters than this is cut, and the rest starts a new segment. No real
 * text comes near it. */
#define SEG_MAX_JOINING 30u

/* Code points one letter folds to, at most (a letter and no marks). */
#define LETTER_FOLD_MAX 4

/* Letter classes of folded characters, for the word pass. */
enum { LC_NONE, LC_OTHER, LC_LATIN, LC_CYRILLIC };
#define LC_MIXED ((1u << LC_LATIN) | (1u << LC_CYRILLIC))

/* Confusable skeletons of one letter's two case forms are short; one
 * that does not fit is no letter's look-alike. */
#define SKEL_MAX 16

/* A scratch buffer larger than this is given back after each call. */
#define SCRATCH_KEEP 65536u

#define CYR_SHORT_I 0x0439 /* й: a letter of Russian, not и + breve */

/* A letter's look-alike in the other script: to[0] when the original
 * character was lowercase, to[1] when uppercase (Latin h looks like
 * Kazakh һ, Latin H like Russian Н). */
struct alike {
	uint16_t key;
	uint16_t to[2];
};

/* Written once by text_init, before any other thread uses them; read-only
 * afterwards, so no lock. */
static const UNormalizer2 *nfkc_cf;
static const UNormalizer2 *nfd;
static uint32_t           *fold_table;
static char               *fold_pool;
static unsigned char       ascii_fold[128];
static uint8_t            *letter_class; /* LC_*, per BMP code point */
static struct alike       *alikes;       /* sorted by key */
static size_t              n_alikes;
static pthread_key_t       scratch_key;

struct span {
	uint32_t start;
	uint32_t end;
};

/* One allocation: the struct, then room for cap spans, cap run lengths,
 * and cap bytes of text and a NUL. */
struct vigil_norm {
	char        *text; /* NUL-terminated */
	size_t       len;
	struct span *map;  /* one per byte of text */
	uint8_t     *runs; /* per byte: letters squeezed into it, at most 255 */
	size_t       cap;
};

/* Per-thread buffers of the folding pass, kept between calls. */
struct scratch {
	char        *text;
	struct span *map;
	size_t       cap;
};

/* The normalized text under construction, with the white space that is
 * pending: written only when something follows it. */
struct builder {
	char        *text;
	struct span *map;
	size_t       len;
	size_t       cap;
	bool         space;
	uint32_t     space_start;
	uint32_t     space_end;
};

/* Where the current segment began, to undo its output when a character
 * that joins it turns up. After a cut, cut_strip tells the piece that
 * begins at cut whether its marks follow a Latin or Cyrillic letter. */
struct seg_mark {
	size_t   src;
	size_t   out_len;
	bool     space;
	uint32_t space_start;
	uint32_t space_end;
	size_t   cut;
	bool     cut_strip;
};

/* The word pass: reads the folded text, writes the result. */
struct words {
	const unsigned char *in;
	const struct span   *imap;
	size_t               n;
	const unsigned char *orig; /* the original text, for letter case */
	size_t               orig_len;
	vigil_norm          *res;
	char                *out; /* res's */
	struct span         *omap;
	uint8_t             *oruns;
	size_t               len;
};

/* What the word pass needs to know of one code point of a unit. */
struct letter {
	UChar32 c;
	size_t  len;
	uint8_t cls;
};

/* ------------------------------------------------------------ UTF-8 */

/* Decodes one well-formed UTF-8 character at s[i]; returns its length,
 * or 0 when the bytes there are not well-formed (Unicode table 3-7). */
static inline size_t
utf8_decode(const unsigned char *s, size_t len, size_t i, UChar32 *cp)
{
	unsigned char b0 = s[i], lo = 0x80, hi = 0xbf;
	size_t        n, k;
	UChar32       c;

	if (b0 < 0x80) {
		*cp = b0;
		return 1;
	}
	if (b0 >= 0xc2 && b0 <= 0xdf) {
		n = 2;
		c = b0 & 0x1f;
	} else if (b0 >= 0xe0 && b0 <= 0xef) {
		n = 3;
		c = b0 & 0x0f;
		if (b0 == 0xe0)
			lo = 0xa0;
		else if (b0 == 0xed)
			hi = 0x9f;
	} else if (b0 >= 0xf0 && b0 <= 0xf4) {
		n = 4;
		c = b0 & 0x07;
		if (b0 == 0xf0)
			lo = 0x90;
		else if (b0 == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (len - i < n)
		return 0;
	if (s[i + 1] < lo || s[i + 1] > hi)
		return 0;
	c = (c << 6) | (s[i + 1] & 0x3f);
	for (k = 2; k < n; k++) {
		if ((s[i + k] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i + k] & 0x3f);
	}
	*cp = c;
	return n;
}

bool
text_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t               i = 0, n;
	UChar32              c;

	if (s == NULL)
		return len == 0;
	while (i < len) {
		/* Skip ASCII eight bytes at a time. */
		while (len - i >= 8) {
			uint64_t w;

			memcpy(&w, s + i, sizeof(w));
			if (w & UINT64_C(0x8080808080808080))
				break;
			i += 8;
		}
		if (i >= len)
			break;
		/* Two-byte letters (Cyrillic) are most of what is not ASCII. */
		if (s[i] >= 0xc2 && s[i] <= 0xdf && len - i >= 2 &&
		    (s[i + 1] & 0xc0) == 0x80) {
			i += 2;
			continue;
		}
		if ((n = utf8_decode(s, len, i, &c)) == 0)
			return false;
		i += n;
	}
	return true;
}

/* ------------------------------------------------------------ letters */

static bool
is_latin_cyrillic_letter(UChar32 c)
{
	UErrorCode  uerr = U_ZERO_ERROR;
	UScriptCode sc;

	if (!u_isalpha(c))
		return false;
	sc = uscript_getScript(c, &uerr);
	return U_SUCCESS(uerr) &&
	    (sc == USCRIPT_LATIN || sc == USCRIPT_CYRILLIC);
}

static uint8_t
class_of_slow(UChar32 c)
{
	UErrorCode  uerr = U_ZERO_ERROR;
	UScriptCode sc;

	if (!u_isalpha(c))
		return LC_NONE;
	sc = uscript_getScript(c, &uerr);
	if (U_FAILURE(uerr))
		return LC_OTHER;
	if (sc == USCRIPT_LATIN)
		return LC_LATIN;
	if (sc == USCRIPT_CYRILLIC)
		return LC_CYRILLIC;
	return LC_OTHER;
}

/* Kazakh letters as typed on a Russian keyboard, and Latin dotless i:
 * the forms people write the same words in. */
static UChar32
keyboard_fold(UChar32 c)
{
	switch (c) {
	case 0x04d9: return 0x0430; /* ә а */
	case 0x0493: return 0x0433; /* ғ г */
	case 0x049b: return 0x043a; /* қ к */
	case 0x04a3: return 0x043d; /* ң н */
	case 0x04e9: return 0x043e; /* ө о */
	case 0x04b1: return 0x0443; /* ұ у */
	case 0x04af: return 0x0443; /* ү у */
	case 0x04bb: return 0x0445; /* һ х */
	case 0x0456: return 0x0438; /* і и */
	case 0x0131: return 'i';    /* ı i */
	default: return c;
	}
}

/* Letter folding of one NFKC_Casefolded code point: a Latin or Cyrillic
 * letter other than й is decomposed and loses its nonspacing marks, then
 * Kazakh letters fold. Writes at most LETTER_FOLD_MAX code points. */
static int
letter_fold(UChar32 c, UChar32 *out)
{
	UChar      dec[16];
	int32_t    n, i = 0;
	int        k    = 0;
	UErrorCode uerr = U_ZERO_ERROR;

	if (c == CYR_SHORT_I || !is_latin_cyrillic_letter(c)) {
		out[0] = c;
		return 1;
	}
	n = unorm2_getDecomposition(
	    nfd, c, dec, (int32_t)(sizeof(dec) / sizeof(dec[0])), &uerr);
	if (n < 0 || U_FAILURE(uerr)) {
		out[0] = keyboard_fold(c);
		return 1;
	}
	while (i < n && k < LETTER_FOLD_MAX) {
		UChar32 d;

		U16_NEXT(dec, i, n, d);
		if (u_charType(d) != U_NON_SPACING_MARK)
			out[k++] = keyboard_fold(d);
	}
	return k;
}

static bool
letter_fold_changes(UChar32 c)
{
	UChar32 out[LETTER_FOLD_MAX];

	return letter_fold(c, out) != 1 || out[0] != c;
}

/* ------------------------------------------------------------ tables */

/* Folds one code point on its own: NFKC_Casefold, format characters
 * dropped, white space written as U+0020, letter folding, marks after a
 * Latin or Cyrillic letter dropped. Returns the UTF-8 length in out (at
 * least FOLD_LEN_MAX + 4 bytes), or -1 when it does not fit. */
static int
fold_one(UChar32 c, char *out)
{
	UChar      src[2], dst[64];
	int32_t    n = 0, m, i = 0, len = 0;
	UErrorCode uerr  = U_ZERO_ERROR;
	bool       strip = false;

	U16_APPEND_UNSAFE(src, n, c);
	m = unorm2_normalize(nfkc_cf, src, n, dst,
	    (int32_t)(sizeof(dst) / sizeof(dst[0])), &uerr);
	if (U_FAILURE(uerr))
		return -1;
	while (i < m) {
		UChar32 d, f[LETTER_FOLD_MAX];
		int     k, nf;

		U16_NEXT(dst, i, m, d);
		if (u_charType(d) == U_FORMAT_CHAR)
			continue;
		if (u_charType(d) == U_NON_SPACING_MARK && strip)
			continue;
		strip = is_latin_cyrillic_letter(d);
		if (u_isUWhiteSpace(d)) {
			if (len + 1 > (int)FOLD_LEN_MAX)
				return -1;
			out[len++] = ' ';
			continue;
		}
		nf = letter_fold(d, f);
		for (k = 0; k < nf; k++) {
			if (len + 4 > (int)FOLD_LEN_MAX)
				return -1;
			U8_APPEND_UNSAFE(out, len, f[k]);
		}
	}
	return len;
}

/* Appends a folding to the pool and sets *entry to its offset and
 * length. */
static int
pool_add(char **pool, size_t *len, size_t *cap, const char *s, size_t n,
    uint32_t *entry)
{
	if (*len + n > FOLD_OFF_MASK)
		return -1;
	if (*len + n > *cap) {
		size_t ncap = *cap ? *cap * 2 : 4096;
		char  *p    = realloc(*pool, ncap);

		if (p == NULL)
			return -1;
		*pool = p;
		*cap  = ncap;
	}
	if (n > 0)
		memcpy(*pool + *len, s, n);
	*entry = (uint32_t)*len | ((uint32_t)n << FOLD_LEN_SHIFT);
	*len += n;
	return 0;
}

/* The flags of a code point's table entry, or of one outside the table
 * that the caller folds with fold_one. NFKC_Casefold removes default
 * ignorable code points (variation selectors, which emoji carry): they
 * are dropped like format characters, without the cost of a segment. A
 * nonspacing mark always takes the segment path, where it can be dropped
 * after a Latin or Cyrillic letter. */
static uint32_t
fold_flags(UChar32 c)
{
	uint32_t e = 0;

	if (!unorm2_hasBoundaryBefore(nfkc_cf, c) ||
	    u_charType(c) == U_NON_SPACING_MARK)
		e |= FOLD_JOINS;
	if (u_charType(c) == U_FORMAT_CHAR ||
	    u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT))
		return e | FOLD_DROP;
	if (!u_isUWhiteSpace(c) &&
	    !u_hasBinaryProperty(c, UCHAR_CHANGES_WHEN_NFKC_CASEFOLDED) &&
	    !letter_fold_changes(c))
		e |= FOLD_IDENTITY;
	return e;
}

/* The index of c's entry in the table, or -1 when it has none. */
static inline int32_t
table_index(UChar32 c)
{
	if (c < (UChar32)BMP_SIZE)
		return c;
	if (c >= (UChar32)SMP_LO && c < (UChar32)SMP_HI)
		return (int32_t)(c - SMP_LO + BMP_SIZE);
	return -1;
}

static int
build_fold_table(void)
{
	char     *pool     = NULL, buf[FOLD_LEN_MAX + 4];
	size_t    pool_len = 0, pool_cap = 0;
	uint32_t *table;
	UChar32   c;

	if ((table = calloc(TABLE_SIZE, sizeof(*table))) == NULL)
		goto fail;
	for (c = 0; c < (UChar32)SMP_HI; c++) {
		uint32_t e, slot = 0;
		int      n;

		if (c == (UChar32)BMP_SIZE)
			c = SMP_LO;
		if (U_IS_SURROGATE(c))
			continue; /* never decoded from valid UTF-8 */
		e = fold_flags(c);
		if (e & (FOLD_DROP | FOLD_IDENTITY)) {
			table[table_index(c)] = e;
			continue;
		}
		if ((n = fold_one(c, buf)) < 0) {
			log_err("text: cannot fold U+%04X", (unsigned)c);
			goto fail;
		}
		if (pool_add(&pool, &pool_len, &pool_cap, buf, (size_t)n,
		        &slot) != 0)
			goto fail;
		table[table_index(c)] = e | slot;
	}
	for (c = 0; c < 128; c++) {
		/* ASCII folds to one ASCII byte; the fast path relies on it. */
		uint32_t e = table[c];

		if (e & FOLD_IDENTITY)
			ascii_fold[c] = (unsigned char)c;
		else if (((e >> FOLD_LEN_SHIFT) & FOLD_LEN_MAX) == 1 &&
		    !(e & (FOLD_DROP | FOLD_JOINS)))
			ascii_fold[c] = (unsigned char)pool[e & FOLD_OFF_MASK];
		else {
			log_err(
			    "text: unexpected folding of U+%04X", (unsigned)c);
			goto fail;
		}
	}
	fold_table = table;
	fold_pool  = pool;
	return 0;
fail:
	free(table);
	free(pool);
	return -1;
}

static int
build_letter_classes(void)
{
	UChar32 c;

	if ((letter_class = malloc(BMP_SIZE)) == NULL)
		return -1;
	for (c = 0; c < (UChar32)BMP_SIZE; c++)
		letter_class[c] =
		    U_IS_SURROGATE(c) ? LC_NONE : class_of_slow(c);
	for (c = 0x0400; c < 0x0480; c++)
		if (letter_class[c] != LC_CYRILLIC) {
			log_err("text: U+%04X is not a Cyrillic letter",
			    (unsigned)c);
			return -1;
		}
	return 0;
}

/* The one code point that BMP code point c folds to, or -1 when it folds
 * to none or to several. */
static UChar32
fold_single(UChar32 c)
{
	uint32_t    e = fold_table[c];
	const char *s;
	int32_t     i = 0, n;
	UChar32     d;

	if (e & FOLD_DROP)
		return -1;
	if (e & FOLD_IDENTITY)
		return c;
	s = fold_pool + (e & FOLD_OFF_MASK);
	n = (int32_t)((e >> FOLD_LEN_SHIFT) & FOLD_LEN_MAX);
	if (n == 0)
		return -1;
	U8_NEXT_UNSAFE(s, i, d);
	return i == n ? d : -1;
}

/* ------------------------------------------------------------ look-alikes */

/* The confusable skeletons of a letter's lowercase [0] and uppercase [1]
 * forms; n is -1 for one too long to matter. */
struct skel {
	UChar   s[2][SKEL_MAX];
	int32_t n[2];
};

/* A look-alike pair seen at text_init, before the best one per key is
 * chosen. */
struct pair {
	uint16_t key;    /* folded letter in the text */
	uint16_t to;     /* folded letter of the other script */
	bool     lower;  /* the lowercase skeletons are equal */
	bool     upper;  /* the uppercase skeletons are equal */
	bool     native; /* its Cyrillic letter is a Russian one */
	bool     direct; /* the key is the letter itself, not its folding */
};

struct pairs {
	struct pair *p;
	size_t       n;
	size_t       cap;
};

/* The skeletons of c's case forms; uspoof_getSkeleton takes the checker
 * as const and is safe to call without a lock, but runs only here. */
static int
skel_of(const USpoofChecker *sc, UChar32 c, struct skel *k)
{
	UChar32 form[2] = {u_tolower(c), u_toupper(c)};
	int     f;

	for (f = 0; f < 2; f++) {
		UChar      in[2];
		int32_t    n    = 0;
		UErrorCode uerr = U_ZERO_ERROR;

		U16_APPEND_UNSAFE(in, n, form[f]);
		k->n[f] =
		    uspoof_getSkeleton(sc, 0, in, n, k->s[f], SKEL_MAX, &uerr);
		if (uerr == U_BUFFER_OVERFLOW_ERROR)
			k->n[f] = -1;
		else if (U_FAILURE(uerr)) {
			log_err("text: no confusable skeleton for U+%04X: %s",
			    (unsigned)c, u_errorName(uerr));
			return -1;
		}
	}
	return 0;
}

static bool
skel_same(const struct skel *a, const struct skel *b, int f)
{
	return a->n[f] >= 0 && a->n[f] == b->n[f] &&
	    memcmp(a->s[f], b->s[f], (size_t)a->n[f] * sizeof(UChar)) == 0;
}

static int
pairs_add(struct pairs *ps, const struct pair *p)
{
	if (ps->n == ps->cap) {
		size_t       ncap = ps->cap ? ps->cap * 2 : 256;
		struct pair *np   = realloc(ps->p, ncap * sizeof(*np));

		if (np == NULL)
			return -1;
		ps->p   = np;
		ps->cap = ncap;
	}
	ps->p[ps->n++] = *p;
	return 0;
}

/* The letters a look-alike may turn into: Russian and Kazakh letters for
 * Latin ones (a rarer Cyrillic letter would make a Latin word Cyrillic
 * for no reader), basic Latin letters for Cyrillic ones. */
static const UChar32 kazakh_letters[] = {
    0x04d9, 0x0493, 0x049b, 0x04a3, 0x04e9, 0x04b1, 0x04af, 0x04bb, 0x0456};

struct target {
	UChar32     c;
	UChar32     folded; /* what it becomes in the text */
	struct skel k;
};

static bool
russian_letter(UChar32 c)
{
	return (c >= 0x0430 && c <= 0x044f) || c == 0x0451;
}

static int
targets_make(const USpoofChecker *sc, bool latin, struct target *t, size_t *n)
{
	size_t  i = 0, k;
	UChar32 c;

	if (latin)
		for (c = 'a'; c <= 'z'; c++)
			t[i++].c = c;
	else {
		for (c = 0x0430; c <= 0x044f; c++)
			t[i++].c = c;
		t[i++].c = 0x0451;
		for (k = 0;
		     k < sizeof(kazakh_letters) / sizeof(*kazakh_letters); k++)
			t[i++].c = kazakh_letters[k];
	}
	*n = i;
	for (k = 0; k < i; k++) {
		t[k].folded = fold_single(t[k].c);
		if (skel_of(sc, t[k].c, &t[k].k) != 0)
			return -1;
	}
	return 0;
}

/* Adds the pairs of letter c, whose folding is key, with the targets. */
static int
pairs_of(const struct target *t, size_t n_t, UChar32 c, UChar32 key,
    const struct skel *s, struct pairs *ps)
{
	bool   latin = letter_class[c] == LC_LATIN;
	size_t k;

	for (k = 0; k < n_t; k++) {
		struct pair p = {.key = (uint16_t)key};

		p.lower = skel_same(s, &t[k].k, 0);
		p.upper = skel_same(s, &t[k].k, 1);
		if (!(p.lower || p.upper) || t[k].folded < 0 ||
		    letter_class[t[k].folded] !=
		        (latin ? LC_CYRILLIC : LC_LATIN))
			continue;
		p.to     = (uint16_t)t[k].folded;
		p.native = russian_letter(latin ? t[k].c : c);
		p.direct = c == key;
		if (pairs_add(ps, &p) != 0)
			return -1;
	}
	return 0;
}

/* Collects the pairs of every Latin (or Cyrillic) letter that folds to
 * a letter of its script with the targets of the other script. */
static int
pairs_collect(const USpoofChecker *sc, bool latin, struct pairs *ps)
{
	struct target t[48];
	size_t        n_t;
	uint8_t       cls = latin ? LC_LATIN : LC_CYRILLIC;
	UChar32       c, key;
	struct skel   s;

	if (targets_make(sc, !latin, t, &n_t) != 0)
		return -1;
	for (c = 0; c < (UChar32)BMP_SIZE; c++) {
		if (letter_class[c] != cls || u_isupper(c) || u_istitle(c))
			continue;
		key = fold_single(c);
		if (key < 0 || letter_class[key] != cls)
			continue;
		if (skel_of(sc, c, &s) != 0 ||
		    pairs_of(t, n_t, c, key, &s, ps) != 0)
			return -1;
	}
	return 0;
}

static int
pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->to < y->to ? -1 : x->to > y->to;
}

/* How much a pair is preferred for an original of case f: a pair of
 * that case's forms, then a Russian letter, then the letter itself. */
static int
pair_score(const struct pair *p, int f)
{
	return ((f ? p->upper : p->lower) ? 8 : 0) + (p->native ? 4 : 0) +
	    (p->direct ? 2 : 0);
}

/* Keeps the best pair per key and case; pairs are sorted, so among
 * equals the lowest target wins. */
static int
alikes_reduce(const struct pairs *ps)
{
	size_t i = 0, j, n = 0;
	int    f;

	if ((alikes = calloc(ps->n ? ps->n : 1, sizeof(*alikes))) == NULL)
		return -1;
	while (i < ps->n) {
		struct alike *a       = &alikes[n++];
		int           best[2] = {-1, -1};

		a->key = ps->p[i].key;
		for (j = i; j < ps->n && ps->p[j].key == a->key; j++)
			for (f = 0; f < 2; f++)
				if (pair_score(&ps->p[j], f) > best[f]) {
					best[f]  = pair_score(&ps->p[j], f);
					a->to[f] = ps->p[j].to;
				}
		i = j;
	}
	n_alikes = n;
	return 0;
}

static int
build_alikes(void)
{
	USpoofChecker *sc;
	UErrorCode     uerr = U_ZERO_ERROR;
	struct pairs   ps   = {0};
	int            rc   = -1;

	sc = uspoof_open(&uerr);
	if (U_FAILURE(uerr)) {
		log_err("text: ICU spoof checker unavailable: %s",
		    u_errorName(uerr));
		return -1;
	}
	if (pairs_collect(sc, true, &ps) != 0 ||
	    pairs_collect(sc, false, &ps) != 0)
		goto out;
	if (ps.n > 1)
		qsort(ps.p, ps.n, sizeof(*ps.p), pair_cmp);
	rc = alikes_reduce(&ps);
out:
	free(ps.p);
	uspoof_close(sc);
	return rc;
}

static const struct alike *
alike_find(UChar32 c)
{
	size_t lo = 0, hi = n_alikes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (alikes[mid].key == c)
			return &alikes[mid];
		if (alikes[mid].key < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ------------------------------------------------------------ scratch */

static void
scratch_free(void *p)
{
	struct scratch *sc = p;

	if (sc == NULL)
		return;
	free(sc->text);
	free(sc->map);
	free(sc);
}

static struct scratch *
scratch_get(void)
{
	struct scratch *sc = pthread_getspecific(scratch_key);

	if (sc != NULL)
		return sc;
	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return NULL;
	if (pthread_setspecific(scratch_key, sc) != 0) {
		free(sc);
		return NULL;
	}
	return sc;
}

/* Gives back what one very long text made the buffers grow to. */
static void
scratch_trim(struct scratch *sc)
{
	if (sc->cap <= SCRATCH_KEEP)
		return;
	free(sc->text);
	free(sc->map);
	sc->text = NULL;
	sc->map  = NULL;
	sc->cap  = 0;
}

/* ------------------------------------------------------------ init */

static void
tables_free(void)
{
	free(fold_table);
	free(fold_pool);
	free(letter_class);
	free(alikes);
	fold_table   = NULL;
	fold_pool    = NULL;
	letter_class = NULL;
	alikes       = NULL;
	n_alikes     = 0;
}

int
text_init(void)
{
	UErrorCode uerr = U_ZERO_ERROR;

	if (fold_table != NULL)
		return 0;
	nfkc_cf = unorm2_getNFKCCasefoldInstance(&uerr);
	if (U_SUCCESS(uerr))
		nfd = unorm2_getNFDInstance(&uerr);
	if (U_FAILURE(uerr)) {
		log_err("text: ICU normalization data unavailable: %s",
		    u_errorName(uerr));
		return -1;
	}
	if (pthread_key_create(&scratch_key, scratch_free) != 0) {
		log_err("text: cannot create the per-thread buffers");
		return -1;
	}
	if (build_fold_table() != 0 || build_letter_classes() != 0 ||
	    build_alikes() != 0) {
		log_err("text: cannot build the folding tables");
		tables_free();
		pthread_key_delete(scratch_key);
		return -1;
	}
	return 0;
}

void
text_fini(void)
{
	if (fold_table == NULL)
		return;
	scratch_free(pthread_getspecific(scratch_key));
	pthread_setspecific(scratch_key, NULL);
	pthread_key_delete(scratch_key);
	tables_free();
}

/* ------------------------------------------------------------ output */

static int
builder_grow(struct builder *b, size_t need)
{
	size_t       ncap;
	char        *t;
	struct span *m;

	ncap = b->cap * 2;
	if (ncap < b->len + need + 1)
		ncap = b->len + need + 1;
	if ((t = realloc(b->text, ncap)) == NULL)
		return -1;
	b->text = t;
	if ((m = realloc(b->map, ncap * sizeof(*m))) == NULL)
		return -1;
	b->map = m;
	b->cap = ncap;
	return 0;
}

/* Makes room for need more bytes and a NUL. */
static inline int
builder_reserve(struct builder *b, size_t need)
{
	if (b->len + need + 1 <= b->cap)
		return 0;
	return builder_grow(b, need);
}

static inline void
put_byte(struct builder *b, char c, uint32_t start, uint32_t end)
{
	b->text[b->len]      = c;
	b->map[b->len].start = start;
	b->map[b->len].end   = end;
	b->len++;
}

static inline void
pend_space(struct builder *b, uint32_t start, uint32_t end)
{
	if (!b->space) {
		b->space       = true;
		b->space_start = start;
	}
	b->space_end = end;
}

/* Writes the pending space before a non-space byte; none at the start.
 * The caller has reserved room for it. */
static inline void
flush_space(struct builder *b)
{
	if (!b->space)
		return;
	if (b->len > 0)
		put_byte(b, ' ', b->space_start, b->space_end);
	b->space = false;
}

/* Writes folded bytes in which U+0020 stands for white space. */
static inline void
put_folded(
    struct builder *b, const char *s, size_t n, uint32_t start, uint32_t end)
{
	size_t k;

	for (k = 0; k < n; k++) {
		if (s[k] == ' ') {
			pend_space(b, start, end);
			continue;
		}
		flush_space(b);
		put_byte(b, s[k], start, end);
	}
}

static inline void
seg_begin(struct seg_mark *seg, const struct builder *b, size_t src)
{
	seg->src         = src;
	seg->out_len     = b->len;
	seg->space       = b->space;
	seg->space_start = b->space_start;
	seg->space_end   = b->space_end;
}

static void
seg_undo(const struct seg_mark *seg, struct builder *b)
{
	b->len         = seg->out_len;
	b->space       = seg->space;
	b->space_start = seg->space_start;
	b->space_end   = seg->space_end;
}

/* ------------------------------------------------------------ folding */

/* Table entry of any code point; one outside the table gets only the
 * flags, and FOLD_COMPUTE. */
static inline uint32_t
cp_entry(UChar32 c)
{
	int32_t k = table_index(c);

	return k >= 0 ? fold_table[k] : fold_flags(c) | FOLD_COMPUTE;
}

/* The folding of c, whose entry is e, into buf (FOLD_LEN_MAX + 4 bytes);
 * returns its length, or -1. */
static int
fold_bytes(UChar32 c, uint32_t e, char *buf)
{
	int32_t n = 0;

	if (e & FOLD_DROP)
		return 0;
	if (e & FOLD_IDENTITY) {
		U8_APPEND_UNSAFE(buf, n, c);
		return n;
	}
	if (e & FOLD_COMPUTE)
		return fold_one(c, buf);
	n = (int32_t)((e >> FOLD_LEN_SHIFT) & FOLD_LEN_MAX);
	memcpy(buf, fold_pool + (e & FOLD_OFF_MASK), (size_t)n);
	return n;
}

/* Finds where the segment that the joining character at pos extends
 * ends: after the last joining character before one with a boundary
 * before it (format characters in between are skipped, trailing ones
 * are left to the caller), or after SEG_MAX_JOINING of them. Returns -1
 * on malformed UTF-8. */
static int
seg_find_end(const unsigned char *s, size_t len, size_t pos, size_t *end)
{
	size_t   i = pos, n, last, joining = 1;
	uint32_t e;
	UChar32  c;

	if ((n = utf8_decode(s, len, i, &c)) == 0)
		return -1;
	last = i += n;
	while (i < len && joining < SEG_MAX_JOINING) {
		if ((n = utf8_decode(s, len, i, &c)) == 0)
			return -1;
		e = cp_entry(c);
		if (!(e & (FOLD_JOINS | FOLD_DROP)))
			break;
		i += n;
		if (!(e & FOLD_DROP)) {
			last = i;
			joining++;
		}
	}
	*end = last;
	return 0;
}

/* UTF-16 of [start, end) without format characters. in has room for
 * end - start units (UTF-16 is never longer than UTF-8). */
static int32_t
seg_to_utf16(const unsigned char *s, size_t start, size_t end, UChar *in)
{
	int32_t n = 0;
	size_t  i = start;
	UChar32 c;

	while (i < end) {
		i += utf8_decode(s, end, i, &c);
		if (u_charType(c) != U_FORMAT_CHAR)
			U16_APPEND_UNSAFE(in, n, c);
	}
	return n;
}

/* Writes one character of a segment's NFKC_Casefold output with letter
 * folding: the table holds it for a BMP one (folding a folded character
 * again changes nothing but its letters). */
static int
seg_put_char(struct builder *b, UChar32 d, uint32_t start, uint32_t end)
{
	char buf[FOLD_LEN_MAX + 4];
	int  k;

	if ((k = fold_bytes(d, cp_entry(d), buf)) < 0 ||
	    builder_reserve(b, (size_t)k + 1) != 0)
		return -1;
	put_folded(b, buf, (size_t)k, start, end);
	return 0;
}

/* Writes a segment's output; nonspacing marks that follow a Latin or
 * Cyrillic letter (here, or before the cut the segment begins at) are
 * dropped. */
static int
seg_emit(struct builder *b, struct seg_mark *seg, const UChar *out, int32_t n,
    uint32_t start, uint32_t end)
{
	int32_t i     = 0;
	bool    strip = seg->src == seg->cut && seg->cut_strip;

	while (i < n) {
		UChar32 d;
		int8_t  type;

		U16_NEXT(out, i, n, d);
		type = u_charType(d);
		if (type == U_FORMAT_CHAR)
			continue;
		if (type == U_NON_SPACING_MARK && strip)
			continue;
		strip = is_latin_cyrillic_letter(d);
		if (u_isUWhiteSpace(d)) {
			pend_space(b, start, end);
			continue;
		}
		if (seg_put_char(b, d, start, end) != 0)
			return -1;
	}
	seg->cut_strip = strip;
	return 0;
}

/* Normalizes the segment that begins at seg->src and takes in the
 * joining character at *pos, replacing what the segment wrote so far.
 * Advances *pos past the segment. */
static int
norm_segment(struct builder *b, const unsigned char *s, size_t len,
    struct seg_mark *seg, size_t *pos)
{
	UChar   in_buf[128], out_buf[256], *in = in_buf, *out = out_buf;
	int32_t n_in, n_out,
	    out_cap     = (int32_t)(sizeof(out_buf) / sizeof(out_buf[0]));
	UErrorCode uerr = U_ZERO_ERROR;
	size_t     end;
	int        rc = -1;

	if (seg_find_end(s, len, *pos, &end) != 0)
		return -1;
	if (end - seg->src > sizeof(in_buf) / sizeof(in_buf[0]) &&
	    (in = malloc((end - seg->src) * sizeof(*in))) == NULL)
		goto out;
	n_in  = seg_to_utf16(s, seg->src, end, in);
	n_out = unorm2_normalize(nfkc_cf, in, n_in, out, out_cap, &uerr);
	if (uerr == U_BUFFER_OVERFLOW_ERROR) {
		if ((out = malloc((size_t)n_out * sizeof(*out))) == NULL)
			goto out;
		uerr  = U_ZERO_ERROR;
		n_out = unorm2_normalize(nfkc_cf, in, n_in, out, n_out, &uerr);
	}
	if (U_FAILURE(uerr)) {
		log_err(
		    "text: ICU normalization failed: %s", u_errorName(uerr));
		goto out;
	}
	seg_undo(seg, b);
	if (seg_emit(b, seg, out, n_out, (uint32_t)seg->src, (uint32_t)end) !=
	    0)
		goto out;
	/* What joins after a cut run starts a segment of its own, which
	 * still belongs to the same letter. */
	seg_begin(seg, b, end);
	seg->cut = end;
	*pos     = end;
	rc       = 0;
out:
	if (in != in_buf)
		free(in);
	if (out != out_buf)
		free(out);
	return rc;
}

/* Folds one non-ASCII character at *pos that has a boundary before it,
 * or hands a joining one to norm_segment. */
static int
norm_char(struct builder *b, const unsigned char *s, size_t len,
    struct seg_mark *seg, size_t *pos)
{
	size_t   i = *pos, n;
	uint32_t e, start, end;
	UChar32  c;
	char     buf[FOLD_LEN_MAX + 4];
	int      m;

	if ((n = utf8_decode(s, len, i, &c)) == 0)
		return -1;
	e = cp_entry(c);
	if (e & FOLD_DROP) {
		*pos = i + n; /* leaves the segment open across it */
		return 0;
	}
	if (e & FOLD_JOINS)
		return norm_segment(b, s, len, seg, pos);
	seg_begin(seg, b, i);
	start = (uint32_t)i;
	end   = (uint32_t)(i + n);
	*pos  = i + n;
	if (e & FOLD_IDENTITY) {
		if (builder_reserve(b, n + 1) != 0)
			return -1;
		flush_space(b);
		while (i < *pos)
			put_byte(b, (char)s[i++], start, end);
		return 0;
	}
	if (!(e & FOLD_COMPUTE)) {
		size_t flen = (e >> FOLD_LEN_SHIFT) & FOLD_LEN_MAX;

		if (builder_reserve(b, flen + 1) != 0)
			return -1;
		put_folded(
		    b, fold_pool + (e & FOLD_OFF_MASK), flen, start, end);
		return 0;
	}
	if ((m = fold_one(c, buf)) < 0 ||
	    builder_reserve(b, (size_t)m + 1) != 0)
		return -1;
	put_folded(b, buf, (size_t)m, start, end);
	return 0;
}

static int
norm_run(struct builder *b, const unsigned char *s, size_t len)
{
	struct seg_mark seg = {.cut = SIZE_MAX};
	size_t          i   = 0;

	seg_begin(&seg, b, 0);
	while (i < len) {
		unsigned char c = s[i];

		if (c >= 0x80) {
			if (norm_char(b, s, len, &seg, &i) != 0)
				return -1;
			continue;
		}
		seg_begin(&seg, b, i);
		if (builder_reserve(b, 2) != 0)
			return -1;
		c = ascii_fold[c];
		if (c == ' ')
			pend_space(b, (uint32_t)i, (uint32_t)i + 1);
		else {
			flush_space(b);
			put_byte(b, (char)c, (uint32_t)i, (uint32_t)i + 1);
		}
		i++;
	}
	return 0;
}

/* ------------------------------------------------------------ words */

/* Decodes one code point of the folded text, which is well-formed. */
static inline UChar32
next_cp(const unsigned char *s, size_t i, size_t *len)
{
	unsigned char b = s[i];

	if (b < 0x80) {
		*len = 1;
		return b;
	}
	if (b < 0xe0) {
		*len = 2;
		return (UChar32)(b & 0x1f) << 6 | (s[i + 1] & 0x3f);
	}
	if (b < 0xf0) {
		*len = 3;
		return (UChar32)(b & 0x0f) << 12 |
		    (UChar32)(s[i + 1] & 0x3f) << 6 | (s[i + 2] & 0x3f);
	}
	*len = 4;
	return (UChar32)(b & 0x07) << 18 | (UChar32)(s[i + 1] & 0x3f) << 12 |
	    (UChar32)(s[i + 2] & 0x3f) << 6 | (s[i + 3] & 0x3f);
}

/* The code point at byte i of the folded text and its letter class. */
static inline struct letter
letter_at(const unsigned char *in, size_t i)
{
	struct letter l;

	if (in[i] < 0x80) {
		l.c   = in[i];
		l.len = 1;
		l.cls = letter_class[in[i]];
		return l;
	}
	l.c = next_cp(in, i, &l.len);
	l.cls =
	    l.c < (UChar32)BMP_SIZE ? letter_class[l.c] : class_of_slow(l.c);
	return l;
}

/* A result with room for cap bytes, holding none yet. */
static vigil_norm *
norm_new(size_t cap)
{
	vigil_norm *n;

	if (cap == 0 ||
	    cap > (SIZE_MAX - sizeof(*n) - 1) / (sizeof(*n->map) + 2))
		return NULL;
	if ((n = malloc(sizeof(*n) + cap * (sizeof(*n->map) + 2) + 1)) == NULL)
		return NULL;
	n->map  = (struct span *)(void *)(n + 1);
	n->runs = (uint8_t *)(n->map + cap);
	n->text = (char *)(n->runs + cap);
	n->len  = 0;
	n->cap  = cap;
	return n;
}

/* Moves what was written to a larger result when need bytes do not fit
 * (a Latin letter becomes two bytes of Cyrillic). */
static int
words_reserve(struct words *w, size_t need)
{
	vigil_norm *n;

	if (need <= w->res->cap)
		return 0;
	if ((n = norm_new(need > 2 * w->res->cap ? need : 2 * w->res->cap)) ==
	    NULL)
		return -1;
	memcpy(n->map, w->omap, w->len * sizeof(*w->omap));
	memcpy(n->runs, w->oruns, w->len);
	memcpy(n->text, w->out, w->len);
	free(w->res);
	w->res   = n;
	w->out   = n->text;
	w->omap  = n->map;
	w->oruns = n->runs;
	return 0;
}

/* Copies [from, to) of the folded text as it is. */
static inline void
out_bulk(struct words *w, size_t from, size_t to)
{
	if (to <= from)
		return;
	memcpy(w->out + w->len, w->in + from, to - from);
	memcpy(
	    w->omap + w->len, w->imap + from, (to - from) * sizeof(*w->omap));
	memset(w->oruns + w->len, 1, to - from);
	w->len += to - from;
}

/* Widens the n output bytes at o to where a letter squeezed into them
 * ended, and counts it in their run. */
static inline void
out_widen(struct words *w, size_t o, size_t n, uint32_t end)
{
	size_t k;

	for (k = o; k < o + n; k++) {
		w->omap[k].end = end;
		if (w->oruns[k] < UINT8_MAX)
			w->oruns[k]++;
	}
}

/* True when the space at i stands for two or more white-space characters
 * of the original: between spaced-out letters that marks a word break
 * ("Г О Л О С У Й  З А"), which collapsing would otherwise hide. */
static bool
wide_space(const struct words *w, size_t i)
{
	size_t  k = w->imap[i].start, end = w->imap[i].end, n;
	int     spaces = 0;
	UChar32 c;

	if (end > w->orig_len)
		return false;
	while (k < end) {
		if ((n = utf8_decode(w->orig, end, k, &c)) == 0)
			return false;
		if (u_isUWhiteSpace(c) && ++spaces > 1)
			return true;
		k += n;
	}
	return false;
}

/* The length of a separator at i that may space letters out, or 0. */
static size_t
sep_at(const struct words *w, size_t i)
{
	if (i >= w->n)
		return 0;
	switch (w->in[i]) {
	case ' ': return wide_space(w, i) ? 0 : 1;
	case '.':
	case '-':
	case '_':
	case '*': return 1;
	case 0xc2: /* U+00B7 middle dot */
		return i + 1 < w->n && w->in[i + 1] == 0xb7 ? 2 : 0;
	default: return 0;
	}
}

/* The end of the word at i when it is one letter, once or repeated
 * ("о", "оо": the same after squeezing), or i when it is not. */
static size_t
one_letter_word(const struct words *w, size_t i)
{
	struct letter first, l;
	size_t        j;

	if (i >= w->n || (first = letter_at(w->in, i)).cls == LC_NONE)
		return i;
	for (j = i + first.len; j < w->n; j += l.len) {
		if ((l = letter_at(w->in, j)).cls == LC_NONE)
			break;
		if (l.c != first.c)
			return i;
	}
	return j;
}

/* The end of the run of spaced-out one-letter words that begins with the
 * one at [start, end): three or more (or two between wide spaces), one
 * separator between each two, the same one all through. Returns start
 * when there is no such run. */
static size_t
spaced_run(const struct words *w, size_t start, size_t end)
{
	size_t slen = sep_at(w, end), count = 1, i = end, next;

	if (slen == 0)
		return start;
	while (sep_at(w, i) == slen &&
	    memcmp(w->in + i, w->in + end, slen) == 0 &&
	    (next = one_letter_word(w, i + slen)) != i + slen) {
		i = next;
		count++;
	}
	if (count >= 3)
		return i;
	/* Two letters join only where the text breaks words with wider
	 * spaces on both sides ("Г О Л О С У Й  З А  А Д А Л"). */
	if (count == 2 && start > 0 && wide_space(w, start - 1) && i < w->n &&
	    w->in[i] == ' ' && wide_space(w, i))
		return i;
	return start;
}

/* The script that a unit (a word, or a run of spaced-out letters, whose
 * separators are all it has that are not letters) of both Latin and
 * Cyrillic letters is brought to: the one that every letter of the other
 * has a look-alike in; the one with more letters when both qualify,
 * Cyrillic on a tie. LC_NONE leaves the unit alone. */
static uint8_t
unit_target(const struct words *w, size_t start, size_t end)
{
	size_t        n_lat = 0, n_cyr = 0, i = start;
	bool          to_cyr = true, to_lat = true;
	struct letter l;

	while (i < end) {
		l = letter_at(w->in, i);
		if (l.cls == LC_LATIN) {
			n_lat++;
			to_cyr = to_cyr && alike_find(l.c) != NULL;
		} else if (l.cls == LC_CYRILLIC) {
			n_cyr++;
			to_lat = to_lat && alike_find(l.c) != NULL;
		}
		i += l.len;
	}
	if (n_lat == 0 || n_cyr == 0)
		return LC_NONE;
	if (to_cyr && to_lat)
		return n_lat > n_cyr ? LC_LATIN : LC_CYRILLIC;
	if (to_cyr)
		return LC_CYRILLIC;
	return to_lat ? LC_LATIN : LC_NONE;
}

/* True when the original character behind folded byte i is uppercase. */
static bool
orig_upper(const struct words *w, size_t i)
{
	UChar32 c;

	if (utf8_decode(w->orig, w->orig_len, w->imap[i].start, &c) == 0)
		return false;
	return u_isupper(c) || u_istitle(c);
}

/* The letter that the one at i becomes in a unit of script target. */
static UChar32
unit_letter(
    const struct words *w, size_t i, const struct letter *l, uint8_t target)
{
	const struct alike *a;

	if (target == LC_NONE || l->cls == target ||
	    (l->cls != LC_LATIN && l->cls != LC_CYRILLIC))
		return l->c;
	if ((a = alike_find(l->c)) == NULL)
		return l->c; /* unit_target saw to it that there is one */
	return a->to[orig_upper(w, i)];
}

/* Writes a unit brought to script target, with runs of one letter
 * squeezed. Each letter maps to its original, a squeezed run to all of
 * its originals; separators between spaced-out letters are dropped. The
 * caller has made room for it. */
static void
unit_emit(struct words *w, size_t start, size_t end, uint8_t target)
{
	size_t        i = start, prev_o = 0, prev_n = 0, k;
	UChar32       prev = -1, c;
	struct letter l;

	while (i < end) {
		uint32_t span_end;

		if ((l = letter_at(w->in, i)).cls == LC_NONE) {
			i += l.len; /* a separator */
			continue;
		}
		c        = unit_letter(w, i, &l, target);
		span_end = w->imap[i + l.len - 1].end;
		if (c == prev)
			out_widen(w, prev_o, prev_n, span_end);
		else {
			char   *o = w->out + w->len;
			int32_t n = 0;

			U8_APPEND_UNSAFE(o, n, c);
			for (k = 0; k < (size_t)n; k++) {
				w->omap[w->len + k].start = w->imap[i].start;
				w->omap[w->len + k].end   = span_end;
				w->oruns[w->len + k]      = 1;
			}
			prev   = c;
			prev_o = w->len;
			prev_n = (size_t)n;
			w->len += (size_t)n;
		}
		i += l.len;
	}
}

/* Rewrites the unit [start, end) with unit_emit, after copying what
 * precedes it as it is. */
static int
unit_put(struct words *w, size_t *clean, size_t start, size_t end)
{
	uint8_t target;

	out_bulk(w, *clean, start);
	target = unit_target(w, start, end);
	/* Only Cyrillic for Latin makes a unit longer, at most twice. */
	if (target == LC_CYRILLIC &&
	    words_reserve(w, w->len + 2 * (end - start) + (w->n - end)) != 0)
		return -1;
	unit_emit(w, start, end, target);
	*clean = end;
	return 0;
}

/* The letter class of the character at in[i], its length, and a key
 * that tells characters apart: its bytes. U+0400..U+047F (lead bytes D0
 * and D1) are all Cyrillic letters, which text_init checks. */
static inline uint8_t
char_at(const unsigned char *in, size_t i, size_t *len, uint32_t *key)
{
	unsigned char b = in[i];
	UChar32       c;

	if (b < 0x80) {
		*len = 1;
		*key = b;
		return letter_class[b];
	}
	if (b < 0xe0) {
		*len = 2;
		*key = (uint32_t)b << 8 | in[i + 1];
		if (b == 0xd0 || b == 0xd1)
			return LC_CYRILLIC;
		return letter_class[(b & 0x1f) << 6 | (in[i + 1] & 0x3f)];
	}
	c    = next_cp(in, i, len);
	*key = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
	if (*len == 4)
		*key = *key << 8 | in[i + 3];
	return c < (UChar32)BMP_SIZE ? letter_class[c] : class_of_slow(c);
}

/* Squeezes the letter at [i, i + len) into the one before it, which is
 * the last prev_len bytes written once what precedes i is copied. */
static inline void
squeeze(struct words *w, size_t *clean, size_t i, size_t len, size_t prev_len)
{
	out_bulk(w, *clean, i);
	out_widen(w, w->len - prev_len, prev_len, w->imap[i + len - 1].end);
	*clean = i + len;
}

/* Copies the folded text, stretches that need no change at once, and
 * squeezes doubled letters on the way; a word with letters of both
 * scripts, and a run of spaced-out letters, are rewritten by unit_put.
 * The caller has made room for as many bytes as the folded text has.
 * This is the hot path of the pass: one look at each character. */
static int
words_run(struct words *w)
{
	const unsigned char *in = w->in;
	const size_t         n  = w->n;
	size_t   i = 0, clean = 0, start, len, prev_len, word_out, end;
	uint32_t key, prev;
	unsigned scripts, changes;
	uint8_t  cls;

	while (i < n) {
		if ((cls = char_at(in, i, &len, &key)) == LC_NONE) {
			i += len;
			continue;
		}
		start    = i;
		scripts  = 1u << cls;
		changes  = 0;
		word_out = w->len + (start - clean);
		for (i += len; i < n; i += len) {
			prev     = key;
			prev_len = len;
			if ((cls = char_at(in, i, &len, &key)) == LC_NONE)
				break;
			scripts |= 1u << cls;
			if (key == prev)
				squeeze(w, &clean, i, len, prev_len);
			else
				changes++;
		}
		end = changes == 0 ? spaced_run(w, start, i) : start;
		if (end == start) {
			if ((scripts & LC_MIXED) != LC_MIXED)
				continue;
			end = i;
		}
		if (clean > start) {
			/* Squeezed already: write the word anew. */
			w->len = word_out;
			clean  = start;
		}
		if (unit_put(w, &clean, start, end) != 0)
			return -1;
		i = end;
	}
	out_bulk(w, clean, n);
	return 0;
}

/* ------------------------------------------------------------ results */

/* The first pass, into the calling thread's scratch buffers. */
static int
fold_pass(struct scratch *sc, const char *str, size_t len, struct builder *b)
{
	int rc;

	b->text  = sc->text;
	b->map   = sc->map;
	b->cap   = sc->cap;
	rc       = builder_reserve(b, len + len / 8 + 16);
	rc       = rc == 0 ? norm_run(b, (const unsigned char *)str, len) : rc;
	sc->text = b->text; /* builder_reserve may have moved them */
	sc->map  = b->map;
	sc->cap  = b->cap;
	return rc;
}

/* The second pass, into a new result. */
static vigil_norm *
words_pass(const struct builder *b, const char *str, size_t len)
{
	struct words w = {
	    .in       = (const unsigned char *)b->text,
	    .imap     = b->map,
	    .n        = b->len,
	    .orig     = (const unsigned char *)str,
	    .orig_len = len,
	};

	if ((w.res = norm_new(b->len + 1)) == NULL)
		return NULL;
	w.out   = w.res->text;
	w.omap  = w.res->map;
	w.oruns = w.res->runs;
	if (words_run(&w) != 0) {
		free(w.res);
		return NULL;
	}
	w.res->len         = w.len;
	w.res->text[w.len] = '\0';
	return w.res;
}

vigil_norm *
text_normalize(const char *str, size_t len)
{
	struct scratch *sc;
	struct builder  b = {0};
	vigil_norm     *n = NULL;

	if (fold_table == NULL || (str == NULL && len > 0) || len >= UINT32_MAX)
		return NULL;
	if ((sc = scratch_get()) == NULL)
		return NULL;
	if (fold_pass(sc, str, len, &b) == 0)
		n = words_pass(&b, str, len);
	scratch_trim(sc);
	return n;
}

void
text_norm_free(vigil_norm *n)
{
	free(n);
}

const char *
text_norm_text(const vigil_norm *n, size_t *len)
{
	if (len != NULL)
		*len = n->len;
	return n->text;
}

const uint8_t *
text_norm_runs(const vigil_norm *n)
{
	return n->runs;
}

void
text_norm_to_orig(const vigil_norm *n, size_t start, size_t end,
    size_t *orig_start, size_t *orig_end)
{
	size_t os, oe;

	if (end > n->len)
		end = n->len;
	if (start > end)
		start = end;
	if (start < end) {
		os = n->map[start].start;
		oe = n->map[end - 1].end;
	} else if (start < n->len)
		os = oe = n->map[start].start;
	else if (n->len > 0)
		os = oe = n->map[n->len - 1].end;
	else
		os = oe = 0;
	*orig_start = os;
	*orig_end   = oe;
}

/* ------------------------------------------------------------ regexes */

static bool
ascii_letter(unsigned char b)
{
	return (b | 0x20) >= 'a' && (b | 0x20) <= 'z';
}

static bool
ascii_alnum(unsigned char b)
{
	return (b >= '0' && b <= '9') || ascii_letter(b);
}

/* A folded regex source being measured (out NULL) or written. */
struct regex_out {
	char   *out;
	size_t  len;
	UChar32 last; /* the letter written last by a folding, or -1 */
};

static void
regex_put(struct regex_out *r, char c)
{
	if (r->out != NULL)
		r->out[r->len] = c;
	r->len++;
}

/* Writes a folding: ASCII punctuation escaped, so that it stays literal;
 * a letter that repeats the one before it left out, as the text has it
 * squeezed ("ß" is "s", "Сс" "с"). */
static void
regex_put_folding(struct regex_out *r, const char *f, size_t n)
{
	const unsigned char *u = (const unsigned char *)f;
	size_t               k = 0, len, j;
	UChar32              c;

	while (k < n) {
		c = next_cp(u, k, &len);
		if ((c < (UChar32)BMP_SIZE ? letter_class[c]
		                           : class_of_slow(c)) == LC_NONE)
			r->last = -1;
		else if (c == r->last) {
			k += len;
			continue;
		} else
			r->last = c;
		if (len == 1 && !ascii_alnum(u[k]))
			regex_put(r, '\\');
		for (j = 0; j < len; j++)
			regex_put(r, f[k + j]);
		k += len;
	}
}

/* Folds a regex source into r; returns -1 when a character cannot be
 * folded. A backslash before a character that is not ASCII only made it
 * literal, which its folding stays: the backslash goes. Marks after a
 * Latin or Cyrillic letter go, as in the text. */
static int
regex_fold(const unsigned char *s, size_t len, struct regex_out *r)
{
	size_t  i = 0, backslashes = 0;
	bool    strip = false;
	char    f[FOLD_LEN_MAX + 4];
	int     m;
	UChar32 c = 0;

	r->len  = 0;
	r->last = -1;
	while (i < len) {
		i += utf8_decode(s, len, i, &c);
		if (c < 0x80) {
			regex_put(r, (char)c);
			backslashes = c == '\\' ? backslashes + 1 : 0;
			strip       = ascii_letter((unsigned char)c);
			r->last     = -1;
			continue;
		}
		if (strip && u_charType(c) == U_NON_SPACING_MARK)
			continue;
		strip = is_latin_cyrillic_letter(c);
		if (backslashes % 2 == 1)
			r->len--;
		backslashes = 0;
		if ((m = fold_bytes(c, cp_entry(c), f)) < 0)
			return -1;
		regex_put_folding(r, f, (size_t)m);
	}
	return 0;
}

char *
text_fold_regex(const char *src, size_t len)
{
	struct regex_out r = {0};

	if (fold_table == NULL || (src == NULL && len > 0) ||
	    !text_utf8_valid(src, len))
		return NULL;
	if (regex_fold((const unsigned char *)src, len, &r) != 0 ||
	    (r.out = malloc(r.len + 1)) == NULL)
		return NULL;
	if (regex_fold((const unsigned char *)src, len, &r) != 0) {
		free(r.out);
		return NULL;
	}
	r.out[r.len] = '\0';
	return r.out;
}
