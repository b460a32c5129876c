/*
 * outbox.c - the durable outbox (see outbox.h).
 *
 * The loop queues operations; the writer thread takes everything queued,
 * runs it in one transaction and hands each operation back through the
 * bridge. When anything in a batch fails (a full disk, say), the batch is
 * rolled back and its operations are run again one transaction each, so
 * that one failure fails only its own operation.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "bridge.h"
#include "log.h"
#include "outbox.h"
#include "outbox_vfs.h"
#include "util.h"

enum op_kind { OP_COMMIT, OP_MARK, OP_LOAD, OP_QUERY, OP_PRUNE, OP_POSITION };

typedef struct op {
	bridge_item  item; /* first: completions through the bridge */
	struct op   *next;
	enum op_kind kind;
	int          rc;
	char         err[256];
	void        *arg;
	union {
		struct {
			outbox_commit *c;
			outbox_done_fn done;
		} commit;
		struct {
			int64_t seq, updated;
			int     state, attempts;
			char   *sink, *error;
		} mark;
		struct {
			char          *sink;
			int            state;
			int64_t        after;
			size_t         limit;
			outbox_rows_fn done;
			outbox_row    *rows;
			size_t         n;
		} load;
		struct {
			char          *action, *sink, *id;
			int            state;
			size_t         limit;
			outbox_json_fn done;
			json_t        *reply;
		} query;
		struct {
			int64_t before, now;
		} prune;
		struct {
			char  *input;
			void  *pos;
			size_t len;
		} position;
	} u;
} op;

struct outbox {
	sqlite3        *db;
	char           *path;
	bridge         *br;
	pthread_t       thread;
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	op             *head, **tail;
	bool            stopping;
	/* The writer waits for work (idle) or for more of it (gathering):
	 * enqueue wakes it only when it should go on, since each wake-up
	 * is a futex call and a context switch. */
	bool          idle, gathering;
	atomic_size_t queued;
	struct {
		const char   *sql;
		sqlite3_stmt *st;
	} cache[24];
	size_t n_cache;
	/* The checkpointer: its own connection and thread. */
	sqlite3       *ckdb;
	pthread_t      ckthread;
	pthread_cond_t ckcv;
	bool           ckstop;
	/* Set by the checkpointer when the log has grown long: the writer
	 * then rewinds it between two batches (rewind_log). */
	atomic_bool rewind;
	int         rewind_frames;
	/* Read at open, before the writer owns the connection. */
	outbox_saved_position *saved;
	size_t                 n_saved;
};

static const char *const state_names[] = {
    "pending", "delivered", "dead", "held"};

const char *
outbox_state_name(int state)
{
	return state >= 0 && state < (int)ARRAY_SIZE(state_names)
	    ? state_names[state]
	    : "unknown";
}

int
outbox_state_parse(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(state_names); i++)
		if (strcmp(state_names[i], name) == 0)
			return (int)i;
	return -1;
}

/* ---- schema ------------------------------------------------------------ */

/* migrations[i] takes a database from version i to i + 1. */
static const char *const migrations[] = {
    "CREATE TABLE sets(vid INTEGER PRIMARY KEY, created INTEGER NOT NULL,"
    " data BLOB NOT NULL);"
    "CREATE TABLE alerts(seq INTEGER PRIMARY KEY, vid INTEGER NOT NULL,"
    " idx INTEGER NOT NULL, id TEXT NOT NULL, dkey TEXT NOT NULL,"
    " rule TEXT NOT NULL, created INTEGER NOT NULL);"
    "CREATE INDEX alerts_id ON alerts(id);"
    "CREATE INDEX alerts_dkey ON alerts(dkey, created);"
    "CREATE INDEX alerts_vid ON alerts(vid);"
    "CREATE TABLE deliveries(seq INTEGER NOT NULL, sink TEXT NOT NULL,"
    " state INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " updated INTEGER NOT NULL, error TEXT, PRIMARY KEY(seq, sink))"
    " WITHOUT ROWID;"
    "CREATE INDEX deliveries_state ON deliveries(sink, state, seq);",
    ("CREATE TABLE positions(input TEXT PRIMARY KEY, pos BLOB NOT NULL,"
     " updated INTEGER NOT NULL) WITHOUT ROWID;"),
    /* An alert's id and its dedup key come from the same platform, post
     * and rule, so the dkey index finds an id too: a second index of
     * random keys only doubled the pages each alert writes. */
    "DROP INDEX IF EXISTS alerts_id;",
};

static int
db_err(outbox *ob, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "outbox %s: %s: %s", ob->path, what,
	    sqlite3_errmsg(ob->db));
	return -1;
}

