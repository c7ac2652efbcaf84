/* main.c: the tsarchive command: global options, config loading, and the table of
 * subcommands. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/config.h"
#include "common/fault.h"
#include "common/log.h"
#include "pg/conn.h"

typedef struct command {
    const char *name; /* "export", or "parquet inspect" */
    ts_cmd_fn fn;
    bool needs_config; /* false: runs without loading a config (pure file tools) */
    const char *usage;
    const char *summary;
} command;

static const command commands[] = {
    {"run", cmd_run, true, "run [--once] [--table T]",
     "both services in one process; --once: one check, wait until every request settles, exit"},
    {"retention", cmd_retention, true, "retention [--once] [--table T]",
     "the retention service: request archival of expired chunks, drop verified ones"},
    {"archiver", cmd_archiver, true, "archiver",
     "the archival service: export requested chunks to the lake, verify, confirm"},
    {"status", cmd_status, true, "status [--json]",
     "both services' state from their HTTP endpoints (the database when they are down); exit 1 when one is down"},
    {"trigger", cmd_trigger, true, "trigger [--table T] [--json]",
     "make the retention service check now (optionally one table) and list the requests it sent"},
    {"config check", cmd_config_check, true, "config check",
     "validate the config and print the effective settings (secrets as ***)"},
    {"chunks", cmd_chunks, true, "chunks [--expired] [--table T] [--json]",
     "list hypertable chunks and partitions with their ranges, sizes and state"},
    {"export", cmd_export, true,
     "export (--chunk SCHEMA.NAME | --table SCHEMA.NAME --from TS --to TS) -o FILE [--no-proof]",
     "write one chunk (or a time range) to a Parquet file"},
    {"restore", cmd_restore, true,
     "restore (--table SCHEMA.NAME | FILE...) [--into SCHEMA.TABLE] [--from TS] [--to TS]\n"
     "                     [--compress] [--force-append] [--insert]",
     "load an archived table (the live files of its log) or Parquet files back into the "
     "database; refused when the rows are there already"},
    {"attach", cmd_attach, true,
     "attach SCHEMA.TABLE [--server NAME] [--view NAME] [--foreign-table NAME]",
     "query the archive in SQL: a foreign table over it and a view TABLE_all, each row once"},
    {"lake", cmd_lake, true,
     "lake (test | ls [PREFIX] | tables [PREFIX] | files TABLE [--column C] |\n"
     "                     put FILE PATH | get PATH [-o FILE] | rm PATH [--force])",
     "work with the lake the config names (local folder or Azure): objects and archived tables"},
    {"parquet inspect", cmd_parquet_inspect, false, "parquet inspect FILE [--text]",
     "show a Parquet file's schema, row groups, encodings and statistics"},
    {"parquet cat", cmd_parquet_cat, false, "parquet cat FILE [--limit N] [--format jsonl|csv]",
     "print a Parquet file's rows"},
};
#define NCOMMANDS (int)(sizeof commands / sizeof *commands)

void cli_errorf(const char *fmt, ...)
{
    char raw[2048], msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    ts_redact(raw, msg, sizeof msg);
    fprintf(stderr, "tsarchive: %s\n", msg);
}

int cli_is_tty(void)
{
    return isatty(STDERR_FILENO);
}

static void usage(FILE *out)
{
    fprintf(out,
            "tsarchive %s: moves TimescaleDB chunks older than the retention period to\n"
            "Parquet in a lakehouse (Azure Data Lake Storage Gen2 or a local folder),\n"
            "verified before anything is dropped.\n\n"
            "usage: tsarchive [-c FILE] [-v] [--log-json] COMMAND [ARGS]\n\n"
            "commands:\n",
            TS_VERSION);
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-18s %s\n      tsarchive %s\n", commands[i].name, commands[i].summary,
                commands[i].usage);
    fprintf(out,
            "\noptions:\n"
            "  -c, --config FILE  config file (YAML); default ./tsarchive.yaml when present,\n"
            "                     else built-in defaults. Also accepted after the command.\n"
            "  -v, --verbose      debug logging\n"
            "  --log-json         log as JSON lines\n"
            "  -h, --help         this text\n"
            "  --version          print the version\n\n"
            "Every setting can come from the environment: TSARCHIVE_<KEY> for a top-level\n"
            "key, TSARCHIVE_<SECTION>_<KEY> for one in a section; the database also from\n"
            "the PG* variables. Secrets should arrive this way.\n\n"
            "exit codes:\n"
            "  0  success\n"
            "  1  the operation failed (the message says why)\n"
            "  2  bad command line\n"
            "  3  invalid configuration\n"
            "  4  ran, but not everything settled (some chunks were not archived)\n");
}

