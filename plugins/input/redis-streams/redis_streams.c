/*
 * redis_streams.c - input plugin that reads posts from Redis streams as
 * one consumer of a consumer group, and acknowledges each entry (XACK)
 * only once the daemon has recorded its verdict.
 *
 * Connection. hiredis's async API on the host's event base, so nothing
 * waits on the loop: a host name is resolved with evdns, a connect or a
 * reply that takes too long is given up by a timer, and a lost connection
 * is opened again after a delay that doubles from reconnect_min_ms to
 * reconnect_max_ms. Each connection starts with AUTH, SELECT and XGROUP
 * CREATE ... MKSTREAM for every stream (BUSYGROUP is fine), pipelined.
 *
 * Reading. Each connection first reads this consumer's own pending
 * entries (XREADGROUP from id 0, page by page, until a stream has none
 * left), so that entries delivered before a crash or a lost connection are
 * scored; then new entries (">") with BLOCK. Every claim_interval_ms,
 * XAUTOCLAIM takes over entries that other (dead) consumers have left
 * pending longer than claim_min_idle_ms.
 *
 * Entries. An entry read becomes "known": in `todo` until submitted, then
 * in `inflight` until the host acks it; a tree (tsearch) finds known
 * entries by stream and id, so that a history page or a claim that
 * returns one again does not submit it twice. On the ack, XACK; when the
 * connection is down, the XACK waits in `acks` for the next one. Entries
 * without the post field, and entries trimmed away while pending, are
 * acknowledged at once and counted: they can never become a post.
 *
 * Backpressure. On VIGIL_EAGAIN the entry stays at the head of `todo` and
 * nothing more is read until resume(); unsubmitted entries are pending
 * for this consumer in Redis as well, so even a crash loses none.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <search.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <vigil/plugin.h>

#include "reply.h"

struct rs;

/* A stream entry read and not yet acknowledged. */
struct stream_entry {
	TAILQ_ENTRY(stream_entry) link; /* todo or inflight */
	struct rs   *rs;
	size_t       stream;
	rs_id        id;
	char         id_text[RS_ID_MAX];
	rs_item_kind kind;
	char        *post; /* until submitted */
	size_t       len;
};
TAILQ_HEAD(entry_list, stream_entry);

/* An XACK to send. */
struct ackrec {
	TAILQ_ENTRY(ackrec) link;
	struct rs *rs;
	size_t     stream;
	char       id[RS_ID_MAX];
};
TAILQ_HEAD(ack_list, ackrec);

struct stream {
	char *name;
	bool  history_done;            /* own pending entries all read */
	char  cursor[RS_ID_MAX];       /* history: the last id read */
	char  claim_cursor[RS_ID_MAX]; /* XAUTOCLAIM: where to go on */
};

enum conn_state {
	CONN_DOWN,
	CONN_RESOLVING,
	CONN_CONNECTING,
	CONN_SETUP, /* connected; AUTH, SELECT, XGROUP CREATE sent */
	CONN_READY,
};

struct rs {
	const vigil_host *host;
	vigil_ctx        *ctx;

	/* Settings. */
	struct stream *streams;
	size_t         n_streams;
	char          *group, *consumer, *field, *start_id;
	char          *hostname, *socket, *username, *password;
	char           where[320]; /* the server, for messages */
	int            port;
	int64_t        db, block_ms, timeout_ms, connect_timeout_ms;
	int64_t        claim_min_idle_ms, claim_interval_ms;
	int64_t        reconnect_min_ms, reconnect_max_ms;
	char           count_s[24], block_s[24], idle_s[24], claim_count_s[24];
	char           db_s[24];
	const char   **argv; /* room for the longest XREADGROUP */

	/* The connection. */
	struct event_base                *base;
	redisAsyncContext                *ac;
	enum conn_state                   state;
	size_t                            setup_left;
	bool                              reading, history_read, had_failure;
	size_t                            claiming;
	int64_t                           backoff_ms;
	struct evdns_base                *dns;
	struct evdns_getaddrinfo_request *dns_req;
	struct event *ev_retry; /* the next connection attempt */
	struct event *ev_watch; /* connect or reply timeout */
	struct event *ev_pump;  /* submit and read, on the next turn */
	struct event *ev_claim; /* XAUTOCLAIM, periodic */

	struct entry_list todo, inflight;
	void             *known; /* tsearch tree of the entries above */
	struct ack_list   acks;  /* XACKs waiting for a connection */

	bool paused;  /* by backpressure */
	bool stopped; /* by stop() */

	vigil_counter *c_read, *c_invalid, *c_gone, *c_claimed, *c_lost;
};

