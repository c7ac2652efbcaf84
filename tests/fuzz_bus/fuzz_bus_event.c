/* fuzz_bus_event.c: libFuzzer target over bus/'s parsers of outside input: request and
 * confirmation events, RFC 3339 times, redis:// URLs. Beyond "no crash", it checks that
 * whatever parses also encodes, that encoding is stable (encode . parse is idempotent),
 * and that rejection reasons stay printable (they go to logs and dead letters). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/event.h"
#include "common/tstime.h"
#include "bus/url.h"
#include "common/alloc.h"

static void check_reason(const ts_err *e)
{
    for (const char *p = e->msg; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f) {
            fprintf(stderr, "unprintable reason: %s\n", e->msg);
            abort();
        }
    if (e->code != TS_ERR_INVALID && e->code != TS_ERR_TOOBIG && e->code != TS_ERR_NOMEM) {
        fprintf(stderr, "unexpected code %d: %s\n", e->code, e->msg);
        abort();
    }
}

static void request(const uint8_t *data, size_t size)
{
    bus_request r, r2;
    char *s1 = NULL, *s2 = NULL;
    size_t n1 = 0, n2 = 0;
    ts_err e;
    ts_err_clear(&e);
    if (bus_request_parse((const char *)data, size, &r, &e) != TS_OK) {
        check_reason(&e);
        return;
    }
    if (bus_request_encode(&r, &s1, &n1, &e) != TS_OK) {
        fprintf(stderr, "parsed request does not encode: %s\n", e.msg);
        abort();
    }
    if (bus_request_parse(s1, n1, &r2, &e) != TS_OK || bus_request_encode(&r2, &s2, &n2, &e) != TS_OK ||
        n1 != n2 || memcmp(s1, s2, n1) != 0) {
        fprintf(stderr, "request round trip differs: %s\n", e.msg);
        abort();
    }
    ts_free(s1);
    ts_free(s2);
}

static void confirmation(const uint8_t *data, size_t size)
{
    bus_confirmation c, c2;
    char *s1 = NULL, *s2 = NULL;
    size_t n1 = 0, n2 = 0;
    ts_err e;
    ts_err_clear(&e);
    if (bus_confirmation_parse((const char *)data, size, &c, &e) != TS_OK) {
        check_reason(&e);
        return;
    }
    int rc = bus_confirmation_encode(&c, &s1, &n1, &e);
    if (rc == TS_ERR_TOOBIG) {
        bus_confirmation_clear(&c);
        return;
    }
    if (rc != TS_OK) {
        fprintf(stderr, "parsed confirmation does not encode: %s\n", e.msg);
        abort();
    }
    if (bus_confirmation_parse(s1, n1, &c2, &e) != TS_OK) {
        fprintf(stderr, "encoded confirmation does not parse: %s\n", e.msg);
        abort();
    }
    if (bus_confirmation_encode(&c2, &s2, &n2, &e) != TS_OK || n1 != n2 || memcmp(s1, s2, n1) != 0) {
        fprintf(stderr, "confirmation round trip differs: %s\n", e.msg);
        abort();
    }
    bus_confirmation_clear(&c);
    bus_confirmation_clear(&c2);
    ts_free(s1);
    ts_free(s2);
}

static void time_and_url(const uint8_t *data, size_t size)
{
    char s[600];
    if (size >= sizeof s)
        return;
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t us, back;
    char out[BUS_TIME_MAX];
    if (ts_time_scan(s, 0, &us) == NULL) {
        if (ts_time_format(us, 0, out, sizeof out) != TS_OK || ts_time_scan(out, 0, &back) != NULL || back != us) {
            fprintf(stderr, "time round trip differs for \"%s\"\n", out);
            abort();
        }
    }
    bus_url u;
    ts_err e;
    ts_err_clear(&e);
    if (bus_url_parse(s, &u, &e) == TS_OK)
        bus_url_clear(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    request(data, size);
    confirmation(data, size);
    time_and_url(data, size);
    return 0;
}
