/*
 * settings.c - binds a libconfig group to settings tables.
 *
 * settings_bind walks the tables once and builds a vigil_cfg: one item per
 * declared setting, holding the value decoded from the group, or the
 * table's default. Strings are copied (PATH ones resolved against the
 * config's directory), so that the accessors are plain lookups that never
 * allocate and may run on any thread. Nested GROUP and LIST settings get
 * their own vigil_cfg, owned by their parent.
 *
 * Every problem found is reported, not just the first: an operator fixing
 * a config wants the whole list at once.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "settings.h"
#include "util.h"

/* One declared setting and its value. */
typedef struct cfg_item {
	const vigil_setting    *def;
	const config_setting_t *set;   /* NULL when absent */
	char                   *where; /* "file:line" of set, or NULL */
	int64_t                 i;
	double                  f;
	int                     b;
	char                   *s;
	char                  **strs;
	size_t                  n_strs;
	vigil_cfg              *group;
	vigil_cfg             **items;
	size_t                  n_items;
} cfg_item;

struct vigil_cfg {
	const config_setting_t *group; /* NULL when absent: defaults only */
	const vigil_setting   **tables;
	size_t                  n_tables;
	char                   *where;
	cfg_item               *items;
	size_t                  n_items;
};

/* State of one settings_bind call. */
typedef struct bind_ctx {
	char       *err;
	size_t      errlen;
	unsigned    n_errors;
	const char *base_dir;
	bool        strict; /* unknown names are errors */
} bind_ctx;

static vigil_cfg *bind_group(bind_ctx *bc, const config_setting_t *group,
    const vigil_setting *const *tables, size_t n_tables, const char *path,
    const char *where);

void
settings_error_add(char *err, size_t errlen, const char *text)
{
	size_t used;

	if (err == NULL || errlen == 0)
		return;
	used      = strnlen(err, errlen - 1);
	err[used] = '\0';
	while (*text != '\0') {
		size_t n   = strcspn(text, "\n");
		size_t sep = used > 0 ? 1 : 0;

		if (used + sep + n >= errlen) {
			/* A first line is worth having even cut short. */
			if (used == 0)
				strfmt(err, errlen, "%.*s", (int)n, text);
			return;
		}
		if (sep)
			err[used++] = '\n';
		memcpy(err + used, text, n);
		used += n;
		err[used] = '\0';
		text += n;
		if (*text == '\n')
			text++;
	}
}

static void bind_error(bind_ctx *bc, const char *where, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
bind_error(
    bind_ctx *bc, const char *where, const char *path, const char *fmt, ...)
{
	char    reason[512], line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	strfmt(line, sizeof(line), "%s: setting '%s': %s", where, path, reason);
	settings_error_add(bc->err, bc->errlen, line);
	bc->n_errors++;
}

/* "file:line" of a setting (malloc'd). Settings read from a string have
 * no file. */
static char *
where_of(const config_setting_t *s)
{
	const char *file = config_setting_source_file(s);
	char       *w;

	if (asprintf(&w, "%s:%u", file ? file : "<string>",
	        (unsigned)config_setting_source_line(s)) < 0)
		return NULL;
	return w;
}

/* Dotted name of a setting from the root, list elements as [i]. */
static char *
path_of(const config_setting_t *s)
{
	char       *parent, *p;
	const char *name;
	int         r;

	if (s == NULL || config_setting_is_root(s))
		return strdup("");
	name   = config_setting_name(s);
	parent = path_of(config_setting_parent(s));
	if (parent == NULL)
		return NULL;
	if (name != NULL)
		r = asprintf(&p, "%s%s%s", parent, *parent ? "." : "", name);
	else
		r = asprintf(&p, "%s%s[%d]", parent, *parent ? "." : "",
		    config_setting_index(s));
	free(parent);
	return r < 0 ? NULL : p;
}

static char *
join_name(const char *path, const char *name)
{
	char *p;

	if (asprintf(&p, "%s%s%s", path, *path ? "." : "", name) < 0)
		return NULL;
	return p;
}

static const char *
type_name(vigil_setting_type t)
{
	switch (t) {
	case VIGIL_SET_BOOL: return "a boolean (true or false)";
	case VIGIL_SET_INT: return "an integer";
	case VIGIL_SET_FLOAT: return "a number";
	case VIGIL_SET_STRING: return "a string";
	case VIGIL_SET_STRINGS:
		return "an array of strings, like [\"a\", \"b\"]";
	case VIGIL_SET_GROUP: return "a group, like { ... }";
	case VIGIL_SET_LIST: return "a list of groups, like ( { ... } )";
	}
	return "?";
}

static const char *
lc_type_name(int t)
{
	switch (t) {
	case CONFIG_TYPE_GROUP: return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a float";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_ARRAY: return "an array";
	case CONFIG_TYPE_LIST: return "a list";
	}
	return "nothing";
}

/* The elements of an array, which are scalars. */
static const char *
lc_elem_name(int t)
{
	switch (t) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "integers";
	case CONFIG_TYPE_FLOAT: return "floats";
	case CONFIG_TYPE_BOOL: return "booleans";
	}
	return "strings";
}

