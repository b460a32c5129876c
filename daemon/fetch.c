/*
 * fetch.c - the host's HTTP client (see fetch.h).
 *
 * libcurl's multi interface in its event-driven form: libcurl tells us
 * through CURLMOPT_SOCKETFUNCTION which sockets to watch (one libevent
 * event each, kept as the socket's curl_multi_assign pointer) and through
 * CURLMOPT_TIMERFUNCTION when to wake it; both feed
 * curl_multi_socket_action, after which finished transfers are collected
 * (CURLMSG_DONE) and their done callbacks run. Name resolution uses
 * libcurl's threaded resolver, so nothing here blocks the loop.
 *
 * A done callback never runs inside fetch_start: a transfer starts, and
 * so can fail, only from the loop.
 */
#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "fetch.h"
#include "log.h"

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_MAX_BODY   (1u << 20)
#define RETRY_AFTER_MAX    64 /* longest Retry-After value read */

struct vigil_fetch {
	fetch_client      *fc;
	CURL              *easy;
	struct curl_slist *headers;
	char              *body; /* the response, NUL-terminated */
	size_t             body_len, body_cap, max_body;
	bool               cut;     /* stopped reading at max_body */
	bool               in_done; /* its done callback is running */
	const char        *failure; /* our own reason, before curl's */
	int64_t            retry_after_ms;
	vigil_fetch_fn     done;
	void              *arg;
	char               errbuf[CURL_ERROR_SIZE];
	TAILQ_ENTRY(vigil_fetch) entry;
};

TAILQ_HEAD(fetch_list, vigil_fetch);

struct fetch_client {
	struct event_base *base;
	CURLM             *multi;
	struct event      *timer;
	struct fetch_list  running;
	size_t             n_running;
};

/* ------------------------------------------------------------------ */
/* Responses                                                           */

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	vigil_fetch *f    = arg;
	size_t       len  = size * n;
	size_t       room = f->max_body - f->body_len;
	size_t       take = len < room ? len : room;

	if (f->body_len + take + 1 > f->body_cap) {
		size_t cap = f->body_cap ? f->body_cap : 4096;
		char  *p;

		while (cap < f->body_len + take + 1)
			cap *= 2;
		if (cap > f->max_body + 1)
			cap = f->max_body + 1;
		if ((p = realloc(f->body, cap)) == NULL) {
			f->failure = "out of memory for the response body";
			return 0;
		}
		f->body     = p;
		f->body_cap = cap;
	}
	memcpy(f->body + f->body_len, data, take);
	f->body_len += take;
	f->body[f->body_len] = '\0';
	if (take < len) {
		/* Keep what fits and stop the transfer: the rest would only
		 * be read to be thrown away. */
		f->cut = true;
		return 0;
	}
	return len;
}

/* Retry-After: delta-seconds or an HTTP-date (RFC 9110, 10.2.3). */
static int64_t
parse_retry_after(const char *v, size_t len)
{
	char    buf[RETRY_AFTER_MAX + 1];
	char   *end;
	time_t  when;
	int64_t secs;

	while (len > 0 && isspace((unsigned char)*v)) {
		v++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)v[len - 1]))
		len--;
	if (len == 0 || len > RETRY_AFTER_MAX)
		return -1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	if (isdigit((unsigned char)buf[0])) {
		unsigned long long s = strtoull(buf, &end, 10);

		if (*end != '\0')
			return -1;
		if (s > (unsigned long long)(INT64_MAX / 1000))
			return INT64_MAX / 1000 * 1000;
		return (int64_t)s * 1000;
	}
	if ((when = curl_getdate(buf, NULL)) == (time_t)-1)
		return -1;
	secs = (int64_t)when - (int64_t)time(NULL);
	return secs > 0 ? secs * 1000 : 0;
}

