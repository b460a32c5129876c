/*
 * kz.c - rule plugin: Kazakhstan's rules on election polls and silence.
 *
 *   kz.poll.unregistered  an election poll conducted by an author who is
 *                         not a notified pollster, inside the restriction
 *                         on conducting polls;
 *   kz.poll.blackout      poll results, forecasts, other election research
 *                         or online votes published by anyone from the
 *                         fifth day before voting through the close of polls;
 *   kz.agitation.silence  campaigning on the day of silence or on voting
 *                         day before polls close.
 *
 * Everything that changes with an election or a law is data: the calendar
 * of each vote (resolved into UTC through the host's calendar service),
 * the registry of pollsters, the legal citations and penalties, and the
 * signals with their words and weights (the host's lexicon service). The
 * code only says how signals combine: the rspamd way, a rule's score is
 * the sum of the weights of the signals that fired, and a rule fires when
 * its gate holds and its score reaches the configured threshold. Which
 * window holds the post decides the severity; the contested window (the
 * announcement before the campaign, under the `campaign` reading) caps it
 * at warning.
 *
 * Scoring keeps per-call state on the stack and reads the instance only,
 * so it runs on several threads at once.
 */
/* strdup is POSIX: say so, for builds with -std=c11 outside the tree. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

#define KZ_JURISDICTION "kz"
#define KZ_MAX_SIGNALS  64
/* Options naming a party that make a platform poll a party poll ("Nur
 * Otan or Ak Zhol?"); one can be a word (Ауыл "village", Адал "halal"). */
#define KZ_PARTY_OPTIONS 2

/* The signals the rules combine. Each must be defined in the instance's
 * `signals` list (its words and weight are data); the structural ones
 * (native_poll, question, poll_topic) have no words: the plugin fires
 * them. */
enum {
	S_NATIVE_POLL,
	S_QUESTION,
	S_POLL_TOPIC,
	S_POLL_WORD,
	S_ANSWER_CALL,
	S_VOTE_QUESTION,
	S_VOTE_VERB,
	S_ELECTION,
	S_PARTY,
	S_KZ_CONTEXT,
	S_RESULTS,
	S_FORECAST,
	S_PERCENT,
	S_CAMPAIGN_CALL,
	S_CANDIDATE,
	S_REPORTING,
	S_PAST_RESULTS,
	S_FOREIGN,
	S_NONPUBLIC,
	S_COUNT
};

static const char *const signal_names[S_COUNT] = {
    [S_NATIVE_POLL]   = "native_poll",
    [S_QUESTION]      = "question",
    [S_POLL_TOPIC]    = "poll_topic",
    [S_POLL_WORD]     = "poll_word",
    [S_ANSWER_CALL]   = "answer_call",
    [S_VOTE_QUESTION] = "vote_question",
    [S_VOTE_VERB]     = "vote_verb",
    [S_ELECTION]      = "election",
    [S_PARTY]         = "party",
    [S_KZ_CONTEXT]    = "kz_context",
    [S_RESULTS]       = "results",
    [S_FORECAST]      = "forecast",
    [S_PERCENT]       = "percent",
    [S_CAMPAIGN_CALL] = "campaign_call",
    [S_CANDIDATE]     = "candidate",
    [S_REPORTING]     = "reporting",
    [S_PAST_RESULTS]  = "past_results",
    [S_FOREIGN]       = "foreign",
    [S_NONPUBLIC]     = "nonpublic",
};

/* The signals each rule sums; the others do not count toward it. */
static const int poll_signals[] = {S_NATIVE_POLL, S_QUESTION, S_POLL_TOPIC,
    S_POLL_WORD, S_ANSWER_CALL, S_VOTE_QUESTION, S_VOTE_VERB, S_ELECTION,
    S_PARTY, S_KZ_CONTEXT, S_REPORTING, S_FOREIGN, S_NONPUBLIC, -1};
static const int publication_signals[] = {S_RESULTS, S_FORECAST, S_PERCENT,
    S_ELECTION, S_PARTY, S_KZ_CONTEXT, S_VOTE_VERB, S_PAST_RESULTS, S_FOREIGN,
    S_NONPUBLIC, -1};
static const int agitation_signals[]   = {S_CAMPAIGN_CALL, S_PARTY, S_CANDIDATE,
      S_ELECTION, S_KZ_CONTEXT, S_REPORTING, S_FOREIGN, S_NONPUBLIC, -1};

/* Windows each election adds to the calendar, by name. */
#define W_PRE_CAMPAIGN  "announcement-to-campaign"
#define W_CAMPAIGN      "campaign-to-close-of-polls"
#define W_RESTRICTION   "announcement-to-close-of-polls"
#define W_BLACKOUT      "blackout"
#define W_SILENCE       "silence"
#define W_CAMPAIGN_ONLY "campaign" /* start to end of campaigning */

