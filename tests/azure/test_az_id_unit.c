/* test_az_id_unit.c: src/azure/ without a network: base64url vectors, the certificate
 * file (x5t against openssl's own fingerprint, the refusals), the JWT client assertion
 * (claims, and its signature checked with the certificate), token answers as Entra ID,
 * IMDS and App Service write them, the choice of AZ_ID_AUTO, the endpoints, the errors,
 * and az_id_shared. Certificates come from make_certs.sh (AZ_MAKE_CERTS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "azure/identity_int.h"
#include "common/alloc.h"
#include "common/log.h"

static char dir[256];

static const char *file(const char *name)
{
    static char p[4][400];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
    return p[i];
}

#define ASSERT_HAS(hay, needle)                                                                    \
    do {                                                                                           \
        if (!strstr((hay), (needle)))                                                              \
            fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));                           \
    } while (0)

/* ---- base64url ---- */

static void test_b64url(void **state)
{
    (void)state;
    char out[32];
    static const struct {
        const char *in;
        size_t n;
        const char *want;
    } v[] = {{"", 0, ""},
             {"f", 1, "Zg"},
             {"fo", 2, "Zm8"},
             {"foo", 3, "Zm9v"},
             {"foob", 4, "Zm9vYg"},
             {"\xfb\xff", 2, "-_8"},
             {"\xff\xfe\xfd", 3, "__79"}};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        az_b64url((const uint8_t *)v[i].in, v[i].n, out);
        assert_string_equal(out, v[i].want);
    }
}

/* base64url decoding for the checks (the code under test only encodes); a letter
 * outside the alphabet fails the test. */
static size_t b64url_decode(const char *s, size_t n, uint8_t *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0;
    size_t len = 0;
    assert_true(n % 4 != 1); /* no base64url text has that length */
    for (size_t i = 0; i < n; i++) {
        const char *at = s[i] ? strchr(alphabet, s[i]) : NULL;
        assert_non_null(at);
        acc = (acc << 6) | (uint32_t)(at - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (uint8_t)(acc >> bits);
        }
    }
    return len;
}

/* ---- the certificate ---- */

static void test_cert_x5t(void **state)
{
    (void)state;
    az_cert c;
    ts_err e;
    char cmd[600], line[256], want[64], *hex;
    uint8_t sha[20];
    ts_err_clear(&e);
    assert_int_equal(az_cert_load(file("client.pem"), "lake.client_certificate_file", &c, &e), 0);
    /* openssl's own SHA-1 fingerprint: "sha1 Fingerprint=AB:CD:..." */
    snprintf(cmd, sizeof cmd, "openssl x509 -in '%s' -noout -fingerprint -sha1",
             file("client.crt"));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof line, p));
    pclose(p);
    hex = strchr(line, '=');
    assert_non_null(hex);
    for (int i = 0; i < 20; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 1 + 3 * i, "%2x", &v), 1);
        sha[i] = (uint8_t)v;
    }
    az_b64url(sha, 20, want);
    assert_string_equal(c.x5t, want);
    assert_int_equal(strlen(c.x5t), 27);
    {
        char plain[41] = "";
        for (int i = 0; i < 20; i++)
            snprintf(plain + 2 * i, 3, "%02X", sha[i]);
        assert_string_equal(c.sha1_hex, plain);
    }
    az_cert_free(&c);
}

static void expect_cert_error(const char *path, const char *needle)
{
    az_cert c;
    ts_err e;
    ts_err_clear(&e);
    assert_int_equal(az_cert_load(path, "lake.client_certificate_file", &c, &e), TS_ERR_INVALID);
    ASSERT_HAS(e.msg, needle);
    ASSERT_HAS(e.msg, "lake.client_certificate_file");
    assert_null(c.key);
}

static void test_cert_refusals(void **state)
{
    (void)state;
    char cmd[1200];
    expect_cert_error(file("absent.pem"), "could not open it: No such file or directory");
    expect_cert_error(file("client.key"), "no PEM certificate");
    expect_cert_error(file("client.crt"), "no usable private key");
    expect_cert_error(file("ec.pem"), "the private key is not RSA");
    snprintf(cmd, sizeof cmd, "cat '%s' '%s' >'%s'", file("client.crt"), file("rogue.key"),
             file("mixed.pem"));
    assert_int_equal(system(cmd), 0);
    expect_cert_error(file("mixed.pem"), "the private key does not belong to the certificate");
    /* an encrypted key is refused without a prompt */
    snprintf(
        cmd, sizeof cmd,
        "openssl pkey -in '%s' -aes256 -passout pass:pw -out '%s' 2>/dev/null && cat '%s' >>'%s'",
        file("client.key"), file("enc.pem"), file("client.crt"), file("enc.pem"));
    assert_int_equal(system(cmd), 0);
    expect_cert_error(file("enc.pem"), "no usable private key");
}

