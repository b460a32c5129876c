/*
 * loader.h - finds and loads plugins with libltdl (lt_dlopenadvise) from
 * the configured directories, by kind and name, and checks their ABI.
 *
 * For a plugin `jsonl` of kind input, each directory D is searched for
 * D/input_jsonl and D/input/jsonl/input_jsonl (libtool's .la or the shared
 * object), so that a build tree's plugins/ directory works as a path.
 */
#ifndef VIGIL_LOADER_H
#define VIGIL_LOADER_H

#include <stddef.h>

#include <vigil/plugin.h>

typedef struct loader loader;

/* A loader searching dirs in order (copied). NULL when out of memory or
 * libltdl fails (logged). A loader and what it hands out are used from
 * one thread only: libltdl is not thread-safe. */
loader *loader_new(const char *const *dirs, size_t n_dirs);
/* Unloads every plugin; descriptors from it become invalid. */
void loader_free(loader *ld);

/* Where the loaders of this process may make short-lived links (vigild's
 * runtime directory; copied). A plugin file replaced since the process
 * loaded it (same path, another device, inode, size or mtime) is loaded
 * anew through a link there, beside the old object that older loaders
 * still hold; without a directory that load fails with the reason. An
 * unchanged file shares the object already loaded. */
void loader_set_link_dir(const char *dir);

/* Loads (once; later calls return the cached one) and checks a plugin:
 * loader_check, then that it is of that kind and has that name. desc and
 * file (may be NULL) are owned by the loader until loader_free. On error
 * returns -1 with a message naming the file, the plugin and the reason,
 * e.g. "/x/input_jsonl.so: plugin 'jsonl' is built for ABI 2.0; this
 * vigil has ABI 1.0 (major differs)", or, when no file is found, the
 * directories searched. */
int loader_get(loader *ld, vigil_plugin_kind kind, const char *name,
    const vigil_plugin **desc, const char **file, char *err, size_t errlen);

/* Loads a plugin from an explicit file (tests, `vigild --plugin`), of any
 * kind; file may omit the .la/.so extension. desc as for loader_get. */
int loader_open_file(loader *ld, const char *file, const vigil_plugin **desc,
    char *err, size_t errlen);

/* The descriptor checks alone: ABI major equal, minor not newer, struct
 * size at least the 1.0 size, name, version, description, kind set,
 * init, destroy and the callback the kind needs (input: start; rule:
 * score; sink: emit) present, settings table well formed. file (may be
 * NULL) only names the plugin in the message. */
int loader_check(
    const vigil_plugin *d, const char *file, char *err, size_t errlen);

/* Every plugin that the directories hold (files kind_name.la or .so, in
 * both layouts), loaded, for the reference doc. Calls fn for each one
 * that loads, sorted by kind and name; the others are logged. */
void loader_each(loader *ld,
    void (*fn)(void *arg, const vigil_plugin *d, const char *file), void *arg);

const char *plugin_kind_name(vigil_plugin_kind kind);

#endif
