/*
 * template.c - a jurisdiction rule plugin to copy when you write your own.
 *
 * It implements one rule of a fictional jurisdiction, "xx" (a code ISO 3166
 * leaves to private use), whose election law forbids publishing poll
 * results or forecasts from two days before a vote until the polls close:
 *
 *   xx.poll.blackout  poll results or an election forecast published,
 *                     by an author who is not exempt, inside a vote's
 *                     blackout window.
 *
 * Everything that changes with a vote or a law is configuration, read
 * through the host's jurisdiction services (ABI 1.1):
 *
 *   - the votes and their blackouts, in local time for each of the
 *     country's time zones, turned into UTC once by calendar_*;
 *   - the authors the law exempts (the election commission's accounts),
 *     matched by registry_*;
 *   - the signals, words with a weight, matched by lexicon_* over every
 *     field of a post, folded like the posts are;
 *   - the threshold, the severity and the legal citation.
 *
 * The code only says how signals combine: the rule's score is the sum of
 * the weights of the signals that fired, and the rule fires when its gate
 * holds (results or a forecast, about an election) and the score reaches
 * the threshold. That logic is in plain functions of plain data, so that
 * test_template.c can test it without the daemon.
 *
 * score() keeps per-call state on the stack and only reads the instance:
 * a worker may call it from several threads at once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

#define XX_JURISDICTION "xx"
#define XX_RULE         "xx.poll.blackout"
#define XX_WINDOW       "blackout" /* the name of every vote's window */
#define XX_MAX_SIGNALS  32         /* hits[] lives on score()'s stack */

/* The signals the rule combines. Each must be defined in the instance's
 * `signals` list: their words and weights are data. An instance may
 * define more (for a later rule); this one ignores them. */
enum {
	S_RESULTS,   /* poll results, exit polls, voting intentions */
	S_FORECAST,  /* projections and predictions of who wins */
	S_PERCENT,   /* a figure, e.g. "41%" */
	S_ELECTION,  /* the vote itself: election, referendum, ballot */
	S_REPORTING, /* talk about the ban rather than breaking it */
	S_COUNT
};

static const char *const signal_names[S_COUNT] = {
    [S_RESULTS]   = "results",
    [S_FORECAST]  = "forecast",
    [S_PERCENT]   = "percent",
    [S_ELECTION]  = "election",
    [S_REPORTING] = "reporting",
};

/* One instance: built at init, read-only afterwards. */
typedef struct xx {
	const vigil_host *host;
	vigil_ctx        *ctx;
	vigil_calendar   *cal;
	vigil_registry   *exempt;
	vigil_lexicon    *lx;
	int               sig[S_COUNT];    /* lexicon index of each signal */
	double            weight[S_COUNT]; /* and its weight */
	double            threshold;
	vigil_severity    severity;
	/* Strings of the host's cfg: valid from init until destroy, so
	 * they need no copy. */
	const char *law, *article, *penalty;
} xx;

/* ------------------------------------------------------------ settings */

