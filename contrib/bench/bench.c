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
#include "wire.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The targets, as the issue states them. */
#define TARGET_E2E_POSTS_S    100000.0
#define TARGET_P99_MS         10.0
#define TARGET_VIGILD_MIB     32.0
#define TARGET_WORKER_MIB     64.0
#define TARGET_WORKER_POSTS_S 50000.0
#define TARGET_KZ_POSTS_S     50000.0 /* kz + the watchlist */

#define WARMUP_POSTS      2000
#define STALL_S           60 /* no progress this long: the run failed */
#define READY_S           30 /* for the workers to come up */
#define STOP_S            35 /* for vigild to drain and exit */
#define CHUNK_BYTES       65536
#define PIPE_BYTES        (1 << 20)
#define MAX_PROCS         256
#define CONTROL_REPLY_MAX 65536

/* ------------------------------------------------------------ options */

enum mode { MODE_ALL, MODE_WORKER, MODE_E2E };

typedef struct opts {
	const char *builddir;
	const char *dir;
	enum mode   mode;
	size_t      n_posts;  /* end-to-end throughput run */
	unsigned    rate;     /* latency run, posts/s */
	unsigned    duration; /* latency run, seconds */
	size_t      pool;     /* distinct post bodies */
	unsigned    passes;   /* worker alone, after one warm-up pass */
	int         workers;  /* local; -1: one per online CPU */
	const char *remote;   /* comma-separated endpoints, or NULL */
	size_t      n_remote;
	const char *workers_conf; /* a file of more workers settings */
	const char *config_only;  /* write the configuration here, exit */
	size_t      terms;
	unsigned    lists;
	unsigned    match_pct;
	uint64_t    seed;
	long        batch, inflight, backlog; /* 0: the daemon's default */
	bool        keep;
	bool        kz;     /* add the kz rules; posts inside their windows */
	const char *srcdir; /* for the kz data in etc/kz */
} opts;

/* With --kz every post falls inside the 2024 referendum's windows, so
 * that the kz rules do their whole work on each one. */
static bool posts_in_kz_windows;

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
	struct timespec ts = {
	    (time_t)(ns / 1000000000), (long)(ns % 1000000000)};

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

