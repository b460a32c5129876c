/*
 * bridge.h - hands work from nng's threads to the event loop.
 *
 * nng completes aios on its own threads; vigild's state belongs to the
 * loop. A callback on an nng thread only queues an item (embedded in the
 * object it concerns, so no allocation) and wakes the loop through an
 * eventfd; the loop then runs each item's function. An item is queued at
 * most once at a time.
 */
#ifndef VIGIL_BRIDGE_H
#define VIGIL_BRIDGE_H

#include <stdbool.h>

struct event_base;
typedef struct bridge bridge;

typedef struct bridge_item {
	struct bridge_item *next;
	void (*fn)(struct bridge_item *item); /* runs on the loop */
	bool queued;
} bridge_item;

bridge *bridge_new(struct event_base *base);
/* Must be called after every producer has stopped. */
void bridge_free(bridge *b);
/* [any thread] Queues item unless it is queued already. */
void bridge_post(bridge *b, bridge_item *item);
/* [loop] Runs what is queued now; for shutdown paths that cannot wait. */
void bridge_run(bridge *b);

#endif
