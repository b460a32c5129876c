/*
 * test_control.c - unit tests of the control socket (daemon/control.c)
 * over a real unix socket in a temporary directory, with the client
 * driven in the same thread as the loop: replies and "ok", bad JSON,
 * unknown commands, over-long lines, deferred replies (in order, inline,
 * and to a client that hung up), stale and live sockets, and cleanup.
 * With TOP_BUILDDIR (as under make) it also runs the built vigilctl
 * against the socket: its output for people, --json, a reload that is
 * refused, the timeout and its exit statuses.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "control.h"
#include "log.h"

#define WAIT_MS 5000

struct fixture {
	char               dir[256];
	char               path[320];
	struct event_base *base;
	control           *ctl;
	control_req       *held; /* a deferred request */
	int                calls;
	json_t            *later_reply; /* for held, while vigilctl runs */
	bool               fail_status;
};

struct client {
	int    fd;
	char   buf[CONTROL_MAX_LINE * 2];
	size_t len;
	bool   eof;
};

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
pump(struct fixture *f, int ms)
{
	long end = now_ms() + ms;

	do {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(500);
	} while (now_ms() < end);
}

/* ------------------------------------------------------------ handlers */

/* Replies {"got": args.x}. */
static int
cmd_echo(void *arg, control_req *req, json_t *args, json_t *reply)
{
	struct fixture *f = arg;

	f->calls++;
	json_object_set(reply, "got", json_object_get(args, "x"));
	return 0;
}

static int
cmd_fail(void *arg, control_req *req, json_t *args, json_t *reply)
{
	if (json_is_true(json_object_get(args, "quiet")))
		return -1;
	json_object_set_new(reply, "error", json_string("it\nfailed"));
	return -1;
}

/* Keeps the request for the test to answer. */
static int
cmd_later(void *arg, control_req *req, json_t *args, json_t *reply)
{
	struct fixture *f = arg;

	f->calls++;
	f->held = req;
	json_object_set_new(reply, "ignored", json_true());
	return 1;
}

/* Defers, but answers before returning. */
static int
cmd_inline(void *arg, control_req *req, json_t *args, json_t *reply)
{
	control_reply(req, json_pack("{s:s}", "how", "inline"));
	return 1;
}

