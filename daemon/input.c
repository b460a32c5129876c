/*
 * input.c - input plugin instances and the submit service (see input.h).
 *
 * A post's path through here: input plugin -> input_submit (backlog check,
 * copy into a job) -> dispatch -> ... -> job_finished (alerts to the sinks,
 * then the input's ack). Nothing accepted is dropped: when the backlog is
 * full the input is told to wait, not its post thrown away.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "alert.h"
#include "dispatch.h"
#include "http.h"
#include "input.h"
#include "kv.h"
#include "log.h"
#include "metrics.h"
#include "position.h"
#include "post.h"
#include "settings.h"
#include "sink.h"
#include "util.h"

typedef struct input_inst {
	inputs              *set;
	const instance_conf *conf;
	vigil_ctx            ctx;
	void                *instance;
	bool                 started;
	bool                 paused;
	size_t               outstanding;
	const char         **jur;   /* the instance's default jurisdictions */
	pos_track           *track; /* with an outbox: positions in order */
	vigil_counter       *c_received, *c_quarantined;
	vigil_counter       *c_invalid[POST_REFUSED_COUNT]; /* by reason */
} input_inst;

/* Rule ids come from rule plugins: a plugin that made them from posts
 * would add series without end, so a generation counts at most this
 * many rules apart, and the rest together. */
#define MAX_RULE_SERIES  256
#define OTHER_RULE_LABEL "_other"

typedef struct rule_counter {
	char          *rule;
	vigil_counter *c;
} rule_counter;

struct inputs {
	vigild        *v;
	generation    *g;
	input_inst    *items;
	size_t         n;
	size_t         outstanding;
	bool           stopped;
	bool           sink_hold; /* paused because a sink's backlog is full */
	struct event  *retry; /* resumes inputs paused with nothing in flight */
	rule_counter  *rules; /* vigil_findings_total by rule, found so far */
	size_t         n_rules, cap_rules;
	vigil_counter *other_rules;
};

/* What travels with a job: where its ack goes. */
typedef struct ticket {
	input_inst  *in;
	vigil_ack_fn ack;
	void        *ack_arg;
	pos_entry   *pos; /* or NULL */
	uint64_t     line;
	char         source[];
} ticket;

static vigil_counter   *c_verdicts[4];
static vigil_histogram *h_latency;

static void
metrics_once(void)
{
	static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
	    0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

	if (h_latency)
		return;
	for (int s = 0; s < 4; s++) {
		char l[64];
		snprintf(l, sizeof(l), "severity=\"%s\"",
		    vigil_severity_name((vigil_severity)s));
		c_verdicts[s] = metrics_counter(
		    "vigil_verdicts_total", "Verdicts by severity.", l);
	}
	h_latency = metrics_histogram("vigil_scoring_latency_seconds",
	    "Time from submission to verdict.", NULL, bounds,
	    ARRAY_SIZE(bounds));
}

static void
input_resume_all(inputs *set)
{
	for (size_t i = 0; i < set->n; i++) {
		input_inst *in = &set->items[i];
		if (in->paused && in->started && !set->stopped) {
			in->paused = false;
			if (in->conf->desc->resume)
				in->conf->desc->resume(in->instance);
		}
	}
}

/* Held back by a full sink, inputs wait until it has drained to half
 * (so that they do not flap at the edge); otherwise until the posts in
 * flight have. */
static bool
may_resume(inputs *set)
{
	if (set->sink_hold && sinks_roomy(set->g->out))
		set->sink_hold = false;
	return set->outstanding <= set->g->cfg->backlog / 2 &&
	    !set->sink_hold && !sinks_full(set->g->out);
}

