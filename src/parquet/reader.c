/* reader.c: the Parquet reader: footer, schema flattening, column chunks, pages and
 * row assembly (definition / repetition levels into values, NULLs and lists). Memory
 * is one column chunk (compressed) plus one page and its dictionary per column, all
 * of it charged to one allocation budget (pq_reader_options.max_alloc_bytes). */
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../common/alloc.h"
#include "../common/buf.h"
#include "codec.h"
#include "decode.h"
#include "thrift_dec.h"

#define PQ_MAX_DICT_ENTRIES (1u << 22)
/* The default allocation budget: see docs/parquet-reader.md, "Memory". */
#if SIZE_MAX > UINT32_MAX
#define PQ_DEFAULT_ALLOC ((size_t)4 << 30)
#else
#define PQ_DEFAULT_ALLOC ((size_t)1 << 30)
#endif

typedef struct col_state {
    const pq_reader_column *col;
    const pq_chunk_meta *cm;
    int list_def; /* list columns: the level of an empty list */
    uint8_t *chunk;
    size_t chunk_len, pos;
    uint64_t chunk_off;
    /* dictionary */
    uint8_t *dict_buf;
    pq_value *dict;
    uint32_t ndict;
    size_t dict_held; /* budget taken by dict_buf and dict */
    bool have_dict, seen_data;
    /* current page */
    uint8_t *page_buf;
    size_t page_cap;
    uint64_t page_off;
    int64_t page_left, values_read;
    pq_levels def, rep;
    pq_vdec vdec;
    bool vdec_live;
    /* one entry of lookahead */
    bool la_valid, la_eof;
    int la_def, la_rep;
    pq_value la_val;
    /* the current row's cell */
    pq_value *items;
    size_t items_cap;
    uint8_t *rowbytes; /* a list's byte values, copied out of the pages */
    size_t rowbytes_len, rowbytes_cap;
} col_state;

struct pq_reader {
    pq_read_fn read_fn;
    void *ctx;
    uint64_t file_size;
    int fd;
    const uint8_t *mem;
    pq_reader_options opt;
    pq_arena *arena;
    pq_file_meta meta;
    int nleaves;
    pq_reader_column *cols;
    int ncols;
    ts_err flat_err; /* code != 0: the schema cannot be flattened */
    /* iteration */
    int rg;
    bool rg_loaded; /* rg's column chunks are in memory (false: rg was skipped) */
    int64_t rg_rows_left, row_index;
    bool *want_col; /* pq_reader_select_columns, NULL = every column */
    bool *want_rg;  /* pq_reader_select_row_groups, NULL = every row group */
    pq_value null_value;
    col_state *cs;
    pq_cell *cells;
    ts_err fail; /* the error that stopped iteration */
    size_t held; /* bytes of the allocation budget in use */
};

void pq_reader_options_default(pq_reader_options *opt)
{
    opt->max_footer_bytes = (size_t)64 << 20;
    /* A page holds page_bytes of values, or one value PostgreSQL (1 GiB) allows. */
    opt->max_page_bytes = ((size_t)1 << 30) + ((size_t)16 << 20);
    opt->max_row_bytes = (size_t)1 << 30;
    opt->max_list_elements = (int64_t)128 << 20; /* PostgreSQL: 134 M (MaxArraySize) */
    opt->verify_crc = true;
    opt->max_rows = 0;
    opt->max_alloc_bytes = PQ_DEFAULT_ALLOC;
}

/* ---- the allocation budget ---- */

/* Takes n bytes of the budget for a buffer sized from the file; what names it. */
static int budget_take(pq_reader *r, size_t n, const char *what, ts_err *err)
{
    if (n > r->opt.max_alloc_bytes - r->held)
        return ts_err_set(err, TS_ERR_TOOBIG,
                          "%s of %zu bytes would pass the reader's allocation cap of %zu bytes "
                          "(%zu in use)",
                          what, n, r->opt.max_alloc_bytes, r->held);
    r->held += n;
    return 0;
}

static void budget_give(pq_reader *r, size_t n)
{
    r->held -= n < r->held ? n : r->held;
}

/* ---- sources ---- */

