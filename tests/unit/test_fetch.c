/*
 * test_fetch.c - unit tests of the host's HTTP client (daemon/fetch.c)
 * against a libevent evhttp server inside the test, on 127.0.0.1 and on
 * the same event_base, so that both sides run on one loop as in vigild.
 * Checked: GET and POST (and PUT) arrive with their method, headers and
 * body as sent; status and body come back; max_body cuts; Retry-After in
 * both forms; connection refused, a protocol other than HTTP and a
 * timeout give status 0 and a reason; cancel before completion (done
 * never runs, nothing leaks); requests started from a done callback;
 * many requests at once; malformed requests are refused at fetch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "fetch.h"
#include "httpd.h"
#include "log.h"

#define WAIT_MS 10000
#define MANY    64

/* What the server saw of the last request. */
struct seen {
	char   method[16];
	char   uri[256];
	char   x_test[64];
	char   ctype[64];
	bool   expect; /* an Expect header came */
	char  *body;
	size_t body_len;
};

/* What a done callback got. */
struct outcome {
	int     calls;
	int     status;
	char   *error;
	char   *body;
	size_t  body_len;
	int64_t retry_after_ms;
};

struct fixture {
	struct event_base *base;
	struct httpd       httpd;
	fetch_client      *fc;
	int                port;
	int                requests; /* the server's count */
	int                slow;     /* requests left unanswered */
	struct seen        seen;
};

/* ------------------------------------------------------------ server */

static const char *
method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_HEAD: return "HEAD";
	default: return "OTHER";
	}
}

static void
record(struct fixture *f, struct evhttp_request *req)
{
	struct evkeyvalq *in  = evhttp_request_get_input_headers(req);
	struct evbuffer  *buf = evhttp_request_get_input_buffer(req);
	struct seen      *s   = &f->seen;

	free(s->body);
	memset(s, 0, sizeof(*s));
	snprintf(s->method, sizeof(s->method), "%s",
	    method_name(evhttp_request_get_command(req)));
	snprintf(s->uri, sizeof(s->uri), "%s", evhttp_request_get_uri(req));
	httpd_copy_header(in, "X-Test", s->x_test, sizeof(s->x_test));
	httpd_copy_header(in, "Content-Type", s->ctype, sizeof(s->ctype));
	s->expect   = evhttp_find_header(in, "Expect") != NULL;
	s->body_len = evbuffer_get_length(buf);
	s->body     = malloc(s->body_len + 1);
	assert_non_null(s->body);
	evbuffer_copyout(buf, s->body, s->body_len);
	s->body[s->body_len] = '\0';
}

/* Paths: /echo (200 "hello"), /created (201), /big (100000 x's),
 * /id/N (200 "N"), /retry-delta, /retry-date, /retry-bad, /slow (never
 * answered). */
