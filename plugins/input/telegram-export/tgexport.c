/*
 * tgexport.c - input plugin that reads a Telegram channel's history from
 * Telegram Desktop's JSON export (result.json) and submits each message
 * as a post, for audits of what a channel published and when.
 *
 * Reading. The file is read once, one read_chunk per turn of the event
 * loop (a zero-delay timer), and parsed as it comes by tgparse.c, which
 * holds only the message being built. Completed messages wait in the
 * parser's queue; a new chunk is read only once the queue is empty.
 *
 * Backpressure. When submit says VIGIL_EAGAIN the message is kept
 * ("held"), reading stops, and resume() offers it again first.
 *
 * Position. Telegram numbers a channel's messages in increasing order,
 * and the export lists them in that order. Each message goes to the host
 * with its chat and id as its position (vigil_submit.pos; position_skip
 * for messages that need no verdict: service, bad, refused). The host
 * records the newest one with no unfinished message before it, with the
 * alerts, and gives it back at start; a restart reads the export again
 * and skips the messages at or below it, so none is submitted twice after
 * a clean stop, and none is skipped after a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include <vigil/plugin.h>

#include "tgparse.h"

#define STATE_KEY "position" /* where earlier builds kept it (kv) */

struct tgx {
	const vigil_host *host;
	vigil_ctx        *ctx;

	char   *path;
	size_t  read_chunk;
	bool    save_position;
	tg_opts opts;

	int           fd;
	uint64_t      read_off;
	char         *rbuf;
	tg_parser    *parser;
	tg_item      *held; /* refused by a full backlog */
	struct event *ev_pump;

	/* Saved position: skip messages of chat saved_chat up to saved_id. */
	int64_t saved_chat, saved_id;

	uint64_t n_posts, n_service, n_bad, n_seen;
	bool     paused, stopped, ended;

	vigil_counter *c_posts, *c_service, *c_bad, *c_invalid, *c_seen;
};

