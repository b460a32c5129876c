/*
 * vigilctl.c - the command-line client of vigild's control socket: sends
 * one request line, waits (with a timeout) for the one reply line and
 * prints it for people, or as JSON with --json.
 *
 * Exit status: 0 done, 1 the daemon answered with an error (for reload:
 * the new configuration was refused), 2 bad usage, 3 the daemon could not
 * be reached or gave no usable reply.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "control.h"

#define DEFAULT_SOCKET  "/run/vigil/control.sock"
#define DEFAULT_TIMEOUT 30
#define MAX_REPLY       (256u << 20) /* metrics of a big setup fit */

enum {
	EXIT_OK      = 0,
	EXIT_DAEMON  = 1,
	EXIT_USAGE   = 2,
	EXIT_CONNECT = 3,
};

struct options {
	const char *socket;
	int         timeout_s;
	const char *command;
	bool        json;
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: vigilctl [-s SOCKET] [-t SECONDS] COMMAND [--json]\n"
	    "\n"
	    "commands:\n"
	    "  status    the daemon's state: uptime, configuration, workers,\n"
	    "            queues and plugins\n"
	    "  plugins   the plugin instances that are loaded\n"
	    "  reload    reload the configuration and wait for the outcome\n"
	    "  metrics   the metrics, in Prometheus text format\n"
	    "\n"
	    "options:\n"
	    "  -s SOCKET   the control socket (default: $VIGIL_CONTROL, or\n"
	    "              " DEFAULT_SOCKET ")\n"
	    "  -t SECONDS  how long to wait for the reply (default: %d)\n"
	    "  --json      print the daemon's reply as it came (status,\n"
	    "              plugins, reload)\n"
	    "  -h          this help\n"
	    "\n"
	    "exit status: 0 done, 1 the daemon reported an error (reload:\n"
	    "refused), 2 bad usage, 3 the daemon cannot be reached\n",
	    DEFAULT_TIMEOUT);
}

static int
usage_error(const char *fmt, const char *arg)
{
	fputs("vigilctl: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\nusage: vigilctl [-s SOCKET] [-t SECONDS] COMMAND [--json] "
	      "(vigilctl -h for more)\n",
	    stderr);
	return EXIT_USAGE;
}

static bool
command_known(const char *cmd)
{
	static const char *const known[] = {
	    "status", "plugins", "reload", "metrics"};

	for (size_t i = 0; i < sizeof(known) / sizeof(*known); i++)
		if (strcmp(cmd, known[i]) == 0)
			return true;
	return false;
}

