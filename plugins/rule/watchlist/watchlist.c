/*
 * watchlist.c - rule plugin: named lists of terms and regular expressions,
 * matched on the normalized text of a post, its poll question and each
 * poll option.
 *
 * Every pattern of every list is compiled into one host matcher at init;
 * a pattern's id is its entry index, and entries are numbered list by
 * list, so that an id gives both the list (entry_list) and the term
 * (entry_text). A post is scanned field by field; the matches are kept
 * on the stack (the heap only for busy posts) and, when any list matched,
 * turned into one finding per list: score = weight x distinct entries
 * matched, the list's severity as floor, a piece of evidence per match
 * (overlapping matches of one entry merged, at most WL_MAX_HITS per post)
 * and a signal per distinct entry.
 *
 * Scoring is read-only on the instance and keeps per-call state on the
 * stack, so it runs on several threads at once.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

/* Matches remembered per post for evidence; the score counts every
 * distinct entry whatever this says. */
#define WL_MAX_HITS    1024
#define WL_STACK_HITS  32
#define WL_STACK_WORDS 64 /* bits for 4096 entries on the stack */
#define WL_NAME_MAX    64

typedef struct wl_list {
	char          *rule; /* "<rule_prefix>.<name>" */
	char          *title;
	double         weight;
	vigil_severity floor;
	uint32_t       first; /* entries [first, first + count) */
	uint32_t       count;
} wl_list;

typedef struct watchlist {
	const vigil_host *host;
	vigil_ctx        *ctx;
	vigil_matcher    *matcher;
	wl_list          *lists;
	size_t            n_lists;
	char            **entry_text; /* term or regex as written */
	uint32_t         *entry_list;
	size_t            n_entries;
} watchlist;

/* Patterns of all lists, as validate and init build them. */
typedef struct wl_build {
	vigil_pattern *pats;
	uint32_t      *pat_list;
	size_t         n_pats, cap_pats;
	char         **wheres; /* copies of cfg_where, two per list */
	size_t         n_wheres;
} wl_build;

/* One match kept for evidence. */
typedef struct wl_hit {
	const vigil_norm *norm;
	uint32_t          entry;
	uint32_t          list;
	uint32_t          field;
	size_t            start, end; /* in the normalized field */
} wl_hit;

/* Per-call state of score(). */
typedef struct wl_scan {
	const watchlist  *wl;
	const vigil_norm *norm;
	uint32_t          field;
	wl_hit           *hits;
	size_t            n_hits, cap_hits;
	uint64_t         *seen; /* bit per entry; NULL until a match */
	uint64_t         *seen_heap;
	size_t            n_seen; /* distinct entries matched */
	int               oom;
	wl_hit           *stack_hits; /* WL_STACK_HITS, in score's frame */
	uint64_t         *stack_seen; /* WL_STACK_WORDS */
} wl_scan;

static const char *const severity_names[] = {
    "none",
    "notice",
    "warning",
    "alert",
};

