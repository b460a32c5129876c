/*
 * sink.h - the sink plugin instances of a generation, and delivery of
 * alerts to them through the durable outbox (outbox.h).
 *
 * A verdict's alerts are first committed to the outbox, one delivery per
 * sink whose min_severity they reach; only then is the post's input
 * acknowledged, and the deliveries start. Each sink delivers from a queue
 * in outbox order, at most max_inflight at a time. VIGIL_ERETRY (or a
 * Retry-After) backs the sink off, exponentially with jitter up to
 * retry_max_ms; VIGIL_EFAIL makes a dead letter. Every outcome is written
 * back to the outbox, so that a restart sends what was not delivered.
 */
#ifndef VIGIL_SINK_H
#define VIGIL_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "host.h"
#include "alert.h"
#include "vigild.h"

sinks *sinks_new(vigild *v, generation *g, char *err, size_t errlen);
int    sinks_start(sinks *s, char *err, size_t errlen);

/* Takes over the undelivered alerts of the previous generation's sinks
 * of the same name (prev may be NULL); sinks without one load theirs from
 * the outbox. prev's sinks then only finish what they have in flight. */
void sinks_takeover(sinks *s, sinks *prev);

/* Records the alerts of one verdict (as, decoded from alerts, which are
 * alert_set_encode's bytes from a worker; as is taken over) and queues their
 * deliveries; done(arg) runs once they are durable (at once when no sink takes
 * any of them), recorded false when they could not be (the post must not be
 * acknowledged). A commit that fails (a full disk) is logged and tried again:
 * done waits, and so do inputs, through the backlog. */
typedef struct accept_pos {
	const char *input;
	const void *pos;
	size_t      len;
} accept_pos;
/* pos, when not NULL, is an input's position to record in the same
 * transaction as the alerts (copied); the return says whether it went
 * with them (false when there was nothing to commit: done has run). */
bool sinks_accept(sinks *s, alert_set *as, const char *alerts, size_t len,
    const accept_pos *pos, void (*done)(void *arg, bool recorded), void *arg);
/* Shutdown with commits unfinished (a full disk): their done runs now
 * with recorded false (the posts are not acknowledged), and the commits
 * are forgotten. Called before the generation's inputs are freed. */
void sinks_abandon(sinks *s);

/* Deliveries emitted and not yet finished. */
size_t sinks_pending(const sinks *s);
/* Undelivered alerts in memory, over every sink. */
size_t sinks_queued(const sinks *s);
/* A sink's queue is at its backlog: inputs should wait. */
bool sinks_full(const sinks *s);
/* Below half of every backlog again. */
bool sinks_roomy(const sinks *s);
/* Queues the deliveries seqs (malloc'd; taken over) of sink, which
 * vigilctl outbox retry made pending again, from the outbox. */
void sinks_load_seqs(sinks *s, const char *sink, int64_t *seqs, size_t n);
/* Adds the sinks' state to a status reply. */
void sinks_status(const sinks *s, json_t *obj);
/* Reopens files (log rotation). */
void sinks_reopen(sinks *s);
/* Stops every sink; undelivered alerts stay in the outbox. */
void sinks_free(sinks *s);

/* host_loop_ops.alert_done and .alert_retry_after */
void sink_alert_done(vigil_ctx *ctx, uint64_t token, int status);
void sink_alert_retry_after(vigil_ctx *ctx, uint64_t token, int64_t delay_ms);

#endif
