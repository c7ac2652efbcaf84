/* export.c: chunk -> Parquet: binary COPY decoded row by row into the writer, the
 * change proof alongside, metadata in the footer, and the durable file variant. */
#include "export.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/durable.h"
#include "common/log.h"
#include "conn.h"
#include "copybin.h"
#include "types.h"

#define PROGRESS_EVERY 65536
#define MAX_EXCEPTIONS 100000

void pg_export_source_of_chunk(const pg_chunk *ch, pg_export_source *src)
{
    src->table_schema = ch->table_schema;
    src->table_name = ch->table_name;
    src->chunk_schema = ch->chunk_schema;
    src->chunk_name = ch->chunk_name;
    src->range_start = ch->has_start ? ch->range_start : NULL;
    src->range_end = ch->has_end ? ch->range_end : NULL;
    src->bound_from = ch->bound_from;
    src->bound_to = ch->bound_to;
    src->partition_parent_schema = src->partition_parent_name = src->partition_bound = NULL;
    if (ch->partition_level > 1) {
        src->partition_parent_schema = ch->parent_schema;
        src->partition_parent_name = ch->parent_name;
        src->partition_bound = ch->partition_bound;
    }
    src->time_unit = src->range_start_time = src->range_end_time = NULL;
    if (ch->integer_range && ch->time_known) {
        src->time_unit = ts_time_unit_name(ch->time_unit);
        src->range_start_time = ch->has_start ? ch->range_start_time : NULL;
        src->range_end_time = ch->has_end ? ch->range_end_time : NULL;
    }
}

void pg_export_options_init(pg_export_options *opt, const ts_config *cfg)
{
    memset(opt, 0, sizeof *opt);
    pq_writer_options_default(&opt->writer);
    if (!cfg)
        return;
    if (cfg->parquet.compression && *cfg->parquet.compression) {
        int codec = pq_codec_parse(cfg->parquet.compression);
        if (codec >= 0)
            opt->writer.codec = (pq_codec)codec;
    }
    if (cfg->parquet.compression_level)
        opt->writer.codec_level = cfg->parquet.compression_level;
    if (cfg->parquet.row_group_rows > 0)
        opt->writer.row_group_rows = cfg->parquet.row_group_rows;
    if (cfg->parquet.row_group_mb > 0)
        opt->writer.row_group_bytes = (int64_t)cfg->parquet.row_group_mb << 20;
    if (cfg->parquet.page_kb > 0)
        opt->writer.page_bytes = (int64_t)cfg->parquet.page_kb << 10;
    opt->writer.dictionary = cfg->parquet.dictionary;
}

typedef struct export_state {
    pq_writer *w;
    const pg_columns *cols;
    uint32_t *oids;
    pg_proof proof;
    json_t *exc;     /* {"column": [[row, "exact value"], ...]} */
    json_t *bitmaps; /* {"column": [[first_row, rows], ...]}, see export.h */
    int nexc;
    const pg_export_options *opt;
    int64_t next_progress;
    pg_copy_decoder *dec;
} export_state;

static int writer_error(export_state *st, int rc, ts_err *err)
{
    const ts_err *we = st->w ? pq_writer_error(st->w) : NULL;
    if (we && we->code)
        return ts_err_set(err, we->code, "%s", we->msg);
    return ts_err_set(err, rc, "parquet writer failed (%s)", ts_err_name(rc));
}

/* Records that the current row's array in column name keeps a NULL bitmap: extends
 * the column's last run of rows, or starts one (a run counts as one exception). */
