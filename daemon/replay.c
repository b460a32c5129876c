/*
 * replay.c - the replay front end (see replay.h).
 *
 * Lines are read in chunks from the loop, at most `backlog` of them
 * waiting for a verdict at a time; verdicts arrive in any order and wait in
 * a ring until every earlier line has been written. A line longer than
 * max_post_bytes is answered with an error without being held whole.
 *
 * With --input the posts come from an input plugin instead, loaded with a
 * settings group made for the run (path = the file, follow = false), its
 * submits numbered in the order they come: the ring is keyed by that
 * number and each output line carries the submit's own line. The plugin
 * gets a key-value store that remembers nothing, so a replay neither
 * reads nor moves a daemon's saved position. ABI 1.3 has no "end of
 * input" call: the input is done when it holds no event of its own in the
 * loop (it read to the end and stopped) and is not paused by us.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include <event2/event.h>

#include "dispatch.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "replay.h"
#include "settings.h"
#include "util.h"

#define READ_CHUNK   65536
#define IDLE_LOOK_MS 50 /* how often the end of an input is looked for */

typedef struct replay_input {
	const vigil_plugin *desc;
	config_t            lc;
	bool                lc_ready;
	vigil_cfg          *cfg;
	vigil_ctx           ctx;
	void               *instance;
	bool                started, paused;
	void               *object; /* the plugin's load address */
	struct event       *look;   /* looks for the end of the input */
} replay_input;

typedef struct slot_out {
	char  *text; /* the output line, or NULL while waiting */
	size_t len;
	bool   used;
} slot_out;

typedef struct replay {
	vigild       *v;
	generation   *g;
	const char   *path;
	int           fd;
	bool          regular; /* a regular file: no readiness to wait for */
	struct event *read_ev;
	bool          eof;
	int           rc;
	/* Reading. */
	char    *buf;
	size_t   cap, len;
	bool     discarding; /* inside an over-long line */
	uint64_t line;       /* number of the line being read */
	bool     first;      /* no byte seen yet: BOM allowed */
	/* Ordering. */
	slot_out *ring;
	size_t    ring_cap;
	uint64_t  next_out; /* next line number to write */
	size_t    waiting;  /* lines read and not yet written */
	/* Output. */
	FILE *out;
	/* --input */
	replay_input *in;
	uint64_t      seq;     /* submits accepted so far */
	bool          closing; /* jobs aborted: no more acks or pumping */
} replay;

typedef struct replay_job {
	replay      *r;
	uint64_t     seq;  /* place in the output order */
	uint64_t     line; /* shown as "line" */
	vigil_ack_fn ack;  /* --input: the plugin's, or NULL */
	void        *ack_arg;
} replay_job;

static void replay_pump(replay *r);

static slot_out *
ring_at(replay *r, uint64_t line)
{
	return &r->ring[line % r->ring_cap];
}

static void
flush_ready(replay *r)
{
	slot_out *s;

	while ((s = ring_at(r, r->next_out))->used && s->text) {
		if (s->len > 0)
			fwrite(s->text, 1, s->len, r->out);
		free(s->text);
		s->text = NULL;
		s->used = false;
		r->next_out++;
		r->waiting--;
	}
	fflush(r->out);
}

/* Line numbers without output (blank lines) are skipped by giving them
 * an empty text. */
static void
put_output(replay *r, uint64_t line, char *text, size_t len)
{
	slot_out *s = ring_at(r, line);

	s->text = text;
	s->len  = len;
	flush_ready(r);
}

static char *
json_error_line(uint64_t line, const char *reason, size_t *len)
{
	json_t *o =
	    json_pack("{sIss}", "line", (json_int_t)line, "error", reason);
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	char *out;

	json_decref(o);
	if (s == NULL)
		return NULL;
	*len = strlen(s) + 1;
	if ((out = realloc(s, *len + 1)) == NULL) {
		free(s);
		return NULL;
	}
	out[*len - 1] = '\n';
	out[*len]     = '\0';
	return out;
}

/* The error line for line, at place seq of the output. */
static void
out_error_at(replay *r, uint64_t seq, uint64_t line, const char *reason)
{
	size_t len;
	char  *s = json_error_line(line, reason, &len);

	if (s == NULL) {
		log_err("out of memory writing replay output");
		r->rc = 1;
		s     = strdup("");
		len   = 0;
	}
	put_output(r, seq, s, len);
}

static void
out_error(replay *r, uint64_t line, const char *reason)
{
	out_error_at(r, line, line, reason);
}

