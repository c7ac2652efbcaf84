/* test_delta_lake.c: commit and replay round trips on a real store:
 *   test_delta_lake local     (a temporary folder)
 *   test_delta_lake azure     (the Azurite of TS_TEST_AZURE_CONNECTION_STRING; skips without)
 * A table's life: creation (protocol 1/2, or 3/7 for timestamp_ntz), adds with stats and
 * tags from real Parquet footers, odd file names, a second reader, removes, conflicts,
 * schema growth with a protocol upgrade, refused schema changes, an idempotent retry,
 * incremental refresh, checkpoints and gaps refused, the tables listing and the files
 * report. */
#include "delta/delta_int.h"
#include "delta/list.h"
#include "delta_testutil.h"

static const char *kind;
static test_lake tl;

/* Writes a Parquet file into the table and returns an add for it (strings static). */
typedef struct file {
    char rel[512];
    membuf m;
    delta_schema *schema;
    char *stats;
    int64_t size;
} file;

static void file_make(file *f, const char *root, const char *rel, int rows, int64_t base_v)
{
    memset(f, 0, sizeof *f);
    snprintf(f->rel, sizeof f->rel, "%s", rel);
    make_simple_parquet(&f->m, rows, INT64_C(1704067200000000), base_v);
    parquet_schema_stats(&f->m, &f->schema, &f->stats);
    f->size = put_file(tl.lk, root, rel, &f->m);
}

static void file_free(file *f)
{
    free(f->m.p);
    delta_schema_free(f->schema);
    ts_free(f->stats);
}

static int64_t commit_add(delta_table *t, file *f, const delta_kv *tags, int ntags, bool schema)
{
    delta_txn *tx = NULL;
    int64_t v = -1;
    ts_err err;
    ts_err_clear(&err);
    delta_add a = {f->rel, f->size, 0, f->stats, tags, ntags};
    CHECK_OK(delta_txn_new(t, NULL, &tx, &err), &err);
    if (schema)
        CHECK_OK(delta_txn_set_schema(tx, f->schema, &err), &err);
    CHECK_OK(delta_txn_add(tx, &a, &err), &err);
    CHECK_OK(delta_txn_commit(tx, &v, &err), &err);
    delta_txn_free(tx);
    return v;
}

static char *commit_text(const char *root, int64_t v)
{
    char *p = delta_commit_path(root, v), *s = get_text(tl.lk, p);
    ts_free(p);
    return s;
}

/* The line of the commit that starts with prefix (a copy), or NULL. */
static char *commit_line(const char *root, int64_t v, const char *prefix)
{
    char *s = commit_text(root, v), *r = NULL;
    for (char *l = s; l && *l;) {
        char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        if (strncmp(l, prefix, strlen(prefix)) == 0) {
            r = strndup(l, n);
            break;
        }
        l = nl ? nl + 1 : NULL;
    }
    ts_free(s);
    return r;
}

static void put_raw(const char *root, const char *name, const char *text)
{
    char path[600];
    ts_err err;
    ts_err_clear(&err);
    snprintf(path, sizeof path, "%s/_delta_log/%s", root, name);
    CHECK_OK(lake_put_bytes(tl.lk, path, text, strlen(text), NULL, &err), &err);
}

