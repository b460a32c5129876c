/*
 * http.c - input plugin that takes posts over HTTP on the host's shared
 * listener: POST a post, a JSON array of posts, or NDJSON.
 *
 * A request is held (http_hold) and answered once every post it submitted
 * has its ack, which the host gives after the post's alerts are committed
 * to the outbox: 202 then means recorded. Items that are not valid posts
 * (post_check) get an error each while the valid ones of the same request
 * are taken (400 with both). When the backlog is full, the items from
 * the one refused on are not taken (503 with Retry-After and retry_from).
 * Nothing taken is dropped. The input has no position: clients resend
 * what was not answered 202.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <vigil/plugin.h>

#include "batch.h"
#include "body.h"
#include "common.h"

struct httpin {
	const vigil_host *host;
	vigil_ctx        *ctx;
	char             *path;
	struct secret     token;
	size_t            max_items;
	char              retry_after[24];
	bool              paused, stopping;
	batch            *open; /* requests waiting for acks */
	vigil_counter    *c_requests, *c_accepted, *c_invalid, *c_unauth,
	    *c_refused, *c_busy;
};

static const vigil_setting httpin_settings[] = {
    {"path", VIGIL_SET_STRING, "/v1/posts",
        "Path on the shared HTTP listener (section `http`) at which posts "
        "are POSTed.",
        NULL, 0, 0, 0},
    {"token", VIGIL_SET_STRING, NULL,
        "Bearer token that clients must send (`Authorization: Bearer "
        "TOKEN`). Required, or `token_file`, when `http.listen` is not a "
        "loopback address. Never logged.",
        NULL, VIGIL_SET_SECRET, 0, 0},
    {"token_file", VIGIL_SET_STRING, NULL,
        "File holding the bearer token (trailing line breaks ignored), "
        "relative to the configuration file; not with `token`.",
        NULL, VIGIL_SET_PATH | VIGIL_SET_SECRET, 0, 0},
    {"max_items", VIGIL_SET_INT, "10000",
        "Most posts in one request; a request with more is answered 413.", NULL,
        0, 1, 1000000},
    {"retry_after_s", VIGIL_SET_INT, "5",
        "Seconds a client is asked to wait (Retry-After) when the backlog "
        "is full.",
        NULL, 0, 1, 3600},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

/* ------------------------------------------------------------ replies */

/* Every submitted post has its ack: 202, 400 or 503 as the items went. */
static void
finish(batch *b)
{
	struct httpin  *h      = b->owner;
	vigil_http_req *req    = b->req;
	json_t         *result = batch_result(b);

	h->host->counter_add(h->c_accepted, b->accepted);
	if (b->retry_from >= 0) {
		json_object_set_new(result, "error",
		    json_string("the backlog is full: send the items from "
		                "retry_from on again later"));
		batch_free(b);
		reply_busy(h->host, req, h->c_busy, h->retry_after, result);
		return;
	}
	batch_free(b);
	reply_json(h->host, req,
	    json_object_get(result, "errors") != NULL ? 400 : 202, result);
}

/* ------------------------------------------------------------ requests */

static bool
authorized(struct httpin *h, vigil_http_req *req)
{
	const char *a = h->host->http_header(req, "Authorization");

	if (h->token.ptr == NULL)
		return true;
	if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
		return false;
	a += 7;
	while (*a == ' ')
		a++;
	return secret_equal(&h->token, a, strlen(a));
}

static void
submit_items(struct httpin *h, batch *b, const struct body_items *items)
{
	char err[256], source[64];

	snprintf(source, sizeof(source), "POST %s", h->path);
	for (size_t i = 0; i < items->n; i++) {
		const struct body_item *it = &items->v[i];
		int                     rc;

		if (h->host->post_check(it->ptr, it->len, err, sizeof(err)) !=
		    VIGIL_OK) {
			h->host->counter_add(h->c_invalid, 1);
			batch_error(b, it->index, err);
			continue;
		}
		rc = batch_submit(b, i, it->index, it->ptr, it->len, source);
		if (rc == VIGIL_EAGAIN) {
			b->retry_from = (long)it->index;
			return;
		}
		if (rc != VIGIL_OK) {
			h->host->counter_add(h->c_invalid, 1);
			batch_error(b, it->index,
			    "refused by the daemon (see its log)");
		}
	}
}

static void
take_posts(struct httpin *h, vigil_http_req *req, enum body_kind kind)
{
	struct body_items items = {0};
	size_t            len;
	const char       *body = h->host->http_body(req, &len);
	char              err[256];
	batch            *b;
	int               rc;

	if (body == NULL) {
		reply_error(h->host, req, 500, "cannot read the body");
		return;
	}
	if ((rc = body_split(body, len, kind, h->max_items, &items, err,
	         sizeof(err))) != 0) {
		h->host->counter_add(h->c_refused, 1);
		h->host->log_limited(
		    h->ctx, VIGIL_LOG_WARNING, "POST %s: %s", h->path, err);
		reply_json(h->host, req, rc == BODY_TOO_MANY ? 413 : 400,
		    json_pack(
		        "{s:i,s:o}", "accepted", 0, "error", json_text(err)));
		goto out;
	}
	if ((b = batch_new(
	         h->host, h->ctx, req, items.n, &h->open, finish, h)) == NULL) {
		reply_error(h->host, req, 503, "out of memory");
		goto out;
	}
	if (h->host->http_hold(req) != VIGIL_OK) {
		batch_free(b);
		reply_error(h->host, req, 503, "cannot hold the request");
		goto out;
	}
	submit_items(h, b, &items);
	batch_seal(b);
out:
	body_items_free(&items);
}

static void
on_request(vigil_http_req *req, void *arg)
{
	struct httpin *h = arg;
	enum body_kind kind;

	h->host->counter_add(h->c_requests, 1);
	if (strcmp(h->host->http_method(req), "POST") != 0) {
		h->host->http_reply_header(req, "Allow", "POST");
		reply_error(h->host, req, 405, "use POST");
		return;
	}
	if (!authorized(h, req)) {
		h->host->counter_add(h->c_unauth, 1);
		h->host->log_limited(h->ctx, VIGIL_LOG_WARNING,
		    "POST %s: missing or wrong bearer token", h->path);
		h->host->http_reply_header(
		    req, "WWW-Authenticate", "Bearer realm=\"vigil\"");
		reply_error(
		    h->host, req, 401, "a valid bearer token is needed");
		return;
	}
	if (body_kind_of(h->host->http_header(req, "Content-Type"), &kind) !=
	    0) {
		h->host->counter_add(h->c_refused, 1);
		reply_error(h->host, req, 415,
		    "send application/json or application/x-ndjson");
		return;
	}
	if (h->paused || h->stopping) {
		reply_busy(h->host, req, h->c_busy, h->retry_after,
		    json_pack("{s:i,s:i,s:s}", "accepted", 0, "retry_from", 0,
		        "error",
		        h->stopping ? "shutting down" : "the backlog is full"));
		return;
	}
	take_posts(h, req, kind);
}

/* ------------------------------------------------------------ lifecycle */

static int
httpin_validate(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	const char *path = host->cfg_string(cfg, "path");

	if (path == NULL || path[0] != '/') {
		snprintf(err, errlen, "%s: path must start with '/'",
		    input_where(host, cfg, "path"));
		return VIGIL_ERR;
	}
	return secret_validate(
	    host, cfg, "token", "token_file", false, err, errlen);
}

static void
httpin_destroy(void *instance)
{
	struct httpin *h = instance;

	if (h == NULL)
		return;
	/* The host waits for acks before destroy; what is left lost its
	 * verdicts to a shutdown: the client must send it again. */
	while (h->open != NULL) {
		batch          *b      = h->open;
		vigil_http_req *req    = b->req;
		json_t         *result = batch_result(b);

		json_object_set_new(result, "error",
		    json_string("shutting down before every post was "
		                "recorded: send the request again"));
		batch_free(b);
		reply_busy(h->host, req, h->c_busy, h->retry_after, result);
	}
	secret_clear(&h->token);
	free(h->path);
	free(h);
}

static int
httpin_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	struct httpin *h = calloc(1, sizeof(*h));
	const char    *listen;

	if (h == NULL) {
		host->log(ctx, VIGIL_LOG_ERR, "out of memory");
		return VIGIL_ERR;
	}
	h->host      = host;
	h->ctx       = ctx;
	h->max_items = (size_t)host->cfg_int(cfg, "max_items");
	snprintf(h->retry_after, sizeof(h->retry_after), "%lld",
	    (long long)host->cfg_int(cfg, "retry_after_s"));
	if ((h->path = strdup(host->cfg_string(cfg, "path"))) == NULL) {
		host->log(ctx, VIGIL_LOG_ERR, "out of memory");
		goto fail;
	}
	if (secret_load(host, ctx, cfg, "token", "token_file", &h->token) !=
	    VIGIL_OK)
		goto fail;
	if ((listen = host->http_listen(ctx)) == NULL) {
		host->log(ctx, VIGIL_LOG_ERR, "no HTTP listener in this mode");
		goto fail;
	}
	if (h->token.ptr == NULL && !listen_is_loopback(listen)) {
		host->log(ctx, VIGIL_LOG_ERR,
		    "%s: http.listen = \"%s\" is not a loopback address: set "
		    "token or token_file, so that not everyone can post",
		    input_where(host, cfg, NULL), listen);
		goto fail;
	}
	h->c_requests = host->counter(
	    ctx, "http_requests_total", "Requests to the input's path.");
	h->c_accepted = host->counter(ctx, "http_posts_accepted_total",
	    "Posts recorded and answered as accepted.");
	h->c_invalid  = host->counter(ctx, "http_items_invalid_total",
	     "Items that were not valid posts (400).");
	h->c_unauth   = host->counter(ctx, "http_unauthorized_total",
	      "Requests without the right bearer token (401).");
	h->c_refused  = host->counter(ctx, "http_bodies_refused_total",
	     "Bodies refused whole: bad JSON, no posts, too many posts, "
	      "wrong media type.");
	h->c_busy     = host->counter(ctx, "http_busy_total",
	        "Requests answered 503 for a full backlog or a shutdown.");
	*instance     = h;
	return VIGIL_OK;
fail:
	httpin_destroy(h);
	return VIGIL_ERR;
}

static int
httpin_start(void *instance)
{
	struct httpin *h = instance;

	if (h->host->http_route(h->ctx, h->path, on_request, h) != VIGIL_OK)
		return VIGIL_ERR;
	return VIGIL_OK;
}

static void
httpin_stop(void *instance)
{
	((struct httpin *)instance)->stopping = true;
}

static void
httpin_pause(void *instance)
{
	((struct httpin *)instance)->paused = true;
}

static void
httpin_resume(void *instance)
{
	((struct httpin *)instance)->paused = false;
}

static const vigil_plugin httpin_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name        = "http",
    .version     = "1.0",
    .kind        = VIGIL_PLUGIN_INPUT,
    .description = "Posts POSTed over HTTP (JSON, JSON arrays, NDJSON), "
                   "answered once recorded.",
    .settings    = httpin_settings,
    .validate    = httpin_validate,
    .init        = httpin_init,
    .start       = httpin_start,
    .stop        = httpin_stop,
    .destroy     = httpin_destroy,
    .pause       = httpin_pause,
    .resume      = httpin_resume,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &httpin_plugin;
}
