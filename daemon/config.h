/*
 * config.h - the daemon's configuration (doc/configuration.md): one
 * libconfig file with the sections daemon, workers, scoring, http, outbox,
 * admin and the lists inputs, rules and sinks. Loading parses, validates
 * every section against its settings table, loads each instance's plugin
 * and validates the instance against the plugin's table and validate
 * callback, so that a config either loads whole or is refused whole with
 * file:line errors.
 */
#ifndef VIGIL_CONFIG_H
#define VIGIL_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include <libconfig.h>
#include <vigil/plugin.h>

#include "loader.h"
#include "verdict.h"

typedef struct instance_conf {
	vigil_plugin_kind   kind;
	char               *plugin; /* plugin name */
	char               *name;   /* instance name, unique per kind */
	const vigil_plugin *desc;
	const char         *file; /* plugin file, owned by the loader */
	vigil_cfg          *cfg;  /* common + plugin settings */
	char              **jurisdictions; /* inputs, rules (lowercase) */
	size_t              n_jurisdictions;
	vigil_severity      min_severity; /* sinks */
} instance_conf;

typedef struct vigil_config {
	char    *path; /* as given */
	char    *dir;  /* its directory: relative paths resolve here */
	config_t lc;

	vigil_cfg *daemon;
	vigil_cfg *workers;
	vigil_cfg *scoring;
	vigil_cfg *http;   /* the shared HTTP listener of the inputs */
	vigil_cfg *outbox; /* the durable outbox */
	vigil_cfg *admin;  /* the metrics and health listener */

	/* Decoded from the sections, for the hot paths. */
	const char *state_dir;
	const char *runtime_dir;
	int         log_level;
	size_t      max_post_bytes;
	size_t      backlog;
	int         n_workers; /* local workers; 0 = one per online CPU */
	int         inflight;  /* requests in flight per worker */
	int         batch;     /* posts per request */
	int         max_crashes;
	size_t      max_message;
	int         reply_timeout_ms; /* remote workers */
	thresholds  thr;
	int64_t     dedup_window_us;
	int64_t     retention_us;
	int64_t     rate_limit; /* alerts per rule per interval; 0: none */
	int64_t     rate_interval_us;

	instance_conf *inputs, *rules, *sinks;
	size_t         n_inputs, n_rules, n_sinks;
} vigil_config;

/* What to load plugins for; the rest is validated without them only as
 * far as the common settings go. */
#define CONFIG_INPUTS 0x1u
#define CONFIG_RULES  0x2u
#define CONFIG_SINKS  0x4u
#define CONFIG_ALL    (CONFIG_INPUTS | CONFIG_RULES | CONFIG_SINKS)
/* With CONFIG_RULES: rule plugins are loaded and their settings bound,
 * but their validate callback, which compiles patterns, is left to a
 * worker process (vigil-worker -t). */
#define CONFIG_RULES_BY_WORKER 0x8u

/* Loads and validates path. The loader is made from daemon.plugin_path
 * on first use and stored in *ld (if *ld is NULL), so that a reload can
 * reuse it; the caller owns it (a loader made by a load that fails is
 * freed and *ld reset to NULL). ld may be NULL when what is 0. On error
 * returns -1; err holds one "file:line: reason" line per problem, as
 * many as fit. Not thread-safe (libltdl is not): call from one thread. */
int config_load(const char *path, unsigned what, loader **ld,
    vigil_config **out, char *err, size_t errlen);
/* The same from text in memory (tests, fuzzing): errors name the file
 * "<string>"; relative paths and @include resolve against dir, or are
 * left alone when dir is NULL. */
int config_load_string(const char *text, const char *dir, unsigned what,
    loader **ld, vigil_config **out, char *err, size_t errlen);
/* The config refers to the loader's descriptors and file names: free it
 * before the loader. */
void config_free(vigil_config *c);

/* The host's own tables, for the reference doc and for tests. */
extern const vigil_setting config_daemon_settings[];
extern const vigil_setting config_workers_settings[];
extern const vigil_setting config_scoring_settings[];
extern const vigil_setting config_http_settings[];
extern const vigil_setting config_outbox_settings[];
extern const vigil_setting config_admin_settings[];
extern const vigil_setting config_input_common[];
extern const vigil_setting config_rule_common[];
extern const vigil_setting config_sink_common[];

/* Writes doc/configuration.md: the sections, then every plugin the loader
 * finds, each from its settings table. */
void config_reference(FILE *out, loader *ld);

#endif
