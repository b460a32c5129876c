/*
 * fuzz_telegram.c - libFuzzer harness for the telegram input's reader of
 * Bot API answers (update.c). The input is read as a getUpdates answer,
 * and as one Update as a webhook receives it; every update is mapped, and
 * every post the mapping makes must pass post_parse: a post the workers
 * refuse would be a message lost.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "post.h"
#include "update.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
map_one(const json_t *update)
{
	struct tg_update u;
	post            *p;
	char             err[256];

	if (tg_update_map(update, &u) == 0 && u.kind == TG_POST) {
		if (post_parse(u.post, u.post_len, &p, err, sizeof(err)) != 0) {
			fprintf(stderr, "mapped post refused: %s\n%s\n", err,
			    u.post);
			abort();
		}
		post_free(p);
	}
	tg_update_clear(&u);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tg_response r;
	json_t            *one;
	const json_t      *u;
	char               err[256];
	size_t             i;

	if (tg_response_parse((const char *)data, size, &r, err, sizeof(err)) ==
	    0) {
		if (r.ok)
			json_array_foreach(r.result, i, u) map_one(u);
		tg_response_free(&r);
	}
	one = json_loadb((const char *)data, size, 0, NULL);
	if (one != NULL) {
		map_one(one);
		json_decref(one);
	}
	return 0;
}
