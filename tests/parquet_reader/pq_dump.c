/* pq_dump.c: test aid: reads a Parquet file with tsarchive's reader and prints its
 * columns and rows as canonical JSON (integers and decimals as exact text, floats as
 * %.17g, byte arrays as hex, lists as arrays) for the DuckDB comparison script. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "parquet/reader.h"

static json_t *canon(const pq_reader_column *col, const pq_value *v)
{
    const pq_column_spec *s = &col->spec;
    char buf[256];
    if (v->is_null)
        return json_null();
    switch (s->physical) {
    case PQ_BOOLEAN:
        return json_string(v->v.b ? "true" : "false");
    case PQ_INT32:
        if (s->logical == PQ_LT_DECIMAL) {
            if (pq_decimal_format_i64(v->v.i32, s->scale, buf, sizeof buf))
                return json_string("ERR");
        } else if (s->logical == PQ_LT_INT && !s->is_signed) {
            snprintf(buf, sizeof buf, "%u", (unsigned)(uint32_t)v->v.i32);
        } else {
            snprintf(buf, sizeof buf, "%d", (int)v->v.i32);
        }
        return json_string(buf);
    case PQ_INT64:
        if (s->logical == PQ_LT_DECIMAL) {
            if (pq_decimal_format_i64(v->v.i64, s->scale, buf, sizeof buf))
                return json_string("ERR");
        } else if (s->logical == PQ_LT_INT && !s->is_signed) {
            snprintf(buf, sizeof buf, "%llu", (unsigned long long)(uint64_t)v->v.i64);
        } else {
            snprintf(buf, sizeof buf, "%lld", (long long)v->v.i64);
        }
        return json_string(buf);
    case PQ_FLOAT:
    case PQ_DOUBLE: {
        double d = s->physical == PQ_FLOAT ? (double)v->v.f : v->v.d;
        if (isnan(d))
            return json_string("nan");
        if (isinf(d))
            return json_string(d > 0 ? "inf" : "-inf");
        snprintf(buf, sizeof buf, "%.17g", d);
        return json_string(buf);
    }
    case PQ_INT96: {
        char *p = buf;
        for (int i = 0; i < 12; i++)
            p += sprintf(p, "%02x", v->v.i96[i]);
        return json_string(buf);
    }
    default: {
        if (s->logical == PQ_LT_DECIMAL) {
            if (pq_decimal_format(v->v.bin.ptr, v->v.bin.len, s->scale, buf, sizeof buf))
                return json_string("ERR");
            return json_string(buf);
        }
        static const char hx[] = "0123456789abcdef";
        size_t n = v->v.bin.len;
        char *h = malloc(n * 2 + 1);
        if (!h)
            return json_null();
        for (size_t i = 0; i < n; i++) {
            h[2 * i] = hx[v->v.bin.ptr[i] >> 4];
            h[2 * i + 1] = hx[v->v.bin.ptr[i] & 15];
        }
        h[2 * n] = '\0';
        json_t *j = json_string(h);
        free(h);
        return j;
    }
    }
}

int main(int argc, char **argv)
{
    pq_reader *r = NULL;
    const pq_reader_column *cols;
    int ncols, rc;
    ts_err err;
    json_t *out = json_object(), *jrows = json_array(), *jcols = json_array();

    ts_err_clear(&err);
    if (argc != 2) {
        fprintf(stderr, "usage: pq_dump FILE\n");
        return 2;
    }
    if (pq_reader_open_file(&r, argv[1], NULL, &err) || pq_reader_columns(r, &cols, &ncols, &err))
        goto fail;
    for (int i = 0; i < ncols; i++) {
        const pq_column_spec *s = &cols[i].spec;
        json_array_append_new(
            jcols,
            json_pack("{s:s, s:s, s:i, s:b, s:b, s:b, s:i, s:i, s:i, s:b, s:b, s:i}", "name",
                      s->name, "physical", pq_physical_name(s->physical), "logical",
                      (int)s->logical, "list", s->list, "nullable", s->nullable, "element_nullable",
                      cols[i].element_nullable, "precision", s->precision, "scale", s->scale,
                      "bit_width", s->bit_width, "is_signed", s->is_signed, "ts_utc", s->ts_utc,
                      "time_unit", (int)s->time_unit));
    }
    while ((rc = pq_reader_next_row(r, &err)) == 1) {
        json_t *row = json_array();
        for (int i = 0; i < ncols; i++) {
            const pq_cell *c = pq_reader_cell(r, i);
            if (!c->is_list) {
                json_array_append_new(row, canon(&cols[i], &c->items[0]));
            } else if (c->is_null) {
                json_array_append_new(row, json_null());
            } else {
                json_t *l = json_array();
                for (size_t k = 0; k < c->n; k++)
                    json_array_append_new(l, canon(&cols[i], &c->items[k]));
                json_array_append_new(row, l);
            }
        }
        json_array_append_new(jrows, row);
    }
    if (rc < 0)
        goto fail;
    json_object_set_new(out, "columns", jcols);
    json_object_set_new(out, "rows", jrows);
    json_object_set_new(out, "num_rows", json_integer(pq_reader_num_rows(r)));
    json_dumpf(out, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(out);
    pq_reader_free(r);
    return 0;
fail:
    fprintf(stderr, "pq_dump: %s: %s\n", argv[1], err.msg);
    json_decref(out);
    json_decref(jrows);
    json_decref(jcols);
    pq_reader_free(r);
    return 1;
}
