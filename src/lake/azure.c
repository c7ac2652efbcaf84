/* azure.c: the lake in Azure Blob Storage / ADLS Gen2 through the Blob REST API
 * (libcurl + OpenSSL): Shared Key, SAS or Entra ID (azure/identity.h); request URLs on the parsed
 * endpoint (connstr.c); block uploads with bounded concurrency and per-block MD5; Put
 * Block List with the whole object's MD5, then a read-back of size and MD5; retries
 * with backoff and jitter; paged listing (pages parsed by azure_list.c). */
#include "azure_int.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "azure/identity.h"
#include "codec.h"
#include "common/alloc.h"
#include "common/fault.h"
#include "common/log.h"
#include "store.h"

#define AZ_VERSION "2021-08-06"
#define AZ_ERRBODY_MAX (64u << 10)
#define AZ_RETRY_AFTER_MAX_S 60

typedef struct az_store {
    az_endpoint ep; /* the blob endpoint */
    char *account;
    char *container;
    char *key;     /* base64 account key, or NULL */
    char *sas;     /* query string without '?', or NULL */
    az_id *tok;    /* Entra ID tokens, or NULL */
    char *ca_file; /* CURLOPT_CAINFO, or NULL: the system store */
    char identity[600];
    lake_auth auth;
    size_t block_size;
    int concurrency;
    bool create;
    int max_retries, base_ms, max_ms, connect_timeout_s, stall_s;
    int (*interrupted)(void *ctx); /* lake_options.interrupted */
    void *interrupted_ctx;
    pthread_mutex_t mu; /* guards the idle handles */
    CURL *idle[8];
    int nidle;
} az_store;

/* ---- small helpers ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static CURL *handle_get(az_store *st)
{
    CURL *c = NULL;
    pthread_mutex_lock(&st->mu);
    if (st->nidle > 0)
        c = st->idle[--st->nidle];
    pthread_mutex_unlock(&st->mu);
    return c ? c : curl_easy_init();
}

static void handle_put(az_store *st, CURL *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&st->mu);
    if (st->nidle < (int)(sizeof st->idle / sizeof *st->idle)) {
        st->idle[st->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&st->mu);
    if (c)
        curl_easy_cleanup(c);
}

int az_url_encode(ts_buf *out, const char *s, bool keep_slash)
{
    for (;;) {
        size_t n = keep_slash ? strcspn(s, "/") : strlen(s);
        if (n > 0) { /* curl_easy_escape takes 0 for "up to the NUL" */
            char *e = n <= INT_MAX ? curl_easy_escape(NULL, s, (int)n) : NULL;
            int rc = e ? ts_buf_append(out, e, strlen(e)) : TS_ERR_NOMEM;
            if (e) {
                memset(e, 0, strlen(e)); /* it may be a secret (a form's client_secret) */
                curl_free(e);
            }
            if (rc)
                return rc;
        }
        s += n;
        if (!*s)
            return TS_OK;
        if (ts_buf_putc(out, '/'))
            return TS_ERR_NOMEM;
        s++;
    }
}

static void http_date(char out[40])
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
             mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---- Shared Key ---- */

static const char *hdr_value(const az_header *h, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcasecmp(h[i].name, name) == 0)
            return h[i].value;
    return "";
}

static int cmp_hdr(const void *a, const void *b)
{
    return strcasecmp(((const az_header *)a)->name, ((const az_header *)b)->name);
}

static int cmp_param(const void *a, const void *b)
{
    return strcasecmp(((const az_param *)a)->name, ((const az_param *)b)->name);
}

int az_string_to_sign(ts_buf *out, const char *verb, const az_header *hdrs, int nhdrs,
                      const char *account, const char *path, const az_param *params, int nparams)
{
    static const char *const std[] = {"Content-Encoding", "Content-Language", "Content-Length",
                                      "Content-MD5",      "Content-Type",     "Date",
                                      "If-Modified-Since", "If-Match",        "If-None-Match",
                                      "If-Unmodified-Since", "Range"};
    az_header xs[32];
    az_param ps[16];
    int nx = 0;

    if (nparams > 16)
        return TS_ERR_INTERNAL;
    if (ts_buf_printf(out, "%s\n", verb))
        return TS_ERR_NOMEM;
    for (size_t i = 0; i < sizeof std / sizeof *std; i++) {
        const char *v = hdr_value(hdrs, nhdrs, std[i]);
        if (i == 2 && strcmp(v, "0") == 0)
            v = ""; /* version 2015-02-21+: an empty body signs as "" */
        if (ts_buf_printf(out, "%s\n", v))
            return TS_ERR_NOMEM;
    }
    for (int i = 0; i < nhdrs; i++)
        if (strncasecmp(hdrs[i].name, "x-ms-", 5) == 0 && nx < 32)
            xs[nx++] = hdrs[i];
    if (nx > 1)
        qsort(xs, (size_t)nx, sizeof *xs, cmp_hdr);
    for (int i = 0; i < nx; i++) {
        for (const char *p = xs[i].name; *p; p++)
            if (ts_buf_putc(out, (uint8_t)tolower((unsigned char)*p)))
                return TS_ERR_NOMEM;
        if (ts_buf_printf(out, ":%s\n", xs[i].value))
            return TS_ERR_NOMEM;
    }
    if (ts_buf_printf(out, "/%s%s", account, path))
        return TS_ERR_NOMEM;
    if (nparams > 0) {
        memcpy(ps, params, (size_t)nparams * sizeof *ps);
        qsort(ps, (size_t)nparams, sizeof *ps, cmp_param);
    }
    for (int i = 0; i < nparams; i++) {
        if (ts_buf_putc(out, '\n'))
            return TS_ERR_NOMEM;
        for (const char *p = ps[i].name; *p; p++)
            if (ts_buf_putc(out, (uint8_t)tolower((unsigned char)*p)))
                return TS_ERR_NOMEM;
        if (ts_buf_printf(out, ":%s", ps[i].value))
            return TS_ERR_NOMEM;
    }
    return TS_OK;
}

