/*
 * alert.h - from a verdict to alerts: one per finding, as sinks receive
 * them (vigil_alert) with the alert document (doc/alerts.md, version 1):
 *   {"version":1,"id":…,"rule":…,"jurisdiction":…,"severity":…,"score":…,
 *    "title":…,"legal":{…},"window":{…},"evidence":[…],"signals":[…],
 *    "post":{"id":…,"platform":…,"channel":…,"url":…,"created_at":…,
 *            "author":{…}},"verdict":{"severity":…,"score":…},
 *    "raised_at":…}
 * Runs on the daemon's loop, only for verdicts that have findings.
 */
#ifndef VIGIL_ALERT_H
#define VIGIL_ALERT_H

#include <stddef.h>

#include <jansson.h>
#include <vigil/plugin.h>

#include "verdict.h"

typedef struct alert_set alert_set;

/* Parses a verdict's JSON (as verdict_json makes it) into alerts, one
 * per finding, raised at raised_at (microseconds since the epoch). The
 * text comes from another process: every member is checked, and NULL
 * comes back with a one-line reason in err naming the member ("verdict:
 * field 'findings[0].score': expected a number, got a string") when the
 * text is not such a verdict, or when memory runs out. A verdict without
 * findings gives an empty set. Unknown members are ignored and do not
 * reach the alert documents. Reentrant. */
alert_set *alert_set_from_verdict(
    const char *json, size_t len, int64_t raised_at, char *err, size_t errlen);
/* The same straight from a post's findings, as the worker has them (no
 * verdict text, no checks: vigil made them), with the verdict's severity
 * in *severity (may be NULL). The alerts' strings are the post's and the
 * findings': free the set before post_free or findings_clear. NULL with a
 * reason in err when memory runs out. */
alert_set *alert_set_from_findings(const vigil_post *post,
    const vigil_findings *f, const thresholds *t, int64_t raised_at,
    vigil_severity *severity, char *err, size_t errlen);

/* A compact encoding of a set, so that the worker builds the alerts and
 * vigild only points into what arrives. encode returns 0 with a malloc'd
 * buffer, or -1 on allocation failure. decode checks every length, that
 * strings are UTF-8 without NUL and that id, rule and json are present,
 * and returns NULL with a reason otherwise (the bytes come from another
 * process). */
int        alert_set_encode(const alert_set *s, char **out, size_t *len);
alert_set *alert_set_decode(
    const char *buf, size_t len, char *err, size_t errlen);
/* Frees the set and everything its alerts point to; NULL is fine. */
void   alert_set_free(alert_set *s);
size_t alert_set_count(const alert_set *s);
/* The i-th alert (NULL past the end), owned by the set: its strings are
 * valid until alert_set_free. Optional strings the verdict does not have
 * (jurisdiction, platform, channel, url, author_*, law, article, penalty,
 * window, excerpt) are NULL; token is 0, for the caller to set on its
 * copy. */
const vigil_alert *alert_set_get(const alert_set *s, size_t i);

#endif
