/* cmd_pg.c: the database commands: `chunks` (discovery), `export` (one chunk or a
 * time range to a Parquet file) and `restore` (Parquet files back into a table). */
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "common/alloc.h"
#include "pg/conn.h"
#include "pg/discover.h"
#include "pg/export.h"
#include "pg/restore.h"
#include "retention/state.h"

static int usage_error(const char *cmd, const char *usage)
{
    cli_errorf("usage: tsarchive %s %s", cmd, usage);
    return TS_EXIT_USAGE;
}

static void human_size(int64_t b, char *out, size_t n)
{
    const char *u[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)b;
    int i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    snprintf(out, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

/* The services' state of each chunk (tsarchive.archival_events), when the table
 * exists. */
typedef struct chunk_state {
    char *schema, *name, *text;
} chunk_state;

typedef struct chunk_states {
    chunk_state *v;
    int n, cap;
} chunk_states;

static void add_chunk_state(void *ud, const char *schema, const char *name, ret_state s,
                            int attempts, const char *error)
{
    chunk_states *cs = ud;
    char text[64];
    (void)error;
    if (cs->n == cs->cap) {
        int cap = cs->cap ? cs->cap * 2 : 64;
        chunk_state *v = ts_realloc(cs->v, (size_t)cap * sizeof *v);
        if (!v)
            return;
        cs->v = v;
        cs->cap = cap;
    }
    if (attempts > 1)
        snprintf(text, sizeof text, "%s (%d attempts)", ret_state_name(s), attempts);
    else
        snprintf(text, sizeof text, "%s", ret_state_name(s));
    cs->v[cs->n].schema = ts_strdup(schema);
    cs->v[cs->n].name = ts_strdup(name);
    cs->v[cs->n].text = ts_strdup(text);
    cs->n++;
}

static void chunk_states_free(chunk_states *cs)
{
    for (int i = 0; i < cs->n; i++) {
        ts_free(cs->v[i].schema);
        ts_free(cs->v[i].name);
        ts_free(cs->v[i].text);
    }
    ts_free(cs->v);
}

static int cmp_state(const void *a, const void *b)
{
    const chunk_state *x = a, *y = b;
    int c = strcmp(x->schema ? x->schema : "", y->schema ? y->schema : "");
    return c ? c : strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

/* The chunk's state text (cs sorted by cmp_state), or NULL. */
static const char *state_of(const chunk_states *cs, const pg_chunk *ch)
{
    chunk_state key = {ch->chunk_schema, ch->chunk_name, NULL};
    const chunk_state *f = cs->n ? bsearch(&key, cs->v, (size_t)cs->n, sizeof *cs->v, cmp_state) : NULL;
    return f ? f->text : NULL;
}

int cmd_chunks(const ts_config *cfg, int argc, char **argv)
{
    chunk_states cs = {0};
    static const char *usage = "[--expired] [--table T] [--json]";
    pg_discover_filter f = {0};
    bool json = false;
    PGconn *c = NULL;
    pg_chunk_list l = {0};
    ts_err err;
    int rc;
    ts_err_clear(&err);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--expired") == 0)
            f.expired_only = true;
        else if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--table") == 0 && i + 1 < argc)
            f.table = argv[++i];
        else
            return usage_error(argv[0], usage);
    }
    rc = pg_connect(cfg->database.url, &c, &err);
    if (!rc)
        rc = pg_discover(c, cfg, &f, &l, &err);
    if (!rc) {
        ts_err e2;
        ts_err_clear(&e2);
        if (ret_state_chunks(c, add_chunk_state, &cs, &e2) != 0)
            fprintf(stderr, "tsarchive: archival states not shown: %s\n", e2.msg);
        if (cs.n > 1)
            qsort(cs.v, (size_t)cs.n, sizeof *cs.v, cmp_state);
    }
    pg_disconnect(c);
    if (rc) {
        chunk_states_free(&cs);
        cli_errorf("%s", err.msg);
        return TS_EXIT_FAIL;
    }
    if (json) {
        json_t *a = json_array();
        for (int i = 0; a && i < l.n; i++) {
            const pg_chunk *ch = &l.items[i];
            json_t *o =
                json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:I, s:b, s:b, s:i}",
                          "hypertable_schema", ch->table_schema, "hypertable", ch->table_name,
                          "chunk_schema", ch->chunk_schema, "chunk_name", ch->chunk_name, "source",
                          ch->source == PG_SRC_TIMESCALEDB ? "timescaledb" : "partition",
                          "dimension", ch->dimension, "dimension_type", ch->dimension_type,
                          "range_start", ch->has_start ? ch->range_start : NULL, "range_end",
                          ch->has_end ? ch->range_end : NULL, "size_bytes",
                          (json_int_t)ch->size_bytes, "compressed", ch->compressed, "expired",
                          ch->expired, "retention_days", ch->retention_days);
            if (o)
                json_object_set_new(o, "archival_state",
                                    state_of(&cs, ch) ? json_string(state_of(&cs, ch)) : json_null());
            if (o)
                json_array_append_new(a, o);
        }
        char *s = a ? json_dumps(a, JSON_INDENT(2)) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(a);
    } else {
        printf("%-28s %-40s %-22s %-22s %10s %-4s %-4s %-11s %s\n", "TABLE", "CHUNK", "RANGE_START",
               "RANGE_END", "SIZE", "COMP", "EXP", "SOURCE", "ARCHIVAL");
        for (int i = 0; i < l.n; i++) {
            const pg_chunk *ch = &l.items[i];
            char t[160], k[160], sz[32];
            snprintf(t, sizeof t, "%s.%s", ch->table_schema, ch->table_name);
            snprintf(k, sizeof k, "%s.%s", ch->chunk_schema, ch->chunk_name);
            human_size(ch->size_bytes, sz, sizeof sz);
            printf("%-28s %-40s %-22s %-22s %10s %-4s %-4s %-11s %s\n", t, k,
                   ch->has_start ? ch->range_start : "-inf", ch->has_end ? ch->range_end : "+inf",
                   sz, ch->compressed ? "yes" : "no", ch->expired ? "yes" : "no",
                   ch->source == PG_SRC_TIMESCALEDB ? "timescaledb" : "partition",
                   state_of(&cs, ch) ? state_of(&cs, ch) : "-");
        }
        fprintf(stderr, "%d chunk(s)\n", l.n);
    }
    chunk_states_free(&cs);
    pg_chunk_list_free(&l);
    return TS_EXIT_OK;
}

