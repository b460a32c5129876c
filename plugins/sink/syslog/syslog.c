/*
 * syslog.c - sink plugin that sends each alert to syslog as one message.
 *
 * Formats (format.c): RFC 3164, `<PRI>Mmm dd hh:mm:ss ident[pid]: MSG`,
 * or RFC 5424, `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`
 * with the alert's fields as structured data. MSG is the alert as
 * key=value text or as its JSON document.
 *
 * Transports: syslog(3) (the default, RFC 3164 only; the C library's
 * connection to /dev/log, which may block when the log daemon stalls),
 * or, never blocking the loop, datagrams to a unix socket or over UDP,
 * or a TCP stream with RFC 6587 octet counting. Addresses are numeric,
 * so that no name is ever resolved on the loop.
 *
 * Over TCP an emit is pending until its last byte has left the output
 * buffer for the socket; a connection that fails first turns every
 * message still queued on it into a retry, and the next connection
 * waits a backoff that doubles after each failure.
 *
 * Severities map to priorities in format.c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include <vigil/plugin.h>

#include "format.h"

#define IDENT_MAX        32
#define UDP_MESSAGE_MAX  65507 /* an IPv4 datagram's payload */
#define BACKOFF_MIN_MS   200
#define BACKOFF_MAX_MS   30000
#define DEFAULT_UNIX_LOG "/dev/log"

enum transport { T_SYSLOG, T_UNIX, T_UDP, T_TCP };

enum link_state { LINK_DOWN, LINK_CONNECTING, LINK_UP, LINK_BACKOFF };

/* A message handed to the TCP output buffer, not yet written out. */
typedef struct inflight {
	uint64_t token;
	uint64_t conn; /* the connection it was queued on */
	uint64_t end;  /* bytes queued on that connection up to its end */
} inflight;

typedef struct tcp_link {
	enum link_state           state;
	struct bufferevent       *bev;
	struct evbuffer_cb_entry *out_cb;
	uint64_t                  conn;           /* current connection */
	uint64_t                  added, drained; /* its bytes */
	inflight                 *q;              /* ring of queue entries */
	size_t                    head, len, cap;
	struct event             *complete; /* answers the host, on the loop */
	struct event             *backoff;
	int                       backoff_ms;
} tcp_link;

typedef struct syslog_sink {
	const vigil_host       *host;
	vigil_ctx              *ctx;
	struct event_base      *base;
	enum transport          transport;
	int                     rfc5424;
	int                     json;
	int                     facility;
	char                   *ident;
	char                   *hostname;
	char                   *sd_id;
	char                   *peer; /* socket path or address, for messages */
	struct sockaddr_storage addr;
	socklen_t               addr_len;
	size_t                  max_message;
	int64_t                 timeout_ms;
	int                     fd;    /* datagram socket; -1 when closed */
	char                   *frame; /* prefix room + max_message + 1 */
	char                   *buf;   /* frame + SL_FRAME_PREFIX_MAX */
	tcp_link                tcp;
} syslog_sink;

static const struct {
	const char *name;
	int         facility;
} facilities[] = {
    {"user", LOG_USER},
    {"daemon", LOG_DAEMON},
    {"auth", LOG_AUTH},
    {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1},
    {"local2", LOG_LOCAL2},
    {"local3", LOG_LOCAL3},
    {"local4", LOG_LOCAL4},
    {"local5", LOG_LOCAL5},
    {"local6", LOG_LOCAL6},
    {"local7", LOG_LOCAL7},
};

