/*
 * verdict.c - findings as rules build them, and the verdict they add up
 * to. A rule adds findings through the host (findings_add,
 * finding_evidence, finding_signal); the worker then turns the post and
 * its findings into the one-line verdict JSON that goes back to vigild.
 *
 * Scores become severities through thresholds, the rspamd way: each
 * finding's score maps to a severity, raised to the finding's floor and
 * lowered to its cap; the verdict takes the highest finding severity and
 * the sum of the scores. Alert ids hash what identifies an alert (the
 * platform, the post, the rule and the scored content), so a re-sent post
 * keeps its ids and an edited one gets new ones.
 *
 * A findings list belongs to one thread at a time.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "post.h"
#include "text.h"
#include "util.h"
#include "verdict.h"

/* Context kept on each side of a piece of evidence in its excerpt. */
#define EXCERPT_CONTEXT 40
/* U+2026 HORIZONTAL ELLIPSIS, where the excerpt cuts the field. */
#define ELLIPSIS     "\xe2\x80\xa6"
#define ELLIPSIS_LEN 3

/* JSON numbers with 15 significant digits: 0.1 + 0.2 prints as 0.3. */
#define DUMP_FLAGS VERDICT_DUMP_FLAGS

typedef struct evidence {
	unsigned field;
	size_t   start, end;
	char    *excerpt;
} evidence;

typedef struct signal_weight {
	char  *name;
	double weight;
} signal_weight;

struct vigil_finding {
	char          *rule, *jurisdiction, *title;
	char          *law, *article, *penalty;
	char          *window;
	double         score;
	vigil_severity floor, cap;
	int64_t        window_start, window_end;
	evidence      *ev;
	size_t         n_ev, cap_ev;
	signal_weight *sig;
	size_t         n_sig, cap_sig;
};

/* Pointers, so that a finding stays put while later ones are added. */
struct vigil_findings {
	vigil_finding **items;
	size_t          n, cap;
};

static const char *const severity_names[] = {
    [VIGIL_SEV_NONE]    = "none",
    [VIGIL_SEV_NOTICE]  = "notice",
    [VIGIL_SEV_WARNING] = "warning",
    [VIGIL_SEV_ALERT]   = "alert",
};

/* ------------------------------------------------------------ severities */

int
severity_parse(const char *name, vigil_severity *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(severity_names); i++) {
		if (strcasecmp(name, severity_names[i]) == 0) {
			*out = (vigil_severity)i;
			return 0;
		}
	}
	return -1;
}

vigil_severity
severity_from_score(const thresholds *t, double score)
{
	if (score >= t->alert)
		return VIGIL_SEV_ALERT;
	if (score >= t->warning)
		return VIGIL_SEV_WARNING;
	if (score >= t->notice)
		return VIGIL_SEV_NOTICE;
	return VIGIL_SEV_NONE;
}

static vigil_severity
finding_severity(const vigil_finding *f, const thresholds *t)
{
	vigil_severity sev = severity_from_score(t, f->score);

	if (sev < f->floor)
		sev = f->floor;
	if (f->cap != VIGIL_SEV_NONE && sev > f->cap)
		sev = f->cap;
	return sev;
}

/* ------------------------------------------------------------ findings */

/* Room for one more element of size elem after n: returns the array,
 * moved if need be, or NULL (the old array intact) when memory runs out. */
static void *
grow(void *arr, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void  *p;

	if (n < *cap)
		return arr;
	ncap = *cap == 0 ? 4 : *cap * 2;
	p    = reallocarray(arr, ncap, elem);
	if (p != NULL)
		*cap = ncap;
	return p;
}

static void
finding_free(vigil_finding *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n_ev; i++)
		free(f->ev[i].excerpt);
	for (size_t i = 0; i < f->n_sig; i++)
		free(f->sig[i].name);
	free(f->ev);
	free(f->sig);
	free(f->rule);
	free(f->jurisdiction);
	free(f->title);
	free(f->law);
	free(f->article);
	free(f->penalty);
	free(f->window);
	free(f);
}

