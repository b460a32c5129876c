/*
 * vigil/plugin.h - the plugin ABI of vigil.
 *
 * A plugin is a shared object that exports one function,
 *
 *     const vigil_plugin *vigil_plugin_entry(void);
 *
 * returning a descriptor that lives as long as the object is loaded. The
 * host checks the descriptor's ABI version, validates the plugin's settings
 * against its table, then drives the lifecycle:
 *
 *     validate -> init -> start -> ... -> stop (drain) -> destroy
 *
 * Plugins reach the host only through the vigil_host table passed to
 * validate and init; they link against no daemon code.
 *
 * Versioning: VIGIL_ABI_MAJOR changes when an existing field or callback
 * changes meaning or place; the loader refuses any other major. The minor
 * grows when fields are appended; the loader refuses a plugin built against
 * a newer minor than its own. Every struct starts or ends with what it had
 * in the previous minor, and carries its size so that newer fields are read
 * only when present (VIGIL_HAS()).
 *
 * Threads: input and sink callbacks, acks, timers and HTTP handlers run on
 * the daemon's event loop and must never block. Rule callbacks run in a
 * scoring worker process and may run on several threads at once; keep
 * per-call state on the stack.
 */
#ifndef VIGIL_PLUGIN_H
#define VIGIL_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VIGIL_ABI_MAJOR 1
#define VIGIL_ABI_MINOR 4

/* The name of the one symbol a plugin exports. */
#define VIGIL_PLUGIN_ENTRY "vigil_plugin_entry"

/* True when a struct of the given size holds the named member. */
#define VIGIL_HAS(ptr, member)                                                 \
	((ptr)->struct_size >=                                                 \
	    offsetof(__typeof__(*(ptr)), member) + sizeof((ptr)->member))

#if defined(__GNUC__)
#define VIGIL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define VIGIL_EXPORT       __attribute__((visibility("default")))
#else
#define VIGIL_PRINTF(f, a)
#define VIGIL_EXPORT
#endif

/* Return codes shared by host services and plugin callbacks. */
enum {
	VIGIL_OK      = 0,
	VIGIL_PENDING = 1,  /* sink: delivery goes on; host->alert_done later */
	VIGIL_ERR     = -1, /* failure; a message was logged or returned */
	VIGIL_EAGAIN  = -2, /* full: try again after resume() */
	VIGIL_ERETRY  = -3, /* sink: temporary failure, retry later */
	VIGIL_EFAIL   = -4, /* sink: refused for good (dead letter) */
};

typedef enum vigil_plugin_kind {
	VIGIL_PLUGIN_INPUT = 1,
	VIGIL_PLUGIN_RULE  = 2,
	VIGIL_PLUGIN_SINK  = 3,
} vigil_plugin_kind;

typedef enum vigil_severity {
	VIGIL_SEV_NONE    = 0,
	VIGIL_SEV_NOTICE  = 1,
	VIGIL_SEV_WARNING = 2,
	VIGIL_SEV_ALERT   = 3,
} vigil_severity;

/* Log levels use syslog's numbers. */
enum {
	VIGIL_LOG_ERR     = 3,
	VIGIL_LOG_WARNING = 4,
	VIGIL_LOG_NOTICE  = 5,
	VIGIL_LOG_INFO    = 6,
	VIGIL_LOG_DEBUG   = 7,
};

/* ------------------------------------------------------------------------
 * Settings tables. Each plugin lists its settings; the host validates an
 * instance's configuration against the table (unknown names and wrong types
 * are errors with file:line), fills in defaults and generates the
 * configuration reference from it. A table ends with an entry whose name is
 * NULL.
 */
typedef enum vigil_setting_type {
	VIGIL_SET_BOOL = 1,
	VIGIL_SET_INT,   /* 64-bit integer */
	VIGIL_SET_FLOAT, /* accepts integers too */
	VIGIL_SET_STRING,
	VIGIL_SET_STRINGS, /* array of strings */
	VIGIL_SET_GROUP,   /* nested group; children describe it */
	VIGIL_SET_LIST,    /* list of groups; children describe each one */
} vigil_setting_type;

