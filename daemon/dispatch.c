/*
 * dispatch.c - batching posts to workers over nng REQ contexts (see
 * dispatch.h for the guarantees).
 *
 * Threads: nng completes a slot's aio, and reports pipes coming and going,
 * on its own threads. Those callbacks only touch atomics and post a bridge
 * item; everything else - queues, slots, jobs - belongs to the loop.
 *
 * A slot's life: IDLE -> SENDING (nng_ctx_send) -> RECEIVING (nng_ctx_recv,
 * started only once the send has completed, so a receive is never
 * cancelled while its send is pending) -> IDLE. Sockets are closed and
 * aios freed only on the loop, never inside a callback.
 *
 * Each link keeps a list of its connections (pipes), with when each was
 * added and last brought a reply, under a mutex: nng's pipe callbacks
 * write it, the loop reads it when a remote request times out.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "bridge.h"
#include "dispatch.h"
#include "log.h"
#include "util.h"

enum slot_state { SLOT_IDLE, SLOT_SENDING, SLOT_RECEIVING };

typedef struct link link;

typedef struct slot {
	link           *l;
	nng_ctx         ctx;
	nng_aio        *aio;
	bridge_item     item;
	enum slot_state state;
	bool            cancelled; /* we aborted it; requeue on completion */
	uint64_t        batch;
	job           **jobs;
	size_t          n_jobs;
	bool            suspect; /* carries one job blamed for a crash */
	int64_t         sent_us; /* monotonic, when the request left */
} slot;

typedef struct pipe_rec {
	uint32_t id;
	int64_t  added_us, replied_us;
} pipe_rec;

struct link {
	dispatch    *d;
	char        *url;
	unsigned     flags;
	nng_socket   sock;
	nng_dialer   dialer;
	nng_listener listener;
	slot        *slots;
	int          n_slots;
	int          active;    /* slots not idle */
	bool         exclusive; /* a suspect is in flight: send no more */
	atomic_int   pipes;     /* written on nng threads */
	atomic_uint  removals;  /* pipes lost so far, ditto */
	unsigned     seen_removals;
	bridge_item  pipe_item;
	/* The connections, for dropping silent ones; see the top. */
	pthread_mutex_t mu;
	pipe_rec       *conns;
	size_t          n_conns, cap_conns;
	TAILQ_ENTRY(link) entry;
};

TAILQ_HEAD(job_queue, job);

struct dispatch {
	struct event_base *base;
	bridge            *br;
	dispatch_opts      o;
	struct job_queue   queue;    /* never crashed a worker */
	struct job_queue   suspects; /* blamed for a crash: travel alone */
	size_t             n_queued;
	size_t             queued_bytes; /* of the posts in both queues */
	size_t             held;
	uint64_t           next_batch;
	uint64_t           next_seq;
	struct event      *kick_ev;
	bool               closing;
	TAILQ_HEAD(, link) links;
	dispatch_stats st;
};

static void slot_done(bridge_item *item);
static void link_pipes_changed(bridge_item *item);
static void kick(dispatch *d);

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	kick(arg);
}

job *
job_new(const char *buf, size_t len, const char *const *jur, size_t n_jur,
    job_done_fn done, void *owner)
{
	job *j;

	if (n_jur > WIRE_MAX_JUR)
		n_jur = WIRE_MAX_JUR;
	/* The post's bytes follow the job: one allocation a post. */
	if ((j = malloc(sizeof(*j) + (len ? len : 1))) == NULL)
		return NULL;
	memset(j, 0, sizeof(*j));
	j->buf = (char *)(j + 1);
	memcpy(j->buf, buf, len);
	j->len = len;
	for (size_t i = 0; i < n_jur; i++) {
		if (strlen(jur[i]) >= sizeof(j->jur[0]))
			continue;
		strcpy(j->jur[j->n_jur++], jur[i]);
	}
	j->done     = done;
	j->owner    = owner;
	j->t_submit = now_monotonic_us();
	return j;
}

void
job_free(job *j)
{
	free(j);
}

static void
job_complete(dispatch *d, job *j, const job_result *r)
{
	d->held--;
	j->done(j, r);
}

/* Completes a job that no worker answered, with a reason. */
static void
job_fail(dispatch *d, job *j, int status, const char *reason)
{
	job_result r = {status, 0, reason, strlen(reason), NULL, 0};

	job_complete(d, j, &r);
}

