/*
 * common.c - helpers shared by the http and facebook inputs: secrets,
 * constant-time comparison, the loopback check, JSON replies.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common.h"

const char *
input_where(const vigil_host *host, const vigil_cfg *cfg, const char *name)
{
	const char *w = host->cfg_where(cfg, name);

	return w != NULL ? w : "(config)";
}

/* An empty path is an unset one. */
static const char *
file_setting(const vigil_host *host, const vigil_cfg *cfg, const char *name)
{
	const char *f = host->cfg_string(cfg, name);

	return f != NULL && f[0] != '\0' ? f : NULL;
}

int
secret_validate(const vigil_host *host, const vigil_cfg *cfg, const char *name,
    const char *name_file, bool required, char *err, size_t errlen)
{
	const char *v = host->cfg_string(cfg, name);
	const char *f = file_setting(host, cfg, name_file);

	if (v != NULL && f != NULL) {
		snprintf(err, errlen, "%s: set %s or %s, not both",
		    input_where(host, cfg, name_file), name, name_file);
		return VIGIL_ERR;
	}
	if (v != NULL && v[0] == '\0') {
		snprintf(err, errlen, "%s: %s is empty",
		    input_where(host, cfg, name), name);
		return VIGIL_ERR;
	}
	if (required && v == NULL && f == NULL) {
		snprintf(err, errlen, "%s: set %s or %s",
		    input_where(host, cfg, NULL), name, name_file);
		return VIGIL_ERR;
	}
	return VIGIL_OK;
}

static int
read_file(const vigil_host *host, vigil_ctx *ctx, const char *setting,
    const char *path, struct secret *s)
{
	struct stat st;
	ssize_t     n;
	size_t      len = 0;
	int         fd  = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		host->log(ctx, VIGIL_LOG_ERR, "%s %s: %s", setting, path,
		    strerror(errno));
		return VIGIL_ERR;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & S_IROTH))
		host->log(ctx, VIGIL_LOG_WARNING,
		    "%s %s can be read by every user", setting, path);
	if ((s->ptr = OPENSSL_zalloc(SECRET_MAX + 1)) == NULL) {
		host->log(ctx, VIGIL_LOG_ERR, "out of memory");
		goto fail;
	}
	while ((n = read(fd, s->ptr + len, SECRET_MAX + 1 - len)) > 0 &&
	    len + (size_t)n <= SECRET_MAX)
		len += (size_t)n;
	if (n < 0) {
		host->log(ctx, VIGIL_LOG_ERR, "%s %s: %s", setting, path,
		    strerror(errno));
		goto fail;
	}
	if (n > 0) {
		host->log(ctx, VIGIL_LOG_ERR, "%s %s: longer than %d bytes",
		    setting, path, SECRET_MAX);
		goto fail;
	}
	while (len > 0 && (s->ptr[len - 1] == '\n' || s->ptr[len - 1] == '\r'))
		len--;
	s->ptr[len] = '\0';
	if (len == 0) {
		host->log(ctx, VIGIL_LOG_ERR, "%s %s is empty", setting, path);
		goto fail;
	}
	s->len = len;
	close(fd);
	return VIGIL_OK;
fail:
	close(fd);
	secret_clear(s);
	return VIGIL_ERR;
}

int
secret_load(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    const char *name, const char *name_file, struct secret *s)
{
	const char *v = host->cfg_string(cfg, name);
	const char *f = file_setting(host, cfg, name_file);

	s->ptr = NULL;
	s->len = 0;
	if (f != NULL)
		return read_file(host, ctx, name_file, f, s);
	if (v == NULL)
		return VIGIL_OK;
	s->len = strlen(v);
	if ((s->ptr = OPENSSL_zalloc(s->len + 1)) == NULL) {
		host->log(ctx, VIGIL_LOG_ERR, "out of memory");
		s->len = 0;
		return VIGIL_ERR;
	}
	memcpy(s->ptr, v, s->len);
	return VIGIL_OK;
}

void
secret_clear(struct secret *s)
{
	if (s->ptr != NULL)
		OPENSSL_clear_free(s->ptr, s->len + 1);
	s->ptr = NULL;
	s->len = 0;
}

/* Digests have one length, so CRYPTO_memcmp sees equal sizes whatever
 * the client sent, and the time does not tell the secret's length. */
bool
secret_equal(const struct secret *s, const char *given, size_t len)
{
	unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
	unsigned int  na = 0, nb = 0;

	if (s->ptr == NULL || given == NULL ||
	    EVP_Digest(s->ptr, s->len, a, &na, EVP_sha256(), NULL) != 1 ||
	    EVP_Digest(given, len, b, &nb, EVP_sha256(), NULL) != 1 || na != nb)
		return false;
	return CRYPTO_memcmp(a, b, na) == 0;
}

bool
listen_is_loopback(const char *l)
{
	char            host[128];
	const char     *end;
	struct in_addr  a4;
	struct in6_addr a6;
	size_t          n;

	if (l[0] == '[') {
		l++;
		end = strchr(l, ']');
	} else {
		end = strrchr(l, ':');
	}
	n = end != NULL ? (size_t)(end - l) : strlen(l);
	if (n >= sizeof(host))
		return false;
	memcpy(host, l, n);
	host[n] = '\0';
	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		    (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

void
reply_busy(const vigil_host *host, vigil_http_req *req, vigil_counter *busy,
    const char *retry_after, json_t *body)
{
	host->counter_add(busy, 1);
	host->http_reply_header(req, "Retry-After", retry_after);
	reply_json(host, req, 503, body);
}

void
reply_json(
    const vigil_host *host, vigil_http_req *req, int status, json_t *body)
{
	char *s = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	if (s == NULL) {
		static const char oom[] = "{\"error\":\"out of memory\"}";

		host->http_reply(
		    req, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	host->http_reply(req, status, "application/json", s, strlen(s));
	free(s);
}

json_t *
json_text(const char *msg)
{
	json_t *s = json_string(msg);
	char   *copy;

	if (s != NULL)
		return s;
	/* Parsers quote the bytes they choked on, which may cut a UTF-8
	 * sequence: keep ASCII. */
	if ((copy = strdup(msg)) == NULL)
		return NULL;
	for (char *p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
			*p = '?';
	s = json_string(copy);
	free(copy);
	return s;
}

void
reply_error(
    const vigil_host *host, vigil_http_req *req, int status, const char *msg)
{
	reply_json(
	    host, req, status, json_pack("{s:o}", "error", json_text(msg)));
}
