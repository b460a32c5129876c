/*
 * fuzz_tgexport.c - libFuzzer harness for the telegram-export input's
 * reader (tgparse.c), the first reader of an export file. Any input must
 * end as posts, bad messages or a file error, never a crash or a leak;
 * it is fed in pieces whose size the first byte chooses, since a token
 * cut by a chunk boundary is where a streaming reader goes wrong, and
 * every post it makes must be a JSON object.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tgparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tg_opts    o = {.max_message = 4096, .date_offset = 3600};
	tg_parser *p;
	tg_item   *it;
	size_t     step, off = 1;
	int        rc = 0;

	if (size < 1)
		return 0;
	step = 1 + data[0] % 64;
	if (data[0] & 0x80)
		o.username = "chan";
	if ((p = tg_parser_new(&o)) == NULL)
		abort();
	while (off < size && rc == 0) {
		size_t n = size - off < step ? size - off : step;

		rc = tg_parser_feed(p, (const char *)data + off, n);
		off += n;
	}
	if (rc == 0)
		rc = tg_parser_finish(p);
	if (rc != 0 && strncmp(tg_parser_error(p), "byte ", 5) != 0)
		abort();
	while ((it = tg_parser_next(p)) != NULL) {
		if (it->kind == TG_POST) {
			json_t *v = json_loadb(it->post, it->post_len, 0, NULL);

			if (!json_is_object(v) ||
			    !json_is_string(json_object_get(v, "id")))
				abort();
			json_decref(v);
		} else if (it->kind == TG_BAD && it->reason == NULL) {
			abort();
		}
		tg_item_free(it);
	}
	tg_parser_free(p);
	return 0;
}
