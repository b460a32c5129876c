/*
 * kv.h - the small persistent key-value store behind vigil_host.kv_put,
 * kv_get and kv_del: one namespace per plugin instance, one file per key,
 * under <state_dir>/kv/<namespace>/.
 *
 * Writes are atomic: a value is written to a temporary file in the same
 * directory, fsync'd, renamed over the key, and the directory is fsync'd,
 * so that after a crash a key holds either its old or its new value, never
 * a mix. The store is meant for small values written now and then (an
 * input's offset, a cursor), not for bulk data.
 *
 * Keys and namespace names are 1 to KV_NAME_MAX characters from
 * [A-Za-z0-9._-], not "." nor ".."; anything else is refused, so that no
 * name can reach outside its directory.
 *
 * Threads: a kv_store is not locked; use each one from one thread at a
 * time (the daemon uses them on its event loop). Distinct stores are
 * independent. Every call does blocking file I/O bounded by KV_VALUE_MAX.
 *
 * Errors: functions return -1 (or NULL) with errno set and log one line
 * naming the file and the reason, except where noted.
 */
#ifndef VIGIL_KV_H
#define VIGIL_KV_H

#include <stdbool.h>
#include <stddef.h>

#define KV_NAME_MAX  128
#define KV_VALUE_MAX (64 * 1024)

/* kv_open flags. */
#define KV_NOSYNC 0x1u /* skip fsync (tests, throwaway state) */

typedef struct kv_store kv_store;

/* True when name is a valid key or namespace name. Never logs. */
bool kv_name_valid(const char *name);

/* Opens the namespace ns under state_dir, creating <state_dir>/kv/<ns>/
 * (mode 0700) as needed, and removes temporary files that a crash left
 * behind. Returns NULL with a message naming the path and the reason in
 * err (not logged). The caller owns the store and closes it with
 * kv_close. */
kv_store *kv_open(const char *state_dir, const char *ns, unsigned flags,
    char *err, size_t errlen);

/* Closes the store. NULL is fine. */
void kv_close(kv_store *kv);

/* The namespace directory, owned by the store. */
const char *kv_dir(const kv_store *kv);

/* Sets key to the len bytes at val (len <= KV_VALUE_MAX; val may be NULL
 * when len is 0). Returns 0, or -1 with errno EINVAL (bad key),
 * EMSGSIZE (value too large) or the I/O error. On failure the key keeps
 * its previous value, except when only the final directory fsync failed:
 * then it holds the new value, which a crash may still undo. */
int kv_put(kv_store *kv, const char *key, const void *val, size_t len);

/* Returns a malloc'd copy of key's value, which the caller frees, with
 * its length in *len; the copy has one more byte, a NUL, after the value.
 * Returns NULL with errno ENOENT, without logging, when the key is not
 * set; NULL with errno EINVAL (bad key), EFBIG (the stored file is larger
 * than KV_VALUE_MAX) or the I/O error otherwise. *len is 0 on NULL. */
void *kv_get(kv_store *kv, const char *key, size_t *len);

/* Removes key. Returns 0, also when the key was not set, or -1 with
 * errno EINVAL (bad key) or the I/O error. */
int kv_del(kv_store *kv, const char *key);

#endif