static vigil_counter *
rule_counter_new(inputs *set, const char *rule)
{
	char          labels[320] = "";
	rule_counter *arr;
	size_t        cap;

	if (set->n_rules == MAX_RULE_SERIES) {
		if (set->other_rules == NULL) {
			log_warn(
			    "metrics: over %d rule ids; findings of further "
			    "rules count as rule=\"%s\"",
			    MAX_RULE_SERIES, OTHER_RULE_LABEL);
			metrics_label(
			    labels, sizeof(labels), "rule", OTHER_RULE_LABEL);
			set->other_rules =
			    metrics_counter("vigil_findings_total",
			        "Findings in verdicts, by rule.", labels);
		}
		return set->other_rules;
	}
	if (set->n_rules == set->cap_rules) {
		cap = set->cap_rules ? set->cap_rules * 2 : 16;
		if ((arr = realloc(set->rules, cap * sizeof(*arr))) == NULL)
			return NULL;
		set->rules     = arr;
		set->cap_rules = cap;
	}
	/* A rule id too long for a label is counted with the others. */
	if (metrics_label(labels, sizeof(labels), "rule", rule) != 0)
		metrics_label(labels, sizeof(labels), "rule", OTHER_RULE_LABEL);
	arr = &set->rules[set->n_rules];
	if ((arr->rule = strdup(rule)) == NULL)
		return NULL;
	arr->c = metrics_counter(
	    "vigil_findings_total", "Findings in verdicts, by rule.", labels);
	set->n_rules++;
	return arr->c;
}

/* Counts a verdict's findings by rule, one alert per finding. */
static void
count_findings(inputs *set, const alert_set *as)
{
	for (size_t i = 0; i < alert_set_count(as); i++) {
		const char *rule = alert_set_get(as, i)->rule;
		size_t      k    = 0;

		while (
		    k < set->n_rules && strcmp(set->rules[k].rule, rule) != 0)
			k++;
		metrics_counter_add(k < set->n_rules
		        ? set->rules[k].c
		        : rule_counter_new(set, rule),
		    1);
	}
}

/* The post is finished: its ack has been called, or will never be. */
static void
ticket_close(ticket *t)
{
	input_inst *in  = t->in;
	inputs     *set = in->set;

	in->outstanding--;
	set->outstanding--;
	free(t);
	if (may_resume(set))
		input_resume_all(set);
	vigild_progress(set->v);
}

/* The post is finished: the input hears of it, and its position may
 * move on. */
static void
ticket_ack(ticket *t, int status, const char *reason)
{
	t->ack(t->ack_arg, status, reason);
	if (t->pos != NULL)
		pos_done(t->in->track, t->pos);
}

/* Its alerts are in the outbox: now the input may move on. When they
 * could not be recorded the post is not acknowledged, so that its input
 * hands it over again. */
static void
alerts_recorded(void *arg, bool recorded)
{
	ticket *t = arg;

	if (recorded)
		ticket_ack(t, VIGIL_ACK_DONE, NULL);
	ticket_close(t);
}

/* The verdict's alerts go to the outbox, with the input's position when
 * this post completes a prefix of finished ones. */
static void
accept_alerts(ticket *t, const job_result *r)
{
	input_inst *in = t->in;
	accept_pos  ap = {.input = in->conf->name};
	pos_entry  *pe = t->pos;
	char        err[128];
	alert_set  *as;

	as = alert_set_decode(r->alerts, r->alerts_len, err, sizeof(err));
	if (as == NULL) {
		log_err("alerts from a worker cannot be read: %s", err);
		ticket_ack(t, VIGIL_ACK_DONE, NULL);
		ticket_close(t);
		return;
	}
	count_findings(in->set, as);
	if (pe != NULL && (ap.pos = pos_with(in->track, pe, &ap.len)) != NULL) {
		if (sinks_accept(in->set->g->out, as, r->alerts, r->alerts_len,
		        &ap, alerts_recorded, t))
			pos_recorded_with(in->track, pe);
		return;
	}
	sinks_accept(in->set->g->out, as, r->alerts, r->alerts_len, NULL,
	    alerts_recorded, t);
}

