/* tsdb_changes.c: the retention service's drop-time proof check, alone, for
 * tests/faults/changes.sh changed_tsdb (PGlite+TimescaleDB, where the services cannot
 * run: its one shared session and COPY FROM STDIN rule them out).
 *
 * usage: tsdb_changes CONNINFO SCHEMA.CHUNK PROOF
 *
 * Does what drop_chunk() in src/retention/retention.c does before its DROP: BEGIN,
 * SET LOCAL lock_timeout, LOCK TABLE chunk IN ACCESS EXCLUSIVE MODE,
 * pg_chunk_unchanged(chunk, PROOF); then ROLLBACK (nothing is dropped).
 * Prints "unchanged" and exits 0, or "changed: <what differs>" and exits 1; any other
 * failure (connection, lock, malformed proof) prints "error: ..." and exits 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "pg/conn.h"
#include "pg/proof.h"

int main(int argc, char **argv)
{
    PGconn *c = NULL;
    char *schema = NULL, *name = NULL, *qname = NULL, sql[1200];
    ts_err err, e2;
    int rc, status = 2;

    if (argc != 4) {
        fprintf(stderr, "usage: tsdb_changes CONNINFO SCHEMA.CHUNK PROOF\n");
        return 2;
    }
    ts_log_setup(TS_LOG_WARN, 0, NULL);
    ts_err_clear(&err);
    ts_err_clear(&e2);
    if ((rc = pg_parse_qualified(argv[2], &schema, &name, &err)) != 0 ||
        (rc = pg_connect(argv[1], &c, &err)) != 0)
        goto out;
    if (!(qname = pg_qualified_name(c, schema, name, &err))) {
        rc = err.code ? err.code : TS_ERR_NOMEM;
        goto out;
    }
    if ((rc = pg_exec(c, "BEGIN", &err)) != 0 || (rc = pg_exec(c, "SET LOCAL lock_timeout = 5000", &err)) != 0)
        goto rollback;
    snprintf(sql, sizeof sql, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", qname);
    if ((rc = pg_exec(c, sql, &err)) != 0)
        goto rollback;
    rc = pg_chunk_unchanged(c, schema, name, argv[3], &err);
    if (rc == 0) {
        printf("unchanged\n");
        status = 0;
    } else if (rc == TS_ERR_CONFLICT) {
        printf("changed: %s\n", err.msg);
        status = 1;
    }
rollback:
    if (pg_exec(c, "ROLLBACK", &e2) != 0 && status != 2) {
        fprintf(stderr, "error: rollback: %s\n", e2.msg);
        status = 2;
    }
out:
    if (status == 2 && rc)
        fprintf(stderr, "error: %s\n", err.msg);
    ts_free(qname);
    pg_disconnect(c);
    ts_free(schema);
    ts_free(name);
    return status;
}
