#!/usr/bin/env bash
# deploy.sh CASE: what an operator deploys (deploy/), checked with the tools that read it.
#   install     `cmake --install` into a folder: the binary, units, sysusers, man page,
#               examples, grants, rules, dashboard; the example config is valid
#   systemd     the installed units pass `systemd-analyze verify` (no warning at all),
#               carry the hardening, and score OK in `systemd-analyze security --offline`
#   prometheus  the rules pass `promtool check rules`, the tests pass `promtool test
#               rules`, every alert has a case that fires and one that does not, and a
#               rule that never fires makes the tests fail; docs/monitoring.md names them
#   grafana     the dashboard is valid JSON, every query parses as PromQL (promtool), uses
#               only metrics the services export, and every exported metric is on it
#   man         the man page renders without a warning and documents every command
# Needs BIN, ROOT and BUILD (CTest). A case whose tool is missing exits 77, saying why.
set -u
case=${1:?usage: deploy.sh install|systemd|prometheus|grafana|man}
BIN=${BIN:?} ROOT=${ROOT:?} BUILD=${BUILD:?}
pass=0 failn=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; failn=$((failn + 1)); }
expect() { if [ "$2" = "$3" ]; then ok "$1 ($3)"; else bad "$1: expected \"$2\", got \"$3\""; fi; }
finish() { echo "$pass passed, $failn failed"; [ "$failn" = 0 ]; }
skip() { echo "SKIP: $*"; exit 77; }
WORK=$(mktemp -d)
trap '[ "${KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"' EXIT
P=$WORK/usr # the install prefix
install_tree() {
    cmake --install "$BUILD" --prefix "$P" >"$WORK/install.log" 2>&1 ||
        { cat "$WORK/install.log"; echo "FAIL cmake --install"; exit 1; }
}
units=(tsarchive-retention.service tsarchive-archiver@.service)
R=$ROOT/deploy/prometheus/tsarchive-rules.yml
alerts() { sed -n 's/^ *- alert: *//p' "$1"; }

