/*
 * sink.c - delivering alerts to sink plugins through the outbox (see
 * sink.h).
 *
 * An alert set (all alerts of one verdict) is shared by its deliveries
 * and freed when the last one finishes. Each sink keeps its undelivered
 * alerts in a queue ordered by outbox sequence number, and those emitted
 * and not yet finished in a pending list. A generation that is replaced
 * hands its queues to the next one's sinks of the same name; what it
 * still has in flight finishes there, and retries go to the successor.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "alert.h"
#include "kv.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "settings.h"
#include "sink.h"
#include "util.h"

typedef struct shared_set {
	alert_set *set;
	int        refs;
} shared_set;

typedef struct sink_inst sink_inst;

typedef struct delivery {
	sink_inst  *sink; /* where it was emitted, or is queued */
	shared_set *ss;
	size_t      idx;
	int64_t     seq;
	uint64_t    token;
	int         attempts;
	vigil_alert alert; /* what emit sees; stays put until alert_done */
	char       *json;  /* the redacted document, when the sink redacts */
	bool        early_done; /* alert_done came during emit */
	int         early_status;
	int64_t     early_retry_ms;
	TAILQ_ENTRY(delivery) entry;
} delivery;

TAILQ_HEAD(delivery_list, delivery);

typedef struct accept_op accept_op;
TAILQ_HEAD(accept_list, accept_op);

/* The per-rule rate limit: alerts of a rule counted per interval; past
 * the limit they are recorded as held, and one summary alert says how
 * many when the interval ends. */
typedef struct rate_entry {
	char          *rule;
	int64_t        start; /* of the interval, realtime us */
	size_t         sent, held;
	vigil_severity max;
} rate_entry;

typedef struct rate_table {
	rate_entry *e;
	size_t      n, cap;
} rate_table;

#define RATE_RULE "vigil.rate_limit"

enum { REDACT_AUTHOR_ID = 1, REDACT_AUTHOR_NAME = 2, REDACT_EXCERPT = 4 };

struct sink_inst {
	sinks               *set;
	const instance_conf *conf;
	vigil_ctx            ctx;
	void                *instance;
	bool                 started;
	sink_inst           *successor; /* after a reload */
	bool                 retired;   /* its generation was replaced */
	struct delivery_list queue;     /* by seq */
	struct delivery_list pending;   /* emitted */
	size_t               n_queue, n_pending;
	struct event        *timer;    /* backoff */
	int                  failures; /* in a row */
	int64_t              retry_at; /* monotonic us the timer fires */
	unsigned             redact;
	delivery            *emitting; /* inside its emit call */
	size_t               backlog, max_inflight;
	int                  retry_min_ms, retry_max_ms;
	vigil_counter       *c_sent, *c_retry, *c_failed;
};

struct sinks {
	vigild            *v;
	generation        *g;
	sink_inst         *items;
	size_t             n;
	uint64_t           next_token;
	struct accept_list accepting; /* commits not yet finished */
	rate_table        *rates;     /* moves to the next generation */
	struct event      *rate_timer;
};

/* A commit in progress: the outbox's view and what to do after it. */
struct accept_op {
	sinks        *set;
	shared_set   *ss;
	outbox_commit c;
	outbox_alert *alerts;
	const char  **names;
	char         *keys; /* the dkeys, back to back */
	char         *data; /* the encoded set: the worker's reply is freed */
	char         *pos;  /* the input's name, NUL, its position */
	void (*done)(void *arg, bool recorded);
	void         *arg;
	struct event *retry;
	bool          orphan; /* its sinks are gone: only free it */
	TAILQ_ENTRY(accept_op) entry;
};

static vigil_counter *c_commit_errors, *c_deduplicated, *c_held;
static log_limit      commit_limit;

static void VIGIL_PRINTF(1, 2) commit_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_limited(&commit_limit, VIGIL_LOG_ERR, NULL, fmt, ap);
	va_end(ap);
}

static void sink_pump(sink_inst *s);

static void
shared_unref(shared_set *ss)
{
	if (--ss->refs == 0) {
		alert_set_free(ss->set);
		free(ss);
	}
}

static shared_set *
shared_new(alert_set *as)
{
	shared_set *ss = calloc(1, sizeof(*ss));

	if (ss == NULL)
		return NULL;
	ss->set  = as;
	ss->refs = 1;
	return ss;
}

static void
delivery_free(delivery *d)
{
	shared_unref(d->ss);
	free(d->json);
	free(d);
}

static delivery *
delivery_new(sink_inst *s, shared_set *ss, size_t idx, int64_t seq)
{
	delivery *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->sink = s;
	d->ss   = ss;
	d->idx  = idx;
	d->seq  = seq;
	ss->refs++;
	return d;
}

