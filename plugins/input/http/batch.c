/*
 * batch.c - the posts of one held HTTP request: submits with acks, and
 * finishes the request once every submitted post is recorded. See
 * batch.h.
 */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "common.h"

batch *
batch_new(const vigil_host *host, vigil_ctx *ctx, vigil_http_req *req,
    size_t n_items, batch **list, batch_finish_fn finish, void *owner)
{
	batch *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->acks   = calloc(n_items ? n_items : 1, sizeof(*b->acks));
	b->errors = json_array();
	if (b->acks == NULL || b->errors == NULL) {
		json_decref(b->errors);
		free(b->acks);
		free(b);
		return NULL;
	}
	b->host       = host;
	b->ctx        = ctx;
	b->req        = req;
	b->n_items    = n_items;
	b->finish     = finish;
	b->owner      = owner;
	b->retry_from = -1;
	b->list       = list;
	b->next       = *list;
	if (*list != NULL)
		(*list)->prev = b;
	*list = b;
	return b;
}

static void
maybe_finish(batch *b)
{
	if (b->sealed && b->acked == b->submitted)
		b->finish(b);
}

static void
on_ack(void *arg, int status, const char *reason)
{
	struct batch_ack *a = arg;
	batch            *b = a->b;

	b->acked++;
	if (status == VIGIL_ACK_DONE)
		b->accepted++;
	else
		batch_error(
		    b, a->index, reason != NULL ? reason : "not recorded");
	maybe_finish(b);
}

int
batch_submit(batch *b, size_t slot, size_t index, const char *buf, size_t len,
    const char *source)
{
	vigil_submit opts = {
	    .struct_size = sizeof(opts),
	    .source      = source,
	    .line        = index + 1,
	    .ack         = on_ack,
	    .ack_arg     = &b->acks[slot],
	};
	int rc;

	b->acks[slot].b     = b;
	b->acks[slot].index = index;
	rc                  = b->host->submit(b->ctx, buf, len, &opts);
	if (rc == VIGIL_OK)
		b->submitted++;
	return rc;
}

/* Kept sorted by index: acks come in any order. */
void
batch_error(batch *b, size_t index, const char *msg)
{
	json_t *e = json_pack(
	    "{s:I,s:o}", "index", (json_int_t)index, "error", json_text(msg));
	size_t at = json_array_size(b->errors);

	if (e == NULL)
		return;
	while (at > 0 &&
	    (size_t)json_integer_value(json_object_get(
	        json_array_get(b->errors, at - 1), "index")) > index)
		at--;
	json_array_insert_new(b->errors, at, e);
}

void
batch_seal(batch *b)
{
	b->sealed = true;
	maybe_finish(b);
}

json_t *
batch_result(const batch *b)
{
	json_t *o = json_pack("{s:I}", "accepted", (json_int_t)b->accepted);

	if (o == NULL)
		return NULL;
	if (json_array_size(b->errors) > 0 &&
	    json_object_set(o, "errors", b->errors) != 0)
		goto fail;
	if (b->retry_from >= 0 &&
	    json_object_set_new(o, "retry_from", json_integer(b->retry_from)) !=
	        0)
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

void
batch_free(batch *b)
{
	if (b == NULL)
		return;
	if (b->prev != NULL)
		b->prev->next = b->next;
	else
		*b->list = b->next;
	if (b->next != NULL)
		b->next->prev = b->prev;
	json_decref(b->errors);
	free(b->acks);
	free(b);
}
