#!/usr/bin/env bash
# workflow.sh LAKE_KIND: the original specification's archival workflow, end to end on
# PostgreSQL 15, Redis and the lake (local folder or Azurite): the retention service
# finds expired chunks, the archival service writes them to the lake as Parquet and
# confirms, the retention service drops them. Then: expired chunks gone, present in
# the lake, row counts equal, contents equal after restore, nothing else touched.
# LAKE_KIND tls: a local lake, and both services talk to Redis over TLS (rediss://, the
# server's certificate checked against the tests' CA).
kind=${1:-local}
. "$(dirname "$0")/lib.sh"
need_services
[ "$kind" = azure ] && need_services TS_TEST_AZURE_CONNECTION_STRING
if [ "$kind" = tls ]; then
    need_services TS_TEST_REDISS_URL TS_TEST_REDIS_TLS_CA
    kind=local SVC_REDIS_URL=$TS_TEST_REDISS_URL SVC_REDIS_CA=$TS_TEST_REDIS_TLS_CA
fi
WORK=$(mktemp -d)
TAG=wf$kind${SVC_REDIS_CA:+tls}$$
trap 'drop_db; redis-cli -u "$TS_TEST_REDIS_URL" DEL $TAG.request $TAG.confirmation $TAG.deadletter >/dev/null 2>&1; rm -rf "$WORK"' EXIT
new_db "tsarchive_wf_$kind${SVC_REDIS_CA:+_tls}"
cd "$WORK"

sql "
CREATE TYPE mood AS ENUM ('calm', 'tense');
CREATE TABLE metrics (ts timestamptz NOT NULL, device int, value double precision, status text,
                      reading numeric(12,3), tags text[], doc jsonb, m mood) PARTITION BY RANGE (ts);
CREATE TABLE metrics_2022_01 PARTITION OF metrics FOR VALUES FROM ('2022-01-01') TO ('2022-02-01');
CREATE TABLE metrics_2022_02 PARTITION OF metrics FOR VALUES FROM ('2022-02-01') TO ('2022-03-01');
CREATE TABLE metrics_2022_03 PARTITION OF metrics FOR VALUES FROM ('2022-03-01') TO ('2022-04-01');
CREATE TABLE metrics_recent PARTITION OF metrics FOR VALUES FROM (now() - interval '30 days') TO (now() + interval '30 days');
INSERT INTO metrics
  SELECT t, (i % 50), CASE WHEN i % 97 = 0 THEN NULL ELSE sin(i) * 1000 END,
         (ARRAY['ok','warn','fail','ok','ok'])[1 + i % 5], round((i * 1.234)::numeric, 3),
         CASE WHEN i % 7 = 0 THEN NULL ELSE ARRAY['a' || i % 3, NULL, 'z'] END,
         CASE WHEN i % 11 = 0 THEN NULL ELSE jsonb_build_object('i', i, 'ü', 'ö') END,
         (ARRAY['calm','tense']::mood[])[1 + i % 2]
  FROM generate_series(0, 3 * 24 * 60 * 30) i, LATERAL (SELECT '2022-01-01'::timestamptz + i * interval '1 minute') s(t)
  WHERE t < '2022-04-01';
INSERT INTO metrics SELECT now() - i * interval '1 hour', 1, i, 'recent', NULL, NULL, NULL, NULL FROM generate_series(1, 100) i;
CREATE TABLE daily (day date NOT NULL, total bigint) PARTITION BY RANGE (day);
CREATE TABLE daily_2021 PARTITION OF daily FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');
INSERT INTO daily SELECT d, extract(doy FROM d)::bigint FROM generate_series('2021-01-01'::date, '2021-12-31', '1 day') d;
CREATE TABLE untouched (id int PRIMARY KEY, note text);
INSERT INTO untouched SELECT i, 'row ' || i FROM generate_series(1, 1000) i;
CREATE SCHEMA ref;
CREATE TABLE ref.expired AS SELECT * FROM metrics WHERE ts < '2022-04-01';
CREATE TABLE ref.daily AS SELECT * FROM daily;
"
expired_rows=$(sql "SELECT count(*) FROM ref.expired")
recent_before=$(sql "SELECT md5(string_agg(t::text, ',' ORDER BY ts)) FROM metrics_recent t")
untouched_before=$(sql "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM untouched t")

if [ "$kind" = azure ]; then
    export TSARCHIVE_LAKEHOUSE_CONNECTION_STRING=$TS_TEST_AZURE_CONNECTION_STRING
fi
write_config tsarchive.yaml "$kind"
"$BIN" -c tsarchive.yaml run --once >run.log 2>&1
rc=$?
expect "run --once exits 0" 0 "$rc"
[ "$rc" = 0 ] || tail -20 run.log

