/* test_config.c: config parsing: every key, environment overrides, and each kind of
 * invalid file with the exact error it must give. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/log.h"

static char path[64];

static const char *write_yaml(const char *text)
{
    FILE *f;
    snprintf(path, sizeof path, "/tmp/tsarchive-cfg-%d.yaml", (int)getpid());
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Loads text; returns the config (NULL on error, with *err filled). */
static ts_config *load(const char *text, ts_err *err)
{
    ts_config *c = ts_config_new();
    assert_non_null(c);
    ts_err_clear(err);
    if (ts_config_load(c, write_yaml(text), err) != TS_OK) {
        ts_config_free(c);
        return NULL;
    }
    return c;
}

/* Expects text to fail with exactly msg, where the leading "%s" stands for the file
 * path (spliced in, so the format stays a literal). */
static void expect_error(const char *text, const char *msg)
{
    char want[1024];
    ts_err err;
    ts_config *c = load(text, &err);
    assert_null(c);
    assert_memory_equal(msg, "%s", 2);
    snprintf(want, sizeof want, "%s%s", path, msg + 2);
    assert_string_equal(err.msg, want);
}

static void test_defaults(void **state)
{
    (void)state;
    ts_config *c = ts_config_new();
    assert_non_null(c);
    assert_int_equal(c->retention_period_days, 730);
    assert_int_equal(c->retention_check_interval_hours, 24);
    assert_int_equal(c->archival_batch_size, 10);
    assert_true(c->lakehouse_enabled);
    assert_string_equal(c->lakehouse_container, "timescaledb-archive");
    assert_string_equal(c->lakehouse_storage_account, "");
    assert_string_equal(c->lake.kind, "auto");
    assert_string_equal(ts_config_lake_kind(c), "local");
    assert_string_equal(c->parquet.compression, "zstd");
    assert_string_equal(c->redis.request_stream, "database.archival.request");
    assert_string_equal(c->redis.confirmation_stream, "database.archival.confirmation");
    assert_string_equal(c->http.retention_listen, "127.0.0.1:8080");
    assert_null(c->database.include[0]);
    assert_int_equal(c->ntables, 0);
    ts_config_free(c);
}

/* The original specification's two snippets paste in unchanged. */
static void test_spec_snippets(void **state)
{
    (void)state;
    ts_err err;
    ts_config *c = load("# Data Retention and Archival Configuration\n"
                        "retention_period_days: 730  # 2 years\n"
                        "retention_check_interval_hours: 24\n"
                        "archival_batch_size: 10\n"
                        "lakehouse_enabled: true\n"
                        "# Lakehouse Configuration\n"
                        "lakehouse_storage_account: \"your_storage_account\"\n"
                        "lakehouse_container: \"timescaledb-archive\"\n"
                        "lakehouse_connection_string: \"your_connection_string\"\n",
                        &err);
    assert_non_null(c);
    assert_string_equal(c->lakehouse_storage_account, "your_storage_account");
    assert_string_equal(c->lakehouse_connection_string, "your_connection_string");
    /* no lake.kind: the specification's keys name an Azure lake, not a local folder */
    assert_string_equal(ts_config_lake_kind(c), "azure");
    ts_config_free(c);
}

/* Settings the chosen lake ignores, and deprecated ones, are reported. */
static void test_warnings(void **state)
{
    (void)state;
    ts_err err;
    char w[16][256];
    int n;
    ts_config *c = load("lake:\n  kind: local\n  path: /x\n  auth: managed_identity\n"
                        "lakehouse_storage_account: acct\n"
                        "http:\n  token_for_get: true\n",
                        &err);
    assert_non_null(c);
    assert_string_equal(ts_config_lake_kind(c), "local");
    n = ts_config_warnings(c, w, 16);
    assert_int_equal(n, 3);
    assert_non_null(strstr(w[0], "lakehouse_storage_account"));
    assert_non_null(strstr(w[1], "lake.auth"));
    assert_non_null(strstr(w[2], "token_for_get"));
    ts_config_free(c);
    c = load("lakehouse_connection_string: \"AccountName=a;AccountKey=k\"\nlake:\n  path: /y\n", &err);
    assert_non_null(c);
    assert_string_equal(ts_config_lake_kind(c), "azure");
    n = ts_config_warnings(c, w, 16);
    assert_int_equal(n, 1);
    assert_non_null(strstr(w[0], "lake.path"));
    ts_config_free(c);
}

