/*
 * verdict.h - findings as rules build them, and the verdict they add up to
 * (doc/verdicts.md): scores to severities through thresholds, the rspamd
 * way, with a per-finding floor and cap; stable alert ids.
 */
#ifndef VIGIL_VERDICT_H
#define VIGIL_VERDICT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <vigil/plugin.h>

typedef struct thresholds {
	double notice;
	double warning;
	double alert;
} thresholds;

/* "none", "notice", "warning", "alert" (any case): 0, or -1. */
int severity_parse(const char *name, vigil_severity *out);
/* The highest severity whose threshold the score reaches (score >=
 * threshold), NONE below notice. */
vigil_severity severity_from_score(const thresholds *t, double score);

/* A list of findings for one post at a time; one thread at a time.
 * findings_new returns NULL when out of memory; findings_clear drops the
 * findings (and invalidates the vigil_finding pointers) but keeps the
 * room, for the next post. */
vigil_findings *findings_new(void);
void            findings_free(vigil_findings *f);
void            findings_clear(vigil_findings *f);
size_t          findings_count(const vigil_findings *f);

/* Host services (see vigil_host).
 * findings_add copies the spec's strings; a NULL title becomes the rule
 * id. Returns NULL, adding nothing, when the spec is refused: struct_size
 * below this ABI's, rule NULL or empty, a score that is not finite, floor
 * or cap not a severity, a string that is not UTF-8; or out of memory.
 * The finding lives until findings_clear or findings_free.
 * finding_evidence records [orig_start, orig_end) of field (original
 * bytes, widened to whole characters) with an excerpt: the evidence plus
 * up to 40 bytes each side, cut between characters, with U+2026 where
 * the field goes on. VIGIL_ERR when the field or the range is out of the
 * post, or out of memory.
 * finding_signal records a copy of name with its weight; VIGIL_ERR for a
 * NULL or non-UTF-8 name, a weight that is not finite, or no memory. */
vigil_finding *findings_add(vigil_findings *out, const vigil_finding_spec *s);
int finding_evidence(vigil_finding *f, const vigil_post *post, unsigned field,
    size_t orig_start, size_t orig_end);
int finding_signal(vigil_finding *f, const char *name, double weight);

/* One finding as its verdict and its alert show it: the strings are the
 * finding's (valid until findings_clear), NULL where absent; the
 * severity is the finding's (floor and cap applied); excerpt is the first
 * evidence's. */
typedef struct finding_view {
	char           id[33]; /* alert id (alert_id) */
	const char    *rule, *jurisdiction, *title;
	const char    *law, *article, *penalty;
	const char    *window; /* NULL: no window */
	int64_t        window_start, window_end;
	double         score;
	vigil_severity severity;
	const char    *excerpt;
} finding_view;

/* A finding has a "legal" object when any of its three parts is set. */
#define FINDING_HAS_LEGAL(v)                                                   \
	((v)->law != NULL || (v)->article != NULL || (v)->penalty != NULL)

/* Finding i of f (i < findings_count) as above; hash is the post's
 * content hash (post_content_digest). -1 when OpenSSL fails. */
int finding_view_at(const vigil_post *post, const vigil_findings *f, size_t i,
    const thresholds *t, const unsigned char hash[32], finding_view *out);
/* Its evidence [{field, start, end, excerpt}] and signals [{name,
 * weight}], as verdicts and alert documents write them. NULL when out of
 * memory. */
json_t *finding_evidence_json(const vigil_findings *f, size_t i);
json_t *finding_signals_json(const vigil_findings *f, size_t i);
/* Adds a finding to its verdict's tally: the verdict's severity is the
 * highest of its findings', its score their sum. */
void verdict_tally(const finding_view *v, vigil_severity *sev, double *score);

/* Values as verdicts and alert documents write them: an absent string as
 * null, a time as RFC 3339 UTC. NULL on allocation failure. */
json_t *verdict_opt_string(const char *s);
json_t *verdict_time(int64_t us);

/* The "legal" and "window" objects of a finding, shared by verdicts and
 * alert documents so that both say the same thing the same way (times as
 * RFC 3339 UTC). NULL on allocation failure. */
json_t *verdict_legal_object(
    const char *law, const char *article, const char *penalty);
json_t *verdict_window_object(const char *name, int64_t start, int64_t end);

/* How verdict_json writes a verdict: one line, key order kept, numbers
 * with 15 significant digits. */
#define VERDICT_DUMP_FLAGS                                                     \
	(JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

/* The verdict as JSON, one line, no trailing newline (malloc'd):
 *   {"post_id":…,"severity":…,"score":…,"findings":[…]}
 * and, when there are findings, "post":{platform, channel, url,
 * created_at, lang, author{id,handle,name,kind}}. Each finding: rule,
 * jurisdiction, alert_id, score, severity, title, legal {law, article,
 * penalty}, window {name, start, end}, evidence [{field, start, end,
 * excerpt}], signals [{name, weight}]. Finding severity is
 * max(threshold(score), floor), capped by cap; the verdict's severity is
 * the highest finding severity; the verdict's score is the sum.
 * Keys come in the order above, "post" last; times are RFC 3339 UTC;
 * absent strings are null; legal appears when law, article or penalty
 * is set, window when the window has a name. f may be NULL (no findings).
 * sev, score and len may be NULL. Returns NULL when out of memory (or
 * when a string of a post not made by post_parse is not UTF-8).
 * [any thread] */
char *verdict_json(const vigil_post *post, const vigil_findings *f,
    const thresholds *t, vigil_severity *sev, double *score, size_t *len);

/* 32 hex chars: the first half of SHA-256 over platform, NUL, post id,
 * NUL, rule, NUL, content hash (post_content_hash); "" when OpenSSL
 * fails (out of memory). [any thread] */
void alert_id(const vigil_post *post, const char *rule,
    const unsigned char content_hash[32], char out[33]);

#endif