vigil_findings *
findings_new(void)
{
	return calloc(1, sizeof(vigil_findings));
}

void
findings_clear(vigil_findings *f)
{
	for (size_t i = 0; i < f->n; i++)
		finding_free(f->items[i]);
	f->n = 0;
}

void
findings_free(vigil_findings *f)
{
	if (f == NULL)
		return;
	findings_clear(f);
	free(f->items);
	free(f);
}

size_t
findings_count(const vigil_findings *f)
{
	return f ? f->n : 0;
}

static bool
valid_text(const char *s)
{
	return s == NULL || text_utf8_valid(s, strlen(s));
}

static bool
valid_spec(const vigil_finding_spec *s)
{
	if (s == NULL || s->struct_size < sizeof(vigil_finding_spec))
		return false;
	if (s->rule == NULL || s->rule[0] == '\0' || !isfinite(s->score))
		return false;
	if ((unsigned)s->floor > VIGIL_SEV_ALERT ||
	    (unsigned)s->cap > VIGIL_SEV_ALERT)
		return false;
	return valid_text(s->rule) && valid_text(s->jurisdiction) &&
	    valid_text(s->title) && valid_text(s->law) &&
	    valid_text(s->article) && valid_text(s->penalty) &&
	    valid_text(s->window);
}

/* strdup that keeps NULL as NULL; false only when memory runs out. */
static bool
copy_opt(char **dst, const char *src)
{
	*dst = src == NULL ? NULL : strdup(src);
	return src == NULL || *dst != NULL;
}

vigil_finding *
findings_add(vigil_findings *out, const vigil_finding_spec *s)
{
	vigil_finding **items;
	vigil_finding  *f;

	if (out == NULL || !valid_spec(s))
		return NULL;
	items = grow(out->items, &out->cap, out->n, sizeof(*items));
	if (items == NULL)
		return NULL;
	out->items = items;
	f          = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->score        = s->score;
	f->floor        = s->floor;
	f->cap          = s->cap;
	f->window_start = s->window_start;
	f->window_end   = s->window_end;
	if (!copy_opt(&f->rule, s->rule) ||
	    !copy_opt(&f->jurisdiction, s->jurisdiction) ||
	    !copy_opt(&f->title, s->title != NULL ? s->title : s->rule) ||
	    !copy_opt(&f->law, s->law) || !copy_opt(&f->article, s->article) ||
	    !copy_opt(&f->penalty, s->penalty) ||
	    !copy_opt(&f->window, s->window)) {
		finding_free(f);
		return NULL;
	}
	out->items[out->n++] = f;
	return f;
}

/* ------------------------------------------------------------ evidence */

static bool
is_continuation(char c)
{
	return ((unsigned char)c & 0xc0) == 0x80;
}

/* The character boundary at or before i in s[0, len). */
static size_t
char_floor(const char *s, size_t len, size_t i)
{
	while (i > 0 && i < len && is_continuation(s[i]))
		i--;
	return i;
}

/* The character boundary at or after i in s[0, len). */
static size_t
char_ceil(const char *s, size_t len, size_t i)
{
	while (i < len && is_continuation(s[i]))
		i++;
	return i;
}

/* The evidence with up to EXCERPT_CONTEXT bytes of context each side,
 * cut only between characters, with an ellipsis where the field goes on. */
static char *
make_excerpt(const char *s, size_t len, size_t start, size_t end)
{
	size_t from, to, n;
	char  *out, *w;

	/* start and end are boundaries, so neither cut passes them. */
	from = start > EXCERPT_CONTEXT ? start - EXCERPT_CONTEXT : 0;
	from = char_ceil(s, len, from);
	to   = len - end > EXCERPT_CONTEXT ? end + EXCERPT_CONTEXT : len;
	to   = char_floor(s, len, to);
	n    = to - from;
	out  = malloc(n + 2 * ELLIPSIS_LEN + 1);
	if (out == NULL)
		return NULL;
	w = out;
	if (from > 0) {
		memcpy(w, ELLIPSIS, ELLIPSIS_LEN);
		w += ELLIPSIS_LEN;
	}
	memcpy(w, s + from, n);
	w += n;
	if (to < len) {
		memcpy(w, ELLIPSIS, ELLIPSIS_LEN);
		w += ELLIPSIS_LEN;
	}
	*w = '\0';
	return out;
}

