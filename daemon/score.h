/*
 * score.h - scoring one post: parse it, pick the rule instances of its
 * jurisdictions, run them, and build the verdict. This is the whole job of
 * a worker; the benchmark and the tests drive it directly.
 */
#ifndef VIGIL_SCORE_H
#define VIGIL_SCORE_H

#include <stddef.h>

#include <vigil/plugin.h>

#include "config.h"

typedef struct scorer scorer;

/* Initializes every rule instance of cfg (which must outlive the scorer).
 * Returns NULL with a reason in err. */
scorer *scorer_new(const vigil_config *cfg, char *err, size_t errlen);
void    scorer_free(scorer *s);

/* Scores raw post JSON. jur are the input's default jurisdictions for a
 * post that names none. Returns WIRE_SCORED with the verdict JSON in *out,
 * or WIRE_INVALID with a reason in *out; -1 on allocation failure. *out is
 * malloc'd. Not thread-safe per scorer: one scorer per thread. */
int scorer_run(scorer *s, const char *buf, size_t len,
    const char *const *jur, size_t n_jur, char **out, size_t *out_len,
    vigil_severity *sev);

#endif
