/*
 * test_alertmanager.c - unit tests of the alertmanager sink plugin
 * (plugins/sink/alertmanager/alertmanager.c) against a host table whose
 * HTTP client, alert completion and log are fakes that record what the
 * plugin does, so that every outcome can be answered at will. The real
 * settings code binds each configuration to the plugin's table.
 *
 * Checked: the alert as Alertmanager gets it (labels, annotations, times,
 * generatorURL); batching and the in-flight limits; each kind of reply
 * mapped to alert_done or alert_retry_after; a refused batch posted again
 * one alert at a time; re-sends, their endsAt, max_active and the end of
 * the lifetime; stop; a POST that cannot start; authentication headers
 * and secrets kept out of the log; settings refused with their place.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>
#include <libconfig.h>

#include "host.h"
#include "metrics.h"
#include "settings.h"

#define MAX_REQS  64
#define MAX_DONES 64

typedef struct fake_req {
	char          *url;
	char          *body;
	char          *headers[4];
	size_t         n_headers;
	int64_t        timeout_ms;
	vigil_fetch_fn done;
	void          *arg;
	int            cancelled, answered;
} fake_req;

typedef struct done_rec {
	uint64_t token;
	int      status;
	int64_t  retry_after_ms; /* -1: alert_done */
} done_rec;

static struct {
	vigil_host          host;
	vigil_ctx           ctx;
	struct event_base  *base;
	config_t            lc;
	vigil_cfg          *cfg;
	const vigil_plugin *desc;
	void               *inst;
	fake_req            reqs[MAX_REQS];
	size_t              n_reqs;
	done_rec            dones[MAX_DONES];
	size_t              n_dones;
	int                 fetch_fails; /* fetch returns NULL */
	char                log[16384];
} t;

const vigil_plugin *vigil_plugin_entry(void);

/* ------------------------------------------------------------ fakes */

static void
fake_vlog(const char *fmt, va_list ap)
{
	size_t n = strlen(t.log);

	vsnprintf(t.log + n, sizeof(t.log) - n, fmt, ap);
	n = strlen(t.log);
	if (n + 1 < sizeof(t.log)) {
		t.log[n]     = '\n';
		t.log[n + 1] = '\0';
	}
}

static void VIGIL_PRINTF(3, 4)
    fake_log(vigil_ctx *ctx, int level, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	(void)level;
	va_start(ap, fmt);
	fake_vlog(fmt, ap);
	va_end(ap);
}

static struct event_base *
fake_base(vigil_ctx *ctx)
{
	(void)ctx;
	return t.base;
}

static vigil_fetch *
fake_fetch(vigil_ctx *ctx, const vigil_fetch_req *req)
{
	fake_req *r;

	(void)ctx;
	if (t.fetch_fails)
		return NULL;
	assert_true(t.n_reqs < MAX_REQS);
	r = &t.reqs[t.n_reqs++];
	assert_string_equal(req->method, "POST");
	r->url  = strdup(req->url);
	r->body = strndup(req->body, req->body_len);
	assert_true(req->n_headers <= 4);
	for (size_t i = 0; i < req->n_headers; i++)
		r->headers[i] = strdup(req->headers[i]);
	r->n_headers  = req->n_headers;
	r->timeout_ms = req->timeout_ms;
	r->done       = req->done;
	r->arg        = req->arg;
	return (vigil_fetch *)r;
}

static void
fake_cancel(vigil_fetch *f)
{
	fake_req *r = (fake_req *)f;

	assert_false(r->answered);
	r->cancelled = 1;
}

static void
fake_done(vigil_ctx *ctx, uint64_t token, int status)
{
	(void)ctx;
	assert_true(t.n_dones < MAX_DONES);
	t.dones[t.n_dones++] = (done_rec){token, status, -1};
}

static void
fake_retry_after(vigil_ctx *ctx, uint64_t token, int64_t ms)
{
	(void)ctx;
	assert_true(t.n_dones < MAX_DONES);
	t.dones[t.n_dones++] = (done_rec){token, VIGIL_ERETRY, ms};
}

