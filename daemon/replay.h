/*
 * replay.h - `vigild --replay FILE`: scores every line of a JSON-lines
 * file through the same workers and rules as the daemon, and writes one
 * JSON object per input line to stdout, in input order. Opens no
 * listener, sink, outbox or offset. `--input PLUGIN` reads FILE through
 * that input plugin instead (doc/verdicts.md), in the order it submits.
 */
#ifndef VIGIL_REPLAY_H
#define VIGIL_REPLAY_H

#include "vigild.h"

/* Runs the loop until the file is read and scored. Returns the exit code:
 * 0 read, 1 the file cannot be read. input names an input plugin to
 * read the file with, or is NULL for JSON lines. */
int replay_run(vigild *v, generation *g, const char *path, const char *input);

#endif
