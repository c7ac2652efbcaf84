/* cmd_pg.c: the database commands: `chunks` (discovery, with what holds chunks back:
 * skip reasons, continuous aggregates, DEFAULT partitions), `export` (one chunk or a
 * time range to a Parquet file) and `restore` (Parquet files back into a table or
 * hypertable). */
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
#include "common/tstime.h"
#include "pg/cagg.h"
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
    const chunk_state *f =
        cs->n ? bsearch(&key, cs->v, (size_t)cs->n, sizeof *cs->v, cmp_state) : NULL;
    return f ? f->text : NULL;
}

/* What stands in the way of an expired chunk, for the listing: "" when nothing. */
static const char *chunk_note(const pg_chunk *ch, const pg_cagg_hold_info *h, char *out, size_t n)
{
    out[0] = '\0';
    if (ch->skip_reason[0])
        snprintf(out, n, "skipped: %s", ch->skip_reason);
    else if (h && h->kind != PG_HOLD_NONE)
        snprintf(out, n, "held: %s", h->reason);
    else if (ch->integer_range && ch->time_known)
        snprintf(out, n, "%s .. %s (%s%s, now from %s)",
                 ch->has_start ? ch->range_start_time : "-inf",
                 ch->has_end ? ch->range_end_time : "+inf", ts_time_unit_name(ch->time_unit),
                 ch->time_unit_inferred ? " inferred" : "",
                 ch->now_source == PG_NOW_INTEGER_NOW ? "integer_now()" : "the clock");
    return out;
}

static const char *exp_word(const pg_chunk *ch, const pg_cagg_hold_info *h)
{
    if (ch->skip_reason[0])
        return "skip";
    if (!ch->expired)
        return "no";
    return h && h->kind != PG_HOLD_NONE ? "held" : "yes";
}

static json_t *hold_json(const pg_cagg_hold_info *h)
{
    char until[TS_TIME_MAX];
    if (h->kind == PG_HOLD_NONE)
        return json_null();
    if (h->kind != PG_HOLD_UNTIL || h->until_int_only ||
        ts_time_format(h->until_us, TS_TIME_ANY_YEAR, until, sizeof until) != 0)
        until[0] = '\0';
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:i, s:s}", "kind",
                  h->kind == PG_HOLD_UNTIL ? "until" : "indefinite", "cagg_schema", h->cagg_schema,
                  "cagg_name", h->cagg_name, "job_id", h->job_id, "reason", h->reason);
    if (o && until[0])
        json_object_set_new(o, "until", json_string(until));
    if (o && h->kind == PG_HOLD_UNTIL && h->until_int)
        json_object_set_new(o, "until_integer", json_integer((json_int_t)h->until_int));
    return o;
}

