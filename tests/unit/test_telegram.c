/*
 * test_telegram.c - the telegram input's mapping of Bot API Updates to
 * posts (plugins/input/telegram/update.c): every field of the post, 64-bit
 * ids, edits, polls, forwards, entities, the kinds that carry no post,
 * malformed updates, and the {"ok", "result"} envelope. Every post made
 * is read back by the daemon's own parser (post_parse).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "post.h"
#include "update.h"

/* Maps a JSON Update; fails the test on bad JSON or no memory. */
static void
map(const char *text, struct tg_update *u)
{
	json_error_t e;
	json_t      *j = json_loads(text, 0, &e);

	if (j == NULL)
		fail_msg("test JSON: %s", e.text);
	assert_int_equal(tg_update_map(j, u), 0);
	json_decref(j);
}

/* The mapped post as JSON, after the daemon's parser accepted it. */
static json_t *
mapped_post(const char *text, struct tg_update *u)
{
	post   *p;
	char    err[256];
	json_t *j;

	map(text, u);
	if (u->kind != TG_POST)
		fail_msg("not a post: %s", u->reason);
	if (post_parse(u->post, u->post_len, &p, err, sizeof(err)) != 0)
		fail_msg("post_parse: %s: %s", err, u->post);
	post_free(p);
	j = json_loads(u->post, 0, NULL);
	assert_non_null(j);
	return j;
}

static const char *
str_at(const json_t *j, const char *path)
{
	char        key[64];
	const char *dot;

	while ((dot = strchr(path, '.')) != NULL) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		j    = json_object_get(j, key);
		path = dot + 1;
	}
	return json_string_value(json_object_get(j, path));
}

static void
test_group_message(void **state)
{
	struct tg_update u;
	json_t          *p;

	(void)state;
	p = mapped_post(
	    "{\"update_id\": 5000000001, \"message\": {"
	    "\"message_id\": 4294967297, \"date\": 1609480800,"
	    "\"chat\": {\"id\": -1001234567890123, \"type\": \"supergroup\","
	    "  \"title\": \"Алматы\", \"username\": \"almaty_talks\"},"
	    "\"from\": {\"id\": 7000000001, \"is_bot\": false,"
	    "  \"first_name\": \"Айгүл\", \"last_name\": \"Сәрсенова\","
	    "  \"username\": \"aigul\"},"
	    "\"text\": \"Сайлау туралы https://example.kz\","
	    "\"entities\": [{\"type\": \"url\", \"offset\": 14, \"length\": "
	    "17},"
	    "  {\"type\": \"text_link\", \"offset\": 0, \"length\": 6,"
	    "   \"url\": \"https://hidden.example/\"},"
	    "  {\"type\": \"text_mention\", \"offset\": 7, \"length\": 6,"
	    "   \"user\": {\"id\": 9000000000, \"first_name\": \"B\"}}]}}",
	    &u);
	assert_true(u.has_id);
	assert_true(u.update_id == 5000000001LL);
	assert_string_equal(u.type, "message");
	assert_string_equal(str_at(p, "id"), "-1001234567890123/4294967297");
	assert_string_equal(str_at(p, "platform"), "telegram");
	assert_string_equal(str_at(p, "channel"), "@almaty_talks");
	assert_string_equal(
	    str_at(p, "url"), "https://t.me/almaty_talks/4294967297");
	assert_string_equal(str_at(p, "created_at"), "2021-01-01T06:00:00Z");
	assert_string_equal(
	    str_at(p, "text"), "Сайлау туралы https://example.kz");
	assert_string_equal(str_at(p, "author.id"), "tg:7000000001");
	assert_string_equal(str_at(p, "author.handle"), "@aigul");
	assert_string_equal(str_at(p, "author.name"), "Айгүл Сәрсенова");
	assert_string_equal(str_at(p, "author.kind"), "person");
	assert_true(
	    json_integer_value(json_object_get(
	        json_object_get(p, "telegram"), "update_id")) == 5000000001LL);
	assert_string_equal(str_at(p, "telegram.chat_type"), "supergroup");
	assert_string_equal(
	    json_string_value(json_array_get(
	        json_object_get(json_object_get(p, "telegram"), "links"), 0)),
	    "https://hidden.example/");
	assert_string_equal(
	    json_string_value(json_array_get(
	        json_object_get(json_object_get(p, "telegram"), "mentions"),
	        0)),
	    "tg:9000000000");
	json_decref(p);
	tg_update_clear(&u);
}