/* Returns -1 to go on, else the exit status. */
static int
parse_args(int argc, char **argv, struct options *o)
{
	const char *env = getenv("VIGIL_CONTROL");
	char       *end;
	long        t;
	int         ch;

	o->socket    = env != NULL && env[0] != '\0' ? env : DEFAULT_SOCKET;
	o->timeout_s = DEFAULT_TIMEOUT;
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	while ((ch = getopt(argc, argv, "+s:t:h")) != -1) {
		switch (ch) {
		case 's': o->socket = optarg; break;
		case 't':
			errno = 0;
			t     = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    t < 1 || t > 86400)
				return usage_error(
				    "-t wants whole seconds from "
				    "1 to 86400, not '%s'",
				    optarg);
			o->timeout_s = (int)t;
			break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return usage_error("%s", "no command given");
	o->command = argv[optind++];
	if (!command_known(o->command))
		return usage_error("unknown command '%s'", o->command);
	for (; optind < argc; optind++) {
		if (strcmp(argv[optind], "--json") != 0 ||
		    strcmp(o->command, "metrics") == 0)
			return usage_error(
			    "unexpected argument '%s'", argv[optind]);
		o->json = true;
	}
	return -1;
}

/* ------------------------------------------------------------ the socket */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
connect_daemon(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int                fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "vigilctl: cannot connect to %s: %s\n", path,
		    strerror(ENAMETOOLONG));
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "vigilctl: cannot connect to %s: %s\n", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

static int
send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads up to the first newline before the deadline; returns the line
 * (malloc'd, NUL-terminated, without the newline) or NULL with *why. */
static char *
read_line(int fd, int64_t deadline, const char **why)
{
	char  *buf = NULL, *nl = NULL, *grown;
	size_t len = 0, cap = 0;

	while (nl == NULL) {
		struct pollfd pfd  = {.fd = fd, .events = POLLIN};
		int64_t       left = deadline - now_ms();
		ssize_t       n;
		int           r;

		if (left <= 0) {
			*why = "timeout";
			goto fail;
		}
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*why = strerror(errno);
			goto fail;
		}
		if (r == 0)
			continue;
		if (cap - len < 65536) {
			if (cap >= MAX_REPLY) {
				*why = "the reply is too long";
				goto fail;
			}
			cap = cap ? cap * 2 : 65536;
			if ((grown = realloc(buf, cap + 1)) == NULL) {
				*why = strerror(ENOMEM);
				goto fail;
			}
			buf = grown;
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*why = strerror(errno);
			goto fail;
		}
		if (n == 0) {
			*why = "the daemon closed the connection without a "
			       "reply";
			goto fail;
		}
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
	}
	*nl = '\0';
	return buf;
fail:
	free(buf);
	return NULL;
}

/* Sends {"cmd": command} and returns the parsed reply, or NULL after
 * saying why on stderr. */
static json_t *
ask(const struct options *o)
{
	json_t      *req, *reply = NULL;
	json_error_t jerr;
	char        *text = NULL, *line = NULL;
	const char  *why = NULL;
	int          fd;

	if ((fd = connect_daemon(o->socket)) == -1)
		return NULL;
	req = json_pack("{s:s}", "cmd", o->command);
	if (req == NULL || (text = json_dumps(req, JSON_COMPACT)) == NULL) {
		fprintf(stderr, "vigilctl: out of memory\n");
		goto out;
	}
	if (send_all(fd, text, strlen(text)) == -1 ||
	    send_all(fd, "\n", 1) == -1) {
		fprintf(stderr, "vigilctl: cannot send to %s: %s\n", o->socket,
		    strerror(errno));
		goto out;
	}
	line = read_line(fd, now_ms() + (int64_t)o->timeout_s * 1000, &why);
	if (line == NULL) {
		if (strcmp(why, "timeout") == 0)
			fprintf(stderr,
			    "vigilctl: no reply on %s within %d "
			    "s\n",
			    o->socket, o->timeout_s);
		else
			fprintf(stderr, "vigilctl: %s: %s\n", o->socket, why);
		goto out;
	}
	reply = json_loads(line, 0, &jerr);
	if (reply == NULL || !json_is_object(reply)) {
		fprintf(stderr, "vigilctl: %s: unreadable reply: %s\n",
		    o->socket, reply == NULL ? jerr.text : "not an object");
		json_decref(reply);
		reply = NULL;
	}
out:
	free(line);
	free(text);
	json_decref(req);
	close(fd);
	return reply;
}

/* ------------------------------------------------------------ printing */

static void print_value(const char *key, json_t *v, int depth);

/* "3d 4h 5m 6s" for an uptime in seconds. */
static void
print_duration(double secs)
{
	long long s = secs > 0 && secs < 1e15 ? (long long)secs : 0;

	if (s >= 86400)
		printf("%lldd ", s / 86400);
	if (s >= 3600)
		printf("%lldh ", s / 3600 % 24);
	if (s >= 60)
		printf("%lldm ", s / 60 % 60);
	printf("%llds", s % 60);
}

static bool
is_scalar(json_t *v)
{
	return !json_is_object(v) && !json_is_array(v);
}

static void
print_scalar(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING: fputs(json_string_value(v), stdout); break;
	case JSON_INTEGER:
		printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL: printf("%g", json_real_value(v)); break;
	case JSON_TRUE: fputs("yes", stdout); break;
	case JSON_FALSE: fputs("no", stdout); break;
	default: fputs("-", stdout); break;
	}
}

/* Seconds per unit when key is an uptime ("uptime", "uptime_s",
 * "uptime_ms", "uptime_us"), else 0. */
static double
uptime_unit(const char *key)
{
	if (key == NULL || strncmp(key, "uptime", 6) != 0)
		return 0;
	key += 6;
	if (*key == '\0' || strcmp(key, "_s") == 0 ||
	    strcmp(key, "_seconds") == 0)
		return 1;
	if (strcmp(key, "_ms") == 0)
		return 1e-3;
	if (strcmp(key, "_us") == 0)
		return 1e-6;
	return 0;
}

static void
print_object(json_t *obj, int depth)
{
	const char *key;
	json_t     *v;

	json_object_foreach(obj, key, v)
	{
		if (depth == 0 && strcmp(key, "ok") == 0)
			continue;
		print_value(key, v, depth);
	}
}

