#!/usr/bin/env bash
# services_lifecycle.sh: scripts/services on private ports and a private folder:
# starting twice starts nothing twice; stop leaves no process and no listening port;
# a port taken by someone else is refused, not shared. Private ports below the
# ephemeral range, apart from scripts/services' own.
set -u
root=$1
tmp=$(mktemp -d)
export TS_SERVICES_DIR=$tmp/services TS_PG_PORT=15432 TS_REDIS_PORT=16379 TS_REDIS_TLS_PORT=16380
export TS_AZURITE_PORT=10500 TS_TSDB_PORT=15433
[ "$(id -u)" = 0 ] && chmod 755 "$tmp"
pass=0 failn=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; failn=$((failn + 1)); }
ports="$TS_PG_PORT $TS_REDIS_PORT $TS_REDIS_TLS_PORT $TS_AZURITE_PORT $TS_TSDB_PORT"
listening() { for p in $ports; do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && echo "$p"; done; }
pids() { # the servers' pids as the pid files name them
    for f in pg/data/postmaster.pid redis/redis.pid azurite.pid pglite.pid; do
        [ -f "$TS_SERVICES_DIR/$f" ] && head -n1 "$TS_SERVICES_DIR/$f"
    done | tr '\n' ' '
}
running() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${st:0:1}" != Z ]; } # a zombie has ended
alive_count() { local n=0; for p in $1; do running "$p" && n=$((n + 1)); done; echo $n; }
cleanup() { "$root/scripts/services" stop >/dev/null 2>&1; [ "$failn" = 0 ] && rm -rf "$tmp" || { echo "--- pg.log:"; tail -20 "$tmp/services/pg/pg.log" 2>/dev/null; rm -rf "$tmp"; }; }
trap cleanup EXIT

[ -z "$(listening)" ] || { echo "private ports busy before the test: $(listening)"; exit 1; }
"$root/scripts/services" start >"$tmp/env1" 2>"$tmp/log1" && ok "start" || { bad "start"; cat "$tmp/log1"; }
[ "$(listening | wc -l)" = 5 ] && ok "five ports listening" || bad "listening: $(listening)"
grep -q "TS_TEST_PG_URL='postgresql://postgres@127.0.0.1:$TS_PG_PORT/postgres'" "$tmp/env1" && ok "prints the settings" || bad "settings not printed"
p1=$(pids)
[ "$(alive_count "$p1")" = 4 ] && ok "four server processes ($p1)" || bad "server pids: $p1"
"$root/scripts/services" start >/dev/null 2>"$tmp/log2" && ok "second start" || bad "second start"
[ "$(grep -c 'already running' "$tmp/log2")" = 4 ] && ok "second start reuses all four" || { bad "second start"; cat "$tmp/log2"; }
[ "$(pids)" = "$p1" ] && ok "no second copy of anything" || bad "pids $p1 -> $(pids)"
"$root/scripts/services" status >/dev/null && ok "status: running" || bad "status"
"$root/scripts/services" stop 2>/dev/null && ok "stop" || bad "stop"
sleep 0.5
[ -z "$(listening)" ] && ok "no port left listening" || bad "still listening: $(listening)"
[ "$(alive_count "$p1")" = 0 ] && [ -z "$(pgrep -f -- "$tmp/services")" ] && ok "no process left" || bad "processes left: $(for p in $p1; do running $p && ps -o pid=,args= -p $p; done) $(pgrep -af -- "$tmp/services")"
"$root/scripts/services" status >/dev/null; [ $? = 3 ] && ok "status: stopped (exit 3)" || bad "status after stop"

# someone else's server on our port: refuse, do not adopt it
python3 -c "import socket,time;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('127.0.0.1',$TS_REDIS_PORT));s.listen();time.sleep(30)" &
squatter=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$TS_REDIS_PORT") 2>/dev/null && break; sleep 0.1; done
"$root/scripts/services" start redis >/dev/null 2>"$tmp/log3"; rc=$?
kill $squatter 2>/dev/null
[ $rc != 0 ] && grep -q "already in use by a process this script did not start" "$tmp/log3" && ok "busy port refused" || { bad "busy port"; cat "$tmp/log3"; }

echo "$pass passed, $failn failed"
[ "$failn" = 0 ]
