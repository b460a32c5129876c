/*
 * telegram.c - input plugin for the Telegram Bot API: messages, channel
 * posts and their edits become posts (update.c maps them), fetched by
 * long polling (getUpdates) or received by webhook.
 *
 * Polling. One getUpdates request at a time, through the host's HTTP
 * client, with offset = the lowest update not yet finished. Telegram
 * forgets every update below the offset it is sent, so the offset must
 * never pass an update whose post is not finished: a poll is sent only
 * when every post of the previous answer has been acked (its alerts are
 * in the outbox). Updates below next_id were handed over already and are
 * not submitted again if a server sends them twice.
 *
 * Positions. Each post carries the next offset (update_id + 1) as its
 * host position, and updates without a post are reported with
 * position_skip. The host records the newest position with no
 * unfinished post before it; at start we poll from that position, so a
 * clean restart neither repeats nor loses an update. After a crash the
 * recorded position may lag behind what Telegram was told: posts in
 * between are scored again (same alert ids) or, when Telegram has
 * forgotten them, they had been finished already.
 *
 * Webhook. A route on the host's HTTP listener takes one Update per
 * POST, checks the secret token in constant time, and answers 200 once
 * the post is finished (the request is held meanwhile), 503 when the
 * host is full, so that Telegram delivers it again.
 *
 * The token is part of every API URL. It is never logged: log lines
 * name the URL with the token replaced, and messages from the HTTP client
 * are scrubbed of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <vigil/plugin.h>

#include "update.h"

#define FILE_MAX     4096 /* bytes of a token or secret file */
#define SECRET_MAX   256  /* Telegram's limit on secret_token */
#define POS_MAX      24   /* decimal int64 and a NUL */
#define SECRET_HDR   "X-Telegram-Bot-Api-Secret-Token"
#define SLACK_MS     15000 /* on top of the long-poll timeout */
#define SOURCE_SHOWN 200
#define IDLE_MIN_MS  1000 /* between two empty answers, at least */

enum mode { MODE_POLL, MODE_WEBHOOK };

struct tg;

/* A post submitted and not yet acked. */
struct pending {
	struct tg      *tg;
	int64_t         update_id;
	vigil_http_req *req; /* webhook: answered at the ack */
	TAILQ_ENTRY(pending) entry;
};
TAILQ_HEAD(pending_list, pending);

struct tg {
	const vigil_host *host;
	vigil_ctx        *ctx;
	enum mode         mode;

	/* Settings. */
	char         *token;
	char         *url;   /* .../bot<token>/getUpdates: secret */
	char         *shown; /* the same with the token replaced, for logs */
	int64_t       timeout_s;
	int64_t       limit, limit_now;
	json_t       *allowed;
	int64_t       backoff_min_ms, backoff_max_ms, backoff_ms;
	size_t        max_response;
	char         *hook_path;
	unsigned char secret_hash[32];

	struct event       *ev_timer;
	vigil_fetch        *fetch;
	struct pending_list pending;
	size_t              n_pending;
	json_t             *batch; /* the answer being submitted */
	size_t              batch_i;
	int64_t             next_id;      /* -1: no update seen */
	int64_t             poll_started; /* monotonic, microseconds */
	uint64_t            rng;
	bool                paused, stopped, dead, routed;

	vigil_counter *c_posts, *c_skipped, *c_bad, *c_invalid, *c_errors,
	    *c_refused, *c_hook_denied, *c_hook_busy;
};

