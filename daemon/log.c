/*
 * log.c - the daemon's own log. One line per event on stderr with a
 * timestamp, the program, the level and the origin; written with one
 * write(2) so that lines from several threads never interleave. Post text
 * never goes here: callers log ids, sources and reasons.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static atomic_int  log_threshold = VIGIL_LOG_INFO;
static const char *log_ident     = "vigil";

static const char *const level_names[] = {
    [VIGIL_LOG_ERR]     = "error",
    [VIGIL_LOG_WARNING] = "warning",
    [VIGIL_LOG_NOTICE]  = "notice",
    [VIGIL_LOG_INFO]    = "info",
    [VIGIL_LOG_DEBUG]   = "debug",
};

void
log_set_level(int level)
{
	atomic_store(&log_threshold, level);
}

void
log_set_ident(const char *ident)
{
	log_ident = ident;
}

int
log_level_parse(const char *name, int *level)
{
	if (strcasecmp(name, "err") == 0) {
		*level = VIGIL_LOG_ERR;
		return 0;
	}
	for (int i = VIGIL_LOG_ERR; i <= VIGIL_LOG_DEBUG; i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*level = i;
			return 0;
		}
	}
	return -1;
}

void
log_vmsg(int level, const char *prefix, const char *fmt, va_list ap)
{
	char            line[2048];
	size_t          n = 0;
	struct tm       tm;
	struct timespec ts;
	int             r;

	if (level > atomic_load(&log_threshold))
		return;
	if (level < VIGIL_LOG_ERR)
		level = VIGIL_LOG_ERR;
	if (level > VIGIL_LOG_DEBUG)
		level = VIGIL_LOG_DEBUG;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s[%ld] %s: %s%s",
	    ts.tv_nsec / 1000000, log_ident, (long)getpid(), level_names[level],
	    prefix ? prefix : "", prefix ? ": " : "");
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r
		                                  : sizeof(line) - n - 1;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r
		                                  : sizeof(line) - n - 1;
	/* Keep one event on one line whatever the message holds. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, line, n);
		if (w <= 0)
			break;
		memmove(line, line + w, n - (size_t)w);
		n -= (size_t)w;
	}
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, NULL, fmt, ap);
	va_end(ap);
}

/* Up to 5 lines at once, then one a second. */
#define LIMIT_BURST 5.0
#define LIMIT_RATE  1.0

void
log_limited(
    log_limit *lim, int level, const char *prefix, const char *fmt, va_list ap)
{
	int64_t now = now_monotonic_us();

	if (lim->last_us == 0)
		lim->tokens = LIMIT_BURST;
	else
		lim->tokens += (double)(now - lim->last_us) / 1e6 * LIMIT_RATE;
	if (lim->tokens > LIMIT_BURST)
		lim->tokens = LIMIT_BURST;
	lim->last_us = now;
	if (lim->tokens < 1.0) {
		lim->suppressed++;
		return;
	}
	lim->tokens -= 1.0;
	if (lim->suppressed > 0) {
		log_msg(level, "%s: %llu similar messages suppressed",
		    prefix ? prefix : "log",
		    (unsigned long long)lim->suppressed);
		lim->suppressed = 0;
	}
	log_vmsg(level, prefix, fmt, ap);
}
