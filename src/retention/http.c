/* http.c: the retention service's endpoints (docs/monitoring.md):
 * GET /database/retention/status, POST /database/retention/trigger-archival,
 * GET /metrics (Prometheus), /healthz, /readyz; and the thread that keeps the table
 * snapshot fresh on a connection of its own, so that no GET waits on PostgreSQL. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/tstime.h"
#include "common/log.h"
#include "common/runctl.h"
#include "http/prom.h"
#include "pg/cagg.h"
#include "pg/conn.h"
#include "pg/discover.h"
#include "ret_int.h"
#include "state.h"

#define HTTP_THREADS 8
#define SNAP_TIMEOUT_MS 5000

/* ---- the snapshot ---- */

typedef struct snap_build {
    ret_table_snap *v;
    int n, cap;
    const ts_config *cfg;
    bool nomem;
} snap_build;

static ret_table_snap *snap_table(snap_build *sb, const char *name)
{
    for (int i = 0; i < sb->n; i++)
        if (!strcmp(sb->v[i].table, name))
            return &sb->v[i];
    if (sb->n == sb->cap) {
        int cap = sb->cap ? sb->cap * 2 : 16;
        ret_table_snap *n = ts_realloc(sb->v, (size_t)cap * sizeof *n);
        if (!n) {
            sb->nomem = true;
            return NULL;
        }
        sb->v = n;
        sb->cap = cap;
    }
    ret_table_snap *t = &sb->v[sb->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->table, sizeof t->table, "%s", name);
    t->retention_days = ts_config_retention_days(sb->cfg, name);
    t->oldest_expired_age_s = -1;
    t->default_expired_rows = -1;
    return t;
}

/* The expired rows of DEFAULT partitions, counted at most every RET_DEFAULT_COUNT_S
 * (each count scans the partition): kept by the snapshot thread between refreshes. */
typedef struct default_counts {
    double at; /* monotonic; 0: never */
    struct {
        char table[2 * BUS_NAME_MAX + 2];
        long long rows;
    } * v;
    int n;
} default_counts;

static void count_defaults(PGconn *pg, pg_chunk_list *list, default_counts *dc)
{
    ts_err e;
    if (list->ndefaults == 0) {
        dc->n = 0;
        return;
    }
    if (dc->at && ts_mono_s() - dc->at < RET_DEFAULT_COUNT_S)
        return;
    ts_err_clear(&e);
    dc->at = ts_mono_s();
    if (pg_default_rows_count(pg, list, &e) != 0) {
        ts_warn("counting the expired rows of DEFAULT partitions: %s", e.msg);
        return;
    }
    ts_free(dc->v);
    dc->n = 0;
    if (!(dc->v = ts_calloc((size_t)list->ndefaults, sizeof *dc->v)))
        return;
    for (int i = 0; i < list->ndefaults; i++) {
        const pg_default_partition *d = &list->defaults[i];
        if (d->expired_rows < 0)
            continue;
        snprintf(dc->v[dc->n].table, sizeof dc->v[dc->n].table, "%s.%s", d->table_schema,
                 d->table_name);
        dc->v[dc->n++].rows = d->expired_rows;
    }
}

static void add_count(void *ud, const char *table, ret_state s, int64_t n)
{
    ret_table_snap *t = snap_table(ud, table);
    if (t && (int)s > 0 && (int)s < RET_NSTATES)
        t->by_state[s] += n;
}

