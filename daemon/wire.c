/*
 * wire.c - encoding and decoding of the vigild <-> vigil-worker messages
 * (layout in wire.h). Decoding checks every length against what is left.
 */
#include <string.h>

#include "wire.h"

/* nng grows a message to the exact size on every append (a zeroed copy):
 * keep room ahead, doubling, so that a batch is built in O(n). */
static int
wire_room(nng_msg *m, size_t more)
{
	size_t need = nng_msg_len(m) + more, cap = nng_msg_capacity(m);

	if (need <= cap)
		return 0;
	if (need < 2 * cap)
		need = 2 * cap;
	if (need < 4096)
		need = 4096;
	return nng_msg_reserve(m, need) == 0 ? 0 : -1;
}

int
wire_begin(nng_msg *m, uint32_t magic, uint32_t generation, uint64_t batch)
{
	if (nng_msg_append_u32(m, magic) != 0 ||
	    nng_msg_append_u32(m, generation) != 0 ||
	    nng_msg_append_u64(m, batch) != 0 || nng_msg_append_u32(m, 0) != 0)
		return -1;
	return 0;
}

void
wire_finish(nng_msg *m, uint32_t count)
{
	uint8_t *b = nng_msg_body(m);

	b[16] = (uint8_t)(count >> 24);
	b[17] = (uint8_t)(count >> 16);
	b[18] = (uint8_t)(count >> 8);
	b[19] = (uint8_t)count;
}

int
wire_add_post(nng_msg *m, uint64_t seq, unsigned flags, const char *const *jur,
    size_t n_jur, const char *buf, size_t len)
{
	uint8_t head[2] = {(uint8_t)flags, (uint8_t)n_jur};

	if (n_jur > WIRE_MAX_JUR || len > UINT32_MAX || flags > UINT8_MAX)
		return -1;
	if (wire_room(m, 14 + n_jur * 8 + len) != 0)
		return -1;
	if (nng_msg_append_u64(m, seq) != 0 ||
	    nng_msg_append(m, head, sizeof(head)) != 0)
		return -1;
	for (size_t i = 0; i < n_jur; i++) {
		size_t  jl = strlen(jur[i]);
		uint8_t l;
		if (jl >= sizeof(((wire_post *)0)->jur[0]))
			return -1;
		l = (uint8_t)jl;
		if (nng_msg_append(m, &l, 1) != 0 ||
		    nng_msg_append(m, jur[i], jl) != 0)
			return -1;
	}
	if (nng_msg_append_u32(m, (uint32_t)len) != 0 ||
	    nng_msg_append(m, buf, len) != 0)
		return -1;
	return 0;
}

int
wire_add_result(nng_msg *m, uint64_t seq, int status, int severity,
    const char *buf, size_t len, const char *alerts, size_t alerts_len)
{
	uint8_t b[2] = {(uint8_t)status, (uint8_t)severity};

	if (len > UINT32_MAX || alerts_len > UINT32_MAX ||
	    wire_room(m, 18 + len + alerts_len) != 0)
		return -1;
	if (nng_msg_append_u64(m, seq) != 0 || nng_msg_append(m, b, 2) != 0 ||
	    nng_msg_append_u32(m, (uint32_t)len) != 0 ||
	    nng_msg_append(m, buf, len) != 0 ||
	    nng_msg_append_u32(m, (uint32_t)alerts_len) != 0 ||
	    (alerts_len > 0 && nng_msg_append(m, alerts, alerts_len) != 0))
		return -1;
	return 0;
}

static int
take(wire_reader *r, const uint8_t **out, size_t n)
{
	if (r->left < n)
		return -1;
	*out = r->p;
	r->p += n;
	r->left -= n;
	return 0;
}

static int
take_u8(wire_reader *r, uint8_t *v)
{
	const uint8_t *p;

	if (take(r, &p, 1) != 0)
		return -1;
	*v = p[0];
	return 0;
}

static int
take_u32(wire_reader *r, uint32_t *v)
{
	const uint8_t *p;

	if (take(r, &p, 4) != 0)
		return -1;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
	    p[3];
	return 0;
}

static int
take_u64(wire_reader *r, uint64_t *v)
{
	uint32_t hi, lo;

	if (take_u32(r, &hi) != 0 || take_u32(r, &lo) != 0)
		return -1;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

int
wire_read_header(
    wire_reader *r, const nng_msg *m, uint32_t magic, wire_header *h)
{
	uint32_t mg;

	r->p    = nng_msg_body((nng_msg *)m);
	r->left = nng_msg_len(m);
	if (take_u32(r, &mg) != 0 || mg != magic)
		return -1;
	if (take_u32(r, &h->generation) != 0 || take_u64(r, &h->batch) != 0 ||
	    take_u32(r, &h->count) != 0)
		return -1;
	return 0;
}

int
wire_next_post(wire_reader *r, wire_post *p)
{
	uint8_t        n, l, flags;
	uint32_t       len;
	const uint8_t *b;

	if (take_u64(r, &p->seq) != 0 || take_u8(r, &flags) != 0 ||
	    take_u8(r, &n) != 0 || n > WIRE_MAX_JUR)
		return -1;
	p->flags = flags;
	p->n_jur = n;
	for (size_t i = 0; i < n; i++) {
		if (take_u8(r, &l) != 0 || l >= sizeof(p->jur[i]) ||
		    take(r, &b, l) != 0)
			return -1;
		memcpy(p->jur[i], b, l);
		p->jur[i][l] = '\0';
	}
	if (take_u32(r, &len) != 0 || take(r, &b, len) != 0)
		return -1;
	p->buf = (const char *)b;
	p->len = len;
	return 0;
}

int
wire_next_result(wire_reader *r, wire_result *res)
{
	uint8_t        st, sev;
	uint32_t       len, alen;
	const uint8_t *b, *ab;

	if (take_u64(r, &res->seq) != 0 || take_u8(r, &st) != 0 ||
	    take_u8(r, &sev) != 0 || take_u32(r, &len) != 0 ||
	    take(r, &b, len) != 0 || take_u32(r, &alen) != 0 ||
	    take(r, &ab, alen) != 0)
		return -1;
	res->alerts     = alen ? (const char *)ab : NULL;
	res->alerts_len = alen;
	if (st > WIRE_INVALID || sev > 3)
		return -1;
	res->status   = st;
	res->severity = sev;
	res->buf      = (const char *)b;
	res->len      = len;
	return 0;
}