static void
type_error(bind_ctx *bc, cfg_item *it, const char *path)
{
	bind_error(bc, it->where, path, "expected %s, got %s",
	    type_name(it->def->type),
	    lc_type_name(config_setting_type(it->set)));
}

/* A string value: a copy, or for PATH settings resolved against the
 * config's directory. Empty means "not set" and stays empty. */
static char *
string_value(bind_ctx *bc, const vigil_setting *def, const char *s)
{
	if ((def->flags & VIGIL_SET_PATH) && s[0] != '\0' && s[0] != '/' &&
	    bc->base_dir != NULL)
		return path_join(bc->base_dir, s);
	return strdup(s);
}

static bool
in_range(const vigil_setting *def, double v)
{
	if (!(def->min < def->max))
		return true;
	return v >= def->min && v <= def->max;
}

static void
decode_int(bind_ctx *bc, cfg_item *it, const char *path)
{
	const vigil_setting *def = it->def;

	switch (config_setting_type(it->set)) {
	case CONFIG_TYPE_INT: it->i = config_setting_get_int(it->set); break;
	case CONFIG_TYPE_INT64:
		it->i = config_setting_get_int64(it->set);
		break;
	default: type_error(bc, it, path); return;
	}
	if (!in_range(def, (double)it->i))
		bind_error(bc, it->where, path,
		    "%" PRId64 " is out of range (%lld to %lld)", it->i,
		    (long long)def->min, (long long)def->max);
}

static void
decode_float(bind_ctx *bc, cfg_item *it, const char *path)
{
	const vigil_setting *def = it->def;

	switch (config_setting_type(it->set)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		it->f = (double)config_setting_get_int64(it->set);
		break;
	case CONFIG_TYPE_FLOAT:
		it->f = config_setting_get_float(it->set);
		break;
	default: type_error(bc, it, path); return;
	}
	if (!isfinite(it->f))
		bind_error(bc, it->where, path, "not a finite number");
	else if (!in_range(def, it->f))
		bind_error(bc, it->where, path, "%g is out of range (%g to %g)",
		    it->f, def->min, def->max);
}

static void
decode_strings(bind_ctx *bc, cfg_item *it, const char *path)
{
	int n;

	if (config_setting_type(it->set) != CONFIG_TYPE_ARRAY) {
		type_error(bc, it, path);
		return;
	}
	n = config_setting_length(it->set);
	if (n == 0)
		return;
	/* libconfig arrays are homogeneous: one element tells the type. */
	if (config_setting_type(config_setting_get_elem(it->set, 0)) !=
	    CONFIG_TYPE_STRING) {
		bind_error(bc, it->where, path,
		    "expected %s, got an array of %s", type_name(it->def->type),
		    lc_elem_name(config_setting_type(
		        config_setting_get_elem(it->set, 0))));
		return;
	}
	it->strs = calloc((size_t)n, sizeof(*it->strs));
	if (it->strs == NULL) {
		bind_error(bc, it->where, path, "out of memory");
		return;
	}
	for (int k = 0; k < n; k++) {
		it->strs[k] = string_value(
		    bc, it->def, config_setting_get_string_elem(it->set, k));
		if (it->strs[k] == NULL) {
			bind_error(bc, it->where, path, "out of memory");
			return;
		}
		it->n_strs++;
	}
}

