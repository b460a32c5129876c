/*
 * test_redis_reply.c - the redis-streams input's reading of replies
 * (plugins/input/redis-streams/reply.c): stream ids, XREADGROUP and
 * XAUTOCLAIM replies of every shape a server may send, as hiredis's own
 * reader builds them from RESP bytes, and the password file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "reply.h"

/* Builds a reply from RESP text, as hiredis would from the socket. */
static redisReply *
resp_n(const char *text, size_t len)
{
	redisReader *rd    = redisReaderCreate();
	void        *reply = NULL;

	assert_non_null(rd);
	assert_int_equal(redisReaderFeed(rd, text, len), REDIS_OK);
	assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
	assert_non_null(reply);
	redisReaderFree(rd);
	return reply;
}

static redisReply *
resp(const char *text)
{
	return resp_n(text, strlen(text));
}

/* What a walk saw, as text: "s:<name>:<n>" and "e:<id>:<kind>:<value>". */
struct seen {
	char log[2048];
	int  stop_at; /* entry number that stops the walk, or 0 */
	int  entries;
};

static void
add(struct seen *s, const char *fmt, ...)
{
	size_t  used = strlen(s->log);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->log + used, sizeof(s->log) - used, fmt, ap);
	va_end(ap);
}

static int
on_stream(void *arg, const char *name, size_t len, size_t n)
{
	add(arg, "s:%.*s:%zu ", (int)len, name, n);
	return 0;
}

static int
on_entry(void *arg, const rs_item *it)
{
	struct seen *s = arg;

	add(s, "e:%.*s:%d:%.*s ", (int)it->id_len, it->id_text, (int)it->kind,
	    (int)it->value_len, it->value ? it->value : "");
	return ++s->entries == s->stop_at ? 7 : 0;
}

static int
walk(const char *text, struct seen *s, char *err, size_t errlen)
{
	rs_visitor  v = {.arg = s, .stream = on_stream, .entry = on_entry};
	redisReply *r = resp(text);
	int         rc;

	rc = rs_walk_read(r, "post", &v, err, errlen);
	freeReplyObject(r);
	return rc;
}

static void
test_ids(void **state)
{
	rs_id a, b;

	(void)state;
	assert_int_equal(rs_id_parse("1700000000000-3", 15, &a), 0);
	assert_true(a.ms == 1700000000000ULL && a.seq == 3);
	assert_int_equal(
	    rs_id_parse("18446744073709551615-18446744073709551615", 41, &b),
	    0);
	assert_true(b.ms == UINT64_MAX && b.seq == UINT64_MAX);
	assert_true(rs_id_cmp(&a, &b) < 0 && rs_id_cmp(&b, &a) > 0);
	assert_int_equal(rs_id_cmp(&a, &a), 0);
	/* The sequence decides within a millisecond. */
	b.ms  = a.ms;
	b.seq = 2;
	assert_true(rs_id_cmp(&a, &b) > 0);
	assert_int_equal(rs_id_parse("18446744073709551616-0", 22, &a), -1);
	assert_int_equal(rs_id_parse("12", 2, &a), -1);
	assert_int_equal(rs_id_parse("-1", 2, &a), -1);
	assert_int_equal(rs_id_parse("1-", 2, &a), -1);
	assert_int_equal(rs_id_parse("1-x", 3, &a), -1);
	assert_int_equal(rs_id_parse("1-2-3", 5, &a), -1);
	assert_int_equal(rs_id_parse("+1-2", 4, &a), -1);
	/* Only len bytes count. */
	assert_int_equal(rs_id_parse("5-6junk", 3, &a), 0);
	assert_true(a.ms == 5 && a.seq == 6);
}

static void
test_start_ids(void **state)
{
	(void)state;
	assert_true(rs_start_id_valid("$"));
	assert_true(rs_start_id_valid("0"));
	assert_true(rs_start_id_valid("0-0"));
	assert_true(rs_start_id_valid("1700000000000-5"));
	assert_true(rs_start_id_valid("1700000000000"));
	assert_false(rs_start_id_valid(">"));
	assert_false(rs_start_id_valid(""));
	assert_false(rs_start_id_valid("latest"));
	assert_false(rs_start_id_valid(NULL));
}

