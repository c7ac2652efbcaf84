/* test_tstime.c: the time module, byte-exact: the calendar against glibc's gmtime_r
 * for every day of 0001..9999, leap years, the 1582 / 0001 / 9999 edges, int64
 * extremes, negative times, fractions, offsets, the strict and lenient RFC 3339
 * forms, the compact form, and every rejection with its reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/tstime.h"

#define S TS_TIME_LENIENT

/* assert_int_equal prints as unsigned long: these print int64 values as they are */
#define ASSERT_I64(a, b)                                                                           \
    do {                                                                                           \
        int64_t _a = (a), _b = (b);                                                                \
        if (_a != _b) {                                                                            \
            print_error("%s:%d: %s == %s: %lld != %lld\n", __FILE__, __LINE__, #a, #b,             \
                        (long long)_a, (long long)_b);                                             \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

static void t_leap_years(void **state)
{
    (void)state;
    assert_true(ts_civil_is_leap(2000));
    assert_true(ts_civil_is_leap(2024));
    assert_true(ts_civil_is_leap(1600));
    assert_true(ts_civil_is_leap(0)); /* 1 BC */
    assert_true(ts_civil_is_leap(-4));
    assert_false(ts_civil_is_leap(1900));
    assert_false(ts_civil_is_leap(2100));
    assert_false(ts_civil_is_leap(2023));
    assert_false(ts_civil_is_leap(-1));
    assert_int_equal(ts_civil_days_in_month(2024, 2), 29);
    assert_int_equal(ts_civil_days_in_month(1900, 2), 28);
    assert_int_equal(ts_civil_days_in_month(2023, 4), 30);
    assert_int_equal(ts_civil_days_in_month(2023, 12), 31);
    assert_int_equal(ts_civil_days_in_month(2023, 0), 0);
    assert_int_equal(ts_civil_days_in_month(2023, 13), 0);
}

/* Every day of 0001..9999 against glibc (proleptic Gregorian too), both ways. */
static void t_calendar_against_libc(void **state)
{
    (void)state;
    int64_t first = ts_civil_to_days(1, 1, 1), last = ts_civil_to_days(9999, 12, 31);
    ASSERT_I64(first, -719162);
    ASSERT_I64(last, 2932896);
    ASSERT_I64(ts_civil_to_days(1970, 1, 1), 0);
    ASSERT_I64(ts_civil_to_days(1970, 1, 0), -1); /* day 0: the last of the month before */
    for (int64_t d = first; d <= last; d++) {
        time_t t = (time_t)(d * 86400);
        struct tm tm;
        int64_t y;
        int m, day;
        assert_non_null(gmtime_r(&t, &tm));
        ts_civil_from_days(d, &y, &m, &day);
        if (y != tm.tm_year + 1900 || m != tm.tm_mon + 1 || day != tm.tm_mday)
            fail_msg("day %lld: %lld-%d-%d, libc %d-%d-%d", (long long)d, (long long)y, m, day,
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        if (ts_civil_to_days(y, m, day) != d)
            fail_msg("day %lld does not round-trip", (long long)d);
    }
}

static void t_year(void **state)
{
    (void)state;
    char y[24];
    assert_string_equal(ts_civil_year(2024, y), "2024");
    assert_string_equal(ts_civil_year(42, y), "0042");
    assert_string_equal(ts_civil_year(0, y), "0000");
    assert_string_equal(ts_civil_year(9999, y), "9999");
    assert_string_equal(ts_civil_year(-1, y), "-0001");
    assert_string_equal(ts_civil_year(10000, y), "+10000");
    assert_string_equal(ts_civil_year(-290308, y), "-290308");
}

static void t_split(void **state)
{
    (void)state;
    ts_civil c;
    ts_civil_from_us(-1, &c); /* negative times count back */
    assert_true(c.year == 1969 && c.month == 12 && c.day == 31);
    assert_true(c.hour == 23 && c.minute == 59 && c.second == 59 && c.usec == 999999);
    ts_civil_from_us(INT64_MAX, &c);
    assert_true(c.year == 294247 && c.month == 1 && c.day == 10);
    assert_true(c.hour == 4 && c.minute == 0 && c.second == 54 && c.usec == 775807);
    ts_civil_from_us(INT64_MIN, &c);
    assert_true(c.year == -290308 && c.month == 12 && c.day == 21);
    assert_true(c.hour == 19 && c.minute == 59 && c.second == 5 && c.usec == 224192);
    ts_civil_from_us(INT64_C(-12219292800000000), &c); /* the Gregorian reform: 1582-10-15 */
    assert_true(c.year == 1582 && c.month == 10 && c.day == 15 && c.hour == 0);
}

typedef struct vec {
    const char *in;
    unsigned flags;
    int64_t us;
    const char *out; /* ts_time_format's text */
} vec;

static void t_parse_and_format(void **state)
{
    (void)state;
    static const vec v[] = {
        {"1970-01-01T00:00:00Z", 0, 0, "1970-01-01T00:00:00Z"},
        {"1970-01-01T00:00:00.000001Z", 0, 1, "1970-01-01T00:00:00.000001Z"},
        {"1969-12-31T23:59:59.999999Z", 0, -1, "1969-12-31T23:59:59.999999Z"},
        {"1969-12-31T23:59:58.5Z", 0, -1500000, "1969-12-31T23:59:58.500000Z"},
        {"2000-02-29T00:00:00Z", 0, INT64_C(951782400000000), "2000-02-29T00:00:00Z"},
        {"1600-02-29T12:00:00Z", 0, INT64_C(-11670955200000000), "1600-02-29T12:00:00Z"},
        {"2100-03-01T00:00:00Z", 0, INT64_C(4107542400000000), "2100-03-01T00:00:00Z"},
        /* 1582: proleptic, so the ten days the reform skipped exist */
        {"1582-10-10T00:00:00Z", 0, INT64_C(-12219724800000000), "1582-10-10T00:00:00Z"},
        {"1582-10-04T23:59:59.999999Z", 0, INT64_C(-12220156800000001),
         "1582-10-04T23:59:59.999999Z"},
        {"1582-10-15T00:00:00Z", 0, INT64_C(-12219292800000000), "1582-10-15T00:00:00Z"},
        /* the edges of the strict form */
        {"0001-01-01T00:00:00Z", 0, TS_TIME_MIN_US, "0001-01-01T00:00:00Z"},
        {"9999-12-31T23:59:59.999999Z", 0, TS_TIME_MAX_US, "9999-12-31T23:59:59.999999Z"},
        {"0001-01-01T00:00:00-00:01", 0, TS_TIME_MIN_US + 60000000, "0001-01-01T00:01:00Z"},
        /* offsets, lower case 't' and 'z', fractions of 1..6 digits */
        {"2024-01-01t01:00:00.5+01:00", 0, INT64_C(1704067200500000),
         "2024-01-01T00:00:00.500000Z"},
        {"2024-02-29T12:00:00.123456-05:30", 0, INT64_C(1709227800123456),
         "2024-02-29T17:30:00.123456Z"},
        {"2024-01-01T00:00:00+23:59", 0, INT64_C(1703980860000000), "2023-12-31T00:01:00Z"},
        {"2024-01-01T00:00:00-00:00z", 0, 0, NULL}, /* see the rejections */
        {"2024-01-01T00:00:00-00:00", 0, INT64_C(1704067200000000), "2024-01-01T00:00:00Z"},
        {"2024-01-01T00:00:00.1z", 0, INT64_C(1704067200100000), "2024-01-01T00:00:00.100000Z"},
        /* lenient: what PostgreSQL prints and people type */
        {"2024-01-01 01:00:00.5+01:00", S, INT64_C(1704067200500000),
         "2024-01-01T00:00:00.500000Z"},
        {"2024-02-29T12:00:00.1234567-05:30", S, INT64_C(1709227800123456),
         "2024-02-29T17:30:00.123456Z"},
        {"2016-12-31T23:59:60Z", S, INT64_C(1483228799000000), "2016-12-31T23:59:59Z"},
        {"0000-03-01T00:00:00Z", S, INT64_C(-62162035200000000), NULL},
        {"9999-12-31T23:59:59-00:01", S, INT64_C(253402300859000000), NULL},
        {"infinity", S, INT64_MAX, NULL},
        {"-infinity", S, INT64_MIN, NULL},
        {"2024-02-29", S, INT64_C(1709164800000000), "2024-02-29T00:00:00Z"}, /* midnight UTC */
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        int64_t us = 42;
        char buf[TS_TIME_MAX];
        const char *why = ts_time_scan(v[i].in, v[i].flags, &us);
        if (!v[i].out && v[i].flags == 0)
            continue;
        if (why)
            fail_msg("\"%s\": %s", v[i].in, why);
        if (us != v[i].us)
            fail_msg("\"%s\": %lld, want %lld", v[i].in, (long long)us, (long long)v[i].us);
        if (!v[i].out)
            continue;
        assert_int_equal(ts_time_format(us, 0, buf, sizeof buf), TS_OK);
        assert_string_equal(buf, v[i].out);
        /* the formatted text is strict and reads back to the same time */
        assert_null(ts_time_scan(buf, 0, &us));
        ASSERT_I64(us, v[i].us);
    }
}

typedef struct reject {
    const char *in;
    unsigned flags;
    const char *why; /* a part of the reason */
} reject;

static void t_rejections(void **state)
{
    (void)state;
    static const reject r[] = {
        {"", 0, "empty"},
        {"", S, "empty"},
        {"yesterday", S, "expected a date as YYYY-MM-DD"},
        {"2024-1-01T00:00:00Z", 0, "expected a date as YYYY-MM-DD"},
        {"2024/01/01T00:00:00Z", 0, "expected a date as YYYY-MM-DD"},
        {"2024-01", 0, "expected a date as YYYY-MM-DD"},
        {"infinity", 0, "expected a date"}, /* strict: no infinities */
        {"-infinity", 0, "expected a date"},
        {"Infinity", S, "expected a date"},
        {"0000-01-01T00:00:00Z", 0, "year 0000 is outside 0001..9999"},
        {"2024-13-01T00:00:00Z", 0, "month is not 01..12"},
        {"2024-00-01T00:00:00Z", S, "month is not 01..12"},
        {"2023-02-29T00:00:00Z", 0, "no such day in that month"},
        {"1900-02-29T00:00:00Z", S, "no such day in that month"},
        {"2100-02-29T00:00:00Z", 0, "no such day in that month"},
        {"2024-04-31T00:00:00Z", 0, "no such day in that month"},
        {"2024-01-00T00:00:00Z", 0, "no such day in that month"},
        {"2024-01-01 00:00:00Z", 0, "expected 'T' between date and time"},
        {"2024-01-01_00:00:00Z", S, "expected 'T' or ' ' between date and time"},
        {"2024-01-01", 0, "expected 'T' between"},
        {"2024-01-01 ", S, "expected a time of day"},
        {"2024-01-01T0:00:00Z", 0, "expected a time of day as HH:MM:SS"},
        {"2024-01-01T00:00Z", 0, "expected a time of day as HH:MM:SS"},
        {"2024-01-01T24:00:00Z", S, "hour is not 00..23"},
        {"2024-01-01T00:60:00Z", 0, "minute is not 00..59"},
        {"2016-12-31T23:59:60Z", 0, "second 60 (a leap second) is not accepted"},
        {"2024-01-01T00:00:61Z", S, "second is not 00..59"},
        {"2024-01-01T00:00:00.Z", S, "a '.' without fraction digits"},
        {"2024-01-01T00:00:00.1234567Z", 0, "more than 6 fraction digits"},
        {"2024-01-01T00:00:00", 0, "no zone: expected 'Z' or an offset"},
        {"2024-01-01T00:00:00 UTC", S, "no zone"},
        {"2024-01-01T00:00:00+0100", 0, "expected the offset as +HH:MM or -HH:MM"},
        {"2024-01-01T00:00:00+01", S, "expected the offset as +HH:MM or -HH:MM"},
        {"2024-01-01T00:00:00+24:00", 0, "offset is not within -23:59..+23:59"},
        {"2024-01-01T00:00:00-01:60", S, "offset is not within -23:59..+23:59"},
        {"2024-01-01T00:00:00Zx", S, "characters after the zone"},
        {"2024-01-01T00:00:00-00:00z", 0, "characters after the zone"},
        {"2024-01-01T00:00:00Z ", 0, "characters after the zone"},
        {"0001-01-01T00:00:00+00:01", 0, "outside 0001-01-01..9999-12-31 in UTC"},
        {"9999-12-31T23:59:59-00:01", 0, "outside 0001-01-01..9999-12-31 in UTC"},
    };
    for (size_t i = 0; i < sizeof r / sizeof *r; i++) {
        int64_t us = 42;
        const char *why = ts_time_scan(r[i].in, r[i].flags, &us);
        if (!why || !strstr(why, r[i].why))
            fail_msg("\"%s\" (flags %u): got \"%s\", want \"%s\"", r[i].in, r[i].flags,
                     why ? why : "(accepted)", r[i].why);
        ASSERT_I64(us, 42); /* untouched on failure */
    }
    {
        int64_t us;
        assert_string_equal(ts_time_scan(NULL, 0, &us), "empty");
    }
}

static void t_parse_error(void **state)
{
    (void)state;
    ts_err e;
    int64_t us;
    char long_in[200];
    ts_err_clear(&e);
    assert_int_equal(ts_time_parse("2024-13-01T00:00:00Z", 0, &us, &e), TS_ERR_INVALID);
    assert_string_equal(e.msg,
                        "\"2024-13-01T00:00:00Z\" is not an RFC 3339 time: month is not 01..12");
    /* at most 64 bytes of the input reach the message */
    memset(long_in, '9', sizeof long_in - 1);
    long_in[sizeof long_in - 1] = '\0';
    ts_err_clear(&e);
    assert_int_equal(ts_time_parse(long_in, S, &us, &e), TS_ERR_INVALID);
    assert_non_null(strstr(e.msg, "expected a date"));
    assert_null(strstr(e.msg, long_in + 200 - 66));
    ts_err_clear(&e);
    assert_int_equal(ts_time_parse(NULL, 0, &us, &e), TS_ERR_INVALID);
    assert_string_equal(e.msg, "\"\" is not an RFC 3339 time: empty");
    assert_int_equal(ts_time_parse("2024-01-31T12:00:00Z", 0, &us, &e), TS_OK);
    ASSERT_I64(us, INT64_C(1706702400000000));
}

static void t_format_edges(void **state)
{
    (void)state;
    char buf[TS_TIME_MAX];
    /* the strict form refuses years outside 0001..9999 */
    assert_int_equal(ts_time_format(TS_TIME_MIN_US - 1, 0, buf, sizeof buf), TS_ERR_INVALID);
    assert_string_equal(buf, "");
    assert_int_equal(ts_time_format(TS_TIME_MAX_US + 1, 0, buf, sizeof buf), TS_ERR_INVALID);
    assert_int_equal(ts_time_format(INT64_MIN, 0, buf, sizeof buf), TS_ERR_INVALID);
    /* TS_TIME_ANY_YEAR: ISO 8601 expanded years */
    assert_int_equal(ts_time_format(TS_TIME_MIN_US - 1, TS_TIME_ANY_YEAR, buf, sizeof buf), TS_OK);
    assert_string_equal(buf, "0000-12-31T23:59:59.999999Z");
    assert_int_equal(ts_time_format(INT64_C(-62198755200000000), TS_TIME_ANY_YEAR, buf, sizeof buf),
                     TS_OK);
    assert_string_equal(buf, "-0001-01-01T00:00:00Z");
    assert_int_equal(ts_time_format(TS_TIME_MAX_US + 1, TS_TIME_ANY_YEAR, buf, sizeof buf), TS_OK);
    assert_string_equal(buf, "+10000-01-01T00:00:00Z");
    assert_int_equal(ts_time_format(INT64_MAX, TS_TIME_ANY_YEAR, buf, sizeof buf), TS_OK);
    assert_string_equal(buf, "+294247-01-10T04:00:54.775807Z");
    assert_int_equal(ts_time_format(INT64_MIN, TS_TIME_ANY_YEAR, buf, sizeof buf), TS_OK);
    assert_string_equal(buf, "-290308-12-21T19:59:05.224192Z");
    assert_true(strlen(buf) < TS_TIME_MAX);
    /* too small a buffer: TS_ERR_TOOBIG and "" (never a cut time) */
    assert_int_equal(ts_time_format(0, 0, buf, 20), TS_ERR_TOOBIG);
    assert_string_equal(buf, "");
    assert_int_equal(ts_time_format(0, 0, buf, 21), TS_OK);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
}

static void t_compact(void **state)
{
    (void)state;
    char buf[TS_TIME_MAX];
    assert_int_equal(ts_time_format_compact(INT64_C(1706659200000000), buf, sizeof buf), TS_OK);
    assert_string_equal(buf, "20240131T000000Z");
    assert_int_equal(ts_time_format_compact(-1500000, buf, sizeof buf), TS_OK);
    assert_string_equal(buf, "19691231T235958.500000Z");
    assert_int_equal(ts_time_format_compact(INT64_C(1709164800000001), buf, sizeof buf), TS_OK);
    assert_string_equal(buf, "20240229T000000.000001Z");
    assert_int_equal(ts_time_format_compact(TS_TIME_MIN_US, buf, sizeof buf), TS_OK);
    assert_string_equal(buf, "00010101T000000Z");
    assert_int_equal(ts_time_format_compact(INT64_C(-62198755200000000), buf, sizeof buf), TS_OK);
    assert_string_equal(buf, "-00010101T000000Z");
    assert_int_equal(ts_time_format_compact(TS_TIME_MAX_US + 1, buf, sizeof buf), TS_OK);
    assert_string_equal(buf, "+100000101T000000Z");
    assert_int_equal(ts_time_format_compact(0, buf, 16), TS_ERR_TOOBIG);
    assert_string_equal(buf, "");
    assert_int_equal(ts_time_format_compact(0, buf, 17), TS_OK);
    assert_string_equal(buf, "19700101T000000Z");
}

/* Every week of 1600..2400 (and a second and a microsecond into the day) round-trips
 * through the strict form. */
static void t_round_trip(void **state)
{
    (void)state;
    char buf[TS_TIME_MAX];
    for (int64_t d = ts_civil_to_days(1600, 1, 1); d < ts_civil_to_days(2400, 1, 1); d += 7) {
        int64_t us = d * INT64_C(86400000000) + 3723000001, back = 0;
        assert_int_equal(ts_time_format(us, 0, buf, sizeof buf), TS_OK);
        assert_null(ts_time_scan(buf, 0, &back));
        ASSERT_I64(back, us);
    }
}

static void t_now(void **state)
{
    (void)state;
    int64_t a = ts_time_now();
    time_t t = time(NULL);
    int64_t b = ts_time_now();
    assert_true(a > INT64_C(1700000000000000));
    assert_true(b >= a);
    assert_true(a / 1000000 <= (int64_t)t + 1 && (int64_t)t <= b / 1000000 + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_leap_years),
        cmocka_unit_test(t_calendar_against_libc),
        cmocka_unit_test(t_year),
        cmocka_unit_test(t_split),
        cmocka_unit_test(t_parse_and_format),
        cmocka_unit_test(t_rejections),
        cmocka_unit_test(t_parse_error),
        cmocka_unit_test(t_format_edges),
        cmocka_unit_test(t_compact),
        cmocka_unit_test(t_round_trip),
        cmocka_unit_test(t_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
