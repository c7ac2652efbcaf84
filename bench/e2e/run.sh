#!/usr/bin/env bash
# bench/e2e/run.sh: the end-to-end benchmark (by hand, never in CI).
#
# What it measures: the whole archival workflow on ~13 M rows in ~130 weekly range
# partitions that are all past retention (730 days) plus one current partition:
# `tsarchive archiver` (background) + `tsarchive retention --once` (foreground, timed)
# request, export to Parquet, upload, verify, confirm and drop every expired chunk.
# Its peer is the sum of plain `tsarchive export --chunk` wall times of the same chunks
# to local files, one after the other; ratio = (sum of export s) / (e2e s), goal >= 0.8.
# The licence to drop reads every archived object back in full and hashes its rows
# (docs/services.md): "rb s" is the sum of those reads (the retention service logs each
# one's time) and "rb/exp" its ratio to the archiver's own export and upload seconds
# (it logs each chunk's), both on the same chunks in the same run.
# Reports chunks, rows, Parquet bytes, e2e s, chunks/min, rows/s, MB/s (10^6 bytes),
# and peak RSS (/usr/bin/time -v) of the archiver and of the retention service, per run
# and as medians, for a local lake and for Azurite, and for archiver.workers 2 (the
# default) and 1. Every run starts from a pristine copy (CREATE DATABASE ... TEMPLATE)
# and checks: every expired partition dropped, the current one kept, rows in
# tsarchive.archival_events = expired rows, lake objects = chunks.
#
# usage: bench/e2e/run.sh [local|azure|both]          (default both)
# env:   TSARCHIVE  binary (default build/tsarchive)
#        RUNS       runs per setting (default 3)
#        YEARS      years of expired data (default 2.5)
#        DEVICES    rows per minute of data (default 10; 10 -> ~100,800 rows a chunk)
#        WORKERS    archiver.workers settings to try (default "2 1")
#        PORT_BASE  private servers on PORT_BASE+432/+379/+0/+433, HTTP +80/+81 (default 21000)
#        KEEP=1     keep the work folder (logs, configs)
# Starts its own PostgreSQL, Redis and Azurite (scripts/services) and stops them at exit.
set -euo pipefail
{ # the whole script is read before it runs: editing it meanwhile cannot break a run
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mode=${1:-both}
case "$mode" in local) kinds="local" ;; azure) kinds="azure" ;; both) kinds="local azure" ;;
*) echo "usage: bench/e2e/run.sh [local|azure|both]" >&2; exit 2 ;; esac
bin=${TSARCHIVE:-$root/build/tsarchive}
runs=${RUNS:-3}
years=${YEARS:-2.5}
devices=${DEVICES:-10}
workers_list=${WORKERS:-2 1}
base=${PORT_BASE:-21000}
die() { echo "bench/e2e: FAIL: $*" >&2; exit 1; }
[ -x /usr/bin/time ] || die "needs /usr/bin/time (apt-get install -y time)"
[ -x "$bin" ] || die "tsarchive binary \"$bin\" not found (build it, or set TSARCHIVE=path)"
for t in psql redis-cli curl bc awk; do command -v "$t" >/dev/null || die "needs $t"; done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"

