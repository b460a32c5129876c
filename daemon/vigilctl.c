/*
 * vigilctl.c - the command-line client of vigild's control socket: sends
 * one request line, waits (with a timeout) for the one reply line and
 * prints it for people, or as JSON with --json. `outbox` reads and acts on
 * the durable outbox: counts, deliveries, and dead letters to retry or
 * purge. `explain` has one post scored by the running rules and shows
 * each finding with its evidence in context; `check-config` has the
 * daemon validate a configuration file as a reload would.
 *
 * Exit status: 0 done, 1 the daemon answered with an error (for reload:
 * the new configuration was refused; for explain: the post is invalid;
 * for check-config: the file is), 2 bad usage, 3 the daemon could not be
 * reached or gave no usable reply.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
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

#define DEFAULT_SOCKET      "/run/vigil/control.sock"
#define DEFAULT_TIMEOUT     30
#define MAX_REPLY           (256u << 20) /* metrics of a big setup fit */
#define MAX_POST            (64u << 20)  /* daemon.max_post_bytes at most */
#define OUTBOX_LIST_DEFAULT 100          /* the daemon's default for list */
#define OUTBOX_LIST_MAX     100000
#define ALERT_ID_LEN        32 /* hexadecimal digits (doc/alerts.md) */
#define SINK_NAME_MAX       64
#define MAX_JURISDICTIONS   16          /* WIRE_MAX_JUR of the daemon */
#define CONTEXT_CHARS       40          /* of a piece of evidence, each side */
#define MARK_ON             "\033[1;7m" /* bold, reverse */
#define MARK_OFF            "\033[0m"
#define ELLIPSIS            "\xe2\x80\xa6" /* U+2026, where a field goes on */
#define NELEM(a)            (sizeof(a) / sizeof(*(a)))

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
	/* outbox */
	const char *action;
	const char *sink;                 /* NULL: every sink */
	const char *state;                /* list: NULL for any */
	char        id[ALERT_ID_LEN + 1]; /* "" for any */
	long        limit;                /* list: 0 for the daemon's default */
	bool        all;                  /* retry, purge: every dead one */
	/* explain */
	const char *file; /* NULL or "-": standard input */
	const char *jur[MAX_JURISDICTIONS];
	size_t      n_jur;
	char       *post; /* the post's JSON, as sent */
	size_t      post_len;
	/* check-config */
	const char *config; /* NULL: the daemon's own file */
	char       *config_abs;
};

static const char *const outbox_actions[] = {"stats", "list", "retry", "purge"};
static const char *const outbox_states[]  = {
     "pending", "delivered", "dead", "held"};

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
	    "  outbox    the durable outbox of alerts (below)\n"
	    "  explain [FILE|-] [--jurisdiction CC]...\n"
	    "            score one post (a JSON object, or plain text) with\n"
	    "            the running rules and show each finding with its\n"
	    "            evidence in context; raises no alert\n"
	    "  check-config [FILE]\n"
	    "            have the daemon validate FILE (default: the file\n"
	    "            it runs) as a reload would, without applying it\n"
	    "\n"
	    "  outbox [stats] [--sink S]\n"
	    "            deliveries counted by sink and state\n"
	    "  outbox list [--sink S] [--state ST] [--id ID] [--limit N]\n"
	    "            the newest deliveries (default %d, at most %d),\n"
	    "            oldest first; ST is pending, delivered, dead or held\n"
	    "  outbox retry (--id ID | --all) [--sink S]\n"
	    "            dead deliveries become pending and are sent again\n"
	    "  outbox purge (--id ID | --all) [--sink S]\n"
	    "            dead deliveries are deleted\n"
	    "\n"
	    "options:\n"
	    "  -s SOCKET   the control socket (default: $VIGIL_CONTROL, or\n"
	    "              " DEFAULT_SOCKET ")\n"
	    "  -t SECONDS  how long to wait for the reply (default: %d)\n"
	    "  --json      print the daemon's reply as it came (every\n"
	    "              command but metrics)\n"
	    "  -h          this help\n"
	    "\n"
	    "exit status: 0 done, 1 the daemon reported an error (reload:\n"
	    "refused; explain: the post is invalid; check-config: the\n"
	    "file is), 2 bad usage, 3 the daemon cannot be reached\n",
	    OUTBOX_LIST_DEFAULT, OUTBOX_LIST_MAX, DEFAULT_TIMEOUT);
}

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("vigilctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nusage: vigilctl [-s SOCKET] [-t SECONDS] COMMAND [--json] "
	      "(vigilctl -h for more)\n",
	    stderr);
	return EXIT_USAGE;
}

static bool
one_of(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, set[i]) == 0)
			return true;
	return false;
}

static bool
command_known(const char *cmd)
{
	static const char *const known[] = {"status", "plugins", "reload",
	    "metrics", "outbox", "explain", "check-config"};

	return one_of(cmd, known, NELEM(known));
}

/* ------------------------------------------------------------ outbox args */

