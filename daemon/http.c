/*
 * http.c - the shared HTTP listener on libevent's evhttp, on which the
 * daemon and plugins register routes by exact path.
 *
 * libevent 2.1 has no connection limit and no hook when a connection
 * arrives, so the limit is kept here: the bufferevent callback
 * (evhttp_set_bevcb) counts each new connection and schedules a deferred
 * hook that runs before any of the connection's own events; by then evhttp
 * has made the connection and set itself as the bufferevent's callback
 * argument, so the hook finds the evhttp_connection, sets a close callback
 * that uncounts it, and turns it away with 503 when over the limit.
 *
 * Handlers run on the loop and answer before they return, or hold the
 * request and answer later (an input that answers once its posts are
 * recorded). A held request stays on the server's list until answered.
 * libevent keeps an unanswered request alive when its client goes away
 * (it detaches it from the connection, and the late reply frees it), but
 * frees it with the connection when the server itself is freed: so the
 * server answers what is still held before evhttp_free.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http.h"
#include "log.h"

#define HTTP_MAX_HEADERS 32768 /* bytes of request line and headers */
#define NOT_FOUND_BODY   "{\"error\":\"not found\"}"
#define NO_REPLY_BODY    "{\"error\":\"the handler sent no reply\"}"
#define SHUTDOWN_BODY    "{\"error\":\"shutting down\"}"
#define BUSY_REPLY                                                             \
	"HTTP/1.1 503 Service Unavailable\r\n"                                 \
	"Content-Type: application/json\r\n"                                   \
	"Content-Length: 32\r\n"                                               \
	"Connection: close\r\n\r\n"                                            \
	"{\"error\":\"too many connections\"}"

struct route {
	http_server  *srv;
	char         *path;
	char         *owner;
	vigil_http_fn fn;
	void         *arg;
	struct route *next;
};

/* An accepted connection, counted until evhttp frees it. */
struct conn {
	http_server              *srv;
	struct bufferevent       *bev;
	struct evhttp_connection *evcon; /* known once the hook ran */
	struct event             *hook;
	struct conn              *prev, *next;
};

struct http_server {
	struct event_base          *base;
	char                       *listen;
	char                       *host, *port;
	size_t                      max_body;
	int                         max_connections;
	int                         timeout_s;
	struct evhttp              *http;
	struct evhttp_bound_socket *bound;
	struct route               *routes;
	struct conn                *conns;
	int                         n_conns;
	unsigned long               refused;
	bool                        warned_hook;
	struct vigil_http_req      *held; /* answered later, newest first */
};

struct vigil_http_req {
	http_server           *srv;
	struct evhttp_request *ev;
	char                  *body; /* linearized on first use */
	size_t                 body_len;
	struct evkeyvalq       query;
	bool                   query_parsed;
	bool                   replied;
	bool                   held;
	bool                   in_handler;  /* on_request frees it */
	struct vigil_http_req *prev, *next; /* on srv->held */
};

/* ------------------------------------------------------------ connections */

static void
conn_forget(struct conn *c)
{
	http_server *s = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->n_conns--;
	if (c->hook != NULL)
		event_free(c->hook);
	free(c);
}

static void
conn_closed(struct evhttp_connection *evcon, void *arg)
{
	conn_forget(arg);
}

/* Over the limit: answer 503 at once and drop the connection before
 * evhttp reads anything from it. */
