/* local.c: the lake in a local folder. Objects are written through common/durable.h:
 * "name.tmp-XXXXXX" created exclusively, fsynced, renamed into place without ever
 * replacing an object (write-once), closed and the folder fsynced (PostgreSQL's
 * durable_rename), so a committed object is whole and survives a crash.
 *
 * A writer holds an exclusive flock on its temp file while it lives. A writer killed
 * mid-write leaves its temp file behind, unlocked (the kernel drops the lock with the
 * process): the next writer of the same object removes such leftovers, so a crash
 * leaves no second copy of the object's bytes for long. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/durable.h"
#include "common/log.h"

typedef struct local_store {
    char *root; /* absolute, no trailing slash */
    bool create;
} local_store;

typedef struct local_writer {
    char *path; /* final */
    ts_durable *file;
} local_writer;

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = ts_malloc(la + lb + 2);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

/* The folder part of path (modifies a copy); NULL on no memory. */
static char *dir_of(const char *path)
{
    char *d = ts_strdup(path), *slash;
    if (!d)
        return NULL;
    slash = strrchr(d, '/');
    if (slash == d)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(d, ".");
    return d;
}

static int ensure_root(local_store *st, ts_err *err)
{
    struct stat sb;
    if (stat(st->root, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            return ts_err_set(err, TS_ERR_IO, "lake folder \"%s\" is not a folder", st->root);
        return TS_OK;
    }
    if (errno != ENOENT || !st->create)
        return ts_err_set(err, errno == ENOENT ? TS_ERR_NOTFOUND : TS_ERR_IO,
                          "lake folder \"%s\": %s", st->root, strerror(errno));
    return ts_durable_mkdirs(st->root, err);
}

int lake_local_open(void **out, const lake_options *o, char *describe, size_t dlen, ts_err *err)
{
    local_store *st = NULL;
    char cwd[4096];
    const char *p = o->path && *o->path ? o->path : "./lake";
    size_t l;
    int rc = TS_OK;

    st = ts_calloc(1, sizeof *st);
    if (!st)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    st->create = o->create_container;
    if (p[0] == '/') {
        st->root = ts_strdup(p);
    } else {
        if (!getcwd(cwd, sizeof cwd)) {
            rc =
                ts_err_set(err, TS_ERR_IO, "could not get the current folder: %s", strerror(errno));
            goto out;
        }
        if (p[0] == '.' && p[1] == '/')
            p += 2;
        else if (strcmp(p, ".") == 0)
            p = "";
        st->root = *p ? join(cwd, p) : ts_strdup(cwd);
    }
    if (!st->root) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    l = strlen(st->root);
    while (l > 1 && st->root[l - 1] == '/')
        st->root[--l] = '\0';
    snprintf(describe, dlen, "local folder \"%s\"", st->root);
    *out = st;
    st = NULL;
out:
    if (st) {
        ts_free(st->root);
        ts_free(st);
    }
    return rc;
}

static void local_free(void *p)
{
    local_store *st = p;
    ts_free(st->root);
    ts_free(st);
}

#define SWEEP_AGE_S 2 /* a temp file this old and unlocked is a dead writer's: a writer
                        * locks its temp file microseconds after making it */

/* Whether dir/name was last written SWEEP_AGE_S or more ago. */
static bool old_enough(const char *dir, const char *name)
{
    struct stat sb;
    char *full = join(dir, name);
    bool old = full && lstat(full, &sb) == 0 && time(NULL) - sb.st_mtime >= SWEEP_AGE_S;
    ts_free(full);
    return old;
}

/* Removes the temp files of path (ts_durable_is_temp) that nobody holds: left by a
 * writer that crashed. */
static void sweep_stale_temps(const char *dir, const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    struct dirent *de;
    DIR *d = opendir(dir);
    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        char *full;
        int fd;
        if (!ts_durable_is_temp(de->d_name, base))
            continue;
        if (!old_enough(dir, de->d_name))
            continue;
        if (!(full = join(dir, de->d_name)))
            break;
        fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 && unlink(full) == 0)
            ts_info("removed \"%s\", a partial write left by a writer that stopped", full);
        if (fd >= 0)
            close(fd);
        ts_free(full);
    }
    closedir(d);
}