/* Answers request i. */
static void
answer(size_t i, int status, const char *body, int64_t retry_after_ms)
{
	fake_req          *r   = &t.reqs[i];
	vigil_fetch_result res = {sizeof(res), status,
	    status == 0 ? "Couldn't connect to server" : NULL, body ? body : "",
	    body ? strlen(body) : 0, retry_after_ms};

	assert_true(i < t.n_reqs);
	assert_false(r->answered);
	assert_false(r->cancelled);
	r->answered = 1;
	r->done(r->arg, &res);
}

/* Runs what the loop has ready (the plugin posts on its next turn). */
static void
turn(void)
{
	event_base_loop(t.base, EVLOOP_NONBLOCK);
}

/* ------------------------------------------------------------ set-up */

static int
setup(void **state)
{
	(void)state;
	memset(&t, 0, sizeof(t));
	t.host                   = *host_table();
	t.host.log               = fake_log;
	t.host.log_limited       = fake_log;
	t.host.event_base        = fake_base;
	t.host.fetch             = fake_fetch;
	t.host.fetch_cancel      = fake_cancel;
	t.host.alert_done        = fake_done;
	t.host.alert_retry_after = fake_retry_after;
	t.desc                   = vigil_plugin_entry();
	t.base                   = event_base_new();
	assert_non_null(t.base);
	host_ctx_init(&t.ctx, VIGIL_PLUGIN_SINK, "am", t.desc, t.base, NULL);
	config_init(&t.lc);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (t.inst != NULL)
		t.desc->destroy(t.inst);
	for (size_t i = 0; i < t.n_reqs; i++) {
		free(t.reqs[i].url);
		free(t.reqs[i].body);
		for (size_t k = 0; k < t.reqs[i].n_headers; k++)
			free(t.reqs[i].headers[k]);
	}
	settings_free(t.cfg);
	config_destroy(&t.lc);
	event_base_free(t.base);
	metrics_reset();
	return 0;
}

/* Binds text to the plugin's table and validates it: VIGIL_OK, or
 * VIGIL_ERR with the reason in err. */
static int
configure(const char *text, char *err, size_t errlen)
{
	const vigil_setting *tables[] = {t.desc->settings};

	err[0] = '\0';
	assert_int_equal(config_read_string(&t.lc, text), CONFIG_TRUE);
	t.cfg = settings_bind(
	    config_root_setting(&t.lc), tables, 1, "/cfgdir", err, errlen);
	if (t.cfg == NULL)
		return VIGIL_ERR;
	return t.desc->validate(&t.host, t.cfg, err, errlen);
}

/* A configured, started instance. */
static void
start(const char *text)
{
	char err[1024];

	assert_int_equal(configure(text, err, sizeof(err)), VIGIL_OK);
	assert_int_equal(
	    t.desc->init(&t.host, &t.ctx, t.cfg, &t.inst), VIGIL_OK);
	assert_int_equal(t.desc->start(t.inst), VIGIL_OK);
}

#define CREATED_AT 1609912800000000LL /* 2021-01-06T06:00:00Z */

static vigil_alert
alert(uint64_t token)
{
	static char ids[MAX_DONES][40];
	vigil_alert a;

	memset(&a, 0, sizeof(a));
	snprintf(ids[token % MAX_DONES], sizeof(ids[0]), "%032llx",
	    (unsigned long long)token);
	a.struct_size  = sizeof(a);
	a.token        = token;
	a.id           = ids[token % MAX_DONES];
	a.rule         = "kz.poll.blackout";
	a.jurisdiction = "kz";
	a.severity     = VIGIL_SEV_ALERT;
	a.score        = 10;
	a.title        = "Опрос во время запрета";
	a.post_id      = "demo-004";
	a.platform     = "telegram";
	a.channel      = "@qazaq_jastar";
	a.url          = "https://t.me/qazaq_jastar/5";
	a.created_at   = CREATED_AT;
	a.law = "Конституционный закон «О выборах»";
	a.article      = "Art. 28 para 9";
	a.window       = "poll blackout";
	a.window_start = 1609783200000000LL; /* 2021-01-04T18:00:00Z */
	a.window_end   = 1610290800000000LL; /* 2021-01-10T15:00:00Z */
	a.excerpt = "Сауалнама нәтижелері: «Nur Otan» 60%";
	return a;
}

