/* config.h: tsarchive's settings. One declarative table (config.c) drives YAML parsing,
 * TSARCHIVE_* environment overrides, defaults, validation and the effective-config
 * dump (pgbouncer's CF_ABS table is the model). The original specification's keys
 * stand at the top level verbatim; everything else lives in named sections. */
#ifndef TS_CONFIG_H
#define TS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

/* The unit of an integer time column (tables[].time_unit): what its values count since
 * 1970-01-01 UTC. */
typedef enum {
    TS_TIME_UNIT_NONE = 0, /* not set */
    TS_TIME_UNIT_SECONDS,
    TS_TIME_UNIT_MILLISECONDS,
    TS_TIME_UNIT_MICROSECONDS,
    TS_TIME_UNIT_NANOSECONDS,
} ts_time_unit;

typedef struct ts_table_override {
    char *name;                 /* "schema.table" */
    int retention_period_days;  /* 0 = the global value */
    bool enabled;               /* false: never archive this table */
    ts_time_unit time_unit;     /* integer time columns: the unit; NONE = not set */
} ts_table_override;

typedef struct ts_config {
    /* the original specification, verbatim */
    int retention_period_days;          /* 730 */
    int retention_check_interval_hours; /* 24 */
    int archival_batch_size;            /* 10 */
    bool lakehouse_enabled;             /* true */
    char *lakehouse_storage_account;
    char *lakehouse_container;          /* "timescaledb-archive" */
    char *lakehouse_connection_string;  /* secret */

    struct {
        char *url;            /* libpq conninfo or URL; empty: PG* environment variables */
        char **include;       /* "schema.table" glob patterns; NULL-terminated; empty = all */
        char **exclude;
        int lock_timeout_ms;  /* for the chunk lock at drop time */
        int statement_timeout_ms; /* the retention service's statements; 0: none */
        char *cluster_name;   /* names the cluster in the lake; "": its system identifier */
    } database;
    struct {
        char *url;                 /* redis://[:password@]host:port/db */
        char *request_stream;      /* database.archival.request */
        char *confirmation_stream; /* database.archival.confirmation */
        char *deadletter_stream;   /* database.archival.deadletter */
        int visibility_timeout_s;  /* idle time before another worker claims an entry */
        int max_deliveries;        /* an entry delivered more often is dead-lettered */
        int deadletter_maxlen;     /* cap of the dead-letter stream (approximate); 0: none */
        char *tls_ca_file;         /* rediss://: CA bundle; "": the system store */
        char *tls_cert_file;       /* rediss://: client certificate for mutual TLS */
        char *tls_key_file;
        bool tls_insecure;         /* rediss:// without checking the certificate (loud) */
        char *auth;                /* password (the URL's) | entra (a Microsoft Entra ID
                                    * token from the lake's identity settings) */
        char *entra_user;          /* entra: the identity's object id (the AUTH user) */
    } redis;
    struct {
        char *kind;   /* auto | local | azure (auto: azure when the original
                       * specification's lakehouse_storage_account or
                       * lakehouse_connection_string is set, else local) */
        char *path;   /* local folder */
        char *prefix; /* inside the container or folder */
        int block_size_mb;
        int upload_concurrency;
        bool create_container;
        char *auth;          /* auto | shared_key | sas | service_principal | managed_identity |
                              * workload_identity */
        char *tenant_id;
        char *client_id;
        char *client_secret; /* secret */
        char *client_certificate_file; /* service principal: PEM certificate + RSA key */
        char *authority_host; /* "": AZURE_AUTHORITY_HOST, else login.microsoftonline.com */
        char *imds_endpoint;
        char *federated_token_file; /* workload identity; "": AZURE_FEDERATED_TOKEN_FILE */
        char *ca_file;       /* PEM CA bundle for the blob and token endpoints; "": system */
        int max_retries;
    } lake;
    struct {
        char *compression; /* zstd */
        int compression_level;
        int row_group_rows;
        int row_group_mb;
        int page_kb;
        bool dictionary;
    } parquet;
    struct {
        char *retention_listen;
        char *archiver_listen;
        char *token;        /* secret */
        bool token_for_get; /* no longer used (a warning says so) */
    } http;
    struct {
        int workers;
    } archiver;
    struct {
        int max_attempts;
        int retry_backoff_s;
    } retention;
    struct {
        char *level;  /* debug | info | warn | error */
        char *format; /* text | json */
    } log;

    ts_table_override *tables;
    int ntables;

    char *source; /* the file it was read from, or NULL for built-in defaults */
} ts_config;

/* Returns a config holding the built-in defaults. NULL on no memory. */
ts_config *ts_config_new(void);
/* Reads path (YAML) over the defaults, then the environment (TSARCHIVE_*, and PG*
 * for the database), then validates. Errors name the file, line and key and say what
 * was expected; unknown keys are errors, with "did you mean" where one is close. */
int ts_config_load(ts_config *cfg, const char *path, ts_err *err) TS_MUSTCHECK;
/* Applies the environment only (for runs without a file), then validates. */
int ts_config_load_env(ts_config *cfg, ts_err *err) TS_MUSTCHECK;
/* Writes the effective config as YAML with secrets shown as "***". */
void ts_config_dump(const ts_config *cfg, FILE *out);
/* The lake the config names: "local" or "azure" (lake.kind, or auto's choice). */
const char *ts_config_lake_kind(const ts_config *cfg);
/* Settings that take no effect with this config (ignored by the chosen lake,
 * deprecated), as sentences; returns how many (at most max). */
int ts_config_warnings(const ts_config *cfg, char warnings[][256], int max);
/* Retention for a table: its override, else the global value; 0 when disabled. */
int ts_config_retention_days(const ts_config *cfg, const char *schema_table);
/* The time_unit of a table's override; TS_TIME_UNIT_NONE when not set. */
ts_time_unit ts_config_time_unit(const ts_config *cfg, const char *schema_table);
/* "seconds", "milliseconds", "microseconds", "nanoseconds"; "" for NONE. */
const char *ts_time_unit_name(ts_time_unit u);
/* Parses one of the names above; TS_TIME_UNIT_NONE when s is none of them. */
ts_time_unit ts_time_unit_parse(const char *s);
/* Registers every secret of cfg with the logger's redaction. */
void ts_config_register_secrets(const ts_config *cfg);
void ts_config_free(ts_config *cfg);

#endif
