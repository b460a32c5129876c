/*
 * test_verdict.c - findings and verdicts: severities from thresholds with
 * floors and caps, what findings_add refuses, evidence excerpts cut
 * between UTF-8 characters, the verdict JSON to the byte, alert ids, and
 * the error verdict.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "post.h"
#include "text.h"
#include "util.h"
#include "verdict.h"

#define DEV003_TEXT                                                            \
	"Друзья, проводим опрос! За кого проголосуете на выборах 10 января?"

static const char dev003[] =
    "{\"id\": \"dev-003\", \"platform\": \"facebook\", "
    "\"channel\": \"fb:page/aigerim.blog\", "
    "\"author\": {\"id\": \"fb:100004\", \"name\": \"Aigerim S.\", "
    "\"kind\": \"person\"}, \"created_at\": \"2020-12-20T21:15:00+06:00\", "
    "\"text\": \"" DEV003_TEXT "\", \"jurisdictions\": [\"kz\"]}";

static const thresholds thr = {2, 5, 9};

static post *
parse_ok(const char *json)
{
	char  err[256];
	post *p = NULL;

	if (post_parse(json, strlen(json), &p, err, sizeof(err)) != 0)
		fail_msg("refused %s: %s", json, err);
	return p;
}

/* A post whose text is the given string. */
static post *
post_with_text(const char *text)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", "t-1", "platform",
	    "telegram", "created_at", "2021-01-09T12:00:00+06:00", "text",
	    text);
	char   *json;
	post   *p;

	assert_non_null(o);
	json = json_dumps(o, JSON_COMPACT);
	assert_non_null(json);
	p = parse_ok(json);
	free(json);
	json_decref(o);
	return p;
}

static vigil_finding_spec
spec_of(
    const char *rule, double score, vigil_severity floor, vigil_severity cap)
{
	vigil_finding_spec s = {
	    .struct_size = sizeof(s),
	    .rule        = rule,
	    .score       = score,
	    .floor       = floor,
	    .cap         = cap,
	    .title       = "title",
	};

	return s;
}

