/*
 * wtls.h - TLS for the links between vigild and its workers (tls+tcp://).
 *
 * The settings group workers.tls names PEM files: this end's certificate
 * and key (the key optionally encrypted, its passphrase in a file), and
 * the CA that signs the other end's certificate. wtls_load reads them
 * once (at start, on reload, on vigild -t); wtls_config then makes an nng
 * TLS configuration per dialer or listener, since a dialer checks the
 * server name of its own peer. Key and passphrase are wiped on free and
 * never logged.
 */
#ifndef VIGIL_WTLS_H
#define VIGIL_WTLS_H

#include <stdbool.h>
#include <stddef.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include <vigil/plugin.h>

typedef struct wtls wtls;

/* True for an endpoint that needs TLS (tls+tcp://, tls+tcp4://, ...). */
bool wtls_url(const char *url);

/* Reads the files of a workers.tls group. Returns NULL with a reason
 * naming the setting, the file and the cause in err. */
wtls *wtls_load(const vigil_cfg *tls, char *err, size_t errlen);
void  wtls_free(wtls *t);

/* A configuration for a listener (server) or a dialer of url (client;
 * the expected server name is workers.tls.server_name, else the host of
 * url). The caller owns *out (nng_tls_config_free). Returns 0, or -1
 * with a reason in err. */
int wtls_config(const wtls *t, bool server, const char *url,
    nng_tls_config **out, char *err, size_t errlen);

#endif
