/* inttime.c: integer time units and saturating arithmetic on them. */
#include "inttime.h"

#define US_PER_DAY INT64_C(86400000000)

int64_t pg_unit_per_second(ts_time_unit u)
{
    switch (u) {
    case TS_TIME_UNIT_SECONDS:
        return 1;
    case TS_TIME_UNIT_MILLISECONDS:
        return 1000;
    case TS_TIME_UNIT_MICROSECONDS:
        return 1000000;
    case TS_TIME_UNIT_NANOSECONDS:
        return 1000000000;
    default:
        return 0;
    }
}

int64_t pg_sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

int64_t pg_sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* floor(a / b) and ceil(a / b) for b > 0 */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a > 0) ? q + 1 : q;
}

bool pg_int_to_us(int64_t v, ts_time_unit u, bool round_up, int64_t *us)
{
    switch (u) {
    case TS_TIME_UNIT_SECONDS:
        return !__builtin_mul_overflow(v, INT64_C(1000000), us);
    case TS_TIME_UNIT_MILLISECONDS:
        return !__builtin_mul_overflow(v, INT64_C(1000), us);
    case TS_TIME_UNIT_MICROSECONDS:
        *us = v;
        return true;
    case TS_TIME_UNIT_NANOSECONDS:
        *us = round_up ? ceil_div(v, 1000) : floor_div(v, 1000);
        return true;
    default:
        return false;
    }
}

bool pg_us_to_int(int64_t us, ts_time_unit u, int64_t *v)
{
    int64_t r;
    switch (u) {
    case TS_TIME_UNIT_SECONDS:
        *v = floor_div(us, 1000000);
        return true;
    case TS_TIME_UNIT_MILLISECONDS:
        *v = floor_div(us, 1000);
        return true;
    case TS_TIME_UNIT_MICROSECONDS:
        *v = us;
        return true;
    case TS_TIME_UNIT_NANOSECONDS:
        *v = __builtin_mul_overflow(us, INT64_C(1000), &r) ? (us > 0 ? INT64_MAX : INT64_MIN) : r;
        return true;
    default:
        return false;
    }
}

int64_t pg_days_in_unit(int days, ts_time_unit u)
{
    int64_t per = pg_unit_per_second(u), r;
    if (!per)
        return 0;
    if (__builtin_mul_overflow((int64_t)days * 86400, per, &r))
        return INT64_MAX;
    return r;
}

bool pg_int_now_plausible(int64_t now_int, ts_time_unit u, int64_t server_now_us, int64_t back_us,
                          int64_t ahead_us)
{
    int64_t us;
    if (!pg_int_to_us(now_int, u, false, &us))
        return false;
    return us >= pg_sat_sub(server_now_us, back_us) && us <= pg_sat_add(server_now_us, ahead_us);
}

ts_time_unit pg_int_infer_unit(int64_t now_int, int64_t server_now_us)
{
    ts_time_unit found = TS_TIME_UNIT_NONE;
    for (int u = TS_TIME_UNIT_SECONDS; u <= TS_TIME_UNIT_NANOSECONDS; u++)
        if (pg_int_now_plausible(now_int, (ts_time_unit)u, server_now_us, 366 * US_PER_DAY,
                                 US_PER_DAY)) {
            if (found != TS_TIME_UNIT_NONE)
                return TS_TIME_UNIT_NONE;
            found = (ts_time_unit)u;
        }
    return found;
}
