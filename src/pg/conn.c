/* conn.c: libpq connection setup, statement helpers and error mapping. */
#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/runctl.h"

static const char *session_sql[] = {
    "TimeZone = 'UTC'",       "DateStyle = 'ISO, YMD'",   "IntervalStyle = 'postgres'",
    "extra_float_digits = 3", "client_encoding = 'UTF8'", "bytea_output = 'hex'",
};

int pg_session_setup(PGconn *c, int local, ts_err *err)
{
    char sql[128];
    /* An SQL_ASCII database holds bytes in no known encoding: converting them to UTF8
     * fails on the first byte that is not valid UTF-8 (a table name, a value), and
     * would stop discovery and exports for every table. Such bytes pass unconverted;
     * what cannot go into an event or a Parquet string is refused for that one chunk. */
    const char *server = PQparameterStatus(c, "server_encoding");
    bool raw = server && strcmp(server, "SQL_ASCII") == 0;
    for (size_t i = 0; i < sizeof session_sql / sizeof *session_sql; i++) {
        const char *set = session_sql[i];
        if (raw && strncmp(set, "client_encoding", 15) == 0)
            set = "client_encoding = 'SQL_ASCII'";
        snprintf(sql, sizeof sql, "SET %s%s", local ? "LOCAL " : "", set);
        int rc = pg_exec(c, sql, err);
        if (rc)
            return rc;
    }
    return TS_OK;
}

/* Server notices go to the debug log, not to stderr. */
static void on_notice(void *arg, const char *msg)
{
    size_t n = strlen(msg);
    (void)arg;
    while (n > 0 && msg[n - 1] == '\n')
        n--;
    ts_debug("server: %.*s", (int)n, msg);
}

/* libpq's last message without its trailing newline; it names host and port, never
 * the password. */
static void conn_message(const PGconn *c, char *buf, size_t cap)
{
    const char *m = PQerrorMessage(c);
    size_t n = strlen(m);
    while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    snprintf(buf, cap, "%.*s", (int)n, m);
}

int pg_connect(const char *url, PGconn **out, ts_err *err)
{
    return pg_connect_opts(url, 0, 0, out, err);
}

int pg_connect_opts(const char *url, int connect_timeout_s, int statement_timeout_ms, PGconn **out,
                    ts_err *err)
{
    /* defaults first: the url's own settings, expanded from dbname, override them */
    const char *keys[4], *vals[4];
    char ct[16];
    int n = 0;
    PGconn *c;
    int rc;
    *out = NULL;
    snprintf(ct, sizeof ct, "%d", connect_timeout_s);
    if (connect_timeout_s > 0)
        keys[n] = "connect_timeout", vals[n++] = ct;
    keys[n] = "fallback_application_name", vals[n++] = "tsarchive";
    if (url && *url)
        keys[n] = "dbname", vals[n++] = url;
    keys[n] = NULL, vals[n] = NULL;
    c = PQconnectdbParams(keys, vals, 1);
    if (!c)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory connecting to the database");
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        conn_message(c, msg, sizeof msg);
        rc = ts_err_set(err,
                        strstr(msg, "password") || strstr(msg, "authentication") ? TS_ERR_AUTH
                                                                                 : TS_ERR_CONN,
                        "could not connect to the database: %s", msg);
        PQfinish(c);
        return rc;
    }
    PQsetNoticeProcessor(c, on_notice, NULL);
    rc = pg_session_setup(c, 0, err);
    if (rc == TS_OK && statement_timeout_ms > 0) {
        char sql[64];
        snprintf(sql, sizeof sql, "SET statement_timeout = %d", statement_timeout_ms);
        rc = pg_exec(c, sql, err);
    }
    if (rc) {
        PQfinish(c);
        return rc;
    }
    *out = c;
    return TS_OK;
}

int pg_reconnect(PGconn *c, ts_err *err)
{
    PQreset(c);
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        conn_message(c, msg, sizeof msg);
        return ts_err_set(err, TS_ERR_CONN, "could not reconnect to the database: %s", msg);
    }
    return pg_session_setup(c, 0, err);
}

void pg_register_secrets(const char *url)
{
    PQconninfoOption *opts = NULL;
    char *msg = NULL;
    const char *env = getenv("PGPASSWORD");
    if (env)
        ts_log_add_secret(env);
    if (!url || !*url)
        return;
    /* libpq's own parser: URL or key=value, quoted values and percent-escapes included */
    opts = PQconninfoParse(url, &msg);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (o->val && (strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0))
            ts_log_add_secret(o->val);
    PQconninfoFree(opts);
    PQfreemem(msg); /* a malformed url: pg_connect reports it, without echoing it */
}