static void
conn_refuse(struct conn *c)
{
	http_server              *s     = c->srv;
	struct evhttp_connection *evcon = c->evcon;
	evutil_socket_t           fd    = bufferevent_getfd(c->bev);

	if (s->refused++ % 1000 == 0)
		log_warn("http: %s: over %d connections, turning new ones "
		         "away (%lu so far)",
		    s->listen, s->max_connections, s->refused);
	if (fd >= 0) {
		char scratch[4096];

		/* Best effort: a full socket buffer just loses the 503.
		 * Reading what the client sent already spares it a reset
		 * that could discard the 503 before it is read. */
		if (send(fd, BUSY_REPLY, sizeof(BUSY_REPLY) - 1,
		        MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
			shutdown(fd, SHUT_WR);
		for (int i = 0; i < 4; i++)
			if (recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT) <=
			    0)
				break;
	}
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	conn_forget(c);
	evhttp_connection_free(evcon);
}

/* Runs before the connection's first event: evhttp has set the
 * connection as its bufferevent's callback argument by now. */
static void
conn_hook(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c     = arg;
	http_server *s     = c->srv;
	void        *cbarg = NULL;

	event_free(c->hook);
	c->hook = NULL;
	bufferevent_getcb(c->bev, NULL, NULL, NULL, &cbarg);
	if (cbarg == NULL ||
	    evhttp_connection_get_bufferevent(cbarg) != c->bev) {
		if (!s->warned_hook)
			log_err("http: %s: cannot find evhttp's connection; "
			        "connections are not limited",
			    s->listen);
		s->warned_hook = true;
		conn_forget(c);
		return;
	}
	c->evcon = cbarg;
	evhttp_connection_set_closecb(c->evcon, conn_closed, c);
	if (s->max_connections > 0 && s->n_conns > s->max_connections)
		conn_refuse(c);
}

/* evhttp asks for the bufferevent of each accepted connection. On
 * failure it makes its own, and that connection goes uncounted. */
static struct bufferevent *
conn_new(struct event_base *base, void *arg)
{
	http_server *s = arg;
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->srv  = s;
	c->bev  = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	c->hook = event_new(base, -1, 0, conn_hook, c);
	if (c->bev == NULL || c->hook == NULL)
		goto fail;
	event_active(c->hook, EV_TIMEOUT, 1);
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	return c->bev;
fail:
	log_err("http: %s: out of memory for a new connection", s->listen);
	if (c != NULL) {
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		if (c->hook != NULL)
			event_free(c->hook);
		free(c);
	}
	return NULL;
}

/* ------------------------------------------------------------ requests */

/* libevent 2.1 lacks some phrases (429 comes out as "Client Error"). */
static const char *
reason_phrase(int status)
{
	static const struct {
		int         code;
		const char *text;
	} phrases[] = {
	    {200, "OK"},
	    {201, "Created"},
	    {202, "Accepted"},
	    {204, "No Content"},
	    {301, "Moved Permanently"},
	    {302, "Found"},
	    {304, "Not Modified"},
	    {400, "Bad Request"},
	    {401, "Unauthorized"},
	    {403, "Forbidden"},
	    {404, "Not Found"},
	    {405, "Method Not Allowed"},
	    {409, "Conflict"},
	    {413, "Payload Too Large"},
	    {415, "Unsupported Media Type"},
	    {422, "Unprocessable Content"},
	    {429, "Too Many Requests"},
	    {500, "Internal Server Error"},
	    {501, "Not Implemented"},
	    {502, "Bad Gateway"},
	    {503, "Service Unavailable"},
	    {504, "Gateway Timeout"},
	};

	for (size_t i = 0; i < sizeof(phrases) / sizeof(*phrases); i++)
		if (phrases[i].code == status)
			return phrases[i].text;
	return NULL; /* libevent's phrase for the class */
}

static void
req_release(struct vigil_http_req *r)
{
	free(r->body);
	if (r->query_parsed)
		evhttp_clear_headers(&r->query);
}

static void
reply_json(struct evhttp_request *ev, int status, const char *body)
{
	struct vigil_http_req r = {.ev = ev};

	http_req_reply(&r, status, "application/json", body, strlen(body));
}

static void
held_unlink(struct vigil_http_req *r)
{
	http_server *s = r->srv;

	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		s->held = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static void
on_request(struct evhttp_request *ev, void *arg)
{
	struct route          *rt = arg;
	http_server           *s  = rt->srv;
	struct vigil_http_req *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		log_err("http: %s: out of memory for a request", s->listen);
		evhttp_send_error(ev, 503, NULL);
		return;
	}
	r->srv        = s;
	r->ev         = ev;
	r->in_handler = true;
	/* The handler may unroute itself: rt is not used after the call. */
	rt->fn(r, rt->arg);
	r->in_handler = false;
	if (r->held && !r->replied)
		return; /* http_req_reply frees it */
	if (!r->replied) {
		log_err("http: %s: the handler of %s sent no reply", s->listen,
		    evhttp_request_get_uri(ev));
		reply_json(ev, 500, NO_REPLY_BODY);
	}
	req_release(r);
	free(r);
}

int
http_req_hold(vigil_http_req *req)
{
	http_server *s = req->srv;
	size_t       len;

	if (req->replied || s == NULL)
		return VIGIL_ERR;
	if (req->held)
		return VIGIL_OK;
	/* The body lives in the request's buffer: copy it now, while the
	 * connection is certain to be there. */
	if (http_req_body(req, &len) == NULL)
		return VIGIL_ERR;
	req->held = true;
	req->next = s->held;
	if (s->held != NULL)
		s->held->prev = req;
	s->held = req;
	return VIGIL_OK;
}

int
http_req_reply_header(vigil_http_req *req, const char *name, const char *value)
{
	if (req->replied || name == NULL || value == NULL ||
	    name[strcspn(name, "\r\n: ")] != '\0' || name[0] == '\0' ||
	    value[strcspn(value, "\r\n")] != '\0')
		return VIGIL_ERR;
	return evhttp_add_header(
	           evhttp_request_get_output_headers(req->ev), name, value) == 0
	    ? VIGIL_OK
	    : VIGIL_ERR;
}

static void
on_unknown(struct evhttp_request *ev, void *arg)
{
	reply_json(ev, 404, NOT_FOUND_BODY);
}

/* Once answered, evhttp may free the request at any time. */
const char *
http_req_method(vigil_http_req *req)
{
	if (req->replied)
		return NULL;
	switch (evhttp_request_get_command(req->ev)) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	}
	return "UNKNOWN";
}

