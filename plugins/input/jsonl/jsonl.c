/*
 * jsonl.c - input plugin that reads posts as JSON lines from a file it
 * follows like `tail -F`, or from stdin.
 *
 * Reading. Everything runs on the host's event loop and no callback reads
 * more than read_chunk bytes: a file is read with pread(2) one chunk per
 * turn of the loop (a zero-delay timer), and at its end a poll_ms timer
 * looks for growth, truncation and rotation. Regular files cannot be
 * polled for readability, hence the timers. Stdin, when it is a pipe,
 * socket or terminal, is made non-blocking and read when readable.
 *
 * Lines. Bytes go through rbuf (one chunk); a line that a chunk boundary
 * cuts goes on in lbuf, which holds at most max_line + 4 bytes (the line,
 * a CR, a BOM). A longer line is dropped byte by byte up to its newline
 * without ever being held whole. Blank lines are skipped; CRLF and a BOM
 * at the start of the file are stripped.
 *
 * Backpressure. When submit says VIGIL_EAGAIN the line is kept in lbuf
 * ("held"), reading stops, and resume() submits the held line before
 * anything else. Unprocessed bytes of the chunk stay in rbuf.
 *
 * The offset. Each submitted line carries, as its host position
 * (vigil_submit.pos), the file's identity and the offset after it; a
 * line that needs no verdict (blank, too long, refused) is reported with
 * position_skip. The host records the newest position with no unfinished
 * line before it, in the outbox transaction of that line's alerts, and
 * hands it back at the next start: a clean stop waits for every verdict,
 * so a restart goes on at the next line; after a crash lines may repeat
 * but none is skipped.
 *
 * Files. The identity is dev+inode plus a hash of the first bytes, so
 * that a file replaced by another one with a recycled inode is not
 * resumed in the middle; the same hash, checked at each idle poll,
 * catches a file truncated and written past our offset again between two
 * polls. A position of a file rotated away no longer matches, and the
 * current file is read from its beginning.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include <vigil/plugin.h>

#define STATE_KEY  "offset" /* where vigil 0.x kept it, in the kv store */
#define FP_MAX     256      /* bytes at the head of a file that identify it */
#define LINE_SLACK 4        /* a BOM and a CR beyond max_line */

enum start_mode { START_SAVED, START_BEGINNING, START_END };

/* What the saved offset belongs to. */
struct file_id {
	uint64_t dev, ino;
	uint64_t fp; /* FNV-1a of the first fp_len bytes */
	uint32_t fp_len;
};

struct jsonl {
	const vigil_host *host;
	vigil_ctx        *ctx;

	/* Settings. */
	char           *path;
	const char     *name; /* path, or "stdin", for messages */
	bool            is_stdin;
	bool            follow;
	bool            save_offset;
	size_t          max_line;
	size_t          read_chunk;
	int             poll_ms;
	enum start_mode start;

	struct event *ev_read; /* stdin readable */
	struct event *ev_pump; /* the next turn of reading */
	struct event *ev_poll; /* growth, truncation, rotation */

	/* The file being read. */
	int            fd;          /* -1 until the file exists */
	bool           stream;      /* read when readable, not by offset */
	int            stdin_flags; /* restored at destroy; -1 untouched */
	bool           have_id;
	struct file_id id;
	uint64_t       read_off;    /* offset of the next byte to read */
	uint64_t       line_no;     /* lines finished in this file */
	bool           lines_known; /* false after start = "end" */
	uint64_t       line_start;  /* offset of the current line */

	char    *rbuf;       /* the last chunk read */
	size_t   rpos, rlen; /* unprocessed: rbuf[rpos, rlen) */
	char    *lbuf;       /* a line across chunks, or the held line */
	size_t   llen, lcap;
	bool     at_eof;     /* the last read found nothing more */
	bool     discarding; /* inside a line longer than max_line */
	bool     held;       /* lbuf holds a line that submit refused */
	uint64_t held_end;

	bool paused;  /* by backpressure */
	bool stopped; /* by stop() */
	bool ending;  /* at the final EOF, the last line still to go */
	bool ended;   /* no more reading, ever */

	vigil_counter *c_read, *c_oversize, *c_invalid;
};