static void
test_read_entries(void **state)
{
	struct seen s = {0};
	char        err[256];

	(void)state;
	/* Two streams; the post field among others; one entry without it,
	 * one whose post is no string, one trimmed away (nil). */
	assert_int_equal(
	    walk("*2\r\n"
	         "*2\r\n$5\r\nposts\r\n*2\r\n"
	         "*2\r\n$3\r\n1-0\r\n*4\r\n$2\r\nts\r\n$1\r\n9\r\n"
	         "$4\r\npost\r\n$7\r\n{\"a\":1}\r\n"
	         "*2\r\n$3\r\n1-1\r\n*2\r\n$5\r\nother\r\n$1\r\nx\r\n"
	         "*2\r\n$4\r\nmore\r\n*2\r\n"
	         "*2\r\n$3\r\n2-0\r\n*2\r\n$4\r\npost\r\n:12\r\n"
	         "*2\r\n$3\r\n3-0\r\n$-1\r\n",
	        &s, err, sizeof(err)),
	    0);
	assert_string_equal(s.log,
	    "s:posts:2 e:1-0:0:{\"a\":1} e:1-1:1: s:more:2 e:2-0:1: e:3-0:2: ");
}

static void
test_read_binary(void **state)
{
	struct seen s = {0};
	char        err[256];
	rs_visitor  v = {.arg = &s, .entry = on_entry};
	redisReply *r;

	(void)state;
	/* The value's length is the reply's, NULs included. */
	static const char text[] =
	    "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n4-0\r\n*2\r\n"
	    "$4\r\npost\r\n$3\r\na\0b\r\n";

	r = resp_n(text, sizeof(text) - 1);
	assert_int_equal(rs_walk_read(r, "post", &v, err, sizeof(err)), 0);
	assert_int_equal(s.entries, 1);
	assert_int_equal(
	    r->element[0]->element[1]->element[0]->element[1]->element[1]->len,
	    3);
	freeReplyObject(r);
}

static void
test_read_empty(void **state)
{
	struct seen s = {0};
	char        err[256];

	(void)state;
	/* BLOCK timed out. */
	assert_int_equal(walk("$-1\r\n", &s, err, sizeof(err)), 0);
	assert_int_equal(walk("*-1\r\n", &s, err, sizeof(err)), 0);
	assert_string_equal(s.log, "");
	/* History read to its end: the stream with no entries. */
	assert_int_equal(
	    walk("*1\r\n*2\r\n$5\r\nposts\r\n*0\r\n", &s, err, sizeof(err)), 0);
	assert_string_equal(s.log, "s:posts:0 ");
}

static void
test_read_stops(void **state)
{
	struct seen s = {.stop_at = 1};
	char        err[256];

	(void)state;
	assert_int_equal(walk("*1\r\n*2\r\n$1\r\ns\r\n*2\r\n"
	                      "*2\r\n$3\r\n1-0\r\n*0\r\n"
	                      "*2\r\n$3\r\n2-0\r\n*0\r\n",
	                     &s, err, sizeof(err)),
	    7);
	assert_string_equal(s.log, "s:s:2 e:1-0:1: ");
}