static int
emit(uint64_t token)
{
	vigil_alert a = alert(token);

	return t.desc->emit(t.inst, &a);
}

/* The request's body: an array of n alerts. */
static json_t *
body_of(size_t i, size_t n)
{
	json_error_t e;
	json_t      *arr = json_loads(t.reqs[i].body, 0, &e);

	assert_non_null(arr);
	assert_true(json_is_array(arr));
	assert_int_equal(json_array_size(arr), n);
	return arr;
}

static const char *
str_at(json_t *obj, const char *group, const char *key)
{
	json_t *g = group ? json_object_get(obj, group) : obj;

	return json_string_value(json_object_get(g, key));
}

static int64_t
parse_ms(const char *ts)
{
	struct tm tm;
	int       ms = 0;

	memset(&tm, 0, sizeof(tm));
	assert_non_null(ts);
	assert_non_null(strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm));
	assert_int_equal(sscanf(ts + 19, ".%3dZ", &ms), 1);
	return (int64_t)timegm(&tm) * 1000 + ms;
}

static const char *
header(size_t i, const char *prefix)
{
	for (size_t k = 0; k < t.reqs[i].n_headers; k++)
		if (strncmp(t.reqs[i].headers[k], prefix, strlen(prefix)) == 0)
			return t.reqs[i].headers[k];
	return NULL;
}

#define BASIC "url = \"http://am.example:9093/\";\n"

/* ------------------------------------------------------------ tests */

static void
test_alert_shape(void **state)
{
	json_t *arr, *a, *labels;
	int64_t now_ms;

	(void)state;
	start(BASIC "labels = ( { name = \"team\"; value = \"модерация\"; } );"
	            "timeout_ms = 2500;");
	assert_int_equal(emit(7), VIGIL_PENDING);
	assert_int_equal(t.n_reqs, 0); /* never from inside emit */
	turn();
	assert_int_equal(t.n_reqs, 1);
	assert_string_equal(
	    t.reqs[0].url, "http://am.example:9093/api/v2/alerts");
	assert_int_equal(t.reqs[0].timeout_ms, 2500);
	assert_string_equal(
	    header(0, "Content-Type:"), "Content-Type: application/json");
	assert_null(header(0, "Authorization:"));

	now_ms = t.host.now_realtime() / 1000;
	arr    = body_of(0, 1);
	a      = json_array_get(arr, 0);
	labels = json_object_get(a, "labels");
	assert_int_equal(json_object_size(labels), 7);
	assert_string_equal(
	    str_at(labels, NULL, "alertname"), "kz.poll.blackout");
	assert_string_equal(str_at(labels, NULL, "alert_id"),
	    "00000000000000000000000000000007");
	assert_string_equal(str_at(labels, NULL, "jurisdiction"), "kz");
	assert_string_equal(str_at(labels, NULL, "severity"), "alert");
	assert_string_equal(str_at(labels, NULL, "platform"), "telegram");
	assert_string_equal(str_at(labels, NULL, "channel"), "@qazaq_jastar");
	assert_string_equal(str_at(labels, NULL, "team"), "модерация");
	assert_string_equal(
	    str_at(a, "annotations", "title"), "Опрос во время запрета");
	assert_string_equal(str_at(a, "annotations", "summary"),
	    "Опрос во время запрета: post demo-004 on "
	    "telegram/@qazaq_jastar");
	assert_string_equal(str_at(a, "annotations", "evidence"),
	    "Сауалнама нәтижелері: «Nur Otan» 60%");
	assert_string_equal(
	    str_at(a, "annotations", "url"), "https://t.me/qazaq_jastar/5");
	assert_string_equal(str_at(a, "annotations", "legal_basis"),
	    "Конституционный закон «О выборах», Art. 28 para 9");
	assert_string_equal(str_at(a, "annotations", "window"),
	    "poll blackout, 2021-01-04T18:00:00.000Z to "
	    "2021-01-10T15:00:00.000Z");
	assert_string_equal(str_at(a, "annotations", "post_id"), "demo-004");
	assert_string_equal(str_at(a, "annotations", "score"), "10");
	assert_null(str_at(a, "annotations", "penalty"));
	assert_string_equal(
	    str_at(a, NULL, "startsAt"), "2021-01-06T06:00:00.000Z");
	assert_true(llabs(parse_ms(str_at(a, NULL, "endsAt")) - now_ms -
	                3600 * 1000) < 2000);
	assert_string_equal(
	    str_at(a, NULL, "generatorURL"), "https://t.me/qazaq_jastar/5");
	json_decref(arr);

	answer(0, 200, "", -1);
	assert_int_equal(t.n_dones, 1);
	assert_int_equal(t.dones[0].token, 7);
	assert_int_equal(t.dones[0].status, VIGIL_OK);
	assert_int_equal(t.dones[0].retry_after_ms, -1);
}

