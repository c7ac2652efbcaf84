/* fuzz_delta_log.c: libFuzzer target over the Delta log's parsers of outside input: a
 * commit file (replayed as version 0, then again as version 1 on top of itself), a
 * schemaString, a stats text (the files report), a URI-encoded path. Beyond "no
 * crash": a refused commit changes nothing, errors are printable and name the commit,
 * the table's views agree with each other, paths round-trip through the encoder, and a
 * schema that parses writes back to text that parses to the same schema. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "delta/delta_int.h"
#include "delta/list.h"

static void check_msg(const ts_err *e)
{
    for (const char *p = e->msg; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f) {
            fprintf(stderr, "unprintable error: %s\n", e->msg);
            abort();
        }
    if (e->code != TS_ERR_FORMAT && e->code != TS_ERR_UNSUPPORTED && e->code != TS_ERR_NOMEM) {
        fprintf(stderr, "unexpected code %d: %s\n", e->code, e->msg);
        abort();
    }
}

static void check_table(delta_table *t)
{
    size_t live = 0;
    for (size_t i = 0; i < t->nent; i++)
        live += t->ent[i]->live;
    if (live != delta_table_nfiles(t) || t->nent != live + delta_table_nremoved(t))
        abort();
    for (size_t i = 0; i < delta_table_nfiles(t); i++) {
        const delta_file *f = delta_table_file(t, i);
        char *enc, *dec = NULL;
        ts_err e;
        ts_err_clear(&e);
        if (i > 0 && strcmp(delta_table_file(t, i - 1)->path, f->path) >= 0)
            abort(); /* sorted, unique */
        if (delta_table_find(t, f->path) != f)
            abort();
        if (!(enc = delta_uri_encode(f->path)))
            abort();
        if (delta_uri_decode(enc, &dec, &e) != TS_OK || strcmp(dec, f->path) != 0)
            abort();
        ts_free(enc);
        ts_free(dec);
    }
    if (t->schema) {
        delta_files_report *r = NULL;
        ts_err e;
        ts_err_clear(&e);
        for (int c = 0; c < delta_schema_ncolumns(t->schema); c++) {
            if (delta_files_report_new(t, delta_schema_column_name(t->schema, c), &r, &e) == TS_OK)
                delta_files_report_free(r);
            r = NULL;
        }
        (void)delta_write_check(t, true, &e);
    }
}

static void replay(const uint8_t *data, size_t size)
{
    delta_table *t = NULL;
    ts_err e;
    ts_err_clear(&e);
    if (delta_table_new_detached("t", &t, &e) != TS_OK)
        abort();
    for (int round = 0; round < 2; round++) {
        int64_t v = delta_table_version(t);
        size_t n = delta_table_nfiles(t);
        ts_err_clear(&e);
        if (delta_log_apply(t, (const char *)data, size, &e) != TS_OK) {
            check_msg(&e);
            if (e.code != TS_ERR_NOMEM &&
                (delta_table_version(t) != v || delta_table_nfiles(t) != n ||
                 !strstr(e.msg, round ? "00000000000000000001.json" : "00000000000000000000.json")))
                abort();
            break;
        }
        if (delta_table_version(t) != v + 1)
            abort();
        check_table(t);
    }
    delta_table_free(t);
}

static void schema(const uint8_t *data, size_t size)
{
    delta_schema *s = NULL, *s2 = NULL;
    ts_err e;
    ts_err_clear(&e);
    if (delta_schema_parse((const char *)data, size, &s, &e) != TS_OK) {
        check_msg(&e);
        return;
    }
    char *js = delta_schema_json(s);
    if (!js || delta_schema_parse(js, strlen(js), &s2, &e) != TS_OK || !delta_schema_equal(s, s2))
        abort();
    (void)delta_schema_needs_timestamp_ntz(s);
    ts_free(js);
    delta_schema_free(s);
    delta_schema_free(s2);
}

static void path(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *dec = NULL;
    ts_err e;
    if (!s)
        return;
    memcpy(s, data, size);
    s[size] = '\0';
    ts_err_clear(&e);
    if (delta_uri_decode(s, &dec, &e) == TS_OK) {
        char *enc = delta_uri_encode(dec), *back = NULL;
        if (!enc || delta_uri_decode(enc, &back, &e) != TS_OK || strcmp(back, dec) != 0)
            abort();
        ts_free(enc);
        ts_free(back);
        ts_free(dec);
        (void)delta_path_check(s, &e);
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    replay(data, size);
    schema(data, size);
    if (size < 4096)
        path(data, size);
    return 0;
}
