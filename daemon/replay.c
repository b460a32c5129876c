/*
 * replay.c - the replay front end (see replay.h).
 *
 * Lines are read in chunks from the loop, at most `backlog` of them
 * waiting for a verdict at a time; verdicts arrive in any order and wait in
 * a ring until every earlier line has been written. A line longer than
 * max_post_bytes is answered with an error without being held whole.
 */
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
#include "log.h"
#include "replay.h"
#include "util.h"

#define READ_CHUNK 65536

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
} replay;

typedef struct replay_job {
	replay  *r;
	uint64_t line;
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

static void
out_error(replay *r, uint64_t line, const char *reason)
{
	size_t len;
	char  *s = json_error_line(line, reason, &len);

	if (s == NULL) {
		log_err("out of memory writing replay output");
		r->rc = 1;
		s     = strdup("");
		len   = 0;
	}
	put_output(r, line, s, len);
}

static void
replay_done(job *j, const job_result *res)
{
	replay_job *rj   = j->owner;
	replay     *r    = rj->r;
	uint64_t    line = rj->line;
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
			put_output(r, line, s, n + 1);
		} else
			out_error(r, line, "out of memory");
	} else {
		snprintf(reason, sizeof(reason), "%.*s", (int)len, data);
		out_error(r, line,
		    res->status == JOB_ABORTED ? "not scored: shutting down"
		                               : reason);
	}
	free(rj);
	job_free(j);
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
	rj->r    = r;
	rj->line = r->line;
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

int
replay_run(vigild *v, generation *g, const char *path)
{
	replay      r;
	struct stat st;
	int         rc = 1, flags = -1;

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
	dispatch_free(g->disp);
	g->disp = NULL;
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
