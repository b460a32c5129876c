/*
 * reply.h - what the redis-streams input reads out of Redis replies:
 * stream entry ids, the entries of XREADGROUP and XAUTOCLAIM replies, and
 * the password file. Nothing here talks to Redis, so it is tested alone
 * (tests/unit/test_redis_reply.c).
 */
#ifndef VIGIL_REDIS_REPLY_H
#define VIGIL_REDIS_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

/* "<ms>-<seq>", each at most 20 digits, and a NUL. */
#define RS_ID_MAX 42

typedef struct rs_id {
	uint64_t ms, seq;
} rs_id;

/* Parses a full stream id "<ms>-<seq>"; -1 when it is not one. */
int rs_id_parse(const char *s, size_t len, rs_id *id);
int rs_id_cmp(const rs_id *a, const rs_id *b);
/* True for what XGROUP CREATE takes as a start: "$", "0" or an id. */
bool rs_start_id_valid(const char *s);

typedef enum rs_item_kind {
	RS_ITEM_POST,     /* value holds the post */
	RS_ITEM_NO_FIELD, /* the entry lacks the field, or it is no string */
	RS_ITEM_DELETED,  /* pending, but gone from the stream (trimmed) */
} rs_item_kind;

/* One entry of a reply; pointers into the reply. */
typedef struct rs_item {
	rs_item_kind kind;
	rs_id        id;
	const char  *id_text;
	size_t       id_len;
	const char  *value;
	size_t       value_len;
} rs_item;

/* Called for each stream of a reply, then for each of its n entries. A
 * non-zero return stops the walk, which then returns it. */
typedef struct rs_visitor {
	void *arg;
	int (*stream)(void *arg, const char *name, size_t len, size_t n);
	int (*entry)(void *arg, const rs_item *it);
} rs_visitor;

/* XREADGROUP: nil (BLOCK timed out) or [[stream, [entry...]]...]. Returns
 * 0, a visitor's non-zero return, or -1 with the reason in err when the
 * reply has another shape. */
int rs_walk_read(const redisReply *r, const char *field, const rs_visitor *v,
    char *err, size_t errlen);

/* XAUTOCLAIM: [next-cursor, [entry...]] (6.2) or with a third element
 * of deleted ids (7.0). The entries are reported as one stream named
 * stream; next receives the cursor. */
int rs_walk_claim(const redisReply *r, const char *field, const char *stream,
    const rs_visitor *v, char *next, size_t nextlen, char *err, size_t errlen);

/* Reads a password file: its first line, without the line end. Returns
 * a malloc'd string or NULL with the reason in err. */
char *rs_read_secret(const char *path, char *err, size_t errlen);

#endif
