/*
 * crashy.c - a rule plugin for the tests only: it aborts the worker
 * process when a post's text contains "CRASH-ME", so that the tests can
 * show a poison post quarantined while every other post is scored.
 * validate_delay_ms makes its settings take that long to check, so that
 * the tests can show a reload's check never holds up the daemon.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vigil/plugin.h>

static int
crashy_validate(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	int64_t         ms = host->cfg_int(cfg, "validate_delay_ms");
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	(void)err;
	(void)errlen;
	while (ms > 0 && nanosleep(&ts, &ts) != 0)
		;
	return VIGIL_OK;
}

static int
crashy_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	(void)ctx;
	(void)cfg;
	*instance = (void *)host;
	return VIGIL_OK;
}

static void
crashy_destroy(void *instance)
{
	(void)instance;
}

static int
crashy_score(void *instance, const vigil_post *post, vigil_findings *out)
{
	(void)instance;
	(void)out;
	if (post->text.len > 0 && strstr(post->text.ptr, "CRASH-ME") != NULL)
		abort();
	return VIGIL_OK;
}

static const vigil_setting crashy_settings[] = {
    {"validate_delay_ms", VIGIL_SET_INT, "0",
        "Time the settings take to check, for the tests.", NULL, 0, 0, 60000},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_plugin crashy = {
    VIGIL_PLUGIN_HEADER,
    .name        = "crashy",
    .version     = "1.0",
    .kind        = VIGIL_PLUGIN_RULE,
    .description = "Test rule that crashes its worker on CRASH-ME.",
    .settings    = crashy_settings,
    .validate    = crashy_validate,
    .init        = crashy_init,
    .destroy     = crashy_destroy,
    .score       = crashy_score,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

const vigil_plugin *
vigil_plugin_entry(void)
{
	return &crashy;
}
