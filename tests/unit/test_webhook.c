/*
 * test_webhook.c - unit tests of the webhook sink (plugins/sink/webhook)
 * through the real host table and HTTP client (daemon/host.c, fetch.c)
 * against an evhttp server on the same loop; alert completions are
 * recorded by the test's loop ops in place of vigild's sink.c. Checked:
 * the json body and its headers, the signature recomputed here, keys
 * from secret and secret_file (line breaks dropped), the outcome of each
 * kind of answer (2xx, 408/429/5xx with and without Retry-After, other
 * 4xx and 3xx, no answer), max_inflight, stop with requests on the wire
 * (no completion afterwards, nothing leaks), the slack and mattermost
 * summaries with hostile post text, and refused settings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <libconfig.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "config.h"
#include "fetch.h"
#include "host.h"
#include "httpd.h"
#include "log.h"
#include "settings.h"

#define WAIT_MS 10000
#define KEY     "s3cret key"

const vigil_plugin *vigil_plugin_entry(void);

/* What the server saw of the last request. */
struct seen {
	char   signature[160];
	char   alert_id[64];
	char   ctype[64];
	char   auth[64];
	char  *body;
	size_t body_len;
};

/* A completion, as the host got it. */
struct done {
	uint64_t token;
	int      status;   /* alert_done's, or 1 for alert_retry_after */
	int64_t  delay_ms; /* alert_retry_after's */
};

struct fixture {
	struct event_base *base;
	struct httpd       httpd;
	fetch_client      *fc;
	int                port;
	int                requests, slow;
	struct seen        seen;
	struct done        done[64];
	int                n_done;
	char               dir[64]; /* for secret files */
};

static struct fixture *fx; /* for the loop ops, which have no argument */

/* ------------------------------------------------------------ the host */

static vigil_fetch *
op_fetch(vigil_ctx *ctx, const vigil_fetch_req *req)
{
	return fetch_start(fx->fc, ctx, req);
}

static void
op_alert_done(vigil_ctx *ctx, uint64_t token, int status)
{
	(void)ctx;
	assert_true(fx->n_done < 64);
	fx->done[fx->n_done++] = (struct done){token, status, -1};
}

static void
op_alert_retry_after(vigil_ctx *ctx, uint64_t token, int64_t delay_ms)
{
	(void)ctx;
	assert_true(fx->n_done < 64);
	fx->done[fx->n_done++] = (struct done){token, 1, delay_ms};
}

static const host_loop_ops test_ops = {
    .alert_done        = op_alert_done,
    .fetch             = op_fetch,
    .fetch_cancel      = fetch_cancel,
    .alert_retry_after = op_alert_retry_after,
};

/* ------------------------------------------------------------ server */

/* /ok: 200; /status/N: N; /retry/S: 503 with Retry-After: S; /slow:
 * never answered. */
