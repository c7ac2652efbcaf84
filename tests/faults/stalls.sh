#!/usr/bin/env bash
# stalls.sh CASE: a dependency that does not fail but stops answering, and a stop in
# the middle of the work. No endpoint may wait on it, and nothing may be lost.
#   pg_frozen    PostgreSQL frozen (SIGSTOP, every process of a private server) for
#                15 s: /healthz of both services answers within 100 ms and every other
#                GET within a second, reporting PostgreSQL unreachable; after SIGCONT
#                the system settles by itself
#   lake_hangs   the Azure lake (Azurite behind the fault proxy) accepts requests and
#                never answers for 15 s: the same, reporting the lake unreachable
#   arc_sigterm  SIGTERM to an archiver in the middle of a slow upload (the fault
#                archiver.write@3:slow=60000): it stops within 3 s, leaves no object and
#                no partial write, and its request is archived by another archiver
#   arc_poison   a chunk every archiver dies on (the fault archiver.export:exit at every
#                start): after max_deliveries the archiver that takes it answers with
#                a failure confirmation instead of leaving it to the dead letter, the
#                retention service retries, gives up on it (dead, with the reason) and
#                `retention --once` ends; the chunk stays in the database
# cases: pg_frozen lake_hangs arc_sigterm arc_poison
case=${1:?usage: stalls.sh CASE}
FAULT_CASE=$case
. "$(dirname "$0")/lib.sh"
need_services

