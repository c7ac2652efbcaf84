/* test_lake_unit.c: byte-exact vectors for the lake's pure parts: object layout,
 * path rules, base64, connection strings and endpoints, URL encoding, the Shared Key
 * string-to-sign and signature, List Blobs parsing (hostile pages included); and the
 * local writer under allocation failure. (RFC 3339 times: tests/common/test_tstime.c) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/log.h"
#include "lake/azure_int.h"
#include "lake/lake.h"
#include "lake/codec.h"

#define DEV_KEY                                                                                    \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

static void t_object_path(void **s)
{
    char *p;
    (void)s;
    /* 2024-01-01T00:00:00Z .. 2024-01-08T00:00:00Z */
    p = lake_object_path("metrics", "_timescaledb_internal", "conditions", "_hyper_1_2_chunk",
                         1704067200000000LL, 1704672000000000LL);
    assert_string_equal(p, "metrics/_timescaledb_internal.conditions/year=2024/month=01/"
                           "_hyper_1_2_chunk_20240101T000000Z_20240108T000000Z.parquet");
    ts_free(p);
    /* fractions, a date before 1970, odd characters escaped */
    p = lake_object_path("my db", "Sch/x", "t.a", "c", -1500000LL, 1500001LL);
    assert_string_equal(p, "my%20db/Sch%2Fx.t.a/year=1969/month=12/"
                           "c_19691231T235958.500000Z_19700101T000001.500001Z.parquet");
    ts_free(p);
    /* unbounded ranges (native partitions): month from the end */
    p = lake_object_path("d", "s", "t", "p_old", INT64_MIN, 951868800000000LL); /* 2000-03-01 */
    assert_string_equal(p, "d/s.t/year=2000/month=02/p_old_min_20000301T000000Z.parquet");
    ts_free(p);
    p = lake_object_path("..", ".", "t", "c", 0, INT64_MAX);
    assert_string_equal(p, "%2E%2E/%2E.t/year=1970/month=01/c_19700101T000000Z_max.parquet");
    ts_free(p);
    /* leap day */
    p = lake_object_path("d", "s", "t", "c", 1709164800000000LL, 1709251200000000LL);
    assert_string_equal(p, "d/s.t/year=2024/month=02/c_20240229T000000Z_20240301T000000Z.parquet");
    ts_free(p);
    /* both ends unbounded; years outside 0000..9999 as ISO 8601 expanded years */
    p = lake_object_path("d", "s", "t", "all", INT64_MIN, INT64_MAX);
    assert_string_equal(p, "d/s.t/year=0000/month=00/all_min_max.parquet");
    ts_free(p);
    p = lake_object_path("d", "s", "t", "bc", -62198755200000000LL, 253402300800000000LL);
    assert_string_equal(
        p, "d/s.t/year=-0001/month=01/bc_-00010101T000000Z_+100000101T000000Z.parquet");
    ts_free(p);
}