static void test_every_key(void **state)
{
    (void)state;
    ts_err err;
    ts_config *c = load("retention_period_days: 365\n"
                        "retention_check_interval_hours: 6\n"
                        "archival_batch_size: 3\n"
                        "lakehouse_enabled: no\n"
                        "lakehouse_storage_account: acct\n"
                        "lakehouse_container: cont\n"
                        "lakehouse_connection_string: \"AccountName=a;AccountKey=k\"\n"
                        "database:\n"
                        "  url: postgresql://u@h/db\n"
                        "  include: [\"public.*\", metrics.x]\n"
                        "  exclude:\n    - public.tmp\n"
                        "  lock_timeout_ms: 1500\n"
                        "  statement_timeout_ms: 60000\n"
                        "redis:\n"
                        "  url: redis://r:6380/2\n"
                        "  request_stream: req\n"
                        "  confirmation_stream: conf\n"
                        "  deadletter_stream: dead\n"
                        "  visibility_timeout_s: 45\n"
                        "  max_deliveries: 8\n"
                        "lake:\n"
                        "  kind: azure\n"
                        "  path: /srv/lake\n"
                        "  prefix: prod\n"
                        "  block_size_mb: 4\n"
                        "  upload_concurrency: 8\n"
                        "  create_container: false\n"
                        "  auth: service_principal\n"
                        "  tenant_id: t\n"
                        "  client_id: c\n"
                        "  client_secret: s3cr3t!\n"
                        "  authority_host: http://127.0.0.1:9\n"
                        "  imds_endpoint: http://127.0.0.1:10/token\n"
                        "  max_retries: 2\n"
                        "parquet:\n"
                        "  compression: snappy\n"
                        "  compression_level: 9\n"
                        "  row_group_rows: 5000\n"
                        "  row_group_mb: 16\n"
                        "  page_kb: 64\n"
                        "  dictionary: off\n"
                        "http:\n"
                        "  retention_listen: 0.0.0.0:9000\n"
                        "  archiver_listen: 127.0.0.1:9001\n"
                        "  token: tok3n-value\n"
                        "  token_for_get: true\n"
                        "archiver:\n"
                        "  workers: 7\n"
                        "retention:\n"
                        "  max_attempts: 9\n"
                        "  retry_backoff_s: 30\n"
                        "log:\n"
                        "  level: debug\n"
                        "  format: json\n"
                        "tables:\n"
                        "  - name: public.metrics\n"
                        "    retention_period_days: 90\n"
                        "  - name: public.audit\n"
                        "    enabled: false\n",
                        &err);
    if (!c)
        fail_msg("unexpected error: %s", err.msg);
    assert_int_equal(c->retention_period_days, 365);
    assert_int_equal(c->retention_check_interval_hours, 6);
    assert_int_equal(c->archival_batch_size, 3);
    assert_false(c->lakehouse_enabled);
    assert_string_equal(c->lakehouse_storage_account, "acct");
    assert_string_equal(c->lakehouse_container, "cont");
    assert_string_equal(c->lakehouse_connection_string, "AccountName=a;AccountKey=k");
    assert_string_equal(c->database.url, "postgresql://u@h/db");
    assert_string_equal(c->database.include[0], "public.*");
    assert_string_equal(c->database.include[1], "metrics.x");
    assert_null(c->database.include[2]);
    assert_string_equal(c->database.exclude[0], "public.tmp");
    assert_int_equal(c->database.lock_timeout_ms, 1500);
    assert_int_equal(c->database.statement_timeout_ms, 60000);
    assert_string_equal(c->redis.url, "redis://r:6380/2");
    assert_string_equal(c->redis.request_stream, "req");
    assert_string_equal(c->redis.confirmation_stream, "conf");
    assert_string_equal(c->redis.deadletter_stream, "dead");
    assert_int_equal(c->redis.visibility_timeout_s, 45);
    assert_int_equal(c->redis.max_deliveries, 8);
    assert_string_equal(c->lake.kind, "azure");
    assert_string_equal(c->lake.path, "/srv/lake");
    assert_string_equal(c->lake.prefix, "prod");
    assert_int_equal(c->lake.block_size_mb, 4);
    assert_int_equal(c->lake.upload_concurrency, 8);
    assert_false(c->lake.create_container);
    assert_string_equal(c->lake.auth, "service_principal");
    assert_string_equal(c->lake.tenant_id, "t");
    assert_string_equal(c->lake.client_id, "c");
    assert_string_equal(c->lake.client_secret, "s3cr3t!");
    assert_string_equal(c->lake.authority_host, "http://127.0.0.1:9");
    assert_string_equal(c->lake.imds_endpoint, "http://127.0.0.1:10/token");
    assert_int_equal(c->lake.max_retries, 2);
    assert_string_equal(c->parquet.compression, "snappy");
    assert_int_equal(c->parquet.compression_level, 9);
    assert_int_equal(c->parquet.row_group_rows, 5000);
    assert_int_equal(c->parquet.row_group_mb, 16);
    assert_int_equal(c->parquet.page_kb, 64);
    assert_false(c->parquet.dictionary);
    assert_string_equal(c->http.retention_listen, "0.0.0.0:9000");
    assert_string_equal(c->http.archiver_listen, "127.0.0.1:9001");
    assert_string_equal(c->http.token, "tok3n-value");
    assert_true(c->http.token_for_get);
    assert_int_equal(c->archiver.workers, 7);
    assert_int_equal(c->retention.max_attempts, 9);
    assert_int_equal(c->retention.retry_backoff_s, 30);
    assert_string_equal(c->log.level, "debug");
    assert_string_equal(c->log.format, "json");
    assert_int_equal(c->ntables, 2);
    assert_int_equal(ts_config_retention_days(c, "public.metrics"), 90);
    assert_int_equal(ts_config_retention_days(c, "public.audit"), 0);
    assert_int_equal(ts_config_retention_days(c, "public.other"), 365);
    ts_config_free(c);
}

