/*
 * test_text.c - normalization (folding, invisible characters, white
 * space, the map back to original bytes) and matching (literals, regexes,
 * word edges, prefiltered regexes confirmed by PCRE2, errors, threads).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "text.h"

#define MAX_HITS 64

struct hit {
	unsigned id;
	size_t   start;
	size_t   end;
};

struct hits {
	struct hit h[MAX_HITS];
	size_t     n;
	size_t     stop_after; /* 0: never stop */
};

static int
collect(void *arg, unsigned id, size_t start, size_t end)
{
	struct hits *hs = arg;

	assert_true(hs->n < MAX_HITS);
	assert_true(start < end);
	hs->h[hs->n].id    = id;
	hs->h[hs->n].start = start;
	hs->h[hs->n].end   = end;
	hs->n++;
	return hs->stop_after != 0 && hs->n >= hs->stop_after;
}

/* Normalizes in and checks the text and the sanity of the whole map. */
static vigil_norm *
norm_check(const char *in, const char *want)
{
	vigil_norm *n = text_normalize(in, strlen(in));
	const char *t;
	size_t      len, k, os, oe, prev_s = 0, prev_e = 0;

	assert_non_null(n);
	t = text_norm_text(n, &len);
	assert_string_equal(t, want);
	assert_int_equal(len, strlen(want));
	for (k = 0; k < len; k++) {
		text_norm_to_orig(n, k, k + 1, &os, &oe);
		assert_true(os < oe);
		assert_true(oe <= strlen(in));
		assert_true(os >= prev_s);
		assert_true(oe >= prev_e);
		prev_s = os;
		prev_e = oe;
	}
	return n;
}

static void
norm_is(const char *in, const char *want)
{
	text_norm_free(norm_check(in, want));
}

/* The original bytes behind the first occurrence of needle in the
 * normalized text of in. */
static void
orig_of(const char *in, const char *needle, const char *want_orig)
{
	vigil_norm *n = text_normalize(in, strlen(in));
	const char *t, *at;
	size_t      len, os, oe;

	assert_non_null(n);
	t  = text_norm_text(n, &len);
	at = strstr(t, needle);
	assert_non_null(at);
	text_norm_to_orig(
	    n, (size_t)(at - t), (size_t)(at - t) + strlen(needle), &os, &oe);
	assert_int_equal(oe - os, strlen(want_orig));
	assert_memory_equal(in + os, want_orig, oe - os);
	text_norm_free(n);
}

/* ------------------------------------------------------------ UTF-8 */

static void
test_utf8_valid(void **state)
{
	static const char *const bad[] = {
	    "\xc0\x80",         /* overlong NUL */
	    "\xc1\xbf",         /* overlong */
	    "\xe0\x80\xaf",     /* overlong '/' */
	    "\xe0\x9f\xbf",     /* overlong U+07FF */
	    "\xf0\x8f\xbf\xbf", /* overlong U+FFFF */
	    "\xed\xa0\x80",     /* U+D800 */
	    "\xed\xbf\xbf",     /* U+DFFF */
	    "\xf4\x90\x80\x80", /* U+110000 */
	    "\xf5\x80\x80\x80",
	    "\xff",
	    "\x80", /* lone continuation */
	    "\xd0", /* truncated */
	    "\xe2\x82",
	    "\xf0\x9f\x91",
	    "\xd0\x41",     /* continuation missing */
	    "abcdefgh\xd0", /* after the ASCII fast path */
	    "abcdefghijklmnop\xe2\x28\xa1",
	};
	size_t i;

	(void)state;
	assert_true(text_utf8_valid("", 0));
	assert_true(text_utf8_valid(NULL, 0));
	assert_false(text_utf8_valid(NULL, 1));
	assert_true(text_utf8_valid("plain ascii text, long enough", 29));
	assert_true(text_utf8_valid("Выборы 2021 — сайлау \xf0\x9f\x91\x8d",
	    strlen("Выборы 2021 — сайлау \xf0\x9f\x91\x8d")));
	assert_true(text_utf8_valid("\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf",
	    10)); /* U+D7FF U+E000 U+10FFFF */
	assert_true(text_utf8_valid("a\0b", 3));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(text_utf8_valid(bad[i], strlen(bad[i])));
	/* A valid prefix does not make a cut sequence valid. */
	assert_false(text_utf8_valid("\xd0\xb2", 1));
}

