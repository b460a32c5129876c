/*
 * host.c - the table of host services that every plugin receives. Most
 * entries point straight at the module that owns the service (settings,
 * text, post, verdict, metrics); the loop-only ones go through the ops
 * that vigild installs, so that a worker process answers them with a
 * clear error instead of touching a loop it does not have.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "calendar.h"
#include "host.h"
#include "lexicon.h"
#include "metrics.h"
#include "post.h"
#include "registry.h"
#include "settings.h"
#include "text.h"
#include "tz.h"
#include "util.h"
#include "verdict.h"

static const host_loop_ops *loop_ops;

void
host_set_loop_ops(const host_loop_ops *ops)
{
	loop_ops = ops;
}

void
host_ctx_init(vigil_ctx *ctx, vigil_plugin_kind kind, const char *name,
    const vigil_plugin *desc, struct event_base *base, void *owner)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->kind  = kind;
	ctx->name  = name;
	ctx->desc  = desc;
	ctx->base  = base;
	ctx->owner = owner;
	snprintf(ctx->prefix, sizeof(ctx->prefix), "%s %s/%s",
	    kind == VIGIL_PLUGIN_INPUT      ? "input"
	        : kind == VIGIL_PLUGIN_RULE ? "rule"
	                                    : "sink",
	    desc ? desc->name : "?", name ? name : "?");
}

void
host_log(vigil_ctx *ctx, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, ctx ? ctx->prefix : "plugin", fmt, ap);
	va_end(ap);
}

void
host_log_limited(vigil_ctx *ctx, int level, const char *fmt, ...)
{
	va_list   ap;
	log_limit unowned = {0};

	va_start(ap, fmt);
	log_limited(ctx ? &ctx->limit : &unowned, level,
	    ctx ? ctx->prefix : "plugin", fmt, ap);
	va_end(ap);
}

static struct event_base *
h_event_base(vigil_ctx *ctx)
{
	return ctx->base;
}

static int64_t
h_now_realtime(void)
{
	return now_realtime_us();
}

static int64_t
h_now_monotonic(void)
{
	return now_monotonic_us();
}

/* Loop-only services. */
#define NEED_LOOP(ctx, what, fail)                                             \
	do {                                                                   \
		if (loop_ops == NULL) {                                        \
			host_log(ctx, VIGIL_LOG_ERR,                           \
			    "%s is not available outside the daemon's loop",   \
			    what);                                             \
			return fail;                                           \
		}                                                              \
	} while (0)

static int
h_submit(vigil_ctx *ctx, const char *buf, size_t len, const vigil_submit *o)
{
	NEED_LOOP(ctx, "submit", VIGIL_ERR);
	return loop_ops->submit(ctx, buf, len, o);
}

static int
h_post_check(const char *buf, size_t len, char *err, size_t errlen)
{
	post *p;

	if (post_parse(buf, len, &p, err, errlen) != 0)
		return VIGIL_ERR;
	post_free(p);
	return VIGIL_OK;
}

static void
h_alert_done(vigil_ctx *ctx, uint64_t token, int status)
{
	if (loop_ops == NULL) {
		host_log(ctx, VIGIL_LOG_ERR, "alert_done outside the daemon");
		return;
	}
	loop_ops->alert_done(ctx, token, status);
}

static int
h_kv_put(vigil_ctx *ctx, const char *key, const void *val, size_t len)
{
	NEED_LOOP(ctx, "kv_put", VIGIL_ERR);
	return loop_ops->kv_put(ctx, key, val, len);
}

static void *
h_kv_get(vigil_ctx *ctx, const char *key, size_t *len)
{
	NEED_LOOP(ctx, "kv_get", NULL);
	return loop_ops->kv_get(ctx, key, len);
}

static int
h_kv_del(vigil_ctx *ctx, const char *key)
{
	NEED_LOOP(ctx, "kv_del", VIGIL_ERR);
	return loop_ops->kv_del(ctx, key);
}

static int
h_http_route(vigil_ctx *ctx, const char *path, vigil_http_fn fn, void *arg)
{
	NEED_LOOP(ctx, "http_route", VIGIL_ERR);
	return loop_ops->http_route(ctx, path, fn, arg);
}

static const char *
h_http_method(vigil_http_req *req)
{
	return loop_ops ? loop_ops->http_method(req) : NULL;
}

static const char *
h_http_header(vigil_http_req *req, const char *name)
{
	return loop_ops ? loop_ops->http_header(req, name) : NULL;
}

static const char *
h_http_query(vigil_http_req *req, const char *name)
{
	return loop_ops ? loop_ops->http_query(req, name) : NULL;
}

