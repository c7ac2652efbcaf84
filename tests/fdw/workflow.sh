#!/usr/bin/env bash
# workflow.sh LAKE_KIND: tsarchive_fdw over a table the services archive (local folder
# or Azurite). `tsarchive attach` makes metrics_all = metrics UNION ALL its archive; a
# set of queries (counts, sums and averages per day and per device, a time range, a
# join with a live dimension table, ORDER BY ts DESC LIMIT 10, the whole content) gives
# exactly what it gave on the table before anything was archived, at every step:
#   nothing archived; a chunk archived but not dropped (the retention service killed
#   before its drop); one dropped and one not; all dropped; a dropped partition
#   created again with late rows (its old archive and its new rows, different rows);
#   that new incarnation archived but not dropped; detached and attached again; dropped.
# Also: EXPLAIN's files and row groups read and skipped; IMPORT FOREIGN SCHEMA.
kind=${1:-local}
. "$(dirname "$0")/lib.sh"
need_services
[ "$kind" = azure ] && need_services TS_TEST_AZURE_CONNECTION_STRING
need_fdw
work_dir
TAG=fdw$kind$$
trap 'drop_db; redis-cli -u "$TS_TEST_REDIS_URL" DEL $TAG.request $TAG.confirmation $TAG.deadletter >/dev/null 2>&1; rm -rf "$WORK"' EXIT
new_db "tsarchive_fdw_${kind}_$$"
cd "$WORK"

sql "
CREATE TABLE devices (device int PRIMARY KEY, site text NOT NULL);
INSERT INTO devices SELECT d, 'site' || (d % 4) FROM generate_series(0, 49) d;
CREATE TABLE metrics (ts timestamptz NOT NULL, device int NOT NULL, value double precision,
                      reading numeric(12,3), status text) PARTITION BY RANGE (ts);
CREATE TABLE metrics_2022_01 PARTITION OF metrics FOR VALUES FROM ('2022-01-01') TO ('2022-02-01');
CREATE TABLE metrics_2022_02 PARTITION OF metrics FOR VALUES FROM ('2022-02-01') TO ('2022-03-01');
CREATE TABLE metrics_2022_03 PARTITION OF metrics FOR VALUES FROM ('2022-03-01') TO ('2022-04-01');
CREATE TABLE metrics_recent PARTITION OF metrics FOR VALUES FROM (now() - interval '30 days') TO (now() + interval '30 days');
-- values whose sums are exact in double precision, whatever the order of summation
INSERT INTO metrics
  SELECT t, i % 50, CASE WHEN i % 97 = 0 THEN NULL ELSE (i % 1000) * 0.25 - 100 END,
         round((i * 1.234)::numeric, 3), (ARRAY['ok','warn','fail','ok','ok'])[1 + i % 5]
  FROM generate_series(0, 90 * 24 * 30) i, LATERAL (SELECT '2022-01-01'::timestamptz + i * interval '2 minutes') s(t)
  WHERE t < '2022-04-01';
INSERT INTO metrics SELECT now() - i * interval '1 hour', i % 50, i, i, 'recent' FROM generate_series(1, 100) i;
CREATE SCHEMA ref;
CREATE TABLE ref.metrics AS SELECT * FROM metrics;
"

# The queries, %T% the table; each answer as text.
Q=(
"SELECT count(*), sum(value), avg(value), sum(reading), avg(reading), min(ts), max(ts) FROM %T%"
"SELECT date_trunc('day', ts), count(*), sum(value), avg(value), sum(reading) FROM %T% GROUP BY 1 ORDER BY 1"
"SELECT device, count(*), sum(value), avg(value), max(reading) FROM %T% GROUP BY 1 ORDER BY 1"
"SELECT count(*), sum(value), sum(reading) FROM %T% WHERE ts >= '2022-02-10' AND ts < '2022-02-17'"
"SELECT count(*), sum(value) FROM %T% WHERE ts BETWEEN '2022-01-15' AND '2022-03-15 12:00' AND device IN (3, 7)"
"SELECT d.site, count(*), sum(m.value), avg(m.reading) FROM %T% m JOIN devices d USING (device) GROUP BY 1 ORDER BY 1"
"SELECT * FROM %T% ORDER BY ts DESC, device LIMIT 10"
"SELECT * FROM %T% WHERE ts < '2022-04-01' ORDER BY ts DESC, device LIMIT 10"
"SELECT md5(string_agg(x::text, ',' ORDER BY x.ts, x.device)) FROM %T% x"
)
NAMES=(totals per_day per_device time_range between_in join_dimension latest_10 latest_archived_10 content)

