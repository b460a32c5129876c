/*
 * format.c - the messages of the syslog sink (see format.h).
 *
 * Everything is cut to the message's capacity whole characters at a
 * time, so that a cut message is still UTF-8. The RFC 5424 structured
 * data is never cut inside a parameter: one that does not fit is left
 * out, which keeps the element parseable.
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "format.h"
#include "utf8_seq.h"

/* ------------------------------------------------------------------------
 * Putting bytes */

static void
put(sl_msg *m, const char *s, size_t n)
{
	if (m->cut)
		return;
	if (n > m->cap - m->len) {
		m->cut = 1;
		return;
	}
	memcpy(m->p + m->len, s, n);
	m->len += n;
}

static void
puts_raw(sl_msg *m, const char *s)
{
	put(m, s, strlen(s));
}

/* ------------------------------------------------------------------------
 * The key=value body */

static int
bare_ok(const char *s)
{
	if (s[0] == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '=' || c == '\\')
			return 0;
	}
	return 1;
}

/* One character of a quoted value, escaped when it must be. */
static size_t
put_quoted_char(sl_msg *m, const unsigned char *s, size_t n)
{
	size_t len = utf8_seq(s, n);
	char   esc[8];

	if (len == 0) {
		snprintf(esc, sizeof(esc), "\\x%02x", s[0]);
		puts_raw(m, esc);
		return 1;
	}
	if (len == 2 && s[0] == 0xc2 && s[1] < 0xa0) {
		snprintf(esc, sizeof(esc), "\\u%04x", s[1]);
		puts_raw(m, esc);
		return len;
	}
	if (len > 1) {
		put(m, (const char *)s, len);
		return len;
	}
	switch (s[0]) {
	case '"': puts_raw(m, "\\\""); break;
	case '\\': puts_raw(m, "\\\\"); break;
	case '\n': puts_raw(m, "\\n"); break;
	case '\r': puts_raw(m, "\\r"); break;
	case '\t': puts_raw(m, "\\t"); break;
	default:
		if (s[0] < 0x20 || s[0] == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", s[0]);
			puts_raw(m, esc);
		} else {
			put(m, (const char *)s, 1);
		}
	}
	return 1;
}

/* " key=value", left out when the value is absent. */
static void
put_kv(sl_msg *m, const char *key, const char *value)
{
	const unsigned char *s = (const unsigned char *)value;
	size_t               n;

	if (value == NULL || value[0] == '\0')
		return;
	put(m, " ", 1);
	puts_raw(m, key);
	put(m, "=", 1);
	if (bare_ok(value)) {
		for (; *value != '\0'; value++)
			put(m, value, 1);
		return;
	}
	put(m, "\"", 1);
	if (m->cut)
		return;
	m->in_quote = 1;
	for (n = strlen(value); n > 0 && !m->cut;) {
		size_t used = put_quoted_char(m, s, n);

		s += used;
		n -= used;
	}
	put(m, "\"", 1);
	if (!m->cut)
		m->in_quote = 0;
}

void
sl_format_text(sl_msg *m, const vigil_alert *a)
{
	char score[32];

	if (m->cut || m->len >= m->cap)
		return;
	/* Keep a byte to close a quote that a cut leaves open. */
	m->cap -= 1;
	puts_raw(m, "alert");
	put_kv(m, "id", a->id);
	put_kv(m, "rule", a->rule);
	put_kv(m, "severity", vigil_severity_name(a->severity));
	snprintf(score, sizeof(score), "%.6g", a->score);
	put_kv(m, "score", score);
	put_kv(m, "jurisdiction", a->jurisdiction);
	put_kv(m, "post", a->post_id);
	put_kv(m, "platform", a->platform);
	put_kv(m, "channel", a->channel);
	put_kv(m, "title", a->title);
	put_kv(m, "law", a->law);
	put_kv(m, "article", a->article);
	put_kv(m, "window", a->window);
	put_kv(m, "url", a->url);
	put_kv(m, "excerpt", a->excerpt);
	m->cap += 1;
	if (m->in_quote)
		m->p[m->len++] = '"';
}