int az_sign(const char *key_b64, const char *sts, size_t len, char *out, size_t cap)
{
    uint8_t key[256], mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    long kl = lake_b64_decode(key_b64, strlen(key_b64), key, sizeof key);
    int rc = TS_OK;
    if (kl <= 0)
        return TS_ERR_INVALID;
    if (!HMAC(EVP_sha256(), key, (int)kl, (const unsigned char *)sts, len, mac, &maclen))
        rc = TS_ERR_INTERNAL;
    else if (cap < 4 * ((maclen + 2) / 3) + 1)
        rc = TS_ERR_TOOBIG;
    else
        lake_b64_encode(mac, maclen, out);
    memset(key, 0, sizeof key);
    return rc;
}

/* ---- requests ---- */

typedef struct az_req {
    const char *verb;
    const char *what;  /* "put block", for messages */
    const char *blob;  /* full blob path, or NULL for the container */
    az_param params[6];
    int nparams;
    az_header hdrs[8]; /* besides x-ms-date, x-ms-version, Authorization */
    int nhdrs;
    const uint8_t *body;
    size_t body_len;
    bool has_body; /* PUT: send Content-Length even when 0 */
    ts_buf *out;   /* response body (capped by its limit); NULL: discarded */
    uint8_t *dst;  /* or: the 2xx body lands here (range reads) */
    size_t dst_cap;
    size_t dst_got;
    atomic_int *cancel; /* nonzero: stop retrying */
    int (*interrupted)(void *ctx); /* the store's hook (az_do sets it), or NULL */
    void *interrupted_ctx;
    bool if_none_match; /* write-once: If-None-Match: *, a taken name is TS_ERR_EXISTS */
} az_req;

typedef struct az_resp {
    long status;
    char error_code[96];
    long retry_after_s; /* -1 when absent */
    bool has_len;
    uint64_t content_length;
    bool has_md5;
    uint8_t md5[16];
    char etag[80]; /* "" when absent */
} az_resp;

typedef struct xfer {
    az_req *rq;
    az_resp *rs;
    CURL *c;
    size_t rpos;
    bool overflow;
} xfer;

static size_t on_read(char *p, size_t sz, size_t n, void *ud)
{
    xfer *x = ud;
    size_t left = x->rq->body_len - x->rpos, k = sz * n < left ? sz * n : left;
    memcpy(p, x->rq->body + x->rpos, k);
    x->rpos += k;
    return k;
}

/* the request's writer was aborted, or the host asks to stop (lake_options.interrupted) */
static bool stopped(const az_req *rq)
{
    return (rq->cancel && atomic_load(rq->cancel)) ||
           (rq->interrupted && rq->interrupted(rq->interrupted_ctx));
}

/* stops a transfer as soon as its writer is aborted or another block failed */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    xfer *x = ud;
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return stopped(x->rq) ? 1 : 0;
}

/* curl rewinds the body when it resends on a fresh connection */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
    xfer *x = ud;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > x->rq->body_len)
        return CURL_SEEKFUNC_FAIL;
    x->rpos = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *p, size_t sz, size_t n, void *ud)
{
    xfer *x = ud;
    long code = 0;
    size_t k = sz * n;
    curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &code);
    if (x->rq->dst && code >= 200 && code < 300) {
        if (k > x->rq->dst_cap - x->rq->dst_got) {
            x->overflow = true;
            return 0;
        }
        memcpy(x->rq->dst + x->rq->dst_got, p, k);
        x->rq->dst_got += k;
        return k;
    }
    if (x->rq->out && code >= 200 && code < 300) {
        if (ts_buf_append(x->rq->out, p, k) != TS_OK) {
            x->overflow = true;
            return 0;
        }
    }
    return k; /* error bodies are not kept: they may echo signatures */
}

static void trim_copy(char *dst, size_t cap, const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    xfer *x = ud;
    size_t len = sz * n;
    char val[128];
    const char *colon = memchr(p, ':', len);
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (e.g. after 100) */
        x->rs->error_code[0] = '\0';
        x->rs->retry_after_s = -1;
        x->rs->has_len = x->rs->has_md5 = false;
        x->rs->etag[0] = '\0';
        return len;
    }
    if (!colon)
        return len;
    size_t nl = (size_t)(colon - p);
    trim_copy(val, sizeof val, colon + 1, len - nl - 1);
    if (nl == 15 && strncasecmp(p, "x-ms-error-code", nl) == 0) {
        snprintf(x->rs->error_code, sizeof x->rs->error_code, "%.80s", val);
    } else if (nl == 11 && strncasecmp(p, "Retry-After", nl) == 0) {
        char *end;
        long s = strtol(val, &end, 10);
        if (end != val && s >= 0)
            x->rs->retry_after_s = s > AZ_RETRY_AFTER_MAX_S ? AZ_RETRY_AFTER_MAX_S : s;
    } else if (nl == 14 && strncasecmp(p, "Content-Length", nl) == 0) {
        x->rs->content_length = strtoull(val, NULL, 10);
        x->rs->has_len = true;
    } else if (nl == 11 && strncasecmp(p, "Content-MD5", nl) == 0) {
        x->rs->has_md5 = lake_b64_decode(val, strlen(val), x->rs->md5, 16) == 16;
    } else if (nl == 4 && strncasecmp(p, "ETag", nl) == 0) {
        snprintf(x->rs->etag, sizeof x->rs->etag, "%.78s", val);
    }
    return len;
}

/* "operation on "blob" in container "c" of account "a"": the context of messages. */
static void req_context(const az_store *st, const az_req *rq, char *out, size_t cap)
{
    if (rq->blob)
        snprintf(out, cap, "azure %s of \"%.300s\" in container \"%s\" of account \"%s\"", rq->what,
                 rq->blob, st->container, st->account);
    else
        snprintf(out, cap, "azure %s of container \"%s\" in account \"%s\"", rq->what, st->container,
                 st->account);
}

