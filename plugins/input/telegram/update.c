/*
 * update.c - turns Telegram Bot API Updates into vigil posts, and reads
 * the {"ok", "result"} envelope of the API's answers.
 *
 * Ids are 64-bit integers (chat ids of channels are below -10^12): they
 * are read with json_integer_value and printed with PRId64, never through
 * a double; a real number where an id belongs makes the update bad.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "update.h"

/* The update kinds that carry a message, in the order they are looked
 * for; the edited ones take their time from edit_date. */
static const struct {
	const char *key;
	bool        edited;
	bool        channel;
} message_kinds[] = {
    {"message", false, false},
    {"edited_message", true, false},
    {"channel_post", false, true},
    {"edited_channel_post", true, true},
};

#define MAX_DATE 253402300799LL /* 9999-12-31T23:59:59Z */

static void
set_reason(struct tg_update *u, enum tg_kind kind, const char *fmt, ...)
{
	va_list ap;

	u->kind = kind;
	va_start(ap, fmt);
	vsnprintf(u->reason, sizeof(u->reason), fmt, ap);
	va_end(ap);
}

/* An integer member; false when absent or not an integer. */
static bool
get_int(const json_t *obj, const char *key, int64_t *v)
{
	const json_t *j = json_object_get(obj, key);

	if (!json_is_integer(j))
		return false;
	*v = (int64_t)json_integer_value(j);
	return true;
}

/* A non-empty string member, or NULL. */
static const char *
get_str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL && s[0] != '\0' ? s : NULL;
}

static bool
set_string(json_t *obj, const char *key, const char *val)
{
	return json_object_set_new(obj, key, json_string(val)) == 0;
}