static const char refusal[] = "go away\x01 now";

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct fixture   *f   = arg;
	const char       *uri = evhttp_request_get_uri(req);
	struct evkeyvalq *in  = evhttp_request_get_input_headers(req);
	struct evbuffer  *buf = evhttp_request_get_input_buffer(req);
	struct seen      *s   = &f->seen;

	f->requests++;
	free(s->body);
	memset(s, 0, sizeof(*s));
	httpd_copy_header(
	    in, "X-Vigil-Signature", s->signature, sizeof(s->signature));
	httpd_copy_header(
	    in, "X-Vigil-Alert-Id", s->alert_id, sizeof(s->alert_id));
	httpd_copy_header(in, "Content-Type", s->ctype, sizeof(s->ctype));
	httpd_copy_header(in, "Authorization", s->auth, sizeof(s->auth));
	s->body_len = evbuffer_get_length(buf);
	assert_non_null(s->body = malloc(s->body_len + 1));
	evbuffer_copyout(buf, s->body, s->body_len);
	s->body[s->body_len] = '\0';
	if (strcmp(uri, "/ok") == 0)
		httpd_reply(req, 200, NULL, "", 0);
	else if (strncmp(uri, "/status/", 8) == 0)
		httpd_reply(
		    req, atoi(uri + 8), NULL, refusal, sizeof(refusal) - 1);
	else if (strncmp(uri, "/retry/", 7) == 0)
		httpd_reply(req, 503, uri + 7, "busy", 4);
	else if (strcmp(uri, "/slow") == 0)
		f->slow++;
	else
		httpd_reply(req, 404, NULL, "", 0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_non_null(f->base = event_base_new());
	f->port = httpd_start(&f->httpd, f->base, on_request, f);
	assert_non_null(f->fc = fetch_client_new(f->base));
	snprintf(f->dir, sizeof(f->dir), "/tmp/vigil-webhook-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	fx = f;
	host_set_loop_ops(&test_ops);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char            p[128];

	host_set_loop_ops(NULL);
	fetch_client_free(f->fc);
	httpd_stop(&f->httpd);
	event_base_free(f->base);
	free(f->seen.body);
	snprintf(p, sizeof(p), "%s/key", f->dir);
	unlink(p);
	rmdir(f->dir);
	free(f);
	fx = NULL;
	return 0;
}

/* ------------------------------------------------------------ instances */

struct sink {
	const vigil_plugin *desc;
	config_t            lc;
	vigil_cfg          *cfg;
	vigil_ctx           ctx;
	void               *inst;
};

/* Binds settings text (with %PORT% for the server's port) and
 * validates it; returns VIGIL_OK or VIGIL_ERR with err set. */
static int
sink_bind(struct fixture *f, struct sink *s, const char *text, char *err,
    size_t errlen)
{
	char                 conf[2048], *at;
	const vigil_setting *table;

	memset(s, 0, sizeof(*s));
	s->desc = vigil_plugin_entry();
	table   = s->desc->settings;
	snprintf(conf, sizeof(conf), "plugin = \"webhook\"; %s", text);
	while ((at = strstr(conf, "%PORT%")) != NULL) {
		char rest[2048];

		snprintf(rest, sizeof(rest), "%s", at + 6);
		snprintf(at, sizeof(conf) - (size_t)(at - conf), "%d%s",
		    f->port, rest);
	}
	config_init(&s->lc);
	if (config_read_string(&s->lc, conf) != CONFIG_TRUE)
		fail_msg("bad test config: %s", config_error_text(&s->lc));
	{
		/* As the daemon binds a sink: the common settings of sinks
		 * (max_inflight among them) and the plugin's. */
		const vigil_setting *tables[] = {config_sink_common, table};
		s->cfg = settings_bind(config_root_setting(&s->lc), tables, 2,
		    f->dir, err, errlen);
	}
	if (s->cfg == NULL)
		return VIGIL_ERR;
	return s->desc->validate(host_table(), s->cfg, err, errlen);
}

static void
sink_unbind(struct sink *s)
{
	settings_free(s->cfg);
	config_destroy(&s->lc);
}

static void
sink_new(struct fixture *f, struct sink *s, const char *text)
{
	char err[1024] = "";

	if (sink_bind(f, s, text, err, sizeof(err)) != VIGIL_OK)
		fail_msg("settings refused: %s", err);
	host_ctx_init(&s->ctx, VIGIL_PLUGIN_SINK, "t", s->desc, f->base, NULL);
	assert_int_equal(
	    s->desc->init(host_table(), &s->ctx, s->cfg, &s->inst), VIGIL_OK);
}

static void
sink_free(struct sink *s)
{
	s->desc->stop(s->inst);
	s->desc->destroy(s->inst);
	sink_unbind(s);
}

static const char alert_json[] =
    "{\"version\":1,\"id\":\"0123456789abcdef0123456789abcdef\","
    "\"rule\":\"kz.poll.blackout\",\"severity\":\"alert\"}";

static vigil_alert
make_alert(uint64_t token)
{
	vigil_alert a = {
	    .struct_size  = sizeof(a),
	    .token        = token,
	    .id           = "0123456789abcdef0123456789abcdef",
	    .rule         = "kz.poll.blackout",
	    .jurisdiction = "kz",
	    .severity     = VIGIL_SEV_ALERT,
	    .score        = 10.0,
	    .title        = "Poll talk during the blackout",
	    .post_id      = "demo-004",
	    .platform     = "telegram",
	    .channel      = "@qazaq_jastar",
	    .url          = "https://t.me/qazaq_jastar/7",
	    .created_at   = 1609912800000000LL, /* 2021-01-06 06:00 UTC */
	    .law          = "Constitutional Law \"On Elections\"",
	    .article      = "Art. 28 para 9",
	    .window       = "poll blackout",
	    .window_start = 1609783200000000LL,
	    .window_end   = 1610290800000000LL,
	    .excerpt      = "Сауалнама нәтижелері",
	    .json         = alert_json,
	    .json_len     = sizeof(alert_json) - 1,
	};

	return a;
}

/* The signature as a receiver checks it: t=<secs>,v1=<hex>. */
static void
assert_signed(const struct seen *s, const char *key)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int  mac_len = 0;
	char          hex[2 * EVP_MAX_MD_SIZE + 1], *msg;
	long long     t;
	int           off = 0;

	if (sscanf(s->signature, "t=%lld,v1=%*64[0-9a-f]%n", &t, &off) != 1 ||
	    off == 0 || s->signature[off] != '\0')
		fail_msg("malformed signature '%s'", s->signature);
	assert_true(llabs((long long)time(NULL) - t) <= 5);
	assert_true(asprintf(&msg, "%lld.%s", t, s->body) > 0);
	assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key),
	    (unsigned char *)msg, strlen(msg), mac, &mac_len));
	free(msg);
	for (unsigned i = 0; i < mac_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	assert_string_equal(strstr(s->signature, "v1=") + 3, hex);
}

