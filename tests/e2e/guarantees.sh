#!/usr/bin/env bash
# guarantees.sh CASE: one guarantee of the services each, on PostgreSQL 15, Redis and
# a local lake folder. The full fault-injection suite lives in tests/faults/.
#   report_only     lakehouse_enabled: false requests and drops nothing, says so, exits 4
#   failure_dead    a lake that refuses writes: failure confirmations, retries with
#                   backoff, then dead; the chunk stays; exit 4
#   changed         rows inserted, updated, deleted after the export began: no drop of
#                   the stale archive; archived again; the final archive holds the change
#   object_gone     the archive deleted from the lake before the drop: no drop; archived again
#   malformed       garbage on both streams: dead-lettered with a reason; the run succeeds
#   restart         the retention service killed with requests out: a restart resumes
#                   from its table, each chunk requested once
#   standby         a second retention service stands by while one is active
#   scale_out       two archiver processes share one consumer group: every chunk
#                   archived once, both take work
#   batch_limit     never more than archival_batch_size requests out at once
#   idempotent      a repeated request for an archived, unchanged chunk confirms
#                   without rewriting the object
case=${1:?usage: guarantees.sh CASE}
. "$(dirname "$0")/lib.sh"
need_services
WORK=$(mktemp -d)
TAG=g$case$$
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    drop_db
    redis-cli -u "$TS_TEST_REDIS_URL" DEL "$TAG.request" "$TAG.confirmation" "$TAG.deadletter" >/dev/null 2>&1
    [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
new_db "tsarchive_g_$case"
cd "$WORK"

# three expired monthly partitions of 2022 and a current one
sql "
CREATE TABLE m (ts timestamptz NOT NULL, id int, v double precision, s text) PARTITION BY RANGE (ts);
CREATE TABLE m_2022_01 PARTITION OF m FOR VALUES FROM ('2022-01-01') TO ('2022-02-01');
CREATE TABLE m_2022_02 PARTITION OF m FOR VALUES FROM ('2022-02-01') TO ('2022-03-01');
CREATE TABLE m_2022_03 PARTITION OF m FOR VALUES FROM ('2022-03-01') TO ('2022-04-01');
CREATE TABLE m_now PARTITION OF m FOR VALUES FROM (now() - interval '1 day') TO (now() + interval '1 day');
INSERT INTO m SELECT '2022-01-01'::timestamptz + i * interval '10 minutes', i, i * 0.5, 's' || (i % 7)
  FROM generate_series(0, 12959) i;
INSERT INTO m VALUES (now(), -1, 0, 'now');"
expired_parts="'m_2022_01','m_2022_02','m_2022_03'"
parts_left() { sql "SELECT count(*) FROM pg_class WHERE relname IN ($expired_parts)"; }
state_of() { sql "SELECT string_agg(chunk_name || '=' || state, ' ' ORDER BY chunk_name) FROM tsarchive.archival_events"; }
lake_rows() { lake_sql "$WORK/lake" "SELECT count(*) FROM lake"; }

case "$case" in
report_only)
    write_config c.yaml local "lakehouse_enabled: false"
    "$BIN" -c c.yaml run --once >run.log 2>&1
    expect "exit 4: expired chunks left" 4 $?
    expect "nothing dropped" 3 "$(parts_left)"
    expect "nothing requested" 0 "$(redis-cli -u "$TS_TEST_REDIS_URL" XLEN "$TAG.request")"
    grep -q "lakehouse_enabled is false: expired chunks are reported, never archived" run.log && ok "says why" || bad "no explanation"
    expect "no lake written" "" "$(ls "$WORK/lake" 2>/dev/null)"
    ;;
failure_dead)
    : >"$WORK/not-a-folder"
    LAKE_PATH=$WORK/not-a-folder/lake write_config c.yaml local
    "$BIN" -c c.yaml run --once >run.log 2>&1
    expect "exit 4" 4 $?
    expect "chunks kept" 3 "$(parts_left)"
    expect "all dead after 3 attempts" "m_2022_01=dead m_2022_02=dead m_2022_03=dead" "$(state_of)"
    expect "attempts counted" 3 "$(sql "SELECT max(attempts) FROM tsarchive.archival_events")"
    expect "the reason is kept" 3 "$(sql "SELECT count(*) FROM tsarchive.archival_events WHERE error LIKE 'lake:%'")"
    grep -q 'GIVING UP on chunk "public.m_2022_01" after 3 attempts; it stays in the database' run.log && ok "said loudly" || bad "no loud error"
    grep -q 'retry in 1 s' run.log && grep -q 'retry in 2 s' run.log && ok "exponential backoff (1 s, 2 s)" || bad "backoff"
    ;;
