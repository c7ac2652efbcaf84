#!/usr/bin/env bash
# cases.sh CASE: tsarchive_fdw on the shared PostgreSQL 15, one case per run:
#   alltypes  every mapped type archived (tests/pg/sql/alltypes.sql) and read back
#             through IMPORT FOREIGN SCHEMA and through attach: EXCEPT ALL both ways,
#             typed and as text; conditions on each kind of column (skipping by
#             statistics) answer as on the original, NaN, infinities and the values
#             kept in tsarchive.exceptions included
#   hostile   truncated, overwritten, foreign and missing files, a log that disagrees
#             with its file, random byte flips: a clear error, never the server
#   cancel    statement_timeout ends a long local scan and a wait on an Azure endpoint
#             that never answers, promptly
#   secrets   secrets refused as server options, kept in user mappings, never in an
#             error or EXPLAIN; local folders only for pg_read_server_files
case=${1:?usage: cases.sh CASE}
. "$(dirname "$0")/lib.sh"
need_services
need_fdw
work_dir
TAG=fdw$case$$
pids=()
ROLE=tsarchive_fdw_role_$$
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    drop_db
    psql "$TS_TEST_PG_URL" -qX -c "DROP ROLE IF EXISTS $ROLE" >/dev/null 2>&1
    redis-cli -u "$TS_TEST_REDIS_URL" DEL "$TAG.request" "$TAG.confirmation" "$TAG.deadletter" >/dev/null 2>&1
    [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
new_db "tsarchive_fdw_${case}_$$"
cd "$WORK"
mkdir -p lake
LAKE_PATH=$WORK/lake write_config tsarchive.yaml local "parquet:
  row_group_rows: 2"

# archive: run --once, the lake readable by the server, a server and the import
archive() {
    "$BIN" -c tsarchive.yaml run --once >run.log 2>&1
    expect "run --once exits 0" 0 $?
    lake_readable
    sql "CREATE EXTENSION IF NOT EXISTS tsarchive_fdw;
         CREATE SERVER lake FOREIGN DATA WRAPPER tsarchive_fdw OPTIONS (path '$WORK/lake');
         CREATE SCHEMA archive;
         IMPORT FOREIGN SCHEMA \"$DB_NAME\" FROM SERVER lake INTO archive"
}

case $case in
alltypes)
    psql "$DB_URL" -qX -v ON_ERROR_STOP=1 -f "$ROOT/tests/pg/sql/alltypes.sql" >/dev/null
    # a two-dimensional array in February too: whether a column goes out as text is
    # decided per chunk, and the table's Delta schema needs one answer for both months
    sql "UPDATE alltypes SET md = '{{8,8},{8,8}}' WHERE id = 8"
    sql "CREATE SCHEMA ref; CREATE TABLE ref.alltypes AS SELECT * FROM alltypes WHERE ts < '2024-03-01';
         CREATE TABLE ref.everything AS SELECT * FROM alltypes;
         INSERT INTO alltypes (ts, id, i4) VALUES ('2024-05-01', 9, 9); INSERT INTO ref.everything (ts, id, i4) VALUES ('2024-05-01', 9, 9)"
    archive
    expect "two partitions archived" 0 "$(sql "SELECT count(*) FROM pg_class WHERE relname IN ('alltypes_2024_01', 'alltypes_2024_02')")"
    expect "every column with its archived type" \
        "$(sql "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'ref.alltypes'::regclass AND attnum > 0")" \
        "$(sql "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'archive.alltypes'::regclass AND attnum > 0")"
    # typed EXCEPT ALL: json and point have no equality, they compare as text
    cols=$(sql "SELECT string_agg(CASE WHEN atttypid IN ('json'::regtype, 'point'::regtype) THEN quote_ident(attname) || '::text' ELSE quote_ident(attname) END, ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'ref.alltypes'::regclass AND attnum > 0")
    expect "every value back (EXCEPT ALL both ways)" "0 0" \
        "$(sql "SELECT (SELECT count(*) FROM (SELECT $cols FROM ref.alltypes EXCEPT ALL SELECT $cols FROM archive.alltypes) a) || ' ' || (SELECT count(*) FROM (SELECT $cols FROM archive.alltypes EXCEPT ALL SELECT $cols FROM ref.alltypes) b)")"
    expect "every value's text back (-0, 1.50 and 1.5 told apart)" "0 0" \
        "$(sql "SELECT (SELECT count(*) FROM (SELECT r::text FROM ref.alltypes r EXCEPT ALL SELECT a::text FROM archive.alltypes a) x) || ' ' || (SELECT count(*) FROM (SELECT a::text FROM archive.alltypes a EXCEPT ALL SELECT r::text FROM ref.alltypes r) y)")"
    # receive functions read the client's encoding: the archive's UTF-8 must not depend on it
    expect "every value's text back in a LATIN1 session" "0 0" \
        "$(psql "$DB_URL" -qXAt -c "SET client_encoding = 'LATIN1'" -c "SELECT (SELECT count(*) FROM (SELECT r::text FROM ref.alltypes r EXCEPT ALL SELECT a::text FROM archive.alltypes a) x) || ' ' || (SELECT count(*) FROM (SELECT a::text FROM archive.alltypes a EXCEPT ALL SELECT r::text FROM ref.alltypes r) y)")"
    skipped=$(psql "$DB_URL" -qXAt -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT * FROM archive.alltypes WHERE i4 = 34" | sed -n 's/^ *Row Groups Skipped (Statistics): //p')
    [ "${skipped:-0}" -ge 1 ] && ok "row groups skipped by their statistics ($skipped)" || bad "no row group skipped: $skipped"
    expect "a far-future timestamp (an exception) exact" "294276-12-31 23:59:59.999999" "$(sql "SELECT t FROM archive.alltypes WHERE id = 6")"
    expect "numeric(p,s) NaN (an exception) exact" "NaN NaN" "$(sql "SELECT n5_2 || ' ' || n38_10 FROM archive.alltypes WHERE id = 7")"
    expect "infinities" "infinity infinity -Infinity" "$(sql "SELECT t || ' ' || d || ' ' || f8 FROM archive.alltypes WHERE id = 3")"
    # conditions the scan skips by: the same rows as the original, whatever the statistics say
    while IFS= read -r cond; do
        [ -z "$cond" ] && continue
        want=$(sql "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '-') FROM ref.alltypes WHERE $cond")
        got=$(sql "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '-') FROM archive.alltypes WHERE $cond")
        expect "where $cond" "$want" "$got"
    done <<'EOF'
i4 = 34
i4 > 0 AND i4 < 1000
i2 <= -1
i8 >= 56
id IN (1, 6, 8)
id BETWEEN 2 AND 4
t > '2024-06-01'
t < '2024-01-01'
ts >= '2024-01-20' AND ts < '2024-02-11'
ts = '2024-01-05 12:34:56.789012+00'
d >= '2024-01-05'
d < '2000-01-01'
f4 > 1
f4 < 0
f8 > 1e300
f8 < 0
f8 = 0.1
n5_2 > 100
n5_2 < 0
n38_10 > 0
n18_4 = 0
tx = 'hello'
tx > 'x'
tx < 'b' COLLATE "C"
vc = 'x'
vc IS NULL
u = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'
u > '00000000-0000-0000-0000-000000000001'
en = 'sad'
b IS NULL
iv > '1 day'
EOF
    # attach: the live partition and the archive, each row once
    "$BIN" -c tsarchive.yaml attach public.alltypes >attach.log 2>&1
    expect "attach exits 0" 0 $?
    expect "alltypes_all = every row, once (as text, both ways)" "0 0" \
        "$(sql "SELECT (SELECT count(*) FROM (SELECT r::text FROM ref.everything r EXCEPT ALL SELECT a::text FROM alltypes_all a) x) || ' ' || (SELECT count(*) FROM (SELECT a::text FROM alltypes_all a EXCEPT ALL SELECT r::text FROM ref.everything r) y)")"
    # a table whose name holds a quote (and would close the comments' literal)
    sql "CREATE TABLE \"it's; --\" (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)"
    "$BIN" -c tsarchive.yaml attach "public.it's; --" >attach2.log 2>&1
    expect "attach of a name with a quote exits 0" 0 $?
    expect "its view and its comment, the name intact" "every row of public.it's; --, live or archived, once (tsarchive attach)" \
        "$(sql "SELECT obj_description('public.\"it''s; --_all\"'::regclass, 'pg_class')")"
    ;;

hostile)
    sql "CREATE TABLE m (ts timestamptz NOT NULL, v int, s text) PARTITION BY RANGE (ts);
         CREATE TABLE m_2022_01 PARTITION OF m FOR VALUES FROM ('2022-01-01') TO ('2022-02-01');
         CREATE TABLE m_2022_02 PARTITION OF m FOR VALUES FROM ('2022-02-01') TO ('2022-03-01');
         INSERT INTO m SELECT '2022-01-01'::timestamptz + i * interval '10 minutes', i, 'row ' || i
           FROM generate_series(0, 8000) i WHERE '2022-01-01'::timestamptz + i * interval '10 minutes' < '2022-03-01'"
    LAKE_PATH=$WORK/lake write_config tsarchive.yaml local
    archive
    n=$(sql "SELECT count(*) FROM archive.m")
    [ "$n" -gt 1000 ] && ok "baseline: $n rows" || bad "baseline: $n rows"
    start=$(server_start)
    file=$(find "$WORK/lake" -name '*.parquet' | sort | head -1)
    size=$(stat -c %s "$file")
    cp "$file" "$WORK/orig.parquet"
    restore() { cp "$WORK/orig.parquet" "$file"; chmod a+r "$file"; }
    # query_fails NAME PATTERN: the scan fails with an error matching PATTERN
    query_fails() {
        local out
        out=$(sqlv "SELECT count(*), sum(v), max(s) FROM archive.m")
        if printf '%s' "$out" | grep -q "ERROR:.*$2"; then
            ok "$1: ...$(printf '%s' "$out" | grep ERROR: | head -1 | sed 's/.*\.parquet"//' | cut -c1-140)"
        else
            bad "$1: $out"
        fi
    }
    truncate -s $((size - 100)) "$file"
    query_fails "truncated file" 'ends at .* bytes, before the .* (truncated?)'
    restore
    head -c "$size" /dev/urandom >"$file"
    query_fails "not a Parquet file" 'tsarchive_fdw: .*not a Parquet file\|magic'
    restore
    dd if=/dev/urandom of="$file" bs=1 seek=$((size - 300)) count=292 conv=notrunc status=none
    query_fails "overwritten footer" 'tsarchive_fdw: .*footer'
    restore
    other=$(find "$WORK/lake" -name '*.parquet' | sort | tail -1)
    cp "$other" "$file"
    truncate -s "$size" "$file" 2>/dev/null
    query_fails "another file in its place" 'tsarchive_fdw: '
    restore
    rm "$file"
    query_fails "a missing file" 'tsarchive_fdw: .*could not open\|not found\|No such file'
    restore
    log=$(ls "$(dirname "$(dirname "$(dirname "$file")")")"/_delta_log/00000000000000000000.json)
    cp "$log" "$WORK/log.json"
    sed -i 's/\\"numRecords\\":\([0-9]*\)/\\"numRecords\\":7/' "$log"
    query_fails "a log that disagrees with the footer" 'the footer says .* rows, its log entry 7'
    cp "$WORK/log.json" "$log"
    # random byte flips in the pages: a clear error or the right rows, never a crash
    errors=0
    for i in $(seq 1 "${FLIPS:-25}"); do
        restore
        for k in $(seq 1 8); do
            printf "\\x$(printf %02x $((RANDOM % 256)))" | dd of="$file" bs=1 seek=$(((RANDOM * 32768 + RANDOM) % (size - 8) + 4)) conv=notrunc status=none
        done
        out=$(sqlv "SELECT count(*), sum(v), max(s), min(ts) FROM archive.m WHERE v >= 0")
        printf '%s' "$out" | grep -q 'ERROR:' && errors=$((errors + 1))
        printf '%s' "$out" | grep -q 'server closed the connection' && bad "flip round $i crashed the backend"
    done
    ok "${FLIPS:-25} rounds of flipped bytes: $errors clear errors, the rest read"
    restore
    expect "the server never restarted" "$start" "$(server_start)"
    expect "the archive reads again" "$n" "$(sql "SELECT count(*) FROM archive.m")"
    ;;