static size_t
on_header(char *data, size_t size, size_t n, void *arg)
{
	static const char name[] = "Retry-After:";
	vigil_fetch      *f      = arg;
	size_t            len    = size * n;

	/* A status line starts a response (after a 100 Continue, say):
	 * only the last one's headers count. */
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
		f->retry_after_ms = -1;
	else if (len > sizeof(name) - 1 &&
	    strncasecmp(data, name, sizeof(name) - 1) == 0)
		f->retry_after_ms = parse_retry_after(
		    data + sizeof(name) - 1, len - (sizeof(name) - 1));
	return len;
}

static void
fetch_free(vigil_fetch *f)
{
	if (f->easy)
		curl_easy_cleanup(f->easy);
	curl_slist_free_all(f->headers);
	free(f->body);
	free(f);
}

/* Takes f off the multi handle and the running list. */
static void
fetch_detach(vigil_fetch *f)
{
	fetch_client *fc = f->fc;

	curl_multi_remove_handle(fc->multi, f->easy);
	TAILQ_REMOVE(&fc->running, f, entry);
	fc->n_running--;
}

static void
fetch_finish(vigil_fetch *f, CURLcode rc)
{
	vigil_fetch_result res = {
	    .struct_size    = sizeof(res),
	    .body           = "",
	    .retry_after_ms = -1,
	};
	long status = 0;

	if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && f->cut)) {
		curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status <= 0)
			res.error = "no HTTP status in the response";
	} else if (f->failure)
		res.error = f->failure;
	else
		res.error = f->errbuf[0] ? f->errbuf : curl_easy_strerror(rc);
	if (res.error == NULL) {
		res.status         = (int)status;
		res.body           = f->body ? f->body : "";
		res.body_len       = f->body_len;
		res.retry_after_ms = f->retry_after_ms;
	}
	fetch_detach(f);
	f->in_done = true;
	f->done(f->arg, &res);
	fetch_free(f);
}

static void
collect_done(fetch_client *fc)
{
	CURLMsg *msg;
	int      left;

	while ((msg = curl_multi_info_read(fc->multi, &left)) != NULL) {
		vigil_fetch *f = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &f);
		if (f != NULL)
			fetch_finish(f, msg->data.result);
	}
}

/* ------------------------------------------------------------------ */
/* libcurl on the loop                                                 */

static void
on_socket_ready(evutil_socket_t fd, short what, void *arg)
{
	fetch_client *fc    = arg;
	int           flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(fc->multi, fd, flags, &running);
	collect_done(fc);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	fetch_client *fc = arg;
	int           running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(fc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	collect_done(fc);
}

static int
on_curl_socket(
    CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	fetch_client *fc = userp;
	struct event *ev = socketp;
	short         kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (ev)
			event_free(ev);
		return 0;
	}
	kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	    ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (ev == NULL) {
		ev = event_new(fc->base, s, kind, on_socket_ready, fc);
		if (ev == NULL ||
		    curl_multi_assign(fc->multi, s, ev) != CURLM_OK) {
			if (ev)
				event_free(ev);
			log_err("fetch: out of memory watching a socket");
			return -1;
		}
	} else {
		event_del(ev);
		event_assign(ev, fc->base, s, kind, on_socket_ready, fc);
	}
	if (event_add(ev, NULL) != 0) {
		log_err("fetch: cannot watch socket %d", (int)s);
		return -1;
	}
	return 0;
}

static int
on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	fetch_client  *fc = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0)
		return evtimer_del(fc->timer) == 0 ? 0 : -1;
	/* 0: as soon as the loop comes round, never from inside libcurl. */
	tv.tv_sec  = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(fc->timer, &tv) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */

/* A method is a token; we take the usual upper-case ones. */
static bool
method_ok(const char *m)
{
	size_t n = strlen(m);

	if (n == 0 || n > 16)
		return false;
	for (size_t i = 0; i < n; i++)
		if (m[i] < 'A' || m[i] > 'Z')
			return false;
	return true;
}

/* "Name: value" without line breaks, so that no header can smuggle in
 * another. */
static bool
header_ok(const char *h)
{
	size_t name = strcspn(h, ": \t\r\n");

	return name > 0 && h[name] == ':' && strpbrk(h, "\r\n") == NULL;
}

