/*
 * notify.h - vigild's side of systemd's notification protocol
 * (sd_notify(3)): readiness, reloads, shutdown, a status line and the
 * watchdog, for a Type=notify unit. Every call does nothing when systemd
 * did not ask for notifications (no NOTIFY_SOCKET), and in a build
 * without libsystemd (configure --with-systemd=no).
 */
#ifndef VIGIL_NOTIFY_H
#define VIGIL_NOTIFY_H

#include <vigil/plugin.h>

#include "vigild.h"

/* READY=1 with a STATUS line (state, generation, workers, posts/s, queue;
 * the error when the reload it ends was refused): at start once the
 * inputs run, and at the end of each reload, accepted or refused. */
void notify_ready(const vigild *v);
/* RELOADING=1 with MONOTONIC_USEC, when a reload starts. */
void notify_reloading(void);
/* STOPPING=1, when the drain before exit starts. */
void notify_stopping(void);
/* Timers on v's loop: WATCHDOG=1 every half of WatchdogSec= (when the
 * watchdog is on), so that a loop that hangs gets the service killed and
 * restarted, and the STATUS line every 5 seconds. 0, or -1 (logged). */
int notify_watchdog_start(const vigild *v);
/* Frees the timers (before the loop is freed). */
void notify_fini(void);

#endif
