/*
 * httpd.c - the loopback HTTP server of the unit tests of HTTP clients,
 * and the loops that drive its event_base (see httpd.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "httpd.h"

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

int
httpd_start(
    struct httpd *h, struct event_base *base, httpd_handler *cb, void *arg)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_in          sin;
	socklen_t                   len    = sizeof(sin);
	static const struct timeval ten_ms = {0, 10000};

	assert_non_null(h->http = evhttp_new(base));
	evhttp_set_gencb(h->http, cb, arg);
	assert_non_null(
	    bs = evhttp_bind_socket_with_handle(h->http, "127.0.0.1", 0));
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs),
	                     (struct sockaddr *)&sin, &len),
	    0);
	assert_non_null(
	    h->tick = event_new(base, -1, EV_PERSIST, on_tick, NULL));
	assert_int_equal(event_add(h->tick, &ten_ms), 0);
	return ntohs(sin.sin_port);
}

void
httpd_stop(struct httpd *h)
{
	evhttp_free(h->http);
	event_free(h->tick);
}

int
httpd_unused_port(void)
{
	struct sockaddr_in sin;
	socklen_t          len = sizeof(sin);
	int                fd  = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family      = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

void
httpd_copy_header(struct evkeyvalq *h, const char *name, char *out, size_t len)
{
	const char *v = evhttp_find_header(h, name);

	snprintf(out, len, "%s", v ? v : "");
}

void
httpd_reply(struct evhttp_request *req, int code, const char *retry_after,
    const void *body, size_t len)
{
	struct evbuffer *out = evbuffer_new();

	assert_non_null(out);
	if (retry_after)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", retry_after);
	evbuffer_add(out, body, len);
	evhttp_send_reply(req, code, "X", out);
	evbuffer_free(out);
}

long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
run_until(struct event_base *base, const int *counter, int n, long wait_ms)
{
	long end = now_ms() + wait_ms;

	while (*counter < n && now_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(*counter, n);
}

void
run_for(struct event_base *base, long ms)
{
	long end = now_ms() + ms;

	while (now_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
}
