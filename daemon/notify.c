/*
 * notify.c - vigild's notifications to systemd (sd_notify(3)) for a
 * Type=notify unit: READY=1, RELOADING=1 with MONOTONIC_USEC, STOPPING=1,
 * STATUS= and WATCHDOG=1. The watchdog timer runs on the daemon's loop, so
 * it stops when the loop stops turning and systemd then restarts the
 * service. Built without libsystemd, every function does nothing.
 */
#include "notify.h"

#ifdef HAVE_LIBSYSTEMD

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "dispatch.h"
#include "log.h"
#include "metrics.h"
#include "util.h"
#include "workers.h"

#define STATUS_MAX      200
#define STATUS_PERIOD_S 5

static struct event  *watchdog_ev, *status_ev;
static vigil_counter *verdicts[4]; /* vigil_verdicts_total, by severity */
static uint64_t       rate_count;
static int64_t        rate_since;
static double         rate;
static uint64_t       failures_seen; /* reload_failures at the last READY */
static bool           last_refused;

static void
send_state(const char *state)
{
	static bool warned;
	int         r = sd_notify(0, state);

	/* Said once: the watchdog timer would repeat it every tick. */
	if (r < 0 && !warned) {
		warned = true;
		log_warn("cannot notify systemd: %s", strerror(-r));
	}
}

static void status_with(const char *head, const char *fmt, ...)
    VIGIL_PRINTF(2, 3);

/* head, then STATUS= and one line of at most STATUS_MAX bytes. */
static void
status_with(const char *head, const char *fmt, ...)
{
	char    text[STATUS_MAX + 1];
	char    msg[sizeof(text) + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* `systemctl status` shows one line. */
	for (char *p = text; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	snprintf(msg, sizeof(msg), "%sSTATUS=%s", head, text);
	send_state(msg);
}

/* Posts scored a second since the last call, over 1 s at least so that
 * calls close together do not make noise. */
static double
scored_rate(void)
{
	uint64_t n   = 0;
	int64_t  now = now_monotonic_us();

	for (size_t i = 0; i < ARRAY_SIZE(verdicts); i++)
		n += metrics_counter_value(verdicts[i]);
	if (rate_since == 0) {
		rate_count = n;
		rate_since = now;
	} else if (now - rate_since >= 1000000) {
		rate =
		    (double)(n - rate_count) * 1e6 / (double)(now - rate_since);
		rate_count = n;
		rate_since = now;
	}
	return rate;
}

/* The STATUS line: what an operator wants from `systemctl status`. */
static void
status_of(const vigild *v, const char *head)
{
	static const char *const states[] = {
	    "starting", "running", "reloading", "draining"};
	dispatch_stats ds = {0};
	workers_stats  ws = {0, 0};

	if (v->cur == NULL)
		return;
	dispatch_get_stats(v->cur->disp, &ds);
	if (v->cur->wk)
		workers_get_stats(v->cur->wk, &ws);
	status_with(head,
	    "%s: generation %" PRIu32 ", %zu local workers, %zu/%zu worker "
	    "links up, %.1f posts/s, %zu queued, %zu in flight%s%s",
	    states[v->state], v->cur->id, ws.running, ds.links_up, ds.links,
	    scored_rate(), ds.queued, ds.in_flight,
	    last_refused ? "; last reload refused: " : "",
	    last_refused ? v->last_reload_error : "");
}

void
notify_ready(const vigild *v)
{
	last_refused  = v->reload_failures > failures_seen;
	failures_seen = v->reload_failures;
	status_of(v, "READY=1\n");
}

void
notify_reloading(void)
{
	char msg[128];

	/* MONOTONIC_USEC lets systemd tell this reload from an older one. */
	snprintf(msg, sizeof(msg),
	    "RELOADING=1\nMONOTONIC_USEC=%" PRId64
	    "\nSTATUS=reloading the configuration",
	    now_monotonic_us());
	send_state(msg);
}

void
notify_stopping(void)
{
	send_state("STOPPING=1\nSTATUS=draining posts in flight");
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	send_state("WATCHDOG=1");
}

static void
on_status(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	status_of(arg, "");
}

static struct event *
every(struct event_base *base, uint64_t usec, event_callback_fn fn,
    const void *arg)
{
	struct timeval tv = {
	    (time_t)(usec / 1000000), (suseconds_t)(usec % 1000000)};
	struct event *ev = event_new(base, -1, EV_PERSIST, fn, (void *)arg);

	if (ev != NULL && event_add(ev, &tv) != 0) {
		event_free(ev);
		ev = NULL;
	}
	return ev;
}

int
notify_watchdog_start(const vigild *v)
{
	uint64_t usec = 0;

	if (getenv("NOTIFY_SOCKET") == NULL)
		return 0;
	for (int s = 0; s < 4; s++) {
		char l[64];

		snprintf(l, sizeof(l), "severity=\"%s\"",
		    vigil_severity_name((vigil_severity)s));
		verdicts[s] = metrics_counter(
		    "vigil_verdicts_total", "Verdicts by severity.", l);
	}
	/* Half the interval, as sd_watchdog_enabled(3) advises: one late
	 * turn of the loop is not yet a hang. */
	if (sd_watchdog_enabled(0, &usec) > 0 &&
	    (watchdog_ev = every(v->base, usec / 2 > 0 ? usec / 2 : 1,
	         on_watchdog, NULL)) == NULL) {
		log_err("cannot set up the systemd watchdog timer");
		return -1;
	}
	if ((status_ev = every(v->base, STATUS_PERIOD_S * 1000000ULL, on_status,
	         v)) == NULL) {
		log_err("cannot set up the systemd status timer");
		return -1;
	}
	return 0;
}

void
notify_fini(void)
{
	if (watchdog_ev)
		event_free(watchdog_ev);
	if (status_ev)
		event_free(status_ev);
	watchdog_ev = status_ev = NULL;
}

#else /* !HAVE_LIBSYSTEMD: systemd's protocol is not spoken. */

void
notify_ready(const vigild *v)
{
	(void)v;
}

void
notify_reloading(void)
{
}

void
notify_stopping(void)
{
}

int
notify_watchdog_start(const vigild *v)
{
	(void)v;
	return 0;
}

void
notify_fini(void)
{
}

#endif