typedef struct kz_law {
	char *poll_law;
	char *poll_article;
	char *silence_law;
	char *silence_article;
	char *penalty;
} kz_law;

/* The law settings, in the instance's `law` group and in an election. */
static const char *const law_names[] = {
    "poll_law", "poll_article", "silence_law", "silence_article", "penalty"};
#define N_LAW (sizeof(law_names) / sizeof(law_names[0]))

typedef struct kz_election {
	char  *name;
	char  *title;
	kz_law law; /* NULL members: the instance's */
} kz_election;

typedef struct kz {
	const vigil_host *host;
	vigil_ctx        *ctx;
	vigil_calendar   *cal;
	vigil_registry   *registry;
	vigil_lexicon    *lx;
	int               sig[S_COUNT]; /* lexicon index of each signal */
	int               broad;        /* reading = "announcement" */
	double            min_poll, min_publication, min_agitation;
	kz_law            law;
	kz_election      *elections;
	size_t            n_elections;
	vigil_counter    *c_findings;
} kz;

/* What one post showed, computed once and read by each rule. */
typedef struct kz_post {
	const vigil_post *post;
	vigil_hit         hits[KZ_MAX_SIGNALS];
	int               fired[S_COUNT];
	int               relevant; /* about an election in Kazakhstan */
	unsigned          q_field;  /* where the question mark is */
	size_t            q_start;
} kz_post;

/* ------------------------------------------------------------ settings */

