/* cmd_attach.c: `tsarchive attach SCHEMA.TABLE`: the archive back in SQL, beside the
 * table. In one transaction: the tsarchive_fdw extension; a server for the configured
 * lake (created when missing; its secret goes into the current user's mapping as a
 * bound parameter, never into a statement's text); the foreign table TABLE_archive over
 * the table's Delta log with chunks 'dropped'; and the view TABLE_all = the table UNION
 * ALL that foreign table: every row once, before and after each drop (docs/fdw.md). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/buf.h"
#include "delta/delta.h"
#include "lake/lake_config.h"
#include "object/object.h"
#include "pg/conn.h"

#define ATTACH_SERVER "tsarchive_lake"
#define PG_NAME_MAX 63

typedef struct attach_args {
    const char *table, *server, *view, *foreign;
} attach_args;

static int attach_usage(void)
{
    cli_errorf("usage: tsarchive attach SCHEMA.TABLE [--server NAME] [--view NAME] "
               "[--foreign-table NAME]");
    return TS_EXIT_USAGE;
}

/* Appends "name 'value'" to an OPTIONS list when value is set. */
static int add_option(PGconn *pg, ts_buf *b, const char *name, const char *value, ts_err *err)
{
    char *q;
    int rc;
    if (!value || !*value)
        return TS_OK;
    if (!(q = pg_quote_literal(pg, value, err)))
        return err->code ? err->code : ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    rc = ts_buf_printf(b, "%s%s %s", b->len ? ", " : "", name, q);
    ts_free(q);
    return rc ? ts_err_set(err, TS_ERR_NOMEM, "out of memory") : TS_OK;
}

/* The server's OPTIONS for the configured lake: never a secret. A local folder is made
 * absolute: the server resolves paths from its own data directory. */
static int server_options(PGconn *pg, const lake_options *lo, ts_buf *b, ts_err *err)
{
    int rc = TS_OK;
    if (lo->kind == LAKE_LOCAL) {
        char abs[PATH_MAX], cwd[PATH_MAX];
        const char *p = lo->path && *lo->path ? lo->path : "./lake";
        if (!realpath(p, abs)) {
            if (p[0] == '/' || !getcwd(cwd, sizeof cwd))
                snprintf(abs, sizeof abs, "%s", p);
            else
                snprintf(abs, sizeof abs, "%s/%s", cwd, p[0] == '.' && p[1] == '/' ? p + 2 : p);
        }
        rc = add_option(pg, b, "path", abs, err);
    } else {
        static const char *auth_names[] = {"auto",
                                           "shared_key",
                                           "sas",
                                           "service_principal",
                                           "managed_identity",
                                           "workload_identity"};
        if (!rc)
            rc = add_option(pg, b, "container", lo->container, err);
        if (!rc)
            rc = add_option(pg, b, "account", lo->account, err);
        if (!rc && lo->blob_endpoint)
            rc = add_option(pg, b, "endpoint", lo->blob_endpoint, err);
        if (!rc && lo->auth != LAKE_AUTH_AUTO &&
            (size_t)lo->auth < sizeof auth_names / sizeof *auth_names)
            rc = add_option(pg, b, "auth", auth_names[lo->auth], err);
        if (!rc)
            rc = add_option(pg, b, "tenant_id", lo->tenant_id, err);
        if (!rc)
            rc = add_option(pg, b, "client_id", lo->client_id, err);
        if (!rc)
            rc = add_option(pg, b, "authority_host", lo->authority_host, err);
        if (!rc)
            rc = add_option(pg, b, "imds_endpoint", lo->imds_endpoint, err);
        if (!rc)
            rc = add_option(pg, b, "client_certificate_file", lo->client_certificate_file, err);
        if (!rc)
            rc = add_option(pg, b, "federated_token_file", lo->federated_token_file, err);
        if (!rc)
            rc = add_option(pg, b, "ca_file", lo->ca_file, err);
    }
    if (!rc)
        rc = add_option(pg, b, "prefix", lo->prefix, err);
    return rc;
}

/* The live table's columns (name, type) in order, and refuses what is not a table. */
static PGresult *live_columns(PGconn *pg, const char *qtable, ts_err *err)
{
    const char *p[1] = {qtable};
    PGresult *r = pg_query(pg,
                           "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), "
                           "c.relkind FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c "
                           "ON c.oid = a.attrelid WHERE a.attrelid = $1::regclass AND a.attnum > 0 "
                           "AND NOT a.attisdropped ORDER BY a.attnum",
                           1, p, err);
    if (!r)
        return NULL;
    if (PQntuples(r) == 0 || strchr("rp", PQgetvalue(r, 0, 2)[0]) == NULL) {
        ts_err_set(err, TS_ERR_INVALID, "%s is not a table with columns", qtable);
        PQclear(r);
        return NULL;
    }
    return r;
}

