/*
 * explain.c - the control commands explain and check-config (see
 * explain.h).
 *
 * explain hands the post to the running generation's dispatch as a job of
 * its own, so that it is scored by the same workers and rules as posts
 * from inputs; its done callback answers the deferred control request and
 * drops the alerts. The job counts as held by the dispatch, so a reload or
 * a shutdown that begins meanwhile waits for its verdict, as for any post.
 *
 * The post travels inside the request line, as a JSON string, so the
 * control socket is told to take lines long enough for the largest post
 * the running configuration accepts (daemon.max_post_bytes), however it
 * is escaped, plus room for the rest of the request.
 *
 * check-config loads the file on the loop, as a reload does: libltdl is
 * not thread-safe, and the loop is the only thread that loads plugins.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "control.h"
#include "dispatch.h"
#include "explain.h"
#include "log.h"
#include "workers.h"

#define CHECK_ERRORS_MAX 16384 /* bytes of file:line errors */
#define REASON_MAX       1024
/* JSON writes a byte of a string as at most six: a control character
 * as \u001f. */
#define JSON_ESCAPED_MAX 6

/* What travels with an explain job. */
typedef struct explain_call {
	vigild      *v;
	control_req *req;
} explain_call;

static int
fail(json_t *reply, const char *msg)
{
	json_object_set_new(reply, "error", json_string(msg));
	return -1;
}

/* ------------------------------------------------------------ explain */

/* The reply for what became of the post; NULL when memory runs out. */
static json_t *
result_reply(const job_result *r)
{
	char         msg[REASON_MAX];
	json_t      *reply;
	json_error_t jerr;

	switch (r->status) {
	case JOB_SCORED:
		reply = json_loadb(r->data, r->len, 0, &jerr);
		if (json_is_object(reply))
			return reply;
		json_decref(reply);
		log_err("explain: a worker's verdict cannot be read: %s",
		    jerr.text);
		return json_pack(
		    "{s:s}", "error", "the worker's verdict cannot be read");
	case JOB_INVALID:
		snprintf(msg, sizeof(msg), "the post is invalid: %.*s",
		    (int)(r->len < REASON_MAX ? r->len : REASON_MAX), r->data);
		return json_pack("{s:s,s:b}", "error", msg, "invalid", 1);
	case JOB_QUARANTINED:
		snprintf(msg, sizeof(msg), "not scored: %.*s",
		    (int)(r->len < REASON_MAX ? r->len : REASON_MAX), r->data);
		return json_pack("{s:s}", "error", msg);
	default:
		return json_pack(
		    "{s:s}", "error", "not scored: the daemon is stopping");
	}
}

/* The verdict goes to the client; the alerts, if any, nowhere. A reload
 * or a shutdown may have been waiting for this job to leave the dispatch:
 * it looks again. */
static void
explain_done(job *j, const job_result *r)
{
	explain_call *ec = j->owner;

	job_free(j);
	control_reply(ec->req, result_reply(r));
	vigild_progress(ec->v);
	free(ec);
}

static bool
is_ascii_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* "jurisdictions": absent, null or an array of two-letter codes, stored
 * in lower case. */
static int
read_jurisdictions(json_t *arr, char codes[][3], size_t *n, json_t *reply)
{
	json_t *code;
	size_t  i;

	*n = 0;
	if (arr == NULL || json_is_null(arr))
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > WIRE_MAX_JUR)
		return fail(reply,
		    "'jurisdictions' must be an array of at "
		    "most 16 two-letter codes");
	json_array_foreach(arr, i, code)
	{
		const char *s = json_string_value(code);

		if (s == NULL || json_string_length(code) != 2 ||
		    !is_ascii_letter(s[0]) || !is_ascii_letter(s[1]))
			return fail(reply,
			    "'jurisdictions' must hold "
			    "two-letter codes such as \"kz\"");
		codes[i][0] = (char)(s[0] | 0x20);
		codes[i][1] = (char)(s[1] | 0x20);
		codes[i][2] = '\0';
	}
	*n = i;
	return 0;
}

