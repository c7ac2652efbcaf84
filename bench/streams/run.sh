#!/usr/bin/env bash
# bench/streams/run.sh [CHUNKS]: are the Redis streams bounded? (by hand, never in CI)
#
# Archives CHUNKS (default 5000) small expired partitions (100 rows each) through both
# services on the servers of scripts/services (source build/services/env first), with
# 100 garbage entries on the request stream for the dead-letter stream (capped at 1000
# here), and prints, before and after: the request, confirmation and dead-letter
# streams' lengths and Redis memory (INFO memory used_memory, and MEMORY USAGE of each
# stream). Settled entries are trimmed by the retention service (every 30 s and when
# it stops), so the streams end about where they started.
set -euo pipefail
n=${1:-5000}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${TSARCHIVE:-$root/build/tsarchive}
: "${TS_TEST_PG_URL:?source build/services/env first}" "${TS_TEST_REDIS_URL:?}"
work=$(mktemp -d /tmp/bench-streams.XXXXXX)
db=tsarchive_bench_streams tag=bstreams$$
url=${TS_TEST_PG_URL%/*}/$db
R() { redis-cli -u "$TS_TEST_REDIS_URL" "$@"; }
cleanup() {
    psql "$TS_TEST_PG_URL" -qX -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    R DEL "$tag.request" "$tag.confirmation" "$tag.deadletter" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
export PGOPTIONS="-c client_min_messages=warning"
psql "$TS_TEST_PG_URL" -qX -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
psql "$url" -qX -v ON_ERROR_STOP=1 -c "CREATE TABLE m (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)" >/dev/null
for ((i = 0; i < n; i++)); do
    echo "CREATE TABLE m_$i PARTITION OF m FOR VALUES FROM ('2000-01-01'::timestamptz + interval '$i day') TO ('2000-01-01'::timestamptz + interval '$((i + 1)) day');"
done | psql "$url" -qX -v ON_ERROR_STOP=1 >/dev/null
psql "$url" -qX -c "INSERT INTO m SELECT '2000-01-01'::timestamptz + (i / 100) * interval '1 day' + (i % 100) * interval '1 minute', i
                    FROM generate_series(0, $n * 100 - 1) i" >/dev/null
cat >"$work/c.yaml" <<EOF2
archival_batch_size: 200
database:
  url: "$url"
redis:
  url: "$TS_TEST_REDIS_URL"
  request_stream: "$tag.request"
  confirmation_stream: "$tag.confirmation"
  deadletter_stream: "$tag.deadletter"
  deadletter_maxlen: 1000
archiver:
  workers: 2
lake:
  kind: local
  path: "$work/lake"
http:
  retention_listen: "127.0.0.1:28480"
  archiver_listen: "127.0.0.1:28481"
EOF2
mem() { R INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
usage() { R MEMORY USAGE "$1" 2>/dev/null | grep -E '^[0-9]+$' || echo 0; }
show() {
    printf '%-7s request %6s entries %9s B | confirmation %6s entries %9s B | deadletter %5s entries %9s B | Redis used_memory %s B\n' \
        "$1" "$(R XLEN "$tag.request")" "$(usage "$tag.request")" "$(R XLEN "$tag.confirmation")" \
        "$(usage "$tag.confirmation")" "$(R XLEN "$tag.deadletter")" "$(usage "$tag.deadletter")" "$(mem)"
}
show before
for i in $(seq 100); do R XADD "$tag.request" '*' event "garbage $i" >/dev/null; done
t0=$(date +%s.%N)
"$bin" -c "$work/c.yaml" run --once >"$work/run.log" 2>&1 || { tail -5 "$work/run.log"; echo "run --once failed"; exit 1; }
t1=$(date +%s.%N)
show after
grep '^summary:' "$work/run.log"
awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN { printf "%d chunks in %.1f s (%.0f chunks/min)\n", n, b - a, n * 60 / (b - a) }'
