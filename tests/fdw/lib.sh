# lib.sh: shared by the tsarchive_fdw tests: the end-to-end helpers (a private
# database, a config, checks), plus the extension's presence and a lake the server
# (which runs as its own OS user) can read.
. "$ROOT/tests/e2e/lib.sh"

# need_fdw: skips (77) unless the extension is installed in the server under test
need_fdw() {
    local have
    have=$(psql "$TS_TEST_PG_URL" -qXAt -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'tsarchive_fdw'" 2>/dev/null)
    if [ "$have" != 1 ]; then
        echo "SKIP: tsarchive_fdw is not installed in the server at TS_TEST_PG_URL (make -C ext/tsarchive_fdw install, as root; scripts/test does it)"
        exit 77
    fi
}

# work_dir: a temporary folder the server's OS user can read (the local lake is in it)
work_dir() {
    WORK=$(mktemp -d)
    chmod 755 "$WORK"
}
# lake_readable: the objects the services wrote, readable by the server
lake_readable() {
    [ -d "$WORK/lake" ] && chmod -R a+rX "$WORK/lake"
    return 0
}

# server_start: when the server last started (a crash restarts it)
server_start() {
    psql "$TS_TEST_PG_URL" -qXAt -c "SELECT pg_postmaster_start_time()"
}

# sqlv SQL: sql, but the whole output (several rows) and errors too, for comparisons
sqlv() { psql "$DB_URL" -qXAt -v ON_ERROR_STOP=1 -c "$1" 2>&1; }
