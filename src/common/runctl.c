/* runctl.c: the stop flag, signals, naps, the monotonic clock. */
#include "runctl.h"

#include <signal.h>
#include <string.h>
#include <time.h>

static atomic_int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stop_flag, 1); /* async-signal-safe: a lock-free atomic store */
}

void ts_run_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool ts_run_stopping(void)
{
    return atomic_load(&stop_flag) != 0;
}

void ts_run_stop(void)
{
    atomic_store(&stop_flag, 1);
}

void ts_run_reset(void)
{
    atomic_store(&stop_flag, 0);
}

atomic_int *ts_run_flag(void)
{
    return &stop_flag;
}

bool ts_run_nap(int ms)
{
    while (ms > 0 && !ts_run_stopping()) {
        int step = ms < 100 ? ms : 100;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
    return !ts_run_stopping();
}

double ts_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
