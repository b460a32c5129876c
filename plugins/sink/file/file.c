/*
 * file.c - sink plugin that appends each alert document (doc/alerts.md)
 * as one JSON line to a file.
 *
 * The file is opened O_APPEND, so a line goes out with one writev(2) and
 * never interleaves with another writer's. The alerts handed over in one
 * turn of the loop go out together, with one writev (and one fdatasync)
 * once the turn is over: a syscall per alert was a good part of the
 * daemon's time at high rates. SIGHUP (reopen) opens the path
 * afresh, for log rotation; the old file stays in use if that fails. A
 * write that fails is reported with VIGIL_ERETRY and the file is opened
 * again before the next attempt. When a write stopped half way, the next
 * line starts with a newline so that the broken one stays alone on its
 * line and the rest of the file still reads as JSON lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>
#include <vigil/plugin.h>

/* Alerts written together at most; more wait for the next turn. The
 * host hands a sink max_inflight alerts at once (32 by default). */
#define BATCH_MAX 256

/* An alert waiting for the end of the turn; its document is the host's
 * until alert_done. */
typedef struct queued {
	uint64_t    token;
	const char *json;
	size_t      len;
} queued;

typedef struct file_sink {
	const vigil_host *host;
	vigil_ctx        *ctx;
	char             *path;
	mode_t            mode;
	int               sync;
	int               fd;          /* -1 when closed */
	int               reopen_next; /* a write failed: open again first */
	int               broken_line; /* the file ends inside a line */
	struct event     *flush_ev;    /* end of the turn: write the batch */
	queued            batch[BATCH_MAX];
	size_t            n_batch;
} file_sink;

