/* identity.c: the token source: its settings resolved (AZ_ID_AUTO, the environment of
 * App Service and AKS), its endpoint, the cached token with its refresh, the redaction of
 * every secret it holds, and the process-wide sources az_id_shared hands out. */
#include <stdarg.h>
#include "identity_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "common/alloc.h"
#include "common/log.h"

#define DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#define DEFAULT_IMDS "http://169.254.169.254/metadata/identity/oauth2/token"
#define IMDS_API "2018-02-01"
#define APPSERVICE_API "2019-08-01"
#define REFRESH_MARGIN_US (300LL * 1000000)
#define STALE_FLOOR_US                                                                             \
    (10LL * 1000000)                    /* after a failed refresh, a cached token with less        \
                                         * left (or a tenth of its life) is not used */
#define RETRY_PAUSE_US (30LL * 1000000) /* after a failed refresh, at most this long */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *nz(const char *s)
{
    return s && *s ? s : NULL;
}

static const char *env(const char *name)
{
    return nz(getenv(name));
}

void az_id_options_init(az_id_options *o)
{
    memset(o, 0, sizeof *o);
    o->kind = AZ_ID_AUTO;
    o->timeout_s = 30;
}

int az_id_kind_parse(const char *s)
{
    static const struct {
        const char *name;
        az_id_kind v;
    } t[] = {{"auto", AZ_ID_AUTO},
             {"service_principal", AZ_ID_SERVICE_PRINCIPAL},
             {"managed_identity", AZ_ID_MANAGED_IDENTITY},
             {"workload_identity", AZ_ID_WORKLOAD_IDENTITY}};
    if (!s || !*s)
        return AZ_ID_AUTO;
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (strcmp(s, t[i].name) == 0)
            return (int)t[i].v;
    return -1;
}

void az_id_options_from_config(az_id_options *o, const ts_config *cfg, const char *scope)
{
    int kind = az_id_kind_parse(cfg->lake.auth);
    az_id_options_init(o);
    o->kind = kind > 0 ? (az_id_kind)kind : AZ_ID_AUTO; /* shared_key, sas: not ours */
    o->scope = scope;
    o->tenant_id = cfg->lake.tenant_id;
    o->client_id = cfg->lake.client_id;
    o->client_secret = cfg->lake.client_secret;
    o->client_certificate_file = cfg->lake.client_certificate_file;
    o->authority_host = cfg->lake.authority_host;
    o->imds_endpoint = cfg->lake.imds_endpoint;
    o->federated_token_file = cfg->lake.federated_token_file;
    o->ca_file = cfg->lake.ca_file;
    o->setting = "lake";
}

/* ---- construction ---- */

/* Parses an http(s) URL without user, password or fragment; the URL is never echoed (a
 * query may hold something private). */
static int parse_url(const char *s, const char *what, CURLU **out, ts_err *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *part = NULL;
    int rc = TS_OK;

    *out = NULL;
    if (!u)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, s, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        rc = ts_err_set(err, TS_ERR_INVALID, "%s is not an http:// or https:// URL", what);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK) {
        rc = ts_err_set(err, TS_ERR_INVALID, "%s must not hold a user, password or fragment", what);
        goto out;
    }
    *out = u;
    u = NULL;
out:
    curl_free(scheme);
    curl_free(part);
    curl_url_cleanup(u);
    return rc;
}

static char *url_text(CURLU *u)
{
    char *s = NULL, *r = NULL;
    if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK)
        r = ts_strdup(s);
    curl_free(s);
    return r;
}

static bool loopback(CURLU *u)
{
    char *host = NULL;
    bool r = false;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        r = strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
            strcmp(host, "[::1]") == 0;
    curl_free(host);
    return r;
}

