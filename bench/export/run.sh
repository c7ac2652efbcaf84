#!/usr/bin/env bash
# bench/export/run.sh: tsarchive export of one chunk against
#   floor:   psql streaming the same COPY (SELECT ...) TO STDOUT (FORMAT binary) to
#            /dev/null (the statement tsarchive logs with -v: same columns, same casts)
#   noproof: tsarchive export --no-proof
#   duckdb:  psql COPY ... (FORMAT csv) | DuckDB -> Parquet, same codec (narrow only)
# interleaved run by run. Prints each run (wall, client CPU, peak RSS), the medians, the
# ratio to the floor per run and its median, and the load average before and after.
#
# usage: bench/export/run.sh [SOURCE...]        (default: narrow:5000000)
#   narrow:ROWS  a range partition of ROWS rows (timestamptz, int, double, text)
#   wide:ROWS    bench/export/wide.sql: 30 columns, every mapped type, NULLs, arrays
#   tsdb:ROWS    the narrow rows in a TimescaleDB hypertable on BENCH_TSDB_URL, one
#                compressed chunk exported (PGlite: one session, so nothing else may use it)
# env: BENCH_PG_URL (default TS_TEST_PG_URL; better a database of your own),
#      BENCH_TSDB_URL (default TS_TEST_TSDB_URL), TSARCHIVE (default build/tsarchive),
#      RUNS (5), CODEC (zstd), OUT (/tmp), PEERS ("floor tsarchive noproof"; add duckdb),
#      KEEP=1 keeps the generated tables for the next run (they are reused when their
#      row count matches).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
url=${BENCH_PG_URL:-${TS_TEST_PG_URL:-}}
tsdb_url=${BENCH_TSDB_URL:-${TS_TEST_TSDB_URL:-}}
bin=${TSARCHIVE:-$root/build/tsarchive}
runs=${RUNS:-5}
codec=${CODEC:-zstd}
out=${OUT:-/tmp}
peers=${PEERS:-floor tsarchive noproof}
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install -y time)" >&2; exit 2; }
sources=("${@:-narrow:5000000}")

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# runs a command under /usr/bin/time; prints "wall_seconds peak_kb cpu_seconds" (cpu:
# user + system of the client side, children included; the server's is not counted)
# (a failed run is tried again, 5 times at most: PGlite takes one session at a time, and
# another client may hold it for a moment)
measure() {
  local log try; log=$(mktemp)
  for try in 1 2 3 4 5; do
    /usr/bin/time -v -o "$log" bash -c "$1" >/dev/null 2>"$log.err" && break
    [ "$try" = 5 ] && { cat "$log.err" >&2; exit 1; }
    sleep 2
  done
  rm -f "$log.err"
  awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; w = s}
              /User time/ {u = $2} /System time/ {y = $2}
              /Maximum resident set size/ {m = $2} END {print w, m, u + y}' "$log"
  rm -f "$log"
}
rows_of() { psql "$1" -X -Atc "SELECT count(*) FROM $2" 2>/dev/null || echo 0; }

make_narrow() { # url table rows
  psql "$1" -X -q -v ON_ERROR_STOP=1 <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS public.$2 CASCADE;
CREATE TABLE public.$2 (ts timestamptz NOT NULL, device int, value double precision, note text)
  PARTITION BY RANGE (ts);
CREATE TABLE public.$2_p PARTITION OF public.$2 FOR VALUES FROM ('2020-01-01') TO ('2030-01-01');
INSERT INTO public.$2
  SELECT timestamptz '2020-01-01' + i * interval '1 second', (i % 1000)::int, random() * 1000,
         'device ' || (i % 1000) || ' reading ' || (i % 97)
  FROM generate_series(1, $3) i;
VACUUM ANALYZE public.$2_p;
SQL
}

make_tsdb() { # url table rows: a hypertable whose chunks hold 100 days, the first compressed
  psql "$1" -X -q -v ON_ERROR_STOP=1 <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS public.$2 CASCADE;
CREATE TABLE public.$2 (ts timestamptz NOT NULL, device int, value double precision, note text);
SELECT create_hypertable('public.$2', 'ts', chunk_time_interval => interval '100 days');
INSERT INTO public.$2
  SELECT timestamptz '2020-01-01' + i * interval '1 second', (i % 1000)::int, random() * 1000,
         'device ' || (i % 1000) || ' reading ' || (i % 97)
  FROM generate_series(1, $3) i;
ALTER TABLE public.$2 SET (timescaledb.compress, timescaledb.compress_segmentby = 'device');
SELECT count(compress_chunk(c)) FROM (SELECT c FROM show_chunks('public.$2') c ORDER BY 1 LIMIT 1) x;
SQL
}

