/*
 * fuzz_redis.c - libFuzzer harness for the redis-streams input's reading
 * of replies: any bytes a server (or whatever answers on its port) sends
 * go through hiredis's reader, and each reply it makes is walked as an
 * XREADGROUP and as an XAUTOCLAIM answer. A reply of the wrong shape must
 * be refused with a reason; every entry handed out must be readable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

static int
on_stream(void *arg, const char *name, size_t len, size_t n)
{
	(void)arg;
	sink += len + n + (len ? (unsigned char)name[len - 1] : 0);
	return 0;
}

static int
on_entry(void *arg, const rs_item *it)
{
	(void)arg;
	/* A post always comes with its value; every id parsed. */
	if ((it->kind == RS_ITEM_POST && it->value == NULL) ||
	    it->id_len >= RS_ID_MAX)
		abort();
	for (size_t i = 0; i < it->id_len; i++)
		sink += (unsigned char)it->id_text[i];
	for (size_t i = 0; it->value != NULL && i < it->value_len; i++)
		sink += (unsigned char)it->value[i];
	return 0;
}

/* hiredis 0.14 (Debian 12) allocates an array of the count a multi-bulk
 * header declares before any element arrives, and has no limit on it
 * (1.0 added maxelements): "*300000000" asks for gigabytes. That is the
 * library's reading of a trusted server, documented in
 * doc/inputs/redis-streams.md; the harness skips such inputs to test
 * what vigil adds. */
#define MAX_DECLARED 65536

static int
declares_too_many(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		unsigned long n = 0;
		size_t        k = i + 1;

		if (data[i] != '*')
			continue;
		while (k < size && data[k] >= '0' && data[k] <= '9' &&
		    n <= MAX_DECLARED)
			n = n * 10 + (unsigned long)(data[k++] - '0');
		if (n > MAX_DECLARED)
			return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const rs_visitor v = {NULL, on_stream, on_entry};
	redisReader     *rd;
	void            *reply;
	char             err[256], next[RS_ID_MAX];

	if (declares_too_many(data, size) || (rd = redisReaderCreate()) == NULL)
		return 0;
	if (redisReaderFeed(rd, (const char *)data, size) != REDIS_OK)
		goto out;
	while (redisReaderGetReply(rd, &reply) == REDIS_OK && reply != NULL) {
		rs_walk_read(reply, "post", &v, err, sizeof(err));
		rs_walk_claim(reply, "post", "s", &v, next, sizeof(next), err,
		    sizeof(err));
		freeReplyObject(reply);
	}
out:
	redisReaderFree(rd);
	return 0;
}
