/*
 * test_post.c - the canonical post: what post_parse accepts and what it
 * refuses (with a reason naming the field), the RFC 3339 times it relies
 * on, jurisdictions, the field services rules use, the content hash, and
 * the JSONTestSuite parsing cases (VIGIL_PEER_DIR) fed in as posts.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "post.h"
#include "text.h"
#include "util.h"

#define FULL_POST                                                                           \
	"{\"id\": \"dev-002\", \"platform\": \"telegram\", "                                \
	"\"channel\": \"@almaty_talks\", "                                                  \
	"\"author\": {\"id\": \"tg:@almaty_talks\", \"handle\": \"almaty\", "               \
	"\"name\": \"Almaty Talks\", \"kind\": \"media\"}, "                                \
	"\"created_at\": \"2020-12-15T10:05:00+06:00\", "                                   \
	"\"text\": \"Опрос для подписчиков\", "                          \
	"\"poll\": {\"question\": \"Какую партию вы поддержите?\", " \
	"\"options\": [\"Nur Otan\", \"Ак жол\", \"Ауыл\"]}, "                     \
	"\"url\": \"https://t.me/almaty_talks/1\", \"lang\": \"ru\", "                      \
	"\"jurisdictions\": [\"KZ\", \"ru\"], "                                             \
	"\"expect\": \"alert\", \"rules\": [\"kz.poll.unregistered\"], "                    \
	"\"why\": \"party-choice poll\"}"

static post *
parse_ok(const char *json)
{
	char  err[256] = "";
	post *p        = NULL;

	if (post_parse(json, strlen(json), &p, err, sizeof(err)) != 0)
		fail_msg("refused %s: %s", json, err);
	assert_non_null(p);
	return p;
}

static void
assert_str(vigil_str s, const char *want)
{
	assert_non_null(s.ptr);
	assert_int_equal(s.len, strlen(want));
	assert_string_equal(s.ptr, want);
}

/* A reason is one printable line. */
static void
assert_reason(const char *err)
{
	assert_true(err[0] != '\0');
	for (const char *c = err; *c != '\0'; c++)
		assert_true((unsigned char)*c >= 0x20 && *c != 0x7f);
}

/* ------------------------------------------------------------ accepted */

static void
test_full_post(void **state)
{
	post             *p = parse_ok(FULL_POST);
	const vigil_post *v = post_view(p);

	assert_int_equal(v->struct_size, sizeof(vigil_post));
	assert_str(v->id, "dev-002");
	assert_str(v->platform, "telegram");
	assert_str(v->channel, "@almaty_talks");
	assert_str(v->url, "https://t.me/almaty_talks/1");
	assert_str(v->lang, "ru");
	assert_str(v->author_id, "tg:@almaty_talks");
	assert_str(v->author_handle, "almaty");
	assert_str(v->author_name, "Almaty Talks");
	assert_int_equal(v->author_kind, VIGIL_AUTHOR_MEDIA);
	/* 10:05 at +06:00 is 04:05 UTC. */
	assert_int_equal(v->created_at, INT64_C(1608005100) * 1000000);
	assert_int_equal(v->created_offset, 6 * 3600);
	assert_str(v->text, "Опрос для подписчиков");
	assert_int_equal(v->has_poll, 1);
	assert_str(v->poll_question, "Какую партию вы поддержите?");
	assert_int_equal(v->n_poll_options, 3);
	assert_str(v->poll_options[1], "Ак жол");
	assert_int_equal(v->n_fields, 5);
	assert_int_equal(v->n_jurisdictions, 2);
	assert_str(v->jurisdictions[0], "kz");
	assert_str(v->jurisdictions[1], "ru");
	post_free(p);
}

static void
test_minimal_post(void **state)
{
	post *p =
	    parse_ok("{\"id\":\"x\",\"created_at\":\"2021-01-10T00:00:00Z\","
	             "\"text\":null,\"author\":null,\"poll\":null,"
	             "\"jurisdictions\":null,\"lang\":null}");
	const vigil_post *v = post_view(p);

	assert_str(v->id, "x");
	assert_str(v->platform, "");
	assert_str(v->channel, "");
	assert_str(v->url, "");
	assert_str(v->lang, "");
	assert_str(v->author_id, "");
	assert_str(v->author_handle, "");
	assert_str(v->author_name, "");
	assert_int_equal(v->author_kind, VIGIL_AUTHOR_UNKNOWN);
	assert_str(v->text, "");
	assert_int_equal(v->has_poll, 0);
	assert_str(v->poll_question, "");
	assert_int_equal(v->n_poll_options, 0);
	assert_int_equal(v->n_fields, 2);
	assert_int_equal(v->n_jurisdictions, 0);
	assert_int_equal(v->created_offset, 0);
	post_free(p);
}

