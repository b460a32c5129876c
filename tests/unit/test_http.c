/*
 * test_http.c - unit tests of the shared HTTP listener (daemon/http.c)
 * with real requests over loopback: a raw client socket is driven in the
 * same thread as the server's event loop. Checked: status lines, headers,
 * query and body accessors, 404 for unknown paths, 413 beyond the body
 * limit, the connection cap (503, then room again after a close), idle
 * timeouts, duplicate routes, bad listen addresses and bind failures;
 * held requests (ABI 1.3): answered later from a timer, answered inside
 * the handler, answered after the client left (no crash, nothing leaked
 * under ASan), still held when the server is freed (503); reply headers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "http.h"
#include "log.h"

#define WAIT_MS 5000

struct fixture {
	struct event_base *base;
	http_server       *srv;
	int                port;
	int                calls;       /* handler invocations */
	vigil_http_req    *held;        /* a request held by hold_handler */
	int                held_len;    /* its body length at the late reply */
	bool               late_header; /* its header at the late reply */
};

struct response {
	int    status;
	char   line[128]; /* the status line */
	char  *head;      /* headers, NUL-terminated */
	char  *body;
	size_t body_len;
	size_t raw_len;
};

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the server's loop for about ms milliseconds. */
static void
pump(struct fixture *f, int ms)
{
	long end = now_ms() + ms;

	do {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(1000);
	} while (now_ms() < end);
}

/* Pumps until the server holds n connections or WAIT_MS passed. */
static void
pump_until_conns(struct fixture *f, int n)
{
	long end = now_ms() + WAIT_MS;

	while (http_server_connections(f->srv) != n && now_ms() < end)
		pump(f, 2);
	assert_int_equal(http_server_connections(f->srv), n);
}

