/* prom.h: building a Prometheus text exposition (format 0.0.4) for a /metrics
 * endpoint: metric families, samples, label escaping, and the metrics every tsarchive
 * service exports (build, start, uptime, HTTP requests). The first failure (no memory,
 * a line too long) is kept and reported by prom_reply. */
#ifndef TS_HTTP_PROM_H
#define TS_HTTP_PROM_H

#include <stdint.h>

#include "common/buf.h"
#include "http.h"

typedef struct prom {
    ts_buf b;
    int rc;
} prom;

void prom_init(prom *p);
/* "# HELP name help" and "# TYPE name type". */
void prom_family(prom *p, const char *name, const char *type, const char *help);
/* One line (the caller adds the newline). */
void prom_printf(prom *p, const char *fmt, ...) TS_PRINTF(2, 3);
/* A label value escaped as the text format wants (\\, \", \n), cut to fit len. */
void prom_label_escape(const char *in, char *out, size_t len);
/* build_info, start time, uptime and HTTP request counts of one service. hs may be
 * NULL (no endpoint bound). */
void prom_common(prom *p, const http_server *hs, const char *service, int64_t started_unix_us,
                 double started_mono_s);
/* Replies with the page (or 500 after a failure) and frees p. */
int prom_reply(prom *p, http_response *resp) TS_MUSTCHECK;

#endif