static void input_progress(replay *r);

static void
replay_done(job *j, const job_result *res)
{
	replay_job *rj   = j->owner;
	replay     *r    = rj->r;
	uint64_t    line = rj->line, seq = rj->seq;
	const char *data = res->data;
	size_t      len  = res->len;
	char        reason[512];

	if (res->status == JOB_SCORED && len >= 2 && data[0] == '{') {
		/* {"line":N, + the verdict's members. */
		char   head[48];
		int    hl = snprintf(head, sizeof(head), "{\"line\":%llu%s",
		       (unsigned long long)line, data[1] == '}' ? "" : ",");
		size_t n  = (size_t)hl + len - 1;
		char  *s  = malloc(n + 2);
		if (s) {
			memcpy(s, head, (size_t)hl);
			memcpy(s + hl, data + 1, len - 1);
			s[n]     = '\n';
			s[n + 1] = '\0';
			put_output(r, seq, s, n + 1);
		} else
			out_error_at(r, seq, line, "out of memory");
	} else {
		snprintf(reason, sizeof(reason), "%.*s", (int)len, data);
		out_error_at(r, seq, line,
		    res->status == JOB_ABORTED ? "not scored: shutting down"
		                               : reason);
	}
	/* The input's bookkeeping, as the daemon would ack; an aborted
	 * post is not acked. */
	if (rj->ack != NULL && res->status != JOB_ABORTED)
		rj->ack(rj->ack_arg,
		    res->status == JOB_SCORED        ? VIGIL_ACK_DONE
		        : res->status == JOB_INVALID ? VIGIL_ACK_INVALID
		                                     : VIGIL_ACK_QUARANTINED,
		    res->status == JOB_SCORED ? NULL : reason);
	free(rj);
	job_free(j);
	if (r->closing)
		return;
	if (r->in != NULL)
		input_progress(r);
	else
		replay_pump(r);
}

static void
out_too_long(replay *r, uint64_t line)
{
	char reason[96];

	snprintf(reason, sizeof(reason), "line longer than %zu bytes",
	    r->g->cfg->max_post_bytes);
	out_error(r, line, reason);
}

static void
submit_line(replay *r, const char *s, size_t len)
{
	replay_job *rj;
	job        *j;
	size_t      k = 0;

	ring_at(r, r->line)->used = true;
	r->waiting++;
	if (len > 0 && s[len - 1] == '\r')
		len--;
	while (k < len && (s[k] == ' ' || s[k] == '\t'))
		k++;
	if (k == len) { /* blank: skipped, no output */
		put_output(r, r->line, strdup(""), 0);
		return;
	}
	if (len > r->g->cfg->max_post_bytes) {
		out_too_long(r, r->line);
		return;
	}
	if ((rj = malloc(sizeof(*rj))) == NULL ||
	    (j = job_new(s, len, NULL, 0, replay_done, rj)) == NULL) {
		free(rj);
		out_error(r, r->line, "out of memory");
		return;
	}
	rj->r       = r;
	rj->seq     = r->line;
	rj->line    = r->line;
	rj->ack     = NULL;
	rj->ack_arg = NULL;
	dispatch_submit(r->g->disp, j);
}

/* Splits what is buffered into lines, as far as the ring has room. */
static void
take_lines(replay *r)
{
	size_t start = 0;

	if (r->first && r->len >= 3) {
		if (memcmp(r->buf, "\xef\xbb\xbf", 3) == 0)
			start = 3;
		r->first = false;
	}
	while (r->waiting < r->ring_cap - 1) {
		char  *nl = memchr(r->buf + start, '\n', r->len - start);
		size_t n;
		if (nl == NULL)
			break;
		n = (size_t)(nl - (r->buf + start));
		r->line++;
		if (r->discarding) {
			r->discarding             = false;
			ring_at(r, r->line)->used = true;
			r->waiting++;
			out_too_long(r, r->line);
		} else
			submit_line(r, r->buf + start, n);
		start += n + 1;
	}
	memmove(r->buf, r->buf + start, r->len - start);
	r->len -= start;
	/* An over-long line is dropped as it comes, never held whole. */
	if (r->len > r->g->cfg->max_post_bytes &&
	    memchr(r->buf, '\n', r->len) == NULL) {
		r->discarding = true;
		r->len        = 0;
	}
}

static bool
ring_full(const replay *r)
{
	return r->waiting >= r->ring_cap - 1;
}

/* Reads on: a regular file by activating the read event by hand (epoll
 * cannot watch one), anything else by waiting for it to be readable. */
