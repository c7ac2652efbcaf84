/* restore.c: Parquet -> PostgreSQL. Checks the file's columns against the table's,
 * plans every column (rowimage.h: which binary encoding, or text plus a cast through a
 * temporary table) before a single row is sent, then streams the rows as binary COPY
 * in one transaction. Stored generated columns are left to the server. */
#include "restore.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/log.h"
#include "conn.h"
#include "copybin.h"
#include "export.h"
#include "parquet/reader.h"
#include "rowimage.h"
#include "types.h"

#define SEND_CHUNK (1 << 20)

/* The recorded [schema, name] pair of key, or NULLs. */
static void kv_pair(const pq_reader *r, const char *key, char **a, char **b)
{
    const char *s = pq_reader_kv(r, key);
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    *a = *b = NULL;
    if (j && json_is_array(j) && json_array_size(j) == 2 && json_is_string(json_array_get(j, 0)) &&
        json_is_string(json_array_get(j, 1))) {
        *a = ts_strdup(json_string_value(json_array_get(j, 0)));
        *b = ts_strdup(json_string_value(json_array_get(j, 1)));
    }
    json_decref(j);
}

/* Re-creates a dropped native partition from its recorded bounds. */
static int recreate_partition(PGconn *c, const pq_reader *rd, const char *tschema,
                              const char *tname, const char *qtable, ts_err *err)
{
    char *cs = NULL, *cn = NULL, *qchunk = NULL, *lo = NULL, *hi = NULL;
    const char *rs = pq_reader_kv(rd, PG_KV_RANGE);
    json_t *range = rs ? json_loads(rs, 0, NULL) : NULL;
    const char *from = json_string_value(json_object_get(range, "partition_from"));
    const char *to = json_string_value(json_object_get(range, "partition_to"));
    PGresult *r = NULL;
    ts_buf sql;
    int rc = TS_OK;
    ts_buf_init(&sql, 0);
    kv_pair(rd, PG_KV_CHUNK, &cs, &cn);
    if (!from || !to || !cs || !cn)
        goto out;
    const char *params[4] = {cs, cn, tschema, tname};
    r = pg_query(c,
                 "SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NULL AND EXISTS ("
                 " SELECT 1 FROM pg_catalog.pg_partitioned_table pt"
                 " JOIN pg_catalog.pg_class pc ON pc.oid = pt.partrelid"
                 " JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace"
                 " WHERE pn.nspname = $3 AND pc.relname = $4 AND pt.partstrat = 'r')",
                 4, params, err);
    if (!r) {
        rc = err->code;
        goto out;
    }
    if (PQgetvalue(r, 0, 0)[0] != 't')
        goto out;
    qchunk = pg_qualified_name(c, cs, cn, err);
    lo = strcmp(from, "MINVALUE") == 0 ? ts_strdup("MINVALUE") : pg_quote_literal(c, from, err);
    hi = strcmp(to, "MAXVALUE") == 0 ? ts_strdup("MAXVALUE") : pg_quote_literal(c, to, err);
    if (!qchunk || !lo || !hi) {
        rc = err->code ? err->code : ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (ts_buf_printf(&sql, "CREATE TABLE %s PARTITION OF %s FOR VALUES FROM (%s) TO (%s)", qchunk,
                      qtable, lo, hi)) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = pg_exec(c, ts_buf_cstr(&sql), err);
    if (!rc)
        ts_info("re-created partition %s of %s", qchunk, qtable);
out:
    PQclear(r);
    json_decref(range);
    ts_buf_free(&sql);
    ts_free(cs);
    ts_free(cn);
    ts_free(qchunk);
    ts_free(lo);
    ts_free(hi);
    return rc;
}

/* Appends the quoted names of cols, comma-separated. */
static int name_list(PGconn *c, const pg_columns *cols, ts_buf *out, ts_err *err)
{
    for (int j = 0; j < cols->ncols; j++) {
        char *q = pg_quote_ident(c, cols->cols[j].name, err);
        if (!q)
            return err->code ? err->code : ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        int rc = ts_buf_printf(out, "%s%s", j ? ", " : "", q);
        ts_free(q);
        if (rc)
            return ts_err_set(err, rc, "out of memory");
    }
    return TS_OK;
}

int pg_restore_reader(PGconn *c, pq_reader *rd, const char *label, const pg_restore_options *opt,
                      pg_restore_result *res, ts_err *err)
{
    const pq_reader_column *fcols = NULL;
    int nf = 0, rc;
    char *tschema = NULL, *tname = NULL, *qtable = NULL;
    pg_columns *tcols = NULL;
    pg_columns sent = {NULL, 0}; /* the columns COPY fills: all but stored generated */
    pg_rowimage *ri = NULL;
    json_t *meta_cols = NULL;
    ts_buf sql, row, list;
    bool staged = false, in_tx = false, in_copy = false, override = false;
    PGresult *r = NULL;
    int64_t rows = 0;

    memset(res, 0, sizeof *res);
    ts_buf_init(&sql, 0);
    ts_buf_init(&row, 0);
    ts_buf_init(&list, 0);

    rc = pq_reader_columns(rd, &fcols, &nf, err);
    if (rc)
        goto out;
    if (opt && opt->into_table) {
        tschema = ts_strdup(opt->into_schema ? opt->into_schema : "public");
        tname = ts_strdup(opt->into_table);
    } else {
        kv_pair(rd, PG_KV_TABLE, &tschema, &tname);
        if (!tschema) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "the file names no table (no tsarchive metadata); use --into");
            goto out;
        }
    }
    if (!tschema || !tname) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    qtable = pg_qualified_name(c, tschema, tname, err);
    if (!qtable) {
        rc = err->code;
        goto out;
    }
    snprintf(res->table, sizeof res->table, "%s", qtable);
    rc = pg_columns_load(c, tschema, tname, &tcols, err);
    if (rc)
        goto out;

    /* ---- check and plan every column before anything is written ---- */
    const char *mc = pq_reader_kv(rd, PG_KV_COLUMNS);
    meta_cols = mc ? json_loads(mc, 0, NULL) : NULL;
    for (int i = 0; i < nf; i++) {
        bool found = false;
        for (int j = 0; j < tcols->ncols; j++)
            found = found || strcmp(fcols[i].spec.name, tcols->cols[j].name) == 0;
        if (!found) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "column mismatch: the file's column \"%s\" is not in %s",
                            fcols[i].spec.name, qtable);
            goto out;
        }
    }
    sent.cols = ts_calloc((size_t)tcols->ncols, sizeof *sent.cols);
    if (!sent.cols) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int j = 0; j < tcols->ncols; j++) {
        const pg_column *t = &tcols->cols[j];
        int fcol = -1;
        for (int i = 0; i < nf; i++)
            if (strcmp(fcols[i].spec.name, t->name) == 0)
                fcol = i;
        if (fcol < 0 && !t->generated) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "column mismatch: %s has column \"%s\", the file does not", qtable,
                            t->name);
            goto out;
        }
        /* a tsarchive file records each column's PostgreSQL type: it must be the same */
        json_t *m = fcol >= 0 ? json_array_get(meta_cols, (size_t)fcol) : NULL;
        const char *ft = json_string_value(json_object_get(m, "pg_type"));
        if (ft && strcmp(ft, t->pg_type) != 0) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "column mismatch: \"%s\" is %s in the file but %s in %s", t->name, ft,
                            t->pg_type, qtable);
            goto out;
        }
        if (t->generated) /* GENERATED ALWAYS AS (...) STORED: the server computes it */
            continue;
        override = override || t->identity == 'a';
        sent.cols[sent.ncols++] = *t; /* borrows t's strings */
    }
    rc = pg_rowimage_new(&ri, rd, &sent, err);
    if (rc)
        goto out;
    for (int j = 0; j < sent.ncols; j++)
        staged = staged || pg_rowimage_is_text(ri, j);
    rc = name_list(c, &sent, &list, err);
    if (rc)
        goto out;

    /* ---- one transaction ---- */
    rc = pg_exec(c, "BEGIN", err);
    if (rc)
        goto out;
    in_tx = true;
    if (!opt || !opt->into_table) {
        rc = recreate_partition(c, rd, tschema, tname, qtable, err);
        if (rc)
            goto out;
    }
    if (staged) {
        rc = ts_buf_printf(&sql, "CREATE TEMP TABLE tsarchive_restore (");
        for (int j = 0; !rc && j < sent.ncols; j++) {
            char *q = pg_quote_ident(c, sent.cols[j].name, err);
            if (!q) {
                rc = err->code;
                goto out;
            }
            rc = ts_buf_printf(&sql, "%s%s %s", j ? ", " : "", q,
                               pg_rowimage_is_text(ri, j) ? "text" : sent.cols[j].pg_type);
            ts_free(q);
        }
        if (!rc)
            rc = ts_buf_printf(&sql, ") ON COMMIT DROP");
        if (rc) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        rc = pg_exec(c, ts_buf_cstr(&sql), err);
        if (rc)
            goto out;
        ts_buf_reset(&sql);
        rc = ts_buf_printf(&sql, "COPY pg_temp.tsarchive_restore FROM STDIN (FORMAT binary)");
    } else {
        /* COPY writes identity columns, ALWAYS ones included, with the values given */
        rc = ts_buf_printf(&sql, "COPY %s (%s) FROM STDIN (FORMAT binary)", qtable,
                           ts_buf_cstr(&list));
    }
    if (rc) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    r = PQexec(c, ts_buf_cstr(&sql));
    if (!r || PQresultStatus(r) != PGRES_COPY_IN) {
        rc = pg_set_error(err, c, r, "could not start COPY");
        goto out;
    }
    PQclear(r);
    r = NULL;
    in_copy = true;
    uint8_t hdr[19];
    memcpy(hdr, pg_copy_signature, 11);
    memset(hdr + 11, 0, 8);
    if (ts_buf_append(&row, hdr, sizeof hdr)) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        int more = pg_rowimage_next(ri, err);
        if (more < 0) {
            rc = more;
            goto out;
        }
        if (more == 0)
            break;
        size_t tl;
        const uint8_t *tuple = pg_rowimage_tuple(ri, &tl);
        if (ts_buf_append(&row, tuple, tl)) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        rows++;
        if (row.len >= SEND_CHUNK) {
            if (PQputCopyData(c, (const char *)row.data, (int)row.len) != 1) {
                rc = pg_set_error(err, c, NULL, "sending rows failed");
                goto out;
            }
            ts_buf_reset(&row);
        }
    }
    uint8_t trailer[2] = {0xff, 0xff};
    if (ts_buf_append(&row, trailer, 2)) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (PQputCopyData(c, (const char *)row.data, (int)row.len) != 1 || PQputCopyEnd(c, NULL) != 1) {
        rc = pg_set_error(err, c, NULL, "sending rows failed");
        goto out;
    }
    in_copy = false;
    r = PQgetResult(c);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = pg_set_error(err, c, r, "COPY failed");
        goto out;
    }
    PQclear(r);
    while ((r = PQgetResult(c)) != NULL)
        PQclear(r);
    if (staged) {
        /* INSERT, unlike COPY, refuses values for GENERATED ALWAYS identity columns
         * unless told to keep them */
        ts_buf_reset(&sql);
        rc = ts_buf_printf(&sql, "INSERT INTO %s (%s)%s SELECT ", qtable, ts_buf_cstr(&list),
                           override ? " OVERRIDING SYSTEM VALUE" : "");
        for (int j = 0; !rc && j < sent.ncols; j++) {
            char *q = pg_quote_ident(c, sent.cols[j].name, err);
            if (!q) {
                rc = err->code;
                goto out;
            }
            bool text = pg_rowimage_is_text(ri, j);
            rc = ts_buf_printf(&sql, "%s%s%s%s", j ? ", " : "", q, text ? "::" : "",
                               text ? sent.cols[j].pg_type : "");
            ts_free(q);
        }
        if (!rc)
            rc = ts_buf_printf(&sql, " FROM pg_temp.tsarchive_restore");
        if (rc) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        rc = pg_exec(c, ts_buf_cstr(&sql), err);
        if (rc)
            goto out;
    }
    rc = pg_exec(c, "COMMIT", err);
    in_tx = false;
    if (rc)
        goto out;
    res->rows = rows;
