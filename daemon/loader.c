/*
 * loader.c - finds plugins in the configured directories, loads them with
 * libltdl and checks their descriptors against the ABI this vigil speaks.
 *
 * Lookup is by kind and name: directory D holds D/input_jsonl (an
 * installed plugin) or D/input/jsonl/input_jsonl (a build tree), each as
 * libtool's .la or the bare shared object. We look for the files
 * ourselves before asking libltdl, so that "not there" (with the list of
 * places searched) and "there but broken" (with libltdl's reason) are
 * told apart. Plugins are loaded RTLD_LOCAL: two plugins may use the same
 * symbol names.
 *
 * A loaded plugin stays loaded until loader_free: descriptors and file
 * names handed out stay valid that long.
 *
 * Reloads: each generation of vigild has a loader of its own, and the old
 * one still holds its plugins while the new one loads. libltdl and the
 * dynamic linker both hand back an object already loaded under the same
 * file name, so a plugin replaced on disk (make install renames a new
 * file into place) would keep its old code. So every shared object loaded
 * in the process is recorded with the identity of its file (device,
 * inode, size, mtime): an unchanged file is opened under the name it was
 * loaded by and shares the object; a changed one is opened through a
 * symbolic link of a name never used before, in the link directory
 * (vigild's runtime directory), which the dynamic linker maps as a new
 * object because the inode behind it is new. The link is removed once
 * loaded (libltdl finds a loaded object by the name it was given,
 * without looking at the file); the old object goes when the last loader
 * holding it is freed.
 */
#include <dirent.h>
#include <errno.h>
#include <dlfcn.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ltdl.h>

#include "loader.h"
#include "privs.h"
#include "log.h"
#include "util.h"

/* The size of a 1.0 descriptor: everything up to its last field. */
#define PLUGIN_SIZE_1_0                                                        \
	(offsetof(vigil_plugin, reopen) + sizeof(((vigil_plugin *)0)->reopen))

/* Nesting depth of settings tables checked before we call a table
 * malformed (a table that points into itself). */
#define MAX_TABLE_DEPTH 8

/* What a shared object's file was when it was loaded. */
typedef struct file_id {
	dev_t           dev;
	ino_t           ino;
	off_t           size;
	struct timespec mtime;
} file_id;

/* A shared object loaded in this process, by any loader. */
typedef struct loaded_so {
	char             *so;      /* its file */
	file_id           id;      /* that file when loaded */
	char             *name;    /* what libltdl was given: ours to reuse */
	bool              by_link; /* name is a link of ours (now removed) */
	unsigned          users;   /* plugin entries holding it */
	const void       *entry;   /* its entry point, once loaded */
	struct loaded_so *next;
} loaded_so;

typedef struct plugin_entry {
	vigil_plugin_kind    kind;
	char                *name; /* as asked for; NULL when by file */
	char                *file;
	lt_dlhandle          handle;
	loaded_so           *obj; /* NULL when its file could not be read */
	const vigil_plugin  *desc;
	struct plugin_entry *next;
} plugin_entry;

struct loader {
	char        **dirs;
	size_t        n_dirs;
	plugin_entry *plugins;
};

/* Process-wide, as libltdl's own handle list is. */
static loaded_so    *loaded;
static char          link_dir[PATH_MAX];
static unsigned long links_made;

static const char *const kind_names[] = {
    [VIGIL_PLUGIN_INPUT] = "input",
    [VIGIL_PLUGIN_RULE]  = "rule",
    [VIGIL_PLUGIN_SINK]  = "sink",
};

static bool
kind_valid(int kind)
{
	return kind >= VIGIL_PLUGIN_INPUT && kind <= VIGIL_PLUGIN_SINK;
}

const char *
plugin_kind_name(vigil_plugin_kind kind)
{
	return kind_valid((int)kind) ? kind_names[kind] : "unknown";
}

/* ------------------------------------------------------------ objects */

void
loader_set_link_dir(const char *dir)
{
	if (!strfmt(link_dir, sizeof(link_dir), "%s", dir ? dir : ""))
		link_dir[0] = '\0';
}

