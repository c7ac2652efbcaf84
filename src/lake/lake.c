/* lake.c: the lake interface (lake.h): options, path rules, the prefix, checksums
 * while writing, dispatch to a store through store.h, and the chunk object layout.
 * The stores never call back into this file (store.h has the layering). */
#include "lake.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "codec.h"
#include "common/alloc.h"
#include "common/durable.h"
#include "common/tstime.h"
#include "store.h"

struct lake {
    const lake_store_ops *ops;
    void *st;
    char *prefix; /* "" or "a/b" without slashes at either end */
    char describe[512];
};

struct lake_writer {
    lake *lk;
    void *w;
    EVP_MD_CTX *md5;
    uint64_t size;
    bool failed;
    char *path;
};

void lake_options_init(lake_options *o)
{
    memset(o, 0, sizeof *o);
    o->kind = LAKE_LOCAL;
    o->path = "./lake";
    o->prefix = "";
    o->block_size = 8u << 20;
    o->upload_concurrency = 4;
    o->create_container = true;
    o->auth = LAKE_AUTH_AUTO;
    o->max_retries = 5;
    o->retry_base_ms = 250;
    o->retry_max_ms = 20000;
    o->connect_timeout_s = 10;
    o->stall_timeout_s = 60;
}

int lake_auth_parse(const char *s)
{
    static const struct {
        const char *name;
        lake_auth v;
    } t[] = {{"auto", LAKE_AUTH_AUTO},
             {"shared_key", LAKE_AUTH_SHARED_KEY},
             {"sas", LAKE_AUTH_SAS},
             {"service_principal", LAKE_AUTH_SERVICE_PRINCIPAL},
             {"managed_identity", LAKE_AUTH_MANAGED_IDENTITY},
             {"workload_identity", LAKE_AUTH_WORKLOAD_IDENTITY}};
    if (!s || !*s)
        return LAKE_AUTH_AUTO;
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (strcmp(s, t[i].name) == 0)
            return (int)t[i].v;
    return -1;
}

int lake_path_check(const char *path, ts_err *err)
{
    size_t len, comp = 0;
    if (!path || !*path)
        return ts_err_set(err, TS_ERR_INVALID, "empty object path");
    len = strlen(path);
    if (len > 1024)
        return ts_err_set(err, TS_ERR_INVALID, "object path longer than 1024 bytes");
    if (path[0] == '/')
        return ts_err_set(err, TS_ERR_INVALID, "object path \"%s\" must be relative", path);
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '/' || c == '\0') {
            const char *s = path + i - comp;
            if (comp == 0 || (comp == 1 && s[0] == '.') ||
                (comp == 2 && s[0] == '.' && s[1] == '.'))
                return ts_err_set(err, TS_ERR_INVALID,
                                  "object path \"%s\" has an empty, \".\" or \"..\" component",
                                  path);
            comp = 0;
            continue;
        }
        if (c < 0x20 || c == 0x7f || c == '\\')
            return ts_err_set(err, TS_ERR_INVALID,
                              "object path has a control character or backslash");
        comp++;
    }
    return TS_OK;
}

/* prefix + "/" + path, or path alone. */
static char *full_path(const lake *lk, const char *path)
{
    size_t pl = strlen(lk->prefix), l = strlen(path);
    char *s = ts_malloc(pl + l + 2);
    if (!s)
        return NULL;
    if (pl) {
        memcpy(s, lk->prefix, pl);
        s[pl] = '/';
        memcpy(s + pl + 1, path, l + 1);
    } else {
        memcpy(s, path, l + 1);
    }
    return s;
}

