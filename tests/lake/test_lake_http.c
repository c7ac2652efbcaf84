/* test_lake_http.c: the Azure store against endpoints this test serves on loopback
 * (libmicrohttpd): a service principal token endpoint, a managed identity (IMDS)
 * endpoint, and a small scripted blob endpoint that accepts only the newest bearer
 * token and can answer 503 with Retry-After, 500, or 403. Checks token caching and
 * refresh, a refused secret, a revoked token, retries and hard errors. */
#include "testutil.h"

#include <pthread.h>
#include <stdbool.h>

#include <microhttpd.h>

#include "common/alloc.h"
#include "lake/azure_int.h"

typedef struct server {
    pthread_mutex_t mu;
    int port;
    /* token endpoints */
    int sp_fetches, mi_fetches;
    int expires_in;
    char current[64];  /* the only token the blob endpoint accepts */
    bool mi_header_seen;
    bool mi_query_ok;
    /* blob endpoint script */
    int put_count;
    int fail_503; /* answer this many PUTs with 503 + Retry-After: 1 */
    bool fail_500; /* every PUT: 500 */
    bool fail_403;
    int unauthorized;
    uint8_t blob[1 << 16];
    size_t blob_len;
    bool has_blob;
    char blob_md5[32];
} server;

static server S = {.mu = PTHREAD_MUTEX_INITIALIZER};

