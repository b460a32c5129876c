/*
 * test_text.c - normalization (folding, letter folding, invisible
 * characters, white space, spaced-out letters, mixed scripts, repeated
 * letters, the map back to original bytes) and matching (literals,
 * regexes over folded text, word and prefix edges, prefiltered regexes
 * confirmed by PCRE2, errors, threads).
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

#include "host.h"
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
	/* Kazakh letters become the Russian-keyboard letters people type
	 * for them. */
	norm_is("бә бғ бқ бң бө бұ бү бһ бі", "ба бг бк бн бо бу бу бх би");
	norm_is("БӘ БҒ БҚ БҢ БӨ БҰ БҮ БҺ БІ", "ба бг бк бн бо бу бу бх би");
	norm_is("Сайлау ҚОРЫТЫНДЫСЫ", "сайлау корытындысы");
	norm_is("Straße", "strase"); /* ss, then squeezed */
	norm_is("HeLLo WoRLD", "helo world");
	norm_is("Exit poll: НУР ОТАН 71%, Ақ жол 10%",
	    "exit pol: нур отан 71%, ак жол 10%");
	/* ё loses its mark; й is a letter of its own and stays. */
	norm_is("ЁЛКА ЙОГУРТ", "елка йогурт");
	/* Latin q is not a Kazakh к. */
	norm_is("Qazaq", "qazaq");
}

static void
test_norm_kazakh_sentence(void **state)
{
	const char *kz = "Сайлауда қай партияға дауыс бересіз?";
	const char *ru = "сайлауда кай партияга дауыс бересиз?";
	vigil_norm *a, *b;
	size_t      la, lb;

	(void)state;
	a = norm_check(kz, ru);
	b = norm_check(ru, ru);
	assert_string_equal(text_norm_text(a, &la), text_norm_text(b, &lb));
	assert_int_equal(la, lb);
	text_norm_free(a);
	text_norm_free(b);
	/* Each folded letter maps back to its Kazakh original. */
	orig_of(kz, "кай партияга", "қай партияға");
	orig_of(kz, "бересиз", "бересіз");
}

static void
test_norm_diacritics(void **state)
{
	(void)state;
	norm_is("äx şx ğx ñx ūx éx öx üx áx çx ıx",
	    "ax sx gx nx ux ex ox ux ax cx ix");
	norm_is(
	    "ÄX ŞX ĞX ÑX ŪX ÉX ÖX ÜX ÁX ÇX", "ax sx gx nx ux ex ox ux ax cx");
	norm_is("Ångström Łódź İstanbul", "angstrom łodz istanbul");
	/* Letters that are not a base letter with a mark stay. */
	norm_is("Øst æble", "øst æble");
	/* Cyrillic: ё, ӓ, ӧ lose their marks; й and ў... й stays. */
	norm_is("Ёж, всё, ӓх, ӧх", "еж, все, ах, ох");
	norm_is("Йод, мой, ЙОД", "йод, мой, йод");
	norm_is("Ї ї", "и и"); /* Ukrainian yi: і with a mark, і is и */
	orig_of("Всё ясно", "все", "Всё");
	orig_of("café crème", "creme", "crème");
}

static void
test_norm_compat(void **state)
{
	(void)state;
	norm_is("\xef\xac\x81", "fi"); /* U+FB01 */
	norm_is("\xef\xac\x81nal", "final");
	norm_is("\xef\xbc\xa1", "a"); /* fullwidth A */
	norm_is("\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\x91", "ab1");
	norm_is("x\xc2\xb2", "x2");   /* superscript 2 */
	norm_is("\xe2\x84\xab", "a"); /* Angstrom -> å -> a */
	/* Mathematical bold, outside the BMP: U+1D400 U+1D401. */
	norm_is("\xf0\x9d\x90\x80\xf0\x9d\x90\x81", "ab");
	/* Emoji stay as they are; the variation selector goes. */
	norm_is("ok \xf0\x9f\x91\x8d", "ok \xf0\x9f\x91\x8d");
	norm_is("\xe2\x9c\x85\xef\xb8\x8f ok", "\xe2\x9c\x85 ok");
	/* Outside the table (plane 2): folded all the same. */
	norm_is("\xf0\xaf\xa0\x80", "\xe4\xb8\xbd"); /* U+2F800 -> U+4E3D */
	norm_is("\xf0\xa0\x80\x80", "\xf0\xa0\x80\x80");
	/* Bold Latin in a Cyrillic word is a look-alike like any other. */
	norm_is("г\xf0\x9d\x90\xa8лос", "голос"); /* U+1D428 bold o */
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
	norm_is("ab\xe2\x80\x87"
	        "cd\xe2\x80\xaf"
	        "ef",
	    "ab cd ef");
	norm_is("a\xe3\x80\x80"
	        "b",
	    "a b"); /* U+3000 */
	norm_is("ab\xe2\x80\xa8"
	        "cd\xc2\x85"
	        "ef",
	    "ab cd ef");                    /* U+2028, NEL */
	norm_is("a \xe2\x80\x8b b", "a b"); /* invisible inside a run */
	norm_is(" \xc2\xa0\t\n", "");
	norm_is("", "");
}

