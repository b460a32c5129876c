/*
 * bench.c - vigil-bench: prints how fast vigil scores posts and how much
 * memory it takes, beside the project's targets. A benchmark, not a test.
 *
 * It makes synthetic posts (Russian, Kazakh, English; some polls; some
 * carrying a watchlist term) and a watchlist of generated terms, then:
 *
 *   worker alone  one thread of this process loads the rules the way a
 *                 worker does and times scorer_run over the posts;
 *   end to end    the real vigild, posts on its stdin (jsonl input),
 *                 alerts to a FIFO (file sink) that this program reads:
 *                 a throughput run as fast as vigild takes posts, then a
 *                 latency run at a fixed rate.
 *
 * Latency of a post is the time from its submission to its first alert
 * read from the FIFO, so only posts that match a term are timed; the
 * generator knows which those are. README.md says how each figure is
 * defined.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "log.h"
#include "score.h"
#include "text.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The targets, as the issue states them. */
#define TARGET_E2E_POSTS_S    100000.0
#define TARGET_P99_MS         10.0
#define TARGET_VIGILD_MIB     32.0
#define TARGET_WORKER_MIB     64.0
#define TARGET_WORKER_POSTS_S 50000.0

#define WARMUP_POSTS  2000
#define STALL_S       60   /* no progress this long: the run failed */
#define READY_S       30   /* for the workers to come up */
#define STOP_S        35   /* for vigild to drain and exit */
#define CHUNK_BYTES   65536
#define PIPE_BYTES    (1 << 20)
#define MAX_PROCS     256

/* ------------------------------------------------------------ options */

enum mode { MODE_ALL, MODE_WORKER, MODE_E2E };

typedef struct opts {
	const char *builddir;
	const char *dir;
	enum mode   mode;
	size_t      n_posts;   /* end-to-end throughput run */
	unsigned    rate;      /* latency run, posts/s */
	unsigned    duration;  /* latency run, seconds */
	size_t      pool;      /* distinct post bodies */
	unsigned    passes;    /* worker alone, after one warm-up pass */
	int         workers;
	size_t      terms;
	unsigned    lists;
	unsigned    match_pct;
	uint64_t    seed;
	long        batch, inflight, backlog; /* 0: the daemon's default */
	bool        keep;
} opts;

