/*
 * alertmanager.c - sink plugin that posts alerts to a Prometheus
 * Alertmanager (API v2, POST <url>/api/v2/alerts), through the host's HTTP
 * client (vigil_host.fetch).
 *
 * Each vigil alert becomes one Alertmanager alert: labels alertname (the
 * rule), jurisdiction, severity, platform, channel, alert_id and the
 * configured extra labels; annotations for people; startsAt the post's
 * time; endsAt lifetime_s ahead. Alerts emitted in the same turn of the
 * loop share a POST, up to `batch`. That first POST is the delivery the
 * host tracks (VIGIL_PENDING, then alert_done).
 *
 * Alertmanager keeps alerts in memory only and resolves them at endsAt,
 * so the plugin keeps the alerts it delivered (the active set, at most
 * max_active; the oldest leave it first) and re-posts them every
 * resend_interval_s, each time with endsAt lifetime_s ahead, for
 * lifetime_s after their first POST. Re-sends are the plugin's own
 * business: the host never hears of them.
 *
 * A batch refused as invalid (400, 422) is split and its alerts posted
 * one by one, so that one bad alert does not take the others with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>

#include <vigil/plugin.h>

#define API_PATH       "/api/v2/alerts"
#define MAX_SECRET     4096 /* bytes of a password or token file */
#define MAX_REPLY_BODY 4096 /* bytes of a reply kept for the log */
#define LOG_BODY       200  /* bytes of a reply body logged */

typedef struct am_sink am_sink;

/* One alert: waiting for its first POST, in one, or in the active set. */
typedef struct am_alert {
	TAILQ_ENTRY(am_alert) link;
	uint64_t token;     /* the host's delivery, until alert_done */
	char    *id;        /* for the log */
	json_t  *obj;       /* the Alertmanager alert, less endsAt */
	int64_t  sent_mono; /* first POST, monotonic µs: starts the lifetime */
	int      solo;      /* post alone: its batch was refused */
} am_alert;

TAILQ_HEAD(am_list, am_alert);

/* One POST in flight. */
typedef struct am_post {
	TAILQ_ENTRY(am_post) link;
	am_sink       *s;
	vigil_fetch   *fetch;
	struct am_list alerts; /* first POSTs: the alerts it carries */
	size_t         n;
	int64_t        sent_mono;
	int            resend;
} am_post;

TAILQ_HEAD(am_post_list, am_post);

typedef struct am_label {
	char *name, *value;
} am_label;

struct am_sink {
	const vigil_host *host;
	vigil_ctx        *ctx;
	char             *url; /* ...API_PATH */
	char             *auth_header;
	am_label         *labels;
	size_t            n_labels;
	int64_t           lifetime_us;
	int64_t           resend_us;
	int64_t           timeout_ms;
	size_t            batch;
	size_t            inflight;
	size_t            max_pending;
	size_t            max_active;

	struct am_list      queue;     /* waiting for their first POST */
	struct am_post_list posts;     /* first POSTs in flight */
	size_t              n_posts;   /* in posts */
	size_t              n_pending; /* queued or in posts */
	struct am_list      active;    /* delivered, oldest first */
	size_t              n_active;
	am_alert           *cursor; /* next to re-send in this round */
	am_post            *resend; /* the re-send POST in flight */
	struct event       *flush_ev;
	struct event       *resend_ev;
	int                 stopped;

	vigil_counter *c_resent, *c_resend_failed, *c_evicted, *c_split;
};

