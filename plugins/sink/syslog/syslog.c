/*
 * syslog.c - sink plugin that sends each alert to syslog as one message.
 *
 * Two ways out: syslog(3) (the default; the C library's connection to
 * /dev/log, which may block when the log daemon stalls), or, with
 * `socket`, RFC 3164 datagrams written by the plugin itself to a unix
 * datagram socket without blocking:
 *
 *   <PRI>Jan  8 14:03:22 vigil[1234]: alert id=… rule=kz.poll.blackout …
 *
 * The message is the alert as key=value pairs (logfmt: values quoted when
 * they hold anything but plain ASCII, with \" \\ \n \r \t and \u00XX
 * escapes) or the alert document as JSON. Neither ever holds a raw
 * newline or control character, and both are cut to max_message bytes at
 * a character boundary.
 *
 * Severities map to priorities as alert -> LOG_CRIT, warning ->
 * LOG_WARNING, notice -> LOG_NOTICE, none -> LOG_INFO: above anything the
 * daemon logs about itself (at most LOG_ERR), while LOG_ALERT and
 * LOG_EMERG stay for a system that needs action now.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <vigil/plugin.h>

#define IDENT_MAX 32

typedef struct syslog_sink {
	const vigil_host *host;
	vigil_ctx        *ctx;
	int               facility;
	char             *ident;
	char             *socket_path; /* NULL: syslog(3) */
	int               json;
	size_t            max_message;
	int               fd;  /* socket; -1 when not connected */
	char             *buf; /* max_message + 1 */
} syslog_sink;

/* A message being built, cut whole characters at a time. */
typedef struct msg {
	char  *p;
	size_t len, cap;
	int    cut;
	int    in_quote;
} msg;

static const struct {
	const char *name;
	int         facility;
} facilities[] = {
    {"user", LOG_USER},
    {"daemon", LOG_DAEMON},
    {"auth", LOG_AUTH},
    {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1},
    {"local2", LOG_LOCAL2},
    {"local3", LOG_LOCAL3},
    {"local4", LOG_LOCAL4},
    {"local5", LOG_LOCAL5},
    {"local6", LOG_LOCAL6},
    {"local7", LOG_LOCAL7},
};

static const vigil_setting syslog_settings[] = {
    {"facility", VIGIL_SET_STRING, "daemon",
        "Syslog facility: `user`, `daemon`, `auth` or `local0` to "
        "`local7`. Severities map to priorities as alert: `crit`, "
        "warning: `warning`, notice: `notice`, none: `info`.",
        NULL, 0, 0, 0},
    {"ident", VIGIL_SET_STRING, "vigil",
        "Tag of the messages (the program name in the log): 1 to 32 of "
        "letters, digits, '.', '_', '-' and '/'.",
        NULL, 0, 0, 0},
    {"socket", VIGIL_SET_STRING, NULL,
        "Unix datagram socket to write RFC 3164 messages to, e.g. "
        "`/dev/log` or a receiver's own socket; never blocks, and "
        "reconnects when the receiver restarts. Unset: syslog(3), which "
        "may block the daemon when the log daemon stalls.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"format", VIGIL_SET_STRING, "text",
        "`text`: `alert id=… rule=… severity=… score=… jurisdiction=… "
        "post=… platform=… channel=… title=\"…\" law=… article=… "
        "window=… url=… excerpt=\"…\"` (values quoted and escaped when "
        "needed, absent ones left out); `json`: the alert document "
        "(doc/alerts.md) on one line.",
        NULL, 0, 0, 0},
    {"max_message", VIGIL_SET_INT, "8192",
        "Longest message in bytes, the syslog header included when "
        "writing to `socket`; longer ones are cut at a character "
        "boundary (a cut JSON message is no longer valid JSON).",
        NULL, 0, 256, 1048576},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const char *
where(const vigil_host *host, const vigil_cfg *cfg, const char *name)
{
	const char *w = host->cfg_where(cfg, name);

	return w != NULL ? w : "(config)";
}

static int
facility_parse(const char *name, int *out)
{
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]);
	     i++) {
		if (name != NULL && strcmp(name, facilities[i].name) == 0) {
			*out = facilities[i].facility;
			return 0;
		}
	}
	return -1;
}

static int
ident_valid(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		        c == '-' || c == '/'))
			return 0;
	}
	return n > 0 && n <= IDENT_MAX;
}

