/* test_fdw_archive.c: the foreign data wrapper's archive side (ext/tsarchive_fdw/
 * archive.c) without a server, and the library additions it stands on: a file of
 * several row groups read with only some columns and some row groups (the reader's
 * selection), exceptions still found at their rows when row groups before them are
 * skipped (rowimage), row-group bounds in the binary form (the max withheld where the
 * file keeps exceptions), memory bounded by one row group whatever the file's size,
 * truncated files, interrupts, names and stats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "archive.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "parquet/writer.h"

#define ROWS 35
#define RG_ROWS 10
#define FAR_FUTURE "9223371331200000000" /* PostgreSQL microseconds far past 294247 AD */
#define PG_TIMESTAMPTZ 1184
#define PG_INT4 23
#define PG_TEXT 25

static char dir[256];

static int sink(void *ctx, const void *data, size_t len, ts_err *err)
{
    return fwrite(data, 1, len, ctx) == len ? 0 : ts_err_set(err, TS_ERR_IO, "short write");
}

/* A file of three columns and ROWS rows in row groups of RG_ROWS: ts (NULL plus an
 * exception at rows 12 and 27), v = row * 10, s = "s<row>". */
static void write_file(const char *path, int64_t rg_rows, int rows, bool one_column)
{
    pq_column_spec c[3];
    pq_writer_options o;
    pq_write_result res;
    ts_err err;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    ts_err_clear(&err);
    pq_column_spec_init(&c[0], "ts", PQ_INT64, PQ_LT_TIMESTAMP);
    c[0].ts_utc = true, c[0].time_unit = PQ_UNIT_MICROS, c[0].nullable = true;
    pq_column_spec_init(&c[1], "v", PQ_INT32, PQ_LT_INT);
    c[1].bit_width = 32, c[1].is_signed = true;
    pq_column_spec_init(&c[2], "s", PQ_BYTE_ARRAY, PQ_LT_STRING);
    pq_writer_options_default(&o);
    o.row_group_rows = rg_rows;
    o.codec = PQ_CODEC_UNCOMPRESSED;
    o.dictionary = false;
    pq_writer *w = pq_writer_new(one_column ? &c[1] : c, one_column ? 1 : 3, &o, sink, f, &err);
    assert_non_null(w);
    if (!one_column)
        assert_int_equal(pq_writer_add_kv(w, "tsarchive.exceptions",
                                          "{\"ts\": [[12, \"" FAR_FUTURE "\"], [27, \"" FAR_FUTURE
                                          "\"]]}"),
                         0);
    for (int r = 0; r < rows; r++) {
        char s[32];
        if (one_column) {
            assert_int_equal(pq_write_i32(w, 0, r * 7919), 0);
        } else {
            if (r == 12 || r == 27)
                assert_int_equal(pq_write_null(w, 0), 0);
            else /* 2024-01-01 plus r hours, microseconds since 1970 */
                assert_int_equal(
                    pq_write_i64(w, 0, INT64_C(1704067200000000) + (int64_t)r * 3600000000), 0);
            assert_int_equal(pq_write_i32(w, 1, r * 10), 0);
            snprintf(s, sizeof s, "s%d", r);
            assert_int_equal(pq_write_bytes(w, 2, s, strlen(s)), 0);
        }
        assert_int_equal(pq_writer_end_rows(w), 0);
    }
    assert_int_equal(pq_writer_close(w, &res), 0);
    pq_writer_free(w);
    assert_int_equal(fclose(f), 0);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static int interrupt_now;
static int interrupted(void *ctx)
{
    (void)ctx;
    return interrupt_now;
}

static tsa_lake *open_lake(void)
{
    tsa_lake_options o;
    tsa_lake *lk = NULL;
    tsa_err err;
    memset(&o, 0, sizeof o);
    o.path = dir;
    o.max_retries = -1;
    o.interrupted = interrupted;
    tsa_err_clear(&err);
    assert_int_equal(tsa_lake_open(&o, &lk, &err), 0);
    return lk;
}

static int64_t be64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | p[i];
    return (int64_t)u;
}

static int32_t be32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

static const tsa_col cols3[3] = {
    {"ts", "timestamp with time zone", PG_TIMESTAMPTZ, 0, false, false},
    {"v", "integer", PG_INT4, 0, false, false},
    {"s", "text", PG_TEXT, 0, false, false},
};