/* One refresh, on the snapshot thread's own connection (reconnected as needed). */
static void snap_refresh(ret_shared *sh, PGconn **pg, default_counts *dc)
{
    const ts_config *cfg = sh->cfg;
    pg_chunk_list list = {0};
    pg_discover_filter f = {.table = NULL, .expired_only = false};
    pg_caggs *caggs = NULL;
    snap_build sb = {.cfg = cfg};
    ts_err e;
    int rc;

    ts_err_clear(&e);
    if (*pg && PQstatus(*pg) != CONNECTION_OK) {
        pg_disconnect(*pg);
        *pg = NULL;
    }
    if (!*pg && (rc = pg_connect_opts(cfg->database.url, SNAP_TIMEOUT_MS / 1000, SNAP_TIMEOUT_MS,
                                      pg, &e)) != 0)
        goto done;
    if ((rc = pg_discover(*pg, cfg, &f, &list, &e)) != 0 || (rc = pg_caggs_load(*pg, &caggs, &e)) != 0)
        goto done;
    count_defaults(*pg, &list, dc);
    for (int i = 0; i < dc->n; i++) {
        ret_table_snap *t = snap_table(&sb, dc->v[i].table);
        if (!t)
            break;
        t->defaults++;
        t->default_expired_rows = (t->default_expired_rows < 0 ? 0 : t->default_expired_rows) + dc->v[i].rows;
    }
    for (int i = 0; i < list.n; i++) {
        const pg_chunk *ch = &list.items[i];
        char name[2 * BUS_NAME_MAX + 2];
        ret_table_snap *t;
        snprintf(name, sizeof name, "%s.%s", ch->table_schema, ch->table_name);
        if (!(t = snap_table(&sb, name)))
            break;
        t->retention_days = ch->retention_days;
        t->chunks++;
        if (ch->skip_reason[0] && !ch->expired) {
            if (!t->skipped++)
                snprintf(t->skip_reason, sizeof t->skip_reason, "%s", ch->skip_reason);
            continue;
        }
        if (ch->expired) {
            pg_cagg_hold_info hold;
            pg_cagg_decide(caggs, ch, list.now_us, &hold);
            if (hold.kind != PG_HOLD_NONE) {
                int64_t until = hold.kind == PG_HOLD_UNTIL && !hold.until_int_only ? hold.until_us : 0;
                /* the one held longest (no end counts as longest) */
                if (!t->held++ || (t->held_until_us && (!until || until > t->held_until_us))) {
                    snprintf(t->held_by, sizeof t->held_by, "%s.%s", hold.cagg_schema, hold.cagg_name);
                    snprintf(t->hold_reason, sizeof t->hold_reason, "%s", hold.reason);
                    t->held_until_us = until;
                }
            }
        }
        if (ch->expired) {
            double age = (double)(list.now_us -
                                  (ch->end_us + (int64_t)ch->retention_days * 86400 * 1000000)) /
                         1e6;
            t->expired++;
            if (age > t->oldest_expired_age_s) {
                t->oldest_expired_age_s = age;
                snprintf(t->oldest_expired_chunk, sizeof t->oldest_expired_chunk, "%s.%s",
                         ch->chunk_schema, ch->chunk_name);
            }
        }
    }
    rc = ret_state_summary(*pg, add_count, &sb, &e);
    if (rc == 0 && sb.nomem)
        rc = ts_err_set(&e, TS_ERR_NOMEM, "out of memory");
done:
    pg_caggs_free(caggs);
    pg_chunk_list_free(&list);
    pthread_mutex_lock(&sh->snap_mu);
    sh->snap_at_us = ts_time_now();
    sh->snap_ok = rc == 0;
    ts_redact(rc ? e.msg : "", sh->snap_err, sizeof sh->snap_err);
    if (rc == 0) {
        ts_free(sh->snap);
        sh->snap = sb.v;
        sh->nsnap = sb.n;
        sb.v = NULL;
    }
    pthread_mutex_unlock(&sh->snap_mu);
    ts_free(sb.v);
}