void pg_disconnect(PGconn *c)
{
    if (c)
        PQfinish(c);
}

static int map_sqlstate(const char *st)
{
    if (!st)
        return TS_ERR_REMOTE;
    if (strcmp(st, "42P01") == 0 || strcmp(st, "3F000") == 0 || strcmp(st, "42703") == 0 ||
        strcmp(st, "42704") == 0)
        return TS_ERR_NOTFOUND;
    if (strcmp(st, "42501") == 0 || strncmp(st, "28", 2) == 0)
        return TS_ERR_AUTH;
    if (strcmp(st, "55P03") == 0 || strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0)
        return TS_ERR_CONFLICT;
    if (strcmp(st, "57014") == 0)
        return TS_ERR_TIMEOUT;
    if (strncmp(st, "08", 2) == 0 || strncmp(st, "57P", 3) == 0)
        return TS_ERR_CONN;
    if (strcmp(st, "53100") == 0)
        return TS_ERR_IO;
    return TS_ERR_REMOTE;
}

int pg_set_error(ts_err *err, PGconn *c, const PGresult *res, const char *what)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char buf[512];
    if (!msg) {
        const char *m = c ? PQerrorMessage(c) : "";
        size_t n = strlen(m);
        while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
            n--;
        snprintf(buf, sizeof buf, "%.*s", (int)n, n ? m : "no answer from the server");
        msg = buf;
    }
    int code =
        st ? map_sqlstate(st) : (c && PQstatus(c) != CONNECTION_OK ? TS_ERR_CONN : TS_ERR_REMOTE);
    if (st)
        return ts_err_set(err, code, "%s: %s (SQLSTATE %s)", what, msg, st);
    return ts_err_set(err, code, "%s: %s", what, msg);
}

/* The calling thread's client-side limits (pg_thread_limits). */
static _Thread_local int limit_ms;
static _Thread_local bool limit_stop;

void pg_thread_limits(int timeout_ms, bool stop_aware)
{
    limit_ms = timeout_ms > 0 ? timeout_ms : 0;
    limit_stop = stop_aware;
}

/* Waits for the statement sent on c to be answered, within the thread's limits. On
 * giving up, the connection is shut down so that libpq sees it broken (PQstatus turns
 * CONNECTION_BAD) and the caller reconnects; a frozen server cannot hold a service. */
static int wait_answer(PGconn *c, ts_err *err)
{
    double deadline = limit_ms ? ts_mono_s() + limit_ms / 1000.0 : 0;
    int sock = PQsocket(c);
    const char *why = NULL;
    for (;;) {
        struct pollfd pfd = {.fd = sock, .events = POLLIN};
        int fl = PQflush(c), wait = 100;
        if (fl < 0)
            return TS_OK; /* the error comes with the result */
        if (fl == 0) {
            if (!PQconsumeInput(c) || !PQisBusy(c))
                return TS_OK;
        } else {
            pfd.events |= POLLOUT;
        }
        if (limit_stop && ts_run_stopping()) {
            why = "the service is stopping";
            break;
        }
        if (deadline) {
            double left = deadline - ts_mono_s();
            if (left <= 0) {
                why = "no answer from the server in time";
                break;
            }
            if (left * 1000 < wait)
                wait = (int)(left * 1000) + 1;
        }
        if (poll(&pfd, 1, wait) < 0 && errno != EINTR) {
            why = "poll failed";
            break;
        }
    }
    shutdown(sock, SHUT_RDWR);
    (void)PQconsumeInput(c); /* sees the closed socket: the connection is bad now */
    return ts_err_set(err, limit_stop && ts_run_stopping() ? TS_ERR_TIMEOUT : TS_ERR_CONN,
                      "query abandoned: %s (limit %d ms)", why, limit_ms);
}