static void test_env_overrides(void **state)
{
    (void)state;
    ts_err err;
    ts_config *c;
    setenv("TSARCHIVE_RETENTION_PERIOD_DAYS", "400", 1);
    setenv("TSARCHIVE_LAKEHOUSE_CONNECTION_STRING", "AccountKey=fromenv", 1);
    setenv("TSARCHIVE_LAKE_BLOCK_SIZE_MB", "16", 1);
    setenv("TSARCHIVE_DATABASE_INCLUDE", "a.b, c.*", 1);
    setenv("TSARCHIVE_LAKEHOUSE_ENABLED", "false", 1);
    c = load("retention_period_days: 100\nlake:\n  block_size_mb: 2\n", &err);
    assert_non_null(c);
    assert_int_equal(c->retention_period_days, 400); /* the environment wins over the file */
    assert_string_equal(c->lakehouse_connection_string, "AccountKey=fromenv");
    assert_int_equal(c->lake.block_size_mb, 16);
    assert_string_equal(c->database.include[0], "a.b");
    assert_string_equal(c->database.include[1], "c.*");
    assert_false(c->lakehouse_enabled);
    ts_config_free(c);

    setenv("TSARCHIVE_ARCHIVAL_BATCH_SIZE", "many", 1);
    c = load("", &err);
    assert_null(c);
    assert_string_equal(err.msg, "environment variable TSARCHIVE_ARCHIVAL_BATCH_SIZE: key "
                                 "\"archival_batch_size\": expected an integer, got \"many\"");
    unsetenv("TSARCHIVE_ARCHIVAL_BATCH_SIZE");
    unsetenv("TSARCHIVE_RETENTION_PERIOD_DAYS");
    unsetenv("TSARCHIVE_LAKEHOUSE_CONNECTION_STRING");
    unsetenv("TSARCHIVE_LAKE_BLOCK_SIZE_MB");
    unsetenv("TSARCHIVE_DATABASE_INCLUDE");
    unsetenv("TSARCHIVE_LAKEHOUSE_ENABLED");
}