static const vigil_setting tg_settings[] = {
    {"mode", VIGIL_SET_STRING, "poll",
        "`poll` fetches updates with getUpdates (long polling); `webhook` "
        "takes them as Telegram POSTs them to `webhook_path` on the "
        "shared HTTP listener (`http.listen`).",
        NULL, 0, 0, 0},
    {"token", VIGIL_SET_STRING, NULL,
        "The bot token from @BotFather. Never logged. Prefer `token_file`.",
        NULL, VIGIL_SET_SECRET, 0, 0},
    {"token_file", VIGIL_SET_STRING, NULL,
        "File holding the bot token (trailing white space dropped), read "
        "at start. One of `token` and `token_file` is required in `poll` "
        "mode.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"base_url", VIGIL_SET_STRING, "https://api.telegram.org",
        "Where the Bot API is: Telegram's, or a self-hosted Bot API "
        "server (`http://127.0.0.1:8081`).",
        NULL, 0, 0, 0},
    {"timeout_s", VIGIL_SET_INT, "30",
        "Long-poll timeout in seconds that getUpdates is asked for; "
        "with 0, an idle bot is asked once a second.",
        NULL, 0, 0, 600},
    {"limit", VIGIL_SET_INT, "100",
        "Most updates asked for per getUpdates (Telegram allows 1-100). "
        "Halved for the next request when an answer was cut at "
        "`max_response`.",
        NULL, 0, 1, 100},
    {"allowed_updates", VIGIL_SET_STRINGS, NULL,
        "Update kinds asked for; unset: `message`, `edited_message`, "
        "`channel_post`, `edited_channel_post`. Other kinds are "
        "skipped.",
        NULL, 0, 0, 0},
    {"backoff_min_ms", VIGIL_SET_INT, "1000",
        "First wait after a failed getUpdates (no answer, 5xx, 409, "
        "an unreadable body); it doubles with each failure in a row, "
        "with jitter.",
        NULL, 0, 1, 3600000},
    {"backoff_max_ms", VIGIL_SET_INT, "60000",
        "Longest wait between failed getUpdates.", NULL, 0, 1, 3600000},
    {"max_response", VIGIL_SET_INT, "16777216",
        "Bytes of a getUpdates answer kept; a longer one is cut, "
        "counted as an error, and `limit` halved.",
        NULL, 0, 4096, 1073741824},
    {"webhook_path", VIGIL_SET_STRING, "/telegram",
        "`webhook` mode: the path of the route on the HTTP listener.", NULL, 0,
        0, 0},
    {"webhook_secret", VIGIL_SET_STRING, NULL,
        "`webhook` mode: the secret_token given to setWebhook; requests "
        "without it in X-Telegram-Bot-Api-Secret-Token get 401.",
        NULL, VIGIL_SET_SECRET, 0, 0},
    {"webhook_secret_file", VIGIL_SET_STRING, NULL,
        "`webhook` mode: file holding the secret instead. One of the two "
        "is required in `webhook` mode.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static void poll_soon(struct tg *t, int64_t delay_ms);
static void submit_batch(struct tg *t);

/* ------------------------------------------------------------ helpers */

static const char *
where(const vigil_host *host, const vigil_cfg *cfg, const char *name)
{
	const char *w = host->cfg_where(cfg, name);

	return w != NULL ? w : "(config)";
}

/* Reads a small secret file, without trailing white space. NULL with a
 * reason in err. */
static char *
read_secret(const char *path, char *err, size_t errlen)
{
	char   *buf = malloc(FILE_MAX + 1);
	size_t  len = 0;
	ssize_t n   = 0;
	int     fd;

	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(buf);
		return NULL;
	}
	while (len <= FILE_MAX &&
	    ((n = read(fd, buf + len, FILE_MAX + 1 - len)) > 0 ||
	        (n < 0 && errno == EINTR)))
		len += n > 0 ? (size_t)n : 0;
	close(fd);
	if (n < 0 || len > FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path,
		    n < 0 ? strerror(errno) : "longer than 4096 bytes");
		OPENSSL_cleanse(buf, FILE_MAX + 1);
		free(buf);
		return NULL;
	}
	while (len > 0 && strchr(" \t\r\n", buf[len - 1]) != NULL)
		len--;
	buf[len] = '\0';
	return buf;
}

/* Bot tokens go into a URL path: letters, digits, ':', '_', '-'. */
static bool
token_valid(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		        (*s >= '0' && *s <= '9') || *s == ':' || *s == '_' ||
		        *s == '-'))
			return false;
	return true;
}

static int
parse_mode(const char *s, enum mode *m)
{
	if (s == NULL || strcmp(s, "poll") == 0)
		*m = MODE_POLL;
	else if (strcmp(s, "webhook") == 0)
		*m = MODE_WEBHOOK;
	else
		return -1;
	return 0;
}

/* Copies in to out with every occurrence of the token replaced. */
static void
scrub(const struct tg *t, const char *in, char *out, size_t outlen)
{
	size_t tl = t->token != NULL ? strlen(t->token) : 0, o = 0;

	while (*in != '\0' && o + 1 < outlen) {
		if (tl > 0 && strncmp(in, t->token, tl) == 0) {
			o += (size_t)snprintf(out + o, outlen - o, "<token>");
			if (o >= outlen) {
				o = outlen - 1;
				break;
			}
			in += tl;
			continue;
		}
		out[o++] = *in++;
	}
	out[o] = '\0';
}

static bool
sha256(const void *buf, size_t len, unsigned char out[32])
{
	return EVP_Digest(buf, len, out, NULL, EVP_sha256(), NULL) == 1;
}

/* Jitter: the wait is drawn from [ms/2, ms]. */
static int64_t
jitter(struct tg *t, int64_t ms)
{
	t->rng ^= t->rng << 13;
	t->rng ^= t->rng >> 7;
	t->rng ^= t->rng << 17;
	return ms / 2 + (int64_t)(t->rng % (uint64_t)(ms / 2 + 1));
}

static int64_t
next_backoff(struct tg *t)
{
	if (t->backoff_ms == 0)
		t->backoff_ms = t->backoff_min_ms;
	else if (t->backoff_ms < t->backoff_max_ms / 2)
		t->backoff_ms *= 2;
	else
		t->backoff_ms = t->backoff_max_ms;
	return jitter(t, t->backoff_ms);
}

