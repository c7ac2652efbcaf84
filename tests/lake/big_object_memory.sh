#!/bin/sh
# big_object_memory.sh LAKE_STREAM_PUT: streams a 300 MiB object to Azurite
# (TS_TEST_AZURE_*) under /usr/bin/time -v and checks that the peak resident memory
# stays well under the object's size (default 8 MiB blocks x 4 in flight).
# Exit 77 (skip) without the environment or without /usr/bin/time.
set -u
bin=$1
size_mib=${LAKE_BIG_MIB:-300}
limit_kib=${LAKE_BIG_LIMIT_KIB:-102400} # 100 MiB
if [ -z "${TS_TEST_AZURE_BLOB_ENDPOINT:-}" ] || [ -z "${TS_TEST_AZURE_KEY:-}" ]; then
    echo "SKIP: TS_TEST_AZURE_BLOB_ENDPOINT / TS_TEST_AZURE_KEY not set (scripts/services start; eval \"\$(scripts/services env)\")"
    exit 77
fi
if [ ! -x /usr/bin/time ]; then
    echo "SKIP: /usr/bin/time is missing (Debian package \"time\")"
    exit 77
fi
if ldd "$bin" 2>/dev/null | grep -q libasan; then
    echo "SKIP: built with AddressSanitizer, whose quarantine makes peak memory meaningless"
    exit 77
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
path="big/$(date +%s)-$$.bin"
LAKE_CONTAINER=lake-big LAKE_VERIFY=1 LAKE_DELETE=1 /usr/bin/time -v "$bin" azure "$path" "$size_mib" 2>"$out"
rc=$?
cat "$out" | grep -E "Maximum resident|Elapsed|Exit status" || true
if [ $rc -ne 0 ]; then
    cat "$out"
    echo "FAIL: upload exited with $rc"
    exit 1
fi
peak=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$out")
echo "object ${size_mib} MiB, peak RSS ${peak} KiB ($((peak / 1024)) MiB), limit ${limit_kib} KiB"
if [ "$peak" -ge "$limit_kib" ]; then
    echo "FAIL: peak memory ${peak} KiB is not well under the object size"
    exit 1
fi
echo "ok"
