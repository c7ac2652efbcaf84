/* cagg.c: continuous aggregates: their catalog rows, read once, and the per-chunk
 * decision whether one of them holds a raw chunk back (cagg.h, docs/timescaledb.md). */
#include "cagg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/tstime.h"
#include "conn.h"
#include "inttime.h"

#define US_PER_HOUR INT64_C(3600000000)
#define US_PER_DAY (24 * US_PER_HOUR)

struct pg_caggs {
    pg_cagg *v;
    int n, cap;
};

pg_caggs *pg_caggs_new(void)
{
    return ts_calloc(1, sizeof(pg_caggs));
}

void pg_caggs_free(pg_caggs *cs)
{
    if (!cs)
        return;
    for (int i = 0; i < cs->n; i++)
        ts_free(cs->v[i].policies);
    ts_free(cs->v);
    ts_free(cs);
}

int pg_caggs_count(const pg_caggs *cs)
{
    return cs ? cs->n : 0;
}

const pg_cagg *pg_caggs_get(const pg_caggs *cs, int i)
{
    return cs && i >= 0 && i < cs->n ? &cs->v[i] : NULL;
}

int pg_caggs_add(pg_caggs *cs, const pg_cagg *a, ts_err *err)
{
    if (cs->n == cs->cap) {
        int cap = cs->cap ? cs->cap * 2 : 8;
        pg_cagg *v = ts_realloc(cs->v, (size_t)cap * sizeof *v);
        if (!v)
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        cs->v = v;
        cs->cap = cap;
    }
    pg_cagg *d = &cs->v[cs->n];
    *d = *a;
    d->policies = NULL;
    if (a->npolicies > 0) {
        d->policies = ts_malloc((size_t)a->npolicies * sizeof *d->policies);
        if (!d->policies)
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        memcpy(d->policies, a->policies, (size_t)a->npolicies * sizeof *d->policies);
    }
    cs->n++;
    return TS_OK;
}

/* ---- interval arithmetic, UTC ---- */

static int64_t sat_mul(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
    return r;
}

static int64_t add_months_days(int64_t ts, int32_t months, int32_t days)
{
    if (ts == INT64_MAX || ts == INT64_MIN)
        return ts;
    if (months) {
        ts_civil c;
        ts_civil_from_us(ts, &c);
        int64_t m = (int64_t)c.year * 12 + (c.month - 1) + months;
        int64_t y = m >= 0 ? m / 12 : -((-m + 11) / 12);
        int mon = (int)(m - y * 12) + 1;
        int dim = ts_civil_days_in_month(y, mon);
        int day = c.day > dim ? dim : c.day;
        int64_t tod = (((int64_t)c.hour * 60 + c.minute) * 60 + c.second) * 1000000 + c.usec;
        ts = pg_sat_add(sat_mul(ts_civil_to_days(y, mon, day), US_PER_DAY), tod);
    }
    return pg_sat_add(ts, sat_mul(days, US_PER_DAY));
}

int64_t pg_interval_add(int64_t ts_us, const pg_interval *iv)
{
    return pg_sat_add(add_months_days(ts_us, iv->months, iv->days), iv->us);
}

int64_t pg_interval_sub(int64_t ts_us, const pg_interval *iv)
{
    pg_interval n = {-iv->months, -iv->days, iv->us == INT64_MIN ? INT64_MAX : -iv->us};
    return pg_interval_add(ts_us, &n);
}

/* ---- the decision ---- */

static bool is_int_type(uint32_t t)
{
    return t == 20 || t == 21 || t == 23;
}

static void fmt_time(int64_t us, char *out, size_t n)
{
    if (ts_time_format(us, TS_TIME_ANY_YEAR, out, n) != 0)
        snprintf(out, n, "%" PRId64 " us", us);
}