/* ------------------------------------------------------------ positions */

static size_t
pos_text(int64_t next, char *buf)
{
	return (size_t)snprintf(buf, POS_MAX, "%" PRId64, next);
}

/* The offset recorded by the host, or -1. */
static int64_t
saved_offset(struct tg *t)
{
	size_t  len = 0;
	char   *val = t->host->position_get(t->ctx, &len), buf[POS_MAX], *end;
	int64_t off = -1;

	if (val == NULL)
		return -1;
	if (len > 0 && len < sizeof(buf)) {
		memcpy(buf, val, len);
		buf[len] = '\0';
		errno    = 0;
		off      = strtoll(buf, &end, 10);
		if (errno != 0 || *end != '\0' || off < 0)
			off = -1;
	}
	free(val);
	if (off < 0)
		t->host->log(t->ctx, VIGIL_LOG_WARNING,
		    "the recorded position is unreadable; asking Telegram for "
		    "every update it still holds");
	return off;
}

static void
skip_update(struct tg *t, int64_t id)
{
	char buf[POS_MAX];

	t->next_id = id + 1;
	if (t->mode == MODE_POLL)
		t->host->position_skip(t->ctx, buf, pos_text(id + 1, buf));
}

/* ------------------------------------------------------------ posts */

static void
finish_pending(struct tg *t, struct pending *p)
{
	TAILQ_REMOVE(&t->pending, p, entry);
	t->n_pending--;
	free(p);
}

static void
tg_ack(void *arg, int status, const char *reason)
{
	struct pending *p = arg;
	struct tg      *t = p->tg;

	(void)reason;
	/* The host has logged it with our source and line. */
	if (status == VIGIL_ACK_INVALID)
		t->host->counter_add(t->c_invalid, 1);
	if (p->req != NULL)
		t->host->http_reply(
		    p->req, 200, "application/json", "{\"ok\":true}", 11);
	finish_pending(t, p);
	if (t->n_pending == 0 && t->mode == MODE_POLL)
		poll_soon(t, 0);
}

/* Submits one mapped post. VIGIL_OK, VIGIL_EAGAIN, or VIGIL_ERR (logged). */
static int
submit_post(struct tg *t, const struct tg_update *u, vigil_http_req *req)
{
	char            pos[POS_MAX], source[SOURCE_SHOWN + 32];
	struct pending *p    = calloc(1, sizeof(*p));
	vigil_submit    opts = {
	       .struct_size = sizeof(opts),
	       .source      = source,
	       .line        = 0,
	       .ack         = tg_ack,
        };
	int r;

	if (p == NULL) {
		/* Offered again after the backoff (polling), or 503. */
		t->host->log_limited(t->ctx, VIGIL_LOG_ERR, "out of memory");
		if (t->mode == MODE_POLL)
			poll_soon(t, next_backoff(t));
		return VIGIL_EAGAIN;
	}
	snprintf(source, sizeof(source), "update %" PRId64, u->update_id);
	p->tg        = t;
	p->update_id = u->update_id;
	p->req       = req;
	opts.ack_arg = p;
	if (t->mode == MODE_POLL) {
		opts.pos     = pos;
		opts.pos_len = pos_text(u->update_id + 1, pos);
	}
	TAILQ_INSERT_TAIL(&t->pending, p, entry);
	t->n_pending++;
	r = t->host->submit(t->ctx, u->post, u->post_len, &opts);
	if (r != VIGIL_OK) {
		finish_pending(t, p);
		return r;
	}
	t->host->counter_add(t->c_posts, 1);
	return VIGIL_OK;
}

/* One update of a getUpdates answer. Returns false when it must be
 * offered again after resume(). */
static bool
offer_update(struct tg *t, const json_t *update, size_t i)
{
	struct tg_update u;
	bool             again = false;
	int              r;

	if (tg_update_map(update, &u) != 0) {
		t->host->log_limited(t->ctx, VIGIL_LOG_ERR,
		    "%s: update %zu of the answer: out of memory; retrying",
		    t->shown, i);
		tg_update_clear(&u);
		poll_soon(t, next_backoff(t));
		return false;
	}
	if (!u.has_id) {
		t->host->log_limited(t->ctx, VIGIL_LOG_WARNING,
		    "%s: update %zu of the answer ignored: %s", t->shown, i,
		    u.reason);
		t->host->counter_add(t->c_bad, 1);
	} else if (t->next_id >= 0 && u.update_id < t->next_id) {
		/* Handed over already. */
	} else if (u.kind == TG_SKIP) {
		t->host->counter_add(t->c_skipped, 1);
		skip_update(t, u.update_id);
	} else if (u.kind == TG_BAD) {
		t->host->log_limited(t->ctx, VIGIL_LOG_WARNING,
		    "%s: update %" PRId64 " skipped: %s", t->shown, u.update_id,
		    u.reason);
		t->host->counter_add(t->c_bad, 1);
		skip_update(t, u.update_id);
	} else if ((r = submit_post(t, &u, NULL)) == VIGIL_EAGAIN) {
		again = true;
	} else {
		if (r != VIGIL_OK) {
			t->host->log_limited(t->ctx, VIGIL_LOG_WARNING,
			    "%s: update %" PRId64 " refused by the host, "
			    "skipped",
			    t->shown, u.update_id);
			t->host->counter_add(t->c_bad, 1);
			skip_update(t, u.update_id);
		} else {
			t->next_id = u.update_id + 1;
		}
	}
	tg_update_clear(&u);
	return !again;
}

