/*
 * text_match.c - multi-pattern matching over normalized text.
 *
 * All patterns of a matcher go into one Hyperscan block-mode database,
 * compiled with leftmost start of match. A regex Hyperscan cannot take
 * (a backreference, a lookaround) is compiled in prefilter mode instead,
 * and each pattern that the prefilter reports is confirmed by running
 * PCRE2 over the text, so that what is reported is exact. Regex sources
 * are folded like the text first (text_fold_regex). Word edges are
 * checked here, with ICU properties, because Hyperscan's \b knows only
 * ASCII words. So are the doubled letters of a literal: the text has
 * them squeezed ("pool" and "poll" are both "pol"), so each literal keeps
 * the runs it was written with, and a match counts only where the text's
 * runs are at least as long (text_norm_runs).
 *
 * Hyperscan reports every end of a match (for "а+" over "ааа": three),
 * in no guaranteed order, and may repeat one; a scan collects them, sorts
 * them by end, drops repeats and only then calls the caller back. A
 * prefiltered pattern reports PCRE2's matches instead: leftmost, longest
 * by PCRE's rules, not overlapping.
 *
 * Scanning needs a Hyperscan scratch per concurrent scan. A matcher owns a
 * pool of scan slots (scratch plus buffers); a slot is taken with an
 * atomic flag and given back after the scan. Each thread remembers which
 * slot it used last for a few matchers, so the usual scan takes its own
 * slot without a lock; the lock is taken only to find or add a slot. A
 * scan from inside a scan's callback simply takes a second slot. Slots
 * live as long as their matcher, which must not be freed while any
 * thread scans it.
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include "log.h"
#include "text.h"

/* Bounds the work PCRE2 may do confirming one pattern on one text. */
#define CONFIRM_MATCH_LIMIT 1000000u
/* Slots whose match buffer grew beyond this give it back after a scan. */
#define HITS_KEEP 4096u
/* Matchers a thread remembers its slot for. */
#define HINTS 4u

/* A letter of a literal that was written more than once ("ll" in
 * "poll"): its offset in the normalized literal and its run. */
struct run_need {
	uint32_t off;
	uint32_t run;
};

struct pattern {
	unsigned         id;
	unsigned         flags; /* VIGIL_PAT_* */
	struct run_need *need;  /* literals: their doubled letters */
	size_t           n_need;
	pcre2_code      *confirm;  /* set when prefiltered */
	unsigned         pf_index; /* its place among the prefiltered ones */
	char            *label;    /* where, or "pattern N", for log lines */
};

struct hit {
	size_t   start;
	size_t   end;
	unsigned idx;
};

struct scan_slot {
	struct scan_slot *next; /* in the pool, under its lock */
	atomic_bool       busy;
	hs_scratch_t     *scratch;
	uint64_t          gen;     /* counts scans, for pf_seen */
	uint64_t         *pf_seen; /* per prefiltered pattern: last gen hit */
	unsigned         *pf_hits; /* prefiltered patterns hit this scan */
	size_t            n_pf_hits;
	struct hit       *hits;
	size_t            n_hits;
	size_t            cap_hits;
	pcre2_match_data *md;
};

struct slot_pool {
	pthread_mutex_t   lock;
	struct scan_slot *slots;
};

struct vigil_matcher {
	uint64_t             serial; /* never reused, unlike addresses */
	hs_database_t       *db;     /* NULL: no patterns */
	hs_scratch_t        *proto;  /* cloned into each slot */
	struct pattern      *pats;
	size_t               n;
	size_t               n_pf;
	pcre2_match_context *mctx; /* shared read-only by all scans */
	struct slot_pool    *pool;
};

struct slot_hint {
	uint64_t          serial;
	struct scan_slot *slot;
};

static atomic_uint_fast64_t           matcher_serial;
static _Thread_local struct slot_hint hints[HINTS];
static _Thread_local unsigned         hint_next;

