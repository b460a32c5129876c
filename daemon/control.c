/*
 * control.c - the control socket: a unix stream socket on the daemon's
 * loop that takes one JSON object per line, {"cmd":"NAME",...}, runs the
 * handler registered for NAME and writes its reply object, with "ok" set,
 * as one line.
 *
 * A client's lines are answered in order: while a handler's reply is
 * deferred, the client's further lines wait in its buffer. A deferred
 * request holds a reference to its client, so that a client that hung up
 * meanwhile is only marked gone and the late reply is dropped, never
 * written through a freed connection.
 *
 * A request line may be long (explain carries a whole post): its limit is
 * taken as the line begins, from the function the daemon set, and the
 * search for its end resumes where the last one stopped, so that a long
 * line arriving in many reads is scanned once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "control.h"
#include "log.h"

#define CONTROL_MAX_CLIENTS 32
#define CONTROL_MODE        0660

struct command {
	char           *name;
	control_fn      fn;
	void           *arg;
	struct command *next;
};

struct client {
	control            *ctl;    /* NULL once dropped */
	struct bufferevent *bev;    /* NULL once dropped */
	struct event       *resume; /* goes on with buffered lines */
	int                 refs;   /* the connection, a pending request,
	                             * a running process() */
	bool           busy;        /* a request awaits control_reply */
	bool           in_process;
	bool           closing;  /* no more requests; close when done */
	size_t         max_line; /* of the line being read */
	size_t         scanned;  /* bytes of it read, with no newline */
	struct client *prev, *next;
};

struct control_req {
	struct client *cl;
};

struct control {
	struct event_base     *base;
	char                  *path;
	dev_t                  dev;
	ino_t                  ino;
	struct evconnlistener *lis;
	struct command        *cmds, **cmds_tail;
	struct client         *clients;
	int                    n_clients;
	log_limit              limit;
	control_limit_fn       line_fn; /* NULL: CONTROL_MAX_LINE */
	void                  *line_arg;
};

static void finish(control_req *req, json_t *reply, bool failed);

/* ------------------------------------------------------------ clients */

static void
client_unref(struct client *cl)
{
	if (--cl->refs == 0)
		free(cl);
}

static void
client_drop(struct client *cl)
{
	control *c = cl->ctl;

	if (c == NULL)
		return;
	if (cl->prev != NULL)
		cl->prev->next = cl->next;
	else
		c->clients = cl->next;
	if (cl->next != NULL)
		cl->next->prev = cl->prev;
	c->n_clients--;
	cl->ctl = NULL;
	bufferevent_free(cl->bev);
	cl->bev = NULL;
	event_free(cl->resume);
	cl->resume = NULL;
	client_unref(cl);
}

/* Closes a client that has nothing left to say or to hear. */
static void
client_maybe_done(struct client *cl)
{
	if (cl->bev != NULL && cl->closing && !cl->busy &&
	    evbuffer_get_length(bufferevent_get_output(cl->bev)) == 0)
		client_drop(cl);
}

static void
send_line(struct client *cl, const char *s)
{
	struct evbuffer *out = bufferevent_get_output(cl->bev);

	if (evbuffer_add(out, s, strlen(s)) == -1 ||
	    evbuffer_add(out, "\n", 1) == -1) {
		log_err("control: out of memory for a reply; closing");
		cl->closing = true;
	}
}

/* Writes reply with "ok" first: false when failed or when the reply
 * carries an "error" string. */
static void
send_reply(struct client *cl, json_t *reply, bool failed)
{
	json_t *out  = json_object();
	char   *text = NULL;
	bool    ok;

	if (reply != NULL && !json_is_object(reply))
		reply = NULL;
	if (reply == NULL)
		failed = true;
	ok = !failed && !json_is_string(json_object_get(reply, "error"));
	if (out == NULL || json_object_set_new(out, "ok", json_boolean(ok)) ||
	    (reply != NULL && json_object_update(out, reply)) ||
	    json_object_set_new(out, "ok", json_boolean(ok)))
		goto fail;
	if (!ok && !json_is_string(json_object_get(out, "error")) &&
	    json_object_set_new(out, "error",
	        json_string(reply == NULL ? "the command gave no reply"
	                                  : "the command failed")))
		goto fail;
	/* Compact JSON escapes control characters: one line. */
	if ((text = json_dumps(out, JSON_COMPACT)) == NULL)
		goto fail;
	send_line(cl, text);
	free(text);
	json_decref(out);
	return;
fail:
	json_decref(out);
	send_line(cl, "{\"ok\":false,\"error\":\"cannot encode the reply\"}");
}

