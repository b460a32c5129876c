/*
 * position.c - input positions (see position.h).
 *
 * A slot per input name holds the newest finished position and whether a
 * write of it is due; slots live as long as the daemon, so that a write
 * due when an input instance goes away (a reload) still happens. Writes
 * that no alert commit carried are made from one event per turn of the
 * loop, so that a run of posts without alerts costs one write, not one
 * each.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "log.h"
#include "outbox.h"
#include "position.h"

typedef struct slot {
	char          *input;
	unsigned char *pos; /* newest finished, or NULL */
	size_t         len;
	bool           due; /* pos is not on its way to the outbox yet */
	struct slot   *next;
} slot;

struct positions {
	outbox       *ob;
	struct event *flush;
	slot         *slots;
};

struct pos_entry {
	TAILQ_ENTRY(pos_entry) link;
	uint64_t      seq;
	uint64_t      with_seq; /* the entry whose pos went with our alerts */
	bool          done;
	bool          with; /* with_seq is valid */
	size_t        len;
	unsigned char pos[];
};

TAILQ_HEAD(entry_list, pos_entry);

struct pos_track {
	positions        *p;
	slot             *s;
	struct entry_list q;
	uint64_t          next_seq;
};

static slot *
slot_get(positions *p, const char *input)
{
	slot *s;

	for (s = p->slots; s != NULL; s = s->next)
		if (strcmp(s->input, input) == 0)
			return s;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->input = strdup(input)) == NULL) {
		free(s);
		return NULL;
	}
	s->next  = p->slots;
	p->slots = s;
	return s;
}

static int
slot_set(slot *s, const void *pos, size_t len)
{
	unsigned char *copy = malloc(len ? len : 1);

	if (copy == NULL)
		return -1;
	memcpy(copy, pos, len);
	free(s->pos);
	s->pos = copy;
	s->len = len;
	return 0;
}

static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	positions_flush(arg);
}

void
positions_flush(positions *p)
{
	for (slot *s = p->slots; s != NULL; s = s->next) {
		if (!s->due)
			continue;
		s->due = false;
		outbox_position(p->ob, s->input, s->pos, s->len);
	}
}

static void
schedule(positions *p, slot *s)
{
	s->due = true;
	if (!event_pending(p->flush, EV_TIMEOUT, NULL))
		event_active(p->flush, EV_TIMEOUT, 1);
}

positions *
positions_new(struct event_base *base, outbox *ob)
{
	positions                   *p = calloc(1, sizeof(*p));
	const outbox_saved_position *saved;
	size_t                       n;

	if (p == NULL)
		return NULL;
	p->ob = ob;
	if ((p->flush = event_new(base, -1, 0, flush_cb, p)) == NULL)
		goto fail;
	n = outbox_saved_positions(ob, &saved);
	for (size_t i = 0; i < n; i++) {
		slot *s = slot_get(p, saved[i].input);

		if (s == NULL || slot_set(s, saved[i].pos, saved[i].len) != 0)
			goto fail;
	}
	return p;
fail:
	positions_free(p);
	return NULL;
}

void
positions_free(positions *p)
{
	slot *s;

	if (p == NULL)
		return;
	while ((s = p->slots) != NULL) {
		p->slots = s->next;
		free(s->input);
		free(s->pos);
		free(s);
	}
	if (p->flush)
		event_free(p->flush);
	free(p);
}

void *
positions_get(positions *p, const char *input, size_t *len)
{
	void *copy;

	for (slot *s = p->slots; s != NULL; s = s->next) {
		if (strcmp(s->input, input) != 0 || s->pos == NULL)
			continue;
		if ((copy = malloc(s->len ? s->len : 1)) == NULL)
			return NULL;
		memcpy(copy, s->pos, s->len);
		*len = s->len;
		return copy;
	}
	return NULL;
}

pos_track *
pos_track_new(positions *p, const char *input)
{
	pos_track *t = calloc(1, sizeof(*t));

	if (t == NULL || (t->s = slot_get(p, input)) == NULL) {
		free(t);
		return NULL;
	}
	t->p = p;
	TAILQ_INIT(&t->q);
	return t;
}

void
pos_track_free(pos_track *t)
{
	pos_entry *e;

	if (t == NULL)
		return;
	/* Posts that never finished (a shutdown before their verdict): the
	 * position stays before them, and they are read again. */
	while ((e = TAILQ_FIRST(&t->q)) != NULL) {
		TAILQ_REMOVE(&t->q, e, link);
		free(e);
	}
	free(t);
}

static pos_entry *
entry_new(pos_track *t, const void *pos, size_t len, bool done)
{
	pos_entry *e = malloc(sizeof(*e) + len);

	if (e == NULL)
		return NULL;
	e->seq  = ++t->next_seq;
	e->done = done;
	e->with = false;
	e->len  = len;
	memcpy(e->pos, pos, len);
	TAILQ_INSERT_TAIL(&t->q, e, link);
	return e;
}

pos_entry *
pos_submit(pos_track *t, const void *pos, size_t len)
{
	return entry_new(t, pos, len, false);
}

int
pos_skip(pos_track *t, const void *pos, size_t len)
{
	if (TAILQ_EMPTY(&t->q)) {
		if (slot_set(t->s, pos, len) != 0)
			return -1;
		schedule(t->p, t->s);
		return 0;
	}
	return entry_new(t, pos, len, true) ? 0 : -1;
}

const void *
pos_with(pos_track *t, pos_entry *e, size_t *len)
{
	pos_entry *x, *last = NULL;

	TAILQ_FOREACH (x, &t->q, link) {
		if (!x->done && x != e)
			break;
		last = x;
	}
	/* The run must reach e: otherwise an earlier post is unfinished. */
	if (last == NULL || last->seq < e->seq)
		return NULL;
	e->with_seq = last->seq;
	*len        = last->len;
	return last->pos;
}

void
pos_recorded_with(pos_track *t, pos_entry *e)
{
	e->with = true;
	/* Whatever was due lies before e's position, which supersedes it
	 * in the same transaction or a later one. */
	t->s->due = false;
}

void
pos_done(pos_track *t, pos_entry *e)
{
	pos_entry *x, *last = NULL;
	bool       with     = e->with;
	uint64_t   with_seq = e->with_seq;

	/* e may leave the queue below: what it carried is read first. */
	e->done = true;
	while ((x = TAILQ_FIRST(&t->q)) != NULL && x->done) {
		TAILQ_REMOVE(&t->q, x, link);
		free(last);
		last = x;
	}
	if (last == NULL)
		return;
	if (slot_set(t->s, last->pos, last->len) == 0 &&
	    !(with && last->seq <= with_seq))
		schedule(t->p, t->s);
	free(last);
}
