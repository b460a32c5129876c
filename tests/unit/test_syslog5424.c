/*
 * test_syslog5424.c - the syslog sink's messages (plugins/sink/syslog/
 * format.c): PRI, RFC 3339 timestamps, MSGID, SD-ID rules, PARAM-VALUE
 * escaping, the BOM, cuts at character boundaries and RFC 6587 octet
 * counting. Whole RFC 5424 messages are read back by a small parser of
 * the RFC's grammar.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <cmocka.h>

#include "format.h"
#include "utf8_seq.h"

#define BOM "\xef\xbb\xbf"

/* 2024-01-08T14:03:22.012345Z */
#define T_2024 (1704722602LL * 1000000 + 12345)

static const sl_header header = {
    .pri      = LOG_DAEMON | LOG_CRIT,
    .time_us  = T_2024,
    .hostname = "mod1.example.org",
    .app      = "vigil",
    .pid      = 1234,
    .sd_id    = SL_SD_ID_DEFAULT,
};

static vigil_alert
sample_alert(void)
{
	vigil_alert a = {
	    .struct_size  = sizeof(vigil_alert),
	    .id           = "47376d13a77cfa90f38584d188f2b3fb",
	    .rule         = "kz.poll.blackout",
	    .jurisdiction = "kz",
	    .severity     = VIGIL_SEV_ALERT,
	    .score        = 10,
	    .title        = "Poll talk during the blackout",
	    .post_id      = "demo-004",
	    .platform     = "telegram",
	    .channel      = "@qazaq_jastar",
	    .law          = "Law \"On Elections\" [art]",
	    .article      = "Art. 28\\9",
	    .window       = "poll blackout",
	    .excerpt      = "Сауалнама нәтижелері",
	};

	return a;
}

static int
utf8_valid(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t len = utf8_seq((const unsigned char *)s + i, n - i);

		if (len == 0)
			return 0;
		i += len;
	}
	return 1;
}

/* ------------------------------------------------------------------------
 * A reader of RFC 5424 messages, to check what the formatter writes
 * against the grammar rather than against itself. */

typedef struct parsed {
	int    pri;
	char   fields[6][300]; /* TIMESTAMP HOSTNAME APP PROCID MSGID, SD-ID */
	char   names[16][40];
	char   values[16][600]; /* unescaped */
	size_t n_params;
	int    has_msg;
	int    bom;
	char   msg[9000];
} parsed;

static const char *
token(const char *p, char *out, size_t max)
{
	size_t n = 0;

	while (*p > 32 && *p < 127) {
		if (n + 1 >= max)
			return NULL;
		out[n++] = *p++;
	}
	out[n] = '\0';
	return n > 0 && *p == ' ' ? p + 1 : NULL;
}

static const char *
sd_name(const char *p, char *out, size_t max, const char *stops)
{
	size_t n = 0;

	while (*p > 32 && *p < 127 && !strchr("=]\"", *p)) {
		if (n + 1 >= max)
			return NULL;
		out[n++] = *p++;
	}
	out[n] = '\0';
	return n > 0 && strchr(stops, *p) ? p : NULL;
}

