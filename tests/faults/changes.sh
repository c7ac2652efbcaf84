#!/usr/bin/env bash
# changes.sh CASE: a chunk changed AFTER its export began must not be dropped with the
# stale archive (docs/change-proof.md). On PostgreSQL 15 partitions the archiver is
# stalled mid-COPY (archiver.export@1:sleep=5000: its REPEATABLE READ snapshot is
# taken, rows are streaming), and while the log shows the stall a psql session commits
# a change to the very chunk being exported (found in pg_stat_activity). The export
# cannot see it, so its proof is stale: the retention service must find the change
# under its ACCESS EXCLUSIVE lock ("changed since its export"), keep the chunk, have it
# archived again, and drop it only with an archive that holds the change. ref.m gets
# the same change so the promises are checked against the final truth.
#   changed_insert  a row inserted into the partition being exported
#   changed_update  a row of it updated (s and v)
#   changed_delete  a row of it deleted
#   changed_tsdb    a compressed TimescaleDB chunk on PGlite+TimescaleDB, where the
#                   services cannot run (one shared session): `tsarchive export` the
#                   chunk, then insert / update / delete in the compressed chunk; after
#                   each change the retention service's drop-time check (BEGIN, LOCK
#                   ... ACCESS EXCLUSIVE, pg_chunk_unchanged: tests/faults/tsdb_changes.c)
#                   must report the change against the previous export's proof, and a
#                   new export must hold the change (DuckDB) and prove unchanged.
# cases: changed_insert changed_update changed_delete changed_tsdb
case=${1:?usage: changes.sh CASE}
FAULT_CASE=$case
. "$(dirname "$0")/lib.sh"

# ---------------------------------------------------------------- PGlite+TimescaleDB
if [ "$case" = changed_tsdb ]; then
    need_services TS_TEST_TSDB_URL
    HELPER=${TSDB_CHANGES:-$(dirname "$BIN")/tests/faults/tsdb_changes}
    if [ ! -x "$HELPER" ]; then
        bad "the proof-check helper $HELPER is not built (tests/faults/CMakeLists.txt: tsdb_changes)"
        finish
        exit
    fi
    S=ft_chg_$$ # unique: PGlite is shared with other tests (one session for all)
    tsql() { psql "$TS_TEST_TSDB_URL" -qXAt -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "$1"; }
    drop_tsdb() { psql "$TS_TEST_TSDB_URL" -qX -c "DROP SCHEMA IF EXISTS $S CASCADE" >/dev/null 2>&1; }
    trap 'drop_tsdb; cleanup' EXIT
    printf 'database:\n  url: "%s"\n' "$TS_TEST_TSDB_URL" >"$WORK/t.yaml"
    tsql "CREATE SCHEMA $S;
          CREATE TABLE $S.m (ts timestamptz NOT NULL, id bigint, v double precision, s text);
          SELECT create_hypertable('$S.m', 'ts', chunk_time_interval => interval '1 day');
          INSERT INTO $S.m SELECT '2022-01-01'::timestamptz + i * interval '1 minute', i, i * 0.25, md5(i::text)
            FROM generate_series(0, 2 * 1440 - 1) i;
          ALTER TABLE $S.m SET (timescaledb.compress, timescaledb.compress_orderby = 'ts');
          SELECT count(compress_chunk(c)) FROM show_chunks('$S.m') c;" >/dev/null ||
        { bad "could not set up the hypertable on PGlite"; finish; exit; }
    chunk=$(tsql "SELECT chunk_schema || '.' || chunk_name FROM timescaledb_information.chunks
                  WHERE hypertable_schema = '$S' AND hypertable_name = 'm' AND range_start = '2022-01-01'")
    expect "the 2022-01-01 chunk is compressed" t \
        "$(tsql "SELECT is_compressed FROM timescaledb_information.chunks WHERE hypertable_schema = '$S' AND range_start = '2022-01-01'")"
    n=0 proof=""
    # export: writes $WORK/eN.parquet, sets $proof (printed, and in the file's metadata)
    export_chunk() {
        n=$((n + 1))
        "$BIN" -c "$WORK/t.yaml" export --chunk "$chunk" -o "$WORK/e$n.parquet" >"$WORK/export$n.log" 2>&1 ||
            { bad "export $n failed: $(cat "$WORK/export$n.log")"; return 1; }
        proof=$(sed -n 's/^proof: //p' "$WORK/export$n.log")
        expect "export $n: the proof printed is the one in the file's metadata" "$proof" \
            "$("$BIN" parquet inspect "$WORK/e$n.parquet" | sed -n 's/^ *"tsarchive.proof": "\(.*\)",\{0,1\}$/\1/p')"
    }
    check() { "$HELPER" "$TS_TEST_TSDB_URL" "$chunk" "$1" 2>&1; } # prints unchanged / changed: ...
    in_file() { duckdb "SELECT $2 FROM read_parquet('$WORK/e$n.parquet') WHERE $1"; }
    export_chunk
    expect "export 1: 1440 rows" 1440 "$(duckdb "SELECT count(*) FROM read_parquet('$WORK/e1.parquet')")"
    expect "export 1 proves unchanged under the drop's lock" unchanged "$(check "$proof")"
    for change in insert update delete; do
        old=$proof
        case $change in
        insert) tsql "INSERT INTO $S.m VALUES ('2022-01-01 12:00:00.123456+00', 999999, 42.5, 'inserted late')" ;;
        update) tsql "UPDATE $S.m SET s = 'updated late', v = 1.5 WHERE id = 100" ;;
        delete) tsql "DELETE FROM $S.m WHERE id = 101" ;;
        esac
        got=$(check "$old")
        case "$got" in
        changed:*) ok "$change in the compressed chunk: the check under the lock reports it ($got)" ;;
        *) bad "$change in the compressed chunk not detected by pg_chunk_unchanged: $got" ;;
        esac
        export_chunk || continue
        expect "export $n after the $change proves unchanged" unchanged "$(check "$proof")"
        [ "$proof" != "$old" ] && ok "export $n carries a new proof" || bad "export $n: the proof did not change"
        case $change in
        insert) expect "export $n holds the inserted row" "42.5	inserted late" "$(in_file "id = 999999" "v, s")"
                expect "export $n: rows" 1441 "$(duckdb "SELECT count(*) FROM read_parquet('$WORK/e$n.parquet')")" ;;
        update) expect "export $n holds the update" "1.5	updated late" "$(in_file "id = 100" "v, s")" ;;
        delete) expect "export $n lacks the deleted row" 0 "$(in_file "id = 101" "count(*)")"
                expect "export $n: rows" 1440 "$(duckdb "SELECT count(*) FROM read_parquet('$WORK/e$n.parquet')")" ;;
        esac
    done
    # the chunk is still (partly) compressed: the changes went through TimescaleDB's DML
    # on compressed chunks, and the check decompressed to read it
    expect "the chunk is still marked compressed" t \
        "$(tsql "SELECT is_compressed FROM timescaledb_information.chunks WHERE hypertable_schema = '$S' AND range_start = '2022-01-01'")"
    # the canonical text of lib.sh (epoch microseconds, 4v exact), both sides
    expect "the final export matches the chunk value by value (rows md5)" \
        "$(tsql "SELECT count(*) || ' ' || md5(string_agg($CANON_PG, ',' ORDER BY id)) FROM $chunk")" \
        "$(duckdb "SELECT count(*) || ' ' || md5(string_agg($CANON_DUCK, ',' ORDER BY id)) FROM read_parquet('$WORK/e$n.parquet')")"
    drop_tsdb
    finish
    exit
