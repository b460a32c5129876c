/*
 * score.h - scoring one post: parse it, pick the rule instances of its
 * jurisdictions, run them, and build the verdict. This is the whole job of
 * a worker; the benchmark and the tests drive it directly.
 */
#ifndef VIGIL_SCORE_H
#define VIGIL_SCORE_H

#include <stdbool.h>
#include <stddef.h>

#include <vigil/plugin.h>

#include "config.h"

typedef struct scorer scorer;

/* Initializes every rule instance of cfg (which must outlive the scorer).
 * Returns NULL with a reason in err. */
scorer *scorer_new(const vigil_config *cfg, char *err, size_t errlen);
void    scorer_free(scorer *s);

/* What scoring one post gives. */
typedef struct score_result {
	int            status; /* WIRE_SCORED or WIRE_INVALID */
	vigil_severity severity;
	char          *text; /* verdict JSON, or the reason */
	size_t         len;
	char          *alerts; /* encoded alert set (alert.h), or NULL */
	size_t         alerts_len;
} score_result;

/* Scores raw post JSON. jur are the input's default jurisdictions for a
 * post that names none. brief: no verdict JSON (text stays NULL for a
 * scored post), only the severity and alerts. A verdict with findings also gets
 * its alerts, built here where the work scales with the workers, encoded for
 * the daemon. Returns 0, or -1 on allocation failure. The caller frees the
 * result with score_result_clear. Not thread-safe per scorer: one scorer
 * per thread. */
int  scorer_run(scorer *s, const char *buf, size_t len, const char *const *jur,
     size_t n_jur, bool brief, score_result *out);
void score_result_clear(score_result *r);

#endif
