/*
 * admin.c - the admin listener: /metrics and /healthz on an http_server
 * of their own, apart from the inputs' listener, so that monitoring can
 * be reached (and firewalled) on its own address.
 *
 * The counters live where their events happen (input.c, sink.c,
 * workers.c); what is a level rather than an event - queue depths, the
 * outbox's backlog - is read here, through gauge callbacks, from the
 * running generation at the moment metrics are written. Both listeners
 * and the control socket write metrics on the loop, so the callbacks may
 * read the loop's state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "dispatch.h"
#include "http.h"
#include "input.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "settings.h"
#include "sink.h"
#include "util.h"
#include "workers.h"

#define ADMIN_MAX_BODY        4096 /* GETs only: no body expected */
#define ADMIN_MAX_CONNECTIONS 32
#define ADMIN_TIMEOUT_S       10
#define METRICS_CONTENT_TYPE  "text/plain; version=0.0.4; charset=utf-8"

struct admin {
	vigild      *v;
	http_server *srv;
	char         build_labels[128];
};

/* ------------------------------------------------------------ gauges */

static const generation *
running(void *arg)
{
	const vigild *v = arg;

	return v->cur;
}

static double
build_info(void *arg)
{
	(void)arg;
	return 1;
}

static dispatch_stats
disp_stats(void *arg)
{
	const generation *g  = running(arg);
	dispatch_stats    ds = {0};

	if (g != NULL && g->disp != NULL)
		dispatch_get_stats(g->disp, &ds);
	return ds;
}

static double
dispatch_queued(void *arg)
{
	return (double)disp_stats(arg).queued;
}

static double
dispatch_in_flight(void *arg)
{
	return (double)disp_stats(arg).in_flight;
}

static double
worker_links_up(void *arg)
{
	return (double)disp_stats(arg).links_up;
}

static double
workers_running(void *arg)
{
	const generation *g  = running(arg);
	workers_stats     ws = {0, 0};

	if (g != NULL && g->wk != NULL)
		workers_get_stats(g->wk, &ws);
	return (double)ws.running;
}

static double
posts_pending(void *arg)
{
	const generation *g = running(arg);

	return g != NULL ? (double)inputs_outstanding(g->in) : 0;
}

static double
sink_queued(void *arg)
{
	const generation *g = running(arg);

	return g != NULL ? (double)sinks_queued(g->out) : 0;
}

static double
sink_in_flight(void *arg)
{
	const generation *g = running(arg);

	return g != NULL ? (double)sinks_pending(g->out) : 0;
}

static double
outbox_ops(void *arg)
{
	const vigild *v = arg;

	return v->ob != NULL ? (double)outbox_backlog(v->ob) : 0;
}

static const struct gauge {
	const char *name, *help;
	double (*fn)(void *arg);
} gauges[] = {
    {"vigil_dispatch_queued_posts", "Posts waiting for a worker.",
        dispatch_queued},
    {"vigil_dispatch_in_flight_posts",
        "Posts sent to workers and not yet answered.", dispatch_in_flight},
    {"vigil_posts_pending",
        "Posts accepted and not yet acknowledged to their input; inputs "
        "pause at daemon.backlog.",
        posts_pending},
    {"vigil_sink_queued_alerts",
        "Undelivered alerts held by the sinks, in flight included.",
        sink_queued},
    {"vigil_sink_in_flight_alerts",
        "Alerts handed to sinks and not yet finished.", sink_in_flight},
    {"vigil_outbox_queued_ops",
        "Outbox operations (commits, delivery states, queries) not yet "
        "done.",
        outbox_ops},
    {"vigil_workers_running", "Local worker processes running.",
        workers_running},
    {"vigil_worker_links_up", "Worker links with a worker connected.",
        worker_links_up},
};

static void
gauges_add(admin *a)
{
	metrics_label(a->build_labels, sizeof(a->build_labels), "version",
	    PACKAGE_VERSION);
	metrics_gauge_fn("vigil_build_info",
	    "Always 1; the version of vigild in a label.", a->build_labels,
	    build_info, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(gauges); i++)
		metrics_gauge_fn(
		    gauges[i].name, gauges[i].help, NULL, gauges[i].fn, a->v);
}

static void
gauges_remove(admin *a)
{
	metrics_gauge_remove("vigil_build_info", a->build_labels);
	for (size_t i = 0; i < ARRAY_SIZE(gauges); i++)
		metrics_gauge_remove(gauges[i].name, NULL);
}

/* ------------------------------------------------------------ handlers */

static void
reply_text(vigil_http_req *req, int status, const char *text)
{
	http_req_reply(
	    req, status, "text/plain; charset=utf-8", text, strlen(text));
}

static bool
method_ok(vigil_http_req *req)
{
	const char *m = http_req_method(req);

	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
		return true;
	reply_text(req, 405, "only GET and HEAD\n");
	return false;
}

static void
on_metrics(vigil_http_req *req, void *arg)
{
	char  *text = NULL;
	size_t len  = 0;
	FILE  *f;

	(void)arg;
	if (!method_ok(req))
		return;
	if ((f = open_memstream(&text, &len)) == NULL) {
		log_err("admin: out of memory writing metrics");
		reply_text(req, 500, "out of memory\n");
		return;
	}
	metrics_write(f);
	if (fclose(f) != 0) {
		log_err("admin: out of memory writing metrics");
		reply_text(req, 500, "out of memory\n");
	} else {
		http_req_reply(req, 200, METRICS_CONTENT_TYPE, text, len);
	}
	free(text);
}

/* Running (a reload included): 200. Starting or stopping: 503, so that a
 * load balancer or supervisor stops sending work to a daemon that drains. */
static void
on_healthz(vigil_http_req *req, void *arg)
{
	const admin *a = arg;

	if (!method_ok(req))
		return;
	switch (a->v->state) {
	case VS_RUNNING:
	case VS_RELOADING: reply_text(req, 200, "ok\n"); break;
	case VS_STARTING: reply_text(req, 503, "starting\n"); break;
	case VS_STOPPING: reply_text(req, 503, "stopping\n"); break;
	}
}

/* ------------------------------------------------------------ the listener */

static int
listener_open(admin *a, const char *listen)
{
	const http_options o = {
	    .listen          = listen,
	    .max_body        = ADMIN_MAX_BODY,
	    .max_connections = ADMIN_MAX_CONNECTIONS,
	    .timeout_s       = ADMIN_TIMEOUT_S,
	};

	if ((a->srv = http_server_new(a->v->base, &o)) == NULL ||
	    http_server_route(a->srv, "/metrics", on_metrics, a, "admin") !=
	        VIGIL_OK ||
	    http_server_route(a->srv, "/healthz", on_healthz, a, "admin") !=
	        VIGIL_OK) {
		log_err("admin: cannot serve on %s (admin.listen)", listen);
		return -1;
	}
	log_notice("admin: serving /metrics and /healthz on %s (port %d)",
	    listen, http_server_port(a->srv));
	return 0;
}

int
admin_open(vigild *v, const vigil_config *cfg, admin **out)
{
	const char *listen = cfg_string(cfg->admin, "listen");
	admin      *a;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		log_err("admin: out of memory");
		return -1;
	}
	a->v = v;
	gauges_add(a);
	if (listen[0] != '\0' && listener_open(a, listen) != 0) {
		admin_close(a);
		return -1;
	}
	*out = a;
	return 0;
}

void
admin_close(admin *a)
{
	if (a == NULL)
		return;
	http_server_free(a->srv);
	gauges_remove(a);
	free(a);
}
