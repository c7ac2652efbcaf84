/* list.c: the Delta tables under a prefix (one listing), and a table's files report
 * (versions, live files, rows, sizes, a column's bounds from each file's stats). */
#include "list.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "delta/stats.h"
#include "delta_int.h"

#define LOG_DIR "_delta_log/"

typedef struct tables_acc {
    delta_table_list *l;
    size_t cap;
} tables_acc;

static bool is_commit(const char *base, int64_t *v)
{
    int64_t x = 0;
    for (int i = 0; i < 20; i++) {
        if (base[i] < '0' || base[i] > '9' || x > (INT64_MAX - 9) / 10)
            return false;
        x = x * 10 + (base[i] - '0');
    }
    *v = x;
    return strcmp(base + 20, ".json") == 0;
}

static int on_object(void *ud, const lake_info *info)
{
    tables_acc *acc = ud;
    delta_table_list *l = acc->l;
    const char *name = info->name, *p = name, *hit = NULL;
    /* the first "_delta_log/" that is a whole path component */
    while ((p = strstr(p, LOG_DIR)) != NULL) {
        if (p == name || p[-1] == '/') {
            hit = p;
            break;
        }
        p++;
    }
    if (!hit)
        return 0;
    size_t rootlen = hit == name ? 0 : (size_t)(hit - name) - 1;
    delta_table_entry *e = NULL;
    for (size_t i = l->n; i-- > 0;)
        if (strlen(l->tables[i].root) == rootlen && memcmp(l->tables[i].root, name, rootlen) == 0) {
            e = &l->tables[i];
            break;
        }
    if (!e) {
        if (l->n == acc->cap) {
            size_t cap = acc->cap ? acc->cap * 2 : 16;
            delta_table_entry *n = ts_realloc(l->tables, cap * sizeof *n);
            if (!n)
                return TS_ERR_NOMEM;
            l->tables = n;
            acc->cap = cap;
        }
        e = &l->tables[l->n];
        memset(e, 0, sizeof *e);
        e->last_version = -1;
        if (!(e->root = ts_strndup(name, rootlen)))
            return TS_ERR_NOMEM;
        l->n++;
    }
    const char *base = hit + strlen(LOG_DIR);
    int64_t v;
    if (is_commit(base, &v)) {
        e->commits++;
        e->log_bytes += info->size;
        if (v > e->last_version)
            e->last_version = v;
    } else if (strcmp(base, "_last_checkpoint") == 0 || strstr(base, ".checkpoint.") ||
               strncmp(base, "_sidecars/", 10) == 0) {
        e->has_checkpoint = true;
    }
    return 0;
}

static int cmp_root(const void *a, const void *b)
{
    return strcmp(((const delta_table_entry *)a)->root, ((const delta_table_entry *)b)->root);
}

int delta_table_list_new(lake *lk, const char *prefix, delta_table_list **out, ts_err *err)
{
    tables_acc acc = {NULL, 0};
    ts_err e;
    int rc;
    *out = NULL;
    if (!(acc.l = ts_calloc(1, sizeof *acc.l)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    ts_err_clear(&e);
    rc = lake_list(lk, prefix ? prefix : "", on_object, &acc, &e);
    if (rc != TS_OK) {
        delta_table_list_free(acc.l);
        return ts_err_set(err, rc, "could not list \"%s\": %s", prefix ? prefix : "",
                          e.msg[0] ? e.msg : "out of memory");
    }
    if (acc.l->n)
        qsort(acc.l->tables, acc.l->n, sizeof *acc.l->tables, cmp_root);
    *out = acc.l;
    return TS_OK;
}

void delta_table_list_free(delta_table_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        ts_free(l->tables[i].root);
    ts_free(l->tables);
    ts_free(l);
}

/* A stats value as text: strings as they are, numbers as JSON writes them. */
static char *value_text(json_t *v)
{
    char buf[64];
    if (!v || json_is_null(v))
        return NULL;
    if (json_is_string(v))
        return ts_strdup(json_string_value(v));
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%" PRId64, (int64_t)json_integer_value(v));
        return ts_strdup(buf);
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        delta_format_double(d, buf, sizeof buf);
        return ts_strdup(buf);
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY), *r = s ? ts_strdup(s) : NULL;
    free(s);
    return r;
}

int delta_files_report_new(const delta_table *t, const char *column, delta_files_report **out,
                           ts_err *err)
{
    delta_files_report *r;
    *out = NULL;
    if (column && (!t->schema || delta_schema_find(t->schema, column) < 0))
        return ts_err_set(err, TS_ERR_NOTFOUND, "table \"%s\" has no column \"%s\"", t->root,
                          column);
    if (!(r = ts_calloc(1, sizeof *r)) ||
        (t->nlive && !(r->files = ts_calloc(t->nlive, sizeof *r->files)))) {
        ts_free(r);
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    }
    r->version = t->version;
    r->nremoved = t->ndead;
    r->rows_exact = true;
    for (size_t i = 0; i < t->nlive; i++) {
        const delta_file *f = &t->live[i]->f;
        delta_file_report *fr = &r->files[r->nfiles++];
        fr->file = f;
        fr->rows = f->num_records;
        fr->null_count = -1;
        if (f->num_records >= 0)
            r->rows += f->num_records;
        else
            r->rows_exact = false;
        if (f->size > 0)
            r->bytes += (uint64_t)f->size;
        if (!column || !f->stats)
            continue;
        json_t *s = delta_stats_parse(f->stats);
        json_t *nc = json_object_get(json_object_get(s, "nullCount"), column);
        json_t *mn = json_object_get(json_object_get(s, "minValues"), column);
        json_t *mx = json_object_get(json_object_get(s, "maxValues"), column);
        if (json_is_integer(nc))
            fr->null_count = json_integer_value(nc);
        fr->min = value_text(mn);
        fr->max = value_text(mx);
        bool nomem = (mn && !json_is_null(mn) && !fr->min) || (mx && !json_is_null(mx) && !fr->max);
        json_decref(s); /* mn and mx are s's */
        if (nomem) {
            delta_files_report_free(r);
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        }
    }
    *out = r;
    return TS_OK;
}

void delta_files_report_free(delta_files_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nfiles; i++) {
        ts_free(r->files[i].min);
        ts_free(r->files[i].max);
    }
    ts_free(r->files);
    ts_free(r);
}