static void *snap_main(void *arg)
{
    ret_shared *sh = arg;
    PGconn *pg = NULL;
    default_counts dc = {0};
    pg_thread_limits(SNAP_TIMEOUT_MS, true);
    while (!atomic_load(&sh->snap_stop)) {
        snap_refresh(sh, &pg, &dc);
        for (int i = 0; i < RET_SNAPSHOT_PERIOD_S * 10 && !atomic_load(&sh->snap_stop); i++) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    pg_disconnect(pg);
    ts_free(dc.v);
    return NULL;
}

/* Whether the snapshot is usable: fresh, and the database answered. err gets why not. */
static bool snap_usable(ret_shared *sh, char *err, size_t len)
{
    double age = sh->snap_at_us ? (double)(ts_time_now() - sh->snap_at_us) / 1e6 : -1;
    if (!sh->snap_at_us) {
        snprintf(err, len, "the database has not been read yet");
        return false;
    }
    if (age > 3 * RET_SNAPSHOT_PERIOD_S + SNAP_TIMEOUT_MS / 1000) {
        snprintf(err, len, "unreachable: no answer from the database for %.0f s", age);
        return false;
    }
    if (!sh->snap_ok) {
        snprintf(err, len, "%s", sh->snap_err);
        return false;
    }
    return true;
}

/* ---- handlers ---- */

static int h_status(void *ud, const http_request *req, http_response *resp)
{
    ret_shared *sh = ud;
    const ts_config *cfg = sh->cfg;
    json_t *j = NULL, *tables = NULL, *o;
    long long tot[7] = {0};
    char err[300];
    bool ok;
    (void)req;

    pthread_mutex_lock(&sh->mu);
    j = json_pack(
        "{s:s,s:s,s:s,s:o,s:f,s:s,s:b,s:i,s:i,s:I,s:o,s:o,s:o,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:"
        "I,s:I,s:I,s:I,s:I}}",
        "service", "retention", "version", TS_VERSION, "build", TS_BUILD_ID, "started_at",
        http_json_time(sh->started_us), "uptime_s", ts_mono_s() - sh->started_mono, "state",
        ret_phase_names[sh->phase], "lakehouse_enabled", cfg->lakehouse_enabled,
        "retention_period_days", cfg->retention_period_days, "archival_batch_size",
        cfg->archival_batch_size, "check_interval_s",
        (json_int_t)cfg->retention_check_interval_hours * 3600, "last_check",
        http_json_time(sh->last_check_us), "next_check",
        sh->phase == RET_PHASE_ACTIVE ? http_json_time(sh->next_check_us) : json_null(),
        "last_check_error", *sh->last_check_error ? json_string(sh->last_check_error) : json_null(),
        "counters", "checks", (json_int_t)sh->checks, "check_failures",
        (json_int_t)sh->check_failures, "triggers", (json_int_t)sh->triggers, "requested",
        (json_int_t)sh->counts.requested, "confirmed_ok", (json_int_t)sh->counts.confirmed_ok,
        "confirmed_failed", (json_int_t)sh->counts.confirmed_failed, "dropped",
        (json_int_t)sh->counts.dropped, "rearchived", (json_int_t)sh->counts.rearchived, "dead",
        (json_int_t)sh->counts.dead, "rows_dropped", (json_int_t)sh->counts.rows_dropped,
        "bytes_archived", (json_int_t)sh->counts.bytes_archived, "drop_failures",
        (json_int_t)sh->counts.drop_failures, "other_databases", (json_int_t)sh->counts.foreign);
    pthread_mutex_unlock(&sh->mu);
    if (!j || !(tables = json_array())) {
        json_decref(j);
        return TS_ERR_NOMEM;
    }
    pthread_mutex_lock(&sh->snap_mu);
    ok = snap_usable(sh, err, sizeof err);
    for (int i = 0; ok && i < sh->nsnap; i++) {
        const ret_table_snap *t = &sh->snap[i];
        const long long *b = t->by_state;
        o = json_pack(
            "{s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o}", "table", t->table,
            "retention_period_days", t->retention_days, "chunks_total", (json_int_t)t->chunks,
            "expired", (json_int_t)t->expired, "pending_archival", (json_int_t)b[RET_REQUESTED],
            "archived", (json_int_t)b[RET_ARCHIVED], "dropped", (json_int_t)b[RET_DROPPED],
            "failed", (json_int_t)b[RET_RETRYING], "dead", (json_int_t)b[RET_DEAD],
            "oldest_expired_age_s",
            t->oldest_expired_age_s >= 0 ? json_real(t->oldest_expired_age_s) : json_null(),
            "oldest_expired_chunk",
            *t->oldest_expired_chunk ? json_string(t->oldest_expired_chunk) : json_null());
        if (o && t->skipped)
            json_object_set_new(o, "not_archived", json_pack("{s:I,s:s}", "chunks", (json_int_t)t->skipped,
                                                             "reason", t->skip_reason));
        if (o && t->held)
            json_object_set_new(
                o, "held_back",
                json_pack("{s:I,s:s,s:o,s:s}", "chunks", (json_int_t)t->held, "by", t->held_by,
                          "until", t->held_until_us ? http_json_time(t->held_until_us) : json_null(),
                          "reason", t->hold_reason));
        if (o && t->defaults)
            json_object_set_new(o, "default_partitions",
                                json_pack("{s:i,s:I}", "count", t->defaults, "expired_rows",
                                          (json_int_t)t->default_expired_rows));
        tot[0] += t->chunks, tot[1] += t->expired, tot[2] += b[RET_REQUESTED];
        tot[3] += b[RET_ARCHIVED], tot[4] += b[RET_DROPPED], tot[5] += b[RET_RETRYING];
        tot[6] += b[RET_DEAD];
        (void)json_array_append_new(tables, o);
    }
    json_object_set_new(j, "database",
                        ok ? json_pack("{s:b,s:o}", "ok", 1, "checked_at", http_json_time(sh->snap_at_us))
                           : json_pack("{s:b,s:s,s:o}", "ok", 0, "error", err, "checked_at",
                                       http_json_time(sh->snap_at_us)));
    pthread_mutex_unlock(&sh->snap_mu);
    json_object_set_new(j, "tables", tables);
    json_object_set_new(j, "totals",
                        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "chunks_total",
                                  (json_int_t)tot[0], "expired", (json_int_t)tot[1],
                                  "pending_archival", (json_int_t)tot[2], "archived",
                                  (json_int_t)tot[3], "dropped", (json_int_t)tot[4], "failed",
                                  (json_int_t)tot[5], "dead", (json_int_t)tot[6]));
    return http_reply_json(resp, 200, j);
}