case "$case" in
install)
    install_tree
    for f in bin/tsarchive lib/systemd/system/tsarchive-retention.service \
        lib/systemd/system/tsarchive-archiver@.service lib/sysusers.d/tsarchive.conf \
        share/man/man1/tsarchive.1 share/doc/tsarchive/examples/tsarchive.example.yaml \
        share/doc/tsarchive/examples/tsarchive.env.example share/doc/tsarchive/deploy-azure.md \
        share/tsarchive/tsarchive-grants.sql share/tsarchive/tsarchive-access-policy.txt share/tsarchive/tsarchive-rules.yml \
        share/tsarchive/tsarchive-dashboard.json; do
        [ -f "$P/$f" ] && ok "installed $f" || bad "missing $f"
    done
    expect "the installed binary runs" "tsarchive 0.1.0" "$("$P/bin/tsarchive" --version 2>&1 | head -1 | cut -d' ' -f1-2)"
    expect "the units start the installed binary with the installed config folder" \
        "$P/bin/tsarchive -c $P/etc/tsarchive/tsarchive.yaml retention|$P/bin/tsarchive -c $P/etc/tsarchive/tsarchive.yaml archiver" \
        "$(sed -n 's/^ExecStart=//p' "$P/lib/systemd/system/tsarchive-retention.service")|$(sed -n 's/^ExecStart=//p' "$P/lib/systemd/system/tsarchive-archiver@.service")"
    expect "sysusers.d makes the tsarchive system user" 'u tsarchive - "tsarchive services" /var/lib/tsarchive' \
        "$(grep -v '^#' "$P/lib/sysusers.d/tsarchive.conf")"
    # the example config as shipped is valid, and so with every secret from the environment
    (cd "$WORK" && env -i PATH="$PATH" "$P/bin/tsarchive" -c "$P/share/doc/tsarchive/examples/tsarchive.example.yaml" config check >check.out 2>&1)
    expect "the example config passes config check" 0 $?
    bad_lines=$(grep -v '^#' "$P/share/doc/tsarchive/examples/tsarchive.env.example" | grep -v '^$' | grep -cv '^[A-Z_][A-Z0-9_]*=')
    expect "the secrets example holds only comments and VAR=value lines" 0 "$bad_lines"
    # every variable of the env example sets a real setting: config check says it came
    # from the environment (unknown TSARCHIVE_* variables are not read at all)
    while IFS= read -r kv; do
        v=${kv%%=*} val=${kv#*=}
        n=$(cd "$WORK" && env -i PATH="$PATH" "$v=${val:-x}" TSARCHIVE_LAKE_KIND=local "$P/bin/tsarchive" config check 2>&1 |
            grep -c '# environment$')
        [ "$n" -ge 2 ] && ok "$v sets a setting" || bad "$v sets nothing (config check: $n from the environment)"
    done < <(sed -n 's/^#\{0,1\}\(TSARCHIVE_[A-Z_]*=.*\)/\1/p' "$P/share/doc/tsarchive/examples/tsarchive.env.example")
    ;;
systemd)
    command -v systemd-analyze >/dev/null || skip "systemd-analyze not found (Debian package systemd; run scripts/deps)"
    printf '[Unit]\nDescription=probe\n[Service]\nExecStart=/bin/true\n' >"$WORK/probe.service"
    systemd-analyze verify "$WORK/probe.service" >/dev/null 2>&1 ||
        skip "systemd-analyze verify cannot run here (it fails on a trivial unit: $(systemd-analyze verify "$WORK/probe.service" 2>&1 | head -1))"
    install_tree
    D=$P/lib/systemd/system
    export MANPATH=$P/share/man # Documentation=man:tsarchive(1) is checked too
    out=$(cd "$D" && systemd-analyze verify tsarchive-retention.service 2>&1)
    expect "tsarchive-retention.service: systemd-analyze verify, no warning" "0 " "$? $out"
    out=$(cd "$D" && systemd-analyze verify "tsarchive-archiver@.service:tsarchive-archiver@3.service" 2>&1)
    expect "tsarchive-archiver@3.service: systemd-analyze verify, no warning" "0 " "$? $out"
    # the control: verify does look (a bad key and a missing binary are reported)
    mkdir -p "$WORK/mut"
    sed 's/^Restart=on-failure/&\nBogusKey=1/' "$D/tsarchive-archiver@.service" >"$WORK/mut/tsarchive-archiver@.service"
    (cd "$WORK/mut" && systemd-analyze verify "tsarchive-archiver@.service:tsarchive-archiver@3.service" 2>&1) | grep -q "Unknown key 'BogusKey'" &&
        ok "control: verify reports an unknown key" || bad "control: verify missed an unknown key"
    sed "s|^ExecStart=[^ ]*|ExecStart=$WORK/absent/tsarchive|" "$D/tsarchive-retention.service" >"$WORK/mut/tsarchive-retention.service"
    (cd "$WORK/mut" && systemd-analyze verify tsarchive-retention.service 2>&1) | grep -q "is not executable" &&
        ok "control: verify reports a missing binary" || bad "control: verify missed a missing binary"
    for u in "${units[@]}"; do
        for want in "User=tsarchive" "Group=tsarchive" "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" \
            "NoNewPrivileges=yes" "CapabilityBoundingSet=" "StateDirectory=tsarchive" "RuntimeDirectory=tsarchive-" \
            "EnvironmentFile=-" "Restart=on-failure" "RestartPreventExitStatus=2 3" "SystemCallFilter=@system-service"; do
            grep -q "^$want" "$D/$u" || bad "$u: no $want"
        done
        ok "$u: own user, read-only system, no home, private /tmp, no new privileges, no capabilities, state and runtime directories, secrets file, restart on failure but not on exit 2 or 3"
        score=$(cd "$D" && systemd-analyze security --offline=true "$u" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
        awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.0) }' && ok "$u: systemd-analyze security exposure $score (OK)" ||
            bad "$u: exposure ${score:-unknown}, above 2.0"
    done
    grep -q '^EnvironmentFile=-.*/archiver-%i.env' "$D/tsarchive-archiver@.service" &&
        ok "each archiver instance reads its own archiver-N.env" || bad "no per-instance environment file"
    ;;
