/* cmd_status.c: `tsarchive status [--json]` and `tsarchive trigger [--table T]`: the
 * operator's view of both services through their HTTP endpoints, and the database's
 * tsarchive.archival_events when the retention service does not answer. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/log.h"
#include "pg/conn.h"
#include "pg/discover.h"
#include "retention/state.h"

#define STATUS_TIMEOUT_S 5L
#define TRIGGER_TIMEOUT_S 150L /* the service itself gives up after 120 s */

/* "http://HOST:PORT" for a listen address; a wildcard address is asked on loopback. */
static void base_url(const char *listen, char *out, size_t len)
{
    const char *colon = strrchr(listen, ':');
    const char *port = colon ? colon + 1 : "80";
    size_t hl = colon ? (size_t)(colon - listen) : strlen(listen);
    char host[128];
    snprintf(host, sizeof host, "%.*s", (int)(hl < sizeof host ? hl : sizeof host - 1), listen);
    if (!strcmp(host, "0.0.0.0") || !*host)
        snprintf(host, sizeof host, "127.0.0.1");
    else if (!strcmp(host, "[::]"))
        snprintf(host, sizeof host, "[::1]");
    snprintf(out, len, "http://%s:%s", host, port);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    return ts_buf_append(ud, p, size * n) == TS_OK ? size * n : 0;
}

/* One request to a service; *json gets the parsed answer (any status) when it is
 * JSON. Returns the HTTP status, or 0 when the service did not answer (why in err). */
static long call(const ts_config *cfg, const char *listen, const char *method, const char *path,
                 const char *body, long timeout_s, json_t **json, char *err, size_t errlen)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = NULL;
    char url[512], auth[600], cerr[CURL_ERROR_SIZE] = "";
    ts_buf b;
    long code = 0;
    CURLcode cc;

    *json = NULL;
    ts_buf_init(&b, 16 << 20);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    base_url(listen, url, sizeof url);
    snprintf(url + strlen(url), sizeof url - strlen(url), "%s", path);
    if (cfg->http.token && *cfg->http.token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->http.token);
        hdr = curl_slist_append(hdr, auth);
    }
    if (body) {
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 2L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* loopback: never through a proxy */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s", *cerr ? cerr : curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        *json = json_loadb((const char *)b.data, b.len, 0, NULL);
        if (code != 200) {
            json_t *e = *json ? json_object_get(*json, "error") : NULL;
            snprintf(err, errlen, "HTTP %ld: %s", code,
                     json_is_string(e) ? json_string_value(e) : "no reason given");
        }
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    ts_buf_free(&b);
    return code;
}

static long long jint(json_t *o, const char *key)
{
    json_t *v = o ? json_object_get(o, key) : NULL;
    return json_is_number(v) ? (long long)json_number_value(v) : 0;
}

static const char *jstr(json_t *o, const char *key, const char *def)
{
    json_t *v = o ? json_object_get(o, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : def;
}

typedef struct db_ctx {
    const ts_config *cfg;
    json_t *tables;
    bool nomem;
} db_ctx;

/* The row of table name in tables, added when missing. */
static json_t *table_row(const ts_config *cfg, json_t *tables, const char *name, int days)
{
    json_t *t = NULL, *v;
    size_t k;
    json_array_foreach(tables, k, v) {
        if (!strcmp(jstr(v, "table", ""), name))
            t = v;
    }
    if (t)
        return t;
    (void)cfg;
    t = json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:n,s:n}", "table", name,
                  "retention_period_days", days, "chunks_total", 0, "expired", 0,
                  "pending_archival", 0, "archived", 0, "dropped", 0, "failed", 0, "dead", 0,
                  "oldest_expired_age_s", "oldest_expired_chunk");
    if (!t || json_array_append_new(tables, t) != 0)
        return NULL;
    return t;
}