static void test_life(void)
{
    char root[300];
    ts_err err;
    delta_table *t = NULL, *b = NULL;
    delta_txn *tx = NULL;
    int64_t v;
    file f1, f2, f3, f4, fbad;
    ts_err_clear(&err);
    snprintf(root, sizeof root, "%s/c1/metrics/public.m", tl.prefix);

    CHECK_OK(delta_table_load(tl.lk, root, NULL, &t, &err), &err);
    CHECK_EQ(delta_table_version(t), -1);
    CHECK_EQ(delta_table_nfiles(t), 0);
    CHECK(delta_table_schema(t) == NULL);

    file_make(&f1, root, "year=2024/month=01/_hyper_1_1_chunk_20240101T000000Z.parquet", 100, 0);
    /* the first commit needs a schema */
    {
        delta_add a = {f1.rel, f1.size, 0, f1.stats, NULL, 0};
        CHECK_OK(delta_txn_new(t, NULL, &tx, &err), &err);
        CHECK_OK(delta_txn_add(tx, &a, &err), &err);
        CHECK_ERR(delta_txn_commit(tx, &v, &err), &err, TS_ERR_INVALID, "needs a schema");
        /* the same path twice in one transaction */
        CHECK_ERR(delta_txn_add(tx, &a, &err), &err, TS_ERR_INVALID, "already in this transaction");
        CHECK_ERR(delta_txn_remove(tx, f1.rel, 0, &err), &err, TS_ERR_INVALID, "already in");
        delta_add bad = {"_delta_log/x.parquet", 1, 0, NULL, NULL, 0};
        CHECK_ERR(delta_txn_add(tx, &bad, &err), &err, TS_ERR_INVALID, "hidden folder");
        delta_add bad2 = {"x.parquet", 1, 0, "[1]", NULL, 0};
        CHECK_ERR(delta_txn_add(tx, &bad2, &err), &err, TS_ERR_INVALID, "not a JSON object");
        delta_txn_free(tx);
    }
    delta_kv tags[] = {{"tsarchive.chunk", "[\"_timescaledb_internal\",\"_hyper_1_1_chunk\"]"},
                       {"tsarchive.proof", "sha256:0123"}};
    CHECK_EQ(commit_add(t, &f1, tags, 2, true), 0);
    CHECK_EQ(delta_table_version(t), 0);
    CHECK_EQ(delta_table_nfiles(t), 1);
    CHECK(delta_table_id(t) && strlen(delta_table_id(t)) == 36);
    {
        char *p = commit_line(root, 0, "{\"protocol\"");
        CHECK_STR(p, "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}");
        free(p);
        char *first = commit_text(root, 0);
        CHECK(strncmp(first, "{\"commitInfo\":{\"timestamp\":", 27) == 0);
        CHECK(strstr(first, "\"engineInfo\":\"tsarchive/" TS_VERSION "\""));
        CHECK(strstr(first, "\"isBlindAppend\":true"));
        ts_free(first);
        char *add = commit_line(root, 0, "{\"add\"");
        CHECK(strstr(add,
                     "\"path\":\"year=2024/month=01/_hyper_1_1_chunk_20240101T000000Z.parquet\""));
        CHECK(strstr(add, "\"stats\":\"{\\\"numRecords\\\":100,\\\"minValues\\\":{\\\"ts\\\":"
                          "\\\"2024-01-01T00:00:00.000Z\\\",\\\"v\\\":0,\\\"s\\\":\\\"row-0\\\"}"));
        CHECK(strstr(add, "\"tags\":{\"tsarchive.chunk\":\"[\\\"_timescaledb_internal\\\","));
        free(add);
        char *md = commit_line(root, 0, "{\"metaData\"");
        CHECK(strstr(md, "\"format\":{\"provider\":\"parquet\",\"options\":{}}"));
        CHECK(strstr(md, "\"partitionColumns\":[],\"configuration\":{},\"createdTime\":"));
        free(md);
    }
    const delta_file *df = delta_table_find(t, f1.rel);
    CHECK(df);
    CHECK_EQ(df->size, f1.size);
    CHECK_EQ(df->num_records, 100);
    CHECK_EQ(df->version, 0);
    CHECK_EQ(df->ntags, 2);
    CHECK_STR(df->tags[1].value, "sha256:0123");

    /* an odd name: spaces, '%', '=', non-ASCII */
    file_make(&f2, root, "year=2024/month=01/a b%c=d \xc3\xa9.parquet", 50, 1000);
    CHECK_EQ(commit_add(t, &f2, NULL, 0, true), 1);
    {
        char *add = commit_line(root, 1, "{\"add\"");
        CHECK(strstr(add, "\"path\":\"year=2024/month=01/a%20b%25c=d%20%C3%A9.parquet\""));
        free(add);
        /* the same schema: no metaData in this commit */
        CHECK(commit_line(root, 1, "{\"metaData\"") == NULL);
    }

    /* a second handle reads the same table */
    CHECK_OK(delta_table_load(tl.lk, root, NULL, &b, &err), &err);
    CHECK_EQ(delta_table_version(b), 1);
    CHECK_EQ(delta_table_nfiles(b), 2);
    CHECK_STR(delta_table_file(b, 0)->path,
              "year=2024/month=01/_hyper_1_1_chunk_20240101T000000Z.parquet");
    CHECK_STR(delta_table_file(b, 1)->path, "year=2024/month=01/a b%c=d \xc3\xa9.parquet");
    CHECK_STR(delta_table_id(b), delta_table_id(t));

    /* conflicts */
    {
        delta_add a = {f1.rel, f1.size, 0, NULL, NULL, 0};
        CHECK_OK(delta_txn_new(b, NULL, &tx, &err), &err);
        CHECK_OK(delta_txn_add(tx, &a, &err), &err);
        CHECK_ERR(delta_txn_commit(tx, &v, &err), &err, TS_ERR_CONFLICT, "already live");
        delta_txn_free(tx);
        CHECK_OK(delta_txn_new(b, NULL, &tx, &err), &err);
        CHECK_OK(delta_txn_remove(tx, "year=2024/nope.parquet", 0, &err), &err);
        CHECK_ERR(delta_txn_commit(tx, &v, &err), &err, TS_ERR_CONFLICT, "not a live file");
        delta_txn_free(tx);
    }

    /* remove f1 through t; b still thinks it live, and loses */
    CHECK_OK(delta_txn_new(t, "DELETE", &tx, &err), &err);
    CHECK_OK(delta_txn_remove(tx, f1.rel, 1700000000000, &err), &err);
    CHECK_OK(delta_txn_commit(tx, &v, &err), &err);
    CHECK_EQ(v, 2);
    delta_txn_free(tx);
    {
        char *rm = commit_line(root, 2, "{\"remove\"");
        char want[600];
        snprintf(want, sizeof want,
                 "{\"remove\":{\"path\":\"%s\",\"deletionTimestamp\":1700000000000,\"dataChange\":"
                 "true,\"extendedFileMetadata\":true,\"partitionValues\":{},\"size\":%lld}}",
                 f1.rel, (long long)f1.size);
        CHECK_STR(rm, want);
        free(rm);
        char *ci = commit_line(root, 2, "{\"commitInfo\"");
        CHECK(strstr(ci, "\"operation\":\"DELETE\""));
        CHECK(strstr(ci, "\"isBlindAppend\":false"));
        free(ci);
    }
    CHECK_EQ(delta_table_nfiles(t), 1);
    CHECK_EQ(delta_table_nremoved(t), 1);
    CHECK_EQ(delta_table_removed(t, 0)->removed_version, 2);
    CHECK_EQ(delta_table_removed(t, 0)->size, f1.size);
    CHECK(delta_table_find(b, f1.rel)); /* b is at version 1 */
    CHECK_OK(delta_txn_new(b, NULL, &tx, &err), &err);
    CHECK_OK(delta_txn_remove(tx, f1.rel, 0, &err), &err);
    CHECK_ERR(delta_txn_commit(tx, &v, &err), &err, TS_ERR_CONFLICT, "not a live file");
    delta_txn_free(tx);
    CHECK_EQ(delta_table_version(b), 2); /* the commit refreshed b */

    /* the source table gained a column (timestamp without time zone): new metaData, same
     * id, and the protocol upgrade the new type needs */
    {
        pq_column_spec c[4];
        pq_writer_options wo;
        ts_err_clear(&err);
        memset(&f3, 0, sizeof f3);
        snprintf(f3.rel, sizeof f3.rel, "year=2024/month=02/grown.parquet");
        pq_column_spec_init(&c[0], "ts", PQ_INT64, PQ_LT_TIMESTAMP);
        pq_column_spec_init(&c[1], "v", PQ_INT64, PQ_LT_INT);
        pq_column_spec_init(&c[2], "s", PQ_BYTE_ARRAY, PQ_LT_STRING);
        c[2].nullable = true;
        pq_column_spec_init(&c[3], "local_ts", PQ_INT64, PQ_LT_TIMESTAMP);
        c[3].ts_utc = false;
        pq_writer_options_default(&wo);
        pq_writer *w = pq_writer_new(c, 4, &wo, membuf_sink, &f3.m, &err);
        CHECK(w);
        for (int i = 0; i < 10; i++) {
            CHECK_OK(pq_write_i64(w, 0, INT64_C(1706745600000000) + i), &err);
            CHECK_OK(pq_write_i64(w, 1, 5000 + i), &err);
            CHECK_OK(pq_write_null(w, 2), &err);
            CHECK_OK(pq_write_i64(w, 3, INT64_C(1706745600000000) + i * 1000), &err);
            CHECK_OK(pq_writer_end_rows(w), &err);
        }
        CHECK_OK(pq_writer_close(w, NULL), pq_writer_error(w));
        pq_writer_free(w);
        parquet_schema_stats(&f3.m, &f3.schema, &f3.stats);
        f3.size = put_file(tl.lk, root, f3.rel, &f3.m);
    }
    CHECK_EQ(commit_add(b, &f3, NULL, 0, true), 3);
    {
        char *p = commit_line(root, 3, "{\"protocol\"");
        CHECK_STR(p, "{\"protocol\":{\"minReaderVersion\":3,\"minWriterVersion\":7,"
                     "\"readerFeatures\":[\"timestampNtz\"],\"writerFeatures\":[\"appendOnly\","
                     "\"invariants\",\"timestampNtz\"]}}");
        free(p);
        char *md = commit_line(root, 3, "{\"metaData\"");
        char want[100];
        snprintf(want, sizeof want, "{\"metaData\":{\"id\":\"%s\"", delta_table_id(t));
        CHECK(strncmp(md, want, strlen(want)) == 0);
        CHECK(strstr(md, "{\\\"name\\\":\\\"local_ts\\\",\\\"type\\\":\\\"timestamp_ntz\\\","
                         "\\\"nullable\\\":true,"));
        free(md);
    }
    CHECK_OK(delta_table_refresh(t, &err), &err);
    CHECK_EQ(delta_table_version(t), 3);
    CHECK_EQ(delta_table_protocol(t)->min_reader, 3);
    CHECK_EQ(delta_schema_ncolumns(delta_table_schema(t)), 4);
    /* older files, without the column, are still in the table */
    CHECK_EQ(delta_table_nfiles(t), 2);
    /* a file of the old shape still fits (the column is nullable) ... no: it lacks a
     * column the table has; tsarchive only adds, so it is refused */
    file_make(&f4, root, "year=2024/month=03/old_shape.parquet", 5, 9000);
    CHECK_OK(delta_txn_new(t, NULL, &tx, &err), &err);
    CHECK_OK(delta_txn_set_schema(tx, f4.schema, &err), &err);
    CHECK_ERR(delta_txn_commit(tx, &v, &err), &err, TS_ERR_INVALID,
              "column \"local_ts\" of the table is not in the new data");
    delta_txn_free(tx);
    /* a type change is refused */
    {
        pq_column_spec c[4];
        pq_writer_options wo;
        memset(&fbad, 0, sizeof fbad);
        pq_column_spec_init(&c[0], "ts", PQ_INT64, PQ_LT_TIMESTAMP);
        pq_column_spec_init(&c[1], "v", PQ_INT32, PQ_LT_INT);
        pq_column_spec_init(&c[2], "s", PQ_BYTE_ARRAY, PQ_LT_STRING);
        pq_column_spec_init(&c[3], "local_ts", PQ_INT64, PQ_LT_TIMESTAMP);
        c[3].ts_utc = false;
        pq_writer_options_default(&wo);
        pq_writer *w = pq_writer_new(c, 4, &wo, membuf_sink, &fbad.m, &err);
        CHECK(w);
        CHECK_OK(pq_writer_close(w, NULL), pq_writer_error(w));
        pq_writer_free(w);
        parquet_schema_stats(&fbad.m, &fbad.schema, NULL);
        CHECK_OK(delta_txn_new(t, NULL, &tx, &err), &err);
        CHECK_OK(delta_txn_set_schema(tx, fbad.schema, &err), &err);
        CHECK_ERR(delta_txn_commit(tx, &v, &err), &err, TS_ERR_INVALID,
                  "column \"v\" is long in the table but integer in the new data");
        delta_txn_free(tx);
    }
    CHECK_EQ(delta_table_version(t), 3);

    /* a retried commit whose first call went through returns that version, once */
    {
        delta_add a = {f4.rel, f4.size, 0, f4.stats, NULL, 0};
        int64_t v1 = -1, v2 = -1;
        CHECK_OK(delta_txn_new(t, NULL, &tx, &err), &err);
        CHECK_OK(delta_txn_add(tx, &a, &err), &err);
        CHECK_OK(delta_txn_commit(tx, &v1, &err), &err);
        CHECK_OK(delta_txn_commit(tx, &v2, &err), &err);
        CHECK_EQ(v1, 4);
        CHECK_EQ(v2, 4);
        CHECK_EQ(delta_table_version(t), 4);
        char *ci = commit_line(root, 4, "{\"commitInfo\"");
        CHECK(strstr(ci, delta_txn_id(tx)));
        free(ci);
        delta_txn_free(tx);
    }

    /* b refreshes incrementally: a checkpoint that appeared since is not listed again,
     * while a fresh load refuses the table, naming it */
    put_raw(root, "_last_checkpoint", "{\"version\":3,\"size\":4}");
    CHECK_OK(delta_table_refresh(b, &err), &err);
    CHECK_EQ(delta_table_version(b), 4);
    CHECK_EQ(delta_table_nfiles(b), 3);
    {
        delta_table *c = NULL;
        CHECK_ERR(delta_table_load(tl.lk, root, NULL, &c, &err), &err, TS_ERR_UNSUPPORTED,
                  "_delta_log/_last_checkpoint\") written by another writer");
        CHECK(c == NULL);
    }

    /* listing and the files report */
    {
        delta_table_list *l = NULL;
        char other[400];
        snprintf(other, sizeof other, "%s/c1/metrics/public.n", tl.prefix);
        put_raw(other, "00000000000000000000.json",
                "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n");
        char mine[200];
        snprintf(mine, sizeof mine, "%s/", tl.prefix); /* not another run's longer prefix */
        CHECK_OK(delta_table_list_new(tl.lk, mine, &l, &err), &err);
        CHECK_EQ(l->n, 2);
        CHECK_STR(l->tables[0].root, root);
        CHECK_EQ(l->tables[0].last_version, 4);
        CHECK_EQ(l->tables[0].commits, 5);
        CHECK(l->tables[0].log_bytes > 500);
        CHECK(l->tables[0].has_checkpoint);
        CHECK_STR(l->tables[1].root, other);
        CHECK_EQ(l->tables[1].last_version, 0);
        CHECK(!l->tables[1].has_checkpoint);
        delta_table_list_free(l);
        char pre[300];
        snprintf(pre, sizeof pre, "%s/c1/metrics/public.n", tl.prefix);
        CHECK_OK(delta_table_list_new(tl.lk, pre, &l, &err), &err);
        CHECK_EQ(l->n, 1);
        delta_table_list_free(l);
    }
    {
        delta_files_report *r = NULL;
        CHECK_ERR(delta_files_report_new(b, "nope", &r, &err), &err, TS_ERR_NOTFOUND,
                  "no column \"nope\"");
        CHECK_OK(delta_files_report_new(b, "v", &r, &err), &err);
        CHECK_EQ(r->version, 4);
        CHECK_EQ(r->nfiles, 3);
        CHECK_EQ(r->nremoved, 1);
        CHECK_EQ(r->rows, 50 + 10 + 5);
        CHECK(r->rows_exact);
        CHECK_EQ(r->bytes, f2.size + f3.size + f4.size);
        /* by path: month=01 (f2: 1000..1049), month=02 (f3: 5000..5009), month=03 (f4) */
        CHECK_STR(r->files[0].file->path, f2.rel);
        CHECK_STR(r->files[0].min, "1000");
        CHECK_STR(r->files[0].max, "1049");
        CHECK_EQ(r->files[0].null_count, 0);
        CHECK_EQ(r->files[0].rows, 50);
        CHECK_STR(r->files[1].min, "5000");
        CHECK_STR(r->files[2].max, "9004");
        delta_files_report_free(r);
        CHECK_OK(delta_files_report_new(b, "local_ts", &r, &err), &err);
        CHECK(r->files[0].min == NULL); /* f2 predates the column */
        CHECK_STR(r->files[1].max, "2024-02-01T00:00:00.009");
        delta_files_report_free(r);
        CHECK_OK(delta_files_report_new(b, "s", &r, &err), &err);
        CHECK_STR(r->files[0].min, "row-0");
        CHECK_EQ(r->files[1].null_count, 10);
        delta_files_report_free(r);
    }
    file_free(&f1);
    file_free(&f2);
    file_free(&f3);
    file_free(&f4);
    file_free(&fbad);
    delta_table_free(t);
    delta_table_free(b);
}

