/*
 * post.c - the canonical post: parsing and checking the JSON an input
 * hands over, and the per-post cache of normalized fields.
 *
 * The parsed jansson tree is kept for the post's life and every string of
 * the vigil_post view points into it, so parsing copies no text. Only the
 * jurisdiction codes are copied, to store them in lower case. The arrays
 * of the view and the normalization cache share one allocation with the
 * post itself.
 *
 * A post is parsed and scored on one worker thread, but rules may call
 * post_norm from several threads at once, so each cache slot is filled
 * with a compare-and-swap: the first result wins, a loser frees its own.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "post.h"
#include "text.h"
#include "util.h"

struct post {
	vigil_post view; /* first: plugins see only this */
	json_t    *root;
	vigil_str *options;
	vigil_str *jurisdictions;
	char (*codes)[3];
	_Atomic(vigil_norm *) *norms;    /* one slot per field */
	void                  *defaults; /* post_set_default_jurisdictions */
};

static const char *const author_kinds[] = {
    [VIGIL_AUTHOR_UNKNOWN]      = "unknown",
    [VIGIL_AUTHOR_PERSON]       = "person",
    [VIGIL_AUTHOR_ORGANIZATION] = "organization",
    [VIGIL_AUTHOR_MEDIA]        = "media",
};

static const vigil_str empty_str = {"", 0};

const char *
author_kind_name(vigil_author_kind kind)
{
	if ((size_t)kind >= ARRAY_SIZE(author_kinds))
		return "unknown";
	return author_kinds[kind];
}

int
author_kind_parse(const char *name, vigil_author_kind *kind)
{
	for (size_t i = 0; i < ARRAY_SIZE(author_kinds); i++) {
		if (strcmp(name, author_kinds[i]) == 0) {
			*kind = (vigil_author_kind)i;
			return 0;
		}
	}
	return -1;
}

/* ------------------------------------------------------------ errors */

static const char *
json_type_name(const json_t *v)
{
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

static int
field_error(char *err, size_t errlen, const char *field, const char *what)
{
	strfmt(err, errlen, "field '%s': %s", field, what);
	return -1;
}

static int
type_error(char *err, size_t errlen, const char *field, const char *want,
    const json_t *got)
{
	strfmt(err, errlen, "field '%s': expected %s, got %s", field, want,
	    json_type_name(got));
	return -1;
}

/* ------------------------------------------------------------ checking */

/* A string member that may be absent or null (then ""). */
static int
get_string(const json_t *obj, const char *key, const char *field,
    vigil_str *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, key);

	*out = empty_str;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return type_error(err, errlen, field, "a string", v);
	out->ptr = json_string_value(v);
	out->len = json_string_length(v);
	return 0;
}

/* An object member that may be absent or null (then NULL). */
static int
get_object(const json_t *obj, const char *key, const json_t **out, char *err,
    size_t errlen)
{
	const json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return type_error(err, errlen, key, "an object", v);
	*out = v;
	return 0;
}

/* An array member that may be absent or null (then NULL). */
static int
get_array(const json_t *obj, const char *key, const char *field,
    const json_t **out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return type_error(err, errlen, field, "an array", v);
	*out = v;
	return 0;
}

static int
check_id(const json_t *root, vigil_str *id, char *err, size_t errlen)
{
	const json_t *v = json_object_get(root, "id");

	if (v == NULL || json_is_null(v))
		return field_error(err, errlen, "id", "missing");
	if (get_string(root, "id", "id", id, err, errlen) != 0)
		return -1;
	if (id->len == 0)
		return field_error(err, errlen, "id", "empty");
	return 0;
}

static int
check_created_at(const json_t *root, vigil_post *view, char *err, size_t errlen)
{
	const json_t *v = json_object_get(root, "created_at");

	if (v == NULL || json_is_null(v))
		return field_error(err, errlen, "created_at", "missing");
	if (!json_is_string(v))
		return type_error(err, errlen, "created_at", "a string", v);
	if (rfc3339_parse(json_string_value(v), &view->created_at,
	        &view->created_offset) != 0)
		return field_error(err, errlen, "created_at",
		    "not an RFC 3339 time with offset");
	return 0;
}

