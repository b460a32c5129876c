/*
 * fetch.h - the host's HTTP client (vigil_host.fetch, ABI 1.2): libcurl's
 * multi interface driven by the daemon's libevent loop. Requests run
 * side by side without ever blocking the loop; each one's done callback
 * runs on the loop, once, unless it was cancelled first.
 */
#ifndef VIGIL_FETCH_H
#define VIGIL_FETCH_H

#include <stddef.h>

#include "host.h"

struct event_base;
typedef struct fetch_client fetch_client;

/* NULL (logged) when libcurl cannot be set up. */
fetch_client *fetch_client_new(struct event_base *base);
/* Cancels what is still running (done is not called; each is logged
 * as abandoned) and frees the client. Call it after the sinks that used
 * it are gone, before the event base is freed. */
void fetch_client_free(fetch_client *fc);
/* Requests started and not yet done or cancelled. */
size_t fetch_client_running(const fetch_client *fc);

/* vigil_host.fetch: copies the request and starts it; NULL, logged with
 * ctx's prefix, when the request is malformed or cannot be started. */
vigil_fetch *fetch_start(
    fetch_client *fc, vigil_ctx *ctx, const vigil_fetch_req *req);
/* vigil_host.fetch_cancel: stops the request and frees it; its done
 * callback is never called. NULL is ignored. */
void fetch_cancel(vigil_fetch *f);

#endif