static void
loaded_so_free(loaded_so *o)
{
	free(o->so);
	free(o->name);
	free(o);
}

static void
loaded_unlist(loaded_so *o)
{
	loaded_so **pp = &loaded;

	while (*pp != o)
		pp = &(*pp)->next;
	*pp = o->next;
	loaded_so_free(o);
}

/* A plugin entry lets go of its object; the record goes with its last
 * user. */
static void
loaded_release(loaded_so *o)
{
	if (o != NULL && --o->users == 0)
		loaded_unlist(o);
}

loader *
loader_new(const char *const *dirs, size_t n_dirs)
{
	loader *ld = calloc(1, sizeof(*ld));

	if (ld == NULL)
		return NULL;
	ld->dirs = calloc(n_dirs ? n_dirs : 1, sizeof(*ld->dirs));
	if (ld->dirs == NULL)
		goto fail;
	for (; ld->n_dirs < n_dirs; ld->n_dirs++)
		if ((ld->dirs[ld->n_dirs] = strdup(dirs[ld->n_dirs])) == NULL)
			goto fail;
	/* libltdl counts lt_dlinit calls: each loader holds one, and
	 * lt_dlexit in loader_free gives it back. */
	if (lt_dlinit() != 0) {
		log_err("loader: cannot initialise libltdl: %s", lt_dlerror());
		goto fail;
	}
	return ld;

fail:
	for (size_t i = 0; i < ld->n_dirs; i++)
		free(ld->dirs[i]);
	free(ld->dirs);
	free(ld);
	return NULL;
}

void
loader_free(loader *ld)
{
	plugin_entry *p, *next;

	if (ld == NULL)
		return;
	for (p = ld->plugins; p != NULL; p = next) {
		next = p->next;
		lt_dlclose(p->handle);
		loaded_release(p->obj);
		free(p->name);
		free(p->file);
		free(p);
	}
	for (size_t i = 0; i < ld->n_dirs; i++)
		free(ld->dirs[i]);
	free(ld->dirs);
	free(ld);
	lt_dlexit();
}

/* ------------------------------------------------------------ checks */

/* The plugin's name for messages. Under another major the descriptor's
 * layout may differ, so its fields other than the header are not read:
 * the name comes from the file ("sink_stdout.la" -> "stdout"). */
static const char *
name_for_message(const vigil_plugin *d, const char *file, char *buf, size_t len)
{
	const char *base, *us;

	if (d->abi_major == VIGIL_ABI_MAJOR &&
	    d->struct_size >= offsetof(vigil_plugin, name) + sizeof(d->name) &&
	    d->name != NULL)
		return d->name;
	base = file ? strrchr(file, '/') : NULL;
	base = base ? base + 1 : (file ? file : "?");
	us   = strchr(base, '_');
	for (int k = VIGIL_PLUGIN_INPUT; k <= VIGIL_PLUGIN_SINK && us; k++)
		if (strncmp(base, kind_names[k], (size_t)(us - base)) == 0 &&
		    strlen(kind_names[k]) == (size_t)(us - base))
			base = us + 1;
	strfmt(buf, len, "%.*s", (int)strcspn(base, "."), base);
	return buf;
}

/* Walks a settings table the way settings.c will, so that a malformed
 * one is refused at load time with its plugin named. */
static const char *
table_problem(const vigil_setting *table, int depth, const char **name)
{
	if (depth > MAX_TABLE_DEPTH)
		return "settings nest too deep";
	for (const vigil_setting *s = table; s != NULL && s->name; s++) {
		const char *why = NULL;

		*name = s->name;
		if (s->type < VIGIL_SET_BOOL || s->type > VIGIL_SET_LIST)
			return "has an invalid type";
		if (s->type == VIGIL_SET_GROUP || s->type == VIGIL_SET_LIST) {
			if (s->children == NULL)
				return "is a group or list without children";
			why = table_problem(s->children, depth + 1, name);
			if (why != NULL)
				return why;
		}
	}
	return NULL;
}