static void
test_channel_poll_forwarded(void **state)
{
	struct tg_update u;
	json_t          *p, *opts;

	(void)state;
	p = mapped_post(
	    "{\"update_id\": 7, \"channel_post\": {\"message_id\": 9,"
	    "\"date\": 1609480801,"
	    "\"chat\": {\"id\": -1009876543210, \"type\": \"channel\","
	    "  \"title\": \"Жаңалықтар\"},"
	    "\"poll\": {\"id\": \"1\", \"question\": \"За кого?\","
	    "  \"options\": [{\"text\": \"Ақ жол\", \"voter_count\": 0},"
	    "               {\"text\": \"Ауыл\", \"voter_count\": 3}]},"
	    "\"forward_origin\": {\"type\": \"channel\", \"chat\": {\"id\": "
	    "  -100555, \"type\": \"channel\", \"username\": \"src\","
	    "  \"title\": \"Source\"}, \"message_id\": 77, \"date\": 1,"
	    "  \"author_signature\": \"Ed\"}}}",
	    &u);
	assert_string_equal(str_at(p, "id"), "-1009876543210/9");
	assert_string_equal(str_at(p, "channel"), "Жаңалықтар");
	assert_null(json_object_get(p, "url"));
	assert_null(json_object_get(p, "text"));
	assert_string_equal(str_at(p, "author.id"), "tg:-1009876543210");
	assert_string_equal(str_at(p, "author.name"), "Жаңалықтар");
	assert_string_equal(str_at(p, "author.kind"), "media");
	assert_string_equal(str_at(p, "poll.question"), "За кого?");
	opts = json_object_get(json_object_get(p, "poll"), "options");
	assert_int_equal(json_array_size(opts), 2);
	assert_string_equal(json_string_value(json_array_get(opts, 1)), "Ауыл");
	assert_string_equal(
	    str_at(p, "telegram.forwarded_from.id"), "tg:-100555");
	assert_string_equal(
	    str_at(p, "telegram.forwarded_from.handle"), "@src");
	assert_string_equal(
	    str_at(p, "telegram.forwarded_from.url"), "https://t.me/src/77");
	assert_string_equal(
	    str_at(p, "telegram.forwarded_from.signature"), "Ed");
	json_decref(p);
	tg_update_clear(&u);
}

/* An edit keeps the post id and takes its time from edit_date; the old
 * forward fields and a caption. */
static void
test_edit_caption_legacy_forward(void **state)
{
	struct tg_update u;
	json_t          *p;

	(void)state;
	p = mapped_post(
	    "{\"update_id\": 8, \"edited_message\": {\"message_id\": 5,"
	    "\"date\": 1609480800, \"edit_date\": 1609484400,"
	    "\"chat\": {\"id\": 100, \"type\": \"private\", \"first_name\": "
	    "\"X\"},"
	    "\"from\": {\"id\": 100, \"first_name\": \"X\"},"
	    "\"caption\": \"фото\","
	    "\"forward_from_chat\": {\"id\": -100777, \"type\": \"channel\","
	    "  \"title\": \"Old\"}, \"forward_from_message_id\": 5}}",
	    &u);
	assert_string_equal(u.type, "edited_message");
	assert_string_equal(str_at(p, "id"), "100/5");
	assert_string_equal(str_at(p, "created_at"), "2021-01-01T07:00:00Z");
	assert_string_equal(str_at(p, "text"), "фото");
	assert_null(json_object_get(p, "channel"));
	assert_null(json_object_get(json_object_get(p, "author"), "handle"));
	assert_string_equal(str_at(p, "author.name"), "X");
	assert_string_equal(str_at(p, "telegram.forwarded_from.name"), "Old");
	assert_string_equal(str_at(p, "telegram.forwarded_from.kind"), "media");
	json_decref(p);
	tg_update_clear(&u);
}

/* A message sent on behalf of a chat has that chat as its author; a
 * hidden forward keeps only the name. */
static void
test_sender_chat_hidden_forward(void **state)
{
	struct tg_update u;
	json_t          *p;

	(void)state;
	p = mapped_post(
	    "{\"update_id\": 9, \"message\": {\"message_id\": 1, \"date\": 0,"
	    "\"chat\": {\"id\": -100, \"type\": \"group\", \"title\": \"G\"},"
	    "\"from\": {\"id\": 1087968824, \"first_name\": \"Group\"},"
	    "\"sender_chat\": {\"id\": -100, \"type\": \"group\", \"title\": "
	    "\"G\"},"
	    "\"text\": \"t\", \"forward_origin\": {\"type\": \"hidden_user\","
	    "  \"sender_user_name\": \"Anon\", \"date\": 0}}}",
	    &u);
	assert_string_equal(str_at(p, "author.id"), "tg:-100");
	assert_string_equal(str_at(p, "author.kind"), "organization");
	assert_string_equal(str_at(p, "created_at"), "1970-01-01T00:00:00Z");
	assert_string_equal(str_at(p, "telegram.forwarded_from.name"), "Anon");
	json_decref(p);
	tg_update_clear(&u);
}

