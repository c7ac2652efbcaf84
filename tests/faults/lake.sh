#!/usr/bin/env bash
# lake.sh CASE: the lake fails under the running services (supervised processes, as in
# crash.sh): Azure Blob (Azurite) goes away, is busy, refuses the key; a local lake
# fills up; an archived object is replaced behind the services' back. Each case
# injects its fault, proves it happened (the log, the proxy's counters), lets the
# system settle with nobody stepping in, and checks the promises (lib.sh): no chunk
# dropped without its verified archive, every row that left the database in the lake.
#   azurite_down     a private Azurite stopped while the archiver exports (held by the
#                    fault archiver.export@1:sleep=5000), kept down >= 10 s, started
#                    again on its data: lake retries, failure confirmations with
#                    backoff (retry in 1 s, 2 s), no drop while it is down, then success
#   azurite_503      tools/fault-proxy.mjs in front of Azurite answers 503 ServerBusy
#                    with Retry-After: 1 for the first 8 s: the lake retries (honouring
#                    Retry-After: 1000 ms), the proxy counts the 503s, all archived
#   azure_wrong_key  after the first chunk is archived and dropped, the proxy spoils
#                    the Shared Key signature for 10 s (Azurite answers 403): failure
#                    confirmations naming the 403, no drop in that time, then settled
#   lake_full        a local lake on a 1 MiB tmpfs, smaller than any chunk's Parquet
#                    (1.8-2.0 MB each): failure confirmations with ENOSPC, retries with
#                    backoff, no drop, no temp file left while every chunk waits for
#                    its retry; the tmpfs grown to 64 MiB, the system settles by itself
#                    (needs mount: skips with 77 where it is not permitted)
#   object_replaced  the archive of m_2022_02 replaced by another chunk's (valid)
#                    Parquet object while its drop waits for a lock: not dropped ("no
#                    longer checks out" / "verification failed"), archived again, and
#                    the final object holds exactly that chunk's rows
# cases: azurite_down azurite_503 azure_wrong_key lake_full object_replaced
case=${1:?usage: lake.sh CASE}
FAULT_CASE=$case
. "$(dirname "$0")/lib.sh"
need_services

# Enough attempts for a fault of 10 s with retry_backoff_s 1 (1, 2, 4, 8 s): a chunk
# must never go dead here. Debug logging shows the lake's retries ("retry N of M").
export TSARCHIVE_RETENTION_MAX_ATTEMPTS=10 TSARCHIVE_LOG_LEVEL=debug

lake_mounted=0
lake_cleanup() {
    stop_all
    stop_proxy
    if [ "$lake_mounted" = 1 ]; then umount "$LAKE" 2>/dev/null || umount -l "$LAKE" 2>/dev/null; fi
    cleanup
}
trap lake_cleanup EXIT

no_drop_since() { [ "$(parts_left)" = "$1" ]; }
# conditions for wait_for, which runs its command again each time (a "$(...)" in its
# arguments would be evaluated once, before the first poll)
failed_at_least() { [ "$(failed_attempts)" -ge "$1" ]; }
stat_above() { [ "$(stat_of "$1")" -gt "$2" ]; }
n_in() { grep -c -- "$2" "$WORK/$1.log" 2>/dev/null; } # n_in NAME TEXT: matching lines
failed_attempts() { grep -c 'failed (attempt [0-9]* of [0-9]*), chunk kept, retry in' "$WORK/ret.log" 2>/dev/null; }
# samples parts_left until the file $1 exists; fails if any sample differs from $2
hold_parts() {
    local want=$2 n
    while [ ! -e "$1" ]; do
        n=$(parts_left 2>/dev/null) || n=$want
        if [ "$n" != "$want" ]; then echo "$n" >"$1.bad"; return 1; fi
        sleep 0.2
    done
}