/* Absent parts are left out, not sent empty. */
static void
test_sparse_alert(void **state)
{
	vigil_alert a = alert(1);
	json_t     *arr, *o;

	(void)state;
	start(BASIC);
	a.jurisdiction = NULL;
	a.channel      = NULL;
	a.url          = NULL;
	a.law          = NULL;
	a.article      = NULL;
	a.window       = NULL;
	a.excerpt      = NULL;
	a.created_at   = t.host.now_realtime() + 3600000000LL; /* ahead */
	assert_int_equal(t.desc->emit(t.inst, &a), VIGIL_PENDING);
	turn();
	arr = body_of(0, 1);
	o   = json_array_get(arr, 0);
	assert_int_equal(json_object_size(json_object_get(o, "labels")), 4);
	assert_null(str_at(o, "labels", "jurisdiction"));
	assert_null(str_at(o, "labels", "channel"));
	assert_null(str_at(o, "annotations", "url"));
	assert_null(str_at(o, "annotations", "legal_basis"));
	assert_null(str_at(o, "annotations", "window"));
	assert_null(str_at(o, "annotations", "evidence"));
	assert_null(str_at(o, NULL, "generatorURL"));
	assert_string_equal(str_at(o, "annotations", "summary"),
	    "Опрос во время запрета: post demo-004 on telegram");
	/* A post dated ahead starts now: endsAt must come after startsAt. */
	assert_true(parse_ms(str_at(o, NULL, "startsAt")) <=
	    t.host.now_realtime() / 1000);
	json_decref(arr);
	/* Without a rule there is no alertname: refused, not retried. */
	a      = alert(2);
	a.rule = NULL;
	assert_int_equal(t.desc->emit(t.inst, &a), VIGIL_EFAIL);
}

/* generatorURL only when Alertmanager takes it as a URI; the url
 * annotation keeps the post's URL as it is. */
static void
test_generator_url(void **state)
{
	static const struct {
		const char *url, *want;
	} cases[] = {
	    {"https://vk.com/wall-1_2?w=б#x",
	        "https://vk.com/wall-1_2?w=%D0%B1#x"},
	    {"http://127.0.0.1:8080/p", "http://127.0.0.1:8080/p"},
	    {"https://t.me", "https://t.me"},
	    {"https://t.me/a%zz", NULL},
	    {"https://bad host/x", NULL},
	    {"https://t.me:80a/x", NULL},
	    {"https://канал.рф/x", NULL},
	    {"ftp://t.me/x", NULL},
	    {"https://t.me/a b", NULL},
	    {"t.me/x", NULL},
	};
	size_t n = sizeof(cases) / sizeof(cases[0]);

	(void)state;
	start(BASIC "batch = 20;");
	for (size_t i = 0; i < n; i++) {
		vigil_alert a = alert(i + 1);

		a.url = cases[i].url;
		assert_int_equal(t.desc->emit(t.inst, &a), VIGIL_PENDING);
	}
	turn();
	json_t *arr = body_of(0, n);
	for (size_t i = 0; i < n; i++) {
		json_t     *o   = json_array_get(arr, i);
		const char *gen = str_at(o, NULL, "generatorURL");

		assert_string_equal(
		    str_at(o, "annotations", "url"), cases[i].url);
		if (cases[i].want == NULL)
			assert_null(gen);
		else
			assert_string_equal(gen, cases[i].want);
	}
	json_decref(arr);
}

