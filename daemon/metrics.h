/*
 * metrics.h - counters and histograms that the daemon and plugins keep
 * (vigil_host.counter / histogram), with labels fixed at creation, and
 * their Prometheus text exposition. Updates are lock-free atomics [any
 * thread]; creation and exposition take a lock.
 */
#ifndef VIGIL_METRICS_H
#define VIGIL_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <vigil/plugin.h>

/* Finds or creates a counter; name must match [a-z_][a-z0-9_]*; labels is
 * a preformatted label set such as `instance="jsonl/sample"` or NULL.
 * Label names match [a-zA-Z_][a-zA-Z0-9_]* (not "__..."), values are
 * escaped as Prometheus wants (\\, \" and \n; see metrics_label).
 * The same (name, labels) gives the same handle. Returns NULL (logged) on
 * a bad name or label set, a name already used by another type, or
 * allocation failure. Owned by the registry; valid until metrics_reset.
 * counter_add and counter_value accept NULL (a no-op, 0). */
vigil_counter *metrics_counter(
    const char *name, const char *help, const char *labels);
void     metrics_counter_add(vigil_counter *c, uint64_t n);
uint64_t metrics_counter_value(const vigil_counter *c);

/* bounds finite and strictly ascending (copied); an implicit +Inf bucket
 * follows. labels must not use "le". Asking again for the same (name,
 * labels) returns the same handle if the bounds match, else NULL. NaN
 * observations are dropped. Both handle functions accept NULL. */
vigil_histogram *metrics_histogram(const char *name, const char *help,
    const char *labels, const double *bounds, size_t n_bounds);
void             metrics_histogram_observe(vigil_histogram *h, double v);

/* Prometheus text format 0.0.4, grouped by name with HELP and TYPE once;
 * families and series in creation order. A histogram's _count is the sum
 * of its buckets, read at once, so it always equals its +Inf bucket. */
void metrics_write(FILE *out);
/* A gauge whose value is read at exposition time. fn runs under the
 * registry's lock, on the thread that calls metrics_write: it must not
 * call metrics functions. Registering the same (name, labels) again
 * replaces fn and arg. Errors are logged. */
void metrics_gauge_fn(const char *name, const char *help, const char *labels,
    double (*fn)(void *arg), void *arg);
/* Forgets a gauge, before what its arg points to goes away. */
void metrics_gauge_remove(const char *name, const char *labels);
/* Appends the pair name="value" to the label set in buf (a NUL-terminated
 * string, "" to start), with ',' between pairs and value escaped (\\, \"
 * and \n). Returns 0, or -1 with buf unchanged when the name is not a
 * label name or the result does not fit in len bytes. */
int metrics_label(char *buf, size_t len, const char *name, const char *value);
/* Frees everything (at exit). */
void metrics_reset(void);

#endif
