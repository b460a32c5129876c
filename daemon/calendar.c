/*
 * calendar.c - windows of legal time. A law says "from 00:00 on the fifth
 * day before voting until polls close at 20:00", in local time, and a
 * country may span several zones whose offsets changed over the years; so
 * each bound is resolved per zone from tzdata when the window is added,
 * and the window keeps only UTC instants: the hot path compares integers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "tz.h"

#define US_PER_SEC INT64_C(1000000)

struct window {
	vigil_window w; /* event and name point into the strings below */
	char        *event;
	char        *name;
};

struct vigil_calendar {
	struct window *win;
	size_t         n, cap;
	tz_zone      **zones; /* loaded once per name */
	size_t         n_zones, cap_zones;
};

vigil_calendar *
calendar_new(void)
{
	return calloc(1, sizeof(vigil_calendar));
}

void
calendar_free(vigil_calendar *cal)
{
	if (cal == NULL)
		return;
	for (size_t i = 0; i < cal->n; i++) {
		free(cal->win[i].event);
		free(cal->win[i].name);
	}
	for (size_t i = 0; i < cal->n_zones; i++)
		tz_free(cal->zones[i]);
	free(cal->win);
	free(cal->zones);
	free(cal);
}

static const tz_zone *
zone_get(vigil_calendar *cal, const char *name, char *err, size_t errlen)
{
	tz_zone *z;

	for (size_t i = 0; i < cal->n_zones; i++)
		if (strcmp(tz_name(cal->zones[i]), name) == 0)
			return cal->zones[i];
	if (cal->n_zones == cal->cap_zones) {
		size_t    ncap = cal->cap_zones ? cal->cap_zones * 2 : 8;
		tz_zone **a    = reallocarray(cal->zones, ncap, sizeof(*a));

		if (a == NULL) {
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		cal->zones     = a;
		cal->cap_zones = ncap;
	}
	if ((z = tz_load(NULL, name, err, errlen)) == NULL)
		return NULL;
	cal->zones[cal->n_zones++] = z;
	return z;
}

/* One local time in one zone, in microseconds UTC. 24:00 is the end of
 * the day: the second after 23:59:59. */
static int
local_us(const tz_zone *z, const char *local, int which, int64_t *out)
{
	int     y, mo, d, h, mi, s, end_of_day = 0;
	int64_t t;

	if (tz_parse_local(local, &y, &mo, &d, &h, &mi, &s) != 0)
		return -1;
	if (h == 24) {
		h          = 23;
		mi         = 59;
		s          = 59;
		end_of_day = 1;
	}
	if (tz_local_to_utc(z, y, mo, d, h, mi, s, which, &t) != 0)
		return -1;
	*out = (t + end_of_day) * US_PER_SEC;
	return 0;
}

static int
span_zones(vigil_calendar *cal, const char *const *zones, size_t n_zones,
    const char *local_start, const char *local_end, int64_t *start,
    int64_t *end, char *err, size_t errlen)
{
	for (size_t i = 0; i < n_zones; i++) {
		const tz_zone *z;
		int64_t        s, e;

		if ((z = zone_get(cal, zones[i], err, errlen)) == NULL)
			return -1;
		if (local_us(z, local_start, TZ_EARLIEST, &s) != 0) {
			snprintf(err, errlen,
			    "start \"%s\" is not a local time "
			    "(YYYY-MM-DD[ HH:MM[:SS]])",
			    local_start);
			return -1;
		}
		if (local_us(z, local_end, TZ_LATEST, &e) != 0) {
			snprintf(err, errlen,
			    "end \"%s\" is not a local time "
			    "(YYYY-MM-DD[ HH:MM[:SS]])",
			    local_end);
			return -1;
		}
		if (i == 0 || s < *start)
			*start = s;
		if (i == 0 || e > *end)
			*end = e;
	}
	return 0;
}

int
calendar_add(vigil_calendar *cal, const char *event, const char *name,
    const char *const *zones, size_t n_zones, const char *local_start,
    const char *local_end, char *err, size_t errlen)
{
	char           why[512] = "";
	int64_t        start = 0, end = 0;
	struct window *w;

	if (cal == NULL || event == NULL || name == NULL || zones == NULL ||
	    local_start == NULL || local_end == NULL) {
		snprintf(err, errlen, "window: missing event, name or times");
		return VIGIL_ERR;
	}
	if (n_zones == 0)
		snprintf(why, sizeof(why), "no time zone given");
	else if (span_zones(cal, zones, n_zones, local_start, local_end, &start,
	             &end, why, sizeof(why)) == 0 &&
	    end < start)
		snprintf(why, sizeof(why), "ends (%s) before it starts (%s)",
		    local_end, local_start);
	if (why[0] != '\0') {
		snprintf(err, errlen, "%s: window %s: %s", event, name, why);
		return VIGIL_ERR;
	}
	if (cal->n == cal->cap) {
		size_t         ncap = cal->cap ? cal->cap * 2 : 16;
		struct window *a    = reallocarray(cal->win, ncap, sizeof(*a));

		if (a == NULL)
			goto nomem;
		cal->win = a;
		cal->cap = ncap;
	}
	w = &cal->win[cal->n];
	if ((w->event = strdup(event)) == NULL)
		goto nomem;
	if ((w->name = strdup(name)) == NULL) {
		free(w->event);
		goto nomem;
	}
	w->w.event = w->event;
	w->w.name  = w->name;
	w->w.start = start;
	w->w.end   = end;
	cal->n++;
	return VIGIL_OK;
nomem:
	snprintf(err, errlen, "%s: window %s: out of memory", event, name);
	return VIGIL_ERR;
}

const vigil_window *
calendar_find(const vigil_calendar *cal, const char *name, int64_t t)
{
	for (size_t i = 0; cal != NULL && i < cal->n; i++) {
		const vigil_window *w = &cal->win[i].w;

		if (t >= w->start && t < w->end &&
		    (name == NULL || strcmp(w->name, name) == 0))
			return w;
	}
	return NULL;
}

size_t
calendar_count(const vigil_calendar *cal)
{
	return cal ? cal->n : 0;
}

const vigil_window *
calendar_window(const vigil_calendar *cal, size_t i)
{
	return cal != NULL && i < cal->n ? &cal->win[i].w : NULL;
}
