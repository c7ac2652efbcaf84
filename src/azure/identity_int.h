/* identity_int.h: what the files of src/azure/ share, and unit tests reach directly:
 * the token source's body (identity.c), the token requests (flows.c), the certificate
 * and its JWT client assertion (assertion.c). Not for use outside src/azure/. */
#ifndef TS_AZURE_IDENTITY_INT_H
#define TS_AZURE_IDENTITY_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "identity.h"

/* The five ways to a token. */
typedef enum {
    AZ_SRC_SP_SECRET = 1, /* POST client_credentials + client_secret */
    AZ_SRC_SP_CERT,       /* POST client_credentials + client_assertion (RS256, x5t) */
    AZ_SRC_WORKLOAD,      /* POST client_credentials + client_assertion (the token file) */
    AZ_SRC_MI_IMDS,       /* GET IMDS, Metadata: true */
    AZ_SRC_MI_APPSERVICE, /* GET IDENTITY_ENDPOINT, X-IDENTITY-HEADER */
} az_src;

/* A certificate credential: the key that signs, the thumbprint that names it. */
typedef struct az_cert {
    EVP_PKEY *key;
    char x5t[32];      /* base64url of the SHA-1 of the certificate's DER (27 chars) */
    char sha1_hex[41]; /* the thumbprint as the portal shows it, for messages */
} az_cert;

struct az_id {
    az_src src;
    az_id_kind kind;
    char *url;       /* the token endpoint, with the query for GET */
    char *aud;       /* SP certificate: the assertion's audience (the token URL) */
    char *client_id; /* SP, workload: iss and sub of the assertion; the form's client_id */
    char *scope;
    char *secret;     /* SP secret: the client secret; App Service: IDENTITY_HEADER */
    char *token_file; /* workload identity: read at every fetch */
    char *ca_file;
    az_cert cert;   /* SP certificate */
    char *what;     /* "token endpoint \"https://...\"": the endpoint in messages */
    char *describe; /* az_id_describe */
    int timeout_s;

    pthread_mutex_t mu; /* guards what follows */
    char *token;
    int64_t refresh_at_us; /* monotonic: fetch again from here on */
    int64_t expires_us;    /* monotonic: the token is no good from here on */
    int64_t wall_delta_us; /* realtime - monotonic when the token came: its wall expiry */
    int64_t retry_at_us;   /* monotonic: after a failed refresh, not before this */
    int64_t floor_us;      /* a cached token with less left than this is not handed out
                            * after a failed refresh: 10 s, or a tenth of its lifetime */
    char *assertion;       /* the last assertion sent (for the redaction's replace) */
    int fetches;

    uint8_t key[32];    /* az_id_shared: the SHA-256 of the settings */
    struct az_id *next; /* az_id_shared's list */
};

/* ---- flows.c ---- */

/* One token request with retries (connection failures, 408, 429, 5xx, IMDS 410), and
 * its answer parsed: on success *token is a new string (ts_free) and *expires_in_s,
 * *refresh_in_s (0 when the answer has none) are set. Increments id->fetches for
 * every answer. Caller holds id->mu. */
int az_id_fetch(az_id *id, char **token, long *expires_in_s, long *refresh_in_s,
                ts_err *err) TS_MUSTCHECK;
/* Parses a token endpoint's JSON answer (HTTP 200): access_token, and expires_in or
 * expires_on (numbers or strings, as IMDS and App Service send them), refresh_in. now is
 * the Unix time in seconds. TS_ERR_FORMAT naming what is missing. */
int az_id_parse_answer(const char *body, size_t len, long now, char **token, long *expires_in_s,
                       long *refresh_in_s, ts_err *err) TS_MUSTCHECK;

/* ---- assertion.c ---- */

/* Loads a PEM file holding a certificate and its RSA private key (in any order; the first
 * certificate is the one that counts). what names the setting in messages. TS_ERR_INVALID
 * naming the file and the cause (unreadable, no certificate, no key, not RSA, key and
 * certificate do not match). */
int az_cert_load(const char *path, const char *what, az_cert *c, ts_err *err) TS_MUSTCHECK;
void az_cert_free(az_cert *c);
/* The client assertion: a JWT with header {"alg":"RS256","typ":"JWT","x5t":...} and claims
 * aud, iss = sub = client_id, jti (a random UUID), iat = nbf = now, exp = now + 600,
 * signed with the certificate's key (RSA PKCS#1 v1.5, SHA-256). *out is ts_free'd. */
int az_jwt_assertion(const az_cert *c, const char *client_id, const char *aud, long now, char **out,
                     ts_err *err) TS_MUSTCHECK;
/* base64url without padding of n bytes into out (cap >= 4 * ((n + 2) / 3) + 1). */
void az_b64url(const uint8_t *p, size_t n, char *out);

#endif