static int
check_author_kind(
    const json_t *author, vigil_author_kind *kind, char *err, size_t errlen)
{
	const json_t *v = json_object_get(author, "kind");

	*kind = VIGIL_AUTHOR_UNKNOWN;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return type_error(err, errlen, "author.kind", "a string", v);
	if (author_kind_parse(json_string_value(v), kind) == 0)
		return 0;
	return field_error(err, errlen, "author.kind",
	    "expected one of person, organization, media, unknown");
}

static int
check_author(const json_t *root, vigil_post *view, char *err, size_t errlen)
{
	const json_t *author;

	view->author_kind = VIGIL_AUTHOR_UNKNOWN;
	view->author_id = view->author_handle = view->author_name = empty_str;
	if (get_object(root, "author", &author, err, errlen) != 0)
		return -1;
	if (author == NULL)
		return 0;
	if (get_string(author, "id", "author.id", &view->author_id, err,
	        errlen) != 0 ||
	    get_string(author, "handle", "author.handle", &view->author_handle,
	        err, errlen) != 0 ||
	    get_string(author, "name", "author.name", &view->author_name, err,
	        errlen) != 0)
		return -1;
	return check_author_kind(author, &view->author_kind, err, errlen);
}

/* The poll's question and shape; the options are taken once the post is
 * allocated and has room for them. */
static int
check_poll(const json_t *root, vigil_post *view, const json_t **options,
    char *err, size_t errlen)
{
	const json_t *poll;
	char          field[64];
	size_t        i;
	json_t       *v;

	*options            = NULL;
	view->poll_question = empty_str;
	if (get_object(root, "poll", &poll, err, errlen) != 0)
		return -1;
	if (poll == NULL)
		return 0;
	view->has_poll = 1;
	if (get_string(poll, "question", "poll.question", &view->poll_question,
	        err, errlen) != 0 ||
	    get_array(poll, "options", "poll.options", options, err, errlen) !=
	        0)
		return -1;
	if (*options == NULL)
		return 0;
	json_array_foreach(*options, i, v)
	{
		if (!json_is_string(v)) {
			strfmt(field, sizeof(field), "poll.options[%zu]", i);
			return type_error(err, errlen, field, "a string", v);
		}
	}
	return 0;
}

/* ASCII only, whatever the locale. */
static bool
is_ascii_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char
ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool
is_country_code(const char *s, size_t len)
{
	return len == 2 && is_ascii_letter(s[0]) && is_ascii_letter(s[1]);
}

static int
check_jurisdictions(const json_t *list, char *err, size_t errlen)
{
	char    field[64];
	size_t  i;
	json_t *v;

	if (list == NULL)
		return 0;
	json_array_foreach(list, i, v)
	{
		strfmt(field, sizeof(field), "jurisdictions[%zu]", i);
		if (!json_is_string(v))
			return type_error(err, errlen, field, "a string", v);
		if (!is_country_code(
		        json_string_value(v), json_string_length(v)))
			return field_error(err, errlen, field,
			    "not a two-letter ISO 3166 code");
	}
	return 0;
}

/* ------------------------------------------------------------ building */

/* The post and its arrays in one block: vigil_str arrays first, then the
 * cache slots, then the two-byte codes, so each part stays aligned. */
static post *
post_alloc(size_t n_options, size_t n_jur)
{
	size_t n_fields = 2 + n_options;
	size_t size = sizeof(post) + (n_options + n_jur) * sizeof(vigil_str) +
	    n_fields * sizeof(_Atomic(vigil_norm *)) + n_jur * 3;
	char *tail;
	post *p;

	p = calloc(1, size);
	if (p == NULL)
		return NULL;
	tail             = (char *)(p + 1);
	p->options       = (vigil_str *)(void *)tail;
	p->jurisdictions = p->options + n_options;
	p->norms = (_Atomic(vigil_norm *) *)(void *)(p->jurisdictions + n_jur);
	p->codes = (char(*)[3])(void *)(p->norms + n_fields);
	for (size_t i = 0; i < n_fields; i++)
		atomic_init(&p->norms[i], NULL);
	p->view.struct_size = sizeof(vigil_post);
	p->view.n_fields    = n_fields;
	return p;
}

static void
fill_options(post *p, const json_t *options)
{
	size_t  i;
	json_t *v;

	p->view.poll_options = p->options;
	if (options == NULL)
		return;
	json_array_foreach(options, i, v)
	{
		p->options[i].ptr = json_string_value(v);
		p->options[i].len = json_string_length(v);
	}
	p->view.n_poll_options = json_array_size(options);
}