static int note_bitmap(export_state *st, const char *name, ts_err *err)
{
    json_t *a = json_object_get(st->bitmaps, name);
    int64_t row = st->proof.rows;
    if (!a) {
        a = json_array();
        if (!a || json_object_set_new(st->bitmaps, name, a))
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    }
    json_t *last = json_array_get(a, json_array_size(a) - 1);
    if (last) {
        json_int_t first = json_integer_value(json_array_get(last, 0));
        json_int_t n = json_integer_value(json_array_get(last, 1));
        if (first + n == row)
            return json_array_set_new(last, 1, json_integer(n + 1))
                       ? ts_err_set(err, TS_ERR_NOMEM, "out of memory")
                       : 0;
    }
    if (++st->nexc > MAX_EXCEPTIONS)
        return ts_err_set(err, TS_ERR_TOOBIG,
                          "more than %d values that need an exception entry (numeric NaN, "
                          "timestamps past 294247 AD, runs of arrays with a NULL bitmap)",
                          MAX_EXCEPTIONS);
    if (json_array_append_new(a, json_pack("[I,I]", (json_int_t)row, (json_int_t)1)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    return 0;
}

static int on_row(void *ctx, const pg_copy_field *f, int nfields, ts_err *err)
{
    export_state *st = ctx;
    int rc;
    for (int i = 0; i < nfields; i++) {
        char exc[PG_EXC_MAX];
        rc = pg_value_write(st->w, i, &st->cols->cols[i], f[i].data, f[i].len, exc, err);
        if (rc)
            return err->code ? err->code : writer_error(st, rc, err);
        if (exc[0] && st->cols->cols[i].list) {
            if ((rc = note_bitmap(st, st->cols->cols[i].name, err)) != 0)
                return rc;
        } else if (exc[0]) {
            json_t *a = json_object_get(st->exc, st->cols->cols[i].name);
            if (++st->nexc > MAX_EXCEPTIONS)
                return ts_err_set(err, TS_ERR_TOOBIG,
                                  "more than %d values that need an exception entry (numeric NaN, "
                                  "timestamps past 294247 AD)",
                                  MAX_EXCEPTIONS);
            if (!a) {
                a = json_array();
                if (!a || json_object_set_new(st->exc, st->cols->cols[i].name, a))
                    return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            }
            if (json_array_append_new(a, json_pack("[I,s]", (json_int_t)st->proof.rows, exc)))
                return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        }
    }
    rc = pq_writer_end_rows(st->w);
    if (rc)
        return writer_error(st, rc, err);
    if (st->opt->no_proof)
        st->proof.rows++;
    else
        pg_proof_add_row(&st->proof, f, nfields, st->oids);
    if (st->opt->progress && st->proof.rows >= st->next_progress) {
        st->next_progress += PROGRESS_EVERY;
        st->opt->progress(st->opt->progress_ctx, st->proof.rows, pg_copy_decoder_bytes(st->dec));
    }
    return 0;
}

static char *columns_json(const pg_columns *cols)
{
    json_t *a = json_array();
    char *s = NULL;
    if (!a)
        return NULL;
    for (int i = 0; i < cols->ncols; i++) {
        const pg_column *m = &cols->cols[i];
        json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:b, s:b}", "name", m->name, "pg_type",
                              m->pg_type, "type_oid", (json_int_t)m->type_oid, "mapping",
                              m->as_text ? "text" : pg_kind_name(m->kind), "list", m->list,
                              "not_null", m->not_null);
        if (!o || json_array_append_new(a, o))
            goto out;
    }
    s = json_dumps(a, JSON_COMPACT);
out:
    json_decref(a);
    return s;
}

static int add_kv_json(pq_writer *w, const char *key, json_t *v, ts_err *err)
{
    char *s;
    int rc;
    if (!v)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (!s)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    rc = pq_writer_add_kv(w, key, s);
    free(s);
    return rc ? ts_err_set(err, rc, "could not add metadata \"%s\"", key) : TS_OK;
}

/* Ends a COPY OUT that we stop reading early: cancel, drain, collect the result. */
static void abandon_copy(PGconn *c)
{
    char *buf;
    int n;
    PGcancel *cn = PQgetCancel(c);
    PGresult *r;
    if (cn) {
        char e[256];
        (void)PQcancel(cn, e, sizeof e);
        PQfreeCancel(cn);
    }
    while ((n = PQgetCopyData(c, &buf, 0)) > 0)
        PQfreemem(buf);
    while ((r = PQgetResult(c)) != NULL)
        PQclear(r);
}