static void VIGIL_PRINTF(2, 3) buf_fmt(buf *b, const char *fmt, ...)
{
	char    tmp[512];
	va_list ap;
	int     n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		die("bad format");
	if ((size_t)n < sizeof(tmp)) {
		buf_add(b, tmp, (size_t)n);
		return;
	}
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
#define WORDS(a)                                                               \
	{                                                                      \
		(a), ARRAY_LEN(a)                                              \
	}

/* Everyday words: post text is made of these, and no term is. */
static const char *const ru_filler[] = {"сегодня", "погода", "город", "люди",
    "новый", "новая", "дом", "работа", "время", "день", "вечер", "утро",
    "друзья", "семья", "магазин", "цены", "хлеб", "молоко", "дорога", "машина",
    "автобус", "школа", "учитель", "дети", "праздник", "концерт", "музыка",
    "кино", "фильм", "книга", "читать", "смотреть", "говорить", "думаю",
    "хорошо", "плохо", "очень", "тоже", "только", "потом", "снег", "дождь",
    "солнце", "ветер", "холодно", "тепло", "парк", "улица", "центр", "рынок",
    "кафе", "обед", "ужин", "чай", "кофе", "спорт", "футбол", "матч", "команда",
    "игра", "горы", "озеро", "река", "фото", "поездка", "поезд", "аэропорт",
    "рейс", "гостиница", "красивый", "отличный", "прекрасный", "люблю",
    "рождения", "выходные", "пробки", "очередь", "офис", "встреча", "проект",
    "ноутбук", "телефон", "приложение", "интернет", "сообщение", "вопрос",
    "ответ", "помощь", "спасибо", "пожалуйста", "привет", "всем", "кто",
    "знает", "где", "можно", "купить", "недорого", "скидка", "доставка",
    "заказ", "торт", "пирог", "суп", "плов", "баурсаки", "бешбармак", "кумыс",
    "кофейня", "библиотека", "музей", "театр", "выставка", "экскурсия",
    "прогулка", "велосипед", "тренировка", "бассейн", "здоровье", "врач",
    "аптека", "весна", "лето", "осень", "зима", "январь", "март", "май", "июль",
    "неделя", "месяц", "год", "вчера", "завтра", "скоро", "давно", "сосед",
    "квартира", "ремонт", "окно", "кухня", "сад", "огород", "цветы", "собака",
    "кошка", "птица", "небо", "звезды", "луна", "море", "отпуск", "путешествие",
    "билет", "вокзал", "такси", "метро", "мост", "площадь", "здание",
    "фестиваль", "ярмарка", "конкурс", "студент", "университет", "экзамен",
    "урок", "друг", "подруга", "мама", "папа", "бабушка", "дедушка", "брат",
    "сестра", "и", "в", "на", "с", "по", "для", "что", "это", "как", "но", "а",
    "уже", "ещё", "все", "мы", "вы", "они", "он", "она", "я", "мне", "нас",
    "очень", "было", "будет"};
static const char *const kk_filler[] = {"бүгін", "ауа", "райы", "қала",
    "адамдар", "жаңа", "үй", "жұмыс", "уақыт", "күн", "кеш", "таң", "достар",
    "отбасы", "дүкен", "баға", "нан", "сүт", "жол", "көлік", "мектеп",
    "мұғалім", "балалар", "мереке", "әуен", "кітап", "оқу", "көру", "жақсы",
    "жаман", "өте", "де", "тек", "кейін", "қар", "жаңбыр", "жел", "суық",
    "жылы", "саябақ", "көше", "орталық", "базар", "түскі", "ас", "шай", "ойын",
    "жеңіс", "әже", "ата", "ағай", "апай", "қымыз", "бауырсақ", "дастархан",
    "той", "ән", "өлең", "қыз", "ұл", "бала", "үлкен", "кіші", "әдемі",
    "көңілді", "рахмет", "сәлем", "қайырлы", "таңертең", "түн", "ұйқы", "сағат",
    "апта", "ай", "жыл", "өзен", "тау", "дала", "көл", "жылқы", "қой", "сиыр",
    "егін", "алма", "өрік", "қауын", "қарбыз", "ет", "палау", "шаһар", "жиһаз",
    "қаһарман", "гауһар", "айдын", "ғажап", "ғимарат", "ағаш", "бақша", "гүл",
    "ит", "мысық", "құс", "аспан", "жұлдыз", "теңіз", "демалыс", "саяхат",
    "вокзал", "көпір", "алаң", "студент", "емтихан", "сабақ", "тапсырма", "дос",
    "анам", "әкем", "әжем", "атам", "інім", "сіңлім", "немере", "және", "мен",
    "сен", "біз", "сіз", "олар", "бұл", "осы", "сол", "қандай", "қашан",
    "қайда", "неге", "бәрі", "көп", "аз", "бар", "жоқ", "болады", "керек",
    "ертең", "кеше", "жақында", "ғой", "ғана"};
static const char *const en_filler[]    = {"today", "weather", "city", "people",
       "new", "home", "work", "time", "day", "evening", "morning", "friends",
       "family", "shop", "prices", "bread", "milk", "road", "car", "bus", "school",
       "teacher", "kids", "holiday", "concert", "music", "movie", "book", "read",
       "watch", "think", "good", "bad", "very", "also", "only", "later", "snow",
       "rain", "sun", "wind", "cold", "warm", "park", "street", "center", "market",
       "cafe", "lunch", "dinner", "tea", "coffee", "sport", "football", "match",
       "team", "game", "mountains", "lake", "river", "photo", "trip", "train",
       "airport", "flight", "hotel", "beautiful", "amazing", "great", "nice",
       "love", "happy", "birthday", "weekend", "traffic", "queue", "office",
       "meeting", "project", "laptop", "phone", "app", "update", "internet",
       "message", "question", "answer", "help", "thanks", "please", "hello",
       "everyone", "who", "knows", "where", "buy", "cheap", "discount", "delivery",
       "order", "cake", "soup", "library", "museum", "theatre", "exhibition",
       "tour", "walk", "bike", "running", "training", "gym", "pool", "health",
       "doctor", "pharmacy", "spring", "summer", "autumn", "winter", "week",
       "month", "year", "yesterday", "tomorrow", "soon", "recently", "neighbour",
       "apartment", "repair", "window", "kitchen", "garden", "flowers", "dog",
       "cat", "bird", "sky", "stars", "moon", "sea", "beach", "travel", "ticket",
       "station", "taxi", "bridge", "square", "building", "festival", "contest",
       "student", "university", "exam", "lesson", "friend", "mom", "dad",
       "grandma", "brother", "sister", "and", "the", "a", "of", "to", "in", "on",
       "with", "for", "that", "this", "is", "was", "are", "we", "you", "they",
       "it", "my", "our", "just", "really", "so"};
static const wordlist    filler[N_LANG] = {
       WORDS(ru_filler), WORDS(kk_filler), WORDS(en_filler)};

/* Watchlist vocabulary: nouns, adjectives paired with them, and phrases
 * people actually write. */
/* Russian adjectives agree with their noun: masculine, feminine, neuter,
 * plural. */
enum gender { M, F, N, PL };
typedef struct noun {
	const char *w;
	enum gender g;
} noun;
static const noun ru_nouns[] = {{"выборы", PL}, {"голосование", N},
    {"избирком", M}, {"бюллетень", M}, {"бюллетени", PL}, {"кандидат", M},
    {"депутаты", PL}, {"мажилис", M}, {"маслихат", M}, {"партия", F},
    {"митинг", M}, {"протест", M}, {"забастовка", F}, {"коррупция", F},
    {"взятка", F}, {"откат", M}, {"референдум", M}, {"агитация", F},
    {"явка", F}, {"фальсификация", F}, {"вброс", M}, {"наблюдатели", PL},
    {"экзитпол", M}, {"рейтинг", M}, {"опрос", M}, {"оппозиция", F},
    {"санкции", PL}, {"мобилизация", F}, {"девальвация", F},
    {"госпереворот", M}, {"беспорядки", PL}, {"задержания", PL}, {"обыски", PL},
    {"экстремизм", M}, {"пропаганда", F}, {"шествие", N}};
/* Stems: + ый/ий, ая, ое, ые. */
static const char *const ru_adjs[][2] = {{"досрочн", "ый"}, {"честн", "ый"},
    {"незаконн", "ый"}, {"массов", "ый"}, {"фальшив", "ый"}, {"тайн", "ый"},
    {"официальн", "ый"}, {"независим", "ый"}, {"несанкционированн", "ый"},
    {"политическ", "ий"}, {"народн", "ый"}, {"повторн", "ый"}, {"закрыт", "ый"},
    {"региональн", "ый"}, {"антиправительственн", "ый"}};
static const char *const ru_phrases[] = {"за кого проголосуете",
    "результаты опроса", "рейтинг партий", "голосуйте за",
    "пишите в комментариях номер партии", "подкуп избирателей",
    "карусельное голосование", "сбор подписей", "призыв к забастовке"};
static const noun kk_nouns[] = {{"сайлау", M}, {"дауыс", M}, {"сайлаушы", M},
    {"сайлаукөм", M}, {"мәжіліс", M}, {"наразылық", M}, {"ереуіл", M},
    {"парақорлық", M}, {"жемқорлық", M}, {"пара", M}, {"үгіт", M},
    {"бақылаушы", M}, {"сауалнама", M}, {"санкция", M}, {"әкімдік", M},
    {"билік", M}, {"үкімет", M}, {"парламент", M}, {"шеру", M}, {"жиын", M},
    {"тінту", M}, {"арандату", M}, {"үндеу", M}, {"бойкот", M}, {"күдікті", M},
    {"үгітнама", M}, {"депутаттар", M}, {"құрылтай", M}, {"мәслихат", M},
    {"сайлауында", M}};
static const char *const kk_adjs[] = {"әділ", "жалған", "жаппай", "жасырын",
    "ресми", "тәуелсіз", "саяси", "заңсыз", "рұқсатсыз", "халықтық", "аймақтық",
    "кезектен тыс"};
static const char *const kk_phrases[] = {"кімге дауыс бересіз",
    "сауалнама нәтижелері", "сайлау учаскесі", "ереуілге шығу",
    "дауыс сатып алу"};
static const noun        en_nouns[]   = {{"election", M}, {"elections", M},
             {"ballot", M}, {"ballots", M}, {"poll", M}, {"polls", M}, {"referendum", M},
             {"candidate", M}, {"protest", M}, {"rally", M}, {"strike", M}, {"bribe", M},
             {"kickback", M}, {"corruption", M}, {"fraud", M}, {"turnout", M},
             {"observers", M}, {"campaign", M}, {"propaganda", M}, {"sanctions", M},
             {"coup", M}, {"riot", M}, {"mobilization", M}, {"devaluation", M},
             {"embezzlement", M}, {"vote", M}, {"votes", M}, {"exitpoll", M},
             {"parliament", M}, {"opposition", M}, {"crackdown", M}, {"detention", M},
             {"boycott", M}, {"petition", M}, {"extremism", M}};
static const char *const en_adjs[]    = {"rigged", "snap", "illegal", "mass",
       "fake", "secret", "official", "independent", "unauthorized", "political",
       "early", "armed", "violent", "nationwide", "disputed"};
static const char *const en_phrases[] = {"exit poll", "who will you vote for",
    "vote buying", "ballot stuffing", "poll results", "election forecast",
    "call to protest", "general strike"};
typedef struct nounlist {
	const noun *v;
	size_t      n;
} nounlist;
static const nounlist term_nouns[N_LANG] = {
    WORDS(ru_nouns), WORDS(kk_nouns), WORDS(en_nouns)};
static const wordlist term_adjs[N_LANG]    = {/* Russian: ru_adjs */
    {NULL, 0}, WORDS(kk_adjs), WORDS(en_adjs)};
static const wordlist term_phrases[N_LANG] = {
    WORDS(ru_phrases), WORDS(kk_phrases), WORDS(en_phrases)};

static const char *const list_names[] = {"elections", "unrest", "corruption",
    "economy", "security", "media", "campaign", "misc"};

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
static const char *const channels[]  = {"almaty_news", "astana_today",
     "qazaq_jastar", "kz_market", "shymkent_live", "steppe_tech", "eng_kz",
     "karaganda_city", "aktobe_online", "bilim_kz", "semey_chat", "atyrau_info"};
static const char *const platforms[] = {
    "telegram", "telegram", "telegram", "vk", "facebook", "instagram", "x"};
static const char *const emoji[] = {
    "🙂", "😂", "🔥", "👍", "❤️", "🇰🇿", "🎉", "😢", "🙏"};
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
	const unsigned char *s     = (const unsigned char *)word;
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

typedef struct wl_term {
	char     *text;
	enum lang lang;
	unsigned  list;
} wl_term;

typedef struct termset {
	wl_term *v;
	size_t   n;
	size_t  *by_lang[N_LANG]; /* indices into v */
	size_t   n_lang[N_LANG];
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
	ts->v[ts->n].text               = xstrdup(s);
	ts->v[ts->n].lang               = l;
	ts->by_lang[l][ts->n_lang[l]++] = ts->n;
	ts->n++;
}

/* "adjective noun", the adjective agreeing with the noun in Russian. */
static void
adj_noun(char *out, size_t len, enum lang l, const noun *n)
{
	static const char *const ru_end[2][4] = {
	    {"ый", "ая", "ое", "ые"}, {"ий", "ая", "ое", "ие"}};

	if (l == RU) {
		const char *const *a = ru_adjs[rnd_below(ARRAY_LEN(ru_adjs))];

		snprintf(out, len, "%s%s %s", a[0],
		    ru_end[strcmp(a[1], "ий") == 0][n->g], n->w);
	} else {
		snprintf(out, len, "%s %s", PICK_W(&term_adjs[l]), n->w);
	}
}

/* quota terms of language l: phrases and nouns first, then adjective +
 * noun pairs in random order. */
static void
terms_of_lang(termset *ts, enum lang l, size_t quota)
{
	const wordlist *ph  = &term_phrases[l];
	const nounlist *no  = &term_nouns[l];
	size_t          end = ts->n + quota, tries = 0;
	char            pair[256];

	for (size_t i = 0; i < ph->n && ts->n < end; i++)
		if (!term_known(ts, ph->w[i]))
			term_add(ts, ph->w[i], l);
	for (size_t i = 0; i < no->n && ts->n < end; i++)
		if (!term_known(ts, no->v[i].w))
			term_add(ts, no->v[i].w, l);
	while (ts->n < end) {
		if (++tries > 100000)
			die("cannot make %zu distinct terms; use fewer "
			    "(--terms)",
			    quota);
		adj_noun(pair, sizeof(pair), l, &no->v[rnd_below(no->n)]);
		if (!term_known(ts, pair))
			term_add(ts, pair, l);
	}
}

static size_t
lang_quota(size_t total, enum lang l)
{
	size_t ru = total * 4 / 10, kk = total * 3 / 10;

	return l == RU ? ru : l == KK ? kk : total - ru - kk;
}

/* The watchlist: o->terms distinct terms, ~40% Russian, 30% Kazakh, 30%
 * English, dealt round-robin into o->lists lists after a shuffle. */
static void
terms_make(termset *ts, const opts *o)
{
	size_t *order;

	memset(ts, 0, sizeof(*ts));
	ts->v = xcalloc(o->terms, sizeof(wl_term));
	for (int l = 0; l < N_LANG; l++) {
		ts->by_lang[l] = xcalloc(o->terms, sizeof(size_t));
		enum lang lg   = (enum lang)l;

		terms_of_lang(ts, lg, lang_quota(o->terms, lg));
	}
	order = xcalloc(ts->n, sizeof(size_t));
	for (size_t i = 0; i < ts->n; i++)
		order[i] = i;
	for (size_t i = ts->n; i > 1; i--) {
		size_t j = rnd_below(i), t = order[i - 1];

		order[i - 1] = order[j];
		order[j]     = t;
	}
	for (size_t i = 0; i < ts->n; i++)
		ts->v[order[i]].list = (unsigned)(i % o->lists);
	free(order);
}

static void
terms_free(termset *ts)
{
	for (size_t i = 0; i < ts->n; i++)
		free(ts->v[i].text);
	for (int l = 0; l < N_LANG; l++)
		free(ts->by_lang[l]);
	free(ts->v);
}

/* ------------------------------------------------------------ posts */

/* A post without its id: `"platform":...}`; a line is `{"id":"vbN",`
 * followed by it. The pool's bodies are reused with fresh ids. */
typedef struct body {
	char     *json;
	size_t    len;
	bool      match;
	bool      poll;
	enum lang lang;
} body;

typedef struct pool {
	body    *v;
	size_t   n;
	size_t  *matching, *plain; /* indices */
	size_t   n_matching, n_plain;
	uint64_t bytes; /* of the bodies */
	size_t   n_poll, n_lang[N_LANG];
} pool;

static enum lang
pick_lang(void)
{
	size_t r = rnd_below(100);

	return r < 45 ? RU : r < 75 ? KK : EN;
}

static const char *
pick_term(const termset *ts, enum lang l)
{
	if (chance(15))
		l = (enum lang)rnd_below(N_LANG);
	if (ts->n_lang[l] == 0)
		return ts->v[rnd_below(ts->n)].text;
	return ts->v[ts->by_lang[l][rnd_below(ts->n_lang[l])]].text;
}

static void
add_term(buf *b, const char *t, bool capital)
{
	size_t r = rnd_below(100);

	add_cased(b, t,
	    r < 5                     ? ALL_CAPS
	        : (capital || r < 20) ? CAPITAL
	                              : AS_IS);
}

/* One word or token of everyday text. */
static void
add_token(buf *b, enum lang l, bool capital)
{
	size_t r = rnd_below(1000);

	if (r < 40) {
		buf_fmt(b, "%zu",
		    rnd_below(10) < 3 ? rnd_range(2000, 2025)
		                      : rnd_range(1, 500));
	} else if (r < 60) {
		buf_str(b, PICK(hashtags));
	} else if (r < 75) {
		buf_fmt(b, "@%s", PICK(channels));
	} else if (r < 85) {
		buf_fmt(b, "https://example.kz/%s/%zu", PICK(channels),
		    rnd_range(1, 99999));
	} else if (r < 95) {
		/* A word with a zero-width space in it: normalization drops
		 * it, as it drops the soft hyphens spammers use. */
		const char *w   = PICK_W(&filler[l]);
		size_t      cut = (w[0] & 0x80) ? 2 : 1; /* one letter */

		buf_add(b, w, cut);
		if (w[cut] != '\0')
			buf_str(b, "\u200b");
		buf_str(b, w + cut);
	} else if (r < 160 && l != KK) {
		/* Code switching: Kazakh words in other posts. */
		add_cased(b, PICK_W(&filler[KK]), capital ? CAPITAL : AS_IS);
	} else {
		add_cased(b, PICK_W(&filler[l]), capital ? CAPITAL : AS_IS);
	}
}

/* Sentences of language l until about target bytes; term, if any, goes
 * at a random point. */
static void
gen_text(buf *b, enum lang l, size_t target, const char *term)
{
	static const char *const ends[] = {
	    ".", ".", ".", "!", "?", "...", "!!", ","};
	size_t start = b->len, at = term ? rnd_below(target + 1) : 0;
	size_t left    = rnd_range(4, 12);
	bool   capital = true;

	while (b->len - start < target || term != NULL) {
		if (b->len > start)
			buf_str(b,
			    chance(2)       ? "\u00a0"
			        : chance(2) ? "  "
			                    : " ");
		if (term != NULL && b->len - start >= at) {
			add_term(b, term, capital);
			term = NULL;
		} else {
			add_token(b, l, capital);
		}
		capital = false;
		if (--left == 0) {
			const char *e = PICK(ends);

			buf_str(b, e);
			capital = e[0] != ',';
			if (chance(10)) {
				buf_str(b, " ");
				buf_str(b, PICK(emoji));
			}
			left = rnd_range(4, 12);
		}
	}
}

static void
gen_author(buf *b, enum lang l, const char *channel)
{
	size_t      r    = rnd_below(100);
	const char *kind = r < 70 ? "person"
	    : r < 85              ? "media"
	    : r < 95              ? "organization"
	                          : "unknown";

	if (r < 70)
		buf_fmt(b,
		    "\"author\":{\"id\":\"tg:%zu\",\"handle\":\"@user%zu\","
		    "\"name\":\"%s %s\",\"kind\":\"%s\"},",
		    rnd_range(1000, 9999999), rnd_range(1, 99999),
		    first_names[l][rnd_below(8)], last_names[l][rnd_below(6)],
		    kind);
	else
		buf_fmt(b,
		    "\"author\":{\"id\":\"tg:%zu\",\"handle\":\"@%s\","
		    "\"name\":\"%s\",\"kind\":\"%s\"},",
		    rnd_range(1000, 999999), channel, channel, kind);
}

/* The poll: a question, 2 to 5 options; the term (if any) in one of them
 * or in the question. */
static void
gen_poll(buf *b, enum lang l, const char *term)
{
	size_t n = rnd_range(2, 5), in = term ? rnd_below(n + 1) : SIZE_MAX;

	buf_str(b, ",\"poll\":{\"question\":\"");
	gen_text(b, l, rnd_range(30, 110), in == n ? term : NULL);
	buf_str(b, "?\",\"options\":[");
	for (size_t i = 0; i < n; i++) {
		buf_str(b, i ? ",\"" : "\"");
		gen_text(b, l, rnd_range(4, 36), in == i ? term : NULL);
		buf_str(b, "\"");
	}
	buf_str(b, "]}");
}

static void
gen_body(body *out, const termset *ts, unsigned match_pct)
{
	buf         b       = {0};
	const char *channel = PICK(channels), *term = NULL;
	enum lang   l = pick_lang();
	bool        in_poll;

	out->lang  = l;
	out->match = chance(match_pct);
	out->poll  = chance(5);
	in_poll    = out->poll && chance(50);
	if (out->match)
		term = pick_term(ts, l);
	buf_fmt(&b, "\"platform\":\"%s\",\"channel\":\"@%s\",", PICK(platforms),
	    channel);
	gen_author(&b, l, channel);
	if (posts_in_kz_windows)
		buf_fmt(&b,
		    "\"created_at\":\"2024-09-%02zuT%02zu:%02zu:%02zu+05:00\","
		    "\"text\":\"",
		    rnd_range(3, 30), rnd_range(0, 23), rnd_range(0, 59),
		    rnd_range(0, 59));
	else
		buf_fmt(&b,
		    "\"created_at\":\"2024-%02zu-%02zuT%02zu:%02zu:%02zu+0%zu:"
		    "00\",\"text\":\"",
		    rnd_range(1, 12), rnd_range(1, 28), rnd_range(0, 23),
		    rnd_range(0, 59), rnd_range(0, 59), rnd_range(5, 6));
	gen_text(&b, l, out->poll ? rnd_range(10, 90) : rnd_range(50, 370),
	    in_poll ? NULL : term);
	buf_str(&b, "\"");
	if (out->poll)
		gen_poll(&b, l, in_poll ? term : NULL);
	if (chance(70))
		buf_fmt(&b, ",\"url\":\"https://t.me/%s/%zu\"", channel,
		    rnd_range(1, 99999));
	buf_fmt(&b, ",\"lang\":\"%s\"}", lang_code[l]);
	out->json = b.p;
	out->len  = b.len;
}

static void
pool_make(pool *p, const termset *ts, const opts *o)
{
	memset(p, 0, sizeof(*p));
	p->v        = xcalloc(o->pool, sizeof(body));
	p->matching = xcalloc(o->pool, sizeof(size_t));
	p->plain    = xcalloc(o->pool, sizeof(size_t));
	for (size_t i = 0; i < o->pool; i++) {
		body *bd = &p->v[p->n++];

		gen_body(bd, ts, o->match_pct);
		/* The last posts of a run must match: make sure some do. */
		if (i == o->pool - 1 && p->n_matching == 0) {
			free(bd->json);
			gen_body(bd, ts, 100);
		}
		if (bd->match)
			p->matching[p->n_matching++] = i;
		else
			p->plain[p->n_plain++] = i;
		p->bytes += bd->len;
		p->n_poll += bd->poll;
		p->n_lang[bd->lang]++;
	}
}

static void
pool_free(pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].json);
	free(p->v);
	free(p->matching);
	free(p->plain);
}