/* {authority}/{tenant}/oauth2/v2.0/token, under the authority's own path if any. */
static int token_url(az_id *id, const char *authority, const char *tenant, const char *setting,
                     ts_err *err)
{
    CURLU *u = NULL;
    char *path = NULL, *esc = NULL, what[96];
    ts_buf p;
    size_t pl;
    int rc;

    ts_buf_init(&p, 0);
    snprintf(what, sizeof what, "%s.authority_host (or AZURE_AUTHORITY_HOST)", setting);
    if ((rc = parse_url(authority, what, &u, err)) != TS_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK ||
        !(esc = curl_easy_escape(NULL, tenant, 0)))
        goto nomem;
    for (pl = strlen(path); pl && path[pl - 1] == '/'; pl--)
        ;
    if (ts_buf_append(&p, path, pl) || ts_buf_printf(&p, "/%s/oauth2/v2.0/token", esc) ||
        curl_url_set(u, CURLUPART_PATH, ts_buf_cstr(&p), 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_QUERY, NULL, 0) != CURLUE_OK)
        goto nomem;
    if (!(id->url = url_text(u)) || !(id->aud = ts_strdup(id->url)))
        goto nomem;
    if (strncasecmp(id->url, "http://", 7) == 0 && !loopback(u))
        ts_warn("the Entra ID token endpoint \"%s\" is plain http: credentials travel "
                "unencrypted",
                id->url);
    goto out;
nomem:
    rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
out:
    ts_buf_free(&p);
    curl_free(path);
    curl_free(esc);
    curl_url_cleanup(u);
    return rc;
}

/* The resource a managed identity asks for: the scope without "/.default"'s ".default". */
static int query_add(CURLU *u, const char *name, const char *value)
{
    char *e = curl_easy_escape(NULL, value, 0);
    size_t n = e ? strlen(name) + strlen(e) + 2 : 0;
    char *q = e ? ts_malloc(n) : NULL;
    int rc = TS_ERR_NOMEM;
    if (q) {
        snprintf(q, n, "%s=%s", name, e);
        rc = curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY) == CURLUE_OK ? TS_OK
                                                                                 : TS_ERR_NOMEM;
    }
    ts_free(q);
    curl_free(e);
    return rc;
}

static int mi_url(az_id *id, const char *endpoint, const char *what, const char *api,
                  const char *client_id, ts_err *err)
{
    CURLU *u = NULL;
    char *resource = NULL;
    size_t sl = strlen(id->scope);
    int rc;

    if ((rc = parse_url(endpoint, what, &u, err)) != TS_OK)
        return rc;
    if (!(resource = ts_strdup(id->scope)))
        goto nomem;
    if (sl > 8 && strcmp(id->scope + sl - 8, ".default") == 0)
        resource[sl - 8] = '\0'; /* https://storage.azure.com/.default -> .../ */
    if (query_add(u, "api-version", api) || query_add(u, "resource", resource) ||
        (client_id && query_add(u, "client_id", client_id)))
        goto nomem;
    if (!(id->url = url_text(u)))
        goto nomem;
    goto out;
nomem:
    rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
out:
    ts_free(resource);
    curl_url_cleanup(u);
    return rc;
}