static void
decode_list(bind_ctx *bc, cfg_item *it, const char *path)
{
	const vigil_setting *children = it->def->children;
	int                  n;

	if (config_setting_type(it->set) != CONFIG_TYPE_LIST) {
		type_error(bc, it, path);
		return;
	}
	n = config_setting_length(it->set);
	if (n == 0)
		return;
	it->items = calloc((size_t)n, sizeof(*it->items));
	if (it->items == NULL) {
		bind_error(bc, it->where, path, "out of memory");
		return;
	}
	for (int k = 0; k < n; k++) {
		const config_setting_t *elem =
		    config_setting_get_elem(it->set, k);
		char *epath, *ewhere;

		ewhere = where_of(elem);
		if (asprintf(&epath, "%s.[%d]", path, k) < 0)
			epath = NULL;
		if (ewhere == NULL || epath == NULL)
			bind_error(bc, it->where, path, "out of memory");
		else if (config_setting_type(elem) != CONFIG_TYPE_GROUP)
			bind_error(bc, ewhere, epath,
			    "expected a group, like { ... }, got %s",
			    lc_type_name(config_setting_type(elem)));
		else
			it->items[it->n_items++] =
			    bind_group(bc, elem, &children, 1, epath, ewhere);
		free(ewhere);
		free(epath);
	}
}

/* Decodes a setting present in the group. */
static void
decode_set(bind_ctx *bc, cfg_item *it, const char *path)
{
	int t = config_setting_type(it->set);

	switch (it->def->type) {
	case VIGIL_SET_BOOL:
		if (t != CONFIG_TYPE_BOOL)
			type_error(bc, it, path);
		else
			it->b = config_setting_get_bool(it->set);
		break;
	case VIGIL_SET_INT: decode_int(bc, it, path); break;
	case VIGIL_SET_FLOAT: decode_float(bc, it, path); break;
	case VIGIL_SET_STRING:
		if (t != CONFIG_TYPE_STRING) {
			type_error(bc, it, path);
			break;
		}
		it->s = string_value(
		    bc, it->def, config_setting_get_string(it->set));
		if (it->s == NULL)
			bind_error(bc, it->where, path, "out of memory");
		break;
	case VIGIL_SET_STRINGS: decode_strings(bc, it, path); break;
	case VIGIL_SET_GROUP:
		if (t != CONFIG_TYPE_GROUP)
			type_error(bc, it, path);
		else
			it->group = bind_group(bc, it->set, &it->def->children,
			    1, path, it->where);
		break;
	case VIGIL_SET_LIST: decode_list(bc, it, path); break;
	}
}

static bool
parse_int_text(const char *s, int64_t *v)
{
	char     *end;
	long long n;

	errno = 0;
	n     = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return false;
	*v = n;
	return true;
}

static bool
parse_float_text(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v    = strtod(s, &end);
	return errno == 0 && end != s && *end == '\0' && isfinite(*v);
}

/* Takes the table's default, in text form, for an absent setting. */
static void
decode_default(bind_ctx *bc, cfg_item *it, const char *path, const char *where)
{
	const vigil_setting *def = it->def;
	const char          *dv  = def->default_value;
	bool                 ok  = true;

	switch (def->type) {
	case VIGIL_SET_BOOL:
		if (dv != NULL) {
			ok =
			    strcmp(dv, "true") == 0 || strcmp(dv, "false") == 0;
			it->b = strcmp(dv, "true") == 0;
		}
		break;
	case VIGIL_SET_INT:
		ok = dv == NULL || parse_int_text(dv, &it->i);
		break;
	case VIGIL_SET_FLOAT:
		ok = dv == NULL || parse_float_text(dv, &it->f);
		break;
	case VIGIL_SET_STRING:
		if (dv != NULL && (it->s = string_value(bc, def, dv)) == NULL)
			bind_error(bc, where, path, "out of memory");
		break;
	case VIGIL_SET_STRINGS:
		if (dv == NULL)
			break;
		it->strs = calloc(1, sizeof(*it->strs));
		if (it->strs == NULL ||
		    (it->strs[0] = string_value(bc, def, dv)) == NULL)
			bind_error(bc, where, path, "out of memory");
		else
			it->n_strs = 1;
		break;
	case VIGIL_SET_GROUP:
		it->group =
		    bind_group(bc, NULL, &def->children, 1, path, where);
		break;
	case VIGIL_SET_LIST: break;
	}
	if (!ok)
		bind_error(bc, where, path,
		    "the settings table has an invalid default '%s'", dv);
}

static bool
valid_type(vigil_setting_type t)
{
	return t >= VIGIL_SET_BOOL && t <= VIGIL_SET_LIST;
}

/* Fills cfg->items from the tables; a name declared twice is a bug in a
 * table, reported like a config error so that it cannot go unnoticed. */
