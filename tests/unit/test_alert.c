/*
 * test_alert.c - from verdicts to alerts: the round trip post -> findings
 * -> verdict_json -> alert_set with Cyrillic evidence, the alert document
 * to the byte, stable alert ids, and verdicts that must be refused with a
 * reason naming the member (they come from another process).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alert.h"
#include "post.h"
#include "text.h"
#include "util.h"
#include "verdict.h"

#define DEV003_TEXT                                                            \
	"Друзья, проводим опрос! За кого проголосуете на выборах 10 января?"

#define DEV003(created, text)                                                  \
	"{\"id\": \"dev-003\", \"platform\": \"facebook\", "                   \
	"\"channel\": \"fb:page/aigerim.blog\", "                              \
	"\"author\": {\"id\": \"fb:100004\", \"name\": \"Aigerim S.\", "       \
	"\"kind\": \"person\"}, \"created_at\": \"" created "\", "             \
	"\"text\": \"" text "\", \"jurisdictions\": [\"kz\"]}"

/* 2021-01-09T13:46:40Z */
#define RAISED_AT INT64_C(1610200000000000)

static const thresholds thr = {2, 5, 9};

/* The verdict a worker would send for the post: one finding with
 * everything, one with nothing optional. */
static void
make_findings(const char *json, post **p, vigil_findings **out)
{
	char               err[256];
	vigil_findings    *f    = findings_new();
	vigil_finding_spec full = {
	    .struct_size  = sizeof(full),
	    .rule         = "kz.poll.unregistered",
	    .jurisdiction = "kz",
	    .score        = 6,
	    .floor        = VIGIL_SEV_ALERT,
	    .title        = "Опрос без аккредитации",
	    .law          = "Constitutional Law on Elections",
	    .article      = "Art. 28(3)",
	    .window       = "campaign",
	    .window_start = INT64_C(1607536800000000),
	    .window_end   = INT64_C(1610287200000000),
	};
	vigil_finding_spec bare = {
	    .struct_size = sizeof(bare),
	    .rule        = "kz.agitation.silence",
	    .score       = 1,
	    .title       = "Silence",
	};
	vigil_finding *fi;

	if (post_parse(json, strlen(json), p, err, sizeof(err)) != 0)
		fail_msg("refused %s: %s", json, err);
	fi = findings_add(f, &full);
	assert_non_null(fi);
	assert_int_equal(
	    finding_evidence(fi, post_view(*p), 0, 31, 41), VIGIL_OK);
	assert_int_equal(finding_signal(fi, "pattern.poll", 4), VIGIL_OK);
	assert_non_null(findings_add(f, &bare));
	*out = f;
}

static char *
make_verdict(const char *json, size_t *len)
{
	post           *p;
	vigil_findings *f;
	char           *out;

	make_findings(json, &p, &f);
	out = verdict_json(post_view(p), f, &thr, NULL, NULL, len);
	assert_non_null(out);
	findings_free(f);
	post_free(p);
	return out;
}

static alert_set *
alerts_of(const char *verdict, size_t len)
{
	char       err[256] = "";
	alert_set *s =
	    alert_set_from_verdict(verdict, len, RAISED_AT, err, sizeof(err));

	if (s == NULL)
		fail_msg("refused %s: %s", verdict, err);
	return s;
}

/* ------------------------------------------------------------ encoding */

