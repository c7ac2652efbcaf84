/* schema.c: the Delta schema: the Parquet -> Delta type map (one table, TYPE_MAP), the
 * schema of a Parquet file, schemaString parsing and writing, and schema growth. */
#include "delta_int.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"

/* ---- the type map ---- */

typedef struct type_rule {
    int physical;         /* pq_physical */
    pq_logical logical;   /* PQ_LT_NONE: no annotation */
    int bits;             /* PQ_LT_INT: the bit width (signed only) */
    int utc;              /* PQ_LT_TIMESTAMP: 1 adjusted to UTC, 0 local; else -1 */
    const char *delta;    /* the Delta type; "decimal" becomes decimal(p,s) */
    delta_stat_kind stat; /* how stats.c writes its bounds */
} type_rule;

/* Parquet -> Delta (docs/delta.md keeps the same table). Changing how a type reads in
 * Delta is a change of its line here. */
static const type_rule TYPE_MAP[] = {
    {PQ_BOOLEAN, PQ_LT_NONE, 0, -1, "boolean", DELTA_STAT_NONE},
    {PQ_INT32, PQ_LT_INT, 8, -1, "byte", DELTA_STAT_INT},
    {PQ_INT32, PQ_LT_INT, 16, -1, "short", DELTA_STAT_INT},
    {PQ_INT32, PQ_LT_INT, 32, -1, "integer", DELTA_STAT_INT},
    {PQ_INT32, PQ_LT_NONE, 0, -1, "integer", DELTA_STAT_INT},
    {PQ_INT64, PQ_LT_INT, 64, -1, "long", DELTA_STAT_INT},
    {PQ_INT64, PQ_LT_NONE, 0, -1, "long", DELTA_STAT_INT},
    {PQ_FLOAT, PQ_LT_NONE, 0, -1, "float", DELTA_STAT_FLOAT},
    {PQ_DOUBLE, PQ_LT_NONE, 0, -1, "double", DELTA_STAT_DOUBLE},
    {PQ_INT32, PQ_LT_DATE, 0, -1, "date", DELTA_STAT_DATE},
    {PQ_INT64, PQ_LT_TIMESTAMP, 0, 1, "timestamp", DELTA_STAT_TIMESTAMP},
    {PQ_INT64, PQ_LT_TIMESTAMP, 0, 0, "timestamp_ntz", DELTA_STAT_TIMESTAMP_NTZ},
    {PQ_INT96, PQ_LT_NONE, 0, -1, "timestamp", DELTA_STAT_NONE}, /* legacy writers */
    {PQ_INT32, PQ_LT_DECIMAL, 0, -1, "decimal", DELTA_STAT_DECIMAL},
    {PQ_INT64, PQ_LT_DECIMAL, 0, -1, "decimal", DELTA_STAT_DECIMAL},
    {PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_DECIMAL, 0, -1, "decimal", DELTA_STAT_DECIMAL},
    {PQ_BYTE_ARRAY, PQ_LT_DECIMAL, 0, -1, "decimal", DELTA_STAT_DECIMAL},
    {PQ_BYTE_ARRAY, PQ_LT_STRING, 0, -1, "string", DELTA_STAT_STRING},
    {PQ_BYTE_ARRAY, PQ_LT_ENUM, 0, -1, "string", DELTA_STAT_STRING},
    {PQ_BYTE_ARRAY, PQ_LT_JSON, 0, -1, "string", DELTA_STAT_STRING},
    {PQ_BYTE_ARRAY, PQ_LT_NONE, 0, -1, "binary", DELTA_STAT_NONE},
    {PQ_BYTE_ARRAY, PQ_LT_BSON, 0, -1, "binary", DELTA_STAT_NONE},
    {PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_NONE, 0, -1, "binary", DELTA_STAT_NONE},
    {PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_UUID, 0, -1, "binary", DELTA_STAT_NONE}, /* uuid: 16 bytes */
};

