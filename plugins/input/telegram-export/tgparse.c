/*
 * tgparse.c - the streaming reader of Telegram Desktop exports (see
 * tgparse.h) and the mapping of one exported message to a vigil post
 * (doc/inputs/telegram-export.md has the mapping field by field).
 *
 * yajl calls back per token. Depth 0 is outside everything, depth 1 the
 * top-level object, depth 2 the "messages" array; a message is built as a
 * jansson tree while the depth is above 2 and mapped when it closes.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <yajl/yajl_parse.h>

#include "tgparse.h"

#define MAX_DEPTH  64 /* of a message; Telegram's are 4 deep */
#define NODE_COST  32 /* bytes a value counts for, beyond its text */
#define ERR_LEN    256
#define REASON_LEN 200

struct tg_parser {
	tg_opts     opts;
	char       *username, *lang;
	yajl_handle y;
	uint64_t    fed;     /* bytes before the current chunk */
	bool        feeding; /* inside yajl_parse: add what it has consumed */
	int         depth;
	bool        seen_top, top_done, chats;
	bool        in_messages, messages_done;
	char       *top_key;
	char       *chat_name;
	int64_t     chat_id;
	uint64_t    n_messages;
	/* The message being built. */
	json_t *stack[MAX_DEPTH];
	char   *keys[MAX_DEPTH]; /* pending key of each object */
	int     sp;
	size_t  size;
	bool    oversize, too_deep;
	/* Completed messages. */
	tg_item *head, *tail;
	bool     failed;
	char     err[ERR_LEN];
};

/* ------------------------------------------------------------ queue */

static tg_item *
item_new(tg_parser *p, enum tg_kind kind)
{
	tg_item *it = calloc(1, sizeof(*it));

	if (it == NULL)
		return NULL;
	it->kind   = kind;
	it->index  = p->n_messages;
	it->msg_id = -1;
	if (p->tail != NULL)
		p->tail->next = it;
	else
		p->head = it;
	p->tail = it;
	return it;
}

void
tg_item_free(tg_item *it)
{
	if (it == NULL)
		return;
	free(it->post);
	free(it->reason);
	free(it);
}

tg_item *
tg_parser_next(tg_parser *p)
{
	tg_item *it = p->head;

	if (it != NULL) {
		p->head = it->next;
		if (p->head == NULL)
			p->tail = NULL;
		it->next = NULL;
	}
	return it;
}

/* ------------------------------------------------------------ helpers */

static void
fail(tg_parser *p, const char *fmt, const char *arg)
{
	uint64_t at = p->fed + (p->feeding ? yajl_get_bytes_consumed(p->y) : 0);
	char     msg[ERR_LEN - 32];

	if (p->failed)
		return;
	p->failed = true;
	snprintf(msg, sizeof(msg), fmt, arg);
	snprintf(p->err, sizeof(p->err), "byte %" PRIu64 ": %s", at, msg);
}

