/* fault.c: see fault.h. The setting is parsed once; each rule counts its hits. */
#include "common/fault.h"
#include "common/runctl.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_RULES 8

typedef struct rule {
    char point[64];
    long nth;
    enum { ACT_KILL, ACT_EXIT, ACT_SLEEP, ACT_SLOW } act;
    long ms;
    atomic_long hits;
} rule;

static rule rules[MAX_RULES];
static int nrules;
static const char *setting, *problem;
static atomic_int armed; /* 0: not parsed yet; 1: nothing set; 2: rules in force */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int parse_rule(const char *s, size_t len, rule *r)
{
    char buf[128], *colon, *at, *end;
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (!(colon = strchr(buf, ':')))
        return -1;
    *colon++ = '\0';
    r->nth = 1;
    if ((at = strchr(buf, '@')) != NULL) {
        *at++ = '\0';
        r->nth = strtol(at, &end, 10);
        if (*at == '\0' || *end || r->nth < 1)
            return -1;
    }
    if (buf[0] == '\0' || strlen(buf) >= sizeof r->point)
        return -1;
    strcpy(r->point, buf);
    if (!strcmp(colon, "kill")) {
        r->act = ACT_KILL;
    } else if (!strcmp(colon, "exit")) {
        r->act = ACT_EXIT;
    } else if (!strncmp(colon, "sleep=", 6) || !strncmp(colon, "slow=", 5)) {
        size_t k = !strncmp(colon, "sleep=", 6) ? 6 : 5; /* "sleep=" or "slow=" */
        r->act = k == 6 ? ACT_SLEEP : ACT_SLOW;
        r->ms = strtol(colon + k, &end, 10);
        if (colon[k] == '\0' || *end || r->ms < 0 || r->ms > 3600 * 1000)
            return -1;
    } else {
        return -1;
    }
    return 0;
}

static void load(void)
{
    const char *s = getenv("TSARCHIVE_FAULT");
    setting = s && *s ? s : NULL;
    while (setting && *s) {
        size_t len = strcspn(s, ",");
        if (nrules == MAX_RULES || parse_rule(s, len, &rules[nrules]) != 0) {
            problem = "expected point[@N]:kill|exit|sleep=MS|slow=MS[,...] (at most 8 rules)";
            nrules = 0;
            break;
        }
        nrules++;
        s += len + (s[len] == ',');
    }
    atomic_store(&armed, nrules ? 2 : 1);
}

const char *ts_fault_setting(int *bad, const char **why)
{
    pthread_once(&once, load);
    *bad = problem != NULL;
    *why = problem;
    return setting;
}

void ts_fault(const char *point)
{
    int a = atomic_load_explicit(&armed, memory_order_relaxed);
    if (a == 0) {
        pthread_once(&once, load);
        a = atomic_load(&armed);
    }
    if (a != 2)
        return;
    for (int i = 0; i < nrules; i++) {
        rule *r = &rules[i];
        if (strcmp(r->point, point) != 0 || atomic_fetch_add(&r->hits, 1) + 1 != r->nth)
            continue;
        switch (r->act) {
        case ACT_KILL:
            fprintf(stderr, "fault injection: kill at %s (hit %ld)\n", point, r->nth);
            fflush(stderr);
            raise(SIGKILL);
            break;
        case ACT_EXIT:
            fprintf(stderr, "fault injection: exit at %s (hit %ld)\n", point, r->nth);
            fflush(stderr);
            _exit(70);
        case ACT_SLEEP: {
            struct timespec ts = {r->ms / 1000, (r->ms % 1000) * 1000000L};
            fprintf(stderr, "fault injection: sleep %ld ms at %s (hit %ld)\n", r->ms, point, r->nth);
            fflush(stderr);
            while (nanosleep(&ts, &ts) != 0)
                ;
            fprintf(stderr, "fault injection: resumed at %s\n", point);
            fflush(stderr);
            break;
        }
        case ACT_SLOW: /* a slow step that a stop cuts short, as a slow server would be */
            fprintf(stderr, "fault injection: slow %ld ms at %s (hit %ld)\n", r->ms, point, r->nth);
            fflush(stderr);
            fprintf(stderr, "fault injection: %s at %s\n",
                    ts_run_nap((int)r->ms) ? "resumed" : "stopped while slow", point);
            fflush(stderr);
            break;
        }
    }
}
