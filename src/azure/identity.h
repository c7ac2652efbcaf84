/* identity.h: Microsoft Entra ID access tokens for any Azure resource (Storage for the
 * lake, Azure Cache for Redis for the bus): a service principal (client secret, or
 * client certificate through a signed JWT assertion), a managed identity (the instance
 * metadata endpoint, or App Service's IDENTITY_ENDPOINT), or AKS workload identity (a
 * federated token file). Tokens are cached, fetched again before they expire, shared
 * by threads, and registered with the log redaction. Uses common/ only. */
#ifndef TS_AZURE_IDENTITY_H
#define TS_AZURE_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/err.h"

#define AZ_ID_SCOPE_STORAGE "https://storage.azure.com/.default"
#define AZ_ID_SCOPE_REDIS "https://redis.azure.com/.default"
#define AZ_ID_TOKEN_MAX 16384 /* a buffer for az_id_token that holds any access token */

typedef struct az_id az_id;

typedef enum {
    AZ_ID_AUTO = 0,          /* az_id_new picks, in this order: a service principal when a
                              * client secret or certificate is set; workload identity when
                              * a federated token file is set (AZURE_FEDERATED_TOKEN_FILE);
                              * a managed identity otherwise (App Service's endpoint when
                              * IDENTITY_ENDPOINT and IDENTITY_HEADER are set, else IMDS) */
    AZ_ID_SERVICE_PRINCIPAL, /* client credentials: a client secret, or a certificate */
    AZ_ID_MANAGED_IDENTITY,  /* App Service endpoint when its variables are set, else IMDS */
    AZ_ID_WORKLOAD_IDENTITY, /* client credentials with the federated token as assertion */
} az_id_kind;

/* Strings are borrowed for the duration of az_id_new only. */
typedef struct az_id_options {
    az_id_kind kind;
    const char *scope;         /* required, e.g. AZ_ID_SCOPE_STORAGE; a managed identity
                                * asks for the resource: the scope without ".default" */
    const char *tenant_id;     /* service principal; workload identity (else AZURE_TENANT_ID) */
    const char *client_id;     /* service principal; workload identity (else AZURE_CLIENT_ID);
                                * managed identity: a user-assigned one (NULL: the system's) */
    const char *client_secret; /* service principal: secret (registered with the redaction) */
    const char *client_certificate_file; /* service principal: PEM holding the certificate
                                          * and its RSA private key (not encrypted) */
    const char *authority_host;          /* NULL or "": AZURE_AUTHORITY_HOST, else
                                          * https://login.microsoftonline.com */
    const char
        *imds_endpoint; /* NULL or "": http://169.254.169.254/metadata/identity/oauth2/token */
    const char *federated_token_file; /* NULL or "": AZURE_FEDERATED_TOKEN_FILE */
    const char *ca_file;              /* PEM bundle for https token endpoints; NULL or "": the
                                       * system store */
    const char *setting;              /* the config section named in messages ("lake" gives
                                       * "lake.client_secret"); NULL: "lake" */
    int timeout_s;                    /* per token request; default 30 */
} az_id_options;

/* Fills o with the defaults (kind AZ_ID_AUTO, scope NULL). */
void az_id_options_init(az_id_options *o);
/* Parses "auto", "service_principal", "managed_identity", "workload_identity"; -1 when
 * unknown. */
int az_id_kind_parse(const char *s);
/* The identity settings of cfg's lake section for scope: lake.auth when it names an
 * Entra ID identity (else AZ_ID_AUTO), lake.tenant_id, client_id, client_secret,
 * client_certificate_file, authority_host, imds_endpoint, federated_token_file,
 * ca_file. Strings are borrowed from cfg. */
void az_id_options_from_config(az_id_options *o, const ts_config *cfg, const char *scope);

/* Makes a token source: resolves AZ_ID_AUTO and the environment, checks the settings
 * (TS_ERR_INVALID naming the missing or bad setting), loads the certificate. No network
 * traffic yet. Secrets are registered with the log redaction. *out is the caller's
 * (az_id_free). */
int az_id_new(const az_id_options *o, az_id **out, ts_err *err) TS_MUSTCHECK;
void az_id_free(az_id *id);
/* A token source shared by the whole process for these options (equal settings give the
 * same one, so every connection of every thread shares one cached token). It lives
 * until the process ends: never az_id_free it. Thread-safe. */
int az_id_shared(const az_id_options *o, az_id **out, ts_err *err) TS_MUSTCHECK;

/* The current access token into out (NUL-terminated; cap AZ_ID_TOKEN_MAX is always
 * enough), and its expiry in *expires_at_us (microseconds since 1970, may be NULL).
 * Cached; fetched again once less than 5 minutes, or half the token's lifetime if that is
 * shorter, remain. When that fetch fails while the cached token has more than 10 s (or a
 * tenth of its lifetime, if less) left, the cached one is returned (a warning says why),
 * and the fetch is tried again at the first call after a pause (a quarter of what is
 * left, at most 30 s). A new token replaces the old one in the log redaction.
 * Thread-safe. TS_ERR_AUTH when the endpoint refuses, TS_ERR_CONN / TS_ERR_TIMEOUT when
 * it cannot be reached, TS_ERR_INVALID for a bad local file. */
int az_id_token(az_id *id, char *out, size_t cap, int64_t *expires_at_us, ts_err *err) TS_MUSTCHECK;
/* Forgets the cached token (a resource answered 401): the next az_id_token fetches. */
void az_id_invalidate(az_id *id);
/* Which identity this is, for people: "service principal \"<client>\" of tenant \"<t>\"
 * (client certificate, x5t <thumbprint>)", "managed identity (IMDS \"<url>\")", ... Never
 * a secret. Valid until az_id_free. */
const char *az_id_describe(const az_id *id);
/* The resolved kind (never AZ_ID_AUTO). */
az_id_kind az_id_kind_of(const az_id *id);
/* How many token requests got an answer (tests). */
int az_id_fetches(const az_id *id);

#endif