/* The archive's columns must have the live table's types: a column whose type changed
 * since it was archived cannot stand in one UNION ALL. */
static int check_archive(const lake_options *lo, const char *root, const PGresult *cols,
                         const char *qtable, bool *archived, ts_err *err)
{
    lake *lk = NULL;
    delta_table *t = NULL;
    int rc;
    *archived = false;
    if ((rc = lake_open(&lk, lo, err)) != TS_OK)
        goto out;
    /* a container not there yet is created as the archiver would (when allowed), so the
     * view reads an empty archive rather than failing until the first chunk is archived */
    if (lo->kind == LAKE_AZURE && (rc = lake_test(lk, err)) != TS_OK)
        goto out;
    if ((rc = delta_table_load(lk, root, NULL, &t, err)) != TS_OK)
        goto out;
    const delta_schema *s = delta_table_schema(t);
    *archived = delta_table_version(t) >= 0;
    for (int i = 0; s && i < delta_schema_ncolumns(s); i++) {
        const char *name = delta_schema_column_name(s, i), *ty = delta_schema_column_pg_type(s, i);
        int found = -1;
        for (int k = 0; k < PQntuples(cols); k++)
            if (strcmp(PQgetvalue(cols, k, 0), name) == 0)
                found = k;
        if (found < 0) {
            fprintf(stderr,
                    "attach: archived column \"%s\" is no longer in %s: the view leaves "
                    "it out (the foreign table reads only the table's columns)\n",
                    name, qtable);
        } else if (ty && strcmp(ty, PQgetvalue(cols, found, 1)) != 0) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "column \"%s\" is %s in the archive but %s in %s: one view cannot "
                            "hold both",
                            name, ty, PQgetvalue(cols, found, 1), qtable);
            goto out;
        }
    }
out:
    delta_table_free(t);
    lake_free(lk);
    return rc;
}