static void
test_author_kinds(void **state)
{
	static const struct {
		const char       *kind;
		vigil_author_kind want;
	} cases[] = {
	    {"person", VIGIL_AUTHOR_PERSON},
	    {"organization", VIGIL_AUTHOR_ORGANIZATION},
	    {"media", VIGIL_AUTHOR_MEDIA},
	    {"unknown", VIGIL_AUTHOR_UNKNOWN},
	};
	char json[256];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		post *p;

		snprintf(json, sizeof(json),
		    "{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
		    "\"author\":{\"kind\":\"%s\"}}",
		    cases[i].kind);
		p = parse_ok(json);
		assert_int_equal(post_view(p)->author_kind, cases[i].want);
		assert_string_equal(
		    author_kind_name(cases[i].want), cases[i].kind);
		post_free(p);
	}
	assert_string_equal(author_kind_name((vigil_author_kind)42), "unknown");
}

static void
test_poll_without_options(void **state)
{
	post *p =
	    parse_ok("{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	             "\"poll\":{\"question\":\"Q\",\"options\":[]}}");
	const vigil_post *v = post_view(p);

	assert_int_equal(v->has_poll, 1);
	assert_str(v->poll_question, "Q");
	assert_int_equal(v->n_poll_options, 0);
	assert_int_equal(v->n_fields, 2);
	post_free(p);
}

static void
test_nesting_in_unknown_field(void **state)
{
	char  buf[600];
	post *p;
	int   n = 0;

	/* Unknown members are ignored however they are shaped, within the
	 * parser's depth limit. */
	n += snprintf(buf + n, sizeof(buf) - n,
	    "{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\",\"x\":");
	for (int i = 0; i < 200; i++)
		buf[n++] = '[';
	for (int i = 0; i < 200; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	buf[n]   = '\0';
	p        = parse_ok(buf);
	post_free(p);
}

/* ------------------------------------------------------------ refused */

static void
test_refused(void **state)
{
	static const struct {
		const char *json;
		const char *reason; /* a part of the reason */
	} cases[] = {
	    {"", "invalid JSON"},
	    {"{", "invalid JSON"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\"} x",
	        "invalid JSON"},
	    {"[]", "expected a JSON object, got an array"},
	    {"\"id\"", "expected a JSON object, got a string"},
	    {"{\"created_at\":\"2021-01-10T00:00:00Z\"}",
	        "field 'id': missing"},
	    {"{\"id\":null,\"created_at\":\"2021-01-10T00:00:00Z\"}",
	        "field 'id': missing"},
	    {"{\"id\":\"\",\"created_at\":\"2021-01-10T00:00:00Z\"}",
	        "field 'id': empty"},
	    {"{\"id\":7,\"created_at\":\"2021-01-10T00:00:00Z\"}",
	        "field 'id': expected a string, got a number"},
	    {"{\"id\":\"a\"}", "field 'created_at': missing"},
	    {"{\"id\":\"a\",\"created_at\":1610236800}",
	        "field 'created_at': expected a string, got a number"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-02-30T10:00:00+06:00\"}",
	        "field 'created_at': not an RFC 3339 time with offset"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T20:30:00\"}",
	        "field 'created_at': not an RFC 3339 time with offset"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T20:30:00+24:00\"}",
	        "field 'created_at': not an RFC 3339 time with offset"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\",\"text\":"
	     "5}",
	        "field 'text': expected a string, got a number"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"platform\":[]}",
	        "field 'platform': expected a string, got an array"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"channel\":true}",
	        "field 'channel': expected a string, got a boolean"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"url\":{}}",
	        "field 'url': expected a string, got an object"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"lang\":1.5}",
	        "field 'lang': expected a string, got a number"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"author\":\"me\"}",
	        "field 'author': expected an object, got a string"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"author\":{\"id\":1}}",
	        "field 'author.id': expected a string, got a number"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"author\":{\"kind\":\"robot\"}}",
	        "field 'author.kind': expected one of person"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"author\":{\"kind\":\"\"}}",
	        "field 'author.kind': expected one of person"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"poll\":[]}",
	        "field 'poll': expected an object, got an array"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"poll\":{\"question\":1}}",
	        "field 'poll.question': expected a string, got a number"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"poll\":{\"options\":\"a,b\"}}",
	        "field 'poll.options': expected an array, got a string"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"poll\":{\"options\":[\"a\",null]}}",
	        "field 'poll.options[1]': expected a string, got null"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"jurisdictions\":\"kz\"}",
	        "field 'jurisdictions': expected an array, got a string"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"jurisdictions\":[\"kaz\"]}",
	        "field 'jurisdictions[0]': not a two-letter ISO 3166 code"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"jurisdictions\":[\"kz\",\"k1\"]}",
	        "field 'jurisdictions[1]': not a two-letter ISO 3166 code"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"jurisdictions\":[\"kz\",5]}",
	        "field 'jurisdictions[1]': expected a string, got a number"},
	    {"{\"id\":\"a\",\"id\":\"b\",\"created_at\":\"2021-01-10T00:00:"
	     "00Z\"}",
	        "duplicate"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"why\":1,\"why\":2}",
	        "duplicate"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"text\":\"a\\u0000b\"}",
	        "invalid JSON"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"text\":\"\xd0\"}",
	        "invalid JSON"},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"text\":\"\xed\xa0\x80\"}",
	        "invalid JSON"},
	};
	char  err[256];
	post *p;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		memset(err, 0, sizeof(err));
		p = (post *)&p; /* must come back NULL */
		if (post_parse(cases[i].json, strlen(cases[i].json), &p, err,
		        sizeof(err)) == 0)
			fail_msg("accepted %s", cases[i].json);
		assert_null(p);
		assert_reason(err);
		if (strstr(err, cases[i].reason) == NULL)
			fail_msg("%s: reason \"%s\" lacks \"%s\"",
			    cases[i].json, err, cases[i].reason);
	}
}