/* "1 mon 2 days 03:00:00" (PostgreSQL's style, its own words kept short) */
static void fmt_interval(const pg_interval *iv, char *out, size_t n)
{
    size_t l = 0;
    out[0] = '\0';
    if (iv->months)
        l += (size_t)snprintf(out + l, n - l, "%" PRId32 " mon%s", iv->months,
                              iv->months == 1 || iv->months == -1 ? "" : "s");
    if (iv->days && l < n)
        l += (size_t)snprintf(out + l, n - l, "%s%" PRId32 " day%s", l ? " " : "", iv->days,
                              iv->days == 1 || iv->days == -1 ? "" : "s");
    if ((iv->us || !l) && l < n) {
        int64_t u = iv->us < 0 ? -iv->us : iv->us;
        l += (size_t)snprintf(out + l, n - l, "%s%s%02" PRId64 ":%02d:%02d", l ? " " : "",
                              iv->us < 0 ? "-" : "", u / US_PER_HOUR, (int)(u / 60000000 % 60),
                              (int)(u / 1000000 % 60));
        if (u % 1000000 && l < n)
            snprintf(out + l, n - l, ".%06d", (int)(u % 1000000));
    }
}

/* The slack added to a time aggregate's policy window: the background worker computes
 * now - start_offset in its own time zone, which the catalog does not tell. timestamptz:
 * the zone only moves months and days across a DST change (1 hour); timestamp and date
 * columns are read as the worker's wall clock, which is up to 12 hours behind UTC (and
 * 1 hour of DST). */
static int64_t slack_us(uint32_t type)
{
    return type == 1184 ? US_PER_HOUR : 13 * US_PER_HOUR;
}

/* One aggregate's hold on the chunk ending at end (its own units). */
typedef struct hold {
    pg_hold_kind kind;
    int job_id;
    int64_t until_us, until_int;
    bool int_only;
    char reason[512];
} hold;

static void better(hold *best, const hold *h)
{
    if (h->kind == PG_HOLD_NONE)
        return;
    if (best->kind == PG_HOLD_NONE || h->kind > best->kind ||
        (h->kind == PG_HOLD_UNTIL && best->kind == PG_HOLD_UNTIL &&
         (h->int_only ? h->until_int > best->until_int : h->until_us > best->until_us)))
        *best = *h;
}

