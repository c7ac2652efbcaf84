#!/usr/bin/env bash
# bench/export/run.sh: tsarchive export of one chunk against
#   (a) psql COPY (...) TO STDOUT (FORMAT binary) > /dev/null   -- the floor
#   (b) psql COPY (...) TO STDOUT (FORMAT csv) | DuckDB -> Parquet, same codec
# and tsarchive export --no-proof (without the change proof's per-row MD5)
# for a range partition of N rows (timestamptz, int, double, text). Reports each
# run, the medians, the wall-time ratios, and peak RSS (/usr/bin/time -v).
#
# usage: bench/export/run.sh [ROWS...]   (default: 5000000)
# env:   BENCH_PG_URL (default TS_TEST_PG_URL), TSARCHIVE (default build/tsarchive),
#        RUNS (default 5), CODEC (default zstd), OUT (default /tmp)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
url=${BENCH_PG_URL:-${TS_TEST_PG_URL:-}}
[ -n "$url" ] || { echo "set BENCH_PG_URL or TS_TEST_PG_URL (scripts/services start)" >&2; exit 2; }
bin=${TSARCHIVE:-$root/build/tsarchive}
runs=${RUNS:-5}
codec=${CODEC:-zstd}
out=${OUT:-/tmp}
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install -y time)" >&2; exit 2; }
rows_list=("${@:-5000000}")

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# runs a command under /usr/bin/time; prints "wall_seconds peak_kb cpu_seconds" (cpu:
# user + system of the client side, children included; the server's is not counted)
measure() {
  local log; log=$(mktemp)
  /usr/bin/time -v -o "$log" bash -c "$1" >/dev/null
  awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; w = s}
              /User time/ {u = $2} /System time/ {y = $2}
              /Maximum resident set size/ {m = $2} END {print w, m, u + y}' "$log"
  rm -f "$log"
}

for rows in "${rows_list[@]}"; do
  tbl="bench_export_${rows}"
  psql "$url" -X -q -v ON_ERROR_STOP=1 <<SQL
DROP TABLE IF EXISTS public.${tbl} CASCADE;
CREATE TABLE public.${tbl} (ts timestamptz NOT NULL, device int, value double precision, note text)
  PARTITION BY RANGE (ts);
CREATE TABLE public.${tbl}_p PARTITION OF public.${tbl} FOR VALUES FROM ('2020-01-01') TO ('2030-01-01');
INSERT INTO public.${tbl}
  SELECT timestamptz '2020-01-01' + i * interval '1 second', (i % 1000)::int, random() * 1000,
         'device ' || (i % 1000) || ' reading ' || (i % 97)
  FROM generate_series(1, ${rows}) i;
VACUUM ANALYZE public.${tbl}_p;
SQL
  sel="SELECT ts, device, value, note FROM public.${tbl}_p"
  size=$(psql "$url" -X -Atc "SELECT pg_size_pretty(pg_total_relation_size('public.${tbl}_p'))")
  echo "== ${rows} rows (${size} on disk), ${runs} runs, codec ${codec}"
  declare -A w m u
  kinds="floor tsarchive noproof duckdb"
  for k in $kinds; do w[$k]=""; m[$k]=""; u[$k]=""; done
  for ((r = 1; r <= runs; r++)); do
    declare -A cmd=(
      [floor]="psql '$url' -X -c \"COPY ($sel) TO STDOUT (FORMAT binary)\" > /dev/null"
      [tsarchive]="TSARCHIVE_DATABASE_URL='$url' TSARCHIVE_PARQUET_COMPRESSION=$codec '$bin' export --chunk public.${tbl}_p -o '$out/bench_ts.parquet'"
      [noproof]="TSARCHIVE_DATABASE_URL='$url' TSARCHIVE_PARQUET_COMPRESSION=$codec '$bin' export --no-proof --chunk public.${tbl}_p -o '$out/bench_ts.parquet'"
      [duckdb]="psql '$url' -X -c \"COPY ($sel) TO STDOUT (FORMAT csv)\" | node '$here/duck_csv_to_parquet.mjs' '$out/bench_duck.parquet' $codec"
    )
    line="  run $r:"
    for k in $kinds; do
      read -r t k1 c < <(measure "${cmd[$k]}")
      w[$k]+="$t "; m[$k]+="$k1 "; u[$k]+="$c "
      line+=$(printf '  %s %.2fs/%.2fcpu/%dMB' "$k" "$t" "$c" $((k1 / 1024)))
    done
    echo "$line"
  done
  med() { tr ' ' '\n' <<< "$1" | grep . | median; }
  mf=$(med "${w[floor]}"); mt=$(med "${w[tsarchive]}"); mn=$(med "${w[noproof]}"); md=$(med "${w[duckdb]}")
  printf '  median wall: floor %.2fs  tsarchive %.2fs  tsarchive --no-proof %.2fs  csv+duckdb %.2fs\n' "$mf" "$mt" "$mn" "$md"
  printf '  median client cpu: floor(psql) %.2fs  tsarchive %.2fs  --no-proof %.2fs  csv+duckdb %.2fs\n' \
    "$(med "${u[floor]}")" "$(med "${u[tsarchive]}")" "$(med "${u[noproof]}")" "$(med "${u[duckdb]}")"
  printf '  ratios: tsarchive/floor %.3f  --no-proof/floor %.3f  tsarchive/(csv+duckdb) %.3f\n' \
    "$(echo "$mt / $mf" | bc -l)" "$(echo "$mn / $mf" | bc -l)" "$(echo "$mt / $md" | bc -l)"
  rt=$(med "${m[tsarchive]}"); rd=$(med "${m[duckdb]}")
  printf '  median peak RSS: tsarchive %d MB  csv+duckdb(node) %d MB\n' $((${rt%.*} / 1024)) $((${rd%.*} / 1024))
  printf '  file sizes: tsarchive %s  duckdb %s\n' "$(stat -c %s "$out/bench_ts.parquet")" "$(stat -c %s "$out/bench_duck.parquet")"
  echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
  rm -f "$out/bench_ts.parquet" "$out/bench_duck.parquet"
  psql "$url" -X -q -c "DROP TABLE public.${tbl} CASCADE"
done
