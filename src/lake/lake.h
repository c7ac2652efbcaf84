/* lake.h: the object store behind the archive: a local folder or Azure Blob Storage /
 * ADLS Gen2, one interface. Objects are written through a streaming writer and appear
 * whole at commit or not at all. Knows nothing of PostgreSQL. */
#ifndef TS_LAKE_H
#define TS_LAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct lake lake;
typedef struct lake_writer lake_writer;

typedef enum { LAKE_LOCAL = 1, LAKE_AZURE = 2 } lake_kind;

typedef enum {
    LAKE_AUTH_AUTO = 0,          /* the connection string's AccountKey, else its SAS, else a
                                  * Microsoft Entra ID identity as AZ_ID_AUTO picks it
                                  * (azure/identity.h): a service principal when a client
                                  * secret or certificate is set, workload identity when a
                                  * federated token file is set, else a managed identity
                                  * (App Service's endpoint, else IMDS) */
    LAKE_AUTH_SHARED_KEY,        /* AccountKey, HMAC-SHA256 */
    LAKE_AUTH_SAS,               /* SharedAccessSignature */
    LAKE_AUTH_SERVICE_PRINCIPAL, /* Entra ID client credentials: secret or certificate */
    LAKE_AUTH_MANAGED_IDENTITY,  /* App Service identity endpoint, else IMDS */
    LAKE_AUTH_WORKLOAD_IDENTITY, /* AKS workload identity: a federated token file */
} lake_auth;

/* Everything a store needs; strings are borrowed for the duration of lake_open only. */
typedef struct lake_options {
    lake_kind kind;
    const char *path;   /* LAKE_LOCAL: the root folder */
    const char *prefix; /* inside the folder or container; "" = none */

    /* LAKE_AZURE */
    const char *account;           /* lakehouse_storage_account; may be NULL */
    const char *container;         /* lakehouse_container */
    const char *connection_string; /* secret; may be NULL for Azure AD auth */
    const char *blob_endpoint;     /* overrides the endpoint (tests, private links) */
    size_t block_size;             /* bytes per Put Block; default 8 MiB */
    int upload_concurrency;        /* blocks in flight (and in memory); default 4 */
    bool create_container;         /* create it when missing; default true */
    lake_auth auth;
    const char *tenant_id;
    const char *client_id;
    const char *client_secret; /* secret */
    const char *client_certificate_file; /* service principal: PEM certificate + RSA key */
    const char *authority_host; /* default AZURE_AUTHORITY_HOST, else
                                 * https://login.microsoftonline.com */
    const char *imds_endpoint;  /* default http://169.254.169.254/metadata/identity/oauth2/token */
    const char *federated_token_file; /* workload identity; default AZURE_FEDERATED_TOKEN_FILE */
    const char *ca_file;        /* PEM CA bundle that the blob endpoint's and the token
                                 * endpoints' certificates must chain to; NULL: the system's */
    int max_retries;            /* per request, after the first try; default 5 */
    int retry_base_ms;          /* first backoff; default 250 */
    int retry_max_ms;           /* backoff cap (Retry-After may ask for more, up to 60 s) */
    int connect_timeout_s;      /* default 10 */
    int stall_timeout_s;        /* a transfer slower than 1 KiB/s this long fails; default 60 */
    /* Polled (Azure) while a request is under way and while it waits to be retried; a
     * nonzero return abandons it at once (TS_ERR_INTERNAL, "interrupted"). NULL: never.
     * Lets a host with its own cancellation (a PostgreSQL backend) stop a wait. */
    int (*interrupted)(void *ctx);
    void *interrupted_ctx;
} lake_options;

/* An object's size and checksum. */
typedef struct lake_info {
    char *name;      /* in lake_list callbacks: the path (borrowed); else NULL */
    uint64_t size;
    bool has_md5;    /* lake_list on a local folder does not compute it */
    uint8_t md5[16];
    char etag[80];   /* the store's entity tag (Azure ETag; locally inode, size and
                      * mtime): it changes when the object is replaced; "" when unknown
                      * (lake_list) */
} lake_info;

/* Fills o with the defaults above (kind LAKE_LOCAL, path "./lake"). */
void lake_options_init(lake_options *o);
/* Parses "auto", "shared_key", "sas", "service_principal", "managed_identity",
 * "workload_identity"; -1 when unknown. */
int lake_auth_parse(const char *s);

/* Opens a store. No network traffic yet (see lake_test). Secrets in o are registered
 * with the logger's redaction. On success *out is the caller's (lake_free). */
int lake_open(lake **out, const lake_options *o, ts_err *err) TS_MUSTCHECK;
void lake_free(lake *lk);
/* "local folder \"/x\"" or "azure account \"a\" container \"c\"": for messages. */
const char *lake_describe(const lake *lk);
/* Who the lake acts as, for people (`tsarchive lake test`), never a secret: "shared key
 * of account \"a\"", "shared access signature", "service principal \"c\" of tenant
 * \"t\" (client secret)", "managed identity (instance metadata endpoint)", ..., or "the
 * user running tsarchive (local folder)". */
const char *lake_identity(const lake *lk);
/* The object's URL, without any secret: file:///abs/path or https://acct.../c/p.
 * Caller frees with ts_free; NULL on no memory. */
char *lake_url(const lake *lk, const char *path);

/* Object paths: relative, '/'-separated, no empty, "." or ".." component, no control
 * characters, at most 1024 bytes. TS_ERR_INVALID otherwise. */