/* The class of each kind of refusal, as metrics label it. */
static void
test_refusal_class(void **state)
{
	static const struct {
		const char       *json;
		enum post_refusal want;
	} cases[] = {
	    {"{", POST_REFUSED_JSON},
	    {"[]", POST_REFUSED_JSON},
	    {"{\"id\":\"a\",\"id\":\"b\"}", POST_REFUSED_JSON},
	    {"{\"created_at\":\"2021-01-10T00:00:00Z\"}", POST_REFUSED_MISSING},
	    {"{\"id\":\"a\"}", POST_REFUSED_MISSING},
	    {"{\"id\":7,\"created_at\":\"2021-01-10T00:00:00Z\"}",
	        POST_REFUSED_TYPE},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"poll\":{\"options\":[\"a\",null]}}",
	        POST_REFUSED_TYPE},
	    {"{\"id\":\"\",\"created_at\":\"2021-01-10T00:00:00Z\"}",
	        POST_REFUSED_VALUE},
	    {"{\"id\":\"a\",\"created_at\":\"2021-02-30T10:00:00+06:00\"}",
	        POST_REFUSED_VALUE},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"author\":{\"kind\":\"robot\"}}",
	        POST_REFUSED_VALUE},
	    {"{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	     "\"jurisdictions\":[\"kaz\"]}",
	        POST_REFUSED_VALUE},
	};
	char  err[256];
	post *p;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_not_equal(
		    post_parse(cases[i].json, strlen(cases[i].json), &p, err,
		        sizeof(err)),
		    0);
		if (post_refusal_of(err) != cases[i].want)
			fail_msg("%s: \"%s\" classed %s, not %s", cases[i].json,
			    err, post_refusal_name(post_refusal_of(err)),
			    post_refusal_name(cases[i].want));
	}
	assert_int_equal(
	    post_refusal_of("post: out of memory"), POST_REFUSED_OTHER);
	assert_int_equal(post_refusal_of("field 'x"), POST_REFUSED_OTHER);
	assert_string_equal(
	    post_refusal_name(POST_REFUSED_TOO_LARGE), "too_large");
	assert_string_equal(post_refusal_name(POST_REFUSED_COUNT), "other");
}

