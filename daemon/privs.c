/*
 * privs.c - trusted files and dropping root (see privs.h).
 */
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "privs.h"

int
privs_file_trusted(const char *path, const char *what, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		/* Missing: whoever opens it says so. */
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen,
		    "%s: %s owned by uid %u, neither root nor the daemon's "
		    "user (uid %u): refused; chown it",
		    path, what, (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen,
		    "%s: %s writable by %s: refused; chmod go-w %s", path, what,
		    st.st_mode & S_IWOTH ? "others" : "its group", path);
		return -1;
	}
	return 0;
}

/* The file name of an @include line, or NULL. */
static const char *
include_of(char *line)
{
	char *p = line, *end;

	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, "@include", 8) != 0)
		return NULL;
	p += 8;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p++ != '"' || (end = strchr(p, '"')) == NULL)
		return NULL;
	*end = '\0';
	return p;
}

static int
config_trusted(
    const char *path, const char *dir, int depth, char *err, size_t errlen)
{
	FILE  *f;
	char  *line = NULL;
	size_t cap  = 0;
	int    rc   = 0;

	if (privs_file_trusted(path, "configuration", err, errlen) != 0)
		return -1;
	/* libconfig stops deeper nesting itself; so does this. */
	if (depth > 10 || (f = fopen(path, "r")) == NULL)
		return 0;
	while (rc == 0 && getline(&line, &cap, f) != -1) {
		const char *inc = include_of(line);
		char        full[PATH_MAX];

		if (inc == NULL)
			continue;
		if (inc[0] == '/' || dir == NULL)
			snprintf(full, sizeof(full), "%s", inc);
		else
			snprintf(full, sizeof(full), "%s/%s", dir, inc);
		/* A missing include is libconfig's error to report. */
		if (access(full, F_OK) == 0)
			rc = config_trusted(full, dir, depth + 1, err, errlen);
	}
	free(line);
	fclose(f);
	return rc;
}

int
privs_config_trusted(
    const char *path, const char *dir, char *err, size_t errlen)
{
	return config_trusted(path, dir, 0, err, errlen);
}

int
privs_chown_names(const char *path, const char *owner, const char *group,
    char *err, size_t errlen)
{
	uid_t         uid = (uid_t)-1;
	gid_t         gid = (gid_t)-1;
	struct group *gr;
	gid_t         ignored;

	if (owner && *owner &&
	    privs_lookup(owner, &uid, &ignored, err, errlen) != 0)
		return -1;
	if (group && *group) {
		errno = 0;
		if ((gr = getgrnam(group)) == NULL) {
			snprintf(err, errlen, "group '%s': %s", group,
			    errno ? strerror(errno) : "no such group");
			return -1;
		}
		gid = gr->gr_gid;
	}
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    chown(path, uid, gid) != 0) {
		snprintf(err, errlen, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
privs_lookup(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	struct passwd *pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errlen, "daemon.user '%s': %s", user,
		    errno ? strerror(errno) : "no such user");
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* nftw has no argument for its callback. */
static uid_t       walk_uid;
static gid_t       walk_gid;
static const char *walk_failed;
static int         walk_errno;

static int
give(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (lchown(path, walk_uid, walk_gid) != 0) {
		walk_failed = path;
		walk_errno  = errno;
		return 1;
	}
	return 0;
}

int
privs_drop(uid_t uid, gid_t gid, const char *const *paths, size_t n, char *err,
    size_t errlen)
{
	walk_uid = uid;
	walk_gid = gid;
	for (size_t i = 0; i < n; i++) {
		if (paths[i] == NULL || access(paths[i], F_OK) != 0)
			continue;
		/* A directory with what an earlier run as root left in it. */
		walk_failed = NULL;
		if (nftw(paths[i], give, 16, FTW_PHYS) != 0) {
			snprintf(err, errlen, "chown %s: %s",
			    walk_failed ? walk_failed : paths[i],
			    strerror(walk_failed ? walk_errno : errno));
			return -1;
		}
	}
	if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
		snprintf(err, errlen, "cannot drop root for uid %u: %s",
		    (unsigned)uid, strerror(errno));
		return -1;
	}
	/* For good: getting root back must fail. */
	if (uid != 0 && setuid(0) == 0) {
		snprintf(
		    err, errlen, "root could be regained after dropping it");
		return -1;
	}
	return 0;
}
