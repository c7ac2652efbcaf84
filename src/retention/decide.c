/* decide.c: the retention service's decisions: what to request, what a confirmation
 * leads to, and the drop, proven in one transaction under the chunk's lock. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/tstime.h"
#include "common/fault.h"
#include "common/log.h"
#include "common/runctl.h"
#include "object/object.h"
#include "pg/cagg.h"
#include "pg/conn.h"
#include "pg/discover.h"
#include "pg/proof.h"
#include "retention.h"
#include "state.h"

struct ret {
    const ts_config *cfg;
    PGconn *pg;
    lake *lk;
    ret_publish_fn publish;
    void *publish_ud;
    char database[BUS_NAME_MAX + 1];
    char cluster[BUS_CLUSTER_MAX + 1];
    obj_tables *tables; /* the Delta tables loaded */
    ret_counts counts;
    /* what was logged lately about chunks that are not archived (skipped, held back):
     * a hash of the subject and reason, and when; said again after NOTE_AGAIN_S */
    struct {
        uint64_t h;
        double at;
    } noted[128];
};

#define NOTE_AGAIN_S 3600.0

/* Whether to log this (subject, reason) now: not said within NOTE_AGAIN_S, so checks
 * every few seconds (run --once) do not repeat it. */
static bool note_once(ret *r, const char *subject, const char *reason)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    double now = ts_mono_s();
    int slot = 0;
    for (const char *p = subject; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (const char *p = reason; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    for (int i = 0; i < (int)(sizeof r->noted / sizeof *r->noted); i++) {
        if (r->noted[i].h == h) {
            if (now - r->noted[i].at < NOTE_AGAIN_S)
                return false;
            slot = i;
            break;
        }
        if (r->noted[i].at < r->noted[slot].at)
            slot = i; /* the oldest (or an empty one) makes room */
    }
    r->noted[slot].h = h;
    r->noted[slot].at = now;
    return true;
}

/* Whether s is a whole decimal int64 (an integer range's end). */
static bool int_text(const char *s, int64_t *v)
{
    char *end;
    if (!*s)
        return false;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return errno == 0 && *end == '\0';
}

int ret_new(ret **out, const ts_config *cfg, PGconn *pg, lake *lk, ret_publish_fn publish,
            void *publish_ud, ts_err *err)
{
    ret *r;
    char cluster[64];
    int rc;
    *out = NULL;
    /* a start tries every deferred drop at once: a grant given or a lock released since
     * the last try is seen now, not after the backoff */
    if ((rc = ret_state_migrate(pg, err)) != 0 || (rc = ret_state_drops_due_now(pg, err)) != 0 ||
        (rc = obj_cluster_id(pg, cfg->database.cluster_name, cluster, err)) != 0)
        return rc;
    if (!(r = ts_calloc(1, sizeof *r)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    if ((rc = obj_tables_new(lk, &r->tables, err)) != 0) {
        ts_free(r);
        return rc;
    }
    r->cfg = cfg;
    r->pg = pg;
    r->lk = lk;
    r->publish = publish;
    r->publish_ud = publish_ud;
    snprintf(r->database, sizeof r->database, "%s", PQdb(pg));
    snprintf(r->cluster, sizeof r->cluster, "%s", cluster);
    *out = r;
    return 0;
}

void ret_free(ret *r)
{
    if (r)
        obj_tables_free(r->tables);
    ts_free(r);
}

/* Whether the object at path is a live file of its chunk's table (committed, not
 * superseded). 1 yes, 0 no, or an error code when the log cannot be read. */
static int live_in_table(ret *r, const obj_chunk *c, const char *path, ts_err *err)
{
    delta_table *t;
    const char *root;
    size_t rl;
    int rc = obj_table_of(r->tables, c, &t, err);
    if (rc)
        return rc;
    root = delta_table_root(t);
    rl = strlen(root);
    return strncmp(path, root, rl) == 0 && path[rl] == '/' && delta_table_find(t, path + rl + 1);
}

const ret_counts *ret_get_counts(const ret *r)
{
    return &r->counts;
}

const char *ret_database(const ret *r)
{
    return r->database;
}

const char *ret_cluster(const ret *r)
{
    return r->cluster;
}

bool ret_is_ours(const ret *r, const char *cluster, const char *database)
{
    return strcmp(database, r->database) == 0 && (!cluster[0] || strcmp(cluster, r->cluster) == 0);
}

/* Archiving (and dropping) is switched on for this table. */
static bool archiving_on(const ret *r, const char *table_schema, const char *table_name)
{
    char st[2 * BUS_NAME_MAX + 2];
    snprintf(st, sizeof st, "%s.%s", table_schema, table_name);
    return r->cfg->lakehouse_enabled && ts_config_retention_days(r->cfg, st) > 0;
}

/* A request event from a state row; TS_ERR_INVALID when the row cannot be one. */
static int request_of(const ret *r, const ret_event *ev, bus_request *req, ts_err *err)
{
    memset(req, 0, sizeof *req);
    snprintf(req->event_id, sizeof req->event_id, "%s", ev->event_id);
    req->attempt = ev->attempts;
    req->requested_at = ts_time_now();
    snprintf(req->cluster, sizeof req->cluster, "%s", r->cluster);
    snprintf(req->database, sizeof req->database, "%s", r->database);
    snprintf(req->chunk.hypertable_schema, sizeof req->chunk.hypertable_schema, "%s", ev->table_schema);
    snprintf(req->chunk.hypertable, sizeof req->chunk.hypertable, "%s", ev->table_name);
    snprintf(req->chunk.chunk_schema, sizeof req->chunk.chunk_schema, "%s", ev->chunk_schema);
    snprintf(req->chunk.chunk_name, sizeof req->chunk.chunk_name, "%s", ev->chunk_name);
    req->chunk.range_kind = BUS_RANGE_TIMESTAMP;
    req->chunk.source = strcmp(ev->source, "partition") == 0 ? BUS_SOURCE_PARTITION : BUS_SOURCE_TIMESCALEDB;
    if (ev->time_unit[0] || (int_text(ev->range_start, &req->chunk.range_start) &&
                             int_text(ev->range_end, &req->chunk.range_end))) {
        req->chunk.range_kind = BUS_RANGE_INTEGER;
        if (!int_text(ev->range_start, &req->chunk.range_start) ||
            !int_text(ev->range_end, &req->chunk.range_end))
            return ts_err_set(err, TS_ERR_INVALID, "its integer range %s .. %s is not two integers",
                              ev->range_start, ev->range_end);
        return 0;
    }
    if (ts_time_scan(ev->range_start, 0, &req->chunk.range_start) != NULL ||
        ts_time_scan(ev->range_end, 0, &req->chunk.range_end) != NULL)
        return ts_err_set(err, TS_ERR_INVALID,
                          "its range %s .. %s cannot be written as an event (years 1-9999 only)",
                          ev->range_start, ev->range_end);
    return 0;
}

static void ref_of(const ret *r, const ret_event *ev, ret_chunk_ref *ref)
{
    ref->database = r->database;
    ref->table_schema = ev->table_schema;
    ref->table_name = ev->table_name;
    ref->chunk_schema = ev->chunk_schema;
    ref->chunk_name = ev->chunk_name;
    ref->range_start = ev->range_start;
    ref->range_end = ev->range_end;
    ref->source = ev->source;
    ref->time_unit = ev->time_unit;
}

/* A chunk whose request cannot be built or encoded, for a reason of its own: it is
 * marked dead with the reason, so it never stalls the others (and a restart does not
 * stop at it either). */
static int unrequestable(ret *r, const ret_event *ev, const char *why, ts_err *err)
{
    ret_change ch = RET_CHANGE(RET_REQUESTED, RET_DEAD);
    char msg[700];
    snprintf(msg, sizeof msg, "cannot be requested: %s", why);
    ch.error = msg;
    r->counts.dead++;
    ts_error("chunk \"%s.%s\" %s; it stays in the database, marked dead", ev->chunk_schema,
             ev->chunk_name, msg);
    return ret_state_move(r->pg, ev->event_id, &ch, err);
}

static int send_request(ret *r, const ret_event *ev, ts_err *err)
{
    bus_request req;
    char *json = NULL;
    size_t len;
    ts_err e;
    int rc;
    ts_err_clear(&e);
    /* the request must encode before it goes out: a bad chunk is that chunk's problem */
    if ((rc = request_of(r, ev, &req, &e)) == 0 && (rc = bus_request_encode(&req, &json, &len, &e)) == 0)
        ts_free(json);
    if (rc == TS_ERR_INVALID)
        return unrequestable(r, ev, e.msg, err);
    if (rc)
        return ts_err_set(err, rc, "%s", e.msg);
    if ((rc = r->publish(r->publish_ud, &req, err)) != 0)
        return rc;
    r->counts.requested++;
    ts_log_context("event_id", ev->event_id);
    ts_info("requested archival of chunk \"%s.%s\" (%s .. %s, attempt %d)", ev->chunk_schema,
            ev->chunk_name, ev->range_start, ev->range_end, ev->attempts);
    ts_log_context("event_id", NULL);
    return 0;
}

/* Re-arms a chunk (retry, or archive again after a change) and publishes. */
static int rerequest(ret *r, const ret_event *ev, bool reset, ts_err *err)
{
    ret_event fresh;
    ret_chunk_ref ref;
    int rc;
    /* an archived row is active: release it first (it is archived again right away) */
    if (ev->state == RET_ARCHIVED) {
        ret_change ch = RET_CHANGE(RET_ARCHIVED, RET_RETRYING);
        ch.error = "archiving again";
        ch.retry_after_s = 0;
        if ((rc = ret_state_move(r->pg, ev->event_id, &ch, err)) != 0)
            return rc;
    }
    ref_of(r, ev, &ref);
    rc = ret_state_request(r->pg, &ref, reset, &fresh, err);
    return rc ? rc : send_request(r, &fresh, err);
}

/* Runs fn on the row of each id, stopping at the first error. */
static int for_each(ret *r, const ret_ids *ids, int (*fn)(ret *, const ret_event *, ts_err *),
                    ts_err *err)
{
    int rc = 0;
    for (int i = 0; i < ids->n && !rc; i++) {
        ret_event ev;
        if ((rc = ret_state_get(r->pg, ids->v[i], &ev, err)) == TS_ERR_NOTFOUND) {
            ts_err_clear(err); /* settled meanwhile */
            rc = 0;
            continue;
        }
        if (rc == 0)
            rc = fn(r, &ev, err);
    }
    return rc;
}

/* Requests still out: all of them (after a restart), or those out longer than a check
 * interval (a stream entry lost to a Redis failure must not strand a chunk). The
 * archiver is idempotent, so a request served twice confirms twice, and the second
 * confirmation is ignored as a duplicate. */
static int republish_outstanding(ret *r, bool all, ts_err *err)
{
    ret_ids ids;
    int rc = ret_state_touch_outstanding(
        r->pg, all ? 0 : r->cfg->retention_check_interval_hours * 3600, &ids, err);
    if (rc == 0)
        rc = for_each(r, &ids, send_request, err);
    ret_ids_free(&ids);
    return rc;
}

/* Re-requests chunks whose retry time has come, while the batch limit allows. */
static int due_retries(ret *r, int64_t *in_flight, ts_err *err)
{
    ret_ids ids;
    int rc = ret_state_due_retries(r->pg, &ids, err);
    for (int i = 0; rc == 0 && i < ids.n && *in_flight < r->cfg->archival_batch_size; i++) {
        ret_event ev;
        if ((rc = ret_state_get(r->pg, ids.v[i], &ev, err)) == 0 &&
            (rc = rerequest(r, &ev, false, err)) == 0)
            (*in_flight)++;
    }
    ret_ids_free(&ids);
    return rc;
}

int ret_retry_due(ret *r, ts_err *err)
{
    int64_t in_flight = 0;
    int rc;
    if (!r->cfg->lakehouse_enabled)
        return 0;
    if ((rc = ret_state_in_flight(r->pg, &in_flight, err)) != 0)
        return rc;
    return due_retries(r, &in_flight, err);
}

int ret_check_once(ret *r, bool republish, const char *table_glob, int *requested, ts_err *err)
{
    pg_chunk_list list = {0};
    pg_discover_filter f = {.table = table_glob, .expired_only = true, .include_skipped = true};
    pg_caggs *caggs = NULL; /* read once a check, when a chunk is up for archival */
    int64_t in_flight = 0, backlog = 0;
    int64_t before = r->counts.requested;
    int rc;

    if (requested)
        *requested = 0;
    if (r->cfg->lakehouse_enabled && (rc = republish_outstanding(r, republish, err)) != 0)
        return rc;
    if ((rc = pg_discover(r->pg, r->cfg, &f, &list, err)) != 0)
        return rc;
    if ((rc = ret_state_in_flight(r->pg, &in_flight, err)) != 0)
        goto out;
    for (int i = 0; i < list.n; i++) {
        pg_chunk *ch = &list.items[i];
        ret_state state;
        ret_event ev;
        char table[2 * BUS_NAME_MAX + 2], chunk[2 * BUS_NAME_MAX + 2];
        pg_cagg_hold_info hold;
        ret_chunk_ref ref = {r->database,     ch->table_schema, ch->table_name,
                             ch->chunk_schema, ch->chunk_name,  ch->range_start,
                             ch->range_end,
                             ch->source == PG_SRC_PARTITION ? "partition" : "timescaledb",
                             ch->integer_range ? ts_time_unit_name(ch->time_unit) : NULL};
        snprintf(table, sizeof table, "%s.%s", ch->table_schema, ch->table_name);
        snprintf(chunk, sizeof chunk, "%s.%s", ch->chunk_schema, ch->chunk_name);
        if (ch->skip_reason[0] || (ch->expired && (!ch->has_start || !ch->has_end))) {
            /* its expiry cannot be decided (an integer column of unknown unit, a failing
             * integer_now) or its range is unbounded: never archived; said once per table
             * and reason */
            const char *why = ch->skip_reason[0] ? ch->skip_reason : "its range is unbounded";
            r->counts.skipped++;
            if (note_once(r, table, why))
                ts_warn("table \"%s\": chunk \"%s\" and any like it are not archived: %s", table,
                        chunk, why);
            continue;
        }
        if (!ch->expired)
            continue;
        if (!r->cfg->lakehouse_enabled) {
            if (note_once(r, chunk, "lakehouse_enabled is false"))
                ts_info("expired chunk \"%s\" (%s .. %s): lakehouse_enabled is false, nothing requested",
                        chunk, ch->range_start, ch->range_end);
            continue;
        }
        /* a continuous aggregate that has not materialized the chunk's range, or whose
         * refresh policy can still refresh it, would lose its rows there: held back */
        if (!caggs && (rc = pg_caggs_load(r->pg, &caggs, err)) != 0) {
            ts_err_prefix(err, "reading the continuous aggregates");
            goto out;
        }
        pg_cagg_decide(caggs, ch, list.now_us, &hold);
        if (hold.kind != PG_HOLD_NONE) {
            r->counts.held++;
            if (note_once(r, chunk, hold.reason))
                ts_info("expired chunk \"%s\" held back: %s", chunk, hold.reason);
            continue;
        }
        if ((rc = ret_state_of_chunk(r->pg, ch->chunk_schema, ch->chunk_name, &state, err)) != 0)
            goto out;
        /* active, waiting for its retry time, or given up on: leave it */
        if (state == RET_REQUESTED || state == RET_ARCHIVED || state == RET_RETRYING ||
            state == RET_DEAD)
            continue;
        if (in_flight >= r->cfg->archival_batch_size) {
            backlog++; /* requested once others settle */
            continue;
        }
        rc = ret_state_request(r->pg, &ref, true, &ev, err);
        if (rc == TS_ERR_CONFLICT) { /* another instance got there first */
            ts_err_clear(err);
            rc = 0;
            continue;
        }
        {
            int64_t sent = r->counts.requested;
            if (rc || (rc = send_request(r, &ev, err)) != 0)
                goto out;
            if (r->counts.requested > sent) /* not marked dead instead */
                in_flight++;
        }
    }
    if ((rc = due_retries(r, &in_flight, err)) == 0)
        r->counts.backlog = backlog;
out:
    if (requested)
        *requested = (int)(r->counts.requested - before);
    pg_caggs_free(caggs);
    pg_chunk_list_free(&list);
    return rc;
}

static int backoff_s(long base, int attempts)
{
    long s = base;
    for (int i = 1; i < attempts && s < 86400; i++)
        s *= 2;
    return (int)(s > 86400 ? 86400 : s);
}

static int on_failure(ret *r, const ret_event *ev, const char *why, ts_err *err)
{
    int rc;
    r->counts.confirmed_failed++;
    if (ev->attempts >= r->cfg->retention.max_attempts) {
        ret_change ch = RET_CHANGE(RET_REQUESTED, RET_DEAD);
        ch.error = why;
        if ((rc = ret_state_move(r->pg, ev->event_id, &ch, err)) == 0) {
            r->counts.dead++;
            ts_error("GIVING UP on chunk \"%s.%s\" after %d attempts; it stays in the database: %s",
                     ev->chunk_schema, ev->chunk_name, ev->attempts, why);
        }
        return rc;
    }
    int wait = backoff_s(r->cfg->retention.retry_backoff_s, ev->attempts);
    ret_change ch = RET_CHANGE(RET_REQUESTED, RET_RETRYING);
    ch.error = why;
    ch.retry_after_s = wait;
    if ((rc = ret_state_move(r->pg, ev->event_id, &ch, err)) == 0)
        ts_warn("archival of chunk \"%s.%s\" failed (attempt %d of %d), chunk kept, retry in %d s: %s",
                ev->chunk_schema, ev->chunk_name, ev->attempts, r->cfg->retention.max_attempts, wait, why);
    return rc;
}

static void rollback(PGconn *pg)
{
    ts_err e;
    ts_err_clear(&e);
    if (pg_exec(pg, "ROLLBACK", &e) != 0) /* the connection is gone: the server rolls back */
        ts_debug("rollback: %s", e.msg);
}

/* Inside the drop transaction, a reason not to drop: roll back, say why, and archive
 * the chunk again. */
static int keep_and_rearchive(ret *r, const ret_event *ev, const char *what, const char *why,
                              ts_err *err)
{
    rollback(r->pg);
    ts_warn("chunk \"%s.%s\": %s (%s): kept, archiving it again", ev->chunk_schema, ev->chunk_name,
            what, why);
    r->counts.rearchived++;
    return rerequest(r, ev, true, err);
}

/* The chunk of a state row, as the lake names it. */
static int chunk_of(const ret *r, const ret_event *ev, obj_chunk *c, ts_err *err)
{
    int64_t s, e;
    bool integer = false;
    if (ev->time_unit[0] || (int_text(ev->range_start, &s) && int_text(ev->range_end, &e))) {
        integer = true;
        if (!int_text(ev->range_start, &s) || !int_text(ev->range_end, &e))
            return ts_err_set(err, TS_ERR_INVALID,
                              "chunk \"%s.%s\": integer range \"%s\" .. \"%s\" is not two integers",
                              ev->chunk_schema, ev->chunk_name, ev->range_start, ev->range_end);
    } else if (ts_time_scan(ev->range_start, 0, &s) != NULL || ts_time_scan(ev->range_end, 0, &e) != NULL) {
        return ts_err_set(err, TS_ERR_INVALID, "chunk \"%s.%s\": range \"%s\" .. \"%s\" is not RFC 3339",
                          ev->chunk_schema, ev->chunk_name, ev->range_start, ev->range_end);
    }
    memset(c, 0, sizeof *c);
    c->integer_range = integer;
    c->time_unit = integer ? ts_time_unit_parse(ev->time_unit) : TS_TIME_UNIT_NONE;
    c->cluster = r->cluster;
    c->database = r->database;
    c->table_schema = ev->table_schema;
    c->table_name = ev->table_name;
    c->chunk_schema = ev->chunk_schema;
    c->chunk_name = ev->chunk_name;
    c->range_start = s;
    c->range_end = e;
    return TS_OK;
}

/* A failed drop transaction: counted against this chunk with a backoff of its own,
 * so it neither stops the others nor is tried every second. */
static int drop_failed(ret *r, const ret_event *ev, const char *why, ret_drop_count how, ts_err *err)
{
    int wait = backoff_s(r->cfg->retention.retry_backoff_s > 10 ? 10 : r->cfg->retention.retry_backoff_s,
                         ev->drop_attempts + 1);
    if (wait > 3600)
        wait = 3600;
    r->counts.drop_failures++;
    if (how == RET_DROP_GIVE_UP) {
        wait = 3600;
        ts_error("drop of chunk \"%s.%s\" refused for lack of privilege: %s; the chunk stays "
                 "archived and in the database, tried again every hour (the retention role must "
                 "own the table: deploy/postgresql/tsarchive-grants.sql)",
                 ev->chunk_schema, ev->chunk_name, why);
    } else {
        ts_warn("drop of chunk \"%s.%s\" deferred (try %d), again in %d s: %s", ev->chunk_schema,
                ev->chunk_name, ev->drop_attempts + 1, wait, why);
    }
    return ret_state_drop_failed(r->pg, ev->event_id, why, wait, how,
                                 r->cfg->retention.max_attempts, err);
}

/* A continuous aggregate holds the archived chunk: the drop waits until the hold ends
 * (an hour when it has no end), and counts as given up on so `run --once` does not wait
 * for it (the service keeps trying). */
static int drop_held_by_cagg(ret *r, const ret_event *ev, const pg_cagg_hold_info *hold, ts_err *err)
{
    int64_t wait = 3600;
    char why[700];
    if (hold->kind == PG_HOLD_UNTIL && !hold->until_int_only) {
        wait = (hold->until_us - ts_time_now()) / 1000000 + 1;
        wait = wait < 60 ? 60 : wait > 86400 ? 86400 : wait;
    }
    r->counts.held++;
    snprintf(why, sizeof why, "drop held back: %s", hold->reason);
    ts_warn("chunk \"%s.%s\" is archived, its %s; the drop is tried again in %" PRId64 " s",
            ev->chunk_schema, ev->chunk_name, why, wait);
    return ret_state_drop_failed(r->pg, ev->event_id, why, (int)wait, RET_DROP_GIVE_UP,
                                 r->cfg->retention.max_attempts, err);
}

/* The chunk's archive was verified: drop it in one transaction under its lock, after
 * proving it unchanged and seeing the object in the lake once more. Returns an error
 * only when the database cannot be used (the caller reconnects); a failure of this
 * chunk's drop is recorded on its row and returns 0. */
static int drop_chunk(ret *r, const ret_event *ev, ts_err *err)
{
    char *qname = NULL, sql[1200], *path = NULL;
    lake_info info = {0};
    obj_chunk oc;
    ts_err e;
    int rc;

    ts_err_clear(&e);
    if (!archiving_on(r, ev->table_schema, ev->table_name)) {
        r->counts.drops_held++;
        ts_info("drop of chunk \"%s.%s\" held: archiving is switched off for it (lakehouse_enabled "
                "or the table's enabled); it stays archived and in the database",
                ev->chunk_schema, ev->chunk_name);
        return ret_state_drop_failed(r->pg, ev->event_id, "drop held: archiving is switched off",
                                     60, RET_DROP_HOLD, r->cfg->retention.max_attempts, err);
    }
    if ((rc = chunk_of(r, ev, &oc, err)) != 0)
        return rc;
    if (!(path = obj_path_of_url(r->lk, &oc, ev->object))) {
        rc = keep_and_rearchive(r, ev, "its recorded archive is not one of its objects", ev->object, err);
        goto out;
    }
    if (!(qname = pg_qualified_name(r->pg, ev->chunk_schema, ev->chunk_name, err))) {
        rc = err->code;
        goto out;
    }
    if ((rc = pg_exec(r->pg, "BEGIN", err)) != 0)
        goto out;
    snprintf(sql, sizeof sql, "SET LOCAL lock_timeout = %d", r->cfg->database.lock_timeout_ms);
    if ((rc = pg_exec(r->pg, sql, err)) != 0)
        goto abort;
    snprintf(sql, sizeof sql, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", qname);
    rc = pg_exec(r->pg, sql, &e);
    if (rc == TS_ERR_NOTFOUND) { /* someone else dropped it: nothing of ours to do */
        ret_change ch = RET_CHANGE(RET_ARCHIVED, RET_DROPPED);
        rollback(r->pg);
        ts_warn("chunk \"%s.%s\" is already gone from the database; its archive is %s",
                ev->chunk_schema, ev->chunk_name, ev->object);
        ch.error = "the chunk was dropped by someone else";
        rc = ret_state_move(r->pg, ev->event_id, &ch, err);
        goto out;
    }
    if (rc == TS_ERR_CONFLICT || rc == TS_ERR_TIMEOUT) { /* lock or statement timeout */
        rollback(r->pg);
        rc = drop_failed(r, ev, e.msg, RET_DROP_COUNT, err);
        goto out;
    }
    if (rc)
        goto failed;
    rc = pg_chunk_unchanged(r->pg, ev->chunk_schema, ev->chunk_name, ev->proof, &e);
    if (rc == TS_ERR_CONFLICT) {
        rc = keep_and_rearchive(r, ev, "changed since its export", e.msg, err);
        goto out;
    }
    if (rc)
        goto failed;
    /* a continuous aggregate may have come (or its policy changed) since the request:
     * asked again under the lock, and the drop waits while one holds the chunk */
    {
        pg_chunk live;
        pg_cagg_hold_info hold;
        if ((rc = pg_discover_chunk(r->pg, r->cfg, ev->chunk_schema, ev->chunk_name, &live, &e)) != 0)
            goto failed;
        rc = pg_cagg_hold(r->pg, &live, &hold, &e);
        pg_chunk_clear(&live);
        if (rc)
            goto failed;
        if (hold.kind != PG_HOLD_NONE) {
            rollback(r->pg);
            rc = drop_held_by_cagg(r, ev, &hold, err);
            goto out;
        }
    }
    /* the object once more, under the lock: deleted or replaced since it was read back? */
    rc = obj_verify(r->lk, path, ev->rows, ev->bytes, ev->checksum, NULL, &info, &e);
    if (rc == 0 && ev->etag[0] && strcmp(info.etag, ev->etag) != 0) {
        rc = TS_ERR_CONFLICT;
        ts_err_set(&e, rc, "object \"%s\" was replaced since it was read back (ETag %s, then %s)",
                   path, ev->etag, info.etag);
    }
    if (rc == 0) { /* and still a live file of the table (no later version removed it) */
        int live = live_in_table(r, &oc, path, &e);
        if (live == 0) {
            rc = TS_ERR_CONFLICT;
            ts_err_set(&e, rc, "\"%s\" is no longer a live file of the table's log", path);
        } else if (live < 0) {
            rc = live;
        }
    }
    if (rc == TS_ERR_CONFLICT || rc == TS_ERR_NOTFOUND) {
        rc = keep_and_rearchive(r, ev, "its archive no longer checks out", e.msg, err);
        goto out;
    }
    if (rc) { /* the lake cannot be read now: try later */
        rollback(r->pg);
        rc = drop_failed(r, ev, e.msg, RET_DROP_COUNT, err);
        goto out;
    }
    snprintf(sql, sizeof sql, "DROP TABLE %s", qname);
    if ((rc = pg_exec(r->pg, sql, &e)) != 0)
        goto failed;
    ts_fault("retention.after_drop"); /* dropped in the transaction, state not written */
    {
        ret_change ch = RET_CHANGE(RET_ARCHIVED, RET_DROPPED);
        if ((rc = ret_state_move(r->pg, ev->event_id, &ch, &e)) != 0 ||
            (rc = pg_exec(r->pg, "COMMIT", &e)) != 0)
            goto failed;
    }
    ts_fault("retention.after_commit"); /* dropped and recorded; confirmation not acked */
    r->counts.dropped++;
    r->counts.rows_dropped += ev->rows;
    ts_info("dropped chunk \"%s.%s\" (%lld rows, archived at %s)", ev->chunk_schema, ev->chunk_name,
            (long long)ev->rows, ev->object);
    goto out;
failed:
    rollback(r->pg);
    if (PQstatus(r->pg) != CONNECTION_OK) { /* the database went away: not this chunk's fault */
        rc = ts_err_set(err, rc, "dropping chunk \"%s.%s\": %s", ev->chunk_schema, ev->chunk_name,
                        e.msg);
        goto out;
    }
    /* no privilege (SQLSTATE 42501, "must be owner"): no retry mends that */
    rc = drop_failed(r, ev, e.msg, rc == TS_ERR_AUTH ? RET_DROP_GIVE_UP : RET_DROP_COUNT, err);
    goto out;
abort:
    rollback(r->pg);
    ts_err_prefix(err, "dropping chunk \"%s.%s\"", ev->chunk_schema, ev->chunk_name);
out:
    ts_free(qname);
    ts_free(path);
    return rc;
}

int ret_on_confirmation(ret *r, const bus_confirmation *conf, ts_err *err)
{
    ret_event ev;
    char proof[PG_PROOF_MAX], readback[PG_PROOF_MAX], *file_proof = NULL, *path = NULL, why[1200];
    lake_info info = {0};
    obj_chunk oc;
    double t0;
    ts_err e;
    int rc;

    ts_err_clear(&e);
    if (!ret_is_ours(r, conf->cluster, conf->database)) {
        r->counts.foreign++;
        ts_debug("confirmation for database \"%s\" left to its own retention service",
                 conf->database);
        return 0;
    }
    rc = ret_state_get(r->pg, conf->event_id, &ev, &e);
    if (rc == TS_ERR_NOTFOUND) {
        ts_warn("confirmation for unknown event \"%s\" ignored (a stale or foreign event)", conf->event_id);
        return 0;
    }
    if (rc)
        return ts_err_set(err, rc, "%s", e.msg);
    ts_log_context("event_id", ev.event_id);
    if (ev.state != RET_REQUESTED) {
        ts_info("confirmation for chunk \"%s.%s\" in state \"%s\" ignored (a duplicate)",
                ev.chunk_schema, ev.chunk_name, ret_state_name(ev.state));
        rc = 0;
        goto out;
    }
    if (conf->status == BUS_STATUS_FAILURE) {
        rc = on_failure(r, &ev, conf->error ? conf->error : "no reason given", err);
        goto out;
    }
    r->counts.confirmed_ok++;
    /* the confirmation says where and what; check it all before believing it */
    if (strcmp(conf->chunk.chunk_schema, ev.chunk_schema) || strcmp(conf->chunk.chunk_name, ev.chunk_name)) {
        rc = on_failure(r, &ev, "the confirmation names another chunk than its request", err);
        goto out;
    }
    if ((rc = chunk_of(r, &ev, &oc, err)) != 0)
        goto out;
    if (!(path = obj_path_of_url(r->lk, &oc, conf->object))) {
        rc = on_failure(r, &ev, "the confirmation names an object outside the chunk's place in the lake", err);
        goto out;
    }
    if (obj_proof_from_json(conf->proof, proof, sizeof proof, &e) != 0) {
        rc = on_failure(r, &ev, e.msg, err);
        goto out;
    }
    rc = obj_verify(r->lk, path, conf->rows, conf->bytes, conf->checksum, &file_proof, NULL, &e);
    if (rc == 0 && strcmp(file_proof, proof) != 0) {
        rc = TS_ERR_CONFLICT;
        ts_err_set(&e, rc, "the object's proof differs from the confirmation's");
    }
    if (rc == TS_ERR_CONFLICT || rc == TS_ERR_NOTFOUND || rc == TS_ERR_FORMAT) {
        snprintf(why, sizeof why, "verification failed: %s", e.msg);
        rc = on_failure(r, &ev, why, err);
        goto out;
    }
    if (rc) { /* lake unreachable: see the confirmation again later */
        ts_err_set(err, rc, "%s", e.msg);
        goto out;
    }
    /* the object must be committed to its table's log: what a reader of the table sees */
    rc = live_in_table(r, &oc, path, &e);
    if (rc == 0) {
        rc = on_failure(r, &ev, "verification failed: the object is not a live file of the "
                        "table's log (never committed, or superseded)", err);
        goto out;
    }
    if (rc < 0) {
        ts_err_set(err, rc, "%s", e.msg);
        goto out;
    }
    /* the licence to drop: the archive read back in full, every row decoded and hashed,
     * must hold exactly the rows whose proof the export made */
    t0 = ts_mono_s();
    rc = obj_read_back(r->lk, path, r->pg, ev.chunk_schema, ev.chunk_name, readback, &info, &e);
    if (rc == 0)
        ts_info("read back \"%s\" in full (%lld rows, %.3f s): %s", path, (long long)conf->rows,
                ts_mono_s() - t0, strcmp(readback, proof) == 0 ? "it holds the exported rows"
                                                                : "its rows differ");
    if (rc == 0 && strcmp(readback, proof) != 0) {
        rc = TS_ERR_CONFLICT;
        ts_err_set(&e, rc, "the archive read back holds other rows than the export (proof %s, "
                   "expected %s)", readback, proof);
    }
    if (rc == TS_ERR_CONFLICT || rc == TS_ERR_NOTFOUND) {
        snprintf(why, sizeof why, "verification failed: %s", e.msg);
        rc = on_failure(r, &ev, why, err);
        goto out;
    }
    if (rc) { /* the lake or the database cannot be read now: see it again later */
        ts_err_set(err, rc, "%s", e.msg);
        goto out;
    }
    r->counts.bytes_archived += conf->bytes;
    {
        ret_change ch = RET_CHANGE(RET_REQUESTED, RET_ARCHIVED);
        ch.rows = conf->rows;
        ch.bytes = conf->bytes;
        ch.object = conf->object;
        ch.checksum = conf->checksum;
        ch.proof = proof;
        ch.etag = info.etag;
        if ((rc = ret_state_move(r->pg, ev.event_id, &ch, err)) != 0)
            goto out;
    }
    if ((rc = ret_state_get(r->pg, ev.event_id, &ev, err)) != 0)
        goto out;
    ts_fault("retention.before_drop"); /* confirmed and verified, not dropped */
    rc = drop_chunk(r, &ev, err);
out:
    ts_log_context("event_id", NULL);
    ts_free(file_proof);
    ts_free(path);
    return rc;
}

/* drop_chunk for one row; a chunk that left the archived state meanwhile is skipped. */
static int drop_due(ret *r, const ret_event *ev, ts_err *err)
{
    return ev->state == RET_ARCHIVED ? drop_chunk(r, ev, err) : 0;
}

int ret_retry_drops(ret *r, ts_err *err)
{
    ret_ids ids;
    int rc = ret_state_due_drops(r->pg, &ids, err);
    if (rc == 0)
        rc = for_each(r, &ids, drop_due, err);
    ret_ids_free(&ids);
    return rc;
}

int ret_pending(ret *r, int64_t *n, ts_err *err)
{
    return ret_state_pending(r->pg, r->cfg->retention.max_attempts, n, err);
}
