/* durable.c: durable files (exclusive temp file, write, fsync, rename, folder fsync)
 * and durable mkdir -p. */
#include "durable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"

#define TEMP_TRIES 100

struct ts_durable {
    char *target;
    char *dir; /* the target's folder */
    char *temp;
    int fd;
    unsigned flags;
    uint64_t size;
    bool failed;
};

/* The folder part of path: "." when it has none, "/" for "/x". NULL on no memory. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ts_strdup(".");
    if (slash == path)
        return ts_strdup("/");
    return ts_strndup(path, (size_t)(slash - path));
}

int ts_durable_fsync_dir(const char *dir, ts_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = TS_OK;
    if (fd < 0)
        return ts_err_set(err, TS_ERR_IO, "could not open folder \"%s\": %s", dir, strerror(errno));
    if (fsync(fd) != 0)
        rc = ts_err_set(err, TS_ERR_IO, "could not fsync folder \"%s\": %s", dir, strerror(errno));
    if (close(fd) != 0 && rc == TS_OK)
        rc = ts_err_set(err, TS_ERR_IO, "could not close folder \"%s\": %s", dir, strerror(errno));
    return rc;
}

int ts_durable_mkdirs(const char *dir, ts_err *err)
{
    struct stat sb;
    char *p = NULL;
    int rc = TS_OK;

    if (stat(dir, &sb) == 0) { /* the usual case: one system call */
        if (!S_ISDIR(sb.st_mode))
            return ts_err_set(err, TS_ERR_IO, "\"%s\" exists and is not a folder", dir);
        return TS_OK;
    }
    if (errno != ENOENT)
        return ts_err_set(err, TS_ERR_IO, "could not stat \"%s\": %s", dir, strerror(errno));
    if (!(p = ts_strdup(dir)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    /* each prefix ending before a '/', then the whole path; from the root down */
    for (char *s = p + 1;; s++) {
        bool last = *s == '\0';
        if (*s != '/' && !last)
            continue;
        if (s[-1] == '/') { /* "a//b" or a trailing '/' */
            if (last)
                break;
            continue;
        }
        *s = '\0';
        if (mkdir(p, 0755) == 0) {
            char *parent = dir_of(p);
            if (!parent) {
                rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
                goto out;
            }
            rc = ts_durable_fsync_dir(parent, err);
            ts_free(parent);
            if (rc)
                goto out;
        } else if (errno != EEXIST) {
            rc = ts_err_set(err, TS_ERR_IO, "could not create folder \"%s\": %s", p,
                            strerror(errno));
            goto out;
        } else if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            rc = ts_err_set(err, TS_ERR_IO, "\"%s\" exists and is not a folder", p);
            goto out;
        }
        if (last)
            break;
        *s = '/';
    }
out:
    ts_free(p);
    return rc;
}

/* Six characters of [A-Za-z0-9] from the kernel's random source (or, should that be
 * unavailable, from the clock, the pid and a counter: O_EXCL keeps it safe anyway). */
static void random_tag(char out[TS_DURABLE_TEMP_RANDOM + 1])
{
    static const char abc[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static atomic_uint counter;
    unsigned char r[TS_DURABLE_TEMP_RANDOM];
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        struct timespec ts;
        uint64_t x;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15u ^ (uint64_t)getpid() << 32 ^
            atomic_fetch_add(&counter, 1);
        for (size_t i = 0; i < sizeof r; i++, x >>= 8)
            r[i] = (unsigned char)x;
    }
    for (size_t i = 0; i < sizeof r; i++)
        out[i] = abc[r[i] % (sizeof abc - 1)];
    out[TS_DURABLE_TEMP_RANDOM] = '\0';
}