static void
test_batching(void **state)
{
	json_t *arr;

	(void)state;
	start(BASIC "batch = 2; inflight = 1; max_pending = 5;");
	for (uint64_t k = 1; k <= 5; k++)
		assert_int_equal(emit(k), VIGIL_PENDING);
	assert_int_equal(emit(6), VIGIL_ERETRY); /* max_pending */
	turn();
	assert_int_equal(t.n_reqs, 1); /* inflight */
	arr = body_of(0, 2);
	assert_string_equal(
	    str_at(json_array_get(arr, 1), "labels", "alert_id"),
	    "00000000000000000000000000000002");
	json_decref(arr);
	answer(0, 200, NULL, -1);
	assert_int_equal(t.n_dones, 2);
	assert_int_equal(t.dones[0].token, 1);
	assert_int_equal(t.dones[1].token, 2);
	assert_int_equal(emit(6), VIGIL_PENDING); /* room again */
	turn();
	assert_int_equal(t.n_reqs, 2);
	json_decref(body_of(1, 2));
	answer(1, 200, NULL, -1);
	turn();
	json_decref(body_of(2, 2));
	answer(2, 200, NULL, -1);
	turn();
	assert_int_equal(t.n_reqs, 3);
	assert_int_equal(t.n_dones, 6);
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(t.dones[i].token, i + 1);
		assert_int_equal(t.dones[i].status, VIGIL_OK);
	}
}

static void
test_outcomes(void **state)
{
	static const struct {
		int         status;
		int64_t     retry_after_ms;
		int         want;
		int64_t     want_ms;
		const char *logged;
	} cases[] = {
	    {503, -1, VIGIL_ERETRY, -1, "HTTP 503: (no body); to be retried"},
	    {503, 1500, VIGIL_ERETRY, 1500, "HTTP 503"},
	    {429, 2000, VIGIL_ERETRY, 2000, "HTTP 429"},
	    {408, -1, VIGIL_ERETRY, -1, "HTTP 408"},
	    {500, -1, VIGIL_ERETRY, -1, "HTTP 500"},
	    {0, -1, VIGIL_ERETRY, -1, "Couldn't connect to server; to be"},
	    {302, -1, VIGIL_ERETRY, -1, "HTTP 302"},
	    {401, -1, VIGIL_EFAIL, -1,
	        "HTTP 401: Unauthorized; refused for good"},
	    {404, 3000, VIGIL_EFAIL, -1, "HTTP 404"},
	    {400, -1, VIGIL_EFAIL, -1, "HTTP 400"}, /* alone: not split */
	    {202, -1, VIGIL_OK, -1, NULL},
	};
	size_t n = sizeof(cases) / sizeof(cases[0]);

	(void)state;
	start(BASIC "inflight = 1;");
	for (size_t i = 0; i < n; i++) {
		const char *body = cases[i].status == 401 ? "Unauthorized" : "";

		t.log[0] = '\0';
		assert_int_equal(emit(i + 1), VIGIL_PENDING);
		turn();
		assert_int_equal(t.n_reqs, i + 1);
		answer(i, cases[i].status, body, cases[i].retry_after_ms);
		assert_int_equal(t.n_dones, i + 1);
		assert_int_equal(t.dones[i].token, i + 1);
		assert_int_equal(t.dones[i].status, cases[i].want);
		assert_int_equal(t.dones[i].retry_after_ms, cases[i].want_ms);
		if (cases[i].logged != NULL &&
		    strstr(t.log, cases[i].logged) == NULL)
			fail_msg("status %d: log lacks '%s': %s",
			    cases[i].status, cases[i].logged, t.log);
	}
}

