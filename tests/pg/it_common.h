/* it_common.h: what the integration tests of src/pg/ share: checks that count failures
 * and print file:line, SQL helpers, and a database of the test's own on the shared
 * PostgreSQL server (created with a unique name, dropped at the end). */
#ifndef TS_IT_COMMON_H
#define TS_IT_COMMON_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common/err.h"
#include "parquet/reader.h"
#include "pg/proof.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
        }                                                                                          \
    } while (0)
#define CHECK_EQ_I(a, b)                                                                           \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        CHECK(a_ == b_, "%s = %lld, expected %s = %lld", #a, a_, #b, b_);                          \
    } while (0)
#define CHECK_EQ_S(a, b)                                                                           \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        CHECK(a_ &&b_ &&strcmp(a_, b_) == 0, "%s = \"%s\", expected %s = \"%s\"", #a,              \
              a_ ? a_ : "(null)", #b, b_ ? b_ : "(null)");                                         \
    } while (0)

static inline void sql(PGconn *c, const char *fmt, ...) TS_PRINTF(2, 3);
static inline void sql(PGconn *c, const char *fmt, ...)
{
    char q[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    PGresult *r = PQexec(c, q);
    ExecStatusType st = PQresultStatus(r);
    CHECK(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", q, PQerrorMessage(c));
    PQclear(r);
}

static inline long long sql_int(PGconn *c, const char *q)
{
    PGresult *r = PQexec(c, q);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        CHECK(0, "%s: %s", q, PQerrorMessage(c));
    PQclear(r);
    return v;
}

static inline char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *s;
    long n;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = 0;
    if (s && len)
        *len = (size_t)n;
    fclose(f);
    return s;
}

static inline void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* A database of our own on the server at url: creates "<prefix>_<pid>" and writes into
 * own (size ownsz) a keyword/value connection string for it (psql takes it too).
 * Returns 0, or -1 with the reason printed. */
static inline int own_database(const char *url, const char *prefix, char *dbname, size_t dbsz,
                               char *own, size_t ownsz)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    PGconn *c;
    char q[256];
    size_t o = 0;
    if (!opts) {
        fprintf(stderr, "cannot parse the server's connection string: %s\n", perr ? perr : "?");
        PQfreemem(perr);
        return -1;
    }
    snprintf(dbname, dbsz, "%s_%d", prefix, (int)getpid());
    own[0] = 0;
    for (PQconninfoOption *p = opts; p->keyword; p++) {
        const char *v = strcmp(p->keyword, "dbname") == 0 ? dbname : p->val;
        if (!v || !*v)
            continue;
        o += (size_t)snprintf(own + o, o < ownsz ? ownsz - o : 0, "%s%s='", o ? " " : "",
                              p->keyword);
        for (const char *s = v; *s; s++)
            o += (size_t)snprintf(own + o, o < ownsz ? ownsz - o : 0, "%s%c",
                                  *s == '\'' || *s == '\\' ? "\\" : "", *s);
        o += (size_t)snprintf(own + o, o < ownsz ? ownsz - o : 0, "'");
    }
    PQconninfoFree(opts);
    if (o >= ownsz) {
        fprintf(stderr, "connection string too long\n");
        return -1;
    }
    c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to create a database: %s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    snprintf(q, sizeof q, "DROP DATABASE IF EXISTS \"%s\"", dbname);
    PQclear(PQexec(c, q));
    snprintf(q, sizeof q, "CREATE DATABASE \"%s\"", dbname);
    PGresult *r = PQexec(c, q);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "%s: %s", q, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

static inline void drop_own_database(const char *url, const char *dbname)
{
    PGconn *c = PQconnectdb(url);
    char q[256];
    if (PQstatus(c) == CONNECTION_OK) {
        snprintf(q, sizeof q, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", dbname);
        PGresult *r = PQexec(c, q);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fprintf(stderr, "%s: %s", q, PQerrorMessage(c));
        PQclear(r);
    }
    PQfinish(c);
}

/* The proof of the archived file at path, read through pq_reader_open and a read
 * callback (as over the lake). Returns the code, proof filled on success. */
static inline int fd_read(void *ctx, uint64_t off, void *dst, size_t len, ts_err *err)
{
    FILE *f = ctx;
    if (fseeko(f, (off_t)off, SEEK_SET) != 0 || fread(dst, 1, len, f) != len)
        return ts_err_set(err, TS_ERR_IO, "short read at %llu", (unsigned long long)off);
    return 0;
}

static inline int file_proof(PGconn *c, const char *path, const char *schema, const char *name,
                             char proof[PG_PROOF_MAX], ts_err *err)
{
    FILE *f = fopen(path, "rb");
    pq_reader *r = NULL;
    int rc;
    ts_err_clear(err);
    proof[0] = 0;
    if (!f)
        return ts_err_set(err, TS_ERR_IO, "cannot open \"%s\"", path);
    fseeko(f, 0, SEEK_END);
    uint64_t size = (uint64_t)ftello(f);
    rc = pq_reader_open(&r, fd_read, f, size, NULL, err);
    if (!rc)
        rc = pg_proof_of_file(c, r, schema, name, proof, err);
    pq_reader_free(r);
    fclose(f);
    return rc;
}

#endif
