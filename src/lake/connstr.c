/* connstr.c: Azure Storage connection strings ("AccountName=...;AccountKey=..."),
 * the blob endpoint they name, and endpoint URLs, parsed by libcurl's URL API.
 * Error messages name keys, never values, and never echo a URL given to us (it may
 * hold a password or a SAS). */
#include "azure_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "codec.h"
#include "common/alloc.h"

/* Azurite's well-known development account (public, documented by Microsoft). */
#define DEV_ACCOUNT "devstoreaccount1"
#define DEV_KEY                                                                                    \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

void az_connstr_free(az_connstr *cs)
{
    if (!cs)
        return;
    ts_free(cs->protocol);
    ts_free(cs->account);
    ts_free(cs->key);
    ts_free(cs->suffix);
    ts_free(cs->blob_endpoint);
    ts_free(cs->sas);
    memset(cs, 0, sizeof *cs);
}

static char *trimmed(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    return ts_strndup(s, n);
}

int az_connstr_parse(const char *s, az_connstr *cs, ts_err *err)
{
    static const char *const names[] = {"DefaultEndpointsProtocol", "AccountName", "AccountKey",
                                        "EndpointSuffix", "BlobEndpoint", "SharedAccessSignature",
                                        "UseDevelopmentStorage", "QueueEndpoint", "TableEndpoint",
                                        "FileEndpoint", "DevelopmentStorageProxyUri"};
    int rc = TS_OK;
    memset(cs, 0, sizeof *cs);
    if (!s || !*s)
        return ts_err_set(err, TS_ERR_INVALID, "the connection string is empty");
    while (*s) {
        const char *end = strchr(s, ';'), *eq;
        size_t len = end ? (size_t)(end - s) : strlen(s), klen;
        char *key = NULL, *val = NULL, **slot = NULL;
        int idx = -1;

        eq = memchr(s, '=', len);
        if (len == 0 || strspn(s, " \t\r\n") >= len) {
            s += len + (end ? 1 : 0);
            continue;
        }
        if (!eq) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "connection string: a part without '=' (expected Key=Value;...)");
            goto fail;
        }
        key = trimmed(s, (size_t)(eq - s));
        val = trimmed(eq + 1, len - (size_t)(eq - s) - 1);
        if (!key || !val) {
            ts_free(key);
            ts_free(val);
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto fail;
        }
        klen = strlen(key);
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
            if (strlen(names[i]) == klen && strcasecmp(names[i], key) == 0)
                idx = (int)i;
        switch (idx) {
        case 0: slot = &cs->protocol; break;
        case 1: slot = &cs->account; break;
        case 2: slot = &cs->key; break;
        case 3: slot = &cs->suffix; break;
        case 4: slot = &cs->blob_endpoint; break;
        case 5: slot = &cs->sas; break;
        case 6: cs->dev = strcasecmp(val, "true") == 0; break;
        case 7: case 8: case 9: case 10: break; /* other services: not ours */
        default:
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "connection string: unknown key \"%.64s\" (expected "
                            "DefaultEndpointsProtocol, AccountName, AccountKey, EndpointSuffix, "
                            "BlobEndpoint or SharedAccessSignature)",
                            key);
            ts_free(key);
            ts_free(val);
            goto fail;
        }
        ts_free(key);
        if (slot) {
            ts_free(*slot);
            *slot = val;
        } else {
            ts_free(val);
        }
        s += len + (end ? 1 : 0);
    }
    if (cs->sas && cs->sas[0] == '?')
        memmove(cs->sas, cs->sas + 1, strlen(cs->sas));
    if (cs->blob_endpoint) {
        size_t l = strlen(cs->blob_endpoint);
        while (l && cs->blob_endpoint[l - 1] == '/')
            cs->blob_endpoint[--l] = '\0';
    }
    if (cs->protocol && strcasecmp(cs->protocol, "https") != 0 &&
        strcasecmp(cs->protocol, "http") != 0) {
        rc = ts_err_set(err, TS_ERR_INVALID,
                        "connection string: DefaultEndpointsProtocol must be https or http");
        goto fail;
    }
    if (cs->dev) {
        if (!cs->account && !(cs->account = ts_strdup(DEV_ACCOUNT)))
            goto nomem;
        if (!cs->key && !cs->sas && !(cs->key = ts_strdup(DEV_KEY)))
            goto nomem;
    }
    if (cs->key) {
        uint8_t raw[256];
        if (lake_b64_decode(cs->key, strlen(cs->key), raw, sizeof raw) <= 0) {
            rc = ts_err_set(err, TS_ERR_INVALID, "connection string: AccountKey is not valid base64");
            goto fail;
        }
    }
    if (!cs->key && !cs->sas && !cs->blob_endpoint && !cs->account) {
        rc = ts_err_set(err, TS_ERR_INVALID,
                        "connection string names no account, endpoint, key or signature");
        goto fail;
    }
    return TS_OK;
nomem:
    rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
fail:
    az_connstr_free(cs);
    return rc;
}