const char *
http_req_header(vigil_http_req *req, const char *name)
{
	if (req->replied || name == NULL)
		return NULL;
	return evhttp_find_header(
	    evhttp_request_get_input_headers(req->ev), name);
}

const char *
http_req_query(vigil_http_req *req, const char *name)
{
	const struct evhttp_uri *uri;
	const char              *q;

	if (req->replied || name == NULL)
		return NULL;
	if (!req->query_parsed) {
		TAILQ_INIT(&req->query);
		req->query_parsed = true;
		uri               = evhttp_request_get_evhttp_uri(req->ev);
		q = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
		/* A malformed query yields what parsed before the fault. */
		if (q != NULL)
			evhttp_parse_query_str(q, &req->query);
	}
	return evhttp_find_header(&req->query, name);
}

const void *
http_req_body(vigil_http_req *req, size_t *len)
{
	struct evbuffer *in;
	size_t           n;

	if (req->body == NULL) {
		if (req->replied)
			goto none;
		in = evhttp_request_get_input_buffer(req->ev);
		n  = evbuffer_get_length(in);
		/* NUL-terminated for handlers that parse text. */
		if ((req->body = malloc(n + 1)) == NULL) {
			log_err("http: out of memory for a %zu byte body", n);
			goto none;
		}
		evbuffer_copyout(in, req->body, n);
		req->body[n]  = '\0';
		req->body_len = n;
	}
	if (len != NULL)
		*len = req->body_len;
	return req->body;
none:
	if (len != NULL)
		*len = 0;
	return NULL;
}

static void send_reply(struct vigil_http_req *req, int status,
    const char *content_type, const void *body, size_t len);

void
http_req_reply(vigil_http_req *req, int status, const char *content_type,
    const void *body, size_t len)
{
	if (req->replied) {
		log_warn("http: a second reply to %s was dropped",
		    evhttp_request_get_uri(req->ev));
		return;
	}
	req->replied = true;
	if (req->held)
		held_unlink(req);
	send_reply(req, status, content_type, body, len);
	/* Held and answered inside the handler: on_request frees it. */
	if (req->held && !req->in_handler) {
		req_release(req);
		free(req);
	}
}

static void
send_reply(struct vigil_http_req *req, int status, const char *content_type,
    const void *body, size_t len)
{
	struct evbuffer *out;

	if (status < 100 || status > 599) {
		log_err("http: bad status %d for %s; sending 500", status,
		    evhttp_request_get_uri(req->ev));
		status = 500;
	}
	if (content_type != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req->ev),
		    "Content-Type", content_type);
	/* libevent 2.1 would send a body after HEAD: the length only. */
	if (evhttp_request_get_command(req->ev) == EVHTTP_REQ_HEAD) {
		char n[32];

		snprintf(n, sizeof(n), "%zu", len);
		evhttp_add_header(evhttp_request_get_output_headers(req->ev),
		    "Content-Length", n);
		len = 0;
	}
	out = evbuffer_new();
	if (out == NULL || (len > 0 && evbuffer_add(out, body, len) == -1)) {
		log_err("http: out of memory replying to %s",
		    evhttp_request_get_uri(req->ev));
		if (out != NULL)
			evbuffer_free(out);
		evhttp_send_error(req->ev, 500, NULL);
		return;
	}
	evhttp_send_reply(req->ev, status, reason_phrase(status), out);
	evbuffer_free(out);
}