static bool
has_header(const vigil_fetch_req *req, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < req->n_headers; i++)
		if (strncasecmp(req->headers[i], name, n) == 0 &&
		    req->headers[i][n] == ':')
			return true;
	return false;
}

/* Checks what curl cannot: a malformed request is the caller's bug. */
static const char *
request_problem(const vigil_fetch_req *req)
{
	if (req == NULL)
		return "no request";
	if (req->struct_size < offsetof(vigil_fetch_req, arg) + sizeof(void *))
		return "request struct too small (built against an "
		       "older ABI?)";
	if (req->url == NULL || req->url[0] == '\0')
		return "no URL";
	if (req->done == NULL)
		return "no done callback";
	if (req->method && !method_ok(req->method))
		return "method is not an upper-case token";
	if (req->n_headers > 0 && req->headers == NULL)
		return "n_headers without headers";
	for (size_t i = 0; i < req->n_headers; i++)
		if (req->headers[i] == NULL || !header_ok(req->headers[i]))
			return "a header is not \"Name: value\" on one line";
	if (req->body == NULL && req->body_len > 0)
		return "body_len without body";
	if (req->timeout_ms < 0)
		return "negative timeout";
	return NULL;
}

#define SET(opt, val) (curl_easy_setopt(f->easy, opt, val) == CURLE_OK)

static bool
set_method(vigil_fetch *f, const vigil_fetch_req *req)
{
	const char *m = req->method ? req->method : "GET";

	if (strcmp(m, "HEAD") == 0)
		return SET(CURLOPT_NOBODY, 1L);
	if (req->body != NULL || strcmp(m, "POST") == 0) {
		/* The size first: COPYPOSTFIELDS copies that many bytes. */
		if (!SET(CURLOPT_POSTFIELDSIZE_LARGE,
		        (curl_off_t)req->body_len) ||
		    !SET(CURLOPT_COPYPOSTFIELDS, req->body ? req->body : ""))
			return false;
		return strcmp(m, "POST") == 0 || SET(CURLOPT_CUSTOMREQUEST, m);
	}
	return strcmp(m, "GET") == 0 ? SET(CURLOPT_HTTPGET, 1L)
	                             : SET(CURLOPT_CUSTOMREQUEST, m);
}

static bool
set_headers(vigil_fetch *f, const vigil_fetch_req *req)
{
	struct curl_slist *l;

	for (size_t i = 0; i < req->n_headers; i++) {
		if ((l = curl_slist_append(f->headers, req->headers[i])) ==
		    NULL)
			return false;
		f->headers = l;
	}
	/* libcurl would hold back a larger body until the server says
	 * 100 Continue; receivers that never do would cost a second. */
	if (!has_header(req, "Expect")) {
		if ((l = curl_slist_append(f->headers, "Expect:")) == NULL)
			return false;
		f->headers = l;
	}
	return SET(CURLOPT_HTTPHEADER, f->headers);
}

static bool
set_options(vigil_fetch *f, const vigil_fetch_req *req)
{
	long timeout = req->timeout_ms > 0 && req->timeout_ms < LONG_MAX
	    ? (long)req->timeout_ms
	    : DEFAULT_TIMEOUT_MS;

	return SET(CURLOPT_PRIVATE, f) && SET(CURLOPT_URL, req->url) &&
	    SET(CURLOPT_PROTOCOLS_STR, "http,https") &&
	    SET(CURLOPT_NOSIGNAL, 1L) && SET(CURLOPT_TIMEOUT_MS, timeout) &&
	    SET(CURLOPT_ERRORBUFFER, f->errbuf) &&
	    SET(CURLOPT_WRITEFUNCTION, on_body) && SET(CURLOPT_WRITEDATA, f) &&
	    SET(CURLOPT_HEADERFUNCTION, on_header) &&
	    SET(CURLOPT_HEADERDATA, f) &&
	    SET(CURLOPT_USERAGENT, "vigil/" PACKAGE_VERSION) &&
	    set_method(f, req) && set_headers(f, req);
}

#undef SET

static int client_ready(fetch_client *fc);