/* The document as is, but for raw line breaks (only possible as white
 * space between tokens), cut at a character boundary. */
void
sl_format_json(sl_msg *m, const vigil_alert *a)
{
	size_t n    = a->json != NULL ? a->json_len : 0;
	size_t room = m->cut ? 0 : m->cap - m->len;
	char  *out  = m->p + m->len;

	if (n == 0)
		return;
	if (n > room) {
		n = room;
		while (n > 0 && ((unsigned char)a->json[n] & 0xc0) == 0x80)
			n--;
		m->cut = 1;
	}
	memcpy(out, a->json, n);
	for (size_t i = 0; i < n; i++)
		if (out[i] == '\n' || out[i] == '\r')
			out[i] = ' ';
	m->len += n;
}

/* ------------------------------------------------------------------------
 * Headers */

/* Above anything the daemon logs about itself (at most LOG_ERR), while
 * LOG_ALERT and LOG_EMERG stay for a system that needs action now. */
int
sl_pri(int facility, vigil_severity sev)
{
	switch (sev) {
	case VIGIL_SEV_ALERT: return facility | LOG_CRIT;
	case VIGIL_SEV_WARNING: return facility | LOG_WARNING;
	case VIGIL_SEV_NOTICE: return facility | LOG_NOTICE;
	default: return facility | LOG_INFO;
	}
}

void
sl_format_3164_header(sl_msg *m, const sl_header *h)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t                   now      = (time_t)(h->time_us / 1000000);
	struct tm                tm;
	char                     head[SL_HOSTNAME_MAX + 128];
	int                      n;

	if (localtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	n = snprintf(head, sizeof(head),
	    "<%d>%s %2d %02d:%02d:%02d %s%s%s[%ld]: ", h->pri,
	    months[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, h->hostname ? h->hostname : "", h->hostname ? " " : "",
	    h->app, h->pid);
	if (n > 0)
		put(m, head,
		    (size_t)n < sizeof(head) ? (size_t)n : sizeof(head) - 1);
}

void
sl_timestamp(int64_t time_us, char *out, size_t outlen)
{
	int64_t   secs = time_us / 1000000, us = time_us % 1000000;
	time_t    t;
	struct tm tm;

	if (us < 0) {
		us += 1000000;
		secs--;
	}
	t = (time_t)secs;
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 ||
	    tm.tm_year + 1900 < 0) {
		snprintf(out, outlen, "-");
		return;
	}
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (int)us);
}

int
sl_printusascii(const char *s, size_t min, size_t max)
{
	size_t n = 0;

	if (s == NULL)
		return 0;
	for (; s[n] != '\0'; n++)
		if ((unsigned char)s[n] < 33 || (unsigned char)s[n] > 126)
			return 0;
	return n >= min && n <= max;
}

const char *
sl_msgid(const char *rule)
{
	return sl_printusascii(rule, 1, SL_MSGID_MAX) ? rule : "-";
}

/* SD-NAME: printable US-ASCII but '=', ' ', ']' and '"'. */
static int
sd_name_char(char c)
{
	return c > 32 && c < 127 && c != '=' && c != ']' && c != '"';
}

int
sl_sd_id_valid(const char *s)
{
	const char *at;
	size_t      n;

	if (s == NULL || (n = strlen(s)) == 0 || n > SL_SDNAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!sd_name_char(s[i]))
			return 0;
	if ((at = strchr(s, '@')) == NULL || at == s || strchr(at + 1, '@'))
		return 0;
	/* The enterprise number: digits, dot-separated. */
	for (const char *p = at + 1;;) {
		if (*p < '0' || *p > '9')
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
		if (*p == '\0')
			return 1;
		if (*p++ != '.')
			return 0;
	}
}

