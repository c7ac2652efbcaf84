#!/usr/bin/env bash
# bench/tsdb/compressed.sh: export rows/s from a compressed chunk (read through
# TimescaleDB's decompression) against an uncompressed chunk of the same rows, on
# PGlite+TimescaleDB (or any TimescaleDB). Two hypertables of one chunk each, the same
# N rows (timestamptz, int, double, text); one compressed (segmentby device, orderby ts).
# `tsarchive export --chunk` of each, RUNS times; prints each run, the best, rows/s and
# the ratio. The schema is dropped at the end.
#
# usage: bench/tsdb/compressed.sh [ROWS]   (default 500000)
# env:   BENCH_TSDB_URL (default TS_TEST_TSDB_URL), TSARCHIVE (default build/tsarchive),
#        RUNS (default 3), OUT (default /tmp)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
url=${BENCH_TSDB_URL:-${TS_TEST_TSDB_URL:-}}
[ -n "$url" ] || { echo "set BENCH_TSDB_URL or TS_TEST_TSDB_URL (source build/services/env)" >&2; exit 2; }
bin=${TSARCHIVE:-$root/build/tsarchive}
runs=${RUNS:-3}
out=${OUT:-/tmp}
rows=${1:-500000}
schema=bench_tsdb_compressed
# PGlite serves one connection at a time and refuses the others: psql's exit code 2
# (no connection) is retried, for a few minutes
q() {
  local rc
  for _ in $(seq 1 120); do
    rc=0; psql "$url" -X -q -v ON_ERROR_STOP=1 "$@" || rc=$?
    [ "$rc" = 2 ] || return "$rc"
    sleep 2
  done
  return "$rc"
}
cleanup() { q -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null || true; rm -f "$out"/bench_tsdb_[uz].parquet "$out/bench_tsdb_err"; }
trap cleanup EXIT

q <<SQL >/dev/null
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS $schema CASCADE;
CREATE SCHEMA $schema;
CREATE TABLE $schema.u (ts timestamptz NOT NULL, device int NOT NULL, v double precision, note text);
SELECT create_hypertable('$schema.u', 'ts', chunk_time_interval => interval '3650 days');
INSERT INTO $schema.u SELECT timestamptz '2020-01-01' + i * interval '1 second', i % 100,
  i * 0.25, 'device ' || (i % 100) || ' reading ' || (i % 97) FROM generate_series(1, $rows) i;
CREATE TABLE $schema.z (LIKE $schema.u);
SELECT create_hypertable('$schema.z', 'ts', chunk_time_interval => interval '3650 days');
INSERT INTO $schema.z SELECT * FROM $schema.u;
ALTER TABLE $schema.z SET (timescaledb.compress, timescaledb.compress_segmentby = 'device',
  timescaledb.compress_orderby = 'ts');
SELECT count(compress_chunk(c)) FROM show_chunks('$schema.z') c;
SQL
chunk() { q -Atc "SELECT chunk_schema || '.' || chunk_name FROM timescaledb_information.chunks
                  WHERE hypertable_schema = '$schema' AND hypertable_name = '$1'"; }
cu=$(chunk u) cz=$(chunk z)
size() { q -Atc "SELECT pg_size_pretty(coalesce((SELECT after_compression_total_bytes
                 FROM chunk_compression_stats('$schema.$1') LIMIT 1), pg_total_relation_size('$2')))"; }
echo "== $rows rows; uncompressed chunk $cu ($(size u "$cu")), compressed chunk $cz ($(size z "$cz"))"
export TSARCHIVE_DATABASE_URL="$url"
cfg=$(mktemp) && printf 'lakehouse_enabled: false\n' > "$cfg"
best_u=999999 best_z=999999
for ((r = 1; r <= runs; r++)); do
  for k in u z; do
    c=$([ $k = u ] && echo "$cu" || echo "$cz")
    for _ in $(seq 1 120); do # a run that could not connect (PGlite busy) is run again
      s=$(date +%s.%N)
      ok=1; "$bin" -c "$cfg" export --chunk "$c" -o "$out/bench_tsdb_$k.parquet" >/dev/null 2>"$out/bench_tsdb_err" || ok=0
      e=$(date +%s.%N)
      [ $ok = 1 ] && break
      grep -q "could not connect" "$out/bench_tsdb_err" || { cat "$out/bench_tsdb_err" >&2; exit 1; }
      sleep 2
    done
    t=$(echo "$e - $s" | bc)
    echo "run $r: $([ $k = u ] && echo uncompressed || echo compressed) $t s"
    if [ $k = u ]; then best_u=$(echo "if ($t < $best_u) $t else $best_u" | bc); else best_z=$(echo "if ($t < $best_z) $t else $best_z" | bc); fi
  done
done
rm -f "$cfg"
printf 'best of %d: uncompressed %.3f s (%.0f rows/s), compressed %.3f s (%.0f rows/s): compressed at %.2f x the uncompressed rate\n' \
  "$runs" "$best_u" "$(echo "$rows / $best_u" | bc -l)" "$best_z" "$(echo "$rows / $best_z" | bc -l)" \
  "$(echo "$best_u / $best_z" | bc -l)"