/* The verdict as a jansson tree, for looking inside. */
static json_t *
verdict_parsed(const vigil_post *v, const vigil_findings *f,
    vigil_severity *sev, double *score)
{
	json_error_t jerr;
	json_t      *root;
	size_t       len;
	char        *out;

	out = verdict_json(v, f, &thr, sev, score, &len);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	assert_null(strchr(out, '\n'));
	root = json_loadb(out, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		fail_msg("verdict is not JSON: %s", jerr.text);
	free(out);
	return root;
}

/* Finding i of a verdict tree, and member key of one of its lists. */
static json_t *
finding_at(json_t *root, size_t i)
{
	return json_array_get(json_object_get(root, "findings"), i);
}

static json_t *
item_at(json_t *finding, const char *key, size_t i)
{
	return json_array_get(json_object_get(finding, key), i);
}

static const char *
str_of(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* ------------------------------------------------------------ severities */

static void
test_severity_parse(void **state)
{
	vigil_severity s = VIGIL_SEV_ALERT;

	assert_int_equal(severity_parse("none", &s), 0);
	assert_int_equal(s, VIGIL_SEV_NONE);
	assert_int_equal(severity_parse("notice", &s), 0);
	assert_int_equal(s, VIGIL_SEV_NOTICE);
	assert_int_equal(severity_parse("Warning", &s), 0);
	assert_int_equal(s, VIGIL_SEV_WARNING);
	assert_int_equal(severity_parse("ALERT", &s), 0);
	assert_int_equal(s, VIGIL_SEV_ALERT);
	assert_int_equal(severity_parse("critical", &s), -1);
	assert_int_equal(severity_parse("", &s), -1);
	assert_int_equal(s, VIGIL_SEV_ALERT);
}

static void
test_severity_from_score(void **state)
{
	assert_int_equal(severity_from_score(&thr, -3), VIGIL_SEV_NONE);
	assert_int_equal(severity_from_score(&thr, 0), VIGIL_SEV_NONE);
	assert_int_equal(severity_from_score(&thr, 1.999), VIGIL_SEV_NONE);
	assert_int_equal(severity_from_score(&thr, 2), VIGIL_SEV_NOTICE);
	assert_int_equal(severity_from_score(&thr, 4.999), VIGIL_SEV_NOTICE);
	assert_int_equal(severity_from_score(&thr, 5), VIGIL_SEV_WARNING);
	assert_int_equal(severity_from_score(&thr, 9), VIGIL_SEV_ALERT);
	assert_int_equal(severity_from_score(&thr, 1e9), VIGIL_SEV_ALERT);
}

static void
test_floor_and_cap(void **state)
{
	static const struct {
		double         score;
		vigil_severity floor, cap, want;
	} cases[] = {
	    {1, VIGIL_SEV_NONE, VIGIL_SEV_NONE, VIGIL_SEV_NONE},
	    {6, VIGIL_SEV_NONE, VIGIL_SEV_NONE, VIGIL_SEV_WARNING},
	    {1, VIGIL_SEV_ALERT, VIGIL_SEV_NONE, VIGIL_SEV_ALERT},
	    {6, VIGIL_SEV_NOTICE, VIGIL_SEV_NONE, VIGIL_SEV_WARNING},
	    {10, VIGIL_SEV_NONE, VIGIL_SEV_WARNING, VIGIL_SEV_WARNING},
	    {10, VIGIL_SEV_NONE, VIGIL_SEV_NOTICE, VIGIL_SEV_NOTICE},
	    {3, VIGIL_SEV_NONE, VIGIL_SEV_WARNING, VIGIL_SEV_NOTICE},
	    /* The cap is applied last: it wins over the floor. */
	    {0, VIGIL_SEV_ALERT, VIGIL_SEV_WARNING, VIGIL_SEV_WARNING},
	    {0, VIGIL_SEV_NOTICE, VIGIL_SEV_NOTICE, VIGIL_SEV_NOTICE},
	};
	post           *p = parse_ok(dev003);
	vigil_findings *f = findings_new();

	assert_non_null(f);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		vigil_finding_spec s =
		    spec_of("r", cases[i].score, cases[i].floor, cases[i].cap);
		vigil_severity sev = 99, fsev;
		double         score;
		json_t        *root;

		findings_clear(f);
		assert_non_null(findings_add(f, &s));
		root = verdict_parsed(post_view(p), f, &sev, &score);
		assert_int_equal(sev, cases[i].want);
		assert_true(score == cases[i].score);
		assert_int_equal(
		    severity_parse(
		        str_of(finding_at(root, 0), "severity"), &fsev),
		    0);
		assert_int_equal(fsev, cases[i].want);
		json_decref(root);
	}
	findings_free(f);
	post_free(p);
}

static void
test_sum_and_max(void **state)
{
	post              *p = parse_ok(dev003);
	vigil_findings    *f = findings_new();
	vigil_finding_spec a =
	    spec_of("a", 1.5, VIGIL_SEV_NONE, VIGIL_SEV_NONE);
	vigil_finding_spec b =
	    spec_of("b", 3, VIGIL_SEV_WARNING, VIGIL_SEV_NONE);
	vigil_finding_spec c =
	    spec_of("c", 20, VIGIL_SEV_NONE, VIGIL_SEV_NOTICE);
	vigil_severity sev;
	double         score;
	json_t        *root;

	assert_non_null(findings_add(f, &a));
	assert_non_null(findings_add(f, &b));
	assert_non_null(findings_add(f, &c));
	assert_int_equal(findings_count(f), 3);
	root = verdict_parsed(post_view(p), f, &sev, &score);
	/* 20 would be an alert, but its cap holds it at notice. */
	assert_int_equal(sev, VIGIL_SEV_WARNING);
	assert_true(fabs(score - 24.5) < 1e-9);
	assert_string_equal(str_of(root, "severity"), "warning");
	assert_true(json_real_value(json_object_get(root, "score")) == 24.5);
	assert_int_equal(json_array_size(json_object_get(root, "findings")), 3);
	json_decref(root);
	findings_free(f);
	post_free(p);
}

/* ------------------------------------------------------------ findings */

static void
test_findings_add_refused(void **state)
{
	vigil_findings    *f = findings_new();
	vigil_finding_spec s;

	s = spec_of(NULL, 1, 0, 0);
	assert_null(findings_add(f, &s));
	s = spec_of("", 1, 0, 0);
	assert_null(findings_add(f, &s));
	s = spec_of("r", NAN, 0, 0);
	assert_null(findings_add(f, &s));
	s = spec_of("r", INFINITY, 0, 0);
	assert_null(findings_add(f, &s));
	s = spec_of("r", 1, (vigil_severity)4, 0);
	assert_null(findings_add(f, &s));
	s = spec_of("r", 1, 0, (vigil_severity)-1);
	assert_null(findings_add(f, &s));
	s             = spec_of("r", 1, 0, 0);
	s.struct_size = offsetof(vigil_finding_spec, title);
	assert_null(findings_add(f, &s));
	s       = spec_of("r", 1, 0, 0);
	s.title = "bad \xc3";
	assert_null(findings_add(f, &s));
	s     = spec_of("r", 1, 0, 0);
	s.law = "\xed\xa0\x80";
	assert_null(findings_add(f, &s));
	assert_null(findings_add(f, NULL));
	s = spec_of("r", 1, 0, 0);
	assert_null(findings_add(NULL, &s));
	assert_int_equal(findings_count(f), 0);
	assert_non_null(findings_add(f, &s));
	assert_int_equal(findings_count(f), 1);
	findings_free(f);
	findings_free(NULL);
}

static void
test_findings_copy_strings(void **state)
{
	post              *p      = parse_ok(dev003);
	vigil_findings    *f      = findings_new();
	char               rule[] = "kz.poll.blackout", title[] = "Blackout";
	vigil_finding_spec s = spec_of(rule, 1, 0, 0);
	vigil_finding     *fi;
	char               name[] = "sig";
	json_t            *root, *fj;

	s.title = title;
	fi      = findings_add(f, &s);
	assert_non_null(fi);
	assert_int_equal(finding_signal(fi, name, 1), VIGIL_OK);
	memset(rule, 'x', sizeof(rule) - 1);
	memset(title, 'y', sizeof(title) - 1);
	memset(name, 'z', sizeof(name) - 1);
	root = verdict_parsed(post_view(p), f, NULL, NULL);
	fj   = finding_at(root, 0);
	assert_string_equal(str_of(fj, "rule"), "kz.poll.blackout");
	assert_string_equal(str_of(fj, "title"), "Blackout");
	assert_string_equal(str_of(item_at(fj, "signals", 0), "name"), "sig");
	json_decref(root);
	findings_free(f);
	post_free(p);
}

static void
test_title_defaults_to_rule(void **state)
{
	post              *p = parse_ok(dev003);
	vigil_findings    *f = findings_new();
	vigil_finding_spec s = spec_of("kz.agitation.silence", 1, 0, 0);
	json_t            *root, *fj;

	s.title = NULL;
	assert_non_null(findings_add(f, &s));
	root = verdict_parsed(post_view(p), f, NULL, NULL);
	fj   = finding_at(root, 0);
	assert_string_equal(str_of(fj, "title"), "kz.agitation.silence");
	/* Neither legal nor window when the spec has none. */
	assert_null(json_object_get(fj, "legal"));
	assert_null(json_object_get(fj, "window"));
	assert_true(json_is_null(json_object_get(fj, "jurisdiction")));
	json_decref(root);
	findings_free(f);
	post_free(p);
}

static void
test_findings_clear(void **state)
{
	vigil_findings    *f = findings_new();
	vigil_finding_spec s = spec_of("r", 1, 0, 0);

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 10; i++)
			assert_non_null(findings_add(f, &s));
		assert_int_equal(findings_count(f), 10);
		findings_clear(f);
		assert_int_equal(findings_count(f), 0);
	}
	findings_free(f);
}

