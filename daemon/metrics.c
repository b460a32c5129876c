/*
 * metrics.c - the registry of counters, histograms and gauge callbacks and
 * its Prometheus text exposition (format 0.0.4).
 *
 * Series are grouped in families by name; a family has one type and one
 * HELP text, and its series differ by their label sets. Families and
 * series are written in the order they were first created.
 *
 * Updates take no lock: a counter is one atomic uint64; a histogram keeps
 * one atomic count per bucket (not cumulative: the exposition adds them up,
 * so that the +Inf bucket and _count always agree) and its sum as the bit
 * pattern of a double in an atomic uint64, added to with a compare-and-swap
 * loop. Creation, gauge registration and exposition take the registry's
 * mutex; handles stay valid until metrics_reset.
 */
#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

static_assert(sizeof(double) == sizeof(uint64_t),
    "histogram sums keep a double's bits in a uint64");

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
};

static const char *const type_names[] = {
    [METRIC_COUNTER]   = "counter",
    [METRIC_GAUGE]     = "gauge",
    [METRIC_HISTOGRAM] = "histogram",
};

struct vigil_counter {
	_Atomic uint64_t value;
};

struct vigil_histogram {
	size_t            n_bounds;
	double           *bounds;
	_Atomic uint64_t *buckets; /* n_bounds + 1; the last one is +Inf */
	_Atomic uint64_t  sum_bits;
};

struct series {
	char *labels; /* validated label set, "" when none */
	union {
		vigil_counter   counter;
		vigil_histogram hist;
		struct {
			double (*fn)(void *arg);
			void *arg;
		} gauge;
	} u;
};

struct family {
	char            *name;
	char            *help;
	enum metric_type type;
	struct series  **series;
	size_t           n_series, cap_series;
};

static struct {
	pthread_mutex_t lock;
	struct family **fams;
	size_t          n_fams, cap_fams;
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const char *const hist_suffixes[] = {"_bucket", "_sum", "_count"};

/* ------------------------------------------------------------ validation */

static bool
name_valid(const char *name)
{
	if (name == NULL || !((*name >= 'a' && *name <= 'z') || *name == '_'))
		return false;
	for (const char *p = name + 1; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		        *p == '_'))
			return false;
	return true;
}

static bool
label_name_char(char ch, bool first)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_')
		return true;
	return !first && ch >= '0' && ch <= '9';
}

/* Checks one `name="value"` pair at *pp and moves past it. */
static const char *
label_pair_check(const char **pp, bool histogram)
{
	const char *p = *pp, *start = p;

	if (!label_name_char(*p, true))
		return "a label name must start with a letter or '_'";
	while (label_name_char(*p, false))
		p++;
	if (p - start >= 2 && start[0] == '_' && start[1] == '_')
		return "label names starting with '__' are reserved";
	if (histogram && p - start == 2 && strncmp(start, "le", 2) == 0)
		return "'le' is reserved in histograms";
	if (*p++ != '=')
		return "expected '=' after the label name";
	if (*p++ != '"')
		return "expected '\"' to open the label value";
	for (; *p != '"'; p++) {
		if (*p == '\0' || *p == '\n')
			return "unterminated label value";
		if (*p == '\\') {
			p++;
			if (*p != '\\' && *p != '"' && *p != 'n')
				return "bad escape in label value (only \\\\, "
				       "\\\" and \\n)";
		}
	}
	*pp = p + 1;
	return NULL;
}

/* Returns NULL when labels is a well-formed label set, or the reason. */
static const char *
labels_check(const char *labels, bool histogram)
{
	const char *p = labels, *why;

	if (*p == '\0')
		return NULL;
	for (;;) {
		if ((why = label_pair_check(&p, histogram)) != NULL)
			return why;
		if (*p == '\0')
			return NULL;
		if (*p++ != ',')
			return "expected ',' between labels";
		if (*p == '\0')
			return "trailing ','";
	}
}

/* ------------------------------------------------------------ the registry */

