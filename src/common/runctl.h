/* runctl.h: run control for the long-running services: the process-wide stop flag
 * that SIGINT and SIGTERM set, naps that end early when it is set, and a monotonic
 * clock. Every loop, export and upload of a service checks the same flag, so a
 * SIGTERM ends all of them within about a second. */
#ifndef TS_RUNCTL_H
#define TS_RUNCTL_H

#include <stdatomic.h>
#include <stdbool.h>

/* SIGINT and SIGTERM set the stop flag; SIGPIPE is ignored (a closed socket is an
 * error return, not a death). */
void ts_run_install_signals(void);
/* True once a stop was asked for. */
bool ts_run_stopping(void);
/* Asks every loop to stop (what the signal handler does). */
void ts_run_stop(void);
/* Clears the flag (tests that run a service twice in one process). */
void ts_run_reset(void);
/* The flag itself, for code that polls a cancel pointer (lake uploads, exports). */
atomic_int *ts_run_flag(void);
/* Sleeps up to ms milliseconds, in steps of at most 100 ms, returning early when a
 * stop is asked for. Returns false when it stopped early. */
bool ts_run_nap(int ms);
/* Seconds on the monotonic clock. */
double ts_mono_s(void);

#endif