static void t_endpoints(void **s)
{
    az_endpoint ep;
    ts_err e;
    ts_buf b;
    (void)s;
    ts_err_clear(&e);
    assert_int_equal(az_endpoint_parse("HTTP://127.0.0.1:10000/devstoreaccount1/", &ep, &e), TS_OK);
    assert_string_equal(ep.text, "http://127.0.0.1:10000/devstoreaccount1");
    assert_string_equal(ep.origin, "http://127.0.0.1:10000");
    assert_string_equal(ep.path, "/devstoreaccount1");
    assert_string_equal(ep.account, "devstoreaccount1");
    az_endpoint_free(&ep);
    assert_int_equal(az_endpoint_parse("https://acme.blob.core.windows.net", &ep, &e), TS_OK);
    assert_string_equal(ep.text, "https://acme.blob.core.windows.net");
    assert_string_equal(ep.path, "");
    assert_string_equal(ep.account, "acme");
    az_endpoint_free(&ep);
    az_endpoint_free(NULL);
    /* refused, without echoing what may be a secret */
    static const struct {
        const char *url, *why;
    } bad[] = {
        {"ftp://acme.example/x", "must start with https:// or http://"},
        {"acme.blob.core.windows.net", "is not a URL"},
        {"https://user:SECRETPW@acme.blob.core.windows.net", "user name or password"},
        {"https://acme.blob.core.windows.net/?sv=1&sig=SECRETSIG", "must not hold a query"},
        {"https://acme.blob.core.windows.net/#frag", "fragment"},
        {"https://a b.example/", "is not a URL"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ts_err_clear(&e);
        assert_int_equal(az_endpoint_parse(bad[i].url, &ep, &e), TS_ERR_INVALID);
        if (!strstr(e.msg, bad[i].why))
            fail_msg("\"%s\": \"%s\" lacks \"%s\"", bad[i].url, e.msg, bad[i].why);
        assert_null(strstr(e.msg, "SECRET"));
        assert_null(ep.text);
    }
    /* curl_easy_escape's RFC 3986 set, upper-case hex; the path keeps its '/' */
    ts_buf_init(&b, 0);
    assert_int_equal(az_url_encode(&b, "a b/\xC3\xBC~!*'()=+&%", false), TS_OK);
    assert_string_equal(ts_buf_cstr(&b), "a%20b%2F%C3%BC~%21%2A%27%28%29%3D%2B%26%25");
    ts_buf_reset(&b);
    assert_int_equal(az_url_encode(&b, "/x y//z/", true), TS_OK);
    assert_string_equal(ts_buf_cstr(&b), "/x%20y//z/");
    ts_buf_reset(&b);
    assert_int_equal(az_url_encode(&b, "", true), TS_OK);
    assert_string_equal(ts_buf_cstr(&b), "");
    ts_buf_free(&b);
}

static void t_path_check(void **s)
{
    ts_err e;
    (void)s;
    const char *good[] = {"a", "a/b.parquet", "x/.hidden", "a..b/c", "year=2024/month=01/x"};
    const char *bad[] = {"", "/a", "a/", "a//b", ".", "..", "a/../b", "a/./b", "a\\b", "a\tb"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        ts_err_clear(&e);
        assert_int_equal(lake_path_check(good[i], &e), TS_OK);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ts_err_clear(&e);
        assert_int_equal(lake_path_check(bad[i], &e), TS_ERR_INVALID);
    }
}

static void t_base64(void **s)
{
    char out[64];
    uint8_t raw[64];
    (void)s;
    lake_b64_encode((const uint8_t *)"", 0, out);
    assert_string_equal(out, "");
    lake_b64_encode((const uint8_t *)"f", 1, out);
    assert_string_equal(out, "Zg==");
    lake_b64_encode((const uint8_t *)"fo", 2, out);
    assert_string_equal(out, "Zm8=");
    lake_b64_encode((const uint8_t *)"foobar", 6, out);
    assert_string_equal(out, "Zm9vYmFy");
    assert_int_equal(lake_b64_decode("Zm9vYg==", 8, raw, sizeof raw), 4);
    assert_memory_equal(raw, "foob", 4);
    assert_int_equal(lake_b64_decode("Zm9vYg=", 7, raw, sizeof raw), -1);
    assert_int_equal(lake_b64_decode("Zm9v*g==", 8, raw, sizeof raw), -1);
    assert_int_equal(lake_b64_decode("Zg==Zg==", 8, raw, sizeof raw), -1);
    assert_int_equal(lake_b64_decode("Zm9vYmFy", 8, raw, 5), -1); /* too long for cap */
    assert_int_equal(lake_b64_decode(DEV_KEY, strlen(DEV_KEY), raw, sizeof raw), 64);
}

static void t_connstr(void **s)
{
    az_connstr cs;
    ts_err e;
    char *ep;
    (void)s;
    ts_err_clear(&e);
    assert_int_equal(az_connstr_parse("DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=" DEV_KEY
                                      ";EndpointSuffix=core.windows.net",
                                      &cs, &e),
                     TS_OK);
    assert_string_equal(cs.account, "acme");
    assert_string_equal(cs.key, DEV_KEY);
    ep = az_connstr_endpoint(&cs, &e);
    assert_string_equal(ep, "https://acme.blob.core.windows.net");
    ts_free(ep);
    az_connstr_free(&cs);

    /* keys in any case, spaces, a trailing ';', a SAS with '=' and '&', a '?' dropped */
    assert_int_equal(az_connstr_parse(" blobendpoint = http://127.0.0.1:10000/devstoreaccount1/ ;"
                                      "SharedAccessSignature=?sv=2019-12-12&ss=b&sig=ab%2Bc%3D;",
                                      &cs, &e),
                     TS_OK);
    assert_string_equal(cs.blob_endpoint, "http://127.0.0.1:10000/devstoreaccount1");
    assert_string_equal(cs.sas, "sv=2019-12-12&ss=b&sig=ab%2Bc%3D");
    assert_null(cs.key);
    az_connstr_free(&cs);

    /* sovereign cloud suffix, http */
    assert_int_equal(az_connstr_parse("AccountName=a1;EndpointSuffix=core.chinacloudapi.cn;"
                                      "DefaultEndpointsProtocol=HTTP;AccountKey=" DEV_KEY,
                                      &cs, &e),
                     TS_OK);
    ep = az_connstr_endpoint(&cs, &e);
    assert_string_equal(ep, "http://a1.blob.core.chinacloudapi.cn");
    ts_free(ep);
    az_connstr_free(&cs);

    assert_int_equal(az_connstr_parse("UseDevelopmentStorage=true", &cs, &e), TS_OK);
    ep = az_connstr_endpoint(&cs, &e);
    assert_string_equal(ep, "http://127.0.0.1:10000/devstoreaccount1");
    assert_string_equal(cs.key, DEV_KEY);
    ts_free(ep);
    az_connstr_free(&cs);

    /* an endpoint that is not a plain http(s) URL is refused, and never echoed */
    assert_int_equal(az_connstr_parse("BlobEndpoint=https://u:SECRETPW@h.example/acct;"
                                      "SharedAccessSignature=sv=1",
                                      &cs, &e),
                     TS_OK);
    ts_err_clear(&e);
    assert_null(az_connstr_endpoint(&cs, &e));
    assert_string_equal(e.msg, "connection string: BlobEndpoint: the blob endpoint must not hold "
                               "a user name or password");
    az_connstr_free(&cs);

    /* errors name the key, never a value */
    ts_err_clear(&e);
    assert_int_equal(az_connstr_parse("AccountName=a;AcountKey=SECRETVALUE", &cs, &e), TS_ERR_INVALID);
    assert_non_null(strstr(e.msg, "\"AcountKey\""));
    assert_null(strstr(e.msg, "SECRETVALUE"));
    ts_err_clear(&e);
    assert_int_equal(az_connstr_parse("AccountName=a;AccountKey=not*base64", &cs, &e), TS_ERR_INVALID);
    assert_null(strstr(e.msg, "not*base64"));
    ts_err_clear(&e);
    assert_int_equal(az_connstr_parse("just-a-secret-without-equals", &cs, &e), TS_ERR_INVALID);
    assert_null(strstr(e.msg, "just-a-secret"));
    ts_err_clear(&e);
    assert_int_equal(az_connstr_parse("", &cs, &e), TS_ERR_INVALID);
    ts_err_clear(&e);
    assert_int_equal(az_connstr_parse("DefaultEndpointsProtocol=ftp;AccountName=a", &cs, &e),
                     TS_ERR_INVALID);
}

static void t_shared_key(void **s)
{
    ts_buf b;
    char sig[64];
    const az_header h[] = {{"x-ms-version", "2021-08-06"},
                           {"Content-MD5", "XrY7u+Ae7tCTyyK7j1rNww=="},
                           {"x-ms-date", "Wed, 25 Nov 2026 02:00:00 GMT"},
                           {"Content-Length", "11"},
                           {"X-MS-Blob-Type", "BlockBlob"}};
    const az_param p[] = {{"comp", "block"}, {"blockid", "AAAA"}};
    static const char want[] =
        "PUT\n\n\n11\nXrY7u+Ae7tCTyyK7j1rNww==\n\n\n\n\n\n\n\n"
        "x-ms-blob-type:BlockBlob\nx-ms-date:Wed, 25 Nov 2026 02:00:00 GMT\nx-ms-version:2021-08-06\n"
        "/devstoreaccount1/devstoreaccount1/ctr/a%20b/c.txt\nblockid:AAAA\ncomp:block";
    (void)s;
    ts_buf_init(&b, 0);
    assert_int_equal(az_string_to_sign(&b, "PUT", h, 5, "devstoreaccount1",
                                       "/devstoreaccount1/ctr/a%20b/c.txt", p, 2),
                     TS_OK);
    assert_string_equal(ts_buf_cstr(&b), want);
    /* computed independently: openssl dgst -sha256 -mac HMAC -macopt hexkey:... */
    assert_int_equal(az_sign(DEV_KEY, (const char *)b.data, b.len, sig, sizeof sig), TS_OK);
    assert_string_equal(sig, "3QY1pDqTNJC/rgfE0p8KelJa5cTyinZs0sO1noZrbWk=");
    ts_buf_free(&b);

    /* an empty body signs Content-Length as "" */
    {
        const az_header h2[] = {{"Content-Length", "0"}, {"x-ms-date", "D"}};
        ts_buf_init(&b, 0);
        assert_int_equal(az_string_to_sign(&b, "PUT", h2, 2, "a", "/c", NULL, 0), TS_OK);
        assert_string_equal(ts_buf_cstr(&b), "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:D\n/a/c");
        ts_buf_free(&b);
    }
}

typedef struct got {
    char names[8][128];
    uint64_t sizes[8];
    int md5s;
    int n;
} got;

static int collect(void *ud, const lake_info *i)
{
    got *g = ud;
    if (g->n < 8) {
        snprintf(g->names[g->n], sizeof g->names[0], "%s", i->name);
        g->sizes[g->n] = i->size;
    }
    g->md5s += i->has_md5;
    g->n++;
    return 0;
}

static int stop_at_first(void *ud, const lake_info *i)
{
    (void)ud;
    (void)i;
    return 42;
}

static void t_parse_list(void **s)
{
    static const char page[] =
        "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults "
        "ServiceEndpoint=\"http://127.0.0.1:10000/devstoreaccount1\" ContainerName=\"c\">"
        "<Prefix>p/</Prefix><Marker /><MaxResults>5000</MaxResults><Blobs>"
        "<Blob><Name>p/a &amp; b.parquet</Name><Properties><Creation-Time>x</Creation-Time>"
        "<Content-Length>1234</Content-Length><Content-Type>application/octet-stream</Content-Type>"
        "<Content-MD5>XrY7u+Ae7tCTyyK7j1rNww==</Content-MD5><BlobType>BlockBlob</BlobType>"
        "</Properties></Blob>"
        "<Blob><Name>p/&#x4E2D;&lt;x&gt;</Name><Properties><Content-Length>0</Content-Length>"
        "<Content-MD5 /></Properties></Blob>"
        "<Blob><Name Encoded=\"true\">p/%EF%BF%BE</Name><Properties><Content-Length>5</Content-Length>"
        "</Properties></Blob>"
        "</Blobs><NextMarker>2!80!MDAwMDE2IXAvYSAmIGIucGFycXVldCEwMDAwMjghOTk5OS0xMi0zMVQyMzo1OTo1OS45OTk5OTk5Wg--</NextMarker>"
        "</EnumerationResults>";
    static const char last[] =
        "<?xml version=\"1.0\"?><EnumerationResults ContainerName=\"c\"><Blobs /><NextMarker />"
        "</EnumerationResults>";
    got g;
    char *next = NULL;
    ts_err e;
    (void)s;
    memset(&g, 0, sizeof g);
    ts_err_clear(&e);
    assert_int_equal(az_parse_list(page, sizeof page - 1, collect, &g, &next, &e), TS_OK);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.names[0], "p/a & b.parquet");
    assert_int_equal(g.sizes[0], 1234);
    assert_string_equal(g.names[1], "p/\xE4\xB8\xAD<x>");
    assert_string_equal(g.names[2], "p/\xEF\xBF\xBE");
    assert_int_equal(g.sizes[2], 5);
    assert_int_equal(g.md5s, 1);
    assert_non_null(next);
    assert_int_equal(strncmp(next, "2!80!", 5), 0);
    ts_free(next);

    memset(&g, 0, sizeof g);
    assert_int_equal(az_parse_list(last, sizeof last - 1, collect, &g, &next, &e), TS_OK);
    assert_int_equal(g.n, 0);
    assert_null(next);

    /* malformed: not a listing, a blob without a name, a truncated page, bad lengths,
     * an undeclared entity, empty names, a name that decodes to a NUL, not XML */
    static const char *bad[] = {
        "<html>oops</html>",
        "<EnumerationResults><Blobs><Blob><Properties/></Blob></Blobs></EnumerationResults>",
        "<EnumerationResults><Blobs><Blob><Name>p/a</Name></Blob><Blob><Name>p/b</Na",
        ("<EnumerationResults><Blobs><Blob><Name>a</Name><Properties><Content-Length>12x"
         "</Content-Length></Properties></Blob></Blobs></EnumerationResults>"),
        ("<EnumerationResults><Blobs><Blob><Name>a</Name><Properties><Content-Length>-1"
         "</Content-Length></Properties></Blob></Blobs></EnumerationResults>"),
        ("<EnumerationResults><Blobs><Blob><Name>a</Name><Properties><Content-Length>"
         "99999999999999999999999</Content-Length></Properties></Blob></Blobs>"
         "</EnumerationResults>"),
        ("<EnumerationResults><Blobs><Blob><Name>a &bogus; b</Name></Blob></Blobs>"
         "</EnumerationResults>"),
        "<EnumerationResults><Blobs><Blob><Name/></Blob></Blobs></EnumerationResults>",
        ("<EnumerationResults><Blobs><Blob><Name Encoded=\"true\">a%00b</Name></Blob></Blobs>"
         "</EnumerationResults>"),
        "not xml at all",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc;
        memset(&g, 0, sizeof g);
        ts_err_clear(&e);
        rc = az_parse_list(bad[i], strlen(bad[i]), collect, &g, &next, &e);
        if (rc != TS_ERR_FORMAT)
            fail_msg("bad page %zu: %d (%s)", i, rc, e.msg);
        assert_int_equal(g.n, 0); /* the whole page is checked before the first name */
        assert_null(next);
    }
}