static const vigil_setting syslog_settings[] = {
    {"facility", VIGIL_SET_STRING, "daemon",
        "Syslog facility: `user`, `daemon`, `auth` or `local0` to "
        "`local7`. Severities map to priorities as alert: `crit`, "
        "warning: `warning`, notice: `notice`, none: `info`.",
        NULL, 0, 0, 0},
    {"ident", VIGIL_SET_STRING, "vigil",
        "Tag of the messages (the program name in the log, APP-NAME in "
        "RFC 5424): 1 to 32 of letters, digits, '.', '_', '-' and '/'.",
        NULL, 0, 0, 0},
    {"format", VIGIL_SET_STRING, "rfc3164",
        "`rfc3164`: `<PRI>Mmm dd hh:mm:ss ident[pid]: MSG` (local time; "
        "with the host name before the ident over `udp` and `tcp`); "
        "`rfc5424`: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID "
        "[vigil@32473 id=… rule=… …] BOM MSG`, the alert's fields as "
        "structured data (doc/sinks/syslog.md), not with syslog(3). "
        "`text` and `json`, the values of earlier versions, mean "
        "`rfc3164` with that `message`.",
        NULL, 0, 0, 0},
    {"message", VIGIL_SET_STRING, NULL,
        "MSG of each message. `text` (the default): `alert id=… rule=… "
        "severity=… score=… jurisdiction=… post=… platform=… channel=… "
        "title=\"…\" law=… article=… window=… url=… excerpt=\"…\"` "
        "(values quoted and escaped when needed, absent ones left out); "
        "`json`: the alert document (doc/alerts.md) on one line.",
        NULL, 0, 0, 0},
    {"transport", VIGIL_SET_STRING, NULL,
        "`syslog`: syslog(3), which may block the daemon when the log "
        "daemon stalls (the default, unless `socket` is set); `unix`: "
        "datagrams to `socket` (default `/dev/log`); `udp`: datagrams to "
        "`address`; `tcp`: a stream to `address`, RFC 6587 octet "
        "counting. All but `syslog` never block and reconnect by "
        "themselves.",
        NULL, 0, 0, 0},
    {"socket", VIGIL_SET_STRING, NULL,
        "Unix datagram socket for `transport = \"unix\"`, e.g. "
        "`/dev/log` or a receiver's own socket. Setting it alone selects "
        "that transport.",
        NULL, VIGIL_SET_PATH, 0, 0},
    {"address", VIGIL_SET_STRING, NULL,
        "Receiver for `udp` and `tcp`: a numeric IPv4 or IPv6 address "
        "and a port, `127.0.0.1:514` or `[::1]:514`. Names are refused: "
        "resolving them could block the daemon.",
        NULL, 0, 0, 0},
    {"hostname", VIGIL_SET_STRING, NULL,
        "HOSTNAME of the messages (`rfc5424`, and `rfc3164` over `udp` "
        "and `tcp`): 1 to 255 printable US-ASCII characters. Default: "
        "the system's host name.",
        NULL, 0, 0, 0},
    {"sd_id", VIGIL_SET_STRING, SL_SD_ID_DEFAULT,
        "SD-ID of the structured data element (`rfc5424`): `name@` and "
        "an IANA private enterprise number, at most 32 characters. The "
        "default uses 32473, the number RFC 5612 reserves for "
        "documentation; put your organization's own here if it has one.",
        NULL, 0, 0, 0},
    {"max_message", VIGIL_SET_INT, "8192",
        "Longest message in bytes, the header included (but for "
        "syslog(3)'s own, and TCP's octet count); longer ones are cut at "
        "a character boundary (a cut JSON message is no longer valid "
        "JSON). At least 480 with `rfc5424`, at most 65507 over `udp`.",
        NULL, 0, 256, 1048576},
    {"queue", VIGIL_SET_INT, "1024",
        "`tcp`: messages on their way to the socket at most; past that "
        "an alert is retried later.",
        NULL, 0, 1, 1000000},
    {"timeout_ms", VIGIL_SET_INT, "10000",
        "`tcp`: a connection attempt, or a write that makes no progress "
        "(a receiver that stopped reading), fails after this long; its "
        "messages are retried on a new connection.",
        NULL, 0, 100, 3600000},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const char *
where(const vigil_host *host, const vigil_cfg *cfg, const char *name)
{
	const char *w = host->cfg_where(cfg, name);

	return w != NULL ? w : "(config)";
}

static int
facility_parse(const char *name, int *out)
{
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]);
	     i++) {
		if (name != NULL && strcmp(name, facilities[i].name) == 0) {
			*out = facilities[i].facility;
			return 0;
		}
	}
	return -1;
}

static int
ident_valid(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		        c == '-' || c == '/'))
			return 0;
	}
	return n > 0 && n <= IDENT_MAX;
}

