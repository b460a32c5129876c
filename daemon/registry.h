/*
 * registry.h - registries of authors (vigil_host registry_* services):
 * e.g. the pollsters that notified an election body. An entry matches a
 * post whose author id equals it, or whose handle equals it without regard
 * to case or a leading '@'.
 */
#ifndef VIGIL_REGISTRY_H
#define VIGIL_REGISTRY_H

#include <stddef.h>

#include <vigil/plugin.h>

/* A registry is built on one thread (new, add, load), then read from any
 * number at once (has, size). */
vigil_registry *registry_new(void);
/* Copies entry; leading and trailing white space is dropped. VIGIL_ERR for
 * an empty entry, one that is not UTF-8, or no memory. */
int registry_add(vigil_registry *r, const char *entry);
/* Adds a file's entries: one a line, '#' starts a comment, blank lines
 * skipped. err names file:line and the reason. */
int registry_load(
    vigil_registry *r, const char *path, char *err, size_t errlen);
int    registry_has(const vigil_registry *r, const vigil_post *post);
size_t registry_size(const vigil_registry *r);
/* The entries of STRINGS setting `list` and of the file PATH setting
 * `file` names (a NULL name, or a setting unset, is skipped). */
vigil_registry *registry_from_cfg(const vigil_cfg *cfg, const char *list,
    const char *file, char *err, size_t errlen);
void            registry_free(vigil_registry *r);

#endif
