/*
 * vigild.c - the daemon: command line, start-up, signals, reload and
 * shutdown. The pipeline itself lives in the files named for its stages:
 * input.c -> dispatch.c (-> bridge.c, workers.c, worker.c) -> sink.c, with
 * replay.c as the second front end.
 *
 * Signals arrive as libevent events on the loop: SIGTERM and SIGINT drain
 * (inputs stop, every post in flight gets its verdict, sinks finish) and
 * exit 0; SIGHUP reloads: the new configuration is validated whole and
 * built beside the running one, the old inputs stop and drain, and only
 * then do the new inputs start, so that no post is lost or scored twice.
 */
#include <errno.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <nng/nng.h>

#include "admin.h"
#include "bridge.h"
#include "control.h"
#include "dispatch.h"
#include "explain.h"
#include "fetch.h"
#include "host.h"
#include "http.h"
#include "input.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "outbox.h"
#include "privs.h"
#include "position.h"
#include "replay.h"
#include "settings.h"
#include "sink.h"
#include "text.h"
#include "util.h"
#include "vigild.h"
#include "workers.h"
#include "wtls.h"

#define DRAIN_TIMEOUT_S 30

static const struct timeval one_second = {1, 0};

static const char *plugin_path_arg;

/* ------------------------------------------------------------------ */
/* Generations                                                         */

void
gen_stop_scoring(generation *g)
{
	workers_free(g->wk);
	g->wk = NULL;
	dispatch_free(g->disp);
	g->disp = NULL;
}

static void
gen_free(generation *g)
{
	if (g == NULL)
		return;
	/* Order: nothing may call into what is already gone. Jobs still
	 * held are aborted while their inputs and sinks exist, and so are
	 * commits of alerts the outbox could not write. */
	gen_stop_scoring(g);
	sinks_abandon(g->out);
	inputs_free(g->in);
	sinks_free(g->out);
	config_free(g->cfg);
	loader_free(g->ld);
	free(g->runtime_dir);
	free(g);
}

