/*
 * text_norm.c - normalization of post text for matching, with a map from
 * every normalized byte back to the original bytes it came from.
 *
 * ICU's C API normalizes whole strings and gives no offset map, so the
 * work is split at normalization boundaries. A character that has a
 * boundary before it cannot interact with what precedes it; most text is
 * such characters, and each one is folded by a table built at text_init
 * from ICU's NFKC_Casefold of that character alone. A character with no
 * boundary before it (a combining mark, a Hangul vowel) joins the
 * preceding ones into a segment that ICU normalizes as a unit, and all of
 * the segment's output maps to the segment's whole original range.
 *
 * Format characters (Cf) are dropped before folding, so that an invisible
 * character cannot split a letter from its combining mark. White space
 * (after folding, so U+00A0 and U+3000 count) collapses to one U+0020.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include "log.h"
#include "text.h"

/* One table entry per BMP code point: how it folds on its own. */
#define FOLD_OFF_MASK  0x003fffffu /* offset of the folding in fold_pool */
#define FOLD_LEN_SHIFT 22          /* bytes of the folding, 0..63 */
#define FOLD_LEN_MAX   63u
#define FOLD_IDENTITY  (1u << 28) /* folds to itself */
#define FOLD_DROP      (1u << 29) /* format character: removed */
#define FOLD_JOINS     (1u << 30) /* no boundary before: joins a segment */

#define BMP_SIZE 0x10000u

/* ICU reorders combining marks by insertion, quadratic in their number:
 * like Unicode's Stream-Safe Text Format (UAX #15), a run of more joining
 * characters than this is cut, and the rest starts a new segment. No real
 * text comes near it. */
#define SEG_MAX_JOINING 30u

/* Written once by text_init, before any other thread uses them; read-only
 * afterwards, so no lock. */
static const UNormalizer2 *nfkc_cf;
static uint32_t           *fold_table;
static char               *fold_pool;
static unsigned char       ascii_fold[128];

struct span {
	uint32_t start;
	uint32_t end;
};