static bool retryable_status(long s)
{
    return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

static bool retryable_curl(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SEND_FAIL_REWIND:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static unsigned jitter_seed(void)
{
    unsigned s = 0;
    if (RAND_bytes((unsigned char *)&s, sizeof s) != 1)
        s = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&s;
    return s;
}

/* Sleeps ms in short slices; false when cancelled or interrupted meanwhile. */
static bool nap(long ms, const az_req *rq)
{
    while (ms > 0) {
        long step = ms < 50 ? ms : 50;
        if (stopped(rq))
            return false;
        usleep((useconds_t)step * 1000);
        ms -= step;
    }
    return !stopped(rq);
}

/* The request's URL into u: the endpoint's origin, the path, the query; and the path
 * as the Shared Key signature covers it (percent-encoded as sent) into path. Built as
 * text, not through CURLU's part setters: those rewrite %XX to lower case, and the
 * signature covers the path byte for byte. The SAS, a secret, only when with_sas. */
static int build_url(const az_store *st, const az_req *rq, bool with_sas, ts_buf *u, ts_buf *path)
{
    if (ts_buf_printf(path, "%s/", st->ep.path) || az_url_encode(path, st->container, false))
        return TS_ERR_NOMEM;
    if (rq->blob && (ts_buf_putc(path, '/') || az_url_encode(path, rq->blob, true)))
        return TS_ERR_NOMEM;
    if (ts_buf_printf(u, "%s", st->ep.origin) || ts_buf_append(u, path->data, path->len))
        return TS_ERR_NOMEM;
    for (int i = 0; i < rq->nparams; i++)
        if (ts_buf_putc(u, i ? '&' : '?') || ts_buf_printf(u, "%s=", rq->params[i].name) ||
            az_url_encode(u, rq->params[i].value, false))
            return TS_ERR_NOMEM;
    if (with_sas && st->sas &&
        (ts_buf_putc(u, rq->nparams ? '&' : '?') || ts_buf_printf(u, "%s", st->sas)))
        return TS_ERR_NOMEM;
    return TS_OK;
}

/* One attempt. Returns TS_OK when an HTTP answer came (any status), else the curl
 * failure as TS_ERR_CONN / TS_ERR_TIMEOUT with *cc set. */
static int attempt(az_store *st, CURL *c, az_req *rq, az_resp *rs, CURLcode *cc, char *ebuf,
                   ts_err *err)
{
    ts_buf u, path, sts;
    struct curl_slist *h = NULL;
    char date[40], line[8300], auth[AZ_ID_TOKEN_MAX + 64], lenbuf[32];
    az_header all[12];
    int n = 0, rc = TS_OK;
    xfer x = {rq, rs, c, 0, false};

    ts_buf_init(&u, 0);
    ts_buf_init(&path, 0);
    ts_buf_init(&sts, 0);
    memset(rs, 0, sizeof *rs);
    rs->retry_after_s = -1;
    rq->dst_got = 0;
    if (rq->out)
        ts_buf_reset(rq->out);
    if ((rc = build_url(st, rq, true, &u, &path)) != TS_OK) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    http_date(date);
    all[n++] = (az_header){"x-ms-date", date};
    all[n++] = (az_header){"x-ms-version", AZ_VERSION};
    if (rq->has_body) {
        snprintf(lenbuf, sizeof lenbuf, "%zu", rq->body_len);
        all[n++] = (az_header){"Content-Length", lenbuf};
    }
    for (int i = 0; i < rq->nhdrs && n < 12; i++)
        all[n++] = rq->hdrs[i];
    for (int i = 0; i < n; i++) {
        if (strcasecmp(all[i].name, "Content-Length") == 0)
            continue; /* curl sends it from CURLOPT_INFILESIZE */
        snprintf(line, sizeof line, "%s: %s", all[i].name, all[i].value);
        if (!(h = curl_slist_append(h, line)))
            goto nomem;
    }
    auth[0] = '\0';
    if (st->key && (st->auth == LAKE_AUTH_SHARED_KEY || st->auth == LAKE_AUTH_AUTO)) {
        char sig[64];
        if (az_string_to_sign(&sts, rq->verb, all, n, st->account, ts_buf_cstr(&path), rq->params,
                              rq->nparams))
            goto nomem;
        if (az_sign(st->key, (const char *)sts.data, sts.len, sig, sizeof sig)) {
            rc = ts_err_set(err, TS_ERR_INVALID, "could not sign with the account key of \"%s\"",
                            st->account);
            goto out;
        }
        snprintf(auth, sizeof auth, "Authorization: SharedKey %s:%s", st->account, sig);
    } else if (st->tok) {
        char tok[AZ_ID_TOKEN_MAX];
        if ((rc = az_id_token(st->tok, tok, sizeof tok, NULL, err)) != TS_OK)
            goto out;
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
        explicit_bzero(tok, sizeof tok);
    }
    if (auth[0] && !(h = curl_slist_append(h, auth)))
        goto nomem;
    memset(auth, 0, sizeof auth);
    if (!(h = curl_slist_append(h, "Expect:")))
        goto nomem;

    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, ts_buf_cstr(&u));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)st->connect_timeout_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)st->stall_s);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    if (st->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, st->ca_file);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    if (rq->cancel || rq->interrupted) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
    }
    if (strcmp(rq->verb, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &x);
        curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(c, CURLOPT_SEEKDATA, &x);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
        curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 512L << 10); /* fewer, larger writes */
    } else if (strcmp(rq->verb, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (rq->dst) {
        curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L << 10);
    } else if (strcmp(rq->verb, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->verb);
    }
    ebuf[0] = '\0';
    *cc = curl_easy_perform(c);
    if (*cc == CURLE_WRITE_ERROR && x.overflow) {
        rc = ts_err_set(err, TS_ERR_TOOBIG, "the answer to the azure %s is larger than expected",
                        rq->what);
        goto out;
    }
    if (*cc != CURLE_OK) {
        rc = *cc == CURLE_OPERATION_TIMEDOUT ? TS_ERR_TIMEOUT : TS_ERR_CONN;
        goto out; /* the caller decides whether to retry and words the message */
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
    goto out;
nomem:
    rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
out:
    memset(auth, 0, sizeof auth);
    curl_slist_free_all(h); /* holds the Authorization line: curl copies nothing we keep */
    if (sts.data)
        memset(sts.data, 0, sts.len);
    if (u.data)
        memset(u.data, 0, u.len); /* held the SAS */
    ts_buf_free(&u);
    ts_buf_free(&path);
    ts_buf_free(&sts);
    return rc;
}

/* Runs a request with retries. TS_OK when an HTTP answer came that is not retryable
 * (the caller judges its status); errors for connection failures that outlasted the
 * retries, cancellation, or local failures. */
static int az_do(az_store *st, CURL *c, az_req *rq, az_resp *rs, ts_err *err)
{
    char ebuf[CURL_ERROR_SIZE], ctx[600];
    unsigned seed = jitter_seed();
    bool reauth = false;
    int rc;

    if (!rq->interrupted) {
        rq->interrupted = st->interrupted;
        rq->interrupted_ctx = st->interrupted_ctx;
    }
    for (int n = 0;; n++) {
        CURLcode cc = CURLE_OK;
        ts_err e1;
        long delay;
        ts_err_clear(&e1);
        rc = attempt(st, c, rq, rs, &cc, ebuf, &e1);
        if (rq->interrupted && rq->interrupted(rq->interrupted_ctx))
            return ts_err_set(err, TS_ERR_INTERNAL, "azure %s interrupted", rq->what);
        if (rc == TS_OK && rs->status == 401 && st->tok && !reauth) {
            az_id_invalidate(st->tok); /* expired or revoked early: one fresh token */
            reauth = true;
            n--;
            continue;
        }
        if (rc == TS_OK && !retryable_status(rs->status))
            return TS_OK;
        if (rc != TS_OK && e1.code != TS_OK) /* a local failure (memory, signing, token) */
            return ts_err_set(err, e1.code, "%s", e1.msg);
        if (rc != TS_OK && !retryable_curl(cc)) {
            req_context(st, rq, ctx, sizeof ctx);
            return ts_err_set(err, rc, "%s failed: %s", ctx, ebuf[0] ? ebuf : curl_easy_strerror(cc));
        }
        if (n >= st->max_retries) {
            req_context(st, rq, ctx, sizeof ctx);
            if (rc != TS_OK)
                return ts_err_set(err, rc,
                                  "%s failed after %d attempts: could not reach \"%s\": %s", ctx,
                                  n + 1, st->ep.text, ebuf[0] ? ebuf : curl_easy_strerror(cc));
            return ts_err_set(err, rs->status == 408 || rs->status == 504 ? TS_ERR_TIMEOUT
                                                                          : TS_ERR_REMOTE,
                              "%s failed after %d attempts: HTTP %ld%s%s", ctx, n + 1, rs->status,
                              rs->error_code[0] ? " " : "", rs->error_code);
        }
        delay = (long)st->base_ms << (n < 16 ? n : 16);
        if (delay > st->max_ms)
            delay = st->max_ms;
        delay = delay / 2 + (long)(rand_r(&seed) % (unsigned)(delay / 2 + 1)); /* jitter */
        if (rc == TS_OK && rs->retry_after_s >= 0 && rs->retry_after_s * 1000 > delay)
            delay = rs->retry_after_s * 1000;
        ts_debug("azure %s: %s, retry %d of %d in %ld ms", rq->what,
                 rc == TS_OK ? "server busy" : (ebuf[0] ? ebuf : curl_easy_strerror(cc)), n + 1,
                 st->max_retries, delay);
        if (!nap(delay, rq))
            return ts_err_set(err, TS_ERR_INTERNAL, "azure %s %s", rq->what,
                              rq->cancel && atomic_load(rq->cancel) ? "cancelled" : "interrupted");
    }
}

/* The error for a final non-2xx answer, naming account and container, never a secret. */
static int az_fail(const az_store *st, const az_req *rq, const az_resp *rs, ts_err *err)
{
    char ctx[600];
    const char *hint = "";
    int code = TS_ERR_REMOTE;
    req_context(st, rq, ctx, sizeof ctx);
    if (rs->status == 401 || rs->status == 403) {
        code = TS_ERR_AUTH;
        hint = st->key   ? ": access denied (check the account key in the connection string)"
               : st->sas ? ": access denied (check the SAS: permissions, expiry, services)"
                         : ": access denied (check that the identity holds the Storage Blob Data "
                           "Contributor role on the container)";
    } else if (rs->status == 404) {
        code = TS_ERR_NOTFOUND;
        if (strcmp(rs->error_code, "ContainerNotFound") == 0)
            hint = st->create ? ": the container does not exist"
                              : ": the container does not exist (lake.create_container is off)";
    } else if (rq->if_none_match && (rs->status == 409 || rs->status == 412)) {
        code = TS_ERR_EXISTS; /* If-None-Match: * on a name that is taken */
        hint = ": the name is taken (objects are write-once)";
    } else if (rs->status == 409) {
        code = TS_ERR_CONFLICT;
    }
    return ts_err_set(err, code, "%s failed: HTTP %ld%s%s%s", ctx, rs->status,
                      rs->error_code[0] ? " " : "", rs->error_code, hint);
}

static int create_container(az_store *st, CURL *c, atomic_int *cancel, ts_err *err)
{
    az_req rq = {.verb = "PUT", .what = "create container", .has_body = true, .cancel = cancel};
    az_resp rs;
    int rc;
    rq.params[rq.nparams++] = (az_param){"restype", "container"};
    if ((rc = az_do(st, c, &rq, &rs, err)) != TS_OK)
        return rc;
    if (rs.status == 201 || (rs.status == 409 && strcmp(rs.error_code, "ContainerAlreadyExists") == 0)) {
        if (rs.status == 201)
            ts_info("created container \"%s\" in azure account \"%s\"", st->container, st->account);
        return TS_OK;
    }
    return az_fail(st, &rq, &rs, err);
}

static bool container_missing(const az_resp *rs)
{
    return rs->status == 404 && strcmp(rs->error_code, "ContainerNotFound") == 0;
}

/* az_do, and when the container is missing and may be created: create it, once more. */
static int az_do_c(az_store *st, CURL *c, az_req *rq, az_resp *rs, ts_err *err)
{
    int rc = az_do(st, c, rq, rs, err);
    if (rc == TS_OK && container_missing(rs) && st->create) {
        if ((rc = create_container(st, c, rq->cancel, err)) != TS_OK)
            return rc;
        rc = az_do(st, c, rq, rs, err);
    }
    return rc;
}

/* ---- open ---- */

static void az_store_free(void *p)
{
    az_store *st = p;
    if (!st)
        return;
    for (int i = 0; i < st->nidle; i++)
        curl_easy_cleanup(st->idle[i]);
    pthread_mutex_destroy(&st->mu);
    az_id_free(st->tok);
    ts_free(st->ca_file);
    az_endpoint_free(&st->ep);
    ts_free(st->account);
    ts_free(st->container);
    if (st->key) {
        memset(st->key, 0, strlen(st->key));
        ts_free(st->key);
    }
    if (st->sas) {
        memset(st->sas, 0, strlen(st->sas));
        ts_free(st->sas);
    }
    ts_free(st);
}

static bool valid_container(const char *s)
{
    size_t l = strlen(s);
    if (l < 3 || l > 63 || s[0] == '-' || s[l - 1] == '-')
        return strcmp(s, "$root") == 0;
    for (size_t i = 0; i < l; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) ||
              (s[i] == '-' && s[i + 1] != '-')))
            return false;
    return true;
}