static int file_read(void *ctx, uint64_t offset, void *dst, size_t len, ts_err *err)
{
    pq_reader *r = ctx;
    uint8_t *p = dst;
    while (len > 0) {
        ssize_t n = pread(r->fd, p, len > (1u << 30) ? (1u << 30) : len, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return ts_err_set(err, TS_ERR_IO, "could not read at offset %llu: %s",
                              (unsigned long long)offset, strerror(errno));
        }
        if (n == 0)
            return ts_err_set(err, TS_ERR_IO, "unexpected end of file at offset %llu",
                              (unsigned long long)offset);
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

static int mem_read(void *ctx, uint64_t offset, void *dst, size_t len, ts_err *err)
{
    pq_reader *r = ctx;
    if (offset > r->file_size || len > r->file_size - offset)
        return ts_err_set(err, TS_ERR_IO, "read past the end of the buffer");
    if (len)
        memcpy(dst, r->mem + offset, len);
    return 0;
}

static int src_read(pq_reader *r, uint64_t offset, void *dst, size_t len, ts_err *err)
{
    if (offset > r->file_size || len > r->file_size - offset)
        return ts_err_set(err, TS_ERR_FORMAT, "range %llu+%zu passes the end of the file (%llu)",
                          (unsigned long long)offset, len, (unsigned long long)r->file_size);
    int rc = r->read_fn(r->read_fn == file_read || r->read_fn == mem_read ? (void *)r : r->ctx,
                        offset, dst, len, err);
    if (rc && err && err->code == TS_OK)
        ts_err_set(err, rc, "read of %zu bytes at offset %llu failed", len,
                   (unsigned long long)offset);
    return rc;
}

/* ---- names ---- */

const char *pq_logical_kind_name(int kind)
{
    static const char *names[] = {NULL,      "STRING",  "MAP",      "LIST",      "ENUM",
                                  "DECIMAL", "DATE",    "TIME",     "TIMESTAMP", NULL,
                                  "INTEGER", "UNKNOWN", "JSON",     "BSON",      "UUID",
                                  "FLOAT16", "VARIANT", "GEOMETRY", "GEOGRAPHY", "VECTOR"};
    if (kind > 0 && kind < (int)(sizeof names / sizeof *names) && names[kind])
        return names[kind];
    return kind == 0 ? "NONE" : "UNKNOWN_LOGICAL";
}

const char *pq_converted_type_name(int ct)
{
    static const char *names[] = {"UTF8",
                                  "MAP",
                                  "MAP_KEY_VALUE",
                                  "LIST",
                                  "ENUM",
                                  "DECIMAL",
                                  "DATE",
                                  "TIME_MILLIS",
                                  "TIME_MICROS",
                                  "TIMESTAMP_MILLIS",
                                  "TIMESTAMP_MICROS",
                                  "UINT_8",
                                  "UINT_16",
                                  "UINT_32",
                                  "UINT_64",
                                  "INT_8",
                                  "INT_16",
                                  "INT_32",
                                  "INT_64",
                                  "JSON",
                                  "BSON",
                                  "INTERVAL"};
    if (ct >= 0 && ct < (int)(sizeof names / sizeof *names))
        return names[ct];
    return ct < 0 ? "NONE" : "UNKNOWN_CONVERTED";
}

const char *pq_repetition_name(int rep)
{
    switch (rep) {
    case 0:
        return "REQUIRED";
    case 1:
        return "OPTIONAL";
    case 2:
        return "REPEATED";
    case 3:
        return "VECTOR";
    default:
        return "NONE";
    }
}

/* ---- schema flattening ---- */

static bool is_list_group(const pq_schema_node *n)
{
    return n->logical_kind == 3 || n->converted_type == 3;
}

static void spec_from_leaf(pq_column_spec *s, const pq_schema_node *leaf)
{
    memset(s, 0, sizeof *s);
    s->physical = (pq_physical)leaf->physical;
    s->logical = leaf->logical;
    s->type_length = leaf->type_length > 0 ? leaf->type_length : 0;
    s->precision = leaf->lt_precision;
    s->scale = leaf->lt_scale;
    if (leaf->logical == PQ_LT_DECIMAL) {
        if (s->precision < 0)
            s->precision = leaf->precision;
        if (s->scale < 0)
            s->scale = leaf->scale < 0 ? 0 : leaf->scale;
    }
    s->bit_width = leaf->bit_width;
    s->is_signed = leaf->is_signed;
    s->ts_utc = leaf->ts_utc;
    s->time_unit = leaf->time_unit;
    s->encoding = PQ_ENC_DEFAULT;
}

/* "a.list.element": the names from the root's child down to node i. */
static const char *leaf_path(pq_reader *r, int i)
{
    const pq_schema_node *nodes = r->meta.schema;
    size_t len = 0;
    for (int k = i; k > 0; k = nodes[k].parent)
        len += strlen(nodes[k].name) + 1;
    char *s = pq_arena_alloc(r->arena, len);
    if (!s)
        return NULL;
    size_t end = len - 1; /* the NUL */
    for (int k = i; k > 0; k = nodes[k].parent) {
        size_t n = strlen(nodes[k].name);
        end -= n;
        memcpy(s + end, nodes[k].name, n);
        if (end > 0)
            s[--end] = '.';
    }
    return s;
}

/* Builds r->cols, or records in r->flat_err why the schema cannot be flattened. */
static int flatten(pq_reader *r)
{
    const pq_file_meta *m = &r->meta;
    const pq_schema_node *nodes = m->schema;
    ts_err *e = &r->flat_err;
    int ntop = nodes[0].num_children, leaf = 0, c = 0;

    r->cols = ts_calloc((size_t)(ntop > 0 ? ntop : 1), sizeof *r->cols);
    if (!r->cols)
        return TS_ERR_NOMEM;
    for (int i = 1; i < m->nschema; i++) {
        const pq_schema_node *f = &nodes[i];
        if (f->parent != 0)
            continue;
        pq_reader_column *col = &r->cols[c];
        int li = -1; /* node index of the leaf */
        int def = 0, rep = 0;
        if (f->num_children == 0) {
            li = i;
            if (f->repetition == 2) { /* a bare repeated primitive: a non-null list */
                col->spec.list = true;
                def = rep = 1;
            } else {
                def = f->repetition == 1;
            }
        } else if (is_list_group(f) && f->repetition != 2 && f->num_children == 1) {
            const pq_schema_node *g = &nodes[i + 1];
            def = f->repetition == 1;
            if (g->repetition != 2) {
                ts_err_set(e, TS_ERR_UNSUPPORTED, "list \"%s\": its child \"%s\" is not repeated",
                           f->name, g->name);
                goto out;
            }
            def++, rep++;
            col->spec.list = true;
            if (g->num_children == 0) {
                li = i + 1; /* 2-level: repeated primitive elements */
            } else {
                char tuple[300];
                snprintf(tuple, sizeof tuple, "%s_tuple", f->name);
                const pq_schema_node *el = &nodes[i + 2];
                if (g->num_children != 1 || strcmp(g->name, "array") == 0 ||
                    strcmp(g->name, tuple) == 0 || el->num_children > 0) {
                    ts_err_set(e, TS_ERR_UNSUPPORTED,
                               "column \"%s\" is a list of structs or of lists; only lists "
                               "of a primitive type can be read",
                               f->name);
                    goto out;
                }
                if (el->repetition == 2) {
                    ts_err_set(e, TS_ERR_UNSUPPORTED, "list \"%s\": repeated element", f->name);
                    goto out;
                }
                li = i + 2;
                col->element_nullable = el->repetition == 1;
                def += el->repetition == 1;
            }
        } else {
            ts_err_set(e, TS_ERR_UNSUPPORTED,
                       "column \"%s\" is a nested %s; only primitive columns and lists of a "
                       "primitive can be read",
                       f->name,
                       f->logical_kind == 2 || f->converted_type == 1 ? "map"
                       : is_list_group(f)                             ? "list"
                                                                      : "struct");
            goto out;
        }
        bool list = col->spec.list;
        spec_from_leaf(&col->spec, &nodes[li]);
        col->spec.list = list;
        col->spec.name = f->name;
        col->spec.nullable = f->repetition == 1;
        col->leaf = leaf++;
        col->node = li;
        col->max_def = def;
        col->max_rep = rep;
        col->path = leaf_path(r, li);
        if (!col->path)
            return TS_ERR_NOMEM;
        c++;
    }
    r->ncols = c;
out:
    return 0;
}

/* ---- opening ---- */

static int64_t chunk_start(const pq_chunk_meta *cm)
{
    if (cm->dictionary_page_offset >= 4 && cm->dictionary_page_offset < cm->data_page_offset)
        return cm->dictionary_page_offset;
    return cm->data_page_offset;
}

static int validate(pq_reader *r, uint64_t data_end, ts_err *err)
{
    const pq_file_meta *m = &r->meta;
    int64_t total = 0;
    int nleaves = 0;
    for (int i = 0; i < m->nschema; i++) {
        const pq_schema_node *n = &m->schema[i];
        if (i > 0 && n->num_children == 0) {
            nleaves++;
            if (n->physical == PQ_FIXED_LEN_BYTE_ARRAY &&
                (n->type_length <= 0 || (size_t)n->type_length > r->opt.max_page_bytes))
                return ts_err_set(err, TS_ERR_FORMAT,
                                  "footer: column \"%s\" is FIXED_LEN_BYTE_ARRAY of length %d",
                                  n->name, n->type_length);
        }
    }
    r->nleaves = nleaves;
    if (m->num_rows < 0)
        return ts_err_set(err, TS_ERR_FORMAT, "footer: negative row count %lld",
                          (long long)m->num_rows);
    for (int g = 0; g < m->nrow_groups; g++) {
        const pq_row_group_meta *rg = &m->row_groups[g];
        if (rg->num_rows < 0 || rg->num_rows > INT64_MAX - total)
            return ts_err_set(err, TS_ERR_FORMAT, "footer: row group %d has %lld rows", g,
                              (long long)rg->num_rows);
        total += rg->num_rows;
        if (rg->ncolumns != nleaves)
            return ts_err_set(err, TS_ERR_FORMAT,
                              "footer: row group %d has %d column chunks, the schema %d leaves", g,
                              rg->ncolumns, nleaves);
        int leaf = 0;
        for (int i = 1; i < m->nschema; i++) {
            const pq_schema_node *n = &m->schema[i];
            if (n->num_children)
                continue;
            const pq_chunk_meta *cm = &rg->columns[leaf++];
            if (!cm->has_meta)
                return ts_err_set(err, TS_ERR_FORMAT,
                                  "footer: column chunk of \"%s\" in row group %d has no metadata",
                                  n->name, g);
            if (cm->physical != n->physical)
                return ts_err_set(err, TS_ERR_FORMAT,
                                  "footer: column chunk of \"%s\" in row group %d is %s, the "
                                  "schema says %s",
                                  n->name, g, pq_physical_name(cm->physical),
                                  pq_physical_name(n->physical));
            if (cm->file_path)
                continue; /* external data: not read here */
            int64_t start = chunk_start(cm);
            if (cm->num_values < 0 || cm->total_compressed_size < 0 || start < 4 ||
                (uint64_t)start > data_end ||
                (uint64_t)cm->total_compressed_size > data_end - (uint64_t)start)
                return ts_err_set(err, TS_ERR_FORMAT,
                                  "footer: column chunk of \"%s\" in row group %d at offset %lld "
                                  "(%lld bytes) lies outside the data (0..%llu)",
                                  n->name, g, (long long)start,
                                  (long long)cm->total_compressed_size,
                                  (unsigned long long)data_end);
        }
    }
    if (r->opt.max_rows > 0 && total > r->opt.max_rows)
        return ts_err_set(err, TS_ERR_TOOBIG, "footer: %lld rows exceed the cap of %lld",
                          (long long)total, (long long)r->opt.max_rows);
    if (total != m->num_rows)
        return ts_err_set(err, TS_ERR_FORMAT,
                          "footer: the file says %lld rows but its row groups hold %lld",
                          (long long)m->num_rows, (long long)total);
    return 0;
}

static int open_common(pq_reader *r, ts_err *err)
{
    uint8_t tail[8], head[4];
    uint8_t *footer = NULL;
    uint32_t flen = 0;
    bool took = false;
    int rc;

    if (r->file_size < 12) {
        rc = ts_err_set(err, TS_ERR_FORMAT, "not a Parquet file: %llu bytes is too short",
                        (unsigned long long)r->file_size);
        goto out;
    }
    if ((rc = src_read(r, 0, head, 4, err)) != 0 ||
        (rc = src_read(r, r->file_size - 8, tail, 8, err)) != 0)
        goto out;
    if (memcmp(tail + 4, "PARE", 4) == 0) {
        rc = ts_err_set(err, TS_ERR_UNSUPPORTED, "encrypted Parquet footers are not supported");
        goto out;
    }
    if (memcmp(head, "PAR1", 4) != 0 || memcmp(tail + 4, "PAR1", 4) != 0) {
        rc = ts_err_set(err, TS_ERR_FORMAT, "%s: magic \"PAR1\" missing at the %s",
                        memcmp(head, "PAR1", 4) != 0 ? "not a Parquet file"
                                                     : "truncated or not a Parquet file",
                        memcmp(head, "PAR1", 4) != 0 ? "start" : "end");
        goto out;
    }
    flen = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 |
                    (uint32_t)tail[3] << 24;
    if (flen == 0 || (uint64_t)flen > r->file_size - 12) {
        rc = ts_err_set(err, TS_ERR_FORMAT,
                        "footer length %u does not fit a file of %llu bytes (truncated?)", flen,
                        (unsigned long long)r->file_size);
        goto out;
    }
    if (flen > r->opt.max_footer_bytes) {
        rc = ts_err_set(err, TS_ERR_TOOBIG, "footer of %u bytes exceeds the cap of %zu", flen,
                        r->opt.max_footer_bytes);
        goto out;
    }
    uint64_t foff = r->file_size - 8 - flen;
    if ((rc = budget_take(r, flen, "footer", err)) != 0)
        goto out;
    took = true;
    footer = ts_malloc(flen);
    if (!footer) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory for a footer of %u bytes", flen);
        goto out;
    }
    if ((rc = src_read(r, foff, footer, flen, err)) != 0)
        goto out;
    /* The metadata's views: at most 32 x the footer, and what the budget has left. */
    size_t acap = (size_t)flen * 32 + ((size_t)1 << 20);
    if (acap > r->opt.max_alloc_bytes - r->held)
        acap = r->opt.max_alloc_bytes - r->held;
    r->arena = pq_arena_new(acap);
    if (!r->arena) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = pq_tdec_file_metadata(footer, flen, foff, r->arena, &r->meta, err)) != 0)
        goto out;
    if ((rc = validate(r, foff, err)) != 0)
        goto out;
    if ((rc = flatten(r)) != 0) {
        ts_err_set(err, rc, "out of memory");
        goto out;
    }
    r->rg = -1;
    r->row_index = -1;