static void
on_request(struct evhttp_request *req, void *arg)
{
	struct fixture *f   = arg;
	const char     *uri = evhttp_request_get_uri(req);

	f->requests++;
	record(f, req);
	if (strncmp(uri, "/echo", 5) == 0)
		httpd_reply(req, 200, NULL, "hello", 5);
	else if (strcmp(uri, "/created") == 0)
		httpd_reply(req, 201, NULL, "made", 4);
	else if (strcmp(uri, "/big") == 0) {
		char *big = malloc(100000);

		assert_non_null(big);
		memset(big, 'x', 100000);
		httpd_reply(req, 200, NULL, big, 100000);
		free(big);
	} else if (strncmp(uri, "/id/", 4) == 0)
		httpd_reply(req, 200, NULL, uri + 4, strlen(uri + 4));
	else if (strcmp(uri, "/retry-delta") == 0)
		httpd_reply(req, 503, "7", "busy", 4);
	else if (strcmp(uri, "/retry-date") == 0) {
		char      date[64];
		time_t    t = time(NULL) + 120;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		httpd_reply(req, 429, date, "", 0);
	} else if (strcmp(uri, "/retry-bad") == 0)
		httpd_reply(req, 503, "soon", "", 0);
	else if (strcmp(uri, "/slow") == 0)
		f->slow++; /* evhttp frees it with the connection */
	else
		httpd_reply(req, 404, NULL, "no", 2);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_non_null(f->base = event_base_new());
	f->port = httpd_start(&f->httpd, f->base, on_request, f);
	evhttp_set_allowed_methods(f->httpd.http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	        EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	assert_non_null(f->fc = fetch_client_new(f->base));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	fetch_client_free(f->fc);
	httpd_stop(&f->httpd);
	event_base_free(f->base);
	free(f->seen.body);
	free(f);
	return 0;
}

/* ------------------------------------------------------------ client */

static void
outcome_clear(struct outcome *o)
{
	free(o->error);
	free(o->body);
	memset(o, 0, sizeof(*o));
}

static void
on_done(void *arg, const vigil_fetch_result *res)
{
	struct outcome *o = arg;

	assert_true(res->struct_size >= sizeof(*res));
	assert_non_null(res->body);
	assert_int_equal(res->body[res->body_len], '\0');
	o->calls++;
	o->status         = res->status;
	o->retry_after_ms = res->retry_after_ms;
	o->body_len       = res->body_len;
	free(o->body);
	free(o->error);
	assert_non_null(o->body = malloc(res->body_len + 1));
	memcpy(o->body, res->body, res->body_len + 1);
	o->error = res->error ? strdup(res->error) : NULL;
	/* Either a response or a reason, never both. */
	assert_true((res->error == NULL) == (res->status > 0));
}

static void
url(const struct fixture *f, const char *path, char *out, size_t len)
{
	snprintf(out, len, "http://127.0.0.1:%d%s", f->port, path);
}

static vigil_fetch *
get(struct fixture *f, const char *path, struct outcome *o)
{
	char            u[128];
	vigil_fetch_req req = {
	    .struct_size = sizeof(req),
	    .url         = u,
	    .done        = on_done,
	    .arg         = o,
	};

	url(f, path, u, sizeof(u));
	return fetch_start(f->fc, NULL, &req);
}

/* ------------------------------------------------------------ tests */

static void
test_get(void **state)
{
	struct fixture   *f = *state;
	struct outcome    o = {0};
	char              u[128];
	const char *const headers[] = {"X-Test: one two", "Accept: text/plain"};
	vigil_fetch_req   req       = {
	            .struct_size = sizeof(req),
	            .method      = "GET",
	            .url         = u,
	            .headers     = headers,
	            .n_headers   = 2,
	            .done        = on_done,
	            .arg         = &o,
        };

	url(f, "/echo?x=1", u, sizeof(u));
	assert_non_null(fetch_start(f->fc, NULL, &req));
	/* The request was copied: the caller's buffers may go at once. */
	memset(u, 0, sizeof(u));
	assert_int_equal(o.calls, 0); /* never from inside fetch */
	assert_int_equal(fetch_client_running(f->fc), 1);
	run_until(f->base, &o.calls, 1, WAIT_MS);
	assert_string_equal(f->seen.method, "GET");
	assert_string_equal(f->seen.uri, "/echo?x=1");
	assert_string_equal(f->seen.x_test, "one two");
	assert_int_equal(f->seen.body_len, 0);
	assert_int_equal(o.status, 200);
	assert_null(o.error);
	assert_int_equal(o.body_len, 5);
	assert_string_equal(o.body, "hello");
	assert_int_equal(o.retry_after_ms, -1);
	assert_int_equal(fetch_client_running(f->fc), 0);
	outcome_clear(&o);
}

static void
test_post_and_put(void **state)
{
	struct fixture   *f = *state;
	struct outcome    o = {0};
	char              u[128];
	char              body[3000];
	const char *const headers[] = {
	    "Content-Type: application/json", "X-Test: signed"};
	vigil_fetch_req req = {
	    .struct_size = sizeof(req),
	    .method      = "POST",
	    .url         = u,
	    .headers     = headers,
	    .n_headers   = 2,
	    .body        = body,
	    .body_len    = sizeof(body),
	    .done        = on_done,
	    .arg         = &o,
	};

	/* Larger than libcurl's Expect: 100-continue threshold, and with
	 * a NUL byte inside. */
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)('a' + i % 26);
	body[10] = '\0';
	url(f, "/created", u, sizeof(u));
	assert_non_null(fetch_start(f->fc, NULL, &req));
	memset(body, '?', sizeof(body)); /* copied at fetch */
	run_until(f->base, &o.calls, 1, WAIT_MS);
	assert_string_equal(f->seen.method, "POST");
	assert_string_equal(f->seen.ctype, "application/json");
	assert_string_equal(f->seen.x_test, "signed");
	assert_false(f->seen.expect);
	assert_int_equal(f->seen.body_len, sizeof(body));
	assert_int_equal(f->seen.body[0], 'a');
	assert_int_equal(f->seen.body[10], '\0');
	assert_int_equal(f->seen.body[11], 'l');
	assert_int_equal(o.status, 201);
	assert_string_equal(o.body, "made");

	/* PUT with a body, and an empty POST. */
	req.method   = "PUT";
	req.body     = "{}";
	req.body_len = 2;
	assert_non_null(fetch_start(f->fc, NULL, &req));
	run_until(f->base, &o.calls, 2, WAIT_MS);
	assert_string_equal(f->seen.method, "PUT");
	assert_string_equal(f->seen.body, "{}");
	req.method   = "POST";
	req.body     = NULL;
	req.body_len = 0;
	assert_non_null(fetch_start(f->fc, NULL, &req));
	run_until(f->base, &o.calls, 3, WAIT_MS);
	assert_string_equal(f->seen.method, "POST");
	assert_int_equal(f->seen.body_len, 0);
	assert_int_equal(o.status, 201);
	outcome_clear(&o);
}