static const vigil_setting file_settings[] = {
    {"path", VIGIL_SET_STRING, NULL,
        "File that alerts are appended to, one JSON document a line "
        "(doc/alerts.md); created if missing. Relative to the "
        "configuration file's directory.",
        NULL, VIGIL_SET_REQUIRED | VIGIL_SET_PATH, 0, 0},
    {"mode", VIGIL_SET_INT, "640",
        "Permissions of a new file, in octal digits (`640` or `0640`: "
        "both read as octal), less the daemon's umask.",
        NULL, 0, 0, 7777},
    {"fsync", VIGIL_SET_BOOL, "false",
        "Flush to disk (fdatasync(2)) before reporting alerts "
        "delivered: once for the alerts written together (those of one "
        "turn of the loop, in one write). Safer across power loss, but "
        "the daemon's loop then waits for the disk.",
        NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const char *
where(const vigil_host *host, const vigil_cfg *cfg, const char *name)
{
	const char *w = host->cfg_where(cfg, name);

	return w != NULL ? w : "(config)";
}

/* libconfig reads 0640 as the decimal 640, so the setting's decimal
 * digits are taken as octal ones. Returns -1 for a digit above 7. */
static int
mode_from_digits(int64_t v, mode_t *out)
{
	mode_t mode  = 0;
	mode_t scale = 1;

	if (v < 0 || v > 7777)
		return -1;
	for (; v > 0; v /= 10, scale *= 8) {
		if (v % 10 > 7)
			return -1;
		mode += (mode_t)(v % 10) * scale;
	}
	*out = mode;
	return 0;
}

static int
file_validate(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	const char *path = host->cfg_string(cfg, "path");
	int64_t     v    = host->cfg_int(cfg, "mode");
	mode_t      mode;

	if (path == NULL || path[0] == '\0') {
		snprintf(err, errlen, "%s: path must name a file",
		    where(host, cfg, "path"));
		return VIGIL_ERR;
	}
	if (mode_from_digits(v, &mode) != 0) {
		snprintf(err, errlen,
		    "%s: mode %lld is not a file mode in "
		    "octal digits (0 to 7777)",
		    where(host, cfg, "mode"), (long long)v);
		return VIGIL_ERR;
	}
	return VIGIL_OK;
}

/* Opens the path; returns the descriptor or -1 with errno. */
static int
file_open_fd(const file_sink *f)
{
	int fd;

	do
		fd = open(f->path,
		    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
		    f->mode);
	while (fd < 0 && errno == EINTR);
	return fd;
}

/* Replaces the descriptor with a new one on the path; keeps the old one
 * when that fails. */
static int
file_reopen_fd(file_sink *f, int level)
{
	struct stat st;
	int         fd = file_open_fd(f);

	if (fd < 0) {
		int e = errno;

		if (level == VIGIL_LOG_ERR)
			f->host->log(
			    f->ctx, level, "open %s: %s", f->path, strerror(e));
		else
			f->host->log_limited(
			    f->ctx, level, "open %s: %s", f->path, strerror(e));
		return -1;
	}
	if (f->fd >= 0)
		close(f->fd);
	f->fd          = fd;
	f->reopen_next = 0;
	/* A new, empty file has no broken line to close. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
		f->broken_line = 0;
	return 0;
}

static void on_flush(evutil_socket_t fd, short what, void *arg);

static int
file_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	file_sink *f;

	if ((f = calloc(1, sizeof(*f))) == NULL) {
		host->log(ctx, VIGIL_LOG_ERR, "out of memory");
		return VIGIL_ERR;
	}
	f->host = host;
	f->ctx  = ctx;
	f->fd   = -1;
	f->sync = host->cfg_bool(cfg, "fsync");
	if (mode_from_digits(host->cfg_int(cfg, "mode"), &f->mode) != 0)
		f->mode = 0640;
	if ((f->path = strdup(host->cfg_string(cfg, "path"))) == NULL) {
		host->log(ctx, VIGIL_LOG_ERR, "out of memory");
		free(f);
		return VIGIL_ERR;
	}
	/* Open now, so that a path that cannot be written stops the start. */
	if (host->event_base(ctx) == NULL ||
	    (f->flush_ev = event_new(
	         host->event_base(ctx), -1, 0, on_flush, f)) == NULL ||
	    file_reopen_fd(f, VIGIL_LOG_ERR) != 0) {
		if (f->flush_ev == NULL)
			host->log(ctx, VIGIL_LOG_ERR, "no event loop");
		else
			event_free(f->flush_ev);
		free(f->path);
		free(f);
		return VIGIL_ERR;
	}
	*instance = f;
	return VIGIL_OK;
}

/* Writes all of iov, going on after short writes. Returns 0, or -1 with
 * errno; *wrote tells whether any byte reached the file. */
static int
write_all(int fd, struct iovec *iov, int n, int *wrote)
{
	*wrote = 0;
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		*wrote = 1;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Writes the lines of iov; VIGIL_OK, or VIGIL_ERETRY (logged) with the
 * file to be opened again first. */
static int
write_lines(file_sink *f, struct iovec *iov, int n, int *wrote)
{
	if (write_all(f->fd, iov, n, wrote) != 0) {
		int e = errno;

		if (*wrote)
			f->broken_line = 1;
		f->reopen_next = 1;
		f->host->log_limited(f->ctx, VIGIL_LOG_WARNING, "write %s: %s",
		    f->path, strerror(e));
		return VIGIL_ERETRY;
	}
	f->broken_line = 0;
	if (f->sync && fdatasync(f->fd) != 0 && errno != EINVAL) {
		f->host->log_limited(f->ctx, VIGIL_LOG_WARNING,
		    "fdatasync %s: %s", f->path, strerror(errno));
		f->reopen_next = 1;
		return VIGIL_ERETRY;
	}
	return VIGIL_OK;
}

/* Writes the batch with one writev (a few when it is longer than the
 * kernel takes at once) and reports each alert to the host. */
static void
flush_batch(file_sink *f)
{
	struct iovec iov[2 * BATCH_MAX + 1];
	uint64_t     tokens[BATCH_MAX];
	int          n = 0, wrote = 0, status = VIGIL_OK;
	size_t       k, count = f->n_batch;

	if (count == 0)
		return;
	if ((f->fd < 0 || f->reopen_next) &&
	    file_reopen_fd(f, VIGIL_LOG_WARNING) != 0 && f->fd < 0)
		status = VIGIL_ERETRY;
	if (status == VIGIL_OK) {
		if (f->broken_line)
			iov[n++] = (struct iovec){(void *)"\n", 1};
		for (k = 0; k < count; k++) {
			iov[n++] = (struct iovec){
			    (void *)f->batch[k].json, f->batch[k].len};
			iov[n++] = (struct iovec){(void *)"\n", 1};
		}
		status = write_lines(f, iov, n, &wrote);
	}
	/* alert_done may hand over more alerts, which fill a new batch
	 * from its start: complete from a copy of the tokens. */
	for (k = 0; k < count; k++)
		tokens[k] = f->batch[k].token;
	f->n_batch = 0;
	for (k = 0; k < count; k++)
		f->host->alert_done(f->ctx, tokens[k], status);
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flush_batch(arg);
}

static int
file_emit(void *instance, const vigil_alert *alert)
{
	file_sink *f = instance;

	if (alert->json == NULL || alert->json_len == 0) {
		f->host->log_limited(f->ctx, VIGIL_LOG_ERR,
		    "alert %s has no "
		    "document",
		    alert->id ? alert->id : "?");
		return VIGIL_EFAIL;
	}
	while (f->n_batch == BATCH_MAX)
		flush_batch(f);
	f->batch[f->n_batch++] =
	    (queued){alert->token, alert->json, alert->json_len};
	if (f->n_batch == 1)
		event_active(f->flush_ev, 0, 0);
	return VIGIL_PENDING;
}

static void
file_reopen(void *instance)
{
	file_sink *f = instance;

	if (file_reopen_fd(f, VIGIL_LOG_WARNING) != 0 && f->fd >= 0)
		f->host->log(f->ctx, VIGIL_LOG_WARNING,
		    "still writing to "
		    "the file that was open before");
}

/* Flushes to disk and closes; an emit after this opens the file again. */
static void
file_stop(void *instance)
{
	file_sink *f = instance;

	flush_batch(f);
	if (f->fd < 0)
		return;
	if (fdatasync(f->fd) != 0 && errno != EINVAL)
		f->host->log(f->ctx, VIGIL_LOG_WARNING, "fdatasync %s: %s",
		    f->path, strerror(errno));
	if (close(f->fd) != 0 && errno != EINTR)
		f->host->log(f->ctx, VIGIL_LOG_WARNING, "close %s: %s", f->path,
		    strerror(errno));
	f->fd = -1;
}

static void
file_destroy(void *instance)
{
	file_sink *f = instance;

	if (f == NULL)
		return;
	event_free(f->flush_ev);
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f);
}

static const vigil_plugin file_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name        = "file",
    .version     = "1.0",
    .kind        = VIGIL_PLUGIN_SINK,
    .description = "Appends every alert to a file as one JSON document "
                   "a line; reopens the file on SIGHUP for log rotation.",
    .settings    = file_settings,
    .validate    = file_validate,
    .init        = file_init,
    .stop        = file_stop,
    .destroy     = file_destroy,
    .emit        = file_emit,
    .reopen      = file_reopen,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &file_plugin;
}