static const void *
h_http_body(vigil_http_req *req, size_t *len)
{
	return loop_ops ? loop_ops->http_body(req, len) : NULL;
}

static void
h_http_reply(vigil_http_req *req, int status, const char *ctype,
    const void *body, size_t len)
{
	if (loop_ops)
		loop_ops->http_reply(req, status, ctype, body, len);
}

static int
h_http_reply_header(vigil_http_req *req, const char *name, const char *value)
{
	return loop_ops && loop_ops->http_reply_header
	    ? loop_ops->http_reply_header(req, name, value)
	    : VIGIL_ERR;
}

static int
h_http_hold(vigil_http_req *req)
{
	return loop_ops && loop_ops->http_hold ? loop_ops->http_hold(req)
	                                       : VIGIL_ERR;
}

static const char *
h_http_listen(vigil_ctx *ctx)
{
	(void)ctx;
	return loop_ops && loop_ops->http_listen ? loop_ops->http_listen(ctx)
	                                         : NULL;
}

/* A mode without positions (a replay) reads none and records none. */
static void *
h_position_get(vigil_ctx *ctx, size_t *len)
{
	NEED_LOOP(ctx, "position_get", NULL);
	*len = 0;
	return loop_ops->position_get ? loop_ops->position_get(ctx, len) : NULL;
}

static int
h_position_skip(vigil_ctx *ctx, const void *pos, size_t len)
{
	NEED_LOOP(ctx, "position_skip", VIGIL_ERR);
	return loop_ops->position_skip ? loop_ops->position_skip(ctx, pos, len)
	                               : VIGIL_OK;
}

static vigil_fetch *
h_fetch(vigil_ctx *ctx, const vigil_fetch_req *req)
{
	NEED_LOOP(ctx, "fetch", NULL);
	if (loop_ops->fetch == NULL) {
		host_log(ctx, VIGIL_LOG_ERR, "no HTTP client in this mode");
		return NULL;
	}
	return loop_ops->fetch(ctx, req);
}

static void
h_fetch_cancel(vigil_fetch *f)
{
	if (loop_ops && loop_ops->fetch_cancel)
		loop_ops->fetch_cancel(f);
}

static void
h_alert_retry_after(vigil_ctx *ctx, uint64_t token, int64_t delay_ms)
{
	if (loop_ops == NULL) {
		host_log(
		    ctx, VIGIL_LOG_ERR, "alert_retry_after outside the daemon");
		return;
	}
	if (loop_ops->alert_retry_after)
		loop_ops->alert_retry_after(ctx, token, delay_ms);
	else
		loop_ops->alert_done(ctx, token, VIGIL_ERETRY);
}

/* Metrics: a plugin's series carry its instance as a label. */
static void
instance_label(vigil_ctx *ctx, char *buf, size_t len)
{
	buf[0] = '\0';
	metrics_label(
	    buf, len, "plugin", ctx && ctx->desc ? ctx->desc->name : "");
	metrics_label(buf, len, "instance", ctx && ctx->name ? ctx->name : "");
}

static vigil_counter *
h_counter(vigil_ctx *ctx, const char *name, const char *help)
{
	char labels[256], full[160];

	instance_label(ctx, labels, sizeof(labels));
	if (!strfmt(full, sizeof(full), "vigil_plugin_%s", name))
		return NULL;
	return metrics_counter(full, help, labels);
}

static vigil_histogram *
h_histogram(vigil_ctx *ctx, const char *name, const char *help,
    const double *bounds, size_t n)
{
	char labels[256], full[160];

	instance_label(ctx, labels, sizeof(labels));
	if (!strfmt(full, sizeof(full), "vigil_plugin_%s", name))
		return NULL;
	return metrics_histogram(full, help, labels, bounds, n);
}

static int
h_date_add_days(const char *date, int days, char *out, size_t outlen)
{
	return tz_date_add_days(date, days, out, outlen) == 0 ? VIGIL_OK
	                                                      : VIGIL_ERR;
}

/* ------------------------------------------------------------ text */

/* The text tables cost 2.3 MB. Workers build them at start (their rules
 * use them on every post); vigild, whose rules run in the workers, builds
 * them only if one of its own plugins asks for a text service. */
static pthread_once_t text_once = PTHREAD_ONCE_INIT;
static int            text_rc;

static void
text_build(void)
{
	text_rc = text_init();
}

static bool
text_ready(char *err, size_t errlen)
{
	pthread_once(&text_once, text_build);
	if (text_rc != 0 && err != NULL)
		strfmt(err, errlen, "text services unavailable (ICU data)");
	return text_rc == 0;
}

