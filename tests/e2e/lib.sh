# lib.sh: shared by the end-to-end tests: a private database, a config, checks.
# Needs TS_TEST_PG_URL and TS_TEST_REDIS_URL (scripts/services); the tests skip with
# exit 77 and a reason when they are missing.
set -u
export PGOPTIONS="-c client_min_messages=warning"
BIN=${BIN:?BIN must name the tsarchive binary}
ROOT=${ROOT:?ROOT must name the source tree}
pass=0 failn=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; failn=$((failn + 1)); }
expect() { # name want got
    if [ "$2" = "$3" ]; then ok "$1 ($3)"; else bad "$1: expected \"$2\", got \"$3\""; fi
}
finish() { echo "$pass passed, $failn failed"; [ "$failn" = 0 ]; }

need_services() {
    for v in TS_TEST_PG_URL TS_TEST_REDIS_URL "$@"; do
        if [ -z "${!v:-}" ]; then
            echo "SKIP: $v is not set (start the servers with scripts/services start and source build/services/env)"
            exit 77
        fi
    done
}

# new_db NAME: a fresh database; sets DB_URL
new_db() {
    DB_NAME=$1
    psql "$TS_TEST_PG_URL" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" \
        -c "CREATE DATABASE \"$DB_NAME\"" >/dev/null
    DB_URL=${TS_TEST_PG_URL%/*}/$DB_NAME
}
# groups: the consumer groups of this database's services (archivers:<cluster>/<db>,
# retention:<cluster>/<db>) into ARC_GROUP and RET_GROUP
groups() {
    local cluster
    cluster=pg$(sql "SELECT system_identifier FROM pg_control_system()")
    ARC_GROUP="archivers:$cluster/$DB_NAME"
    RET_GROUP="retention:$cluster/$DB_NAME"
}
drop_db() { psql "$TS_TEST_PG_URL" -qX -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1; }
sql() { psql "$DB_URL" -qXAt -v ON_ERROR_STOP=1 -c "$1"; }

# write_config FILE LAKE_KIND [extra top-level yaml]: streams named after the test,
# so runs never see each other's events. Knobs: LOCK_TIMEOUT_MS, WORKERS, LAKE_PATH.
write_config() {
    local f=$1 kind=$2 extra=${3:-} tag=${TAG:-e2e$$}
    {
        echo "database:"
        echo "  url: \"$DB_URL\""
        echo "  lock_timeout_ms: ${LOCK_TIMEOUT_MS:-5000}"
        echo "redis:"
        echo "  url: \"${SVC_REDIS_URL:-$TS_TEST_REDIS_URL}\""
        [ -n "${SVC_REDIS_CA:-}" ] && echo "  tls_ca_file: \"$SVC_REDIS_CA\""
        echo "  request_stream: \"$tag.request\""
        echo "  confirmation_stream: \"$tag.confirmation\""
        echo "  deadletter_stream: \"$tag.deadletter\""
        echo "  visibility_timeout_s: 5"
        echo "retention:"
        echo "  retry_backoff_s: 1"
        echo "  max_attempts: 3"
        echo "archiver:"
        echo "  workers: ${WORKERS:-2}"
        echo "lake:"
        echo "  kind: $kind"
        if [ "$kind" = local ]; then
            echo "  path: \"${LAKE_PATH:-$WORK/lake}\""
        else
            echo "  block_size_mb: 1"
        fi
        echo "lakehouse_container: \"$tag\""
        printf '%s\n' "$extra"
    } >"$f"
}

# duckdb SQL: runs a query with DuckDB (npm @duckdb/node-api), prints rows as TSV
duckdb() {
    node "$ROOT/tests/e2e/duckdb_query.mjs" "$1"
}
# lake_sql DIR SQL: a query over what a reader of the archive in DIR sees: the views
# `lake` (the rows of every live file of every Delta table, with filename) and
# `lake_files` (tbl, file), from the tables' logs (tests/e2e/duckdb_lake.mjs)
lake_sql() {
    node "$ROOT/tests/e2e/duckdb_lake.mjs" "$1" "$2"
}