out:
    ts_free(footer);
    /* the footer's bytes go back; the metadata's stay taken while the reader lives */
    if (took)
        budget_give(r, flen);
    if (rc == 0)
        r->held += pq_arena_total(r->arena);
    return rc;
}

static pq_reader *reader_alloc(const pq_reader_options *opt)
{
    pq_reader *r = ts_calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->fd = -1;
    if (opt)
        r->opt = *opt;
    else
        pq_reader_options_default(&r->opt);
    if (r->opt.max_page_bytes == 0 || r->opt.max_page_bytes > INT32_MAX)
        r->opt.max_page_bytes = INT32_MAX;
    if (r->opt.max_alloc_bytes == 0)
        r->opt.max_alloc_bytes = PQ_DEFAULT_ALLOC;
    ts_err_clear(&r->flat_err);
    ts_err_clear(&r->fail);
    return r;
}

static int finish_open(pq_reader **out, pq_reader *r, ts_err *err)
{
    ts_err local;
    ts_err_clear(&local);
    int rc = open_common(r, &local);
    if (rc) {
        ts_err_set(err, rc, "%s", local.msg);
        pq_reader_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int pq_reader_open(pq_reader **out, pq_read_fn read_fn, void *ctx, uint64_t file_size,
                   const pq_reader_options *opt, ts_err *err)
{
    *out = NULL;
    pq_reader *r = reader_alloc(opt);
    if (!r)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    r->read_fn = read_fn;
    r->ctx = ctx;
    r->file_size = file_size;
    return finish_open(out, r, err);
}

int pq_reader_open_memory(pq_reader **out, const void *data, size_t len,
                          const pq_reader_options *opt, ts_err *err)
{
    *out = NULL;
    pq_reader *r = reader_alloc(opt);
    if (!r)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    r->read_fn = mem_read;
    r->mem = data;
    r->file_size = len;
    return finish_open(out, r, err);
}

int pq_reader_open_file(pq_reader **out, const char *path, const pq_reader_options *opt,
                        ts_err *err)
{
    *out = NULL;
    pq_reader *r = reader_alloc(opt);
    if (!r)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        int e = errno;
        pq_reader_free(r);
        return ts_err_set(err, e == ENOENT ? TS_ERR_NOTFOUND : TS_ERR_IO,
                          "could not open \"%s\": %s", path, strerror(e));
    }
    off_t size = lseek(r->fd, 0, SEEK_END);
    if (size < 0) {
        int e = errno;
        pq_reader_free(r);
        return ts_err_set(err, TS_ERR_IO, "could not size \"%s\": %s", path, strerror(e));
    }
    r->read_fn = file_read;
    r->file_size = (uint64_t)size;
    int rc = finish_open(out, r, err);
    if (rc)
        ts_err_prefix(err, "\"%s\"", path);
    return rc;
}

/* Frees a column's chunk and dictionary (its page and row buffers are kept). */
static void col_reset(pq_reader *r, col_state *c)
{
    if (c->chunk)
        budget_give(r, c->chunk_len);
    budget_give(r, c->dict_held);
    ts_free(c->chunk);
    ts_free(c->dict_buf);
    ts_free(c->dict);
    if (c->vdec_live)
        pq_vdec_free(&c->vdec);
    c->dict_held = 0;
    c->chunk = c->dict_buf = NULL;
    c->dict = NULL;
    c->ndict = 0;
    c->have_dict = c->seen_data = c->vdec_live = false;
    c->chunk_len = c->pos = 0;
    c->page_left = c->values_read = 0;
    c->la_valid = c->la_eof = false;
}

void pq_reader_free(pq_reader *r)
{
    if (!r)
        return;
    if (r->cs) {
        for (int i = 0; i < r->ncols; i++) {
            col_reset(r, &r->cs[i]);
            ts_free(r->cs[i].page_buf);
            ts_free(r->cs[i].items);
            ts_free(r->cs[i].rowbytes);
        }
        ts_free(r->cs);
    }
    ts_free(r->cells);
    ts_free(r->cols);
    ts_free(r->want_col);
    ts_free(r->want_rg);
    pq_arena_free(r->arena);
    if (r->fd >= 0)
        close(r->fd);
    ts_free(r);
}

const pq_file_meta *pq_reader_meta(const pq_reader *r)
{
    return &r->meta;
}

int64_t pq_reader_num_rows(const pq_reader *r)
{
    return r->meta.num_rows;
}

uint64_t pq_reader_file_size(const pq_reader *r)
{
    return r->file_size;
}

int pq_reader_num_row_groups(const pq_reader *r)
{
    return r->meta.nrow_groups;
}

const char *pq_reader_kv(const pq_reader *r, const char *key)
{
    for (int i = 0; i < r->meta.nkv; i++)
        if (strcmp(r->meta.kv[i].key, key) == 0)
            return r->meta.kv[i].value;
    return NULL;
}

int pq_reader_columns(const pq_reader *r, const pq_reader_column **cols, int *ncols, ts_err *err)
{
    if (r->flat_err.code)
        return ts_err_set(err, r->flat_err.code, "%s", r->flat_err.msg);
    *cols = r->cols;
    *ncols = r->ncols;
    return 0;
}

int64_t pq_reader_row_index(const pq_reader *r)
{
    return r->row_index;
}

/* A copy of n flags into *dst, before the first row only. */
static int select_flags(pq_reader *r, bool **dst, const bool *want, int n, const char *what,
                        ts_err *err)
{
    if (r->cs || r->row_index >= 0)
        return ts_err_set(err, TS_ERR_INTERNAL, "%s must be selected before the first row", what);
    bool *c = ts_malloc((size_t)(n > 0 ? n : 1) * sizeof *c);
    if (!c)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    if (n > 0)
        memcpy(c, want, (size_t)n * sizeof *c);
    ts_free(*dst);
    *dst = c;
    return 0;
}

int pq_reader_select_columns(pq_reader *r, const bool *want, ts_err *err)
{
    return select_flags(r, &r->want_col, want, r->ncols, "columns", err);
}

int pq_reader_select_row_groups(pq_reader *r, const bool *want, ts_err *err)
{
    return select_flags(r, &r->want_rg, want, r->meta.nrow_groups, "row groups", err);
}

const pq_cell *pq_reader_cell(const pq_reader *r, int col)
{
    if (!r->cells || col < 0 || col >= r->ncols)
        return NULL;
    return &r->cells[col];
}

/* ---- pages ---- */

/* The largest single value a decoder may assemble (DELTA_BYTE_ARRAY): a page's worth,
 * and no more than the budget has left. */
static size_t value_cap(const pq_reader *r)
{
    size_t left = r->opt.max_alloc_bytes - r->held;
    return left < r->opt.max_page_bytes ? left : r->opt.max_page_bytes;
}

/* Decompressed (or direct) view of n bytes at src that must come out usize bytes. */
static int page_bytes(pq_reader *r, col_state *c, const uint8_t *src, size_t n, size_t usize,
                      bool compressed, const uint8_t **out, ts_err *err)
{
    int codec = c->cm->codec;
    if (!compressed || codec == PQ_CODEC_UNCOMPRESSED) {
        if (n != usize)
            return ts_err_set(err, TS_ERR_FORMAT, "uncompressed page of %zu bytes claims %zu bytes",
                              n, usize);
        *out = src;
        return 0;
    }
    if (codec != PQ_CODEC_SNAPPY && codec != PQ_CODEC_GZIP && codec != PQ_CODEC_ZSTD &&
        codec != PQ_CODEC_LZ4 && codec != PQ_CODEC_LZ4_RAW)
        return ts_err_set(err, TS_ERR_UNSUPPORTED, "compression codec %s is not supported",
                          pq_codec_name(codec));
    if (usize > r->opt.max_page_bytes)
        return ts_err_set(err, TS_ERR_TOOBIG, "page of %zu bytes exceeds the cap of %zu", usize,
                          r->opt.max_page_bytes);
    if (c->page_cap < usize || !c->page_buf) {
        size_t ncap = usize ? usize : 1;
        int rc = budget_take(r, ncap - c->page_cap, "decompressed page", err);
        if (rc)
            return rc;
        uint8_t *p = ts_realloc(c->page_buf, ncap);
        if (!p) {
            budget_give(r, ncap - c->page_cap);
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory for a page of %zu bytes", usize);
        }
        c->page_buf = p;
        c->page_cap = ncap;
    }
    int rc = pq_decompress((pq_codec)codec, src, n, c->page_buf, usize, err);
    if (rc)
        return rc;
    *out = c->page_buf;
    return 0;
}

static int min_plain_width(int physical, int type_length)
{
    switch (physical) {
    case PQ_BOOLEAN:
        return 0;
    case PQ_BYTE_ARRAY:
        return 4;
    default:
        return pq_fixed_width(physical, type_length);
    }
}

static int load_dict(pq_reader *r, col_state *c, const pq_page_header *h, const uint8_t *data,
                     ts_err *err)
{
    const pq_column_spec *s = &c->col->spec;
    const uint8_t *vals;
    pq_vdec vd;
    int rc;
    if (c->have_dict || c->seen_data)
        return ts_err_set(err, TS_ERR_FORMAT, "a second dictionary page, or one after data");
    if (h->encoding != PQ_ENC_PLAIN && h->encoding != PQ_ENC_PLAIN_DICTIONARY)
        return ts_err_set(err, TS_ERR_UNSUPPORTED, "dictionary page encoded with %s",
                          pq_encoding_name(h->encoding));
    int w = min_plain_width(s->physical, s->type_length);
    uint64_t maxn =
        w ? (uint64_t)h->uncompressed_size / (uint64_t)w : (uint64_t)h->uncompressed_size * 8;
    if (h->num_values < 0 || (uint64_t)h->num_values > maxn ||
        (uint32_t)h->num_values > PQ_MAX_DICT_ENTRIES)
        return ts_err_set(err, TS_ERR_FORMAT, "dictionary of %d entries in %d bytes",
                          (int)h->num_values, (int)h->uncompressed_size);
    if ((rc = page_bytes(r, c, data, (size_t)h->compressed_size, (size_t)h->uncompressed_size, true,
                         &vals, err)) != 0)
        return rc;
    /* The dictionary outlives the page buffer: keep its own copy. */
    size_t need = (size_t)h->uncompressed_size + 1 + ((size_t)h->num_values + 1) * sizeof *c->dict;
    if ((rc = budget_take(r, need, "dictionary", err)) != 0)
        return rc;
    c->dict_held = need;
    c->dict_buf = ts_malloc((size_t)h->uncompressed_size + 1);
    c->dict = ts_calloc((size_t)h->num_values + 1, sizeof *c->dict);
    if (!c->dict_buf || !c->dict)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory for a dictionary");
    memcpy(c->dict_buf, vals, (size_t)h->uncompressed_size);
    if ((rc = pq_vdec_init(&vd, PQ_ENC_PLAIN, s->physical, s->type_length, c->dict_buf,
                           (size_t)h->uncompressed_size, (uint64_t)h->num_values, NULL, 0, 0,
                           err)) != 0)
        return rc;
    for (int32_t i = 0; i < h->num_values && rc == 0; i++)
        rc = pq_vdec_next(&vd, &c->dict[i], err);
    pq_vdec_free(&vd);
    if (rc)
        return rc;
    c->ndict = (uint32_t)h->num_values;
    c->have_dict = true;
    return 0;
}

static int load_data_page(pq_reader *r, col_state *c, const pq_page_header *h, const uint8_t *data,
                          ts_err *err)
{
    const pq_reader_column *col = c->col;
    const uint8_t *p;
    size_t n, used;
    int rc;
    int64_t nv = h->num_values;

    if (nv < 0 || nv > c->cm->num_values - c->values_read)
        return ts_err_set(err, TS_ERR_FORMAT,
                          "page of %lld values, but the chunk has %lld values left", (long long)nv,
                          (long long)(c->cm->num_values - c->values_read));
    if (h->type == PQ_PAGE_DATA) {
        if ((rc = page_bytes(r, c, data, (size_t)h->compressed_size, (size_t)h->uncompressed_size,
                             true, &p, err)) != 0)
            return rc;
        n = (size_t)h->uncompressed_size;
        if ((rc = pq_levels_init(&c->rep, h->rep_encoding, col->max_rep, true, p, n, (uint64_t)nv,
                                 &used, err)) != 0)
            return rc;
        p += used, n -= used;
        if ((rc = pq_levels_init(&c->def, h->def_encoding, col->max_def, true, p, n, (uint64_t)nv,
                                 &used, err)) != 0)
            return rc;
        p += used, n -= used;
    } else {
        if (h->rep_len < 0 || h->def_len < 0 ||
            (int64_t)h->rep_len + h->def_len > h->compressed_size ||
            (int64_t)h->rep_len + h->def_len > h->uncompressed_size || h->num_nulls < 0 ||
            h->num_nulls > h->num_values)
            return ts_err_set(err, TS_ERR_FORMAT,
                              "data page v2 with levels of %d + %d bytes in a page of %d/%d "
                              "bytes, %d nulls of %d values",
                              (int)h->rep_len, (int)h->def_len, (int)h->compressed_size,
                              (int)h->uncompressed_size, (int)h->num_nulls, (int)h->num_values);
        if ((rc = pq_levels_init(&c->rep, PQ_ENC_RLE, col->max_rep, false, data, (size_t)h->rep_len,
                                 (uint64_t)nv, &used, err)) != 0)
            return rc;
        if ((rc = pq_levels_init(&c->def, PQ_ENC_RLE, col->max_def, false, data + h->rep_len,
                                 (size_t)h->def_len, (uint64_t)nv, &used, err)) != 0)
            return rc;
        size_t lv = (size_t)h->rep_len + (size_t)h->def_len;
        if ((rc = page_bytes(r, c, data + lv, (size_t)h->compressed_size - lv,
                             (size_t)h->uncompressed_size - lv, h->is_compressed, &p, err)) != 0)
            return rc;
        n = (size_t)h->uncompressed_size - lv;
    }
    if (c->vdec_live) {
        pq_vdec_free(&c->vdec);
        c->vdec_live = false;
    }
    rc = pq_vdec_init(&c->vdec, h->encoding, col->spec.physical, col->spec.type_length, p, n,
                      (uint64_t)nv, c->dict, c->ndict, value_cap(r), err);
    c->vdec_live = true;
    if (rc)
        return rc;
    c->page_left = nv;
    c->values_read += nv;
    c->seen_data = true;
    return 0;
}

/* Loads pages until one with values: 1 when there is one, 0 at the chunk's end. */
static int next_page(pq_reader *r, col_state *c, ts_err *err)
{
    while (c->pos < c->chunk_len) {
        pq_page_header h;
        uint64_t off = c->chunk_off + c->pos;
        int rc = pq_tdec_page_header(c->chunk + c->pos, c->chunk_len - c->pos, off, &h, err);
        if (rc)
            return rc;
        c->page_off = off;
        size_t start = c->pos + h.header_len;
        if ((size_t)h.compressed_size > c->chunk_len - start)
            return ts_err_set(err, TS_ERR_FORMAT,
                              "page at offset %llu: %d bytes pass the end of the column chunk "
                              "(%zu left)",
                              (unsigned long long)off, (int)h.compressed_size,
                              c->chunk_len - start);
        const uint8_t *data = c->chunk + start;
        c->pos = start + (size_t)h.compressed_size;
        if (h.has_crc && r->opt.verify_crc && h.type != PQ_PAGE_INDEX) {
            uint32_t crc = (uint32_t)crc32(0L, data, (uInt)h.compressed_size);
            if (crc != h.crc)
                return ts_err_set(err, TS_ERR_FORMAT,
                                  "page at offset %llu: CRC32 %08x does not match the header's "
                                  "%08x",
                                  (unsigned long long)off, crc, h.crc);
        }
        switch (h.type) {
        case PQ_PAGE_DICTIONARY:
            rc = load_dict(r, c, &h, data, err);
            break;
        case PQ_PAGE_DATA:
        case PQ_PAGE_DATA_V2:
            rc = load_data_page(r, c, &h, data, err);
            if (rc == 0 && c->page_left > 0)
                return 1;
            break;
        case PQ_PAGE_INDEX:
            break;
        default:
            rc = ts_err_set(err, TS_ERR_FORMAT, "unknown page type %d", h.type);
            break;
        }
        if (rc) {
            ts_err_prefix(err, "page at offset %llu", (unsigned long long)off);
            return rc;
        }
    }
    if (c->values_read != c->cm->num_values)
        return ts_err_set(err, TS_ERR_FORMAT,
                          "the column chunk holds %lld values, its metadata says %lld",
                          (long long)c->values_read, (long long)c->cm->num_values);
    return 0;
}

/* Reads the next level entry (and value) into the lookahead. */
static int fetch(pq_reader *r, col_state *c, ts_err *err)
{
    const pq_reader_column *col = c->col;
    int rc;
    c->la_valid = true;
    c->la_eof = false;
    while (c->page_left == 0) {
        rc = next_page(r, c, err);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            c->la_eof = true;
            return 0;
        }
    }
    if ((rc = pq_levels_next(&c->rep, &c->la_rep, err)) != 0 ||
        (rc = pq_levels_next(&c->def, &c->la_def, err)) != 0)
        goto fail;
    c->la_val.is_null = c->la_def < col->max_def;
    if (!c->la_val.is_null && (rc = pq_vdec_next(&c->vdec, &c->la_val, err)) != 0)
        goto fail;
    c->page_left--;
    return 0;
fail:
    ts_err_prefix(err, "page at offset %llu", (unsigned long long)c->page_off);
    return rc;
}

