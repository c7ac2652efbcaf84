/* azure_int.h: the parts of the Azure store that unit tests reach directly:
 * connection strings (connstr.c), Shared Key signing and List Blobs parsing
 * (azure.c), Azure AD tokens (azure_auth.c). Not for use outside src/lake/. */
#ifndef TS_LAKE_AZURE_INT_H
#define TS_LAKE_AZURE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/buf.h"
#include "common/err.h"
#include "lake.h"

/* ---- connstr.c ---- */

/* A parsed connection string. Every field is owned (ts_free), NULL when absent. */
typedef struct az_connstr {
    char *protocol;      /* DefaultEndpointsProtocol */
    char *account;       /* AccountName */
    char *key;           /* AccountKey (base64), secret */
    char *suffix;        /* EndpointSuffix */
    char *blob_endpoint; /* BlobEndpoint, no trailing slash */
    char *sas;           /* SharedAccessSignature, without a leading '?', secret */
    bool dev;            /* UseDevelopmentStorage=true */
} az_connstr;

/* Parses "Key=Value;Key=Value". Keys are case-insensitive; unknown keys are errors
 * (naming the key, never a value); values may hold '=' (keys, SAS). */
int az_connstr_parse(const char *s, az_connstr *cs, ts_err *err) TS_MUSTCHECK;
void az_connstr_free(az_connstr *cs);
/* The blob endpoint (no trailing slash) the string names: BlobEndpoint, or
 * protocol://account.blob.suffix, or Azurite's for UseDevelopmentStorage. Caller frees. */
char *az_connstr_endpoint(const az_connstr *cs, ts_err *err);

/* ---- azure.c: Shared Key ---- */

/* One query parameter; value is raw (not URL-encoded). */
typedef struct az_param {
    const char *name;
    const char *value;
} az_param;

/* One x-ms-* or standard header the signature covers. */
typedef struct az_header {
    const char *name; /* as sent, e.g. "x-ms-date", "Content-MD5" */
    const char *value;
} az_header;

/* Builds the Shared Key string-to-sign (Blob service, version 2015-02-21 and later):
 * verb, the standard headers taken from hdrs by name, the canonicalized x-ms-*
 * headers, and the canonicalized resource "/account" + path + sorted query params.
 * path is the URL path as sent (percent-encoded), starting with '/'. */
int az_string_to_sign(ts_buf *out, const char *verb, const az_header *hdrs, int nhdrs,
                      const char *account, const char *path, const az_param *params, int nparams)
    TS_MUSTCHECK;
/* base64(HMAC-SHA256(base64decode(key), sts)) into out (>= 45 bytes). */
int az_sign(const char *key_b64, const char *sts, size_t len, char *out, size_t cap) TS_MUSTCHECK;

/* Percent-encodes s for a URL path (keeps unreserved characters and, if keep_slash,
 * '/') or a query value. */
int az_url_encode(ts_buf *out, const char *s, bool keep_slash) TS_MUSTCHECK;

/* ---- azure.c: List Blobs ---- */

/* Parses one List Blobs page: calls fn for each <Blob> (name, Content-Length,
 * Content-MD5), and copies <NextMarker> into *next (owned, NULL when absent/empty).
 * XML entities in names are decoded. TS_ERR_FORMAT on malformed input. */
int az_parse_list(const char *xml, size_t len, lake_list_fn fn, void *ud, char **next,
                  ts_err *err) TS_MUSTCHECK;

/* ---- azure_auth.c: Azure AD bearer tokens ---- */

typedef struct az_token_source az_token_source;

/* Service principal: client credentials against {authority}/{tenant}/oauth2/v2.0/token
 * for scope https://storage.azure.com/.default. */
int az_token_source_sp(az_token_source **out, const char *authority_host, const char *tenant,
                       const char *client_id, const char *client_secret, int timeout_s,
                       ts_err *err) TS_MUSTCHECK;
/* Managed identity: GET {imds}?api-version=2018-02-01&resource=https://storage.azure.com/
 * [&client_id=] with header "Metadata: true". */
int az_token_source_mi(az_token_source **out, const char *imds_endpoint, const char *client_id,
                       int timeout_s, ts_err *err) TS_MUSTCHECK;
void az_token_source_free(az_token_source *ts);
/* The current token (cached; fetched again when it expires within refresh_margin
 * seconds, default 300, or half its lifetime if shorter). Copies it into out.
 * Thread-safe. */
int az_token_get(az_token_source *ts, char *out, size_t cap, ts_err *err) TS_MUSTCHECK;
/* Forgets the cached token (after a 401). */
void az_token_invalidate(az_token_source *ts);
/* How many tokens were fetched (tests). */
int az_token_fetches(const az_token_source *ts);

#endif
