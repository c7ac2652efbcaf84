/* proof_file.c: the change proof of an archived file's rows, read back (the licence to
 * drop): every row decoded into the binary image record_send() builds, hashed as at
 * export, so the result equals the export's proof exactly when the file holds the
 * exported rows. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "conn.h"
#include "export.h"
#include "proof.h"
#include "rowimage.h"
#include "types.h"

/* The chunk's columns as the file says they were exported: the live catalog's type
 * OIDs and typmods, the file's choice of native, list or ::text per column. */
static int exported_columns(const json_t *meta, const pg_columns *live, pg_columns *out,
                            ts_err *err)
{
    size_t n = json_array_size(meta);
    if (!json_is_array(meta) || n == 0 || n > 1600)
        return ts_err_set(err, TS_ERR_FORMAT, "malformed \"%s\" metadata", PG_KV_COLUMNS);
    out->cols = ts_calloc(n, sizeof *out->cols);
    if (!out->cols)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(meta, i);
        const char *name = json_string_value(json_object_get(o, "name"));
        const char *type = json_string_value(json_object_get(o, "pg_type"));
        const char *mapping = json_string_value(json_object_get(o, "mapping"));
        const json_t *list = json_object_get(o, "list");
        const json_t *oid = json_object_get(o, "type_oid");
        const pg_column *t = NULL;
        if (!name || !type || !mapping || !json_is_boolean(list))
            return ts_err_set(err, TS_ERR_FORMAT, "malformed \"%s\" metadata (column %zu)",
                              PG_KV_COLUMNS, i + 1);
        for (int j = 0; j < live->ncols && !t; j++)
            if (strcmp(live->cols[j].name, name) == 0)
                t = &live->cols[j];
        if (!t)
            return ts_err_set(err, TS_ERR_CONFLICT, "the file's column \"%s\" is not in the chunk",
                              name);
        if (strcmp(t->pg_type, type) != 0 ||
            (json_is_integer(oid) && json_integer_value(oid) != (json_int_t)t->type_oid))
            return ts_err_set(err, TS_ERR_CONFLICT,
                              "column \"%s\" is %s (OID %" JSON_INTEGER_FORMAT
                              ") in the file but %s (OID %u) in the chunk",
                              name, type, json_integer_value(oid), t->pg_type, t->type_oid);
        pg_column m = *t; /* borrows t's strings */
        if (strcmp(mapping, "text") == 0) {
            m.as_text = true;
            m.list = false;
            m.send_oid = PG_OID_TEXT;
            m.kind = PG_K_STRING;
        } else if (t->as_text || strcmp(mapping, pg_kind_name(t->kind)) != 0 ||
                   (json_is_true(list) && !t->list)) {
            return ts_err_set(err, TS_ERR_CONFLICT,
                              "column \"%s\" (%s) was exported as %s%s, which its type does not "
                              "map to",
                              name, type, json_is_true(list) ? "a list of " : "", mapping);
        } else {
            m.list = json_is_true(list);
        }
        out->cols[out->ncols++] = m;
    }
    return 0;
}

/* Hands every row of ri, as a binary COPY stream, to the ring. */
static int stream_rows(pg_rowimage *ri, pg_copy_ring *ring, ts_err *err)
{
    static const uint8_t header[19] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
    static const uint8_t trailer[2] = {0xff, 0xff};
    ts_buf *b = pg_copy_ring_claim(ring);
    int more, rc;
    if (!b)
        return TS_ERR_INTERNAL; /* the hasher failed: the ring says why */
    if (ts_buf_append(b, header, sizeof header))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    while ((more = pg_rowimage_next(ri, err)) == 1) {
        size_t len;
        const uint8_t *t = pg_rowimage_tuple(ri, &len);
        if (b->len > 0 && b->len + len > PG_RING_BLOCK_BYTES) {
            pg_copy_ring_publish(ring, false);
            if (!(b = pg_copy_ring_claim(ring)))
                return TS_ERR_INTERNAL;
        }
        if ((rc = ts_buf_append(b, t, len)) != 0)
            return ts_err_set(err, rc, "out of memory");
    }
    if (more < 0)
        return more;
    if (ts_buf_append(b, trailer, sizeof trailer))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    pg_copy_ring_publish(ring, true);
    return 0;
}

