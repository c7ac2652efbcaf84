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
