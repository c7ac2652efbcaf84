#!/usr/bin/env bash
# run.sh: bench/parquet_write. tsarchive's writer (pq_write_bench) against DuckDB
# (single thread) on the same 10 M rows, for ZSTD and SNAPPY, same row group size.
# Each side runs RUNS times under /usr/bin/time -v, alternating; prints the medians of
# rows/s (wall and CPU), output bytes and peak RSS, and the ratios.
#   bench/parquet_write/run.sh [BUILD_DIR]      (default: build)
# INPUT=FILE.parquet: the rows of that file instead (bench/export's wide table: export
#   it with tsarchive first); both writers load it into memory, then only writing is timed.
# Environment: ROWS (10000000), ROW_GROUP (1000000), RUNS (5), CODECS ("zstd snappy"),
#   TS_DICT_LIMIT (bytes; default: the writer's own 2 MiB, which is at least DuckDB's
#   DICTIONARY_SIZE_LIMIT of ROW_GROUP/5 entries of 8 bytes), WORK (a work dir,
#   kept; the generated data are reused from it unless REGEN=1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
bin=$build/bench/parquet_write/pq_write_bench
[[ -x $bin ]] || { echo "no $bin: cmake --build $build --target pq_write_bench" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
ROWS=${ROWS:-10000000} ROW_GROUP=${ROW_GROUP:-1000000} RUNS=${RUNS:-5}
CODECS=${CODECS:-zstd snappy}
TS_DICT_LIMIT=${TS_DICT_LIMIT:-default}
dict_arg=(--dict-limit "$TS_DICT_LIMIT")
[[ $TS_DICT_LIMIT == default ]] && dict_arg=()
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
trap '[[ -z ${WORK:-} ]] && rm -rf "$work"' EXIT

timed() { # timed LOG CMD... : runs CMD, prints its JSON line + "rss_kb"
    local log=$1; shift
    /usr/bin/time -v -o "$log" "$@" | tail -n 1 | tr -d '\n'
    printf ' %s\n' "$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")"
}

data=$work/data.duckdb
src_arg=(--rows "$ROWS")
if [[ -n ${INPUT:-} ]]; then
    data=$INPUT
    src_arg=(--input "$INPUT" --batch 1024)
elif [[ ! -f $work/data.duckdb || $(cat "$work/data.rows" 2>/dev/null) != "$ROWS" || -n ${REGEN:-} ]]; then
    echo "generating $ROWS rows in DuckDB (once) ..." >&2
    rm -f "$work/data.duckdb"
    node "$here/duck_write.mjs" gen "$work/data.duckdb" "$ROWS" >&2
    echo "$ROWS" >"$work/data.rows"
fi
results=$work/results.txt
: >"$results"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
for codec in $CODECS; do
    for ((r = 1; r <= RUNS; r++)); do
        echo "$codec run $r/$RUNS ..." >&2
        echo "ts $(timed "$work/time.log" "$bin" --codec "$codec" "${src_arg[@]}" \
            --row-group "$ROW_GROUP" "${dict_arg[@]}" --out "$work/ts_$codec.parquet")" >>"$results"
        check=()
        ((r == 1)) && check=("$work/ts_$codec.parquet")
        echo "duck $(timed "$work/time.log" node "$here/duck_write.mjs" write "$data" \
            "$codec" "$ROW_GROUP" "$work/duck_$codec.parquet" "${check[@]}")" >>"$results"
    done
done
node - "$results" "$work" "$here" <<'JS'
const fs = require('fs');
const { createRequire } = require('module');
const { DuckDBInstance } = createRequire(require('path').join(process.argv[4], '../../tools/package.json'))('@duckdb/node-api');
const lines = fs.readFileSync(process.argv[2], 'utf8').trim().split('\n');
const runs = lines.map((l) => {
  const [who, ...rest] = l.split(' ');
  const rss = Number(rest.pop());
  return { who, rss, ...JSON.parse(rest.join(' ')) };
});
const med = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const fmt = (x) => Math.round(x).toLocaleString('en-US');
(async () => {
const con = await (await DuckDBInstance.create(':memory:')).connect();
for (const codec of [...new Set(runs.map((r) => r.codec))]) {
  const side = (who) => {
    const rs = runs.filter((r) => r.who === who && r.codec === codec);
    return { n: rs.length, rps: med(rs.map((r) => r.rows / r.seconds)),
      cpu_rps: med(rs.map((r) => r.rows / r.cpu_seconds)), bytes: med(rs.map((r) => r.bytes)),
      rss: med(rs.map((r) => r.rss)), rgs: rs[0].row_groups,
      heap: rs[0].writer_peak_heap, diff: rs.find((r) => 'rows_differing_from_tsarchive' in r) };
  };
  const t = side('ts'), d = side('duck');
  console.log(`${codec.toUpperCase()} (${t.n} runs each, medians; row groups: tsarchive ${t.rgs}, duckdb ${d.rgs})`);
  console.log(`  tsarchive: ${fmt(t.rps)} rows/s wall, ${fmt(t.cpu_rps)} rows/s CPU, ${fmt(t.bytes)} bytes, ` +
    `peak RSS ${fmt(t.rss)} KiB (writer heap ${fmt(t.heap / 1024)} KiB)`);
  console.log(`  duckdb:    ${fmt(d.rps)} rows/s wall, ${fmt(d.cpu_rps)} rows/s CPU, ${fmt(d.bytes)} bytes, ` +
    `peak RSS ${fmt(d.rss)} KiB`);
  console.log(`  ratios tsarchive/duckdb: throughput ${(t.rps / d.rps).toFixed(2)}x wall, ` +
    `${(t.cpu_rps / d.cpu_rps).toFixed(2)}x CPU; size ${(t.bytes / d.bytes).toFixed(3)}x; ` +
    `peak RSS ${(t.rss / d.rss).toFixed(2)}x`);
  if (d.diff) console.log(`  data check: ${d.diff.rows_differing_from_tsarchive} rows differ between the two inputs`);
  const rg = (await con.runAndReadAll(`SELECT max(row_group_bytes) AS b FROM
      parquet_metadata('${process.argv[3]}/ts_${codec}.parquet')`)).getRowObjects()[0].b;
  console.log(`  writer heap / largest row group (total_byte_size ${fmt(Number(rg))} bytes): ` +
    `${(t.heap / Number(rg)).toFixed(2)}x`);
}
})();
JS
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
