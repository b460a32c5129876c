/*
 * fuzz_http_body.c - libFuzzer harness for body_split, the http input's
 * reader of request bodies. The first byte picks JSON or NDJSON; every
 * item that comes out must lie within the body or be owned, and be
 * freed.
 */
#include <stdint.h>
#include <string.h>

#include "body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct body_items items;
	enum body_kind    kind;
	const char       *buf;
	char              err[256];
	size_t            sum = 0;

	if (size == 0)
		return 0;
	kind = data[0] & 1 ? BODY_NDJSON : BODY_JSON;
	buf  = (const char *)data + 1;
	size--;
	if (body_split(buf, size, kind, 64, &items, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < items.n; i++) {
			const struct body_item *it = &items.v[i];

			if (it->owned == NULL &&
			    (it->ptr < buf || it->ptr + it->len > buf + size))
				__builtin_trap();
			for (size_t k = 0; k < it->len; k++)
				sum += (unsigned char)it->ptr[k];
		}
		/* Reading every byte finds an item that points astray. */
		if (sum == SIZE_MAX)
			__builtin_trap();
	} else if (strlen(err) == 0) {
		__builtin_trap(); /* an error always says why */
	}
	body_items_free(&items);
	return 0;
}
