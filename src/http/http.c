/* http.c: routing, authentication and limits over libmicrohttpd. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/log.h"

struct http_server {
    struct MHD_Daemon *daemon;
    http_options opt;
    char *token;
    int port;
    atomic_llong requests;
    atomic_llong by_class[6];
};

struct http_request {
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    ts_buf body;
    bool too_big;
};

const char *http_method(const http_request *req) { return req->method; }
const char *http_path(const http_request *req) { return req->path; }

const char *http_body(const http_request *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return req->body.data ? (const char *)req->body.data : "";
}

const char *http_query(const http_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

int http_reply_text(http_response *resp, int status, const char *ctype, const char *text, size_t len)
{
    char *b = ts_malloc(len + 1);
    if (!b)
        return TS_ERR_NOMEM;
    memcpy(b, text, len);
    b[len] = '\0';
    ts_free(resp->body);
    resp->body = b;
    resp->body_len = len;
    resp->status = status;
    resp->content_type = ctype;
    return TS_OK;
}

int http_reply_json(http_response *resp, int status, json_t *body)
{
    char *s;
    int rc;
    if (!body)
        return TS_ERR_NOMEM;
    s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    if (!s)
        return TS_ERR_NOMEM;
    rc = http_reply_text(resp, status, "application/json", s, strlen(s));
    free(s); /* jansson's allocation */
    return rc;
}

int http_reply_error(http_response *resp, int status, const char *fmt, ...)
{
    char raw[512], msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    ts_redact(raw, msg, sizeof msg);
    return http_reply_json(resp, status, json_pack("{s:s,s:i}", "error", msg, "status", status));
}

int http_query_int(const http_request *req, http_response *resp, const char *key, long max, long *out)
{
    const char *v = http_query(req, key);
    char *end;
    long x;
    if (!v)
        return 0;
    errno = 0;
    x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < 0 || x > max) {
        (void)http_reply_error(resp, 400, "query parameter \"%s\" must be an integer from 0 to %ld", key, max);
        return TS_ERR_INVALID;
    }
    *out = x;
    return 0;
}

json_t *http_json_time(int64_t us)
{
    struct tm tm;
    time_t t;
    char buf[48];
    size_t n;
    if (us <= 0)
        return json_null();
    t = (time_t)(us / 1000000);
    if (!gmtime_r(&t, &tm) || !(n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm)))
        return json_null();
    if (us % 1000000)
        snprintf(buf + n, sizeof buf - n, ".%06dZ", (int)(us % 1000000));
    else
        snprintf(buf + n, sizeof buf - n, "Z");
    return json_string(buf);
}

/* Compares without an early exit, so timing does not tell how much of a guess was right. */
static bool token_ok(const char *want, const char *auth)
{
    size_t wl = strlen(want), al;
    unsigned char diff = 0;
    if (!auth || strncmp(auth, "Bearer ", 7) != 0)
        return false;
    auth += 7;
    al = strlen(auth);
    for (size_t i = 0; i < wl; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < al ? auth[i] : 0);
    return diff == 0 && al == wl;
}

