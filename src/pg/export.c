/* export.c: chunk -> Parquet: the binary COPY stream received on one thread, decoded
 * into the writer a batch of rows and a column at a time on the caller's, the change
 * proof hashed on a third; metadata in the footer, and the durable file variant. */
#include "export.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
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

/* ---- the pipeline ----
 * The COPY data flows through a ring of blocks (copybin.h):
 *   receiver (a thread of its own): libpq -> the next free block;
 *   hasher (a thread of its own, when the proof is on): each block -> the proof;
 *   encoder (the caller's thread, so the sink and progress callbacks run where they
 *            always did): each block -> the Parquet writer -> the sink.
 * When the ring is full the receiver waits (memory stays flat whatever the chunk's
 * size) and the server waits on its socket. The first failure stops all three. */
enum { C_ENCODER, C_HASHER };

typedef struct receiver {
    pthread_t th;
    pg_copy_ring *g;
    PGconn *conn;
    bool copy_over; /* the COPY ended and its result was collected: nothing to abandon */
} receiver;

/* The end of the COPY: its command result must be a success. */
static int copy_result(PGconn *c, ts_err *err)
{
    PGresult *r = PQgetResult(c);
    int rc = TS_OK;
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = pg_set_error(err, c, r, "reading the chunk failed");
    PQclear(r);
    while ((r = PQgetResult(c)) != NULL)
        PQclear(r);
    return rc;
}

/* Appends COPY data to b until it holds PG_RING_BLOCK_BYTES or the COPY ends (*end).
 * Handing over less when the socket is empty for a moment would cost a thread wake-up
 * per few rows. Waits on the socket in steps of 100 ms, so a stop is seen. */
static int fill_block(receiver *rv, ts_buf *b, bool *end, ts_err *err)
{
    PGconn *c = rv->conn;
    while (b->len < PG_RING_BLOCK_BYTES) {
        char *buf = NULL;
        int n = PQgetCopyData(c, &buf, 1), rc;
        if (n > 0) {
            rc = ts_buf_append(b, buf, (size_t)n);
            PQfreemem(buf);
            if (rc)
                return ts_err_set(err, rc, "out of memory buffering %d bytes of the chunk", n);
            continue;
        }
        if (n == -1) {
            *end = true;
            return copy_result(c, err);
        }
        if (n == -2)
            return pg_set_error(err, c, NULL, "reading the chunk failed");
        struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
        if (pg_copy_ring_stopped(rv->g))
            return TS_OK;
        if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
            return ts_err_set(err, TS_ERR_IO, "poll failed: %s", strerror(errno));
        if (!PQconsumeInput(c))
            return pg_set_error(err, c, NULL, "reading the chunk failed");
    }
    return TS_OK;
}

static void *receiver_main(void *arg)
{
    receiver *rv = arg;
    ts_err err;
    bool end = false;
    ts_buf *b;
    ts_err_clear(&err);
    pthread_setname_np(pthread_self(), "copy receiver");
    while (!end && (b = pg_copy_ring_claim(rv->g)) != NULL) {
        if (fill_block(rv, b, &end, &err) != TS_OK) {
            pg_copy_ring_fail(rv->g, &err);
            break;
        }
        rv->copy_over = end;
        pg_copy_ring_publish(rv->g, end);
    }
    return NULL;
}

/* ---- the encoder ---- */

/* Rows are gathered (as pointers into the stream) and written a column at a time, up
 * to PG_BATCH_ROWS of them, through the writer's batch calls. */