static const vigil_setting jsonl_settings[] = {
    {"path", VIGIL_SET_STRING, NULL,
        "File of posts, one JSON object a line, followed like `tail -F` "
        "(growth, rotation, truncation); `-` reads stdin. Relative to "
        "the configuration file's directory.",
        NULL, VIGIL_SET_REQUIRED | VIGIL_SET_PATH, 0, 0},
    {"max_line", VIGIL_SET_INT, "262144",
        "Longest line in bytes; a longer one is skipped (and logged) "
        "without being read into memory whole.",
        NULL, 0, 64, 67108864},
    {"read_chunk", VIGIL_SET_INT, "65536",
        "Bytes read per turn of the event loop, so that a large file "
        "never holds up the daemon.",
        NULL, 0, 512, 16777216},
    {"poll_ms", VIGIL_SET_INT, "250",
        "How often, in milliseconds, a followed file at its end is "
        "checked for growth, rotation and truncation.",
        NULL, 0, 10, 60000},
    {"start", VIGIL_SET_STRING, "saved",
        "Where to begin: `saved` goes on after the last line finished "
        "before the daemon stopped (the beginning when there is none or "
        "the file was replaced), `beginning` reads the whole file, `end` "
        "only what is appended from now on.",
        NULL, 0, 0, 0},
    {"save_offset", VIGIL_SET_BOOL, "true",
        "Keep the offset of the last finished line in the state "
        "directory, for `start = \"saved\"`.",
        NULL, 0, 0, 0},
    {"follow", VIGIL_SET_BOOL, "true",
        "Keep reading as the file grows; when false, stop at its end.", NULL, 0,
        0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static bool consume_buffer(struct jsonl *j);
static void pump(struct jsonl *j);

/* ------------------------------------------------------------ helpers */

static const char *
cfg_place(const vigil_host *host, const vigil_cfg *cfg, const char *name)
{
	const char *w = host->cfg_where(cfg, name);

	return w != NULL ? w : "(config)";
}

/* The host resolves PATH settings against the configuration's directory,
 * which makes "-" into "<dir>/-"; both mean stdin. */
static bool
path_is_stdin(const char *path)
{
	size_t n = strlen(path);

	return strcmp(path, "-") == 0 ||
	    (n >= 2 && strcmp(path + n - 2, "/-") == 0);
}

static int
parse_start(const char *s, enum start_mode *mode)
{
	if (s == NULL || strcmp(s, "saved") == 0)
		*mode = START_SAVED;
	else if (strcmp(s, "beginning") == 0)
		*mode = START_BEGINNING;
	else if (strcmp(s, "end") == 0)
		*mode = START_END;
	else
		return -1;
	return 0;
}

/* The number of the line being read, for messages and submit; 0 when the
 * count began in the middle of the file. */
static uint64_t
current_lineno(const struct jsonl *j)
{
	return j->lines_known ? j->line_no + 1 : 0;
}

/* "<path>:<line>: msg", rate limited: lines are outside input. */
static void
warn_line(struct jsonl *j, uint64_t lineno, const char *msg)
{
	if (lineno > 0)
		j->host->log_limited(j->ctx, VIGIL_LOG_WARNING,
		    "%s:%" PRIu64 ": %s", j->name, lineno, msg);
	else
		j->host->log_limited(
		    j->ctx, VIGIL_LOG_WARNING, "%s: %s", j->name, msg);
}

static void
schedule_pump(struct jsonl *j, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	if (j->ev_pump != NULL && !j->stopped)
		evtimer_add(j->ev_pump, &tv);
}

/* ------------------------------------------------------------ identity */

static uint64_t
fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}

/* Reads the first len (<= FP_MAX) bytes of fd; -1 when it has fewer. */
static int
read_head(int fd, unsigned char *buf, size_t len)
{
	size_t n = 0;

	while (n < len) {
		ssize_t r = pread(fd, buf + n, len - n, (off_t)n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		n += (size_t)r;
	}
	return 0;
}

/* Hashes the first len bytes of fd; -1 when the file has fewer. */
static int
head_hash(int fd, size_t len, uint64_t *hash)
{
	unsigned char buf[FP_MAX];

	if (read_head(fd, buf, len) != 0)
		return -1;
	*hash = fnv1a(buf, len);
	return 0;
}

/* Extends the fingerprint to as much of the head as the file has, up to
 * FP_MAX, but only while the bytes it covers so far are unchanged: a
 * rewritten file must keep failing the comparison in check_file. */
static void
fingerprint(struct jsonl *j)
{
	unsigned char buf[FP_MAX];
	struct stat   st;
	size_t        len;

	if (j->fd < 0 || fstat(j->fd, &st) != 0)
		return;
	len = st.st_size < FP_MAX ? (size_t)st.st_size : FP_MAX;
	if (len <= j->id.fp_len || read_head(j->fd, buf, len) != 0)
		return;
	if (j->id.fp_len > 0 && fnv1a(buf, j->id.fp_len) != j->id.fp)
		return;
	j->id.fp     = fnv1a(buf, len);
	j->id.fp_len = (uint32_t)len;
}

/* ------------------------------------------------------------ saved state */

static bool
tracking(const struct jsonl *j)
{
	return j->save_offset && !j->is_stdin && j->have_id;
}

/* The position after a line that ends at end, having lines lines before
 * it; false when it does not fit (it always does). */
static bool
state_text(struct jsonl *j, uint64_t end, uint64_t lines, char *buf, size_t len,
    size_t *n)
{
	int r;

	if (j->id.fp_len < FP_MAX)
		fingerprint(j);
	r = snprintf(buf, len,
	    "v1 dev=%" PRIu64 " ino=%" PRIu64 " off=%" PRIu64 " line=%" PRIu64
	    " fplen=%" PRIu32 " fp=%016" PRIx64 "\n",
	    j->id.dev, j->id.ino, end, j->lines_known ? lines : 0, j->id.fp_len,
	    j->id.fp);
	if (r < 0 || (size_t)r >= len)
		return false;
	*n = (size_t)r;
	return true;
}

struct saved {
	struct file_id id;
	uint64_t       off, lines;
};

/* Reads the saved state; false when there is none or it is unreadable. */
static bool
load_state(struct jsonl *j, struct saved *s)
{
	char  *val, text[192];
	size_t len  = 0;
	int    used = -1;

	val = j->host->position_get(j->ctx, &len);
	if (val == NULL)
		val = j->host->kv_get(j->ctx, STATE_KEY, &len);
	if (val == NULL)
		return false;
	if (len < sizeof(text)) {
		memcpy(text, val, len);
		text[len] = '\0';
		sscanf(text,
		    "v1 dev=%" SCNu64 " ino=%" SCNu64 " off=%" SCNu64
		    " line=%" SCNu64 " fplen=%" SCNu32 " fp=%" SCNx64 "\n%n",
		    &s->id.dev, &s->id.ino, &s->off, &s->lines, &s->id.fp_len,
		    &s->id.fp, &used);
	}
	free(val);
	if (used < 0 || (size_t)used != len || s->id.fp_len > FP_MAX) {
		j->host->log(j->ctx, VIGIL_LOG_WARNING,
		    "%s: the saved offset "
		    "is unreadable; reading from the beginning",
		    j->name);
		return false;
	}
	return true;
}

/* Where a start = "saved" goes on in the file open on fd: the saved
 * offset if it belongs to this very file, else 0 (logged). */
static bool
resume_point(struct jsonl *j, const struct stat *st, struct saved *s)
{
	uint64_t    hash;
	const char *why = NULL;

	if (!load_state(j, s))
		return false;
	if (s->id.dev != (uint64_t)st->st_dev ||
	    s->id.ino != (uint64_t)st->st_ino)
		why = "it is another file than the one the saved offset is for";
	else if ((uint64_t)st->st_size < s->off)
		why = "it is shorter than the saved offset (truncated)";
	else if (s->id.fp_len > 0 &&
	    (head_hash(j->fd, s->id.fp_len, &hash) != 0 || hash != s->id.fp))
		why = "its first bytes changed (replaced)";
	if (why != NULL) {
		j->host->log(j->ctx, VIGIL_LOG_NOTICE,
		    "%s: %s; reading from "
		    "the beginning",
		    j->name, why);
		return false;
	}
	j->host->log(j->ctx, VIGIL_LOG_INFO, "%s: going on from byte %" PRIu64,
	    j->name, s->off);
	return true;
}

/* ------------------------------------------------------------ positions */

/* The input stands at off, with lines lines before it, and no verdict is
 * due for what lies between: it is recorded once those before are. */
static void
skip_position(struct jsonl *j, uint64_t off, uint64_t lines)
{
	char   buf[192];
	size_t n;

	if (tracking(j) && state_text(j, off, lines, buf, sizeof(buf), &n))
		j->host->position_skip(j->ctx, buf, n);
}

static void
jsonl_ack(void *arg, int status, const char *reason)
{
	struct jsonl *j = arg;

	(void)reason;
	/* The host has logged it with our source:line; count it here. */
	if (status == VIGIL_ACK_INVALID)
		j->host->counter_add(j->c_invalid, 1);
}

/* ------------------------------------------------------------ lines */

/* The line is finished; the next one starts at end. */
static void
line_done(struct jsonl *j, uint64_t end)
{
	j->line_no++;
	j->line_start = end;
	j->llen       = 0;
}

static void
skip_line(struct jsonl *j, uint64_t end)
{
	line_done(j, end);
	skip_position(j, end, j->line_no);
}

static void
reject_oversize(struct jsonl *j)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "line longer than %zu bytes, skipped",
	    j->max_line);
	warn_line(j, current_lineno(j), msg);
	j->host->counter_add(j->c_oversize, 1);
}

