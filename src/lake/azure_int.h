/* azure_int.h: what the files of the Azure store share, and unit tests reach
 * directly: connection strings and endpoint URLs (connstr.c), Shared Key signing and
 * URL encoding (azure.c), List Blobs parsing (azure_list.c). Entra ID tokens come from
 * src/azure/ (azure/identity.h). Not for use outside src/lake/. */
#ifndef TS_LAKE_AZURE_INT_H
#define TS_LAKE_AZURE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>

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
/* The blob endpoint the string names (az_endpoint_parse's text: checked, no trailing
 * slash): BlobEndpoint, or protocol://account.blob.suffix, or Azurite's for
 * UseDevelopmentStorage. Caller frees. */
char *az_connstr_endpoint(const az_connstr *cs, ts_err *err);

/* A blob endpoint, parsed by libcurl's URL API (CURLU): http(s), no user, password,
 * query or fragment. */
typedef struct az_endpoint {
    char *text;    /* scheme://host[:port][/path] without a trailing '/': messages */
    char *origin;  /* scheme://host[:port]: text without path, where request URLs start */
    char *path;    /* "" or "/devstoreaccount1": the start of every request's path */
    char *account; /* the account it names: the first path segment (emulator style,
                    * http://127.0.0.1:10000/account), else the first host label */
} az_endpoint;

/* Parses an http:// or https:// URL without user, password or fragment into *out
 * (curl_url_cleanup). what names it in messages ("lake.authority_host"); the URL
 * itself is never echoed, as it may hold a secret. TS_ERR_INVALID otherwise. */
int az_url_parse(const char *s, const char *what, CURLU **out, ts_err *err) TS_MUSTCHECK;
/* az_url_parse for a blob endpoint, which also has no query. On success *ep is the
 * caller's (az_endpoint_free); on failure it holds nothing. */
int az_endpoint_parse(const char *s, az_endpoint *ep, ts_err *err) TS_MUSTCHECK;
void az_endpoint_free(az_endpoint *ep);

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

/* Percent-encodes s with libcurl's curl_easy_escape (RFC 3986: all but [A-Za-z0-9-._~]
 * as %XX, upper-case hex, which the Shared Key signature covers byte for byte), for a
 * query value, or with keep_slash for a path (each segment encoded, the '/' kept). */
int az_url_encode(ts_buf *out, const char *s, bool keep_slash) TS_MUSTCHECK;

/* ---- azure_list.c: List Blobs ---- */

#define AZ_LIST_PAGE_MAX (16u << 20) /* one List Blobs page of 5,000 names fits easily */

/* Parses one List Blobs page with libxml2: calls fn for each <Blob> (name with XML
 * entities decoded, and %XX too when Encoded="true"; its Properties' Content-Length
 * and Content-MD5), and copies <NextMarker> into *next (owned, NULL when absent or
 * empty). The whole page is checked before the first call. TS_ERR_FORMAT when the
 * page is not well-formed XML, has a DOCTYPE, is not an <EnumerationResults>, or has
 * a <Blob> without a usable <Name> or with a bad <Content-Length>; TS_ERR_TOOBIG
 * above AZ_LIST_PAGE_MAX; a nonzero return of fn is returned as is. */
int az_parse_list(const char *xml, size_t len, lake_list_fn fn, void *ud, char **next,
                  ts_err *err) TS_MUSTCHECK;

#endif
