/*
 * worker.c - vigil-worker, a scoring worker.
 *
 * Loads the rule plugins of a configuration, then answers scoring requests
 * on an nng REP socket: each request is a batch of raw posts (wire.h), each
 * reply a verdict per post. A worker keeps no state between posts, so the
 * daemon may kill, restart or replace it at any moment; a request it never
 * answered is sent to another worker.
 *
 *   vigil-worker -c CONF (--connect URL | --listen URL) [-g GENERATION]
 *                [--parent PID]
 *   vigil-worker -t -c CONF
 *
 * -t checks the rules of CONF as a worker would load them (settings,
 * patterns compiled) and exits 0, or 2 with one "file:line: reason" line
 * per problem on stderr. vigild checks rules this way, so that compiling
 * them never happens in its own process: Hyperscan's compiler and ICU
 * would stay in its resident memory for good.
 *
 * A tls+tcp:// URL takes its certificate, key and CA from the workers.tls
 * settings of CONF: files, not options, so that no secret shows in ps.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "config.h"
#include "log.h"
#include "score.h"
#include "text.h"
#include "settings.h"
#include "wire.h"
#include "wtls.h"

static volatile sig_atomic_t stopping, serving;

/* Before it serves, a worker holds no request, and compiling large rule
 * sets can take seconds that a stop or a dead vigild should not wait
 * for: it exits at once. */
static void
on_signal(int sig)
{
	(void)sig;
	if (!serving)
		_exit(0);
	stopping = 1;
}

/* -t: the rules of conf, loaded and initialized as for scoring. */
static int
check_rules(const char *conf)
{
	char          err[8192];
	loader       *ld  = NULL;
	vigil_config *cfg = NULL;
	scorer       *sc  = NULL;
	int           rc  = 2;

	if (text_init() != 0)
		return 1;
	if (config_load(conf, CONFIG_RULES, &ld, &cfg, err, sizeof(err)) == 0 &&
	    (sc = scorer_new(cfg, err, sizeof(err))) != NULL)
		rc = 0;
	else
		fprintf(stderr, "%s\n", err);
	scorer_free(sc);
	config_free(cfg);
	loader_free(ld);
	text_fini();
	return rc;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vigil-worker -c CONFIG (--connect URL | --listen URL)"
	    " [-g GENERATION] [--parent PID] [--log-level LEVEL]\n"
	    "       vigil-worker -t -c CONFIG\n"
	    "Scores posts for vigild: loads the rule plugins of CONFIG and\n"
	    "answers requests on an nng REP socket. URL is tcp://HOST:PORT,\n"
	    "ipc://PATH, or tls+tcp://HOST:PORT with the certificates named\n"
	    "by the workers.tls settings of CONFIG. -t only checks the rules\n"
	    "of CONFIG: exit 0, or 2 with the errors on stderr.\n");
}

/* An empty reply: the daemon takes back every post of the batch and
 * counts a failure against each, so a post that keeps failing is
 * quarantined instead of stalling its request for ever. */
static nng_msg *
empty_reply(uint32_t generation, uint64_t batch)
{
	nng_msg *rep;

	if (nng_msg_alloc(&rep, 0) != 0)
		return NULL;
	if (wire_begin(rep, WIRE_REP_MAGIC, generation, batch) != 0) {
		nng_msg_free(rep);
		return NULL;
	}
	wire_finish(rep, 0);
	return rep;
}

/* Scores every post of a request into a reply. Every request is answered:
 * with a verdict or a reason per post, or, when the request is malformed
 * or memory runs out, with an empty reply (logged). NULL only when not
 * even that can be allocated. */
static nng_msg *
handle_request(scorer *sc, nng_msg *req, uint32_t generation)
{
	wire_reader r;
	wire_header h;
	nng_msg    *rep = NULL;
	uint32_t    i;

	if (wire_read_header(&r, req, WIRE_REQ_MAGIC, &h) != 0) {
		log_warn("malformed request (%zu bytes)", nng_msg_len(req));
		return empty_reply(generation, 0);
	}
	/* A worker started by vigild answers with its own generation, so
	 * that a reply from old rules is never taken for new ones; a remote
	 * worker, started without -g, serves whatever generation asks. */
	if (generation == 0)
		generation = h.generation;
	if (nng_msg_alloc(&rep, 0) != 0 ||
	    wire_begin(rep, WIRE_REP_MAGIC, generation, h.batch) != 0)
		goto fail;
	for (i = 0; i < h.count; i++) {
		wire_post    p;
		const char  *jur[WIRE_MAX_JUR];
		score_result res;
		int          rv;

		if (wire_next_post(&r, &p) != 0) {
			log_warn("request %llu truncated at post %u",
			    (unsigned long long)h.batch, i);
			goto fail;
		}
		for (size_t j = 0; j < p.n_jur; j++)
			jur[j] = p.jur[j];
		if (scorer_run(sc, p.buf, p.len, jur, p.n_jur,
		        (p.flags & WIRE_BRIEF) != 0, &res) != 0) {
			log_err("out of memory scoring a post");
			goto fail;
		}
		rv = wire_add_result(rep, p.seq, res.status, (int)res.severity,
		    res.text, res.len, res.alerts, res.alerts_len);
		score_result_clear(&res);
		if (rv != 0)
			goto fail;
	}
	wire_finish(rep, h.count);
	return rep;
fail:
	if (rep)
		nng_msg_free(rep);
	return empty_reply(generation, h.batch);
}

