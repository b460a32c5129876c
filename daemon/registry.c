/*
 * registry.c - registries of authors. Entries are kept twice, sorted: as
 * written, for author ids, and case folded without a leading '@', for
 * handles. Lookups fold the post's handle the same way (ICU full case
 * folding), so "@QazPoll" finds "qazpoll".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/ucasemap.h>

#include "registry.h"
#include "settings.h"
#include "text.h"

#define REG_LINE_MAX 1024

struct vigil_registry {
	char    **ids;     /* as written */
	char    **handles; /* folded, no '@' */
	size_t    n, cap;
	UCaseMap *fold;
};

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keeps the arrays sorted as they grow, so that lookups from several
 * threads never write. a has room for n + 1. */
static void
sorted_insert(char **a, size_t n, char *s)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(a[mid], s) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(a + lo + 1, a + lo, (n - lo) * sizeof(*a));
	a[lo] = s;
}

vigil_registry *
registry_new(void)
{
	vigil_registry *r    = calloc(1, sizeof(*r));
	UErrorCode      uerr = U_ZERO_ERROR;

	if (r == NULL)
		return NULL;
	r->fold = ucasemap_open("", U_FOLD_CASE_DEFAULT, &uerr);
	if (U_FAILURE(uerr)) {
		free(r);
		return NULL;
	}
	return r;
}

void
registry_free(vigil_registry *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->ids[i]);
		free(r->handles[i]);
	}
	free(r->ids);
	free(r->handles);
	ucasemap_close(r->fold);
	free(r);
}

/* The handle form of s (len bytes): case folded, without a leading '@'.
 * Writes at most cap bytes with a NUL; returns the length, or -1. */
static int
handle_fold(
    const UCaseMap *fold, const char *s, size_t len, char *out, size_t cap)
{
	UErrorCode uerr = U_ZERO_ERROR;
	int32_t    n;

	if (len > 0 && s[0] == '@') {
		s++;
		len--;
	}
	if (len > INT32_MAX || cap > INT32_MAX)
		return -1;
	n = ucasemap_utf8FoldCase(
	    fold, out, (int32_t)cap, s, (int32_t)len, &uerr);
	if (U_FAILURE(uerr) || uerr == U_STRING_NOT_TERMINATED_WARNING ||
	    (size_t)n >= cap)
		return -1;
	out[n] = '\0';
	return n;
}

int
registry_add(vigil_registry *r, const char *entry)
{
	char   folded[REG_LINE_MAX * 3 + 1], *id = NULL, *h = NULL;
	size_t len;

	if (r == NULL || entry == NULL)
		return VIGIL_ERR;
	while (*entry == ' ' || *entry == '\t')
		entry++;
	len = strlen(entry);
	while (len > 0 &&
	    (entry[len - 1] == ' ' || entry[len - 1] == '\t' ||
	        entry[len - 1] == '\r' || entry[len - 1] == '\n'))
		len--;
	if (len == 0 || len > REG_LINE_MAX || !text_utf8_valid(entry, len) ||
	    handle_fold(r->fold, entry, len, folded, sizeof(folded)) < 0)
		return VIGIL_ERR;
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		char **a    = reallocarray(r->ids, ncap, sizeof(*a));

		if (a == NULL)
			return VIGIL_ERR;
		r->ids = a;
		if ((a = reallocarray(r->handles, ncap, sizeof(*a))) == NULL)
			return VIGIL_ERR;
		r->handles = a;
		r->cap     = ncap;
	}
	if ((id = strndup(entry, len)) == NULL ||
	    (h = strdup(folded)) == NULL) {
		free(id);
		return VIGIL_ERR;
	}
	sorted_insert(r->ids, r->n, id);
	sorted_insert(r->handles, r->n, h);
	r->n++;
	return VIGIL_OK;
}

int
registry_load(vigil_registry *r, const char *path, char *err, size_t errlen)
{
	FILE    *f;
	char    *line = NULL;
	size_t   cap  = 0;
	ssize_t  n;
	unsigned lineno = 0;
	int      rc     = VIGIL_ERR;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: cannot open the registry: %s", path,
		    strerror(errno));
		return VIGIL_ERR;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *hash, *p = line;

		lineno++;
		if ((size_t)n != strlen(line)) {
			snprintf(err, errlen, "%s:%u: NUL byte in the line",
			    path, lineno);
			goto out;
		}
		if ((hash = strchr(p, '#')) != NULL)
			*hash = '\0';
		p += strspn(p, " \t\r\n");
		if (*p == '\0')
			continue;
		if (registry_add(r, p) != VIGIL_OK) {
			snprintf(err, errlen,
			    "%s:%u: not a registry entry (not UTF-8, or over "
			    "%d bytes)",
			    path, lineno, REG_LINE_MAX);
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(
		    err, errlen, "%s: read error: %s", path, strerror(errno));
		goto out;
	}
	rc = VIGIL_OK;
out:
	free(line);
	fclose(f);
	return rc;
}

static int
sorted_has(char *const *a, size_t n, const char *key)
{
	return bsearch(&key, a, n, sizeof(*a), str_cmp) != NULL;
}

int
registry_has(const vigil_registry *r, const vigil_post *post)
{
	char folded[REG_LINE_MAX * 3 + 1];

	if (r == NULL || post == NULL || r->n == 0)
		return 0;
	if (post->author_id.len > 0 &&
	    sorted_has(r->ids, r->n, post->author_id.ptr))
		return 1;
	if (post->author_handle.len > 0 &&
	    handle_fold(r->fold, post->author_handle.ptr,
	        post->author_handle.len, folded, sizeof(folded)) > 0 &&
	    sorted_has(r->handles, r->n, folded))
		return 1;
	return 0;
}

vigil_registry *
registry_from_cfg(const vigil_cfg *cfg, const char *list, const char *file,
    char *err, size_t errlen)
{
	vigil_registry *r    = registry_new();
	const char     *path = file ? cfg_string(cfg, file) : NULL;
	size_t          n    = list ? cfg_count(cfg, list) : 0;

	if (r == NULL) {
		snprintf(err, errlen, "registry: out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (registry_add(r, cfg_string_at(cfg, list, i)) != VIGIL_OK) {
			snprintf(err, errlen,
			    "%s: entry %zu of %s is empty, not UTF-8 or too "
			    "long",
			    cfg_where(cfg, list), i + 1, list);
			goto fail;
		}
	if (path != NULL && registry_load(r, path, err, errlen) != VIGIL_OK)
		goto fail;
	return r;
fail:
	registry_free(r);
	return NULL;
}

size_t
registry_size(const vigil_registry *r)
{
	return r ? r->n : 0;
}