#define VIGIL_SET_REQUIRED 0x1u /* must be present */
#define VIGIL_SET_PATH     0x2u /* string: a file, relative to the config */
#define VIGIL_SET_SECRET   0x4u /* string: never logged */

typedef struct vigil_setting {
	const char                 *name;
	vigil_setting_type          type;
	const char                 *default_value; /* text form, or NULL */
	const char                 *description;
	const struct vigil_setting *children; /* GROUP and LIST only */
	unsigned                    flags;
	double min, max; /* INT, FLOAT: checked if min<max */
} vigil_setting;

/* A validated configuration group. Owned by the host; valid from init
 * until destroy. */
typedef struct vigil_cfg vigil_cfg;

/* A plugin instance's handle to the host, passed to init. Owned by the
 * host; valid until destroy returns. */
typedef struct vigil_ctx vigil_ctx;

/* ------------------------------------------------------------------------
 * Posts, as the host hands them to rule plugins. All strings are UTF-8,
 * NUL-terminated, and decoded from JSON; an absent field has ptr "" and
 * len 0. Everything is owned by the host and valid during the call.
 */
typedef struct vigil_str {
	const char *ptr;
	size_t      len;
} vigil_str;

typedef enum vigil_author_kind {
	VIGIL_AUTHOR_UNKNOWN = 0,
	VIGIL_AUTHOR_PERSON,
	VIGIL_AUTHOR_ORGANIZATION,
	VIGIL_AUTHOR_MEDIA,
} vigil_author_kind;

/* Fields that rules scan and that evidence points into. */
#define VIGIL_FIELD_TEXT           0u
#define VIGIL_FIELD_POLL_QUESTION  1u
#define VIGIL_FIELD_POLL_OPTION(i) (2u + (unsigned)(i))

typedef struct vigil_post {
	uint32_t          struct_size;
	vigil_str         id;
	vigil_str         platform;
	vigil_str         channel;
	vigil_str         url;
	vigil_str         lang;
	vigil_str         author_id;
	vigil_str         author_handle;
	vigil_str         author_name;
	vigil_author_kind author_kind;
	int64_t           created_at;     /* microseconds since the epoch */
	int32_t           created_offset; /* seconds east of UTC, as written */
	vigil_str         text;
	int               has_poll;
	vigil_str         poll_question;
	const vigil_str  *poll_options;
	size_t            n_poll_options;
	const vigil_str  *jurisdictions; /* as the post or its input named */
	size_t            n_jurisdictions;
	size_t            n_fields; /* 2 + n_poll_options */
} vigil_post;

/* Normalized text of one field: NFKC case folded, format characters
 * removed, whitespace collapsed; letters folded for matching (1.1: Latin
 * diacritics and ё dropped, Kazakh letters to their Russian-keyboard
 * counterparts, look-alikes inside a mixed-script word brought to one
 * script, spaced-out letters joined, repeated letters squeezed); with a
 * map back to the original bytes. Owned by the host, cached per post,
 * valid during the rule call. */
typedef struct vigil_norm vigil_norm;

/* A multi-pattern matcher compiled by the host (Hyperscan). Immutable and
 * safe to scan from several threads at once. */
typedef struct vigil_matcher vigil_matcher;

#define VIGIL_PAT_LITERAL 0x0u /* expr is plain text, normalized by host */
#define VIGIL_PAT_REGEX   0x1u /* expr is a PCRE regex over folded text */
#define VIGIL_PAT_WORD    0x2u /* match must start and end at a word edge */
#define VIGIL_PAT_PREFIX                                                       \
	0x4u /* 1.1: match must start at a word edge (a stem) */

