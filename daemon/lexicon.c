/*
 * lexicon.c - signals as data. Every pattern of every signal gets an id
 * that is its entry index, and entry_signal maps it back; one scan per
 * field then fills a vigil_hit per signal: how often, how many distinct
 * patterns, in which fields, and where first (in original bytes, so that
 * evidence points into the post as written).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lexicon.h"
#include "log.h"
#include "post.h"
#include "settings.h"
#include "text.h"
#include "verdict.h"

#define LX_STACK_WORDS 64 /* seen-bits for 4096 entries on the stack */

struct vigil_lexicon {
	char         **names;
	double        *weights;
	size_t         n;
	vigil_matcher *matcher; /* NULL when no signal has patterns */
	uint32_t      *entry_signal;
	size_t         n_entries;
};

struct lx_scan {
	const vigil_lexicon *lx;
	const vigil_norm    *norm;
	unsigned             field;
	vigil_hit           *hits;
	uint64_t            *seen;
};

void
lexicon_free(vigil_lexicon *lx)
{
	if (lx == NULL)
		return;
	for (size_t i = 0; i < lx->n; i++)
		free(lx->names[i]);
	free(lx->names);
	free(lx->weights);
	text_matcher_free(lx->matcher);
	free(lx->entry_signal);
	free(lx);
}

static size_t
count_patterns(const vigil_signal_def *defs, size_t n)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++)
		total += defs[i].n_terms + defs[i].n_stems + defs[i].n_regex;
	return total;
}

static void
add_patterns(vigil_pattern *pats, uint32_t *entry_signal, size_t *k,
    uint32_t sig, const char *const *exprs, size_t n, unsigned flags,
    const char *where)
{
	for (size_t j = 0; j < n; j++) {
		pats[*k].expr    = exprs[j];
		pats[*k].id      = (unsigned)*k;
		pats[*k].flags   = flags;
		pats[*k].where   = where;
		entry_signal[*k] = sig;
		(*k)++;
	}
}

static int
check_defs(const vigil_signal_def *defs, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		const char *w = defs[i].where ? defs[i].where : "lexicon";

		if (defs[i].name == NULL || defs[i].name[0] == '\0' ||
		    !text_utf8_valid(defs[i].name, strlen(defs[i].name))) {
			snprintf(err, errlen, "%s: signal %zu has no name", w,
			    i + 1);
			return -1;
		}
		if (!(defs[i].weight == defs[i].weight) ||
		    defs[i].weight > 1e6 || defs[i].weight < -1e6) {
			snprintf(err, errlen,
			    "%s: signal \"%s\": weight out of range", w,
			    defs[i].name);
			return -1;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(defs[i].name, defs[j].name) == 0) {
				snprintf(err, errlen,
				    "%s: signal \"%s\" is defined twice", w,
				    defs[i].name);
				return -1;
			}
	}
	return 0;
}

vigil_lexicon *
lexicon_new(const vigil_signal_def *defs, size_t n, char *err, size_t errlen)
{
	vigil_lexicon *lx   = NULL;
	vigil_pattern *pats = NULL;
	size_t         total, k = 0;

	if (n > UINT32_MAX || check_defs(defs, n, err, errlen) != 0)
		return NULL;
	total = count_patterns(defs, n);
	if ((lx = calloc(1, sizeof(*lx))) == NULL ||
	    (lx->names = calloc(n ? n : 1, sizeof(*lx->names))) == NULL ||
	    (lx->weights = calloc(n ? n : 1, sizeof(*lx->weights))) == NULL ||
	    (lx->entry_signal = calloc(
	         total ? total : 1, sizeof(*lx->entry_signal))) == NULL ||
	    (pats = calloc(total ? total : 1, sizeof(*pats))) == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		const vigil_signal_def *d = &defs[i];

		if ((lx->names[i] = strdup(d->name)) == NULL)
			goto nomem;
		lx->n++;
		lx->weights[i] = d->weight;
		add_patterns(pats, lx->entry_signal, &k, (uint32_t)i, d->terms,
		    d->n_terms, VIGIL_PAT_LITERAL | VIGIL_PAT_WORD, d->where);
		add_patterns(pats, lx->entry_signal, &k, (uint32_t)i, d->stems,
		    d->n_stems, VIGIL_PAT_LITERAL | VIGIL_PAT_PREFIX, d->where);
		add_patterns(pats, lx->entry_signal, &k, (uint32_t)i, d->regex,
		    d->n_regex, VIGIL_PAT_REGEX, d->where);
	}
	lx->n_entries = total;
	if (total > 0 &&
	    (lx->matcher = text_matcher_new(pats, total, err, errlen)) == NULL)
		goto fail;
	free(pats);
	return lx;
nomem:
	snprintf(err, errlen, "lexicon: out of memory");
fail:
	free(pats);
	lexicon_free(lx);
	return NULL;
}

/* ------------------------------------------------------------ config */

struct def_arrays {
	const char **terms, **stems, **regex;
};