static const vigil_setting signal_settings[] = {
    VIGIL_SIGNAL_SETTINGS,
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting law_settings[] = {
    {"poll_law", VIGIL_SET_STRING,
        "Constitutional Law \"On Elections in the Republic of Kazakhstan\"",
        "The law the poll rules come from.", NULL, 0, 0, 0},
    {"poll_article", VIGIL_SET_STRING, "Art. 28 para 9",
        "Article on conducting and publishing election polls.", NULL, 0, 0, 0},
    {"silence_law", VIGIL_SET_STRING,
        "Constitutional Law \"On Elections in the Republic of Kazakhstan\"",
        "The law the silence rule comes from.", NULL, 0, 0, 0},
    {"silence_article", VIGIL_SET_STRING, "Art. 32",
        "Article on campaigning on the day of silence and voting day.", NULL, 0,
        0, 0},
    {"penalty", VIGIL_SET_STRING,
        "Code of Administrative Offenses, Art. 120 part 3: 15 MCI for a "
        "citizen, 30 MCI for an organisation",
        "The penalty, as alerts quote it.", NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting election_settings[] = {
    {"name", VIGIL_SET_STRING, NULL,
        "Short name of the vote, e.g. `mazhilis-2021`; unique.", NULL,
        VIGIL_SET_REQUIRED, 0, 0},
    {"title", VIGIL_SET_STRING, NULL, "What the vote is, for people.", NULL, 0,
        0, 0},
    {"zones", VIGIL_SET_STRINGS, NULL,
        "IANA time zones of the country's regions (tzdata names). Each "
        "window opens at its earliest local start and closes at its latest "
        "local end across them.",
        NULL, VIGIL_SET_REQUIRED, 0, 0},
    {"announced", VIGIL_SET_STRING, NULL,
        "Local date (or date and time) the election was called.", NULL,
        VIGIL_SET_REQUIRED, 0, 0},
    {"campaign_start", VIGIL_SET_STRING, NULL,
        "Local date and time the campaign opens.", NULL, VIGIL_SET_REQUIRED, 0,
        0},
    {"campaign_end", VIGIL_SET_STRING, NULL,
        "Local date and time the campaign closes (the start of the day of "
        "silence).",
        NULL, VIGIL_SET_REQUIRED, 0, 0},
    {"silence_day", VIGIL_SET_STRING, NULL,
        "Local date of the day of silence, the day before voting.", NULL,
        VIGIL_SET_REQUIRED, 0, 0},
    {"blackout_start", VIGIL_SET_STRING, NULL,
        "Local date the ban on publishing polls and forecasts starts "
        "(the fifth day before voting).",
        NULL, VIGIL_SET_REQUIRED, 0, 0},
    {"voting_day", VIGIL_SET_STRING, NULL, "Local date of the vote.", NULL,
        VIGIL_SET_REQUIRED, 0, 0},
    {"polls_close", VIGIL_SET_STRING, "20:00",
        "Local time polls close on voting day.", NULL, 0, 0, 0},
    {"poll_law", VIGIL_SET_STRING, NULL,
        "The poll law for this vote, when not the instance's (a referendum).",
        NULL, 0, 0, 0},
    {"poll_article", VIGIL_SET_STRING, NULL,
        "The poll article for this vote, when not the instance's.", NULL, 0, 0,
        0},
    {"silence_law", VIGIL_SET_STRING, NULL,
        "The silence law for this vote, when not the instance's.", NULL, 0, 0,
        0},
    {"silence_article", VIGIL_SET_STRING, NULL,
        "The silence article for this vote, when not the instance's.", NULL, 0,
        0, 0},
    {"penalty", VIGIL_SET_STRING, NULL,
        "The penalty for this vote, when not the instance's.", NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting threshold_settings[] = {
    {"poll", VIGIL_SET_FLOAT, "6",
        "Score at which a post is taken to conduct an election poll.", NULL, 0,
        -1e6, 1e6},
    {"publication", VIGIL_SET_FLOAT, "4",
        "Score at which a post is taken to publish poll results or a "
        "forecast.",
        NULL, 0, -1e6, 1e6},
    {"agitation", VIGIL_SET_FLOAT, "4",
        "Score at which a post is taken to campaign for a party or "
        "candidate.",
        NULL, 0, -1e6, 1e6},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting kz_settings[] = {
    {"reading", VIGIL_SET_STRING, "campaign",
        "When the restriction on conducting polls starts: `campaign` (the "
        "narrow reading; a poll between the announcement and the campaign "
        "is a warning) or `announcement` (the prosecutors' reading of "
        "December 2020; an alert from the announcement on).",
        NULL, 0, 0, 0},
    {"registry", VIGIL_SET_STRINGS, NULL,
        "Pollsters that notified the Central Election Commission: author "
        "ids (exact) or handles (any case, with or without `@`).",
        NULL, 0, 0, 0},
    {"registry_file", VIGIL_SET_STRING, NULL,
        "A file of more registry entries, one a line, `#` comments; read "
        "again on reload.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"elections", VIGIL_SET_LIST, NULL,
        "The votes and their calendars, in local time.", election_settings,
        VIGIL_SET_REQUIRED, 0, 0},
    {"active", VIGIL_SET_STRINGS, NULL,
        "Names of the elections to apply; all when unset.", NULL, 0, 0, 0},
    {"law", VIGIL_SET_GROUP, NULL, "Legal citations quoted in findings.",
        law_settings, 0, 0, 0},
    {"thresholds", VIGIL_SET_GROUP, NULL, "Scores at which each rule fires.",
        threshold_settings, 0, 0, 0},
    {"signals", VIGIL_SET_LIST, NULL,
        "Named signals: words, stems and regexes with a weight. The rules "
        "need native_poll, question, poll_topic, poll_word, answer_call, "
        "vote_question, vote_verb, election, party, kz_context, results, "
        "forecast, percent, campaign_call, candidate, reporting, "
        "past_results, foreign and nonpublic.",
        signal_settings, VIGIL_SET_REQUIRED, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

/* ------------------------------------------------------------ building */

static int
election_active(const vigil_host *h, const vigil_cfg *cfg, const char *name)
{
	size_t n = h->cfg_count(cfg, "active");

	if (n == 0)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (strcmp(h->cfg_string_at(cfg, "active", i), name) == 0)
			return 1;
	return 0;
}

/* "YYYY-MM-DD" and "HH:MM" into "YYYY-MM-DD HH:MM". */
static void
at_time(char *buf, size_t len, const char *day, const char *hhmm)
{
	snprintf(buf, len, "%.10s %s", day, hhmm);
}

/* Adds one election's windows to cal. */
static int
add_election(const vigil_host *h, vigil_calendar *cal, const vigil_cfg *e,
    int broad, char *err, size_t errlen)
{
	const char *name = h->cfg_string(e, "name");
	size_t      nz   = h->cfg_count(e, "zones");
	const char *zones[32], *close = h->cfg_string(e, "polls_close");
	char        close_at[64], why[384];
	int         rc;

	if (nz > sizeof(zones) / sizeof(zones[0])) {
		snprintf(err, errlen, "%s: election %s: more than %zu zones",
		    h->cfg_where(e, "zones"), name,
		    sizeof(zones) / sizeof(zones[0]));
		return -1;
	}
	for (size_t i = 0; i < nz; i++)
		zones[i] = h->cfg_string_at(e, "zones", i);
	at_time(
	    close_at, sizeof(close_at), h->cfg_string(e, "voting_day"), close);
	if (broad)
		rc = h->calendar_add(cal, name, W_RESTRICTION, zones, nz,
		    h->cfg_string(e, "announced"), close_at, why, sizeof(why));
	else
		rc =
		    h->calendar_add(cal, name, W_PRE_CAMPAIGN, zones, nz,
		        h->cfg_string(e, "announced"),
		        h->cfg_string(e, "campaign_start"), why, sizeof(why)) ||
		    h->calendar_add(cal, name, W_CAMPAIGN, zones, nz,
		        h->cfg_string(e, "campaign_start"), close_at, why,
		        sizeof(why));
	if (rc == 0)
		rc = h->calendar_add(cal, name, W_CAMPAIGN_ONLY, zones, nz,
		    h->cfg_string(e, "campaign_start"),
		    h->cfg_string(e, "campaign_end"), why, sizeof(why));
	if (rc == 0)
		rc = h->calendar_add(cal, name, W_BLACKOUT, zones, nz,
		         h->cfg_string(e, "blackout_start"), close_at, why,
		         sizeof(why)) ||
		    h->calendar_add(cal, name, W_SILENCE, zones, nz,
		        h->cfg_string(e, "silence_day"), close_at, why,
		        sizeof(why));
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", h->cfg_where(e, NULL), why);
		return -1;
	}
	return 0;
}

static vigil_calendar *
build_calendar(const vigil_host *h, const vigil_cfg *cfg, int broad, char *err,
    size_t errlen)
{
	vigil_calendar *cal = h->calendar_new();
	size_t          n   = h->cfg_count(cfg, "elections");

	if (cal == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const vigil_cfg *e    = h->cfg_list_at(cfg, "elections", i);
		const char      *name = h->cfg_string(e, "name");

		for (size_t j = 0; j < i; j++)
			if (strcmp(name,
			        h->cfg_string(
			            h->cfg_list_at(cfg, "elections", j),
			            "name")) == 0) {
				snprintf(err, errlen,
				    "%s: election \"%s\" is defined twice",
				    h->cfg_where(e, "name"), name);
				goto fail;
			}
		if (election_active(h, cfg, name) &&
		    add_election(h, cal, e, broad, err, errlen) != 0)
			goto fail;
	}
	return cal;
fail:
	h->calendar_free(cal);
	return NULL;
}

static int
check_reading(const vigil_host *h, const vigil_cfg *cfg, int *broad, char *err,
    size_t errlen)
{
	const char *r = h->cfg_string(cfg, "reading");

	if (strcmp(r, "campaign") == 0)
		*broad = 0;
	else if (strcmp(r, "announcement") == 0)
		*broad = 1;
	else {
		snprintf(err, errlen,
		    "%s: reading must be \"campaign\" or \"announcement\", not "
		    "\"%s\"",
		    h->cfg_where(cfg, "reading"), r);
		return -1;
	}
	return 0;
}

static int
check_active(
    const vigil_host *h, const vigil_cfg *cfg, char *err, size_t errlen)
{
	size_t n = h->cfg_count(cfg, "active"),
	       m = h->cfg_count(cfg, "elections");

	for (size_t i = 0; i < n; i++) {
		const char *want  = h->cfg_string_at(cfg, "active", i);
		int         found = 0;

		for (size_t j = 0; j < m && !found; j++)
			found = strcmp(want,
			            h->cfg_string(
			                h->cfg_list_at(cfg, "elections", j),
			                "name")) == 0;
		if (!found) {
			snprintf(err, errlen,
			    "%s: active names election \"%s\", which is not "
			    "among the elections",
			    h->cfg_where(cfg, "active"), want);
			return -1;
		}
	}
	return 0;
}

/* Maps the rules' signals to the lexicon's indexes. */
static int
bind_signals(const vigil_host *h, const vigil_cfg *cfg, const vigil_lexicon *lx,
    int *sig, char *err, size_t errlen)
{
	if (h->lexicon_size(lx) > KZ_MAX_SIGNALS) {
		snprintf(err, errlen, "%s: more than %d signals",
		    h->cfg_where(cfg, "signals"), KZ_MAX_SIGNALS);
		return -1;
	}
	for (int i = 0; i < S_COUNT; i++)
		if ((sig[i] = h->lexicon_index(lx, signal_names[i])) < 0) {
			snprintf(err, errlen,
			    "%s: signal \"%s\" is missing; the rules need it",
			    h->cfg_where(cfg, "signals"), signal_names[i]);
			return -1;
		}
	return 0;
}

static int
kz_validate(const vigil_host *h, const vigil_cfg *cfg, char *err, size_t errlen)
{
	vigil_calendar *cal = NULL;
	vigil_registry *reg = NULL;
	vigil_lexicon  *lx  = NULL;
	int             broad, sig[S_COUNT], rc = VIGIL_ERR;

	if (check_reading(h, cfg, &broad, err, errlen) != 0 ||
	    check_active(h, cfg, err, errlen) != 0)
		return VIGIL_ERR;
	if ((cal = build_calendar(h, cfg, broad, err, errlen)) == NULL ||
	    (reg = h->registry_from_cfg(
	         cfg, "registry", "registry_file", err, errlen)) == NULL ||
	    (lx = h->lexicon_from_cfg(cfg, "signals", err, errlen)) == NULL ||
	    bind_signals(h, cfg, lx, sig, err, errlen) != 0)
		goto out;
	rc = VIGIL_OK;
out:
	h->calendar_free(cal);
	h->registry_free(reg);
	h->lexicon_free(lx);
	return rc;
}

static char **
law_slot(kz_law *l, size_t i)
{
	char **slots[N_LAW] = {&l->poll_law, &l->poll_article, &l->silence_law,
	    &l->silence_article, &l->penalty};

	return slots[i];
}

static void
law_free(kz_law *l)
{
	for (size_t i = 0; i < N_LAW; i++)
		free(*law_slot(l, i));
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* Copies the law settings of group g (NULL: none). */
static int
law_read(const vigil_host *h, const vigil_cfg *g, kz_law *l)
{
	memset(l, 0, sizeof(*l));
	for (size_t i = 0; g != NULL && i < N_LAW; i++) {
		const char *v = h->cfg_string(g, law_names[i]);

		if (v != NULL && (*law_slot(l, i) = strdup(v)) == NULL) {
			law_free(l);
			return -1;
		}
	}
	return 0;
}

static void
kz_destroy(void *instance)
{
	kz *k = instance;

	if (k == NULL)
		return;
	k->host->calendar_free(k->cal);
	k->host->registry_free(k->registry);
	k->host->lexicon_free(k->lx);
	law_free(&k->law);
	for (size_t i = 0; i < k->n_elections; i++) {
		free(k->elections[i].name);
		free(k->elections[i].title);
		law_free(&k->elections[i].law);
	}
	free(k->elections);
	free(k);
}

static int
read_elections(kz *k, const vigil_cfg *cfg)
{
	const vigil_host *h = k->host;
	size_t            n = h->cfg_count(cfg, "elections");

	if ((k->elections = calloc(n ? n : 1, sizeof(*k->elections))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const vigil_cfg *e  = h->cfg_list_at(cfg, "elections", i);
		kz_election     *el = &k->elections[k->n_elections++];

		el->name  = strdup(h->cfg_string(e, "name"));
		el->title = dup_or_null(h->cfg_string(e, "title"));
		if (el->name == NULL ||
		    (h->cfg_string(e, "title") && el->title == NULL) ||
		    law_read(h, e, &el->law) != 0)
			return -1;
	}
	return 0;
}

static int
kz_init(
    const vigil_host *h, vigil_ctx *ctx, const vigil_cfg *cfg, void **instance)
{
	char    err[1024];
	kz     *k       = calloc(1, sizeof(*k));
	int64_t started = h->now_monotonic();

	if (k == NULL)
		return VIGIL_ERR;
	k->host = h;
	k->ctx  = ctx;
	if (check_reading(h, cfg, &k->broad, err, sizeof(err)) != 0 ||
	    (k->cal = build_calendar(h, cfg, k->broad, err, sizeof(err))) ==
	        NULL ||
	    (k->registry = h->registry_from_cfg(
	         cfg, "registry", "registry_file", err, sizeof(err))) == NULL ||
	    (k->lx = h->lexicon_from_cfg(cfg, "signals", err, sizeof(err))) ==
	        NULL ||
	    bind_signals(h, cfg, k->lx, k->sig, err, sizeof(err)) != 0) {
		h->log(ctx, VIGIL_LOG_ERR, "%s", err);
		kz_destroy(k);
		return VIGIL_ERR;
	}
	if (law_read(h, h->cfg_group(cfg, "law"), &k->law) != 0 ||
	    read_elections(k, cfg) != 0) {
		h->log(ctx, VIGIL_LOG_ERR, "out of memory");
		kz_destroy(k);
		return VIGIL_ERR;
	}
	k->min_poll = h->cfg_float(h->cfg_group(cfg, "thresholds"), "poll");
	k->min_publication =
	    h->cfg_float(h->cfg_group(cfg, "thresholds"), "publication");
	k->min_agitation =
	    h->cfg_float(h->cfg_group(cfg, "thresholds"), "agitation");
	k->c_findings = h->counter(ctx, "kz_findings_total",
	    "Findings of the kz rules, all rules together.");
	/* Regexes with wide classes and bounded repeats can take Hyperscan
	 * seconds to compile: say how long loading took. */
	h->log(ctx, VIGIL_LOG_INFO,
	    "%zu windows, %zu registry entries, %zu signals, reading %s; "
	    "loaded in %.2f s",
	    h->calendar_count(k->cal), h->registry_size(k->registry),
	    h->lexicon_size(k->lx), k->broad ? "announcement" : "campaign",
	    (double)(h->now_monotonic() - started) / 1e6);
	*instance = k;
	return VIGIL_OK;
}

/* ------------------------------------------------------------ scoring */

static int
fired(const kz_post *p, int s)
{
	return p->fired[s];
}

/* Sum of the weights of the fired signals among list. */
static double
rule_score(const kz *k, const kz_post *p, const int *list)
{
	double sum = 0;

	for (; *list >= 0; list++)
		if (fired(p, *list))
			sum += k->host->lexicon_weight(
			    k->lx, (size_t)k->sig[*list]);
	return sum;
}

/* The first '?' of s outside quotation marks (« », „ “, “ ”, " "), or
 * NULL: a question quoted from elsewhere ("my poll «За кого?» got me
 * summoned") is reported, not asked. When the marks do not pair up,
 * which is inside cannot be told: the first '?' then counts. */
static const char *
unquoted_question(const char *s, size_t len)
{
	const unsigned char *u     = (const unsigned char *)s;
	const char          *first = len > 0 ? memchr(s, '?', len) : NULL;
	int                  depth = 0, ascii = 0;

	for (size_t i = 0; i < len; i++) {
		int ldquo = i + 2 < len && u[i] == 0xE2 && u[i + 1] == 0x80;

		if (u[i] == '"')
			ascii = !ascii;
		else if (u[i] == '?' && depth == 0 && !ascii)
			return s + i;
		else if (i + 1 < len && u[i] == 0xC2 && u[i + 1] == 0xAB)
			depth++; /* « */
		else if (i + 1 < len && u[i] == 0xC2 && u[i + 1] == 0xBB)
			depth -= depth > 0; /* » */
		else if (ldquo && u[i + 2] == 0x9E)
			depth++; /* „ */
		else if (ldquo && u[i + 2] == 0x9C)
			depth += depth > 0 ? -1 : 1; /* “ closes „, opens ” */
		else if (ldquo && u[i + 2] == 0x9D)
			depth -= depth > 0; /* ” */
	}
	return depth > 0 || ascii ? first : NULL;
}

/* The first unquoted '?' in the poll question, else in the text. */
static int
find_question(kz_post *p)
{
	const vigil_post *post = p->post;
	const char       *q;

	if (post->has_poll &&
	    (q = unquoted_question(
	         post->poll_question.ptr, post->poll_question.len)) != NULL) {
		p->q_field = VIGIL_FIELD_POLL_QUESTION;
		p->q_start = (size_t)(q - post->poll_question.ptr);
		return 1;
	}
	if ((q = unquoted_question(post->text.ptr, post->text.len)) != NULL) {
		p->q_field = VIGIL_FIELD_TEXT;
		p->q_start = (size_t)(q - post->text.ptr);
		return 1;
	}
	return 0;
}

/* Options (fields 2 and up) in which signal s matched. */
static unsigned
options_with(const kz *k, const kz_post *p, int s)
{
	uint64_t bits = p->hits[k->sig[s]].fields >> VIGIL_FIELD_POLL_OPTION(0);
	unsigned n    = 0;

	for (; bits != 0; bits &= bits - 1)
		n++;
	return n;
}

/* A platform poll about the election: its question names it, or its
 * options are parties, whatever the question says ("Опрос", "Кто
 * победит в воскресенье?"). */
static int
poll_topic(const kz *k, const kz_post *p)
{
	uint64_t in_question = UINT64_C(1) << VIGIL_FIELD_POLL_QUESTION;

	return p->post->has_poll &&
	    ((p->hits[k->sig[S_ELECTION]].fields & in_question) != 0 ||
	        options_with(k, p, S_PARTY) >= KZ_PARTY_OPTIONS);
}

static int
observe(const kz *k, kz_post *p)
{
	const vigil_host *h = k->host;
	int               electoral, party_vote, local_kz, elsewhere;

	if (h->lexicon_scan(k->lx, p->post, p->hits) != VIGIL_OK)
		return -1;
	for (int s = 0; s < S_COUNT; s++)
		p->fired[s] = p->hits[k->sig[s]].count > 0;
	p->fired[S_NATIVE_POLL] = p->post->has_poll;
	p->fired[S_QUESTION]    = find_question(p);
	p->fired[S_POLL_TOPIC]  = poll_topic(k, p);
	/* About an election at all (a place name alone is not), and not one
	 * abroad or in a school: party names that are also common words
	 * (ауыл, адал) anchor it in Kazakhstan only beside an election word. */
	electoral = fired(p, S_PARTY) || fired(p, S_ELECTION) ||
	    fired(p, S_VOTE_QUESTION);
	party_vote  = fired(p, S_PARTY) && fired(p, S_ELECTION);
	local_kz    = fired(p, S_KZ_CONTEXT) || party_vote;
	elsewhere   = fired(p, S_FOREIGN) || fired(p, S_NONPUBLIC);
	p->relevant = electoral && (local_kz || !elsewhere);
	/* A Kazakh party beside an election word puts the post in real
	 * politics: a school or a show named elsewhere in it (a digest's
	 * other news) does not make its vote a school's or a show's. */
	if (party_vote)
		p->fired[S_NONPUBLIC] = 0;
	return 0;
}

static int
conducts_poll(const kz *k, const kz_post *p)
{
	int asks = fired(p, S_NATIVE_POLL) || fired(p, S_ANSWER_CALL) ||
	    (fired(p, S_POLL_WORD) && fired(p, S_VOTE_QUESTION) &&
	        fired(p, S_QUESTION));

	return asks && p->relevant &&
	    rule_score(k, p, poll_signals) >= k->min_poll;
}

/* Results and forecasts give figures, or at least announce themselves;
 * a post in news or legal wording that mentions results or forecasts
 * without a figure (a reminder of the ban, a prosecutor's warning that
 * names a party) reports on them. */
static int
publishes_results(const kz *k, const kz_post *p)
{
	int says_what = fired(p, S_PERCENT) || !fired(p, S_REPORTING);

	return (fired(p, S_RESULTS) || fired(p, S_FORECAST)) && says_what &&
	    p->relevant &&
	    rule_score(k, p, publication_signals) >= k->min_publication;
}

static int
campaigns(const kz *k, const kz_post *p)
{
	return fired(p, S_CAMPAIGN_CALL) &&
	    (fired(p, S_PARTY) || fired(p, S_CANDIDATE)) &&
	    (fired(p, S_PARTY) || fired(p, S_KZ_CONTEXT) ||
	        !fired(p, S_FOREIGN)) &&
	    rule_score(k, p, agitation_signals) >= k->min_agitation;
}

static const kz_election *
election_of(const kz *k, const vigil_window *w)
{
	for (size_t i = 0; i < k->n_elections; i++)
		if (strcmp(k->elections[i].name, w->event) == 0)
			return &k->elections[i];
	return NULL;
}

static const char *
law_pick(const char *own, const char *instance)
{
	return own != NULL ? own : instance;
}

typedef struct kz_rule {
	const char    *id;
	const char    *title;
	const int     *signals;
	vigil_severity floor, cap;
	int            silence; /* cite the silence article */
} kz_rule;

static int
add_finding(const kz *k, const kz_post *p, const kz_rule *r,
    const vigil_window *w, vigil_findings *out)
{
	const vigil_host  *h  = k->host;
	const kz_election *el = election_of(k, w);
	char               window[160];
	vigil_finding     *f;
	const char        *law, *article;

	snprintf(window, sizeof(window), "%s/%s", w->event, w->name);
	law                     = r->silence
	                        ? law_pick(el ? el->law.silence_law : NULL, k->law.silence_law)
	                        : law_pick(el ? el->law.poll_law : NULL, k->law.poll_law);
	article                 = r->silence
	                    ? law_pick(
	                          el ? el->law.silence_article : NULL, k->law.silence_article)
	                    : law_pick(el ? el->law.poll_article : NULL, k->law.poll_article);
	vigil_finding_spec spec = {
	    .struct_size  = sizeof(spec),
	    .rule         = r->id,
	    .jurisdiction = KZ_JURISDICTION,
	    .score        = rule_score(k, p, r->signals),
	    .floor        = r->floor,
	    .cap          = r->cap,
	    .title        = r->title,
	    .law          = law,
	    .article      = article,
	    .penalty = law_pick(el ? el->law.penalty : NULL, k->law.penalty),
	    .window  = window,
	    .window_start = w->start,
	    .window_end   = w->end,
	};
	if ((f = h->finding_add(out, &spec)) == NULL)
		return -1;
	for (const int *s = r->signals; *s >= 0; s++) {
		if (!fired(p, *s))
			continue;
		if (*s == S_NATIVE_POLL || *s == S_QUESTION ||
		    *s == S_POLL_TOPIC) {
			h->finding_signal(f, signal_names[*s],
			    h->lexicon_weight(k->lx, (size_t)k->sig[*s]));
			if (*s == S_QUESTION)
				h->finding_evidence(f, p->post, p->q_field,
				    p->q_start, p->q_start + 1);
			continue;
		}
		h->finding_hit(f, p->post, k->lx, p->hits, (size_t)k->sig[*s]);
	}
	if (k->c_findings != NULL)
		h->counter_add(k->c_findings, 1);
	return 0;
}

static const kz_rule rule_unregistered = {
    .id      = "kz.poll.unregistered",
    .title   = "Election poll conducted by an author who did not notify "
               "the CEC, during the campaign",
    .signals = poll_signals,
    .floor   = VIGIL_SEV_ALERT,
};
static const kz_rule rule_unregistered_contested = {
    .id      = "kz.poll.unregistered",
    .title   = "Election poll conducted by an author who did not notify "
               "the CEC, after the announcement but before the campaign "
               "(contested reading)",
    .signals = poll_signals,
    .floor   = VIGIL_SEV_WARNING,
    .cap     = VIGIL_SEV_WARNING,
};
static const kz_rule rule_unregistered_broad = {
    .id      = "kz.poll.unregistered",
    .title   = "Election poll conducted by an author who did not notify "
               "the CEC, after the election was announced",
    .signals = poll_signals,
    .floor   = VIGIL_SEV_ALERT,
};
static const kz_rule rule_blackout_vote = {
    .id      = "kz.poll.blackout",
    .title   = "Online vote on the election during the five-day blackout",
    .signals = poll_signals,
    .floor   = VIGIL_SEV_ALERT,
};
static const kz_rule rule_blackout_results = {
    .id      = "kz.poll.blackout",
    .title   = "Poll results or election forecast published during the "
               "five-day blackout",
    .signals = publication_signals,
    .floor   = VIGIL_SEV_ALERT,
};
static const kz_rule rule_silence = {
    .id      = "kz.agitation.silence",
    .title   = "Campaigning for a party or candidate on the day of "
               "silence or before polls close",
    .signals = agitation_signals,
    .floor   = VIGIL_SEV_ALERT,
    .silence = 1,
};

static int
judge_poll(const kz *k, const kz_post *p, int64_t t, vigil_findings *out)
{
	const vigil_host   *h = k->host;
	const vigil_window *w;
	int                 rc = 0;

	if (!h->registry_has(k->registry, p->post)) {
		if (k->broad &&
		    (w = h->calendar_find(k->cal, W_RESTRICTION, t)) != NULL)
			rc |=
			    add_finding(k, p, &rule_unregistered_broad, w, out);
		else if ((w = h->calendar_find(k->cal, W_CAMPAIGN, t)) != NULL)
			rc |= add_finding(k, p, &rule_unregistered, w, out);
		else if ((w = h->calendar_find(k->cal, W_PRE_CAMPAIGN, t)) !=
		    NULL)
			rc |= add_finding(
			    k, p, &rule_unregistered_contested, w, out);
	}
	if ((w = h->calendar_find(k->cal, W_BLACKOUT, t)) != NULL)
		rc |= add_finding(k, p, &rule_blackout_vote, w, out);
	return rc;
}

static int
kz_score(void *instance, const vigil_post *post, vigil_findings *out)
{
	const kz           *k = instance;
	const vigil_host   *h = k->host;
	kz_post             p;
	const vigil_window *blackout, *silence;
	int64_t             t  = post->created_at;
	int                 rc = 0;

	/* Most posts fall outside every window: nothing to scan for. */
	if (h->calendar_find(k->cal, NULL, t) == NULL)
		return VIGIL_OK;
	memset(&p, 0, sizeof(p));
	p.post = post;
	if (observe(k, &p) != 0)
		return VIGIL_ERR;
	if (conducts_poll(k, &p))
		rc |= judge_poll(k, &p, t, out);
	else if (publishes_results(k, &p) &&
	    (blackout = h->calendar_find(k->cal, W_BLACKOUT, t)) != NULL)
		rc |= add_finding(k, &p, &rule_blackout_results, blackout, out);
	if (campaigns(k, &p) &&
	    (silence = h->calendar_find(k->cal, W_SILENCE, t)) != NULL)
		rc |= add_finding(k, &p, &rule_silence, silence, out);
	return rc == 0 ? VIGIL_OK : VIGIL_ERR;
}

static const vigil_plugin kz_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name        = "kz",
    .version     = "1.0.0",
    .kind        = VIGIL_PLUGIN_RULE,
    .description = "Kazakhstan: election polls by unregistered pollsters, "
                   "the five-day blackout on polls and forecasts, and "
                   "campaigning on the day of silence.",
    .settings    = kz_settings,
    .validate    = kz_validate,
    .init        = kz_init,
    .destroy     = kz_destroy,
    .score       = kz_score,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &kz_plugin;
}
