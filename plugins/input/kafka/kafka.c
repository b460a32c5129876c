/*
 * kafka.c - input plugin that reads posts from Kafka topics as a member of
 * a consumer group (librdkafka). Each message's value is one post.
 *
 * The loop. librdkafka's threads do the network; its consumer queue (with
 * the main queue forwarded to it) is tied to a pipe that librdkafka writes
 * to when the queue becomes non-empty. The loop reads the pipe and polls
 * the queue with timeout 0, at most `batch` messages a turn, and a poll_ms
 * timer polls as a safety net. Rebalance, commit and error callbacks thus
 * run on the loop too, inside those polls.
 *
 * Offsets. Auto commit and auto offset store are off. Every submitted
 * message gets an entry in its partition's list, in offset order; an ack
 * marks it, and finished entries leave from the head only, so
 * next_commit (the offset after the last of them) never passes a message
 * whose verdict is not recorded, whatever order acks come in. A commit_ms
 * timer commits (async) the partitions whose next_commit moved.
 *
 * Backpressure. When submit says VIGIL_EAGAIN the message is kept, first
 * in `held`, and polling stops. A wait that lasts pause_grace_ms pauses
 * every assigned partition, and polling goes on (the group needs it):
 * whatever still arrives is held behind. resume() submits the held
 * messages in order, then resumes the partitions. Short waits thus keep
 * what librdkafka has fetched; pausing would drop it.
 *
 * Rebalances. On a revoke, what is finished is committed (async: the loop
 * never waits), held messages of those partitions are dropped, and their
 * acks still due only free memory: the new owner reads the unfinished
 * messages again (at-least-once; their alerts keep their ids). With the
 * cooperative protocol only the partitions named change hands.
 *
 * Stopping. stop() submits nothing more; once the last ack is in, the
 * final offsets are committed, and the consumer leaves its group only
 * when the broker has taken them: a commit refused while the group
 * rebalances is tried again, since the group would otherwise read those
 * messages again. Leaving happens in the background
 * (rd_kafka_consumer_close_queue). destroy() waits for what is left of
 * both, until close_timeout_ms after the stop's last ack, since
 * librdkafka's threads must be gone before the plugin's code can be
 * unloaded.
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
#include <unistd.h>

#include <event2/event.h>
#include <librdkafka/rdkafka.h>

#include <vigil/plugin.h>

#define SECRET_MAX    65536 /* bytes of a property read from a file */
#define HELD_MIN      16
#define OOM_RETRY_MS  100
#define STOP_RETRY_MS 100 /* at most, between final commits */

struct part;

/* A submitted message whose ack is due. */
struct entry {
	TAILQ_ENTRY(entry) link;
	struct part *part;
	int64_t      offset;
	bool         acked;
};
TAILQ_HEAD(entry_list, entry);

/* A partition we were assigned, and what of it is in flight. A revoked
 * one lives on until its last ack. */
struct part {
	TAILQ_ENTRY(part) link;
	struct kafka     *k;
	char             *topic;
	int32_t           partition;
	bool              revoked;
	bool              dirty;       /* next_commit not committed yet */
	int64_t           next_commit; /* -1: nothing finished yet */
	int64_t           next_offset; /* after the last one taken; -1 */
	struct entry_list inflight;
};
TAILQ_HEAD(part_list, part);

struct kafka {
	const vigil_host *host;
	vigil_ctx        *ctx;

	size_t  batch;
	int     poll_ms;
	int     commit_ms;
	int     pause_grace_ms;
	int64_t close_timeout_ms;
	char  **topics;
	size_t  n_topics;

	rd_kafka_t       *rk;
	rd_kafka_queue_t *queue;  /* the consumer queue */
	rd_kafka_queue_t *closeq; /* events while leaving the group */
	int               pipe[2];

	struct event *ev_pipe;   /* librdkafka has something for us */
	struct event *ev_poll;   /* the safety net */
	struct event *ev_more;   /* the next turn, when a batch was full */
	struct event *ev_commit; /* commits moved offsets */
	struct event *ev_retry;  /* after running out of memory */
	struct event *ev_grace;  /* a wait has lasted: pause partitions */

	struct part_list     parts;
	rd_kafka_message_t **held; /* refused or waiting, in arrival order */
	size_t               n_held, cap_held;
	size_t               inflight;

	bool host_paused; /* by pause(), until resume() */
	bool oom_paused;  /* by ourselves, for lack of memory */
	bool parts_paused;
	bool stopped;
	bool final_commit; /* stopped: the last commits are on their way */
	bool closing;      /* leaving the group */

	size_t  commits_out;     /* async commits not answered yet */
	int64_t commit_deadline; /* monotonic µs: the last commit */
	int64_t close_deadline;  /* and leaving the group */

	vigil_counter *c_messages, *c_invalid, *c_errors, *c_commit_failed,
	    *c_rebalances, *c_pauses, *c_redelivered;
};

