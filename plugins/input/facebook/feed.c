/*
 * feed.c - reads a Facebook page webhook delivery, {"object": "page",
 * "entry": [{"id", "time", "changes": [{"field", "value"}]}]}, and makes
 * a vigil post of each feed change that carries a message and is not a
 * removal.
 */
#define _POSIX_C_SOURCE 200809L /* gmtime_r */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "feed.h"

#define FB_URL "https://www.facebook.com/"

/* A string member, or NULL. Ids may come as numbers: written out. */
static const char *
str_of(json_t *o, const char *name, char *buf, size_t len)
{
	json_t *v = json_object_get(o, name);

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(
		    buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	}
	return NULL;
}

/* Unix seconds (a number, or digits in a string) as RFC 3339 UTC. */
static int
time_of(json_t *v, char *out, size_t len)
{
	long long t;
	char     *end;
	time_t    tt;
	struct tm tm;

	if (json_is_integer(v)) {
		t = json_integer_value(v);
	} else if (json_is_string(v) && json_string_value(v)[0] != '\0') {
		t = strtoll(json_string_value(v), &end, 10);
		if (*end != '\0')
			return -1;
	} else {
		return -1;
	}
	/* Years 1970 to 9999, as RFC 3339 can write them. */
	if (t < 0 || t > 253402300799LL)
		return -1;
	tt = (time_t)t;
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -1;
	return 0;
}

static void
note_bad(struct feed *f, size_t index, const char *why)
{
	if (f->bad++ == 0)
		snprintf(f->first_bad, sizeof(f->first_bad), "change %zu: %s",
		    index, why);
}

/* One feed change's value into a post; -1 with why when it makes none. */
static int
make_post(json_t *entry, json_t *value, const char *page, char **out,
    const char **why)
{
	char        b1[32], b2[32], b3[32], when[32], url[512];
	const char *post_id = str_of(value, "post_id", b1, sizeof(b1));
	const char *cid     = str_of(value, "comment_id", b2, sizeof(b2));
	const char *id      = cid != NULL ? cid : post_id;
	json_t     *from    = json_object_get(value, "from");
	json_t     *post;

	if (id == NULL || id[0] == '\0') {
		*why = "no post_id or comment_id";
		return -1;
	}
	if (time_of(json_object_get(value, "created_time"), when,
	        sizeof(when)) != 0 &&
	    time_of(json_object_get(entry, "time"), when, sizeof(when)) != 0) {
		*why = "no readable created_time";
		return -1;
	}
	post = json_pack("{s:s,s:s,s:s,s:O}", "id", id, "platform", "facebook",
	    "created_at", when, "text", json_object_get(value, "message"));
	if (post == NULL) {
		*why = "out of memory";
		return -1;
	}
	if (page != NULL)
		json_object_set_new(post, "channel", json_string(page));
	if (post_id != NULL && post_id[0] != '\0' &&
	    snprintf(url, sizeof(url), FB_URL "%s", post_id) < (int)sizeof(url))
		json_object_set_new(post, "url", json_string(url));
	if (json_is_object(from)) {
		const char *fid = str_of(from, "id", b3, sizeof(b3));
		const char *name =
		    json_string_value(json_object_get(from, "name"));
		json_t *a = json_object();
		char    aid[96];

		if (a != NULL && fid != NULL &&
		    snprintf(aid, sizeof(aid), "fb:%s", fid) < (int)sizeof(aid))
			json_object_set_new(a, "id", json_string(aid));
		if (a != NULL && name != NULL)
			json_object_set_new(a, "name", json_string(name));
		if (a != NULL)
			json_object_set_new(post, "author", a);
	}
	*out = json_dumps(post, JSON_COMPACT);
	json_decref(post);
	if (*out == NULL) {
		*why = "out of memory";
		return -1;
	}
	return 0;
}

static void
read_change(
    struct feed *f, json_t *entry, json_t *change, const char *page, size_t cap)
{
	size_t      index = f->changes++;
	json_t     *value = json_object_get(change, "value");
	const char *field = json_string_value(json_object_get(change, "field"));
	const char *verb  = json_string_value(json_object_get(value, "verb"));
	const char *why   = NULL;
	char       *s     = NULL;

	if (field == NULL || strcmp(field, "feed") != 0 ||
	    !json_is_object(value)) {
		f->skipped++;
		return;
	}
	if (verb != NULL && strcmp(verb, "remove") == 0) {
		f->removed++;
		return;
	}
	if (!json_is_string(json_object_get(value, "message"))) {
		f->skipped++; /* likes, reactions, shares without text */
		return;
	}
	if (f->n_posts == cap || make_post(entry, value, page, &s, &why) != 0) {
		note_bad(f, index, why != NULL ? why : "too many changes");
		return;
	}
	f->posts[f->n_posts].json  = s;
	f->posts[f->n_posts].len   = strlen(s);
	f->posts[f->n_posts].index = index;
	f->n_posts++;
}

int
feed_parse(
    const char *buf, size_t len, struct feed *f, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t      *root = json_loadb(buf, len, 0, &jerr), *entries;
	size_t       cap  = 0, i, k;
	json_t      *entry, *change;
	int          rc = -1;

	memset(f, 0, sizeof(*f));
	if (root == NULL) {
		snprintf(err, errlen, "not JSON: %s at line %d column %d",
		    jerr.text, jerr.line, jerr.column);
		return -1;
	}
	if (!json_is_object(root) ||
	    !json_is_string(json_object_get(root, "object")) ||
	    strcmp(json_string_value(json_object_get(root, "object")),
	        "page") != 0) {
		snprintf(err, errlen,
		    "not a page delivery (\"object\": "
		    "\"page\")");
		goto out;
	}
	entries = json_object_get(root, "entry");
	if (!json_is_array(entries)) {
		snprintf(err, errlen, "no \"entry\" array");
		goto out;
	}
	json_array_foreach(entries, i, entry) cap +=
	    json_array_size(json_object_get(entry, "changes"));
	if (cap > 0 && (f->posts = calloc(cap, sizeof(*f->posts))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	json_array_foreach(entries, i, entry)
	{
		char        b[32];
		const char *page = str_of(entry, "id", b, sizeof(b));

		json_array_foreach(json_object_get(entry, "changes"), k, change)
		    read_change(f, entry, change, page, cap);
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

void
feed_free(struct feed *f)
{
	for (size_t i = 0; i < f->n_posts; i++)
		free(f->posts[i].json);
	free(f->posts);
	memset(f, 0, sizeof(*f));
}
