/* test_tsdb_unit.c: the TimescaleDB decisions that need no server: integer time units
 * (conversion, rounding, saturation, inferring a unit from integer_now()), interval
 * arithmetic as PostgreSQL does it in UTC, the continuous-aggregate hold-back decision
 * against catalog rows as TimescaleDB 2.x writes them, and tables[].time_unit in the
 * config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/tstime.h"
#include "pg/cagg.h"
#include "pg/discover.h"
#include "pg/inttime.h"

#define US_DAY INT64_C(86400000000)
#define US_HOUR INT64_C(3600000000)

static int64_t at(const char *rfc3339)
{
    int64_t us = 0;
    assert_null(ts_time_scan(rfc3339, 0, &us));
    return us;
}

/* ---- integer time ---- */

static void test_units(void **state)
{
    (void)state;
    int64_t us = 0, v = 0;
    assert_true(pg_int_to_us(1704067200, TS_TIME_UNIT_SECONDS, false, &us));
    assert_int_equal(us, at("2024-01-01T00:00:00Z"));
    assert_true(pg_int_to_us(1704067200123, TS_TIME_UNIT_MILLISECONDS, false, &us));
    assert_int_equal(us, at("2024-01-01T00:00:00.123Z"));
    assert_true(pg_int_to_us(7, TS_TIME_UNIT_MICROSECONDS, false, &us));
    assert_int_equal(us, 7);
    /* nanoseconds: a start rounds down, an exclusive end rounds up (the time range
     * covers the integer range), negative values too */
    assert_true(pg_int_to_us(1999, TS_TIME_UNIT_NANOSECONDS, false, &us));
    assert_int_equal(us, 1);
    assert_true(pg_int_to_us(1999, TS_TIME_UNIT_NANOSECONDS, true, &us));
    assert_int_equal(us, 2);
    assert_true(pg_int_to_us(-1, TS_TIME_UNIT_NANOSECONDS, false, &us));
    assert_int_equal(us, -1);
    assert_true(pg_int_to_us(-1, TS_TIME_UNIT_NANOSECONDS, true, &us));
    assert_int_equal(us, 0);
    assert_true(pg_int_to_us(-1000, TS_TIME_UNIT_NANOSECONDS, true, &us));
    assert_int_equal(us, -1);
    /* out of range and no unit */
    assert_false(pg_int_to_us(INT64_MAX / 1000, TS_TIME_UNIT_SECONDS, false, &us));
    assert_false(pg_int_to_us(1, TS_TIME_UNIT_NONE, false, &us));
    /* back */
    assert_true(pg_us_to_int(at("2024-01-01T00:00:00.999999Z"), TS_TIME_UNIT_SECONDS, &v));
    assert_int_equal(v, 1704067200);
    assert_true(pg_us_to_int(-1, TS_TIME_UNIT_MILLISECONDS, &v));
    assert_int_equal(v, -1);
    assert_true(pg_us_to_int(INT64_MAX / 10, TS_TIME_UNIT_NANOSECONDS, &v));
    assert_int_equal(v, INT64_MAX);
    /* a retention period in units; saturating */
    assert_int_equal(pg_days_in_unit(730, TS_TIME_UNIT_SECONDS), INT64_C(730) * 86400);
    assert_int_equal(pg_days_in_unit(365000, TS_TIME_UNIT_NANOSECONDS), INT64_MAX);
    assert_int_equal(pg_sat_sub(INT64_MIN + 5, 10), INT64_MIN);
    assert_int_equal(pg_sat_add(INT64_MAX - 5, 10), INT64_MAX);
}