static const vigil_setting property_settings[] = {
    {"name", VIGIL_SET_STRING, NULL,
        "A librdkafka configuration property, e.g. `security.protocol`, "
        "`sasl.mechanisms`, `sasl.username`, `ssl.ca.location`.",
        NULL, VIGIL_SET_REQUIRED, 0, 0},
    {"value", VIGIL_SET_STRING, NULL,
        "Its value. Never logged, nor shown in error messages of "
        "properties that may hold secrets.",
        NULL, VIGIL_SET_SECRET, 0, 0},
    {"file", VIGIL_SET_STRING, NULL,
        "A file whose content (less a final newline) is the value, for "
        "secrets such as `sasl.password`. Relative to the configuration "
        "file's directory.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting kafka_settings[] = {
    {"bootstrap_servers", VIGIL_SET_STRING, NULL,
        "Brokers to start from, `host:port` separated by commas "
        "(librdkafka's `bootstrap.servers`).",
        NULL, VIGIL_SET_REQUIRED, 0, 0},
    {"group_id", VIGIL_SET_STRING, NULL,
        "Consumer group (`group.id`). Instances in one group share the "
        "partitions; its committed offsets say where reading goes on.",
        NULL, VIGIL_SET_REQUIRED, 0, 0},
    {"topics", VIGIL_SET_STRINGS, NULL,
        "Topics to subscribe to; a name starting with `^` is a regular "
        "expression.",
        NULL, VIGIL_SET_REQUIRED, 0, 0},
    {"properties", VIGIL_SET_LIST, NULL,
        "Further librdkafka properties, each `{ name = \"...\"; value = "
        "\"...\"; }` or with `file` instead of `value`. "
        "`auto.offset.reset` is `earliest` unless set here; "
        "`enable.auto.commit` and `enable.auto.offset.store` are always "
        "false.",
        property_settings, 0, 0, 0},
    {"batch", VIGIL_SET_INT, "256",
        "Messages taken from librdkafka per turn of the event loop, so "
        "that a busy topic never holds up the daemon.",
        NULL, 0, 1, 65536},
    {"poll_ms", VIGIL_SET_INT, "100",
        "How often, in milliseconds, the consumer is polled when "
        "librdkafka has not signalled anything (a safety net).",
        NULL, 0, 10, 10000},
    {"commit_ms", VIGIL_SET_INT, "200",
        "How often, in milliseconds, the offsets of finished messages "
        "are committed (asynchronously).",
        NULL, 0, 10, 60000},
    {"pause_grace_ms", VIGIL_SET_INT, "500",
        "When the daemon is full, how long, in milliseconds, to leave "
        "fetched messages in librdkafka's queue before pausing the "
        "partitions (which drops them, to be fetched again on resume). "
        "0 pauses at once.",
        NULL, 0, 0, 60000},
    {"close_timeout_ms", VIGIL_SET_INT, "5000",
        "At shutdown or reload, how long to wait for the last commit "
        "(half of it; one refused while the group rebalances is tried "
        "again) and for leaving the group before the consumer is "
        "destroyed anyway.",
        NULL, 0, 0, 60000},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

/* Properties that the plugin sets itself. */
static const char *const reserved[] = {"bootstrap.servers",
    "metadata.broker.list", "group.id", "enable.auto.commit",
    "enable.auto.offset.store", NULL};

static void pump(struct kafka *k);
static void retry_cb(evutil_socket_t fd, short what, void *arg);
static void grace_cb(evutil_socket_t fd, short what, void *arg);
static void begin_close(struct kafka *k);

/* ------------------------------------------------------------ settings */

static const char *
cfg_place(const vigil_host *host, const vigil_cfg *cfg, const char *name)
{
	const char *w = host->cfg_where(cfg, name);

	return w != NULL ? w : "(config)";
}

/* Values of these may be secret: errors never show them. */
static bool
sensitive(const char *name)
{
	static const char *const words[] = {
	    "password", "secret", "key", "token", "jaas", "oauthbearer", NULL};

	for (size_t i = 0; words[i] != NULL; i++)
		if (strstr(name, words[i]) != NULL)
			return true;
	return false;
}

/* Reads a secret from a file; the caller frees it (after wiping). */
static char *
read_secret(const char *path, char *why, size_t whylen)
{
	char   *buf = NULL;
	size_t  len = 0;
	ssize_t n;
	int     fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return NULL;
	}
	if ((buf = malloc(SECRET_MAX + 1)) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	while (len < SECRET_MAX) {
		n = read(fd, buf + len, SECRET_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, whylen, "%s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == SECRET_MAX) {
		snprintf(why, whylen, "longer than %d bytes", SECRET_MAX);
		goto fail;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	close(fd);
	return buf;
fail:
	if (buf != NULL) {
		memset(buf, 0, len);
		free(buf);
	}
	close(fd);
	return NULL;
}

static void
wipe_free(char *s)
{
	if (s == NULL)
		return;
	memset(s, 0, strlen(s));
	free(s);
}

/* Sets one property; on error err names the setting's place. */
static int
set_prop(rd_kafka_conf_t *conf, const char *name, const char *value,
    const char *where, char *err, size_t errlen)
{
	char                why[512];
	rd_kafka_conf_res_t res;

	res = rd_kafka_conf_set(conf, name, value, why, sizeof(why));
	if (res == RD_KAFKA_CONF_OK)
		return 0;
	if (res == RD_KAFKA_CONF_UNKNOWN)
		snprintf(err, errlen,
		    "%s: property '%s': not a librdkafka property", where,
		    name);
	else if (sensitive(name))
		snprintf(err, errlen,
		    "%s: property '%s': invalid value (not shown: it may "
		    "be secret)",
		    where, name);
	else
		snprintf(
		    err, errlen, "%s: property '%s': %s", where, name, why);
	return -1;
}

/* One element of the properties list. */
static int
add_property(const vigil_host *host, const vigil_cfg *p, rd_kafka_conf_t *conf,
    char *err, size_t errlen)
{
	const char *name  = host->cfg_string(p, "name");
	const char *value = host->cfg_string(p, "value");
	const char *file  = host->cfg_string(p, "file");
	const char *where = cfg_place(host, p, NULL);
	char       *secret, why[256];
	int         rc;

	for (size_t i = 0; reserved[i] != NULL; i++) {
		if (strcmp(name, reserved[i]) == 0) {
			snprintf(err, errlen,
			    "%s: property '%s' is set by the plugin "
			    "itself%s",
			    where, name,
			    strncmp(name, "enable.", 7) == 0
			        ? ""
			        : " (use bootstrap_servers, group_id)");
			return -1;
		}
	}
	if ((value == NULL) == (file == NULL)) {
		snprintf(err, errlen,
		    "%s: property '%s': give exactly one of 'value' and "
		    "'file'",
		    where, name);
		return -1;
	}
	if (value != NULL)
		return set_prop(conf, name, value, where, err, errlen);
	if ((secret = read_secret(file, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "%s: property '%s': cannot read %s: %s",
		    where, name, file, why);
		return -1;
	}
	/* From a file: treated as secret whatever its name. */
	rc = rd_kafka_conf_set(conf, name, secret, why, sizeof(why));
	wipe_free(secret);
	if (rc == RD_KAFKA_CONF_OK)
		return 0;
	snprintf(err, errlen,
	    "%s: property '%s': %s (the value from %s is not shown)", where,
	    name,
	    rc == RD_KAFKA_CONF_UNKNOWN ? "not a librdkafka property"
	                                : "invalid value",
	    file);
	return -1;
}

/* librdkafka's configuration from the settings; NULL with err set. */
static rd_kafka_conf_t *
build_conf(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	size_t           n    = host->cfg_count(cfg, "properties");

	if (conf == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (set_prop(conf, "auto.offset.reset", "earliest", "(default)", err,
	        errlen) != 0 ||
	    set_prop(conf, "client.id", "vigil", "(default)", err, errlen) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (add_property(host, host->cfg_list_at(cfg, "properties", i),
		        conf, err, errlen) != 0)
			goto fail;
	if (set_prop(conf, "bootstrap.servers",
	        host->cfg_string(cfg, "bootstrap_servers"),
	        cfg_place(host, cfg, "bootstrap_servers"), err, errlen) != 0 ||
	    set_prop(conf, "group.id", host->cfg_string(cfg, "group_id"),
	        cfg_place(host, cfg, "group_id"), err, errlen) != 0 ||
	    set_prop(conf, "enable.auto.commit", "false", "(plugin)", err,
	        errlen) != 0 ||
	    set_prop(conf, "enable.auto.offset.store", "false", "(plugin)", err,
	        errlen) != 0)
		goto fail;
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

static int
kafka_validate(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf;
	const char      *s;

	s = host->cfg_string(cfg, "bootstrap_servers");
	if (s == NULL || s[0] == '\0') {
		snprintf(err, errlen,
		    "%s: setting 'bootstrap_servers': must name at least "
		    "one broker",
		    cfg_place(host, cfg, "bootstrap_servers"));
		return VIGIL_ERR;
	}
	s = host->cfg_string(cfg, "group_id");
	if (s == NULL || s[0] == '\0') {
		snprintf(err, errlen,
		    "%s: setting 'group_id': must not be empty",
		    cfg_place(host, cfg, "group_id"));
		return VIGIL_ERR;
	}
	if (host->cfg_count(cfg, "topics") == 0) {
		snprintf(err, errlen,
		    "%s: setting 'topics': must name at least one topic",
		    cfg_place(host, cfg, "topics"));
		return VIGIL_ERR;
	}
	for (size_t i = 0; i < host->cfg_count(cfg, "topics"); i++) {
		if (host->cfg_string_at(cfg, "topics", i)[0] == '\0') {
			snprintf(err, errlen,
			    "%s: setting 'topics': an empty topic name",
			    cfg_place(host, cfg, "topics"));
			return VIGIL_ERR;
		}
	}
	if ((conf = build_conf(host, cfg, err, errlen)) == NULL)
		return VIGIL_ERR;
	rd_kafka_conf_destroy(conf);
	return VIGIL_OK;
}

/* ------------------------------------------------------------ partitions */

static struct part *
part_find(struct kafka *k, const char *topic, int32_t partition)
{
	struct part *p;

	TAILQ_FOREACH (p, &k->parts, link)
		if (!p->revoked && p->partition == partition &&
		    strcmp(p->topic, topic) == 0)
			return p;
	return NULL;
}

static struct part *
part_new(struct kafka *k, const char *topic, int32_t partition)
{
	struct part *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->topic = strdup(topic)) == NULL) {
		free(p);
		return NULL;
	}
	p->k           = k;
	p->partition   = partition;
	p->next_commit = -1;
	p->next_offset = -1;
	TAILQ_INIT(&p->inflight);
	TAILQ_INSERT_TAIL(&k->parts, p, link);
	return p;
}

static void
part_free(struct part *p)
{
	struct entry *e;

	TAILQ_REMOVE(&p->k->parts, p, link);
	while ((e = TAILQ_FIRST(&p->inflight)) != NULL) {
		TAILQ_REMOVE(&p->inflight, e, link);
		free(e);
	}
	free(p->topic);
	free(p);
}

/* ------------------------------------------------------------ commits */

static void
schedule_commit(struct kafka *k)
{
	/* A stop does not wait a whole commit_ms to try again. */
	int ms = k->final_commit && k->commit_ms > STOP_RETRY_MS ? STOP_RETRY_MS
	                                                         : k->commit_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	if (k->ev_commit != NULL && !evtimer_pending(k->ev_commit, NULL))
		evtimer_add(k->ev_commit, &tv);
}

/* Commits (async) the dirty partitions that pass filter. */
static void
commit_parts(
    struct kafka *k, bool (*filter)(const struct part *, void *), void *arg)
{
	rd_kafka_topic_partition_list_t *list;
	rd_kafka_resp_err_t              err;
	struct part                     *p;

	if (k->rk == NULL)
		return;
	list = rd_kafka_topic_partition_list_new(4);
	if (list == NULL)
		return;
	TAILQ_FOREACH (p, &k->parts, link) {
		if (!p->dirty || p->revoked || !filter(p, arg))
			continue;
		rd_kafka_topic_partition_list_add(list, p->topic, p->partition)
		    ->offset = p->next_commit;
		p->dirty     = false;
	}
	if (list->cnt > 0) {
		err = rd_kafka_commit(k->rk, list, 1);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			k->commits_out++;
		else {
			k->host->counter_add(k->c_commit_failed, 1);
			k->host->log_limited(k->ctx, VIGIL_LOG_WARNING,
			    "cannot commit offsets: %s; will try again",
			    rd_kafka_err2str(err));
			for (int i = 0; i < list->cnt; i++) {
				p = part_find(k, list->elems[i].topic,
				    list->elems[i].partition);
				if (p != NULL)
					p->dirty = true;
			}
			schedule_commit(k);
		}
	}
	rd_kafka_topic_partition_list_destroy(list);
}

static bool
any_part(const struct part *p, void *arg)
{
	(void)p;
	(void)arg;
	return true;
}

static bool
any_dirty(const struct kafka *k)
{
	const struct part *p;

	TAILQ_FOREACH (p, &k->parts, link)
		if (p->dirty && !p->revoked)
			return true;
	return false;
}

static void leave_group(struct kafka *k);

/* Stopping: leaves the group once every commit is answered and nothing
 * is left to commit, or once half of close_timeout_ms is up (leaving has
 * the other half). Not from inside a librdkafka callback: callers run it
 * after their poll. */
static void
maybe_leave(struct kafka *k)
{
	if (!k->final_commit || k->closing)
		return;
	if (k->commits_out > 0 || any_dirty(k)) {
		if (k->host->now_monotonic() < k->commit_deadline)
			return;
		if (k->close_timeout_ms > 0)
			k->host->log(k->ctx, VIGIL_LOG_WARNING,
			    "stopping: final commit not confirmed within "
			    "%" PRId64 " ms; leaving the group anyway (what "
			    "it did not take is read again)",
			    k->close_timeout_ms / 2);
	}
	leave_group(k);
}

static void
commit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kafka *k = arg;

	(void)fd;
	(void)what;
	commit_parts(k, any_part, NULL);
	maybe_leave(k);
	/* While stopping, also the clock for close_timeout_ms. */
	if (k->final_commit && !k->closing)
		schedule_commit(k);
}

/* Refusals that a later try can overcome: the group rebalancing, its
 * coordinator moving or loading, the network. */
static bool
retriable_commit_error(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
	case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
	case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
	case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
	case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
	case RD_KAFKA_RESP_ERR__TRANSPORT:
	case RD_KAFKA_RESP_ERR__TIMED_OUT: return true;
	default: return false;
	}
}

/* Runs on the loop, inside a poll: failed partitions are committed again
 * on the next round. */
static void
offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	struct kafka *k = opaque;
	struct part  *p;
	bool          retry, some_failed = false;

	if (k->commits_out > 0)
		k->commits_out--;
	/* A stop's poll returns at once to see whether it can leave. */
	if (k->final_commit)
		rd_kafka_yield(rk);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR ||
	    err == RD_KAFKA_RESP_ERR__NO_OFFSET)
		return;
	/* A stop waits only for what another try can fix. */
	retry = !k->final_commit || retriable_commit_error(err);
	k->host->counter_add(k->c_commit_failed, 1);
	k->host->log_limited(k->ctx, VIGIL_LOG_WARNING,
	    "offset commit failed: %s; %s", rd_kafka_err2str(err),
	    retry ? "will try again" : "not tried again");
	if (!retry)
		return;
	/* The request's error repeats a partition's, if one failed. */
	for (int i = 0; offsets != NULL && i < offsets->cnt; i++)
		if (offsets->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
			some_failed = true;
	for (int i = 0; offsets != NULL && i < offsets->cnt; i++) {
		if (some_failed &&
		    offsets->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
			continue;
		p = part_find(
		    k, offsets->elems[i].topic, offsets->elems[i].partition);
		if (p != NULL && p->next_commit == offsets->elems[i].offset)
			p->dirty = true;
	}
	schedule_commit(k);
}

/* ------------------------------------------------------------ acks */

static void
kafka_ack(void *arg, int status, const char *reason)
{
	struct entry *e = arg;
	struct part  *p = e->part;
	struct kafka *k = p->k;

	(void)reason; /* the host has logged it with our source:line */
	if (status == VIGIL_ACK_INVALID)
		k->host->counter_add(k->c_invalid, 1);
	e->acked = true;
	k->inflight--;
	while ((e = TAILQ_FIRST(&p->inflight)) != NULL && e->acked) {
		TAILQ_REMOVE(&p->inflight, e, link);
		p->next_commit = e->offset + 1;
		p->dirty       = true;
		free(e);
	}
	if (p->revoked && TAILQ_EMPTY(&p->inflight))
		part_free(p);
	else if (p->dirty)
		schedule_commit(k);
	if (k->stopped && k->inflight == 0)
		begin_close(k);
}

/* ------------------------------------------------------------ pausing */

static void
pause_parts(struct kafka *k, bool pause)
{
	rd_kafka_topic_partition_list_t *list = NULL;

	if (k->rk == NULL || k->parts_paused == pause ||
	    (!pause && k->final_commit))
		return;
	if (rd_kafka_assignment(k->rk, &list) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	if (pause) {
		rd_kafka_pause_partitions(k->rk, list);
		if (!k->final_commit) /* a stop's pause is no backpressure */
			k->host->counter_add(k->c_pauses, 1);
	} else {
		rd_kafka_resume_partitions(k->rk, list);
	}
	k->parts_paused = pause;
	rd_kafka_topic_partition_list_destroy(list);
}

static bool
blocked(const struct kafka *k)
{
	return k->host_paused || k->oom_paused;
}

/* A wait begins. A short one leaves librdkafka's prefetched messages in
 * its queue (pausing would drop them, to be fetched again); one that
 * lasts pause_grace_ms pauses the partitions, so that polling can go on
 * for the group's sake. */
static void
begin_wait(struct kafka *k)
{
	struct timeval tv = {
	    k->pause_grace_ms / 1000, (k->pause_grace_ms % 1000) * 1000};

	if (k->pause_grace_ms == 0 || k->ev_grace == NULL)
		pause_parts(k, true);
	else if (!k->parts_paused && !evtimer_pending(k->ev_grace, NULL))
		evtimer_add(k->ev_grace, &tv);
}

/* The wait is over. */
static void
end_wait(struct kafka *k)
{
	if (blocked(k))
		return;
	if (k->ev_grace != NULL)
		event_del(k->ev_grace);
	if (k->n_held == 0)
		pause_parts(k, false);
}

static void
schedule_more(struct kafka *k)
{
	if (k->ev_more != NULL && !k->closing)
		event_active(k->ev_more, EV_TIMEOUT, 0);
}

/* Out of our own memory: wait, then go on as after a resume. */
static void
self_pause(struct kafka *k)
{
	struct timeval tv = {0, OOM_RETRY_MS * 1000};

	k->host->log_limited(k->ctx, VIGIL_LOG_ERR,
	    "out of memory; pausing for %d ms", OOM_RETRY_MS);
	k->oom_paused = true;
	begin_wait(k);
	if (k->ev_retry != NULL)
		evtimer_add(k->ev_retry, &tv);
}

/* Keeps a message for later, behind those already held. */
static bool
hold(struct kafka *k, rd_kafka_message_t *m)
{
	rd_kafka_message_t **arr;
	size_t               cap;

	if (k->n_held == k->cap_held) {
		cap = k->cap_held ? k->cap_held * 2 : HELD_MIN;
		arr = realloc(k->held, cap * sizeof(*arr));
		if (arr == NULL)
			return false;
		k->held     = arr;
		k->cap_held = cap;
	}
	k->held[k->n_held++] = m;
	return true;
}

/* Without memory to hold it, the message is fetched again: its
 * partition goes back to its offset. */
static void
refetch(struct kafka *k, rd_kafka_message_t *m)
{
	rd_kafka_resp_err_t err;
	struct part        *p =
	    part_find(k, rd_kafka_topic_name(m->rkt), m->partition);

	if (p != NULL && p->next_offset > m->offset)
		p->next_offset = m->offset; /* it is to come again */
	err = rd_kafka_seek(m->rkt, m->partition, m->offset, 0);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		k->host->log_limited(k->ctx, VIGIL_LOG_ERR,
		    "%s/%" PRId32 ": cannot go back to offset %" PRId64 ": %s",
		    rd_kafka_topic_name(m->rkt), m->partition, m->offset,
		    rd_kafka_err2str(err));
	rd_kafka_message_destroy(m);
}

static void
hold_or_refetch(struct kafka *k, rd_kafka_message_t *m)
{
	if (!hold(k, m))
		refetch(k, m);
}

/* ------------------------------------------------------------ messages */

/* VIGIL_OK: submitted (or nothing to submit); VIGIL_EAGAIN: keep m. */
static int
submit_one(struct kafka *k, struct part *p, rd_kafka_message_t *m)
{
	char          source[320];
	struct entry *e;
	vigil_submit  opts = {.struct_size = sizeof(opts)};
	int           rc;

	if ((e = calloc(1, sizeof(*e))) == NULL) {
		self_pause(k);
		return VIGIL_EAGAIN;
	}
	e->part   = p;
	e->offset = m->offset;
	snprintf(source, sizeof(source), "kafka:%s/%" PRId32,
	    rd_kafka_topic_name(m->rkt), m->partition);
	opts.source  = source;
	opts.line    = (uint64_t)m->offset + 1;
	opts.ack     = kafka_ack;
	opts.ack_arg = e;
	rc           = k->host->submit(
	              k->ctx, m->payload ? (const char *)m->payload : "", m->len, &opts);
	if (rc == VIGIL_EAGAIN) {
		free(e);
		return VIGIL_EAGAIN;
	}
	if (rc != VIGIL_OK) {
		/* Refused for good (too large, say; logged and counted by
		 * the host): finished without an ack. */
		e->acked = true;
		TAILQ_INSERT_TAIL(&p->inflight, e, link);
		k->inflight++;
		kafka_ack(e, VIGIL_ACK_INVALID, NULL);
		return VIGIL_OK;
	}
	TAILQ_INSERT_TAIL(&p->inflight, e, link);
	k->inflight++;
	return VIGIL_OK;
}

/* Submits the held messages in order. False when the host is full
 * again. */
static bool
submit_held(struct kafka *k)
{
	size_t i = 0;
	int    rc;

	while (i < k->n_held && !blocked(k) && !k->stopped) {
		rd_kafka_message_t *m = k->held[i];
		struct part        *p =
		    part_find(k, rd_kafka_topic_name(m->rkt), m->partition);

		if (p != NULL) {
			rc = submit_one(k, p, m);
			if (rc == VIGIL_EAGAIN)
				break;
		}
		rd_kafka_message_destroy(m);
		i++;
	}
	memmove(k->held, k->held + i, (k->n_held - i) * sizeof(*k->held));
	k->n_held -= i;
	return k->n_held == 0;
}

static void
drop_held(struct kafka *k, bool (*which)(const rd_kafka_message_t *, void *),
    void               *arg)
{
	size_t kept = 0;

	for (size_t i = 0; i < k->n_held; i++) {
		if (which(k->held[i], arg))
			rd_kafka_message_destroy(k->held[i]);
		else
			k->held[kept++] = k->held[i];
	}
	k->n_held = kept;
}

static void
consumer_error(struct kafka *k, rd_kafka_message_t *m)
{
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		return;
	k->host->counter_add(k->c_errors, 1);
	if (m->rkt != NULL)
		k->host->log_limited(k->ctx, VIGIL_LOG_WARNING,
		    "%s/%" PRId32 ": %s", rd_kafka_topic_name(m->rkt),
		    m->partition, rd_kafka_message_errstr(m));
	else
		k->host->log_limited(k->ctx, VIGIL_LOG_WARNING, "consumer: %s",
		    rd_kafka_message_errstr(m));
}

static void
on_message(struct kafka *k, rd_kafka_message_t *m)
{
	struct part *p;

	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		consumer_error(k, m);
		rd_kafka_message_destroy(m);
		return;
	}
	if (k->stopped) {
		/* Whoever reads the partition next gets it: its offset
		 * is not committed. */
		rd_kafka_message_destroy(m);
		return;
	}
	p = part_find(k, rd_kafka_topic_name(m->rkt), m->partition);
	if (p == NULL)
		p = part_new(k, rd_kafka_topic_name(m->rkt), m->partition);
	if (p == NULL) {
		self_pause(k);
		refetch(k, m);
		return;
	}
	/* librdkafka 2.0 (Debian 12) can go back to an earlier offset when
	 * partitions are resumed, under the cooperative assignor (its issues
	 * 4637 and 4686): what this member already took is not taken twice. */
	if (p->next_offset >= 0 && m->offset < p->next_offset) {
		k->host->counter_add(k->c_redelivered, 1);
		rd_kafka_message_destroy(m);
		return;
	}
	p->next_offset = m->offset + 1;
	k->host->counter_add(k->c_messages, 1);
	if (blocked(k) || k->n_held > 0) {
		hold_or_refetch(k, m);
		return;
	}
	if (submit_one(k, p, m) == VIGIL_EAGAIN) {
		/* The host has called pause() (or we did). */
		hold_or_refetch(k, m);
		return;
	}
	rd_kafka_message_destroy(m);
}

/* Drains the pipe librdkafka writes to. */
static void
drain_pipe(struct kafka *k)
{
	char buf[64];

	while (read(k->pipe[0], buf, sizeof(buf)) > 0)
		;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *list, void *opaque);

/* An event while leaving the group: the last revoke comes as one, and
 * the close waits until it is answered. */
static void
close_event(struct kafka *k, rd_kafka_event_t *ev)
{
	if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
		rebalance_cb(k->rk, rd_kafka_event_error(ev),
		    rd_kafka_event_topic_partition_list(ev), k);
	rd_kafka_event_destroy(ev);
}

/* Leaving the group: serve the close queue until it is done. */
static void
pump_close(struct kafka *k)
{
	rd_kafka_event_t *ev;

	while ((ev = rd_kafka_queue_poll(k->closeq, 0)) != NULL)
		close_event(k, ev);
}

/* One turn: held messages first, then up to batch from librdkafka. */
static void
pump(struct kafka *k)
{
	rd_kafka_message_t *m;

	if (k->rk == NULL)
		return;
	drain_pipe(k);
	if (k->closing) {
		pump_close(k);
		return;
	}
	if (k->final_commit) {
		/* For the commit answers and rebalances: messages that still
		 * come are dropped (on_message). */
		size_t n = 0;

		while (n < k->batch &&
		    (m = rd_kafka_consumer_poll(k->rk, 0)) != NULL) {
			on_message(k, m);
			n++;
		}
		maybe_leave(k);
		if (n == k->batch)
			schedule_more(k);
		return;
	}
	if (!blocked(k) && k->n_held > 0 && submit_held(k))
		pause_parts(k, false);
	for (size_t n = 0; n < k->batch; n++) {
		/* A short wait: messages stay in librdkafka's queue. */
		if (blocked(k) && !k->parts_paused)
			return;
		m = rd_kafka_consumer_poll(k->rk, 0);
		if (m == NULL)
			return;
		on_message(k, m);
		if (k->closing)
			return;
	}
	schedule_more(k);
}

static void
pump_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pump(arg);
}

/* ------------------------------------------------------------ rebalances */

static bool
listed(const struct part *p, void *arg)
{
	const rd_kafka_topic_partition_list_t *list = arg;

	for (int i = 0; i < list->cnt; i++)
		if (list->elems[i].partition == p->partition &&
		    strcmp(list->elems[i].topic, p->topic) == 0)
			return true;
	return false;
}

static bool
held_listed(const rd_kafka_message_t *m, void *arg)
{
	const rd_kafka_topic_partition_list_t *list = arg;

	for (int i = 0; i < list->cnt; i++)
		if (list->elems[i].partition == m->partition &&
		    strcmp(list->elems[i].topic, rd_kafka_topic_name(m->rkt)) ==
		        0)
			return true;
	return false;
}

static void
assign_parts(struct kafka *k, rd_kafka_topic_partition_list_t *list, bool coop)
{
	rd_kafka_error_t   *error = NULL;
	rd_kafka_resp_err_t err   = RD_KAFKA_RESP_ERR_NO_ERROR;

	/* Without memory here, on_message makes the part later. */
	for (int i = 0; i < list->cnt; i++)
		if (part_find(k, list->elems[i].topic,
		        list->elems[i].partition) == NULL)
			part_new(
			    k, list->elems[i].topic, list->elems[i].partition);
	if (coop)
		error = rd_kafka_incremental_assign(k->rk, list);
	else
		err = rd_kafka_assign(k->rk, list);
	if (error != NULL) {
		k->host->log(k->ctx, VIGIL_LOG_ERR, "assign: %s",
		    rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	} else if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		k->host->log(
		    k->ctx, VIGIL_LOG_ERR, "assign: %s", rd_kafka_err2str(err));
	}
	if (k->parts_paused)
		rd_kafka_pause_partitions(k->rk, list);
}

static void
revoke_parts(struct kafka *k, rd_kafka_topic_partition_list_t *list, bool coop)
{
	rd_kafka_error_t *error = NULL;
	struct part      *p, *next;

	/* Lost partitions belong to someone else already: no commit. */
	if (!rd_kafka_assignment_lost(k->rk))
		commit_parts(k, listed, list);
	drop_held(k, held_listed, list);
	for (p = TAILQ_FIRST(&k->parts); p != NULL; p = next) {
		next = TAILQ_NEXT(p, link);
		if (p->revoked || !listed(p, list))
			continue;
		p->revoked = true;
		if (TAILQ_EMPTY(&p->inflight))
			part_free(p);
	}
	if (coop)
		error = rd_kafka_incremental_unassign(k->rk, list);
	else
		rd_kafka_assign(k->rk, NULL);
	if (error != NULL) {
		k->host->log(k->ctx, VIGIL_LOG_ERR, "unassign: %s",
		    rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	}
}

static void
log_parts(struct kafka *k, const char *what,
    const rd_kafka_topic_partition_list_t *list)
{
	char   buf[512] = "";
	size_t len      = 0;

	for (int i = 0; i < list->cnt && len < sizeof(buf); i++) {
		int n = snprintf(buf + len, sizeof(buf) - len, "%s%s/%" PRId32,
		    i ? " " : "", list->elems[i].topic,
		    list->elems[i].partition);
		if (n < 0)
			break;
		len += (size_t)n;
	}
	k->host->log(k->ctx, VIGIL_LOG_INFO, "%s %d partition(s): %s", what,
	    list->cnt, buf);
}

static void
rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *list, void *opaque)
{
	struct kafka *k = opaque;
	bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

	k->host->counter_add(k->c_rebalances, 1);
	switch (err) {
	case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
		log_parts(k, "assigned", list);
		assign_parts(k, list, coop);
		break;
	case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
		log_parts(k, "revoked", list);
		revoke_parts(k, list, coop);
		break;
	default:
		k->host->log(k->ctx, VIGIL_LOG_ERR, "rebalance failed: %s",
		    rd_kafka_err2str(err));
		revoke_parts(k, list, coop);
		break;
	}
}

/* ------------------------------------------------------------ logging */

static void
log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	struct kafka *k = rd_kafka_opaque(rk);

	if (level <= VIGIL_LOG_WARNING)
		k->host->log_limited(k->ctx,
		    level < VIGIL_LOG_ERR ? VIGIL_LOG_ERR : level,
		    "librdkafka %s: %s", fac, buf);
	else
		k->host->log(k->ctx,
		    level > VIGIL_LOG_DEBUG ? VIGIL_LOG_DEBUG : level,
		    "librdkafka %s: %s", fac, buf);
}

static void
error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka *k = opaque;

	(void)rk;
	k->host->counter_add(k->c_errors, 1);
	k->host->log_limited(k->ctx,
	    err == RD_KAFKA_RESP_ERR__FATAL ? VIGIL_LOG_ERR : VIGIL_LOG_WARNING,
	    "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* ------------------------------------------------------------ lifecycle */

static void kafka_destroy(void *instance);

static int
copy_topics(struct kafka *k, const vigil_cfg *cfg)
{
	k->n_topics = k->host->cfg_count(cfg, "topics");
	k->topics   = calloc(k->n_topics, sizeof(*k->topics));
	if (k->topics == NULL)
		return -1;
	for (size_t i = 0; i < k->n_topics; i++)
		if ((k->topics[i] = strdup(
		         k->host->cfg_string_at(cfg, "topics", i))) == NULL)
			return -1;
	return 0;
}

static int
kafka_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	struct kafka    *k = calloc(1, sizeof(*k));
	rd_kafka_conf_t *conf;
	char             err[512];

	if (k == NULL) {
		host->log(ctx, VIGIL_LOG_ERR, "out of memory");
		return VIGIL_ERR;
	}
	k->host    = host;
	k->ctx     = ctx;
	k->pipe[0] = k->pipe[1] = -1;
	TAILQ_INIT(&k->parts);
	k->batch            = (size_t)host->cfg_int(cfg, "batch");
	k->poll_ms          = (int)host->cfg_int(cfg, "poll_ms");
	k->commit_ms        = (int)host->cfg_int(cfg, "commit_ms");
	k->pause_grace_ms   = (int)host->cfg_int(cfg, "pause_grace_ms");
	k->close_timeout_ms = host->cfg_int(cfg, "close_timeout_ms");
	if (copy_topics(k, cfg) != 0) {
		host->log(ctx, VIGIL_LOG_ERR, "out of memory");
		goto fail;
	}
	if (kafka_validate(host, cfg, err, sizeof(err)) != VIGIL_OK ||
	    (conf = build_conf(host, cfg, err, sizeof(err))) == NULL) {
		host->log(ctx, VIGIL_LOG_ERR, "%s", err);
		goto fail;
	}
	rd_kafka_conf_set_opaque(conf, k);
	rd_kafka_conf_set_log_cb(conf, log_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	rd_kafka_conf_set_offset_commit_cb(conf, offset_commit_cb);
	/* On success rd_kafka_new owns conf. */
	k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (k->rk == NULL) {
		rd_kafka_conf_destroy(conf);
		host->log(
		    ctx, VIGIL_LOG_ERR, "cannot create the consumer: %s", err);
		goto fail;
	}
	k->c_messages      = host->counter(ctx, "kafka_messages_total",
	         "Messages taken from Kafka and handed to the daemon as posts.");
	k->c_invalid       = host->counter(ctx, "kafka_posts_invalid_total",
	          "Messages that the daemon found not to be valid posts.");
	k->c_errors        = host->counter(ctx, "kafka_errors_total",
	           "Errors reported by the consumer (brokers, partitions).");
	k->c_commit_failed = host->counter(ctx, "kafka_commits_failed_total",
	    "Offset commits that failed (and were tried again).");
	k->c_rebalances    = host->counter(ctx, "kafka_rebalances_total",
	       "Partitions assigned or revoked by the group.");
	k->c_pauses        = host->counter(ctx, "kafka_pauses_total",
	           "Times the assigned partitions were paused by backpressure.");
	k->c_redelivered   = host->counter(ctx, "kafka_redelivered_total",
	      "Messages fetched again that this member had already taken "
	        "(dropped).");
	*instance          = k;
	return VIGIL_OK;
fail:
	kafka_destroy(k);
	return VIGIL_ERR;
}

/* Subscribes, ties the consumer queue to the pipe, starts the timers. */
static int
kafka_start(void *instance)
{
	struct kafka      *k    = instance;
	struct event_base *base = k->host->event_base(k->ctx);
	struct timeval     tv = {k->poll_ms / 1000, (k->poll_ms % 1000) * 1000};
	rd_kafka_topic_partition_list_t *subs;
	rd_kafka_resp_err_t              err;

	if (pipe2(k->pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
		k->host->log(
		    k->ctx, VIGIL_LOG_ERR, "pipe: %s", strerror(errno));
		return VIGIL_ERR;
	}
	k->ev_pipe =
	    event_new(base, k->pipe[0], EV_READ | EV_PERSIST, pump_cb, k);
	k->ev_poll   = event_new(base, -1, EV_PERSIST, pump_cb, k);
	k->ev_more   = event_new(base, -1, 0, pump_cb, k);
	k->ev_commit = evtimer_new(base, commit_cb, k);
	k->ev_retry  = evtimer_new(base, retry_cb, k);
	k->ev_grace  = evtimer_new(base, grace_cb, k);
	if (k->ev_pipe == NULL || k->ev_poll == NULL || k->ev_more == NULL ||
	    k->ev_commit == NULL || k->ev_retry == NULL ||
	    k->ev_grace == NULL || event_add(k->ev_pipe, NULL) != 0 ||
	    event_add(k->ev_poll, &tv) != 0) {
		k->host->log(k->ctx, VIGIL_LOG_ERR, "cannot add events");
		return VIGIL_ERR;
	}
	/* Everything (errors, commits, rebalances) through one queue. */
	rd_kafka_poll_set_consumer(k->rk);
	if ((k->queue = rd_kafka_queue_get_consumer(k->rk)) == NULL) {
		k->host->log(k->ctx, VIGIL_LOG_ERR, "no consumer queue");
		return VIGIL_ERR;
	}
	rd_kafka_queue_io_event_enable(k->queue, k->pipe[1], "1", 1);
	if ((subs = rd_kafka_topic_partition_list_new((int)k->n_topics)) ==
	    NULL) {
		k->host->log(k->ctx, VIGIL_LOG_ERR, "out of memory");
		return VIGIL_ERR;
	}
	for (size_t i = 0; i < k->n_topics; i++)
		rd_kafka_topic_partition_list_add(
		    subs, k->topics[i], RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(k->rk, subs);
	rd_kafka_topic_partition_list_destroy(subs);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		k->host->log(k->ctx, VIGIL_LOG_ERR, "cannot subscribe: %s",
		    rd_kafka_err2str(err));
		return VIGIL_ERR;
	}
	k->host->log(k->ctx, VIGIL_LOG_INFO,
	    "consumer %s joining its group for %zu topic(s)",
	    rd_kafka_name(k->rk), k->n_topics);
	schedule_more(k);
	return VIGIL_OK;
}

static void
kafka_pause(void *instance)
{
	struct kafka *k = instance;

	k->host_paused = true;
	begin_wait(k);
}

static void
kafka_resume(void *instance)
{
	struct kafka *k = instance;

	if (!k->host_paused)
		return;
	k->host_paused = false;
	end_wait(k);
	/* Not from inside the host's call: on the next turn of the loop. */
	schedule_more(k);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kafka *k = arg;

	(void)fd;
	(void)what;
	k->oom_paused = false;
	end_wait(k);
	pump(k);
}

static void
grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kafka *k = arg;

	(void)fd;
	(void)what;
	if (!blocked(k))
		return;
	pause_parts(k, true);
	pump(k);
}

/* The final commit; leave_group follows once the broker has it. */
static void
begin_close(struct kafka *k)
{
	int64_t now;

	if (k->final_commit || k->rk == NULL)
		return;
	now                = k->host->now_monotonic();
	k->final_commit    = true;
	k->commit_deadline = now + k->close_timeout_ms * 1000 / 2;
	k->close_deadline  = now + k->close_timeout_ms * 1000;
	/* Nothing more to fetch (assign_parts pauses later ones too). */
	pause_parts(k, true);
	commit_parts(k, any_part, NULL);
	maybe_leave(k);
	if (!k->closing) {
		if (k->ev_commit != NULL) /* it may be commit_ms away */
			evtimer_del(k->ev_commit);
		schedule_commit(k);
	}
}

/* Leaving the group in librdkafka's threads. */
static void
leave_group(struct kafka *k)
{
	rd_kafka_error_t *error;

	if (k->closing || k->rk == NULL)
		return;
	commit_parts(k, any_part, NULL);
	if ((k->closeq = rd_kafka_queue_new(k->rk)) == NULL) {
		k->host->log(k->ctx, VIGIL_LOG_ERR, "out of memory");
		return;
	}
	rd_kafka_queue_io_event_enable(k->queue, -1, NULL, 0);
	rd_kafka_queue_io_event_enable(k->closeq, k->pipe[1], "1", 1);
	k->closing = true;
	error      = rd_kafka_consumer_close_queue(k->rk, k->closeq);
	if (error != NULL) {
		k->host->log(k->ctx, VIGIL_LOG_WARNING, "close: %s",
		    rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	}
	pump_close(k);
}

static bool
any_message(const rd_kafka_message_t *m, void *arg)
{
	(void)m;
	(void)arg;
	return true;
}

/* Submits nothing more; acks still due keep committing. */
static void
kafka_stop(void *instance)
{
	struct kafka *k = instance;

	k->stopped = true;
	drop_held(k, any_message, NULL);
	if (k->ev_retry != NULL)
		event_del(k->ev_retry);
	if (k->inflight == 0)
		begin_close(k);
}

static void
free_event(struct event **ev)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
}

/* A blocking poll's timeout: 100 ms, or what is left of us µs. */
static int
poll_ms(int64_t us)
{
	return us >= 100000 ? 100 : (int)(us / 1000) + 1;
}

/* Waits, until close_timeout_ms after the last ack, for the final
 * commit and for the consumer to leave its group. */
static void
finish_close(struct kafka *k)
{
	int64_t now, last_try = 0;

	begin_close(k);
	while (!k->closing &&
	    (now = k->host->now_monotonic()) < k->commit_deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(
		    k->rk, poll_ms(k->commit_deadline - now));

		if (m != NULL)
			on_message(k, m);
		if ((now = k->host->now_monotonic()) - last_try >=
		    STOP_RETRY_MS * 1000) {
			commit_parts(k, any_part, NULL);
			last_try = now;
		}
		maybe_leave(k);
	}
	maybe_leave(k); /* the time is up */
	while (k->closeq != NULL && !rd_kafka_consumer_closed(k->rk) &&
	    (now = k->host->now_monotonic()) < k->close_deadline) {
		rd_kafka_event_t *ev = rd_kafka_queue_poll(
		    k->closeq, poll_ms(k->close_deadline - now));

		if (ev != NULL)
			close_event(k, ev);
	}
	if (!rd_kafka_consumer_closed(k->rk))
		k->host->log(k->ctx, VIGIL_LOG_WARNING,
		    "did not leave the group within %" PRId64
		    " ms; the group notices when the session times out",
		    k->close_timeout_ms);
}

static void
kafka_destroy(void *instance)
{
	struct kafka *k = instance;
	struct part  *p;

	if (k == NULL)
		return;
	free_event(&k->ev_pipe);
	free_event(&k->ev_poll);
	free_event(&k->ev_more);
	free_event(&k->ev_commit);
	free_event(&k->ev_retry);
	free_event(&k->ev_grace);
	drop_held(k, any_message, NULL);
	if (k->rk != NULL) {
		if (k->queue != NULL)
			finish_close(k);
		if (k->closeq != NULL)
			rd_kafka_queue_destroy(k->closeq);
		if (k->queue != NULL)
			rd_kafka_queue_destroy(k->queue);
		rd_kafka_destroy_flags(
		    k->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	}
	while ((p = TAILQ_FIRST(&k->parts)) != NULL)
		part_free(p);
	for (size_t i = 0; k->topics != NULL && i < k->n_topics; i++)
		free(k->topics[i]);
	free(k->topics);
	free(k->held);
	if (k->pipe[0] >= 0)
		close(k->pipe[0]);
	if (k->pipe[1] >= 0)
		close(k->pipe[1]);
	free(k);
}

static const vigil_plugin kafka_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name        = "kafka",
    .version     = "1.0",
    .kind        = VIGIL_PLUGIN_INPUT,
    .description = "Posts from Kafka topics, as a member of a consumer "
                   "group; offsets committed once verdicts are recorded.",
    .settings    = kafka_settings,
    .validate    = kafka_validate,
    .init        = kafka_init,
    .start       = kafka_start,
    .stop        = kafka_stop,
    .destroy     = kafka_destroy,
    .pause       = kafka_pause,
    .resume      = kafka_resume,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &kafka_plugin;
}