static const char *
type_name(const json_t *v)
{
	if (v == NULL)
		return "nothing";
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* A number as yajl gives it: an integer when it fits, else a real;
 * a real too large for a double becomes null. */
static json_t *
number_value(const char *s, size_t len)
{
	char  buf[64];
	char *end;

	if (len >= sizeof(buf))
		return json_null();
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (strpbrk(buf, ".eE") == NULL) {
		long long v;

		errno = 0;
		v     = strtoll(buf, &end, 10);
		if (errno == 0 && *end == '\0')
			return json_integer((json_int_t)v);
	}
	double d = strtod(buf, &end);
	return isfinite(d) ? json_real(d) : json_null();
}

/* ------------------------------------------------------------ mapping */

/* Each check writes its reason and returns -1. */
static int
bad(char *reason, const char *field, const char *want, const json_t *v)
{
	snprintf(reason, REASON_LEN, "field '%s': expected %s, got %s", field,
	    want, type_name(v));
	return -1;
}

/* "text" is a string, or an array of strings and entity objects whose
 * "text" members are concatenated. */
static int
map_text(const json_t *t, json_t *post, char *reason)
{
	size_t  i;
	json_t *e;
	char   *buf = NULL;
	size_t  len = 0;
	FILE   *f;
	int     rc = -1;

	if (t == NULL || json_is_null(t))
		return 0;
	if (json_is_string(t))
		return json_object_set(post, "text", (json_t *)t);
	if (!json_is_array(t))
		return bad(reason, "text", "a string or an array", t);
	if ((f = open_memstream(&buf, &len)) == NULL)
		goto nomem;
	json_array_foreach(t, i, e)
	{
		const json_t *s =
		    json_is_object(e) ? json_object_get(e, "text") : e;
		if (!json_is_string(s)) {
			char field[32];

			snprintf(field, sizeof(field), "text[%zu]", i);
			fclose(f);
			free(buf);
			return bad(reason, field,
			    "a string or an entity with a \"text\" string", e);
		}
		fwrite(json_string_value(s), 1, json_string_length(s), f);
	}
	if (fclose(f) != 0) {
		free(buf);
		goto nomem;
	}
	rc = json_object_set_new(post, "text", json_stringn(buf, len));
	free(buf);
	if (rc == 0)
		return 0;
nomem:
	snprintf(reason, REASON_LEN, "out of memory");
	return -1;
}

/* poll: {question, closed, total_voters, answers: [{text, voters,
 * chosen}]} becomes {question, options: [text...]}. */
static int
map_poll(const json_t *poll, json_t *post, char *reason)
{
	const json_t *q, *answers, *a;
	json_t       *out, *opts;
	size_t        i;

	if (poll == NULL || json_is_null(poll))
		return 0;
	if (!json_is_object(poll))
		return bad(reason, "poll", "an object", poll);
	q       = json_object_get(poll, "question");
	answers = json_object_get(poll, "answers");
	if (q != NULL && !json_is_null(q) && !json_is_string(q))
		return bad(reason, "poll.question", "a string", q);
	if (answers != NULL && !json_is_null(answers) &&
	    !json_is_array(answers))
		return bad(reason, "poll.answers", "an array", answers);
	if ((out = json_object()) == NULL || (opts = json_array()) == NULL ||
	    json_object_set_new(out, "options", opts) != 0 ||
	    json_object_set_new(post, "poll", out) != 0)
		goto nomem;
	if (json_is_string(q) && json_object_set(out, "question", (json_t *)q))
		goto nomem;
	json_array_foreach(answers, i, a)
	{
		const json_t *t =
		    json_is_object(a) ? json_object_get(a, "text") : NULL;
		if (!json_is_string(t)) {
			char field[40];

			snprintf(
			    field, sizeof(field), "poll.answers[%zu].text", i);
			return bad(
			    reason, field, "a string", t != NULL ? t : a);
		}
		if (json_array_append(opts, (json_t *)t) != 0)
			goto nomem;
	}
	return 0;
nomem:
	snprintf(reason, REASON_LEN, "out of memory");
	return -1;
}

/* from_id: "user123", "channel456", "chat789", or a bare number in
 * older exports; the id becomes "tg:<digits>". */
static int
map_author(const json_t *msg, json_t *post, char *reason)
{
	const json_t *from = json_object_get(msg, "from");
	const json_t *fid  = json_object_get(msg, "from_id");
	json_t       *a;
	char          id[48];
	const char   *kind = "unknown";

	if (from != NULL && !json_is_null(from) && !json_is_string(from))
		return bad(reason, "from", "a string", from);
	id[0] = '\0';
	if (json_is_integer(fid)) {
		snprintf(id, sizeof(id), "tg:%" JSON_INTEGER_FORMAT,
		    json_integer_value(fid));
	} else if (json_is_string(fid)) {
		const char *s = json_string_value(fid);
		size_t      n = strspn(s, "abcdefghijklmnopqrstuvwxyz");
		size_t      d = strspn(s + n, "0123456789");

		if (d == 0 || d > 20 || s[n + d] != '\0') {
			snprintf(reason, REASON_LEN,
			    "field 'from_id': \"%.40s\" is not a Telegram id "
			    "(e.g. \"user123\")",
			    s);
			return -1;
		}
		snprintf(id, sizeof(id), "tg:%s", s + n);
		if (n == 4 && strncmp(s, "user", 4) == 0)
			kind = "person";
	} else if (fid != NULL && !json_is_null(fid)) {
		return bad(reason, "from_id", "a string", fid);
	}
	if (id[0] == '\0' && !json_is_string(from))
		return 0;
	if ((a = json_object()) == NULL ||
	    json_object_set_new(post, "author", a) != 0 ||
	    (id[0] && json_object_set_new(a, "id", json_string(id)) != 0) ||
	    (json_is_string(from) &&
	        json_object_set(a, "name", (json_t *)from) != 0) ||
	    json_object_set_new(a, "kind", json_string(kind)) != 0) {
		snprintf(reason, REASON_LEN, "out of memory");
		return -1;
	}
	return 0;
}

static bool
all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

/* "YYYY-MM-DDTHH:MM:SS", as the export writes local time. */
static bool
local_date_ok(const char *s)
{
	return strlen(s) == 19 && all_digits(s, 4) && s[4] == '-' &&
	    all_digits(s + 5, 2) && s[7] == '-' && all_digits(s + 8, 2) &&
	    s[10] == 'T' && all_digits(s + 11, 2) && s[13] == ':' &&
	    all_digits(s + 14, 2) && s[16] == ':' && all_digits(s + 17, 2);
}

/* date_unixtime (a string of seconds) when present, else date with the
 * configured offset. */
static int
map_date(const tg_parser *p, const json_t *msg, json_t *post, char *reason)
{
	const json_t *ut = json_object_get(msg, "date_unixtime");
	const json_t *d  = json_object_get(msg, "date");
	char          out[40];
	long long     secs;
	struct tm     tm;

	if (ut != NULL && !json_is_null(ut)) {
		const char *s = json_is_string(ut) ? json_string_value(ut) : "";
		char       *end;

		if (json_is_integer(ut)) {
			secs = json_integer_value(ut);
		} else {
			errno = 0;
			secs  = strtoll(s, &end, 10);
			if (!json_is_string(ut) || !all_digits(s, strlen(s)) ||
			    errno != 0 || *end != '\0')
				return bad(reason, "date_unixtime",
				    "a string of seconds", ut);
		}
		time_t t = (time_t)secs;
		if (secs < 0 || secs > 253402300799LL ||
		    gmtime_r(&t, &tm) == NULL) {
			snprintf(reason, REASON_LEN,
			    "field 'date_unixtime': %lld is out of range",
			    secs);
			return -1;
		}
		strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &tm);
	} else if (d == NULL || json_is_null(d)) {
		snprintf(reason, REASON_LEN,
		    "field 'date': missing (and no 'date_unixtime')");
		return -1;
	} else if (!json_is_string(d)) {
		return bad(reason, "date", "a string", d);
	} else if (!local_date_ok(json_string_value(d))) {
		snprintf(reason, REASON_LEN,
		    "field 'date': \"%.40s\" is not YYYY-MM-DDTHH:MM:SS",
		    json_string_value(d));
		return -1;
	} else {
		int off = p->opts.date_offset, a = off < 0 ? -off : off;

		snprintf(out, sizeof(out), "%s%c%02d:%02d",
		    json_string_value(d), off < 0 ? '-' : '+', a / 3600,
		    a / 60 % 60);
	}
	if (json_object_set_new(post, "created_at", json_string(out)) != 0) {
		snprintf(reason, REASON_LEN, "out of memory");
		return -1;
	}
	return 0;
}

