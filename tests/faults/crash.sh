#!/usr/bin/env bash
# crash.sh CASE: a service killed with SIGKILL at the point where it hurts most (the
# named fault points of docs/faults.md), restarted by a supervisor as systemd would.
# Both services run as long-lived processes; the system must settle by itself with
# every chunk archived exactly once (one object, no partial write left) and dropped
# only after its verified archive.
#   arc_kill_export          archiver killed mid-COPY (rows read, object half written)
#   arc_kill_write           archiver killed while Parquet bytes go to the lake (local)
#   arc_kill_block           archiver killed between Azure blocks (staged, not committed)
#   arc_kill_uploaded        archiver killed with the object whole in the lake, not yet
#                            committed to the table's log: the retry commits that upload
#   arc_kill_committed       archiver killed after the log commit, before confirming: the
#                            retry finds the live version and confirms it
#   arc_kill_before_confirm  archiver killed with the confirmation encoded, not sent (Azure)
#   arc_kill_before_ack      archiver killed after confirming, the request not acked:
#                            the request is served again and confirmed as a duplicate
#   arc_stall_held           archiver stalled 12 s (past the 5 s visibility timeout) with
#                            its object whole, a second archiver idle: the stalled one
#                            keeps holding its request, nobody archives the chunk twice
#   ret_kill_before_drop     retention killed after a verified confirmation, before the drop
#   ret_kill_after_drop      retention killed inside the drop transaction, DROP done, its
#                            state not written: the transaction rolls back, nothing is lost
#   ret_kill_after_commit    retention killed after the drop committed, the confirmation not
#                            acked: the redelivered confirmation is a duplicate
# cases: arc_stall_held arc_kill_export arc_kill_write arc_kill_block arc_kill_uploaded arc_kill_committed arc_kill_before_confirm arc_kill_before_ack ret_kill_before_drop ret_kill_after_drop ret_kill_after_commit
case=${1:?usage: crash.sh CASE}
FAULT_CASE=$case
. "$(dirname "$0")/lib.sh"
need_services

kind=local arc_fault="" ret_fault=""
case "$case" in
arc_kill_export) arc_fault="archiver.export@1:kill" point=archiver.export ;;
arc_kill_write) arc_fault="archiver.write@2:kill" point=archiver.write ;;
arc_kill_block) need_services TS_TEST_AZURE_CONNECTION_STRING; kind=azure arc_fault="lake.block_put@1:kill" point=lake.block_put ;;
arc_kill_uploaded) arc_fault="archiver.uploaded@1:kill" point=archiver.uploaded ;;
arc_kill_committed) arc_fault="archiver.committed@1:kill" point=archiver.committed ;;
arc_kill_before_confirm) need_services TS_TEST_AZURE_CONNECTION_STRING; kind=azure arc_fault="archiver.before_confirm@1:kill" point=archiver.before_confirm ;;
arc_kill_before_ack) arc_fault="archiver.before_ack@1:kill" point=archiver.before_ack ;;
arc_stall_held) arc_fault="archiver.committed@1:sleep=12000" point=archiver.committed ;;
ret_kill_before_drop) ret_fault="retention.before_drop@1:kill" point=retention.before_drop ;;
ret_kill_after_drop) ret_fault="retention.after_drop@1:kill" point=retention.after_drop ;;
ret_kill_after_commit) ret_fault="retention.after_commit@1:kill" point=retention.after_commit ;;
*) echo "unknown case $case"; exit 2 ;;
esac

standard_data 3
WORKERS=1 fault_config "$kind"
supervise arc "$arc_fault" archiver
supervise ret "$ret_fault" retention
if [ -n "$arc_fault" ]; then victim=arc; else victim=ret; fi
if [ "$case" = arc_stall_held ]; then
    supervise arc2 "" archiver
    wait_for 60 "the stall" log_has arc "fault injection: sleep 12000 ms at $point" && ok "stalled at $point"
    wait_for 30 "the end of the stall" log_has arc "fault injection: resumed" && ok "resumed after 12 s"
    settle 60
    stop_all
    check_promises
    expect "three chunks archived, each once, over both archivers" 3 "$(cat "$WORK/arc.log" "$WORK/arc2.log" | grep -c 'archived chunk')"
    log_has arc2 "confirming without writing again" && bad "the second archiver took the held request" || ok "the held request was not taken over"
    check_sanitizers
    finish
    exit
fi

wait_for 60 "the fault at $point" log_has "$victim" "fault injection: kill at $point" &&
    ok "killed at $point"
wait_for 30 "the supervisor's restart" log_has "$victim" "exited with 137" && ok "restarted after SIGKILL (exit 137)"
settle 120
if [ "$case" = arc_kill_before_ack ]; then
    # the request never acked is served again (after the 5 s visibility timeout);
    # its second confirmation must change nothing
    wait_for 60 "the duplicate confirmation" log_has ret "ignored (a duplicate)" &&
        ok "the second confirmation was ignored as a duplicate"
    groups
    wait_for 30 "no request left pending" none_pending "$TAG.request" "$ARC_GROUP" &&
        ok "no request left pending"
fi
stop_all
check_promises

case "$case" in
arc_kill_uploaded)
    log_has arc "an upload whose commit was interrupted" &&
        ok "the upload left behind was committed by the retry, not exported again" ||
        bad "the interrupted upload was not committed"
    ;;
arc_kill_committed | arc_kill_before_confirm)
    # the whole object was there: the request served again finds it and confirms
    log_has arc "and unchanged: confirming without writing again" &&
        ok "the version left behind was recognised, not written twice" || bad "the object was written again"
    ;;
arc_kill_export | arc_kill_write | arc_kill_block)
    [ "$(grep -c 'archived chunk' "$WORK/arc.log")" = 3 ] && ok "three chunks archived, each once" ||
        bad "archived lines: $(grep -c 'archived chunk' "$WORK/arc.log")"
    ;;
ret_kill_before_drop | ret_kill_after_drop)
    expect "each chunk requested once, one attempt" 1 "$(sql "SELECT max(attempts) FROM tsarchive.archival_events")"
    [ "$(grep -c 'dropped chunk' "$WORK/ret.log")" = 3 ] && ok "three drops in all" ||
        bad "dropped lines: $(grep -c 'dropped chunk' "$WORK/ret.log")"
    ;;
ret_kill_after_commit)
    # the confirmation the killed service never acked comes back to its successor
    # (reclaimed after the 5 s visibility timeout) and is ignored: the state says dropped
    supervise ret "" retention
    groups
    wait_for 60 "the unacked confirmation to be settled" none_pending "$TAG.confirmation" "$RET_GROUP" &&
        ok "no confirmation left pending"
    log_has ret "ignored (a duplicate)" && ok "the redelivered confirmation was a duplicate" ||
        bad "no duplicate confirmation seen"
    stop_all
    expect "still three chunks dropped, each once" 3 "$(sql "SELECT count(*) FROM tsarchive.archival_events WHERE state = 'dropped'")"
    ;;
esac
check_sanitizers
finish
