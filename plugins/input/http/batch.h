/*
 * batch.h - the posts of one held HTTP request, for the inputs that answer
 * once their posts are recorded (http, facebook). A batch counts what it
 * submitted and what was acked, collects per-item errors, and calls its
 * finish function once the handler has sealed it and every submitted post
 * has its ack. Loop thread only.
 */
#ifndef VIGIL_INPUT_BATCH_H
#define VIGIL_INPUT_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <vigil/plugin.h>

typedef struct batch batch;
typedef void (*batch_finish_fn)(batch *b);

struct batch_ack {
	batch *b;
	size_t index;
};

struct batch {
	const vigil_host *host;
	vigil_ctx        *ctx;
	vigil_http_req   *req;
	batch           **list; /* the owner's list of open batches */
	batch            *prev, *next;
	batch_finish_fn   finish;
	void             *owner;
	size_t            n_items;
	size_t            submitted, acked, accepted;
	long              retry_from; /* first item not taken; -1: none */
	bool              sealed;
	json_t           *errors; /* [{"index": i, "error": "..."}] by index */
	struct batch_ack *acks;   /* one per item */
};

/* A batch for n_items items of req, on *list. NULL when out of memory. */
batch *batch_new(const vigil_host *host, vigil_ctx *ctx, vigil_http_req *req,
    size_t n_items, batch **list, batch_finish_fn finish, void *owner);
/* Submits the item in slot (< n_items), known to the client as index:
 * the host's answer (VIGIL_OK, VIGIL_EAGAIN, VIGIL_ERR). source names
 * the request for the log. */
int batch_submit(batch *b, size_t slot, size_t index, const char *buf,
    size_t len, const char *source);
/* Records an error for item index. */
void batch_error(batch *b, size_t index, const char *msg);
/* Nothing more will be submitted: finish now if every post is acked. */
void batch_seal(batch *b);
/* The answer's JSON body: {"accepted": N, "errors": [...] (when any),
 * "retry_from": i (when set)}; NULL when out of memory. */
json_t *batch_result(const batch *b);
/* Takes b off its list and frees it (the request is not touched). */
void batch_free(batch *b);

#endif
