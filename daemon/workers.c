/*
 * workers.c - starting, watching and restarting local vigil-worker
 * processes (see workers.h).
 *
 * Each worker is a child started with fork and exec; it dies with the
 * daemon (PR_SET_PDEATHSIG). vigild's SIGCHLD handler calls workers_reap,
 * which finds the exited child in whichever set owns it. A worker that
 * exits while its set runs is started again after a delay that doubles
 * with each quick death, up to restart_max_ms, and resets once a worker
 * has lived ten seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "metrics.h"
#include "util.h"
#include "workers.h"

#define STABLE_US (10 * 1000000LL)

typedef struct worker_proc {
	workers      *set;
	int           index;
	char         *url;
	pid_t         pid;
	int64_t       started; /* monotonic */
	int           backoff_ms;
	unsigned      quick_deaths; /* in a row */
	struct event *restart;
} worker_proc;

struct workers {
	struct event_base *base;
	workers_opts       o;
	char              *command, *config, *log_level;
	worker_proc       *procs;
	size_t             n;
	bool               stopping;
	bool               listed; /* in all_sets */
	void (*done)(void *);
	void    *done_arg;
	uint64_t restarts;
	LIST_ENTRY(workers) entry;
};

static vigil_counter *c_restarts; /* over every set: survives reloads */

/* Every running set, for workers_reap. Loop thread only. */
static LIST_HEAD(, workers) all_sets = LIST_HEAD_INITIALIZER(all_sets);

static int
proc_spawn(worker_proc *p)
{
	workers *w = p->set;
	char     gen[16], parent[24];
	pid_t    pid;

	snprintf(gen, sizeof(gen), "%u", w->o.generation);
	snprintf(parent, sizeof(parent), "%ld", (long)getpid());
	pid = fork();
	if (pid < 0) {
		log_err("cannot start worker %d: fork: %s", p->index,
		    strerror(errno));
		return -1;
	}
	if (pid == 0) {
		sigset_t all;
		char    *argv[12];
		int      a = 0;

		/* Die with the daemon; start with default signals. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		argv[a++] = w->command;
		argv[a++] = (char *)"-c";
		argv[a++] = w->config;
		argv[a++] = (char *)"--connect";
		argv[a++] = p->url;
		argv[a++] = (char *)"-g";
		argv[a++] = gen;
		/* The death signal is lost if vigild died before prctl, and
		 * goes to a worker that cannot act on it while it starts:
		 * the worker also watches its parent itself. */
		argv[a++] = (char *)"--parent";
		argv[a++] = parent;
		if (w->log_level) {
			argv[a++] = (char *)"--log-level";
			argv[a++] = w->log_level;
		}
		argv[a] = NULL;
		execv(w->command, argv);
		/* Only async-signal-safe calls between fork and exec. */
		static const char msg[] = "vigild: cannot run the worker "
		                          "program (workers.command)\n";
		ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
		(void)r;
		_exit(127);
	}
	p->pid     = pid;
	p->started = now_monotonic_us();
	log_debug("worker %d started (pid %ld, generation %u)", p->index,
	    (long)pid, w->o.generation);
	return 0;
}

static void
on_restart(evutil_socket_t fd, short what, void *arg)
{
	worker_proc *p = arg;

	(void)fd;
	(void)what;
	if (p->set->stopping)
		return;
	p->set->restarts++;
	metrics_counter_add(c_restarts, 1);
	if (proc_spawn(p) != 0) {
		struct timeval tv = {
		    p->backoff_ms / 1000, (p->backoff_ms % 1000) * 1000};
		evtimer_add(p->restart, &tv);
	}
}

static void
maybe_done(workers *w)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->procs[i].pid > 0)
			return;
	if (w->done) {
		void (*done)(void *) = w->done;
		w->done              = NULL;
		done(w->done_arg);
	}
}

/* True once every worker has died young give_up_after times in a row. */
static bool
all_failing(const workers *w)
{
	if (w->o.give_up_after == 0)
		return false;
	for (size_t i = 0; i < w->n; i++)
		if (w->procs[i].quick_deaths < w->o.give_up_after)
			return false;
	return true;
}

