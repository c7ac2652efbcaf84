/* http.h: the small HTTP server behind both services' status, metrics and control
 * endpoints (libmicrohttpd): routing, bearer-token rules, size limits, JSON errors. */
#ifndef TS_HTTP_H
#define TS_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct http_server http_server;
typedef struct http_request http_request;

typedef struct http_response {
    int status;
    char *body;               /* owned (ts_malloc); NULL = empty */
    size_t body_len;
    const char *content_type; /* static string; default application/json */
} http_response;

/* Fills resp; returns 0, or a negative TS_ERR_* (answered as 500). */
typedef int (*http_handler)(void *ud, const http_request *req, http_response *resp);

typedef struct http_route {
    const char *method; /* "GET", "POST" */
    const char *path;   /* exact path, e.g. "/archival/status" */
    http_handler fn;
    void *ud;
    bool open; /* answered without the token (liveness and readiness probes) */
} http_route;

typedef struct http_options {
    const char *listen;  /* "HOST:PORT" (IPv4 or [IPv6]); port 0 = any free port */
    const char *token;   /* "" or NULL = no token; else every route but the open ones
                          * needs "Authorization: Bearer <token>" */
    size_t max_body;     /* bytes; larger bodies get 413 (default 64 KiB) */
    size_t max_url;      /* bytes of path + query; longer get 414 (default 2 KiB) */
    int threads;         /* default 4 */
    const http_route *routes;
    int nroutes;
} http_options;

/* Starts serving in background threads. Refuses a non-loopback address without a
 * token. The route table is borrowed and must outlive the server. */
int http_server_start(http_server **out, const http_options *o, ts_err *err) TS_MUSTCHECK;
/* The port actually bound (useful with port 0). */
int http_server_port(const http_server *s);
/* Stops and frees; NULL is a no-op. */
void http_server_stop(http_server *s);

/* Requests answered since the start, in total and by status class (index 1..5 for
 * 1xx..5xx; 0 unused). Safe to call from any thread, including a handler. */
typedef struct http_stats {
    long long requests;
    long long by_class[6];
} http_stats;
void http_server_stats(const http_server *s, http_stats *out);

/* The request's method, path, body (NUL-terminated), and one query parameter
 * (NULL when absent). */
const char *http_method(const http_request *req);
const char *http_path(const http_request *req);
const char *http_body(const http_request *req, size_t *len);
const char *http_query(const http_request *req, const char *key);

/* Sets resp to a JSON document (steals body's reference). */
int http_reply_json(http_response *resp, int status, json_t *body) TS_MUSTCHECK;
/* Sets resp to {"error": message, "status": status}. */
int http_reply_error(http_response *resp, int status, const char *fmt, ...) TS_PRINTF(3, 4);
/* Sets resp to plain text (copied) with the given content type. */
int http_reply_text(http_response *resp, int status, const char *content_type, const char *text,
                    size_t len) TS_MUSTCHECK;

/* A Unix time in microseconds as an RFC 3339 UTC JSON string; JSON null for <= 0. */
json_t *http_json_time(int64_t unix_us);

/* Parses a non-negative integer query parameter into *out: 0 when absent (out keeps
 * its default), TS_ERR_INVALID with a message in resp (400) when bad or > max. */
int http_query_int(const http_request *req, http_response *resp, const char *key, long max,
                   long *out);

#endif