static void decide_one(const pg_cagg *a, const pg_chunk *ch, int64_t now_us, hold *out)
{
    bool integer = is_int_type(a->time_type);
    int64_t end = integer ? ch->end_int : ch->end_us;
    char name[2 * PG_CAGG_NAME_MAX + 8], t[TS_TIME_MAX + 8], w[TS_TIME_MAX + 8];
    hold h;
    memset(out, 0, sizeof *out);
    snprintf(name, sizeof name, "\"%s\".\"%s\"", a->view_schema, a->view_name);
    if (integer) {
        snprintf(t, sizeof t, "%" PRId64, end);
        snprintf(w, sizeof w, "%" PRId64, a->watermark);
    } else {
        fmt_time(end, t, sizeof t);
        fmt_time(a->watermark, w, sizeof w);
    }
    /* policies first: a window that will still reach the range gives a time */
    bool reaches = false;
    for (int i = 0; i < a->npolicies; i++) {
        const pg_cagg_policy *p = &a->policies[i];
        memset(&h, 0, sizeof h);
        h.job_id = p->job_id;
        if (p->start_null) {
            h.kind = PG_HOLD_INDEFINITE;
            snprintf(h.reason, sizeof h.reason,
                     "continuous aggregate %s: its refresh policy (job %d%s) has no start_offset "
                     "and can refresh the chunk's range whenever it runs; held while the policy "
                     "stays as it is",
                     name, p->job_id, p->scheduled ? "" : ", paused");
            reaches = true;
        } else if (integer) {
            if (!a->has_now_int) {
                h.kind = PG_HOLD_INDEFINITE;
                snprintf(h.reason, sizeof h.reason,
                         "continuous aggregate %s: the integer_now function of its hypertable "
                         "did not answer, so the window of its refresh policy (job %d) is "
                         "unknown",
                         name, p->job_id);
                reaches = true;
            } else {
                h.until_int = pg_sat_add(end, p->start_int);
                if (h.until_int > a->now_int) {
                    h.kind = PG_HOLD_UNTIL;
                    reaches = true;
                    char u[TS_TIME_MAX + 8] = "";
                    h.int_only = !ch->time_known ||
                                 !pg_int_to_us(h.until_int, ch->time_unit, true, &h.until_us);
                    if (!h.int_only)
                        fmt_time(h.until_us, u, sizeof u);
                    snprintf(h.reason, sizeof h.reason,
                             "continuous aggregate %s: its refresh policy (job %d%s, start_offset "
                             "%" PRId64 ") can refresh the chunk's range (ending at %s) until "
                             "integer_now() reaches %" PRId64 "%s%s",
                             name, p->job_id, p->scheduled ? "" : ", paused", p->start_int, t,
                             h.until_int, h.int_only ? "" : ", about ", u);
                }
            }
        } else {
            h.until_us = pg_sat_add(pg_interval_add(end, &p->start), slack_us(a->time_type));
            if (h.until_us > now_us) {
                char u[TS_TIME_MAX + 8], iv[96];
                h.kind = PG_HOLD_UNTIL;
                reaches = true;
                fmt_time(h.until_us, u, sizeof u);
                fmt_interval(&p->start, iv, sizeof iv);
                snprintf(h.reason, sizeof h.reason,
                         "continuous aggregate %s: its refresh policy (job %d%s, start_offset %s) "
                         "can refresh the chunk's range (ending at %s) until %s",
                         name, p->job_id, p->scheduled ? "" : ", paused", iv, t, u);
            }
        }
        better(out, &h);
    }
    /* the watermark: a range not materialized yet would be materialized from nothing */
    if (!a->has_watermark || end > a->watermark) {
        memset(&h, 0, sizeof h);
        if (!reaches) {
            h.kind = PG_HOLD_INDEFINITE;
            if (a->has_watermark)
                snprintf(h.reason, sizeof h.reason,
                         "continuous aggregate %s has not materialized the chunk's range (ending "
                         "at %s; materialized up to %s) and no refresh policy will: refresh it "
                         "over the range (refresh_continuous_aggregate) to let the chunk go",
                         name, t, w);
            else
                snprintf(h.reason, sizeof h.reason,
                         "continuous aggregate %s: its watermark could not be read: the chunk's "
                         "range may not be materialized",
                         name);
            better(out, &h);
        } else if (out->kind == PG_HOLD_UNTIL) {
            /* the policy will materialize it on its way: say so */
            size_t l = strlen(out->reason);
            snprintf(out->reason + l, sizeof out->reason - l,
                     " (not materialized yet: materialized up to %s)", w);
        }
    }
}

void pg_cagg_decide(const pg_caggs *cs, const pg_chunk *ch, int64_t now_us, pg_cagg_hold_info *out)
{
    hold best, h;
    const pg_cagg *by = NULL;
    memset(out, 0, sizeof *out);
    memset(&best, 0, sizeof best);
    if (!cs || !ch->has_end || !ch->table_schema || !ch->table_name)
        return;
    for (int i = 0; i < cs->n; i++) {
        const pg_cagg *a = &cs->v[i];
        if (strcmp(a->raw_schema, ch->table_schema) != 0 ||
            strcmp(a->raw_table, ch->table_name) != 0)
            continue;
        if (is_int_type(a->time_type) != ch->integer_range)
            continue; /* cannot happen: the aggregate reads the chunk's own column */
        decide_one(a, ch, now_us, &h);
        if (h.kind == PG_HOLD_NONE)
            continue;
        out->nheld++;
        pg_hold_kind before = best.kind;
        int64_t bu = best.until_us, bi = best.until_int;
        better(&best, &h);
        if (best.kind != before || best.until_us != bu || best.until_int != bi)
            by = a;
    }
    if (!by)
        return;
    out->kind = best.kind;
    out->job_id = best.job_id;
    out->until_us = best.until_us;
    out->until_int = best.until_int;
    out->until_int_only = best.int_only;
    snprintf(out->cagg_schema, sizeof out->cagg_schema, "%s", by->view_schema);
    snprintf(out->cagg_name, sizeof out->cagg_name, "%s", by->view_name);
    if (out->nheld > 1)
        snprintf(out->reason, sizeof out->reason, "%s (and %d other aggregate%s)", best.reason,
                 out->nheld - 1, out->nheld > 2 ? "s" : "");
    else
        snprintf(out->reason, sizeof out->reason, "%s", best.reason);
}