static const vigil_setting list_settings[] = {
    {"name", VIGIL_SET_STRING, NULL,
        "Name of the list: lowercase letters, digits, '_' and '-', "
        "unique among the lists. The rule id of its findings is "
        "`<rule_prefix>.<name>`.",
        NULL, VIGIL_SET_REQUIRED, 0, 0},
    {"terms", VIGIL_SET_STRINGS, NULL,
        "Words or phrases. They are normalized like the post (NFKC, "
        "case folded, invisible characters removed, white space "
        "collapsed), so `Exit Poll` also finds `EXIT  POLL`. Terms "
        "that are equal once normalized count once.",
        NULL, 0, 0, 0},
    {"regex", VIGIL_SET_STRINGS, NULL,
        "PCRE regular expressions, matched caseless on the normalized "
        "text (lowercase, single spaces). Use `\\b` for word edges.",
        NULL, 0, 0, 0},
    {"weight", VIGIL_SET_FLOAT, "1.0",
        "Score added for each distinct term or regex of the list that "
        "matched; repeats of one term count once.",
        NULL, 0, 0, 1e6},
    {"severity", VIGIL_SET_STRING, "none",
        "Lowest severity of a finding of this list, whatever its score: "
        "`none`, `notice`, `warning` or `alert`.",
        NULL, 0, 0, 0},
    {"words", VIGIL_SET_BOOL, "true",
        "Terms match whole words only: `poll` does not match inside "
        "`polling`. Does not apply to `regex`.",
        NULL, 0, 0, 0},
    {"title", VIGIL_SET_STRING, NULL,
        "Title of the findings, one line for people. Default: "
        "`Watchlist '<name>' matched`.",
        NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting watchlist_settings[] = {
    {"lists", VIGIL_SET_LIST, NULL,
        "The watchlists. Each one that matches a post gives one finding "
        "with evidence for every match (up to 1024 per post) and a "
        "signal per distinct term.",
        list_settings, VIGIL_SET_REQUIRED, 0, 0},
    {"rule_prefix", VIGIL_SET_STRING, "watchlist",
        "Prefix of the rule ids: lowercase letters, digits, '_', '-' "
        "and '.'.",
        NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

/* Appends one line to err; validation reports every problem that fits. */
static void VIGIL_PRINTF(3, 4)
    err_add(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	size_t  used;

	if (errlen == 0)
		return;
	used = strnlen(err, errlen);
	if (used + 2 >= errlen)
		return;
	if (used > 0) {
		err[used++] = '\n';
		err[used]   = '\0';
	}
	va_start(ap, fmt);
	vsnprintf(err + used, errlen - used, fmt, ap);
	va_end(ap);
}

static const char *
where(const vigil_host *host, const vigil_cfg *cfg, const char *name)
{
	const char *w = host->cfg_where(cfg, name);

	return w != NULL ? w : "(config)";
}

static int
name_valid(const char *s, const char *extra)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		        c == '_' || c == '-' || strchr(extra, c) != NULL))
			return 0;
	}
	return n > 0 && n <= WL_NAME_MAX;
}

static int
severity_parse(const char *name, vigil_severity *out)
{
	for (size_t i = 0; i < 4; i++) {
		if (strcmp(name, severity_names[i]) == 0) {
			*out = (vigil_severity)i;
			return 0;
		}
	}
	return -1;
}