static void
job_finished(job *j, const job_result *r)
{
	ticket     *t  = j->owner;
	input_inst *in = t->in;
	char        reason[512];

	if (h_latency)
		metrics_histogram_observe(h_latency,
		    (double)(now_monotonic_us() - j->t_submit) / 1e6);
	switch (r->status) {
	case JOB_SCORED:
		metrics_counter_add(c_verdicts[r->severity & 3], 1);
		if (r->alerts_len > 0) {
			accept_alerts(t, r);
			job_free(j);
			return;
		}
		ticket_ack(t, VIGIL_ACK_DONE, NULL);
		break;
	case JOB_INVALID:
	case JOB_QUARANTINED:
		snprintf(reason, sizeof(reason), "%.*s", (int)r->len, r->data);
		metrics_counter_add(r->status == JOB_INVALID
		        ? in->c_invalid[post_refusal_of(reason)]
		        : in->c_quarantined,
		    1);
		host_log_limited(&in->ctx, VIGIL_LOG_WARNING, "%s:%llu: %s",
		    t->source, (unsigned long long)t->line, reason);
		ticket_ack(t,
		    r->status == JOB_INVALID ? VIGIL_ACK_INVALID
		                             : VIGIL_ACK_QUARANTINED,
		    reason);
		break;
	default:
		/* Shutdown before a verdict: no ack, so the input's saved
		 * position stays before this post and it is read again. */
		break;
	}
	job_free(j);
	ticket_close(t);
}

/* Nothing taken: the input pauses, and is resumed when the backlog has
 * drained to half, or by the retry timer when nothing was in flight to
 * drain (memory ran out, say). */
static int
input_wait(input_inst *in)
{
	static const struct timeval retry = {0, 100000};

	if (!in->paused) {
		in->paused = true;
		if (in->conf->desc->pause)
			in->conf->desc->pause(in->instance);
	}
	if (!evtimer_pending(in->set->retry, NULL))
		evtimer_add(in->set->retry, &retry);
	return VIGIL_EAGAIN;
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	inputs *set = arg;

	(void)fd;
	(void)what;
	if (may_resume(set)) {
		input_resume_all(set);
	} else if (!set->stopped) {
		/* Held back by the sinks, which drain without posts
		 * finishing: look again shortly. */
		static const struct timeval again = {0, 100000};
		evtimer_add(set->retry, &again);
	}
}

int
input_submit(vigil_ctx *ctx, const char *buf, size_t len, const vigil_submit *o)
{
	input_inst         *in  = ctx->owner;
	inputs             *set = in->set;
	const vigil_config *cfg = set->g->cfg;
	const char *const  *jur;
	size_t              n_jur, slen, pos_len = 0;
	const void         *pos = NULL;
	ticket             *t;
	job                *j;

	if (set->stopped) {
		host_log(ctx, VIGIL_LOG_WARNING, "submit after stop refused");
		return VIGIL_ERR;
	}
	if (o == NULL || o->ack == NULL) {
		host_log(ctx, VIGIL_LOG_ERR, "submit without an ack callback");
		return VIGIL_ERR;
	}
	if (len > cfg->max_post_bytes) {
		host_log_limited(ctx, VIGIL_LOG_WARNING,
		    "%s:%llu: post of %zu bytes exceeds daemon.max_post_bytes "
		    "(%zu); refused",
		    o->source ? o->source : "?", (unsigned long long)o->line,
		    len, cfg->max_post_bytes);
		metrics_counter_add(in->c_invalid[POST_REFUSED_TOO_LARGE], 1);
		return VIGIL_ERR;
	}
	if (o->struct_size >=
	    offsetof(vigil_submit, pos_len) + sizeof(size_t)) {
		pos     = o->pos;
		pos_len = o->pos_len;
	}
	if (pos != NULL && pos_len > VIGIL_POSITION_MAX) {
		host_log(ctx, VIGIL_LOG_ERR,
		    "submit with a position of %zu bytes (at most %d)", pos_len,
		    VIGIL_POSITION_MAX);
		return VIGIL_ERR;
	}
	if (set->outstanding >= cfg->backlog)
		return input_wait(in);
	if (sinks_full(set->g->out)) {
		set->sink_hold = true;
		return input_wait(in);
	}
	jur = o->n_jurisdictions ? (const char *const *)o->jurisdictions
	                         : in->jur;
	n_jur =
	    o->n_jurisdictions ? o->n_jurisdictions : in->conf->n_jurisdictions;
	slen = o->source ? strlen(o->source) : 0;
	if ((t = malloc(sizeof(*t) + slen + 1)) == NULL)
		return input_wait(in);
	t->in      = in;
	t->ack     = o->ack;
	t->ack_arg = o->ack_arg;
	t->line    = o->line;
	t->pos     = NULL;
	memcpy(t->source, o->source ? o->source : "", slen + 1);
	if ((j = job_new(buf, len, jur, n_jur, job_finished, t)) == NULL) {
		free(t);
		return input_wait(in);
	}
	j->brief = true; /* job_finished reads no verdict JSON */
	if (in->track != NULL && pos != NULL &&
	    (t->pos = pos_submit(in->track, pos, pos_len)) == NULL) {
		job_free(j);
		free(t);
		return input_wait(in);
	}
	in->outstanding++;
	set->outstanding++;
	metrics_counter_add(in->c_received, 1);
	dispatch_submit(set->g->disp, j);
	return VIGIL_OK;
}