int cmd_chunks(const ts_config *cfg, int argc, char **argv)
{
    chunk_states cs = {0};
    static const char *usage = "[--expired] [--table T] [--json]";
    pg_discover_filter f = {0};
    bool json = false;
    PGconn *c = NULL;
    pg_chunk_list l = {0};
    pg_caggs *caggs = NULL;
    pg_cagg_hold_info *holds = NULL;
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
    /* chunks whose expiry cannot be decided are listed with --expired too, with the reason */
    f.include_skipped = true;
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
        ts_err_clear(&e2);
        if (pg_caggs_load(c, &caggs, &e2) != 0)
            fprintf(stderr, "tsarchive: continuous aggregates not checked: %s\n", e2.msg);
        ts_err_clear(&e2);
        if (l.ndefaults && pg_default_rows_count(c, &l, &e2) != 0)
            fprintf(stderr, "tsarchive: expired rows of DEFAULT partitions not counted: %s\n",
                    e2.msg);
        holds = ts_calloc((size_t)(l.n ? l.n : 1), sizeof *holds);
        for (int i = 0; holds && i < l.n; i++)
            if (l.items[i].expired)
                pg_cagg_decide(caggs, &l.items[i], l.now_us, &holds[i]);
    }
    pg_caggs_free(caggs);
    pg_disconnect(c);
    if (!rc && !holds)
        rc = ts_err_set(&err, TS_ERR_NOMEM, "out of memory");
    if (rc) {
        chunk_states_free(&cs);
        pg_chunk_list_free(&l);
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
                                    state_of(&cs, ch) ? json_string(state_of(&cs, ch))
                                                      : json_null());
            if (o) {
                json_object_set_new(o, "size_estimated", json_boolean(ch->size_estimated));
                json_object_set_new(o, "range_kind",
                                    json_string(ch->integer_range ? "integer" : "timestamp"));
                json_object_set_new(o, "skip_reason",
                                    ch->skip_reason[0] ? json_string(ch->skip_reason)
                                                       : json_null());
                json_object_set_new(o, "hold", hold_json(&holds[i]));
                if (ch->integer_range) {
                    json_object_set_new(o, "time_unit",
                                        ch->time_unit
                                            ? json_string(ts_time_unit_name(ch->time_unit))
                                            : json_null());
                    json_object_set_new(o, "time_unit_inferred",
                                        json_boolean(ch->time_unit_inferred));
                    json_object_set_new(o, "now_source",
                                        json_string(ch->now_source == PG_NOW_INTEGER_NOW
                                                        ? "integer_now"
                                                    : ch->now_source == PG_NOW_CLOCK ? "clock"
                                                                                     : "none"));
                    if (ch->time_known && ch->has_start)
                        json_object_set_new(o, "range_start_time",
                                            json_string(ch->range_start_time));
                    if (ch->time_known && ch->has_end)
                        json_object_set_new(o, "range_end_time", json_string(ch->range_end_time));
                }
                if (ch->cagg_name)
                    json_object_set_new(o, "continuous_aggregate",
                                        json_pack("[s,s]", ch->cagg_schema, ch->cagg_name));
                if (ch->parent_name) {
                    json_object_set_new(o, "partition_parent",
                                        json_pack("[s,s]", ch->parent_schema, ch->parent_name));
                    json_object_set_new(o, "partition_level", json_integer(ch->partition_level));
                }
            }
            if (o)
                json_array_append_new(a, o);
        }
        char *s = a ? json_dumps(a, JSON_INDENT(2)) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(a);
    } else {
        printf("%-28s %-40s %-22s %-22s %10s %-4s %-4s %-11s %-10s %s\n", "TABLE", "CHUNK",
               "RANGE_START", "RANGE_END", "SIZE", "COMP", "EXP", "SOURCE", "ARCHIVAL", "NOTE");
        for (int i = 0; i < l.n; i++) {
            const pg_chunk *ch = &l.items[i];
            char t[160], k[160], sz[32], szt[40], note[1100];
            snprintf(t, sizeof t, "%s.%s", ch->table_schema, ch->table_name);
            snprintf(k, sizeof k, "%s.%s", ch->chunk_schema, ch->chunk_name);
            human_size(ch->size_bytes, sz, sizeof sz);
            snprintf(szt, sizeof szt, "%s%s", ch->size_estimated ? "~" : "", sz);
            printf("%-28s %-40s %-22s %-22s %10s %-4s %-4s %-11s %-10s %s\n", t, k,
                   ch->has_start ? ch->range_start : "-inf", ch->has_end ? ch->range_end : "+inf",
                   szt, ch->compressed ? "yes" : "no", exp_word(ch, &holds[i]),
                   ch->source == PG_SRC_TIMESCALEDB ? "timescaledb" : "partition",
                   state_of(&cs, ch) ? state_of(&cs, ch) : "-",
                   chunk_note(ch, &holds[i], note, sizeof note));
        }
        fprintf(stderr, "%d chunk(s)\n", l.n);
    }
    for (int i = 0; i < l.ndefaults; i++) {
        const pg_default_partition *d = &l.defaults[i];
        if (d->expired_rows >= 0)
            fprintf(stderr,
                    "DEFAULT partition \"%s\".\"%s\" of \"%s\".\"%s\": %lld expired row(s) (\"%s\" "
                    "before %s); a DEFAULT partition is never dropped\n",
                    d->schema, d->name, d->table_schema, d->table_name, (long long)d->expired_rows,
                    d->dimension, d->cutoff);
        else
            fprintf(
                stderr,
                "DEFAULT partition \"%s\".\"%s\" of \"%s\".\"%s\": expired rows not counted (%s)"
                "; a DEFAULT partition is never dropped\n",
                d->schema, d->name, d->table_schema, d->table_name,
                d->retention_days <= 0 ? "no retention" : "unit of its integer key unknown");
    }
    ts_free(holds);
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
            pg_export_source_of_chunk(&ch, &src);
            src.chunk_schema = schema; /* as asked (the same relation) */
            src.chunk_name = name;
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

