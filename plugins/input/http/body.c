/*
 * body.c - splits an http input body into post texts: a JSON object, a
 * JSON array of objects (each element re-encoded compactly by jansson), or
 * NDJSON lines (blank lines skipped, CR before LF dropped). A JSON body is
 * told apart by its first byte after white space and a UTF-8 BOM.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "body.h"

#define BOM "\xef\xbb\xbf"

int
body_kind_of(const char *ct, enum body_kind *kind)
{
	size_t n;

	if (ct == NULL)
		return -1;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	if (n == strlen("application/json") &&
	    strncasecmp(ct, "application/json", n) == 0)
		*kind = BODY_JSON;
	else if (n == strlen("application/x-ndjson") &&
	    strncasecmp(ct, "application/x-ndjson", n) == 0)
		*kind = BODY_NDJSON;
	else
		return -1;
	return 0;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
add_item(struct body_items *it, size_t cap, size_t index, const char *ptr,
    size_t len, char *owned)
{
	struct body_item *i = &it->v[it->n];

	if (it->n >= cap)
		return -1;
	i->index = index;
	i->ptr   = ptr;
	i->len   = len;
	i->owned = owned;
	it->n++;
	return 0;
}

static int
split_array(const char *buf, size_t len, size_t max_items,
    struct body_items *it, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t      *arr = json_loadb(buf, len, 0, &jerr);
	size_t       n;
	int          rc = -1;

	if (arr == NULL) {
		snprintf(err, errlen, "not JSON: %s at line %d column %d",
		    jerr.text, jerr.line, jerr.column);
		return -1;
	}
	n = json_array_size(arr);
	if (n == 0) {
		snprintf(err, errlen, "the array holds no posts");
		goto out;
	}
	if (n > max_items) {
		snprintf(err, errlen, "%zu posts in one request; at most %zu",
		    n, max_items);
		rc = BODY_TOO_MANY;
		goto out;
	}
	if ((it->v = calloc(n, sizeof(*it->v))) == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		char *s = json_dumps(
		    json_array_get(arr, i), JSON_COMPACT | JSON_ENCODE_ANY);

		if (s == NULL)
			goto nomem;
		add_item(it, n, i, s, strlen(s), s);
	}
	rc = 0;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
out:
	json_decref(arr);
	return rc;
}

static int
split_ndjson(const char *buf, size_t len, size_t max_items,
    struct body_items *it, char *err, size_t errlen)
{
	size_t      lines = 1, line = 0;
	const char *p = buf, *end = buf + len;

	for (size_t i = 0; i < len; i++)
		lines += buf[i] == '\n';
	if ((it->v = calloc(lines, sizeof(*it->v))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (; p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e  = nl != NULL ? nl : end;
		const char *s  = p;

		while (s < e && is_space(*s))
			s++;
		if (s < e) {
			size_t n = (size_t)(e - p);

			if (n > 0 && p[n - 1] == '\r')
				n--;
			if (it->n == max_items) {
				snprintf(err, errlen,
				    "more than %zu posts in one request",
				    max_items);
				return BODY_TOO_MANY;
			}
			add_item(it, lines, line, p, n, NULL);
		}
		p = nl != NULL ? nl + 1 : end;
	}
	if (it->n == 0) {
		snprintf(err, errlen, "the body holds no posts");
		return -1;
	}
	return 0;
}

int
body_split(const char *buf, size_t len, enum body_kind kind, size_t max_items,
    struct body_items *it, char *err, size_t errlen)
{
	size_t i = 0;

	it->v = NULL;
	it->n = 0;
	if (len >= 3 && memcmp(buf, BOM, 3) == 0)
		i = 3;
	if (kind == BODY_NDJSON)
		return split_ndjson(
		    buf + i, len - i, max_items, it, err, errlen);
	while (i < len && is_space(buf[i]))
		i++;
	if (i == len) {
		snprintf(err, errlen, "the body holds no posts");
		return -1;
	}
	if (buf[i] == '[')
		return split_array(
		    buf + i, len - i, max_items, it, err, errlen);
	if (buf[i] != '{') {
		snprintf(
		    err, errlen, "expected a JSON object or an array of them");
		return -1;
	}
	if ((it->v = calloc(1, sizeof(*it->v))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	add_item(it, 1, 0, buf + i, len - i, NULL);
	return 0;
}

void
body_items_free(struct body_items *it)
{
	for (size_t i = 0; i < it->n; i++)
		free(it->v[i].owned);
	free(it->v);
	it->v = NULL;
	it->n = 0;
}