cancel)
    sql "CREATE TABLE big (ts timestamptz NOT NULL, v bigint, s text) PARTITION BY RANGE (ts);
         CREATE TABLE big_2022 PARTITION OF big FOR VALUES FROM ('2022-01-01') TO ('2022-02-01');
         INSERT INTO big SELECT '2022-01-01'::timestamptz + i * interval '1 second', i, md5(i::text)
           FROM generate_series(1, 1500000) i"
    LAKE_PATH=$WORK/lake write_config tsarchive.yaml local
    archive
    t0=$(date +%s%N)
    out=$(psql "$DB_URL" -qXAt -c "SET statement_timeout = '300ms'" -c "SELECT count(*), sum(length(s)) FROM archive.big" 2>&1)
    ms=$((($(date +%s%N) - t0) / 1000000))
    printf '%s' "$out" | grep -q 'canceling statement due to statement timeout' && ok "a long scan ends at statement_timeout" || bad "scan not cancelled: $out"
    [ "$ms" -lt 3000 ] && ok "promptly ($ms ms for a 300 ms timeout)" || bad "slow cancel: $ms ms"
    # an Azure endpoint that accepts and never answers
    python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
held = []
while True:
    c, _ = s.accept(); held.append(c)
' >port.txt 2>/dev/null &
    pids+=($!)
    for _ in $(seq 50); do [ -s port.txt ] && break; sleep 0.1; done
    port=$(head -1 port.txt)
    sql "CREATE SERVER stall FOREIGN DATA WRAPPER tsarchive_fdw OPTIONS (account 'devstoreaccount1', container 'stalled', endpoint 'http://127.0.0.1:$port/devstoreaccount1', max_retries '0');
         CREATE USER MAPPING FOR CURRENT_USER SERVER stall OPTIONS (account_key 'Zm9vYmFy');
         CREATE FOREIGN TABLE stalled (ts timestamptz) SERVER stall OPTIONS (root 'pg1/db/public.t')"
    t0=$(date +%s%N)
    out=$(psql "$DB_URL" -qXAt -c "SET statement_timeout = '1s'" -c "SELECT count(*) FROM stalled" 2>&1)
    ms=$((($(date +%s%N) - t0) / 1000000))
    printf '%s' "$out" | grep -q 'canceling statement due to statement timeout' && ok "a wait on Azure ends at statement_timeout" || bad "Azure wait not cancelled: $out"
    [ "$ms" -lt 4000 ] && ok "promptly ($ms ms for a 1 s timeout)" || bad "slow Azure cancel: $ms ms"
    expect "the backend goes on" 1 "$(sql "SELECT 1")"
    ;;