typedef struct vigil_pattern {
	const char *expr;
	unsigned    id;    /* reported on match */
	unsigned    flags; /* VIGIL_PAT_* */
	const char *where; /* "file:line" for errors, or NULL */
} vigil_pattern;

/* Called for each match with offsets into the scanned (normalized) text.
 * Return non-zero to stop the scan. */
typedef int (*vigil_match_fn)(void *arg, unsigned id, size_t start, size_t end);

/* ------------------------------------------------------------------------
 * Findings, built by rules through the host. */
typedef struct vigil_findings vigil_findings;
typedef struct vigil_finding  vigil_finding;

typedef struct vigil_finding_spec {
	uint32_t       struct_size;
	const char    *rule;         /* rule id, e.g. "kz.poll.blackout" */
	const char    *jurisdiction; /* ISO 3166 code, or NULL */
	double         score;
	vigil_severity floor; /* at least this severity */
	vigil_severity cap;   /* at most this (VIGIL_SEV_NONE: no cap) */
	const char    *title; /* one line for people */
	const char    *law;   /* legal basis, or NULL */
	const char    *article;
	const char    *penalty;
	const char    *window;       /* name of the time window, or NULL */
	int64_t        window_start; /* microseconds since the epoch, UTC */
	int64_t        window_end;
} vigil_finding_spec;

/* ------------------------------------------------------------------------
 * Inputs hand posts to the host with vigil_host.submit. */
enum {
	VIGIL_ACK_DONE        = 0, /* the verdict is recorded */
	VIGIL_ACK_INVALID     = 1, /* not a valid post; reason says why */
	VIGIL_ACK_QUARANTINED = 2, /* crashed workers; recorded as an error */
};

/* Called once per accepted submit, on the loop thread. reason is NULL for
 * VIGIL_ACK_DONE and valid only during the call. The host has already
 * logged an invalid or quarantined post (rate-limited) with the submit's
 * source and line. */
typedef void (*vigil_ack_fn)(void *arg, int status, const char *reason);

typedef struct vigil_submit {
	uint32_t    struct_size;
	const char *source; /* e.g. a file name, for error messages */
	uint64_t    line;   /* line number in source, or 0 */
	const char *const
	            *jurisdictions; /* defaults when the post names none */
	size_t       n_jurisdictions;
	vigil_ack_fn ack;
	void        *ack_arg;
	/* 1.3: where the input stands once this post is finished, as
	 * opaque bytes (a file offset, an update id), at most
	 * VIGIL_POSITION_MAX. The host records the position of the newest
	 * post with no unfinished post before it, in the outbox transaction
	 * that records that post's alerts (or in the next one when it has
	 * none), and hands it back with position_get after a restart. NULL:
	 * no position. Copied. */
	const void *pos;
	size_t      pos_len;
} vigil_submit;

#define VIGIL_POSITION_MAX 1024

/* ------------------------------------------------------------------------
 * Alerts, as the host hands them to sinks. One alert per finding at or
 * above the sink's minimum severity. Owned by the host; valid during emit,
 * or until alert_done for VIGIL_PENDING. */
typedef struct vigil_alert {
	uint32_t       struct_size;
	uint64_t       token; /* for alert_done */
	const char    *id;    /* stable: platform, post, rule, content */
	const char    *rule;
	const char    *jurisdiction;
	vigil_severity severity;
	double         score;
	const char    *title;
	const char    *post_id;
	const char    *platform;
	const char    *channel;
	const char    *url;
	const char    *author_id; /* NULL when absent */
	const char    *author_handle;
	const char    *author_name;
	int64_t        created_at; /* microseconds since the epoch, UTC */
	const char    *law;
	const char    *article;
	const char    *penalty;
	const char    *window;
	int64_t        window_start;
	int64_t        window_end;
	const char    *excerpt; /* first piece of evidence, or NULL */
	const char    *json;    /* the whole alert, doc/alerts.md */
	size_t         json_len;
} vigil_alert;