static void
test_norm_combining(void **state)
{
	(void)state;
	norm_is("e\xcc\x81", "e"); /* e + acute */
	norm_is("Е\xcc\x88"
	        "лка",
	    "елка");               /* Е + diaeresis */
	norm_is("и\xcc\x86", "й"); /* и + breve composes to й, which stays */
	/* An invisible character cannot split a letter from its mark. */
	norm_is("e\xe2\x80\x8b\xcc\x81", "e");
	/* Marks that do not compose go too, after Latin and Cyrillic
	 * letters (stress marks, evasion). */
	norm_is("вы\xcc\x81боры", "выборы");
	norm_is("q\xcc\x81\xcc\xa3", "q");
	norm_is("й\xcc\x81", "й");
	/* After anything else they stay, in canonical order: below (220)
	 * before above. */
	norm_is("1\xcc\x81\xcc\xa3", "1\xcc\xa3\xcc\x81");
	norm_is("\xce\xb1\xcc\x81", "\xce\xac"); /* Greek: composes */
	/* A mark at the very start. */
	norm_is("\xcc\x81"
	        "a",
	    "\xcc\x81"
	    "a");
	/* Hangul jamo compose into a syllable. */
	norm_is("\xe1\x84\x80\xe1\x85\xa1", "\xea\xb0\x80");
	orig_of("за вы\xcc\x81боры", "выборы", "вы\xcc\x81боры");
}