prometheus)
    command -v promtool >/dev/null || skip "promtool not found (Debian package prometheus; run scripts/deps)"
    out=$(promtool check rules "$R" 2>&1)
    expect "promtool check rules" "0 SUCCESS: 11 rules found" "$? $(echo "$out" | grep -o 'SUCCESS.*')"
    cp "$R" "$ROOT/deploy/prometheus/tsarchive-rules.test.yml" "$WORK/"
    out=$(cd "$WORK" && promtool test rules tsarchive-rules.test.yml 2>&1)
    expect "promtool test rules" "0" "$?"
    echo "$out" | grep -q SUCCESS || { bad "promtool test rules did not say SUCCESS"; echo "$out"; }
    for a in $(alerts "$R"); do
        fires=$(awk -v a="$a" '$0 ~ "alertname: " a "$" { getline; if ($0 !~ /exp_alerts: \[\]/) n++ } END { print n + 0 }' "$WORK/tsarchive-rules.test.yml")
        quiet=$(awk -v a="$a" '$0 ~ "alertname: " a "$" { getline; if ($0 ~ /exp_alerts: \[\]/) n++ } END { print n + 0 }' "$WORK/tsarchive-rules.test.yml")
        [ "$fires" -ge 1 ] && [ "$quiet" -ge 1 ] && ok "$a: $fires case(s) where it fires, $quiet where it does not" ||
            bad "$a: $fires firing and $quiet quiet cases (want both)"
        # a rule that never fires must make the tests fail: they do test it
        awk -v a="$a" '$0 ~ "- alert: " a "$" { print; hit = 1; next }
            hit && /^ *expr:/ { print "        expr: vector(0) > 1"; skip = 1; hit = 0; next }
            skip && /^ {10,}/ { next } { skip = 0; print }' "$R" >"$WORK/tsarchive-rules.yml"
        (cd "$WORK" && promtool test rules tsarchive-rules.test.yml >/dev/null 2>&1) &&
            bad "$a: the tests still pass when it never fires" || ok "$a: the tests fail when it never fires"
        cp "$R" "$WORK/tsarchive-rules.yml"
    done
    expect "docs/monitoring.md names the same alerts as the rules file" "$(alerts "$R" | sort | tr '\n' ' ')" \
        "$(grep -o 'Tsarchive[A-Za-z]*' "$ROOT/docs/monitoring.md" | sort -u | tr '\n' ' ')"
    ;;
grafana)
    G=$ROOT/deploy/grafana/tsarchive-dashboard.json
    command -v python3 >/dev/null || skip "python3 not found (run scripts/deps)"
    python3 - "$G" >"$WORK/exprs.txt" 2>"$WORK/json.err" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["title"] and d["uid"] and isinstance(d["panels"], list)
ids = [p["id"] for p in d["panels"]]
assert len(ids) == len(set(ids)), "panel ids repeat"
for p in d["panels"]:
    assert "gridPos" in p, p["title"]
    if p["type"] == "row":
        continue
    assert p["targets"], p["title"] + ": no query"
    for t in p["targets"]:
        assert t["expr"].strip(), p["title"]
        print(t["expr"].replace("\n", " "))