/* ------------------------------------------------------------------------
 * 1.1: what every jurisdiction needs. Built at init, immutable after,
 * safe to read from several threads at once.
 *
 * Calendars: named windows of legal time. Each is given in local wall-clock
 * time for one or more IANA zones and computed once into UTC from the
 * system's tzdata; across several zones it opens at the earliest local
 * start and closes at the latest local end. */
typedef struct vigil_calendar vigil_calendar;

typedef struct vigil_window {
	const char *event; /* e.g. "mazhilis-2021" */
	const char *name;  /* e.g. "blackout" */
	int64_t     start; /* microseconds since the epoch, UTC, inclusive */
	int64_t     end;   /* exclusive */
} vigil_window;

/* Registries: author ids (exact) and handles (without regard to case or
 * a leading '@'), e.g. the pollsters that notified an election body. */
typedef struct vigil_registry vigil_registry;

/* Lexicons: named signals, each a weighted list of terms (whole words or
 * phrases), stems (word starts) and regexes, all normalized like posts and
 * compiled into one matcher that scans every field of a post. */
typedef struct vigil_lexicon vigil_lexicon;

typedef struct vigil_signal_def {
	const char        *name;
	double             weight;
	const char *const *terms;
	size_t             n_terms;
	const char *const *stems;
	size_t             n_stems;
	const char *const *regex;
	size_t             n_regex;
	const char        *where; /* "file:line" for errors, or NULL */
} vigil_signal_def;

/* What one signal found in one post. */
typedef struct vigil_hit {
	uint32_t count;    /* matches */
	uint32_t distinct; /* distinct patterns that matched */
	uint64_t fields; /* bit n: field n matched (options past 62: bit 63) */
	unsigned field;  /* the first match: its field and original bytes */
	size_t   start, end;
} vigil_hit;

/* Settings of one signal, for a plugin's table of signals:
 *   static const vigil_setting signal_settings[] = {
 *       VIGIL_SIGNAL_SETTINGS, {NULL}};
 * and read them with lexicon_from_cfg. */
#define VIGIL_SIGNAL_SETTINGS                                                  \
	{"name", VIGIL_SET_STRING, NULL,                                       \
	    "Name of the signal, as reviewers see it in a verdict.", NULL,     \
	    VIGIL_SET_REQUIRED, 0, 0},                                         \
	    {"weight", VIGIL_SET_FLOAT, "1.0",                                 \
	        "Score the signal adds when it fires (negative to count "      \
	        "against).",                                                   \
	        NULL, 0, -1e6, 1e6},                                           \
	    {"terms", VIGIL_SET_STRINGS, NULL,                                 \
	        "Whole words or phrases, normalized like posts.", NULL, 0, 0,  \
	        0},                                                            \
	    {"stems", VIGIL_SET_STRINGS, NULL,                                 \
	        "Word beginnings: `голосу` finds `голосуйте`.", NULL, 0, 0,    \
	        0},                                                            \
	{                                                                      \
		"regex", VIGIL_SET_STRINGS, NULL,                              \
		    "PCRE regexes over the folded text.", NULL, 0, 0, 0        \
	}

/* HTTP requests on the host's shared listener. */
typedef struct vigil_http_req vigil_http_req;
typedef void (*vigil_http_fn)(vigil_http_req *req, void *arg);

typedef struct vigil_counter   vigil_counter;
typedef struct vigil_histogram vigil_histogram;

/* 1.2: outgoing HTTP requests, run by the host on its loop (libcurl multi).
 * A request is copied at fetch(); its done callback runs once on the loop
 * with the outcome, unless fetch_cancel came first, and never inside
 * fetch() itself. Only http and https URLs; redirects are not followed.
 * The result is valid during the done call only. */
typedef struct vigil_fetch vigil_fetch;

