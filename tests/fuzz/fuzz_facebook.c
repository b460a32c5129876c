/*
 * fuzz_facebook.c - libFuzzer harness for feed_parse, the facebook
 * input's reader of webhook deliveries. Every post it makes must be JSON
 * that jansson reads back as an object with an id and a created_at.
 */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct feed f;
	char        err[256];

	if (feed_parse((const char *)data, size, &f, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < f.n_posts; i++) {
			json_t *p = json_loadb(
			    f.posts[i].json, f.posts[i].len, 0, NULL);

			if (!json_is_object(p) ||
			    !json_is_string(json_object_get(p, "id")) ||
			    !json_is_string(json_object_get(p, "created_at")))
				__builtin_trap();
			json_decref(p);
		}
		if (f.n_posts + f.removed + f.skipped + f.bad != f.changes)
			__builtin_trap();
	} else if (strlen(err) == 0) {
		__builtin_trap();
	}
	feed_free(&f);
	return 0;
}
