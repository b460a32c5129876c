/*
 * sink.h - the sink plugin instances of a generation and the fan-out of
 * alerts to them: one alert per finding to every sink whose min_severity
 * it reaches. A sink that answers VIGIL_ERETRY gets the alert again after
 * a backoff; VIGIL_EFAIL is logged and counted as a dead letter; a
 * VIGIL_PENDING delivery completes through alert_done.
 */
#ifndef VIGIL_SINK_H
#define VIGIL_SINK_H

#include <stddef.h>

#include "host.h"
#include "vigild.h"

sinks *sinks_new(vigild *v, generation *g, char *err, size_t errlen);
int    sinks_start(sinks *s, char *err, size_t errlen);
/* Hands the alerts of one verdict (alert_set_encode's bytes from a
 * worker) to the sinks. */
void sinks_deliver(sinks *s, const char *alerts, size_t len);
/* Deliveries not yet finished (pending or waiting to retry). */
size_t sinks_pending(const sinks *s);
/* Reopens files (log rotation). */
void sinks_reopen(sinks *s);
/* Stops every sink; what is still pending is logged as lost. */
void sinks_free(sinks *s);

/* host_loop_ops.alert_done */
void sink_alert_done(vigil_ctx *ctx, uint64_t token, int status);

#endif