/* Bytes one character of a PARAM-VALUE takes (at most 3), into out. */
static size_t
sd_char(const unsigned char *s, size_t n, char out[3], size_t *used)
{
	size_t len = utf8_seq(s, n);

	if (len == 0) {
		*used = 1;
		memcpy(out, "\xef\xbf\xbd", 3); /* U+FFFD */
		return 3;
	}
	*used = len;
	if (len > 1) {
		memcpy(out, s, len);
		return len;
	}
	if (s[0] == '"' || s[0] == '\\' || s[0] == ']') {
		out[0] = '\\';
		out[1] = (char)s[0];
		return 2;
	}
	out[0] = s[0] < 0x20 || s[0] == 0x7f ? ' ' : (char)s[0];
	return 1;
}

int
sl_sd_param(sl_msg *m, const char *name, const char *value, size_t keep)
{
	const unsigned char *s = (const unsigned char *)value;
	size_t               n, need, used;
	char                 c[4];

	if (value == NULL || value[0] == '\0')
		return 0;
	n    = strlen(value);
	need = 1 + strlen(name) + 2 + 1; /* ` name="` and `"` */
	for (size_t i = 0; i < n; i += used)
		need += sd_char(s + i, n - i, c, &used);
	if (m->cut || need + keep > m->cap - m->len)
		return -1;
	put(m, " ", 1);
	puts_raw(m, name);
	put(m, "=\"", 2);
	for (size_t i = 0; i < n; i += used)
		put(m, c, sd_char(s + i, n - i, c, &used));
	put(m, "\"", 1);
	return 0;
}

/* The alert's SD-ELEMENT; parameters that do not fit are left out. */
static void
format_sd(sl_msg *m, const sl_header *h, const vigil_alert *a)
{
	char score[32];

	snprintf(score, sizeof(score), "%.6g", a->score);
	const struct {
		const char *name, *value;
	} params[] = {
	    {"id", a->id},
	    {"rule", a->rule},
	    {"severity", vigil_severity_name(a->severity)},
	    {"score", score},
	    {"jurisdiction", a->jurisdiction},
	    {"post", a->post_id},
	    {"platform", a->platform},
	    {"channel", a->channel},
	    {"url", a->url},
	    {"law", a->law},
	    {"article", a->article},
	    {"window", a->window},
	};
	int left_out = 0;

	put(m, "[", 1);
	puts_raw(m, h->sd_id);
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++)
		if (sl_sd_param(m, params[i].name, params[i].value, 1) != 0)
			left_out = 1;
	put(m, "]", 1);
	if (left_out)
		m->cut = 1;
}

void
sl_format_5424(sl_msg *m, const sl_header *h, const vigil_alert *a, int json)
{
	char   ts[40], head[SL_HOSTNAME_MAX + 160];
	int    n;
	int    sd_cut;
	size_t before;

	sl_timestamp(h->time_us, ts, sizeof(ts));
	n = snprintf(head, sizeof(head), "<%d>1 %s %s %s %ld %s ", h->pri, ts,
	    h->hostname ? h->hostname : "-", h->app, h->pid, sl_msgid(a->rule));
	if (n < 0 || (size_t)n >= sizeof(head)) {
		m->cut = 1;
		return;
	}
	put(m, head, (size_t)n);
	format_sd(m, h, a);
	/* A cut in the structured data leaves the MSG to what still fits. */
	sd_cut = m->cut;
	m->cut = 0;
	before = m->len;
	if (json && (a->json == NULL || a->json_len == 0)) {
		m->cut = sd_cut;
		return;
	}
	put(m, " \xef\xbb\xbf", 4); /* SP and the BOM of a UTF-8 MSG */
	if (m->cut) {
		m->len = before;
		return;
	}
	if (json)
		sl_format_json(m, a);
	else
		sl_format_text(m, a);
	m->cut |= sd_cut;
}

/* ------------------------------------------------------------------------
 * Framing */

size_t
sl_frame_prefix(size_t msg_len, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%zu ", msg_len);

	return n > 0 && (size_t)n < outlen ? (size_t)n : 0;
}
