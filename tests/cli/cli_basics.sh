#!/usr/bin/env bash
# cli_basics.sh: the tsarchive command's contract: help, version, exit codes, config
# discovery (-c before or after the command, ./tsarchive.yaml), secrets never shown.
set -u
bin=$1 example=$2
pass=0 failn=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # name expected_rc actual_rc [output must contain] [output must not contain]
    local name=$1 want=$2 got=$3 has=${4:-} hasnt=${5:-}
    if [ "$got" != "$want" ]; then
        echo "FAIL $name: exit $got, expected $want"; echo "$out" | head -5; failn=$((failn + 1)); return
    fi
    if [ -n "$has" ] && ! grep -qF -- "$has" <<<"$out"; then
        echo "FAIL $name: output lacks \"$has\""; echo "$out" | head -5; failn=$((failn + 1)); return
    fi
    if [ -n "$hasnt" ] && grep -qF -- "$hasnt" <<<"$out"; then
        echo "FAIL $name: output contains \"$hasnt\""; failn=$((failn + 1)); return
    fi
    echo "ok   $name"; pass=$((pass + 1))
}

cd "$tmp"
out=$("$bin" --help 2>&1); check "--help" 0 $? "exit codes:"
out=$("$bin" --version 2>&1); check "--version" 0 $? "tsarchive 0."
out=$("$bin" 2>&1); check "no command" 2 $? "usage:"
out=$("$bin" frobnicate 2>&1); check "unknown command" 2 $? 'unknown command "frobnicate"'
out=$("$bin" config check -c 2>&1); check "-c without file" 2 $? 'option "-c" needs a file name'
out=$("$bin" config check extra 2>&1); check "extra argument" 2 $? 'takes no arguments'
out=$("$bin" config check 2>&1); check "built-in defaults" 0 $? "retention_period_days: 730  # default"
out=$("$bin" -c "$example" config check 2>&1); check "example config is valid" 0 $? "config is valid"
out=$("$bin" config check -c "$example" 2>&1); check "-c after the command" 0 $? "config is valid"

printf 'archival_batch_size: 4\nlakehouse_connection_string: "AccountName=x;AccountKey=S3CRETKEYVALUE12"\n' >tsarchive.yaml
out=$("$bin" config check 2>&1); check "./tsarchive.yaml is read" 0 $? "archival_batch_size: 4  # file" "S3CRETKEYVALUE"
out=$("$bin" config check 2>&1); check "the specification's keys pick an Azure lake" 0 $? 'lake: azure account "x" container "timescaledb-archive"' "S3CRETKEYVALUE"
printf 'lakehouse_connection_string: "AccountName=x;AccountKey=not*base64"\n' >badkey.yaml
out=$("$bin" -c badkey.yaml config check 2>&1); check "a connection string that cannot work" 3 $? 'AccountKey is not valid base64' "not*base64"
out=$(TSARCHIVE_ARCHIVAL_BATCH_SIZE=6 "$bin" config check 2>&1); check "env beats file" 0 $? "archival_batch_size: 6  # environment"
printf 'archival_batch_size: lots\n' >bad.yaml
out=$("$bin" -c bad.yaml config check 2>&1); check "invalid config" 3 $? 'bad.yaml:1: key "archival_batch_size": expected an integer, got "lots"'
out=$("$bin" -c missing.yaml config check 2>&1); check "missing config file" 3 $? 'could not open config file "missing.yaml"'
# fault injection (tests only): a setting it cannot read is refused, never ignored
out=$(TSARCHIVE_FAULT=archiver.export "$bin" config check 2>&1); check "fault setting without action" 2 $? 'TSARCHIVE_FAULT="archiver.export" is not understood'
out=$(TSARCHIVE_FAULT="x@0:kill" "$bin" config check 2>&1); check "fault setting with hit 0" 2 $? 'is not understood'
out=$(TSARCHIVE_FAULT="x:sleep=soon" "$bin" config check 2>&1); check "fault setting with bad sleep" 2 $? 'is not understood'
out=$(TSARCHIVE_FAULT="archiver.export@2:kill,retention.after_drop:sleep=10" "$bin" config check 2>&1)
check "fault setting accepted and announced" 0 $? "fault injection is on"
printf 'database:\n  url: "postgresql://u:pw-SECRET-1@h/db"\nlake:\n  kind: ftp\n' >bad2.yaml
out=$("$bin" -c bad2.yaml config check 2>&1); check "error names key and choices" 3 $? 'key "lake.kind": expected one of auto|local|azure, got "ftp"' "pw-SECRET-1"

echo "$pass passed, $failn failed"
[ "$failn" = 0 ]