static void test_bad_yaml(void **state)
{
    (void)state;
    expect_error("retention_period_days: [1, 2\n",
                 "%s:2: invalid YAML: did not find expected ',' or ']' while parsing a flow sequence");
    expect_error("- a\n- b\n", "%s:1: expected a mapping of settings (key: value) at the top");
    expect_error("a: 1\n---\nb: 2\n", "%s:3: expected one YAML document, found a second one");
}

static void test_wrong_type(void **state)
{
    (void)state;
    expect_error("retention_period_days: two years\n",
                 "%s:1: key \"retention_period_days\": expected an integer, got \"two years\"");
    expect_error("lakehouse_enabled: maybe\n",
                 "%s:1: key \"lakehouse_enabled\": expected true or false, got \"maybe\"");
    expect_error("lake:\n  kind: s3\n",
                 "%s:2: key \"lake.kind\": expected one of auto|local|azure, got \"s3\"");
    expect_error("lake: local\n", "%s:1: key \"lake\": expected a mapping");
    expect_error("retention_period_days:\n  a: 1\n",
                 "%s:2: key \"retention_period_days\": expected a single value, got a mapping");
    expect_error("retention_period_days:\n", "%s:1: key \"retention_period_days\": a value is required");
    expect_error("http:\n  archiver_listen: localhost\n",
                 "%s:2: key \"http.archiver_listen\": expected HOST:PORT (port 1-65535), got \"localhost\"");
    expect_error("tables: yes\n",
                 "%s:1: key \"tables\": expected a list of {name, retention_period_days, enabled}");
}

static void test_unknown_key(void **state)
{
    (void)state;
    expect_error("retention_period: 10\n",
                 "%s:1: unknown key \"retention_period\" (did you mean \"retention_period_days\"?)");
    expect_error("lake:\n  knd: local\n", "%s:2: unknown key \"lake.knd\" (did you mean \"lake.kind\"?)");
    expect_error("databse:\n  url: x\n", "%s:1: unknown key \"databse\" (did you mean \"database\"?)");
    expect_error("colour: blue\n", "%s:1: unknown key \"colour\"");
    expect_error("tables:\n  - name: a.b\n    retention_days: 3\n",
                 "%s:3: unknown key \"tables.retention_days\" (did you mean \"tables.retention_period_days\"?)");
    expect_error("archival_batch_size: 1\narchival_batch_size: 2\n",
                 "%s:2: key \"archival_batch_size\" appears twice");
}

static void test_out_of_range(void **state)
{
    (void)state;
    expect_error("retention_period_days: 0\n",
                 "%s:1: key \"retention_period_days\": 0 is out of range (expected 1 to 365000)");
    expect_error("archival_batch_size: -5\n",
                 "%s:1: key \"archival_batch_size\": -5 is out of range (expected 1 to 10000)");
    expect_error("parquet:\n  compression_level: 99\n",
                 "%s:2: key \"parquet.compression_level\": 99 is out of range (expected 0 to 22)");
    expect_error("retention_period_days: 99999999999999999999\n",
                 "%s:1: key \"retention_period_days\": expected an integer, got \"99999999999999999999\"");
}