/* The start of a long reply is logged, on one line. */
static void
test_logged_body(void **state)
{
	char body[1000];

	(void)state;
	start(BASIC);
	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	body[5]                = '\n';
	assert_int_equal(emit(1), VIGIL_PENDING);
	turn();
	answer(0, 403, body, -1);
	assert_non_null(strstr(t.log, "HTTP 403: xxxxx xxx"));
	assert_true(strlen(t.log) < 500);
	/* One line: the only line break is the one that ends it. */
	assert_ptr_equal(strchr(t.log, '\n'), t.log + strlen(t.log) - 1);
}

/* One bad alert in a batch: the others still go through. */
static void
test_split(void **state)
{
	(void)state;
	start(BASIC "batch = 3; inflight = 1;");
	for (uint64_t k = 1; k <= 4; k++)
		assert_int_equal(emit(k), VIGIL_PENDING);
	turn();
	json_decref(body_of(0, 3));
	answer(0, 400, "\"invalid label set\"", -1);
	assert_int_equal(t.n_dones, 0);
	assert_non_null(strstr(t.log, "posting them one by one"));
	turn();
	json_decref(body_of(1, 1));
	answer(1, 200, NULL, -1);
	turn();
	json_decref(body_of(2, 1));
	answer(2, 422, "bad", -1);
	turn();
	json_decref(body_of(3, 1));
	answer(3, 200, NULL, -1);
	turn();
	json_decref(body_of(4, 1)); /* the fourth, which was not refused */
	answer(4, 200, NULL, -1);
	assert_int_equal(t.n_dones, 4);
	assert_int_equal(t.dones[0].token, 1);
	assert_int_equal(t.dones[0].status, VIGIL_OK);
	assert_int_equal(t.dones[1].token, 2);
	assert_int_equal(t.dones[1].status, VIGIL_EFAIL);
	assert_int_equal(t.dones[2].token, 3);
	assert_int_equal(t.dones[2].status, VIGIL_OK);
	assert_int_equal(t.dones[3].token, 4);
	assert_int_equal(t.dones[3].status, VIGIL_OK);
}

/* Runs the loop for ms, answering re-sends with status. */
static void
run_for(long ms, int status)
{
	int64_t end = t.host.now_monotonic() + ms * 1000;

	while (t.host.now_monotonic() < end) {
		struct timeval tv = {0, 20000};

		event_base_loopexit(t.base, &tv);
		event_base_dispatch(t.base);
		for (size_t i = 0; i < t.n_reqs; i++)
			if (!t.reqs[i].answered && !t.reqs[i].cancelled)
				answer(i, status, NULL, -1);
	}
}

static uint64_t
counter(const char *name)
{
	return metrics_counter_value(t.host.counter(&t.ctx, name, "x"));
}

static void
test_resend(void **state)
{
	json_t *first, *again;
	size_t  n;

	(void)state;
	start(BASIC "lifetime_s = 2; resend_interval_s = 1; max_active = 2;");
	for (uint64_t k = 1; k <= 3; k++)
		assert_int_equal(emit(k), VIGIL_PENDING);
	turn();
	first = body_of(0, 3);
	answer(0, 200, NULL, -1);
	/* Three delivered, room for two: the oldest leaves, counted. */
	assert_int_equal(counter("alertmanager_evicted_total"), 1);
	assert_non_null(strstr(t.log,
	    "alert 00000000000000000000000000000001 "
	    "is no longer re-sent"));

	run_for(1300, 200); /* the first tick */
	assert_int_equal(t.n_reqs, 2);
	again = body_of(1, 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *was = json_array_get(first, i + 1);
		json_t *now = json_array_get(again, i);

		assert_string_equal(str_at(now, "labels", "alert_id"),
		    str_at(was, "labels", "alert_id"));
		assert_string_equal(str_at(now, NULL, "startsAt"),
		    str_at(was, NULL, "startsAt"));
		assert_true(parse_ms(str_at(now, NULL, "endsAt")) >
		    parse_ms(str_at(was, NULL, "endsAt")) + 500);
	}
	json_decref(first);
	json_decref(again);
	assert_int_equal(counter("alertmanager_resent_total"), 2);

	/* Past the lifetime nothing more goes out. */
	run_for(1800, 200);
	n = t.n_reqs;
	assert_true(n <= 3);
	run_for(1200, 200);
	assert_int_equal(t.n_reqs, n);
	assert_int_equal(t.n_dones, 3); /* re-sends are not the host's */
}