static void local_writer_release(local_writer *w)
{
    ts_durable_abort(w->file); /* closes and removes the temp file, if any */
    ts_free(w->path);
    ts_free(w);
}

static int local_writer_open(void *p, const char *full, void **out, ts_err *err)
{
    local_store *st = p;
    local_writer *w = NULL;
    char *dir = NULL;
    int rc;

    if ((rc = ensure_root(st, err)) != TS_OK)
        return rc;
    w = ts_calloc(1, sizeof *w);
    if (!w)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    if (!(w->path = join(st->root, full)) || !(dir = dir_of(w->path))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = ts_durable_mkdirs(dir, err)) != TS_OK)
        goto out;
    sweep_stale_temps(dir, w->path);
    /* A sweeper only takes temp files older than SWEEP_AGE_S, so a fresh one is never
     * taken between its creation and its lock; should one be taken all the same (a
     * clock jump), the lock finds it unlinked and a new one is made. */
    for (int tries = 0;; tries++) {
        struct stat sb;
        if ((rc = ts_durable_open(&w->file, w->path, TS_DURABLE_NOREPLACE, 0600, err)) != TS_OK)
            goto out;
        if (flock(ts_durable_fd(w->file), LOCK_EX | LOCK_NB) == 0 &&
            fstat(ts_durable_fd(w->file), &sb) == 0 && sb.st_nlink > 0)
            break;
        if (tries == 3) {
            rc = ts_err_set(err, TS_ERR_IO, "could not lock \"%s\": %s",
                            ts_durable_temp_path(w->file), strerror(errno ? errno : EAGAIN));
            goto out;
        }
        ts_durable_abort(w->file);
        w->file = NULL;
    }
    *out = w;
    w = NULL;
out:
    if (w)
        local_writer_release(w);
    ts_free(dir);
    return rc;
}

static int local_writer_write(void *p, const void *data, size_t n, ts_err *err)
{
    local_writer *w = p;
    return ts_durable_write(w->file, data, n, err);
}

/* A local object's entity tag: it changes whenever the file is replaced or rewritten. */
static void local_etag(const struct stat *sb, lake_info *info)
{
    if (info)
        snprintf(info->etag, sizeof info->etag, "\"%llx-%llx-%lld.%09ld\"",
                 (unsigned long long)sb->st_ino, (unsigned long long)sb->st_size,
                 (long long)sb->st_mtim.tv_sec, sb->st_mtim.tv_nsec);
}

static int local_writer_commit(void *p, uint64_t size, const uint8_t md5[16], lake_info *info,
                               ts_err *err)
{
    local_writer *w = p;
    struct stat sb;
    ts_err e;
    int rc;
    (void)size; /* ts_durable_commit checks the file holds every byte written */
    (void)md5;

    /* fsync, rename while still open and locked (so no sweeper takes it for a
     * leftover) and never over an existing object, close, fsync the folder */
    ts_err_clear(&e);
    rc = ts_durable_commit(w->file, &sb, &e);
    w->file = NULL;
    if (rc == TS_ERR_EXISTS)
        ts_err_set(err, rc, "%s (objects are write-once)", e.msg);
    else if (rc != TS_OK)
        ts_err_set(err, rc, "%s", e.msg);
    else
        local_etag(&sb, info);
    local_writer_release(w);
    return rc;
}

static void local_writer_abort(void *p)
{
    local_writer_release(p);
}

static int local_stat(void *p, const char *full, lake_info *info, ts_err *err)
{
    local_store *st = p;
    char *path = join(st->root, full);
    uint8_t *buf = NULL;
    EVP_MD_CTX *md = NULL;
    struct stat sb;
    unsigned mdlen = 0;
    int fd = -1, rc = TS_OK;

    if (!path || !(buf = ts_malloc(1u << 20)) || !(md = EVP_MD_CTX_new()) ||
        EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        rc = ts_err_set(err, errno == ENOENT ? TS_ERR_NOTFOUND : TS_ERR_IO,
                        "could not open \"%s\": %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        rc = ts_err_set(err, TS_ERR_NOTFOUND, "\"%s\" is not a file", path);
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf, 1u << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = ts_err_set(err, TS_ERR_IO, "could not read \"%s\": %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if (EVP_DigestUpdate(md, buf, (size_t)n) != 1) {
            rc = ts_err_set(err, TS_ERR_INTERNAL, "MD5 update failed");
            goto out;
        }
        info->size += (uint64_t)n;
    }
    if (EVP_DigestFinal_ex(md, info->md5, &mdlen) != 1) {
        rc = ts_err_set(err, TS_ERR_INTERNAL, "MD5 final failed");
        goto out;
    }
    local_etag(&sb, info);
    info->has_md5 = true;
out:
    if (fd >= 0)
        close(fd);
    EVP_MD_CTX_free(md);
    ts_free(buf);
    ts_free(path);
    return rc;
}

