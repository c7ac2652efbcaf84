#!/usr/bin/env bash
# events.sh CASE: hostile and broken events pushed onto the streams while supervised
# services archive the standard data. Nothing may crash, nothing may stall, nothing
# may be dropped on the word of a bad event; every unparseable entry goes to the
# dead-letter stream ($TAG.deadletter) with a reason naming the problem, and the real
# chunks settle as if nothing happened (then the three promises of lib.sh).
#   events_requests       on the request stream: malformed and truncated JSON, unknown
#                         version, wrong types, missing fields, a 70 kB body, NUL bytes
#                         (escaped and raw), 10k nested "[", no "event" field, duplicate
#                         keys, a bad UUID, a 64-byte name, an empty range: each
#                         dead-lettered with its reason. Well-formed but hostile requests
#                         (chunk_name `m_2022_01"; DROP TABLE m; --`, a table that does
#                         not exist, the plain table ref.m, tsarchive's own state table,
#                         a real partition under another database's or parent's name)
#                         are refused with a failure confirmation, which the retention
#                         service ignores as foreign; no object is written for them and
#                         table m, m_now and ref.m stay intact.
#   events_confirmations  on the confirmation stream: the same kinds of garbage, each
#                         dead-lettered; a well-formed confirmation for an unknown event,
#                         ignored; and for real in-flight events (the archiver stalled
#                         between archiving and confirming, archiver.before_confirm
#                         sleep) forged success confirmations that name an object outside
#                         the lake, the right object with a wrong MD5, the right object
#                         and MD5 with a wrong proof, and another chunk's genuine object:
#                         none may lead to a drop (the retention service verifies the
#                         object itself); each is a failed attempt, the genuine
#                         confirmation that follows is a duplicate, and the chunk is
#                         archived again and dropped with a later event.
# The event parser itself is fuzzed by the libFuzzer target tests/fuzz_bus
# (-DTS_FUZZ=ON); this test covers what the services do with what it rejects.
# cases: events_requests events_confirmations
case=${1:?usage: events.sh CASE}
FAULT_CASE=$case
. "$(dirname "$0")/lib.sh"
need_services
case "$case" in events_requests | events_confirmations) ;; *) echo "unknown case $case"; exit 2 ;; esac