static int
client_connect(int port)
{
	struct sockaddr_in sin = {0};
	int                fd  = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sin.sin_family      = AF_INET;
	sin.sin_port        = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* The listen backlog takes the connection before the loop runs. */
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

static void
response_free(struct response *r)
{
	free(r->head);
	free(r->body);
}

/* Splits raw into status, headers and body. */
static void
response_parse(char *raw, size_t len, struct response *r)
{
	char *eoh = strstr(raw, "\r\n\r\n"), *eol;

	memset(r, 0, sizeof(*r));
	r->raw_len = len;
	if (eoh == NULL) {
		r->status = -1;
		return;
	}
	eol = strstr(raw, "\r\n");
	snprintf(r->line, sizeof(r->line), "%.*s", (int)(eol - raw), raw);
	if (sscanf(raw, "HTTP/1.%*d %d", &r->status) != 1)
		r->status = -1;
	r->head     = strndup(eol + 2, (size_t)(eoh - eol));
	r->body_len = len - (size_t)(eoh + 4 - raw);
	r->body     = malloc(r->body_len + 1);
	assert_non_null(r->head);
	assert_non_null(r->body);
	memcpy(r->body, eoh + 4, r->body_len);
	r->body[r->body_len] = '\0';
}

/* Sends req on fd (closing it after) and reads until the server closes;
 * status -1 when no response came. */
static void
exchange_fd(struct fixture *f, int fd, const char *req, size_t req_len,
    struct response *r)
{
	char  *raw = NULL;
	size_t len = 0, cap = 0, sent = 0;
	long   end = now_ms() + WAIT_MS;
	bool   eof = false;

	while (!eof && now_ms() < end) {
		ssize_t n;

		if (sent < req_len) {
			n = send(fd, req + sent, req_len - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				sent = req_len; /* the server hung up */
		}
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			raw = realloc(raw, cap);
			assert_non_null(raw);
		}
		n = recv(fd, raw + len, cap - len - 1, 0);
		if (n > 0)
			len += (size_t)n;
		else if (n == 0 || errno != EAGAIN)
			eof = true;
		else
			usleep(500);
	}
	close(fd);
	assert_true(eof);
	if (raw == NULL)
		raw = calloc(1, 1);
	assert_non_null(raw);
	raw[len] = '\0';
	response_parse(raw, len, r);
	free(raw);
}

static void
exchange(struct fixture *f, const char *req, struct response *r)
{
	exchange_fd(f, client_connect(f->port), req, strlen(req), r);
}

static void
assert_header(const struct response *r, const char *line)
{
	if (r->head == NULL || strstr(r->head, line) == NULL)
		fail_msg("header '%s' not in:\n%s", line,
		    r->head ? r->head : "(none)");
}

/* ------------------------------------------------------------ handlers */

/* Answers with what it saw, as JSON-ish text. */
static void
echo_handler(vigil_http_req *req, void *arg)
{
	struct fixture *f       = arg;
	const char     *h       = http_req_header(req, "x-token");
	const char     *q       = http_req_query(req, "name");
	const char     *missing = http_req_query(req, "absent");
	size_t          len     = 0;
	const char     *body    = http_req_body(req, &len);
	char            out[1024];
	int             n;

	f->calls++;
	n = snprintf(out, sizeof(out),
	    "method=%s token=%s name=%s absent=%s len=%zu nul=%d body=%s",
	    http_req_method(req), h ? h : "-", q ? q : "-",
	    missing ? missing : "-", len, body ? body[len] == '\0' : -1,
	    body ? body : "-");
	http_req_reply(req, 200, "text/plain; charset=utf-8", out, (size_t)n);
}

/* Replies with the raw body, twice (the second must be dropped). */
static void
raw_handler(vigil_http_req *req, void *arg)
{
	size_t      len;
	const void *body = http_req_body(req, &len);

	http_req_reply(req, 201, "application/octet-stream", body, len);
	http_req_reply(req, 500, "text/plain", "no", 2);
	/* After the reply the request is no longer read. */
	if (http_req_header(req, "host") != NULL ||
	    http_req_method(req) != NULL)
		abort();
}

static void
silent_handler(vigil_http_req *req, void *arg)
{
}

static void
status_handler(vigil_http_req *req, void *arg)
{
	const char *code = http_req_query(req, "code");

	http_req_reply(req, code ? atoi(code) : 204, NULL, NULL, 0);
}

/* Holds the request; the test answers it later with late_reply. */
static void
hold_handler(vigil_http_req *req, void *arg)
{
	struct fixture *f = arg;

	f->calls++;
	assert_int_equal(http_req_hold(req), VIGIL_OK);
	/* Holding twice is harmless. */
	assert_int_equal(http_req_hold(req), VIGIL_OK);
	f->held = req;
}

static void
late_reply(evutil_socket_t fd, short what, void *arg)
{
	struct fixture *f = arg;
	size_t          len;
	const char     *body = http_req_body(f->held, &len);

	(void)fd;
	(void)what;
	/* Body and headers stay readable until the reply. */
	f->held_len    = body != NULL ? (int)len : -1;
	f->late_header = http_req_header(f->held, "x-token") != NULL;
	assert_int_equal(
	    http_req_reply_header(f->held, "X-Late", "yes"), VIGIL_OK);
	http_req_reply(f->held, 202, "application/json", "{\"late\":1}", 10);
	f->held = NULL;
}

/* Holds, then answers before returning anyway. */
static void
hold_then_reply_handler(vigil_http_req *req, void *arg)
{
	struct fixture *f = arg;

	f->calls++;
	assert_int_equal(http_req_hold(req), VIGIL_OK);
	http_req_reply(req, 400, "text/plain", "no", 2);
	/* Too late to hold or to add headers. */
	assert_int_equal(http_req_hold(req), VIGIL_ERR);
	assert_int_equal(http_req_reply_header(req, "X-A", "b"), VIGIL_ERR);
}

static void
header_handler(vigil_http_req *req, void *arg)
{
	struct fixture *f = arg;

	f->calls++;
	assert_int_equal(
	    http_req_reply_header(req, "Retry-After", "7"), VIGIL_OK);
	assert_int_equal(http_req_reply_header(
	                     req, "WWW-Authenticate", "Bearer realm=\"vigil\""),
	    VIGIL_OK);
	/* Header splitting and nonsense names are refused. */
	assert_int_equal(
	    http_req_reply_header(req, "X-Bad", "a\r\nSet-Cookie: x=1"),
	    VIGIL_ERR);
	assert_int_equal(
	    http_req_reply_header(req, "X-Bad", "a\nb"), VIGIL_ERR);
	assert_int_equal(
	    http_req_reply_header(req, "X-Bad: y", "a"), VIGIL_ERR);
	assert_int_equal(http_req_reply_header(req, "X Bad", "a"), VIGIL_ERR);
	assert_int_equal(http_req_reply_header(req, "", "a"), VIGIL_ERR);
	assert_int_equal(http_req_reply_header(req, NULL, "a"), VIGIL_ERR);
	assert_int_equal(http_req_reply_header(req, "X-Bad", NULL), VIGIL_ERR);
	http_req_reply(req, 503, "application/json", "{}", 2);
}

/* ------------------------------------------------------------ fixtures */

static struct fixture *
fixture_new(const http_options *o)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->base = event_base_new();
	assert_non_null(f->base);
	f->srv = http_server_new(f->base, o);
	assert_non_null(f->srv);
	assert_int_equal(http_server_port(f->srv), 0);
	assert_int_equal(
	    http_server_route(f->srv, "/echo", echo_handler, f, "test echo"),
	    VIGIL_OK);
	f->port = http_server_port(f->srv);
	assert_true(f->port > 0);
	return f;
}

