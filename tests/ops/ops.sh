#!/usr/bin/env bash
# ops.sh: both services' HTTP endpoints, driven with curl against PostgreSQL 15, Redis
# and a local lake: every endpoint, every error code, the bearer-token rules, a load of
# 10,000 requests from 20 concurrent clients while 7 chunks are archived (no failed
# request, the archive intact), the metrics against the work done (parsed with
# parse-prometheus-text-format), and `tsarchive status` / `tsarchive trigger`.
. "$(dirname "$0")/../e2e/lib.sh"
need_services
WORK=$(mktemp -d)
TAG=ops$$
PIDS=()
stop_all() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    PIDS=()
}
trap 'stop_all; drop_db; redis-cli -u "$TS_TEST_REDIS_URL" DEL $TAG.request $TAG.confirmation $TAG.deadletter >/dev/null 2>&1; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
RP=$(free_port) AP=$(free_port) SP=$(free_port)
while [ "$AP" = "$RP" ]; do AP=$(free_port); done
while [ "$SP" = "$RP" ] || [ "$SP" = "$AP" ]; do SP=$(free_port); done
R=http://127.0.0.1:$RP A=http://127.0.0.1:$AP
# the token arrives through the environment, as secrets should; it must never show up
export TSARCHIVE_HTTP_TOKEN="ops-secret-$$-$RANDOM$RANDOM"
AUTH="Authorization: Bearer $TSARCHIVE_HTTP_TOKEN"
# lib.sh's 5 s visibility timeout lets a slow (sanitizer) build's chunk be reclaimed
# and archived twice (at-least-once, harmless), which would blur "7 archived = 7"
export TSARCHIVE_REDIS_VISIBILITY_TIMEOUT_S=120
new_db "tsarchive_ops"
cd "$WORK"

