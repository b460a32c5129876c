/*
 * alert.c - from a verdict to alerts: one vigil_alert per finding, with
 * its alert document (doc/alerts.md, version 1), and the binary encoding
 * that carries a set from a worker to vigild and into the outbox.
 *
 * A verdict in JSON text (a rate-limit summary, a test) is read as
 * outside input: every member is checked for presence and type before
 * use, and anything else is refused with a reason that names the member.
 * The tree is kept in the set: the alerts' strings point into it.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alert.h"
#include "post.h"
#include "util.h"
#include "text.h"
#include "verdict.h"

#define DUMP_FLAGS                                                             \
	(JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

struct alert_set {
	json_t      *root;
	vigil_alert *alerts;
	size_t       n;
	char        *arena;   /* decoded: every string of every alert */
	bool         decoded; /* strings live in arena, not malloc'd */
};

/* What the verdict says about the post, shared by its alerts. */
typedef struct verdict_post {
	const char    *id;
	const char    *platform, *channel, *url;
	const char    *author_id, *author_handle, *author_name;
	const char    *author_kind;
	int64_t        created_at;
	vigil_severity severity;
	double         score;
} verdict_post;

/* Where a check failed: err gets "verdict: field '<path>': <what>". */
typedef struct checker {
	char  *err;
	size_t errlen;
} checker;

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
fail(checker *c, const char *path, const char *what)
{
	strfmt(c->err, c->errlen, "verdict: field '%s': %s", path, what);
	return -1;
}

static int
fail_type(checker *c, const char *path, const char *want, const json_t *got)
{
	strfmt(c->err, c->errlen, "verdict: field '%s': expected %s, got %s",
	    path, want, got == NULL ? "nothing" : json_type_name(got));
	return -1;
}

/* Sets key (a literal, so not checked as UTF-8) to v, which it takes;
 * fails (freeing v) when v is NULL. */
static int
put(json_t *obj, const char *key, json_t *v)
{
	return json_object_set_new_nocheck(obj, key, v);
}

/* "prefix.key", or "key" at the top. */
static const char *
member_path(char *buf, size_t len, const char *prefix, const char *key)
{
	if (prefix[0] == '\0' || !strfmt(buf, len, "%s.%s", prefix, key))
		return key;
	return buf;
}

/* ------------------------------------------------------------ members */

/* How much of a string member must be there. */
enum presence {
	OPTIONAL, /* absent or null gives NULL */
	REQUIRED, /* a string, maybe empty */
	NONEMPTY, /* a string with something in it */
};

static int
get_string(checker *c, const json_t *obj, const char *prefix, const char *key,
    enum presence need, const char **out)
{
	const json_t *v = json_object_get(obj, key);
	char          path[128];

	*out = NULL;
	if (json_is_string(v)) {
		*out = json_string_value(v);
		if (need != NONEMPTY || (*out)[0] != '\0')
			return 0;
		return fail(
		    c, member_path(path, sizeof(path), prefix, key), "empty");
	}
	if (need == OPTIONAL && (v == NULL || json_is_null(v)))
		return 0;
	return fail_type(
	    c, member_path(path, sizeof(path), prefix, key), "a string", v);
}

static int
get_number(checker *c, const json_t *obj, const char *prefix, const char *key,
    double *out)
{
	const json_t *v = json_object_get(obj, key);
	char          path[128];

	if (!json_is_number(v))
		return fail_type(c,
		    member_path(path, sizeof(path), prefix, key), "a number",
		    v);
	*out = json_number_value(v);
	if (!isfinite(*out))
		return fail(c, member_path(path, sizeof(path), prefix, key),
		    "not a finite number");
	return 0;
}

static int
get_severity(
    checker *c, const json_t *obj, const char *prefix, vigil_severity *out)
{
	const char *name;
	char        path[128];

	if (get_string(c, obj, prefix, "severity", NONEMPTY, &name) != 0)
		return -1;
	if (severity_parse(name, out) != 0)
		return fail(c,
		    member_path(path, sizeof(path), prefix, "severity"),
		    "expected none, notice, warning or alert");
	return 0;
}