static void
test_too_deep(void **state)
{
	static const char head[] =
	    "{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\",\"x\":";
	size_t depth = 5000, n = 0;
	char  *buf      = malloc(sizeof(head) + 2 * depth + 2);
	char   err[256] = "";
	post  *p;

	assert_non_null(buf);
	memcpy(buf, head, sizeof(head) - 1);
	n = sizeof(head) - 1;
	for (size_t i = 0; i < depth; i++)
		buf[n++] = '[';
	for (size_t i = 0; i < depth; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	assert_int_equal(post_parse(buf, n, &p, err, sizeof(err)), -1);
	assert_reason(err);
	assert_non_null(strstr(err, "depth"));
	free(buf);
}

/* A reason that quotes raw input stays one printable line. */
static void
test_reason_is_printable(void **state)
{
	static const char bad[]    = "{\"id\":\"a\",\n\x01\xff\xfe}";
	char              err[256] = "";
	post             *p;

	assert_int_equal(
	    post_parse(bad, sizeof(bad) - 1, &p, err, sizeof(err)), -1);
	assert_reason(err);
}

static void
test_small_error_buffer(void **state)
{
	char  err[8];
	post *p;

	memset(err, 'x', sizeof(err));
	assert_int_equal(post_parse("{}", 2, &p, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
}

/* ------------------------------------------------------------ RFC 3339 */

static void
test_rfc3339_valid(void **state)
{
	static const struct {
		const char *s;
		int64_t     us;
		int32_t     offset;
	} cases[] = {
	    {"1970-01-01T00:00:00Z", 0, 0},
	    {"2021-01-10T20:30:00+06:00", INT64_C(1610289000000000), 21600},
	    {"2021-01-10t14:30:00z", INT64_C(1610289000000000), 0},
	    {"2021-01-10T09:00:00-05:30", INT64_C(1610289000000000), -19800},
	    {"2021-01-10T14:30:00-00:00", INT64_C(1610289000000000), 0},
	    {"2021-01-10T14:30:00.5Z", INT64_C(1610289000500000), 0},
	    {"2021-01-10T14:30:00.123456789Z", INT64_C(1610289000123456), 0},
	    {"2020-02-29T00:00:00Z", INT64_C(1582934400000000), 0},
	    {"2000-02-29T00:00:00Z", INT64_C(951782400000000), 0},
	    {"1969-12-31T23:59:59.999999Z", -1, 0},
	    {"1900-01-01T00:00:00Z", INT64_C(-2208988800000000), 0},
	    {"2016-12-31T23:59:60Z", INT64_C(1483228800000000), 0},
	    {"2017-01-01T05:59:60+06:00", INT64_C(1483228800000000), 21600},
	    {"2021-01-10T00:00:00+23:59", INT64_C(1610150460000000), 86340},
	    {"9999-12-31T23:59:59Z", INT64_C(253402300799000000), 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int64_t us  = 42;
		int32_t off = 42;

		if (rfc3339_parse(cases[i].s, &us, &off) != 0)
			fail_msg("refused %s", cases[i].s);
		assert_int_equal(us, cases[i].us);
		assert_int_equal(off, cases[i].offset);
	}
	assert_int_equal(rfc3339_parse("2021-01-10T00:00:00Z", NULL, NULL), 0);
}

static void
test_rfc3339_invalid(void **state)
{
	static const char *const cases[] = {
	    "",
	    "2021-01-10",
	    "2021-01-10T20:30:00",
	    "2021-01-10 20:30:00Z",
	    "2021-01-10T20:30Z",
	    "2021-1-10T20:30:00Z",
	    "21-01-10T20:30:00Z",
	    "2021-02-30T10:00:00+06:00",
	    "2021-02-29T10:00:00Z",
	    "1900-02-29T10:00:00Z",
	    "2021-04-31T10:00:00Z",
	    "2021-13-01T10:00:00Z",
	    "2021-00-01T10:00:00Z",
	    "2021-01-00T10:00:00Z",
	    "2021-01-10T24:00:00Z",
	    "2021-01-10T23:60:00Z",
	    "2021-01-10T23:59:61Z",
	    "2021-01-10T12:00:60Z",
	    "2021-01-10T20:30:00+24:00",
	    "2021-01-10T20:30:00+06:60",
	    "2021-01-10T20:30:00+0600",
	    "2021-01-10T20:30:00+06",
	    "2021-01-10T20:30:00.Z",
	    "2021-01-10T20:30:00Zjunk",
	    "2021-01-10T20:30:00 Z",
	    "+2021-01-10T20:30:00Z",
	    "２021-01-10T20:30:00Z",
	};
	int64_t us  = 7;
	int32_t off = 7;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		if (rfc3339_parse(cases[i], &us, &off) == 0)
			fail_msg("accepted \"%s\"", cases[i]);
	}
	assert_int_equal(rfc3339_parse(NULL, &us, &off), -1);
	assert_int_equal(us, 7);
	assert_int_equal(off, 7);
}

static void
test_rfc3339_format(void **state)
{
	static const struct {
		int64_t     us;
		const char *s;
	} cases[] = {
	    {0, "1970-01-01T00:00:00Z"},
	    {INT64_C(1610289000000000), "2021-01-10T14:30:00Z"},
	    {INT64_C(1610289000000001), "2021-01-10T14:30:00.000001Z"},
	    {INT64_C(1582934400500000), "2020-02-29T00:00:00.500000Z"},
	    {-1, "1969-12-31T23:59:59.999999Z"},
	    {INT64_C(-2208988800000000), "1900-01-01T00:00:00Z"},
	    {INT64_C(253402300799000000), "9999-12-31T23:59:59Z"},
	};
	char buf[32];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int64_t back;

		assert_ptr_equal(
		    rfc3339_format(cases[i].us, buf, sizeof(buf)), buf);
		assert_string_equal(buf, cases[i].s);
		assert_int_equal(rfc3339_parse(buf, &back, NULL), 0);
		assert_int_equal(back, cases[i].us);
	}
	/* The extremes fit in 32 bytes; a short buffer is refused. */
	assert_non_null(rfc3339_format(INT64_MIN, buf, sizeof(buf)));
	assert_non_null(rfc3339_format(INT64_MAX, buf, sizeof(buf)));
	assert_null(rfc3339_format(0, buf, 20));
}

/* ------------------------------------------------------------ jurisdictions */

static void
test_default_jurisdictions(void **state)
{
	static const char *const defaults[] = {"KZ", "fr"};
	static const char *const bad[]      = {"kz", "kaz"};
	post                    *p =
	    parse_ok("{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\"}");
	post *own =
	    parse_ok("{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	             "\"jurisdictions\":[\"RU\"]}");
	const vigil_post *v = post_view(p);

	/* No jurisdiction: every jurisdiction applies. */
	assert_true(post_in_jurisdiction(v, "kz"));
	assert_int_equal(post_set_default_jurisdictions(p, bad, 2), -1);
	assert_int_equal(v->n_jurisdictions, 0);
	assert_int_equal(post_set_default_jurisdictions(p, defaults, 2), 0);
	assert_int_equal(v->n_jurisdictions, 2);
	assert_str(v->jurisdictions[0], "kz");
	assert_str(v->jurisdictions[1], "fr");
	assert_true(post_in_jurisdiction(v, "KZ"));
	assert_true(post_in_jurisdiction(v, "fr"));
	assert_false(post_in_jurisdiction(v, "ru"));
	assert_false(post_in_jurisdiction(v, "k"));
	/* Defaults replace defaults. */
	assert_int_equal(post_set_default_jurisdictions(p, defaults + 1, 1), 0);
	assert_int_equal(v->n_jurisdictions, 1);
	assert_false(post_in_jurisdiction(v, "kz"));

	/* A post that names its own keeps them. */
	assert_int_equal(post_set_default_jurisdictions(own, defaults, 2), 0);
	v = post_view(own);
	assert_int_equal(v->n_jurisdictions, 1);
	assert_str(v->jurisdictions[0], "ru");
	assert_true(post_in_jurisdiction(v, "RU"));
	assert_false(post_in_jurisdiction(v, "kz"));
	post_free(p);
	post_free(own);
}

/* ------------------------------------------------------------ fields */

static void
test_fields(void **state)
{
	post             *p = parse_ok(FULL_POST);
	const vigil_post *v = post_view(p);
	char              name[32];

	assert_str(post_field(v, VIGIL_FIELD_TEXT), "Опрос для подписчиков");
	assert_str(post_field(v, VIGIL_FIELD_POLL_QUESTION),
	    "Какую партию вы поддержите?");
	assert_str(post_field(v, VIGIL_FIELD_POLL_OPTION(2)), "Ауыл");
	assert_str(post_field(v, VIGIL_FIELD_POLL_OPTION(3)), "");
	assert_str(post_field(v, 1000), "");

	assert_string_equal(post_field_name(0, name, sizeof(name)), "text");
	assert_string_equal(
	    post_field_name(1, name, sizeof(name)), "poll.question");
	assert_string_equal(
	    post_field_name(VIGIL_FIELD_POLL_OPTION(2), name, sizeof(name)),
	    "poll.options[2]");
	assert_null(post_field_name(VIGIL_FIELD_POLL_OPTION(2), name, 8));
	post_free(p);
}

static void
test_norm_cache(void **state)
{
	post *p =
	    parse_ok("{\"id\":\"a\",\"created_at\":\"2021-01-10T00:00:00Z\","
	             "\"text\":\"  ГОЛОСУЙТЕ\\u00a0 ЗА  Nur\\u200bOtan \","
	             "\"poll\":{\"question\":\"КТО?\",\"options\":[\"ДА\"]}}");
	post *nopoll =
	    parse_ok("{\"id\":\"b\",\"created_at\":\"2021-01-10T00:00:00Z\"}");
	const vigil_post *v = post_view(p);
	const vigil_norm *n, *again;
	const char       *text;
	size_t            len;

	n = post_norm(v, VIGIL_FIELD_TEXT);
	assert_non_null(n);
	text = text_norm_text(n, &len);
	assert_int_equal(len, strlen("голосуйте за nurotan"));
	assert_memory_equal(text, "голосуйте за nurotan", len);
	again = post_norm(v, VIGIL_FIELD_TEXT);
	assert_ptr_equal(n, again);

	n = post_norm(v, VIGIL_FIELD_POLL_OPTION(0));
	assert_non_null(n);
	text = text_norm_text(n, &len);
	assert_memory_equal(text, "да", len);
	assert_non_null(post_norm(v, VIGIL_FIELD_POLL_QUESTION));
	assert_null(post_norm(v, VIGIL_FIELD_POLL_OPTION(1)));

	/* No poll: no question. An absent text is an empty one. */
	assert_null(post_norm(post_view(nopoll), VIGIL_FIELD_POLL_QUESTION));
	n = post_norm(post_view(nopoll), VIGIL_FIELD_TEXT);
	assert_non_null(n);
	text_norm_text(n, &len);
	assert_int_equal(len, 0);
	post_free(p);
	post_free(nopoll);
}

/* ------------------------------------------------------------ content hash */

static void
hash_of(const char *json, unsigned char out[32])
{
	post *p = parse_ok(json);

	assert_int_equal(post_content_digest(post_view(p), out), 0);
	post_free(p);
}

static void
test_content_hash(void **state)
{
	unsigned char a[32], b[32], c[32], d[32], e[32], f[32];
	char          hex[65];
	post         *p;

	hash_of("{\"id\":\"1\",\"created_at\":\"2021-01-10T00:00:00Z\","
	        "\"text\":\"ab\",\"poll\":{\"question\":\"c\"}}",
	    a);
	/* Same content, other post: same hash. */
	hash_of("{\"id\":\"2\",\"created_at\":\"2022-01-10T00:00:00Z\","
	        "\"platform\":\"vk\",\"text\":\"ab\","
	        "\"poll\":{\"question\":\"c\",\"options\":[]}}",
	    b);
	/* The same bytes split otherwise: another hash. */
	hash_of("{\"id\":\"1\",\"created_at\":\"2021-01-10T00:00:00Z\","
	        "\"text\":\"a\",\"poll\":{\"question\":\"bc\"}}",
	    c);
	/* An edit: another hash. */
	hash_of("{\"id\":\"1\",\"created_at\":\"2021-01-10T00:00:00Z\","
	        "\"text\":\"ab!\",\"poll\":{\"question\":\"c\"}}",
	    d);
	/* An added option: another hash. */
	hash_of("{\"id\":\"1\",\"created_at\":\"2021-01-10T00:00:00Z\","
	        "\"text\":\"ab\",\"poll\":{\"question\":\"c\","
	        "\"options\":[\"\"]}}",
	    e);
	assert_memory_equal(a, b, 32);
	assert_memory_not_equal(a, c, 32);
	assert_memory_not_equal(a, d, 32);
	assert_memory_not_equal(a, e, 32);

	/* SHA-256 of "ab\0c\0", computed apart from vigil. */
	hex_encode(a, 32, hex);
	assert_string_equal(hex,
	    "629c2f14f654f026086f2aefe1855533"
	    "d0897f49df86a19073be17b237361b09");

	p = parse_ok(FULL_POST);
	assert_int_equal(post_content_digest(post_view(p), a), 0);
	post_content_hash(post_view(p), f);
	assert_memory_equal(a, f, 32);
	post_free(p);
}

/* ------------------------------------------------------------ JSONTestSuite */

static char *
read_file(const char *path, size_t *len)
{
	FILE *fp  = fopen(path, "rb");
	char *buf = NULL;
	long  size;

	*len = 0;
	if (fp == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (size = ftell(fp)) >= 0 &&
	    fseek(fp, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)size + 1);
		if (buf != NULL &&
		    fread(buf, 1, (size_t)size, fp) != (size_t)size) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)size;
	}
	fclose(fp);
	return buf;
}

