/* proof.c: pg_chunk_unchanged(): the change proof recomputed in SQL at drop time. */
#include "proof.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "conn.h"
#include "types.h"

/* The export may have sent list columns as ::text (pg_export_options.text_columns:
 * the table's log stores them so): the proof names its SELECT list only by a digest, so
 * each choice of such columns is tried until one gives the proof's digest (a handful of
 * array columns at most; the rows are then hashed with that list, as before). On a
 * match, list and got hold that choice's SELECT list and digest. */
static int match_text_columns(PGconn *c, pg_columns *cols, const pg_proof *want, ts_buf *list,
                              pg_proof *got, ts_err *err)
{
    enum { MAX_TRIED = 10 };
    int idx[MAX_TRIED], k = 0, rc;
    for (int i = 0; i < cols->ncols && k < MAX_TRIED; i++)
        if (cols->cols[i].list)
            idx[k++] = i;
    for (unsigned mask = 1; k > 0 && mask < (1u << k); mask++) {
        pg_column tried[MAX_TRIED];
        for (int b = 0; b < k; b++) {
            tried[b] = cols->cols[idx[b]];
            if (mask & (1u << b))
                pg_column_to_text(&cols->cols[idx[b]]);
        }
        ts_buf_reset(list);
        rc = pg_columns_select_list(c, cols, list, err);
        if (!rc)
            pg_proof_set_columns(got, ts_buf_cstr(list));
        if (rc || strcmp(got->columns, want->columns) == 0)
            return rc;
        for (int b = 0; b < k; b++)
            cols->cols[idx[b]] = tried[b];
    }
    return TS_OK;
}

int pg_chunk_unchanged(PGconn *c, const char *chunk_schema, const char *chunk_name,
                       const char *proof, ts_err *err)
{
    pg_proof want, got;
    pg_columns *cols = NULL;
    ts_buf list, sql;
    char *rel = NULL, sum[48];
    PGresult *r = NULL;
    int rc;
    ts_buf_init(&list, 0);
    ts_buf_init(&sql, 0);
    memset(&got, 0, sizeof got);
    rc = pg_proof_parse(proof, &want, err);
    if (rc)
        goto out;
    rc = pg_session_setup(c, 1, err);
    if (rc)
        goto out;
    rc = pg_columns_load(c, chunk_schema, chunk_name, &cols, err);
    if (rc)
        goto out;
    rel = pg_qualified_name(c, chunk_schema, chunk_name, err);
    if (!rel) {
        rc = err->code;
        goto out;
    }
    rc = pg_columns_probe_arrays(c, cols, rel, "", err);
    if (!rc)
        rc = pg_columns_select_list(c, cols, &list, err);
    if (rc)
        goto out;
    pg_proof_set_columns(&got, ts_buf_cstr(&list));
    if (strcmp(got.columns, want.columns) != 0 &&
        (rc = match_text_columns(c, cols, &want, &list, &got, err)) != 0)
        goto out;
    if (strcmp(got.columns, want.columns) != 0) {
        rc = ts_err_set(err, TS_ERR_CONFLICT,
                        "chunk \"%s\".\"%s\" changed since export: its columns differ",
                        chunk_schema, chunk_name);
        goto out;
    }
    rc = ts_buf_printf(&sql,
                       "SELECT count(*), coalesce(sum(hashtextextended(encode(record_send("
                       "ROW(%s)), 'hex'), 0)), 0) FROM %s AS t",
                       ts_buf_cstr(&list), rel);
    if (rc) {
        rc = ts_err_set(err, rc, "out of memory");
        goto out;
    }
    r = pg_query(c, ts_buf_cstr(&sql), 0, NULL, err);
    if (!r) {
        rc = err->code;
        goto out;
    }
    got.rows = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    const char *s = PQgetvalue(r, 0, 1);
    if (pg_i128_parse(s, s + strlen(s), &got.sum)) {
        rc = ts_err_set(err, TS_ERR_FORMAT, "unexpected hash sum \"%.60s\" from the server", s);
        goto out;
    }
    if (got.rows != want.rows) {
        rc = ts_err_set(err, TS_ERR_CONFLICT,
                        "chunk \"%s\".\"%s\" changed since export: %" PRId64 " rows, %" PRId64
                        " exported",
                        chunk_schema, chunk_name, got.rows, want.rows);
        goto out;
    }
    if (got.sum != want.sum) {
        pg_i128_format(got.sum, sum);
        rc = ts_err_set(err, TS_ERR_CONFLICT,
                        "chunk \"%s\".\"%s\" changed since export: same row count (%" PRId64
                        "), different contents (row hash sum %s)",
                        chunk_schema, chunk_name, got.rows, sum);
        goto out;
    }
    rc = TS_OK;
out:
    PQclear(r);
    ts_free(rel);
    ts_buf_free(&list);
    ts_buf_free(&sql);
    pg_columns_free(cols);
    return rc;
}