static int load_row_group(pq_reader *r, int g, ts_err *err)
{
    const pq_row_group_meta *rg = &r->meta.row_groups[g];
    for (int i = 0; i < r->ncols; i++) {
        col_state *c = &r->cs[i];
        col_reset(r, c);
        c->cm = &rg->columns[c->col->leaf];
        if (r->want_col && !r->want_col[i])
            continue; /* not read: its cells are NULL */
        if (c->cm->file_path)
            return ts_err_set(err, TS_ERR_UNSUPPORTED,
                              "column \"%s\" keeps its data in another file (\"%s\")",
                              c->col->spec.name, c->cm->file_path);
        int64_t start = chunk_start(c->cm);
        size_t len = (size_t)c->cm->total_compressed_size;
        c->chunk_off = (uint64_t)start;
        int rc = budget_take(r, len, "column chunk", err);
        if (rc) {
            ts_err_prefix(err, "column \"%s\"", c->col->spec.name);
            return rc;
        }
        c->chunk = ts_malloc(len ? len : 1);
        if (!c->chunk) {
            budget_give(r, len);
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory for a column chunk of %zu bytes",
                              len);
        }
        c->chunk_len = len;
        rc = src_read(r, (uint64_t)start, c->chunk, c->chunk_len, err);
        if (rc)
            return rc;
    }
    r->rg = g;
    r->rg_loaded = true;
    r->rg_rows_left = rg->num_rows;
    return 0;
}