R() { redis-cli -u "$TS_TEST_REDIS_URL" "$@"; }
RAW() { R --raw "$@"; }
uuid() { cat /proc/sys/kernel/random/uuid; }
# month_range CHUNK: "start end" of m_YYYY_MM in RFC 3339
month_range() {
    local m=${1#m_}
    m=${m/_/-}
    echo "$(date -u -d "$m-01" +%FT%TZ) $(date -u -d "$m-01 +1 month" +%FT%TZ)"
}
# chunk_json NAME [SCHEMA] [TABLE] [START END]: the "chunk" object
chunk_json() {
    local name=$1 schema=${2:-public} table=${3:-m} s=${4:-} e=${5:-}
    [ -z "$s" ] && read -r s e <<<"$(month_range m_2022_01)"
    printf '{"hypertable_schema":"public","hypertable":"%s","chunk_schema":"%s","chunk_name":"%s","range_kind":"timestamp","range_start":"%s","range_end":"%s","source":"partition"}' \
        "$table" "$schema" "$name" "$s" "$e"
}
# req_json EVENT_ID CHUNK_JSON [DATABASE]
req_json() {
    printf '{"version":1,"event_id":"%s","attempt":1,"requested_at":"2026-01-01T00:00:00Z","database":"%s","chunk":%s}' \
        "$1" "${3:-$DB_NAME}" "$2"
}
# conf_json EVENT_ID CHUNK_JSON ROWS BYTES OBJECT CHECKSUM PROOF: a success confirmation
conf_json() {
    printf '{"version":1,"event_id":"%s","status":"success","database":"%s","chunk":%s,"rows":%s,"bytes":%s,"object":"%s","checksum":"%s","error":null,"archived_at":"2026-01-01T00:00:00Z","proof":{"chunk":"%s"}}' \
        "$1" "$DB_NAME" "$2" "$3" "$4" "$5" "$6" "$7"
}

# junk STREAM REASON_REGEX PAYLOAD: XADDs one malformed entry; remembers its id and
# the reason its dead letter must give
junk_ids=() junk_want=() junk_what=()
junk() {
    local id
    id=$(R XADD "$1" '*' event "$3")
    junk_ids+=("$id") junk_want+=("$2") junk_what+=("${4:-$2}")
}
junk_stdin() { # STREAM REGEX WHAT < payload (raw bytes, NULs included)
    local id
    id=$(R -x XADD "$1" '*' event)
    junk_ids+=("$id") junk_want+=("$2") junk_what+=("$3")
}
# the kinds of garbage both streams get; $1 the stream, $2 a valid event of that stream
push_garbage() {
    local s=$1 good=$2 big nested
    junk "$s" 'not valid JSON' 'not json at all' "malformed JSON"
    junk "$s" 'not valid JSON' "${good:0:$((${#good} / 2))}" "a valid event cut in half"
    junk "$s" 'unsupported "version" 2' "${good/\"version\":1/\"version\":2}" "unknown version"
    junk "$s" 'field "version": must be an integer' "${good/\"version\":1/\"version\":\"1\"}" "version as a string"
    junk "$s" 'field "event_id": not a UUID' "${good/\"event_id\":\"/\"event_id\":\"x}" "a bad UUID"
    junk "$s" 'field "chunk": must be an object' "$(sed 's/"chunk":{[^}]*}/"chunk":["m_2022_01"]/' <<<"$good")" "chunk as an array"
    junk "$s" 'field "chunk.chunk_name": missing' "${good/\"chunk_name\":/\"chunk_nam\":}" "missing chunk.chunk_name"
    junk "$s" '\u0000 is not allowed' "${good/\"chunk_name\":\"/\"chunk_name\":\"\\u0000}" "an escaped NUL (\\u0000) in a name"
    junk "$s" 'field "chunk.chunk_name": contains control characters' "${good/\"chunk_name\":\"/\"chunk_name\":\"\\u0007}" "a control character in a name"
    junk "$s" 'field "chunk.chunk_name": longer than 63 bytes' "${good/\"chunk_name\":\"/\"chunk_name\":\"$(printf 'n%.0s' $(seq 63))}" "a 64-byte name"
    junk "$s" 'field "chunk.range_end": must be after' "${good/\"range_end\":\"2022-02-01/\"range_end\":\"2021-02-01}" "an empty range"
    junk "$s" 'duplicate' "${good/\"version\":1,/\"version\":1,\"version\":1,}" "duplicate keys"
    junk "$s" 'not a JSON object' '[1,2,3]' "a top-level array"
    big=$(head -c 70000 /dev/zero | tr '\0' 'x')
    junk "$s" 'more than the cap' "${good/\"version\":1,/\"version\":1,\"pad\":\"$big\",}" "a 70 kB body"
    nested=$(head -c 10000 /dev/zero | tr '\0' '[')
    junk "$s" 'not valid JSON' "$nested" "10k nested ["
    junk_stdin "$s" 'not valid JSON' "a raw NUL byte" < <(printf '%s\0%s' "${good:0:20}" "${good:20}")
    local id
    id=$(R XADD "$s" '*' other "no event field")
    junk_ids+=("$id") junk_want+=('entry has no "event" field') junk_what+=("no event field")
}
# reason_of ID: the dead letter's reason for the original entry ID
reason_of() {
    RAW XRANGE "$TAG.deadletter" - + | tr -d '\0' |
        awk -v id="$1" 'prev == "id" && $0 == id { f = 1 } f && prev == "reason" { print; exit } { prev = $0 }'
}
check_deadletters() {
    local i got
    dead_letters_at_least() { [ "$(R XLEN "$TAG.deadletter")" -ge "$1" ]; }
    wait_for 60 "${#junk_ids[@]} dead letters" dead_letters_at_least "${#junk_ids[@]}"
    expect "every malformed entry dead-lettered, nothing else" "${#junk_ids[@]}" "$(R XLEN "$TAG.deadletter")"
    for i in "${!junk_ids[@]}"; do
        got=$(reason_of "${junk_ids[$i]}")
        if grep -qF -- "${junk_want[$i]}" <<<"$got"; then
            ok "dead-lettered ${junk_what[$i]}: ${got:0:110}"
        else
            bad "${junk_what[$i]} (${junk_ids[$i]}): want a reason with '${junk_want[$i]}', got '$got'"
        fi
    done
    groups
    expect "the original entries acked" "0 0" \
        "$(R XPENDING "$TAG.request" "$ARC_GROUP" | head -n1) $(R XPENDING "$TAG.confirmation" "$RET_GROUP" | head -n1)"
}
# no crash: the same process all along, no restart by the supervisor, no fatal report
pids_at_start() { arc_pid=$(pid_of archiver) ret_pid=$(pid_of retention); }
check_alive() {
    expect "the archiver is the same process all along" "$arc_pid" "$(pid_of archiver)"
    expect "the retention service is the same process all along" "$ret_pid" "$(pid_of retention)"
    expect "no restart by the supervisor" "" "$(grep -h 'supervisor:' "$WORK/arc.log" "$WORK/ret.log")"
}
check_intact() {
    expect "table m is intact (the current partition and its row)" "1 1" \
        "$(sql "SELECT count(*) FROM pg_class WHERE relname = 'm' AND relkind = 'p'") $(sql "SELECT count(*) FROM m")"
    expect "the reference copy ref.m is intact" 259200 "$(sql "SELECT count(*) FROM ref.m")"
    expect "tsarchive's state table is intact" 3 "$(sql "SELECT count(*) FROM tsarchive.archival_events")"
}

standard_data 3

# ---------------------------------------------------------------- requests
if [ "$case" = events_requests ]; then
    fault_config local
    # well-formed, hostile: a failure confirmation each, no object, no harm. Queued
    # before the services start, so they are served while the partitions they name
    # (m_2022_01, m_now) are still there; the garbage is pushed while the services run.
    hostile=()
    hreq() { # WHAT REASON_REGEX CHUNK_JSON [DATABASE]
        local ev
        ev=$(uuid)
        R XADD "$TAG.request" '*' event "$(req_json "$ev" "$3" "${4:-}")" >/dev/null
        hostile+=("$ev|$1|$2")
    }
    hreq 'chunk_name m_2022_01"; DROP TABLE m; --' 'is neither a TimescaleDB chunk nor a range partition' \
        "$(chunk_json 'm_2022_01\"; DROP TABLE m; --')"
    hreq "a table that does not exist" 'is neither a TimescaleDB chunk nor a range partition' "$(chunk_json no_such_table)"
    hreq "the plain table ref.m" 'is neither a TimescaleDB chunk nor a range partition' "$(chunk_json m ref)"
    hreq "tsarchive's own state table" 'is neither a TimescaleDB chunk nor a range partition' \
        "$(chunk_json archival_events tsarchive)"
    hreq "the current partition under an expired range" 'differs from the request' "$(chunk_json m_now)"
    hreq "a real partition under another database's name" 'LEFT TO ITS OWN SERVICES' "$(chunk_json m_2022_01)" other_db
    hreq "a real partition under another parent's name" "the chunk's table in the database" "$(chunk_json m_2022_01 public not_m)"
    supervise arc "" archiver
    supervise ret "" retention
    wait_for 30 "the retention service up" log_has ret "retention service active"
    wait_for 30 "the archiver up" log_has arc "archival service starting"
    pids_at_start
    push_garbage "$TAG.request" "$(req_json "$(uuid)" "$(chunk_json m_2022_01)")"

    settle 90
    check_deadletters
    for h in "${hostile[@]}"; do
        IFS='|' read -r ev what want <<<"$h"
        # the confirmations themselves are trimmed once settled: the archiver's log
        # says what each was
        c=$(grep -F "[event_id=$ev]" "$WORK/arc.log" | grep 'failed: ')
        if [ "$want" = "LEFT TO ITS OWN SERVICES" ]; then
            # another database's request: this database's services neither fail, ack
            # for it, nor count it; its own services (its own consumer group) would
            [ -z "$(grep -F "$ev" "$WORK/arc.log" "$WORK/ret.log")" ] &&
                ok "$what: left to that database's own services, nothing confirmed here" ||
                bad "$what: handled here: $(grep -F "$ev" "$WORK/arc.log" "$WORK/ret.log" | head -2)"
            continue
        fi
        if [ -z "$c" ]; then
            bad "$what: no failure confirmation"
        elif grep -q -- "$want" <<<"$c"; then
            ok "$what: refused (${c#*failed: })"
        else
            bad "$what: not refused with '$want': $c"
        fi
        log_has ret "confirmation for unknown event \"$ev\" ignored" && ok "$what: its confirmation ignored as foreign" ||
            bad "$what: the retention service did not ignore its confirmation"
    done
    expect "no object outside the three chunks' places" "" \
        "$(find "$LAKE" -type f | grep -v "/$DB_NAME/public\.m/year=2022/month=0[123]/m_2022_0[123]_2022" | grep -v "/$DB_NAME/public\.m/_delta_log/[0-9]*\.json$")"
    check_intact
    check_alive
    stop_all
    check_promises
    check_sanitizers
    finish
    exit
fi

# ---------------------------------------------------------------- confirmations
# One worker, stalled after each of its first four archives, before confirming: a
# forged confirmation for the event in flight is read first.
WORKERS=1 fault_config local
supervise arc "archiver.before_confirm@1:sleep=6000,archiver.before_confirm@2:sleep=6000,archiver.before_confirm@3:sleep=6000,archiver.before_confirm@4:sleep=6000" archiver
supervise ret "" retention
wait_for 30 "both services up" log_has ret "retention service active"
wait_for 30 "the archiver up" log_has arc "archival service starting"
pids_at_start
good=$(conf_json "$(uuid)" "$(chunk_json m_2022_01)" 1 1 "file:///x" 00000000000000000000000000000000 "v2:1:1:x")
push_garbage "$TAG.confirmation" "$good"
junk "$TAG.confirmation" 'field "rows": must be an integer' "${good/\"rows\":1,/\"rows\":\"1\",}" "rows as a string"
junk "$TAG.confirmation" 'field "bytes": -1 is out of range' "${good/\"bytes\":1,/\"bytes\":-1,}" "negative bytes"
junk "$TAG.confirmation" 'field "proof": missing' "${good/,\"proof\":*/\}}" "missing proof"
junk "$TAG.confirmation" 'field "status": must be "success" or "failure"' "${good/\"success\"/\"maybe\"}" "an unknown status"
junk "$TAG.confirmation" 'field "error": must be null when' "${good/\"error\":null/\"error\":\"x\"}" "success with an error"
junk "$TAG.confirmation" 'field "error": must be a non-empty string' "${good/\"success\"/\"failure\"}" "failure without an error"
junk "$TAG.confirmation" 'field "object": contains control characters' "${good/\"object\":\"/\"object\":\"\\u001b}" "an escape character in the object"
unknown=$(uuid)
R XADD "$TAG.confirmation" '*' event "$(conf_json "$unknown" "$(chunk_json m_2022_01)" 1 1 "file:///x" \
    00000000000000000000000000000000 "v2:1:1:x")" >/dev/null