/* One (table, state, count) of the state table into its row. */
static void add_state(void *ud, const char *name, ret_state s, int64_t n)
{
    static const char *const key[RET_NSTATES] = {NULL, "pending_archival", "archived", "dropped",
                                                 "failed", "dead"};
    db_ctx *dc = ud;
    json_t *t = table_row(dc->cfg, dc->tables, name, ts_config_retention_days(dc->cfg, name));
    if (!t) {
        dc->nomem = true;
        return;
    }
    if (key[s])
        json_object_set_new(t, key[s], json_integer(n));
}

/* The per-table picture straight from the database, shaped like the retention
 * service's "tables" (without the loop's schedule). */
static json_t *tables_from_db(const ts_config *cfg, char *err, size_t errlen)
{
    PGconn *pg = NULL;
    pg_chunk_list list = {0};
    pg_discover_filter f = {.table = NULL, .expired_only = false};
    json_t *tables = json_array(), *out = NULL;
    ts_err e;

    ts_err_clear(&e);
    if (!tables || pg_connect(cfg->database.url, &pg, &e) != 0 ||
        pg_discover(pg, cfg, &f, &list, &e) != 0)
        goto out;
    for (int i = 0; i < list.n; i++) {
        const pg_chunk *ch = &list.items[i];
        char name[260];
        json_t *t;
        snprintf(name, sizeof name, "%s.%s", ch->table_schema, ch->table_name);
        if (!(t = table_row(cfg, tables, name, ch->retention_days)))
            goto out;
        json_object_set_new(t, "chunks_total", json_integer(jint(t, "chunks_total") + 1));
        if (ch->expired) {
            double age = (double)(list.now_us -
                                  (ch->end_us + (int64_t)ch->retention_days * 86400 * 1000000)) /
                         1e6;
            json_t *old = json_object_get(t, "oldest_expired_age_s");
            json_object_set_new(t, "expired", json_integer(jint(t, "expired") + 1));
            if (!json_is_number(old) || age > json_number_value(old)) {
                char cn[260];
                snprintf(cn, sizeof cn, "%s.%s", ch->chunk_schema, ch->chunk_name);
                json_object_set_new(t, "oldest_expired_age_s", json_real(age));
                json_object_set_new(t, "oldest_expired_chunk", json_string(cn));
            }
        }
    }
    {
        db_ctx dc = {cfg, tables, false};
        if (ret_state_summary(pg, add_state, &dc, &e) != 0 || dc.nomem)
            goto out;
    }
    out = tables;
    tables = NULL;
out:
    if (!out)
        ts_redact(e.code ? e.msg : "out of memory", err, errlen);
    pg_chunk_list_free(&list);
    pg_disconnect(pg);
    json_decref(tables);
    return out;
}