__attribute__((format(printf, 2, 3))) static int set_text(char **dst, const char *fmt, ...)
{
    va_list ap;
    char buf[1200];
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return (*dst = ts_strdup(buf)) ? TS_OK : TS_ERR_NOMEM;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int az_id_new(const az_id_options *o, az_id **out, ts_err *err)
{
    const char *set = nz(o->setting) ? o->setting : "lake";
    const char *secret = nz(o->client_secret), *certf = nz(o->client_certificate_file);
    const char *fed =
        nz(o->federated_token_file) ? o->federated_token_file : env("AZURE_FEDERATED_TOKEN_FILE");
    const char *as_ep = env("IDENTITY_ENDPOINT"), *as_hdr = env("IDENTITY_HEADER");
    const char *authority = nz(o->authority_host)         ? o->authority_host
                            : env("AZURE_AUTHORITY_HOST") ? env("AZURE_AUTHORITY_HOST")
                                                          : DEFAULT_AUTHORITY;
    const char *tenant = nz(o->tenant_id), *client = nz(o->client_id);
    az_id_kind kind = o->kind;
    az_id *id = NULL;
    char what[160];
    int rc = TS_OK;

    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    if (!nz(o->scope))
        return ts_err_set(err, TS_ERR_INVALID, "no scope for the Entra ID token");
    if (kind == AZ_ID_AUTO)
        kind = secret || certf ? AZ_ID_SERVICE_PRINCIPAL
               : fed           ? AZ_ID_WORKLOAD_IDENTITY
                               : AZ_ID_MANAGED_IDENTITY;
    if (!(id = ts_calloc(1, sizeof *id)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&id->mu, NULL);
    id->kind = kind;
    id->timeout_s = o->timeout_s > 0 ? o->timeout_s : 30;
    if (!(id->scope = ts_strdup(o->scope)))
        goto nomem;
    if (nz(o->ca_file) && !(id->ca_file = ts_strdup(o->ca_file)))
        goto nomem;

    switch (kind) {
    case AZ_ID_SERVICE_PRINCIPAL:
        if (!tenant || !client || (!secret && !certf)) {
            rc = ts_err_set(
                err, TS_ERR_INVALID,
                "a service principal needs %s.tenant_id, %s.client_id and %s.client_secret "
                "or %s.client_certificate_file (missing required key)",
                set, set, set, set);
            goto out;
        }
        if (secret && certf) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "%s.client_secret and %s.client_certificate_file are both set: choose "
                            "one",
                            set, set);
            goto out;
        }
        if ((rc = token_url(id, authority, tenant, set, err)) != TS_OK)
            goto out;
        if (!(id->client_id = ts_strdup(client)))
            goto nomem;
        if (secret) {
            id->src = AZ_SRC_SP_SECRET;
            if (!(id->secret = ts_strdup(secret)))
                goto nomem;
            ts_log_add_secret(secret);
            if (set_text(&id->describe,
                         "service principal \"%s\" of tenant \"%s\"%s (client secret)", client,
                         tenant, ""))
                goto nomem;
        } else {
            char w[80];
            id->src = AZ_SRC_SP_CERT;
            snprintf(w, sizeof w, "%s.client_certificate_file", set);
            if ((rc = az_cert_load(certf, w, &id->cert, err)) != TS_OK)
                goto out;
            if (set_text(&id->describe,
                         "service principal \"%s\" of tenant \"%s\" (client certificate, "
                         "thumbprint %s)",
                         client, tenant, id->cert.sha1_hex))
                goto nomem;
        }
        break;
    case AZ_ID_WORKLOAD_IDENTITY:
        tenant = tenant ? tenant : env("AZURE_TENANT_ID");
        client = client ? client : env("AZURE_CLIENT_ID");
        if (!fed || !tenant || !client) {
            rc = ts_err_set(
                err, TS_ERR_INVALID,
                "workload identity needs a federated token file, a tenant and a client "
                "id: AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID and AZURE_CLIENT_ID "
                "(set by the AKS workload identity webhook), or %s.federated_token_file, "
                "%s.tenant_id and %s.client_id",
                set, set, set);
            goto out;
        }
        id->src = AZ_SRC_WORKLOAD;
        if ((rc = token_url(id, authority, tenant, set, err)) != TS_OK)
            goto out;
        if (!(id->client_id = ts_strdup(client)) || !(id->token_file = ts_strdup(fed)))
            goto nomem;
        if (set_text(&id->describe,
                     "workload identity \"%s\" of tenant \"%s\" (federated token "
                     "file \"%s\")",
                     client, tenant, fed))
            goto nomem;
        break;
    case AZ_ID_MANAGED_IDENTITY:
        if (as_ep && as_hdr) {
            id->src = AZ_SRC_MI_APPSERVICE;
            if ((rc = mi_url(id, as_ep, "IDENTITY_ENDPOINT", APPSERVICE_API, client, err)) != TS_OK)
                goto out;
            if (!(id->secret = ts_strdup(as_hdr)))
                goto nomem;
            ts_log_add_secret(as_hdr);
            if (set_text(&id->describe, "managed identity%s%s%s (App Service endpoint)",
                         client ? " \"" : "", client ? client : "", client ? "\"" : ""))
                goto nomem;
        } else {
            char w[80];
            id->src = AZ_SRC_MI_IMDS;
            snprintf(w, sizeof w, "%s.imds_endpoint", set);
            if ((rc = mi_url(id, nz(o->imds_endpoint) ? o->imds_endpoint : DEFAULT_IMDS, w,
                             IMDS_API, client, err)) != TS_OK)
                goto out;
            if (set_text(&id->describe, "managed identity%s%s%s (instance metadata endpoint)",
                         client ? " \"" : "", client ? client : "", client ? "\"" : ""))
                goto nomem;
        }
        break;
    default:
        rc = ts_err_set(err, TS_ERR_INVALID, "unknown identity kind %d", (int)kind);
        goto out;
    }
    {
        /* the endpoint for messages: without the query (a client id is no secret, but the
         * line stays short) */
        size_t ql = strcspn(id->url, "?");
        snprintf(what, sizeof what, "%.*s", (int)(ql < 120 ? ql : 120), id->url);
        if (set_text(&id->what, "%s \"%s\"%s",
                     id->src == AZ_SRC_MI_IMDS         ? "managed identity endpoint"
                     : id->src == AZ_SRC_MI_APPSERVICE ? "App Service identity endpoint"
                                                       : "token endpoint",
                     what, ""))
            goto nomem;
    }
    *out = id;
    id = NULL;
    goto out;
nomem:
    rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
out:
    az_id_free(id);
    return rc;
}