/* An array of scalars on one line; of objects, one block per element,
 * led by its name when it has one. */
static void
print_array(json_t *arr, int depth)
{
	size_t  i;
	json_t *v;
	bool    scalars = true;

	json_array_foreach(arr, i, v) scalars = scalars && is_scalar(v);
	if (json_array_size(arr) == 0) {
		puts(" (none)");
		return;
	}
	if (scalars) {
		json_array_foreach(arr, i, v)
		{
			fputs(i == 0 ? " " : ", ", stdout);
			print_scalar(v);
		}
		putchar('\n');
		return;
	}
	putchar('\n');
	json_array_foreach(arr, i, v)
	{
		json_t *name = json_object_get(v, "name");

		printf("%*s-", depth * 2 + 2, "");
		if (json_is_string(name))
			printf(" %s", json_string_value(name));
		putchar('\n');
		if (json_is_object(v)) {
			const char *key;
			json_t     *f;

			json_object_foreach(
			    v, key, f) if (strcmp(key, "name") != 0)
			    print_value(key, f, depth + 2);
		} else {
			print_value(NULL, v, depth + 2);
		}
	}
}

static void
print_value(const char *key, json_t *v, int depth)
{
	printf("%*s", depth * 2, "");
	if (key != NULL)
		printf("%s:", key);
	if (json_is_object(v)) {
		putchar('\n');
		print_object(v, depth + 1);
	} else if (json_is_array(v)) {
		print_array(v, depth);
	} else {
		if (key != NULL)
			putchar(' ');
		if (uptime_unit(key) > 0 && json_is_number(v))
			print_duration(json_number_value(v) * uptime_unit(key));
		else
			print_scalar(v);
		putchar('\n');
	}
}

/* One line per plugin: kind, name, then the rest as key=value. */
static void
print_plugins(json_t *reply)
{
	json_t *list = json_object_get(reply, "plugins"), *p;
	size_t  i;

	if (!json_is_array(list)) {
		print_object(reply, 0);
		return;
	}
	if (json_array_size(list) == 0)
		puts("no plugins loaded");
	json_array_foreach(list, i, p)
	{
		const char *key;
		json_t     *v;
		bool        first = true;

		if (!json_is_object(p)) {
			print_scalar(p);
			putchar('\n');
			continue;
		}
		json_object_foreach(p, key, v)
		{
			if (!first)
				putchar(' ');
			if (strcmp(key, "kind") != 0 &&
			    strcmp(key, "name") != 0)
				printf("%s=", key);
			if (is_scalar(v)) {
				print_scalar(v);
			} else {
				char *s = json_dumps(v, JSON_COMPACT);

				fputs(s != NULL ? s : "?", stdout);
				free(s);
			}
			first = false;
		}
		putchar('\n');
	}
}

static void
print_json(json_t *reply)
{
	char *s = json_dumps(reply, JSON_INDENT(2));

	if (s != NULL)
		puts(s);
	free(s);
}

/* ------------------------------------------------------------ main */

static int
report(const struct options *o, json_t *reply)
{
	json_t *text;

	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *err =
		    json_string_value(json_object_get(reply, "error"));

		if (o->json)
			print_json(reply);
		fprintf(stderr, "vigilctl: %s%s: %s\n", o->command,
		    strcmp(o->command, "reload") == 0 ? " refused" : "",
		    err != NULL ? err : "failed, with no reason given");
		return EXIT_DAEMON;
	}
	if (strcmp(o->command, "metrics") == 0) {
		text = json_object_get(reply, "text");
		if (!json_is_string(text)) {
			fprintf(stderr,
			    "vigilctl: %s: the reply has no "
			    "\"text\"\n",
			    o->socket);
			return EXIT_CONNECT;
		}
		fputs(json_string_value(text), stdout);
	} else if (o->json) {
		print_json(reply);
	} else if (strcmp(o->command, "plugins") == 0) {
		print_plugins(reply);
	} else {
		if (strcmp(o->command, "reload") == 0)
			puts("reload applied");
		print_object(reply, 0);
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "vigilctl: cannot write the output: %s\n",
		    strerror(errno));
		return EXIT_DAEMON;
	}
	return EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct options o = {0};
	json_t        *reply;
	int            rc;

	if ((rc = parse_args(argc, argv, &o)) != -1)
		return rc;
	if ((reply = ask(&o)) == NULL)
		return EXIT_CONNECT;
	rc = report(&o, reply);
	json_decref(reply);
	return rc;
}