standard_data 3
case "$case" in
azurite_down)
    private_servers azurite
    # one worker: while it sleeps in the export, nothing else is under way
    export TSARCHIVE_LAKE_MAX_RETRIES=3 # a request gives up within ~2 s: failure confirmations
    WORKERS=1 fault_config azure
    supervise arc "archiver.export@1:sleep=5000" archiver
    supervise ret "" retention
    wait_for 60 "the archiver to stall mid-export" log_has arc "fault injection: sleep 5000 ms at archiver.export" &&
        ok "the archiver stalls mid-export"
    server stop azurite
    port_open "$TS_AZURITE_PORT" && bad "Azurite still answers after stop" || ok "Azurite stopped mid-export"
    t_down=$SECONDS
    before=$(parts_left)
    expect "nothing dropped before the outage" 3 "$before"
    wait_for 60 "two failed attempts while Azurite is down" failed_at_least 2
    while [ $((SECONDS - t_down)) -lt 10 ]; do # the outage lasts 10 s at least
        no_drop_since "$before" || break
        sleep 0.2
    done
    expect "no chunk dropped while Azurite was down ($((SECONDS - t_down)) s)" "$before" "$(parts_left)"
    server start azurite
    wait_for 60 "Azurite back" port_open "$TS_AZURITE_PORT" && ok "Azurite started again on its data"
    n=$(failed_attempts)
    [ "$n" -ge 2 ] && ok "failure confirmations while it was down ($n)" || bad "failure confirmations: $n"
    # a second failure of the same chunk depends on how fast the machine is within the
    # outage; when there was one, it must have backed off longer (e2e_failure_dead
    # checks the whole 1 s, 2 s sequence deterministically)
    log_has ret "retry in 1 s" && ok "retention schedules a retry after 1 s" || bad "no retry scheduled"
    if grep -q "failed (attempt 2 of" "$WORK/ret.log"; then
        log_has ret "retry in 2 s" && ok "a second failure backs off 2 s" || bad "no exponential backoff"
    fi
    log_has arc "retry 1 of 3 in" && ok "the lake retried the unreachable endpoint" || bad "no lake retries logged"
    log_has arc "could not reach" && ok "the failures name the unreachable endpoint" || bad "no 'could not reach' in the archiver log"
    settle 90
    expect "every chunk archived once it was back" 3 "$(n_in arc 'archived chunk')"
    ;;
azurite_503)
    need_services TS_TEST_AZURE_CONNECTION_STRING
    start_proxy 503
    fault_config azure
    supervise arc "" archiver
    supervise ret "" retention
    wait_for 60 "the first 503" stat_above 503 0
    t_busy=$SECONDS
    while [ $((SECONDS - t_busy)) -lt 8 ]; do # Azure is busy for 8 s
        no_drop_since 3 || break
        sleep 0.2
    done
    expect "nothing dropped while every request was answered 503" 3 "$(parts_left)"
    set_mode pass
    busy=$(stat_of 503)
    [ "$busy" -gt 0 ] && ok "the proxy answered $busy requests with 503" || bad "no 503 served"
    log_has arc "server busy, retry 1 of [0-9]* in 1000 ms" && ok "the lake retried, honouring Retry-After: 1 (1000 ms)" ||
        bad "no retry after a 503 in the archiver log"
    settle 90
    [ "$(stat_of pass)" -gt 0 ] && ok "requests passed once Azure was back ($(stat_of pass))" || bad "nothing passed"
    expect "every chunk archived in the end" 3 "$(sql "SELECT count(*) FROM tsarchive.archival_events WHERE state = 'dropped'")"
    ;;
azure_wrong_key)
    need_services TS_TEST_AZURE_CONNECTION_STRING
    start_proxy pass
    # one worker: the chunks go one after another, so the next one meets the bad key
    WORKERS=1 fault_config azure
    supervise arc "" archiver
    supervise ret "" retention
    wait_for 60 "the first chunk archived and dropped" log_has ret "dropped chunk" && ok "first chunk archived and dropped"
    set_mode 403-auth
    t_bad=$SECONDS
    # a drop whose last look at the lake came just before the switch may still commit:
    # the baseline is taken once a request has met the bad key
    wait_for 30 "the first spoiled request" stat_above 403-auth 0
    sleep 0.5
    before=$(parts_left)
    rm -f "$WORK/good"
    hold_parts "$WORK/good" "$before" &
    holder=$!
    wait_for 60 "a failure confirmation naming the 403" log_has ret "failed (attempt .*403"
    while [ $((SECONDS - t_bad)) -lt 10 ]; do sleep 0.2; done # the wrong key for 10 s
    touch "$WORK/good"
    wait "$holder" && ok "no drop while the key was wrong (kept $before partitions)" ||
        bad "a chunk was dropped while the key was wrong ($before -> $(cat "$WORK/good.bad"))"
    [ "$before" -ge 1 ] && ok "chunks left to archive when the key went wrong ($before)" || bad "nothing left to test the wrong key on"
    set_mode pass
    n=$(stat_of status:403)
    [ "$n" -gt 0 ] && ok "Azurite answered 403 to $n spoiled requests" || bad "no 403 from Azurite"
    log_has ret "failed (attempt .*AuthorizationFailure\|failed (attempt .*AuthenticationFailed" &&
        ok "the retention log names the auth failure" || bad "no auth failure in the retention log"
    log_has ret "retry in [0-9]* s" && ok "the retention side retries with backoff" || bad "no retry"
    settle 120
    ;;
