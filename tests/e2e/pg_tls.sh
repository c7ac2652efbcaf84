#!/usr/bin/env bash
# pg_tls.sh: tsarchive over TLS to PostgreSQL with sslmode=verify-full and sslrootcert in
# the database URL: chunks listed and one exported (read back by DuckDB) through a
# verified connection, the whole workflow (run --once) too; a CA that did not sign the
# server's certificate, a host name the certificate does not hold, and a missing CA file
# refused with a clear error. Uses TS_TEST_PG_SSL_URL (scripts/services) when it works,
# else a private PostgreSQL that scripts/services starts with SSL on AZ_PORT_BASE, where
# plain connections are refused (so what worked, worked over TLS).
. "$(dirname "$0")/lib.sh"
need_services
command -v openssl >/dev/null || { echo "SKIP: openssl not found (run scripts/deps)"; exit 77; }
WORK=$(mktemp -d)
TAG=pgtls$$
private=0
cleanup() {
    drop_db
    redis-cli -u "$TS_TEST_REDIS_URL" DEL "$TAG.request" "$TAG.confirmation" "$TAG.deadletter" >/dev/null 2>&1
    [ "$private" = 1 ] && "$ROOT/scripts/services" stop pg >/dev/null 2>&1
    [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${TS_TEST_PG_SSL_URL:-}" ] && psql "$TS_TEST_PG_SSL_URL" -qXAtc "SELECT 1" >/dev/null 2>&1; then
    echo "using the shared PostgreSQL's TLS (TS_TEST_PG_SSL_URL)"
else
    # a private PostgreSQL with SSL from scripts/services; ports AZ_PORT_BASE..+4 so that
    # nothing of the shared set is touched
    export TS_SERVICES_DIR=$WORK/services TS_PG_PORT=${AZ_PORT_BASE:-15840}
    export TS_REDIS_PORT=$((TS_PG_PORT + 1)) TS_REDIS_TLS_PORT=$((TS_PG_PORT + 2))
    export TS_AZURITE_PORT=$((TS_PG_PORT + 3)) TS_TSDB_PORT=$((TS_PG_PORT + 4))
    mkdir -p "$TS_SERVICES_DIR"
    [ "$(id -u)" = 0 ] && chmod 755 "$WORK"
    private=1
    "$ROOT/scripts/services" start pg >"$WORK/services.env" 2>"$WORK/services.log" ||
        { cat "$WORK/services.log"; echo "FAIL scripts/services did not start PostgreSQL"; exit 1; }
    grep -q "with SSL" "$WORK/services.log" && ok "scripts/services starts PostgreSQL with SSL" || bad "no SSL said"
    eval "$(grep '^export TS_TEST_PG' "$WORK/services.env")" # the rest stays shared
    [ -n "${TS_TEST_PG_SSL_URL:-}" ] && ok "scripts/services exports TS_TEST_PG_SSL_URL" ||
        { bad "no TS_TEST_PG_SSL_URL"; finish; exit 1; }
    # only TLS from now on: a plain connection is refused
    data=$TS_SERVICES_DIR/pg/data
    { echo "hostnossl all all 127.0.0.1/32 reject"; cat "$data/pg_hba.conf"; } >"$WORK/hba" &&
        cat "$WORK/hba" >"$data/pg_hba.conf"
    psql "$TS_TEST_PG_URL" -qXAtc "SELECT pg_reload_conf()" >/dev/null
    expect "a plain connection is refused" "no encryption" \
        "$(psql "${TS_TEST_PG_URL}?sslmode=disable" -qXAtc "SELECT 1" 2>&1 | grep -o 'no encryption')"
fi
CA=$(sed -n 's/.*sslrootcert=\([^&]*\).*/\1/p' <<<"$TS_TEST_PG_SSL_URL")
expect "the TLS URL asks for verify-full" "verify-full" "$(sed -n 's/.*sslmode=\([^&]*\).*/\1/p' <<<"$TS_TEST_PG_SSL_URL")"

new_db "tsarchive_pgtls_$$"
sql "CREATE TABLE m (ts timestamptz NOT NULL, id int, v double precision) PARTITION BY RANGE (ts);
     CREATE TABLE m_2022_01 PARTITION OF m FOR VALUES FROM ('2022-01-01') TO ('2022-02-01');
     CREATE TABLE m_2022_02 PARTITION OF m FOR VALUES FROM ('2022-02-01') TO ('2022-03-01');
     CREATE TABLE m_now PARTITION OF m FOR VALUES FROM (now() - interval '1 day') TO (now() + interval '1 day');
     INSERT INTO m SELECT '2022-01-01'::timestamptz + i * interval '10 minutes', i, i * 0.5 FROM generate_series(0, 8063) i;
     INSERT INTO m VALUES (now(), -1, 0);"
# the TLS URL, for this test's database
tls_url() { # CA-FILE [HOST]
    echo "postgresql://postgres@${2:-127.0.0.1}:${TS_TEST_PG_URL##*:}" | sed "s|/postgres\$|/$DB_NAME?sslmode=verify-full\&sslrootcert=$1|"
}
URL=$(tls_url "$CA")
cd "$WORK"
DB_URL=$URL write_config ok.yaml local
grep -q "sslmode=verify-full" ok.yaml && ok "the config's database.url carries verify-full" || bad "config not rewritten"

"$BIN" -c ok.yaml chunks --expired >chunks.out 2>&1
expect "chunks over verify-full" 0 $?
expect "both expired partitions listed" 2 "$(grep -c 'm_2022_0[12]' chunks.out)"
"$BIN" -c ok.yaml export --chunk public.m_2022_01 -o m1.parquet >export.out 2>&1
expect "export over verify-full" 0 $?
expect "DuckDB reads the exported rows" "$(sql "SELECT count(*) FROM m_2022_01")" \
    "$(duckdb "SELECT count(*) FROM read_parquet('$WORK/m1.parquet')")"
"$BIN" -c ok.yaml run --once >run.log 2>&1
expect "the workflow (run --once) over verify-full" 0 $?
expect "expired partitions dropped" 0 "$(sql "SELECT count(*) FROM pg_class WHERE relname IN ('m_2022_01', 'm_2022_02')")"

# refusals: a CA that did not sign the server's certificate ...
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout other.key -out other.crt \
    -days 2 -subj "/CN=someone else's CA" >/dev/null 2>&1
DB_URL=$(tls_url "$WORK/other.crt") write_config bad.yaml local
"$BIN" -c bad.yaml chunks >bad.out 2>&1
expect "another CA: refused (exit 1)" 1 $?
grep -q 'certificate verify failed' bad.out && ok "says: certificate verify failed ($(grep -o 'SSL error[^"]*' bad.out | head -1))" ||
    { bad "wrong CA: unclear message"; cat bad.out; }
# ... a host name the certificate does not name (it holds 127.0.0.1 and localhost): any
# other name of 127.0.0.1 in /etc/hosts
alias_host=$(awk '$1 == "127.0.0.1" { for (i = 2; i <= NF; i++) if ($i != "localhost") { print $i; exit } }' /etc/hosts)
if [ -n "$alias_host" ]; then
    DB_URL=$(tls_url "$CA" "$alias_host") write_config host.yaml local
    "$BIN" -c host.yaml chunks >host.out 2>&1
    expect "a host name not in the certificate ($alias_host): refused" 1 $?
    grep -q 'does not match host name' host.out && ok "says the name does not match" || { bad "host mismatch unclear"; cat host.out; }
else
    echo "(no other name of 127.0.0.1 in /etc/hosts: the host name check is not tried)"
fi
# ... a CA file that is not there
DB_URL=$(tls_url "$WORK/absent.crt") write_config nofile.yaml local
"$BIN" -c nofile.yaml chunks >nofile.out 2>&1
expect "a missing CA file: refused" 1 $?
grep -q 'root certificate file "'"$WORK/absent.crt"'" does not exist' nofile.out && ok "says the CA file cannot be read" || { bad "missing CA unclear"; cat nofile.out; }
# the ASan build runs this too: a sanitizer report in any output fails it
san=$(grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$WORK"/*.log "$WORK"/*.out 2>/dev/null | tr '\n' ' ')
expect "no sanitizer report in any output" "" "$san"
finish