/* A job goes back to the queue after its worker went away. */
static void
job_requeue(dispatch *d, job *j, bool blame)
{
	char reason[128];

	d->st.resent++;
	if (blame)
		j->crashes++;
	if (j->crashes >= d->o.max_crashes && d->o.max_crashes > 0) {
		d->st.quarantined++;
		snprintf(reason, sizeof(reason),
		    "quarantined: scoring the post failed %d times (worker "
		    "crash or broken reply)",
		    j->crashes);
		log_warn("a post was quarantined after failing %d times; "
		         "its input reports which",
		    j->crashes);
		job_fail(d, j, JOB_QUARANTINED, reason);
		return;
	}
	if (j->crashes > 0)
		TAILQ_INSERT_HEAD(&d->suspects, j, entry);
	else
		TAILQ_INSERT_HEAD(&d->queue, j, entry);
	d->n_queued++;
	d->queued_bytes += j->len;
}

static void
slot_release(slot *s, bool requeue, bool blame)
{
	link     *l = s->l;
	dispatch *d = l->d;

	/* Reverse order keeps the jobs' original order at the queue head. */
	for (size_t i = s->n_jobs; i-- > 0;)
		if (s->jobs[i] && requeue)
			job_requeue(d, s->jobs[i], blame);
	s->n_jobs    = 0;
	s->state     = SLOT_IDLE;
	s->cancelled = false;
	if (s->suspect)
		l->exclusive = false;
	s->suspect = false;
	l->active--;
}

/* nng thread: hand the completion to the loop. */
static void
slot_cb(void *arg)
{
	slot *s = arg;

	bridge_post(s->l->d->br, &s->item);
}

/* nng thread: note a connection coming or going. Memory running out
 * only means that this connection is never dropped for silence. */
static void
conn_note(link *l, nng_pipe p, bool added)
{
	uint32_t id = (uint32_t)nng_pipe_id(p);

	pthread_mutex_lock(&l->mu);
	if (added) {
		if (l->n_conns == l->cap_conns) {
			size_t    cap = l->cap_conns ? 2 * l->cap_conns : 4;
			pipe_rec *v   = realloc(l->conns, cap * sizeof(*v));
			if (v != NULL) {
				l->conns     = v;
				l->cap_conns = cap;
			}
		}
		if (l->n_conns < l->cap_conns)
			l->conns[l->n_conns++] =
			    (pipe_rec){id, now_monotonic_us(), 0};
	} else {
		for (size_t i = 0; i < l->n_conns; i++)
			if (l->conns[i].id == id) {
				l->conns[i] = l->conns[--l->n_conns];
				break;
			}
	}
	pthread_mutex_unlock(&l->mu);
}

static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	link *l = arg;

	if (ev == NNG_PIPE_EV_ADD_POST) {
		conn_note(l, p, true);
		atomic_fetch_add(&l->pipes, 1);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		conn_note(l, p, false);
		atomic_fetch_sub(&l->pipes, 1);
		atomic_fetch_add(&l->removals, 1);
	}
	bridge_post(l->d->br, &l->pipe_item);
}

/* A reply came over connection p: it lives. */
static void
conn_replied(link *l, nng_pipe p)
{
	uint32_t id = (uint32_t)nng_pipe_id(p);

	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < l->n_conns; i++)
		if (l->conns[i].id == id)
			l->conns[i].replied_us = now_monotonic_us();
	pthread_mutex_unlock(&l->mu);
}

/* Closes the connections that were there when a request left at since
 * and have not replied since: the request is on one of them. Closing
 * outside the lock, as nng may call pipe_cb at once. */
static void
conns_drop_silent(link *l, int64_t since)
{
	uint32_t *ids;
	size_t    n = 0;

	pthread_mutex_lock(&l->mu);
	ids = calloc(l->n_conns ? l->n_conns : 1, sizeof(*ids));
	for (size_t i = 0; ids && i < l->n_conns; i++)
		if (l->conns[i].added_us <= since &&
		    l->conns[i].replied_us < since)
			ids[n++] = l->conns[i].id;
	pthread_mutex_unlock(&l->mu);
	for (size_t i = 0; i < n; i++) {
		nng_pipe p = NNG_PIPE_INITIALIZER;
		p.id       = ids[i];
		nng_pipe_close(p);
	}
	free(ids);
}