static void
test_norm_long_marks(void **state)
{
	/* Zalgo-like: one character with 300 marks. Runs of marks are cut
	 * every 30 (as in Unicode's stream-safe format) so that the cost
	 * stays linear; each piece maps to its own original range. After
	 * a letter, every piece drops its marks. */
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
	n       = norm_check(in, "ab");
	text_norm_to_orig(n, 0, 1, &os, &oe);
	assert_int_equal(os, 0);
	assert_int_equal(oe, 61);
	text_norm_to_orig(n, 0, 2, &os, &oe);
	assert_int_equal(os, 0);
	assert_int_equal(oe, 602);
	text_norm_free(n);

	in[0] = '1'; /* not a letter: the marks stay */
	n     = text_normalize(in, strlen(in));
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
	orig_of("  Сайлау  ҚОРЫТЫНДЫСЫ", "корытындысы", "ҚОРЫТЫНДЫСЫ");
	orig_of("Straße", "ase", "aße");
	orig_of("Straße", "e", "e");
	orig_of("\xef\xac\x81nal", "i", "\xef\xac\x81");
	orig_of("x\xef\xbc\xa1y", "a", "\xef\xbc\xa1");
	orig_of("xe\xcc\x81y", "e", "e\xcc\x81");
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

/* ------------------------------------------------------------ words */

/* True when in and other normalize to the same text. */
static void
norm_same(const char *in, const char *other)
{
	vigil_norm *a = text_normalize(in, strlen(in));
	vigil_norm *b = text_normalize(other, strlen(other));

	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(text_norm_text(a, NULL), text_norm_text(b, NULL));
	text_norm_free(a);
	text_norm_free(b);
}

static void
test_mixed_latin_in_cyrillic(void **state)
{
	/* Latin a, o, H among Cyrillic letters. */
	const char *in = "Зa кого гoлосуете нa выбoрах в Мaжилис";

	(void)state;
	text_norm_free(
	    norm_check(in, "за кого голосуете на выборах в мажилис"));
	norm_same(in, "За кого голосуете на выборах в Мажилис");
	orig_of(in, "голосуете", "гoлосуете");
	orig_of(in, "за", "Зa");
	orig_of(in, "мажилис", "Мaжилис");
	/* Uppercase Latin H looks like Н; lowercase h like Kazakh һ (х). */
	norm_is("НУР ОТAH", "нур отан");
	norm_is("шаhар", "шахар");
	/* Latin x, p, c, k, M, t, e, r, i, b in Cyrillic words; r looks
	 * like г, not р. */
	norm_is("уxо pуcский cнег kот Mир тoт бeз rод вiд bот",
	    "ухо руский снег кот мир тот без год вид вот");
	norm_is("КОT ТОM ВОT", "кот том вот");
}

static void
test_mixed_cyrillic_in_latin(void **state)
{
	(void)state;
	/* Cyrillic О in a Latin word. */
	norm_is("Nur \xd0\x9etan", "nur otan");
	orig_of("Nur \xd0\x9etan", "otan", "\xd0\x9etan");
	/* Cyrillic а, е, о, с, р in Latin words. */
	norm_is("vоtе fоr Аmаnаt", "vote for amanat");
	norm_is("\xd1\x81"
	        "ampaign",
	    "campaign");
	/* More Latin letters than Cyrillic: Latin, even when the Cyrillic
	 * letters could take the Latin ones too. */
	norm_is("g\xd0\xbe\xd0\xbe"
	        "d",
	    "god");
	/* A tie goes to Cyrillic. */
	norm_is("р\x61", "ра"); /* Cyrillic р, Latin a */
}

static void
test_mixed_left_alone(void **state)
{
	(void)state;
	/* Pure words are not touched, whatever their letters look like. */
	norm_is("hello world", "helo world");
	norm_is("рос сахар", "рос сахар");
	norm_is("coca cola", "coca cola");
	/* Neither script can take the other's letters: s, v and ж have no
	 * look-alike. */
	norm_is("vжs", "vжs");
	/* Digits and punctuation split words. */
	norm_is("a1б c-д", "a1б c-д");
	/* Greek letters count for neither script. */
	norm_is("a\xce\xb1о", "а\xce\xb1о"); /* a tie: Cyrillic */
}

static void
test_spaced_letters(void **state)
{
	const char *in = "Все на выборы: г о л о с у й!";

	(void)state;
	norm_is(in, "все на выборы: голосуй!");
	norm_is("v.o.t.e now", "vote now");
	norm_is("г-о-л-о-с", "голос");
	norm_is("a_b_c x*y*z", "abc xyz");
	norm_is("а\xc2\xb7б\xc2\xb7в", "абв");
	/* White space of any kind is one space... */
	norm_is("г\xc2\xa0о л\tо\nс", "голос");
	/* ...but where letters are spaced out, two or more break words,
	 * and two letters between such breaks join too. */
	norm_is("Г О Л О С У Й  З А  А Д А Л !", "голосуй за адал !");
	norm_is("Р е з у л ь т а т ы  о п р о с а", "результаты опроса");
	norm_is("г\xc2\xa0о  л\tо\nс", "г о лос");
	norm_is("и в у нас", "иву нас");
	norm_is("и  в нас", "и в нас");
	/* Spaced-out look-alikes join and then take one script. */
	norm_is("г o л o c", "голос");
	/* A doubled letter is one letter. */
	norm_is("гг оо л о сс", "голос");
	orig_of("за гг оо л о сс", "голос", "гг оо л о сс");
	/* Fewer than three, mixed separators, separators doubled, or a
	 * longer word: not a run. */
	norm_is("a b", "a b");
	norm_is("a.b-c", "a.b-c");
	norm_is("a..b..c", "a..b..c");
	norm_is("a b cd", "a b cd");
	/* Only the run joins; one-letter words around it that are
	 * separated otherwise stay. */
	norm_is("x a.b.c", "x abc");
	orig_of(in, "голосуй", "г о л о с у й");
	orig_of("go v.o.t.e", "vote", "v.o.t.e");
}

static void
test_repeated_letters(void **state)
{
	const char *in = "Голлосууй, pooll, 100%";

	(void)state;
	norm_is(in, "голосуй, pol, 100%");
	norm_is("Ура-а-а!!! 1000 ммм", "ура-а-а!!! 1000 м");
	norm_is("Ассамблея", "асамблея");
	/* A squeezed letter maps to its whole run. */
	orig_of(in, "голосуй", "Голлосууй");
	orig_of(in, "л", "лл");
	orig_of(in, "pol", "pooll");
	orig_of(in, "100", "100");
	/* Letters that only look the same after folding squeeze too. */
	norm_is("ВЫБОРЫЫ ёе", "выборы е");
}

/* The runs of the letters at each offset of in's normalized text. */
static void
runs_are(const char *in, const char *want_text, const uint8_t *want)
{
	vigil_norm *n = text_normalize(in, strlen(in));
	size_t      len;

	assert_non_null(n);
	assert_string_equal(text_norm_text(n, &len), want_text);
	assert_memory_equal(text_norm_runs(n), want, len);
	text_norm_free(n);
}

static void
test_letter_runs(void **state)
{
	char    many[400];
	uint8_t r;

	(void)state;
	runs_are("pooll", "pol", (const uint8_t[]){1, 2, 2});
	runs_are("Poll, pool", "pol, pol",
	    (const uint8_t[]){1, 1, 2, 1, 1, 1, 2, 1});
	/* Each byte of a Cyrillic letter carries its run. */
	runs_are(
	    "Голлос", "голос", (const uint8_t[]){1, 1, 1, 1, 2, 2, 1, 1, 1, 1});
	/* A folding that writes two letters: "ß" is "ss". */
	runs_are("Straße", "strase", (const uint8_t[]){1, 1, 1, 1, 2, 1});
	/* Spaced-out and mixed-script units count their runs too. */
	runs_are("п о о л", "пол", (const uint8_t[]){1, 1, 2, 2, 1, 1});
	runs_are("мoол", "мол", (const uint8_t[]){1, 1, 2, 2, 1, 1});
	/* A run longer than 255 stays at 255. */
	memset(many, 'a', sizeof(many) - 1);
	many[sizeof(many) - 1] = '\0';
	r                      = 255;
	runs_are(many, "a", &r);
}

static void
test_invisible_in_words(void **state)
{
	const char *zw   = "за го\xe2\x80\x8bлос\xe2\x80\x8dуй";
	const char *nbsp = "за\xc2\xa0голосуй";

	(void)state;
	norm_is(zw, "за голосуй");
	orig_of(zw, "голосуй", "го\xe2\x80\x8bлос\xe2\x80\x8dуй");
	norm_is(nbsp, "за голосуй");
	orig_of(nbsp, " ", "\xc2\xa0");
	orig_of(nbsp, "за голосуй", nbsp);
	/* An invisible character between doubled letters does not save
	 * them. */
	norm_is("гол\xc2\xadлос", "голос");
}

/* Many mixed words that all get longer (Latin a, one byte, becomes
 * Cyrillic а, two): the result outgrows its first allocation. */
static void
test_words_growth(void **state)
{
	char        in[4000], want[4000];
	size_t      i, k = 0, w = 0;
	vigil_norm *n;

	(void)state;
	for (i = 0; i < 500; i++) {
		memcpy(in + k, "вaс ", strlen("вaс "));
		k += strlen("вaс ");
		memcpy(want + w, "вас ", strlen("вас "));
		w += strlen("вас ");
	}
	in[k - 1]   = '\0';
	want[w - 1] = '\0';
	n           = norm_check(in, want);
	text_norm_free(n);
}

/* A field far larger than the buffers a thread keeps. */
static void
test_long_text(void **state)
{
	size_t      len = 200000, i, tlen, os, oe;
	char       *in  = malloc(len + 1);
	vigil_norm *n;
	const char *t;

	(void)state;
	assert_non_null(in);
	for (i = 0; i < len; i++)
		in[i] = "ab "[i % 3];
	in[len] = '\0';
	n       = text_normalize(in, len);
	assert_non_null(n);
	t = text_norm_text(n, &tlen);
	assert_int_equal(tlen, len); /* "ab ab ... ab" */
	assert_memory_equal(t, "ab ab ab", 8);
	text_norm_to_orig(n, tlen - 2, tlen, &os, &oe);
	assert_int_equal(os, len - 2);
	assert_int_equal(oe, len);
	text_norm_free(n);
	norm_is("ok", "ok"); /* and the next text is fine */
	free(in);
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
	assert_int_equal(text_matcher_scan_norm(m, n, collect, hs), 0);
	/* Plain text scans at least as much: no runs to hold literals to. */
	{
		struct hits plain = {.stop_after = hs->stop_after};

		assert_int_equal(
		    text_matcher_scan(m, t, len, collect, &plain), 0);
		assert_true(plain.n >= hs->n);
	}
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

/* A literal with a doubled letter needs at least as long a run in the
 * text; one without takes any run ("голлосууй" is still "голосуй"). */
static void
test_match_runs(void **state)
{
	const vigil_pattern pats[] = {
	    {.expr = "poll", .id = 1, .flags = VIGIL_PAT_WORD},
	    {.expr = "pool", .id = 2, .flags = VIGIL_PAT_WORD},
	    {.expr = "голосуй", .id = 3},
	    {.expr = "Ассамбле", .id = 4, .flags = VIGIL_PAT_PREFIX},
	};
	const struct {
		const char *in;
		unsigned    ids[4];
		size_t      n;
	} cases[] = {
	    {"exit poll", {1}, 1},
	    {"swimming pool", {2}, 1},
	    {"POOOLLL", {1, 2}, 2},
	    {"pol", {0}, 0},
	    {"Голлосууй!", {3}, 1},
	    {"асамблеи", {0}, 0},
	    {"Ассамблеи", {4}, 1},
	    {"а с с а м б л е и", {4}, 1},
	};
	vigil_matcher *m = matcher_ok(pats, 4);
	struct hits    hs;
	vigil_norm    *n;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = scan_text(m, cases[i].in, &hs);
		if (hs.n != cases[i].n)
			fail_msg("'%s': %zu hits, want %zu", cases[i].in, hs.n,
			    cases[i].n);
		for (size_t k = 0; k < hs.n; k++)
			assert_int_equal(hs.h[k].id, cases[i].ids[k]);
		text_norm_free(n);
	}
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
test_match_prefix(void **state)
{
	/* Stems: "голосу" for every form of "голосовать", but not for
	 * "проголосовать"; a prefiltered regex (lookahead) the same way. */
	const vigil_pattern pats[] = {
	    {.expr = "голосу", .id = 1, .flags = VIGIL_PAT_PREFIX},
	    {.expr = "голосу", .id = 2},
	    {.expr     = "голос(?=у)",
	        .id    = 3,
	        .flags = VIGIL_PAT_REGEX | VIGIL_PAT_PREFIX},
	    {.expr     = "выбор\\w*",
	        .id    = 4,
	        .flags = VIGIL_PAT_REGEX | VIGIL_PAT_PREFIX},
	    {.expr     = "голосу",
	        .id    = 5,
	        .flags = VIGIL_PAT_PREFIX | VIGIL_PAT_WORD},
	};
	/* Latin O in the second word. */
	const char    *in = "Проголосуете? ГOЛОСУЙТЕ! Голосуете, выборы, "
	                    "перевыборы, голосу";
	vigil_matcher *m  = matcher_ok(pats, 5);
	struct hits    hs;
	vigil_norm    *n = scan_text(m, in, &hs);
	size_t         i, count[6] = {0};
	size_t         s4 = strlen("проголосуете? голосуйте! голосуете, ");

	(void)state;
	for (i = 0; i < hs.n; i++) {
		assert_true(hs.h[i].id >= 1 && hs.h[i].id <= 5);
		count[hs.h[i].id]++;
		if (hs.h[i].id == 1 && count[1] == 1)
			assert_orig(n, in, &hs.h[i], "ГOЛОСУ");
		if (hs.h[i].id == 3 && count[3] == 2)
			assert_orig(n, in, &hs.h[i], "Голос");
		if (hs.h[i].id == 4)
			assert_int_equal(hs.h[i].start, s4);
		if (hs.h[i].id == 5)
			assert_orig(n, in, &hs.h[i], "голосу");
	}
	assert_int_equal(count[1], 3);
	assert_int_equal(count[2], 4);
	assert_int_equal(count[3], 3);
	assert_int_equal(count[4], 2); /* "выбор", "выборы": every end */
	assert_int_equal(count[5], 1); /* both edges: the last word only */
	text_norm_free(n);
	text_matcher_free(m);
}

static void
test_match_folded_regex(void **state)
{
	const vigil_pattern pats[] = {
	    {.expr = "выбор(ы|ах)", .id = 1, .flags = VIGIL_PAT_REGEX},
	    {.expr     = "[а-яё]+ка",
	        .id    = 2,
	        .flags = VIGIL_PAT_REGEX | VIGIL_PAT_WORD},
	    {.expr = "қазақ", .id = 3, .flags = VIGIL_PAT_REGEX},
	    {.expr = "Straße \\d+", .id = 4, .flags = VIGIL_PAT_REGEX},
	    {.expr     = "\xef\xbc\x88опрос\xef\xbc\x89",
	        .id    = 5,
	        .flags = VIGIL_PAT_REGEX}, /* fullwidth parentheses */
	    {.expr = "голлосуй", .id = 6, .flags = VIGIL_PAT_REGEX},
	};
	const char *in = "На ВЫБОРАХ в Қазақстане: ЁЛКА, STRASSE 2021, "
	                 "(ОПРОС) \xef\xbc\x88опрос\xef\xbc\x89";
	vigil_matcher *m = matcher_ok(pats, 6);
	struct hits    hs;
	vigil_norm    *n = scan_text(m, in, &hs);
	size_t         i, count[7] = {0};

	(void)state;
	for (i = 0; i < hs.n; i++) {
		assert_true(hs.h[i].id >= 1 && hs.h[i].id <= 6);
		count[hs.h[i].id]++;
		switch (hs.h[i].id) {
		case 1: assert_orig(n, in, &hs.h[i], "ВЫБОРАХ"); break;
		case 2: assert_orig(n, in, &hs.h[i], "ЁЛКА"); break;
		case 3: assert_orig(n, in, &hs.h[i], "Қазақ"); break;
		case 5:
			if (count[5] == 1)
				assert_orig(n, in, &hs.h[i], "(ОПРОС)");
			break;
		default: break;
		}
	}
	assert_int_equal(count[1], 1);
	assert_int_equal(count[2], 1);
	assert_int_equal(count[3], 1);
	assert_true(count[4] >= 1);
	assert_int_equal(count[5], 2);
	/* A doubled letter never occurs in folded text. */
	assert_int_equal(count[6], 0);
	text_norm_free(n);
	text_matcher_free(m);
}

static void
test_fold_regex(void **state)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
	    {"[а-яё]+", "[а-яе]+"},
	    {"қазақ\\s\\D", "казак\\s\\D"},
	    {"ВЫБОР(Ы|АХ)", "выбор(ы|ах)"},
	    {"\xef\xbc\x88да\xef\xbc\x89", "\\(да\\)"},
	    {"\\ё", "е"},       /* escaping it only made it literal */
	    {"\\\\ё", "\\\\е"}, /* an escaped backslash stays */
	    {"Straße", "Strase"},
	    {"е\xcc\x88", "е"},
	    {"a\xc2\xa0"
	     "b",
	        "a\\ b"},
	    {"x\xe2\x80\x8by", "xy"},
	    {"Сс", "с"},
	    {"\\d{1,3}\\s?%", "\\d{1,3}\\s?%"},
	};
	char  *r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = text_fold_regex(cases[i].in, strlen(cases[i].in));
		assert_non_null(r);
		assert_string_equal(r, cases[i].want);
		free(r);
	}
	assert_null(text_fold_regex("ab\xff", 3));
	assert_null(text_fold_regex(NULL, 1));
	r = text_fold_regex(NULL, 0);
	assert_non_null(r);
	assert_string_equal(r, "");
	free(r);
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
	    {.expr = "да", .id = 1},
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
	n = text_normalize("да да да да", strlen("да да да да"));
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
	    /* A backreference (prefiltered): a repeated word, as a
	     * doubled letter never reaches a regex. */
	    {.expr = "(да) \\1", .id = 2, .flags = VIGIL_PAT_REGEX},
	};
	vigil_matcher *m  = matcher_ok(pats, 2);
	struct nested  ns = {.m = m};

	(void)state;
	assert_int_equal(
	    text_matcher_scan(m, "да", strlen("да"), nested_cb, &ns), 0);
	assert_int_equal(ns.outer, 1);
	assert_int_equal(ns.inner.n, 3); /* "да" twice, "да да" */
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