static int
streq(const char *a, const char *b)
{
	return a != NULL && strcmp(a, b) == 0;
}

/* The transport the settings ask for, or -1. */
static int
transport_of(const vigil_host *host, const vigil_cfg *cfg)
{
	const char *t    = host->cfg_string(cfg, "transport");
	const char *sock = host->cfg_string(cfg, "socket");

	if (t == NULL)
		return sock != NULL && sock[0] != '\0' ? T_UNIX : T_SYSLOG;
	if (strcmp(t, "syslog") == 0)
		return T_SYSLOG;
	if (strcmp(t, "unix") == 0)
		return T_UNIX;
	if (strcmp(t, "udp") == 0)
		return T_UDP;
	if (strcmp(t, "tcp") == 0)
		return T_TCP;
	return -1;
}

/* A numeric address with a port; names are not resolved. */
static int
address_parse(const char *s, struct sockaddr_storage *out, socklen_t *len)
{
	int n = (int)sizeof(*out);

	memset(out, 0, sizeof(*out));
	if (s == NULL ||
	    evutil_parse_sockaddr_port(s, (struct sockaddr *)out, &n) != 0)
		return -1;
	if (out->ss_family == AF_INET &&
	    ((struct sockaddr_in *)out)->sin_port == 0)
		return -1;
	if (out->ss_family == AF_INET6 &&
	    ((struct sockaddr_in6 *)out)->sin6_port == 0)
		return -1;
	*len = (socklen_t)n;
	return 0;
}

/* ------------------------------------------------------------------------
 * Building messages */

/* One message into s->buf; returns its length. */
static size_t
build(syslog_sink *s, const vigil_alert *a)
{
	sl_msg    m = {s->buf, 0, s->max_message, 0, 0};
	sl_header h = {
	    .pri      = sl_pri(s->facility, a->severity),
	    .time_us  = s->host->now_realtime(),
	    .hostname = s->hostname,
	    .app      = s->ident,
	    .pid      = (long)getpid(),
	    .sd_id    = s->sd_id,
	};

	if (s->rfc5424) {
		sl_format_5424(&m, &h, a, s->json);
	} else {
		/* A local socket's daemon adds the host name itself. */
		if (s->transport == T_UNIX)
			h.hostname = NULL;
		if (s->transport != T_SYSLOG)
			sl_format_3164_header(&m, &h);
		if (s->json)
			sl_format_json(&m, a);
		else
			sl_format_text(&m, a);
	}
	if (m.cut)
		s->host->log_limited(s->ctx, VIGIL_LOG_NOTICE,
		    "alert %s cut to max_message (%zu bytes)",
		    a->id ? a->id : "?", s->max_message);
	s->buf[m.len] = '\0';
	return m.len;
}

/* ------------------------------------------------------------------------
 * Datagrams: unix socket or UDP */

static int
dgram_open(syslog_sink *s)
{
	struct sockaddr_un un;
	struct sockaddr   *sa;
	socklen_t          len;
	int                fd;

	if (s->transport == T_UNIX) {
		memset(&un, 0, sizeof(un));
		un.sun_family = AF_UNIX;
		memcpy(un.sun_path, s->peer, strlen(s->peer) + 1);
		sa  = (struct sockaddr *)&un;
		len = sizeof(un);
	} else {
		sa  = (struct sockaddr *)&s->addr;
		len = s->addr_len;
	}
	fd =
	    socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* Connected: a UDP peer that refuses shows as ECONNREFUSED. */
	if (connect(fd, sa, len) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	s->fd = fd;
	return 0;
}

static void
dgram_close(syslog_sink *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* The receiver went away or restarted (or, over UDP, refused an earlier
 * datagram): connect again. */
static int
dgram_gone(int e)
{
	return e == ECONNREFUSED || e == ENOENT || e == ENOTCONN ||
	    e == ECONNRESET || e == EPIPE || e == EDESTADDRREQ;
}

static int
dgram_send(syslog_sink *s, const char *buf, size_t len)
{
	int reconnected = 0;
	int e;

	if (s->fd < 0) {
		if (dgram_open(s) != 0) {
			e = errno;
			goto retry;
		}
		reconnected = 1;
	}
	for (;;) {
		ssize_t w = send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w >= 0)
			return (size_t)w == len ? VIGIL_OK : VIGIL_ERETRY;
		e = errno;
		if (e == EINTR)
			continue;
		if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS)
			return VIGIL_ERETRY;
		if (e == EMSGSIZE) {
			s->host->log_limited(s->ctx, VIGIL_LOG_ERR,
			    "send %s: %s (%zu bytes): lower max_message",
			    s->peer, strerror(e), len);
			return VIGIL_EFAIL;
		}
		dgram_close(s);
		if (!dgram_gone(e) || reconnected)
			break;
		s->host->log_limited(s->ctx, VIGIL_LOG_WARNING,
		    "%s: %s; connecting again", s->peer, strerror(e));
		if (dgram_open(s) != 0) {
			e = errno;
			break;
		}
		reconnected = 1;
	}
retry:
	s->host->log_limited(
	    s->ctx, VIGIL_LOG_WARNING, "%s: %s", s->peer, strerror(e));
	return VIGIL_ERETRY;
}