vigil_fetch *
fetch_start(fetch_client *fc, vigil_ctx *ctx, const vigil_fetch_req *req)
{
	const char  *why = request_problem(req);
	vigil_fetch *f;

	if (fc == NULL)
		why = "no HTTP client in this mode";
	else if (why == NULL && client_ready(fc) != 0)
		why = "the HTTP client cannot be set up";
	if (why != NULL) {
		host_log(ctx, VIGIL_LOG_ERR, "fetch: %s", why);
		return NULL;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->easy = curl_easy_init()) == NULL) {
		free(f);
		host_log(ctx, VIGIL_LOG_ERR, "fetch: out of memory");
		return NULL;
	}
	f->fc             = fc;
	f->max_body       = req->max_body ? req->max_body : DEFAULT_MAX_BODY;
	f->retry_after_ms = -1;
	f->done           = req->done;
	f->arg            = req->arg;
	if (!set_options(f, req)) {
		host_log(ctx, VIGIL_LOG_ERR,
		    "fetch: out of memory setting up the request");
		fetch_free(f);
		return NULL;
	}
	if (curl_multi_add_handle(fc->multi, f->easy) != CURLM_OK) {
		host_log(ctx, VIGIL_LOG_ERR, "fetch: cannot start the request");
		fetch_free(f);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&fc->running, f, entry);
	fc->n_running++;
	return f;
}

void
fetch_cancel(vigil_fetch *f)
{
	/* Inside its own done callback it is freed on return. */
	if (f == NULL || f->in_done)
		return;
	fetch_detach(f);
	fetch_free(f);
}

/* ------------------------------------------------------------------ */
/* The client                                                          */

fetch_client *
fetch_client_new(struct event_base *base)
{
	fetch_client *fc;

	if ((fc = calloc(1, sizeof(*fc))) == NULL) {
		log_err("fetch: out of memory");
		return NULL;
	}
	fc->base = base;
	TAILQ_INIT(&fc->running);
	return fc;
}

/* Sets libcurl up on the first request: initializing it (OpenSSL with
 * it) costs a daemon whose plugins never fetch 2 MiB of resident memory
 * for nothing. */
static int
client_ready(fetch_client *fc)
{
	if (fc->multi != NULL)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_err("fetch: libcurl cannot be initialized");
		return -1;
	}
	if ((fc->multi = curl_multi_init()) == NULL ||
	    (fc->timer = evtimer_new(fc->base, on_timeout, fc)) == NULL ||
	    curl_multi_setopt(fc->multi, CURLMOPT_SOCKETFUNCTION,
	        on_curl_socket) != CURLM_OK ||
	    curl_multi_setopt(fc->multi, CURLMOPT_SOCKETDATA, fc) != CURLM_OK ||
	    curl_multi_setopt(
	        fc->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
	    curl_multi_setopt(fc->multi, CURLMOPT_TIMERDATA, fc) != CURLM_OK)
		goto fail;
	return 0;
fail:
	log_err("fetch: cannot set up the HTTP client");
	if (fc->timer)
		event_free(fc->timer);
	if (fc->multi)
		curl_multi_cleanup(fc->multi);
	fc->timer = NULL;
	fc->multi = NULL;
	curl_global_cleanup();
	return -1;
}

size_t
fetch_client_running(const fetch_client *fc)
{
	return fc ? fc->n_running : 0;
}

void
fetch_client_free(fetch_client *fc)
{
	vigil_fetch *f;

	if (fc == NULL)
		return;
	/* Their owners are gone; say so rather than call into them. */
	if (fc->n_running > 0)
		log_warn("fetch: %zu HTTP requests still running at exit were "
		         "abandoned",
		    fc->n_running);
	while ((f = TAILQ_FIRST(&fc->running)) != NULL) {
		fetch_detach(f);
		fetch_free(f);
	}
	/* Closes the cached connections; their sockets' events go with
	 * CURL_POLL_REMOVE. */
	if (fc->multi != NULL) {
		curl_multi_cleanup(fc->multi);
		event_free(fc->timer);
		curl_global_cleanup();
	}
	free(fc);
}