static const char *logical_name(pq_logical l)
{
    static const char *const names[] = {"none",      "STRING",  "ENUM", "JSON", "UUID", "DATE",
                                        "TIMESTAMP", "DECIMAL", "INT",  "BSON", "TIME"};
    return (unsigned)l < sizeof names / sizeof names[0] ? names[l] : "unknown";
}

int delta_map_type(const pq_column_spec *spec, char *name, size_t namesz, delta_stat_kind *kind,
                   ts_err *err)
{
    const char *why = NULL;
    for (size_t i = 0; i < sizeof TYPE_MAP / sizeof TYPE_MAP[0]; i++) {
        const type_rule *r = &TYPE_MAP[i];
        if (r->physical != (int)spec->physical || r->logical != spec->logical)
            continue;
        if (r->logical == PQ_LT_INT && (r->bits != spec->bit_width || !spec->is_signed)) {
            why = "unsigned or of an unusual width";
            continue;
        }
        if (r->logical == PQ_LT_TIMESTAMP) {
            if (r->utc != (spec->ts_utc ? 1 : 0))
                continue;
            if (spec->time_unit != PQ_UNIT_MICROS && spec->time_unit != PQ_UNIT_MILLIS) {
                why = "in nanoseconds (Delta timestamps hold microseconds)";
                break;
            }
        }
        if (r->logical == PQ_LT_DECIMAL) {
            if (spec->precision < 1 || spec->precision > 38 || spec->scale < 0 ||
                spec->scale > spec->precision) {
                why = "a decimal beyond precision 38 or with a scale outside 0..precision";
                break;
            }
            snprintf(name, namesz, "decimal(%d,%d)", spec->precision, spec->scale);
        } else {
            snprintf(name, namesz, "%s", r->delta);
        }
        *kind = r->stat;
        return TS_OK;
    }
    return ts_err_set(err, TS_ERR_UNSUPPORTED,
                      "column \"%s\": Parquet type %s (%s%s%s) has no Delta type", spec->name,
                      pq_physical_name(spec->physical), logical_name(spec->logical),
                      why ? ", " : "", why ? why : "");
}

/* ---- fields ---- */

static void field_clear(delta_field *f)
{
    ts_free(f->name);
    json_decref(f->type);
    ts_free(f->type_text);
    json_decref(f->metadata);
    ts_free(f->pg_type);
    memset(f, 0, sizeof *f);
}

/* Fills f, taking type and metadata (also on failure). */
static int field_set(delta_field *f, const char *name, json_t *type, bool nullable,
                     json_t *metadata)
{
    memset(f, 0, sizeof *f);
    f->type = type;
    f->metadata = metadata;
    f->nullable = nullable;
    if (!type || !metadata || !(f->name = ts_strdup(name)))
        return TS_ERR_NOMEM;
    if (json_is_string(type)) {
        f->type_text = ts_strdup(json_string_value(type));
    } else {
        char *s = json_dumps(type, JSON_COMPACT | JSON_PRESERVE_ORDER);
        f->type_text = s ? ts_strdup(s) : NULL;
        free(s);
    }
    if (!f->type_text)
        return TS_ERR_NOMEM;
    json_t *pg = json_object_get(metadata, DELTA_META_PG_TYPE);
    if (json_is_string(pg) && !(f->pg_type = ts_strdup(json_string_value(pg))))
        return TS_ERR_NOMEM;
    return TS_OK;
}

/* A field's type for a message: "integer", "array of integer" (an element type that is
 * itself nested, or a struct or map, as the protocol's JSON). */
static const char *type_words(const delta_field *f, char *buf, size_t cap)
{
    json_t *el = json_object_get(f->type, "elementType");
    const char *kind = json_string_value(json_object_get(f->type, "type"));
    if (kind && strcmp(kind, "array") == 0 && json_is_string(el)) {
        snprintf(buf, cap, "array of %s", json_string_value(el));
        return buf;
    }
    return f->type_text;
}

static int field_copy(delta_field *dst, const delta_field *src)
{
    return field_set(dst, src->name, json_deep_copy(src->type), src->nullable,
                     json_deep_copy(src->metadata));
}

