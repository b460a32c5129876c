/*
 * bridge.c - a mutex-protected FIFO of intrusive items and an eventfd that
 * wakes the loop when the FIFO turns non-empty (see bridge.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "bridge.h"
#include "log.h"

struct bridge {
	pthread_mutex_t lock; /* guards head, tail and items' queued/next */
	bridge_item    *head, *tail;
	int             efd;
	struct event   *ev;
};

void
bridge_run(bridge *b)
{
	bridge_item *list;

	pthread_mutex_lock(&b->lock);
	list    = b->head;
	b->head = b->tail = NULL;
	for (bridge_item *it = list; it; it = it->next)
		it->queued = false;
	pthread_mutex_unlock(&b->lock);
	/* An item may be queued again by its own function: fine, it is
	 * already off this list. Read next before running fn, which may
	 * free the item's owner. */
	while (list) {
		bridge_item *it = list;
		list            = it->next;
		it->next        = NULL;
		it->fn(it);
	}
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	bridge_run(arg);
}

bridge *
bridge_new(struct event_base *base)
{
	bridge *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	pthread_mutex_init(&b->lock, NULL);
	b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (b->efd < 0) {
		log_err("eventfd: %m");
		goto fail;
	}
	b->ev = event_new(base, b->efd, EV_READ | EV_PERSIST, on_wake, b);
	if (b->ev == NULL || event_add(b->ev, NULL) != 0)
		goto fail;
	return b;
fail:
	bridge_free(b);
	return NULL;
}

void
bridge_free(bridge *b)
{
	if (b == NULL)
		return;
	if (b->ev)
		event_free(b->ev);
	if (b->efd >= 0)
		close(b->efd);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

void
bridge_post(bridge *b, bridge_item *item)
{
	bool     wake;
	uint64_t one = 1;

	pthread_mutex_lock(&b->lock);
	if (item->queued) {
		pthread_mutex_unlock(&b->lock);
		return;
	}
	item->queued = true;
	item->next   = NULL;
	wake         = b->head == NULL;
	if (b->tail)
		b->tail->next = item;
	else
		b->head = item;
	b->tail = item;
	pthread_mutex_unlock(&b->lock);
	if (wake)
		while (write(b->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
}