changed)
    # Another session holds a lock that lets the export read but makes the drop wait;
    # it changes rows the export cannot see, then commits while the drop waits.
    LOCK_TIMEOUT_MS=30000 write_config c.yaml local
    psql "$DB_URL" -qX -v ON_ERROR_STOP=1 >writer.log 2>&1 <<'SQL' &
BEGIN;
LOCK TABLE m_2022_01, m_2022_02, m_2022_03 IN ROW EXCLUSIVE MODE;
INSERT INTO m VALUES ('2022-01-15 12:00:00.123456+00', 999999, 42.5, 'inserted late');
UPDATE m SET s = 'updated late' WHERE id = 5000;
DELETE FROM m WHERE id = 5001;
SELECT pg_sleep(6);
COMMIT;
SQL
    pids+=($!)
    sleep 1
    "$BIN" -c c.yaml run --once >run.log 2>&1
    expect "run --once exits 0" 0 $?
    wait "${pids[0]}"
    expect "all dropped in the end" 0 "$(parts_left)"
    n=$(grep -c 'changed since its export' run.log)
    # m_2022_01 (insert) and m_2022_02 (update + delete) are exported at once, before
    # the writer commits; both stale archives must be refused
    [ "$n" -ge 2 ] && ok "the stale archives were refused ($n)" || { bad "changes not detected ($n)"; tail -20 run.log; }
    expect "final archive: row count with the change" 12960 "$(lake_rows)"
    expect "final archive holds the insert" "999999	inserted late" \
        "$(lake_sql "$WORK/lake" "SELECT id, s FROM lake WHERE id = 999999")"
    expect "final archive holds the update" "updated late" \
        "$(lake_sql "$WORK/lake" "SELECT s FROM lake WHERE id = 5000")"
    expect "final archive holds the delete" 0 \
        "$(lake_sql "$WORK/lake" "SELECT count(*) FROM lake WHERE id = 5001")"
    ;;
object_gone)
    LOCK_TIMEOUT_MS=30000 write_config c.yaml local
    psql "$DB_URL" -qX -c "BEGIN; LOCK TABLE m_2022_02 IN ROW EXCLUSIVE MODE; SELECT pg_sleep(5); COMMIT;" >/dev/null 2>&1 &
    pids+=($!)
    sleep 0.5
    "$BIN" -c c.yaml run --once >run.log 2>&1 &
    run=$!
    # wait for the archive of m_2022_02, then delete it while the drop waits on the lock
    for _ in $(seq 50); do f=$(find "$WORK/lake" -name 'm_2022_02_*.parquet' 2>/dev/null); [ -n "$f" ] && break; sleep 0.1; done
    [ -n "$f" ] && rm -f "$f" && ok "archive deleted before the drop" || bad "no archive appeared"
    wait $run
    expect "run --once exits 0" 0 $?
    # noticed under the drop's lock, or already when the confirmation is verified, or
    # (on a slow machine the deletion can come first) by the archiver itself, whose
    # read-back or commit no longer finds it: whichever, no drop
    grep -qE 'chunk "public.m_2022_02": its archive no longer checks out|"public.m_2022_02" failed .*verification failed|archival of "public.m_2022_02" failed: lake: .*No such file or directory' run.log &&
        ok "missing archive noticed, chunk kept" || { bad "missing archive not noticed"; tail -20 run.log; }
    expect "archived again and dropped" 0 "$(parts_left)"
    expect "every row in the lake" 12960 "$(lake_rows)"
    ;;