static void
pause_reading(struct jsonl *j)
{
	j->paused = true;
	if (j->ev_read != NULL)
		event_del(j->ev_read);
	if (j->ev_pump != NULL)
		event_del(j->ev_pump);
}

static int
submit_line(struct jsonl *j, const char *s, size_t len, uint64_t end)
{
	vigil_submit opts = {
	    .struct_size = sizeof(opts),
	    .source      = j->name,
	    .line        = current_lineno(j),
	    .ack         = jsonl_ack,
	    .ack_arg     = j,
	};
	char   pos[192];
	size_t n;
	int    r;

	if (tracking(j) &&
	    state_text(j, end, j->line_no + 1, pos, sizeof(pos), &n)) {
		opts.pos     = pos;
		opts.pos_len = n;
	}
	r = j->host->submit(j->ctx, s, len, &opts);
	if (r == VIGIL_OK)
		j->host->counter_add(j->c_read, 1);
	return r;
}

/* Offers one complete line (already stripped) ending at end. Returns
 * false when it is held for later: the host is full or memory ran out. */
static bool
offer_line(struct jsonl *j, const char *s, size_t len, uint64_t end)
{
	int r = submit_line(j, s, len, end);

	if (r == VIGIL_OK) {
		line_done(j, end);
		return true;
	}
	if (r == VIGIL_EAGAIN) {
		/* The host resumes us when it has room (or memory). */
		memmove(j->lbuf, s, len);
		j->llen     = len;
		j->held     = true;
		j->held_end = end;
		pause_reading(j);
		return false;
	}
	warn_line(j, current_lineno(j), "refused by the host, skipped");
	j->host->counter_add(j->c_invalid, 1);
	skip_line(j, end);
	return true;
}