static void wipe_free(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        ts_free(s);
    }
}

void az_id_free(az_id *id)
{
    if (!id)
        return;
    wipe_free(id->token);
    wipe_free(id->secret);
    wipe_free(id->assertion);
    az_cert_free(&id->cert);
    ts_free(id->url);
    ts_free(id->aud);
    ts_free(id->client_id);
    ts_free(id->scope);
    ts_free(id->token_file);
    ts_free(id->ca_file);
    ts_free(id->what);
    ts_free(id->describe);
    pthread_mutex_destroy(&id->mu);
    ts_free(id);
}

/* ---- tokens ---- */

/* Copies the cached token out (mu held). */
static int hand_out(az_id *id, char *out, size_t cap, int64_t *expires_at_us, ts_err *err)
{
    size_t n = strlen(id->token);
    if (n >= cap)
        return ts_err_set(err, TS_ERR_TOOBIG, "the access token is longer than %zu bytes", cap - 1);
    memcpy(out, id->token, n + 1);
    if (expires_at_us)
        *expires_at_us = id->expires_us + id->wall_delta_us;
    return TS_OK;
}

int az_id_token(az_id *id, char *out, size_t cap, int64_t *expires_at_us, ts_err *err)
{
    char *tok = NULL;
    long in = 0, refresh_in = 0;
    ts_err e1;
    int rc;

    pthread_mutex_lock(&id->mu);
    int64_t now = mono_us();
    bool usable = id->token && now < id->expires_us - id->floor_us;
    if (id->token && now < id->refresh_at_us) {
        rc = hand_out(id, out, cap, expires_at_us, err);
        goto out;
    }
    if (usable && now < id->retry_at_us) { /* a refresh failed a moment ago */
        rc = hand_out(id, out, cap, expires_at_us, err);
        goto out;
    }
    ts_err_clear(&e1);
    rc = az_id_fetch(id, &tok, &in, &refresh_in, &e1);
    now = mono_us();
    if (rc == TS_OK) {
        int64_t life = (int64_t)in * 1000000, margin = life / 2;
        if (margin > REFRESH_MARGIN_US)
            margin = REFRESH_MARGIN_US;
        ts_log_replace_secret(id->token, tok); /* the new one in before the old one goes */
        wipe_free(id->token);
        id->token = tok;
        tok = NULL;
        id->expires_us = now + life;
        id->floor_us = life / 10 < STALE_FLOOR_US ? life / 10 : STALE_FLOOR_US;
        /* a little early: a caller that schedules its own renewal from the expiry (the
         * bus re-AUTHs at half the remaining life, counted from before this fetch) then
         * finds the new token, not this one again */
        id->refresh_at_us = now + life - margin - (life / 50 < 1000000 ? life / 50 : 1000000);
        if (refresh_in > 0 && now + (int64_t)refresh_in * 1000000 < id->refresh_at_us)
            id->refresh_at_us = now + (int64_t)refresh_in * 1000000;
        id->wall_delta_us = wall_us() - now;
        id->retry_at_us = 0;
        ts_debug("got an access token for \"%s\" from the %s as %s, valid for %ld s", id->scope,
                 id->what, id->describe, in);
        rc = hand_out(id, out, cap, expires_at_us, err);
    } else if (usable && now < id->expires_us - id->floor_us) {
        int64_t left = id->expires_us - now, pause = left / 4;
        if (pause > RETRY_PAUSE_US)
            pause = RETRY_PAUSE_US;
        id->retry_at_us = now + pause;
        ts_warn("could not refresh the access token for \"%s\" (%s); the current one is good for "
                "%lld s more: %s",
                id->scope, id->describe, (long long)(left / 1000000), e1.msg);
        rc = hand_out(id, out, cap, expires_at_us, err);
    } else {
        rc = ts_err_set(err, rc, "%s", e1.msg);
    }
out:
    pthread_mutex_unlock(&id->mu);
    wipe_free(tok);
    return rc;
}

