/* azure_auth.c: Azure AD bearer tokens for Blob Storage: a service principal's
 * client credentials or a managed identity's instance metadata endpoint. Tokens are
 * cached and fetched again shortly before they expire. */
#include "azure_int.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/alloc.h"
#include "common/log.h"

#define STORAGE_SCOPE "https://storage.azure.com/.default"
#define STORAGE_RESOURCE "https://storage.azure.com/"
#define TOKEN_MAX 8192

typedef enum { SRC_SP, SRC_MI } src_kind;

struct az_token_source {
    src_kind kind;
    char *url;  /* the token endpoint, with the query for MI */
    char *body; /* POST body for SP (holds the client secret) */
    char *what; /* "service principal token endpoint \"https://...\"" for messages */
    int timeout_s;
    pthread_mutex_t mu;
    char *token;
    time_t expires; /* CLOCK_MONOTONIC seconds */
    time_t lifetime;
    int fetches;
};

static time_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    ts_buf *b = ud;
    return ts_buf_append(b, p, sz * n) == TS_OK ? sz * n : 0;
}

static az_token_source *src_new(src_kind kind, int timeout_s)
{
    az_token_source *ts = ts_calloc(1, sizeof *ts);
    if (!ts)
        return NULL;
    ts->kind = kind;
    ts->timeout_s = timeout_s > 0 ? timeout_s : 30;
    pthread_mutex_init(&ts->mu, NULL);
    return ts;
}

/* The URL of u as a string of ours; NULL on no memory. */
static char *url_text(CURLU *u)
{
    char *s = NULL, *r = NULL;
    if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK)
        r = ts_strdup(s);
    curl_free(s);
    return r;
}

int az_token_source_sp(az_token_source **out, const char *authority_host, const char *tenant,
                       const char *client_id, const char *client_secret, int timeout_s,
                       ts_err *err)
{
    az_token_source *ts = NULL;
    ts_buf u, b;
    CURLU *cu = NULL;
    char *path = NULL;
    const char *host = authority_host && *authority_host ? authority_host
                                                         : "https://login.microsoftonline.com";
    size_t pl;
    int rc = TS_OK;

    *out = NULL;
    ts_buf_init(&u, 0);
    ts_buf_init(&b, 0);
    if (!tenant || !*tenant || !client_id || !*client_id || !client_secret || !*client_secret)
        return ts_err_set(err, TS_ERR_INVALID,
                          "service principal auth needs lake.tenant_id, lake.client_id and "
                          "lake.client_secret");
    if ((rc = az_url_parse(host, "lake.authority_host", &cu, err)) != TS_OK)
        goto out;
    if (!(ts = src_new(SRC_SP, timeout_s)))
        goto nomem;
    /* {authority}/{tenant}/oauth2/v2.0/token, under the authority's own path if any */
    if (curl_url_get(cu, CURLUPART_PATH, &path, 0) != CURLUE_OK)
        goto nomem;
    for (pl = strlen(path); pl && path[pl - 1] == '/'; pl--)
        ;
    if (ts_buf_append(&u, path, pl) || ts_buf_putc(&u, '/') || az_url_encode(&u, tenant, false) ||
        ts_buf_printf(&u, "/oauth2/v2.0/token") ||
        curl_url_set(cu, CURLUPART_PATH, ts_buf_cstr(&u), 0) != CURLUE_OK)
        goto nomem;
    if (ts_buf_printf(&b, "grant_type=client_credentials&client_id=") ||
        az_url_encode(&b, client_id, false) || ts_buf_printf(&b, "&client_secret=") ||
        az_url_encode(&b, client_secret, false) || ts_buf_printf(&b, "&scope=") ||
        az_url_encode(&b, STORAGE_SCOPE, false))
        goto nomem;
    ts->url = url_text(cu);
    ts->body = ts_strdup(ts_buf_cstr(&b));
    if (!ts->url || !ts->body)
        goto nomem;
    ts_log_add_secret(client_secret);
    {
        size_t l = strlen(ts->url) + 64;
        if (!(ts->what = ts_malloc(l)))
            goto nomem;
        snprintf(ts->what, l, "token endpoint \"%s\"", ts->url);
    }
    *out = ts;
    ts = NULL;
    goto out;
nomem:
    rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
out:
    if (b.data)
        memset(b.data, 0, b.len); /* held the secret */
    ts_buf_free(&u);
    ts_buf_free(&b);
    curl_free(path);
    curl_url_cleanup(cu);
    az_token_source_free(ts);
    return rc;
}