static int
get_time(checker *c, const json_t *obj, const char *prefix, const char *key,
    int64_t *out)
{
	const char *s;
	char        path[128];

	if (get_string(c, obj, prefix, key, NONEMPTY, &s) != 0)
		return -1;
	if (rfc3339_parse(s, out, NULL) != 0)
		return fail(c, member_path(path, sizeof(path), prefix, key),
		    "not an RFC 3339 time with offset");
	return 0;
}

/* An object member that may be absent (NULL); null counts as absent. */
static int
get_object(checker *c, const json_t *obj, const char *prefix, const char *key,
    json_t **out)
{
	json_t *v = json_object_get(obj, key);
	char    path[128];

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return fail_type(c,
		    member_path(path, sizeof(path), prefix, key), "an object",
		    v);
	*out = v;
	return 0;
}

static int
get_array(checker *c, const json_t *obj, const char *prefix, const char *key,
    json_t **out)
{
	json_t *v = json_object_get(obj, key);
	char    path[128];

	*out = v;
	if (!json_is_array(v))
		return fail_type(c,
		    member_path(path, sizeof(path), prefix, key), "an array",
		    v);
	return 0;
}

/* ------------------------------------------------------------ the verdict */

static int
check_author(checker *c, const json_t *po, verdict_post *vp)
{
	json_t           *author;
	vigil_author_kind kind;

	vp->author_kind = "unknown";
	if (get_object(c, po, "post", "author", &author) != 0)
		return -1;
	if (author == NULL)
		return 0;
	if (get_string(
	        c, author, "post.author", "id", OPTIONAL, &vp->author_id) ||
	    get_string(c, author, "post.author", "handle", OPTIONAL,
	        &vp->author_handle) ||
	    get_string(
	        c, author, "post.author", "name", OPTIONAL, &vp->author_name) ||
	    get_string(
	        c, author, "post.author", "kind", OPTIONAL, &vp->author_kind))
		return -1;
	if (vp->author_kind == NULL)
		vp->author_kind = "unknown";
	if (author_kind_parse(vp->author_kind, &kind) != 0)
		return fail(c, "post.author.kind",
		    "expected person, organization, media or unknown");
	return 0;
}

static int
check_post(checker *c, const json_t *root, verdict_post *vp)
{
	json_t *po;

	if (get_object(c, root, "", "post", &po) != 0)
		return -1;
	if (po == NULL)
		return fail(c, "post", "missing in a verdict with findings");
	if (get_string(c, po, "post", "platform", OPTIONAL, &vp->platform) ||
	    get_string(c, po, "post", "channel", OPTIONAL, &vp->channel) ||
	    get_string(c, po, "post", "url", OPTIONAL, &vp->url) ||
	    get_time(c, po, "post", "created_at", &vp->created_at))
		return -1;
	return check_author(c, po, vp);
}

static int
check_verdict(
    checker *c, const json_t *root, verdict_post *vp, json_t **findings)
{
	if (!json_is_object(root)) {
		strfmt(c->err, c->errlen,
		    "verdict: expected a JSON object, got %s",
		    json_type_name(root));
		return -1;
	}
	if (get_string(c, root, "", "post_id", NONEMPTY, &vp->id) ||
	    get_severity(c, root, "", &vp->severity) ||
	    get_number(c, root, "", "score", &vp->score) ||
	    get_array(c, root, "", "findings", findings))
		return -1;
	if (json_array_size(*findings) == 0)
		return 0;
	return check_post(c, root, vp);
}

/* ------------------------------------------------------------ findings */