int main(int argc, char **argv)
{
    const char *cfg_path = NULL;
    int verbose = 0, log_json = 0, nrest = 0, rc;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    const command *cmd = NULL;
    ts_config *cfg = NULL;
    ts_err err;

    ts_err_clear(&err);
    if (!rest)
        return TS_EXIT_FAIL;
    /* Global options may stand before or after the command; "--" ends them. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (++i < argc)
                rest[nrest++] = argv[i];
            break;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                cli_errorf("option \"%s\" needs a file name", a);
                rc = TS_EXIT_USAGE;
                goto out;
            }
            cfg_path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            cfg_path = a + 9;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            verbose = 1;
        } else if (strcmp(a, "--log-json") == 0) {
            log_json = 1;
        } else if ((strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) && nrest == 0) {
            usage(stdout);
            rc = TS_EXIT_OK;
            goto out;
        } else if (strcmp(a, "--version") == 0 && nrest == 0) {
            printf("tsarchive %s (build %s)\n", TS_VERSION, TS_BUILD_ID);
            rc = TS_EXIT_OK;
            goto out;
        } else {
            rest[nrest++] = argv[i];
        }
    }
    if (nrest == 0) {
        usage(stderr);
        rc = TS_EXIT_USAGE;
        goto out;
    }
    /* Longest match first: "parquet inspect" before a lone "parquet". */
    int consumed = 0;
    for (int i = 0; i < NCOMMANDS && !cmd; i++) {
        const char *name = commands[i].name, *sp = strchr(name, ' ');
        if (sp) {
            if (nrest >= 2 && strncmp(rest[0], name, (size_t)(sp - name)) == 0 &&
                rest[0][sp - name] == '\0' && strcmp(rest[1], sp + 1) == 0) {
                cmd = &commands[i];
                consumed = 1;
            }
        } else if (strcmp(rest[0], name) == 0) {
            cmd = &commands[i];
        }
    }
    if (!cmd) {
        cli_errorf("unknown command \"%s%s%s\" (see tsarchive --help)", rest[0],
                   nrest > 1 ? " " : "", nrest > 1 ? rest[1] : "");
        rc = TS_EXIT_USAGE;
        goto out;
    }

    ts_log_setup(verbose ? TS_LOG_DEBUG : TS_LOG_INFO, log_json, stderr);
    cfg = ts_config_new();
    if (!cfg) {
        cli_errorf("out of memory");
        rc = TS_EXIT_FAIL;
        goto out;
    }
    if (!cfg_path && access("tsarchive.yaml", F_OK) == 0)
        cfg_path = "tsarchive.yaml";
    if (cmd->needs_config || cfg_path) {
        int lrc = cfg_path ? ts_config_load(cfg, cfg_path, &err) : ts_config_load_env(cfg, &err);
        if (lrc != TS_OK) {
            cli_errorf("%s", err.msg);
            rc = TS_EXIT_CONFIG;
            goto out;
        }
        ts_config_register_secrets(cfg);
        pg_register_secrets(cfg->database.url);
        if (!verbose) {
            int lvl = ts_log_level_parse(cfg->log.level);
            ts_log_setup(lvl >= 0 ? lvl : TS_LOG_INFO,
                         log_json || strcmp(cfg->log.format, "json") == 0, stderr);
        }
    }
    {
        int bad;
        const char *why, *faults = ts_fault_setting(&bad, &why);
        if (bad) {
            cli_errorf("TSARCHIVE_FAULT=\"%s\" is not understood: %s", faults, why);
            rc = TS_EXIT_USAGE;
            goto out;
        }
        if (faults)
            ts_warn("fault injection is on (TSARCHIVE_FAULT=%s): for tests only", faults);
    }
    rc = cmd->fn(cfg, nrest - consumed, rest + consumed);
out:
    ts_config_free(cfg);
    free(rest);
    return rc;
}