WORK=$(mktemp -d /tmp/bench-e2e.XXXXXX)
chmod 755 "$WORK" # PostgreSQL runs as user postgres under it
export TS_SERVICES_DIR=$WORK/svc TS_PG_PORT=$((base + 432)) TS_REDIS_PORT=$((base + 379))
export TS_AZURITE_PORT=$base TS_TSDB_PORT=$((base + 433)) TS_REDIS_TLS_PORT=$((base + 380))
export PGOPTIONS="-c client_min_messages=warning"
HTTP_RET=127.0.0.1:$((base + 80)) HTTP_ARC=127.0.0.1:$((base + 81))
bg=() # PIDs of /usr/bin/time wrappers still running
cleanup() {
    local rc=$? p
    for p in "${bg[@]}"; do
        pkill -TERM -P "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    "$root/scripts/services" stop >/dev/null 2>&1 || true
    if [ "${KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then echo "bench/e2e: work folder kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- servers ----
svcs="pg redis"
[[ "$kinds" == *azure* ]] && svcs="$svcs azurite"
for s in $svcs; do
    "$root/scripts/services" start "$s" >/dev/null 2>>"$WORK/services.log" ||
        { cat "$WORK/services.log" >&2; die "could not start $s (ports ${TS_PG_PORT}/${TS_REDIS_PORT}/${TS_AZURITE_PORT})"; }
done
. "$TS_SERVICES_DIR/env"
ADMIN=$TS_TEST_PG_URL
url_of() { echo "${ADMIN%/*}/$1"; }
sqlq() { psql "$1" -qXAt -v ON_ERROR_STOP=1 -c "$2"; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print 0; else print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
now() { date +%s.%N; }
calc() { echo "$1" | bc -l; }
# peak_kb FILE: "Maximum resident set size" of a /usr/bin/time -v report
peak_kb() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }

echo "bench/e2e: $(basename "$bin") = $bin"
echo "bench/e2e: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start; work folder $WORK"

# ---- the pristine data, once ----
t0=$(now)
psql "$ADMIN" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE bench_tpl" >/dev/null
TPL=$(url_of bench_tpl)
psql "$TPL" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
SET timezone = 'UTC';
CREATE TABLE metrics (ts timestamptz NOT NULL, device int NOT NULL, value double precision,
                      status text, reading numeric(12,3)) PARTITION BY RANGE (ts);
DO \$\$
DECLARE
  lo timestamptz := date_trunc('week', now() - interval '730 days' - interval '$years years');
  hi timestamptz := date_trunc('week', now() - interval '730 days');
  w timestamptz := lo;
  p text;
BEGIN
  PERFORM setseed(0.42); -- the same data every time
  WHILE w < hi LOOP
    p := 'metrics_w' || to_char(w, 'YYYYMMDD');
    EXECUTE format('CREATE TABLE %I PARTITION OF metrics FOR VALUES FROM (%L) TO (%L)', p, w, w + interval '1 week');
    EXECUTE format(\$f\$INSERT INTO %I
      SELECT t, d, CASE WHEN (i + d) %% 97 = 0 THEN NULL ELSE sin(i * 0.01 + d) * 1000 + random() END,
             (ARRAY['ok','ok','ok','warn','fail'])[1 + (i + d) %% 5],
             round(((i * 7 + d * 13) %% 100000) * 0.123, 3)
      FROM generate_series(0, 10079) i, generate_series(1, $devices) d,
           LATERAL (SELECT %L::timestamptz + i * interval '1 minute') s(t)\$f\$, p, w);
    w := w + interval '1 week';
  END LOOP;
END
\$\$;
CREATE TABLE metrics_current PARTITION OF metrics
  FOR VALUES FROM (date_trunc('day', now()) - interval '7 days') TO (date_trunc('day', now()) + interval '7 days');
INSERT INTO metrics SELECT now() - i * interval '1 minute', 1, i, 'current', NULL FROM generate_series(1, 1000) i;
SQL
psql "$TPL" -qX -v ON_ERROR_STOP=1 -c "VACUUM (FREEZE, ANALYZE)" >/dev/null
mapfile -t CHUNKS < <(sqlq "$TPL" "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                                     WHERE i.inhparent = 'public.metrics'::regclass AND c.relname <> 'metrics_current' ORDER BY 1")
NCHUNKS=${#CHUNKS[@]}
ROWS=$(sqlq "$TPL" "SELECT count(*) FROM metrics WHERE tableoid <> 'metrics_current'::regclass")
HEAP=$(sqlq "$TPL" "SELECT sum(pg_relation_size(c.oid)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                     WHERE i.inhparent = 'public.metrics'::regclass AND c.relname <> 'metrics_current'")
RANGE=$(sqlq "$TPL" "SELECT min(ts)::date || ' .. ' || max(ts)::date FROM metrics WHERE tableoid <> 'metrics_current'::regclass")
[ "$NCHUNKS" -ge 100 ] || die "only $NCHUNKS expired chunks (need 100+): raise YEARS"
printf 'bench/e2e: data: %d expired weekly partitions (%s), %d rows, heap %.1f MB, + metrics_current (1000 rows); built in %.0f s\n' \
    "$NCHUNKS" "$RANGE" "$ROWS" "$(calc "$HEAP / 1000000")" "$(calc "$(now) - $t0")"

# write_config FILE KIND WORKERS TAG DBURL
write_config() {
    {
        echo "retention_period_days: 730"
        echo "lakehouse_container: \"$4\""
        echo "database:"
        echo "  url: \"$5\""
        echo "  include: [\"public.metrics\"]"
        echo "redis:"
        echo "  url: \"$TS_TEST_REDIS_URL\""
        echo "  request_stream: \"$4.request\""
        echo "  confirmation_stream: \"$4.confirmation\""
        echo "  deadletter_stream: \"$4.deadletter\""
        echo "archiver:"
        echo "  workers: $3"
        echo "lake:"
        echo "  kind: $2"
        [ "$2" = local ] && echo "  path: \"$WORK/lake-$4\""
        echo "http:"
        echo "  retention_listen: \"$HTTP_RET\""
        echo "  archiver_listen: \"$HTTP_ARC\""
    } >"$1"
}

# the peer: every chunk exported to a file, one after the other; prints per-chunk seconds
cat >"$WORK/peer.sh" <<'PEER'
#!/usr/bin/env bash
# peer.sh BIN CONFIG OUTDIR CHUNK...: tsarchive export of each chunk in turn
set -euo pipefail
bin=$1 cfg=$2 out=$3
shift 3
for c in "$@"; do
    t0=$(date +%s.%N)
    "$bin" -c "$cfg" export --chunk "public.$c" -o "$out/$c.parquet" >/dev/null
    t1=$(date +%s.%N)
    echo "$c $t0 $t1"
done
PEER
chmod +x "$WORK/peer.sh"

# phase_stats ARCHIVER_LOG RETENTION_LOG: where the time goes, from the services' log
# timestamps: start to first request, request to archived (queueing + export + upload +
# verify), archived to dropped (confirmation, verify, change proof, DROP), last drop to exit
phase_stats() {
    local s1 s2
    s1=$(cat "$1" "$2" | awk '
        function sec(ts,  a) { split(substr(ts, 12, 12), a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
        function eid() { match($0, /event_id=[^]]*/); return substr($0, RSTART + 9, RLENGTH - 9) }
        /requested archival of chunk/ { rq[eid()] = sec($1) }
        /archived chunk/ { ar[eid()] = sec($1) }
        /dropped chunk/ { dr[eid()] = sec($1) }
        END { for (id in dr) printf "%.3f %.3f\n", ar[id] - rq[id], dr[id] - ar[id] }')
    s2=$(awk '
        function sec(ts,  a) { split(substr(ts, 12, 12), a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
        /retention service active/ { st = sec($1) }
        /requested archival of chunk/ && !fr { fr = sec($1) }
        /dropped chunk/ { ld = sec($1) }
        /^summary:/ { match($0, /[0-9.]+ s$/); tot = substr($0, RSTART, RLENGTH - 2) }
        END { printf "start->1st request %.2fs, last drop at %.1fs of %.1fs", fr - st, ld - st, tot }' "$2")
    printf '%s; request->archived median %.2fs max %.2fs; archived->dropped median %.2fs max %.2fs' "$s2" \
        "$(cut -d' ' -f1 <<<"$s1" | median)" "$(cut -d' ' -f1 <<<"$s1" | sort -g | tail -n1)" \
        "$(cut -d' ' -f2 <<<"$s1" | median)" "$(cut -d' ' -f2 <<<"$s1" | sort -g | tail -n1)"
}

declare -A R # results: R[kind,workers,field] = space-separated values over runs
results_line() { # kind workers field value
    R[$1,$2,$3]="${R[$1,$2,$3]:-}$4 "
}
cmds_printed=""

one_run() { # kind workers run
    local kind=$1 w=$2 r=$3 tag db dburl cfg peer_out t_a t_b tpid apid rc arc_rc
    tag=bench-$kind-w$w-r$r-$$
    db=bench_${kind}_w${w}_r$r
    psql "$ADMIN" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
        -c "CREATE DATABASE $db TEMPLATE bench_tpl STRATEGY FILE_COPY" >/dev/null
    dburl=$(url_of "$db")
    cfg=$WORK/$tag.yaml
    write_config "$cfg" "$kind" "$w" "$tag" "$dburl"
    if [ "$kind" = azure ]; then export TSARCHIVE_LAKEHOUSE_CONNECTION_STRING=$TS_TEST_AZURE_CONNECTION_STRING; fi

    # -- peer: plain exports, one after the other --
    peer_out=$WORK/peer-$tag
    mkdir -p "$peer_out"
    /usr/bin/time -v -o "$WORK/$tag.peer.time" "$WORK/peer.sh" "$bin" "$cfg" "$peer_out" "${CHUNKS[@]}" \
        >"$WORK/$tag.peer.txt" 2>"$WORK/$tag.peer.log" || { tail -5 "$WORK/$tag.peer.log" >&2; die "$tag: export loop failed"; }
    local sum_exp loop_wall peer_bytes peer_rss
    sum_exp=$(awk '{s += $3 - $2} END {printf "%.3f", s}' "$WORK/$tag.peer.txt")
    loop_wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$WORK/$tag.peer.time")
    peer_rss=$(peak_kb "$WORK/$tag.peer.time")
    peer_bytes=$(du -sb "$peer_out" | cut -f1)
    [ "$(wc -l <"$WORK/$tag.peer.txt")" = "$NCHUNKS" ] || die "$tag: export loop exported $(wc -l <"$WORK/$tag.peer.txt") of $NCHUNKS chunks"
    rm -rf "$peer_out"

    # -- end to end: archiver in the background, retention --once timed --
    /usr/bin/time -v -o "$WORK/$tag.arc.time" "$bin" -c "$cfg" archiver 2>"$WORK/$tag.arc.log" &
    tpid=$!
    bg+=("$tpid")
    for _ in $(seq 150); do curl -sf "http://$HTTP_ARC/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    curl -sf "http://$HTTP_ARC/readyz" >/dev/null 2>&1 || { tail -5 "$WORK/$tag.arc.log" >&2; die "$tag: archiver not ready after 15 s"; }
    t_a=$(now)
    rc=0
    /usr/bin/time -v -o "$WORK/$tag.ret.time" "$bin" -c "$cfg" retention --once 2>"$WORK/$tag.ret.log" || rc=$?
    t_b=$(now)
    apid=$(pgrep -P "$tpid" || true)
    [ -n "$apid" ] && kill -TERM "$apid"
    arc_rc=0
    wait "$tpid" || arc_rc=$?
    bg=("${bg[@]/$tpid}")
    if [ -z "$cmds_printed" ]; then
        cmds_printed=1
        echo "commands (per run; CONFIG = $WORK/<tag>.yaml, kept with KEEP=1):"
        echo "  createdb:  psql -c \"CREATE DATABASE <db> TEMPLATE bench_tpl STRATEGY FILE_COPY\""
        echo "  peer:      for c in <chunks>; do $bin -c CONFIG export --chunk public.\$c -o OUT/\$c.parquet; done   (each timed; loop under /usr/bin/time -v)"
        echo "  archiver:  /usr/bin/time -v $bin -c CONFIG archiver &   (SIGTERM after retention exits)"
        echo "  e2e:       /usr/bin/time -v $bin -c CONFIG retention --once   (timed)"
        echo "  config:    $(grep -v '^ *url:\|connection' "$cfg" | tr -s ' \n' ' ' | cut -c1-300)"
    fi
    [ "$rc" = 0 ] || { tail -15 "$WORK/$tag.ret.log" >&2; die "$tag: retention --once exited $rc"; }
    [ "$arc_rc" = 0 ] || { tail -15 "$WORK/$tag.arc.log" >&2; die "$tag: archiver exited $arc_rc after SIGTERM"; }

    # -- checks --
    local parts cur ev_rows ev_n bytes objs
    parts=$(sqlq "$dburl" "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.metrics'::regclass")
    cur=$(sqlq "$dburl" "SELECT count(*) FROM metrics_current")
    read -r ev_n ev_rows bytes < <(sqlq "$dburl" "SELECT count(*), coalesce(sum(rows), 0), coalesce(sum(bytes), 0)
                                                  FROM tsarchive.archival_events WHERE state = 'dropped'" | tr '|' ' ')
    if [ "$kind" = local ]; then
        objs=$(find "$WORK/lake-$tag" -name '*.parquet' | wc -l)
    else
        objs=$("$bin" -c "$cfg" lake ls 2>>"$WORK/$tag.ls.log" | grep -c '\.parquet' || true)
    fi
    [ "$parts" = 1 ] || die "$tag: $parts partitions left, expected 1 (metrics_current)"
    [ "$cur" = 1000 ] || die "$tag: metrics_current holds $cur rows, expected 1000"
    [ "$ev_n" = "$NCHUNKS" ] || die "$tag: $ev_n chunks dropped per tsarchive.archival_events, expected $NCHUNKS"
    [ "$ev_rows" = "$ROWS" ] || die "$tag: archival_events count $ev_rows rows, expected $ROWS"
    [ "$objs" = "$NCHUNKS" ] || die "$tag: $objs objects in the lake, expected $NCHUNKS"

    local e2e arc_rss ret_rss warns phases rb rb_n
    read -r rb rb_n < <(awk '/read back .* in full \(/ { match($0, /rows, [0-9.]+ s\)/); s += substr($0, RSTART + 6, RLENGTH - 9); n++ }
                             END { printf "%.3f %d\n", s, n }' "$WORK/$tag.ret.log")
    [ "$rb_n" = "$NCHUNKS" ] || die "$tag: $rb_n read-backs logged, expected $NCHUNKS"
    local ex ex_n
    read -r ex ex_n < <(awk '/archived chunk .*export and upload [0-9.]+ s\)/ { match($0, /upload [0-9.]+ s\)/); s += substr($0, RSTART + 7, RLENGTH - 10); n++ }
                             END { printf "%.3f %d\n", s, n }' "$WORK/$tag.arc.log")
    phases=$(phase_stats "$WORK/$tag.arc.log" "$WORK/$tag.ret.log")
    e2e=$(calc "$t_b - $t_a")
    arc_rss=$(peak_kb "$WORK/$tag.arc.time")
    ret_rss=$(peak_kb "$WORK/$tag.ret.time")
    warns=$(cat "$WORK/$tag.arc.log" "$WORK/$tag.ret.log" | grep -ciE '\b(warn|error)\b' || true)
    printf '  %-5s w%d run %d: %d chunks %d rows %.1f MB  e2e %6.2fs  %6.1f chunks/min %8.0f rows/s %5.2f MB/s | exports %6.2fs (loop %.1fs, %.1f MB) ratio %.3f | RSS arc %d KB ret %d KB (export %d KB) | warn/err lines %d | load %s\n' \
        "$kind" "$w" "$r" "$ev_n" "$ev_rows" "$(calc "$bytes / 1000000")" "$e2e" "$(calc "$ev_n * 60 / $e2e")" \
        "$(calc "$ev_rows / $e2e")" "$(calc "$bytes / 1000000 / $e2e")" "$sum_exp" "$loop_wall" \
        "$(calc "$peer_bytes / 1000000")" "$(calc "$sum_exp / $e2e")" "$arc_rss" "$ret_rss" "$peer_rss" "$warns" \
        "$(cut -d' ' -f1 /proc/loadavg)"
    printf '      read-back: %d objects read back in full in %.2fs (sum), %.3f of the plain exports; the archiver exported and uploaded %d in %.2fs (sum): read-back/export in the services %.3f\n' \
        "$rb_n" "$rb" "$(calc "$rb / $sum_exp")" "$ex_n" "$ex" "$(calc "$rb / $ex")"
    echo "      phases: $phases"
    results_line "$kind" "$w" rb "$rb"
    results_line "$kind" "$w" rbr "$(calc "$rb / $ex")"
    results_line "$kind" "$w" e2e "$e2e"
    results_line "$kind" "$w" cpm "$(calc "$ev_n * 60 / $e2e")"
    results_line "$kind" "$w" rps "$(calc "$ev_rows / $e2e")"
    results_line "$kind" "$w" mbs "$(calc "$bytes / 1000000 / $e2e")"
    results_line "$kind" "$w" bytes "$bytes"
    results_line "$kind" "$w" exp "$sum_exp"
    results_line "$kind" "$w" ratio "$(calc "$sum_exp / $e2e")"
    results_line "$kind" "$w" arss "$arc_rss"
    results_line "$kind" "$w" rrss "$ret_rss"

    # -- tidy up this run --
    psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
    redis-cli -u "$TS_TEST_REDIS_URL" DEL "$tag.request" "$tag.confirmation" "$tag.deadletter" >/dev/null
    rm -rf "$WORK/lake-$tag"
    return 0
}

for w in $workers_list; do
    for kind in $kinds; do
        echo "== $kind lake, archiver.workers $w, $runs runs"
        for ((r = 1; r <= runs; r++)); do one_run "$kind" "$w" "$r"; done
    done
done

med() { tr ' ' '\n' <<<"$1" | grep . | median; }
{
    echo "---- summary: bench/e2e/run.sh $mode (RUNS=$runs YEARS=$years DEVICES=$devices) $(date -u +%FT%TZ)"
    echo "binary $bin; $(nproc) CPUs, load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
    printf 'data: %d expired weekly chunks, %d rows, heap %.1f MB; medians over %d runs:\n' "$NCHUNKS" "$ROWS" "$(calc "$HEAP / 1000000")" "$runs"
    printf '%-6s %-3s %8s %9s %9s %7s %9s %9s %7s %9s %7s %9s %9s\n' lake wrk "e2e s" chunks/m rows/s "MB/s" "pq MB" "export s" ratio "rb s" "rb/exp" "arc KB" "ret KB"
    for w in $workers_list; do
        for kind in $kinds; do
            printf '%-6s %-3s %8.2f %9.1f %9.0f %7.2f %9.1f %9.2f %7.3f %9.2f %7.3f %9.0f %9.0f\n' "$kind" "$w" \
                "$(med "${R[$kind,$w,e2e]}")" "$(med "${R[$kind,$w,cpm]}")" "$(med "${R[$kind,$w,rps]}")" \
                "$(med "${R[$kind,$w,mbs]}")" "$(calc "$(med "${R[$kind,$w,bytes]}") / 1000000")" \
                "$(med "${R[$kind,$w,exp]}")" "$(med "${R[$kind,$w,ratio]}")" \
                "$(med "${R[$kind,$w,rb]}")" "$(med "${R[$kind,$w,rbr]}")" \
                "$(med "${R[$kind,$w,arss]}")" "$(med "${R[$kind,$w,rrss]}")"
        done
    done
    echo "ratio = sum of plain export seconds / e2e seconds (goal >= 0.8), measured one after the other"
    echo "rb s = sum of the full read-backs that license the drops; rb/exp = rb s / the archiver's own export+upload seconds (summed from its log)"
    echo "(other load on the machine moves both); all checks passed"
}
exit
}