/* ------------------------------------------------------------ evidence */

/* Evidence i of the verdict's first finding. */
static json_t *
evidence_at(json_t *root, size_t i)
{
	return item_at(finding_at(root, 0), "evidence", i);
}

static void
assert_evidence(json_t *ev, const char *field, json_int_t start, json_int_t end,
    const char *excerpt)
{
	const char *x = json_string_value(json_object_get(ev, "excerpt"));

	assert_non_null(ev);
	assert_string_equal(
	    json_string_value(json_object_get(ev, "field")), field);
	assert_int_equal(
	    json_integer_value(json_object_get(ev, "start")), start);
	assert_int_equal(json_integer_value(json_object_get(ev, "end")), end);
	assert_non_null(x);
	assert_true(text_utf8_valid(x, strlen(x)));
	assert_string_equal(x, excerpt);
}

static char *
repeat(const char *s, int n)
{
	size_t len = strlen(s);
	char  *out = malloc(len * (size_t)n + 1);

	assert_non_null(out);
	for (int i = 0; i < n; i++)
		memcpy(out + len * (size_t)i, s, len);
	out[len * (size_t)n] = '\0';
	return out;
}

static void
test_excerpt_cyrillic(void **state)
{
	char              *zh = repeat("ж", 50), *zh20 = repeat("ж", 20);
	char               text[512], want[512];
	post              *p;
	vigil_findings    *f = findings_new();
	vigil_finding_spec s = spec_of("r", 1, 0, 0);
	vigil_finding     *fi;
	json_t            *root;

	/* 100 bytes of "ж", the evidence, 100 more: 40 bytes (20 letters)
	 * of context each side, ellipses both ends. */
	snprintf(text, sizeof(text), "%sопрос%s", zh, zh);
	p  = post_with_text(text);
	fi = findings_add(f, &s);
	assert_int_equal(
	    finding_evidence(fi, post_view(p), 0, 100, 110), VIGIL_OK);
	/* At the very start: no ellipsis before. */
	assert_int_equal(finding_evidence(fi, post_view(p), 0, 0, 2), VIGIL_OK);
	/* The whole field: no ellipsis at all. */
	assert_int_equal(
	    finding_evidence(fi, post_view(p), 0, 0, strlen(text)), VIGIL_OK);
	root = verdict_parsed(post_view(p), f, NULL, NULL);
	snprintf(want, sizeof(want), "…%sопрос%s…", zh20, zh20);
	assert_evidence(evidence_at(root, 0), "text", 100, 110, want);
	snprintf(want, sizeof(want), "ж%s…", zh20);
	assert_evidence(evidence_at(root, 1), "text", 0, 2, want);
	assert_evidence(evidence_at(root, 2), "text", 0, strlen(text), text);
	json_decref(root);
	findings_free(f);
	post_free(p);
	free(zh);
	free(zh20);
}