static void
test_json_suite(void **state)
{
	const char    *dir = getenv("VIGIL_PEER_DIR");
	struct dirent *de;
	size_t         n_files = 0, n_refused = 0;
	DIR           *d;

	if (dir == NULL || dir[0] == '\0')
		skip();
	d = opendir(dir);
	if (d == NULL)
		fail_msg("VIGIL_PEER_DIR=%s: cannot open", dir);
	while ((de = readdir(d)) != NULL) {
		char   path[4096], err[256];
		size_t len;
		char  *buf;
		post  *p = NULL;
		int    rc;

		if (strncmp(de->d_name, "n_", 2) != 0 &&
		    strncmp(de->d_name, "y_", 2) != 0 &&
		    strncmp(de->d_name, "i_", 2) != 0)
			continue;
		assert_true(
		    strfmt(path, sizeof(path), "%s/%s", dir, de->d_name));
		buf = read_file(path, &len);
		if (buf == NULL)
			fail_msg("%s: cannot read", path);
		err[0] = '\0';
		rc     = post_parse(buf, len, &p, err, sizeof(err));
		if (rc != 0) {
			n_refused++;
			if (err[0] == '\0')
				fail_msg(
				    "%s: refused without a reason", de->d_name);
			assert_reason(err);
			assert_null(p);
		} else if (de->d_name[0] == 'n') {
			fail_msg(
			    "%s: invalid JSON accepted as a post", de->d_name);
		}
		post_free(p);
		free(buf);
		n_files++;
	}
	closedir(d);
	if (n_files == 0)
		fail_msg("VIGIL_PEER_DIR=%s: no test_parsing cases", dir);
	print_message("JSONTestSuite: %zu files, %zu refused as posts\n",
	    n_files, n_refused);
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
	    cmocka_unit_test(test_full_post),
	    cmocka_unit_test(test_minimal_post),
	    cmocka_unit_test(test_author_kinds),
	    cmocka_unit_test(test_poll_without_options),
	    cmocka_unit_test(test_nesting_in_unknown_field),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_refusal_class),
	    cmocka_unit_test(test_too_deep),
	    cmocka_unit_test(test_reason_is_printable),
	    cmocka_unit_test(test_small_error_buffer),
	    cmocka_unit_test(test_rfc3339_valid),
	    cmocka_unit_test(test_rfc3339_invalid),
	    cmocka_unit_test(test_rfc3339_format),
	    cmocka_unit_test(test_default_jurisdictions),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_norm_cache),
	    cmocka_unit_test(test_content_hash),
	    cmocka_unit_test(test_json_suite),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
