/*
 * facebook.c - input plugin for Facebook page feed webhooks on the host's
 * shared HTTP listener.
 *
 * GET answers Facebook's subscription handshake (hub.mode, hub.verify_token,
 * hub.challenge). POST is a delivery: its raw body must carry a valid
 * X-Hub-Signature-256 (HMAC-SHA256 with the app secret), else 401. Each
 * feed change with a message becomes a post (feed.c); the request is held
 * and answered 200 only once every post is recorded, so that Facebook
 * delivers again when vigil could not record it (503 when the backlog is
 * full). Changes that cannot be posts are logged and counted and do not
 * fail the delivery: a retry would not mend them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <vigil/plugin.h>

#include "batch.h"
#include "common.h"
#include "feed.h"

#define SIG_HEADER "X-Hub-Signature-256"
#define SIG_PREFIX "sha256="
#define SIG_BYTES  32

struct fbin {
	const vigil_host *host;
	vigil_ctx        *ctx;
	char             *path;
	struct secret     app_secret, verify_token;
	char              retry_after[24];
	bool              paused, stopping;
	batch            *open;
	vigil_counter *c_deliveries, *c_posts, *c_removed, *c_skipped, *c_bad,
	    *c_sig_missing, *c_sig_malformed, *c_sig_mismatch,
	    *c_handshake_refused, *c_busy;
};

static const vigil_setting fbin_settings[] = {
    {"path", VIGIL_SET_STRING, "/v1/facebook",
        "Path on the shared HTTP listener (section `http`) given to "
        "Facebook as the callback URL, behind the TLS proxy.",
        NULL, 0, 0, 0},
    {"app_secret", VIGIL_SET_STRING, NULL,
        "The app secret that signs deliveries (X-Hub-Signature-256). This "
        "or `app_secret_file` is required. Never logged.",
        NULL, VIGIL_SET_SECRET, 0, 0},
    {"app_secret_file", VIGIL_SET_STRING, NULL,
        "File holding the app secret (trailing line breaks ignored), "
        "relative to the configuration file; not with `app_secret`.",
        NULL, VIGIL_SET_PATH | VIGIL_SET_SECRET, 0, 0},
    {"verify_token", VIGIL_SET_STRING, NULL,
        "The verify token entered in the app's webhook settings, checked "
        "in the subscription handshake. This or `verify_token_file` is "
        "required. Never logged.",
        NULL, VIGIL_SET_SECRET, 0, 0},
    {"verify_token_file", VIGIL_SET_STRING, NULL,
        "File holding the verify token; not with `verify_token`.", NULL,
        VIGIL_SET_PATH | VIGIL_SET_SECRET, 0, 0},
    {"retry_after_s", VIGIL_SET_INT, "5",
        "Seconds in Retry-After when the backlog is full (503).", NULL, 0, 1,
        3600},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

/* ------------------------------------------------------------ replies */

static void
finish(batch *b)
{
	struct fbin    *f      = b->owner;
	vigil_http_req *req    = b->req;
	json_t         *result = batch_result(b);

	f->host->counter_add(f->c_posts, b->accepted);
	if (b->retry_from >= 0) {
		json_object_set_new(result, "error",
		    json_string("the backlog is full: deliver again later"));
		batch_free(b);
		reply_busy(f->host, req, f->c_busy, f->retry_after, result);
		return;
	}
	batch_free(b);
	reply_json(f->host, req, 200, result);
}

/* ------------------------------------------------------------ handshake */

static void
handshake(struct fbin *f, vigil_http_req *req)
{
	const char *mode  = f->host->http_query(req, "hub.mode");
	const char *token = f->host->http_query(req, "hub.verify_token");
	const char *chal  = f->host->http_query(req, "hub.challenge");

	if (mode == NULL || strcmp(mode, "subscribe") != 0 || token == NULL ||
	    chal == NULL ||
	    !secret_equal(&f->verify_token, token, strlen(token))) {
		f->host->counter_add(f->c_handshake_refused, 1);
		f->host->log_limited(f->ctx, VIGIL_LOG_WARNING,
		    "GET %s: subscription handshake refused (%s)", f->path,
		    mode == NULL || strcmp(mode, "subscribe") != 0
		        ? "hub.mode is not subscribe"
		        : chal == NULL ? "no hub.challenge"
		                       : "wrong hub.verify_token");
		reply_error(f->host, req, 403, "verification failed");
		return;
	}
	f->host->log(f->ctx, VIGIL_LOG_NOTICE,
	    "GET %s: Facebook subscription verified", f->path);
	f->host->http_reply(
	    req, 200, "text/plain; charset=utf-8", chal, strlen(chal));
}

/* ------------------------------------------------------------ deliveries */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* NULL when the signature is good, else the counted reason. */
static const char *
signature_problem(
    struct fbin *f, vigil_http_req *req, const char *body, size_t len)
{
	const char   *sig = f->host->http_header(req, SIG_HEADER);
	unsigned char want[EVP_MAX_MD_SIZE], got[SIG_BYTES];
	unsigned int  n = 0;

