/*
 * vigild.h - the daemon's state, shared by the pipeline's files.
 *
 * A generation is everything built from one configuration: its inputs,
 * rule workers (dispatch and processes) and sinks. A reload builds the next
 * generation beside the running one, drains the old one, then switches.
 */
#ifndef VIGIL_VIGILD_H
#define VIGIL_VIGILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct event_base;
typedef struct bridge      bridge;
typedef struct dispatch    dispatch;
typedef struct workers     workers;
typedef struct inputs      inputs;
typedef struct sinks       sinks;
typedef struct http_server http_server;
typedef struct control     control;

typedef struct generation {
	uint32_t           id;
	vigil_config      *cfg;
	loader            *ld;
	char              *runtime_dir; /* where its ipc endpoints live */
	dispatch          *disp;
	workers           *wk;
	inputs            *in;
	sinks             *out;
	struct generation *next_stopping; /* retired, its workers stopping */
} generation;

enum vigild_state { VS_STARTING, VS_RUNNING, VS_RELOADING, VS_STOPPING };

typedef struct vigild {
	struct event_base  *base;
	bridge             *br;
	const char         *config_path;
	const char         *worker_cmd;
	const char         *log_level_arg; /* -l, passed to workers */
	generation         *cur;
	generation         *next; /* built by a reload, waiting for cur */
	enum vigild_state   state;
	bool                replay; /* --replay: no inputs, no sinks */
	bool                workers_stopping; /* shutdown reached the workers */
	uint32_t            next_gen;
	int64_t             started_us;
	int                 exit_code;
	http_server        *http;
	control            *ctl;
	struct outbox      *ob;  /* NULL in replay */
	struct positions   *pos; /* with the outbox */
	struct event       *prune_ev;
	struct event       *progress_ev;
	struct event       *stop_timer; /* re-checks a drain every second */
	struct rules_check *checking;   /* a reload's rules being checked */
	vigil_config       *check_cfg;  /* and the configuration they are in */
	loader             *check_ld;
	uint64_t            reloads, reload_failures;
	char                last_reload_error[1024];
} vigild;

/* Kills g's workers, then frees its dispatch, aborting the jobs it holds.
 * In that order: a worker that lost its link would dial again while its
 * socket closes, and nng 1.5.2 can leak a pipe it accepts then. */
void gen_stop_scoring(generation *g);

/* Asks the loop to look at the state machines again (cheap; deferred). */
void vigild_progress(vigild *v);

#endif