static void
proc_exited(worker_proc *p, int status)
{
	workers *w     = p->set;
	int64_t  lived = now_monotonic_us() - p->started;

	p->pid = 0;
	if (w->stopping) {
		maybe_done(w);
		return;
	}
	if (WIFSIGNALED(status))
		log_warn("worker %d died of signal %d after %.1f s; restarting",
		    p->index, WTERMSIG(status), (double)lived / 1e6);
	else if (WEXITSTATUS(status) == 127)
		log_err("worker %d: cannot run %s (workers.command); retrying",
		    p->index, w->command);
	else
		log_warn("worker %d exited with status %d after %.1f s; "
		         "restarting",
		    p->index, WEXITSTATUS(status), (double)lived / 1e6);
	p->quick_deaths = lived >= STABLE_US ? 0 : p->quick_deaths + 1;
	if (all_failing(w)) {
		log_err("workers: each of %zu died within seconds of starting, "
		        "%u times in a row; giving up",
		    w->n, w->o.give_up_after);
		w->stopping = true; /* no restarts */
		for (size_t i = 0; i < w->n; i++)
			evtimer_del(w->procs[i].restart);
		if (w->o.on_give_up != NULL)
			w->o.on_give_up(w->o.give_up_arg);
		return;
	}
	if (lived >= STABLE_US || p->backoff_ms == 0)
		p->backoff_ms = w->o.restart_min_ms;
	else if (p->backoff_ms < w->o.restart_max_ms)
		p->backoff_ms = p->backoff_ms * 2 > w->o.restart_max_ms
		    ? w->o.restart_max_ms
		    : p->backoff_ms * 2;
	struct timeval tv = {
	    p->backoff_ms / 1000, (p->backoff_ms % 1000) * 1000};
	evtimer_add(p->restart, &tv);
}

/* Reaps our workers only: a rules check waits for its own child, which
 * waitpid(-1) here could take first. */
void
workers_reap(void)
{
	workers *w;
	int      status;

again:
	LIST_FOREACH (w, &all_sets, entry) {
		for (size_t i = 0; i < w->n; i++) {
			worker_proc *p = &w->procs[i];

			if (p->pid <= 0 ||
			    waitpid(p->pid, &status, WNOHANG) != p->pid)
				continue;
			/* proc_exited may free the set: start over. */
			proc_exited(p, status);
			goto again;
		}
	}
}

workers *
workers_start(
    struct event_base *base, const workers_opts *o, char *const *urls, size_t n)
{
	workers *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	if (c_restarts == NULL)
		c_restarts = metrics_counter("vigil_worker_restarts_total",
		    "Local workers started again after they died.", NULL);
	w->base      = base;
	w->o         = *o;
	w->n         = n;
	w->command   = strdup(o->command);
	w->config    = strdup(o->config);
	w->log_level = o->log_level ? strdup(o->log_level) : NULL;
	w->procs     = calloc(n ? n : 1, sizeof(worker_proc));
	if (w->command == NULL || w->config == NULL || w->procs == NULL ||
	    (o->log_level && w->log_level == NULL))
		goto fail;
	LIST_INSERT_HEAD(&all_sets, w, entry);
	w->listed = true;
	for (size_t i = 0; i < n; i++) {
		worker_proc *p = &w->procs[i];
		p->set         = w;
		p->index       = (int)i;
		p->url         = strdup(urls[i]);
		p->restart     = evtimer_new(base, on_restart, p);
		if (p->url == NULL || p->restart == NULL)
			goto fail;
	}
	for (size_t i = 0; i < n; i++)
		if (proc_spawn(&w->procs[i]) != 0)
			goto fail;
	return w;
fail:
	log_err("cannot start %zu workers", n);
	workers_free(w);
	return NULL;
}

void
workers_stop(workers *w, void (*done)(void *arg), void *arg)
{
	w->stopping = true;
	w->done     = done;
	w->done_arg = arg;
	for (size_t i = 0; i < w->n; i++) {
		if (w->procs[i].restart)
			evtimer_del(w->procs[i].restart);
		if (w->procs[i].pid > 0)
			kill(w->procs[i].pid, SIGTERM);
	}
	maybe_done(w);
}

void
workers_free(workers *w)
{
	if (w == NULL)
		return;
	if (w->listed)
		LIST_REMOVE(w, entry);
	if (w->procs) {
		for (size_t i = 0; i < w->n; i++) {
			worker_proc *p = &w->procs[i];
			/* Never leave a child behind. */
			if (p->pid > 0) {
				kill(p->pid, SIGKILL);
				waitpid(p->pid, NULL, 0);
			}
			if (p->restart)
				event_free(p->restart);
			free(p->url);
		}
	}
	free(w->procs);
	free(w->command);
	free(w->config);
	free(w->log_level);
	free(w);
}

void
workers_get_stats(const workers *w, workers_stats *st)
{
	st->running  = 0;
	st->restarts = w->restarts;
	for (size_t i = 0; i < w->n; i++)
		st->running += w->procs[i].pid > 0;
}

/* Starts "command -t --log-level error -c conf" with its output on a
 * pipe; returns the pid and the pipe's reading end in *fd, or -1. */