static char *VIGIL_PRINTF(1, 2) str_printf(const char *fmt, ...)
{
	va_list ap;
	char   *s;
	int     n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* ------------------------------------------------------------------------
 * Building the patterns (validate and init). */

static void
build_free(wl_build *b)
{
	for (size_t i = 0; i < b->n_wheres; i++)
		free(b->wheres[i]);
	free(b->wheres);
	free(b->pats);
	free(b->pat_list);
	memset(b, 0, sizeof(*b));
}

static int
build_add(
    wl_build *b, const char *expr, unsigned flags, const char *w, uint32_t list)
{
	if (b->n_pats == b->cap_pats) {
		size_t         cap = b->cap_pats ? b->cap_pats * 2 : 64;
		vigil_pattern *p   = realloc(b->pats, cap * sizeof(*p));
		uint32_t      *l;

		if (p == NULL)
			return -1;
		b->pats = p;
		l       = realloc(b->pat_list, cap * sizeof(*l));
		if (l == NULL)
			return -1;
		b->pat_list = l;
		b->cap_pats = cap;
	}
	b->pats[b->n_pats] = (vigil_pattern){
	    .expr  = expr,
	    .id    = (unsigned)b->n_pats,
	    .flags = flags,
	    .where = w,
	};
	b->pat_list[b->n_pats++] = list;
	return 0;
}

static const char *
build_where(
    wl_build *b, const vigil_host *host, const vigil_cfg *lc, const char *name)
{
	const char *w = host->cfg_where(lc, name);

	if (w == NULL)
		w = host->cfg_where(lc, NULL);
	if (w == NULL)
		return NULL;
	if ((b->wheres[b->n_wheres] = strdup(w)) == NULL)
		return NULL;
	return b->wheres[b->n_wheres++];
}

/* An entry of a list for finding repeats: normalized terms, raw regexes. */
typedef struct wl_key {
	const char *s;
	size_t      len;
	size_t      index; /* in the list's terms, then regexes */
	int         regex;
} wl_key;

static int
key_cmp(const void *pa, const void *pb)
{
	const wl_key *a = pa, *b = pb;
	int           c;

	if (a->regex != b->regex)
		return a->regex - b->regex;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	if ((c = memcmp(a->s, b->s, a->len)) != 0)
		return c;
	return a->index < b->index ? -1 : a->index > b->index;
}

typedef struct wl_ctxinfo {
	const vigil_host *host;
	vigil_ctx        *ctx; /* NULL in validate: repeats are not logged */
	char             *err;
	size_t            errlen;
} wl_ctxinfo;

/* Fills keys for the list's terms (normalized) and regexes; norms[i]
 * holds the normalization of term i. Returns the number of problems. */
static int
list_keys(const wl_ctxinfo *ci, const vigil_cfg *lc, const char *name,
    wl_key *keys, vigil_norm **norms, size_t n_terms, size_t n_regex)
{
	const vigil_host *host = ci->host;
	int               bad  = 0;

	for (size_t i = 0; i < n_terms; i++) {
		const char *t   = host->cfg_string_at(lc, "terms", i);
		size_t      len = 0;

		norms[i] = host->normalize(t, strlen(t));
		keys[i]  = (wl_key){"", 0, i, 0};
		if (norms[i] == NULL) {
			err_add(ci->err, ci->errlen,
			    "%s: list '%s': term %zu "
			    "could not be normalized (not UTF-8?)",
			    where(host, lc, "terms"), name, i + 1);
			bad++;
			continue;
		}
		keys[i].s   = host->norm_text(norms[i], &len);
		keys[i].len = len;
		if (len == 0) {
			err_add(ci->err, ci->errlen,
			    "%s: list '%s': term %zu "
			    "('%s') is empty once normalized",
			    where(host, lc, "terms"), name, i + 1, t);
			bad++;
		}
	}
	for (size_t i = 0; i < n_regex; i++) {
		const char *r = host->cfg_string_at(lc, "regex", i);

		keys[n_terms + i] = (wl_key){r, strlen(r), n_terms + i, 1};
		if (r[0] == '\0') {
			err_add(ci->err, ci->errlen,
			    "%s: list '%s': regex %zu "
			    "is empty",
			    where(host, lc, "regex"), name, i + 1);
			bad++;
		}
	}
	return bad;
}

/* Marks in dup[] the entries that repeat an earlier one of the list. */
static void
list_mark_repeats(const wl_ctxinfo *ci, const vigil_cfg *lc, const char *name,
    wl_key *keys, size_t n, size_t n_terms, unsigned char *dup)
{
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (size_t i = 1; i < n; i++) {
		const wl_key *a = &keys[i - 1], *k = &keys[i];

		if (a->regex != k->regex || a->len != k->len ||
		    memcmp(a->s, k->s, k->len) != 0 || k->len == 0)
			continue;
		dup[k->index] = 1;
		if (ci->ctx == NULL)
			continue;
		if (k->regex)
			ci->host->log(ci->ctx, VIGIL_LOG_WARNING,
			    "%s: list '%s': regex %zu repeats regex %zu; "
			    "counted once",
			    where(ci->host, lc, "regex"), name,
			    k->index - n_terms + 1, a->index - n_terms + 1);
		else
			ci->host->log(ci->ctx, VIGIL_LOG_WARNING,
			    "%s: list '%s': term %zu repeats term %zu once "
			    "normalized; counted once",
			    where(ci->host, lc, "terms"), name, k->index + 1,
			    a->index + 1);
		/* Keep the first of a run as the one the next compares to. */
		keys[i] = keys[i - 1];
	}
}

/* Adds the patterns of list li. Returns the number of problems found
 * (each added to err), or -1 on allocation failure. */
static int
build_list(const wl_ctxinfo *ci, const vigil_cfg *lc, uint32_t li, wl_build *b)
{
	const vigil_host *host       = ci->host;
	const char       *name       = host->cfg_string(lc, "name");
	size_t            n_terms    = host->cfg_count(lc, "terms");
	size_t            n_regex    = host->cfg_count(lc, "regex");
	size_t            n          = n_terms + n_regex;
	unsigned          term_flags = VIGIL_PAT_LITERAL;
	const char       *w_terms, *w_regex;
	wl_key           *keys  = NULL;
	vigil_norm      **norms = NULL;
	unsigned char    *dup   = NULL;
	int               bad   = -1;

	if (name == NULL)
		name = "";
	if (host->cfg_bool(lc, "words"))
		term_flags |= VIGIL_PAT_WORD;
	if (n == 0)
		return 0; /* reported by the caller */
	keys  = calloc(n, sizeof(*keys));
	norms = calloc(n_terms + 1, sizeof(*norms));
	dup   = calloc(n, 1);
	if (keys == NULL || norms == NULL || dup == NULL)
		goto out;
	bad = list_keys(ci, lc, name, keys, norms, n_terms, n_regex);
	list_mark_repeats(ci, lc, name, keys, n, n_terms, dup);
	w_terms = build_where(b, host, lc, "terms");
	w_regex = build_where(b, host, lc, "regex");
	for (size_t i = 0; i < n; i++) {
		int rc;

		if (dup[i])
			continue;
		if (i < n_terms)
			rc = build_add(b, host->cfg_string_at(lc, "terms", i),
			    term_flags, w_terms, li);
		else
			rc = build_add(b,
			    host->cfg_string_at(lc, "regex", i - n_terms),
			    VIGIL_PAT_REGEX, w_regex, li);
		if (rc != 0) {
			bad = -1;
			goto out;
		}
	}
out:
	if (norms != NULL)
		for (size_t i = 0; i < n_terms; i++)
			if (norms[i] != NULL)
				host->norm_free(norms[i]);
	free(norms);
	free(keys);
	free(dup);
	return bad;
}

/* Builds every list's patterns. Returns 0, or -1 with err filled. */
static int
build_all(const wl_ctxinfo *ci, const vigil_cfg *cfg, wl_build *b)
{
	size_t n_lists = ci->host->cfg_count(cfg, "lists");
	int    bad     = 0;

	b->wheres = calloc(2 * n_lists + 1, sizeof(*b->wheres));
	if (b->wheres == NULL) {
		err_add(ci->err, ci->errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n_lists; i++) {
		const vigil_cfg *lc = ci->host->cfg_list_at(cfg, "lists", i);
		int              rc;

		if (lc == NULL)
			continue;
		rc = build_list(ci, lc, (uint32_t)i, b);
		if (rc < 0) {
			err_add(ci->err, ci->errlen, "out of memory");
			return -1;
		}
		bad += rc;
	}
	return bad == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------
 * validate */

static int
validate_list(const vigil_host *host, const vigil_cfg *cfg, size_t i, char *err,
    size_t errlen)
{
	const vigil_cfg *lc = host->cfg_list_at(cfg, "lists", i);
	const char      *name, *sev;
	vigil_severity   floor;
	int              bad = 0;

	if (lc == NULL)
		return 0;
	name = host->cfg_string(lc, "name");
	if (name == NULL || !name_valid(name, "")) {
		err_add(err, errlen,
		    "%s: list name '%s' must be 1 to %d of "
		    "a-z, 0-9, '_' and '-'",
		    where(host, lc, "name"), name ? name : "", WL_NAME_MAX);
		return 1;
	}
	for (size_t j = 0; j < i; j++) {
		const vigil_cfg *oc = host->cfg_list_at(cfg, "lists", j);
		const char *other   = oc ? host->cfg_string(oc, "name") : NULL;

		if (other != NULL && strcmp(other, name) == 0) {
			err_add(err, errlen,
			    "%s: list name '%s' is used by "
			    "list %zu already",
			    where(host, lc, "name"), name, j + 1);
			bad++;
			break;
		}
	}
	sev = host->cfg_string(lc, "severity");
	if (sev != NULL && severity_parse(sev, &floor) != 0) {
		err_add(err, errlen,
		    "%s: list '%s': severity '%s' is not one "
		    "of none, notice, warning, alert",
		    where(host, lc, "severity"), name, sev);
		bad++;
	}
	if (host->cfg_count(lc, "terms") + host->cfg_count(lc, "regex") == 0) {
		err_add(err, errlen,
		    "%s: list '%s' needs at least one of "
		    "terms and regex",
		    where(host, lc, NULL), name);
		bad++;
	}
	return bad;
}

static int
watchlist_validate(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	const char    *prefix  = host->cfg_string(cfg, "rule_prefix");
	size_t         n_lists = host->cfg_count(cfg, "lists");
	wl_ctxinfo     ci      = {host, NULL, err, errlen};
	wl_build       b       = {0};
	vigil_matcher *m;
	int            bad = 0;

	if (errlen > 0)
		err[0] = '\0';
	if (prefix == NULL || !name_valid(prefix, ".")) {
		err_add(err, errlen,
		    "%s: rule_prefix '%s' must be 1 to %d of "
		    "a-z, 0-9, '_', '-' and '.'",
		    where(host, cfg, "rule_prefix"), prefix ? prefix : "",
		    WL_NAME_MAX);
		bad++;
	}
	if (n_lists == 0) {
		err_add(err, errlen, "%s: lists: at least one list is needed",
		    where(host, cfg, "lists"));
		return VIGIL_ERR;
	}
	for (size_t i = 0; i < n_lists; i++)
		bad += validate_list(host, cfg, i, err, errlen);
	if (bad > 0)
		return VIGIL_ERR;
	/* Compile once, so that a bad regex is refused with the config. */
	if (build_all(&ci, cfg, &b) != 0) {
		build_free(&b);
		return VIGIL_ERR;
	}
	m = host->matcher_new(b.pats, b.n_pats, err, errlen);
	build_free(&b);
	if (m == NULL)
		return VIGIL_ERR;
	host->matcher_free(m);
	return VIGIL_OK;
}

/* ------------------------------------------------------------------------
 * init and destroy */

static void
watchlist_destroy(void *instance)
{
	watchlist *wl = instance;

	if (wl == NULL)
		return;
	if (wl->matcher != NULL)
		wl->host->matcher_free(wl->matcher);
	if (wl->lists != NULL)
		for (size_t i = 0; i < wl->n_lists; i++) {
			free(wl->lists[i].rule);
			free(wl->lists[i].title);
		}
	free(wl->lists);
	if (wl->entry_text != NULL)
		for (size_t i = 0; i < wl->n_entries; i++)
			free(wl->entry_text[i]);
	free(wl->entry_text);
	free(wl->entry_list);
	free(wl);
}

/* Fills a list's rule id, title, weight and floor (validated before). */
static int
init_list(watchlist *wl, const vigil_cfg *lc, const char *prefix, wl_list *l)
{
	const vigil_host *host  = wl->host;
	const char       *name  = host->cfg_string(lc, "name");
	const char       *title = host->cfg_string(lc, "title");
	const char       *sev   = host->cfg_string(lc, "severity");

	if (name == NULL)
		return -1;
	l->weight = host->cfg_float(lc, "weight");
	l->floor  = VIGIL_SEV_NONE;
	if (sev != NULL)
		severity_parse(sev, &l->floor);
	l->rule = str_printf("%s.%s", prefix, name);
	if (title != NULL && title[0] != '\0')
		l->title = strdup(title);
	else
		l->title = str_printf("Watchlist '%s' matched", name);
	return l->rule != NULL && l->title != NULL ? 0 : -1;
}

/* Takes the entries from the built patterns: pattern i is entry i. */
static int
init_entries(watchlist *wl, const wl_build *b)
{
	wl->entry_text = calloc(b->n_pats + 1, sizeof(*wl->entry_text));
	wl->entry_list = calloc(b->n_pats + 1, sizeof(*wl->entry_list));
	if (wl->entry_text == NULL || wl->entry_list == NULL)
		return -1;
	wl->n_entries = b->n_pats;
	for (size_t i = 0; i < b->n_pats; i++) {
		wl_list *l = &wl->lists[b->pat_list[i]];

		if ((wl->entry_text[i] = strdup(b->pats[i].expr)) == NULL)
			return -1;
		wl->entry_list[i] = b->pat_list[i];
		if (l->count == 0)
			l->first = (uint32_t)i;
		l->count++;
	}
	return 0;
}

static int
watchlist_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	const char *prefix    = host->cfg_string(cfg, "rule_prefix");
	char        err[1024] = "";
	wl_ctxinfo  ci        = {host, ctx, err, sizeof(err)};
	wl_build    b         = {0};
	watchlist  *wl;

	if ((wl = calloc(1, sizeof(*wl))) == NULL)
		goto nomem;
	wl->host    = host;
	wl->ctx     = ctx;
	wl->n_lists = host->cfg_count(cfg, "lists");
	if ((wl->lists = calloc(wl->n_lists + 1, sizeof(*wl->lists))) == NULL)
		goto nomem;
	for (size_t i = 0; i < wl->n_lists; i++) {
		const vigil_cfg *lc = host->cfg_list_at(cfg, "lists", i);

		if (lc == NULL ||
		    init_list(wl, lc, prefix ? prefix : "watchlist",
		        &wl->lists[i]) != 0)
			goto nomem;
	}
	if (build_all(&ci, cfg, &b) != 0)
		goto fail;
	if (init_entries(wl, &b) != 0)
		goto nomem;
	wl->matcher = host->matcher_new(b.pats, b.n_pats, err, sizeof(err));
	if (wl->matcher == NULL)
		goto fail;
	build_free(&b);
	host->log(ctx, VIGIL_LOG_INFO, "%zu lists, %zu patterns", wl->n_lists,
	    wl->n_entries);
	*instance = wl;
	return VIGIL_OK;
nomem:
	snprintf(err, sizeof(err), "out of memory");
fail:
	host->log(ctx, VIGIL_LOG_ERR, "%s", err);
	build_free(&b);
	watchlist_destroy(wl);
	return VIGIL_ERR;
}

/* ------------------------------------------------------------------------
 * score */

static int
scan_grow(wl_scan *s)
{
	size_t  cap = s->cap_hits > 0 ? s->cap_hits * 2 : WL_STACK_HITS;
	wl_hit *h;

	if (cap > WL_MAX_HITS)
		cap = WL_MAX_HITS;
	if (s->hits != s->stack_hits)
		h = realloc(s->hits, cap * sizeof(*h));
	else if ((h = malloc(cap * sizeof(*h))) != NULL)
		memcpy(h, s->hits, s->n_hits * sizeof(*h));
	if (h == NULL)
		return -1;
	s->hits     = h;
	s->cap_hits = cap;
	return 0;
}

static int
scan_seen_init(wl_scan *s)
{
	size_t words = (s->wl->n_entries + 63) / 64;

	if (words <= WL_STACK_WORDS) {
		s->seen = s->stack_seen;
		memset(s->seen, 0, words * sizeof(*s->seen));
	} else {
		if ((s->seen_heap = calloc(words, sizeof(uint64_t))) == NULL)
			return -1;
		s->seen = s->seen_heap;
	}
	return 0;
}

/* The matcher's callback: marks the entry and keeps the match, merged
 * with the previous one when it is the same entry overlapping. */
static int
scan_match(void *arg, unsigned id, size_t start, size_t end)
{
	wl_scan *s = arg;
	wl_hit  *last;
	uint64_t bit = (uint64_t)1 << (id % 64);

	if (id >= s->wl->n_entries || start >= end)
		return 0;
	if (s->seen == NULL && scan_seen_init(s) != 0) {
		s->oom = 1;
		return 1;
	}
	if ((s->seen[id / 64] & bit) == 0) {
		s->seen[id / 64] |= bit;
		s->n_seen++;
	}
	last = s->n_hits > 0 ? &s->hits[s->n_hits - 1] : NULL;
	if (last != NULL && last->entry == id && last->field == s->field &&
	    (start < last->end || start == last->start)) {
		if (start < last->start)
			last->start = start;
		if (end > last->end)
			last->end = end;
		return 0;
	}
	if (s->n_hits == WL_MAX_HITS)
		return 0;
	if (s->n_hits == s->cap_hits && scan_grow(s) != 0) {
		s->oom = 1;
		return 1;
	}
	s->hits[s->n_hits++] = (wl_hit){
	    .norm  = s->norm,
	    .entry = id,
	    .list  = s->wl->entry_list[id],
	    .field = s->field,
	    .start = start,
	    .end   = end,
	};
	return 0;
}

static int
hit_cmp_entry(const void *pa, const void *pb)
{
	const wl_hit *a = pa, *b = pb;

	if (a->entry != b->entry)
		return a->entry < b->entry ? -1 : 1;
	if (a->field != b->field)
		return a->field < b->field ? -1 : 1;
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return a->end > b->end ? -1 : a->end < b->end;
}

static int
hit_cmp_position(const void *pa, const void *pb)
{
	const wl_hit *a = pa, *b = pb;

	if (a->list != b->list)
		return a->list < b->list ? -1 : 1;
	if (a->field != b->field)
		return a->field < b->field ? -1 : 1;
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	if (a->end != b->end)
		return a->end < b->end ? -1 : 1;
	return a->entry < b->entry ? -1 : a->entry > b->entry;
}

/* Merges overlapping matches of one entry in one field, then orders the
 * matches by list and position for the evidence. */
static void
scan_merge(wl_scan *s)
{
	size_t kept = 0;

	if (s->n_hits < 2)
		return;
	qsort(s->hits, s->n_hits, sizeof(*s->hits), hit_cmp_entry);
	for (size_t i = 1; i < s->n_hits; i++) {
		wl_hit *k = &s->hits[kept], *h = &s->hits[i];

		if (h->entry == k->entry && h->field == k->field &&
		    h->start < k->end) {
			if (h->end > k->end)
				k->end = h->end;
			continue;
		}
		s->hits[++kept] = *h;
	}
	s->n_hits = kept + 1;
	qsort(s->hits, s->n_hits, sizeof(*s->hits), hit_cmp_position);
}

/* Adds the finding of list li; *next walks the sorted hits. */
static int
score_list(const watchlist *wl, const wl_scan *s, uint32_t li,
    const vigil_post *post, vigil_findings *out, size_t *next)
{
	const vigil_host  *host = wl->host;
	const wl_list     *l    = &wl->lists[li];
	vigil_finding_spec spec;
	vigil_finding     *f;
	size_t             distinct = 0;

	for (uint32_t e = l->first; e < l->first + l->count; e++)
		if (s->seen[e / 64] & ((uint64_t)1 << (e % 64)))
			distinct++;
	if (distinct == 0)
		return VIGIL_OK;
	spec = (vigil_finding_spec){
	    .struct_size = sizeof(spec),
	    .rule        = l->rule,
	    .score       = l->weight * (double)distinct,
	    .floor       = l->floor,
	    .cap         = VIGIL_SEV_NONE,
	    .title       = l->title,
	};
	if ((f = host->finding_add(out, &spec)) == NULL)
		return VIGIL_ERR;
	for (; *next < s->n_hits && s->hits[*next].list == li; (*next)++) {
		const wl_hit *h  = &s->hits[*next];
		size_t        os = 0, oe = 0;

		host->norm_to_orig(h->norm, h->start, h->end, &os, &oe);
		if (host->finding_evidence(f, post, h->field, os, oe) !=
		    VIGIL_OK)
			return VIGIL_ERR;
	}
	for (uint32_t e = l->first; e < l->first + l->count; e++) {
		if ((s->seen[e / 64] & ((uint64_t)1 << (e % 64))) == 0)
			continue;
		if (host->finding_signal(f, wl->entry_text[e], l->weight) !=
		    VIGIL_OK)
			return VIGIL_ERR;
	}
	return VIGIL_OK;
}

static int
scan_fields(wl_scan *s, const vigil_post *post)
{
	const vigil_host *host = s->wl->host;

	for (size_t field = 0; field < post->n_fields; field++) {
		size_t len = 0;

		s->norm = host->post_norm(post, (unsigned)field);
		if (s->norm == NULL || host->norm_text(s->norm, &len) == NULL ||
		    len == 0)
			continue;
		s->field = (uint32_t)field;
		if (host->norm_scan(s->wl->matcher, s->norm, scan_match, s) !=
		        0 ||
		    s->oom)
			return -1;
	}
	return 0;
}

static int
watchlist_score(void *instance, const vigil_post *post, vigil_findings *out)
{
	const watchlist *wl = instance;
	wl_hit           stack_hits[WL_STACK_HITS];
	uint64_t         stack_seen[WL_STACK_WORDS];
	wl_scan          s = {
	             .wl         = wl,
	             .hits       = stack_hits,
	             .cap_hits   = WL_STACK_HITS,
	             .stack_hits = stack_hits,
	             .stack_seen = stack_seen,
        };
	size_t next = 0;
	int    rc   = VIGIL_OK;

	if (scan_fields(&s, post) != 0) {
		wl->host->log_limited(wl->ctx, VIGIL_LOG_ERR, "post %s: %s",
		    post->id.ptr, s.oom ? "out of memory" : "scan failed");
		rc = VIGIL_ERR;
		goto out;
	}
	if (s.n_seen == 0)
		goto out;
	scan_merge(&s);
	for (uint32_t li = 0; li < wl->n_lists && rc == VIGIL_OK; li++)
		rc = score_list(wl, &s, li, post, out, &next);
out:
	if (s.hits != s.stack_hits)
		free(s.hits);
	free(s.seen_heap);
	return rc;
}

static const vigil_plugin watchlist_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name    = "watchlist",
    .version = "1.0",
    .kind    = VIGIL_PLUGIN_RULE,
    .description =
        "Named lists of terms and regular expressions with "
        "weights and severities, matched on the normalized text, poll "
        "question and poll options of each post.",
    .settings = watchlist_settings,
    .validate = watchlist_validate,
    .init     = watchlist_init,
    .destroy  = watchlist_destroy,
    .score    = watchlist_score,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &watchlist_plugin;
}
