/*
 * body.h - splits the body of a POST to the http input into posts: one
 * JSON object, a JSON array of them, or NDJSON (one a line). Items are
 * not checked as posts here; the host's post_check does that. Pure
 * functions, shared with the fuzz harness.
 */
#ifndef VIGIL_INPUT_HTTP_BODY_H
#define VIGIL_INPUT_HTTP_BODY_H

#include <stddef.h>

enum body_kind { BODY_JSON, BODY_NDJSON };

struct body_item {
	size_t      index; /* array position, or 0-based NDJSON line */
	const char *ptr;   /* the item's JSON text (into the body or owned) */
	size_t      len;
	char       *owned; /* storage of ptr when not the body's, or NULL */
};

struct body_items {
	struct body_item *v;
	size_t            n;
};

/* The kind for a Content-Type value (parameters ignored, case folded);
 * -1 for anything else, or NULL. */
int body_kind_of(const char *content_type, enum body_kind *kind);
#define BODY_BAD      (-1)
#define BODY_TOO_MANY (-2)

/* Splits buf into items (at most max_items). 0 on success; BODY_BAD or
 * BODY_TOO_MANY with a reason in err when the body as a whole is unusable
 * (not JSON, no posts; more than max_items). items are freed with
 * body_items_free either way. */
int  body_split(const char *buf, size_t len, enum body_kind kind,
     size_t max_items, struct body_items *items, char *err, size_t errlen);
void body_items_free(struct body_items *items);

#endif