static void
fixture_free(struct fixture *f)
{
	http_server_free(f->srv);
	event_base_free(f->base);
	free(f);
}

static int
setup(void **state)
{
	http_options o = {.listen = "127.0.0.1:0",
	    .max_body             = 64,
	    .max_connections      = 3,
	    .timeout_s            = 5};

	*state = fixture_new(&o);
	return 0;
}

static int
teardown(void **state)
{
	fixture_free(*state);
	return 0;
}

/* ------------------------------------------------------------ tests */

static void
test_get_with_query_and_header(void **state)
{
	struct fixture *f = *state;
	struct response r;

	exchange(f,
	    "GET /echo?name=a%20b&x=1 HTTP/1.1\r\nHost: t\r\n"
	    "X-Token: secret\r\nConnection: close\r\n\r\n",
	    &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.line, "HTTP/1.1 200 OK");
	assert_header(&r, "Content-Type: text/plain; charset=utf-8\r\n");
	assert_header(&r, "Content-Length: 59\r\n");
	assert_string_equal(r.body,
	    "method=GET token=secret name=a b "
	    "absent=- len=0 nul=1 body=");
	assert_int_equal(f->calls, 1);
	response_free(&r);
	pump_until_conns(f, 0);
}

static void
test_post_body(void **state)
{
	struct fixture *f = *state;
	struct response r;
	/* Binary, with a NUL inside. */
	static const char req[] =
	    "POST /raw HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 5\r\nConnection: close\r\n\r\nab\0cd";

	assert_int_equal(
	    http_server_route(f->srv, "/raw", raw_handler, f, "test raw"),
	    VIGIL_OK);
	exchange_fd(f, client_connect(f->port), req, sizeof(req) - 1, &r);
	assert_string_equal(r.line, "HTTP/1.1 201 Created");
	assert_header(&r, "Content-Type: application/octet-stream\r\n");
	assert_int_equal(r.body_len, 5);
	assert_memory_equal(r.body, "ab\0cd", 5);
	response_free(&r);

	exchange(f,
	    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n"
	    "Connection: close\r\n\r\nhello world",
	    &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body,
	    "method=POST token=- name=- absent=- "
	    "len=11 nul=1 body=hello world");
	response_free(&r);
	exchange(f,
	    "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
	    "Connection: close\r\n\r\nhi",
	    &r);
	assert_non_null(strstr(r.body, "method=PUT "));
	response_free(&r);
	exchange(f,
	    "DELETE /echo HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n",
	    &r);
	assert_non_null(strstr(r.body, "method=DELETE "));
	response_free(&r);
	/* HEAD: the handler runs, the body is not sent. */
	exchange(f,
	    "HEAD /echo HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n",
	    &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Length: 53\r\n");
	assert_null(
	    strstr(strstr(r.head, "Content-Length") + 1, "Content-Length"));
	assert_int_equal(r.body_len, 0);
	response_free(&r);
	assert_int_equal(f->calls, 4);
}

static void
test_not_found(void **state)
{
	struct fixture *f = *state;
	struct response r;

	exchange(f,
	    "GET /nowhere?echo HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n",
	    &r);
	assert_string_equal(r.line, "HTTP/1.1 404 Not Found");
	assert_header(&r, "Content-Type: application/json\r\n");
	assert_string_equal(r.body, "{\"error\":\"not found\"}");
	response_free(&r);
	/* Routes match whole paths only. */
	exchange(f,
	    "GET /echo/more HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n",
	    &r);
	assert_int_equal(r.status, 404);
	response_free(&r);
	/* Not HTTP at all. */
	exchange(f, "NONSENSE\r\n\r\n", &r);
	assert_int_equal(r.status, 400);
	response_free(&r);
	assert_int_equal(f->calls, 0);
	pump_until_conns(f, 0);
}

static void
test_body_too_large(void **state)
{
	struct fixture *f = *state;
	struct response r;
	char            req[512], body[101];

	memset(body, 'x', 100);
	body[100] = '\0';
	/* Announced by Content-Length. */
	snprintf(req, sizeof(req),
	    "POST /echo HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 100\r\nConnection: close\r\n\r\n%s",
	    body);
	exchange(f, req, &r);
	assert_int_equal(r.status, 413);
	response_free(&r);
	/* Chunked, found out while reading. */
	snprintf(req, sizeof(req),
	    "POST /echo HTTP/1.1\r\nHost: t\r\n"
	    "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
	    "32\r\n%.50s\r\n32\r\n%.50s\r\n0\r\n\r\n",
	    body, body);
	exchange(f, req, &r);
	assert_int_equal(r.status, 413);
	response_free(&r);
	/* At the limit exactly: accepted. */
	snprintf(req, sizeof(req),
	    "POST /echo HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 64\r\nConnection: close\r\n\r\n%.64s",
	    body);
	exchange(f, req, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "len=64 "));
	response_free(&r);
	assert_int_equal(f->calls, 1);
	pump_until_conns(f, 0);
}