static delta_schema *schema_new(int n)
{
    delta_schema *s = ts_calloc(1, sizeof *s);
    if (s && n > 0 && !(s->f = ts_calloc((size_t)n, sizeof *s->f))) {
        ts_free(s);
        return NULL;
    }
    return s;
}

void delta_schema_free(delta_schema *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        field_clear(&s->f[i]);
    ts_free(s->f);
    ts_free(s);
}

delta_schema *delta_schema_copy(const delta_schema *s)
{
    delta_schema *c = schema_new(s->n);
    if (!c)
        return NULL;
    for (; c->n < s->n; c->n++)
        if (field_copy(&c->f[c->n], &s->f[c->n]) != TS_OK) {
            c->n++;
            delta_schema_free(c);
            return NULL;
        }
    return c;
}

/* A name used twice, ignoring case (Delta: names are unique regardless of case). */
static int check_unique(const delta_schema *s, const char *name, int code, ts_err *err)
{
    for (int i = 0; i < s->n; i++)
        if (strcasecmp(s->f[i].name, name) == 0)
            return ts_err_set(err, code,
                              "columns \"%s\" and \"%s\" differ only in case; a Delta table "
                              "needs names unique regardless of case",
                              s->f[i].name, name);
    return TS_OK;
}

/* {"comment": "PostgreSQL type: T", "tsarchive.pg_type": "T"} for the column, from the
 * file's tsarchive.columns; {} when it is not there. */
static json_t *column_metadata(json_t *pgcols, const char *name)
{
    json_t *m = json_object(), *c;
    size_t i;
    if (!m || !json_is_array(pgcols))
        return m;
    json_array_foreach(pgcols, i, c)
    {
        json_t *n = json_object_get(c, "name"), *t = json_object_get(c, "pg_type");
        if (!json_is_string(n) || !json_is_string(t) || strcmp(json_string_value(n), name) != 0)
            continue;
        char comment[600];
        snprintf(comment, sizeof comment, "PostgreSQL type: %s", json_string_value(t));
        if (json_object_set_new(m, DELTA_META_COMMENT, json_string(comment)) != 0 ||
            json_object_set_new(m, DELTA_META_PG_TYPE, json_string(json_string_value(t))) != 0) {
            json_decref(m);
            return NULL;
        }
        break;
    }
    return m;
}