/* Appends n bytes of a list element to the row's copy; *off = where they went. */
static int row_bytes_append(pq_reader *r, col_state *c, const uint8_t *p, size_t n, size_t *off,
                            ts_err *err)
{
    if (n > r->opt.max_row_bytes - c->rowbytes_len)
        return ts_err_set(err, TS_ERR_TOOBIG, "a list value exceeds %zu bytes",
                          r->opt.max_row_bytes);
    size_t need = c->rowbytes_len + n;
    if (need > c->rowbytes_cap || !c->rowbytes) {
        size_t ncap = c->rowbytes_cap ? c->rowbytes_cap : 256;
        while (ncap < need)
            ncap = ncap > r->opt.max_row_bytes / 2 ? r->opt.max_row_bytes : ncap * 2;
        int rc = budget_take(r, ncap - c->rowbytes_cap, "a list value's bytes", err);
        if (rc)
            return rc;
        uint8_t *nb = ts_realloc(c->rowbytes, ncap);
        if (!nb) {
            budget_give(r, ncap - c->rowbytes_cap);
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        }
        c->rowbytes = nb;
        c->rowbytes_cap = ncap;
    }
    if (n)
        memcpy(c->rowbytes + c->rowbytes_len, p, n);
    *off = c->rowbytes_len;
    c->rowbytes_len += n;
    return 0;
}