static void test_infer(void **state)
{
    (void)state;
    int64_t now = at("2026-06-01T12:00:00Z"), s = now / 1000000;
    assert_int_equal(pg_int_infer_unit(s, now), TS_TIME_UNIT_SECONDS);
    assert_int_equal(pg_int_infer_unit(s * 1000 + 5, now), TS_TIME_UNIT_MILLISECONDS);
    assert_int_equal(pg_int_infer_unit(now, now), TS_TIME_UNIT_MICROSECONDS);
    assert_int_equal(pg_int_infer_unit(now * 1000, now), TS_TIME_UNIT_NANOSECONDS);
    /* max(time) of a table written to until 200 days ago: still its unit */
    assert_int_equal(pg_int_infer_unit(s - 200 * 86400, now), TS_TIME_UNIT_SECONDS);
    /* a counter, a table stale for two years, a value in the future: no unit */
    assert_int_equal(pg_int_infer_unit(42, now), TS_TIME_UNIT_NONE);
    assert_int_equal(pg_int_infer_unit(s - 2 * 366 * 86400, now), TS_TIME_UNIT_NONE);
    assert_int_equal(pg_int_infer_unit(s + 3 * 86400, now), TS_TIME_UNIT_NONE);
    /* a configured unit that does not fit integer_now(): milliseconds read as seconds
     * land 50,000 years ahead */
    assert_false(
        pg_int_now_plausible(s * 1000, TS_TIME_UNIT_SECONDS, now, 20 * 366 * US_DAY, US_DAY));
    assert_true(pg_int_now_plausible(s, TS_TIME_UNIT_SECONDS, now, 20 * 366 * US_DAY, US_DAY));
}

/* ---- intervals ---- */

static void test_interval(void **state)
{
    (void)state;
    pg_interval mon = {1, 0, 0}, day = {0, 1, 0}, mixed = {1, 2, 3 * US_HOUR};
    /* the day clamps to the month's length, as timestamptz + interval in UTC */
    assert_int_equal(pg_interval_add(at("2024-01-31T10:00:00Z"), &mon), at("2024-02-29T10:00:00Z"));
    assert_int_equal(pg_interval_add(at("2023-01-31T00:00:00Z"), &mon), at("2023-02-28T00:00:00Z"));
    assert_int_equal(pg_interval_add(at("2024-12-15T00:00:00Z"), &mon), at("2025-01-15T00:00:00Z"));
    assert_int_equal(pg_interval_sub(at("2024-03-31T00:00:00Z"), &mon), at("2024-02-29T00:00:00Z"));
    assert_int_equal(pg_interval_sub(at("2024-01-15T00:00:00Z"), &mon), at("2023-12-15T00:00:00Z"));
    assert_int_equal(pg_interval_add(at("2024-02-28T23:00:00Z"), &day), at("2024-02-29T23:00:00Z"));
    assert_int_equal(pg_interval_add(at("2024-01-01T00:00:00Z"), &mixed),
                     at("2024-02-03T03:00:00Z"));
    pg_interval years = {12 * 3, 0, 0};
    assert_int_equal(pg_interval_add(at("1969-06-30T00:00:00Z"), &years),
                     at("1972-06-30T00:00:00Z"));
    /* saturation */
    pg_interval huge = {0, 0, INT64_MAX};
    assert_int_equal(pg_interval_add(at("2024-01-01T00:00:00Z"), &huge), INT64_MAX);
}

/* ---- continuous aggregates ---- */

/* A raw chunk of "public"."raw" ending at end (time) */
static pg_chunk chunk_at(int64_t start, int64_t end)
{
    pg_chunk ch;
    memset(&ch, 0, sizeof ch);
    ch.table_schema = "public";
    ch.table_name = "raw";
    ch.has_start = ch.has_end = true;
    ch.start_us = start;
    ch.end_us = end;
    return ch;
}

static pg_cagg cagg_on(const char *view, uint32_t type, int64_t watermark)
{
    pg_cagg a;
    memset(&a, 0, sizeof a);
    snprintf(a.raw_schema, sizeof a.raw_schema, "public");
    snprintf(a.raw_table, sizeof a.raw_table, "raw");
    snprintf(a.view_schema, sizeof a.view_schema, "public");
    snprintf(a.view_name, sizeof a.view_name, "%s", view);
    a.mat_hypertable_id = 7;
    a.time_type = type;
    a.has_watermark = true;
    a.watermark = watermark;
    return a;
}