/* What the network may send to hurt a parser: entities that expand a billion-fold,
 * external entities that read files or fetch URLs, huge pages. All refused, at once. */
static void t_parse_list_hostile(void **s)
{
    static const char laughs[] =
        "<?xml version=\"1.0\"?><!DOCTYPE EnumerationResults ["
        "<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
        "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
        "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">"
        "<!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">"
        "<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">"
        "<!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">"
        "<!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\">"
        "]><EnumerationResults><Blobs><Blob><Name>&h;</Name></Blob></Blobs></EnumerationResults>";
    static const char file[] =
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
        "<EnumerationResults><Blobs><Blob><Name>&x;</Name></Blob></Blobs></EnumerationResults>";
    static const char net[] =
        "<?xml version=\"1.0\"?><!DOCTYPE EnumerationResults SYSTEM \"http://127.0.0.1:9/x.dtd\">"
        "<EnumerationResults><Blobs/></EnumerationResults>";
    const char *pages[] = {laughs, file, net};
    got g;
    char *next = NULL, *big;
    size_t bl = AZ_LIST_PAGE_MAX + 1;
    ts_err e;
    (void)s;
    for (size_t i = 0; i < sizeof pages / sizeof *pages; i++) {
        memset(&g, 0, sizeof g);
        ts_err_clear(&e);
        assert_int_equal(az_parse_list(pages[i], strlen(pages[i]), collect, &g, &next, &e),
                         TS_ERR_FORMAT);
        assert_non_null(strstr(e.msg, "DOCTYPE"));
        assert_int_equal(g.n, 0);
        assert_null(next);
    }
    /* the size cap comes before any parsing */
    big = malloc(bl);
    assert_non_null(big);
    memset(big, ' ', bl);
    ts_err_clear(&e);
    assert_int_equal(az_parse_list(big, bl, collect, &g, &next, &e), TS_ERR_TOOBIG);
    free(big);
    /* NUL bytes inside the page */
    {
        static const char nul[] = "<EnumerationResults><Blobs><Blob><Name>a\0b</Name></Blob>"
                                  "</Blobs></EnumerationResults>";
        memset(&g, 0, sizeof g);
        ts_err_clear(&e);
        assert_int_equal(az_parse_list(nul, sizeof nul - 1, collect, &g, &next, &e), TS_ERR_FORMAT);
        assert_int_equal(g.n, 0);
    }
    /* a callback's nonzero return stops the listing and is returned as is */
    {
        static const char two[] = "<EnumerationResults><Blobs><Blob><Name>a</Name></Blob>"
                                  "<Blob><Name>b</Name></Blob></Blobs></EnumerationResults>";
        assert_int_equal(az_parse_list(two, sizeof two - 1, stop_at_first, &g, &next, &e), 42);
        assert_null(next);
    }
}

