/* cmd_lake.c: `tsarchive lake test|ls|put|get|rm` on the store the config names
 * (lake.kind: a local folder or Azure Blob Storage); `lake test` also says which identity
 * the lake acts as. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "common/alloc.h"
#include "lake/lake.h"
#include "delta/delta.h"
#include "delta/list.h"
#include "lake/lake_config.h"
#include "object/object.h"
#include "pg/conn.h"

static int lake_usage(void)
{
    cli_errorf("usage: tsarchive lake (test | ls [PREFIX] | tables [PREFIX] | files TABLE "
               "[--column C] | put FILE PATH | get PATH [-o FILE] | rm PATH [--force])");
    return TS_EXIT_USAGE;
}

/* `lake tables [PREFIX]`: the archive's Delta tables, with their version, live files,
 * rows and bytes. */
static int list_tables(lake *lk, const char *prefix, ts_err *err)
{
    delta_table_list *l = NULL;
    int rc = delta_table_list_new(lk, prefix, &l, err);
    if (rc)
        return rc;
    printf("%-64s %8s %7s %12s %14s\n", "TABLE", "VERSION", "FILES", "ROWS", "BYTES");
    for (size_t i = 0; i < l->n; i++) {
        const delta_table_entry *te = &l->tables[i];
        delta_table *t = NULL;
        delta_files_report *r = NULL;
        ts_err e;
        ts_err_clear(&e);
        if (te->has_checkpoint) {
            printf("%-64s %8" PRId64 "  (written by another tool: it has a checkpoint)\n", te->root,
                   te->last_version);
            continue;
        }
        if (delta_table_load(lk, te->root, NULL, &t, &e) != 0 ||
            delta_files_report_new(t, NULL, &r, &e) != 0) {
            printf("%-64s %8" PRId64 "  (cannot be read: %s)\n", te->root, te->last_version, e.msg);
        } else {
            printf("%-64s %8" PRId64 " %7zu %12" PRId64 "%s %14" PRIu64 "\n", te->root, r->version,
                   r->nfiles, r->rows, r->rows_exact ? " " : "+", r->bytes);
        }
        delta_files_report_free(r);
        delta_table_free(t);
    }
    fprintf(stderr, "%zu table%s\n", l->n, l->n == 1 ? "" : "s");
    delta_table_list_free(l);
    return TS_OK;
}

/* The table folder TABLE names: a folder as is (it holds a '/'), or "schema.name" of
 * the configured database, whose cluster and database the connection tells. */
static char *table_root(const ts_config *cfg, const char *table, ts_err *err)
{
    PGconn *pg = NULL;
    char *schema = NULL, *name = NULL, *root = NULL, cluster[64];
    if (strchr(table, '/'))
        return ts_strdup(table);
    if (pg_parse_qualified(table, &schema, &name, err) == 0 &&
        pg_connect(cfg->database.url, &pg, err) == 0 &&
        obj_cluster_id(pg, cfg->database.cluster_name, cluster, err) == 0 &&
        !(root = obj_table_root(cluster, PQdb(pg), schema, name)))
        ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    pg_disconnect(pg);
    ts_free(schema);
    ts_free(name);
    return root;
}

/* `lake files TABLE [--column C]`: one table's versions and live files with their rows,
 * the chunk and range they archive, and the bounds of column C from the stats. */
static int list_files(const ts_config *cfg, lake *lk, const char *table, const char *column,
                      ts_err *err)
{
    char *root = table_root(cfg, table, err);
    delta_table *t = NULL;
    delta_files_report *r = NULL;
    int rc;
    if (!root)
        return err->code ? err->code : TS_ERR_NOMEM;
    if ((rc = delta_table_load(lk, root, NULL, &t, err)) != 0)
        goto out;
    if (delta_table_version(t) < 0) {
        rc = ts_err_set(err, TS_ERR_NOTFOUND, "no archived table at \"%s\"", root);
        goto out;
    }
    if ((rc = delta_files_report_new(t, column, &r, err)) != 0)
        goto out;
    printf("table %s: version %" PRId64 ", %zu live files, %" PRId64 "%s rows, %" PRIu64
           " bytes, %zu removed\n",
           root, r->version, r->nfiles, r->rows, r->rows_exact ? "" : "+", r->bytes, r->nremoved);
    printf("%8s %10s %12s  %-45s %s%s%s\n", "VERSION", "ROWS", "BYTES", "RANGE", "FILE",
           column ? "  " : "", column ? "MIN .. MAX" : "");
    for (size_t i = 0; i < r->nfiles; i++) {
        const delta_file_report *f = &r->files[i];
        const char *range = obj_file_tag(f->file, OBJ_TAG_RANGE);
        printf("%8" PRId64 " %10" PRId64 " %12" PRId64 "  %-45s %s", f->file->version, f->rows,
               f->file->size, range ? range : "-", f->file->path);
        if (column)
            printf("  %s .. %s", f->min ? f->min : "-", f->max ? f->max : "-");
        printf("\n");
    }
out:
    delta_files_report_free(r);
    delta_table_free(t);
    ts_free(root);
    return rc;
}

typedef struct ls_ctx {
    uint64_t n, bytes;
} ls_ctx;

