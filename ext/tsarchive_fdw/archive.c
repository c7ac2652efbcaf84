/* archive.c: the foreign data wrapper's use of the project's libraries (archive.h):
 * a lake opened from a server's options and a user mapping's secrets, a Delta table's
 * live files and their tags and stats, and one Parquet file read as restore reads it
 * (pg/rowimage.h), with only the planned columns and the selected row groups fetched.
 * Built with the project's flags; no PostgreSQL server header comes near it. */
#include "archive.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "delta/delta.h"
#include "delta/list.h"
#include "delta/schema.h"
#include "delta/stats.h"
#include "lake/lake.h"
#include "object/object.h"
#include "parquet/reader.h"
#include "pg/copybin.h"
#include "pg/rowimage.h"
#include "pg/types.h"

_Static_assert((int)TSA_ERR_NOMEM == (int)TS_ERR_NOMEM && (int)TSA_ERR_IO == (int)TS_ERR_IO &&
                   (int)TSA_ERR_INVALID == (int)TS_ERR_INVALID &&
                   (int)TSA_ERR_FORMAT == (int)TS_ERR_FORMAT &&
                   (int)TSA_ERR_NOTFOUND == (int)TS_ERR_NOTFOUND &&
                   (int)TSA_ERR_CONN == (int)TS_ERR_CONN && (int)TSA_ERR_AUTH == (int)TS_ERR_AUTH &&
                   (int)TSA_ERR_TIMEOUT == (int)TS_ERR_TIMEOUT &&
                   (int)TSA_ERR_UNSUPPORTED == (int)TS_ERR_UNSUPPORTED &&
                   (int)TSA_ERR_TOOBIG == (int)TS_ERR_TOOBIG,
               "archive.h mirrors common/err.h");
_Static_assert(sizeof(((tsa_err *)0)->msg) == sizeof(((ts_err *)0)->msg), "same message size");

/* Reads are cut into pieces this large, so an interrupt is seen between them. */
#define READ_PIECE ((size_t)8 << 20)

void tsa_err_clear(tsa_err *e)
{
    if (e) {
        e->code = 0;
        e->msg[0] = '\0';
    }
}

/* Moves a library error into the caller's, the first one winning; secrets the lake
 * registered are redacted on the way (they should never be there). */
static int fail(tsa_err *out, const ts_err *in)
{
    int code = in->code ? in->code : TS_ERR_INTERNAL;
    if (out && out->code == 0) {
        out->code = code;
        ts_redact(in->msg[0] ? in->msg : "unknown error", out->msg, sizeof out->msg);
    }
    return code;
}

static int failf(tsa_err *out, int code, const char *fmt, ...) TS_PRINTF(3, 4);
static int failf(tsa_err *out, int code, const char *fmt, ...)
{
    ts_err e;
    va_list ap;
    ts_err_clear(&e);
    va_start(ap, fmt);
    ts_err_setv(&e, code, fmt, ap);
    va_end(ap);
    return fail(out, &e);
}

void tsa_free(void *p)
{
    ts_free(p);
}

/* ---- the lake ---- */

struct tsa_lake {
    lake *lk;
    int (*interrupted)(void *ctx);
    void *interrupted_ctx;
};

/* A connection string from an account key or a SAS (the secrets a user mapping holds
 * besides a whole connection string). ts_free() it after wiping. */
static char *build_connection_string(const tsa_lake_options *o)
{
    ts_buf b;
    char *out = NULL;
    int rc = TS_OK;
    ts_buf_init(&b, 0);
    if (o->account_key) {
        rc = ts_buf_printf(&b, "DefaultEndpointsProtocol=https;AccountName=%s;AccountKey=%s",
                           o->account ? o->account : "", o->account_key);
    } else {
        const char *sas = o->sas_token[0] == '?' ? o->sas_token + 1 : o->sas_token;
        rc = ts_buf_printf(&b, "SharedAccessSignature=%s", sas);
        if (!rc && o->account && !o->endpoint)
            rc = ts_buf_printf(&b, ";AccountName=%s", o->account);
    }
    if (!rc && o->endpoint)
        rc = ts_buf_printf(&b, ";BlobEndpoint=%s", o->endpoint);
    if (!rc)
        out = ts_strdup(ts_buf_cstr(&b));
    if (b.data)
        memset(b.data, 0, b.len);
    ts_buf_free(&b);
    return out;
}