# the event in flight at the K-th stall: the last event the single worker logged
in_flight() {
    awk -v k="$1" '/\[event_id=/ { ev = $0 } index($0, "fault injection: sleep") && index($0, "(hit " k ")") { print ev; exit }' "$WORK/arc.log" |
        sed -n 's/.*\[event_id=\([0-9a-f-]*\)\].*chunk "public\.\(m_[0-9_]*\)".*/\1 \2/p'
}
object_of() { find "$LAKE" -name "${1}_*.parquet"; }
proof_of() { "$BIN" parquet inspect "$1" | sed -n 's/^ *"tsarchive.proof": "\(.*\)",\{0,1\}$/\1/p'; }
rows_of() { "$BIN" parquet inspect "$1" | sed -n 's/^  "num_rows": \([0-9]*\),$/\1/p'; }
forged=()
for k in 1 2 3 4; do
    wait_for 90 "stall $k before a confirmation" log_has arc "at archiver.before_confirm (hit $k)" || break
    read -r ev chunk <<<"$(in_flight $k)"
    [ -n "$ev" ] || { bad "stall $k: no event in flight found"; continue; }
    read -r s e <<<"$(month_range "$chunk")"
    cj=$(chunk_json "$chunk" public m "$s" "$e")
    obj=$(object_of "$chunk")
    url="file://$obj" rows=$(rows_of "$obj") bytes=$(stat -c %s "$obj") md5=$(md5sum <"$obj" | cut -c1-32)
    proof=$(proof_of "$obj")
    case $k in
    1) what="an object outside the lake (/etc/passwd, its own MD5)" want="names an object outside the chunk's place"
       conf=$(conf_json "$ev" "$cj" "$rows" "$(stat -c %s /etc/passwd)" "file:///etc/passwd" "$(md5sum </etc/passwd | cut -c1-32)" "$proof") ;;
    2) what="the right object with a wrong MD5" want="has MD5 $md5, expected"
       conf=$(conf_json "$ev" "$cj" "$rows" "$bytes" "$url" "$(md5sum <<<"$md5" | cut -c1-32)" "$proof") ;;
    3) what="the right object and MD5 with a wrong proof" want="the object's proof differs"
       IFS=: read -r pv pr psum pcols <<<"$proof" # the sum's last digit changed
       conf=$(conf_json "$ev" "$cj" "$rows" "$bytes" "$url" "$md5" "$pv:$pr:${psum%?}$(((${psum: -1} + 1) % 10)):$pcols") ;;
    4) other=$(find "$LAKE" -name '*.parquet' ! -name "${chunk}_*" | head -n1)
       what="another chunk's genuine object ($(basename "$other"))" want="names another chunk than its request"
       ochunk=$(basename "$other" | cut -c1-9)
       read -r os oe <<<"$(month_range "$ochunk")"
       conf=$(conf_json "$ev" "$(chunk_json "$ochunk" public m "$os" "$oe")" "$(rows_of "$other")" "$(stat -c %s "$other")" \
           "file://$other" "$(md5sum <"$other" | cut -c1-32)" "$(proof_of "$other")") ;;
    esac
    R XADD "$TAG.confirmation" '*' event "$conf" >/dev/null
    forged+=("$ev|$chunk|$what|$want")
    # judged while the genuine confirmation is still held back: a failed attempt, kept
    if wait_for 20 "the forged confirmation judged" log_has ret "\[event_id=$ev\] archival of chunk \"public.$chunk\" failed"; then
        line=$(grep "\[event_id=$ev\] archival of chunk \"public.$chunk\" failed" "$WORK/ret.log" | head -n1)
        grep -qF -- "$want" <<<"$line" && ok "forged: $what: refused: ${line#*failed }" ||
            bad "forged: $what: refused for another reason: $line"
        expect "forged: $what: $chunk still in the database" 1 "$(sql "SELECT count(*) FROM pg_class WHERE relname = '$chunk'")"
    fi