fi

# ---------------------------------------------------------------- PostgreSQL 15
need_services
case "$case" in changed_insert | changed_update | changed_delete) ;; *) echo "unknown case $case"; exit 2 ;; esac

standard_data 3
WORKERS=1 fault_config local
supervise arc "archiver.export@1:sleep=5000" archiver
supervise ret "" retention

wait_for 60 "the archiver's stall mid-COPY" log_has arc "fault injection: sleep 5000 ms at archiver.export" &&
    ok "the archiver stalls mid-COPY"
# the chunk whose COPY is under way: the one to change
copying() { sql "SELECT substring(query FROM '(m_2022_[0-9][0-9])') FROM pg_stat_activity
                 WHERE datname = current_database() AND query LIKE 'COPY%' AND pid <> pg_backend_pid() LIMIT 1"; }
chunk=$(copying)
[ -n "$chunk" ] && ok "the export under way is $chunk's COPY" || { bad "no COPY under way"; chunk=m_2022_01; }
month=${chunk#m_} month=${month/_/-}
rowid=$(sql "SELECT min(id) + 5000 FROM $chunk")
committed=0
case "$case" in
changed_insert)
    rowid=999999999
    sql "BEGIN;
         INSERT INTO m VALUES ('$month-15 12:00:00.123456+00', $rowid, 42.5, 'inserted late');
         INSERT INTO ref.m VALUES ('$chunk', '$month-15 12:00:00.123456+00', $rowid, 42.5, 'inserted late');
         COMMIT;" && committed=1
    want="42.5	inserted late" what="v, s" ;;
changed_update)
    sql "BEGIN;
         UPDATE m SET s = 'updated late', v = 1.5 WHERE id = $rowid;
         UPDATE ref.m SET s = 'updated late', v = 1.5 WHERE id = $rowid;
         COMMIT;" && committed=1
    want="1.5	updated late" what="v, s" ;;
changed_delete)
    sql "BEGIN; DELETE FROM m WHERE id = $rowid; DELETE FROM ref.m WHERE id = $rowid; COMMIT;" && committed=1
    want=0 what="count(*)" ;;
esac
expect "the change to $chunk (row $rowid) is committed" 1 "$committed"
# the export must still be stalled: its snapshot predates the change
if log_has arc "fault injection: resumed at archiver.export"; then
    bad "the export resumed before the change committed (the case proves nothing)"
else
    ok "the change committed while $chunk's export was stalled"
fi

settle 90
stop_all
refused=$(grep -o "chunk \"public.$chunk\": changed since its export .*: kept" "$WORK/ret.log" | head -n1)
[ -n "$refused" ] && ok "the stale archive was refused under the lock: $refused" ||
    bad "the change to $chunk was not detected at drop time"
expect "only $chunk was refused" 1 "$(grep -c 'changed since its export' "$WORK/ret.log")"
expect "$chunk archived twice (the stale archive, then the changed one)" 2 \
    "$(grep -c "archived chunk \"public.$chunk\"" "$WORK/arc.log")"
expect "$chunk dropped once" 1 "$(grep -c "dropped chunk \"public.$chunk\"" "$WORK/ret.log")"
event_of() { grep "$1" "$2" | sed -n 's/.*\[event_id=\([0-9a-f-]*\)\].*/\1/p' | tail -n1; }
second=$(event_of "archived chunk \"public.$chunk\"" "$WORK/arc.log")
expect "the drop went with the second archive's event" "$second" "$(event_of "dropped chunk \"public.$chunk\"" "$WORK/ret.log")"
obj=$(lake_sql "$LAKE" "SELECT file FROM lake_files WHERE file LIKE '%/${chunk}\\_%' ESCAPE '\\'")
expect "the final archive of $chunk holds the $case change" "$want" \
    "$(duckdb "SELECT $what FROM read_parquet('$obj') WHERE id = $rowid")"
check_promises
check_sanitizers
finish