static void
test_max_body(void **state)
{
	struct fixture *f = *state;
	struct outcome  o = {0};
	char            u[128];
	vigil_fetch_req req = {
	    .struct_size = sizeof(req),
	    .url         = u,
	    .max_body    = 1000,
	    .done        = on_done,
	    .arg         = &o,
	};

	url(f, "/big", u, sizeof(u));
	assert_non_null(fetch_start(f->fc, NULL, &req));
	run_until(f->base, &o.calls, 1, WAIT_MS);
	assert_int_equal(o.status, 200);
	assert_null(o.error);
	assert_int_equal(o.body_len, 1000);
	assert_int_equal(strspn(o.body, "x"), 1000);

	/* 0: the default (1 MiB) holds all of it. */
	req.max_body = 0;
	assert_non_null(fetch_start(f->fc, NULL, &req));
	run_until(f->base, &o.calls, 2, WAIT_MS);
	assert_int_equal(o.body_len, 100000);
	assert_int_equal(strspn(o.body, "x"), 100000);
	outcome_clear(&o);
}

static void
test_retry_after(void **state)
{
	struct fixture *f = *state;
	struct outcome  o = {0};

	assert_non_null(get(f, "/retry-delta", &o));
	run_until(f->base, &o.calls, 1, WAIT_MS);
	assert_int_equal(o.status, 503);
	assert_null(o.error);
	assert_string_equal(o.body, "busy");
	assert_int_equal(o.retry_after_ms, 7000);

	assert_non_null(get(f, "/retry-date", &o));
	run_until(f->base, &o.calls, 2, WAIT_MS);
	assert_int_equal(o.status, 429);
	/* 120 s ahead, give or take the clock ticking meanwhile. */
	assert_in_range(o.retry_after_ms, 115000, 121000);

	assert_non_null(get(f, "/retry-bad", &o));
	run_until(f->base, &o.calls, 3, WAIT_MS);
	assert_int_equal(o.status, 503);
	assert_int_equal(o.retry_after_ms, -1);
	outcome_clear(&o);
}