static struct kv_store *
ctx_kv(vigil_ctx *ctx)
{
	char ns[160], err[256];

	if (ctx->kv)
		return ctx->kv;
	if (ctx->state_dir == NULL) {
		host_log(
		    ctx, VIGIL_LOG_ERR, "no state directory for the store");
		return NULL;
	}
	snprintf(ns, sizeof(ns), "%s.%s",
	    ctx->kind == VIGIL_PLUGIN_INPUT ? "input" : "sink", ctx->name);
	ctx->kv = kv_open(ctx->state_dir, ns, 0, err, sizeof(err));
	if (ctx->kv == NULL)
		host_log(ctx, VIGIL_LOG_ERR, "%s", err);
	return ctx->kv;
}

int
instance_kv_put(vigil_ctx *ctx, const char *key, const void *val, size_t len)
{
	struct kv_store *kv = ctx_kv(ctx);

	return kv && kv_put(kv, key, val, len) == 0 ? VIGIL_OK : VIGIL_ERR;
}

void *
instance_kv_get(vigil_ctx *ctx, const char *key, size_t *len)
{
	struct kv_store *kv = ctx_kv(ctx);

	return kv ? kv_get(kv, key, len) : NULL;
}

int
instance_kv_del(vigil_ctx *ctx, const char *key)
{
	struct kv_store *kv = ctx_kv(ctx);

	return kv && kv_del(kv, key) == 0 ? VIGIL_OK : VIGIL_ERR;
}

void *
input_position_get(vigil_ctx *ctx, size_t *len)
{
	input_inst *in = ctx->owner;
	positions  *p  = in->set->v->pos;

	return p != NULL ? positions_get(p, in->conf->name, len) : NULL;
}

int
input_position_skip(vigil_ctx *ctx, const void *pos, size_t len)
{
	input_inst *in = ctx->owner;

	if (pos == NULL || len > VIGIL_POSITION_MAX) {
		host_log(ctx, VIGIL_LOG_ERR, "position_skip: bad position");
		return VIGIL_ERR;
	}
	if (in->track == NULL)
		return VIGIL_OK;
	return pos_skip(in->track, pos, len) == 0 ? VIGIL_OK : VIGIL_ERR;
}

/* One series per reason from the start, so that rates start at 0. */
static void
invalid_counters(input_inst *in, const char *input_label)
{
	for (int r = 0; r < POST_REFUSED_COUNT; r++) {
		char labels[320];

		snprintf(labels, sizeof(labels), "%s", input_label);
		metrics_label(labels, sizeof(labels), "reason",
		    post_refusal_name((enum post_refusal)r));
		in->c_invalid[r] = metrics_counter("vigil_posts_invalid_total",
		    "Posts refused, by input and reason (too_large: before "
		    "scoring; the others: by the worker's parser).",
		    labels);
	}
}