/* Inserts d in seq order; the queue is nearly always appended to. */
static void
queue_insert(sink_inst *s, delivery *d)
{
	delivery *at;

	d->sink = s;
	TAILQ_FOREACH_REVERSE(at, &s->queue, delivery_list, entry)
	if (at->seq < d->seq)
		break;
	if (at == NULL)
		TAILQ_INSERT_HEAD(&s->queue, d, entry);
	else
		TAILQ_INSERT_AFTER(&s->queue, at, d, entry);
	s->n_queue++;
}

static bool
sink_has_seq(const sink_inst *s, int64_t seq)
{
	const delivery *d;

	TAILQ_FOREACH (d, &s->queue, entry)
		if (d->seq == seq)
			return true;
	TAILQ_FOREACH (d, &s->pending, entry)
		if (d->seq == seq)
			return true;
	return false;
}

/* ---- outcomes -------------------------------------------------------- */

static void
finished(sink_inst *s, delivery *d, int state, const char *error)
{
	if (s->set->v->ob)
		outbox_mark(s->set->v->ob, d->seq, s->conf->name, state,
		    d->attempts, error);
	delivery_free(d);
	vigild_progress(s->set->v);
}

static void
arm(sink_inst *s, int64_t ms)
{
	struct timeval tv = {
	    (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	s->retry_at = now_monotonic_us() + ms * 1000;
	evtimer_add(s->timer, &tv);
}

static void
backoff(sink_inst *s, int64_t at_least_ms)
{
	int64_t ms = s->retry_min_ms;

	for (int i = 1; i < s->failures && ms < s->retry_max_ms; i++)
		ms *= 2;
	if (ms > s->retry_max_ms)
		ms = s->retry_max_ms;
	/* Equal jitter: half fixed, half random, so that sinks that failed
	 * together do not come back together. */
	ms = ms / 2 + (int64_t)(random() % (ms / 2 + 1));
	if (ms < at_least_ms)
		ms = at_least_ms;
	arm(s, ms);
}

/* A delivery to try again: back in its sink's queue (the successor's if
 * its sink was replaced; dropped from memory, still pending in the
 * outbox, if its sink was removed). */
static void
requeue(sink_inst *s, delivery *d, int64_t at_least_ms)
{
	metrics_counter_add(s->c_retry, 1);
	if (s->retired && s->successor == NULL) {
		/* No sink of this name runs any more: the outbox keeps it. */
		delivery_free(d);
		return;
	}
	while (s->successor)
		s = s->successor;
	queue_insert(s, d);
	/* The deliveries in flight together fail together: one failure for
	 * the backoff, not one per alert. */
	if (!evtimer_pending(s->timer, NULL)) {
		s->failures++;
		backoff(s, at_least_ms);
	} else if (now_monotonic_us() + at_least_ms * 1000 > s->retry_at) {
		/* A Retry-After beyond the backoff already running. */
		arm(s, at_least_ms);
	}
}

static void
outcome(sink_inst *s, delivery *d, int rv, int64_t retry_ms)
{
	switch (rv) {
	case VIGIL_OK:
		metrics_counter_add(s->c_sent, 1);
		s->failures = 0;
		finished(s, d, OB_DELIVERED, NULL);
		break;
	case VIGIL_EFAIL:
		metrics_counter_add(s->c_failed, 1);
		host_log_limited(&s->ctx, VIGIL_LOG_ERR,
		    "alert %s refused for good; kept as a dead letter "
		    "(vigilctl outbox list --state dead)",
		    d->alert.id ? d->alert.id : "?");
		finished(s, d, OB_DEAD, "refused by the sink");
		break;
	default: requeue(s, d, retry_ms); break;
	}
}

/* ---- redaction ---------------------------------------------------------- */

static void
json_null_path(json_t *root, const char *a, const char *b, const char *c)
{
	json_t *o = json_object_get(root, a);

	if (c != NULL)
		o = json_object_get(o, b);
	if (json_is_object(o))
		json_object_set_new(o, c ? c : b, json_null());
}

/* The alert without what the sink may not see: NULL members, and null in
 * the document. -1 when memory runs out. */
static int
redact(sink_inst *s, delivery *d)
{
	json_t *doc;
	size_t  i;
	json_t *ev;

	if (s->redact & REDACT_AUTHOR_ID)
		d->alert.author_id = d->alert.author_handle = NULL;
	if (s->redact & REDACT_AUTHOR_NAME)
		d->alert.author_name = NULL;
	if (s->redact & REDACT_EXCERPT)
		d->alert.excerpt = NULL;
	doc = json_loadb(d->alert.json, d->alert.json_len, 0, NULL);
	if (doc == NULL)
		return -1;
	if (s->redact & REDACT_AUTHOR_ID) {
		json_null_path(doc, "post", "author", "id");
		json_null_path(doc, "post", "author", "handle");
	}
	if (s->redact & REDACT_AUTHOR_NAME)
		json_null_path(doc, "post", "author", "name");
	if (s->redact & REDACT_EXCERPT)
		json_array_foreach(json_object_get(doc, "evidence"), i,
		    ev) if (json_is_object(ev))
		    json_object_set_new(ev, "excerpt", json_null());
	free(d->json);
	d->json = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (d->json == NULL)
		return -1;
	d->alert.json     = d->json;
	d->alert.json_len = strlen(d->json);
	return 0;
}

/* ---- the pump -------------------------------------------------------- */

static void
emit_one(sink_inst *s, delivery *d)
{
	int rv;

	d->alert       = *alert_set_get(d->ss->set, d->idx);
	d->token       = ++s->set->next_token;
	d->alert.token = d->token;
	d->attempts++;
	d->early_done = false;
	if (s->redact && redact(s, d) != 0) {
		host_log_limited(&s->ctx, VIGIL_LOG_ERR,
		    "out of memory redacting alert %s; retrying", d->alert.id);
		requeue(s, d, 0);
		return;
	}
	d->sink     = s;
	s->emitting = d;
	rv          = s->conf->desc->emit(s->instance, &d->alert);
	s->emitting = NULL;
	if (d->early_done) {
		/* alert_done came from inside emit. */
		if (rv != VIGIL_PENDING)
			host_log_limited(&s->ctx, VIGIL_LOG_ERR,
			    "emit returned %d after completing alert %s; the "
			    "completion counts",
			    rv, d->alert.id);
		outcome(s, d, d->early_status, d->early_retry_ms);
		return;
	}
	if (rv == VIGIL_PENDING) {
		TAILQ_INSERT_TAIL(&s->pending, d, entry);
		s->n_pending++;
		return;
	}
	outcome(s, d, rv, 0);
}

static void
sink_pump(sink_inst *s)
{
	delivery *d;

	if (!s->started || s->successor || s->emitting ||
	    evtimer_pending(s->timer, NULL))
		return;
	while (s->n_pending < s->max_inflight &&
	    (d = TAILQ_FIRST(&s->queue)) != NULL &&
	    !evtimer_pending(s->timer, NULL)) {
		TAILQ_REMOVE(&s->queue, d, entry);
		s->n_queue--;
		emit_one(s, d);
	}
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sink_pump(arg);
}

static void
completed(vigil_ctx *ctx, uint64_t token, int status, int64_t retry_ms)
{
	sink_inst *s = ctx->owner;
	delivery  *d;

	if (s->emitting != NULL && s->emitting->token == token) {
		s->emitting->early_done     = true;
		s->emitting->early_status   = status;
		s->emitting->early_retry_ms = retry_ms;
		return;
	}
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
	s->n_pending--;
	outcome(s, d, status, retry_ms);
	/* Not from inside an emit: the pump that called it goes on. */
	if (s->emitting == NULL)
		sink_pump(s->successor ? s->successor : s);
	vigild_progress(s->set->v);
}

void
sink_alert_done(vigil_ctx *ctx, uint64_t token, int status)
{
	completed(ctx, token, status, 0);
}

void
sink_alert_retry_after(vigil_ctx *ctx, uint64_t token, int64_t delay_ms)
{
	completed(ctx, token, VIGIL_ERETRY, delay_ms > 0 ? delay_ms : 0);
}

/* ---- accepting a verdict's alerts -------------------------------------- */

static void accept_commit(accept_op *op);
static bool rate_over(sinks *set, const vigil_alert *a);

static void
accept_free(accept_op *op)
{
	if (op->retry)
		event_free(op->retry);
	if (op->ss)
		shared_unref(op->ss);
	free(op->alerts);
	free(op->names);
	free(op->keys);
	free(op->data);
	free(op->pos);
	free(op);
}

static void
accept_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	accept_commit(arg);
}

static void
accept_committed(void *arg, int rc, const char *err)
{
	accept_op *op  = arg;
	sinks     *set = op->set;

	if (op->orphan) {
		accept_free(op);
		return;
	}
	if (rc != 0) {
		static const struct timeval again = {1, 0};

		metrics_counter_add(c_commit_errors, 1);
		commit_error("%s; the alerts wait and inputs are held back "
		             "until it can be written",
		    err);
		if (op->retry == NULL)
			op->retry = evtimer_new(set->v->base, accept_retry, op);
		if (op->retry != NULL) {
			evtimer_add(op->retry, &again);
			return;
		}
		log_err("out of memory: alerts of a verdict are not recorded; "
		        "the post is handed over again after a restart");
		TAILQ_REMOVE(&set->accepting, op, entry);
		op->done(op->arg, false);
		accept_free(op);
		return;
	}
	for (size_t i = 0; i < op->c.n; i++) {
		const outbox_alert *a = &op->alerts[i];

		if (a->sinks && a->seq == 0)
			metrics_counter_add(c_deduplicated, 1);
		for (size_t k = 0; a->seq && k < set->n; k++) {
			delivery *d;
			if (!(a->sinks & ~a->held & (1u << k)))
				continue;
			if ((d = delivery_new(&set->items[k], op->ss, a->idx,
			         a->seq)) == NULL) {
				log_err(
				    "out of memory queueing alert %s; it is "
				    "sent after a restart",
				    a->id);
				continue;
			}
			queue_insert(&set->items[k], d);
		}
	}
	for (size_t k = 0; k < set->n; k++)
		sink_pump(&set->items[k]);
	TAILQ_REMOVE(&set->accepting, op, entry);
	op->done(op->arg, true);
	accept_free(op);
}

static void
accept_commit(accept_op *op)
{
	op->c.created = now_realtime_us();
	outbox_commit_alerts(op->set->v->ob, &op->c, accept_committed, op);
}

static char *
dkey_put(char *p, const vigil_alert *a)
{
	return p +
	    sprintf(p, "%s\x1f%s\x1f%s", a->platform ? a->platform : "",
	        a->post_id ? a->post_id : "", a->rule) +
	    1;
}

static size_t
dkey_len(const vigil_alert *a)
{
	return (a->platform ? strlen(a->platform) : 0) +
	    (a->post_id ? strlen(a->post_id) : 0) + strlen(a->rule) + 3;
}

static accept_op *
accept_build(sinks *set, alert_set *as, const char *bytes, size_t len)
{
	size_t     n = alert_set_count(as), keylen = 0;
	accept_op *op;
	char      *p;

	if ((op = calloc(1, sizeof(*op))) == NULL ||
	    (op->ss = shared_new(as)) == NULL) {
		free(op);
		alert_set_free(as);
		return NULL;
	}
	op->set = set;
	for (size_t i = 0; i < n; i++)
		keylen += dkey_len(alert_set_get(as, i));
	op->alerts = calloc(n ? n : 1, sizeof(*op->alerts));
	op->names  = calloc(set->n ? set->n : 1, sizeof(*op->names));
	op->keys   = malloc(keylen ? keylen : 1);
	if (op->alerts == NULL || op->names == NULL || op->keys == NULL) {
		accept_free(op);
		return NULL;
	}
	for (size_t k = 0; k < set->n; k++)
		op->names[k] = set->items[k].conf->name;
	p = op->keys;
	for (size_t i = 0; i < n; i++) {
		const vigil_alert *a = alert_set_get(as, i);
		outbox_alert      *o = &op->alerts[i];

		o->id   = a->id;
		o->rule = a->rule;
		o->idx  = (uint32_t)i;
		o->dkey = p;
		p       = dkey_put(p, a);
		for (size_t k = 0; k < set->n; k++)
			if (a->severity >= set->items[k].conf->min_severity)
				o->sinks |= 1u << k;
		if (o->sinks && rate_over(set, a))
			o->held = o->sinks;
	}
	op->c = (outbox_commit){.dedup_us = set->g->cfg->dedup_window_us,
	    .data                         = bytes,
	    .len                          = len,
	    .alerts                       = op->alerts,
	    .n                            = n,
	    .sinks                        = op->names,
	    .n_sinks                      = set->n};
	return op;
}

static int
accept_position(accept_op *op, const accept_pos *pos)
{
	size_t nlen = strlen(pos->input) + 1;

	if ((op->pos = malloc(nlen + pos->len + 1)) == NULL)
		return -1;
	memcpy(op->pos, pos->input, nlen);
	memcpy(op->pos + nlen, pos->pos, pos->len);
	op->c.pos_input = op->pos;
	op->c.pos       = op->pos + nlen;
	op->c.pos_len   = pos->len;
	return 0;
}

bool
sinks_accept(sinks *set, alert_set *as, const char *alerts, size_t len,
    const accept_pos *pos, void (*done)(void *arg, bool recorded), void *arg)
{
	accept_op *op;
	bool       any = false;

	if ((op = accept_build(set, as, alerts, len)) == NULL) {
		/* Not acknowledged: the input hands the post over again. */
		log_err("out of memory recording alerts");
		done(arg, false);
		return false;
	}
	for (size_t i = 0; i < op->c.n; i++)
		any = any || op->alerts[i].sinks;
	if (!any || set->v->ob == NULL) {
		done(arg, true);
		accept_free(op);
		return false;
	}
	if ((op->data = malloc(len ? len : 1)) == NULL ||
	    (pos != NULL && accept_position(op, pos) != 0)) {
		log_err("out of memory recording alerts");
		done(arg, false);
		accept_free(op);
		return false;
	}
	memcpy(op->data, alerts, len);
	op->c.data = op->data;
	op->done   = done;
	op->arg    = arg;
	TAILQ_INSERT_TAIL(&set->accepting, op, entry);
	accept_commit(op);
	return pos != NULL;
}

/* ---- the rate limit ------------------------------------------------------ */

static void
rate_table_free(rate_table *t)
{
	for (size_t i = 0; t && i < t->n; i++)
		free(t->e[i].rule);
	if (t)
		free(t->e);
	free(t);
}

static rate_entry *
rate_get(sinks *set, const char *rule, int64_t now)
{
	rate_table *t = set->rates;
	rate_entry *e;

	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->e[i].rule, rule) == 0)
			return &t->e[i];
	if (t->n == t->cap) {
		size_t      cap = t->cap ? t->cap * 2 : 16;
		rate_entry *ne  = realloc(t->e, cap * sizeof(*ne));
		if (ne == NULL)
			return NULL;
		t->e   = ne;
		t->cap = cap;
	}
	e  = &t->e[t->n];
	*e = (rate_entry){.rule = strdup(rule), .start = now};
	if (e->rule == NULL)
		return NULL;
	t->n++;
	return e;
}

