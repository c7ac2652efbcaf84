/* connstr.c: Azure Storage connection strings ("AccountName=...;AccountKey=...")
 * and the blob endpoint they name. Error messages name keys, never values. */
#include "azure_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "lake_int.h"

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
    char *u;
    size_t l;
    if (cs->blob_endpoint) {
        if (strncasecmp(cs->blob_endpoint, "http://", 7) != 0 &&
            strncasecmp(cs->blob_endpoint, "https://", 8) != 0) {
            ts_err_set(err, TS_ERR_INVALID,
                       "connection string: BlobEndpoint must start with https:// or http://");
            return NULL;
        }
        if (!(u = ts_strdup(cs->blob_endpoint)))
            ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        return u;
    }
    if (cs->dev) {
        if (!(u = ts_strdup("http://127.0.0.1:10000/" DEV_ACCOUNT)))
            ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        return u;
    }
    if (!cs->account) {
        ts_err_set(err, TS_ERR_INVALID, "connection string has neither AccountName nor BlobEndpoint");
        return NULL;
    }
    l = strlen(cs->account) + (cs->suffix ? strlen(cs->suffix) : 16) + 32;
    if (!(u = ts_malloc(l))) {
        ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(u, l, "%s://%s.blob.%s", cs->protocol ? cs->protocol : "https", cs->account,
             cs->suffix ? cs->suffix : "core.windows.net");
    for (char *p = u; *p && *p != ':'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return u;
}