EOF
    expect "the dashboard is valid JSON with unique panel ids and a query in every panel" "0 " "$? $(cat "$WORK/json.err")"
    # metric names: those on the dashboard against those the services export
    grep -oh 'tsarchive_[a-z_]*' "$WORK/exprs.txt" | sort -u >"$WORK/used.txt"
    grep -oh '"tsarchive_[a-z_]*' "$ROOT/src/archiver/http.c" "$ROOT/src/retention/http.c" "$ROOT/src/http/prom.c" |
        tr -d '"' | sort -u >"$WORK/exported.txt"
    expect "every metric on the dashboard is exported" "" "$(comm -23 "$WORK/used.txt" "$WORK/exported.txt" | tr '\n' ' ')"
    # a histogram counts as used through any of its series
    missing=$(comm -13 "$WORK/used.txt" "$WORK/exported.txt" | while read -r m; do
        case "$m" in *_bucket | *_sum | *_count) grep -q "^${m%_*}_" "$WORK/used.txt" && continue ;; esac
        grep -qx "$m" "$WORK/used.txt" || grep -q "^${m}_bucket$" "$WORK/used.txt" || echo "$m"
    done | tr '\n' ' ')
    expect "every exported metric is on the dashboard" "" "$missing"
    [ "$(wc -l <"$WORK/used.txt")" -ge 30 ] && ok "$(wc -l <"$WORK/used.txt") metrics on the dashboard" || bad "too few metrics"
    if command -v promtool >/dev/null; then
        # each query, with Grafana's variables filled in, as a recording rule: promtool parses it
        { echo "groups:"; echo "  - name: dashboard"; echo "    rules:"; n=0
          while IFS= read -r e; do
              n=$((n + 1))
              e=${e//\$__rate_interval/5m}; e=${e//\$instance/.*}
              printf '      - record: dashboard:q%d\n        expr: %s\n' "$n" "$(printf '%s' "$e" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')"
          done <"$WORK/exprs.txt"; } >"$WORK/dash-rules.yml"
        out=$(promtool check rules "$WORK/dash-rules.yml" 2>&1)
        expect "every dashboard query parses as PromQL (promtool)" 0 "$?"
        echo "$out" | grep -q SUCCESS || echo "$out" | head -5
    else
        echo "(promtool not found: the queries' syntax is not checked)"
    fi
    ;;
man)
    M=$ROOT/deploy/man/tsarchive.1
    command -v groff >/dev/null || skip "groff not found (Debian package groff-base)"
    out=$(groff -man -ww -z "$M" 2>&1)
    expect "groff -man -ww: no warning" "0 " "$? $out"
    MANWIDTH=100 man -l "$M" >"$WORK/man.txt" 2>"$WORK/man.err"
    expect "man renders it" "0" "$?"
    "$BIN" --help >"$WORK/help.txt" 2>&1
    sed -n 's/^  \([a-z][a-z ]*[a-z]\)  .*/\1/p' "$WORK/help.txt" | sed 's/ *$//' >"$WORK/commands.txt"
    [ "$(wc -l <"$WORK/commands.txt")" -ge 12 ] || bad "could not read the commands from --help"
    while read -r c; do
        grep -q "^       $c\b" "$WORK/man.txt" && ok "documents \"$c\"" || bad "\"$c\" is not in the man page"
    done <"$WORK/commands.txt"
    for s in 'EXIT STATUS' ENVIRONMENT FILES 'AZURE IDENTITIES' REDIS POSTGRESQL 'SEE ALSO'; do
        grep -q "^$s" "$WORK/man.txt" || bad "no $s section"
    done
    for code in 0 1 2 3 4; do grep -q "^       $code  " "$WORK/man.txt" || bad "exit status $code not documented"; done
    for k in workload_identity managed_identity service_principal client_certificate_file redis.auth \
        redis.entra_user lake.ca_file sslmode=verify-full AZURE_FEDERATED_TOKEN_FILE IDENTITY_ENDPOINT; do
        grep -q -- "$k" "$WORK/man.txt" || bad "$k is not in the man page"
    done
    ok "sections, exit codes and the identity settings are documented"
    ;;
*) echo "unknown case $case"; exit 2 ;;
esac
finish