/* Submits what is left of the current answer, then polls again once
 * every post of it is finished. */
static void
submit_batch(struct tg *t)
{
	while (t->batch != NULL && t->batch_i < json_array_size(t->batch)) {
		if (t->paused || t->stopped)
			return;
		if (!offer_update(
		        t, json_array_get(t->batch, t->batch_i), t->batch_i))
			return;
		t->batch_i++;
	}
	json_decref(t->batch);
	t->batch = NULL;
	if (t->n_pending == 0)
		poll_soon(t, 0);
}

/* ------------------------------------------------------------ polling */

static char *
request_body(struct tg *t)
{
	json_t *o = json_object();
	char   *s = NULL;

	if (o == NULL ||
	    json_object_set_new(o, "timeout", json_integer(t->timeout_s)) ||
	    json_object_set_new(o, "limit", json_integer(t->limit_now)) ||
	    json_object_set(o, "allowed_updates", t->allowed) ||
	    (t->next_id >= 0 &&
	        json_object_set_new(o, "offset", json_integer(t->next_id))))
		goto out;
	s = json_dumps(o, JSON_COMPACT);
out:
	json_decref(o);
	return s;
}

/* Stops polling for good: the token is refused. */
static void
give_up(struct tg *t, int status, const char *why)
{
	char msg[256];

	scrub(t, why != NULL ? why : "", msg, sizeof(msg));
	t->dead = true;
	t->host->counter_add(t->c_refused, 1);
	t->host->log(t->ctx, VIGIL_LOG_ERR,
	    "%s: HTTP %d (%s): the bot token was refused; check `token` or "
	    "`token_file`. This input stops until the daemon is reloaded.",
	    t->shown, status, msg);
}

/* A failed request: logged (rate-limited), counted, tried again later. */
static void
retry_later(struct tg *t, int64_t delay_ms, const char *fmt, const char *a,
    const char *b)
{
	char raw[512], msg[512];

	snprintf(raw, sizeof(raw), fmt, a != NULL ? a : "", b != NULL ? b : "");
	scrub(t, raw, msg, sizeof(msg));
	t->host->counter_add(t->c_errors, 1);
	t->host->log_limited(t->ctx, VIGIL_LOG_WARNING,
	    "%s: %s; trying again in %" PRId64 " ms", t->shown, msg, delay_ms);
	poll_soon(t, delay_ms);
}

static void
on_error_status(
    struct tg *t, const vigil_fetch_result *res, const struct tg_response *r)
{
	const char *desc = r->root != NULL ? r->description : NULL;
	char        code[32];
	int64_t     wait;

	snprintf(code, sizeof(code), "HTTP %d", res->status);
	if (res->status == 401 || res->status == 404) {
		give_up(t, res->status, desc != NULL ? desc : "no description");
		return;
	}
	if (res->status == 429) {
		wait = r->retry_after_s >= 0 ? r->retry_after_s * 1000
		                             : res->retry_after_ms;
		if (wait < 0)
			wait = next_backoff(t);
		retry_later(t, wait, "%s (%s): too many requests", code,
		    desc != NULL ? desc : "no description");
		return;
	}
	if (res->status == 409) {
		retry_later(t, next_backoff(t),
		    "%s (%s): a webhook is set for this bot, or another "
		    "program polls with the same token; remove the webhook "
		    "(deleteWebhook) or use mode = \"webhook\"",
		    code, desc != NULL ? desc : "conflict");
		return;
	}
	retry_later(t, next_backoff(t), "%s (%s)", code,
	    desc != NULL ? desc : "no description");
}

static int64_t
idle_wait(struct tg *t)
{
	int64_t ms = (t->host->now_monotonic() - t->poll_started) / 1000;

	return ms >= IDLE_MIN_MS ? 0 : IDLE_MIN_MS - ms;
}

