#!/usr/bin/env bash
# tables.sh CASE: the archive as Delta Lake tables under load and faults.
#   forty_chunks      2 archiver processes x 4 workers archive 40 partitions of one table
#                     at once: every add in the table's log exactly once, no remove,
#                     versions gapless 0..N, and DuckDB over the log counts every row once
#   two_clusters      two PostgreSQL clusters (the shared one and a private one) whose
#                     databases, tables and partitions share their names archive into
#                     one lake folder: two tables in two folders, nothing replaced, each
#                     holding its own cluster's rows
#   commit_fails      the lake refuses the log commits (503 on every _delta_log PUT) for
#                     10 s while uploads pass: failure confirmations, no drop; once it
#                     accepts them again, the uploads left uncommitted are committed by
#                     the retries (or swept), nothing counted twice, the system settles
# cases: forty_chunks two_clusters commit_fails
case=${1:?usage: tables.sh CASE}
FAULT_CASE=$case
. "$(dirname "$0")/lib.sh"
need_services
tables_cleanup() {
    stop_all
    stop_proxy
    cleanup
}
trap tables_cleanup EXIT

# log_of TABLE_DIR: the table's log, one action per line
log_of() { cat "$1"/_delta_log/*.json; }
versions_gapless() { # TABLE_DIR: versions 0..N with none missing
    local n
    n=$(ls "$1/_delta_log" | grep -c '^[0-9]\{20\}\.json$')
    [ "$(ls "$1/_delta_log" | grep '^[0-9]\{20\}\.json$' | sort | tail -n1)" = "$(printf '%020d.json' $((n - 1)))" ]
}

case "$case" in
forty_chunks)
    new_db "tsarchive_f_forty"
    sql "CREATE TABLE m (ts timestamptz NOT NULL, id bigint, v double precision, s text) PARTITION BY RANGE (ts);
         CREATE TABLE m_now PARTITION OF m FOR VALUES FROM (now() - interval '1 day') TO (now() + interval '1 day');"
    for i in $(seq 0 39); do
        echo "CREATE TABLE m_$i PARTITION OF m FOR VALUES FROM ('2018-01-01'::timestamptz + interval '$i month') TO ('2018-01-01'::timestamptz + interval '$((i + 1)) month');"
    done | psql "$DB_URL" -qX -v ON_ERROR_STOP=1 >/dev/null
    sql "INSERT INTO m SELECT '2018-01-01'::timestamptz + make_interval(months => i / 500, mins => i % 500), i, i * 0.25, md5(i::text)
           FROM generate_series(0, 40 * 500 - 1) i;
         INSERT INTO m VALUES (now(), -1, 0, 'now');
         CREATE SCHEMA ref;
         CREATE TABLE ref.m AS SELECT tableoid::regclass::text AS part, * FROM m WHERE ts < now() - interval '730 days';"
    EXPIRED=$(sql "SELECT string_agg(quote_literal('m_' || i), ',') FROM generate_series(0, 39) i")
    WORKERS=4 fault_config local "archival_batch_size: 40"
    supervise arc1 "" archiver
    TSARCHIVE_HTTP_ARCHIVER_LISTEN=127.0.0.1:$((FAULT_PORT_BASE + 9)) supervise arc2 "" archiver
    supervise ret "" retention
    settle 180
    stop_all
    tbl=$(dirname "$(find "$LAKE" -type d -name _delta_log)")
    a1=$(grep -c 'archived chunk' "$WORK/arc1.log") a2=$(grep -c 'archived chunk' "$WORK/arc2.log")
    [ "$a1" -ge 1 ] && [ "$a2" -ge 1 ] && ok "both processes committed to the table ($a1 + $a2)" ||
        bad "one process did all ($a1 + $a2)"
    expect "40 adds, 40 distinct files, no remove" "40 40 0" \
        "$(log_of "$tbl" | jq -c 'select(.add)' | wc -l) $(log_of "$tbl" | jq -r 'select(.add) | .add.path' | sort -u | wc -l) $(log_of "$tbl" | jq -c 'select(.remove)' | wc -l)"
    versions_gapless "$tbl" && ok "versions gapless 0..$(($(ls "$tbl/_delta_log" | grep -c json) - 1))" || bad "a version is missing: $(ls "$tbl/_delta_log")"
    expect "one commit per add, each valid JSON lines" 40 "$(ls "$tbl/_delta_log" | grep -c json)"
    check_promises
    ;;
two_clusters)
    shared_url=$TS_TEST_PG_URL
    private_servers pg
    for side in shared private; do
        if [ $side = shared ]; then url=$shared_url rp=$((FAULT_PORT_BASE + 6)); else url=$TS_TEST_PG_URL rp=$((FAULT_PORT_BASE + 8)); fi
        psql "$url" -qX -c "DROP DATABASE IF EXISTS tsarchive_f_same WITH (FORCE)" -c "CREATE DATABASE tsarchive_f_same" >/dev/null
        u=${url%/*}/tsarchive_f_same
        psql "$u" -qX -v ON_ERROR_STOP=1 -c "
            CREATE TABLE m (ts timestamptz NOT NULL, id bigint, v double precision, s text) PARTITION BY RANGE (ts);
            CREATE TABLE m_1 PARTITION OF m FOR VALUES FROM ('2020-01-01') TO ('2020-02-01');
            CREATE TABLE m_2 PARTITION OF m FOR VALUES FROM ('2020-02-01') TO ('2020-03-01');
            INSERT INTO m SELECT '2020-01-01'::timestamptz + i * interval '1 hour', i, 0, '$side'
              FROM generate_series(0, 1000) i;" >/dev/null || bad "data on the $side cluster"
        DB_URL=$u write_config "$WORK/$side.yaml" local "http:
  retention_listen: \"127.0.0.1:$rp\"
  archiver_listen: \"127.0.0.1:$((rp + 1))\""
        eval "url_$side=\$u"
    done
    "$BIN" -c "$WORK/shared.yaml" run --once >"$WORK/shared.log" 2>&1 &
    p1=$!
    "$BIN" -c "$WORK/private.yaml" run --once >"$WORK/private.log" 2>&1
    r2=$?
    wait $p1
    expect "both runs settle" "0 0" "$? $r2"
    expect "two tables, each with its two chunks" "2 4" \
        "$(lake_sql "$LAKE" "SELECT count(DISTINCT tbl) || ' ' || count(*) FROM lake_files")"
    expect "each table holds its own cluster's rows" "private 1001 shared 1001" \
        "$(lake_sql "$LAKE" "SELECT s, count(*) FROM lake GROUP BY s ORDER BY s" | tr '\t\n' '  ' | sed 's/ $//')"
    expect "four objects: none replaced" 4 "$(find "$LAKE" -name '*.parquet' | wc -l)"
    expect "two cluster folders" 2 "$(find "$LAKE" -mindepth 1 -maxdepth 1 -type d | wc -l)"
    psql "$url_shared" -qX -c "SELECT 1" >/dev/null 2>&1 &&
        psql "${url_shared%/*}/postgres" -qX -c "DROP DATABASE IF EXISTS tsarchive_f_same WITH (FORCE)" >/dev/null 2>&1
    ;;
commit_fails)
    need_services TS_TEST_AZURE_CONNECTION_STRING
    start_proxy pass
    standard_data 3
    export TSARCHIVE_RETENTION_MAX_ATTEMPTS=10 TSARCHIVE_LAKE_MAX_RETRIES=2
    fault_config azure
    set_mode 503-log
    supervise arc "" archiver
    supervise ret "" retention
    failed_at_least() { [ "$(grep -c 'failed (attempt [0-9]* of [0-9]*), chunk kept, retry in' "$WORK/ret.log" 2>/dev/null)" -ge "$1" ]; }
    wait_for 60 "failure confirmations while the log refuses commits" failed_at_least 2 &&
        ok "failure confirmations while the log refused commits"
    t0=$SECONDS
    while [ $((SECONDS - t0)) -lt 10 ]; do
        [ "$(parts_left)" = 3 ] || break
        sleep 0.5
    done
    expect "nothing dropped while no commit could be written" 3 "$(parts_left)"
    [ "$(stat_of 503-log)" -gt 0 ] && ok "the proxy refused $(stat_of 503-log) log commits" || bad "no commit refused"
    set_mode pass
    settle 120
    stop_all
    n=$(grep -c 'an upload whose commit was interrupted\|an upload never committed' "$WORK/arc.log")
    [ "$n" -ge 1 ] && ok "uploads left uncommitted were committed or swept by the retries ($n)" ||
        bad "no uncommitted upload was taken up"
    check_promises
    ;;
*) echo "unknown case $case"; exit 2 ;;
esac
check_sanitizers
finish