static int
local_worker_count(const vigil_config *cfg)
{
	long n;

	if (cfg->n_workers < 0)
		return 0;
	if (cfg->n_workers > 0)
		return cfg->n_workers;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/* Starts the workers and links of g. */
/* Times in a row each local worker may die at start before a replay
 * gives up on them. */
#define REPLAY_WORKER_TRIES 5

static void
replay_workers_failed(void *arg)
{
	vigild *v = arg;

	log_err("replay: no worker could start; see the errors above");
	v->exit_code = 1;
	event_base_loopbreak(v->base);
}

/* Whether an endpoint of workers.remote or workers.listen is tls+. */
static bool
workers_use_tls(const vigil_config *cfg)
{
	const char *names[] = {"remote", "listen"};

	for (size_t k = 0; k < ARRAY_SIZE(names); k++)
		for (size_t i = 0; i < cfg_count(cfg->workers, names[k]); i++)
			if (wtls_url(cfg_string_at(cfg->workers, names[k], i)))
				return true;
	return false;
}

static int
gen_workers(vigild *v, generation *g, char *err, size_t errlen)
{
	const vigil_config *cfg = g->cfg;
	dispatch_opts       o   = {
	            .generation       = g->id,
	            .batch            = cfg->batch,
	            .inflight         = cfg->inflight,
	            .max_crashes      = cfg->max_crashes,
	            .max_message      = cfg->max_message,
	            .reply_timeout_ms = (int)cfg->reply_timeout_ms,
        };
	int    n = local_worker_count(cfg);
	char **urls;
	wtls  *tls = NULL;
	int    rc  = -1;

	if ((g->disp = dispatch_new(v->base, v->br, &o)) == NULL) {
		snprintf(err, errlen, "dispatcher: out of memory");
		return -1;
	}
	/* Read again by each generation: a reload picks up new files. */
	if (workers_use_tls(cfg) &&
	    (tls = wtls_load(cfg_group(cfg->workers, "tls"), err, errlen)) ==
	        NULL)
		return -1;
	if ((urls = calloc((size_t)n + 1, sizeof(char *))) == NULL) {
		wtls_free(tls);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char url[160];
		/* sun_path holds 107 bytes: keep the runtime dir short. */
		if (!strfmt(url, sizeof(url), "ipc://%s/w%u-%d.sock",
		        g->runtime_dir, g->id, i) ||
		    strlen(url) - 6 >=
		        sizeof(((struct sockaddr_un *)0)->sun_path)) {
			snprintf(err, errlen,
			    "runtime directory %s is too long "
			    "for a unix socket path; choose a shorter "
			    "daemon.runtime_dir",
			    g->runtime_dir);
			goto out;
		}
		if ((urls[i] = strdup(url)) == NULL ||
		    dispatch_link(g->disp, url, LINK_LOCAL | LINK_LISTEN, NULL,
		        err, errlen) != 0)
			goto out;
	}
	for (size_t i = 0; i < cfg_count(cfg->workers, "remote"); i++)
		if (dispatch_link(g->disp,
		        cfg_string_at(cfg->workers, "remote", i), 0, tls, err,
		        errlen) != 0)
			goto out;
	for (size_t i = 0; i < cfg_count(cfg->workers, "listen"); i++) {
		const char *url = cfg_string_at(cfg->workers, "listen", i);
		/* Still bound by the running generation: adopted at the
		 * switch (reload_switch). */
		if (v->cur && dispatch_has_listener(v->cur->disp, url))
			continue;
		if (dispatch_link(
		        g->disp, url, LINK_LISTEN, tls, err, errlen) != 0)
			goto out;
	}
	if (n == 0 && cfg_count(cfg->workers, "remote") == 0 &&
	    cfg_count(cfg->workers, "listen") == 0) {
		snprintf(err, errlen,
		    "%s: no workers: workers.count is -1 and "
		    "neither workers.remote nor workers.listen is set",
		    cfg_where(cfg->workers, NULL));
		goto out;
	}
	if (n > 0) {
		workers_opts wo = {
		    .command    = v->worker_cmd,
		    .config     = cfg->path,
		    .generation = g->id,
		    .restart_min_ms =
		        (int)cfg_int(cfg->workers, "restart_min_ms"),
		    .restart_max_ms =
		        (int)cfg_int(cfg->workers, "restart_max_ms"),
		    .log_level = v->log_level_arg,
		};
		/* Replay is a batch job: it must end, not wait for workers
		 * that cannot start, unless others may still answer. */
		if (v->replay && cfg_count(cfg->workers, "remote") == 0 &&
		    cfg_count(cfg->workers, "listen") == 0) {
			wo.give_up_after = REPLAY_WORKER_TRIES;
			wo.on_give_up    = replay_workers_failed;
			wo.give_up_arg   = v;
		}
		if ((g->wk = workers_start(v->base, &wo, urls, (size_t)n)) ==
		    NULL) {
			snprintf(err, errlen, "cannot start %d workers", n);
			goto out;
		}
	}
	rc = 0;
out:
	for (int i = 0; i < n; i++)
		free(urls[i]);
	free(urls);
	wtls_free(tls);
	return rc;
}

/* Builds everything of a configuration but its inputs. */
static generation *
gen_build(vigild *v, vigil_config *cfg, loader *ld, const char *runtime_dir,
    bool with_sinks, char *err, size_t errlen)
{
	generation *g = calloc(1, sizeof(*g));

	if (g == NULL) {
		config_free(cfg);
		loader_free(ld);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	g->id          = ++v->next_gen;
	g->cfg         = cfg;
	g->ld          = ld;
	g->runtime_dir = strdup(runtime_dir);
	if (g->runtime_dir == NULL || gen_workers(v, g, err, errlen) != 0)
		goto fail;
	if (with_sinks) {
		if ((g->out = sinks_new(v, g, err, errlen)) == NULL ||
		    sinks_start(g->out, err, errlen) != 0)
			goto fail;
	}
	return g;
fail:
	gen_free(g);
	return NULL;
}

static int
gen_start_inputs(vigild *v, generation *g, char *err, size_t errlen)
{
	if ((g->in = inputs_new(v, g, err, errlen)) == NULL)
		return -1;
	return inputs_start(g->in, err, errlen);
}

/* ------------------------------------------------------------------ */
/* Progress: shutdown and reload are state machines driven from here.  */

static generation  *retiring; /* an old generation finishing deliveries */
static int64_t      retiring_since;
static int64_t      stop_since;
static control_req *reload_waiter;

/* Checking a configuration compiles every rule's patterns in vigild too,
 * and frees them again; glibc keeps those pages. Hand them back to the
 * system once a generation is built or gone (half of an idle vigild's
 * RSS with the kz rules). */
static void
give_back_memory(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* Retired generations whose workers are being stopped: a stop of the
 * daemon frees those still there, or their sockets would outlive it. */
static generation *stopping_gens;

static void
retire_done(void *arg)
{
	generation *g = arg;

	if (g == retiring)
		retiring = NULL;
	for (generation **p = &stopping_gens; *p; p = &(*p)->next_stopping)
		if (*p == g) {
			*p = g->next_stopping;
			break;
		}
	gen_free(g);
	give_back_memory();
}

static void
retire_check(void)
{
	generation *g = retiring;

	if (g == NULL)
		return;
	if (sinks_pending(g->out) > 0 &&
	    now_monotonic_us() - retiring_since < DRAIN_TIMEOUT_S * 1000000LL)
		return;
	retiring = NULL;
	if (g->wk) {
		g->next_stopping = stopping_gens;
		stopping_gens    = g;
		workers_stop(g->wk, retire_done, g);
	} else
		gen_free(g);
}

static void
reload_answer(bool ok, const char *why)
{
	json_t *r;

	if (reload_waiter == NULL)
		return;
	r = json_object();
	json_object_set_new(r, "ok", json_boolean(ok));
	if (!ok)
		json_object_set_new(r, "error", json_string(why));
	control_reply(reload_waiter, r);
	reload_waiter = NULL;
}

static bool
gen_drained(const generation *g)
{
	return inputs_outstanding(g->in) == 0 && dispatch_held(g->disp) == 0;
}

static void
reload_switch(vigild *v)
{
	char        err[4096];
	generation *old = v->cur;

	inputs_free(old->in);
	old->in = NULL;
	v->cur  = v->next;
	v->next = NULL;
	sinks_takeover(v->cur->out, old->out);
	for (size_t i = 0; i < cfg_count(v->cur->cfg->workers, "listen"); i++) {
		const char *url =
		    cfg_string_at(v->cur->cfg->workers, "listen", i);
		if (dispatch_has_listener(old->disp, url) &&
		    dispatch_adopt_listener(v->cur->disp, old->disp, url) != 0)
			log_err("reload: cannot take over the worker listener "
			        "%s; remote workers there are not used",
			    url);
	}
	if (gen_start_inputs(v, v->cur, err, sizeof(err)) != 0) {
		/* The config validated, so this is the environment (a file
		 * gone, a port taken): say so loudly; posts are not lost,
		 * inputs resume from their saved positions on the next
		 * reload. */
		log_err("reload: inputs failed to start: %s", err);
		snprintf(v->last_reload_error, sizeof(v->last_reload_error),
		    "inputs failed to start: %.900s", err);
		v->reload_failures++;
		reload_answer(false, err);
	} else {
		log_notice("reload: generation %u running", v->cur->id);
		v->reloads++;
		reload_answer(true, NULL);
	}
	if (retiring)
		retire_done(retiring); /* a reload before the last finished */
	retiring       = old;
	retiring_since = now_monotonic_us();
	v->state       = VS_RUNNING;
	notify_ready(v);
}

static void
shutdown_finish(void *arg)
{
	vigild *v = arg;

	event_base_loopexit(v->base, NULL);
}

static void
progress(evutil_socket_t fd, short what, void *arg)
{
	vigild *v = arg;

	(void)fd;
	(void)what;
	retire_check();
	switch (v->state) {
	case VS_RELOADING:
		if (gen_drained(v->cur))
			reload_switch(v);
		break;
	case VS_STOPPING: {
		bool late = now_monotonic_us() - stop_since >=
		    DRAIN_TIMEOUT_S * 1000000LL;

		if (v->workers_stopping)
			break;
		if (!late &&
		    (!gen_drained(v->cur) || sinks_pending(v->cur->out)))
			break;
		if (!gen_drained(v->cur)) {
			/* No worker could score them (none connects, say):
			 * unacked, so their inputs read them again. */
			log_err("%zu posts were not scored within %d s; their "
			        "inputs will hand them over again on the next "
			        "start",
			    dispatch_held(v->cur->disp), DRAIN_TIMEOUT_S);
			v->exit_code = 1;
		}
		v->workers_stopping = true;
		if (v->cur->wk)
			workers_stop(v->cur->wk, shutdown_finish, v);
		else
			shutdown_finish(v);
		break;
	}
	default: break;
	}
}

void
vigild_progress(vigild *v)
{
	if (v->progress_ev)
		event_active(v->progress_ev, 0, 0);
}

static void
reload_refused(vigild *v, const char *err)
{
	log_err("reload refused, keeping the running configuration: %s", err);
	snprintf(
	    v->last_reload_error, sizeof(v->last_reload_error), "%.1000s", err);
	v->reload_failures++;
	reload_answer(false, err);
	notify_ready(v);
}

/* Builds the checked configuration beside the running one; the inputs
 * switch once the old ones have drained (progress). */
static void
reload_build(vigild *v, vigil_config *cfg, loader *ld)
{
	char err[8192];

	if ((v->next = gen_build(v, cfg, ld, v->cur->runtime_dir, true, err,
	         sizeof(err))) == NULL) {
		reload_refused(v, err);
		return;
	}
	if (v->log_level_arg == NULL)
		log_set_level(cfg->log_level);
	give_back_memory();
	v->state = VS_RELOADING;
	inputs_stop(v->cur->in);
	vigild_progress(v);
}

static void
check_forget(vigild *v)
{
	config_free(v->check_cfg);
	loader_free(v->check_ld);
	v->check_cfg = NULL;
	v->check_ld  = NULL;
	v->checking  = NULL;
}

static void
on_rules_checked(void *arg, const char *errors)
{
	vigild       *v   = arg;
	vigil_config *cfg = v->check_cfg;
	loader       *ld  = v->check_ld;

	if (errors != NULL) {
		check_forget(v);
		reload_refused(v, errors);
		return;
	}
	v->checking  = NULL;
	v->check_cfg = NULL;
	v->check_ld  = NULL;
	reload_build(v, cfg, ld);
}

/* Reads the configuration (rule plugins loaded, not compiled), then has a
 * worker process check the rules while the loop goes on. */
static void
start_reload(vigild *v, control_req *waiter)
{
	char          err[8192];
	loader       *ld  = NULL;
	vigil_config *cfg = NULL;

	if (v->state != VS_RUNNING || v->checking != NULL) {
		log_warn("reload: %s; request ignored",
		    v->state == VS_RELOADING || v->checking != NULL
		        ? "a reload is in progress"
		        : "the daemon is stopping");
		if (waiter) {
			json_t *r = json_object();
			json_object_set_new(r, "ok", json_false());
			json_object_set_new(r, "error",
			    json_string(
			        "busy: a reload or shutdown is in progress"));
			control_reply(waiter, r);
		}
		return;
	}
	reload_waiter = waiter;
	notify_reloading();
	/* Log rotation: the running sinks reopen their files at once, even
	 * if the new configuration is refused. */
	sinks_reopen(v->cur->out);
	log_notice("reload: reading %s", v->config_path);
	if (config_load(v->config_path, CONFIG_ALL | CONFIG_RULES_BY_WORKER,
	        &ld, &cfg, err, sizeof(err)) != 0) {
		loader_free(ld);
		reload_refused(v, err);
		return;
	}
	if (cfg->n_rules == 0) {
		reload_build(v, cfg, ld);
		return;
	}
	v->check_cfg = cfg;
	v->check_ld  = ld;
	v->checking  = workers_check_start(v->base, v->worker_cmd,
	     v->config_path, on_rules_checked, v, err, sizeof(err));
	if (v->checking == NULL) {
		check_forget(v);
		reload_refused(v, err);
	}
}

/* ------------------------------------------------------------------ */
/* Signals                                                             */

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	vigild *v = arg;

	(void)what;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
	case SIGHUP:
		if (v->replay) {
			/* Replay output would be incomplete: say so. */
			log_warn("interrupted; replay output is incomplete");
			v->exit_code = 1;
			event_base_loopbreak(v->base);
			return;
		}
		if (sig == SIGHUP) {
			start_reload(v, NULL);
			return;
		}
		if (v->state == VS_STOPPING) {
			log_warn("second signal: exiting without draining");
			v->exit_code = 1;
			event_base_loopbreak(v->base);
			return;
		}
		log_notice("%s: draining %zu posts in flight",
		    sig == SIGTERM ? "SIGTERM" : "SIGINT",
		    dispatch_held(v->cur->disp));
		if (v->checking) {
			workers_check_cancel(v->checking);
			check_forget(v);
			reload_answer(false, "the daemon is stopping");
		}
		if (v->next) {
			gen_free(v->next);
			v->next = NULL;
			reload_answer(false, "the daemon is stopping");
		}
		v->state   = VS_STOPPING;
		stop_since = now_monotonic_us();
		notify_stopping();
		/* Look again every second, for the drain timeout. */
		evtimer_add(v->stop_timer, &one_second);
		inputs_stop(v->cur->in);
		vigild_progress(v);
		break;
	case SIGCHLD: workers_reap(); break;
	}
}

/* ------------------------------------------------------------------ */
/* Control commands                                                    */

static void
plugins_json(const generation *g, json_t *arr)
{
	const struct {
		const instance_conf *list;
		size_t               n;
	} kinds[] = {{g->cfg->inputs, g->cfg->n_inputs},
	    {g->cfg->rules, g->cfg->n_rules}, {g->cfg->sinks, g->cfg->n_sinks}};

	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++)
		for (size_t i = 0; i < kinds[k].n; i++) {
			const instance_conf *ic = &kinds[k].list[i];
			json_array_append_new(arr,
			    json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind",
			        plugin_kind_name(ic->kind), "plugin",
			        ic->plugin, "name", ic->name, "version",
			        ic->desc->version, "file",
			        ic->file ? ic->file : ""));
		}
}

