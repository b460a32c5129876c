/*
 * test_loader.c - the plugin loader: descriptor checks on in-memory
 * descriptors, then real shared objects: the two test plugins built for
 * another ABI (tests/unit/plugins/bad_abi.c), the stdout sink of the build
 * tree, missing and broken files, the directory scan, and a plugin file
 * replaced while loaded (tests/integration/plugins/versioned.c, built as
 * two versions).
 */
#include <dirent.h>
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

#include "loader.h"

#ifndef TOP_BUILDDIR
#error "the build defines TOP_BUILDDIR"
#endif

static char tmpdir[] = "/tmp/vigil-test-loader.XXXXXX";

/* ------------------------------------------------------------ helpers */

static int
dummy_init(const vigil_host *host, vigil_ctx *ctx, const vigil_cfg *cfg,
    void **instance)
{
	*instance = NULL;
	return VIGIL_OK;
}

static void
dummy_destroy(void *instance)
{
}

static int
dummy_emit(void *instance, const vigil_alert *alert)
{
	return VIGIL_OK;
}

static int
dummy_start(void *instance)
{
	return VIGIL_OK;
}

static int
dummy_score(void *instance, const vigil_post *post, vigil_findings *out)
{
	return VIGIL_OK;
}

static const vigil_setting good_children[] = {
    {"x", VIGIL_SET_INT, "1", "x", NULL, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const vigil_setting good_settings[] = {
    {"path", VIGIL_SET_STRING, NULL, "a file", NULL, VIGIL_SET_PATH, 0, 0},
    {"nested", VIGIL_SET_GROUP, NULL, "a group", good_children, 0, 0, 0},
    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
};

static vigil_plugin
valid_sink(void)
{
	vigil_plugin d = {
	    VIGIL_PLUGIN_HEADER,
	    .name        = "fake",
	    .version     = "1.0",
	    .kind        = VIGIL_PLUGIN_SINK,
	    .description = "a sink for tests",
	    .settings    = good_settings,
	    .init        = dummy_init,
	    .destroy     = dummy_destroy,
	    .emit        = dummy_emit,
	};
	return d;
}

/* Runs loader_check and returns its message ("" when it passed). */
static const char *
check(const vigil_plugin *d, int want)
{
	static char err[512];

	err[0] = '\0';
	assert_int_equal(
	    loader_check(d, "/p/sink_fake.so", err, sizeof(err)), want);
	return err;
}

static void
assert_contains(const char *s, const char *part)
{
	if (strstr(s, part) == NULL)
		fail_msg("'%s' does not contain '%s'", s, part);
}

/* "built for ABI X.Y; this vigil has ABI A.B" with this build's numbers:
 * the test plugins are built for major + 1 and for minor + 1. */
static const char *
abi_text(char *buf, size_t len, unsigned major, unsigned minor)
{
	snprintf(buf, len, "built for ABI %u.%u; this vigil has ABI %u.%u",
	    major, minor, VIGIL_ABI_MAJOR, VIGIL_ABI_MINOR);
	return buf;
}

/* The shared object libtool built for base in reldir of the build tree. */
static char *
built_so(const char *reldir, const char *base)
{
	char *path;

	assert_true(asprintf(&path, "%s/%s/.libs/%s.so", TOP_BUILDDIR, reldir,
	                base) > 0);
	if (access(path, R_OK) == 0)
		return path;
	free(path);
	assert_true(
	    asprintf(&path, "%s/%s/%s.so", TOP_BUILDDIR, reldir, base) > 0);
	if (access(path, R_OK) != 0)
		fail_msg("%s is not built", path);
	return path;
}

static char *
tmp_path(const char *rel)
{
	char *path;

	assert_true(asprintf(&path, "%s/%s", tmpdir, rel) > 0);
	return path;
}

static void
tmp_link(const char *target_dir, const char *target, const char *rel)
{
	char *from = built_so(target_dir, target), *to = tmp_path(rel);

	assert_int_equal(symlink(from, to), 0);
	free(from);
	free(to);
}

static void
tmp_mkdir(const char *rel)
{
	char *p = tmp_path(rel);

	assert_int_equal(mkdir(p, 0700), 0);
	free(p);
}

static int
group_setup(void **state)
{
	FILE *f;
	char *p;

	if (mkdtemp(tmpdir) == NULL)
		return -1;
	tmp_link("plugins/sink/stdout", "sink_stdout", "sink_stdout.so");
	tmp_link("plugins/sink/stdout", "sink_stdout", "input_stdout.so");
	tmp_link("tests/unit/plugins", "new_minor", "sink_new_minor.so");
	tmp_mkdir("sink");
	tmp_mkdir("sink/bad_major");
	tmp_link("tests/unit/plugins", "bad_major",
	    "sink/bad_major/sink_bad_major.so");
	p = tmp_path("sink_junk.so");
	f = fopen(p, "w");
	free(p);
	if (f == NULL)
		return -1;
	for (int i = 0; i < 64; i++)
		fputs(
		    "not an ELF object, only text long enough to be read\n", f);
	fclose(f);
	p = tmp_path("README.txt");
	f = fopen(p, "w");
	free(p);
	if (f == NULL)
		return -1;
	fclose(f);
	return 0;
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

/* ------------------------------------------------------------ loader_check */

static void
test_check_valid(void **state)
{
	vigil_plugin d = valid_sink();

	assert_string_equal(check(&d, 0), "");
	d.kind  = VIGIL_PLUGIN_RULE;
	d.emit  = NULL;
	d.score = dummy_score;
	assert_string_equal(check(&d, 0), "");
	d.kind     = VIGIL_PLUGIN_INPUT;
	d.score    = NULL;
	d.start    = dummy_start;
	d.settings = NULL; /* no settings is fine */
	assert_string_equal(check(&d, 0), "");
}

static void
test_check_null(void **state)
{
	assert_contains(check(NULL, -1),
	    "/p/sink_fake.so: the plugin's "
	    "vigil_plugin_entry() returned no descriptor");
}

static void
test_check_major(void **state)
{
	vigil_plugin d = valid_sink();

	char want[256];

	d.abi_major = VIGIL_ABI_MAJOR + 1;
	d.name      = NULL; /* under another major, fields are not read */
	assert_contains(check(&d, -1), "/p/sink_fake.so: plugin 'fake' is ");
	assert_contains(check(&d, -1),
	    abi_text(want, sizeof(want), VIGIL_ABI_MAJOR + 1, VIGIL_ABI_MINOR));
	assert_contains(check(&d, -1), " (major differs)");
	d.abi_major = 0;
	assert_contains(
	    check(&d, -1), abi_text(want, sizeof(want), 0, VIGIL_ABI_MINOR));
}

static void
test_check_minor(void **state)
{
	vigil_plugin d = valid_sink();

	char want[512], abi[128];

	d.abi_minor = VIGIL_ABI_MINOR + 1;
	snprintf(want, sizeof(want),
	    "/p/sink_fake.so: plugin 'fake' is %s (minor is newer: "
	    "upgrade vigil or rebuild the plugin)",
	    abi_text(abi, sizeof(abi), VIGIL_ABI_MAJOR, VIGIL_ABI_MINOR + 1));
	assert_string_equal(check(&d, -1), want);
}

static void
test_check_size(void **state)
{
	vigil_plugin d = valid_sink();

	d.struct_size = offsetof(vigil_plugin, reopen);
	assert_contains(check(&d, -1), "plugin 'fake' has a descriptor of");
	d.struct_size = sizeof(vigil_plugin) + 64; /* a later minor's: fine */
	assert_string_equal(check(&d, 0), "");
}

static void
test_check_strings(void **state)
{
	vigil_plugin d = valid_sink();

	d.version = NULL;
	assert_string_equal(check(&d, -1),
	    "/p/sink_fake.so: plugin 'fake' does not give a version");
	d             = valid_sink();
	d.description = NULL;
	assert_contains(check(&d, -1), "does not give a description");
	d      = valid_sink();
	d.name = NULL;
	assert_contains(check(&d, -1), "does not give a name");
}

static void
test_check_kind(void **state)
{
	vigil_plugin d = valid_sink();

	d.kind = (vigil_plugin_kind)0;
	assert_contains(check(&d, -1), "plugin 'fake' has an invalid kind 0");
	d.kind = (vigil_plugin_kind)4;
	assert_contains(check(&d, -1), "invalid kind 4");
}

static void
test_check_callbacks(void **state)
{
	vigil_plugin d = valid_sink();

	d.emit = NULL;
	assert_string_equal(check(&d, -1),
	    "/p/sink_fake.so: sink plugin 'fake' has no emit callback");
	d      = valid_sink();
	d.init = NULL;
	assert_contains(check(&d, -1), "has no init callback");
	d         = valid_sink();
	d.destroy = NULL;
	assert_contains(check(&d, -1), "has no destroy callback");
	d      = valid_sink();
	d.kind = VIGIL_PLUGIN_RULE;
	assert_contains(check(&d, -1), "rule plugin 'fake' has no score");
	d.kind = VIGIL_PLUGIN_INPUT;
	assert_contains(check(&d, -1), "input plugin 'fake' has no start");
}

static void
test_check_settings_table(void **state)
{
	static const vigil_setting bad_type[] = {
	    {"x", (vigil_setting_type)42, NULL, "x", NULL, 0, 0, 0},
	    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
	};
	static const vigil_setting childless[] = {
	    {"ok", VIGIL_SET_BOOL, "true", "ok", NULL, 0, 0, 0},
	    {"g", VIGIL_SET_LIST, NULL, "g", NULL, 0, 0, 0},
	    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
	};
	static const vigil_setting nested_bad[] = {
	    {"g", VIGIL_SET_GROUP, NULL, "g", bad_type, 0, 0, 0},
	    {NULL, 0, NULL, NULL, NULL, 0, 0, 0},
	};
	vigil_plugin d = valid_sink();

	d.settings = bad_type;
	assert_string_equal(check(&d, -1),
	    "/p/sink_fake.so: plugin 'fake': setting 'x' has an invalid type");
	d.settings = childless;
	assert_contains(
	    check(&d, -1), "setting 'g' is a group or list without children");
	d.settings = nested_bad;
	assert_contains(check(&d, -1), "setting 'x' has an invalid type");
}

/* ------------------------------------------------------------ real files */

static void
test_open_bad_major(void **state)
{
	loader             *ld = loader_new(NULL, 0);
	const vigil_plugin *d  = NULL;
	char                err[512], file[512], want[256];

	assert_non_null(ld);
	snprintf(file, sizeof(file), "%s/tests/unit/plugins/bad_major",
	    TOP_BUILDDIR);
	assert_int_equal(loader_open_file(ld, file, &d, err, sizeof(err)), -1);
	assert_contains(err, file);
	assert_contains(err, "plugin 'bad_major' is ");
	assert_contains(
	    err, abi_text(want, sizeof(want), VIGIL_ABI_MAJOR + 1, 0));
	assert_contains(err, "(major differs)");
	loader_free(ld);
}

static void
test_open_new_minor(void **state)
{
	loader             *ld = loader_new(NULL, 0);
	const vigil_plugin *d  = NULL;
	char                err[512], file[512], want[256];

	assert_non_null(ld);
	snprintf(file, sizeof(file), "%s/tests/unit/plugins/new_minor",
	    TOP_BUILDDIR);
	assert_int_equal(loader_open_file(ld, file, &d, err, sizeof(err)), -1);
	assert_contains(err, "plugin 'new_minor' is ");
	assert_contains(err,
	    abi_text(want, sizeof(want), VIGIL_ABI_MAJOR, VIGIL_ABI_MINOR + 1));
	assert_contains(err, "(minor is newer");
	loader_free(ld);
}

static void
test_open_missing(void **state)
{
	loader             *ld = loader_new(NULL, 0);
	const vigil_plugin *d  = NULL;
	char                err[512];

	assert_int_equal(loader_open_file(ld, "/nonexistent/sink_x.so", &d, err,
	                     sizeof(err)),
	    -1);
	assert_contains(err, "/nonexistent/sink_x.so: cannot load: ");
	loader_free(ld);
}

static void
test_open_valid(void **state)
{
	loader             *ld = loader_new(NULL, 0);
	const vigil_plugin *d = NULL, *again = NULL;
	char                err[512];
	char *file = built_so("plugins/sink/stdout", "sink_stdout");

	assert_int_equal(loader_open_file(ld, file, &d, err, sizeof(err)), 0);
	assert_non_null(d);
	assert_int_equal(d->kind, VIGIL_PLUGIN_SINK);
	assert_string_equal(d->name, "stdout");
	assert_int_equal(
	    loader_open_file(ld, file, &again, err, sizeof(err)), 0);
	assert_ptr_equal(d, again);
	free(file);
	loader_free(ld);
}

static void
test_get_not_found(void **state)
{
	const char *const   dirs[] = {"/nonexistent/a", "/nonexistent/b"};
	loader             *ld     = loader_new(dirs, 2);
	const vigil_plugin *d      = NULL;
	const char         *file   = NULL;
	char                err[1024];

	assert_int_equal(loader_get(ld, VIGIL_PLUGIN_RULE, "nosuch", &d, &file,
	                     err, sizeof(err)),
	    -1);
	assert_string_equal(err,
	    "rule plugin 'nosuch' not found: looked for "
	    "rule_nosuch and rule/nosuch/rule_nosuch (.la or .so) in "
	    "/nonexistent/a, /nonexistent/b");
	assert_null(d);
	assert_null(file);
	loader_free(ld);
}

static void
test_get_empty_path(void **state)
{
	loader             *ld = loader_new(NULL, 0);
	const vigil_plugin *d;
	char                err[512];

	assert_int_equal(loader_get(ld, VIGIL_PLUGIN_SINK, "stdout", &d, NULL,
	                     err, sizeof(err)),
	    -1);
	assert_contains(err,
	    "sink plugin 'stdout' not found: the plugin path "
	    "(daemon.plugin_path) is empty");
	loader_free(ld);
}

static void
test_get_invalid_name(void **state)
{
	const char *const   dirs[] = {tmpdir};
	loader             *ld     = loader_new(dirs, 1);
	const vigil_plugin *d;
	char                err[512];

	assert_int_equal(loader_get(ld, VIGIL_PLUGIN_SINK, "../sink_stdout", &d,
	                     NULL, err, sizeof(err)),
	    -1);
	assert_contains(err, "invalid plugin name");
	assert_int_equal(
	    loader_get(ld, VIGIL_PLUGIN_SINK, "", &d, NULL, err, sizeof(err)),
	    -1);
	assert_contains(err, "invalid plugin name");
	loader_free(ld);
}

static void
test_get_not_a_library(void **state)
{
	const char *const   dirs[] = {tmpdir};
	loader             *ld     = loader_new(dirs, 1);
	const vigil_plugin *d;
	char                err[512], want[256];

	assert_int_equal(loader_get(ld, VIGIL_PLUGIN_SINK, "junk", &d, NULL,
	                     err, sizeof(err)),
	    -1);
	snprintf(want, sizeof(want), "%s/sink_junk.so: cannot load: ", tmpdir);
	assert_contains(err, want);
	/* The reason is the real one, not libltdl's "file not found". */
	assert_contains(err, "invalid ELF header");
	loader_free(ld);
}

static void
test_get_bad_abi(void **state)
{
	const char *const   dirs[] = {"/nonexistent", tmpdir};
	loader             *ld     = loader_new(dirs, 2);
	const vigil_plugin *d;
	char                err[512], want[256];

	/* The nested layout, in the second directory. */
	assert_int_equal(loader_get(ld, VIGIL_PLUGIN_SINK, "bad_major", &d,
	                     NULL, err, sizeof(err)),
	    -1);
	snprintf(want, sizeof(want),
	    "%s/sink/bad_major/sink_bad_major.so: "
	    "plugin 'bad_major' is built for ABI 2.0",
	    tmpdir);
	assert_contains(err, want);
	assert_int_equal(loader_get(ld, VIGIL_PLUGIN_SINK, "new_minor", &d,
	                     NULL, err, sizeof(err)),
	    -1);
	assert_contains(err, "sink_new_minor.so: plugin 'new_minor' is ");
	assert_contains(err,
	    abi_text(want, sizeof(want), VIGIL_ABI_MAJOR, VIGIL_ABI_MINOR + 1));
	/* Failures are not cached: asking again gives the same answer. */
	assert_int_equal(loader_get(ld, VIGIL_PLUGIN_SINK, "new_minor", &d,
	                     NULL, err, sizeof(err)),
	    -1);
	loader_free(ld);
}

static void
test_get_valid_cached(void **state)
{
	char                dir[512];
	const char *const   dirs[] = {"/nonexistent", dir};
	loader             *ld;
	const vigil_plugin *d = NULL, *again = NULL;
	const char         *file = NULL, *file2 = NULL;
	char                err[512];

	snprintf(dir, sizeof(dir), "%s/plugins", TOP_BUILDDIR);
	ld = loader_new(dirs, 2);
	assert_int_equal(loader_get(ld, VIGIL_PLUGIN_SINK, "stdout", &d, &file,
	                     err, sizeof(err)),
	    0);
	assert_string_equal(d->name, "stdout");
	assert_int_equal(d->kind, VIGIL_PLUGIN_SINK);
	assert_contains(file, "/plugins/sink/stdout/sink_stdout.");
	assert_int_equal(loader_get(ld, VIGIL_PLUGIN_SINK, "stdout", &again,
	                     &file2, err, sizeof(err)),
	    0);
	assert_ptr_equal(d, again);
	assert_ptr_equal(file, file2);
	loader_free(ld);
}

static void
test_get_wrong_kind(void **state)
{
	const char *const   dirs[] = {tmpdir};
	loader             *ld     = loader_new(dirs, 1);
	const vigil_plugin *d;
	char                err[512], want[512];

	assert_int_equal(loader_get(ld, VIGIL_PLUGIN_INPUT, "stdout", &d, NULL,
	                     err, sizeof(err)),
	    -1);
	snprintf(want, sizeof(want),
	    "%s/input_stdout.so: expected input "
	    "plugin 'stdout', found sink plugin 'stdout'",
	    tmpdir);
	assert_string_equal(err, want);
	/* The same object under the right kind loads. */
	assert_int_equal(loader_get(ld, VIGIL_PLUGIN_SINK, "stdout", &d, NULL,
	                     err, sizeof(err)),
	    0);
	loader_free(ld);
}

typedef struct seen {
	int  n, n_stdout;
	char last[64];
	char stdout_file[512];
	int  sorted;
} seen;

static void
each_fn(void *arg, const vigil_plugin *d, const char *file)
{
	seen *s = arg;
	char  key[64];

	snprintf(key, sizeof(key), "%d %s", (int)d->kind, d->name);
	if (s->n > 0 && strcmp(s->last, key) >= 0)
		s->sorted = 0;
	snprintf(s->last, sizeof(s->last), "%s", key);
	s->n++;
	if (d->kind == VIGIL_PLUGIN_SINK && strcmp(d->name, "stdout") == 0) {
		s->n_stdout++;
		snprintf(s->stdout_file, sizeof(s->stdout_file), "%s", file);
	}
}

static void
test_each(void **state)
{
	char              build[512], want[512];
	const char *const dirs[] = {tmpdir, build};
	loader           *ld;
	seen              s = {.sorted = 1};

	snprintf(build, sizeof(build), "%s/plugins", TOP_BUILDDIR);
	ld = loader_new(dirs, 2);
	loader_each(ld, each_fn, &s);
	/* stdout is in both directories: once, from the first. Junk, the
	 * bad ABIs and input_stdout (a sink) are skipped. */
	assert_int_equal(s.n_stdout, 1);
	snprintf(want, sizeof(want), "%s/sink_stdout.so", tmpdir);
	assert_string_equal(s.stdout_file, want);
	assert_true(s.sorted);
	assert_true(s.n >= 1);
	loader_free(ld);
}

/* ------------------------------------------------------------ replaced */

/* Copies from to a new file named to, by rename, as make install does. */
static void
install_file(const char *from, const char *to)
{
	char   tmp[1024], buf[65536];
	FILE  *in, *out;
	size_t n;

	snprintf(tmp, sizeof(tmp), "%s.new", to);
	in  = fopen(from, "rb");
	out = fopen(tmp, "wb");
	assert_non_null(in);
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	assert_int_equal(ferror(in), 0);
	fclose(in);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(chmod(tmp, 0644), 0);
	assert_int_equal(rename(tmp, to), 0);
}

static const vigil_plugin *
get_versioned(loader *ld)
{
	const vigil_plugin *d = NULL;
	char                err[1024];

	if (loader_get(ld, VIGIL_PLUGIN_SINK, "versioned", &d, NULL, err,
	        sizeof(err)) != 0)
		fail_msg("%s", err);
	return d;
}

static int
entries_in(const char *dir)
{
	DIR           *d = opendir(dir);
	struct dirent *e;
	int            n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A plugin file replaced while a loader holds it: a new loader gets the
 * new code beside the old, through a link that is gone once loaded; an
 * unchanged file shares the object; going back to the first version
 * (a new file again) loads it anew too. */
static void
test_replaced_file(void **state)
{
	char *v1  = built_so("tests/integration/plugins/v1", "sink_versioned");
	char *v2  = built_so("tests/integration/plugins/v2", "sink_versioned");
	char *dir = tmp_path("up"), *links = tmp_path("links");
	char *so                   = tmp_path("up/sink_versioned.so");
	const char *const   dirs[] = {dir};
	loader             *gen1, *gen2, *gen3, *gen4;
	const vigil_plugin *d1, *d2;

	tmp_mkdir("up");
	tmp_mkdir("links");
	loader_set_link_dir(links);
	install_file(v1, so);
	gen1 = loader_new(dirs, 1);
	d1   = get_versioned(gen1);
	assert_string_equal(d1->version, "1.0");

	install_file(v2, so);
	gen2 = loader_new(dirs, 1);
	d2   = get_versioned(gen2);
	assert_string_equal(d2->version, "2.0");
	assert_string_equal(d1->version, "1.0"); /* still loaded, still old */
	assert_int_equal(entries_in(links), 0);

	gen3 = loader_new(dirs, 1);
	assert_ptr_equal(get_versioned(gen3), d2);
	loader_free(gen1);
	loader_free(gen2);
	assert_string_equal(d2->version, "2.0"); /* gen3 holds it */

	install_file(v1, so);
	gen4 = loader_new(dirs, 1);
	assert_string_equal(get_versioned(gen4)->version, "1.0");
	loader_free(gen3);
	loader_free(gen4);
	assert_int_equal(entries_in(links), 0);
	loader_set_link_dir(NULL);
	free(v1);
	free(v2);
	free(dir);
	free(links);
	free(so);
}

/* Without a link directory a replaced file cannot be loaded beside the
 * old one: said, not the old code silently. */
static void
test_replaced_without_link_dir(void **state)
{
	char *v1  = built_so("tests/integration/plugins/v1", "sink_versioned");
	char *v2  = built_so("tests/integration/plugins/v2", "sink_versioned");
	char *dir = tmp_path("nolink"),
	     *so  = tmp_path("nolink/sink_versioned.so");
	const char *const   dirs[] = {dir};
	loader             *old, *new;
	const vigil_plugin *d = NULL;
	char                err[1024];

	tmp_mkdir("nolink");
	loader_set_link_dir(NULL);
	install_file(v1, so);
	old = loader_new(dirs, 1);
	assert_string_equal(get_versioned(old)->version, "1.0");
	install_file(v2, so);
	new = loader_new(dirs, 1);
	assert_int_equal(loader_get(new, VIGIL_PLUGIN_SINK, "versioned", &d,
	                     NULL, err, sizeof(err)),
	    -1);
	assert_contains(err, so);
	assert_contains(err,
	    "changed since it was loaded, and no runtime "
	    "directory is set");
	loader_free(old);
	/* The old object is gone with its loader: the new file loads. */
	assert_string_equal(get_versioned(new)->version, "2.0");
	loader_free(new);
	free(v1);
	free(v2);
	free(dir);
	free(so);
}

static void
test_kind_names(void **state)
{
	assert_string_equal(plugin_kind_name(VIGIL_PLUGIN_INPUT), "input");
	assert_string_equal(plugin_kind_name(VIGIL_PLUGIN_RULE), "rule");
	assert_string_equal(plugin_kind_name(VIGIL_PLUGIN_SINK), "sink");
	assert_string_equal(plugin_kind_name((vigil_plugin_kind)7), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_valid),
	    cmocka_unit_test(test_check_null),
	    cmocka_unit_test(test_check_major),
	    cmocka_unit_test(test_check_minor),
	    cmocka_unit_test(test_check_size),
	    cmocka_unit_test(test_check_strings),
	    cmocka_unit_test(test_check_kind),
	    cmocka_unit_test(test_check_callbacks),
	    cmocka_unit_test(test_check_settings_table),
	    cmocka_unit_test(test_open_bad_major),
	    cmocka_unit_test(test_open_new_minor),
	    cmocka_unit_test(test_open_missing),
	    cmocka_unit_test(test_open_valid),
	    cmocka_unit_test(test_get_not_found),
	    cmocka_unit_test(test_get_empty_path),
	    cmocka_unit_test(test_get_invalid_name),
	    cmocka_unit_test(test_get_not_a_library),
	    cmocka_unit_test(test_get_bad_abi),
	    cmocka_unit_test(test_get_valid_cached),
	    cmocka_unit_test(test_get_wrong_kind),
	    cmocka_unit_test(test_each),
	    cmocka_unit_test(test_replaced_file),
	    cmocka_unit_test(test_replaced_without_link_dir),
	    cmocka_unit_test(test_kind_names),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