/* Row groups 1 and 3 of 4: rows 10..19 and 30..34 come back, the exception at row 12
 * exact, the row group of row 27 (also an exception) never read. */
static void test_row_groups_and_exceptions(void **state)
{
    (void)state;
    char path[300];
    tsa_lake *lk = open_lake();
    tsa_file *f = NULL;
    tsa_err err;
    snprintf(path, sizeof path, "%s/t/a.parquet", dir);
    write_file(path, RG_ROWS, ROWS, false);
    tsa_err_clear(&err);
    assert_int_equal(tsa_file_open(lk, "t/a.parquet", file_size(path), ROWS, 0, &f, &err), 0);
    assert_int_equal(tsa_file_nrow_groups(f), 4);
    assert_int_equal(tsa_file_row_group_rows(f, 3), 5);
    assert_true(tsa_file_has_column(f, "s"));
    assert_false(tsa_file_has_column(f, "nope"));
    assert_int_equal(tsa_file_plan(f, cols3, 3, &err), 0);
    assert_false(tsa_file_is_text(f, 0));

    /* bounds: v's min and max; ts's min only (the file keeps exceptions for ts) */
    const uint8_t *p;
    int32_t len;
    assert_int_equal(tsa_file_rg_bound(f, 1, 2, false, &p, &len, &err), 1);
    assert_int_equal(len, 4);
    assert_int_equal(be32(p), 200);
    assert_int_equal(tsa_file_rg_bound(f, 1, 2, true, &p, &len, &err), 1);
    assert_int_equal(be32(p), 290);
    assert_int_equal(tsa_file_rg_bound(f, 0, 0, false, &p, &len, &err), 1);
    assert_int_equal(len, 8); /* PostgreSQL's epoch: 2000-01-01 */
    assert_int_equal(be64(p), INT64_C(1704067200000000) - INT64_C(946684800000000));
    assert_int_equal(tsa_file_rg_bound(f, 0, 0, true, &p, &len, &err), 0);
    assert_int_equal(tsa_file_rg_bound(f, 2, 0, false, &p, &len, &err), 1);
    assert_int_equal(len, 2);
    assert_memory_equal(p, "s0", 2);
    int64_t nulls = -1;
    assert_int_equal(tsa_file_rg_null_count(f, 0, 1, &nulls), 1);
    assert_int_equal(nulls, 1);
    assert_int_equal(tsa_file_rg_null_count(f, 0, 0, &nulls), 1);
    assert_int_equal(nulls, 0);

    bool want[4] = {false, true, false, true};
    assert_int_equal(tsa_file_select_row_groups(f, want, &err), 0);
    int expect = 10, n = 0;
    while (tsa_file_next(f, &err) == 1) {
        const uint8_t *d;
        int32_t l;
        tsa_file_field(f, 1, &d, &l);
        assert_int_equal(l, 4);
        assert_int_equal(be32(d), expect * 10);
        tsa_file_field(f, 0, &d, &l);
        assert_int_equal(l, 8);
        if (expect == 12)
            assert_int_equal(be64(d), INT64_C(9223371331200000000));
        else
            assert_int_equal(be64(d), INT64_C(1704067200000000) - INT64_C(946684800000000) +
                                          (int64_t)expect * 3600000000);
        tsa_file_field(f, 2, &d, &l);
        char s[32];
        snprintf(s, sizeof s, "s%d", expect);
        assert_int_equal(l, (int32_t)strlen(s));
        assert_memory_equal(d, s, strlen(s));
        n++;
        expect = expect == 19 ? 30 : expect + 1;
    }
    assert_int_equal(err.code, 0);
    assert_int_equal(n, 15);
    tsa_file_free(f);

    /* only v, every row group: the other columns are not read at all */
    assert_int_equal(tsa_file_open(lk, "t/a.parquet", file_size(path), -1, 0, &f, &err), 0);
    assert_int_equal(tsa_file_plan(f, &cols3[1], 1, &err), 0);
    n = 0;
    while (tsa_file_next(f, &err) == 1) {
        const uint8_t *d;
        int32_t l;
        tsa_file_field(f, 0, &d, &l);
        assert_int_equal(be32(d), n * 10);
        n++;
    }
    assert_int_equal(n, ROWS);
    tsa_file_free(f);

    /* no column (count(*)): rows without reading a column chunk */
    assert_int_equal(tsa_file_open(lk, "t/a.parquet", file_size(path), -1, 0, &f, &err), 0);
    assert_int_equal(tsa_file_plan(f, NULL, 0, &err), 0);
    n = 0;
    while (tsa_file_next(f, &err) == 1)
        n++;
    assert_int_equal(n, ROWS);
    tsa_file_free(f);
    tsa_lake_free(lk);
}