static int print_entry(void *ud, const lake_info *info)
{
    ls_ctx *c = ud;
    char hex[33] = "-";
    if (info->has_md5)
        lake_md5_hex(info->md5, hex);
    printf("%12" PRIu64 "  %-32s  %s\n", info->size, hex, info->name);
    c->n++;
    c->bytes += info->size;
    return 0;
}

/* Streams an object to stdout. */
static int cat_object(lake *lk, const char *path, ts_err *err)
{
    size_t cap = 4u << 20, got = 0;
    uint64_t off = 0;
    uint8_t *buf = ts_malloc(cap);
    int rc = TS_OK;
    if (!buf)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    do {
        if ((rc = lake_read(lk, path, off, cap, buf, &got, err)) != TS_OK)
            break;
        if (got && fwrite(buf, 1, got, stdout) != got) {
            rc = ts_err_set(err, TS_ERR_IO, "could not write to stdout");
            break;
        }
        off += got;
    } while (got == cap);
    if (rc == TS_OK && fflush(stdout) != 0)
        rc = ts_err_set(err, TS_ERR_IO, "could not write to stdout");
    ts_free(buf);
    return rc;
}

int cmd_lake(const ts_config *cfg, int argc, char **argv)
{
    lake_options o;
    lake *lk = NULL;
    ts_err err;
    const char *sub;
    int rc, exit_code = TS_EXIT_FAIL;

    ts_err_clear(&err);
    if (argc < 2)
        return lake_usage();
    sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        lake_usage();
        return TS_EXIT_OK;
    }
    if (lake_options_from_config(&o, cfg, &err) != TS_OK) {
        cli_errorf("%s", err.msg);
        return TS_EXIT_CONFIG;
    }
    if (lake_open(&lk, &o, &err) != TS_OK) {
        cli_errorf("%s", err.msg);
        return err.code == TS_ERR_INVALID ? TS_EXIT_CONFIG : TS_EXIT_FAIL;
    }

    if (strcmp(sub, "test") == 0 && argc == 2) {
        rc = lake_test(lk, &err);
        if (rc == TS_OK)
            printf("ok: %s\nidentity: %s\n", lake_describe(lk), lake_identity(lk));
        else /* which identity was refused is half of the answer */
            fprintf(stderr, "identity: %s\n", lake_identity(lk));
    } else if (strcmp(sub, "ls") == 0 && argc <= 3) {
        ls_ctx c = {0, 0};
        rc = lake_list(lk, argc == 3 ? argv[2] : "", print_entry, &c, &err);
        if (rc == TS_OK && fflush(stdout) != 0)
            rc = ts_err_set(&err, TS_ERR_IO, "could not write to stdout");
        if (rc == TS_OK)
            fprintf(stderr, "%" PRIu64 " objects, %" PRIu64 " bytes\n", c.n, c.bytes);
    } else if (strcmp(sub, "put") == 0 && argc == 4) {
        lake_info info;
        char hex[33];
        rc = lake_put_file(lk, argv[2], argv[3], &info, &err);
        if (rc == TS_OK) {
            char *url = lake_url(lk, argv[3]);
            lake_md5_hex(info.md5, hex);
            printf("%s  %" PRIu64 " bytes  md5 %s\n", url ? url : argv[3], info.size, hex);
            ts_free(url);
        }
    } else if (strcmp(sub, "get") == 0 && (argc == 3 || (argc == 5 && strcmp(argv[3], "-o") == 0))) {
        const char *path = argv[2], *out = argc == 5 ? argv[4] : NULL;
        if (!out) {
            out = strrchr(path, '/');
            out = out ? out + 1 : path;
        }
        if (strcmp(out, "-") == 0) {
            rc = cat_object(lk, path, &err);
        } else {
            lake_info info;
            char hex[33];
            rc = lake_get_file(lk, path, out, &info, &err);
            if (rc == TS_OK) {
                lake_md5_hex(info.md5, hex);
                fprintf(stderr, "%s: %" PRIu64 " bytes, md5 %s\n", out, info.size, hex);
            }
        }
    } else if (strcmp(sub, "tables") == 0 && argc <= 3) {
        rc = list_tables(lk, argc == 3 ? argv[2] : "", &err);
    } else if (strcmp(sub, "files") == 0 && (argc == 3 || (argc == 5 && !strcmp(argv[3], "--column")))) {
        rc = list_files(cfg, lk, argv[2], argc == 5 ? argv[4] : NULL, &err);
    } else if (strcmp(sub, "rm") == 0 && (argc == 3 || (argc == 4 && !strcmp(argv[3], "--force")))) {
        if (argc == 3 && obj_path_in_archive(lk, argv[2]))
            rc = ts_err_set(&err, TS_ERR_INVALID,
                            "\"%s\" is part of an archived table (its log, or a file it names): "
                            "removing it would lose rows from the table; --force to do it anyway",
                            argv[2]);
        else
            rc = lake_delete(lk, argv[2], &err);
    } else {
        lake_free(lk);
        return lake_usage();
    }
    if (rc == TS_OK)
        exit_code = TS_EXIT_OK;
    else
        cli_errorf("%s", err.msg);
    lake_free(lk);
    return exit_code;
}
