/*
 * versioned.c - a sink plugin for the tests only, built twice, as version
 * 1 and version 2 (-DVERSIONED_VERSION): it appends "vN POST-ID" for each
 * alert to the file `out`, so that a test can tell which build of the
 * code handled an alert after the file was replaced and vigild reloaded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

#ifndef VERSIONED_VERSION
#error "build with -DVERSIONED_VERSION=N"
#endif
#define STR_(x) #x
#define STR(x)  STR_(x)

typedef struct versioned {
	const vigil_host *host;
	vigil_ctx        *ctx;
	char             *out;
} versioned;

static const vigil_setting versioned_settings[] = {
    {"out", VIGIL_SET_STRING, NULL,
        "File to which each alert's version mark and post id are appended.",
        NULL, VIGIL_SET_REQUIRED | VIGIL_SET_PATH, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0}};

static void
versioned_destroy(void *instance)
{
	versioned *v = instance;

	if (v == NULL)
		return;
	free(v->out);
	free(v);
}

static int
versioned_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	versioned *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return VIGIL_ERR;
	v->host = host;
	v->ctx  = ctx;
	if ((v->out = strdup(host->cfg_string(cfg, "out"))) == NULL) {
		versioned_destroy(v);
		return VIGIL_ERR;
	}
	*instance = v;
	return VIGIL_OK;
}

static int
versioned_emit(void *instance, const vigil_alert *alert)
{
	versioned *v = instance;
	FILE      *f = fopen(v->out, "a");
	int        bad;

	if (f == NULL) {
		v->host->log(
		    v->ctx, VIGIL_LOG_ERR, "%s: %s", v->out, strerror(errno));
		return VIGIL_ERETRY;
	}
	bad = fprintf(f, "v%s %s\n", STR(VERSIONED_VERSION),
	          alert->post_id ? alert->post_id : "?") < 0;
	if (fclose(f) != 0 || bad) {
		v->host->log(v->ctx, VIGIL_LOG_ERR, "%s: cannot write", v->out);
		return VIGIL_ERETRY;
	}
	return VIGIL_OK;
}

static const vigil_plugin versioned_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name        = "versioned",
    .version     = STR(VERSIONED_VERSION) ".0",
    .kind        = VIGIL_PLUGIN_SINK,
    .description = "Test sink that marks each alert with its build's version.",
    .settings    = versioned_settings,
    .init        = versioned_init,
    .destroy     = versioned_destroy,
    .emit        = versioned_emit,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

const vigil_plugin *
vigil_plugin_entry(void)
{
	return &versioned_plugin;
}
