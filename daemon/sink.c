/*
 * sink.c - delivering alerts to sink plugins (see sink.h).
 *
 * An alert set (all alerts of one verdict) is shared by its deliveries and
 * freed when the last one finishes. Retries wait on one timer per sink, in
 * order, with a backoff that doubles up to a minute; the durable outbox
 * that survives restarts belongs to the delivery layer that replaces this
 * in-memory queue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "alert.h"
#include "kv.h"
#include "log.h"
#include "metrics.h"
#include "settings.h"
#include "sink.h"
#include "util.h"

typedef struct shared_set {
	alert_set *set;
	int        refs;
} shared_set;

typedef struct sink_inst sink_inst;

typedef struct delivery {
	sink_inst  *sink;
	shared_set *ss;
	size_t      idx;
	uint64_t    token;
	int         attempts;
	vigil_alert alert; /* what emit sees; stays put until alert_done */
	TAILQ_ENTRY(delivery) entry;
} delivery;

TAILQ_HEAD(delivery_list, delivery);

struct sink_inst {
	sinks               *set;
	const instance_conf *conf;
	vigil_ctx            ctx;
	void                *instance;
	bool                 started;
	struct delivery_list retry;   /* waiting for the timer */
	struct delivery_list pending; /* VIGIL_PENDING, by token */
	struct event        *timer;
	int                  backoff_ms;
	vigil_counter       *c_sent, *c_retry, *c_failed;
};

struct sinks {
	vigild     *v;
	generation *g;
	sink_inst  *items;
	size_t      n;
	size_t      pending;
	uint64_t    next_token;
};

#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 60000

static void
shared_unref(shared_set *ss)
{
	if (--ss->refs == 0) {
		alert_set_free(ss->set);
		free(ss);
	}
}

static void
delivery_finish(delivery *d)
{
	d->sink->set->pending--;
	shared_unref(d->ss);
	free(d);
}

static void
arm_retry(sink_inst *s)
{
	struct timeval tv;

	if (evtimer_pending(s->timer, NULL))
		return;
	tv.tv_sec  = s->backoff_ms / 1000;
	tv.tv_usec = (s->backoff_ms % 1000) * 1000;
	evtimer_add(s->timer, &tv);
}

/* Emits once; returns true when the delivery is finished or pending. */
static bool
delivery_try(delivery *d)
{
	sink_inst         *s = d->sink;
	const vigil_alert *a = alert_set_get(d->ss->set, d->idx);
	int                rv;

	d->alert       = *a;
	d->alert.token = d->token;
	d->attempts++;
	rv = s->conf->desc->emit(s->instance, &d->alert);
	switch (rv) {
	case VIGIL_OK:
		metrics_counter_add(s->c_sent, 1);
		s->backoff_ms = BACKOFF_MIN_MS;
		delivery_finish(d);
		return true;
	case VIGIL_PENDING:
		TAILQ_INSERT_TAIL(&s->pending, d, entry);
		return true;
	case VIGIL_EFAIL:
		metrics_counter_add(s->c_failed, 1);
		host_log_limited(&s->ctx, VIGIL_LOG_ERR,
		    "alert %s refused for good; dropped as a dead letter",
		    a->id);
		delivery_finish(d);
		return true;
	default: metrics_counter_add(s->c_retry, 1); return false;
	}
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	sink_inst *s = arg;
	delivery  *d;

	(void)fd;
	(void)what;
	while ((d = TAILQ_FIRST(&s->retry)) != NULL) {
		TAILQ_REMOVE(&s->retry, d, entry);
		if (!delivery_try(d)) {
			/* Still failing: keep the order, back off. */
			TAILQ_INSERT_HEAD(&s->retry, d, entry);
			s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS
			    ? BACKOFF_MAX_MS
			    : s->backoff_ms * 2;
			arm_retry(s);
			return;
		}
	}
	vigild_progress(s->set->v);
}

void
sinks_deliver(sinks *set, const char *alerts, size_t len)
{
	char        err[256];
	shared_set *ss;
	alert_set  *as;

	as = alert_set_decode(alerts, len, err, sizeof(err));
	if (as == NULL) {
		log_err("alerts from a worker cannot be read: %s", err);
		return;
	}
	if ((ss = calloc(1, sizeof(*ss))) == NULL) {
		log_err("out of memory delivering alerts");
		alert_set_free(as);
		return;
	}
	ss->set  = as;
	ss->refs = 1;
	for (size_t i = 0; i < alert_set_count(as); i++) {
		const vigil_alert *a = alert_set_get(as, i);
		for (size_t k = 0; k < set->n; k++) {
			sink_inst *s = &set->items[k];
			delivery  *d;
			if (a->severity < s->conf->min_severity)
				continue;
			if ((d = calloc(1, sizeof(*d))) == NULL) {
				log_err(
				    "out of memory delivering alert %s", a->id);
				continue;
			}
			d->sink  = s;
			d->ss    = ss;
			d->idx   = i;
			d->token = ++set->next_token;
			ss->refs++;
			set->pending++;
			/* Behind earlier retries, to keep the order. */
			if (!TAILQ_EMPTY(&s->retry) || !delivery_try(d)) {
				TAILQ_INSERT_TAIL(&s->retry, d, entry);
				arm_retry(s);
			}
		}
	}
	shared_unref(ss);
}