static vigil_norm *
h_normalize(const char *s, size_t len)
{
	return text_ready(NULL, 0) ? text_normalize(s, len) : NULL;
}

static const vigil_norm *
h_post_norm(const vigil_post *p, unsigned field)
{
	return text_ready(NULL, 0) ? post_norm(p, field) : NULL;
}

static vigil_matcher *
h_matcher_new(const vigil_pattern *pats, size_t n, char *err, size_t errlen)
{
	return text_ready(err, errlen) ? text_matcher_new(pats, n, err, errlen)
	                               : NULL;
}

static vigil_lexicon *
h_lexicon_new(const vigil_signal_def *defs, size_t n, char *err, size_t errlen)
{
	return text_ready(err, errlen) ? lexicon_new(defs, n, err, errlen)
	                               : NULL;
}

static vigil_lexicon *
h_lexicon_from_cfg(
    const vigil_cfg *cfg, const char *list, char *err, size_t errlen)
{
	return text_ready(err, errlen)
	    ? lexicon_from_cfg(cfg, list, err, errlen)
	    : NULL;
}

static const vigil_host the_host = {
    .abi_major         = VIGIL_ABI_MAJOR,
    .abi_minor         = VIGIL_ABI_MINOR,
    .struct_size       = sizeof(vigil_host),
    .log               = host_log,
    .log_limited       = host_log_limited,
    .cfg_bool          = cfg_bool,
    .cfg_int           = cfg_int,
    .cfg_float         = cfg_float,
    .cfg_string        = cfg_string,
    .cfg_count         = cfg_count,
    .cfg_string_at     = cfg_string_at,
    .cfg_group         = cfg_group,
    .cfg_list_at       = cfg_list_at,
    .cfg_where         = cfg_where,
    .event_base        = h_event_base,
    .now_realtime      = h_now_realtime,
    .now_monotonic     = h_now_monotonic,
    .submit            = h_submit,
    .post_check        = h_post_check,
    .alert_done        = h_alert_done,
    .kv_put            = h_kv_put,
    .kv_get            = h_kv_get,
    .kv_del            = h_kv_del,
    .http_route        = h_http_route,
    .http_method       = h_http_method,
    .http_header       = h_http_header,
    .http_query        = h_http_query,
    .http_body         = h_http_body,
    .http_reply        = h_http_reply,
    .counter           = h_counter,
    .counter_add       = metrics_counter_add,
    .histogram         = h_histogram,
    .histogram_observe = metrics_histogram_observe,
    .post_norm         = h_post_norm,
    .post_field        = post_field,
    .norm_text         = text_norm_text,
    .norm_to_orig      = text_norm_to_orig,
    .normalize         = h_normalize,
    .norm_free         = text_norm_free,
    .matcher_new       = h_matcher_new,
    .matcher_scan      = text_matcher_scan,
    .matcher_free      = text_matcher_free,
    .finding_add       = findings_add,
    .finding_evidence  = finding_evidence,
    .finding_signal    = finding_signal,
    .calendar_new      = calendar_new,
    .calendar_add      = calendar_add,
    .calendar_find     = calendar_find,
    .calendar_count    = calendar_count,
    .calendar_window   = calendar_window,
    .calendar_free     = calendar_free,
    .registry_new      = registry_new,
    .registry_add      = registry_add,
    .registry_load     = registry_load,
    .registry_has      = registry_has,
    .registry_size     = registry_size,
    .registry_free     = registry_free,
    .lexicon_new       = h_lexicon_new,
    .lexicon_from_cfg  = h_lexicon_from_cfg,
    .lexicon_size      = lexicon_size,
    .lexicon_index     = lexicon_index,
    .lexicon_name      = lexicon_name,
    .lexicon_weight    = lexicon_weight,
    .lexicon_scan      = lexicon_scan,
    .lexicon_free      = lexicon_free,
    .finding_hit       = finding_hit,
    .date_add_days     = h_date_add_days,
    .registry_from_cfg = registry_from_cfg,
    .fetch             = h_fetch,
    .fetch_cancel      = h_fetch_cancel,
    .alert_retry_after = h_alert_retry_after,
    .position_get      = h_position_get,
    .position_skip     = h_position_skip,
    .http_reply_header = h_http_reply_header,
    .http_hold         = h_http_hold,
    .http_listen       = h_http_listen,
    .norm_scan         = text_matcher_scan_norm,
};

const vigil_host *
host_table(void)
{
	return &the_host;
}