# same_answers STEP: every query on metrics_all answers as on ref.metrics
same_answers() {
    local i want got diff=0
    for i in "${!Q[@]}"; do
        want=$(sqlv "${Q[$i]//%T%/ref.metrics}")
        got=$(sqlv "${Q[$i]//%T%/metrics_all}")
        if [ "$want" = "$got" ] && [ -n "$want" ]; then
            pass=$((pass + 1))
        else
            bad "$1: ${NAMES[$i]} differs"
            echo "  want: $(printf '%s' "$want" | head -3 | tr '\n' '|')"
            echo "  got:  $(printf '%s' "$got" | head -3 | tr '\n' '|')"
            diff=1
        fi
    done
    [ "$diff" = 0 ] && echo "ok   $1: ${#Q[@]} queries answer as on the table before archiving"
    expect "$1: every row once (EXCEPT ALL both ways)" "0 0" \
        "$(sql "SELECT (SELECT count(*) FROM (TABLE ref.metrics EXCEPT ALL TABLE metrics_all) a) || ' ' || (SELECT count(*) FROM (TABLE metrics_all EXCEPT ALL TABLE ref.metrics) b)")"
}

# explain_value LABEL SQL: a number EXPLAIN ANALYZE shows for the archive's scan
explain_value() {
    sqlv "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) $2" | sed -n "s/^ *$1: \([0-9]*\)$/\1/p" | head -1
}

if [ "$kind" = azure ]; then
    export TSARCHIVE_LAKEHOUSE_CONNECTION_STRING=$TS_TEST_AZURE_CONNECTION_STRING
fi
LAKE_PATH=$WORK/lake write_config tsarchive.yaml "$kind" "parquet:
  row_group_rows: 5000"
mkdir -p "$WORK/lake"

# attach before anything is archived: the archive is empty, the view is the table
"$BIN" -c tsarchive.yaml attach public.metrics >attach.log 2>&1
expect "attach exits 0" 0 $?
grep -q 'nothing is archived yet' attach.log && ok "attach says nothing is archived yet" || { bad "attach"; cat attach.log; }
expect "the archive is empty before archiving" 0 "$(sql "SELECT count(*) FROM metrics_archive")"
same_answers "nothing archived"
if [ "$kind" = azure ]; then
    key=$(printf '%s' "$TS_TEST_AZURE_CONNECTION_STRING" | sed -n 's/.*AccountKey=\([^;]*\).*/\1/p')
    expect "no secret in a server option" 0 "$(sql "SELECT count(*) FROM pg_foreign_server WHERE array_to_string(srvoptions, ',') LIKE '%AccountKey%'")"
    expect "the secret is in the user mapping" 1 "$(sql "SELECT count(*) FROM pg_user_mappings WHERE srvname = 'tsarchive_lake' AND array_to_string(umoptions, ',') LIKE 'connection_string=%'")"
    sqlv "EXPLAIN (VERBOSE, ANALYZE) SELECT * FROM metrics_all" >explain.txt
    grep -qF "$key" explain.txt && bad "EXPLAIN shows the account key" || ok "EXPLAIN shows no secret"
fi

# 1: the retention service dies before its first drop: archived, not dropped
TSARCHIVE_FAULT="retention.before_drop@1:exit" "$BIN" -c tsarchive.yaml run --once >run1.log 2>&1
lake_readable
grep -q "fault injection: exit at retention.before_drop" run1.log && ok "step 1: killed before the first drop" || { bad "step 1 fault"; tail -5 run1.log; }
expect "step 1: no partition dropped" 3 "$(sql "SELECT count(*) FROM pg_class WHERE relname IN ('metrics_2022_01','metrics_2022_02','metrics_2022_03')")"
indb=$(explain_value "Files Skipped (Chunk In Database)" "SELECT * FROM metrics_archive")
[ "${indb:-0}" -ge 1 ] && ok "step 1: $indb archived files skipped as their chunks are in the database" || bad "step 1: no archived file of a live chunk ($indb)"
expect "step 1: the archive shows no row of a live chunk" 0 "$(sql "SELECT count(*) FROM metrics_archive")"
same_answers "step 1 (archived, not dropped)"

# 2: the first drop done, the retention service dies before the second
TSARCHIVE_FAULT="retention.before_drop@2:exit" "$BIN" -c tsarchive.yaml run --once >run2.log 2>&1
lake_readable
left=$(sql "SELECT count(*) FROM pg_class WHERE relname IN ('metrics_2022_01','metrics_2022_02','metrics_2022_03')")
[ "$left" -ge 1 ] && [ "$left" -le 2 ] && ok "step 2: some dropped, $left kept" || bad "step 2: $left partitions left"
same_answers "step 2 (dropped and not)"