/* ------------------------------------------------------------------------
 * TCP: one connection at a time, octet-counted frames */

static void tcp_read(struct bufferevent *bev, void *arg);
static void tcp_event(struct bufferevent *bev, short what, void *arg);

static void
tcp_drop(syslog_sink *s)
{
	if (s->tcp.bev == NULL)
		return;
	evbuffer_remove_cb_entry(
	    bufferevent_get_output(s->tcp.bev), s->tcp.out_cb);
	bufferevent_free(s->tcp.bev);
	s->tcp.bev    = NULL;
	s->tcp.out_cb = NULL;
}

/* The connection failed: what it still held is retried, and the next
 * connection waits out a backoff. */
static void
tcp_fail(syslog_sink *s, const char *why)
{
	struct timeval tv = {
	    s->tcp.backoff_ms / 1000, (s->tcp.backoff_ms % 1000) * 1000};

	s->host->log_limited(s->ctx, VIGIL_LOG_WARNING,
	    "%s: %s; %zu messages to retry, reconnecting in %d ms", s->peer,
	    why, s->tcp.len, s->tcp.backoff_ms);
	tcp_drop(s);
	s->tcp.state = LINK_BACKOFF;
	evtimer_add(s->tcp.backoff, &tv);
	s->tcp.backoff_ms = s->tcp.backoff_ms * 2 > BACKOFF_MAX_MS
	    ? BACKOFF_MAX_MS
	    : s->tcp.backoff_ms * 2;
	event_active(s->tcp.complete, 0, 0);
}

static void
tcp_backoff_over(evutil_socket_t fd, short what, void *arg)
{
	syslog_sink *s = arg;

	(void)fd;
	(void)what;
	if (s->tcp.state == LINK_BACKOFF)
		s->tcp.state = LINK_DOWN;
}

/* Bytes left the output buffer for the socket. */
static void
tcp_drained(
    struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	syslog_sink *s = arg;

	(void)buf;
	if (info->n_deleted == 0)
		return;
	s->tcp.drained += info->n_deleted;
	s->tcp.backoff_ms = BACKOFF_MIN_MS;
	event_active(s->tcp.complete, 0, 0);
}

/* Answers the host for messages written out (VIGIL_OK) or lost with
 * their connection (VIGIL_ERETRY). Runs as its own event so that the host
 * may emit again from alert_done. */
static void
tcp_complete(evutil_socket_t fd, short what, void *arg)
{
	syslog_sink *s = arg;

	(void)fd;
	(void)what;
	while (s->tcp.len > 0) {
		inflight e = s->tcp.q[s->tcp.head];
		int      status;

		if (s->tcp.bev == NULL || e.conn != s->tcp.conn)
			status = VIGIL_ERETRY;
		else if (e.end <= s->tcp.drained)
			status = VIGIL_OK;
		else
			break;
		s->tcp.head = (s->tcp.head + 1) % s->tcp.cap;
		s->tcp.len--;
		s->host->alert_done(s->ctx, e.token, status);
	}
}

