#!/usr/bin/env bash
# bench/fdw/run.sh: tsarchive_fdw against PostgreSQL's own heap (by hand, never in CI).
#
# What it measures, on one year of metrics (12 monthly partitions, a row every STEP_S
# seconds: ~6.3 M rows at 5 s) archived by `tsarchive run --once` into a local lake:
#   full       a full scan of one archived chunk (June) through the foreign table
#              (count, sum, avg of one column), against a sequential scan of the same
#              rows in a heap table;
#   full_all   the same, reading every column;
#   selective  one day of the year (count, sum, avg) through the foreign table, against
#              the same query on a heap table of the whole year with a btree index on ts.
# Each query runs once to warm up, then RUNS times in the same session; the medians
# are compared (ratio = foreign / heap). Parallel query is off (one process each). It
# prints the files and row groups the foreign scan read and skipped (EXPLAIN ANALYZE),
# and each backend's peak memory (VmHWM) after the full scans. The answers of both sides
# must be equal, else the run fails.
#
# usage: bench/fdw/run.sh
# needs: the servers of `source build/services/env` (TS_TEST_PG_URL, TS_TEST_REDIS_URL),
#        tsarchive_fdw installed there (make -C ext/tsarchive_fdw install), and to run
#        on the server's machine (the lake is a local folder; VmHWM from /proc)
# env:   TSARCHIVE       binary (default build/tsarchive)
#        RUNS            timed runs per query (default 3)
#        STEP_S          seconds between rows (default 5)
#        ROW_GROUP_ROWS  parquet.row_group_rows of the archive (default 131072)
#        KEEP=1          keep the database and the work folder
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${TSARCHIVE:-$root/build/tsarchive}
runs=${RUNS:-3}
step=${STEP_S:-5}
rgrows=${ROW_GROUP_ROWS:-131072}
die() { echo "bench/fdw: FAIL: $*" >&2; exit 1; }
[ -x "$bin" ] || die "tsarchive binary \"$bin\" not found (build it, or set TSARCHIVE=path)"
[ -n "${TS_TEST_PG_URL:-}" ] && [ -n "${TS_TEST_REDIS_URL:-}" ] || die "source build/services/env first"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
export PGOPTIONS="-c client_min_messages=warning"