static int
check_callbacks(
    const vigil_plugin *d, const char *where, char *err, size_t errlen)
{
	const char *missing = NULL;

	if (d->init == NULL)
		missing = "init";
	else if (d->destroy == NULL)
		missing = "destroy";
	else if (d->kind == VIGIL_PLUGIN_INPUT && d->start == NULL)
		missing = "start";
	else if (d->kind == VIGIL_PLUGIN_RULE && d->score == NULL)
		missing = "score";
	else if (d->kind == VIGIL_PLUGIN_SINK && d->emit == NULL)
		missing = "emit";
	if (missing == NULL)
		return 0;
	strfmt(err, errlen, "%s: %s plugin '%s' has no %s callback", where,
	    kind_names[d->kind], d->name, missing);
	return -1;
}

int
loader_check(const vigil_plugin *d, const char *file, char *err, size_t errlen)
{
	const char *where = file ? file : "<plugin>";
	const char *name, *bad = NULL, *why;
	char        buf[128];

	if (d == NULL) {
		strfmt(err, errlen,
		    "%s: the plugin's %s() returned no descriptor", where,
		    VIGIL_PLUGIN_ENTRY);
		return -1;
	}
	name = name_for_message(d, file, buf, sizeof(buf));
	if (d->abi_major != VIGIL_ABI_MAJOR || d->abi_minor > VIGIL_ABI_MINOR) {
		bool major = d->abi_major != VIGIL_ABI_MAJOR;

		strfmt(err, errlen,
		    "%s: plugin '%s' is built for ABI %u.%u; "
		    "this vigil has ABI %u.%u (%s)",
		    where, name, (unsigned)d->abi_major, (unsigned)d->abi_minor,
		    VIGIL_ABI_MAJOR, VIGIL_ABI_MINOR,
		    major ? "major differs"
		          : "minor is newer: upgrade vigil or rebuild the "
		            "plugin");
		return -1;
	}
	if (d->struct_size < PLUGIN_SIZE_1_0) {
		strfmt(err, errlen,
		    "%s: plugin '%s' has a descriptor of %u bytes; "
		    "ABI %u.%u needs at least %zu",
		    where, name, (unsigned)d->struct_size, VIGIL_ABI_MAJOR,
		    VIGIL_ABI_MINOR, PLUGIN_SIZE_1_0);
		return -1;
	}
	if (d->name == NULL)
		bad = "a name";
	else if (d->version == NULL)
		bad = "a version";
	else if (d->description == NULL)
		bad = "a description";
	if (bad != NULL) {
		strfmt(err, errlen, "%s: plugin '%s' does not give %s", where,
		    name, bad);
		return -1;
	}
	if (!kind_valid((int)d->kind)) {
		strfmt(err, errlen, "%s: plugin '%s' has an invalid kind %d",
		    where, name, (int)d->kind);
		return -1;
	}
	if (check_callbacks(d, where, err, errlen) < 0)
		return -1;
	if ((why = table_problem(d->settings, 0, &bad)) != NULL) {
		strfmt(err, errlen, "%s: plugin '%s': setting '%s' %s", where,
		    name, bad, why);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ loading */

/* The dlname of a libtool .la file (malloc'd), or NULL. */
static char *
la_dlname(const char *la)
{
	FILE *f = fopen(la, "r");
	char  line[512], name[256];
	char *found = NULL;

	if (f == NULL)
		return NULL;
	while (found == NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "dlname='%255[^']'", name) == 1)
			found = strdup(name);
	fclose(f);
	return found;
}

/* The shared object behind file: itself, or what its .la names, which
 * sits in .libs/ in a build tree and beside it once installed. */
static char *
shared_object_of(const char *file)
{
	const char *dot = strrchr(file, '.');
	char       *name, *dir, *so = NULL;

	if (dot == NULL || strcmp(dot, ".la") != 0)
		return strdup(file);
	if ((name = la_dlname(file)) == NULL)
		return NULL;
	if ((dir = path_dirname(file)) != NULL &&
	    asprintf(&so, "%s/.libs/%s", dir, name) >= 0 &&
	    access(so, F_OK) != 0) {
		free(so);
		if (asprintf(&so, "%s/%s", dir, name) < 0)
			so = NULL;
	}
	free(dir);
	free(name);
	return so;
}

/* libltdl reports most failures as "file not found", even for a file
 * that is there but lacks a library it needs; dlopen's own message says
 * what is wrong, so ask it. */
static void
load_failure(const char *file, char *err, size_t errlen)
{
	const char *why = lt_dlerror();
	char       *so  = shared_object_of(file);
	void       *h   = NULL;

	if (so != NULL && (h = dlopen(so, RTLD_NOW | RTLD_LOCAL)) == NULL)
		why = dlerror();
	strfmt(err, errlen, "%s: cannot load: %s", file,
	    why ? why : "unknown error");
	if (h != NULL)
		dlclose(h);
	free(so);
}

static const char *const plugin_exts[] = {"", ".la", ".so"};

/* Code that runs in the daemon: as trusted as the daemon. libltdl may add
 * .la or .so to the name: each that exists is checked, and the shared
 * object a .la names. */
static int
check_trusted(const char *file, char *err, size_t errlen)
{
	for (size_t i = 0; i < ARRAY_SIZE(plugin_exts); i++) {
		char  name[PATH_MAX];
		char *so;
		int   bad;

		if ((size_t)snprintf(name, sizeof(name), "%s%s", file,
		        plugin_exts[i]) >= sizeof(name))
			continue;
		if (privs_file_trusted(name, "plugin", err, errlen) != 0)
			return -1;
		if (access(name, F_OK) != 0 ||
		    (so = shared_object_of(name)) == NULL)
			continue;
		bad = strcmp(so, name) != 0 &&
		    privs_file_trusted(so, "plugin", err, errlen) != 0;
		free(so);
		if (bad)
			return -1;
	}
	return 0;
}

static bool
has_plugin_ext(const char *file)
{
	const char *dot = strrchr(file, '.');

	return dot && (strcmp(dot, ".la") == 0 || strcmp(dot, ".so") == 0);
}

/* The shared object libltdl will load for file (malloc'd), or NULL: with
 * no .la or .so, it tries file.la, then file.so. */
static char *
shared_object_for_load(const char *file)
{
	char *name, *so;

	if (has_plugin_ext(file))
		return shared_object_of(file);
	for (size_t i = 1; i < ARRAY_SIZE(plugin_exts); i++) {
		if (asprintf(&name, "%s%s", file, plugin_exts[i]) < 0)
			return NULL;
		so = access(name, F_OK) == 0 ? shared_object_of(name) : NULL;
		free(name);
		if (so != NULL)
			return so;
	}
	return NULL;
}

static int
file_id_of(const char *path, file_id *id)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return -1;
	id->dev   = st.st_dev;
	id->ino   = st.st_ino;
	id->size  = st.st_size;
	id->mtime = st.st_mtim;
	return 0;
}

