/* test_delta_duckdb.c: DuckDB reads tsarchive's log. A table on a local lake gets real
 * Parquet files through commits with adds, removes, a re-add, a grown schema, odd file
 * names, and a commit by "another writer" that encodes paths differently; a file sits in
 * the folder without being in the log. Then duckdb_delta.mjs (the recipe of
 * docs/delta.md: DuckDB's JSON reader on _delta_log/, read_parquet on the live files)
 * must list exactly the files tsarchive's replay lists and count exactly their rows.
 *   test_delta_duckdb PATH/TO/duckdb_delta.mjs
 * Skips (77) without node or tools/node_modules/@duckdb/node-api. */
#include <jansson.h>
#include <limits.h>

#include "delta/delta_int.h"
#include "delta_testutil.h"

static test_lake tl;
static char root[300];

static int64_t add_file(delta_table *t, const char *rel, const membuf *m, bool grow_schema,
                        const char *remove)
{
    delta_schema *s = NULL;
    char *stats = NULL;
    delta_txn *tx = NULL;
    int64_t v = -1;
    ts_err err;
    ts_err_clear(&err);
    parquet_schema_stats(m, &s, &stats);
    delta_add a = {rel, put_file(tl.lk, root, rel, m), 0, stats, NULL, 0};
    CHECK_OK(delta_txn_new(t, NULL, &tx, &err), &err);
    if (grow_schema || delta_table_version(t) < 0)
        CHECK_OK(delta_txn_set_schema(tx, s, &err), &err);
    CHECK_OK(delta_txn_add(tx, &a, &err), &err);
    if (remove)
        CHECK_OK(delta_txn_remove(tx, remove, 0, &err), &err);
    CHECK_OK(delta_txn_commit(tx, &v, &err), &err);
    delta_txn_free(tx);
    delta_schema_free(s);
    ts_free(stats);
    return v;
}

static void make_grown(membuf *m, int rows)
{
    pq_column_spec c[4];
    pq_writer_options wo;
    ts_err err;
    ts_err_clear(&err);
    memset(m, 0, sizeof *m);
    pq_column_spec_init(&c[0], "ts", PQ_INT64, PQ_LT_TIMESTAMP);
    pq_column_spec_init(&c[1], "v", PQ_INT64, PQ_LT_INT);
    pq_column_spec_init(&c[2], "s", PQ_BYTE_ARRAY, PQ_LT_STRING);
    c[2].nullable = true;
    pq_column_spec_init(&c[3], "extra", PQ_DOUBLE, PQ_LT_NONE);
    c[3].nullable = true;
    pq_writer_options_default(&wo);
    pq_writer *w = pq_writer_new(c, 4, &wo, membuf_sink, m, &err);
    CHECK(w);
    for (int i = 0; i < rows; i++) {
        CHECK_OK(pq_write_i64(w, 0, INT64_C(1714521600000000) + i), &err);
        CHECK_OK(pq_write_i64(w, 1, 7000 + i), &err);
        CHECK_OK(pq_write_bytes(w, 2, "g", 1), &err);
        CHECK_OK(pq_write_double(w, 3, i * 0.5), &err);
        CHECK_OK(pq_writer_end_rows(w), &err);
    }
    CHECK_OK(pq_writer_close(w, NULL), pq_writer_error(w));
    pq_writer_free(w);
}

/* Runs the recipe; returns its JSON output. */
static json_t *run_recipe(const char *script, const char *dir, const char *sql, char *text,
                          size_t textsz)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "node '%s' '%s'%s%s%s", script, dir, sql ? " \"" : "", sql ? sql : "",
             sql ? "\"" : "");
    FILE *p = popen(cmd, "r");
    CHECK(p);
    size_t n = fread(text, 1, textsz - 1, p);
    text[n] = '\0';
    int st = pclose(p);
    if (st != 0) {
        fprintf(stderr, "%s: exit %d\n%s\n", cmd, st, text);
        exit(1);
    }
    if (sql)
        return NULL;
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j) {
        fprintf(stderr, "recipe output is not JSON (%s): %s\n", je.text, text);
        exit(1);
    }
    return j;
}

