/*
 * position.h - where each input stands: the newest position it handed
 * over (vigil_submit.pos) with no unfinished post before it. Verdicts come
 * back out of order, so each input instance keeps its submits in order
 * and the position moves over the finished prefix only. It is recorded in
 * the outbox: with the alerts of the post that completes the prefix (the
 * same transaction), or, when that post has none, in a write of its own
 * made once per turn of the loop. Positions outlive generations: a reload
 * starts the new instance of an input where the old one stopped.
 */
#ifndef VIGIL_POSITION_H
#define VIGIL_POSITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct outbox;
typedef struct positions positions;
typedef struct pos_track pos_track;
typedef struct pos_entry pos_entry;

/* Reads the positions the outbox holds (at its open). NULL: no memory. */
positions *positions_new(struct event_base *base, struct outbox *ob);
/* Queues the writes still due; call before the outbox closes. */
void positions_flush(positions *p);
void positions_free(positions *p);

/* The newest finished position of input (recorded or on its way), as a
 * malloc'd copy, or NULL. */
void *positions_get(positions *p, const char *input, size_t *len);

/* One input instance's submits, in order. */
pos_track *pos_track_new(positions *p, const char *input);
void       pos_track_free(pos_track *t);

/* A submitted post that will end at pos; NULL when out of memory. */
pos_entry *pos_submit(pos_track *t, const void *pos, size_t len);
/* The input moved to pos with no post: finished once those before are.
 * -1 when out of memory (the position then waits for the next post). */
int pos_skip(pos_track *t, const void *pos, size_t len);

/* The position to record with the alerts of e: the end of the run of
 * finished entries from the head that e would complete; NULL when an
 * unfinished post precedes e. The pointer is valid until pos_done. */
const void *pos_with(pos_track *t, pos_entry *e, size_t *len);
/* What pos_with gave went into the outbox with e's alerts: no separate
 * write is due for it. */
void pos_recorded_with(pos_track *t, pos_entry *e);
/* e is finished: its alerts are recorded, or it had none. */
void pos_done(pos_track *t, pos_entry *e);

#endif