/* Appends the line of post id (with a newline when nl). */
static void
add_line(buf *b, size_t id, const body *bd, bool nl)
{
	char   num[24];
	size_t n = sizeof(num);

	do
		num[--n] = (char)('0' + id % 10);
	while ((id /= 10) > 0);
	buf_reserve(b, 10 + (sizeof(num) - n) + bd->len);
	buf_add(b, "{\"id\":\"vb", 9);
	buf_add(b, num + n, sizeof(num) - n);
	buf_add(b, "\",", 2);
	buf_add(b, bd->json, bd->len);
	if (nl)
		buf_add(b, "\n", 1);
}

/* Mean size of a line as the daemon sees it (ids of 7 digits). */
static double
mean_post_bytes(const pool *p)
{
	return p->n ? (double)p->bytes / (double)p->n + 18.0 : 0;
}

/* ------------------------------------------------------------ config */

static void
check_quotable(const char *what, const char *s)
{
	if (strpbrk(s, "\"\\\n") != NULL)
		die("%s '%s' cannot go into a configuration string", what, s);
}

/* Copies a file of the kz data into the config being written. */
static void
copy_file(FILE *out, const char *path)
{
	char   chunk[8192];
	size_t n;
	FILE  *in = fopen(path, "r");

	if (in == NULL)
		die("cannot read %s: %s (use --srcdir)", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
		fwrite(chunk, 1, n, out);
	fclose(in);
}

/* The kz rules with the bundled calendars and signals, inline: libconfig
 * includes only from the config's own directory. */
static void
write_kz_rule(FILE *f, const opts *o)
{
	char path[PATH_MAX];

	fprintf(f, ",\n  {\n    plugin = \"kz\";\n    name = \"kz\";\n");
	snprintf(path, sizeof(path), "%s/etc/kz/elections.conf", o->srcdir);
	copy_file(f, path);
	snprintf(path, sizeof(path), "%s/etc/kz/signals.conf", o->srcdir);
	copy_file(f, path);
	fprintf(f, "  }");
}

static void
write_config(
    const char *path, const opts *o, const termset *ts, const char *fifo)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		die("cannot write %s: %s", path, strerror(errno));
	fprintf(f,
	    "# Written by vigil-bench.\n"
	    "daemon = {\n  state_dir = \"%s/state\";\n"
	    "  runtime_dir = \"%s/run\";\n  plugin_path = [ \"%s/plugins\" ];\n"
	    "  log_level = \"warning\";\n",
	    o->dir, o->dir, o->builddir);
	if (o->backlog > 0)
		fprintf(f, "  backlog = %ld;\n", o->backlog);
	/* Remote workers alone: no local ones (count -1). */
	fprintf(f, "};\nworkers = {\n  count = %d;\n",
	    o->workers == 0 ? -1 : o->workers);
	if (o->remote) {
		char       *list = xstrdup(o->remote), *save = NULL;
		const char *sep = " ";
		char       *u   = strtok_r(list, ",", &save);

		fprintf(f, "  remote = [");
		while (u != NULL) {
			fprintf(f, "%s\"%s\"", sep, u);
			sep = ", ";
			u   = strtok_r(NULL, ",", &save);
		}
		fprintf(f, " ];\n");
		free(list);
	}
	if (o->workers_conf)
		copy_file(f, o->workers_conf);
	if (o->batch > 0)
		fprintf(f, "  batch = %ld;\n", o->batch);
	if (o->inflight > 0)
		fprintf(f, "  inflight = %ld;\n", o->inflight);
	fprintf(f,
	    "};\ninputs = (\n  { plugin = \"jsonl\"; name = \"bench\"; "
	    "path = \"-\"; jurisdictions = [ \"kz\" ]; }\n);\n"
	    "rules = (\n  {\n    plugin = \"watchlist\";\n    name = "
	    "\"bench\";\n"
	    "    lists = (\n");
	for (unsigned l = 0; l < o->lists; l++) {
		size_t k = 0;

		fprintf(f,
		    "      { name = \"%s\"; severity = \"notice\"; "
		    "weight = %u.0;\n        terms = [",
		    list_names[l], 1 + l % 4);
		for (size_t i = 0; i < ts->n; i++) {
			if (ts->v[i].list != l)
				continue;
			fprintf(f, "%s%s\"%s\"", k > 0 ? "," : "",
			    k % 4 == 0 ? "\n          " : " ", ts->v[i].text);
			k++;
		}
		fprintf(f, " ]; }%s\n", l + 1 < o->lists ? "," : "");
	}
	fprintf(f, "    );\n  }");
	if (o->kz)
		write_kz_rule(f, o);
	fprintf(f,
	    "\n);\nsinks = (\n  { plugin = \"file\"; name = "
	    "\"fifo\"; path = \"%s\"; min_severity = \"notice\"; }\n);\n",
	    fifo);
	if (fclose(f) != 0)
		die("cannot write %s: %s", path, strerror(errno));
}

