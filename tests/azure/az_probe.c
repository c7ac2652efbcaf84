/* az_probe.c: keeps one lake or one Redis connection busy for a while, through the
 * config the services read (lake_options_from_config, bus_options_from_config), so the
 * shell tests can watch tokens expire and get refreshed on a live handle:
 *
 *   az_probe CONFIG lake SECONDS INTERVAL_MS   lake_test + a small put/get each round
 *   az_probe CONFIG bus SECONDS INTERVAL_MS    PING each round on one bus
 *
 * Prints "rounds N failures F reconnects R" at the end; exit 0 when every round
 * succeeded. Logs (debug) go to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "bus/bus_config.h"
#include "common/alloc.h"
#include "common/config.h"
#include "common/log.h"
#include "lake/lake.h"
#include "lake/lake_config.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int lake_round(lake *lk, int n, ts_err *err)
{
    char path[64], body[64], *got = NULL;
    size_t len = 0;
    int rc = lake_test(lk, err);
    snprintf(path, sizeof path, "probe/%d-%d.txt", (int)getpid(), n);
    snprintf(body, sizeof body, "round %d", n);
    if (rc == TS_OK)
        rc = lake_put_bytes(lk, path, body, strlen(body), NULL, err);
    if (rc == TS_OK)
        rc = lake_get_bytes(lk, path, 1024, &got, &len, NULL, err);
    if (rc == TS_OK && (len != strlen(body) || memcmp(got, body, len) != 0))
        rc = ts_err_set(err, TS_ERR_INTERNAL, "read back \"%s\": other bytes", path);
    ts_free(got);
    return rc;
}

int main(int argc, char **argv)
{
    ts_config *cfg = NULL;
    lake_options lo;
    bus_options bo;
    lake *lk = NULL;
    bus *b = NULL;
    ts_err err;
    int rounds = 0, failures = 0, rc;
    double until;

    if (argc != 5 || (strcmp(argv[2], "lake") != 0 && strcmp(argv[2], "bus") != 0)) {
        fprintf(stderr, "usage: az_probe CONFIG lake|bus SECONDS INTERVAL_MS\n");
        return 2;
    }
    ts_log_setup(TS_LOG_DEBUG, 0, stderr);
    ts_err_clear(&err);
    if (!(cfg = ts_config_new()) || ts_config_load(cfg, argv[1], &err) != TS_OK) {
        fprintf(stderr, "az_probe: %s\n", err.msg);
        return 3;
    }
    ts_config_register_secrets(cfg);
    if (strcmp(argv[2], "lake") == 0) {
        if (lake_options_from_config(&lo, cfg, &err) != TS_OK ||
            lake_open(&lk, &lo, &err) != TS_OK) {
            fprintf(stderr, "az_probe: %s\n", err.msg);
            return 3;
        }
        printf("identity: %s\n", lake_identity(lk));
    } else {
        bus_options_from_config(&bo, cfg, "az-probe");
        bo.retry_ms = 0; /* a failure shows, it is not papered over by a reconnect */
        if (bus_new(&bo, &b, &err) != TS_OK) {
            fprintf(stderr, "az_probe: %s\n", err.msg);
            return 3;
        }
    }
    until = now_s() + atof(argv[3]);
    while (now_s() < until) {
        ts_err_clear(&err);
        rc = lk ? lake_round(lk, rounds, &err) : bus_ping(b, &err);
        rounds++;
        if (rc != TS_OK) {
            failures++;
            fprintf(stderr, "az_probe: round %d failed: %s\n", rounds, err.msg);
        }
        usleep((useconds_t)atoi(argv[4]) * 1000);
    }
    printf("rounds %d failures %d reconnects %lld\n", rounds, failures,
           b ? bus_reconnects(b) : 0LL);
    lake_free(lk);
    bus_free(b);
    ts_config_free(cfg);
    return failures ? 1 : 0;
}