/* ------------------------------------------------------------ tests */

static void
test_json_body_signed(void **state)
{
	struct fixture *f = *state;
	struct sink     s;
	vigil_alert     a = make_alert(7);
	char            want[512];

	sink_new(f, &s,
	    "url = \"http://127.0.0.1:%PORT%/ok\"; secret = \"" KEY "\";"
	    "headers = [ \"Authorization: Bearer tok\" ];");
	assert_int_equal(s.desc->emit(s.inst, &a), VIGIL_PENDING);
	run_until(f->base, &f->n_done, 1, WAIT_MS);
	assert_int_equal(f->done[0].token, 7);
	assert_int_equal(f->done[0].status, VIGIL_OK);
	snprintf(
	    want, sizeof(want), "{\"version\":1,\"alert\":%s}", alert_json);
	assert_string_equal(f->seen.body, want);
	assert_string_equal(f->seen.ctype, "application/json");
	assert_string_equal(f->seen.auth, "Bearer tok");
	assert_string_equal(f->seen.alert_id, a.id);
	assert_signed(&f->seen, KEY);
	sink_free(&s);
}

static void
test_secret_file(void **state)
{
	struct fixture *f = *state;
	struct sink     s;
	vigil_alert     a = make_alert(1);
	char            path[128], err[512] = "";
	FILE           *fp;

	snprintf(path, sizeof(path), "%s/key", f->dir);
	assert_non_null(fp = fopen(path, "w"));
	fputs(KEY "\r\n\n", fp);
	fclose(fp);
	chmod(path, 0600);
	sink_new(f, &s,
	    "url = \"http://127.0.0.1:%PORT%/ok\"; secret_file = \"key\";");
	assert_int_equal(s.desc->emit(s.inst, &a), VIGIL_PENDING);
	run_until(f->base, &f->n_done, 1, WAIT_MS);
	assert_signed(&f->seen, KEY); /* without the line breaks */
	sink_free(&s);

	/* An empty key file stops the start. */
	assert_non_null(fp = fopen(path, "w"));
	fputs("\n", fp);
	fclose(fp);
	assert_int_equal(sink_bind(f, &s,
	                     "url = \"http://127.0.0.1:%PORT%/ok\"; "
	                     "secret_file = \"key\";",
	                     err, sizeof(err)),
	    VIGIL_OK);
	host_ctx_init(&s.ctx, VIGIL_PLUGIN_SINK, "t", s.desc, f->base, NULL);
	assert_int_equal(
	    s.desc->init(host_table(), &s.ctx, s.cfg, &s.inst), VIGIL_ERR);
	sink_unbind(&s);
}

static void
test_unsigned(void **state)
{
	struct fixture *f = *state;
	struct sink     s;
	vigil_alert     a = make_alert(1);

	sink_new(f, &s, "url = \"http://127.0.0.1:%PORT%/ok\";");
	assert_int_equal(s.desc->emit(s.inst, &a), VIGIL_PENDING);
	run_until(f->base, &f->n_done, 1, WAIT_MS);
	assert_int_equal(f->done[0].status, VIGIL_OK);
	assert_string_equal(f->seen.signature, "");
	sink_free(&s);
}

/* One emit to path; returns the completion. */
static struct done
outcome(struct fixture *f, const char *path)
{
	struct sink s;
	vigil_alert a = make_alert(42);
	char        conf[256];
	int         n = f->n_done;

	snprintf(conf, sizeof(conf),
	    "url = \"http://127.0.0.1:%%PORT%%%s\"; secret = \"k\";", path);
	sink_new(f, &s, conf);
	assert_int_equal(s.desc->emit(s.inst, &a), VIGIL_PENDING);
	run_until(f->base, &f->n_done, n + 1, WAIT_MS);
	sink_free(&s);
	assert_int_equal(f->done[n].token, 42);
	return f->done[n];
}

