/* prom.c: the Prometheus text format. */
#include "prom.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/runctl.h"

void prom_init(prom *p)
{
    ts_buf_init(&p->b, 16 << 20);
    p->rc = 0;
}

void prom_printf(prom *p, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;
    if (p->rc)
        return;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line) {
        p->rc = TS_ERR_INTERNAL;
        return;
    }
    p->rc = ts_buf_append(&p->b, line, (size_t)n);
}

void prom_family(prom *p, const char *name, const char *type, const char *help)
{
    prom_printf(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_label_escape(const char *in, char *out, size_t len)
{
    size_t o = 0;
    for (; *in && o + 3 < len; in++) {
        if (*in == '\\' || *in == '"') {
            out[o++] = '\\';
            out[o++] = *in;
        } else if (*in == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
}

void prom_common(prom *p, const http_server *hs, const char *service, int64_t started_unix_us,
                 double started_mono_s)
{
    static const char *const classes[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
    http_stats st = {0};
    if (hs)
        http_server_stats(hs, &st);
    prom_family(p, "tsarchive_build_info", "gauge",
                "Version and build of the running tsarchive (always 1).");
    prom_printf(p, "tsarchive_build_info{service=\"%s\",version=\"%s\",build=\"%s\"} 1\n", service,
                TS_VERSION, TS_BUILD_ID);
    prom_family(p, "tsarchive_start_time_seconds", "gauge", "Unix time the service started.");
    prom_printf(p, "tsarchive_start_time_seconds{service=\"%s\"} %.3f\n", service,
                (double)started_unix_us / 1e6);
    prom_family(p, "tsarchive_uptime_seconds", "gauge", "Seconds since the service started.");
    prom_printf(p, "tsarchive_uptime_seconds{service=\"%s\"} %.3f\n", service,
                ts_mono_s() - started_mono_s);
    prom_family(p, "tsarchive_http_requests_total", "counter",
                "HTTP requests answered by this service's endpoint, by status class.");
    for (int i = 1; i <= 5; i++)
        prom_printf(p, "tsarchive_http_requests_total{service=\"%s\",code=\"%s\"} %lld\n", service,
                    classes[i], st.by_class[i]);
}

int prom_reply(prom *p, http_response *resp)
{
    int rc = p->rc;
    if (rc == 0)
        rc = http_reply_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8",
                             ts_buf_cstr(&p->b), p->b.len);
    ts_buf_free(&p->b);
    return rc;
}