typedef struct vigil_fetch_result {
	uint32_t    struct_size;
	int         status; /* HTTP status; 0: no whole response came */
	const char *error;  /* NULL when a response arrived; else why not */
	const char *body;   /* NUL-terminated, "" for none; cut at max_body */
	size_t      body_len;
	/* From Retry-After, delta-seconds or HTTP-date (one past gives 0);
	 * -1 when absent or unreadable. */
	int64_t retry_after_ms;
} vigil_fetch_result;

typedef void (*vigil_fetch_fn)(void *arg, const vigil_fetch_result *res);

typedef struct vigil_fetch_req {
	uint32_t           struct_size;
	const char        *method; /* "GET", "POST", ...; NULL: GET */
	const char        *url;
	const char *const *headers; /* "Name: value", no line breaks */
	size_t             n_headers;
	const void        *body; /* sent as is; NULL for none */
	size_t             body_len;
	int64_t            timeout_ms; /* whole request; 0: 30 s */
	size_t             max_body;   /* response bytes kept; 0: 1 MiB */
	vigil_fetch_fn     done;
	void              *arg;
} vigil_fetch_req;

struct event_base;

/* ------------------------------------------------------------------------
 * Host services. Functions marked [loop] may be called only on the event
 * loop thread; [any] from any thread; [rule] only inside a rule callback.
 */