static bool
is_alert_id(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		        (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return i == 32;
}

static int
check_offset(checker *c, const json_t *obj, const char *prefix, const char *key,
    json_int_t *out)
{
	const json_t *v = json_object_get(obj, key);
	char          path[128];

	if (!json_is_integer(v))
		return fail_type(c,
		    member_path(path, sizeof(path), prefix, key), "an integer",
		    v);
	*out = json_integer_value(v);
	if (*out < 0)
		return fail(c, member_path(path, sizeof(path), prefix, key),
		    "negative");
	return 0;
}

static json_t *
evidence_object(
    const char *field, json_int_t start, json_int_t end, const char *excerpt)
{
	json_t *o = json_object();

	if (o == NULL || put(o, "field", json_string(field)) ||
	    put(o, "start", json_integer(start)) ||
	    put(o, "end", json_integer(end)) ||
	    put(o, "excerpt", json_string(excerpt))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Checks the evidence and copies its documented members into *out. */
static int
check_evidence(checker *c, const json_t *list, const char *prefix,
    const char **excerpt, json_t *out)
{
	const char *field, *text;
	json_int_t  start, end;
	char        path[128];
	size_t      i;
	json_t     *v;

	*excerpt = NULL;
	json_array_foreach(list, i, v)
	{
		strfmt(path, sizeof(path), "%s.evidence[%zu]", prefix, i);
		if (!json_is_object(v))
			return fail_type(c, path, "an object", v);
		if (get_string(c, v, path, "field", NONEMPTY, &field) ||
		    check_offset(c, v, path, "start", &start) ||
		    check_offset(c, v, path, "end", &end) ||
		    get_string(c, v, path, "excerpt", REQUIRED, &text))
			return -1;
		if (end < start)
			return fail(c, path, "end before start");
		if (i == 0)
			*excerpt = text;
		if (json_array_append_new(
		        out, evidence_object(field, start, end, text)) != 0)
			return fail(c, path, "out of memory");
	}
	return 0;
}

static json_t *
signal_object(const char *name, double weight)
{
	json_t *o = json_object();

	if (o == NULL || put(o, "name", json_string(name)) ||
	    put(o, "weight", json_real(weight))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int
check_signals(checker *c, const json_t *list, const char *prefix, json_t *out)
{
	const char *name;
	double      weight;
	char        path[128];
	size_t      i;
	json_t     *v;

	json_array_foreach(list, i, v)
	{
		strfmt(path, sizeof(path), "%s.signals[%zu]", prefix, i);
		if (!json_is_object(v))
			return fail_type(c, path, "an object", v);
		if (get_string(c, v, path, "name", REQUIRED, &name) ||
		    get_number(c, v, path, "weight", &weight))
			return -1;
		if (json_array_append_new(out, signal_object(name, weight)) !=
		    0)
			return fail(c, path, "out of memory");
	}
	return 0;
}

static int
check_legal(checker *c, const json_t *f, const char *prefix, vigil_alert *a,
    json_t **legal)
{
	char path[128];

	if (get_object(c, f, prefix, "legal", legal) != 0)
		return -1;
	if (*legal == NULL)
		return 0;
	strfmt(path, sizeof(path), "%s.legal", prefix);
	if (get_string(c, *legal, path, "law", OPTIONAL, &a->law) ||
	    get_string(c, *legal, path, "article", OPTIONAL, &a->article) ||
	    get_string(c, *legal, path, "penalty", OPTIONAL, &a->penalty))
		return -1;
	return 0;
}

static int
check_window(checker *c, const json_t *f, const char *prefix, vigil_alert *a,
    json_t **window)
{
	char path[128];

	if (get_object(c, f, prefix, "window", window) != 0)
		return -1;
	if (*window == NULL)
		return 0;
	strfmt(path, sizeof(path), "%s.window", prefix);
	if (get_string(c, *window, path, "name", REQUIRED, &a->window) ||
	    get_time(c, *window, path, "start", &a->window_start) ||
	    get_time(c, *window, path, "end", &a->window_end))
		return -1;
	return 0;
}

/* The members of a finding that are plain values. */
static int
check_finding_head(
    checker *c, const json_t *f, const char *prefix, vigil_alert *a)
{
	char path[128];

	if (get_string(c, f, prefix, "rule", NONEMPTY, &a->rule) ||
	    get_string(
	        c, f, prefix, "jurisdiction", OPTIONAL, &a->jurisdiction) ||
	    get_string(c, f, prefix, "alert_id", NONEMPTY, &a->id) ||
	    get_number(c, f, prefix, "score", &a->score) ||
	    get_severity(c, f, prefix, &a->severity) ||
	    get_string(c, f, prefix, "title", REQUIRED, &a->title))
		return -1;
	if (!is_alert_id(a->id))
		return fail(c,
		    member_path(path, sizeof(path), prefix, "alert_id"),
		    "expected 32 lowercase hex digits");
	return 0;
}

/* ------------------------------------------------------------ documents */
static json_t *
doc_post(const verdict_post *vp)
{
	json_t *o = json_object(), *a = json_object();

	if (o == NULL || a == NULL ||
	    put(a, "id", verdict_opt_string(vp->author_id)) ||
	    put(a, "handle", verdict_opt_string(vp->author_handle)) ||
	    put(a, "name", verdict_opt_string(vp->author_name)) ||
	    put(a, "kind", json_string(vp->author_kind)))
		goto fail;
	if (put(o, "id", json_string(vp->id)) ||
	    put(o, "platform", verdict_opt_string(vp->platform)) ||
	    put(o, "channel", verdict_opt_string(vp->channel)) ||
	    put(o, "url", verdict_opt_string(vp->url)) ||
	    put(o, "created_at", verdict_time(vp->created_at)) ||
	    put(o, "author", json_incref(a)))
		goto fail;
	json_decref(a);
	return o;
fail:
	json_decref(a);
	json_decref(o);
	return NULL;
}

static json_t *
doc_verdict(const verdict_post *vp)
{
	json_t *o = json_object();

	if (o == NULL ||
	    put(o, "severity",
	        json_string(vigil_severity_name(vp->severity))) ||
	    put(o, "score", json_real(vp->score))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* What every document of a set has in common, built once for the set
 * (a document only lives until it is dumped, so sharing is safe). */
typedef struct set_parts {
	json_t *post, *verdict, *raised_at;
} set_parts;

static int
set_parts_make(set_parts *sp, const verdict_post *vp, int64_t raised_at)
{
	sp->post      = doc_post(vp);
	sp->verdict   = doc_verdict(vp);
	sp->raised_at = verdict_time(raised_at);
	return sp->post && sp->verdict && sp->raised_at ? 0 : -1;
}

static void
set_parts_clear(set_parts *sp)
{
	json_decref(sp->post);
	json_decref(sp->verdict);
	json_decref(sp->raised_at);
}

/* What a finding adds to its alert besides the vigil_alert fields. */
typedef struct finding_parts {
	bool    legal, window;      /* the document has these objects */
	json_t *evidence, *signals; /* owned */
} finding_parts;

/* The alert document, doc/alerts.md version 1, key order fixed. */
static json_t *
alert_doc(const vigil_alert *a, const finding_parts *fp, const set_parts *sp)
{
	json_t *d = json_object();

	if (d == NULL || put(d, "version", json_integer(1)) ||
	    put(d, "id", json_string(a->id)) ||
	    put(d, "rule", json_string(a->rule)) ||
	    put(d, "jurisdiction", verdict_opt_string(a->jurisdiction)) ||
	    put(d, "severity", json_string(vigil_severity_name(a->severity))) ||
	    put(d, "score", json_real(a->score)) ||
	    put(d, "title", json_string(a->title)))
		goto fail;
	if (fp->legal &&
	    put(d, "legal",
	        verdict_legal_object(a->law, a->article, a->penalty)))
		goto fail;
	if (fp->window &&
	    put(d, "window",
	        verdict_window_object(
	            a->window, a->window_start, a->window_end)))
		goto fail;
	if (put(d, "evidence", json_incref(fp->evidence)) ||
	    put(d, "signals", json_incref(fp->signals)) ||
	    put(d, "post", json_incref(sp->post)) ||
	    put(d, "verdict", json_incref(sp->verdict)) ||
	    put(d, "raised_at", json_incref(sp->raised_at)))
		goto fail;
	return d;
fail:
	json_decref(d);
	return NULL;
}

/* The document as text, through a buffer on the stack: json_dumps grows
 * its buffer from 16 bytes and copies the result once more. */
static char *
doc_text(const json_t *doc, size_t *len)
{
	char   stack[4096], *heap = NULL, *out;
	size_t n    = json_dumpb(doc, stack, sizeof(stack), DUMP_FLAGS);
	char  *from = stack;

	if (n == 0)
		return NULL;
	if (n > sizeof(stack)) {
		if ((heap = malloc(n)) == NULL ||
		    json_dumpb(doc, heap, n, DUMP_FLAGS) != n) {
			free(heap);
			return NULL;
		}
		from = heap;
	}
	if ((out = malloc(n + 1)) != NULL) {
		memcpy(out, from, n);
		out[n] = '\0';
		*len   = n;
	}
	free(heap);
	return out;
}

/* Dumps a's document into a->json; takes fp's arrays. */
static int
alert_text(vigil_alert *a, finding_parts *fp, const set_parts *sp)
{
	json_t *doc = NULL;

	if (fp->evidence != NULL && fp->signals != NULL)
		doc = alert_doc(a, fp, sp);
	a->json = doc ? doc_text(doc, &a->json_len) : NULL;
	json_decref(doc);
	json_decref(fp->evidence);
	json_decref(fp->signals);
	return a->json ? 0 : -1;
}

/* ------------------------------------------------------------ the set */

static void
fill_post_fields(vigil_alert *a, const verdict_post *vp)
{
	a->struct_size   = sizeof(*a);
	a->post_id       = vp->id;
	a->platform      = vp->platform;
	a->channel       = vp->channel;
	a->url           = vp->url;
	a->author_id     = vp->author_id;
	a->author_handle = vp->author_handle;
	a->author_name   = vp->author_name;
	a->created_at    = vp->created_at;
}

static int
check_finding(checker *c, const json_t *f, const char *prefix, vigil_alert *a,
    finding_parts *fp)
{
	json_t *evidence, *signals, *legal, *window;

	if (!json_is_object(f))
		return fail_type(c, prefix, "an object", f);
	if (check_finding_head(c, f, prefix, a) ||
	    check_legal(c, f, prefix, a, &legal) ||
	    check_window(c, f, prefix, a, &window) ||
	    get_array(c, f, prefix, "evidence", &evidence) ||
	    get_array(c, f, prefix, "signals", &signals))
		return -1;
	fp->legal  = legal != NULL;
	fp->window = window != NULL;
	if ((fp->evidence = json_array()) == NULL ||
	    (fp->signals = json_array()) == NULL)
		return fail(c, prefix, "out of memory");
	if (check_evidence(c, evidence, prefix, &a->excerpt, fp->evidence) ||
	    check_signals(c, signals, prefix, fp->signals))
		return -1;
	return 0;
}

/* Reads finding i into a, with its alert document. */
static int
build_alert(checker *c, const json_t *f, size_t i, const verdict_post *vp,
    const set_parts *sp, vigil_alert *a)
{
	finding_parts fp = {0};
	char          prefix[48];

	strfmt(prefix, sizeof(prefix), "findings[%zu]", i);
	fill_post_fields(a, vp);
	if (check_finding(c, f, prefix, a, &fp) != 0) {
		json_decref(fp.evidence);
		json_decref(fp.signals);
		return -1;
	}
	if (alert_text(a, &fp, sp) != 0)
		return fail(c, prefix, "out of memory");
	return 0;
}

static json_t *
load_verdict(const char *json, size_t len, checker *c)
{
	json_error_t jerr;
	json_t      *root;

	root = json_loadb(
	    json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (root == NULL) {
		str_ascii_line(jerr.text);
		strfmt(c->err, c->errlen,
		    "verdict: invalid JSON at line %d column %d: %s", jerr.line,
		    jerr.column, jerr.text);
	}
	return root;
}

/* A set for n alerts, or NULL with err. */
static alert_set *
set_new(size_t n, char *err, size_t errlen)
{
	alert_set *s = calloc(1, sizeof(*s));

	if (s == NULL ||
	    (s->alerts = calloc(n + 1, sizeof(vigil_alert))) == NULL) {
		free(s);
		strfmt(err, errlen, "verdict: out of memory");
		return NULL;
	}
	return s;
}

alert_set *
alert_set_from_verdict(
    const char *json, size_t len, int64_t raised_at, char *err, size_t errlen)
{
	checker      c  = {err, errlen};
	verdict_post vp = {0};
	set_parts    sp = {0};
	json_t      *root, *findings;
	alert_set   *s = NULL;

	if ((root = load_verdict(json, len, &c)) == NULL)
		return NULL;
	if (check_verdict(&c, root, &vp, &findings) != 0 ||
	    (s = set_new(json_array_size(findings), err, errlen)) == NULL)
		goto fail;
	s->root = root; /* the alerts' strings point into it */
	if (json_array_size(findings) > 0 &&
	    set_parts_make(&sp, &vp, raised_at) != 0) {
		strfmt(err, errlen, "verdict: out of memory");
		goto fail;
	}
	for (; s->n < json_array_size(findings); s->n++) {
		if (build_alert(&c, json_array_get(findings, s->n), s->n, &vp,
		        &sp, &s->alerts[s->n]) != 0)
			goto fail;
	}
	set_parts_clear(&sp);
	return s;
fail:
	set_parts_clear(&sp);
	if (s == NULL)
		json_decref(root);
	alert_set_free(s);
	return NULL;
}

static const char *
str_or_null(vigil_str s)
{
	return s.len > 0 ? s.ptr : NULL;
}

alert_set *
alert_set_from_findings(const vigil_post *pv, const vigil_findings *f,
    const thresholds *t, int64_t raised_at, vigil_severity *severity, char *err,
    size_t errlen)
{
	size_t        n  = findings_count(f);
	verdict_post  vp = {0};
	set_parts     sp = {0};
	finding_view *v  = NULL;
	unsigned char hash[32];
	alert_set    *s;

	if ((s = set_new(n, err, errlen)) == NULL)
		return NULL;
	vp.id            = str_or_null(pv->id);
	vp.platform      = str_or_null(pv->platform);
	vp.channel       = str_or_null(pv->channel);
	vp.url           = str_or_null(pv->url);
	vp.author_id     = str_or_null(pv->author_id);
	vp.author_handle = str_or_null(pv->author_handle);
	vp.author_name   = str_or_null(pv->author_name);
	vp.author_kind   = author_kind_name(pv->author_kind);
	vp.created_at    = pv->created_at;
	/* The ids live in the set's arena: the rest is the findings'. */
	if (n > 0 &&
	    ((v = calloc(n, sizeof(*v))) == NULL ||
	        (s->arena = malloc(n * sizeof(v->id))) == NULL ||
	        post_content_digest(pv, hash) != 0))
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		if (finding_view_at(pv, f, i, t, hash, &v[i]) != 0)
			goto nomem;
		verdict_tally(&v[i], &vp.severity, &vp.score);
	}
	if (n > 0 && set_parts_make(&sp, &vp, raised_at) != 0)
		goto nomem;
	for (; s->n < n; s->n++) {
		vigil_alert  *a  = &s->alerts[s->n];
		finding_view *fv = &v[s->n];
		finding_parts fp = {FINDING_HAS_LEGAL(fv), fv->window != NULL,
		    finding_evidence_json(f, s->n),
		    finding_signals_json(f, s->n)};

		fill_post_fields(a, &vp);
		a->id = memcpy(
		    s->arena + s->n * sizeof(fv->id), fv->id, sizeof(fv->id));
		a->rule         = fv->rule;
		a->jurisdiction = fv->jurisdiction;
		a->title        = fv->title;
		a->severity     = fv->severity;
		a->score        = fv->score;
		a->law          = fv->law;
		a->article      = fv->article;
		a->penalty      = fv->penalty;
		a->window       = fv->window;
		a->window_start = fv->window_start;
		a->window_end   = fv->window_end;
		a->excerpt      = fv->excerpt;
		if (alert_text(a, &fp, &sp) != 0)
			goto nomem;
	}
	if (severity != NULL)
		*severity = vp.severity;
	set_parts_clear(&sp);
	free(v);
	return s;
nomem:
	strfmt(err, errlen, "alerts of post %s: out of memory",
	    vp.id ? vp.id : "?");
	set_parts_clear(&sp);
	free(v);
	alert_set_free(s);
	return NULL;
}

/* ------------------------------------------------------------ encoding */

/* The strings of an alert, in their order on the wire. */
#define ALERT_STRINGS(a)                                                       \
	{                                                                      \
		&(a)->id, &(a)->rule, &(a)->jurisdiction, &(a)->title,         \
		    &(a)->post_id, &(a)->platform, &(a)->channel, &(a)->url,   \
		    &(a)->author_id, &(a)->author_handle, &(a)->author_name,   \
		    &(a)->law, &(a)->article, &(a)->penalty, &(a)->window,     \
		    &(a)->excerpt, &(a)->json                                  \
	}
#define N_ALERT_STRINGS 17
#define NO_STRING       UINT32_MAX

typedef struct outbuf {
	char  *p;
	size_t len, cap;
	bool   failed;
} outbuf;

static void
out_bytes(outbuf *o, const void *b, size_t n)
{
	if (o->failed)
		return;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 1024;
		char  *np;
		while (cap < o->len + n)
			cap *= 2;
		if ((np = realloc(o->p, cap)) == NULL) {
			o->failed = true;
			return;
		}
		o->p   = np;
		o->cap = cap;
	}
	memcpy(o->p + o->len, b, n);
	o->len += n;
}

static void
out_u64(outbuf *o, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	out_bytes(o, b, 8);
}

static void
out_u32(outbuf *o, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 8), (uint8_t)v};

	out_bytes(o, b, 4);
}

static void
out_string(outbuf *o, const char *s)
{
	size_t n;

	if (s == NULL) {
		out_u32(o, NO_STRING);
		return;
	}
	n = strlen(s);
	if (n >= NO_STRING) {
		o->failed = true;
		return;
	}
	out_u32(o, (uint32_t)n);
	out_bytes(o, s, n);
}

int
alert_set_encode(const alert_set *s, char **out, size_t *len)
{
	outbuf o = {NULL, 0, 0, false};

	out_u32(&o, (uint32_t)s->n);
	for (size_t i = 0; i < s->n; i++) {
		const vigil_alert *a     = &s->alerts[i];
		const char *const *str[] = ALERT_STRINGS(a);
		uint64_t           bits;

		memcpy(&bits, &a->score, sizeof(bits));
		out_u32(&o, (uint32_t)a->severity);
		out_u64(&o, bits);
		out_u64(&o, (uint64_t)a->created_at);
		out_u64(&o, (uint64_t)a->window_start);
		out_u64(&o, (uint64_t)a->window_end);
		for (size_t k = 0; k < N_ALERT_STRINGS; k++)
			out_string(&o, *str[k]);
	}
	if (o.failed) {
		free(o.p);
		return -1;
	}
	*out = o.p;
	*len = o.len;
	return 0;
}

typedef struct inbuf {
	const uint8_t *p;
	size_t         left;
} inbuf;

static int
in_u32(inbuf *in, uint32_t *v)
{
	if (in->left < 4)
		return -1;
	*v = (uint32_t)in->p[0] << 24 | (uint32_t)in->p[1] << 16 |
	    (uint32_t)in->p[2] << 8 | in->p[3];
	in->p += 4;
	in->left -= 4;
	return 0;
}

static int
in_u64(inbuf *in, uint64_t *v)
{
	uint32_t hi, lo;

	if (in_u32(in, &hi) != 0 || in_u32(in, &lo) != 0)
		return -1;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* Copies a string into the arena, NUL-terminated; it must be UTF-8
 * without NUL, as everything a sink receives is. */
static int
in_string(inbuf *in, char **arena, const char **s)
{
	uint32_t n;

	if (in_u32(in, &n) != 0)
		return -1;
	if (n == NO_STRING) {
		*s = NULL;
		return 0;
	}
	if (n > in->left || memchr(in->p, '\0', n) != NULL ||
	    !text_utf8_valid((const char *)in->p, n))
		return -1;
	memcpy(*arena, in->p, n);
	(*arena)[n] = '\0';
	*s          = *arena;
	*arena += n + 1;
	in->p += n;
	in->left -= n;
	return 0;
}

alert_set *
alert_set_decode(const char *buf, size_t len, char *err, size_t errlen)
{
	inbuf      in = {(const uint8_t *)buf, len};
	alert_set *s;
	char      *arena;
	uint32_t   n;

	/* Each alert takes at least 36 + 4 * N_ALERT_STRINGS bytes. */
	if (in_u32(&in, &n) != 0 || n > in.left / (36 + 4 * N_ALERT_STRINGS)) {
		strfmt(err, errlen, "alerts: bad count");
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->alerts = calloc(n + 1, sizeof(vigil_alert))) == NULL ||
	    (s->arena = malloc(len + (size_t)n * N_ALERT_STRINGS + 1)) ==
	        NULL) {
		strfmt(err, errlen, "alerts: out of memory");
		alert_set_free(s);
		return NULL;
	}
	arena = s->arena;
	for (; s->n < n; s->n++) {
		vigil_alert *a     = &s->alerts[s->n];
		const char **str[] = ALERT_STRINGS(a);
		uint32_t     sev;
		uint64_t     bits, created, ws, we;

		a->struct_size = sizeof(*a);
		if (in_u32(&in, &sev) != 0 || sev > VIGIL_SEV_ALERT ||
		    in_u64(&in, &bits) != 0 || in_u64(&in, &created) != 0 ||
		    in_u64(&in, &ws) != 0 || in_u64(&in, &we) != 0)
			goto bad;
		a->severity = (vigil_severity)sev;
		memcpy(&a->score, &bits, sizeof(bits));
		a->created_at   = (int64_t)created;
		a->window_start = (int64_t)ws;
		a->window_end   = (int64_t)we;
		for (size_t k = 0; k < N_ALERT_STRINGS; k++)
			if (in_string(&in, &arena, str[k]) != 0)
				goto bad;
		if (a->id == NULL || a->rule == NULL || a->json == NULL)
			goto bad;
		a->json_len = strlen(a->json);
	}
	if (in.left != 0)
		goto bad;
	s->decoded = true;
	return s;
bad:
	strfmt(err, errlen, "alerts: malformed alert %zu", s->n);
	s->n = 0;
	alert_set_free(s);
	return NULL;
}

void
alert_set_free(alert_set *s)
{
	if (s == NULL)
		return;
	if (!s->decoded)
		for (size_t i = 0; i < s->n; i++)
			free((char *)s->alerts[i].json);
	free(s->alerts);
	free(s->arena);
	json_decref(s->root);
	free(s);
}

size_t
alert_set_count(const alert_set *s)
{
	return s->n;
}

const vigil_alert *
alert_set_get(const alert_set *s, size_t i)
{
	return i < s->n ? &s->alerts[i] : NULL;
}