int
finding_evidence(vigil_finding *f, const vigil_post *pv, unsigned field,
    size_t orig_start, size_t orig_end)
{
	vigil_str s;
	evidence *ev;
	char     *excerpt;

	if (f == NULL || pv == NULL || field >= pv->n_fields)
		return VIGIL_ERR;
	s = post_field(pv, field);
	if (orig_start > orig_end || orig_end > s.len)
		return VIGIL_ERR;
	/* Widen to whole characters rather than cut one in two. */
	orig_start = char_floor(s.ptr, s.len, orig_start);
	orig_end   = char_ceil(s.ptr, s.len, orig_end);
	ev         = grow(f->ev, &f->cap_ev, f->n_ev, sizeof(*ev));
	if (ev == NULL)
		return VIGIL_ERR;
	f->ev   = ev;
	excerpt = make_excerpt(s.ptr, s.len, orig_start, orig_end);
	if (excerpt == NULL)
		return VIGIL_ERR;
	ev          = &f->ev[f->n_ev++];
	ev->field   = field;
	ev->start   = orig_start;
	ev->end     = orig_end;
	ev->excerpt = excerpt;
	return VIGIL_OK;
}

int
finding_signal(vigil_finding *f, const char *name, double weight)
{
	signal_weight *sig;
	char          *copy;

	if (f == NULL || name == NULL || !isfinite(weight) || !valid_text(name))
		return VIGIL_ERR;
	sig = grow(f->sig, &f->cap_sig, f->n_sig, sizeof(*sig));
	if (sig == NULL)
		return VIGIL_ERR;
	f->sig = sig;
	copy   = strdup(name);
	if (copy == NULL)
		return VIGIL_ERR;
	f->sig[f->n_sig].name   = copy;
	f->sig[f->n_sig].weight = weight;
	f->n_sig++;
	return VIGIL_OK;
}

/* ------------------------------------------------------------ alert ids */

static int
alert_id_digest(const vigil_post *pv, const char *rule,
    const unsigned char content_hash[32], char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	EVP_MD_CTX   *ctx;
	int           ok;

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return -1;
	/* Each string with its NUL, so that the parts cannot run together. */
	ok = EVP_DigestInit_ex(ctx, util_sha256(), NULL) &&
	    EVP_DigestUpdate(ctx, pv->platform.ptr, pv->platform.len + 1) &&
	    EVP_DigestUpdate(ctx, pv->id.ptr, pv->id.len + 1) &&
	    EVP_DigestUpdate(ctx, rule, strlen(rule) + 1) &&
	    EVP_DigestUpdate(ctx, content_hash, 32) &&
	    EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	hex_encode(md, 16, out);
	return 0;
}

void
alert_id(const vigil_post *pv, const char *rule,
    const unsigned char content_hash[32], char out[33])
{
	if (alert_id_digest(pv, rule, content_hash, out) != 0)
		out[0] = '\0';
}

/* ------------------------------------------------------------ JSON */

/* Sets key (a literal, so not checked as UTF-8) to v, which it takes;
 * fails (freeing v) when v is NULL. */
static int
put(json_t *obj, const char *key, json_t *v)
{
	return json_object_set_new_nocheck(obj, key, v);
}