/* ------------------------------------------------------------ folding */

static void
test_norm_cyrillic_kazakh_latin(void **state)
{
	(void)state;
	norm_is("ВЫБОРЫ", "выборы");
	norm_is("Выборы в Мажилис", "выборы в мажилис");
	/* Kazakh letters keep their identity, only lowercased. */
	norm_is("ӘҒҚҢӨҰҮҺІ", "әғқңөұүһі");
	norm_is("әғқңөұүһі", "әғқңөұүһі");
	norm_is("Сайлау ҚОРЫТЫНДЫСЫ", "сайлау қорытындысы");
	norm_is("Straße", "strasse");
	norm_is("HeLLo WoRLD", "hello world");
	norm_is("Exit poll: НУР ОТАН 71%, Ақ жол 10%",
	    "exit poll: нур отан 71%, ақ жол 10%");
	/* ё and й are single letters, not letter + mark. */
	norm_is("ЁЛКА ЙОГУРТ", "ёлка йогурт");
}

static void
test_norm_compat(void **state)
{
	(void)state;
	norm_is("\xef\xac\x81", "fi"); /* U+FB01 */
	norm_is("\xef\xac\x81nal", "final");
	norm_is("\xef\xbc\xa1", "a"); /* fullwidth A */
	norm_is("\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\x91", "ab1");
	norm_is("x\xc2\xb2", "x2");          /* superscript 2 */
	norm_is("\xe2\x84\xab", "\xc3\xa5"); /* Angstrom -> å */
	/* Mathematical bold, outside the BMP: U+1D400 U+1D401. */
	norm_is("\xf0\x9d\x90\x80\xf0\x9d\x90\x81", "ab");
	/* Emoji stay as they are. */
	norm_is("ok \xf0\x9f\x91\x8d", "ok \xf0\x9f\x91\x8d");
}

static void
test_norm_invisible(void **state)
{
	(void)state;
	norm_is("вы\xe2\x80\x8b"
	        "боры",
	    "выборы"); /* U+200B */
	norm_is("вы\xc2\xad"
	        "боры",
	    "выборы"); /* soft hyphen */
	norm_is("\xef\xbb\xbf"
	        "опрос",
	    "опрос"); /* BOM */
	norm_is("о\xe2\x80\x8cп\xe2\x80\x8dр\xe2\x81\xa0ос", "опрос");
	norm_is("\xe2\x80\x8e"
	        "abc\xe2\x80\x8f",
	    "abc"); /* LRM, RLM */
	norm_is("\xe2\x80\x8b", "");
}

static void
test_norm_whitespace(void **state)
{
	(void)state;
	norm_is("a\xc2\xa0\xc2\xa0"
	        "b",
	    "a b"); /* NBSP */
	norm_is("  a \t\n\r b  ", "a b");
	/* U+2007, U+202F */
	norm_is("a\xe2\x80\x87"
	        "b\xe2\x80\xaf"
	        "c",
	    "a b c");
	norm_is("a\xe3\x80\x80"
	        "b",
	    "a b"); /* U+3000 */
	norm_is("a\xe2\x80\xa8"
	        "b\xc2\x85"
	        "c",
	    "a b c");                       /* U+2028, NEL */
	norm_is("a \xe2\x80\x8b b", "a b"); /* invisible inside a run */
	norm_is(" \xc2\xa0\t\n", "");
	norm_is("", "");
}