/* ------------------------------------------------------------ compiling */

/* The start of a pattern fit for a message: cut on a character
 * boundary, control characters and malformed UTF-8 shown as '?'. */
static void
expr_excerpt(const char *expr, char *out, size_t outlen)
{
	size_t n = strnlen(expr, outlen - 4), k;
	bool   valid;

	while (
	    n > 0 && expr[n] != '\0' && ((unsigned char)expr[n] & 0xc0) == 0x80)
		n--;
	valid = text_utf8_valid(expr, n);
	for (k = 0; k < n; k++) {
		unsigned char c = (unsigned char)expr[k];

		out[k] = (c < 0x20 || c == 0x7f || (c >= 0x80 && !valid))
		    ? '?'
		    : (char)c;
	}
	strcpy(out + n, expr[n] ? "..." : "");
}

/* Names a pattern in an error: "rules.conf:12: pattern 'x(': reason". */
static void
pattern_error(char *err, size_t errlen, const vigil_pattern *p, size_t i,
    const char *reason)
{
	char shown[72];

	expr_excerpt(p->expr ? p->expr : "", shown, sizeof(shown));
	if (p->where != NULL)
		snprintf(err, errlen, "%s: pattern '%s': %s", p->where, shown,
		    reason);
	else
		snprintf(err, errlen, "pattern %zu '%s': %s", i, shown, reason);
}

/* Records the letters of a normalized literal that stand for a run of
 * two or more. */
static int
literal_runs(struct pattern *pat, const vigil_norm *n)
{
	const uint8_t *runs = text_norm_runs(n);
	size_t         len, k, count = 0;
	const char    *t = text_norm_text(n, &len);

	for (k = 0; k < len; k++)
		if (runs[k] > 1 && ((unsigned char)t[k] & 0xc0) != 0x80)
			count++;
	if (count == 0)
		return 0;
	if ((pat->need = calloc(count, sizeof(*pat->need))) == NULL)
		return -1;
	for (k = 0; k < len; k++)
		if (runs[k] > 1 && ((unsigned char)t[k] & 0xc0) != 0x80) {
			pat->need[pat->n_need].off   = (uint32_t)k;
			pat->need[pat->n_need++].run = runs[k];
		}
	return 0;
}

/* A literal as Hyperscan source: its normalized bytes, each escaped. */
static char *
literal_source(struct pattern *pat, const vigil_pattern *p, size_t i, char *err,
    size_t errlen)
{
	static const char    hex[] = "0123456789abcdef";
	vigil_norm          *n;
	const unsigned char *t;
	size_t               len, k;
	char                *src = NULL;

	n = text_normalize(p->expr, strlen(p->expr));
	if (n == NULL) {
		pattern_error(err, errlen, p, i,
		    text_utf8_valid(p->expr, strlen(p->expr))
		        ? "cannot normalize: out of memory, or "
		          "text_init not called"
		        : "not valid UTF-8");
		return NULL;
	}
	t = (const unsigned char *)text_norm_text(n, &len);
	if (len == 0)
		pattern_error(err, errlen, p, i, "empty after normalization");
	else if (literal_runs(pat, n) != 0 ||
	    (src = malloc(len * 4 + 1)) == NULL)
		pattern_error(err, errlen, p, i, "out of memory");
	else {
		for (k = 0; k < len; k++) {
			src[k * 4]     = '\\';
			src[k * 4 + 1] = 'x';
			src[k * 4 + 2] = hex[t[k] >> 4];
			src[k * 4 + 3] = hex[t[k] & 0xf];
		}
		src[len * 4] = '\0';
	}
	text_norm_free(n);
	return src;
}

static unsigned
regex_flags(const struct pattern *pat)
{
	unsigned f = HS_FLAG_UTF8 | HS_FLAG_UCP | HS_FLAG_CASELESS;

	return pat->confirm ? f | HS_FLAG_PREFILTER : f | HS_FLAG_SOM_LEFTMOST;
}