static int
map_ids(const tg_parser *p, json_int_t id, json_t *post, char *reason)
{
	char pid[64], url[160];

	snprintf(pid, sizeof(pid), "%" PRId64 "/%" JSON_INTEGER_FORMAT,
	    p->chat_id, id);
	if (p->username != NULL)
		snprintf(url, sizeof(url),
		    "https://t.me/%s/%" JSON_INTEGER_FORMAT, p->username, id);
	else
		snprintf(url, sizeof(url),
		    "https://t.me/c/%" PRId64 "/%" JSON_INTEGER_FORMAT,
		    p->chat_id, id);
	if (json_object_set_new(post, "id", json_string(pid)) != 0 ||
	    json_object_set_new(post, "platform", json_string("telegram")) !=
	        0 ||
	    json_object_set_new(post, "url", json_string(url)) != 0)
		goto nomem;
	if (p->username != NULL) {
		char ch[160];

		snprintf(ch, sizeof(ch), "@%s", p->username);
		if (json_object_set_new(post, "channel", json_string(ch)) != 0)
			goto nomem;
	} else if (p->chat_name != NULL &&
	    json_object_set_new(post, "channel", json_string(p->chat_name)) !=
	        0) {
		goto nomem;
	}
	if (p->lang != NULL &&
	    json_object_set_new(post, "lang", json_string(p->lang)) != 0)
		goto nomem;
	return 0;
nomem:
	snprintf(reason, REASON_LEN, "out of memory");
	return -1;
}

