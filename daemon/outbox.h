/*
 * outbox.h - the durable outbox: every alert, and its delivery state per
 * sink, in an SQLite database (WAL) in the state directory.
 *
 * SQLite calls block, so one writer thread owns the connection and runs
 * every operation; operations queued while a transaction commits go into
 * the next one together (group commit). Each operation completes on the
 * loop through the bridge, in the order it was queued.
 *
 * Schema (version in PRAGMA user_version, migrated forward at open):
 *   sets(vid, created, data)        the encoded alert set of one verdict
 *   alerts(seq, vid, idx, id, dkey, rule, created)
 *   deliveries(seq, sink, state, attempts, updated, error)
 */
#ifndef VIGIL_OUTBOX_H
#define VIGIL_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct outbox outbox;
typedef struct bridge bridge;

enum outbox_state {
	OB_PENDING   = 0, /* not yet delivered */
	OB_DELIVERED = 1,
	OB_DEAD      = 2, /* refused for good; vigilctl outbox retry|purge */
	OB_HELD      = 3, /* held back by a rate limit; a summary was sent */
};

const char *outbox_state_name(int state);
int         outbox_state_parse(const char *name);

typedef struct outbox_opts {
	const char *path;
	bool        sync_full; /* synchronous=FULL: survives power loss */
	int64_t     max_bytes; /* 0: unbounded; else SQLITE_FULL past it */
	int         wal_rewind_frames; /* 0: WAL_REWIND_FRAMES (tests: less) */
} outbox_opts;

/* Opens (creating or migrating) the database and starts the writer.
 * Completions are posted through br. NULL with a reason in err. */
outbox *outbox_open(const outbox_opts *o, bridge *br, char *err, size_t errlen);
/* Runs what is queued, stops the writer and closes the database. The
 * callbacks of what was queued still run (on the next bridge_run). */
void outbox_close(outbox *ob);
/* Operations queued and not yet completed. */
size_t outbox_backlog(const outbox *ob);

/* ---- committing alerts ------------------------------------------------ */

/* One alert of a set to record. dkey (platform, post, rule) suppresses a
 * repeat within dedup_us; an alert whose id is already recorded is also
 * suppressed, unless dedup_us is 0. */
typedef struct outbox_alert {
	const char *id;
	const char *dkey;
	const char *rule;
	uint32_t    idx;   /* in the set */
	uint32_t    sinks; /* bit i: a delivery to sink i of the commit */
	uint32_t    held;  /* bit i: recorded as OB_HELD for sink i */
	/* Out: */
	int64_t seq; /* assigned; 0 when suppressed */
} outbox_alert;

typedef struct outbox_commit {
	int64_t       created; /* microseconds since the epoch */
	int64_t       dedup_us;
	const void   *data; /* the encoded set */
	size_t        len;
	outbox_alert *alerts;
	size_t        n;
	const char  **sinks; /* names, n_sinks <= 32 */
	size_t        n_sinks;
	/* An input's position to record in the same transaction, or NULL. */
	const char *pos_input;
	const void *pos;
	size_t      pos_len;
} outbox_commit;

/* rc 0, or -1 with err (the transaction was rolled back: nothing of it
 * is recorded). */
typedef void (*outbox_done_fn)(void *arg, int rc, const char *err);

/* Records c in one transaction with whatever else is queued. c and all
 * it points to must stay valid until done runs (on the loop). */
void outbox_commit_alerts(
    outbox *ob, outbox_commit *c, outbox_done_fn done, void *arg);

/* Sets a delivery's state (fire and forget; errors are logged). */
void outbox_mark(outbox *ob, int64_t seq, const char *sink, int state,
    int attempts, const char *error);

/* Records where an input stands (fire and forget; errors are logged and
 * the position then lags, which repeats posts but loses none). */
void outbox_position(
    outbox *ob, const char *input, const void *pos, size_t len);

/* The positions recorded when the outbox was opened. */
typedef struct outbox_saved_position {
	char  *input;
	void  *pos;
	size_t len;
} outbox_saved_position;
size_t outbox_saved_positions(
    const outbox *ob, const outbox_saved_position **out);

/* ---- reading back ----------------------------------------------------- */

typedef struct outbox_row {
	int64_t  seq;
	int64_t  vid;
	uint32_t idx;
	int      attempts;
	char    *data; /* the set's encoding: shared by rows of one vid */
	size_t   len;
} outbox_row;

/* rows in seq order; the callee owns rows: outbox_rows_free. */
typedef void (*outbox_rows_fn)(
    void *arg, int rc, const char *err, outbox_row *rows, size_t n);
void outbox_rows_free(outbox_row *rows, size_t n);

/* The deliveries to sink in state, seq > after, at most limit. */
void outbox_load(outbox *ob, const char *sink, int state, int64_t after,
    size_t limit, outbox_rows_fn done, void *arg);

/* ---- operators -------------------------------------------------------- */

/* A JSON reply for the control socket; done owns reply (NULL on error). */
typedef void (*outbox_json_fn)(void *arg, json_t *reply, const char *err);

typedef struct outbox_query {
	const char *action; /* "stats", "list", "retry", "purge" */
	const char *sink;   /* NULL: every sink */
	const char *id;     /* an alert id; NULL: all that match */
	int         state;  /* list: which state (-1 any); retry/purge: dead */
	size_t      limit;
} outbox_query;

/* stats: counts by sink and state; list: matching deliveries, newest
 * last; retry: dead -> pending (reply lists the sinks and seqs, for the
 * daemon to enqueue); purge: deletes dead deliveries. The query's strings
 * are copied. */
void outbox_run_query(
    outbox *ob, const outbox_query *q, outbox_json_fn done, void *arg);

/* Deletes delivered and held deliveries older than retention, then
 * alerts and sets nothing refers to. */
void outbox_prune(outbox *ob, int64_t now_us, int64_t retention_us);

#endif
