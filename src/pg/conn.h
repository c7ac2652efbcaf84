/* conn.h: libpq connections for tsarchive: connect with a fixed session setup,
 * run statements, map server errors to TS_ERR_* codes, quote identifiers. */
#ifndef TS_PG_CONN_H
#define TS_PG_CONN_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "common/err.h"

/* Connects with url (a libpq conninfo string or URL; NULL or "" = the PG*
 * environment variables) and sets the session up the way tsarchive needs it:
 * TimeZone UTC, DateStyle ISO, IntervalStyle postgres, extra_float_digits 3,
 * client_encoding UTF8 (text forms then are the same in every session, which the
 * change proof relies on). The url never reaches err. Frees with pg_disconnect. */
int pg_connect(const char *url, PGconn **out, ts_err *err) TS_MUSTCHECK;
void pg_disconnect(PGconn *c);
/* Registers the password (and sslpassword) of url, a URL or key=value conninfo, and
 * PGPASSWORD, with the log redaction (common/log.h), so no log line, error or
 * endpoint shows them. */
void pg_register_secrets(const char *url);
/* pg_connect with a connect timeout (0: none, libpq waits; the url's own
 * connect_timeout wins) and
 * a statement_timeout for the session (0: the server's default). */
int pg_connect_opts(const char *url, int connect_timeout_s, int statement_timeout_ms, PGconn **out,
                    ts_err *err) TS_MUSTCHECK;

/* Client-side limits on the calling thread's pg_query/pg_exec: a statement not
 * answered within timeout_ms (0: no limit), or still running when a stop is asked for
 * (stop_aware; common/runctl.h), is abandoned with TS_ERR_CONN / TS_ERR_TIMEOUT and its
 * connection closed, so the caller reconnects. statement_timeout cannot do this: a
 * server that is frozen (SIGSTOP, a hung host) never answers. */
void pg_thread_limits(int timeout_ms, bool stop_aware);
/* Connects c again after the server went away (PQreset) and applies the session
 * settings once more: a bare PQreset would lose them, and the change proof depends on
 * them. Session state (advisory locks, transactions) is gone: the caller re-takes it. */
int pg_reconnect(PGconn *c, ts_err *err) TS_MUSTCHECK;

/* Applies the session settings above to an existing connection (SET LOCAL when
 * local is true, for use inside a caller's transaction). */
int pg_session_setup(PGconn *c, int local, ts_err *err) TS_MUSTCHECK;

/* Runs sql (text protocol, params may be NULL) and expects COMMAND_OK or TUPLES_OK.
 * Returns the result (caller PQclear()s it), or NULL with err filled. */
PGresult *pg_query(PGconn *c, const char *sql, int nparams, const char *const *params, ts_err *err);
/* pg_query for statements whose result is not needed. */
int pg_exec(PGconn *c, const char *sql, ts_err *err) TS_MUSTCHECK;

/* Records the server error of res (or the connection's) in err: primary message and
 * SQLSTATE, mapped to a TS_ERR_* code (undefined table: NOTFOUND, privileges: AUTH,
 * lock timeout: CONFLICT, connection: CONN, else REMOTE). Returns the code. */
int pg_set_error(ts_err *err, PGconn *c, const PGresult *res, const char *what);

/* "schema"."name", quoted with PQescapeIdentifier; ts_free() it. NULL on error. */
char *pg_qualified_name(PGconn *c, const char *schema, const char *name, ts_err *err);
/* A quoted identifier or literal as a ts_malloc'd string; NULL on error. */
char *pg_quote_ident(PGconn *c, const char *ident, ts_err *err);
char *pg_quote_literal(PGconn *c, const char *lit, ts_err *err);

/* Parses "schema.name" where each part is either a double-quoted SQL identifier
 * ("a""b") or verbatim text up to the first dot (no case folding). Fills *schema
 * and *name (ts_free them). A name without a schema gets "public". */
int pg_parse_qualified(const char *in, char **schema, char **name, ts_err *err) TS_MUSTCHECK;

#endif