/* Maps one message; the item says what came of it. */
static void
map_message(tg_parser *p, json_t *msg, tg_item *it)
{
	char          reason[REASON_LEN] = "";
	const json_t *type, *id;
	json_t       *post = NULL;

	if (!json_is_object(msg)) {
		snprintf(reason, sizeof(reason),
		    "expected a message object, got %s", type_name(msg));
		goto bad;
	}
	id = json_object_get(msg, "id");
	if (json_is_integer(id) && json_integer_value(id) >= 0)
		it->msg_id = json_integer_value(id);
	type = json_object_get(msg, "type");
	if (type != NULL && !json_is_string(type)) {
		bad(reason, "type", "a string", type);
		goto bad;
	}
	if (type != NULL && strcmp(json_string_value(type), "service") == 0) {
		it->kind = TG_SERVICE;
		return;
	}
	if (id == NULL || json_is_null(id)) {
		snprintf(reason, sizeof(reason), "field 'id': missing");
		goto bad;
	}
	if (it->msg_id < 0) {
		bad(reason, "id", "a non-negative integer", id);
		goto bad;
	}
	if ((post = json_object()) == NULL) {
		snprintf(reason, sizeof(reason), "out of memory");
		goto bad;
	}
	if (map_ids(p, it->msg_id, post, reason) != 0 ||
	    map_date(p, msg, post, reason) != 0 ||
	    map_author(msg, post, reason) != 0 ||
	    map_text(json_object_get(msg, "text"), post, reason) != 0 ||
	    map_poll(json_object_get(msg, "poll"), post, reason) != 0)
		goto bad;
	it->post = json_dumps(post, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(post);
	if (it->post == NULL) {
		snprintf(reason, sizeof(reason), "out of memory");
		goto bad;
	}
	it->post_len = strlen(it->post);
	it->kind     = TG_POST;
	return;
bad:
	json_decref(post);
	it->kind   = TG_BAD;
	it->reason = strdup(reason);
}

/* ------------------------------------------------------------ building */

static void
drop_message(tg_parser *p)
{
	json_decref(p->sp > 0 ? p->stack[0] : NULL);
	for (int i = 0; i < p->sp; i++) {
		free(p->keys[i]);
		p->keys[i] = NULL;
	}
	p->sp       = 0;
	p->size     = 0;
	p->oversize = false;
	p->too_deep = false;
}

/* The message closed: queue what it gives, and forget it. Takes root. */
static int
message_done(tg_parser *p, json_t *root)
{
	tg_item *it = item_new(p, TG_BAD);
	int      rc = 1;

	p->n_messages++;
	if (it == NULL) {
		fail(p, "%s", "out of memory");
		rc = 0;
	} else if (p->oversize || p->too_deep) {
		char r[REASON_LEN];

		if (p->oversize)
			snprintf(r, sizeof(r),
			    "message larger than max_message (%zu bytes), "
			    "skipped",
			    p->opts.max_message);
		else
			snprintf(r, sizeof(r),
			    "message nested deeper than %d levels, skipped",
			    MAX_DEPTH);
		it->reason = strdup(r);
	} else {
		map_message(p, root, it);
	}
	if (it != NULL)
		it->index = p->n_messages;
	json_decref(root);
	p->stack[0] = NULL;
	for (int i = 0; i < MAX_DEPTH; i++) {
		free(p->keys[i]);
		p->keys[i] = NULL;
	}
	p->sp       = 0;
	p->size     = 0;
	p->oversize = false;
	p->too_deep = false;
	return rc;
}

/* Counts a value against the cap; past it the tree is dropped and the
 * rest of the message only counted in depth. */
static bool
charge(tg_parser *p, size_t bytes)
{
	if (p->oversize || p->too_deep)
		return false;
	p->size += bytes + NODE_COST;
	if (p->size <= p->opts.max_message)
		return true;
	json_decref(p->stack[0]);
	p->stack[0] = NULL;
	p->oversize = true;
	return false;
}

/* Puts v into the container on top of the stack, or makes it the
 * message. Takes v. */
static int
add_value(tg_parser *p, json_t *v)
{
	json_t *top;
	int     r;

	if (v == NULL) {
		fail(p, "%s", "out of memory");
		return 0;
	}
	if (p->oversize || p->too_deep) {
		json_decref(v);
		return 1;
	}
	if (p->sp == 0) /* a message that is not a container */
		return message_done(p, v);
	top = p->stack[p->sp - 1];
	if (json_is_array(top))
		r = json_array_append_new(top, v);
	else if (p->keys[p->sp - 1] == NULL) /* yajl gives a key first */
		r = (json_decref(v), -1);
	else
		r = json_object_set_new(top, p->keys[p->sp - 1], v);
	free(p->keys[p->sp - 1]);
	p->keys[p->sp - 1] = NULL;
	if (r != 0)
		fail(p, "%s", "out of memory");
	return r == 0;
}

static bool
building(const tg_parser *p)
{
	return p->in_messages && p->depth >= 2;
}

/* A scalar in the message being built, or at the top level. */
static int
top_scalar(tg_parser *p, json_t *v)
{
	if (building(p) && p->depth == 2) /* a message that is a scalar */
		return message_done(p, v);
	if (building(p)) {
		if (!charge(p, json_is_string(v) ? json_string_length(v) : 0)) {
			json_decref(v);
			return 1;
		}
		return add_value(p, v);
	}
	if (p->depth == 0) {
		json_decref(v);
		fail(p, "%s",
		    "the file is not a JSON object: not a Telegram Desktop "
		    "chat export");
		return 0;
	}
	if (p->depth == 1 && p->top_key != NULL) {
		if (strcmp(p->top_key, "id") == 0 && json_is_integer(v))
			p->chat_id = json_integer_value(v);
		else if (strcmp(p->top_key, "id") == 0) {
			json_decref(v);
			fail(p, "%s", "the chat's \"id\" is not an integer");
			return 0;
		} else if (strcmp(p->top_key, "name") == 0 &&
		    json_is_string(v)) {
			free(p->chat_name);
			p->chat_name = strdup(json_string_value(v));
		} else if (strcmp(p->top_key, "messages") == 0) {
			json_decref(v);
			fail(p, "%s", "\"messages\" is not an array");
			return 0;
		}
	}
	json_decref(v);
	return 1;
}

static int
cb_null(void *ctx)
{
	return top_scalar(ctx, json_null());
}

static int
cb_boolean(void *ctx, int b)
{
	return top_scalar(ctx, json_boolean(b));
}

static int
cb_number(void *ctx, const char *s, size_t len)
{
	return top_scalar(ctx, number_value(s, len));
}

static int
cb_string(void *ctx, const unsigned char *s, size_t len)
{
	tg_parser *p = ctx;
	json_t    *v;

	/* Strings outside messages are only kept for the top's "name". */
	if (!building(p) &&
	    !(p->depth == 1 && p->top_key != NULL &&
	        strcmp(p->top_key, "name") == 0))
		return top_scalar(p, json_null());
	/* yajl lets through some byte sequences that are not UTF-8
	 * (encoded surrogates); jansson does not. */
	if ((v = json_stringn((const char *)s, len)) == NULL) {
		fail(p, "%s",
		    "malformed JSON: a string that is not valid UTF-8");
		return 0;
	}
	return top_scalar(p, v);
}

static int
cb_map_key(void *ctx, const unsigned char *s, size_t len)
{
	tg_parser *p = ctx;
	char      *k;

	if (building(p)) {
		json_t *check = json_stringn((const char *)s, len);

		if (check == NULL) {
			fail(p, "%s",
			    "malformed JSON: a key that is not valid UTF-8");
			return 0;
		}
		json_decref(check);
		if (!charge(p, len))
			return 1;
		if ((k = strndup((const char *)s, len)) == NULL) {
			fail(p, "%s", "out of memory");
			return 0;
		}
		free(p->keys[p->sp - 1]);
		p->keys[p->sp - 1] = k;
		return 1;
	}
	if (p->depth != 1)
		return 1;
	free(p->top_key);
	if ((p->top_key = strndup((const char *)s, len)) == NULL) {
		fail(p, "%s", "out of memory");
		return 0;
	}
	if (strcmp(p->top_key, "chats") == 0)
		p->chats = true;
	return 1;
}

static int
open_container(tg_parser *p, bool is_map)
{
	json_t *c;

	if (building(p)) {
		p->depth++;
		if (!charge(p, 0))
			return 1;
		if (p->sp == MAX_DEPTH) {
			json_decref(p->stack[0]);
			p->stack[0] = NULL;
			p->too_deep = true;
			return 1;
		}
		c = is_map ? json_object() : json_array();
		if (c == NULL) {
			fail(p, "%s", "out of memory");
			return 0;
		}
		if (p->sp > 0 && !add_value(p, json_incref(c))) {
			json_decref(c);
			return 0;
		}
		p->stack[p->sp++] = c;
		if (p->sp > 1)
			json_decref(c); /* its parent holds it */
		return 1;
	}
	p->depth++;
	if (p->depth == 1) {
		if (!is_map) {
			fail(p, "%s",
			    "the file is not a JSON object: not a Telegram "
			    "Desktop chat export");
			return 0;
		}
		p->seen_top = true;
		return 1;
	}
	if (p->depth == 2 && p->top_key != NULL &&
	    strcmp(p->top_key, "messages") == 0) {
		if (is_map) {
			fail(p, "%s", "\"messages\" is not an array");
			return 0;
		}
		if (p->chat_id < 0) {
			fail(p, "%s",
			    "\"messages\" comes before the chat's \"id\"");
			return 0;
		}
		p->in_messages = true;
	}
	return 1;
}

static int
close_container(tg_parser *p)
{
	p->depth--;
	if (p->in_messages && p->depth >= 2) {
		if (p->oversize || p->too_deep)
			return p->depth > 2 ? 1 : message_done(p, NULL);
		p->sp--;
		free(p->keys[p->sp]);
		p->keys[p->sp] = NULL;
		return p->sp > 0 ? 1 : message_done(p, p->stack[0]);
	}
	if (p->in_messages && p->depth == 1) {
		p->in_messages   = false;
		p->messages_done = true;
	}
	if (p->depth == 0)
		p->top_done = true;
	return 1;
}

static int
cb_start_map(void *ctx)
{
	return open_container(ctx, true);
}

static int
cb_start_array(void *ctx)
{
	return open_container(ctx, false);
}

static int
cb_end(void *ctx)
{
	return close_container(ctx);
}

static const yajl_callbacks callbacks = {
    .yajl_null        = cb_null,
    .yajl_boolean     = cb_boolean,
    .yajl_number      = cb_number,
    .yajl_string      = cb_string,
    .yajl_start_map   = cb_start_map,
    .yajl_map_key     = cb_map_key,
    .yajl_end_map     = cb_end,
    .yajl_start_array = cb_start_array,
    .yajl_end_array   = cb_end,
};

/* ------------------------------------------------------------ driving */

tg_parser *
tg_parser_new(const tg_opts *opts)
{
	tg_parser *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->opts    = *opts;
	p->chat_id = -1;
	if ((opts->username &&
	        (p->username = strdup(opts->username)) == NULL) ||
	    (opts->lang && (p->lang = strdup(opts->lang)) == NULL) ||
	    (p->y = yajl_alloc(&callbacks, NULL, p)) == NULL) {
		tg_parser_free(p);
		return NULL;
	}
	return p;
}

void
tg_parser_free(tg_parser *p)
{
	tg_item *it;

	if (p == NULL)
		return;
	if (p->y != NULL)
		yajl_free(p->y);
	drop_message(p);
	while ((it = tg_parser_next(p)) != NULL)
		tg_item_free(it);
	free(p->top_key);
	free(p->chat_name);
	free(p->username);
	free(p->lang);
	free(p);
}

/* yajl's own message, one line, after a failure it reported. */
static void
yajl_failure(tg_parser *p, const char *buf, size_t len)
{
	unsigned char *e;
	char           msg[160], *nl;

	if (p->failed)
		return;
	e = yajl_get_error(p->y, 0, (const unsigned char *)buf, len);
	snprintf(msg, sizeof(msg), "%s", e ? (const char *)e : "parse error");
	if (e)
		yajl_free_error(p->y, e);
	while ((nl = strchr(msg, '\n')) != NULL)
		*nl = ' ';
	for (size_t n = strlen(msg); n > 0 && msg[n - 1] == ' '; n--)
		msg[n - 1] = '\0';
	fail(p, "malformed JSON: %s", msg);
}

/* yajl takes form feed and vertical tab for white space; JSON does not,
 * and inside a string they would have to be escaped: anywhere, they are
 * an error. Returns their first position, or len. */
static size_t
bad_space(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\f' || buf[i] == '\v')
			return i;
	return len;
}

int
tg_parser_feed(tg_parser *p, const char *buf, size_t len)
{
	size_t      n = bad_space(buf, len);
	yajl_status st;

	if (p->failed)
		return -1;
	p->feeding = true;
	st         = yajl_parse(p->y, (const unsigned char *)buf, n);
	if (st != yajl_status_ok)
		yajl_failure(p, buf, n);
	p->feeding = false;
	if (p->failed)
		return -1;
	p->fed += n;
	if (n < len) {
		fail(p, "%s",
		    "malformed JSON: a form feed or vertical tab, which JSON "
		    "does not allow");
		return -1;
	}
	return 0;
}

int
tg_parser_finish(tg_parser *p)
{
	if (p->failed)
		return -1;
	if (yajl_complete_parse(p->y) != yajl_status_ok) {
		if (!p->seen_top)
			fail(p, "%s", "the file is empty");
		else
			fail(p, "%s",
			    "the file ends in the middle of the export "
			    "(truncated)");
		return -1;
	}
	if (!p->top_done) {
		fail(p, "%s",
		    "the file ends in the middle of the export (truncated)");
		return -1;
	}
	if (!p->messages_done) {
		fail(p, "%s",
		    p->chats ? "this is a whole-account export (\"chats\"); "
		               "export a single channel's history instead"
		             : "no \"messages\" array: not a Telegram Desktop "
		               "chat export");
		return -1;
	}
	return 0;
}

const char *
tg_parser_error(const tg_parser *p)
{
	return p->err;
}

int
tg_parser_pending(const tg_parser *p)
{
	return p->head != NULL;
}

int64_t
tg_parser_chat_id(const tg_parser *p)
{
	return p->chat_id;
}

uint64_t
tg_parser_messages(const tg_parser *p)
{
	return p->n_messages;
}

int
tg_parse_offset(const char *s, int *seconds)
{
	int h, m;

	if (strcmp(s, "Z") == 0 || strcmp(s, "z") == 0) {
		*seconds = 0;
		return 0;
	}
	if (strlen(s) != 6 || (s[0] != '+' && s[0] != '-') ||
	    !all_digits(s + 1, 2) || s[3] != ':' || !all_digits(s + 4, 2))
		return -1;
	h = (s[1] - '0') * 10 + (s[2] - '0');
	m = (s[4] - '0') * 10 + (s[5] - '0');
	if (h > 23 || m > 59)
		return -1;
	*seconds = (s[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
	return 0;
}