int lake_azure_open(void **out, const lake_options *o, char *describe, size_t dlen, ts_err *err)
{
    az_store *st = NULL;
    az_connstr cs;
    char *src = NULL;
    int rc = TS_OK;

    memset(&cs, 0, sizeof cs);
    pthread_once(&curl_once, curl_init_once);
    if (!(st = ts_calloc(1, sizeof *st)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&st->mu, NULL);
    st->block_size = o->block_size ? o->block_size : 8u << 20;
    st->concurrency = o->upload_concurrency > 0 ? o->upload_concurrency : 4;
    st->create = o->create_container;
    st->max_retries = o->max_retries >= 0 ? o->max_retries : 5;
    st->base_ms = o->retry_base_ms > 0 ? o->retry_base_ms : 250;
    st->max_ms = o->retry_max_ms > 0 ? o->retry_max_ms : 20000;
    st->connect_timeout_s = o->connect_timeout_s > 0 ? o->connect_timeout_s : 10;
    st->stall_s = o->stall_timeout_s > 0 ? o->stall_timeout_s : 60;
    st->auth = o->auth;
    st->interrupted = o->interrupted;
    st->interrupted_ctx = o->interrupted_ctx;
    if (st->block_size < 64u << 10 || st->block_size > 4000u << 20) {
        rc = ts_err_set(err, TS_ERR_INVALID, "lake block size must be between 64 KiB and 4000 MiB");
        goto out;
    }
    if (st->concurrency > 64) {
        rc = ts_err_set(err, TS_ERR_INVALID, "lake upload concurrency must be at most 64");
        goto out;
    }
    if (!o->container || !*o->container) {
        rc = ts_err_set(err, TS_ERR_INVALID, "no container: set lakehouse_container");
        goto out;
    }
    if (!valid_container(o->container)) {
        rc = ts_err_set(err, TS_ERR_INVALID,
                        "container name \"%s\" is not valid (3-63 of a-z, 0-9 and single '-')",
                        o->container);
        goto out;
    }
    if (!(st->container = ts_strdup(o->container)))
        goto nomem;
    if (o->connection_string && *o->connection_string) {
        ts_log_add_secret(o->connection_string);
        if ((rc = az_connstr_parse(o->connection_string, &cs, err)) != TS_OK)
            goto out;
        if (cs.key)
            ts_log_add_secret(cs.key);
        if (cs.sas)
            ts_log_add_secret(cs.sas);
    }
    /* the endpoint: lake_options' (tests, private links), the connection string's, or
     * the public cloud's for the account */
    if (o->blob_endpoint && *o->blob_endpoint) {
        src = ts_strdup(o->blob_endpoint);
    } else if (o->connection_string && *o->connection_string) {
        if (!(src = az_connstr_endpoint(&cs, err))) {
            rc = err && err->code ? err->code : TS_ERR_NOMEM;
            goto out;
        }
    } else if (o->account && *o->account) {
        size_t l = strlen(o->account) + 40;
        if ((src = ts_malloc(l)))
            snprintf(src, l, "https://%s.blob.core.windows.net", o->account);
    } else {
        rc = ts_err_set(err, TS_ERR_INVALID,
                        "no azure account: set lakehouse_storage_account or "
                        "lakehouse_connection_string");
        goto out;
    }
    if (!src)
        goto nomem;
    if ((rc = az_endpoint_parse(src, &st->ep, err)) != TS_OK)
        goto out;
    if (cs.account)
        st->account = ts_strdup(cs.account);
    else if (o->account && *o->account)
        st->account = ts_strdup(o->account);
    else
        st->account = ts_strdup(st->ep.account);
    if (!st->account)
        goto nomem;
    if (o->account && *o->account && strcmp(o->account, st->account) != 0)
        ts_warn("lakehouse_storage_account \"%s\" differs from the connection string's account "
                "\"%s\"; using the connection string's",
                o->account, st->account);

    if (o->ca_file && *o->ca_file && !(st->ca_file = ts_strdup(o->ca_file)))
        goto nomem;
    switch (st->auth) {
    case LAKE_AUTH_AUTO: /* key, SAS, then Entra ID as az_id_new's AZ_ID_AUTO picks */
        if (cs.key)
            st->auth = LAKE_AUTH_SHARED_KEY;
        else if (cs.sas)
            st->auth = LAKE_AUTH_SAS;
        break;
    case LAKE_AUTH_SHARED_KEY:
        if (!cs.key) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "lake.auth is shared_key but the connection string has no AccountKey");
            goto out;
        }
        break;
    case LAKE_AUTH_SAS:
        if (!cs.sas) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "lake.auth is sas but the connection string has no SharedAccessSignature");
            goto out;
        }
        break;
    default:
        break;
    }
    if (st->auth == LAKE_AUTH_SHARED_KEY) {
        st->key = cs.key;
        cs.key = NULL;
    } else if (st->auth == LAKE_AUTH_SAS) {
        st->sas = cs.sas;
        cs.sas = NULL;
    } else {
        az_id_options io;
        az_id_options_init(&io);
        io.kind = st->auth == LAKE_AUTH_SERVICE_PRINCIPAL   ? AZ_ID_SERVICE_PRINCIPAL
                  : st->auth == LAKE_AUTH_MANAGED_IDENTITY  ? AZ_ID_MANAGED_IDENTITY
                  : st->auth == LAKE_AUTH_WORKLOAD_IDENTITY ? AZ_ID_WORKLOAD_IDENTITY
                                                            : AZ_ID_AUTO;
        io.scope = AZ_ID_SCOPE_STORAGE;
        io.tenant_id = o->tenant_id;
        io.client_id = o->client_id;
        io.client_secret = o->client_secret;
        io.client_certificate_file = o->client_certificate_file;
        io.authority_host = o->authority_host;
        io.imds_endpoint = o->imds_endpoint;
        io.federated_token_file = o->federated_token_file;
        io.ca_file = o->ca_file;
        io.setting = "lake";
        if ((rc = az_id_new(&io, &st->tok, err)) != TS_OK)
            goto out;
        st->auth = az_id_kind_of(st->tok) == AZ_ID_SERVICE_PRINCIPAL   ? LAKE_AUTH_SERVICE_PRINCIPAL
                   : az_id_kind_of(st->tok) == AZ_ID_WORKLOAD_IDENTITY ? LAKE_AUTH_WORKLOAD_IDENTITY
                                                                       : LAKE_AUTH_MANAGED_IDENTITY;
    }
    if (st->tok)
        snprintf(st->identity, sizeof st->identity, "%s, token for \"%s\"", az_id_describe(st->tok),
                 AZ_ID_SCOPE_STORAGE);
    else
        snprintf(st->identity, sizeof st->identity, "%s of account \"%s\"",
                 st->key ? "shared key" : "shared access signature (SAS)", st->account);
    snprintf(describe, dlen, "azure account \"%s\" container \"%s\" at \"%s\"", st->account,
             st->container, st->ep.text);
    *out = st;
    st = NULL;
    goto out;