int delta_schema_from_parquet(const pq_reader *r, delta_schema **out, ts_err *err)
{
    const pq_reader_column *cols;
    int ncols, rc;
    delta_schema *s = NULL;
    json_t *pgcols = NULL;
    const char *kv;

    *out = NULL;
    if ((rc = pq_reader_columns(r, &cols, &ncols, err)) != TS_OK)
        return rc;
    if (ncols < 1)
        return ts_err_set(err, TS_ERR_UNSUPPORTED, "the file has no columns");
    if ((kv = pq_reader_kv(r, DELTA_KV_PG_COLUMNS)) != NULL)
        pgcols = json_loads(kv, 0, NULL);
    if (!(s = schema_new(ncols))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < ncols; i++) {
        const pq_reader_column *c = &cols[i];
        char tname[64];
        delta_stat_kind kind;
        json_t *type;
        if ((rc = delta_map_type(&c->spec, tname, sizeof tname, &kind, err)) != TS_OK)
            goto out;
        if ((rc = check_unique(s, c->spec.name, TS_ERR_UNSUPPORTED, err)) != TS_OK)
            goto out;
        if (delta_utf8_prefix((const uint8_t *)c->spec.name, strlen(c->spec.name), INT_MAX, NULL) <
            0) {
            rc = ts_err_set(err, TS_ERR_UNSUPPORTED, "column %d: its name is not UTF-8", i + 1);
            goto out;
        }
        if (c->spec.list)
            type = json_pack("{s:s, s:s, s:b}", "type", "array", "elementType", tname,
                             "containsNull", c->element_nullable);
        else
            type = json_string(tname);
        rc = field_set(&s->f[s->n], c->spec.name, type, c->spec.nullable,
                       column_metadata(pgcols, c->spec.name));
        s->n++;
        if (rc != TS_OK) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    *out = s;
    s = NULL;
    rc = TS_OK;
out:
    json_decref(pgcols);
    delta_schema_free(s);
    return rc;
}

/* ---- schemaString ---- */

int delta_schema_parse(const char *text, size_t len, delta_schema **out, ts_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je), *fields, *fo;
    delta_schema *s = NULL;
    size_t i;
    int rc = TS_OK;

    *out = NULL;
    if (!root) {
        for (char *ch = je.text; *ch; ch++) /* it may quote the input */
            if ((unsigned char)*ch < 0x20 || (unsigned char)*ch >= 0x7f)
                *ch = '?';
        return ts_err_set(err, TS_ERR_FORMAT, "schemaString is not JSON: %s (column %d)", je.text,
                          je.column);
    }
    fields = json_object_get(root, "fields");
    if (!json_is_object(root) || !json_is_string(json_object_get(root, "type")) ||
        strcmp(json_string_value(json_object_get(root, "type")), "struct") != 0 ||
        !json_is_array(fields)) {
        rc = ts_err_set(err, TS_ERR_FORMAT, "schemaString is not a struct type with fields");
        goto out;
    }
    if (json_array_size(fields) > 100000) {
        rc = ts_err_set(err, TS_ERR_FORMAT, "schemaString has too many fields");
        goto out;
    }
    if (!(s = schema_new((int)json_array_size(fields)))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    json_array_foreach(fields, i, fo)
    {
        json_t *name = json_object_get(fo, "name"), *type = json_object_get(fo, "type");
        json_t *nullable = json_object_get(fo, "nullable"), *meta = json_object_get(fo, "metadata");
        if (!json_is_object(fo) || !json_is_string(name) ||
            !(json_is_string(type) || json_is_object(type)) || !json_is_boolean(nullable) ||
            (meta && !json_is_object(meta))) {
            rc = ts_err_set(err, TS_ERR_FORMAT,
                            "schemaString field %zu: needs name (string), type (string or "
                            "object), nullable (boolean), metadata (object)",
                            i + 1);
            goto out;
        }
        if ((rc = check_unique(s, json_string_value(name), TS_ERR_FORMAT, err)) != TS_OK)
            goto out;
        rc = field_set(&s->f[s->n], json_string_value(name), json_incref(type),
                       json_is_true(nullable), meta ? json_incref(meta) : json_object());
        s->n++;
        if (rc != TS_OK) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    *out = s;
    s = NULL;
out:
    delta_schema_free(s);
    json_decref(root);
    return rc;
}

char *delta_schema_json(const delta_schema *s)
{
    json_t *root = json_object(), *fields = json_array();
    char *text = NULL, *r = NULL;
    int bad = !root || !fields;
    for (int i = 0; !bad && i < s->n; i++) {
        json_t *f = json_object();
        bad |= !f || json_array_append_new(fields, f) != 0;
        bad |= json_object_set_new(f, "name", json_string(s->f[i].name)) != 0;
        bad |= json_object_set(f, "type", s->f[i].type) != 0;
        bad |= json_object_set_new(f, "nullable", json_boolean(s->f[i].nullable)) != 0;
        bad |= json_object_set(f, "metadata", s->f[i].metadata) != 0;
    }
    if (!bad && json_object_set_new(root, "type", json_string("struct")) == 0 &&
        json_object_set(root, "fields", fields) == 0)
        text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(fields);
    json_decref(root);
    if (text) {
        r = ts_strdup(text);
        free(text);
    }
    return r;
}

/* ---- accessors ---- */

int delta_schema_ncolumns(const delta_schema *s)
{
    return s->n;
}

const char *delta_schema_column_name(const delta_schema *s, int i)
{
    return i >= 0 && i < s->n ? s->f[i].name : NULL;
}

const char *delta_schema_column_type(const delta_schema *s, int i)
{
    return i >= 0 && i < s->n ? s->f[i].type_text : NULL;
}

bool delta_schema_column_nullable(const delta_schema *s, int i)
{
    return i >= 0 && i < s->n && s->f[i].nullable;
}

const char *delta_schema_column_pg_type(const delta_schema *s, int i)
{
    return i >= 0 && i < s->n ? s->f[i].pg_type : NULL;
}

int delta_schema_find(const delta_schema *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->f[i].name, name) == 0)
            return i;
    return -1;
}

