/*
 * outbox_vfs.c - the outbox's SQLite VFS: the default one, except that
 * the writes of a transaction to the write-ahead log reach the file as
 * one write instead of two per page.
 *
 * SQLite writes each WAL frame as its 24-byte header and then its page,
 * and the frames of a commit follow one another at the end of the log. A
 * commit of 30 pages is 60 pwrite calls; on a virtual machine a system
 * call costs more than copying its 4 KiB. Here the writes that extend the
 * log are copied into a buffer while each one continues the last, and the
 * buffer is written:
 *   - as soon as it holds the commit frame (its header names the size of
 *     the database), so a commit is in the file before sqlite3_step
 *     returns, as with the default VFS, and before SQLite publishes it
 *     in the WAL index for other connections;
 *   - before a read, sync, truncate or size of the file, and before a
 *     write that does not continue the buffer or would overflow it.
 * A write inside what the log already holds goes straight to the file:
 * a transaction that spilled pages rewrites some in place and, after its
 * commit frame, the headers of its frames (the commit frame's last), and
 * nothing would flush that last one before the commit is published. The
 * log starts again at its 32-byte header at offset 0.
 * A failed buffered write fails the call that flushed it, which belongs
 * to the same transaction: SQLite rolls that transaction back. Methods
 * whose errors SQLite ignores (hints, barriers) never flush. Every other
 * file and call goes straight to the default VFS.
 * This leans on how SQLite writes a frame (header, then page, since WAL
 * mode came in 3.7.0); tests/unit/test_outbox_vfs.c fails if that
 * changes, since another connection would not see a commit.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "outbox_vfs.h"

#define WAL_HEADER       32
#define WAL_FRAME_HEADER 24
/* The unix VFS writes at most 128 KiB - 1 bytes a call (its
 * seekAndWriteFd masks the length to 17 bits): 31 frames of 4 KiB. */
#define GATHER_MAX (127 * 1024)

typedef struct wfile {
	sqlite3_file  base; /* pMethods: ours */
	sqlite3_file *real; /* the default VFS's file, after this struct */
	char         *buf;  /* GATHER_MAX bytes, on the first write */
	size_t        len;  /* bytes gathered, for offset off */
	sqlite3_int64 off;
	sqlite3_int64 end;    /* of what the log holds, buffer included */
	bool          wal;    /* a write-ahead log: gather its writes */
	bool          commit; /* the last write was a commit frame's header */
} wfile;

/* The real file follows the wfile, aligned as SQLite aligns files. */
#define WFILE_SIZE ((sizeof(wfile) + 7) & ~(size_t)7)

static sqlite3_vfs   *real_vfs;
static sqlite3_vfs    outbox_vfs;
static pthread_once_t register_once = PTHREAD_ONCE_INIT;
static int            register_rc;

#define REAL(f) (((wfile *)(f))->real)
#define RM(f)   (REAL(f)->pMethods)

static int
flush(wfile *w)
{
	int rc;

	if (w->len == 0)
		return SQLITE_OK;
	rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->len, w->off);
	w->len = 0;
	return rc;
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static int
w_close(sqlite3_file *f)
{
	wfile *w  = (wfile *)f;
	int    rc = flush(w), rc2;

	rc2 = RM(f)->xClose(w->real);
	sqlite3_free(w->buf);
	w->buf = NULL;
	return rc != SQLITE_OK ? rc : rc2;
}

static int
w_read(sqlite3_file *f, void *p, int amt, sqlite3_int64 off)
{
	int rc = flush((wfile *)f);

	return rc != SQLITE_OK ? rc : RM(f)->xRead(REAL(f), p, amt, off);
}

static int
w_write(sqlite3_file *f, const void *p, int amt, sqlite3_int64 off)
{
	wfile *w = (wfile *)f;
	int    rc;
	bool   ends_commit;

	if (!w->wal)
		return RM(f)->xWrite(w->real, p, amt, off);
	if (off == 0 && amt == WAL_HEADER)
		w->end = 0; /* the log starts again */
	if (off < w->end) {
		/* A rewrite: after what is gathered, straight to the file. */
		w->commit = false;
		if ((rc = flush(w)) != SQLITE_OK)
			return rc;
		return RM(f)->xWrite(w->real, p, amt, off);
	}
	if (off + amt > w->end)
		w->end = off + amt;
	if (w->len > 0 &&
	    (off != w->off + (sqlite3_int64)w->len ||
	        w->len + (size_t)amt > GATHER_MAX) &&
	    (rc = flush(w)) != SQLITE_OK)
		return rc;
	if (w->buf == NULL && amt <= GATHER_MAX)
		w->buf = sqlite3_malloc(GATHER_MAX);
	if (w->buf == NULL || amt > GATHER_MAX) {
		w->commit = false;
		return RM(f)->xWrite(w->real, p, amt, off);
	}
	if (w->len == 0)
		w->off = off;
	memcpy(w->buf + w->len, p, (size_t)amt);
	w->len += (size_t)amt;
	/* The page after a commit's header completes the commit. */
	ends_commit = w->commit;
	w->commit =
	    amt == WAL_FRAME_HEADER && be32((const unsigned char *)p + 4) != 0;
	return ends_commit ? flush(w) : SQLITE_OK;
}