static struct family *
family_find(const char *name)
{
	for (size_t i = 0; i < reg.n_fams; i++)
		if (strcmp(reg.fams[i]->name, name) == 0)
			return reg.fams[i];
	return NULL;
}

/* A histogram's _bucket, _sum and _count series must not meet another
 * family's name. */
static const char *
family_clash(const char *name, enum metric_type type)
{
	size_t nlen = strlen(name);

	for (size_t i = 0; i < reg.n_fams; i++) {
		const struct family *f    = reg.fams[i];
		size_t               flen = strlen(f->name);

		for (size_t k = 0;
		     k < sizeof(hist_suffixes) / sizeof(*hist_suffixes); k++) {
			const char *suf  = hist_suffixes[k];
			size_t      slen = strlen(suf);

			if (type == METRIC_HISTOGRAM && flen == nlen + slen &&
			    strncmp(f->name, name, nlen) == 0 &&
			    strcmp(f->name + nlen, suf) == 0)
				return f->name;
			if (f->type == METRIC_HISTOGRAM &&
			    nlen == flen + slen &&
			    strncmp(name, f->name, flen) == 0 &&
			    strcmp(name + flen, suf) == 0)
				return f->name;
		}
	}
	return NULL;
}

static void
series_free(struct series *s, enum metric_type type)
{
	if (s == NULL)
		return;
	if (type == METRIC_HISTOGRAM) {
		free(s->u.hist.bounds);
		free(s->u.hist.buckets);
	}
	free(s->labels);
	free(s);
}

static void
family_free(struct family *f)
{
	for (size_t i = 0; i < f->n_series; i++)
		series_free(f->series[i], f->type);
	free(f->series);
	free(f->name);
	free(f->help);
	free(f);
}

/* Finds or creates the family; NULL (logged) on a type conflict or
 * allocation failure. Called with the lock held. */
static struct family *
family_get(const char *name, const char *help, enum metric_type type)
{
	struct family *f = family_find(name), **fams;
	const char    *other;

	if (f != NULL) {
		if (f->type == type)
			return f;
		log_err("metrics: '%s' is already a %s, not a %s", name,
		    type_names[f->type], type_names[type]);
		return NULL;
	}
	if ((other = family_clash(name, type)) != NULL) {
		log_err("metrics: '%s' would clash with the series of '%s'",
		    name, other);
		return NULL;
	}
	if (reg.n_fams == reg.cap_fams) {
		size_t cap = reg.cap_fams ? reg.cap_fams * 2 : 16;

		if ((fams = realloc(reg.fams, cap * sizeof(*fams))) == NULL)
			goto nomem;
		reg.fams     = fams;
		reg.cap_fams = cap;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		goto nomem;
	f->type = type;
	f->name = strdup(name);
	f->help = strdup(help != NULL ? help : "");
	if (f->name == NULL || f->help == NULL) {
		family_free(f);
		goto nomem;
	}
	reg.fams[reg.n_fams++] = f;
	return f;
nomem:
	log_err("metrics: out of memory creating '%s'", name);
	return NULL;
}

static struct series *
series_find(const struct family *f, const char *labels)
{
	for (size_t i = 0; i < f->n_series; i++)
		if (strcmp(f->series[i]->labels, labels) == 0)
			return f->series[i];
	return NULL;
}

/* Appends a new zeroed series to f; NULL on allocation failure. */
static struct series *
series_add(struct family *f, const char *labels)
{
	struct series *s, **arr;

	if (f->n_series == f->cap_series) {
		size_t cap = f->cap_series ? f->cap_series * 2 : 4;

		if ((arr = realloc(f->series, cap * sizeof(*arr))) == NULL)
			return NULL;
		f->series     = arr;
		f->cap_series = cap;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->labels = strdup(labels)) == NULL) {
		free(s);
		return NULL;
	}
	f->series[f->n_series++] = s;
	return s;
}