static void
test_outcomes(void **state)
{
	struct fixture *f = *state;
	struct done     d;

	assert_int_equal(outcome(f, "/status/204").status, VIGIL_OK);
	d = outcome(f, "/retry/3");
	assert_int_equal(d.status, 1);
	assert_int_equal(d.delay_ms, 3000);
	assert_int_equal(outcome(f, "/status/503").status, VIGIL_ERETRY);
	assert_int_equal(outcome(f, "/status/500").status, VIGIL_ERETRY);
	assert_int_equal(outcome(f, "/status/429").status, VIGIL_ERETRY);
	assert_int_equal(outcome(f, "/status/408").status, VIGIL_ERETRY);
	assert_int_equal(outcome(f, "/status/400").status, VIGIL_EFAIL);
	assert_int_equal(outcome(f, "/status/404").status, VIGIL_EFAIL);
	assert_int_equal(outcome(f, "/status/410").status, VIGIL_EFAIL);
	assert_int_equal(outcome(f, "/status/302").status, VIGIL_EFAIL);

	/* No answer at all: a port without a listener. */
	{
		struct sink s;
		vigil_alert a = make_alert(9);
		char        conf[128];

		snprintf(conf, sizeof(conf), "url = \"http://127.0.0.1:%d/\";",
		    httpd_unused_port());
		sink_new(f, &s, conf);
		assert_int_equal(s.desc->emit(s.inst, &a), VIGIL_PENDING);
		run_until(f->base, &f->n_done, f->n_done + 1, WAIT_MS);
		assert_int_equal(f->done[f->n_done - 1].status, VIGIL_ERETRY);
		sink_free(&s);
	}
}

static void
test_max_inflight_and_stop(void **state)
{
	struct fixture *f = *state;
	struct sink     s;
	vigil_alert     a = make_alert(1), b = make_alert(2), c = make_alert(3);

	sink_new(
	    f, &s, "url = \"http://127.0.0.1:%PORT%/slow\"; max_inflight = 2;");
	assert_int_equal(s.desc->emit(s.inst, &a), VIGIL_PENDING);
	assert_int_equal(s.desc->emit(s.inst, &b), VIGIL_PENDING);
	assert_int_equal(s.desc->emit(s.inst, &c), VIGIL_ERETRY);
	run_until(f->base, &f->slow, 2, WAIT_MS);
	assert_int_equal(fetch_client_running(f->fc), 2);
	/* Stopped: the requests go, and nothing completes afterwards. */
	s.desc->stop(s.inst);
	assert_int_equal(fetch_client_running(f->fc), 0);
	assert_int_equal(s.desc->emit(s.inst, &c), VIGIL_ERETRY);
	run_for(f->base, 200);
	assert_int_equal(f->n_done, 0);
	s.desc->destroy(s.inst);
	sink_unbind(&s);
}

static void
test_destroy_while_running(void **state)
{
	struct fixture *f = *state;
	struct sink     s;
	vigil_alert     a = make_alert(1);

	sink_new(f, &s, "url = \"http://127.0.0.1:%PORT%/slow\";");
	assert_int_equal(s.desc->emit(s.inst, &a), VIGIL_PENDING);
	run_until(f->base, &f->slow, 1, WAIT_MS);
	s.desc->destroy(s.inst); /* without stop first */
	sink_unbind(&s);
	assert_int_equal(fetch_client_running(f->fc), 0);
	run_for(f->base, 100);
	assert_int_equal(f->n_done, 0);
}

/* The summary a chat template sends for a. */
static char *
chat_text(struct fixture *f, const char *tpl, const vigil_alert *a)
{
	struct sink  s;
	char         conf[256];
	json_t      *doc;
	json_error_t jerr;
	char        *text;
	int          n = f->n_done;

	snprintf(conf, sizeof(conf),
	    "url = \"http://127.0.0.1:%%PORT%%/ok\"; template = \"%s\";", tpl);
	sink_new(f, &s, conf);
	assert_int_equal(s.desc->emit(s.inst, a), VIGIL_PENDING);
	run_until(f->base, &f->n_done, n + 1, WAIT_MS);
	sink_free(&s);
	assert_string_equal(f->seen.ctype, "application/json");
	doc = json_loadb(f->seen.body, f->seen.body_len, 0, &jerr);
	if (doc == NULL)
		fail_msg("body is not JSON: %s", jerr.text);
	assert_int_equal(json_object_size(doc), 1);
	assert_true(json_is_string(json_object_get(doc, "text")));
	text = strdup(json_string_value(json_object_get(doc, "text")));
	json_decref(doc);
	assert_non_null(text);
	return text;
}