/* Counts a; true when a is over its rule's limit and is to be held. */
static bool
rate_over(sinks *set, const vigil_alert *a)
{
	int64_t     limit = set->g->cfg->rate_limit;
	rate_entry *e;

	if (limit <= 0 || set->rates == NULL || strcmp(a->rule, RATE_RULE) == 0)
		return false;
	/* Without memory for the count the alert goes out: never lost. */
	if ((e = rate_get(set, a->rule, now_realtime_us())) == NULL)
		return false;
	if (e->sent < (size_t)limit) {
		e->sent++;
		return false;
	}
	if (e->held == 0 || a->severity > e->max)
		e->max = a->severity;
	e->held++;
	return true;
}

static void
summary_recorded(void *arg, bool recorded)
{
	if (!recorded)
		log_err("the summary of %s was not recorded", (char *)arg);
	free(arg);
}

/* The summary as a verdict, so that it becomes an alert like any other. */
static json_t *
summary_verdict(const rate_entry *e, int64_t end, int64_t interval_us)
{
	char          from[40], to[40], title[512], pid[160], hex[33];
	unsigned char md[32];
	char          key[256];
	unsigned      n;

	rfc3339_format(e->start, from, sizeof(from));
	rfc3339_format(end, to, sizeof(to));
	snprintf(title, sizeof(title),
	    "%zu alerts of rule %s held back by the rate limit (%zu per "
	    "%lld s) from %s to %s; vigilctl outbox list --state held",
	    e->held, e->rule, e->sent, (long long)(interval_us / 1000000), from,
	    to);
	snprintf(pid, sizeof(pid), "%s/%lld", e->rule, (long long)e->start);
	n = (unsigned)snprintf(key, sizeof(key), "%s%c%s", RATE_RULE, 0, pid);
	if (EVP_Digest(key, n < sizeof(key) ? n : sizeof(key) - 1, md, NULL,
	        util_sha256(), NULL) != 1)
		return NULL;
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return json_pack("{s:s, s:s, s:f, s:[{s:s, s:n, s:s, s:f, s:s, s:s, "
	                 "s:[], s:[]}], s:{s:s, s:n, s:n, s:s, s:n, s:{s:n, "
	                 "s:n, s:n, s:s}}}",
	    "post_id", pid, "severity", vigil_severity_name(e->max), "score",
	    0.0, "findings", "rule", RATE_RULE, "jurisdiction", "alert_id", hex,
	    "score", 0.0, "severity", vigil_severity_name(e->max), "title",
	    title, "evidence", "signals", "post", "platform", "vigil",
	    "channel", "url", "created_at", to, "lang", "author", "id",
	    "handle", "name", "kind", "unknown");
}