int main(int argc, char **argv)
{
    char script[PATH_MAX], dir[600], probe[PATH_MAX + 200], out[1 << 16];
    membuf a, b, c, d, e, f;
    delta_table *t = NULL;
    ts_err err;
    ts_err_clear(&err);

    if (!realpath(argc > 1 ? argv[1] : "tests/delta/duckdb_delta.mjs", script)) {
        printf("SKIP duckdb recipe: no duckdb_delta.mjs at %s\n", argc > 1 ? argv[1] : "");
        return SKIP_CODE;
    }
    snprintf(probe, sizeof probe,
             "node -e \"require('%.*s/../../tools/node_modules/@duckdb/node-api')\" 2>/dev/null",
             (int)(strrchr(script, '/') - script), script);
    if (system(probe) != 0) {
        printf("SKIP duckdb recipe: node or tools/node_modules/@duckdb/node-api is missing "
               "(scripts/deps installs them)\n");
        return SKIP_CODE;
    }
    if (test_lake_open(&tl, "local", "delta-duckdb") != 0)
        return SKIP_CODE;
    snprintf(root, sizeof root, "%s/c1/metrics/public.duck", tl.prefix);
    snprintf(dir, sizeof dir, "%s/%s", tl.root, root);
    CHECK_OK(delta_table_open(tl.lk, root, NULL, &t, &err), &err);

    const char *A = "year=2024/month=01/_hyper_1_1_chunk.parquet";
    const char *B = "year=2024/month=01/a b%c=d \xc3\xa9.parquet";
    const char *C = "year=2024/month=02/_hyper_1_2_chunk.parquet";
    const char *D = "year=2024/month=03/grown.parquet";
    const char *E = "year=2024/month=04/orphan.parquet"; /* in the folder, not in the log */
    const char *F = "year=2024/month=05/f\xc3\xb6reign.parquet";
    make_simple_parquet(&a, 100, INT64_C(1704067200000000), 0);
    make_simple_parquet(&b, 50, INT64_C(1704067200000000), 100);
    make_simple_parquet(&c, 20, INT64_C(1706745600000000), 200);
    make_grown(&d, 10);
    make_simple_parquet(&e, 30, INT64_C(1711929600000000), 300);
    make_simple_parquet(&f, 15, INT64_C(1714521600000000), 400);

    CHECK_EQ(add_file(t, A, &a, true, NULL), 0);
    CHECK_EQ(add_file(t, B, &b, false, NULL), 1);
    CHECK_EQ(add_file(t, C, &c, false, A), 2); /* A superseded: removed */
    CHECK_EQ(add_file(t, D, &d, true, NULL), 3);
    put_file(tl.lk, root, E, &e);
    /* another writer: lower-case escapes, '=' escaped, a raw non-ASCII byte */
    {
        char path[700], commit[1500];
        snprintf(commit, sizeof commit,
                 "{\"commitInfo\":{\"timestamp\":1,\"engineInfo\":\"someone-else\"}}\n"
                 "{\"remove\":{\"path\":\"year%%3d2024/month%%3d01/a%%20b%%25c%%3dd%%20%%c3%%a9."
                 "parquet\",\"deletionTimestamp\":2,\"dataChange\":true}}\n"
                 "{\"add\":{\"path\":\"year=2024/month=05/f\xc3\xb6reign.parquet\","
                 "\"partitionValues\":{},\"size\":%zu,\"modificationTime\":3,\"dataChange\":true,"
                 "\"stats\":\"{\\\"numRecords\\\":15}\"}}\n",
                 f.n);
        put_file(tl.lk, root, F, &f);
        snprintf(path, sizeof path, "%s/_delta_log/00000000000000000004.json", root);
        CHECK_OK(lake_put_bytes(tl.lk, path, commit, strlen(commit), NULL, &err), &err);
    }
    CHECK_OK(delta_table_refresh(t, &err), &err);
    CHECK_EQ(delta_table_version(t), 4);
    CHECK(delta_table_find(t, B) == NULL);
    CHECK(delta_table_find(t, F) != NULL);
    CHECK_EQ(add_file(t, A, &a, false, NULL), 5); /* A back again */

    /* tsarchive's view: A, C, D, F */
    int64_t want_rows = 0;
    json_t *want_files = json_array();
    CHECK_EQ(delta_table_nfiles(t), 4);
    for (size_t i = 0; i < delta_table_nfiles(t); i++) {
        const delta_file *df = delta_table_file(t, i);
        char full[1200];
        snprintf(full, sizeof full, "%s/%s", dir, df->path);
        json_array_append_new(want_files, json_string(full));
        CHECK(df->num_records > 0);
        want_rows += df->num_records;
    }
    CHECK_EQ(want_rows, 100 + 20 + 10 + 15);

    /* DuckDB's view through the recipe */
    json_t *got = run_recipe(script, dir, NULL, out, sizeof out);
    printf("recipe: %s", out);
    CHECK_EQ(json_integer_value(json_object_get(got, "version")), 5);
    CHECK_EQ(json_integer_value(json_object_get(got, "rows")), want_rows);
    if (!json_equal(json_object_get(got, "files"), want_files)) {
        char *w = json_dumps(want_files, 0);
        fprintf(stderr, "files differ:\n  duckdb: %s\n  delta:  %s\n", out, w);
        free(w);
        return 1;
    }
    json_decref(got);
    json_decref(want_files);
    /* the grown column: NULL for files that predate it, values in D */
    run_recipe(script, dir, "SELECT count(*), count(extra), sum(extra), min(v), max(v) FROM delta",
               out, sizeof out);
    printf("query: %s", out);
    CHECK_STR(out, "145\t10\t22.5\t0\t7009\n");

    /* nothing live: zero rows, no file */
    CHECK_OK(delta_table_refresh(t, &err), &err);
    {
        delta_txn *tx = NULL;
        CHECK_OK(delta_txn_new(t, "DELETE", &tx, &err), &err);
        for (size_t i = 0; i < 4; i++)
            CHECK_OK(delta_txn_remove(tx, delta_table_file(t, i)->path, 0, &err), &err);
        CHECK_OK(delta_txn_commit(tx, NULL, &err), &err);
        delta_txn_free(tx);
    }
    got = run_recipe(script, dir, NULL, out, sizeof out);
    CHECK_EQ(json_integer_value(json_object_get(got, "rows")), 0);
    CHECK_EQ(json_array_size(json_object_get(got, "files")), 0);
    CHECK_EQ(json_integer_value(json_object_get(got, "version")), 6);
    json_decref(got);

    delta_table_free(t);
    free(a.p);
    free(b.p);
    free(c.p);
    free(d.p);
    free(e.p);
    free(f.p);
    test_lake_close(&tl);
    printf("ok\n");
    return 0;
}