static void
test_excerpt_cut_between_characters(void **state)
{
	char           *euro = repeat("€", 30), *euro13 = repeat("€", 13);
	char            text[512], want[512];
	post           *p;
	vigil_findings *f    = findings_new();
	vigil_finding_spec s = spec_of("r", 1, 0, 0);
	vigil_finding     *fi;
	json_t            *root;

	/* Three-byte characters: 40 bytes back lands inside one, so the
	 * context shrinks to 39 bytes (13 characters) each side. */
	snprintf(text, sizeof(text), "%sопрос%s", euro, euro);
	p  = post_with_text(text);
	fi = findings_add(f, &s);
	assert_int_equal(
	    finding_evidence(fi, post_view(p), 0, 90, 100), VIGIL_OK);
	/* Offsets inside a character widen to the whole character. */
	assert_int_equal(
	    finding_evidence(fi, post_view(p), 0, 91, 99), VIGIL_OK);
	assert_int_equal(finding_evidence(fi, post_view(p), 0, 1, 1), VIGIL_OK);
	root = verdict_parsed(post_view(p), f, NULL, NULL);
	snprintf(want, sizeof(want), "…%sопрос%s…", euro13, euro13);
	assert_evidence(evidence_at(root, 0), "text", 90, 100, want);
	assert_evidence(evidence_at(root, 1), "text", 90, 100, want);
	snprintf(want, sizeof(want), "%s€…", euro13);
	assert_evidence(evidence_at(root, 2), "text", 0, 3, want);
	json_decref(root);
	findings_free(f);
	post_free(p);
	free(euro);
	free(euro13);
}