db=bench_fdw_$$
url=${TS_TEST_PG_URL%/*}/$db
WORK=$(mktemp -d /tmp/bench-fdw.XXXXXX)
chmod 755 "$WORK" # the server reads the lake as its own OS user
tag=benchfdw$$
cleanup() {
    if [ "${KEEP:-0}" = 1 ]; then
        echo "bench/fdw: kept database $db and $WORK" >&2
    else
        psql "$TS_TEST_PG_URL" -qX -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
        rm -rf "$WORK"
    fi
    redis-cli -u "$TS_TEST_REDIS_URL" DEL "$tag.request" "$tag.confirmation" "$tag.deadletter" >/dev/null 2>&1 || true
}
trap cleanup EXIT
q() { psql "$url" -qXAt -v ON_ERROR_STOP=1 -c "$1"; }
[ "$(psql "$TS_TEST_PG_URL" -qXAt -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'tsarchive_fdw'")" = 1 ] ||
    die "tsarchive_fdw is not installed (make -C ext/tsarchive_fdw install)"

echo "bench/fdw: one year, a row every $step s, row groups of $rgrows rows, $runs runs" >&2
psql "$TS_TEST_PG_URL" -qX -c "CREATE DATABASE $db" >/dev/null
q "CREATE TABLE m (ts timestamptz NOT NULL, device int NOT NULL, value double precision,
                   status text) PARTITION BY RANGE (ts);
   DO \$\$ BEGIN FOR k IN 0..11 LOOP
     EXECUTE format('CREATE TABLE m_%s PARTITION OF m FOR VALUES FROM (%L) TO (%L)',
                    to_char('2022-01-01'::date + k * interval '1 month', 'YYYY_MM'),
                    '2022-01-01'::date + k * interval '1 month', '2022-01-01'::date + (k + 1) * interval '1 month');
   END LOOP; END \$\$;
   INSERT INTO m SELECT '2022-01-01'::timestamptz + i * interval '$step seconds', i % 100,
                        (i % 4000) * 0.25, (ARRAY['ok','warn','fail','ok'])[1 + i % 4]
     FROM generate_series(0, 365 * 86400 / $step - 1) i;
   CREATE TABLE heap_year AS SELECT * FROM m;
   CREATE INDEX ON heap_year (ts);
   CREATE TABLE heap_chunk AS SELECT * FROM m_2022_06;"
q "VACUUM ANALYZE heap_year"
q "VACUUM ANALYZE heap_chunk"
rows=$(q "SELECT count(*) FROM heap_year")
chunk_rows=$(q "SELECT count(*) FROM heap_chunk")

mkdir -p "$WORK/lake"
cat >"$WORK/tsarchive.yaml" <<EOF
database:
  url: "$url"
redis:
  url: "$TS_TEST_REDIS_URL"
  request_stream: "$tag.request"
  confirmation_stream: "$tag.confirmation"
  deadletter_stream: "$tag.deadletter"
lake:
  kind: local
  path: "$WORK/lake"
parquet:
  row_group_rows: $rgrows
EOF
t0=$(date +%s.%N)
"$bin" -c "$WORK/tsarchive.yaml" run --once >"$WORK/run.log" 2>&1 || { tail -5 "$WORK/run.log"; die "run --once failed"; }
echo "bench/fdw: archived $rows rows in $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-5) s ($(du -sh "$WORK/lake" | cut -f1) of Parquet)" >&2
chmod -R a+rX "$WORK/lake"
q "CREATE EXTENSION tsarchive_fdw;
   CREATE SERVER lake FOREIGN DATA WRAPPER tsarchive_fdw OPTIONS (path '$WORK/lake');
   CREATE SCHEMA archive;
   IMPORT FOREIGN SCHEMA \"$db\" FROM SERVER lake INTO archive"

june="ts >= '2022-06-01' AND ts < '2022-07-01'"
day="ts >= '2022-06-15' AND ts < '2022-06-16'"
declare -A F H
F[full]="SELECT count(*), sum(value), avg(value) FROM archive.m WHERE $june"
H[full]="SELECT count(*), sum(value), avg(value) FROM heap_chunk"
F[full_all]="SELECT count(*), sum(value), max(device), max(status), max(ts) FROM archive.m WHERE $june"
H[full_all]="SELECT count(*), sum(value), max(device), max(status), max(ts) FROM heap_chunk"
F[selective]="SELECT count(*), sum(value), avg(value) FROM archive.m WHERE $day"
H[selective]="SELECT count(*), sum(value), avg(value) FROM heap_year WHERE $day"

# times SQL: the median of RUNS timed runs (ms) after a warm-up, in one session
times() {
    local args=(-X -q -c "SET max_parallel_workers_per_gather = 0" -c '\timing on')
    for _ in $(seq 0 "$runs"); do args+=(-c "$1"); done
    psql "$url" "${args[@]}" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n "$runs" | sort -n |
        awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
# hwm SQL: the backend's peak resident memory (kB) after running SQL in a fresh session
hwm() {
    psql "$url" -X -q -At <<EOF | tail -1
SET max_parallel_workers_per_gather = 0;
SELECT pg_backend_pid() AS pid \gset
\o /dev/null
$1;
\o
\setenv BPID :pid
\! awk '/VmHWM/ { print \$2 }' /proc/\$BPID/status
EOF
}
explained() { # SQL: the foreign scan's counters as "label=N ..."
    psql "$url" -XAt -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) $1" |
        sed -n 's/^ *\(Files Live\|Files Skipped (Log Statistics)\|Files Read\|Row Groups Read\|Row Groups Skipped (Statistics)\): \([0-9]*\)$/\1=\2/p' | paste -sd' ' -
}

printf '\n%-10s %12s %12s %8s   %s\n' "query" "foreign ms" "heap ms" "ratio" "foreign scan"
for k in full full_all selective; do
    [ "$(q "${F[$k]}")" = "$(q "${H[$k]}")" ] || die "$k: the foreign table and the heap answer differently"
    f=$(times "${F[$k]}")
    h=$(times "${H[$k]}")
    printf '%-10s %12s %12s %8s   %s\n' "$k" "$f" "$h" "$(echo "scale=2; $f / $h" | bc)" "$(explained "${F[$k]}")"
done
echo
echo "rows: $rows in the year, $chunk_rows in the June chunk; heap plan for selective: $(psql "$url" -XAt -c "EXPLAIN (COSTS OFF) ${H[selective]}" | grep -m1 'Scan' | sed 's/^ *-> *//')"
echo "peak backend memory after the full_all scan (VmHWM): foreign $(hwm "${F[full_all]}") kB, heap $(hwm "${H[full_all]}") kB"