char *az_connstr_endpoint(const az_connstr *cs, ts_err *err)
{
    az_endpoint ep;
    char *u = NULL, *composed = NULL;
    const char *src;
    size_t l;

    if (cs->blob_endpoint) {
        src = cs->blob_endpoint;
    } else if (cs->dev) {
        src = "http://127.0.0.1:10000/" DEV_ACCOUNT;
    } else if (!cs->account) {
        ts_err_set(err, TS_ERR_INVALID,
                   "connection string has neither AccountName nor BlobEndpoint");
        return NULL;
    } else {
        l = strlen(cs->account) + (cs->suffix ? strlen(cs->suffix) : 16) + 32;
        if (!(composed = ts_malloc(l))) {
            ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            return NULL;
        }
        /* the protocol is "http" or "https" in any case (az_connstr_parse checked) */
        snprintf(composed, l, "%s://%s.blob.%s",
                 cs->protocol && strcasecmp(cs->protocol, "http") == 0 ? "http" : "https",
                 cs->account, cs->suffix ? cs->suffix : "core.windows.net");
        src = composed;
    }
    if (az_endpoint_parse(src, &ep, err) == TS_OK) {
        if (!(u = ts_strdup(ep.text)))
            ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        az_endpoint_free(&ep);
    } else {
        ts_err_prefix(err, "connection string: %s",
                      cs->blob_endpoint ? "BlobEndpoint" : "AccountName/EndpointSuffix");
    }
    ts_free(composed);
    return u;
}

int az_url_parse(const char *s, const char *what, CURLU **out, ts_err *err)
{
    CURLU *u = NULL;
    char *part = NULL;
    CURLUcode uc;
    int rc = TS_OK;

    *out = NULL;
    if (!(u = curl_url()))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    if ((uc = curl_url_set(u, CURLUPART_URL, s, 0)) != CURLUE_OK) {
        rc = ts_err_set(err, uc == CURLUE_OUT_OF_MEMORY ? TS_ERR_NOMEM : TS_ERR_INVALID,
                        "%s is not a URL: %s", what, curl_url_strerror(uc));
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &part, 0) != CURLUE_OK ||
        (strcmp(part, "https") != 0 && strcmp(part, "http") != 0)) {
        rc = ts_err_set(err, TS_ERR_INVALID, "%s must start with https:// or http://", what);
        goto out;
    }
    curl_free(part);
    part = NULL;
    if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK) {
        rc = ts_err_set(err, TS_ERR_INVALID, "%s must not hold a user name or password", what);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK) {
        rc = ts_err_set(err, TS_ERR_INVALID, "%s must not hold a fragment ('#')", what);
        goto out;
    }
    *out = u;
    u = NULL;
out:
    curl_free(part);
    curl_url_cleanup(u);
    return rc;
}

void az_endpoint_free(az_endpoint *ep)
{
    if (!ep)
        return;
    ts_free(ep->text);
    ts_free(ep->origin);
    ts_free(ep->path);
    ts_free(ep->account);
    memset(ep, 0, sizeof *ep);
}

int az_endpoint_parse(const char *s, az_endpoint *ep, ts_err *err)
{
    CURLU *u = NULL;
    char *part = NULL, *host = NULL, *path = NULL, *url = NULL;
    size_t l;
    int rc;

    memset(ep, 0, sizeof *ep);
    if ((rc = az_url_parse(s, "the blob endpoint", &u, err)) != TS_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK) {
        rc = ts_err_set(err, TS_ERR_INVALID,
                        "the blob endpoint must not hold a query (a SAS goes in "
                        "SharedAccessSignature)");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        rc = ts_err_set(err, TS_ERR_INVALID, "the blob endpoint names no host");
        goto out;
    }
    /* the path without its trailing '/': "" or "/devstoreaccount1", as written (CURLU's
     * part setters would rewrite %XX to lower case; the signature covers it as sent) */
    for (l = strlen(path); l && path[l - 1] == '/'; l--)
        ;
    if (!(ep->path = ts_strndup(path, l)))
        goto nomem;
    /* the origin: scheme://host[:port], as libcurl normalizes it */
    if (curl_url_set(u, CURLUPART_PATH, "/", 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK)
        goto nomem;
    l = strlen(url);
    if (l && url[l - 1] == '/')
        l--;
    if (!(ep->origin = ts_strndup(url, l)) || !(ep->text = ts_malloc(l + strlen(ep->path) + 1)))
        goto nomem;
    memcpy(ep->text, url, l);
    strcpy(ep->text + l, ep->path);
    /* the account: the first path segment (emulators: http://127.0.0.1:10000/account),
     * else the first label of the host (https://account.blob.core.windows.net) */
    if (ep->path[0])
        ep->account = ts_strndup(ep->path + 1, strcspn(ep->path + 1, "/"));
    else
        ep->account = ts_strndup(host, strcspn(host, ".:"));
    if (!ep->account)
        goto nomem;
    goto out;
nomem:
    rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
out:
    curl_free(part);
    curl_free(host);
    curl_free(path);
    curl_free(url);
    curl_url_cleanup(u);
    if (rc)
        az_endpoint_free(ep);
    return rc;
}