for source in "${sources[@]}"; do
  kind=${source%%:*} rows=${source#*:}
  u=$url
  case $kind in
    narrow) tbl="bench_export_${rows}"; chunk="public.${tbl}_p" ;;
    wide) tbl="bench_wide_${rows}"; chunk="public.${tbl}_p" ;;
    tsdb) tbl="bench_tsdb_${rows}"; u=$tsdb_url ;;
    *) echo "unknown source \"$source\" (narrow:ROWS, wide:ROWS, tsdb:ROWS)" >&2; exit 2 ;;
  esac
  [ -n "$u" ] || { echo "set BENCH_PG_URL / BENCH_TSDB_URL (or source build/services/env)" >&2; exit 2; }
  if [ "$kind" = tsdb ]; then
    have=$(rows_of "$u" "public.$tbl")
    [ "$have" = "$rows" ] || make_tsdb "$u" "$tbl" "$rows" >/dev/null
    chunk=$(psql "$u" -X -Atc "SELECT chunk_schema || '.' || chunk_name FROM timescaledb_information.chunks
                               WHERE hypertable_name = '$tbl' AND is_compressed ORDER BY range_start LIMIT 1")
  else
    have=$(rows_of "$u" "$chunk")
    if [ "$have" != "$rows" ]; then
      if [ "$kind" = narrow ]; then make_narrow "$u" "$tbl" "$rows"
      else psql "$u" -X -q -v ON_ERROR_STOP=1 -v rows="$rows" -v tbl="$tbl" -f "$here/wide.sql"; fi
    fi
  fi
  crows=$(rows_of "$u" "$chunk")
  size=$(psql "$u" -X -Atc "SELECT pg_size_pretty(pg_total_relation_size('$chunk'))" 2>/dev/null || echo "?")
  # the statement tsarchive runs, for the floor
  for try in 1 2 3 4 5; do
    copy=$(TSARCHIVE_DATABASE_URL="$u" "$bin" -v export --no-proof --chunk "$chunk" -o "$out/bench_ts.parquet" 2>&1 |
           sed -n 's/.* debug \(COPY (SELECT .*(FORMAT binary)\)$/\1/p' | head -1)
    [ -n "$copy" ] && break
    sleep 2
  done
  [ -n "$copy" ] || { echo "could not learn the COPY statement from tsarchive -v" >&2; exit 1; }
  sel=${copy#COPY (}; sel=${sel%) TO STDOUT (FORMAT binary)}
  echo "== $source: $chunk, $crows rows ($size on disk), $runs runs, codec $codec, load average $(loadavg)"
  declare -A w m u
  for k in $peers; do w[$k]=""; m[$k]=""; u[$k]=""; done
  ratios="" nratios=""
  for ((r = 1; r <= runs; r++)); do
    declare -A cmd=(
      [floor]="psql '$u' -X -c '${copy//\'/\'\\\'\'}' > /dev/null"
      [tsarchive]="TSARCHIVE_DATABASE_URL='$u' TSARCHIVE_PARQUET_COMPRESSION=$codec '$bin' export --chunk $chunk -o '$out/bench_ts.parquet'"
      [noproof]="TSARCHIVE_DATABASE_URL='$u' TSARCHIVE_PARQUET_COMPRESSION=$codec '$bin' export --no-proof --chunk $chunk -o '$out/bench_ts.parquet'"
      [duckdb]="psql '$u' -X -c \"COPY ($sel) TO STDOUT (FORMAT csv)\" | node '$here/duck_csv_to_parquet.mjs' '$out/bench_duck.parquet' $codec"
    )
    line="  run $r:"
    for k in $peers; do
      read -r t k1 c < <(measure "${cmd[$k]}")
      w[$k]+="$t "; m[$k]+="$k1 "; u[$k]+="$c "
      line+=$(printf '  %s %.2fs/%.2fcpu/%dMB' "$k" "$t" "$c" $((k1 / 1024)))
      eval "t_$k=$t"
    done
    if [[ " $peers " == *" floor "* && " $peers " == *" tsarchive "* ]]; then
      ratios+="$(echo "$t_tsarchive / $t_floor" | bc -l) "
      line+=$(printf '  ratio %.3f' "$(echo "$t_tsarchive / $t_floor" | bc -l)")
    fi
    if [[ " $peers " == *" floor "* && " $peers " == *" noproof "* ]]; then
      nratios+="$(echo "$t_noproof / $t_floor" | bc -l) "
    fi
    echo "$line"
  done
  med() { tr ' ' '\n' <<< "$1" | grep . | median; }
  printf '  median wall:'; for k in $peers; do printf '  %s %.2fs' "$k" "$(med "${w[$k]}")"; done; echo
  printf '  median client cpu:'; for k in $peers; do printf '  %s %.2fs' "$k" "$(med "${u[$k]}")"; done; echo
  printf '  median peak RSS:'; for k in $peers; do printf '  %s %d MB' "$k" $(($(med "${m[$k]}" | cut -d. -f1) / 1024)); done; echo
  [ -n "$ratios" ] && printf '  tsarchive / floor: median of the runs'"'"' ratios %.3f, ratio of the medians %.3f\n' \
    "$(med "$ratios")" "$(echo "$(med "${w[tsarchive]}") / $(med "${w[floor]}")" | bc -l)"
  [ -n "$nratios" ] && printf '  --no-proof / floor: median of the runs'"'"' ratios %.3f\n' "$(med "$nratios")"
  [ -f "$out/bench_ts.parquet" ] && printf '  tsarchive file: %s bytes\n' "$(stat -c %s "$out/bench_ts.parquet")"
  [ -f "$out/bench_duck.parquet" ] && printf '  duckdb file: %s bytes\n' "$(stat -c %s "$out/bench_duck.parquet")"
  echo "  load average after: $(loadavg) on $(nproc) CPUs"
  rm -f "$out/bench_ts.parquet" "$out/bench_duck.parquet"
  if [ -z "${KEEP:-}" ]; then psql "$u" -X -q -c "DROP TABLE public.$tbl CASCADE"; fi
done