static void
test_handler_without_reply(void **state)
{
	struct fixture *f = *state;
	struct response r;

	assert_int_equal(http_server_route(f->srv, "/silent", silent_handler, f,
	                     "test silent"),
	    VIGIL_OK);
	assert_int_equal(http_server_route(f->srv, "/status", status_handler, f,
	                     "test status"),
	    VIGIL_OK);
	exchange(f,
	    "GET /silent HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n",
	    &r);
	assert_string_equal(r.line, "HTTP/1.1 500 Internal Server Error");
	assert_header(&r, "Content-Type: application/json\r\n");
	response_free(&r);
	exchange(f,
	    "GET /status?code=429 HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n",
	    &r);
	assert_string_equal(r.line, "HTTP/1.1 429 Too Many Requests");
	assert_int_equal(r.body_len, 0);
	assert_true(r.head != NULL && strstr(r.head, "Content-Type") == NULL);
	response_free(&r);
	exchange(f,
	    "GET /status?code=42 HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n",
	    &r);
	assert_int_equal(r.status, 500);
	response_free(&r);
}

static void
test_routes(void **state)
{
	struct fixture *f = *state;
	struct response r;

	/* The same path twice is refused, and the first keeps it. */
	assert_int_equal(http_server_route(f->srv, "/echo", silent_handler, f,
	                     "other plugin"),
	    VIGIL_ERR);
	assert_int_equal(http_server_route(
	                     f->srv, "echo", silent_handler, f, "other plugin"),
	    VIGIL_ERR);
	assert_int_equal(http_server_route(
	                     f->srv, "/a b", silent_handler, f, "other plugin"),
	    VIGIL_ERR);
	assert_int_equal(http_server_route(
	                     f->srv, "/a?b", silent_handler, f, "other plugin"),
	    VIGIL_ERR);
	assert_int_equal(
	    http_server_route(f->srv, NULL, silent_handler, f, "other plugin"),
	    VIGIL_ERR);
	assert_int_equal(
	    http_server_route(f->srv, "/x", NULL, f, "other plugin"),
	    VIGIL_ERR);
	exchange(f,
	    "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
	    "\r\n",
	    &r);
	assert_int_equal(r.status, 200);
	response_free(&r);

	/* Unrouting frees the path for someone else. */
	assert_int_equal(http_server_route(
	                     f->srv, "/status", status_handler, f, "test echo"),
	    VIGIL_OK);
	assert_int_equal(http_server_unroute(f->srv, "nobody"), 0);
	assert_int_equal(http_server_unroute(f->srv, "test echo"), 2);
	exchange(f,
	    "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
	    "\r\n",
	    &r);
	assert_int_equal(r.status, 404);
	response_free(&r);
	assert_int_equal(http_server_route(f->srv, "/echo", status_handler, f,
	                     "other plugin"),
	    VIGIL_OK);
	exchange(f,
	    "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
	    "\r\n",
	    &r);
	assert_int_equal(r.status, 204);
	response_free(&r);
}

