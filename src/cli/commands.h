/* commands.h: the subcommands of the tsarchive binary. Each lives in its own
 * src/cli/cmd_<area>.c and is listed in main.c's command table. */
#ifndef TS_COMMANDS_H
#define TS_COMMANDS_H

#include "common/config.h"

/* Exit codes, documented in `tsarchive --help`. */
enum {
    TS_EXIT_OK = 0,
    TS_EXIT_FAIL = 1,    /* the operation failed (the message says why) */
    TS_EXIT_USAGE = 2,   /* bad command line */
    TS_EXIT_CONFIG = 3,  /* invalid configuration */
    TS_EXIT_PARTIAL = 4, /* ran, but not everything settled (some chunks not archived) */
};

/* argv[0] is the command's own name (e.g. "export", or "inspect" for
 * `parquet inspect`); argv holds only the command's arguments, global options
 * (-c FILE, -v, --log-json) already removed. cfg is loaded and validated. */
typedef int (*ts_cmd_fn)(const ts_config *cfg, int argc, char **argv);

int cmd_config_check(const ts_config *cfg, int argc, char **argv);
int cmd_parquet_inspect(const ts_config *cfg, int argc, char **argv);
int cmd_parquet_cat(const ts_config *cfg, int argc, char **argv);
int cmd_lake(const ts_config *cfg, int argc, char **argv);     /* lake test|ls|put|get|rm */
int cmd_chunks(const ts_config *cfg, int argc, char **argv);
int cmd_export(const ts_config *cfg, int argc, char **argv);
int cmd_restore(const ts_config *cfg, int argc, char **argv);
/* restore --table: the live files of an archived table's Delta log (cmd_restore_table.c). */
struct pg_restore_options;
struct pg_restore_result;
/* "restored N rows from "FROM" into TABLE[, ...]" on stdout, flushed (cmd_pg.c). */
void cli_print_restored(const char *from, const struct pg_restore_result *rr);
int cmd_restore_table(const ts_config *cfg, const char *table,
                      const struct pg_restore_options *opts, const char *into);
int cmd_retention(const ts_config *cfg, int argc, char **argv); /* the Database Service */
int cmd_archiver(const ts_config *cfg, int argc, char **argv);  /* the Archival Service */
int cmd_run(const ts_config *cfg, int argc, char **argv);       /* both, one process */
int cmd_status(const ts_config *cfg, int argc, char **argv);    /* both services' state */
int cmd_trigger(const ts_config *cfg, int argc, char **argv);   /* a retention check now */
/* attach SCHEMA.TABLE: the archive as a foreign table and TABLE_all (cmd_attach.c). */
int cmd_attach(const ts_config *cfg, int argc, char **argv);

/* Shared helpers for commands. */
/* Prints "tsarchive: <msg>" to stderr (redacted). */
void cli_errorf(const char *fmt, ...) TS_PRINTF(1, 2);
/* True when stderr is a terminal (progress lines are shown only then). */
int cli_is_tty(void);

#endif