/* ------------------------------------------------------------ the server */

/* Splits "host:port" or "[v6]:port"; NULL on success, else the reason. */
static const char *
split_listen(const char *listen, char **host, char **port)
{
	const char *colon, *hend, *hstart = listen;
	char       *end;
	long        p;

	if (listen[0] == '[') {
		hstart = listen + 1;
		if ((hend = strchr(hstart, ']')) == NULL)
			return "missing ']' after the IPv6 address";
		if (hend[1] != ':')
			return "expected ':PORT' after ']'";
		colon = hend + 1;
	} else {
		if ((colon = strrchr(listen, ':')) == NULL)
			return "expected HOST:PORT";
		if (memchr(listen, ':', (size_t)(colon - listen)) != NULL)
			return "write IPv6 addresses in brackets: [ADDR]:PORT";
		hend = colon;
	}
	if (hend == hstart)
		return "no host (use 0.0.0.0 or [::] for all addresses)";
	errno = 0;
	p     = strtol(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 ||
	    p < 0 || p > 65535)
		return "the port must be a number from 0 to 65535";
	*host = strndup(hstart, (size_t)(hend - hstart));
	*port = strdup(colon + 1);
	if (*host == NULL || *port == NULL) {
		free(*host);
		free(*port);
		*host = *port = NULL;
		return "out of memory";
	}
	return NULL;
}

http_server *
http_server_new(struct event_base *base, const http_options *o)
{
	http_server *s;
	const char  *why;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_err("http: out of memory");
		return NULL;
	}
	s->base            = base;
	s->max_body        = o->max_body;
	s->max_connections = o->max_connections;
	s->timeout_s       = o->timeout_s;
	if (o->listen == NULL) {
		log_err("http: no listen address");
		goto fail;
	}
	if ((s->listen = strdup(o->listen)) == NULL) {
		log_err("http: out of memory");
		goto fail;
	}
	if ((why = split_listen(o->listen, &s->host, &s->port)) != NULL) {
		log_err("http: bad listen address '%s': %s", o->listen, why);
		goto fail;
	}
	if ((s->http = evhttp_new(base)) == NULL) {
		log_err("http: cannot make an evhttp");
		goto fail;
	}
	evhttp_set_max_body_size(s->http,
	    s->max_body > (size_t)EV_SSIZE_MAX ? EV_SSIZE_MAX
	                                       : (ev_ssize_t)s->max_body);
	evhttp_set_max_headers_size(s->http, HTTP_MAX_HEADERS);
	if (s->timeout_s > 0)
		evhttp_set_timeout(s->http, s->timeout_s);
	evhttp_set_default_content_type(s->http, NULL);
	evhttp_set_bevcb(s->http, conn_new, s);
	evhttp_set_gencb(s->http, on_unknown, s);
	return s;
fail:
	http_server_free(s);
	return NULL;
}

/* Makes a listening socket for the first address of host:port that
 * binds; -1 with errno (or *gai_err) set. */