void
sink_alert_done(vigil_ctx *ctx, uint64_t token, int status)
{
	sink_inst *s = ctx->owner;
	delivery  *d;

	TAILQ_FOREACH (d, &s->pending, entry)
		if (d->token == token)
			break;
	if (d == NULL) {
		host_log(ctx, VIGIL_LOG_ERR,
		    "alert_done for unknown token %llu",
		    (unsigned long long)token);
		return;
	}
	TAILQ_REMOVE(&s->pending, d, entry);
	if (status == VIGIL_OK) {
		metrics_counter_add(s->c_sent, 1);
		delivery_finish(d);
	} else if (status == VIGIL_EFAIL) {
		metrics_counter_add(s->c_failed, 1);
		delivery_finish(d);
	} else {
		metrics_counter_add(s->c_retry, 1);
		TAILQ_INSERT_TAIL(&s->retry, d, entry);
		arm_retry(s);
	}
	vigild_progress(s->set->v);
}

static vigil_counter *
sink_counter(const char *sink, const char *state)
{
	char l[256] = "";

	metrics_label(l, sizeof(l), "sink", sink);
	metrics_label(l, sizeof(l), "state", state);
	return metrics_counter(
	    "vigil_alerts_total", "Alerts by sink and outcome.", l);
}

sinks *
sinks_new(vigild *v, generation *g, char *err, size_t errlen)
{
	const vigil_config *cfg = g->cfg;
	sinks              *set = calloc(1, sizeof(*set));

	if (set == NULL ||
	    (set->items = calloc(
	         cfg->n_sinks ? cfg->n_sinks : 1, sizeof(sink_inst))) == NULL)
		goto nomem;
	set->v = v;
	set->g = g;
	for (size_t i = 0; i < cfg->n_sinks; i++) {
		const instance_conf *ic = &cfg->sinks[i];
		sink_inst           *s  = &set->items[set->n];

		s->set        = set;
		s->conf       = ic;
		s->backoff_ms = BACKOFF_MIN_MS;
		TAILQ_INIT(&s->retry);
		TAILQ_INIT(&s->pending);
		host_ctx_init(
		    &s->ctx, VIGIL_PLUGIN_SINK, ic->name, ic->desc, v->base, s);
		s->ctx.state_dir = cfg->state_dir;
		if ((s->timer = evtimer_new(v->base, on_retry, s)) == NULL)
			goto nomem;
		s->c_sent   = sink_counter(ic->name, "sent");
		s->c_retry  = sink_counter(ic->name, "retry");
		s->c_failed = sink_counter(ic->name, "failed");
		set->n++;
		if (ic->desc->init(host_table(), &s->ctx, ic->cfg,
		        &s->instance) != VIGIL_OK) {
			s->instance = NULL;
			snprintf(err, errlen, "%s: %s: init failed",
			    cfg_where(ic->cfg, NULL), s->ctx.prefix);
			goto fail;
		}
		s->ctx.instance = s->instance;
	}
	return set;
nomem:
	snprintf(err, errlen, "sinks: out of memory");
fail:
	sinks_free(set);
	return NULL;
}

int
sinks_start(sinks *set, char *err, size_t errlen)
{
	for (size_t i = 0; i < set->n; i++) {
		sink_inst *s = &set->items[i];
		if (s->conf->desc->start &&
		    s->conf->desc->start(s->instance) != VIGIL_OK) {
			snprintf(err, errlen, "%s: %s: start failed",
			    cfg_where(s->conf->cfg, NULL), s->ctx.prefix);
			return -1;
		}
		s->started = true;
	}
	return 0;
}

size_t
sinks_pending(const sinks *set)
{
	return set ? set->pending : 0;
}

void
sinks_reopen(sinks *set)
{
	for (size_t i = 0; set && i < set->n; i++)
		if (set->items[i].started && set->items[i].conf->desc->reopen)
			set->items[i].conf->desc->reopen(
			    set->items[i].instance);
}

void
sinks_free(sinks *set)
{
	if (set == NULL)
		return;
	for (size_t i = set->n; i-- > 0;) {
		sink_inst *s = &set->items[i];
		delivery  *d;
		size_t     lost = 0;

		if (s->started && s->conf->desc->stop)
			s->conf->desc->stop(s->instance);
		while ((d = TAILQ_FIRST(&s->retry)) != NULL ||
		    (d = TAILQ_FIRST(&s->pending)) != NULL) {
			if (d == TAILQ_FIRST(&s->retry))
				TAILQ_REMOVE(&s->retry, d, entry);
			else
				TAILQ_REMOVE(&s->pending, d, entry);
			lost++;
			delivery_finish(d);
		}
		if (lost)
			host_log(&s->ctx, VIGIL_LOG_ERR,
			    "stopped with %zu alerts undelivered", lost);
		if (s->instance && s->conf->desc->destroy)
			s->conf->desc->destroy(s->instance);
		if (s->timer)
			event_free(s->timer);
		if (s->ctx.kv)
			kv_close(s->ctx.kv);
	}
	free(set->items);
	free(set);
}
