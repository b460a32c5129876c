/*
 * calendar.h - windows of legal time for rule plugins (vigil_host
 * calendar_* services), given in local time and computed once into UTC
 * from the system's tzdata (tz.h).
 */
#ifndef VIGIL_CALENDAR_H
#define VIGIL_CALENDAR_H

#include <stddef.h>

#include <vigil/plugin.h>

/* Built on one thread (new, add), then read from any number at once. */
vigil_calendar *calendar_new(void);
/* Adds window name of event: [local_start, local_end) in every zone,
 * spanning the earliest start to the latest end. Zones load from $TZDIR,
 * else /usr/share/zoneinfo. err names the event, window and reason. */
int calendar_add(vigil_calendar *cal, const char *event, const char *name,
    const char *const *zones, size_t n_zones, const char *local_start,
    const char *local_end, char *err, size_t errlen);
const vigil_window *calendar_find(
    const vigil_calendar *cal, const char *name, int64_t t);
size_t              calendar_count(const vigil_calendar *cal);
const vigil_window *calendar_window(const vigil_calendar *cal, size_t i);
void                calendar_free(vigil_calendar *cal);

#endif