/* ---- the assertion ---- */

static json_t *part(const char *jwt, int which)
{
    const char *p = jwt;
    for (int i = 0; i < which; i++)
        p = strchr(p, '.') + 1;
    size_t n = strcspn(p, ".");
    uint8_t buf[4096];
    size_t len = b64url_decode(p, n, buf);
    json_t *j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(j);
    return j;
}

/* The signature checked with the certificate (not the key we signed with). */
static int verify_with(const char *jwt, const char *cert_file)
{
    FILE *f = fopen(cert_file, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    const char *dot2 = strrchr(jwt, '.');
    uint8_t sig[1024];
    size_t siglen = b64url_decode(dot2 + 1, strlen(dot2 + 1), sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, X509_get0_pubkey(x)) == 1 &&
             EVP_DigestVerify(md, sig, siglen, (const uint8_t *)jwt, (size_t)(dot2 - jwt)) == 1;
    EVP_MD_CTX_free(md);
    X509_free(x);
    return ok;
}

static void test_assertion(void **state)
{
    (void)state;
    az_cert c;
    ts_err e;
    char *a = NULL, *b = NULL;
    const char *aud = "https://login.microsoftonline.com/t-1/oauth2/v2.0/token";
    long now = 1700000000;
    ts_err_clear(&e);
    assert_int_equal(az_cert_load(file("client.pem"), "x", &c, &e), 0);
    assert_int_equal(az_jwt_assertion(&c, "cid-1", aud, now, &a, &e), 0);
    assert_int_equal(az_jwt_assertion(&c, "cid-1", aud, now, &b, &e), 0);
    json_t *h = part(a, 0), *cl = part(a, 1), *cl2 = part(b, 1);
    assert_int_equal(json_object_size(h), 3);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(h, "x5t")), c.x5t);
    assert_string_equal(json_string_value(json_object_get(cl, "aud")), aud);
    assert_string_equal(json_string_value(json_object_get(cl, "iss")), "cid-1");
    assert_string_equal(json_string_value(json_object_get(cl, "sub")), "cid-1");
    assert_int_equal(json_integer_value(json_object_get(cl, "nbf")), now);
    assert_int_equal(json_integer_value(json_object_get(cl, "iat")), now);
    assert_int_equal(json_integer_value(json_object_get(cl, "exp")), now + 600);
    const char *jti = json_string_value(json_object_get(cl, "jti"));
    assert_non_null(jti);
    assert_int_equal(strlen(jti), 36);
    assert_int_equal(jti[14], '4'); /* UUID version 4 */
    assert_string_not_equal(jti, json_string_value(json_object_get(cl2, "jti")));
    assert_true(verify_with(a, file("client.crt")));
    assert_false(verify_with(a, file("rogue.crt")));
    /* a changed signature no longer verifies (one letter swapped for another base64url
     * letter: flipping a bit could make '_' a '^', which no decoder takes) */
    a[strlen(a) - 5] = a[strlen(a) - 5] == 'A' ? 'B' : 'A';
    assert_false(verify_with(a, file("client.crt")));
    json_decref(h);
    json_decref(cl);
    json_decref(cl2);
    ts_free(a);
    ts_free(b);
    az_cert_free(&c);
}

/* ---- answers ---- */