static void
assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("'%s' not in:\n%s", needle, hay);
}

static void
test_chat_templates(void **state)
{
	struct fixture *f = *state;
	vigil_alert     a = make_alert(1);
	char           *t;

	t = chat_text(f, "slack", &a);
	assert_contains(t,
	    "*ALERT* kz.poll.blackout (kz): Poll talk during "
	    "the blackout\n");
	assert_contains(t,
	    "\nLaw: Constitutional Law \"On Elections\", Art. "
	    "28 para 9\n");
	assert_contains(t,
	    "\nWindow: poll blackout, 2021-01-04 18:00 UTC to "
	    "2021-01-10 15:00 UTC\n");
	assert_contains(t,
	    "\nPost: <https://t.me/qazaq_jastar/7> (`telegram` "
	    "`@qazaq_jastar`, 2021-01-06 06:00 UTC)\n");
	assert_contains(t, "\n> `Сауалнама нәтижелері`\n");
	assert_contains(
	    t, "Score 10.0, alert 0123456789abcdef0123456789abcdef");
	free(t);

	/* Post text that tries to format, mention and break lines. */
	a.excerpt       = "<!channel> @here `x` a&b\nnext\x01line";
	a.url           = "javascript:alert(1)";
	a.channel       = "@all";
	a.author_handle = "@bob";
	a.law           = NULL;
	a.article       = NULL;
	a.window        = NULL;
	t               = chat_text(f, "slack", &a);
	assert_contains(
	    t, "\n> `&lt;!channel&gt; @here 'x' a&amp;b next line`");
	assert_contains(t,
	    "\nPost: `javascript:alert(1)` (`telegram` `@all` "
	    "by `@bob`, ");
	assert_null(strstr(t, "Law:"));
	assert_null(strstr(t, "Window:"));
	free(t);

	t = chat_text(f, "mattermost", &a);
	assert_contains(t, "**ALERT** kz.poll.blackout (kz): ");
	assert_contains(t, "\n> `<!channel> @here 'x' a&b next line`");
	free(t);

	/* A long excerpt is cut at a character boundary. */
	{
		char long_text[1000] = "";

		for (int i = 0; i < 200; i++)
			strcat(long_text, "ж");
		a.excerpt = long_text;
		t         = chat_text(f, "mattermost", &a);
		assert_contains(t, "жж…`");
		assert_true(strlen(t) < 800);
		free(t);
	}
}

static void
test_settings_refused(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *conf, *message;
	} cases[] = {
	    {"url = \"ftp://h/x\";", "http:// or https://"},
	    {"url = \"http:///x\";", "http:// or https://"},
	    {"url = \"http://h/a b\";", "http:// or https://"},
	    {"url = \"http://h/\"; secret = \"a\"; secret_file = \"k\";",
	        "not both"},
	    {"url = \"http://h/\"; secret = \"\";", "secret is empty"},
	    {"url = \"http://h/\"; secret_file = \"missing\";", "missing"},
	    {"url = \"http://h/\"; headers = [ \"X-Vigil-Signature: f\" ];",
	        "vigil sets itself"},
	    {"url = \"http://h/\"; headers = [ \"Content-Length: 1\" ];",
	        "vigil sets itself"},
	    {"url = \"http://h/\"; headers = [ \"Bad Name: 1\" ];",
	        "HTTP token"},
	    {"url = \"http://h/\"; headers = [ \"novalue\" ];", "Name: value"},
	    {"url = \"http://h/\"; template = \"teams\";", "template must be"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sink s;
		char        err[512] = "";

		assert_int_equal(
		    sink_bind(f, &s, cases[i].conf, err, sizeof(err)),
		    VIGIL_ERR);
		assert_contains(err, cases[i].message);
		/* The URL may hold a secret: never in a message. */
		assert_null(strstr(err, "http://h"));
		sink_unbind(&s);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_json_body_signed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_secret_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unsigned, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_outcomes, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_max_inflight_and_stop, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_destroy_while_running, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_chat_templates, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_settings_refused, setup, teardown),
	};

	log_set_level(VIGIL_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