static int local_read(void *p, const char *full, uint64_t off, size_t len, void *buf, size_t *got,
                      ts_err *err)
{
    local_store *st = p;
    char *path = join(st->root, full);
    int fd = -1, rc = TS_OK;

    if (!path)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = ts_err_set(err, errno == ENOENT ? TS_ERR_NOTFOUND : TS_ERR_IO,
                        "could not open \"%s\": %s", path, strerror(errno));
        goto out;
    }
    while (*got < len) {
        ssize_t n = pread(fd, (uint8_t *)buf + *got, len - *got, (off_t)(off + *got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = ts_err_set(err, TS_ERR_IO, "could not read \"%s\": %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        *got += (size_t)n;
    }
out:
    if (fd >= 0)
        close(fd);
    ts_free(path);
    return rc;
}

typedef struct entry {
    char *name;
    uint64_t size;
} entry;

typedef struct walk {
    entry *v;
    size_t n, cap;
    const char *prefix;
    size_t plen;
    bool temps; /* collect the temp files of writers instead of the objects */
} walk;

/* Walks root/rel, collecting regular files whose relative name starts with the prefix. */
static int walk_dir(const char *root, ts_buf *rel, walk *wk, ts_err *err)
{
    char *dirpath = NULL;
    DIR *d = NULL;
    struct dirent *de;
    size_t base = rel->len;
    int rc = TS_OK;

    dirpath = rel->len ? join(root, ts_buf_cstr(rel)) : ts_strdup(root);
    if (!dirpath)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    d = opendir(dirpath);
    if (!d) {
        if (errno != ENOENT && errno != ENOTDIR)
            rc = ts_err_set(err, TS_ERR_IO, "could not open folder \"%s\": %s", dirpath,
                            strerror(errno));
        goto out;
    }
    while ((errno = 0, de = readdir(d)) != NULL) {
        struct stat sb;
        size_t cmp;
        char *fp;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rel->len = base;
        if ((base && ts_buf_putc(rel, '/')) || ts_buf_append(rel, de->d_name, strlen(de->d_name))) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        /* prune: the relative name and the prefix must agree on their common part */
        cmp = rel->len < wk->plen ? rel->len : wk->plen;
        if (memcmp(rel->data, wk->prefix, cmp) != 0)
            continue;
        fp = join(root, ts_buf_cstr(rel));
        if (!fp) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        if (lstat(fp, &sb) != 0) {
            ts_free(fp);
            continue; /* removed meanwhile */
        }
        ts_free(fp);
        if (S_ISDIR(sb.st_mode)) {
            if ((rc = walk_dir(root, rel, wk, err)) != TS_OK)
                goto out;
        } else if (S_ISREG(sb.st_mode) && rel->len >= wk->plen &&
                   ts_durable_is_temp(de->d_name, NULL) == wk->temps) {
            if (wk->n == wk->cap) {
                size_t nc = wk->cap ? wk->cap * 2 : 256;
                entry *nv = ts_realloc(wk->v, nc * sizeof *nv);
                if (!nv) {
                    rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
                    goto out;
                }
                wk->v = nv;
                wk->cap = nc;
            }
            if (!(wk->v[wk->n].name = ts_strdup(ts_buf_cstr(rel)))) {
                rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
                goto out;
            }
            wk->v[wk->n++].size = (uint64_t)sb.st_size;
        }
    }
    if (errno != 0)
        rc = ts_err_set(err, TS_ERR_IO, "could not read folder \"%s\": %s", dirpath,
                        strerror(errno));
out:
    rel->len = base;
    if (d)
        closedir(d);
    ts_free(dirpath);
    return rc;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static int local_list(void *p, const char *prefix, lake_list_fn fn, void *ud, ts_err *err)
{
    local_store *st = p;
    walk wk = {NULL, 0, 0, prefix, strlen(prefix), false};
    ts_buf rel;
    int rc;

    ts_buf_init(&rel, 0);
    if ((rc = walk_dir(st->root, &rel, &wk, err)) != TS_OK)
        goto out;
    if (wk.n > 1)
        qsort(wk.v, wk.n, sizeof *wk.v, cmp_entry);
    for (size_t i = 0; i < wk.n; i++) {
        lake_info info = {.name = wk.v[i].name, .size = wk.v[i].size};
        if ((rc = fn(ud, &info)) != 0)
            goto out;
    }
out:
    for (size_t i = 0; i < wk.n; i++)
        ts_free(wk.v[i].name);
    ts_free(wk.v);
    ts_buf_free(&rel);
    return rc;
}

/* Removes the temp files under prefix that no writer holds (their writer died): a
 * live writer keeps an flock on its temp file until it commits or aborts. */
static int local_sweep(void *p, const char *prefix, int min_age_s, long long *removed, ts_err *err)
{
    local_store *st = p;
    walk wk = {NULL, 0, 0, prefix, strlen(prefix), true};
    ts_buf rel;
    int rc;

    *removed = 0;
    ts_buf_init(&rel, 0);
    if ((rc = walk_dir(st->root, &rel, &wk, err)) != TS_OK)
        goto out;
    for (size_t i = 0; i < wk.n; i++) {
        char *full = join(st->root, wk.v[i].name);
        struct stat sb;
        int fd = full ? open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
        /* young temp files may be a live writer's that has not taken its lock yet */
        if (fd >= 0 && fstat(fd, &sb) == 0 && time(NULL) - sb.st_mtime >= min_age_s &&
            flock(fd, LOCK_EX | LOCK_NB) == 0 && unlink(full) == 0) {
            ts_info("removed \"%s\", a partial write left by a writer that stopped", full);
            (*removed)++;
        }
        if (fd >= 0)
            close(fd);
        ts_free(full);
    }
out:
    for (size_t i = 0; i < wk.n; i++)
        ts_free(wk.v[i].name);
    ts_free(wk.v);
    ts_buf_free(&rel);
    return rc;
}

static int local_del(void *p, const char *full, ts_err *err)
{
    local_store *st = p;
    char *path = join(st->root, full), *dir = NULL;
    int rc;

    if (!path || !(dir = dir_of(path))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (unlink(path) != 0) {
        rc = ts_err_set(err, errno == ENOENT ? TS_ERR_NOTFOUND : TS_ERR_IO,
                        "could not remove \"%s\": %s", path, strerror(errno));
        goto out;
    }
    rc = ts_durable_fsync_dir(dir, err);
out:
    ts_free(dir);
    ts_free(path);
    return rc;
}

static int local_test(void *p, ts_err *err)
{
    local_store *st = p;
    ts_durable *probe = NULL;
    char *name = NULL;
    int rc;

    if ((rc = ensure_root(st, err)) != TS_OK)
        return rc;
    if (!(name = join(st->root, ".tsarchive-probe")))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    /* a temp file is created and removed: the folder takes new files */
    if ((rc = ts_durable_open(&probe, name, 0, 0600, err)) != TS_OK)
        ts_err_prefix(err, "lake folder \"%s\" does not take new files", st->root);
    ts_durable_abort(probe);
    ts_free(name);
    return rc;
}

static char *local_url(void *p, const char *full)
{
    local_store *st = p;
    size_t l = strlen(st->root) + strlen(full) + 9;
    char *u = ts_malloc(l);
    if (u)
        snprintf(u, l, "file://%s/%s", st->root, full);
    return u;
}

const lake_store_ops lake_local_ops = {
    .name = "local",
    .free = local_free,
    .writer_open = local_writer_open,
    .writer_write = local_writer_write,
    .writer_commit = local_writer_commit,
    .writer_abort = local_writer_abort,
    .sweep = local_sweep,
    .stat = local_stat,
    .read = local_read,
    .list = local_list,
    .del = local_del,
    .test = local_test,
    .url = local_url,
};