/* Checks name and labels; on success *labels is never NULL. */
static bool
args_check(const char *name, const char **labels, bool histogram)
{
	const char *why;

	if (!name_valid(name)) {
		log_err("metrics: bad metric name '%s': must match "
		        "[a-z_][a-z0-9_]*",
		    name != NULL ? name : "(null)");
		return false;
	}
	if (*labels == NULL)
		*labels = "";
	if ((why = labels_check(*labels, histogram)) != NULL) {
		log_err(
		    "metrics: '%s': bad labels {%s}: %s", name, *labels, why);
		return false;
	}
	return true;
}

vigil_counter *
metrics_counter(const char *name, const char *help, const char *labels)
{
	struct family *f;
	struct series *s;
	vigil_counter *c = NULL;

	if (!args_check(name, &labels, false))
		return NULL;
	pthread_mutex_lock(&reg.lock);
	if ((f = family_get(name, help, METRIC_COUNTER)) == NULL)
		goto out;
	if ((s = series_find(f, labels)) == NULL &&
	    (s = series_add(f, labels)) == NULL) {
		log_err("metrics: out of memory creating '%s'", name);
		goto out;
	}
	c = &s->u.counter;
out:
	pthread_mutex_unlock(&reg.lock);
	return c;
}

void
metrics_counter_add(vigil_counter *c, uint64_t n)
{
	if (c != NULL)
		atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

uint64_t
metrics_counter_value(const vigil_counter *c)
{
	if (c == NULL)
		return 0;
	return atomic_load_explicit(
	    &((vigil_counter *)c)->value, memory_order_relaxed);
}

static bool
bounds_check(const char *name, const double *bounds, size_t n)
{
	if (n > 0 && bounds == NULL) {
		log_err("metrics: '%s': no bounds given", name);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(bounds[i])) {
			log_err("metrics: '%s': bucket bound %zu is not finite",
			    name, i);
			return false;
		}
		if (i > 0 && !(bounds[i] > bounds[i - 1])) {
			log_err("metrics: '%s': bucket bounds must ascend "
			        "(bound %zu)",
			    name, i);
			return false;
		}
	}
	return true;
}