/* ---- the catalog ---- */

static int load_policies(PGconn *c, pg_caggs *cs, ts_err *err)
{
    /* offsets: an interval string for time aggregates, a number for integer ones, JSON
     * null (or no key) for none */
    PGresult *r = pg_query(
        c,
        "SELECT j.id, (j.config->>'mat_hypertable_id')::int, j.scheduled,"
        "  coalesce(jsonb_typeof(j.config->'start_offset'), 'null'),"
        "  (extract(year FROM si) * 12 + extract(month FROM si))::int, extract(day FROM si)::int,"
        "  (extract(hour FROM si) * 3600000000 + extract(minute FROM si) * 60000000"
        "   + extract(microseconds FROM si))::bigint,"
        "  CASE WHEN jsonb_typeof(j.config->'start_offset') = 'number'"
        "   THEN (j.config->>'start_offset')::numeric::bigint END,"
        "  coalesce(jsonb_typeof(j.config->'end_offset'), 'null'),"
        "  (extract(year FROM ei) * 12 + extract(month FROM ei))::int, extract(day FROM ei)::int,"
        "  (extract(hour FROM ei) * 3600000000 + extract(minute FROM ei) * 60000000"
        "   + extract(microseconds FROM ei))::bigint,"
        "  CASE WHEN jsonb_typeof(j.config->'end_offset') = 'number'"
        "   THEN (j.config->>'end_offset')::numeric::bigint END"
        " FROM _timescaledb_config.bgw_job j"
        " CROSS JOIN LATERAL (SELECT"
        "   CASE WHEN jsonb_typeof(j.config->'start_offset') = 'string'"
        "    THEN (j.config->>'start_offset')::interval END AS si,"
        "   CASE WHEN jsonb_typeof(j.config->'end_offset') = 'string'"
        "    THEN (j.config->>'end_offset')::interval END AS ei) o"
        " WHERE j.proc_name = 'policy_refresh_continuous_aggregate'"
        "  AND j.config ? 'mat_hypertable_id'"
        " ORDER BY j.id",
        0, NULL, err);
    if (!r) {
        ts_err_prefix(err, "reading the refresh policies of continuous aggregates");
        return err->code;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        int mat = atoi(PQgetvalue(r, i, 1));
        pg_cagg *a = NULL;
        for (int k = 0; k < cs->n && !a; k++)
            if (cs->v[k].mat_hypertable_id == mat)
                a = &cs->v[k];
        if (!a)
            continue; /* a policy of an aggregate dropped meanwhile */
        pg_cagg_policy *p = ts_realloc(a->policies, (size_t)(a->npolicies + 1) * sizeof *p);
        if (!p) {
            PQclear(r);
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        }
        a->policies = p;
        p = &a->policies[a->npolicies++];
        memset(p, 0, sizeof *p);
        p->job_id = atoi(PQgetvalue(r, i, 0));
        p->scheduled = PQgetvalue(r, i, 2)[0] == 't';
        /* a type the policy cannot have (or a number on a time aggregate) counts as NULL:
         * the widest window, the safe side */
        const char *st = PQgetvalue(r, i, 3), *et = PQgetvalue(r, i, 8);
        bool integer = is_int_type(a->time_type);
        p->start_null = integer ? strcmp(st, "number") != 0 : strcmp(st, "string") != 0;
        p->end_null = integer ? strcmp(et, "number") != 0 : strcmp(et, "string") != 0;
        if (!p->start_null && integer)
            p->start_int = strtoll(PQgetvalue(r, i, 7), NULL, 10);
        else if (!p->start_null) {
            p->start.months = atoi(PQgetvalue(r, i, 4));
            p->start.days = atoi(PQgetvalue(r, i, 5));
            p->start.us = strtoll(PQgetvalue(r, i, 6), NULL, 10);
        }
        if (!p->end_null && integer)
            p->end_int = strtoll(PQgetvalue(r, i, 12), NULL, 10);
        else if (!p->end_null) {
            p->end.months = atoi(PQgetvalue(r, i, 9));
            p->end.days = atoi(PQgetvalue(r, i, 10));
            p->end.us = strtoll(PQgetvalue(r, i, 11), NULL, 10);
        }
    }
    PQclear(r);
    return TS_OK;
}

