/* inttime.h: integer time columns (epoch seconds, milliseconds, microseconds,
 * nanoseconds): conversion to and from Unix microseconds, the retention period in the
 * column's units, and whether a "now" read from the column (TimescaleDB's
 * integer_now function) is plausible in a unit. Pure arithmetic, saturating. */
#ifndef TS_PG_INTTIME_H
#define TS_PG_INTTIME_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"

/* Units of the column per second (1, 1000, 10^6, 10^9); 0 for TS_TIME_UNIT_NONE. */
int64_t pg_unit_per_second(ts_time_unit u);

/* The value v of a column counting u as Unix microseconds: rounded down (round_up
 * false: a range's start) or up (a range's exclusive end, so the time range covers the
 * integer range). false when u is NONE or the result does not fit an int64. */
bool pg_int_to_us(int64_t v, ts_time_unit u, bool round_up, int64_t *us);

/* Unix microseconds as the column's value (rounded down); saturates at the int64 ends.
 * false when u is NONE. */
bool pg_us_to_int(int64_t us, ts_time_unit u, int64_t *v);

/* days * units per day, saturated at INT64_MAX (a retention period that long reaches
 * back before any value). 0 for NONE. */
int64_t pg_days_in_unit(int days, ts_time_unit u);

/* a - b, saturated at the int64 ends. */
int64_t pg_sat_sub(int64_t a, int64_t b);
int64_t pg_sat_add(int64_t a, int64_t b);

/* Whether now_int, read in unit u, is a time from server_now_us - back_us to
 * server_now_us + ahead_us (a column's "now" that lags or leads the server clock by more
 * is taken for a wrong unit). */
bool pg_int_now_plausible(int64_t now_int, ts_time_unit u, int64_t server_now_us, int64_t back_us,
                          int64_t ahead_us);

/* The one unit in which now_int is plausible within a year back and a day ahead of
 * server_now_us, or NONE when there is none (a counter, a stale column) or more than one
 * (cannot happen for these bounds: the units are 1000 apart). */
ts_time_unit pg_int_infer_unit(int64_t now_int, int64_t server_now_us);

#endif
