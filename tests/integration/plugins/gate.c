/*
 * gate.c - a sink plugin for the tests only: it refuses every alert for
 * good (VIGIL_EFAIL, a dead letter) while the file `open_when` does not
 * exist, and once it does, accepts them and appends their ids to `out`.
 * The tests make dead letters with it, then open the gate and retry.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vigil/plugin.h>

typedef struct gate {
	const vigil_host *host;
	vigil_ctx        *ctx;
	char             *open_when;
	char             *out;
} gate;

static const vigil_setting gate_settings[] = {
    {"open_when", VIGIL_SET_STRING, NULL,
        "Alerts are refused for good until this file exists.", NULL,
        VIGIL_SET_REQUIRED | VIGIL_SET_PATH, 0, 0},
    {"out", VIGIL_SET_STRING, NULL,
        "File to which the ids of accepted alerts are appended.", NULL,
        VIGIL_SET_REQUIRED | VIGIL_SET_PATH, 0, 0},
    {NULL}};

static void
gate_destroy(void *instance)
{
	gate *g = instance;

	if (g == NULL)
		return;
	free(g->open_when);
	free(g->out);
	free(g);
}

static int
gate_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	gate *g = calloc(1, sizeof(*g));

	if (g == NULL)
		goto fail;
	g->host      = host;
	g->ctx       = ctx;
	g->open_when = strdup(host->cfg_string(cfg, "open_when"));
	g->out       = strdup(host->cfg_string(cfg, "out"));
	if (g->open_when == NULL || g->out == NULL)
		goto fail;
	*instance = g;
	return VIGIL_OK;
fail:
	gate_destroy(g);
	return VIGIL_ERR;
}

static int
gate_emit(void *instance, const vigil_alert *alert)
{
	gate *g = instance;
	FILE *f;
	int   rc;

	if (access(g->open_when, F_OK) != 0)
		return VIGIL_EFAIL;
	if ((f = fopen(g->out, "a")) == NULL) {
		g->host->log(
		    g->ctx, VIGIL_LOG_ERR, "%s: %s", g->out, strerror(errno));
		return VIGIL_ERETRY;
	}
	rc = fprintf(f, "%s\n", alert->id ? alert->id : "?") < 0;
	if (fclose(f) != 0 || rc) {
		g->host->log(g->ctx, VIGIL_LOG_ERR, "%s: cannot write", g->out);
		return VIGIL_ERETRY;
	}
	return VIGIL_OK;
}

static const vigil_plugin gate_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name        = "gate",
    .version     = "1.0",
    .kind        = VIGIL_PLUGIN_SINK,
    .description = "Test sink that refuses alerts until a file exists.",
    .settings    = gate_settings,
    .init        = gate_init,
    .destroy     = gate_destroy,
    .emit        = gate_emit,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

const vigil_plugin *
vigil_plugin_entry(void)
{
	return &gate_plugin;
}