	if (sig == NULL) {
		f->host->counter_add(f->c_sig_missing, 1);
		return "missing";
	}
	if (strncmp(sig, SIG_PREFIX, strlen(SIG_PREFIX)) != 0 ||
	    strlen(sig) != strlen(SIG_PREFIX) + 2 * SIG_BYTES)
		goto malformed;
	sig += strlen(SIG_PREFIX);
	for (size_t i = 0; i < SIG_BYTES; i++) {
		int hi = hexval(sig[2 * i]), lo = hexval(sig[2 * i + 1]);

		if (hi < 0 || lo < 0)
			goto malformed;
		got[i] = (unsigned char)(hi << 4 | lo);
	}
	if (HMAC(EVP_sha256(), f->app_secret.ptr, (int)f->app_secret.len,
	        (const unsigned char *)body, len, want, &n) == NULL ||
	    n != SIG_BYTES || CRYPTO_memcmp(want, got, SIG_BYTES) != 0) {
		f->host->counter_add(f->c_sig_mismatch, 1);
		return "mismatch";
	}
	return NULL;
malformed:
	f->host->counter_add(f->c_sig_malformed, 1);
	return "malformed";
}

static void
submit_posts(struct fbin *f, batch *b, const struct feed *feed)
{
	char err[256], source[64];

	snprintf(source, sizeof(source), "POST %s", f->path);
	for (size_t i = 0; i < feed->n_posts; i++) {
		const struct feed_post *p = &feed->posts[i];
		int                     rc;

		if (f->host->post_check(p->json, p->len, err, sizeof(err)) !=
		    VIGIL_OK) {
			f->host->counter_add(f->c_bad, 1);
			f->host->log_limited(f->ctx, VIGIL_LOG_WARNING,
			    "%s: change %zu: %s", source, p->index, err);
			batch_error(b, p->index, err);
			continue;
		}
		rc = batch_submit(b, i, p->index, p->json, p->len, source);
		if (rc == VIGIL_EAGAIN) {
			b->retry_from = (long)p->index;
			return;
		}
		if (rc != VIGIL_OK)
			batch_error(b, p->index, "refused by the daemon");
	}
}

static void
delivery(struct fbin *f, vigil_http_req *req)
{
	struct feed feed = {0};
	size_t      len;
	const char *body = f->host->http_body(req, &len);
	const char *why;
	char        err[256];
	batch      *b;

	if (body == NULL) {
		reply_error(f->host, req, 500, "cannot read the body");
		return;
	}
	if ((why = signature_problem(f, req, body, len)) != NULL) {
		f->host->log_limited(f->ctx, VIGIL_LOG_WARNING,
		    "POST %s: %s signature (" SIG_HEADER "); refused", f->path,
		    why);
		reply_error(f->host, req, 401, "bad signature");
		return;
	}
	f->host->counter_add(f->c_deliveries, 1);
	if (f->paused || f->stopping) {
		reply_busy(f->host, req, f->c_busy, f->retry_after,
		    json_pack("{s:s}", "error",
		        f->stopping ? "shutting down" : "the backlog is full"));
		return;
	}
	if (feed_parse(body, len, &feed, err, sizeof(err)) != 0) {
		f->host->counter_add(f->c_bad, 1);
		f->host->log_limited(
		    f->ctx, VIGIL_LOG_WARNING, "POST %s: %s", f->path, err);
		reply_error(f->host, req, 400, err);
		goto out;
	}
	f->host->counter_add(f->c_removed, feed.removed);
	f->host->counter_add(f->c_skipped, feed.skipped);
	if (feed.bad > 0) {
		f->host->counter_add(f->c_bad, feed.bad);
		f->host->log_limited(f->ctx, VIGIL_LOG_WARNING,
		    "POST %s: %zu changes make no post; %s", f->path, feed.bad,
		    feed.first_bad);
	}
	if ((b = batch_new(f->host, f->ctx, req, feed.n_posts, &f->open, finish,
	         f)) == NULL) {
		reply_error(f->host, req, 503, "out of memory");
		goto out;
	}
	if (f->host->http_hold(req) != VIGIL_OK) {
		batch_free(b);
		reply_error(f->host, req, 503, "cannot hold the request");
		goto out;
	}
	submit_posts(f, b, &feed);
	batch_seal(b);
out:
	feed_free(&feed);
}

static void
on_request(vigil_http_req *req, void *arg)
{
	struct fbin *f      = arg;
	const char  *method = f->host->http_method(req);

	if (strcmp(method, "GET") == 0) {
		handshake(f, req);
	} else if (strcmp(method, "POST") == 0) {
		delivery(f, req);
	} else {
		f->host->http_reply_header(req, "Allow", "GET, POST");
		reply_error(f->host, req, 405, "use GET or POST");
	}
}

