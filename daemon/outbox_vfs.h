/*
 * outbox_vfs.h - the SQLite VFS the outbox opens its database with: the
 * default one, with each transaction's write-ahead-log writes gathered
 * into one (outbox_vfs.c says when they reach the file).
 */
#ifndef VIGIL_OUTBOX_VFS_H
#define VIGIL_OUTBOX_VFS_H

#define OUTBOX_VFS "vigil-outbox"

/* Registers OUTBOX_VFS (not as the default) once per process; thread
 * safe. Returns an SQLite result code. */
int outbox_vfs_register(void);

#endif
