/*
 * post.h - the canonical post (doc/posts.md): parsing and checking the JSON
 * that inputs hand over, and the per-post cache of normalized fields that
 * rules read through the host services. Parsing happens in the workers,
 * where it scales with them.
 */
#ifndef VIGIL_POST_H
#define VIGIL_POST_H

#include <stddef.h>

#include <vigil/plugin.h>

typedef struct post post;

/* Parses one post from JSON text (not NUL-terminated). Checks: valid UTF-8,
 * valid JSON, one object, `id` a non-empty string, `created_at` an RFC 3339
 * string with offset, every known field of the right type (author an
 * object, author.kind one of person/organization/media/unknown, poll an
 * object with a string question and an array of strings, jurisdictions an
 * array of two-letter strings). Unknown fields are ignored; null stands
 * for an absent optional field. Refused anywhere in the text: duplicate
 * keys, \u0000 in strings, nesting deeper than jansson's limit (2048).
 * Jurisdiction codes are stored in lower case.
 * On success *out owns everything the view points to, until post_free.
 * On error returns -1, *out NULL, and a one-line printable reason in err
 * that names the field ("field 'created_at': not an RFC 3339 time with
 * offset"). [any thread] */
int post_parse(
    const char *buf, size_t len, post **out, char *err, size_t errlen);
/* Frees the post and its cached normalized fields; NULL is fine. */
void post_free(post *p);

/* The view handed to rules; valid until post_free. */
const vigil_post *post_view(const post *p);

/* Jurisdictions for a post that names none (copied, stored in lower
 * case; a later call replaces earlier defaults). A post that names its
 * own keeps them. Returns 0, or -1 when a code is not two ASCII letters
 * or memory runs out (the post is unchanged). Not thread-safe: call
 * before the post is scored. */
int post_set_default_jurisdictions(post *p, const char *const *j, size_t n);
/* True when the post's jurisdictions include code (case-insensitive), or
 * when it has none. */
int post_in_jurisdiction(const vigil_post *p, const char *code);

/* Host services (see vigil_host), for views from post_view only.
 * post_norm: the normalized field (text_normalize), made on first use
 * and cached in the post until post_free; NULL when the field is out of
 * range, when it is the poll question of a post without a poll, or when
 * normalization fails. Safe from several threads at once.
 * post_field: the original field; "" with length 0 when out of range.
 * post_field_name: "text", "poll.question", "poll.options[2]" written to
 * buf; NULL when buf is too small. */
const vigil_norm *post_norm(const vigil_post *p, unsigned field);
vigil_str         post_field(const vigil_post *p, unsigned field);
const char       *post_field_name(unsigned field, char *buf, size_t len);

/* "person", "organization", "media", "unknown" and back: 0, or -1 for
 * any other name. */
const char *author_kind_name(vigil_author_kind kind);
int         author_kind_parse(const char *name, vigil_author_kind *kind);

/* SHA-256 over the scored content (text, poll question, options, each
 * followed by a NUL), so that an edit changes alert ids. Works on any
 * vigil_post. post_content_digest returns 0, or -1 when OpenSSL fails
 * (out of memory); post_content_hash then leaves 32 zero bytes. */
int  post_content_digest(const vigil_post *p, unsigned char out[32]);
void post_content_hash(const vigil_post *p, unsigned char out[32]);

/* Why a post was refused, in a small fixed set, for metric labels (a
 * reason itself names fields and positions, too many values for a
 * label). POST_REFUSED_TOO_LARGE is the daemon's own: over
 * daemon.max_post_bytes, refused before parsing. */
enum post_refusal {
	POST_REFUSED_JSON,      /* not JSON, or not an object */
	POST_REFUSED_MISSING,   /* a required field is absent */
	POST_REFUSED_TYPE,      /* a field of the wrong JSON type */
	POST_REFUSED_VALUE,     /* a field of the right type, bad value */
	POST_REFUSED_TOO_LARGE, /* over daemon.max_post_bytes */
	POST_REFUSED_OTHER,     /* anything else (out of memory, say) */
	POST_REFUSED_COUNT,
};
/* The class of a reason post_parse gave, and the label of a class
 * ("json", "missing_field", "wrong_type", "bad_value", "too_large",
 * "other"). */
enum post_refusal post_refusal_of(const char *reason);
const char       *post_refusal_name(enum post_refusal r);

#endif