static bool
is_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/* A whole line, without its newline, that ends at end. */
static bool
complete_line(struct jsonl *j, const char *s, size_t len, uint64_t end)
{
	if (j->line_start == 0 && len >= 3 &&
	    memcmp(s, "\xef\xbb\xbf", 3) == 0) {
		s += 3;
		len -= 3;
	}
	if (len > 0 && s[len - 1] == '\r')
		len--;
	if (len > j->max_line) {
		reject_oversize(j);
		skip_line(j, end);
		return true;
	}
	if (is_blank(s, len)) {
		skip_line(j, end);
		return true;
	}
	return offer_line(j, s, len, end);
}

static bool
resubmit_held(struct jsonl *j)
{
	j->held = false;
	return offer_line(j, j->lbuf, j->llen, j->held_end);
}

/* Adds the start of a line to lbuf; past the limit, drops the line up to
 * its newline instead. Returns false when the line is being dropped. */
static bool
accumulate(struct jsonl *j, const char *s, size_t n)
{
	if (j->discarding)
		return false;
	if (n > j->lcap - j->llen) {
		reject_oversize(j);
		j->discarding = true;
		j->llen       = 0;
		return false;
	}
	memcpy(j->lbuf + j->llen, s, n);
	j->llen += n;
	return true;
}

/* The file offset of rbuf[i]. */
static uint64_t
buf_offset(const struct jsonl *j, size_t i)
{
	return j->read_off - j->rlen + i;
}

/* Processes rbuf[rpos, rlen). Returns true when it is used up, false
 * when reading must wait (paused, stopped, a line held). */