static int
tcp_connect(syslog_sink *s)
{
	struct timeval tv = {
	    s->timeout_ms / 1000, (s->timeout_ms % 1000) * 1000};
	struct bufferevent *bev;
	int                 fd;

	fd = socket(
	    s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		tcp_fail(s, strerror(errno));
		return -1;
	}
	if ((bev = bufferevent_socket_new(
	         s->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		tcp_fail(s, "out of memory");
		return -1;
	}
	s->tcp.out_cb =
	    evbuffer_add_cb(bufferevent_get_output(bev), tcp_drained, s);
	if (s->tcp.out_cb == NULL) {
		bufferevent_free(bev);
		tcp_fail(s, "out of memory");
		return -1;
	}
	bufferevent_setcb(bev, tcp_read, NULL, tcp_event, s);
	/* Covers the connection attempt too. */
	bufferevent_set_timeouts(bev, NULL, &tv);
	s->tcp.bev = bev;
	s->tcp.conn++;
	s->tcp.added   = 0;
	s->tcp.drained = 0;
	s->tcp.state   = LINK_CONNECTING;
	if (bufferevent_enable(bev, EV_READ | EV_WRITE) != 0 ||
	    bufferevent_socket_connect(
	        bev, (struct sockaddr *)&s->addr, (int)s->addr_len) != 0) {
		tcp_fail(s, strerror(errno));
		return -1;
	}
	return 0;
}

/* Receivers send nothing; whatever comes is dropped. */
static void
tcp_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);

	(void)arg;
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
tcp_event(struct bufferevent *bev, short what, void *arg)
{
	syslog_sink *s = arg;
	int          e = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		s->tcp.state = LINK_UP;
		s->host->log(
		    s->ctx, VIGIL_LOG_INFO, "connected to %s", s->peer);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		tcp_fail(s,
		    s->tcp.state == LINK_CONNECTING
		        ? "connection timed out"
		        : "receiver stopped reading (write timed out)");
	else if (what & BEV_EVENT_EOF)
		tcp_fail(s, "connection closed by the receiver");
	else
		tcp_fail(s,
		    e != 0 ? evutil_socket_error_to_string(e)
		           : "connection failed");
}

static int
tcp_emit(syslog_sink *s, const vigil_alert *a)
{
	inflight *e;
	char      prefix[SL_FRAME_PREFIX_MAX + 1];
	size_t    len, plen;

	if (s->tcp.state == LINK_BACKOFF)
		return VIGIL_ERETRY;
	if (s->tcp.len == s->tcp.cap) {
		s->host->log_limited(s->ctx, VIGIL_LOG_WARNING,
		    "%s: %zu messages queued; retrying later", s->peer,
		    s->tcp.len);
		return VIGIL_ERETRY;
	}
	if (s->tcp.state == LINK_DOWN && tcp_connect(s) != 0)
		return VIGIL_ERETRY;
	len  = build(s, a);
	plen = sl_frame_prefix(len, prefix, sizeof(prefix));
	memcpy(s->buf - plen, prefix, plen);
	if (evbuffer_add(bufferevent_get_output(s->tcp.bev), s->buf - plen,
	        plen + len) != 0)
		return VIGIL_ERETRY;
	s->tcp.added += plen + len;
	e        = &s->tcp.q[(s->tcp.head + s->tcp.len) % s->tcp.cap];
	e->token = a->token;
	e->conn  = s->tcp.conn;
	e->end   = s->tcp.added;
	s->tcp.len++;
	return VIGIL_PENDING;
}

/* ------------------------------------------------------------------------
 * Emitting */

static int
syslog_emit(void *instance, const vigil_alert *alert)
{
	syslog_sink *s = instance;
	size_t       len;

	if (s->transport == T_TCP)
		return tcp_emit(s, alert);
	len = build(s, alert);
	if (s->transport != T_SYSLOG)
		return dgram_send(s, s->buf, len);
	/* openlog's settings are the process's: set ours before each one. */
	openlog(s->ident, LOG_PID, s->facility);
	syslog(sl_pri(s->facility, alert->severity), "%s", s->buf);
	return VIGIL_OK;
}

/* ------------------------------------------------------------------------
 * Lifecycle */

static int
validate_format(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	const char *format  = host->cfg_string(cfg, "format");
	const char *message = host->cfg_string(cfg, "message");

	if (!streq(format, "rfc3164") && !streq(format, "rfc5424") &&
	    !streq(format, "text") && !streq(format, "json")) {
		snprintf(err, errlen,
		    "%s: format '%s' is not one of rfc3164, rfc5424 (or text, "
		    "json: rfc3164 with that message)",
		    where(host, cfg, "format"), format ? format : "");
		return VIGIL_ERR;
	}
	if (message != NULL && !streq(message, "text") &&
	    !streq(message, "json")) {
		snprintf(err, errlen,
		    "%s: message '%s' is not one of text, json",
		    where(host, cfg, "message"), message);
		return VIGIL_ERR;
	}
	if (message != NULL &&
	    (streq(format, "text") || streq(format, "json")) &&
	    strcmp(message, format) != 0) {
		snprintf(err, errlen,
		    "%s: message '%s' contradicts format '%s'; write format = "
		    "\"rfc3164\" and message = \"%s\"",
		    where(host, cfg, "message"), message, format, message);
		return VIGIL_ERR;
	}
	return VIGIL_OK;
}

static int
validate_transport(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	int                     t    = transport_of(host, cfg);
	const char             *sock = host->cfg_string(cfg, "socket");
	const char             *addr = host->cfg_string(cfg, "address");
	int64_t                 max  = host->cfg_int(cfg, "max_message");
	struct sockaddr_storage ss;
	socklen_t               sslen;

	if (t < 0) {
		snprintf(err, errlen,
		    "%s: transport '%s' is not one of syslog, unix, udp, tcp",
		    where(host, cfg, "transport"),
		    host->cfg_string(cfg, "transport"));
		return VIGIL_ERR;
	}
	if (t == T_SYSLOG &&
	    streq(host->cfg_string(cfg, "format"), "rfc5424")) {
		snprintf(err, errlen,
		    "%s: format rfc5424 needs transport unix, udp or tcp "
		    "(syslog(3) writes its own RFC 3164 header)",
		    where(host, cfg, "format"));
		return VIGIL_ERR;
	}
	if (sock != NULL && sock[0] != '\0' && t != T_UNIX) {
		snprintf(err, errlen, "%s: socket is for transport unix",
		    where(host, cfg, "socket"));
		return VIGIL_ERR;
	}
	if (sock != NULL && sock[0] != '\0' &&
	    (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path) ||
	        sock[strlen(sock) - 1] == '/')) {
		snprintf(err, errlen,
		    "%s: socket '%s' must name a socket in under %zu bytes",
		    where(host, cfg, "socket"), sock,
		    sizeof(((struct sockaddr_un *)0)->sun_path));
		return VIGIL_ERR;
	}
	if (addr != NULL && t != T_UDP && t != T_TCP) {
		snprintf(err, errlen, "%s: address is for transport udp or tcp",
		    where(host, cfg, "address"));
		return VIGIL_ERR;
	}
	if ((t == T_UDP || t == T_TCP) && addr == NULL) {
		snprintf(err, errlen,
		    "%s: transport %s needs an address, e.g. 127.0.0.1:514",
		    where(host, cfg, "transport"), t == T_UDP ? "udp" : "tcp");
		return VIGIL_ERR;
	}
	if ((t == T_UDP || t == T_TCP) &&
	    address_parse(addr, &ss, &sslen) != 0) {
		snprintf(err, errlen,
		    "%s: address '%s' must be a numeric IPv4 or IPv6 address "
		    "and a port, e.g. 127.0.0.1:514 or [::1]:514 (names are "
		    "not resolved: that could block the daemon)",
		    where(host, cfg, "address"), addr);
		return VIGIL_ERR;
	}
	if (t == T_UDP && max > UDP_MESSAGE_MAX) {
		snprintf(err, errlen,
		    "%s: max_message must be at most %d over udp",
		    where(host, cfg, "max_message"), UDP_MESSAGE_MAX);
		return VIGIL_ERR;
	}
	return VIGIL_OK;
}