enum {
	OPT_SINK  = 1u << 0,
	OPT_STATE = 1u << 1,
	OPT_ID    = 1u << 2,
	OPT_LIMIT = 1u << 3,
	OPT_ALL   = 1u << 4,
};

static const struct outbox_opt {
	const char *name;
	unsigned    flag;
	bool        has_value;
} outbox_opts[] = {
    {"--sink", OPT_SINK, true},
    {"--state", OPT_STATE, true},
    {"--id", OPT_ID, true},
    {"--limit", OPT_LIMIT, true},
    {"--all", OPT_ALL, false},
};

/* The option arg names ("--id" or "--id=..."), or NULL. */
static const struct outbox_opt *
outbox_opt_find(const char *arg)
{
	for (size_t i = 0; i < NELEM(outbox_opts); i++) {
		size_t n = strlen(outbox_opts[i].name);

		if (strncmp(arg, outbox_opts[i].name, n) == 0 &&
		    (arg[n] == '\0' ||
		        (arg[n] == '=' && outbox_opts[i].has_value)))
			return &outbox_opts[i];
	}
	return NULL;
}

/* Sink instance names as the configuration allows them. */
static bool
sink_name_valid(const char *name)
{
	if (!isalnum((unsigned char)name[0]) || strlen(name) > SINK_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && strchr("_-.", *p) == NULL)
			return false;
	return true;
}

/* Checks and stores the value of one option; the exit status on error,
 * else -1. */
static int
outbox_opt_set(struct options *o, unsigned flag, const char *val)
{
	char *end;
	long  n;

	switch (flag) {
	case OPT_SINK:
		if (!sink_name_valid(val))
			return usage_error("--sink wants a sink's instance "
			                   "name (letters, digits, '_', '-' "
			                   "and '.', at most %d), not '%s'",
			    SINK_NAME_MAX, val);
		o->sink = val;
		break;
	case OPT_STATE:
		if (!one_of(val, outbox_states, NELEM(outbox_states)))
			return usage_error("unknown state '%s' (pending, "
			                   "delivered, dead or held)",
			    val);
		o->state = val;
		break;
	case OPT_ID:
		if (strlen(val) != ALERT_ID_LEN ||
		    strspn(val, "0123456789abcdefABCDEF") != ALERT_ID_LEN)
			return usage_error("--id wants an alert id, %d "
			                   "hexadecimal digits, not '%s'",
			    ALERT_ID_LEN, val);
		for (size_t i = 0; i <= ALERT_ID_LEN; i++)
			o->id[i] = (char)tolower((unsigned char)val[i]);
		break;
	default: /* OPT_LIMIT */
		errno = 0;
		n     = strtol(val, &end, 10);
		if (errno != 0 || *end != '\0' || end == val || n < 1 ||
		    n > OUTBOX_LIST_MAX)
			return usage_error("--limit wants a whole number from "
			                   "1 to %d, not '%s'",
			    OUTBOX_LIST_MAX, val);
		o->limit = n;
		break;
	}
	return -1;
}

/* The options each action takes. */
static unsigned
outbox_allowed(const char *action)
{
	if (strcmp(action, "stats") == 0)
		return OPT_SINK;
	if (strcmp(action, "list") == 0)
		return OPT_SINK | OPT_STATE | OPT_ID | OPT_LIMIT;
	return OPT_SINK | OPT_ID | OPT_ALL;
}

/* outbox [ACTION] [OPTIONS] [--json] from argv[i]; -1 to go on, else the
 * exit status. */
static int
parse_outbox(int argc, char **argv, int i, struct options *o)
{
	unsigned seen = 0, allowed;
	int      rc;

	o->action = "stats";
	if (i < argc && argv[i][0] != '-') {
		o->action = argv[i++];
		if (!one_of(o->action, outbox_actions, NELEM(outbox_actions)))
			return usage_error("unknown outbox action '%s' (stats, "
			                   "list, retry or purge)",
			    o->action);
	}
	allowed = outbox_allowed(o->action);
	for (; i < argc; i++) {
		const struct outbox_opt *opt;
		const char              *val;

		if (strcmp(argv[i], "--json") == 0) {
			o->json = true;
			continue;
		}
		if ((opt = outbox_opt_find(argv[i])) == NULL)
			return usage_error("unexpected argument '%s'", argv[i]);
		if ((allowed & opt->flag) == 0 && opt->flag == OPT_STATE)
			return usage_error("outbox %s acts on dead deliveries "
			                   "only: --state does not apply",
			    o->action);
		if ((allowed & opt->flag) == 0)
			return usage_error("%s does not apply to outbox %s",
			    opt->name, o->action);
		if (seen & opt->flag)
			return usage_error("%s given twice", opt->name);
		seen |= opt->flag;
		if (!opt->has_value) {
			o->all = true; /* --all, said to the daemon in so many
			                  words */
			continue;
		}
		val = strchr(argv[i], '=');
		if (val != NULL)
			val++;
		else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
			val = argv[++i];
		else
			return usage_error("%s needs a value", opt->name);
		if ((rc = outbox_opt_set(o, opt->flag, val)) != -1)
			return rc;
	}
	if ((allowed & OPT_ALL) && !(seen & (OPT_ID | OPT_ALL)))
		return usage_error("outbox %s needs --id ID, or --all for "
		                   "every dead delivery",
		    o->action);
	if ((seen & OPT_ID) && (seen & OPT_ALL))
		return usage_error(
		    "outbox %s takes --id or --all, not both", o->action);
	return -1;
}

