/* stats.c: the archival service's counters, recent outcomes and durations, as the
 * endpoints show them. */
#include <stdio.h>
#include <string.h>

#include "archiver_int.h"
#include "common/tstime.h"
#include "common/log.h"

const double arc_duration_bounds[ARC_NBOUNDS] = {0.05, 0.1, 0.25, 0.5, 1,   2.5, 5,
                                                 10,   30,  60,   120, 300, 600};

const char *arc_outcome_name(arc_outcome o)
{
    switch (o) {
    case ARC_OUT_SUCCESS: return "success";
    case ARC_OUT_FAILURE: return "failure";
    case ARC_OUT_INTERRUPTED: return "interrupted";
    case ARC_OUT_DEADLETTERED: return "deadlettered";
    }
    return "?";
}

void arc_stats_init(arc_stats *st, int workers)
{
    memset(st, 0, sizeof *st);
    pthread_mutex_init(&st->mu, NULL);
    st->workers = workers;
}

void arc_stats_destroy(arc_stats *st)
{
    pthread_mutex_destroy(&st->mu);
}

void arc_stats_record(arc_stats *st, const bus_request *req, arc_outcome o, int worker, int64_t rows,
                      int64_t bytes, double dur, const char *error)
{
    arc_event_rec *ev;
    pthread_mutex_lock(&st->mu);
    ev = &st->ring[st->nevents++ % ARC_EVENT_RING];
    memset(ev, 0, sizeof *ev);
    if (req) {
        snprintf(ev->event_id, sizeof ev->event_id, "%s", req->event_id);
        snprintf(ev->chunk, sizeof ev->chunk, "%s.%s", req->chunk.chunk_schema,
                 req->chunk.chunk_name);
        snprintf(ev->table, sizeof ev->table, "%s.%s", req->chunk.hypertable_schema,
                 req->chunk.hypertable);
        ev->attempt = req->attempt;
    }
    ev->outcome = o;
    ev->worker = worker;
    ev->rows = rows;
    ev->bytes = bytes;
    ev->duration_s = dur;
    ts_redact(error ? error : "", ev->error, sizeof ev->error);
    ev->at_us = ts_time_now();
    if (o == ARC_OUT_SUCCESS) {
        int i = 0;
        while (i < ARC_NBOUNDS && dur > arc_duration_bounds[i])
            i++;
        st->buckets[i]++;
        st->dur_sum += dur;
        st->samples[st->nsamples++ % ARC_DURATION_SAMPLES] = dur;
        st->last_archive_us = ev->at_us;
    }
    pthread_mutex_unlock(&st->mu);
}
