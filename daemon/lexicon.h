/*
 * lexicon.h - named, weighted signals for rule plugins (vigil_host
 * lexicon_* services): each signal a list of terms, stems and regexes;
 * all of a lexicon's patterns compiled into one matcher, scanned once
 * over every field of a post.
 */
#ifndef VIGIL_LEXICON_H
#define VIGIL_LEXICON_H

#include <stddef.h>

#include <vigil/plugin.h>

/* Built at init (one thread), then scanned from any number at once.
 * lexicon_new copies what it keeps; err names the signal and its where.
 * A signal with no patterns is allowed: the plugin may fire it itself
 * (a structural signal) with its configured weight. */
vigil_lexicon *lexicon_new(
    const vigil_signal_def *defs, size_t n, char *err, size_t errlen);
vigil_lexicon *lexicon_from_cfg(
    const vigil_cfg *cfg, const char *list, char *err, size_t errlen);
void        lexicon_free(vigil_lexicon *lx);
size_t      lexicon_size(const vigil_lexicon *lx);
int         lexicon_index(const vigil_lexicon *lx, const char *name);
const char *lexicon_name(const vigil_lexicon *lx, size_t i);
double      lexicon_weight(const vigil_lexicon *lx, size_t i);
/* Fills hits[lexicon_size] for one post [rule]. VIGIL_ERR (logged) when a
 * scan fails; hits are then what was found before it. */
int lexicon_scan(
    const vigil_lexicon *lx, const vigil_post *post, vigil_hit *hits);
double finding_hit(vigil_finding *f, const vigil_post *post,
    const vigil_lexicon *lx, const vigil_hit *hits, size_t i);

#endif