static int
w_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	int rc = flush((wfile *)f);

	return rc != SQLITE_OK ? rc : RM(f)->xTruncate(REAL(f), size);
}

static int
w_sync(sqlite3_file *f, int flags)
{
	int rc = flush((wfile *)f);

	return rc != SQLITE_OK ? rc : RM(f)->xSync(REAL(f), flags);
}

static int
w_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	int rc = flush((wfile *)f);

	return rc != SQLITE_OK ? rc : RM(f)->xFileSize(REAL(f), size);
}

static int
w_lock(sqlite3_file *f, int lock)
{
	return RM(f)->xLock(REAL(f), lock);
}

static int
w_unlock(sqlite3_file *f, int lock)
{
	return RM(f)->xUnlock(REAL(f), lock);
}

static int
w_check_reserved(sqlite3_file *f, int *out)
{
	return RM(f)->xCheckReservedLock(REAL(f), out);
}

static int
w_file_control(sqlite3_file *f, int op, void *arg)
{
	return RM(f)->xFileControl(REAL(f), op, arg);
}

static int
w_sector_size(sqlite3_file *f)
{
	return RM(f)->xSectorSize(REAL(f));
}

static int
w_device_characteristics(sqlite3_file *f)
{
	return RM(f)->xDeviceCharacteristics(REAL(f));
}

static int
w_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **p)
{
	return RM(f)->xShmMap(REAL(f), pg, pgsz, extend, p);
}

static int
w_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	return RM(f)->xShmLock(REAL(f), offset, n, flags);
}

static void
w_shm_barrier(sqlite3_file *f)
{
	RM(f)->xShmBarrier(REAL(f));
}

static int
w_shm_unmap(sqlite3_file *f, int delete_flag)
{
	return RM(f)->xShmUnmap(REAL(f), delete_flag);
}

static int
w_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **p)
{
	return RM(f)->xFetch(REAL(f), off, amt, p);
}

static int
w_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return RM(f)->xUnfetch(REAL(f), off, p);
}

/* One table per version, so that SQLite never calls a method the real
 * file lacks. */
#define METHODS(v)                                                             \
	{                                                                      \
		v, w_close, w_read, w_write, w_truncate, w_sync, w_file_size,  \
		    w_lock, w_unlock, w_check_reserved, w_file_control,        \
		    w_sector_size, w_device_characteristics, w_shm_map,        \
		    w_shm_lock, w_shm_barrier, w_shm_unmap, w_fetch, w_unfetch \
	}
static const sqlite3_io_methods methods[] = {
    METHODS(1), METHODS(2), METHODS(3)};

static int
w_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
    int *out_flags)
{
	wfile *w = (wfile *)f;
	int    rc, v;

	(void)vfs;
	memset(w, 0, sizeof(*w));
	w->real = (sqlite3_file *)((char *)w + WFILE_SIZE);
	rc      = real_vfs->xOpen(real_vfs, name, w->real, flags, out_flags);
	if (w->real->pMethods == NULL)
		return rc; /* nothing to close: pMethods stays NULL */
	v                = w->real->pMethods->iVersion;
	w->base.pMethods = &methods[(v < 1 ? 1 : v > 3 ? 3 : v) - 1];
	w->wal           = (flags & SQLITE_OPEN_WAL) != 0;
	return rc;
}

static void
register_vfs(void)
{
	if ((real_vfs = sqlite3_vfs_find(NULL)) == NULL) {
		register_rc = SQLITE_ERROR;
		return;
	}
	/* The default VFS's other methods ignore the VFS they are given, or
	 * read only what this copy keeps (mxPathname, pAppData). */
	outbox_vfs          = *real_vfs;
	outbox_vfs.pNext    = NULL;
	outbox_vfs.zName    = OUTBOX_VFS;
	outbox_vfs.szOsFile = (int)WFILE_SIZE + real_vfs->szOsFile;
	outbox_vfs.xOpen    = w_open;
	register_rc         = sqlite3_vfs_register(&outbox_vfs, 0);
}

int
outbox_vfs_register(void)
{
	pthread_once(&register_once, register_vfs);
	return register_rc;
}