/* The table to check: from ?table= or a JSON body {"table": "schema.name"}; none
 * means all. Returns 0, or 1 when it answered 400 in resp. */
static int trigger_table(const http_request *req, http_response *resp, char *out, size_t len,
                         bool *has)
{
    const char *q = http_query(req, "table"), *t = NULL, *k;
    size_t blen, n;
    const char *body = http_body(req, &blen);
    json_t *j = NULL, *v;
    json_error_t je;
    int bad = 1;

    *has = false;
    if (blen > 0) {
        if (!(j = json_loadb(body, blen, 0, &je)) || !json_is_object(j)) {
            (void)http_reply_error(
                resp, 400,
                "the body must be a JSON object such as {\"table\": \"public.metrics\"}");
            goto out;
        }
        json_object_foreach(j, k, v)
        {
            if (strcmp(k, "table") != 0) {
                (void)http_reply_error(
                    resp, 400, "unknown field \"%.64s\" in the body (only \"table\" is known)", k);
                goto out;
            }
            if (!json_is_string(v)) {
                (void)http_reply_error(
                    resp, 400, "field \"table\" must be a string such as \"public.metrics\"");
                goto out;
            }
            t = json_string_value(v);
        }
    }
    if (q && t && strcmp(q, t) != 0) {
        (void)http_reply_error(resp, 400, "the table in the query and in the body differ");
        goto out;
    }
    if (!t)
        t = q;
    if (t) {
        n = strlen(t);
        if (n == 0 || n >= len || n > 2 * BUS_NAME_MAX + 3) {
            (void)http_reply_error(resp, 400, "parameter \"table\" must be 1 to %d characters",
                                   2 * BUS_NAME_MAX + 3);
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f) {
                (void)http_reply_error(resp, 400, "parameter \"table\" holds a control character");
                goto out;
            }
        snprintf(out, len, "%s", t);
        *has = true;
    }
    bad = 0;
out:
    json_decref(j);
    return bad;
}