static bool
file_id_equal(const file_id *a, const file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* An object loaded from this very file, under a name still usable. */
static loaded_so *
loaded_same(const char *so, const file_id *id)
{
	for (loaded_so *o = loaded; o != NULL; o = o->next)
		if (strcmp(o->so, so) == 0 && file_id_equal(&o->id, id))
			return o;
	return NULL;
}

/* Does so's own name stand for an object loaded from another file (the
 * same file would have been found by loaded_same)? Held by one of our
 * loaders, or still mapped by the dynamic linker under that name (an
 * object it could not unload). Found by inode instead, it is this very
 * file loaded under another name, which the own name shares. */
static bool
own_name_taken(const char *so)
{
	struct link_map *lm;
	void            *h;
	bool             taken;

	for (loaded_so *o = loaded; o != NULL; o = o->next)
		if (strcmp(o->so, so) == 0 && !o->by_link)
			return true;
	if ((h = dlopen(so, RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD)) == NULL) {
		dlerror();
		return false;
	}
	taken =
	    dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || strcmp(lm->l_name, so) == 0;
	dlclose(h);
	return taken;
}

/* A symbolic link to so under a name not used before (malloc'd), which
 * leads to the file that was checked and recorded as id; NULL with the
 * reason otherwise. */
static char *
make_link(const char *so, const file_id *id, char *err, size_t errlen)
{
	const char *base = strrchr(so, '/');
	char       *target, *link = NULL;
	file_id     now;

	if (link_dir[0] == '\0') {
		strfmt(err, errlen,
		    "%s: changed since it was loaded, and no runtime "
		    "directory is set to load the new file beside the old",
		    so);
		return NULL;
	}
	if ((target = realpath(so, NULL)) == NULL) {
		strfmt(err, errlen, "%s: %s", so, strerror(errno));
		return NULL;
	}
	base = base ? base + 1 : so;
	if (asprintf(&link, "%s/plugin.%ld.%lu.%s%s", link_dir, (long)getpid(),
	        ++links_made, base, has_plugin_ext(base) ? "" : ".so") < 0) {
		link = NULL;
		strfmt(err, errlen, "%s: out of memory", so);
		goto out;
	}
	/* One left by a daemon of this pid that died is stale. */
	if (symlink(target, link) != 0 &&
	    (errno != EEXIST || unlink(link) != 0 ||
	        symlink(target, link) != 0)) {
		strfmt(err, errlen,
		    "%s: cannot link it as %s to load the new "
		    "version: %s",
		    so, link, strerror(errno));
		goto fail;
	}
	if (file_id_of(link, &now) != 0 || !file_id_equal(&now, id)) {
		strfmt(err, errlen,
		    "%s: changed while it was being loaded; reload again", so);
		unlink(link);
		goto fail;
	}
	goto out;
fail:
	free(link);
	link = NULL;
out:
	free(target);
	return link;
}

/* Decides what name libltdl opens file by, and the record of its object
 * (*obj, NULL when the file cannot be read: libltdl then says why). An
 * unchanged file goes by the name its object was loaded under; a file
 * whose own name stands for an older one, through a new link (*link,
 * which the caller removes after the load). *fresh when *obj is new. */
static int
name_for_load(const char *file, loaded_so **obj, bool *fresh, char **link,
    char *err, size_t errlen)
{
	char      *so = shared_object_for_load(file);
	file_id    id;
	loaded_so *o;

	*obj   = NULL;
	*fresh = false;
	*link  = NULL;
	if (so == NULL || file_id_of(so, &id) != 0) {
		free(so);
		return 0;
	}
	if ((*obj = loaded_same(so, &id)) != NULL) {
		free(so);
		return 0;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		free(so);
		strfmt(err, errlen, "%s: out of memory", file);
		return -1;
	}
	o->so      = so;
	o->id      = id;
	o->by_link = own_name_taken(so);
	if (o->by_link && (*link = make_link(so, &id, err, errlen)) == NULL) {
		loaded_so_free(o);
		return -1;
	}
	if (o->by_link)
		log_notice("loader: %s changed since it was loaded: loading "
		           "the new file beside the old",
		    so);
	if ((o->name = strdup(o->by_link ? *link : file)) == NULL) {
		strfmt(err, errlen, "%s: out of memory", file);
		if (*link != NULL)
			unlink(*link);
		free(*link);
		*link = NULL;
		loaded_so_free(o);
		return -1;
	}
	o->next = loaded;
	loaded  = o;
	*obj    = o;
	*fresh  = true;
	return 0;
}

/* A file rewritten in place keeps its inode, and the dynamic linker
 * hands back the object of that inode even through a new link: say so,
 * as the old code goes on running. */
static void
warn_if_same_object(const loaded_so *o, const void *entry)
{
	for (const loaded_so *x = loaded; x != NULL; x = x->next) {
		if (x != o && x->entry == entry && strcmp(x->so, o->so) == 0) {
			log_warn(
			    "loader: %s was rewritten in place, so its old "
			    "code is still the one loaded; install plugins "
			    "with install(1) or by rename",
			    o->so);
			return;
		}
	}
}

/* Undoes a successful open. */
static void
close_plugin(lt_dlhandle h, loaded_so *obj)
{
	lt_dlclose(h);
	loaded_release(obj);
}

static lt_dlhandle
dlopen_local(const char *file, const char *name, char *err, size_t errlen)
{
	lt_dladvise advise;
	lt_dlhandle h = NULL;

	if (lt_dladvise_init(&advise) != 0 || lt_dladvise_ext(&advise) != 0 ||
	    lt_dladvise_local(&advise) != 0) {
		strfmt(err, errlen, "%s: cannot set up libltdl: %s", file,
		    lt_dlerror());
		lt_dladvise_destroy(&advise);
		return NULL;
	}
	h = lt_dlopenadvise(name, advise);
	lt_dladvise_destroy(&advise);
	if (h == NULL)
		load_failure(file, err, errlen);
	return h;
}

/* Opens file and checks the descriptor; on success fills *handle, *obj
 * (to give to close_plugin) and *desc. */
static int
open_plugin(const char *file, lt_dlhandle *handle, loaded_so **obj,
    const vigil_plugin **desc, char *err, size_t errlen)
{
	lt_dlhandle           h;
	loaded_so            *o;
	vigil_plugin_entry_fn entry;
	void                 *sym;
	char                 *link;
	bool                  fresh;

	if (check_trusted(file, err, errlen) != 0 ||
	    name_for_load(file, &o, &fresh, &link, err, errlen) != 0)
		return -1;
	h = dlopen_local(file, o ? o->name : file, err, errlen);
	if (link != NULL) {
		/* Loaded, or not: the name is done with either way. */
		unlink(link);
		free(link);
	}
	if (h == NULL) {
		if (fresh)
			loaded_unlist(o);
		return -1;
	}
	if (o != NULL)
		o->users++;
	/* POSIX guarantees that a symbol's address converts to a function
	 * pointer. */
	sym = lt_dlsym(h, VIGIL_PLUGIN_ENTRY);
	if (sym == NULL) {
		strfmt(err, errlen, "%s: not a vigil plugin: no %s symbol",
		    file, VIGIL_PLUGIN_ENTRY);
		goto fail;
	}
	entry = (vigil_plugin_entry_fn)sym;
	if (o != NULL && o->entry == NULL) {
		o->entry = sym;
		if (o->by_link)
			warn_if_same_object(o, sym);
	}
	*desc = entry();
	if (loader_check(*desc, file, err, errlen) < 0)
		goto fail;
	*handle = h;
	*obj    = o;
	return 0;

fail:
	close_plugin(h, o);
	return -1;
}

static plugin_entry *
remember(loader *ld, vigil_plugin_kind kind, const char *name, const char *file,
    lt_dlhandle h, loaded_so *obj, const vigil_plugin *desc)
{
	plugin_entry *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->kind = kind;
	p->name = name ? strdup(name) : NULL;
	p->file = strdup(file);
	if ((name && p->name == NULL) || p->file == NULL) {
		free(p->name);
		free(p->file);
		free(p);
		return NULL;
	}
	p->handle   = h;
	p->obj      = obj;
	p->desc     = desc;
	p->next     = ld->plugins;
	ld->plugins = p;
	return p;
}

int
loader_open_file(loader *ld, const char *file, const vigil_plugin **desc,
    char *err, size_t errlen)
{
	lt_dlhandle h;
	loaded_so  *obj;

	for (plugin_entry *p = ld->plugins; p != NULL; p = p->next) {
		if (p->name == NULL && strcmp(p->file, file) == 0) {
			*desc = p->desc;
			return 0;
		}
	}
	if (open_plugin(file, &h, &obj, desc, err, errlen) < 0)
		return -1;
	if (remember(ld, (*desc)->kind, NULL, file, h, obj, *desc) == NULL) {
		close_plugin(h, obj);
		strfmt(err, errlen, "%s: out of memory", file);
		return -1;
	}
	return 0;
}

/* Plugin names become parts of file names: keep them to a safe set. */
static bool
name_valid(const char *name)
{
	if (name[0] == '\0' || strlen(name) > 64)
		return false;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		        (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
			return false;
	return true;
}

static bool
file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The first existing candidate for kind/name in dir (malloc'd), or NULL. */
static char *
find_in_dir(const char *dir, const char *kind, const char *name)
{
	static const char *const layouts[] = {"%s/%s_%s%s", "%s/%s/%s/%s_%s%s"};
	static const char *const exts[]    = {".la", ".so"};
	char                    *path;
	int                      r;

	for (size_t l = 0; l < ARRAY_SIZE(layouts); l++) {
		for (size_t e = 0; e < ARRAY_SIZE(exts); e++) {
			if (l == 0)
				r = asprintf(&path, layouts[0], dir, kind, name,
				    exts[e]);
			else
				r = asprintf(&path, layouts[1], dir, kind, name,
				    kind, name, exts[e]);
			if (r < 0)
				return NULL;
			if (file_exists(path))
				return path;
			free(path);
		}
	}
	return NULL;
}

static void
not_found(const loader *ld, const char *kind, const char *name, char *err,
    size_t errlen)
{
	size_t used;

	if (ld->n_dirs == 0) {
		strfmt(err, errlen,
		    "%s plugin '%s' not found: the plugin path "
		    "(daemon.plugin_path) is empty",
		    kind, name);
		return;
	}
	strfmt(err, errlen,
	    "%s plugin '%s' not found: looked for %s_%s and "
	    "%s/%s/%s_%s (.la or .so) in",
	    kind, name, kind, name, kind, name, kind, name);
	for (size_t i = 0; i < ld->n_dirs; i++) {
		used = strlen(err);
		if (!strfmt(err + used, errlen - used, "%s %s", i ? "," : "",
		        ld->dirs[i]))
			break;
	}
}

int
loader_get(loader *ld, vigil_plugin_kind kind, const char *name,
    const vigil_plugin **desc, const char **file, char *err, size_t errlen)
{
	const char   *kname = plugin_kind_name(kind);
	char         *path  = NULL;
	lt_dlhandle   h;
	loaded_so    *obj;
	plugin_entry *p;

	for (p = ld->plugins; p != NULL; p = p->next) {
		if (p->name && p->kind == kind && strcmp(p->name, name) == 0)
			goto found;
	}
	if (!kind_valid((int)kind) || !name_valid(name)) {
		strfmt(err, errlen,
		    "%s plugin '%s': invalid plugin name (letters, "
		    "digits, '_' and '-' only)",
		    kname, name);
		return -1;
	}
	for (size_t i = 0; i < ld->n_dirs && path == NULL; i++)
		path = find_in_dir(ld->dirs[i], kname, name);
	if (path == NULL) {
		not_found(ld, kname, name, err, errlen);
		return -1;
	}
	if (open_plugin(path, &h, &obj, desc, err, errlen) < 0)
		goto fail;
	if ((*desc)->kind != kind || strcmp((*desc)->name, name) != 0) {
		strfmt(err, errlen,
		    "%s: expected %s plugin '%s', found %s plugin '%s'", path,
		    kname, name, plugin_kind_name((*desc)->kind),
		    (*desc)->name);
		close_plugin(h, obj);
		goto fail;
	}
	p = remember(ld, kind, name, path, h, obj, *desc);
	if (p == NULL) {
		strfmt(err, errlen, "%s: out of memory", path);
		close_plugin(h, obj);
		goto fail;
	}
	free(path);
found:
	*desc = p->desc;
	if (file != NULL)
		*file = p->file;
	return 0;

fail:
	free(path);
	return -1;
}

/* ------------------------------------------------------------ listing */

typedef struct found_name {
	vigil_plugin_kind kind;
	char             *name;
} found_name;

typedef struct found_list {
	found_name *v;
	size_t      n, cap;
} found_list;

/* Adds kind/name once; returns -1 only when out of memory. */
static int
found_add(found_list *fl, vigil_plugin_kind kind, const char *name, size_t len)
{
	found_name *v;

	for (size_t i = 0; i < fl->n; i++)
		if (fl->v[i].kind == kind && strlen(fl->v[i].name) == len &&
		    strncmp(fl->v[i].name, name, len) == 0)
			return 0;
	if (fl->n == fl->cap) {
		size_t cap = fl->cap ? fl->cap * 2 : 16;

		v = reallocarray(fl->v, cap, sizeof(*v));
		if (v == NULL)
			return -1;
		fl->v   = v;
		fl->cap = cap;
	}
	if ((fl->v[fl->n].name = strndup(name, len)) == NULL)
		return -1;
	fl->v[fl->n++].kind = kind;
	return 0;
}

/* "sink_stdout.la" -> kind sink, name "stdout"; 0 when it is one. */
static int
parse_plugin_file(
    const char *file, vigil_plugin_kind *kind, const char **name, size_t *len)
{
	const char *dot = strrchr(file, '.');

	if (dot == NULL || (strcmp(dot, ".la") != 0 && strcmp(dot, ".so") != 0))
		return -1;
	for (int k = VIGIL_PLUGIN_INPUT; k <= VIGIL_PLUGIN_SINK; k++) {
		size_t kl = strlen(kind_names[k]);

		if (strncmp(file, kind_names[k], kl) == 0 && file[kl] == '_' &&
		    dot > file + kl + 1) {
			*kind = (vigil_plugin_kind)k;
			*name = file + kl + 1;
			*len  = (size_t)(dot - *name);
			return 0;
		}
	}
	return -1;
}

static int
scan_dir(const char *dir, found_list *fl)
{
	DIR           *d = opendir(dir);
	struct dirent *e;
	int            r = 0;

	if (d == NULL)
		return 0;
	while (r == 0 && (e = readdir(d)) != NULL) {
		vigil_plugin_kind kind;
		const char       *name;
		size_t            len;

		if (parse_plugin_file(e->d_name, &kind, &name, &len) == 0)
			r = found_add(fl, kind, name, len);
	}
	closedir(d);
	return r;
}

/* Both layouts of one directory: D/kind_name and D/kind/name/kind_name. */
static int
scan_layouts(const char *dir, found_list *fl)
{
	if (scan_dir(dir, fl) < 0)
		return -1;
	for (int k = VIGIL_PLUGIN_INPUT; k <= VIGIL_PLUGIN_SINK; k++) {
		char          *kdir, *sub;
		DIR           *d;
		struct dirent *e;
		int            r = 0;

		if (asprintf(&kdir, "%s/%s", dir, kind_names[k]) < 0)
			return -1;
		d = opendir(kdir);
		while (d != NULL && r == 0 && (e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			if (asprintf(&sub, "%s/%s", kdir, e->d_name) < 0) {
				r = -1;
				break;
			}
			r = scan_dir(sub, fl);
			free(sub);
		}
		if (d != NULL)
			closedir(d);
		free(kdir);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int
found_cmp(const void *a, const void *b)
{
	const found_name *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->name, y->name);
}

void
loader_each(loader *ld,
    void (*fn)(void *arg, const vigil_plugin *d, const char *file), void *arg)
{
	found_list fl = {NULL, 0, 0};
	char       err[1024];

	for (size_t i = 0; i < ld->n_dirs; i++) {
		if (scan_layouts(ld->dirs[i], &fl) < 0) {
			log_err(
			    "loader: out of memory listing %s", ld->dirs[i]);
			break;
		}
	}
	/* Sorted, so that the reference reads the same on every run. */
	if (fl.n > 0)
		qsort(fl.v, fl.n, sizeof(*fl.v), found_cmp);
	for (size_t i = 0; i < fl.n; i++) {
		const vigil_plugin *d;
		const char         *file;

		if (loader_get(ld, fl.v[i].kind, fl.v[i].name, &d, &file, err,
		        sizeof(err)) == 0)
			fn(arg, d, file);
		else
			log_warn("%s", err);
		free(fl.v[i].name);
	}
	free(fl.v);
}