sql "
CREATE TABLE m (ts timestamptz NOT NULL, device int, value double precision, note text) PARTITION BY RANGE (ts);
CREATE TABLE m_recent PARTITION OF m FOR VALUES FROM (now() - interval '30 days') TO (now() + interval '30 days');
INSERT INTO m SELECT now() - i * interval '1 hour', i % 10, i, 'recent' FROM generate_series(1, 100) i;
CREATE TABLE other (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
CREATE TABLE other_recent PARTITION OF other FOR VALUES FROM (now() - interval '30 days') TO (now() + interval '30 days');
"
write_config tsarchive.yaml local "http:
  retention_listen: \"127.0.0.1:$RP\"
  archiver_listen: \"127.0.0.1:$AP\""
"$BIN" -c tsarchive.yaml retention >ret.log 2>&1 &
PIDS+=($!)
"$BIN" -c tsarchive.yaml archiver >arc.log 2>&1 &
PIDS+=($!)

# code ARGS...: the HTTP status of a curl request with the token; the body is left in
# $WORK/body. noauth ARGS...: the same without the token.
code() { curl -s -o "$WORK/body" -w '%{http_code}' -H "$AUTH" "$@"; }
noauth() { curl -s -o "$WORK/body" -w '%{http_code}' "$@"; }
jbody() { jq -r "$1" "$WORK/body" 2>/dev/null; }
for _ in $(seq 100); do
    [ "$(code $R/readyz)" = 200 ] && [ "$(code $A/readyz)" = 200 ] && break
    sleep 0.2
done
expect "retention /readyz" 200 "$(code $R/readyz)"
expect "archiver /readyz" 200 "$(code $A/readyz)"
expect "retention /healthz" "200 ok" "$(code $R/healthz) $(jbody .status)"
expect "archiver /healthz" "200 ok" "$(code $A/healthz) $(jbody .status)"

# ---- every endpoint, before any work
expect "GET /database/retention/status" "200 active" "$(code $R/database/retention/status) $(jbody .state)"
expect "status lists the tables" "public.m public.other" "$(jbody '[.tables[].table] | sort | join(" ")')"
expect "nothing expired yet" "0" "$(jbody '.totals.expired')"
expect "GET /archival/status" "200 archiver" "$(code $A/archival/status) $(jbody .service)"
expect "archiver: dependencies healthy" "true true true" \
    "$(jbody '[.connections.postgresql.ok, .connections.redis.ok, .connections.lake.ok] | map(tostring) | join(" ")')"
expect "archiver: workers" "2 2 0" "$(jbody '[.workers.configured, .workers.running, .workers.busy] | map(tostring) | join(" ")')"
expect "archiver: request stream" "$TAG.request 0" "$(jbody '.request_stream.name + " " + (.request_stream.pending | tostring)')"
expect "archiver: version and uptime" "0.1.0 true" "$(jbody '.version + " " + (.uptime_s > 0 | tostring)')"
expect "GET /archival/events (empty)" "200 0" "$(code $A/archival/events) $(jbody '.events | length')"
expect "GET /archival/metrics" "200 0" "$(code $A/archival/metrics) $(jbody .chunks_archived)"
expect "retention GET /metrics" "200" "$(code $R/metrics)"
expect "metrics content type" "text/plain; version=0.0.4; charset=utf-8" \
    "$(curl -s -o /dev/null -w '%{content_type}' -H "$AUTH" $R/metrics)"
expect "archiver GET /metrics" "200" "$(code $A/metrics)"

# ---- every error code
expect "404 unknown path (retention)" "404 404" "$(code $R/nope) $(jbody .status)"
expect "404 unknown path (archiver)" "404 404" "$(code $A/archival/nope) $(jbody .status)"
expect "405 POST on a GET endpoint" "405" "$(code -X POST -H "$AUTH" $A/archival/status)"
curl -s -D headers -o /dev/null -X POST -H "$AUTH" $A/metrics
grep -qi '^Allow: GET' headers && ok "405 names Allow: GET" || bad "no Allow header: $(cat headers)"
expect "405 GET on the trigger" "405" "$(code $R/database/retention/trigger-archival)"
curl -s -D headers -o /dev/null $R/database/retention/trigger-archival
grep -qi '^Allow: POST' headers && ok "405 names Allow: POST" || bad "no Allow header"
expect "400 limit not a number" "400" "$(code "$A/archival/events?limit=abc")"
jbody .error | grep -q '"limit"' && ok "400 names the parameter ($(jbody .error))" || bad "400 reason: $(cat body)"
expect "400 limit 0" "400" "$(code "$A/archival/events?limit=0")"
expect "400 limit too large" "400" "$(code "$A/archival/events?limit=1001")"
expect "400 unknown status" "400" "$(code "$A/archival/events?status=bogus")"
jbody .error | grep -q 'success' && ok "400 lists the statuses" || bad "400 reason: $(cat body)"
expect "401 POST without the token" "401" "$(noauth -X POST $R/database/retention/trigger-archival)"
expect "401 wrong token" "401" "$(noauth -X POST -H 'Authorization: Bearer wrong' $R/database/retention/trigger-archival)"
curl -s -D headers -o /dev/null -X POST $R/database/retention/trigger-archival
grep -qi '^WWW-Authenticate: Bearer' headers && ok "401 asks for a bearer token" || bad "no WWW-Authenticate"
# with a token set, every endpoint asks for it but the probes (Prometheus sends it)
for u in $R/database/retention/status $R/metrics $A/archival/status $A/archival/events $A/archival/metrics $A/metrics; do
    expect "401 GET ${u#http://127.0.0.1:*/} without the token" "401" "$(noauth "$u")"
done
for u in $R/healthz $R/readyz $A/healthz $A/readyz; do
    expect "GET ${u#http://127.0.0.1:*/} answers without the token" "200" "$(noauth "$u")"
done
expect "400 body not JSON" "400" "$(code -X POST -H "$AUTH" -d 'not json' $R/database/retention/trigger-archival)"
expect "400 unknown field" "400" "$(code -X POST -H "$AUTH" -d '{"tabel":"x"}' $R/database/retention/trigger-archival)"
expect "400 table not a string" "400" "$(code -X POST -H "$AUTH" -d '{"table":5}' $R/database/retention/trigger-archival)"
expect "400 query and body differ" "400" \
    "$(code -X POST -H "$AUTH" -d '{"table":"public.m"}' "$R/database/retention/trigger-archival?table=public.other")"
expect "404 trigger for an unknown table" "404" \
    "$(code -X POST -H "$AUTH" "$R/database/retention/trigger-archival?table=nosuch.table")"
head -c 70000 /dev/zero | tr '\0' x >big
expect "413 body too large" "413" \
    "$(code -X POST -H "$AUTH" --data-binary @big $R/database/retention/trigger-archival)"
expect "414 query too long" "414" "$(code "$A/archival/events?x=$(head -c 3000 big)")"
expect "trigger with nothing expired" "200 0" \
    "$(code -X POST -H "$AUTH" -d '{"table":"public.other"}' $R/database/retention/trigger-archival) $(jbody .requested)"

# ---- a standby retention service
TSARCHIVE_HTTP_RETENTION_LISTEN=127.0.0.1:$SP "$BIN" -c tsarchive.yaml retention >standby.log 2>&1 &
SPID=$!
PIDS+=($SPID)
S=http://127.0.0.1:$SP
for _ in $(seq 50); do [ "$(code -H "$AUTH" $S/healthz)" = 200 ] && break; sleep 0.2; done
for _ in $(seq 50); do grep -q "standing by" standby.log && break; sleep 0.2; done
expect "standby: status without the token" "401" "$(noauth $S/database/retention/status)"
expect "standby: /healthz without the token" "200" "$(noauth $S/healthz)"
expect "standby: status says so" "200 standby" "$(code -H "$AUTH" $S/database/retention/status) $(jbody .state)"
expect "standby: /readyz 503" "503" "$(code -H "$AUTH" $S/readyz)"
expect "standby: trigger 503" "503" "$(code -X POST -H "$AUTH" $S/database/retention/trigger-archival)"
kill $SPID
wait $SPID 2>/dev/null

# ---- a non-loopback address without a token is refused
TSARCHIVE_HTTP_TOKEN= TSARCHIVE_HTTP_ARCHIVER_LISTEN=0.0.0.0:$SP "$BIN" -c tsarchive.yaml archiver >refused.log 2>&1
expect "non-loopback without a token: refused (config error)" 3 $?
grep -q 'non-loopback' refused.log && ok "says why" || bad "refusal reason: $(cat refused.log)"

# ---- 7 expired chunks appear; the load starts; a triggered check archives them meanwhile
sql "$(for i in 1 2 3 4 5 6 7; do
    echo "CREATE TABLE m_2021_0$i PARTITION OF m FOR VALUES FROM ('2021-0$i-01') TO ('2021-0$((i + 1))-01');"
done)
INSERT INTO m SELECT t, (i % 50), sin(i) * 1000, 'n' || (i % 13)
  FROM generate_series(0, 212 * 24 * 60 - 1) i, LATERAL (SELECT '2021-01-01'::timestamptz + i * interval '1 minute') s(t)
  WHERE t < '2021-08-01';"