/* Posts scored a second: over the last status call's interval (at least
 * a second), and on average since the start. */
static void
status_rates(const vigild *v, json_t *reply)
{
	static const char *const sev[] = {"none", "notice", "warning", "alert"};
	static uint64_t          last_n;
	static int64_t           last_at;
	static double            recent;
	uint64_t                 n   = 0;
	int64_t                  now = now_monotonic_us();
	char                     l[64];

	for (size_t i = 0; i < ARRAY_SIZE(sev); i++) {
		snprintf(l, sizeof(l), "severity=\"%s\"", sev[i]);
		n += metrics_counter_value(metrics_counter(
		    "vigil_verdicts_total", "Verdicts by severity.", l));
	}
	if (last_at != 0 && now - last_at >= 1000000)
		recent = (double)(n - last_n) * 1e6 / (double)(now - last_at);
	if (last_at == 0 || now - last_at >= 1000000) {
		last_n  = n;
		last_at = now;
	}
	json_object_set_new(reply, "rates",
	    json_pack("{s:f, s:f, s:I}", "posts_per_s", recent,
	        "posts_per_s_since_start",
	        now > v->started_us
	            ? (double)n * 1e6 / (double)(now - v->started_us)
	            : 0.0,
	        "posts_scored", (json_int_t)n));
}