inputs *
inputs_new(vigild *v, generation *g, char *err, size_t errlen)
{
	const vigil_config *cfg = g->cfg;
	inputs             *set = calloc(1, sizeof(*set));

	metrics_once();
	if (set == NULL ||
	    (set->items = calloc(cfg->n_inputs ? cfg->n_inputs : 1,
	         sizeof(input_inst))) == NULL)
		goto nomem;
	set->v = v;
	set->g = g;
	if ((set->retry = evtimer_new(v->base, on_retry, set)) == NULL)
		goto nomem;
	for (size_t i = 0; i < cfg->n_inputs; i++) {
		const instance_conf *ic = &cfg->inputs[i];
		input_inst          *in = &set->items[set->n];
		char                 labels[256];

		in->set  = set;
		in->conf = ic;
		host_ctx_init(&in->ctx, VIGIL_PLUGIN_INPUT, ic->name, ic->desc,
		    v->base, in);
		in->ctx.state_dir = cfg->state_dir;
		in->jur = calloc(ic->n_jurisdictions + 1, sizeof(char *));
		if (in->jur == NULL)
			goto nomem;
		for (size_t k = 0; k < ic->n_jurisdictions; k++)
			in->jur[k] = ic->jurisdictions[k];
		if (v->pos != NULL &&
		    (in->track = pos_track_new(v->pos, ic->name)) == NULL)
			goto nomem;
		labels[0] = '\0';
		metrics_label(labels, sizeof(labels), "input", ic->name);
		in->c_received = metrics_counter("vigil_posts_received_total",
		    "Posts accepted from inputs.", labels);
		invalid_counters(in, labels);
		in->c_quarantined = metrics_counter(
		    "vigil_posts_quarantined_total",
		    "Posts that crashed workers and were set aside.", labels);
		set->n++;
		if (ic->desc->init(host_table(), &in->ctx, ic->cfg,
		        &in->instance) != VIGIL_OK) {
			in->instance = NULL;
			snprintf(err, errlen, "%s: %s: init failed",
			    cfg_where(ic->cfg, NULL), in->ctx.prefix);
			goto fail;
		}
		in->ctx.instance = in->instance;
	}
	return set;
nomem:
	snprintf(err, errlen, "inputs: out of memory");
fail:
	inputs_free(set);
	return NULL;
}

int
inputs_start(inputs *set, char *err, size_t errlen)
{
	for (size_t i = 0; i < set->n; i++) {
		input_inst *in = &set->items[i];
		if (in->conf->desc->start(in->instance) != VIGIL_OK) {
			snprintf(err, errlen, "%s: %s: start failed",
			    cfg_where(in->conf->cfg, NULL), in->ctx.prefix);
			return -1;
		}
		in->started = true;
	}
	return 0;
}

void
inputs_stop(inputs *set)
{
	if (set == NULL || set->stopped)
		return;
	set->stopped = true;
	for (size_t i = 0; i < set->n; i++) {
		input_inst *in = &set->items[i];
		if (in->started && in->conf->desc->stop)
			in->conf->desc->stop(in->instance);
	}
}

size_t
inputs_outstanding(const inputs *set)
{
	return set ? set->outstanding : 0;
}

void
inputs_free(inputs *set)
{
	if (set == NULL)
		return;
	inputs_stop(set);
	for (size_t i = set->n; i-- > 0;) {
		input_inst *in = &set->items[i];
		/* Its routes go with it: a reload routes the path again. */
		if (set->v != NULL && set->v->http != NULL)
			http_server_unroute(set->v->http, in->ctx.prefix);
		if (in->instance && in->conf->desc->destroy)
			in->conf->desc->destroy(in->instance);
		if (in->ctx.kv)
			kv_close(in->ctx.kv);
		pos_track_free(in->track);
		free(in->jur);
	}
	if (set->retry)
		event_free(set->retry);
	for (size_t i = 0; i < set->n_rules; i++)
		free(set->rules[i].rule);
	free(set->rules);
	free(set->items);
	free(set);
}
