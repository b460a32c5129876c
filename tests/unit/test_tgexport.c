/*
 * test_tgexport.c - the telegram-export input's reader (tgparse.c): how
 * exported messages become posts, and how bad messages and bad files are
 * reported, fed whole and a byte at a time.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "tgparse.h"

#define HEAD                                                                             \
	"{\"name\":\"Алматы жаңалықтары\",\"type\":\"public_channel\"," \
	"\"id\":1234567890123,\"messages\":["

static const tg_opts defaults = {.max_message = 65536, .date_offset = 0};

/* Parses text in pieces of step bytes (0: whole); returns the items as
 * a list and the result of the run in *rc. */
static tg_item *
parse(const tg_opts *o, const char *text, size_t step, int *rc, char *err,
    size_t errlen)
{
	tg_parser *p   = tg_parser_new(o);
	size_t     len = strlen(text), off = 0;
	tg_item   *head = NULL, **tail = &head, *it;

	assert_non_null(p);
	*rc = 0;
	while (off < len && *rc == 0) {
		size_t n = step == 0 || len - off < step ? len - off : step;
		*rc      = tg_parser_feed(p, text + off, n);
		off += n;
	}
	if (*rc == 0)
		*rc = tg_parser_finish(p);
	if (err != NULL)
		snprintf(err, errlen, "%s", tg_parser_error(p));
	while ((it = tg_parser_next(p)) != NULL) {
		*tail = it;
		tail  = &it->next;
	}
	tg_parser_free(p);
	return head;
}

static void
free_items(tg_item *it)
{
	while (it != NULL) {
		tg_item *next = it->next;
		tg_item_free(it);
		it = next;
	}
}

static size_t
count(const tg_item *it)
{
	size_t n = 0;

	for (; it != NULL; it = it->next)
		n++;
	return n;
}

static json_t *
post_of(const tg_item *it)
{
	json_error_t e;
	json_t      *v;

	assert_int_equal(it->kind, TG_POST);
	v = json_loads(it->post, 0, &e);
	assert_non_null(v);
	return v;
}

