/*
 * log.h - the daemon's own log: stderr (journald takes it under systemd),
 * one line per event, never post text. Thread-safe.
 */
#ifndef VIGIL_LOG_H
#define VIGIL_LOG_H

#include <stdarg.h>
#include <stdint.h>

#include <vigil/plugin.h>

/* Sets the lowest level written (VIGIL_LOG_*). */
void log_set_level(int level);
int  log_level_parse(const char *name, int *level);
/* Prefixes every line with the program name, e.g. "vigild". */
void log_set_ident(const char *ident);

void log_msg(int level, const char *fmt, ...) VIGIL_PRINTF(2, 3);
void log_vmsg(int level, const char *prefix, const char *fmt, va_list ap);

/* A token bucket for log lines an outsider can cause: at most `burst`
 * lines, refilled at `rate` a second; what is held back is counted and
 * reported by the next line that passes. */
typedef struct log_limit {
	double   tokens;
	int64_t  last_us;
	uint64_t suppressed;
} log_limit;

void log_limited(
    log_limit *lim, int level, const char *prefix, const char *fmt, va_list ap);

#define log_err(...)    log_msg(VIGIL_LOG_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(VIGIL_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(VIGIL_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)   log_msg(VIGIL_LOG_INFO, __VA_ARGS__)
#define log_debug(...)  log_msg(VIGIL_LOG_DEBUG, __VA_ARGS__)

#endif