/* The footer must state the rows the log gives; a file shorter than the log says is
 * truncated; a column's type must fit; an interrupt stops a read. */
static void test_refusals(void **state)
{
    (void)state;
    char path[300];
    tsa_lake *lk = open_lake();
    tsa_file *f = NULL;
    tsa_err err;
    snprintf(path, sizeof path, "%s/t/a.parquet", dir);
    write_file(path, RG_ROWS, ROWS, false);
    long size = file_size(path);

    tsa_err_clear(&err);
    assert_true(tsa_file_open(lk, "t/a.parquet", size, ROWS + 1, 0, &f, &err) < 0);
    assert_non_null(strstr(err.msg, "rows"));

    tsa_err_clear(&err);
    assert_int_equal(tsa_file_open(lk, "t/a.parquet", size + 100, -1, 0, &f, &err), TSA_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "truncated"));

    tsa_err_clear(&err);
    assert_true(truncate(path, size - 10) == 0);
    assert_true(tsa_file_open(lk, "t/a.parquet", size, -1, 0, &f, &err) < 0);
    assert_non_null(strstr(err.msg, "t/a.parquet"));
    write_file(path, RG_ROWS, ROWS, false);

    tsa_err_clear(&err);
    int orc = tsa_file_open(lk, "t/a.parquet", size, ROWS, 0, &f, &err);
    if (orc)
        print_error("%s\n", err.msg);
    assert_int_equal(orc, 0);
    tsa_col wrong = {"v", "text", PG_TEXT, 0, false, false};
    assert_int_equal(tsa_file_plan(f, &wrong, 1, &err), TSA_ERR_INVALID);
    assert_non_null(strstr(err.msg, "\"v\""));
    tsa_file_free(f);
    /* a string into another type: its text, for the type's input function */
    tsa_err_clear(&err);
    assert_int_equal(tsa_file_open(lk, "t/a.parquet", size, ROWS, 0, &f, &err), 0);
    tsa_col as_int = {"s", "integer", PG_INT4, 0, false, false};
    assert_int_equal(tsa_file_plan(f, &as_int, 1, &err), 0);
    assert_true(tsa_file_is_text(f, 0));
    tsa_file_free(f);

    tsa_err_clear(&err);
    interrupt_now = 1;
    assert_true(tsa_file_open(lk, "t/a.parquet", size, ROWS, 0, &f, &err) < 0);
    assert_non_null(strstr(err.msg, "interrupted"));
    interrupt_now = 0;
    tsa_lake_free(lk);
}

/* A file far larger than the memory cap reads whole when one row group fits: memory
 * is one row group's columns; a cap below one row group fails, naming the buffer. */
static void test_memory_one_row_group(void **state)
{
    (void)state;
    char path[300];
    tsa_lake *lk = open_lake();
    tsa_file *f = NULL;
    tsa_err err;
    const int rows = 200000;
    snprintf(path, sizeof path, "%s/t/big.parquet", dir);
    write_file(path, 20000, rows, true); /* 10 row groups of ~80 KB */
    long size = file_size(path);
    assert_true(size > 700000);
    tsa_col v = {"v", "integer", PG_INT4, 0, false, false};

    tsa_err_clear(&err);
    int orc = tsa_file_open(lk, "t/big.parquet", size, rows, 300000, &f, &err);
    if (orc)
        print_error("%s\n", err.msg);
    assert_int_equal(orc, 0);
    assert_int_equal(tsa_file_plan(f, &v, 1, &err), 0);
    int n = 0, rc;
    while ((rc = tsa_file_next(f, &err)) == 1)
        n++;
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(n, rows);
    tsa_file_free(f);

    tsa_err_clear(&err);
    f = NULL;
    rc = tsa_file_open(lk, "t/big.parquet", size, rows, 100000, &f, &err);
    if (rc == 0 && (rc = tsa_file_plan(f, &v, 1, &err)) == 0)
        rc = tsa_file_next(f, &err);
    assert_int_equal(rc, TSA_ERR_TOOBIG);
    assert_non_null(strstr(err.msg, "column chunk of"));
    assert_non_null(strstr(err.msg, "allocation cap"));
    tsa_file_free(f);
    tsa_lake_free(lk);
}

