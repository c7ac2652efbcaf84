/* durable.h: files that are whole or absent, also after a crash (PostgreSQL's
 * durable_rename): a temp file created exclusively next to the target, written,
 * fsynced, renamed into place (optionally never over an existing file) and the
 * folder fsynced; and mkdir -p that fsyncs the parent of each folder it creates. */
#ifndef TS_DURABLE_H
#define TS_DURABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "err.h"

/* A temp file is named target + ".tmp-" + six characters of [A-Za-z0-9], or with
 * TS_DURABLE_FIXED_TEMP target + ".tmp". */
#define TS_DURABLE_TEMP_TAG ".tmp-"
#define TS_DURABLE_TEMP_RANDOM 6

typedef struct ts_durable ts_durable;

enum {
    /* commit never replaces the target: TS_ERR_EXISTS when the name is taken
     * (renameat2 RENAME_NOREPLACE, or link + unlink where the file system lacks it) */
    TS_DURABLE_NOREPLACE = 1 << 0,
    /* the temp file is exactly target + ".tmp" (for callers that name it elsewhere,
     * e.g. to remove it from a signal handler); open fails with TS_ERR_EXISTS while
     * that name exists */
    TS_DURABLE_FIXED_TEMP = 1 << 1,
    /* create the target's missing folders first (ts_durable_mkdirs) */
    TS_DURABLE_MKDIRS = 1 << 2,
};

/* Creates the temp file for target with O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC:
 * it never follows a link and never opens a file that was there before (a random
 * name that is taken is replaced by another). mode as for open(2), before the umask.
 * *out is the caller's: ts_durable_commit or ts_durable_abort frees it. */
int ts_durable_open(ts_durable **out, const char *target, unsigned flags, mode_t mode,
                    ts_err *err) TS_MUSTCHECK;
/* Appends n bytes (EINTR and short writes handled). After a failure the file can only
 * be aborted. */
int ts_durable_write(ts_durable *d, const void *p, size_t n, ts_err *err) TS_MUSTCHECK;
/* The temp file's descriptor (for flock, fstat; write through ts_durable_write so
 * the commit can check the size). */
int ts_durable_fd(const ts_durable *d);
/* The temp file's path, valid until commit or abort. */
const char *ts_durable_temp_path(const ts_durable *d);
/* Bytes written so far. */
uint64_t ts_durable_size(const ts_durable *d);
/* fsync, check that the file holds every byte written, rename it to the target
 * (TS_DURABLE_NOREPLACE: TS_ERR_EXISTS when the target exists, which stays as it
 * was), close, fsync the folder. st (may be NULL) gets the file's fstat taken after
 * the fsync. Frees d, also on failure, when the temp file is removed; after a
 * successful rename only the folder's fsync can fail (the file is then whole but
 * perhaps not yet durable). */
int ts_durable_commit(ts_durable *d, struct stat *st, ts_err *err) TS_MUSTCHECK;
/* Closes and removes the temp file and frees d. NULL is a no-op. */
void ts_durable_abort(ts_durable *d);

/* mkdir -p dir (mode 0755 before the umask), fsyncing the parent of each folder it
 * creates. TS_ERR_IO when a part exists and is not a folder. */
int ts_durable_mkdirs(const char *dir, ts_err *err) TS_MUSTCHECK;
/* fsyncs a folder, so the names created or removed in it survive a crash. */
int ts_durable_fsync_dir(const char *dir, ts_err *err) TS_MUSTCHECK;
/* Whether name (a file name, no folder) is a random temp name: base + ".tmp-" + six
 * characters of [A-Za-z0-9]; any base when base is NULL. For sweeping and listing. */
bool ts_durable_is_temp(const char *name, const char *base);

#endif
