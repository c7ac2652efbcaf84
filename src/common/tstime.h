/* tstime.h: tsarchive's one notion of time: microseconds since 1970-01-01 UTC in an
 * int64, the proleptic Gregorian calendar, RFC 3339 text (a strict form for events,
 * a lenient one for PostgreSQL's output and people) and the compact form of lake
 * object names ("20240131T000000Z"). Pure libc: usable from every module. */
#ifndef TS_TSTIME_H
#define TS_TSTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Room for any text this module writes, NUL included ("-290308-12-21T19:59:05.224192Z"). */
#define TS_TIME_MAX 40

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z: the range of the strict form. */
#define TS_TIME_MIN_US INT64_C(-62135596800000000)
#define TS_TIME_MAX_US INT64_C(253402300799999999)

/* A time split into calendar fields, UTC. */
typedef struct ts_civil {
    int64_t year; /* astronomical: 0 is 1 BC, -1 is 2 BC */
    int month;    /* 1..12 */
    int day;      /* 1..31 */
    int hour;     /* 0..23 */
    int minute;   /* 0..59 */
    int second;   /* 0..59 */
    int usec;     /* 0..999999 */
} ts_civil;

/* Whether year (astronomical) has a February 29. */
bool ts_civil_is_leap(int64_t year);
/* 28..31; 0 when month is not 1..12. */
int ts_civil_days_in_month(int64_t year, int month);
/* Days since 1970-01-01 of a date (negative before); month 1..12, exact for
 * |year| < 10^12. The day is not checked: day 0 is the last day of the month before. */
int64_t ts_civil_to_days(int64_t year, int month, int day);
/* The date of a day count from 1970-01-01; the inverse of ts_civil_to_days. */
void ts_civil_from_days(int64_t days, int64_t *year, int *month, int *day);
/* The year as ISO 8601 writes it: four digits for 0000..9999 ("0042"), else a sign
 * and at least four digits ("-0001", "+10000"). out holds 24 bytes; returns it. */
const char *ts_civil_year(int64_t year, char out[24]);
/* Splits microseconds since the epoch into fields; every int64 is valid (times
 * before 1970 count back: -1 is 1969-12-31T23:59:59.999999). */
void ts_civil_from_us(int64_t us, ts_civil *out);

/* The current time (CLOCK_REALTIME), microseconds since the epoch. */
int64_t ts_time_now(void);

enum {
    /* parse: also accept what PostgreSQL prints and people type: ' ' for 'T',
     * "infinity" / "-infinity" (INT64_MAX / INT64_MIN), more than six fraction digits
     * (cut to microseconds, not rounded), second 60 (a leap second, read as 59), year
     * 0000, results outside 0001..9999 UTC, and a date alone (YYYY-MM-DD: its midnight
     * in UTC). Without it: the strict form. */
    TS_TIME_LENIENT = 1 << 0,
    /* format: years outside 0001..9999 are written as ISO 8601 expanded years (a sign
     * and at least four digits: "-0001", "+10000") instead of failing; 0000 stays. */
    TS_TIME_ANY_YEAR = 1 << 1,
};

/* Parses RFC 3339 into microseconds since the epoch, UTC. The strict form:
 *   YYYY-MM-DD('T'|'t')HH:MM:SS[.f{1,6}]('Z'|'z'|+HH:MM|-HH:MM)
 * in years 0001..9999 both as written and in UTC, no leap seconds, nothing after the
 * zone. flags: TS_TIME_LENIENT. Returns NULL on success, else why s is not a time
 * (a static string without the input, fit for any message). *us is set only on
 * success. */
const char *ts_time_scan(const char *s, unsigned flags, int64_t *us);
/* ts_time_scan with the reason in err: TS_ERR_INVALID,
 * "\"<at most 64 bytes of s>\" is not an RFC 3339 time: <why>". */
int ts_time_parse(const char *s, unsigned flags, int64_t *us, ts_err *err) TS_MUSTCHECK;

/* Writes us as RFC 3339 UTC, "2024-01-31T12:00:00Z", with ".ffffff" only when there
 * are microseconds. TS_ERR_INVALID for a year outside 0001..9999 (unless
 * TS_TIME_ANY_YEAR), TS_ERR_TOOBIG when cap is too small (TS_TIME_MAX always fits).
 * On failure out is "" (when cap > 0). */
int ts_time_format(int64_t us, unsigned flags, char *out, size_t cap) TS_MUSTCHECK;
/* The compact form of object names: "20240131T120000Z", ".ffffff" before the 'Z' only
 * when there are microseconds; any year (as TS_TIME_ANY_YEAR). TS_ERR_TOOBIG when
 * cap is too small; out is "" then. */
int ts_time_format_compact(int64_t us, char *out, size_t cap) TS_MUSTCHECK;

#endif