static void fmt_age(double s, char *out, size_t len)
{
    if (s < 0)
        snprintf(out, len, "-");
    else if (s < 3600)
        snprintf(out, len, "%dm", (int)(s / 60));
    else if (s < 86400)
        snprintf(out, len, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else
        snprintf(out, len, "%dd%02dh", (int)(s / 86400), (int)(s / 3600) % 24);
}

static void print_tables(json_t *tables)
{
    size_t i;
    json_t *t;
    printf("\n%-32s %9s %7s %7s %7s %8s %7s %6s %5s  %s\n", "TABLE", "RETENTION", "CHUNKS",
           "EXPIRED", "PENDING", "ARCHIVED", "DROPPED", "FAILED", "DEAD", "OLDEST EXPIRED");
    if (!json_array_size(tables))
        printf("(no hypertables or partitioned tables with chunks)\n");
    json_array_foreach(tables, i, t)
    {
        char ret[16], age[32];
        json_t *a = json_object_get(t, "oldest_expired_age_s");
        long long days = jint(t, "retention_period_days");
        if (days)
            snprintf(ret, sizeof ret, "%lld d", days);
        else
            snprintf(ret, sizeof ret, "never");
        fmt_age(json_is_number(a) ? json_number_value(a) : -1, age, sizeof age);
        printf("%-32s %9s %7lld %7lld %7lld %8lld %7lld %6lld %5lld  %s%s%s%s\n",
               jstr(t, "table", "?"), ret, jint(t, "chunks_total"), jint(t, "expired"),
               jint(t, "pending_archival"), jint(t, "archived"), jint(t, "dropped"),
               jint(t, "failed"), jint(t, "dead"), age, json_is_number(a) ? " (" : "",
               json_is_number(a) ? jstr(t, "oldest_expired_chunk", "") : "",
               json_is_number(a) ? ")" : "");
    }
}

int cmd_status(const ts_config *cfg, int argc, char **argv)
{
    bool as_json = false;
    json_t *rs = NULL, *as = NULL, *am = NULL, *db_tables = NULL, *out = NULL;
    char rerr[512] = "", aerr[512] = "", dberr[512] = "", rurl[300], aurl[300];
    long rcode, acode;
    int rc = TS_EXIT_OK;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            as_json = true;
        } else {
            cli_errorf("status: unexpected argument \"%s\" (usage: tsarchive status [--json])",
                       argv[i]);
            return TS_EXIT_USAGE;
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    base_url(cfg->http.retention_listen, rurl, sizeof rurl);
    base_url(cfg->http.archiver_listen, aurl, sizeof aurl);
    rcode = call(cfg, cfg->http.retention_listen, "GET", "/database/retention/status", NULL,
                 STATUS_TIMEOUT_S, &rs, rerr, sizeof rerr);
    acode = call(cfg, cfg->http.archiver_listen, "GET", "/archival/status", NULL, STATUS_TIMEOUT_S,
                 &as, aerr, sizeof aerr);
    if (acode == 200) {
        char e2[512];
        if (call(cfg, cfg->http.archiver_listen, "GET", "/archival/metrics", NULL, STATUS_TIMEOUT_S,
                 &am, e2, sizeof e2) != 200) {
            json_decref(am);
            am = NULL;
        }
    }
    if (rcode != 200) /* the service is down: the database still knows */
        db_tables = tables_from_db(cfg, dberr, sizeof dberr);
    if (rcode != 200 || acode != 200)
        rc = TS_EXIT_FAIL;

    if (as_json) {
        json_t *r = rcode == 200 ? json_incref(rs)
                                 : json_pack("{s:b,s:s,s:s,s:o}", "reachable", 0, "url", rurl,
                                             "error", rerr, "database",
                                             db_tables ? json_pack("{s:O}", "tables", db_tables)
                                                       : json_pack("{s:s}", "error", dberr));
        json_t *a = acode == 200
                        ? json_incref(as)
                        : json_pack("{s:b,s:s,s:s}", "reachable", 0, "url", aurl, "error", aerr);
        if (a && am)
            json_object_set(a, "metrics", am);
        out = json_pack("{s:o,s:o}", "retention", r, "archiver", a);
        char *s = out ? json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (!s) {
            cli_errorf("out of memory");
            rc = TS_EXIT_FAIL;
        } else {
            printf("%s\n", s);
            free(s);
        }
        goto out;
    }

    if (rcode == 200) {
        json_t *c = json_object_get(rs, "counters");
        printf("retention service  %s  %s", rurl, jstr(rs, "state", "?"));
        printf("  last check %s, next %s\n", jstr(rs, "last_check", "never"),
               jstr(rs, "next_check", "-"));
        printf("                   requested %lld, dropped %lld (%lld rows), failed confirmations "
               "%lld, dead %lld\n",
               jint(c, "requested"), jint(c, "dropped"), jint(c, "rows_dropped"),
               jint(c, "confirmed_failed"), jint(c, "dead"));
        if (json_is_string(json_object_get(rs, "last_check_error")))
            printf("                   last check failed: %s\n", jstr(rs, "last_check_error", ""));
    } else {
        printf("retention service  %s  NOT REACHABLE (%s)\n", rurl, rerr);
    }
    if (acode == 200) {
        json_t *w = json_object_get(as, "workers"), *st = json_object_get(as, "request_stream"),
               *cn = json_object_get(as, "connections");
        const char *deps[] = {"postgresql", "redis", "lake"};
        printf("archival service   %s  %lld of %lld workers running, %lld busy; request stream "
               "%lld entries, "
               "%lld pending\n",
               aurl, jint(w, "running"), jint(w, "configured"), jint(w, "busy"), jint(st, "length"),
               jint(st, "pending"));
        printf("                  ");
        for (int i = 0; i < 3; i++) {
            json_t *d = json_object_get(cn, deps[i]);
            printf(" %s %s%s%s%s", deps[i], json_is_true(json_object_get(d, "ok")) ? "ok" : "DOWN",
                   json_is_string(json_object_get(d, "error")) ? " (" : "", jstr(d, "error", ""),
                   json_is_string(json_object_get(d, "error")) ? ")" : "");
            printf(i < 2 ? "," : "\n");
        }
        if (am) {
            json_t *d = json_object_get(am, "archive_duration_s");
            printf("                   archived %lld chunks (%lld rows, %lld bytes), failed %lld; "
                   "duration p50 %.2f s, p99 %.2f s\n",
                   jint(am, "chunks_archived"), jint(am, "rows"), jint(am, "bytes"),
                   jint(am, "chunks_failed"), json_number_value(json_object_get(d, "p50")),
                   json_number_value(json_object_get(d, "p99")));
        }
    } else {
        printf("archival service   %s  NOT REACHABLE (%s)\n", aurl, aerr);
    }
    if (rcode == 200) {
        print_tables(json_object_get(rs, "tables"));
    } else if (db_tables) {
        printf(
            "\n(the retention service does not answer: state read from tsarchive.archival_events)");
        print_tables(db_tables);
    } else {
        printf("\nthe database could not be read either: %s\n", dberr);
    }
out:
    json_decref(out);
    json_decref(rs);
    json_decref(as);
    json_decref(am);
    json_decref(db_tables);
    return rc;
}

int cmd_trigger(const ts_config *cfg, int argc, char **argv)
{
    const char *table = NULL;
    bool as_json = false;
    json_t *body = NULL, *res = NULL;
    char *payload = NULL, err[512] = "";
    long code;
    int rc = TS_EXIT_FAIL;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--table") && i + 1 < argc) {
            table = argv[++i];
        } else if (!strcmp(argv[i], "--json")) {
            as_json = true;
        } else {
            cli_errorf("trigger: unexpected argument \"%s\" (usage: tsarchive trigger [--table T] "
                       "[--json])",
                       argv[i]);
            return TS_EXIT_USAGE;
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    body = table ? json_pack("{s:s}", "table", table) : json_object();
    if (!body || !(payload = json_dumps(body, JSON_COMPACT))) {
        cli_errorf("out of memory");
        goto out;
    }
    code = call(cfg, cfg->http.retention_listen, "POST", "/database/retention/trigger-archival",
                payload, TRIGGER_TIMEOUT_S, &res, err, sizeof err);
    if (code != 200) {
        if (code == 0)
            cli_errorf("the retention service does not answer at %s: %s (is it running?)",
                       cfg->http.retention_listen, err);
        else
            cli_errorf("trigger refused: %s", err);
        goto out;
    }
    if (as_json) {
        char *s = json_dumps(res, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            printf("%s\n", s);
        free(s);
    } else {
        json_t *evs = json_object_get(res, "events"), *ev;
        size_t i;
        printf("retention check done%s%s: %zu archival request%s sent\n", table ? " for " : "",
               table ? table : "", json_array_size(evs), json_array_size(evs) == 1 ? "" : "s");
        json_array_foreach(evs, i, ev) {
            printf("  %s  %s  (attempt %lld, %s .. %s)\n", jstr(ev, "event_id", "?"),
                   jstr(ev, "chunk", "?"), jint(ev, "attempt"), jstr(ev, "range_start", "?"),
                   jstr(ev, "range_end", "?"));
        }
    }
    rc = TS_EXIT_OK;
out:
    free(payload);
    json_decref(body);
    json_decref(res);
    return rc;
}
