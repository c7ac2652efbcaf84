/* test_http.c: the HTTP server over real sockets with libcurl: routing, JSON 404/405,
 * the token rules, body and URL limits, parameter errors, and the loopback rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "common/buf.h"
#include "http/http.h"

static int h_ping(void *ud, const http_request *req, http_response *resp)
{
    (void)ud, (void)req;
    return http_reply_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

static int h_echo(void *ud, const http_request *req, http_response *resp)
{
    size_t n;
    const char *b = http_body(req, &n);
    (void)ud;
    return http_reply_text(resp, 200, "text/plain", b, n);
}

static int h_limit(void *ud, const http_request *req, http_response *resp)
{
    long limit = 50;
    (void)ud;
    if (http_query_int(req, resp, "limit", 1000, &limit) != 0)
        return 0; /* resp holds the 400 */
    return http_reply_json(resp, 200, json_pack("{s:i}", "limit", (int)limit));
}

static int h_fail(void *ud, const http_request *req, http_response *resp)
{
    (void)ud, (void)req, (void)resp;
    return TS_ERR_IO;
}

static const http_route routes[] = {
    {"GET", "/ping", h_ping, NULL, false},
    {"POST", "/echo", h_echo, NULL, false},
    {"GET", "/limit", h_limit, NULL, false},
    {"GET", "/fail", h_fail, NULL, false},
    {"GET", "/healthz", h_ping, NULL, true}, /* open: probes without the token */
};

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    return ts_buf_append(ud, p, sz * n) == TS_OK ? sz * n : 0;
}

/* Sends a request; returns the status, the body in out (a C string). */
static long request(int port, const char *method, const char *path, const char *body,
                    const char *auth, ts_buf *out, char *allow, size_t allow_len)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[4096], hdr[256];
    long status = 0;
    ts_buf headers;
    ts_buf_init(&headers, 0);
    ts_buf_reset(out);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    if (auth) {
        snprintf(hdr, sizeof hdr, "Authorization: %s", auth);
        h = curl_slist_append(h, hdr);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &headers);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (allow) {
        const char *a = strstr(ts_buf_cstr(&headers), "Allow: ");
        allow[0] = '\0';
        if (a)
            snprintf(allow, allow_len, "%.*s", (int)strcspn(a + 7, "\r\n"), a + 7);
    }
    ts_buf_cstr(out);
    ts_buf_free(&headers);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static http_server *start(const char *token)
{
    http_server *s = NULL;
    ts_err err;
    http_options o = {.listen = "127.0.0.1:0", .token = token, .max_body = 1024, .routes = routes,
                      .nroutes = 5};
    ts_err_clear(&err);
    if (http_server_start(&s, &o, &err) != 0)
        fail_msg("start: %s", err.msg);
    assert_true(http_server_port(s) > 0);
    return s;
}

static void test_routing(void **state)
{
    (void)state;
    http_server *s = start(NULL);
    int port = http_server_port(s);
    char allow[64];
    ts_buf b;
    ts_buf_init(&b, 0);
    assert_int_equal(request(port, "GET", "/ping", NULL, NULL, &b, NULL, 0), 200);
    assert_string_equal((char *)b.data, "{\"ok\":true}");
    assert_int_equal(request(port, "GET", "/nope", NULL, NULL, &b, NULL, 0), 404);
    assert_string_equal((char *)b.data, "{\"error\":\"no such endpoint: GET /nope\",\"status\":404}");
    assert_int_equal(request(port, "DELETE", "/ping", NULL, NULL, &b, allow, sizeof allow), 405);
    assert_string_equal(allow, "GET");
    assert_non_null(strstr((char *)b.data, "method DELETE is not allowed on /ping"));
    assert_int_equal(request(port, "POST", "/echo", "hello", NULL, &b, NULL, 0), 200);
    assert_string_equal((char *)b.data, "hello");
    assert_int_equal(request(port, "GET", "/fail", NULL, NULL, &b, NULL, 0), 500);
    assert_string_equal((char *)b.data, "{\"error\":\"internal error (i/o)\",\"status\":500}");
    ts_buf_free(&b);
    http_server_stop(s);
}

