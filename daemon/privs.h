/*
 * privs.h - what vigild trusts and who it runs as.
 *
 * Plugins run inside the daemon and configurations choose what it loads
 * and where it writes, so both must be as safe as the daemon itself: a
 * file that anyone but root or the daemon's own user could change is
 * refused. Started as root (outside systemd, which starts it as its user),
 * vigild gives up root for daemon.user once its sockets are bound.
 */
#ifndef VIGIL_PRIVS_H
#define VIGIL_PRIVS_H

#include <stddef.h>
#include <sys/types.h>

/* 0 when path is owned by root or by this process's user and is not
 * writable by group or others, or does not exist (its opener reports
 * that); else -1 with "PATH: why; fix" in err.
 * what names the file ("plugin", "configuration"). */
int privs_file_trusted(
    const char *path, const char *what, char *err, size_t errlen);

/* Checks path and, recursively, the files its @include directives name
 * (relative to dir). */
int privs_config_trusted(
    const char *path, const char *dir, char *err, size_t errlen);

/* Gives path to owner and/or group (names; NULL or "" leaves it). -1
 * with a reason when a name is unknown or chown fails. */
int privs_chown_names(const char *path, const char *owner, const char *group,
    char *err, size_t errlen);

/* Looks user up. 0 with its ids, or -1 with a reason. */
int privs_lookup(
    const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen);

/* Gives paths (those that exist, directories with all they hold, links
 * not followed) to uid:gid, then drops every group and root for good.
 * -1 with a reason when any step fails. Not thread-safe: call it before
 * threads that matter start. */
int privs_drop(uid_t uid, gid_t gid, const char *const *paths, size_t n,
    char *err, size_t errlen);

#endif
