#!/usr/bin/env bash
# many.sh CASE: several services at once against one database and one Redis, six
# expired monthly partitions (standard_data 6). Two archiver processes (one worker
# each) share the request stream's consumer group; two retention services race for
# the session advisory lock that makes one of them active per database.
#   two_and_two       two archivers and two retention services: one retention service
#                     active, the other standing by all along; every chunk archived
#                     exactly once ("archived chunk" over both archiver logs == 6), both
#                     archivers took work, every chunk dropped once ("dropped chunk" over
#                     both retention logs == 6), one request and one attempt per chunk
#   standby_takeover  the same, and the active retention service is killed with SIGKILL
#                     (not restarted: the machine is gone) right after its first drop,
#                     stalled with the second chunk verified and recorded archived but
#                     not dropped (retention.before_drop@2:sleep). Its session dies with
#                     it, so the advisory lock frees: the standby takes over, drops the
#                     archived chunk, republishes the open requests (the archivers
#                     confirm those already archived without rewriting) and settles
#                     everything; still each chunk dropped exactly once
# Both end with the three promises of lib.sh.
# cases: two_and_two standby_takeover
case=${1:?usage: many.sh CASE}
FAULT_CASE=$case
. "$(dirname "$0")/lib.sh"
need_services
case "$case" in two_and_two | standby_takeover) ;; *) echo "unknown case $case"; exit 2 ;; esac

# start NAME FAULT ARGS...: one tsarchive process, not supervised (its pid in
# ${NAME}_pid; stop_all still stops it). HTTP endpoints of a second instance of a
# service move to FAULT_PORT_BASE+8/+9 (the env overrides the config's http section).
start() {
    local name=$1 fault=$2
    shift 2
    TSARCHIVE_FAULT=$fault "$BIN" -c "$WORK/c.yaml" "$@" >>"$WORK/$name.log" 2>&1 &
    pids+=($!)
    printf -v "${name}_pid" %s "$!"
}
count() { cat "$WORK"/$2 2>/dev/null | grep -c -- "$1"; } # count TEXT GLOB: lines over logs
chunks_of() { cat "$WORK"/$2 | sed -n "s/.*$1 \"public\.\(m_[0-9_]*\)\".*/\1/p" | sort | uniq -c | awk '{ printf "%s%s=%s", sep, $2, $1; sep = " " }'; }
all_once="m_2022_01=1 m_2022_02=1 m_2022_03=1 m_2022_04=1 m_2022_05=1 m_2022_06=1"

standard_data 6
WORKERS=1 fault_config local
supervise arc1 "" archiver
TSARCHIVE_HTTP_ARCHIVER_LISTEN=127.0.0.1:$((FAULT_PORT_BASE + 9)) supervise arc2 "" archiver
wait_for 30 "both archivers up" eval 'log_has arc1 "archival service starting" && log_has arc2 "archival service starting"'

victim_fault=""
[ "$case" = standby_takeover ] && victim_fault="retention.before_drop@2:sleep=30000"
start ret1 "$victim_fault" retention
wait_for 30 "the first retention service active" log_has ret1 "retention service active" &&
    ok "the first retention service is active"
TSARCHIVE_HTTP_RETENTION_LISTEN=127.0.0.1:$((FAULT_PORT_BASE + 8)) start ret2 "" retention
wait_for 30 "the second retention service standing by" log_has ret2 "another retention service is active on this database; standing by" &&
    ok "the second retention service stands by"

if [ "$case" = standby_takeover ]; then
    wait_for 60 "the first drop" log_has ret1 "dropped chunk" && ok "the active service dropped its first chunk"
    wait_for 60 "the stall before the second drop" log_has ret1 "fault injection: sleep 30000 ms at retention.before_drop (hit 2)" &&
        ok "the active service stalls before its second drop"
    stalled=$(sql "SELECT string_agg(chunk_name, ' ') FROM tsarchive.archival_events WHERE state = 'archived'")
    [ -n "$stalled" ] && ok "verified and recorded archived, not dropped: $stalled" || bad "no chunk in state archived"
    kill -9 "$ret1_pid"
    wait "$ret1_pid" 2>/dev/null
    expect "the active retention service killed with SIGKILL" 137 $?
    gone() { ! kill -0 "$ret1_pid" 2>/dev/null; }
    gone && ok "it stays dead (not supervised)" || bad "still running"
    wait_for 30 "the standby to take over" log_has ret2 "retention service active" && ok "the standby took over"
    expect "it dropped one chunk before it died" 1 "$(count 'dropped chunk' ret1.log)"
fi

settle 90
if [ "$case" = two_and_two ]; then
    # the standby never became active while the first one lived
    expect "the second retention service never became active" 0 "$(count 'retention service active' ret2.log)"
    expect "each chunk requested once, one attempt" "6 1" \
        "$(sql "SELECT count(*) || ' ' || max(attempts) FROM tsarchive.archival_events")"
    expect "six requests in the stream" 6 "$(redis-cli -u "$TS_TEST_REDIS_URL" XLEN "$TAG.request")"
    # with nothing to retry and no backlog the active service checks once an interval
    # (1 h here), not in a loop: its status counts one check since it started
    expect "the active service checked once (interval 1 h)" '"checks":1' \
        "$(curl -s "http://127.0.0.1:$((FAULT_PORT_BASE + 6))/database/retention/status" | grep -o '"checks":[0-9]*')"
fi
stop_all
a1=$(count 'archived chunk' arc1.log) a2=$(count 'archived chunk' arc2.log)
# Each chunk is exported once. After a takeover the open requests are republished; a
# chunk already archived is then confirmed "without rewriting" (not counted). A second
# export would be legitimate only for a republished request served while the first
# export of that chunk was still running (no object yet); the 30 s stall before the
# kill leaves every export finished, so here it would be a bug.
expect "every chunk archived exactly once over both archivers ($a1 + $a2)" "$all_once" "$(chunks_of 'archived chunk' 'arc*.log')"
[ "$a1" -ge 1 ] && [ "$a2" -ge 1 ] && ok "both archivers took work ($a1 + $a2)" || bad "one archiver did all ($a1 + $a2)"
expect "every chunk dropped exactly once over both retention services" "$all_once" "$(chunks_of 'dropped chunk' 'ret*.log')"
expect "the state table: six chunks dropped" 6 "$(sql "SELECT count(*) FROM tsarchive.archival_events WHERE state = 'dropped'")"
if [ "$case" = standby_takeover ]; then
    expect "the successor dropped the other five" 5 "$(count 'dropped chunk' ret2.log)"
    echo "     (republished by the successor: $(grep -c 'requested archival' "$WORK/ret2.log"); confirmed without rewriting: $(count 'confirming without rewriting' 'arc*.log'))"
fi
check_promises
check_sanitizers
finish