static const vigil_setting label_settings[] = {
    {"name", VIGIL_SET_STRING, NULL,
        "Label name: a letter or '_', then letters, digits and '_'; not "
        "starting with `__`, and none of the labels the plugin sets.",
        NULL, VIGIL_SET_REQUIRED, 0, 0},
    {"value", VIGIL_SET_STRING, NULL, "Label value, not empty.", NULL,
        VIGIL_SET_REQUIRED, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting am_settings[] = {
    {"url", VIGIL_SET_STRING, NULL,
        "Base URL of the Alertmanager, `http://` or `https://`, e.g. "
        "`http://127.0.0.1:9093` (with its route prefix, if any); alerts go to "
        "`<url>/api/v2/alerts`. No credentials in it: see `username` and "
        "`bearer_token`.",
        NULL, VIGIL_SET_REQUIRED, 0, 0},
    {"labels", VIGIL_SET_LIST, NULL,
        "Static labels added to every alert, e.g. `( { name = \"team\"; value "
        "= \"moderation\"; } )`.",
        label_settings, 0, 0, 0},
    {"lifetime_s", VIGIL_SET_INT, "3600",
        "Seconds an alert stays active in Alertmanager after each POST (its "
        "endsAt); the plugin re-sends it for that long after its first POST.",
        NULL, 0, 1, 30 * 86400},
    {"resend_interval_s", VIGIL_SET_INT, "60",
        "Seconds between re-sends of the active alerts; shorter than "
        "`lifetime_s`.",
        NULL, 0, 1, 86400},
    {"max_active", VIGIL_SET_INT, "10000",
        "Alerts kept for re-sending, at most; when full the oldest stops being "
        "re-sent (logged and counted) and resolves at the endsAt of its last "
        "POST. 0: never re-send.",
        NULL, 0, 0, 1000000},
    {"batch", VIGIL_SET_INT, "64",
        "Alerts per POST, at most: those waiting are sent together.", NULL, 0,
        1, 10000},
    {"inflight", VIGIL_SET_INT, "2",
        "POSTs of new alerts in flight at once (re-sends go one at a time "
        "beside them).",
        NULL, 0, 1, 64},
    {"max_pending", VIGIL_SET_INT, "1024",
        "New alerts waiting for or in a POST, at most; past it the host is "
        "told to retry later.",
        NULL, 0, 1, 1000000},
    {"timeout_ms", VIGIL_SET_INT, "10000",
        "Milliseconds a POST may take in all; a POST that times out is "
        "retried.",
        NULL, 0, 100, 600000},
    {"username", VIGIL_SET_STRING, NULL,
        "User name for HTTP basic authentication (no ':'); needs `password` or "
        "`password_file`.",
        NULL, 0, 0, 0},
    {"password", VIGIL_SET_STRING, NULL,
        "Password for basic authentication. Never logged; prefer "
        "`password_file`.",
        NULL, VIGIL_SET_SECRET, 0, 0},
    {"password_file", VIGIL_SET_STRING, NULL,
        "File holding the password (a final line break is dropped), read at "
        "start and on reload.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"bearer_token", VIGIL_SET_STRING, NULL,
        "Token sent as `Authorization: Bearer …`, instead of basic "
        "authentication. Never logged; prefer `bearer_token_file`.",
        NULL, VIGIL_SET_SECRET, 0, 0},
    {"bearer_token_file", VIGIL_SET_STRING, NULL,
        "File holding the bearer token (a final line break is dropped), read "
        "at start and on reload.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

/* Labels the plugin sets itself; extra labels may not take them. */
static const char *const own_labels[] = {
    "alertname", "jurisdiction", "severity", "platform", "channel", "alert_id"};

/* ------------------------------------------------------------------------
 * Checking settings */

static const char *
where(const vigil_host *host, const vigil_cfg *cfg, const char *name)
{
	const char *w = host->cfg_where(cfg, name);

	return w != NULL ? w : "(config)";
}

static int
set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Alertmanager's (Prometheus's) label names: [a-zA-Z_][a-zA-Z0-9_]*. */
static int
label_name_ok(const char *s)
{
	if (!is_alpha(s[0]))
		return 0;
	for (s++; *s != '\0'; s++)
		if (!is_alpha(*s) && !is_digit(*s))
			return 0;
	return 1;
}

static int
own_label(const char *name)
{
	for (size_t i = 0; i < sizeof(own_labels) / sizeof(own_labels[0]); i++)
		if (strcmp(name, own_labels[i]) == 0)
			return 1;
	return 0;
}

static int
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* http(s)://host[:port][/path], no credentials, query or fragment. */
static const char *
url_problem(const char *url)
{
	const char *p;

	if (strncmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return "must start with http:// or https://";
	if (*p == '\0' || *p == '/')
		return "has no host";
	if (has_ctl(url) || strpbrk(url, " \"<>\\^`{|}") != NULL)
		return "holds a space, a control character or one of "
		       "\"<>\\^`{|}";
	if (strpbrk(url, "?#") != NULL)
		return "may not have a query or fragment";
	if (memchr(p, '@', strcspn(p, "/")) != NULL)
		return "may not hold credentials: use username or bearer_token";
	return NULL;
}

static int
check_labels(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	size_t n = host->cfg_count(cfg, "labels");

	for (size_t i = 0; i < n; i++) {
		const vigil_cfg *l    = host->cfg_list_at(cfg, "labels", i);
		const char      *name = host->cfg_string(l, "name");
		const char      *val  = host->cfg_string(l, "value");

		if (!label_name_ok(name) || strncmp(name, "__", 2) == 0) {
			snprintf(err, errlen,
			    "%s: label name '%s' must be a letter or '_', then "
			    "letters, digits and '_', and not start with '__'",
			    where(host, l, "name"), name);
			return VIGIL_ERR;
		}
		if (own_label(name)) {
			snprintf(err, errlen,
			    "%s: label '%s' is set by the plugin itself",
			    where(host, l, "name"), name);
			return VIGIL_ERR;
		}
		if (!set(val)) {
			snprintf(err, errlen, "%s: label '%s' has no value",
			    where(host, l, "value"), name);
			return VIGIL_ERR;
		}
		for (size_t k = 0; k < i; k++) {
			const vigil_cfg *o =
			    host->cfg_list_at(cfg, "labels", k);

			if (strcmp(host->cfg_string(o, "name"), name) == 0) {
				snprintf(err, errlen,
				    "%s: label '%s' is given twice",
				    where(host, l, "name"), name);
				return VIGIL_ERR;
			}
		}
	}
	return VIGIL_OK;
}

static int
check_auth(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	const char *user  = host->cfg_string(cfg, "username");
	int         pass  = set(host->cfg_string(cfg, "password"));
	int         passf = set(host->cfg_string(cfg, "password_file"));
	const char *tok   = host->cfg_string(cfg, "bearer_token");
	int         tokf  = set(host->cfg_string(cfg, "bearer_token_file"));

	if (pass && passf) {
		snprintf(err, errlen,
		    "%s: give password or password_file, not both",
		    where(host, cfg, "password_file"));
		return VIGIL_ERR;
	}
	if (set(tok) && tokf) {
		snprintf(err, errlen,
		    "%s: give bearer_token or bearer_token_file, not both",
		    where(host, cfg, "bearer_token_file"));
		return VIGIL_ERR;
	}
	if (set(user) != (pass || passf)) {
		snprintf(err, errlen,
		    "%s: basic authentication needs both username and password "
		    "(or password_file)",
		    where(host, cfg, set(user) ? "username" : NULL));
		return VIGIL_ERR;
	}
	if (set(user) && (set(tok) || tokf)) {
		snprintf(err, errlen,
		    "%s: give username or bearer_token, not both",
		    where(host, cfg, "username"));
		return VIGIL_ERR;
	}
	if (set(user) && (strchr(user, ':') != NULL || has_ctl(user))) {
		snprintf(err, errlen,
		    "%s: username may not hold ':' or control characters",
		    where(host, cfg, "username"));
		return VIGIL_ERR;
	}
	if (set(tok) && (has_ctl(tok) || strchr(tok, ' ') != NULL)) {
		/* Never the token itself: it is a secret. */
		snprintf(err, errlen,
		    "%s: bearer_token may not hold spaces or control "
		    "characters",
		    where(host, cfg, "bearer_token"));
		return VIGIL_ERR;
	}
	return VIGIL_OK;
}

static int
am_validate(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	const char *url = host->cfg_string(cfg, "url");
	const char *why = url != NULL ? url_problem(url) : "is missing";

	if (why != NULL) {
		snprintf(err, errlen, "%s: url '%s' %s",
		    where(host, cfg, "url"), url != NULL ? url : "", why);
		return VIGIL_ERR;
	}
	if (host->cfg_int(cfg, "resend_interval_s") >=
	    host->cfg_int(cfg, "lifetime_s")) {
		snprintf(err, errlen,
		    "%s: resend_interval_s must be shorter than lifetime_s, or "
		    "no alert is ever re-sent",
		    where(host, cfg, "resend_interval_s"));
		return VIGIL_ERR;
	}
	if (check_labels(host, cfg, err, errlen) != VIGIL_OK)
		return VIGIL_ERR;
	return check_auth(host, cfg, err, errlen);
}

/* ------------------------------------------------------------------------
 * Building alerts */

/* RFC 3339 UTC with milliseconds, as Alertmanager writes them. */
static void
fmt_time(int64_t us, char *buf, size_t len)
{
	time_t    t = (time_t)(us / 1000000);
	struct tm tm;
	size_t    n;

	if (us < 0 || gmtime_r(&t, &tm) == NULL) {
		t  = 0;
		us = 0;
		gmtime_r(&t, &tm);
	}
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03dZ", (int)(us % 1000000 / 1000));
}

/* Sets key to a copy of value when it is set. A value jansson refuses
 * (not UTF-8, or no memory) is left out and reported. */
static void
put_str(am_sink *s, json_t *obj, const char *key, const char *value,
    const char *alert_id)
{
	if (!set(value))
		return;
	if (json_object_set_new(obj, key, json_string(value)) != 0)
		s->host->log_limited(s->ctx, VIGIL_LOG_WARNING,
		    "alert %s: %s left out (not UTF-8, or out of memory)",
		    alert_id, key);
}

static int
hex_digit(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The post's URL as generatorURL, which Alertmanager refuses (and the
 * whole POST with it) unless it parses as a URI: an http(s) URL with a
 * plain host, its non-ASCII bytes percent-encoded; NULL otherwise. */
static char *
generator_url(const char *url)
{
	static const char hex[] = "0123456789ABCDEF";
	const char       *p;
	char             *out, *o;

	if (!set(url))
		return NULL;
	if (strncmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return NULL;
	/* host[:port], as Alertmanager's URI check takes them */
	if (!is_alpha(*p) && !is_digit(*p))
		return NULL;
	while (is_alpha(*p) || is_digit(*p) || *p == '.' || *p == '-')
		p++;
	if (*p == ':')
		for (p++; is_digit(*p); p++)
			;
	if (*p != '\0' && *p != '/')
		return NULL;
	if ((out = malloc(strlen(url) * 3 + 1)) == NULL)
		return NULL;
	o = out + (p - url);
	memcpy(out, url, (size_t)(p - url));
	for (; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c >= 0x80) {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else if (c <= 0x20 || c == 0x7f || strchr("\"<>\\^`{|}", c) ||
		    (c == '%' && !(hex_digit(p[1]) && hex_digit(p[2])))) {
			free(out);
			return NULL;
		} else {
			*o++ = (char)c;
		}
	}
	*o = '\0';
	return out;
}

static void
put_labels(am_sink *s, json_t *labels, const vigil_alert *a)
{
	put_str(s, labels, "alertname", a->rule, a->id);
	put_str(s, labels, "alert_id", a->id, a->id);
	put_str(s, labels, "jurisdiction", a->jurisdiction, a->id);
	put_str(s, labels, "severity", vigil_severity_name(a->severity), a->id);
	put_str(s, labels, "platform", a->platform, a->id);
	put_str(s, labels, "channel", a->channel, a->id);
	for (size_t i = 0; i < s->n_labels; i++)
		put_str(
		    s, labels, s->labels[i].name, s->labels[i].value, a->id);
}

/* "<title>: post <id> on <platform>/<channel>", parts left out when
 * absent; NULL when out of memory. */
static char *
summary(const vigil_alert *a)
{
	char *out;

	if (asprintf(&out, "%s%spost %s%s%s%s%s", set(a->title) ? a->title : "",
	        set(a->title) ? ": " : "", set(a->post_id) ? a->post_id : "?",
	        set(a->platform) ? " on " : "",
	        set(a->platform) ? a->platform : "",
	        set(a->platform) && set(a->channel) ? "/" : "",
	        set(a->platform) && set(a->channel) ? a->channel : "") < 0)
		return NULL;
	return out;
}

/* Sets key to a string made with asprintf, when that works. */
static void VIGIL_PRINTF(5, 6) put_fmt(am_sink *s, json_t *obj, const char *key,
    const char *alert_id, const char *fmt, ...)
{
	va_list ap;
	char   *v;
	int     n;

	va_start(ap, fmt);
	n = vasprintf(&v, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	put_str(s, obj, key, v, alert_id);
	free(v);
}

static void
put_annotations(am_sink *s, json_t *ann, const vigil_alert *a)
{
	char  t0[32], t1[32];
	char *sum = summary(a);

	put_str(s, ann, "title", a->title, a->id);
	put_str(s, ann, "summary", sum, a->id);
	free(sum);
	put_str(s, ann, "evidence", a->excerpt, a->id);
	put_str(s, ann, "url", a->url, a->id);
	if (set(a->law) || set(a->article))
		put_fmt(s, ann, "legal_basis", a->id, "%s%s%s",
		    set(a->law) ? a->law : "",
		    set(a->law) && set(a->article) ? ", " : "",
		    set(a->article) ? a->article : "");
	put_str(s, ann, "penalty", a->penalty, a->id);
	if (set(a->window)) {
		fmt_time(a->window_start, t0, sizeof(t0));
		fmt_time(a->window_end, t1, sizeof(t1));
		put_fmt(
		    s, ann, "window", a->id, "%s, %s to %s", a->window, t0, t1);
	}
	put_str(s, ann, "post_id", a->post_id, a->id);
	put_fmt(s, ann, "score", a->id, "%.6g", a->score);
}

/* The Alertmanager alert, less endsAt (stamped at each POST). NULL when
 * out of memory. */
static json_t *
alert_object(am_sink *s, const vigil_alert *a, int64_t now)
{
	json_t *obj    = json_object();
	json_t *labels = json_object();
	json_t *ann    = json_object();
	char   *gen;
	char    ts[32];

	if (obj == NULL || labels == NULL || ann == NULL)
		goto fail;
	put_labels(s, labels, a);
	put_annotations(s, ann, a);
	if (json_object_get(labels, "alertname") == NULL ||
	    json_object_get(labels, "alert_id") == NULL)
		goto fail;
	/* When it happened; never later than now, or endsAt could come
	 * before it. */
	fmt_time(a->created_at > 0 && a->created_at < now ? a->created_at : now,
	    ts, sizeof(ts));
	if (json_object_set_new(obj, "labels", labels) != 0) {
		labels = NULL;
		goto fail;
	}
	labels = NULL;
	if (json_object_set_new(obj, "annotations", ann) != 0) {
		ann = NULL;
		goto fail;
	}
	ann = NULL;
	if (json_object_set_new(obj, "startsAt", json_string(ts)) != 0)
		goto fail;
	if ((gen = generator_url(a->url)) != NULL) {
		put_str(s, obj, "generatorURL", gen, a->id);
		free(gen);
	}
	return obj;
fail:
	json_decref(labels);
	json_decref(ann);
	json_decref(obj);
	return NULL;
}

static void
alert_free(am_alert *al)
{
	if (al == NULL)
		return;
	json_decref(al->obj);
	free(al->id);
	free(al);
}

/* ------------------------------------------------------------------------
 * The active set */

static void
active_remove(am_sink *s, am_alert *al)
{
	if (s->cursor == al)
		s->cursor = TAILQ_NEXT(al, link);
	TAILQ_REMOVE(&s->active, al, link);
	s->n_active--;
	alert_free(al);
}

static void
active_add(am_sink *s, am_alert *al)
{
	am_alert *old;

	if (s->max_active == 0) {
		alert_free(al);
		return;
	}
	if (s->n_active >= s->max_active) {
		old = TAILQ_FIRST(&s->active);
		s->host->counter_add(s->c_evicted, 1);
		s->host->log_limited(s->ctx, VIGIL_LOG_WARNING,
		    "%zu alerts active (max_active): alert %s is no longer "
		    "re-sent and resolves at its endsAt",
		    s->n_active, old->id);
		active_remove(s, old);
	}
	TAILQ_INSERT_TAIL(&s->active, al, link);
	s->n_active++;
}

/* Alerts past their lifetime stop being re-sent; Alertmanager resolves
 * them at the endsAt of their last POST. They are the oldest, first. */
static void
active_expire(am_sink *s, int64_t now_mono)
{
	am_alert *al;

	while ((al = TAILQ_FIRST(&s->active)) != NULL &&
	    now_mono - al->sent_mono >= s->lifetime_us)
		active_remove(s, al);
}

/* ------------------------------------------------------------------------
 * POSTing */

static void on_posted(void *arg, const vigil_fetch_result *res);

/* The JSON array of the given alerts, each with endsAt lifetime_s from
 * now; NULL when out of memory. */
static char *
batch_body(am_sink *s, am_alert *first, size_t n)
{
	json_t   *arr = json_array();
	char      ends[32];
	char     *body = NULL;
	am_alert *al   = first;

	if (arr == NULL)
		return NULL;
	fmt_time(s->host->now_realtime() + s->lifetime_us, ends, sizeof(ends));
	for (size_t i = 0; i < n && al != NULL; i++, al = TAILQ_NEXT(al, link))
		if (json_object_set_new(al->obj, "endsAt", json_string(ends)) !=
		        0 ||
		    json_array_append(arr, al->obj) != 0)
			goto out;
	body = json_dumps(arr, JSON_COMPACT);
out:
	json_decref(arr);
	return body;
}

static int
post_start(am_sink *s, am_post *p, am_alert *first)
{
	const char     *headers[2];
	size_t          n_headers = 0;
	char           *body;
	vigil_fetch_req req;

	if ((body = batch_body(s, first, p->n)) == NULL) {
		s->host->log_limited(
		    s->ctx, VIGIL_LOG_ERR, "out of memory building a POST");
		return VIGIL_ERR;
	}
	headers[n_headers++] = "Content-Type: application/json";
	if (s->auth_header != NULL)
		headers[n_headers++] = s->auth_header;
	memset(&req, 0, sizeof(req));
	req.struct_size = sizeof(req);
	req.method      = "POST";
	req.url         = s->url;
	req.headers     = headers;
	req.n_headers   = n_headers;
	req.body        = body;
	req.body_len    = strlen(body);
	req.timeout_ms  = s->timeout_ms;
	req.max_body    = MAX_REPLY_BODY;
	req.done        = on_posted;
	req.arg         = p;
	p->sent_mono    = s->host->now_monotonic();
	p->fetch        = s->host->fetch(s->ctx, &req);
	free(body);
	return p->fetch != NULL ? VIGIL_OK : VIGIL_ERR;
}

/* The next batch of new alerts off the queue: a solo alert alone, else
 * up to `batch` of them, stopping before a solo one. */
static void
take_batch(am_sink *s, am_post *p)
{
	am_alert *al;

	while ((al = TAILQ_FIRST(&s->queue)) != NULL && p->n < s->batch) {
		if (al->solo && p->n > 0)
			break;
		TAILQ_REMOVE(&s->queue, al, link);
		TAILQ_INSERT_TAIL(&p->alerts, al, link);
		p->n++;
		if (al->solo)
			break;
	}
}

/* Completes every alert of a first POST with the host and frees it. */
static void
finish_alerts(am_sink *s, am_post *p, int status, int64_t retry_after_ms)
{
	am_alert *al;

	while ((al = TAILQ_FIRST(&p->alerts)) != NULL) {
		TAILQ_REMOVE(&p->alerts, al, link);
		s->n_pending--;
		if (status == VIGIL_ERETRY && retry_after_ms >= 0)
			s->host->alert_retry_after(
			    s->ctx, al->token, retry_after_ms);
		else
			s->host->alert_done(s->ctx, al->token, status);
		alert_free(al);
	}
	p->n = 0;
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	am_sink *s = arg;

	(void)fd;
	(void)what;
	while (!s->stopped && !TAILQ_EMPTY(&s->queue) &&
	    s->n_posts < s->inflight) {
		am_post *p = calloc(1, sizeof(*p));

		if (p == NULL) {
			s->host->log_limited(s->ctx, VIGIL_LOG_ERR,
			    "out of memory starting a POST");
			return;
		}
		p->s = s;
		TAILQ_INIT(&p->alerts);
		take_batch(s, p);
		if (post_start(s, p, TAILQ_FIRST(&p->alerts)) != VIGIL_OK) {
			/* Logged. The others would fare no better: all go
			 * back to the host, to be retried later. */
			TAILQ_CONCAT(&p->alerts, &s->queue, link);
			finish_alerts(s, p, VIGIL_ERETRY, -1);
			free(p);
			return;
		}
		TAILQ_INSERT_TAIL(&s->posts, p, link);
		s->n_posts++;
	}
}

static void
flush_soon(am_sink *s)
{
	if (!TAILQ_EMPTY(&s->queue))
		event_active(s->flush_ev, 0, 0);
}

/* The first bytes of a reply, on one line, for the log. */
static void
body_start(const vigil_fetch_result *res, char *buf, size_t len)
{
	size_t n = res->body != NULL ? res->body_len : 0;

	if (n > len - 1)
		n = len - 1;
	while (n > 0 && n < res->body_len &&
	    ((unsigned char)res->body[n] & 0xc0) == 0x80)
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)res->body[i];

		buf[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	buf[n] = '\0';
}

/* What a reply means: VIGIL_OK, VIGIL_ERETRY or VIGIL_EFAIL. */
static int
outcome(const vigil_fetch_result *res)
{
	if (res->status >= 200 && res->status < 300)
		return VIGIL_OK;
	if (res->status >= 400 && res->status < 500 && res->status != 408 &&
	    res->status != 429)
		return VIGIL_EFAIL;
	/* No response, 5xx, 408, 429; and 1xx or 3xx, which a correct url
	 * never gets: keep the alerts until it is fixed. */
	return VIGIL_ERETRY;
}

/* "POST of N alerts to URL: HTTP 503: <body start>; <then>" */
static void
log_failure(am_sink *s, const vigil_fetch_result *res, size_t n, int level,
    const char *then)
{
	char body[LOG_BODY + 1];

	if (res->status == 0) {
		s->host->log_limited(s->ctx, level,
		    "POST of %zu alerts to %s: %s; %s", n, s->url,
		    res->error != NULL ? res->error : "no response", then);
		return;
	}
	body_start(res, body, sizeof(body));
	s->host->log_limited(s->ctx, level,
	    "POST of %zu alerts to %s: HTTP %d: %s; %s", n, s->url, res->status,
	    body[0] != '\0' ? body : "(no body)", then);
}

static void
first_posted(am_sink *s, am_post *p, const vigil_fetch_result *res)
{
	int       st = outcome(res);
	am_alert *al;

	if (st == VIGIL_OK) {
		while ((al = TAILQ_FIRST(&p->alerts)) != NULL) {
			TAILQ_REMOVE(&p->alerts, al, link);
			s->n_pending--;
			s->host->alert_done(s->ctx, al->token, VIGIL_OK);
			al->token     = 0;
			al->sent_mono = p->sent_mono;
			active_add(s, al);
		}
		return;
	}
	if (st == VIGIL_EFAIL && p->n > 1 &&
	    (res->status == 400 || res->status == 422)) {
		/* One bad alert spoils a batch: post them one by one, in
		 * their order, ahead of the rest. */
		log_failure(
		    s, res, p->n, VIGIL_LOG_NOTICE, "posting them one by one");
		s->host->counter_add(s->c_split, 1);
		while ((al = TAILQ_LAST(&p->alerts, am_list)) != NULL) {
			TAILQ_REMOVE(&p->alerts, al, link);
			al->solo = 1;
			TAILQ_INSERT_HEAD(&s->queue, al, link);
		}
		p->n = 0;
		return;
	}
	if (st == VIGIL_EFAIL)
		log_failure(s, res, p->n, VIGIL_LOG_ERR,
		    "refused for good: dropped as dead letters");
	else
		log_failure(s, res, p->n, VIGIL_LOG_WARNING, "to be retried");
	finish_alerts(s, p, st, res->retry_after_ms);
}

/* ------------------------------------------------------------------------
 * Re-sending */

static void resend_next(am_sink *s);

static void
resent(am_sink *s, am_post *p, const vigil_fetch_result *res)
{
	if (outcome(res) == VIGIL_OK) {
		s->host->counter_add(s->c_resent, p->n);
		resend_next(s);
		return;
	}
	/* The next round tries again; the alerts stay active meanwhile
	 * until the endsAt of their last POST. */
	s->host->counter_add(s->c_resend_failed, p->n);
	log_failure(
	    s, res, p->n, VIGIL_LOG_WARNING, "re-sent again next round");
	s->cursor = NULL;
}

/* Posts the next batch of the round, from the cursor. */
static void
resend_next(am_sink *s)
{
	am_post  *p;
	am_alert *first = s->cursor;

	if (first == NULL || s->stopped)
		return;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		s->cursor = NULL;
		return;
	}
	p->s      = s;
	p->resend = 1;
	TAILQ_INIT(&p->alerts);
	while (s->cursor != NULL && p->n < s->batch) {
		s->cursor = TAILQ_NEXT(s->cursor, link);
		p->n++;
	}
	if (post_start(s, p, first) != VIGIL_OK) {
		free(p);
		s->cursor = NULL;
		return;
	}
	s->resend = p;
}

static void
on_resend_timer(evutil_socket_t fd, short what, void *arg)
{
	am_sink *s = arg;

	(void)fd;
	(void)what;
	active_expire(s, s->host->now_monotonic());
	if (s->resend != NULL)
		return; /* the last round is still going */
	s->cursor = TAILQ_FIRST(&s->active);
	resend_next(s);
}

static void
on_posted(void *arg, const vigil_fetch_result *res)
{
	am_post *p = arg;
	am_sink *s = p->s;

	p->fetch = NULL;
	if (p->resend) {
		s->resend = NULL;
		resent(s, p, res);
	} else {
		TAILQ_REMOVE(&s->posts, p, link);
		s->n_posts--;
		first_posted(s, p, res);
	}
	free(p);
	flush_soon(s);
}

/* ------------------------------------------------------------------------
 * Emitting */

static int
am_emit(void *instance, const vigil_alert *alert)
{
	am_sink  *s = instance;
	am_alert *al;

	if (s->stopped || s->n_pending >= s->max_pending)
		return VIGIL_ERETRY;
	if (!set(alert->rule) || !set(alert->id)) {
		s->host->log_limited(s->ctx, VIGIL_LOG_ERR,
		    "an alert without a rule or id cannot be posted");
		return VIGIL_EFAIL;
	}
	if ((al = calloc(1, sizeof(*al))) == NULL ||
	    (al->id = strdup(alert->id)) == NULL ||
	    (al->obj = alert_object(s, alert, s->host->now_realtime())) ==
	        NULL) {
		s->host->log_limited(s->ctx, VIGIL_LOG_ERR,
		    "alert %s: out of memory", alert->id);
		alert_free(al);
		return VIGIL_ERETRY;
	}
	al->token = alert->token;
	TAILQ_INSERT_TAIL(&s->queue, al, link);
	s->n_pending++;
	/* Posted on the next turn of the loop, with whatever else came in
	 * this one; never from inside emit, so that alert_done always
	 * follows the VIGIL_PENDING. */
	flush_soon(s);
	return VIGIL_PENDING;
}

/* ------------------------------------------------------------------------
 * Lifecycle */

/* The secret in path, a final line break dropped; NULL (logged) when it
 * cannot be read or is unusable. Blocking reads: only at init. */
static char *
read_secret(am_sink *s, const char *path, const char *setting)
{
	char        buf[MAX_SECRET + 1];
	char       *out = NULL;
	const char *why = NULL;
	size_t      n   = 0;
	ssize_t     r   = 0;
	int         fd  = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		s->host->log(s->ctx, VIGIL_LOG_ERR, "%s %s: %s", setting, path,
		    strerror(errno));
		return NULL;
	}
	while (n < sizeof(buf) - 1 &&
	    ((r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0 ||
	        (r < 0 && errno == EINTR)))
		if (r > 0)
			n += (size_t)r;
	if (r < 0)
		why = strerror(errno);
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	if (why == NULL && n >= MAX_SECRET)
		why = "too long";
	else if (why == NULL && (n == 0 || strlen(buf) != n || has_ctl(buf)))
		why = "empty, or holds control characters or several lines";
	else if (why == NULL && (out = strdup(buf)) == NULL)
		why = "out of memory";
	if (why != NULL)
		s->host->log(
		    s->ctx, VIGIL_LOG_ERR, "%s %s: %s", setting, path, why);
	explicit_bzero(buf, sizeof(buf));
	return out;
}

static void
secret_free(char *secret)
{
	if (secret != NULL) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
}

static char *
basic_header(const char *user, const char *pass)
{
	size_t            ul = strlen(user), pl = strlen(pass);
	size_t            n = ul + 1 + pl;
	unsigned char    *raw;
	char             *hdr;
	static const char prefix[] = "Authorization: Basic ";

	if ((raw = malloc(n)) == NULL)
		return NULL;
	memcpy(raw, user, ul);
	raw[ul] = ':';
	memcpy(raw + ul + 1, pass, pl);
	if ((hdr = malloc(sizeof(prefix) + 4 * ((n + 2) / 3) + 1)) != NULL) {
		memcpy(hdr, prefix, sizeof(prefix) - 1);
		EVP_EncodeBlock(
		    (unsigned char *)hdr + sizeof(prefix) - 1, raw, (int)n);
	}
	explicit_bzero(raw, n);
	free(raw);
	return hdr;
}

/* The Authorization header from the settings, or NULL without
 * authentication. VIGIL_ERR (logged) when a secret cannot be had. */
static int
auth_init(am_sink *s, const vigil_cfg *cfg)
{
	const vigil_host *host  = s->host;
	const char       *user  = host->cfg_string(cfg, "username");
	const char       *passf = host->cfg_string(cfg, "password_file");
	const char       *tokf  = host->cfg_string(cfg, "bearer_token_file");
	const char       *tok   = host->cfg_string(cfg, "bearer_token");
	char             *secret;

	if (set(user))
		secret = set(passf) ? read_secret(s, passf, "password_file")
		                    : strdup(host->cfg_string(cfg, "password"));
	else if (set(tokf))
		secret = read_secret(s, tokf, "bearer_token_file");
	else if (set(tok))
		secret = strdup(tok);
	else
		return VIGIL_OK;
	if (secret == NULL)
		return VIGIL_ERR;
	if (set(user)) {
		s->auth_header = basic_header(user, secret);
	} else if (strchr(secret, ' ') != NULL) {
		host->log(s->ctx, VIGIL_LOG_ERR,
		    "bearer_token_file %s: the token holds a space", tokf);
	} else if (asprintf(&s->auth_header, "Authorization: Bearer %s",
	               secret) < 0) {
		s->auth_header = NULL;
	}
	secret_free(secret);
	return s->auth_header != NULL ? VIGIL_OK : VIGIL_ERR;
}

static int
labels_init(am_sink *s, const vigil_cfg *cfg)
{
	size_t n = s->host->cfg_count(cfg, "labels");

	if (n == 0)
		return VIGIL_OK;
	if ((s->labels = calloc(n, sizeof(*s->labels))) == NULL)
		return VIGIL_ERR;
	for (; s->n_labels < n; s->n_labels++) {
		const vigil_cfg *l =
		    s->host->cfg_list_at(cfg, "labels", s->n_labels);
		am_label *lb = &s->labels[s->n_labels];

		lb->name  = strdup(s->host->cfg_string(l, "name"));
		lb->value = strdup(s->host->cfg_string(l, "value"));
		if (lb->name == NULL || lb->value == NULL) {
			s->n_labels++;
			return VIGIL_ERR;
		}
	}
	return VIGIL_OK;
}

/* Ends every POST and forgets every alert; with complete, the alerts the
 * host waits for are handed back to it for a later retry. */
static void
drop_all(am_sink *s, int complete)
{
	am_post  *p;
	am_alert *al;

	if (s->resend != NULL) {
		s->host->fetch_cancel(s->resend->fetch);
		free(s->resend);
		s->resend = NULL;
	}
	/* The latest first, each put ahead of the queue: order kept. */
	while ((p = TAILQ_LAST(&s->posts, am_post_list)) != NULL) {
		TAILQ_REMOVE(&s->posts, p, link);
		s->n_posts--;
		s->host->fetch_cancel(p->fetch);
		TAILQ_CONCAT(&p->alerts, &s->queue, link);
		TAILQ_CONCAT(&s->queue, &p->alerts, link);
		free(p);
	}
	while ((al = TAILQ_FIRST(&s->queue)) != NULL) {
		TAILQ_REMOVE(&s->queue, al, link);
		s->n_pending--;
		if (complete)
			s->host->alert_done(s->ctx, al->token, VIGIL_ERETRY);
		alert_free(al);
	}
	s->cursor = NULL;
	while ((al = TAILQ_FIRST(&s->active)) != NULL)
		active_remove(s, al);
}

static void
am_destroy(void *instance)
{
	am_sink *s = instance;

	if (s == NULL)
		return;
	drop_all(s, 0);
	if (s->flush_ev != NULL)
		event_free(s->flush_ev);
	if (s->resend_ev != NULL)
		event_free(s->resend_ev);
	for (size_t i = 0; i < s->n_labels; i++) {
		free(s->labels[i].name);
		free(s->labels[i].value);
	}
	free(s->labels);
	secret_free(s->auth_header);
	free(s->url);
	free(s);
}

static void
counters_init(am_sink *s)
{
	const vigil_host *h = s->host;

	s->c_resent = h->counter(s->ctx, "alertmanager_resent_total",
	    "Alerts re-sent to keep them active.");
	s->c_resend_failed =
	    h->counter(s->ctx, "alertmanager_resend_failed_total",
	        "Alerts whose re-send failed (tried again next round).");
	s->c_evicted = h->counter(s->ctx, "alertmanager_evicted_total",
	    "Alerts dropped from re-sending because max_active was reached.");
	s->c_split   = h->counter(s->ctx, "alertmanager_split_total",
	      "Batches refused as invalid and posted again one alert a POST.");
}

static int
am_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	const char *url = host->cfg_string(cfg, "url");
	size_t      ul;
	am_sink    *s;

	if (host->struct_size < offsetof(vigil_host, alert_retry_after) +
	        sizeof(host->alert_retry_after)) {
		host->log(ctx, VIGIL_LOG_ERR,
		    "the host has no HTTP client (ABI 1.2 needed)");
		return VIGIL_ERR;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto nomem;
	s->host = host;
	s->ctx  = ctx;
	TAILQ_INIT(&s->queue);
	TAILQ_INIT(&s->posts);
	TAILQ_INIT(&s->active);
	s->lifetime_us = host->cfg_int(cfg, "lifetime_s") * 1000000;
	s->resend_us   = host->cfg_int(cfg, "resend_interval_s") * 1000000;
	s->timeout_ms  = host->cfg_int(cfg, "timeout_ms");
	s->batch       = (size_t)host->cfg_int(cfg, "batch");
	s->inflight    = (size_t)host->cfg_int(cfg, "inflight");
	s->max_pending = (size_t)host->cfg_int(cfg, "max_pending");
	s->max_active  = (size_t)host->cfg_int(cfg, "max_active");
	for (ul = strlen(url); ul > 0 && url[ul - 1] == '/'; ul--)
		;
	if (asprintf(&s->url, "%.*s%s", (int)ul, url, API_PATH) < 0) {
		s->url = NULL;
		goto nomem;
	}
	if (labels_init(s, cfg) != VIGIL_OK)
		goto nomem;
	if (auth_init(s, cfg) != VIGIL_OK)
		goto fail; /* logged */
	s->flush_ev  = event_new(host->event_base(ctx), -1, 0, on_flush, s);
	s->resend_ev = event_new(
	    host->event_base(ctx), -1, EV_PERSIST, on_resend_timer, s);
	if (s->flush_ev == NULL || s->resend_ev == NULL)
		goto nomem;
	counters_init(s);
	*instance = s;
	return VIGIL_OK;
nomem:
	host->log(ctx, VIGIL_LOG_ERR, "out of memory");
fail:
	am_destroy(s);
	return VIGIL_ERR;
}

static int
am_start(void *instance)
{
	am_sink       *s = instance;
	struct timeval tv;

	tv.tv_sec  = (time_t)(s->resend_us / 1000000);
	tv.tv_usec = 0;
	if (s->max_active > 0 && event_add(s->resend_ev, &tv) != 0) {
		s->host->log(
		    s->ctx, VIGIL_LOG_ERR, "cannot arm the re-send timer");
		return VIGIL_ERR;
	}
	return VIGIL_OK;
}

/* Cancels every POST; the alerts the host waits for go back to it for a
 * later retry, and the active ones resolve at their endsAt. */
static void
am_stop(void *instance)
{
	am_sink *s = instance;

	if (s->stopped)
		return;
	s->stopped = 1;
	event_del(s->resend_ev);
	event_del(s->flush_ev);
	if (s->n_active > 0)
		s->host->log(s->ctx, VIGIL_LOG_INFO,
		    "stopping: %zu active alerts are no longer re-sent and "
		    "resolve at their endsAt",
		    s->n_active);
	drop_all(s, 1);
}

static const vigil_plugin am_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name    = "alertmanager",
    .version = "1.0",
    .kind    = VIGIL_PLUGIN_SINK,
    .description =
        "Posts alerts to a Prometheus Alertmanager (API v2) with labels and "
        "annotations, several to a POST, and re-sends the active ones so that "
        "they stay active for their lifetime (doc/sinks/alertmanager.md).",
    .settings = am_settings,
    .validate = am_validate,
    .init     = am_init,
    .start    = am_start,
    .stop     = am_stop,
    .destroy  = am_destroy,
    .emit     = am_emit,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &am_plugin;
}
