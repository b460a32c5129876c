/*
 * settings.h - settings tables (vigil_setting) applied to libconfig groups:
 * validation with file:line errors, defaults, resolved paths, the typed
 * accessors of vigil_cfg, and the generated configuration reference.
 */
#ifndef VIGIL_SETTINGS_H
#define VIGIL_SETTINGS_H

#include <stdio.h>

#include <libconfig.h>
#include <vigil/plugin.h>

/* Validates group against the union of tables (e.g. the host's common
 * settings of an instance plus the plugin's own). Errors: an unknown
 * setting, a wrong type, a missing required one, a value out of range,
 * nested groups and lists checked recursively; each reported as
 * "file:line: setting 'a.b': reason" in err (several, one per line, as
 * many as fit). Returns NULL on error. The result refers to group, which
 * must outlive it; PATH strings are resolved against base_dir (when not
 * NULL; an empty string stays empty, meaning "not set"). A NULL group
 * stands for an absent one: every setting takes its default. REQUIRED
 * settings are required in a group that is there: an optional group
 * left out (say, tls) does not need its required members (tls.cert).
 *
 * The result is owned by the caller (settings_free); nested GROUP and
 * LIST children are owned by it. After bind, the accessors only read and
 * may be called from any thread. */
vigil_cfg *settings_bind(const config_setting_t *group,
    const vigil_setting *const *tables, size_t n_tables, const char *base_dir,
    char *err, size_t errlen);
/* As settings_bind, but names the tables do not declare are ignored:
 * for an instance whose plugin's own table is not at hand. */
vigil_cfg *settings_bind_known(const config_setting_t *group,
    const vigil_setting *const *tables, size_t n_tables, const char *base_dir,
    char *err, size_t errlen);
void       settings_free(vigil_cfg *cfg);

/* Appends text (one or more lines) to the error list in err, a line per
 * error: whole lines only, as many as fit, except that a first line is
 * cut short rather than lost. err must be NUL-terminated. */
void settings_error_add(char *err, size_t errlen, const char *text);

/* Accessors, as in vigil_host. Asking for a name that no table declares,
 * or with the accessor of another type, is a programming error: logged,
 * returns 0/NULL (cfg_float also reads INT settings). Strings and nested
 * cfgs are owned by cfg. cfg_where never returns NULL. */
int         cfg_bool(const vigil_cfg *cfg, const char *name);
int64_t     cfg_int(const vigil_cfg *cfg, const char *name);
double      cfg_float(const vigil_cfg *cfg, const char *name);
const char *cfg_string(const vigil_cfg *cfg, const char *name);
size_t      cfg_count(const vigil_cfg *cfg, const char *name);
const char *cfg_string_at(const vigil_cfg *cfg, const char *name, size_t i);
const vigil_cfg *cfg_group(const vigil_cfg *cfg, const char *name);
const vigil_cfg *cfg_list_at(const vigil_cfg *cfg, const char *name, size_t i);
const char      *cfg_where(const vigil_cfg *cfg, const char *name);

/* Markdown reference of a table: a "## heading" (none when heading is
 * NULL), a row per setting with type, default and description; nested
 * tables follow under their own deeper headings. */
void settings_reference(
    FILE *out, const char *heading, const vigil_setting *table);
/* The same without the heading, for a caller that writes its own text
 * under it; prefix names the nested sections ("scoring" gives
 * "### scoring.thresholds"), NULL for none. */
void settings_reference_body(
    FILE *out, const char *prefix, const vigil_setting *table);

#endif