/* Keep-alive: two requests on one connection, counted once. */
static void
test_keep_alive(void **state)
{
	struct fixture *f = *state;
	struct response r;
	int             fd   = client_connect(f->port);
	const char     *req1 = "GET /echo?name=1 HTTP/1.1\r\nHost: t\r\n\r\n";
	const char     *req2 = "GET /echo?name=2 HTTP/1.1\r\nHost: t\r\n"
	                       "Connection: close\r\n\r\n";
	char            buf[4096];
	ssize_t         n   = 0;
	long            end = now_ms() + WAIT_MS;

	assert_int_equal(
	    send(fd, req1, strlen(req1), 0), (ssize_t)strlen(req1));
	while (n <= 0 && now_ms() < end) {
		pump(f, 2);
		n = recv(fd, buf, sizeof(buf) - 1, 0);
	}
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
	assert_int_equal(http_server_connections(f->srv), 1);
	exchange_fd(f, fd, req2, strlen(req2), &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "name=2"));
	response_free(&r);
	assert_int_equal(f->calls, 2);
	pump_until_conns(f, 0);
}

static void
test_connection_cap(void **state)
{
	struct fixture *f = *state;
	struct response r;
	int             idle[3];

	/* Three idle connections fill the cap of three. */
	for (int i = 0; i < 3; i++)
		idle[i] = client_connect(f->port);
	pump_until_conns(f, 3);
	/* The fourth is turned away at once, without reaching a handler. */
	exchange(f,
	    "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
	    "\r\n",
	    &r);
	assert_string_equal(r.line, "HTTP/1.1 503 Service Unavailable");
	assert_string_equal(r.body, "{\"error\":\"too many connections\"}");
	assert_int_equal(f->calls, 0);
	response_free(&r);
	assert_int_equal(http_server_connections(f->srv), 3);
	/* Room again after one closes. */
	close(idle[0]);
	pump_until_conns(f, 2);
	exchange(f,
	    "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
	    "\r\n",
	    &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(f->calls, 1);
	response_free(&r);
	close(idle[1]);
	close(idle[2]);
	pump_until_conns(f, 0);
}

/* A connection that sends nothing is closed after the timeout. */
static void
test_idle_timeout(void **state)
{
	http_options    o  = {.listen = "127.0.0.1:0",
	        .max_body             = 1024,
	        .max_connections      = 0,
	        .timeout_s            = 1};
	struct fixture *f  = fixture_new(&o);
	int             fd = client_connect(f->port);
	char            c;
	ssize_t         n     = -1;
	long            start = now_ms();

	pump_until_conns(f, 1);
	while (n < 0 && now_ms() - start < WAIT_MS) {
		pump(f, 5);
		n = recv(fd, &c, 1, 0);
	}
	assert_int_equal(n, 0);
	assert_true(now_ms() - start >= 900);
	assert_int_equal(http_server_connections(f->srv), 0);
	close(fd);
	/* Freeing with open connections closes and uncounts them. */
	fd = client_connect(f->port);
	pump_until_conns(f, 1);
	fixture_free(f);
	n     = -1;
	start = now_ms();
	while (n < 0 && now_ms() - start < WAIT_MS)
		n = recv(fd, &c, 1, 0);
	assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
	close(fd);
}

static void
test_bad_listen(void **state)
{
	static const char *const bad[] = {"", "nohost", "8470", ":8470",
	    "1.2.3.4", "[::1", "[::1]8470", "::1:8470", "[]:80",
	    "h:", "h:99999", "h:-1", "h:80x", "h: 80"};
	struct event_base       *base  = event_base_new();
	http_options             o     = {.max_body = 10, .max_connections = 1};

	assert_non_null(base);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		o.listen = bad[i];
		if (http_server_new(base, &o) != NULL)
			fail_msg("listen address accepted: '%s'", bad[i]);
	}
	o.listen = NULL;
	assert_null(http_server_new(base, &o));
	event_base_free(base);
}