static void
test_evidence_in_poll(void **state)
{
	post *p = parse_ok("{\"id\":\"dev-001\",\"platform\":\"telegram\","
	                   "\"created_at\":\"2020-12-11T19:40:00+06:00\","
	                   "\"text\":\"\",\"poll\":{\"question\":"
	                   "\"За кого будете голосовать?\",\"options\":"
	                   "[\"За тех\",\"За этих\",\"Ещё не определился\"]}}");
	vigil_findings    *f  = findings_new();
	vigil_finding_spec s  = spec_of("r", 1, 0, 0);
	vigil_finding     *fi = findings_add(f, &s);
	json_t            *root;

	assert_int_equal(finding_evidence(fi, post_view(p),
	                     VIGIL_FIELD_POLL_QUESTION, 27, 47),
	    VIGIL_OK);
	assert_int_equal(finding_evidence(fi, post_view(p),
	                     VIGIL_FIELD_POLL_OPTION(2), 0, 6),
	    VIGIL_OK);
	root = verdict_parsed(post_view(p), f, NULL, NULL);
	assert_evidence(evidence_at(root, 0), "poll.question", 27, 47,
	    "За кого будете голосовать?");
	assert_evidence(evidence_at(root, 1), "poll.options[2]", 0, 6,
	    "Ещё не определился");
	json_decref(root);
	findings_free(f);
	post_free(p);
}

static void
test_evidence_refused(void **state)
{
	post              *p   = parse_ok(dev003);
	const vigil_post  *v   = post_view(p);
	vigil_findings    *f   = findings_new();
	vigil_finding_spec s   = spec_of("r", 1, 0, 0);
	vigil_finding     *fi  = findings_add(f, &s);
	size_t             len = strlen(DEV003_TEXT);
	json_t            *root;

	assert_int_equal(finding_evidence(fi, v, 0, 0, len + 1), VIGIL_ERR);
	assert_int_equal(finding_evidence(fi, v, 0, 5, 4), VIGIL_ERR);
	assert_int_equal(
	    finding_evidence(fi, v, VIGIL_FIELD_POLL_OPTION(0), 0, 0),
	    VIGIL_ERR);
	assert_int_equal(finding_evidence(fi, v, 99, 0, 0), VIGIL_ERR);
	assert_int_equal(finding_evidence(NULL, v, 0, 0, 1), VIGIL_ERR);
	assert_int_equal(finding_evidence(fi, NULL, 0, 0, 1), VIGIL_ERR);
	assert_int_equal(finding_evidence(fi, v, 0, len, len), VIGIL_OK);
	root = verdict_parsed(v, f, NULL, NULL);
	assert_non_null(evidence_at(root, 0));
	assert_null(evidence_at(root, 1));
	json_decref(root);
	findings_free(f);
	post_free(p);
}

