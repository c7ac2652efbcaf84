/* flows.c: one token request over libcurl for each way to a token (client credentials
 * with a secret, a certificate's assertion or a federated token; IMDS; App Service), its
 * retries, and its JSON answer (jansson). */
#include "identity_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/alloc.h"
#include "common/log.h"

#define ANSWER_MAX (1u << 20)
#define FEDERATED_MAX (64u << 10)
#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    ts_buf *b = ud;
    return ts_buf_append(b, p, sz * n) == TS_OK ? sz * n : 0;
}

/* "&name=value" (value percent-encoded) onto b; the first without '&'. */
static int form_add(ts_buf *b, const char *name, const char *value)
{
    char *e = curl_easy_escape(NULL, value, 0);
    int rc = e ? ts_buf_printf(b, "%s%s=%s", b->len ? "&" : "", name, e) : TS_ERR_NOMEM;
    if (e) {
        memset(e, 0, strlen(e)); /* may be a secret or an assertion */
        curl_free(e);
    }
    return rc;
}

/* The federated token file's contents, trimmed; read at every fetch because the
 * kubelet replaces it before it expires. */
static int read_federated(const az_id *id, char **out, ts_err *err)
{
    FILE *f = fopen(id->token_file, "r");
    char *buf = NULL;
    size_t n;
    int rc = TS_OK;

    *out = NULL;
    if (!f)
        return ts_err_set(err, TS_ERR_INVALID, "could not read the federated token file \"%s\": %s",
                          id->token_file, strerror(errno));
    if (!(buf = ts_malloc(FEDERATED_MAX + 1))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    n = fread(buf, 1, FEDERATED_MAX + 1, f);
    if (ferror(f)) {
        rc = ts_err_set(err, TS_ERR_IO, "could not read the federated token file \"%s\": %s",
                        id->token_file, strerror(errno));
        goto out;
    }
    if (n > FEDERATED_MAX) {
        rc = ts_err_set(err, TS_ERR_INVALID,
                        "the federated token file \"%s\" is larger than %u bytes", id->token_file,
                        FEDERATED_MAX);
        goto out;
    }
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
    if (n == 0) {
        rc = ts_err_set(err, TS_ERR_INVALID, "the federated token file \"%s\" is empty",
                        id->token_file);
        goto out;
    }
    *out = buf;
    buf = NULL;
out:
    if (buf) {
        memset(buf, 0, FEDERATED_MAX + 1);
        ts_free(buf);
    }
    fclose(f); /* read only */
    return rc;
}

/* The form of a client credentials request (secret or assertion) into b. */
static int client_credentials_form(az_id *id, ts_buf *b, ts_err *err)
{
    char *assertion = NULL;
    int rc = TS_OK;

    if (id->src == AZ_SRC_SP_CERT) {
        if ((rc = az_jwt_assertion(&id->cert, id->client_id, id->aud, (long)time(NULL), &assertion,
                                   err)) != TS_OK)
            return rc;
    } else if (id->src == AZ_SRC_WORKLOAD) {
        if ((rc = read_federated(id, &assertion, err)) != TS_OK)
            return rc;
    }
    if (assertion) {
        /* the new one is redacted before the old one is forgotten */
        ts_log_replace_secret(id->assertion, assertion);
        if (id->assertion) {
            memset(id->assertion, 0, strlen(id->assertion));
            ts_free(id->assertion);
        }
        id->assertion = assertion;
    }
    if (form_add(b, "grant_type", "client_credentials") ||
        form_add(b, "client_id", id->client_id) ||
        (id->src == AZ_SRC_SP_SECRET && form_add(b, "client_secret", id->secret)) ||
        (assertion && (form_add(b, "client_assertion_type", ASSERTION_TYPE) ||
                       form_add(b, "client_assertion", assertion))) ||
        form_add(b, "scope", id->scope))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    return TS_OK;
}

/* One request; fills *status and body. */
static int request_once(az_id *id, const ts_buf *form, long *status, ts_buf *body, ts_err *err)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL, *h2;
    char ebuf[CURL_ERROR_SIZE] = "", line[4200];
    CURLcode cc;
    int rc = TS_OK;

    if (!c)
        return ts_err_set(err, TS_ERR_NOMEM, "could not start a curl handle");
    curl_easy_setopt(c, CURLOPT_URL, id->url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)id->timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)(id->timeout_s < 10 ? id->timeout_s : 10));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (id->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, id->ca_file);
    h = curl_slist_append(h, "Accept: application/json");
    if (form) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)form->data);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)form->len);
        h2 = h ? curl_slist_append(h, "Content-Type: application/x-www-form-urlencoded") : NULL;
    } else {
        /* link-local or loopback endpoints: never through a proxy */
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        if (id->src == AZ_SRC_MI_IMDS) {
            h2 = h ? curl_slist_append(h, "Metadata: true") : NULL;
        } else {
            snprintf(line, sizeof line, "X-IDENTITY-HEADER: %s", id->secret);
            h2 = h ? curl_slist_append(h, line) : NULL;
            memset(line, 0, sizeof line);
        }
    }
    if (!h || !h2) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    h = h2;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        char red[CURL_ERROR_SIZE + 64];
        ts_redact(ebuf[0] ? ebuf : curl_easy_strerror(cc), red, sizeof red);
        rc = ts_err_set(err, cc == CURLE_OPERATION_TIMEDOUT ? TS_ERR_TIMEOUT : TS_ERR_CONN,
                        "could not reach the %s: %s", id->what, red);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