static void t_local_alloc_failures(void **s)
{
    char root[] = "/tmp/lake-unit-XXXXXX", cmd[128];
    lake_options o;
    (void)s;
    assert_non_null(mkdtemp(root));
    lake_options_init(&o);
    o.path = root;
    /* every allocation in turn fails: no crash, no leak (ASan), and no visible object */
    for (long nth = 1; nth < 60; nth++) {
        lake *lk = NULL;
        lake_writer *w = NULL;
        ts_err e;
        lake_info info;
        int rc;
        ts_err_clear(&e);
        ts_alloc_fail_after(nth);
        rc = lake_open(&lk, &o, &e);
        if (rc == TS_OK)
            rc = lake_writer_open(lk, "a/b/c.bin", &w, &e);
        if (rc == TS_OK)
            rc = lake_writer_write(w, "hello", 5, &e);
        if (rc == TS_OK) {
            rc = lake_writer_commit(w, &info, &e);
            w = NULL;
        }
        ts_alloc_fail_after(0);
        lake_writer_abort(w);
        if (lk) {
            ts_err e2;
            lake_info st;
            ts_err_clear(&e2);
            if (rc == TS_OK) {
                assert_int_equal(lake_stat(lk, "a/b/c.bin", &st, &e2), TS_OK);
                assert_int_equal(st.size, 5);
                assert_int_equal(lake_delete(lk, "a/b/c.bin", &e2), TS_OK);
            } else {
                assert_int_equal(lake_stat(lk, "a/b/c.bin", &st, &e2), TS_ERR_NOTFOUND);
            }
        }
        lake_free(lk);
    }
    snprintf(cmd, sizeof cmd, "find '%s' -name '*.tmp-*' | grep -q . && exit 1; rm -rf '%s'", root,
             root);
    assert_int_equal(system(cmd), 0); /* no temp file left behind */
}