malformed)
    write_config c.yaml local
    R() { redis-cli -u "$TS_TEST_REDIS_URL" "$@" >/dev/null; }
    R XADD "$TAG.request" '*' event '{"version": 1, "event_id": "not-a-uuid"}'
    R XADD "$TAG.request" '*' event '{"version": 99}'
    R XADD "$TAG.request" '*' event 'not json at all'
    R XADD "$TAG.request" '*' other 'no event field'
    R XADD "$TAG.confirmation" '*' event '{"version":1,"event_id":"00000000-0000-4000-8000-000000000000","status":"maybe"}'
    R XADD "$TAG.confirmation" '*' event "$(head -c 70000 /dev/zero | tr '\0' 'x')"
    "$BIN" -c c.yaml run --once >run.log 2>&1
    expect "run --once still archives everything" 0 $?
    expect "all dropped" 0 "$(parts_left)"
    expect "six dead letters" 6 "$(redis-cli -u "$TS_TEST_REDIS_URL" XLEN "$TAG.deadletter")"
    reasons=$(redis-cli -u "$TS_TEST_REDIS_URL" XRANGE "$TAG.deadletter" - + | grep -A1 '^reason$' | grep -v '^reason$\|^--$')
    echo "$reasons" | grep -q 'event_id' && ok "reason names the field" || { bad "reasons: $reasons"; }
    echo "$reasons" | grep -qi 'version' && ok "unknown version named" || bad "version reason"
    echo "$reasons" | grep -qi 'status' && ok "bad status named" || bad "status reason"
    ;;
restart)
    WORKERS=1 write_config c.yaml local
    "$BIN" -c c.yaml retention >ret1.log 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do [ "$(sql "SELECT count(*) FROM tsarchive.archival_events" 2>/dev/null)" = 3 ] && break; sleep 0.2; done
    expect "three requests out, no archiver yet" "m_2022_01=requested m_2022_02=requested m_2022_03=requested" "$(state_of)"
    kill -9 "${pids[0]}"
    wait "${pids[0]}" 2>/dev/null
    ids_before=$(sql "SELECT string_agg(event_id::text, ',' ORDER BY chunk_name) FROM tsarchive.archival_events")
    "$BIN" -c c.yaml run --once >run.log 2>&1
    expect "restart settles everything" 0 $?
    expect "all dropped" 0 "$(parts_left)"
    expect "the same events, each chunk requested once" "$ids_before" \
        "$(sql "SELECT string_agg(event_id::text, ',' ORDER BY chunk_name) FROM tsarchive.archival_events")"
    expect "one attempt each" 1 "$(sql "SELECT max(attempts) FROM tsarchive.archival_events")"
    expect "every row in the lake exactly once" 12960 "$(lake_rows)"
    ;;
standby)
    write_config c.yaml local
    "$BIN" -c c.yaml retention >ret1.log 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do grep -q "retention service active" ret1.log && break; sleep 0.1; done
    "$BIN" -c c.yaml retention >ret2.log 2>&1 &
    pids+=($!)
    sleep 2
    grep -q "another retention service is active on this database; standing by" ret2.log && ok "second one stands by" || bad "no standby"
    "$BIN" -c c.yaml run --once >once.log 2>&1
    expect "run --once refuses while one is active" 1 $?
    kill -TERM "${pids[0]}"
    for _ in $(seq 80); do grep -q "retention service active" ret2.log && break; sleep 0.1; done
    grep -q "retention service active" ret2.log && ok "standby takes over when the first stops" || bad "no takeover"
    ;;
scale_out)
    sql "CREATE TABLE m_2021_q PARTITION OF m FOR VALUES FROM ('2021-01-01') TO ('2021-07-01');
         CREATE TABLE m_2021_h PARTITION OF m FOR VALUES FROM ('2021-07-01') TO ('2022-01-01');
         INSERT INTO m SELECT '2021-01-01'::timestamptz + i * interval '1 hour', i, i, 'old' FROM generate_series(0, 8759) i;"
    expired_parts="$expired_parts,'m_2021_q','m_2021_h'"
    WORKERS=1 write_config c.yaml local
    "$BIN" -c c.yaml archiver >arc1.log 2>&1 &
    pids+=($!)
    "$BIN" -c c.yaml archiver >arc2.log 2>&1 &
    pids+=($!)
    "$BIN" -c c.yaml retention --once >ret.log 2>&1
    expect "retention --once settles" 0 $?
    expect "all five dropped" 0 "$(parts_left)"
    expect "five confirmations, one per chunk (no duplicate)" "5 0" \
        "$(grep -c 'dropped chunk' ret.log) $(grep -c 'ignored (a duplicate)' ret.log)"
    expect "the settled entries were trimmed from both streams" "0 0" \
        "$(redis-cli -u "$TS_TEST_REDIS_URL" XLEN "$TAG.confirmation") $(redis-cli -u "$TS_TEST_REDIS_URL" XLEN "$TAG.request")"
    a1=$(grep -c 'archived chunk' arc1.log) a2=$(grep -c 'archived chunk' arc2.log)
    expect "archived once in all" 5 $((a1 + a2))
    [ "$a1" -ge 1 ] && [ "$a2" -ge 1 ] && ok "both processes took work ($a1 + $a2)" || bad "one process did all ($a1 + $a2)"
    expect "every row in the lake once" $((12960 + 8760)) "$(lake_rows)"
    ;;
