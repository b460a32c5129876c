/*
 * test_template.c - unit tests of the template plugin, without the daemon:
 * its descriptor and settings table as the loader and the settings
 * checker see them, the way its signals combine, and the checks that
 * build() makes through a host table faked here.
 *
 * The test includes the plugin's source to reach its static functions.
 * The host is a vigil_host whose few services the tested code calls are
 * fakes; the lexicon is this file's own definition of the opaque struct.
 * Everything that needs the real host (calendars, folding, matching) is
 * tested by replaying posts.jsonl through vigild.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "template.c"

/* ------------------------------------------------------------ fake host */

struct vigil_lexicon {
	const char *const *names;
	const double      *weights;
	size_t             n;
};

static const char *fake_severity = "alert"; /* cfg_string("severity") */

static size_t
fake_lexicon_size(const vigil_lexicon *lx)
{
	return lx->n;
}

static int
fake_lexicon_index(const vigil_lexicon *lx, const char *name)
{
	for (size_t i = 0; i < lx->n; i++)
		if (strcmp(lx->names[i], name) == 0)
			return (int)i;
	return -1;
}

static double
fake_lexicon_weight(const vigil_lexicon *lx, size_t i)
{
	return i < lx->n ? lx->weights[i] : 0;
}

static const char *
fake_cfg_where(const vigil_cfg *cfg, const char *name)
{
	(void)cfg;
	return name != NULL && strcmp(name, "severity") == 0 ? "xx.conf:7"
	                                                     : "xx.conf:12";
}

static const char *
fake_cfg_string(const vigil_cfg *cfg, const char *name)
{
	(void)cfg;
	return strcmp(name, "severity") == 0 ? fake_severity : NULL;
}

static const vigil_host fake_host = {
    .abi_major      = VIGIL_ABI_MAJOR,
    .abi_minor      = VIGIL_ABI_MINOR,
    .struct_size    = sizeof(vigil_host),
    .cfg_string     = fake_cfg_string,
    .cfg_where      = fake_cfg_where,
    .lexicon_size   = fake_lexicon_size,
    .lexicon_index  = fake_lexicon_index,
    .lexicon_weight = fake_lexicon_weight,
};

/* The signals as template.conf defines them, in another order, with one
 * the rule does not use. */
static const char *const conf_names[] = {
    "election", "unused", "results", "forecast", "percent", "reporting"};
static const double        conf_weights[] = {1.0, 9.0, 3.0, 2.0, 1.5, -3.0};
static const vigil_lexicon conf_lexicon   = {conf_names, conf_weights, 6};

/* ------------------------------------------------------------ descriptor */

static void
test_entry_gives_a_rule_plugin(void **state)
{
	const vigil_plugin *d = vigil_plugin_entry();

	(void)state;
	assert_non_null(d);
	assert_ptr_equal(d, vigil_plugin_entry());
	/* What the loader checks first: the ABI this was built for. */
	assert_int_equal(d->abi_major, VIGIL_ABI_MAJOR);
	assert_int_equal(d->abi_minor, VIGIL_ABI_MINOR);
	assert_int_equal(d->struct_size, sizeof(vigil_plugin));
	/* The name is the file's: rule_template.so. */
	assert_int_equal(d->kind, VIGIL_PLUGIN_RULE);
	assert_string_equal(d->name, "template");
	assert_non_null(d->version);
	assert_true(strlen(d->description) > 0);
	/* A rule's callbacks; the loop-only ones stay NULL. */
	assert_non_null(d->validate);
	assert_non_null(d->init);
	assert_non_null(d->destroy);
	assert_non_null(d->score);
	assert_null(d->emit);
	assert_null(d->pause);
	assert_null(d->resume);
}

/* Names of a table, in order, and the table's length. */
static size_t
table_names(const vigil_setting *t, const char **names, size_t max)
{
	size_t n = 0;

	for (; t->name != NULL; t++) {
		assert_true(n < max);
		names[n++] = t->name;
	}
	return n;
}

static void
assert_table(const vigil_setting *t, const char *const *want, size_t n_want)
{
	const char *got[32];
	size_t      n = table_names(t, got, 32);

	assert_int_equal(n, n_want);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(got[i], want[i]);
}