/* integer_now() of each integer aggregate's hypertable, in a savepoint inside a caller's
 * transaction (a failing function then aborts nothing of theirs). */
static int load_now(PGconn *c, pg_caggs *cs, PGresult *rows, ts_err *err)
{
    bool in_tx = PQtransactionStatus(c) == PQTRANS_INTRANS;
    int rc;
    for (int i = 0; i < cs->n; i++) {
        pg_cagg *a = &cs->v[i];
        if (!is_int_type(a->time_type) || PQgetisnull(rows, i, 7) || PQgetisnull(rows, i, 8))
            continue;
        char *fn = pg_qualified_name(c, PQgetvalue(rows, i, 7), PQgetvalue(rows, i, 8), err);
        char sql[600];
        ts_err e;
        if (!fn)
            return err->code;
        snprintf(sql, sizeof sql, "SELECT (%s())::bigint", fn);
        ts_free(fn);
        ts_err_clear(&e);
        if (in_tx && (rc = pg_exec(c, "SAVEPOINT tsarchive_cagg_now", err)) != 0)
            return rc;
        PGresult *r = pg_query(c, sql, 0, NULL, &e);
        a->has_now_int = r && !PQgetisnull(r, 0, 0);
        a->now_int = a->has_now_int ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
        PQclear(r);
        if (!r && PQstatus(c) != CONNECTION_OK)
            return ts_err_set(err, e.code, "%s", e.msg);
        if (in_tx && (rc = pg_exec(c,
                                   a->has_now_int ? "RELEASE SAVEPOINT tsarchive_cagg_now"
                                                  : "ROLLBACK TO SAVEPOINT tsarchive_cagg_now",
                                   err)) != 0)
            return rc;
    }
    return TS_OK;
}