static int
priority(vigil_severity sev)
{
	switch (sev) {
	case VIGIL_SEV_ALERT: return LOG_CRIT;
	case VIGIL_SEV_WARNING: return LOG_WARNING;
	case VIGIL_SEV_NOTICE: return LOG_NOTICE;
	default: return LOG_INFO;
	}
}

/* ------------------------------------------------------------------------
 * Building messages */

static void
put(msg *m, const char *s, size_t n)
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
puts_raw(msg *m, const char *s)
{
	put(m, s, strlen(s));
}

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

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
put_quoted_char(msg *m, const unsigned char *s, size_t n)
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
put_kv(msg *m, const char *key, const char *value)
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

static void
format_text(msg *m, const vigil_alert *a)
{
	char score[32];

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
static void
format_json(msg *m, const vigil_alert *a)
{
	size_t n    = a->json != NULL ? a->json_len : 0;
	size_t room = m->cap - m->len;
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

/* "<PRI>Mmm dd hh:mm:ss ident[pid]: " in local time, as RFC 3164 has it. */
static void
format_header(const syslog_sink *s, msg *m, int pri)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t    now = (time_t)(s->host->now_realtime() / 1000000);
	struct tm tm;
	char      head[128];
	int       n;

	if (localtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	n = snprintf(head, sizeof(head),
	    "<%d>%s %2d %02d:%02d:%02d %s[%ld]: ", s->facility | pri,
	    months[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, s->ident, (long)getpid());
	if (n > 0)
		put(m, head,
		    (size_t)n < sizeof(head) ? (size_t)n : sizeof(head) - 1);
}

/* ------------------------------------------------------------------------
 * Sending */

static int
sock_connect(syslog_sink *s)
{
	struct sockaddr_un addr;
	int                fd;

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, s->socket_path, strlen(s->socket_path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	s->fd = fd;
	return 0;
}

static void
sock_close(syslog_sink *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* The receiver went away or restarted: connect again. */
static int
sock_gone(int e)
{
	return e == ECONNREFUSED || e == ENOENT || e == ENOTCONN ||
	    e == ECONNRESET || e == EPIPE || e == EDESTADDRREQ;
}

static int
sock_send(syslog_sink *s, const char *buf, size_t len)
{
	int reconnected = 0;
	int e;

	if (s->fd < 0) {
		if (sock_connect(s) != 0) {
			e = errno;
			goto retry;
		}
		reconnected = 1;
	}
	for (;;) {
		ssize_t w = send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w >= 0)
			return (size_t)w == len ? VIGIL_OK : VIGIL_ERETRY;
		e = errno;
		if (e == EINTR)
			continue;
		if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS)
			return VIGIL_ERETRY;
		if (e == EMSGSIZE) {
			s->host->log_limited(s->ctx, VIGIL_LOG_ERR,
			    "send %s: "
			    "%s (%zu bytes): lower max_message",
			    s->socket_path, strerror(e), len);
			return VIGIL_EFAIL;
		}
		sock_close(s);
		if (!sock_gone(e) || reconnected)
			break;
		if (sock_connect(s) != 0) {
			e = errno;
			break;
		}
		reconnected = 1;
	}
retry:
	s->host->log_limited(
	    s->ctx, VIGIL_LOG_WARNING, "%s: %s", s->socket_path, strerror(e));
	return VIGIL_ERETRY;
}

static int
syslog_emit(void *instance, const vigil_alert *alert)
{
	syslog_sink *s   = instance;
	msg          m   = {s->buf, 0, s->max_message, 0, 0};
	int          pri = priority(alert->severity);

	if (s->socket_path != NULL)
		format_header(s, &m, pri);
	if (s->json)
		format_json(&m, alert);
	else
		format_text(&m, alert);
	if (m.cut)
		s->host->log_limited(s->ctx, VIGIL_LOG_NOTICE,
		    "alert %s cut "
		    "to max_message (%zu bytes)",
		    alert->id ? alert->id : "?", s->max_message);
	s->buf[m.len] = '\0';
	if (s->socket_path != NULL)
		return sock_send(s, s->buf, m.len);
	/* openlog's settings are the process's: set ours before each one. */
	openlog(s->ident, LOG_PID, s->facility);
	syslog(s->facility | pri, "%s", s->buf);
	return VIGIL_OK;
}

/* ------------------------------------------------------------------------
 * Lifecycle */

static int
syslog_validate(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	const char *facility = host->cfg_string(cfg, "facility");
	const char *ident    = host->cfg_string(cfg, "ident");
	const char *format   = host->cfg_string(cfg, "format");
	const char *sock     = host->cfg_string(cfg, "socket");
	int         f;

	if (facility_parse(facility, &f) != 0) {
		snprintf(err, errlen,
		    "%s: facility '%s' is not one of user, "
		    "daemon, auth, local0 to local7",
		    where(host, cfg, "facility"), facility ? facility : "");
		return VIGIL_ERR;
	}
	if (ident == NULL || !ident_valid(ident)) {
		snprintf(err, errlen,
		    "%s: ident '%s' must be 1 to %d of "
		    "letters, digits, '.', '_', '-' and '/'",
		    where(host, cfg, "ident"), ident ? ident : "", IDENT_MAX);
		return VIGIL_ERR;
	}
	if (format == NULL ||
	    (strcmp(format, "text") != 0 && strcmp(format, "json") != 0)) {
		snprintf(err, errlen,
		    "%s: format '%s' is not one of text, "
		    "json",
		    where(host, cfg, "format"), format ? format : "");
		return VIGIL_ERR;
	}
	if (sock != NULL && sock[0] != '\0' &&
	    (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path) ||
	        sock[strlen(sock) - 1] == '/')) {
		snprintf(err, errlen,
		    "%s: socket '%s' must name a socket in "
		    "under %zu bytes",
		    where(host, cfg, "socket"), sock,
		    sizeof(((struct sockaddr_un *)0)->sun_path));
		return VIGIL_ERR;
	}
	if (host->cfg_int(cfg, "max_message") < 256) {
		snprintf(err, errlen, "%s: max_message must be at least 256",
		    where(host, cfg, "max_message"));
		return VIGIL_ERR;
	}
	return VIGIL_OK;
}

static void
syslog_destroy(void *instance)
{
	syslog_sink *s = instance;

	if (s == NULL)
		return;
	sock_close(s);
	/* syslog(3) keeps a pointer to our ident: take it back. */
	if (s->socket_path == NULL && s->ident != NULL)
		closelog();
	free(s->ident);
	free(s->socket_path);
	free(s->buf);
	free(s);
}

static int
syslog_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	const char  *sock   = host->cfg_string(cfg, "socket");
	const char  *format = host->cfg_string(cfg, "format");
	syslog_sink *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto nomem;
	s->host     = host;
	s->ctx      = ctx;
	s->fd       = -1;
	s->facility = LOG_DAEMON;
	facility_parse(host->cfg_string(cfg, "facility"), &s->facility);
	s->json        = format != NULL && strcmp(format, "json") == 0;
	s->max_message = (size_t)host->cfg_int(cfg, "max_message");
	if (s->max_message < 256)
		s->max_message = 256;
	s->ident = strdup(host->cfg_string(cfg, "ident"));
	s->buf   = malloc(s->max_message + 1);
	if (s->ident == NULL || s->buf == NULL)
		goto nomem;
	if (sock != NULL && sock[0] != '\0' &&
	    (s->socket_path = strdup(sock)) == NULL)
		goto nomem;
	tzset();
	*instance = s;
	return VIGIL_OK;
nomem:
	host->log(ctx, VIGIL_LOG_ERR, "out of memory");
	syslog_destroy(s);
	return VIGIL_ERR;
}

/* Connects now so that a wrong socket shows at start; not fatal, as the
 * receiver may come up later. */
static int
syslog_start(void *instance)
{
	syslog_sink *s = instance;

	if (s->socket_path != NULL && s->fd < 0 && sock_connect(s) != 0)
		s->host->log(s->ctx, VIGIL_LOG_WARNING,
		    "%s: %s; will try "
		    "again with each alert",
		    s->socket_path, strerror(errno));
	return VIGIL_OK;
}

static void
syslog_stop(void *instance)
{
	syslog_sink *s = instance;

	sock_close(s);
	if (s->socket_path == NULL)
		closelog();
}

static const vigil_plugin syslog_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name    = "syslog",
    .version = "1.0",
    .kind    = VIGIL_PLUGIN_SINK,
    .description =
        "Sends every alert to syslog as one message, key=value "
        "text or JSON, through syslog(3) or without blocking to a unix "
        "datagram socket.",
    .settings = syslog_settings,
    .validate = syslog_validate,
    .init     = syslog_init,
    .start    = syslog_start,
    .stop     = syslog_stop,
    .destroy  = syslog_destroy,
    .emit     = syslog_emit,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &syslog_plugin;
}