static bool
consume_buffer(struct jsonl *j)
{
	while (j->rpos < j->rlen) {
		char    *s     = j->rbuf + j->rpos;
		size_t   avail = j->rlen - j->rpos;
		char    *nl    = memchr(s, '\n', avail);
		size_t   seg   = nl != NULL ? (size_t)(nl - s) : avail;
		uint64_t end   = buf_offset(j, j->rpos + seg + 1);

		/* pause() may come from inside submit. */
		if (j->paused || j->stopped)
			return false;
		if (nl == NULL) {
			accumulate(j, s, seg);
			j->rpos = j->rlen;
			break;
		}
		j->rpos += seg + 1;
		if (j->discarding || (j->llen > 0 && !accumulate(j, s, seg))) {
			j->discarding = false;
			skip_line(j, end);
			continue;
		}
		if (j->llen > 0) {
			if (!complete_line(j, j->lbuf, j->llen, end))
				return false;
		} else if (!complete_line(j, s, seg, end)) {
			return false;
		}
	}
	return true;
}

/* The last line of input that has no newline. Returns false if held. */
static bool
flush_partial(struct jsonl *j)
{
	if (j->discarding) {
		j->discarding = false;
		skip_line(j, j->read_off);
		return true;
	}
	if (j->llen == 0)
		return true;
	return complete_line(j, j->lbuf, j->llen, j->read_off);
}

/* ------------------------------------------------------------ files */

/* Opens the path for reading; on failure returns -1 with errno and a
 * reason in why. */
static int
open_file(struct jsonl *j, struct stat *st, const char **why)
{
	int fd, err;

	do
		fd =
		    open(j->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		*why = strerror(errno);
		return -1;
	}
	if (fstat(fd, st) != 0) {
		err  = errno;
		*why = strerror(err);
	} else if (!S_ISREG(st->st_mode)) {
		err  = EINVAL;
		*why = "not a regular file";
	} else {
		return fd;
	}
	close(fd);
	errno = err;
	return -1;
}

/* Starts over at offset 0 of the file on j->fd. */
static void
restart_file(struct jsonl *j)
{
	j->read_off    = 0;
	j->line_no     = 0;
	j->line_start  = 0;
	j->lines_known = true;
	j->rpos = j->rlen = 0;
	j->llen           = 0;
	j->at_eof         = false;
	j->discarding     = false;
	j->id.fp_len      = 0;
	j->id.fp          = 0;
	fingerprint(j);
}

/* Takes fd as the file to read. The first file of a run starts where the
 * start setting says; later ones (rotation) from the beginning. */
static void
attach_file(struct jsonl *j, int fd, const struct stat *st, bool first)
{
	struct saved s;

	if (j->fd >= 0)
		close(j->fd);
	j->fd      = fd;
	j->have_id = true;
	j->id.dev  = (uint64_t)st->st_dev;
	j->id.ino  = (uint64_t)st->st_ino;
	restart_file(j);
	if (!first) {
		skip_position(j, 0, 0);
		return;
	}
	if (j->start == START_END && st->st_size > 0) {
		j->read_off    = (uint64_t)st->st_size;
		j->lines_known = false;
	} else if (j->start == START_SAVED && j->save_offset &&
	    resume_point(j, st, &s)) {
		j->read_off    = s.off;
		j->line_no     = s.lines;
		j->lines_known = s.lines > 0 || s.off == 0;
	}
	j->line_start = j->read_off;
	skip_position(j, j->read_off, j->line_no);
}

/* Stops reading for good, after the last line without a newline. */
static void
finish_input(struct jsonl *j)
{
	j->ending = true;
	if (!flush_partial(j))
		return;
	j->ending = false;
	j->ended  = true;
	if (j->ev_read != NULL)
		event_del(j->ev_read);
	if (j->ev_poll != NULL)
		event_del(j->ev_poll);
	if (j->is_stdin)
		j->host->log(j->ctx, VIGIL_LOG_NOTICE,
		    "%s: end of input after "
		    "%" PRIu64 " lines",
		    j->name, j->line_no);
	else
		j->host->log(j->ctx, VIGIL_LOG_NOTICE,
		    "%s: end of file after "
		    "%" PRIu64 " lines; not following it (follow = false)",
		    j->name, j->line_no);
}

/* At the end of the followed file, before reading on: has it been
 * truncated, rewritten or replaced? Returns true when reading goes on
 * elsewhere (another file, offset 0) or waits (a held line). */