static int
cmd_explain(void *arg, control_req *req, json_t *args, json_t *reply)
{
	static const char *const busy[] = {
	    [VS_STARTING]  = "the daemon is starting",
	    [VS_RELOADING] = "busy: a reload is in progress; try again once "
	                     "it has finished",
	    [VS_STOPPING]  = "the daemon is stopping",
	};
	vigild       *v    = arg;
	json_t       *post = json_object_get(args, "post");
	char          codes[WIRE_MAX_JUR][3], msg[160];
	const char   *jur[WIRE_MAX_JUR];
	size_t        n_jur, len;
	explain_call *ec;
	job          *j;

	if (v->state != VS_RUNNING || v->cur == NULL)
		return fail(reply,
		    busy[v->state == VS_RUNNING ? VS_STARTING : v->state]);
	if (!json_is_string(post))
		return fail(reply, "'post' must be a string: the post's JSON");
	if (read_jurisdictions(json_object_get(args, "jurisdictions"), codes,
	        &n_jur, reply) != 0)
		return -1;
	len = json_string_length(post);
	if (len > v->cur->cfg->max_post_bytes) {
		snprintf(msg, sizeof(msg),
		    "the post is %zu bytes, over daemon.max_post_bytes (%zu)",
		    len, v->cur->cfg->max_post_bytes);
		return fail(reply, msg);
	}
	for (size_t i = 0; i < n_jur; i++)
		jur[i] = codes[i];
	if ((ec = malloc(sizeof(*ec))) == NULL ||
	    (j = job_new(json_string_value(post), len, jur, n_jur, explain_done,
	         ec)) == NULL) {
		free(ec);
		return fail(reply, "out of memory");
	}
	ec->v   = v;
	ec->req = req;
	log_debug("explain: scoring a post of %zu bytes", len);
	dispatch_submit(v->cur->disp, j);
	return 1; /* answered by explain_done */
}

/* ------------------------------------------------------------ check-config */