static void
test_signals(void **state)
{
	post              *p  = parse_ok(dev003);
	vigil_findings    *f  = findings_new();
	vigil_finding_spec s  = spec_of("r", 1, 0, 0);
	vigil_finding     *fi = findings_add(f, &s);
	json_t            *root, *sigs;

	assert_int_equal(finding_signal(fi, "a", NAN), VIGIL_ERR);
	assert_int_equal(finding_signal(fi, "a", -INFINITY), VIGIL_ERR);
	assert_int_equal(finding_signal(fi, NULL, 1), VIGIL_ERR);
	assert_int_equal(finding_signal(fi, "\xff", 1), VIGIL_ERR);
	assert_int_equal(finding_signal(NULL, "a", 1), VIGIL_ERR);
	for (int i = 0; i < 9; i++)
		assert_int_equal(
		    finding_signal(fi, "слово", i * 0.5), VIGIL_OK);
	root = verdict_parsed(post_view(p), f, NULL, NULL);
	sigs = json_object_get(finding_at(root, 0), "signals");
	assert_int_equal(json_array_size(sigs), 9);
	assert_string_equal(str_of(json_array_get(sigs, 8), "name"), "слово");
	assert_true(json_number_value(json_object_get(
	                json_array_get(sigs, 8), "weight")) == 4.0);
	json_decref(root);
	findings_free(f);
	post_free(p);
}

/* ------------------------------------------------------------ verdict JSON */

static void
test_verdict_no_findings(void **state)
{
	post           *p     = parse_ok(dev003);
	vigil_findings *f     = findings_new();
	vigil_severity  sev   = 99;
	double          score = 99;
	size_t          len;
	char           *out;

	out = verdict_json(post_view(p), f, &thr, &sev, &score, &len);
	assert_non_null(out);
	assert_string_equal(out,
	    "{\"post_id\":\"dev-003\",\"severity\":\"none\",\"score\":0.0,"
	    "\"findings\":[]}");
	assert_int_equal(len, strlen(out));
	assert_int_equal(sev, VIGIL_SEV_NONE);
	assert_true(score == 0);
	free(out);
	out = verdict_json(post_view(p), NULL, &thr, NULL, NULL, NULL);
	assert_non_null(out);
	assert_string_equal(out,
	    "{\"post_id\":\"dev-003\",\"severity\":\"none\",\"score\":0.0,"
	    "\"findings\":[]}");
	free(out);
	findings_free(f);
	post_free(p);
}

/* The whole verdict, byte for byte: key order, times in UTC, nulls. The
 * alert id was computed apart from vigil (Python hashlib). */
static void
test_verdict_exact(void **state)
{
	static const char want[] =
	    "{\"post_id\":\"dev-003\",\"severity\":\"warning\",\"score\":6.0,"
	    "\"findings\":[{\"rule\":\"kz.poll.unregistered\","
	    "\"jurisdiction\":\"kz\","
	    "\"alert_id\":\"c0cc41375f0331babc2b62f60a26f709\","
	    "\"score\":6.0,\"severity\":\"warning\","
	    "\"title\":\"Election poll by an unregistered pollster\","
	    "\"legal\":{\"law\":\"Constitutional Law on Elections\","
	    "\"article\":\"Art. 28(3)\",\"penalty\":null},"
	    "\"window\":{\"name\":\"campaign\","
	    "\"start\":\"2020-12-09T18:00:00Z\","
	    "\"end\":\"2021-01-10T14:00:00Z\"},"
	    "\"evidence\":[{\"field\":\"text\",\"start\":31,\"end\":41,"
	    "\"excerpt\":\"Друзья, проводим опрос! За кого проголосуете…\"}],"
	    "\"signals\":[{\"name\":\"pattern.poll\",\"weight\":4.0},"
	    "{\"name\":\"author.unregistered\",\"weight\":2.0}]}],"
	    "\"post\":{\"platform\":\"facebook\","
	    "\"channel\":\"fb:page/aigerim.blog\",\"url\":null,"
	    "\"created_at\":\"2020-12-20T15:15:00Z\",\"lang\":null,"
	    "\"author\":{\"id\":\"fb:100004\",\"handle\":null,"
	    "\"name\":\"Aigerim S.\",\"kind\":\"person\"}}}";
	post              *p = parse_ok(dev003);
	vigil_findings    *f = findings_new();
	vigil_finding_spec s = {
	    .struct_size  = sizeof(s),
	    .rule         = "kz.poll.unregistered",
	    .jurisdiction = "kz",
	    .score        = 6,
	    .floor        = VIGIL_SEV_NOTICE,
	    .title        = "Election poll by an unregistered pollster",
	    .law          = "Constitutional Law on Elections",
	    .article      = "Art. 28(3)",
	    .window       = "campaign",
	    .window_start = INT64_C(1607536800000000),
	    .window_end   = INT64_C(1610287200000000),
	};
	vigil_finding *fi = findings_add(f, &s);
	size_t         len;
	char          *out;

	assert_non_null(fi);
	assert_int_equal(
	    finding_evidence(fi, post_view(p), 0, 31, 41), VIGIL_OK);
	assert_int_equal(finding_signal(fi, "pattern.poll", 4), VIGIL_OK);
	assert_int_equal(
	    finding_signal(fi, "author.unregistered", 2), VIGIL_OK);
	out = verdict_json(post_view(p), f, &thr, NULL, NULL, &len);
	assert_non_null(out);
	assert_string_equal(out, want);
	assert_int_equal(len, sizeof(want) - 1);
	free(out);
	findings_free(f);
	post_free(p);
}