int pg_export(PGconn *c, const pg_export_source *src, const pg_export_options *opt, pq_sink_fn sink,
              void *sink_ctx, pg_export_result *res, ts_err *err)
{
    export_state st;
    pg_columns *cols = NULL;
    pq_column_spec *specs = NULL;
    ts_buf list, sql, where;
    char *rel = NULL, *col = NULL, *lfrom = NULL, *lto = NULL, *dbname = NULL, *cj = NULL;
    PGresult *r = NULL;
    bool in_tx = false, in_copy = false;
    pq_write_result wres;
    int rc;

    memset(&st, 0, sizeof st);
    memset(res, 0, sizeof *res);
    ts_buf_init(&list, 0);
    ts_buf_init(&sql, 0);
    ts_buf_init(&where, 0);
    st.opt = opt;
    st.next_progress = PROGRESS_EVERY;

    rc = pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err);
    if (rc)
        goto out;
    in_tx = true;
    if (src->database) {
        dbname = ts_strdup(src->database);
    } else {
        r = pg_query(c, "SELECT current_database()", 0, NULL, err);
        if (!r) {
            rc = err->code;
            goto out;
        }
        dbname = ts_strdup(PQgetvalue(r, 0, 0));
        PQclear(r);
        r = NULL;
    }
    if (!dbname) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = pg_columns_load(c, src->chunk_schema, src->chunk_name, &cols, err);
    if (rc)
        goto out;
    st.cols = cols;
    rel = pg_qualified_name(c, src->chunk_schema, src->chunk_name, err);
    if (!rel) {
        rc = err->code;
        goto out;
    }
    if (src->time_column) {
        col = pg_quote_ident(c, src->time_column, err);
        lfrom = col && src->from ? pg_quote_literal(c, src->from, err) : NULL;
        lto = col && src->to ? pg_quote_literal(c, src->to, err) : NULL;
        if (!col || (src->from && !lfrom) || (src->to && !lto)) {
            rc = err->code;
            goto out;
        }
        rc = ts_buf_printf(&where, " WHERE true");
        if (!rc && lfrom)
            rc = ts_buf_printf(&where, " AND %s >= %s", col, lfrom);
        if (!rc && lto)
            rc = ts_buf_printf(&where, " AND %s < %s", col, lto);
        if (rc) {
            rc = ts_err_set(err, rc, "out of memory");
            goto out;
        }
    }
    rc = pg_columns_probe_arrays(c, cols, rel, ts_buf_cstr(&where), err);
    if (rc)
        goto out;
    rc = pg_columns_select_list(c, cols, &list, err);
    if (rc)
        goto out;
    pg_proof_set_columns(&st.proof, ts_buf_cstr(&list));
    rc = ts_buf_printf(&sql, "COPY (SELECT %s FROM %s%s) TO STDOUT (FORMAT binary)",
                       ts_buf_cstr(&list), rel, ts_buf_cstr(&where));
    if (rc) {
        rc = ts_err_set(err, rc, "out of memory building the COPY statement");
        goto out;
    }

    specs = ts_calloc((size_t)cols->ncols, sizeof *specs);
    st.oids = ts_calloc((size_t)cols->ncols, sizeof *st.oids);
    st.exc = json_object();
    st.bitmaps = json_object();
    if (!specs || !st.oids || !st.exc || !st.bitmaps) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    pg_columns_specs(cols, specs);
    for (int i = 0; i < cols->ncols; i++)
        st.oids[i] = cols->cols[i].send_oid;
    st.w = pq_writer_new(specs, cols->ncols, &opt->writer, sink, sink_ctx, err);
    if (!st.w) {
        rc =
            err->code ? err->code : ts_err_set(err, TS_ERR_INTERNAL, "could not create the writer");
        goto out;
    }
    cj = columns_json(cols);
    if (!cj) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = pq_writer_add_kv(st.w, PG_KV_VERSION, TS_VERSION);
    if (!rc)
        rc = pq_writer_add_kv(st.w, PG_KV_DATABASE, dbname);
    if (!rc)
        rc = pq_writer_add_kv(st.w, PG_KV_COLUMNS, cj);
    if (rc) {
        rc = writer_error(&st, rc, err);
        goto out;
    }
    rc = add_kv_json(st.w, PG_KV_TABLE,
                     json_pack("[s,s]", src->table_schema ? src->table_schema : src->chunk_schema,
                               src->table_name ? src->table_name : src->chunk_name),
                     err);
    if (!rc)
        rc = add_kv_json(st.w, PG_KV_CHUNK, json_pack("[s,s]", src->chunk_schema, src->chunk_name),
                         err);
    if (!rc) {
        json_t *range =
            json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "start", src->range_start,
                      "end", src->range_end, "column", src->time_column, "from", src->from, "to",
                      src->to, "partition_from", src->bound_from, "partition_to", src->bound_to);
        /* only when given: files of the common cases keep their metadata as it was */
        if (range && src->partition_parent_schema && src->partition_parent_name &&
            src->partition_bound &&
            (json_object_set_new(
                 range, "partition_parent",
                 json_pack("[s,s]", src->partition_parent_schema, src->partition_parent_name)) ||
             json_object_set_new(range, "partition_bound", json_string(src->partition_bound)))) {
            json_decref(range);
            range = NULL;
        }
        if (range && src->time_unit &&
            (json_object_set_new(range, "time_unit", json_string(src->time_unit)) ||
             (src->range_start_time &&
              json_object_set_new(range, "start_time", json_string(src->range_start_time))) ||
             (src->range_end_time &&
              json_object_set_new(range, "end_time", json_string(src->range_end_time))))) {
            json_decref(range);
            range = NULL;
        }
        rc = add_kv_json(st.w, PG_KV_RANGE, range, err);
    }
    if (rc)
        goto out;

    st.dec = pg_copy_decoder_new(cols->ncols, 0, on_row, &st);
    if (!st.dec) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    r = PQexec(c, ts_buf_cstr(&sql));
    if (!r || PQresultStatus(r) != PGRES_COPY_OUT) {
        rc = pg_set_error(err, c, r, "could not read the chunk");
        goto out;
    }
    PQclear(r);
    r = NULL;
    in_copy = true;
    for (;;) {
        char *buf = NULL;
        int n = PQgetCopyData(c, &buf, 0);
        if (n > 0) {
            rc = pg_copy_decoder_feed(st.dec, buf, (size_t)n, err);
            PQfreemem(buf);
            if (rc)
                goto out;
            continue;
        }
        if (n == -2) {
            rc = pg_set_error(err, c, NULL, "reading the chunk failed");
            goto out;
        }
        break; /* -1: COPY done */
    }
    in_copy = false;
    r = PQgetResult(c);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = pg_set_error(err, c, r, "reading the chunk failed");
        PQclear(r);
        r = NULL;
        while ((r = PQgetResult(c)) != NULL)
            PQclear(r);
        goto out;
    }
    PQclear(r);
    while ((r = PQgetResult(c)) != NULL)
        PQclear(r);
    rc = pg_copy_decoder_finish(st.dec, err);
    if (rc)
        goto out;

    char num[32];
    snprintf(num, sizeof num, "%" PRId64, st.proof.rows);
    if (!opt->no_proof)
        pg_proof_format(&st.proof, res->proof);
    rc = pq_writer_add_kv(st.w, PG_KV_ROWS, num);
    if (!rc && !opt->no_proof)
        rc = pq_writer_add_kv(st.w, PG_KV_PROOF, res->proof);
    if (rc) {
        rc = writer_error(&st, rc, err);
        goto out;
    }
    if (json_object_size(st.exc)) {
        rc = add_kv_json(st.w, PG_KV_EXCEPTIONS, json_incref(st.exc), err);
        if (rc)
            goto out;
    }
    if (json_object_size(st.bitmaps)) {
        rc = add_kv_json(st.w, PG_KV_NULL_BITMAPS, json_incref(st.bitmaps), err);
        if (rc)
            goto out;
    }
    rc = pq_writer_close(st.w, &wres);
    if (rc) {
        rc = writer_error(&st, rc, err);
        goto out;
    }
    rc = pg_exec(c, "COMMIT", err);
    in_tx = false;
    if (rc)
        goto out;
    res->rows = st.proof.rows;
    res->bytes = wres.bytes;
    res->row_groups = wres.row_groups;
    res->copy_bytes = pg_copy_decoder_bytes(st.dec);
    if (opt->progress)
        opt->progress(opt->progress_ctx, res->rows, res->copy_bytes);
