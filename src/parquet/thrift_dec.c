/* thrift_dec.c: the Thrift compact protocol decoder and Parquet's FileMetaData and
 * PageHeader on top of it. Hostile input: bounds, nesting and counts are checked. */
#include "thrift_dec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../common/alloc.h"

/* ---- the arena ---- */

typedef struct arena_block {
    struct arena_block *next;
    size_t size, used;
    /* data follows, 16-aligned */
} arena_block;

struct pq_arena {
    arena_block *head;
    size_t total, cap;
};

#define ARENA_HDR ((sizeof(arena_block) + 15) & ~(size_t)15)

pq_arena *pq_arena_new(size_t cap)
{
    pq_arena *a = ts_calloc(1, sizeof *a);
    if (a)
        a->cap = cap;
    return a;
}

void *pq_arena_alloc(pq_arena *a, size_t n)
{
    arena_block *b = a->head;
    n = (n + 7) & ~(size_t)7;
    if (n == 0)
        n = 8;
    if (!b || b->size - b->used < n) {
        size_t sz = n > 65536 ? n : 65536;
        if (sz > a->cap || a->total > a->cap - sz)
            return NULL;
        b = ts_malloc(ARENA_HDR + sz);
        if (!b)
            return NULL;
        b->size = sz;
        b->used = 0;
        b->next = a->head;
        a->head = b;
        a->total += sz;
    }
    void *p = (uint8_t *)b + ARENA_HDR + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

size_t pq_arena_total(const pq_arena *a)
{
    return a ? a->total : 0;
}

void pq_arena_free(pq_arena *a)
{
    if (!a)
        return;
    for (arena_block *b = a->head, *next; b; b = next) {
        next = b->next;
        ts_free(b);
    }
    ts_free(a);
}

/* ---- the compact protocol ---- */

void pq_tdec_init(pq_tdec *d, const void *buf, size_t len, uint64_t base, const char *ctx,
                  ts_err *err)
{
    d->start = d->p = buf;
    d->end = d->start + len;
    d->base = base;
    d->ctx = ctx;
    d->depth = 0;
    d->err = err;
}

int pq_tdec_fail(pq_tdec *d, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ts_err_set(d->err, TS_ERR_FORMAT, "%s at offset %llu: %s", d->ctx,
                      (unsigned long long)(d->base + pq_tdec_pos(d)), msg);
}

static int need(pq_tdec *d, size_t n)
{
    if ((size_t)(d->end - d->p) < n)
        return pq_tdec_fail(d, "truncated (needs %zu more bytes, %zu left)", n,
                            (size_t)(d->end - d->p));
    return 0;
}

int pq_tdec_varint(pq_tdec *d, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (d->p >= d->end)
            return pq_tdec_fail(d, "truncated varint");
        uint8_t b = *d->p++;
        if (i == 9 && b > 1)
            return pq_tdec_fail(d, "varint overflows 64 bits");
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return pq_tdec_fail(d, "varint longer than 10 bytes");
}

static int64_t unzigzag(uint64_t n)
{
    return (int64_t)(n >> 1) ^ -(int64_t)(n & 1);
}

int pq_tdec_field(pq_tdec *d, int16_t *last_id, int *type, int16_t *id)
{
    if (need(d, 1))
        return TS_ERR_FORMAT;
    uint8_t b = *d->p++;
    *type = b & 0x0f;
    if (*type == PQ_CT_STOP) {
        *id = 0;
        return 0;
    }
    if (*type > PQ_CT_STRUCT)
        return pq_tdec_fail(d, "unknown field type %d", *type);
    int delta = b >> 4;
    if (delta) {
        int nid = *last_id + delta;
        if (nid > INT16_MAX)
            return pq_tdec_fail(d, "field id overflows");
        *id = (int16_t)nid;
    } else {
        uint64_t v = 0;
        if (pq_tdec_varint(d, &v))
            return TS_ERR_FORMAT;
        int64_t s = unzigzag(v);
        if (s < INT16_MIN || s > INT16_MAX)
            return pq_tdec_fail(d, "field id %lld out of range", (long long)s);
        *id = (int16_t)s;
    }
    *last_id = *id;
    return 0;
}

int pq_tdec_i64(pq_tdec *d, int type, int64_t *out)
{
    uint64_t v = 0;
    switch (type) {
    case PQ_CT_BYTE:
        if (need(d, 1))
            return TS_ERR_FORMAT;
        *out = (int8_t)*d->p++;
        return 0;
    case PQ_CT_I16:
    case PQ_CT_I32:
    case PQ_CT_I64:
        if (pq_tdec_varint(d, &v))
            return TS_ERR_FORMAT;
        *out = unzigzag(v);
        if (type == PQ_CT_I16 && (*out < INT16_MIN || *out > INT16_MAX))
            return pq_tdec_fail(d, "i16 out of range");
        if (type == PQ_CT_I32 && (*out < INT32_MIN || *out > INT32_MAX))
            return pq_tdec_fail(d, "i32 out of range");
        return 0;
    default:
        return pq_tdec_fail(d, "expected an integer, found type %d", type);
    }
}

int pq_tdec_i32(pq_tdec *d, int type, int32_t *out)
{
    int64_t v = 0;
    if (pq_tdec_i64(d, type, &v))
        return TS_ERR_FORMAT;
    if (v < INT32_MIN || v > INT32_MAX)
        return pq_tdec_fail(d, "integer %lld does not fit 32 bits", (long long)v);
    *out = (int32_t)v;
    return 0;
}

int pq_tdec_bool(pq_tdec *d, int type, bool in_list, bool *out)
{
    if (in_list) {
        if (need(d, 1))
            return TS_ERR_FORMAT;
        *out = *d->p++ == 1;
        return 0;
    }
    if (type == PQ_CT_TRUE || type == PQ_CT_FALSE) {
        *out = type == PQ_CT_TRUE;
        return 0;
    }
    return pq_tdec_fail(d, "expected a bool, found type %d", type);
}

int pq_tdec_binary(pq_tdec *d, int type, const uint8_t **p, size_t *len)
{
    uint64_t n;
    if (type != PQ_CT_BINARY)
        return pq_tdec_fail(d, "expected binary, found type %d", type);
    if (pq_tdec_varint(d, &n))
        return TS_ERR_FORMAT;
    if (n > (uint64_t)(d->end - d->p))
        return pq_tdec_fail(d, "binary of %llu bytes passes the end (%zu left)",
                            (unsigned long long)n, (size_t)(d->end - d->p));
    *p = d->p;
    *len = (size_t)n;
    d->p += n;
    return 0;
}

int pq_tdec_list(pq_tdec *d, int type, int *elem_type, uint32_t *count)
{
    if (type != PQ_CT_LIST && type != PQ_CT_SET)
        return pq_tdec_fail(d, "expected a list, found type %d", type);
    if (need(d, 1))
        return TS_ERR_FORMAT;
    uint8_t b = *d->p++;
    uint64_t n = b >> 4;
    *elem_type = b & 0x0f;
    if (n == 15 && pq_tdec_varint(d, &n))
        return TS_ERR_FORMAT;
    if (*elem_type == PQ_CT_STOP || *elem_type > PQ_CT_STRUCT)
        return pq_tdec_fail(d, "list of unknown element type %d", *elem_type);
    /* Every element takes at least one byte on the wire. */
    if (n > (uint64_t)(d->end - d->p))
        return pq_tdec_fail(d, "list of %llu elements cannot fit in %zu bytes",
                            (unsigned long long)n, (size_t)(d->end - d->p));
    *count = (uint32_t)n;
    return 0;
}

static int enter(pq_tdec *d)
{
    if (++d->depth > PQ_TDEC_MAX_DEPTH)
        return pq_tdec_fail(d, "nesting deeper than %d", PQ_TDEC_MAX_DEPTH);
    return 0;
}

int pq_tdec_skip(pq_tdec *d, int type)
{
    const uint8_t *dummy;
    size_t len;
    int64_t i;
    uint64_t n;
    bool b = false;
    int rc = 0;

    switch (type) {
    case PQ_CT_TRUE:
    case PQ_CT_FALSE:
        return 0;
    case PQ_CT_BYTE:
    case PQ_CT_I16:
    case PQ_CT_I32:
    case PQ_CT_I64:
        return pq_tdec_i64(d, type, &i);
    case PQ_CT_DOUBLE:
        if (need(d, 8))
            return TS_ERR_FORMAT;
        d->p += 8;
        return 0;
    case PQ_CT_BINARY:
        return pq_tdec_binary(d, type, &dummy, &len);
    case PQ_CT_LIST:
    case PQ_CT_SET: {
        int et;
        uint32_t cnt;
        if (pq_tdec_list(d, type, &et, &cnt) || enter(d))
            return TS_ERR_FORMAT;
        for (uint32_t k = 0; k < cnt && rc == 0; k++)
            rc = (et == PQ_CT_TRUE || et == PQ_CT_FALSE) ? pq_tdec_bool(d, et, true, &b)
                                                         : pq_tdec_skip(d, et);
        d->depth--;
        return rc;
    }
    case PQ_CT_MAP: {
        if (pq_tdec_varint(d, &n))
            return TS_ERR_FORMAT;
        if (n == 0)
            return 0;
        if (n > (uint64_t)(d->end - d->p) / 2 + 1)
            return pq_tdec_fail(d, "map of %llu entries cannot fit", (unsigned long long)n);
        if (need(d, 1) || enter(d))
            return TS_ERR_FORMAT;
        uint8_t kv = *d->p++;
        int kt = kv >> 4, vt = kv & 0x0f;
        if (kt == 0 || kt > PQ_CT_STRUCT || vt == 0 || vt > PQ_CT_STRUCT) {
            d->depth--;
            return pq_tdec_fail(d, "map of unknown types %d/%d", kt, vt);
        }
        for (uint64_t k = 0; k < n && rc == 0; k++) {
            rc = (kt == PQ_CT_TRUE || kt == PQ_CT_FALSE) ? pq_tdec_bool(d, kt, true, &b)
                                                         : pq_tdec_skip(d, kt);
            if (rc == 0)
                rc = (vt == PQ_CT_TRUE || vt == PQ_CT_FALSE) ? pq_tdec_bool(d, vt, true, &b)
                                                             : pq_tdec_skip(d, vt);
        }
        d->depth--;
        return rc;
    }
    case PQ_CT_STRUCT: {
        int16_t last = 0, id;
        int t;
        if (enter(d))
            return TS_ERR_FORMAT;
        for (;;) {
            if ((rc = pq_tdec_field(d, &last, &t, &id)) != 0 || t == PQ_CT_STOP)
                break;
            if ((rc = pq_tdec_skip(d, t)) != 0)
                break;
        }
        d->depth--;
        return rc;
    }
    default:
        return pq_tdec_fail(d, "cannot skip unknown type %d", type);
    }
}

/* ---- Parquet structures ---- */

typedef struct mctx {
    pq_tdec *d;
    pq_arena *a;
} mctx;

static int nomem(mctx *m)
{
    return ts_err_set(m->d->err, TS_ERR_TOOBIG,
                      "%s: metadata needs more memory than the cap allows", m->d->ctx);
}

static int astr(mctx *m, int type, const char **out)
{
    const uint8_t *p;
    size_t len;
    if (pq_tdec_binary(m->d, type, &p, &len))
        return TS_ERR_FORMAT;
    char *s = pq_arena_alloc(m->a, len + 1);
    if (!s)
        return nomem(m);
    memcpy(s, p, len);
    *out = s;
    return 0;
}

static int abin(mctx *m, int type, const uint8_t **out, size_t *outlen)
{
    const uint8_t *p;
    size_t len;
    if (pq_tdec_binary(m->d, type, &p, &len))
        return TS_ERR_FORMAT;
    uint8_t *s = pq_arena_alloc(m->a, len);
    if (!s)
        return nomem(m);
    if (len)
        memcpy(s, p, len);
    *out = s;
    *outlen = len;
    return 0;
}

/* Iterates the fields of a struct: fn is called for each; it must consume the value
 * (or return 1 to have it skipped). */
typedef int (*field_fn)(mctx *m, void *obj, int16_t id, int type);

static int read_struct(mctx *m, int type, const char *what, field_fn fn, void *obj)
{
    pq_tdec *d = m->d;
    int16_t last = 0, id;
    int t, rc;
    if (type != PQ_CT_STRUCT)
        return pq_tdec_fail(d, "expected struct %s, found type %d", what, type);
    if (enter(d))
        return TS_ERR_FORMAT;
    for (;;) {
        if ((rc = pq_tdec_field(d, &last, &t, &id)) != 0)
            break;
        if (t == PQ_CT_STOP)
            break;
        rc = fn(m, obj, id, t);
        if (rc == 1)
            rc = pq_tdec_skip(d, t);
        if (rc)
            break;
    }
    d->depth--;
    return rc;
}

/* Statistics */
static int stats_field(mctx *m, void *obj, int16_t id, int type)
{
    pq_stats *s = obj;
    pq_tdec *d = m->d;
    const uint8_t *p;
    size_t n;
    switch (id) {
    case 1: /* max (legacy) */
        if (abin(m, type, &p, &n))
            return TS_ERR_FORMAT;
        if (!s->has_max || s->legacy) {
            s->max = p, s->max_len = n, s->has_max = true, s->legacy = true;
        }
        return 0;
    case 2: /* min (legacy) */
        if (abin(m, type, &p, &n))
            return TS_ERR_FORMAT;
        if (!s->has_min || s->legacy) {
            s->min = p, s->min_len = n, s->has_min = true, s->legacy = true;
        }
        return 0;
    case 3:
        s->has_null_count = true;
        return pq_tdec_i64(d, type, &s->null_count);
    case 4:
        s->has_distinct_count = true;
        return pq_tdec_i64(d, type, &s->distinct_count);
    case 5:
    case 6:
        if (abin(m, type, &p, &n))
            return TS_ERR_FORMAT;
        /* min_value / max_value win over the legacy pair. */
        if (s->legacy) {
            s->has_min = s->has_max = false;
            s->legacy = false;
        }
        if (id == 5)
            s->max = p, s->max_len = n, s->has_max = true;
        else
            s->min = p, s->min_len = n, s->has_min = true;
        return 0;
    case 9:
        s->has_nan_count = true;
        return pq_tdec_i64(d, type, &s->nan_count);
    default:
        return 1;
    }
}

typedef struct unit_ctx {
    pq_time_unit unit;
    bool seen;
} unit_ctx;

static int unit_field(mctx *m, void *obj, int16_t id, int type)
{
    unit_ctx *u = obj;
    if (id >= 1 && id <= 3) {
        u->unit = id == 1 ? PQ_UNIT_MILLIS : id == 2 ? PQ_UNIT_MICROS : PQ_UNIT_NANOS;
        u->seen = true;
    }
    (void)m;
    (void)type;
    return 1; /* skip the empty struct */
}

/* Inside one LogicalType member struct (DECIMAL, TIME, TIMESTAMP, INTEGER). */
static int lt_member_field(mctx *m, void *obj, int16_t id, int type)
{
    pq_schema_node *n = obj;
    pq_tdec *d = m->d;
    int32_t v = 0;
    bool b = false;
    switch (n->logical_kind) {
    case 5: /* DECIMAL */
        if (id == 1 || id == 2) {
            if (pq_tdec_i32(d, type, &v))
                return TS_ERR_FORMAT;
            if (id == 1)
                n->lt_scale = v;
            else
                n->lt_precision = v;
            return 0;
        }
        return 1;
    case 7:
    case 8: /* TIME, TIMESTAMP */
        if (id == 1) {
            if (pq_tdec_bool(d, type, false, &b))
                return TS_ERR_FORMAT;
            n->ts_utc = b;
            return 0;
        }
        if (id == 2) {
            unit_ctx u = {PQ_UNIT_MICROS, false};
            if (read_struct(m, type, "TimeUnit", unit_field, &u))
                return TS_ERR_FORMAT;
            if (!u.seen)
                return pq_tdec_fail(d, "time unit not set");
            n->time_unit = u.unit;
            return 0;
        }
        return 1;
    case 10: /* INTEGER */
        if (id == 1) {
            if (pq_tdec_i32(d, type, &v))
                return TS_ERR_FORMAT;
            n->bit_width = v;
            return 0;
        }
        if (id == 2) {
            if (pq_tdec_bool(d, type, false, &b))
                return TS_ERR_FORMAT;
            n->is_signed = b;
            return 0;
        }
        return 1;
    default:
        return 1;
    }
}

static int logical_field(mctx *m, void *obj, int16_t id, int type)
{
    pq_schema_node *n = obj;
    if (id < 1 || id > 64)
        return 1;
    n->logical_kind = id;
    return read_struct(m, type, "LogicalType member", lt_member_field, n);
}

static int schema_field(mctx *m, void *obj, int16_t id, int type)
{
    pq_schema_node *n = obj;
    pq_tdec *d = m->d;
    int32_t v = 0;
    switch (id) {
    case 1:
        if (pq_tdec_i32(d, type, &v))
            return TS_ERR_FORMAT;
        if (v < 0 || v > 7)
            return pq_tdec_fail(d, "unknown physical type %d", (int)v);
        n->physical = v;
        return 0;
    case 2:
        return pq_tdec_i32(d, type, &n->type_length);
    case 3:
        if (pq_tdec_i32(d, type, &v))
            return TS_ERR_FORMAT;
        if (v < 0 || v > 3)
            return pq_tdec_fail(d, "unknown repetition type %d", (int)v);
        n->repetition = v;
        return 0;
    case 4:
        return astr(m, type, &n->name);
    case 5:
        if (pq_tdec_i32(d, type, &v))
            return TS_ERR_FORMAT;
        if (v < 0)
            return pq_tdec_fail(d, "negative num_children %d", (int)v);
        n->num_children = v;
        return 0;
    case 6:
        if (pq_tdec_i32(d, type, &v))
            return TS_ERR_FORMAT;
        n->converted_type = v < 0 ? 9999 : v;
        return 0;
    case 7:
        return pq_tdec_i32(d, type, &n->scale);
    case 8:
        return pq_tdec_i32(d, type, &n->precision);
    case 9:
        return pq_tdec_i32(d, type, &n->field_id);
    case 10:
        return read_struct(m, type, "LogicalType", logical_field, n);
    default:
        return 1;
    }
}

/* Maps LogicalType (or, without one, ConvertedType) onto pq_logical. */
static void map_logical(pq_schema_node *n)
{
    n->logical = PQ_LT_NONE;
    switch (n->logical_kind) {
    case 1:
        n->logical = PQ_LT_STRING;
        return;
    case 4:
        n->logical = PQ_LT_ENUM;
        return;
    case 5:
        n->logical = PQ_LT_DECIMAL;
        return;
    case 6:
        n->logical = PQ_LT_DATE;
        return;
    case 7:
        n->logical = PQ_LT_TIME;
        return;
    case 8:
        n->logical = PQ_LT_TIMESTAMP;
        return;
    case 10:
        n->logical = PQ_LT_INT;
        return;
    case 12:
        n->logical = PQ_LT_JSON;
        return;
    case 13:
        n->logical = PQ_LT_BSON;
        return;
    case 14:
        n->logical = PQ_LT_UUID;
        return;
    case 0:
        break;
    default:
        return; /* MAP, LIST, UNKNOWN, FLOAT16, VARIANT, ...: no pq_logical */
    }
    int ct = n->converted_type;
    switch (ct) {
    case 0:
        n->logical = PQ_LT_STRING;
        break;
    case 4:
        n->logical = PQ_LT_ENUM;
        break;
    case 5:
        n->logical = PQ_LT_DECIMAL;
        n->lt_precision = n->precision;
        n->lt_scale = n->scale < 0 ? 0 : n->scale;
        break;
    case 6:
        n->logical = PQ_LT_DATE;
        break;
    case 7:
    case 8:
        n->logical = PQ_LT_TIME;
        n->ts_utc = true;
        n->time_unit = ct == 7 ? PQ_UNIT_MILLIS : PQ_UNIT_MICROS;
        break;
    case 9:
    case 10:
        n->logical = PQ_LT_TIMESTAMP;
        n->ts_utc = true;
        n->time_unit = ct == 9 ? PQ_UNIT_MILLIS : PQ_UNIT_MICROS;
        break;
    case 11:
    case 12:
    case 13:
    case 14:
    case 15:
    case 16:
    case 17:
    case 18:
        n->logical = PQ_LT_INT;
        n->is_signed = ct >= 15;
        n->bit_width = 8 << ((ct - 11) % 4);
        break;
    case 19:
        n->logical = PQ_LT_JSON;
        break;
    case 20:
        n->logical = PQ_LT_BSON;
        break;
    default:
        break;
    }
}

typedef struct kv_list {
    pq_kv *items;
    int n;
} kv_list;

static int kv_field(mctx *m, void *obj, int16_t id, int type)
{
    pq_kv *kv = obj;
    if (id == 1)
        return astr(m, type, &kv->key);
    if (id == 2)
        return astr(m, type, &kv->value);
    return 1;
}

static int read_kv_list(mctx *m, int type, const pq_kv **out, int *nout)
{
    int et;
    uint32_t cnt;
    if (pq_tdec_list(m->d, type, &et, &cnt))
        return TS_ERR_FORMAT;
    pq_kv *kv = pq_arena_alloc(m->a, (size_t)cnt * sizeof *kv);
    if (!kv)
        return nomem(m);
    for (uint32_t i = 0; i < cnt; i++) {
        if (read_struct(m, et, "KeyValue", kv_field, &kv[i]))
            return TS_ERR_FORMAT;
        if (!kv[i].key)
            return pq_tdec_fail(m->d, "key-value pair without a key");
    }
    *out = kv;
    *nout = (int)cnt;
    return 0;
}

static int read_i32_list(mctx *m, int type, const int **out, int *nout, int lo, int hi)
{
    int et;
    uint32_t cnt;
    int32_t v = 0;
    if (pq_tdec_list(m->d, type, &et, &cnt))
        return TS_ERR_FORMAT;
    int *arr = pq_arena_alloc(m->a, (size_t)cnt * sizeof *arr);
    if (!arr)
        return nomem(m);
    for (uint32_t i = 0; i < cnt; i++) {
        if (pq_tdec_i32(m->d, et, &v))
            return TS_ERR_FORMAT;
        if (v < lo || v > hi)
            return pq_tdec_fail(m->d, "enum value %d out of range", (int)v);
        arr[i] = v;
    }
    *out = arr;
    *nout = (int)cnt;
    return 0;
}

static int colmeta_field(mctx *m, void *obj, int16_t id, int type)
{
    pq_chunk_meta *c = obj;
    pq_tdec *d = m->d;
    int32_t v = 0;
    switch (id) {
    case 1:
        if (pq_tdec_i32(d, type, &v))
            return TS_ERR_FORMAT;
        if (v < 0 || v > 7)
            return pq_tdec_fail(d, "unknown physical type %d", (int)v);
        c->physical = v;
        return 0;
    case 2:
        return read_i32_list(m, type, &c->encodings, &c->nencodings, 0, 1000);
    case 3: {
        int et;
        uint32_t cnt;
        size_t total = 0;
        if (pq_tdec_list(d, type, &et, &cnt))
            return TS_ERR_FORMAT;
        const uint8_t *ps[64];
        size_t ls[64];
        if (cnt == 0 || cnt > 64)
            return pq_tdec_fail(d, "path_in_schema of %u parts", (unsigned)cnt);
        for (uint32_t i = 0; i < cnt; i++) {
            if (pq_tdec_binary(d, et, &ps[i], &ls[i]))
                return TS_ERR_FORMAT;
            total += ls[i] + 1;
        }
        char *s = pq_arena_alloc(m->a, total);
        if (!s)
            return nomem(m);
        size_t o = 0;
        for (uint32_t i = 0; i < cnt; i++) {
            if (i)
                s[o++] = '.';
            memcpy(s + o, ps[i], ls[i]);
            o += ls[i];
        }
        c->path = s;
        return 0;
    }
    case 4:
        if (pq_tdec_i32(d, type, &v))
            return TS_ERR_FORMAT;
        if (v < 0 || v > 1000)
            return pq_tdec_fail(d, "unknown codec %d", (int)v);
        c->codec = v;
        return 0;
    case 5:
        return pq_tdec_i64(d, type, &c->num_values);
    case 6:
        return pq_tdec_i64(d, type, &c->total_uncompressed_size);
    case 7:
        return pq_tdec_i64(d, type, &c->total_compressed_size);
    case 9:
        return pq_tdec_i64(d, type, &c->data_page_offset);
    case 10:
        return pq_tdec_i64(d, type, &c->index_page_offset);
    case 11:
        return pq_tdec_i64(d, type, &c->dictionary_page_offset);
    case 12:
        c->has_stats = true;
        return read_struct(m, type, "Statistics", stats_field, &c->stats);
    default:
        return 1;
    }
}

static int chunk_field(mctx *m, void *obj, int16_t id, int type)
{
    pq_chunk_meta *c = obj;
    switch (id) {
    case 1:
        return astr(m, type, &c->file_path);
    case 3:
        c->has_meta = true;
        return read_struct(m, type, "ColumnMetaData", colmeta_field, c);
    default:
        return 1;
    }
}

static int rowgroup_field(mctx *m, void *obj, int16_t id, int type)
{
    pq_row_group_meta *g = obj;
    pq_tdec *d = m->d;
    int32_t v = 0;
    switch (id) {
    case 1: {
        int et;
        uint32_t cnt;
        if (pq_tdec_list(d, type, &et, &cnt))
            return TS_ERR_FORMAT;
        pq_chunk_meta *cols = pq_arena_alloc(m->a, (size_t)cnt * sizeof *cols);
        if (!cols)
            return nomem(m);
        for (uint32_t i = 0; i < cnt; i++) {
            cols[i].data_page_offset = cols[i].dictionary_page_offset = -1;
            cols[i].index_page_offset = -1;
            cols[i].physical = -1;
            cols[i].codec = -1;
            cols[i].num_values = cols[i].total_compressed_size = -1;
            cols[i].total_uncompressed_size = -1;
            if (read_struct(m, et, "ColumnChunk", chunk_field, &cols[i]))
                return TS_ERR_FORMAT;
        }
        g->columns = cols;
        g->ncolumns = (int)cnt;
        return 0;
    }
    case 2:
        return pq_tdec_i64(d, type, &g->total_byte_size);
    case 3:
        return pq_tdec_i64(d, type, &g->num_rows);
    case 5:
        return pq_tdec_i64(d, type, &g->file_offset);
    case 6:
        return pq_tdec_i64(d, type, &g->total_compressed_size);
    case 7:
        if (pq_tdec_i32(d, type, &v))
            return TS_ERR_FORMAT;
        g->ordinal = v;
        return 0;
    default:
        return 1;
    }
}

static int order_field(mctx *m, void *obj, int16_t id, int type)
{
    int *o = obj;
    (void)m;
    (void)type;
    *o = id >= 1 && id <= 3 ? id : 0;
    return 1;
}

typedef struct fm_state {
    pq_file_meta *fm;
    bool has_version, has_schema, has_rows, has_rgs;
} fm_state;

static int filemeta_field(mctx *m, void *obj, int16_t id, int type)
{
    fm_state *st = obj;
    pq_file_meta *fm = st->fm;
    pq_tdec *d = m->d;
    int et;
    uint32_t cnt;
    switch (id) {
    case 1:
        st->has_version = true;
        return pq_tdec_i32(d, type, &fm->version);
    case 2: {
        if (pq_tdec_list(d, type, &et, &cnt))
            return TS_ERR_FORMAT;
        pq_schema_node *nodes = pq_arena_alloc(m->a, (size_t)cnt * sizeof *nodes);
        if (!nodes)
            return nomem(m);
        for (uint32_t i = 0; i < cnt; i++) {
            pq_schema_node *n = &nodes[i];
            n->physical = n->type_length = n->repetition = n->converted_type = -1;
            n->scale = n->precision = n->field_id = -1;
            n->lt_precision = n->lt_scale = -1;
            n->time_unit = PQ_UNIT_MICROS;
            n->is_signed = true;
            if (read_struct(m, et, "SchemaElement", schema_field, n))
                return TS_ERR_FORMAT;
            if (!n->name)
                return pq_tdec_fail(d, "schema element %u has no name", (unsigned)i);
            map_logical(n);
        }
        fm->schema = nodes;
        fm->nschema = (int)cnt;
        st->has_schema = true;
        return 0;
    }
    case 3:
        st->has_rows = true;
        return pq_tdec_i64(d, type, &fm->num_rows);
    case 4: {
        if (pq_tdec_list(d, type, &et, &cnt))
            return TS_ERR_FORMAT;
        pq_row_group_meta *rgs = pq_arena_alloc(m->a, (size_t)cnt * sizeof *rgs);
        if (!rgs)
            return nomem(m);
        for (uint32_t i = 0; i < cnt; i++) {
            rgs[i].num_rows = -1;
            rgs[i].total_compressed_size = rgs[i].file_offset = -1;
            rgs[i].ordinal = -1;
            if (read_struct(m, et, "RowGroup", rowgroup_field, &rgs[i]))
                return TS_ERR_FORMAT;
        }
        fm->row_groups = rgs;
        fm->nrow_groups = (int)cnt;
        st->has_rgs = true;
        return 0;
    }
    case 5:
        return read_kv_list(m, type, &fm->kv, &fm->nkv);
    case 6:
        return astr(m, type, &fm->created_by);
    case 7: {
        if (pq_tdec_list(d, type, &et, &cnt))
            return TS_ERR_FORMAT;
        int *o = pq_arena_alloc(m->a, (size_t)cnt * sizeof *o);
        if (!o)
            return nomem(m);
        for (uint32_t i = 0; i < cnt; i++)
            if (read_struct(m, et, "ColumnOrder", order_field, &o[i]))
                return TS_ERR_FORMAT;
        fm->column_orders = o;
        fm->ncolumn_orders = (int)cnt;
        return 0;
    }
    case 8:
        fm->encrypted = true;
        return 1;
    default:
        return 1;
    }
}

/* Checks the depth-first tree (num_children) without recursion and fills depth and
 * parent. */
static int check_tree(pq_tdec *d, pq_file_meta *fm)
{
    pq_schema_node *nodes = (pq_schema_node *)fm->schema;
    int stack[PQ_TDEC_MAX_DEPTH + 1], left[PQ_TDEC_MAX_DEPTH + 1], sp = 0;
    if (fm->nschema < 1)
        return pq_tdec_fail(d, "empty schema");
    if (nodes[0].num_children < 1 && fm->nschema > 1)
        return pq_tdec_fail(d, "schema root has no children");
    nodes[0].depth = 0;
    nodes[0].parent = -1;
    stack[0] = 0;
    left[0] = nodes[0].num_children;
    for (int i = 1; i < fm->nschema; i++) {
        while (sp >= 0 && left[sp] == 0)
            sp--;
        if (sp < 0)
            return pq_tdec_fail(d, "schema element %d (\"%s\") lies outside the tree", i,
                                nodes[i].name);
        left[sp]--;
        nodes[i].parent = stack[sp];
        nodes[i].depth = sp + 1;
        if (nodes[i].num_children > 0) {
            if (sp + 1 >= PQ_TDEC_MAX_DEPTH)
                return pq_tdec_fail(d, "schema nested deeper than %d", PQ_TDEC_MAX_DEPTH);
            sp++;
            stack[sp] = i;
            left[sp] = nodes[i].num_children;
        } else if (nodes[i].physical < 0) {
            return pq_tdec_fail(d, "schema element \"%s\" has neither a type nor children",
                                nodes[i].name);
        }
    }
    for (; sp >= 0; sp--)
        if (left[sp] > 0)
            return pq_tdec_fail(d,
                                "schema element \"%s\" announces %d more children than "
                                "the schema holds",
                                nodes[stack[sp]].name, left[sp]);
    return 0;
}

int pq_tdec_file_metadata(const void *buf, size_t len, uint64_t base, pq_arena *a,
                          pq_file_meta *meta, ts_err *err)
{
    pq_tdec d;
    mctx m = {&d, a};
    fm_state st = {meta, false, false, false, false};
    memset(meta, 0, sizeof *meta);
    pq_tdec_init(&d, buf, len, base, "footer", err);
    if (read_struct(&m, PQ_CT_STRUCT, "FileMetaData", filemeta_field, &st))
        return err && err->code ? err->code : TS_ERR_FORMAT;
    if (!st.has_schema || !st.has_rows || !st.has_rgs)
        return pq_tdec_fail(&d, "FileMetaData lacks its required %s",
                            !st.has_schema ? "schema"
                            : !st.has_rows ? "num_rows"
                                           : "row_groups");
    return check_tree(&d, meta);
}

/* ---- PageHeader ---- */

static int v1_field(mctx *m, void *obj, int16_t id, int type)
{
    pq_page_header *h = obj;
    pq_tdec *d = m->d;
    int32_t v = 0;
    switch (id) {
    case 1:
        return pq_tdec_i32(d, type, &h->num_values);
    case 2:
        return pq_tdec_i32(d, type, &h->encoding);
    case 3:
        if (pq_tdec_i32(d, type, &v))
            return TS_ERR_FORMAT;
        h->def_encoding = v;
        return 0;
    case 4:
        if (pq_tdec_i32(d, type, &v))
            return TS_ERR_FORMAT;
        h->rep_encoding = v;
        return 0;
    default:
        return 1;
    }
}

static int v2_field(mctx *m, void *obj, int16_t id, int type)
{
    pq_page_header *h = obj;
    pq_tdec *d = m->d;
    switch (id) {
    case 1:
        return pq_tdec_i32(d, type, &h->num_values);
    case 2:
        return pq_tdec_i32(d, type, &h->num_nulls);
    case 3:
        return pq_tdec_i32(d, type, &h->num_rows);
    case 4:
        return pq_tdec_i32(d, type, &h->encoding);
    case 5:
        return pq_tdec_i32(d, type, &h->def_len);
    case 6:
        return pq_tdec_i32(d, type, &h->rep_len);
    case 7:
        return pq_tdec_bool(d, type, false, &h->is_compressed);
    default:
        return 1;
    }
}

static int dict_field(mctx *m, void *obj, int16_t id, int type)
{
    pq_page_header *h = obj;
    pq_tdec *d = m->d;
    switch (id) {
    case 1:
        return pq_tdec_i32(d, type, &h->num_values);
    case 2:
        return pq_tdec_i32(d, type, &h->encoding);
    default:
        return 1;
    }
}

typedef struct ph_state {
    pq_page_header *h;
    bool has_type, has_usize, has_csize;
} ph_state;

static int page_field(mctx *m, void *obj, int16_t id, int type)
{
    ph_state *st = obj;
    pq_page_header *h = st->h;
    pq_tdec *d = m->d;
    int32_t v = 0;
    switch (id) {
    case 1:
        st->has_type = true;
        return pq_tdec_i32(d, type, &h->type);
    case 2:
        st->has_usize = true;
        return pq_tdec_i32(d, type, &h->uncompressed_size);
    case 3:
        st->has_csize = true;
        return pq_tdec_i32(d, type, &h->compressed_size);
    case 4:
        if (pq_tdec_i32(d, type, &v))
            return TS_ERR_FORMAT;
        h->has_crc = true;
        h->crc = (uint32_t)v;
        return 0;
    case 5:
        h->has_v1 = true;
        return read_struct(m, type, "DataPageHeader", v1_field, h);
    case 7:
        h->has_dict = true;
        return read_struct(m, type, "DictionaryPageHeader", dict_field, h);
    case 8:
        h->has_v2 = true;
        return read_struct(m, type, "DataPageHeaderV2", v2_field, h);
    default:
        return 1;
    }
}

int pq_tdec_page_header(const void *buf, size_t len, uint64_t base, pq_page_header *h, ts_err *err)
{
    pq_tdec d;
    mctx m = {&d, NULL};
    ph_state st = {h, false, false, false};
    memset(h, 0, sizeof *h);
    h->is_compressed = true;
    h->def_encoding = h->rep_encoding = PQ_ENC_RLE;
    h->type = -1;
    pq_tdec_init(&d, buf, len, base, "page header", err);
    if (read_struct(&m, PQ_CT_STRUCT, "PageHeader", page_field, &st))
        return err && err->code ? err->code : TS_ERR_FORMAT;
    h->header_len = pq_tdec_pos(&d);
    d.p = d.start; /* report problems at the header's start */
    if (!st.has_type || !st.has_usize || !st.has_csize)
        return pq_tdec_fail(&d, "PageHeader lacks %s",
                            !st.has_type    ? "type"
                            : !st.has_usize ? "uncompressed_page_size"
                                            : "compressed_page_size");
    if (h->uncompressed_size < 0 || h->compressed_size < 0)
        return pq_tdec_fail(&d, "negative page size (%d compressed, %d uncompressed)",
                            (int)h->compressed_size, (int)h->uncompressed_size);
    if ((h->type == PQ_PAGE_DATA && !h->has_v1) || (h->type == PQ_PAGE_DATA_V2 && !h->has_v2) ||
        (h->type == PQ_PAGE_DICTIONARY && !h->has_dict))
        return pq_tdec_fail(&d, "page of type %d lacks its header", h->type);
    return 0;
}
