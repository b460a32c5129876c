/*
 * fuzz_post.c - libFuzzer harness for post_parse, the first reader of
 * outside input in the worker. Any input must be refused with a reason or
 * parsed; a parsed post then goes the whole way a post goes (normalized
 * fields, findings with evidence on every field, verdict_json), and the
 * verdict it gives must be read back by alert_set_from_verdict: a verdict
 * vigild refuses would be an alert lost. A lexicon of every pattern kind
 * (terms, stems, a regex) scans each post too, its hits turned into
 * signals and evidence, as a jurisdiction plugin does.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "lexicon.h"
#include "post.h"
#include "text.h"
#include "verdict.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vigil_lexicon *lexicon;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const terms[] = {"за кого", "nur otan", "poll"};
	static const char *const stems[] = {"голосу", "сайлау", "опрос"};
	static const char *const regex[] = {"\\d{1,3}\\s?%"};
	const vigil_signal_def   defs[]  = {
	       {.name = "terms", .weight = 1, .terms = terms, .n_terms = 3},
	       {.name = "stems", .weight = 2, .stems = stems, .n_stems = 3},
	       {.name = "regex", .weight = -1, .regex = regex, .n_regex = 1},
        };
	char err[256];

	(void)argc;
	(void)argv;
	if (text_init() != 0 ||
	    (lexicon = lexicon_new(defs, 3, err, sizeof(err))) == NULL)
		abort();
	return 0;
}

static void
add_hits(vigil_findings *f, const vigil_post *v)
{
	vigil_hit          hits[3];
	vigil_finding_spec spec = {
	    .struct_size = sizeof(spec), .rule = "fuzz.lexicon", .score = 1};
	vigil_finding *fi;

	if (lexicon_scan(lexicon, v, hits) != VIGIL_OK)
		return; /* logged: malformed input the host refused */
	if ((fi = findings_add(f, &spec)) == NULL)
		abort();
	for (size_t i = 0; i < 3; i++) {
		if (hits[i].count > 0 &&
		    (hits[i].field >= v->n_fields ||
		        hits[i].start > hits[i].end ||
		        hits[i].end > post_field(v, hits[i].field).len))
			abort();
		(void)finding_hit(fi, v, lexicon, hits, i);
	}
}

/* One finding per field, with evidence over its middle third. */
static void
add_findings(vigil_findings *f, const vigil_post *v)
{
	vigil_finding_spec spec = {
	    .struct_size  = sizeof(spec),
	    .rule         = "fuzz.rule",
	    .jurisdiction = "kz",
	    .score        = 1.5,
	    .floor        = VIGIL_SEV_NOTICE,
	    .title        = "fuzz",
	    .law          = "law",
	    .window       = "window",
	    .window_start = v->created_at,
	    .window_end   = v->created_at + 1,
	};

	for (unsigned field = 0; field < v->n_fields && field < 8; field++) {
		vigil_str      s  = post_field(v, field);
		vigil_finding *fi = findings_add(f, &spec);
		char           name[32];

		if (fi == NULL)
			abort();
		if (post_field_name(field, name, sizeof(name)) == NULL)
			abort();
		(void)post_norm(v, field);
		if (finding_evidence(fi, v, field, s.len / 3, 2 * s.len / 3) !=
		        VIGIL_OK ||
		    finding_signal(fi, name, 0.5) != VIGIL_OK)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const thresholds thr = {1, 2, 3};
	char                    err[256];
	vigil_findings         *f;
	alert_set              *alerts;
	post                   *p;
	size_t                  len;
	char                   *verdict;

	if (post_parse((const char *)data, size, &p, err, sizeof(err)) != 0) {
		if (p != NULL || err[0] == '\0')
			abort();
		return 0;
	}
	f = findings_new();
	if (f == NULL)
		abort();
	add_findings(f, post_view(p));
	add_hits(f, post_view(p));
	verdict = verdict_json(post_view(p), f, &thr, NULL, NULL, &len);
	if (verdict == NULL)
		abort();
	alerts = alert_set_from_verdict(verdict, len, 0, err, sizeof(err));
	if (alerts == NULL) {
		fprintf(stderr, "verdict refused: %s\n%s\n", err, verdict);
		abort();
	}
	if (alert_set_count(alerts) != findings_count(f))
		abort();
	alert_set_free(alerts);
	free(verdict);
	findings_free(f);
	post_free(p);
	return 0;
}
