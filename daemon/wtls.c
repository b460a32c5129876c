/*
 * wtls.c - TLS configurations for worker links from workers.tls (see
 * wtls.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "settings.h"
#include "wtls.h"

/* PEM files are small; a bound keeps a wrong path (a log, a device) from
 * being read whole. */
#define WTLS_MAX_FILE (1024 * 1024)

struct wtls {
	char *cert, *key, *pass, *ca;
	char *server_name;
	bool  verify;
	/* For messages: the settings' file:line. */
	char where[256];
};

bool
wtls_url(const char *url)
{
	return strncmp(url, "tls+", 4) == 0;
}

static void
wipe_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* Reads a whole text file into a NUL-terminated string. */
static char *
read_text(const wtls *t, const char *setting, const char *path, char *err,
    size_t errlen)
{
	FILE       *f;
	struct stat st;
	char       *buf = NULL;
	size_t      n;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: workers.tls.%s %s: %s", t->where,
		    setting, path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > WTLS_MAX_FILE) {
		snprintf(err, errlen,
		    "%s: workers.tls.%s %s: not a regular file of at most %d "
		    "bytes",
		    t->where, setting, path, WTLS_MAX_FILE);
		goto fail;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "%s: workers.tls.%s %s: out of memory",
		    t->where, setting, path);
		goto fail;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: workers.tls.%s %s: %s", t->where,
		    setting, path, strerror(errno));
		goto fail;
	}
	buf[n] = '\0';
	if (n == 0 || strlen(buf) != n) {
		snprintf(err, errlen,
		    "%s: workers.tls.%s %s: empty, or not a PEM text file",
		    t->where, setting, path);
		goto fail;
	}
	fclose(f);
	return buf;
fail:
	if (buf) {
		explicit_bzero(buf, (size_t)st.st_size + 1);
		free(buf);
	}
	fclose(f);
	return NULL;
}

/* The reason of OpenSSL's last error, for messages. */
static const char *
ssl_reason(void)
{
	const char *r = ERR_reason_error_string(ERR_peek_last_error());

	return r ? r : "unknown error";
}

/* What nng would only call a "cryptographic error", said plainly: a
 * certificate that does not parse or has expired, a key that does not
 * decrypt or is not the certificate's. */
static int
check_pair(const wtls *t, const char *cert_path, const char *key_path,
    char *err, size_t errlen)
{
	BIO      *b;
	X509     *x  = NULL;
	EVP_PKEY *k  = NULL;
	int       rc = -1;

	ERR_clear_error();
	if ((b = BIO_new_mem_buf(t->cert, -1)) != NULL)
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	if (x == NULL) {
		snprintf(err, errlen,
		    "%s: workers.tls.cert %s: no PEM "
		    "certificate (%s)",
		    t->where, cert_path, ssl_reason());
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		snprintf(err, errlen, "%s: workers.tls.cert %s: expired",
		    t->where, cert_path);
		goto out;
	}
	/* An empty passphrase, not a prompt, when none is configured. */
	if ((b = BIO_new_mem_buf(t->key, -1)) != NULL)
		k = PEM_read_bio_PrivateKey(
		    b, NULL, NULL, t->pass ? t->pass : (char *)"");
	BIO_free(b);
	if (k == NULL) {
		snprintf(err, errlen,
		    "%s: workers.tls.key %s: cannot read the key (%s)%s",
		    t->where, key_path, ssl_reason(),
		    t->pass ? "; is key_password_file right?"
		            : "; if it is encrypted, set key_password_file");
		goto out;
	}
	if (X509_check_private_key(x, k) != 1) {
		snprintf(err, errlen,
		    "%s: workers.tls.key %s is not the key of cert %s",
		    t->where, key_path, cert_path);
		goto out;
	}
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return rc;
}