static int
same_string(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
same_alert(const vigil_alert *a, const vigil_alert *b)
{
	assert_true(same_string(a->id, b->id));
	assert_true(same_string(a->rule, b->rule));
	assert_true(same_string(a->jurisdiction, b->jurisdiction));
	assert_true(same_string(a->title, b->title));
	assert_true(same_string(a->post_id, b->post_id));
	assert_true(same_string(a->platform, b->platform));
	assert_true(same_string(a->channel, b->channel));
	assert_true(same_string(a->url, b->url));
	assert_true(same_string(a->author_id, b->author_id));
	assert_true(same_string(a->author_handle, b->author_handle));
	assert_true(same_string(a->author_name, b->author_name));
	assert_true(same_string(a->law, b->law));
	assert_true(same_string(a->article, b->article));
	assert_true(same_string(a->penalty, b->penalty));
	assert_true(same_string(a->window, b->window));
	assert_true(same_string(a->excerpt, b->excerpt));
	assert_int_equal(a->severity, b->severity);
	assert_true(a->score == b->score);
	assert_int_equal(a->created_at, b->created_at);
	assert_int_equal(a->window_start, b->window_start);
	assert_int_equal(a->window_end, b->window_end);
	assert_int_equal(a->json_len, b->json_len);
	assert_memory_equal(a->json, b->json, a->json_len);
}

/* What the worker encodes, vigild decodes field for field. */
static void
test_encode_decode(void **state)
{
	size_t len, elen;
	char  *v = make_verdict(
	     DEV003("2020-12-20T21:15:00+06:00", DEV003_TEXT), &len);
	alert_set *s = alerts_of(v, len), *d;
	char      *enc, err[256];

	(void)state;
	assert_int_equal(alert_set_encode(s, &enc, &elen), 0);
	d = alert_set_decode(enc, elen, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(alert_set_count(d), alert_set_count(s));
	for (size_t i = 0; i < alert_set_count(s); i++)
		same_alert(alert_set_get(s, i), alert_set_get(d, i));
	alert_set_free(d);
	/* Every cut is refused, never over-read (ASan watches). */
	for (size_t cut = 0; cut < elen; cut++) {
		d = alert_set_decode(enc, cut, err, sizeof(err));
		assert_null(d);
		assert_true(err[0] != '\0');
	}
	/* A string with a NUL inside, or not UTF-8, is refused. */
	for (size_t i = 0; i < elen; i++) {
		if (enc[i] != 'w')
			continue;
		enc[i] = '\xff';
		assert_null(alert_set_decode(enc, elen, err, sizeof(err)));
		enc[i] = '\0';
		assert_null(alert_set_decode(enc, elen, err, sizeof(err)));
		enc[i] = 'w';
		break;
	}
	free(enc);
	alert_set_free(s);
	free(v);
}

/* ------------------------------------------------------------ round trip */

static void
test_round_trip(void **state)
{
	size_t len;
	char  *v = make_verdict(
	     DEV003("2020-12-20T21:15:00+06:00", DEV003_TEXT), &len);
	alert_set         *s = alerts_of(v, len);
	const vigil_alert *a;

	assert_int_equal(alert_set_count(s), 2);
	a = alert_set_get(s, 0);
	assert_non_null(a);
	assert_int_equal(a->struct_size, sizeof(vigil_alert));
	assert_int_equal(a->token, 0);
	assert_string_equal(a->id, "c0cc41375f0331babc2b62f60a26f709");
	assert_string_equal(a->rule, "kz.poll.unregistered");
	assert_string_equal(a->jurisdiction, "kz");
	/* Score 6 is a warning; the floor makes it an alert. */
	assert_int_equal(a->severity, VIGIL_SEV_ALERT);
	assert_true(a->score == 6);
	assert_string_equal(a->title, "Опрос без аккредитации");
	assert_string_equal(a->post_id, "dev-003");
	assert_string_equal(a->platform, "facebook");
	assert_string_equal(a->channel, "fb:page/aigerim.blog");
	assert_null(a->url);
	assert_string_equal(a->author_id, "fb:100004");
	assert_null(a->author_handle);
	assert_string_equal(a->author_name, "Aigerim S.");
	assert_int_equal(a->created_at, INT64_C(1608477300000000));
	assert_string_equal(a->law, "Constitutional Law on Elections");
	assert_string_equal(a->article, "Art. 28(3)");
	assert_null(a->penalty);
	assert_string_equal(a->window, "campaign");
	assert_int_equal(a->window_start, INT64_C(1607536800000000));
	assert_int_equal(a->window_end, INT64_C(1610287200000000));
	assert_string_equal(
	    a->excerpt, "Друзья, проводим опрос! За кого проголосуете…");
	assert_int_equal(a->json_len, strlen(a->json));

	a = alert_set_get(s, 1);
	assert_non_null(a);
	assert_string_equal(a->id, "5a8ca6a480dc04a42d21ecca9fb87c2a");
	assert_string_equal(a->rule, "kz.agitation.silence");
	assert_null(a->jurisdiction);
	assert_int_equal(a->severity, VIGIL_SEV_NONE);
	assert_null(a->law);
	assert_null(a->article);
	assert_null(a->window);
	assert_int_equal(a->window_start, 0);
	assert_null(a->excerpt);
	assert_string_equal(a->post_id, "dev-003");

	assert_null(alert_set_get(s, 2));
	alert_set_free(s);
	alert_set_free(NULL);
	free(v);
}

/* The documents of make_verdict's findings: doc/alerts.md version 1,
 * byte for byte. */
static const char want0[] =
    "{\"version\":1,\"id\":\"c0cc41375f0331babc2b62f60a26f709\","
    "\"rule\":\"kz.poll.unregistered\",\"jurisdiction\":\"kz\","
    "\"severity\":\"alert\",\"score\":6.0,"
    "\"title\":\"Опрос без аккредитации\","
    "\"legal\":{\"law\":\"Constitutional Law on Elections\","
    "\"article\":\"Art. 28(3)\",\"penalty\":null},"
    "\"window\":{\"name\":\"campaign\","
    "\"start\":\"2020-12-09T18:00:00Z\","
    "\"end\":\"2021-01-10T14:00:00Z\"},"
    "\"evidence\":[{\"field\":\"text\",\"start\":31,\"end\":41,"
    "\"excerpt\":\"Друзья, проводим опрос! За кого проголосуете…\"}],"
    "\"signals\":[{\"name\":\"pattern.poll\",\"weight\":4.0}],"
    "\"post\":{\"id\":\"dev-003\",\"platform\":\"facebook\","
    "\"channel\":\"fb:page/aigerim.blog\",\"url\":null,"
    "\"created_at\":\"2020-12-20T15:15:00Z\","
    "\"author\":{\"id\":\"fb:100004\",\"handle\":null,"
    "\"name\":\"Aigerim S.\",\"kind\":\"person\"}},"
    "\"verdict\":{\"severity\":\"alert\",\"score\":7.0},"
    "\"raised_at\":\"2021-01-09T13:46:40Z\"}";
static const char want1[] =
    "{\"version\":1,\"id\":\"5a8ca6a480dc04a42d21ecca9fb87c2a\","
    "\"rule\":\"kz.agitation.silence\",\"jurisdiction\":null,"
    "\"severity\":\"none\",\"score\":1.0,\"title\":\"Silence\","
    "\"evidence\":[],\"signals\":[],"
    "\"post\":{\"id\":\"dev-003\",\"platform\":\"facebook\","
    "\"channel\":\"fb:page/aigerim.blog\",\"url\":null,"
    "\"created_at\":\"2020-12-20T15:15:00Z\","
    "\"author\":{\"id\":\"fb:100004\",\"handle\":null,"
    "\"name\":\"Aigerim S.\",\"kind\":\"person\"}},"
    "\"verdict\":{\"severity\":\"alert\",\"score\":7.0},"
    "\"raised_at\":\"2021-01-09T13:46:40Z\"}";

static void
test_alert_documents(void **state)
{
	size_t len;
	char  *v = make_verdict(
	     DEV003("2020-12-20T21:15:00+06:00", DEV003_TEXT), &len);
	alert_set *s = alerts_of(v, len);

	assert_string_equal(alert_set_get(s, 0)->json, want0);
	assert_int_equal(alert_set_get(s, 0)->json_len, sizeof(want0) - 1);
	assert_string_equal(alert_set_get(s, 1)->json, want1);
	alert_set_free(s);
	free(v);
}

/* The worker's path, straight from the findings, makes the same alerts
 * as a verdict read from text, and the verdict's severity. */
static void
test_alerts_from_findings(void **state)
{
	char            err[256] = "";
	post           *p;
	vigil_findings *f;
	vigil_severity  sev = VIGIL_SEV_NONE;
	alert_set      *s, *t;
	char           *v;
	size_t          len;

	(void)state;
	make_findings(DEV003("2020-12-20T21:15:00+06:00", DEV003_TEXT), &p, &f);
	s = alert_set_from_findings(
	    post_view(p), f, &thr, RAISED_AT, &sev, err, sizeof(err));
	if (s == NULL)
		fail_msg("refused: %s", err);
	assert_int_equal(sev, VIGIL_SEV_ALERT);
	assert_int_equal(alert_set_count(s), 2);
	assert_string_equal(alert_set_get(s, 0)->json, want0);
	assert_int_equal(alert_set_get(s, 0)->json_len, sizeof(want0) - 1);
	assert_string_equal(alert_set_get(s, 1)->json, want1);
	assert_int_equal(alert_set_get(s, 1)->json_len, sizeof(want1) - 1);
	/* Field for field what the text path reads. */
	v = verdict_json(post_view(p), f, &thr, NULL, NULL, &len);
	assert_non_null(v);
	t = alerts_of(v, len);
	for (size_t i = 0; i < 2; i++)
		same_alert(alert_set_get(t, i), alert_set_get(s, i));
	alert_set_free(t);
	free(v);
	alert_set_free(s);
	findings_free(f);
	post_free(p);
}

static void
test_alert_ids_follow_content(void **state)
{
	size_t l1, l2, l3;
	char  *v1 =
	    make_verdict(DEV003("2020-12-20T21:15:00+06:00", DEV003_TEXT), &l1);
	char *v2 =
	    make_verdict(DEV003("2020-12-21T08:00:00+06:00", DEV003_TEXT), &l2);
	char *v3 = make_verdict(
	    DEV003("2020-12-20T21:15:00+06:00", DEV003_TEXT " (ред.)"), &l3);
	alert_set *s1 = alerts_of(v1, l1), *s2 = alerts_of(v2, l2),
	          *s3 = alerts_of(v3, l3);

	/* Sent again (another time stamp): the same alerts. */
	assert_string_equal(alert_set_get(s1, 0)->id, alert_set_get(s2, 0)->id);
	assert_string_equal(alert_set_get(s1, 1)->id, alert_set_get(s2, 1)->id);
	/* Edited: new alerts. Two rules on one post: two ids. */
	assert_string_not_equal(
	    alert_set_get(s1, 0)->id, alert_set_get(s3, 0)->id);
	assert_string_not_equal(
	    alert_set_get(s1, 1)->id, alert_set_get(s3, 1)->id);
	assert_string_not_equal(
	    alert_set_get(s1, 0)->id, alert_set_get(s1, 1)->id);
	alert_set_free(s1);
	alert_set_free(s2);
	alert_set_free(s3);
	free(v1);
	free(v2);
	free(v3);
}

static void
test_verdict_without_findings(void **state)
{
	static const char v[] =
	    "{\"post_id\":\"dev-009\",\"severity\":\"none\",\"score\":0.0,"
	    "\"findings\":[]}";
	alert_set *s = alerts_of(v, sizeof(v) - 1);

	assert_int_equal(alert_set_count(s), 0);
	assert_null(alert_set_get(s, 0));
	alert_set_free(s);
}

/* ------------------------------------------------------------ outside input */

#define ID32 "\"alert_id\":\"0123456789abcdef0123456789abcdef\""
#define FINDING_HEAD                                                           \
	"\"rule\":\"r\"," ID32 ",\"score\":1,\"severity\":\"notice\","         \
	"\"title\":\"t\""
#define FINDING_OK "{" FINDING_HEAD ",\"evidence\":[],\"signals\":[]}"
#define POST_OK    "\"post\":{\"created_at\":\"2021-01-09T06:00:00Z\"}"
#define VERDICT(findings, post)                                                \
	"{\"post_id\":\"p\",\"severity\":\"notice\",\"score\":1,"              \
	"\"findings\":[" findings "]" post "}"
#define WITH(member)   "{" FINDING_HEAD "," member "}"
#define EVIDENCE(item) WITH("\"evidence\":[" item "],\"signals\":[]")

static void
test_minimal_verdict(void **state)
{
	static const char  v[] = VERDICT(FINDING_OK, "," POST_OK);
	alert_set         *s   = alerts_of(v, sizeof(v) - 1);
	const vigil_alert *a   = alert_set_get(s, 0);

	assert_int_equal(alert_set_count(s), 1);
	assert_string_equal(a->id, "0123456789abcdef0123456789abcdef");
	assert_null(a->platform);
	assert_null(a->author_id);
	assert_null(a->jurisdiction);
	assert_non_null(strstr(a->json,
	    "\"author\":{\"id\":null,\"handle\":null,\"name\":null,"
	    "\"kind\":\"unknown\"}"));
	alert_set_free(s);
}

static void
test_unknown_members_dropped(void **state)
{
	static const char v[] = VERDICT(
	    "{" FINDING_HEAD ",\"extra\":1,"
	    "\"legal\":{\"law\":\"L\",\"extra\":2},"
	    "\"window\":{\"name\":\"w\",\"start\":\"2021-01-09T00:00:00Z\","
	    "\"end\":\"2021-01-10T00:00:00+06:00\",\"extra\":3},"
	    "\"evidence\":[{\"field\":\"text\",\"start\":0,\"end\":1,"
	    "\"excerpt\":\"x\",\"extra\":4}],"
	    "\"signals\":[{\"name\":\"s\",\"weight\":1,\"extra\":5}]}",
	    ",\"extra\":6,\"post\":{\"created_at\":\"2021-01-09T06:00:00Z\","
	    "\"extra\":7,\"author\":{\"kind\":\"media\",\"extra\":8}}");
	alert_set         *s = alerts_of(v, sizeof(v) - 1);
	const vigil_alert *a = alert_set_get(s, 0);

	assert_null(strstr(a->json, "extra"));
	assert_string_equal(a->law, "L");
	assert_null(a->article);
	assert_string_equal(a->excerpt, "x");
	/* Times come out in UTC whatever offset they went in with. */
	assert_non_null(strstr(a->json, "\"end\":\"2021-01-09T18:00:00Z\""));
	assert_non_null(strstr(a->json, "\"kind\":\"media\""));
	alert_set_free(s);
}

static void
test_malformed_verdicts(void **state)
{
	static const struct {
		const char *json;
		const char *reason; /* a part of the reason */
	} cases[] = {
	    {"", "verdict: invalid JSON"},
	    {"{\"post_id\":", "verdict: invalid JSON"},
	    {VERDICT(FINDING_OK, "," POST_OK) "x", "verdict: invalid JSON"},
	    {"[]", "verdict: expected a JSON object, got an array"},
	    {"null", "verdict: expected a JSON object, got null"},
	    {"{\"severity\":\"none\",\"score\":0,\"findings\":[]}",
	        "field 'post_id': expected a string, got nothing"},
	    {"{\"post_id\":null,\"severity\":\"none\",\"score\":0,"
	     "\"findings\":[],\"error\":\"x\"}",
	        "field 'post_id': expected a string, got null"},
	    {"{\"post_id\":\"\",\"severity\":\"none\",\"score\":0,"
	     "\"findings\":[]}",
	        "field 'post_id': empty"},
	    {"{\"post_id\":\"p\",\"severity\":\"huge\",\"score\":0,"
	     "\"findings\":[]}",
	        "field 'severity': expected none, notice, warning or alert"},
	    {"{\"post_id\":\"p\",\"severity\":\"none\",\"score\":\"0\","
	     "\"findings\":[]}",
	        "field 'score': expected a number, got a string"},
	    {"{\"post_id\":\"p\",\"severity\":\"none\",\"score\":0,"
	     "\"findings\":{}}",
	        "field 'findings': expected an array, got an object"},
	    {"{\"post_id\":\"p\",\"post_id\":\"q\",\"severity\":\"none\","
	     "\"score\":0,\"findings\":[]}",
	        "duplicate"},
	    {VERDICT(FINDING_OK, ""),
	        "field 'post': missing in a verdict with findings"},
	    {VERDICT(FINDING_OK, ",\"post\":[]"),
	        "field 'post': expected an object, got an array"},
	    {VERDICT(FINDING_OK, ",\"post\":{}"),
	        "field 'post.created_at': expected a string, got nothing"},
	    {VERDICT(FINDING_OK,
	         ",\"post\":{\"created_at\":\"2021-02-30T00:00:00Z\"}"),
	        "field 'post.created_at': not an RFC 3339 time"},
	    {VERDICT(FINDING_OK,
	         ",\"post\":{\"created_at\":\"2021-01-09T06:00:00Z\","
	         "\"platform\":1}"),
	        "field 'post.platform': expected a string, got a number"},
	    {VERDICT(FINDING_OK,
	         ",\"post\":{\"created_at\":\"2021-01-09T06:00:00Z\","
	         "\"author\":\"me\"}"),
	        "field 'post.author': expected an object, got a string"},
	    {VERDICT(FINDING_OK,
	         ",\"post\":{\"created_at\":\"2021-01-09T06:00:00Z\","
	         "\"author\":{\"kind\":\"robot\"}}"),
	        "field 'post.author.kind': expected person"},
	    {VERDICT(FINDING_OK,
	         ",\"post\":{\"created_at\":\"2021-01-09T06:00:00Z\","
	         "\"author\":{\"name\":[]}}"),
	        "field 'post.author.name': expected a string, got an array"},
	    {VERDICT("1", "," POST_OK),
	        "field 'findings[0]': expected an object, got a number"},
	    {VERDICT(FINDING_OK ",[]", "," POST_OK),
	        "field 'findings[1]': expected an object, got an array"},
	    {VERDICT("{" ID32 ",\"score\":1,\"severity\":\"notice\","
	             "\"title\":\"t\",\"evidence\":[],\"signals\":[]}",
	         "," POST_OK),
	        "field 'findings[0].rule': expected a string, got nothing"},
	    {VERDICT("{\"rule\":\"r\",\"alert_id\":\"XYZ\",\"score\":1,"
	             "\"severity\":\"notice\",\"title\":\"t\","
	             "\"evidence\":[],\"signals\":[]}",
	         "," POST_OK),
	        "field 'findings[0].alert_id': expected 32 lowercase hex"},
	    {VERDICT("{\"rule\":\"r\",\"alert_id\":"
	             "\"0123456789abcdef0123456789abcdef0\",\"score\":1,"
	             "\"severity\":\"notice\",\"title\":\"t\","
	             "\"evidence\":[],\"signals\":[]}",
	         "," POST_OK),
	        "field 'findings[0].alert_id': expected 32 lowercase hex"},
	    {VERDICT("{\"rule\":\"r\"," ID32 ",\"score\":null,"
	             "\"severity\":\"notice\",\"title\":\"t\","
	             "\"evidence\":[],\"signals\":[]}",
	         "," POST_OK),
	        "field 'findings[0].score': expected a number, got null"},
	    {VERDICT("{\"rule\":\"r\"," ID32 ",\"score\":1,"
	             "\"severity\":\"notice\",\"title\":7,"
	             "\"evidence\":[],\"signals\":[]}",
	         "," POST_OK),
	        "field 'findings[0].title': expected a string, got a number"},
	    {VERDICT(WITH("\"legal\":[],\"evidence\":[],\"signals\":[]"),
	         "," POST_OK),
	        "field 'findings[0].legal': expected an object, got an array"},
	    {VERDICT(WITH("\"legal\":{\"law\":1},\"evidence\":[],"
	                  "\"signals\":[]"),
	         "," POST_OK),
	        "field 'findings[0].legal.law': expected a string"},
	    {VERDICT(WITH("\"window\":{\"name\":\"w\",\"start\":"
	                  "\"2021-01-09\",\"end\":\"2021-01-10T00:00:00Z\"},"
	                  "\"evidence\":[],\"signals\":[]"),
	         "," POST_OK),
	        "field 'findings[0].window.start': not an RFC 3339 time"},
	    {VERDICT(WITH("\"window\":{\"start\":\"2021-01-09T00:00:00Z\","
	                  "\"end\":\"2021-01-10T00:00:00Z\"},"
	                  "\"evidence\":[],\"signals\":[]"),
	         "," POST_OK),
	        "field 'findings[0].window.name': expected a string"},
	    {VERDICT(WITH("\"signals\":[]"), "," POST_OK),
	        "field 'findings[0].evidence': expected an array, got nothing"},
	    {VERDICT(WITH("\"evidence\":[]"), "," POST_OK),
	        "field 'findings[0].signals': expected an array, got nothing"},
	    {VERDICT(EVIDENCE("\"x\""), "," POST_OK),
	        "field 'findings[0].evidence[0]': expected an object"},
	    {VERDICT(EVIDENCE("{\"field\":\"text\",\"start\":-1,\"end\":1,"
	                      "\"excerpt\":\"x\"}"),
	         "," POST_OK),
	        "field 'findings[0].evidence[0].start': negative"},
	    {VERDICT(EVIDENCE("{\"field\":\"text\",\"start\":1.5,\"end\":2,"
	                      "\"excerpt\":\"x\"}"),
	         "," POST_OK),
	        "field 'findings[0].evidence[0].start': expected an integer"},
	    {VERDICT(EVIDENCE("{\"field\":\"text\",\"start\":5,\"end\":2,"
	                      "\"excerpt\":\"x\"}"),
	         "," POST_OK),
	        "field 'findings[0].evidence[0]': end before start"},
	    {VERDICT(EVIDENCE("{\"field\":\"text\",\"start\":0,\"end\":1}"),
	         "," POST_OK),
	        "field 'findings[0].evidence[0].excerpt': expected a string"},
	    {VERDICT(EVIDENCE("{\"field\":\"\",\"start\":0,\"end\":1,"
	                      "\"excerpt\":\"x\"}"),
	         "," POST_OK),
	        "field 'findings[0].evidence[0].field': empty"},
	    {VERDICT(WITH("\"evidence\":[],\"signals\":[{\"name\":\"s\","
	                  "\"weight\":\"heavy\"}]"),
	         "," POST_OK),
	        "field 'findings[0].signals[0].weight': expected a number"},
	    {VERDICT(WITH("\"evidence\":[],\"signals\":[{\"weight\":1}]"),
	         "," POST_OK),
	        "field 'findings[0].signals[0].name': expected a string"},
	    {VERDICT(FINDING_OK "," FINDING_OK ",{\"rule\":5}", "," POST_OK),
	        "field 'findings[2].rule': expected a string, got a number"},
	    {"{\"post_id\":\"p\",\"severity\":\"none\",\"score\":1e999,"
	     "\"findings\":[]}",
	        "verdict: invalid JSON"},
	    {"{\"post_id\":\"p\\u0000\",\"severity\":\"none\",\"score\":0,"
	     "\"findings\":[]}",
	        "verdict: invalid JSON"},
	    {"{\"post_id\":\"\xff\",\"severity\":\"none\",\"score\":0,"
	     "\"findings\":[]}",
	        "verdict: invalid JSON"},
	};
	char       err[256];
	alert_set *s;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		memset(err, 0, sizeof(err));
		s = alert_set_from_verdict(cases[i].json, strlen(cases[i].json),
		    RAISED_AT, err, sizeof(err));
		if (s != NULL)
			fail_msg("accepted %s", cases[i].json);
		assert_true(err[0] != '\0');
		for (const char *c = err; *c != '\0'; c++)
			assert_true((unsigned char)*c >= 0x20 && *c != 0x7f);
		if (strstr(err, cases[i].reason) == NULL)
			fail_msg("%s: reason \"%s\" lacks \"%s\"",
			    cases[i].json, err, cases[i].reason);
	}
}

/* A verdict cut anywhere is refused, never half read. */
static void
test_truncated_verdicts(void **state)
{
	size_t len;
	char  *v = make_verdict(
	     DEV003("2020-12-20T21:15:00+06:00", DEV003_TEXT), &len);
	char err[256];

	for (size_t cut = 0; cut < len; cut++) {
		alert_set *s =
		    alert_set_from_verdict(v, cut, RAISED_AT, err, sizeof(err));

		if (s != NULL)
			fail_msg("accepted the first %zu bytes", cut);
		assert_true(err[0] != '\0');
	}
	free(v);
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
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_encode_decode),
	    cmocka_unit_test(test_alert_documents),
	    cmocka_unit_test(test_alerts_from_findings),
	    cmocka_unit_test(test_alert_ids_follow_content),
	    cmocka_unit_test(test_verdict_without_findings),
	    cmocka_unit_test(test_minimal_verdict),
	    cmocka_unit_test(test_unknown_members_dropped),
	    cmocka_unit_test(test_malformed_verdicts),
	    cmocka_unit_test(test_truncated_verdicts),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
