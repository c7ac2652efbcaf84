/* tstime.c: the calendar (Howard Hinnant's days_from_civil / civil_from_days,
 * proleptic Gregorian), RFC 3339 parsing and formatting, the compact form of object
 * names, and the clock. */
#include "tstime.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define US_PER_SEC INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_SEC)

bool ts_civil_is_leap(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int ts_civil_days_in_month(int64_t year, int month)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12)
        return 0;
    return month == 2 && ts_civil_is_leap(year) ? 29 : dim[month - 1];
}

int64_t ts_civil_to_days(int64_t year, int month, int day)
{
    int64_t y = year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                                 /* 0..399 */
    int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1; /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                         /* 0..146096 */
    return era * 146097 + doe - 719468;
}

void ts_civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                      /* 0..146096 */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* 0..399 */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* 0..365 */
    int64_t mp = (5 * doy + 2) / 153;                                    /* 0..11, from March */
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (*month <= 2);
}

void ts_civil_from_us(int64_t us, ts_civil *out)
{
    /* floor division: C truncates toward zero, times before 1970 count back */
    int64_t days = us / US_PER_DAY, rem = us % US_PER_DAY;
    if (rem < 0) {
        rem += US_PER_DAY;
        days--;
    }
    ts_civil_from_days(days, &out->year, &out->month, &out->day);
    out->usec = (int)(rem % US_PER_SEC);
    rem /= US_PER_SEC;
    out->hour = (int)(rem / 3600);
    out->minute = (int)(rem / 60 % 60);
    out->second = (int)(rem % 60);
}

int64_t ts_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

/* Reads exactly n decimal digits at *p and moves past them; false (and *p unmoved) at
 * the first non-digit, so never past the NUL. */
static bool digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        x = x * 10 + (c - '0');
    }
    *p += n;
    *v = x;
    return true;
}

/* Consumes c at *p; false when *p holds something else (the NUL included). */
static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

const char *ts_time_scan(const char *s, unsigned flags, int64_t *us)
{
    bool lenient = (flags & TS_TIME_LENIENT) != 0;
    const char *p = s;
    int y, mo, d, h, mi, sec, usec = 0, off_min = 0;
    int64_t t;

    if (!s || !*s)
        return "empty";
    if (lenient && strcmp(s, "infinity") == 0) {
        *us = INT64_MAX;
        return NULL;
    }
    if (lenient && strcmp(s, "-infinity") == 0) {
        *us = INT64_MIN;
        return NULL;
    }
    if (!digits(&p, 4, &y) || !expect(&p, '-') || !digits(&p, 2, &mo) || !expect(&p, '-') ||
        !digits(&p, 2, &d))
        return "expected a date as YYYY-MM-DD";
    if (y < 1 && !lenient)
        return "year 0000 is outside 0001..9999";
    if (mo < 1 || mo > 12)
        return "month is not 01..12";
    if (d < 1 || d > ts_civil_days_in_month(y, mo))
        return "no such day in that month";
    if (lenient && !*p) { /* a date alone: its midnight in UTC */
        *us = ts_civil_to_days(y, mo, d) * 86400 * US_PER_SEC;
        return NULL;
    }
    if (*p == 'T' || *p == 't' || (lenient && *p == ' '))
        p++;
    else
        return lenient ? "expected 'T' or ' ' between date and time"
                       : "expected 'T' between date and time";
    if (!digits(&p, 2, &h) || !expect(&p, ':') || !digits(&p, 2, &mi) || !expect(&p, ':') ||
        !digits(&p, 2, &sec))
        return "expected a time of day as HH:MM:SS";
    if (h > 23)
        return "hour is not 00..23";
    if (mi > 59)
        return "minute is not 00..59";
    if (sec > 60 || (sec == 60 && !lenient))
        return sec == 60 ? "second 60 (a leap second) is not accepted" : "second is not 00..59";
    if (sec == 60)
        sec = 59; /* a leap second stays inside its minute */
    if (*p == '.') {
        int n = 0;
        p++;
        for (; *p >= '0' && *p <= '9'; p++, n++) {
            if (n >= 6 && !lenient)
                return "more than 6 fraction digits (finer than microseconds)";
            if (n < 6)
                usec = usec * 10 + (*p - '0'); /* lenient: further digits are cut */
        }
        if (n == 0)
            return "a '.' without fraction digits";
        for (; n < 6; n++)
            usec *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (!digits(&p, 2, &oh) || !expect(&p, ':') || !digits(&p, 2, &om))
            return "expected the offset as +HH:MM or -HH:MM";
        if (oh > 23 || om > 59)
            return "offset is not within -23:59..+23:59";
        off_min = sign * (oh * 60 + om);
    } else {
        return "no zone: expected 'Z' or an offset such as +01:00";
    }
    if (*p)
        return "characters after the zone";
    t = (ts_civil_to_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - (int64_t)off_min * 60) *
            US_PER_SEC +
        usec;
    if (!lenient && (t < TS_TIME_MIN_US || t > TS_TIME_MAX_US))
        return "outside 0001-01-01..9999-12-31 in UTC";
    *us = t;
    return NULL;
}

int ts_time_parse(const char *s, unsigned flags, int64_t *us, ts_err *err)
{
    const char *why = ts_time_scan(s, flags, us);
    if (!why)
        return TS_OK;
    return ts_err_set(err, TS_ERR_INVALID, "\"%.64s\" is not an RFC 3339 time: %s", s ? s : "",
                      why);
}

const char *ts_civil_year(int64_t year, char out[24])
{
    if (year >= 0 && year <= 9999)
        snprintf(out, 24, "%04" PRId64, year);
    else
        snprintf(out, 24, "%+05" PRId64, year);
    return out;
}

static int finish(int n, char *out, size_t cap)
{
    if (n < 0 || (size_t)n >= cap) {
        if (cap > 0)
            out[0] = '\0';
        return TS_ERR_TOOBIG;
    }
    return TS_OK;
}

int ts_time_format(int64_t us, unsigned flags, char *out, size_t cap)
{
    ts_civil c;
    char y[24];
    int n;

    if ((us < TS_TIME_MIN_US || us > TS_TIME_MAX_US) && !(flags & TS_TIME_ANY_YEAR)) {
        if (cap > 0)
            out[0] = '\0';
        return TS_ERR_INVALID;
    }
    ts_civil_from_us(us, &c);
    ts_civil_year(c.year, y);
    if (c.usec)
        n = snprintf(out, cap, "%s-%02d-%02dT%02d:%02d:%02d.%06dZ", y, c.month, c.day, c.hour,
                     c.minute, c.second, c.usec);
    else
        n = snprintf(out, cap, "%s-%02d-%02dT%02d:%02d:%02dZ", y, c.month, c.day, c.hour, c.minute,
                     c.second);
    return finish(n, out, cap);
}

int ts_time_format_compact(int64_t us, char *out, size_t cap)
{
    ts_civil c;
    char y[24];
    int n;

    ts_civil_from_us(us, &c);
    ts_civil_year(c.year, y);
    if (c.usec)
        n = snprintf(out, cap, "%s%02d%02dT%02d%02d%02d.%06dZ", y, c.month, c.day, c.hour, c.minute,
                     c.second, c.usec);
    else
        n = snprintf(out, cap, "%s%02d%02dT%02d%02d%02dZ", y, c.month, c.day, c.hour, c.minute,
                     c.second);
    return finish(n, out, cap);
}
