/*
 * kv.c - the per-instance persistent key-value store (see kv.h).
 *
 * Layout: <state_dir>/kv/<namespace>/<key>, one regular file per key
 * holding the raw value. The store keeps the namespace directory open and
 * works relative to it (openat, renameat, unlinkat), so that a key name is
 * only ever one path component, checked by kv_name_valid.
 *
 * A put writes "#<key>.<pid>.<seq>" first and renames it over the key.
 * '#' cannot start a valid key, so temporary files never collide with
 * keys, and kv_open can remove any a crash left behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv.h"
#include "log.h"
#include "util.h"

#define TMP_PREFIX '#'

struct kv_store {
	int           dirfd;   /* the namespace directory */
	char         *dir;     /* its path, for messages */
	unsigned      flags;   /* KV_* */
	unsigned long tmp_seq; /* makes temporary names unique */
};

bool
kv_name_valid(const char *name)
{
	size_t n;

	if (name == NULL)
		return false;
	for (n = 0; name[n] != '\0'; n++) {
		char c = name[n];

		if (n >= KV_NAME_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		        c == '-'))
			return false;
	}
	return n > 0 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* Logs a refused key without echoing more than a bounded prefix. */
static int
bad_key(const kv_store *kv, const char *op, const char *key)
{
	log_warn("kv: %s: %s: invalid key '%.64s' (1-%d characters of "
	         "A-Z a-z 0-9 . _ -)",
	    kv->dir, op, key ? key : "(null)", KV_NAME_MAX);
	errno = EINVAL;
	return -1;
}

/* Logs an I/O failure on dir/name and keeps errno for the caller. */
static void
io_error(const kv_store *kv, const char *name, const char *op)
{
	int saved = errno;

	log_err("kv: %s/%s: %s: %s", kv->dir, name, op, strerror(saved));
	errno = saved;
}

/* Removes temporary files left by a put that a crash interrupted. */
static void
remove_stale(kv_store *kv)
{
	DIR           *d;
	struct dirent *de;
	int            fd;

	fd = openat(kv->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != TMP_PREFIX)
			continue;
		if (unlinkat(kv->dirfd, de->d_name, 0) == 0)
			log_info("kv: %s/%s: removed an unfinished write",
			    kv->dir, de->d_name);
		else
			io_error(kv, de->d_name, "unlink");
	}
	closedir(d);
}

