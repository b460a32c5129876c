/*
 * fuzz_config.c - libFuzzer harness for the configuration: arbitrary
 * bytes as the text of a config file, through libconfig's parser and
 * then every check of config.c and settings.c (no plugins). Whatever the
 * input, the result is a config or a list of errors: never a crash, a
 * leak or an overflow.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "settings.h"

int         LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* libconfig 1.5 leaks a string token when a syntax error follows it
 * (`"x"` alone at the top level): its parser frees no token on error
 * recovery. Nothing of ours can free it; we hide only the scanner's
 * string allocations (a forgotten config_destroy still shows by the
 * settings it leaks). */
const char *
__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\n"
	       "leak:libconfig_yylex\n";
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vigil_config *c = NULL;
	char         *text;
	char          err[4096];

	/* @include would read whatever file the input names (/dev/zero
	 * included): that tests the machine, not the parser. */
	if (memmem(data, size, "@include", 8) != NULL)
		return 0;
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (config_load_string(
	        text, "/nonexistent", 0, NULL, &c, err, sizeof(err)) == 0) {
		/* A config that loads has every decoded field in range. */
		if (c->batch < 1 || c->inflight < 1 ||
		    !(c->thr.notice < c->thr.warning) || c->state_dir == NULL ||
		    c->max_post_bytes == 0)
			abort();
		config_free(c);
	} else if (c != NULL || err[0] == '\0') {
		/* A refusal always says why. */
		abort();
	}
	free(text);
	return 0;
}