/* ------------------------------------------------------------ alert ids */

static void
id_for(const char *json, const char *rule, char out[33])
{
	post         *p = parse_ok(json);
	unsigned char hash[32];

	post_content_hash(post_view(p), hash);
	alert_id(post_view(p), rule, hash, out);
	post_free(p);
}

static void
test_alert_id(void **state)
{
	char a[33], b[33], c[33], d[33], e[33];

	id_for(dev003, "kz.poll.unregistered", a);
	assert_string_equal(a, "c0cc41375f0331babc2b62f60a26f709");
	/* Re-sent later with other metadata: same id. */
	id_for("{\"id\":\"dev-003\",\"platform\":\"facebook\","
	       "\"created_at\":\"2021-01-01T00:00:00Z\","
	       "\"author\":{\"name\":\"renamed\"},"
	       "\"text\":\"" DEV003_TEXT "\"}",
	    "kz.poll.unregistered", b);
	assert_string_equal(a, b);
	/* Edited text, another platform, another rule: other ids. */
	id_for("{\"id\":\"dev-003\",\"platform\":\"facebook\","
	       "\"created_at\":\"2020-12-20T21:15:00+06:00\","
	       "\"text\":\"" DEV003_TEXT " \"}",
	    "kz.poll.unregistered", c);
	id_for("{\"id\":\"dev-003\",\"platform\":\"vk\","
	       "\"created_at\":\"2020-12-20T21:15:00+06:00\","
	       "\"text\":\"" DEV003_TEXT "\"}",
	    "kz.poll.unregistered", d);
	id_for(dev003, "kz.poll.blackout", e);
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, d);
	assert_string_not_equal(a, e);
	assert_int_equal(strlen(c), 32);
}

static int
setup(void **state)
{
	return text_init();
}

static int
teardown(void **state)
{
	text_fini();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_severity_parse),
	    cmocka_unit_test(test_severity_from_score),
	    cmocka_unit_test(test_floor_and_cap),
	    cmocka_unit_test(test_sum_and_max),
	    cmocka_unit_test(test_findings_add_refused),
	    cmocka_unit_test(test_findings_copy_strings),
	    cmocka_unit_test(test_title_defaults_to_rule),
	    cmocka_unit_test(test_findings_clear),
	    cmocka_unit_test(test_excerpt_cyrillic),
	    cmocka_unit_test(test_excerpt_cut_between_characters),
	    cmocka_unit_test(test_evidence_in_poll),
	    cmocka_unit_test(test_evidence_refused),
	    cmocka_unit_test(test_signals),
	    cmocka_unit_test(test_verdict_no_findings),
	    cmocka_unit_test(test_verdict_exact),
	    cmocka_unit_test(test_alert_id),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