/* Compiles the PCRE2 twin of a regex Hyperscan refused (from its folded
 * source src), to confirm what its prefilter finds. Fails with PCRE2's
 * reason when the regex is not valid at all. */
static int
regex_confirmer(struct pattern *pat, const char *src, const vigil_pattern *p,
    size_t i, char *err, size_t errlen)
{
	PCRE2_UCHAR msg[160];
	PCRE2_SIZE  off;
	char        reason[256];
	int         code;

	pat->confirm = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED,
	    PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &code, &off, NULL);
	/* No JIT: it halves the time of a confirmation, but reads past the
	 * end of the subject, which valgrind cannot tell from a bug. */
	if (pat->confirm != NULL)
		return 0;
	pcre2_get_error_message(code, msg, sizeof(msg));
	snprintf(reason, sizeof(reason), "%s at offset %zu", (char *)msg,
	    (size_t)off);
	pattern_error(err, errlen, p, i, reason);
	return -1;
}

/* Compiles the database, moving each regex Hyperscan refuses to
 * prefilter mode and trying again; fails on a literal it refuses, or on a
 * regex that fails in prefilter mode too. */
static int
compile_db(vigil_matcher *m, const vigil_pattern *pats, char **srcs,
    unsigned *flags, unsigned *ids, char *err, size_t errlen)
{
	hs_compile_error_t *cerr = NULL;
	size_t              i, bad;

	for (i = 0; i < m->n; i++) {
		ids[i]   = (unsigned)i;
		flags[i] = (m->pats[i].flags & VIGIL_PAT_REGEX)
		    ? regex_flags(&m->pats[i])
		    : HS_FLAG_SOM_LEFTMOST;
	}
	for (;;) {
		if (hs_compile_multi((const char *const *)srcs, flags, ids,
		        (unsigned)m->n, HS_MODE_BLOCK, NULL, &m->db,
		        &cerr) == HS_SUCCESS)
			return 0;
		if (cerr == NULL) {
			snprintf(
			    err, errlen, "cannot compile %zu patterns", m->n);
			return -1;
		}
		if (cerr->expression < 0 || (size_t)cerr->expression >= m->n) {
			snprintf(err, errlen, "cannot compile %zu patterns: %s",
			    m->n, cerr->message);
			break;
		}
		bad = (size_t)cerr->expression;
		if (!(m->pats[bad].flags & VIGIL_PAT_REGEX) ||
		    m->pats[bad].confirm != NULL) {
			pattern_error(
			    err, errlen, &pats[bad], bad, cerr->message);
			break;
		}
		if (regex_confirmer(&m->pats[bad], srcs[bad], &pats[bad], bad,
		        err, errlen) != 0)
			break;
		m->pats[bad].pf_index = (unsigned)m->n_pf++;
		flags[bad]            = regex_flags(&m->pats[bad]);
		hs_free_compile_error(cerr);
		cerr = NULL;
	}
	if (cerr != NULL)
		hs_free_compile_error(cerr);
	return -1;
}

static char *
pattern_label(const vigil_pattern *p, size_t i)
{
	char buf[32];

	if (p->where != NULL)
		return strdup(p->where);
	snprintf(buf, sizeof(buf), "pattern %zu", i);
	return strdup(buf);
}

/* Copies what scanning needs of each pattern and builds the Hyperscan
 * sources: escaped normalized literals, folded regexes. */
