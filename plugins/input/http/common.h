/*
 * common.h - what the inputs on the shared HTTP listener (http, facebook)
 * have in common: secrets from a setting or a file, constant-time
 * comparison, whether the listener is on loopback, JSON replies.
 */
#ifndef VIGIL_INPUT_HTTP_COMMON_H
#define VIGIL_INPUT_HTTP_COMMON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <vigil/plugin.h>

#define SECRET_MAX 4096 /* bytes of a secret file */

/* vigild exports its http.listen to plugins in this variable. */

struct secret {
	char  *ptr; /* NUL-terminated; freed with secret_clear */
	size_t len;
};

/* "file:line" of a setting, for messages. */
const char *input_where(
    const vigil_host *host, const vigil_cfg *cfg, const char *name);
/* Checks that at most one of the settings name and name_file is set and
 * that neither is empty; err names the setting. required: one must be. */
int secret_validate(const vigil_host *host, const vigil_cfg *cfg,
    const char *name, const char *name_file, bool required, char *err,
    size_t errlen);
/* Loads the secret from setting name or from the file setting name_file
 * (trailing line breaks dropped); s->ptr stays NULL when neither is set.
 * Errors are logged. */
int  secret_load(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
     const char *name, const char *name_file, struct secret *s);
void secret_clear(struct secret *s);
/* Compares in time independent of where they differ (SHA-256 of both,
 * then CRYPTO_memcmp). */
bool secret_equal(const struct secret *s, const char *given, size_t len);
/* Whether listen ("HOST:PORT", "[V6]:PORT") is on a loopback address. */
bool listen_is_loopback(const char *listen);
/* 503 with Retry-After: retry_after (seconds, as text), counted in busy;
 * body is freed here. */
void reply_busy(const vigil_host *host, vigil_http_req *req,
    vigil_counter *busy, const char *retry_after, json_t *body);
/* Answers with a JSON body (freed here) and the given status. */
void reply_json(
    const vigil_host *host, vigil_http_req *req, int status, json_t *body);
/* A JSON string of msg, made ASCII when it is not valid UTF-8. */
json_t *json_text(const char *msg);
/* Answers {"error": msg}. */
void reply_error(
    const vigil_host *host, vigil_http_req *req, int status, const char *msg);

#endif
