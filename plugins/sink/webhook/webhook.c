/*
 * webhook.c - sink plugin that POSTs each alert to an HTTP(S) endpoint
 * through the host's HTTP client (vigil_host.fetch, ABI 1.2), with an
 * HMAC-SHA256 signature over a timestamp and the body so that receivers
 * can tell vigil's requests from forgeries and replays. doc/sinks/webhook.md
 * is the receiver's side of this file: body versions, headers, how to
 * verify the signature, templates, retries.
 *
 * Bodies: `json` (the default) is {"version":1,"alert":<alert document>};
 * `slack` and `mattermost` are an incoming-webhook message {"text": ...}
 * summing the alert up for people. Text from posts (excerpt, channel,
 * author) goes into code spans with its backticks and line breaks
 * replaced, so that it can neither format the message nor mention anyone.
 *
 * Outcomes: 2xx delivered; 408, 429, 5xx or no response: retried by the
 * host, after at least the response's Retry-After when it had one; any
 * other status: a dead letter, logged with the first bytes of the body.
 * The host keeps the queue, the backoff and the outbox: this plugin only
 * keeps what is on the wire, at most max_inflight requests.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <vigil/plugin.h>

#include "utf8_seq.h"

#define SECRET_MAX      4096 /* bytes of a secret_file */
#define LOG_BODY_MAX    200  /* response bytes quoted in a log line */
#define KEEP_BODY       512  /* response bytes asked of the host */
#define EXCERPT_MAX     300  /* bytes of the excerpt in a summary */
#define SIGNATURE_HDR   "X-Vigil-Signature"
#define ALERT_ID_HDR    "X-Vigil-Alert-Id"
#define OWN_HEADERS     3 /* Content-Type, alert id, signature */
#define SHA256_HEX_SIZE 65

typedef enum template_kind {
	TPL_JSON,
	TPL_SLACK,
	TPL_MATTERMOST,
} template_kind;

typedef struct webhook webhook;

/* One POST on the wire. */
typedef struct request {
	webhook     *w;
	vigil_fetch *f;
	uint64_t     token;
	char         alert_id[48]; /* for log lines */
	LIST_ENTRY(request) entry;
} request;

struct webhook {
	const vigil_host *host;
	vigil_ctx        *ctx;
	char             *url;
	unsigned char    *key; /* NULL: requests go unsigned */
	size_t            key_len, key_cap;
	EVP_MAC          *mac;
	EVP_MAC_CTX      *mac_ctx;
	char            **conf_headers;
	size_t            n_conf_headers;
	const char      **headers; /* conf_headers, then OWN_HEADERS slots */
	int64_t           timeout_ms;
	template_kind     tpl;
	size_t            max_inflight, inflight;
	bool              stopped;
	LIST_HEAD(, request) reqs;
};