static int
prepare_patterns(vigil_matcher *m, const vigil_pattern *pats, char **srcs,
    char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		const vigil_pattern *p = &pats[i];

		if (p->expr == NULL) {
			pattern_error(err, errlen, p, i, "no expression");
			return -1;
		}
		m->pats[i].id    = p->id;
		m->pats[i].flags = p->flags;
		if ((m->pats[i].label = pattern_label(p, i)) == NULL) {
			pattern_error(err, errlen, p, i, "out of memory");
			return -1;
		}
		if (p->flags & VIGIL_PAT_REGEX) {
			if (!text_utf8_valid(p->expr, strlen(p->expr))) {
				pattern_error(
				    err, errlen, p, i, "not valid UTF-8");
				return -1;
			}
			srcs[i] = text_fold_regex(p->expr, strlen(p->expr));
			if (srcs[i] == NULL) {
				pattern_error(err, errlen, p, i,
				    "cannot fold: out of memory, or "
				    "text_init not called");
				return -1;
			}
		} else if ((srcs[i] = literal_source(
		                &m->pats[i], p, i, err, errlen)) == NULL)
			return -1;
	}
	return 0;
}

static int
matcher_build(
    vigil_matcher *m, const vigil_pattern *pats, char *err, size_t errlen)
{
	char    **srcs;
	unsigned *flags, *ids;
	int       rc = -1;
	size_t    i;

	srcs  = calloc(m->n, sizeof(*srcs));
	flags = calloc(m->n, sizeof(*flags));
	ids   = calloc(m->n, sizeof(*ids));
	if (srcs == NULL || flags == NULL || ids == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (prepare_patterns(m, pats, srcs, err, errlen) != 0 ||
	    compile_db(m, pats, srcs, flags, ids, err, errlen) != 0)
		goto out;
	if (hs_alloc_scratch(m->db, &m->proto) != HS_SUCCESS) {
		snprintf(err, errlen, "cannot allocate Hyperscan scratch");
		goto out;
	}
	if (m->n_pf > 0) {
		m->mctx = pcre2_match_context_create(NULL);
		if (m->mctx == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		pcre2_set_match_limit(m->mctx, CONFIRM_MATCH_LIMIT);
	}
	rc = 0;
out:
	for (i = 0; srcs != NULL && i < m->n; i++)
		free(srcs[i]);
	free(srcs);
	free(flags);
	free(ids);
	return rc;
}

vigil_matcher *
text_matcher_new(const vigil_pattern *pats, size_t n, char *err, size_t errlen)
{
	vigil_matcher *m;
	char           dummy[1];

	if (err == NULL || errlen == 0) {
		err    = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (n > 0 && pats == NULL) {
		snprintf(err, errlen, "no patterns given");
		return NULL;
	}
	if (n > UINT_MAX) {
		snprintf(err, errlen, "too many patterns (%zu)", n);
		return NULL;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->pool = calloc(1, sizeof(*m->pool))) == NULL) {
		free(m);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (pthread_mutex_init(&m->pool->lock, NULL) != 0) {
		free(m->pool);
		free(m);
		snprintf(err, errlen, "cannot create a lock");
		return NULL;
	}
	m->serial = atomic_fetch_add(&matcher_serial, 1) + 1;
	m->n      = n;
	if (n == 0)
		return m; /* Hyperscan refuses empty databases */
	if ((m->pats = calloc(n, sizeof(*m->pats))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (matcher_build(m, pats, err, errlen) != 0)
		goto fail;
	return m;
fail:
	text_matcher_free(m);
	return NULL;
}

static void
slot_free(struct scan_slot *s)
{
	hs_free_scratch(s->scratch);
	pcre2_match_data_free(s->md);
	free(s->pf_seen);
	free(s->pf_hits);
	free(s->hits);
	free(s);
}

/* The caller makes sure no scan of m is running or will start: slots
 * and the database go away here. */
void
text_matcher_free(vigil_matcher *m)
{
	struct scan_slot *s, *next;
	size_t            i;

	if (m == NULL)
		return;
	for (s = m->pool->slots; s != NULL; s = next) {
		next = s->next;
		slot_free(s);
	}
	pthread_mutex_destroy(&m->pool->lock);
	free(m->pool);
	for (i = 0; m->pats != NULL && i < m->n; i++) {
		pcre2_code_free(m->pats[i].confirm);
		free(m->pats[i].label);
		free(m->pats[i].need);
	}
	free(m->pats);
	pcre2_match_context_free(m->mctx);
	hs_free_scratch(m->proto);
	hs_free_database(m->db);
	free(m);
}

/* ------------------------------------------------------------ slots */

static struct scan_slot *
slot_new(const vigil_matcher *m)
{
	struct scan_slot *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	atomic_init(&s->busy, true);
	if (hs_clone_scratch(m->proto, &s->scratch) != HS_SUCCESS)
		goto fail;
	if (m->n_pf > 0 &&
	    ((s->pf_seen = calloc(m->n_pf, sizeof(*s->pf_seen))) == NULL ||
	        (s->pf_hits = calloc(m->n_pf, sizeof(*s->pf_hits))) == NULL ||
	        (s->md = pcre2_match_data_create(1, NULL)) == NULL))
		goto fail;
	return s;
fail:
	slot_free(s);
	return NULL;
}

static bool
slot_try_take(struct scan_slot *s)
{
	return !atomic_exchange_explicit(&s->busy, true, memory_order_acquire);
}

static void
slot_give_back(struct scan_slot *s)
{
	atomic_store_explicit(&s->busy, false, memory_order_release);
}

/* Takes a free slot of the pool, or adds one. */
static struct scan_slot *
pool_take(const vigil_matcher *m)
{
	struct slot_pool *pool = m->pool;
	struct scan_slot *s;

	pthread_mutex_lock(&pool->lock);
	for (s = pool->slots; s != NULL; s = s->next)
		if (slot_try_take(s))
			break;
	pthread_mutex_unlock(&pool->lock);
	if (s != NULL)
		return s;
	if ((s = slot_new(m)) == NULL) {
		log_err("text: cannot allocate scan space");
		return NULL;
	}
	pthread_mutex_lock(&pool->lock);
	s->next     = pool->slots;
	pool->slots = s;
	pthread_mutex_unlock(&pool->lock);
	return s;
}

/* The slot this thread used last for m when it is free, else any. A
 * remembered slot is only used while its matcher is alive: the serial
 * matches only the live matcher it was taken from. */
static struct scan_slot *
slot_take(const vigil_matcher *m)
{
	struct scan_slot *s;
	unsigned          i;

	for (i = 0; i < HINTS; i++) {
		if (hints[i].serial != m->serial)
			continue;
		if (slot_try_take(hints[i].slot))
			return hints[i].slot;
		break;
	}
	if ((s = pool_take(m)) == NULL)
		return NULL;
	if (i == HINTS)
		i = hint_next++ % HINTS;
	hints[i].serial = m->serial;
	hints[i].slot   = s;
	return s;
}

/* ------------------------------------------------------------ scanning */

struct scan {
	const vigil_matcher *m;
	struct scan_slot    *slot;
	const char          *text;
	size_t               len;
	const uint8_t       *runs; /* of a normalized text, or NULL */
	bool                 oom;
};

static bool
is_word_char(UChar32 c)
{
	return u_isalnum(c) || u_hasBinaryProperty(c, UCHAR_ALPHABETIC) ||
	    (U_GET_GC_MASK(c) & U_GC_M_MASK) != 0;
}

/* True when no word character comes right before offset start. */
static bool
at_word_start(const char *text, size_t start)
{
	const uint8_t *s = (const uint8_t *)text;
	int32_t        i = (int32_t)start;
	UChar32        c;

	if (start == 0)
		return true;
	U8_PREV(s, 0, i, c);
	return c < 0 || !is_word_char(c);
}

/* True when no word character comes right after offset end. */
static bool
at_word_end(const char *text, size_t len, size_t end)
{
	const uint8_t *s = (const uint8_t *)text;
	int32_t        i = (int32_t)end;
	UChar32        c;

	if (end >= len)
		return true;
	U8_NEXT(s, i, (int32_t)len, c);
	return c < 0 || !is_word_char(c);
}

/* True when [start, end) meets the word edges that flags ask for:
 * VIGIL_PAT_WORD both, VIGIL_PAT_PREFIX the start. */
static bool
edges_ok(unsigned flags, const char *text, size_t len, size_t start, size_t end)
{
	if ((flags & (VIGIL_PAT_WORD | VIGIL_PAT_PREFIX)) &&
	    !at_word_start(text, start))
		return false;
	return !(flags & VIGIL_PAT_WORD) || at_word_end(text, len, end);
}

/* True when the text at start has each doubled letter of the literal at
 * least as many times as the literal has it. */
static bool
runs_ok(const struct scan *sc, const struct pattern *pat, size_t start)
{
	for (size_t k = 0; k < pat->n_need; k++) {
		size_t at = start + pat->need[k].off;

		if (at >= sc->len || sc->runs[at] < pat->need[k].run)
			return false;
	}
	return true;
}

static int
hit_add(struct scan *sc, unsigned idx, size_t start, size_t end)
{
	const struct pattern *pat = &sc->m->pats[idx];
	struct scan_slot     *s   = sc->slot;

	if (!edges_ok(pat->flags, sc->text, sc->len, start, end))
		return 0;
	if (sc->runs != NULL && pat->n_need > 0 && !runs_ok(sc, pat, start))
		return 0;
	if (s->n_hits == s->cap_hits) {
		size_t      ncap = s->cap_hits ? s->cap_hits * 2 : 32;
		struct hit *h    = realloc(s->hits, ncap * sizeof(*h));

		if (h == NULL) {
			sc->oom = true;
			return -1;
		}
		s->hits     = h;
		s->cap_hits = ncap;
	}
	s->hits[s->n_hits].start = start;
	s->hits[s->n_hits].end   = end;
	s->hits[s->n_hits].idx   = idx;
	s->n_hits++;
	return 0;
}

static int
on_hs_match(unsigned int idx, unsigned long long from, unsigned long long to,
    unsigned int flags, void *arg)
{
	struct scan          *sc  = arg;
	struct scan_slot     *s   = sc->slot;
	const struct pattern *pat = &sc->m->pats[idx];

	(void)flags;
	if (pat->confirm != NULL) {
		/* A candidate: PCRE2 looks at the whole text once, later. */
		if (s->pf_seen[pat->pf_index] != s->gen) {
			s->pf_seen[pat->pf_index]  = s->gen;
			s->pf_hits[s->n_pf_hits++] = idx;
		}
		return 0;
	}
	return hit_add(sc, idx, (size_t)from, (size_t)to) != 0;
}

static size_t
next_char(const char *text, size_t len, size_t i)
{
	i++;
	while (i < len && ((unsigned char)text[i] & 0xc0) == 0x80)
		i++;
	return i;
}

/* Finds the exact matches of a prefiltered pattern with PCRE2: leftmost,
 * non-overlapping; one that fails its word edges is retried a character
 * further on. */
static int
confirm_pattern(struct scan *sc, unsigned idx)
{
	const struct pattern *pat = &sc->m->pats[idx];
	pcre2_match_data     *md  = sc->slot->md;
	PCRE2_SIZE           *ov  = pcre2_get_ovector_pointer(md);
	PCRE2_UCHAR           msg[120];
	size_t                off = 0, s, e;
	int                   rc;

	while (off <= sc->len) {
		rc = pcre2_match(pat->confirm, (PCRE2_SPTR)sc->text, sc->len,
		    off, PCRE2_NO_UTF_CHECK, md, sc->m->mctx);
		if (rc == PCRE2_ERROR_NOMATCH)
			return 0;
		if (rc < 0) {
			pcre2_get_error_message(rc, msg, sizeof(msg));
			log_warn("text: %s: cannot confirm a match: %s",
			    pat->label, (char *)msg);
			return -1;
		}
		s = ov[0];
		e = ov[1];
		if (s < off)
			s = off; /* \K can move the start; keep going forward */
		if (e <= s) {
			if (s >= sc->len)
				return 0;
			off = next_char(sc->text, sc->len, s);
			continue;
		}
		if (!edges_ok(pat->flags, sc->text, sc->len, s, e)) {
			off = next_char(sc->text, sc->len, s);
			continue;
		}
		if (hit_add(sc, idx, s, e) != 0)
			return -1;
		off = e;
	}
	return 0;
}

static int
hit_cmp(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;

	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

/* Reports the hits by end, each (pattern, end) once with its leftmost
 * start. */
static void
deliver(struct scan *sc, vigil_match_fn fn, void *arg)
{
	struct scan_slot *s = sc->slot;
	const struct hit *h, *prev = NULL;
	size_t            i;

	if (s->n_hits > 1)
		qsort(s->hits, s->n_hits, sizeof(*s->hits), hit_cmp);
	for (i = 0; i < s->n_hits; i++) {
		h = &s->hits[i];
		if (prev != NULL && prev->end == h->end && prev->idx == h->idx)
			continue;
		prev = h;
		if (fn(arg, sc->m->pats[h->idx].id, h->start, h->end) != 0)
			return;
	}
}

static int
scan_slot_run(struct scan *sc, vigil_match_fn fn, void *arg)
{
	struct scan_slot *s = sc->slot;
	hs_error_t        herr;
	size_t            i;

	s->gen++;
	s->n_hits    = 0;
	s->n_pf_hits = 0;
	herr = hs_scan(sc->m->db, sc->len ? sc->text : "", (unsigned)sc->len, 0,
	    s->scratch, on_hs_match, sc);
	if (sc->oom) {
		log_err("text: out of memory while scanning");
		return -1;
	}
	if (herr != HS_SUCCESS) {
		log_err("text: Hyperscan scan failed (error %d)", (int)herr);
		return -1;
	}
	for (i = 0; i < s->n_pf_hits; i++)
		if (confirm_pattern(sc, s->pf_hits[i]) != 0)
			return -1;
	deliver(sc, fn, arg);
	return 0;
}

static int
scan_run(struct scan *sc, vigil_match_fn fn, void *arg)
{
	int rc;

	if ((sc->slot = slot_take(sc->m)) == NULL)
		return -1;
	rc = scan_slot_run(sc, fn, arg);
	if (sc->slot->cap_hits > HITS_KEEP) {
		free(sc->slot->hits);
		sc->slot->hits     = NULL;
		sc->slot->cap_hits = 0;
	}
	slot_give_back(sc->slot);
	return rc;
}

int
text_matcher_scan(const vigil_matcher *m, const char *text, size_t len,
    vigil_match_fn fn, void *arg)
{
	struct scan sc = {.m = m, .text = text, .len = len};

	if (m == NULL || fn == NULL || (text == NULL && len > 0))
		return -1;
	if (m->db == NULL)
		return 0;
	/* Hyperscan takes an unsigned length; ICU's UTF-8 macros int32_t. */
	if (len > INT32_MAX || !text_utf8_valid(text, len)) {
		log_warn("text: refusing to scan %s text",
		    len > INT32_MAX ? "oversized" : "malformed UTF-8");
		return -1;
	}
	return scan_run(&sc, fn, arg);
}

/* A normalized text is valid UTF-8 by construction: no check. */
int
text_matcher_scan_norm(
    const vigil_matcher *m, const vigil_norm *n, vigil_match_fn fn, void *arg)
{
	struct scan sc = {.m = m};

	if (m == NULL || n == NULL || fn == NULL)
		return -1;
	if (m->db == NULL)
		return 0;
	sc.text = text_norm_text(n, &sc.len);
	sc.runs = text_norm_runs(n);
	if (sc.len > INT32_MAX) {
		log_warn("text: refusing to scan oversized text");
		return -1;
	}
	return scan_run(&sc, fn, arg);
}