wtls *
wtls_load(const vigil_cfg *tls, char *err, size_t errlen)
{
	wtls       *t         = calloc(1, sizeof(*t));
	const char *cert      = cfg_string(tls, "cert");
	const char *key       = cfg_string(tls, "key");
	const char *pass_file = cfg_string(tls, "key_password_file");
	const char *ca        = cfg_string(tls, "ca");
	const char *name      = cfg_string(tls, "server_name");

	if (t == NULL) {
		snprintf(err, errlen, "workers.tls: out of memory");
		return NULL;
	}
	snprintf(t->where, sizeof(t->where), "%s", cfg_where(tls, NULL));
	t->verify = cfg_bool(tls, "verify");
	if (cert == NULL || *cert == '\0' || key == NULL || *key == '\0') {
		snprintf(err, errlen,
		    "%s: workers.tls: tls+tcp:// needs cert and key (PEM "
		    "files)",
		    t->where);
		goto fail;
	}
	if (t->verify && (ca == NULL || *ca == '\0')) {
		snprintf(err, errlen,
		    "%s: workers.tls: verify is on, so ca must name the PEM "
		    "file of the CA that signs the other end's certificate",
		    t->where);
		goto fail;
	}
	if ((t->cert = read_text(t, "cert", cert, err, errlen)) == NULL ||
	    (t->key = read_text(t, "key", key, err, errlen)) == NULL)
		goto fail;
	if (t->verify && (t->ca = read_text(t, "ca", ca, err, errlen)) == NULL)
		goto fail;
	if (pass_file && *pass_file) {
		if ((t->pass = read_text(t, "key_password_file", pass_file, err,
		         errlen)) == NULL)
			goto fail;
		/* The first line only: editors end files with a newline. */
		t->pass[strcspn(t->pass, "\r\n")] = '\0';
	}
	if (check_pair(t, cert, key, err, errlen) != 0)
		goto fail;
	if (name && *name && (t->server_name = strdup(name)) == NULL) {
		snprintf(err, errlen, "workers.tls: out of memory");
		goto fail;
	}
	return t;
fail:
	wtls_free(t);
	return NULL;
}

void
wtls_free(wtls *t)
{
	if (t == NULL)
		return;
	free(t->cert);
	wipe_free(t->key);
	wipe_free(t->pass);
	free(t->ca);
	free(t->server_name);
	free(t);
}

/* The host of url, for the server name check (malloc'd). */
static char *
url_host(const char *url, char *err, size_t errlen)
{
	nng_url *u;
	char    *host;
	int      rv;

	if ((rv = nng_url_parse(&u, url)) != 0) {
		snprintf(
		    err, errlen, "worker link %s: %s", url, nng_strerror(rv));
		return NULL;
	}
	host = strdup(u->u_hostname);
	nng_url_free(u);
	if (host == NULL)
		snprintf(err, errlen, "worker link %s: out of memory", url);
	return host;
}

int
wtls_config(const wtls *t, bool server, const char *url, nng_tls_config **out,
    char *err, size_t errlen)
{
	nng_tls_config *c    = NULL;
	char           *host = NULL;
	const char     *what = "allocate";
	int             rv;

	*out = NULL;
	if ((rv = nng_tls_config_alloc(
	         &c, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT)) != 0)
		goto nng_fail;
	what = "TLS 1.2";
	if ((rv = nng_tls_config_version(c, NNG_TLS_1_2, NNG_TLS_1_2)) != 0)
		goto nng_fail;
	what = "cert and key";
	if ((rv = nng_tls_config_own_cert(c, t->cert, t->key, t->pass)) != 0) {
		/* OpenSSL read it (check_pair); nng's mbedTLS may not. */
		snprintf(err, errlen, "%s: workers.tls: cert and key: %s%s",
		    t->where, nng_strerror(rv),
		    t->pass ? " (an encrypted key must be in the traditional "
		              "PEM form, as written by openssl ec -aes256 or "
		              "openssl rsa -aes256; see doc/scaling.md)"
		            : "");
		goto fail;
	}
	if (t->verify) {
		what = "ca";
		if ((rv = nng_tls_config_ca_chain(c, t->ca, NULL)) != 0)
			goto nng_fail;
	}
	what = "verify";
	rv   = nng_tls_config_auth_mode(
	      c, t->verify ? NNG_TLS_AUTH_MODE_REQUIRED : NNG_TLS_AUTH_MODE_NONE);
	if (rv != 0)
		goto nng_fail;
	if (!server) {
		if (t->server_name == NULL &&
		    (host = url_host(url, err, errlen)) == NULL)
			goto fail;
		what = "server_name";
		rv   = nng_tls_config_server_name(
		      c, t->server_name ? t->server_name : host);
		if (rv != 0)
			goto nng_fail;
	}
	free(host);
	*out = c;
	return 0;
nng_fail:
	snprintf(err, errlen, "%s: workers.tls: %s: %s", t->where, what,
	    nng_strerror(rv));
fail:
	free(host);
	if (c)
		nng_tls_config_free(c);
	return -1;
}