typedef struct req {
    char body[1 << 16];
    size_t len;
} req;

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *body, size_t len,
                             const char *ctype, const char *errcode, const char *retry_after,
                             const char *md5)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    if (ctype)
        MHD_add_response_header(r, "Content-Type", ctype);
    if (errcode)
        MHD_add_response_header(r, "x-ms-error-code", errcode);
    if (retry_after)
        MHD_add_response_header(r, "Retry-After", retry_after);
    if (md5)
        MHD_add_response_header(r, "Content-MD5", md5);
    ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result token_reply(struct MHD_Connection *c, const char *kind, int *counter)
{
    char body[256];
    (*counter)++;
    snprintf(S.current, sizeof S.current, "tok-%s-%d", kind, *counter);
    if (strcmp(kind, "mi") == 0) /* IMDS sends numbers as strings */
        snprintf(body, sizeof body,
                 "{\"access_token\":\"%s\",\"expires_in\":\"%d\",\"token_type\":\"Bearer\","
                 "\"resource\":\"https://storage.azure.com/\"}",
                 S.current, S.expires_in);
    else
        snprintf(body, sizeof body,
                 "{\"token_type\":\"Bearer\",\"expires_in\":%d,\"ext_expires_in\":%d,"
                 "\"access_token\":\"%s\"}",
                 S.expires_in, S.expires_in, S.current);
    return reply(c, 200, body, strlen(body), "application/json", NULL, NULL, NULL);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    req *rq = *con_cls;
    enum MHD_Result ret;
    (void)cls;
    (void)version;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t k = *upload_size;
        if (k > sizeof rq->body - rq->len)
            k = sizeof rq->body - rq->len;
        memcpy(rq->body + rq->len, upload, k);
        rq->len += k;
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&S.mu);
    if (strcmp(url, "/tenant-1/oauth2/v2.0/token") == 0 && strcmp(method, "POST") == 0) {
        rq->body[rq->len] = '\0';
        if (!strstr(rq->body, "grant_type=client_credentials") ||
            !strstr(rq->body, "client_id=cid-1") ||
            !strstr(rq->body, "scope=https%3A%2F%2Fstorage.azure.com%2F.default"))
            ret = reply(c, 400, "{\"error\":\"invalid_request\"}", 27, "application/json", NULL, NULL, NULL);
        else if (!strstr(rq->body, "client_secret=s3cr3t%2Bvalue"))
        {
            static const char e401[] = "{\"error\":\"invalid_client\",\"error_description\":"
                                       "\"AADSTS7000215: Invalid client secret provided.\"}";
            ret = reply(c, 401, e401, sizeof e401 - 1, "application/json", NULL, NULL, NULL);
        }
        else
            ret = token_reply(c, "sp", &S.sp_fetches);
    } else if (strcmp(url, "/metadata/identity/oauth2/token") == 0 && strcmp(method, "GET") == 0) {
        const char *md = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Metadata");
        const char *av = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "api-version");
        const char *res = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "resource");
        S.mi_header_seen = md && strcmp(md, "true") == 0;
        S.mi_query_ok = av && strcmp(av, "2018-02-01") == 0 && res &&
                        strcmp(res, "https://storage.azure.com/") == 0;
        if (!S.mi_header_seen)
            ret = reply(c, 400, "{\"error\":\"invalid_request\"}", 27, "application/json", NULL, NULL, NULL);
        else
            ret = token_reply(c, "mi", &S.mi_fetches);
    } else if (strncmp(url, "/acct/ctr", 9) == 0) {
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        char want[96];
        snprintf(want, sizeof want, "Bearer %s", S.current);
        if (!auth || strcmp(auth, want) != 0 || S.unauthorized > 0) {
            if (S.unauthorized > 0)
                S.unauthorized--;
            ret = reply(c, 401, "", 0, NULL, "InvalidAuthenticationInfo", NULL, NULL);
        } else if (strcmp(method, "GET") == 0) {
            static const char xml[] =
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults "
                "ServiceEndpoint=\"http://x/acct\" ContainerName=\"ctr\"><Blobs/><NextMarker/>"
                "</EnumerationResults>";
            ret = reply(c, 200, xml, sizeof xml - 1, "application/xml", NULL, NULL, NULL);
        } else if (strcmp(method, "PUT") == 0) {
            S.put_count++;
            if (S.fail_403) {
                ret = reply(c, 403, "", 0, NULL, "AuthorizationPermissionMismatch", NULL, NULL);
            } else if (S.fail_500) {
                ret = reply(c, 500, "", 0, NULL, "InternalError", NULL, NULL);
            } else if (S.fail_503 > 0) {
                S.fail_503--;
                ret = reply(c, 503, "", 0, NULL, "ServerBusy", "1", NULL);
            } else {
                const char *md5 = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-ms-blob-content-md5");
                memcpy(S.blob, rq->body, rq->len);
                S.blob_len = rq->len;
                S.has_blob = true;
                snprintf(S.blob_md5, sizeof S.blob_md5, "%s", md5 ? md5 : "");
                ret = reply(c, 201, "", 0, NULL, NULL, NULL, NULL);
            }
        } else if (strcmp(method, "HEAD") == 0) {
            if (S.has_blob)
                ret = reply(c, 200, (const char *)S.blob, S.blob_len, NULL, NULL, NULL, S.blob_md5);
            else
                ret = reply(c, 404, "", 0, NULL, "BlobNotFound", NULL, NULL);
        } else {
            ret = reply(c, 405, "", 0, NULL, NULL, NULL, NULL);
        }
    } else {
        ret = reply(c, 404, "", 0, NULL, NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&S.mu);
    return ret;
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)c;
    (void)t;
    free(*con_cls);
    *con_cls = NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static lake *open_ad(lake_auth auth, const char *secret, int max_retries)
{
    char host[64], ep[96], imds[128];
    lake_options o;
    lake *lk = NULL;
    ts_err err;
    ts_err_clear(&err);
    snprintf(host, sizeof host, "http://127.0.0.1:%d", S.port);
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d/acct", S.port);
    snprintf(imds, sizeof imds, "http://127.0.0.1:%d/metadata/identity/oauth2/token", S.port);
    lake_options_init(&o);
    o.kind = LAKE_AZURE;
    o.account = "acct";
    o.container = "ctr";
    o.blob_endpoint = ep;
    o.auth = auth;
    o.tenant_id = "tenant-1";
    o.client_id = auth == LAKE_AUTH_SERVICE_PRINCIPAL ? "cid-1" : NULL;
    o.client_secret = secret;
    o.authority_host = host;
    o.imds_endpoint = imds;
    o.max_retries = max_retries;
    o.retry_base_ms = 50;
    o.retry_max_ms = 200;
    CHECK_OK(lake_open(&lk, &o, &err), &err);
    return lk;
}

static int put_text(lake *lk, const char *path, const char *text, ts_err *err)
{
    lake_writer *w = NULL;
    int rc = lake_writer_open(lk, path, &w, err);
    if (rc == TS_OK)
        rc = lake_writer_write(w, text, strlen(text), err);
    if (rc == TS_OK)
        return lake_writer_commit(w, NULL, err);
    lake_writer_abort(w);
    return rc;
}