static void
test_read_bad_shapes(void **state)
{
	static const char *bad[] = {
	    ":1\r\n",                              /* not a list */
	    "+OK\r\n",                             /* a status */
	    "*1\r\n:1\r\n",                        /* stream not a list */
	    "*1\r\n*1\r\n$1\r\ns\r\n",             /* no entries */
	    "*1\r\n*2\r\n:1\r\n*0\r\n",            /* name not a string */
	    "*1\r\n*2\r\n$1\r\ns\r\n$1\r\nx\r\n",  /* entries no list */
	    "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n:5\r\n", /* entry no list */
	    "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*1\r\n$3\r\n1-0\r\n", /* no fields */
	    "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$2\r\nxy\r\n*0\r\n", /* id */
	    "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n:1\r\n*0\r\n",       /* id */
	    /* fields not pairs */
	    "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*1\r\n$"
	    "4\r\npost\r\n",
	    /* fields neither list nor nil */
	    "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n$1\r\nx\r\n",
	    /* an id longer than any id */
	    "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$42\r\n"
	    "000000000000000000001-00000000000000000000\r\n*0\r\n",
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct seen s = {0};

		err[0] = '\0';
		assert_int_equal(walk(bad[i], &s, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(
	    rs_walk_read(NULL, "post", &(rs_visitor){0}, err, sizeof(err)), -1);
}

static void
test_claim(void **state)
{
	struct seen s = {0};
	rs_visitor  v = {.arg = &s, .stream = on_stream, .entry = on_entry};
	char        err[256], next[RS_ID_MAX];
	redisReply *r;

	(void)state;
	/* Redis 7: cursor, entries, deleted ids. */
	r = resp("*3\r\n$3\r\n9-0\r\n*1\r\n*2\r\n$3\r\n5-0\r\n*2\r\n"
	         "$4\r\npost\r\n$2\r\n{}\r\n*1\r\n$3\r\n6-0\r\n");
	assert_int_equal(rs_walk_claim(r, "post", "posts", &v, next,
	                     sizeof(next), err, sizeof(err)),
	    0);
	assert_string_equal(next, "9-0");
	assert_string_equal(s.log, "s:posts:1 e:5-0:0:{} ");
	freeReplyObject(r);
	/* Redis 6.2: no deleted ids; the sweep is over. */
	s.log[0] = '\0';
	r        = resp("*2\r\n$3\r\n0-0\r\n*0\r\n");
	assert_int_equal(rs_walk_claim(r, "post", "posts", &v, next,
	                     sizeof(next), err, sizeof(err)),
	    0);
	assert_string_equal(next, "0-0");
	assert_string_equal(s.log, "s:posts:0 ");
	freeReplyObject(r);
	/* Bad shapes. */
	r = resp("*1\r\n$3\r\n0-0\r\n");
	assert_int_equal(rs_walk_claim(r, "post", "posts", &v, next,
	                     sizeof(next), err, sizeof(err)),
	    -1);
	freeReplyObject(r);
	r = resp("*2\r\n$4\r\nnext\r\n*0\r\n");
	assert_int_equal(rs_walk_claim(r, "post", "posts", &v, next,
	                     sizeof(next), err, sizeof(err)),
	    -1);
	freeReplyObject(r);
	r = resp("*2\r\n$3\r\n0-0\r\n:3\r\n");
	assert_int_equal(rs_walk_claim(r, "post", "posts", &v, next,
	                     sizeof(next), err, sizeof(err)),
	    -1);
	freeReplyObject(r);
	r = resp("-NOGROUP no such group\r\n");
	assert_int_equal(rs_walk_claim(r, "post", "posts", &v, next,
	                     sizeof(next), err, sizeof(err)),
	    -1);
	freeReplyObject(r);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_secret(void **state)
{
	char  dir[] = "/tmp/test_redis_reply.XXXXXX", path[64], err[256];
	char *s;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pw", dir);
	write_file(path, "s3cret\r\n");
	s = rs_read_secret(path, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(s, "s3cret");
	free(s);
	write_file(path, "first\nsecond\n");
	s = rs_read_secret(path, err, sizeof(err));
	assert_string_equal(s, "first");
	free(s);
	write_file(path, "");
	assert_null(rs_read_secret(path, err, sizeof(err)));
	assert_non_null(strstr(err, "empty"));
	write_file(path, "\n");
	assert_null(rs_read_secret(path, err, sizeof(err)));
	assert_non_null(strstr(err, "empty"));
	unlink(path);
	assert_null(rs_read_secret(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_start_ids),
	    cmocka_unit_test(test_read_entries),
	    cmocka_unit_test(test_read_binary),
	    cmocka_unit_test(test_read_empty),
	    cmocka_unit_test(test_read_stops),
	    cmocka_unit_test(test_read_bad_shapes),
	    cmocka_unit_test(test_claim),
	    cmocka_unit_test(test_secret),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