int tsa_lake_open(const tsa_lake_options *o, tsa_lake **out, tsa_err *err)
{
    lake_options lo;
    tsa_lake *l = NULL;
    char *cs = NULL;
    ts_err e;
    int rc;

    *out = NULL;
    ts_err_clear(&e);
    lake_options_init(&lo);
    lo.prefix = o->prefix ? o->prefix : "";
    lo.create_container = false; /* a reader never creates anything */
    lo.interrupted = o->interrupted;
    lo.interrupted_ctx = o->interrupted_ctx;
    if (o->connect_timeout_s > 0)
        lo.connect_timeout_s = o->connect_timeout_s;
    if (o->max_retries >= 0)
        lo.max_retries = o->max_retries;
    if (o->path) {
        struct stat sb;
        /* a folder that is not there is a mistake, not an empty archive */
        errno = 0;
        if (stat(o->path, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return failf(err, TS_ERR_NOTFOUND,
                         "lake folder \"%s\" %s (as the server's operating system user sees it)",
                         o->path, errno == EACCES ? "cannot be reached" : "does not exist");
        lo.kind = LAKE_LOCAL;
        lo.path = o->path;
    } else {
        int auth = lake_auth_parse(o->auth);
        if (auth < 0)
            return failf(err, TS_ERR_INVALID, "unknown auth \"%s\"", o->auth);
        if (!o->account && !o->endpoint && !o->connection_string)
            return failf(err, TS_ERR_INVALID,
                         "an Azure lake needs the server option \"account\" (or \"endpoint\"), "
                         "or a connection_string in the user mapping");
        lo.kind = LAKE_AZURE;
        lo.account = o->account;
        lo.container = o->container;
        lo.blob_endpoint = o->endpoint;
        lo.auth = (lake_auth)auth;
        lo.tenant_id = o->tenant_id;
        lo.client_id = o->client_id;
        lo.client_secret = o->client_secret;
        lo.authority_host = o->authority_host;
        lo.imds_endpoint = o->imds_endpoint;
        lo.client_certificate_file = o->client_certificate_file;
        lo.federated_token_file = o->federated_token_file;
        lo.ca_file = o->ca_file;
        if (o->connection_string) {
            lo.connection_string = o->connection_string;
        } else if (o->account_key || o->sas_token) {
            if (!(cs = build_connection_string(o)))
                return failf(err, TS_ERR_NOMEM, "out of memory");
            lo.connection_string = cs;
        }
    }
    if (!(l = ts_calloc(1, sizeof *l))) {
        rc = failf(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    l->interrupted = o->interrupted;
    l->interrupted_ctx = o->interrupted_ctx;
    if ((rc = lake_open(&l->lk, &lo, &e)) != TS_OK) {
        fail(err, &e);
        goto out;
    }
    *out = l;
    l = NULL;
out:
    if (cs) {
        memset(cs, 0, strlen(cs));
        ts_free(cs);
    }
    tsa_lake_free(l);
    return rc;
}

void tsa_lake_free(tsa_lake *l)
{
    if (!l)
        return;
    lake_free(l->lk);
    ts_free(l);
}

const char *tsa_lake_describe(const tsa_lake *l)
{
    return lake_describe(l->lk);
}

/* ---- names ---- */

char *tsa_database_root(const char *cluster, const char *database)
{
    return obj_database_root(cluster, database);
}

char *tsa_table_root(const char *cluster, const char *database, const char *schema,
                     const char *table)
{
    return obj_table_root(cluster, database, schema, table);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}

/* The unescaped copy of s[0..n) (every %XX a byte; nothing else may be escaped), or
 * NULL when malformed. */
static char *unescape(const char *s, size_t n)
{
    char *o = ts_malloc(n + 1), *p = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int h = i + 2 < n ? hexval(s[i + 1]) : -1, l = h >= 0 ? hexval(s[i + 2]) : -1;
            if (h < 0 || l < 0 || (h == 0 && l == 0))
                goto bad;
            *p++ = (char)(h << 4 | l);
            i += 2;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '-') {
            *p++ = (char)c;
        } else {
            goto bad;
        }
    }
    *p = '\0';
    return o;
bad:
    ts_free(o);
    return NULL;
}

int tsa_root_parts(const char *root, char **cluster, char **database, char **schema, char **table)
{
    const char *s1 = strchr(root, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    const char *dot = s2 ? strchr(s2 + 1, '.') : NULL;
    char *part[4] = {NULL, NULL, NULL, NULL};
    char **want[4] = {cluster, database, schema, table};
    if (!s1 || !s2 || !dot || strchr(s2 + 1, '/') || strchr(dot + 1, '.'))
        return -1;
    const char *from[4] = {root, s1 + 1, s2 + 1, dot + 1};
    size_t len[4] = {(size_t)(s1 - root), (size_t)(s2 - s1 - 1), (size_t)(dot - s2 - 1),
                     strlen(dot + 1)};
    for (int i = 0; i < 4; i++) {
        if (len[i] == 0 || !(part[i] = unescape(from[i], len[i]))) {
            for (int k = 0; k < 4; k++)
                ts_free(part[k]);
            return -1;
        }
    }
    for (int i = 0; i < 4; i++) {
        if (want[i])
            *want[i] = part[i];
        else
            ts_free(part[i]);
    }
    return 0;
}

int tsa_list_tables(tsa_lake *l, const char *prefix, char ***roots, int *n, tsa_err *err)
{
    delta_table_list *tl = NULL;
    ts_err e;
    char **r = NULL;
    int k = 0;
    ts_err_clear(&e);
    *roots = NULL;
    *n = 0;
    if (delta_table_list_new(l->lk, prefix, &tl, &e) != TS_OK)
        return fail(err, &e);
    if (!(r = ts_calloc(tl->n ? tl->n : 1, sizeof *r))) {
        delta_table_list_free(tl);
        return failf(err, TS_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < tl->n; i++) {
        if (!(r[k] = ts_strdup(tl->tables[i].root))) {
            tsa_strings_free(r, k);
            delta_table_list_free(tl);
            return failf(err, TS_ERR_NOMEM, "out of memory");
        }
        k++;
    }
    delta_table_list_free(tl);
    *roots = r;
    *n = k;
    return 0;
}

void tsa_strings_free(char **s, int n)
{
    if (!s)
        return;
    for (int i = 0; i < n; i++)
        ts_free(s[i]);
    ts_free(s);
}

/* ---- a table ---- */

struct tsa_table {
    delta_table *t;
};

int tsa_table_open(tsa_lake *l, const char *root, tsa_table **out, tsa_err *err)
{
    ts_err e;
    tsa_table *t = ts_calloc(1, sizeof *t);
    ts_err_clear(&e);
    *out = NULL;
    if (!t)
        return failf(err, TS_ERR_NOMEM, "out of memory");
    if (delta_table_open(l->lk, root, NULL, &t->t, &e) != TS_OK) {
        ts_free(t);
        return fail(err, &e);
    }
    *out = t;
    return 0;
}

int tsa_table_refresh(tsa_table *t, tsa_err *err)
{
    ts_err e;
    ts_err_clear(&e);
    if (delta_table_refresh(t->t, &e) != TS_OK)
        return fail(err, &e);
    return 0;
}

void tsa_table_free(tsa_table *t)
{
    if (!t)
        return;
    delta_table_free(t->t);
    ts_free(t);
}

int64_t tsa_table_version(const tsa_table *t)
{
    return delta_table_version(t->t);
}

int tsa_table_ncolumns(const tsa_table *t)
{
    const delta_schema *s = delta_table_schema(t->t);
    return s ? delta_schema_ncolumns(s) : 0;
}

const char *tsa_table_column_name(const tsa_table *t, int i)
{
    return delta_schema_column_name(delta_table_schema(t->t), i);
}

const char *tsa_table_column_delta_type(const tsa_table *t, int i)
{
    return delta_schema_column_type(delta_table_schema(t->t), i);
}

const char *tsa_table_column_pg_type(const tsa_table *t, int i)
{
    return delta_schema_column_pg_type(delta_table_schema(t->t), i);
}

size_t tsa_table_nfiles(const tsa_table *t)
{
    return delta_table_nfiles(t->t);
}

int tsa_table_file(tsa_table *t, size_t i, tsa_live_file *out, tsa_err *err)
{
    const delta_file *f = i < delta_table_nfiles(t->t) ? delta_table_file(t->t, i) : NULL;
    if (!f)
        return failf(err, TS_ERR_INTERNAL, "no live file %zu", i);
    out->path = f->path;
    out->size = f->size;
    out->records = f->num_records;
    out->stats = f->stats;
    out->relid = obj_file_tag(f, OBJ_TAG_RELID);
    out->chunk_tag = obj_file_tag(f, OBJ_TAG_CHUNK);
    return 0;
}

int tsa_chunk_tag_parse(const char *tag, char *schema, size_t slen, char *name, size_t nlen)
{
    json_t *j = tag ? json_loads(tag, 0, NULL) : NULL;
    int rc = -1;
    if (j && json_is_array(j) && json_array_size(j) == 2 && json_is_string(json_array_get(j, 0)) &&
        json_is_string(json_array_get(j, 1)) &&
        strlen(json_string_value(json_array_get(j, 0))) < slen &&
        strlen(json_string_value(json_array_get(j, 1))) < nlen) {
        snprintf(schema, slen, "%s", json_string_value(json_array_get(j, 0)));
        snprintf(name, nlen, "%s", json_string_value(json_array_get(j, 1)));
        rc = 0;
    }
    json_decref(j);
    return rc;
}

/* ---- stats ---- */

struct tsa_stats {
    json_t *j; /* NULL: no stats */
};

int tsa_stats_parse(const char *text, tsa_stats **out, tsa_err *err)
{
    tsa_stats *s = ts_calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return failf(err, TS_ERR_NOMEM, "out of memory");
    if (text) {
        s->j = delta_stats_parse(text); /* NULL: malformed stats bound nothing */
    }
    *out = s;
    return 0;
}

void tsa_stats_free(tsa_stats *s)
{
    if (!s)
        return;
    json_decref(s->j);
    ts_free(s);
}

int tsa_stats_bound(const tsa_stats *s, const char *column, bool max, char *buf, size_t len,
                    bool *is_string)
{
    json_t *v = json_object_get(json_object_get(s->j, max ? "maxValues" : "minValues"), column);
    int n;
    *is_string = false;
    if (json_is_string(v)) {
        *is_string = true;
        if (json_string_length(v) >= len || memchr(json_string_value(v), 0, json_string_length(v)))
            return 0;
        memcpy(buf, json_string_value(v), json_string_length(v) + 1);
        return 1;
    }
    if (json_is_integer(v))
        n = snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v) && isfinite(json_real_value(v)))
        n = snprintf(buf, len, "%.17g", json_real_value(v));
    else
        return 0;
    return n > 0 && (size_t)n < len;
}

int tsa_stats_null_count(const tsa_stats *s, const char *column, int64_t *n)
{
    json_t *v = json_object_get(json_object_get(s->j, "nullCount"), column);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    *n = json_integer_value(v);
    return 1;
}

/* ---- a data file ---- */

struct tsa_file {
    tsa_lake *lk;
    char *path;
    int64_t size;
    pq_reader *r;
    const pq_reader_column *fcols;
    int nf;
    pg_columns cols; /* the planned columns (strings owned here) */
    int *fcol;       /* each planned column's file column */
    pg_rowimage *ri;
    ts_buf bound[2]; /* min, max */
};

/* Reads through the lake in pieces, stopping between them when the host asks. */
static int read_at(void *ctx, uint64_t off, void *dst, size_t len, ts_err *err)
{
    tsa_file *f = ctx;
    uint8_t *p = dst;
    while (len > 0) {
        size_t n = len < READ_PIECE ? len : READ_PIECE, got = 0;
        int rc;
        if (f->lk->interrupted && f->lk->interrupted(f->lk->interrupted_ctx))
            return ts_err_set(err, TS_ERR_INTERNAL, "reading \"%s\" interrupted", f->path);
        if ((rc = lake_read(f->lk->lk, f->path, off, n, p, &got, err)) != TS_OK)
            return rc;
        if (got != n)
            return ts_err_set(err, TS_ERR_FORMAT,
                              "object \"%s\" ends at %" PRIu64 " bytes, before the %" PRId64
                              " its log entry gives (truncated?)",
                              f->path, off + got, f->size);
        p += n;
        off += n;
        len -= n;
    }
    return TS_OK;
}

int tsa_file_open(tsa_lake *l, const char *path, int64_t size, int64_t records, size_t max_memory,
                  tsa_file **out, tsa_err *err)
{
    pq_reader_options opt;
    ts_err e;
    tsa_file *f = ts_calloc(1, sizeof *f);
    int rc;
    ts_err_clear(&e);
    *out = NULL;
    if (!f || !(f->path = ts_strdup(path))) {
        ts_free(f);
        return failf(err, TS_ERR_NOMEM, "out of memory");
    }
    f->lk = l;
    f->size = size;
    ts_buf_init(&f->bound[0], 0);
    ts_buf_init(&f->bound[1], 0);
    if (size < 0) {
        rc = ts_err_set(&e, TS_ERR_FORMAT, "its log entry gives a size of %" PRId64, size);
        goto fail;
    }
    pq_reader_options_default(&opt);
    if (max_memory)
        opt.max_alloc_bytes = max_memory;
    if ((rc = pq_reader_open(&f->r, read_at, f, (uint64_t)size, &opt, &e)) != TS_OK)
        goto fail;
    /* the rows the footer claims decide the decoding work (NULL runs cost no bytes):
     * they must be the rows the log recorded */
    if (records >= 0 && pq_reader_num_rows(f->r) != records) {
        rc = ts_err_set(&e, TS_ERR_FORMAT,
                        "the footer says %" PRId64 " rows, its log entry %" PRId64,
                        pq_reader_num_rows(f->r), records);
        goto fail;
    }
    if ((rc = pq_reader_columns(f->r, &f->fcols, &f->nf, &e)) != TS_OK)
        goto fail;
    *out = f;
    return 0;
fail:
    ts_err_prefix(&e, "\"%s\"", path);
    fail(err, &e);
    tsa_file_free(f);
    return rc;
}

void tsa_file_free(tsa_file *f)
{
    if (!f)
        return;
    pg_rowimage_free(f->ri);
    pq_reader_free(f->r);
    for (int j = 0; j < f->cols.ncols; j++) {
        ts_free(f->cols.cols[j].name);
        ts_free(f->cols.cols[j].pg_type);
    }
    ts_free(f->cols.cols);
    ts_free(f->fcol);
    ts_buf_free(&f->bound[0]);
    ts_buf_free(&f->bound[1]);
    ts_free(f->path);
    ts_free(f);
}

int tsa_file_nrow_groups(const tsa_file *f)
{
    return pq_reader_num_row_groups(f->r);
}

int64_t tsa_file_row_group_rows(const tsa_file *f, int g)
{
    const pq_file_meta *m = pq_reader_meta(f->r);
    return g >= 0 && g < m->nrow_groups ? m->row_groups[g].num_rows : 0;
}

static int file_column(const tsa_file *f, const char *name)
{
    for (int i = 0; i < f->nf; i++)
        if (strcmp(f->fcols[i].spec.name, name) == 0)
            return i;
    return -1;
}

bool tsa_file_has_column(const tsa_file *f, const char *name)
{
    return file_column(f, name) >= 0;
}

int tsa_file_plan(tsa_file *f, const tsa_col *cols, int ncols, tsa_err *err)
{
    ts_err e;
    bool *want = NULL;
    int rc = TS_OK;
    ts_err_clear(&e);
    if (f->ri || f->cols.cols)
        return failf(err, TS_ERR_INTERNAL, "\"%s\" is planned already", f->path);
    f->cols.cols = ts_calloc((size_t)(ncols > 0 ? ncols : 1), sizeof *f->cols.cols);
    f->fcol = ts_calloc((size_t)(ncols > 0 ? ncols : 1), sizeof *f->fcol);
    want = ts_calloc((size_t)(f->nf > 0 ? f->nf : 1), sizeof *want);
    if (!f->cols.cols || !f->fcol || !want) {
        rc = ts_err_set(&e, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int j = 0; j < ncols; j++) {
        pg_column *c = &f->cols.cols[j];
        f->cols.ncols = j + 1;
        if (!(c->name = ts_strdup(cols[j].name)) ||
            !(c->pg_type = ts_strdup(cols[j].pg_type ? cols[j].pg_type : "?"))) {
            rc = ts_err_set(&e, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        c->type_oid = cols[j].type_oid;
        c->elem_oid = cols[j].elem_oid;
        c->send_oid = cols[j].type_oid;
        c->typmod = -1;
        c->list = cols[j].is_array;
        c->kind = cols[j].is_enum ? PG_K_ENUM : PG_K_STRING;
        if ((f->fcol[j] = file_column(f, cols[j].name)) < 0) {
            rc = ts_err_set(&e, TS_ERR_INVALID, "the file has no column \"%s\"", cols[j].name);
            goto out;
        }
        want[f->fcol[j]] = true;
    }
    if ((rc = pg_rowimage_new(&f->ri, f->r, &f->cols, &e)) != TS_OK ||
        (rc = pq_reader_select_columns(f->r, want, &e)) != TS_OK)
        goto out;
out:
    ts_free(want);
    if (rc) {
        ts_err_prefix(&e, "\"%s\"", f->path);
        return fail(err, &e);
    }
    return 0;
}

bool tsa_file_is_text(const tsa_file *f, int j)
{
    return f->ri && pg_rowimage_is_text(f->ri, j);
}

int tsa_file_rg_bound(tsa_file *f, int j, int g, bool max, const uint8_t **data, int32_t *len,
                      tsa_err *err)
{
    const pq_file_meta *m = pq_reader_meta(f->r);
    ts_err e;
    if (!f->ri || j < 0 || j >= f->cols.ncols || g < 0 || g >= m->nrow_groups)
        return 0;
    const pq_reader_column *fc = &f->fcols[f->fcol[j]];
    if (fc->spec.list || pg_rowimage_is_text(f->ri, j))
        return 0;
    const pq_chunk_meta *cm = &m->row_groups[g].columns[fc->leaf];
    if (!cm->has_meta || !cm->has_stats)
        return 0;
    const pq_stats *st = &cm->stats;
    int phys = fc->spec.physical;
    if (phys == PQ_BYTE_ARRAY || phys == PQ_FIXED_LEN_BYTE_ARRAY) {
        /* only the type-defined order: the deprecated fields compared bytes as signed */
        if (st->legacy || fc->leaf >= m->ncolumn_orders || m->column_orders[fc->leaf] != 1)
            return 0;
    }
    if (max) {
        if (!st->has_max || pg_rowimage_has_exceptions(f->ri, j))
            return 0;
        if ((phys == PQ_FLOAT || phys == PQ_DOUBLE) && !(st->has_nan_count && st->nan_count == 0))
            return 0; /* a NaN, above every number in PostgreSQL, may hide above the max */
    } else if (!st->has_min) {
        return 0;
    }
    const uint8_t *plain = max ? st->max : st->min;
    size_t plen = max ? st->max_len : st->min_len;
    if (phys == PQ_FLOAT && plen == 4) {
        float x;
        memcpy(&x, plain, 4); /* little-endian hosts only, as the reader */
        if (isnan(x))
            return 0;
    } else if (phys == PQ_DOUBLE && plen == 8) {
        double x;
        memcpy(&x, plain, 8);
        if (isnan(x))
            return 0;
    }
    ts_buf *b = &f->bound[max ? 1 : 0];
    ts_err_clear(&e);
    int rc = pg_rowimage_plain_value(f->ri, j, plain, plen, b, &e);
    if (rc == TS_ERR_NOMEM)
        return fail(err, &e);
    if (rc != TS_OK || b->len < 4)
        return 0; /* a statistic that does not convert bounds nothing */
    *len = (int32_t)pg_be32(b->data);
    if (*len < 0 || (size_t)*len != b->len - 4)
        return 0;
    *data = b->data + 4;
    return 1;
}

int tsa_file_rg_null_count(tsa_file *f, int j, int g, int64_t *n)
{
    const pq_file_meta *m = pq_reader_meta(f->r);
    if (!f->ri || j < 0 || j >= f->cols.ncols || g < 0 || g >= m->nrow_groups)
        return 0;
    const pq_reader_column *fc = &f->fcols[f->fcol[j]];
    const pq_chunk_meta *cm = &m->row_groups[g].columns[fc->leaf];
    if (fc->spec.list || !cm->has_meta || !cm->has_stats || !cm->stats.has_null_count ||
        cm->stats.null_count < 0)
        return 0;
    *n = cm->stats.null_count;
    return 1;
}

int tsa_file_select_row_groups(tsa_file *f, const bool *want, tsa_err *err)
{
    ts_err e;
    ts_err_clear(&e);
    if (pq_reader_select_row_groups(f->r, want, &e) != TS_OK)
        return fail(err, &e);
    return 0;
}

int tsa_file_next(tsa_file *f, tsa_err *err)
{
    ts_err e;
    int rc;
    if (!f->ri)
        return failf(err, TS_ERR_INTERNAL, "\"%s\" is not planned", f->path);
    ts_err_clear(&e);
    rc = pg_rowimage_next(f->ri, &e);
    if (rc < 0) {
        ts_err_prefix(&e, "\"%s\"", f->path);
        return fail(err, &e);
    }
    return rc;
}

void tsa_file_field(const tsa_file *f, int j, const uint8_t **data, int32_t *len)
{
    const pg_copy_field *fl = pg_rowimage_fields(f->ri);
    *data = fl[j].data;
    *len = fl[j].len;
}