static void test_token(void **state)
{
    (void)state;
    http_server *s = start("s3cret-token");
    int port = http_server_port(s);
    ts_buf b;
    ts_buf_init(&b, 0);
    assert_int_equal(request(port, "POST", "/echo", "x", NULL, &b, NULL, 0), 401);
    assert_null(strstr((char *)b.data, "s3cret"));
    assert_int_equal(request(port, "POST", "/echo", "x", "Bearer s3cret-tokem", &b, NULL, 0), 401);
    assert_int_equal(request(port, "POST", "/echo", "x", "Bearer s3cret-token-and-more", &b, NULL, 0), 401);
    assert_int_equal(request(port, "POST", "/echo", "x", "Basic s3cret-token", &b, NULL, 0), 401);
    assert_int_equal(request(port, "POST", "/echo", "x", "Bearer s3cret-token", &b, NULL, 0), 200);
    /* with a token every route needs it, GETs too, but the open ones (probes) */
    assert_int_equal(request(port, "GET", "/ping", NULL, NULL, &b, NULL, 0), 401);
    assert_int_equal(request(port, "GET", "/ping", NULL, "Bearer s3cret-token", &b, NULL, 0), 200);
    assert_int_equal(request(port, "GET", "/healthz", NULL, NULL, &b, NULL, 0), 200);
    ts_buf_free(&b);
    http_server_stop(s);
}

static void test_limits(void **state)
{
    (void)state;
    http_server *s = start(NULL);
    int port = http_server_port(s);
    char big[3000], path[3100];
    ts_buf b;
    ts_buf_init(&b, 0);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(request(port, "POST", "/echo", big, NULL, &b, NULL, 0), 413);
    assert_non_null(strstr((char *)b.data, "larger than 1024 bytes"));
    snprintf(path, sizeof path, "/limit?x=%s", big);
    assert_int_equal(request(port, "GET", path, NULL, NULL, &b, NULL, 0), 414);
    assert_int_equal(request(port, "GET", "/limit?limit=7", NULL, NULL, &b, NULL, 0), 200);
    assert_string_equal((char *)b.data, "{\"limit\":7}");
    assert_int_equal(request(port, "GET", "/limit", NULL, NULL, &b, NULL, 0), 200);
    assert_string_equal((char *)b.data, "{\"limit\":50}");
    assert_int_equal(request(port, "GET", "/limit?limit=abc", NULL, NULL, &b, NULL, 0), 400);
    assert_string_equal((char *)b.data, "{\"error\":\"query parameter \\\"limit\\\" must be an integer "
                                        "from 0 to 1000\",\"status\":400}");
    assert_int_equal(request(port, "GET", "/limit?limit=1001", NULL, NULL, &b, NULL, 0), 400);
    assert_int_equal(request(port, "GET", "/limit?limit=-1", NULL, NULL, &b, NULL, 0), 400);
    ts_buf_free(&b);
    http_server_stop(s);
}

static void test_listen_rules(void **state)
{
    (void)state;
    http_server *s = NULL;
    ts_err err;
    http_options o = {.listen = "0.0.0.0:0", .routes = routes, .nroutes = 4};
    ts_err_clear(&err);
    assert_int_equal(http_server_start(&s, &o, &err), TS_ERR_INVALID);
    assert_string_equal(err.msg, "refusing to listen on non-loopback address \"0.0.0.0:0\" without an http.token");
    ts_err_clear(&err);
    o.listen = "nohost";
    assert_int_equal(http_server_start(&s, &o, &err), TS_ERR_INVALID);
    assert_string_equal(err.msg, "listen address \"nohost\": expected IPV4:PORT or [IPV6]:PORT");
    ts_err_clear(&err);
    o.listen = "[::1]:0";
    assert_int_equal(http_server_start(&s, &o, &err), 0);
    http_server_stop(s);
    http_server_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_listen_rules),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