out:
    if (in_copy)
        abandon_copy(c);
    if (in_tx && PQstatus(c) == CONNECTION_OK) {
        ts_err ignore;
        ts_err_clear(&ignore);
        if (pg_exec(c, "ROLLBACK", &ignore) != TS_OK)
            ts_debug("rollback failed: %s", ignore.msg);
    }
    if (rc) {
        ts_err_prefix(err, "exporting \"%s\".\"%s\"", src->chunk_schema, src->chunk_name);
        res->proof[0] = 0;
    }
    PQclear(r);
    pg_copy_decoder_free(st.dec);
    pq_writer_free(st.w);
    json_decref(st.exc);
    json_decref(st.bitmaps);
    free(cj);
    ts_free(st.oids);
    ts_free(specs);
    ts_free(rel);
    ts_free(col);
    ts_free(lfrom);
    ts_free(lto);
    ts_free(dbname);
    ts_buf_free(&list);
    ts_buf_free(&sql);
    ts_buf_free(&where);
    pg_columns_free(cols);
    return rc;
}

/* ---- durable file sink ---- */

static int file_write(void *ctx, const void *data, size_t len, ts_err *err)
{
    return ts_durable_write(ctx, data, len, err);
}

int pg_export_file(PGconn *c, const pg_export_source *src, const pg_export_options *opt,
                   const char *path, pg_export_result *res, ts_err *err)
{
    ts_durable *d = NULL;
    int rc;
    memset(res, 0, sizeof *res);
    /* path.tmp exactly: the command removes it by that name when interrupted */
    if ((rc = ts_durable_open(&d, path, TS_DURABLE_FIXED_TEMP, 0644, err)) != TS_OK)
        goto out;
    if ((rc = pg_export(c, src, opt, file_write, d, res, err)) != TS_OK)
        goto out;
    rc = ts_durable_commit(d, NULL, err); /* frees d */
    d = NULL;
out:
    ts_durable_abort(d);
    return rc;
}
