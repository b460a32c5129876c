/*
 * host.h - the host services table (vigil_host) and the per-instance
 * context (vigil_ctx) that plugins hold. The table is the same in every
 * process; services that only the daemon's loop has (submit, kv, HTTP
 * routes and client, alert completion) are filled in by vigild with
 * host_set_loop_ops, and in a worker they fail with a logged reason.
 */
#ifndef VIGIL_HOST_H
#define VIGIL_HOST_H

#include <vigil/plugin.h>

#include "log.h"

struct event_base;

struct vigil_ctx {
	vigil_plugin_kind   kind;
	const char         *name;       /* instance name */
	char                prefix[96]; /* "input jsonl/sample" */
	const vigil_plugin *desc;
	void               *instance;
	void               *owner; /* the daemon's object for it */
	struct event_base  *base;
	log_limit           limit;
	const char         *state_dir; /* for the kv store, or NULL */
	struct kv_store    *kv;        /* opened on first use */
};

typedef struct host_loop_ops {
	int (*submit)(vigil_ctx *ctx, const char *buf, size_t len,
	    const vigil_submit *opts);
	void (*alert_done)(vigil_ctx *ctx, uint64_t token, int status);
	int (*kv_put)(
	    vigil_ctx *ctx, const char *key, const void *val, size_t len);
	void *(*kv_get)(vigil_ctx *ctx, const char *key, size_t *len);
	int (*kv_del)(vigil_ctx *ctx, const char *key);
	int (*http_route)(
	    vigil_ctx *ctx, const char *path, vigil_http_fn fn, void *arg);
	const char *(*http_method)(vigil_http_req *req);
	const char *(*http_header)(vigil_http_req *req, const char *name);
	const char *(*http_query)(vigil_http_req *req, const char *name);
	const void *(*http_body)(vigil_http_req *req, size_t *len);
	void (*http_reply)(vigil_http_req *req, int status,
	    const char *content_type, const void *body, size_t len);
	/* 1.2 */
	vigil_fetch *(*fetch)(vigil_ctx *ctx, const vigil_fetch_req *req);
	void (*fetch_cancel)(vigil_fetch *f);
	/* NULL: completes as VIGIL_ERETRY through alert_done. */
	void (*alert_retry_after)(
	    vigil_ctx *ctx, uint64_t token, int64_t delay_ms);
	/* 1.3 */
	void *(*position_get)(vigil_ctx *ctx, size_t *len);
	int (*position_skip)(vigil_ctx *ctx, const void *pos, size_t len);
	int (*http_reply_header)(
	    vigil_http_req *req, const char *name, const char *value);
	int (*http_hold)(vigil_http_req *req);
	const char *(*http_listen)(vigil_ctx *ctx);
} host_loop_ops;

const vigil_host *host_table(void);
/* Called once by vigild before any plugin starts. */
void host_set_loop_ops(const host_loop_ops *ops);

void host_ctx_init(vigil_ctx *ctx, vigil_plugin_kind kind, const char *name,
    const vigil_plugin *desc, struct event_base *base, void *owner);

/* The log services of the table, for the daemon's own messages about an
 * instance. */
void host_log(vigil_ctx *ctx, int level, const char *fmt, ...)
    VIGIL_PRINTF(3, 4);
void host_log_limited(vigil_ctx *ctx, int level, const char *fmt, ...)
    VIGIL_PRINTF(3, 4);

#endif