static int
cmd_status(void *arg, control_req *req, json_t *args, json_t *reply)
{
	vigild                  *v = arg;
	dispatch_stats           ds;
	workers_stats            ws       = {0, 0};
	json_t                  *pl       = json_array();
	static const char *const states[] = {
	    "starting", "running", "reloading", "stopping"};

	(void)req;
	(void)args;
	dispatch_get_stats(v->cur->disp, &ds);
	if (v->cur->wk)
		workers_get_stats(v->cur->wk, &ws);
	plugins_json(v->cur, pl);
	json_object_set_new(reply, "version", json_string(PACKAGE_VERSION));
	json_object_set_new(reply, "pid", json_integer(getpid()));
	json_object_set_new(reply, "state", json_string(states[v->state]));
	json_object_set_new(reply, "uptime_s",
	    json_integer((now_monotonic_us() - v->started_us) / 1000000));
	status_rates(v, reply);
	json_object_set_new(reply, "config", json_string(v->config_path));
	json_object_set_new(reply, "generation", json_integer(v->cur->id));
	json_object_set_new(
	    reply, "reloads", json_integer((json_int_t)v->reloads));
	json_object_set_new(reply, "reload_failures",
	    json_integer((json_int_t)v->reload_failures));
	if (v->last_reload_error[0])
		json_object_set_new(reply, "last_reload_error",
		    json_string(v->last_reload_error));
	json_object_set_new(reply, "workers",
	    json_pack("{s:I,s:I,s:I,s:I}", "running", (json_int_t)ws.running,
	        "restarts", (json_int_t)ws.restarts, "links",
	        (json_int_t)ds.links, "links_up", (json_int_t)ds.links_up));
	json_object_set_new(reply, "queue",
	    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "queued",
	        (json_int_t)ds.queued, "in_flight", (json_int_t)ds.in_flight,
	        "backlog", (json_int_t)v->cur->cfg->backlog, "alerts_pending",
	        (json_int_t)sinks_pending(v->cur->out), "requests",
	        (json_int_t)ds.requests, "quarantined",
	        (json_int_t)ds.quarantined, "resent", (json_int_t)ds.resent,
	        "timeouts", (json_int_t)ds.timeouts));
	sinks_status(v->cur->out, reply);
	if (v->ob)
		json_object_set_new(reply, "outbox_ops",
		    json_integer((json_int_t)outbox_backlog(v->ob)));
	json_object_set_new(reply, "plugins", pl);
	return 0;
}

static int
cmd_plugins(void *arg, control_req *req, json_t *args, json_t *reply)
{
	vigild *v  = arg;
	json_t *pl = json_array();

	(void)req;
	(void)args;
	plugins_json(v->cur, pl);
	json_object_set_new(reply, "plugins", pl);
	return 0;
}

static int
cmd_reload(void *arg, control_req *req, json_t *args, json_t *reply)
{
	(void)args;
	(void)reply;
	start_reload(arg, req);
	return 1; /* answered when the reload has finished or failed */
}

static int
cmd_metrics(void *arg, control_req *req, json_t *args, json_t *reply)
{
	char  *text = NULL;
	size_t len  = 0;
	FILE  *f    = open_memstream(&text, &len);

	(void)arg;
	(void)req;
	(void)args;
	if (f == NULL)
		return -1;
	metrics_write(f);
	fclose(f);
	json_object_set_new(reply, "text", json_stringn(text, len));
	free(text);
	return 0;
}

/* vigilctl outbox: answered when the outbox has run the query. */
typedef struct outbox_call {
	vigild      *v;
	control_req *req;
} outbox_call;