static const char *
str_at(json_t *v, const char *path)
{
	char    buf[128], *save = NULL, *k;
	json_t *cur = v;

	snprintf(buf, sizeof(buf), "%s", path);
	for (k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
		cur = json_object_get(cur, k);
	assert_true(json_is_string(cur));
	return json_string_value(cur);
}

static void
test_text_and_ids(void **state)
{
	const char *in =
	    HEAD "{\"id\":5,\"type\":\"message\",\"date\":"
	         "\"2021-01-07T15:00:00\",\"date_unixtime\":\"1610010000\","
	         "\"from\":\"Айгүл\",\"from_id\":\"user4294967301\","
	         "\"text\":\"Сайлауға қатысыңыздар! Өңір, ұлт, үміт, һ, і.\"},"
	         "{\"id\":4294967302,\"type\":\"message\",\"date_unixtime\":"
	         "\"1610010001\",\"from\":\"Новости\",\"from_id\":"
	         "\"channel1234567890123\",\"text\":[\"Голосуйте \","
	         "{\"type\":\"bold\",\"text\":\"10 января\"},\"! \","
	         "{\"type\":\"link\",\"text\":\"https://t.me/x\"},"
	         "{\"type\":\"mention\",\"text\":\"@kz\"}]}]}";
	int      rc;
	tg_item *items = parse(&defaults, in, 0, &rc, NULL, 0);
	json_t  *p;

	(void)state;
	assert_int_equal(rc, 0);
	assert_int_equal(count(items), 2);
	p = post_of(items);
	assert_string_equal(str_at(p, "id"), "1234567890123/5");
	assert_string_equal(str_at(p, "platform"), "telegram");
	assert_string_equal(str_at(p, "channel"), "Алматы жаңалықтары");
	assert_string_equal(str_at(p, "url"), "https://t.me/c/1234567890123/5");
	assert_string_equal(str_at(p, "created_at"), "2021-01-07T09:00:00Z");
	assert_string_equal(str_at(p, "author.id"), "tg:4294967301");
	assert_string_equal(str_at(p, "author.name"), "Айгүл");
	assert_string_equal(str_at(p, "author.kind"), "person");
	assert_string_equal(
	    str_at(p, "text"), "Сайлауға қатысыңыздар! Өңір, ұлт, үміт, һ, і.");
	assert_int_equal(items->index, 1);
	assert_int_equal(items->msg_id, 5);
	json_decref(p);
	p = post_of(items->next);
	assert_string_equal(str_at(p, "id"), "1234567890123/4294967302");
	assert_int_equal(items->next->msg_id, 4294967302LL);
	assert_string_equal(str_at(p, "author.id"), "tg:1234567890123");
	assert_string_equal(str_at(p, "author.kind"), "unknown");
	assert_string_equal(
	    str_at(p, "text"), "Голосуйте 10 января! https://t.me/x@kz");
	json_decref(p);
	free_items(items);
}

static void
test_poll_username_offset(void **state)
{
	const char *in =
	    HEAD "{\"id\":7,\"type\":\"message\",\"date\":"
	         "\"2021-01-03T10:00:00\",\"edited\":\"2021-01-03T11:00:00\","
	         "\"from\":\"B\",\"from_id\":77,\"text\":\"\",\"poll\":{"
	         "\"question\":\"За какую партию?\",\"closed\":true,"
	         "\"total_voters\":10,\"answers\":[{\"text\":\"Nur Otan\","
	         "\"voters\":5,\"chosen\":false},{\"text\":\"Ақ жол\","
	         "\"voters\":5,\"chosen\":true}]}}]}";
	tg_opts  o = defaults;
	int      rc;
	tg_item *items;
	json_t  *p, *opts;

	(void)state;
	o.username    = "almaty_news";
	o.lang        = "ru";
	o.date_offset = 6 * 3600;
	items         = parse(&o, in, 0, &rc, NULL, 0);
	assert_int_equal(rc, 0);
	assert_int_equal(count(items), 1);
	p = post_of(items);
	assert_string_equal(str_at(p, "channel"), "@almaty_news");
	assert_string_equal(str_at(p, "url"), "https://t.me/almaty_news/7");
	assert_string_equal(str_at(p, "lang"), "ru");
	assert_string_equal(
	    str_at(p, "created_at"), "2021-01-03T10:00:00+06:00");
	assert_string_equal(str_at(p, "author.id"), "tg:77");
	assert_string_equal(str_at(p, "poll.question"), "За какую партию?");
	opts = json_object_get(json_object_get(p, "poll"), "options");
	assert_int_equal(json_array_size(opts), 2);
	assert_string_equal(
	    json_string_value(json_array_get(opts, 1)), "Ақ жол");
	json_decref(p);
	free_items(items);
}

static void
test_service_and_bad_messages(void **state)
{
	const char *in = HEAD
	    "{\"id\":1,\"type\":\"service\",\"date\":\"2020-01-01T00:00:00\","
	    "\"action\":\"create_channel\"},"
	    "17,"
	    "{\"type\":\"message\",\"date_unixtime\":\"1\"},"
	    "{\"id\":3,\"type\":\"message\",\"text\":\"no date\"},"
	    "{\"id\":4,\"date_unixtime\":\"12x\"},"
	    "{\"id\":5,\"date_unixtime\":\"1\",\"text\":42},"
	    "{\"id\":6,\"date_unixtime\":\"1\",\"text\":[\"a\",{\"type\":"
	    "\"bold\"}]},"
	    "{\"id\":\"8\",\"date_unixtime\":\"1\"},"
	    "{\"id\":9,\"date\":\"2021-01-03 10:00\"},"
	    "{\"id\":10,\"date_unixtime\":\"1\",\"poll\":{\"answers\":[1]}},"
	    "{\"id\":11,\"date_unixtime\":\"1\",\"from_id\":\"user\"},"
	    "[1,2],"
	    "{\"id\":12,\"date_unixtime\":\"1\",\"text\":\"fine\"}]}";
	static const char *want[] = {
	    NULL,
	    "expected a message object, got a number",
	    "field 'id': missing",
	    "field 'date': missing (and no 'date_unixtime')",
	    "field 'date_unixtime': expected a string of seconds, got a string",
	    "field 'text': expected a string or an array, got a number",
	    "field 'text[1]': expected a string or an entity with a \"text\" "
	    "string, got an object",
	    "field 'id': expected a non-negative integer, got a string",
	    "field 'date': \"2021-01-03 10:00\" is not YYYY-MM-DDTHH:MM:SS",
	    "field 'poll.answers[0].text': expected a string, got a number",
	    "field 'from_id': \"user\" is not a Telegram id (e.g. \"user123\")",
	    "expected a message object, got an array",
	};
	int      rc;
	size_t   i     = 0;
	tg_item *items = parse(&defaults, in, 0, &rc, NULL, 0), *it;

	(void)state;
	assert_int_equal(rc, 0);
	assert_int_equal(count(items), 13);
	assert_int_equal(items->kind, TG_SERVICE);
	assert_int_equal(items->msg_id, 1);
	for (it = items->next; i + 1 < sizeof(want) / sizeof(*want);
	     it = it->next) {
		i++;
		assert_int_equal(it->kind, TG_BAD);
		assert_int_equal(it->index, i + 1);
		assert_string_equal(it->reason, want[i]);
	}
	assert_int_equal(it->kind, TG_POST);
	assert_int_equal(it->index, 13);
	free_items(items);
}

/* The same results whatever the chunks. */
static void
test_byte_at_a_time(void **state)
{
	const char *in =
	    HEAD "{\"id\":1,\"date_unixtime\":\"1610010000\",\"text\":[\"Сай\","
	         "{\"type\":\"italic\",\"text\":\"лау\"}]},"
	         "{\"id\":2,\"type\":\"service\"},"
	         "{\"id\":3,\"date_unixtime\":\"1610010000\",\"text\":\"қ\"}]}";
	int      rc1, rc2;
	tg_item *a = parse(&defaults, in, 0, &rc1, NULL, 0);
	tg_item *b = parse(&defaults, in, 1, &rc2, NULL, 0);
	tg_item *x, *y;

	(void)state;
	assert_int_equal(rc1, 0);
	assert_int_equal(rc2, 0);
	assert_int_equal(count(a), 3);
	assert_int_equal(count(b), 3);
	for (x = a, y = b; x; x = x->next, y = y->next) {
		assert_int_equal(x->kind, y->kind);
		assert_int_equal(x->index, y->index);
		if (x->kind == TG_POST)
			assert_string_equal(x->post, y->post);
	}
	free_items(a);
	free_items(b);
}

static void
test_oversize_message(void **state)
{
	char    *in  = malloc(8192);
	char    *big = malloc(4001);
	tg_opts  o   = defaults;
	int      rc;
	tg_item *items;

	(void)state;
	assert_non_null(in);
	assert_non_null(big);
	memset(big, 'x', 4000);
	big[4000] = '\0';
	snprintf(in, 8192,
	    HEAD "{\"id\":1,\"date_unixtime\":\"1\",\"text\":[\"%s\"],"
	         "\"x\":{\"y\":[1,{\"z\":2}]}},"
	         "{\"id\":2,\"date_unixtime\":\"1\",\"text\":\"ok\"}]}",
	    big);
	o.max_message = 1024;
	items         = parse(&o, in, 100, &rc, NULL, 0);
	assert_int_equal(rc, 0);
	assert_int_equal(count(items), 2);
	assert_int_equal(items->kind, TG_BAD);
	assert_non_null(strstr(items->reason, "larger than max_message"));
	assert_int_equal(items->next->kind, TG_POST);
	assert_int_equal(items->next->index, 2);
	free_items(items);
	free(in);
	free(big);
}

/* Bad files end with an error naming the byte; messages before stay. */
static void
test_bad_files(void **state)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
	    {HEAD "{\"id\":1,\"date_unixtime\":\"1\"},{\"id\":2,",
	        "byte 138: the file ends in the middle of the export "
	        "(truncated)"},
	    {HEAD "{\"id\":1,\"date_unixtime\":\"1\"},{\"id\" 2}]}",
	        "byte 137: malformed JSON: parse error: object key and value "},
	    {"[1,2]", "byte 1: the file is not a JSON object"},
	    {"", "byte 0: the file is empty"},
	    {"{\"name\":\"x\",\"messages\":[]}",
	        "byte 24: \"messages\" comes before the chat's \"id\""},
	    {"{\"id\":1,\"messages\":{}}",
	        "byte 20: \"messages\" is not an "
	        "array"},
	    {"{\"id\":1}", "byte 8: no \"messages\" array"},
	    {"{\"chats\":{\"list\":[]}}", "byte 21: this is a whole-account"},
	    {"{\"id\":\"1\",\"messages\":[]}",
	        "byte 9: the chat's \"id\" is "
	        "not an integer"},
	    {HEAD "\f]}", "byte 101: malformed JSON: a form feed"},
	    {HEAD "]} x",
	        "byte 105: malformed JSON: parse error: trailing "
	        "garbage"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char     err[256];
		int      rc;
		tg_item *items =
		    parse(&defaults, cases[i].text, 7, &rc, err, sizeof(err));

		if (strncmp(err, cases[i].error, strlen(cases[i].error)) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s...\"", i, err,
			    cases[i].error);
		assert_int_equal(rc, -1);
		if (i == 0 || i == 1) {
			assert_int_equal(count(items), 1);
			assert_int_equal(items->kind, TG_POST);
		}
		free_items(items);
	}
}