typedef struct export_state {
    pq_writer *w;
    const pg_columns *cols;
    int64_t rows;      /* rows written */
    pg_copy_field *table; /* the gathered rows' fields, row by row */
    size_t gathered, limit;
    pg_batch *batch;
    int col;          /* the column being written */
    json_t *exc;      /* {"column": [[row, "exact value"], ...]} */
    json_t *bitmaps;  /* {"column": [[first_row, rows], ...]}, see export.h */
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

/* Records that row's array in column name keeps a NULL bitmap: extends the column's
 * last run of rows, or starts one (a run counts as one exception). */
static int note_bitmap(export_state *st, const char *name, int64_t row, ts_err *err)
{
    json_t *a = json_object_get(st->bitmaps, name);
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

/* pg_column_write's report of a value that needs an exception entry (export.h). */
static int on_exception(void *ctx, size_t i, const char *exc, ts_err *err)
{
    export_state *st = ctx;
    const pg_column *m = &st->cols->cols[st->col];
    int64_t row = st->rows + (int64_t)i;
    if (m->list)
        return note_bitmap(st, m->name, row, err);
    json_t *a = json_object_get(st->exc, m->name);
    if (++st->nexc > MAX_EXCEPTIONS)
        return ts_err_set(err, TS_ERR_TOOBIG,
                          "more than %d values that need an exception entry (numeric NaN, "
                          "timestamps past 294247 AD)",
                          MAX_EXCEPTIONS);
    if (!a) {
        a = json_array();
        if (!a || json_object_set_new(st->exc, m->name, a))
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    }
    if (json_array_append_new(a, json_pack("[I,s]", (json_int_t)row, exc)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    return 0;
}

/* Writes the gathered rows, a column at a time, and ends them. The next gathering
 * stops where the row group is full, so row groups close where row by row writing
 * closed them. */
static int write_gathered(export_state *st, ts_err *err)
{
    int ncols = st->cols->ncols, rc;
    size_t n = st->gathered;
    if (n == 0)
        return 0;
    for (st->col = 0; st->col < ncols; st->col++) {
        rc = pg_column_write(st->w, st->col, &st->cols->cols[st->col], st->table + st->col,
                             (size_t)ncols, n, st->batch, on_exception, st, err);
        if (rc)
            return err->code ? err->code : writer_error(st, rc, err);
    }
    rc = pq_writer_end_rows(st->w);
    if (rc)
        return writer_error(st, rc, err);
    st->rows += (int64_t)n;
    st->gathered = 0;
    int64_t left = st->opt->writer.row_group_rows - pq_writer_group_rows(st->w);
    st->limit = left > 0 && left < PG_BATCH_ROWS ? (size_t)left : PG_BATCH_ROWS;
    if (st->opt->progress && st->rows >= st->next_progress) {
        while (st->next_progress <= st->rows)
            st->next_progress += PROGRESS_EVERY;
        st->opt->progress(st->opt->progress_ctx, st->rows, pg_copy_decoder_bytes(st->dec));
    }
    return 0;
}

static int on_row(void *ctx, const pg_copy_field *f, int nfields, ts_err *err)
{
    export_state *st = ctx;
    pg_copy_field *row = st->table + st->gathered * (size_t)nfields;
    for (int i = 0; i < nfields; i++) /* inline, where memcpy of a variable size is a call */
        row[i] = f[i];
    if (++st->gathered == st->limit)
        return write_gathered(st, err);
    return 0;
}

static int encode_block(void *ctx, const uint8_t *p, size_t n, ts_err *err)
{
    export_state *st = ctx;
    int rc = pg_copy_decoder_feed(st->dec, p, n, err);
    /* the fields point into this block (or the decoder) until the next feed */
    return rc ? rc : write_gathered(st, err);
}

/* Runs the pipeline over the COPY that PQexec just started on c: every row into the
 * writer and, with oids, its hash into proof. On failure the COPY is abandoned. */
static int run_pipeline(PGconn *c, export_state *st, const uint32_t *oids, pg_proof *proof,
                        ts_err *err)
{
    receiver rv;
    pg_proof_thread *hasher = NULL;
    int rc = TS_OK;
    ts_err e;

    memset(&rv, 0, sizeof rv);
    ts_err_clear(&e);
    rv.conn = c;
    rv.g = pg_copy_ring_new(oids ? 2 : 1);
    if (!rv.g) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (pthread_create(&rv.th, NULL, receiver_main, &rv) != 0) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "could not start the COPY receiver's thread");
        goto out;
    }
    if (oids && !(hasher = pg_proof_thread_start(rv.g, C_HASHER, st->cols->ncols, oids, proof,
                                                 &e)))
        pg_copy_ring_fail(rv.g, &e);
    if (pg_copy_ring_consume(rv.g, C_ENCODER, encode_block, st) == TS_OK &&
        pg_copy_decoder_finish(st->dec, &e) != TS_OK)
        pg_copy_ring_fail(rv.g, &e);
    pthread_join(rv.th, NULL);
    (void)pg_proof_thread_join(hasher); /* its failure is the ring's */
    if ((rc = pg_copy_ring_error(rv.g, err)) == TS_OK && oids && proof->rows != st->rows)
        rc = ts_err_set(err, TS_ERR_INTERNAL,
                        "the proof counted %" PRId64 " rows, the writer %" PRId64, proof->rows,
                        st->rows);
out:
    if (!rv.copy_over)
        abandon_copy(c);
    pg_copy_ring_free(rv.g);
    return rc;
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

int pg_export(PGconn *c, const pg_export_source *src, const pg_export_options *opt, pq_sink_fn sink,
              void *sink_ctx, pg_export_result *res, ts_err *err)
{
    export_state st;
    pg_proof proof;
    uint32_t *oids = NULL;
    pg_columns *cols = NULL;
    pq_column_spec *specs = NULL;
    ts_buf list, sql, where;
    char *rel = NULL, *col = NULL, *lfrom = NULL, *lto = NULL, *dbname = NULL, *cj = NULL;
    PGresult *r = NULL;
    bool in_tx = false;
    pq_write_result wres;
    int rc;

    memset(&st, 0, sizeof st);
    memset(&proof, 0, sizeof proof);
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
    for (int i = 0; opt->text_columns && i < cols->ncols; i++)
        for (const char *const *n = opt->text_columns; cols->cols[i].list && *n; n++)
            if (strcmp(*n, cols->cols[i].name) == 0)
                pg_column_to_text(&cols->cols[i]);
    rc = pg_columns_select_list(c, cols, &list, err);
    if (rc)
        goto out;
    pg_proof_set_columns(&proof, ts_buf_cstr(&list));
    rc = ts_buf_printf(&sql, "COPY (SELECT %s FROM %s%s) TO STDOUT (FORMAT binary)",
                       ts_buf_cstr(&list), rel, ts_buf_cstr(&where));
    if (rc) {
        rc = ts_err_set(err, rc, "out of memory building the COPY statement");
        goto out;
    }

    specs = ts_calloc((size_t)cols->ncols, sizeof *specs);
    oids = ts_calloc((size_t)cols->ncols, sizeof *oids);
    st.exc = json_object();
    st.bitmaps = json_object();
    if (!specs || !oids || !st.exc || !st.bitmaps) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    pg_columns_specs(cols, specs);
    for (int i = 0; i < cols->ncols && opt->delta_timestamps; i++)
        if (!cols->cols[i].list && (cols->cols[i].kind == PG_K_TIMESTAMP ||
                                    cols->cols[i].kind == PG_K_TIMESTAMPTZ ||
                                    cols->cols[i].kind == PG_K_DATE))
            specs[i].encoding = PQ_ENC_DELTA_BINARY_PACKED;
    for (int i = 0; i < cols->ncols; i++)
        oids[i] = cols->cols[i].send_oid;
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
    st.table = ts_malloc((size_t)cols->ncols * PG_BATCH_ROWS * sizeof *st.table);
    st.batch = ts_malloc(sizeof *st.batch);
    st.limit = PG_BATCH_ROWS;
    if (opt->writer.row_group_rows > 0 && opt->writer.row_group_rows < PG_BATCH_ROWS)
        st.limit = (size_t)opt->writer.row_group_rows;
    if (!st.dec || !st.table || !st.batch) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    ts_debug("%s", ts_buf_cstr(&sql)); /* names only: the floor of bench/export runs it */
    r = PQexec(c, ts_buf_cstr(&sql));
    if (!r || PQresultStatus(r) != PGRES_COPY_OUT) {
        rc = pg_set_error(err, c, r, "could not read the chunk");
        goto out;
    }
    PQclear(r);
    r = NULL;
    rc = run_pipeline(c, &st, opt->no_proof ? NULL : oids, &proof, err);
    if (rc)
        goto out;

    char num[32];
    snprintf(num, sizeof num, "%" PRId64, st.rows);
    if (!opt->no_proof)
        pg_proof_format(&proof, res->proof);
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
    res->rows = st.rows;
    res->bytes = wres.bytes;
    res->row_groups = wres.row_groups;
    res->copy_bytes = pg_copy_decoder_bytes(st.dec);
    if (opt->progress)
        opt->progress(opt->progress_ctx, res->rows, res->copy_bytes);
out:
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
    ts_free(st.table);
    ts_free(st.batch);
    pq_writer_free(st.w);
    json_decref(st.exc);
    json_decref(st.bitmaps);
    free(cj);
    ts_free(oids);
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