dispatch *
dispatch_new(struct event_base *base, bridge *br, const dispatch_opts *o)
{
	dispatch *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->base = base;
	d->br   = br;
	d->o    = *o;
	if (d->o.batch < 1)
		d->o.batch = 1;
	if (d->o.inflight < 1)
		d->o.inflight = 1;
	TAILQ_INIT(&d->queue);
	TAILQ_INIT(&d->suspects);
	TAILQ_INIT(&d->links);
	d->kick_ev = event_new(base, -1, 0, on_kick, d);
	if (d->kick_ev == NULL) {
		free(d);
		return NULL;
	}
	return d;
}

static void
link_free(link *l)
{
	if (nng_socket_id(l->sock) > 0)
		nng_close(l->sock);
	for (int i = 0; i < l->n_slots; i++) {
		slot *s = &l->slots[i];
		if (s->aio) {
			nng_aio_stop(s->aio);
			/* A failed send hands its message back; a finished
			 * receive holds the reply. Either way it is ours. */
			nng_msg *m = nng_aio_get_msg(s->aio);
			if (m)
				nng_msg_free(m);
			nng_aio_free(s->aio);
		}
		free(s->jobs);
	}
	free(l->slots);
	free(l->url);
	free(l->conns);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

void
dispatch_free(dispatch *d)
{
	link *l;
	job  *j;

	if (d == NULL)
		return;
	d->closing = true;
	/* Close every socket first: nng then finishes each aio, and the
	 * bridge may still hold items that point into the links. */
	TAILQ_FOREACH (l, &d->links, entry) {
		nng_close(l->sock);
		for (int i = 0; i < l->n_slots; i++)
			if (l->slots[i].aio)
				nng_aio_stop(l->slots[i].aio);
	}
	bridge_run(d->br);
	TAILQ_FOREACH (l, &d->links, entry) {
		for (int i = 0; i < l->n_slots; i++) {
			slot *s = &l->slots[i];
			for (size_t k = 0; k < s->n_jobs; k++)
				if (s->jobs[k])
					job_fail(d, s->jobs[k], JOB_ABORTED,
					    "shutting down");
			s->n_jobs = 0;
		}
	}
	while ((l = TAILQ_FIRST(&d->links)) != NULL) {
		TAILQ_REMOVE(&d->links, l, entry);
		link_free(l);
	}
	while ((j = TAILQ_FIRST(&d->queue)) != NULL ||
	    (j = TAILQ_FIRST(&d->suspects)) != NULL) {
		if (j == TAILQ_FIRST(&d->queue))
			TAILQ_REMOVE(&d->queue, j, entry);
		else
			TAILQ_REMOVE(&d->suspects, j, entry);
		job_fail(d, j, JOB_ABORTED, "shutting down");
	}
	event_free(d->kick_ev);
	free(d);
}

/* Creates the link's dialer or listener, with TLS when the url asks. */
static int
link_endpoint(link *l, const wtls *tls, char *err, size_t errlen)
{
	nng_tls_config *tc     = NULL;
	bool            listen = l->flags & LINK_LISTEN;
	int             rv;

	if (wtls_url(l->url)) {
		if (tls == NULL) {
			snprintf(err, errlen,
			    "worker link %s: tls+tcp:// needs the workers.tls "
			    "settings",
			    l->url);
			return -1;
		}
		if (wtls_config(tls, listen, l->url, &tc, err, errlen) != 0)
			return -1;
	}
	if (listen)
		rv = nng_listener_create(&l->listener, l->sock, l->url);
	else
		rv = nng_dialer_create(&l->dialer, l->sock, l->url);
	/* The endpoint holds its own reference to the configuration. */
	if (rv == 0 && tc != NULL)
		rv = listen
		    ? nng_listener_set_ptr(l->listener, NNG_OPT_TLS_CONFIG, tc)
		    : nng_dialer_set_ptr(l->dialer, NNG_OPT_TLS_CONFIG, tc);
	if (tc != NULL)
		nng_tls_config_free(tc);
	if (rv == 0)
		rv = listen ? nng_listener_start(l->listener, 0)
		            : nng_dialer_start(l->dialer, NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		snprintf(err, errlen, "worker link %s: %s", l->url,
		    nng_strerror(rv));
		return -1;
	}
	return 0;
}

int
dispatch_link(dispatch *d, const char *url, unsigned flags, const wtls *tls,
    char *err, size_t errlen)
{
	link *l;
	int   rv = 0;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		goto nomem;
	pthread_mutex_init(&l->mu, NULL);
	if ((l->url = strdup(url)) == NULL)
		goto nomem;
	l->d            = d;
	l->flags        = flags;
	l->pipe_item.fn = link_pipes_changed;
	atomic_init(&l->pipes, 0);
	atomic_init(&l->removals, 0);
	if ((rv = nng_req0_open(&l->sock)) != 0)
		goto nng_fail;
	/* Resending is ours to decide (see link_pipes_changed); nng's own
	 * timer would score slow posts twice. */
	nng_socket_set_ms(
	    l->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_size(l->sock, NNG_OPT_RECVMAXSZ, d->o.max_message);
	nng_socket_set_ms(l->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(l->sock, NNG_OPT_RECONNMAXT, 2000);
	nng_pipe_notify(l->sock, NNG_PIPE_EV_ADD_POST, pipe_cb, l);
	nng_pipe_notify(l->sock, NNG_PIPE_EV_REM_POST, pipe_cb, l);
	l->n_slots = d->o.inflight;
	if ((l->slots = calloc((size_t)l->n_slots, sizeof(slot))) == NULL)
		goto nomem;
	for (int i = 0; i < l->n_slots; i++) {
		slot *s    = &l->slots[i];
		s->l       = l;
		s->item.fn = slot_done;
		s->jobs    = calloc((size_t)d->o.batch, sizeof(job *));
		if (s->jobs == NULL)
			goto nomem;
		if ((rv = nng_ctx_open(&s->ctx, l->sock)) != 0 ||
		    (rv = nng_aio_alloc(&s->aio, slot_cb, s)) != 0)
			goto nng_fail;
		/* A local worker that dies closes its socket; a remote
		 * host may just go quiet. */
		if (!(flags & LINK_LOCAL) && d->o.reply_timeout_ms > 0)
			nng_aio_set_timeout(s->aio, d->o.reply_timeout_ms);
	}
	if (link_endpoint(l, tls, err, errlen) != 0)
		goto fail;
	TAILQ_INSERT_TAIL(&d->links, l, entry);
	return 0;
nng_fail:
	snprintf(err, errlen, "worker link %s: %s", url, nng_strerror(rv));
	goto fail;
nomem:
	snprintf(err, errlen, "worker link %s: out of memory", url);
fail:
	if (l)
		link_free(l);
	return -1;
}

static bool
link_up(const link *l)
{
	return atomic_load(&l->pipes) > 0;
}

static slot *
link_free_slot(link *l)
{
	for (int i = 0; i < l->n_slots; i++)
		if (l->slots[i].state == SLOT_IDLE)
			return &l->slots[i];
	return NULL;
}

/* About what a request of up to max queued jobs will weigh, reserved at
 * once: nng copies (and zeroes) a message each time it grows. From the
 * queue's average post, so that it costs no walk of the queue; a batch
 * of larger posts than average grows the message as it goes. */
static size_t
request_bytes(const dispatch *d, size_t max)
{
	size_t n = d->n_queued < max ? d->n_queued : max, avg;

	if (n == 0)
		return 64;
	avg = d->queued_bytes / d->n_queued + 14 + WIRE_MAX_JUR;
	if (avg > d->o.max_message / 2 / n)
		return d->o.max_message / 2;
	return 64 + n * avg;
}

/* Sends jobs from q on s: one suspect alone, or up to a batch. */
static void
slot_send(dispatch *d, slot *s, struct job_queue *q, bool suspect)
{
	nng_msg *m;
	size_t   max = suspect ? 1 : (size_t)d->o.batch;
	job     *j;

	if (nng_msg_alloc(&m, 0) != 0)
		return;
	if (nng_msg_reserve(m, request_bytes(d, max)) != 0) {
		nng_msg_free(m); /* out of memory: the jobs wait */
		return;
	}
	s->batch = ++d->next_batch;
	if (wire_begin(m, WIRE_REQ_MAGIC, d->o.generation, s->batch) != 0)
		goto fail;
	s->n_jobs = 0;
	while (s->n_jobs < max && (j = TAILQ_FIRST(q)) != NULL) {
		const char *jur[WIRE_MAX_JUR];
		/* Keep well inside what the worker accepts. */
		if (s->n_jobs > 0 &&
		    nng_msg_len(m) + j->len + 512 > d->o.max_message / 2)
			break;
		for (size_t i = 0; i < j->n_jur; i++)
			jur[i] = j->jur[i];
		if (wire_add_post(m, j->seq, j->brief ? WIRE_BRIEF : 0, jur,
		        j->n_jur, j->buf, j->len) != 0)
			break;
		TAILQ_REMOVE(q, j, entry);
		d->n_queued--;
		d->queued_bytes -= j->len;
		s->jobs[s->n_jobs++] = j;
	}
	if (s->n_jobs == 0)
		goto fail;
	wire_finish(m, (uint32_t)s->n_jobs);
	s->state     = SLOT_SENDING;
	s->cancelled = false;
	s->suspect   = suspect;
	s->sent_us   = now_monotonic_us();
	s->l->active++;
	if (suspect)
		s->l->exclusive = true;
	d->st.requests++;
	nng_aio_set_msg(s->aio, m);
	nng_ctx_send(s->ctx, s->aio);
	return;
fail:
	nng_msg_free(m);
	/* A post that cannot be encoded would block the queue forever. */
	if (s->n_jobs == 0 && (j = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, j, entry);
		d->n_queued--;
		d->queued_bytes -= j->len;
		job_fail(d, j, JOB_INVALID, "post cannot be encoded");
	}
}

/* Fills free slots. Suspects first, each on a link with nothing else in
 * flight; then batches, spread over the links with the fewest active. */
static void
kick(dispatch *d)
{
	link *l;

	if (d->closing)
		return;
	while (!TAILQ_EMPTY(&d->suspects)) {
		link *idle = NULL;
		TAILQ_FOREACH (l, &d->links, entry)
			if (link_up(l) && l->active == 0) {
				idle = l;
				break;
			}
		if (idle == NULL)
			break;
		slot_send(d, &idle->slots[0], &d->suspects, true);
	}
	while (!TAILQ_EMPTY(&d->queue)) {
		link *best = NULL;
		TAILQ_FOREACH (l, &d->links, entry) {
			if (!link_up(l) || l->exclusive ||
			    l->active >= l->n_slots)
				continue;
			/* Keep a link free for a waiting suspect. */
			if (!TAILQ_EMPTY(&d->suspects) && l->active == 0)
				continue;
			if (best == NULL || l->active < best->active)
				best = l;
		}
		if (best == NULL)
			break;
		slot_send(d, link_free_slot(best), &d->queue, false);
	}
}

void
dispatch_submit(dispatch *d, job *j)
{
	j->seq = ++d->next_seq;
	TAILQ_INSERT_TAIL(&d->queue, j, entry);
	d->n_queued++;
	d->queued_bytes += j->len;
	d->held++;
	/* Deferred so that posts submitted in one loop turn share requests. */
	event_active(d->kick_ev, 0, 0);
}

/* Matches a reply's results to the slot's jobs. */
static void
slot_deliver(dispatch *d, slot *s, nng_msg *m)
{
	wire_reader r;
	wire_header h;
	wire_result res;
	size_t      done = 0;

	if (wire_read_header(&r, m, WIRE_REP_MAGIC, &h) != 0 ||
	    h.batch != s->batch || h.generation != d->o.generation) {
		d->st.bad_replies++;
		log_warn("worker link %s: reply does not match its request; "
		         "resending",
		    s->l->url);
		slot_release(s, true, true);
		return;
	}
	for (uint32_t i = 0; i < h.count; i++) {
		if (wire_next_result(&r, &res) != 0) {
			d->st.bad_replies++;
			log_warn("worker link %s: truncated reply", s->l->url);
			break;
		}
		for (size_t k = 0; k < s->n_jobs; k++) {
			job *j = s->jobs[(i + k) % s->n_jobs];
			if (j == NULL || j->seq != res.seq)
				continue;
			s->jobs[(i + k) % s->n_jobs] = NULL;
			done++;
			job_result jr = {res.status, res.severity, res.buf,
			    res.len, res.alerts, res.alerts_len};
			job_complete(d, j, &jr);
			break;
		}
	}
	/* Whatever the reply left out goes round again. */
	slot_release(s, done < s->n_jobs, done < s->n_jobs);
}

/* A remote request went unanswered: whichever connection it is on is
 * dropped; the caller sends its jobs elsewhere. */
static void
slot_timed_out(dispatch *d, slot *s)
{
	d->st.timeouts++;
	log_warn("worker link %s: no reply within %d ms; dropping its silent "
	         "connections and resending",
	    s->l->url, d->o.reply_timeout_ms);
	conns_drop_silent(s->l, s->sent_us);
}

static void
slot_done(bridge_item *item)
{
	slot     *s = container_of(item, slot, item);
	dispatch *d = s->l->d;
	int       rv;

	if (d->closing || s->state == SLOT_IDLE)
		return;
	rv = nng_aio_result(s->aio);
	if (rv == NNG_ETIMEDOUT)
		slot_timed_out(d, s);
	if (s->state == SLOT_SENDING) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(s->aio));
			nng_aio_set_msg(s->aio, NULL);
			slot_release(s, true, false);
		} else {
			s->state = SLOT_RECEIVING;
			nng_ctx_recv(s->ctx, s->aio);
			/* Aborted while sending: the send is done now, so
			 * the receive may be cancelled safely. */
			if (s->cancelled)
				nng_aio_cancel(s->aio);
		}
	} else if (rv != 0) {
		slot_release(s, true, false);
	} else {
		nng_msg *m = nng_aio_get_msg(s->aio);
		nng_aio_set_msg(s->aio, NULL);
		d->st.replies++;
		conn_replied(s->l, nng_msg_get_pipe(m));
		slot_deliver(d, s, m);
		nng_msg_free(m);
	}
	kick(d);
}