static bool type_has_ntz(const json_t *t, int depth)
{
    if (depth > 64)
        return false;
    if (json_is_string(t))
        return strcmp(json_string_value(t), "timestamp_ntz") == 0;
    if (!json_is_object(t))
        return false;
    if (type_has_ntz(json_object_get(t, "elementType"), depth + 1) ||
        type_has_ntz(json_object_get(t, "keyType"), depth + 1) ||
        type_has_ntz(json_object_get(t, "valueType"), depth + 1))
        return true;
    json_t *fields = json_object_get(t, "fields"), *f;
    size_t i;
    json_array_foreach(fields, i, f)
    {
        if (type_has_ntz(json_object_get(f, "type"), depth + 1))
            return true;
    }
    return false;
}

bool delta_schema_needs_timestamp_ntz(const delta_schema *s)
{
    for (int i = 0; i < s->n; i++)
        if (type_has_ntz(s->f[i].type, 0))
            return true;
    return false;
}

bool delta_schema_equal(const delta_schema *a, const delta_schema *b)
{
    if (a->n != b->n)
        return false;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->f[i].name, b->f[i].name) != 0 || a->f[i].nullable != b->f[i].nullable ||
            !json_equal(a->f[i].type, b->f[i].type))
            return false;
    return true;
}

/* ---- growth ---- */

int delta_schema_merge(const delta_schema *cur, const delta_schema *next, delta_schema **merged,
                       ts_err *err)
{
    bool grows = next->n > cur->n;
    delta_schema *m = NULL;
    int rc;

    *merged = NULL;
    for (int i = 0; i < cur->n; i++) {
        const delta_field *c = &cur->f[i];
        if (i >= next->n)
            return ts_err_set(err, TS_ERR_INVALID,
                              "column \"%s\" of the table is not in the new data (dropped or "
                              "renamed?); tsarchive only adds nullable columns to a table",
                              c->name);
        const delta_field *n = &next->f[i];
        if (strcmp(c->name, n->name) != 0)
            return ts_err_set(err, TS_ERR_INVALID,
                              "column %d is \"%s\" in the table but \"%s\" in the new data "
                              "(renamed, dropped or reordered?); tsarchive only adds nullable "
                              "columns to a table",
                              i + 1, c->name, n->name);
        if (!json_equal(c->type, n->type)) {
            char ct[160], nt[160];
            return ts_err_set(err, TS_ERR_INVALID,
                              "column \"%s\" is %s in the table but %s in the new data; "
                              "tsarchive does not change a column's type",
                              c->name, type_words(c, ct, sizeof ct), type_words(n, nt, sizeof nt));
        }
        if (!c->nullable && n->nullable)
            grows = true; /* NOT NULL dropped at the source: relax */
    }
    if (!grows)
        return TS_OK;
    if (!(m = schema_new(next->n)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < next->n; i++) {
        if (i >= cur->n && (rc = check_unique(m, next->f[i].name, TS_ERR_INVALID, err)) != TS_OK) {
            delta_schema_free(m);
            return rc;
        }
        rc = field_copy(&m->f[i], i < cur->n ? &cur->f[i] : &next->f[i]);
        m->n++;
        if (rc != TS_OK) {
            delta_schema_free(m);
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        }
        if (i >= cur->n || next->f[i].nullable)
            m->f[i].nullable = true;
    }
    *merged = m;
    return TS_OK;
}
