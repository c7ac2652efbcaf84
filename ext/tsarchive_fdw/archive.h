/* archive.h: the tsarchive side of the foreign data wrapper, over the project's
 * libraries: the lake (lake/), an archived table's Delta log (delta/, object/), and one
 * Parquet file's rows as the binary values PostgreSQL's send() functions produce
 * (parquet/reader.h, pg/rowimage.h, as restore reads them). It includes no server
 * header, and the server side (fdw_*.c) includes none of the project's: this header
 * is the whole boundary. Every call returns 0 (or a count) or a negative TS_ERR_*
 * code with the message in a tsa_err; none exits, longjmps or logs a secret. Memory
 * is malloc'd and freed by the tsa_*_free calls. */
#ifndef TSA_ARCHIVE_H
#define TSA_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The first error wins (as ts_err). */
typedef struct tsa_err {
    int code; /* 0 while no error; else a TS_ERR_* code (negative) */
    char msg[768];
} tsa_err;

/* Codes the server side tells apart (the values of common/err.h). */
enum {
    TSA_ERR_NOMEM = -1,
    TSA_ERR_IO = -2,
    TSA_ERR_INVALID = -3,
    TSA_ERR_FORMAT = -4,
    TSA_ERR_NOTFOUND = -5,
    TSA_ERR_CONN = -6,
    TSA_ERR_AUTH = -7,
    TSA_ERR_TIMEOUT = -9,
    TSA_ERR_UNSUPPORTED = -10,
    TSA_ERR_TOOBIG = -12,
};

void tsa_err_clear(tsa_err *e);

/* ---- the lake ---- */

typedef struct tsa_lake tsa_lake;

/* A lake as a server's options and a user mapping's secrets name it. Strings are
 * borrowed for tsa_lake_open only. */
typedef struct tsa_lake_options {
    const char *path;      /* a local folder (absolute), or NULL for Azure */
    const char *account;   /* Azure storage account */
    const char *container; /* Azure container */
    const char *endpoint;  /* Azure blob endpoint (Azurite, private links); NULL = public */
    const char *prefix;    /* inside the folder or container; NULL = none */
    const char *auth;      /* auto | shared_key | sas | service_principal | managed_identity */
    const char *tenant_id, *client_id;   /* service principal */
    const char *authority_host;          /* Entra ID authority (default: the public cloud's) */
    const char *imds_endpoint;           /* managed identity endpoint (default: Azure's) */
    const char *client_certificate_file; /* service principal: PEM certificate and key */
    const char *federated_token_file;    /* workload identity */
    const char *ca_file;                 /* PEM CA bundle for the blob and token endpoints */
    int connect_timeout_s, max_retries;  /* 0 / -1: the lake's defaults */
    /* secrets (user mapping): */
    const char *connection_string;
    const char *account_key; /* with account (and endpoint) */
    const char *sas_token;   /* with account or endpoint */
    const char *client_secret;
    /* polled while reading and while waiting on Azure: nonzero abandons the work */
    int (*interrupted)(void *ctx);
    void *interrupted_ctx;
} tsa_lake_options;

int tsa_lake_open(const tsa_lake_options *o, tsa_lake **out, tsa_err *err);
void tsa_lake_free(tsa_lake *lk);
/* "local folder \"/x\"" or "azure account \"a\" container \"c\"": never a secret. */
const char *tsa_lake_describe(const tsa_lake *lk);

/* ---- names in the lake (object/object.h) ---- */

/* "<cluster>/<database>/", escaped as tsarchive names folders. Caller frees (tsa_free). */
char *tsa_database_root(const char *cluster, const char *database);
/* "<cluster>/<database>/<schema>.<table>", escaped. Caller frees. */
char *tsa_table_root(const char *cluster, const char *database, const char *schema,
                     const char *table);
/* The parts of a table root, unescaped: cluster, database, schema and table (each may
 * be NULL when not wanted; the caller frees each with tsa_free). -1 when root is not a
 * table root tsarchive writes. */
int tsa_root_parts(const char *root, char **cluster, char **database, char **schema, char **table);
void tsa_free(void *p);

/* The Delta tables under prefix (a lake path ending in '/', or ""): their roots, sorted.
 * *roots (n entries) is freed with tsa_strings_free. */
int tsa_list_tables(tsa_lake *lk, const char *prefix, char ***roots, int *n, tsa_err *err);
void tsa_strings_free(char **s, int n);

/* ---- an archived table: its Delta log ---- */

typedef struct tsa_table tsa_table;

/* A handle on the table at root (no I/O); lk must outlive it. */
int tsa_table_open(tsa_lake *lk, const char *root, tsa_table **out, tsa_err *err);
/* Brings the table to its newest version (the first call reads the whole log; later
 * ones probe the versions after the one known). After an error the table must be
 * freed. Strings the table returned before are invalid after a refresh. */
int tsa_table_refresh(tsa_table *t, tsa_err *err);
void tsa_table_free(tsa_table *t);
/* The version, -1 when the table has no commit (nothing archived yet). */
int64_t tsa_table_version(const tsa_table *t);

/* The table's columns (its Delta schema): name, the Delta type ("long",
 * "decimal(12,2)", an array's JSON) and the archived PostgreSQL type (the column's
 * tsarchive.pg_type metadata, or NULL). */