static void
on_updates(void *arg, const vigil_fetch_result *res)
{
	struct tg         *t = arg;
	struct tg_response r = {.retry_after_s = -1};
	char               err[200];
	bool               cut;

	t->fetch = NULL;
	if (t->stopped)
		return;
	if (res->status == 0) {
		retry_later(
		    t, next_backoff(t), "no answer: %s%s", res->error, NULL);
		return;
	}
	cut = res->body_len >= t->max_response;
	if (tg_response_parse(res->body, res->body_len, &r, err, sizeof(err)) !=
	    0) {
		if (res->status != 200) {
			on_error_status(t, res, &r);
			return;
		}
		if (cut && t->limit_now > 1)
			t->limit_now /= 2;
		retry_later(t, next_backoff(t), "unreadable answer: %s%s", err,
		    cut ? " (cut at max_response; asking for fewer updates)"
		        : "");
		return;
	}
	if (res->status != 200 || !r.ok) {
		on_error_status(t, res, &r);
		tg_response_free(&r);
		return;
	}
	t->backoff_ms = 0;
	if (json_array_size(r.result) == 0) {
		/* A server that answers at once when idle (timeout_s = 0, or
		 * one that ignores it) is asked at most once a second. */
		poll_soon(t, idle_wait(t));
		tg_response_free(&r);
		return;
	}
	t->batch   = json_incref((json_t *)r.result);
	t->batch_i = 0;
	tg_response_free(&r);
	submit_batch(t);
}

static void
start_poll(struct tg *t)
{
	vigil_fetch_req req   = {.struct_size = sizeof(req)};
	const char     *hdr[] = {"Content-Type: application/json"};
	char           *body;

	if ((body = request_body(t)) == NULL) {
		t->host->log_limited(t->ctx, VIGIL_LOG_ERR, "out of memory");
		poll_soon(t, next_backoff(t));
		return;
	}
	req.method      = "POST";
	req.url         = t->url;
	req.headers     = hdr;
	req.n_headers   = 1;
	req.body        = body;
	req.body_len    = strlen(body);
	req.timeout_ms  = t->timeout_s * 1000 + SLACK_MS;
	req.max_body    = t->max_response;
	req.done        = on_updates;
	req.arg         = t;
	t->poll_started = t->host->now_monotonic();
	t->fetch        = t->host->fetch(t->ctx, &req);
	free(body);
	if (t->fetch == NULL)
		poll_soon(t, next_backoff(t));
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tg *t = arg;

	(void)fd;
	(void)what;
	if (t->stopped || t->dead || t->paused)
		return;
	if (t->batch != NULL) {
		submit_batch(t);
		return;
	}
	if (t->fetch == NULL && t->n_pending == 0)
		start_poll(t);
}

/* The next step on a later turn of the loop: never inside the host's
 * own calls. */
static void
poll_soon(struct tg *t, int64_t delay_ms)
{
	struct timeval tv = {
	    (time_t)(delay_ms / 1000), (suseconds_t)(delay_ms % 1000) * 1000};

	if (t->stopped || t->dead || t->ev_timer == NULL)
		return;
	evtimer_add(t->ev_timer, &tv);
}

/* ------------------------------------------------------------ webhook */

static void
hook_reply(struct tg *t, vigil_http_req *req, int status, const char *body)
{
	(void)t;
	t->host->http_reply(
	    req, status, "application/json", body, strlen(body));
}

static bool
secret_ok(struct tg *t, vigil_http_req *req)
{
	const char   *got = t->host->http_header(req, SECRET_HDR);
	unsigned char h[32];

	/* Hashes compare in constant time whatever the lengths. */
	return got != NULL && sha256(got, strlen(got), h) &&
	    CRYPTO_memcmp(h, t->secret_hash, sizeof(h)) == 0;
}

/* Maps and submits one Update; answers now, or holds req until the ack. */
static void
hook_update(struct tg *t, vigil_http_req *req, const json_t *update)
{
	struct tg_update u;
	int              r;

	if (tg_update_map(update, &u) != 0) {
		hook_reply(
		    t, req, 503, "{\"ok\":false,\"error\":\"out of memory\"}");
	} else if (u.kind != TG_POST) {
		if (u.kind == TG_BAD) {
			t->host->log_limited(t->ctx, VIGIL_LOG_WARNING,
			    "webhook %s: update skipped: %s", t->hook_path,
			    u.reason);
			t->host->counter_add(t->c_bad, 1);
		} else {
			t->host->counter_add(t->c_skipped, 1);
		}
		hook_reply(t, req, 200, "{\"ok\":true}");
	} else if (t->paused || t->host->http_hold(req) != VIGIL_OK) {
		t->host->counter_add(t->c_hook_busy, 1);
		hook_reply(t, req, 503, "{\"ok\":false,\"error\":\"busy\"}");
	} else if ((r = submit_post(t, &u, req)) != VIGIL_OK) {
		if (r == VIGIL_EAGAIN)
			t->host->counter_add(t->c_hook_busy, 1);
		else
			t->host->log_limited(t->ctx, VIGIL_LOG_WARNING,
			    "webhook %s: update %" PRId64
			    " refused by the host",
			    t->hook_path, u.update_id);
		hook_reply(t, req, r == VIGIL_EAGAIN ? 503 : 500,
		    "{\"ok\":false,\"error\":\"not taken\"}");
	}
	tg_update_clear(&u);
}