static void test_cagg_watermark(void **state)
{
    (void)state;
    int64_t now = at("2026-06-01T00:00:00Z");
    pg_caggs *cs = pg_caggs_new();
    pg_cagg_hold_info h;
    ts_err err;
    pg_chunk ch = chunk_at(at("2024-01-01T00:00:00Z"), at("2024-01-02T00:00:00Z"));
    assert_non_null(cs);
    /* no aggregate on the table: nothing holds */
    pg_cagg_decide(cs, &ch, now, &h);
    assert_int_equal(h.kind, PG_HOLD_NONE);
    /* an aggregate created WITH NO DATA and never refreshed: TimescaleDB's watermark is
     * the minimum time (-210866803200000000): held, with no time it would end */
    pg_cagg a = cagg_on("hourly", 1184, INT64_C(-210866803200000000));
    assert_int_equal(pg_caggs_add(cs, &a, &err), 0);
    pg_cagg_decide(cs, &ch, now, &h);
    assert_int_equal(h.kind, PG_HOLD_INDEFINITE);
    assert_string_equal(h.cagg_name, "hourly");
    assert_int_equal(h.job_id, 0);
    assert_non_null(strstr(h.reason, "has not materialized"));
    assert_non_null(strstr(h.reason, "refresh_continuous_aggregate"));
    /* materialized up to exactly the chunk's end: free */
    pg_caggs_free(cs);
    cs = pg_caggs_new();
    a = cagg_on("hourly", 1184, ch.end_us);
    assert_int_equal(pg_caggs_add(cs, &a, &err), 0);
    pg_cagg_decide(cs, &ch, now, &h);
    assert_int_equal(h.kind, PG_HOLD_NONE);
    /* a chunk of another hypertable is not held by it */
    pg_chunk other = ch;
    other.table_name = "other";
    other.end_us = at("2027-01-01T00:00:00Z");
    pg_cagg_decide(cs, &other, now, &h);
    assert_int_equal(h.kind, PG_HOLD_NONE);
    /* a chunk without an end is never held (it never expires either) */
    pg_chunk open = ch;
    open.has_end = false;
    pg_cagg_decide(cs, &open, now, &h);
    assert_int_equal(h.kind, PG_HOLD_NONE);
    pg_caggs_free(cs);
}

static void test_cagg_policy(void **state)
{
    (void)state;
    int64_t now = at("2026-06-01T00:00:00Z");
    pg_caggs *cs = pg_caggs_new();
    pg_cagg_hold_info h;
    ts_err err;
    /* add_continuous_aggregate_policy(start_offset => '1 month', end_offset => '1 hour'):
     * config {"end_offset": "01:00:00", "start_offset": "1 mon", "mat_hypertable_id": 7} */
    pg_cagg_policy p = {
        .job_id = 1000, .scheduled = true, .start = {1, 0, 0}, .end = {0, 0, US_HOUR}};
    pg_cagg a = cagg_on("daily", 1184, now - US_HOUR);
    a.policies = &p;
    a.npolicies = 1;
    assert_int_equal(pg_caggs_add(cs, &a, &err), 0);
    /* a chunk ending 10 days ago: inside the window [now - 1 month, now - 1 hour) */
    pg_chunk recent = chunk_at(now - 11 * US_DAY, now - 10 * US_DAY);
    pg_cagg_decide(cs, &recent, now, &h);
    assert_int_equal(h.kind, PG_HOLD_UNTIL);
    assert_int_equal(h.job_id, 1000);
    /* until its end + 1 month (calendar) + 1 hour of DST slack */
    assert_int_equal(h.until_us, at("2026-06-22T01:00:00Z"));
    assert_non_null(strstr(h.reason, "job 1000"));
    assert_non_null(strstr(h.reason, "1 mon"));
    assert_non_null(strstr(h.reason, "2026-06-22T01:00:00Z"));
    /* a chunk ending 2 months ago: the window left it: free */
    pg_chunk old = chunk_at(now - 70 * US_DAY, now - 60 * US_DAY);
    pg_cagg_decide(cs, &old, now, &h);
    assert_int_equal(h.kind, PG_HOLD_NONE);
    /* the boundary: end + 1 mon + 1 h == now is free, a microsecond later is not */
    int64_t now_e = at("2026-05-31T00:00:00Z");
    pg_chunk edge = chunk_at(0, at("2026-04-30T23:00:00Z"));
    pg_cagg_decide(cs, &edge, now_e, &h);
    assert_int_equal(h.kind, PG_HOLD_NONE);
    edge.end_us += 1;
    pg_cagg_decide(cs, &edge, now_e, &h);
    assert_int_equal(h.kind, PG_HOLD_UNTIL);
    pg_caggs_free(cs);

    /* not materialized yet, but the policy's window will reach it: held until the window
     * leaves it, and the reason says it is not materialized */
    cs = pg_caggs_new();
    a.watermark = now - 30 * US_DAY;
    assert_int_equal(pg_caggs_add(cs, &a, &err), 0);
    pg_cagg_decide(cs, &recent, now, &h);
    assert_int_equal(h.kind, PG_HOLD_UNTIL);
    assert_non_null(strstr(h.reason, "not materialized yet"));
    /* not materialized and the window has passed it: nothing will materialize it */
    pg_chunk stale = chunk_at(now - 61 * US_DAY, now - 60 * US_DAY);
    pg_caggs_free(cs);
    cs = pg_caggs_new();
    a.watermark = now - 90 * US_DAY;
    assert_int_equal(pg_caggs_add(cs, &a, &err), 0);
    pg_cagg_decide(cs, &stale, now, &h);
    assert_int_equal(h.kind, PG_HOLD_INDEFINITE);
    assert_non_null(strstr(h.reason, "no refresh policy will"));
    pg_caggs_free(cs);

    /* start_offset NULL (config {"start_offset": null, ...}): the policy refreshes from the
     * beginning of time, held for as long as it stays so; a paused policy too */
    cs = pg_caggs_new();
    pg_cagg_policy all = {.job_id = 1001, .scheduled = false, .start_null = true, .end_null = true};
    pg_cagg b = cagg_on("weekly", 1184, INT64_MAX);
    b.policies = &all;
    b.npolicies = 1;
    assert_int_equal(pg_caggs_add(cs, &b, &err), 0);
    pg_cagg_decide(cs, &old, now, &h);
    assert_int_equal(h.kind, PG_HOLD_INDEFINITE);
    assert_int_equal(h.job_id, 1001);
    assert_non_null(strstr(h.reason, "paused"));
    assert_non_null(strstr(h.reason, "no start_offset"));
    pg_caggs_free(cs);
}