static int assemble(pq_reader *r, col_state *c, pq_cell *cell, ts_err *err)
{
    const pq_reader_column *col = c->col;
    int rc;
    if (!c->la_valid && (rc = fetch(r, c, err)) != 0)
        return rc;
    if (c->la_eof)
        return ts_err_set(err, TS_ERR_FORMAT, "the chunk ends after %lld of %lld rows",
                          (long long)(r->meta.row_groups[r->rg].num_rows - r->rg_rows_left),
                          (long long)r->meta.row_groups[r->rg].num_rows);
    if (c->la_rep != 0)
        return ts_err_set(err, TS_ERR_FORMAT, "a row starts with repetition level %d", c->la_rep);
    c->la_valid = false;
    if (!col->spec.list) {
        /* the cell shows the lookahead itself: the next fetch is in the next call (a
         * copy of it, just written field by field, would stall on store forwarding) */
        cell->is_list = false;
        cell->is_null = c->la_val.is_null;
        cell->n = 1;
        cell->items = &c->la_val;
        return 0;
    }
    cell->is_list = true;
    cell->n = 0;
    cell->items = c->items;
    if (c->la_def < c->list_def) {
        cell->is_null = true;
        return 0;
    }
    cell->is_null = false;
    bool binary =
        col->spec.physical == PQ_BYTE_ARRAY || col->spec.physical == PQ_FIXED_LEN_BYTE_ARRAY;
    size_t n = 0;
    c->rowbytes_len = 0;
    if (c->la_def > c->list_def) {
        for (;;) {
            if ((int64_t)n >= r->opt.max_list_elements)
                return ts_err_set(err, TS_ERR_TOOBIG, "a list holds more than %lld elements",
                                  (long long)r->opt.max_list_elements);
            if (n == c->items_cap) {
                size_t ncap = c->items_cap ? c->items_cap * 2 : 16;
                if ((int64_t)ncap > r->opt.max_list_elements)
                    ncap = (size_t)r->opt.max_list_elements;
                if ((rc = budget_take(r, (ncap - c->items_cap) * sizeof *c->items,
                                      "a list value's elements", err)) != 0)
                    return rc;
                pq_value *ni = ts_realloc(c->items, ncap * sizeof *ni);
                if (!ni) {
                    budget_give(r, (ncap - c->items_cap) * sizeof *c->items);
                    return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
                }
                c->items = ni;
                c->items_cap = ncap;
            }
            pq_value v = c->la_val;
            if (!v.is_null && binary) {
                /* Copy: the next fetch may replace the page this points into. */
                size_t off = 0;
                if ((rc = row_bytes_append(r, c, v.v.bin.ptr, v.v.bin.len, &off, err)) != 0)
                    return rc;
                v.v.bin.ptr = (const uint8_t *)(uintptr_t)off;
            }
            c->items[n++] = v;
            if ((rc = fetch(r, c, err)) != 0)
                return rc;
            if (c->la_eof || c->la_rep == 0)
                break;
            if (c->la_def <= c->list_def)
                return ts_err_set(err, TS_ERR_FORMAT,
                                  "definition level %d inside a list (needs > %d)", c->la_def,
                                  c->list_def);
            c->la_valid = false;
        }
    } else {
        if ((rc = fetch(r, c, err)) != 0)
            return rc;
        if (!c->la_eof && c->la_rep != 0)
            return ts_err_set(err, TS_ERR_FORMAT, "an empty list continues with elements");
    }
    /* The lookahead holds the next row's first entry (or the end). */
    c->la_valid = true;
    if (binary)
        for (size_t i = 0; i < n; i++)
            if (!c->items[i].is_null)
                c->items[i].v.bin.ptr = c->rowbytes + (size_t)(uintptr_t)c->items[i].v.bin.ptr;
    cell->n = n;
    cell->items = c->items;
    return 0;
}