static bool
check_file(struct jsonl *j)
{
	struct stat cur, now;
	const char *why;
	uint64_t    hash;
	int         fd;

	if (fstat(j->fd, &cur) != 0)
		return false;
	if ((uint64_t)cur.st_size < j->read_off) {
		j->host->log(j->ctx, VIGIL_LOG_NOTICE,
		    "%s: truncated to %lld "
		    "bytes; reading from the beginning",
		    j->name, (long long)cur.st_size);
		restart_file(j);
		skip_position(j, 0, 0);
		schedule_pump(j, 0);
		return true;
	}
	/* Truncated and written past our offset again between two looks:
	 * only the head tells. */
	if (j->id.fp_len > 0 &&
	    (head_hash(j->fd, j->id.fp_len, &hash) != 0 || hash != j->id.fp)) {
		j->host->log(j->ctx, VIGIL_LOG_NOTICE,
		    "%s: rewritten from "
		    "the start; reading from the beginning",
		    j->name);
		restart_file(j);
		skip_position(j, 0, 0);
		schedule_pump(j, 0);
		return true;
	}
	/* Gone without a successor yet: the old file may still grow. */
	if (stat(j->path, &now) != 0)
		return false;
	if ((uint64_t)now.st_dev == j->id.dev &&
	    (uint64_t)now.st_ino == j->id.ino)
		return false;
	/* Rotated. Read what the writer may have added to the old file
	 * first; at its end, finish its last line and take the new one. */
	if ((uint64_t)cur.st_size > j->read_off)
		return false;
	if (!flush_partial(j))
		return true;
	fd = open_file(j, &now, &why);
	if (fd < 0) {
		j->host->log_limited(j->ctx, VIGIL_LOG_WARNING,
		    "%s: replaced, "
		    "but the new file cannot be read: %s",
		    j->name, why);
		return false;
	}
	j->host->log(j->ctx, VIGIL_LOG_NOTICE,
	    "%s: rotated after %" PRIu64
	    " lines; reading the new file from the beginning",
	    j->name, j->line_no);
	attach_file(j, fd, &now, false);
	schedule_pump(j, 0);
	return true;
}

/* One chunk from a file, or from stdin that cannot be polled. */
static void
read_chunk(struct jsonl *j)
{
	ssize_t n;

	if (j->is_stdin)
		n = read(j->fd, j->rbuf, j->read_chunk);
	else
		n = pread(j->fd, j->rbuf, j->read_chunk, (off_t)j->read_off);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN) {
			schedule_pump(j, errno == EINTR ? 0 : j->poll_ms);
			return;
		}
		j->host->log_limited(j->ctx, VIGIL_LOG_ERR, "%s: read: %s",
		    j->name, strerror(errno));
		schedule_pump(j, j->poll_ms);
		return;
	}
	if (n == 0) {
		/* A followed file is looked at again by poll_cb. */
		j->at_eof = true;
		if (j->is_stdin || !j->follow)
			finish_input(j);
		return;
	}
	j->at_eof = false;
	j->rpos   = 0;
	j->rlen   = (size_t)n;
	j->read_off += (uint64_t)n;
	if (consume_buffer(j))
		schedule_pump(j, 0);
}

/* One turn of reading: the held line first, then what rbuf holds, then
 * one new chunk. */
static void
pump(struct jsonl *j)
{
	if (j->paused || j->stopped || j->ended)
		return;
	if (j->held && !resubmit_held(j))
		return;
	if (!consume_buffer(j))
		return;
	if (j->ending) {
		finish_input(j);
		return;
	}
	if (j->stream) {
		event_add(j->ev_read, NULL);
		return;
	}
	if (j->fd >= 0)
		read_chunk(j);
}

static void
pump_cb(evutil_socket_t fd, short what, void *arg)
{
	pump(arg);
}

/* Stdin as a pipe, socket or terminal. */
static void
read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jsonl *j = arg;
	ssize_t       n;

	if (j->paused || j->stopped || j->ended || j->held ||
	    j->rpos < j->rlen) {
		event_del(j->ev_read);
		return;
	}
	n = read(j->fd, j->rbuf, j->read_chunk);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		j->host->log(j->ctx, VIGIL_LOG_ERR, "%s: read: %s", j->name,
		    strerror(errno));
		finish_input(j);
		return;
	}
	if (n == 0) {
		finish_input(j);
		return;
	}
	j->rpos = 0;
	j->rlen = (size_t)n;
	j->read_off += (uint64_t)n;
	if (!consume_buffer(j))
		event_del(j->ev_read);
}