static void
test_offsets(void **state)
{
	int s;

	(void)state;
	assert_int_equal(tg_parse_offset("+06:00", &s), 0);
	assert_int_equal(s, 21600);
	assert_int_equal(tg_parse_offset("-03:30", &s), 0);
	assert_int_equal(s, -12600);
	assert_int_equal(tg_parse_offset("Z", &s), 0);
	assert_int_equal(s, 0);
	assert_int_equal(tg_parse_offset("+6", &s), -1);
	assert_int_equal(tg_parse_offset("+24:00", &s), -1);
}

/* One document of the JSONTestSuite, alone and as the only message of
 * an export: nothing may crash, and an n_ document must fail both ways
 * (except the empty one, which is an empty array of messages). */
static void
suite_file(const char *dir, const char *name, size_t *checked)
{
	char     path[4096], *doc, *wrapped;
	FILE    *f;
	long     len;
	int      rc;
	tg_item *items;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "rb"));
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	doc = calloc(1, (size_t)len + 1);
	assert_non_null(doc);
	assert_int_equal(fread(doc, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	/* The suite has documents with NUL bytes: strlen stops at them,
	 * which still leaves a document that must parse or fail cleanly. */
	items = parse(&defaults, doc, 3, &rc, NULL, 0);
	free_items(items);
	if (name[0] == 'n')
		assert_int_equal(rc, -1);
	wrapped = malloc((size_t)len + 64);
	assert_non_null(wrapped);
	snprintf(
	    wrapped, (size_t)len + 64, "{\"id\":1,\"messages\":[%s]}", doc);
	items = parse(&defaults, wrapped, 5, &rc, NULL, 0);
	if (name[0] == 'n' && strspn(doc, " \t\r\n") != strlen(doc) &&
	    strlen(doc) == (size_t)len && rc == 0)
		fail_msg("%s: accepted inside an export", name);
	if (name[0] == 'y' && strlen(doc) == (size_t)len && rc != 0)
		fail_msg("%s: refused inside an export", name);
	free_items(items);
	free(wrapped);
	free(doc);
	(*checked)++;
}

static void
test_json_suite(void **state)
{
	const char    *dir = getenv("VIGIL_PEER_DIR");
	DIR           *d;
	struct dirent *e;
	size_t         checked = 0;

	(void)state;
	if (dir == NULL || (d = opendir(dir)) == NULL) {
		print_message("no JSONTestSuite (VIGIL_PEER_DIR): skipped\n");
		skip();
		return;
	}
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] == 'n' || e->d_name[0] == 'y' ||
		    e->d_name[0] == 'i')
			suite_file(dir, e->d_name, &checked);
	closedir(d);
	print_message("%zu suite files\n", checked);
	assert_true(checked > 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text_and_ids),
	    cmocka_unit_test(test_poll_username_offset),
	    cmocka_unit_test(test_service_and_bad_messages),
	    cmocka_unit_test(test_byte_at_a_time),
	    cmocka_unit_test(test_oversize_message),
	    cmocka_unit_test(test_bad_files),
	    cmocka_unit_test(test_offsets),
	    cmocka_unit_test(test_json_suite),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