typedef struct vigil_host {
	uint32_t abi_major;
	uint32_t abi_minor;
	uint32_t struct_size;

	/* Logging [any]. The instance name is prefixed. log_limited keeps to
	 * a few lines a second per instance and counts what it holds back:
	 * use it for anything an outsider can trigger. */
	void (*log)(vigil_ctx *ctx, int level, const char *fmt, ...)
	    VIGIL_PRINTF(3, 4);
	void (*log_limited)(vigil_ctx *ctx, int level, const char *fmt, ...)
	    VIGIL_PRINTF(3, 4);

	/* Configuration [any]. Values come validated and defaulted. */
	int (*cfg_bool)(const vigil_cfg *cfg, const char *name);
	int64_t (*cfg_int)(const vigil_cfg *cfg, const char *name);
	double (*cfg_float)(const vigil_cfg *cfg, const char *name);
	/* NULL when unset and without default. PATH settings come resolved
	 * against the config file's directory. */
	const char *(*cfg_string)(const vigil_cfg *cfg, const char *name);
	/* Elements of a STRINGS or LIST setting. */
	size_t (*cfg_count)(const vigil_cfg *cfg, const char *name);
	const char *(*cfg_string_at)(
	    const vigil_cfg *cfg, const char *name, size_t i);
	const vigil_cfg *(*cfg_group)(const vigil_cfg *cfg, const char *name);
	const vigil_cfg *(*cfg_list_at)(
	    const vigil_cfg *cfg, const char *name, size_t i);
	/* "file:line" of a setting (or of the group when name is NULL). */
	const char *(*cfg_where)(const vigil_cfg *cfg, const char *name);

	/* The event loop [loop]. Plugins add their own events and timers. */
	struct event_base *(*event_base)(vigil_ctx *ctx);
	/* Clocks [any], microseconds. */
	int64_t (*now_realtime)(void);
	int64_t (*now_monotonic)(void);

	/* Posts [loop]. On VIGIL_OK the host has copied buf and will call
	 * opts->ack exactly once, after the verdict is recorded, or after the
	 * post was found invalid. On VIGIL_EAGAIN the backlog is full: nothing
	 * was taken, and the host calls the input's pause() now and resume()
	 * when there is room. */
	int (*submit)(vigil_ctx *ctx, const char *buf, size_t len,
	    const vigil_submit *opts);
	/* Parses and checks a post without submitting it [any]. Returns
	 * VIGIL_OK, or VIGIL_ERR with a reason in err. */
	int (*post_check)(
	    const char *buf, size_t len, char *err, size_t errlen);

	/* Sinks [loop]: completes an emit that returned VIGIL_PENDING with
	 * VIGIL_OK, VIGIL_ERETRY or VIGIL_EFAIL. */
	void (*alert_done)(vigil_ctx *ctx, uint64_t token, int status);

	/* Small persistent key-value store per instance, in the state
	 * directory [loop]. get returns a malloc'd copy (free it) or NULL. */
	int (*kv_put)(
	    vigil_ctx *ctx, const char *key, const void *val, size_t len);
	void *(*kv_get)(vigil_ctx *ctx, const char *key, size_t *len);
	int (*kv_del)(vigil_ctx *ctx, const char *key);

	/* HTTP routes on the shared listener [loop]. */
	int (*http_route)(
	    vigil_ctx *ctx, const char *path, vigil_http_fn fn, void *arg);
	const char *(*http_method)(vigil_http_req *req);
	const char *(*http_header)(vigil_http_req *req, const char *name);
	const char *(*http_query)(vigil_http_req *req, const char *name);
	const void *(*http_body)(vigil_http_req *req, size_t *len);
	void (*http_reply)(vigil_http_req *req, int status,
	    const char *content_type, const void *body, size_t len);

	/* Metrics [any]. Handles are owned by the host. */
	vigil_counter *(*counter)(
	    vigil_ctx *ctx, const char *name, const char *help);
	void (*counter_add)(vigil_counter *c, uint64_t n);
	vigil_histogram *(*histogram)(vigil_ctx *ctx, const char *name,
	    const char *help, const double *bounds, size_t n_bounds);
	void (*histogram_observe)(vigil_histogram *h, double v);

	/* Text services [any]. */
	/* The normalized form of field VIGIL_FIELD_* of a post [rule]; NULL if
	 * the post has no such field. Cached per post. */
	const vigil_norm *(*post_norm)(const vigil_post *post, unsigned field);
	/* Original field text and field name ("text", "poll.question",
	 * "poll.options[2]") [rule]. */
	vigil_str (*post_field)(const vigil_post *post, unsigned field);
	const char *(*norm_text)(const vigil_norm *n, size_t *len);
	/* Maps normalized [start,end) to original byte offsets. */
	void (*norm_to_orig)(const vigil_norm *n, size_t start, size_t end,
	    size_t *orig_start, size_t *orig_end);
	/* Normalizes arbitrary text; the caller frees with norm_free. */
	vigil_norm *(*normalize)(const char *utf8, size_t len);
	void (*norm_free)(vigil_norm *n);
	/* Compiles patterns; on error returns NULL with a message that names
	 * the pattern's where. */
	vigil_matcher *(*matcher_new)(
	    const vigil_pattern *pats, size_t n, char *err, size_t errlen);
	int (*matcher_scan)(const vigil_matcher *m, const char *text,
	    size_t len, vigil_match_fn fn, void *arg);
	void (*matcher_free)(vigil_matcher *m);

	/* Findings [rule]. Strings are copied. */
	vigil_finding *(*finding_add)(
	    vigil_findings *out, const vigil_finding_spec *spec);
	/* Evidence: original byte offsets in field VIGIL_FIELD_*. */
	int (*finding_evidence)(vigil_finding *f, const vigil_post *post,
	    unsigned field, size_t orig_start, size_t orig_end);
	/* A named signal that contributed to the score, for reviewers. */
	int (*finding_signal)(
	    vigil_finding *f, const char *name, double weight);

	/* 1.1 Calendars [any]. Local times are "YYYY-MM-DD", "YYYY-MM-DD
	 * HH:MM" or with ":SS"; "24:00" ends the day. An unknown zone, a bad
	 * time or an end before the start fails with a reason in err. */
	vigil_calendar *(*calendar_new)(void);
	int (*calendar_add)(vigil_calendar *cal, const char *event,
	    const char *name, const char *const *zones, size_t n_zones,
	    const char *local_start, const char *local_end, char *err,
	    size_t errlen);
	/* The first window added, named name (NULL: any), that holds t. */
	const vigil_window *(*calendar_find)(
	    const vigil_calendar *cal, const char *name, int64_t t);
	size_t (*calendar_count)(const vigil_calendar *cal);
	const vigil_window *(*calendar_window)(
	    const vigil_calendar *cal, size_t i);
	void (*calendar_free)(vigil_calendar *cal);

	/* 1.1 Registries [any]. registry_load adds a file's entries, one a
	 * line, '#' starts a comment; err names file:line. */
	vigil_registry *(*registry_new)(void);
	int (*registry_add)(vigil_registry *r, const char *entry);
	int (*registry_load)(
	    vigil_registry *r, const char *path, char *err, size_t errlen);
	int (*registry_has)(const vigil_registry *r, const vigil_post *post);
	size_t (*registry_size)(const vigil_registry *r);
	void (*registry_free)(vigil_registry *r);

	/* 1.1 Lexicons [any; scan: rule]. lexicon_from_cfg reads a LIST
	 * setting whose groups follow VIGIL_SIGNAL_SETTINGS. */
	vigil_lexicon *(*lexicon_new)(
	    const vigil_signal_def *defs, size_t n, char *err, size_t errlen);
	vigil_lexicon *(*lexicon_from_cfg)(
	    const vigil_cfg *cfg, const char *list, char *err, size_t errlen);
	size_t (*lexicon_size)(const vigil_lexicon *lx);
	/* Index of the named signal, or -1. */
	int (*lexicon_index)(const vigil_lexicon *lx, const char *name);
	const char *(*lexicon_name)(const vigil_lexicon *lx, size_t i);
	double (*lexicon_weight)(const vigil_lexicon *lx, size_t i);
	/* Scans every field of the post; fills hits[lexicon_size]. */
	int (*lexicon_scan)(
	    const vigil_lexicon *lx, const vigil_post *post, vigil_hit *hits);
	void (*lexicon_free)(vigil_lexicon *lx);
	/* Records signal i on a finding when it fired: its name and weight as
	 * a signal and its first match as evidence. Returns the weight, or 0
	 * when the signal did not fire. [rule] */
	double (*finding_hit)(vigil_finding *f, const vigil_post *post,
	    const vigil_lexicon *lx, const vigil_hit *hits, size_t i);

	/* 1.1 Dates [any]: the local date `days` after date ("YYYY-MM-DD",
	 * days may be negative) into out (11 bytes or more), e.g. the day
	 * before a vote. ISO dates compare with strcmp. VIGIL_ERR for a date
	 * that does not exist. */
	int (*date_add_days)(
	    const char *date, int days, char *out, size_t outlen);
	/* 1.1 Registries from settings: the entries of STRINGS setting list
	 * and of the file that PATH setting file names (either may be unset;
	 * NULL names skip it). err gives file:line. */
	vigil_registry *(*registry_from_cfg)(const vigil_cfg *cfg,
	    const char *list, const char *file, char *err, size_t errlen);

	/* 1.2 HTTP client [loop]: starts a request; NULL (logged) when it
	 * cannot be started. The handle is valid until done runs or until
	 * fetch_cancel, after which done is never called. */
	vigil_fetch *(*fetch)(vigil_ctx *ctx, const vigil_fetch_req *req);
	void (*fetch_cancel)(vigil_fetch *f);
	/* 1.2 Sinks [loop]: completes a VIGIL_PENDING emit as VIGIL_ERETRY,
	 * and asks the host to wait at least delay_ms before the next try
	 * (a Retry-After, say). */
	void (*alert_retry_after)(
	    vigil_ctx *ctx, uint64_t token, int64_t delay_ms);

	/* 1.3 Inputs [loop]: the position last recorded for this instance
	 * (see vigil_submit.pos) as a malloc'd copy (free it), or NULL. */
	void *(*position_get)(vigil_ctx *ctx, size_t *len);
	/* 1.3 Inputs [loop]: the input moved to pos without a post (lines it
	 * skipped, say); recorded once every post submitted before it is
	 * finished. */
	int (*position_skip)(vigil_ctx *ctx, const void *pos, size_t len);
	/* 1.3 HTTP [loop]: adds a header to the reply; call before
	 * http_reply. VIGIL_ERR for a name or value with CR, LF or NUL. */
	int (*http_reply_header)(
	    vigil_http_req *req, const char *name, const char *value);
	/* 1.3 HTTP [loop]: keeps req past the handler's return, to be
	 * answered later (once posts are recorded, say) with http_reply,
	 * which the plugin then must call exactly once, at the latest in its
	 * destroy callback. The body and headers stay readable until then. If
	 * the client has gone meanwhile, the reply is dropped. VIGIL_ERR:
	 * cannot hold; answer now. */
	int (*http_hold)(vigil_http_req *req);
	/* 1.3 HTTP [loop]: the shared listener's address as configured
	 * ("127.0.0.1:8470", "[::]:8470"), or NULL when this mode has none;
	 * an input that takes posts checks it for loopback. */
	const char *(*http_listen)(vigil_ctx *ctx);

	/* 1.4 Text [any]: scans a normalized text like matcher_scan over
	 * norm_text, and also holds each literal to the repeated letters it
	 * was written with. The text has runs of a letter squeezed, so
	 * matcher_scan finds "poll" in "pool"; norm_scan finds it in "poll"
	 * and "pooolll" only. Prefer it whenever the text is a vigil_norm. */
	int (*norm_scan)(const vigil_matcher *m, const vigil_norm *n,
	    vigil_match_fn fn, void *arg);
} vigil_host;