static void
test_norm_combining(void **state)
{
	(void)state;
	norm_is("e\xcc\x81", "\xc3\xa9"); /* e + acute */
	norm_is("Е\xcc\x88"
	        "лка",
	    "ёлка");               /* Е + diaeresis */
	norm_is("и\xcc\x86", "й"); /* и + breve */
	/* An invisible character cannot split a letter from its mark. */
	norm_is("e\xe2\x80\x8b\xcc\x81", "\xc3\xa9");
	/* A mark that does not compose stays, after the letter. */
	norm_is("ы\xcc\x81", "ы\xcc\x81");
	/* Marks are put in canonical order: below (220) before above. */
	norm_is("q\xcc\x81\xcc\xa3", "q\xcc\xa3\xcc\x81");
	/* A mark at the very start. */
	norm_is("\xcc\x81"
	        "a",
	    "\xcc\x81"
	    "a");
	/* Hangul jamo compose into a syllable. */
	norm_is("\xe1\x84\x80\xe1\x85\xa1", "\xea\xb0\x80");
}

static void
test_norm_long_marks(void **state)
{
	/* Zalgo-like: one letter with 300 marks. Runs of marks are cut
	 * every 30 (as in Unicode's stream-safe format) so that the cost
	 * stays linear; each piece maps to its own original range. */
	char        in[1 + 300 * 2 + 2];
	vigil_norm *n;
	const char *t;
	size_t      len, os, oe, i;

	(void)state;
	in[0] = 'A';
	for (i = 0; i < 300; i++) {
		in[1 + i * 2] = '\xcc';
		in[2 + i * 2] = (i % 2) ? '\x81' : '\xa3';
	}
	in[601] = 'b';
	in[602] = '\0';
	n       = text_normalize(in, strlen(in));
	assert_non_null(n);
	t = text_norm_text(n, &len);
	assert_true(len > 600);
	assert_int_equal(t[len - 1], 'b');
	text_norm_to_orig(n, 0, 1, &os, &oe);
	assert_int_equal(os, 0);
	assert_int_equal(oe, 61);
	text_norm_to_orig(n, len - 2, len - 1, &os, &oe);
	assert_int_equal(os, 541);
	assert_int_equal(oe, 601);
	text_norm_to_orig(n, len - 1, len, &os, &oe);
	assert_int_equal(os, 601);
	assert_int_equal(oe, 602);
	text_norm_free(n);
}