void az_id_invalidate(az_id *id)
{
    pthread_mutex_lock(&id->mu);
    /* the string stays (redacted) until the next one replaces it */
    id->refresh_at_us = id->expires_us = id->retry_at_us = 0;
    pthread_mutex_unlock(&id->mu);
}

const char *az_id_describe(const az_id *id)
{
    return id->describe;
}

az_id_kind az_id_kind_of(const az_id *id)
{
    return id->kind;
}

int az_id_fetches(const az_id *id)
{
    return id->fetches;
}

/* ---- shared sources ---- */

static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static az_id *shared_list;

/* The SHA-256 of the settings and of the environment az_id_new reads. */
static int settings_key(const az_id_options *o, uint8_t key[32])
{
    const char *parts[] = {o->scope,
                           o->tenant_id,
                           o->client_id,
                           o->client_secret,
                           o->client_certificate_file,
                           o->authority_host,
                           o->imds_endpoint,
                           o->federated_token_file,
                           o->ca_file,
                           o->setting,
                           getenv("AZURE_AUTHORITY_HOST"),
                           getenv("AZURE_TENANT_ID"),
                           getenv("AZURE_CLIENT_ID"),
                           getenv("AZURE_FEDERATED_TOKEN_FILE"),
                           getenv("IDENTITY_ENDPOINT"),
                           getenv("IDENTITY_HEADER")};
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int head[2] = {(int)o->kind, o->timeout_s};
    unsigned int len = 32;
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(md, head, sizeof head) == 1;
    for (size_t i = 0; ok && i < sizeof parts / sizeof *parts; i++) {
        uint64_t n = parts[i] ? strlen(parts[i]) + 1 : 0; /* NULL and "" differ: both fine */
        ok = EVP_DigestUpdate(md, &n, sizeof n) == 1 &&
             (!n || EVP_DigestUpdate(md, parts[i], n - 1) == 1);
    }
    ok = ok && EVP_DigestFinal_ex(md, key, &len) == 1;
    EVP_MD_CTX_free(md);
    return ok ? TS_OK : TS_ERR_NOMEM;
}

int az_id_shared(const az_id_options *o, az_id **out, ts_err *err)
{
    uint8_t key[32];
    az_id *id = NULL;
    int rc = TS_OK;

    *out = NULL;
    if (settings_key(o, key) != TS_OK)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    pthread_mutex_lock(&shared_mu);
    for (id = shared_list; id; id = id->next)
        if (memcmp(id->key, key, sizeof key) == 0)
            break;
    if (!id && (rc = az_id_new(o, &id, err)) == TS_OK) {
        memcpy(id->key, key, sizeof key);
        id->next = shared_list;
        shared_list = id;
    }
    pthread_mutex_unlock(&shared_mu);
    *out = rc == TS_OK ? id : NULL;
    return rc;
}
