/*
 * http.h - the shared HTTP listener (libevent evhttp) on which plugins
 * register routes through vigil_host.http_route. It starts listening when
 * the first route is registered. libevent 2.1 buffers whole bodies and has
 * no connection limit, so both are capped here.
 */
#ifndef VIGIL_HTTP_H
#define VIGIL_HTTP_H

#include <stddef.h>

#include <vigil/plugin.h>

struct event_base;
typedef struct http_server http_server;

typedef struct http_options {
	const char *listen;          /* "127.0.0.1:8470", "[::1]:8470" */
	size_t      max_body;        /* bytes; larger bodies get 413 */
	int         max_connections; /* beyond it new connections are closed */
	int         timeout_s;       /* per request read/write timeout */
} http_options;

/* Copies the options; checks the listen address's form (NULL, logged,
 * if bad) but binds only when the first route comes. All functions here
 * are for the loop thread. max_connections <= 0: no limit; timeout_s <=
 * 0: libevent's default. Unknown paths get 404 {"error":"not found"};
 * connections beyond the limit get 503 and are closed at once. */
http_server *http_server_new(struct event_base *base, const http_options *o);
/* Closes the listener and every connection. NULL is fine. */
void http_server_free(http_server *s);
/* Routes an exact path (the query is not part of it) to fn. Binds on
 * first use; returns VIGIL_ERR with a logged reason naming the address
 * and errno, or naming both owners when the path is taken. owner (e.g.
 * "input jsonl/sample") is copied. fn runs on the loop and must answer
 * with http_req_reply before it returns; otherwise the client gets 500. */
int http_server_route(http_server *s, const char *path, vigil_http_fn fn,
    void *arg, const char *owner);
/* Removes every route of owner (before its plugin goes away); returns
 * how many. */
int http_server_unroute(http_server *s, const char *owner);
/* The address as configured. */
const char *http_server_listen(const http_server *s);
/* The bound port (useful with port 0), or 0 when not listening. */
int http_server_port(const http_server *s);
/* Connections open now. */
int http_server_connections(const http_server *s);

/* Request accessors (vigil_host), valid during the handler's call and,
 * except the body, only until the reply. Strings are owned by the
 * request. header: case-insensitive, first of that name, or NULL. query:
 * the URL-decoded value of a query parameter, or NULL. body: the whole
 * body, NUL-terminated (len excludes the NUL). reply: once per request
 * (later calls are logged and dropped); status 100-599 (else 500) sent
 * with its standard reason phrase; content_type may be NULL; body is
 * copied. */
const char *http_req_method(vigil_http_req *req);
const char *http_req_header(vigil_http_req *req, const char *name);
const char *http_req_query(vigil_http_req *req, const char *name);
const void *http_req_body(vigil_http_req *req, size_t *len);
void http_req_reply(vigil_http_req *req, int status, const char *content_type,
    const void *body, size_t len);
/* vigil_host.http_hold: the request outlives the handler until
 * http_req_reply, which then frees it. */
int http_req_hold(vigil_http_req *req);
/* vigil_host.http_reply_header. */
int http_req_reply_header(
    vigil_http_req *req, const char *name, const char *value);

#endif