static void
test_bind_failure(void **state)
{
	struct fixture    *f    = *state;
	struct event_base *base = event_base_new();
	char               addr[64];
	http_options       o = {.listen = addr, .max_body = 10};
	http_server       *s;

	assert_non_null(base);
	/* The port is taken by the fixture's server. */
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", f->port);
	s = http_server_new(base, &o);
	assert_non_null(s);
	assert_int_equal(
	    http_server_route(s, "/x", status_handler, NULL, "second"),
	    VIGIL_ERR);
	assert_int_equal(http_server_port(s), 0);
	http_server_free(s);
	/* An address that is not here. */
	o.listen = "192.0.2.1:0";
	s        = http_server_new(base, &o);
	assert_non_null(s);
	assert_int_equal(
	    http_server_route(s, "/x", status_handler, NULL, "second"),
	    VIGIL_ERR);
	http_server_free(s);
	/* Names resolve (from /etc/hosts: no lookup leaves the machine). */
	o.listen = "localhost:0";
	s        = http_server_new(base, &o);
	assert_non_null(s);
	assert_int_equal(
	    http_server_route(s, "/x", status_handler, NULL, "second"),
	    VIGIL_OK);
	assert_true(http_server_port(s) > 0);
	http_server_free(s);
	event_base_free(base);
}

static void
test_ipv6(void **state)
{
	http_options        o    = {.listen = "[::1]:0", .max_body = 10};
	struct event_base  *base = event_base_new();
	http_server        *s;
	int                 fd   = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 sin6 = {
	    .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};

	assert_non_null(base);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) != 0) {
		if (fd >= 0)
			close(fd);
		event_base_free(base);
		skip(); /* no IPv6 loopback here */
	}
	close(fd);
	s = http_server_new(base, &o);
	assert_non_null(s);
	assert_int_equal(
	    http_server_route(s, "/x", status_handler, NULL, "v6"), VIGIL_OK);
	assert_true(http_server_port(s) > 0);
	http_server_free(s);
	event_base_free(base);
}

