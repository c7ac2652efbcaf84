/* fault.h: named fault-injection points for the fault tests (tests/faults/).
 *
 * A point is a place where a crash or a stall hurts most: between two steps that must
 * both happen (the archive committed, the confirmation not yet sent; the chunk
 * dropped, the state not yet written). Nothing happens at a point unless the
 * environment variable TSARCHIVE_FAULT names it:
 *
 *   TSARCHIVE_FAULT="point[@N]:action[,point[@N]:action...]"
 *
 *   action   kill       SIGKILL this process (a crash: no cleanup, no atexit)
 *            exit       _exit(70) (a crash that closes sockets the same way)
 *            sleep=MS   stall this thread for MS milliseconds (a slow step)
 *            slow=MS    the same, but a stop (SIGTERM) cuts it short, as it would a
 *                       slow server's answer (common/runctl.h)
 *   @N       act on the N-th time the point is reached (default 1); later hits pass
 *
 * Every action is announced on stderr first ("fault injection: kill at point"), so a
 * test can tell the fault happened where it meant it to. The points and where they
 * sit are listed in docs/faults.md. Like PostgreSQL's injection points, the cost when
 * unset is one relaxed atomic load. */
#ifndef TS_FAULT_H
#define TS_FAULT_H

/* Acts if TSARCHIVE_FAULT names this point and this is the hit it names. */
void ts_fault(const char *point);

/* The setting in force, or NULL: for a warning at start-up. Invalid settings are
 * reported here (and *bad set) so a typo never silently disables a test's fault. */
const char *ts_fault_setting(int *bad, const char **why);

#endif
