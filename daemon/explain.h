/*
 * explain.h - two control commands for people who write and run rules:
 *
 *   {"cmd":"explain","post":"<post JSON>","jurisdictions":["kz"]}
 *       scores one post with the running configuration's workers, as a
 *       post from an input would be scored, and answers with its verdict
 *       (doc/verdicts.md) merged into the reply, or with the reason the
 *       post is invalid ("invalid": true). No alert is raised; no input,
 *       sink or outbox is touched.
 *   {"cmd":"check-config","path":"/abs/file.conf"}
 *       validates a configuration file (default: the daemon's own) as a
 *       reload would, without applying it.
 */
#ifndef VIGIL_EXPLAIN_H
#define VIGIL_EXPLAIN_H

#include "vigild.h"

/* Registers both commands on v->ctl, whose request lines it lets grow to
 * fit any post up to daemon.max_post_bytes. Returns 0, or -1 (logged). */
int explain_register(vigild *v);
/* Ends the check-configs still running (their rules' worker), answering
 * each that the daemon stopped. Before the control socket closes. */
void explain_stop(void);

#endif