/* ------------------------------------------------------------ helpers */

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f   = calloc(1, sizeof(*f));
	const char     *tmp = getenv("TMPDIR");
	char            err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/test_control.XXXXXX",
	    tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/control.sock", f->dir);
	f->base = event_base_new();
	assert_non_null(f->base);
	f->ctl = control_open(f->base, f->path, err, sizeof(err));
	if (f->ctl == NULL)
		fail_msg("control_open: %s", err);
	assert_int_equal(control_command(f->ctl, "echo", cmd_echo, f), 0);
	assert_int_equal(control_command(f->ctl, "fail", cmd_fail, f), 0);
	assert_int_equal(control_command(f->ctl, "later", cmd_later, f), 0);
	assert_int_equal(control_command(f->ctl, "inline", cmd_inline, f), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	control_close(f->ctl);
	if (f->held != NULL)
		control_reply(f->held, NULL);
	json_decref(f->later_reply);
	event_base_free(f->base);
	nftw(f->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
sun_set(struct sockaddr_un *sun, const char *path)
{
	assert_true(strlen(path) < sizeof(sun->sun_path));
	memcpy(sun->sun_path, path, strlen(path) + 1);
}

static struct client *
client_new(struct fixture *f)
{
	struct client     *c   = calloc(1, sizeof(*c));
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	assert_non_null(c);
	c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	sun_set(&sun, f->path);
	assert_int_equal(
	    connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(fcntl(c->fd, F_SETFL, O_NONBLOCK), 0);
	return c;
}

static void
client_free(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static void
client_send(struct fixture *f, struct client *c, const char *s, size_t len)
{
	size_t sent = 0;
	long   end  = now_ms() + WAIT_MS;

	while (sent < len && now_ms() < end) {
		ssize_t n = send(c->fd, s + sent, len - sent, MSG_NOSIGNAL);

		if (n > 0)
			sent += (size_t)n;
		else if (n < 0 && errno != EAGAIN)
			break;
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	}
}

static void
client_say(struct fixture *f, struct client *c, const char *s)
{
	client_send(f, c, s, strlen(s));
}

static void
client_fill(struct fixture *f, struct client *c)
{
	ssize_t n;

	event_base_loop(f->base, EVLOOP_NONBLOCK);
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len - 1, 0);
	if (n > 0)
		c->len += (size_t)n;
	else if (n == 0 || (errno != EAGAIN && errno != EINTR))
		c->eof = true;
	else
		usleep(500);
}

/* Reads one line (without '\n') into a malloc'd string; NULL if none came
 * within ms. */
static char *
client_line(struct fixture *f, struct client *c, int ms)
{
	long  end = now_ms() + ms;
	char *nl, *line;

	while ((nl = memchr(c->buf, '\n', c->len)) == NULL && !c->eof &&
	    now_ms() < end)
		client_fill(f, c);
	if (nl == NULL)
		return NULL;
	line = strndup(c->buf, (size_t)(nl - c->buf));
	assert_non_null(line);
	c->len -= (size_t)(nl + 1 - c->buf);
	memmove(c->buf, nl + 1, c->len);
	return line;
}

static void
expect_line(struct fixture *f, struct client *c, const char *expected)
{
	char *line = client_line(f, c, WAIT_MS);

	if (line == NULL)
		fail_msg("no reply; expected %s", expected);
	if (strcmp(line, expected) != 0) {
		char copy[512];

		snprintf(copy, sizeof(copy), "%s", line);
		free(line);
		fail_msg("got      %s\nexpected %s", copy, expected);
	}
	free(line);
}

static void
expect_prefix(struct fixture *f, struct client *c, const char *prefix)
{
	char *line = client_line(f, c, WAIT_MS);

	assert_non_null(line);
	if (strncmp(line, prefix, strlen(prefix)) != 0) {
		char copy[512];

		snprintf(copy, sizeof(copy), "%s", line);
		free(line);
		fail_msg("got %s\nwanted a line starting %s", copy, prefix);
	}
	free(line);
}

static void
expect_eof(struct fixture *f, struct client *c)
{
	long end = now_ms() + WAIT_MS;

	while (!c->eof && now_ms() < end)
		client_fill(f, c);
	assert_true(c->eof);
	assert_int_equal(c->len, 0);
}

/* ------------------------------------------------------------ tests */

static void
test_socket_mode(void **state)
{
	struct fixture *f = *state;
	struct stat     st;

	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
}

static void
test_commands(void **state)
{
	struct fixture *f = *state;
	struct client  *c = client_new(f);

	client_say(f, c, "{\"cmd\":\"echo\",\"x\":[1,\"two\"]}\n");
	expect_line(f, c, "{\"ok\":true,\"got\":[1,\"two\"]}");
	client_say(f, c, "{\"cmd\":\"fail\"}\n");
	expect_line(f, c, "{\"ok\":false,\"error\":\"it\\nfailed\"}");
	client_say(f, c, "{\"cmd\":\"fail\",\"quiet\":true}\n");
	expect_line(f, c, "{\"ok\":false,\"error\":\"the command failed\"}");
	/* Several lines at once, CRLF, blank lines: answered in order. */
	client_say(f, c,
	    "\n{\"cmd\":\"echo\",\"x\":1}\r\n  \n"
	    "{\"cmd\":\"echo\",\"x\":2}\n{\"cmd\":\"echo\"}\n");
	expect_line(f, c, "{\"ok\":true,\"got\":1}");
	expect_line(f, c, "{\"ok\":true,\"got\":2}");
	expect_line(f, c, "{\"ok\":true}");
	/* A line that arrives in pieces. */
	client_say(f, c, "{\"cmd\":");
	pump(f, 20);
	client_say(f, c, "\"echo\",\"x\":3}\n");
	expect_line(f, c, "{\"ok\":true,\"got\":3}");
	assert_int_equal(f->calls, 5);
	client_free(c);
}

static void
test_bad_requests(void **state)
{
	struct fixture *f = *state;
	struct client  *c = client_new(f);

	client_say(f, c, "{not json\n");
	expect_prefix(f, c, "{\"ok\":false,\"error\":\"bad request: ");
	client_say(f, c, "{\"cmd\":\"echo\"} trailing\n");
	expect_prefix(f, c, "{\"ok\":false,\"error\":\"bad request: ");
	client_say(f, c, "[\"echo\"]\n");
	expect_line(f, c,
	    "{\"ok\":false,\"error\":\"bad request: not a JSON "
	    "object\"}");
	client_say(f, c, "{\"command\":\"echo\"}\n");
	expect_line(f, c,
	    "{\"ok\":false,\"error\":\"bad request: no \\\"cmd\\\" "
	    "string\"}");
	client_say(f, c, "{\"cmd\":7}\n");
	expect_line(f, c,
	    "{\"ok\":false,\"error\":\"bad request: no \\\"cmd\\\" "
	    "string\"}");
	client_say(f, c, "{\"cmd\":\"echo\",\"cmd\":\"fail\"}\n");
	expect_prefix(f, c, "{\"ok\":false,\"error\":\"bad request: duplicate");
	client_say(f, c, "{\"cmd\":\"shutdown\"}\n");
	expect_line(f, c,
	    "{\"ok\":false,\"error\":\"unknown command 'shutdown' "
	    "(known: echo, fail, later, inline)\"}");
	/* The connection survives all that. */
	client_say(f, c, "{\"cmd\":\"echo\",\"x\":\"still\"}\n");
	expect_line(f, c, "{\"ok\":true,\"got\":\"still\"}");
	assert_int_equal(f->calls, 1);
	client_free(c);
}

static void
test_line_too_long(void **state)
{
	struct fixture *f    = *state;
	struct client  *c    = client_new(f);
	struct client  *d    = client_new(f);
	char           *big  = malloc(CONTROL_MAX_LINE + 100);
	char           *fits = malloc(CONTROL_MAX_LINE + 2);

	assert_non_null(big);
	assert_non_null(fits);
	/* Exactly the limit, padded with spaces inside the object. */
	memset(fits, ' ', CONTROL_MAX_LINE);
	memcpy(fits, "{\"cmd\":\"echo\",\"x\":0", 19);
	fits[CONTROL_MAX_LINE - 1] = '}';
	fits[CONTROL_MAX_LINE]     = '\n';
	client_send(f, d, fits, CONTROL_MAX_LINE + 1);
	expect_line(f, d, "{\"ok\":true,\"got\":0}");
	/* One byte more, with or without its newline: refused, closed. */
	memset(big, 'x', CONTROL_MAX_LINE + 100);
	big[CONTROL_MAX_LINE + 1] = '\n';
	client_send(f, c, big, CONTROL_MAX_LINE + 2);
	expect_line(f, c,
	    "{\"ok\":false,\"error\":\"request line over 65536 "
	    "bytes\"}");
	expect_eof(f, c);
	client_free(c);
	c                         = client_new(f);
	big[CONTROL_MAX_LINE + 1] = 'x';
	client_send(f, c, big, CONTROL_MAX_LINE + 100);
	expect_line(f, c,
	    "{\"ok\":false,\"error\":\"request line over 65536 "
	    "bytes\"}");
	expect_eof(f, c);
	free(big);
	free(fits);
	client_free(c);
	client_free(d);
}

static void
test_deferred_in_order(void **state)
{
	struct fixture *f     = *state;
	struct client  *c     = client_new(f);
	struct client  *other = client_new(f);
	char           *line;

	client_say(
	    f, c, "{\"cmd\":\"later\"}\n{\"cmd\":\"echo\",\"x\":\"next\"}\n");
	pump(f, 50);
	assert_non_null(f->held);
	/* Nothing yet: the second line waits behind the first. */
	line = client_line(f, c, 50);
	assert_null(line);
	assert_int_equal(f->calls, 1);
	/* Other clients are served meanwhile. */
	client_say(f, other, "{\"cmd\":\"echo\",\"x\":\"other\"}\n");
	expect_line(f, other, "{\"ok\":true,\"got\":\"other\"}");
	control_reply(f->held, json_pack("{s:i}", "generation", 2));
	f->held = NULL;
	expect_line(f, c, "{\"ok\":true,\"generation\":2}");
	expect_line(f, c, "{\"ok\":true,\"got\":\"next\"}");
	/* A deferred failure. */
	client_say(f, c, "{\"cmd\":\"later\"}\n");
	pump(f, 20);
	assert_non_null(f->held);
	control_reply(f->held,
	    json_pack("{s:s}", "error",
	        "refused: bad "
	        "config"));
	f->held = NULL;
	expect_line(f, c, "{\"ok\":false,\"error\":\"refused: bad config\"}");
	client_say(f, c, "{\"cmd\":\"later\"}\n");
	pump(f, 20);
	control_reply(f->held, NULL);
	f->held = NULL;
	expect_line(f, c,
	    "{\"ok\":false,\"error\":\"the command gave no "
	    "reply\"}");
	/* Answered from inside the handler. */
	client_say(f, c, "{\"cmd\":\"inline\"}\n{\"cmd\":\"echo\",\"x\":4}\n");
	expect_line(f, c, "{\"ok\":true,\"how\":\"inline\"}");
	expect_line(f, c, "{\"ok\":true,\"got\":4}");
	client_free(c);
	client_free(other);
}

/* The client hangs up (a FIN, or a reset with abort) while its request
 * is deferred: the late reply is dropped without harm. */
static void
test_deferred_client_gone(void **state)
{
	struct fixture *f = *state;
	struct client  *c;
	struct linger   abort_close = {.l_onoff = 1, .l_linger = 0};

	for (int reset = 0; reset < 2; reset++) {
		c = client_new(f);
		client_say(f, c, "{\"cmd\":\"later\"}\n{\"cmd\":\"echo\"}\n");
		pump(f, 20);
		assert_non_null(f->held);
		if (reset)
			assert_int_equal(
			    setsockopt(c->fd, SOL_SOCKET, SO_LINGER,
			        &abort_close, sizeof(abort_close)),
			    0);
		client_free(c);
		pump(f, 50);
		control_reply(f->held, json_pack("{s:b}", "applied", 1));
		f->held = NULL;
		pump(f, 20);
	}
	/* The lines after the deferred one were never run. */
	assert_int_equal(f->calls, 2);
	/* And the socket goes on serving. */
	c = client_new(f);
	client_say(f, c, "{\"cmd\":\"echo\",\"x\":5}\n");
	expect_line(f, c, "{\"ok\":true,\"got\":5}");
	client_free(c);
}

/* Clients beyond the cap are told so and closed; the others go on. */
static void
test_too_many_clients(void **state)
{
	struct fixture *f = *state;
	struct client  *c[33];

	for (int i = 0; i < 32; i++) {
		c[i] = client_new(f);
		client_say(f, c[i], "{\"cmd\":\"echo\",\"x\":1}\n");
		expect_line(f, c[i], "{\"ok\":true,\"got\":1}");
	}
	c[32] = client_new(f);
	expect_line(f, c[32],
	    "{\"ok\":false,\"error\":\"too many control "
	    "clients\"}");
	expect_eof(f, c[32]);
	client_free(c[32]);
	client_free(c[0]);
	pump(f, 20);
	c[0] = client_new(f);
	client_say(f, c[0], "{\"cmd\":\"echo\",\"x\":2}\n");
	expect_line(f, c[0], "{\"ok\":true,\"got\":2}");
	for (int i = 0; i < 32; i++)
		client_free(c[i]);
}

/* A client that half-closes after its request still gets the reply. */
static void
test_half_close(void **state)
{
	struct fixture *f = *state;
	struct client  *c = client_new(f);

	client_say(f, c, "{\"cmd\":\"later\"}\n");
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	pump(f, 50);
	assert_non_null(f->held);
	control_reply(f->held, json_pack("{s:i}", "n", 1));
	f->held = NULL;
	expect_line(f, c, "{\"ok\":true,\"n\":1}");
	expect_eof(f, c);
	client_free(c);
}

/* Closing with a request still deferred: answering it later only frees. */
static void
test_close_with_pending(void **state)
{
	struct fixture *f = *state;
	struct client  *c = client_new(f);
	struct stat     st;

	client_say(f, c, "{\"cmd\":\"later\"}\n");
	pump(f, 20);
	assert_non_null(f->held);
	control_close(f->ctl);
	f->ctl = NULL;
	assert_int_equal(lstat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);
	expect_eof(f, c);
	control_reply(f->held, json_object());
	f->held = NULL;
	client_free(c);
}

static void
test_stale_and_live(void **state)
{
	struct fixture    *f   = *state;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char               err[256], path[400], longpath[200];
	control           *c2;
	int                fd;
	struct client     *cl;

	/* A live daemon's socket is not taken over. */
	assert_null(control_open(f->base, f->path, err, sizeof(err)));
	assert_non_null(strstr(err, "another vigild is running on "));
	assert_non_null(strstr(err, f->path));
	cl = client_new(f);
	client_say(f, cl, "{\"cmd\":\"echo\",\"x\":1}\n");
	expect_line(f, cl, "{\"ok\":true,\"got\":1}");
	client_free(cl);

	/* A socket nobody listens on is stale: replaced. */
	snprintf(path, sizeof(path), "%s/stale.sock", f->dir);
	sun_set(&sun, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	c2 = control_open(f->base, path, err, sizeof(err));
	if (c2 == NULL)
		fail_msg("stale socket not replaced: %s", err);
	control_close(c2);
	assert_int_equal(access(path, F_OK), -1);

	/* Not a socket: left alone. */
	snprintf(path, sizeof(path), "%s/file", f->dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_null(control_open(f->base, path, err, sizeof(err)));
	assert_non_null(strstr(err, "is not a socket"));
	assert_int_equal(access(path, F_OK), 0);

	/* No such directory; too long a path. */
	snprintf(path, sizeof(path), "%s/none/control.sock", f->dir);
	assert_null(control_open(f->base, path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "No such file or directory"));
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0]                    = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_null(control_open(f->base, longpath, err, sizeof(err)));
	assert_non_null(strstr(err, "too long"));

	assert_int_equal(control_command(f->ctl, "echo", cmd_echo, f), -1);
	assert_int_equal(control_command(f->ctl, "", cmd_echo, f), -1);
	assert_int_equal(control_command(f->ctl, "x", NULL, f), -1);
}

/* Closing the control socket while another daemon took the path leaves
 * that one's socket alone. */
static void
test_close_keeps_foreign_socket(void **state)
{
	struct fixture    *f   = *state;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int                fd;

	assert_int_equal(unlink(f->path), 0);
	sun_set(&sun, f->path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	control_close(f->ctl);
	f->ctl = NULL;
	assert_int_equal(access(f->path, F_OK), 0);
	close(fd);
}

/* ------------------------------------------------------------ vigilctl */

#ifdef TOP_BUILDDIR
#define VIGILCTL TOP_BUILDDIR "/daemon/vigilctl"

struct run {
	int    status; /* exit status, or -1 */
	char   out[8192];
	char   err[2048];
	size_t out_len, err_len;
};

static int
cmd_status(void *arg, control_req *req, json_t *args, json_t *reply)
{
	struct fixture *f = arg;
	json_error_t    jerr;
	json_t         *st;

	if (f->fail_status) {
		json_object_set_new(reply, "error", json_string("stopping"));
		return -1;
	}
	st = json_loads(
	    "{\"version\":\"0.1.0\",\"uptime_s\":3723,"
	    "\"config\":\"/etc/vigil/vigil.conf\",\"workers\":{\"running\":2,"
	    "\"restarts\":0},\"queues\":{\"backlog\":5,\"ratio\":0.25},"
	    "\"plugins\":[{\"name\":\"jsonl/sample\",\"kind\":\"input\","
	    "\"state\":\"running\"}],\"jurisdictions\":[\"kz\",\"ru\"],"
	    "\"reloads\":[],\"draining\":false,\"last_error\":null}",
	    0, &jerr);
	assert_non_null(st);
	json_object_update(reply, st);
	json_decref(st);
	return 0;
}

static int
cmd_plugins(void *arg, control_req *req, json_t *args, json_t *reply)
{
	json_object_set_new(reply, "plugins",
	    json_pack("[{s:s,s:s,s:s,s:s},"
	              "{s:s,s:s,s:s,s:s}]",
	        "kind", "input", "name", "jsonl/sample", "plugin", "jsonl",
	        "version", "1.0", "kind", "sink", "name", "stdout/main",
	        "plugin", "stdout", "version", "1.2"));
	return 0;
}

static int
cmd_metrics(void *arg, control_req *req, json_t *args, json_t *reply)
{
	json_object_set_new(reply, "text",
	    json_string("# TYPE x_total "
	                "counter\nx_total{a=\"b\"} 1\n"));
	return 0;
}

static int
setup_daemon(void **state)
{
	struct fixture *f;

	setup(state);
	f = *state;
	assert_int_equal(control_command(f->ctl, "status", cmd_status, f), 0);
	assert_int_equal(control_command(f->ctl, "plugins", cmd_plugins, f), 0);
	assert_int_equal(control_command(f->ctl, "metrics", cmd_metrics, f), 0);
	assert_int_equal(control_command(f->ctl, "reload", cmd_later, f), 0);
	return 0;
}

static void
drain(int fd, char *buf, size_t *len, size_t cap)
{
	ssize_t n;

	while ((n = read(fd, buf + *len, cap - *len - 1)) > 0)
		*len += (size_t)n;
	buf[*len] = '\0';
}

/* Runs vigilctl with args (NULL-terminated) while serving the socket;
 * a held request gets later_reply 100 ms after it came. */
static void
run_vigilctl(struct fixture *f, struct run *r, const char *env_socket, ...)
{
	const char *argv[16] = {VIGILCTL};
	int         out[2], err[2], wst, n = 1;
	long        end = now_ms() + 20000, held_at = 0;
	pid_t       pid;
	va_list     ap;

	va_start(ap, env_socket);
	while (n < 15 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	memset(r, 0, sizeof(*r));
	r->status = -1;
	assert_int_equal(pipe2(out, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_NONBLOCK | O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		if (env_socket != NULL)
			setenv("VIGIL_CONTROL", env_socket, 1);
		else
			unsetenv("VIGIL_CONTROL");
		execv(VIGILCTL, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	while (now_ms() < end) {
		pid_t w = waitpid(pid, &wst, WNOHANG);

		drain(out[0], r->out, &r->out_len, sizeof(r->out));
		drain(err[0], r->err, &r->err_len, sizeof(r->err));
		if (w == pid) {
			r->status = WIFEXITED(wst) ? WEXITSTATUS(wst) : -1;
			break;
		}
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		if (f->held != NULL && f->later_reply != NULL) {
			if (held_at == 0)
				held_at = now_ms();
			else if (now_ms() - held_at >= 100) {
				control_reply(f->held, f->later_reply);
				f->held        = NULL;
				f->later_reply = NULL;
			}
		}
		usleep(500);
	}
	if (r->status == -1 && waitpid(pid, &wst, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &wst, 0);
	}
	close(out[0]);
	close(err[0]);
	if (r->status == 127)
		fail_msg("cannot run %s", VIGILCTL);
}

static void
test_vigilctl_status(void **state)
{
	struct fixture *f = *state;
	struct run      r;

	run_vigilctl(f, &r, NULL, "-s", f->path, "status", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out,
	    "version: 0.1.0\n"
	    "uptime_s: 1h 2m 3s\n"
	    "config: /etc/vigil/vigil.conf\n"
	    "workers:\n"
	    "  running: 2\n"
	    "  restarts: 0\n"
	    "queues:\n"
	    "  backlog: 5\n"
	    "  ratio: 0.25\n"
	    "plugins:\n"
	    "  - jsonl/sample\n"
	    "    kind: input\n"
	    "    state: running\n"
	    "jurisdictions: kz, ru\n"
	    "reloads: (none)\n"
	    "draining: no\n"
	    "last_error: -\n");
	assert_string_equal(r.err, "");
	/* The socket from the environment, raw JSON. */
	run_vigilctl(f, &r, f->path, "status", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_true(strncmp(r.out,
	                "{\n  \"ok\": true,\n  \"version\": "
	                "\"0.1.0\",\n",
	                38) == 0);
	/* The daemon says no. */
	f->fail_status = true;
	run_vigilctl(f, &r, f->path, "status", NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, "vigilctl: status: stopping\n");
}

static void
test_vigilctl_commands(void **state)
{
	struct fixture *f = *state;
	struct run      r;

	run_vigilctl(f, &r, NULL, "-s", f->path, "plugins", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out,
	    "input jsonl/sample plugin=jsonl version=1.0\n"
	    "sink stdout/main plugin=stdout version=1.2\n");
	run_vigilctl(f, &r, "/nonexistent", "-s", f->path, "metrics", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out,
	    "# TYPE x_total counter\n"
	    "x_total{a=\"b\"} 1\n");
}

static void
test_vigilctl_reload(void **state)
{
	struct fixture *f = *state;
	struct run      r;

	f->later_reply = json_pack("{s:i}", "generation", 3);
	run_vigilctl(f, &r, f->path, "reload", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "reload applied\ngeneration: 3\n");
	f->later_reply =
	    json_pack("{s:s}", "error", "vigil.conf:3: unknown setting 'x'");
	run_vigilctl(f, &r, f->path, "reload", NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.err,
	    "vigilctl: reload refused: vigil.conf:3: "
	    "unknown setting 'x'\n");
	/* No answer within -t: cannot reach the daemon. */
	run_vigilctl(f, &r, f->path, "-t", "1", "reload", NULL);
	assert_int_equal(r.status, 3);
	assert_non_null(strstr(r.err, "no reply on "));
	assert_non_null(strstr(r.err, f->path));
	assert_non_null(strstr(r.err, " within 1 s\n"));
	control_reply(f->held, NULL);
	f->held = NULL;
}

static void
test_vigilctl_errors(void **state)
{
	struct fixture *f = *state;
	struct run      r;
	char            missing[400];

	snprintf(missing, sizeof(missing), "%s/missing.sock", f->dir);
	run_vigilctl(f, &r, missing, "status", NULL);
	assert_int_equal(r.status, 3);
	assert_non_null(strstr(r.err, "cannot connect to "));
	assert_non_null(strstr(r.err, missing));
	assert_non_null(strstr(r.err, "No such file or directory"));
	run_vigilctl(f, &r, NULL, "-s", missing, "status", NULL);
	assert_int_equal(r.status, 3);
	assert_non_null(strstr(r.err, missing));
	/* Usage errors never reach the socket. */
	run_vigilctl(f, &r, f->path, NULL);
	assert_int_equal(r.status, 2);
	run_vigilctl(f, &r, f->path, "stop", NULL);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "unknown command 'stop'"));
	run_vigilctl(f, &r, f->path, "metrics", "--json", NULL);
	assert_int_equal(r.status, 2);
	run_vigilctl(f, &r, f->path, "-t", "soon", "status", NULL);
	assert_int_equal(r.status, 2);
	run_vigilctl(f, &r, f->path, "-x", "status", NULL);
	assert_int_equal(r.status, 2);
	run_vigilctl(f, &r, f->path, "-h", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "usage: vigilctl"));
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_socket_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_line_too_long, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_deferred_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_deferred_client_gone, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_too_many_clients, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_close_with_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_stale_and_live, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_close_keeps_foreign_socket, setup, teardown),
#ifdef TOP_BUILDDIR
	    cmocka_unit_test_setup_teardown(
	        test_vigilctl_status, setup_daemon, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_vigilctl_commands, setup_daemon, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_vigilctl_reload, setup_daemon, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_vigilctl_errors, setup_daemon, teardown),
#endif
	};

	/* As in vigild: a peer that hung up is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