static const vigil_setting rs_settings[] = {
    {"streams", VIGIL_SET_STRINGS, NULL,
        "Stream keys to read, e.g. `[ \"posts\" ]`; each is created empty "
        "(MKSTREAM) with the group if missing.",
        NULL, VIGIL_SET_REQUIRED, 0, 0},
    {"group", VIGIL_SET_STRING, "vigil",
        "Consumer group; every vigild reading the same posts joins the "
        "same group, and each entry goes to one of them.",
        NULL, 0, 0, 0},
    {"consumer", VIGIL_SET_STRING, NULL,
        "This reader's name in the group (default `<hostname>-<pid>`). A "
        "name that stays the same across restarts lets a restarted vigild "
        "score its own unacknowledged entries at once, instead of after "
        "`claim_min_idle_ms` by a claim.",
        NULL, 0, 0, 0},
    {"start_id", VIGIL_SET_STRING, "0",
        "Where a group that does not exist yet begins: `0` for every entry "
        "already in the stream, `$` for only those added from now on, or "
        "an entry id. An existing group keeps its position.",
        NULL, 0, 0, 0},
    {"field", VIGIL_SET_STRING, "post",
        "Field of each entry that holds the post JSON (doc/posts.md). An "
        "entry without it is acknowledged, logged and counted as invalid.",
        NULL, 0, 0, 0},
    {"count", VIGIL_SET_INT, "128", "Entries asked for per XREADGROUP (COUNT).",
        NULL, 0, 1, 100000},
    {"block_ms", VIGIL_SET_INT, "2000",
        "How long, in milliseconds, an XREADGROUP waits for new entries "
        "(BLOCK). Commands sent meanwhile, XACK included, wait behind it "
        "on the connection.",
        NULL, 0, 1, 600000},
    {"claim_min_idle_ms", VIGIL_SET_INT, "60000",
        "Entries pending with another consumer for this long, in "
        "milliseconds, are taken over (XAUTOCLAIM) and scored here. Keep "
        "it well above the time a post takes to be scored.",
        NULL, 0, 1, 86400000},
    {"claim_interval_ms", VIGIL_SET_INT, "10000",
        "How often, in milliseconds, to look for such entries; 0: never.", NULL,
        0, 0, 86400000},
    {"claim_count", VIGIL_SET_INT, "100",
        "Entries taken over per stream and look (XAUTOCLAIM COUNT).", NULL, 0,
        1, 100000},
    {"host", VIGIL_SET_STRING, "127.0.0.1",
        "Redis server: an address or a name, resolved without blocking.", NULL,
        0, 0, 0},
    {"port", VIGIL_SET_INT, "6379", "TCP port of the server.", NULL, 0, 1,
        65535},
    {"socket", VIGIL_SET_STRING, NULL,
        "Unix socket of the server; when set, `host` and `port` are not "
        "used. Relative to the configuration file's directory.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"db", VIGIL_SET_INT, "0", "Database number (SELECT).", NULL, 0, 0,
        1000000},
    {"username", VIGIL_SET_STRING, NULL,
        "ACL user (Redis 6 and later); needs a password.", NULL, 0, 0, 0},
    {"password", VIGIL_SET_STRING, NULL,
        "Password sent with AUTH. Never logged; prefer `password_file`.", NULL,
        VIGIL_SET_SECRET, 0, 0},
    {"password_file", VIGIL_SET_STRING, NULL,
        "File whose first line is the password, read at start and on "
        "reload. Not with `password`.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"connect_timeout_ms", VIGIL_SET_INT, "5000",
        "Longest wait, in milliseconds, to resolve the host and connect.", NULL,
        0, 10, 600000},
    {"timeout_ms", VIGIL_SET_INT, "10000",
        "Longest wait for a reply beyond `block_ms`, in milliseconds; "
        "after it the connection counts as lost.",
        NULL, 0, 10, 600000},
    {"reconnect_min_ms", VIGIL_SET_INT, "100",
        "First delay, in milliseconds, before connecting again after a "
        "failure; it doubles with each failure in a row.",
        NULL, 0, 0, 600000},
    {"reconnect_max_ms", VIGIL_SET_INT, "30000",
        "Longest delay between two attempts to connect, in milliseconds.", NULL,
        0, 1, 3600000},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static void conn_failed(struct rs *rs);
static void pump(struct rs *rs);

/* ------------------------------------------------------------ helpers */

static const char *
cfg_place(const vigil_host *host, const vigil_cfg *cfg, const char *name)
{
	const char *w = host->cfg_where(cfg, name);

	return w != NULL ? w : "(config)";
}

static void
arm(struct event *ev, int64_t ms)
{
	struct timeval tv = {
	    (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	evtimer_add(ev, &tv);
}

static void
schedule_pump(struct rs *rs)
{
	if (!rs->stopped && rs->ev_pump != NULL)
		arm(rs->ev_pump, 0);
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct stream_entry *x = a, *y = b;

	if (x->stream != y->stream)
		return x->stream < y->stream ? -1 : 1;
	return rs_id_cmp(&x->id, &y->id);
}

static bool
is_known(struct rs *rs, size_t stream, const rs_id *id)
{
	struct stream_entry key = {.stream = stream, .id = *id};

	return tfind(&key, &rs->known, entry_cmp) != NULL;
}

static int
find_stream(const struct rs *rs, const char *name, size_t len)
{
	for (size_t i = 0; i < rs->n_streams; i++)
		if (strlen(rs->streams[i].name) == len &&
		    memcmp(rs->streams[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

/* ------------------------------------------------------------ acks */

static void
xack_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct ackrec *a  = priv;
	struct rs     *rs = a->rs;
	redisReply    *r  = reply;

	(void)ac;
	if (r == NULL ||
	    (r->type == REDIS_REPLY_ERROR &&
	        (strncmp(r->str, "NOAUTH", 6) == 0 ||
	            strncmp(r->str, "LOADING", 7) == 0))) {
		/* Not done: again on the next connection. */
		TAILQ_INSERT_TAIL(&rs->acks, a, link);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR)
		rs->host->log_limited(rs->ctx, VIGIL_LOG_WARNING,
		    "%s: XACK %s %s: %s", rs->where,
		    rs->streams[a->stream].name, a->id, r->str);
	free(a);
}

static void
issue_ack(struct rs *rs, struct ackrec *a)
{
	const char *argv[4] = {
	    "XACK", rs->streams[a->stream].name, rs->group, a->id};

	if (rs->ac == NULL ||
	    (rs->state != CONN_SETUP && rs->state != CONN_READY) ||
	    redisAsyncCommandArgv(rs->ac, xack_cb, a, 4, argv, NULL) !=
	        REDIS_OK)
		TAILQ_INSERT_TAIL(&rs->acks, a, link);
}

static void
flush_acks(struct rs *rs)
{
	struct ack_list todo = TAILQ_HEAD_INITIALIZER(todo);
	struct ackrec  *a;

	TAILQ_CONCAT(&todo, &rs->acks, link);
	while ((a = TAILQ_FIRST(&todo)) != NULL) {
		TAILQ_REMOVE(&todo, a, link);
		issue_ack(rs, a);
	}
}

/* The entry is done with: XACK it and forget it. */
static void
finish_entry(struct rs *rs, struct stream_entry *e)
{
	struct ackrec *a = calloc(1, sizeof(*a));

	tdelete(e, &rs->known, entry_cmp);
	if (a == NULL) {
		rs->host->log_limited(rs->ctx, VIGIL_LOG_ERR,
		    "out of memory: %s/%s stays pending",
		    rs->streams[e->stream].name, e->id_text);
	} else {
		a->rs     = rs;
		a->stream = e->stream;
		memcpy(a->id, e->id_text, sizeof(a->id));
		issue_ack(rs, a);
	}
	free(e->post);
	free(e);
}

/* The host's ack: the verdict is recorded, or the post is invalid. */
static void
entry_ack(void *arg, int status, const char *reason)
{
	struct stream_entry *e  = arg;
	struct rs           *rs = e->rs;

	(void)reason; /* logged by the host with our source */
	if (status == VIGIL_ACK_INVALID)
		rs->host->counter_add(rs->c_invalid, 1);
	TAILQ_REMOVE(&rs->inflight, e, link);
	finish_entry(rs, e);
}

/* ------------------------------------------------------------ entries */

static void
add_entry(struct rs *rs, size_t stream, const rs_item *it)
{
	struct stream_entry *e;

	if (is_known(rs, stream, &it->id))
		return;
	rs->host->counter_add(rs->c_read, 1);
	if ((e = calloc(1, sizeof(*e))) == NULL)
		goto nomem;
	e->rs     = rs;
	e->stream = stream;
	e->id     = it->id;
	e->kind   = it->kind;
	memcpy(e->id_text, it->id_text, it->id_len);
	if (it->kind == RS_ITEM_POST) {
		/* A NUL after the post, for the host's parser's sake. */
		if ((e->post = malloc(it->value_len + 1)) == NULL)
			goto nomem;
		memcpy(e->post, it->value, it->value_len);
		e->post[it->value_len] = '\0';
		e->len                 = it->value_len;
	}
	if (tsearch(e, &rs->known, entry_cmp) == NULL)
		goto nomem;
	TAILQ_INSERT_TAIL(&rs->todo, e, link);
	return;
nomem:
	/* Still pending in Redis: a later connection or claim reads it. */
	rs->host->log_limited(rs->ctx, VIGIL_LOG_ERR,
	    "out of memory: %s/%.*s left pending", rs->streams[stream].name,
	    (int)it->id_len, it->id_text);
	if (e != NULL)
		free(e->post);
	free(e);
}

/* An entry that can never be a post: acknowledged, logged, counted. */
static void
reject_entry(struct rs *rs, struct stream_entry *e)
{
	const char *name = rs->streams[e->stream].name;

	if (e->kind == RS_ITEM_DELETED) {
		rs->host->log_limited(rs->ctx, VIGIL_LOG_WARNING,
		    "%s/%s: gone from the stream (trimmed) before it was "
		    "scored; acknowledged",
		    name, e->id_text);
		rs->host->counter_add(rs->c_gone, 1);
	} else {
		rs->host->log_limited(rs->ctx, VIGIL_LOG_WARNING,
		    "%s/%s: no string field '%s'; acknowledged as invalid",
		    name, e->id_text, rs->field);
		rs->host->counter_add(rs->c_invalid, 1);
	}
	finish_entry(rs, e);
}

static void
submit_todo(struct rs *rs)
{
	struct stream_entry *e;
	char                 source[512];
	int                  rc;

	while (!rs->paused && (e = TAILQ_FIRST(&rs->todo)) != NULL) {
		vigil_submit o = {
		    .struct_size = sizeof(o),
		    .source      = source,
		    .ack         = entry_ack,
		    .ack_arg     = e,
		};

		if (e->kind != RS_ITEM_POST) {
			TAILQ_REMOVE(&rs->todo, e, link);
			reject_entry(rs, e);
			continue;
		}
		snprintf(source, sizeof(source), "%s/%s",
		    rs->streams[e->stream].name, e->id_text);
		rc = rs->host->submit(rs->ctx, e->post, e->len, &o);
		if (rc == VIGIL_EAGAIN) {
			rs->paused = true;
			break;
		}
		TAILQ_REMOVE(&rs->todo, e, link);
		if (rc == VIGIL_OK) {
			free(e->post);
			e->post = NULL;
			TAILQ_INSERT_TAIL(&rs->inflight, e, link);
			continue;
		}
		/* Refused for good (too large; logged by the host). */
		rs->host->counter_add(rs->c_invalid, 1);
		finish_entry(rs, e);
	}
}

/* ------------------------------------------------------------ reading */

struct walk {
	struct rs *rs;
	int        stream; /* index of the stream being walked, or -1 */
	bool       history;
	bool       claim;
};

static int
walk_stream(void *arg, const char *name, size_t len, size_t n)
{
	struct walk *w = arg;

	w->stream = find_stream(w->rs, name, len);
	if (w->stream < 0) {
		w->rs->host->log_limited(w->rs->ctx, VIGIL_LOG_WARNING,
		    "%s: a reply names stream '%.*s', which is not read here",
		    w->rs->where, (int)len, name);
		return 0;
	}
	if (w->history && n == 0)
		w->rs->streams[w->stream].history_done = true;
	return 0;
}

static int
walk_entry(void *arg, const rs_item *it)
{
	struct walk *w = arg;

	if (w->stream < 0)
		return 0;
	if (w->history) {
		memcpy(
		    w->rs->streams[w->stream].cursor, it->id_text, it->id_len);
		w->rs->streams[w->stream].cursor[it->id_len] = '\0';
	}
	if (w->claim && !is_known(w->rs, (size_t)w->stream, &it->id))
		w->rs->host->counter_add(w->rs->c_claimed, 1);
	if (!w->rs->stopped)
		add_entry(w->rs, (size_t)w->stream, it);
	return 0;
}

/* Our own decision to give up on the connection: free it (its pending
 * callbacks see ac->data NULL) and try again after the backoff. */
static void
conn_drop(struct rs *rs)
{
	redisAsyncContext *ac = rs->ac;

	rs->ac = NULL;
	if (ac != NULL) {
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	conn_failed(rs);
}

static void
read_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rs  *rs = ac->data;
	redisReply *r  = reply;
	struct walk w  = {.rs = rs, .stream = -1};
	rs_visitor  v = {.arg = &w, .stream = walk_stream, .entry = walk_entry};
	char        err[256];

	(void)priv;
	if (rs == NULL)
		return;
	rs->reading = false;
	event_del(rs->ev_watch);
	if (r == NULL)
		return; /* the disconnect callback follows */
	if (r->type == REDIS_REPLY_ERROR) {
		rs->host->log_limited(rs->ctx, VIGIL_LOG_ERR,
		    "%s: XREADGROUP: %s", rs->where, r->str);
		conn_drop(rs);
		return;
	}
	w.history = rs->history_read;
	if (rs_walk_read(r, rs->field, &v, err, sizeof(err)) != 0) {
		rs->host->log_limited(rs->ctx, VIGIL_LOG_ERR,
		    "%s: unexpected reply to XREADGROUP: %s", rs->where, err);
		conn_drop(rs);
		return;
	}
	pump(rs);
}

/* XREADGROUP: own pending entries while some stream has any, then new
 * ones with BLOCK. */
static void
read_next(struct rs *rs)
{
	const char **argv    = rs->argv;
	size_t       argc    = 0;
	bool         history = false;

	for (size_t i = 0; i < rs->n_streams; i++)
		history = history || !rs->streams[i].history_done;
	argv[argc++] = "XREADGROUP";
	argv[argc++] = "GROUP";
	argv[argc++] = rs->group;
	argv[argc++] = rs->consumer;
	argv[argc++] = "COUNT";
	argv[argc++] = rs->count_s;
	if (!history) {
		argv[argc++] = "BLOCK";
		argv[argc++] = rs->block_s;
	}
	argv[argc++] = "STREAMS";
	for (size_t i = 0; i < rs->n_streams; i++)
		if (!history || !rs->streams[i].history_done)
			argv[argc++] = rs->streams[i].name;
	for (size_t i = 0; i < rs->n_streams; i++)
		if (!history)
			argv[argc++] = ">";
		else if (!rs->streams[i].history_done)
			argv[argc++] = rs->streams[i].cursor;
	if (redisAsyncCommandArgv(
	        rs->ac, read_cb, NULL, (int)argc, argv, NULL) != REDIS_OK) {
		conn_drop(rs);
		return;
	}
	rs->reading      = true;
	rs->history_read = history;
	arm(rs->ev_watch, (history ? 0 : rs->block_ms) + rs->timeout_ms);
}

static void
pump(struct rs *rs)
{
	if (rs->stopped)
		return;
	submit_todo(rs);
	if (rs->paused || rs->state != CONN_READY || rs->reading ||
	    !TAILQ_EMPTY(&rs->todo))
		return;
	read_next(rs);
}

static void
pump_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pump(arg);
}

/* ------------------------------------------------------------ claims */

static void
claim_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rs     *rs = ac->data;
	struct stream *s  = priv;
	redisReply    *r  = reply;
	struct walk    w  = {.rs = rs, .stream = -1, .claim = true};
	rs_visitor v = {.arg = &w, .stream = walk_stream, .entry = walk_entry};
	char       err[256], next[RS_ID_MAX];

	if (rs == NULL)
		return;
	rs->claiming--;
	if (r == NULL)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		rs->host->log_limited(rs->ctx, VIGIL_LOG_WARNING,
		    "%s: XAUTOCLAIM %s: %s%s", rs->where, s->name, r->str,
		    strncmp(r->str, "ERR unknown command", 19) == 0
		        ? " (XAUTOCLAIM needs Redis 6.2 or later)"
		        : "");
		return;
	}
	if (rs_walk_claim(r, rs->field, s->name, &v, next, sizeof(next), err,
	        sizeof(err)) != 0) {
		rs->host->log_limited(rs->ctx, VIGIL_LOG_ERR,
		    "%s: unexpected reply to XAUTOCLAIM: %s", rs->where, err);
		conn_drop(rs);
		return;
	}
	memcpy(s->claim_cursor, next, sizeof(next));
	pump(rs);
}

static void
claim_tick(evutil_socket_t fd, short what, void *arg)
{
	struct rs *rs = arg;

	(void)fd;
	(void)what;
	if (rs->state != CONN_READY || rs->stopped || rs->paused ||
	    rs->claiming > 0 || !TAILQ_EMPTY(&rs->todo))
		return;
	for (size_t i = 0; i < rs->n_streams; i++) {
		struct stream *s       = &rs->streams[i];
		const char    *argv[8] = {"XAUTOCLAIM", s->name, rs->group,
		       rs->consumer, rs->idle_s, s->claim_cursor, "COUNT",
		       rs->claim_count_s};

		if (redisAsyncCommandArgv(rs->ac, claim_cb, s, 8, argv, NULL) !=
		    REDIS_OK) {
			conn_drop(rs);
			return;
		}
		rs->claiming++;
	}
}

/* ------------------------------------------------------------ connection */

static void
setup_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rs  *rs   = ac->data;
	redisReply *r    = reply;
	const char *step = priv;

	if (rs == NULL || r == NULL)
		return;
	if (r->type == REDIS_REPLY_ERROR &&
	    !(strcmp(step, "XGROUP CREATE") == 0 &&
	        strncmp(r->str, "BUSYGROUP", 9) == 0)) {
		rs->host->log_limited(rs->ctx, VIGIL_LOG_ERR, "%s: %s: %s",
		    rs->where, step, r->str);
		conn_drop(rs);
		return;
	}
	if (--rs->setup_left > 0)
		return;
	rs->state      = CONN_READY;
	rs->backoff_ms = rs->reconnect_min_ms;
	rs->host->log(rs->ctx,
	    rs->had_failure ? VIGIL_LOG_NOTICE : VIGIL_LOG_INFO,
	    "%s: reading as consumer '%s' of group '%s'", rs->where,
	    rs->consumer, rs->group);
	rs->had_failure = false;
	pump(rs);
}

static int
send_setup(struct rs *rs)
{
	const char *auth[3] = {"AUTH", rs->password, NULL};
	const char *sel[2]  = {"SELECT", rs->db_s};
	const char *create[6];

	rs->setup_left = 0;
	if (rs->password != NULL) {
		if (rs->username != NULL) {
			auth[1] = rs->username;
			auth[2] = rs->password;
		}
		if (redisAsyncCommandArgv(rs->ac, setup_cb, (void *)"AUTH",
		        rs->username != NULL ? 3 : 2, auth, NULL) != REDIS_OK)
			return -1;
		rs->setup_left++;
	}
	if (rs->db != 0) {
		if (redisAsyncCommandArgv(rs->ac, setup_cb, (void *)"SELECT", 2,
		        sel, NULL) != REDIS_OK)
			return -1;
		rs->setup_left++;
	}
	for (size_t i = 0; i < rs->n_streams; i++) {
		create[0] = "XGROUP";
		create[1] = "CREATE";
		create[2] = rs->streams[i].name;
		create[3] = rs->group;
		create[4] = rs->start_id;
		create[5] = "MKSTREAM";
		if (redisAsyncCommandArgv(rs->ac, setup_cb,
		        (void *)"XGROUP CREATE", 6, create, NULL) != REDIS_OK)
			return -1;
		rs->setup_left++;
	}
	return 0;
}

static void
on_connect(const redisAsyncContext *cac, int status)
{
	struct rs *rs = cac->data;

	if (rs == NULL)
		return;
	event_del(rs->ev_watch);
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		rs->ac = NULL;
		rs->host->log_limited(rs->ctx, VIGIL_LOG_WARNING,
		    "%s: cannot connect: %s", rs->where, cac->errstr);
		conn_failed(rs);
		return;
	}
	/* A dead peer shows up on an idle TCP connection too (not unix). */
	if (rs->socket == NULL)
		redisEnableKeepAlive(&rs->ac->c);
	rs->state = CONN_SETUP;
	if (send_setup(rs) != 0) {
		conn_drop(rs);
		return;
	}
	flush_acks(rs);
}

static void
on_disconnect(const redisAsyncContext *cac, int status)
{
	struct rs *rs = cac->data;

	if (rs == NULL)
		return; /* we freed it */
	rs->ac = NULL;
	rs->host->log_limited(rs->ctx, VIGIL_LOG_WARNING,
	    "%s: connection lost: %s", rs->where,
	    status == REDIS_OK ? "closed" : cac->errstr);
	conn_failed(rs);
}

static void
connect_to(struct rs *rs, const char *ip)
{
	redisAsyncContext *ac = rs->socket != NULL
	    ? redisAsyncConnectUnix(rs->socket)
	    : redisAsyncConnect(ip, rs->port);

	if (ac == NULL || ac->err) {
		rs->host->log_limited(rs->ctx, VIGIL_LOG_WARNING,
		    "%s: cannot connect: %s", rs->where,
		    ac != NULL ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		conn_failed(rs);
		return;
	}
	ac->data = rs;
	if (redisLibeventAttach(ac, rs->base) != REDIS_OK) {
		ac->data = NULL;
		redisAsyncFree(ac);
		conn_failed(rs);
		return;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	rs->ac    = ac;
	rs->state = CONN_CONNECTING;
	arm(rs->ev_watch, rs->connect_timeout_ms);
}

static void
resolved(int errcode, struct evutil_addrinfo *res, void *arg)
{
	struct rs  *rs = arg;
	char        ip[INET6_ADDRSTRLEN];
	const void *addr;

	if (errcode == EVUTIL_EAI_CANCEL) {
		/* Given up (timeout or destroy): rs may be gone. */
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	rs->dns_req = NULL;
	event_del(rs->ev_watch);
	if (errcode != 0 || res == NULL) {
		rs->host->log_limited(rs->ctx, VIGIL_LOG_WARNING,
		    "%s: cannot resolve the host: %s", rs->where,
		    evutil_gai_strerror(errcode));
		if (res != NULL)
			evutil_freeaddrinfo(res);
		conn_failed(rs);
		return;
	}
	if (res->ai_family == AF_INET6)
		addr =
		    &((struct sockaddr_in6 *)(void *)res->ai_addr)->sin6_addr;
	else
		addr = &((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr;
	if (evutil_inet_ntop(res->ai_family, addr, ip, sizeof(ip)) == NULL) {
		evutil_freeaddrinfo(res);
		conn_failed(rs);
		return;
	}
	evutil_freeaddrinfo(res);
	connect_to(rs, ip);
}

static bool
is_numeric(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1;
}

static void
conn_open(struct rs *rs)
{
	struct evutil_addrinfo            hints = {0};
	struct evdns_getaddrinfo_request *req;

	if (rs->socket != NULL || is_numeric(rs->hostname)) {
		connect_to(rs, rs->hostname);
		return;
	}
	if (rs->dns == NULL &&
	    (rs->dns = evdns_base_new(rs->base,
	         EVDNS_BASE_INITIALIZE_NAMESERVERS |
	             EVDNS_BASE_DISABLE_WHEN_INACTIVE)) == NULL) {
		rs->host->log_limited(rs->ctx, VIGIL_LOG_ERR,
		    "%s: cannot set up the resolver", rs->where);
		conn_failed(rs);
		return;
	}
	hints.ai_family   = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	rs->state         = CONN_RESOLVING;
	arm(rs->ev_watch, rs->connect_timeout_ms);
	req = evdns_getaddrinfo(
	    rs->dns, rs->hostname, NULL, &hints, resolved, rs);
	/* The answer may have come at once (a numeric or /etc/hosts
	 * name), and req is then NULL. */
	if (rs->state == CONN_RESOLVING)
		rs->dns_req = req;
}

/* The connection is gone or never came: try again after the backoff.
 * Entries that were being read stay pending in Redis for this consumer
 * and are read again as history on the next connection. */
static void
conn_failed(struct rs *rs)
{
	rs->state       = CONN_DOWN;
	rs->reading     = false;
	rs->claiming    = 0;
	rs->had_failure = true;
	event_del(rs->ev_watch);
	for (size_t i = 0; i < rs->n_streams; i++) {
		rs->streams[i].history_done = false;
		strcpy(rs->streams[i].cursor, "0");
	}
	rs->host->counter_add(rs->c_lost, 1);
	rs->host->log_limited(rs->ctx, VIGIL_LOG_INFO,
	    "%s: connecting again in %" PRId64 " ms", rs->where,
	    rs->backoff_ms);
	arm(rs->ev_retry, rs->backoff_ms);
	rs->backoff_ms = rs->backoff_ms * 2 > rs->reconnect_max_ms
	    ? rs->reconnect_max_ms
	    : rs->backoff_ms * 2;
	if (rs->backoff_ms == 0)
		rs->backoff_ms = 1;
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_open(arg);
}

static void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rs *rs = arg;

	(void)fd;
	(void)what;
	if (rs->state == CONN_RESOLVING) {
		struct evdns_getaddrinfo_request *req = rs->dns_req;

		rs->dns_req = NULL;
		rs->state   = CONN_DOWN;
		if (req != NULL)
			evdns_getaddrinfo_cancel(req);
		rs->host->log_limited(rs->ctx, VIGIL_LOG_WARNING,
		    "%s: the host was not resolved within %" PRId64 " ms",
		    rs->where, rs->connect_timeout_ms);
		conn_failed(rs);
		return;
	}
	rs->host->log_limited(rs->ctx, VIGIL_LOG_WARNING,
	    rs->state == CONN_CONNECTING
	        ? "%s: no connection within the timeout; trying again"
	        : "%s: no reply within the timeout; connecting again",
	    rs->where);
	conn_drop(rs);
}

/* ------------------------------------------------------------ settings */

static int
check_streams(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	size_t n = host->cfg_count(cfg, "streams");

	if (n == 0) {
		snprintf(err, errlen,
		    "%s: setting 'streams': name at least one",
		    cfg_place(host, cfg, "streams"));
		return VIGIL_ERR;
	}
	for (size_t i = 0; i < n; i++) {
		const char *s = host->cfg_string_at(cfg, "streams", i);

		if (s == NULL || s[0] == '\0') {
			snprintf(err, errlen,
			    "%s: setting 'streams': an empty name",
			    cfg_place(host, cfg, "streams"));
			return VIGIL_ERR;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(s, host->cfg_string_at(cfg, "streams", k)) ==
			    0) {
				snprintf(err, errlen,
				    "%s: setting 'streams': '%s' twice",
				    cfg_place(host, cfg, "streams"), s);
				return VIGIL_ERR;
			}
	}
	return VIGIL_OK;
}

static int
nonempty(const vigil_host *host, const vigil_cfg *cfg, const char *name,
    bool may_be_unset, char *err, size_t errlen)
{
	const char *s = host->cfg_string(cfg, name);

	if ((s == NULL && may_be_unset) || (s != NULL && s[0] != '\0'))
		return VIGIL_OK;
	snprintf(err, errlen, "%s: setting '%s': must not be empty",
	    cfg_place(host, cfg, name), name);
	return VIGIL_ERR;
}

static int
rs_validate(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	const char *start = host->cfg_string(cfg, "start_id");
	const char *pw    = host->cfg_string(cfg, "password");
	const char *pwf   = host->cfg_string(cfg, "password_file");
	char        why[256];
	char       *secret;

	if (check_streams(host, cfg, err, errlen) != VIGIL_OK ||
	    nonempty(host, cfg, "group", false, err, errlen) != VIGIL_OK ||
	    nonempty(host, cfg, "field", false, err, errlen) != VIGIL_OK ||
	    nonempty(host, cfg, "consumer", true, err, errlen) != VIGIL_OK ||
	    nonempty(host, cfg, "username", true, err, errlen) != VIGIL_OK ||
	    nonempty(host, cfg, "socket", true, err, errlen) != VIGIL_OK)
		return VIGIL_ERR;
	if (host->cfg_string(cfg, "socket") == NULL &&
	    nonempty(host, cfg, "host", false, err, errlen) != VIGIL_OK)
		return VIGIL_ERR;
	if (!rs_start_id_valid(start)) {
		snprintf(err, errlen,
		    "%s: setting 'start_id': \"%s\" is not \"0\", \"$\" or an "
		    "entry id <ms>-<seq>",
		    cfg_place(host, cfg, "start_id"), start ? start : "");
		return VIGIL_ERR;
	}
	if (pw != NULL && pwf != NULL) {
		snprintf(err, errlen,
		    "%s: settings 'password' and 'password_file': give one",
		    cfg_place(host, cfg, "password_file"));
		return VIGIL_ERR;
	}
	if (host->cfg_string(cfg, "username") != NULL && pw == NULL &&
	    pwf == NULL) {
		snprintf(err, errlen,
		    "%s: setting 'username': needs 'password' or "
		    "'password_file'",
		    cfg_place(host, cfg, "username"));
		return VIGIL_ERR;
	}
	if (pwf != NULL) {
		if ((secret = rs_read_secret(pwf, why, sizeof(why))) == NULL) {
			snprintf(err, errlen, "%s: setting 'password_file': %s",
			    cfg_place(host, cfg, "password_file"), why);
			return VIGIL_ERR;
		}
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	if (host->cfg_int(cfg, "reconnect_min_ms") >
	    host->cfg_int(cfg, "reconnect_max_ms")) {
		snprintf(err, errlen,
		    "%s: setting 'reconnect_min_ms': more than "
		    "'reconnect_max_ms'",
		    cfg_place(host, cfg, "reconnect_min_ms"));
		return VIGIL_ERR;
	}
	return VIGIL_OK;
}

static char *
dup_setting(
    const vigil_host *host, const vigil_cfg *cfg, const char *name, bool *nomem)
{
	const char *s = host->cfg_string(cfg, name);
	char       *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*nomem = true;
	return d;
}

static char *
default_consumer(void)
{
	char host[256], buf[300];

	if (gethostname(host, sizeof(host)) != 0)
		strcpy(host, "vigild");
	host[sizeof(host) - 1] = '\0';
	snprintf(buf, sizeof(buf), "%s-%ld", host, (long)getpid());
	return strdup(buf);
}

static int
read_settings(struct rs *rs, const vigil_cfg *cfg)
{
	const vigil_host *host  = rs->host;
	bool              nomem = false;
	const char       *pwf   = host->cfg_string(cfg, "password_file");
	char              why[256];

	rs->n_streams = host->cfg_count(cfg, "streams");
	rs->streams   = calloc(rs->n_streams, sizeof(*rs->streams));
	rs->argv      = calloc(10 + 2 * rs->n_streams, sizeof(*rs->argv));
	if (rs->streams == NULL || rs->argv == NULL)
		return -1;
	for (size_t i = 0; i < rs->n_streams; i++) {
		rs->streams[i].name =
		    strdup(host->cfg_string_at(cfg, "streams", i));
		if (rs->streams[i].name == NULL)
			return -1;
		strcpy(rs->streams[i].cursor, "0");
		strcpy(rs->streams[i].claim_cursor, "0-0");
	}
	rs->group    = dup_setting(host, cfg, "group", &nomem);
	rs->field    = dup_setting(host, cfg, "field", &nomem);
	rs->start_id = dup_setting(host, cfg, "start_id", &nomem);
	rs->hostname = dup_setting(host, cfg, "host", &nomem);
	rs->socket   = dup_setting(host, cfg, "socket", &nomem);
	rs->username = dup_setting(host, cfg, "username", &nomem);
	rs->password = dup_setting(host, cfg, "password", &nomem);
	rs->consumer = dup_setting(host, cfg, "consumer", &nomem);
	if (rs->consumer == NULL && !nomem)
		rs->consumer = default_consumer();
	if (nomem || rs->consumer == NULL)
		return -1;
	if (pwf != NULL &&
	    (rs->password = rs_read_secret(pwf, why, sizeof(why))) == NULL) {
		host->log(rs->ctx, VIGIL_LOG_ERR,
		    "%s: setting 'password_file': %s",
		    cfg_place(host, cfg, "password_file"), why);
		return -1;
	}
	rs->port               = (int)host->cfg_int(cfg, "port");
	rs->db                 = host->cfg_int(cfg, "db");
	rs->block_ms           = host->cfg_int(cfg, "block_ms");
	rs->timeout_ms         = host->cfg_int(cfg, "timeout_ms");
	rs->connect_timeout_ms = host->cfg_int(cfg, "connect_timeout_ms");
	rs->claim_min_idle_ms  = host->cfg_int(cfg, "claim_min_idle_ms");
	rs->claim_interval_ms  = host->cfg_int(cfg, "claim_interval_ms");
	rs->reconnect_min_ms   = host->cfg_int(cfg, "reconnect_min_ms");
	rs->reconnect_max_ms   = host->cfg_int(cfg, "reconnect_max_ms");
	rs->backoff_ms         = rs->reconnect_min_ms;
	snprintf(rs->count_s, sizeof(rs->count_s), "%" PRId64,
	    host->cfg_int(cfg, "count"));
	snprintf(rs->block_s, sizeof(rs->block_s), "%" PRId64, rs->block_ms);
	snprintf(
	    rs->idle_s, sizeof(rs->idle_s), "%" PRId64, rs->claim_min_idle_ms);
	snprintf(rs->claim_count_s, sizeof(rs->claim_count_s), "%" PRId64,
	    host->cfg_int(cfg, "claim_count"));
	snprintf(rs->db_s, sizeof(rs->db_s), "%" PRId64, rs->db);
	if (rs->socket != NULL)
		snprintf(
		    rs->where, sizeof(rs->where), "redis unix:%s", rs->socket);
	else
		snprintf(rs->where, sizeof(rs->where),
		    strchr(rs->hostname, ':') ? "redis [%s]:%d" : "redis %s:%d",
		    rs->hostname, rs->port);
	return 0;
}

/* ------------------------------------------------------------ lifecycle */

static void rs_destroy(void *instance);

static int
rs_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	struct rs *rs = calloc(1, sizeof(*rs));
	char       err[512];

	if (rs == NULL) {
		host->log(ctx, VIGIL_LOG_ERR, "out of memory");
		return VIGIL_ERR;
	}
	rs->host = host;
	rs->ctx  = ctx;
	TAILQ_INIT(&rs->todo);
	TAILQ_INIT(&rs->inflight);
	TAILQ_INIT(&rs->acks);
	/* The host has validated; this guards against one that did not. */
	if (rs_validate(host, cfg, err, sizeof(err)) != VIGIL_OK) {
		host->log(ctx, VIGIL_LOG_ERR, "%s", err);
		goto fail;
	}
	if (read_settings(rs, cfg) != 0) {
		host->log(ctx, VIGIL_LOG_ERR, "cannot read the settings");
		goto fail;
	}
	rs->c_read    = host->counter(ctx, "redis_entries_read_total",
	       "Stream entries read (new, pending or claimed).");
	rs->c_invalid = host->counter(ctx, "redis_entries_invalid_total",
	    "Entries acknowledged without a verdict: no post field, or not "
	    "a valid post.");
	rs->c_gone    = host->counter(ctx, "redis_entries_gone_total",
	       "Pending entries trimmed from their stream before scoring.");
	rs->c_claimed = host->counter(ctx, "redis_entries_claimed_total",
	    "Entries taken over from other consumers (XAUTOCLAIM).");
	rs->c_lost    = host->counter(ctx, "redis_connection_failures_total",
	       "Connections lost or that could not be made.");
	*instance     = rs;
	return VIGIL_OK;
fail:
	rs_destroy(rs);
	return VIGIL_ERR;
}

static int
rs_start(void *instance)
{
	struct rs     *rs = instance;
	struct timeval tv;

	rs->base     = rs->host->event_base(rs->ctx);
	rs->ev_retry = evtimer_new(rs->base, retry_cb, rs);
	rs->ev_watch = evtimer_new(rs->base, watch_cb, rs);
	rs->ev_pump  = evtimer_new(rs->base, pump_cb, rs);
	rs->ev_claim = event_new(rs->base, -1, EV_PERSIST, claim_tick, rs);
	if (rs->ev_retry == NULL || rs->ev_watch == NULL ||
	    rs->ev_pump == NULL || rs->ev_claim == NULL) {
		rs->host->log(rs->ctx, VIGIL_LOG_ERR, "out of memory");
		return VIGIL_ERR;
	}
	if (rs->claim_interval_ms > 0) {
		tv.tv_sec  = (time_t)(rs->claim_interval_ms / 1000);
		tv.tv_usec = (suseconds_t)(rs->claim_interval_ms % 1000) * 1000;
		event_add(rs->ev_claim, &tv);
	}
	conn_open(rs);
	return VIGIL_OK;
}

static void
rs_pause(void *instance)
{
	struct rs *rs = instance;

	rs->paused = true;
}

static void
rs_resume(void *instance)
{
	struct rs *rs = instance;

	rs->paused = false;
	/* Not from inside the host's call: on the next turn of the loop. */
	schedule_pump(rs);
}

/* No more reading; acks still due go on being sent until destroy. */
static void
rs_stop(void *instance)
{
	struct rs           *rs = instance;
	struct stream_entry *e;

	rs->stopped = true;
	if (rs->ev_pump != NULL)
		event_del(rs->ev_pump);
	if (rs->ev_claim != NULL)
		event_del(rs->ev_claim);
	/* Unsubmitted entries stay pending for this consumer in Redis. */
	while ((e = TAILQ_FIRST(&rs->todo)) != NULL) {
		TAILQ_REMOVE(&rs->todo, e, link);
		tdelete(e, &rs->known, entry_cmp);
		free(e->post);
		free(e);
	}
	/* XACKs would wait behind a blocked XREADGROUP: a new connection
	 * takes them at once. */
	if (rs->reading && rs->ac != NULL) {
		redisAsyncContext *ac = rs->ac;

		rs->ac       = NULL;
		ac->data     = NULL;
		rs->reading  = false;
		rs->claiming = 0;
		rs->state    = CONN_DOWN;
		event_del(rs->ev_watch);
		redisAsyncFree(ac); /* its pending XACKs return to rs->acks */
		conn_open(rs);
	}
}

static void
free_event(struct event **ev)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
}

static void
free_entries(struct rs *rs, struct entry_list *list)
{
	struct stream_entry *e;

	while ((e = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, e, link);
		tdelete(e, &rs->known, entry_cmp);
		free(e->post);
		free(e);
	}
}

static void
rs_destroy(void *instance)
{
	struct rs     *rs = instance;
	struct ackrec *a;

	if (rs == NULL)
		return;
	if (rs->dns_req != NULL)
		evdns_getaddrinfo_cancel(rs->dns_req);
	if (rs->dns != NULL)
		evdns_base_free(rs->dns, 0);
	if (rs->ac != NULL) {
		redisAsyncContext *ac = rs->ac;
		int                done;

		/* The last XACKs: one write that does not wait. */
		if (rs->state == CONN_SETUP || rs->state == CONN_READY)
			redisBufferWrite(&ac->c, &done);
		rs->ac   = NULL;
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	free_event(&rs->ev_retry);
	free_event(&rs->ev_watch);
	free_event(&rs->ev_pump);
	free_event(&rs->ev_claim);
	free_entries(rs, &rs->todo);
	free_entries(rs, &rs->inflight);
	while ((a = TAILQ_FIRST(&rs->acks)) != NULL) {
		TAILQ_REMOVE(&rs->acks, a, link);
		free(a);
	}
	for (size_t i = 0; i < rs->n_streams && rs->streams != NULL; i++)
		free(rs->streams[i].name);
	free(rs->streams);
	free(rs->argv);
	if (rs->password != NULL)
		explicit_bzero(rs->password, strlen(rs->password));
	free(rs->password);
	free(rs->group);
	free(rs->field);
	free(rs->start_id);
	free(rs->hostname);
	free(rs->socket);
	free(rs->username);
	free(rs->consumer);
	free(rs);
}

static const vigil_plugin rs_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name        = "redis-streams",
    .version     = "1.0",
    .kind        = VIGIL_PLUGIN_INPUT,
    .description = "Posts from Redis streams, read as a consumer group "
                   "(XREADGROUP) and acknowledged once scored.",
    .settings    = rs_settings,
    .validate    = rs_validate,
    .init        = rs_init,
    .start       = rs_start,
    .stop        = rs_stop,
    .destroy     = rs_destroy,
    .pause       = rs_pause,
    .resume      = rs_resume,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &rs_plugin;
}