static void
on_hook(vigil_http_req *req, void *arg)
{
	struct tg   *t      = arg;
	const char  *method = t->host->http_method(req);
	const void  *body;
	size_t       len = 0;
	json_t      *update;
	json_error_t jerr;

	if (method == NULL || strcmp(method, "POST") != 0) {
		t->host->http_reply_header(req, "Allow", "POST");
		hook_reply(
		    t, req, 405, "{\"ok\":false,\"error\":\"POST only\"}");
		return;
	}
	if (!secret_ok(t, req)) {
		t->host->counter_add(t->c_hook_denied, 1);
		t->host->log_limited(t->ctx, VIGIL_LOG_WARNING,
		    "webhook %s: request without the right " SECRET_HDR
		    "; answered 401",
		    t->hook_path);
		hook_reply(
		    t, req, 401, "{\"ok\":false,\"error\":\"unauthorized\"}");
		return;
	}
	if (t->stopped) {
		hook_reply(
		    t, req, 503, "{\"ok\":false,\"error\":\"stopping\"}");
		return;
	}
	body   = t->host->http_body(req, &len);
	update = json_loadb(
	    body != NULL ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (update == NULL) {
		t->host->counter_add(t->c_bad, 1);
		t->host->log_limited(t->ctx, VIGIL_LOG_WARNING,
		    "webhook %s: invalid JSON at line %d column %d: %s",
		    t->hook_path, jerr.line, jerr.column, jerr.text);
		hook_reply(
		    t, req, 400, "{\"ok\":false,\"error\":\"invalid JSON\"}");
		return;
	}
	hook_update(t, req, update);
	json_decref(update);
}

/* ------------------------------------------------------------ lifecycle */

static int
check_secret_settings(const vigil_host *host, const vigil_cfg *cfg,
    const char *name, const char *file, char *err, size_t errlen)
{
	if (host->cfg_string(cfg, name) != NULL &&
	    host->cfg_string(cfg, file) != NULL) {
		snprintf(err, errlen, "%s: set either '%s' or '%s', not both",
		    where(host, cfg, file), name, file);
		return VIGIL_ERR;
	}
	if (host->cfg_string(cfg, name) == NULL &&
	    host->cfg_string(cfg, file) == NULL) {
		snprintf(err, errlen, "%s: one of '%s' and '%s' is required",
		    where(host, cfg, NULL), name, file);
		return VIGIL_ERR;
	}
	return VIGIL_OK;
}

static int
tg_validate(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	const char *mode = host->cfg_string(cfg, "mode");
	const char *base = host->cfg_string(cfg, "base_url");
	const char *path = host->cfg_string(cfg, "webhook_path");
	const char *tok  = host->cfg_string(cfg, "token");
	enum mode   m;

	if (parse_mode(mode, &m) != 0) {
		snprintf(err, errlen,
		    "%s: setting 'mode': \"%s\" is not \"poll\" or \"webhook\"",
		    where(host, cfg, "mode"), mode);
		return VIGIL_ERR;
	}
	if (m == MODE_WEBHOOK) {
		if (path == NULL || path[0] != '/') {
			snprintf(err, errlen,
			    "%s: setting 'webhook_path': must start with '/'",
			    where(host, cfg, "webhook_path"));
			return VIGIL_ERR;
		}
		return check_secret_settings(host, cfg, "webhook_secret",
		    "webhook_secret_file", err, errlen);
	}
	if (base == NULL ||
	    (strncmp(base, "http://", 7) != 0 &&
	        strncmp(base, "https://", 8) != 0)) {
		snprintf(err, errlen,
		    "%s: setting 'base_url': must be an http:// or https:// "
		    "URL",
		    where(host, cfg, "base_url"));
		return VIGIL_ERR;
	}
	if (tok != NULL && !token_valid(tok)) {
		snprintf(err, errlen,
		    "%s: setting 'token': not a bot token (letters, digits, "
		    "':', '_', '-')",
		    where(host, cfg, "token"));
		return VIGIL_ERR;
	}
	return check_secret_settings(
	    host, cfg, "token", "token_file", err, errlen);
}

/* The secret of a setting or its file; NULL (logged) on failure. */
static char *
load_secret(
    struct tg *t, const vigil_cfg *cfg, const char *name, const char *file)
{
	const char *val = t->host->cfg_string(cfg, name);
	char        err[300];
	char       *s;

	if (val != NULL)
		s = strdup(val);
	else if ((s = read_secret(t->host->cfg_string(cfg, file), err,
	              sizeof(err))) == NULL)
		t->host->log(t->ctx, VIGIL_LOG_ERR, "%s: setting '%s': %s",
		    where(t->host, cfg, file), file, err);
	if (s == NULL && val != NULL)
		t->host->log(t->ctx, VIGIL_LOG_ERR, "out of memory");
	return s;
}

static int
init_poll(struct tg *t, const vigil_cfg *cfg)
{
	const vigil_host  *host    = t->host;
	const char        *base    = host->cfg_string(cfg, "base_url");
	size_t             blen    = strlen(base), n, i;
	static const char *kinds[] = {
	    "message", "edited_message", "channel_post", "edited_channel_post"};

	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	if ((t->token = load_secret(t, cfg, "token", "token_file")) == NULL)
		return VIGIL_ERR;
	if (!token_valid(t->token)) {
		host->log(t->ctx, VIGIL_LOG_ERR,
		    "%s: setting 'token_file': the file does not hold a bot "
		    "token (letters, digits, ':', '_', '-')",
		    where(host, cfg, "token_file"));
		return VIGIL_ERR;
	}
	n        = blen + strlen(t->token) + 32;
	t->url   = malloc(n);
	t->shown = malloc(blen + 32);
	if ((t->allowed = json_array()) == NULL || t->url == NULL ||
	    t->shown == NULL)
		goto nomem;
	snprintf(t->url, n, "%.*s/bot%s/getUpdates", (int)blen, base, t->token);
	snprintf(
	    t->shown, blen + 32, "%.*s/bot<token>/getUpdates", (int)blen, base);
	n = host->cfg_count(cfg, "allowed_updates");
	for (i = 0; i < (n > 0 ? n : 4); i++)
		if (json_array_append_new(t->allowed,
		        json_string(n > 0
		                ? host->cfg_string_at(cfg, "allowed_updates", i)
		                : kinds[i])) != 0)
			goto nomem;
	t->timeout_s      = host->cfg_int(cfg, "timeout_s");
	t->limit          = host->cfg_int(cfg, "limit");
	t->limit_now      = t->limit;
	t->backoff_min_ms = host->cfg_int(cfg, "backoff_min_ms");
	t->backoff_max_ms = host->cfg_int(cfg, "backoff_max_ms");
	if (t->backoff_max_ms < t->backoff_min_ms)
		t->backoff_max_ms = t->backoff_min_ms;
	t->max_response = (size_t)host->cfg_int(cfg, "max_response");
	return VIGIL_OK;
nomem:
	host->log(t->ctx, VIGIL_LOG_ERR, "out of memory");
	return VIGIL_ERR;
}

static int
init_webhook(struct tg *t, const vigil_cfg *cfg)
{
	char *secret =
	    load_secret(t, cfg, "webhook_secret", "webhook_secret_file");
	size_t len;
	int    rc = VIGIL_ERR;

	if (secret == NULL)
		return VIGIL_ERR;
	len = strlen(secret);
	if (len == 0 || len > SECRET_MAX) {
		t->host->log(t->ctx, VIGIL_LOG_ERR,
		    "%s: the webhook secret must be 1-256 characters",
		    where(t->host, cfg, NULL));
		goto out;
	}
	if (!sha256(secret, len, t->secret_hash) ||
	    (t->hook_path = strdup(t->host->cfg_string(cfg, "webhook_path"))) ==
	        NULL) {
		t->host->log(t->ctx, VIGIL_LOG_ERR, "out of memory");
		goto out;
	}
	rc = VIGIL_OK;
out:
	OPENSSL_cleanse(secret, len);
	free(secret);
	return rc;
}

static void tg_destroy(void *instance);

static vigil_counter *
counter(struct tg *t, const char *name, const char *help)
{
	return t->host->counter(t->ctx, name, help);
}

static int
tg_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	struct tg *t = calloc(1, sizeof(*t));
	char       err[300];

	if (t == NULL) {
		host->log(ctx, VIGIL_LOG_ERR, "out of memory");
		return VIGIL_ERR;
	}
	t->host    = host;
	t->ctx     = ctx;
	t->next_id = -1;
	t->rng     = (uint64_t)host->now_monotonic() | 1u;
	TAILQ_INIT(&t->pending);
	if (!VIGIL_HAS(host, http_hold) || host->http_hold == NULL) {
		host->log(ctx, VIGIL_LOG_ERR, "needs a host with ABI 1.3");
		goto fail;
	}
	if (tg_validate(host, cfg, err, sizeof(err)) != VIGIL_OK) {
		host->log(ctx, VIGIL_LOG_ERR, "%s", err);
		goto fail;
	}
	parse_mode(host->cfg_string(cfg, "mode"), &t->mode);
	if ((t->mode == MODE_POLL ? init_poll(t, cfg) : init_webhook(t, cfg)) !=
	    VIGIL_OK)
		goto fail;
	t->c_posts       = counter(t, "telegram_posts_total",
	          "Messages and channel posts handed to the daemon.");
	t->c_skipped     = counter(t, "telegram_updates_skipped_total",
	        "Updates without a post: other kinds, service messages, media "
	            "without a caption.");
	t->c_bad         = counter(t, "telegram_updates_bad_total",
	            "Updates that could not be read or were refused, skipped.");
	t->c_invalid     = counter(t, "telegram_posts_invalid_total",
	        "Posts that the daemon found not to be valid.");
	t->c_errors      = counter(t, "telegram_poll_errors_total",
	         "getUpdates requests that failed (no answer, HTTP errors, "
	              "unreadable answers).");
	t->c_refused     = counter(t, "telegram_token_refused_total",
	        "Times the Bot API refused the token (401, 404); polling stops.");
	t->c_hook_denied = counter(t, "telegram_webhook_denied_total",
	    "Webhook requests without the right secret token (401).");
	t->c_hook_busy   = counter(t, "telegram_webhook_busy_total",
	      "Webhook requests answered 503 because the daemon was full.");
	*instance        = t;
	return VIGIL_OK;
fail:
	tg_destroy(t);
	return VIGIL_ERR;
}

