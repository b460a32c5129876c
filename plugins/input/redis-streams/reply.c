/*
 * reply.c - reading stream ids and the entries of XREADGROUP and
 * XAUTOCLAIM replies (reply.h). Replies come from a server, so every
 * shape is checked before it is used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

static int
parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int
rs_id_parse(const char *s, size_t len, rs_id *id)
{
	const char *dash = memchr(s, '-', len);

	if (dash == NULL)
		return -1;
	if (parse_u64(s, (size_t)(dash - s), &id->ms) != 0 ||
	    parse_u64(dash + 1, len - (size_t)(dash - s) - 1, &id->seq) != 0)
		return -1;
	return 0;
}

int
rs_id_cmp(const rs_id *a, const rs_id *b)
{
	if (a->ms != b->ms)
		return a->ms < b->ms ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}

bool
rs_start_id_valid(const char *s)
{
	rs_id    id;
	uint64_t ms;

	if (s == NULL)
		return false;
	if (strcmp(s, "$") == 0)
		return true;
	/* XGROUP CREATE also takes a bare millisecond time. */
	return rs_id_parse(s, strlen(s), &id) == 0 ||
	    parse_u64(s, strlen(s), &ms) == 0;
}

static bool
is_string(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_STRING;
}

/* [id, [field, value, ...]] or [id, nil]. */
static int
decode_entry(const redisReply *e, const char *field, rs_item *it, char *err,
    size_t errlen)
{
	const redisReply *fv;
	size_t            flen = strlen(field);

	if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    !is_string(e->element[0])) {
		snprintf(err, errlen, "an entry is not [id, fields]");
		return -1;
	}
	it->id_text = e->element[0]->str;
	it->id_len  = e->element[0]->len;
	if (rs_id_parse(it->id_text, it->id_len, &it->id) != 0 ||
	    it->id_len >= RS_ID_MAX) {
		snprintf(err, errlen, "an entry id is not <ms>-<seq>");
		return -1;
	}
	it->value     = NULL;
	it->value_len = 0;
	fv            = e->element[1];
	if (fv == NULL || fv->type == REDIS_REPLY_NIL) {
		it->kind = RS_ITEM_DELETED;
		return 0;
	}
	if (fv->type != REDIS_REPLY_ARRAY || fv->elements % 2 != 0) {
		snprintf(err, errlen, "entry %.*s: its fields are not pairs",
		    (int)it->id_len, it->id_text);
		return -1;
	}
	it->kind = RS_ITEM_NO_FIELD;
	for (size_t i = 0; i + 1 < fv->elements; i += 2) {
		const redisReply *name = fv->element[i];
		const redisReply *val  = fv->element[i + 1];

		if (!is_string(name) || name->len != flen ||
		    memcmp(name->str, field, flen) != 0)
			continue;
		if (is_string(val)) {
			it->kind      = RS_ITEM_POST;
			it->value     = val->str;
			it->value_len = val->len;
		}
		break;
	}
	return 0;
}

static int
walk_entries(const redisReply *list, const char *field, const char *name,
    size_t name_len, const rs_visitor *v, char *err, size_t errlen)
{
	rs_item it;
	int     rc;

	if (list == NULL || list->type != REDIS_REPLY_ARRAY) {
		snprintf(err, errlen, "the entries are not a list");
		return -1;
	}
	if (v->stream != NULL &&
	    (rc = v->stream(v->arg, name, name_len, list->elements)) != 0)
		return rc;
	for (size_t i = 0; i < list->elements; i++) {
		if (decode_entry(list->element[i], field, &it, err, errlen) !=
		    0)
			return -1;
		if (v->entry != NULL && (rc = v->entry(v->arg, &it)) != 0)
			return rc;
	}
	return 0;
}

int
rs_walk_read(const redisReply *r, const char *field, const rs_visitor *v,
    char *err, size_t errlen)
{
	int rc;

	if (r == NULL) {
		snprintf(err, errlen, "no reply");
		return -1;
	}
	if (r->type == REDIS_REPLY_NIL)
		return 0;
	if (r->type != REDIS_REPLY_ARRAY) {
		snprintf(err, errlen, "the reply is not a list of streams");
		return -1;
	}
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *s = r->element[i];

		if (s == NULL || s->type != REDIS_REPLY_ARRAY ||
		    s->elements != 2 || !is_string(s->element[0])) {
			snprintf(err, errlen,
			    "a stream of the reply is not [name, entries]");
			return -1;
		}
		rc = walk_entries(s->element[1], field, s->element[0]->str,
		    s->element[0]->len, v, err, errlen);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
rs_walk_claim(const redisReply *r, const char *field, const char *stream,
    const rs_visitor *v, char *next, size_t nextlen, char *err, size_t errlen)
{
	rs_id cursor;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY ||
	    (r->elements != 2 && r->elements != 3) ||
	    !is_string(r->element[0])) {
		snprintf(err, errlen, "the reply is not [cursor, entries]");
		return -1;
	}
	if (rs_id_parse(r->element[0]->str, r->element[0]->len, &cursor) != 0 ||
	    r->element[0]->len >= nextlen) {
		snprintf(err, errlen, "the cursor is not <ms>-<seq>");
		return -1;
	}
	memcpy(next, r->element[0]->str, r->element[0]->len);
	next[r->element[0]->len] = '\0';
	return walk_entries(
	    r->element[1], field, stream, strlen(stream), v, err, errlen);
}

char *
rs_read_secret(const char *path, char *err, size_t errlen)
{
	FILE   *f;
	char   *line = NULL;
	size_t  cap  = 0;
	ssize_t n;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	n = getline(&line, &cap, f);
	if (n < 0 && ferror(f))
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	else if (n < 0)
		snprintf(err, errlen, "%s: the file is empty", path);
	fclose(f);
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (n == 0) {
		snprintf(err, errlen, "%s: the first line is empty", path);
		free(line);
		return NULL;
	}
	return line;
}
