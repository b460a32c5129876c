/*
 * fr.c - rule plugin: France's blackout on election polls.
 *
 *   fr.poll.blackout  publishing, distributing or commenting on election
 *                     polls, estimates or projections, by anyone, from
 *                     00:00 on the day before a round until the last
 *                     polling stations of metropolitan France close
 *                     (loi n° 77-808 du 19 juillet 1977, art. 11).
 *
 * Everything that changes with a vote or a law is data: the rounds and
 * their overseas voting days, the citation and the penalty, and the
 * signals with their words and weights (the host's lexicon service). Each
 * round's window is built from local times with the host's calendar
 * service: one piece for metropolitan France, from 00:00 on the day before
 * the round to the close of polls, and one piece per group of overseas
 * zones that votes earlier, from 00:00 local on the day before its vote.
 * The calendar spans one local time across the zones of a call, so the
 * pieces are added separately and the round's window is their union: it
 * opens at the earliest local start and closes in Paris.
 *
 * The code only says how signals combine, the rspamd way: the score is the
 * sum of the weights of the signals that fired, and the rule fires when
 * its gate holds (the post announces a poll, an estimate or coded results,
 * about a French election) and the score reaches the threshold.
 *
 * Scoring keeps per-call state on the stack and reads the instance only,
 * so it runs on several threads at once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

#define FR_JURISDICTION "fr"
#define FR_RULE         "fr.poll.blackout"
#define FR_MAX_SIGNALS  64
#define FR_MAX_ZONES    64
#define FR_MAX_EARLIER  7 /* days an overseas vote may precede the round */

/* Window names in the calendar. Each round adds one or more pieces of
 * each; the pieces of a round share its name as their event. */
#define W_BLACKOUT   "blackout"
#define W_VOTING_DAY "voting-day" /* local voting days, until polls close */

/* The signals the rule combines. Each must be defined in the instance's
 * `signals` list; its words and weight are data. */
enum {
	S_POLL_WORD,
	S_VOTE_INTENTION,
	S_ESTIMATE,
	S_CODED,
	S_CODE_FIGURE,
	S_CANDIDATE_SHARE,
	S_POLLSTER,
	S_CANDIDATE,
	S_ELECTION,
	S_FIGURES,
	S_SPLIT,
	S_COMMENTARY,
	S_BAN_TALK,
	S_OFFICIAL,
	S_PRACTICAL,
	S_FOREIGN,
	S_NONPUBLIC,
	S_COUNT
};

static const char *const signal_names[S_COUNT] = {
    [S_POLL_WORD]       = "poll_word",
    [S_VOTE_INTENTION]  = "vote_intention",
    [S_ESTIMATE]        = "estimate",
    [S_CODED]           = "coded",
    [S_CODE_FIGURE]     = "code_figure",
    [S_CANDIDATE_SHARE] = "candidate_share",
    [S_POLLSTER]        = "pollster",
    [S_CANDIDATE]       = "candidate",
    [S_ELECTION]        = "election",
    [S_FIGURES]         = "figures",
    [S_SPLIT]           = "split",
    [S_COMMENTARY]      = "commentary",
    [S_BAN_TALK]        = "ban_talk",
    [S_OFFICIAL]        = "official",
    [S_PRACTICAL]       = "practical",
    [S_FOREIGN]         = "foreign",
    [S_NONPUBLIC]       = "nonpublic",
};

/* A round as findings quote it. Strings point into the instance's
 * configuration, which the host keeps until destroy. */
typedef struct fr_round {
	const char *name;
	const char *title;
	int64_t     start, end; /* the union of its blackout pieces, UTC */
} fr_round;

typedef struct fr {
	const vigil_host *host;
	vigil_ctx        *ctx;
	vigil_calendar   *cal;
	vigil_lexicon    *lx;
	int               sig[S_COUNT]; /* lexicon index of each signal */
	double            threshold;
	const char       *law, *article, *penalty;
	fr_round         *rounds;
	size_t            n_rounds;
	vigil_counter    *c_findings;
} fr;

