#!/usr/bin/env bash
# azurite_identities.sh: every Microsoft Entra ID identity of the lake, end to end against
# a private Azurite that serves HTTPS with the tests' certificate and checks bearer tokens
# (--oauth basic: issuer, audience, not-before and expiry), with tokens from the tests'
# token service (token_server.mjs: it checks each request and signs what it mints):
#   service principal with a client secret, and with a client certificate (a JWT
#   assertion the token service verifies against the registered certificate); managed
#   identity by IMDS (system- and user-assigned) and by App Service's IDENTITY_ENDPOINT;
#   AKS workload identity (the federated token file, read again at every fetch);
#   lake.auth: auto's order; lake.ca_file (and a clear error without it); a token
#   refreshed before it expires on a live lake; the controls that show Azurite refuses a
#   token for another audience and an expired one; no secret in any output.
# Needs BIN, PROBE, ROOT (CTest) and AZ_PORT_BASE: Azurite +0, token service https +1,
# http (IMDS, App Service) +2.
. "$ROOT/tests/e2e/lib.sh"
base=${AZ_PORT_BASE:-15800}
az_port=$base tls_port=$((base + 1)) http_port=$((base + 2))
azurite=$ROOT/tools/node_modules/azurite/dist/src/blob/main.js
for tool in node openssl; do
    command -v $tool >/dev/null || { echo "SKIP: $tool not found (run scripts/deps)"; exit 77; }
done
[ -f "$azurite" ] || { echo "SKIP: Azurite not installed in tools/node_modules (run scripts/deps)"; exit 77; }

