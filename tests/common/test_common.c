/* test_common.c: error struct, growable buffer with cap, allocation failure hooks,
 * log redaction and JSON lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"

static void test_first_error_wins(void **state)
{
    (void)state;
    ts_err e;
    ts_err_clear(&e);
    assert_int_equal(ts_err_set(&e, TS_ERR_IO, "could not open \"%s\": %s", "a", "denied"), TS_ERR_IO);
    assert_int_equal(ts_err_set(&e, TS_ERR_NOMEM, "later"), TS_ERR_NOMEM);
    assert_int_equal(e.code, TS_ERR_IO);
    assert_string_equal(e.msg, "could not open \"a\": denied");
    ts_err_prefix(&e, "chunk \"%s\"", "c1");
    assert_string_equal(e.msg, "chunk \"c1\": could not open \"a\": denied");
    assert_int_equal(ts_err_set(NULL, TS_ERR_IO, "x"), TS_ERR_IO); /* NULL is allowed */
}

static void test_buf_cap(void **state)
{
    (void)state;
    ts_buf b;
    ts_buf_init(&b, 10);
    assert_int_equal(ts_buf_append(&b, "12345", 5), TS_OK);
    assert_int_equal(ts_buf_printf(&b, "%d", 6789), TS_OK);
    assert_string_equal(ts_buf_cstr(&b), "123456789");
    assert_int_equal(ts_buf_append(&b, "ab", 2), TS_ERR_TOOBIG);
    assert_int_equal(b.len, 9); /* nothing half-appended */
    assert_int_equal(ts_buf_putc(&b, 'x'), TS_OK);
    ts_buf_free(&b);
    assert_int_equal(b.len, 0);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_alloc_fail_after(1);
    assert_int_equal(ts_buf_append(&b, "x", 1), TS_ERR_NOMEM);
    assert_null(ts_strdup("y"));
    ts_alloc_fail_after(0);
    assert_int_equal(ts_buf_append(&b, "x", 1), TS_OK);
    ts_buf_free(&b);
}

static void test_redact(void **state)
{
    (void)state;
    char out[512];
    ts_redact("host=db user=u password=pw1 dbname=x", out, sizeof out);
    assert_string_equal(out, "host=db user=u password=*** dbname=x");
    ts_redact("postgresql://me:topsecret@db:5432/x", out, sizeof out);
    assert_string_equal(out, "postgresql://me:***@db:5432/x");
    ts_redact("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc+/=;EndpointSuffix=core",
              out, sizeof out);
    assert_string_equal(out, "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=***;EndpointSuffix=core");
    ts_redact("https://a.blob.core.windows.net/c/x?sv=2022&sig=AbC%2Bd&se=1", out, sizeof out);
    assert_string_equal(out, "https://a.blob.core.windows.net/c/x?sv=2022&sig=***&se=1");
    ts_redact("http://127.0.0.1:8080/path", out, sizeof out); /* a port is not a password */
    assert_string_equal(out, "http://127.0.0.1:8080/path");
    ts_log_add_secret("hunter2hunter2");
    ts_redact("the key is hunter2hunter2.", out, sizeof out);
    assert_string_equal(out, "the key is ***.");
}

static void test_log_json_lines(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    json_error_t jerr;
    json_t *o;
    ts_log_setup(TS_LOG_INFO, 1, mem);
    ts_log_context("event_id", "e-1");
    ts_info("archived \"%s\" with password=zzz", "c1");
    ts_debug("not shown");
    ts_log_context_clear();
    fflush(mem);
    o = json_loads(buf, JSON_DISABLE_EOF_CHECK, &jerr);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(o, "event_id")), "e-1");
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "archived \"c1\" with password=***");
    assert_null(strstr(buf, "not shown"));
    json_decref(o);
    ts_log_setup(TS_LOG_INFO, 0, NULL);
    assert_int_equal(fclose(mem), 0);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_error_wins), cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_alloc_failure),    cmocka_unit_test(test_redact),
        cmocka_unit_test(test_log_json_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