static void
fill_jurisdictions(post *p, const json_t *list)
{
	size_t  i;
	json_t *v;

	p->view.jurisdictions = p->jurisdictions;
	if (list == NULL)
		return;
	json_array_foreach(list, i, v)
	{
		const char *s = json_string_value(v);

		p->codes[i][0]          = ascii_lower(s[0]);
		p->codes[i][1]          = ascii_lower(s[1]);
		p->codes[i][2]          = '\0';
		p->jurisdictions[i].ptr = p->codes[i];
		p->jurisdictions[i].len = 2;
	}
	p->view.n_jurisdictions = json_array_size(list);
}

/* The scalar members and the author, in the order doc/posts.md has them. */
static int
check_fields(const json_t *root, vigil_post *v, char *err, size_t errlen)
{
	if (check_id(root, &v->id, err, errlen) != 0 ||
	    get_string(
	        root, "platform", "platform", &v->platform, err, errlen) != 0 ||
	    get_string(root, "channel", "channel", &v->channel, err, errlen) !=
	        0 ||
	    check_author(root, v, err, errlen) != 0 ||
	    check_created_at(root, v, err, errlen) != 0 ||
	    get_string(root, "text", "text", &v->text, err, errlen) != 0 ||
	    get_string(root, "url", "url", &v->url, err, errlen) != 0 ||
	    get_string(root, "lang", "lang", &v->lang, err, errlen) != 0)
		return -1;
	return 0;
}

static json_t *
load_object(const char *buf, size_t len, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t      *root;

	/* Duplicate keys are refused everywhere: two parsers that keep
	 * different copies of "text" would disagree on what was scored. */
	root = json_loadb(
	    buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (root == NULL) {
		str_ascii_line(jerr.text);
		strfmt(err, errlen, "invalid JSON at line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		strfmt(err, errlen, "expected a JSON object, got %s",
		    json_type_name(root));
		json_decref(root);
		return NULL;
	}
	return root;
}

int
post_parse(const char *buf, size_t len, post **out, char *err, size_t errlen)
{
	const json_t *options, *jur;
	vigil_post    view = {0};
	json_t       *root;
	post         *p;

	*out = NULL;
	root = load_object(buf, len, err, errlen);
	if (root == NULL)
		return -1;
	if (check_fields(root, &view, err, errlen) != 0 ||
	    check_poll(root, &view, &options, err, errlen) != 0 ||
	    get_array(root, "jurisdictions", "jurisdictions", &jur, err,
	        errlen) != 0 ||
	    check_jurisdictions(jur, err, errlen) != 0)
		goto fail;
	p = post_alloc(json_array_size(options), json_array_size(jur));
	if (p == NULL) {
		strfmt(err, errlen, "post: out of memory");
		goto fail;
	}
	view.struct_size = p->view.struct_size;
	view.n_fields    = p->view.n_fields;
	p->view          = view;
	p->root          = root;
	fill_options(p, options);
	fill_jurisdictions(p, jur);
	*out = p;
	return 0;
fail:
	json_decref(root);
	return -1;
}

void
post_free(post *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->view.n_fields; i++)
		text_norm_free(atomic_load(&p->norms[i]));
	free(p->defaults);
	json_decref(p->root);
	free(p);
}

const vigil_post *
post_view(const post *p)
{
	return &p->view;
}

/* ------------------------------------------------------------ jurisdictions */

int
post_set_default_jurisdictions(post *p, const char *const *j, size_t n)
{
	vigil_str *list;
	char(*codes)[3];

	if (p->view.n_jurisdictions > 0 && p->view.jurisdictions != p->defaults)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (j[i] == NULL || !is_country_code(j[i], strlen(j[i])))
			return -1;
	}
	list = malloc(n * (sizeof(vigil_str) + 3) + 1);
	if (list == NULL)
		return -1;
	codes = (char(*)[3])(void *)(list + n);
	for (size_t i = 0; i < n; i++) {
		codes[i][0] = ascii_lower(j[i][0]);
		codes[i][1] = ascii_lower(j[i][1]);
		codes[i][2] = '\0';
		list[i].ptr = codes[i];
		list[i].len = 2;
	}
	free(p->defaults);
	p->defaults             = list;
	p->view.jurisdictions   = list;
	p->view.n_jurisdictions = n;
	return 0;
}