out:
    curl_slist_free_all(h); /* may hold X-IDENTITY-HEADER: curl keeps no copy past cleanup */
    curl_easy_cleanup(c);
    return rc;
}

/* Seconds from a number or a numeric string; -1 otherwise, and for a number no clock
 * could mean (beyond 1e12 s, some 30,000 years: a real cast past a long is undefined). */
#define AZ_SECONDS_MAX 1000000000000L
static long json_seconds(json_t *v)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        return i >= -AZ_SECONDS_MAX && i <= AZ_SECONDS_MAX ? (long)i : -1;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        return d >= -(double)AZ_SECONDS_MAX && d <= (double)AZ_SECONDS_MAX ? (long)d : -1;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long r = strtol(s, &end, 10);
        return end != s && !*end && errno == 0 && r >= -AZ_SECONDS_MAX && r <= AZ_SECONDS_MAX
                   ? r
                   : -1;
    }
    return -1;
}

int az_id_parse_answer(const char *body, size_t len, long now, char **token, long *expires_in_s,
                       long *refresh_in_s, ts_err *err)
{
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    const char *tok;
    long in, on;
    int rc = TS_OK;

    *token = NULL;
    *expires_in_s = *refresh_in_s = 0;
    if (!j || !json_is_object(j)) {
        rc = ts_err_set(err, TS_ERR_FORMAT, "the answer is not a JSON object");
        goto out;
    }
    tok = json_string_value(json_object_get(j, "access_token"));
    if (!tok || !*tok) {
        rc = ts_err_set(err, TS_ERR_FORMAT, "the answer has no access_token");
        goto out;
    }
    if (strlen(tok) >= AZ_ID_TOKEN_MAX || strcspn(tok, " \t\r\n") != strlen(tok)) {
        rc = ts_err_set(err, TS_ERR_FORMAT,
                        "the answer's access_token is not usable (too long, "
                        "or holds blanks)");
        goto out;
    }
    in = json_seconds(json_object_get(j, "expires_in"));
    if (in <= 0) {
        on = json_seconds(json_object_get(j, "expires_on"));
        in = on > 0 ? on - now : -1;
    }
    if (in <= 0) {
        rc = ts_err_set(err, TS_ERR_FORMAT,
                        "the answer has no usable expires_in or expires_on (or the token has "
                        "already expired)");
        goto out;
    }
    *expires_in_s = in;
    if ((in = json_seconds(json_object_get(j, "refresh_in"))) > 0)
        *refresh_in_s = in;
    if (!(*token = ts_strdup(tok)))
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
out:
    if (j) {
        /* the token stays only in *token: wipe the parsed copy */
        json_t *t = json_object_get(j, "access_token");
        if (json_is_string(t) && json_string_length(t))
            memset((char *)json_string_value(t), 0, json_string_length(t));
    }
    json_decref(j);
    return rc;
}