/* Queues what a retry made pending again: the seqs of each sink. */
static void
queue_retried(vigild *v, json_t *deliveries)
{
	size_t  n = json_array_size(deliveries), i, k;
	json_t *d;
	bool   *done = calloc(n ? n : 1, sizeof(*done));

	for (i = 0; done && i < n; i++) {
		const char *sink = json_string_value(
		    json_object_get(json_array_get(deliveries, i), "sink"));
		int64_t *seqs = NULL;
		size_t   m    = 0;

		if (done[i] || sink == NULL ||
		    (seqs = calloc(n, sizeof(*seqs))) == NULL)
			continue;
		json_array_foreach(deliveries, k, d)
		{
			const char *s =
			    json_string_value(json_object_get(d, "sink"));
			if (k >= i && !done[k] && s && strcmp(s, sink) == 0) {
				seqs[m++] = json_integer_value(
				    json_object_get(d, "seq"));
				done[k] = true;
			}
		}
		sinks_load_seqs(v->cur->out, sink, seqs, m);
	}
	if (done == NULL)
		log_err("out of memory queueing retried alerts; they are sent "
		        "after a restart");
	free(done);
}

static void
outbox_answered(void *arg, json_t *reply, const char *err)
{
	outbox_call *oc = arg;

	if (reply == NULL)
		reply = json_pack("{s:b, s:s}", "ok", 0, "error",
		    err ? err : "outbox query failed");
	else if (oc->v->cur != NULL &&
	    strcmp(json_string_value(json_object_get(reply, "action")),
	        "retry") == 0)
		queue_retried(oc->v, json_object_get(reply, "deliveries"));
	control_reply(oc->req, reply);
	free(oc);
}

