/* log.h: one line per event, text by default or JSON lines, with per-thread context
 * (event id, chunk) and redaction of secrets on every line. */
#ifndef TS_LOG_H
#define TS_LOG_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

typedef enum { TS_LOG_DEBUG = 0, TS_LOG_INFO, TS_LOG_WARN, TS_LOG_ERROR, TS_LOG_OFF } ts_log_level;

/* Output goes to out (stderr when NULL); json != 0 selects JSON lines. */
void ts_log_setup(ts_log_level min, int json, FILE *out);
/* Parses "debug", "info", "warn", "error", "off"; -1 when unknown. */
int ts_log_level_parse(const char *s);
/* Registers a secret (password, account key, SAS, token): it is replaced by *** in
 * every later log line and in ts_redact(). Copies s; empty and NULL are ignored. */
void ts_log_add_secret(const char *s);
/* Replaces a registered secret by a new one (a refreshed token): the old one is
 * forgotten only once the new one is in. The registry grows as needed; should memory
 * run out, every later log line says that redaction may be incomplete. */
void ts_log_replace_secret(const char *old, const char *s);
/* Secrets registered (tests). */
int ts_log_secret_count(void);
/* Per-thread context shown on each line ("event_id", "chunk"); value NULL removes it. */
void ts_log_context(const char *key, const char *value);
void ts_log_context_clear(void);

void ts_log(ts_log_level level, const char *fmt, ...) TS_PRINTF(2, 3);
#define ts_debug(...) ts_log(TS_LOG_DEBUG, __VA_ARGS__)
#define ts_info(...) ts_log(TS_LOG_INFO, __VA_ARGS__)
#define ts_warn(...) ts_log(TS_LOG_WARN, __VA_ARGS__)
#define ts_error(...) ts_log(TS_LOG_ERROR, __VA_ARGS__)

/* Copies in to out (size outlen, always NUL-terminated) with registered secrets and
 * the secret parts of connection strings and URLs (password=, AccountKey=, sig=,
 * SharedAccessSignature=, user:password@) replaced by ***. */
void ts_redact(const char *in, char *out, size_t outlen);

#endif
