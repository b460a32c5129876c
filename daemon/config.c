/*
 * config.c - the daemon's configuration file: the host's settings tables,
 * loading and validating a whole file (sections, then each plugin
 * instance against its plugin), and the generated reference.
 *
 * A config loads whole or not at all: every problem found is collected
 * as a "file:line: ..." line, so that `vigild -t` shows them all.
 * Cross-setting rules that no table can express (ascending thresholds,
 * unique instance names, restart delays in order) live here.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "config.h"
#include "privs.h"
#include "host.h"
#include "log.h"
#include "settings.h"
#include "util.h"
#include "wtls.h"

#if !defined(VIGIL_STATE_DIR) || !defined(VIGIL_PLUGIN_DIR) ||                 \
    !defined(VIGIL_SBINDIR)
#error "the build defines VIGIL_STATE_DIR, VIGIL_PLUGIN_DIR, VIGIL_SBINDIR"
#endif

#define MiB (1024.0 * 1024.0)

/* ------------------------------------------------------------ tables */

const vigil_setting config_daemon_settings[] = {
    {"state_dir", VIGIL_SET_STRING, VIGIL_STATE_DIR,
        "Directory of persistent state, such as each instance's "
        "key-value store.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"runtime_dir", VIGIL_SET_STRING, "/run/vigil",
        "Directory of runtime files, such as the control socket.", NULL,
        VIGIL_SET_PATH, 0, 0},
    {"plugin_path", VIGIL_SET_STRINGS, VIGIL_PLUGIN_DIR,
        "Directories searched in order for plugins: D/sink_stdout.so, or "
        "D/sink/stdout/sink_stdout.la as in a build tree.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"log_level", VIGIL_SET_STRING, "info",
        "Lowest level logged: err, warning, notice, info or debug.", NULL, 0, 0,
        0},
    {"max_post_bytes", VIGIL_SET_INT, "262144",
        "Largest post accepted, in bytes of JSON; a larger one is "
        "refused as invalid.",
        NULL, 0, 1, 64 * MiB},
    {"backlog", VIGIL_SET_INT, "8192",
        "Posts accepted but not yet given a verdict, at most; when that "
        "many wait, inputs are paused until verdicts come back.",
        NULL, 0, 1, 16 * MiB},
    {"control_socket", VIGIL_SET_STRING, "",
        "Unix socket on which vigilctl talks to vigild; empty means "
        "runtime_dir/control.sock.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"control_owner", VIGIL_SET_STRING, "",
        "Owner of the control socket (a user name); empty: the user vigild "
        "runs as.",
        NULL, 0, 0, 0},
    {"control_group", VIGIL_SET_STRING, "",
        "Group of the control socket, whose members may run vigilctl (the "
        "socket is mode 0660); empty: vigild's group.",
        NULL, 0, 0, 0},
    {"user", VIGIL_SET_STRING, "",
        "Started as root, vigild runs as this user once its sockets are "
        "bound, and so do its workers; the state and runtime directories "
        "are given to it. Empty: stay as started (under systemd the unit "
        "names the user). Read at start.",
        NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting worker_tls_settings[] = {
    {"cert", VIGIL_SET_STRING, "",
        "This end's certificate (PEM), any intermediate certificates after "
        "it; needed by tls+tcp:// endpoints.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"key", VIGIL_SET_STRING, "",
        "The private key of cert (PEM); read at start and on reload, so "
        "vigild's user must be able to read it.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"key_password_file", VIGIL_SET_STRING, "",
        "File whose first line is the passphrase of an encrypted key; "
        "empty: the key is not encrypted.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"ca", VIGIL_SET_STRING, "",
        "CA certificates (PEM) that the other end's certificate must be "
        "signed by.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"server_name", VIGIL_SET_STRING, "",
        "Name the certificate of a peer we dial must carry (subject "
        "alternative name or common name); empty: the host of the "
        "endpoint.",
        NULL, 0, 0, 0},
    {"verify", VIGIL_SET_BOOL, "true",
        "Require and verify the other end's certificate against ca, both "
        "ways (mutual TLS). false encrypts without authenticating anyone: "
        "for tests only.",
        NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

const vigil_setting config_workers_settings[] = {
    {"count", VIGIL_SET_INT, "0",
        "Local scoring workers to run: 0 runs one per online CPU; -1 runs "
        "none, leaving the scoring to remote workers.",
        NULL, 0, -1, 1024},
    {"inflight", VIGIL_SET_INT, "2",
        "Requests in flight per worker: one scored while the next waits.", NULL,
        0, 1, 1024},
    {"batch", VIGIL_SET_INT, "512",
        "Posts per request to a worker, at most; a request leaves with what "
        "has arrived, so batches only fill up under load. Larger batches "
        "cost vigild fewer messages a post (512 against 256: 4.8 against "
        "5.4 us of CPU a post in contrib/bench).",
        NULL, 0, 1, 4096},
    {"max_crashes", VIGIL_SET_INT, "3",
        "Worker crashes a post may be involved in before it is "
        "quarantined: recorded with an error verdict, not retried.",
        NULL, 0, 1, 100},
    {"max_message", VIGIL_SET_INT, "16777216",
        "Largest message exchanged with a worker, in bytes.", NULL, 0,
        64 * 1024, 1024 * MiB},
    {"restart_min_ms", VIGIL_SET_INT, "100",
        "Delay before restarting a worker that died; it doubles with each "
        "further crash in a row, up to restart_max_ms.",
        NULL, 0, 1, 3600000},
    {"restart_max_ms", VIGIL_SET_INT, "30000",
        "Longest delay before restarting a worker.", NULL, 0, 1, 3600000},
    {"command", VIGIL_SET_STRING, "",
        "The worker program; empty means the vigil-worker next to vigild, "
        "else the one in " VIGIL_SBINDIR ". A wrapper script must exec "
        "the worker: a worker whose parent is not vigild exits.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"remote", VIGIL_SET_STRINGS, NULL,
        "Endpoints of workers that listen, which vigild dials, e.g. "
        "\"tcp://10.0.0.2:7400\".",
        NULL, 0, 0, 0},
    {"listen", VIGIL_SET_STRINGS, NULL,
        "Endpoints on which vigild listens for remote workers that dial "
        "in, e.g. \"tcp://0.0.0.0:7400\".",
        NULL, 0, 0, 0},
    {"reply_timeout_ms", VIGIL_SET_INT, "10000",
        "How long vigild waits for a remote worker's reply before it "
        "drops that connection and sends the posts to another worker: a "
        "host that vanishes (a cut cable, a power loss) closes nothing.",
        NULL, 0, 100, 3600000},
    {"tls", VIGIL_SET_GROUP, NULL,
        "TLS for tls+tcp:// endpoints, in vigild and in vigil-worker (see "
        "doc/scaling.md).",
        worker_tls_settings, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting thresholds_settings[] = {
    {"notice", VIGIL_SET_FLOAT, "1.0", "Lowest score of a notice.", NULL, 0, 0,
        1e9},
    {"warning", VIGIL_SET_FLOAT, "5.0",
        "Lowest score of a warning; above notice.", NULL, 0, 0, 1e9},
    {"alert", VIGIL_SET_FLOAT, "10.0",
        "Lowest score of an alert; above warning.", NULL, 0, 0, 1e9},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

const vigil_setting config_scoring_settings[] = {
    {"thresholds", VIGIL_SET_GROUP, NULL,
        "Scores from which a finding is a notice, a warning or an alert.",
        thresholds_settings, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

const vigil_setting config_http_settings[] = {
    {"listen", VIGIL_SET_STRING, "127.0.0.1:8470",
        "Address of the HTTP listener that inputs share (\"host:port\" or "
        "\"[v6]:port\"); it opens only when an input registers a route. "
        "Keep it on loopback and put TLS in a reverse proxy.",
        NULL, 0, 0, 0},
    {"max_body", VIGIL_SET_INT, "8388608",
        "Largest request body in bytes; larger ones are answered 413.", NULL, 0,
        1024, 1073741824},
    {"max_connections", VIGIL_SET_INT, "256",
        "Connections served at once; more are closed at accept.", NULL, 0, 1,
        65536},
    {"timeout_s", VIGIL_SET_INT, "30",
        "Seconds a connection may take to send a request or read a reply.",
        NULL, 0, 1, 3600},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

const vigil_setting config_admin_settings[] = {
    {"listen", VIGIL_SET_STRING, "127.0.0.1:9470",
        "Address of the admin listener (\"host:port\" or \"[v6]:port\"), "
        "which serves GET /metrics (Prometheus text) and GET /healthz; "
        "empty turns it off. Read at start: a change takes a restart.",
        NULL, 0, 0, 0},
    {"allow_remote", VIGIL_SET_BOOL, "false",
        "Allow a listen address that is not loopback (127.0.0.0/8, ::1, "
        "localhost). Metrics name the rules and their rates: put access "
        "control in front before turning this on.",
        NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

/* The common settings of instances, one table per kind. */
#define NAME_RULES                                                             \
	"; default: the plugin's name. Letters, digits, '_', '-' and '.'."

const vigil_setting config_input_common[] = {
    {"plugin", VIGIL_SET_STRING, NULL,
        "The input plugin to run, e.g. \"jsonl\".", NULL, VIGIL_SET_REQUIRED, 0,
        0},
    {"name", VIGIL_SET_STRING, NULL,
        "Name of the instance in logs, metrics and state, unique among "
        "the inputs" NAME_RULES,
        NULL, 0, 0, 0},
    {"jurisdictions", VIGIL_SET_STRINGS, NULL,
        "Jurisdictions (ISO 3166 codes, e.g. \"kz\") of the posts of this "
        "input that name none themselves.",
        NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

const vigil_setting config_rule_common[] = {
    {"plugin", VIGIL_SET_STRING, NULL,
        "The rule plugin to run, e.g. \"watchlist\".", NULL, VIGIL_SET_REQUIRED,
        0, 0},
    {"name", VIGIL_SET_STRING, NULL,
        "Name of the instance in logs, metrics and findings, unique among "
        "the rules" NAME_RULES,
        NULL, 0, 0, 0},
    {"jurisdictions", VIGIL_SET_STRINGS, NULL,
        "Jurisdictions (ISO 3166 codes, e.g. \"kz\") this rule instance is "
        "for.",
        NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

const vigil_setting config_sink_common[] = {
    {"plugin", VIGIL_SET_STRING, NULL,
        "The sink plugin to run, e.g. \"stdout\".", NULL, VIGIL_SET_REQUIRED, 0,
        0},
    {"name", VIGIL_SET_STRING, NULL,
        "Name of the instance in logs, metrics and state, unique among "
        "the sinks" NAME_RULES,
        NULL, 0, 0, 0},
    {"min_severity", VIGIL_SET_STRING, "notice",
        "Lowest severity of the alerts handed to this sink: none, notice, "
        "warning or alert.",
        NULL, 0, 0, 0},
    {"backlog", VIGIL_SET_INT, "10000",
        "Undelivered alerts this sink may have before inputs are paused "
        "(backpressure); they resume below half of it.",
        NULL, 0, 1, 10000000},
    {"max_inflight", VIGIL_SET_INT, "32",
        "Alerts handed to the sink and not yet finished, at most.", NULL, 0, 1,
        100000},
    {"retry_min_ms", VIGIL_SET_INT, "200",
        "Delay before the first retry after a temporary failure; it "
        "doubles with each failure in a row, with jitter (half fixed, "
        "half random).",
        NULL, 0, 1, 3600000},
    {"retry_max_ms", VIGIL_SET_INT, "60000",
        "Longest delay between retries; a Retry-After from the receiver "
        "may ask for more.",
        NULL, 0, 1, 86400000},
    {"redact", VIGIL_SET_STRINGS, NULL,
        "Personal data this sink does not get: author_id (id and handle), "
        "author_name, excerpt (the evidence's text). Blanked in the alert "
        "and set to null in its document.",
        NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

const vigil_setting config_outbox_settings[] = {
    {"path", VIGIL_SET_STRING, "",
        "The outbox database (SQLite); empty means state_dir/outbox.db. "
        "Read at start: a change takes a restart.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"synchronous", VIGIL_SET_STRING, "normal",
        "normal: a commit survives the daemon being killed; full: it also "
        "survives power loss, at the cost of an fsync per commit.",
        NULL, 0, 0, 0},
    {"max_size", VIGIL_SET_INT, "0",
        "Largest size of the database in bytes (0: no limit). When it is "
        "reached, commits fail as on a full disk: logged, retried, and "
        "inputs wait.",
        NULL, 0, 0, 1e15},
    {"retention_s", VIGIL_SET_INT, "604800",
        "How long delivered alerts are kept, in seconds (default 7 "
        "days); undelivered and dead ones are kept until delivered or "
        "purged.",
        NULL, 0, 60, 1e10},
    {"dedup_window_s", VIGIL_SET_INT, "86400",
        "The same post and rule raise one alert within this many seconds, "
        "and an alert already recorded is not recorded again (a post read "
        "twice after a crash). 0 turns both off. Bounded by retention_s.",
        NULL, 0, 0, 1e10},
    {"rate_limit", VIGIL_SET_INT, "0",
        "Alerts of one rule sent per rate_interval_s, at most (0: no "
        "limit). Past it, alerts are recorded as held, not sent, and one "
        "summary alert (rule vigil.rate_limit) counts them when the "
        "interval ends.",
        NULL, 0, 0, 1e9},
    {"rate_interval_s", VIGIL_SET_INT, "60",
        "The interval of rate_limit, in seconds.", NULL, 0, 1, 86400},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

/* ------------------------------------------------------------ loading */

typedef struct load_ctx {
	vigil_config *c;
	unsigned      what;
	loader      **ld;
	bool          own_ld; /* made by this load: freed if it fails */
	char         *err;
	size_t        errlen;
	unsigned      n_errors;
} load_ctx;

/* One instance list of the file. */
typedef struct list_kind {
	vigil_plugin_kind    kind;
	const char          *section;
	unsigned             bit; /* CONFIG_* */
	const vigil_setting *common;
} list_kind;

static const list_kind list_kinds[] = {
    {VIGIL_PLUGIN_INPUT, "inputs", CONFIG_INPUTS, config_input_common},
    {VIGIL_PLUGIN_RULE, "rules", CONFIG_RULES, config_rule_common},
    {VIGIL_PLUGIN_SINK, "sinks", CONFIG_SINKS, config_sink_common},
};

static void load_error(load_ctx *lc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
load_error(load_ctx *lc, const char *fmt, ...)
{
	char    line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	settings_error_add(lc->err, lc->errlen, line);
	lc->n_errors++;
}

/* Several lines from settings_bind or a plugin, each an error. */
static void
load_errors(load_ctx *lc, const char *text)
{
	settings_error_add(lc->err, lc->errlen, text);
	lc->n_errors++;
}

static const char *
src_where(const config_setting_t *s, char *buf, size_t len)
{
	const char *file = config_setting_source_file(s);

	strfmt(buf, len, "%s:%u", file ? file : "<string>",
	    (unsigned)config_setting_source_line(s));
	return buf;
}

/* dir made absolute (malloc'd), so that paths resolved against it
 * survive a chdir (vigild runs from /). */
static char *
abs_dir(const char *dir)
{
	char *cwd, *abs;

	if (dir[0] == '/')
		return strdup(dir);
	cwd = getcwd(NULL, 0);
	if (cwd == NULL)
		return NULL;
	abs = strcmp(dir, ".") == 0 ? strdup(cwd) : path_join(cwd, dir);
	free(cwd);
	return abs;
}

static const list_kind *
list_kind_of(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(list_kinds); i++)
		if (strcmp(list_kinds[i].section, name) == 0)
			return &list_kinds[i];
	return NULL;
}

/* Unknown top-level names, and lists that are not lists. The sections
 * that must be groups are checked by settings_bind. */
static void
check_top_level(load_ctx *lc)
{
	static const char *const groups[] = {
	    "daemon", "workers", "scoring", "http", "outbox", "admin"};
	const config_setting_t *root = config_root_setting(&lc->c->lc);
	char                    w[512];

	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *s    = config_setting_get_elem(root, i);
		const char             *name = config_setting_name(s);
		bool                    known = list_kind_of(name) != NULL;

		for (size_t g = 0; g < ARRAY_SIZE(groups) && !known; g++)
			known = strcmp(groups[g], name) == 0;
		if (!known)
			load_error(lc,
			    "%s: setting '%s': unknown section (expected "
			    "daemon, workers, scoring, http, outbox, admin, "
			    "inputs, rules or sinks)",
			    src_where(s, w, sizeof(w)), name);
		else if (list_kind_of(name) && !config_setting_is_list(s))
			load_error(lc,
			    "%s: setting '%s': expected a list of groups, "
			    "like %s = ( { plugin = \"...\"; } )",
			    src_where(s, w, sizeof(w)), name, name);
	}
}

static vigil_cfg *
bind_section(load_ctx *lc, const char *name, const vigil_setting *table)
{
	const config_setting_t *s;
	vigil_cfg              *cfg;
	char                    buf[4096];

	s   = config_setting_get_member(config_root_setting(&lc->c->lc), name);
	cfg = settings_bind(s, &table, 1, lc->c->dir, buf, sizeof(buf));
	if (cfg == NULL)
		load_errors(lc, buf);
	return cfg;
}

static void
decode_daemon(load_ctx *lc)
{
	vigil_config *c     = lc->c;
	const char   *level = cfg_string(c->daemon, "log_level");

	c->state_dir   = cfg_string(c->daemon, "state_dir");
	c->runtime_dir = cfg_string(c->daemon, "runtime_dir");
	if (strcasecmp(level, "err") == 0)
		c->log_level = VIGIL_LOG_ERR;
	else if (log_level_parse(level, &c->log_level) < 0)
		load_error(lc,
		    "%s: setting 'daemon.log_level': unknown level "
		    "'%s' (err, warning, notice, info or debug)",
		    cfg_where(c->daemon, "log_level"), level);
	if (c->state_dir[0] == '\0')
		load_error(lc,
		    "%s: setting 'daemon.state_dir': must not be empty",
		    cfg_where(c->daemon, "state_dir"));
	if (c->runtime_dir[0] == '\0')
		load_error(lc,
		    "%s: setting 'daemon.runtime_dir': must not be empty",
		    cfg_where(c->daemon, "runtime_dir"));
	c->max_post_bytes = (size_t)cfg_int(c->daemon, "max_post_bytes");
	c->backlog        = (size_t)cfg_int(c->daemon, "backlog");
}

static void
decode_outbox(load_ctx *lc)
{
	vigil_config *c    = lc->c;
	const char   *sync = cfg_string(c->outbox, "synchronous");

	if (strcmp(sync, "normal") != 0 && strcmp(sync, "full") != 0)
		load_error(lc,
		    "%s: setting 'outbox.synchronous': unknown value '%s' "
		    "(normal or full)",
		    cfg_where(c->outbox, "synchronous"), sync);
	c->dedup_window_us  = cfg_int(c->outbox, "dedup_window_s") * 1000000;
	c->retention_us     = cfg_int(c->outbox, "retention_s") * 1000000;
	c->rate_limit       = cfg_int(c->outbox, "rate_limit");
	c->rate_interval_us = cfg_int(c->outbox, "rate_interval_s") * 1000000;
}

/* The host of "host:port" or "[v6]:port" into buf; NULL when it has
 * that form, else the reason. */
static const char *
listen_host(const char *listen, char *buf, size_t len)
{
	const char *hend, *colon, *hstart = listen;
	char       *end;
	long        port;

	if (listen[0] == '[') {
		hstart = listen + 1;
		if ((hend = strchr(hstart, ']')) == NULL || hend[1] != ':')
			return "expected [ADDR]:PORT";
		colon = hend + 1;
	} else {
		if ((colon = strrchr(listen, ':')) == NULL)
			return "expected HOST:PORT";
		if (memchr(listen, ':', (size_t)(colon - listen)) != NULL)
			return "write IPv6 addresses in brackets: [ADDR]:PORT";
		hend = colon;
	}
	errno = 0;
	port  = strtol(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 ||
	    port > 65535)
		return "the port must be a number from 0 to 65535";
	if (hend == hstart || (size_t)(hend - hstart) >= len)
		return "no host, or one too long";
	memcpy(buf, hstart, (size_t)(hend - hstart));
	buf[hend - hstart] = '\0';
	return NULL;
}

/* Only addresses of this host: names other than localhost are not
 * resolved here, so they count as remote. */
static bool
host_is_loopback(const char *host)
{
	struct in_addr  a4;
	struct in6_addr a6;

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		    (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

static void
decode_admin(load_ctx *lc)
{
	const vigil_cfg *a      = lc->c->admin;
	const char      *listen = cfg_string(a, "listen");
	const char      *why;
	char             host[256];

	if (listen[0] == '\0')
		return;
	if ((why = listen_host(listen, host, sizeof(host))) != NULL)
		load_error(lc, "%s: setting 'admin.listen': '%s': %s",
		    cfg_where(a, "listen"), listen, why);
	else if (!host_is_loopback(host) && !cfg_bool(a, "allow_remote"))
		load_error(lc,
		    "%s: setting 'admin.listen': '%s' is not a loopback "
		    "address, and metrics name rules and their rates; keep it "
		    "on 127.0.0.1 or ::1, or set admin.allow_remote = true "
		    "behind access control",
		    cfg_where(a, "listen"), listen);
}

static void
check_endpoints(load_ctx *lc, const char *name)
{
	const vigil_cfg *w = lc->c->workers;

	for (size_t i = 0; i < cfg_count(w, name); i++) {
		const char *ep = cfg_string_at(w, name, i);

		if (strstr(ep, "://") == NULL || strstr(ep, "://")[3] == '\0')
			load_error(lc,
			    "%s: setting 'workers.%s': '%s' is not an "
			    "endpoint, like tcp://10.0.0.2:7400",
			    cfg_where(w, name), name, ep);
	}
}

/* The files themselves are read where they are used (wtls_load): by
 * vigild and vigild -t, not by local workers, which may not read the key. */
static void
check_tls(load_ctx *lc)
{
	const vigil_cfg *w       = lc->c->workers;
	const vigil_cfg *tls     = cfg_group(w, "tls");
	const char      *names[] = {"remote", "listen"};
	const char      *ep      = NULL;

	for (size_t k = 0; k < ARRAY_SIZE(names) && ep == NULL; k++)
		for (size_t i = 0; i < cfg_count(w, names[k]); i++)
			if (wtls_url(cfg_string_at(w, names[k], i))) {
				ep = cfg_string_at(w, names[k], i);
				break;
			}
	if (ep == NULL || tls == NULL)
		return;
	if (*cfg_string(tls, "cert") == '\0' || *cfg_string(tls, "key") == '\0')
		load_error(lc,
		    "%s: setting 'workers.tls': endpoint '%s' needs "
		    "workers.tls.cert and workers.tls.key",
		    cfg_where(w, NULL), ep);
	else if (cfg_bool(tls, "verify") && *cfg_string(tls, "ca") == '\0')
		load_error(lc,
		    "%s: setting 'workers.tls.ca': endpoint '%s' verifies "
		    "its peer, so ca must name the CA's PEM file (or set "
		    "verify = false)",
		    cfg_where(tls, "verify"), ep);
}

static void
decode_workers(load_ctx *lc)
{
	vigil_config    *c = lc->c;
	const vigil_cfg *w = c->workers;

	c->n_workers        = (int)cfg_int(w, "count");
	c->inflight         = (int)cfg_int(w, "inflight");
	c->batch            = (int)cfg_int(w, "batch");
	c->max_crashes      = (int)cfg_int(w, "max_crashes");
	c->max_message      = (size_t)cfg_int(w, "max_message");
	c->reply_timeout_ms = (int)cfg_int(w, "reply_timeout_ms");
	check_endpoints(lc, "remote");
	check_endpoints(lc, "listen");
	check_tls(lc);
	if (c->n_workers < 0 && cfg_count(w, "remote") == 0 &&
	    cfg_count(w, "listen") == 0)
		load_error(lc,
		    "%s: setting 'workers.count': -1 runs no local "
		    "worker, so workers.remote or workers.listen must name "
		    "remote ones",
		    cfg_where(w, "count"));
	if (cfg_int(w, "restart_min_ms") > cfg_int(w, "restart_max_ms"))
		load_error(lc,
		    "%s: setting 'workers.restart_min_ms': %lld is "
		    "above restart_max_ms (%lld)",
		    cfg_where(w, "restart_min_ms"),
		    (long long)cfg_int(w, "restart_min_ms"),
		    (long long)cfg_int(w, "restart_max_ms"));
	if (c->daemon != NULL && c->max_message <= c->max_post_bytes)
		load_error(lc,
		    "%s: setting 'workers.max_message': %zu must be "
		    "larger than daemon.max_post_bytes (%zu), or a post would "
		    "not fit in a request",
		    cfg_where(w, "max_message"), c->max_message,
		    c->max_post_bytes);
}

static void
decode_scoring(load_ctx *lc)
{
	vigil_config    *c = lc->c;
	const vigil_cfg *t = cfg_group(c->scoring, "thresholds");

	c->thr.notice  = cfg_float(t, "notice");
	c->thr.warning = cfg_float(t, "warning");
	c->thr.alert   = cfg_float(t, "alert");
	if (!(c->thr.notice < c->thr.warning && c->thr.warning < c->thr.alert))
		load_error(lc,
		    "%s: setting 'scoring.thresholds': notice (%g), "
		    "warning (%g) and alert (%g) must be ascending",
		    cfg_where(t, NULL), c->thr.notice, c->thr.warning,
		    c->thr.alert);
}

/* Instance names appear in file names and log prefixes. */
static bool
instance_name_valid(const char *name)
{
	if (!isalnum((unsigned char)name[0]) || strlen(name) > 64)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_-.", *p))
			return false;
	return true;
}

static bool
jurisdiction_valid(const char *code)
{
	/* ISO 3166-1 alpha-2, as posts name them (post.c). */
	return strlen(code) == 2 && isalpha((unsigned char)code[0]) &&
	    isalpha((unsigned char)code[1]);
}

static void
decode_jurisdictions(load_ctx *lc, instance_conf *in, const char *path)
{
	size_t n = cfg_count(in->cfg, "jurisdictions");

	if (n == 0)
		return;
	in->jurisdictions = calloc(n, sizeof(*in->jurisdictions));
	if (in->jurisdictions == NULL) {
		load_error(lc, "%s: out of memory", cfg_where(in->cfg, NULL));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *code = cfg_string_at(in->cfg, "jurisdictions", i);
		char       *lower;

		if (!jurisdiction_valid(code)) {
			load_error(lc,
			    "%s: setting '%s.jurisdictions': '%s' is not "
			    "a jurisdiction code (ISO 3166-1 alpha-2, like "
			    "\"kz\")",
			    cfg_where(in->cfg, "jurisdictions"), path, code);
			continue;
		}
		if ((lower = strdup(code)) == NULL) {
			load_error(
			    lc, "%s: out of memory", cfg_where(in->cfg, NULL));
			return;
		}
		for (char *p = lower; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		in->jurisdictions[in->n_jurisdictions++] = lower;
	}
}

/* The common settings, decoded into the instance_conf. */
static void
decode_instance(load_ctx *lc, instance_conf *in, const char *path)
{
	const char *plugin = cfg_string(in->cfg, "plugin");
	const char *name   = cfg_string(in->cfg, "name");

	in->plugin = strdup(plugin);
	in->name   = strdup(name ? name : plugin);
	if (in->plugin == NULL || in->name == NULL) {
		load_error(lc, "%s: out of memory", cfg_where(in->cfg, NULL));
		return;
	}
	if (!instance_name_valid(in->name))
		load_error(lc,
		    "%s: setting '%s.name': '%s' is not a valid "
		    "instance name (up to 64 letters, digits, '_', '-' and "
		    "'.', starting with a letter or digit)",
		    cfg_where(in->cfg, "name"), path, in->name);
	if (in->kind == VIGIL_PLUGIN_SINK) {
		const char *sev = cfg_string(in->cfg, "min_severity");

		if (severity_parse(sev, &in->min_severity) < 0)
			load_error(lc,
			    "%s: setting '%s.min_severity': unknown "
			    "severity '%s' (none, notice, warning or alert)",
			    cfg_where(in->cfg, "min_severity"), path, sev);
		for (size_t i = 0; i < cfg_count(in->cfg, "redact"); i++) {
			const char *w = cfg_string_at(in->cfg, "redact", i);
			if (strcmp(w, "author_id") != 0 &&
			    strcmp(w, "author_name") != 0 &&
			    strcmp(w, "excerpt") != 0)
				load_error(lc,
				    "%s: setting '%s.redact': unknown item "
				    "'%s' (author_id, author_name or excerpt)",
				    cfg_where(in->cfg, "redact"), path, w);
		}
	} else {
		decode_jurisdictions(lc, in, path);
	}
}

/* Loads the instance's plugin when this load is for its kind; on
 * failure the instance is still checked against the common table. */
static const vigil_plugin *
instance_plugin(load_ctx *lc, const list_kind *lk, const config_setting_t *elem,
    const char *path, instance_conf *in)
{
	const char         *plugin;
	const vigil_plugin *desc;
	char                buf[2048], w[512];

	if (!(lc->what & lk->bit) || lc->ld == NULL || *lc->ld == NULL ||
	    !config_setting_is_group(elem) ||
	    !config_setting_lookup_string(elem, "plugin", &plugin))
		return NULL;
	if (loader_get(*lc->ld, lk->kind, plugin, &desc, &in->file, buf,
	        sizeof(buf)) < 0) {
		const config_setting_t *ps =
		    config_setting_get_member(elem, "plugin");

		load_error(lc, "%s: setting '%s.plugin': %s",
		    src_where(ps, w, sizeof(w)), path, buf);
		return NULL;
	}
	return desc;
}

static void
load_instance(load_ctx *lc, const list_kind *lk, const config_setting_t *elem,
    size_t idx, instance_conf *in)
{
	const vigil_setting *tables[2] = {lk->common, NULL};
	char                 path[64], buf[4096];

	snprintf(path, sizeof(path), "%s.[%zu]", lk->section, idx);
	in->kind = lk->kind;
	in->desc = instance_plugin(lc, lk, elem, path, in);
	if (in->desc != NULL) {
		tables[1] = in->desc->settings;
		in->cfg   = settings_bind(
		      elem, tables, 2, lc->c->dir, buf, sizeof(buf));
	} else {
		in->cfg = settings_bind_known(
		    elem, tables, 1, lc->c->dir, buf, sizeof(buf));
	}
	if (in->cfg == NULL) {
		load_errors(lc, buf);
		return;
	}
	decode_instance(lc, in, path);
	if (in->desc == NULL || in->desc->validate == NULL ||
	    (lk->kind == VIGIL_PLUGIN_RULE &&
	        (lc->what & CONFIG_RULES_BY_WORKER)))
		return;
	buf[0] = '\0';
	if (in->desc->validate(host_table(), in->cfg, buf, sizeof(buf)) !=
	    VIGIL_OK) {
		if (buf[0] == '\0')
			strfmt(buf, sizeof(buf),
			    "%s: %s plugin '%s' refused the settings of %s",
			    cfg_where(in->cfg, NULL),
			    plugin_kind_name(lk->kind), in->desc->name, path);
		load_errors(lc, buf);
	}
}

static void
check_unique_names(
    load_ctx *lc, const list_kind *lk, instance_conf *v, size_t n)
{
	for (size_t j = 1; j < n; j++) {
		for (size_t i = 0; i < j; i++) {
			if (v[i].name == NULL || v[j].name == NULL ||
			    strcmp(v[i].name, v[j].name) != 0)
				continue;
			load_error(lc,
			    "%s: setting '%s.[%zu].name': duplicate "
			    "instance name '%s' (also at %s); give each one "
			    "its own name",
			    cfg_where(v[j].cfg, "name"), lk->section, j,
			    v[j].name, cfg_where(v[i].cfg, "name"));
			break;
		}
	}
}

static int
load_list(load_ctx *lc, const list_kind *lk, instance_conf **out, size_t *n)
{
	const config_setting_t *list;
	int                     len;

	list = config_setting_get_member(
	    config_root_setting(&lc->c->lc), lk->section);
	if (list == NULL || !config_setting_is_list(list))
		return 0;
	len = config_setting_length(list);
	if (len == 0)
		return 0;
	*out = calloc((size_t)len, sizeof(**out));
	if (*out == NULL)
		return -1;
	*n = (size_t)len;
	for (int i = 0; i < len; i++)
		load_instance(lc, lk, config_setting_get_elem(list, i),
		    (size_t)i, &(*out)[i]);
	check_unique_names(lc, lk, *out, *n);
	return 0;
}

/* Makes the loader from daemon.plugin_path when plugins are wanted and
 * the caller has none yet. */
static void
make_loader(load_ctx *lc)
{
	const vigil_cfg *d = lc->c->daemon;
	const char     **dirs;
	size_t           n;

	if (lc->what == 0 || lc->ld == NULL || *lc->ld != NULL || d == NULL)
		return;
	n    = cfg_count(d, "plugin_path");
	dirs = calloc(n ? n : 1, sizeof(*dirs));
	if (dirs == NULL) {
		load_error(lc, "%s: out of memory", lc->c->path);
		return;
	}
	for (size_t i = 0; i < n; i++)
		dirs[i] = cfg_string_at(d, "plugin_path", i);
	*lc->ld = loader_new(dirs, n);
	free(dirs);
	if (*lc->ld == NULL)
		load_error(
		    lc, "%s: cannot set up the plugin loader", lc->c->path);
	else
		lc->own_ld = true;
}

/* Everything after parsing. */
static int
load_parsed(load_ctx *lc)
{
	vigil_config   *c        = lc->c;
	instance_conf **lists[]  = {&c->inputs, &c->rules, &c->sinks};
	size_t         *counts[] = {&c->n_inputs, &c->n_rules, &c->n_sinks};

	check_top_level(lc);
	c->daemon  = bind_section(lc, "daemon", config_daemon_settings);
	c->workers = bind_section(lc, "workers", config_workers_settings);
	c->scoring = bind_section(lc, "scoring", config_scoring_settings);
	c->http    = bind_section(lc, "http", config_http_settings);
	c->outbox  = bind_section(lc, "outbox", config_outbox_settings);
	c->admin   = bind_section(lc, "admin", config_admin_settings);
	if (c->daemon != NULL)
		decode_daemon(lc);
	if (c->workers != NULL)
		decode_workers(lc);
	if (c->scoring != NULL)
		decode_scoring(lc);
	if (c->outbox != NULL)
		decode_outbox(lc);
	if (c->admin != NULL)
		decode_admin(lc);
	make_loader(lc);
	for (size_t i = 0; i < ARRAY_SIZE(list_kinds); i++) {
		if (load_list(lc, &list_kinds[i], lists[i], counts[i]) < 0)
			load_error(lc, "%s: out of memory", c->path);
	}
	return lc->n_errors > 0 ? -1 : 0;
}

static void
read_error(load_ctx *lc, int saved_errno)
{
	config_t   *l    = &lc->c->lc;
	const char *file = config_error_file(l);

	if (config_error_type(l) == CONFIG_ERR_FILE_IO)
		load_error(lc, "%s: cannot read: %s", lc->c->path,
		    strerror(saved_errno));
	else
		load_error(lc, "%s:%d: %s", file ? file : lc->c->path,
		    config_error_line(l), config_error_text(l));
}

/* A config named path whose relative paths resolve against dir (none
 * when NULL). */
static vigil_config *
config_new(const char *path, const char *dir)
{
	vigil_config *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	config_init(&c->lc);
	c->path = strdup(path);
	c->dir  = dir ? abs_dir(dir) : NULL;
	if (c->path == NULL || (dir && c->dir == NULL)) {
		config_free(c);
		return NULL;
	}
	if (c->dir != NULL)
		config_set_include_dir(&c->lc, c->dir);
	return c;
}

/* Ends a load: hands the config out, or frees it and a loader made for
 * it. */
static int
load_end(load_ctx *lc, int r, vigil_config **out)
{
	if (r == 0) {
		*out = lc->c;
		return 0;
	}
	config_free(lc->c);
	if (lc->own_ld) {
		loader_free(*lc->ld);
		*lc->ld = NULL;
	}
	return -1;
}

static void
load_start(load_ctx *lc, unsigned what, loader **ld, char *err, size_t errlen)
{
	memset(lc, 0, sizeof(*lc));
	lc->what   = what;
	lc->ld     = ld;
	lc->err    = err;
	lc->errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
}

int
config_load(const char *path, unsigned what, loader **ld, vigil_config **out,
    char *err, size_t errlen)
{
	load_ctx lc;
	char    *dir;
	char     why[1024];

	load_start(&lc, what, ld, err, errlen);
	*out = NULL;
	dir  = path_dirname(path);
	lc.c = dir ? config_new(path, dir) : NULL;
	free(dir);
	if (lc.c == NULL) {
		load_error(&lc, "%s: cannot set up: %s", path, strerror(errno));
		return -1;
	}
	if (privs_config_trusted(path, lc.c->dir, why, sizeof(why)) != 0) {
		load_error(&lc, "%s", why);
		return load_end(&lc, -1, out);
	}
	errno = 0;
	if (!config_read_file(&lc.c->lc, path)) {
		read_error(&lc, errno);
		return load_end(&lc, -1, out);
	}
	return load_end(&lc, load_parsed(&lc), out);
}

int
config_load_string(const char *text, const char *dir, unsigned what,
    loader **ld, vigil_config **out, char *err, size_t errlen)
{
	load_ctx lc;

	load_start(&lc, what, ld, err, errlen);
	*out = NULL;
	if ((lc.c = config_new("<string>", dir)) == NULL) {
		load_error(&lc, "<string>: cannot set up: %s", strerror(errno));
		return -1;
	}
	if (!config_read_string(&lc.c->lc, text)) {
		read_error(&lc, 0);
		return load_end(&lc, -1, out);
	}
	return load_end(&lc, load_parsed(&lc), out);
}

static void
instances_free(instance_conf *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].plugin);
		free(v[i].name);
		settings_free(v[i].cfg);
		for (size_t j = 0; j < v[i].n_jurisdictions; j++)
			free(v[i].jurisdictions[j]);
		free(v[i].jurisdictions);
	}
	free(v);
}

void
config_free(vigil_config *c)
{
	if (c == NULL)
		return;
	instances_free(c->inputs, c->n_inputs);
	instances_free(c->rules, c->n_rules);
	instances_free(c->sinks, c->n_sinks);
	settings_free(c->daemon);
	settings_free(c->workers);
	settings_free(c->scoring);
	settings_free(c->http);
	settings_free(c->outbox);
	settings_free(c->admin);
	/* After the cfgs: they point into the parsed tree. */
	config_destroy(&c->lc);
	free(c->path);
	free(c->dir);
	free(c);
}

/* ------------------------------------------------------------ reference */

static void
reference_plugin(void *arg, const vigil_plugin *d, const char *file)
{
	FILE *out = arg;

	fprintf(out,
	    "## %s plugin `%s`\n\n%s\n\nVersion %s. Settings, beside "
	    "the common ones of its kind:\n\n",
	    plugin_kind_name(d->kind), d->name, d->description, d->version);
	settings_reference_body(out, d->name, d->settings);
}

static void
reference_list(FILE *out, const char *section, const char *kind,
    const vigil_setting *common)
{
	fprintf(out,
	    "## %s\n\nA list of %s instances, each a group: these "
	    "settings, plus those of the %s plugin it names (below).\n\n",
	    section, kind, kind);
	settings_reference_body(out, section, common);
}

void
config_reference(FILE *out, loader *ld)
{
	fputs(
	    "# Configuration reference\n\n"
	    "Generated by `vigild --reference` from the settings tables.\n\n"
	    "vigild reads one file in libconfig syntax. Its sections, all "
	    "optional, are the groups `daemon`, `workers`, `scoring`, "
	    "`http`, `outbox` and `admin` and "
	    "the lists `inputs`, `rules` and `sinks`; any other name is an "
	    "error, as is an unknown setting or one of the wrong type. "
	    "Relative paths are resolved against the directory of the file, "
	    "and so are the files named by `@include \"file\"`, which must be "
	    "relative. Integers beyond 2147483647 need an `L` suffix.\n\n",
	    out);
	fputs("## daemon\n\nThe daemon's files, limits and log.\n\n", out);
	settings_reference_body(out, "daemon", config_daemon_settings);
	fputs("## workers\n\nThe scoring workers: local processes, and remote "
	      "ones reached over the network.\n\n",
	    out);
	settings_reference_body(out, "workers", config_workers_settings);
	fputs("## scoring\n\nHow scores become severities.\n\n", out);
	settings_reference_body(out, "scoring", config_scoring_settings);
	fputs("## http\n\nThe HTTP listener that inputs share.\n\n", out);
	settings_reference_body(out, "http", config_http_settings);
	fputs("## outbox\n\nThe durable outbox: every alert and its delivery "
	      "to each sink, in SQLite (doc/delivery.md).\n\n",
	    out);
	settings_reference_body(out, "outbox", config_outbox_settings);
	fputs("## admin\n\nThe admin listener: Prometheus metrics and a health "
	      "check for monitoring (doc/metrics.md).\n\n",
	    out);
	settings_reference_body(out, "admin", config_admin_settings);
	reference_list(out, "inputs", "input", config_input_common);
	reference_list(out, "rules", "rule", config_rule_common);
	reference_list(out, "sinks", "sink", config_sink_common);
	if (ld != NULL)
		loader_each(ld, reference_plugin, out);
}