/* ------------------------------------------------------------ helpers */

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("vigil-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		die("out of memory (%zu bytes)", n);
	return p;
}

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (p == NULL)
		die("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		die("out of memory");
	return p;
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
sleep_ns(int64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static double
self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* A growing byte string; running out of memory ends the program. */
typedef struct buf {
	char  *p;
	size_t len, cap;
} buf;

static void
buf_reserve(buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 256;

	if (b->len + more + 1 <= b->cap)
		return;
	while (cap < b->len + more + 1)
		cap *= 2;
	if ((b->p = realloc(b->p, cap)) == NULL)
		die("out of memory");
	b->cap = cap;
}

static void
buf_add(buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_str(buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void VIGIL_PRINTF(2, 3)
buf_fmt(buf *b, const char *fmt, ...)
{
	va_list ap;
	int     n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("bad format");
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* 1234567 -> "1,234,567" */
static const char *
grouped(char *out, size_t len, double v)
{
	char     tmp[32];
	size_t   n, o = 0;
	uint64_t u = v < 0 ? 0 : (uint64_t)(v + 0.5);

	n = (size_t)snprintf(tmp, sizeof(tmp), "%" PRIu64, u);
	for (size_t i = 0; i < n && o + 2 < len; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = tmp[i];
	}
	out[o] = '\0';
	return out;
}

/* ------------------------------------------------------------ random */

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static size_t
rnd_below(size_t n)
{
	return (size_t)(((rnd() >> 32) * (uint64_t)n) >> 32);
}

static size_t
rnd_range(size_t lo, size_t hi) /* [lo, hi] */
{
	return lo + rnd_below(hi - lo + 1);
}

static bool
chance(unsigned pct)
{
	return rnd_below(1000) < pct * 10;
}

#define PICK(arr)  ((arr)[rnd_below(ARRAY_LEN(arr))])
#define PICK_W(wl) ((wl)->w[rnd_below((wl)->n)])

/* ------------------------------------------------------------ words */

enum lang { RU, KK, EN, N_LANG };
static const char *const lang_code[N_LANG] = {"ru", "kk", "en"};

typedef struct wordlist {
	const char *const *w;
	size_t             n;
} wordlist;
#define WORDS(a) {(a), ARRAY_LEN(a)}

/* Everyday words: post text is made of these, and no term is. */
static const char *const ru_filler[] = {"сегодня", "погода", "город",
    "люди", "новый", "новая", "дом", "работа", "время", "день", "вечер",
    "утро", "друзья", "семья", "магазин", "цены", "хлеб", "молоко",
    "дорога", "машина", "автобус", "школа", "учитель", "дети", "праздник",
    "концерт", "музыка", "кино", "фильм", "книга", "читать", "смотреть",
    "говорить", "думаю", "хорошо", "плохо", "очень", "тоже", "только",
    "потом", "снег", "дождь", "солнце", "ветер", "холодно", "тепло",
    "парк", "улица", "центр", "рынок", "кафе", "обед", "ужин", "чай",
    "кофе", "спорт", "футбол", "матч", "команда", "игра", "горы", "озеро",
    "река", "фото", "поездка", "поезд", "аэропорт", "рейс", "гостиница",
    "красивый", "отличный", "прекрасный", "люблю", "рождения", "выходные",
    "пробки", "очередь", "офис", "встреча", "проект", "ноутбук", "телефон",
    "приложение", "интернет", "сообщение", "вопрос", "ответ", "помощь",
    "спасибо", "пожалуйста", "привет", "всем", "кто", "знает", "где",
    "можно", "купить", "недорого", "скидка", "доставка", "заказ", "торт",
    "пирог", "суп", "плов", "баурсаки", "бешбармак", "кумыс", "кофейня",
    "библиотека", "музей", "театр", "выставка", "экскурсия", "прогулка",
    "велосипед", "тренировка", "бассейн", "здоровье", "врач", "аптека",
    "весна", "лето", "осень", "зима", "январь", "март", "май", "июль",
    "неделя", "месяц", "год", "вчера", "завтра", "скоро", "давно",
    "сосед", "квартира", "ремонт", "окно", "кухня", "сад", "огород",
    "цветы", "собака", "кошка", "птица", "небо", "звезды", "луна", "море",
    "отпуск", "путешествие", "билет", "вокзал", "такси", "метро", "мост",
    "площадь", "здание", "фестиваль", "ярмарка", "конкурс", "студент",
    "университет", "экзамен", "урок", "друг", "подруга", "мама", "папа",
    "бабушка", "дедушка", "брат", "сестра", "и", "в", "на", "с", "по",
    "для", "что", "это", "как", "но", "а", "уже", "ещё", "все", "мы", "вы",
    "они", "он", "она", "я", "мне", "нас", "очень", "было", "будет"};
static const char *const kk_filler[] = {"бүгін", "ауа", "райы", "қала",
    "адамдар", "жаңа", "үй", "жұмыс", "уақыт", "күн", "кеш", "таң",
    "достар", "отбасы", "дүкен", "баға", "нан", "сүт", "жол", "көлік",
    "мектеп", "мұғалім", "балалар", "мереке", "әуен", "кітап", "оқу",
    "көру", "жақсы", "жаман", "өте", "де", "тек", "кейін", "қар",
    "жаңбыр", "жел", "суық", "жылы", "саябақ", "көше", "орталық", "базар",
    "түскі", "ас", "шай", "ойын", "жеңіс", "әже", "ата", "ағай", "апай",
    "қымыз", "бауырсақ", "дастархан", "той", "ән", "өлең", "қыз", "ұл",
    "бала", "үлкен", "кіші", "әдемі", "көңілді", "рахмет", "сәлем",
    "қайырлы", "таңертең", "түн", "ұйқы", "сағат", "апта", "ай", "жыл",
    "өзен", "тау", "дала", "көл", "жылқы", "қой", "сиыр", "егін", "алма",
    "өрік", "қауын", "қарбыз", "ет", "палау", "шаһар", "жиһаз",
    "қаһарман", "гауһар", "айдын", "ғажап", "ғимарат", "ағаш", "бақша",
    "гүл", "ит", "мысық", "құс", "аспан", "жұлдыз", "теңіз", "демалыс",
    "саяхат", "вокзал", "көпір", "алаң", "студент", "емтихан", "сабақ",
    "тапсырма", "дос", "анам", "әкем", "әжем", "атам", "інім", "сіңлім",
    "немере", "және", "мен", "сен", "біз", "сіз", "олар", "бұл", "осы",
    "сол", "қандай", "қашан", "қайда", "неге", "бәрі", "көп", "аз", "бар",
    "жоқ", "болады", "керек", "ертең", "кеше", "жақында", "ғой", "ғана"};
static const char *const en_filler[] = {"today", "weather", "city",
    "people", "new", "home", "work", "time", "day", "evening", "morning",
    "friends", "family", "shop", "prices", "bread", "milk", "road", "car",
    "bus", "school", "teacher", "kids", "holiday", "concert", "music",
    "movie", "book", "read", "watch", "think", "good", "bad", "very",
    "also", "only", "later", "snow", "rain", "sun", "wind", "cold", "warm",
    "park", "street", "center", "market", "cafe", "lunch", "dinner", "tea",
    "coffee", "sport", "football", "match", "team", "game", "mountains",
    "lake", "river", "photo", "trip", "train", "airport", "flight", "hotel",
    "beautiful", "amazing", "great", "nice", "love", "happy", "birthday",
    "weekend", "traffic", "queue", "office", "meeting", "project",
    "laptop", "phone", "app", "update", "internet", "message", "question",
    "answer", "help", "thanks", "please", "hello", "everyone", "who",
    "knows", "where", "buy", "cheap", "discount", "delivery", "order",
    "cake", "soup", "library", "museum", "theatre", "exhibition", "tour",
    "walk", "bike", "running", "training", "gym", "pool", "health",
    "doctor", "pharmacy", "spring", "summer", "autumn", "winter", "week",
    "month", "year", "yesterday", "tomorrow", "soon", "recently",
    "neighbour", "apartment", "repair", "window", "kitchen", "garden",
    "flowers", "dog", "cat", "bird", "sky", "stars", "moon", "sea", "beach",
    "travel", "ticket", "station", "taxi", "bridge", "square", "building",
    "festival", "contest", "student", "university", "exam", "lesson",
    "friend", "mom", "dad", "grandma", "brother", "sister", "and", "the",
    "a", "of", "to", "in", "on", "with", "for", "that", "this", "is", "was",
    "are", "we", "you", "they", "it", "my", "our", "just", "really", "so"};
static const wordlist filler[N_LANG] = {
    WORDS(ru_filler), WORDS(kk_filler), WORDS(en_filler)};

/* Watchlist vocabulary: nouns, adjectives paired with them, and phrases
 * people actually write. */
static const char *const ru_nouns[] = {"выборы", "голосование", "избирком",
    "бюллетень", "бюллетени", "кандидат", "депутаты", "мажилис",
    "маслихат", "партия", "митинг", "протест", "забастовка", "коррупция",
    "взятка", "откат", "референдум", "агитация", "явка", "фальсификация",
    "вброс", "наблюдатели", "экзитпол", "рейтинг", "опрос", "оппозиция",
    "санкции", "мобилизация", "девальвация", "госпереворот", "беспорядки",
    "задержания", "обыски", "экстремизм", "пропаганда", "шествие"};
static const char *const ru_adjs[] = {"досрочные", "честные", "незаконный",
    "массовый", "фальшивый", "тайный", "официальный", "независимый",
    "несанкционированный", "политический", "народный", "повторный",
    "закрытый", "региональный", "антиправительственный"};
static const char *const ru_phrases[] = {"за кого проголосуете",
    "результаты опроса", "рейтинг партий", "голосуйте за",
    "пишите в комментариях номер партии", "подкуп избирателей",
    "карусельное голосование", "сбор подписей", "призыв к забастовке"};
static const char *const kk_nouns[] = {"сайлау", "дауыс", "сайлаушы",
    "сайлаукөм", "мәжіліс", "наразылық", "ереуіл", "парақорлық",
    "жемқорлық", "пара", "үгіт", "бақылаушы", "сауалнама", "санкция",
    "әкімдік", "билік", "үкімет", "парламент", "шеру", "жиын", "тінту",
    "арандату", "үндеу", "бойкот", "күдікті", "үгітнама", "депутаттар",
    "құрылтай", "мәслихат", "сайлауында"};
static const char *const kk_adjs[] = {"әділ", "жалған", "жаппай",
    "жасырын", "ресми", "тәуелсіз", "саяси", "заңсыз", "рұқсатсыз",
    "халықтық", "аймақтық", "кезектен тыс"};
static const char *const kk_phrases[] = {"кімге дауыс бересіз",
    "сауалнама нәтижелері", "сайлау учаскесі", "ереуілге шығу",
    "дауыс сатып алу"};
static const char *const en_nouns[] = {"election", "elections", "ballot",
    "ballots", "poll", "polls", "referendum", "candidate", "protest",
    "rally", "strike", "bribe", "kickback", "corruption", "fraud",
    "turnout", "observers", "campaign", "propaganda", "sanctions", "coup",
    "riot", "mobilization", "devaluation", "embezzlement", "vote", "votes",
    "exitpoll", "parliament", "opposition", "crackdown", "detention",
    "boycott", "petition", "extremism"};
static const char *const en_adjs[] = {"rigged", "snap", "illegal", "mass",
    "fake", "secret", "official", "independent", "unauthorized",
    "political", "early", "armed", "violent", "nationwide", "disputed"};
static const char *const en_phrases[] = {"exit poll", "who will you vote for",
    "vote buying", "ballot stuffing", "poll results", "election forecast",
    "call to protest", "general strike"};
static const wordlist term_nouns[N_LANG] = {
    WORDS(ru_nouns), WORDS(kk_nouns), WORDS(en_nouns)};
static const wordlist term_adjs[N_LANG] = {
    WORDS(ru_adjs), WORDS(kk_adjs), WORDS(en_adjs)};
static const wordlist term_phrases[N_LANG] = {
    WORDS(ru_phrases), WORDS(kk_phrases), WORDS(en_phrases)};

static const char *const list_names[] = {"elections", "unrest",
    "corruption", "economy", "security", "media", "campaign", "misc"};

static const char *const first_names[N_LANG][8] = {
    {"Алия", "Ерлан", "Марина", "Дмитрий", "Айгуль", "Сергей", "Наталья",
	"Тимур"},
    {"Айгерім", "Нұрлан", "Әсел", "Бауыржан", "Гүлнұр", "Ерболат", "Дәулет",
	"Мөлдір"},
    {"John", "Emma", "Alex", "Sarah", "Daniyar", "Aliya", "Mike", "Olivia"}};
static const char *const last_names[N_LANG][6] = {
    {"Иванова", "Касымов", "Смагулова", "Петров", "Ахметов", "Ким"},
    {"Сәрсенбаев", "Жұмабекова", "Оспанов", "Әбенова", "Құрманғали",
	"Төлегенов"},
    {"Smith", "Brown", "Kim", "Lee", "Nurpeisov", "Walker"}};
static const char *const channels[] = {"almaty_news", "astana_today",
    "qazaq_jastar", "kz_market", "shymkent_live", "steppe_tech", "eng_kz",
    "karaganda_city", "aktobe_online", "bilim_kz", "semey_chat",
    "atyrau_info"};
static const char *const platforms[] = {"telegram", "telegram", "telegram",
    "vk", "facebook", "instagram", "x"};
static const char *const emoji[] = {"🙂", "😂", "🔥", "👍", "❤️", "🇰🇿",
    "🎉", "😢", "🙏"};
static const char *const hashtags[] = {"#алматы", "#астана", "#kazakhstan",
    "#қазақстан", "#погода", "#news", "#той", "#weekend"};

static bool
is_filler(const char *w, size_t n)
{
	for (int l = 0; l < N_LANG; l++)
		for (size_t i = 0; i < filler[l].n; i++)
			if (strlen(filler[l].w[i]) == n &&
			    memcmp(filler[l].w[i], w, n) == 0)
				return true;
	return false;
}

/* A term made only of everyday words could turn up in any post, and the
 * count of posts that should alert would be wrong. */
static bool
term_is_distinct(const char *t)
{
	while (*t) {
		size_t n = strcspn(t, " ");

		if (n > 0 && !is_filler(t, n))
			return true;
		t += n + (t[n] == ' ');
	}
	return false;
}

/* ------------------------------------------------------------ case */

/* Decodes one code point of our word lists (ASCII or two-byte UTF-8);
 * returns its length, or 0 for a longer sequence (copied as it is). */
static size_t
utf8_cp2(const unsigned char *s, unsigned *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0 && (s[1] & 0xc0) == 0x80) {
		*cp = ((unsigned)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
		return 2;
	}
	return 0;
}

static unsigned
upper_cp(unsigned cp)
{
	if (cp >= 'a' && cp <= 'z')
		return cp - 32;
	if (cp >= 0x430 && cp <= 0x44f) /* а..я */
		return cp - 0x20;
	if (cp >= 0x450 && cp <= 0x45f) /* ё, і, ... */
		return cp - 0x50;
	if (cp >= 0x460 && cp <= 0x4ff && (cp & 1)) /* ә ғ қ ң ө ұ ү һ */
		return cp - 1;
	return cp;
}

enum casing { AS_IS, CAPITAL, ALL_CAPS };

static void
add_cased(buf *b, const char *word, enum casing c)
{
	const unsigned char *s = (const unsigned char *)word;
	bool                 first = true;

	while (*s) {
		unsigned cp;
		size_t   n = utf8_cp2(s, &cp);
		char     enc[2];

		if (n == 0) { /* three or four bytes: leave alone */
			n = (*s >= 0xf0) ? 4 : 3;
			buf_add(b, (const char *)s, n);
		} else {
			if (c == ALL_CAPS || (c == CAPITAL && first))
				cp = upper_cp(cp);
			if (cp < 0x80) {
				enc[0] = (char)cp;
				buf_add(b, enc, 1);
			} else {
				enc[0] = (char)(0xc0 | (cp >> 6));
				enc[1] = (char)(0x80 | (cp & 0x3f));
				buf_add(b, enc, 2);
			}
		}
		s += n;
		first = false;
	}
}

/* ------------------------------------------------------------ terms */

typedef struct term {
	char     *text;
	enum lang lang;
	unsigned  list;
} term;

typedef struct termset {
	term   *v;
	size_t  n;
	size_t *by_lang[N_LANG]; /* indices into v */
	size_t  n_lang[N_LANG];
} termset;

static bool
term_known(const termset *ts, const char *s)
{
	for (size_t i = 0; i < ts->n; i++)
		if (strcmp(ts->v[i].text, s) == 0)
			return true;
	return false;
}

static void
term_add(termset *ts, const char *s, enum lang l)
{
	if (!term_is_distinct(s))
		die("term \"%s\" is made of everyday words only", s);
	ts->v[ts->n].text = xstrdup(s);
	ts->v[ts->n].lang = l;
	ts->by_lang[l][ts->n_lang[l]++] = ts->n;
	ts->n++;
}

/* quota terms of language l: phrases and nouns first, then adjective +
 * noun pairs in random order. */
static void
terms_of_lang(termset *ts, enum lang l, size_t quota)
{
	const wordlist *ph = &term_phrases[l], *no = &term_nouns[l];
	const wordlist *ad = &term_adjs[l];
	size_t          end = ts->n + quota, tries = 0;
	char            pair[256];

	for (size_t i = 0; i < ph->n && ts->n < end; i++)
		if (!term_known(ts, ph->w[i]))
			term_add(ts, ph->w[i], l);
	for (size_t i = 0; i < no->n && ts->n < end; i++)
		if (!term_known(ts, no->w[i]))
			term_add(ts, no->w[i], l);
	while (ts->n < end) {
		if (++tries > 100000)
			die("cannot make %zu distinct terms; use fewer (--terms)",
			    quota);
		snprintf(pair, sizeof(pair), "%s %s", PICK_W(ad), PICK_W(no));
		if (!term_known(ts, pair))
			term_add(ts, pair, l);
	}
}