static void
expect_kind(const char *text, enum tg_kind kind, bool has_id, const char *why)
{
	struct tg_update u;

	map(text, &u);
	assert_int_equal(u.kind, kind);
	assert_int_equal(u.has_id, has_id);
	assert_null(u.post);
	if (strstr(u.reason, why) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", u.reason, why);
	tg_update_clear(&u);
}

static void
test_skipped(void **state)
{
	(void)state;
	expect_kind("{\"update_id\": 1, \"callback_query\": {\"id\": \"x\"}}",
	    TG_SKIP, true, "callback_query updates carry no post");
	expect_kind("{\"update_id\": 2, \"message\": {\"message_id\": 3,"
	            "\"date\": 5, \"chat\": {\"id\": 4},"
	            "\"new_chat_members\": []}}",
	    TG_SKIP, true, "has no text, caption or poll");
	expect_kind("{\"update_id\": 3}", TG_SKIP, true, "carry no post");
}

static void
test_bad(void **state)
{
	(void)state;
	expect_kind("[]", TG_BAD, false, "not a JSON object");
	expect_kind("{\"update_id\": 1.5, \"message\": {}}", TG_BAD, false,
	    "update_id");
	expect_kind("{\"update_id\": -1}", TG_BAD, false, "update_id");
	expect_kind("{\"update_id\": 4, \"message\": \"x\"}", TG_BAD, true,
	    "not a JSON object");
	expect_kind(
	    "{\"update_id\": 4, \"message\": {\"message_id\": 1,"
	    "\"date\": 1, \"chat\": {\"id\": \"-100\"}, \"text\": \"t\"}}",
	    TG_BAD, true, "chat.id");
	expect_kind("{\"update_id\": 4, \"message\": {\"message_id\": 1.0,"
	            "\"date\": 1, \"chat\": {\"id\": 1}, \"text\": \"t\"}}",
	    TG_BAD, true, "message_id");
	expect_kind("{\"update_id\": 4, \"message\": {\"message_id\": 1,"
	            "\"chat\": {\"id\": 1}, \"text\": \"t\"}}",
	    TG_BAD, true, "date");
	expect_kind("{\"update_id\": 4, \"message\": {\"message_id\": 1,"
	            "\"date\": 253402300800, \"chat\": {\"id\": 1}, \"text\": "
	            "\"t\"}}",
	    TG_BAD, true, "out of range");
	expect_kind(
	    "{\"update_id\": 4, \"message\": {\"message_id\": 1,"
	    "\"date\": 1, \"chat\": {\"id\": 1}, \"poll\": {\"options\": "
	    "[]}}}",
	    TG_BAD, true, "poll");
	expect_kind(
	    "{\"update_id\": 4, \"message\": {\"message_id\": 1,"
	    "\"date\": 1, \"chat\": {\"id\": 1}, \"poll\": {\"question\": "
	    "\"q\", \"options\": [{\"voter_count\": 1}]}}}",
	    TG_BAD, true, "option 0");
}

static void
test_response(void **state)
{
	struct tg_response r;
	char               err[200];
	const char        *ok  = "{\"ok\":true,\"result\":[{\"update_id\":1}]}";
	const char        *lim = "{\"ok\":false,\"error_code\":429,"
	                         "\"description\":\"Too Many Requests\","
	                         "\"parameters\":{\"retry_after\":7}}";

	(void)state;
	assert_int_equal(
	    tg_response_parse(ok, strlen(ok), &r, err, sizeof(err)), 0);
	assert_true(r.ok);
	assert_int_equal(json_array_size(r.result), 1);
	assert_int_equal(r.retry_after_s, -1);
	tg_response_free(&r);

	assert_int_equal(
	    tg_response_parse(lim, strlen(lim), &r, err, sizeof(err)), 0);
	assert_false(r.ok);
	assert_int_equal(r.error_code, 429);
	assert_int_equal(r.retry_after_s, 7);
	assert_string_equal(r.description, "Too Many Requests");
	tg_response_free(&r);

	/* Truncated, not an answer, a result that is no list. */
	assert_int_equal(tg_response_parse(ok, 20, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid JSON"));
	assert_null(r.root);
	assert_int_equal(tg_response_parse("[1]", 3, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no \"ok\""));
	assert_int_equal(tg_response_parse("{\"ok\":true,\"result\":{}}", 23,
	                     &r, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "not an array"));
	assert_int_equal(tg_response_parse("{\"ok\":true,\"ok\":false}", 22, &r,
	                     err, sizeof(err)),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_group_message),
	    cmocka_unit_test(test_channel_poll_forwarded),
	    cmocka_unit_test(test_edit_caption_legacy_forward),
	    cmocka_unit_test(test_sender_chat_hidden_forward),
	    cmocka_unit_test(test_skipped),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_response),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
