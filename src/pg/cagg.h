/* cagg.h: continuous aggregates that hold raw chunks back. Dropping a raw chunk and
 * later refreshing an aggregate over its range deletes the aggregate's rows there, so a
 * chunk is held while an aggregate on its hypertable has not materialized its range
 * (the aggregate's watermark) or one of the aggregate's refresh policies can still
 * refresh it (its window starts at now - start_offset; start_offset NULL: from the
 * beginning of time). The catalog is read once (pg_caggs_load); the decision per chunk
 * is pure (pg_cagg_decide), so the retention service can ask for every expired chunk of
 * a check at the cost of one catalog read. See docs/timescaledb.md. */
#ifndef TS_PG_CAGG_H
#define TS_PG_CAGG_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "common/err.h"
#include "discover.h"

#define PG_CAGG_NAME_MAX 64

/* An interval as PostgreSQL keeps it. */
typedef struct pg_interval {
    int32_t months, days;
    int64_t us;
} pg_interval;

/* One refresh policy (a _timescaledb_config.bgw_job row whose proc_name is
 * policy_refresh_continuous_aggregate). */
typedef struct pg_cagg_policy {
    int job_id;
    bool scheduled;    /* false: paused (it still holds: it can be resumed) */
    bool start_null;   /* start_offset NULL (or absent): refreshes from the beginning */
    pg_interval start; /* time aggregates */
    int64_t start_int; /* integer aggregates */
    bool end_null;
    pg_interval end;
    int64_t end_int;
} pg_cagg_policy;

/* One continuous aggregate, as its catalog rows describe it. */
typedef struct pg_cagg {
    char raw_schema[PG_CAGG_NAME_MAX], raw_table[PG_CAGG_NAME_MAX];  /* the hypertable it reads */
    char view_schema[PG_CAGG_NAME_MAX], view_name[PG_CAGG_NAME_MAX]; /* the aggregate */
    int mat_hypertable_id;
    uint32_t time_type; /* the raw time column's type OID (1184, 1114, 1082, 20, 21, 23) */
    bool has_watermark; /* false: could not be read (counts as nothing materialized) */
    int64_t watermark;  /* the end of the materialized data: Unix microseconds for time
                           types, the integer for integer types */
    bool has_now_int;   /* integer aggregates: integer_now() answered */
    int64_t now_int;
    pg_cagg_policy *policies;
    int npolicies;
} pg_cagg;

typedef struct pg_caggs pg_caggs;

/* Reads every continuous aggregate, its watermark and its refresh policies (TimescaleDB
 * 2.x: _timescaledb_catalog.continuous_agg, continuous_aggs_watermark or, before 2.11,
 * the cagg_watermark function; _timescaledb_config.bgw_job), and for integer aggregates
 * the integer_now function of their hypertable. Without TimescaleDB: an empty set.
 * pg_caggs_free() it. */
int pg_caggs_load(PGconn *c, pg_caggs **out, ts_err *err) TS_MUSTCHECK;
/* An empty set, for pg_caggs_add (tests, other catalog readers). NULL on no memory. */
pg_caggs *pg_caggs_new(void);
/* Adds a copy of a (its policies copied too). */
int pg_caggs_add(pg_caggs *cs, const pg_cagg *a, ts_err *err) TS_MUSTCHECK;
int pg_caggs_count(const pg_caggs *cs);
const pg_cagg *pg_caggs_get(const pg_caggs *cs, int i);
/* NULL is a no-op. */
void pg_caggs_free(pg_caggs *cs);

typedef enum {
    PG_HOLD_NONE = 0,       /* no aggregate stands in the way */
    PG_HOLD_UNTIL = 1,      /* held until a time (until_us, or until_int in the column) */
    PG_HOLD_INDEFINITE = 2, /* held while the aggregate or its policy stays as it is */
} pg_hold_kind;

typedef struct pg_cagg_hold_info {
    pg_hold_kind kind;
    char cagg_schema[PG_CAGG_NAME_MAX], cagg_name[PG_CAGG_NAME_MAX]; /* the aggregate that
                                                   holds it longest */
    int job_id;          /* its refresh policy that holds it; 0: the watermark */
    bool until_int_only; /* integer column of unknown unit: only until_int is known */
    int64_t until_us;    /* PG_HOLD_UNTIL: Unix microseconds, the earliest time the chunk
                            may be dropped (the retention service asks again then) */
    int64_t until_int;   /* integer aggregates: the column's value integer_now() must reach */
    int nheld;           /* aggregates holding it */
    char reason[512];    /* a sentence naming the aggregate, the rule and until when */
} pg_cagg_hold_info;

/* Whether the aggregates in cs hold ch back, as of now_us (the server's now(): chunk
 * lists carry it). Chunks of hypertables without aggregates, and chunks without an end,
 * are never held. Integer chunks are decided in the column's values (integer_now() of the
 * aggregate's hypertable); until_us is filled when the chunk's unit is known. Pure: no
 * server is asked. */
void pg_cagg_decide(const pg_caggs *cs, const pg_chunk *ch, int64_t now_us, pg_cagg_hold_info *out);

/* pg_caggs_load + pg_cagg_decide for one chunk, as of the server's now(). */
int pg_cagg_hold(PGconn *c, const pg_chunk *ch, pg_cagg_hold_info *out, ts_err *err) TS_MUSTCHECK;

/* ts + iv the way PostgreSQL adds an interval to a timestamp in UTC: months (the day
 * clamped to the month's length), then days, then microseconds; saturating. */
int64_t pg_interval_add(int64_t ts_us, const pg_interval *iv);
/* ts - iv likewise. */
int64_t pg_interval_sub(int64_t ts_us, const pg_interval *iv);

#endif