static int h_trigger(void *ud, const http_request *req, http_response *resp)
{
    ret_shared *sh = ud;
    char table[256] = "", msg[512] = "";
    bool has = false, timed_out = false;
    unsigned long long seq;
    json_t *events = NULL;
    int status, n = 0, rc;
    struct timespec deadline;

    if (trigger_table(req, resp, table, sizeof table, &has) != 0)
        return TS_ERR_INVALID; /* answered 400 */
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += RET_TRIGGER_TIMEOUT_S;
    pthread_mutex_lock(&sh->mu);
    /* one trigger at a time: wait for the one before */
    while (sh->trig_pending && sh->phase == RET_PHASE_ACTIVE && !timed_out)
        timed_out = pthread_cond_timedwait(&sh->cv, &sh->mu, &deadline) == ETIMEDOUT;
    if (sh->phase != RET_PHASE_ACTIVE) {
        int phase = sh->phase;
        pthread_mutex_unlock(&sh->mu);
        return http_reply_error(
            resp, 503, "the retention service is %s%s", ret_phase_names[phase],
            phase == RET_PHASE_STANDBY ? " (another instance is active on this database)" : "");
    }
    if (timed_out) {
        pthread_mutex_unlock(&sh->mu);
        return http_reply_error(resp, 503, "another triggered check is still running");
    }
    sh->trig_pending = true;
    sh->trig_has_table = has;
    snprintf(sh->trig_table, sizeof sh->trig_table, "%s", table);
    seq = ++sh->trig_seq;
    while (sh->trig_done < seq && sh->phase == RET_PHASE_ACTIVE && !timed_out)
        timed_out = pthread_cond_timedwait(&sh->cv, &sh->mu, &deadline) == ETIMEDOUT;
    if (sh->trig_done >= seq) {
        events = sh->trig_events;
        sh->trig_events = NULL;
        status = sh->trig_status;
        n = sh->trig_requested;
        snprintf(msg, sizeof msg, "%s", sh->trig_msg);
    } else {
        status = timed_out ? 504 : 503;
        snprintf(msg, sizeof msg, "%s",
                 timed_out ? "the retention check did not finish in time; it may still run"
                           : "the retention service stopped before the check ran");
        if (sh->trig_pending && sh->trig_seq == seq && sh->phase != RET_PHASE_ACTIVE)
            sh->trig_pending = false;
    }
    pthread_mutex_unlock(&sh->mu);
    if (status != 200) {
        /* requests already sent before a failure are reported too */
        rc = http_reply_error(resp, status, "%s", msg);
        if (rc == 0 && events && json_array_size(events) > 0) {
            json_t *j =
                json_pack("{s:s,s:i,s:O}", "error", msg, "status", status, "events", events);
            ts_free(resp->body);
            resp->body = NULL;
            rc = http_reply_json(resp, status, j);
        }
        json_decref(events);
        return rc;
    }
    return http_reply_json(resp, 200,
                           json_pack("{s:o,s:i,s:o}", "table",
                                     has ? json_string(table) : json_null(), "requested", n,
                                     "events", events ? events : json_array()));
}

static void counter(prom *p, const char *name, const char *help, long long v)
{
    prom_family(p, name, "counter", help);
    prom_printf(p, "%s %lld\n", name, v);
}