static int
collect_items(bind_ctx *bc, vigil_cfg *cfg, const char *path)
{
	size_t n = 0;

	for (size_t t = 0; t < cfg->n_tables; t++)
		for (const vigil_setting *s = cfg->tables[t]; s && s->name; s++)
			n++;
	cfg->items = calloc(n ? n : 1, sizeof(*cfg->items));
	if (cfg->items == NULL)
		return -1;
	for (size_t t = 0; t < cfg->n_tables; t++) {
		for (const vigil_setting *s = cfg->tables[t]; s && s->name;
		     s++) {
			bool dup = false;

			for (size_t k = 0; k < cfg->n_items && !dup; k++)
				dup = strcmp(cfg->items[k].def->name,
				          s->name) == 0;
			if (dup || !valid_type(s->type)) {
				char *p = join_name(path, s->name);

				bind_error(bc, cfg->where, p ? p : s->name,
				    dup ? "declared twice by the settings "
				          "tables"
				        : "the settings table gives it an "
				          "invalid type");
				free(p);
				continue;
			}
			cfg->items[cfg->n_items++].def = s;
		}
	}
	return 0;
}

static cfg_item *
item_by_name(const vigil_cfg *cfg, const char *name)
{
	for (size_t k = 0; k < cfg->n_items; k++)
		if (strcmp(cfg->items[k].def->name, name) == 0)
			return &cfg->items[k];
	return NULL;
}

/* Attaches each member of the group to its item. */
static void
match_members(bind_ctx *bc, vigil_cfg *cfg, const char *path)
{
	int n = config_setting_length(cfg->group);

	for (int k = 0; k < n; k++) {
		const config_setting_t *m =
		    config_setting_get_elem(cfg->group, k);
		cfg_item *it = item_by_name(cfg, config_setting_name(m));
		char     *w, *p;

		if (it != NULL) {
			it->set = m;
			if ((it->where = where_of(m)) == NULL)
				bind_error(
				    bc, cfg->where, path, "out of memory");
			continue;
		}
		if (!bc->strict)
			continue;
		w = where_of(m);
		p = join_name(path, config_setting_name(m));
		bind_error(bc, w ? w : cfg->where,
		    p ? p : config_setting_name(m), "unknown setting");
		free(w);
		free(p);
	}
}

static void
decode_items(bind_ctx *bc, vigil_cfg *cfg, const char *path)
{
	for (size_t k = 0; k < cfg->n_items; k++) {
		cfg_item *it = &cfg->items[k];
		char     *p  = join_name(path, it->def->name);

		if (p == NULL)
			bind_error(bc, cfg->where, path, "out of memory");
		else if (it->set != NULL && it->where != NULL)
			decode_set(bc, it, p);
		else if (it->set == NULL && cfg->group != NULL &&
		    (it->def->flags & VIGIL_SET_REQUIRED))
			bind_error(bc, cfg->where, p, "required, but not set");
		else if (it->set == NULL)
			decode_default(bc, it, p, cfg->where);
		free(p);
	}
}

/* Builds the vigil_cfg of one group (NULL: absent, defaults only). Never
 * fails silently: any failure is counted in bc as an error. */
static vigil_cfg *
bind_group(bind_ctx *bc, const config_setting_t *group,
    const vigil_setting *const *tables, size_t n_tables, const char *path,
    const char *where)
{
	vigil_cfg *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		goto oom;
	cfg->group  = group;
	cfg->tables = calloc(n_tables ? n_tables : 1, sizeof(*cfg->tables));
	cfg->where  = group ? where_of(group) : strdup(where);
	if (cfg->tables == NULL || cfg->where == NULL)
		goto oom;
	memcpy(cfg->tables, tables, n_tables * sizeof(*tables));
	cfg->n_tables = n_tables;
	if (collect_items(bc, cfg, path) < 0)
		goto oom;
	if (group != NULL)
		match_members(bc, cfg, path);
	decode_items(bc, cfg, path);
	return cfg;

oom:
	bind_error(bc, where, path, "out of memory");
	settings_free(cfg);
	return NULL;
}

static vigil_cfg *
bind_top(const config_setting_t *group, const vigil_setting *const *tables,
    size_t n_tables, const char *base_dir, bool strict, char *err,
    size_t errlen)
{
	bind_ctx   bc   = {err, errlen, 0, base_dir, strict};
	vigil_cfg *cfg  = NULL;
	char      *path = NULL, *where = NULL;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	path  = group ? path_of(group) : strdup("");
	where = group ? where_of(group) : strdup("(defaults)");
	if (path == NULL || where == NULL) {
		settings_error_add(err, errlen, "out of memory");
		goto out;
	}
	if (group != NULL && !config_setting_is_group(group)) {
		bind_error(&bc, where, path,
		    "expected a group, like { ... }, got %s",
		    lc_type_name(config_setting_type(group)));
		goto out;
	}
	cfg = bind_group(&bc, group, tables, n_tables, path, where);
	if (bc.n_errors > 0) {
		settings_free(cfg);
		cfg = NULL;
	}
out:
	free(path);
	free(where);
	return cfg;
}