typedef struct progress {
    struct timespec start;
    double last;
} progress;

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void on_progress(void *ctx, int64_t rows, int64_t bytes)
{
    progress *p = ctx;
    double s = since(&p->start);
    if (s - p->last < 0.25)
        return;
    p->last = s;
    fprintf(stderr, "\r%" PRId64 " rows, %.1f MB read, %.1f MB/s   ", rows, (double)bytes / 1e6,
            s > 0 ? (double)bytes / 1e6 / s : 0.0);
    fflush(stderr);
}

/* Interrupted exports remove their temporary file: no partial file is left behind. */
static char export_tmp[4096];

static void on_signal(int sig)
{
    if (export_tmp[0])
        unlink(export_tmp);
    signal(sig, SIG_DFL);
    raise(sig);
}

int cmd_export(const ts_config *cfg, int argc, char **argv)
{
    static const char *usage =
        "(--chunk SCHEMA.NAME | --table SCHEMA.NAME --from TS --to TS) -o FILE";
    const char *chunk = NULL, *table = NULL, *from = NULL, *to = NULL, *out = NULL;
    bool no_proof = false;
    char *schema = NULL, *name = NULL, *dim = NULL;
    PGconn *c = NULL;
    pg_chunk ch;
    pg_export_source src = {0};
    pg_export_options opt;
    pg_export_result res;
    progress pr = {0};
    ts_err err;
    int rc, exit_code = TS_EXIT_FAIL;
    memset(&ch, 0, sizeof ch);
    ts_err_clear(&err);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-proof") == 0) {
            no_proof = true;
            continue;
        }
        if (!v)
            return usage_error(argv[0], usage);
        if (strcmp(a, "--chunk") == 0)
            chunk = v;
        else if (strcmp(a, "--table") == 0)
            table = v;
        else if (strcmp(a, "--from") == 0)
            from = v;
        else if (strcmp(a, "--to") == 0)
            to = v;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0)
            out = v;
        else
            return usage_error(argv[0], usage);
        i++;
    }
    if (!out || (!chunk == !table) || (table && (!from || !to)) || (chunk && (from || to)))
        return usage_error(argv[0], usage);
    rc = pg_parse_qualified(chunk ? chunk : table, &schema, &name, &err);
    if (!rc)
        rc = pg_connect(cfg->database.url, &c, &err);
    if (rc)
        goto out;
    pg_export_options_init(&opt, cfg);
    opt.no_proof = no_proof;
    if (cli_is_tty()) {
        clock_gettime(CLOCK_MONOTONIC, &pr.start);
        opt.progress = on_progress;
        opt.progress_ctx = &pr;
    }
    src.chunk_schema = schema;
    src.chunk_name = name;
    if (chunk) {
        /* a chunk or partition: its table and range go into the metadata */
        rc = pg_discover_chunk(c, cfg, schema, name, &ch, &err);
        if (rc == TS_OK) {
            src.table_schema = ch.table_schema;
            src.table_name = ch.table_name;
            src.range_start = ch.has_start ? ch.range_start : NULL;
            src.range_end = ch.has_end ? ch.range_end : NULL;
            src.bound_from = ch.bound_from;
            src.bound_to = ch.bound_to;
        } else if (rc == TS_ERR_NOTFOUND) {
            ts_err_clear(&err); /* a plain table: export it whole */
        } else {
            goto out;
        }
    } else {
        rc = pg_time_column(c, schema, name, &dim, &err);
        if (rc)
            goto out;
        src.table_schema = schema;
        src.table_name = name;
        src.time_column = dim;
        src.from = from;
        src.to = to;
        src.range_start = from;
        src.range_end = to;
    }
    snprintf(export_tmp, sizeof export_tmp, "%s.tmp", out); /* pg_export_file's temporary */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    rc = pg_export_file(c, &src, &opt, out, &res, &err);
    export_tmp[0] = 0;
    if (opt.progress)
        fprintf(stderr, "\n");
    if (rc)
        goto out;
    printf("exported %" PRId64 " rows to \"%s\" (%" PRId64 " bytes, %d row groups)\n", res.rows,
           out, res.bytes, res.row_groups);
    if (res.proof[0])
        printf("proof: %s\n", res.proof);
    exit_code = TS_EXIT_OK;
