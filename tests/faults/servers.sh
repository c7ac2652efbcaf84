#!/usr/bin/env bash
# servers.sh CASE: a server the services depend on restarts or goes away while they
# work. Each case runs its own PostgreSQL or Redis (private_servers) so it can stop
# and start it; the services must ride through by themselves.
#   pg_restart_export   PostgreSQL restarted while an export is stalled mid-COPY: the
#                       export fails, its request is left un-acked and served again;
#                       the retention service reconnects and takes the lead again
#   pg_restart_drop     PostgreSQL restarted inside the drop transaction (DROP done, its
#                       state not written): the transaction is gone, the chunk stays,
#                       and the drop is retried after the reconnect
#   redis_restart       Redis restarted mid-run (AOF on): streams, groups and pending
#                       entries survive; both services reconnect
#   redis_down          Redis down for 12 s, longer than the 5 s visibility timeout
# cases: pg_restart_export pg_restart_drop redis_restart redis_down
case=${1:?usage: servers.sh CASE}
FAULT_CASE=$case
. "$(dirname "$0")/lib.sh"
need_services

arc_fault="" ret_fault=""
case "$case" in
pg_restart_export) private_servers pg; arc_fault="archiver.export@1:sleep=4000" victim=arc ;;
pg_restart_drop) private_servers pg; ret_fault="retention.after_drop@1:sleep=4000" victim=ret ;;
redis_restart | redis_down) private_servers redis; arc_fault="archiver.export@1:sleep=3000" victim=arc ;;
*) echo "unknown case $case"; exit 2 ;;
esac

standard_data 3
WORKERS=1 fault_config local
supervise arc "$arc_fault" archiver
supervise ret "$ret_fault" retention
wait_for 60 "the stall" log_has "$victim" "fault injection: sleep" && ok "stalled at the fault point"

case "$case" in
pg_restart_export | pg_restart_drop)
    server stop pg && server start pg && ok "PostgreSQL restarted" || bad "PostgreSQL restart"
    ;;
redis_restart)
    server stop redis && server start redis && ok "Redis restarted" || bad "Redis restart"
    ;;
redis_down)
    server stop redis && ok "Redis stopped"
    sleep 12 # the outage itself: longer than the visibility timeout
    server start redis && ok "Redis started again after 12 s" || bad "Redis start"
    ;;
esac

settle 150
stop_all
check_promises

case "$case" in
pg_restart_export)
    log_has arc "interrupted" && ok "the stalled export failed and was left for a retry" || bad "no interrupted export"
    log_has ret "lost the database connection; reconnecting" && log_has ret "reconnected to the database" &&
        ok "the retention service reconnected" || bad "no retention reconnect"
    ;;
pg_restart_drop)
    log_has ret "lost the database connection; reconnecting" && ok "the retention service noticed" || bad "no reconnect"
    expect "the chunk whose drop was cut off was dropped once" 3 "$(grep -c 'dropped chunk' "$WORK/ret.log")"
    ;;
redis_restart | redis_down)
    log_has arc "reconnected to" && ok "the archiver reconnected to Redis" || bad "no archiver reconnect"
    log_has ret "reconnected to" && ok "the retention service reconnected to Redis" || bad "no retention reconnect"
    expect "each chunk requested once" 1 "$(sql "SELECT max(attempts) FROM tsarchive.archival_events")"
    ;;
esac
check_sanitizers
finish