expired_rows=$(sql "SELECT count(*) FROM m WHERE ts < '2021-08-01'")
sleep 2.5 # the status snapshot is refreshed every 2 s
code $R/database/retention/status >/dev/null
expect "status: 7 expired chunks of public.m" 7 "$(jbody '.tables[] | select(.table == "public.m") | .expired')"
expect "status: the oldest expired chunk" public.m_2021_01 \
    "$(jbody '.tables[] | select(.table == "public.m") | .oldest_expired_chunk')"
age=$(jbody '.tables[] | select(.table == "public.m") | .oldest_expired_age_s | floor')
[ "${age:-0}" -gt $((86400 * 30)) ] && ok "status: oldest expired age ($age s)" || bad "oldest expired age: $age"

# 20 clients, 500 requests each, over every GET endpoint of both services (keep-alive)
urls=("$A/archival/status" "$A/archival/events?limit=20" "$A/archival/events?status=success" "$A/archival/metrics"
      "$A/metrics" "$A/healthz" "$A/readyz" "$R/database/retention/status" "$R/metrics" "$R/healthz" "$R/readyz")
for c in $(seq 0 19); do
    {
        echo "header = \"$AUTH\""
        for i in $(seq 0 499); do
            printf 'url = "%s"\noutput = "/dev/null"\n' "${urls[$(((c * 500 + i) % ${#urls[@]}))]}"
        done
    } >"client$c.cfg"
