/*
 * input.h - the input plugin instances of a generation and the host's
 * submit service: each submitted post becomes a job for the dispatcher,
 * and its ack goes back to the input once the verdict is recorded.
 * Backpressure: when the generation holds `backlog` posts, submit answers
 * VIGIL_EAGAIN and the input is paused until the backlog has drained to
 * half.
 */
#ifndef VIGIL_INPUT_H
#define VIGIL_INPUT_H

#include <stddef.h>

#include "host.h"
#include "vigild.h"

inputs *inputs_new(vigild *v, generation *g, char *err, size_t errlen);
int     inputs_start(inputs *in, char *err, size_t errlen);
/* Stops reading; posts in flight still complete and are acked. */
void inputs_stop(inputs *in);
/* Posts submitted and not yet acked. */
size_t inputs_outstanding(const inputs *in);
void   inputs_free(inputs *in);

/* host_loop_ops.submit */
int input_submit(
    vigil_ctx *ctx, const char *buf, size_t len, const vigil_submit *o);
/* host_loop_ops.position_get, position_skip */
void *input_position_get(vigil_ctx *ctx, size_t *len);
int   input_position_skip(vigil_ctx *ctx, const void *pos, size_t len);
/* kv services for inputs and sinks: one store per instance. */
int instance_kv_put(
    vigil_ctx *ctx, const char *key, const void *val, size_t len);
void *instance_kv_get(vigil_ctx *ctx, const char *key, size_t *len);
int   instance_kv_del(vigil_ctx *ctx, const char *key);

#endif
