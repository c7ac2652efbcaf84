/* cmd_run.c: the service commands: `tsarchive retention` (the Database Service),
 * `tsarchive archiver` (the Archival Service), and `tsarchive run [--once]`, both in
 * one process. Argument parsing only: the services live in src/retention/ and
 * src/archiver/. */
#include <stdio.h>
#include <string.h>

#include "archiver/archiver.h"
#include "commands.h"
#include "common/log.h"
#include "common/runctl.h"
#include "retention/retention.h"

static int parse_run_args(int argc, char **argv, ret_run_options *ro, bool allow_once)
{
    memset(ro, 0, sizeof *ro);
    for (int i = 1; i < argc; i++) {
        if (allow_once && strcmp(argv[i], "--once") == 0) {
            ro->once = true;
        } else if (allow_once && strcmp(argv[i], "--table") == 0 && i + 1 < argc) {
            ro->table = argv[++i];
        } else {
            cli_errorf("%s: unexpected argument \"%s\" (see tsarchive --help)", argv[0], argv[i]);
            return TS_EXIT_USAGE;
        }
    }
    if (ro->table && !ro->once) {
        cli_errorf("%s: --table needs --once", argv[0]);
        return TS_EXIT_USAGE;
    }
    return 0;
}

int cmd_archiver(const ts_config *cfg, int argc, char **argv)
{
    ret_run_options ro;
    arc_service *s = NULL;
    ts_err e;
    int rc = parse_run_args(argc, argv, &ro, false);
    if (rc)
        return rc;
    ts_run_install_signals();
    ts_err_clear(&e);
    if (arc_service_start(cfg, &s, &e) != 0) {
        cli_errorf("%s", e.msg);
        return TS_EXIT_FAIL;
    }
    return arc_service_join(s) ? TS_EXIT_FAIL : TS_EXIT_OK;
}

int cmd_retention(const ts_config *cfg, int argc, char **argv)
{
    ret_run_options ro;
    ts_err e;
    int code = TS_EXIT_OK, rc = parse_run_args(argc, argv, &ro, true);
    if (rc)
        return rc;
    ts_run_install_signals();
    ts_err_clear(&e);
    rc = ret_service_run(cfg, &ro, &code, &e);
    return rc ? TS_EXIT_FAIL : code;
}

int cmd_run(const ts_config *cfg, int argc, char **argv)
{
    ret_run_options ro;
    arc_service *s = NULL;
    ts_err e;
    int code = TS_EXIT_OK, rc = parse_run_args(argc, argv, &ro, true);
    if (rc)
        return rc;
    ts_run_install_signals();
    ts_err_clear(&e);
    if (cfg->lakehouse_enabled && arc_service_start(cfg, &s, &e) != 0) {
        cli_errorf("%s", e.msg);
        return TS_EXIT_FAIL;
    }
    rc = ret_service_run(cfg, &ro, &code, &e);
    ts_run_stop(); /* the archivers stop with the retention service */
    (void)arc_service_join(s);
    return rc ? TS_EXIT_FAIL : code;
}