/* Waits for a missing file, and looks at a followed one that is idle. */
static void
poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jsonl *j = arg;
	struct stat   st;
	const char   *why;
	int           nfd;

	if (j->stopped || j->ended)
		return;
	if (j->fd < 0) {
		nfd = open_file(j, &st, &why);
		if (nfd < 0) {
			if (errno != ENOENT)
				j->host->log_limited(j->ctx, VIGIL_LOG_WARNING,
				    "%s: %s", j->name, why);
			return;
		}
		j->host->log(j->ctx, VIGIL_LOG_NOTICE, "%s: appeared", j->name);
		attach_file(j, nfd, &st, true);
		schedule_pump(j, 0);
		return;
	}
	if (j->paused || evtimer_pending(j->ev_pump, NULL))
		return;
	if (j->at_eof && check_file(j))
		return;
	pump(j);
}

/* ------------------------------------------------------------ lifecycle */

static int
jsonl_validate(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	const char     *path  = host->cfg_string(cfg, "path");
	const char     *start = host->cfg_string(cfg, "start");
	enum start_mode mode;

	if (path == NULL || path[0] == '\0') {
		snprintf(err, errlen,
		    "%s: setting 'path': must name a file or "
		    "\"-\" for stdin",
		    cfg_place(host, cfg, "path"));
		return VIGIL_ERR;
	}
	if (parse_start(start, &mode) != 0) {
		snprintf(err, errlen,
		    "%s: setting 'start': \"%s\" is not one "
		    "of \"saved\", \"beginning\", \"end\"",
		    cfg_place(host, cfg, "start"), start);
		return VIGIL_ERR;
	}
	return VIGIL_OK;
}

static void jsonl_destroy(void *instance);

static int
jsonl_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	struct jsonl *j    = calloc(1, sizeof(*j));
	const char   *path = host->cfg_string(cfg, "path");

	char err[256];

	if (j == NULL)
		goto nomem;
	j->host        = host;
	j->ctx         = ctx;
	j->fd          = -1;
	j->stdin_flags = -1;
	j->lines_known = true;
	/* The host has validated; this only guards against a host that
	 * did not. */
	if (jsonl_validate(host, cfg, err, sizeof(err)) != VIGIL_OK) {
		host->log(ctx, VIGIL_LOG_ERR, "%s", err);
		jsonl_destroy(j);
		return VIGIL_ERR;
	}
	parse_start(host->cfg_string(cfg, "start"), &j->start);
	j->follow      = host->cfg_bool(cfg, "follow");
	j->save_offset = host->cfg_bool(cfg, "save_offset");
	j->max_line    = (size_t)host->cfg_int(cfg, "max_line");
	j->read_chunk  = (size_t)host->cfg_int(cfg, "read_chunk");
	j->poll_ms     = (int)host->cfg_int(cfg, "poll_ms");
	j->is_stdin    = path_is_stdin(path);
	j->path        = strdup(path);
	j->lcap        = j->max_line + LINE_SLACK;
	j->rbuf        = malloc(j->read_chunk);
	j->lbuf        = malloc(j->lcap);
	if (j->path == NULL || j->rbuf == NULL || j->lbuf == NULL)
		goto nomem;
	j->name       = j->is_stdin ? "stdin" : j->path;
	j->c_read     = host->counter(ctx, "jsonl_lines_read_total",
	        "Lines handed to the daemon as posts.");
	j->c_oversize = host->counter(ctx, "jsonl_lines_oversize_total",
	    "Lines skipped for being longer than max_line.");
	j->c_invalid  = host->counter(ctx, "jsonl_posts_invalid_total",
	     "Lines that the daemon found not to be valid posts.");
	*instance     = j;
	return VIGIL_OK;
nomem:
	host->log(ctx, VIGIL_LOG_ERR, "out of memory");
	jsonl_destroy(j);
	return VIGIL_ERR;
}