out:
    if (exit_code != TS_EXIT_OK)
        cli_errorf("%s", err.msg[0] ? err.msg : "export failed");
    pg_chunk_clear(&ch);
    pg_disconnect(c);
    ts_free(schema);
    ts_free(name);
    ts_free(dim);
    return exit_code;
}

int cmd_restore(const ts_config *cfg, int argc, char **argv)
{
    static const char *usage =
        "(FILE... | --table SCHEMA.NAME [--from TS] [--to TS]) [--into SCHEMA.TABLE]";
    const char *into = NULL, *table = NULL, *from = NULL, *to = NULL;
    char *schema = NULL, *name = NULL;
    int nfiles = 0, failed = 0, rc;
    PGconn *c = NULL;
    ts_err err;
    ts_err_clear(&err);
    for (int i = 1; i < argc; i++) {
        const char **opt = !strcmp(argv[i], "--into")    ? &into
                           : !strcmp(argv[i], "--table") ? &table
                           : !strcmp(argv[i], "--from")  ? &from
                           : !strcmp(argv[i], "--to")    ? &to
                                                         : NULL;
        if (opt && opt != &into) {
            if (i + 1 >= argc)
                return usage_error(argv[0], usage);
            *opt = argv[++i];
        } else if (strcmp(argv[i], "--into") == 0) {
            if (i + 1 >= argc)
                return usage_error(argv[0], usage);
            into = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage_error(argv[0], usage);
        } else {
            nfiles++;
        }
    }
    if (table && !nfiles) /* the archive as a table: its log says which files */
        return cmd_restore_table(cfg, table, from, to, into);
    if (!nfiles || table || from || to)
        return usage_error(argv[0], usage);
    if (into && pg_parse_qualified(into, &schema, &name, &err) != TS_OK) {
        cli_errorf("%s", err.msg);
        return TS_EXIT_USAGE;
    }
    rc = pg_connect(cfg->database.url, &c, &err);
    if (rc) {
        cli_errorf("%s", err.msg);
        ts_free(schema);
        ts_free(name);
        return TS_EXIT_FAIL;
    }
    for (int i = 1; i < argc; i++) {
        pg_restore_options ro = {.into_schema = schema, .into_table = name};
        pg_restore_result rr;
        if (strcmp(argv[i], "--into") == 0) {
            i++;
            continue;
        }
        ts_err_clear(&err);
        rc = pg_restore_file(c, argv[i], &ro, &rr, &err);
        if (rc) {
            cli_errorf("%s", err.msg);
            failed++;
            if (PQstatus(c) != CONNECTION_OK)
                break;
            continue;
        }
        printf("restored %" PRId64 " rows from \"%s\" into %s\n", rr.rows, argv[i], rr.table);
    }
    pg_disconnect(c);
    ts_free(schema);
    ts_free(name);
    return failed ? TS_EXIT_FAIL : TS_EXIT_OK;
}
