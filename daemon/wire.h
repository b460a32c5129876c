/*
 * wire.h - the messages between vigild and vigil-worker over nng REQ/REP.
 *
 * A request carries a batch of raw posts; the reply carries one result per
 * post, in any order, matched by sequence number. Integers are big-endian.
 *
 *   request: magic "VGQ2" | u32 generation | u64 batch | u32 count |
 *            count x ( u64 seq | u8 flags | u8 n_jur |
 *                      n_jur x (u8 len | bytes) | u32 len | bytes )
 *   reply:   magic "VGR2" | u32 generation | u64 batch | u32 count |
 *            count x ( u64 seq | u8 status | u8 severity | u32 len | bytes |
 *                      u32 alerts_len | alerts )
 *
 * A result's bytes are the verdict JSON (status WIRE_SCORED) or a reason
 * (WIRE_INVALID); a post sent with WIRE_BRIEF gets no verdict JSON, only
 * its severity and alerts, which is all an input's posts need; alerts are the
 * verdict's alerts as alert_set_encode writes them (empty when there are none).
 * Both sides check every length against the message: a peer is never trusted to
 * be well-formed.
 */
#ifndef VIGIL_WIRE_H
#define VIGIL_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#define WIRE_REQ_MAGIC 0x56475132u /* "VGQ2" */
#define WIRE_REP_MAGIC 0x56475232u /* "VGR2" */

enum { WIRE_SCORED = 0, WIRE_INVALID = 1 };

/* Post flags. */
#define WIRE_BRIEF 0x1u /* no verdict JSON wanted: severity and alerts */

typedef struct wire_header {
	uint32_t generation;
	uint64_t batch;
	uint32_t count;
} wire_header;

/* Starts a message with its header; count is patched by wire_finish. */
int wire_begin(nng_msg *m, uint32_t magic, uint32_t generation, uint64_t batch);
int wire_add_post(nng_msg *m, uint64_t seq, unsigned flags,
    const char *const *jur, size_t n_jur, const char *buf, size_t len);
int wire_add_result(nng_msg *m, uint64_t seq, int status, int severity,
    const char *buf, size_t len, const char *alerts, size_t alerts_len);
void wire_finish(nng_msg *m, uint32_t count);

/* Reading: a cursor over a message body. */
typedef struct wire_reader {
	const uint8_t *p;
	size_t         left;
} wire_reader;

/* Checks magic and reads the header; -1 on a malformed message. */
int wire_read_header(
    wire_reader *r, const nng_msg *m, uint32_t magic, wire_header *h);

#define WIRE_MAX_JUR 16

typedef struct wire_post {
	uint64_t    seq;
	unsigned    flags; /* WIRE_BRIEF */
	size_t      n_jur;
	char        jur[WIRE_MAX_JUR][16];
	const char *buf; /* points into the message */
	size_t      len;
} wire_post;

typedef struct wire_result {
	uint64_t    seq;
	int         status;
	int         severity;
	const char *buf; /* points into the message */
	size_t      len;
	const char *alerts; /* ditto */
	size_t      alerts_len;
} wire_result;

/* Each returns 0, or -1 when the message is truncated or malformed. */
int wire_next_post(wire_reader *r, wire_post *p);
int wire_next_result(wire_reader *r, wire_result *res);

#endif
