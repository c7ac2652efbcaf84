# tests/faults/lib.sh: shared by the fault-injection tests. Each test runs the real
# services (as processes, under a supervisor that restarts them the way systemd's
# Restart=on-failure would), injects one fault, lets the system settle without
# anyone stepping in, and then asserts the three promises:
#   1. every row that left the database is in the lake, value by value (DuckDB reads
#      the lake, PostgreSQL the reference copy taken before the run);
#   2. no chunk was dropped without its verified archive: one object per dropped
#      chunk, holding exactly that chunk's rows, and the state table says dropped;
#   3. the system settled by itself within the test's time limit.
# Faults come from outside (kill -9, servers stopped and started) or from the named
# fault points in the code (TSARCHIVE_FAULT, see docs/faults.md).
#
# Needs BIN and ROOT (CTest sets them). Shared servers come from scripts/services
# (TS_TEST_*); tests that restart a server start their own on FAULT_PORT_BASE.
. "$ROOT/tests/e2e/lib.sh"

WORK=$(mktemp -d)
[ "$(id -u)" = 0 ] && chmod 755 "$WORK"
TAG=f-$(echo "${FAULT_CASE:-x}" | tr '_' '-')-$$ # also the Azure container: a-z, 0-9, -
LAKE=$WORK/lake
pids=()
private=0

# private_servers pg redis azurite: this test's own servers, which it may stop and
# start; the shared ones stay untouched. Ports FAULT_PORT_BASE+0..3.
private_servers() {
    local base=${FAULT_PORT_BASE:?FAULT_PORT_BASE must be set for private servers} what
    export TS_SERVICES_DIR=$WORK/services TS_PG_PORT=$base TS_REDIS_PORT=$((base + 1))
    export TS_AZURITE_PORT=$((base + 2)) TS_TSDB_PORT=$((base + 3)) TS_REDIS_TLS_PORT=$((base + 4))
    private=1
    for what in "$@"; do
        "$ROOT/scripts/services" start "$what" >"$WORK/services.env" 2>>"$WORK/services.log" ||
            { cat "$WORK/services.log"; echo "FAIL private $what did not start"; exit 1; }
        case "$what" in # only what runs here is taken from the private set
        pg) export TS_TEST_PG_URL="postgresql://postgres@127.0.0.1:$TS_PG_PORT/postgres" ;;
        redis) export TS_TEST_REDIS_URL="redis://127.0.0.1:$TS_REDIS_PORT/0" ;;
        azurite) TS_TEST_AZURE_CONNECTION_STRING=$(sed -n "s/^export TS_TEST_AZURE_CONNECTION_STRING='\(.*\)'$/\1/p" "$WORK/services.env")
                 export TS_TEST_AZURE_CONNECTION_STRING ;;
        esac
    done
}
server() { "$ROOT/scripts/services" "$@" >>"$WORK/services.log" 2>&1; } # server stop redis | start redis

# supervise NAME FAULT ARGS...: runs `tsarchive -c $WORK/c.yaml ARGS` in a loop that
# restarts it after a crash (non-zero exit or a signal) until `stop_all`. FAULT (may
# be empty) is TSARCHIVE_FAULT for the first start only: a fault happens once.
supervise() {
    local name=$1 fault=$2
    shift 2
    rm -f "$WORK/stopping"
    (
        n=0
        while [ ! -e "$WORK/stopping" ]; do
            if [ "$n" = 0 ] && [ -n "$fault" ]; then
                TSARCHIVE_FAULT=$fault "$BIN" -c "$WORK/c.yaml" "$@" >>"$WORK/$name.log" 2>&1
            else
                "$BIN" -c "$WORK/c.yaml" "$@" >>"$WORK/$name.log" 2>&1
            fi
            rc=$?
            n=$((n + 1))
            echo "supervisor: $name exited with $rc (start $n)" >>"$WORK/$name.log"
            # like systemd's RestartPreventExitStatus: a usage or config error stays down
            case "$rc" in 0 | 2 | 3) break ;; esac
            sleep 0.5
        done
    ) 2>/dev/null & # the subshell's own "Killed" notices; the services log to files
    pids+=($!)
}