/* A string member, absent, or an error (-1). */
static int
opt_string(json_t *args, const char *key, const char **out, json_t *reply)
{
	json_t *v = json_object_get(args, key);
	char    msg[96];

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		snprintf(msg, sizeof(msg), "'%s' must be a string", key);
		json_object_set_new(reply, "error", json_string(msg));
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static int
cmd_outbox(void *arg, control_req *req, json_t *args, json_t *reply)
{
	static const char *const actions[] = {
	    "stats", "list", "retry", "purge"};
	vigild      *v = arg;
	outbox_query q = {.state = -1};
	outbox_call *oc;
	const char  *state;
	json_t      *limit = json_object_get(args, "limit");
	bool         known = false;

	if (opt_string(args, "action", &q.action, reply) != 0 ||
	    opt_string(args, "sink", &q.sink, reply) != 0 ||
	    opt_string(args, "id", &q.id, reply) != 0 ||
	    opt_string(args, "state", &state, reply) != 0)
		return -1;
	if (q.action == NULL)
		q.action = "stats";
	for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
		known = known || strcmp(actions[i], q.action) == 0;
	if (!known) {
		json_object_set_new(reply, "error",
		    json_string("unknown outbox action (stats, list, retry or "
		                "purge)"));
		return -1;
	}
	if (limit != NULL &&
	    (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
	        json_integer_value(limit) > 100000)) {
		json_object_set_new(reply, "error",
		    json_string("'limit' must be an integer from 1 to 100000"));
		return -1;
	}
	q.limit = limit ? (size_t)json_integer_value(limit) : 0;
	if (state && (q.state = outbox_state_parse(state)) < 0) {
		json_object_set_new(reply, "error",
		    json_string("unknown state (pending, delivered, dead or "
		                "held)"));
		return -1;
	}
	/* Only dead letters are retried or purged, and never all of them
	 * by accident: an id, or "all": true. */
	if (strcmp(q.action, "retry") == 0 || strcmp(q.action, "purge") == 0) {
		q.state = OB_DEAD;
		if (q.id == NULL &&
		    !json_is_true(json_object_get(args, "all"))) {
			json_object_set_new(reply, "error",
			    json_string("retry and purge need an 'id' or "
			                "\"all\": true"));
			return -1;
		}
	}
	if (v->ob == NULL || (oc = calloc(1, sizeof(*oc))) == NULL) {
		json_object_set_new(reply, "error",
		    json_string(v->ob ? "out of memory" : "no outbox"));
		return -1;
	}
	oc->v   = v;
	oc->req = req;
	outbox_run_query(v->ob, &q, outbox_answered, oc);
	return 1;
}

#define PRUNE_INTERVAL_S 600

static void
on_prune(evutil_socket_t fd, short what, void *arg)
{
	vigild *v = arg;

	(void)fd;
	(void)what;
	if (v->ob && v->cur)
		outbox_prune(
		    v->ob, now_realtime_us(), v->cur->cfg->retention_us);
}

static int
open_outbox(vigild *v, const vigil_config *cfg)
{
	const char    *p = cfg_string(cfg->outbox, "path");
	char           path[PATH_MAX], err[1024];
	struct timeval every = {PRUNE_INTERVAL_S, 0};
	outbox_opts    o     = {
	           .sync_full =
	               strcmp(cfg_string(cfg->outbox, "synchronous"), "full") == 0,
	           .max_bytes = cfg_int(cfg->outbox, "max_size"),
        };

	if (p == NULL || *p == '\0') {
		snprintf(path, sizeof(path), "%s/outbox.db", cfg->state_dir);
		p = path;
	}
	o.path = p;
	if ((v->ob = outbox_open(&o, v->br, err, sizeof(err))) == NULL) {
		log_err("%s", err);
		return -1;
	}
	if ((v->pos = positions_new(v->base, v->ob)) == NULL) {
		log_err("out of memory reading the inputs' positions");
		return -1;
	}
	if ((v->prune_ev = event_new(v->base, -1, EV_PERSIST, on_prune, v)) ==
	        NULL ||
	    event_add(v->prune_ev, &every) != 0) {
		log_err("cannot set up the outbox's pruning");
		return -1;
	}
	outbox_prune(v->ob, now_realtime_us(), cfg->retention_us);
	return 0;
}

/* Started as root with daemon.user: the files made so far go to the
 * user, then root goes, before any plugin or worker runs. */
static int
drop_root(const vigil_config *cfg)
{
	const char *user = cfg_string(cfg->daemon, "user");
	const char *ob   = cfg_string(cfg->outbox, "path");
	const char *cs   = cfg_string(cfg->daemon, "control_socket");
	char        db[PATH_MAX], wal[PATH_MAX + 8], shm[PATH_MAX + 8];
	char        sock[PATH_MAX], err[512];
	uid_t       uid;
	gid_t       gid;

	if (geteuid() != 0)
		return 0;
	if (*user == '\0') {
		log_warn("running as root: set daemon.user, or start vigild "
		         "as its own user (the systemd unit does)");
		return 0;
	}
	if (privs_lookup(user, &uid, &gid, err, sizeof(err)) != 0) {
		log_err("%s", err);
		return -1;
	}
	snprintf(db, sizeof(db), "%s", *ob ? ob : "");
	if (*ob == '\0')
		snprintf(db, sizeof(db), "%s/outbox.db", cfg->state_dir);
	snprintf(wal, sizeof(wal), "%s-wal", db);
	snprintf(shm, sizeof(shm), "%s-shm", db);
	if (*cs == '\0')
		snprintf(
		    sock, sizeof(sock), "%s/control.sock", cfg->runtime_dir);
	else
		snprintf(sock, sizeof(sock), "%s", cs);
	{
		const char *paths[] = {
		    cfg->state_dir, cfg->runtime_dir, db, wal, shm, sock};
		if (privs_drop(uid, gid, paths, ARRAY_SIZE(paths), err,
		        sizeof(err)) != 0) {
			log_err("%s", err);
			return -1;
		}
	}
	log_notice("running as %s (uid %u)", user, (unsigned)uid);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Start-up                                                            */

static const host_loop_ops loop_ops = {
    .submit            = input_submit,
    .alert_done        = sink_alert_done,
    .kv_put            = instance_kv_put,
    .kv_get            = instance_kv_get,
    .kv_del            = instance_kv_del,
    .http_route        = NULL, /* set in main once the listener exists */
    .http_method       = http_req_method,
    .http_header       = http_req_header,
    .http_query        = http_req_query,
    .http_body         = http_req_body,
    .http_reply        = http_req_reply,
    .alert_retry_after = sink_alert_retry_after,
    .position_get      = input_position_get,
    .position_skip     = input_position_skip,
    .http_reply_header = http_req_reply_header,
    .http_hold         = http_req_hold,
};

static http_server  *the_http;
static fetch_client *the_fetch;

static vigil_fetch *
fetch_on_loop(vigil_ctx *ctx, const vigil_fetch_req *req)
{
	return fetch_start(the_fetch, ctx, req);
}

static const char *
http_listen(vigil_ctx *ctx)
{
	(void)ctx;
	return the_http ? http_server_listen(the_http) : NULL;
}

static int
route(vigil_ctx *ctx, const char *path, vigil_http_fn fn, void *arg)
{
	if (the_http == NULL) {
		host_log(ctx, VIGIL_LOG_ERR, "no HTTP listener in this mode");
		return VIGIL_ERR;
	}
	return http_server_route(the_http, path, fn, arg, ctx->prefix);
}

/* The worker program: the setting, else beside this binary (a build
 * tree), else the installed one. */
static char *
find_worker(const vigil_config *cfg)
{
	const char *set = cfg_string(cfg->workers, "command");
	char        self[PATH_MAX], *dir, *p;
	ssize_t     n;

	if (set && *set)
		return strdup(set);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((dir = path_dirname(self)) != NULL) {
			p = path_join(dir, "vigil-worker");
			free(dir);
			if (p && access(p, X_OK) == 0)
				return p;
			free(p);
		}
	}
	return strdup(VIGIL_SBINDIR "/vigil-worker");
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vigild [-c CONFIG] [options]\n"
	    "  -c, --config FILE     configuration (default %s/vigil.conf)\n"
	    "  -t, --test            check the configuration and its plugins, "
	    "then exit\n"
	    "      --replay FILE     score a JSON-lines file (- for stdin) and "
	    "print verdicts\n"
	    "      --input PLUGIN    with --replay: read FILE with that input "
	    "plugin\n"
	    "      --reference       print the configuration reference "
	    "(Markdown)\n"
	    "  -P, --plugin-path DIR with --reference: search DIR for plugins "
	    "first\n"
	    "  -l, --log-level LEVEL error, warning, notice, info, debug\n"
	    "  -V, --version         print the version\n"
	    "  -h, --help            print this help\n",
	    VIGIL_SYSCONF_DIR);
}