static int h_prom(void *ud, const http_request *req, http_response *resp)
{
    ret_shared *sh = ud;
    ret_counts c;
    long long checks, failures, triggers;
    int64_t last, next;
    int phase;
    prom p;
    char lt[300], err[300];
    bool ok;
    (void)req;

    pthread_mutex_lock(&sh->mu);
    c = sh->counts;
    checks = sh->checks, failures = sh->check_failures, triggers = sh->triggers;
    last = sh->last_check_us, next = sh->next_check_us, phase = sh->phase;
    pthread_mutex_unlock(&sh->mu);
    prom_init(&p);
    prom_common(&p, atomic_load(&sh->http), "retention", sh->started_us, sh->started_mono);
    prom_family(&p, "tsarchive_retention_active", "gauge",
                "1 when this retention service holds the database's lock and works; 0 standing "
                "by or stopped.");
    prom_printf(&p, "tsarchive_retention_active %d\n", phase == RET_PHASE_ACTIVE);
    counter(&p, "tsarchive_retention_checks_total",
            "Retention checks run (scheduled and triggered).", checks);
    counter(&p, "tsarchive_retention_check_failures_total", "Retention checks that failed.",
            failures);
    counter(&p, "tsarchive_retention_triggers_total", "Checks triggered over HTTP.", triggers);
    prom_family(&p, "tsarchive_retention_last_check_timestamp_seconds", "gauge",
                "Unix time of the last retention check (0: none yet).");
    prom_printf(&p, "tsarchive_retention_last_check_timestamp_seconds %.3f\n", last / 1e6);
    prom_family(&p, "tsarchive_retention_next_check_timestamp_seconds", "gauge",
                "Unix time of the next scheduled check (0: not active).");
    prom_printf(&p, "tsarchive_retention_next_check_timestamp_seconds %.3f\n",
                phase == RET_PHASE_ACTIVE ? next / 1e6 : 0.0);
    prom_family(&p, "tsarchive_retention_check_interval_seconds", "gauge",
                "retention_check_interval_hours, in seconds.");
    prom_printf(&p, "tsarchive_retention_check_interval_seconds %d\n",
                sh->cfg->retention_check_interval_hours * 3600);
    counter(&p, "tsarchive_retention_requests_total",
            "Archival requests sent (new, retries, re-archives).", c.requested);
    prom_family(&p, "tsarchive_retention_confirmations_total", "counter",
                "Confirmations judged, by outcome (failure: failed archival or failed "
                "verification).");
    prom_printf(&p, "tsarchive_retention_confirmations_total{outcome=\"success\"} %lld\n",
                (long long)c.confirmed_ok);
    prom_printf(&p, "tsarchive_retention_confirmations_total{outcome=\"failure\"} %lld\n",
                (long long)c.confirmed_failed);
    counter(&p, "tsarchive_retention_chunks_dropped_total", "Chunks dropped after a verified archive.",
            c.dropped);
    counter(&p, "tsarchive_retention_rows_dropped_total", "Rows in the chunks dropped.",
            c.rows_dropped);
    counter(&p, "tsarchive_retention_bytes_archived_total", "Bytes of verified archives.",
            c.bytes_archived);
    counter(&p, "tsarchive_retention_rearchived_total",
            "Chunks archived again (changed since export, or the archive went missing).",
            c.rearchived);
    counter(&p, "tsarchive_retention_dead_total",
            "Chunks given up on (after max_attempts, or that cannot be requested); kept.", c.dead);
    counter(&p, "tsarchive_retention_drop_failures_total",
            "Drop transactions that failed (lock timeout, database error) and were deferred.",
            c.drop_failures);
    counter(&p, "tsarchive_retention_drops_held_total",
            "Drops held because archiving is switched off for the chunk's table.", c.drops_held);
    counter(&p, "tsarchive_retention_holds_total",
            "Times a check or a drop found an expired chunk held back by a continuous aggregate.",
            c.held);

    pthread_mutex_lock(&sh->snap_mu);
    ok = snap_usable(sh, err, sizeof err);
    prom_family(&p, "tsarchive_retention_database_up", "gauge",
                "1 when the retention service's status queries reach PostgreSQL.");
    prom_printf(&p, "tsarchive_retention_database_up %d\n", ok);
    prom_family(&p, "tsarchive_retention_period_seconds", "gauge",
                "Retention period per table (0: never expires).");
    for (int i = 0; ok && i < sh->nsnap; i++) {
        prom_label_escape(sh->snap[i].table, lt, sizeof lt);
        prom_printf(&p, "tsarchive_retention_period_seconds{table=\"%s\"} %lld\n", lt,
                    sh->snap[i].retention_days * 86400LL);
    }
    prom_family(&p, "tsarchive_retention_chunks", "gauge",
                "Chunks in the database per table: all, and expired.");
    for (int i = 0; ok && i < sh->nsnap; i++) {
        prom_label_escape(sh->snap[i].table, lt, sizeof lt);
        prom_printf(&p, "tsarchive_retention_chunks{table=\"%s\",kind=\"total\"} %lld\n", lt,
                    sh->snap[i].chunks);
        prom_printf(&p, "tsarchive_retention_chunks{table=\"%s\",kind=\"expired\"} %lld\n", lt,
                    sh->snap[i].expired);
    }
    prom_family(&p, "tsarchive_retention_chunks_not_archived", "gauge",
                "Chunks per table that are never archived as things stand (an integer time "
                "column of unknown unit, a failing integer_now, an unbounded range).");
    for (int i = 0; ok && i < sh->nsnap; i++) {
        prom_label_escape(sh->snap[i].table, lt, sizeof lt);
        prom_printf(&p, "tsarchive_retention_chunks_not_archived{table=\"%s\"} %lld\n", lt,
                    sh->snap[i].skipped);
    }
    prom_family(&p, "tsarchive_retention_chunks_held", "gauge",
                "Expired chunks per table that a continuous aggregate holds back (not "
                "materialized yet, or within a refresh policy's window).");
    for (int i = 0; ok && i < sh->nsnap; i++) {
        prom_label_escape(sh->snap[i].table, lt, sizeof lt);
        prom_printf(&p, "tsarchive_retention_chunks_held{table=\"%s\"} %lld\n", lt, sh->snap[i].held);
    }
    prom_family(&p, "tsarchive_retention_default_partition_expired_rows", "gauge",
                "Rows past retention in the table's DEFAULT partitions (never dropped; "
                "counted every few minutes).");
    for (int i = 0; ok && i < sh->nsnap; i++) {
        if (sh->snap[i].default_expired_rows < 0)
            continue;
        prom_label_escape(sh->snap[i].table, lt, sizeof lt);
        prom_printf(&p, "tsarchive_retention_default_partition_expired_rows{table=\"%s\"} %lld\n",
                    lt, sh->snap[i].default_expired_rows);
    }
    prom_family(&p, "tsarchive_retention_events", "gauge",
                "Rows of tsarchive.archival_events per table and state.");
    for (int i = 0; ok && i < sh->nsnap; i++) {
        prom_label_escape(sh->snap[i].table, lt, sizeof lt);
        for (int k = RET_REQUESTED; k < RET_NSTATES; k++)
            prom_printf(&p, "tsarchive_retention_events{table=\"%s\",state=\"%s\"} %lld\n", lt,
                        ret_state_name((ret_state)k), sh->snap[i].by_state[k]);
    }
    prom_family(&p, "tsarchive_retention_oldest_expired_age_seconds", "gauge",
                "Seconds since the oldest expired chunk still in the database passed its "
                "retention (0: none).");
    for (int i = 0; ok && i < sh->nsnap; i++) {
        prom_label_escape(sh->snap[i].table, lt, sizeof lt);
        prom_printf(&p, "tsarchive_retention_oldest_expired_age_seconds{table=\"%s\"} %.3f\n", lt,
                    sh->snap[i].oldest_expired_age_s > 0 ? sh->snap[i].oldest_expired_age_s : 0.0);
    }
    pthread_mutex_unlock(&sh->snap_mu);
    return prom_reply(&p, resp);
}