secrets)
    need_services TS_TEST_AZURE_CONNECTION_STRING
    key=$(printf '%s' "$TS_TEST_AZURE_CONNECTION_STRING" | sed -n 's/.*AccountKey=\([^;]*\).*/\1/p')
    sql "CREATE EXTENSION tsarchive_fdw"
    for opt in connection_string account_key sas_token client_secret; do
        out=$(sqlv "CREATE SERVER s_$opt FOREIGN DATA WRAPPER tsarchive_fdw OPTIONS (container 'c', $opt 'VerySecretValue123')")
        printf '%s' "$out" | grep -q "\"$opt\" is a secret and cannot be a server option" && ! printf '%s' "$out" | grep -q VerySecretValue123 &&
            ok "server option $opt refused, its value not shown" || bad "server option $opt: $out"
    done
    out=$(sqlv "CREATE SERVER s1 FOREIGN DATA WRAPPER tsarchive_fdw OPTIONS (container 'c'); ALTER SERVER s1 OPTIONS (ADD connection_string 'VerySecretValue123')")
    printf '%s' "$out" | grep -q "is a secret" && ok "ALTER SERVER refuses a secret too" || bad "alter: $out"
    out=$(sqlv "CREATE SERVER s2 FOREIGN DATA WRAPPER tsarchive_fdw OPTIONS (path 'relative/lake')")
    printf '%s' "$out" | grep -q 'absolute path' && ok "a relative lake folder refused" || bad "relative path: $out"
    out=$(sqlv "CREATE SERVER s3 FOREIGN DATA WRAPPER tsarchive_fdw OPTIONS (path '/tmp', container 'c')")
    printf '%s' "$out" | grep -q 'not both' && ok "a folder and a container refused together" || bad "both: $out"
    # a local folder is the server's files: not for every user
    psql "$TS_TEST_PG_URL" -qX -c "CREATE ROLE $ROLE LOGIN" >/dev/null
    sql "GRANT USAGE ON FOREIGN DATA WRAPPER tsarchive_fdw TO $ROLE; GRANT CREATE ON SCHEMA public TO $ROLE"
    out=$(sqlv "SET ROLE $ROLE; CREATE SERVER s4 FOREIGN DATA WRAPPER tsarchive_fdw OPTIONS (path '/etc')")
    printf '%s' "$out" | grep -q 'pg_read_server_files' && ok "a local folder needs pg_read_server_files" || bad "unprivileged path: $out"
    # the secret in a user mapping, by parameter; a wrong key fails without showing either
    sql "CREATE SERVER az FOREIGN DATA WRAPPER tsarchive_fdw OPTIONS (container 'fdwsecrets$$')"
    echo "SELECT tsarchive_fdw_set_secret('az', 'connection_string', :'cs')" |
        psql "$DB_URL" -qXAt -v ON_ERROR_STOP=1 -v cs="$TS_TEST_AZURE_CONNECTION_STRING" >/dev/null
    expect "the mapping holds the connection string" 1 "$(sql "SELECT count(*) FROM pg_user_mappings WHERE srvname = 'az' AND array_to_string(umoptions, ',') LIKE 'connection_string=%AccountKey=%'")"
    sql "CREATE FOREIGN TABLE t_az (ts timestamptz) SERVER az OPTIONS (root 'pg1/db/public.t')"
    out=$(sqlv "SELECT count(*) FROM t_az")
    printf '%s' "$out" | grep -q 'ERROR:.*tsarchive_fdw:.*container' && ok "a missing container: $(printf '%s' "$out" | head -1 | cut -c1-150)" || bad "missing container: $out"
    printf '%s' "$out" | grep -qF "$key" && bad "the error shows the account key" || ok "the error shows no key"
    bad_cs=$(printf '%s' "$TS_TEST_AZURE_CONNECTION_STRING" | sed 's/AccountKey=[^;]*/AccountKey=V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5/')
    echo "SELECT tsarchive_fdw_set_secret('az', 'connection_string', :'cs')" |
        psql "$DB_URL" -qXAt -v ON_ERROR_STOP=1 -v cs="$bad_cs" >/dev/null
    expect "set_secret changes the mapping" 1 "$(sql "SELECT count(*) FROM pg_user_mappings WHERE srvname = 'az' AND array_to_string(umoptions, ',') LIKE '%V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5%'")"
    out=$(sqlv "SELECT count(*) FROM t_az")
    printf '%s' "$out" | grep -q 'ERROR:.*tsarchive_fdw:' && ok "a wrong key fails: $(printf '%s' "$out" | head -1 | cut -c1-150)" || bad "wrong key: $out"
    printf '%s' "$out" | grep -qF "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5" && bad "the error shows the key" || ok "the error shows no key"
    out=$(sqlv "EXPLAIN (VERBOSE) SELECT * FROM t_az")
    printf '%s' "$out" | grep -qF "AccountKey" && bad "EXPLAIN shows a secret" || ok "EXPLAIN shows no secret"
    ;;
*)
    echo "unknown case $case" >&2
    exit 2
    ;;
esac
finish