void cli_print_restored(const char *from, const pg_restore_result *rr)
{
    printf("restored %" PRId64 " rows from \"%s\" into %s", rr->rows, from, rr->table);
    if (rr->rows_skipped)
        printf(", %" PRId64 " outside --from/--to skipped", rr->rows_skipped);
    if (rr->chunks_created)
        printf(", %d chunk(s) created", rr->chunks_created);
    if (rr->chunks_compressed)
        printf(", %d compressed", rr->chunks_compressed);
    printf("\n");
    fflush(stdout); /* progress, file by file */
}

int cmd_restore(const ts_config *cfg, int argc, char **argv)
{
    static const char *usage =
        "(FILE... | --table SCHEMA.NAME) [--into SCHEMA.TABLE] [--from TS] [--to TS] [--compress] "
        "[--force-append] [--insert]";
    const char *into = NULL, *table = NULL;
    char *schema = NULL, *name = NULL;
    int nfiles = 0, failed = 0, rc;
    pg_restore_options ro = {0};
    PGconn *c = NULL;
    ts_err err;
    ts_err_clear(&err);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--table") == 0) {
            if (i + 1 >= argc)
                return usage_error(argv[0], usage);
            table = argv[++i];
        } else if (strcmp(a, "--into") == 0 || strcmp(a, "--from") == 0 || strcmp(a, "--to") == 0) {
            if (i + 1 >= argc)
                return usage_error(argv[0], usage);
            const char *v = argv[++i];
            if (a[2] == 'i')
                into = v;
            else if (a[2] == 'f')
                ro.from = v;
            else
                ro.to = v;
        } else if (strcmp(a, "--compress") == 0) {
            ro.compress = true;
        } else if (strcmp(a, "--force-append") == 0) {
            ro.force_append = true;
        } else if (strcmp(a, "--insert") == 0) {
            ro.method = PG_RESTORE_INSERT;
        } else if (a[0] == '-' && a[1]) {
            return usage_error(argv[0], usage);
        } else {
            nfiles++;
        }
    }
    if (table && !nfiles) /* the archive as a table: its log says which files */
        return cmd_restore_table(cfg, table, &ro, into);
    if (!nfiles || table)
        return usage_error(argv[0], usage);
    if (into && pg_parse_qualified(into, &schema, &name, &err) != TS_OK) {
        cli_errorf("%s", err.msg);
        return TS_EXIT_USAGE;
    }
    ro.into_schema = schema;
    ro.into_table = name;
    rc = pg_connect(cfg->database.url, &c, &err);
    if (rc) {
        cli_errorf("%s", err.msg);
        ts_free(schema);
        ts_free(name);
        return TS_EXIT_FAIL;
    }
    for (int i = 1; i < argc; i++) {
        pg_restore_result rr;
        if (strcmp(argv[i], "--into") == 0 || strcmp(argv[i], "--from") == 0 ||
            strcmp(argv[i], "--to") == 0 || strcmp(argv[i], "--table") == 0) {
            i++;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1])
            continue;
        ts_err_clear(&err);
        rc = pg_restore_file(c, argv[i], &ro, &rr, &err);
        if (rc) {
            cli_errorf("%s", err.msg);
            failed++;
            if (PQstatus(c) != CONNECTION_OK)
                break;
            continue;
        }
        cli_print_restored(argv[i], &rr);
    }
    pg_disconnect(c);
    ts_free(schema);
    ts_free(name);
    return failed ? TS_EXIT_FAIL : TS_EXIT_OK;
}