int ts_durable_open(ts_durable **out, const char *target, unsigned flags, mode_t mode, ts_err *err)
{
    ts_durable *d = NULL;
    size_t tl = strlen(target);
    int rc = TS_OK;

    *out = NULL;
    if (!(d = ts_calloc(1, sizeof *d)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    d->fd = -1;
    d->flags = flags;
    if (!(d->target = ts_strdup(target)) || !(d->dir = dir_of(target)) ||
        !(d->temp = ts_malloc(tl + sizeof TS_DURABLE_TEMP_TAG + TS_DURABLE_TEMP_RANDOM))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    d->temp[0] = '\0'; /* nothing to remove yet */
    if ((flags & TS_DURABLE_MKDIRS) && (rc = ts_durable_mkdirs(d->dir, err)) != TS_OK)
        goto out;
    for (int i = 0; i < TEMP_TRIES; i++) {
        if (flags & TS_DURABLE_FIXED_TEMP) {
            snprintf(d->temp, tl + 5, "%s.tmp", target);
        } else {
            char tag[TS_DURABLE_TEMP_RANDOM + 1];
            random_tag(tag);
            snprintf(d->temp, tl + sizeof TS_DURABLE_TEMP_TAG + TS_DURABLE_TEMP_RANDOM, "%s%s%s",
                     target, TS_DURABLE_TEMP_TAG, tag);
        }
        d->fd = open(d->temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (d->fd >= 0 || errno != EEXIST || (flags & TS_DURABLE_FIXED_TEMP))
            break;
    }
    if (d->fd < 0) {
        int e = errno;
        if (e == EEXIST && (flags & TS_DURABLE_FIXED_TEMP))
            rc = ts_err_set(err, TS_ERR_EXISTS,
                            "could not create \"%s\": it exists (another writer of \"%s\", or one "
                            "that stopped; remove it when none runs)",
                            d->temp, target);
        else
            rc = ts_err_set(err, TS_ERR_IO, "could not create \"%s\": %s", d->temp, strerror(e));
        d->temp[0] = '\0'; /* not ours: never removed */
        goto out;
    }
    *out = d;
    d = NULL;
out:
    ts_durable_abort(d);
    return rc;
}

int ts_durable_write(ts_durable *d, const void *p, size_t n, ts_err *err)
{
    const uint8_t *b = p;
    if (d->failed)
        return ts_err_set(err, TS_ERR_INTERNAL, "write to \"%s\" after a failed write", d->temp);
    while (n) {
        ssize_t k = write(d->fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            d->failed = true;
            return ts_err_set(err, TS_ERR_IO, "could not write \"%s\": %s", d->temp,
                              strerror(errno));
        }
        b += k;
        n -= (size_t)k;
        d->size += (uint64_t)k;
    }
    return TS_OK;
}

int ts_durable_fd(const ts_durable *d)
{
    return d->fd;
}

const char *ts_durable_temp_path(const ts_durable *d)
{
    return d->temp;
}

uint64_t ts_durable_size(const ts_durable *d)
{
    return d->size;
}

/* rename(2) that fails with TS_ERR_EXISTS instead of replacing `to`: renameat2's
 * RENAME_NOREPLACE, or link + unlink where the file system lacks it (both atomic). */
static int rename_noreplace(const char *from, const char *to, ts_err *err)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return TS_OK;
    if (errno == EINVAL || errno == ENOSYS) {
        if (link(from, to) == 0) {
            if (unlink(from) != 0)
                ts_warn("could not remove \"%s\" after linking it: %s", from, strerror(errno));
            return TS_OK;
        }
    }
    if (errno == EEXIST)
        return ts_err_set(err, TS_ERR_EXISTS, "\"%s\" already exists", to);
    return ts_err_set(err, TS_ERR_IO, "could not rename \"%s\" to \"%s\": %s", from, to,
                      strerror(errno));
}

int ts_durable_commit(ts_durable *d, struct stat *st, ts_err *err)
{
    struct stat sb;
    int rc = TS_OK, fd;

    if (d->failed) {
        rc = ts_err_set(err, TS_ERR_INTERNAL, "commit of \"%s\" after a failed write", d->temp);
        goto out;
    }
    if (fsync(d->fd) != 0) {
        rc = ts_err_set(err, TS_ERR_IO, "could not fsync \"%s\": %s", d->temp, strerror(errno));
        goto out;
    }
    if (fstat(d->fd, &sb) != 0 || (uint64_t)sb.st_size != d->size) {
        rc = ts_err_set(err, TS_ERR_IO, "\"%s\" does not hold the %llu bytes written", d->temp,
                        (unsigned long long)d->size);
        goto out;
    }
    /* renamed while still open, so a lock the caller holds on it lasts until then */
    if (d->flags & TS_DURABLE_NOREPLACE) {
        if ((rc = rename_noreplace(d->temp, d->target, err)) != TS_OK)
            goto out;
    } else if (rename(d->temp, d->target) != 0) {
        rc = ts_err_set(err, TS_ERR_IO, "could not rename \"%s\" to \"%s\": %s", d->temp, d->target,
                        strerror(errno));
        goto out;
    }
    d->temp[0] = '\0'; /* renamed: nothing to remove */
    if (st)
        *st = sb;
    fd = d->fd;
    d->fd = -1;
    if (close(fd) != 0) { /* after fsync, close has nothing left to write */
        rc = ts_err_set(err, TS_ERR_IO, "could not close \"%s\": %s", d->target, strerror(errno));
        goto out;
    }
    rc = ts_durable_fsync_dir(d->dir, err);
out:
    ts_durable_abort(d);
    return rc;
}

void ts_durable_abort(ts_durable *d)
{
    if (!d)
        return;
    if (d->fd >= 0)
        close(d->fd); /* the file is removed: nothing of it is kept */
    if (d->temp && d->temp[0])
        unlink(d->temp);
    ts_free(d->temp);
    ts_free(d->dir);
    ts_free(d->target);
    ts_free(d);
}

bool ts_durable_is_temp(const char *name, const char *base)
{
    size_t l = strlen(name), tag = sizeof TS_DURABLE_TEMP_TAG - 1,
           tail = tag + TS_DURABLE_TEMP_RANDOM;
    if (l <= tail || (base && (strlen(base) != l - tail || memcmp(name, base, l - tail) != 0)))
        return false;
    if (memcmp(name + l - tail, TS_DURABLE_TEMP_TAG, tag) != 0)
        return false;
    for (size_t i = l - TS_DURABLE_TEMP_RANDOM; i < l; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}