batch_limit)
    sql "CREATE TABLE m_2021_q PARTITION OF m FOR VALUES FROM ('2021-01-01') TO ('2021-07-01');
         CREATE TABLE m_2021_h PARTITION OF m FOR VALUES FROM ('2021-07-01') TO ('2022-01-01');
         INSERT INTO m SELECT '2021-01-01'::timestamptz + i * interval '1 hour', i, i, 'old' FROM generate_series(0, 8759) i;"
    expired_parts="$expired_parts,'m_2021_q','m_2021_h'"
    # Another session holds a lock that lets exports read but makes the first drop
    # wait, so requests stay out long enough to be seen: with the cap, 2; without, 5.
    LOCK_TIMEOUT_MS=30000 write_config c.yaml local "archival_batch_size: 2"
    psql "$DB_URL" -qX -c "BEGIN; LOCK TABLE m_2021_q, m_2021_h, m_2022_01, m_2022_02, m_2022_03 IN ROW EXCLUSIVE MODE;
                           SELECT pg_sleep(3); COMMIT;" >/dev/null 2>&1 &
    pids+=($!)
    sleep 0.5
    "$BIN" -c c.yaml run --once >run.log 2>&1 &
    run=$!
    max=0 samples=0
    while kill -0 $run 2>/dev/null; do   # the state table, sampled all through the run
        n=$(sql "SELECT count(*) FROM tsarchive.archival_events WHERE state IN ('requested', 'archived')" 2>/dev/null)
        [ -n "$n" ] && { samples=$((samples + 1)); [ "$n" -gt "$max" ] && max=$n; }
        sleep 0.05
    done
    wait $run
    expect "run --once exits 0" 0 $?
    expect "all five dropped" 0 "$(parts_left)"
    expect "requests out while the first drop waited: the cap" 2 "$max"
    [ "$samples" -ge 5 ] && ok "sampled $samples times" || bad "only $samples samples"
    ;;
idempotent)
    write_config c.yaml local
    "$BIN" -c c.yaml archiver >arc.log 2>&1 &
    pids+=($!)
    req='{"version":1,"event_id":"6f1c1c7e-9d55-4f53-9a3f-3c4f0b5b2a10","attempt":1,"requested_at":"2026-01-01T00:00:00Z","database":"'$DB_NAME'","chunk":{"hypertable_schema":"public","hypertable":"m","chunk_schema":"public","chunk_name":"m_2022_01","range_kind":"timestamp","range_start":"2022-01-01T00:00:00Z","range_end":"2022-02-01T00:00:00Z","source":"partition"}}'
    redis-cli -u "$TS_TEST_REDIS_URL" XADD "$TAG.request" '*' event "$req" >/dev/null
    for _ in $(seq 100); do [ "$(redis-cli -u "$TS_TEST_REDIS_URL" XLEN "$TAG.confirmation")" = 1 ] && break; sleep 0.1; done
    f=$(find "$WORK/lake" -name '*.parquet')
    [ -n "$f" ] && ok "archived once" || bad "no archive"
    before=$(stat -c '%i %Y %s' "$f")
    sleep 1.1
    redis-cli -u "$TS_TEST_REDIS_URL" XADD "$TAG.request" '*' event "$req" >/dev/null
    for _ in $(seq 100); do [ "$(redis-cli -u "$TS_TEST_REDIS_URL" XLEN "$TAG.confirmation")" = 2 ] && break; sleep 0.1; done
    expect "two confirmations" 2 "$(redis-cli -u "$TS_TEST_REDIS_URL" XLEN "$TAG.confirmation")"
    grep -q 'and unchanged: confirming without writing again' arc.log && ok "second request confirmed without rewriting" || bad "rewrote"
    expect "object untouched (inode, mtime, size)" "$before" "$(stat -c '%i %Y %s' "$f")"
    expect "both confirmations are successes" 2 "$(redis-cli -u "$TS_TEST_REDIS_URL" XRANGE "$TAG.confirmation" - + | grep -c '"status":"success"')"
    ;;
*) echo "unknown case $case"; exit 2 ;;
esac
finish
