/*
 * stdout.c - sink plugin for people at a terminal: two lines per alert on
 * standard output,
 *
 *   2021-01-08 14:03:22 ALERT   kz.poll.blackout  Poll results in the blackout
 * [kz, score 7.5] post 1234 on telegram/qaz_news; window blackout
 * 2021-01-05T00:00Z..2021-01-10T15:00Z; law Election Law art. 28; "…excerpt…"
 *
 * the severity coloured when standard output is a terminal. Each alert is
 * formatted into one buffer of PIPE_BUF bytes and written with write(2),
 * so that it shows as soon as it is raised and never interleaves with
 * other writers of a pipe. Text from posts passes through a filter that
 * turns control characters (C0, DEL, C1) into '?' or a space, so that a
 * post cannot drive the terminal.
 *
 * The loop must not block: when standard output is non-blocking and full,
 * what was not written of an alert is kept and written first by the next
 * emit (or by stop), and an alert that finds the previous one still
 * pending is refused with VIGIL_ERETRY.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vigil/plugin.h>

#include "utf8_seq.h"

#define OUT_BUF PIPE_BUF
/* Room kept at the end of the buffer for "…", a colour reset and '\n'. */
#define OUT_RESERVE  16
#define STOP_WAIT_MS 1000

#define COLOR_RESET "\033[0m"
#define COLOR_BOLD  "\033[1m"

typedef struct out_sink {
	const vigil_host *host;
	vigil_ctx        *ctx;
	int               fd;
	int               color;
	char              pending[OUT_BUF]; /* unwritten rest of an alert */
	size_t            pending_len;
	char              buf[OUT_BUF];
} out_sink;

/* A line being built; once a piece does not fit, nothing more goes in. */
typedef struct out_line {
	char  *p;
	size_t len, cap;
	int    full;
} out_line;