vigil_cfg *
settings_bind(const config_setting_t *group, const vigil_setting *const *tables,
    size_t n_tables, const char *base_dir, char *err, size_t errlen)
{
	return bind_top(group, tables, n_tables, base_dir, true, err, errlen);
}

vigil_cfg *
settings_bind_known(const config_setting_t *group,
    const vigil_setting *const *tables, size_t n_tables, const char *base_dir,
    char *err, size_t errlen)
{
	return bind_top(group, tables, n_tables, base_dir, false, err, errlen);
}

static void
item_free(cfg_item *it)
{
	free(it->where);
	free(it->s);
	for (size_t k = 0; k < it->n_strs; k++)
		free(it->strs[k]);
	free(it->strs);
	settings_free(it->group);
	for (size_t k = 0; k < it->n_items; k++)
		settings_free(it->items[k]);
	free(it->items);
}

void
settings_free(vigil_cfg *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t k = 0; k < cfg->n_items; k++)
		item_free(&cfg->items[k]);
	free(cfg->items);
	free(cfg->tables);
	free(cfg->where);
	free(cfg);
}

/* ------------------------------------------------------------ accessors */

/* The item for name if it has one of the two types (pass the same type
 * twice for one); a miss is a bug in the caller and is logged. */
static const cfg_item *
lookup(const vigil_cfg *cfg, const char *name, vigil_setting_type t1,
    vigil_setting_type t2, const char *fn)
{
	const cfg_item *it;

	if (cfg == NULL || name == NULL) {
		log_err("%s: called with a NULL %s", fn, cfg ? "name" : "cfg");
		return NULL;
	}
	it = item_by_name(cfg, name);
	if (it == NULL) {
		log_err("%s: no setting '%s' is declared (%s)", fn, name,
		    cfg->where);
		return NULL;
	}
	if (it->def->type != t1 && it->def->type != t2) {
		log_err("%s: setting '%s' is %s", fn, name,
		    type_name(it->def->type));
		return NULL;
	}
	return it;
}

int
cfg_bool(const vigil_cfg *cfg, const char *name)
{
	const cfg_item *it =
	    lookup(cfg, name, VIGIL_SET_BOOL, VIGIL_SET_BOOL, __func__);

	return it ? it->b : 0;
}

int64_t
cfg_int(const vigil_cfg *cfg, const char *name)
{
	const cfg_item *it =
	    lookup(cfg, name, VIGIL_SET_INT, VIGIL_SET_INT, __func__);

	return it ? it->i : 0;
}

double
cfg_float(const vigil_cfg *cfg, const char *name)
{
	const cfg_item *it =
	    lookup(cfg, name, VIGIL_SET_FLOAT, VIGIL_SET_INT, __func__);

	if (it == NULL)
		return 0.0;
	return it->def->type == VIGIL_SET_INT ? (double)it->i : it->f;
}

const char *
cfg_string(const vigil_cfg *cfg, const char *name)
{
	const cfg_item *it =
	    lookup(cfg, name, VIGIL_SET_STRING, VIGIL_SET_STRING, __func__);

	return it ? it->s : NULL;
}

size_t
cfg_count(const vigil_cfg *cfg, const char *name)
{
	const cfg_item *it =
	    lookup(cfg, name, VIGIL_SET_STRINGS, VIGIL_SET_LIST, __func__);

	if (it == NULL)
		return 0;
	return it->def->type == VIGIL_SET_LIST ? it->n_items : it->n_strs;
}

const char *
cfg_string_at(const vigil_cfg *cfg, const char *name, size_t i)
{
	const cfg_item *it =
	    lookup(cfg, name, VIGIL_SET_STRINGS, VIGIL_SET_STRINGS, __func__);

	return it && i < it->n_strs ? it->strs[i] : NULL;
}

const vigil_cfg *
cfg_group(const vigil_cfg *cfg, const char *name)
{
	const cfg_item *it =
	    lookup(cfg, name, VIGIL_SET_GROUP, VIGIL_SET_GROUP, __func__);

	return it ? it->group : NULL;
}