static void
send_error(struct client *cl, const char *fmt, ...)
{
	char    msg[512];
	va_list ap;
	json_t *reply;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply = json_pack("{s:s}", "error", msg);
	send_reply(cl, reply, true);
	json_decref(reply);
}

static struct command *
command_find(control *c, const char *name)
{
	for (struct command *cmd = c->cmds; cmd != NULL; cmd = cmd->next)
		if (strcmp(cmd->name, name) == 0)
			return cmd;
	return NULL;
}

static void
send_unknown(struct client *cl, const char *name)
{
	char   known[256] = "";
	size_t n          = 0;

	for (struct command *cmd = cl->ctl->cmds; cmd != NULL;
	     cmd                 = cmd->next) {
		int r = snprintf(known + n, sizeof(known) - n, "%s%s",
		    n > 0 ? ", " : "", cmd->name);

		if (r < 0 || (size_t)r >= sizeof(known) - n)
			break;
		n += (size_t)r;
	}
	send_error(cl, "unknown command '%.64s' (known: %s)", name,
	    n > 0 ? known : "none");
}

/* Runs one request line. */
static void
handle_line(struct client *cl, const char *line, size_t len)
{
	json_error_t        jerr;
	json_t             *req = NULL, *reply = NULL, *cmd;
	struct command     *command;
	struct control_req *r;
	int                 rc;

	if ((req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		send_error(
		    cl, "bad request: %s at column %d", jerr.text, jerr.column);
		return;
	}
	cmd = json_object_get(req, "cmd");
	if (!json_is_object(req))
		send_error(cl, "bad request: not a JSON object");
	else if (!json_is_string(cmd))
		send_error(cl, "bad request: no \"cmd\" string");
	else if ((command = command_find(cl->ctl, json_string_value(cmd))) ==
	    NULL)
		send_unknown(cl, json_string_value(cmd));
	else if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (reply = json_object()) == NULL) {
		free(r);
		send_error(cl, "out of memory");
	} else {
		r->cl = cl;
		cl->refs++;
		cl->busy = true;
		rc       = command->fn(command->arg, r, req, reply);
		/* Deferred: r belongs to the handler now, maybe answered
		 * already. */
		if (rc != 1) {
			finish(r, reply, rc != 0);
			reply = NULL;
		}
	}
	json_decref(reply);
	json_decref(req);
}

/* The limit for a line that begins now. */
static size_t
line_limit(control *c)
{
	size_t n = c->line_fn ? c->line_fn(c->line_arg, NULL, 0) : 0;

	return n > CONTROL_MAX_LINE ? n : CONTROL_MAX_LINE;
}

/* Takes the limit for the client's next line; reading stops just past
 * it, until process() has seen the line. */
static void
begin_line(struct client *cl)
{
	cl->max_line = line_limit(cl->ctl);
	cl->scanned  = 0;
	bufferevent_setwatermark(cl->bev, EV_READ, 0, cl->max_line + 2);
}

static void
line_too_long(struct client *cl)
{
	struct evbuffer *in         = bufferevent_get_input(cl->bev);
	char             basis[256] = "";

	if (cl->ctl->line_fn != NULL)
		cl->ctl->line_fn(cl->ctl->line_arg, basis, sizeof(basis));
	send_error(cl, "request line over %zu bytes%s%s", cl->max_line,
	    basis[0] ? ", the limit of this control socket: " : "", basis);
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_disable(cl->bev, EV_READ);
	cl->closing = true;
}