static enum MHD_Result send_response(struct MHD_Connection *conn, http_response *r, const char *allow,
                            bool auth_challenge)
{
    struct MHD_Response *mr;
    enum MHD_Result ret;
    mr = MHD_create_response_from_buffer(r->body_len, r->body ? r->body : (char *)"",
                                         r->body ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    if (!mr)
        return MHD_NO;
    MHD_add_response_header(mr, "Content-Type", r->content_type ? r->content_type : "application/json");
    MHD_add_response_header(mr, "Cache-Control", "no-store");
    if (allow)
        MHD_add_response_header(mr, "Allow", allow);
    if (auth_challenge)
        MHD_add_response_header(mr, "WWW-Authenticate", "Bearer");
    ret = MHD_queue_response(conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

static enum MHD_Result add_arg_len(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    size_t *n = cls;
    (void)kind;
    *n += strlen(key) + (value ? strlen(value) : 0) + 2;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    http_server *s = cls;
    http_request *req = *con_cls;
    http_response resp = {0};
    const http_route *match = NULL;
    char allow[64] = "";
    bool challenge = false;
    enum MHD_Result ret;
    (void)version;

    if (!req) { /* first call: headers only */
        req = ts_calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        ts_buf_init(&req->body, s->opt.max_body);
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_size) { /* body arrives in pieces; keep it under the cap */
        if (!req->too_big && ts_buf_append(&req->body, upload, *upload_size) != TS_OK)
            req->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    req->conn = conn;
    req->method = method;
    req->path = url;

    /* path + query is capped; MHD hands the query over as parsed arguments */
    size_t url_len = strlen(url);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg_len, &url_len);
    for (int i = 0; i < s->opt.nroutes; i++) {
        const http_route *r = &s->opt.routes[i];
        if (strcmp(r->path, url) != 0)
            continue;
        if (strcmp(r->method, method) == 0)
            match = r;
        else if (strlen(allow) + strlen(r->method) + 3 < sizeof allow)
            snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s", *allow ? ", " : "", r->method);
    }
    if (url_len > s->opt.max_url) {
        (void)http_reply_error(&resp, 414, "the request path is longer than %zu bytes", s->opt.max_url);
    } else if (req->too_big) {
        (void)http_reply_error(&resp, 413, "the request body is larger than %zu bytes", s->opt.max_body);
    } else if (!match && !*allow) {
        (void)http_reply_error(&resp, 404, "no such endpoint: %s %s", method, url);
    } else if (!match) {
        (void)http_reply_error(&resp, 405, "method %s is not allowed on %s (allowed: %s)", method, url, allow);
    } else if (*s->token && !match->open &&
               !token_ok(s->token, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"))) {
        (void)http_reply_error(&resp, 401, "this endpoint needs \"Authorization: Bearer <token>\"");
        challenge = true;
    } else {
        resp.status = 200;
        int rc = match->fn(match->ud, req, &resp);
        if (rc != 0 && resp.status < 400) {
            ts_free(resp.body);
            resp.body = NULL;
            resp.body_len = 0;
            (void)http_reply_error(&resp, 500, "internal error (%s)", ts_err_name(rc));
        }
    }
    if (!resp.body && resp.status == 0)
        (void)http_reply_error(&resp, 500, "internal error (out of memory)");
    ret = send_response(conn, &resp, match ? NULL : (*allow ? allow : NULL), challenge);
    atomic_fetch_add(&s->requests, 1);
    if (resp.status >= 100 && resp.status < 600)
        atomic_fetch_add(&s->by_class[resp.status / 100], 1);
    ts_free(resp.body);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    http_request *req = *con_cls;
    (void)cls, (void)conn, (void)code;
    if (req) {
        ts_buf_free(&req->body);
        ts_free(req);
        *con_cls = NULL;
    }
}

/* Parses "HOST:PORT" / "[V6]:PORT" into a sockaddr; *loopback tells 127/8 or ::1. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
                        bool *loopback, ts_err *err)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    char *end;
    long port;
    size_t hl;
    if (!colon)
        goto bad;
    hl = (size_t)(colon - listen);
    if (hl == 0 || hl >= sizeof host)
        goto bad;
    memcpy(host, listen, hl);
    host[hl] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        goto bad;
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
            goto bad;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
        *len = sizeof *a;
        return 0;
    }
    {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        if (strcmp(host, "localhost") == 0)
            strcpy(host, "127.0.0.1");
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            goto bad;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
        *len = sizeof *a;
        return 0;
    }
bad:
    return ts_err_set(err, TS_ERR_INVALID, "listen address \"%s\": expected IPV4:PORT or [IPV6]:PORT", listen);
}

int http_server_start(http_server **out, const http_options *o, ts_err *err)
{
    http_server *s = NULL;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    bool loopback = false;
    const union MHD_DaemonInfo *di;
    int rc;

    *out = NULL;
    if ((rc = parse_listen(o->listen, &ss, &sl, &loopback, err)) != 0)
        return rc;
    if (!loopback && (!o->token || !*o->token))
        return ts_err_set(err, TS_ERR_INVALID,
                          "refusing to listen on non-loopback address \"%s\" without an http.token", o->listen);
    s = ts_calloc(1, sizeof *s);
    if (!s || !(s->token = ts_strdup(o->token ? o->token : ""))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    ts_log_add_secret(s->token);
    s->opt = *o;
    if (!s->opt.max_body)
        s->opt.max_body = 64 * 1024;
    if (!s->opt.max_url)
        s->opt.max_url = 2048;
    if (s->opt.threads <= 0)
        s->opt.threads = 4;
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0,
        NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->opt.threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)512, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)128 * 1024, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->daemon) {
        rc = ts_err_set(err, TS_ERR_IO, "could not listen on \"%s\" (address in use or not available)", o->listen);
        goto fail;
    }
    di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : 0;
    *out = s;
    return 0;
fail:
    if (s)
        ts_free(s->token);
    ts_free(s);
    return rc;
}

int http_server_port(const http_server *s) { return s->port; }

void http_server_stats(const http_server *s, http_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return;
    out->requests = atomic_load(&s->requests);
    for (int i = 0; i < 6; i++)
        out->by_class[i] = atomic_load(&s->by_class[i]);
}

void http_server_stop(http_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    ts_free(s->token);
    ts_free(s);
}