done
curl -s -H "$AUTH" $R/metrics >before.prom && curl -s -H "$AUTH" $A/metrics >>before.prom
fivexx() { awk '/^tsarchive_http_requests_total\{.*code="5xx"\}/ { n += $2 } END { print n + 0 }' "$@"; }
t0=$(date +%s.%N)
seq 0 19 | xargs -P 20 -I{} sh -c 'curl -s -K client{}.cfg -w "%{http_code}\n" >codes{}.txt 2>curl{}.err; echo $? >rc{}.txt' &
LOAD=$!
t_trigger=$(date +%s.%N)
"$BIN" -c tsarchive.yaml trigger --table public.m --json >trigger.json 2>trigger.err
expect "trigger --table public.m (CLI) exits 0" 0 $?
expect "trigger returns the 7 events it created" "7 7" \
    "$(jq -r '"\(.requested) \([.events[] | select(.chunk | startswith("public.m_2021_0"))] | length)"' trigger.json)"
wait $LOAD
t1=$(date +%s.%N)
# the load must still have been running when the trigger started the archiving
awk -v a="$t_trigger" -v b="$t1" 'BEGIN { exit !(b > a) }' &&
    ok "the load was running while archiving started" || bad "the load ended before the trigger"
during=$(sql "SELECT count(*) FROM tsarchive.archival_events WHERE chunk_name LIKE 'm_2021_%' AND state = 'dropped'")
echo "     chunks archived and dropped before the load ended: $during of 7"
total=$(cat codes*.txt | wc -l)
okn=$(cat codes*.txt | grep -c '^200$')
expect "load: requests answered" 10000 "$total"
expect "load: every answer 200" 10000 "$okn"
expect "load: curl exit codes" "0" "$(cat rc*.txt | sort -u | tr '\n' ' ' | sed 's/ $//')"
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
echo "     load: $total requests, 20 concurrent clients, $((total - okn)) failed, ${secs}s ($(awk -v n="$total" -v s="$secs" 'BEGIN { printf "%d", n / s }') req/s)"

# ---- the archive: all 7 archived, verified and dropped, nothing else touched
for _ in $(seq 150); do
    [ "$(sql "SELECT count(*) FROM tsarchive.archival_events WHERE state = 'dropped' AND chunk_name LIKE 'm_2021_%'")" = 7 ] && break
    sleep 0.2
done
expect "7 chunks dropped" 7 "$(sql "SELECT count(*) FROM tsarchive.archival_events WHERE state = 'dropped'")"
expect "expired partitions gone" 0 "$(sql "SELECT count(*) FROM pg_class WHERE relname LIKE 'm_2021_%'")"
expect "recent rows untouched" 100 "$(sql "SELECT count(*) FROM m")"
expect "rows recorded = rows inserted" "$expired_rows" "$(sql "SELECT sum(rows) FROM tsarchive.archival_events")"
expect "DuckDB counts the archived rows" "$expired_rows" \
    "$(lake_sql "$WORK/lake" "SELECT count(*) FROM lake")"
expect "one object per chunk" 7 "$(find lake -name '*.parquet' | wc -l)"
expect "no dead letters" 0 "$(redis-cli -u "$TS_TEST_REDIS_URL" XLEN $TAG.deadletter)"