out:
    if (in_copy) {
        if (PQputCopyEnd(c, "restore aborted by tsarchive") == 1)
            while ((r = PQgetResult(c)) != NULL)
                PQclear(r);
    }
    if (in_tx && PQstatus(c) == CONNECTION_OK) {
        ts_err ignore;
        ts_err_clear(&ignore);
        if (pg_exec(c, "ROLLBACK", &ignore) != TS_OK)
            ts_debug("rollback failed: %s", ignore.msg);
    }
    if (rc && label)
        ts_err_prefix(err, "restoring \"%s\"", label);
    PQclear(r);
    json_decref(meta_cols);
    pg_rowimage_free(ri);
    ts_free(sent.cols);
    pg_columns_free(tcols);
    ts_free(tschema);
    ts_free(tname);
    ts_free(qtable);
    ts_buf_free(&sql);
    ts_buf_free(&row);
    ts_buf_free(&list);
    return rc;
}

int pg_restore_file(PGconn *c, const char *path, const pg_restore_options *opt,
                    pg_restore_result *res, ts_err *err)
{
    pq_reader *rd = NULL;
    int rc = pq_reader_open_file(&rd, path, NULL, err);
    if (rc) {
        memset(res, 0, sizeof *res);
        ts_err_prefix(err, "restoring \"%s\"", path);
        return rc;
    }
    rc = pg_restore_reader(c, rd, path, opt, res, err);
    pq_reader_free(rd);
    return rc;
}