done
settle 120
for f in "${forged[@]}"; do
    IFS='|' read -r ev chunk what want <<<"$f"
    # the genuine confirmation of the forged event, held back by the stall, comes too
    # late: the row is retrying (a duplicate) or already re-armed with a fresh event
    if log_has ret "\[event_id=$ev\] confirmation for chunk \"public.$chunk\" in state \"retrying\" ignored (a duplicate)" ||
        log_has ret "confirmation for unknown event \"$ev\" ignored"; then
        ok "forged: $what: the genuine confirmation that followed was ignored as stale"
    else
        bad "forged: $what: the genuine confirmation was not ignored as stale"
    fi
    dropped=$(grep "dropped chunk \"public.$chunk\"" "$WORK/ret.log" | sed -n 's/.*\[event_id=\([0-9a-f-]*\)\].*/\1/p')
    [ -n "$dropped" ] && [ "$dropped" != "$ev" ] && ok "forged: $what: $chunk dropped later, with event $dropped" ||
        bad "forged: $what: $chunk dropped with event '$dropped'"
done
log_has ret "confirmation for unknown event \"$unknown\" ignored" && ok "a confirmation for an unknown event ignored" ||
    bad "the confirmation for an unknown event was not ignored"
check_deadletters
check_intact
check_alive
stop_all
check_promises
check_sanitizers
finish