/* A link gained or lost a worker. What was in flight on the link is
 * taken back and queued again, so that it goes to whichever link has a
 * worker, not to this one once it has one again; on a local link, which
 * reaches exactly one worker process of ours, it is also blamed for the
 * crash. A listening link may reach several remote workers: what was in
 * flight on those that live is scored again, a small price for never
 * waiting on a worker that is gone. */
static void
link_pipes_changed(bridge_item *item)
{
	link     *l = container_of(item, link, pipe_item);
	dispatch *d = l->d;
	unsigned  removals;

	if (d->closing)
		return;
	removals = atomic_load(&l->removals);
	if (removals != l->seen_removals) {
		l->seen_removals = removals;
		for (int i = 0; i < l->n_slots; i++) {
			slot *s = &l->slots[i];
			if (s->state == SLOT_IDLE || s->cancelled)
				continue;
			if (l->flags & LINK_LOCAL)
				for (size_t k = 0; k < s->n_jobs; k++)
					if (s->jobs[k])
						s->jobs[k]->crashes++;
			s->cancelled = true;
			/* A send still pending is cancelled as is; a
			 * receive only ever runs after its send completed. */
			nng_aio_cancel(s->aio);
		}
		if (l->active)
			log_warn("worker link %s lost its worker; resending "
			         "what it held",
			    l->url);
		else
			log_debug("worker link %s lost its worker", l->url);
	}
	kick(d);
}