# 3: everything expired archived and dropped
"$BIN" -c tsarchive.yaml run --once >run3.log 2>&1
expect "step 3: run --once exits 0" 0 $?
lake_readable
expect "step 3: expired partitions gone" 0 "$(sql "SELECT count(*) FROM pg_class WHERE relname IN ('metrics_2022_01','metrics_2022_02','metrics_2022_03')")"
same_answers "step 3 (all dropped)"
# what EXPLAIN shows for a week of February: two files skipped by the log, row groups by the footer
week="SELECT count(*) FROM metrics_archive WHERE ts >= '2022-02-10' AND ts < '2022-02-17'"
expect "explain: files live" 3 "$(explain_value "Files Live" "$week")"
expect "explain: files skipped by the log's statistics" 2 "$(explain_value "Files Skipped (Log Statistics)" "$week")"
expect "explain: files read" 1 "$(explain_value "Files Read" "$week")"
rgs=$(explain_value "Row Groups Skipped (Statistics)" "$week")
[ "${rgs:-0}" -ge 2 ] && ok "explain: $rgs row groups skipped by their statistics" || bad "explain: row groups skipped: $rgs"
sqlv "EXPLAIN (COSTS OFF) $week" >plain.txt
grep -q "Files Read: 1" plain.txt && grep -q "Row Groups Read:" plain.txt && ok "plain EXPLAIN shows what would be read" || { bad "plain EXPLAIN"; cat plain.txt; }
grep -q "Columns Read: ts" plain.txt && ok "only the column the query needs is read" || bad "columns read"

# IMPORT FOREIGN SCHEMA: the archived table, with its archived types
sqlv "CREATE SCHEMA archive; IMPORT FOREIGN SCHEMA \"tsarchive_fdw_${kind}_$$\" FROM SERVER tsarchive_lake INTO archive" >import.log
expect "import: one foreign table" "metrics" "$(sql "SELECT string_agg(foreign_table_name, ',') FROM information_schema.foreign_tables WHERE foreign_table_schema = 'archive'")"
expect "import: archived types" "timestamp with time zone,integer,double precision,numeric(12,3),text" \
    "$(sql "SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'archive.metrics'::regclass AND attnum > 0")"
expect "import: the archive = the rows archived (EXCEPT ALL both ways)" "0 0" \
    "$(sql "SELECT (SELECT count(*) FROM (SELECT * FROM ref.metrics WHERE ts < '2022-04-01' EXCEPT ALL TABLE archive.metrics) a) || ' ' || (SELECT count(*) FROM (TABLE archive.metrics EXCEPT ALL SELECT * FROM ref.metrics WHERE ts < '2022-04-01') b)")"

# 4: a dropped partition created again, with late rows: different rows than its archive
late="INSERT INTO %T% SELECT '2022-02-15 00:00:30+00'::timestamptz + i * interval '1 minute', 99, i * 0.5, i, 'late' FROM generate_series(1, 10) i"
sql "CREATE TABLE metrics_2022_02 PARTITION OF metrics FOR VALUES FROM ('2022-02-01') TO ('2022-03-01'); ${late//%T%/metrics}; ${late//%T%/ref.metrics}"
same_answers "step 4 (re-created with late rows)"

# 5: that new incarnation archived, not dropped
TSARCHIVE_FAULT="retention.before_drop@1:exit" "$BIN" -c tsarchive.yaml run --once >run5.log 2>&1
lake_readable
expect "step 5: the new partition is still there" 1 "$(sql "SELECT count(*) FROM pg_class WHERE relname = 'metrics_2022_02'")"
expect "step 5: files live (the old incarnation's stays)" 4 "$(explain_value "Files Live" "SELECT * FROM metrics_archive")"
expect "step 5: the new incarnation's file skipped" 1 "$(explain_value "Files Skipped (Chunk In Database)" "SELECT * FROM metrics_archive")"
same_answers "step 5 (new incarnation archived, not dropped)"

# 5b: detached rather than dropped: the live table no longer reads it, the archive does
sql "ALTER TABLE metrics DETACH PARTITION metrics_2022_02"
expect "step 5b: the detached partition's file is read" 0 "$(explain_value "Files Skipped (Chunk In Database)" "SELECT * FROM metrics_archive")"
same_answers "step 5b (detached)"
sql "ALTER TABLE metrics ATTACH PARTITION metrics_2022_02 FOR VALUES FROM ('2022-02-01') TO ('2022-03-01')"
same_answers "step 5c (attached again)"

# 6: dropped
"$BIN" -c tsarchive.yaml run --once >run6.log 2>&1
expect "step 6: run --once exits 0" 0 $?
lake_readable
expect "step 6: dropped" 0 "$(sql "SELECT count(*) FROM pg_class WHERE relname = 'metrics_2022_02'")"
same_answers "step 6 (both incarnations archived and dropped)"
expect "step 6: the late rows come from the archive" 10 "$(sql "SELECT count(*) FROM metrics_archive WHERE status = 'late'")"
finish