# ---- the metrics against the work done
sleep 2.5
curl -s -H "$AUTH" $A/metrics >arc.prom && curl -s -H "$AUTH" $R/metrics >ret.prom
node "$ROOT/tests/ops/prom_check.mjs" arc.prom ret.prom >samples.tsv 2>prom.err
expect "/metrics parse and are well formed" 0 $?
[ -s prom.err ] && cat prom.err
val() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' samples.tsv; }
expect "archiver: chunks archived" 7 "$(val tsarchive_archiver_chunks_archived_total)"
expect "archiver: chunks failed" 0 "$(val tsarchive_archiver_chunks_failed_total)"
expect "archiver: rows archived" "$expired_rows" "$(val tsarchive_archiver_rows_archived_total)"
expect "archiver: bytes = objects' bytes" "$(sql "SELECT sum(bytes) FROM tsarchive.archival_events")" \
    "$(val tsarchive_archiver_bytes_archived_total)"
expect "archiver: duration histogram count" 7 "$(val tsarchive_archiver_archive_duration_seconds_count)"
expect "archiver: workers idle" 2 "$(val 'tsarchive_archiver_workers{state="idle"}')"
expect "archiver: dependencies up" "1 1 1" "$(val 'tsarchive_archiver_dependency_up{dependency="postgresql"}') $(val 'tsarchive_archiver_dependency_up{dependency="redis"}') $(val 'tsarchive_archiver_dependency_up{dependency="lake"}')"
expect "archiver: nothing pending" 0 "$(val tsarchive_archiver_request_stream_pending_entries)"
expect "retention: requests" 7 "$(val tsarchive_retention_requests_total)"
expect "retention: successes confirmed" 7 "$(val 'tsarchive_retention_confirmations_total{outcome="success"}')"
expect "retention: chunks dropped" 7 "$(val tsarchive_retention_chunks_dropped_total)"
expect "retention: rows dropped" "$expired_rows" "$(val tsarchive_retention_rows_dropped_total)"
expect "retention: triggers" 2 "$(val tsarchive_retention_triggers_total)"
expect "retention: events dropped (public.m)" 7 "$(val 'tsarchive_retention_events{state="dropped",table="public.m"}')"
expect "retention: no expired chunk left" 0 "$(val 'tsarchive_retention_chunks{kind="expired",table="public.m"}')"
expect "retention: active" 1 "$(val tsarchive_retention_active)"
expect "no 5xx answered since the load began" "$(fivexx before.prom)" "$(fivexx arc.prom ret.prom)"
n2xx=$(val 'tsarchive_http_requests_total{code="2xx",service="archiver"}')
[ "${n2xx:-0}" -ge 5000 ] && ok "archiver counted the load ($n2xx 2xx answers)" || bad "archiver 2xx count: $n2xx"

code $A/archival/metrics >/dev/null
expect "/archival/metrics: chunks, rows" "7 $expired_rows" "$(jbody '"\(.chunks_archived) \(.rows)"')"
expect "/archival/metrics: percentiles ordered" true \
    "$(jbody '.archive_duration_s | (.min <= .p50 and .p50 <= .p90 and .p90 <= .p99 and .p99 <= .max and .samples == 7)')"
expect "/archival/metrics: throughput" true "$(jbody '.throughput.rows_per_s_busy > 0')"
code "$A/archival/events?status=success&limit=3" >/dev/null
expect "/archival/events?status=success&limit=3" 3 "$(jbody '.events | length')"
expect "events newest first" true "$(jbody '[.events[].time] | . == (sort | reverse)')"
code "$A/archival/events?limit=100" >/dev/null
expect "/archival/events: the 7 chunks" "public.m_2021_01 public.m_2021_02 public.m_2021_03 public.m_2021_04 public.m_2021_05 public.m_2021_06 public.m_2021_07" \
    "$(jbody '[.events[].chunk] | sort | join(" ")')"