static const vigil_setting tgx_settings[] = {
    {"path", VIGIL_SET_STRING, NULL,
        "The export's `result.json` (Telegram Desktop: Export chat history, "
        "format JSON). Relative to the configuration file's directory.",
        NULL, VIGIL_SET_REQUIRED | VIGIL_SET_PATH, 0, 0},
    {"username", VIGIL_SET_STRING, NULL,
        "The channel's public username, without `@`: posts then get "
        "channel `@username` and links `https://t.me/username/N`; "
        "without it the channel is the export's name and links are "
        "`https://t.me/c/ID/N`.",
        NULL, 0, 0, 0},
    {"lang", VIGIL_SET_STRING, NULL,
        "Language given to every post (`ru`, `kk`), when the channel has "
        "one.",
        NULL, 0, 0, 0},
    {"date_offset", VIGIL_SET_STRING, "+00:00",
        "UTC offset (`+06:00`) of the computer that made the export, "
        "applied to a message's local `date` when it has no "
        "`date_unixtime` (exports by older Telegram Desktop versions).",
        NULL, 0, 0, 0},
    {"max_message", VIGIL_SET_INT, "1048576",
        "Largest message, in bytes of JSON, built in memory; a larger "
        "one is skipped (and logged).",
        NULL, 0, 1024, 67108864},
    {"read_chunk", VIGIL_SET_INT, "65536",
        "Bytes read per turn of the event loop, so that a large export "
        "never holds up the daemon.",
        NULL, 0, 512, 16777216},
    {"save_position", VIGIL_SET_BOOL, "true",
        "Remember the last message finished, in the state directory, so "
        "that a restart does not submit it again.",
        NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static void pump(struct tgx *x);

/* ------------------------------------------------------------ position */

/* The position once message id of the chat is finished. */
static size_t
position_text(struct tgx *x, int64_t id, char *buf, size_t len)
{
	int n = snprintf(buf, len, "v1 chat=%" PRId64 " msg=%" PRId64 "\n",
	    tg_parser_chat_id(x->parser), id);

	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

static void
load_state(struct tgx *x)
{
	char   *val, text[96];
	size_t  len  = 0;
	int     used = -1;
	int64_t chat, msg;

	if (!x->save_position)
		return;
	if ((val = x->host->position_get(x->ctx, &len)) == NULL &&
	    (val = x->host->kv_get(x->ctx, STATE_KEY, &len)) == NULL)
		return;
	if (len < sizeof(text)) {
		memcpy(text, val, len);
		text[len] = '\0';
		sscanf(text, "v1 chat=%" SCNd64 " msg=%" SCNd64 "\n%n", &chat,
		    &msg, &used);
	}
	free(val);
	if (used < 0 || (size_t)used != len) {
		x->host->log(x->ctx, VIGIL_LOG_WARNING,
		    "%s: the saved position is unreadable; reading every "
		    "message",
		    x->path);
		return;
	}
	x->saved_chat = chat;
	x->saved_id   = msg;
	x->host->log(x->ctx, VIGIL_LOG_INFO,
	    "%s: messages up to %" PRId64 " of chat %" PRId64
	    " were done before; skipping them",
	    x->path, msg, chat);
}

/* A message that needs no verdict is finished once those before it are. */
static void
finish_unacked(struct tgx *x, int64_t id)
{
	char   buf[96];
	size_t n;

	if (x->save_position && id >= 0 &&
	    (n = position_text(x, id, buf, sizeof(buf))) > 0)
		x->host->position_skip(x->ctx, buf, n);
}

static void
tgx_ack(void *arg, int status, const char *reason)
{
	struct tgx *x = arg;

	(void)reason; /* the host has logged it with our source:line */
	if (status != VIGIL_ACK_DONE)
		x->host->counter_add(x->c_invalid, 1);
}

/* ------------------------------------------------------------ messages */

static void
schedule_pump(struct tgx *x)
{
	struct timeval tv = {0, 0};

	/* After the end only the queue is left to drain. */
	if (x->ev_pump != NULL && !x->stopped &&
	    (!x->ended || x->held != NULL ||
	        (x->parser != NULL && tg_parser_pending(x->parser))))
		evtimer_add(x->ev_pump, &tv);
}

static void
warn_message(struct tgx *x, const tg_item *it, const char *msg)
{
	if (it->msg_id >= 0)
		x->host->log_limited(x->ctx, VIGIL_LOG_WARNING,
		    "%s: message %" PRIu64 " (id %" PRId64 "): %s", x->path,
		    it->index, it->msg_id, msg);
	else
		x->host->log_limited(x->ctx, VIGIL_LOG_WARNING,
		    "%s: message %" PRIu64 ": %s", x->path, it->index, msg);
}

enum offer { OFFER_DONE, OFFER_WAIT };

static bool
seen_before(const struct tgx *x, const tg_item *it)
{
	return x->saved_chat == tg_parser_chat_id(x->parser) &&
	    it->msg_id >= 0 && it->msg_id <= x->saved_id;
}

/* Submits a post; OFFER_WAIT when it must be offered again later. */
static enum offer
submit_post(struct tgx *x, tg_item *it)
{
	vigil_submit opts = {
	    .struct_size = sizeof(opts),
	    .source      = x->path,
	    .line        = it->index,
	    .ack         = tgx_ack,
	    .ack_arg     = x,
	};
	char pos[96];
	int  r;

	if (x->save_position && it->msg_id >= 0)
		opts.pos_len = position_text(x, it->msg_id, pos, sizeof(pos));
	if (opts.pos_len > 0)
		opts.pos = pos;
	r = x->host->submit(x->ctx, it->post, it->post_len, &opts);
	if (r == VIGIL_OK) {
		x->n_posts++;
		x->host->counter_add(x->c_posts, 1);
		return OFFER_DONE;
	}
	if (r == VIGIL_EAGAIN)
		return OFFER_WAIT;
	/* Refused for good (too large, say); the host logged why. */
	x->n_bad++;
	x->host->counter_add(x->c_invalid, 1);
	finish_unacked(x, it->msg_id);
	return OFFER_DONE;
}

static enum offer
offer(struct tgx *x, tg_item *it)
{
	if (seen_before(x, it)) {
		x->n_seen++;
		x->host->counter_add(x->c_seen, 1);
		return OFFER_DONE;
	}
	switch (it->kind) {
	case TG_POST: return submit_post(x, it);
	case TG_SERVICE:
		x->n_service++;
		x->host->counter_add(x->c_service, 1);
		break;
	case TG_BAD:
		warn_message(x, it, it->reason ? it->reason : "out of memory");
		x->n_bad++;
		x->host->counter_add(x->c_bad, 1);
		break;
	}
	finish_unacked(x, it->msg_id);
	return OFFER_DONE;
}

/* Offers the held message and the queue. False when reading must wait. */
static bool
drain(struct tgx *x)
{
	tg_item *it;

	while (!x->paused && !x->stopped) {
		it      = x->held != NULL ? x->held : tg_parser_next(x->parser);
		x->held = NULL;
		if (it == NULL)
			return true;
		if (offer(x, it) == OFFER_WAIT) {
			x->held = it;
			if (!x->paused) /* out of memory: try again soon */
				schedule_pump(x);
			return false;
		}
		tg_item_free(it);
	}
	return false;
}

static void
end_reading(struct tgx *x, bool ok)
{
	x->ended = true;
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	if (ok)
		x->host->log(x->ctx, VIGIL_LOG_NOTICE,
		    "%s: end of the export: %" PRIu64 " messages, %" PRIu64
		    " posts submitted, %" PRIu64 " service messages, %" PRIu64
		    " skipped as bad, %" PRIu64 " done before",
		    x->path, tg_parser_messages(x->parser), x->n_posts,
		    x->n_service, x->n_bad, x->n_seen);
}

static void
file_failed(struct tgx *x)
{
	x->host->log(x->ctx, VIGIL_LOG_ERR,
	    "%s: %s; stopped reading after %" PRIu64 " messages", x->path,
	    tg_parser_error(x->parser), tg_parser_messages(x->parser));
	end_reading(x, false);
}

static void
read_chunk(struct tgx *x)
{
	ssize_t n;

	do
		n = pread(x->fd, x->rbuf, x->read_chunk, (off_t)x->read_off);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		x->host->log(x->ctx, VIGIL_LOG_ERR, "%s: byte %" PRIu64 ": %s",
		    x->path, x->read_off, strerror(errno));
		end_reading(x, false);
		return;
	}
	if (n == 0) {
		if (tg_parser_finish(x->parser) != 0)
			file_failed(x);
		else
			end_reading(x, true);
		drain(x);
		return;
	}
	x->read_off += (uint64_t)n;
	if (tg_parser_feed(x->parser, x->rbuf, (size_t)n) != 0) {
		/* What came before the error is still submitted: pump
		 * drains the queue after the end too. */
		file_failed(x);
		drain(x);
		return;
	}
	schedule_pump(x);
}

static void
pump(struct tgx *x)
{
	if (x->paused || x->stopped)
		return;
	if (!drain(x) || x->ended)
		return;
	read_chunk(x);
}

static void
pump_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pump(arg);
}

/* ------------------------------------------------------------ lifecycle */

static int
tgx_validate(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	const char *off = host->cfg_string(cfg, "date_offset");
	const char *u   = host->cfg_string(cfg, "username");
	int         secs;

	if (off != NULL && tg_parse_offset(off, &secs) != 0) {
		snprintf(err, errlen,
		    "%s: setting 'date_offset': \"%s\" is not an offset "
		    "like \"+06:00\"",
		    host->cfg_where(cfg, "date_offset"), off);
		return VIGIL_ERR;
	}
	if (u != NULL &&
	    (u[0] == '\0' || u[0] == '@' ||
	        strspn(u,
	            "abcdefghijklmnopqrstuvwxyz"
	            "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	            "0123456789_") != strlen(u) ||
	        strlen(u) > 64)) {
		snprintf(err, errlen,
		    "%s: setting 'username': \"%s\" is not a Telegram "
		    "username (letters, digits, '_', without '@')",
		    host->cfg_where(cfg, "username"), u);
		return VIGIL_ERR;
	}
	return VIGIL_OK;
}

static void tgx_destroy(void *instance);

static int
tgx_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	struct tgx *x = calloc(1, sizeof(*x));
	char        err[256];

	if (x == NULL)
		goto nomem;
	x->host       = host;
	x->ctx        = ctx;
	x->fd         = -1;
	x->saved_chat = -1;
	if (tgx_validate(host, cfg, err, sizeof(err)) != VIGIL_OK) {
		host->log(ctx, VIGIL_LOG_ERR, "%s", err);
		tgx_destroy(x);
		return VIGIL_ERR;
	}
	tg_parse_offset(
	    host->cfg_string(cfg, "date_offset"), &x->opts.date_offset);
	x->opts.max_message = (size_t)host->cfg_int(cfg, "max_message");
	x->opts.username    = host->cfg_string(cfg, "username");
	x->opts.lang        = host->cfg_string(cfg, "lang");
	x->read_chunk       = (size_t)host->cfg_int(cfg, "read_chunk");
	x->save_position    = host->cfg_bool(cfg, "save_position");
	x->path             = strdup(host->cfg_string(cfg, "path"));
	x->rbuf             = malloc(x->read_chunk);
	x->parser           = tg_parser_new(&x->opts);
	if (x->path == NULL || x->rbuf == NULL || x->parser == NULL)
		goto nomem;
	x->c_posts = host->counter(
	    ctx, "tgexport_posts_total", "Messages submitted as posts.");
	x->c_service = host->counter(ctx, "tgexport_service_total",
	    "Service messages skipped (joins, pins, title changes).");
	x->c_bad     = host->counter(ctx, "tgexport_bad_messages_total",
	        "Messages skipped as unusable: not an object, no id or "
	            "date, wrong types, larger than max_message.");
	x->c_invalid = host->counter(ctx, "tgexport_posts_invalid_total",
	    "Posts that the daemon refused or found invalid.");
	x->c_seen    = host->counter(ctx, "tgexport_done_before_total",
	       "Messages skipped because a run before this one finished them.");
	*instance    = x;
	return VIGIL_OK;
nomem:
	host->log(ctx, VIGIL_LOG_ERR, "out of memory");
	tgx_destroy(x);
	return VIGIL_ERR;
}

static int
tgx_start(void *instance)
{
	struct tgx        *x    = instance;
	struct event_base *base = x->host->event_base(x->ctx);
	struct stat        st;

	x->ev_pump = evtimer_new(base, pump_cb, x);
	if (x->ev_pump == NULL) {
		x->host->log(x->ctx, VIGIL_LOG_ERR, "out of memory");
		return VIGIL_ERR;
	}
	x->fd = open(x->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (x->fd < 0 || fstat(x->fd, &st) != 0) {
		x->host->log(x->ctx, VIGIL_LOG_ERR, "%s: cannot read: %s",
		    x->path, strerror(errno));
		return VIGIL_ERR;
	}
	if (!S_ISREG(st.st_mode)) {
		x->host->log(x->ctx, VIGIL_LOG_ERR,
		    "%s: cannot read: not a regular file", x->path);
		return VIGIL_ERR;
	}
	load_state(x);
	schedule_pump(x);
	return VIGIL_OK;
}

static void
tgx_pause(void *instance)
{
	struct tgx *x = instance;

	x->paused = true;
	if (x->ev_pump != NULL)
		event_del(x->ev_pump);
}

static void
tgx_resume(void *instance)
{
	struct tgx *x = instance;

	if (!x->paused)
		return;
	x->paused = false;
	/* Not from inside the host's call: on the next turn of the loop. */
	schedule_pump(x);
}

static void
tgx_stop(void *instance)
{
	struct tgx *x = instance;

	x->stopped = true;
	if (x->ev_pump != NULL)
		event_del(x->ev_pump);
}

static void
tgx_destroy(void *instance)
{
	struct tgx *x = instance;

	if (x == NULL)
		return;
	if (x->ev_pump != NULL)
		event_free(x->ev_pump);
	if (x->fd >= 0)
		close(x->fd);
	tg_item_free(x->held);
	tg_parser_free(x->parser);
	free(x->rbuf);
	free(x->path);
	free(x);
}

static const vigil_plugin tgx_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name        = "telegram-export",
    .version     = "1.0",
    .kind        = VIGIL_PLUGIN_INPUT,
    .description = "A Telegram channel's history from Telegram Desktop's "
                   "JSON export (result.json), for audits and replays.",
    .settings    = tgx_settings,
    .validate    = tgx_validate,
    .init        = tgx_init,
    .start       = tgx_start,
    .stop        = tgx_stop,
    .destroy     = tgx_destroy,
    .pause       = tgx_pause,
    .resume      = tgx_resume,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &tgx_plugin;
}