static void
test_norm_invalid(void **state)
{
	static const char *const bad[] = {
	    "abc\xff",
	    "\xd0",
	    "выборы\xed\xa0\x80",
	    "\xc0\x80",
	    "e\xcc", /* cut inside a segment */
	    "e\xcc\x81\xf4\x90\x80\x80",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(text_normalize(bad[i], strlen(bad[i])));
	assert_null(text_normalize(NULL, 3));
}

static void
test_norm_empty(void **state)
{
	vigil_norm *n;
	size_t      len = 99, os = 9, oe = 9;

	(void)state;
	n = text_normalize(NULL, 0);
	assert_non_null(n);
	assert_string_equal(text_norm_text(n, &len), "");
	assert_int_equal(len, 0);
	text_norm_to_orig(n, 0, 0, &os, &oe);
	assert_int_equal(os, 0);
	assert_int_equal(oe, 0);
	text_norm_free(n);
	text_norm_free(NULL);
}

/* ------------------------------------------------------------ the map */

static void
test_map_back(void **state)
{
	(void)state;
	orig_of("Привет, ВЫ\xe2\x80\x8b"
	        "БОРЫ 2021!",
	    "выборы",
	    "ВЫ\xe2\x80\x8b"
	    "БОРЫ");
	orig_of("  Сайлау  ҚОРЫТЫНДЫСЫ", "қорытындысы", "ҚОРЫТЫНДЫСЫ");
	orig_of("Straße", "ss", "ß");
	orig_of("Straße", "e", "e");
	orig_of("\xef\xac\x81nal", "i", "\xef\xac\x81");
	orig_of("x\xef\xbc\xa1y", "a", "\xef\xbc\xa1");
	orig_of("xe\xcc\x81y", "\xc3\xa9", "e\xcc\x81");
	orig_of("a \xc2\xa0 b", " ", " \xc2\xa0 ");
	orig_of("вы\xc2\xad"
	        "боры и ОПРОС",
	    "опрос", "ОПРОС");
	orig_of("\xf0\x9d\x90\x80\xf0\x9d\x90\x81"
	        "c",
	    "b", "\xf0\x9d\x90\x81");
}

static void
test_map_points(void **state)
{
	const char *in = "  АБВ  ";
	vigil_norm *n  = norm_check(in, "абв");
	size_t      os, oe;

	(void)state;
	/* An empty range maps to a point. */
	text_norm_to_orig(n, 2, 2, &os, &oe);
	assert_int_equal(os, 4);
	assert_int_equal(oe, 4);
	text_norm_to_orig(n, 6, 6, &os, &oe);
	assert_int_equal(os, 8);
	assert_int_equal(oe, 8);
	/* Past the end is clamped; a reversed range is empty. */
	text_norm_to_orig(n, 0, 100, &os, &oe);
	assert_int_equal(os, 2);
	assert_int_equal(oe, 8);
	text_norm_to_orig(n, 4, 2, &os, &oe);
	assert_int_equal(os, oe);
	text_norm_free(n);
}

/* ------------------------------------------------------------ matching */

static vigil_matcher *
matcher_ok(const vigil_pattern *pats, size_t n)
{
	char           err[256] = "";
	vigil_matcher *m        = text_matcher_new(pats, n, err, sizeof(err));

	if (m == NULL)
		fail_msg("matcher: %s", err);
	return m;
}

/* Normalizes in, scans it and returns the hits in hs. */
static vigil_norm *
scan_text(const vigil_matcher *m, const char *in, struct hits *hs)
{
	vigil_norm *n = text_normalize(in, strlen(in));
	const char *t;
	size_t      len;

	assert_non_null(n);
	t = text_norm_text(n, &len);
	memset(hs, 0, sizeof(*hs));
	assert_int_equal(text_matcher_scan(m, t, len, collect, hs), 0);
	return n;
}

static void
assert_orig(
    const vigil_norm *n, const char *in, const struct hit *h, const char *want)
{
	size_t os, oe;

	text_norm_to_orig(n, h->start, h->end, &os, &oe);
	assert_int_equal(oe - os, strlen(want));
	assert_memory_equal(in + os, want, oe - os);
}

static void
test_match_literal(void **state)
{
	const vigil_pattern pats[] = {
	    {.expr = "Выборы", .id = 7}, {.expr = "exit  POLL", .id = 8},
	    {.expr = "\xef\xac\x81nal", .id = 9}, /* "ﬁnal" */
	};
	const char    *in = "Итоги: ВЫ\xe2\x80\x8b"
	                    "БОРЫ прошли, "
	                    "EXIT\xc2\xa0poll final";
	vigil_matcher *m  = matcher_ok(pats, 3);
	struct hits    hs;
	vigil_norm    *n = scan_text(m, in, &hs);

	(void)state;
	assert_int_equal(hs.n, 3);
	assert_int_equal(hs.h[0].id, 7);
	assert_int_equal(hs.h[0].start, strlen("итоги: "));
	assert_int_equal(hs.h[0].end, strlen("итоги: выборы"));
	assert_orig(n, in, &hs.h[0],
	    "ВЫ\xe2\x80\x8b"
	    "БОРЫ");
	assert_int_equal(hs.h[1].id, 8);
	assert_orig(n, in, &hs.h[1], "EXIT\xc2\xa0poll");
	assert_int_equal(hs.h[2].id, 9);
	assert_orig(n, in, &hs.h[2], "final");
	text_norm_free(n);
	text_matcher_free(m);
}

static void
test_match_word_edges(void **state)
{
	const vigil_pattern pats[] = {
	    {.expr = "опрос", .id = 1, .flags = VIGIL_PAT_WORD},
	    {.expr = "опрос", .id = 2},
	    {.expr = "сайлау", .id = 3, .flags = VIGIL_PAT_WORD},
	};
	vigil_matcher *m = matcher_ok(pats, 3);
	struct hits    hs;
	vigil_norm    *n;

	(void)state;
	n = scan_text(m, "Опросник для всех", &hs);
	assert_int_equal(hs.n, 1); /* only the plain literal */
	assert_int_equal(hs.h[0].id, 2);
	text_norm_free(n);

	n = scan_text(m, "Наш ОПРОС, друзья", &hs);
	assert_int_equal(hs.n, 2);
	assert_int_equal(hs.h[0].id, 1);
	assert_int_equal(hs.h[1].id, 2);
	assert_orig(n, "Наш ОПРОС, друзья", &hs.h[0], "ОПРОС");
	text_norm_free(n);

	/* Edges of the text count; so does a letter before the word. */
	n = scan_text(m, "опрос", &hs);
	assert_int_equal(hs.n, 2);
	text_norm_free(n);
	n = scan_text(m, "экзитопрос", &hs);
	assert_int_equal(hs.n, 1);
	assert_int_equal(hs.h[0].id, 2);
	text_norm_free(n);
	n = scan_text(m, "опрос2", &hs);
	assert_int_equal(hs.n, 1);
	text_norm_free(n);
	/* Kazakh letters are letters. */
	n = scan_text(m, "сайлауға дейін", &hs);
	assert_int_equal(hs.n, 0);
	text_norm_free(n);
	n = scan_text(m, "«Сайлау» 2021", &hs);
	assert_int_equal(hs.n, 1);
	assert_int_equal(hs.h[0].id, 3);
	text_norm_free(n);
	text_matcher_free(m);
}

static void
test_match_regex(void **state)
{
	const vigil_pattern pats[] = {
	    {.expr = "выбор(ы|ах)", .id = 1, .flags = VIGIL_PAT_REGEX},
	    {.expr = "ОПРОС\\w*", .id = 2, .flags = VIGIL_PAT_REGEX},
	    {.expr     = "\\d{1,3}\\s?%",
	        .id    = 3,
	        .flags = VIGIL_PAT_REGEX | VIGIL_PAT_WORD},
	};
	const char *in = "На ВЫБОРАХ: опросы дают 71 % и 10%";
	vigil_matcher *m = matcher_ok(pats, 3);
	struct hits    hs;
	vigil_norm    *n = scan_text(m, in, &hs);
	size_t         i, j, n1 = 0, n2 = 0, n3 = 0;

	(void)state;
	for (i = 0; i < hs.n; i++) {
		/* Each (pattern, end) once. */
		for (j = i + 1; j < hs.n; j++)
			assert_false(hs.h[i].id == hs.h[j].id &&
			    hs.h[i].end == hs.h[j].end);
		if (i > 0)
			assert_true(hs.h[i - 1].end <= hs.h[i].end);
		if (hs.h[i].id == 1) {
			assert_orig(n, in, &hs.h[i], "ВЫБОРАХ");
			n1++;
		} else if (hs.h[i].id == 2) {
			/* Every end of "опрос\w*", from the same start. */
			assert_int_equal(hs.h[i].start, strlen("на выборах: "));
			n2++;
		} else if (hs.h[i].id == 3)
			n3++;
	}
	assert_int_equal(n1, 1);
	assert_int_equal(n2, 2); /* "опрос", "опросы" */
	/* "71 %" and "10%", each once from its leftmost start. */
	assert_int_equal(n3, 2);
	text_norm_free(n);
	text_matcher_free(m);
}

static void
test_match_prefilter(void **state)
{
	/* Backreferences are beyond Hyperscan: prefilter + PCRE2. */
	const vigil_pattern pats[] = {
	    {.expr = "(\\w{2,})\\s+\\1", .id = 1, .flags = VIGIL_PAT_REGEX},
	    {.expr     = "(да)\\1",
	        .id    = 2,
	        .flags = VIGIL_PAT_REGEX | VIGIL_PAT_WORD},
	    {.expr = "опрос", .id = 3},
	    {.expr = "(?<=экзит)пол", .id = 4, .flags = VIGIL_PAT_REGEX},
	};
	const char    *in = "Голосуй голосуй! ДАДА, дадаист дад, опрос экзитпол";
	vigil_matcher *m  = matcher_ok(pats, 4);
	struct hits    hs;
	vigil_norm    *n = scan_text(m, in, &hs);
	size_t         i, n1 = 0, n2 = 0, n3 = 0, n4 = 0;

	(void)state;
	for (i = 0; i < hs.n; i++) {
		switch (hs.h[i].id) {
		case 1:
			assert_orig(n, in, &hs.h[i], "Голосуй голосуй");
			n1++;
			break;
		case 2:
			assert_orig(n, in, &hs.h[i], "ДАДА");
			n2++;
			break;
		case 3: n3++; break;
		case 4:
			assert_orig(n, in, &hs.h[i], "пол");
			n4++;
			break;
		default: fail();
		}
	}
	assert_int_equal(n1, 1);
	assert_int_equal(n2, 1);
	assert_int_equal(n3, 1);
	assert_int_equal(n4, 1);
	text_norm_free(n);

	/* No word is repeated here, whatever the prefilter thinks. */
	n = scan_text(m, "абвг гвба", &hs);
	assert_int_equal(hs.n, 0);
	text_norm_free(n);
	text_matcher_free(m);
}

static void
test_match_too_large_for_som(void **state)
{
	/* Hyperscan finds \w+ in Unicode mode too large to track starts
	 * for; the prefilter and PCRE2 take over. */
	const vigil_pattern pats[] = {
	    {.expr     = "\\w+ста",
	        .id    = 1,
	        .flags = VIGIL_PAT_REGEX | VIGIL_PAT_WORD},
	};
	const char *in   = "НАСТАСТА и бюрократ, вместа";
	vigil_matcher *m = matcher_ok(pats, 1);
	struct hits    hs;
	vigil_norm    *n = scan_text(m, in, &hs);

	(void)state;
	assert_int_equal(hs.n, 2);
	assert_orig(n, in, &hs.h[0], "НАСТАСТА");
	assert_orig(n, in, &hs.h[1], "вместа");
	text_norm_free(n);
	text_matcher_free(m);
}

static void
test_match_errors(void **state)
{
	const vigil_pattern bad_where[] = {
	    {.expr = "ok", .id = 1},
	    {.expr     = "x(",
	        .id    = 2,
	        .flags = VIGIL_PAT_REGEX,
	        .where = "rules.conf:12"},
	};
	const vigil_pattern bad_index[] = {
	    {.expr = "ok", .id = 1},
	    {.expr = "[a-", .id = 2, .flags = VIGIL_PAT_REGEX},
	};
	const vigil_pattern empty_lit[] = {
	    {.expr = " \xe2\x80\x8b ", .id = 1, .where = "w.conf:3"},
	};
	const vigil_pattern bad_utf8[] = {
	    {.expr = "ab\xff", .id = 1, .where = "w.conf:4"},
	};
	const vigil_pattern bad_utf8_re[] = {
	    {.expr = "ab\xff", .id = 1, .flags = VIGIL_PAT_REGEX},
	};
	const vigil_pattern empty_match[] = {
	    {.expr     = "a*",
	        .id    = 1,
	        .flags = VIGIL_PAT_REGEX,
	        .where = "w.conf:5"},
	};
	const vigil_pattern no_expr[] = {
	    {.expr = NULL, .id = 1, .where = "w.conf:6"},
	};
	char                long_expr[102];
	const vigil_pattern long_pat = {
	    .expr  = long_expr,
	    .flags = VIGIL_PAT_REGEX,
	    .where = "w.conf:7",
	};
	char   err[256];
	size_t i;

	(void)state;
	assert_null(text_matcher_new(bad_where, 2, err, sizeof(err)));
	assert_non_null(strstr(err, "rules.conf:12: pattern 'x(': "));
	assert_null(text_matcher_new(bad_index, 2, err, sizeof(err)));
	assert_non_null(strstr(err, "pattern 1 '[a-': "));
	assert_null(text_matcher_new(empty_lit, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "w.conf:3: "));
	assert_non_null(strstr(err, "empty"));
	assert_null(text_matcher_new(bad_utf8, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "w.conf:4: pattern 'ab?': "));
	assert_non_null(strstr(err, "UTF-8"));
	assert_null(text_matcher_new(bad_utf8_re, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "pattern 0 "));
	assert_null(text_matcher_new(empty_match, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "w.conf:5: pattern 'a*': "));
	assert_null(text_matcher_new(no_expr, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "w.conf:6: "));
	/* A long pattern is cut, on a character boundary. */
	memset(long_expr, 0, sizeof(long_expr));
	for (i = 0; i < 50; i++)
		memcpy(long_expr + i * 2, "я", 2);
	long_expr[100] = '(';
	assert_null(text_matcher_new(&long_pat, 1, err, sizeof(err)));
	assert_true(strncmp(err, "w.conf:7: pattern 'яяя", 24) == 0);
	assert_non_null(strstr(err, "я...': "));
	assert_null(text_matcher_new(NULL, 2, err, sizeof(err)));
	/* No room for a message is no reason to crash. */
	assert_null(text_matcher_new(bad_where, 2, NULL, 0));
	text_matcher_free(NULL);
}

static void
test_match_empty_and_stop(void **state)
{
	const vigil_pattern pats[] = {
	    {.expr = "а", .id = 1},
	};
	vigil_matcher *m;
	struct hits    hs;
	vigil_norm    *n;
	const char    *t;
	size_t         len;

	(void)state;
	m = matcher_ok(NULL, 0);
	n = scan_text(m, "что угодно", &hs);
	assert_int_equal(hs.n, 0);
	text_norm_free(n);
	text_matcher_free(m);

	m = matcher_ok(pats, 1);
	n = text_normalize("а а а а", strlen("а а а а"));
	assert_non_null(n);
	t = text_norm_text(n, &len);
	memset(&hs, 0, sizeof(hs));
	hs.stop_after = 2;
	assert_int_equal(text_matcher_scan(m, t, len, collect, &hs), 0);
	assert_int_equal(hs.n, 2);
	/* Malformed input is refused, not scanned. */
	assert_int_equal(text_matcher_scan(m, "\xd0", 1, collect, &hs), -1);
	assert_int_equal(text_matcher_scan(m, NULL, 0, collect, &hs), 0);
	assert_int_equal(text_matcher_scan(m, NULL, 1, collect, &hs), -1);
	text_norm_free(n);
	text_matcher_free(m);
}

/* A scan from inside a scan's callback needs a second slot. */
struct nested {
	const vigil_matcher *m;
	struct hits          inner;
	size_t               outer;
};

static int
nested_cb(void *arg, unsigned id, size_t start, size_t end)
{
	struct nested *ns = arg;

	(void)id;
	(void)start;
	(void)end;
	ns->outer++;
	assert_int_equal(text_matcher_scan(ns->m, "да да", strlen("да да"),
	                     collect, &ns->inner),
	    0);
	return 0;
}

static void
test_match_nested(void **state)
{
	const vigil_pattern pats[] = {
	    {.expr = "да", .id = 1},
	    {.expr = "(д)\\1", .id = 2, .flags = VIGIL_PAT_REGEX},
	};
	vigil_matcher *m  = matcher_ok(pats, 2);
	struct nested  ns = {.m = m};

	(void)state;
	assert_int_equal(
	    text_matcher_scan(m, "да", strlen("да"), nested_cb, &ns), 0);
	assert_int_equal(ns.outer, 1);
	assert_int_equal(ns.inner.n, 2);
	text_matcher_free(m);
}

/* ------------------------------------------------------------ threads */

struct worker {
	const vigil_matcher *m;
	const char          *text;
	size_t               len;
	size_t               want;
	int                  failures;
};

/* cmocka's asserts are not for other threads: count, check later. */
static int
count_hit(void *arg, unsigned id, size_t start, size_t end)
{
	size_t *count = arg;

	(void)id;
	if (start < end)
		(*count)++;
	return 0;
}

static void *
scan_loop(void *arg)
{
	struct worker *w = arg;
	int            i;

	for (i = 0; i < 2000; i++) {
		size_t count = 0;

		if (text_matcher_scan(
		        w->m, w->text, w->len, count_hit, &count) != 0 ||
		    count != w->want)
			w->failures++;
	}
	return NULL;
}

static void
test_match_threads(void **state)
{
	const vigil_pattern pats[] = {
	    {.expr = "выборы", .id = 1, .flags = VIGIL_PAT_WORD},
	    {.expr = "сайлау", .id = 2},
	    {.expr = "(\\w+) \\1", .id = 3, .flags = VIGIL_PAT_REGEX},
	    {.expr = "опрос\\w*", .id = 4, .flags = VIGIL_PAT_REGEX},
	};
	const char    *in = "Выборы, сайлау САЙЛАУ, опросы и ещё выборы";
	vigil_matcher *m  = matcher_ok(pats, 4);
	vigil_norm    *n;
	struct hits    once;
	struct worker  w[4];
	pthread_t      th[4];
	int            i;

	(void)state;
	n = scan_text(m, in, &once);
	assert_true(once.n >= 5);
	for (i = 0; i < 4; i++) {
		w[i].m        = m;
		w[i].text     = text_norm_text(n, &w[i].len);
		w[i].want     = once.n;
		w[i].failures = 0;
		assert_int_equal(
		    pthread_create(&th[i], NULL, scan_loop, &w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	text_norm_free(n);
	text_matcher_free(m);
}

/* Matchers come and go (reloads); a thread's remembered slots must not
 * outlive them. */
static void
test_match_reload(void **state)
{
	const vigil_pattern pats[] = {
	    {.expr = "выборы", .id = 1},
	};
	struct hits hs;
	int         i;

	(void)state;
	for (i = 0; i < 20; i++) {
		vigil_matcher *a = matcher_ok(pats, 1);
		vigil_matcher *b = matcher_ok(pats, 1);

		memset(&hs, 0, sizeof(hs));
		assert_int_equal(
		    text_matcher_scan(a, "выборы", 12, collect, &hs), 0);
		assert_int_equal(
		    text_matcher_scan(b, "выборы", 12, collect, &hs), 0);
		assert_int_equal(hs.n, 2);
		text_matcher_free(a);
		text_matcher_free(b);
	}
}

static int
setup(void **state)
{
	(void)state;
	return text_init();
}

static int
teardown(void **state)
{
	(void)state;
	text_fini();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_utf8_valid),
	    cmocka_unit_test(test_norm_cyrillic_kazakh_latin),
	    cmocka_unit_test(test_norm_compat),
	    cmocka_unit_test(test_norm_invisible),
	    cmocka_unit_test(test_norm_whitespace),
	    cmocka_unit_test(test_norm_combining),
	    cmocka_unit_test(test_norm_long_marks),
	    cmocka_unit_test(test_norm_invalid),
	    cmocka_unit_test(test_norm_empty),
	    cmocka_unit_test(test_map_back),
	    cmocka_unit_test(test_map_points),
	    cmocka_unit_test(test_match_literal),
	    cmocka_unit_test(test_match_word_edges),
	    cmocka_unit_test(test_match_regex),
	    cmocka_unit_test(test_match_prefilter),
	    cmocka_unit_test(test_match_too_large_for_som),
	    cmocka_unit_test(test_match_errors),
	    cmocka_unit_test(test_match_empty_and_stop),
	    cmocka_unit_test(test_match_nested),
	    cmocka_unit_test(test_match_threads),
	    cmocka_unit_test(test_match_reload),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