/* What one post showed. */
typedef struct fr_post {
	const vigil_post *post;
	vigil_hit         hits[FR_MAX_SIGNALS];
	int               fired[S_COUNT];
} fr_post;

/* ------------------------------------------------------------ settings */

static const vigil_setting signal_settings[] = {
    VIGIL_SIGNAL_SETTINGS,
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting overseas_settings[] = {
    {"zones", VIGIL_SET_STRINGS, NULL,
        "IANA time zones that vote on voting_day (tzdata names).", NULL,
        VIGIL_SET_REQUIRED, 0, 0},
    {"voting_day", VIGIL_SET_STRING, NULL,
        "Local date of their vote, `YYYY-MM-DD`: the round's day or up to "
        "seven days before.",
        NULL, VIGIL_SET_REQUIRED, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting round_settings[] = {
    {"name", VIGIL_SET_STRING, NULL,
        "Short name of the round, e.g. `presidential-2022-1`; unique.", NULL,
        VIGIL_SET_REQUIRED, 0, 0},
    {"title", VIGIL_SET_STRING, NULL, "What the round is, for people.", NULL, 0,
        0, 0},
    {"voting_day", VIGIL_SET_STRING, NULL,
        "Date of the round in metropolitan France, `YYYY-MM-DD`.", NULL,
        VIGIL_SET_REQUIRED, 0, 0},
    {"polls_close", VIGIL_SET_STRING, NULL,
        "Local time the last metropolitan polling stations close, when not "
        "the instance's.",
        NULL, 0, 0, 0},
    {"overseas", VIGIL_SET_LIST, NULL,
        "Zones that vote earlier (the Saturday): each group's day before "
        "its vote, from 00:00 local, opens the window.",
        overseas_settings, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting law_settings[] = {
    {"law", VIGIL_SET_STRING,
        "Loi n° 77-808 du 19 juillet 1977 relative à la publication et à la "
        "diffusion de certains sondages d'opinion",
        "The law the rule comes from.", NULL, 0, 0, 0},
    {"article", VIGIL_SET_STRING, "Art. 11",
        "Article that bans publishing, distributing and commenting on polls "
        "the day before and the day of each round.",
        NULL, 0, 0, 0},
    {"penalty", VIGIL_SET_STRING, "Art. 12: amende de 75 000 euros",
        "The penalty, as alerts quote it.", NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting fr_settings[] = {
    {"zone", VIGIL_SET_STRING, "Europe/Paris",
        "IANA time zone of metropolitan France, where each window closes.",
        NULL, 0, 0, 0},
    {"polls_close", VIGIL_SET_STRING, "20:00",
        "Local time the last metropolitan polling stations close on the day "
        "of a round.",
        NULL, 0, 0, 0},
    {"overseas_opening", VIGIL_SET_BOOL, "false",
        "Let the rounds' overseas voting days open the windows earlier "
        "(00:00 local on the day before each overseas vote); when false "
        "every window opens at 00:00 metropolitan time on the day before "
        "the round, and the overseas entries are only checked.",
        NULL, 0, 0, 0},
    {"rounds", VIGIL_SET_LIST, NULL, "The rounds of voting, in local time.",
        round_settings, VIGIL_SET_REQUIRED, 0, 0},
    {"law", VIGIL_SET_GROUP, NULL, "Legal citation quoted in findings.",
        law_settings, 0, 0, 0},
    {"threshold", VIGIL_SET_FLOAT, "4",
        "Score at which a post is taken to publish or comment on a poll.", NULL,
        0, -1e6, 1e6},
    {"signals", VIGIL_SET_LIST, NULL,
        "Named signals: words, stems and regexes with a weight. The rule "
        "needs poll_word, vote_intention, estimate, coded, code_figure, "
        "candidate_share, pollster, candidate, election, figures, split, "
        "commentary, "
        "ban_talk, official, practical, foreign and nonpublic.",
        signal_settings, VIGIL_SET_REQUIRED, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

/* ------------------------------------------------------------ building */

/* Reads the zones of an overseas group into zones[]. */
static int
group_zones(const vigil_host *h, const vigil_cfg *g, const char **zones,
    size_t *n, char *err, size_t errlen)
{
	*n = h->cfg_count(g, "zones");
	if (*n == 0 || *n > FR_MAX_ZONES) {
		snprintf(err, errlen,
		    "%s: an overseas group needs 1 to %d zones",
		    h->cfg_where(g, "zones"), FR_MAX_ZONES);
		return -1;
	}
	for (size_t i = 0; i < *n; i++)
		zones[i] = h->cfg_string_at(g, "zones", i);
	return 0;
}

/* Adds the pieces of one overseas group of round `name`, whose
 * metropolitan voting day is `day`: the blackout from 00:00 local on the
 * day before the group's vote to 00:00 local on the metropolitan day
 * (which, for any zone on Earth, falls inside the metropolitan piece, so
 * the union has no gap and still closes in Paris), and the group's own
 * voting day. */
static int
add_overseas(const vigil_host *h, vigil_calendar *cal, const char *name,
    const char *metro, const vigil_cfg *g, char *err, size_t errlen)
{
	const char *zones[FR_MAX_ZONES], *vote = h->cfg_string(g, "voting_day");
	char        eve[16], earliest[16], vote_end[32], why[384];
	size_t      nz;

	if (group_zones(h, g, zones, &nz, err, errlen) != 0)
		return -1;
	/* ISO dates compare as strings. */
	if (h->date_add_days(metro, -FR_MAX_EARLIER, earliest,
	        sizeof(earliest)) != VIGIL_OK ||
	    h->date_add_days(vote, -1, eve, sizeof(eve)) != VIGIL_OK ||
	    strlen(vote) != 10 || strcmp(vote, metro) > 0 ||
	    strcmp(vote, earliest) < 0) {
		snprintf(err, errlen,
		    "%s: round %s: overseas voting_day \"%s\" is not a date "
		    "(YYYY-MM-DD) on the round's day or up to %d days before",
		    h->cfg_where(g, "voting_day"), name, vote, FR_MAX_EARLIER);
		return -1;
	}
	snprintf(vote_end, sizeof(vote_end), "%s 24:00", vote);
	if (h->calendar_add(cal, name, W_BLACKOUT, zones, nz, eve, metro, why,
	        sizeof(why)) != 0 ||
	    h->calendar_add(cal, name, W_VOTING_DAY, zones, nz, vote, vote_end,
	        why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", h->cfg_where(g, NULL), why);
		return -1;
	}
	return 0;
}

/* Adds one round's pieces to cal; the overseas ones go to `overseas`,
 * which is cal itself or a scratch calendar that only checks them. */
static int
add_round(const vigil_host *h, const vigil_cfg *cfg, vigil_calendar *cal,
    vigil_calendar *overseas, const vigil_cfg *r, char *err, size_t errlen)
{
	const char *name  = h->cfg_string(r, "name");
	const char *vote  = h->cfg_string(r, "voting_day");
	const char *close = h->cfg_string(r, "polls_close");
	const char *zone  = h->cfg_string(cfg, "zone");
	char        eve[16], close_at[64], why[384];
	size_t      n = h->cfg_count(r, "overseas");

	if (close == NULL)
		close = h->cfg_string(cfg, "polls_close");
	if (strlen(vote) != 10 ||
	    h->date_add_days(vote, -1, eve, sizeof(eve)) != VIGIL_OK) {
		snprintf(err, errlen,
		    "%s: round %s: voting_day \"%s\" is not a date "
		    "(YYYY-MM-DD)",
		    h->cfg_where(r, "voting_day"), name, vote);
		return -1;
	}
	snprintf(close_at, sizeof(close_at), "%s %s", vote, close);
	if (h->calendar_add(cal, name, W_BLACKOUT, &zone, 1, eve, close_at, why,
	        sizeof(why)) != 0 ||
	    h->calendar_add(cal, name, W_VOTING_DAY, &zone, 1, vote, close_at,
	        why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", h->cfg_where(r, NULL), why);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (add_overseas(h, overseas, name, vote,
		        h->cfg_list_at(r, "overseas", i), err, errlen) != 0)
			return -1;
	return 0;
}

static int
check_unique(const vigil_host *h, const vigil_cfg *cfg, size_t i, char *err,
    size_t errlen)
{
	const vigil_cfg *r    = h->cfg_list_at(cfg, "rounds", i);
	const char      *name = h->cfg_string(r, "name");

	for (size_t j = 0; j < i; j++)
		if (strcmp(name,
		        h->cfg_string(
		            h->cfg_list_at(cfg, "rounds", j), "name")) == 0) {
			snprintf(err, errlen,
			    "%s: round \"%s\" is defined twice",
			    h->cfg_where(r, "name"), name);
			return -1;
		}
	return 0;
}

static vigil_calendar *
build_calendar(
    const vigil_host *h, const vigil_cfg *cfg, char *err, size_t errlen)
{
	vigil_calendar *cal = h->calendar_new(), *scratch = NULL;
	size_t          n       = h->cfg_count(cfg, "rounds");
	int             opening = h->cfg_bool(cfg, "overseas_opening");

	if (cal == NULL ||
	    (!opening && (scratch = h->calendar_new()) == NULL)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++)
		if (check_unique(h, cfg, i, err, errlen) != 0 ||
		    add_round(h, cfg, cal, opening ? cal : scratch,
		        h->cfg_list_at(cfg, "rounds", i), err, errlen) != 0)
			goto fail;
	h->calendar_free(scratch);
	return cal;
fail:
	h->calendar_free(scratch);
	h->calendar_free(cal);
	return NULL;
}

/* Maps the rule's signals to the lexicon's indexes. */
static int
bind_signals(const vigil_host *h, const vigil_cfg *cfg, const vigil_lexicon *lx,
    int *sig, char *err, size_t errlen)
{
	if (h->lexicon_size(lx) > FR_MAX_SIGNALS) {
		snprintf(err, errlen, "%s: more than %d signals",
		    h->cfg_where(cfg, "signals"), FR_MAX_SIGNALS);
		return -1;
	}
	for (int i = 0; i < S_COUNT; i++)
		if ((sig[i] = h->lexicon_index(lx, signal_names[i])) < 0) {
			snprintf(err, errlen,
			    "%s: signal \"%s\" is missing; the rule needs it",
			    h->cfg_where(cfg, "signals"), signal_names[i]);
			return -1;
		}
	return 0;
}

static int
fr_validate(const vigil_host *h, const vigil_cfg *cfg, char *err, size_t errlen)
{
	vigil_calendar *cal = NULL;
	vigil_lexicon  *lx  = NULL;
	int             sig[S_COUNT], rc = VIGIL_ERR;

	if ((cal = build_calendar(h, cfg, err, errlen)) != NULL &&
	    (lx = h->lexicon_from_cfg(cfg, "signals", err, errlen)) != NULL &&
	    bind_signals(h, cfg, lx, sig, err, errlen) == 0)
		rc = VIGIL_OK;
	h->calendar_free(cal);
	h->lexicon_free(lx);
	return rc;
}

static void
fr_destroy(void *instance)
{
	fr *f = instance;

	if (f == NULL)
		return;
	f->host->calendar_free(f->cal);
	f->host->lexicon_free(f->lx);
	free(f->rounds);
	free(f);
}

/* Each round's window: the union of its blackout pieces. */
static int
read_rounds(fr *f, const vigil_cfg *cfg)
{
	const vigil_host *h = f->host;
	size_t            n = h->cfg_count(cfg, "rounds");

	if ((f->rounds = calloc(n ? n : 1, sizeof(*f->rounds))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const vigil_cfg *r  = h->cfg_list_at(cfg, "rounds", i);
		fr_round        *rd = &f->rounds[f->n_rounds++];

		rd->name  = h->cfg_string(r, "name");
		rd->title = h->cfg_string(r, "title");
		rd->start = INT64_MAX;
		rd->end   = INT64_MIN;
		for (size_t j = 0; j < h->calendar_count(f->cal); j++) {
			const vigil_window *w = h->calendar_window(f->cal, j);

			if (strcmp(w->event, rd->name) != 0 ||
			    strcmp(w->name, W_BLACKOUT) != 0)
				continue;
			if (w->start < rd->start)
				rd->start = w->start;
			if (w->end > rd->end)
				rd->end = w->end;
		}
	}
	return 0;
}

static int
fr_init(
    const vigil_host *h, vigil_ctx *ctx, const vigil_cfg *cfg, void **instance)
{
	char             err[1024];
	fr              *f       = calloc(1, sizeof(*f));
	const vigil_cfg *law     = h->cfg_group(cfg, "law");
	int64_t          started = h->now_monotonic();

	if (f == NULL)
		return VIGIL_ERR;
	f->host = h;
	f->ctx  = ctx;
	if ((f->cal = build_calendar(h, cfg, err, sizeof(err))) == NULL ||
	    (f->lx = h->lexicon_from_cfg(cfg, "signals", err, sizeof(err))) ==
	        NULL ||
	    bind_signals(h, cfg, f->lx, f->sig, err, sizeof(err)) != 0) {
		h->log(ctx, VIGIL_LOG_ERR, "%s", err);
		fr_destroy(f);
		return VIGIL_ERR;
	}
	if (read_rounds(f, cfg) != 0) {
		h->log(ctx, VIGIL_LOG_ERR, "out of memory");
		fr_destroy(f);
		return VIGIL_ERR;
	}
	f->threshold  = h->cfg_float(cfg, "threshold");
	f->law        = h->cfg_string(law, "law");
	f->article    = h->cfg_string(law, "article");
	f->penalty    = h->cfg_string(law, "penalty");
	f->c_findings = h->counter(
	    ctx, "fr_findings_total", "Findings of the fr blackout rule.");
	/* Regexes with wide classes and bounded repeats can take Hyperscan
	 * seconds to compile: say how long loading took. */
	h->log(ctx, VIGIL_LOG_INFO,
	    "%zu rounds, %zu windows, %zu signals, overseas opening %s; "
	    "loaded in %.2f s",
	    f->n_rounds, h->calendar_count(f->cal), h->lexicon_size(f->lx),
	    h->cfg_bool(cfg, "overseas_opening") ? "on" : "off",
	    (double)(h->now_monotonic() - started) / 1e6);
	*instance = f;
	return VIGIL_OK;
}

/* ------------------------------------------------------------ scoring */

static int
fired(const fr_post *p, int s)
{
	return p->fired[s];
}

static double
weight(const fr *f, int s)
{
	return f->host->lexicon_weight(f->lx, (size_t)f->sig[s]);
}

/* Sum of the weights of the fired signals. */
static double
post_score(const fr *f, const fr_post *p)
{
	double sum = 0;

	for (int s = 0; s < S_COUNT; s++)
		if (fired(p, s))
			sum += weight(f, s);
	return sum;
}

/* Code words beside figures ("le petit suisse est à 27") stand for
 * results only on a voting day, when the count is what people wait for. */
static int
observe(const fr *f, fr_post *p, int voting_day)
{
	const vigil_host *h = f->host;

	if (h->lexicon_scan(f->lx, p->post, p->hits) != VIGIL_OK)
		return -1;
	for (int s = 0; s < S_COUNT; s++)
		p->fired[s] = p->hits[f->sig[s]].count > 0;
	if (!voting_day)
		p->fired[S_CODE_FIGURE] = 0;
	return 0;
}

/* The gate: the post announces a poll, an estimate, a candidate's share
 * of the vote or coded results, and is about an election in France. A
 * named French candidate or party, the words "intentions de vote" or a
 * code keep it French next to a foreign word (leaks come through Belgian
 * and Swiss media); an election word alone does not. */
static int
breaks_blackout(const fr *f, const fr_post *p)
{
	int announces = fired(p, S_POLL_WORD) || fired(p, S_VOTE_INTENTION) ||
	    fired(p, S_ESTIMATE) || fired(p, S_CODED) ||
	    fired(p, S_CODE_FIGURE) || fired(p, S_CANDIDATE_SHARE);
	int french = fired(p, S_CANDIDATE) || fired(p, S_VOTE_INTENTION) ||
	    fired(p, S_CODED) || fired(p, S_CODE_FIGURE) ||
	    (fired(p, S_ELECTION) && !fired(p, S_FOREIGN) &&
	        !fired(p, S_NONPUBLIC));

	return announces && french && post_score(f, p) >= f->threshold;
}

static const fr_round *
round_of(const fr *f, const vigil_window *w)
{
	for (size_t i = 0; i < f->n_rounds; i++)
		if (strcmp(f->rounds[i].name, w->event) == 0)
			return &f->rounds[i];
	return NULL;
}

static int
add_finding(
    const fr *f, const fr_post *p, const vigil_window *w, vigil_findings *out)
{
	const vigil_host *h  = f->host;
	const fr_round   *r  = round_of(f, w);
	vigil_finding    *fd = NULL;
	char              window[160], title[320];

	snprintf(window, sizeof(window), "%s/%s", w->event, w->name);
	snprintf(title, sizeof(title),
	    "Election poll, estimate or projection published or commented "
	    "on in the blackout before polls close: %s",
	    r != NULL && r->title != NULL ? r->title : w->event);
	vigil_finding_spec spec = {
	    .struct_size  = sizeof(spec),
	    .rule         = FR_RULE,
	    .jurisdiction = FR_JURISDICTION,
	    .score        = post_score(f, p),
	    .floor        = VIGIL_SEV_ALERT,
	    .title        = title,
	    .law          = f->law,
	    .article      = f->article,
	    .penalty      = f->penalty,
	    .window       = window,
	    .window_start = r != NULL ? r->start : w->start,
	    .window_end   = r != NULL ? r->end : w->end,
	};
	if ((fd = h->finding_add(out, &spec)) == NULL)
		return -1;
	for (int s = 0; s < S_COUNT; s++)
		if (fired(p, s))
			h->finding_hit(
			    fd, p->post, f->lx, p->hits, (size_t)f->sig[s]);
	if (f->c_findings != NULL)
		h->counter_add(f->c_findings, 1);
	return 0;
}

static int
fr_score(void *instance, const vigil_post *post, vigil_findings *out)
{
	const fr           *f = instance;
	const vigil_host   *h = f->host;
	const vigil_window *w;
	fr_post             p;
	int64_t             t = post->created_at;
	int                 voting_day;

	/* Most posts fall outside every window: nothing to scan for. */
	if ((w = h->calendar_find(f->cal, W_BLACKOUT, t)) == NULL)
		return VIGIL_OK;
	voting_day = h->calendar_find(f->cal, W_VOTING_DAY, t) != NULL;
	memset(&p, 0, sizeof(p));
	p.post = post;
	if (observe(f, &p, voting_day) != 0)
		return VIGIL_ERR;
	if (!breaks_blackout(f, &p))
		return VIGIL_OK;
	return add_finding(f, &p, w, out) == 0 ? VIGIL_OK : VIGIL_ERR;
}

static const vigil_plugin fr_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name        = "fr",
    .version     = "1.0.0",
    .kind        = VIGIL_PLUGIN_RULE,
    .description = "France: the ban on publishing, distributing or "
                   "commenting on election polls, estimates and "
                   "projections from the day before each round until the "
                   "last metropolitan polling stations close.",
    .settings    = fr_settings,
    .validate    = fr_validate,
    .init        = fr_init,
    .destroy     = fr_destroy,
    .score       = fr_score,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &fr_plugin;
}