int lake_path_check(const char *path, ts_err *err) TS_MUSTCHECK;

/* Starts an object at path. Nothing is visible until lake_writer_commit. */
int lake_writer_open(lake *lk, const char *path, lake_writer **out, ts_err *err) TS_MUSTCHECK;
/* Appends bytes. Memory stays bounded (Azure: concurrency x block size). After an
 * error the writer can only be aborted. */
int lake_writer_write(lake_writer *w, const void *p, size_t n, ts_err *err) TS_MUSTCHECK;
/* Makes the object appear, whole, and checks the stored size and MD5 against what was
 * written. Objects are write-once: the commit never replaces an object (Azure
 * If-None-Match: *, locally a no-replace rename); when the name is taken it fails
 * with TS_ERR_EXISTS, unless the object there holds exactly these bytes (same size
 * and MD5: a retried commit of our own), which is success. info (may be NULL) gets
 * size, MD5 and ETag. Frees w, also on failure, in which case no new object is
 * visible. */
int lake_writer_commit(lake_writer *w, lake_info *info, ts_err *err) TS_MUSTCHECK;
/* Discards the object being written and frees w. NULL is a no-op. */
void lake_writer_abort(lake_writer *w);
/* Bytes written so far. */
uint64_t lake_writer_size(const lake_writer *w);

/* Writes a small object from memory (a convenience over the writer), write-once as
 * lake_writer_commit. */
int lake_put_bytes(lake *lk, const char *path, const void *data, size_t len, lake_info *info,
                   ts_err *err) TS_MUSTCHECK;
/* Reads a whole object of at most max bytes into a new buffer (*out, NUL-terminated
 * for convenience, ts_free it; *len without the NUL). TS_ERR_TOOBIG above max,
 * TS_ERR_NOTFOUND when absent. info (may be NULL) gets size, MD5 and ETag. */
int lake_get_bytes(lake *lk, const char *path, size_t max, char **out, size_t *len,
                   lake_info *info, ts_err *err) TS_MUSTCHECK;

/* Uploads a local file (a convenience over the writer). */
int lake_put_file(lake *lk, const char *file, const char *path, lake_info *info,
                  ts_err *err) TS_MUSTCHECK;
/* Downloads an object to a local file, durably (common/durable.h: an exclusive temp
 * file, fsync, rename over file, folder fsync), checking the stored MD5 first. */
int lake_get_file(lake *lk, const char *path, const char *file, lake_info *info,
                  ts_err *err) TS_MUSTCHECK;

/* Size and MD5 of an object; TS_ERR_NOTFOUND when absent. */
int lake_stat(lake *lk, const char *path, lake_info *info, ts_err *err) TS_MUSTCHECK;
/* Reads up to len bytes at offset into buf; *got is how many (less only at the end
 * of the object; 0 when offset >= size). */
int lake_read(lake *lk, const char *path, uint64_t offset, size_t len, void *buf,
              size_t *got, ts_err *err) TS_MUSTCHECK;

/* Called once per object, in byte order of the names; a nonzero return stops the
 * listing and becomes lake_list's result. info->name is valid during the call. */
typedef int (*lake_list_fn)(void *ud, const lake_info *info);
/* Lists the objects whose path starts with prefix ("" = all), across pages. */
int lake_list(lake *lk, const char *prefix, lake_list_fn fn, void *ud, ts_err *err) TS_MUSTCHECK;
/* Removes what writers that died left behind under prefix ("" = all): a local
 * folder's temp files no live writer holds and older than min_age_s (a writer takes
 * its lock right after creating its temp file: 0 is safe when no writer can be
 * starting, as at a service's start). Azure keeps the blocks of an upload that
 * was never committed invisible and discards them itself (after 7 days), so there it
 * removes nothing. *removed (may be NULL) gets how many were removed. */
int lake_sweep(lake *lk, const char *prefix, int min_age_s, long long *removed,
               ts_err *err) TS_MUSTCHECK;
/* Deletes an object; TS_ERR_NOTFOUND when absent. */
int lake_delete(lake *lk, const char *path, ts_err *err) TS_MUSTCHECK;
/* Checks that the store is reachable, the credentials work, and the container or
 * folder exists (creating it when allowed). */
int lake_test(lake *lk, ts_err *err) TS_MUSTCHECK;

/* The object path of an archived chunk (DESIGN.md, Lake layout):
 *   <database>/<schema>.<table>/year=YYYY/month=MM/<chunk>_<start>_<end>.parquet
 * range_start/range_end are microseconds since 1970-01-01 UTC; INT64_MIN / INT64_MAX
 * mean unbounded ("min" / "max"). Year and month come from range_start (from
 * range_end - 1 when the start is unbounded). Times are written as 20240131T000000Z
 * (with .ffffff only when not whole seconds; ts_time_format_compact), years outside
 * 0000..9999 as "-0001" / "+10000" (ts_civil_year). Characters outside [A-Za-z0-9_.-] in
 * the names are written as %XX, so distinct chunks never share a path. Caller frees
 * the result with ts_free; NULL on no memory. The store's prefix is added by the
 * store, not here. */
char *lake_object_path(const char *database, const char *schema, const char *table,
                       const char *chunk_name, int64_t range_start, int64_t range_end);

/* Lower-case hex of an MD5 (33 bytes with the NUL). */
void lake_md5_hex(const uint8_t md5[16], char out[33]);

#endif
