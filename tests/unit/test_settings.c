/*
 * test_settings.c - settings tables applied to libconfig files (every
 * kind of error with its file:line, defaults, resolved paths, nested
 * groups and lists, the reference), then the daemon's configuration
 * (config.c) on whole files, with and without plugins.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ftw.h>

#include <cmocka.h>

#include "config.h"
#include "settings.h"

#ifndef TOP_BUILDDIR
#error "the build defines TOP_BUILDDIR"
#endif

static char tmpdir[] = "/tmp/vigil-test-settings.XXXXXX";

/* ------------------------------------------------------------ helpers */

static void
assert_contains(const char *s, const char *part)
{
	if (strstr(s, part) == NULL)
		fail_msg("'%s' does not contain '%s'", s, part);
}

static size_t
count_lines(const char *s)
{
	size_t n = *s ? 1 : 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Writes text to tmpdir/name and returns the path (static buffer). */
static const char *
write_file(const char *name, const char *text)
{
	static char path[512];
	char        dir[512], *slash;
	FILE       *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	snprintf(dir, sizeof(dir), "%s", path);
	slash  = strrchr(dir, '/');
	*slash = '\0';
	mkdir(dir, 0700);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

typedef struct parsed {
	config_t lc;
	char     path[512];
} parsed;

static void
parse(parsed *p, const char *name, const char *text)
{
	snprintf(p->path, sizeof(p->path), "%s", write_file(name, text));
	config_init(&p->lc);
	if (!config_read_file(&p->lc, p->path))
		fail_msg("%s:%d: %s", p->path, config_error_line(&p->lc),
		    config_error_text(&p->lc));
}

/* "path:line: rest" for the file p. */
static const char *
at(const parsed *p, int line, const char *rest)
{
	static char buf[4][1024];
	static int  k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s:%d: %s", p->path, line, rest);
	return buf[k];
}

/* "path:line" for the file p. */
static const char *
loc(const parsed *p, int line)
{
	static char buf[4][600];
	static int  k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s:%d", p->path, line);
	return buf[k];
}

/* err holds the line "path:line: rest" of the file p. */
static void
assert_has(const char *err, const parsed *p, int line, const char *rest)
{
	assert_contains(err, at(p, line, rest));
}

static vigil_cfg *
bind1(const parsed *p, const char *group, const vigil_setting *table,
    const char *base, char *err, size_t errlen)
{
	const config_setting_t *g =
	    group ? config_lookup(&p->lc, group) : config_root_setting(&p->lc);

	assert_non_null(g);
	return settings_bind(g, &table, 1, base, err, errlen);
}

static int
group_setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
group_teardown(void **state)
{
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------ tables */

static const vigil_setting inner_table[] = {
    {"depth", VIGIL_SET_INT, "2", "How deep.", NULL, 0, 1, 3},
    {"req", VIGIL_SET_STRING, NULL, "Needed.", NULL, VIGIL_SET_REQUIRED, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting item_table[] = {
    {"path", VIGIL_SET_STRING, NULL, "A file.", NULL, VIGIL_SET_PATH, 0, 0},
    {"opts", VIGIL_SET_GROUP, NULL, "Options.", inner_table, 0, 0, 0},
    {"sub", VIGIL_SET_LIST, NULL, "Sub-items.", inner_table, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting all_types[] = {
    {"b", VIGIL_SET_BOOL, "true", "A bool.", NULL, 0, 0, 0},
    {"i", VIGIL_SET_INT, "42", "An int | with a pipe.", NULL, 0, 0, 0},
    {"r", VIGIL_SET_INT, "5", "A ranged int.", NULL, 0, 1, 10},
    {"f", VIGIL_SET_FLOAT, "2.5", "A float.", NULL, 0, 0.5, 100},
    {"s", VIGIL_SET_STRING, "hello", "A string.", NULL, 0, 0, 0},
    {"none", VIGIL_SET_STRING, NULL, "No default.", NULL, 0, 0, 0},
    {"p", VIGIL_SET_STRING, "rel/file", "A path.", NULL, VIGIL_SET_PATH, 0, 0},
    {"ep", VIGIL_SET_STRING, "", "An unset path.", NULL, VIGIL_SET_PATH, 0, 0},
    {"ss", VIGIL_SET_STRINGS, "x", "Strings.", NULL, 0, 0, 0},
    {"ps", VIGIL_SET_STRINGS, NULL, "Paths.", NULL, VIGIL_SET_PATH, 0, 0},
    {"g", VIGIL_SET_GROUP, NULL, "A group.", inner_table, 0, 0, 0},
    {"l", VIGIL_SET_LIST, NULL, "A list.", item_table, 0, 0, 0},
    {"secret", VIGIL_SET_STRING, NULL, "A token.", NULL, VIGIL_SET_SECRET, 0,
        0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

/* ------------------------------------------------------------ settings */

static void
test_unknown_setting(void **state)
{
	parsed p;
	char   err[1024];

	parse(&p, "unknown.cfg", "i = 1;\nbogus = 2;\n");
	assert_null(bind1(&p, NULL, all_types, NULL, err, sizeof(err)));
	assert_string_equal(err, at(&p, 2, "setting 'bogus': unknown setting"));
	config_destroy(&p.lc);
}

static void
test_type_errors(void **state)
{
	parsed p;
	char   err[4096];

	parse(&p, "types.cfg",
	    "b = 1;\n"         /* 1 */
	    "i = \"x\";\n"     /* 2 */
	    "f = true;\n"      /* 3 */
	    "s = 5;\n"         /* 4 */
	    "ss = \"one\";\n"  /* 5 */
	    "g = 5;\n"         /* 6 */
	    "l = { };\n"       /* 7 */
	    "ps = [1, 2];\n"); /* 8 */
	assert_null(bind1(&p, NULL, all_types, NULL, err, sizeof(err)));
	assert_int_equal(count_lines(err), 8);
	assert_has(err, &p, 1,
	    "setting 'b': expected a boolean (true or false), got an integer");
	assert_has(
	    err, &p, 2, "setting 'i': expected an integer, got a string");
	assert_has(err, &p, 3, "setting 'f': expected a number, got a boolean");
	assert_has(
	    err, &p, 4, "setting 's': expected a string, got an integer");
	assert_has(err, &p, 5,
	    "setting 'ss': expected an array of strings, "
	    "like [\"a\", \"b\"], got a string");
	assert_has(err, &p, 6,
	    "setting 'g': expected a group, like { ... }, got an integer");
	assert_has(err, &p, 7,
	    "setting 'l': expected a list of groups, like "
	    "( { ... } ), got a group");
	assert_has(err, &p, 8,
	    "setting 'ps': expected an array of strings, "
	    "like [\"a\", \"b\"], got an array of integers");
	config_destroy(&p.lc);
}

static void
test_numbers(void **state)
{
	parsed     p;
	char       err[1024];
	vigil_cfg *cfg;

	parse(&p, "numbers.cfg", "f = 3;\ni = 5000000000L;\nr = 10;\n");
	cfg = bind1(&p, NULL, all_types, NULL, err, sizeof(err));
	assert_non_null(cfg);
	assert_true(cfg_float(cfg, "f") == 3.0); /* FLOAT accepts an int */
	assert_int_equal(cfg_int(cfg, "i"), 5000000000LL);
	assert_int_equal(cfg_int(cfg, "r"), 10); /* max is inclusive */
	assert_true(cfg_float(cfg, "r") == 10.0);
	settings_free(cfg);
	config_destroy(&p.lc);
}

static void
test_ranges(void **state)
{
	parsed p;
	char   err[1024];

	parse(&p, "ranges.cfg", "r = 0;\nf = 100.5;\ni = -99999;\n");
	assert_null(bind1(&p, NULL, all_types, NULL, err, sizeof(err)));
	/* i has min == max: unchecked. */
	assert_int_equal(count_lines(err), 2);
	assert_contains(
	    err, at(&p, 1, "setting 'r': 0 is out of range (1 to 10)"));
	assert_contains(
	    err, at(&p, 2, "setting 'f': 100.5 is out of range (0.5 to 100)"));
	config_destroy(&p.lc);

	parse(&p, "inf.cfg", "f = 1e400;\n");
	assert_null(bind1(&p, NULL, all_types, NULL, err, sizeof(err)));
	assert_string_equal(err, at(&p, 1, "setting 'f': not a finite number"));
	config_destroy(&p.lc);
}

static void
test_required(void **state)
{
	parsed p;
	char   err[1024];

	parse(&p, "required.cfg",
	    "g = {\n  depth = 1;\n};\nl = (\n"
	    "  { sub = ( { req = \"x\"; }, { } ); }\n);\n");
	assert_null(bind1(&p, NULL, all_types, NULL, err, sizeof(err)));
	assert_int_equal(count_lines(err), 2);
	assert_contains(
	    err, at(&p, 1, "setting 'g.req': required, but not set"));
	assert_contains(err,
	    at(&p, 5, "setting 'l.[0].sub.[1].req': required, but not set"));
	config_destroy(&p.lc);
}

static void
test_nested_names(void **state)
{
	parsed                  p;
	char                    err[2048];
	const config_setting_t *elem;
	const vigil_setting    *t = item_table;

	parse(&p, "nested.cfg",
	    "l = (\n"                                     /* 1 */
	    "  { path = \"a.txt\"; },\n"                  /* 2 */
	    "  { path = 5; },\n"                          /* 3 */
	    "  { opts = { depth = 9; req = \"\"; }; },\n" /* 4 */
	    "  7\n"                                       /* 5 */
	    ");\n");
	assert_null(bind1(&p, NULL, all_types, NULL, err, sizeof(err)));
	assert_int_equal(count_lines(err), 3);
	assert_contains(err,
	    at(&p, 3,
	        "setting 'l.[1].path': expected a string, got an integer"));
	assert_contains(err,
	    at(&p, 4,
	        "setting 'l.[2].opts.depth': 9 is out of range (1 to 3)"));
	assert_contains(err,
	    at(&p, 5,
	        "setting 'l.[3]': expected a group, "
	        "like { ... }, got an integer"));

	/* Bound alone, an element still has its full name. */
	elem = config_setting_get_elem(config_lookup(&p.lc, "l"), 1);
	assert_null(settings_bind(elem, &t, 1, NULL, err, sizeof(err)));
	assert_string_equal(err,
	    at(&p, 3,
	        "setting 'l.[1].path': expected a string, got an integer"));
	config_destroy(&p.lc);
}

static void
test_defaults(void **state)
{
	parsed           p;
	char             err[1024];
	vigil_cfg       *cfg;
	const vigil_cfg *g;

	parse(&p, "defaults.cfg", "unrelated = { g = { req = \"r\"; }; };\n");
	cfg = bind1(&p, "unrelated", all_types, "/base", err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(cfg_bool(cfg, "b"), 1);
	assert_int_equal(cfg_int(cfg, "i"), 42);
	assert_true(cfg_float(cfg, "f") == 2.5);
	assert_string_equal(cfg_string(cfg, "s"), "hello");
	assert_null(cfg_string(cfg, "none"));
	assert_string_equal(cfg_string(cfg, "p"), "/base/rel/file");
	assert_string_equal(cfg_string(cfg, "ep"), "");
	assert_int_equal(cfg_count(cfg, "ss"), 1);
	assert_string_equal(cfg_string_at(cfg, "ss", 0), "x");
	assert_int_equal(cfg_count(cfg, "ps"), 0);
	assert_int_equal(cfg_count(cfg, "l"), 0);
	assert_null(cfg_list_at(cfg, "l", 0));
	g = cfg_group(cfg, "g");
	assert_non_null(g);
	assert_int_equal(cfg_int(g, "depth"), 2);
	assert_string_equal(cfg_string(g, "req"), "r");
	settings_free(cfg);
	config_destroy(&p.lc);
}

static void
test_absent_group_defaults(void **state)
{
	static const vigil_setting outer[] = {
	    {"inner", VIGIL_SET_GROUP, NULL, "Inner.", all_types + 1, 0, 0, 0},
	    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
	};
	const vigil_setting *t = outer;
	char                 err[256];
	vigil_cfg *cfg = settings_bind(NULL, &t, 1, NULL, err, sizeof(err));
	const vigil_cfg *inner;

	assert_non_null(cfg);
	assert_string_equal(cfg_where(cfg, NULL), "(defaults)");
	inner = cfg_group(cfg, "inner");
	assert_non_null(inner);
	assert_int_equal(cfg_int(inner, "i"), 42);
	assert_string_equal(cfg_where(inner, "i"), "(defaults)");
	settings_free(cfg);
}

static void
test_paths(void **state)
{
	parsed     p;
	char       err[1024];
	vigil_cfg *cfg;

	parse(&p, "paths.cfg",
	    "p = \"data/x.txt\";\ns = \"data/y\";\n"
	    "ps = [\"a\", \"/abs/b\", \"\"];\nl = ( { path = \"../up\"; } "
	    ");\n");
	cfg = bind1(&p, NULL, all_types, "/etc/vigil", err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(cfg_string(cfg, "p"), "/etc/vigil/data/x.txt");
	assert_string_equal(cfg_string(cfg, "s"), "data/y"); /* not a PATH */
	assert_int_equal(cfg_count(cfg, "ps"), 3);
	assert_string_equal(cfg_string_at(cfg, "ps", 0), "/etc/vigil/a");
	assert_string_equal(cfg_string_at(cfg, "ps", 1), "/abs/b");
	assert_string_equal(cfg_string_at(cfg, "ps", 2), "");
	assert_null(cfg_string_at(cfg, "ps", 3));
	assert_string_equal(
	    cfg_string(cfg_list_at(cfg, "l", 0), "path"), "/etc/vigil/../up");
	settings_free(cfg);

	/* Without a base, paths stay as written. */
	cfg = bind1(&p, NULL, all_types, NULL, err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(cfg_string(cfg, "p"), "data/x.txt");
	settings_free(cfg);
	config_destroy(&p.lc);
}

static void
test_where_and_nesting(void **state)
{
	parsed           p;
	char             err[1024];
	vigil_cfg       *cfg;
	const vigil_cfg *g, *e0, *e1;

	parse(&p, "where.cfg",
	    "top = {\n"          /* 1 */
	    "  g = {\n"          /* 2 */
	    "    req = \"r\";\n" /* 3 */
	    "  };\n"
	    "  l = (\n"                                        /* 5 */
	    "    { path = \"a\"; },\n"                         /* 6 */
	    "    { sub = ( { req = \"x\"; depth = 3; } ); }\n" /* 7 */
	    "  );\n"
	    "};\n");
	cfg = bind1(&p, "top", all_types, NULL, err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(cfg_where(cfg, NULL), loc(&p, 1));
	g = cfg_group(cfg, "g");
	assert_string_equal(cfg_where(g, NULL), loc(&p, 2));
	assert_string_equal(cfg_where(g, "req"), loc(&p, 3));
	/* An absent setting is placed at its group. */
	assert_string_equal(cfg_where(g, "depth"), loc(&p, 2));
	assert_int_equal(cfg_count(cfg, "l"), 2);
	e0 = cfg_list_at(cfg, "l", 0);
	e1 = cfg_list_at(cfg, "l", 1);
	assert_non_null(e0);
	assert_non_null(e1);
	assert_null(cfg_list_at(cfg, "l", 2));
	assert_string_equal(cfg_where(e0, "path"), loc(&p, 6));
	assert_int_equal(cfg_count(e1, "sub"), 1);
	assert_int_equal(cfg_int(cfg_list_at(e1, "sub", 0), "depth"), 3);
	/* An absent optional group: defaults, its required member unset. */
	assert_non_null(cfg_group(e0, "opts"));
	assert_null(cfg_string(cfg_group(e0, "opts"), "req"));
	assert_string_equal(cfg_where(cfg_group(e0, "opts"), NULL), loc(&p, 6));
	settings_free(cfg);
	config_destroy(&p.lc);
}

static void
test_accessor_misuse(void **state)
{
	parsed     p;
	char       err[256];
	vigil_cfg *cfg;

	parse(&p, "misuse.cfg", "i = 7;\ns = \"str\";\n");
	cfg = bind1(&p, NULL, all_types, NULL, err, sizeof(err));
	assert_non_null(cfg);
	/* Undeclared names and wrong types are caller bugs: 0 or NULL. */
	assert_int_equal(cfg_int(cfg, "undeclared"), 0);
	assert_null(cfg_string(cfg, "i"));
	assert_int_equal(cfg_int(cfg, "s"), 0);
	assert_int_equal(cfg_bool(cfg, "i"), 0);
	assert_int_equal(cfg_count(cfg, "i"), 0);
	assert_null(cfg_group(cfg, "l"));
	assert_null(cfg_list_at(cfg, "g", 0));
	assert_null(cfg_string_at(cfg, "s", 0));
	assert_int_equal(cfg_int(NULL, "i"), 0);
	assert_non_null(cfg_where(NULL, NULL));
	assert_string_equal(cfg_where(cfg, "undeclared"), cfg_where(cfg, NULL));
	settings_free(cfg);
	config_destroy(&p.lc);
}

static void
test_error_space(void **state)
{
	parsed p;
	char   err[64], tiny[1];

	parse(&p, "space.cfg", "x1 = 1;\nx2 = 2;\nx3 = 3;\n");
	memset(err, 'Z', sizeof(err));
	assert_null(bind1(&p, NULL, all_types, NULL, err, sizeof(err)));
	/* The first line, cut short; never past the buffer. */
	assert_true(strlen(err) == sizeof(err) - 1);
	assert_int_equal(
	    strncmp(err, p.path,
	        strlen(err) < strlen(p.path) ? strlen(err) : strlen(p.path)),
	    0);
	tiny[0] = 'Z';
	assert_null(bind1(&p, NULL, all_types, NULL, tiny, sizeof(tiny)));
	assert_int_equal(tiny[0], '\0');
	assert_null(bind1(&p, NULL, all_types, NULL, NULL, 0));
	config_destroy(&p.lc);

	/* Whole lines only after the first. */
	err[0] = '\0';
	settings_error_add(err, sizeof(err), "first line");
	settings_error_add(err, sizeof(err),
	    "second\nthird line that is far "
	    "too long to fit in what is left of the buffer");
	assert_string_equal(err, "first line\nsecond");
}

static void
test_bad_tables(void **state)
{
	static const vigil_setting bad_defaults[] = {
	    {"i", VIGIL_SET_INT, "forty", "x", NULL, 0, 0, 0},
	    {"b", VIGIL_SET_BOOL, "yes", "x", NULL, 0, 0, 0},
	    {"f", VIGIL_SET_FLOAT, "1.5x", "x", NULL, 0, 0, 0},
	    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
	};
	static const vigil_setting dup[] = {
	    {"s", VIGIL_SET_STRING, NULL, "again", NULL, 0, 0, 0},
	    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
	};
	const vigil_setting *two[] = {all_types, dup};
	const vigil_setting *t     = bad_defaults;
	char                 err[1024];

	assert_null(settings_bind(NULL, &t, 1, NULL, err, sizeof(err)));
	assert_int_equal(count_lines(err), 3);
	assert_contains(err,
	    "(defaults): setting 'i': the settings table has "
	    "an invalid default 'forty'");
	assert_contains(err,
	    "setting 'b': the settings table has an invalid default 'yes'");
	assert_null(settings_bind(NULL, two, 2, NULL, err, sizeof(err)));
	assert_string_equal(err,
	    "(defaults): setting 's': declared twice by the settings tables");
}

static void
test_not_a_group(void **state)
{
	parsed p;
	char   err[512];

	parse(&p, "scalar.cfg", "x = 1;\n");
	assert_null(bind1(&p, "x", all_types, NULL, err, sizeof(err)));
	assert_string_equal(err,
	    at(&p, 1,
	        "setting 'x': expected a group, like { ... }, got an integer"));
	config_destroy(&p.lc);
}

static void
test_bind_known(void **state)
{
	parsed               p;
	char                 err[512];
	const vigil_setting *t = all_types;
	vigil_cfg           *cfg;

	parse(&p, "known.cfg", "i = 3;\nplugin_specific = \"x\";\n");
	cfg = settings_bind_known(
	    config_root_setting(&p.lc), &t, 1, NULL, err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(cfg_int(cfg, "i"), 3);
	settings_free(cfg);
	config_destroy(&p.lc);

	/* Known names are still checked. */
	parse(&p, "known2.cfg", "i = \"three\";\nplugin_specific = 1;\n");
	assert_null(settings_bind_known(
	    config_root_setting(&p.lc), &t, 1, NULL, err, sizeof(err)));
	assert_string_equal(
	    err, at(&p, 1, "setting 'i': expected an integer, got a string"));
	config_destroy(&p.lc);
}

static char *
capture_reference(const char *heading, const vigil_setting *table)
{
	char  *buf = NULL;
	size_t len = 0;
	FILE  *out = open_memstream(&buf, &len);

	assert_non_null(out);
	settings_reference(out, heading, table);
	assert_int_equal(fclose(out), 0);
	return buf;
}

static void
test_reference(void **state)
{
	char *doc = capture_reference("demo", all_types);

	assert_contains(doc,
	    "## demo\n\n| Setting | Type | Default | "
	    "Description |\n|---|---|---|---|\n| `b` | bool | `true` | A bool. "
	    "|\n");
	assert_contains(doc, "| `i` | int | `42` | An int \\| with a pipe. |");
	assert_contains(doc, "| `r` | int (1 to 10) | `5` | A ranged int. |");
	assert_contains(doc, "| `f` | float (0.5 to 100) | `2.5` |");
	assert_contains(doc, "| `p` | path | `rel/file` | A path. |");
	assert_contains(doc, "| `ep` | path | \"\" |");
	assert_contains(doc, "| `none` | string |  | No default. |");
	assert_contains(doc, "| `ps` | paths |");
	assert_contains(doc, "| `secret` | string, secret |");
	assert_contains(doc, "\n### demo.g\n\n");
	assert_contains(doc, "| `req` | string, required |  | Needed. |");
	assert_contains(
	    doc, "\n### demo.l[]\n\nEach element of `l` is a group");
	assert_contains(doc, "\n#### demo.l[].opts\n\n");
	assert_contains(doc, "\n#### demo.l[].sub[]\n\n");
	free(doc);
	doc = capture_reference("empty", NULL);
	assert_string_equal(doc, "## empty\n\nNo settings.\n\n");
	free(doc);
}

/* ------------------------------------------------------------ config */

static const char full_conf[] =
    "daemon = {\n"                                     /* 1 */
    "  state_dir = \"state\";\n"                       /* 2 */
    "  runtime_dir = \"/tmp/vigil-run\";\n"            /* 3 */
    "  plugin_path = [\"plugins\", \"/opt/vigil\"];\n" /* 4 */
    "  log_level = \"debug\";\n"                       /* 5 */
    "  max_post_bytes = 1000;\n"                       /* 6 */
    "  backlog = 10;\n"                                /* 7 */
    "};\n"                                             /* 8 */
    "workers = {\n"                                    /* 9 */
    "  count = 2; inflight = 3; batch = 16;\n"         /* 10 */
    "  max_crashes = 5; max_message = 100000;\n"       /* 11 */
    "  remote = [\"tcp://10.0.0.2:7400\"];\n"          /* 12 */
    "};\n"                                             /* 13 */
    "scoring = { thresholds = { notice = 2; warning = 4.5; alert = 9; }; };\n"
    "@include \"inputs.conf\"\n" /* 15 */
    "rules = ( { plugin = \"watchlist\"; jurisdictions = [\"KZ\", \"fr\"];\n"
    "            lists = \"words.txt\"; } );\n" /* 17 */
    "sinks = ( { plugin = \"stdout\"; min_severity = \"warning\"; },\n"
    "          { plugin = \"file\"; name = \"archive\"; path = \"a.log\"; } "
    ");\n";

static void
test_config_full(void **state)
{
	vigil_config *c = NULL;
	char          err[2048], dir[256], path[512];
	const char   *f;

	write_file("full/inputs.conf",
	    "inputs = ( { plugin = \"jsonl\"; "
	    "name = \"sample\"; jurisdictions = [\"kz\"]; file = \"x\"; } "
	    ");\n");
	f = write_file("full/vigil.conf", full_conf);
	if (config_load(f, 0, NULL, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	snprintf(dir, sizeof(dir), "%s/full", tmpdir);
	assert_string_equal(c->path, f);
	assert_string_equal(c->dir, dir);
	snprintf(path, sizeof(path), "%s/state", dir);
	assert_string_equal(c->state_dir, path);
	assert_string_equal(c->runtime_dir, "/tmp/vigil-run");
	snprintf(path, sizeof(path), "%s/plugins", dir);
	assert_string_equal(cfg_string_at(c->daemon, "plugin_path", 0), path);
	assert_string_equal(
	    cfg_string_at(c->daemon, "plugin_path", 1), "/opt/vigil");
	assert_int_equal(c->log_level, VIGIL_LOG_DEBUG);
	assert_int_equal(c->max_post_bytes, 1000);
	assert_int_equal(c->backlog, 10);
	assert_int_equal(c->n_workers, 2);
	assert_int_equal(c->inflight, 3);
	assert_int_equal(c->batch, 16);
	assert_int_equal(c->max_crashes, 5);
	assert_int_equal(c->max_message, 100000);
	assert_true(c->thr.notice == 2.0 && c->thr.warning == 4.5 &&
	    c->thr.alert == 9.0);

	assert_int_equal(c->n_inputs, 1);
	assert_int_equal(c->inputs[0].kind, VIGIL_PLUGIN_INPUT);
	assert_string_equal(c->inputs[0].plugin, "jsonl");
	assert_string_equal(c->inputs[0].name, "sample");
	assert_null(c->inputs[0].desc);
	assert_int_equal(c->inputs[0].n_jurisdictions, 1);
	assert_int_equal(c->n_rules, 1);
	assert_string_equal(c->rules[0].name, "watchlist"); /* the default */
	assert_int_equal(c->rules[0].n_jurisdictions, 2);
	assert_string_equal(c->rules[0].jurisdictions[0], "kz"); /* lowered */
	assert_string_equal(c->rules[0].jurisdictions[1], "fr");
	assert_int_equal(c->n_sinks, 2);
	assert_string_equal(c->sinks[0].name, "stdout");
	assert_int_equal(c->sinks[0].min_severity, VIGIL_SEV_WARNING);
	assert_string_equal(c->sinks[1].name, "archive");
	assert_int_equal(c->sinks[1].min_severity, VIGIL_SEV_NOTICE);
	snprintf(path, sizeof(path), "%s:19", f);
	assert_string_equal(cfg_where(c->sinks[1].cfg, "name"), path);
	/* libconfig names an included file as the @include wrote it. */
	assert_string_equal(cfg_where(c->inputs[0].cfg, NULL), "inputs.conf:1");
	config_free(c);
}

static void
test_config_defaults(void **state)
{
	vigil_config *c = NULL;
	char          err[1024];
	const char   *f = write_file("empty.conf", "# nothing\n");

	if (config_load(f, CONFIG_ALL, NULL, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(c->state_dir, VIGIL_STATE_DIR);
	assert_string_equal(c->runtime_dir, "/run/vigil");
	assert_int_equal(cfg_count(c->daemon, "plugin_path"), 1);
	assert_string_equal(
	    cfg_string_at(c->daemon, "plugin_path", 0), VIGIL_PLUGIN_DIR);
	assert_string_equal(cfg_string(c->daemon, "control_socket"), "");
	assert_string_equal(cfg_string(c->workers, "command"), "");
	assert_int_equal(cfg_count(c->workers, "remote"), 0);
	assert_int_equal(c->log_level, VIGIL_LOG_INFO);
	assert_int_equal(c->max_post_bytes, 262144);
	assert_int_equal(c->backlog, 8192);
	assert_int_equal(c->n_workers, 0);
	assert_int_equal(c->inflight, 2);
	assert_int_equal(c->batch, 512);
	assert_int_equal(c->max_crashes, 3);
	assert_int_equal(c->max_message, 16777216);
	assert_int_equal(cfg_int(c->workers, "restart_min_ms"), 100);
	assert_int_equal(cfg_int(c->workers, "restart_max_ms"), 30000);
	assert_true(c->thr.notice == 1.0 && c->thr.warning == 5.0 &&
	    c->thr.alert == 10.0);
	assert_non_null(c->http);
	assert_int_equal(c->n_inputs + c->n_rules + c->n_sinks, 0);
	config_free(c);
}

/* Loads text as a config that must fail; returns the errors. */
static const char *
load_bad(const char *name, const char *text, const char **path)
{
	static char   err[4096];
	vigil_config *c = (vigil_config *)&c;

	*path = write_file(name, text);
	assert_int_equal(config_load(*path, 0, NULL, &c, err, sizeof(err)), -1);
	assert_null(c);
	return err;
}

static void
assert_error_at(const char *err, const char *file, int line, const char *rest)
{
	char want[1024];

	snprintf(want, sizeof(want), "%s:%d: %s", file, line, rest);
	assert_contains(err, want);
}

static void
test_config_duplicate_names(void **state)
{
	const char *f;
	const char *err = load_bad("dup.conf",
	    "sinks = (\n"
	    "  { plugin = \"stdout\"; },\n"
	    "  { plugin = \"file\"; name = \"x\"; },\n"
	    "  { plugin = \"stdout\"; }\n"
	    ");\n"
	    "inputs = ( { plugin = \"a\"; name = \"x\"; } );\n",
	    &f);
	char        also[600];

	/* Names are unique per kind only: the input "x" is fine. */
	assert_int_equal(count_lines(err), 1);
	snprintf(also, sizeof(also),
	    "setting 'sinks.[2].name': duplicate "
	    "instance name 'stdout' (also at %s:2); give each one its own name",
	    f);
	assert_error_at(err, f, 4, also);
}

static void
test_config_thresholds(void **state)
{
	const char *f;
	const char *err = load_bad("thr.conf",
	    "scoring = {\n  thresholds = { warning = 0.5; };\n};\n", &f);

	assert_string_equal(strchr(err, ' ') + 1,
	    "setting "
	    "'scoring.thresholds': notice (1), warning (0.5) and alert (10) "
	    "must be ascending");
	assert_error_at(err, f, 2, "setting 'scoring.thresholds'");
	err = load_bad("thr2.conf",
	    "scoring = { thresholds = { notice = 5; warning = 5; }; };\n", &f);
	assert_contains(err, "must be ascending");
	err = load_bad("thr4.conf",
	    "scoring = { thresholds = { warning = 20; }; };\n", &f);
	assert_contains(err, "warning (20) and alert (10) must be ascending");
	err = load_bad(
	    "thr3.conf", "scoring = { thresholds = { alert = -1; }; };\n", &f);
	assert_error_at(err, f, 1,
	    "setting 'scoring.thresholds.alert': -1 is "
	    "out of range (0 to 1e+09)");
}

static void
test_config_unknown_section(void **state)
{
	const char *f;
	const char *err =
	    load_bad("unknown.conf", "daemon = { };\noutputs = ( );\n", &f);

	assert_int_equal(count_lines(err), 1);
	assert_error_at(err, f, 2,
	    "setting 'outputs': unknown section "
	    "(expected daemon, workers, scoring, http, outbox, admin, "
	    "inputs, rules or sinks)");
}

/* admin.listen: loopback unless allow_remote, in a form http.c takes. */
static void
test_config_admin(void **state)
{
	static const char *const fine[] = {"", "127.0.0.1:9470", "[::1]:0",
	    "localhost:9", "LocalHost:9", "127.3.4.5:1",
	    "[::ffff:127.0.0.1]:80"};
	static const struct {
		const char *listen, *why;
	} bad[] = {
	    {"0.0.0.0:9470", "is not a loopback address"},
	    {"10.0.0.1:80", "is not a loopback address"},
	    {"[::]:9470", "is not a loopback address"},
	    {"metrics.example:9470", "is not a loopback address"},
	    {"127.0.0.1", "expected HOST:PORT"},
	    {"::1:9470", "write IPv6 addresses in brackets"},
	    {"[::1]9470", "expected [ADDR]:PORT"},
	    {"127.0.0.1:99999", "the port must be a number"},
	    {":9470", "no host"},
	};
	vigil_config *c = NULL;
	char          text[256], err[1024], want[512];
	const char   *f;

	f = write_file("admin0.conf", "# defaults\n");
	if (config_load(f, 0, NULL, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg_string(c->admin, "listen"), "127.0.0.1:9470");
	assert_false(cfg_bool(c->admin, "allow_remote"));
	config_free(c);
	for (size_t i = 0; i < sizeof(fine) / sizeof(*fine); i++) {
		snprintf(text, sizeof(text), "admin = { listen = \"%s\"; };\n",
		    fine[i]);
		f = write_file("admin1.conf", text);
		if (config_load(f, 0, NULL, &c, err, sizeof(err)) != 0)
			fail_msg("%s: %s", fine[i], err);
		config_free(c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		snprintf(text, sizeof(text),
		    "admin = {\n  listen = \"%s\";\n};\n", bad[i].listen);
		const char *e = load_bad("admin2.conf", text, &f);

		snprintf(want, sizeof(want), "setting 'admin.listen': '%s'",
		    bad[i].listen);
		assert_error_at(e, f, 2, want);
		assert_contains(e, bad[i].why);
	}
	/* What the address reveals is the operator's call. */
	f = write_file("admin3.conf",
	    "admin = { listen = \"0.0.0.0:9470\"; allow_remote = true; };\n");
	if (config_load(f, 0, NULL, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	config_free(c);
}

static void
test_config_parse_and_io_errors(void **state)
{
	vigil_config *c = NULL;
	char          err[1024], want[1024];
	const char   *f;

	f = write_file("syntax.conf", "daemon = {\n  log_level = ;\n};\n");
	assert_int_equal(config_load(f, 0, NULL, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: syntax error", f);
	assert_string_equal(err, want);

	f = write_file("badinc.conf", "@include \"missing.conf\"\n");
	assert_int_equal(config_load(f, 0, NULL, &c, err, sizeof(err)), -1);
	assert_contains(err, "cannot open include file");

	snprintf(want, sizeof(want), "%s/none/such.conf", tmpdir);
	assert_int_equal(config_load(want, 0, NULL, &c, err, sizeof(err)), -1);
	assert_contains(err, want);
	assert_contains(err, ": cannot read: No such file or directory");
	assert_null(c);
}

static void
test_config_bad_values(void **state)
{
	const char *f;
	const char *err = load_bad("values.conf",
	    "daemon = { log_level = \"loud\"; colour = 1; };\n"         /* 1 */
	    "workers = { count = -1; restart_min_ms = 5000;\n"          /* 2 */
	    "  restart_max_ms = 1000; listen = [\"10.0.0.1\"];\n"       /* 3 */
	    "  max_message = 70000; };\n"                               /* 4 */
	    "inputs = { plugin = \"x\"; };\n"                           /* 5 */
	    "rules = ( { name = \"r\"; jurisdictions = [\"k z\"]; },\n" /* 6 */
	    "  { plugin = \"w\"; name = \"bad name\"; } );\n"           /* 7 */
	    "sinks = ( { plugin = \"s\"; min_severity = \"urgent\"; } );\n",
	    &f);

	assert_error_at(err, f, 1, "setting 'daemon.colour': unknown setting");
	assert_error_at(err, f, 2,
	    "setting 'workers.restart_min_ms': 5000 is "
	    "above restart_max_ms (1000)");
	assert_error_at(err, f, 3,
	    "setting 'workers.listen': '10.0.0.1' is "
	    "not an endpoint, like tcp://10.0.0.2:7400");
	assert_error_at(
	    err, f, 5, "setting 'inputs': expected a list of groups");
	assert_error_at(
	    err, f, 6, "setting 'rules.[0].plugin': required, but not set");
	assert_error_at(err, f, 7,
	    "setting 'rules.[1].name': 'bad name' is "
	    "not a valid instance name");
	assert_error_at(err, f, 8,
	    "setting 'sinks.[0].min_severity': unknown "
	    "severity 'urgent' (none, notice, warning or alert)");
	/* count = -1 is fine: listen names remote workers. */
	assert_int_equal(count_lines(err), 7);

	err = load_bad("values2.conf",
	    "daemon = { log_level = \"loud\"; max_post_bytes = 100000; };\n"
	    "workers = { count = -1; max_message = 100000; };\n"
	    "rules = ( { plugin = \"w\"; jurisdictions = [\"k z\"]; } );\n",
	    &f);
	assert_error_at(err, f, 1,
	    "setting 'daemon.log_level': unknown level "
	    "'loud' (err, warning, notice, info or debug)");
	assert_error_at(
	    err, f, 2, "setting 'workers.count': -1 runs no local worker");
	assert_error_at(err, f, 2,
	    "setting 'workers.max_message': 100000 must "
	    "be larger than daemon.max_post_bytes (100000)");
	assert_error_at(err, f, 3,
	    "setting 'rules.[0].jurisdictions': 'k z' "
	    "is not a jurisdiction code");
	assert_int_equal(count_lines(err), 4);
}

static void
test_config_log_level_err(void **state)
{
	vigil_config *c = NULL;
	char          err[512];
	const char   *f =
	    write_file("err.conf", "daemon = { log_level = \"err\"; };\n");

	assert_int_equal(config_load(f, 0, NULL, &c, err, sizeof(err)), 0);
	assert_int_equal(c->log_level, VIGIL_LOG_ERR);
	config_free(c);
}

static void
test_config_string(void **state)
{
	vigil_config *c = NULL;
	char          err[512];

	assert_int_equal(config_load_string("daemon = { state_dir = \"s\"; };",
	                     "/srv/vigil", 0, NULL, &c, err, sizeof(err)),
	    0);
	assert_string_equal(c->state_dir, "/srv/vigil/s");
	config_free(c);
	assert_int_equal(config_load_string("daemon = { state_dir = 5; };",
	                     NULL, 0, NULL, &c, err, sizeof(err)),
	    -1);
	assert_string_equal(err,
	    "<string>:1: setting 'daemon.state_dir': "
	    "expected a string, got an integer");
	assert_int_equal(config_load_string(
	                     "daemon = {", NULL, 0, NULL, &c, err, sizeof(err)),
	    -1);
	assert_contains(err, "<string>:1: syntax error");
	assert_null(c);
}

/* Points a config's plugin_path at the build tree and at a directory of
 * links to the test plugins. */
static const char *
plugin_dirs(void)
{
	static char dirs[1024];
	char        link[512], target[512];

	snprintf(link, sizeof(link), "%s/testplugins", tmpdir);
	mkdir(link, 0700);
	snprintf(
	    link, sizeof(link), "%s/testplugins/sink_bad_major.so", tmpdir);
	snprintf(target, sizeof(target),
	    "%s/tests/unit/plugins/.libs/bad_major.so", TOP_BUILDDIR);
	if (access(target, R_OK) != 0)
		snprintf(target, sizeof(target),
		    "%s/tests/unit/plugins/bad_major.so", TOP_BUILDDIR);
	if (access(link, F_OK) != 0)
		assert_int_equal(symlink(target, link), 0);
	snprintf(dirs, sizeof(dirs), "[\"%s/plugins\", \"%s/testplugins\"]",
	    TOP_BUILDDIR, tmpdir);
	return dirs;
}

static void
test_config_plugins(void **state)
{
	vigil_config *c  = NULL;
	loader       *ld = NULL;
	char          text[2048], err[4096];
	const char   *f;

	snprintf(text, sizeof(text),
	    "daemon = { plugin_path = %s; };\n"                      /* 1 */
	    "sinks = (\n"                                            /* 2 */
	    "  { plugin = \"stdout\"; no_such_setting_xyz = 1; },\n" /* 3 */
	    "  { plugin = \"nosuch\"; },\n"                          /* 4 */
	    "  { plugin = \"bad_major\"; }\n"                        /* 5 */
	    ");\n"
	    "rules = ( { plugin = \"absent\"; anything = 1; } );\n",
	    plugin_dirs());
	f = write_file("plugins.conf", text);
	assert_int_equal(
	    config_load(f, CONFIG_SINKS, &ld, &c, err, sizeof(err)), -1);
	assert_null(c);
	assert_null(ld); /* made by the failed load, and freed */
	assert_int_equal(count_lines(err), 3);
	assert_error_at(err, f, 3,
	    "setting 'sinks.[0].no_such_setting_xyz': unknown setting");
	assert_error_at(err, f, 4,
	    "setting 'sinks.[1].plugin': sink plugin "
	    "'nosuch' not found: looked for sink_nosuch");
	assert_error_at(err, f, 5, "setting 'sinks.[2].plugin': ");
	assert_contains(err,
	    "sink_bad_major.so: plugin 'bad_major' is built for ABI 2.0; ");
	assert_contains(err, "(major differs)");

	/* The valid part alone loads; the loader is the caller's. */
	snprintf(text, sizeof(text),
	    "daemon = { plugin_path = %s; };\n"
	    "sinks = ( { plugin = \"stdout\"; } );\n"
	    "rules = ( { plugin = \"absent\"; anything = 1; } );\n",
	    plugin_dirs());
	f = write_file("plugins2.conf", text);
	if (config_load(f, CONFIG_SINKS, &ld, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_non_null(ld);
	assert_non_null(c->sinks[0].desc);
	assert_string_equal(c->sinks[0].desc->name, "stdout");
	assert_contains(c->sinks[0].file, "sink_stdout.");
	assert_null(c->rules[0].desc);
	config_free(c);
	loader_free(ld);
}

static void
test_config_reference(void **state)
{
	char       *doc    = NULL, dir[512];
	size_t      len    = 0;
	FILE       *out    = open_memstream(&doc, &len);
	const char *dirs[] = {dir};
	loader     *ld;

	snprintf(dir, sizeof(dir), "%s/plugins", TOP_BUILDDIR);
	ld = loader_new(dirs, 1);
	assert_non_null(out);
	config_reference(out, ld);
	assert_int_equal(fclose(out), 0);
	assert_contains(doc, "# Configuration reference\n");
	assert_contains(doc, "\n## daemon\n");
	assert_contains(doc, "| `state_dir` | path | `" VIGIL_STATE_DIR "` |");
	assert_contains(
	    doc, "| `max_post_bytes` | int (1 to 67108864) | `262144` |");
	assert_contains(doc, "\n## workers\n");
	assert_contains(doc, "\n### scoring.thresholds\n");
	assert_contains(doc, "\n## inputs\n");
	assert_contains(doc, "| `plugin` | string, required |");
	assert_contains(doc, "\n## sinks\n");
	assert_contains(doc, "| `min_severity` | string | `notice` |");
	assert_contains(doc, "\n## sink plugin `stdout`\n");
	assert_true(strstr(doc, "## sinks") < strstr(doc, "## sink plugin"));
	free(doc);
	loader_free(ld);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unknown_setting),
	    cmocka_unit_test(test_type_errors),
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_required),
	    cmocka_unit_test(test_nested_names),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_absent_group_defaults),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_where_and_nesting),
	    cmocka_unit_test(test_accessor_misuse),
	    cmocka_unit_test(test_error_space),
	    cmocka_unit_test(test_bad_tables),
	    cmocka_unit_test(test_not_a_group),
	    cmocka_unit_test(test_bind_known),
	    cmocka_unit_test(test_reference),
	    cmocka_unit_test(test_config_full),
	    cmocka_unit_test(test_config_defaults),
	    cmocka_unit_test(test_config_duplicate_names),
	    cmocka_unit_test(test_config_thresholds),
	    cmocka_unit_test(test_config_unknown_section),
	    cmocka_unit_test(test_config_admin),
	    cmocka_unit_test(test_config_parse_and_io_errors),
	    cmocka_unit_test(test_config_bad_values),
	    cmocka_unit_test(test_config_log_level_err),
	    cmocka_unit_test(test_config_string),
	    cmocka_unit_test(test_config_plugins),
	    cmocka_unit_test(test_config_reference),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
