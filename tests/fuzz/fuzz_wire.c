/*
 * fuzz_wire.c - libFuzzer harness for the readers of wire.h: a worker
 * reads requests and vigild reads replies from peers that may be on other
 * machines. Any bytes must be refused or read into posts and results
 * whose every length lies inside the message.
 */
#include <stdint.h>
#include <string.h>

#include <nng/nng.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
inside(const nng_msg *m, const char *p, size_t len)
{
	const char *body = nng_msg_body((nng_msg *)m);

	if (len > 0 && (p < body || p + len > body + nng_msg_len(m)))
		__builtin_trap();
}

static void
read_requests(const nng_msg *m)
{
	wire_reader r;
	wire_header h;
	wire_post   p;

	if (wire_read_header(&r, m, WIRE_REQ_MAGIC, &h) != 0)
		return;
	for (uint32_t i = 0; i < h.count && wire_next_post(&r, &p) == 0; i++) {
		if (p.n_jur > WIRE_MAX_JUR || p.flags > 0xff)
			__builtin_trap();
		for (size_t j = 0; j < p.n_jur; j++)
			if (strlen(p.jur[j]) >= sizeof(p.jur[j]))
				__builtin_trap();
		inside(m, p.buf, p.len);
	}
}

static void
read_replies(const nng_msg *m)
{
	wire_reader r;
	wire_header h;
	wire_result res;

	if (wire_read_header(&r, m, WIRE_REP_MAGIC, &h) != 0)
		return;
	for (uint32_t i = 0; i < h.count && wire_next_result(&r, &res) == 0;
	     i++) {
		inside(m, res.buf, res.len);
		inside(m, res.alerts, res.alerts_len);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	nng_msg *m;

	if (nng_msg_alloc(&m, 0) != 0)
		return 0;
	if (nng_msg_append(m, data, size) == 0) {
		read_requests(m);
		read_replies(m);
	}
	nng_msg_free(m);
	return 0;
}