/* Returns 0 for a message that follows the grammar. */
static int
parse_5424(const char *msg, size_t len, parsed *out)
{
	const char *p = msg, *end = msg + len;
	char        num[8];

	memset(out, 0, sizeof(*out));
	if (strlen(msg) != len || *p++ != '<')
		return -1;
	for (size_t n = 0; *p >= '0' && *p <= '9'; n++) {
		if (n >= 3)
			return -1;
		num[n]     = *p++;
		num[n + 1] = '\0';
	}
	out->pri = atoi(num);
	if (out->pri > 191 || strncmp(p, ">1 ", 3) != 0)
		return -1;
	p += 3;
	for (int i = 0; i < 5; i++)
		if ((p = token(p, out->fields[i], sizeof(out->fields[i]))) ==
		    NULL)
			return -1;
	if (strlen(out->fields[1]) > 255 || strlen(out->fields[2]) > 48 ||
	    strlen(out->fields[3]) > 128 || strlen(out->fields[4]) > 32)
		return -1;
	if (*p++ != '[' || (p = sd_name(p, out->fields[5], 33, " ]")) == NULL)
		return -1;
	while (*p == ' ') {
		char  *v = out->values[out->n_params];
		size_t n = 0;

		if (out->n_params == 16 ||
		    (p = sd_name(p + 1, out->names[out->n_params], 33, "=")) ==
		        NULL ||
		    strncmp(p, "=\"", 2) != 0)
			return -1;
		for (p += 2; *p != '"'; p++) {
			if (p >= end || *p == ']')
				return -1; /* ']' must be escaped */
			if (*p == '\\' && strchr("\"\\]", p[1]))
				p++;
			v[n++] = *p;
		}
		v[n] = '\0';
		p++;
		out->n_params++;
	}
	if (*p++ != ']')
		return -1;
	if (p == end)
		return 0;
	if (*p++ != ' ')
		return -1;
	out->has_msg = 1;
	out->bom     = strncmp(p, BOM, 3) == 0;
	if (out->bom)
		p += 3;
	if ((size_t)(end - p) >= sizeof(out->msg))
		return -1;
	memcpy(out->msg, p, (size_t)(end - p));
	return utf8_valid(p, (size_t)(end - p)) ? 0 : -1;
}

static const char *
param(const parsed *pm, const char *name)
{
	for (size_t i = 0; i < pm->n_params; i++)
		if (strcmp(pm->names[i], name) == 0)
			return pm->values[i];
	return NULL;
}

/* ------------------------------------------------------------------------
 * Fields */

static void
test_pri(void **state)
{
	(void)state;
	assert_int_equal(sl_pri(LOG_DAEMON, VIGIL_SEV_ALERT), 3 * 8 + 2);
	assert_int_equal(sl_pri(LOG_USER, VIGIL_SEV_WARNING), 8 + 4);
	assert_int_equal(sl_pri(LOG_AUTH, VIGIL_SEV_NOTICE), 4 * 8 + 5);
	assert_int_equal(sl_pri(LOG_LOCAL7, VIGIL_SEV_NONE), 23 * 8 + 6);
}

static void
test_timestamp(void **state)
{
	char ts[40];

	(void)state;
	sl_timestamp(T_2024, ts, sizeof(ts));
	assert_string_equal(ts, "2024-01-08T14:03:22.012345Z");
	sl_timestamp(0, ts, sizeof(ts));
	assert_string_equal(ts, "1970-01-01T00:00:00.000000Z");
	sl_timestamp(-1, ts, sizeof(ts));
	assert_string_equal(ts, "1969-12-31T23:59:59.999999Z");
	sl_timestamp(951782400LL * 1000000 + 999999, ts, sizeof(ts));
	assert_string_equal(ts, "2000-02-29T00:00:00.999999Z");
	/* Past year 9999 RFC 3339 has no form: NILVALUE. */
	sl_timestamp(253402300800LL * 1000000, ts, sizeof(ts));
	assert_string_equal(ts, "-");
}

static void
test_msgid(void **state)
{
	(void)state;
	assert_string_equal(sl_msgid("kz.poll.blackout"), "kz.poll.blackout");
	assert_string_equal(sl_msgid("a2345678901234567890123456789012"),
	    "a2345678901234567890123456789012");
	assert_string_equal(sl_msgid("a23456789012345678901234567890123"), "-");
	assert_string_equal(sl_msgid("watchlist.опрос"), "-");
	assert_string_equal(sl_msgid("two words"), "-");
	assert_string_equal(sl_msgid(""), "-");
	assert_string_equal(sl_msgid(NULL), "-");
}

