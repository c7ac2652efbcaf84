#!/usr/bin/env bash
# least_privilege.sh: the services as the PostgreSQL roles docs/deploy-azure.md describes,
# granted by deploy/postgresql/tsarchive-grants.sql, neither a superuser: the archiver
# (its own process, its own role) and `retention --once` (another) archive and drop every
# expired partition. Then, each grant taken away in turn, the run fails with a clear
# error and drops nothing it should not:
#   archiver without SELECT          "permission denied for table ..." in the failure
#   retention not in the owner role  "must be owner of table ..."; the chunk stays,
#                                    `retention --once` ends (exit 4) naming it
#   the schema tsarchive missing and no CREATE on the database
#                                    "permission denied for database ..." at start
# Redis too: both services talk to it as an ACL user with exactly the rules of
# deploy/redis/tsarchive-access-policy.txt (streams renamed for the test); without XADD
# the retention service fails with NOPERM in its words.
# Roles are cluster-wide: they carry this run's pid and go at the end (the Redis user too).
. "$(dirname "$0")/lib.sh"
need_services
WORK=$(mktemp -d)
TAG=lp$$
OWNER=tsa_owner_$$ RET=tsa_retention_$$ ARC=tsa_archiver_$$
RUSER=tsa_redis_$$ RPASS=$(openssl rand -hex 16 2>/dev/null || echo "pw-$$-$RANDOM")
pids=()
admin() { psql "$TS_TEST_PG_URL" -qXAt -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    drop_db
    for r in $RET $ARC $OWNER; do
        admin -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1
    done
    redis-cli -u "$TS_TEST_REDIS_URL" DEL "$TAG.request" "$TAG.confirmation" "$TAG.deadletter" >/dev/null 2>&1
    redis-cli -u "$TS_TEST_REDIS_URL" ACL DELUSER "$RUSER" >/dev/null 2>&1
    [ "$failn" != 0 ] && for f in "$WORK"/*.log; do echo "--- tail $f"; tail -n 8 "$f"; done
    [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

# a fresh database whose tables belong to the owner role; expired partitions of 2022
setup_db() {
    new_db "tsarchive_lp_$$"
    # the application's schema and tables belong to the owner role (PostgreSQL 15 lets
    # nobody but the database owner create in public)
    sql "CREATE SCHEMA app AUTHORIZATION $OWNER;
         SET ROLE $OWNER;
         CREATE TABLE app.m (ts timestamptz NOT NULL, id int, v double precision) PARTITION BY RANGE (ts);
         CREATE TABLE app.m_2022_01 PARTITION OF app.m FOR VALUES FROM ('2022-01-01') TO ('2022-02-01');
         CREATE TABLE app.m_2022_02 PARTITION OF app.m FOR VALUES FROM ('2022-02-01') TO ('2022-03-01');
         CREATE TABLE app.m_now PARTITION OF app.m FOR VALUES FROM (now() - interval '1 day') TO (now() + interval '1 day');
         INSERT INTO app.m SELECT '2022-01-01'::timestamptz + i * interval '10 minutes', i, i * 0.5 FROM generate_series(0, 8063) i;
         INSERT INTO app.m VALUES (now(), -1, 0);
         RESET ROLE;" || bad "setting up the owner's tables failed"
    # the grants, as the docs say, run by the database's administrator
    psql "$DB_URL" -qX -v db="$DB_NAME" -v schema=app -v owner="$OWNER" -v retention="$RET" \
        -v archiver="$ARC" -f "$ROOT/deploy/postgresql/tsarchive-grants.sql" >grants.log 2>&1 ||
        { bad "tsarchive-grants.sql failed"; cat grants.log; }
}
parts_left() { sql "SELECT count(*) FROM pg_class WHERE relname IN ('m_2022_01', 'm_2022_02')"; }
url_as() { echo "${TS_TEST_PG_URL%%://*}://$1@${TS_TEST_PG_URL#*@}" | sed "s|/postgres\$|/$DB_NAME|"; }
# the Redis user of the services: the documented rules, on this test's streams
redis_user() { # [rules to take away...]
    local rules
    rules=$(grep -v '^#' "$ROOT/deploy/redis/tsarchive-access-policy.txt" | sed "s/database\.archival\./$TAG./g")
    for r in "$@"; do rules=${rules/$r /}; done
    # shellcheck disable=SC2086
    redis-cli -u "$TS_TEST_REDIS_URL" ACL SETUSER "$RUSER" reset on ">$RPASS" $rules >/dev/null
}
REDIS_AS=$(echo "$TS_TEST_REDIS_URL" | sed "s|redis://|redis://$RUSER:$RPASS@|")
# run_services NAME [LIMIT_S]: the archiver as ARC in the background, `retention --once`
# as RET (given up on after LIMIT_S, default 120: exit 124)
run_services() {
    local name=$1 limit=${2:-120} a
    DB_URL=$(url_as "$ARC") TS_TEST_REDIS_URL=$REDIS_AS write_config "arc-$name.yaml" local
    DB_URL=$(url_as "$RET") TS_TEST_REDIS_URL=$REDIS_AS write_config "ret-$name.yaml" local
    "$BIN" -c "arc-$name.yaml" archiver >"arc-$name.log" 2>&1 &
    a=$!
    pids+=($a)
    timeout "$limit" "$BIN" -c "ret-$name.yaml" retention --once >"ret-$name.log" 2>&1
    rc=$?
    kill -TERM $a 2>/dev/null
    wait $a 2>/dev/null
}

admin -c "CREATE ROLE $OWNER NOLOGIN" -c "CREATE ROLE $RET LOGIN" -c "CREATE ROLE $ARC LOGIN"
expect "neither service role is a superuser nor may create roles or databases" "false false false|false false false" \
    "$(admin -c "SELECT string_agg(rolsuper || ' ' || rolcreaterole || ' ' || rolcreatedb, '|' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('$RET', '$ARC')")"

# ---- with the grants: everything archived and dropped ----
setup_db
redis_user
expect "the Redis user cannot touch other keys" "NOPERM" \
    "$(redis-cli -u "$REDIS_AS" SET other.key 1 2>&1 | grep -o NOPERM)"
rows=$(sql "SELECT count(*) FROM app.m WHERE ts < '2022-03-01'")
run_services granted
expect "granted: retention --once settles" 0 "$rc"
expect "granted: both expired partitions dropped" 0 "$(parts_left)"
expect "granted: the current partition stays" 1 "$(sql "SELECT count(*) FROM app.m_now")"
expect "granted: every row in the lake" "$rows" "$(duckdb "SELECT count(*) FROM read_parquet('$WORK/lake/**/*.parquet')")"
expect "granted: the state table belongs to the retention role" "$RET" \
    "$(sql "SELECT tableowner FROM pg_tables WHERE schemaname = 'tsarchive' AND tablename = 'archival_events'")"
expect "the archiver role cannot drop a table" "must be owner" \
    "$(psql "$(url_as "$ARC")" -qXAt -c "DROP TABLE app.m_now" 2>&1 | grep -o 'must be owner')"

# ---- the archiver without SELECT on the partitions ----
setup_db
sql "REVOKE SELECT ON ALL TABLES IN SCHEMA app FROM $ARC"
run_services noselect
expect "archiver without SELECT: retention --once does not settle (exit 4)" 4 "$rc"
expect "archiver without SELECT: nothing dropped" 2 "$(parts_left)"
grep -q 'permission denied for table m_2022_0[12]' "arc-noselect.log" && ok "archiver without SELECT: its log says permission denied for the table" ||
    bad "archiver without SELECT: no clear error in its log"
expect "archiver without SELECT: the failure is recorded with PostgreSQL's reason" 2 \
    "$(sql "SELECT count(*) FROM tsarchive.archival_events WHERE error LIKE '%permission denied for table%'")"

# ---- the retention role not in the owner role: archived, never dropped. No retry mends
# a missing privilege, so the drop counts as given up on at once: `retention --once` ends
# (exit 4) and names the chunks; the long-running service tries again every hour, so a
# grant that comes later is picked up
setup_db
sql "REVOKE $OWNER FROM $RET"
run_services noowner 60
expect "retention not the owner: retention --once ends, partly done (exit 4)" 4 "$rc"
expect "retention not the owner: nothing dropped" 2 "$(parts_left)"
grep -q 'drop of chunk "app.m_2022_0[12]" refused for lack of privilege: .*permission denied for table m_2022_0[12] (SQLSTATE 42501)' "ret-noowner.log" &&
    ok "retention not the owner: its log says the drop was refused: permission denied for the table" ||
    bad "retention not the owner: no clear error in its log"
expect "retention not the owner: the summary names both chunks whose drop fails" 2 \
    "$(grep -c '^  archived, drop failing: app.m_2022_0[12]: .*permission denied' "ret-noowner.log")"
expect "retention not the owner: both archived, waiting for their drop" "archived archived" \
    "$(sql "SELECT string_agg(state, ' ' ORDER BY chunk_name) FROM tsarchive.archival_events")"
expect "retention not the owner: the next try in about an hour" "true true" \
    "$(sql "SELECT string_agg((next_drop_at > now() + interval '50 minutes')::text, ' ') FROM tsarchive.archival_events")"
# the grant given back: the next start tries every deferred drop at once
sql "GRANT $OWNER TO $RET"
run_services regranted
expect "owner role granted again: retention --once settles" 0 "$rc"
expect "owner role granted again: both dropped" 0 "$(parts_left)"

# ---- the Redis user without XADD: the retention service cannot request, and says so ----
setup_db
redis_user +xadd
run_services noxadd 30
expect "Redis without XADD: retention --once keeps failing its checks (stopped after 30 s)" 124 "$rc"
grep -q "XADD \"$TAG.request\": NOPERM" "ret-noxadd.log" && ok "Redis without XADD: its log says XADD was refused (NOPERM)" || bad "Redis without XADD: no NOPERM in its log"
expect "Redis without XADD: nothing dropped" 2 "$(parts_left)"
redis_user

# ---- the schema tsarchive not made by the grants, and the retention role without
# CREATE on the database: refused at start ----
setup_db
expect "the retention role has no CREATE on the database" f \
    "$(sql "SELECT has_database_privilege('$RET', current_database(), 'CREATE')")"
sql "DROP SCHEMA tsarchive CASCADE"
run_services nocreate
expect "retention without CREATE on the database: fails (exit 1)" 1 "$rc"
grep -q "could not set up the tsarchive schema: .*permission denied for database" "ret-nocreate.log" &&
    ok "retention without CREATE: says permission denied for database" || bad "retention without CREATE: no clear error"
expect "retention without CREATE: nothing dropped" 2 "$(parts_left)"
# the ASan build runs this too: a sanitizer report in any output fails it
san=$(grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$WORK"/*.log "$WORK"/*.out 2>/dev/null | tr '\n' ' ')
expect "no sanitizer report in any output" "" "$san"
finish