static void test_answers(void **state)
{
    (void)state;
    char *tok;
    long in, refresh;
    ts_err e;
    const long now = 1700000000;
#define ANSWER(s) az_id_parse_answer((s), strlen(s), now, &tok, &in, &refresh, &e)
    ts_err_clear(&e);
    /* Entra ID v2: numbers */
    assert_int_equal(
        ANSWER("{\"token_type\":\"Bearer\",\"expires_in\":3599,\"ext_expires_in\":3599,"
               "\"access_token\":\"eyJ.a.b\"}"),
        0);
    assert_string_equal(tok, "eyJ.a.b");
    assert_int_equal(in, 3599);
    assert_int_equal(refresh, 0);
    ts_free(tok);
    /* IMDS: strings, and refresh_in when long-lived */
    assert_int_equal(
        ANSWER("{\"access_token\":\"t2\",\"expires_in\":\"86399\",\"expires_on\":\"1700086399\","
               "\"refresh_in\":\"43199\",\"resource\":\"https://storage.azure.com/\"}"),
        0);
    assert_int_equal(in, 86399);
    assert_int_equal(refresh, 43199);
    ts_free(tok);
    /* App Service 2019-08-01: expires_on only, Unix seconds in a string */
    assert_int_equal(
        ANSWER("{\"access_token\":\"t3\",\"expires_on\":\"1700000600\",\"token_type\":\"Bearer\"}"),
        0);
    assert_int_equal(in, 600);
    ts_free(tok);
    /* refusals */
    static const struct {
        const char *body, *why;
    } bad[] = {
        {"not json", "not a JSON object"},
        {"[1]", "not a JSON object"},
        {"{\"expires_in\":10}", "no access_token"},
        {"{\"access_token\":\"\",\"expires_in\":10}", "no access_token"},
        {"{\"access_token\":\"a b\",\"expires_in\":10}", "not usable"},
        {"{\"access_token\":\"t\"}", "no usable expires_in"},
        {"{\"access_token\":\"t\",\"expires_on\":\"1699999999\"}", "already expired"},
        {"{\"access_token\":\"t\",\"expires_in\":\"12x\"}", "no usable expires_in"},
        /* a lifetime no clock could mean: refused, not cast past a long (found by fuzz_az_answer) */
        {"{\"access_token\":\"t\",\"expires_in\":3599999999999999999999e9}", "no usable expires_in"},
        {"{\"access_token\":\"t\",\"expires_in\":99999999999999999}", "no usable expires_in"},
        {"{\"access_token\":\"t\",\"expires_on\":\"99999999999999999\"}", "no usable expires_in"},
        {"{\"access_token\":\"t\",\"access_token\":\"u\",\"expires_in\":5}", "not a JSON object"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ts_err_clear(&e);
        assert_int_equal(ANSWER(bad[i].body), TS_ERR_FORMAT);
        ASSERT_HAS(e.msg, bad[i].why);
        assert_null(tok);
    }
#undef ANSWER
}

/* ---- settings ---- */

static void clear_env(void)
{
    static const char *const names[] = {
        "AZURE_FEDERATED_TOKEN_FILE", "AZURE_TENANT_ID",   "AZURE_CLIENT_ID",
        "AZURE_AUTHORITY_HOST",       "IDENTITY_ENDPOINT", "IDENTITY_HEADER"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        unsetenv(names[i]);
}

static az_id *made(const az_id_options *o)
{
    az_id *id = NULL;
    ts_err e;
    ts_err_clear(&e);
    if (az_id_new(o, &id, &e) != 0)
        fail_msg("az_id_new: %s", e.msg);
    return id;
}

static void test_auto_order(void **state)
{
    (void)state;
    az_id_options o;
    az_id *id;
    clear_env();
    az_id_options_init(&o);
    o.scope = AZ_ID_SCOPE_STORAGE;

    /* nothing set: IMDS (CURLU writes %XX in lower case: the same bytes to the server) */
    id = made(&o);
    assert_int_equal(az_id_kind_of(id), AZ_ID_MANAGED_IDENTITY);
    assert_int_equal(id->src, AZ_SRC_MI_IMDS);
    assert_string_equal(id->url,
                        "http://169.254.169.254/metadata/identity/oauth2/token"
                        "?api-version=2018-02-01&resource=https%3a%2f%2fstorage.azure.com%2f");
    ASSERT_HAS(az_id_describe(id), "managed identity (instance metadata endpoint)");
    az_id_free(id);

    /* App Service's variables: its endpoint, its api-version, a user-assigned client id */
    setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/msi/token", 1);
    setenv("IDENTITY_HEADER", "hdr-secret-42", 1);
    o.client_id = "mi-client";
    o.scope = AZ_ID_SCOPE_REDIS;
    id = made(&o);
    assert_int_equal(id->src, AZ_SRC_MI_APPSERVICE);
    assert_string_equal(id->url, "http://127.0.0.1:41741/msi/token?api-version=2019-08-01"
                                 "&resource=https%3a%2f%2fredis.azure.com%2f&client_id=mi-client");
    ASSERT_HAS(az_id_describe(id), "managed identity \"mi-client\" (App Service endpoint)");
    assert_null(strstr(az_id_describe(id), "hdr-secret-42"));
    char red[128];
    ts_redact("header hdr-secret-42 sent", red, sizeof red);
    assert_string_equal(red, "header *** sent"); /* IDENTITY_HEADER is a secret */
    az_id_free(id);
    o.client_id = NULL;
    o.scope = AZ_ID_SCOPE_STORAGE;

    /* the AKS webhook's variables win over App Service's */
    setenv("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token", 1);
    setenv("AZURE_TENANT_ID", "t-env", 1);
    setenv("AZURE_CLIENT_ID", "c-env", 1);
    setenv("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/", 1);
    id = made(&o);
    assert_int_equal(az_id_kind_of(id), AZ_ID_WORKLOAD_IDENTITY);
    assert_string_equal(id->url, "https://login.microsoftonline.us/t-env/oauth2/v2.0/token");
    assert_string_equal(id->client_id, "c-env");
    ASSERT_HAS(az_id_describe(id), "workload identity \"c-env\" of tenant \"t-env\"");
    az_id_free(id);
    /* ... and the config's own values win over the variables */
    o.tenant_id = "t-cfg";
    o.client_id = "c-cfg";
    o.authority_host = "https://login.example/base/";
    id = made(&o);
    assert_string_equal(id->url, "https://login.example/base/t-cfg/oauth2/v2.0/token");
    assert_string_equal(id->client_id, "c-cfg");
    az_id_free(id);

    /* a client secret wins over everything in the environment */
    o.client_secret = "s3cr3t-unit-xyz";
    id = made(&o);
    assert_int_equal(id->src, AZ_SRC_SP_SECRET);
    ASSERT_HAS(az_id_describe(id),
               "service principal \"c-cfg\" of tenant \"t-cfg\" (client secret)");
    ts_redact("the s3cr3t-unit-xyz leaked", red, sizeof red);
    assert_string_equal(red, "the *** leaked");
    az_id_free(id);
    /* so does a certificate; the tenant is percent-encoded in the path */
    o.client_secret = NULL;
    o.client_certificate_file = file("client.pem");
    o.tenant_id = "contoso.onmicrosoft.com/x";
    id = made(&o);
    assert_int_equal(id->src, AZ_SRC_SP_CERT);
    assert_string_equal(id->url,
                        "https://login.example/base/contoso.onmicrosoft.com%2fx/oauth2/v2.0/token");
    assert_string_equal(id->aud, id->url);
    ASSERT_HAS(az_id_describe(id), "(client certificate, thumbprint ");
    az_id_free(id);
    clear_env();
}

static void expect_new_error(const az_id_options *o, int code, const char *needle)
{
    az_id *id = NULL;
    ts_err e;
    ts_err_clear(&e);
    assert_int_equal(az_id_new(o, &id, &e), code);
    assert_null(id);
    ASSERT_HAS(e.msg, needle);
    assert_null(strstr(e.msg, "s3cr3t"));
}

static void test_refusals(void **state)
{
    (void)state;
    az_id_options o;
    clear_env();
    az_id_options_init(&o);
    expect_new_error(&o, TS_ERR_INVALID, "no scope");
    o.scope = AZ_ID_SCOPE_STORAGE;
    o.kind = AZ_ID_SERVICE_PRINCIPAL;
    o.client_secret = "s3cr3t";
    o.setting = "lake";
    expect_new_error(
        &o, TS_ERR_INVALID,
        "a service principal needs lake.tenant_id, lake.client_id and lake.client_secret "
        "or lake.client_certificate_file");
    o.tenant_id = "t";
    o.client_id = "c";
    o.client_certificate_file = file("client.pem");
    expect_new_error(&o, TS_ERR_INVALID,
                     "lake.client_secret and lake.client_certificate_file are both set");
    o.client_certificate_file = NULL;
    o.authority_host = "ftp://login.example";
    expect_new_error(&o, TS_ERR_INVALID,
                     "lake.authority_host (or AZURE_AUTHORITY_HOST) is not an http");
    o.authority_host = "https://user:pw@login.example";
    expect_new_error(&o, TS_ERR_INVALID, "must not hold a user, password or fragment");
    o.authority_host = NULL;
    o.kind = AZ_ID_WORKLOAD_IDENTITY;
    expect_new_error(&o, TS_ERR_INVALID, "AZURE_FEDERATED_TOKEN_FILE");
    o.kind = AZ_ID_MANAGED_IDENTITY;
    o.imds_endpoint = "not a url";
    expect_new_error(&o, TS_ERR_INVALID, "lake.imds_endpoint is not an http");
}

static void test_kind_parse_and_config(void **state)
{
    (void)state;
    assert_int_equal(az_id_kind_parse("auto"), AZ_ID_AUTO);
    assert_int_equal(az_id_kind_parse(""), AZ_ID_AUTO);
    assert_int_equal(az_id_kind_parse("service_principal"), AZ_ID_SERVICE_PRINCIPAL);
    assert_int_equal(az_id_kind_parse("managed_identity"), AZ_ID_MANAGED_IDENTITY);
    assert_int_equal(az_id_kind_parse("workload_identity"), AZ_ID_WORKLOAD_IDENTITY);
    assert_int_equal(az_id_kind_parse("shared_key"), -1);

    ts_config *cfg = ts_config_new();
    assert_non_null(cfg);
    az_id_options o;
    az_id_options_from_config(&o, cfg, AZ_ID_SCOPE_REDIS);
    assert_int_equal(o.kind, AZ_ID_AUTO);
    assert_string_equal(o.scope, AZ_ID_SCOPE_REDIS);
    assert_string_equal(o.setting, "lake");
    ts_free(cfg->lake.auth);
    cfg->lake.auth = ts_strdup("workload_identity");
    az_id_options_from_config(&o, cfg, AZ_ID_SCOPE_REDIS);
    assert_int_equal(o.kind, AZ_ID_WORKLOAD_IDENTITY);
    ts_free(cfg->lake.auth);
    cfg->lake.auth = ts_strdup("shared_key"); /* the lake's business: Redis picks as auto */
    az_id_options_from_config(&o, cfg, AZ_ID_SCOPE_REDIS);
    assert_int_equal(o.kind, AZ_ID_AUTO);
    ts_config_free(cfg);
}

static void test_shared(void **state)
{
    (void)state;
    az_id_options o;
    az_id *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    ts_err e;
    clear_env();
    ts_err_clear(&e);
    az_id_options_init(&o);
    o.scope = AZ_ID_SCOPE_REDIS;
    o.imds_endpoint = "http://127.0.0.1:9/token";
    assert_int_equal(az_id_shared(&o, &a, &e), 0);
    assert_int_equal(az_id_shared(&o, &b, &e), 0);
    assert_ptr_equal(a, b); /* one cache for every bus of the process */
    o.scope = AZ_ID_SCOPE_STORAGE;
    assert_int_equal(az_id_shared(&o, &c, &e), 0);
    assert_ptr_not_equal(a, c);
    o.scope = AZ_ID_SCOPE_REDIS;
    setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi", 1); /* the environment counts too */
    setenv("IDENTITY_HEADER", "h-1234", 1);
    assert_int_equal(az_id_shared(&o, &d, &e), 0);
    assert_ptr_not_equal(a, d);
    clear_env();
}

static int setup(void **state)
{
    (void)state;
    const char *mk = getenv("AZ_MAKE_CERTS");
    char cmd[600];
    snprintf(dir, sizeof dir, "/tmp/test_az_id_unit.XXXXXX");
    if (!mk || !mkdtemp(dir))
        return -1;
    snprintf(cmd, sizeof cmd, "sh '%s' '%s'", mk, dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    if (!getenv("AZ_MAKE_CERTS") || system("openssl version >/dev/null 2>&1") != 0) {
        printf("SKIP: needs AZ_MAKE_CERTS (set by CTest) and openssl to make test certificates\n");
        return 77;
    }
    ts_log_setup(TS_LOG_WARN, 0, stderr);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url),        cmocka_unit_test(test_cert_x5t),
        cmocka_unit_test(test_cert_refusals), cmocka_unit_test(test_assertion),
        cmocka_unit_test(test_answers),       cmocka_unit_test(test_auto_order),
        cmocka_unit_test(test_refusals),      cmocka_unit_test(test_kind_parse_and_config),
        cmocka_unit_test(test_shared),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