/* ------------------------------------------------------------ explain args */

static bool
jurisdiction_valid(const char *cc)
{
	return strlen(cc) == 2 && isascii((unsigned char)cc[0]) &&
	    isalpha((unsigned char)cc[0]) && isascii((unsigned char)cc[1]) &&
	    isalpha((unsigned char)cc[1]);
}

/* explain [FILE|-] [--jurisdiction CC]... [--json] from argv[i]; -1 to go
 * on, else the exit status. */
static int
parse_explain(int argc, char **argv, int i, struct options *o)
{
	static const char opt[] = "--jurisdiction";
	const size_t      n     = sizeof(opt) - 1;

	for (; i < argc; i++) {
		const char *arg = argv[i], *val;

		if (strcmp(arg, "--json") == 0) {
			o->json = true;
			continue;
		}
		if (strncmp(arg, opt, n) == 0 &&
		    (arg[n] == '\0' || arg[n] == '=')) {
			if (arg[n] == '=')
				val = arg + n + 1;
			else if (i + 1 < argc &&
			    strncmp(argv[i + 1], "--", 2) != 0)
				val = argv[++i];
			else
				return usage_error("%s needs a value", opt);
			if (!jurisdiction_valid(val))
				return usage_error("%s wants a two-letter code "
				                   "such as kz, not '%s'",
				    opt, val);
			if (o->n_jur == MAX_JURISDICTIONS)
				return usage_error("at most %d %s options",
				    MAX_JURISDICTIONS, opt);
			o->jur[o->n_jur++] = val;
			continue;
		}
		if (arg[0] == '-' && arg[1] != '\0')
			return usage_error("unexpected argument '%s'", arg);
		if (o->file != NULL)
			return usage_error("explain takes one FILE; '%s' is a "
			                   "second",
			    arg);
		o->file = arg;
	}
	return -1;
}

/* check-config [FILE] [--json] from argv[i]. */
static int
parse_check_config(int argc, char **argv, int i, struct options *o)
{
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			o->json = true;
			continue;
		}
		if (argv[i][0] == '-' || o->config != NULL)
			return usage_error("unexpected argument '%s'", argv[i]);
		if (argv[i][0] == '\0')
			return usage_error("%s", "check-config: an empty FILE");
		o->config = argv[i];
	}
	return -1;
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
	if (strcmp(o->command, "outbox") == 0)
		return parse_outbox(argc, argv, optind, o);
	if (strcmp(o->command, "explain") == 0)
		return parse_explain(argc, argv, optind, o);
	if (strcmp(o->command, "check-config") == 0)
		return parse_check_config(argc, argv, optind, o);
	for (; optind < argc; optind++) {
		if (strcmp(argv[optind], "--json") != 0 ||
		    strcmp(o->command, "metrics") == 0)
			return usage_error(
			    "unexpected argument '%s'", argv[optind]);
		o->json = true;
	}
	return -1;
}

/* ------------------------------------------------------------ explain input */

/* The whole input, up to max bytes (NUL-terminated), or NULL after saying
 * why. *over when there is more. */
static char *
read_input(const char *name, FILE *f, size_t max, size_t *len, bool *over)
{
	char  *buf = NULL, *grown;
	size_t cap = 0, n;

	*len = 0;
	do {
		if (*len == cap) {
			/* Grown as the input comes, up to one byte past max. */
			size_t want = cap ? cap * 2 : 65536;

			if (want > max + 1)
				want = max + 1;
			if (buf != NULL && want == cap)
				break;
			if ((grown = realloc(buf, want + 1)) == NULL) {
				fprintf(stderr, "vigilctl: out of memory\n");
				free(buf);
				return NULL;
			}
			buf = grown;
			cap = want;
		}
		n = fread(buf + *len, 1, cap - *len, f);
		*len += n;
	} while (n > 0);
	if (ferror(f)) {
		fprintf(stderr, "vigilctl: explain: cannot read %s: %s\n", name,
		    strerror(errno));
		free(buf);
		return NULL;
	}
	*over     = *len > max;
	buf[*len] = '\0';
	return buf;
}

/* Plain text as a post of its own, published now. */
static char *
text_post(const char *text, size_t len, size_t *post_len)
{
	char      now[32];
	time_t    t = time(NULL);
	struct tm tm;
	json_t   *post;
	char     *s = NULL;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return NULL;
	post = json_pack("{s:s,s:s,s:s%,s:s}", "id", "explain", "platform",
	    "cli", "text", text, len, "created_at", now);
	if (post != NULL && (s = json_dumps(post, JSON_COMPACT)) != NULL)
		*post_len = strlen(s);
	json_decref(post);
	return s;
}