static void
want_more(replay *r)
{
	if (r->eof || ring_full(r))
		return;
	if (r->regular)
		event_active(r->read_ev, EV_READ, 0);
	else if (!event_pending(r->read_ev, EV_READ, NULL))
		event_add(r->read_ev, NULL);
}

static void
replay_pump(replay *r)
{
	take_lines(r);
	want_more(r);
	if (r->eof && r->waiting == 0 && r->len == 0)
		event_base_loopexit(r->v->base, NULL);
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	replay *r = arg;
	ssize_t n;

	(void)what;
	if (ring_full(r))
		return; /* replay_pump asks again as verdicts come back */
	(void)fd;       /* -1 for a regular file: read r->fd */
	n = read(r->fd, r->buf + r->len, READ_CHUNK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		want_more(r);
		return;
	}
	if (n < 0) {
		log_err("replay: %s: %s", r->path, strerror(errno));
		r->rc  = 1;
		r->eof = true;
	} else if (n == 0) {
		r->eof = true;
		/* A last line without a newline still counts. */
		if (r->len > 0 || r->discarding)
			r->buf[r->len++] = '\n';
	} else
		r->len += (size_t)n;
	replay_pump(r);
}

/* ------------------------------------------------------------ --input */

static int
input_submit(vigil_ctx *ctx, const char *buf, size_t len, const vigil_submit *o)
{
	replay     *r    = ctx->owner;
	uint64_t    line = o != NULL ? o->line : 0;
	replay_job *rj;
	job        *j;
	char        reason[128];

	if (r->closing || o == NULL || o->ack == NULL) {
		host_log(ctx, VIGIL_LOG_ERR, "submit refused: %s",
		    r->closing ? "the replay is over" : "no ack callback");
		return VIGIL_ERR;
	}
	if (ring_full(r)) {
		if (!r->in->paused) {
			r->in->paused = true;
			if (r->in->desc->pause)
				r->in->desc->pause(r->in->instance);
		}
		return VIGIL_EAGAIN;
	}
	if (len > r->g->cfg->max_post_bytes) {
		/* Refused, as the daemon would; the output says so too. */
		snprintf(reason, sizeof(reason),
		    "post of %zu bytes exceeds daemon.max_post_bytes (%zu)",
		    len, r->g->cfg->max_post_bytes);
		host_log_limited(ctx, VIGIL_LOG_WARNING, "%s:%llu: %s",
		    o->source ? o->source : "?", (unsigned long long)line,
		    reason);
		ring_at(r, ++r->seq)->used = true;
		r->waiting++;
		out_error_at(r, r->seq, line, reason);
		return VIGIL_ERR;
	}
	if ((rj = malloc(sizeof(*rj))) == NULL ||
	    (j = job_new(buf, len, o->jurisdictions, o->n_jurisdictions,
	         replay_done, rj)) == NULL) {
		free(rj);
		return VIGIL_EAGAIN;
	}
	rj->r                     = r;
	rj->seq                   = ++r->seq;
	rj->line                  = line;
	rj->ack                   = o->ack;
	rj->ack_arg               = o->ack_arg;
	ring_at(r, rj->seq)->used = true;
	r->waiting++;
	dispatch_submit(r->g->disp, j);
	return VIGIL_OK;
}

/* A replay keeps no state: nothing saved, nothing found. */
static int
input_kv_put(vigil_ctx *ctx, const char *key, const void *val, size_t len)
{
	(void)ctx;
	(void)key;
	(void)val;
	(void)len;
	return VIGIL_OK;
}

static void *
input_kv_get(vigil_ctx *ctx, const char *key, size_t *len)
{
	(void)ctx;
	(void)key;
	*len = 0;
	return NULL;
}

static int
input_kv_del(vigil_ctx *ctx, const char *key)
{
	(void)ctx;
	(void)key;
	return VIGIL_OK;
}

static int
input_no_route(vigil_ctx *ctx, const char *path, vigil_http_fn fn, void *arg)
{
	(void)fn;
	(void)arg;
	host_log(ctx, VIGIL_LOG_ERR,
	    "http_route %s: a replay has no HTTP listener", path);
	return VIGIL_ERR;
}

static void
input_no_alert_done(vigil_ctx *ctx, uint64_t token, int status)
{
	(void)token;
	(void)status;
	host_log(ctx, VIGIL_LOG_ERR, "alert_done: a replay has no sinks");
}

static const char *
input_no_http_str(vigil_http_req *req, const char *name)
{
	(void)req;
	(void)name;
	return NULL;
}

