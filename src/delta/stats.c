/* stats.c: an add's stats from a Parquet footer: row-group statistics merged per column
 * into file bounds that are always true bounds, written as Delta's Spark writer writes
 * them (timestamps in milliseconds, string prefixes, numbers as JSON numbers). */
#include "stats.h"

#include "delta_int.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"

/* One column's merged bounds. */
typedef struct colstat {
    delta_stat_kind kind;
    bool bounds; /* min/max known for every row group with values */
    bool any;    /* some row group had values (min/max set) */
    bool nulls_known;
    int64_t nulls;
    int nan;                    /* 1 NaN present, 0 none, -1 unknown (FLOAT / DOUBLE) */
    int64_t imin, imax;         /* INT32 / INT64 based */
    double dmin, dmax;          /* FLOAT / DOUBLE */
    const uint8_t *bmin, *bmax; /* byte arrays (borrowed from the footer) */
    size_t bminlen, bmaxlen;
} colstat;

static int32_t le32(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return (int32_t)v;
}

static int64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return (int64_t)v;
}

/* Merges one row group's statistics of column c into cs. */
static void merge_chunk(colstat *cs, const pq_reader_column *c, const pq_chunk_meta *ch,
                        const pq_file_meta *fm)
{
    const pq_stats *st = &ch->stats;
    int phys = c->spec.physical;
    bool bytes = phys == PQ_BYTE_ARRAY || phys == PQ_FIXED_LEN_BYTE_ARRAY;

    if (!ch->has_meta || !ch->has_stats) {
        cs->bounds = cs->nulls_known = false;
        cs->nan = cs->nan == 1 ? 1 : -1;
        return;
    }
    if (st->has_null_count)
        cs->nulls += st->null_count;
    else
        cs->nulls_known = false;
    if (cs->kind == DELTA_STAT_FLOAT || cs->kind == DELTA_STAT_DOUBLE) {
        if (!st->has_nan_count)
            cs->nan = cs->nan == 1 ? 1 : -1;
        else if (st->nan_count > 0)
            cs->nan = 1;
    }
    if (!cs->bounds || cs->kind == DELTA_STAT_NONE)
        return;
    if (!st->has_min || !st->has_max) {
        /* fine only when the chunk holds no value: all NULL */
        if (!(st->has_null_count && st->null_count == ch->num_values))
            cs->bounds = false;
        return;
    }
    /* byte arrays: only the type-defined (unsigned, or decimal) order is right */
    if (bytes && (st->legacy || c->leaf >= fm->ncolumn_orders || fm->column_orders[c->leaf] != 1)) {
        cs->bounds = false;
        return;
    }
    const uint8_t *mn = st->min, *mx = st->max;
    size_t mnl = st->min_len, mxl = st->max_len;
    switch (phys) {
    case PQ_INT32:
    case PQ_INT64: {
        size_t w = phys == PQ_INT32 ? 4 : 8;
        if (mnl != w || mxl != w) {
            cs->bounds = false;
            return;
        }
        int64_t lo = w == 4 ? le32(mn) : le64(mn), hi = w == 4 ? le32(mx) : le64(mx);
        if (!cs->any || lo < cs->imin)
            cs->imin = lo;
        if (!cs->any || hi > cs->imax)
            cs->imax = hi;
        break;
    }
    case PQ_FLOAT:
    case PQ_DOUBLE: {
        size_t w = phys == PQ_FLOAT ? 4 : 8;
        double lo, hi;
        if (mnl != w || mxl != w) {
            cs->bounds = false;
            return;
        }
        if (w == 4) {
            float f, g;
            memcpy(&f, mn, 4);
            memcpy(&g, mx, 4);
            lo = f;
            hi = g;
        } else {
            memcpy(&lo, mn, 8);
            memcpy(&hi, mx, 8);
        }
        if (isnan(lo) || isnan(hi)) { /* an old writer's NaN bound: no order */
            cs->bounds = false;
            return;
        }
        if (!cs->any || lo < cs->dmin)
            cs->dmin = lo;
        if (!cs->any || hi > cs->dmax)
            cs->dmax = hi;
        break;
    }
    case PQ_BYTE_ARRAY:
    case PQ_FIXED_LEN_BYTE_ARRAY: {
        bool dec = cs->kind == DELTA_STAT_DECIMAL;
        if (dec && (mnl > 64 || mxl > 64)) {
            cs->bounds = false;
            return;
        }
        if (!cs->any || (dec ? pq_cmp_signed_be(mn, mnl, cs->bmin, cs->bminlen)
                             : pq_cmp_bytes(mn, mnl, cs->bmin, cs->bminlen)) < 0) {
            cs->bmin = mn;
            cs->bminlen = mnl;
        }
        if (!cs->any || (dec ? pq_cmp_signed_be(mx, mxl, cs->bmax, cs->bmaxlen)
                             : pq_cmp_bytes(mx, mxl, cs->bmax, cs->bmaxlen)) > 0) {
            cs->bmax = mx;
            cs->bmaxlen = mxl;
        }
        break;
    }
    default:
        cs->bounds = false;
        return;
    }
    cs->any = true;
}

