#!/usr/bin/env bash
# redis_entra.sh: redis.auth: entra end to end. A private redis-server over TLS stands in
# for Azure Cache for Redis: it cannot check a JWT, so the tests' token service
# (token_server.mjs) makes every token it mints for https://redis.azure.com the password
# of the ACL user named by the identity's object id, and takes it away when the token
# expires; the default user has a password of its own, so nothing gets in unauthenticated.
# Checked: tsarchive's bus (through bus_options_from_config, as the services open it)
# AUTHs as redis.entra_user with the token of a service principal (and of a managed
# identity), keeps one connection for 10 s of 4 s tokens and AUTHs on it again before
# each token expires (MONITOR shows every AUTH of that connection), each new token
# fetched before the old one expired; a refused secret and a wrong user fail in words;
# no token or secret in any output. With the PostgreSQL of scripts/services
# (TS_TEST_PG_URL): the whole workflow (run --once) over it with 2 s tokens, every Redis
# connection of the process sharing one token source.
# Needs BIN, PROBE, ROOT (CTest) and AZ_PORT_BASE: Redis +0 (plain, admin only) and +1
# (TLS), token service https +2, http +3, the workflow's endpoints +4, +5.
. "$ROOT/tests/e2e/lib.sh"
base=${AZ_PORT_BASE:-15820}
r_port=$base rt_port=$((base + 1)) tls_port=$((base + 2)) http_port=$((base + 3))
for tool in node openssl redis-server redis-cli; do
    command -v $tool >/dev/null || { echo "SKIP: $tool not found (run scripts/deps)"; exit 77; }