/* ------------------------------------------------------------------------
 * The descriptor. */
typedef struct vigil_plugin {
	uint32_t             abi_major;
	uint32_t             abi_minor;
	uint32_t             struct_size;
	const char          *name;
	const char          *version;
	vigil_plugin_kind    kind;
	const char          *description;
	const vigil_setting *settings;

	/* All kinds. validate checks what the table cannot (may be NULL);
	 * err names the problem, with cfg_where's file:line. */
	int (*validate)(const vigil_host *host, const vigil_cfg *cfg, char *err,
	    size_t errlen);
	int (*init)(const vigil_host *host, vigil_ctx *ctx,
	    const vigil_cfg *cfg, void **instance);
	int (*start)(void *instance);
	/* Stop producing (inputs) or flush (sinks). The host then waits for
	 * what is in flight before destroy. */
	void (*stop)(void *instance);
	void (*destroy)(void *instance);

	/* Inputs: backpressure [loop]. */
	void (*pause)(void *instance);
	void (*resume)(void *instance);

	/* Rules: add findings for one post [rule]. Return VIGIL_OK or
	 * VIGIL_ERR (logged; the post gets no findings from this rule). */
	int (*score)(
	    void *instance, const vigil_post *post, vigil_findings *out);

	/* Sinks [loop]: VIGIL_OK delivered, VIGIL_PENDING (alert_done
	 * follows), VIGIL_ERETRY, VIGIL_EFAIL. */
	int (*emit)(void *instance, const vigil_alert *alert);
	/* Reopen files after log rotation (SIGHUP); may be NULL. */
	void (*reopen)(void *instance);
} vigil_plugin;

/* Fills the three header fields of a descriptor. */
#define VIGIL_PLUGIN_HEADER                                                    \
	.abi_major = VIGIL_ABI_MAJOR, .abi_minor = VIGIL_ABI_MINOR,            \
	.struct_size = sizeof(vigil_plugin)

typedef const vigil_plugin *(*vigil_plugin_entry_fn)(void);

static inline const char *
vigil_severity_name(vigil_severity s)
{
	switch (s) {
	case VIGIL_SEV_NOTICE: return "notice";
	case VIGIL_SEV_WARNING: return "warning";
	case VIGIL_SEV_ALERT: return "alert";
	default: return "none";
	}
}

#ifdef __cplusplus
}
#endif
#endif /* VIGIL_PLUGIN_H */