/* Runs the statements; the transaction is the caller's. */
static int attach_sql(PGconn *pg, const ts_config *cfg, const lake_options *lo,
                      const attach_args *a, const char *schema, const char *root,
                      const PGresult *cols, ts_err *err)
{
    char *qtable = NULL, *qview = NULL, *qforeign = NULL, *qserver = NULL, *qroot = NULL,
         *qsource = NULL, *source = NULL, *qcomment[2] = {NULL, NULL};
    ts_buf sql, opts, list, defs;
    PGresult *r = NULL;
    int rc = TS_OK;
    ts_buf_init(&sql, 0);
    ts_buf_init(&opts, 0);
    ts_buf_init(&list, 0);
    ts_buf_init(&defs, 0);

    if (!(qtable = pg_qualified_name(pg, schema, a->table, err)) ||
        !(qview = pg_qualified_name(pg, schema, a->view, err)) ||
        !(qforeign = pg_qualified_name(pg, schema, a->foreign, err)) ||
        !(qserver = pg_quote_ident(pg, a->server, err)) ||
        !(qroot = pg_quote_literal(pg, root, err))) {
        rc = err->code ? err->code : ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    size_t sl = strlen(schema) + strlen(a->table) + 2;
    if (!(source = ts_malloc(sl))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(source, sl, "%s.%s", schema, a->table);
    if (!(qsource = pg_quote_literal(pg, source, err))) {
        rc = err->code;
        goto out;
    }
    /* the comments name the table: literals, as its name may hold a quote */
    for (int i = 0; i < 2; i++) {
        char text[600]; /* names are at most 63 bytes each */
        snprintf(text, sizeof text,
                 i == 0 ? "the archive of %s: rows of chunks no longer in the database "
                          "(tsarchive attach)"
                        : "every row of %s, live or archived, once (tsarchive attach)",
                 source);
        if (!(qcomment[i] = pg_quote_literal(pg, text, err))) {
            rc = err->code;
            goto out;
        }
    }
    if ((rc = pg_exec(pg, "CREATE EXTENSION IF NOT EXISTS tsarchive_fdw", err)) != TS_OK)
        goto out;

    /* the server: created for the configured lake, or kept as it is */
    {
        const char *p[1] = {a->server};
        if (!(r = pg_query(pg,
                           "SELECT w.fdwname FROM pg_catalog.pg_foreign_server s JOIN "
                           "pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw WHERE "
                           "s.srvname = $1",
                           1, p, err))) {
            rc = err->code;
            goto out;
        }
        if (PQntuples(r) == 0) {
            if ((rc = server_options(pg, lo, &opts, err)) != TS_OK)
                goto out;
            if (ts_buf_printf(&sql,
                              "CREATE SERVER %s FOREIGN DATA WRAPPER tsarchive_fdw OPTIONS (%s)",
                              qserver, ts_buf_cstr(&opts))) {
                rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
                goto out;
            }
            if ((rc = pg_exec(pg, ts_buf_cstr(&sql), err)) != TS_OK)
                goto out;
            printf("created server %s (%s)\n", qserver, ts_buf_cstr(&opts));
        } else if (strcmp(PQgetvalue(r, 0, 0), "tsarchive_fdw") != 0) {
            rc = ts_err_set(err, TS_ERR_INVALID, "server %s belongs to \"%s\", not tsarchive_fdw",
                            qserver, PQgetvalue(r, 0, 0));
            goto out;
        } else {
            printf("server %s exists: kept as it is\n", qserver);
        }
        PQclear(r);
        r = NULL;
    }
    /* the lake's secret: a parameter, never in a statement's text; and, where the role
     * may (a superuser setting), not in the server's log either: log_statement=all or
     * log_min_duration_statement log a statement's parameters in full by default */
    bool secret = (cfg->lakehouse_connection_string && *cfg->lakehouse_connection_string) ||
                  (cfg->lake.client_secret && *cfg->lake.client_secret);
    if (lo->kind == LAKE_AZURE && secret) {
        ts_err ignore;
        ts_err_clear(&ignore);
        if (pg_exec(pg, "SAVEPOINT tsarchive_quiet", err) != TS_OK) {
            rc = err->code;
            goto out;
        }
        if (pg_exec(pg, "SET LOCAL log_parameter_max_length = 0", &ignore) != TS_OK) {
            ts_warn("the secret is sent as a statement parameter, which the server logs when "
                    "it logs statements (log_parameter_max_length needs a superuser to lower)");
            if ((rc = pg_exec(pg, "ROLLBACK TO SAVEPOINT tsarchive_quiet", err)) != TS_OK)
                goto out;
        }
    }
    if (lo->kind == LAKE_AZURE) {
        const char *secrets[2][2] = {{"connection_string", cfg->lakehouse_connection_string},
                                     {"client_secret", cfg->lake.client_secret}};
        for (int i = 0; i < 2; i++) {
            if (!secrets[i][1] || !*secrets[i][1])
                continue;
            const char *p[3] = {a->server, secrets[i][0], secrets[i][1]};
            if (!(r = pg_query(pg, "SELECT tsarchive_fdw_set_secret($1, $2, $3)", 3, p, err))) {
                rc = err->code;
                goto out;
            }
            PQclear(r);
            r = NULL;
            printf("user mapping for the current user on %s: %s set\n", qserver, secrets[i][0]);
        }
    }

    /* the foreign table and the view, replaced when they are there */
    for (int k = 0; k < PQntuples(cols); k++) {
        char *qc = pg_quote_ident(pg, PQgetvalue(cols, k, 0), err);
        if (!qc) {
            rc = err->code;
            goto out;
        }
        rc = ts_buf_printf(&list, "%s%s", k ? ", " : "", qc);
        if (!rc)
            rc = ts_buf_printf(&defs, "%s%s %s", k ? ", " : "", qc, PQgetvalue(cols, k, 1));
        ts_free(qc);
        if (rc) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    ts_buf_reset(&sql);
    if (ts_buf_printf(&sql,
                      "DROP VIEW IF EXISTS %s; DROP FOREIGN TABLE IF EXISTS %s; "
                      "CREATE FOREIGN TABLE %s (%s) SERVER %s OPTIONS (root %s, source %s, "
                      "chunks 'dropped'); "
                      "COMMENT ON FOREIGN TABLE %s IS %s; "
                      "CREATE VIEW %s AS SELECT %s FROM %s UNION ALL SELECT %s FROM %s; "
                      "COMMENT ON VIEW %s IS %s",
                      qview, qforeign, qforeign, ts_buf_cstr(&defs), qserver, qroot, qsource,
                      qforeign, qcomment[0], qview, ts_buf_cstr(&list), qtable,
                      ts_buf_cstr(&list), qforeign, qview, qcomment[1])) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = pg_exec(pg, ts_buf_cstr(&sql), err);
out:
    PQclear(r);
    ts_buf_free(&sql);
    ts_buf_free(&opts);
    ts_buf_free(&list);
    ts_buf_free(&defs);
    ts_free(qtable);
    ts_free(qview);
    ts_free(qforeign);
    ts_free(qserver);
    ts_free(qroot);
    ts_free(qsource);
    ts_free(qcomment[0]);
    ts_free(qcomment[1]);
    ts_free(source);
    return rc;
}

int cmd_attach(const ts_config *cfg, int argc, char **argv)
{
    attach_args a = {.server = ATTACH_SERVER};
    const char *table = NULL;
    char *schema = NULL, *name = NULL, *root = NULL, *qtable = NULL, *view = NULL, *foreign = NULL,
         cluster[64];
    lake_options lo;
    PGconn *pg = NULL;
    PGresult *cols = NULL;
    bool archived = false, in_tx = false;
    int rc = TS_EXIT_FAIL;
    ts_err err;

    ts_err_clear(&err);
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "--server") == 0 || strcmp(argv[i], "--view") == 0 ||
             strcmp(argv[i], "--foreign-table") == 0) &&
            i + 1 < argc) {
            const char **dst = argv[i][2] == 's'   ? &a.server
                               : argv[i][2] == 'v' ? &a.view
                                                   : &a.foreign;
            *dst = argv[++i];
        } else if (argv[i][0] != '-' && !table) {
            table = argv[i];
        } else {
            return attach_usage();
        }
    }
    if (!table)
        return attach_usage();
    if (pg_parse_qualified(table, &schema, &name, &err) != 0) {
        cli_errorf("attach: %s", err.msg);
        rc = TS_EXIT_USAGE;
        goto out;
    }
    a.table = name;
    size_t nl = strlen(name) + 16;
    if (!(view = ts_malloc(nl)) || !(foreign = ts_malloc(nl))) {
        ts_err_set(&err, TS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    snprintf(view, nl, "%s_all", name);
    snprintf(foreign, nl, "%s_archive", name);
    if (!a.view)
        a.view = view;
    if (!a.foreign)
        a.foreign = foreign;
    if (strlen(a.view) > PG_NAME_MAX || strlen(a.foreign) > PG_NAME_MAX) {
        cli_errorf("attach: \"%s\" or \"%s\" is longer than PostgreSQL's %d bytes: name them "
                   "with --view and --foreign-table",
                   a.view, a.foreign, PG_NAME_MAX);
        rc = TS_EXIT_USAGE;
        goto out;
    }
    if (lake_options_from_config(&lo, cfg, &err) != 0 ||
        pg_connect(cfg->database.url, &pg, &err) != 0 ||
        obj_cluster_id(pg, cfg->database.cluster_name, cluster, &err) != 0)
        goto fail;
    if (!(root = obj_table_root(cluster, PQdb(pg), schema, name)) ||
        !(qtable = pg_qualified_name(pg, schema, name, &err))) {
        if (!err.code)
            ts_err_set(&err, TS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (!(cols = live_columns(pg, qtable, &err)) ||
        check_archive(&lo, root, cols, qtable, &archived, &err) != 0)
        goto fail;
    if (pg_exec(pg, "BEGIN", &err) != 0)
        goto fail;
    in_tx = true;
    if (attach_sql(pg, cfg, &lo, &a, schema, root, cols, &err) != 0 ||
        pg_exec(pg, "COMMIT", &err) != 0)
        goto fail;
    in_tx = false;
    printf("attached %s: view %s.%s (live UNION ALL archive, each row once), foreign table "
           "%s.%s over \"%s\"\n",
           qtable, schema, a.view, schema, a.foreign, root);
    if (!archived)
        printf("nothing is archived yet: the view shows the live rows until the first chunk "
               "is\n");
    rc = TS_EXIT_OK;
    goto out;
fail:
    cli_errorf("attach: %s", err.msg);
out:
    if (in_tx) {
        ts_err ignore;
        ts_err_clear(&ignore);
        if (pg_exec(pg, "ROLLBACK", &ignore) != 0)
            cli_errorf("attach: rollback: %s", ignore.msg);
    }
    PQclear(cols);
    pg_disconnect(pg);
    ts_free(root);
    ts_free(qtable);
    ts_free(schema);
    ts_free(name);
    ts_free(view);
    ts_free(foreign);
    return rc;
}