int pg_caggs_load(PGconn *c, pg_caggs **out, ts_err *err)
{
    pg_caggs *cs = pg_caggs_new();
    PGresult *r = NULL;
    char sql[3000];
    int rc = TS_OK;
    *out = NULL;
    if (!cs)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    r = pg_query(c,
                 "SELECT to_regclass('_timescaledb_catalog.continuous_agg') IS NOT NULL,"
                 " to_regclass('_timescaledb_catalog.continuous_aggs_watermark') IS NOT NULL,"
                 " to_regprocedure('_timescaledb_functions.cagg_watermark(integer)') IS NOT NULL,"
                 " to_regprocedure('_timescaledb_internal.cagg_watermark(integer)') IS NOT NULL,"
                 " to_regclass('_timescaledb_config.bgw_job') IS NOT NULL",
                 0, NULL, err);
    if (!r) {
        rc = err->code;
        goto out;
    }
    bool have = PQgetvalue(r, 0, 0)[0] == 't', table = PQgetvalue(r, 0, 1)[0] == 't',
         fn_new = PQgetvalue(r, 0, 2)[0] == 't', fn_old = PQgetvalue(r, 0, 3)[0] == 't',
         jobs = PQgetvalue(r, 0, 4)[0] == 't';
    PQclear(r);
    r = NULL;
    if (!have)
        goto out;
    /* the watermark: the catalog table from 2.11 on, the function before */
    const char *wm =
        table    ? "(SELECT w.watermark FROM _timescaledb_catalog.continuous_aggs_watermark w"
                   " WHERE w.mat_hypertable_id = ca.mat_hypertable_id)"
        : fn_new ? "_timescaledb_functions.cagg_watermark(ca.mat_hypertable_id)"
        : fn_old ? "_timescaledb_internal.cagg_watermark(ca.mat_hypertable_id)"
                 : "NULL::bigint";
    snprintf(sql, sizeof sql,
             "SELECT ca.mat_hypertable_id, rh.schema_name, rh.table_name, ca.user_view_schema,"
             "  ca.user_view_name, d.column_type::oid, %s,"
             "  coalesce(md.integer_now_func_schema, d.integer_now_func_schema),"
             "  coalesce(md.integer_now_func, d.integer_now_func)"
             " FROM _timescaledb_catalog.continuous_agg ca"
             " JOIN _timescaledb_catalog.hypertable rh ON rh.id = ca.raw_hypertable_id"
             " CROSS JOIN LATERAL (SELECT * FROM _timescaledb_catalog.dimension x"
             "  WHERE x.hypertable_id = rh.id ORDER BY x.id LIMIT 1) d"
             " LEFT JOIN LATERAL (SELECT * FROM _timescaledb_catalog.dimension x"
             "  WHERE x.hypertable_id = ca.mat_hypertable_id AND x.integer_now_func IS NOT NULL"
             "  ORDER BY x.id LIMIT 1) md ON true"
             " ORDER BY ca.mat_hypertable_id",
             wm);
    r = pg_query(c, sql, 0, NULL, err);
    if (!r) {
        rc = err->code;
        ts_err_prefix(err, "reading continuous aggregates");
        goto out;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        pg_cagg a;
        memset(&a, 0, sizeof a);
        a.mat_hypertable_id = atoi(PQgetvalue(r, i, 0));
        snprintf(a.raw_schema, sizeof a.raw_schema, "%s", PQgetvalue(r, i, 1));
        snprintf(a.raw_table, sizeof a.raw_table, "%s", PQgetvalue(r, i, 2));
        snprintf(a.view_schema, sizeof a.view_schema, "%s", PQgetvalue(r, i, 3));
        snprintf(a.view_name, sizeof a.view_name, "%s", PQgetvalue(r, i, 4));
        a.time_type = (uint32_t)strtoul(PQgetvalue(r, i, 5), NULL, 10);
        a.has_watermark = !PQgetisnull(r, i, 6);
        a.watermark = a.has_watermark ? strtoll(PQgetvalue(r, i, 6), NULL, 10) : 0;
        if ((rc = pg_caggs_add(cs, &a, err)) != 0)
            goto out;
    }
    if ((rc = load_now(c, cs, r, err)) != 0)
        goto out;
    if (jobs && (rc = load_policies(c, cs, err)) != 0)
        goto out;
out:
    PQclear(r);
    if (rc) {
        pg_caggs_free(cs);
        return rc;
    }
    *out = cs;
    return TS_OK;
}

int pg_cagg_hold(PGconn *c, const pg_chunk *ch, pg_cagg_hold_info *out, ts_err *err)
{
    pg_caggs *cs = NULL;
    PGresult *r;
    int rc;
    memset(out, 0, sizeof *out);
    r = pg_query(c, "SELECT (extract(epoch FROM now()) * 1000000)::bigint", 0, NULL, err);
    if (!r)
        return err->code;
    int64_t now_us = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if ((rc = pg_caggs_load(c, &cs, err)) != 0)
        return rc;
    pg_cagg_decide(cs, ch, now_us, out);
    pg_caggs_free(cs);
    return TS_OK;
}