static const char *
input_no_method(vigil_http_req *req)
{
	(void)req;
	return NULL;
}

static const void *
input_no_body(vigil_http_req *req, size_t *len)
{
	(void)req;
	*len = 0;
	return NULL;
}

static void
input_no_reply(vigil_http_req *req, int status, const char *ctype,
    const void *body, size_t len)
{
	(void)req;
	(void)status;
	(void)ctype;
	(void)body;
	(void)len;
}

static const host_loop_ops input_ops = {
    .submit       = input_submit,
    .alert_done   = input_no_alert_done,
    .kv_put       = input_kv_put,
    .kv_get       = input_kv_get,
    .kv_del       = input_kv_del,
    .http_route   = input_no_route,
    .http_method  = input_no_method,
    .http_header  = input_no_http_str,
    .http_query   = input_no_http_str,
    .http_body    = input_no_body,
    .http_reply   = input_no_reply,
    .fetch        = NULL, /* h_fetch says: no HTTP client in this mode */
    .fetch_cancel = NULL,
    /* No positions, held requests or reply headers: NULL, which
     * host.c answers with none, VIGIL_OK and VIGIL_ERR. */
};

static int
owned_event(const struct event_base *base, const struct event *ev, void *arg)
{
	replay_input *in = arg;
	Dl_info       info;

	(void)base;
	/* Casting a function pointer to look it up, as dladdr wants. */
	if (dladdr((const void *)(uintptr_t)event_get_callback(ev), &info) !=
	        0 &&
	    info.dli_fbase == in->object)
		return 1;
	return 0;
}

/* The input has read to its end: it holds no event of its own. */
static bool
input_idle(replay *r)
{
	return !r->in->paused &&
	    event_base_foreach_event(r->v->base, owned_event, r->in) == 0;
}

static void
input_progress(replay *r)
{
	replay_input *in = r->in;

	if (in->paused && r->waiting <= (r->ring_cap - 1) / 2) {
		in->paused = false;
		if (in->desc->resume)
			in->desc->resume(in->instance);
	}
	if (in->started && r->waiting == 0 && input_idle(r))
		event_base_loopexit(r->v->base, NULL);
}

static void
on_look(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	input_progress(arg);
}

static bool
has_bool_setting(const vigil_setting *t, const char *name)
{
	for (; t != NULL && t->name != NULL; t++)
		if (strcmp(t->name, name) == 0 && t->type == VIGIL_SET_BOOL)
			return true;
	return false;
}

/* The settings of the run: path = FILE, and follow = false where the
 * plugin would otherwise wait for more. */