nomem:
    rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
out:
    ts_free(src);
    az_connstr_free(&cs);
    az_store_free(st);
    return rc;
}

/* ---- upload ---- */

typedef struct az_job {
    int buf;
    size_t len;
    unsigned index;
} az_job;

typedef struct az_writer {
    az_store *st;
    char *blob;
    uint32_t tag; /* makes block ids unique to this writer */
    int nbufs_max, nbufs;
    uint8_t **bufs;
    int *free_bufs;
    int nfree;
    int cur;   /* buffer being filled, -1 none */
    size_t cur_len;
    unsigned nblocks;
    az_job *queue; /* ring of nbufs_max */
    int qhead, qlen;
    int inflight;
    pthread_t *threads;
    int nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int cancel;
    bool stopping;
    ts_err err;
} az_writer;

static void block_id(const az_writer *w, unsigned index, char out[32])
{
    char raw[19];
    snprintf(raw, sizeof raw, "%08x%010u", w->tag, index);
    lake_b64_encode((const uint8_t *)raw, 18, out);
}

static int put_block(az_writer *w, CURL *c, const uint8_t *data, size_t len, unsigned index,
                     ts_err *err)
{
    char id[32], md5b[32];
    uint8_t md5[16];
    az_req rq = {.verb = "PUT", .what = "put block", .blob = w->blob, .body = data,
                 .body_len = len, .has_body = true, .cancel = &w->cancel};
    az_resp rs;
    int rc;
    block_id(w, index, id);
    lake_md5(data, len, md5);
    lake_b64_encode(md5, 16, md5b);
    rq.params[rq.nparams++] = (az_param){"comp", "block"};
    rq.params[rq.nparams++] = (az_param){"blockid", id};
    rq.hdrs[rq.nhdrs++] = (az_header){"Content-MD5", md5b};
    if ((rc = az_do_c(w->st, c, &rq, &rs, err)) != TS_OK)
        return rc;
    return rs.status == 201 ? TS_OK : az_fail(w->st, &rq, &rs, err);
}