# the tsarchive processes of this test (all run with -c $WORK/c.yaml)
ours() { pgrep -f -- "-c $WORK/c.yaml" || true; }
# pid_of NAME ARG: the running tsarchive process of that command (archiver, retention)
pid_of() { pgrep -f -- "-c $WORK/c.yaml $1" | head -n1; }

stop_all() {
    touch "$WORK/stopping"
    local p
    for p in $(ours); do kill -TERM "$p" 2>/dev/null; done
    for _ in $(seq 100); do [ -z "$(ours)" ] && break; sleep 0.1; done
    for p in $(ours); do kill -KILL "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    pids=()
}

cleanup() {
    stop_all
    [ "$failn" != 0 ] && for f in "$WORK"/*.log; do echo "--- tail $f"; tail -n 15 "$f"; done
    [ -n "${DB_NAME:-}" ] && psql "$TS_TEST_PG_URL" -qX -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1
    redis-cli -u "$TS_TEST_REDIS_URL" DEL "$TAG.request" "$TAG.confirmation" "$TAG.deadletter" >/dev/null 2>&1
    [ "$private" = 1 ] && "$ROOT/scripts/services" stop >/dev/null 2>&1
    [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

# standard_data [MONTHS]: table m, range-partitioned by month: MONTHS expired
# partitions from 2022-01 (default 3) of 30-second rows (about 89,000 a month, so an
# export passes several progress points and an Azure object several 1 MiB blocks),
# and one current partition that must stay. ref.m holds a copy of the expired rows
# with the partition each came from.
standard_data() {
    local months=${1:-3} i parts=""
    new_db "tsarchive_f_${FAULT_CASE:-x}"
    sql "CREATE TABLE m (ts timestamptz NOT NULL, id bigint, v double precision, s text) PARTITION BY RANGE (ts);
         CREATE TABLE m_now PARTITION OF m FOR VALUES FROM (now() - interval '1 day') TO (now() + interval '1 day');"
    for ((i = 0; i < months; i++)); do
        local from to name
        from=$(date -u -d "2022-01-01 +$i month" +%F)
        to=$(date -u -d "2022-01-01 +$((i + 1)) month" +%F)
        name=m_$(date -u -d "$from" +%Y_%m)
        sql "CREATE TABLE $name PARTITION OF m FOR VALUES FROM ('$from') TO ('$to')"
        parts="$parts${parts:+,}'$name'"
    done
    sql "INSERT INTO m SELECT t, i, i * 0.25, CASE WHEN i % 13 = 0 THEN NULL ELSE md5(i::text) END
           FROM generate_series(0, 30 * 24 * 3600 * $months / 30 + 3 * 24 * 120) i,
                LATERAL (SELECT '2022-01-01'::timestamptz + i * interval '30 seconds') x(t)
          WHERE t < '2022-01-01'::timestamptz + interval '$months months';
         INSERT INTO m VALUES (now(), -1, 0, 'now');
         CREATE SCHEMA ref;
         CREATE TABLE ref.m AS SELECT tableoid::regclass::text AS part, * FROM m WHERE ts < now() - interval '730 days';
         ANALYZE m;"
    EXPIRED="$parts"
}
parts_left() { sql "SELECT count(*) FROM pg_class WHERE relname IN ($EXPIRED)"; }
state_of() { sql "SELECT coalesce(string_agg(chunk_name || '=' || state, ' ' ORDER BY chunk_name), '') FROM tsarchive.archival_events"; }

# fault_config KIND [extra yaml]: the test's config at $WORK/c.yaml; row groups of
# 20,000 rows so Parquet bytes reach the lake all through an export; the HTTP
# endpoints on FAULT_PORT_BASE+6 (retention) and +7 (archiver)
fault_config() {
    local kind=$1 extra=${2:-}
    write_config "$WORK/c.yaml" "$kind" "parquet:
  row_group_rows: 20000
retention_check_interval_hours: 1
http:
  retention_listen: \"127.0.0.1:$((${FAULT_PORT_BASE:-14990} + 6))\"
  archiver_listen: \"127.0.0.1:$((${FAULT_PORT_BASE:-14990} + 7))\"
$extra"
    if [ "$kind" = azure ]; then export TSARCHIVE_LAKEHOUSE_CONNECTION_STRING=$TS_TEST_AZURE_CONNECTION_STRING; fi
}

# settle SECONDS: waits until every expired partition is gone and every event is
# dropped; prints how long it took. Fails (returns 1) at the limit.
settle() {
    local limit=$1 t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$limit" ]; do
        if [ "$(parts_left 2>/dev/null)" = 0 ] &&
            [ "$(sql "SELECT count(*) FROM tsarchive.archival_events WHERE state <> 'dropped'" 2>/dev/null)" = 0 ]; then
            ok "settled by itself in $((SECONDS - t0)) s"
            return 0
        fi
        sleep 0.5
    done
    bad "did not settle in $limit s: left $(parts_left 2>/dev/null) partitions; states: $(state_of 2>/dev/null)"
    return 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls until the command succeeds (a command
# or function: "$(...)" in the arguments would be expanded once, not at each poll)
wait_for() {
    local limit=$1 what=$2 t0=$SECONDS
    shift 2
    while [ $((SECONDS - t0)) -lt "$limit" ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    bad "timed out after $limit s waiting for: $what"
    return 1
}
# none_pending STREAM GROUP: no entry delivered and not yet acked
none_pending() { [ "$(redis-cli -u "$TS_TEST_REDIS_URL" XPENDING "$1" "$2" | head -n1)" = 0 ]; }
log_has() { grep -q -- "$2" "$WORK/$1.log" 2>/dev/null; } # log_has NAME TEXT

# lake_dir: a local folder holding the lake's objects: the lake itself, or for Azure
# every object fetched with `tsarchive lake get`
lake_dir() {
    if grep -q '^  kind: local' "$WORK/c.yaml"; then echo "$LAKE"; return; fi
    local d=$WORK/fetched p
    rm -rf "$d" && mkdir -p "$d"
    "$BIN" -c "$WORK/c.yaml" lake ls >"$WORK/ls.txt" 2>>"$WORK/lake-ls.log"
    for p in $(grep -o '[^ ]*\.\(parquet\|json\)' "$WORK/ls.txt"); do
        mkdir -p "$d/$(dirname "$p")"
        "$BIN" -c "$WORK/c.yaml" lake get "$p" -o "$d/$p" >/dev/null 2>>"$WORK/lake-ls.log"
    done
    echo "$d"
}

# canonical rows, the same text on both sides: id, epoch microseconds, 4v (exact),
# s or NULL; ordered by id; hashed
CANON_PG="id || '|' || ((extract(epoch FROM ts) * 1000000)::bigint) || '|' || ((v * 4)::bigint) || '|' || coalesce(s, 'NULL')"
CANON_DUCK="id || '|' || epoch_us(ts) || '|' || CAST(v * 4 AS BIGINT) || '|' || coalesce(s, 'NULL')"

# check_promises: the three promises for every expired partition that is gone. One
# DuckDB run reads the whole lake: the hash of all rows, and each object's row count.
check_promises() {
    local dir gone files want have p n rows
    dir=$(lake_dir)
    gone=$(sql "SELECT coalesce(string_agg(quote_literal(p), ','), '''''') FROM (SELECT DISTINCT part p FROM ref.m
                 WHERE part NOT IN (SELECT relname FROM pg_class)) x")
    # 1. every row that left the database, value by value
    want=$(sql "SELECT count(*) || ' ' || coalesce(md5(string_agg($CANON_PG, ',' ORDER BY id)), '-') FROM ref.m WHERE part IN ($gone)")
    # what a reader of the archive sees: the live files of the tables' Delta logs
    files=$(find "$dir" -path '*/_delta_log/*.json' | wc -l)
    if [ "$files" = 0 ]; then
        have="0 -"
        : >"$WORK/objects.tsv"
    else
        lake_sql "$dir" "SELECT '*', count(*) || ' ' || coalesce(md5(string_agg($CANON_DUCK, ',' ORDER BY id)), '-')
                           FROM lake
                         UNION ALL
                         SELECT regexp_extract(filename, '[^/]*$'), count(*)::text FROM lake GROUP BY filename" \
            >"$WORK/objects.tsv"
        have=$(awk -F'\t' '$1 == "*" { print $2 }' "$WORK/objects.tsv")
    fi
    expect "every row that left the database is in the archive's tables, value by value (rows md5)" "$want" "$have"
    # 2. one live file per dropped chunk, with that chunk's rows; state dropped
    for p in $(echo "$gone" | tr -d "'" | tr ',' ' '); do
        n=$(awk -F'\t' -v p="$p" 'index($1, p "_") == 1' "$WORK/objects.tsv" | wc -l)
        rows=$(awk -F'\t' -v p="$p" 'index($1, p "_") == 1 { print $2 }' "$WORK/objects.tsv")
        if [ "$n" != 1 ]; then bad "chunk $p was dropped with $n live files in its table (want exactly 1)"; continue; fi
        expect "chunk $p: its live file holds its rows" "$(sql "SELECT count(*) FROM ref.m WHERE part = '$p'")" "$rows"
        expect "chunk $p: recorded as dropped after a verified archive" "dropped true" \
            "$(sql "SELECT state || ' ' || (object IS NOT NULL AND checksum IS NOT NULL) FROM tsarchive.archival_events WHERE chunk_name = '$p'")"
    done
    expect "no partial write left in the lake" "" "$(find "$dir" -name '*.tmp-*' 2>/dev/null)"
    expect "the current partition is untouched" 1 "$(sql "SELECT count(*) FROM m_now")"
}

# ---- the fault proxy (tools/fault-proxy.mjs) in front of Azurite ----
proxy_pid=""
stop_proxy() { [ -n "$proxy_pid" ] && kill -TERM "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null; proxy_pid=""; }
CTL=$WORK/proxy.ctl
set_mode() { echo "$1" >"$CTL.new" && mv -f "$CTL.new" "$CTL"; }
stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$CTL.stats" 2>/dev/null | grep . || echo 0; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# start_proxy MODE: the proxy on FAULT_PORT_BASE+5 in front of the shared Azurite; the
# services (and check_promises' lake ls / get) reach Azure through it
start_proxy() {
    local port=$((${FAULT_PORT_BASE:?FAULT_PORT_BASE must be set} + 5)) target
    target=$(sed -n 's|.*BlobEndpoint=http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' <<<"$TS_TEST_AZURE_CONNECTION_STRING")
    [ -n "$target" ] || { echo "SKIP: the Azure connection string has no loopback BlobEndpoint"; exit 77; }
    set_mode "$1"
    port_open "$port" && { echo "FAIL port $port for the fault proxy is taken"; exit 1; }
    node "$ROOT/tools/fault-proxy.mjs" "$port" "$target" "$CTL" 2>>"$WORK/proxy.log" &
    proxy_pid=$!
    wait_for 20 "the fault proxy on port $port" port_open "$port" || exit 1
    # fault_config hands this to the services (and check_promises' lake ls / get)
    export TS_TEST_AZURE_CONNECTION_STRING=${TS_TEST_AZURE_CONNECTION_STRING/:$target\//:$port/}
}

# sanitizer reports in any service log (the ASan build runs these tests too)
check_sanitizers() {
    if grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$WORK"/*.log 2>/dev/null; then
        bad "sanitizer report in the logs above"
    else
        ok "no sanitizer report in the service logs"
    fi
}