static void
test_refused(void **state)
{
	struct fixture *f = *state;
	struct outcome  o = {0};
	char            u[128];
	vigil_fetch_req req = {
	    .struct_size = sizeof(req),
	    .url         = u,
	    .done        = on_done,
	    .arg         = &o,
	};

	/* A port that was just free and has no listener. */
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/", httpd_unused_port());
	assert_non_null(fetch_start(f->fc, NULL, &req));
	run_until(f->base, &o.calls, 1, WAIT_MS);
	assert_int_equal(o.status, 0);
	assert_non_null(o.error);
	assert_true(strlen(o.error) > 0);
	assert_int_equal(o.retry_after_ms, -1);
	assert_int_equal(o.body_len, 0);

	/* Only http and https. */
	snprintf(u, sizeof(u), "file:///etc/passwd");
	assert_non_null(fetch_start(f->fc, NULL, &req));
	run_until(f->base, &o.calls, 2, WAIT_MS);
	assert_int_equal(o.status, 0);
	assert_non_null(o.error);
	assert_int_equal(o.body_len, 0);
	outcome_clear(&o);
}

static void
test_timeout(void **state)
{
	struct fixture *f = *state;
	struct outcome  o = {0};
	char            u[128];
	long            t0;
	vigil_fetch_req req = {
	    .struct_size = sizeof(req),
	    .url         = u,
	    .timeout_ms  = 300,
	    .done        = on_done,
	    .arg         = &o,
	};

	url(f, "/slow", u, sizeof(u));
	t0 = now_ms();
	assert_non_null(fetch_start(f->fc, NULL, &req));
	run_until(f->base, &o.calls, 1, WAIT_MS);
	assert_true(now_ms() - t0 >= 250);
	assert_int_equal(f->slow, 1);
	assert_int_equal(o.status, 0);
	assert_non_null(o.error);
	assert_non_null(strstr(o.error, "imed out"));
	outcome_clear(&o);
}

static void
test_cancel(void **state)
{
	struct fixture *f = *state;
	struct outcome  o = {0};
	vigil_fetch    *h;

	/* Before the loop ever ran it. */
	assert_non_null(h = get(f, "/echo", &o));
	fetch_cancel(h);
	assert_int_equal(fetch_client_running(f->fc), 0);
	/* While the server holds it. */
	assert_non_null(h = get(f, "/slow", &o));
	run_until(f->base, &f->slow, 1, WAIT_MS);
	fetch_cancel(h);
	assert_int_equal(fetch_client_running(f->fc), 0);
	/* And one whose answer is on its way. */
	assert_non_null(h = get(f, "/big", &o));
	run_until(f->base, &f->requests, 2, WAIT_MS);
	fetch_cancel(h);
	fetch_cancel(NULL);
	run_for(f->base, 300);
	assert_int_equal(o.calls, 0);
	assert_int_equal(fetch_client_running(f->fc), 0);

	/* The client still works after cancels. */
	assert_non_null(get(f, "/echo", &o));
	run_until(f->base, &o.calls, 1, WAIT_MS);
	assert_int_equal(o.status, 200);
	outcome_clear(&o);
}

/* Left running at the end: freed with the client, done never called. */
static void
test_free_while_running(void **state)
{
	struct fixture *f = *state;
	struct outcome  o = {0};

	assert_non_null(get(f, "/slow", &o));
	assert_non_null(get(f, "/echo", &o));
	run_until(f->base, &f->slow, 1, WAIT_MS);
	fetch_client_free(f->fc);
	f->fc = NULL;
	run_for(f->base, 100);
	assert_int_equal(o.calls, 0);
	outcome_clear(&o);
}

struct chain {
	struct fixture *f;
	struct outcome  o;
	int             left;
};

