/*
 * test_wire.c - the vigild <-> worker messages: round trips, and every
 * kind of truncation and corruption rejected rather than over-read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

static nng_msg *
request_with_two_posts(void)
{
	nng_msg    *m;
	const char *jur[] = {"kz", "fr"};

	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	assert_int_equal(wire_begin(m, WIRE_REQ_MAGIC, 7, 42), 0);
	assert_int_equal(
	    wire_add_post(m, 1, 0, jur, 2, "{\"id\":\"a\"}", 10), 0);
	assert_int_equal(
	    wire_add_post(m, 99, WIRE_BRIEF, NULL, 0, "опрос", strlen("опрос")),
	    0);
	wire_finish(m, 2);
	return m;
}

static void
test_request_round_trip(void **state)
{
	nng_msg    *m = request_with_two_posts();
	wire_reader r;
	wire_header h;
	wire_post   p;

	(void)state;
	assert_int_equal(wire_read_header(&r, m, WIRE_REQ_MAGIC, &h), 0);
	assert_int_equal(h.generation, 7);
	assert_int_equal(h.batch, 42);
	assert_int_equal(h.count, 2);
	assert_int_equal(wire_next_post(&r, &p), 0);
	assert_int_equal(p.seq, 1);
	assert_int_equal(p.flags, 0);
	assert_int_equal(p.n_jur, 2);
	assert_string_equal(p.jur[0], "kz");
	assert_string_equal(p.jur[1], "fr");
	assert_int_equal(p.len, 10);
	assert_memory_equal(p.buf, "{\"id\":\"a\"}", 10);
	assert_int_equal(wire_next_post(&r, &p), 0);
	assert_int_equal(p.seq, 99);
	assert_int_equal(p.flags, WIRE_BRIEF);
	assert_int_equal(p.n_jur, 0);
	assert_memory_equal(p.buf, "опрос", strlen("опрос"));
	assert_int_equal(r.left, 0);
	/* Nothing more to read. */
	assert_int_equal(wire_next_post(&r, &p), -1);
	nng_msg_free(m);
}

static void
test_reply_round_trip(void **state)
{
	nng_msg    *m;
	wire_reader r;
	wire_header h;
	wire_result res;

	(void)state;
	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	assert_int_equal(wire_begin(m, WIRE_REP_MAGIC, 3, 5), 0);
	assert_int_equal(
	    wire_add_result(m, 11, WIRE_SCORED, 3, "{}", 2, "\0\0\0\0", 4), 0);
	assert_int_equal(
	    wire_add_result(m, 12, WIRE_INVALID, 0, "bad", 3, NULL, 0), 0);
	wire_finish(m, 2);
	assert_int_equal(wire_read_header(&r, m, WIRE_REP_MAGIC, &h), 0);
	assert_int_equal(h.count, 2);
	assert_int_equal(wire_next_result(&r, &res), 0);
	assert_int_equal(res.seq, 11);
	assert_int_equal(res.status, WIRE_SCORED);
	assert_int_equal(res.severity, 3);
	assert_int_equal(res.alerts_len, 4);
	assert_memory_equal(res.alerts, "\0\0\0\0", 4);
	assert_int_equal(wire_next_result(&r, &res), 0);
	assert_int_equal(res.status, WIRE_INVALID);
	assert_memory_equal(res.buf, "bad", 3);
	assert_null(res.alerts);
	assert_int_equal(res.alerts_len, 0);
	nng_msg_free(m);
}

static void
test_wrong_magic(void **state)
{
	nng_msg    *m = request_with_two_posts();
	wire_reader r;
	wire_header h;

	(void)state;
	assert_int_equal(wire_read_header(&r, m, WIRE_REP_MAGIC, &h), -1);
	nng_msg_free(m);
}

/* Every prefix of a valid message must be refused somewhere, never
 * read past its end (ASan watches). */
static void
test_every_truncation(void **state)
{
	nng_msg *full = request_with_two_posts();
	size_t   len  = nng_msg_len(full);

	(void)state;
	for (size_t cut = 0; cut < len; cut++) {
		nng_msg    *m;
		wire_reader r;
		wire_header h;
		wire_post   p;
		int         ok = 1;

		assert_int_equal(nng_msg_alloc(&m, 0), 0);
		assert_int_equal(nng_msg_append(m, nng_msg_body(full), cut), 0);
		if (wire_read_header(&r, m, WIRE_REQ_MAGIC, &h) != 0)
			ok = 0;
		for (uint32_t i = 0; ok && i < h.count; i++)
			if (wire_next_post(&r, &p) != 0)
				ok = 0;
		assert_int_equal(ok, 0);
		nng_msg_free(m);
	}
	nng_msg_free(full);
}

static void
test_lengths_beyond_message(void **state)
{
	nng_msg    *m;
	wire_reader r;
	wire_header h;
	wire_result res;
	uint8_t     st[2] = {0, 0};

	(void)state;
	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	assert_int_equal(wire_begin(m, WIRE_REP_MAGIC, 1, 1), 0);
	/* A result claiming 4 GiB of data. */
	assert_int_equal(nng_msg_append_u64(m, 1), 0);
	assert_int_equal(nng_msg_append(m, st, 2), 0);
	assert_int_equal(nng_msg_append_u32(m, UINT32_MAX), 0);
	wire_finish(m, 1);
	assert_int_equal(wire_read_header(&r, m, WIRE_REP_MAGIC, &h), 0);
	assert_int_equal(wire_next_result(&r, &res), -1);
	nng_msg_free(m);

	/* An unknown status or severity. */
	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	assert_int_equal(wire_begin(m, WIRE_REP_MAGIC, 1, 1), 0);
	assert_int_equal(wire_add_result(m, 1, 7, 0, "", 0, NULL, 0), 0);
	wire_finish(m, 1);
	assert_int_equal(wire_read_header(&r, m, WIRE_REP_MAGIC, &h), 0);
	assert_int_equal(wire_next_result(&r, &res), -1);
	nng_msg_free(m);
}

static void
test_jurisdiction_limits(void **state)
{
	nng_msg    *m;
	const char *many[WIRE_MAX_JUR + 1];
	const char *longname[] = {"a-jurisdiction-name-too-long"};

	(void)state;
	for (size_t i = 0; i <= WIRE_MAX_JUR; i++)
		many[i] = "kz";
	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	assert_int_equal(wire_begin(m, WIRE_REQ_MAGIC, 1, 1), 0);
	assert_int_equal(
	    wire_add_post(m, 1, 0, many, WIRE_MAX_JUR + 1, "x", 1), -1);
	assert_int_equal(wire_add_post(m, 1, 0, longname, 1, "x", 1), -1);
	assert_int_equal(wire_add_post(m, 1, 0x100, NULL, 0, "x", 1), -1);
	nng_msg_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_round_trip),
	    cmocka_unit_test(test_reply_round_trip),
	    cmocka_unit_test(test_wrong_magic),
	    cmocka_unit_test(test_every_truncation),
	    cmocka_unit_test(test_lengths_beyond_message),
	    cmocka_unit_test(test_jurisdiction_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