static const vigil_setting webhook_settings[] = {
    {"url", VIGIL_SET_STRING, NULL,
        "Endpoint each alert is POSTed to: an `http://` or `https://` URL. "
        "It may carry a secret (Slack's and Mattermost's do), so it is "
        "never logged. Redirects are not followed.",
        NULL, VIGIL_SET_REQUIRED | VIGIL_SET_SECRET, 0, 0},
    {"secret", VIGIL_SET_STRING, NULL,
        "Key of the HMAC-SHA256 signature sent in `X-Vigil-Signature` "
        "(doc/sinks/webhook.md tells receivers how to check it). Prefer "
        "`secret_file`, which keeps the key out of the configuration. "
        "With neither, requests go unsigned.",
        NULL, VIGIL_SET_SECRET, 0, 0},
    {"secret_file", VIGIL_SET_STRING, NULL,
        "File holding the signature key, read once at start; trailing "
        "line breaks are dropped. Relative to the configuration file's "
        "directory. Not with `secret`.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"headers", VIGIL_SET_STRINGS, NULL,
        "Extra request headers, each `\"Name: value\"`, e.g. "
        "`\"Authorization: Bearer …\"`. Values are never logged; "
        "`Content-Length`, `Content-Type`, `Host` and `X-Vigil-*` are "
        "vigil's own.",
        NULL, 0, 0, 0},
    {"timeout_ms", VIGIL_SET_INT, "10000",
        "Longest time one POST may take, connecting included; an alert "
        "whose POST times out is retried.",
        NULL, 0, 100, 600000},
    {"template", VIGIL_SET_STRING, "json",
        "Body of each POST: `json`, `{\"version\":1,\"alert\":<the alert "
        "document>}` (doc/alerts.md); `slack` or `mattermost`, an "
        "incoming-webhook message `{\"text\": …}` with the alert summed "
        "up for people (severity, rule, jurisdiction, law, window, post "
        "and excerpt).",
        NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const char *
where(const vigil_host *host, const vigil_cfg *cfg, const char *name)
{
	const char *w = host->cfg_where(cfg, name);

	return w != NULL ? w : "(config)";
}

/* An empty path is an unset one. */
static const char *
secret_file(const vigil_host *host, const vigil_cfg *cfg)
{
	const char *file = host->cfg_string(cfg, "secret_file");

	return file != NULL && file[0] != '\0' ? file : NULL;
}

/* ------------------------------------------------------------------------
 * Settings */

static int
template_parse(const char *name, template_kind *out)
{
	static const struct {
		const char   *name;
		template_kind kind;
	} names[] = {
	    {"json", TPL_JSON},
	    {"slack", TPL_SLACK},
	    {"mattermost", TPL_MATTERMOST},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (name != NULL && strcmp(name, names[i].name) == 0) {
			*out = names[i].kind;
			return 0;
		}
	return -1;
}

/* http:// or https://, a host, nothing a request line could not hold. */
static bool
url_ok(const char *url)
{
	size_t skip;

	if (strncasecmp(url, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		skip = 8;
	else
		return false;
	if (strchr("/?#", url[skip]) != NULL) /* no host (or the NUL) */
		return false;
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* NULL, or why the header cannot be sent. */
static const char *
header_problem(const char *h)
{
	static const char *const own[] = {
	    "Content-Length", "Content-Type", "Host"};
	size_t name = strcspn(h, ":");

	if (h[name] != ':' || name == 0)
		return "is not \"Name: value\"";
	for (size_t i = 0; i < name; i++)
		if (h[i] <= ' ' || h[i] == 0x7f || h[i] == '"' || h[i] == ',')
			return "has a name that is not an HTTP token";
	if (strpbrk(h, "\r\n") != NULL)
		return "holds a line break";
	if (name >= 8 && strncasecmp(h, "X-Vigil-", 8) == 0)
		return "uses a name that vigil sets itself";
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (strlen(own[i]) == name && strncasecmp(h, own[i], name) == 0)
			return "uses a name that vigil sets itself";
	return NULL;
}

static int
webhook_validate(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	const char   *url    = host->cfg_string(cfg, "url");
	const char   *secret = host->cfg_string(cfg, "secret");
	const char   *file   = secret_file(host, cfg);
	template_kind tpl;
	const char   *why;

	if (url == NULL || !url_ok(url)) {
		/* Not the URL itself: it may hold a secret. */
		snprintf(err, errlen,
		    "%s: url must be an http:// or https:// URL with a host "
		    "and no spaces",
		    where(host, cfg, "url"));
		return VIGIL_ERR;
	}
	if (secret != NULL && file != NULL) {
		snprintf(err, errlen, "%s: set secret or secret_file, not both",
		    where(host, cfg, "secret_file"));
		return VIGIL_ERR;
	}
	if (secret != NULL && secret[0] == '\0') {
		snprintf(err, errlen, "%s: secret is empty",
		    where(host, cfg, "secret"));
		return VIGIL_ERR;
	}
	if (file != NULL && access(file, R_OK) != 0) {
		snprintf(err, errlen, "%s: secret_file %s: %s",
		    where(host, cfg, "secret_file"), file, strerror(errno));
		return VIGIL_ERR;
	}
	for (size_t i = 0; i < host->cfg_count(cfg, "headers"); i++) {
		const char *h = host->cfg_string_at(cfg, "headers", i);

		if ((why = header_problem(h)) != NULL) {
			snprintf(err, errlen, "%s: headers[%zu] %s",
			    where(host, cfg, "headers"), i, why);
			return VIGIL_ERR;
		}
	}
	if (template_parse(host->cfg_string(cfg, "template"), &tpl) != 0) {
		snprintf(err, errlen,
		    "%s: template must be \"json\", \"slack\" or "
		    "\"mattermost\"",
		    where(host, cfg, "template"));
		return VIGIL_ERR;
	}
	return VIGIL_OK;
}

/* Reads the key; trailing line breaks are the editor's, not the key's. */
static int
read_secret_file(webhook *w, const char *path)
{
	struct stat st;
	ssize_t     n;
	size_t      len = 0;
	int         fd  = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int         rc  = VIGIL_ERR;

	if (fd < 0) {
		w->host->log(w->ctx, VIGIL_LOG_ERR, "secret_file %s: %s", path,
		    strerror(errno));
		return VIGIL_ERR;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & S_IROTH))
		w->host->log(w->ctx, VIGIL_LOG_WARNING,
		    "secret_file %s can be read by every user", path);
	w->key_cap = SECRET_MAX + 1;
	if ((w->key = OPENSSL_zalloc(w->key_cap)) == NULL) {
		w->host->log(w->ctx, VIGIL_LOG_ERR, "out of memory");
		goto out;
	}
	while ((n = read(fd, w->key + len, SECRET_MAX + 1 - len)) > 0 &&
	    len + (size_t)n <= SECRET_MAX)
		len += (size_t)n;
	if (n < 0) {
		w->host->log(w->ctx, VIGIL_LOG_ERR, "secret_file %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (n > 0) {
		w->host->log(w->ctx, VIGIL_LOG_ERR,
		    "secret_file %s: longer than %d bytes", path, SECRET_MAX);
		goto out;
	}
	while (len > 0 && (w->key[len - 1] == '\n' || w->key[len - 1] == '\r'))
		len--;
	if (len == 0) {
		w->host->log(
		    w->ctx, VIGIL_LOG_ERR, "secret_file %s is empty", path);
		goto out;
	}
	w->key_len = len;
	rc         = VIGIL_OK;
out:
	close(fd);
	return rc;
}

static int
set_key(webhook *w, const vigil_cfg *cfg)
{
	const char *secret = w->host->cfg_string(cfg, "secret");
	const char *file   = secret_file(w->host, cfg);
	OSSL_PARAM  params[2];

	if (file != NULL) {
		if (read_secret_file(w, file) != VIGIL_OK)
			return VIGIL_ERR;
	} else if (secret != NULL) {
		w->key_len = strlen(secret);
		w->key_cap = w->key_len + 1;
		if ((w->key = OPENSSL_zalloc(w->key_cap)) == NULL) {
			w->host->log(w->ctx, VIGIL_LOG_ERR, "out of memory");
			return VIGIL_ERR;
		}
		memcpy(w->key, secret, w->key_len);
	} else {
		if (w->tpl == TPL_JSON)
			w->host->log(w->ctx, VIGIL_LOG_NOTICE,
			    "neither secret nor secret_file is set: requests "
			    "are not signed");
		return VIGIL_OK;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((w->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    (w->mac_ctx = EVP_MAC_CTX_new(w->mac)) == NULL ||
	    EVP_MAC_CTX_set_params(w->mac_ctx, params) != 1) {
		w->host->log(
		    w->ctx, VIGIL_LOG_ERR, "OpenSSL has no HMAC-SHA256 here");
		return VIGIL_ERR;
	}
	return VIGIL_OK;
}

static int
set_headers(webhook *w, const vigil_cfg *cfg)
{
	size_t n = w->host->cfg_count(cfg, "headers");

	if ((w->conf_headers = calloc(n + 1, sizeof(char *))) == NULL ||
	    (w->headers = calloc(n + OWN_HEADERS, sizeof(char *))) == NULL)
		return VIGIL_ERR;
	for (size_t i = 0; i < n; i++) {
		w->conf_headers[i] =
		    strdup(w->host->cfg_string_at(cfg, "headers", i));
		if (w->conf_headers[i] == NULL)
			return VIGIL_ERR;
		w->headers[i] = w->conf_headers[i];
		w->n_conf_headers++;
	}
	return VIGIL_OK;
}

static void
webhook_free(webhook *w)
{
	request *r;

	while ((r = LIST_FIRST(&w->reqs)) != NULL) {
		LIST_REMOVE(r, entry);
		w->host->fetch_cancel(r->f);
		free(r);
	}
	w->inflight = 0;
	if (w->key)
		OPENSSL_clear_free(w->key, w->key_cap);
	EVP_MAC_CTX_free(w->mac_ctx);
	EVP_MAC_free(w->mac);
	for (size_t i = 0; i < w->n_conf_headers; i++)
		free(w->conf_headers[i]);
	free(w->conf_headers);
	free(w->headers);
	free(w->url);
	free(w);
}

static int
webhook_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	webhook *w;

	if (!VIGIL_HAS(host, fetch) || host->fetch == NULL) {
		host->log(ctx, VIGIL_LOG_ERR,
		    "this vigil has no HTTP client (ABI 1.2 or newer needed)");
		return VIGIL_ERR;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		host->log(ctx, VIGIL_LOG_ERR, "out of memory");
		return VIGIL_ERR;
	}
	w->host = host;
	w->ctx  = ctx;
	LIST_INIT(&w->reqs);
	w->timeout_ms = host->cfg_int(cfg, "timeout_ms");
	/* The host's own sink setting: it hands no more than that at once,
	 * and the plugin holds to it as well. */
	w->max_inflight = (size_t)host->cfg_int(cfg, "max_inflight");
	if (template_parse(host->cfg_string(cfg, "template"), &w->tpl) != 0)
		w->tpl = TPL_JSON;
	if ((w->url = strdup(host->cfg_string(cfg, "url"))) == NULL ||
	    set_headers(w, cfg) != VIGIL_OK) {
		host->log(ctx, VIGIL_LOG_ERR, "out of memory");
		goto fail;
	}
	if (set_key(w, cfg) != VIGIL_OK)
		goto fail;
	*instance = w;
	return VIGIL_OK;
fail:
	webhook_free(w);
	return VIGIL_ERR;
}

/* ------------------------------------------------------------------------
 * Bodies */

static char *
body_json(const vigil_alert *a, size_t *len)
{
	/* Version 1 of the envelope (doc/sinks/webhook.md). */
	static const char head[] = "{\"version\":1,\"alert\":";
	char             *b;

	*len = sizeof(head) - 1 + a->json_len + 1;
	if ((b = malloc(*len + 1)) == NULL)
		return NULL;
	memcpy(b, head, sizeof(head) - 1);
	memcpy(b + sizeof(head) - 1, a->json, a->json_len);
	b[*len - 1] = '}';
	b[*len]     = '\0';
	return b;
}

/* Writes up to max bytes of s on one line, whole characters only, with
 * a "…" when cut: controls and broken bytes become spaces, Slack gets &,
 * < and > as entities, and in a code span a backtick becomes a quote. */
static void
put_line(FILE *out, template_kind tpl, const char *s, size_t max, bool code)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t               n = strlen(s), used = 0;

	while (n > 0) {
		size_t k = utf8_seq(p, n);

		if (used + (k ? k : 1) > max) {
			fputs("…", out);
			break;
		}
		if (k == 0 || *p < ' ' || *p == 0x7f ||
		    (k == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
			fputc(' ', out);
			k = k ? k : 1;
		} else if (tpl == TPL_SLACK && *p == '&')
			fputs("&amp;", out);
		else if (tpl == TPL_SLACK && *p == '<')
			fputs("&lt;", out);
		else if (tpl == TPL_SLACK && *p == '>')
			fputs("&gt;", out);
		else if (code && *p == '`')
			fputc('\'', out);
		else
			fwrite(p, 1, k, out);
		p += k;
		n -= k;
		used += k;
	}
}

/* Text from the configuration (rule, title, law). */
static void
put_text(FILE *out, template_kind tpl, const char *s)
{
	put_line(out, tpl, s, SIZE_MAX, false);
}

/* Text from a post, in a code span: no formatting, no mentions. */
static void
put_code(FILE *out, template_kind tpl, const char *s, size_t max)
{
	fputc('`', out);
	put_line(out, tpl, s, max, true);
	fputc('`', out);
}

/* A URL that chat clients will link as it is. */
static bool
url_plain(const char *u)
{
	if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
		return false;
	for (const unsigned char *p = (const unsigned char *)u; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("<>|`[]()\"'\\", *p))
			return false;
	return true;
}

static void
put_time(FILE *out, int64_t us)
{
	time_t    t = (time_t)(us / 1000000);
	struct tm tm;
	char      buf[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(buf, sizeof(buf), "?");
	fputs(buf, out);
}

static void
summary_head(FILE *out, template_kind tpl, const vigil_alert *a)
{
	const char *bold = tpl == TPL_SLACK ? "*" : "**";
	const char *sev  = vigil_severity_name(a->severity);

	fputs(bold, out);
	for (; *sev; sev++)
		fputc(toupper((unsigned char)*sev), out);
	fprintf(out, "%s ", bold);
	put_text(out, tpl, a->rule ? a->rule : "?");
	if (a->jurisdiction) {
		fputs(" (", out);
		put_text(out, tpl, a->jurisdiction);
		fputc(')', out);
	}
	fputs(": ", out);
	put_text(out, tpl, a->title ? a->title : "");
	fputc('\n', out);
	if (a->law || a->article) {
		fputs("Law: ", out);
		put_text(out, tpl, a->law ? a->law : "");
		if (a->law && a->article)
			fputs(", ", out);
		put_text(out, tpl, a->article ? a->article : "");
		if (a->penalty) {
			fputs(" (penalty: ", out);
			put_text(out, tpl, a->penalty);
			fputc(')', out);
		}
		fputc('\n', out);
	}
	if (a->window) {
		fputs("Window: ", out);
		put_text(out, tpl, a->window);
		fputs(", ", out);
		put_time(out, a->window_start);
		fputs(" to ", out);
		put_time(out, a->window_end);
		fputc('\n', out);
	}
}

static void
summary_post(FILE *out, template_kind tpl, const vigil_alert *a)
{
	const char *author;

	fputs("Post: ", out);
	if (a->url && url_plain(a->url))
		fprintf(out, tpl == TPL_SLACK ? "<%s>" : "%s", a->url);
	else
		put_code(out, tpl, a->url ? a->url : a->post_id, EXCERPT_MAX);
	fputs(" (", out);
	put_code(out, tpl, a->platform ? a->platform : "?", 100);
	if (a->channel) {
		fputc(' ', out);
		put_code(out, tpl, a->channel, 100);
	}
	author = a->author_handle ? a->author_handle : a->author_name;
	/* A channel posting as itself says it once. */
	if (author && !(a->channel && strcmp(author, a->channel) == 0)) {
		fputs(" by ", out);
		put_code(out, tpl, author, 100);
	}
	fputs(", ", out);
	put_time(out, a->created_at);
	fputs(")\n", out);
	if (a->excerpt) {
		fputs("> ", out);
		put_code(out, tpl, a->excerpt, EXCERPT_MAX);
		fputc('\n', out);
	}
	fprintf(out, "Score %.1f, alert %s", a->score, a->id ? a->id : "?");
}

/* {"text": "..."} for Slack's and Mattermost's incoming webhooks. */
static char *
body_chat(template_kind tpl, const vigil_alert *a, size_t *len)
{
	char   *text = NULL, *body = NULL;
	size_t  text_len = 0;
	FILE   *out      = open_memstream(&text, &text_len);
	json_t *doc;

	if (out == NULL)
		return NULL;
	summary_head(out, tpl, a);
	summary_post(out, tpl, a);
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	doc = json_pack("{s:s%}", "text", text, text_len);
	free(text);
	if (doc == NULL)
		return NULL;
	body = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(doc);
	if (body)
		*len = strlen(body);
	return body;
}

/* ------------------------------------------------------------------------
 * Signature: hex HMAC-SHA256(key, "<t>.<body>"). */

static int
sign(webhook *w, const char *t, const char *body, size_t len,
    char hex[SHA256_HEX_SIZE])
{
	unsigned char mac[32];
	size_t        mac_len = 0;

	if (EVP_MAC_init(w->mac_ctx, w->key, w->key_len, NULL) != 1 ||
	    EVP_MAC_update(w->mac_ctx, (const unsigned char *)t, strlen(t)) !=
	        1 ||
	    EVP_MAC_update(w->mac_ctx, (const unsigned char *)".", 1) != 1 ||
	    EVP_MAC_update(w->mac_ctx, (const unsigned char *)body, len) != 1 ||
	    EVP_MAC_final(w->mac_ctx, mac, &mac_len, sizeof(mac)) != 1 ||
	    mac_len != sizeof(mac))
		return VIGIL_ERR;
	for (size_t i = 0; i < mac_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	return VIGIL_OK;
}

/* ------------------------------------------------------------------------
 * Delivery */

/* The first bytes of a response, printable, for a log line. */
static void
body_for_log(const char *body, size_t len, char *out, size_t outlen)
{
	size_t n = 0;

	for (size_t i = 0; i < len && i < LOG_BODY_MAX && n + 1 < outlen; i++)
		out[n++] = (body[i] >= ' ' && body[i] < 0x7f) ? body[i] : '.';
	out[n] = '\0';
}

static void
on_response(void *arg, const vigil_fetch_result *res)
{
	request *r     = arg;
	webhook *w     = r->w;
	uint64_t token = r->token;
	char     id[sizeof(r->alert_id)], excerpt[LOG_BODY_MAX + 1];
	int      st = res->status;

	memcpy(id, r->alert_id, sizeof(id));
	LIST_REMOVE(r, entry);
	w->inflight--;
	free(r);
	if (st >= 200 && st < 300) {
		w->host->alert_done(w->ctx, token, VIGIL_OK);
		return;
	}
	if (st == 0 || st == 408 || st == 429 || st >= 500) {
		if (st == 0)
			w->host->log_limited(w->ctx, VIGIL_LOG_WARNING,
			    "alert %s: no response (%s); to be retried", id,
			    res->error ? res->error : "?");
		else
			w->host->log_limited(w->ctx, VIGIL_LOG_WARNING,
			    "alert %s: HTTP %d; to be retried", id, st);
		if (st != 0 && res->retry_after_ms >= 0 &&
		    VIGIL_HAS(w->host, alert_retry_after) &&
		    w->host->alert_retry_after != NULL)
			w->host->alert_retry_after(
			    w->ctx, token, res->retry_after_ms);
		else
			w->host->alert_done(w->ctx, token, VIGIL_ERETRY);
		return;
	}
	body_for_log(res->body, res->body_len, excerpt, sizeof(excerpt));
	w->host->log_limited(w->ctx, VIGIL_LOG_ERR,
	    "alert %s: HTTP %d, refused for good: %s", id, st,
	    excerpt[0] ? excerpt : "(empty body)");
	w->host->alert_done(w->ctx, token, VIGIL_EFAIL);
}

static int
webhook_emit(void *instance, const vigil_alert *a)
{
	webhook        *w = instance;
	char            t[24], hex[SHA256_HEX_SIZE];
	char            sig_hdr[128], id_hdr[96];
	char           *body;
	size_t          len = 0, n = w->n_conf_headers;
	request        *r;
	vigil_fetch_req req = {.struct_size = sizeof(req)};

	if (w->stopped || w->inflight >= w->max_inflight)
		return VIGIL_ERETRY;
	if (w->tpl == TPL_JSON && (a->json == NULL || a->json_len == 0)) {
		w->host->log_limited(w->ctx, VIGIL_LOG_ERR,
		    "alert %s has no document", a->id ? a->id : "?");
		return VIGIL_EFAIL;
	}
	body = w->tpl == TPL_JSON ? body_json(a, &len)
	                          : body_chat(w->tpl, a, &len);
	if (body == NULL) {
		w->host->log_limited(w->ctx, VIGIL_LOG_ERR,
		    "alert %s: cannot build the body (out of memory?)",
		    a->id ? a->id : "?");
		return VIGIL_ERETRY;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		free(body);
		return VIGIL_ERETRY;
	}
	r->w     = w;
	r->token = a->token;
	snprintf(r->alert_id, sizeof(r->alert_id), "%s", a->id ? a->id : "?");
	w->headers[n++] = "Content-Type: application/json";
	snprintf(id_hdr, sizeof(id_hdr), ALERT_ID_HDR ": %s", r->alert_id);
	w->headers[n++] = id_hdr;
	if (w->key != NULL) {
		/* Each attempt is signed afresh: receivers bound the age. */
		snprintf(t, sizeof(t), "%lld",
		    (long long)(w->host->now_realtime() / 1000000));
		if (sign(w, t, body, len, hex) != VIGIL_OK) {
			w->host->log_limited(w->ctx, VIGIL_LOG_ERR,
			    "alert %s: cannot sign the body", r->alert_id);
			free(body);
			free(r);
			return VIGIL_ERETRY;
		}
		snprintf(sig_hdr, sizeof(sig_hdr), SIGNATURE_HDR ": t=%s,v1=%s",
		    t, hex);
		w->headers[n++] = sig_hdr;
	}
	req.method     = "POST";
	req.url        = w->url;
	req.headers    = w->headers;
	req.n_headers  = n;
	req.body       = body;
	req.body_len   = len;
	req.timeout_ms = w->timeout_ms;
	req.max_body   = KEEP_BODY;
	req.done       = on_response;
	req.arg        = r;
	r->f           = w->host->fetch(w->ctx, &req);
	free(body); /* the host copied the request */
	if (r->f == NULL) {
		free(r);
		return VIGIL_ERETRY;
	}
	LIST_INSERT_HEAD(&w->reqs, r, entry);
	w->inflight++;
	return VIGIL_PENDING;
}

/* The host forgets what is on the wire (it stays undelivered in its
 * outbox), so the requests are just dropped. */
static void
webhook_stop(void *instance)
{
	webhook *w = instance;
	request *r;

	w->stopped = true;
	while ((r = LIST_FIRST(&w->reqs)) != NULL) {
		LIST_REMOVE(r, entry);
		w->host->fetch_cancel(r->f);
		free(r);
	}
	w->inflight = 0;
}

static void
webhook_destroy(void *instance)
{
	if (instance != NULL)
		webhook_free(instance);
}

static const vigil_plugin webhook_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name        = "webhook",
    .version     = "1.0",
    .kind        = VIGIL_PLUGIN_SINK,
    .description = "POSTs every alert to an HTTP(S) endpoint as signed, "
                   "versioned JSON, or as a Slack or Mattermost message; "
                   "doc/sinks/webhook.md.",
    .settings    = webhook_settings,
    .validate    = webhook_validate,
    .init        = webhook_init,
    .stop        = webhook_stop,
    .destroy     = webhook_destroy,
    .emit        = webhook_emit,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &webhook_plugin;
}