static void test_new_ntz_table_and_broken_logs(void)
{
    char root[300];
    ts_err err;
    delta_table *t = NULL;
    file f;
    ts_err_clear(&err);

    /* a table whose first schema has timestamp_ntz starts at reader 3 / writer 7 */
    {
        pq_column_spec c[1];
        pq_writer_options wo;
        snprintf(root, sizeof root, "%s/c1/metrics/public.ntz", tl.prefix);
        memset(&f, 0, sizeof f);
        snprintf(f.rel, sizeof f.rel, "x.parquet");
        pq_column_spec_init(&c[0], "t", PQ_INT64, PQ_LT_TIMESTAMP);
        c[0].ts_utc = false;
        pq_writer_options_default(&wo);
        pq_writer *w = pq_writer_new(c, 1, &wo, membuf_sink, &f.m, &err);
        CHECK(w);
        CHECK_OK(pq_write_i64(w, 0, 1), &err);
        CHECK_OK(pq_writer_end_rows(w), &err);
        CHECK_OK(pq_writer_close(w, NULL), pq_writer_error(w));
        pq_writer_free(w);
        parquet_schema_stats(&f.m, &f.schema, &f.stats);
        f.size = put_file(tl.lk, root, f.rel, &f.m);
        CHECK_OK(delta_table_open(tl.lk, root, NULL, &t, &err), &err);
        CHECK_EQ(commit_add(t, &f, NULL, 0, true), 0);
        char *p = commit_line(root, 0, "{\"protocol\"");
        CHECK_STR(p, "{\"protocol\":{\"minReaderVersion\":3,\"minWriterVersion\":7,"
                     "\"readerFeatures\":[\"timestampNtz\"],\"writerFeatures\":"
                     "[\"timestampNtz\"]}}");
        free(p);
        delta_table_free(t);
        file_free(&f);
    }

    /* a classic checkpoint file, a gap, a hostile commit: refused with the name */
    snprintf(root, sizeof root, "%s/broken/cp", tl.prefix);
    put_raw(root, "00000000000000000000.json", "{}\n");
    put_raw(root, "00000000000000000000.checkpoint.parquet", "PAR1");
    CHECK_ERR(delta_table_load(tl.lk, root, NULL, &t, &err), &err, TS_ERR_UNSUPPORTED,
              "00000000000000000000.checkpoint.parquet");
    snprintf(root, sizeof root, "%s/broken/gap", tl.prefix);
    put_raw(root, "00000000000000000000.json",
            "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n"
            "{\"metaData\":{\"id\":\"i\",\"format\":{\"provider\":\"parquet\"},\"schemaString\":"
            "\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":[]}\",\"partitionColumns\":[]}}\n");
    put_raw(root, "00000000000000000002.json", "{}\n");
    CHECK_ERR(delta_table_load(tl.lk, root, NULL, &t, &err), &err, TS_ERR_FORMAT,
              "commit 00000000000000000001.json is missing");
    snprintf(root, sizeof root, "%s/broken/late", tl.prefix);
    put_raw(root, "00000000000000000001.json", "{}\n");
    CHECK_ERR(delta_table_load(tl.lk, root, NULL, &t, &err), &err, TS_ERR_FORMAT,
              "commit 00000000000000000000.json is missing");
    snprintf(root, sizeof root, "%s/broken/hostile", tl.prefix);
    put_raw(root, "00000000000000000000.json",
            "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n"
            "{\"metaData\":{\"id\":\"i\",\"format\":{\"provider\":\"parquet\"},\"schemaString\":"
            "\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":[]}\",\"partitionColumns\":[]}}\n");
    put_raw(root, "00000000000000000001.json", "{\"add\":{\"path\":\"a\",\"size\":1,\"modif");
    CHECK_ERR(delta_table_load(tl.lk, root, NULL, &t, &err), &err, TS_ERR_FORMAT, "table \"");
    CHECK_ERR(delta_table_load(tl.lk, root, NULL, &t, &err), &err, TS_ERR_FORMAT,
              "commit 00000000000000000001.json line 1: not JSON");
    /* a writer does not commit on top of what it cannot read */
    CHECK_OK(delta_table_open(tl.lk, root, NULL, &t, &err), &err);
    {
        delta_txn *tx = NULL;
        int64_t v;
        CHECK_OK(delta_txn_new(t, NULL, &tx, &err), &err);
        CHECK_ERR(delta_txn_commit(tx, &v, &err), &err, TS_ERR_FORMAT, "line 1: not JSON");
        delta_txn_free(tx);
    }
    delta_table_free(t);
}

int main(int argc, char **argv)
{
    kind = argc > 1 ? argv[1] : "local";
    if (test_lake_open(&tl, kind, "delta-lake") != 0)
        return SKIP_CODE;
    printf("store: %s, prefix %s\n", lake_describe(tl.lk), tl.prefix);
    test_life();
    test_new_ntz_table_and_broken_logs();
    test_lake_close(&tl);
    printf("ok\n");
    return 0;
}