int
post_in_jurisdiction(const vigil_post *p, const char *code)
{
	size_t len = strlen(code);

	if (p->n_jurisdictions == 0)
		return 1;
	for (size_t i = 0; i < p->n_jurisdictions; i++) {
		if (p->jurisdictions[i].len == len &&
		    strncasecmp(p->jurisdictions[i].ptr, code, len) == 0)
			return 1;
	}
	return 0;
}

/* ------------------------------------------------------------ fields */

vigil_str
post_field(const vigil_post *p, unsigned field)
{
	if (field == VIGIL_FIELD_TEXT)
		return p->text;
	if (field == VIGIL_FIELD_POLL_QUESTION)
		return p->poll_question;
	if (field < p->n_fields)
		return p->poll_options[field - VIGIL_FIELD_POLL_OPTION(0)];
	return empty_str;
}

const char *
post_field_name(unsigned field, char *buf, size_t len)
{
	bool ok;

	if (field == VIGIL_FIELD_TEXT)
		ok = strfmt(buf, len, "text");
	else if (field == VIGIL_FIELD_POLL_QUESTION)
		ok = strfmt(buf, len, "poll.question");
	else
		ok = strfmt(buf, len, "poll.options[%u]",
		    field - VIGIL_FIELD_POLL_OPTION(0));
	return ok ? buf : NULL;
}

const vigil_norm *
post_norm(const vigil_post *v, unsigned field)
{
	post       *p = container_of(v, post, view);
	vigil_norm *cached, *fresh;
	vigil_str   s;

	if (field >= v->n_fields ||
	    (field == VIGIL_FIELD_POLL_QUESTION && !v->has_poll))
		return NULL;
	cached = atomic_load_explicit(&p->norms[field], memory_order_acquire);
	if (cached != NULL)
		return cached;
	s     = post_field(v, field);
	fresh = text_normalize(s.ptr, s.len);
	if (fresh == NULL)
		return NULL;
	if (!atomic_compare_exchange_strong_explicit(&p->norms[field], &cached,
	        fresh, memory_order_acq_rel, memory_order_acquire)) {
		text_norm_free(fresh);
		return cached;
	}
	return fresh;
}

/* ------------------------------------------------------------ hashing */

int
post_content_digest(const vigil_post *p, unsigned char out[32])
{
	EVP_MD_CTX *ctx;
	vigil_str   part;
	int         ok;

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, util_sha256(), NULL);
	for (unsigned f = 0; ok && f < p->n_fields; f++) {
		/* The NUL that ends each field keeps "ab","c" apart from
		 * "a","bc". */
		part = post_field(p, f);
		ok   = EVP_DigestUpdate(ctx, part.ptr, part.len + 1);
	}
	if (ok)
		ok = EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

void
post_content_hash(const vigil_post *p, unsigned char out[32])
{
	if (post_content_digest(p, out) != 0)
		memset(out, 0, 32);
}

/* Follows the wording of load_object, field_error and type_error. */
enum post_refusal
post_refusal_of(const char *reason)
{
	const char *what;

	if (strncmp(reason, "invalid JSON ", 13) == 0 ||
	    strncmp(reason, "expected a JSON object, ", 24) == 0)
		return POST_REFUSED_JSON;
	if (strncmp(reason, "field '", 7) != 0 ||
	    (what = strstr(reason + 7, "': ")) == NULL)
		return POST_REFUSED_OTHER;
	what += 3;
	if (strcmp(what, "missing") == 0)
		return POST_REFUSED_MISSING;
	if (strncmp(what, "expected ", 9) == 0 &&
	    strstr(what, ", got ") != NULL)
		return POST_REFUSED_TYPE;
	return POST_REFUSED_VALUE;
}

const char *
post_refusal_name(enum post_refusal r)
{
	static const char *const names[POST_REFUSED_COUNT] = {
	    [POST_REFUSED_JSON]      = "json",
	    [POST_REFUSED_MISSING]   = "missing_field",
	    [POST_REFUSED_TYPE]      = "wrong_type",
	    [POST_REFUSED_VALUE]     = "bad_value",
	    [POST_REFUSED_TOO_LARGE] = "too_large",
	    [POST_REFUSED_OTHER]     = "other",
	};

	return (unsigned)r < POST_REFUSED_COUNT ? names[r] : "other";
}