static int
syslog_validate(
    const vigil_host *host, const vigil_cfg *cfg, char *err, size_t errlen)
{
	const char *facility = host->cfg_string(cfg, "facility");
	const char *ident    = host->cfg_string(cfg, "ident");
	const char *hostname = host->cfg_string(cfg, "hostname");
	const char *sd_id    = host->cfg_string(cfg, "sd_id");
	int         f;

	if (facility_parse(facility, &f) != 0) {
		snprintf(err, errlen,
		    "%s: facility '%s' is not one of user, daemon, auth, "
		    "local0 to local7",
		    where(host, cfg, "facility"), facility ? facility : "");
		return VIGIL_ERR;
	}
	if (ident == NULL || !ident_valid(ident)) {
		snprintf(err, errlen,
		    "%s: ident '%s' must be 1 to %d of letters, digits, '.', "
		    "'_', '-' and '/'",
		    where(host, cfg, "ident"), ident ? ident : "", IDENT_MAX);
		return VIGIL_ERR;
	}
	if (hostname != NULL &&
	    !sl_printusascii(hostname, 1, SL_HOSTNAME_MAX)) {
		snprintf(err, errlen,
		    "%s: hostname '%s' must be 1 to %d printable US-ASCII "
		    "characters",
		    where(host, cfg, "hostname"), hostname, SL_HOSTNAME_MAX);
		return VIGIL_ERR;
	}
	if (!sl_sd_id_valid(sd_id)) {
		snprintf(err, errlen,
		    "%s: sd_id '%s' must be name@number (an enterprise "
		    "number), at most %d printable US-ASCII characters but "
		    "'=', ']', '\"' and space",
		    where(host, cfg, "sd_id"), sd_id ? sd_id : "",
		    SL_SDNAME_MAX);
		return VIGIL_ERR;
	}
	if (validate_format(host, cfg, err, errlen) != VIGIL_OK ||
	    validate_transport(host, cfg, err, errlen) != VIGIL_OK)
		return VIGIL_ERR;
	if (host->cfg_int(cfg, "max_message") < 256 ||
	    (streq(host->cfg_string(cfg, "format"), "rfc5424") &&
	        host->cfg_int(cfg, "max_message") < SL_5424_MIN_MESSAGE)) {
		snprintf(err, errlen, "%s: max_message must be at least %d",
		    where(host, cfg, "max_message"),
		    streq(host->cfg_string(cfg, "format"), "rfc5424")
		        ? SL_5424_MIN_MESSAGE
		        : 256);
		return VIGIL_ERR;
	}
	return VIGIL_OK;
}

