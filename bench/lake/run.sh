#!/bin/sh
# bench/lake/run.sh: upload throughput of the lake writer, in one run, against
#   - Azurite through the lake's Azure store (block upload, MD5s, read-back), SAS auth
#   - the local folder store (tmp file, fsync, rename, fsync dir)
#   - curl --upload-file of the same file to Azurite (one Put Blob, the same SAS)
# RUNS times each (default 5), reporting every run, the medians in MB/s (10^6 bytes/s)
# and the ratios to curl. lake_azure includes what curl skips: a whole-object MD5,
# one Put Block per block (each with Content-MD5), Put Block List, and the read-back
# of size and MD5; curl sends one Put Blob. On Azurite, Put Block is the slower path
# (sequential 8 MiB Put Blocks with curl: about a quarter of one Put Blob's rate).
#
# usage: bench/lake/run.sh [BUILD_DIR]   (default: build; needs tests/lake/lake_stream_put)
# env:   TS_TEST_AZURE_BLOB_ENDPOINT, TS_TEST_AZURE_ACCOUNT, TS_TEST_AZURE_KEY
#        (eval "$(scripts/services env)"), SIZE_MIB (256), RUNS (5),
#        BLOCK_MIB (8), CONCURRENCY (4)
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
bin=$build/tests/lake/lake_stream_put
size_mib=${SIZE_MIB:-256}
runs=${RUNS:-5}
block=${BLOCK_MIB:-8}
conc=${CONCURRENCY:-4}
container=lake-bench
if [ -z "${TS_TEST_AZURE_BLOB_ENDPOINT:-}" ] || [ -z "${TS_TEST_AZURE_KEY:-}" ]; then
    echo "bench/lake: TS_TEST_AZURE_* not set: scripts/services start; eval \"\$(scripts/services env)\"" >&2
    exit 2
fi
[ -x "$bin" ] || { echo "bench/lake: $bin not built (cmake --build $build --target lake_stream_put)" >&2; exit 2; }

work=$(mktemp -d /tmp/lake-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
file=$work/data.bin
head -c $((size_mib * 1048576)) /dev/urandom >"$file"
bytes=$(stat -c %s "$file")
sas=$("$bin" azure-sas x 0)
ep=$TS_TEST_AZURE_BLOB_ENDPOINT
# the container exists before timing starts (the lake creates it; curl would not)
LAKE_CONTAINER=$container "$bin" azure+sas warmup.bin 1 >/dev/null

median() { sort -n | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else printf "%.1f\n", (v[NR/2]+v[NR/2+1])/2}'; }
mbps() { awk -v b="$bytes" -v s="$1" 'BEGIN {printf "%.1f\n", b/1e6/s}'; }

echo "bench/lake: $size_mib MiB ($bytes bytes) x $runs runs; lake block ${block} MiB x $conc in flight"
echo "azurite: $ep   load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-4s %14s %14s %14s\n' run curl_MBps lake_azure_MBps lake_local_MBps
: >"$work/curl" ; : >"$work/az" ; : >"$work/local"
i=1
while [ "$i" -le "$runs" ]; do
    # curl: one Put Blob of the file, SAS in the URL
    t=$(curl -sS -f -o /dev/null -w '%{time_total}' -X PUT --upload-file "$file" \
        -H "x-ms-blob-type: BlockBlob" -H "x-ms-version: 2021-08-06" -H "Expect:" \
        "$ep/$container/curl-$i.bin?$sas")
    c=$(mbps "$t")
    # the lake's azure store, same SAS, same bytes (streamed from the file)
    a=$(LAKE_CONTAINER=$container LAKE_DELETE=1 "$bin" azure+sas "lake-$i.bin" "file:$file" "$block" "$conc" |
        sed -n 's/.*MBps=\([0-9.]*\).*/\1/p')
    # the local folder store
    l=$("$bin" "local:$work/lake" "lake-$i.bin" "file:$file" | sed -n 's/.*MBps=\([0-9.]*\).*/\1/p')
    rm -f "$work/lake/lake-$i.bin"
    curl -sS -f -o /dev/null -X DELETE -H "x-ms-version: 2021-08-06" "$ep/$container/curl-$i.bin?$sas"
    printf '%-4s %14s %14s %14s\n' "$i" "$c" "$a" "$l"
    echo "$c" >>"$work/curl"; echo "$a" >>"$work/az"; echo "$l" >>"$work/local"
    i=$((i + 1))
done
mc=$(median <"$work/curl"); ma=$(median <"$work/az"); ml=$(median <"$work/local")
printf '%-4s %14s %14s %14s\n' median "$mc" "$ma" "$ml"
awk -v c="$mc" -v a="$ma" -v l="$ml" 'BEGIN {
    printf "ratio lake_azure / curl = %.2f   lake_local / curl = %.2f\n", a/c, l/c }'
curl -sS -o /dev/null -X DELETE -H "x-ms-version: 2021-08-06" "$ep/$container/warmup.bin?$sas" || true