static int start_rows(pq_reader *r, ts_err *err)
{
    if (r->flat_err.code)
        return ts_err_set(err, r->flat_err.code, "%s", r->flat_err.msg);
    if (r->meta.encrypted)
        return ts_err_set(err, TS_ERR_UNSUPPORTED, "encrypted Parquet files are not supported");
    r->cs = ts_calloc((size_t)(r->ncols ? r->ncols : 1), sizeof *r->cs);
    r->cells = ts_calloc((size_t)(r->ncols ? r->ncols : 1), sizeof *r->cells);
    if (!r->cs || !r->cells)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < r->ncols; i++) {
        col_state *c = &r->cs[i];
        c->col = &r->cols[i];
        /* Levels at or below list_def mean a NULL (below) or an empty (equal) list. */
        c->list_def = c->col->spec.list ? (c->col->spec.nullable ? 1 : 0) : 0;
    }
    return 0;
}

static int next_row(pq_reader *r, ts_err *err)
{
    int rc;
    if (!r->cs && (rc = start_rows(r, err)) != 0)
        return rc;
    while (r->rg < 0 || r->rg_rows_left == 0) {
        if (r->rg >= 0 && r->rg_loaded) {
            /* Every column must end with its row group. */
            for (int i = 0; i < r->ncols; i++) {
                col_state *c = &r->cs[i];
                if (r->want_col && !r->want_col[i])
                    continue;
                if (!c->la_valid && (rc = fetch(r, c, err)) != 0)
                    goto colfail;
                if (!c->la_eof) {
                    rc = ts_err_set(err, TS_ERR_FORMAT, "holds more than the row group's %lld rows",
                                    (long long)r->meta.row_groups[r->rg].num_rows);
                    goto colfail;
                }
                continue;
            colfail:
                ts_err_prefix(err, "column \"%s\" (row group %d)", c->col->spec.name, r->rg);
                return rc;
            }
        }
        if (r->rg + 1 >= r->meta.nrow_groups)
            return 0;
        if (r->want_rg && !r->want_rg[r->rg + 1]) {
            /* skipped: nothing fetched, but its rows still count in the row index */
            for (int i = 0; i < r->ncols; i++)
                col_reset(r, &r->cs[i]);
            r->rg++;
            r->rg_loaded = false;
            r->rg_rows_left = 0;
            r->row_index += r->meta.row_groups[r->rg].num_rows;
            continue;
        }
        if ((rc = load_row_group(r, r->rg + 1, err)) != 0) {
            ts_err_prefix(err, "row group %d", r->rg + 1);
            return rc;
        }
    }
    for (int i = 0; i < r->ncols; i++) {
        if (r->want_col && !r->want_col[i]) {
            pq_cell *cell = &r->cells[i];
            cell->is_list = r->cols[i].spec.list;
            cell->is_null = true;
            cell->n = cell->is_list ? 0 : 1;
            r->null_value.is_null = true;
            cell->items = &r->null_value;
            continue;
        }
        if ((rc = assemble(r, &r->cs[i], &r->cells[i], err)) != 0) {
            ts_err_prefix(err, "column \"%s\" (row group %d)", r->cols[i].spec.name, r->rg);
            return rc;
        }
    }
    r->rg_rows_left--;
    r->row_index++;
    return 1;
}