expect "events carry rows, bytes, duration" true "$(jbody '[.events[] | .rows > 0 and .bytes > 0 and .duration_s > 0 and .error == null] | all')"
code "$A/archival/events?status=failure" >/dev/null
expect "/archival/events?status=failure" 0 "$(jbody '.events | length')"
code $R/database/retention/status >/dev/null
expect "status after: dropped 7, expired 0" "7 0" "$(jbody '.tables[] | select(.table == "public.m") | "\(.dropped) \(.expired)"')"
expect "status: last and next check" "true true" "$(jbody '"\(.last_check != null) \(.next_check != null)"')"

# ---- the command line, both services up
"$BIN" -c tsarchive.yaml status >status.txt 2>&1
expect "status exits 0 with both up" 0 $?
grep -q "^retention service  $R  active" status.txt && ok "status: retention line" || { bad "status text"; cat status.txt; }
grep -q "^archival service   $A  2 of 2 workers running" status.txt && ok "status: archiver line" || bad "status: archiver line"
grep -Eq '^public\.m +730 d +1 +0 +0 +0 +7 ' status.txt && ok "status: table row" || { bad "status table"; cat status.txt; }
"$BIN" -c tsarchive.yaml status --json >status.json 2>&1
expect "status --json" "7 7" "$(jq -r '"\(.retention.totals.dropped) \(.archiver.metrics.chunks_archived)"' status.json)"
"$BIN" -c tsarchive.yaml trigger >trigger.txt 2>&1
expect "trigger (all tables) exits 0" 0 $?
grep -q "0 archival requests sent" trigger.txt && ok "trigger: nothing left to request" || { bad "trigger text"; cat trigger.txt; }
"$BIN" -c tsarchive.yaml trigger --table nosuch.table >trigger.txt 2>&1
expect "trigger for an unknown table exits 1" 1 $?
grep -q 'nosuch.table' trigger.txt && ok "says which table" || bad "trigger error: $(cat trigger.txt)"

# ---- `tsarchive run` serves both endpoints from one process
stop_all
"$BIN" -c tsarchive.yaml run >run.log 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ "$(code $R/readyz)" = 200 ] && [ "$(code $A/readyz)" = 200 ] && break; sleep 0.2; done
expect "run: retention endpoints" "200 active" "$(code $R/database/retention/status) $(jbody .state)"
expect "run: archiver endpoints" "200 2" "$(code $A/archival/status) $(jbody .workers.running)"
expect "run: trigger" "200 0" "$(code -X POST -H "$AUTH" $R/database/retention/trigger-archival) $(jbody .requested)"

# ---- services down: the command line reads the database
stop_all
"$BIN" -c tsarchive.yaml status >status.txt 2>&1
expect "status exits 1 with the services down" 1 $?
grep -q "NOT REACHABLE" status.txt && grep -q "state read from tsarchive.archival_events" status.txt &&
    ok "status says it fell back to the database" || { bad "fallback"; cat status.txt; }
grep -Eq '^public\.m +730 d +1 +0 +0 +0 +7 ' status.txt && ok "status (database): table row" || { bad "db table"; cat status.txt; }
"$BIN" -c tsarchive.yaml status --json >status.json 2>&1
expect "status --json (database)" "false 7" \
    "$(jq -r '"\(.retention.reachable) \(.retention.database.tables[] | select(.table == "public.m") | .dropped)"' status.json)"
"$BIN" -c tsarchive.yaml trigger >trigger.txt 2>&1
expect "trigger with the service down exits 1" 1 $?

# ---- the token never shows up in a log, a response or an output
if grep -rqF "$TSARCHIVE_HTTP_TOKEN" ./*.log ./*.txt ./*.json ./*.prom body 2>/dev/null; then
    bad "the token leaked: $(grep -rlF "$TSARCHIVE_HTTP_TOKEN" ./*.log ./*.txt ./*.json ./*.prom body)"
else
    ok "the token appears in no log, response or output"
fi
grep -q "ERROR\|error " ret.log arc.log && { echo "     (errors in the service logs:)"; grep "ERROR\|error " ret.log arc.log | head -5; }
finish