int az_token_source_mi(az_token_source **out, const char *imds_endpoint, const char *client_id,
                       int timeout_s, ts_err *err)
{
    az_token_source *ts = NULL;
    ts_buf q;
    CURLU *cu = NULL;
    const char *ep = imds_endpoint && *imds_endpoint
                         ? imds_endpoint
                         : "http://169.254.169.254/metadata/identity/oauth2/token";
    int rc = TS_OK;

    *out = NULL;
    ts_buf_init(&q, 0);
    if ((rc = az_url_parse(ep, "lake.imds_endpoint", &cu, err)) != TS_OK)
        goto out;
    if (!(ts = src_new(SRC_MI, timeout_s)))
        goto nomem;
    /* appended to whatever query the endpoint has */
    if (curl_url_set(cu, CURLUPART_QUERY, "api-version=2018-02-01", CURLU_APPENDQUERY) ||
        ts_buf_printf(&q, "resource=") || az_url_encode(&q, STORAGE_RESOURCE, false) ||
        curl_url_set(cu, CURLUPART_QUERY, ts_buf_cstr(&q), CURLU_APPENDQUERY))
        goto nomem;
    if (client_id && *client_id) {
        ts_buf_reset(&q);
        if (ts_buf_printf(&q, "client_id=") || az_url_encode(&q, client_id, false) ||
            curl_url_set(cu, CURLUPART_QUERY, ts_buf_cstr(&q), CURLU_APPENDQUERY))
            goto nomem;
    }
    if (!(ts->url = url_text(cu)))
        goto nomem;
    {
        size_t l = strlen(ep) + 64;
        if (!(ts->what = ts_malloc(l)))
            goto nomem;
        snprintf(ts->what, l, "managed identity endpoint \"%s\"", ep);
    }
    *out = ts;
    ts = NULL;
    goto out;
nomem:
    rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
out:
    ts_buf_free(&q);
    curl_url_cleanup(cu);
    az_token_source_free(ts);
    return rc;
}

void az_token_source_free(az_token_source *ts)
{
    if (!ts)
        return;
    if (ts->body) {
        memset(ts->body, 0, strlen(ts->body));
        ts_free(ts->body);
    }
    ts_free(ts->token);
    ts_free(ts->url);
    ts_free(ts->what);
    pthread_mutex_destroy(&ts->mu);
    ts_free(ts);
}