/* Answers buffered lines until one is deferred or none is whole. */
static void
process(struct client *cl)
{
	if (cl->in_process)
		return;
	cl->in_process = true;
	cl->refs++;
	while (cl->bev != NULL && !cl->busy && !cl->closing) {
		struct evbuffer    *in      = bufferevent_get_input(cl->bev);
		size_t              eol_len = 0;
		struct evbuffer_ptr from, eol;
		char               *line;

		if (evbuffer_ptr_set(
		        in, &from, cl->scanned, EVBUFFER_PTR_SET) != 0)
			evbuffer_ptr_set(in, &from, 0, EVBUFFER_PTR_SET);
		eol = evbuffer_search_eol(in, &from, &eol_len, EVBUFFER_EOL_LF);
		if (eol.pos < 0) {
			cl->scanned = evbuffer_get_length(in);
			if (cl->scanned > cl->max_line)
				line_too_long(cl);
			break;
		}
		if ((size_t)eol.pos > cl->max_line) {
			line_too_long(cl);
			break;
		}
		if ((line = malloc((size_t)eol.pos + 1)) == NULL) {
			log_err("control: out of memory for a request");
			cl->closing = true;
			break;
		}
		evbuffer_remove(in, line, (size_t)eol.pos);
		evbuffer_drain(in, eol_len);
		line[eol.pos] = '\0';
		begin_line(cl);
		/* Blank lines (and a lone "\r") are not requests. */
		if (line[strspn(line, " \t\r")] != '\0')
			handle_line(cl, line, (size_t)eol.pos);
		free(line);
	}
	cl->in_process = false;
	client_maybe_done(cl);
	client_unref(cl);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	process(arg);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	client_maybe_done(arg);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct client *cl = arg;

	if (what & BEV_EVENT_EOF) {
		/* The client may have half-closed after its request: answer
		 * what is whole, then close. */
		cl->refs++;
		process(cl);
		if (cl->bev != NULL) {
			cl->closing = true;
			client_maybe_done(cl);
		}
		client_unref(cl);
	} else if (what & BEV_EVENT_ERROR) {
		client_drop(cl);
	}
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	process(arg);
}

/* Answers req (freed) with reply (taken). */
static void
finish(control_req *req, json_t *reply, bool failed)
{
	struct client *cl = req->cl;

	free(req);
	cl->busy = false;
	if (cl->bev != NULL) {
		send_reply(cl, reply, failed);
		/* Later lines wait for the next loop turn, not for the
		 * caller's stack. */
		if (!cl->in_process)
			event_active(cl->resume, EV_TIMEOUT, 1);
	}
	json_decref(reply);
	client_unref(cl);
}

void
control_reply(control_req *req, json_t *reply)
{
	finish(req, reply, false);
}