static void test_missing_required(void **state)
{
    (void)state;
    expect_error("lake:\n  kind: azure\n",
                 "%s: lake.kind is \"azure\" but neither \"lakehouse_connection_string\" nor "
                 "\"lakehouse_storage_account\" is set (missing required key)");
    expect_error("tables:\n  - retention_period_days: 3\n",
                 "%s:2: key \"tables\": entry is missing the required key \"name\"");
    expect_error("lake:\n  auth: service_principal\n",
                 "%s: lake.auth \"service_principal\" needs lake.tenant_id, lake.client_id and "
                 "lake.client_secret or lake.client_certificate_file (missing required key)");
    expect_error("http:\n  retention_listen: 0.0.0.0:8080\n",
                 "%s: http listens on a non-loopback address but \"http.token\" is not set; set a "
                 "token (TSARCHIVE_HTTP_TOKEN) or listen on 127.0.0.1");
    expect_error("lakehouse_container: \"\"\n", "%s: \"lakehouse_container\" must not be empty");
}

static void test_missing_file(void **state)
{
    (void)state;
    ts_err err;
    ts_config *c = ts_config_new();
    ts_err_clear(&err);
    assert_int_equal(ts_config_load(c, "/nonexistent/tsarchive.yaml", &err), TS_ERR_NOTFOUND);
    assert_string_equal(err.msg, "could not open config file \"/nonexistent/tsarchive.yaml\": "
                                 "No such file or directory");
    ts_config_free(c);
}

static void test_dump_hides_secrets(void **state)
{
    (void)state;
    ts_err err;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem;
    ts_config *c = load("lakehouse_connection_string: \"AccountName=a;AccountKey=SUPERSECRET\"\n"
                        "database:\n  url: \"postgresql://u:pgpass123@h/db\"\n"
                        "http:\n  token: tokentoken\n",
                        &err);
    assert_non_null(c);
    mem = open_memstream(&buf, &len);
    ts_config_dump(c, mem);
    assert_int_equal(fclose(mem), 0);
    assert_null(strstr(buf, "SUPERSECRET"));
    assert_null(strstr(buf, "pgpass123"));
    assert_null(strstr(buf, "tokentoken"));
    assert_non_null(strstr(buf, "lakehouse_connection_string: \"***\""));
    assert_non_null(strstr(buf, "url: \"postgresql://u:***@h/db\""));
    free(buf);
    ts_config_free(c);
}

/* libpq's key=value conninfo may quote a password; the registry takes any number of
 * secrets and replaces a refreshed one. */
static void test_redact_quoted(void **state)
{
    char out[256];
    (void)state;
    ts_redact("host=h password='p a\\'ss w' dbname=d", out, sizeof out);
    assert_string_equal(out, "host=h password=*** dbname=d");
    ts_redact("connect failed: password=plain9 user=u", out, sizeof out);
    assert_string_equal(out, "connect failed: password=*** user=u");
    for (int i = 0; i < 200; i++) {
        char sec[32];
        snprintf(sec, sizeof sec, "token-%04d-xyz", i);
        ts_log_add_secret(sec);
    }
    ts_redact("a token-0199-xyz b token-0000-xyz", out, sizeof out);
    assert_string_equal(out, "a *** b ***");
    ts_log_replace_secret("token-0199-xyz", "token-new-xyz");
    ts_redact("token-new-xyz token-0199-xyz", out, sizeof out);
    assert_string_equal(out, "*** token-0199-xyz");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),       cmocka_unit_test(test_spec_snippets),
        cmocka_unit_test(test_every_key),      cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_bad_yaml),       cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_unknown_key),    cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_missing_required), cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_dump_hides_secrets), cmocka_unit_test(test_warnings),
        cmocka_unit_test(test_redact_quoted),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(path);
    return rc;
}