static bool
bounds_equal(const vigil_histogram *h, const double *bounds, size_t n)
{
	if (h->n_bounds != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (h->bounds[i] != bounds[i])
			return false;
	return true;
}

static int
hist_init(vigil_histogram *h, const double *bounds, size_t n)
{
	h->n_bounds = n;
	h->bounds   = malloc((n > 0 ? n : 1) * sizeof(*h->bounds));
	h->buckets  = calloc(n + 1, sizeof(*h->buckets));
	if (h->bounds == NULL || h->buckets == NULL)
		return -1;
	if (n > 0)
		memcpy(h->bounds, bounds, n * sizeof(*bounds));
	return 0;
}

vigil_histogram *
metrics_histogram(const char *name, const char *help, const char *labels,
    const double *bounds, size_t n_bounds)
{
	struct family   *f;
	struct series   *s;
	vigil_histogram *h = NULL;

	if (!args_check(name, &labels, true) ||
	    !bounds_check(name, bounds, n_bounds))
		return NULL;
	pthread_mutex_lock(&reg.lock);
	if ((f = family_get(name, help, METRIC_HISTOGRAM)) == NULL)
		goto out;
	if ((s = series_find(f, labels)) != NULL) {
		if (bounds_equal(&s->u.hist, bounds, n_bounds))
			h = &s->u.hist;
		else
			log_err("metrics: '%s{%s}' exists with other bounds",
			    name, labels);
		goto out;
	}
	if ((s = series_add(f, labels)) == NULL ||
	    hist_init(&s->u.hist, bounds, n_bounds) == -1) {
		if (s != NULL) {
			f->n_series--;
			series_free(s, METRIC_HISTOGRAM);
		}
		log_err("metrics: out of memory creating '%s'", name);
		goto out;
	}
	h = &s->u.hist;
out:
	pthread_mutex_unlock(&reg.lock);
	return h;
}

/* NaN is dropped: it would turn the sum into NaN for good. */
void
metrics_histogram_observe(vigil_histogram *h, double v)
{
	size_t   lo = 0, hi;
	uint64_t old, new;
	double   sum;

	if (h == NULL || isnan(v))
		return;
	/* The first bucket whose bound is >= v. */
	hi = h->n_bounds;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v <= h->bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	atomic_fetch_add_explicit(&h->buckets[lo], 1, memory_order_relaxed);
	old = atomic_load_explicit(&h->sum_bits, memory_order_relaxed);
	do {
		memcpy(&sum, &old, sizeof(sum));
		sum += v;
		memcpy(&new, &sum, sizeof(new));
	} while (!atomic_compare_exchange_weak_explicit(&h->sum_bits, &old, new,
	    memory_order_relaxed, memory_order_relaxed));
}

void
metrics_gauge_fn(const char *name, const char *help, const char *labels,
    double (*fn)(void *arg), void *arg)
{
	struct family *f;
	struct series *s;

	if (fn == NULL) {
		log_err("metrics: gauge '%s' has no function",
		    name != NULL ? name : "(null)");
		return;
	}
	if (!args_check(name, &labels, false))
		return;
	pthread_mutex_lock(&reg.lock);
	if ((f = family_get(name, help, METRIC_GAUGE)) == NULL)
		goto out;
	if ((s = series_find(f, labels)) == NULL &&
	    (s = series_add(f, labels)) == NULL) {
		log_err("metrics: out of memory creating '%s'", name);
		goto out;
	}
	s->u.gauge.fn  = fn;
	s->u.gauge.arg = arg;
out:
	pthread_mutex_unlock(&reg.lock);
}

void
metrics_gauge_remove(const char *name, const char *labels)
{
	struct family *f;

	if (name == NULL)
		return;
	if (labels == NULL)
		labels = "";
	pthread_mutex_lock(&reg.lock);
	f = family_find(name);
	if (f != NULL && f->type == METRIC_GAUGE) {
		for (size_t i = 0; i < f->n_series; i++) {
			if (strcmp(f->series[i]->labels, labels) != 0)
				continue;
			series_free(f->series[i], METRIC_GAUGE);
			memmove(&f->series[i], &f->series[i + 1],
			    (f->n_series - i - 1) * sizeof(*f->series));
			f->n_series--;
			break;
		}
	}
	pthread_mutex_unlock(&reg.lock);
}

void
metrics_reset(void)
{
	pthread_mutex_lock(&reg.lock);
	for (size_t i = 0; i < reg.n_fams; i++)
		family_free(reg.fams[i]);
	free(reg.fams);
	reg.fams   = NULL;
	reg.n_fams = reg.cap_fams = 0;
	pthread_mutex_unlock(&reg.lock);
}

int
metrics_label(char *buf, size_t len, const char *name, const char *value)
{
	size_t n = strnlen(buf, len), orig = n;

	if (n == len || !label_name_char(name[0], true))
		return -1;
	for (const char *p = name; *p != '\0'; p++)
		if (!label_name_char(*p, false))
			return -1;
	/* Room for ',', name, '="', the value escaped, '"' and the NUL. */
	if (n > 0) {
		if (n + 1 >= len)
			goto full;
		buf[n++] = ',';
	}
	for (const char *p = name; *p != '\0'; p++) {
		if (n + 1 >= len)
			goto full;
		buf[n++] = *p;
	}
	if (n + 2 >= len)
		goto full;
	buf[n++] = '=';
	buf[n++] = '"';
	for (const char *p = value; *p != '\0'; p++) {
		char esc = *p == '\\' ? '\\'
		    : *p == '"'       ? '"'
		    : *p == '\n'      ? 'n'
		                      : 0;

		if (n + (esc ? 2 : 1) >= len)
			goto full;
		if (esc) {
			buf[n++] = '\\';
			buf[n++] = esc;
		} else {
			buf[n++] = *p;
		}
	}
	if (n + 1 >= len)
		goto full;
	buf[n++] = '"';
	buf[n]   = '\0';
	return 0;
full:
	buf[orig] = '\0';
	return -1;
}

/* ------------------------------------------------------------ exposition */

/* The shortest of %.15g and %.17g that reads back as v. */
static void
format_double(char *buf, size_t len, double v)
{
	if (isnan(v)) {
		snprintf(buf, len, "NaN");
	} else if (isinf(v)) {
		snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
	} else {
		snprintf(buf, len, "%.15g", v);
		if (strtod(buf, NULL) != v)
			snprintf(buf, len, "%.17g", v);
	}
}

static void
write_help(FILE *out, const struct family *f)
{
	if (f->help[0] == '\0')
		return;
	fprintf(out, "# HELP %s ", f->name);
	for (const char *p = f->help; *p != '\0'; p++) {
		if (*p == '\\')
			fputs("\\\\", out);
		else if (*p == '\n')
			fputs("\\n", out);
		else
			fputc(*p, out);
	}
	fputc('\n', out);
}

/* name{labels} with an optional extra pair, or name alone. */
static void
write_series_name(FILE *out, const char *name, const char *suffix,
    const char *labels, const char *le)
{
	fprintf(out, "%s%s", name, suffix);
	if (labels[0] == '\0' && le == NULL)
		return;
	fprintf(out, "{%s", labels);
	if (le != NULL)
		fprintf(out, "%sle=\"%s\"", labels[0] != '\0' ? "," : "", le);
	fputc('}', out);
}

static void
write_histogram(FILE *out, const struct family *f, const struct series *s)
{
	const vigil_histogram *h          = &s->u.hist;
	uint64_t               cumulative = 0, bits;
	char                   num[64];
	double                 sum;

	for (size_t i = 0; i <= h->n_bounds; i++) {
		cumulative += atomic_load_explicit(
		    &((vigil_histogram *)h)->buckets[i], memory_order_relaxed);
		if (i < h->n_bounds)
			format_double(num, sizeof(num), h->bounds[i]);
		else
			snprintf(num, sizeof(num), "+Inf");
		write_series_name(out, f->name, "_bucket", s->labels, num);
		fprintf(out, " %llu\n", (unsigned long long)cumulative);
	}
	bits = atomic_load_explicit(
	    &((vigil_histogram *)h)->sum_bits, memory_order_relaxed);
	memcpy(&sum, &bits, sizeof(sum));
	format_double(num, sizeof(num), sum);
	write_series_name(out, f->name, "_sum", s->labels, NULL);
	fprintf(out, " %s\n", num);
	write_series_name(out, f->name, "_count", s->labels, NULL);
	fprintf(out, " %llu\n", (unsigned long long)cumulative);
}

static void
write_family(FILE *out, const struct family *f)
{
	char num[64];

	if (f->n_series == 0)
		return;
	write_help(out, f);
	fprintf(out, "# TYPE %s %s\n", f->name, type_names[f->type]);
	for (size_t i = 0; i < f->n_series; i++) {
		const struct series *s = f->series[i];

		switch (f->type) {
		case METRIC_COUNTER:
			write_series_name(out, f->name, "", s->labels, NULL);
			fprintf(out, " %llu\n",
			    (unsigned long long)metrics_counter_value(
			        &s->u.counter));
			break;
		case METRIC_GAUGE:
			format_double(
			    num, sizeof(num), s->u.gauge.fn(s->u.gauge.arg));
			write_series_name(out, f->name, "", s->labels, NULL);
			fprintf(out, " %s\n", num);
			break;
		case METRIC_HISTOGRAM: write_histogram(out, f, s); break;
		}
	}
}

void
metrics_write(FILE *out)
{
	pthread_mutex_lock(&reg.lock);
	for (size_t i = 0; i < reg.n_fams; i++)
		write_family(out, reg.fams[i]);
	pthread_mutex_unlock(&reg.lock);
}