static void
on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	static const char busy[] =
	    "{\"ok\":false,\"error\":\"too many control clients\"}\n";
	control       *c = arg;
	struct client *cl;

	if (c->n_clients >= CONTROL_MAX_CLIENTS) {
		if (send(fd, busy, sizeof(busy) - 1,
		        MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug("control: cannot turn a client away: %s",
			    strerror(errno));
		close(fd);
		return;
	}
	if ((cl = calloc(1, sizeof(*cl))) == NULL)
		goto nomem;
	cl->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (cl->bev == NULL)
		goto nomem;
	fd = -1;
	if ((cl->resume = event_new(c->base, -1, 0, on_resume, cl)) == NULL)
		goto nomem;
	cl->ctl  = c;
	cl->refs = 1;
	bufferevent_setcb(cl->bev, on_read, on_write, on_event, cl);
	begin_line(cl);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
	cl->next = c->clients;
	if (c->clients != NULL)
		c->clients->prev = cl;
	c->clients = cl;
	c->n_clients++;
	return;
nomem:
	log_err("control: out of memory for a new client");
	if (cl != NULL && cl->bev != NULL)
		bufferevent_free(cl->bev);
	free(cl);
	if (fd >= 0)
		close(fd);
}

static void VIGIL_PRINTF(2, 3) accept_warn(control *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_limited(&c->limit, VIGIL_LOG_WARNING, "control", fmt, ap);
	va_end(ap);
}

static void
on_accept_error(struct evconnlistener *lis, void *arg)
{
	control *c = arg;

	accept_warn(c, "accept: %s", strerror(errno));
}

/* ------------------------------------------------------------ the socket */

static int
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Removes a socket left by a daemon that died, but not a live one's. */
static int
clear_stale(
    const char *path, const struct sockaddr_un *sun, char *err, size_t errlen)
{
	struct stat st;
	int         fd, r, saved;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		return errf(err, errlen, "control socket %s: %s", path,
		    strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return errf(err, errlen,
		    "control socket %s: exists and is "
		    "not a socket",
		    path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return errf(err, errlen, "control socket %s: %s", path,
		    strerror(errno));
	r     = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	saved = errno;
	close(fd);
	if (r == 0 || saved == EAGAIN)
		return errf(
		    err, errlen, "another vigild is running on %s", path);
	if (saved != ECONNREFUSED)
		return errf(err, errlen, "control socket %s: %s", path,
		    strerror(saved));
	if (unlink(path) == -1 && errno != ENOENT)
		return errf(err, errlen,
		    "cannot remove the stale control "
		    "socket %s: %s",
		    path, strerror(errno));
	log_notice("control: removed the stale socket %s", path);
	return 0;
}

/* Binds and listens on path, with mode 0660 from the start. */
static int
bind_socket(const char *path, const struct sockaddr_un *sun, struct stat *st,
    char *err, size_t errlen)
{
	int    fd, r, saved;
	mode_t old;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return errf(err, errlen, "control socket %s: %s", path,
		    strerror(errno));
	old   = umask(0117);
	r     = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));
	saved = errno;
	umask(old);
	if (r == -1) {
		close(fd);
		return errf(err, errlen,
		    "cannot bind the control socket %s: "
		    "%s",
		    path, strerror(saved));
	}
	if (chmod(path, CONTROL_MODE) == -1 || listen(fd, 16) == -1 ||
	    lstat(path, st) == -1) {
		saved = errno;
		close(fd);
		unlink(path);
		return errf(err, errlen, "control socket %s: %s", path,
		    strerror(saved));
	}
	return fd;
}

control *
control_open(
    struct event_base *base, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat        st;
	control           *c;
	int                fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errf(err, errlen,
		    "control socket path too long (at most %zu "
		    "bytes): %s",
		    sizeof(sun.sun_path) - 1, path);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		free(c);
		errf(err, errlen, "control socket %s: out of memory", path);
		return NULL;
	}
	c->base      = base;
	c->cmds_tail = &c->cmds;
	if (clear_stale(path, &sun, err, errlen) == -1 ||
	    (fd = bind_socket(path, &sun, &st, err, errlen)) == -1)
		goto fail;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	c->lis = evconnlistener_new(base, on_accept, c,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (c->lis == NULL) {
		close(fd);
		unlink(path);
		errf(err, errlen, "control socket %s: cannot listen", path);
		goto fail;
	}
	evconnlistener_set_error_cb(c->lis, on_accept_error);
	return c;
fail:
	free(c->path);
	free(c);
	return NULL;
}

void
control_close(control *c)
{
	struct command *cmd;
	struct stat     st;

	if (c == NULL)
		return;
	if (c->lis != NULL)
		evconnlistener_free(c->lis);
	while (c->clients != NULL)
		client_drop(c->clients);
	while ((cmd = c->cmds) != NULL) {
		c->cmds = cmd->next;
		free(cmd->name);
		free(cmd);
	}
	/* Only our own socket: another daemon may have taken the path. */
	if (lstat(c->path, &st) == 0 && st.st_dev == c->dev &&
	    st.st_ino == c->ino)
		unlink(c->path);
	free(c->path);
	free(c);
}

void
control_set_line_limit(control *c, control_limit_fn fn, void *arg)
{
	c->line_fn  = fn;
	c->line_arg = arg;
}

int
control_command(control *c, const char *name, control_fn fn, void *arg)
{
	struct command *cmd;

	if (name == NULL || name[0] == '\0' || fn == NULL) {
		log_err("control: a command needs a name and a handler");
		return -1;
	}
	if (command_find(c, name) != NULL) {
		log_err("control: command '%s' is registered twice", name);
		return -1;
	}
	if ((cmd = calloc(1, sizeof(*cmd))) == NULL ||
	    (cmd->name = strdup(name)) == NULL) {
		free(cmd);
		log_err("control: out of memory registering '%s'", name);
		return -1;
	}
	cmd->fn       = fn;
	cmd->arg      = arg;
	*c->cmds_tail = cmd;
	c->cmds_tail  = &cmd->next;
	return 0;
}