static void
rate_summary(sinks *set, rate_entry *e, int64_t now, int64_t interval_us)
{
	char      *text = NULL, *enc = NULL, err[256];
	size_t     len;
	json_t    *v   = summary_verdict(e, now, interval_us);
	alert_set *as  = NULL;
	char      *arg = strdup(e->rule);

	metrics_counter_add(c_held, e->held);
	log_notice("rate limit: %zu alerts of rule %s held back in the last "
	           "%lld s; one summary alert sent in their place",
	    e->held, e->rule, (long long)(interval_us / 1000000));
	if (v == NULL || arg == NULL ||
	    (text = json_dumps(v, JSON_COMPACT)) == NULL ||
	    (as = alert_set_from_verdict(
	         text, strlen(text), now, err, sizeof(err))) == NULL ||
	    alert_set_encode(as, &enc, &len) != 0) {
		log_err(
		    "rate limit: the summary of %s cannot be made", e->rule);
		free(arg);
	} else {
		sinks_accept(set, as, enc, len, NULL, summary_recorded, arg);
		as = NULL;
	}
	free(enc);
	alert_set_free(as);
	free(text);
	json_decref(v);
}

static void
on_rate_timer(evutil_socket_t fd, short what, void *arg)
{
	sinks  *set      = arg;
	int64_t now      = now_realtime_us();
	int64_t interval = set->g->cfg->rate_interval_us;

	(void)fd;
	(void)what;
	for (size_t i = 0; set->rates && i < set->rates->n; i++) {
		rate_entry *e = &set->rates->e[i];
		if (now - e->start < interval)
			continue;
		if (e->held)
			rate_summary(set, e, now, interval);
		e->start = now;
		e->sent = e->held = 0;
	}
}