/* A failed re-send is logged and tried again next round. */
static void
test_resend_failure(void **state)
{
	(void)state;
	start(BASIC "lifetime_s = 30; resend_interval_s = 1;");
	assert_int_equal(emit(1), VIGIL_PENDING);
	turn();
	answer(0, 200, NULL, -1);
	run_for(1200, 503);
	assert_int_equal(t.n_reqs, 2);
	assert_non_null(strstr(t.log, "re-sent again next round"));
	assert_int_equal(counter("alertmanager_resend_failed_total"), 1);
	run_for(1000, 200);
	assert_int_equal(t.n_reqs, 3);
	assert_int_equal(counter("alertmanager_resent_total"), 1);
}

static void
test_stop(void **state)
{
	(void)state;
	start(BASIC "batch = 1; inflight = 1;");
	for (uint64_t k = 1; k <= 3; k++)
		assert_int_equal(emit(k), VIGIL_PENDING);
	turn();
	assert_int_equal(t.n_reqs, 1);
	t.desc->stop(t.inst);
	assert_true(t.reqs[0].cancelled);
	assert_int_equal(t.n_dones, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(t.dones[i].token, i + 1);
		assert_int_equal(t.dones[i].status, VIGIL_ERETRY);
	}
	assert_int_equal(emit(4), VIGIL_ERETRY);
	turn();
	assert_int_equal(t.n_reqs, 1);
}

/* A POST that cannot be started: every waiting alert goes back to the
 * host, in order. */
static void
test_fetch_refused(void **state)
{
	(void)state;
	start(BASIC "batch = 1; inflight = 2;");
	t.fetch_fails = 1;
	for (uint64_t k = 1; k <= 3; k++)
		assert_int_equal(emit(k), VIGIL_PENDING);
	turn();
	assert_int_equal(t.n_reqs, 0);
	assert_int_equal(t.n_dones, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(t.dones[i].token, i + 1);
		assert_int_equal(t.dones[i].status, VIGIL_ERETRY);
	}
	t.fetch_fails = 0;
	assert_int_equal(emit(4), VIGIL_PENDING);
	turn();
	assert_int_equal(t.n_reqs, 1);
}

static void
test_basic_auth(void **state)
{
	(void)state;
	start(BASIC "username = \"vigil\"; password = \"s3cret:пароль\";");
	assert_int_equal(emit(1), VIGIL_PENDING);
	turn();
	/* base64 of "vigil:s3cret:пароль" */
	assert_string_equal(header(0, "Authorization:"),
	    "Authorization: Basic dmlnaWw6czNjcmV0OtC/0LDRgNC+0LvRjA==");
	answer(0, 401, "Unauthorized", -1);
	assert_null(strstr(t.log, "s3cret"));
}

static void
test_token_file(void **state)
{
	char  path[] = "/tmp/vigil-am-tokXXXXXX";
	char  conf[256];
	int   fd = mkstemp(path);
	FILE *f  = fd >= 0 ? fdopen(fd, "w") : NULL;

	(void)state;
	assert_non_null(f);
	fputs("tok-abc.123\n", f);
	fclose(f);
	snprintf(conf, sizeof(conf), BASIC "bearer_token_file = \"%s\";", path);
	start(conf);
	assert_int_equal(emit(1), VIGIL_PENDING);
	turn();
	assert_string_equal(
	    header(0, "Authorization:"), "Authorization: Bearer tok-abc.123");
	answer(0, 500, NULL, -1);
	assert_null(strstr(t.log, "tok-abc"));
	unlink(path);
}

