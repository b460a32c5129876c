/*
 * update.h - Telegram Bot API wire format: the envelope of a method's
 * answer ({"ok": ..., "result": ...}) and the mapping of one Update
 * object to a vigil post (doc/inputs/telegram.md). No host services, so
 * that unit tests and the fuzzer call it directly.
 */
#ifndef TELEGRAM_UPDATE_H
#define TELEGRAM_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum tg_kind {
	TG_POST, /* a post to submit */
	TG_SKIP, /* a valid update that carries nothing to judge */
	TG_BAD,  /* not a readable update */
};

struct tg_update {
	enum tg_kind kind;
	bool         has_id; /* update_id was readable */
	int64_t      update_id;
	const char  *type; /* "message", ..., or the kind skipped */
	char        *post; /* TG_POST: the post JSON, malloc'd */
	size_t       post_len;
	char         reason[160]; /* TG_SKIP, TG_BAD: why */
};

/* Maps one Update. Returns 0, or -1 when memory ran out (u->reason says
 * so); release with tg_update_clear either way. */
int  tg_update_map(const json_t *update, struct tg_update *u);
void tg_update_clear(struct tg_update *u);

/* A method's answer. */
struct tg_response {
	json_t       *root; /* owned */
	bool          ok;
	const json_t *result; /* ok: borrowed from root */
	int64_t       error_code;
	const char   *description;   /* or NULL; borrowed from root */
	int64_t       retry_after_s; /* parameters.retry_after, or -1 */
};

/* Parses buf as an answer whose result, when ok, is an array (as
 * getUpdates gives). Returns 0, or -1 with a one-line reason in err. */
int  tg_response_parse(const char *buf, size_t len, struct tg_response *r,
     char *err, size_t errlen);
void tg_response_free(struct tg_response *r);

#endif