/* Dials or listens on url, with TLS from the config when url asks. */
static int
open_endpoint(
    nng_socket sock, const vigil_config *cfg, const char *url, bool listen)
{
	nng_tls_config *tc = NULL;
	nng_dialer      d;
	nng_listener    l;
	char            err[1024];
	int             rv;

	if (wtls_url(url)) {
		wtls *t =
		    wtls_load(cfg_group(cfg->workers, "tls"), err, sizeof(err));
		rv =
		    t ? wtls_config(t, listen, url, &tc, err, sizeof(err)) : -1;
		wtls_free(t);
		if (rv != 0) {
			log_err("%s", err);
			return -1;
		}
	}
	rv = listen ? nng_listener_create(&l, sock, url)
	            : nng_dialer_create(&d, sock, url);
	/* The endpoint holds its own reference to the configuration. */
	if (rv == 0 && tc != NULL)
		rv = listen ? nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, tc)
		            : nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, tc);
	if (tc != NULL)
		nng_tls_config_free(tc);
	if (rv == 0)
		rv = listen ? nng_listener_start(l, 0)
		            : nng_dialer_start(d, NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		log_err("%s %s: %s", listen ? "listen" : "dial", url,
		    nng_strerror(rv));
		return -1;
	}
	return 0;
}

/* Started by vigild (--parent), the worker outlives it only until it
 * notices: the parent death signal may have been sent before the worker
 * could take it. */
static bool
orphaned(pid_t parent)
{
	if (parent <= 0 || getppid() == parent)
		return false;
	log_notice("vigild (pid %ld) is gone; exiting", (long)parent);
	return true;
}

static int
serve(nng_socket sock, scorer *sc, uint32_t generation, pid_t parent)
{
	while (!stopping && !orphaned(parent)) {
		nng_msg *req, *rep;
		int      rv = nng_recvmsg(sock, &req, 0);

		if (rv == NNG_ETIMEDOUT)
			continue;
		if (rv != 0) {
			if (rv == NNG_ECLOSED)
				break;
			log_err("receive: %s", nng_strerror(rv));
			return -1;
		}
		rep = handle_request(sc, req, generation);
		nng_msg_free(req);
		if (rep == NULL) {
			/* Out of memory even for an empty reply: exit, so
			 * that the daemon resends to a fresh worker. */
			log_err("cannot allocate a reply; exiting");
			return -1;
		}
		if ((rv = nng_sendmsg(sock, rep, 0)) != 0) {
			nng_msg_free(rep);
			if (rv == NNG_ECLOSED)
				break;
			log_warn("send reply: %s", nng_strerror(rv));
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"connect", required_argument, NULL, 'C'},
	    {"listen", required_argument, NULL, 'L'},
	    {"generation", required_argument, NULL, 'g'},
	    {"parent", required_argument, NULL, 'P'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"test", no_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char      *conf = NULL, *connect = NULL, *listen = NULL;
	uint32_t         generation = 0;
	pid_t            parent     = 0;
	int              c, level, rc = 1, rv;
	bool             level_given = false, test = false;
	char             err[4096];
	loader          *ld   = NULL;
	vigil_config    *cfg  = NULL;
	scorer          *sc   = NULL;
	nng_socket       sock = NNG_SOCKET_INITIALIZER;
	struct sigaction sa;

	log_set_ident("vigil-worker");
	while ((c = getopt_long(argc, argv, "c:g:ht", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 't': test = true; break;
		case 'C': connect = optarg; break;
		case 'L': listen = optarg; break;
		case 'g':
			generation = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'P': parent = (pid_t)strtol(optarg, NULL, 10); break;
		case 'l':
			if (log_level_parse(optarg, &level) != 0) {
				fprintf(
				    stderr, "unknown log level '%s'\n", optarg);
				return 2;
			}
			log_set_level(level);
			level_given = true;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (conf == NULL ||
	    (test ? connect != NULL || listen != NULL
	          : (connect == NULL) == (listen == NULL))) {
		usage(stderr);
		return 2;
	}
	if (test)
		return check_rules(conf);
	if (orphaned(parent))
		return 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (text_init() != 0)
		return 1;
	if (config_load(conf, CONFIG_RULES, &ld, &cfg, err, sizeof(err)) != 0) {
		log_err("%s", err);
		rc = 2;
		goto out;
	}
	if (!level_given)
		log_set_level(cfg->log_level);
	if ((sc = scorer_new(cfg, err, sizeof(err))) == NULL) {
		log_err("%s", err);
		rc = 2;
		goto out;
	}
	if ((rv = nng_rep0_open(&sock)) != 0) {
		log_err("rep socket: %s", nng_strerror(rv));
		goto out;
	}
	/* A bound on what a peer can make us allocate; the recv timeout
	 * lets SIGTERM end the loop. */
	nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, cfg->max_message);
	nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 200);
	if (open_endpoint(sock, cfg, connect ? connect : listen, !connect) != 0)
		goto out;
	serving = 1;
	log_debug("generation %u ready on %s with %zu rules", generation,
	    connect ? connect : listen, cfg->n_rules);
	rc = serve(sock, sc, generation, parent) == 0 ? 0 : 1;
out:
	if (nng_socket_id(sock) > 0)
		nng_close(sock);
	scorer_free(sc);
	config_free(cfg);
	loader_free(ld);
	text_fini();
	nng_fini();
	return rc;
}