/* Is the input one to send? It must be no larger than any daemon takes,
 * be UTF-8 and have no NUL byte, as JSON strings must. Whether it fits
 * this daemon's daemon.max_post_bytes, the daemon says. */
static int
input_sendable(const char *name, const char *buf, size_t len, bool over)
{
	json_t *s;

	if (over) {
		fprintf(stderr,
		    "vigilctl: explain: %s: over %u bytes, more than "
		    "daemon.max_post_bytes can be; score it with vigild "
		    "--replay\n",
		    name, MAX_POST);
		return EXIT_DAEMON;
	}
	if (memchr(buf, '\0', len) != NULL) {
		fprintf(
		    stderr, "vigilctl: explain: %s holds a NUL byte\n", name);
		return EXIT_DAEMON;
	}
	if ((s = json_stringn(buf, len)) == NULL) {
		fprintf(stderr, "vigilctl: explain: %s is not UTF-8\n", name);
		return EXIT_DAEMON;
	}
	json_decref(s);
	return -1;
}

/* Reads the post into o->post: a JSON object as it is, anything else as
 * the text of a post made here. -1 to go on, else the exit status. */
static int
prepare_explain(struct options *o)
{
	bool        from_stdin = o->file == NULL || strcmp(o->file, "-") == 0;
	const char *name       = from_stdin ? "standard input" : o->file;
	FILE       *f          = from_stdin ? stdin : fopen(o->file, "rb");
	char       *buf;
	size_t      len, skip = 0, k;
	bool        over;
	int         rc;

	if (f == NULL) {
		fprintf(stderr, "vigilctl: explain: cannot read %s: %s\n",
		    o->file, strerror(errno));
		return EXIT_USAGE;
	}
	buf = read_input(name, f, MAX_POST, &len, &over);
	if (!from_stdin)
		fclose(f);
	if (buf == NULL)
		return EXIT_USAGE;
	if ((rc = input_sendable(name, buf, len, over)) != -1)
		goto out;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		skip = 3;
	for (k = skip; k < len && isspace((unsigned char)buf[k]); k++)
		;
	rc = EXIT_DAEMON;
	if (k == len) {
		fprintf(stderr, "vigilctl: explain: %s is empty\n", name);
		goto out;
	}
	if (buf[k] == '{') { /* a post: the daemon judges it as it is */
		memmove(buf, buf + skip, len - skip + 1);
		o->post     = buf;
		o->post_len = len - skip;
		return -1;
	}
	while (len > skip && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if ((o->post = text_post(buf + skip, len - skip, &o->post_len)) == NULL)
		fprintf(stderr, "vigilctl: out of memory\n");
	else
		rc = -1;
out:
	free(buf);
	return rc;
}

/* check-config's FILE, absolute: the daemon's directory is not ours. */
static int
prepare_check_config(struct options *o)
{
	char   cwd[PATH_MAX];
	size_t n;

	if (o->config == NULL)
		return -1;
	if (o->config[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL) {
		fprintf(stderr,
		    "vigilctl: check-config: cannot tell the current "
		    "directory (%s): give FILE as an absolute path\n",
		    strerror(errno));
		return EXIT_USAGE;
	}
	n = strlen(o->config) + (o->config[0] == '/' ? 1 : strlen(cwd) + 2);
	if ((o->config_abs = malloc(n)) == NULL) {
		fprintf(stderr, "vigilctl: out of memory\n");
		return EXIT_DAEMON;
	}
	if (o->config[0] == '/')
		memcpy(o->config_abs, o->config, n);
	else
		snprintf(o->config_abs, n, "%s/%s", cwd, o->config);
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

/* The outbox's arguments that were given. */
static int
outbox_args(const struct options *o, json_t *req)
{
	return json_object_set_new(req, "action", json_string(o->action)) ||
	    (o->sink != NULL &&
	        json_object_set_new(req, "sink", json_string(o->sink))) ||
	    (o->state != NULL &&
	        json_object_set_new(req, "state", json_string(o->state))) ||
	    (o->id[0] != '\0' &&
	        json_object_set_new(req, "id", json_string(o->id))) ||
	    (o->all && json_object_set_new(req, "all", json_true())) ||
	    (o->limit > 0 &&
	        json_object_set_new(req, "limit", json_integer(o->limit)));
}

/* The post, as a string, and the jurisdictions given. */
static int
explain_args(const struct options *o, json_t *req)
{
	json_t *jur = json_array();

	for (size_t i = 0; jur != NULL && i < o->n_jur; i++)
		if (json_array_append_new(jur, json_string(o->jur[i])) != 0) {
			json_decref(jur);
			jur = NULL;
		}
	return json_object_set_new(req, "jurisdictions", jur) ||
	    json_object_set_new(
	        req, "post", json_stringn(o->post, o->post_len));
}

/* {"cmd": command}, with the command's arguments. */
static json_t *
build_request(const struct options *o)
{
	json_t *req = json_pack("{s:s}", "cmd", o->command);
	int     rc  = 0;

	if (req == NULL)
		return NULL;
	if (strcmp(o->command, "outbox") == 0)
		rc = outbox_args(o, req);
	else if (strcmp(o->command, "explain") == 0)
		rc = explain_args(o, req);
	else if (o->config_abs != NULL)
		rc = json_object_set_new(
		    req, "path", json_string(o->config_abs));
	if (rc != 0) {
		json_decref(req);
		return NULL;
	}
	return req;
}

/* Sends the request line and returns the parsed reply, or NULL after
 * saying why on stderr. */
static json_t *
ask(const struct options *o, const char *text)
{
	json_t      *reply = NULL;
	json_error_t jerr;
	char        *line = NULL;
	const char  *why  = NULL;
	int          fd, send_errno = 0;
	int64_t      wait_ms = (int64_t)o->timeout_s * 1000;

	if ((fd = connect_daemon(o->socket)) == -1)
		return NULL;
	if (send_all(fd, text, strlen(text)) == -1 ||
	    send_all(fd, "\n", 1) == -1) {
		/* A daemon that refuses a request (a line over its limit)
		 * answers with the reason and hangs up before reading it
		 * all: that reason is the better message, if it came. */
		send_errno = errno;
		wait_ms    = 1000;
	}
	line = read_line(fd, now_ms() + wait_ms, &why);
	if (line == NULL) {
		if (send_errno != 0)
			fprintf(stderr, "vigilctl: cannot send to %s: %s\n",
			    o->socket, strerror(send_errno));
		else if (strcmp(why, "timeout") == 0)
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

/* ------------------------------------------------------------ outbox */

/* s on stdout, its control characters as '?' (ids, rules and errors
 * come from files and receivers), upper-cased or not, padded with spaces
 * to width. */
static void
put_text(const char *s, int width, bool upper)
{
	int n = 0;

	for (; s[n] != '\0'; n++) {
		unsigned char ch = (unsigned char)s[n];

		putchar(iscntrl(ch) ? '?' : upper ? toupper(ch) : ch);
	}
	if (width > n)
		printf("%*s", width - n, "");
}

static int
bad_reply(const struct options *o, const char *why)
{
	fprintf(stderr, "vigilctl: %s: unreadable reply: %s\n", o->socket, why);
	return EXIT_CONNECT;
}

static int
max_int(int a, int b)
{
	return a > b ? a : b;
}

static int
str_width(const char *s)
{
	size_t n = strlen(s);

	return n > INT_MAX ? INT_MAX : (int)n;
}

static const char *
member_string(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* Columns: the four states, then any other state the reply names. */
static json_t *
stats_columns(json_t *counts)
{
	json_t *cols = json_array(), *c, *have;
	size_t  i, k;

	for (i = 0; cols != NULL && i < NELEM(outbox_states); i++)
		if (json_array_append_new(cols, json_string(outbox_states[i])))
			goto fail;
	json_array_foreach(counts, i, c)
	{
		const char *st    = member_string(c, "state");
		bool        known = false;

		json_array_foreach(cols, k, have)
		{
			if (strcmp(json_string_value(have), st) == 0)
				known = true;
		}
		if (!known && json_array_append_new(cols, json_string(st)))
			goto fail;
	}
	return cols;
fail:
	json_decref(cols);
	return NULL;
}

static json_int_t
stats_count(json_t *counts, const char *sink, const char *state)
{
	json_t    *c;
	size_t     i;
	json_int_t n = 0;

	json_array_foreach(counts, i, c)
	{
		if (strcmp(member_string(c, "sink"), sink) == 0 &&
		    strcmp(member_string(c, "state"), state) == 0)
			n += json_integer_value(json_object_get(c, "count"));
	}
	return n;
}

static bool
counts_valid(json_t *counts)
{
	json_t *c;
	size_t  i;

	if (!json_is_array(counts))
		return false;
	json_array_foreach(counts, i, c)
	{
		if (member_string(c, "sink") == NULL ||
		    member_string(c, "state") == NULL ||
		    !json_is_integer(json_object_get(c, "count")))
			return false;
	}
	return true;
}

/* The counts as a table: a row per sink, a column per state. */
static int
print_outbox_stats(const struct options *o, json_t *reply)
{
	json_t     *counts = json_object_get(reply, "counts");
	json_t     *cols = NULL, *sinks = NULL, *c, *col;
	const char *sink;
	int        *widths = NULL, w_sink = 4, rc = EXIT_DAEMON;
	size_t      i, k;
	char        num[32];

	if (!counts_valid(counts))
		return bad_reply(o, "no \"counts\" of sink, state and count");
	if (json_array_size(counts) == 0) {
		if (o->sink != NULL)
			printf("no deliveries to sink %s\n", o->sink);
		else
			puts("the outbox holds no deliveries");
		return EXIT_OK;
	}
	if ((cols = stats_columns(counts)) == NULL ||
	    (sinks = json_object()) == NULL ||
	    (widths = calloc(json_array_size(cols), sizeof(*widths))) == NULL)
		goto nomem;
	/* The sinks in the reply's order (by name), each once. */
	json_array_foreach(counts, i, c)
	{
		sink = member_string(c, "sink");
		if (json_object_set_new(sinks, sink, json_true()) != 0)
			goto nomem;
		w_sink = max_int(w_sink, str_width(sink));
	}
	json_array_foreach(cols, k, col)
	{
		widths[k] = str_width(json_string_value(col));
		json_object_foreach(sinks, sink, c)
		{
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
			    stats_count(counts, sink, json_string_value(col)));
			widths[k] = max_int(widths[k], str_width(num));
		}
	}
	put_text("sink", w_sink, true);
	json_array_foreach(cols, k, col)
	{
		printf(
		    "  %*s", widths[k] - str_width(json_string_value(col)), "");
		put_text(json_string_value(col), 0, true);
	}
	putchar('\n');
	json_object_foreach(sinks, sink, c)
	{
		put_text(sink, w_sink, false);
		json_array_foreach(cols, k, col)
		    printf("  %*" JSON_INTEGER_FORMAT, widths[k],
		        stats_count(counts, sink, json_string_value(col)));
		putchar('\n');
	}
	rc = EXIT_OK;
	goto out;
nomem:
	fprintf(stderr, "vigilctl: out of memory\n");
out:
	free(widths);
	json_decref(sinks);
	json_decref(cols);
	return rc;
}

/* "2021-01-05T04:00:00Z" for microseconds since the epoch. */
static void
format_time(json_t *us, char *buf, size_t len)
{
	struct tm tm;
	time_t    t;

	snprintf(buf, len, "-");
	if (!json_is_integer(us) || json_integer_value(us) < 0)
		return;
	t = (time_t)(json_integer_value(us) / 1000000);
	if (gmtime_r(&t, &tm) != NULL)
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *const list_columns[] = {
    "time", "id", "rule", "sink", "state", "attempts", "error"};

/* Field k of delivery d, as printed (buf for the numbers). */
static const char *
list_field(json_t *d, size_t k, char *buf, size_t len)
{
	const char *s;
	json_t     *v;

	switch (k) {
	case 0:
		format_time(json_object_get(d, "updated"), buf, len);
		return buf;
	case 5:
		v = json_object_get(d, "attempts");
		if (!json_is_integer(v))
			return "-";
		snprintf(
		    buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	default:
		s = member_string(d, list_columns[k]);
		return s != NULL && s[0] != '\0' ? s : "-";
	}
}

/* One line per delivery, oldest first, in aligned columns. */
static int
print_outbox_list(const struct options *o, json_t *reply)
{
	json_t *list = json_object_get(reply, "deliveries"), *d;
	int     widths[NELEM(list_columns)];
	size_t  i, k, last = NELEM(list_columns) - 1;
	long    limit = o->limit > 0 ? o->limit : OUTBOX_LIST_DEFAULT;
	char    buf[64];

	if (!json_is_array(list))
		return bad_reply(o, "no \"deliveries\"");
	json_array_foreach(list, i, d)
	{
		if (!json_is_object(d))
			return bad_reply(o, "a delivery that is not an object");
	}
	if (json_array_size(list) == 0) {
		puts("no deliveries match");
		return EXIT_OK;
	}
	for (k = 0; k < NELEM(list_columns); k++)
		widths[k] = str_width(list_columns[k]);
	json_array_foreach(list, i, d)
	{
		for (k = 0; k < last; k++)
			widths[k] = max_int(widths[k],
			    str_width(list_field(d, k, buf, sizeof(buf))));
	}
	for (k = 0; k <= last; k++) {
		put_text(list_columns[k], k < last ? widths[k] : 0, true);
		fputs(k < last ? "  " : "\n", stdout);
	}
	json_array_foreach(list, i, d)
	{
		for (k = 0; k <= last; k++) {
			put_text(list_field(d, k, buf, sizeof(buf)),
			    k < last ? widths[k] : 0, false);
			fputs(k < last ? "  " : "\n", stdout);
		}
	}
	if (json_array_size(list) >= (size_t)limit)
		fprintf(stderr,
		    "vigilctl: the newest %ld deliveries shown; there may be "
		    "more (--limit)\n",
		    limit);
	return EXIT_OK;
}

/* retry and purge: how many dead deliveries changed. */
static int
print_outbox_changed(const struct options *o, json_t *reply)
{
	json_t *list  = json_object_get(reply, "deliveries");
	bool    retry = strcmp(o->action, "retry") == 0;
	size_t  n     = json_array_size(list);

	if (!json_is_array(list))
		return bad_reply(o, "no \"deliveries\"");
	if (n == 0)
		printf("no dead deliveries matched: nothing %s\n",
		    retry ? "retried" : "purged");
	else
		printf("%zu dead deliver%s %s\n", n, n == 1 ? "y" : "ies",
		    retry ? "pending again" : "purged");
	return EXIT_OK;
}

static int
print_outbox(const struct options *o, json_t *reply)
{
	if (strcmp(o->action, "stats") == 0)
		return print_outbox_stats(o, reply);
	if (strcmp(o->action, "list") == 0)
		return print_outbox_list(o, reply);
	return print_outbox_changed(o, reply);
}

/* ------------------------------------------------------------ explain */

static bool
utf8_continuation(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/* n bytes of s on stdout, control characters (C0, DEL and C1) as spaces:
 * post text and rule strings must not drive the terminal, nor break the
 * line. */
static void
put_safe(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f) {
			putchar(' ');
		} else if (c == 0xc2 && i + 1 < n &&
		    (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9f) {
			putchar(' ');
			i++;
		} else {
			putchar(c);
		}
	}
}

/* A string member, or "-". */
static void
put_member(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_string(v) && json_string_length(v) > 0)
		put_safe(json_string_value(v), json_string_length(v));
	else
		putchar('-');
}

/* Scores as verdicts write them: 10.0, 2.5. */
static void
put_score(json_t *v)
{
	double d = json_number_value(v);

	if (!json_is_number(v))
		putchar('-');
	else if (d > -1e15 && d < 1e15 && d == (double)(long long)d)
		printf("%.1f", d);
	else
		printf("%.15g", d);
}

static void
label(const char *name)
{
	printf("  %-14s", name);
}

/* The text of field (doc/posts.md: text, poll.question,
 * poll.options[i]) in post, or NULL. */
static const char *
field_text(json_t *post, const char *field, size_t *len)
{
	json_t       *poll = json_object_get(post, "poll"), *s = NULL;
	const char   *idx;
	char         *end;
	unsigned long i;

	if (strcmp(field, "text") == 0) {
		s = json_object_get(post, "text");
	} else if (strcmp(field, "poll.question") == 0) {
		s = json_object_get(poll, "question");
	} else if (strncmp(field, "poll.options[", 13) == 0) {
		idx   = field + 13;
		errno = 0;
		i     = strtoul(idx, &end, 10);
		if (isdigit((unsigned char)*idx) && errno == 0 &&
		    strcmp(end, "]") == 0)
			s = json_array_get(json_object_get(poll, "options"), i);
	}
	if (!json_is_string(s))
		return NULL;
	*len = json_string_length(s);
	return json_string_value(s);
}

/* text[start, end) marked, with up to CONTEXT_CHARS characters of the
 * field on each side, cut between characters. */
static void
put_in_context(const char *text, size_t len, size_t start, size_t end, bool tty)
{
	size_t from, to;

	/* Whole characters, should the offsets split one. */
	while (start > 0 && utf8_continuation((unsigned char)text[start]))
		start--;
	while (end < len && utf8_continuation((unsigned char)text[end]))
		end++;
	from = start;
	to   = end;
	for (int n = 0; n < CONTEXT_CHARS && from > 0; n++)
		while (
		    from > 0 && utf8_continuation((unsigned char)text[--from]))
			;
	for (int n = 0; n < CONTEXT_CHARS && to < len; n++)
		while (++to < len && utf8_continuation((unsigned char)text[to]))
			;
	if (from > 0)
		fputs(ELLIPSIS, stdout);
	put_safe(text + from, start - from);
	fputs(tty ? MARK_ON : "[[", stdout);
	put_safe(text + start, end - start);
	fputs(tty ? MARK_OFF : "]]", stdout);
	put_safe(text + end, to - end);
	if (to < len)
		fputs(ELLIPSIS, stdout);
}

/* One piece of evidence in its field of the post that was sent; the
 * verdict's own excerpt when the offsets do not fit it. */
static void
put_evidence(json_t *ev, json_t *post, bool tty)
{
	const char *field = member_string(ev, "field"), *text = NULL;
	json_t     *js  = json_object_get(ev, "start");
	json_t     *je  = json_object_get(ev, "end");
	size_t      len = 0;

	put_member(ev, "field");
	fputs(": ", stdout);
	if (field != NULL)
		text = field_text(post, field, &len);
	if (text != NULL && json_is_integer(js) && json_is_integer(je) &&
	    json_integer_value(js) >= 0 &&
	    json_integer_value(js) <= json_integer_value(je) &&
	    (size_t)json_integer_value(je) <= len)
		put_in_context(text, len, (size_t)json_integer_value(js),
		    (size_t)json_integer_value(je), tty);
	else
		put_member(ev, "excerpt");
	putchar('\n');
}

static void
put_signals(json_t *signals)
{
	json_t *sig;
	size_t  i;

	label("signals:");
	if (json_array_size(signals) == 0)
		puts("(none)");
	json_array_foreach(signals, i, sig)
	{
		if (i > 0)
			label("");
		put_member(sig, "name");
		putchar(' ');
		put_score(json_object_get(sig, "weight"));
		putchar('\n');
	}
}

static void
put_finding(json_t *f, json_t *post, bool tty)
{
	const char *sev    = member_string(f, "severity");
	json_t     *legal  = json_object_get(f, "legal");
	json_t     *window = json_object_get(f, "window");
	json_t     *ev;
	size_t      i;

	putchar('\n');
	put_text(sev != NULL ? sev : "-", 0, true);
	putchar(' ');
	put_member(f, "rule");
	fputs(", score ", stdout);
	put_score(json_object_get(f, "score"));
	putchar('\n');
	label("title:");
	put_member(f, "title");
	putchar('\n');
	label("jurisdiction:");
	put_member(f, "jurisdiction");
	putchar('\n');
	label("law:");
	put_member(legal, "law");
	putchar('\n');
	label("article:");
	put_member(legal, "article");
	putchar('\n');
	label("penalty:");
	put_member(legal, "penalty");
	putchar('\n');
	label("window:");
	put_member(window, "name");
	if (window != NULL) {
		fputs(", ", stdout);
		put_member(window, "start");
		fputs(" to ", stdout);
		put_member(window, "end");
	}
	putchar('\n');
	put_signals(json_object_get(f, "signals"));
	label("evidence:");
	if (json_array_size(json_object_get(f, "evidence")) == 0)
		puts("(none)");
	json_array_foreach(json_object_get(f, "evidence"), i, ev)
	{
		if (i > 0)
			label("");
		put_evidence(ev, post, tty);
	}
}

/* The verdict for people: the post's severity and score, then each
 * finding with its legal basis, window, signals and evidence. */
static int
print_explain(const struct options *o, json_t *reply)
{
	json_t     *findings = json_object_get(reply, "findings"), *f, *post;
	const char *nc       = getenv("NO_COLOR");
	bool        tty = isatty(STDOUT_FILENO) && (nc == NULL || *nc == '\0');
	size_t      i, n = json_array_size(findings);

	if (!json_is_array(findings) ||
	    member_string(reply, "severity") == NULL ||
	    member_string(reply, "post_id") == NULL)
		return bad_reply(o, "no verdict (post_id, severity, findings)");
	/* It parsed in the worker, so it parses here. */
	post = json_loadb(o->post, o->post_len, 0, NULL);
	put_member(reply, "post_id");
	fputs(": severity ", stdout);
	put_member(reply, "severity");
	fputs(", score ", stdout);
	put_score(json_object_get(reply, "score"));
	if (n == 0)
		puts(", no findings");
	else
		printf(", %zu finding%s\n", n, n == 1 ? "" : "s");
	json_array_foreach(findings, i, f) put_finding(f, post, tty);
	json_decref(post);
	return EXIT_OK;
}

/* check-config: the errors as vigild -t prints them, one per line. */
static void
print_config_errors(json_t *reply)
{
	const char *path = member_string(reply, "path");
	const char *err  = member_string(reply, "error");

	fprintf(stderr, "vigilctl: check-config: %s is refused:\n",
	    path != NULL ? path : "the configuration");
	fprintf(stderr, "%s\n", err != NULL ? err : "(no reason given)");
}

static void
print_config_ok(json_t *reply)
{
	put_member(reply, "path");
	printf(": configuration OK (%" JSON_INTEGER_FORMAT
	       " inputs, %" JSON_INTEGER_FORMAT " rules, %" JSON_INTEGER_FORMAT
	       " sinks)\n",
	    json_integer_value(json_object_get(reply, "inputs")),
	    json_integer_value(json_object_get(reply, "rules")),
	    json_integer_value(json_object_get(reply, "sinks")));
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
	int     rc;

	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *err =
		    json_string_value(json_object_get(reply, "error"));

		if (o->json)
			print_json(reply);
		if (strcmp(o->command, "check-config") == 0 &&
		    member_string(reply, "path") != NULL) {
			print_config_errors(reply);
			return EXIT_DAEMON;
		}
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
	} else if (strcmp(o->command, "outbox") == 0) {
		if ((rc = print_outbox(o, reply)) != EXIT_OK)
			return rc;
	} else if (strcmp(o->command, "explain") == 0) {
		if ((rc = print_explain(o, reply)) != EXIT_OK)
			return rc;
	} else if (strcmp(o->command, "check-config") == 0) {
		print_config_ok(reply);
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

/* What the command needs before it asks: -1 to go on, else the exit
 * status. */
static int
prepare(struct options *o)
{
	if (strcmp(o->command, "explain") == 0)
		return prepare_explain(o);
	if (strcmp(o->command, "check-config") == 0)
		return prepare_check_config(o);
	return -1;
}

int
main(int argc, char **argv)
{
	struct options o    = {0};
	json_t        *req  = NULL, *reply;
	char          *text = NULL;
	int            rc;

	if ((rc = parse_args(argc, argv, &o)) != -1)
		return rc;
	if ((rc = prepare(&o)) != -1)
		goto out;
	rc = EXIT_DAEMON;
	if ((req = build_request(&o)) == NULL ||
	    (text = json_dumps(req, JSON_COMPACT)) == NULL) {
		fprintf(stderr, "vigilctl: out of memory\n");
		goto out;
	}
	if ((reply = ask(&o, text)) == NULL) {
		rc = EXIT_CONNECT;
		goto out;
	}
	rc = report(&o, reply);
	json_decref(reply);
out:
	free(text);
	json_decref(req);
	free(o.post);
	free(o.config_abs);
	return rc;
}