static int h_healthz(void *ud, const http_request *req, http_response *resp)
{
    ret_shared *sh = ud;
    double quiet;
    int phase;
    (void)req;
    pthread_mutex_lock(&sh->mu);
    quiet = ts_mono_s() - sh->heartbeat;
    phase = sh->phase;
    pthread_mutex_unlock(&sh->mu);
    /* the loop goes round every second or so; a long check may hold it a while */
    if (phase == RET_PHASE_STOPPED || (phase == RET_PHASE_ACTIVE && quiet > 600))
        return http_reply_json(resp, 503,
                               json_pack("{s:s,s:s,s:f}", "status", "unhealthy", "state",
                                         ret_phase_names[phase], "loop_quiet_s", quiet));
    return http_reply_json(resp, 200,
                           json_pack("{s:s,s:s}", "status", "ok", "state", ret_phase_names[phase]));
}

static int h_readyz(void *ud, const http_request *req, http_response *resp)
{
    ret_shared *sh = ud;
    int phase;
    bool db_ok;
    char err[300];
    (void)req;
    pthread_mutex_lock(&sh->mu);
    phase = sh->phase;
    pthread_mutex_unlock(&sh->mu);
    pthread_mutex_lock(&sh->snap_mu);
    db_ok = snap_usable(sh, err, sizeof err);
    pthread_mutex_unlock(&sh->snap_mu);
    if (phase != RET_PHASE_ACTIVE)
        return http_reply_json(resp, 503,
                               json_pack("{s:s,s:s}", "status", "not ready", "reason",
                                         phase == RET_PHASE_STANDBY
                                             ? "standing by: another retention service is active"
                                             : ret_phase_names[phase]));
    if (!db_ok)
        return http_reply_json(resp, 503,
                               json_pack("{s:s,s:s}", "status", "not ready", "reason", err));
    return http_reply_json(resp, 200, json_pack("{s:s}", "status", "ready"));
}

