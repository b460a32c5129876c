/*
 * tgparse.h - a streaming reader of Telegram Desktop's JSON chat export
 * (result.json) that turns each message into a vigil post (doc/posts.md).
 *
 * The file is fed in chunks of any size; yajl parses them and only the
 * message being read is built in memory (a jansson tree, capped at
 * max_message bytes), so memory stays bounded by the largest message plus
 * the messages completed within one chunk. Completed messages wait in a
 * queue, in file order, until the caller takes them.
 */
#ifndef TGPARSE_H
#define TGPARSE_H

#include <stddef.h>
#include <stdint.h>

typedef struct tg_parser tg_parser;

typedef struct tg_opts {
	size_t      max_message; /* bytes of JSON text a message may hold */
	const char *username;    /* public @name of the channel, or NULL */
	const char *lang;        /* passed on as the post's lang, or NULL */
	int         date_offset; /* seconds east of UTC of `date` */
} tg_opts;

enum tg_kind {
	TG_POST,    /* post holds the post's JSON */
	TG_SERVICE, /* a service message: nothing to judge */
	TG_BAD,     /* not usable; reason says why */
};

typedef struct tg_item {
	enum tg_kind    kind;
	uint64_t        index;  /* 1-based position in "messages" */
	int64_t         msg_id; /* -1 when the message has no usable id */
	char           *post;   /* TG_POST: NUL-terminated JSON */
	size_t          post_len;
	char           *reason; /* TG_BAD */
	struct tg_item *next;
} tg_item;

/* NULL when out of memory. */
tg_parser *tg_parser_new(const tg_opts *opts);
void       tg_parser_free(tg_parser *p);

/* Parses the next bytes of the file. Returns 0, or -1 when the file is
 * not a readable export (tg_parser_error says why and where); messages
 * completed before the error stay in the queue. */
int tg_parser_feed(tg_parser *p, const char *buf, size_t len);
/* The end of the file: -1 when it is truncated or was never an export. */
int tg_parser_finish(tg_parser *p);
/* "byte N: reason" of the last failure. */
const char *tg_parser_error(const tg_parser *p);

/* The oldest completed message, or NULL; the caller frees it. */
tg_item *tg_parser_next(tg_parser *p);
void     tg_item_free(tg_item *it);
/* True when completed messages wait in the queue. */
int tg_parser_pending(const tg_parser *p);

/* The chat's id ("id" at the top level), -1 until it has been read. */
int64_t tg_parser_chat_id(const tg_parser *p);
/* Messages seen so far in "messages". */
uint64_t tg_parser_messages(const tg_parser *p);

/* Parses "+hh:mm" / "-hh:mm" / "Z" into seconds east of UTC; -1 when it
 * is not such an offset. */
int tg_parse_offset(const char *s, int *seconds);

#endif