static void
test_sd_id(void **state)
{
	(void)state;
	assert_true(sl_sd_id_valid("vigil@32473"));
	assert_true(sl_sd_id_valid("vigil@32473.1.20"));
	assert_true(sl_sd_id_valid("x@1"));
	assert_false(sl_sd_id_valid("vigil"));
	assert_false(sl_sd_id_valid("@32473"));
	assert_false(sl_sd_id_valid("vigil@"));
	assert_false(sl_sd_id_valid("vigil@ab"));
	assert_false(sl_sd_id_valid("vigil@1."));
	assert_false(sl_sd_id_valid("vigil@1..2"));
	assert_false(sl_sd_id_valid("a@1@2"));
	assert_false(sl_sd_id_valid("vi gil@1"));
	assert_false(sl_sd_id_valid("vi=gil@1"));
	assert_false(sl_sd_id_valid("vi]gil@1"));
	assert_false(sl_sd_id_valid("vi\"gil@1"));
	assert_false(sl_sd_id_valid("a2345678901234567890123456789@123"));
	assert_true(sl_sd_id_valid("a234567890123456789012345678@123"));
	assert_false(sl_sd_id_valid(NULL));
}

/* ------------------------------------------------------------------------
 * Structured data */

static void
test_param_escaping(void **state)
{
	char   buf[256];
	sl_msg m = {buf, 0, sizeof(buf) - 1, 0, 0};

	(void)state;
	assert_int_equal(sl_sd_param(&m, "law", "a\"b\\c]d[e", 0), 0);
	buf[m.len] = '\0';
	assert_string_equal(buf, " law=\"a\\\"b\\\\c\\]d[e\"");

	m.len = 0;
	assert_int_equal(sl_sd_param(&m, "t", "x\ny\tz\x7f", 0), 0);
	buf[m.len] = '\0';
	assert_string_equal(buf, " t=\"x y z \"");

	/* UTF-8 stays; a byte that is not UTF-8 becomes U+FFFD. */
	m.len = 0;
	assert_int_equal(sl_sd_param(&m, "c", "@канал\xff!\xd0", 0), 0);
	buf[m.len] = '\0';
	assert_string_equal(buf, " c=\"@канал\xef\xbf\xbd!\xef\xbf\xbd\"");

	/* Absent values add nothing. */
	m.len = 0;
	assert_int_equal(sl_sd_param(&m, "url", NULL, 0), 0);
	assert_int_equal(sl_sd_param(&m, "url", "", 0), 0);
	assert_int_equal(m.len, 0);
}

static void
test_param_whole_or_nothing(void **state)
{
	char   buf[32];
	sl_msg m = {buf, 0, 20, 0, 0};

	(void)state;
	/* ` k="0123456789"` is 15 bytes: fits in 20, but not with 6 kept. */
	assert_int_equal(sl_sd_param(&m, "k", "0123456789", 6), -1);
	assert_int_equal(m.len, 0);
	assert_false(m.cut);
	assert_int_equal(sl_sd_param(&m, "k", "0123456789", 5), 0);
	assert_int_equal(m.len, 15);
	/* Escapes count: `\]` is two bytes. */
	m.len = 0;
	assert_int_equal(sl_sd_param(&m, "k", "]]]]]]]]", 0), -1);
	assert_int_equal(sl_sd_param(&m, "k", "]]]]]]]", 0), 0);
	assert_int_equal(m.len, 19);
}

/* ------------------------------------------------------------------------
 * Whole messages */

static void
test_5424_text(void **state)
{
	static char       buf[8192];
	static const char want[] =
	    "<26>1 2024-01-08T14:03:22.012345Z mod1.example.org vigil 1234 "
	    "kz.poll.blackout [vigil@32473 "
	    "id=\"47376d13a77cfa90f38584d188f2b3fb\" rule=\"kz.poll.blackout\" "
	    "severity=\"alert\" score=\"10\" jurisdiction=\"kz\" "
	    "post=\"demo-004\" platform=\"telegram\" channel=\"@qazaq_jastar\" "
	    "law=\"Law \\\"On Elections\\\" [art\\]\" article=\"Art. 28\\\\9\" "
	    "window=\"poll blackout\"] " BOM "alert "
	    "id=47376d13a77cfa90f38584d188f2b3fb rule=kz.poll.blackout "
	    "severity=alert score=10 jurisdiction=kz post=demo-004 "
	    "platform=telegram channel=@qazaq_jastar title=\"Poll talk "
	    "during the blackout\" law=\"Law \\\"On Elections\\\" [art]\" "
	    "article=\"Art. 28\\\\9\" window=\"poll blackout\" "
	    "excerpt=\"Сауалнама нәтижелері\"";
	static parsed p;
	vigil_alert   a = sample_alert();
	sl_msg        m = {buf, 0, sizeof(buf) - 1, 0, 0};

	(void)state;
	sl_format_5424(&m, &header, &a, 0);
	buf[m.len] = '\0';
	assert_false(m.cut);
	assert_string_equal(buf, want);

	assert_int_equal(parse_5424(buf, m.len, &p), 0);
	assert_int_equal(p.pri, 26);
	assert_string_equal(p.fields[0], "2024-01-08T14:03:22.012345Z");
	assert_string_equal(p.fields[1], "mod1.example.org");
	assert_string_equal(p.fields[2], "vigil");
	assert_string_equal(p.fields[3], "1234");
	assert_string_equal(p.fields[4], "kz.poll.blackout");
	assert_string_equal(p.fields[5], "vigil@32473");
	assert_int_equal(p.n_params, 11); /* no url */
	assert_null(param(&p, "url"));
	assert_string_equal(param(&p, "law"), "Law \"On Elections\" [art]");
	assert_string_equal(param(&p, "article"), "Art. 28\\9");
	assert_true(p.bom);
}

