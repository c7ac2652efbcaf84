/* cmd_restore_table.c: `tsarchive restore --table SCHEMA.NAME [--from TS] [--to TS]
 * [--into SCHEMA.NAME] [--compress] [--force-append] [--insert]`: the rows of an archived
 * table as its Delta log holds them: the live files only (never a superseded version),
 * those whose range meets [from, to), each read straight from the lake into PostgreSQL,
 * and of those only the rows with from <= time < to. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "common/alloc.h"
#include "common/tstime.h"
#include "delta/delta.h"
#include "lake/lake_config.h"
#include "object/object.h"
#include "parquet/reader.h"
#include "pg/conn.h"
#include "pg/restore.h"


/* One object of the lake restored (or, with opts->check_only, checked). */
static int restore_object(PGconn *pg, lake *lk, const char *path, uint64_t size,
                          const pg_restore_options *opts, pg_restore_result *rr, ts_err *err)
{
    obj_src src = {lk, path};
    pq_reader *r = NULL;
    int rc = pq_reader_open(&r, obj_read_exact, &src, size, NULL, err);
    if (rc == 0)
        rc = pg_restore_reader(pg, r, path, opts, rr, err);
    pq_reader_free(r);
    return rc;
}

/* Whether a file's range tag ("start/end") meets [from, to); a file without one, or
 * with a range that cannot be read, is restored (nothing is left out by guessing). */
static bool in_range(const delta_file *f, int64_t from, int64_t to)
{
    const char *r = obj_file_tag(f, OBJ_TAG_RANGE), *slash;
    char a[TS_TIME_MAX], b[TS_TIME_MAX];
    int64_t s, e;
    if (!r || !(slash = strchr(r, '/')) || (size_t)(slash - r) >= sizeof a ||
        strlen(slash + 1) >= sizeof b)
        return true;
    snprintf(a, sizeof a, "%.*s", (int)(slash - r), r);
    snprintf(b, sizeof b, "%s", slash + 1);
    if (ts_time_scan(a, TS_TIME_LENIENT, &s) || ts_time_scan(b, TS_TIME_LENIENT, &e))
        return true;
    return s < to && e > from;
}

int cmd_restore_table(const ts_config *cfg, const char *table, const pg_restore_options *opts,
                      const char *into)
{
    const char *from_s = opts->from, *to_s = opts->to;
    lake_options lo;
    lake *lk = NULL;
    PGconn *pg = NULL;
    delta_table *t = NULL;
    char *schema = NULL, *name = NULL, *root = NULL, *ischema = NULL, *iname = NULL, cluster[64];
    int64_t from = INT64_MIN, to = INT64_MAX, rows = 0, outside = 0;
    int rc = TS_EXIT_FAIL, files = 0, skipped = 0;
    ts_err err;

    ts_err_clear(&err);
    if ((from_s && ts_time_parse(from_s, TS_TIME_LENIENT, &from, &err) != 0) ||
        (to_s && ts_time_parse(to_s, TS_TIME_LENIENT, &to, &err) != 0)) {
        cli_errorf("restore: --from/--to: %s", err.msg);
        return TS_EXIT_USAGE;
    }
    if (from >= to) {
        cli_errorf("restore: --from must be before --to");
        return TS_EXIT_USAGE;
    }
    if (pg_parse_qualified(table, &schema, &name, &err) != 0 ||
        (into && pg_parse_qualified(into, &ischema, &iname, &err) != 0)) {
        cli_errorf("restore: %s", err.msg);
        rc = TS_EXIT_USAGE;
        goto out;
    }
    if (lake_options_from_config(&lo, cfg, &err) != 0 || lake_open(&lk, &lo, &err) != 0 ||
        pg_connect(cfg->database.url, &pg, &err) != 0 ||
        obj_cluster_id(pg, cfg->database.cluster_name, cluster, &err) != 0)
        goto fail;
    if (!(root = obj_table_root(cluster, PQdb(pg), schema, name))) {
        ts_err_set(&err, TS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (delta_table_load(lk, root, NULL, &t, &err) != 0)
        goto fail;
    if (delta_table_version(t) < 0) {
        ts_err_set(&err, TS_ERR_NOTFOUND, "table \"%s.%s\" has no archive (no log at \"%s\")", schema,
                   name, root);
        goto fail;
    }
    /* two passes: every file checked against the table as it is now (the live files of
     * a re-created partition share a range: the second must not be refused because of
     * the first), then every file written, each in a transaction of its own */
    for (int pass = opts->force_append ? 1 : 0; pass < 2; pass++) {
        for (size_t i = 0; i < delta_table_nfiles(t); i++) {
            const delta_file *f = delta_table_file(t, i);
            pg_restore_options ro = *opts;
            pg_restore_result rr;
            char *path;
            ro.into_schema = ischema;
            ro.into_table = iname;
            ro.check_only = pass == 0;
            ro.force_append = opts->force_append || pass == 1;
            if (!in_range(f, from, to)) {
                skipped += pass == 1;
                continue;
            }
            if (!(path = obj_file_path(t, f))) {
                ts_err_set(&err, TS_ERR_NOMEM, "out of memory");
                goto fail;
            }
            ts_err_clear(&err);
            if (restore_object(pg, lk, path, (uint64_t)f->size, &ro, &rr, &err) != 0) {
                ts_free(path);
                if (pass == 1 && files > 0)
                    fprintf(stderr, "restore: %d files (%" PRId64 " rows) were restored before "
                                    "this one failed; they stay\n", files, rows);
                goto fail;
            }
            if (pass == 1) {
                cli_print_restored(path, &rr);
                rows += rr.rows;
                outside += rr.rows_skipped;
                files++;
            }
            ts_free(path);
        }
    }
    fprintf(stderr,
            "restored %" PRId64 " rows from %d live files of table version %" PRId64
            " (%d files and %" PRId64 " rows of theirs outside the range)\n",
            rows, files, delta_table_version(t), skipped, outside);
    rc = TS_EXIT_OK;
    goto out;
fail:
    cli_errorf("restore: %s", err.msg);
out:
    delta_table_free(t);
    pg_disconnect(pg);
    lake_free(lk);
    ts_free(root);
    ts_free(schema);
    ts_free(name);
    ts_free(ischema);
    ts_free(iname);
    return rc;
}