int lake_open(lake **out, const lake_options *o, ts_err *err)
{
    lake *lk = NULL;
    const char *p = o->prefix ? o->prefix : "";
    size_t pl;
    int rc;

    *out = NULL;
    while (*p == '/')
        p++;
    pl = strlen(p);
    while (pl && p[pl - 1] == '/')
        pl--;
    lk = ts_calloc(1, sizeof *lk);
    if (!lk || !(lk->prefix = ts_strndup(p, pl))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (pl && (rc = lake_path_check(lk->prefix, err)) != TS_OK) {
        ts_err_prefix(err, "lake prefix");
        goto out;
    }
    switch (o->kind) {
    case LAKE_LOCAL:
        lk->ops = &lake_local_ops;
        rc = lake_local_open(&lk->st, o, lk->describe, sizeof lk->describe, err);
        break;
    case LAKE_AZURE:
        lk->ops = &lake_azure_ops;
        rc = lake_azure_open(&lk->st, o, lk->describe, sizeof lk->describe, err);
        break;
    default:
        rc = ts_err_set(err, TS_ERR_INVALID, "unknown lake kind %d", (int)o->kind);
    }
    if (rc)
        goto out;
    *out = lk;
    lk = NULL;
out:
    lake_free(lk);
    return rc;
}

void lake_free(lake *lk)
{
    if (!lk)
        return;
    if (lk->st)
        lk->ops->free(lk->st);
    ts_free(lk->prefix);
    ts_free(lk);
}

const char *lake_describe(const lake *lk)
{
    return lk->describe;
}

const char *lake_identity(const lake *lk)
{
    return lk->ops->identity ? lk->ops->identity(lk->st)
                             : "the user running tsarchive (local folder)";
}

char *lake_url(const lake *lk, const char *path)
{
    char *full = full_path(lk, path), *u;
    if (!full)
        return NULL;
    u = lk->ops->url(lk->st, full);
    ts_free(full);
    return u;
}

int lake_writer_open(lake *lk, const char *path, lake_writer **out, ts_err *err)
{
    lake_writer *w = NULL;
    char *full = NULL;
    int rc;

    *out = NULL;
    if ((rc = lake_path_check(path, err)) != TS_OK)
        return rc;
    w = ts_calloc(1, sizeof *w);
    if (!w || !(full = full_path(lk, path)) || !(w->path = ts_strdup(path)) ||
        !(w->md5 = EVP_MD_CTX_new())) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (EVP_DigestInit_ex(w->md5, EVP_md5(), NULL) != 1) {
        rc = ts_err_set(err, TS_ERR_INTERNAL, "could not start an MD5 digest");
        goto out;
    }
    w->lk = lk;
    if ((rc = lk->ops->writer_open(lk->st, full, &w->w, err)) != TS_OK)
        goto out;
    *out = w;
    w = NULL;
out:
    if (w) {
        EVP_MD_CTX_free(w->md5);
        ts_free(w->path);
        ts_free(w);
    }
    ts_free(full);
    return rc;
}

int lake_writer_write(lake_writer *w, const void *p, size_t n, ts_err *err)
{
    int rc;
    if (w->failed)
        return ts_err_set(err, TS_ERR_INTERNAL, "write to a failed lake writer for \"%s\"",
                          w->path);
    if (n == 0)
        return TS_OK;
    if (EVP_DigestUpdate(w->md5, p, n) != 1) {
        w->failed = true;
        return ts_err_set(err, TS_ERR_INTERNAL, "MD5 update failed");
    }
    rc = w->lk->ops->writer_write(w->w, p, n, err);
    if (rc) {
        w->failed = true;
        return rc;
    }
    w->size += n;
    return TS_OK;
}

uint64_t lake_writer_size(const lake_writer *w)
{
    return w->size;
}

static void writer_release(lake_writer *w)
{
    EVP_MD_CTX_free(w->md5);
    ts_free(w->path);
    ts_free(w);
}

/* Whether the object at path holds exactly size bytes with this MD5 (fills info's
 * ETag when it does). */
static bool same_object(lake *lk, const char *path, uint64_t size, const uint8_t md5[16],
                        lake_info *info)
{
    lake_info have;
    ts_err e;
    ts_err_clear(&e);
    if (lake_stat(lk, path, &have, &e) != TS_OK || have.size != size || !have.has_md5 ||
        memcmp(have.md5, md5, 16) != 0)
        return false;
    if (info)
        snprintf(info->etag, sizeof info->etag, "%s", have.etag);
    return true;
}

int lake_writer_commit(lake_writer *w, lake_info *info, ts_err *err)
{
    uint8_t md5[16];
    unsigned int mdlen = 0;
    int rc;

    if (w->failed) {
        w->lk->ops->writer_abort(w->w);
        rc = ts_err_set(err, TS_ERR_INTERNAL, "commit of a failed lake writer for \"%s\"", w->path);
        goto out;
    }
    if (EVP_DigestFinal_ex(w->md5, md5, &mdlen) != 1 || mdlen != 16) {
        w->lk->ops->writer_abort(w->w);
        rc = ts_err_set(err, TS_ERR_INTERNAL, "MD5 final failed");
        goto out;
    }
    if (info)
        memset(info, 0, sizeof *info);
    rc = w->lk->ops->writer_commit(w->w, w->size, md5, info, err);
    if (rc == TS_ERR_EXISTS && same_object(w->lk, w->path, w->size, md5, info)) {
        ts_err_clear(err); /* a commit of ours that was retried: the bytes are there */
        rc = TS_OK;
    }
    if (rc == TS_OK && info) {
        info->name = NULL;
        info->size = w->size;
        info->has_md5 = true;
        memcpy(info->md5, md5, 16);
    }
out:
    writer_release(w);
    return rc;
}

void lake_writer_abort(lake_writer *w)
{
    if (!w)
        return;
    w->lk->ops->writer_abort(w->w);
    writer_release(w);
}

int lake_put_bytes(lake *lk, const char *path, const void *data, size_t len, lake_info *info,
                   ts_err *err)
{
    lake_writer *w = NULL;
    int rc = lake_writer_open(lk, path, &w, err);
    if (rc == TS_OK && (rc = lake_writer_write(w, data, len, err)) != TS_OK) {
        lake_writer_abort(w);
        return rc;
    }
    return rc ? rc : lake_writer_commit(w, info, err);
}

int lake_get_bytes(lake *lk, const char *path, size_t max, char **out, size_t *len, lake_info *info,
                   ts_err *err)
{
    lake_info st;
    char *buf = NULL;
    size_t got = 0;
    int rc;

    *out = NULL;
    *len = 0;
    if ((rc = lake_stat(lk, path, &st, err)) != TS_OK)
        return rc;
    if (st.size > max)
        return ts_err_set(err, TS_ERR_TOOBIG, "object \"%s\" holds %llu bytes, more than %zu", path,
                          (unsigned long long)st.size, max);
    if (!(buf = ts_malloc((size_t)st.size + 1)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    if ((rc = lake_read(lk, path, 0, (size_t)st.size, buf, &got, err)) != TS_OK)
        goto out;
    if (got != st.size) {
        rc = ts_err_set(err, TS_ERR_CONFLICT, "object \"%s\" changed while being read", path);
        goto out;
    }
    if (st.has_md5) {
        uint8_t md5[16];
        lake_md5(buf, got, md5);
        if (memcmp(md5, st.md5, 16) != 0) {
            rc = ts_err_set(err, TS_ERR_CONFLICT, "object \"%s\" does not match its stored MD5",
                            path);
            goto out;
        }
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    buf = NULL;
    if (info)
        *info = st;
out:
    ts_free(buf);
    return rc;
}

int lake_put_file(lake *lk, const char *file, const char *path, lake_info *info, ts_err *err)
{
    lake_writer *w = NULL;
    int fd = -1, rc;
    size_t bufsz = 1u << 20;
    uint8_t *buf = NULL;

    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = ts_err_set(err, TS_ERR_IO, "could not open \"%s\": %s", file, strerror(errno));
        goto out;
    }
    if (!(buf = ts_malloc(bufsz))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = lake_writer_open(lk, path, &w, err)) != TS_OK)
        goto out;
    for (;;) {
        ssize_t n = read(fd, buf, bufsz);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = ts_err_set(err, TS_ERR_IO, "could not read \"%s\": %s", file, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if ((rc = lake_writer_write(w, buf, (size_t)n, err)) != TS_OK)
            goto out;
    }
    rc = lake_writer_commit(w, info, err);
    w = NULL;
out:
    lake_writer_abort(w);
    ts_free(buf);
    if (fd >= 0)
        close(fd); /* read-only: nothing to lose */
    return rc;
}

int lake_get_file(lake *lk, const char *path, const char *file, lake_info *info, ts_err *err)
{
    lake_info st;
    ts_durable *d = NULL;
    uint8_t *buf = NULL;
    size_t bufsz = 4u << 20;
    uint64_t off = 0;
    EVP_MD_CTX *md = NULL;
    uint8_t md5[16];
    unsigned mdlen = 0;
    int rc;

    if ((rc = lake_stat(lk, path, &st, err)) != TS_OK)
        goto out;
    buf = ts_malloc(bufsz);
    md = EVP_MD_CTX_new();
    if (!buf || !md || EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = ts_durable_open(&d, file, 0, 0600, err)) != TS_OK)
        goto out;
    while (off < st.size) {
        size_t got = 0;
        size_t want = st.size - off < bufsz ? (size_t)(st.size - off) : bufsz;
        if ((rc = lake_read(lk, path, off, want, buf, &got, err)) != TS_OK)
            goto out;
        if (got == 0) {
            rc = ts_err_set(err, TS_ERR_CONFLICT, "object \"%s\" shrank while being read", path);
            goto out;
        }
        if (EVP_DigestUpdate(md, buf, got) != 1) {
            rc = ts_err_set(err, TS_ERR_INTERNAL, "MD5 update failed");
            goto out;
        }
        if ((rc = ts_durable_write(d, buf, got, err)) != TS_OK)
            goto out;
        off += got;
    }
    if (EVP_DigestFinal_ex(md, md5, &mdlen) != 1) {
        rc = ts_err_set(err, TS_ERR_INTERNAL, "MD5 final failed");
        goto out;
    }
    if (st.has_md5 && memcmp(md5, st.md5, 16) != 0) {
        rc = ts_err_set(err, TS_ERR_CONFLICT,
                        "MD5 of downloaded \"%s\" differs from the stored one", path);
        goto out;
    }
    rc = ts_durable_commit(d, NULL, err); /* frees d */
    d = NULL;
    if (rc == TS_OK && info) {
        *info = st;
        info->has_md5 = true;
        memcpy(info->md5, md5, 16);
    }
out:
    ts_durable_abort(d);
    EVP_MD_CTX_free(md);
    ts_free(buf);
    return rc;
}

int lake_stat(lake *lk, const char *path, lake_info *info, ts_err *err)
{
    char *full;
    int rc;
    if ((rc = lake_path_check(path, err)) != TS_OK)
        return rc;
    if (!(full = full_path(lk, path)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    memset(info, 0, sizeof *info);
    rc = lk->ops->stat(lk->st, full, info, err);
    ts_free(full);
    return rc;
}

int lake_read(lake *lk, const char *path, uint64_t offset, size_t len, void *buf, size_t *got,
              ts_err *err)
{
    char *full;
    int rc;
    *got = 0;
    if ((rc = lake_path_check(path, err)) != TS_OK)
        return rc;
    if (len == 0)
        return TS_OK;
    if (!(full = full_path(lk, path)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    rc = lk->ops->read(lk->st, full, offset, len, buf, got, err);
    ts_free(full);
    return rc;
}

typedef struct strip_ctx {
    lake_list_fn fn;
    void *ud;
    size_t strip;
} strip_ctx;

static int strip_cb(void *ud, const lake_info *info)
{
    strip_ctx *c = ud;
    lake_info i = *info;
    if (strlen(info->name) <= c->strip)
        return 0;
    i.name = info->name + c->strip;
    return c->fn(c->ud, &i);
}

int lake_list(lake *lk, const char *prefix, lake_list_fn fn, void *ud, ts_err *err)
{
    char *full;
    strip_ctx c = {fn, ud, 0};
    size_t pl = strlen(lk->prefix), l;
    int rc;

    if (!prefix)
        prefix = "";
    if (prefix[0] == '/')
        return ts_err_set(err, TS_ERR_INVALID, "list prefix \"%s\" must be relative", prefix);
    l = strlen(prefix);
    if (!(full = ts_malloc(pl + l + 2)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    if (pl)
        sprintf(full, "%s/%s", lk->prefix, prefix);
    else
        memcpy(full, prefix, l + 1);
    c.strip = pl ? pl + 1 : 0;
    rc = lk->ops->list(lk->st, full, strip_cb, &c, err);
    ts_free(full);
    return rc;
}

int lake_delete(lake *lk, const char *path, ts_err *err)
{
    char *full;
    int rc;
    if ((rc = lake_path_check(path, err)) != TS_OK)
        return rc;
    if (!(full = full_path(lk, path)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    rc = lk->ops->del(lk->st, full, err);
    ts_free(full);
    return rc;
}

int lake_sweep(lake *lk, const char *prefix, int min_age_s, long long *removed, ts_err *err)
{
    char *full;
    long long n = 0;
    size_t pl = strlen(lk->prefix);
    int rc;
    if (removed)
        *removed = 0;
    if (!lk->ops->sweep)
        return TS_OK;
    if (!prefix)
        prefix = "";
    if (!(full = ts_malloc(pl + strlen(prefix) + 2)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    if (pl)
        sprintf(full, "%s/%s", lk->prefix, prefix);
    else
        strcpy(full, prefix);
    rc = lk->ops->sweep(lk->st, full, min_age_s, &n, err);
    ts_free(full);
    if (removed)
        *removed = n;
    return rc;
}

int lake_test(lake *lk, ts_err *err)
{
    return lk->ops->test(lk->st, err);
}

/* ---- object layout ---- */

static int put_escaped(char *out, size_t cap, size_t *o, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    bool all_dots = strspn(s, ".") == strlen(s); /* "." and ".." are not path components */
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '_' || c == '-' || (c == '.' && !all_dots);
        if (*o + 4 >= cap)
            return -1;
        if (plain) {
            out[(*o)++] = (char)c;
        } else {
            out[(*o)++] = '%';
            out[(*o)++] = hex[c >> 4];
            out[(*o)++] = hex[c & 15];
        }
    }
    return 0;
}

/* 20240131T000000Z, or "min" / "max" for an unbounded end. */
static void fmt_time(char *out, size_t cap, int64_t us)
{
    if (us == INT64_MIN)
        snprintf(out, cap, "min");
    else if (us == INT64_MAX)
        snprintf(out, cap, "max");
    else if (ts_time_format_compact(us, out, cap) != TS_OK)
        out[0] = '\0'; /* cannot happen: the callers' buffers hold TS_TIME_MAX */
}

char *lake_object_path(const char *database, const char *schema, const char *table,
                       const char *chunk_name, int64_t range_start, int64_t range_end)
{
    size_t cap = 3 * (strlen(database) + strlen(schema) + strlen(table) + strlen(chunk_name)) + 160;
    char *out = ts_malloc(cap), ts1[TS_TIME_MAX], ts2[TS_TIME_MAX], year[24];
    size_t o = 0;
    int64_t basis = range_start;
    ts_civil c = {.year = 0, .month = 0};

    if (!out)
        return NULL;
    if (basis == INT64_MIN)
        basis = range_end == INT64_MAX || range_end == INT64_MIN ? INT64_MIN : range_end - 1;
    if (basis != INT64_MIN && basis != INT64_MAX)
        ts_civil_from_us(basis, &c);
    fmt_time(ts1, sizeof ts1, range_start);
    fmt_time(ts2, sizeof ts2, range_end);
    if (put_escaped(out, cap, &o, database) || (out[o++] = '/', 0) ||
        put_escaped(out, cap, &o, schema) || (out[o++] = '.', 0) ||
        put_escaped(out, cap, &o, table)) {
        ts_free(out);
        return NULL;
    }
    o += (size_t)snprintf(out + o, cap - o, "/year=%s/month=%02d/", ts_civil_year(c.year, year),
                          c.month);
    if (put_escaped(out, cap, &o, chunk_name)) {
        ts_free(out);
        return NULL;
    }
    snprintf(out + o, cap - o, "_%s_%s.parquet", ts1, ts2);
    return out;
}