kv_store *
kv_open(const char *state_dir, const char *ns, unsigned flags, char *err,
    size_t errlen)
{
	kv_store *kv;
	char     *base;

	if (!kv_name_valid(ns)) {
		strfmt(err, errlen,
		    "kv: invalid namespace name '%.64s' (1-%d "
		    "characters of A-Z a-z 0-9 . _ -)",
		    ns ? ns : "(null)", KV_NAME_MAX);
		return NULL;
	}
	if (state_dir == NULL || state_dir[0] == '\0') {
		strfmt(err, errlen, "kv: no state directory");
		return NULL;
	}
	kv = calloc(1, sizeof(*kv));
	if (kv == NULL)
		goto nomem;
	kv->dirfd = -1;
	kv->flags = flags;
	base      = path_join(state_dir, "kv");
	if (base != NULL)
		kv->dir = path_join(base, ns);
	free(base);
	if (kv->dir == NULL)
		goto nomem;
	if (mkdir_p(kv->dir, 0700) != 0) {
		strfmt(err, errlen, "kv: %s: cannot create: %s", kv->dir,
		    strerror(errno));
		goto fail;
	}
	kv->dirfd = open(kv->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (kv->dirfd < 0) {
		strfmt(err, errlen, "kv: %s: cannot open: %s", kv->dir,
		    strerror(errno));
		goto fail;
	}
	remove_stale(kv);
	return kv;
nomem:
	strfmt(err, errlen, "kv: %s: out of memory", state_dir);
fail:
	kv_close(kv);
	return NULL;
}

void
kv_close(kv_store *kv)
{
	if (kv == NULL)
		return;
	if (kv->dirfd >= 0)
		close(kv->dirfd);
	free(kv->dir);
	free(kv);
}

const char *
kv_dir(const kv_store *kv)
{
	return kv->dir;
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Creates a fresh temporary file for key; its name goes to tmp. */
static int
create_temp(kv_store *kv, const char *key, char *tmp, size_t tmplen)
{
	for (int tries = 0; tries < 100; tries++) {
		int fd;

		strfmt(tmp, tmplen, "%c%s.%ld.%lu", TMP_PREFIX, key,
		    (long)getpid(), kv->tmp_seq++);
		fd = openat(kv->dirfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

int
kv_put(kv_store *kv, const char *key, const void *val, size_t len)
{
	char        tmp[KV_NAME_MAX + 48];
	const char *op;
	int         fd, saved;
	bool        sync = !(kv->flags & KV_NOSYNC);

	if (!kv_name_valid(key))
		return bad_key(kv, "put", key);
	if (len > KV_VALUE_MAX) {
		log_warn("kv: %s/%s: value of %zu bytes is over the limit of "
		         "%d",
		    kv->dir, key, len, KV_VALUE_MAX);
		errno = EMSGSIZE;
		return -1;
	}
	fd = create_temp(kv, key, tmp, sizeof(tmp));
	if (fd < 0) {
		io_error(kv, key, "create temporary file");
		return -1;
	}
	op = "write";
	if (len > 0 && write_all(fd, val, len) != 0)
		goto fail;
	op = "fsync";
	if (sync && fsync(fd) != 0)
		goto fail;
	op    = "close";
	saved = close(fd);
	fd    = -1;
	if (saved != 0)
		goto fail;
	op = "rename";
	if (renameat(kv->dirfd, tmp, kv->dirfd, key) != 0)
		goto fail;
	/* The value is in place; the directory sync makes the rename last. */
	if (sync && fsync(kv->dirfd) != 0) {
		io_error(kv, key, "fsync directory");
		return -1;
	}
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(kv->dirfd, tmp, 0);
	errno = saved;
	io_error(kv, key, op);
	return -1;
}

/* Reads at most max + 1 bytes of fd into a malloc'd, NUL-terminated
 * buffer so that an oversized file is seen as such. */
static char *
read_bounded(int fd, size_t max, size_t *len)
{
	char  *buf = malloc(max + 2);
	size_t n   = 0;

	if (buf == NULL)
		return NULL;
	while (n < max + 1) {
		ssize_t r = read(fd, buf + n, max + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*len   = n;
	return buf;
}

void *
kv_get(kv_store *kv, const char *key, size_t *len)
{
	struct stat st;
	char       *buf = NULL, *small;
	size_t      n   = 0;
	int         fd, saved;

	*len = 0;
	if (!kv_name_valid(key)) {
		bad_key(kv, "get", key);
		return NULL;
	}
	/* O_NONBLOCK: a FIFO planted under a key's name must not hang us. */
	fd = openat(
	    kv->dirfd, key, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno != ENOENT)
			io_error(kv, key, "open");
		return NULL;
	}
	if (fstat(fd, &st) != 0) {
		io_error(kv, key, "stat");
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		io_error(kv, key, "open");
		goto out;
	}
	buf = read_bounded(fd, KV_VALUE_MAX, &n);
	if (buf == NULL) {
		io_error(kv, key, "read");
		goto out;
	}
	if (n > KV_VALUE_MAX) {
		log_err("kv: %s/%s: stored value is over the limit of %d "
		        "bytes",
		    kv->dir, key, KV_VALUE_MAX);
		free(buf);
		buf   = NULL;
		errno = EFBIG;
		goto out;
	}
	/* Give back what the scratch buffer of the maximum size did not
	 * need; on failure the larger block is still a valid answer. */
	small = realloc(buf, n + 1);
	if (small != NULL)
		buf = small;
	*len = n;
out:
	saved = errno;
	close(fd);
	errno = saved;
	return buf;
}

int
kv_del(kv_store *kv, const char *key)
{
	if (!kv_name_valid(key))
		return bad_key(kv, "del", key);
	if (unlinkat(kv->dirfd, key, 0) != 0) {
		if (errno == ENOENT)
			return 0;
		io_error(kv, key, "unlink");
		return -1;
	}
	if (!(kv->flags & KV_NOSYNC) && fsync(kv->dirfd) != 0) {
		io_error(kv, key, "fsync directory");
		return -1;
	}
	return 0;
}