static int
user_version(outbox *ob, int *v, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int           rc;

	if (sqlite3_prepare_v2(ob->db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return db_err(ob, err, errlen, "reading the schema version");
	rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	if (*v < 0)
		return db_err(ob, err, errlen, "reading the schema version");
	return 0;
}

static int
migrate(outbox *ob, char *err, size_t errlen)
{
	const int known = (int)ARRAY_SIZE(migrations);
	int       v;
	char      sql[64];

	if (user_version(ob, &v, err, errlen) != 0)
		return -1;
	if (v > known) {
		snprintf(err, errlen,
		    "outbox %s: schema version %d is newer than this vigil's "
		    "(%d): written by a newer release",
		    ob->path, v, known);
		return -1;
	}
	for (; v < known; v++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", v + 1);
		if (sqlite3_exec(ob->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
		        SQLITE_OK ||
		    sqlite3_exec(ob->db, migrations[v], NULL, NULL, NULL) !=
		        SQLITE_OK ||
		    sqlite3_exec(ob->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(ob->db, "COMMIT", NULL, NULL, NULL) !=
		        SQLITE_OK) {
			db_err(ob, err, errlen, "migrating the schema");
			sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		log_notice("outbox %s: schema migrated to version %d", ob->path,
		    v + 1);
	}
	return 0;
}

static int
configure_db(outbox *ob, const outbox_opts *o, char *err, size_t errlen)
{
	char sql[128];

	/* Checkpoints fsync: the checkpointer thread runs them, so that
	 * commits (and the acks waiting on them) never wait for one. */
	if (sqlite3_exec(ob->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) !=
	        SQLITE_OK ||
	    sqlite3_exec(ob->db, "PRAGMA wal_autocheckpoint=0", NULL, NULL,
	        NULL) != SQLITE_OK)
		return db_err(ob, err, errlen, "enabling WAL");
	snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s",
	    o->sync_full ? "FULL" : "NORMAL");
	if (sqlite3_exec(ob->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_err(ob, err, errlen, "setting synchronous");
	if (o->max_bytes > 0) {
		/* Pages of the default size (4096); SQLITE_FULL past it. */
		snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%lld",
		    (long long)(o->max_bytes / 4096 > 0 ? o->max_bytes / 4096
		                                        : 1));
		if (sqlite3_exec(ob->db, sql, NULL, NULL, NULL) != SQLITE_OK)
			return db_err(ob, err, errlen, "setting max_size");
	}
	return migrate(ob, err, errlen);
}

/* ---- operations, on the writer thread ---------------------------------- */

static int
op_fail(outbox *ob, op *p, const char *what)
{
	snprintf(p->err, sizeof(p->err), "outbox %s: %s: %s", ob->path, what,
	    sqlite3_errmsg(ob->db));
	return -1;
}

/* The writer's statements, prepared once: preparing costs more than
 * running them. Keyed by the SQL literal's address. */
static sqlite3_stmt *
cached(outbox *ob, const char *sql)
{
	sqlite3_stmt *st;

	for (size_t i = 0; i < ob->n_cache; i++)
		if (ob->cache[i].sql == sql)
			return ob->cache[i].st;
	if (ob->n_cache == ARRAY_SIZE(ob->cache) ||
	    sqlite3_prepare_v3(ob->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
	        NULL) != SQLITE_OK)
		return NULL;
	ob->cache[ob->n_cache].sql  = sql;
	ob->cache[ob->n_cache++].st = st;
	return st;
}

/* Binds the int64s and text of fmt ('i', 't', 'b' for a blob followed by
 * its length) to sql's cached statement and steps it once. Returns the
 * step's code. */
static int
exec1(outbox *ob, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st = cached(ob, sql);
	va_list       ap;
	int           rc, k = 1;

	if (st == NULL)
		return SQLITE_ERROR;
	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++, k++) {
		if (*f == 'i') {
			sqlite3_bind_int64(st, k, va_arg(ap, int64_t));
		} else if (*f == 't') {
			const char *s = va_arg(ap, const char *);
			if (s)
				sqlite3_bind_text(st, k, s, -1, SQLITE_STATIC);
			else
				sqlite3_bind_null(st, k);
		} else {
			const void *b = va_arg(ap, const void *);
			size_t      n = va_arg(ap, size_t);
			sqlite3_bind_blob64(st, k, b, n, SQLITE_STATIC);
		}
	}
	va_end(ap);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static bool
suppressed(outbox *ob, const outbox_commit *c, const outbox_alert *a)
{
	int rc;

	if (c->dedup_us <= 0)
		return false;
	/* The same id (a resend) at any age, or anything of the same key
	 * in the window; an id implies its key. */
	rc = exec1(ob,
	    "SELECT 1 FROM alerts WHERE dkey=?2 AND (id=?1 OR created>=?3) "
	    "LIMIT 1",
	    "tti", a->id, a->dkey, c->created - c->dedup_us);
	return rc == SQLITE_ROW;
}

static int put_position(outbox *ob, op *p, const char *input, const void *pos,
    size_t len, int64_t now);

static int
run_commit(outbox *ob, op *p)
{
	outbox_commit *c   = p->u.commit.c;
	int64_t        vid = 0;

	for (size_t i = 0; i < c->n; i++) {
		outbox_alert *a = &c->alerts[i];

		a->seq = 0;
		if (a->sinks == 0 || suppressed(ob, c, a))
			continue;
		if (vid == 0) {
			if (exec1(ob,
			        "INSERT INTO sets(created, data) VALUES(?,?)",
			        "ib", c->created, c->data,
			        c->len) != SQLITE_DONE)
				return op_fail(ob, p, "recording alerts");
			vid = sqlite3_last_insert_rowid(ob->db);
		}
		if (exec1(ob,
		        "INSERT INTO alerts(vid, idx, id, dkey, rule, created) "
		        "VALUES(?,?,?,?,?,?)",
		        "iittti", vid, (int64_t)a->idx, a->id, a->dkey, a->rule,
		        c->created) != SQLITE_DONE)
			return op_fail(ob, p, "recording alerts");
		a->seq = sqlite3_last_insert_rowid(ob->db);
		for (size_t k = 0; k < c->n_sinks; k++) {
			int state;
			if (!(a->sinks & (1u << k)))
				continue;
			state = a->held & (1u << k) ? OB_HELD : OB_PENDING;
			if (exec1(ob,
			        "INSERT INTO deliveries(seq, sink, state, "
			        "updated) VALUES(?,?,?,?)",
			        "itii", a->seq, c->sinks[k], (int64_t)state,
			        c->created) != SQLITE_DONE)
				return op_fail(ob, p, "recording deliveries");
		}
	}
	if (c->pos_input != NULL)
		return put_position(
		    ob, p, c->pos_input, c->pos, c->pos_len, c->created);
	return 0;
}

static int
put_position(outbox *ob, op *p, const char *input, const void *pos, size_t len,
    int64_t now)
{
	if (exec1(ob,
	        "INSERT INTO positions(input, pos, updated) VALUES(?,?,?) "
	        "ON CONFLICT(input) DO UPDATE SET pos=excluded.pos, "
	        "updated=excluded.updated",
	        "tbi", input, pos, len, now) != SQLITE_DONE)
		return op_fail(ob, p, "recording an input's position");
	return 0;
}

static int
run_position(outbox *ob, op *p)
{
	return put_position(ob, p, p->u.position.input, p->u.position.pos,
	    p->u.position.len, now_realtime_us());
}

static int
run_mark(outbox *ob, op *p)
{
	if (exec1(ob,
	        "UPDATE deliveries SET state=?, attempts=?, updated=?, "
	        "error=? WHERE seq=? AND sink=?",
	        "iiitit", (int64_t)p->u.mark.state, (int64_t)p->u.mark.attempts,
	        p->u.mark.updated, p->u.mark.error, p->u.mark.seq,
	        p->u.mark.sink) != SQLITE_DONE)
		return op_fail(ob, p, "recording a delivery");
	return 0;
}

static int
run_load(outbox *ob, op *p)
{
	sqlite3_stmt *st;
	size_t        cap      = 0;
	int64_t       last_vid = 0;
	int           rc;

	if (sqlite3_prepare_v2(ob->db,
	        "SELECT d.seq, a.vid, a.idx, d.attempts, s.data FROM "
	        "deliveries d JOIN alerts a ON a.seq=d.seq JOIN sets s ON "
	        "s.vid=a.vid WHERE d.sink=? AND d.state=? AND d.seq>? "
	        "ORDER BY d.seq LIMIT ?",
	        -1, &st, NULL) != SQLITE_OK)
		return op_fail(ob, p, "reading deliveries");
	sqlite3_bind_text(st, 1, p->u.load.sink, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, p->u.load.state);
	sqlite3_bind_int64(st, 3, p->u.load.after);
	sqlite3_bind_int64(st, 4, (int64_t)p->u.load.limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		outbox_row *r;

		if (p->u.load.n == cap) {
			size_t      ncap = cap ? cap * 2 : 64;
			outbox_row *nr =
			    realloc(p->u.load.rows, ncap * sizeof(*nr));
			if (nr == NULL)
				goto nomem;
			p->u.load.rows = nr;
			cap            = ncap;
		}
		r           = &p->u.load.rows[p->u.load.n];
		r->seq      = sqlite3_column_int64(st, 0);
		r->vid      = sqlite3_column_int64(st, 1);
		r->idx      = (uint32_t)sqlite3_column_int64(st, 2);
		r->attempts = sqlite3_column_int(st, 3);
		if (p->u.load.n > 0 && r->vid == last_vid) {
			r->data = p->u.load.rows[p->u.load.n - 1].data;
			r->len  = p->u.load.rows[p->u.load.n - 1].len;
		} else {
			const void *b = sqlite3_column_blob(st, 4);
			r->len        = (size_t)sqlite3_column_bytes(st, 4);
			if ((r->data = malloc(r->len ? r->len : 1)) == NULL)
				goto nomem;
			memcpy(r->data, b, r->len);
		}
		last_vid = r->vid;
		p->u.load.n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return op_fail(ob, p, "reading deliveries");
	return 0;
nomem:
	sqlite3_finalize(st);
	snprintf(p->err, sizeof(p->err), "outbox %s: out of memory", ob->path);
	return -1;
}

void
outbox_rows_free(outbox_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (i == 0 || rows[i].data != rows[i - 1].data)
			free(rows[i].data);
	free(rows);
}

static void
rows_reset(op *p)
{
	outbox_rows_free(p->u.load.rows, p->u.load.n);
	p->u.load.rows = NULL;
	p->u.load.n    = 0;
}

/* Binds the filters every query shares: ?1 sink, ?2 state, ?3 id. */
static sqlite3_stmt *
query_prepare(outbox *ob, op *p, const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(ob->db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	if (p->u.query.sink)
		sqlite3_bind_text(st, 1, p->u.query.sink, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, p->u.query.state);
	if (p->u.query.id)
		sqlite3_bind_text(st, 3, p->u.query.id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)p->u.query.limit);
	sqlite3_bind_int64(st, 5, now_realtime_us());
	return st;
}

#define FILTERS                                                                \
	"(?1 IS NULL OR d.sink=?1) AND (?2<0 OR d.state=?2) AND "              \
	"(?3 IS NULL OR d.seq IN (SELECT seq FROM alerts WHERE id=?3))"

static int
query_rows(outbox *ob, op *p, const char *sql, json_t *out,
    json_t *(*row)(sqlite3_stmt *))
{
	sqlite3_stmt *st = query_prepare(ob, p, sql);
	int           rc;

	if (st == NULL)
		return op_fail(ob, p, "querying");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(out, row(st));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return op_fail(ob, p, "querying");
	return 0;
}

static json_t *
stats_row(sqlite3_stmt *st)
{
	return json_pack("{s:s, s:s, s:I}", "sink",
	    (const char *)sqlite3_column_text(st, 0), "state",
	    outbox_state_name(sqlite3_column_int(st, 1)), "count",
	    (json_int_t)sqlite3_column_int64(st, 2));
}

static json_t *
list_row(sqlite3_stmt *st)
{
	const char *e = (const char *)sqlite3_column_text(st, 7);

	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:s?}",
	    "seq", (json_int_t)sqlite3_column_int64(st, 0), "id",
	    (const char *)sqlite3_column_text(st, 1), "rule",
	    (const char *)sqlite3_column_text(st, 2), "sink",
	    (const char *)sqlite3_column_text(st, 3), "state",
	    outbox_state_name(sqlite3_column_int(st, 4)), "attempts",
	    sqlite3_column_int(st, 5), "updated",
	    (json_int_t)sqlite3_column_int64(st, 6), "created",
	    (json_int_t)sqlite3_column_int64(st, 8), "error", e);
}

static json_t *
changed_row(sqlite3_stmt *st)
{
	return json_pack("{s:I, s:s}", "seq",
	    (json_int_t)sqlite3_column_int64(st, 0), "sink",
	    (const char *)sqlite3_column_text(st, 1));
}

static int
run_query(outbox *ob, op *p)
{
	const char *a   = p->u.query.action;
	json_t     *arr = json_array();
	const char *key = "deliveries";
	int         rc;

	if (arr == NULL)
		return op_fail(ob, p, "out of memory");
	if (strcmp(a, "stats") == 0) {
		key = "counts";
		rc  = query_rows(ob, p,
		     "SELECT d.sink, d.state, count(*) FROM deliveries d WHERE "
		      "(?1 IS NULL OR d.sink=?1) AND ?2=?2 AND ?3 IS ?3 AND "
		      "?4=?4 AND ?5=?5 GROUP BY d.sink, d.state "
		      "ORDER BY d.sink, d.state",
		     arr, stats_row);
	} else if (strcmp(a, "list") == 0) {
		rc = query_rows(ob, p,
		    "SELECT * FROM (SELECT d.seq, a.id, a.rule, d.sink, "
		    "d.state, d.attempts, d.updated, d.error, a.created FROM "
		    "deliveries d JOIN alerts a ON a.seq=d.seq WHERE " FILTERS
		    " AND ?5=?5 ORDER BY d.seq DESC, d.sink LIMIT ?4) ORDER BY "
		    "seq, sink",
		    arr, list_row);
	} else if (strcmp(a, "retry") == 0) {
		rc = query_rows(ob, p,
		    "UPDATE deliveries AS d SET state=0, attempts=0, "
		    "error=NULL,"
		    " updated=?5 WHERE " FILTERS
		    " AND ?4=?4 RETURNING seq, sink",
		    arr, changed_row);
	} else {
		rc = query_rows(ob, p,
		    "DELETE FROM deliveries AS d WHERE " FILTERS
		    " AND ?4=?4 AND ?5=?5 RETURNING seq, sink",
		    arr, changed_row);
	}
	if (rc != 0) {
		json_decref(arr);
		return -1;
	}
	p->u.query.reply =
	    json_pack("{s:b, s:s, s:o}", "ok", 1, "action", a, key, arr);
	return p->u.query.reply ? 0 : op_fail(ob, p, "out of memory");
}

static int
run_prune(outbox *ob, op *p)
{
	if (exec1(ob,
	        "DELETE FROM deliveries WHERE state IN (1, 3) AND updated<?",
	        "i", p->u.prune.before) != SQLITE_DONE ||
	    exec1(ob,
	        "DELETE FROM alerts WHERE created<? AND NOT EXISTS (SELECT 1 "
	        "FROM deliveries d WHERE d.seq=alerts.seq)",
	        "i", p->u.prune.before) != SQLITE_DONE ||
	    exec1(ob,
	        "DELETE FROM sets WHERE created<? AND NOT EXISTS (SELECT 1 "
	        "FROM alerts a WHERE a.vid=sets.vid)",
	        "i", p->u.prune.before) != SQLITE_DONE)
		return op_fail(ob, p, "pruning");
	return 0;
}

static int
run_op(outbox *ob, op *p)
{
	p->err[0] = '\0';
	switch (p->kind) {
	case OP_COMMIT: return run_commit(ob, p);
	case OP_MARK: return run_mark(ob, p);
	case OP_LOAD: rows_reset(p); return run_load(ob, p);
	case OP_QUERY:
		json_decref(p->u.query.reply);
		p->u.query.reply = NULL;
		return run_query(ob, p);
	case OP_POSITION: return run_position(ob, p);
	default: return run_prune(ob, p);
	}
}

static void
op_free(op *p)
{
	switch (p->kind) {
	case OP_MARK:
		free(p->u.mark.sink);
		free(p->u.mark.error);
		break;
	case OP_LOAD:
		free(p->u.load.sink);
		outbox_rows_free(p->u.load.rows, p->u.load.n);
		break;
	case OP_QUERY:
		free(p->u.query.action);
		free(p->u.query.sink);
		free(p->u.query.id);
		json_decref(p->u.query.reply);
		break;
	case OP_POSITION:
		free(p->u.position.input);
		free(p->u.position.pos);
		break;
	default: break;
	}
	free(p);
}

/* On the loop: hands the outcome to the operation's callback. */
static void
op_complete(bridge_item *item)
{
	op         *p   = (op *)item;
	const char *err = p->rc ? p->err : NULL;

	switch (p->kind) {
	case OP_COMMIT: p->u.commit.done(p->arg, p->rc, err); break;
	case OP_LOAD:
		p->u.load.done(p->arg, p->rc, err, p->u.load.rows, p->u.load.n);
		p->u.load.rows = NULL;
		p->u.load.n    = 0;
		break;
	case OP_QUERY:
		p->u.query.done(p->arg, p->u.query.reply, err);
		p->u.query.reply = NULL;
		break;
	default: break;
	}
	op_free(p);
}

static bool
txn(outbox *ob, const char *sql)
{
	return sqlite3_exec(ob->db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

/* One transaction for the batch; on any failure, one per operation. */
static void
run_batch(outbox *ob, op *list)
{
	bool ok = txn(ob, "BEGIN IMMEDIATE");

	for (op *p = list; ok && p; p = p->next)
		ok = (p->rc = run_op(ob, p)) == 0;
	if (ok && txn(ob, "COMMIT"))
		return;
	txn(ob, "ROLLBACK");
	for (op *p = list; p; p = p->next) {
		if (!txn(ob, "BEGIN IMMEDIATE")) {
			p->rc = op_fail(ob, p, "starting a transaction");
			continue;
		}
		if ((p->rc = run_op(ob, p)) == 0 && !txn(ob, "COMMIT"))
			p->rc = op_fail(ob, p, "committing");
		if (p->rc != 0)
			txn(ob, "ROLLBACK");
	}
}

static void
finish_batch(outbox *ob, op *list)
{
	op *next;

	for (op *p = list; p; p = next) {
		next = p->next;
		atomic_fetch_sub(&ob->queued, 1);
		if (p->kind == OP_MARK || p->kind == OP_PRUNE ||
		    p->kind == OP_POSITION) {
			if (p->rc != 0)
				log_err("%s", p->err);
			op_free(p);
		} else {
			bridge_post(ob->br, &p->item);
		}
	}
}

#define COALESCE_OPS 64
#define COALESCE_US  300

static struct timespec
deadline_in(long us)
{
	struct timespec at;

	clock_gettime(CLOCK_REALTIME, &at);
	at.tv_nsec += us * 1000;
	if (at.tv_nsec >= 1000000000) {
		at.tv_sec++;
		at.tv_nsec -= 1000000000;
	}
	return at;
}

/* A log that is never wholly copied back is never started again from its
 * beginning, and under steady load the writer always adds frames while the
 * checkpointer copies: the file would grow for as long as the load lasts.
 * So once it holds this many frames (32 MiB of 4 KiB pages) the writer,
 * between two batches, copies back what the checkpointer has not (what
 * was written during its last pass) with a RESTART checkpoint, after
 * which the next transaction writes from the start of the file. */
#define WAL_REWIND_FRAMES 8192
#define REWIND_WAIT_MS    20
/* How long a statement waits for a lock another connection holds. */
#define BUSY_WAIT_MS 5000

static void
rewind_log(outbox *ob)
{
	int log_frames, done_frames, rc;

	/* A reader of an older snapshot (an operator's sqlite3 shell, a
	 * backup) holds the rewind up: wait for it only briefly, and try
	 * again after the next checkpoint rather than hold up commits. */
	sqlite3_busy_timeout(ob->db, REWIND_WAIT_MS);
	rc = sqlite3_wal_checkpoint_v2(
	    ob->db, NULL, SQLITE_CHECKPOINT_RESTART, &log_frames, &done_frames);
	if (rc != SQLITE_OK && sqlite3_errcode(ob->db) != SQLITE_BUSY)
		log_err("outbox %s: rewinding the log: %s", ob->path,
		    sqlite3_errmsg(ob->db));
	sqlite3_busy_timeout(ob->db, BUSY_WAIT_MS);
}

static void *
writer(void *arg)
{
	outbox *ob = arg;
	op     *list;

	pthread_mutex_lock(&ob->mu);
	for (;;) {
		while (ob->head == NULL && !ob->stopping) {
			ob->idle = true;
			pthread_cond_wait(&ob->cv, &ob->mu);
		}
		ob->idle = false;
		if (ob->head == NULL)
			break;
		/* A transaction rewrites the pages it touches: one for many
		 * operations writes far less than one each. So a batch that
		 * starts small waits a moment for company. */
		if (!ob->stopping && atomic_load(&ob->queued) < COALESCE_OPS) {
			struct timespec at = deadline_in(COALESCE_US);
			ob->gathering      = true;
			while (!ob->stopping &&
			    atomic_load(&ob->queued) < COALESCE_OPS &&
			    pthread_cond_timedwait(&ob->cv, &ob->mu, &at) == 0)
				;
			ob->gathering = false;
		}
		list     = ob->head;
		ob->head = NULL;
		ob->tail = &ob->head;
		pthread_mutex_unlock(&ob->mu);
		run_batch(ob, list);
		finish_batch(ob, list);
		if (atomic_exchange(&ob->rewind, false))
			rewind_log(ob);
		pthread_mutex_lock(&ob->mu);
	}
	pthread_mutex_unlock(&ob->mu);
	return NULL;
}

/* Copies the WAL into the database every half second (PASSIVE: it never
 * blocks the writer), so that the WAL stays small and the writer, which
 * has automatic checkpoints off, never stops for one. */
static void *
checkpointer(void *arg)
{
	outbox         *ob = arg;
	struct timespec at;
	int             log_frames, done_frames;

	pthread_mutex_lock(&ob->mu);
	while (!ob->ckstop) {
		clock_gettime(CLOCK_REALTIME, &at);
		at.tv_nsec += 500000000;
		if (at.tv_nsec >= 1000000000) {
			at.tv_sec++;
			at.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&ob->ckcv, &ob->mu, &at);
		if (ob->ckstop)
			break;
		pthread_mutex_unlock(&ob->mu);
		if (sqlite3_wal_checkpoint_v2(ob->ckdb, NULL,
		        SQLITE_CHECKPOINT_PASSIVE, &log_frames,
		        &done_frames) != SQLITE_OK) {
			if (sqlite3_errcode(ob->ckdb) != SQLITE_BUSY)
				log_err("outbox %s: checkpoint: %s", ob->path,
				    sqlite3_errmsg(ob->ckdb));
		} else if (log_frames >= ob->rewind_frames)
			atomic_store(&ob->rewind, true);
		pthread_mutex_lock(&ob->mu);
	}
	pthread_mutex_unlock(&ob->mu);
	return NULL;
}

/* ---- the loop's side ----------------------------------------------------- */

static op *
op_new(enum op_kind kind, void *arg)
{
	op *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->kind    = kind;
	p->arg     = arg;
	p->item.fn = op_complete;
	return p;
}

static void
enqueue(outbox *ob, op *p)
{
	atomic_fetch_add(&ob->queued, 1);
	pthread_mutex_lock(&ob->mu);
	*ob->tail = p;
	ob->tail  = &p->next;
	if (ob->idle ||
	    (ob->gathering && atomic_load(&ob->queued) >= COALESCE_OPS)) {
		ob->idle = false;
		pthread_cond_signal(&ob->cv);
	}
	pthread_mutex_unlock(&ob->mu);
}

void
outbox_commit_alerts(
    outbox *ob, outbox_commit *c, outbox_done_fn done, void *arg)
{
	op *p = op_new(OP_COMMIT, arg);

	if (p == NULL) {
		done(arg, -1, "outbox: out of memory");
		return;
	}
	p->u.commit.c    = c;
	p->u.commit.done = done;
	enqueue(ob, p);
}

void
outbox_mark(outbox *ob, int64_t seq, const char *sink, int state, int attempts,
    const char *error)
{
	op *p = op_new(OP_MARK, NULL);

	if (p == NULL || (p->u.mark.sink = strdup(sink)) == NULL ||
	    (error && (p->u.mark.error = strdup(error)) == NULL)) {
		log_err("outbox: out of memory recording the delivery of "
		        "alert %lld to %s; it is sent again after a restart",
		    (long long)seq, sink);
		if (p)
			op_free(p);
		return;
	}
	p->u.mark.seq      = seq;
	p->u.mark.state    = state;
	p->u.mark.attempts = attempts;
	p->u.mark.updated  = now_realtime_us();
	enqueue(ob, p);
}

void
outbox_load(outbox *ob, const char *sink, int state, int64_t after,
    size_t limit, outbox_rows_fn done, void *arg)
{
	op *p = op_new(OP_LOAD, arg);

	if (p == NULL || (p->u.load.sink = strdup(sink)) == NULL) {
		free(p);
		done(arg, -1, "outbox: out of memory", NULL, 0);
		return;
	}
	p->u.load.state = state;
	p->u.load.after = after;
	p->u.load.limit = limit;
	p->u.load.done  = done;
	enqueue(ob, p);
}

static int
dup_opt(char **dst, const char *s)
{
	return s == NULL || (*dst = strdup(s)) != NULL ? 0 : -1;
}

void
outbox_run_query(
    outbox *ob, const outbox_query *q, outbox_json_fn done, void *arg)
{
	op *p = op_new(OP_QUERY, arg);

	if (p == NULL || dup_opt(&p->u.query.action, q->action) != 0 ||
	    dup_opt(&p->u.query.sink, q->sink) != 0 ||
	    dup_opt(&p->u.query.id, q->id) != 0) {
		if (p)
			op_free(p);
		done(arg, NULL, "outbox: out of memory");
		return;
	}
	p->u.query.state = q->state;
	p->u.query.limit = q->limit ? q->limit : 100;
	p->u.query.done  = done;
	enqueue(ob, p);
}

void
outbox_position(outbox *ob, const char *input, const void *pos, size_t len)
{
	op *p = op_new(OP_POSITION, NULL);

	if (p == NULL || (p->u.position.input = strdup(input)) == NULL ||
	    (p->u.position.pos = malloc(len ? len : 1)) == NULL) {
		log_err("outbox: out of memory recording the position of %s; "
		        "its posts after the last recorded one are read again "
		        "after a restart",
		    input);
		if (p)
			op_free(p);
		return;
	}
	memcpy(p->u.position.pos, pos, len);
	p->u.position.len = len;
	enqueue(ob, p);
}

size_t
outbox_saved_positions(const outbox *ob, const outbox_saved_position **out)
{
	*out = ob->saved;
	return ob->n_saved;
}

static void
saved_free(outbox *ob)
{
	for (size_t i = 0; i < ob->n_saved; i++) {
		free(ob->saved[i].input);
		free(ob->saved[i].pos);
	}
	free(ob->saved);
	ob->saved   = NULL;
	ob->n_saved = 0;
}

static int
read_positions(outbox *ob, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int           rc;

	if (sqlite3_prepare_v2(ob->db, "SELECT input, pos FROM positions", -1,
	        &st, NULL) != SQLITE_OK)
		return db_err(ob, err, errlen, "reading positions");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		outbox_saved_position *arr, *sp;
		const char *in  = (const char *)sqlite3_column_text(st, 0);
		const void *pos = sqlite3_column_blob(st, 1);
		size_t      len = (size_t)sqlite3_column_bytes(st, 1);

		arr = realloc(ob->saved, (ob->n_saved + 1) * sizeof(*arr));
		if (arr == NULL)
			goto nomem;
		ob->saved = arr;
		sp        = &arr[ob->n_saved];
		sp->input = strdup(in ? in : "");
		sp->pos   = malloc(len ? len : 1);
		sp->len   = len;
		if (sp->input == NULL || sp->pos == NULL) {
			free(sp->input);
			free(sp->pos);
			goto nomem;
		}
		if (len)
			memcpy(sp->pos, pos, len);
		ob->n_saved++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_err(ob, err, errlen, "reading positions");
	return 0;
nomem:
	sqlite3_finalize(st);
	snprintf(err, errlen, "outbox %s: out of memory reading positions",
	    ob->path);
	return -1;
}

void
outbox_prune(outbox *ob, int64_t now_us, int64_t retention_us)
{
	op *p = op_new(OP_PRUNE, NULL);

	if (p == NULL)
		return;
	p->u.prune.now    = now_us;
	p->u.prune.before = now_us - retention_us;
	enqueue(ob, p);
}

size_t
outbox_backlog(const outbox *ob)
{
	return atomic_load(&((outbox *)ob)->queued);
}

static void
stop_thread(outbox *ob, pthread_t *t, bool *flag, pthread_cond_t *cv)
{
	pthread_mutex_lock(&ob->mu);
	*flag = true;
	pthread_cond_signal(cv);
	pthread_mutex_unlock(&ob->mu);
	pthread_join(*t, NULL);
}

outbox *
outbox_open(const outbox_opts *o, bridge *br, char *err, size_t errlen)
{
	outbox *ob = calloc(1, sizeof(*ob));
	int     rc;

	if (ob == NULL || (ob->path = strdup(o->path)) == NULL) {
		free(ob);
		snprintf(err, errlen, "outbox: out of memory");
		return NULL;
	}
	ob->br   = br;
	ob->tail = &ob->head;
	atomic_init(&ob->queued, 0);
	atomic_init(&ob->rewind, false);
	ob->rewind_frames =
	    o->wal_rewind_frames > 0 ? o->wal_rewind_frames : WAL_REWIND_FRAMES;
	if ((rc = outbox_vfs_register()) != SQLITE_OK) {
		snprintf(err, errlen, "outbox %s: cannot register its VFS: %s",
		    o->path, sqlite3_errstr(rc));
		goto fail;
	}
	rc = sqlite3_open_v2(o->path, &ob->db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	    OUTBOX_VFS);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "outbox %s: cannot open: %s", o->path,
		    ob->db ? sqlite3_errmsg(ob->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(ob->db, BUSY_WAIT_MS);
	if (configure_db(ob, o, err, errlen) != 0 ||
	    read_positions(ob, err, errlen) != 0)
		goto fail;
	if (sqlite3_open_v2(o->path, &ob->ckdb,
	        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
	        OUTBOX_VFS) != SQLITE_OK) {
		snprintf(err, errlen, "outbox %s: cannot open: %s", o->path,
		    ob->ckdb ? sqlite3_errmsg(ob->ckdb) : "out of memory");
		goto fail;
	}
	/* The writer touches the tail of each table and index: 1 MiB of
	 * cache holds them. The checkpointer only copies pages. */
	sqlite3_exec(ob->db, "PRAGMA cache_size=-1024", NULL, NULL, NULL);
	/* The checkpointer only copies pages: it needs little cache. */
	sqlite3_exec(ob->ckdb, "PRAGMA cache_size=-256", NULL, NULL, NULL);
	pthread_mutex_init(&ob->mu, NULL);
	pthread_cond_init(&ob->cv, NULL);
	pthread_cond_init(&ob->ckcv, NULL);
	if ((rc = pthread_create(&ob->thread, NULL, writer, ob)) != 0) {
		snprintf(err, errlen, "outbox %s: cannot start the writer: %s",
		    o->path, strerror(rc));
		goto fail_sync;
	}
	if ((rc = pthread_create(&ob->ckthread, NULL, checkpointer, ob)) != 0) {
		snprintf(err, errlen,
		    "outbox %s: cannot start the checkpointer: %s", o->path,
		    strerror(rc));
		stop_thread(ob, &ob->thread, &ob->stopping, &ob->cv);
		goto fail_sync;
	}
	return ob;
fail_sync:
	pthread_cond_destroy(&ob->ckcv);
	pthread_cond_destroy(&ob->cv);
	pthread_mutex_destroy(&ob->mu);
fail:
	for (size_t i = 0; i < ob->n_cache; i++)
		sqlite3_finalize(ob->cache[i].st);
	sqlite3_close(ob->ckdb);
	sqlite3_close(ob->db);
	saved_free(ob);
	free(ob->path);
	free(ob);
	return NULL;
}

void
outbox_close(outbox *ob)
{
	if (ob == NULL)
		return;
	stop_thread(ob, &ob->ckthread, &ob->ckstop, &ob->ckcv);
	stop_thread(ob, &ob->thread, &ob->stopping, &ob->cv);
	/* Leaves a small WAL behind, and the database whole without it. */
	sqlite3_wal_checkpoint_v2(
	    ob->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	sqlite3_close(ob->ckdb);
	pthread_cond_destroy(&ob->ckcv);
	pthread_cond_destroy(&ob->cv);
	pthread_mutex_destroy(&ob->mu);
	for (size_t i = 0; i < ob->n_cache; i++)
		sqlite3_finalize(ob->cache[i].st);
	sqlite3_close(ob->db);
	saved_free(ob);
	free(ob->path);
	free(ob);
}
