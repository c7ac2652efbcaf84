#!/usr/bin/env bash
# bench/tsdb/chunks.sh: `tsarchive chunks --expired` on a hypertable of N one-hour chunks
# (default 20000), on PGlite+TimescaleDB (or any TimescaleDB), against the catalog query
# alone (timescaledb_information.chunks, as psql reads it). Prints each run and the best.
# The hypertable lives in a schema of its own, dropped at the end; it is created in
# batches of 2000 chunks, one short session each (PGlite serves one connection at a
# time: others get their turn between batches).
#
# Sizes: tsarchive takes a chunk's size from the catalog (pg_class.relpages) where the
# chunk was vacuumed or analyzed, as autovacuum does on a real server to chunks that old;
# PGlite runs no autovacuum, so the script ANALYZEs each chunk first (ANALYZE=0: not,
# and every size is measured).
#
# usage: bench/tsdb/chunks.sh [CHUNKS]
# env:   BENCH_TSDB_URL (default TS_TEST_TSDB_URL), TSARCHIVE (default build/tsarchive),
#        RUNS (default 5), ANALYZE (default 1), KEEP=1 keeps the schema (and reuses it)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
url=${BENCH_TSDB_URL:-${TS_TEST_TSDB_URL:-}}
[ -n "$url" ] || { echo "set BENCH_TSDB_URL or TS_TEST_TSDB_URL (source build/services/env)" >&2; exit 2; }
bin=${TSARCHIVE:-$root/build/tsarchive}
runs=${RUNS:-5}
n=${1:-20000}
schema=${BENCH_SCHEMA:-bench_tsdb_chunks}
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
tmp=$(mktemp -d)
# dropped 100 chunks per transaction: one DROP SCHEMA ... CASCADE of 20,000 chunks runs
# out of lock slots (max_locks_per_transaction)
cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then rm -rf "$tmp"; return; fi
  # (one connection at a time: PGlite serves no second one, so no pipes between psqls)
  q -Atc "SELECT format('DROP TABLE %s;', string_agg(c::text, ', ')) FROM
          (SELECT c, row_number() OVER () / 100 AS g FROM show_chunks('$schema.m') c) x GROUP BY g" \
    > "$tmp/drop.sql" || true
  q -f "$tmp/drop.sql" >/dev/null || true
  q -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

have=$(q -Atc "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_schema = '$schema'")
if [ "$have" != "$n" ]; then
  q -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema;
        CREATE TABLE $schema.m (ts timestamptz NOT NULL, v int);
        SELECT create_hypertable('$schema.m', 'ts', chunk_time_interval => interval '1 hour');" >/dev/null
  for ((i = 0; i < n; i += 2000)); do
    last=$((i + 2000 < n ? i + 2000 : n))
    q -c "INSERT INTO $schema.m SELECT timestamptz '2015-01-01' + g * interval '1 hour', g
          FROM generate_series($i, $((last - 1))) g"
    printf '\r%d chunks' "$last" >&2
  done
  echo >&2
  if [ "${ANALYZE:-1}" = 1 ]; then
    # one statement per chunk: a single ANALYZE of the hypertable runs PGlite out of locks
    q -Atc "SELECT format('ANALYZE %s;', c) FROM show_chunks('$schema.m') c" > "$tmp/analyze.sql"
    q -f "$tmp/analyze.sql" >/dev/null
  fi
fi

cfg=$tmp/tsarchive.yaml
printf 'lakehouse_enabled: false\n' > "$cfg"
export TSARCHIVE_DATABASE_URL="$url"
best() { sort -g | head -1; }
t_cat=() t_ts=()
for ((r = 1; r <= runs; r++)); do
  s=$(date +%s.%N)
  q -Atc "SELECT * FROM timescaledb_information.chunks WHERE hypertable_schema = '$schema'" >/dev/null
  e=$(date +%s.%N); t_cat+=("$(echo "$e - $s" | bc)")
  for _ in $(seq 1 120); do # a run that could not connect (PGlite busy) is run again
    s=$(date +%s.%N)
    rows=$("$bin" -c "$cfg" chunks --expired --table "$schema.m" 2>"$tmp/err" | wc -l)
    e=$(date +%s.%N)
    grep -q "could not connect" "$tmp/err" || break
    sleep 2
  done
  t_ts+=("$(echo "$e - $s" | bc)")
  echo "run $r: catalog query ${t_cat[-1]} s, tsarchive chunks --expired ${t_ts[-1]} s ($((rows - 1)) chunks)"
done
echo "best of $runs: catalog query $(printf '%s\n' "${t_cat[@]}" | best) s," \
     "tsarchive chunks --expired $(printf '%s\n' "${t_ts[@]}" | best) s, $n chunks"