static int
make_replay_dir(char *out, size_t len)
{
	const char *tmp = getenv("TMPDIR");

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	if (!strfmt(out, len, "%s/vigil-XXXXXX", tmp) || mkdtemp(out) == NULL) {
		log_err("cannot make a runtime directory under %s: %s", tmp,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void
remove_replay_dir(const char *dir, uint32_t gens)
{
	char p[PATH_MAX + 64];

	/* Only what we made: the ipc sockets of our generations. */
	for (uint32_t g = 1; g <= gens; g++)
		for (int i = 0; i < 1024; i++) {
			snprintf(p, sizeof(p), "%s/w%u-%d.sock", dir, g, i);
			if (unlink(p) != 0 && errno == ENOENT && i > 0)
				break;
		}
	rmdir(dir);
}

/* Configuration errors, one per line, each ending in a newline. */
static void
print_errors(const char *err)
{
	size_t n = strlen(err);

	fprintf(stderr, "%s%s", err, n > 0 && err[n - 1] != '\n' ? "\n" : "");
}

/* vigild -t: the TLS files load, and nng takes key and certificates. */
static int
check_tls(const vigil_config *cfg, char *err, size_t errlen)
{
	wtls *t = wtls_load(cfg_group(cfg->workers, "tls"), err, errlen);
	nng_tls_config *tc;
	int             rc = -1;

	if (t == NULL)
		return -1;
	if (wtls_config(t, true, NULL, &tc, err, errlen) == 0) {
		nng_tls_config_free(tc);
		rc = 0;
	}
	wtls_free(t);
	return rc;
}

static int
check_config(const char *path)
{
	char          err[16384];
	loader       *ld  = NULL;
	vigil_config *cfg = NULL;
	int           rc;

	rc = config_load(path, CONFIG_ALL, &ld, &cfg, err, sizeof(err));
	if (rc == 0 && workers_use_tls(cfg) &&
	    check_tls(cfg, err, sizeof(err)) != 0)
		rc = -1;
	if (rc != 0)
		print_errors(err);
	else
		fprintf(stderr,
		    "%s: configuration OK (%zu inputs, %zu rules, "
		    "%zu sinks)\n",
		    path, cfg->n_inputs, cfg->n_rules, cfg->n_sinks);
	config_free(cfg);
	loader_free(ld);
	return rc == 0 ? 0 : 1;
}

static int
print_reference(const char *path)
{
	char          err[16384];
	loader       *ld  = NULL;
	vigil_config *cfg = NULL;
	int           rc  = 0;

	if (path && config_load(path, 0, &ld, &cfg, err, sizeof(err)) != 0) {
		print_errors(err);
		rc = 1;
	} else {
		/* -P first, then the config's plugin_path or the default. */
		size_t n = cfg ? cfg_count(cfg->daemon, "plugin_path") : 0;
		const char **dirs = calloc(n + 2, sizeof(char *));
		size_t       k    = 0;

		if (dirs == NULL) {
			config_free(cfg);
			return 1;
		}
		if (plugin_path_arg)
			dirs[k++] = plugin_path_arg;
		for (size_t i = 0; i < n; i++)
			dirs[k++] =
			    cfg_string_at(cfg->daemon, "plugin_path", i);
		if (cfg == NULL && plugin_path_arg == NULL)
			dirs[k++] = VIGIL_PLUGIN_DIR;
		loader_free(ld);
		ld = loader_new(dirs, k);
		free(dirs);
		config_reference(stdout, ld);
	}
	config_free(cfg);
	loader_free(ld);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"test", no_argument, NULL, 't'},
	    {"replay", required_argument, NULL, 'R'},
	    {"input", required_argument, NULL, 'I'},
	    {"reference", no_argument, NULL, 'F'},
	    {"plugin-path", required_argument, NULL, 'P'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *conf = VIGIL_SYSCONF_DIR "/vigil.conf", *replay_file = NULL;
	const char *replay_input = NULL;
	const char *level_name   = NULL;
	bool        test = false, reference = false, conf_given = false;
	int         c, level = -1, rc = 1;
	char        err[16384], rundir[PATH_MAX];
	host_loop_ops    ops = loop_ops;
	admin           *adm = NULL;
	loader          *ld  = NULL;
	vigil_config    *cfg = NULL;
	vigild           v;
	struct event    *sig_ev[4] = {NULL, NULL, NULL, NULL};
	static const int sigs[4]   = {SIGTERM, SIGINT, SIGHUP, SIGCHLD};

	log_set_ident("vigild");
	while ((c = getopt_long(argc, argv, "c:tP:l:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf       = optarg;
			conf_given = true;
			break;
		case 't': test = true; break;
		case 'R': replay_file = optarg; break;
		case 'I': replay_input = optarg; break;
		case 'F': reference = true; break;
		case 'P': plugin_path_arg = optarg; break;
		case 'l':
			if (log_level_parse(optarg, &level) != 0) {
				fprintf(stderr,
				    "vigild: unknown log level '%s'\n", optarg);
				return 2;
			}
			log_set_level(level);
			level_name = optarg;
			break;
		case 'V': printf("vigild %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || (plugin_path_arg && !reference) ||
	    (replay_input && !replay_file)) {
		usage(stderr);
		return 2;
	}
	/* Rule plugins compile their patterns when validated. */
	if ((reference || test) && text_init() != 0)
		return 1;
	if (reference) {
		rc = print_reference(conf_given ? conf : NULL);
		text_fini();
		return rc;
	}
	if (test) {
		rc = check_config(conf);
		text_fini();
		return rc;
	}

	memset(&v, 0, sizeof(v));
	v.config_path   = conf;
	v.started_us    = now_monotonic_us();
	v.log_level_arg = level_name;
	v.replay        = replay_file != NULL;
	signal(SIGPIPE, SIG_IGN);
	/* Replay loads the rules here; the daemon leaves them to the workers
	 * and builds the text tables only if a plugin asks (host.c). */
	if (replay_file != NULL && text_init() != 0)
		return 1;
	if (config_load(conf,
	        replay_file ? CONFIG_RULES
	                    : CONFIG_ALL | CONFIG_RULES_BY_WORKER,
	        &ld, &cfg, err, sizeof(err)) != 0) {
		print_errors(err);
		text_fini();
		return 2;
	}
	v.worker_cmd = find_worker(cfg);
	if (replay_file == NULL && v.worker_cmd != NULL && cfg->n_rules > 0 &&
	    workers_check_rules(v.worker_cmd, conf, err, sizeof(err)) != 0) {
		print_errors(err);
		config_free(cfg);
		loader_free(ld);
		free((char *)v.worker_cmd);
		text_fini();
		return 2;
	}
	if (level < 0)
		log_set_level(cfg->log_level);
	evthread_use_pthreads();
	if ((v.base = event_base_new()) == NULL ||
	    (v.br = bridge_new(v.base)) == NULL ||
	    (v.progress_ev = event_new(v.base, -1, 0, progress, &v)) == NULL ||
	    (v.stop_timer = event_new(v.base, -1, EV_PERSIST, progress, &v)) ==
	        NULL) {
		log_err("cannot set up the event loop");
		goto out;
	}
	for (int i = 0; i < 4; i++) {
		sig_ev[i] = evsignal_new(v.base, sigs[i], on_signal, &v);
		if (sig_ev[i] == NULL || event_add(sig_ev[i], NULL) != 0) {
			log_err("cannot watch signal %d", sigs[i]);
			goto out;
		}
	}

	if (replay_file) {
		/* Replay: workers only, in a private runtime directory. */
		generation *g;
		if (make_replay_dir(rundir, sizeof(rundir)) != 0)
			goto out;
		g   = gen_build(&v, cfg, ld, rundir, false, err, sizeof(err));
		cfg = NULL;
		ld  = NULL;
		if (g == NULL) {
			log_err("%s", err);
			rc = 2;
		} else {
			v.cur   = g;
			v.state = VS_RUNNING;
			rc      = replay_run(&v, g, replay_file, replay_input);
			gen_free(g);
		}
		remove_replay_dir(rundir, v.next_gen);
		goto out;
	}

	if (mkdir_p(cfg->state_dir, 0750) != 0 ||
	    mkdir_p(cfg->runtime_dir, 0750) != 0) {
		log_err("cannot create %s or %s: %s", cfg->state_dir,
		    cfg->runtime_dir, strerror(errno));
		goto out;
	}
	/* Plugins replaced on disk are loaded anew on reload from there. */
	loader_set_link_dir(cfg->runtime_dir);
	if (open_outbox(&v, cfg) != 0)
		goto out;
	{
		const char *cs = cfg_string(cfg->daemon, "control_socket");
		char        path[PATH_MAX];
		if (cs == NULL || *cs == '\0') {
			snprintf(path, sizeof(path), "%s/control.sock",
			    cfg->runtime_dir);
			cs = path;
		}
		if ((v.ctl = control_open(v.base, cs, err, sizeof(err))) ==
		    NULL) {
			log_err("%s", err);
			goto out;
		}
		if (privs_chown_names(cs,
		        cfg_string(cfg->daemon, "control_owner"),
		        cfg_string(cfg->daemon, "control_group"), err,
		        sizeof(err)) != 0) {
			log_err("control socket: %s", err);
			goto out;
		}
		control_command(v.ctl, "status", cmd_status, &v);
		control_command(v.ctl, "plugins", cmd_plugins, &v);
		control_command(v.ctl, "reload", cmd_reload, &v);
		control_command(v.ctl, "metrics", cmd_metrics, &v);
		control_command(v.ctl, "outbox", cmd_outbox, &v);
		explain_register(&v);
	}
	{
		http_options ho = {
		    .listen   = cfg_string(cfg->http, "listen"),
		    .max_body = (size_t)cfg_int(cfg->http, "max_body"),
		    .max_connections =
		        (int)cfg_int(cfg->http, "max_connections"),
		    .timeout_s = (int)cfg_int(cfg->http, "timeout_s"),
		};
		if ((the_http = http_server_new(v.base, &ho)) == NULL)
			goto out;
		v.http          = the_http;
		ops.http_route  = route;
		ops.http_listen = http_listen;
	}
	/* Bound: the admin port too, then root goes. */
	if (admin_open(&v, cfg, &adm) != 0 || drop_root(cfg) != 0)
		goto out;
	if ((the_fetch = fetch_client_new(v.base)) == NULL)
		goto out;
	ops.fetch        = fetch_on_loop;
	ops.fetch_cancel = fetch_cancel;
	host_set_loop_ops(&ops);
	if ((v.cur = gen_build(&v, cfg, ld, cfg->runtime_dir, true, err,
	         sizeof(err))) == NULL) {
		cfg = NULL;
		ld  = NULL;
		log_err("%s", err);
		goto out;
	}
	cfg = NULL;
	ld  = NULL;
	give_back_memory();
	sinks_takeover(v.cur->out, NULL);
	if (gen_start_inputs(&v, v.cur, err, sizeof(err)) != 0) {
		log_err("%s", err);
		goto out;
	}
	v.state = VS_RUNNING;
	log_notice("vigild %s running: generation %u, %d local workers, "
	           "%zu inputs, %zu rules, %zu sinks",
	    PACKAGE_VERSION, v.cur->id, local_worker_count(v.cur->cfg),
	    v.cur->cfg->n_inputs, v.cur->cfg->n_rules, v.cur->cfg->n_sinks);
	if (notify_watchdog_start(&v) != 0)
		goto out;
	notify_ready(&v);
	event_base_dispatch(v.base);
	rc = v.exit_code;
	log_notice("stopped");
out:
	if (v.checking) {
		workers_check_cancel(v.checking);
		check_forget(&v);
	}
	if (retiring)
		retire_done(retiring);
	while (stopping_gens != NULL)
		retire_done(stopping_gens); /* its workers are killed */
	if (v.next)
		gen_free(v.next);
	if (v.cur && !replay_file)
		gen_free(v.cur);
	v.cur = NULL;
	if (v.pos)
		positions_flush(v.pos);
	if (v.ob) {
		/* The last delivery states, then the completions. */
		outbox_close(v.ob);
		v.ob = NULL;
		bridge_run(v.br);
	}
	positions_free(v.pos);
	v.pos = NULL;
	if (v.prune_ev)
		event_free(v.prune_ev);
	explain_stop();
	control_close(v.ctl);
	admin_close(adm);
	http_server_free(the_http);
	the_http = NULL;
	/* After the sinks: they cancel their requests when they stop. */
	fetch_client_free(the_fetch);
	the_fetch = NULL;
	host_set_loop_ops(NULL);
	config_free(cfg);
	loader_free(ld);
	for (int i = 0; i < 4; i++)
		if (sig_ev[i])
			event_free(sig_ev[i]);
	if (v.progress_ev)
		event_free(v.progress_ev);
	if (v.stop_timer)
		event_free(v.stop_timer);
	notify_fini();
	bridge_free(v.br);
	if (v.base)
		event_base_free(v.base);
	free((char *)v.worker_cmd);
	metrics_reset();
	text_fini();
	nng_fini(); /* nng's threads, so that leak checkers see a clean exit */
	return rc;
}