WORK=$(mktemp -d)
C=$WORK/certs
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do # Azurite may linger over open connections: 5 s, then KILL
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    [ "$failn" != 0 ] && for f in "$WORK"/*.log; do echo "--- tail $f"; tail -n 12 "$f"; done
    [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in $az_port $tls_port $http_port; do
    port_open $p && { echo "FAIL port $p is taken (set AZ_PORT_BASE)"; exit 1; }
done

sh "$ROOT/tests/azure/make_certs.sh" "$C" || { echo "FAIL could not make certificates"; exit 1; }
SECRET='sp-s3cr3t/+value=1'
HDR='app-service-header-7f3a'
FED=$WORK/federated-token
FED0="eyJfederated.$(openssl rand -hex 16).sig"
echo "$FED0" >"$FED"

# token_config [life_s] [extra json members]: the token service's settings (read by it at
# every request)
token_config() {
    cat >"$WORK/ts.json" <<EOF
{"https_port": $tls_port, "http_port": $http_port, "cert": "$C/server.crt", "key": "$C/server.key",
 "issuer_key": "$C/issuer.key", "tenant": "tenant-1", "life_s": ${1:-3600}, "log": "$WORK/tokens.jsonl",
 "clients": {"cid-secret": {"secret": "$SECRET"}, "cid-cert": {"cert": "$C/client.crt"},
             "cid-wi": {"federated_file": "$FED"}},
 "imds": {}, "appservice_header": "$HDR"${2:+, $2}}
EOF
}
token_config
node "$ROOT/tests/azure/token_server.mjs" "$WORK/ts.json" >"$WORK/token-server.log" 2>&1 &
pids+=($!)
node "$azurite" --blobHost 127.0.0.1 --blobPort $az_port --location "$WORK/azurite" \
    --cert "$C/server.crt" --key "$C/server.key" --oauth basic --silent --skipApiVersionCheck --loose \
    >"$WORK/azurite.log" 2>&1 &
pids+=($!)
for _ in $(seq 150); do port_open $az_port && port_open $tls_port && port_open $http_port && break; sleep 0.2; done
port_open $az_port && port_open $tls_port || { echo "FAIL Azurite or the token service did not start"; cat "$WORK"/*.log; exit 1; }

# lake_config FILE [lake keys...]: HTTPS Azurite by its blob endpoint alone (no key, no
# SAS), the test CA, the token service as authority and IMDS
lake_config() {
    local f=$1
    shift
    {
        echo "lakehouse_connection_string: \"BlobEndpoint=https://127.0.0.1:$az_port/devstoreaccount1\""
        echo "lakehouse_container: \"identities\""
        echo "lake:"
        echo "  kind: azure"
        echo "  authority_host: \"https://127.0.0.1:$tls_port\""
        echo "  imds_endpoint: \"http://127.0.0.1:$http_port/metadata/identity/oauth2/token\""
        for kv in "$@"; do echo "  $kv"; done
    } >"$f"
}
lake_config "$WORK/ca.yaml" "ca_file: \"$C/ca.crt\""
ca="ca_file: \"$C/ca.crt\""
sp_secret=("$ca" "tenant_id: tenant-1" "client_id: cid-secret" "client_secret: \"$SECRET\"")
sp_cert=("$ca" "tenant_id: tenant-1" "client_id: cid-cert" "client_certificate_file: \"$C/client.pem\"")
# the environment each identity sees: nothing of App Service's or AKS's unless given
clean=(env -u IDENTITY_ENDPOINT -u IDENTITY_HEADER -u AZURE_FEDERATED_TOKEN_FILE -u AZURE_CLIENT_ID
       -u AZURE_TENANT_ID -u AZURE_AUTHORITY_HOST -u MSI_ENDPOINT -u MSI_SECRET)
wi_env=(AZURE_FEDERATED_TOKEN_FILE="$FED" AZURE_CLIENT_ID=cid-wi AZURE_TENANT_ID=tenant-1
        AZURE_AUTHORITY_HOST="https://127.0.0.1:$tls_port/")
as_env=(IDENTITY_ENDPOINT="http://127.0.0.1:$http_port/msi/token" IDENTITY_HEADER="$HDR")

n=0
# lake_test NAME CONFIG [VAR=value...]: `tsarchive lake test` in the clean environment plus
# the variables; output in $WORK/NAME.out, exit code in $rc
lake_test() {
    local name=$1 cfg=$2
    shift 2
    "${clean[@]}" "$@" "$BIN" -c "$cfg" lake test >"$WORK/$name.out" 2>&1
    rc=$?
}
minted() { grep -c "\"minted\":\"$1\"" "$WORK/tokens.jsonl" 2>/dev/null || true; }
has() { grep -q -- "$2" "$WORK/$1.out" && ok "$1: $3" || { bad "$1: $3 (\"$2\" not in the output)"; cat "$WORK/$1.out"; }; }

# ---- service principal, client secret: and objects go up and come back ----
lake_config "$WORK/sp.yaml" "${sp_secret[@]}"
lake_test sp_secret "$WORK/sp.yaml"
expect "service principal (secret): lake test" 0 "$rc"
has sp_secret 'identity: service principal "cid-secret" of tenant "tenant-1" (client secret), token for "https://storage.azure.com/.default"' "says which identity"
echo "hello entra" >"$WORK/hello.txt"
"${clean[@]}" "$BIN" -c "$WORK/sp.yaml" lake put "$WORK/hello.txt" a/hello.txt >"$WORK/put.out" 2>&1 &&
    "${clean[@]}" "$BIN" -c "$WORK/sp.yaml" lake get a/hello.txt -o - >"$WORK/get.out" 2>>"$WORK/put.out"
expect "service principal (secret): put and get through Azurite's token check" "hello entra" "$(cat "$WORK/get.out")"
expect "the token service minted for the secret, for Azure Storage: one token per process (test, put, get)" 3 \
    "$(grep '"minted":"secret"' "$WORK/tokens.jsonl" | grep -c '"resource":"https://storage.azure.com"')"

# ---- a wrong secret: refused, in words, without the secret ----
lake_config "$WORK/badsecret.yaml" "$ca" "tenant_id: tenant-1" "client_id: cid-secret" "client_secret: \"not-the-s3cret-99\""
lake_test sp_wrong "$WORK/badsecret.yaml"
expect "wrong client secret: exit 1" 1 "$rc"
has sp_wrong 'HTTP 401 invalid_client: AADSTS7000215: Invalid client secret provided' "the refusal in words"
grep -q 'not-the-s3cret-99' "$WORK/sp_wrong.out" && bad "the wrong secret is printed" || ok "the wrong secret is not printed"

# ---- service principal, client certificate ----
lake_config "$WORK/cert.yaml" "${sp_cert[@]}"
before=$(minted certificate)
lake_test sp_cert "$WORK/cert.yaml"
expect "service principal (certificate): lake test" 0 "$rc"
thumb=$(openssl x509 -in "$C/client.crt" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')
has sp_cert "service principal \"cid-cert\" of tenant \"tenant-1\" (client certificate, thumbprint $thumb)" "names the certificate by its thumbprint"
expect "the token service verified the assertion (RS256, x5t, aud, iss/sub, jti)" $((before + 1)) "$(minted certificate)"
# the token service's check is real: an assertion with the right x5t signed by another key
forged=$(node -e '
const c = require("crypto"), fs = require("fs");
const x5t = Buffer.from(new c.X509Certificate(fs.readFileSync(process.argv[1])).fingerprint.replaceAll(":", ""), "hex").toString("base64url");
const t = Math.floor(Date.now() / 1000), b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const input = b({alg: "RS256", typ: "JWT", x5t}) + "." + b({aud: process.argv[3], iss: "cid-cert", sub: "cid-cert", jti: c.randomUUID(), nbf: t, iat: t, exp: t + 600});
console.log(input + "." + c.sign("RSA-SHA256", Buffer.from(input), fs.readFileSync(process.argv[2])).toString("base64url"));
' "$C/client.crt" "$C/rogue.key" "https://127.0.0.1:$tls_port/tenant-1/oauth2/v2.0/token")
code=$(curl -s -o "$WORK/forged.out" -w '%{http_code}' --cacert "$C/ca.crt" "https://127.0.0.1:$tls_port/tenant-1/oauth2/v2.0/token" \
    --data-urlencode grant_type=client_credentials --data-urlencode client_id=cid-cert \
    --data-urlencode client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
    --data-urlencode "client_assertion=$forged" --data-urlencode scope=https://storage.azure.com/.default)
expect "the token service refuses a forged assertion (right x5t, another key)" "401 invalid signature" \
    "$code $(grep -o 'invalid signature' "$WORK/forged.out")"
# a certificate the tenant does not know
lake_config "$WORK/rogue.yaml" "$ca" "tenant_id: tenant-1" "client_id: cid-cert" "client_certificate_file: \"$C/rogue.pem\""
lake_test sp_rogue "$WORK/rogue.yaml"
expect "unknown certificate: exit 1" 1 "$rc"
has sp_rogue 'AADSTS700027' "refused by its thumbprint"
lake_config "$WORK/ec.yaml" "$ca" "tenant_id: tenant-1" "client_id: cid-cert" "client_certificate_file: \"$C/ec.pem\""
lake_test sp_ec "$WORK/ec.yaml"
expect "an EC key: a config error (exit 3) before any request" 3 "$rc"
has sp_ec 'the private key is not RSA' "says why"

# ---- managed identity: IMDS, system- and user-assigned ----
lake_config "$WORK/mi.yaml" "$ca"
lake_test mi_imds "$WORK/mi.yaml"
expect "managed identity (IMDS): lake test" 0 "$rc"
has mi_imds 'identity: managed identity (instance metadata endpoint)' "says which identity"
token_config 3600 '"imds": {"client_id": "mi-user-1"}'
lake_config "$WORK/mi-user.yaml" "$ca" "client_id: mi-user-1" "auth: managed_identity"
lake_test mi_user "$WORK/mi-user.yaml"
expect "user-assigned managed identity (IMDS, client_id): lake test" 0 "$rc"
has mi_user 'managed identity "mi-user-1" (instance metadata endpoint)' "names the client id"
lake_test mi_wrong "$WORK/mi.yaml" # the system-assigned one is not there now
expect "IMDS without the identity it has: exit 1" 1 "$rc"
has mi_wrong 'HTTP 400 invalid_request: Identity not found' "the refusal in words"
token_config

# ---- managed identity: App Service ----
lake_test mi_appservice "$WORK/mi.yaml" "${as_env[@]}"
expect "managed identity (App Service): lake test" 0 "$rc"
has mi_appservice 'identity: managed identity (App Service endpoint)' "says which identity"
lake_test mi_appservice_bad "$WORK/mi.yaml" IDENTITY_ENDPOINT="http://127.0.0.1:$http_port/msi/token" IDENTITY_HEADER=wrong-header-0
expect "App Service with a wrong IDENTITY_HEADER: exit 1" 1 "$rc"
has mi_appservice_bad 'App Service identity endpoint "http://127.0.0.1:'"$http_port"'/msi/token" refused the token request for "https://storage.azure.com/.default": HTTP 401' "the refusal in words"

# ---- workload identity ----
lake_test wi "$WORK/mi.yaml" "${wi_env[@]}"
expect "workload identity: lake test" 0 "$rc"
has wi "identity: workload identity \"cid-wi\" of tenant \"tenant-1\" (federated token file \"$FED\")" "says which identity"
echo "eyJ.someone-else.sig" >"$WORK/other-token"
lake_test wi_bad "$WORK/mi.yaml" AZURE_FEDERATED_TOKEN_FILE="$WORK/other-token" AZURE_CLIENT_ID=cid-wi \
    AZURE_TENANT_ID=tenant-1 AZURE_AUTHORITY_HOST="https://127.0.0.1:$tls_port/"
expect "workload identity with a token nobody federated: exit 1" 1 "$rc"
has wi_bad 'AADSTS700211' "the refusal in words"
lake_test wi_missing "$WORK/mi.yaml" AZURE_FEDERATED_TOKEN_FILE="$WORK/absent" AZURE_CLIENT_ID=cid-wi \
    AZURE_TENANT_ID=tenant-1 AZURE_AUTHORITY_HOST="https://127.0.0.1:$tls_port/"
has wi_missing "could not read the federated token file \"$WORK/absent\": No such file or directory" "a missing token file in words"

# ---- auto's order, with every variable set ----
lake_config "$WORK/auto-sp.yaml" "${sp_secret[@]}"
lake_test auto1 "$WORK/auto-sp.yaml" "${wi_env[@]}" "${as_env[@]}"
has auto1 'identity: service principal "cid-secret"' "auto: a configured secret first"
lake_test auto2 "$WORK/mi.yaml" "${wi_env[@]}" "${as_env[@]}"
has auto2 'identity: workload identity' "auto: then workload identity"
lake_test auto3 "$WORK/mi.yaml" "${as_env[@]}"
has auto3 'identity: managed identity (App Service endpoint)' "auto: then App Service"
lake_test auto4 "$WORK/mi.yaml"
has auto4 'identity: managed identity (instance metadata endpoint)' "auto: then IMDS"
lake_config "$WORK/explicit.yaml" "$ca" "auth: managed_identity"
lake_test explicit "$WORK/explicit.yaml" "${wi_env[@]}"
has explicit 'identity: managed identity (instance metadata endpoint)' "lake.auth: managed_identity over the AKS variables"
expect "every auto case passed its lake test" "0 0 0 0 0" \
    "$(for f in auto1 auto2 auto3 auto4 explicit; do grep -q '^ok: ' "$WORK/$f.out" && printf '0 ' || printf '1 '; done | sed 's/ $//')"

# ---- lake.ca_file ----
lake_config "$WORK/noca.yaml" "tenant_id: tenant-1" "client_id: cid-secret" "client_secret: \"$SECRET\""
lake_test noca_token "$WORK/noca.yaml"
expect "without lake.ca_file (system store): exit 1" 1 "$rc"
has noca_token 'could not reach the token endpoint "https://127.0.0.1:'"$tls_port"'/tenant-1/oauth2/v2.0/token": SSL certificate problem' "the token endpoint's certificate is not trusted, in words"
lake_config "$WORK/noca-mi.yaml"
lake_test noca_blob "$WORK/noca-mi.yaml"
has noca_blob 'SSL certificate problem' "the blob endpoint's certificate is not trusted, in words"
lake_config "$WORK/otherca.yaml" "ca_file: \"$C/other-ca.crt\""
lake_test otherca "$WORK/otherca.yaml"
expect "another CA: exit 1" 1 "$rc"

# ---- Azurite checks: a token for another audience, an expired one ----
token_config 3600 '"audience_override": "https://vault.azure.net"'
lake_test control_aud "$WORK/mi.yaml"
expect "control: a token for another audience is refused by Azurite" 1 "$rc"
has control_aud 'HTTP 403 AuthenticationFailed' "as AuthenticationFailed"
token_config 3600 '"lie_exp_s": -4000'
lake_test control_exp "$WORK/mi.yaml"
expect "control: an expired token is refused by Azurite" 1 "$rc"
has control_exp 'HTTP 403 AuthenticationFailed' "as AuthenticationFailed"
token_config

# ---- refresh before expiry on a live lake: 4 s tokens, 10 s of requests ----
check_refresh() { # NAME FLOW: every token after the first came before the one before expired
    node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse)
  .filter((l) => l.minted === process.argv[2] && l.t >= Number(process.argv[3]));
let late = 0;
for (let i = 1; i < lines.length; i++) if (lines[i].t >= lines[i - 1].exp * 1000) late++;
console.log(lines.length + " " + late);' "$WORK/tokens.jsonl" "$2" "$3"
}
for flow in secret certificate workload; do
    token_config 4
    t0=$(date +%s%3N)
    case $flow in
    secret) cfg=$WORK/sp.yaml envs=() ;;
    certificate) cfg=$WORK/cert.yaml envs=() ;;
    workload) cfg=$WORK/mi.yaml envs=("${wi_env[@]}") ;;
    esac
    if [ $flow = workload ]; then # the kubelet rotates the file meanwhile
        (for i in 1 2 3 4; do sleep 2.5; echo "eyJfederated.rotated-$i.sig" >"$FED.new" && mv "$FED.new" "$FED"; done) &
        rot=$!
    fi
    "${clean[@]}" "${envs[@]}" "$PROBE" "$cfg" lake 10 250 >"$WORK/probe-$flow.out" 2>"$WORK/probe-$flow.log"
    prc=$?
    [ $flow = workload ] && wait $rot
    read -r count late <<<"$(check_refresh x "$flow" "$t0")"
    expect "$flow, 4 s tokens over 10 s of lake requests: every request accepted" 0 "$prc"
    [ "${count:-0}" -ge 4 ] && ok "$flow: $count tokens fetched" || bad "$flow: only ${count:-0} tokens fetched in 10 s of 4 s tokens"
    expect "$flow: each token fetched before the one before expired" 0 "${late:-x}"
    grep -q 'AuthenticationFailed\|401' "$WORK/probe-$flow.log" && bad "$flow: a request was refused" || ok "$flow: no request refused"
done
token_config

# ---- no secret anywhere ----
leaks=$(grep -l -F -e "$SECRET" -e "$HDR" -e "$FED0" -e "rotated-" "$WORK"/*.out "$WORK"/probe-*.log 2>/dev/null)
expect "no client secret, App Service header or federated token in any output" "" "$leaks"
# the ASan build runs this too: a sanitizer report in any output fails it
san=$(grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$WORK"/*.log "$WORK"/*.out 2>/dev/null | tr '\n' ' ')
expect "no sanitizer report in any output" "" "$san"
finish