done
WORK=$(mktemp -d)
C=$WORK/certs
pids=()
ADMIN=(redis-cli -p "$r_port" --user default --pass admin-pw-5150 --no-auth-warning)
cleanup() {
    local p
    [ -f "$WORK/redis.pid" ] && pids+=("$(cat "$WORK/redis.pid")")
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    [ "$failn" != 0 ] && for f in "$WORK"/*.log; do echo "--- tail $f"; tail -n 12 "$f"; done
    [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in $r_port $rt_port $tls_port $http_port; do
    port_open $p && { echo "FAIL port $p is taken (set AZ_PORT_BASE)"; exit 1; }
done
sh "$ROOT/tests/azure/make_certs.sh" "$C" || { echo "FAIL could not make certificates"; exit 1; }

OID=8c4a6b0e-1111-4222-8333-944455556666
SECRET='redis-sp-s3cr3t-value'
redis-server --bind 127.0.0.1 --port "$r_port" --tls-port "$rt_port" --tls-cert-file "$C/server.crt" \
    --tls-key-file "$C/server.key" --tls-ca-cert-file "$C/ca.crt" --tls-auth-clients no \
    --requirepass admin-pw-5150 --save "" --appendonly no --dir "$WORK" \
    --daemonize yes --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log" >/dev/null
token_config() { # [life_s]
    cat >"$WORK/ts.json" <<EOF
{"https_port": $tls_port, "http_port": $http_port, "cert": "$C/server.crt", "key": "$C/server.key",
 "issuer_key": "$C/issuer.key", "tenant": "tenant-r", "life_s": ${1:-3600}, "log": "$WORK/tokens.jsonl",
 "oid": "$OID", "clients": {"cid-redis": {"secret": "$SECRET"}}, "imds": {},
 "redis": {"cli": ["redis-cli", "-p", "$r_port", "--user", "default", "--pass", "admin-pw-5150", "--no-auth-warning"],
           "user": "$OID"}}
EOF
}
token_config 4
node "$ROOT/tests/azure/token_server.mjs" "$WORK/ts.json" >"$WORK/token-server.log" 2>&1 &
pids+=($!)
for _ in $(seq 150); do port_open $rt_port && port_open $tls_port && port_open $http_port && break; sleep 0.2; done
port_open $rt_port && port_open $tls_port || { echo "FAIL Redis or the token service did not start"; cat "$WORK"/*.log; exit 1; }

# bus_config FILE USER [lake keys...]
bus_config() {
    local f=$1 user=$2
    shift 2
    {
        echo "redis:"
        echo "  url: \"rediss://127.0.0.1:$rt_port/0\""
        echo "  tls_ca_file: \"$C/ca.crt\""
        echo "  auth: entra"
        echo "  entra_user: \"$user\""
        echo "lake:"
        echo "  kind: local"
        echo "  authority_host: \"https://127.0.0.1:$tls_port\""
        echo "  imds_endpoint: \"http://127.0.0.1:$http_port/metadata/identity/oauth2/token\""
        echo "  ca_file: \"$C/ca.crt\""
        for kv in "$@"; do echo "  $kv"; done
    } >"$f"
}
sp=("tenant_id: tenant-r" "client_id: cid-redis" "client_secret: \"$SECRET\"")
clean=(env -u IDENTITY_ENDPOINT -u IDENTITY_HEADER -u AZURE_FEDERATED_TOKEN_FILE -u AZURE_CLIENT_ID
       -u AZURE_TENANT_ID -u AZURE_AUTHORITY_HOST)
bus_config "$WORK/sp.yaml" "$OID" "${sp[@]}"

# the config is valid, and says nothing of ignored lake settings: Redis uses them
"${clean[@]}" "$BIN" -c "$WORK/sp.yaml" config check >"$WORK/check.out" 2>&1
expect "config check with redis.auth: entra" 0 "$?"
grep -q 'ignored' "$WORK/check.out" && bad "config check calls the identity settings ignored" || ok "no warning about the identity settings"
grep -q -- "$SECRET" "$WORK/check.out" && bad "config check prints the secret" || ok "config check hides the secret"

# nothing gets in without a token
expect "the default user wants its own password" "NOAUTH" \
    "$(redis-cli -p "$r_port" PING 2>&1 | grep -o NOAUTH)"

# ---- a service principal's tokens, 4 s each, on one connection for 10 s ----
"${ADMIN[@]}" CONFIG RESETSTAT >/dev/null
timeout 14 "${ADMIN[@]}" MONITOR >"$WORK/monitor.txt" 2>&1 &
mon=$!
sleep 0.5
t0=$(date +%s%3N)
"${clean[@]}" "$PROBE" "$WORK/sp.yaml" bus 10 200 >"$WORK/probe.out" 2>"$WORK/probe.log" &
probe=$!
sleep 1
id1=$("${ADMIN[@]}" CLIENT LIST | awk '/ name=az-probe /{ for (i = 1; i <= NF; i++) if ($i ~ /^(id|user)=/) printf "%s ", $i }')
sleep 8
id2=$("${ADMIN[@]}" CLIENT LIST | awk '/ name=az-probe /{ for (i = 1; i <= NF; i++) if ($i ~ /^(id|user)=/) printf "%s ", $i }')
wait $probe
prc=$?
kill $mon 2>/dev/null
wait $mon 2>/dev/null
expect "10 s of PINGs with 4 s tokens: none failed" 0 "$prc"
grep -q "rounds [0-9]* failures 0 reconnects 0" "$WORK/probe.out" && ok "one connection throughout ($(cat "$WORK/probe.out"))" ||
    bad "the probe reconnected or failed: $(cat "$WORK/probe.out")"
expect "the connection is the same and authenticated as the object id" "$id1" "$id2"
case "$id1" in *"user=$OID "*) ok "the server sees user $OID" ;; *) bad "connection: $id1" ;; esac

# every AUTH of that connection (MONITOR shows AUTH with its arguments redacted)
addr=$(awk '/"PING"/{ print $3; exit }' "$WORK/monitor.txt" | tr -d ']')
awk -v a="$addr]" '$3 == a && $4 == "\"AUTH\"" { print $1 }' "$WORK/monitor.txt" >"$WORK/auths.txt"
nauth=$(wc -l <"$WORK/auths.txt")
[ "$nauth" -ge 4 ] && ok "$nauth AUTHs on the one connection in 10 s" || bad "only $nauth AUTHs on the connection $addr"
maxgap=$(awk 'NR > 1 { g = $1 - p; if (g > m) m = g } { p = $1 } END { printf "%.1f", m }' "$WORK/auths.txt")
awk -v m="$maxgap" 'BEGIN { exit !(m > 0 && m < 4) }' && ok "AUTH again every ${maxgap} s at most: before each 4 s token expired" ||
    bad "the longest time between AUTHs was ${maxgap} s (tokens last 4 s)"
read -r count late <<<"$(node -e '
const l = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse)
  .filter((x) => x.minted === "secret" && x.resource === "https://redis.azure.com" && x.t >= Number(process.argv[2]));
let late = 0;
for (let i = 1; i < l.length; i++) if (l[i].t >= l[i - 1].exp * 1000) late++;
console.log(l.length + " " + late);' "$WORK/tokens.jsonl" "$t0")"
[ "${count:-0}" -ge 4 ] && ok "$count tokens for https://redis.azure.com/.default" || bad "only ${count:-0} tokens minted"
expect "each token fetched before the one before expired" 0 "${late:-x}"
expect "one AUTH per token (the bus's renewal finds the new token)" "$count" "$nauth"
npw=$("${ADMIN[@]}" ACL GETUSER "$OID" | awk '/^passwords$/{ on = 1; next } /^(commands|keys|channels|selectors)$/{ on = 0 } on { n++ } END { print n + 0 }')
[ "$npw" -ge 1 ] && [ "$npw" -le 3 ] && [ "$npw" -lt "$count" ] &&
    ok "expired tokens stop being passwords: $npw of $count left" || bad "$npw of $count tokens are still passwords"

# ---- a managed identity (IMDS) works the same way ----
token_config 3600
bus_config "$WORK/mi.yaml" "$OID"
"${clean[@]}" "$PROBE" "$WORK/mi.yaml" bus 1 200 >"$WORK/mi.out" 2>"$WORK/mi.log"
expect "managed identity (IMDS) for Redis" 0 "$?"
grep -q '"minted":"imds","resource":"https://redis.azure.com"' "$WORK/tokens.jsonl" && ok "IMDS asked for resource https://redis.azure.com/" ||
    bad "no IMDS token for Redis"

# ---- refusals, in words ----
bus_config "$WORK/bad.yaml" "$OID" "tenant_id: tenant-r" "client_id: cid-redis" "client_secret: \"wrong-s3cret-0\""
"${clean[@]}" "$PROBE" "$WORK/bad.yaml" bus 0.3 100 >"$WORK/bad.out" 2>"$WORK/bad.log"
expect "a refused client secret fails the call" 1 "$?"
grep -q 'the credentials callback failed: the token endpoint "https://127.0.0.1:'"$tls_port"'/tenant-r/oauth2/v2.0/token" refused the token request for "https://redis.azure.com/.default": HTTP 401 invalid_client' "$WORK/bad.log" &&
    ok "says the token endpoint refused, and why" || { bad "refused secret: unclear"; tail -3 "$WORK/bad.log"; }
bus_config "$WORK/user.yaml" "00000000-dead-beef-0000-000000000000" "${sp[@]}"
"${clean[@]}" "$PROBE" "$WORK/user.yaml" bus 0.3 100 >"$WORK/user.out" 2>"$WORK/user.log"
expect "a token for another object id is refused by Redis" 1 "$?"
grep -q 'refused the credentials of user "00000000-dead-beef-0000-000000000000": WRONGPASS' "$WORK/user.log" &&
    ok "says Redis refused which user" || { bad "wrong user: unclear"; tail -3 "$WORK/user.log"; }
sed -i '/entra_user/d' "$WORK/user.yaml"
"$BIN" -c "$WORK/user.yaml" config check >"$WORK/nouser.out" 2>&1
expect "redis.auth: entra without redis.entra_user: a config error" 3 "$?"
grep -q 'redis.auth "entra" needs redis.entra_user' "$WORK/nouser.out" && ok "names the missing key" || bad "missing key not named"

# ---- the whole workflow over it: both services, every connection, one token source ----
if [ -n "${TS_TEST_PG_URL:-}" ] && psql "$TS_TEST_PG_URL" -qXAtc "SELECT 1" >/dev/null 2>&1; then
    token_config 2
    new_db "tsarchive_entra_$$"
    trap 'drop_db; cleanup' EXIT
    sql "CREATE TABLE m (ts timestamptz NOT NULL, id int) PARTITION BY RANGE (ts);
         CREATE TABLE m_2022_01 PARTITION OF m FOR VALUES FROM ('2022-01-01') TO ('2022-02-01');
         CREATE TABLE m_2022_02 PARTITION OF m FOR VALUES FROM ('2022-02-01') TO ('2022-03-01');
         CREATE TABLE m_now PARTITION OF m FOR VALUES FROM (now() - interval '1 day') TO (now() + interval '1 day');
         INSERT INTO m SELECT '2022-01-01'::timestamptz + i * interval '1 hour', i FROM generate_series(0, 1415) i;"
    TAG=entra$$
    cat >"$WORK/wf.yaml" <<EOF
database:
  url: "$DB_URL"
redis:
  url: "rediss://127.0.0.1:$rt_port/0"
  tls_ca_file: "$C/ca.crt"
  auth: entra
  entra_user: "$OID"
  request_stream: "$TAG.request"
  confirmation_stream: "$TAG.confirmation"
  deadletter_stream: "$TAG.deadletter"
  visibility_timeout_s: 5
lake:
  kind: local
  path: "$WORK/lake"
  tenant_id: tenant-r
  client_id: cid-redis
  client_secret: "$SECRET"
  authority_host: "https://127.0.0.1:$tls_port"
  ca_file: "$C/ca.crt"
retention:
  retry_backoff_s: 1
  max_attempts: 3
http:
  retention_listen: "127.0.0.1:$((base + 4))"
  archiver_listen: "127.0.0.1:$((base + 5))"
EOF
    t0=$(date +%s%3N)
    (cd "$WORK" && "${clean[@]}" timeout 240 "$BIN" -c wf.yaml run --once >"$WORK/wf.log" 2>&1)
    expect "run --once with redis.auth: entra (2 s tokens)" 0 "$?"
    expect "both expired partitions dropped" 0 "$(sql "SELECT count(*) FROM pg_class WHERE relname IN ('m_2022_01', 'm_2022_02')")"
    n=$(node -e '
const l = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse)
  .filter((x) => x.minted && x.resource === "https://redis.azure.com" && x.t >= Number(process.argv[2]));
console.log(l.length);' "$WORK/tokens.jsonl" "$t0")
    secs=$(( ($(date +%s%3N) - t0) / 1000 + 1 ))
    # one source renews about every second; one per connection would be several times that
    [ "$n" -ge 2 ] && [ "$n" -le $((secs + 2)) ] &&
        ok "all the process's Redis connections shared one token source, renewed: $n tokens in $secs s" ||
        bad "$n tokens in $secs s for one process (want about one a second)"
    grep -q 'WRONGPASS\|NOAUTH\|credentials callback failed' "$WORK/wf.log" && bad "an AUTH failed in the run" || ok "no AUTH failed in the run"
else
    echo "(TS_TEST_PG_URL not set or not reachable: the workflow over Entra ID is not tried)"
fi

leaks=$(grep -l -F -e "$SECRET" -e "wrong-s3cret-0" -e "eyJ" "$WORK"/*.out "$WORK"/*.log "$WORK/monitor.txt" 2>/dev/null | grep -v token-server.log)
expect "no secret and no token in any output" "" "$leaks"
# the ASan build runs this too: a sanitizer report in any output fails it
san=$(grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$WORK"/*.log "$WORK"/*.out 2>/dev/null | tr '\n' ' ')
expect "no sanitizer report in any output" "" "$san"
finish