static pid_t
check_spawn(
    const char *command, const char *conf, int *fd, char *err, size_t errlen)
{
	char *const   argv[] = {(char *)command, "-t", "--log-level", "error",
	      "-c", (char *)conf, NULL};
	extern char **environ;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t          at;
	sigset_t                   none, dfl;
	pid_t                      pid;
	int                        fds[2], rc;

	if (pipe2(fds, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "checking the rules: pipe: %s",
		    strerror(errno));
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
	/* vigild ignores SIGPIPE: the check gets the default signals, as a
	 * worker does, so that vigild's death ends a check writing to it. */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setflags(
	    &at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(&pid, command, &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		snprintf(err, errlen, "checking the rules: cannot run %s: %s",
		    command, strerror(rc));
		return -1;
	}
	*fd = fds[0];
	return pid;
}

/* The end of a check: 0 when the worker exited 0; else -1 with err made
 * of its output (a refused configuration exits 2 with file:line lines)
 * or of how it ended. */
static int
check_outcome(
    const char *command, int status, const char *out, char *err, size_t errlen)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2 && out[0] != '\0')
		snprintf(err, errlen, "%s", out);
	else if (WIFSIGNALED(status))
		snprintf(err, errlen,
		    "checking the rules: %s -t died of signal %d%s%s", command,
		    WTERMSIG(status), out[0] ? ": " : "", out);
	else
		snprintf(err, errlen,
		    "checking the rules: %s -t exited with status %d%s%s",
		    command, WEXITSTATUS(status), out[0] ? ": " : "", out);
	return -1;
}

static void
trim_newlines(char *s, size_t len)
{
	while (len > 0 && s[len - 1] == '\n')
		len--;
	s[len] = '\0';
}

static int
wait_child(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* One read of a check's output into out (CHECK_OUT_MAX bytes with room
 * for a NUL; what does not fit is read and dropped). 1: more to come,
 * 0: the end, -1: nothing yet. */
static int
check_read(int fd, char *out, size_t *len)
{
	char    sink[512];
	ssize_t n = *len + 1 < CHECK_OUT_MAX
	    ? read(fd, out + *len, CHECK_OUT_MAX - 1 - *len)
	    : read(fd, sink, sizeof(sink));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return -1;
	if (n <= 0)
		return 0;
	if (*len + 1 < CHECK_OUT_MAX)
		*len += (size_t)n;
	return 1;
}

/* Once its output ended: the pipe reaches its end when the worker
 * exits, so the wait is over at once. */
static int
check_end(const char *command, pid_t pid, char *out, size_t len, char *err,
    size_t errlen)
{
	int status;

	trim_newlines(out, len);
	if (wait_child(pid, &status) != 0) {
		snprintf(err, errlen, "checking the rules: waitpid: %s",
		    strerror(errno));
		return -1;
	}
	return check_outcome(command, status, out, err, errlen);
}

int
workers_check_rules(
    const char *command, const char *conf, char *err, size_t errlen)
{
	char   out[CHECK_OUT_MAX];
	size_t len = 0;
	int    fd;
	pid_t  pid = check_spawn(command, conf, &fd, err, errlen);

	if (pid < 0)
		return -1;
	while (check_read(fd, out, &len) != 0)
		;
	close(fd);
	return check_end(command, pid, out, len, err, errlen);
}

/* ---- the same, on the loop --------------------------------------------- */

struct rules_check {
	struct event  *ev;
	pid_t          pid;
	int            fd;
	char          *command;
	rules_check_fn fn;
	void          *arg;
	size_t         len;
	char           out[CHECK_OUT_MAX];
};

static void
check_free(rules_check *c)
{
	if (c->ev != NULL)
		event_free(c->ev);
	close(c->fd);
	free(c->command);
	free(c);
}

static void
on_check_output(evutil_socket_t fd, short what, void *arg)
{
	rules_check *c = arg;
	char         err[CHECK_OUT_MAX + 256];
	int          rc;

	(void)what;
	if (check_read(fd, c->out, &c->len) != 0)
		return;
	rc = check_end(c->command, c->pid, c->out, c->len, err, sizeof(err));
	c->fn(c->arg, rc == 0 ? NULL : err);
	check_free(c);
}

rules_check *
workers_check_start(struct event_base *base, const char *command,
    const char *conf, rules_check_fn fn, void *arg, char *err, size_t errlen)
{
	rules_check *c = calloc(1, sizeof(*c));

	if (c == NULL || (c->command = strdup(command)) == NULL) {
		free(c);
		snprintf(err, errlen, "checking the rules: out of memory");
		return NULL;
	}
	c->fn  = fn;
	c->arg = arg;
	if ((c->pid = check_spawn(command, conf, &c->fd, err, errlen)) < 0) {
		free(c->command);
		free(c);
		return NULL;
	}
	if (evutil_make_socket_nonblocking(c->fd) != 0 ||
	    (c->ev = event_new(base, c->fd, EV_READ | EV_PERSIST,
	         on_check_output, c)) == NULL ||
	    event_add(c->ev, NULL) != 0) {
		snprintf(err, errlen, "checking the rules: cannot watch it");
		workers_check_cancel(c);
		return NULL;
	}
	return c;
}

void
workers_check_cancel(rules_check *c)
{
	int status;

	if (c == NULL)
		return;
	kill(c->pid, SIGKILL);
	wait_child(c->pid, &status);
	check_free(c);
}