/* ------------------------------------------------------------ lifecycle */

static int
fbin_validate(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	const char *path = host->cfg_string(cfg, "path");

	if (path == NULL || path[0] != '/') {
		snprintf(err, errlen, "%s: path must start with '/'",
		    input_where(host, cfg, "path"));
		return VIGIL_ERR;
	}
	if (secret_validate(host, cfg, "app_secret", "app_secret_file", true,
	        err, errlen) != VIGIL_OK)
		return VIGIL_ERR;
	return secret_validate(
	    host, cfg, "verify_token", "verify_token_file", true, err, errlen);
}

static void
fbin_destroy(void *instance)
{
	struct fbin *f = instance;

	if (f == NULL)
		return;
	while (f->open != NULL) {
		batch          *b   = f->open;
		vigil_http_req *req = b->req;

		batch_free(b);
		reply_busy(f->host, req, f->c_busy, f->retry_after,
		    json_pack("{s:s}", "error",
		        "shutting down before every post was recorded"));
	}
	secret_clear(&f->app_secret);
	secret_clear(&f->verify_token);
	free(f->path);
	free(f);
}

static int
fbin_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	struct fbin *f = calloc(1, sizeof(*f));

	if (f == NULL) {
		host->log(ctx, VIGIL_LOG_ERR, "out of memory");
		return VIGIL_ERR;
	}
	f->host = host;
	f->ctx  = ctx;
	snprintf(f->retry_after, sizeof(f->retry_after), "%lld",
	    (long long)host->cfg_int(cfg, "retry_after_s"));
	if ((f->path = strdup(host->cfg_string(cfg, "path"))) == NULL) {
		host->log(ctx, VIGIL_LOG_ERR, "out of memory");
		goto fail;
	}
	if (secret_load(host, ctx, cfg, "app_secret", "app_secret_file",
	        &f->app_secret) != VIGIL_OK ||
	    secret_load(host, ctx, cfg, "verify_token", "verify_token_file",
	        &f->verify_token) != VIGIL_OK)
		goto fail;
	if (f->app_secret.ptr == NULL || f->verify_token.ptr == NULL) {
		host->log(ctx, VIGIL_LOG_ERR,
		    "%s: app_secret and verify_token are required",
		    input_where(host, cfg, NULL));
		goto fail;
	}
	f->c_deliveries = host->counter(
	    ctx, "facebook_deliveries_total", "Signed deliveries received.");
	f->c_posts   = host->counter(ctx, "facebook_posts_accepted_total",
	      "Posts recorded from deliveries.");
	f->c_removed = host->counter(ctx, "facebook_removals_total",
	    "Feed changes with verb remove, ignored.");
	f->c_skipped = host->counter(ctx, "facebook_changes_skipped_total",
	    "Changes without a message (likes, reactions) or not of the "
	    "feed.");
	f->c_bad     = host->counter(ctx, "facebook_changes_invalid_total",
	        "Bodies and feed changes that make no valid post.");
	f->c_sig_missing =
	    host->counter(ctx, "facebook_signature_missing_total",
	        "Deliveries refused without " SIG_HEADER ".");
	f->c_sig_malformed =
	    host->counter(ctx, "facebook_signature_malformed_total",
	        "Deliveries refused for a signature not sha256=<64 hex>.");
	f->c_sig_mismatch =
	    host->counter(ctx, "facebook_signature_mismatch_total",
	        "Deliveries refused for a signature that does not match.");
	f->c_handshake_refused =
	    host->counter(ctx, "facebook_handshakes_refused_total",
	        "Subscription handshakes refused (403).");
	f->c_busy = host->counter(ctx, "facebook_busy_total",
	    "Deliveries answered 503 for a full backlog or a shutdown.");
	*instance = f;
	return VIGIL_OK;
fail:
	fbin_destroy(f);
	return VIGIL_ERR;
}

static int
fbin_start(void *instance)
{
	struct fbin *f = instance;

	return f->host->http_route(f->ctx, f->path, on_request, f);
}

static void
fbin_stop(void *instance)
{
	((struct fbin *)instance)->stopping = true;
}

static void
fbin_pause(void *instance)
{
	((struct fbin *)instance)->paused = true;
}

static void
fbin_resume(void *instance)
{
	((struct fbin *)instance)->paused = false;
}

static const vigil_plugin fbin_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name        = "facebook",
    .version     = "1.0",
    .kind        = VIGIL_PLUGIN_INPUT,
    .description = "Facebook page feed webhooks (signed), answered once "
                   "recorded.",
    .settings    = fbin_settings,
    .validate    = fbin_validate,
    .init        = fbin_init,
    .start       = fbin_start,
    .stop        = fbin_stop,
    .destroy     = fbin_destroy,
    .pause       = fbin_pause,
    .resume      = fbin_resume,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &fbin_plugin;
}