/* The refusal in words: the OAuth error code and the first line of its description, or
 * App Service's message; redacted, cut short. */
static void refusal(const ts_buf *body, char *out, size_t cap)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)body->data, body->len, 0, &je);
    const char *code = j ? json_string_value(json_object_get(j, "error")) : NULL;
    const char *desc = j ? json_string_value(json_object_get(j, "error_description")) : NULL;
    char raw[400];

    out[0] = '\0';
    if (!desc && j)
        desc = json_string_value(json_object_get(j, "message"));
    if (code || desc) {
        snprintf(raw, sizeof raw, "%s%s%.*s", code ? code : "", code && desc ? ": " : "",
                 desc ? (int)strcspn(desc, "\r\n") : 0, desc ? desc : "");
        if (strlen(raw) > 240)
            strcpy(raw + 237, "...");
        for (char *p = raw; *p; p++)
            if ((unsigned char)*p < 0x20)
                *p = ' ';
        ts_redact(raw, out, cap);
    }
    json_decref(j);
}

int az_id_fetch(az_id *id, char **token, long *expires_in_s, long *refresh_in_s, ts_err *err)
{
    ts_buf body, form;
    long status = 0;
    bool post =
        id->src == AZ_SRC_SP_SECRET || id->src == AZ_SRC_SP_CERT || id->src == AZ_SRC_WORKLOAD;
    int rc = TS_OK;

    *token = NULL;
    ts_buf_init(&body, ANSWER_MAX);
    ts_buf_init(&form, 256u << 10);
    for (int attempt = 0;; attempt++) {
        ts_err e1;
        ts_err_clear(&e1);
        ts_buf_reset(&body);
        if (form.data)
            memset(form.data, 0, form.len);
        ts_buf_reset(&form);
        status = 0;
        /* a fresh form each time: a new assertion (new jti), the file as it is now */
        if (post && (rc = client_credentials_form(id, &form, &e1)) != TS_OK) {
            ts_err_set(err, rc, "%s", e1.msg);
            goto out;
        }
        rc = request_once(id, post ? &form : NULL, &status, &body, &e1);
        bool transient = rc == TS_ERR_CONN || rc == TS_ERR_TIMEOUT || status == 408 ||
                         status == 429 || status >= 500 || status == 410; /* IMDS warming up */
        if (!transient || attempt >= 2) {
            if (rc)
                ts_err_set(err, rc, "%s", e1.msg);
            break;
        }
        usleep((useconds_t)(200000u << attempt));
    }
    if (rc)
        goto out;
    id->fetches++;
    if (status != 200) {
        char why[300];
        refusal(&body, why, sizeof why);
        rc = ts_err_set(
            err, status == 400 || status == 401 || status == 403 ? TS_ERR_AUTH : TS_ERR_REMOTE,
            "the %s refused the token request for \"%s\": HTTP %ld%s%s", id->what, id->scope,
            status, why[0] ? " " : "", why);
        goto out;
    }
    {
        ts_err e1;
        ts_err_clear(&e1);
        if ((rc = az_id_parse_answer((const char *)body.data, body.len, (long)time(NULL), token,
                                     expires_in_s, refresh_in_s, &e1)) != TS_OK)
            ts_err_set(err, rc, "the %s answered 200 but %s", id->what, e1.msg);
    }
out:
    if (body.data)
        memset(body.data, 0, body.len); /* held the token */
    if (form.data)
        memset(form.data, 0, form.len); /* held the secret or the assertion */
    ts_buf_free(&body);
    ts_buf_free(&form);
    return rc;
}