static void test_cagg_several(void **state)
{
    (void)state;
    int64_t now = at("2026-06-01T00:00:00Z");
    pg_caggs *cs = pg_caggs_new();
    pg_cagg_hold_info h;
    ts_err err;
    pg_cagg_policy p7 = {.job_id = 1, .scheduled = true, .start = {0, 7, 0}};
    pg_cagg_policy p30 = {.job_id = 2, .scheduled = true, .start = {0, 30, 0}};
    pg_cagg a = cagg_on("a", 1184, INT64_MAX), b = cagg_on("b", 1184, INT64_MAX);
    a.policies = &p7;
    a.npolicies = 1;
    b.policies = &p30;
    b.npolicies = 1;
    assert_int_equal(pg_caggs_add(cs, &a, &err), 0);
    assert_int_equal(pg_caggs_add(cs, &b, &err), 0);
    pg_chunk ch = chunk_at(now - 4 * US_DAY, now - 3 * US_DAY);
    /* both hold it; the later "until" (b's) is the answer */
    pg_cagg_decide(cs, &ch, now, &h);
    assert_int_equal(h.kind, PG_HOLD_UNTIL);
    assert_int_equal(h.nheld, 2);
    assert_string_equal(h.cagg_name, "b");
    assert_int_equal(h.until_us, now - 3 * US_DAY + 30 * US_DAY + US_HOUR);
    assert_non_null(strstr(h.reason, "and 1 other aggregate"));
    /* 10 days ago: only b */
    ch = chunk_at(now - 11 * US_DAY, now - 10 * US_DAY);
    pg_cagg_decide(cs, &ch, now, &h);
    assert_int_equal(h.nheld, 1);
    assert_string_equal(h.cagg_name, "b");
    pg_caggs_free(cs);

    /* timestamp (without time zone) and date aggregates: the worker's wall clock may be
     * 12 hours behind UTC, so 13 hours of slack */
    cs = pg_caggs_new();
    pg_cagg t = cagg_on("ts", 1114, INT64_MAX);
    t.policies = &p7;
    t.npolicies = 1;
    assert_int_equal(pg_caggs_add(cs, &t, &err), 0);
    ch = chunk_at(now - 4 * US_DAY, now - 3 * US_DAY);
    pg_cagg_decide(cs, &ch, now, &h);
    assert_int_equal(h.until_us, now - 3 * US_DAY + 7 * US_DAY + 13 * US_HOUR);
    pg_caggs_free(cs);
}

