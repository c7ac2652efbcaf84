/* log.c: leveled logging, text or JSON lines, with secret redaction. */
#include "log.h"

#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alloc.h"

#define MAX_CTX 4

static ts_log_level min_level = TS_LOG_INFO;
static int as_json;
static FILE *log_out;
static char **secrets; /* grows as needed: never a secret silently left out */
static int nsecrets, capsecrets;
static bool secrets_lost;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static _Thread_local struct {
    char key[32];
    char value[128];
} ctx[MAX_CTX];

void ts_log_setup(ts_log_level min, int json, FILE *out)
{
    min_level = min;
    as_json = json;
    log_out = out;
}

int ts_log_level_parse(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++)
        if (s && strcasecmp(s, names[i]) == 0)
            return i;
    if (s && strcasecmp(s, "warning") == 0)
        return TS_LOG_WARN;
    return -1;
}

/* Adds s (log_lock held); false when memory ran out. */
static bool add_secret_locked(const char *s)
{
    char *c;
    for (int i = 0; i < nsecrets; i++)
        if (strcmp(secrets[i], s) == 0)
            return true;
    if (nsecrets == capsecrets) {
        int cap = capsecrets ? capsecrets * 2 : 16;
        char **n = ts_realloc(secrets, (size_t)cap * sizeof *n);
        if (!n)
            return false;
        secrets = n;
        capsecrets = cap;
    }
    if (!(c = ts_strdup(s)))
        return false;
    secrets[nsecrets++] = c;
    return true;
}

static void remove_secret_locked(const char *s)
{
    for (int i = 0; i < nsecrets; i++)
        if (strcmp(secrets[i], s) == 0) {
            ts_free(secrets[i]);
            secrets[i] = secrets[--nsecrets];
            return;
        }
}

void ts_log_add_secret(const char *s)
{
    if (!s || strlen(s) < 4) /* too short to search for without mangling ordinary text */
        return;
    pthread_mutex_lock(&log_lock);
    if (!add_secret_locked(s))
        secrets_lost = true; /* every later line says so: see ts_log */
    pthread_mutex_unlock(&log_lock);
}

void ts_log_replace_secret(const char *old, const char *s)
{
    pthread_mutex_lock(&log_lock);
    if (old && s && strcmp(old, s) == 0) {
        pthread_mutex_unlock(&log_lock);
        return;
    }
    if (s && strlen(s) >= 4 && !add_secret_locked(s))
        secrets_lost = true;
    if (old) /* after the new one is in: a line between the two never shows either */
        remove_secret_locked(old);
    pthread_mutex_unlock(&log_lock);
}

int ts_log_secret_count(void)
{
    int n;
    pthread_mutex_lock(&log_lock);
    n = nsecrets;
    pthread_mutex_unlock(&log_lock);
    return n;
}

void ts_log_context(const char *key, const char *value)
{
    int freeslot = -1;
    for (int i = 0; i < MAX_CTX; i++) {
        if (ctx[i].key[0] && strcmp(ctx[i].key, key) == 0) {
            if (value)
                snprintf(ctx[i].value, sizeof ctx[i].value, "%s", value);
            else
                ctx[i].key[0] = '\0';
            return;
        }
        if (!ctx[i].key[0] && freeslot < 0)
            freeslot = i;
    }
    if (value && freeslot >= 0) {
        snprintf(ctx[freeslot].key, sizeof ctx[freeslot].key, "%s", key);
        snprintf(ctx[freeslot].value, sizeof ctx[freeslot].value, "%s", value);
    }
}

void ts_log_context_clear(void)
{
    for (int i = 0; i < MAX_CTX; i++)
        ctx[i].key[0] = '\0';
}

/* Length of the secret value starting at p: a quoted value ('a b\'c', as libpq's
 * conninfo allows) to its closing quote, else up to ';', '&', whitespace, quote or end. */
static size_t value_len(const char *p)
{
    size_t n = 0;
    if (*p == '\'') {
        for (n = 1; p[n] && p[n] != '\''; n++)
            if (p[n] == '\\' && p[n + 1])
                n++;
        return p[n] ? n + 1 : n;
    }
    while (p[n] && !strchr(";& \t\r\n\"'", p[n]))
        n++;
    return n;
}

void ts_redact(const char *in, char *out, size_t outlen)
{
    static const char *keys[] = {"password=", "accountkey=", "sig=", "sharedaccesssignature=",
                                 "client_secret=", "token=", "pwd="};
    size_t o = 0;
    if (!outlen)
        return;
    if (!in)
        in = "";
    pthread_mutex_lock(&log_lock);
    for (const char *p = in; *p && o + 1 < outlen;) {
        size_t skip = 0;
        for (int i = 0; i < nsecrets && !skip; i++) {
            size_t l = strlen(secrets[i]);
            if (strncmp(p, secrets[i], l) == 0)
                skip = l;
        }
        if (!skip) {
            for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
                size_t kl = strlen(keys[k]);
                if (strncasecmp(p, keys[k], kl) == 0 && (p == in || !isalnum((unsigned char)p[-1]))) {
                    size_t vl = value_len(p + kl);
                    if (vl) {
                        /* keep the key, hide the value */
                        for (size_t j = 0; j < kl && o + 1 < outlen; j++)
                            out[o++] = p[j];
                        p += kl;
                        skip = vl;
                    }
                    break;
                }
            }
        }
        if (!skip && *p == ':' && p > in) {
            /* scheme://user:password@host */
            const char *at = strchr(p, '@');
            const char *sl = strstr(in, "://");
            if (sl && sl < p && at && !memchr(sl + 3, '/', (size_t)(p - sl - 3)) &&
                !memchr(p, '/', (size_t)(at - p))) {
                out[o++] = ':';
                p++;
                skip = (size_t)(at - p);
            }
        }
        if (skip) {
            for (const char *r = "***"; *r && o + 1 < outlen; r++)
                out[o++] = *r;
            p += skip;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    pthread_mutex_unlock(&log_lock);
}

void ts_log(ts_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char raw[2048], msg[2048], ts[40];
    struct timespec now;
    struct tm tm;
    va_list ap;
    FILE *out = log_out ? log_out : stderr;

    if (level < min_level || level >= TS_LOG_OFF)
        return;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    ts_redact(raw, msg, sizeof msg);
    if (secrets_lost) { /* never silent: the operator must know redaction is incomplete */
        size_t ml = strlen(msg);
        snprintf(msg + ml, sizeof msg - ml, " (warning: out of memory registering a secret; "
                 "redaction may be incomplete)");
    }
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             now.tv_nsec / 1000000);
    if (as_json) {
        json_t *o = json_object();
        char *line;
        json_object_set_new(o, "ts", json_string(ts));
        json_object_set_new(o, "level", json_string(names[level]));
        json_object_set_new(o, "msg", json_stringn_nocheck(msg, strlen(msg)));
        for (int i = 0; i < MAX_CTX; i++)
            if (ctx[i].key[0])
                json_object_set_new(o, ctx[i].key, json_string(ctx[i].value));
        line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (line) {
            pthread_mutex_lock(&log_lock);
            fprintf(out, "%s\n", line);
            fflush(out);
            pthread_mutex_unlock(&log_lock);
            free(line);
        }
        return;
    }
    pthread_mutex_lock(&log_lock);
    fprintf(out, "%s %-5s", ts, names[level]);
    for (int i = 0; i < MAX_CTX; i++)
        if (ctx[i].key[0])
            fprintf(out, " [%s=%s]", ctx[i].key, ctx[i].value);
    fprintf(out, " %s\n", msg);
    fflush(out);
    pthread_mutex_unlock(&log_lock);
}