static bool set_printf(json_t *obj, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
set_printf(json_t *obj, const char *key, const char *fmt, ...)
{
	char    buf[96];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return set_string(obj, key, buf);
}

/* A person's name from first_name and last_name; or a chat's title. */
static bool
set_name(json_t *obj, const json_t *who)
{
	const char *first = get_str(who, "first_name");
	const char *last  = get_str(who, "last_name");
	const char *title = get_str(who, "title");
	char       *both;
	bool        ok;

	if (first != NULL && last != NULL) {
		if ((both = malloc(strlen(first) + strlen(last) + 2)) == NULL)
			return false;
		sprintf(both, "%s %s", first, last);
		ok = set_string(obj, "name", both);
		free(both);
		return ok;
	}
	if (first != NULL || last != NULL || title != NULL)
		return set_string(obj, "name",
		    first != NULL      ? first
		        : last != NULL ? last
		                       : title);
	return true;
}

/* {id, handle, name, kind} of a User (is_chat false) or a Chat. */
static json_t *
make_author(const json_t *who, bool is_chat)
{
	json_t     *a = json_object();
	const char *username, *type, *kind;
	int64_t     id;

	if (a == NULL)
		return NULL;
	if (get_int(who, "id", &id) && !set_printf(a, "id", "tg:%" PRId64, id))
		goto fail;
	username = get_str(who, "username");
	if (username != NULL && !set_printf(a, "handle", "@%.80s", username))
		goto fail;
	if (!set_name(a, who))
		goto fail;
	type = get_str(who, "type");
	if (!is_chat)
		kind = "person";
	else if (type != NULL && strcmp(type, "channel") == 0)
		kind = "media";
	else if (type != NULL && strcmp(type, "private") == 0)
		kind = "person";
	else
		kind = "organization";
	if (!set_string(a, "kind", kind))
		goto fail;
	return a;
fail:
	json_decref(a);
	return NULL;
}

static bool
set_time(json_t *obj, const char *key, int64_t secs)
{
	time_t    t = (time_t)secs;
	struct tm tm;
	char      buf[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return false;
	return set_string(obj, key, buf);
}

/* The chat a forward comes from, as an author with its message. */
static json_t *
forward_from_chat(const json_t *chat, const json_t *msg_id, const char *sig)
{
	json_t     *f = make_author(chat, true);
	const char *user;

	if (f == NULL)
		return NULL;
	if (json_is_integer(msg_id)) {
		if (json_object_set(f, "message_id", (json_t *)msg_id) != 0)
			goto fail;
		user = get_str(chat, "username");
		if (user != NULL &&
		    !set_printf(f, "url", "https://t.me/%.64s/%" PRId64, user,
		        (int64_t)json_integer_value(msg_id)))
			goto fail;
	}
	if (sig != NULL && !set_string(f, "signature", sig))
		goto fail;
	return f;
fail:
	json_decref(f);
	return NULL;
}

static json_t *
forward_hidden(const char *name)
{
	json_t *f = json_object();

	if (f == NULL || !set_string(f, "name", name) ||
	    !set_string(f, "kind", "person")) {
		json_decref(f);
		return NULL;
	}
	return f;
}

/* Where a forwarded message comes from: forward_origin (Bot API 7.0), or
 * the older forward_from* fields. NULL with *none set when not forwarded. */
static json_t *
forward_of(const json_t *msg, bool *none)
{
	const json_t *o = json_object_get(msg, "forward_origin");
	const char   *type, *sig;
	const json_t *x;

	*none = false;
	if (json_is_object(o)) {
		type = get_str(o, "type");
		sig  = get_str(o, "author_signature");
		type = type != NULL ? type : "";
		if (strcmp(type, "user") == 0 &&
		    json_is_object(x = json_object_get(o, "sender_user")))
			return make_author(x, false);
		if (strcmp(type, "hidden_user") == 0 &&
		    get_str(o, "sender_user_name") != NULL)
			return forward_hidden(get_str(o, "sender_user_name"));
		if (strcmp(type, "chat") == 0 &&
		    json_is_object(x = json_object_get(o, "sender_chat")))
			return forward_from_chat(x, NULL, sig);
		if (strcmp(type, "channel") == 0 &&
		    json_is_object(x = json_object_get(o, "chat")))
			return forward_from_chat(
			    x, json_object_get(o, "message_id"), sig);
	}
	if (json_is_object(x = json_object_get(msg, "forward_from_chat")))
		return forward_from_chat(x,
		    json_object_get(msg, "forward_from_message_id"),
		    get_str(msg, "forward_signature"));
	if (json_is_object(x = json_object_get(msg, "forward_from")))
		return make_author(x, false);
	if (get_str(msg, "forward_sender_name") != NULL)
		return forward_hidden(get_str(msg, "forward_sender_name"));
	*none = true;
	return NULL;
}

/* Entities whose target the text does not show: the URLs of text_link
 * and the users of text_mention. Mentions, hashtags and plain URLs are
 * in the text already. */
static bool
add_entities(json_t *tg, const json_t *entities)
{
	json_t       *links = NULL, *mentions = NULL;
	const json_t *e, *user;
	const char   *type, *url;
	size_t        i;
	int64_t       id;
	char          buf[32];
	bool          ok = false;

	if (!json_is_array(entities))
		return true;
	if ((links = json_array()) == NULL || (mentions = json_array()) == NULL)
		goto out;
	json_array_foreach(entities, i, e)
	{
		type = get_str(e, "type");
		if (type == NULL)
			continue;
		url = get_str(e, "url");
		if (strcmp(type, "text_link") == 0 && url != NULL &&
		    json_array_append_new(links, json_string(url)) != 0)
			goto out;
		user = json_object_get(e, "user");
		if (strcmp(type, "text_mention") == 0 &&
		    get_int(user, "id", &id)) {
			snprintf(buf, sizeof(buf), "tg:%" PRId64, id);
			if (json_array_append_new(mentions, json_string(buf)))
				goto out;
		}
	}
	ok = (json_array_size(links) == 0 ||
	         json_object_set(tg, "links", links) == 0) &&
	    (json_array_size(mentions) == 0 ||
	        json_object_set(tg, "mentions", mentions) == 0);
out:
	json_decref(links);
	json_decref(mentions);
	return ok;
}

/* poll {question, options[].text}; false on a malformed poll. */
static bool
add_poll(json_t *post, const json_t *poll, struct tg_update *u)
{
	const json_t *opts = json_object_get(poll, "options"), *o;
	const char   *q = json_string_value(json_object_get(poll, "question"));
	json_t       *p, *list;
	size_t        i;

	if (q == NULL || !json_is_array(opts)) {
		set_reason(u, TG_BAD, "poll without a question or options");
		return false;
	}
	if ((p = json_object()) == NULL ||
	    json_object_set_new(post, "poll", p) != 0 ||
	    !set_string(p, "question", q) || (list = json_array()) == NULL)
		goto nomem;
	if (json_object_set_new(p, "options", list) != 0)
		goto nomem;
	json_array_foreach(opts, i, o)
	{
		const char *t = json_string_value(json_object_get(o, "text"));

		if (t == NULL) {
			set_reason(
			    u, TG_BAD, "poll option %zu without text", i);
			return false;
		}
		if (json_array_append_new(list, json_string(t)) != 0)
			goto nomem;
	}
	return true;
nomem:
	set_reason(u, TG_BAD, "out of memory");
	return false;
}

/* The author: sender_chat when a message is sent on behalf of a chat,
 * else from; a channel post without sender_chat is the channel's own. */
static json_t *
author_of(const json_t *msg, const json_t *chat, bool channel)
{
	const json_t *x;

	if (json_is_object(x = json_object_get(msg, "sender_chat")))
		return make_author(x, true);
	if (!channel && json_is_object(x = json_object_get(msg, "from")))
		return make_author(x, false);
	if (channel)
		return make_author(chat, true);
	return json_object();
}

/* Telegram-specific context kept in the post under "telegram". */
static json_t *
telegram_part(const struct tg_update *u, const json_t *msg, const json_t *chat,
    bool *nomem)
{
	json_t     *tg   = json_object(), *fwd;
	const char *type = get_str(chat, "type");
	bool        none;

	*nomem = true;
	if (tg == NULL ||
	    json_object_set_new(tg, "update_id", json_integer(u->update_id)) ||
	    !set_string(tg, "update", u->type) ||
	    (type != NULL && !set_string(tg, "chat_type", type)))
		goto fail;
	fwd = forward_of(msg, &none);
	if (!none &&
	    (fwd == NULL || json_object_set_new(tg, "forwarded_from", fwd)))
		goto fail;
	if (!add_entities(tg, json_object_get(msg, "entities")) ||
	    !add_entities(tg, json_object_get(msg, "caption_entities")))
		goto fail;
	*nomem = false;
	return tg;
fail:
	json_decref(tg);
	return NULL;
}

/* The post of one message; false with u->reason set otherwise. */
static bool
build_post(json_t *post, const json_t *msg, bool edited, bool channel,
    struct tg_update *u)
{
	const json_t *chat = json_object_get(msg, "chat");
	const json_t *poll = json_object_get(msg, "poll");
	const char   *text, *user, *title;
	json_t       *author, *tg;
	int64_t       chat_id, msg_id, date;
	bool          nomem;

	if (!json_is_object(chat) || !get_int(chat, "id", &chat_id)) {
		set_reason(u, TG_BAD, "%s without an integer chat.id", u->type);
		return false;
	}
	if (!get_int(msg, "message_id", &msg_id)) {
		set_reason(
		    u, TG_BAD, "%s without an integer message_id", u->type);
		return false;
	}
	if (!(edited && get_int(msg, "edit_date", &date)) &&
	    !get_int(msg, "date", &date)) {
		set_reason(u, TG_BAD, "%s without an integer date", u->type);
		return false;
	}
	if (date < 0 || date > MAX_DATE) {
		set_reason(u, TG_BAD, "%s date %" PRId64 " out of range",
		    u->type, date);
		return false;
	}
	text = json_string_value(json_object_get(msg, "text"));
	if (text == NULL)
		text = json_string_value(json_object_get(msg, "caption"));
	if (text == NULL && !json_is_object(poll)) {
		set_reason(u, TG_SKIP,
		    "%s %" PRId64 "/%" PRId64 " has no text, caption or poll",
		    u->type, chat_id, msg_id);
		return false;
	}
	user  = get_str(chat, "username");
	title = get_str(chat, "title");
	set_reason(u, TG_BAD, "out of memory");
	if (!set_printf(post, "id", "%" PRId64 "/%" PRId64, chat_id, msg_id) ||
	    !set_string(post, "platform", "telegram") ||
	    !set_time(post, "created_at", date))
		return false;
	if (user != NULL ? !set_printf(post, "channel", "@%.80s", user)
	                 : title != NULL && !set_string(post, "channel", title))
		return false;
	if (user != NULL &&
	    !set_printf(
	        post, "url", "https://t.me/%.64s/%" PRId64, user, msg_id))
		return false;
	if ((author = author_of(msg, chat, channel)) == NULL ||
	    json_object_set_new(post, "author", author) != 0)
		return false;
	if (text != NULL && !set_string(post, "text", text))
		return false;
	if (json_is_object(poll) && !add_poll(post, poll, u))
		return false;
	if ((tg = telegram_part(u, msg, chat, &nomem)) == NULL ||
	    json_object_set_new(post, "telegram", tg) != 0)
		return false;
	u->kind      = TG_POST;
	u->reason[0] = '\0';
	return true;
}

int
tg_update_map(const json_t *update, struct tg_update *u)
{
	const json_t *msg = NULL;
	const char   *key;
	json_t       *post = NULL, *v;
	size_t        k;

	memset(u, 0, sizeof(*u));
	u->type = "update";
	if (!json_is_object(update)) {
		set_reason(u, TG_BAD, "an update is not a JSON object");
		return 0;
	}
	if (!get_int(update, "update_id", &u->update_id) || u->update_id < 0) {
		set_reason(u, TG_BAD,
		    "update without a non-negative integer update_id");
		return 0;
	}
	u->has_id = true;
	for (k = 0; k < sizeof(message_kinds) / sizeof(message_kinds[0]); k++)
		if ((msg = json_object_get(update, message_kinds[k].key)) !=
		    NULL)
			break;
	if (msg == NULL) {
		json_object_foreach((json_t *)update, key, v)
		{
			if (strcmp(key, "update_id") != 0) {
				u->type = key;
				break;
			}
		}
		set_reason(u, TG_SKIP, "%.40s updates carry no post", u->type);
		return 0;
	}
	u->type = message_kinds[k].key;
	if (!json_is_object(msg)) {
		set_reason(u, TG_BAD, "%s is not a JSON object", u->type);
		return 0;
	}
	if ((post = json_object()) == NULL) {
		set_reason(u, TG_BAD, "out of memory");
		return -1;
	}
	if (!build_post(post, msg, message_kinds[k].edited,
	        message_kinds[k].channel, u)) {
		json_decref(post);
		return strcmp(u->reason, "out of memory") == 0 ? -1 : 0;
	}
	u->post = json_dumps(post, JSON_COMPACT);
	json_decref(post);
	if (u->post == NULL) {
		set_reason(u, TG_BAD, "out of memory");
		return -1;
	}
	u->post_len = strlen(u->post);
	return 0;
}

void
tg_update_clear(struct tg_update *u)
{
	free(u->post);
	u->post     = NULL;
	u->post_len = 0;
}

int
tg_response_parse(const char *buf, size_t len, struct tg_response *r, char *err,
    size_t errlen)
{
	json_error_t  jerr;
	const json_t *params;

	memset(r, 0, sizeof(*r));
	r->retry_after_s = -1;
	r->root          = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (r->root == NULL) {
		snprintf(err, errlen, "invalid JSON at line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text);
		return -1;
	}
	if (!json_is_object(r->root) ||
	    !json_is_boolean(json_object_get(r->root, "ok"))) {
		snprintf(
		    err, errlen, "not an answer of the Bot API (no \"ok\")");
		goto fail;
	}
	r->ok = json_is_true(json_object_get(r->root, "ok"));
	r->description =
	    json_string_value(json_object_get(r->root, "description"));
	get_int(r->root, "error_code", &r->error_code);
	params = json_object_get(r->root, "parameters");
	if (!get_int(params, "retry_after", &r->retry_after_s) ||
	    r->retry_after_s < 0)
		r->retry_after_s = -1;
	if (!r->ok)
		return 0;
	r->result = json_object_get(r->root, "result");
	if (!json_is_array(r->result)) {
		snprintf(err, errlen, "\"result\" is not an array");
		goto fail;
	}
	return 0;
fail:
	tg_response_free(r);
	return -1;
}

void
tg_response_free(struct tg_response *r)
{
	json_decref(r->root);
	memset(r, 0, sizeof(*r));
	r->retry_after_s = -1;
}
