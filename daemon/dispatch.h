/*
 * dispatch.h - sends posts to scoring workers and brings their verdicts
 * back to the loop.
 *
 * Posts (jobs) wait in a queue; whenever a worker link has a free slot, up
 * to `batch` of them go out as one nng REQ on that slot's context. Each
 * link is one REQ socket with `inflight` contexts: a local worker's ipc
 * endpoint, a remote worker vigild dials, or an endpoint remote workers
 * dial. Replies reach the loop through the bridge.
 *
 * Every job is in exactly one place at a time - the queue or one slot -
 * and only the slot that holds it can complete it, so each post gets
 * exactly one verdict however often nng resends. When a link loses its
 * worker, the jobs in flight there go back to the queue; on a local link
 * they are blamed for the crash and from then on travel alone, on a link
 * with nothing else in flight, until they are scored or have crashed
 * max_crashes workers and are quarantined.
 *
 * A remote host that vanishes (power, network) closes no connection, so a
 * request to a remote worker has a deadline (reply_timeout_ms): when it
 * passes, the connections of that link that have been silent since the
 * request left are dropped - the dialler reconnects when it can - and
 * the jobs go back to the queue, unblamed. A late reply finds no slot.
 */
#ifndef VIGIL_DISPATCH_H
#define VIGIL_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "wire.h"
#include "wtls.h"

struct event_base;
typedef struct bridge   bridge;
typedef struct dispatch dispatch;

enum {
	JOB_SCORED      = WIRE_SCORED,  /* data: verdict JSON */
	JOB_INVALID     = WIRE_INVALID, /* data: reason */
	JOB_QUARANTINED = 10,           /* data: reason */
	JOB_ABORTED     = 11,           /* shutdown before scoring */
};

typedef struct job job;

/* What became of a job. data (verdict JSON or reason) and alerts (the
 * encoded alert set of a verdict with findings, else NULL) are valid
 * during the done callback only. */
typedef struct job_result {
	int         status; /* JOB_* */
	int         severity;
	const char *data;
	size_t      len;
	const char *alerts;
	size_t      alerts_len;
} job_result;

/* Called once per job on the loop. The owner frees the job (job_free)
 * here or later. */
typedef void (*job_done_fn)(job *j, const job_result *r);

struct job {
	uint64_t    seq;
	char       *buf;
	size_t      len;
	size_t      n_jur;
	char        jur[WIRE_MAX_JUR][16];
	int         crashes;
	bool        brief;    /* severity and alerts will do (WIRE_BRIEF) */
	int64_t     t_submit; /* monotonic microseconds */
	job_done_fn done;
	void       *owner;
	TAILQ_ENTRY(job) entry;
};

/* Copies buf. NULL on allocation failure. */
job *job_new(const char *buf, size_t len, const char *const *jur, size_t n_jur,
    job_done_fn done, void *owner);
void job_free(job *j);

typedef struct dispatch_opts {
	uint32_t generation;
	int      batch;            /* posts per request */
	int      inflight;         /* requests in flight per link */
	int      max_crashes;      /* quarantine after this many */
	size_t   max_message;      /* bytes, both ways */
	int      reply_timeout_ms; /* remote links; 0: wait for ever */
} dispatch_opts;

dispatch *dispatch_new(
    struct event_base *base, bridge *br, const dispatch_opts *o);
/* Closes every link; jobs still held complete with JOB_ABORTED. */
void dispatch_free(dispatch *d);

#define LINK_LOCAL  0x1u /* a worker process of ours: blame crashes */
#define LINK_LISTEN 0x2u /* listen on url (else dial) */

/* Adds a worker link; a tls+tcp:// url needs tls (else NULL), whose
 * configuration the link copies. Returns 0, or -1 with a reason in err. */
int dispatch_link(dispatch *d, const char *url, unsigned flags, const wtls *tls,
    char *err, size_t errlen);

/* A listening endpoint cannot be bound twice, so a reload hands it over:
 * the new generation adopts the old one's listener for url once the old
 * generation holds nothing on it. Returns 0, or -1 when there is no such
 * listener, it is busy, or memory runs out. */
bool dispatch_has_listener(const dispatch *d, const char *url);
int  dispatch_adopt_listener(dispatch *to, dispatch *from, const char *url);

/* Takes ownership of the job until its done callback. */
void dispatch_submit(dispatch *d, job *j);

/* Jobs held (queued or in flight). */
size_t dispatch_held(const dispatch *d);
/* Links with at least one worker connected. */
size_t dispatch_links_up(const dispatch *d);

typedef struct dispatch_stats {
	uint64_t requests, replies, resent, quarantined, bad_replies;
	uint64_t timeouts; /* remote requests past reply_timeout_ms */
	size_t   queued, in_flight, links, links_up;
} dispatch_stats;
void dispatch_get_stats(const dispatch *d, dispatch_stats *st);

#endif