int tsa_table_ncolumns(const tsa_table *t);
const char *tsa_table_column_name(const tsa_table *t, int i);
const char *tsa_table_column_delta_type(const tsa_table *t, int i);
const char *tsa_table_column_pg_type(const tsa_table *t, int i);

/* One live file, as the log's add describes it (strings borrowed from t). */
typedef struct tsa_live_file {
    const char *path;      /* relative to the table's root (the lake path is root + "/" +
                              path) */
    int64_t size;          /* bytes */
    int64_t records;       /* stats.numRecords, -1 when unknown */
    const char *stats;     /* the add's stats JSON, or NULL */
    const char *relid;     /* OBJ_TAG_RELID: the chunk incarnation's pg_class OID; "" when
                              its rows had left the database already; NULL when absent */
    const char *chunk_tag; /* OBJ_TAG_CHUNK: ["schema","name"], or NULL */
} tsa_live_file;

size_t tsa_table_nfiles(const tsa_table *t);
int tsa_table_file(tsa_table *t, size_t i, tsa_live_file *out, tsa_err *err);

/* The chunk tag's schema and name into the buffers; -1 when malformed. */
int tsa_chunk_tag_parse(const char *tag, char *schema, size_t slen, char *name, size_t nlen);

/* ---- an add's statistics ---- */

typedef struct tsa_stats tsa_stats;

/* Parses stats JSON text. *out is freed with tsa_stats_free; NULL text gives an empty
 * set (every lookup absent). */
int tsa_stats_parse(const char *json, tsa_stats **out, tsa_err *err);
void tsa_stats_free(tsa_stats *s);
/* A column's bound as text into buf: a string as it is, an integer as %lld, a real as
 * %.17g (exact for a double). 1 when present (and fitting buf), 0 when absent.
 * *is_string tells which JSON type it was. */
int tsa_stats_bound(const tsa_stats *s, const char *column, bool max, char *buf, size_t len,
                    bool *is_string);
/* nullCount of a column: 1 with *n set, 0 when absent. */
int tsa_stats_null_count(const tsa_stats *s, const char *column, int64_t *n);

/* ---- one data file ---- */

typedef struct tsa_file tsa_file;

/* A target column: what the foreign table's column is. */
typedef struct tsa_col {
    const char *name;    /* the file column's name */
    const char *pg_type; /* for messages: "numeric(12,3)" */
    uint32_t type_oid;   /* the column's type */
    uint32_t elem_oid;   /* arrays: the element type (the binary array carries it) */
    bool is_array;       /* a one-dimensional array type */
    bool is_enum;        /* the type (or the element type) is an enum */
} tsa_col;

/* Opens the file at path (a lake path) of size bytes and reads its footer. records >= 0:
 * the row count the log gives, which the footer must state. max_memory caps what the
 * reader holds at once (footer, one row group's column chunks, pages). */
int tsa_file_open(tsa_lake *lk, const char *path, int64_t size, int64_t records, size_t max_memory,
                  tsa_file **out, tsa_err *err);
void tsa_file_free(tsa_file *f);
int tsa_file_nrow_groups(const tsa_file *f);
int64_t tsa_file_row_group_rows(const tsa_file *f, int g);
/* Whether the file has a (top-level) column of that name. */
bool tsa_file_has_column(const tsa_file *f, const char *name);

/* Plans the columns to read: cols[j] are matched by name; only they are fetched and
 * decoded. TSA_ERR_INVALID naming the column when its file type cannot become the
 * column's type. Call once, before any row. */
int tsa_file_plan(tsa_file *f, const tsa_col *cols, int ncols, tsa_err *err);
/* Whether planned column j comes as its value's text (the type's input function makes
 * the value), else as the type's binary send() form (its receive function). */
bool tsa_file_is_text(const tsa_file *f, int j);

/* A planned column's bound in row group g, in the binary send() form (as the rows'
 * values): 1 with *data / *len set (valid until the next call for this bound kind),
 * 0 when the footer gives no bound this reader trusts: none written, byte arrays in the
 * legacy signed order, a float's max (a NaN may hide above it), a max when the file
 * keeps exceptions for the column, lists and text-cast columns. */
int tsa_file_rg_bound(tsa_file *f, int j, int g, bool max, const uint8_t **data, int32_t *len,
                      tsa_err *err);
/* A planned column's null count in row group g: 1 with *n set, 0 when unknown. NULLs
 * that stand for exceptions count as NULLs: 0 still means no NULL and no exception. */
int tsa_file_rg_null_count(tsa_file *f, int j, int g, int64_t *n);

/* Which row groups to read (nrow_groups flags); before the first row. */
int tsa_file_select_row_groups(tsa_file *f, const bool *want, tsa_err *err);
/* The next row: 1, 0 at the end, or a negative code (the file cannot be read on). */
int tsa_file_next(tsa_file *f, tsa_err *err);
/* Planned column j of the current row: *len -1 for NULL, else the bytes (valid until
 * the next tsa_file_next). */
void tsa_file_field(const tsa_file *f, int j, const uint8_t **data, int32_t *len);

#endif