/* One request to the endpoint; fills status and body. */
static int fetch_once(az_token_source *ts, long *status, ts_buf *body, ts_err *err)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char ebuf[CURL_ERROR_SIZE] = "";
    CURLcode cc;
    int rc = TS_OK;

    if (!c)
        return ts_err_set(err, TS_ERR_NOMEM, "could not start a curl handle");
    curl_easy_setopt(c, CURLOPT_URL, ts->url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)ts->timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)(ts->timeout_s < 10 ? ts->timeout_s : 10));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    h = curl_slist_append(h, "Accept: application/json");
    if (ts->kind == SRC_SP) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, ts->body);
        h = curl_slist_append(h, "Content-Type: application/x-www-form-urlencoded");
    } else {
        h = curl_slist_append(h, "Metadata: true");
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* IMDS is link-local, never via a proxy */
    }
    if (!h) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        rc = ts_err_set(err, cc == CURLE_OPERATION_TIMEDOUT ? TS_ERR_TIMEOUT : TS_ERR_CONN,
                        "could not reach the %s: %s", ts->what, ebuf[0] ? ebuf : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
out:
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

static long json_seconds(json_t *v)
{
    if (json_is_integer(v))
        return (long)json_integer_value(v);
    if (json_is_real(v))
        return (long)json_real_value(v);
    if (json_is_string(v))
        return strtol(json_string_value(v), NULL, 10);
    return -1;
}

static int fetch_token(az_token_source *ts, ts_err *err)
{
    ts_buf body;
    json_t *j = NULL;
    json_error_t je;
    long status = 0, expires_in;
    int rc = TS_OK;

    ts_buf_init(&body, 1u << 20);
    for (int attempt = 0;; attempt++) {
        ts_err e1;
        ts_err_clear(&e1);
        ts_buf_reset(&body);
        status = 0;
        rc = fetch_once(ts, &status, &body, &e1);
        bool transient = rc == TS_ERR_CONN || rc == TS_ERR_TIMEOUT || status == 429 ||
                         status == 408 || status >= 500 || status == 410; /* IMDS warming up */
        if (!transient || attempt >= 2) {
            if (rc)
                ts_err_set(err, rc, "%s", e1.msg);
            break;
        }
        usleep((useconds_t)(200000u << attempt));
    }
    if (rc)
        goto out;
    ts->fetches++;
    j = json_loadb((const char *)body.data, body.len, 0, &je);
    if (status != 200) {
        const char *code = j ? json_string_value(json_object_get(j, "error")) : NULL;
        rc = ts_err_set(err, status == 400 || status == 401 || status == 403 ? TS_ERR_AUTH : TS_ERR_REMOTE,
                        "the %s refused the token request: HTTP %ld%s%.80s", ts->what, status,
                        code ? " " : "", code ? code : "");
        goto out;
    }
    if (!j || !json_is_string(json_object_get(j, "access_token"))) {
        rc = ts_err_set(err, TS_ERR_FORMAT, "the %s answered without an access_token", ts->what);
        goto out;
    }
    expires_in = json_seconds(json_object_get(j, "expires_in"));
    if (expires_in <= 0) {
        long on = json_seconds(json_object_get(j, "expires_on"));
        expires_in = on > 0 ? on - (long)time(NULL) : 0;
    }
    if (expires_in <= 0)
        expires_in = 300;
    {
        const char *tok = json_string_value(json_object_get(j, "access_token"));
        if (strlen(tok) >= TOKEN_MAX || !*tok) {
            rc = ts_err_set(err, TS_ERR_FORMAT, "the %s answered with an unusable access_token", ts->what);
            goto out;
        }
        ts_free(ts->token);
        if (!(ts->token = ts_strdup(tok))) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        ts_log_add_secret(tok);
    }
    ts->lifetime = expires_in;
    ts->expires = mono_now() + expires_in;
out:
    json_decref(j);
    if (body.data)
        memset(body.data, 0, body.len);
    ts_buf_free(&body);
    return rc;
}

int az_token_get(az_token_source *ts, char *out, size_t cap, ts_err *err)
{
    int rc = TS_OK;
    pthread_mutex_lock(&ts->mu);
    time_t margin = ts->lifetime / 2 < 300 ? ts->lifetime / 2 : 300;
    if (!ts->token || mono_now() >= ts->expires - margin)
        rc = fetch_token(ts, err);
    if (rc == TS_OK) {
        if (strlen(ts->token) >= cap)
            rc = ts_err_set(err, TS_ERR_TOOBIG, "access token too long");
        else
            strcpy(out, ts->token);
    }
    pthread_mutex_unlock(&ts->mu);
    return rc;
}

void az_token_invalidate(az_token_source *ts)
{
    pthread_mutex_lock(&ts->mu);
    ts_free(ts->token);
    ts->token = NULL;
    pthread_mutex_unlock(&ts->mu);
}

int az_token_fetches(const az_token_source *ts)
{
    return ts->fetches;
}