/* Appends `,"name":` (no comma first) and returns where the entry starts, so an
 * omitted value can be taken back. */
static int key(ts_buf *b, const char *name, size_t *mark)
{
    *mark = b->len;
    int rc = b->len > 1 ? ts_buf_putc(b, ',') : TS_OK;
    if (rc == TS_OK)
        rc = delta_json_string(b, name, strlen(name));
    if (rc == TS_OK)
        rc = ts_buf_putc(b, ':');
    return rc;
}

/* Writes one bound of cs (is_max: the max) into b under name; nothing when there is no
 * bound that is true. */
static int bound(ts_buf *b, const char *name, const colstat *cs, const pq_column_spec *spec,
                 bool is_max)
{
    char v[256];
    size_t mark;
    int rc = key(b, name, &mark), omit = 0;
    if (rc != TS_OK)
        return rc;
    switch (cs->kind) {
    case DELTA_STAT_INT:
        rc = ts_buf_printf(b, "%" PRId64, is_max ? cs->imax : cs->imin);
        break;
    case DELTA_STAT_FLOAT:
    case DELTA_STAT_DOUBLE: {
        double d = is_max ? cs->dmax : cs->dmin;
        double big = cs->kind == DELTA_STAT_FLOAT ? FLT_MAX : DBL_MAX;
        if (is_max && cs->nan != 0) { /* NaN sorts above all: no upper bound */
            omit = 1;
            break;
        }
        if (isinf(d)) {
            /* JSON has no infinity: +inf min and -inf max clamp to the largest finite
             * value (still a bound); -inf min and +inf max say nothing */
            if ((d < 0) != is_max) {
                omit = 1;
                break;
            }
            d = d < 0 ? -big : big;
        }
        delta_format_double(d, v, sizeof v);
        rc = ts_buf_printf(b, "%s", v);
        break;
    }
    case DELTA_STAT_DECIMAL:
        if (spec->physical == PQ_INT32 || spec->physical == PQ_INT64)
            omit = pq_decimal_format_i64(is_max ? cs->imax : cs->imin, spec->scale, v, sizeof v);
        else
            omit = pq_decimal_format(is_max ? cs->bmax : cs->bmin,
                                     is_max ? cs->bmaxlen : cs->bminlen, spec->scale, v, sizeof v);
        if (!omit)
            rc = ts_buf_printf(b, "%s", v);
        break;
    case DELTA_STAT_DATE:
        omit = delta_format_date(is_max ? cs->imax : cs->imin, v, sizeof v);
        if (!omit)
            rc = ts_buf_printf(b, "\"%s\"", v);
        break;
    case DELTA_STAT_TIMESTAMP:
    case DELTA_STAT_TIMESTAMP_NTZ: {
        int64_t t = is_max ? cs->imax : cs->imin;
        if (spec->time_unit == PQ_UNIT_MILLIS) {
            if (t > INT64_MAX / 1000 || t < INT64_MIN / 1000) {
                omit = 1;
                break;
            }
            t *= 1000;
        }
        /* milliseconds, as Delta writes them: the min rounded down, the max up (Spark
         * rounds both down and widens the max by 1 ms when it reads; rounding up keeps
         * the max a bound for readers that do not) */
        omit = delta_format_timestamp(t, cs->kind == DELTA_STAT_TIMESTAMP, is_max, v, sizeof v);
        if (!omit)
            rc = ts_buf_printf(b, "\"%s\"", v);
        break;
    }
    case DELTA_STAT_STRING:
        rc = is_max ? delta_string_max(b, cs->bmax, cs->bmaxlen, DELTA_STATS_STRING_PREFIX)
                    : delta_string_min(b, cs->bmin, cs->bminlen, DELTA_STATS_STRING_PREFIX);
        if (rc == 1) {
            omit = 1;
            rc = TS_OK;
        }
        break;
    default:
        omit = 1;
        break;
    }
    if (omit)
        b->len = mark;
    return rc;
}