static void t_options(void **s)
{
    lake_options o;
    lake *lk = NULL;
    ts_err e;
    (void)s;
    assert_int_equal(lake_auth_parse("sas"), LAKE_AUTH_SAS);
    assert_int_equal(lake_auth_parse("managed_identity"), LAKE_AUTH_MANAGED_IDENTITY);
    assert_int_equal(lake_auth_parse("kerberos"), -1);
    lake_options_init(&o);
    o.kind = LAKE_AZURE;
    o.container = "Bad_Name";
    o.connection_string = "UseDevelopmentStorage=true";
    ts_err_clear(&e);
    assert_int_equal(lake_open(&lk, &o, &e), TS_ERR_INVALID);
    assert_non_null(strstr(e.msg, "Bad_Name"));
    o.container = "ok-name";
    o.auth = LAKE_AUTH_SAS;
    ts_err_clear(&e);
    assert_int_equal(lake_open(&lk, &o, &e), TS_ERR_INVALID); /* no SAS in the string */
    o.auth = LAKE_AUTH_AUTO;
    o.connection_string = "AccountName=acme;AccountKey=" DEV_KEY;
    ts_err_clear(&e);
    assert_int_equal(lake_open(&lk, &o, &e), TS_OK);
    assert_non_null(strstr(lake_describe(lk), "\"acme\""));
    {
        char *u = lake_url(lk, "x y/z.parquet");
        assert_string_equal(u, "https://acme.blob.core.windows.net/ok-name/x%20y/z.parquet");
        ts_free(u);
        /* upper-case escapes, as the signature covers them */
        u = lake_url(lk, "d/s.t/year=2024/month=01/c~1.parquet");
        assert_string_equal(
            u,
            "https://acme.blob.core.windows.net/ok-name/d/s.t/year%3D2024/month%3D01/c~1.parquet");
        ts_free(u);
    }
    {
        char red[512];
        ts_redact("key is " DEV_KEY " ok", red, sizeof red); /* registered on open */
        assert_null(strstr(red, DEV_KEY));
    }
    lake_free(lk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_object_path), cmocka_unit_test(t_endpoints),
        cmocka_unit_test(t_path_check),  cmocka_unit_test(t_base64),
        cmocka_unit_test(t_connstr),     cmocka_unit_test(t_shared_key),
        cmocka_unit_test(t_parse_list),  cmocka_unit_test(t_parse_list_hostile),
        cmocka_unit_test(t_options),     cmocka_unit_test(t_local_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