static link *
find_listener(const dispatch *d, const char *url)
{
	link *l;

	TAILQ_FOREACH (l, &d->links, entry)
		if ((l->flags & (LINK_LISTEN | LINK_LOCAL)) == LINK_LISTEN &&
		    strcmp(l->url, url) == 0)
			return l;
	return NULL;
}

bool
dispatch_has_listener(const dispatch *d, const char *url)
{
	return find_listener(d, url) != NULL;
}

int
dispatch_adopt_listener(dispatch *to, dispatch *from, const char *url)
{
	link *l = find_listener(from, url);

	if (l == NULL || l->active > 0)
		return -1;
	/* Slots carry up to a batch of the new generation from now on,
	 * with its deadline. */
	for (int i = 0; i < l->n_slots; i++) {
		nng_aio_set_timeout(l->slots[i].aio,
		    to->o.reply_timeout_ms > 0 ? to->o.reply_timeout_ms
		                               : NNG_DURATION_INFINITE);
		job **jobs = realloc(
		    l->slots[i].jobs, (size_t)to->o.batch * sizeof(job *));
		if (jobs == NULL)
			return -1;
		l->slots[i].jobs = jobs;
	}
	TAILQ_REMOVE(&from->links, l, entry);
	l->d = to;
	TAILQ_INSERT_TAIL(&to->links, l, entry);
	event_active(to->kick_ev, 0, 0);
	return 0;
}

size_t
dispatch_held(const dispatch *d)
{
	return d->held;
}

size_t
dispatch_links_up(const dispatch *d)
{
	size_t n = 0;
	link  *l;

	TAILQ_FOREACH (l, &d->links, entry)
		n += link_up(l);
	return n;
}

void
dispatch_get_stats(const dispatch *d, dispatch_stats *st)
{
	link *l;

	*st           = d->st;
	st->queued    = d->n_queued;
	st->in_flight = d->held - d->n_queued;
	st->links     = 0;
	st->links_up  = 0;
	TAILQ_FOREACH (l, &d->links, entry) {
		st->links++;
		st->links_up += link_up(l);
	}
}