static const vigil_setting stdout_settings[] = {
    {"color", VIGIL_SET_STRING, "auto",
        "Colour the severity with ANSI escapes: `auto` (when standard "
        "output is a terminal, TERM is not `dumb` and NO_COLOR is not "
        "set), `always` or `never`.",
        NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const char *
where(const vigil_host *host, const vigil_cfg *cfg, const char *name)
{
	const char *w = host->cfg_where(cfg, name);

	return w != NULL ? w : "(config)";
}

/* ------------------------------------------------------------------------
 * Formatting */

static void
put(out_line *l, const char *s, size_t n)
{
	if (l->full)
		return;
	if (n > l->cap - l->len) {
		l->full = 1;
		return;
	}
	memcpy(l->p + l->len, s, n);
	l->len += n;
}

static void
puts_raw(out_line *l, const char *s)
{
	put(l, s, strlen(s));
}

static void VIGIL_PRINTF(2, 3) put_fmt(out_line *l, const char *fmt, ...)
{
	char    tmp[256];
	va_list ap;
	int     n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	put(l, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Post text for a terminal: white space controls become a space, other
 * controls and broken UTF-8 a '?', whole characters or nothing. */
static void
put_text(out_line *l, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t               n = strlen(text);

	while (n > 0 && !l->full) {
		size_t len = utf8_seq(s, n);

		if (len == 0) {
			put(l, "?", 1);
			len = 1;
		} else if (len == 1 &&
		    (s[0] == '\t' || s[0] == '\n' || s[0] == '\r')) {
			put(l, " ", 1);
		} else if ((len == 1 && (s[0] < 0x20 || s[0] == 0x7f)) ||
		    (len == 2 && s[0] == 0xc2 && s[1] < 0xa0)) {
			put(l, "?", 1);
		} else {
			put(l, (const char *)s, len);
		}
		s += len;
		n -= len;
	}
}

static int
has(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static const char *
severity_color(vigil_severity sev)
{
	switch (sev) {
	case VIGIL_SEV_ALERT: return "\033[1;31m";
	case VIGIL_SEV_WARNING: return "\033[33m";
	case VIGIL_SEV_NOTICE: return "\033[36m";
	default: return "\033[2m";
	}
}

static const char *
severity_label(vigil_severity sev)
{
	switch (sev) {
	case VIGIL_SEV_ALERT: return "ALERT  ";
	case VIGIL_SEV_WARNING: return "WARNING";
	case VIGIL_SEV_NOTICE: return "NOTICE ";
	default: return "NONE   ";
	}
}

static void
put_utc(out_line *l, int64_t us)
{
	time_t    t = (time_t)(us / 1000000);
	struct tm tm;
	char      tmp[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%MZ", &tm) == 0)
		return;
	puts_raw(l, tmp);
}

/* Time, severity, rule, title, jurisdiction and score. */
static void
format_head(const out_sink *o, out_line *l, const vigil_alert *a)
{
	time_t    now = (time_t)(o->host->now_realtime() / 1000000);
	struct tm tm;
	char      tmp[32];

	if (localtime_r(&now, &tm) != NULL &&
	    strftime(tmp, sizeof(tmp), "%Y-%m-%d %H:%M:%S ", &tm) > 0)
		puts_raw(l, tmp);
	if (o->color)
		puts_raw(l, severity_color(a->severity));
	puts_raw(l, severity_label(a->severity));
	if (o->color)
		puts_raw(l, COLOR_RESET);
	puts_raw(l, " ");
	if (o->color)
		puts_raw(l, COLOR_BOLD);
	put_text(l, has(a->rule) ? a->rule : "?");
	if (o->color)
		puts_raw(l, COLOR_RESET);
	puts_raw(l, "  ");
	put_text(l, has(a->title) ? a->title : "(no title)");
	puts_raw(l, "  [");
	if (has(a->jurisdiction)) {
		put_text(l, a->jurisdiction);
		puts_raw(l, ", ");
	}
	put_fmt(l, "score %.4g]\n", a->score);
}

/* Post, where it was seen, window, legal basis and excerpt. */
static void
format_detail(out_line *l, const vigil_alert *a)
{
	puts_raw(l, "    post ");
	put_text(l, has(a->post_id) ? a->post_id : "?");
	if (has(a->platform) || has(a->channel)) {
		puts_raw(l, " on ");
		put_text(l, has(a->platform) ? a->platform : "?");
		if (has(a->channel)) {
			puts_raw(l, "/");
			put_text(l, a->channel);
		}
	}
	if (has(a->window)) {
		puts_raw(l, "; window ");
		put_text(l, a->window);
		if (a->window_start != 0 || a->window_end != 0) {
			puts_raw(l, " ");
			put_utc(l, a->window_start);
			puts_raw(l, "..");
			put_utc(l, a->window_end);
		}
	}
	if (has(a->law) || has(a->article)) {
		puts_raw(l, "; law ");
		if (has(a->law))
			put_text(l, a->law);
		if (has(a->law) && has(a->article))
			puts_raw(l, " ");
		if (has(a->article))
			put_text(l, a->article);
	}
	if (has(a->excerpt)) {
		puts_raw(l, "; \"");
		put_text(l, a->excerpt);
		puts_raw(l, "\"");
	}
}

/* Formats an alert into o->buf; returns its length. */
static size_t
format_alert(const out_sink *o, char *buf, const vigil_alert *a)
{
	out_line l = {buf, 0, OUT_BUF - OUT_RESERVE, 0};

	format_head(o, &l, a);
	format_detail(&l, a);
	if (l.full) {
		/* The reserve holds these whatever was cut. */
		memcpy(buf + l.len, "\xe2\x80\xa6", 3);
		l.len += 3;
		if (o->color) {
			memcpy(buf + l.len, COLOR_RESET, strlen(COLOR_RESET));
			l.len += strlen(COLOR_RESET);
		}
	}
	buf[l.len++] = '\n';
	return l.len;
}

/* ------------------------------------------------------------------------
 * Writing */

/* Writes what it can of buf; returns the bytes written, or -1 with errno
 * when nothing could be written and the reason is not EAGAIN. */
static ssize_t
write_some(int fd, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t w = write(fd, buf + off, len - off);

		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w == 0)
			errno = EIO;
		return off > 0 ? (ssize_t)off : -1;
	}
	return (ssize_t)off;
}

static void
pending_keep(out_sink *o, const char *rest, size_t len)
{
	memmove(o->pending, rest, len);
	o->pending_len = len;
}

/* Writes the rest of an earlier alert; 0 when nothing is left. */
static int
pending_flush(out_sink *o)
{
	ssize_t w;

	if (o->pending_len == 0)
		return 0;
	w = write_some(o->fd, o->pending, o->pending_len);
	if (w < 0) {
		o->host->log_limited(o->ctx, VIGIL_LOG_WARNING,
		    "standard output: %s; dropped the rest of an alert",
		    strerror(errno));
		o->pending_len = 0;
		return -1;
	}
	pending_keep(o, o->pending + w, o->pending_len - (size_t)w);
	return o->pending_len == 0 ? 0 : -1;
}

static int
stdout_emit(void *instance, const vigil_alert *alert)
{
	out_sink *o = instance;
	size_t    len;
	ssize_t   w;

	if (pending_flush(o) != 0)
		return VIGIL_ERETRY;
	len = format_alert(o, o->buf, alert);
	w   = write_some(o->fd, o->buf, len);
	if (w < 0) {
		o->host->log_limited(o->ctx, VIGIL_LOG_WARNING,
		    "standard output: %s", strerror(errno));
		return VIGIL_ERETRY;
	}
	if (w == 0)
		return VIGIL_ERETRY; /* full: nothing of it was written */
	/* Part of it is out: the rest goes before anything else. */
	pending_keep(o, o->buf + w, len - (size_t)w);
	return VIGIL_OK;
}

/* ------------------------------------------------------------------------
 * Lifecycle */

static int
color_parse(const char *s, int *out)
{
	if (s == NULL || strcmp(s, "auto") == 0)
		*out = -1;
	else if (strcmp(s, "always") == 0)
		*out = 1;
	else if (strcmp(s, "never") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static int
stdout_validate(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	const char *s = host->cfg_string(cfg, "color");
	int         c;

	if (color_parse(s, &c) != 0) {
		snprintf(err, errlen,
		    "%s: color '%s' is not one of auto, "
		    "always, never",
		    where(host, cfg, "color"), s);
		return VIGIL_ERR;
	}
	return VIGIL_OK;
}

static int
color_auto(int fd)
{
	const char *term     = getenv("TERM");
	const char *no_color = getenv("NO_COLOR");

	if (!isatty(fd))
		return 0;
	if (no_color != NULL && no_color[0] != '\0')
		return 0;
	return term == NULL || strcmp(term, "dumb") != 0;
}

static int
stdout_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	out_sink *o;
	int       c = -1;

	if ((o = calloc(1, sizeof(*o))) == NULL) {
		host->log(ctx, VIGIL_LOG_ERR, "out of memory");
		return VIGIL_ERR;
	}
	o->host = host;
	o->ctx  = ctx;
	o->fd   = STDOUT_FILENO;
	color_parse(host->cfg_string(cfg, "color"), &c);
	o->color = c < 0 ? color_auto(o->fd) : c;
	tzset();
	*instance = o;
	return VIGIL_OK;
}

/* Gives the rest of the last alert a little time to go out. */
static void
stdout_stop(void *instance)
{
	out_sink *o     = instance;
	int64_t   until = o->host->now_monotonic() + STOP_WAIT_MS * 1000;

	while (pending_flush(o) != 0 && o->pending_len > 0) {
		struct pollfd pfd  = {.fd = o->fd, .events = POLLOUT};
		int64_t       left = until - o->host->now_monotonic();

		if (left <= 0 || poll(&pfd, 1, (int)(left / 1000) + 1) <= 0) {
			o->host->log(o->ctx, VIGIL_LOG_WARNING,
			    "standard "
			    "output blocked; dropped the rest of an alert");
			o->pending_len = 0;
			break;
		}
	}
}

static void
stdout_destroy(void *instance)
{
	free(instance);
}

static const vigil_plugin stdout_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name    = "stdout",
    .version = "1.0",
    .kind    = VIGIL_PLUGIN_SINK,
    .description =
        "Alerts for people at a terminal: two lines each on "
        "standard output (time, severity, rule, title, post, platform and "
        "channel, window, legal basis, excerpt), written as raised.",
    .settings = stdout_settings,
    .validate = stdout_validate,
    .init     = stdout_init,
    .stop     = stdout_stop,
    .destroy  = stdout_destroy,
    .emit     = stdout_emit,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &stdout_plugin;
}