struct vigil_norm {
	char        *text; /* NUL-terminated */
	size_t       len;
	struct span *map; /* one per byte of text */
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
 * that joins it turns up. */
struct seg_mark {
	size_t   src;
	size_t   out_len;
	bool     space;
	uint32_t space_start;
	uint32_t space_end;
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

/* ------------------------------------------------------------ tables */

/* Folds one code point on its own: NFKC_Casefold, format characters
 * dropped, white space written as U+0020. Returns the UTF-8 length in
 * out (at least FOLD_LEN_MAX + 4 bytes), or -1 when it does not fit. */
static int
fold_one(UChar32 c, char *out)
{
	UChar      src[2], dst[64];
	int32_t    n = 0, m, i = 0, len = 0;
	UErrorCode uerr = U_ZERO_ERROR;

	U16_APPEND_UNSAFE(src, n, c);
	m = unorm2_normalize(nfkc_cf, src, n, dst,
	    (int32_t)(sizeof(dst) / sizeof(dst[0])), &uerr);
	if (U_FAILURE(uerr))
		return -1;
	while (i < m) {
		UChar32 d;

		U16_NEXT(dst, i, m, d);
		if (u_charType(d) == U_FORMAT_CHAR)
			continue;
		if (len + 4 > (int)FOLD_LEN_MAX)
			return -1;
		if (u_isUWhiteSpace(d))
			out[len++] = ' ';
		else
			U8_APPEND_UNSAFE(out, len, d);
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

/* The table entry of one BMP code point, or of a supplementary one when
 * the caller folds it with fold_one. */
static uint32_t
fold_flags(UChar32 c)
{
	uint32_t e = 0;

	if (!unorm2_hasBoundaryBefore(nfkc_cf, c))
		e |= FOLD_JOINS;
	if (u_charType(c) == U_FORMAT_CHAR)
		return e | FOLD_DROP;
	if (!u_isUWhiteSpace(c) &&
	    !u_hasBinaryProperty(c, UCHAR_CHANGES_WHEN_NFKC_CASEFOLDED))
		e |= FOLD_IDENTITY;
	return e;
}

static int
build_tables(void)
{
	char     *pool     = NULL, buf[FOLD_LEN_MAX + 4];
	size_t    pool_len = 0, pool_cap = 0;
	uint32_t *table;
	UChar32   c;

	if ((table = calloc(BMP_SIZE, sizeof(*table))) == NULL)
		goto fail;
	for (c = 0; c < (UChar32)BMP_SIZE; c++) {
		uint32_t e, slot = 0;
		int      n;

		if (U_IS_SURROGATE(c))
			continue; /* never decoded from valid UTF-8 */
		e = fold_flags(c);
		if (e & (FOLD_DROP | FOLD_IDENTITY)) {
			table[c] = e;
			continue;
		}
		if ((n = fold_one(c, buf)) < 0) {
			log_err("text: cannot fold U+%04X", (unsigned)c);
			goto fail;
		}
		if (pool_add(&pool, &pool_len, &pool_cap, buf, (size_t)n,
		        &slot) != 0)
			goto fail;
		table[c] = e | slot;
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

int
text_init(void)
{
	UErrorCode uerr = U_ZERO_ERROR;

	if (fold_table != NULL)
		return 0;
	nfkc_cf = unorm2_getNFKCCasefoldInstance(&uerr);
	if (U_FAILURE(uerr)) {
		log_err("text: ICU NFKC_Casefold unavailable: %s",
		    u_errorName(uerr));
		nfkc_cf = NULL;
		return -1;
	}
	if (build_tables() != 0) {
		log_err("text: cannot build the folding tables");
		return -1;
	}
	return 0;
}

void
text_fini(void)
{
	free(fold_table);
	free(fold_pool);
	fold_table = NULL;
	fold_pool  = NULL;
	nfkc_cf    = NULL; /* owned by ICU */
}

/* ------------------------------------------------------------ output */

static int
builder_reserve(struct builder *b, size_t need)
{
	size_t       ncap;
	char        *t;
	struct span *m;

	if (b->len + need + 1 <= b->cap)
		return 0;
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

/* Table entry of any code point; a supplementary one gets only the
 * flags, and norm_char folds it with fold_one. */
static inline uint32_t
cp_entry(UChar32 c)
{
	if (c < (UChar32)BMP_SIZE)
		return fold_table[c];
	return fold_flags(c);
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

static int
seg_emit(struct builder *b, const UChar *out, int32_t n, uint32_t start,
    uint32_t end)
{
	int32_t i = 0;

	while (i < n) {
		char    buf[4];
		int32_t k = 0;
		UChar32 d;

		U16_NEXT(out, i, n, d);
		if (u_charType(d) == U_FORMAT_CHAR)
			continue;
		if (u_isUWhiteSpace(d)) {
			pend_space(b, start, end);
			continue;
		}
		if (builder_reserve(b, 5) != 0)
			return -1;
		U8_APPEND_UNSAFE(buf, k, d);
		put_folded(b, buf, (size_t)k, start, end);
	}
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
	if (seg_emit(b, out, n_out, (uint32_t)seg->src, (uint32_t)end) != 0)
		goto out;
	/* What joins after a cut run starts a segment of its own. */
	seg_begin(seg, b, end);
	*pos = end;
	rc   = 0;
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
	if (c < (UChar32)BMP_SIZE) {
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
	struct seg_mark seg;
	size_t          i = 0;

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

vigil_norm *
text_normalize(const char *str, size_t len)
{
	struct builder b = {0};
	vigil_norm    *n = NULL;

	if (fold_table == NULL || (str == NULL && len > 0) || len >= UINT32_MAX)
		return NULL;
	b.cap = len + len / 8 + 16;
	if ((b.text = malloc(b.cap)) == NULL ||
	    (b.map = malloc(b.cap * sizeof(*b.map))) == NULL)
		goto fail;
	if (norm_run(&b, (const unsigned char *)str, len) != 0)
		goto fail;
	if ((n = malloc(sizeof(*n))) == NULL)
		goto fail;
	b.text[b.len] = '\0';
	n->text       = b.text;
	n->len        = b.len;
	n->map        = b.map;
	return n;
fail:
	free(b.text);
	free(b.map);
	return NULL;
}

void
text_norm_free(vigil_norm *n)
{
	if (n == NULL)
		return;
	free(n->text);
	free(n->map);
	free(n);
}

const char *
text_norm_text(const vigil_norm *n, size_t *len)
{
	if (len != NULL)
		*len = n->len;
	return n->text;
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