static void
syslog_destroy(void *instance)
{
	syslog_sink *s = instance;

	if (s == NULL)
		return;
	dgram_close(s);
	tcp_drop(s);
	if (s->tcp.complete)
		event_free(s->tcp.complete);
	if (s->tcp.backoff)
		event_free(s->tcp.backoff);
	/* syslog(3) keeps a pointer to our ident: take it back. */
	if (s->transport == T_SYSLOG && s->ident != NULL)
		closelog();
	free(s->tcp.q);
	free(s->ident);
	free(s->hostname);
	free(s->sd_id);
	free(s->peer);
	free(s->frame);
	free(s);
}

/* The system's host name, or "-" (NILVALUE) when it is unfit. */
static char *
system_hostname(void)
{
	char name[SL_HOSTNAME_MAX + 1];

	if (gethostname(name, sizeof(name)) != 0)
		return strdup("-");
	name[sizeof(name) - 1] = '\0';
	return strdup(sl_printusascii(name, 1, SL_HOSTNAME_MAX) ? name : "-");
}

static int
init_transport(syslog_sink *s, const vigil_cfg *cfg)
{
	const vigil_host *host = s->host;
	const char       *sock = host->cfg_string(cfg, "socket");
	const char       *addr = host->cfg_string(cfg, "address");

	s->transport = transport_of(host, cfg);
	switch (s->transport) {
	case T_UNIX:
		s->peer = strdup(
		    sock != NULL && sock[0] != '\0' ? sock : DEFAULT_UNIX_LOG);
		return s->peer != NULL ? 0 : -1;
	case T_UDP:
	case T_TCP:
		if (address_parse(addr, &s->addr, &s->addr_len) != 0 ||
		    (s->peer = strdup(addr)) == NULL)
			return -1;
		break;
	default: return 0;
	}
	if (s->transport == T_UDP)
		return 0;
	s->base           = host->event_base(s->ctx);
	s->tcp.cap        = (size_t)host->cfg_int(cfg, "queue");
	s->tcp.backoff_ms = BACKOFF_MIN_MS;
	s->timeout_ms     = host->cfg_int(cfg, "timeout_ms");
	s->tcp.q          = calloc(s->tcp.cap, sizeof(*s->tcp.q));
	s->tcp.complete   = event_new(s->base, -1, 0, tcp_complete, s);
	s->tcp.backoff    = evtimer_new(s->base, tcp_backoff_over, s);
	return s->tcp.q && s->tcp.complete && s->tcp.backoff ? 0 : -1;
}