static int
tg_start(void *instance)
{
	struct tg *t = instance;

	t->ev_timer = evtimer_new(t->host->event_base(t->ctx), timer_cb, t);
	if (t->ev_timer == NULL) {
		t->host->log(t->ctx, VIGIL_LOG_ERR, "out of memory");
		return VIGIL_ERR;
	}
	if (t->mode == MODE_WEBHOOK) {
		if (t->host->http_route(t->ctx, t->hook_path, on_hook, t) !=
		    VIGIL_OK)
			return VIGIL_ERR;
		t->routed = true;
		t->host->log(t->ctx, VIGIL_LOG_INFO,
		    "taking updates by webhook on %s", t->hook_path);
		return VIGIL_OK;
	}
	t->next_id = saved_offset(t);
	if (t->next_id >= 0)
		t->host->log(t->ctx, VIGIL_LOG_INFO,
		    "polling %s from offset %" PRId64, t->shown, t->next_id);
	else
		t->host->log(t->ctx, VIGIL_LOG_INFO,
		    "polling %s from the oldest update Telegram holds",
		    t->shown);
	poll_soon(t, 0);
	return VIGIL_OK;
}

static void
tg_pause(void *instance)
{
	struct tg *t = instance;

	t->paused = true;
}

static void
tg_resume(void *instance)
{
	struct tg *t = instance;

	if (!t->paused)
		return;
	t->paused = false;
	/* A webhook has nothing to poll: its timer would spin on start_poll. */
	if (t->mode == MODE_POLL)
		poll_soon(t, 0);
}