static int
start_stdin(struct jsonl *j, struct event_base *base)
{
	struct stat st;

	j->fd = STDIN_FILENO;
	if (fstat(j->fd, &st) != 0) {
		j->host->log(
		    j->ctx, VIGIL_LOG_ERR, "stdin: %s", strerror(errno));
		return VIGIL_ERR;
	}
	/* Files and devices like /dev/null cannot be polled: read them by
	 * turns like a file. */
	j->stream = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
	    (S_ISCHR(st.st_mode) && isatty(j->fd));
	if (!j->stream) {
		schedule_pump(j, 0);
		return VIGIL_OK;
	}
	j->stdin_flags = fcntl(j->fd, F_GETFL);
	if (j->stdin_flags < 0 ||
	    fcntl(j->fd, F_SETFL, j->stdin_flags | O_NONBLOCK) != 0) {
		j->host->log(j->ctx, VIGIL_LOG_ERR,
		    "stdin: cannot make it "
		    "non-blocking: %s",
		    strerror(errno));
		j->stdin_flags = -1;
		return VIGIL_ERR;
	}
	j->ev_read = event_new(base, j->fd, EV_READ | EV_PERSIST, read_cb, j);
	if (j->ev_read == NULL || event_add(j->ev_read, NULL) != 0) {
		j->host->log(j->ctx, VIGIL_LOG_ERR, "stdin: cannot watch it");
		return VIGIL_ERR;
	}
	return VIGIL_OK;
}

static int
start_file(struct jsonl *j)
{
	struct timeval tv = {j->poll_ms / 1000, (j->poll_ms % 1000) * 1000};
	struct stat    st;
	const char    *why;
	int            fd;

	fd = open_file(j, &st, &why);
	if (fd < 0 && !(errno == ENOENT && j->follow)) {
		j->host->log(
		    j->ctx, VIGIL_LOG_ERR, "%s: cannot read: %s", j->name, why);
		return VIGIL_ERR;
	}
	if (fd < 0)
		j->host->log(j->ctx, VIGIL_LOG_NOTICE,
		    "%s: does not exist "
		    "yet; waiting for it",
		    j->name);
	else
		attach_file(j, fd, &st, true);
	if (j->follow && evtimer_add(j->ev_poll, &tv) != 0) {
		j->host->log(j->ctx, VIGIL_LOG_ERR, "cannot add a timer");
		return VIGIL_ERR;
	}
	schedule_pump(j, 0);
	return VIGIL_OK;
}

static int
jsonl_start(void *instance)
{
	struct jsonl      *j    = instance;
	struct event_base *base = j->host->event_base(j->ctx);

	j->ev_pump = evtimer_new(base, pump_cb, j);
	j->ev_poll = event_new(base, -1, EV_PERSIST, poll_cb, j);
	if (j->ev_pump == NULL || j->ev_poll == NULL) {
		j->host->log(j->ctx, VIGIL_LOG_ERR, "out of memory");
		return VIGIL_ERR;
	}
	return j->is_stdin ? start_stdin(j, base) : start_file(j);
}

static void
jsonl_pause(void *instance)
{
	pause_reading(instance);
}

static void
jsonl_resume(void *instance)
{
	struct jsonl *j = instance;

	if (!j->paused)
		return;
	j->paused = false;
	/* Not from inside the host's call: on the next turn of the loop. */
	schedule_pump(j, 0);
}

/* Reading stops; acks still due keep moving the offset until destroy. */
static void
jsonl_stop(void *instance)
{
	struct jsonl *j = instance;

	j->stopped = true;
	if (j->ev_read != NULL)
		event_del(j->ev_read);
	if (j->ev_pump != NULL)
		event_del(j->ev_pump);
	if (j->ev_poll != NULL)
		event_del(j->ev_poll);
}

static void
free_event(struct event **ev)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
}

static void
jsonl_destroy(void *instance)
{
	struct jsonl *j = instance;

	if (j == NULL)
		return;
	free_event(&j->ev_read);
	free_event(&j->ev_pump);
	free_event(&j->ev_poll);
	if (j->is_stdin && j->stdin_flags >= 0)
		fcntl(STDIN_FILENO, F_SETFL, j->stdin_flags);
	else if (!j->is_stdin && j->fd >= 0)
		close(j->fd);
	free(j->rbuf);
	free(j->lbuf);
	free(j->path);
	free(j);
}

static const vigil_plugin jsonl_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name        = "jsonl",
    .version     = "1.0",
    .kind        = VIGIL_PLUGIN_INPUT,
    .description = "Posts as JSON lines from a followed file or stdin.",
    .settings    = jsonl_settings,
    .validate    = jsonl_validate,
    .init        = jsonl_init,
    .start       = jsonl_start,
    .stop        = jsonl_stop,
    .destroy     = jsonl_destroy,
    .pause       = jsonl_pause,
    .resume      = jsonl_resume,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &jsonl_plugin;
}