static void
test_5424_json_and_nil(void **state)
{
	static char       buf[4096];
	static parsed     p;
	static const char doc[] = "{\"id\":\"x\",\n\"text\":\"опрос\"}";
	vigil_alert       a     = sample_alert();
	sl_header         h     = header;
	sl_msg            m     = {buf, 0, sizeof(buf) - 1, 0, 0};

	(void)state;
	a.json     = doc;
	a.json_len = strlen(doc);
	a.rule     = "watchlist.опрос";
	a.url      = "https://t.me/c/1?a=\"b\"";
	h.hostname = NULL;
	sl_format_5424(&m, &h, &a, 1);
	buf[m.len] = '\0';
	assert_int_equal(parse_5424(buf, m.len, &p), 0);
	assert_string_equal(p.fields[1], "-"); /* NILVALUE host */
	assert_string_equal(p.fields[4], "-"); /* rule is no MSGID */
	assert_string_equal(param(&p, "rule"), "watchlist.опрос");
	assert_string_equal(param(&p, "url"), "https://t.me/c/1?a=\"b\"");
	assert_true(p.bom);
	assert_string_equal(p.msg, "{\"id\":\"x\", \"text\":\"опрос\"}");

	/* No document: no MSG at all, not even the BOM. */
	a.json = NULL;
	m.len  = 0;
	sl_format_5424(&m, &h, &a, 1);
	buf[m.len] = '\0';
	assert_int_equal(parse_5424(buf, m.len, &p), 0);
	assert_false(p.has_msg);
	assert_int_equal(buf[m.len - 1], ']');
}

/* Cut anywhere between the smallest allowed size and the whole message,
 * the result is valid RFC 5424 in UTF-8 that keeps the alert id. */
static void
test_5424_cut_at_characters(void **state)
{
	static char   buf[8192];
	static parsed p;
	static char   longtext[3000];
	vigil_alert   a = sample_alert();
	sl_header     h = header;
	sl_msg        m;
	char          longhost[SL_HOSTNAME_MAX + 1];

	(void)state;
	for (size_t i = 0; i + 2 < sizeof(longtext); i += 2)
		memcpy(longtext + i, "ж", 2);
	a.excerpt = longtext;
	a.url     = longtext; /* too long for the structured data */
	memset(longhost, 'h', SL_HOSTNAME_MAX);
	longhost[SL_HOSTNAME_MAX] = '\0';
	h.hostname                = longhost;
	h.pid                     = 4194304;
	/* Up to sizes where the whole excerpt fits, never the url. */
	for (size_t cap = SL_5424_MIN_MESSAGE; cap < 2900; cap += 7) {
		m = (sl_msg){buf, 0, cap, 0, 0};
		sl_format_5424(&m, &h, &a, 0);
		assert_true(m.len <= cap);
		buf[m.len] = '\0';
		assert_int_equal(parse_5424(buf, m.len, &p), 0);
		assert_string_equal(param(&p, "id"), a.id);
		assert_null(param(&p, "url"));
		assert_true(!p.has_msg || p.bom);
		assert_true(m.cut);
	}
	/* The same in JSON. */
	a.json     = longtext;
	a.json_len = strlen(longtext);
	for (size_t cap = SL_5424_MIN_MESSAGE; cap < 2000; cap += 3) {
		m = (sl_msg){buf, 0, cap, 0, 0};
		sl_format_5424(&m, &h, &a, 1);
		buf[m.len] = '\0';
		assert_int_equal(parse_5424(buf, m.len, &p), 0);
		/* A two-byte character is cut whole: at most a byte short. */
		assert_true(cap < 1000 || p.has_msg);
		assert_true(!p.has_msg || m.len + 1 >= cap);
	}
}