const vigil_cfg *
cfg_list_at(const vigil_cfg *cfg, const char *name, size_t i)
{
	const cfg_item *it =
	    lookup(cfg, name, VIGIL_SET_LIST, VIGIL_SET_LIST, __func__);

	return it && i < it->n_items ? it->items[i] : NULL;
}

const char *
cfg_where(const vigil_cfg *cfg, const char *name)
{
	const cfg_item *it;

	if (cfg == NULL)
		return "(no config)";
	if (name == NULL)
		return cfg->where;
	it = item_by_name(cfg, name);
	if (it == NULL) {
		log_err("%s: no setting '%s' is declared (%s)", __func__, name,
		    cfg->where);
		return cfg->where;
	}
	return it->where ? it->where : cfg->where;
}

/* ------------------------------------------------------------ reference */

static const char *
ref_type(const vigil_setting *s)
{
	bool path = s->flags & VIGIL_SET_PATH;

	switch (s->type) {
	case VIGIL_SET_BOOL: return "bool";
	case VIGIL_SET_INT: return "int";
	case VIGIL_SET_FLOAT: return "float";
	case VIGIL_SET_STRING: return path ? "path" : "string";
	case VIGIL_SET_STRINGS: return path ? "paths" : "strings";
	case VIGIL_SET_GROUP: return "group";
	case VIGIL_SET_LIST: return "list";
	}
	return "?";
}

/* Table cells hold one line; a '|' would end the cell. */
static void
ref_cell(FILE *out, const char *text)
{
	for (const char *p = text; p && *p; p++) {
		if (*p == '|')
			fputs("\\|", out);
		else if (*p == '\n' || *p == '\r')
			fputc(' ', out);
		else
			fputc(*p, out);
	}
}

static void
ref_row(FILE *out, const vigil_setting *s)
{
	fprintf(out, "| `%s` | %s", s->name, ref_type(s));
	if ((s->type == VIGIL_SET_INT || s->type == VIGIL_SET_FLOAT) &&
	    s->min < s->max) {
		if (s->type == VIGIL_SET_INT)
			fprintf(out, " (%lld to %lld)", (long long)s->min,
			    (long long)s->max);
		else
			fprintf(out, " (%g to %g)", s->min, s->max);
	}
	if (s->flags & VIGIL_SET_REQUIRED)
		fputs(", required", out);
	if (s->flags & VIGIL_SET_SECRET)
		fputs(", secret", out);
	fputs(" | ", out);
	if (s->default_value != NULL && s->default_value[0] != '\0') {
		fputc('`', out);
		ref_cell(out, s->default_value);
		fputc('`', out);
	} else if (s->default_value != NULL) {
		fputs("\"\"", out);
	}
	fputs(" | ", out);
	ref_cell(out, s->description);
	fputs(" |\n", out);
}

static void
ref_heading(FILE *out, int level, const char *text)
{
	fprintf(out, "%.*s %s\n\n", level < 6 ? level : 6, "######", text);
}

/* Writes the table, then a section per nested table; prefix names the
 * nested ones ("scoring.thresholds"). */
static void
ref_section(
    FILE *out, int level, const char *prefix, const vigil_setting *table)
{
	if (table == NULL || table->name == NULL) {
		fputs("No settings.\n\n", out);
		return;
	}
	fputs("| Setting | Type | Default | Description |\n", out);
	fputs("|---|---|---|---|\n", out);
	for (const vigil_setting *s = table; s->name; s++)
		ref_row(out, s);
	fputc('\n', out);
	for (const vigil_setting *s = table; s->name; s++) {
		char *sub;

		if (s->type != VIGIL_SET_GROUP && s->type != VIGIL_SET_LIST)
			continue;
		if (asprintf(&sub, "%s%s%s%s", prefix ? prefix : "",
		        prefix && *prefix ? "." : "", s->name,
		        s->type == VIGIL_SET_LIST ? "[]" : "") < 0)
			continue;
		ref_heading(out, level + 1, sub);
		if (s->type == VIGIL_SET_LIST)
			fprintf(out,
			    "Each element of `%s` is a group with these "
			    "settings.\n\n",
			    s->name);
		ref_section(out, level + 1, sub, s->children);
		free(sub);
	}
}

void
settings_reference(FILE *out, const char *heading, const vigil_setting *table)
{
	if (heading != NULL)
		ref_heading(out, 2, heading);
	ref_section(out, 2, heading, table);
}

void
settings_reference_body(
    FILE *out, const char *prefix, const vigil_setting *table)
{
	ref_section(out, 2, prefix, table);
}
