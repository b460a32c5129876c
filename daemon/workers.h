/*
 * workers.h - the local scoring workers of one configuration generation:
 * vigild starts one vigil-worker per slot, each dialling its own ipc
 * endpoint, and restarts a worker that dies, with exponential backoff.
 */
#ifndef VIGIL_WORKERS_H
#define VIGIL_WORKERS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
typedef struct workers workers;

typedef struct workers_opts {
	const char *command; /* the vigil-worker program */
	const char *config;  /* config file the workers load */
	uint32_t    generation;
	int         restart_min_ms;
	int         restart_max_ms;
	const char *log_level; /* passed on, or NULL */
	/* When every worker has died within seconds of starting this many
	 * times in a row (0: never), stop restarting them and call
	 * on_give_up once: for a batch job that would otherwise wait for
	 * workers that cannot start. */
	unsigned give_up_after;
	void (*on_give_up)(void *arg);
	void *give_up_arg;
} workers_opts;

/* Starts n workers, worker i dialling urls[i]. Returns NULL on error. */
workers *workers_start(struct event_base *base, const workers_opts *o,
    char *const *urls, size_t n);
/* Asks every worker to stop (SIGTERM) and calls done once all have
 * exited; no restarts from then on. */
void workers_stop(workers *w, void (*done)(void *arg), void *arg);
void workers_free(workers *w);

/* Called by vigild on SIGCHLD: reaps every exited child of any set. */
void workers_reap(void);

/* Runs "command -t -c conf" and waits for it: the rules of conf checked
 * and compiled in a worker process rather than in vigild, whose resident
 * memory would keep Hyperscan's compiler and ICU's tables for good.
 * Returns 0, or -1 with the worker's errors (file:line lines) in err.
 * Blocks: for the start, before the loop runs. */
int workers_check_rules(
    const char *command, const char *conf, char *err, size_t errlen);

/* The same without blocking the loop (a reload): fn runs on the loop once
 * the worker has exited, with NULL, or the errors as err would hold
 * them. NULL (err set) when it cannot start. */
#define CHECK_OUT_MAX 8192
typedef struct rules_check rules_check;
typedef void (*rules_check_fn)(void *arg, const char *errors);
rules_check *workers_check_start(struct event_base *base, const char *command,
    const char *conf, rules_check_fn fn, void *arg, char *err, size_t errlen);
/* Ends a check that has not finished; fn is not called. */
void workers_check_cancel(rules_check *c);

typedef struct workers_stats {
	size_t   running;
	uint64_t restarts;
} workers_stats;
void workers_get_stats(const workers *w, workers_stats *st);

#endif