int pq_reader_next_row(pq_reader *r, ts_err *err)
{
    if (r->fail.code)
        return ts_err_set(err, r->fail.code, "%s", r->fail.msg);
    ts_err local;
    ts_err_clear(&local);
    int rc = next_row(r, &local);
    if (rc < 0) {
        if (local.code == TS_OK)
            ts_err_set(&local, rc, "read failed");
        r->fail = local;
        ts_err_set(err, local.code, "%s", local.msg);
    }
    return rc;
}

int pq_reader_verify(pq_reader *r, int64_t *rows, ts_err *err)
{
    int64_t n = 0;
    int rc;
    while ((rc = pq_reader_next_row(r, err)) == 1)
        n++;
    if (rc < 0)
        return rc;
    if (rows)
        *rows = n;
    if (n != r->meta.num_rows)
        return ts_err_set(err, TS_ERR_FORMAT, "read %lld rows, the footer says %lld", (long long)n,
                          (long long)r->meta.num_rows);
    return 0;
}

/* ---- value helpers ---- */

int pq_decimal_format(const uint8_t *be, size_t len, int scale, char *out, size_t outsz)
{
    uint8_t mag[64];
    char digits[200];
    size_t nd = 0, o = 0;
    bool neg;
    if (len > sizeof mag || scale < -100 || scale > 100 || outsz == 0)
        return TS_ERR_INVALID;
    neg = len > 0 && (be[0] & 0x80);
    if (len)
        memcpy(mag, be, len);
    if (neg) { /* two's complement negate */
        int carry = 1;
        for (size_t i = len; i-- > 0;) {
            int v = (uint8_t)~mag[i] + carry;
            mag[i] = (uint8_t)v;
            carry = v >> 8;
        }
    }
    /* Repeated division by 10 of the base-256 magnitude. */
    size_t start = 0;
    while (start < len && mag[start] == 0)
        start++;
    while (start < len) {
        unsigned rem = 0;
        for (size_t i = start; i < len; i++) {
            unsigned cur = rem << 8 | mag[i];
            mag[i] = (uint8_t)(cur / 10);
            rem = cur % 10;
        }
        digits[nd++] = (char)('0' + rem);
        while (start < len && mag[start] == 0)
            start++;
    }
    if (scale < 0) { /* shift left: prepend zeros to the reversed digits */
        if (nd == 0)
            digits[nd++] = '0';
        memmove(digits + (-scale), digits, nd);
        memset(digits, '0', (size_t)-scale);
        nd += (size_t)-scale;
        scale = 0;
    }
    while (nd <= (size_t)scale)
        digits[nd++] = '0';
    /* digits holds nd digits, least significant first, nd > scale. */
    size_t need = (neg ? 1 : 0) + nd + (scale > 0 ? 1 : 0) + 1;
    if (need > outsz)
        return TS_ERR_INVALID;
    if (neg)
        out[o++] = '-';
    for (size_t i = nd; i-- > 0;) {
        out[o++] = digits[i];
        if (scale > 0 && i == (size_t)scale)
            out[o++] = '.';
    }
    out[o] = '\0';
    return 0;
}

int pq_decimal_format_i64(int64_t unscaled, int scale, char *out, size_t outsz)
{
    uint8_t be[8];
    uint64_t u = (uint64_t)unscaled;
    for (int i = 7; i >= 0; i--, u >>= 8)
        be[i] = (uint8_t)u;
    return pq_decimal_format(be, 8, scale, out, outsz);
}