/* Sends req on a new connection without reading the answer. */
static int
send_only(struct fixture *f, const char *req)
{
	int fd = client_connect(f->port);

	assert_int_equal(
	    send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	return fd;
}

/* Pumps until the handler has run calls times. */
static void
pump_until_calls(struct fixture *f, int calls)
{
	long end = now_ms() + WAIT_MS;

	while (f->calls < calls && now_ms() < end)
		pump(f, 2);
	assert_int_equal(f->calls, calls);
}

static void
test_hold_answered_from_timer(void **state)
{
	struct fixture *f = *state;
	struct response r;
	struct timeval  tv = {0, 200000};
	long            start;

	assert_int_equal(
	    http_server_route(f->srv, "/hold", hold_handler, f, "test hold"),
	    VIGIL_OK);
	assert_int_equal(
	    event_base_once(f->base, -1, EV_TIMEOUT, late_reply, f, &tv), 0);
	start = now_ms();
	exchange(f,
	    "POST /hold HTTP/1.1\r\nHost: t\r\nX-Token: s\r\n"
	    "Content-Length: 5\r\nConnection: close\r\n\r\nhello",
	    &r);
	assert_true(now_ms() - start >= 150);
	assert_string_equal(r.line, "HTTP/1.1 202 Accepted");
	assert_header(&r, "X-Late: yes\r\n");
	assert_header(&r, "Content-Type: application/json\r\n");
	assert_string_equal(r.body, "{\"late\":1}");
	assert_int_equal(f->held_len, 5);
	assert_true(f->late_header);
	assert_null(f->held);
	response_free(&r);
	pump_until_conns(f, 0);
}

static void
test_hold_reply_in_handler(void **state)
{
	struct fixture *f = *state;
	struct response r;

	assert_int_equal(http_server_route(f->srv, "/now",
	                     hold_then_reply_handler, f, "test now"),
	    VIGIL_OK);
	exchange(
	    f, "GET /now HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r);
	assert_string_equal(r.line, "HTTP/1.1 400 Bad Request");
	assert_string_equal(r.body, "no");
	response_free(&r);
	assert_int_equal(f->calls, 1);
}

/* The client hangs up before the late reply: the reply goes nowhere, and
 * the request and its connection are freed (ASan's leak check). */
static void
test_hold_client_gone(void **state)
{
	struct fixture *f = *state;
	int             fd;

	assert_int_equal(
	    http_server_route(f->srv, "/hold", hold_handler, f, "test hold"),
	    VIGIL_OK);
	fd = send_only(f,
	    "POST /hold HTTP/1.1\r\nHost: t\r\nX-Token: s\r\n"
	    "Content-Length: 3\r\n\r\nabc");
	pump_until_calls(f, 1);
	assert_non_null(f->held);
	close(fd);
	pump(f, 100);
	late_reply(-1, 0, f);
	assert_int_equal(f->held_len, 3);
	assert_true(f->late_header);
	pump_until_conns(f, 0);
	/* The server goes on serving. */
	fd = send_only(
	    f, "POST /hold HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx");
	pump_until_calls(f, 2);
	/* This client closes right after the reply is queued. */
	late_reply(-1, 0, f);
	close(fd);
	pump_until_conns(f, 0);
}

static void
test_reply_headers(void **state)
{
	struct fixture *f = *state;
	struct response r;

	assert_int_equal(http_server_route(
	                     f->srv, "/headers", header_handler, f, "test hdr"),
	    VIGIL_OK);
	exchange(f,
	    "GET /headers HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
	    &r);
	assert_string_equal(r.line, "HTTP/1.1 503 Service Unavailable");
	assert_header(&r, "Retry-After: 7\r\n");
	assert_header(&r, "WWW-Authenticate: Bearer realm=\"vigil\"\r\n");
	assert_null(strstr(r.head, "X-Bad"));
	assert_null(strstr(r.head, "Set-Cookie"));
	response_free(&r);
}

/* Freed with a request still held: the client gets 503, not a reset. */
static void
test_free_with_held(void **state)
{
	http_options    o = {.listen = "127.0.0.1:0",
	       .max_body             = 1024,
	       .max_connections      = 4,
	       .timeout_s            = 5};
	struct fixture *f = fixture_new(&o);
	char            buf[1024];
	size_t          len = 0;
	long            end;
	int             fd;
	struct response r;

	assert_int_equal(
	    http_server_route(f->srv, "/hold", hold_handler, f, "test hold"),
	    VIGIL_OK);
	fd = send_only(
	    f, "POST /hold HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi");
	pump_until_calls(f, 1);
	assert_non_null(f->held);
	http_server_free(f->srv);
	f->srv = NULL;
	end    = now_ms() + WAIT_MS;
	while (len < sizeof(buf) - 1 && now_ms() < end) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);

		if (n > 0)
			len += (size_t)n;
		else if (n == 0 || errno != EAGAIN)
			break;
		else
			usleep(1000);
	}
	close(fd);
	buf[len] = '\0';
	response_parse(buf, len, &r);
	assert_string_equal(r.line, "HTTP/1.1 503 Service Unavailable");
	assert_string_equal(r.body, "{\"error\":\"shutting down\"}");
	response_free(&r);
	event_base_free(f->base);
	free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_get_with_query_and_header, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_post_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_body_too_large, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_handler_without_reply, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keep_alive, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_connection_cap, setup, teardown),
	    cmocka_unit_test(test_idle_timeout),
	    cmocka_unit_test(test_bad_listen),
	    cmocka_unit_test_setup_teardown(test_bind_failure, setup, teardown),
	    cmocka_unit_test(test_ipv6),
	    cmocka_unit_test_setup_teardown(
	        test_hold_answered_from_timer, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_hold_reply_in_handler, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_hold_client_gone, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_reply_headers, setup, teardown),
	    cmocka_unit_test(test_free_with_held),
	};

	signal(SIGPIPE, SIG_IGN);

	return cmocka_run_group_tests(tests, NULL, NULL);
}