/* Errors quote the file, which need not be UTF-8: JSON strings must. */
static json_t *
error_string(char *err)
{
	size_t  n = strlen(err);
	json_t *s;

	while (n > 0 && err[n - 1] == '\n')
		err[--n] = '\0';
	if ((s = json_string(err)) != NULL)
		return s;
	for (char *p = err; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	return json_string(err);
}

/* A check-config whose rules a worker process is checking. */
typedef struct check_call {
	control_req       *req;
	json_t            *reply; /* path and counts, so far */
	rules_check       *rc;
	struct check_call *next;
} check_call;

static check_call *checks; /* running, for explain_stop */

static void
check_call_free(check_call *cc)
{
	for (check_call **p = &checks; *p; p = &(*p)->next)
		if (*p == cc) {
			*p = cc->next;
			break;
		}
	json_decref(cc->reply);
	free(cc);
}

static void
check_done(void *arg, const char *errors)
{
	check_call *cc = arg;
	const char *path =
	    json_string_value(json_object_get(cc->reply, "path"));

	if (errors != NULL) {
		char *err = strdup(errors);

		log_info("check-config: %s is refused", path);
		json_object_del(cc->reply, "inputs");
		json_object_del(cc->reply, "rules");
		json_object_del(cc->reply, "sinks");
		json_object_set_new(cc->reply, "error",
		    err ? error_string(err) : json_string("out of memory"));
		free(err);
	} else
		log_info("check-config: %s is valid", path);
	control_reply(cc->req, json_incref(cc->reply));
	check_call_free(cc);
}

/* Has a worker process check the rules of path for req: 1, the answer
 * coming from check_done, or -1 with err set. */
static int
check_call_start(
    vigild *v, control_req *req, json_t *reply, const char *path, char *err)
{
	check_call *cc = calloc(1, sizeof(*cc));

	if (cc == NULL) {
		snprintf(err, CHECK_ERRORS_MAX, "out of memory");
		return -1;
	}
	cc->rc = workers_check_start(v->base, v->worker_cmd, path, check_done,
	    cc, err, CHECK_ERRORS_MAX);
	if (cc->rc == NULL) {
		free(cc);
		return -1;
	}
	cc->req   = req;
	cc->reply = json_incref(reply);
	cc->next  = checks;
	checks    = cc;
	return 1;
}

/* Checks what vigild can (settings, inputs and sinks) at once, and has a
 * worker process check the rules, which compiles them, while the loop
 * goes on: the answer comes when it has finished. */
static int
cmd_check_config(void *arg, control_req *req, json_t *args, json_t *reply)
{
	vigild       *v    = arg;
	json_t       *p    = json_object_get(args, "path");
	const char   *path = v->config_path;
	loader       *ld   = NULL;
	vigil_config *cfg  = NULL;
	char         *err;
	int           rc;

	if (p != NULL && !json_is_null(p)) {
		/* Relative to what? The daemon's directory is not the
		 * caller's. */
		if (!json_is_string(p) || json_string_value(p)[0] != '/')
			return fail(reply,
			    "'path' must be an absolute file "
			    "name");
		path = json_string_value(p);
	}
	if ((err = malloc(CHECK_ERRORS_MAX)) == NULL)
		return fail(reply, "out of memory");
	rc = config_load(path, CONFIG_ALL | CONFIG_RULES_BY_WORKER, &ld, &cfg,
	    err, CHECK_ERRORS_MAX);
	json_object_set_new(reply, "path", json_string(path));
	if (rc == 0) {
		json_object_set_new(
		    reply, "inputs", json_integer((json_int_t)cfg->n_inputs));
		json_object_set_new(
		    reply, "rules", json_integer((json_int_t)cfg->n_rules));
		json_object_set_new(
		    reply, "sinks", json_integer((json_int_t)cfg->n_sinks));
	}
	if (rc == 0 && cfg->n_rules > 0)
		rc = check_call_start(v, req, reply, path, err);
	if (rc == 0)
		log_info("check-config: %s is valid", path);
	else if (rc < 0) {
		log_info("check-config: %s is refused", path);
		json_object_set_new(reply, "error", error_string(err));
	}
	config_free(cfg);
	loader_free(ld);
	free(err);
	return rc;
}

void
explain_stop(void)
{
	json_t *r;

	while (checks != NULL) {
		check_call *cc = checks;

		workers_check_cancel(cc->rc);
		r = json_incref(cc->reply);
		json_object_set_new(
		    r, "error", json_string("the daemon stopped"));
		control_reply(cc->req, r);
		check_call_free(cc);
	}
}

/* ------------------------------------------------------------ line limit */

/* The largest post a configuration the daemon runs (or is switching to)
 * accepts. */
static size_t
max_post(const vigild *v)
{
	size_t n = v->cur ? v->cur->cfg->max_post_bytes : 0;

	if (v->next && v->next->cfg->max_post_bytes > n)
		n = v->next->cfg->max_post_bytes;
	return n;
}

/* Room for that post escaped as a JSON string, and CONTROL_MAX_LINE for
 * the rest of the request. */
static size_t
line_limit(void *arg, char *basis, size_t basislen)
{
	const vigild *v    = arg;
	size_t        post = max_post(v);

	if (basis != NULL)
		snprintf(basis, basislen,
		    "%d bytes and %d times daemon.max_post_bytes (%zu), so "
		    "that explain takes any post the configuration accepts",
		    CONTROL_MAX_LINE, JSON_ESCAPED_MAX, post);
	return CONTROL_MAX_LINE + JSON_ESCAPED_MAX * post;
}

int
explain_register(vigild *v)
{
	if (control_command(v->ctl, "explain", cmd_explain, v) != 0 ||
	    control_command(v->ctl, "check-config", cmd_check_config, v) != 0)
		return -1;
	control_set_line_limit(v->ctl, line_limit, v);
	return 0;
}