static int
syslog_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	const char  *format   = host->cfg_string(cfg, "format");
	const char  *message  = host->cfg_string(cfg, "message");
	const char  *hostname = host->cfg_string(cfg, "hostname");
	syslog_sink *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto nomem;
	s->host     = host;
	s->ctx      = ctx;
	s->fd       = -1;
	s->facility = LOG_DAEMON;
	facility_parse(host->cfg_string(cfg, "facility"), &s->facility);
	s->rfc5424     = streq(format, "rfc5424");
	s->json        = streq(format, "json") || streq(message, "json");
	s->max_message = (size_t)host->cfg_int(cfg, "max_message");
	if (s->max_message < 256)
		s->max_message = 256;
	s->ident    = strdup(host->cfg_string(cfg, "ident"));
	s->hostname = hostname ? strdup(hostname) : system_hostname();
	s->sd_id    = strdup(host->cfg_string(cfg, "sd_id"));
	s->frame    = malloc(SL_FRAME_PREFIX_MAX + s->max_message + 1);
	if (s->ident == NULL || s->hostname == NULL || s->sd_id == NULL ||
	    s->frame == NULL)
		goto nomem;
	s->buf = s->frame + SL_FRAME_PREFIX_MAX;
	if (init_transport(s, cfg) != 0)
		goto nomem;
	tzset();
	*instance = s;
	return VIGIL_OK;
nomem:
	host->log(ctx, VIGIL_LOG_ERR, "out of memory");
	syslog_destroy(s);
	return VIGIL_ERR;
}

/* Connects now so that a wrong address shows at start; not fatal, as the
 * receiver may come up later. */
static int
syslog_start(void *instance)
{
	syslog_sink *s = instance;

	if ((s->transport == T_UNIX || s->transport == T_UDP) && s->fd < 0 &&
	    dgram_open(s) != 0)
		s->host->log(s->ctx, VIGIL_LOG_WARNING,
		    "%s: %s; will try again with each alert", s->peer,
		    strerror(errno));
	if (s->transport == T_TCP && s->tcp.state == LINK_DOWN)
		tcp_connect(s);
	return VIGIL_OK;
}

/* Datagrams are sent by then; TCP messages still queued complete as the
 * host drains, until destroy. */
static void
syslog_stop(void *instance)
{
	syslog_sink *s = instance;

	dgram_close(s);
	if (s->transport == T_SYSLOG)
		closelog();
}

static const vigil_plugin syslog_plugin = {
    VIGIL_PLUGIN_HEADER,
    .name    = "syslog",
    .version = "1.1",
    .kind    = VIGIL_PLUGIN_SINK,
    .description =
        "Sends every alert to syslog as one message, RFC 3164 or RFC 5424 "
        "with the alert as structured data, key=value text or JSON, "
        "through syslog(3) or without blocking to a unix datagram socket, "
        "over UDP or over TCP (RFC 6587 octet counting).",
    .settings = syslog_settings,
    .validate = syslog_validate,
    .init     = syslog_init,
    .start    = syslog_start,
    .stop     = syslog_stop,
    .destroy  = syslog_destroy,
    .emit     = syslog_emit,
};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);

VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &syslog_plugin;
}