/* ------------------------------------------------------------ figures */

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

typedef struct dist {
	size_t  n;
	int64_t p50, p99, p999, max; /* ns */
} dist;

/* Nearest-rank percentiles of v (sorted in place). */
static dist
distribution(int64_t *v, size_t n)
{
	dist d = {n, 0, 0, 0, 0};

	if (n == 0)
		return d;
	qsort(v, n, sizeof(*v), cmp_i64);
	{
		const double ps[3]  = {50.0, 99.0, 99.9};
		int64_t     *out[3] = {&d.p50, &d.p99, &d.p999};

		for (int i = 0; i < 3; i++) {
			double x = ps[i] / 100.0 * (double)n;
			size_t k = (size_t)x;

			if ((double)k < x)
				k++;
			*out[i] = v[(k ? k : 1) - 1];
		}
	}
	d.max = v[n - 1];
	return d;
}

/* A field of /proc/PID/status in KiB ("VmHWM:"); 0 when unknown. */
static uint64_t
status_kib(pid_t pid, const char *field)
{
	char     path[64], line[256];
	FILE    *f;
	uint64_t v = 0;
	size_t   n = strlen(field);

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, n) == 0) {
			v = strtoull(line + n, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static double
mib(uint64_t kib)
{
	return (double)kib / 1024.0;
}

/* ------------------------------------------------------------ worker alone */

typedef struct worker_fig {
	bool     ran;
	size_t   posts, runs;
	double   load_s, wall_s, cpu_s;
	dist     lat;
	size_t   flagged, false_pos, false_neg, invalid;
	uint64_t data_kib, before_kib, hwm_kib;
} worker_fig;

/* One pass over the posts; per-post times go to lat when it is not NULL. */
static int
score_pass(scorer *sc, const buf *lines, const size_t *off, const pool *pl,
    int64_t *lat, worker_fig *f)
{
	static const char *const jur[] = {"kz"};

	for (size_t i = 0; i < pl->n; i++) {
		score_result res;
		int64_t      t0 = now_ns();
		/* Brief, as vigild asks for its inputs' posts. */
		int rv = scorer_run(sc, lines->p + off[i], off[i + 1] - off[i],
		    jur, 1, true, &res);
		int st = res.status;
		vigil_severity sev = res.severity;

		if (lat != NULL)
			lat[i] = now_ns() - t0;
		score_result_clear(&res);
		if (rv < 0)
			return -1;
		if (lat != NULL)
			continue;
		/* The warm-up pass checks the generator's bookkeeping. */
		f->invalid += st != WIRE_SCORED;
		f->flagged += sev > VIGIL_SEV_NONE;
		f->false_pos += sev > VIGIL_SEV_NONE && !pl->v[i].match;
		f->false_neg += sev == VIGIL_SEV_NONE && pl->v[i].match;
	}
	return 0;
}

/* Loads the rules as a worker does and scores every post of the pool,
 * one warm-up pass and then o->passes timed ones, on this thread. */
static int
run_worker_alone(const opts *o, const char *conf, const pool *pl, worker_fig *f)
{
	char          err[8192];
	buf           lines = {0};
	size_t       *off   = xcalloc(pl->n + 1, sizeof(size_t));
	int64_t      *lat   = xcalloc(pl->n * o->passes, sizeof(int64_t));
	loader       *ld    = NULL;
	vigil_config *cfg   = NULL;
	scorer       *sc    = NULL;
	int64_t       t, cpu;
	int           rc = -1;

	for (size_t i = 0; i < pl->n; i++) {
		off[i] = lines.len;
		add_line(&lines, i, &pl->v[i], false);
	}
	off[pl->n]    = lines.len;
	f->posts      = pl->n;
	f->data_kib   = (pl->bytes + lines.len) / 1024;
	f->before_kib = status_kib(0, "VmRSS:");
	t             = now_ns();
	if (text_init() != 0) {
		fprintf(stderr, "vigil-bench: text_init failed\n");
		goto out;
	}
	if (config_load(conf, CONFIG_RULES, &ld, &cfg, err, sizeof(err)) != 0 ||
	    (sc = scorer_new(cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "vigil-bench: %s: %s\n", conf, err);
		goto out;
	}
	f->load_s = (double)(now_ns() - t) / 1e9;
	if (score_pass(sc, &lines, off, pl, NULL, f) != 0)
		goto nomem;
	t   = now_ns();
	cpu = thread_cpu_ns();
	for (unsigned p = 0; p < o->passes; p++)
		if (score_pass(sc, &lines, off, pl, lat + p * pl->n, f) != 0)
			goto nomem;
	f->cpu_s   = (double)(thread_cpu_ns() - cpu) / 1e9;
	f->wall_s  = (double)(now_ns() - t) / 1e9;
	f->runs    = pl->n * o->passes;
	f->lat     = distribution(lat, f->runs);
	f->hwm_kib = status_kib(0, "VmHWM:");
	f->ran     = true;
	rc         = 0;
	goto out;
nomem:
	fprintf(stderr, "vigil-bench: out of memory scoring\n");
out:
	scorer_free(sc);
	config_free(cfg);
	loader_free(ld);
	text_fini();
	free(lines.p);
	free(off);
	free(lat);
	return rc;
}

/* ------------------------------------------------------------ the feed */

enum phase { PH_WARM, PH_THR, PH_LAT, N_PHASE };
static const char *const phase_name[N_PHASE] = {
    "warm-up", "throughput", "latency"};

/* Every post id of the end-to-end run, phase after phase: which body it
 * carries, whether it must alert, when it was sent and when its first
 * alert came. The bodies are chosen before anything runs, so the reader
 * thread only reads what is fixed. */
typedef struct feed {
	size_t           n;
	size_t           bound[N_PHASE + 1];
	size_t           expected[N_PHASE];
	uint32_t        *body;
	uint8_t         *match;
	int64_t         *send_ns; /* the writer's */
	_Atomic int64_t *recv_ns; /* the reader's; 0: no alert yet */
} feed;

static void
feed_make(feed *fd, const pool *pl, const size_t len[N_PHASE])
{
	memset(fd, 0, sizeof(*fd));
	for (int ph = 0; ph < N_PHASE; ph++) {
		fd->bound[ph] = fd->n;
		fd->n += len[ph];
	}
	fd->bound[N_PHASE] = fd->n;
	fd->body           = xcalloc(fd->n, sizeof(uint32_t));
	fd->match          = xcalloc(fd->n, 1);
	fd->send_ns        = xcalloc(fd->n, sizeof(int64_t));
	fd->recv_ns        = xcalloc(fd->n, sizeof(_Atomic int64_t));
	for (int ph = 0; ph < N_PHASE; ph++)
		for (size_t i = fd->bound[ph]; i < fd->bound[ph + 1]; i++) {
			/* Each phase ends with a post that alerts. */
			size_t b = i + 1 == fd->bound[ph + 1]
			    ? pl->matching[rnd_below(pl->n_matching)]
			    : rnd_below(pl->n);

			fd->body[i]  = (uint32_t)b;
			fd->match[i] = pl->v[b].match;
			fd->expected[ph] += pl->v[b].match;
		}
	for (size_t i = 0; i < fd->n; i++)
		atomic_init(&fd->recv_ns[i], 0);
}

static void
feed_free(feed *fd)
{
	free(fd->body);
	free(fd->match);
	free(fd->send_ns);
	free(fd->recv_ns);
}

static int
phase_of(const feed *fd, size_t id)
{
	for (int ph = N_PHASE - 1; ph > 0; ph--)
		if (id >= fd->bound[ph])
			return ph;
	return 0;
}

/* ------------------------------------------------------------ the reader */

/* Reads alert lines from the FIFO and notes the first alert of each post
 * by the id in "post":{"id":"vbN" (doc/alerts.md). */
typedef struct collector {
	feed         *feed;
	int           fd;
	pthread_t     thread;
	atomic_bool   stop;
	atomic_size_t got[N_PHASE]; /* posts expected to alert that did */
	atomic_size_t stray;        /* alerts of posts expected not to */
	atomic_size_t lines, repeats, unparsed;
	atomic_size_t bytes;
} collector;

static void
on_alert(collector *c, const char *s, size_t n, int64_t t)
{
	static const char key[] = "\"post\":{\"id\":\"vb";
	const char       *p     = memmem(s, n, key, sizeof(key) - 1);
	const char       *end   = s + n;
	size_t            id = 0, digits = 0;

	atomic_fetch_add_explicit(&c->lines, 1, memory_order_relaxed);
	if (p != NULL)
		for (p += sizeof(key) - 1; p < end && *p >= '0' && *p <= '9';
		     p++, digits++)
			id = id * 10 + (size_t)(*p - '0');
	if (p == NULL || digits == 0 || digits > 12 || p == end || *p != '"' ||
	    id >= c->feed->n) {
		atomic_fetch_add_explicit(
		    &c->unparsed, 1, memory_order_relaxed);
		return;
	}
	/* A post that matches several lists has an alert for each. */
	if (atomic_load_explicit(&c->feed->recv_ns[id], memory_order_relaxed)) {
		atomic_fetch_add_explicit(&c->repeats, 1, memory_order_relaxed);
		return;
	}
	atomic_store_explicit(&c->feed->recv_ns[id], t, memory_order_release);
	if (c->feed->match[id])
		atomic_fetch_add(&c->got[phase_of(c->feed, id)], 1);
	else
		atomic_fetch_add(&c->stray, 1);
}

/* Handles the whole lines of b[0, len); returns the bytes used. */
static size_t
on_bytes(collector *c, const char *b, size_t len, int64_t t)
{
	size_t used = 0;

	for (;;) {
		const char *nl = memchr(b + used, '\n', len - used);

		if (nl == NULL)
			return used;
		if (nl > b + used)
			on_alert(c, b + used, (size_t)(nl - (b + used)), t);
		used = (size_t)(nl - b) + 1;
	}
}

static void *
collect(void *arg)
{
	collector    *c   = arg;
	size_t        cap = 1 << 20, len = 0;
	char         *b    = xmalloc(cap);
	struct pollfd pfd  = {c->fd, POLLIN, 0};
	bool          last = false;

	for (;;) {
		ssize_t r;
		size_t  used;

		if (!last && atomic_load(&c->stop))
			last = true; /* vigild is gone: read what is left */
		if (!last && poll(&pfd, 1, 100) <= 0)
			continue;
		if (len == cap && (b = realloc(b, cap *= 2)) == NULL)
			die("out of memory");
		r = read(c->fd, b + len, cap - len);
		if (r <= 0) {
			if (last ||
			    (r < 0 && errno != EINTR && errno != EAGAIN))
				break;
			continue;
		}
		atomic_fetch_add_explicit(
		    &c->bytes, (size_t)r, memory_order_relaxed);
		len += (size_t)r;
		used = on_bytes(c, b, len, now_ns());
		memmove(b, b + used, len - used);
		len -= used;
	}
	free(b);
	return NULL;
}

/* ------------------------------------------------------------ processes */

typedef struct proc {
	pid_t    pid;
	char     comm[32];
	uint64_t utime, stime; /* clock ticks */
	uint64_t hwm_kib, rss_kib;
} proc;

/* Reads /proc/PID/stat: name, parent and CPU ticks. */
static int
read_stat(pid_t pid, char *comm, size_t commlen, pid_t *ppid, proc *ticks)
{
	char          path[64], line[1024], *open_p, *close_p;
	FILE         *f;
	unsigned long ut = 0, st = 0;
	int           pp = 0;
	size_t        n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	/* The name is in parentheses and may hold anything, even ')'. */
	if ((open_p = strchr(line, '(')) == NULL ||
	    (close_p = strrchr(line, ')')) == NULL || close_p < open_p)
		return -1;
	if (sscanf(close_p + 2,
	        "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	        "%lu %lu",
	        &pp, &ut, &st) != 3)
		return -1;
	n = (size_t)(close_p - open_p - 1);
	if (n >= commlen)
		n = commlen - 1;
	memcpy(comm, open_p + 1, n);
	comm[n]      = '\0';
	*ppid        = pp;
	ticks->utime = ut;
	ticks->stime = st;
	return 0;
}

/* vigild and its children (the workers), vigild first. */
static size_t
list_procs(pid_t daemon, proc *out, size_t max)
{
	DIR           *d = opendir("/proc");
	struct dirent *e;
	size_t         n = 0;
	pid_t          ppid;

	if (max == 0 || d == NULL ||
	    read_stat(daemon, out[0].comm, sizeof(out[0].comm), &ppid,
	        &out[0]) != 0) {
		if (d)
			closedir(d);
		return 0;
	}
	out[n++].pid = daemon;
	while ((e = readdir(d)) != NULL && n < max) {
		char *endp;
		long  pid = strtol(e->d_name, &endp, 10);

		if (*endp != '\0' || pid <= 0 || pid == daemon)
			continue;
		if (read_stat((pid_t)pid, out[n].comm, sizeof(out[n].comm),
		        &ppid, &out[n]) == 0 &&
		    ppid == daemon)
			out[n++].pid = (pid_t)pid;
	}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		out[i].hwm_kib = status_kib(out[i].pid, "VmHWM:");
		out[i].rss_kib = status_kib(out[i].pid, "VmRSS:");
	}
	return n;
}

/* CPU seconds of after since before (a process that was not there
 * then counts from its start): user, system. */
static void
cpu_between(const proc *before, size_t nb, const proc *after, double out[2])
{
	double   hz = (double)sysconf(_SC_CLK_TCK);
	uint64_t u = after->utime, s = after->stime;

	for (size_t i = 0; i < nb; i++)
		if (before[i].pid == after->pid) {
			u -= before[i].utime;
			s -= before[i].stime;
		}
	out[0] = (double)u / hz;
	out[1] = (double)s / hz;
}

/* ------------------------------------------------------------ vigild */

typedef struct daemon_run {
	pid_t pid;
	int   in; /* its stdin, non-blocking */
	bool  exited;
	int   status;
	char  log[PATH_MAX];
	char  control[PATH_MAX];
} daemon_run;

static bool
daemon_alive(daemon_run *d)
{
	if (!d->exited && waitpid(d->pid, &d->status, WNOHANG) == d->pid)
		d->exited = true;
	return !d->exited;
}

static int
start_daemon(daemon_run *d, const char *vigild, const char *conf)
{
	int p[2], log;

	if (pipe2(p, O_CLOEXEC) != 0) {
		perror("vigil-bench: pipe");
		return -1;
	}
	/* A larger pipe means fewer wake-ups of both sides. */
	(void)fcntl(p[1], F_SETPIPE_SZ, PIPE_BYTES);
	if ((log = open(
	         d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		fprintf(
		    stderr, "vigil-bench: %s: %s\n", d->log, strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if ((d->pid = fork()) < 0) {
		perror("vigil-bench: fork");
		close(p[0]);
		close(p[1]);
		close(log);
		return -1;
	}
	if (d->pid == 0) {
		if (dup2(p[0], 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
			_exit(127);
		execl(vigild, vigild, "-c", conf, (char *)NULL);
		dprintf(2, "vigil-bench: cannot run %s: %s\n", vigild,
		    strerror(errno));
		_exit(127);
	}
	close(p[0]);
	close(log);
	d->in = p[1];
	if (fcntl(d->in, F_SETFL, fcntl(d->in, F_GETFL) | O_NONBLOCK) != 0) {
		perror("vigil-bench: fcntl");
		return -1;
	}
	return 0;
}

/* Asks the control socket for status; returns the workers linked up, or
 * -1 when it does not answer (yet). */
static long
linked_workers(const char *path)
{
	struct sockaddr_un sa    = {.sun_family = AF_UNIX};
	static const char  req[] = "{\"cmd\":\"status\"}\n";
	char               resp[CONTROL_REPLY_MAX];
	size_t             len = 0;
	int                fd  = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	json_t            *root;
	json_int_t         up       = -1;
	int64_t            deadline = now_ns() + 2000000000;

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		goto out;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
		goto out;
	while (len < sizeof(resp) - 1 && memchr(resp, '\n', len) == NULL) {
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t       r;

		if (now_ns() > deadline || poll(&pfd, 1, 100) < 0)
			goto out;
		if (!(pfd.revents & (POLLIN | POLLHUP)))
			continue;
		if ((r = read(fd, resp + len, sizeof(resp) - 1 - len)) <= 0)
			goto out;
		len += (size_t)r;
	}
	if ((root = json_loadb(resp, len, JSON_DISABLE_EOF_CHECK, NULL)) !=
	    NULL) {
		if (json_unpack(
		        root, "{s:{s:I}}", "workers", "links_up", &up) != 0)
			up = -1;
		json_decref(root);
	}
out:
	if (fd >= 0)
		close(fd);
	return (long)up;
}

static int
wait_ready(daemon_run *d, int workers)
{
	int64_t deadline = now_ns() + (int64_t)READY_S * 1000000000;

	while (now_ns() < deadline) {
		if (!daemon_alive(d)) {
			fprintf(
			    stderr, "vigil-bench: vigild exited at start-up\n");
			return -1;
		}
		if (linked_workers(d->control) >= workers)
			return 0;
		sleep_ns(20000000);
	}
	fprintf(stderr,
	    "vigil-bench: the workers were not linked up after "
	    "%d s\n",
	    READY_S);
	return -1;
}

/* SIGTERM, then a bounded wait; SIGKILL if it does not stop. */
static void
stop_daemon(daemon_run *d)
{
	int64_t deadline;

	if (d->in >= 0) {
		close(d->in);
		d->in = -1;
	}
	if (d->pid <= 0 || !daemon_alive(d))
		return;
	kill(d->pid, SIGTERM);
	deadline = now_ns() + (int64_t)STOP_S * 1000000000;
	while (daemon_alive(d) && now_ns() < deadline)
		sleep_ns(10000000);
	if (daemon_alive(d)) {
		fprintf(stderr,
		    "vigil-bench: vigild did not stop in %d s; "
		    "killing it\n",
		    STOP_S);
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &d->status, 0);
		d->exited = true;
	}
}

static void
show_log_tail(const char *path)
{
	FILE *f = fopen(path, "r");
	char  line[1024];
	char(*ring)[1024];
	size_t n = 0;

	if (f == NULL)
		return;
	ring = xcalloc(30, sizeof(*ring));
	while (fgets(line, sizeof(line), f) != NULL)
		memcpy(ring[n++ % 30], line, sizeof(line));
	fclose(f);
	fprintf(stderr, "--- last lines of %s\n", path);
	for (size_t i = n > 30 ? n - 30 : 0; i < n; i++)
		fputs(ring[i % 30], stderr);
	free(ring);
}

/* ------------------------------------------------------------ the writer */

/* Writes all of p to vigild's stdin, waiting while the pipe is full.
 * Fails when vigild is gone or takes nothing for STALL_S seconds. */
static int
write_all(daemon_run *d, const char *p, size_t n)
{
	int64_t last = now_ns();

	while (n > 0) {
		struct pollfd pfd = {d->in, POLLOUT, 0};
		ssize_t       w   = write(d->in, p, n);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			last = now_ns();
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			fprintf(stderr, "vigil-bench: writing to vigild: %s\n",
			    strerror(errno));
			return -1;
		}
		if (poll(&pfd, 1, 1000) == 0 &&
		    (!daemon_alive(d) ||
		        now_ns() - last > (int64_t)STALL_S * 1000000000)) {
			fprintf(stderr, "vigil-bench: vigild %s\n",
			    d->exited ? "exited" : "stopped reading posts");
			return -1;
		}
	}
	return 0;
}

/* Posts [from, to) as fast as vigild takes them, in chunks; a post's
 * send time is when the write of its chunk began. */
static int
send_burst(daemon_run *d, const pool *pl, feed *fd, size_t from, size_t to)
{
	buf    chunk = {0};
	size_t first = from;
	int    rc    = 0;

	buf_reserve(&chunk, CHUNK_BYTES + 4096);
	for (size_t i = from; i < to && rc == 0; i++) {
		add_line(&chunk, i, &pl->v[fd->body[i]], true);
		if (chunk.len >= CHUNK_BYTES || i + 1 == to) {
			int64_t t = now_ns();

			for (size_t k = first; k <= i; k++)
				fd->send_ns[k] = t;
			rc        = write_all(d, chunk.p, chunk.len);
			chunk.len = 0;
			first     = i + 1;
		}
	}
	free(chunk.p);
	return rc;
}

/* Posts [from, to) at rate a second. A post's send time is when the
 * schedule says it is due, not when it went out, so that a writer held
 * up by a slow daemon still counts the wait (no coordinated omission).
 * *lag_ns gets the longest a write trailed the schedule. */
static int
send_paced(daemon_run *d, const pool *pl, feed *fd, size_t from, size_t to,
    unsigned rate, int64_t *lag_ns)
{
	buf     chunk = {0};
	int64_t t0 = now_ns() + 1000000, period = 1000000000 / rate;
	size_t  sent = from;
	int     rc   = 0;

	*lag_ns = 0;
	while (sent < to && rc == 0) {
		int64_t         now = now_ns();
		size_t          due = from + (size_t)((now - t0) / period) + 1;
		struct timespec ts;
		int64_t         next;

		if (now < t0)
			due = from;
		if (due > to)
			due = to;
		if (due > sent) {
			chunk.len = 0;
			for (size_t i = sent; i < due; i++) {
				add_line(&chunk, i, &pl->v[fd->body[i]], true);
				fd->send_ns[i] =
				    t0 + (int64_t)(i - from) * period;
			}
			if (now - fd->send_ns[sent] > *lag_ns)
				*lag_ns = now - fd->send_ns[sent];
			rc   = write_all(d, chunk.p, chunk.len);
			sent = due;
			continue;
		}
		next       = t0 + (int64_t)(sent - from) * period;
		ts.tv_sec  = (time_t)(next / 1000000000);
		ts.tv_nsec = (long)(next % 1000000000);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	free(chunk.p);
	return rc;
}

/* Waits until every post of the phase that should alert did. */
static int
wait_phase(daemon_run *d, collector *c, const feed *fd, int ph)
{
	size_t  seen = 0;
	int64_t last = now_ns();

	for (;;) {
		size_t got = atomic_load(&c->got[ph]);

		if (got >= fd->expected[ph])
			return 0;
		if (got != seen) {
			seen = got;
			last = now_ns();
		}
		if (!daemon_alive(d) ||
		    now_ns() - last > (int64_t)STALL_S * 1000000000) {
			fprintf(stderr,
			    "vigil-bench: %s run: %zu of %zu alerts "
			    "came; %s\n",
			    phase_name[ph], got, fd->expected[ph],
			    d->exited ? "vigild exited"
			              : "no progress for a while");
			return -1;
		}
		sleep_ns(1000000);
	}
}

/* ------------------------------------------------------------ end to end */

typedef struct e2e_fig {
	bool     thr_ok, lat_ok;
	size_t   thr_posts, lat_posts;
	double   thr_s, thr_posts_s;
	dist     thr_lat;  /* under saturation */
	dist     lat;      /* at the fixed rate */
	double   lat_rate; /* achieved */
	int64_t  max_lag_ns;
	size_t   alerts, repeats, stray, unparsed, missing;
	uint64_t alert_bytes;
	double   bench_cpu_s;          /* this program, throughput run */
	proc     thr_procs[MAX_PROCS]; /* at the end of the throughput run */
	double   cpu_s[MAX_PROCS][2];  /* each one's user, system CPU */
	size_t   n_thr_procs;
	proc     procs[MAX_PROCS]; /* just before SIGTERM */
	size_t   n_procs;
	bool     started; /* vigild ran */
	int      exit_status;
} e2e_fig;

/* Latencies of the posts of phase ph that alerted. */
static dist
phase_latency(const feed *fd, int ph, size_t *missing, int64_t *last_ns)
{
	size_t   n = 0;
	int64_t *v =
	    xcalloc(fd->bound[ph + 1] - fd->bound[ph], sizeof(int64_t));
	dist d;

	*last_ns = 0;
	for (size_t i = fd->bound[ph]; i < fd->bound[ph + 1]; i++) {
		int64_t r;

		if (!fd->match[i])
			continue;
		r = atomic_load_explicit(&fd->recv_ns[i], memory_order_acquire);
		if (r == 0) {
			(*missing)++;
			continue;
		}
		v[n++] = r - fd->send_ns[i];
		if (r > *last_ns)
			*last_ns = r;
	}
	d = distribution(v, n);
	free(v);
	return d;
}

/* The FIFO the file sink writes to: this side holds a writer too, so
 * that the reader never sees end of file before vigild opens it. */
static int
open_fifo(const char *path, int *rd, int *wr)
{
	if (mkfifo(path, 0600) != 0 ||
	    (*rd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0 ||
	    (*wr = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
		fprintf(stderr, "vigil-bench: fifo %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	/* vigild's loop blocks while the FIFO is full: give it room. */
	(void)fcntl(*rd, F_SETPIPE_SZ, PIPE_BYTES);
	return 0;
}

static int
run_phases(daemon_run *d, collector *c, const opts *o, const pool *pl, feed *fd,
    e2e_fig *f)
{
	proc    before[MAX_PROCS];
	size_t  nb, missing = 0;
	int64_t last;
	double  cpu0;

	if (wait_ready(d, o->workers + (int)o->n_remote) != 0 ||
	    send_burst(d, pl, fd, fd->bound[PH_WARM], fd->bound[PH_WARM + 1]) ||
	    wait_phase(d, c, fd, PH_WARM) != 0)
		return -1;

	nb   = list_procs(d->pid, before, MAX_PROCS);
	cpu0 = self_cpu_s();
	if (send_burst(d, pl, fd, fd->bound[PH_THR], fd->bound[PH_THR + 1]) ||
	    wait_phase(d, c, fd, PH_THR) != 0)
		return -1;
	f->bench_cpu_s = self_cpu_s() - cpu0;
	f->n_thr_procs = list_procs(d->pid, f->thr_procs, MAX_PROCS);
	for (size_t i = 0; i < f->n_thr_procs; i++)
		cpu_between(before, nb, &f->thr_procs[i], f->cpu_s[i]);
	f->thr_posts   = fd->bound[PH_THR + 1] - fd->bound[PH_THR];
	f->thr_lat     = phase_latency(fd, PH_THR, &missing, &last);
	f->thr_s       = (double)(last - fd->send_ns[fd->bound[PH_THR]]) / 1e9;
	f->thr_posts_s = f->thr_s > 0 ? (double)f->thr_posts / f->thr_s : 0;
	f->thr_ok      = true;

	sleep_ns(500000000); /* let the queues empty */
	f->lat_posts = fd->bound[PH_LAT + 1] - fd->bound[PH_LAT];
	if (send_paced(d, pl, fd, fd->bound[PH_LAT], fd->bound[PH_LAT + 1],
	        o->rate, &f->max_lag_ns) != 0)
		return -1;
	f->lat_rate = (double)f->lat_posts /
	    ((double)(now_ns() - fd->send_ns[fd->bound[PH_LAT]]) / 1e9);
	if (wait_phase(d, c, fd, PH_LAT) != 0)
		return -1;
	f->lat    = phase_latency(fd, PH_LAT, &missing, &last);
	f->lat_ok = true;
	return 0;
}

static int
run_e2e(const opts *o, const char *conf, const char *fifo, const pool *pl,
    e2e_fig *f)
{
	char   vigild[PATH_MAX];
	size_t len[N_PHASE] = {
	    WARMUP_POSTS, o->n_posts, (size_t)o->rate * o->duration};
	feed       fd;
	collector  c;
	daemon_run d  = {.pid = -1, .in = -1};
	int        rd = -1, wr = -1, rc = -1;
	bool       reading = false;

	snprintf(vigild, sizeof(vigild), "%s/daemon/vigild", o->builddir);
	snprintf(d.log, sizeof(d.log), "%s/vigild.log", o->dir);
	snprintf(d.control, sizeof(d.control), "%s/run/control.sock", o->dir);
	if (access(vigild, X_OK) != 0) {
		fprintf(stderr, "vigil-bench: %s: %s (build it with make)\n",
		    vigild, strerror(errno));
		return -1;
	}
	feed_make(&fd, pl, len);
	memset(&c, 0, sizeof(c));
	c.feed = &fd;
	if (open_fifo(fifo, &rd, &wr) != 0)
		goto out;
	c.fd = rd;
	if (pthread_create(&c.thread, NULL, collect, &c) != 0) {
		fprintf(
		    stderr, "vigil-bench: cannot start the reader thread\n");
		goto out;
	}
	reading = true;
	if (start_daemon(&d, vigild, conf) != 0)
		goto out;
	rc = run_phases(&d, &c, o, pl, &fd, f);
	/* Memory as it stands at the end, just before SIGTERM. */
	if (d.pid > 0 && daemon_alive(&d))
		f->n_procs = list_procs(d.pid, f->procs, MAX_PROCS);
out:
	stop_daemon(&d);
	if (reading) {
		atomic_store(&c.stop, true);
		pthread_join(c.thread, NULL);
	}
	f->started     = d.pid > 0;
	f->exit_status = d.exited ? d.status : 0;
	f->alerts      = atomic_load(&c.lines);
	f->repeats     = atomic_load(&c.repeats);
	f->stray       = atomic_load(&c.stray);
	f->unparsed    = atomic_load(&c.unparsed);
	f->alert_bytes = atomic_load(&c.bytes);
	for (int ph = PH_THR; ph < N_PHASE; ph++)
		f->missing += fd.expected[ph] - atomic_load(&c.got[ph]);
	if (rc != 0)
		show_log_tail(d.log);
	if (rd >= 0)
		close(rd);
	if (wr >= 0)
		close(wr);
	feed_free(&fd);
	return rc;
}

/* ------------------------------------------------------------ report */

static const char *
verdict(bool met)
{
	return met ? "met" : "MISSED";
}

static void
row(const char *what, const char *measured, const char *target,
    const char *mark)
{
	printf("  %-44s %-24s %-16s %s\n", what, measured, target, mark);
}

/* Three significant digits without an exponent. */
static const char *
fig(char *out, size_t len, double v)
{
	snprintf(out, len, "%.*f", v < 10 ? 2 : v < 100 ? 1 : 0, v);
	return out;
}

static const char *
dist_text(char *out, size_t len, const dist *d, double unit, const char *name)
{
	char a[32], b[32], c[32];

	snprintf(out, len, "%s / %s / %s %s",
	    fig(a, sizeof(a), (double)d->p50 / unit),
	    fig(b, sizeof(b), (double)d->p99 / unit),
	    fig(c, sizeof(c), (double)d->p999 / unit), name);
	return out;
}

/* The 1-minute load average: other work on the machine skews every
 * figure but the per-core one, so the report says how much there was. */
static void
load_average(char *out, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "r");

	snprintf(out, len, "?");
	if (f == NULL)
		return;
	if (fgets(out, (int)len, f) != NULL)
		out[strcspn(out, " ")] = '\0';
	fclose(f);
}

static void
report_header(const opts *o, const pool *pl, const termset *ts,
    const char *conf, int argc, char **argv)
{
	double n = (double)pl->n;
	char   load[64];

	load_average(load, sizeof(load));
	printf("vigil-bench (vigil %s): %ld online CPUs, load average %s "
	       "before the run\ncommand:",
	    PACKAGE_VERSION, sysconf(_SC_NPROCESSORS_ONLN), load);
	for (int i = 0; i < argc; i++) {
		bool quote = strpbrk(argv[i], " \t'\"$") != NULL;

		printf(" %s%s%s", quote ? "'" : "", argv[i], quote ? "'" : "");
	}
	printf(
	    "\nposts:    %zu distinct bodies, %.0f bytes a post on average "
	    "(ru %.0f%%, kk %.0f%%, en %.0f%%), %.1f%% polls, %.1f%% carry a "
	    "watchlist term\nrules:    one watchlist of %zu terms in %u "
	    "lists%s "
	    "(%s)\n",
	    pl->n, mean_post_bytes(pl), 100.0 * (double)pl->n_lang[RU] / n,
	    100.0 * (double)pl->n_lang[KK] / n,
	    100.0 * (double)pl->n_lang[EN] / n, 100.0 * (double)pl->n_poll / n,
	    100.0 * (double)pl->n_matching / n, ts->n, o->lists,
	    o->kz ? ", and the kz rules (posts dated inside the 2024 "
	            "referendum's windows)"
	          : "",
	    conf);
	if (o->mode != MODE_WORKER)
		printf(
		    "daemon:   %d local and %zu remote workers, %zu posts as "
		    "fast as vigild takes them, then %u posts/s for %u s\n",
		    o->workers, o->n_remote, o->n_posts, o->rate, o->duration);
	printf("\n");
	fflush(stdout);
}

static void
report_worker(const opts *o, const worker_fig *w)
{
	char   m[64], t[64], g[32], what[64];
	double per_core = w->cpu_s > 0 ? (double)w->runs / w->cpu_s : 0;

	if (!w->ran) {
		row("worker alone", "FAILED", "", "");
		return;
	}
	snprintf(m, sizeof(m), "%s posts/s", grouped(g, sizeof(g), per_core));
	snprintf(t, sizeof(t), ">= %s",
	    grouped(g, sizeof(g),
	        o->kz ? TARGET_KZ_POSTS_S : TARGET_WORKER_POSTS_S));
	snprintf(what, sizeof(what),
	    "worker alone: posts/s per core, %zu terms%s", o->terms,
	    o->kz ? " + kz" : "");
	row(what, m, t,
	    verdict(per_core >=
	        (o->kz ? TARGET_KZ_POSTS_S : TARGET_WORKER_POSTS_S)));
	row("worker alone: latency p50 / p99 / p99.9",
	    dist_text(m, sizeof(m), &w->lat, 1e3, "us"), "", "");
	snprintf(m, sizeof(m), "%.1f MiB", mib(w->hwm_kib));
	snprintf(t, sizeof(t), "(posts held: %.1f MiB)", mib(w->data_kib));
	row("worker alone: peak RSS of this process", m, t, "");
}

static void
report_e2e(const opts *o, const e2e_fig *f)
{
	char m[64], t[64], g[32], what[64];

	snprintf(what, sizeof(what), "end to end: throughput, %s posts",
	    grouped(g, sizeof(g), (double)o->n_posts));
	if (f->thr_ok) {
		snprintf(m, sizeof(m), "%s posts/s",
		    grouped(g, sizeof(g), f->thr_posts_s));
	} else {
		snprintf(m, sizeof(m), "FAILED");
	}
	snprintf(
	    t, sizeof(t), ">= %s", grouped(g, sizeof(g), TARGET_E2E_POSTS_S));
	row(what, m, t,
	    f->thr_ok ? verdict(f->thr_posts_s >= TARGET_E2E_POSTS_S) : "");
	snprintf(what, sizeof(what), "end to end: latency p50/p99/p99.9 @ %s/s",
	    grouped(g, sizeof(g), (double)o->rate));
	snprintf(t, sizeof(t), "p99 <= %.0f ms", TARGET_P99_MS);
	if (f->lat_ok) {
		row(what, dist_text(m, sizeof(m), &f->lat, 1e6, "ms"), t,
		    verdict((double)f->lat.p99 / 1e6 <= TARGET_P99_MS));
	} else {
		row(what, "FAILED", t, "");
	}
	for (size_t i = 0; i < f->n_procs; i++) {
		bool   d   = i == 0;
		double lim = d ? TARGET_VIGILD_MIB : TARGET_WORKER_MIB;

		snprintf(what, sizeof(what), "end to end: peak RSS of %s %d",
		    f->procs[i].comm, (int)f->procs[i].pid);
		snprintf(m, sizeof(m), "%.1f MiB", mib(f->procs[i].hwm_kib));
		snprintf(t, sizeof(t), "<= %.0f MiB", lim);
		row(what, m, t, verdict(mib(f->procs[i].hwm_kib) <= lim));
	}
}

static void
report_details(const opts *o, const worker_fig *w, const e2e_fig *f)
{
	char   a[64], g[32];
	double wcpu = 0;

	printf("\ndetails\n");
	if (w->ran)
		printf(
		    "  worker alone: %zu scorer_run calls in %.2f s wall, "
		    "%.2f s CPU, max %s us; rules loaded in %.2f s; RSS %.1f "
		    "MiB before loading them; %zu of %zu posts flagged (%zu "
		    "unexpected, %zu missed, %zu invalid)\n",
		    w->runs, w->wall_s, w->cpu_s,
		    fig(a, sizeof(a), (double)w->lat.max / 1e3), w->load_s,
		    mib(w->before_kib), w->flagged, w->posts, w->false_pos,
		    w->false_neg, w->invalid);
	if (o->mode == MODE_WORKER || !f->started)
		return;
	if (f->thr_ok) {
		printf("  throughput run: %s posts in %.2f s; latency under "
		       "saturation p50/p99/p99.9 %s over %zu alerting posts\n",
		    grouped(g, sizeof(g), (double)f->thr_posts), f->thr_s,
		    dist_text(a, sizeof(a), &f->thr_lat, 1e6, "ms"),
		    f->thr_lat.n);
		printf("  CPU during it, user + system seconds (share of one "
		       "core):\n   ");
		for (size_t i = 0; i < f->n_thr_procs; i++) {
			double c = f->cpu_s[i][0] + f->cpu_s[i][1];

			printf(" %s %.1f + %.1f (%.0f%%),",
			    f->thr_procs[i].comm, f->cpu_s[i][0],
			    f->cpu_s[i][1], 100.0 * c / f->thr_s);
			if (i > 0)
				wcpu += c;
		}
		printf(" vigil-bench %.1f (%.0f%%)\n", f->bench_cpu_s,
		    100.0 * f->bench_cpu_s / f->thr_s);
		/* Peak RSS includes checking the configuration at start;
		 * this is what the pipeline holds while it runs. */
		printf("  RSS at the end of it:");
		for (size_t i = 0; i < f->n_thr_procs; i++)
			printf(" %s %.1f MiB%s", f->thr_procs[i].comm,
			    mib(f->thr_procs[i].rss_kib),
			    i + 1 < f->n_thr_procs ? "," : "\n");
		if (wcpu > 0)
			printf("  worker CPU per post in the pipeline: %.1f us "
			       "(%s posts/s per core)\n",
			    wcpu * 1e6 / (double)f->thr_posts,
			    grouped(g, sizeof(g), (double)f->thr_posts / wcpu));
	}
	if (f->lat_ok)
		printf("  latency run: %s posts sent at %.0f/s, writer at most "
		       "%.2f ms behind schedule; %zu alerting posts timed, max "
		       "%s ms\n",
		    grouped(g, sizeof(g), (double)f->lat_posts), f->lat_rate,
		    (double)f->max_lag_ns / 1e6, f->lat.n,
		    fig(a, sizeof(a), (double)f->lat.max / 1e6));
	printf("  alerts read: %zu lines, %.1f MiB (%zu more for posts "
	       "matching several lists, %zu for posts that should not alert, "
	       "%zu unreadable, %zu expected but missing)\n",
	    f->alerts, (double)f->alert_bytes / 1048576.0, f->repeats, f->stray,
	    f->unparsed, f->missing);
	if (WIFEXITED(f->exit_status))
		printf("  vigild exited with status %d after SIGTERM\n",
		    WEXITSTATUS(f->exit_status));
	else if (WIFSIGNALED(f->exit_status))
		printf("  vigild was killed by signal %d\n",
		    WTERMSIG(f->exit_status));
}

/* ------------------------------------------------------------ main */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vigil-bench [options]\n"
	    "  -n, --posts N       posts of the end-to-end throughput run "
	    "(1000000)\n"
	    "  -r, --rate R        posts/s of the latency run (10000)\n"
	    "  -d, --duration S    seconds of the latency run (10)\n"
	    "  -w, --workers W     local vigil-worker processes (online "
	    "CPUs; 0 with --remote: none)\n"
	    "      --remote URLS   also dial these remote workers (comma-"
	    "separated\n"
	    "                      endpoints; start them on bench.conf, see "
	    "--config-only)\n"
	    "      --workers-conf F  more workers settings (e.g. tls = {...};)"
	    " from file F\n"
	    "      --config-only F write the configuration to F and exit\n"
	    "  -m, --mode MODE     all (default), worker (worker alone only) "
	    "or e2e\n"
	    "      --terms T       watchlist terms (500)\n"
	    "      --lists L       watchlists they are dealt into (5, at most "
	    "8)\n"
	    "      --match-pct P   percent of posts that carry a term (7)\n"
	    "      --pool P        distinct post bodies (50000)\n"
	    "      --passes P      timed passes of the worker-alone run (3)\n"
	    "      --seed S        random seed (1)\n"
	    "      --batch B, --inflight I, --backlog K\n"
	    "                      override these daemon settings\n"
	    "      --kz            add the kz rules, posts inside their "
	    "windows\n"
	    "      --builddir DIR  the built tree (found from this program)\n"
	    "      --srcdir DIR    the source tree, for etc/kz (the build "
	    "tree)\n"
	    "      --dir DIR       working directory (a new one under /tmp)\n"
	    "      --keep          keep the working directory it made\n");
}

static uint64_t
num_arg(const char *name, const char *s, uint64_t lo, uint64_t hi)
{
	char              *end;
	unsigned long long v;

	errno = 0;
	v     = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo ||
	    v > hi)
		die("%s: '%s' is not a number from %" PRIu64 " to %" PRIu64,
		    name, s, lo, hi);
	return v;
}

static char *
absolute(const char *path)
{
	char *p = realpath(path, NULL);

	if (p == NULL)
		die("%s: %s", path, strerror(errno));
	return p;
}

/* The tree this program was built in: contrib/bench/vigil-bench. */
static char *
default_builddir(void)
{
	char    self[PATH_MAX], *s;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		die("cannot find the build tree; use --builddir");
	self[n] = '\0';
	for (int i = 0; i < 3; i++) {
		if ((s = strrchr(self, '/')) == NULL)
			die("cannot find the build tree; use --builddir");
		*s = '\0';
	}
	return xstrdup(self[0] ? self : "/");
}

static void
parse_args(int argc, char **argv, opts *o)
{
	enum {
		O_TERMS = 256,
		O_LISTS,
		O_MATCH,
		O_POOL,
		O_PASSES,
		O_SEED,
		O_BATCH,
		O_INFLIGHT,
		O_BACKLOG,
		O_BUILDDIR,
		O_DIR,
		O_KEEP,
		O_KZ,
		O_SRCDIR,
		O_REMOTE,
		O_WORKERS_CONF,
		O_CONFIG_ONLY
	};
	static const struct option lo[] = {
	    {"posts", required_argument, NULL, 'n'},
	    {"rate", required_argument, NULL, 'r'},
	    {"duration", required_argument, NULL, 'd'},
	    {"workers", required_argument, NULL, 'w'},
	    {"mode", required_argument, NULL, 'm'},
	    {"terms", required_argument, NULL, O_TERMS},
	    {"lists", required_argument, NULL, O_LISTS},
	    {"match-pct", required_argument, NULL, O_MATCH},
	    {"pool", required_argument, NULL, O_POOL},
	    {"passes", required_argument, NULL, O_PASSES},
	    {"seed", required_argument, NULL, O_SEED},
	    {"batch", required_argument, NULL, O_BATCH},
	    {"inflight", required_argument, NULL, O_INFLIGHT},
	    {"backlog", required_argument, NULL, O_BACKLOG},
	    {"builddir", required_argument, NULL, O_BUILDDIR},
	    {"dir", required_argument, NULL, O_DIR},
	    {"keep", no_argument, NULL, O_KEEP},
	    {"kz", no_argument, NULL, O_KZ},
	    {"srcdir", required_argument, NULL, O_SRCDIR},
	    {"remote", required_argument, NULL, O_REMOTE},
	    {"workers-conf", required_argument, NULL, O_WORKERS_CONF},
	    {"config-only", required_argument, NULL, O_CONFIG_ONLY},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "n:r:d:w:m:h", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->n_posts = num_arg("--posts", optarg, 1, 100000000);
			break;
		case 'r':
			o->rate =
			    (unsigned)num_arg("--rate", optarg, 1, 1000000);
			break;
		case 'd':
			o->duration =
			    (unsigned)num_arg("--duration", optarg, 1, 3600);
			break;
		case 'w':
			o->workers = (int)num_arg("--workers", optarg, 0, 128);
			break;
		case 'm':
			if (strcmp(optarg, "all") == 0)
				o->mode = MODE_ALL;
			else if (strcmp(optarg, "worker") == 0)
				o->mode = MODE_WORKER;
			else if (strcmp(optarg, "e2e") == 0)
				o->mode = MODE_E2E;
			else
				die("--mode: '%s' is not all, worker or e2e",
				    optarg);
			break;
		case O_TERMS:
			o->terms = num_arg("--terms", optarg, 1, 1200);
			break;
		case O_LISTS:
			o->lists = (unsigned)num_arg(
			    "--lists", optarg, 1, ARRAY_LEN(list_names));
			break;
		case O_MATCH:
			o->match_pct =
			    (unsigned)num_arg("--match-pct", optarg, 1, 100);
			break;
		case O_POOL:
			o->pool = num_arg("--pool", optarg, 1, 10000000);
			break;
		case O_PASSES:
			o->passes =
			    (unsigned)num_arg("--passes", optarg, 1, 1000);
			break;
		case O_SEED:
			o->seed = num_arg("--seed", optarg, 1, UINT64_MAX);
			break;
		case O_BATCH:
			o->batch = (long)num_arg("--batch", optarg, 1, 100000);
			break;
		case O_INFLIGHT:
			o->inflight =
			    (long)num_arg("--inflight", optarg, 1, 1000);
			break;
		case O_BACKLOG:
			o->backlog =
			    (long)num_arg("--backlog", optarg, 1, 100000000);
			break;
		case O_BUILDDIR: o->builddir = optarg; break;
		case O_DIR: o->dir = optarg; break;
		case O_KEEP: o->keep = true; break;
		case O_KZ: o->kz = true; break;
		case O_SRCDIR: o->srcdir = optarg; break;
		case O_REMOTE:
			o->remote   = optarg;
			o->n_remote = 1;
			for (const char *p = optarg; *p; p++)
				o->n_remote += *p == ',';
			check_quotable("--remote", optarg);
			break;
		case O_WORKERS_CONF: o->workers_conf = optarg; break;
		case O_CONFIG_ONLY: o->config_only = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	if (o->workers == 0 && o->remote == NULL)
		die("--workers 0 needs --remote");
	if (o->workers_conf && access(o->workers_conf, R_OK) != 0)
		die("--workers-conf %s: %s", o->workers_conf, strerror(errno));
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Makes o->builddir and o->dir absolute (both then malloc'd) and the
 * working directory exist: tmpl is made when o->dir is not set, and the
 * return value says so. */
static bool
prepare_dirs(opts *o, char *tmpl)
{
	bool made = false;

	o->builddir = o->builddir ? absolute(o->builddir) : default_builddir();
	if (o->dir == NULL) {
		if (mkdtemp(tmpl) == NULL)
			die("mkdtemp: %s", strerror(errno));
		made   = true;
		o->dir = tmpl;
	} else if (mkdir(o->dir, 0700) != 0 && errno != EEXIST) {
		die("--dir %s: %s", o->dir, strerror(errno));
	}
	o->dir    = absolute(o->dir);
	o->srcdir = o->srcdir ? absolute(o->srcdir) : xstrdup(o->builddir);
	check_quotable("--builddir", o->builddir);
	check_quotable("--dir", o->dir);
	/* ipc://DIR/run/w1-N.sock must fit a unix socket's 107 bytes. */
	if (strlen(o->dir) + sizeof("/run/w4294967295-128.sock") > 107)
		die("--dir %s is too long for the daemon's sockets", o->dir);
	return made;
}

int
main(int argc, char **argv)
{
	opts       o = {.n_posts = 1000000,
	          .rate          = 10000,
	          .duration      = 10,
	          .pool          = 50000,
	          .passes        = 3,
	          .terms         = 500,
	          .lists         = 5,
	          .match_pct     = 7,
	          .seed          = 1,
	          .workers       = -1};
	char       conf[PATH_MAX], fifo[PATH_MAX], tmpl[] = "/tmp/vb.XXXXXX";
	char      *builddir, *dir;
	bool       made_dir = false;
	termset    ts;
	pool       pl;
	worker_fig wf;
	e2e_fig   *ef = xcalloc(1, sizeof(*ef));
	int        rc = 0;

	parse_args(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN);
	log_set_ident("vigil-bench");
	log_set_level(VIGIL_LOG_WARNING);
	if (o.workers < 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		o.workers = n > 0 ? (int)n : 1;
	}
	rng_state ^= o.seed * 0x9e3779b97f4a7c15ULL;
	posts_in_kz_windows = o.kz;
	terms_make(&ts, &o);
	pool_make(&pl, &ts, &o);
	made_dir = prepare_dirs(&o, tmpl);
	builddir = (char *)o.builddir;
	dir      = (char *)o.dir;
	snprintf(conf, sizeof(conf), "%s/bench.conf", dir);
	snprintf(fifo, sizeof(fifo), "%s/alerts.fifo", dir);
	unlink(fifo);

	/* For remote workers: the same rules, from the same options. */
	if (o.config_only) {
		write_config(o.config_only, &o, &ts, fifo);
		printf("wrote %s\n", o.config_only);
		goto out;
	}
	write_config(conf, &o, &ts, fifo);
	report_header(&o, &pl, &ts, conf, argc, argv);

	memset(&wf, 0, sizeof(wf));
	if (o.mode != MODE_E2E && run_worker_alone(&o, conf, &pl, &wf) != 0)
		rc = 1;
	if (o.mode != MODE_WORKER && run_e2e(&o, conf, fifo, &pl, ef) != 0)
		rc = 1;

	printf("%-46s %-24s %-16s\n", "figures", "measured", "target");
	if (o.mode != MODE_E2E)
		report_worker(&o, &wf);
	if (o.mode != MODE_WORKER)
		report_e2e(&o, ef);
	report_details(&o, &wf, ef);

out:
	pool_free(&pl);
	terms_free(&ts);
	free(ef);
	if (made_dir && !o.keep)
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	else if (made_dir)
		printf("\nkept %s\n", dir);
	free(builddir);
	free((char *)o.srcdir);
	free(dir);
	return rc;
}