lake_full)
    mkdir -p "$LAKE"
    if ! mount -t tmpfs -o size=1m tmpfs "$LAKE" 2>"$WORK/mount.err"; then
        echo "SKIP: cannot mount a tmpfs for the lake: $(cat "$WORK/mount.err")"
        exit 77
    fi
    lake_mounted=1
    fault_config local
    supervise arc "" archiver
    supervise ret "" retention
    # full until a chunk failed twice: the second failure backs off longer
    wait_for 60 "a second ENOSPC failure of one chunk" log_has ret "failed (attempt 2 of .*retry in 2 s: .*No space left on device" &&
        ok "failure confirmations with ENOSPC ($(grep -c 'failed (attempt .*No space left on device' "$WORK/ret.log")), backing off"
    # a moment when no request is out (every chunk waits for its retry): no writer
    # works, so a temp file then would be a partial write left behind
    idle() { [ "$(sql "SELECT count(*) FROM tsarchive.archival_events WHERE state IN ('requested', 'archived')")" = 0 ] &&
             [ "$(sql "SELECT count(*) FROM tsarchive.archival_events WHERE state = 'retrying'")" -ge 1 ]; }
    tmps=x
    for _ in $(seq 3); do # the state, the files, the state again: the files seen while idle
        wait_for 60 "a moment with every chunk waiting for its retry" idle || break
        t=$(find "$LAKE" -name '*.tmp-*')
        if idle; then tmps=$t; break; fi
    done
    expect "no partial temp file left after ENOSPC" "" "$tmps"
    expect "no chunk dropped while the lake was full" 3 "$(parts_left)"
    mount -o remount,size=64m "$LAKE" && ok "room made in the lake (64 MiB)" || bad "remount failed"
    settle 90
    n=$(sql "SELECT min(attempts) FROM tsarchive.archival_events")
    [ "$n" -ge 2 ] && ok "every chunk needed a retry (min attempts $n)" || bad "a chunk fit the full lake (min attempts $n)"
    ;;
object_replaced)
    LOCK_TIMEOUT_MS=30000 fault_config local
    # another session holds a lock that lets the export read but keeps the drop of
    # m_2022_02 waiting, until this test lets go (after the replacement)
    mkfifo "$WORK/lock.fifo"
    psql "$DB_URL" -qXAt -v ON_ERROR_STOP=1 <"$WORK/lock.fifo" >"$WORK/lock.log" 2>&1 &
    locker=$!
    exec 7>"$WORK/lock.fifo"
    echo "BEGIN; LOCK TABLE m_2022_02 IN ROW EXCLUSIVE MODE; SELECT 'locked';" >&7
    wait_for 20 "the lock on m_2022_02" grep -q locked "$WORK/lock.log" || exit 1
    # the services must not inherit the fifo's write end (psql would never see EOF)
    supervise arc "" archiver 7>&-
    supervise ret "" retention 7>&-
    obj() { find "$LAKE" -name "$1_*.parquet" | head -n1; }
    wait_for 60 "the archives of m_2022_01 and m_2022_02" sh -c "[ -n \"\$(find '$LAKE' -name 'm_2022_01_*.parquet')\" ] && [ -n \"\$(find '$LAKE' -name 'm_2022_02_*.parquet')\" ]"
    # and m_2022_02's committed: replaced earlier, the archiver's own commit fails on it
    # (a slow machine), and the retention side never sees it
    wait_for 60 "m_2022_02 committed" grep -q 'archived chunk "public.m_2022_02"' "$WORK/arc.log"
    victim=$(obj m_2022_02) other=$(obj m_2022_01)
    expect "m_2022_02 still in the database before the replacement" 1 "$(sql "SELECT count(*) FROM pg_class WHERE relname = 'm_2022_02'")"
    cp "$other" "$WORK/replacement.parquet" && mv -f "$WORK/replacement.parquet" "$victim" &&
        ok "archive of m_2022_02 replaced by m_2022_01's" || bad "could not replace the archive"
    printf 'COMMIT;\n\\q\n' >&7
    exec 7>&-
    wait "$locker"
    settle 90
    log_has ret 'chunk "public.m_2022_02": its archive no longer checks out\|"public.m_2022_02" failed .*verification failed' &&
        ok "the replaced archive was noticed, the chunk kept" || bad "the replaced archive was not noticed"
    n=$(n_in arc 'archived chunk "public.m_2022_02"')
    [ "$n" -ge 2 ] && ok "m_2022_02 archived again ($n times)" || bad "m_2022_02 archived $n times"
    ;;
*) echo "unknown case $case"; exit 2 ;;
esac
stop_all
check_promises
check_sanitizers
finish