static void *worker_main(void *arg)
{
    az_writer *w = arg;
    CURL *c = curl_easy_init();
    pthread_mutex_lock(&w->mu);
    for (;;) {
        az_job job;
        ts_err e;
        bool failed;
        int rc;
        while (w->qlen == 0 && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->qlen == 0)
            break;
        job = w->queue[w->qhead];
        w->qhead = (w->qhead + 1) % w->nbufs_max;
        w->qlen--;
        w->inflight++;
        failed = w->err.code != TS_OK;
        pthread_mutex_unlock(&w->mu);

        ts_err_clear(&e);
        if (!c)
            rc = ts_err_set(&e, TS_ERR_NOMEM, "could not start a curl handle");
        else if (failed)
            rc = TS_ERR_INTERNAL; /* another block failed: skip */
        else
            rc = put_block(w, c, w->bufs[job.buf], job.len, job.index, &e);
        if (rc == 0)
            ts_fault("lake.block_put"); /* between blocks: staged, not committed */

        pthread_mutex_lock(&w->mu);
        if (rc && e.code)
            ts_err_set(&w->err, e.code, "%s", e.msg);
        if (rc)
            atomic_store(&w->cancel, 1);
        w->free_bufs[w->nfree++] = job.buf;
        w->inflight--;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (c)
        curl_easy_cleanup(c);
    return NULL;
}

static void writer_stop(az_writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    w->nthreads = 0;
}

static void writer_free(az_writer *w)
{
    if (!w)
        return;
    atomic_store(&w->cancel, 1);
    writer_stop(w);
    for (int i = 0; i < w->nbufs; i++)
        ts_free(w->bufs[i]);
    ts_free(w->bufs);
    ts_free(w->free_bufs);
    ts_free(w->queue);
    ts_free(w->threads);
    ts_free(w->blob);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    ts_free(w);
}

static int az_writer_open(void *p, const char *full, void **out, ts_err *err)
{
    az_store *st = p;
    az_writer *w = ts_calloc(1, sizeof *w);
    int n = st->concurrency;
    if (!w)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    atomic_init(&w->cancel, 0);
    w->st = st;
    w->cur = -1;
    w->nbufs_max = n;
    if (RAND_bytes((unsigned char *)&w->tag, sizeof w->tag) != 1)
        w->tag = (uint32_t)time(NULL) ^ (uint32_t)getpid();
    if (!(w->blob = ts_strdup(full)) || !(w->bufs = ts_calloc((size_t)n, sizeof *w->bufs)) ||
        !(w->free_bufs = ts_calloc((size_t)n, sizeof *w->free_bufs)) ||
        !(w->queue = ts_calloc((size_t)n, sizeof *w->queue)) ||
        !(w->threads = ts_calloc((size_t)n, sizeof *w->threads))) {
        writer_free(w);
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    }
    *out = w;
    return TS_OK;
}

/* A buffer to fill: a free one, a new one while under the limit, or wait. */
static int take_buffer(az_writer *w, ts_err *err)
{
    int rc = TS_OK;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (w->err.code != TS_OK) {
            rc = ts_err_set(err, w->err.code, "%s", w->err.msg);
            break;
        }
        if (w->nfree > 0) {
            w->cur = w->free_bufs[--w->nfree];
            break;
        }
        if (w->nbufs < w->nbufs_max) {
            uint8_t *b = ts_malloc(w->st->block_size);
            if (!b) {
                rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory for a %zu-byte upload block",
                                w->st->block_size);
                break;
            }
            w->bufs[w->nbufs] = b;
            w->cur = w->nbufs++;
            break;
        }
        pthread_cond_wait(&w->cv, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    w->cur_len = 0;
    return rc;
}

static int submit(az_writer *w, ts_err *err)
{
    int rc = TS_OK;
    pthread_mutex_lock(&w->mu);
    if (w->nthreads < w->nbufs_max && w->nthreads <= w->qlen + w->inflight) {
        if (pthread_create(&w->threads[w->nthreads], NULL, worker_main, w) == 0)
            w->nthreads++;
        else if (w->nthreads == 0)
            rc = ts_err_set(err, TS_ERR_INTERNAL, "could not start an upload thread");
    }
    if (rc == TS_OK) {
        w->queue[(w->qhead + w->qlen) % w->nbufs_max] = (az_job){w->cur, w->cur_len, w->nblocks++};
        w->qlen++;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    w->cur = -1;
    w->cur_len = 0;
    return rc;
}

static int az_writer_write(void *p, const void *data, size_t n, ts_err *err)
{
    az_writer *w = p;
    const uint8_t *b = data;
    int rc;
    while (n) {
        size_t k;
        if (w->cur < 0 && (rc = take_buffer(w, err)) != TS_OK)
            return rc;
        k = w->st->block_size - w->cur_len;
        if (k > n)
            k = n;
        memcpy(w->bufs[w->cur] + w->cur_len, b, k);
        w->cur_len += k;
        b += k;
        n -= k;
        if (w->cur_len == w->st->block_size) {
            if (w->nblocks >= 50000)
                return ts_err_set(err, TS_ERR_TOOBIG,
                                  "object \"%s\" needs more than 50,000 blocks: raise the block size",
                                  w->blob);
            if ((rc = submit(w, err)) != TS_OK)
                return rc;
        }
    }
    return TS_OK;
}

static int az_head(az_store *st, CURL *c, const char *blob, az_resp *rs, ts_err *err)
{
    az_req rq = {.verb = "HEAD", .what = "get blob properties", .blob = blob};
    int rc = az_do(st, c, &rq, rs, err);
    if (rc)
        return rc;
    return rs->status == 200 ? TS_OK : az_fail(st, &rq, rs, err);
}

static int az_writer_commit(void *p, uint64_t size, const uint8_t md5[16], lake_info *info,
                            ts_err *err)
{
    az_writer *w = p;
    az_store *st = w->st;
    CURL *c = NULL;
    char md5b[32];
    ts_buf xml;
    az_resp rs;
    int rc = TS_OK;

    ts_buf_init(&xml, 0);
    lake_b64_encode(md5, 16, md5b);
    if (!(c = handle_get(st))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "could not start a curl handle");
        goto out;
    }
    if (w->nblocks == 0) {
        /* small object: one Put Blob */
        az_req rq = {.verb = "PUT", .what = "put blob", .blob = w->blob, .has_body = true};
        rq.body = w->cur >= 0 ? w->bufs[w->cur] : (const uint8_t *)"";
        rq.body_len = w->cur >= 0 ? w->cur_len : 0;
        rq.hdrs[rq.nhdrs++] = (az_header){"x-ms-blob-type", "BlockBlob"};
        rq.hdrs[rq.nhdrs++] = (az_header){"Content-MD5", md5b};
        rq.hdrs[rq.nhdrs++] = (az_header){"x-ms-blob-content-md5", md5b};
        rq.hdrs[rq.nhdrs++] = (az_header){"If-None-Match", "*"};
        rq.if_none_match = true;
        if ((rc = az_do_c(st, c, &rq, &rs, err)) != TS_OK)
            goto out;
        if (rs.status != 201) {
            rc = az_fail(st, &rq, &rs, err);
            goto out;
        }
    } else {
        az_req rq = {.verb = "PUT", .what = "put block list", .blob = w->blob, .has_body = true};
        if (w->cur >= 0 && w->cur_len > 0 && (rc = submit(w, err)) != TS_OK)
            goto out;
        pthread_mutex_lock(&w->mu);
        while (w->qlen > 0 || w->inflight > 0)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->err.code != TS_OK)
            rc = ts_err_set(err, w->err.code, "%s", w->err.msg);
        pthread_mutex_unlock(&w->mu);
        if (rc)
            goto out;
        if (ts_buf_printf(&xml, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<BlockList>")) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        for (unsigned i = 0; i < w->nblocks; i++) {
            char id[32];
            block_id(w, i, id);
            if (ts_buf_printf(&xml, "<Latest>%s</Latest>", id)) {
                rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
                goto out;
            }
        }
        if (ts_buf_printf(&xml, "</BlockList>")) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        rq.body = xml.data;
        rq.body_len = xml.len;
        rq.params[rq.nparams++] = (az_param){"comp", "blocklist"};
        rq.hdrs[rq.nhdrs++] = (az_header){"x-ms-blob-content-md5", md5b};
        rq.hdrs[rq.nhdrs++] = (az_header){"If-None-Match", "*"};
        rq.if_none_match = true;
        if ((rc = az_do(st, c, &rq, &rs, err)) != TS_OK)
            goto out;
        if (rs.status != 201) {
            rc = az_fail(st, &rq, &rs, err);
            goto out;
        }
    }
    /* read back what the service holds before anyone relies on it */
    if ((rc = az_head(st, c, w->blob, &rs, err)) != TS_OK)
        goto out;
    if (!rs.has_len || rs.content_length != size) {
        rc = ts_err_set(err, TS_ERR_CONFLICT,
                        "azure blob \"%s\" in container \"%s\" of account \"%s\" holds %" PRIu64
                        " bytes after upload, expected %" PRIu64,
                        w->blob, st->container, st->account, rs.content_length, size);
        goto out;
    }
    if (!rs.has_md5 || memcmp(rs.md5, md5, 16) != 0) {
        rc = ts_err_set(err, TS_ERR_CONFLICT,
                        "azure blob \"%s\" in container \"%s\" of account \"%s\" has %s MD5 after "
                        "upload",
                        w->blob, st->container, st->account, rs.has_md5 ? "a different" : "no");
        goto out;
    }
    if (info)
        snprintf(info->etag, sizeof info->etag, "%s", rs.etag);
out:
    handle_put(st, c);
    ts_buf_free(&xml);
    writer_free(w);
    return rc;
}

static void az_writer_abort(void *p)
{
    writer_free(p); /* uncommitted blocks are never visible; the service drops them */
}

/* ---- the other operations ---- */

static int az_stat(void *p, const char *full, lake_info *info, ts_err *err)
{
    az_store *st = p;
    CURL *c = handle_get(st);
    az_resp rs;
    int rc;
    if (!c)
        return ts_err_set(err, TS_ERR_NOMEM, "could not start a curl handle");
    rc = az_head(st, c, full, &rs, err);
    handle_put(st, c);
    if (rc)
        return rc;
    info->size = rs.content_length;
    info->has_md5 = rs.has_md5;
    memcpy(info->md5, rs.md5, 16);
    snprintf(info->etag, sizeof info->etag, "%s", rs.etag);
    return TS_OK;
}

static int az_read(void *p, const char *full, uint64_t off, size_t len, void *buf, size_t *got,
                   ts_err *err)
{
    az_store *st = p;
    CURL *c = handle_get(st);
    char range[64];
    az_req rq = {.verb = "GET", .what = "get blob", .blob = full, .dst = buf, .dst_cap = len};
    az_resp rs;
    int rc;
    if (!c)
        return ts_err_set(err, TS_ERR_NOMEM, "could not start a curl handle");
    snprintf(range, sizeof range, "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
    rq.hdrs[rq.nhdrs++] = (az_header){"x-ms-range", range};
    rc = az_do(st, c, &rq, &rs, err);
    handle_put(st, c);
    if (rc)
        return rc;
    if (rs.status == 416) { /* at or past the end */
        *got = 0;
        return TS_OK;
    }
    if (rs.status != 200 && rs.status != 206)
        return az_fail(st, &rq, &rs, err);
    if (rs.status == 200 && off > 0)
        return ts_err_set(err, TS_ERR_REMOTE, "azure get blob ignored the range for \"%s\"", full);
    *got = rq.dst_got;
    return TS_OK;
}

static int az_list(void *p, const char *prefix, lake_list_fn fn, void *ud, ts_err *err)
{
    az_store *st = p;
    CURL *c = handle_get(st);
    ts_buf page;
    char *marker = NULL;
    int rc = TS_OK;

    ts_buf_init(&page, AZ_LIST_PAGE_MAX);
    if (!c)
        return ts_err_set(err, TS_ERR_NOMEM, "could not start a curl handle");
    do {
        az_req rq = {.verb = "GET", .what = "list blobs", .out = &page};
        az_resp rs;
        char *next = NULL;
        rq.params[rq.nparams++] = (az_param){"restype", "container"};
        rq.params[rq.nparams++] = (az_param){"comp", "list"};
        if (*prefix)
            rq.params[rq.nparams++] = (az_param){"prefix", prefix};
        if (marker)
            rq.params[rq.nparams++] = (az_param){"marker", marker};
        rq.params[rq.nparams++] = (az_param){"maxresults", "5000"};
        if ((rc = az_do(st, c, &rq, &rs, err)) != TS_OK)
            break;
        if (rs.status != 200) {
            rc = az_fail(st, &rq, &rs, err);
            break;
        }
        rc = az_parse_list((const char *)page.data, page.len, fn, ud, &next, err);
        ts_free(marker);
        marker = next;
    } while (rc == TS_OK && marker);
    ts_free(marker);
    ts_buf_free(&page);
    handle_put(st, c);
    return rc;
}

static int az_del(void *p, const char *full, ts_err *err)
{
    az_store *st = p;
    CURL *c = handle_get(st);
    az_req rq = {.verb = "DELETE", .what = "delete blob", .blob = full};
    az_resp rs;
    int rc;
    if (!c)
        return ts_err_set(err, TS_ERR_NOMEM, "could not start a curl handle");
    rc = az_do(st, c, &rq, &rs, err);
    handle_put(st, c);
    if (rc)
        return rc;
    return rs.status == 202 || rs.status == 200 ? TS_OK : az_fail(st, &rq, &rs, err);
}

static int count_one(void *ud, const lake_info *info)
{
    (void)info;
    ++*(int *)ud;
    return 0;
}

static int az_test(void *p, ts_err *err)
{
    az_store *st = p;
    CURL *c = handle_get(st);
    ts_buf page;
    az_req rq = {.verb = "GET", .what = "list blobs", .out = &page};
    az_resp rs;
    char *next = NULL;
    int rc, n = 0;

    ts_buf_init(&page, AZ_LIST_PAGE_MAX);
    if (!c)
        return ts_err_set(err, TS_ERR_NOMEM, "could not start a curl handle");
    rq.params[rq.nparams++] = (az_param){"restype", "container"};
    rq.params[rq.nparams++] = (az_param){"comp", "list"};
    rq.params[rq.nparams++] = (az_param){"maxresults", "1"};
    rc = az_do_c(st, c, &rq, &rs, err);
    if (rc == TS_OK && rs.status != 200)
        rc = az_fail(st, &rq, &rs, err);
    if (rc == TS_OK)
        rc = az_parse_list((const char *)page.data, page.len, count_one, &n, &next, err);
    ts_free(next);
    ts_buf_free(&page);
    handle_put(st, c);
    return rc;
}

static char *az_url(void *p, const char *full)
{
    az_store *st = p;
    az_req rq = {.blob = full};
    ts_buf u, path;
    char *s = NULL;

    ts_buf_init(&u, 0);
    ts_buf_init(&path, 0);
    /* never the SAS: the URL names the object, it does not grant access */
    if (build_url(st, &rq, false, &u, &path) == TS_OK)
        s = ts_strdup(ts_buf_cstr(&u));
    ts_buf_free(&u);
    ts_buf_free(&path);
    return s;
}

static const char *az_identity(void *p)
{
    return ((const az_store *)p)->identity;
}

const lake_store_ops lake_azure_ops = {
    .name = "azure",
    .identity = az_identity,
    .free = az_store_free,
    .writer_open = az_writer_open,
    .writer_write = az_writer_write,
    .writer_commit = az_writer_commit,
    .writer_abort = az_writer_abort,
    .stat = az_stat,
    .read = az_read,
    .list = az_list,
    .del = az_del,
    .test = az_test,
    .url = az_url,
};