stall_cleanup() {
    [ -n "${pm:-}" ] && kill -CONT "$pm" $(pgrep -P "$pm") 2>/dev/null
    stop_proxy
    cleanup
}
trap stall_cleanup EXIT
RPORT=$((${FAULT_PORT_BASE:-14990} + 6)) APORT=$((${FAULT_PORT_BASE:-14990} + 7))
# get URL: "<status> <seconds>" of a GET
get() { curl -s -o "$WORK/body" -w '%{http_code} %{time_total}' -m 10 "$1"; }
within() { awk -v t="$1" -v lim="$2" 'BEGIN { exit !(t < lim) }'; }
# every GET of both services answers in time while the dependency is away
check_endpoints() {
    local what=$1 u r t slow=0 n=0
    for u in /healthz /readyz; do
        for p in $RPORT $APORT; do
            r=$(get "http://127.0.0.1:$p$u")
            t=${r#* }
            n=$((n + 1))
            if [ "$u" = /healthz ]; then
                within "$t" 0.1 || { bad "$u on $p took $t s while $what"; slow=1; }
            else
                within "$t" 1 || { bad "$u on $p took $t s while $what"; slow=1; }
            fi
        done
    done
    for u in /database/retention/status /metrics; do
        r=$(get "http://127.0.0.1:$RPORT$u"); t=${r#* }; n=$((n + 1))
        within "$t" 1 || { bad "$u (retention) took $t s while $what"; slow=1; }
    done
    for u in /archival/status /archival/events /archival/metrics /metrics; do
        r=$(get "http://127.0.0.1:$APORT$u"); t=${r#* }; n=$((n + 1))
        within "$t" 1 || { bad "$u (archiver) took $t s while $what"; slow=1; }
    done
    [ "$slow" = 0 ] && ok "$n GETs answered in time while $what (/healthz < 100 ms, the rest < 1 s)"
}

case "$case" in
pg_frozen)
    private_servers pg
    standard_data 2
    fault_config local
    supervise arc "" archiver
    supervise ret "" retention
    settle 90
    pm=$(head -n1 "$WORK/services/pg/data/postmaster.pid")
    kill -STOP "$pm" $(pgrep -P "$pm") && ok "PostgreSQL frozen (SIGSTOP)"
    t0=$SECONDS
    check_endpoints "PostgreSQL was frozen"
    # within a few probe periods the endpoints say the database does not answer
    unreachable() {
        [ "$(get "http://127.0.0.1:$APORT/archival/status" | cut -d' ' -f1)" = 200 ] &&
            [ "$(jq -r .connections.postgresql.ok "$WORK/body")" = false ] &&
            [ "$(get "http://127.0.0.1:$RPORT/database/retention/status" | cut -d' ' -f1)" = 200 ] &&
            [ "$(jq -r .database.ok "$WORK/body")" = false ]
    }
    wait_for 25 "both services to report PostgreSQL unreachable" unreachable &&
        ok "both report PostgreSQL unreachable after $((SECONDS - t0)) s"
    expect "archiver /readyz says so" 503 "$(get "http://127.0.0.1:$APORT/readyz" | cut -d' ' -f1)"
    check_endpoints "PostgreSQL was frozen (later)"
    while [ $((SECONDS - t0)) -lt 15 ]; do sleep 0.5; done
    kill -CONT "$pm" $(pgrep -P "$pm") && ok "PostgreSQL thawed after 15 s"
    pm=""
    sql "CREATE TABLE m_2022_03 PARTITION OF m FOR VALUES FROM ('2022-03-01') TO ('2022-04-01');
         INSERT INTO m VALUES ('2022-03-05', 999999999, 1.5, 'late');
         INSERT INTO ref.m SELECT 'm_2022_03', * FROM m WHERE ts >= '2022-03-01' AND ts < '2022-04-01'"
    EXPIRED="$EXPIRED,'m_2022_03'"
    curl -s -X POST "http://127.0.0.1:$RPORT/database/retention/trigger-archival" >/dev/null
    recovered() {
        [ "$(get "http://127.0.0.1:$APORT/readyz" | cut -d' ' -f1)" = 200 ] &&
            [ "$(get "http://127.0.0.1:$RPORT/readyz" | cut -d' ' -f1)" = 200 ]
    }
    wait_for 60 "both services ready again" recovered && ok "both ready again after the thaw"
    settle 120
    ;;
lake_hangs)
    need_services TS_TEST_AZURE_CONNECTION_STRING
    start_proxy pass
    standard_data 2
    fault_config azure
    supervise arc "" archiver
    supervise ret "" retention
    settle 90
    lake_up() {
        [ "$(get "http://127.0.0.1:$APORT/archival/status" | cut -d' ' -f1)" = 200 ] &&
            [ "$(jq -r .connections.lake.ok "$WORK/body")" = true ]
    }
    wait_for 30 "the archiver to see the lake" lake_up && ok "the archiver sees the lake"
    set_mode hang
    t0=$SECONDS
    check_endpoints "the lake hung"
    lake_down() {
        [ "$(get "http://127.0.0.1:$APORT/archival/status" | cut -d' ' -f1)" = 200 ] &&
            [ "$(jq -r .connections.lake.ok "$WORK/body")" = false ]
    }
    wait_for 25 "the archiver to report the lake unreachable" lake_down &&
        ok "the archiver reports the lake unreachable after $((SECONDS - t0)) s"
    check_endpoints "the lake hung (later)"
    [ "$(stat_of hang)" -gt 0 ] && ok "the proxy held $(stat_of hang) requests unanswered" || bad "nothing hung"
    while [ $((SECONDS - t0)) -lt 15 ]; do sleep 0.5; done
    set_mode pass
    wait_for 30 "the lake reported reachable again" lake_up && ok "the lake is reachable again"
    ;;
arc_poison)
    standard_data 1
    WORKERS=1 fault_config local
    export TSARCHIVE_REDIS_MAX_DELIVERIES=2 TSARCHIVE_RETENTION_MAX_ATTEMPTS=2
    # an archiver that dies on its first export, restarted every time
    (
        while [ ! -e "$WORK/stopping" ]; do
            TSARCHIVE_FAULT="archiver.export:exit" "$BIN" -c "$WORK/c.yaml" archiver >>"$WORK/arc.log" 2>&1
            sleep 0.3
        done
    ) 2>/dev/null &
    pids+=($!)
    t0=$SECONDS
    timeout 300 "$BIN" -c "$WORK/c.yaml" retention --once >"$WORK/ret.log" 2>&1
    rc=$?
    expect "retention --once ends, partly done (exit 4)" 4 "$rc"
    ok "in $((SECONDS - t0)) s"
    expect "the chunk is dead, kept in the database" "$(echo "$EXPIRED" | tr -d "'")=dead 1" \
        "$(state_of) $(parts_left)"
    expect "its reason names the deliveries" 1 \
        "$(sql "SELECT count(*) FROM tsarchive.archival_events WHERE error LIKE 'delivered 3 times without an answer%'")"
    grep -q 'archival of "public.m_2022_01" given up: delivered 3 times' "$WORK/arc.log" &&
        ok "the archiver says it gave up" || bad "the archiver's log does not say it gave up"
    expect "nothing in the dead-letter stream (the retention service was told)" 0 \
        "$(redis-cli -u "$TS_TEST_REDIS_URL" XLEN "$TAG.deadletter")"
    expect "the rows are all in the database" "$(sql "SELECT count(*) FROM ref.m")" \
        "$(sql "SELECT count(*) FROM m WHERE ts < now() - interval '730 days'")"
    ;;
arc_sigterm)
    standard_data 3
    WORKERS=1 fault_config local
    # the first archiver's third Parquet write is slow (a slow lake); a second one,
    # started later, must take the request over once the first is gone
    supervise ret "" retention
    TSARCHIVE_FAULT="archiver.write@3:slow=60000" "$BIN" -c "$WORK/c.yaml" archiver >"$WORK/arc.log" 2>&1 &
    apid=$!
    wait_for 60 "the slow upload" log_has arc "fault injection: slow 60000 ms at archiver.write" &&
        ok "the upload is slow, mid-object"
    t0=$(date +%s.%N)
    kill -TERM "$apid"
    for _ in $(seq 100); do kill -0 "$apid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$apid" 2>/dev/null; then
        bad "the archiver did not stop within 5 s of SIGTERM"
        kill -KILL "$apid"
    else
        t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
        within "$t" 3 && ok "stopped $t s after SIGTERM" || bad "stopped only $t s after SIGTERM"
    fi
    wait "$apid" 2>/dev/null
    expect "the archiver exited cleanly" 0 "$?"
    log_has arc "stopped by the shutdown" && ok "it says the export was stopped" || bad "no word of the stopped export"
    expect "no object written by the stopped export" 0 "$(find "$LAKE" -name '*.parquet' 2>/dev/null | wc -l)"
    expect "no partial write left" "" "$(find "$LAKE" -name '*.tmp-*' 2>/dev/null)"
    supervise arc2 "" archiver
    settle 120
    ;;
*) echo "unknown case $case"; exit 2 ;;
esac
stop_all
check_promises
check_sanitizers
finish
