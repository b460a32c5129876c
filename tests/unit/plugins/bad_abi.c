/*
 * bad_abi.c - a sink plugin for the loader's tests, valid in every way but
 * its ABI version. Built twice: with -DBAD_MAJOR it claims the next major
 * (which the loader must refuse), with -DNEW_MINOR the next minor of this
 * major (which the loader must refuse too: it may use fields this host
 * does not have).
 */
#include <stdlib.h>

#include <vigil/plugin.h>

#if defined(BAD_MAJOR)
#define TEST_NAME      "bad_major"
#define TEST_ABI_MAJOR (VIGIL_ABI_MAJOR + 1)
#define TEST_ABI_MINOR 0
#elif defined(NEW_MINOR)
#define TEST_NAME      "new_minor"
#define TEST_ABI_MAJOR VIGIL_ABI_MAJOR
#define TEST_ABI_MINOR (VIGIL_ABI_MINOR + 1)
#else
#error "build with -DBAD_MAJOR or -DNEW_MINOR"
#endif

typedef struct counter_sink {
	uint64_t emitted;
} counter_sink;

static const vigil_setting test_settings[] = {
    {"label", VIGIL_SET_STRING, "test", "A label, unused.", NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static int
test_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	counter_sink *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return VIGIL_ERR;
	*instance = s;
	return VIGIL_OK;
}

static int
test_emit(void *instance, const vigil_alert *alert)
{
	counter_sink *s = instance;

	s->emitted++;
	return VIGIL_OK;
}

static void
test_destroy(void *instance)
{
	free(instance);
}

static const vigil_plugin test_plugin = {
    .abi_major   = TEST_ABI_MAJOR,
    .abi_minor   = TEST_ABI_MINOR,
    .struct_size = sizeof(vigil_plugin),
    .name        = TEST_NAME,
    .version     = "1.0.0",
    .kind        = VIGIL_PLUGIN_SINK,
    .description = "Counts alerts; built for another ABI to test the "
                   "loader.",
    .settings    = test_settings,
    .init        = test_init,
    .emit        = test_emit,
    .destroy     = test_destroy,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &test_plugin;
}