int pg_proof_of_file(PGconn *c, pq_reader *r, const char *chunk_schema, const char *chunk_name,
                     char proof[PG_PROOF_MAX], ts_err *err)
{
    pg_columns *live = NULL;
    pg_columns exp = {NULL, 0};
    pg_rowimage *ri = NULL;
    pg_copy_ring *ring = NULL;
    pg_proof_thread *hasher = NULL;
    json_t *meta = NULL;
    uint32_t *oids = NULL;
    pg_proof pr;
    ts_buf list;
    int rc, more;

    proof[0] = 0;
    memset(&pr, 0, sizeof pr);
    ts_buf_init(&list, 0);
    const char *mc = pq_reader_kv(r, PG_KV_COLUMNS);
    if (!mc) {
        rc = ts_err_set(err, TS_ERR_INVALID,
                        "the file has no \"%s\" metadata (not a tsarchive "
                        "export)",
                        PG_KV_COLUMNS);
        goto out;
    }
    meta = json_loads(mc, 0, NULL);
    rc = pg_columns_load(c, chunk_schema, chunk_name, &live, err);
    if (!rc)
        rc = exported_columns(meta, live, &exp, err);
    if (!rc)
        rc = pg_columns_select_list(c, &exp, &list, err);
    if (rc)
        goto out;
    pg_proof_set_columns(&pr, ts_buf_cstr(&list));
    oids = ts_calloc((size_t)exp.ncols, sizeof *oids);
    if (!oids) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int j = 0; j < exp.ncols; j++)
        oids[j] = exp.cols[j].send_oid;
    rc = pg_rowimage_new(&ri, r, &exp, err);
    if (rc)
        goto out;
    for (int j = 0; j < exp.ncols; j++) {
        /* a ::text column hashes its text; any other must decode to its type's bytes */
        if (pg_rowimage_is_text(ri, j) != exp.cols[j].as_text) {
            rc = ts_err_set(err, TS_ERR_FORMAT,
                            "column \"%s\" (%s): the file's Parquet type does not hold what the "
                            "export wrote",
                            exp.cols[j].name, exp.cols[j].pg_type);
            goto out;
        }
    }
    /* the rows go to a thread that hashes them, as binary COPY (copybin.h) */
    ring = pg_copy_ring_new(1);
    if (!ring) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (!(hasher = pg_proof_thread_start(ring, 0, exp.ncols, oids, &pr, err))) {
        rc = err->code;
        goto out;
    }
    rc = stream_rows(ri, ring, err);
    if (rc && err->code)
        pg_copy_ring_fail(ring, err); /* stops the hasher */
    more = pg_proof_thread_join(hasher);
    hasher = NULL;
    if ((rc && !err->code) || (!rc && more)) /* the hasher's failure */
        rc = pg_copy_ring_error(ring, err);
    if (rc)
        goto out;
    if (pr.rows != pq_reader_num_rows(r)) {
        rc = ts_err_set(err, TS_ERR_FORMAT, "read %" PRId64 " rows, the footer says %" PRId64,
                        pr.rows, pq_reader_num_rows(r));
        goto out;
    }
    pg_proof_format(&pr, proof);
out:
    if (rc)
        ts_err_prefix(err, "proof of the archive of \"%s\".\"%s\"", chunk_schema, chunk_name);
    if (hasher) {
        pg_copy_ring_fail(ring, err);
        (void)pg_proof_thread_join(hasher);
    }
    pg_copy_ring_free(ring);
    pg_rowimage_free(ri);
    json_decref(meta);
    ts_free(oids);
    ts_free(exp.cols);
    pg_columns_free(live);
    ts_buf_free(&list);
    return rc;
}