static void
test_secret_files_refused(void **state)
{
	static const char *const contents[] = {
	    "", "\n", "two\nlines\n", "tab\there", "a space\n"};
	char err[1024];

	(void)state;
	for (size_t i = 0; i <= sizeof(contents) / sizeof(contents[0]); i++) {
		char  path[] = "/tmp/vigil-am-tokXXXXXX";
		char  conf[256];
		int   fd   = mkstemp(path);
		void *inst = NULL;

		assert_true(fd >= 0);
		if (i < sizeof(contents) / sizeof(contents[0]))
			assert_true(
			    write(fd, contents[i], strlen(contents[i])) ==
			    (ssize_t)strlen(contents[i]));
		else
			unlink(path); /* missing */
		close(fd);
		snprintf(conf, sizeof(conf),
		    BASIC "bearer_token_file = \"%s\";", path);
		settings_free(t.cfg);
		t.cfg = NULL;
		config_destroy(&t.lc);
		config_init(&t.lc);
		assert_int_equal(configure(conf, err, sizeof(err)), VIGIL_OK);
		t.log[0] = '\0';
		assert_int_equal(
		    t.desc->init(&t.host, &t.ctx, t.cfg, &inst), VIGIL_ERR);
		assert_non_null(strstr(t.log, path));
		unlink(path);
	}
}

static void
test_settings_refused(void **state)
{
	static const struct {
		const char *conf, *err;
	} cases[] = {
	    {"url = \"am:9093\";", "url 'am:9093' must start with http://"},
	    {"url = \"http://\";", "has no host"},
	    {"url = \"http://u:p@am:9093\";", "may not hold credentials"},
	    {"url = \"http://am/?x=1\";", "query or fragment"},
	    {BASIC "labels = ( { name = \"alertname\"; value = \"x\"; } );",
	        "label 'alertname' is set by the plugin itself"},
	    {BASIC "labels = ( { name = \"9x\"; value = \"x\"; } );",
	        "label name '9x'"},
	    {BASIC "labels = ( { name = \"__x\"; value = \"x\"; } );",
	        "label name '__x'"},
	    {BASIC "labels = ( { name = \"a\"; value = \"\"; } );",
	        "label 'a' has no value"},
	    {BASIC "labels = ( { name = \"a\"; value = \"1\"; }, { name = "
	           "\"a\"; value = \"2\"; } );",
	        "label 'a' is given twice"},
	    {BASIC "lifetime_s = 60; resend_interval_s = 60;",
	        "resend_interval_s must be shorter than lifetime_s"},
	    {BASIC "username = \"u\";", "needs both username and password"},
	    {BASIC "password = \"p\";", "needs both username and password"},
	    {BASIC "username = \"u:v\"; password = \"p\";",
	        "username may not hold ':'"},
	    {BASIC "username = \"u\"; password = \"p\"; password_file = \"f\";",
	        "password or password_file, not both"},
	    {BASIC "username = \"u\"; password = \"p\"; bearer_token = \"t\";",
	        "username or bearer_token, not both"},
	    {BASIC "bearer_token = \"a b\";",
	        "bearer_token may not hold spaces"},
	    {BASIC "bearer_token = \"t\"; bearer_token_file = \"f\";",
	        "bearer_token or bearer_token_file, not both"},
	};
	char err[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		settings_free(t.cfg);
		t.cfg = NULL;
		config_destroy(&t.lc);
		config_init(&t.lc);
		assert_int_equal(
		    configure(cases[i].conf, err, sizeof(err)), VIGIL_ERR);
		if (strstr(err, cases[i].err) == NULL)
			fail_msg("'%s': got '%s'", cases[i].conf, err);
		assert_null(strstr(err, "a b")); /* a secret stays out */
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_alert_shape, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sparse_alert, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_generator_url, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batching, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_outcomes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_logged_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resend, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_resend_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_fetch_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_basic_auth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_secret_files_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_settings_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
