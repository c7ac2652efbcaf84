#!/usr/bin/env bash
# bench/soak/run.sh: a soak run by hand (never in CI).
#
# What it does: for SECONDS (default 600) a generator creates a new 1-day range
# partition of 2,000-5,000 rows every 1-2 s, dated from 2000-01-01 on (all far past the
# 730-day retention), while `tsarchive archiver` (archiver.workers 2) and a long-running
# `tsarchive retention` (not --once) archive them into a local lake, both built with
# AddressSanitizer (ASAN_OPTIONS=detect_leaks=1) and each restarted by a supervisor loop
# the way systemd's Restart=always would. retention_check_interval_hours is at its
# minimum (1 h) and far too coarse here, so `tsarchive trigger` (POST
# /database/retention/trigger-archival) runs every TRIGGER_S (default 3 s). Faults at
# random times (every 20-45 s, each kind in turn in a shuffled cycle): kill -9 of the
# archiver, SIGTERM of the retention service, a Redis stop/start, a PostgreSQL restart
# (pg_ctl restart -m fast). VmRSS of each service process is sampled every 10 s and
# reported per process generation (start, end, max).
# At the end: the generator stops, the system gets up to DRAIN_S (default 120 s) to
# catch up, every service gets SIGTERM (so LeakSanitizer reports at exit), and:
#   - any "LeakSanitizer" / "ERROR: AddressSanitizer" / "runtime error" line in the
#     services' (and the trigger calls') stderr fails the run;
#   - nothing lost: every partition that is gone has its rows in the lake (DuckDB counts
#     each object; per partition and in total against the rows the generator logged in
#     the same transaction that created the partition);
#   - every partition still present is not expired (soak_current) or in progress
#     (requested / archived / retrying in tsarchive.archival_events).
#
# usage: bench/soak/run.sh [SECONDS]        (default 600)
# env:   TSARCHIVE  binary (default build-asan/tsarchive, a -DTS_SANITIZE=ON build)
#        PORT_BASE  private servers on PORT_BASE+432 (pg) / +379 (redis), HTTP +80/+81 (default 22000)
#        TRIGGER_S, DRAIN_S, SEED (for $RANDOM), KEEP=1 (keep the work folder)
# Starts its own PostgreSQL and Redis (scripts/services) and stops them at exit.
set -euo pipefail
{ # the whole script is read before it runs: editing it meanwhile cannot break a run
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-600}
bin=${TSARCHIVE:-$root/build-asan/tsarchive}
base=${PORT_BASE:-22000}
trigger_s=${TRIGGER_S:-3}
drain_s=${DRAIN_S:-120}
RANDOM=${SEED:-$$}
die() { echo "bench/soak: FAIL: $*" >&2; exit 1; }
[[ "$secs" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/soak/run.sh [SECONDS]" >&2; exit 2; }
[ -x /usr/bin/time ] || die "needs /usr/bin/time (apt-get install -y time)"
[ -x "$bin" ] || die "tsarchive binary \"$bin\" not found (cmake -B build-asan -DTS_SANITIZE=ON, or set TSARCHIVE=path)"
for t in psql redis-cli node curl; do command -v "$t" >/dev/null || die "needs $t"; done
[ -d "$root/tools/node_modules/@duckdb" ] || die "DuckDB for node missing in tools/node_modules (run scripts/deps)"
[ "$( (nm -D "$bin"; nm "$bin") 2>/dev/null | grep -c __asan_init)" != 0 ] ||
    echo "bench/soak: warning: $bin does not look like an AddressSanitizer build" >&2
# a small quarantine: ASan's default (256 MB of freed memory held back) would show as
# RSS growth that is not the program's
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=16}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export PGOPTIONS="-c client_min_messages=warning" LC_ALL=C

WORK=$(mktemp -d /tmp/bench-soak.XXXXXX)
chmod 755 "$WORK" # PostgreSQL runs as user postgres under it
export TS_SERVICES_DIR=$WORK/svc TS_PG_PORT=$((base + 432)) TS_REDIS_PORT=$((base + 379))
export TS_AZURITE_PORT=$base TS_TSDB_PORT=$((base + 433))
HTTP_RET=127.0.0.1:$((base + 80)) HTTP_ARC=127.0.0.1:$((base + 81))
CFG=$WORK/c.yaml
TAG=soak-$$
loops=() # background loops (supervisors, generator, trigger, sampler)

svc() { "$root/scripts/services" "$@" >>"$WORK/services.log" 2>&1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pid_of() { [ -f "$WORK/$1.pid" ] && cut -d' ' -f1 "$WORK/$1.pid"; }
alive() { local p; p=$(pid_of "$1") && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
stop_services() { # SIGTERM both services, then wait for them (ASan's leak check takes a while)
    local n p
    touch "$WORK/stopping"
    for n in archiver retention; do p=$(pid_of "$n" || true); [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 600); do alive archiver || alive retention || break; sleep 0.1; done
    for n in archiver retention; do
        if alive "$n"; then
            echo "bench/soak: $n did not stop within 60 s of SIGTERM: kill -9" | tee -a "$WORK/problems.txt" >&2
            kill -KILL "$(pid_of "$n")" 2>/dev/null || true
        fi
    done
}
cleanup() {
    local rc=$? p
    touch "$WORK/stop-gen" "$WORK/stopping" 2>/dev/null || true
    stop_services 2>/dev/null || true
    for p in "${loops[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    "$root/scripts/services" stop >/dev/null 2>&1 || true
    if [ "${KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then echo "bench/soak: work folder kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- servers, database, config ----
for s in pg redis; do
    svc start "$s" || { cat "$WORK/services.log" >&2; die "could not start $s (ports $TS_PG_PORT/$TS_REDIS_PORT)"; }
done
. "$TS_SERVICES_DIR/env"
psql "$TS_TEST_PG_URL" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE soak" >/dev/null
DB=${TS_TEST_PG_URL%/*}/soak
sqlq() { psql "$DB" -qXAt -v ON_ERROR_STOP=1 -c "$1"; }
sqlq "CREATE TABLE s (ts timestamptz NOT NULL, device int, value double precision, status text) PARTITION BY RANGE (ts);
      CREATE TABLE soak_current PARTITION OF s FOR VALUES FROM (now() - interval '1 day') TO (now() + interval '30 days');
      INSERT INTO s SELECT now() - i * interval '1 minute', 0, i, 'current' FROM generate_series(1, 100) i;
      CREATE TABLE soak_log (part text PRIMARY KEY, rows int NOT NULL, created timestamptz NOT NULL DEFAULT now());"
cat >"$CFG" <<YAML
retention_period_days: 730
retention_check_interval_hours: 1   # the minimum; \`tsarchive trigger\` every ${trigger_s} s does the rest
archival_batch_size: 10
database:
  url: "$DB"
  include: ["public.s"]
redis:
  url: "$TS_TEST_REDIS_URL"
  request_stream: "$TAG.request"
  confirmation_stream: "$TAG.confirmation"
  deadletter_stream: "$TAG.deadletter"
  visibility_timeout_s: 15
retention:
  retry_backoff_s: 2
archiver:
  workers: 2
lake:
  kind: local
  path: "$WORK/lake"
http:
  retention_listen: "$HTTP_RET"
  archiver_listen: "$HTTP_ARC"
YAML
"$bin" -c "$CFG" config check >/dev/null 2>"$WORK/config.log" || { cat "$WORK/config.log" >&2; die "config rejected"; }

# ---- background loops ----
# supervise NAME ARGS...: runs `tsarchive -c CFG ARGS` and starts it again 0.5 s after
# any exit (Restart=always), until $WORK/stopping; NAME.pid: "PID GENERATION START"
supervise() {
    local name=$1
    shift
    (
        set +e
        gen=0
        while [ ! -e "$WORK/stopping" ]; do
            gen=$((gen + 1))
            echo "=== supervisor: generation $gen starts at $(date -u +%T)" >>"$WORK/$name.log"
            "$bin" -c "$CFG" "$@" >>"$WORK/$name.log" 2>&1 &
            p=$!
            echo "$p $gen $(date +%s)" >"$WORK/$name.pid"
            echo "$p $gen $(date +%s)" >>"$WORK/$name.gens"
            wait "$p"
            rc=$?
            echo "=== supervisor: generation $gen (pid $p) exited with $rc at $(date -u +%T)" >>"$WORK/$name.log"
            case "$rc" in 2 | 3) echo "$name exited with $rc (usage/config): not restarted" >>"$WORK/problems.txt"; break ;; esac
            [ -e "$WORK/stopping" ] || sleep 0.5
        done
    ) 2>>"$WORK/supervisor.log" & # (bash's own "Killed" notices)
    loops+=($!)
}

# the generator: one transaction creates the partition, fills it, logs its rows
generator() {
    set +e
    local day=0 d d2 name n ok=0 failed=0
    while [ ! -e "$WORK/stop-gen" ]; do
        d=$(date -u -d "2000-01-01 +$day day" +%F)
        d2=$(date -u -d "2000-01-01 +$((day + 1)) day" +%F)
        name=s_d${d//-/}
        n=$((2000 + RANDOM % 3001))
        if psql "$DB" -qX -v ON_ERROR_STOP=1 >/dev/null 2>>"$WORK/generator.log" <<SQL; then
BEGIN;
CREATE TABLE $name PARTITION OF s FOR VALUES FROM ('$d 00:00:00+00') TO ('$d2 00:00:00+00');
INSERT INTO $name SELECT '$d 00:00:00+00'::timestamptz + i * (interval '1 day' / $n), i % 20, random() * 1000,
                         (ARRAY['ok','ok','warn','fail'])[1 + i % 4] FROM generate_series(0, $n - 1) i;
INSERT INTO soak_log (part, rows) VALUES ('$name', $n);
COMMIT;
SQL
            day=$((day + 1)) ok=$((ok + 1))
        elif [ "$(psql "$DB" -qXAt -c "SELECT count(*) FROM soak_log WHERE part = '$name'" 2>/dev/null)" = 1 ]; then
            day=$((day + 1)) ok=$((ok + 1)) # committed although psql saw an error
        else
            failed=$((failed + 1))
        fi
        echo "$ok $failed" >"$WORK/generator.count"
        sleep "1.$((RANDOM % 10))"
    done
}
trigger_loop() {
    set +e
    local ok=0 failed=0
    while [ ! -e "$WORK/stop-trigger" ]; do
        if "$bin" -c "$CFG" trigger >/dev/null 2>>"$WORK/trigger.log"; then ok=$((ok + 1)); else failed=$((failed + 1)); fi
        echo "$ok $failed" >"$WORK/trigger.count"
        sleep "$trigger_s"
    done
}
sample_rss() { # one sample of each service: NAME GEN PID SECONDS VmRSS_KB
    local n p g r
    for n in archiver retention; do
        [ -f "$WORK/$n.pid" ] || continue
        read -r p g _ <"$WORK/$n.pid"
        r=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
        [ -n "$r" ] && echo "$n $g $p $(date +%s) $r" >>"$WORK/rss.txt"
    done
    return 0
}
sampler() {
    set +e
    while [ ! -e "$WORK/stop-sampler" ]; do sample_rss; sleep 10; done
}

echo "bench/soak: $bin, ${secs} s, work folder $WORK; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench/soak: ASAN_OPTIONS=$ASAN_OPTIONS; servers pg $TS_PG_PORT, redis $TS_REDIS_PORT; trigger every ${trigger_s} s"
echo "commands: $bin -c $CFG archiver  |  $bin -c $CFG retention  |  $bin -c $CFG trigger  (loop)"
supervise archiver archiver
supervise retention retention
generator &
loops+=($!)
trigger_loop &
loops+=($!)
sampler &
loops+=($!)

# ---- faults ----
t_start=$(date +%s)
t_end=$((t_start + secs))
declare -A nfault=([kill9-archiver]=0 [term-retention]=0 [restart-redis]=0 [restart-pg]=0)
cycle=()
: >"$WORK/faults.txt"
while :; do
    wait_s=$((20 + RANDOM % 26))
    [ $(($(date +%s) + wait_s)) -lt "$t_end" ] || break
    sleep "$wait_s"
    if [ "${#cycle[@]}" = 0 ]; then
        mapfile -t cycle < <(printf '%s\n' kill9-archiver term-retention restart-redis restart-pg | shuf --random-source=<(yes "$RANDOM"))
    fi
    f=${cycle[0]}
    cycle=("${cycle[@]:1}")
    sample_rss
    case "$f" in
    kill9-archiver) p=$(pid_of archiver || true); [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true ;;
    term-retention) p=$(pid_of retention || true); [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true ;;
    restart-redis) svc stop redis; sleep $((1 + RANDOM % 3)); svc start redis || echo "redis did not come back at +$(($(date +%s) - t_start)) s" >>"$WORK/problems.txt" ;;
    restart-pg) as_pg /usr/lib/postgresql/15/bin/pg_ctl -D "$TS_SERVICES_DIR/pg/data" -l "$TS_SERVICES_DIR/pg/pg.log" \
        -m fast -w -t 60 restart >>"$WORK/services.log" 2>&1 || echo "pg restart failed at +$(($(date +%s) - t_start)) s" >>"$WORK/problems.txt" ;;
    esac
    nfault[$f]=$((nfault[$f] + 1))
    echo "+$(($(date +%s) - t_start))s $f" >>"$WORK/faults.txt"
done
sleep $((t_end - $(date +%s) > 0 ? t_end - $(date +%s) : 0))
echo "bench/soak: faults: $(tr '\n' ' ' <"$WORK/faults.txt")"

# ---- drain, then stop ----
touch "$WORK/stop-gen"
wait "${loops[2]}" 2>/dev/null || true
t_drain=$(date +%s)
left_expired() { sqlq "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                       WHERE i.inhparent = 'public.s'::regclass AND c.relname <> 'soak_current'" 2>/dev/null || echo '?'; }
unsettled() { sqlq "SELECT count(*) FROM tsarchive.archival_events WHERE state <> 'dropped'" 2>/dev/null || echo '?'; }
while [ $(($(date +%s) - t_drain)) -lt "$drain_s" ]; do
    [ "$(left_expired)" = 0 ] && [ "$(unsettled)" = 0 ] && break
    sleep 2
done
drained=$(($(date +%s) - t_drain))
touch "$WORK/stop-trigger"
wait "${loops[3]}" 2>/dev/null || true
sample_rss
stop_services
touch "$WORK/stop-sampler"
for p in "${loops[@]}"; do wait "$p" 2>/dev/null || true; done
loops=()

# ---- checks ----
fail=0
problem() { echo "PROBLEM: $*" | tee -a "$WORK/problems.txt"; fail=1; }
read -r gen_ok gen_failed <"$WORK/generator.count"
read -r trig_ok trig_failed <"$WORK/trigger.count" || { trig_ok=0 trig_failed=0; }
created_rows=$(sqlq "SELECT coalesce(sum(rows), 0) FROM soak_log")
gone=$(sqlq "SELECT count(*) || ' ' || coalesce(sum(rows), 0) FROM soak_log WHERE part NOT IN (SELECT relname FROM pg_class)")
read -r gone_n gone_rows <<<"$gone"
lag=$(sqlq "SELECT coalesce(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric, 1) || ' s, p95 ' ||
                    round(percentile_cont(0.95) WITHIN GROUP (ORDER BY x)::numeric, 1) || ' s, max ' || round(max(x)::numeric, 1) || ' s', 'n/a')
            FROM (SELECT extract(epoch FROM e.dropped_at - l.created) x FROM soak_log l
                  JOIN tsarchive.archival_events e ON e.chunk_name = l.part AND e.state = 'dropped') y")
states=$(sqlq "SELECT coalesce(string_agg(state || '=' || n, ' '), 'none') FROM (SELECT state, count(*) n FROM tsarchive.archival_events GROUP BY 1 ORDER BY 1) x")

# 1. nothing lost: DuckDB counts each object; objects name their partition (NAME_START_END.parquet)
node "$root/tests/e2e/duckdb_query.mjs" \
    "SELECT filename, count(*) FROM read_parquet('$WORK/lake/**/*.parquet', filename = true) GROUP BY ALL" \
    >"$WORK/lake-counts.tsv" 2>"$WORK/duckdb.log" || { cat "$WORK/duckdb.log"; problem "DuckDB could not read the lake"; }
sed -E 's#^.*/##; s#_[0-9]{8}T[0-9]{6}Z_[0-9]{8}T[0-9]{6}Z\.parquet\t# #' "$WORK/lake-counts.tsv" | sort >"$WORK/lake-parts.txt"
lake_rows=$(awk '{s += $2} END {print s + 0}' "$WORK/lake-parts.txt")
lake_objs=$(wc -l <"$WORK/lake-parts.txt")
sqlq "SELECT part, rows FROM soak_log WHERE part NOT IN (SELECT relname FROM pg_class) ORDER BY 1" | tr '|' ' ' | sort >"$WORK/gone.txt"
missing=$(join -a1 -e MISSING -o 1.1,1.2,2.2 "$WORK/gone.txt" "$WORK/lake-parts.txt" | awk '$2 != $3' || true)
[ -z "$missing" ] || problem "dropped partitions whose rows are not all in the lake (part logged lake): $(head -5 <<<"$missing" | tr '\n' ';')"
lake_gone_rows=$(join -o 2.2 "$WORK/gone.txt" "$WORK/lake-parts.txt" | awk '{s += $1} END {print s + 0}')
[ "$gone_rows" = "$lake_gone_rows" ] || problem "rows of dropped partitions $gone_rows != their rows in the lake $lake_gone_rows"
extra=$(join -v2 "$WORK/gone.txt" "$WORK/lake-parts.txt" | cut -d' ' -f1 | tr '\n' ' ')
not_dropped=$(sqlq "SELECT count(*) FROM soak_log l WHERE l.part NOT IN (SELECT relname FROM pg_class)
                    AND NOT EXISTS (SELECT 1 FROM tsarchive.archival_events e WHERE e.chunk_name = l.part AND e.state = 'dropped')")
[ "$not_dropped" = 0 ] || problem "$not_dropped partitions are gone but not 'dropped' in tsarchive.archival_events"
# 2. what is left: not expired, or in progress
bad_left=$(sqlq "SELECT coalesce(string_agg(c.relname || ':' || coalesce(e.state, 'no event'), ' '), '')
                 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 LEFT JOIN tsarchive.archival_events e ON e.chunk_name = c.relname
                 WHERE i.inhparent = 'public.s'::regclass AND c.relname <> 'soak_current'
                   AND coalesce(e.state, '') NOT IN ('requested', 'archived', 'retrying')")
[ -z "$bad_left" ] || problem "expired partitions left that are not in progress: $(cut -c1-300 <<<"$bad_left")"
[ "$(sqlq "SELECT count(*) FROM soak_current")" = 100 ] || problem "soak_current changed"
left_n=$(left_expired)
deadletters=$(redis-cli -u "$TS_TEST_REDIS_URL" XLEN "$TAG.deadletter" 2>/dev/null || echo '?')
tmpfiles=$(find "$WORK/lake" -type f ! -name '*.parquet' 2>/dev/null | wc -l)
# 3. sanitizers
san=$(grep -hE 'LeakSanitizer|ERROR: AddressSanitizer|runtime error' "$WORK"/archiver.log "$WORK"/retention.log "$WORK"/trigger.log 2>/dev/null || true)
[ -z "$san" ] || problem "sanitizer reports: $(sort <<<"$san" | uniq -c | head -10 | tr '\n' ';')"
[ ! -s "$WORK/problems.txt" ] || fail=1
gens() { [ -f "$WORK/$1.gens" ] && wc -l <"$WORK/$1.gens" || echo 0; }
logcount() { grep -cE "$2" "$WORK/$1.log" 2>/dev/null || true; }

{
    echo "---- summary: bench/soak/run.sh $secs ($(date -u +%FT%TZ)); $bin"
    echo "load: $(nproc) CPUs, load average at end $(cut -d' ' -f1-3 /proc/loadavg); ASAN_OPTIONS=$ASAN_OPTIONS"
    echo "faults: $(for k in kill9-archiver term-retention restart-redis restart-pg; do printf '%s %d  ' "$k" "${nfault[$k]}"; done)"
    echo "generations: archiver $(gens archiver), retention $(gens retention); trigger calls ok $trig_ok failed $trig_failed"
    echo "generator: $gen_ok partitions, $created_rows rows ($gen_failed attempts failed during faults)"
    echo "dropped: $gone_n partitions, $gone_rows rows; lake: $lake_objs objects, $lake_rows rows (DuckDB)${extra:+; objects of partitions still present: $extra}"
    echo "lag from partition created to dropped: median $lag"
    echo "left: $left_n expired partitions after ${drained} s of drain (limit ${drain_s} s); events: $states; dead letters $deadletters; non-parquet files in the lake $tmpfiles"
    echo "log lines: archiver warn $(logcount archiver ' warn ') error $(logcount archiver ' error '); retention warn $(logcount retention ' warn ') error $(logcount retention ' error ')"
    echo "RSS per generation (KB: first sample / last / max, samples every 10 s):"
    [ -f "$WORK/rss.txt" ] && awk '{k = $1 " g" $2; if (!(k in first)) {first[k] = $5; order[++n] = k; pid[k] = $3; t0[k] = $4}
                  last[k] = $5; t1[k] = $4; if ($5 > max[k]) max[k] = $5; cnt[k]++}
         END {for (i = 1; i <= n; i++) {k = order[i]; printf "  %-13s pid %-7s %4d s %2d samples: %7d / %7d / %7d\n", k, pid[k], t1[k] - t0[k], cnt[k], first[k], last[k], max[k]}}' "$WORK/rss.txt"
    echo "sanitizer lines: $( [ -z "$san" ] && echo none || grep -c . <<<"$san")"
    if [ "$fail" = 0 ]; then echo "result: PASS (nothing lost, nothing stuck, no sanitizer report)"; else echo "result: FAIL:"; sed 's/^/  /' "$WORK/problems.txt"; fi
}
[ "$fail" = 0 ]
exit
}