struct norm_worker {
	const char *in;
	const char *want;
	int         failures;
};

/* cmocka's asserts are not for other threads: count, check later. */
static void *
norm_loop(void *arg)
{
	struct norm_worker *w = arg;
	int                 i;

	for (i = 0; i < 300; i++) {
		vigil_norm *n = text_normalize(w->in, strlen(w->in));

		if (n == NULL || strcmp(text_norm_text(n, NULL), w->want) != 0)
			w->failures++;
		text_norm_free(n);
	}
	return NULL;
}

/* Each thread normalizes in buffers of its own, freed when it ends. */
static void
test_norm_threads(void **state)
{
	struct norm_worker w[4] = {
	    {"Зa кого гoлосуете?", "за кого голосуете?", 0},
	    {"г о л о с у й", "голосуй", 0},
	    {"Сайлауда қай партияға", "сайлауда кай партияга", 0},
	    {"pooll Nur \xd0\x9etan", "pol nur otan", 0},
	};
	pthread_t th[4];
	int       i;

	(void)state;
	for (i = 0; i < 4; i++)
		assert_int_equal(
		    pthread_create(&th[i], NULL, norm_loop, &w[i]), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
}

/* Without the tables nothing is normalized or compiled; the tables can
 * be built again. */
static void
test_fini_init(void **state)
{
	const vigil_pattern lit[] = {{.expr = "x", .id = 1}};
	const vigil_pattern re[]  = {
	     {.expr = "x", .id = 1, .flags = VIGIL_PAT_REGEX}};
	char err[256];

	(void)state;
	text_fini();
	assert_null(text_normalize("x", 1));
	assert_null(text_fold_regex("x", 1));
	assert_null(text_matcher_new(lit, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "text_init"));
	assert_null(text_matcher_new(re, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "text_init"));
	text_fini();
	assert_int_equal(text_init(), 0);
	assert_int_equal(text_init(), 0);
	norm_is("Ёж pooll", "еж pol");
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

/* Through the host table, the text services build their tables on first
 * use: vigild, which leaves its rules to the workers, never calls
 * text_init itself. Runs before the group that calls it. */
static void
test_host_builds_tables(void **state)
{
	const vigil_host   *h     = host_table();
	const vigil_pattern lit[] = {{.expr = "ёж", .id = 1}};
	vigil_matcher      *m;
	vigil_norm         *n;
	char                err[256] = "";
	size_t              len;

	(void)state;
	assert_null(text_normalize("x", 1)); /* not built yet */
	n = h->normalize("Ёж", strlen("Ёж"));
	assert_non_null(n);
	assert_string_equal(text_norm_text(n, &len), "еж");
	h->norm_free(n);
	m = h->matcher_new(lit, 1, err, sizeof(err));
	if (m == NULL)
		fail_msg("matcher_new: %s", err);
	h->matcher_free(m);
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
	    cmocka_unit_test(test_norm_kazakh_sentence),
	    cmocka_unit_test(test_norm_diacritics),
	    cmocka_unit_test(test_norm_compat),
	    cmocka_unit_test(test_norm_invisible),
	    cmocka_unit_test(test_norm_whitespace),
	    cmocka_unit_test(test_norm_combining),
	    cmocka_unit_test(test_norm_long_marks),
	    cmocka_unit_test(test_norm_invalid),
	    cmocka_unit_test(test_norm_empty),
	    cmocka_unit_test(test_map_back),
	    cmocka_unit_test(test_map_points),
	    cmocka_unit_test(test_mixed_latin_in_cyrillic),
	    cmocka_unit_test(test_mixed_cyrillic_in_latin),
	    cmocka_unit_test(test_mixed_left_alone),
	    cmocka_unit_test(test_spaced_letters),
	    cmocka_unit_test(test_repeated_letters),
	    cmocka_unit_test(test_invisible_in_words),
	    cmocka_unit_test(test_words_growth),
	    cmocka_unit_test(test_long_text),
	    cmocka_unit_test(test_match_literal),
	    cmocka_unit_test(test_match_word_edges),
	    cmocka_unit_test(test_match_regex),
	    cmocka_unit_test(test_match_prefix),
	    cmocka_unit_test(test_match_folded_regex),
	    cmocka_unit_test(test_fold_regex),
	    cmocka_unit_test(test_match_prefilter),
	    cmocka_unit_test(test_match_too_large_for_som),
	    cmocka_unit_test(test_match_errors),
	    cmocka_unit_test(test_match_empty_and_stop),
	    cmocka_unit_test(test_match_nested),
	    cmocka_unit_test(test_match_runs),
	    cmocka_unit_test(test_letter_runs),
	    cmocka_unit_test(test_match_threads),
	    cmocka_unit_test(test_norm_threads),
	    cmocka_unit_test(test_match_reload),
	    cmocka_unit_test(test_fini_init),
	};

	const struct CMUnitTest first[] = {
	    cmocka_unit_test(test_host_builds_tables),
	};

	if (cmocka_run_group_tests(first, NULL, NULL) != 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