static int
input_settings(replay_input *in, const char *path, char *err, size_t errlen)
{
	const vigil_setting *tables[1] = {in->desc->settings};
	config_setting_t    *root, *s;

	config_init(&in->lc);
	in->lc_ready = true;
	root         = config_root_setting(&in->lc);
	if ((s = config_setting_add(root, "path", CONFIG_TYPE_STRING)) ==
	        NULL ||
	    config_setting_set_string(s, path) != CONFIG_TRUE)
		goto nomem;
	if (has_bool_setting(in->desc->settings, "follow") &&
	    ((s = config_setting_add(root, "follow", CONFIG_TYPE_BOOL)) ==
	            NULL ||
	        config_setting_set_bool(s, 0) != CONFIG_TRUE))
		goto nomem;
	in->cfg = settings_bind(root, tables, 1, NULL, err, errlen);
	if (in->cfg == NULL)
		return -1;
	if (in->desc->validate &&
	    in->desc->validate(host_table(), in->cfg, err, errlen) != VIGIL_OK)
		return -1;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int
input_open(replay *r, const char *name, const char *path)
{
	replay_input *in = r->in;
	const char   *file;
	Dl_info       info;
	char          err[2048];

	if (loader_get(r->g->ld, VIGIL_PLUGIN_INPUT, name, &in->desc, &file,
	        err, sizeof(err)) != 0 ||
	    input_settings(in, path, err, sizeof(err)) != 0) {
		log_err("replay --input %s: %s", name, err);
		return -1;
	}
	if (dladdr(in->desc, &info) == 0) {
		log_err("replay --input %s: cannot tell where %s is loaded",
		    name, file ? file : name);
		return -1;
	}
	in->object = info.dli_fbase;
	host_ctx_init(
	    &in->ctx, VIGIL_PLUGIN_INPUT, "replay", in->desc, r->v->base, r);
	host_set_loop_ops(&input_ops);
	if (in->desc->init(host_table(), &in->ctx, in->cfg, &in->instance) !=
	    VIGIL_OK) {
		in->instance = NULL;
		log_err("replay --input %s: init failed", name);
		return -1;
	}
	in->ctx.instance = in->instance;
	if ((in->look = event_new(r->v->base, -1, EV_PERSIST, on_look, r)) ==
	    NULL)
		return -1;
	in->started = true; /* stop() is due even if start fails */
	if (in->desc->start(in->instance) != VIGIL_OK) {
		log_err("replay --input %s: start failed", name);
		return -1;
	}
	event_add(in->look, &(struct timeval){0, IDLE_LOOK_MS * 1000});
	return 0;
}

/* After the jobs are aborted: no ack may reach a destroyed plugin. */
static void
input_close(replay_input *in)
{
	if (in->look)
		event_free(in->look);
	if (in->started && in->desc->stop)
		in->desc->stop(in->instance);
	if (in->instance && in->desc->destroy)
		in->desc->destroy(in->instance);
	host_set_loop_ops(NULL);
	settings_free(in->cfg);
	if (in->lc_ready)
		config_destroy(&in->lc);
}

static int
replay_input_run(vigild *v, generation *g, const char *name, const char *path)
{
	replay       r;
	replay_input in;
	int          rc = 1;

	memset(&r, 0, sizeof(r));
	memset(&in, 0, sizeof(in));
	r.v        = v;
	r.g        = g;
	r.path     = path;
	r.fd       = -1;
	r.out      = stdout;
	r.in       = &in;
	r.ring_cap = g->cfg->backlog + 1;
	r.next_out = 1;
	if ((r.ring = calloc(r.ring_cap, sizeof(slot_out))) == NULL) {
		log_err("replay: out of memory");
		goto out;
	}
	if (input_open(&r, name, path) == 0) {
		event_base_dispatch(v->base);
		rc = r.rc ? r.rc : v->exit_code;
	}
	/* Interrupted: abort what is still in flight while r exists. */
	r.closing = true;
	gen_stop_scoring(g);
out:
	input_close(&in);
	for (size_t i = 0; r.ring && i < r.ring_cap; i++)
		free(r.ring[i].text);
	free(r.ring);
	return rc;
}

int
replay_run(vigild *v, generation *g, const char *path, const char *input)
{
	replay      r;
	struct stat st;
	int         rc = 1, flags = -1;

	if (input != NULL)
		return replay_input_run(v, g, input, path);

	memset(&r, 0, sizeof(r));
	r.v        = v;
	r.g        = g;
	r.path     = path;
	r.first    = true;
	r.out      = stdout;
	r.ring_cap = g->cfg->backlog + 1;
	r.next_out = 1;
	/* Room for a whole line of the maximum size plus one read. */
	r.cap = g->cfg->max_post_bytes + READ_CHUNK + 2;
	if (strcmp(path, "-") == 0)
		r.fd = dup(STDIN_FILENO);
	else
		r.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r.fd < 0 || fstat(r.fd, &st) != 0 || S_ISDIR(st.st_mode)) {
		log_err("replay: cannot read %s: %s", path,
		    r.fd >= 0 && S_ISDIR(st.st_mode) ? "is a directory"
		                                     : strerror(errno));
		goto out;
	}
	r.regular = S_ISREG(st.st_mode);
	if (!r.regular) {
		flags = fcntl(r.fd, F_GETFL);
		fcntl(r.fd, F_SETFL, flags | O_NONBLOCK);
	}
	r.ring    = calloc(r.ring_cap, sizeof(slot_out));
	r.buf     = malloc(r.cap);
	r.read_ev = event_new(v->base, r.regular ? -1 : r.fd,
	    r.regular ? 0 : EV_READ, on_readable, &r);
	if (r.ring == NULL || r.buf == NULL || r.read_ev == NULL) {
		log_err("replay: out of memory");
		goto out;
	}
	want_more(&r);
	event_base_dispatch(v->base);
	rc = r.rc ? r.rc : v->exit_code;
	/* Interrupted: abort what is still in flight while r exists. */
	gen_stop_scoring(g);
out:
	if (flags >= 0)
		fcntl(r.fd, F_SETFL, flags);
	if (r.read_ev)
		event_free(r.read_ev);
	for (size_t i = 0; r.ring && i < r.ring_cap; i++)
		free(r.ring[i].text);
	free(r.ring);
	free(r.buf);
	if (r.fd >= 0)
		close(r.fd);
	return rc;
}