/* Each element of `signals`: name, weight, terms, stems, regex. */
static const vigil_setting signal_settings[] = {
    VIGIL_SIGNAL_SETTINGS,
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting vote_settings[] = {
    {"name", VIGIL_SET_STRING, NULL,
        "Short name of the vote, e.g. `general-2025`; unique. Findings "
        "name their window `NAME/blackout`.",
        NULL, VIGIL_SET_REQUIRED, 0, 0},
    {"title", VIGIL_SET_STRING, NULL, "What the vote is, for people.", NULL, 0,
        0, 0},
    {"zones", VIGIL_SET_STRINGS, NULL,
        "IANA time zones of the country (tzdata names). The blackout opens "
        "at its earliest local start and closes at its latest local end "
        "across them.",
        NULL, VIGIL_SET_REQUIRED, 0, 0},
    {"blackout_start", VIGIL_SET_STRING, NULL,
        "Local time the blackout starts: `YYYY-MM-DD` (midnight) or "
        "`YYYY-MM-DD HH:MM`.",
        NULL, VIGIL_SET_REQUIRED, 0, 0},
    {"blackout_end", VIGIL_SET_STRING, NULL,
        "Local time the blackout ends, usually the close of polls, e.g. "
        "`2025-10-12 19:00`.",
        NULL, VIGIL_SET_REQUIRED, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting law_settings[] = {
    {"law", VIGIL_SET_STRING, "Electoral Law of Xx (fictional)",
        "The law the rule comes from, as findings cite it.", NULL, 0, 0, 0},
    {"article", VIGIL_SET_STRING, "Art. 10",
        "The article that forbids publishing polls.", NULL, 0, 0, 0},
    {"penalty", VIGIL_SET_STRING, "A fine of 2,500 to 25,000 XXD",
        "The penalty, as alerts quote it.", NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

/* The instance's own settings. The common ones of a rule (plugin, name,
 * jurisdictions) are the host's: a table must not declare them again. */
static const vigil_setting template_settings[] = {
    {"votes", VIGIL_SET_LIST, NULL,
        "The votes and their blackout windows, in local time.", vote_settings,
        VIGIL_SET_REQUIRED, 0, 0},
    {"exempt", VIGIL_SET_STRINGS, NULL,
        "Authors the law exempts: author ids (exact) or handles (any case, "
        "with or without `@`).",
        NULL, 0, 0, 0},
    {"exempt_file", VIGIL_SET_STRING, NULL,
        "A file of more exempt authors, one a line, `#` comments; read "
        "again on reload.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"threshold", VIGIL_SET_FLOAT, "4",
        "Score at which a post is taken to publish poll results or a "
        "forecast.",
        NULL, 0, -1e6, 1e6},
    {"severity", VIGIL_SET_STRING, "alert",
        "Least severity of a finding: `notice`, `warning` or `alert`.", NULL, 0,
        0, 0},
    {"law", VIGIL_SET_GROUP, NULL, "The legal citation findings carry.",
        law_settings, 0, 0, 0},
    {"signals", VIGIL_SET_LIST, NULL,
        "Named signals: words, stems and regexes with a weight. The rule "
        "needs results, forecast, percent, election and reporting.",
        signal_settings, VIGIL_SET_REQUIRED, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

/* ------------------------------------------------------------ pure logic */

/* "notice", "warning" or "alert" into *sev; -1 for anything else. */
static int
parse_severity(const char *s, vigil_severity *sev)
{
	static const vigil_severity all[] = {
	    VIGIL_SEV_NOTICE, VIGIL_SEV_WARNING, VIGIL_SEV_ALERT};

	for (size_t i = 0; s != NULL && i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(s, vigil_severity_name(all[i])) == 0) {
			*sev = all[i];
			return 0;
		}
	return -1;
}

/* Which of the rule's signals fired, from the lexicon's hits. */
static void
fired_from_hits(const vigil_hit *hits, const int *sig, int *fired)
{
	for (int s = 0; s < S_COUNT; s++)
		fired[s] = hits[sig[s]].count > 0;
}

/* The sum of the weights of the signals that fired. */
static double
signal_score(const double *weight, const int *fired)
{
	double sum = 0;

	for (int s = 0; s < S_COUNT; s++)
		if (fired[s])
			sum += weight[s];
	return sum;
}

/* The rule's gate and threshold: results or a forecast, about a vote,
 * scoring at least the threshold. A reminder of the ban names poll
 * results too; the reporting signal's negative weight keeps it below. */
static int
publishes_poll(const int *fired, double score, double threshold)
{
	return (fired[S_RESULTS] || fired[S_FORECAST]) && fired[S_ELECTION] &&
	    score >= threshold;
}

/* "general-2025/blackout": the window's name in findings. Returns -1
 * when it had to be cut to fit buf. */
static int
window_label(char *buf, size_t len, const vigil_window *w)
{
	int n = snprintf(buf, len, "%s/%s", w->event, w->name);

	return n >= 0 && (size_t)n < len ? 0 : -1;
}

/* ------------------------------------------------------------ building */

/* Maps the rule's signals to the lexicon's indexes and weights. */
static int
bind_signals(const vigil_host *h, const vigil_cfg *cfg, const vigil_lexicon *lx,
    int *sig, double *weight, char *err, size_t errlen)
{
	if (h->lexicon_size(lx) > XX_MAX_SIGNALS) {
		snprintf(err, errlen, "%s: more than %d signals",
		    h->cfg_where(cfg, "signals"), XX_MAX_SIGNALS);
		return -1;
	}
	for (int s = 0; s < S_COUNT; s++) {
		if ((sig[s] = h->lexicon_index(lx, signal_names[s])) < 0) {
			snprintf(err, errlen,
			    "%s: signal \"%s\" is missing; the rule needs it",
			    h->cfg_where(cfg, "signals"), signal_names[s]);
			return -1;
		}
		weight[s] = h->lexicon_weight(lx, (size_t)sig[s]);
	}
	return 0;
}

static int
check_severity(const vigil_host *h, const vigil_cfg *cfg, vigil_severity *sev,
    char *err, size_t errlen)
{
	const char *s = h->cfg_string(cfg, "severity");

	if (parse_severity(s, sev) == 0)
		return 0;
	snprintf(err, errlen,
	    "%s: severity must be \"notice\", \"warning\" or \"alert\", not "
	    "\"%s\"",
	    h->cfg_where(cfg, "severity"), s);
	return -1;
}

/* Adds one vote's blackout to cal. */
static int
add_vote(const vigil_host *h, vigil_calendar *cal, const vigil_cfg *v,
    char *err, size_t errlen)
{
	size_t       nz    = h->cfg_count(v, "zones");
	const char **zones = calloc(nz ? nz : 1, sizeof(*zones));
	char         why[384];
	int          rc = -1;

	if (zones == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < nz; i++)
		zones[i] = h->cfg_string_at(v, "zones", i);
	if (h->calendar_add(cal, h->cfg_string(v, "name"), XX_WINDOW, zones, nz,
	        h->cfg_string(v, "blackout_start"),
	        h->cfg_string(v, "blackout_end"), why, sizeof(why)) == VIGIL_OK)
		rc = 0;
	else
		snprintf(err, errlen, "%s: %s", h->cfg_where(v, NULL), why);
	free(zones);
	return rc;
}

static vigil_calendar *
build_calendar(
    const vigil_host *h, const vigil_cfg *cfg, char *err, size_t errlen)
{
	vigil_calendar *cal = h->calendar_new();
	size_t          n   = h->cfg_count(cfg, "votes");

	if (cal == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const vigil_cfg *v    = h->cfg_list_at(cfg, "votes", i);
		const char      *name = h->cfg_string(v, "name");

		for (size_t j = 0; j < i; j++)
			if (strcmp(name,
			        h->cfg_string(h->cfg_list_at(cfg, "votes", j),
			            "name")) == 0) {
				snprintf(err, errlen,
				    "%s: vote \"%s\" is defined twice",
				    h->cfg_where(v, "name"), name);
				goto fail;
			}
		if (add_vote(h, cal, v, err, errlen) != 0)
			goto fail;
	}
	return cal;
fail:
	h->calendar_free(cal);
	return NULL;
}

/* Frees what build() made; x itself is the caller's. */
static void
release(xx *x)
{
	if (x->cal != NULL)
		x->host->calendar_free(x->cal);
	if (x->exempt != NULL)
		x->host->registry_free(x->exempt);
	if (x->lx != NULL)
		x->host->lexicon_free(x->lx);
	x->cal    = NULL;
	x->exempt = NULL;
	x->lx     = NULL;
}

/* Everything an instance holds, from its settings. validate and init
 * share it, so that `vigild -t` refuses exactly what init would. */
static int
build(xx *x, const vigil_cfg *cfg, char *err, size_t errlen)
{
	const vigil_host *h = x->host;
	const vigil_cfg  *law;

	/* The loader refuses a plugin built for a newer minor, not one
	 * that declares an older minor than the header it was built with:
	 * test a newer service before relying on it. */
	if (!VIGIL_HAS(h, registry_from_cfg)) {
		snprintf(err, errlen,
		    "%s: this vigil (ABI %u.%u) lacks the jurisdiction "
		    "services of ABI 1.1",
		    h->cfg_where(cfg, NULL), (unsigned)h->abi_major,
		    (unsigned)h->abi_minor);
		return -1;
	}
	if (check_severity(h, cfg, &x->severity, err, errlen) != 0 ||
	    (x->cal = build_calendar(h, cfg, err, errlen)) == NULL ||
	    (x->exempt = h->registry_from_cfg(
	         cfg, "exempt", "exempt_file", err, errlen)) == NULL ||
	    (x->lx = h->lexicon_from_cfg(cfg, "signals", err, errlen)) ==
	        NULL ||
	    bind_signals(h, cfg, x->lx, x->sig, x->weight, err, errlen) != 0) {
		release(x);
		return -1;
	}
	law          = h->cfg_group(cfg, "law");
	x->threshold = h->cfg_float(cfg, "threshold");
	x->law       = h->cfg_string(law, "law");
	x->article   = h->cfg_string(law, "article");
	x->penalty   = h->cfg_string(law, "penalty");
	return 0;
}

/* ------------------------------------------------------------ lifecycle */

/* Runs in vigild (at start, `vigild -t`, each reload, replay) and in
 * every worker; it may run many times, so it keeps nothing. */
static int
template_validate(
    const vigil_host *h, const vigil_cfg *cfg, char *err, size_t errlen)
{
	xx  x  = {.host = h};
	int rc = build(&x, cfg, err, errlen);

	release(&x);
	return rc == 0 ? VIGIL_OK : VIGIL_ERR;
}

static int
template_init(
    const vigil_host *h, vigil_ctx *ctx, const vigil_cfg *cfg, void **instance)
{
	char err[1024];
	xx  *x = calloc(1, sizeof(*x));

	if (x == NULL) {
		h->log(ctx, VIGIL_LOG_ERR, "out of memory");
		return VIGIL_ERR;
	}
	x->host = h;
	x->ctx  = ctx;
	if (build(x, cfg, err, sizeof(err)) != 0) {
		h->log(ctx, VIGIL_LOG_ERR, "%s", err);
		free(x);
		return VIGIL_ERR;
	}
	h->log(ctx, VIGIL_LOG_INFO,
	    "%zu blackout windows, %zu exempt authors, %zu signals",
	    h->calendar_count(x->cal), h->registry_size(x->exempt),
	    h->lexicon_size(x->lx));
	*instance = x;
	return VIGIL_OK;
}

static void
template_destroy(void *instance)
{
	xx *x = instance;

	if (x == NULL)
		return;
	release(x);
	free(x);
}

/* ------------------------------------------------------------ scoring */

/* One finding: citation, window, score, and each signal that counted. */
static int
add_finding(const xx *x, const vigil_post *post, const vigil_window *w,
    const vigil_hit *hits, const int *fired, double score, vigil_findings *out)
{
	const vigil_host *h = x->host;
	char              window[160];
	vigil_finding    *f;

	/* A cut label still names the vote: go on with it. */
	(void)window_label(window, sizeof(window), w);
	/* finding_add copies every string: window may live on the stack. */
	f = h->finding_add(out,
	    &(vigil_finding_spec){
	        .struct_size  = sizeof(vigil_finding_spec),
	        .rule         = XX_RULE,
	        .jurisdiction = XX_JURISDICTION,
	        .score        = score,
	        .floor        = x->severity,
	        .title   = "Poll results or an election forecast published "
	                   "during the blackout before a vote",
	        .law     = x->law,
	        .article = x->article,
	        .penalty = x->penalty,
	        .window  = window,
	        .window_start = w->start,
	        .window_end   = w->end,
	    });
	if (f == NULL)
		return VIGIL_ERR;
	for (int s = 0; s < S_COUNT; s++) {
		if (!fired[s])
			continue;
		/* A signal that counted against the post is no evidence of
		 * the offence: name it for reviewers, point at nothing. */
		if (x->weight[s] >= 0)
			h->finding_hit(f, post, x->lx, hits, (size_t)x->sig[s]);
		else if (h->finding_signal(f, signal_names[s], x->weight[s]) !=
		    VIGIL_OK)
			return VIGIL_ERR;
	}
	return VIGIL_OK;
}

static int
template_score(void *instance, const vigil_post *post, vigil_findings *out)
{
	const xx           *x = instance;
	const vigil_host   *h = x->host;
	const vigil_window *w;
	vigil_hit           hits[XX_MAX_SIGNALS];
	int                 fired[S_COUNT];
	double              score;

	/* Judge the post by when it was published, never by the clock; most
	 * posts fall outside every blackout and cost nothing more. */
	w = h->calendar_find(x->cal, XX_WINDOW, post->created_at);
	if (w == NULL || h->registry_has(x->exempt, post))
		return VIGIL_OK;
	if (h->lexicon_scan(x->lx, post, hits) != VIGIL_OK)
		return VIGIL_ERR;
	fired_from_hits(hits, x->sig, fired);
	score = signal_score(x->weight, fired);
	if (!publishes_poll(fired, score, x->threshold))
		return VIGIL_OK;
	return add_finding(x, post, w, hits, fired, score, out);
}

/* ------------------------------------------------------------ descriptor */

static const vigil_plugin template_plugin = {
    VIGIL_PLUGIN_HEADER,
    /* The file must be named rule_<name>.so: rename both together. */
    .name        = "template",
    .version     = "1.0.0",
    .kind        = VIGIL_PLUGIN_RULE,
    .description = "Xx (a fictional jurisdiction): poll results and "
                   "election forecasts published during the blackout "
                   "before a vote.",
    .settings    = template_settings,
    .validate    = template_validate,
    .init        = template_init,
    .destroy     = template_destroy,
    .score       = template_score,
};

/* The one exported symbol; build with -fvisibility=hidden. */
VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &template_plugin;
}