static const vigil_setting *
setting(const vigil_setting *t, const char *name)
{
	for (; t->name != NULL; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	fail_msg("no setting %s", name);
	return NULL;
}

static void
test_settings_table(void **state)
{
	static const char *const top[]  = {"votes", "exempt", "exempt_file",
	     "threshold", "severity", "law", "signals"};
	static const char *const vote[] = {
	    "name", "title", "zones", "blackout_start", "blackout_end"};
	static const char *const law[]    = {"law", "article", "penalty"};
	static const char *const signal[] = {
	    "name", "weight", "terms", "stems", "regex"};
	const vigil_setting *d = vigil_plugin_entry()->settings;
	const vigil_setting *s;
	vigil_severity       sev;

	(void)state;
	assert_table(d, top, sizeof(top) / sizeof(top[0]));
	assert_table(setting(d, "votes")->children, vote, 5);
	assert_table(setting(d, "law")->children, law, 3);
	/* Signals follow VIGIL_SIGNAL_SETTINGS, as lexicon_from_cfg reads. */
	assert_table(setting(d, "signals")->children, signal, 5);
	/* The common settings of a rule belong to the host. */
	for (s = d; s->name != NULL; s++) {
		assert_string_not_equal(s->name, "plugin");
		assert_string_not_equal(s->name, "name");
		assert_string_not_equal(s->name, "jurisdictions");
		assert_non_null(s->description);
	}
	s = setting(d, "votes");
	assert_int_equal(s->type, VIGIL_SET_LIST);
	assert_true(s->flags & VIGIL_SET_REQUIRED);
	assert_true(setting(d, "signals")->flags & VIGIL_SET_REQUIRED);
	assert_true(setting(s->children, "zones")->flags & VIGIL_SET_REQUIRED);
	assert_int_equal(
	    setting(s->children, "zones")->type, VIGIL_SET_STRINGS);
	assert_true(setting(d, "exempt_file")->flags & VIGIL_SET_PATH);
	/* Defaults are text the checker parses: they must be valid. */
	s = setting(d, "threshold");
	assert_int_equal(s->type, VIGIL_SET_FLOAT);
	assert_true(s->min < s->max);
	assert_true(strtod(s->default_value, NULL) >= s->min &&
	    strtod(s->default_value, NULL) <= s->max);
	assert_int_equal(
	    parse_severity(setting(d, "severity")->default_value, &sev), 0);
	assert_int_equal(sev, VIGIL_SEV_ALERT);
}

/* ------------------------------------------------------------ logic */

static void
test_parse_severity(void **state)
{
	vigil_severity sev = VIGIL_SEV_NONE;

	(void)state;
	assert_int_equal(parse_severity("notice", &sev), 0);
	assert_int_equal(sev, VIGIL_SEV_NOTICE);
	assert_int_equal(parse_severity("warning", &sev), 0);
	assert_int_equal(sev, VIGIL_SEV_WARNING);
	assert_int_equal(parse_severity("none", &sev), -1);
	assert_int_equal(parse_severity("Alert", &sev), -1);
	assert_int_equal(parse_severity("", &sev), -1);
	assert_int_equal(parse_severity(NULL, &sev), -1);
	assert_int_equal(sev, VIGIL_SEV_WARNING); /* untouched on error */
}

/* fired[] from names. */
static void
fire(int *fired, const char *const *names, size_t n)
{
	memset(fired, 0, S_COUNT * sizeof(*fired));
	for (size_t i = 0; i < n; i++)
		for (int s = 0; s < S_COUNT; s++)
			if (strcmp(names[i], signal_names[s]) == 0)
				fired[s] = 1;
}

#define FIRE(fired, ...)                                                       \
	fire(fired, (const char *const[]){__VA_ARGS__},                        \
	    sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static void
test_signals_combine(void **state)
{
	double weight[S_COUNT];
	int    sig[S_COUNT], fired[S_COUNT];
	char   err[256];

	(void)state;
	assert_int_equal(bind_signals(&fake_host, NULL, &conf_lexicon, sig,
	                     weight, err, sizeof(err)),
	    0);
	/* Results with a figure, about a vote: 3 + 1.5 + 1. */
	FIRE(fired, "results", "percent", "election");
	assert_true(signal_score(weight, fired) == 5.5);
	assert_true(publishes_poll(fired, 5.5, 4));
	/* The threshold is reached at equality. */
	assert_true(publishes_poll(fired, 4, 4));
	assert_false(publishes_poll(fired, 3.99, 4));
	/* A forecast counts like results: 2 + 1.5 + 1. */
	FIRE(fired, "forecast", "percent", "election");
	assert_true(publishes_poll(fired, signal_score(weight, fired), 4));
	/* A reminder of the ban: 3 + 1 - 3 stays below. */
	FIRE(fired, "results", "election", "reporting");
	assert_true(signal_score(weight, fired) == 1.0);
	assert_false(publishes_poll(fired, signal_score(weight, fired), 4));
	/* Figures about anything but a vote: the gate holds it back,
	 * whatever the score. */
	FIRE(fired, "results", "percent");
	assert_false(publishes_poll(fired, 100, 4));
	/* A vote and a figure are not results. */
	FIRE(fired, "percent", "election");
	assert_false(publishes_poll(fired, 100, 4));
	/* A signal the rule does not use adds nothing. */
	FIRE(fired, "results", "election");
	assert_true(signal_score(weight, fired) == 4.0);
}

static void
test_fired_from_hits(void **state)
{
	vigil_hit hits[6] = {{0}};
	int       sig[S_COUNT], fired[S_COUNT];
	double    weight[S_COUNT];
	char      err[256];

	(void)state;
	assert_int_equal(bind_signals(&fake_host, NULL, &conf_lexicon, sig,
	                     weight, err, sizeof(err)),
	    0);
	hits[2].count = 2; /* results, at the lexicon's index 2 */
	hits[1].count = 5; /* unused */
	fired_from_hits(hits, sig, fired);
	assert_true(fired[S_RESULTS]);
	assert_false(fired[S_ELECTION]);
	assert_false(fired[S_FORECAST]);
	assert_false(fired[S_PERCENT]);
	assert_false(fired[S_REPORTING]);
}

static void
test_bind_signals(void **state)
{
	static const char *const some[] = {
	    "results", "forecast", "percent", "election"};
	static const double weights[] = {1, 1, 1, 1};
	const vigil_lexicon missing   = {some, weights, 4};
	const char         *many_names[XX_MAX_SIGNALS + 1];
	double              many_weights[XX_MAX_SIGNALS + 1] = {0};
	const vigil_lexicon many                             = {
	                                many_names, many_weights, XX_MAX_SIGNALS + 1};
	double weight[S_COUNT];
	int    sig[S_COUNT];
	char   err[256];

	(void)state;
	assert_int_equal(bind_signals(&fake_host, NULL, &conf_lexicon, sig,
	                     weight, err, sizeof(err)),
	    0);
	assert_int_equal(sig[S_ELECTION], 0);
	assert_int_equal(sig[S_RESULTS], 2);
	assert_int_equal(sig[S_REPORTING], 5);
	assert_true(weight[S_REPORTING] == -3.0);
	/* A signal the rule needs is missing: named, with file:line. */
	assert_int_equal(bind_signals(&fake_host, NULL, &missing, sig, weight,
	                     err, sizeof(err)),
	    -1);
	assert_string_equal(err,
	    "xx.conf:12: signal \"reporting\" is missing; the rule needs it");
	/* More signals than score() has room for on its stack. */
	for (size_t i = 0; i < XX_MAX_SIGNALS + 1; i++)
		many_names[i] = "x";
	assert_int_equal(bind_signals(&fake_host, NULL, &many, sig, weight, err,
	                     sizeof(err)),
	    -1);
	assert_string_equal(err, "xx.conf:12: more than 32 signals");
}

static void
test_check_severity(void **state)
{
	vigil_severity sev = VIGIL_SEV_NONE;
	char           err[256];

	(void)state;
	fake_severity = "warning";
	assert_int_equal(check_severity(&fake_host, NULL, &sev, err, 256), 0);
	assert_int_equal(sev, VIGIL_SEV_WARNING);
	fake_severity = "critical";
	assert_int_equal(check_severity(&fake_host, NULL, &sev, err, 256), -1);
	assert_string_equal(err,
	    "xx.conf:7: severity must be \"notice\", "
	    "\"warning\" or \"alert\", not \"critical\"");
	fake_severity = "alert";
}

static void
test_window_label(void **state)
{
	char         event[48];
	vigil_window w = {"general-2025", "blackout", 0, 1};
	char         buf[24];

	(void)state;
	assert_int_equal(window_label(buf, sizeof(buf), &w), 0);
	assert_string_equal(buf, "general-2025/blackout");
	/* A name longer than the buffer is cut, never overrun. */
	memset(event, 'v', sizeof(event) - 1);
	event[sizeof(event) - 1] = '\0';
	w.event                  = event;
	assert_int_equal(window_label(buf, sizeof(buf), &w), -1);
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_memory_equal(buf, event, sizeof(buf) - 1);
}

/* A host of ABI 1.0 ends before the jurisdiction services: build() says
 * so instead of calling past the end of the table. */
static void
test_refuses_a_host_without_1_1(void **state)
{
	vigil_host old = fake_host;
	xx         x;
	char       err[256];

	(void)state;
	old.abi_minor   = 0;
	old.struct_size = (uint32_t)offsetof(vigil_host, calendar_new);
	memset(&x, 0, sizeof(x));
	x.host = &old;
	assert_int_equal(build(&x, NULL, err, sizeof(err)), -1);
	assert_string_equal(err,
	    "xx.conf:12: this vigil (ABI 1.0) lacks the "
	    "jurisdiction services of ABI 1.1");
	assert_null(x.cal);
	assert_null(x.exempt);
	assert_null(x.lx);
	/* validate leaves nothing behind and says why. */
	assert_int_equal(
	    template_validate(&old, NULL, err, sizeof(err)), VIGIL_ERR);
	assert_non_null(strstr(err, "ABI 1.1"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_entry_gives_a_rule_plugin),
	    cmocka_unit_test(test_settings_table),
	    cmocka_unit_test(test_parse_severity),
	    cmocka_unit_test(test_signals_combine),
	    cmocka_unit_test(test_fired_from_hits),
	    cmocka_unit_test(test_bind_signals),
	    cmocka_unit_test(test_check_severity),
	    cmocka_unit_test(test_window_label),
	    cmocka_unit_test(test_refuses_a_host_without_1_1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