static int
listen_socket(const char *host, const char *port, int *gai_err)
{
	struct addrinfo hints = {0}, *res, *ai;
	int             fd = -1, one = 1, saved = 0;

	hints.ai_family   = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags    = AI_PASSIVE | AI_NUMERICSERV;
	if ((*gai_err = getaddrinfo(host, port, &hints, &res)) != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		if (setsockopt(
		        fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, SOMAXCONN) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		errno = saved;
	return fd;
}

static int
server_bind(http_server *s)
{
	int fd, gai_err = 0;

	if ((fd = listen_socket(s->host, s->port, &gai_err)) == -1) {
		log_err("http: cannot listen on %s: %s", s->listen,
		    gai_err != 0 ? gai_strerror(gai_err) : strerror(errno));
		return VIGIL_ERR;
	}
	if ((s->bound = evhttp_accept_socket_with_handle(s->http, fd)) ==
	    NULL) {
		log_err("http: cannot listen on %s: %s", s->listen,
		    strerror(errno));
		close(fd);
		return VIGIL_ERR;
	}
	log_info(
	    "http: listening on %s (port %d)", s->listen, http_server_port(s));
	return VIGIL_OK;
}

static bool
path_valid(const char *path)
{
	if (path == NULL || path[0] != '/')
		return false;
	for (const char *p = path; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#' ||
		    *p == 0x7f)
			return false;
	return true;
}

int
http_server_route(http_server *s, const char *path, vigil_http_fn fn, void *arg,
    const char *owner)
{
	struct route *rt;

	if (owner == NULL)
		owner = "(unnamed)";
	if (!path_valid(path) || fn == NULL) {
		log_err("http: %s: bad route '%s': a path starts with '/' and "
		        "has no spaces, '?' or '#'",
		    owner, path ? path : "(null)");
		return VIGIL_ERR;
	}
	for (rt = s->routes; rt != NULL; rt = rt->next) {
		if (strcmp(rt->path, path) == 0) {
			log_err("http: %s: cannot route %s: %s already has it",
			    owner, path, rt->owner);
			return VIGIL_ERR;
		}
	}
	if (s->bound == NULL && server_bind(s) != VIGIL_OK)
		return VIGIL_ERR;
	if ((rt = calloc(1, sizeof(*rt))) == NULL ||
	    (rt->path = strdup(path)) == NULL ||
	    (rt->owner = strdup(owner)) == NULL)
		goto nomem;
	rt->srv = s;
	rt->fn  = fn;
	rt->arg = arg;
	if (evhttp_set_cb(s->http, path, on_request, rt) != 0) {
		log_err("http: %s: evhttp refused the route %s", owner, path);
		goto fail;
	}
	rt->next  = s->routes;
	s->routes = rt;
	return VIGIL_OK;
nomem:
	log_err("http: %s: out of memory routing %s", owner, path);
fail:
	if (rt != NULL) {
		free(rt->path);
		free(rt->owner);
		free(rt);
	}
	return VIGIL_ERR;
}

int
http_server_unroute(http_server *s, const char *owner)
{
	struct route **pp = &s->routes, *rt;
	int            n  = 0;

	while ((rt = *pp) != NULL) {
		if (strcmp(rt->owner, owner) != 0) {
			pp = &rt->next;
			continue;
		}
		evhttp_del_cb(s->http, rt->path);
		*pp = rt->next;
		free(rt->path);
		free(rt->owner);
		free(rt);
		n++;
	}
	return n;
}

const char *
http_server_listen(const http_server *s)
{
	return s->listen;
}

int
http_server_port(const http_server *s)
{
	struct sockaddr_storage ss;
	socklen_t               len = sizeof(ss);

	if (s->bound == NULL ||
	    getsockname(evhttp_bound_socket_get_fd(s->bound),
	        (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

int
http_server_connections(const http_server *s)
{
	return s->n_conns;
}

/* evhttp_free closes sockets with their replies unsent: push what is
 * queued (the 503s above, replies made just before) to the kernel now,
 * without blocking; a full socket buffer loses the rest. */
static void
flush_replies(http_server *s)
{
	for (struct conn *c = s->conns; c != NULL; c = c->next) {
		struct evbuffer *out = bufferevent_get_output(c->bev);
		evutil_socket_t  fd  = bufferevent_getfd(c->bev);

		while (fd >= 0 && evbuffer_get_length(out) > 0)
			if (evbuffer_write(out, fd) <= 0)
				break;
	}
}

void
http_server_free(http_server *s)
{
	struct route *rt;

	if (s == NULL)
		return;
	/* A plugin answers what it holds before it goes; what is left here
	 * would be freed under it by evhttp_free. */
	while (s->held != NULL) {
		log_err("http: %s: a request to %s was never answered; "
		        "sending 503",
		    s->listen, evhttp_request_get_uri(s->held->ev));
		http_req_reply(s->held, 503, "application/json", SHUTDOWN_BODY,
		    sizeof(SHUTDOWN_BODY) - 1);
	}
	flush_replies(s);
	/* evhttp_free closes the connections; their close callbacks
	 * uncount them. What is left never reached its hook. */
	if (s->http != NULL)
		evhttp_free(s->http);
	while (s->conns != NULL)
		conn_forget(s->conns);
	while ((rt = s->routes) != NULL) {
		s->routes = rt->next;
		free(rt->path);
		free(rt->owner);
		free(rt);
	}
	free(s->listen);
	free(s->host);
	free(s->port);
	free(s);
}