expect "expired partitions gone" 0 "$(sql "SELECT count(*) FROM pg_class WHERE relname IN ('metrics_2022_01','metrics_2022_02','metrics_2022_03','daily_2021')")"
expect "recent partition untouched" "$recent_before" "$(sql "SELECT md5(string_agg(t::text, ',' ORDER BY ts)) FROM metrics_recent t")"
expect "unpartitioned table untouched" "$untouched_before" "$(sql "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM untouched t")"
expect "every archival event dropped" "4 dropped" "$(sql "SELECT count(*) || ' ' || min(state) FROM tsarchive.archival_events WHERE state = 'dropped'")"
expect "rows recorded = rows archived" "$((expired_rows + 365))" "$(sql "SELECT sum(rows) FROM tsarchive.archival_events")"
grep -q "summary: 4 requests, 4 chunks dropped.*0 expired chunks left" run.log && ok "summary printed" || { bad "summary"; tail -3 run.log; }

# the lake's listing and the objects themselves
"$BIN" -c tsarchive.yaml lake ls >ls.txt 2>&1
expect "objects in the lake" 4 "$(grep -c '\.parquet' ls.txt)"
expect "two tables' logs in the lake" 2 "$(grep -c '_delta_log/00000000000000000000\.json' ls.txt)"
mkdir -p fetched
for p in $(grep -o '[^ ]*\.\(parquet\|json\)' ls.txt); do
    mkdir -p "fetched/$(dirname "$p")"
    "$BIN" -c tsarchive.yaml lake get "$p" -o "fetched/$p" >/dev/null 2>&1 || bad "lake get $p"
done
# read as a reader of the tables would: the live files from the Delta logs
expect "DuckDB counts the archived rows" "$expired_rows" \
    "$(lake_sql "$WORK/fetched" "SELECT count(*) FROM lake WHERE filename LIKE '%/metrics_%'")"
expect "DuckDB sees the daily rows" 365 "$(lake_sql "$WORK/fetched" "SELECT count(*) FROM lake WHERE filename LIKE '%/daily_%'")"

# every live file read whole by parquet-wasm and hyparquet too, each row count equal
# to DuckDB's
lake_sql "$WORK/fetched" "SELECT file FROM lake_files ORDER BY file" >live.txt
lake_sql "$WORK/fetched" "SELECT filename, count(*) FROM lake GROUP BY filename ORDER BY filename" >duck_rows.tsv
node "$ROOT/tests/e2e/readers_rows.mjs" $(cat live.txt) >readers.tsv 2>&1
expect "parquet-wasm and hyparquet read every live file" 0 $?
expect "both count each file's rows as DuckDB does" "$(awk -F'\t' '{ print $1 "\t" $2 "\t" $2 }' duck_rows.tsv)" "$(sort readers.tsv)"

# the archive as tables: tsarchive's own view of the logs
"$BIN" -c tsarchive.yaml lake tables >tables.txt 2>&1
expect "lake tables: two tables" 2 "$(grep -c '/public\.\(metrics\|daily\) ' tables.txt)"
"$BIN" -c tsarchive.yaml lake files public.metrics --column ts >files.txt 2>&1
expect "lake files: three live files" "3 live files, $expired_rows rows" \
    "$(sed -n 's/^table .*: version [0-9]*, \([0-9]* live files, [0-9]* rows\),.*/\1/p' files.txt)"
grep -q '2022-01-01T00:00:00Z/2022-02-01T00:00:00Z' files.txt && ok "lake files: each file's range" || { bad "lake files"; cat files.txt; }

# restore into fresh tables and compare both ways
sql "CREATE TABLE restored (LIKE metrics); CREATE TABLE restored_daily (LIKE daily)"
"$BIN" -c tsarchive.yaml restore --table public.metrics --into public.restored >restore.log 2>&1 ||
    { bad "restore metrics"; cat restore.log; }
"$BIN" -c tsarchive.yaml restore --table public.daily --into public.restored_daily >>restore.log 2>&1 ||
    { bad "restore daily"; cat restore.log; }
expect "restored = original (metrics, both ways)" "0 0" \
    "$(sql "SELECT (SELECT count(*) FROM (TABLE ref.expired EXCEPT ALL TABLE restored) a) || ' ' || (SELECT count(*) FROM (TABLE restored EXCEPT ALL TABLE ref.expired) b)")"
expect "restored = original (daily, both ways)" "0 0" \
    "$(sql "SELECT (SELECT count(*) FROM (TABLE ref.daily EXCEPT ALL TABLE restored_daily) a) || ' ' || (SELECT count(*) FROM (TABLE restored_daily EXCEPT ALL TABLE ref.daily) b)")"

# a second run finds nothing to do and touches nothing
"$BIN" -c tsarchive.yaml run --once >run2.log 2>&1
expect "second run exits 0" 0 $?
grep -q "summary: 0 requests, 0 chunks dropped.*0 expired chunks left" run2.log && ok "second run requests nothing" || { bad "second run"; tail -3 run2.log; }
finish
