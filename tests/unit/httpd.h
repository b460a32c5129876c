/*
 * httpd.h - the loopback HTTP server that unit tests of HTTP clients
 * (test_fetch, test_webhook) run on their own event_base, so that client
 * and server share one loop as in vigild: an evhttp on 127.0.0.1 at a
 * port the kernel picks, a tick that keeps the loop from sleeping, the
 * helpers a request handler needs, and the loops that drive the base.
 * Each test keeps its own handler and its own assertions; failures here
 * fail the running cmocka test.
 */
#ifndef VIGIL_TEST_HTTPD_H
#define VIGIL_TEST_HTTPD_H

#include <stddef.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

/* A test's request handler, as evhttp calls it. */
typedef void httpd_handler(struct evhttp_request *req, void *arg);

struct httpd {
	struct evhttp *http;
	struct event  *tick; /* keeps the loop from sleeping long */
};

/* Serves every request to cb(req, arg) on 127.0.0.1 at a free port on
 * base, and ticks every 10 ms; returns the port. */
int httpd_start(
    struct httpd *h, struct event_base *base, httpd_handler *cb, void *arg);
/* Frees the server, its open connections and the tick; before the base. */
void httpd_stop(struct httpd *h);

/* A loopback port that was just free and has no listener. */
int httpd_unused_port(void);

/* Copies header name of h into out ("" when absent). */
void httpd_copy_header(
    struct evkeyvalq *h, const char *name, char *out, size_t len);
/* Answers req with code and body, and Retry-After when not NULL. */
void httpd_reply(struct evhttp_request *req, int code, const char *retry_after,
    const void *body, size_t len);

/* Milliseconds on the monotonic clock. */
long now_ms(void);
/* Runs base until *counter reaches n, for wait_ms at most; asserts that
 * it did. */
void run_until(
    struct event_base *base, const int *counter, int n, long wait_ms);
/* Runs base for ms. */
void run_for(struct event_base *base, long ms);

#endif