/* ---- loading from the outbox ------------------------------------------ */

typedef struct load_req {
	vigild  *v; /* not the sinks: a reload may free them meanwhile */
	char    *name;
	int64_t *only; /* sorted seqs to take, or NULL for all */
	size_t   n_only;
} load_req;

static int
cmp_seq(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* A load is filtered to the seqs it is for (a retry, what a retired sink
 * had in flight), so that it never brings back what another delivery of
 * the same sink finished while the outbox was reading. */
static bool
load_wants(const load_req *lr, int64_t seq)
{
	return lr->only == NULL ||
	    bsearch(&seq, lr->only, lr->n_only, sizeof(*lr->only), cmp_seq) !=
	    NULL;
}

static sink_inst *
sink_named(sinks *set, const char *name)
{
	for (size_t k = 0; set && k < set->n; k++)
		if (strcmp(set->items[k].conf->name, name) == 0)
			return &set->items[k];
	return NULL;
}

static void
loaded(void *arg, int rc, const char *err, outbox_row *rows, size_t n)
{
	load_req   *lr      = arg;
	sink_inst  *s       = NULL;
	shared_set *ss      = NULL;
	const char *ss_data = NULL; /* the bytes ss was decoded from */
	size_t      added   = 0;
	char        why[256];

	if (lr->v->cur != NULL)
		s = sink_named(lr->v->cur->out, lr->name);
	if (rc != 0)
		log_err("sink %s: cannot load undelivered alerts: %s", lr->name,
		    err);
	for (size_t i = 0; s && i < n; i++) {
		delivery *d;

		if (!load_wants(lr, rows[i].seq) ||
		    sink_has_seq(s, rows[i].seq))
			continue;
		if (rows[i].data != ss_data) {
			alert_set *as;
			if (ss)
				shared_unref(ss);
			ss      = NULL;
			ss_data = rows[i].data;
			as      = alert_set_decode(
			         rows[i].data, rows[i].len, why, sizeof(why));
			if (as == NULL || (ss = shared_new(as)) == NULL) {
				log_err("outbox: alert %lld cannot be read: "
				        "%s",
				    (long long)rows[i].seq,
				    as ? "out of memory" : why);
				alert_set_free(as);
				continue;
			}
		}
		if (ss == NULL || rows[i].idx >= alert_set_count(ss->set) ||
		    (d = delivery_new(s, ss, rows[i].idx, rows[i].seq)) == NULL)
			continue;
		d->attempts = rows[i].attempts;
		queue_insert(s, d);
		added++;
	}
	if (ss)
		shared_unref(ss);
	if (added)
		host_log(&s->ctx, VIGIL_LOG_NOTICE,
		    "%zu undelivered alerts from the outbox", added);
	if (s)
		sink_pump(s);
	outbox_rows_free(rows, n);
	free(lr->only);
	free(lr->name);
	free(lr);
}

/* Loads the sink's pending deliveries; only those of seqs (taken over,
 * sorted here) when seqs is not NULL. */
static void
load_pending(sinks *set, const char *name, int64_t *seqs, size_t n)
{
	load_req *lr = calloc(1, sizeof(*lr));

	if (set->v->ob == NULL)
		goto out;
	if (lr == NULL || (lr->name = strdup(name)) == NULL) {
		log_err("sink %s: out of memory loading undelivered alerts; "
		        "they are sent after a restart",
		    name);
		goto out;
	}
	if (seqs != NULL) {
		qsort(seqs, n, sizeof(*seqs), cmp_seq);
		lr->only   = seqs;
		lr->n_only = n;
		seqs       = NULL;
	}
	lr->v = set->v;
	outbox_load(set->v->ob, name, OB_PENDING, 0, SIZE_MAX / 2, loaded, lr);
	return;
out:
	if (lr)
		free(lr->name);
	free(lr);
	free(seqs);
}

void
sinks_load_seqs(sinks *set, const char *sink, int64_t *seqs, size_t n)
{
	sink_inst *s = sink_named(set, sink);

	if (s == NULL) {
		free(seqs);
		return;
	}
	load_pending(set, s->conf->name, seqs, n);
}

void
sinks_takeover(sinks *set, sinks *prev)
{
	if (prev != NULL) {
		rate_table *t = set->rates;
		set->rates    = prev->rates;
		prev->rates   = t;
	}
	for (size_t k = 0; prev && k < prev->n; k++)
		prev->items[k].retired = true;
	for (size_t k = 0; k < set->n; k++) {
		sink_inst *s = &set->items[k];
		sink_inst *p = sink_named(prev, s->conf->name);
		delivery  *d;

		if (p == NULL) {
			load_pending(set, s->conf->name, NULL, 0);
			continue;
		}
		p->successor = s;
		while ((d = TAILQ_FIRST(&p->queue)) != NULL) {
			TAILQ_REMOVE(&p->queue, d, entry);
			p->n_queue--;
			queue_insert(s, d);
		}
		sink_pump(s);
	}
	for (size_t k = 0; prev && k < prev->n; k++) {
		sink_inst *p = &prev->items[k];
		delivery  *d;

		if (p->n_queue)
			host_log(&p->ctx, VIGIL_LOG_WARNING,
			    "removed by the reload: %zu undelivered alerts "
			    "stay in the outbox",
			    p->n_queue);
		while ((d = TAILQ_FIRST(&p->queue)) != NULL) {
			TAILQ_REMOVE(&p->queue, d, entry);
			p->n_queue--;
			delivery_free(d);
		}
	}
}

/* ---- the set ------------------------------------------------------------ */

size_t
sinks_pending(const sinks *set)
{
	size_t n = 0;

	for (size_t k = 0; set && k < set->n; k++)
		n += set->items[k].n_pending;
	return n;
}

size_t
sinks_queued(const sinks *set)
{
	size_t n = 0;

	for (size_t k = 0; set && k < set->n; k++)
		n += set->items[k].n_queue + set->items[k].n_pending;
	return n;
}

bool
sinks_full(const sinks *set)
{
	for (size_t k = 0; set && k < set->n; k++) {
		const sink_inst *s = &set->items[k];
		if (s->n_queue + s->n_pending >= s->backlog)
			return true;
	}
	return false;
}

bool
sinks_roomy(const sinks *set)
{
	for (size_t k = 0; set && k < set->n; k++) {
		const sink_inst *s = &set->items[k];
		if (s->n_queue + s->n_pending > s->backlog / 2)
			return false;
	}
	return true;
}

void
sinks_status(const sinks *set, json_t *obj)
{
	json_t *arr = json_array();

	for (size_t k = 0; arr && set && k < set->n; k++) {
		const sink_inst *s = &set->items[k];
		json_array_append_new(arr,
		    json_pack("{s:s, s:I, s:I, s:I, s:b}", "name",
		        s->conf->name, "queued", (json_int_t)s->n_queue,
		        "inflight", (json_int_t)s->n_pending, "backlog",
		        (json_int_t)s->backlog, "backing_off",
		        evtimer_pending(s->timer, NULL) != 0));
	}
	if (arr)
		json_object_set_new(obj, "sinks", arr);
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

static unsigned
redact_flags(const vigil_cfg *cfg)
{
	unsigned f = 0;

	for (size_t i = 0; i < cfg_count(cfg, "redact"); i++) {
		const char *w = cfg_string_at(cfg, "redact", i);
		if (strcmp(w, "author_id") == 0)
			f |= REDACT_AUTHOR_ID;
		else if (strcmp(w, "author_name") == 0)
			f |= REDACT_AUTHOR_NAME;
		else if (strcmp(w, "excerpt") == 0)
			f |= REDACT_EXCERPT;
	}
	return f;
}

static void
sink_settings(sink_inst *s, const vigil_cfg *cfg)
{
	s->backlog      = (size_t)cfg_int(cfg, "backlog");
	s->max_inflight = (size_t)cfg_int(cfg, "max_inflight");
	s->retry_min_ms = (int)cfg_int(cfg, "retry_min_ms");
	s->retry_max_ms = (int)cfg_int(cfg, "retry_max_ms");
	if (s->retry_max_ms < s->retry_min_ms)
		s->retry_max_ms = s->retry_min_ms;
	s->redact = redact_flags(cfg);
}

sinks *
sinks_new(vigild *v, generation *g, char *err, size_t errlen)
{
	const vigil_config *cfg = g->cfg;
	sinks              *set = calloc(1, sizeof(*set));

	if (c_commit_errors == NULL) {
		c_commit_errors = metrics_counter("vigil_outbox_errors_total",
		    "Outbox commits that failed and wait to be tried again.",
		    NULL);
		c_deduplicated =
		    metrics_counter("vigil_alerts_deduplicated_total",
		        "Alerts not sent again: the same post and rule within "
		        "outbox.dedup_window_s, or recorded already.",
		        NULL);
		c_held = metrics_counter("vigil_alerts_held_total",
		    "Alerts held back by the rate limit, each counted in a "
		    "summary alert.",
		    NULL);
	}
	if (cfg->n_sinks > 32) {
		snprintf(err, errlen, "%s: at most 32 sinks are supported",
		    cfg->path);
		free(set);
		return NULL;
	}
	if (set == NULL ||
	    (set->items = calloc(
	         cfg->n_sinks ? cfg->n_sinks : 1, sizeof(sink_inst))) == NULL)
		goto nomem;
	set->v = v;
	set->g = g;
	TAILQ_INIT(&set->accepting);
	if ((set->rates = calloc(1, sizeof(*set->rates))) == NULL ||
	    (set->rate_timer = event_new(
	         v->base, -1, EV_PERSIST, on_rate_timer, set)) == NULL)
		goto nomem;
	if (cfg->rate_limit > 0) {
		static const struct timeval second = {1, 0};
		event_add(set->rate_timer, &second);
	}
	for (size_t i = 0; i < cfg->n_sinks; i++) {
		const instance_conf *ic = &cfg->sinks[i];
		sink_inst           *s  = &set->items[set->n];

		s->set  = set;
		s->conf = ic;
		sink_settings(s, ic->cfg);
		TAILQ_INIT(&s->queue);
		TAILQ_INIT(&s->pending);
		host_ctx_init(
		    &s->ctx, VIGIL_PLUGIN_SINK, ic->name, ic->desc, v->base, s);
		s->ctx.state_dir = cfg->state_dir;
		if ((s->timer = evtimer_new(v->base, on_timer, s)) == NULL)
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

void
sinks_abandon(sinks *set)
{
	accept_op *op;

	while (set && (op = TAILQ_FIRST(&set->accepting)) != NULL) {
		TAILQ_REMOVE(&set->accepting, op, entry);
		op->done(op->arg, false);
		if (op->retry && evtimer_pending(op->retry, NULL)) {
			accept_free(op);
		} else {
			/* In the outbox's queue: freed when it completes. */
			op->orphan = true;
			op->set    = NULL;
		}
	}
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
	sinks_abandon(set);
	for (size_t i = set->n; i-- > 0;) {
		sink_inst *s = &set->items[i];
		delivery  *d;
		size_t     left        = s->n_queue + s->n_pending;
		bool       was_started = s->started;
		int64_t   *inflight;
		size_t     n_inflight;

		/* Completions during stop only requeue: nothing is emitted
		 * into a sink that is stopping. */
		s->started = false;
		if (was_started && s->conf->desc->stop)
			s->conf->desc->stop(s->instance);
		while ((d = TAILQ_FIRST(&s->queue)) != NULL) {
			TAILQ_REMOVE(&s->queue, d, entry);
			delivery_free(d);
		}
		n_inflight = 0;
		inflight =
		    calloc(s->n_pending ? s->n_pending : 1, sizeof(*inflight));
		while ((d = TAILQ_FIRST(&s->pending)) != NULL) {
			TAILQ_REMOVE(&s->pending, d, entry);
			if (inflight)
				inflight[n_inflight++] = d->seq;
			delivery_free(d);
		}
		if (left && s->successor) {
			/* Still in flight when the old generation went: the
			 * new sink reads them back from the outbox. */
			sink_inst *n = s->successor;
			while (n->successor)
				n = n->successor;
			load_pending(
			    n->set, n->conf->name, inflight, n_inflight);
			inflight = NULL;
		} else if (left) {
			host_log(&s->ctx, VIGIL_LOG_WARNING,
			    "stopped with %zu alerts undelivered; they stay in "
			    "the outbox and are sent after a restart",
			    left);
		}
		free(inflight);
		if (s->instance && s->conf->desc->destroy)
			s->conf->desc->destroy(s->instance);
		if (s->timer)
			event_free(s->timer);
		if (s->ctx.kv)
			kv_close(s->ctx.kv);
	}
	if (set->rate_timer)
		event_free(set->rate_timer);
	rate_table_free(set->rates);
	free(set->items);
	free(set);
}