/* Reads every row to learn which FLOAT / DOUBLE columns hold a NaN. */
static int scan_nan(pq_reader *r, int ncols, colstat *cs, ts_err *err)
{
    int rc;
    if (pq_reader_row_index(r) != -1)
        return ts_err_set(err, TS_ERR_INTERNAL,
                          "stats: the NaN scan needs a reader before its "
                          "first row");
    for (int i = 0; i < ncols; i++)
        if (cs[i].nan == -1)
            cs[i].nan = 0;
    while ((rc = pq_reader_next_row(r, err)) == 1) {
        for (int i = 0; i < ncols; i++) {
            if (cs[i].kind != DELTA_STAT_FLOAT && cs[i].kind != DELTA_STAT_DOUBLE)
                continue;
            const pq_cell *cell = pq_reader_cell(r, i);
            for (size_t k = 0; cell && !cell->is_null && k < cell->n; k++) {
                const pq_value *v = &cell->items[k];
                if (!v->is_null && (cs[i].kind == DELTA_STAT_FLOAT ? isnan(v->v.f) : isnan(v->v.d)))
                    cs[i].nan = 1;
            }
        }
    }
    return rc < 0 ? rc : TS_OK;
}

int delta_stats_from_parquet(pq_reader *r, unsigned flags, char **json, ts_err *err)
{
    const pq_file_meta *fm = pq_reader_meta(r);
    const pq_reader_column *cols;
    colstat *cs = NULL;
    ts_buf out, mins, maxs, nulls;
    int ncols, rc;
    bool scan = false;

    *json = NULL;
    ts_buf_init(&out, 0);
    ts_buf_init(&mins, 0);
    ts_buf_init(&maxs, 0);
    ts_buf_init(&nulls, 0);
    if ((rc = pq_reader_columns(r, &cols, &ncols, err)) != TS_OK)
        goto out;
    if (ncols > 0 && !(cs = ts_calloc((size_t)ncols, sizeof *cs))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < ncols; i++) {
        char tname[64];
        if ((rc = delta_map_type(&cols[i].spec, tname, sizeof tname, &cs[i].kind, err)) != TS_OK)
            goto out;
        cs[i].bounds = cs[i].nulls_known = true;
        for (int g = 0; g < fm->nrow_groups; g++) {
            const pq_row_group_meta *rg = &fm->row_groups[g];
            if (cols[i].leaf < 0 || cols[i].leaf >= rg->ncolumns) {
                rc = ts_err_set(err, TS_ERR_FORMAT, "row group %d has no column %d", g,
                                cols[i].leaf);
                goto out;
            }
            merge_chunk(&cs[i], &cols[i], &rg->columns[cols[i].leaf], fm);
        }
        if (cs[i].nan == -1 && cs[i].any)
            scan = true;
    }
    if (scan && (flags & DELTA_STATS_SCAN_NAN) && (rc = scan_nan(r, ncols, cs, err)) != TS_OK)
        goto out;

    rc = ts_buf_putc(&mins, '{');
    rc = rc ? rc : ts_buf_putc(&maxs, '{');
    rc = rc ? rc : ts_buf_putc(&nulls, '{');
    for (int i = 0; rc == TS_OK && i < ncols; i++) {
        const pq_reader_column *c = &cols[i];
        size_t mark;
        if (c->spec.list)
            continue; /* no bounds on arrays; Parquet's null count is of elements */
        if (cs[i].bounds && cs[i].any) {
            rc = bound(&mins, c->spec.name, &cs[i], &c->spec, false);
            rc = rc ? rc : bound(&maxs, c->spec.name, &cs[i], &c->spec, true);
        }
        if (rc == TS_OK && cs[i].nulls_known) {
            rc = key(&nulls, c->spec.name, &mark);
            rc = rc ? rc : ts_buf_printf(&nulls, "%" PRId64, cs[i].nulls);
        }
    }
    rc = rc ? rc : ts_buf_putc(&mins, '}');
    rc = rc ? rc : ts_buf_putc(&maxs, '}');
    rc = rc ? rc : ts_buf_putc(&nulls, '}');
    rc = rc ? rc
            : ts_buf_printf(&out,
                            "{\"numRecords\":%" PRId64 ",\"minValues\":%.*s,\"maxValues\":"
                            "%.*s,\"nullCount\":%.*s}",
                            pq_reader_num_rows(r), (int)mins.len, (const char *)mins.data,
                            (int)maxs.len, (const char *)maxs.data, (int)nulls.len,
                            (const char *)nulls.data);
    if (rc == TS_ERR_FORMAT) {
        rc = ts_err_set(err, rc, "stats: a column name is not UTF-8");
        goto out;
    }
    if (rc != TS_OK) {
        rc = ts_err_set(err, rc, "out of memory");
        goto out;
    }
    if (!(*json = ts_strdup(ts_buf_cstr(&out))))
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
out:
    ts_free(cs);
    ts_buf_free(&out);
    ts_buf_free(&mins);
    ts_buf_free(&maxs);
    ts_buf_free(&nulls);
    return rc;
}