/* No more polling; posts in flight are still acked until destroy. */
static void
tg_stop(void *instance)
{
	struct tg *t = instance;

	t->stopped = true;
	if (t->ev_timer != NULL)
		evtimer_del(t->ev_timer);
	if (t->fetch != NULL) {
		t->host->fetch_cancel(t->fetch);
		t->fetch = NULL;
	}
}

static void
tg_destroy(void *instance)
{
	struct tg      *t = instance;
	struct pending *p;

	if (t == NULL)
		return;
	if (t->fetch != NULL)
		t->host->fetch_cancel(t->fetch);
	/* Held webhook requests must be answered by now. */
	while ((p = TAILQ_FIRST(&t->pending)) != NULL) {
		if (p->req != NULL)
			hook_reply(t, p->req, 503,
			    "{\"ok\":false,\"error\":\"stopping\"}");
		finish_pending(t, p);
	}
	if (t->ev_timer != NULL)
		event_free(t->ev_timer);
	json_decref(t->batch);
	json_decref(t->allowed);
	if (t->token != NULL)
		OPENSSL_cleanse(t->token, strlen(t->token));
	if (t->url != NULL)
		OPENSSL_cleanse(t->url, strlen(t->url));
	free(t->token);
	free(t->url);
	free(t->shown);
	free(t->hook_path);
	free(t);
}

static const vigil_plugin tg_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name        = "telegram",
    .version     = "1.0",
    .kind        = VIGIL_PLUGIN_INPUT,
    .description = "Messages and channel posts from the Telegram Bot API, "
                   "by long polling or webhook.",
    .settings    = tg_settings,
    .validate    = tg_validate,
    .init        = tg_init,
    .start       = tg_start,
    .stop        = tg_stop,
    .destroy     = tg_destroy,
    .pause       = tg_pause,
    .resume      = tg_resume,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &tg_plugin;
}