static void
test_text_cut_closes_quote(void **state)
{
	char        buf[128];
	vigil_alert a = sample_alert();

	(void)state;
	for (size_t cap = 1; cap < sizeof(buf); cap++) {
		sl_msg m      = {buf, 0, cap, 0, 0};
		size_t quotes = 0;

		sl_format_text(&m, &a);
		assert_true(m.len <= cap);
		assert_true(utf8_valid(buf, m.len));
		for (size_t i = 0; i < m.len; i++)
			if (buf[i] == '"' && (i == 0 || buf[i - 1] != '\\'))
				quotes++;
		assert_int_equal(quotes % 2, 0);
	}
}

static void
test_3164_header(void **state)
{
	char      buf[256];
	sl_header h = header;
	sl_msg    m = {buf, 0, sizeof(buf) - 1, 0, 0};

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	sl_format_3164_header(&m, &h);
	buf[m.len] = '\0';
	assert_string_equal(
	    buf, "<26>Jan  8 14:03:22 mod1.example.org vigil[1234]: ");
	h.hostname = NULL;
	m.len      = 0;
	sl_format_3164_header(&m, &h);
	buf[m.len] = '\0';
	assert_string_equal(buf, "<26>Jan  8 14:03:22 vigil[1234]: ");
}

static void
test_octet_counting(void **state)
{
	char        out[SL_FRAME_PREFIX_MAX + 1];
	char        small[3];
	char        frame[SL_FRAME_PREFIX_MAX + 2048];
	char        buf[2048];
	sl_msg      m = {buf, 0, sizeof(buf), 0, 0};
	vigil_alert a = sample_alert();
	size_t      plen;

	(void)state;
	assert_int_equal(sl_frame_prefix(0, out, sizeof(out)), 2);
	assert_string_equal(out, "0 ");
	assert_int_equal(sl_frame_prefix(8192, out, sizeof(out)), 5);
	assert_string_equal(out, "8192 ");
	plen = sl_frame_prefix(SIZE_MAX, out, sizeof(out));
	assert_int_equal(plen, strlen(out));
	assert_true(plen <= SL_FRAME_PREFIX_MAX);
	assert_int_equal(sl_frame_prefix(100, small, sizeof(small)), 0);

	/* A frame counts the octets of the message, UTF-8 and BOM included,
	 * not its characters. */
	sl_format_5424(&m, &header, &a, 0);
	plen = sl_frame_prefix(m.len, out, sizeof(out));
	memcpy(frame, out, plen);
	memcpy(frame + plen, buf, m.len);
	assert_int_equal(strtoul(frame, NULL, 10), m.len);
	assert_int_equal(frame[plen - 1], ' ');
	assert_memory_equal(frame + plen + m.len - 3, "\xd1\x96\"", 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pri),
	    cmocka_unit_test(test_timestamp),
	    cmocka_unit_test(test_msgid),
	    cmocka_unit_test(test_sd_id),
	    cmocka_unit_test(test_param_escaping),
	    cmocka_unit_test(test_param_whole_or_nothing),
	    cmocka_unit_test(test_5424_text),
	    cmocka_unit_test(test_5424_json_and_nil),
	    cmocka_unit_test(test_5424_cut_at_characters),
	    cmocka_unit_test(test_text_cut_closes_quote),
	    cmocka_unit_test(test_3164_header),
	    cmocka_unit_test(test_octet_counting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