static const char **
strings_of(const vigil_cfg *g, const char *name, size_t *n)
{
	const char **a;

	*n = cfg_count(g, name);
	if ((a = calloc(*n ? *n : 1, sizeof(*a))) == NULL)
		return NULL;
	for (size_t i = 0; i < *n; i++)
		a[i] = cfg_string_at(g, name, i);
	return a;
}

vigil_lexicon *
lexicon_from_cfg(
    const vigil_cfg *cfg, const char *list, char *err, size_t errlen)
{
	size_t             n    = cfg_count(cfg, list);
	vigil_signal_def  *defs = calloc(n ? n : 1, sizeof(*defs));
	struct def_arrays *arr  = calloc(n ? n : 1, sizeof(*arr));
	vigil_lexicon     *lx   = NULL;

	if (defs == NULL || arr == NULL) {
		snprintf(err, errlen, "lexicon: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const vigil_cfg  *g = cfg_list_at(cfg, list, i);
		vigil_signal_def *d = &defs[i];

		d->name   = cfg_string(g, "name");
		d->weight = cfg_float(g, "weight");
		d->where  = cfg_where(g, NULL);
		if ((arr[i].terms = strings_of(g, "terms", &d->n_terms)) ==
		        NULL ||
		    (arr[i].stems = strings_of(g, "stems", &d->n_stems)) ==
		        NULL ||
		    (arr[i].regex = strings_of(g, "regex", &d->n_regex)) ==
		        NULL) {
			snprintf(err, errlen, "lexicon: out of memory");
			goto out;
		}
		d->terms = arr[i].terms;
		d->stems = arr[i].stems;
		d->regex = arr[i].regex;
	}
	lx = lexicon_new(defs, n, err, errlen);
out:
	for (size_t i = 0; arr != NULL && i < n; i++) {
		free(arr[i].terms);
		free(arr[i].stems);
		free(arr[i].regex);
	}
	free(arr);
	free(defs);
	return lx;
}

/* ------------------------------------------------------------ queries */

size_t
lexicon_size(const vigil_lexicon *lx)
{
	return lx ? lx->n : 0;
}

int
lexicon_index(const vigil_lexicon *lx, const char *name)
{
	for (size_t i = 0; lx != NULL && name != NULL && i < lx->n; i++)
		if (strcmp(lx->names[i], name) == 0)
			return (int)i;
	return -1;
}

const char *
lexicon_name(const vigil_lexicon *lx, size_t i)
{
	return lx != NULL && i < lx->n ? lx->names[i] : NULL;
}

double
lexicon_weight(const vigil_lexicon *lx, size_t i)
{
	return lx != NULL && i < lx->n ? lx->weights[i] : 0.0;
}

/* ------------------------------------------------------------ scanning */

static int
on_match(void *arg, unsigned id, size_t start, size_t end)
{
	struct lx_scan *sc = arg;
	vigil_hit      *h;
	uint64_t        bit = UINT64_C(1) << (id % 64);

	if (id >= sc->lx->n_entries)
		return 0;
	h = &sc->hits[sc->lx->entry_signal[id]];
	if (h->count == 0) {
		h->field = sc->field;
		text_norm_to_orig(sc->norm, start, end, &h->start, &h->end);
	}
	h->count++;
	h->fields |= UINT64_C(1) << (sc->field < 63 ? sc->field : 63);
	if (!(sc->seen[id / 64] & bit)) {
		sc->seen[id / 64] |= bit;
		h->distinct++;
	}
	return 0;
}

int
lexicon_scan(const vigil_lexicon *lx, const vigil_post *vp, vigil_hit *hits)
{
	uint64_t       stack_seen[LX_STACK_WORDS] = {0}, *seen = stack_seen;
	struct lx_scan sc;
	size_t         words;
	int            rc = VIGIL_OK;

	memset(hits, 0, lx->n * sizeof(*hits));
	if (lx->matcher == NULL)
		return VIGIL_OK;
	words = (lx->n_entries + 63) / 64;
	if (words > LX_STACK_WORDS &&
	    (seen = calloc(words, sizeof(*seen))) == NULL)
		return VIGIL_ERR;
	sc.lx   = lx;
	sc.hits = hits;
	sc.seen = seen;
	for (unsigned f = 0; f < vp->n_fields; f++) {
		size_t len;

		if ((sc.norm = post_norm(vp, f)) == NULL)
			continue;
		sc.field = f;
		text_norm_text(sc.norm, &len);
		if (len > 0 &&
		    text_matcher_scan_norm(
		        lx->matcher, sc.norm, on_match, &sc) != 0)
			rc = VIGIL_ERR;
	}
	if (seen != stack_seen)
		free(seen);
	return rc;
}

double
finding_hit(vigil_finding *f, const vigil_post *vp, const vigil_lexicon *lx,
    const vigil_hit *hits, size_t i)
{
	if (f == NULL || lx == NULL || i >= lx->n || hits[i].count == 0)
		return 0.0;
	finding_signal(f, lx->names[i], lx->weights[i]);
	finding_evidence(f, vp, hits[i].field, hits[i].start, hits[i].end);
	return lx->weights[i];
}