static void test_names_and_stats(void **state)
{
    (void)state;
    char *c = NULL, *d = NULL, *s = NULL, *t = NULL, *root;
    char buf[64], sc[64], nm[64];
    bool str;
    tsa_stats *st = NULL;
    tsa_err err;
    int64_t n;

    root = tsa_table_root("pg1", "my db", "we.ird", "t/x");
    assert_string_equal(root, "pg1/my%20db/we%2Eird.t%2Fx");
    assert_int_equal(tsa_root_parts(root, &c, &d, &s, &t), 0);
    assert_string_equal(c, "pg1");
    assert_string_equal(d, "my db");
    assert_string_equal(s, "we.ird");
    assert_string_equal(t, "t/x");
    tsa_free(c), tsa_free(d), tsa_free(s), tsa_free(t), tsa_free(root);
    assert_int_equal(tsa_root_parts("a/b/c", NULL, NULL, NULL, NULL), -1);
    assert_int_equal(tsa_root_parts("a/b/c.d.e", NULL, NULL, NULL, NULL), -1);
    assert_int_equal(tsa_root_parts("a/b/c%2.d", NULL, NULL, NULL, NULL), -1);
    root = tsa_database_root("pg1", "db");
    assert_string_equal(root, "pg1/db/");
    tsa_free(root);

    assert_int_equal(tsa_chunk_tag_parse("[\"s\",\"c\"]", sc, sizeof sc, nm, sizeof nm), 0);
    assert_string_equal(sc, "s");
    assert_string_equal(nm, "c");
    assert_int_equal(tsa_chunk_tag_parse("[1]", sc, sizeof sc, nm, sizeof nm), -1);

    tsa_err_clear(&err);
    assert_int_equal(tsa_stats_parse("{\"numRecords\":3,\"minValues\":{\"a\":-5,\"f\":0.1,"
                                     "\"ts\":\"2024-01-01T00:00:00.000Z\"},\"maxValues\":{\"a\":"
                                     "9007199254740993},\"nullCount\":{\"a\":0}}",
                                     &st, &err),
                     0);
    assert_int_equal(tsa_stats_bound(st, "a", false, buf, sizeof buf, &str), 1);
    assert_string_equal(buf, "-5");
    assert_false(str);
    assert_int_equal(tsa_stats_bound(st, "a", true, buf, sizeof buf, &str), 1);
    assert_string_equal(buf, "9007199254740993"); /* exact: an integer, not a double */
    assert_int_equal(tsa_stats_bound(st, "f", false, buf, sizeof buf, &str), 1);
    assert_string_equal(buf, "0.10000000000000001");
    assert_int_equal(tsa_stats_bound(st, "ts", false, buf, sizeof buf, &str), 1);
    assert_true(str);
    assert_int_equal(tsa_stats_bound(st, "ts", true, buf, sizeof buf, &str), 0);
    assert_int_equal(tsa_stats_null_count(st, "a", &n), 1);
    assert_int_equal(n, 0);
    assert_int_equal(tsa_stats_null_count(st, "b", &n), 0);
    tsa_stats_free(st);
    assert_int_equal(tsa_stats_parse("not json", &st, &err), 0);
    assert_int_equal(tsa_stats_bound(st, "a", false, buf, sizeof buf, &str), 0);
    tsa_stats_free(st);
}

static int setup(void **state)
{
    (void)state;
    char t[300];
    snprintf(dir, sizeof dir, "/tmp/test_fdw_archive.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(t, sizeof t, "%s/t", dir);
    return mkdir(t, 0755) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_groups_and_exceptions),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_memory_one_row_group),
        cmocka_unit_test(test_names_and_stats),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
