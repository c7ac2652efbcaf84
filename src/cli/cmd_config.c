/* cmd_config.c: `tsarchive config check`. */
#include <stdio.h>

#include <string.h>

#include "commands.h"
#include "lake/lake_config.h"

int cmd_config_check(const ts_config *cfg, int argc, char **argv)
{
    if (argc > 1) {
        cli_errorf("\"config check\" takes no arguments, got \"%s\"", argv[1]);
        return TS_EXIT_USAGE;
    }
    char warnings[16][256];
    lake_options lo;
    lake *lk = NULL;
    ts_err e;
    int n;
    ts_err_clear(&e);
    ts_config_dump(cfg, stdout);
    /* which lake: the kind auto picked, and where (nothing is contacted) */
    if (lake_options_from_config(&lo, cfg, &e) != 0 || lake_open(&lk, &lo, &e) != 0) {
        cli_errorf("the lake cannot be used: %s", e.msg);
        return TS_EXIT_CONFIG;
    }
    fprintf(stderr, "lake: %s%s\n", lake_describe(lk),
            strcmp(cfg->lake.kind, "auto") == 0 ? " (lake.kind auto)" : "");
    lake_free(lk);
    n = ts_config_warnings(cfg, warnings, 16);
    for (int i = 0; i < n; i++)
        fprintf(stderr, "warning: %s\n", warnings[i]);
    fprintf(stderr, "config is valid\n");
    return TS_EXIT_OK;
}