json_t *
verdict_opt_string(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
str_or_null(vigil_str s)
{
	return s.len > 0 ? json_stringn(s.ptr, s.len) : json_null();
}

json_t *
verdict_time(int64_t us)
{
	char buf[32];

	return json_string(rfc3339_format(us, buf, sizeof(buf)));
}

static json_t *
post_object(const vigil_post *p)
{
	json_t *o = json_object(), *a = json_object();

	if (o == NULL || a == NULL || put(a, "id", str_or_null(p->author_id)) ||
	    put(a, "handle", str_or_null(p->author_handle)) ||
	    put(a, "name", str_or_null(p->author_name)) ||
	    put(a, "kind", json_string(author_kind_name(p->author_kind))))
		goto fail;
	if (put(o, "platform", str_or_null(p->platform)) ||
	    put(o, "channel", str_or_null(p->channel)) ||
	    put(o, "url", str_or_null(p->url)) ||
	    put(o, "created_at", verdict_time(p->created_at)) ||
	    put(o, "lang", str_or_null(p->lang)) ||
	    put(o, "author", json_incref(a)))
		goto fail;
	json_decref(a);
	return o;
fail:
	json_decref(a);
	json_decref(o);
	return NULL;
}

json_t *
verdict_legal_object(const char *law, const char *article, const char *penalty)
{
	json_t *o = json_object();

	if (o == NULL || put(o, "law", verdict_opt_string(law)) ||
	    put(o, "article", verdict_opt_string(article)) ||
	    put(o, "penalty", verdict_opt_string(penalty))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *
verdict_window_object(const char *name, int64_t start, int64_t end)
{
	json_t *o = json_object();

	if (o == NULL || put(o, "name", json_string(name)) ||
	    put(o, "start", verdict_time(start)) ||
	    put(o, "end", verdict_time(end))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *
finding_evidence_json(const vigil_findings *fs, size_t at)
{
	const vigil_finding *f   = fs->items[at];
	json_t              *arr = json_array();
	char                 name[48];

	if (arr == NULL)
		return NULL;
	for (size_t i = 0; i < f->n_ev; i++) {
		const evidence *ev = &f->ev[i];
		json_t         *o  = json_object();

		if (json_array_append_new(arr, o) != 0 ||
		    put(o, "field",
		        json_string(
		            post_field_name(ev->field, name, sizeof(name)))) ||
		    put(o, "start", json_integer((json_int_t)ev->start)) ||
		    put(o, "end", json_integer((json_int_t)ev->end)) ||
		    put(o, "excerpt", json_string(ev->excerpt))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

json_t *
finding_signals_json(const vigil_findings *fs, size_t at)
{
	const vigil_finding *f   = fs->items[at];
	json_t              *arr = json_array();

	if (arr == NULL)
		return NULL;
	for (size_t i = 0; i < f->n_sig; i++) {
		json_t *o = json_object();

		if (json_array_append_new(arr, o) != 0 ||
		    put(o, "name", json_string(f->sig[i].name)) ||
		    put(o, "weight", json_real(f->sig[i].weight))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

int
finding_view_at(const vigil_post *pv, const vigil_findings *fs, size_t i,
    const thresholds *t, const unsigned char hash[32], finding_view *out)
{
	const vigil_finding *f = fs->items[i];

	if (alert_id_digest(pv, f->rule, hash, out->id) != 0)
		return -1;
	out->rule         = f->rule;
	out->jurisdiction = f->jurisdiction;
	out->title        = f->title;
	out->law          = f->law;
	out->article      = f->article;
	out->penalty      = f->penalty;
	out->window       = f->window;
	out->window_start = f->window_start;
	out->window_end   = f->window_end;
	out->score        = f->score;
	out->severity     = finding_severity(f, t);
	out->excerpt      = f->n_ev > 0 ? f->ev[0].excerpt : NULL;
	return 0;
}

void
verdict_tally(const finding_view *v, vigil_severity *sev, double *score)
{
	if (v->severity > *sev)
		*sev = v->severity;
	*score += v->score;
}

/* Finding i of fs as the verdict writes it, from its view v. */
static json_t *
finding_object(const vigil_findings *fs, size_t i, const finding_view *v)
{
	json_t *o = json_object();

	if (o == NULL || put(o, "rule", json_string(v->rule)) ||
	    put(o, "jurisdiction", verdict_opt_string(v->jurisdiction)) ||
	    put(o, "alert_id", json_string(v->id)) ||
	    put(o, "score", json_real(v->score)) ||
	    put(o, "severity", json_string(severity_names[v->severity])) ||
	    put(o, "title", json_string(v->title)))
		goto fail;
	if (FINDING_HAS_LEGAL(v) &&
	    put(o, "legal",
	        verdict_legal_object(v->law, v->article, v->penalty)))
		goto fail;
	if (v->window != NULL &&
	    put(o, "window",
	        verdict_window_object(
	            v->window, v->window_start, v->window_end)))
		goto fail;
	if (put(o, "evidence", finding_evidence_json(fs, i)) ||
	    put(o, "signals", finding_signals_json(fs, i)))
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* Adds the findings and the post to the verdict; sums up as it goes. */
static int
add_findings(json_t *root, const vigil_post *pv, const vigil_findings *f,
    const thresholds *t, vigil_severity *sev, double *score)
{
	unsigned char hash[32];
	json_t       *arr = json_array();

	if (arr == NULL || put(root, "findings", arr))
		return -1;
	if (f == NULL || f->n == 0)
		return 0;
	if (post_content_digest(pv, hash) != 0)
		return -1;
	for (size_t i = 0; i < f->n; i++) {
		finding_view v;

		if (finding_view_at(pv, f, i, t, hash, &v) != 0)
			return -1;
		verdict_tally(&v, sev, score);
		if (json_array_append_new(arr, finding_object(f, i, &v)) != 0)
			return -1;
	}
	return put(root, "post", post_object(pv));
}

/* Most posts have no findings: their verdict is a fixed text around the
 * post id, which jansson escapes, without building a tree. Same bytes as
 * the general path. */
static char *
verdict_empty(const vigil_post *pv, size_t *len)
{
	json_t *id = json_stringn(pv->id.ptr, pv->id.len);
	char   *qid, *out = NULL;
	int     n;

	if (id == NULL)
		return NULL;
	qid = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
	json_decref(id);
	if (qid == NULL)
		return NULL;
	n = asprintf(&out,
	    "{\"post_id\":%s,\"severity\":\"none\",\"score\":0.0,"
	    "\"findings\":[]}",
	    qid);
	free(qid);
	if (n < 0)
		return NULL;
	if (len != NULL)
		*len = (size_t)n;
	return out;
}

static json_t *
verdict_tree(const vigil_post *pv, const vigil_findings *f, const thresholds *t,
    vigil_severity *sev_out, double *score_out)
{
	vigil_severity sev   = VIGIL_SEV_NONE;
	double         score = 0;
	json_t        *root  = json_object();

	if (root == NULL || put(root, "post_id", str_or_null(pv->id)))
		goto fail;
	/* Placeholders keep the documented key order; filled in below. */
	if (put(root, "severity", json_null()) ||
	    put(root, "score", json_null()))
		goto fail;
	if (add_findings(root, pv, f, t, &sev, &score) != 0)
		goto fail;
	if (put(root, "severity", json_string(severity_names[sev])) ||
	    put(root, "score", json_real(score)))
		goto fail;
	if (sev_out != NULL)
		*sev_out = sev;
	if (score_out != NULL)
		*score_out = score;
	return root;
fail:
	json_decref(root);
	return NULL;
}

char *
verdict_json(const vigil_post *pv, const vigil_findings *f, const thresholds *t,
    vigil_severity *sev_out, double *score_out, size_t *len)
{
	json_t *root;
	char   *out;

	if (findings_count(f) == 0 && pv->id.len > 0) {
		if (sev_out != NULL)
			*sev_out = VIGIL_SEV_NONE;
		if (score_out != NULL)
			*score_out = 0;
		return verdict_empty(pv, len);
	}
	if ((root = verdict_tree(pv, f, t, sev_out, score_out)) == NULL)
		return NULL;
	out = json_dumps(root, DUMP_FLAGS);
	json_decref(root);
	if (out != NULL && len != NULL)
		*len = strlen(out);
	return out;
}