PGresult *pg_query(PGconn *c, const char *sql, int nparams, const char *const *params, ts_err *err)
{
    PGresult *r = NULL, *next;
    ExecStatusType st;
    int sent = nparams ? PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0)
                       : PQsendQuery(c, sql);
    if (!sent) {
        pg_set_error(err, c, NULL, "query failed");
        return NULL;
    }
    if (wait_answer(c, err) != TS_OK) {
        while ((next = PQgetResult(c)) != NULL)
            PQclear(next);
        return NULL;
    }
    /* as PQexec: the last result, or the first error */
    while ((next = PQgetResult(c)) != NULL) {
        ExecStatusType ns = PQresultStatus(next);
        if (r && PQresultStatus(r) == PGRES_FATAL_ERROR) {
            PQclear(next);
            continue;
        }
        PQclear(r);
        r = next;
        if (ns == PGRES_COPY_IN || ns == PGRES_COPY_OUT || ns == PGRES_COPY_BOTH)
            break; /* not for this function: report it as an error below */
        if (ns != PGRES_FATAL_ERROR && PQisBusy(c) && wait_answer(c, err) != TS_OK) {
            PQclear(r);
            while ((next = PQgetResult(c)) != NULL)
                PQclear(next);
            return NULL;
        }
    }
    st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    pg_set_error(err, c, r, "query failed");
    PQclear(r);
    return NULL;
}

int pg_exec(PGconn *c, const char *sql, ts_err *err)
{
    PGresult *r = pg_query(c, sql, 0, NULL, err);
    if (!r)
        return err && err->code ? err->code : TS_ERR_REMOTE;
    PQclear(r);
    return TS_OK;
}

static char *dup_and_freemem(char *p, ts_err *err, PGconn *c)
{
    char *out;
    if (!p) {
        pg_set_error(err, c, NULL, "could not quote");
        return NULL;
    }
    out = ts_strdup(p);
    PQfreemem(p);
    if (!out)
        ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    return out;
}

char *pg_quote_ident(PGconn *c, const char *ident, ts_err *err)
{
    return dup_and_freemem(PQescapeIdentifier(c, ident, strlen(ident)), err, c);
}

char *pg_quote_literal(PGconn *c, const char *lit, ts_err *err)
{
    return dup_and_freemem(PQescapeLiteral(c, lit, strlen(lit)), err, c);
}

char *pg_qualified_name(PGconn *c, const char *schema, const char *name, ts_err *err)
{
    char *s = pg_quote_ident(c, schema, err), *n = s ? pg_quote_ident(c, name, err) : NULL;
    char *out = NULL;
    if (s && n) {
        size_t len = strlen(s) + strlen(n) + 2;
        out = ts_malloc(len);
        if (out)
            snprintf(out, len, "%s.%s", s, n);
        else
            ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    }
    ts_free(s);
    ts_free(n);
    return out;
}

/* Parses one part at *pp; advances past it. */
static char *parse_part(const char **pp, ts_err *err)
{
    const char *p = *pp;
    char *out, *o;
    if (*p == '"') {
        out = o = ts_malloc(strlen(p) + 1);
        if (!out)
            return NULL;
        p++;
        for (;;) {
            if (!*p) {
                ts_free(out);
                ts_err_set(err, TS_ERR_INVALID, "unterminated quoted identifier in \"%s\"", *pp);
                return NULL;
            }
            if (*p == '"') {
                if (p[1] == '"') {
                    *o++ = '"';
                    p += 2;
                    continue;
                }
                p++;
                break;
            }
            *o++ = *p++;
        }
        *o = 0;
        *pp = p;
        return out;
    }
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    out = ts_strndup(p, n);
    *pp = p + n;
    return out;
}

int pg_parse_qualified(const char *in, char **schema, char **name, ts_err *err)
{
    const char *p = in;
    char *a = NULL, *b = NULL;
    *schema = *name = NULL;
    a = parse_part(&p, err);
    if (!a)
        goto fail;
    if (*p == '.') {
        p++;
        b = parse_part(&p, err);
        if (!b)
            goto fail;
    }
    if (*p) {
        ts_err_set(err, TS_ERR_INVALID, "could not parse \"%s\" as SCHEMA.NAME", in);
        goto fail;
    }
    if (!b) {
        b = a;
        a = ts_strdup("public");
        if (!a)
            goto fail;
    }
    if (!*a || !*b) {
        ts_err_set(err, TS_ERR_INVALID, "empty name in \"%s\"", in);
        goto fail;
    }
    *schema = a;
    *name = b;
    return TS_OK;
fail:
    ts_free(a);
    ts_free(b);
    return ts_err_set(err, TS_ERR_INVALID, "could not parse \"%s\" as SCHEMA.NAME", in);
}