static void test_cagg_integer(void **state)
{
    (void)state;
    pg_caggs *cs = pg_caggs_new();
    pg_cagg_hold_info h;
    ts_err err;
    /* add_continuous_aggregate_policy(start_offset => 100, end_offset => 10) on an
     * integer aggregate: config {"end_offset": 10, "start_offset": 100, ...} */
    pg_cagg_policy p = {.job_id = 5, .scheduled = true, .start_int = 100, .end_int = 10};
    pg_cagg a = cagg_on("ints", 20, 990);
    a.has_now_int = true;
    a.now_int = 1000;
    a.policies = &p;
    a.npolicies = 1;
    assert_int_equal(pg_caggs_add(cs, &a, &err), 0);
    pg_chunk ch;
    memset(&ch, 0, sizeof ch);
    ch.table_schema = "public";
    ch.table_name = "raw";
    ch.integer_range = ch.has_start = ch.has_end = true;
    ch.start_int = 900;
    ch.end_int = 950; /* window starts at 1000 - 100 = 900 */
    pg_cagg_decide(cs, &ch, 0, &h);
    assert_int_equal(h.kind, PG_HOLD_UNTIL);
    assert_true(h.until_int_only); /* the unit is unknown */
    assert_int_equal(h.until_int, 1050);
    assert_non_null(strstr(h.reason, "integer_now() reaches 1050"));
    /* with a unit, the time too */
    ch.time_known = true;
    ch.time_unit = TS_TIME_UNIT_SECONDS;
    pg_cagg_decide(cs, &ch, 0, &h);
    assert_false(h.until_int_only);
    assert_int_equal(h.until_us, INT64_C(1050) * 1000000);
    /* left of the window: free */
    ch.end_int = 900;
    pg_cagg_decide(cs, &ch, 0, &h);
    assert_int_equal(h.kind, PG_HOLD_NONE);
    /* integer_now() did not answer: the window is unknown */
    pg_caggs_free(cs);
    cs = pg_caggs_new();
    a.has_now_int = false;
    assert_int_equal(pg_caggs_add(cs, &a, &err), 0);
    pg_cagg_decide(cs, &ch, 0, &h);
    assert_int_equal(h.kind, PG_HOLD_INDEFINITE);
    pg_caggs_free(cs);
}

/* ---- config ---- */

static void test_config_time_unit(void **state)
{
    (void)state;
    char path[64];
    ts_err err;
    snprintf(path, sizeof path, "/tmp/tsarchive-tsdb-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("tables:\n  - name: public.ticks\n    time_unit: milliseconds\n"
          "  - name: public.other\n    retention_period_days: 10\n",
          f);
    assert_int_equal(fclose(f), 0);
    ts_config *c = ts_config_new();
    ts_err_clear(&err);
    assert_int_equal(ts_config_load(c, path, &err), 0);
    assert_int_equal(ts_config_time_unit(c, "public.ticks"), TS_TIME_UNIT_MILLISECONDS);
    assert_int_equal(ts_config_time_unit(c, "public.other"), TS_TIME_UNIT_NONE);
    assert_int_equal(ts_config_time_unit(c, "public.nothere"), TS_TIME_UNIT_NONE);
    ts_config_free(c);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("tables:\n  - name: public.ticks\n    time_unit: ms\n", f);
    assert_int_equal(fclose(f), 0);
    c = ts_config_new();
    ts_err_clear(&err);
    assert_int_not_equal(ts_config_load(c, path, &err), 0);
    assert_non_null(strstr(err.msg, ":3: key \"tables.time_unit\": expected seconds, milliseconds, "
                                    "microseconds or nanoseconds, got \"ms\""));
    ts_config_free(c);
    unlink(path);
    assert_string_equal(ts_time_unit_name(TS_TIME_UNIT_NANOSECONDS), "nanoseconds");
    assert_int_equal(ts_time_unit_parse("seconds"), TS_TIME_UNIT_SECONDS);
    assert_int_equal(ts_time_unit_parse("Seconds"), TS_TIME_UNIT_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_units),        cmocka_unit_test(test_infer),
        cmocka_unit_test(test_interval),     cmocka_unit_test(test_cagg_watermark),
        cmocka_unit_test(test_cagg_policy),  cmocka_unit_test(test_cagg_several),
        cmocka_unit_test(test_cagg_integer), cmocka_unit_test(test_config_time_unit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