int main(void)
{
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    lake *lk;
    ts_err err;
    double t0;
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle,
                         NULL, MHD_OPTION_NOTIFY_COMPLETED, done, NULL,
                         MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    CHECK(d);
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    CHECK(info && info->port);
    S.port = info->port;
    S.expires_in = 3600;

    /* service principal: one fetch, then the cached token */
    lk = open_ad(LAKE_AUTH_SERVICE_PRINCIPAL, "s3cr3t+value", 2);
    ts_err_clear(&err);
    CHECK_OK(lake_test(lk, &err), &err);
    CHECK_OK(lake_test(lk, &err), &err);
    CHECK_OK(put_text(lk, "a/b.txt", "hello bearer", &err), &err);
    CHECK_EQ(S.sp_fetches, 1);
    printf("service principal: token fetched once for 4 requests\n");

    /* a revoked token (401): fetched again once, and the request succeeds */
    S.unauthorized = 1;
    CHECK_OK(lake_test(lk, &err), &err);
    CHECK_EQ(S.sp_fetches, 2);
    lake_free(lk);

    /* refresh before expiry: a 2 s token is replaced after half its life */
    S.expires_in = 2;
    lk = open_ad(LAKE_AUTH_SERVICE_PRINCIPAL, "s3cr3t+value", 2);
    CHECK_OK(lake_test(lk, &err), &err);
    CHECK_EQ(S.sp_fetches, 3);
    usleep(2100000);
    CHECK_OK(lake_test(lk, &err), &err);
    CHECK_EQ(S.sp_fetches, 4);
    printf("service principal: token refreshed before expiry\n");
    lake_free(lk);
    S.expires_in = 3600;

    /* a refused secret: a clear error, without the secret */
    lk = open_ad(LAKE_AUTH_SERVICE_PRINCIPAL, "wrong-secret-xyz", 2);
    ts_err_clear(&err);
    rc = lake_test(lk, &err);
    printf("wrong client secret: %s\n", err.msg);
    CHECK_EQ(rc, TS_ERR_AUTH);
    CHECK(strstr(err.msg, "invalid_client") && strstr(err.msg, "401"));
    CHECK(strstr(err.msg, "wrong-secret-xyz") == NULL);
    lake_free(lk);

    /* managed identity: Metadata header, api-version and resource; cached */
    lk = open_ad(LAKE_AUTH_MANAGED_IDENTITY, NULL, 2);
    ts_err_clear(&err);
    CHECK_OK(lake_test(lk, &err), &err);
    CHECK_OK(lake_test(lk, &err), &err);
    CHECK_EQ(S.mi_fetches, 1);
    CHECK(S.mi_header_seen && S.mi_query_ok);
    printf("managed identity: ok\n");
    lake_free(lk);

    /* 503 with Retry-After: 1, twice: honoured, then success */
    lk = open_ad(LAKE_AUTH_SERVICE_PRINCIPAL, "s3cr3t+value", 3);
    S.put_count = 0;
    S.fail_503 = 2;
    t0 = now_s();
    CHECK_OK(put_text(lk, "r.txt", "retried", &err), &err);
    printf("two 503s with Retry-After: 1: %d PUTs, %.2f s\n", S.put_count, now_s() - t0);
    CHECK_EQ(S.put_count, 3);
    CHECK(now_s() - t0 >= 1.9);

    /* 500 every time: gives up after 1 + max_retries attempts, saying so */
    S.put_count = 0;
    S.fail_500 = true;
    ts_err_clear(&err);
    rc = put_text(lk, "r.txt", "x", &err);
    printf("always 500: %s\n", err.msg);
    CHECK_EQ(rc, TS_ERR_REMOTE);
    CHECK_EQ(S.put_count, 4);
    CHECK(strstr(err.msg, "after 4 attempts") && strstr(err.msg, "500"));
    S.fail_500 = false;

    /* 403: at once, one request */
    S.put_count = 0;
    S.fail_403 = true;
    ts_err_clear(&err);
    rc = put_text(lk, "r.txt", "x", &err);
    printf("403: %s\n", err.msg);
    CHECK_EQ(rc, TS_ERR_AUTH);
    CHECK_EQ(S.put_count, 1);
    CHECK(strstr(err.msg, "\"acct\"") && strstr(err.msg, "\"ctr\""));
    CHECK(strstr(err.msg, S.current) == NULL); /* not the token either */
    S.fail_403 = false;
    lake_free(lk);

    MHD_stop_daemon(d);
    printf("lake http: ok\n");
    return 0;
}