int ret_http_start(ret_shared *sh, ts_err *err)
{
    const ts_config *cfg = sh->cfg;
    http_route *r = sh->routes;
    http_options o = {.listen = cfg->http.retention_listen,
                      .token = cfg->http.token,
                      .threads = HTTP_THREADS,
                      .routes = r};
    http_server *hs = NULL;
    ts_err e;
    int n = 0;
    atomic_store(&sh->snap_stop, 0);
    if (pthread_create(&sh->snap_thread, NULL, snap_main, sh) != 0)
        return ts_err_set(err, TS_ERR_NOMEM, "could not start the status snapshot thread");
    sh->snap_started = true;
    r[n++] = (http_route){"GET", "/database/retention/status", h_status, sh, false};
    r[n++] = (http_route){"POST", "/database/retention/trigger-archival", h_trigger, sh, false};
    r[n++] = (http_route){"GET", "/metrics", h_prom, sh, false};
    r[n++] = (http_route){"GET", "/healthz", h_healthz, sh, true};
    r[n++] = (http_route){"GET", "/readyz", h_readyz, sh, true};
    o.nroutes = n;
    ts_err_clear(&e);
    /* a failure is logged and the service runs on: the archive matters more than its
     * dashboard, and a Prometheus "up" alert notices the missing endpoint */
    if (http_server_start(&hs, &o, &e) != 0) {
        ts_error("retention service endpoints not served: %s", e.msg);
        return 0;
    }
    ts_info("retention service endpoints on http://%s", cfg->http.retention_listen);
    atomic_store(&sh->http, hs);
    return 0;
}

void ret_http_stop(ret_shared *sh)
{
    http_server_stop(atomic_exchange(&sh->http, NULL));
    if (sh->snap_started) {
        atomic_store(&sh->snap_stop, 1);
        pthread_join(sh->snap_thread, NULL);
        sh->snap_started = false;
    }
}
