/*
 * admin.h - the admin listener (config section `admin`): GET /metrics in
 * the Prometheus text format and GET /healthz, on a second http_server
 * of its own, and the gauges that read the daemon's queues when metrics
 * are written (for vigilctl metrics too). doc/metrics.md.
 */
#ifndef VIGIL_ADMIN_H
#define VIGIL_ADMIN_H

#include "config.h"
#include "vigild.h"

typedef struct admin admin;

/* Registers the gauges and, unless admin.listen is empty, binds the
 * listener, which stays as it is across reloads. Returns 0 with *out
 * set (free it with admin_close), or -1 when the address cannot be
 * bound (logged). v must outlive *out; loop thread only. */
int admin_open(vigild *v, const vigil_config *cfg, admin **out);
/* Closes the listener and forgets the gauges; NULL is fine. */
void admin_close(admin *a);

#endif
