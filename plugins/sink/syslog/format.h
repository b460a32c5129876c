/*
 * format.h - the messages of the syslog sink: the alert as key=value text
 * or JSON, the RFC 3164 and RFC 5424 headers, RFC 5424 structured data
 * and RFC 6587 octet-counting frames. Pure functions over caller buffers,
 * so that the unit tests check them byte for byte.
 */
#ifndef VIGIL_SYSLOG_FORMAT_H
#define VIGIL_SYSLOG_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include <vigil/plugin.h>

/* The enterprise number reserved for documentation (RFC 5612). */
#define SL_SD_ID_DEFAULT "vigil@32473"

/* RFC 5424 field limits. */
#define SL_HOSTNAME_MAX 255
#define SL_APPNAME_MAX  48
#define SL_MSGID_MAX    32
#define SL_SDNAME_MAX   32

/* Room a message needs, with format rfc5424, for the longest header, the
 * structured data's alert id and the BOM. */
#define SL_5424_MIN_MESSAGE 480

/* Longest octet-counting prefix: 20 digits and a space. */
#define SL_FRAME_PREFIX_MAX 21

/* A message being built into p[0..cap), cut whole characters at a time:
 * once something does not fit, cut is set and nothing more goes in. */
typedef struct sl_msg {
	char  *p;
	size_t len, cap;
	int    cut;
	int    in_quote;
} sl_msg;

/* What a header says besides the message. */
typedef struct sl_header {
	int         pri;      /* facility | severity, as <syslog.h> has them */
	int64_t     time_us;  /* microseconds since the epoch */
	const char *hostname; /* NULL: left out (RFC 3164 on a local socket) */
	const char *app;      /* ident */
	long        pid;
	const char *sd_id; /* RFC 5424: the SD-ID of the alert's element */
} sl_header;

/* PRI of an alert: facility (LOG_DAEMON, ...) | a severity by the
 * alert's, alert -> LOG_CRIT, warning -> LOG_WARNING, notice ->
 * LOG_NOTICE, none -> LOG_INFO. */
int sl_pri(int facility, vigil_severity sev);

/* The message body: key=value text or the alert document. */
void sl_format_text(sl_msg *m, const vigil_alert *a);
void sl_format_json(sl_msg *m, const vigil_alert *a);

/* "<PRI>Mmm dd hh:mm:ss [HOSTNAME ]ident[pid]: " in local time. */
void sl_format_3164_header(sl_msg *m, const sl_header *h);

/* A whole RFC 5424 message:
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] BOM MSG
 * The structured data holds the alert's fields; those that do not fit
 * are left out (and cut set); MSG is cut at a character boundary. */
void sl_format_5424(
    sl_msg *m, const sl_header *h, const vigil_alert *a, int json);

/* RFC 3339 time in UTC with microseconds into out (28 bytes or more). */
void sl_timestamp(int64_t time_us, char *out, size_t outlen);

/* The MSGID of an alert: its rule id when that is 1 to 32 printable
 * US-ASCII characters, else "-" (the rule is in the structured data). */
const char *sl_msgid(const char *rule);

/* True when s is min..max printable US-ASCII characters (33..126). */
int sl_printusascii(const char *s, size_t min, size_t max);

/* True when s is a valid SD-ID with an enterprise number, "name@digits"
 * (dots allowed among the digits), at most 32 characters. */
int sl_sd_id_valid(const char *s);

/* Appends one SD-PARAM ` name="value"` with '"', '\' and ']' escaped,
 * control characters turned into spaces and bytes that are not UTF-8
 * into U+FFFD; whole or not at all (keep bytes free after it). Returns
 * 0, or -1 when it did not fit. Absent (NULL or empty) values add
 * nothing and return 0. */
int sl_sd_param(sl_msg *m, const char *name, const char *value, size_t keep);

/* The RFC 6587 octet-counting prefix "LEN " into out; returns its length. */
size_t sl_frame_prefix(size_t msg_len, char *out, size_t outlen);

#endif