static void
on_chain_done(void *arg, const vigil_fetch_result *res)
{
	struct chain *c = arg;
	char          u[128];

	on_done(&c->o, res);
	if (--c->left > 0) {
		vigil_fetch_req req = {
		    .struct_size = sizeof(req),
		    .url         = u,
		    .done        = on_chain_done,
		    .arg         = c,
		};

		url(c->f, "/echo", u, sizeof(u));
		assert_non_null(fetch_start(c->f->fc, NULL, &req));
	}
}

static void
test_fetch_from_done(void **state)
{
	struct fixture *f = *state;
	struct chain    c = {.f = f, .left = 5};
	char            u[128];
	vigil_fetch_req req = {
	    .struct_size = sizeof(req),
	    .url         = u,
	    .done        = on_chain_done,
	    .arg         = &c,
	};

	url(f, "/echo", u, sizeof(u));
	assert_non_null(fetch_start(f->fc, NULL, &req));
	run_until(f->base, &c.o.calls, 5, WAIT_MS);
	assert_int_equal(c.o.status, 200);
	assert_int_equal(fetch_client_running(f->fc), 0);
	outcome_clear(&c.o);
}

static void
test_many(void **state)
{
	struct fixture *f = *state;
	struct outcome *o = calloc(MANY, sizeof(*o));
	int             done;

	assert_non_null(o);
	for (int i = 0; i < MANY; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/id/%d", i);
		assert_non_null(get(f, path, &o[i]));
	}
	assert_int_equal(fetch_client_running(f->fc), MANY);
	for (long end = now_ms() + WAIT_MS;
	     fetch_client_running(f->fc) > 0 && now_ms() < end;)
		event_base_loop(f->base, EVLOOP_ONCE);
	done = 0;
	for (int i = 0; i < MANY; i++) {
		char want[16];

		snprintf(want, sizeof(want), "%d", i);
		assert_int_equal(o[i].calls, 1);
		assert_int_equal(o[i].status, 200);
		assert_string_equal(o[i].body, want);
		done++;
		outcome_clear(&o[i]);
	}
	assert_int_equal(done, MANY);
	assert_int_equal(f->requests, MANY);
	free(o);
}

static void
test_refused_at_fetch(void **state)
{
	struct fixture   *f            = *state;
	struct outcome    o            = {0};
	const char *const bad_header[] = {"X-Test: a\r\nX-Injected: b"};
	const char *const no_colon[]   = {"X-Test"};
	char              u[128];
	vigil_fetch_req   req = {
	      .struct_size = sizeof(req),
	      .url         = u,
	      .done        = on_done,
	      .arg         = &o,
        };

	url(f, "/echo", u, sizeof(u));
	req.headers   = bad_header;
	req.n_headers = 1;
	assert_null(fetch_start(f->fc, NULL, &req));
	req.headers = no_colon;
	assert_null(fetch_start(f->fc, NULL, &req));
	req.n_headers = 0;
	req.method    = "get / HTTP/1.0\r\n";
	assert_null(fetch_start(f->fc, NULL, &req));
	req.method = NULL;
	req.url    = NULL;
	assert_null(fetch_start(f->fc, NULL, &req));
	req.url  = u;
	req.done = NULL;
	assert_null(fetch_start(f->fc, NULL, &req));
	req.done       = on_done;
	req.timeout_ms = -1;
	assert_null(fetch_start(f->fc, NULL, &req));
	req.timeout_ms  = 0;
	req.struct_size = 8;
	assert_null(fetch_start(f->fc, NULL, &req));
	assert_null(fetch_start(f->fc, NULL, NULL));
	assert_null(fetch_start(NULL, NULL, &req));
	run_for(f->base, 50);
	assert_int_equal(o.calls, 0);
	assert_int_equal(f->requests, 0);
	assert_int_equal(fetch_client_running(f->fc), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_post_and_put, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retry_after, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_free_while_running, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_fetch_from_done, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_refused_at_fetch, setup, teardown),
	};

	log_set_level(VIGIL_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
