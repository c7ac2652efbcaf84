/* cmd_config.c: `tsarchive config check`. */
#include <stdio.h>

#include "commands.h"

int cmd_config_check(const ts_config *cfg, int argc, char **argv)
{
    if (argc > 1) {
        cli_errorf("\"config check\" takes no arguments, got \"%s\"", argv[1]);
        return TS_EXIT_USAGE;
    }
    ts_config_dump(cfg, stdout);
    fprintf(stderr, "config is valid\n");
    return TS_EXIT_OK;
}
