/* test_az_id_http.c: an az_id against a token endpoint this test serves on loopback
 * (libmicrohttpd): one fetch for many callers and threads, the refresh at half the
 * lifetime, the old token leaving the redaction when the new one comes, a failed refresh
 * that keeps the cached token (and pauses before trying again), a refusal whose text
 * echoes the secret, and no token or secret in any log line or error. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "azure/identity.h"
#include "common/log.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)
#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a,    \
                    a_, #b, b_);                                                                   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)
#define CHECK_OK(call, e)                                                                          \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != 0) {                                                                            \
            fprintf(stderr, "%s:%d: %s failed (%d): %s\n", __FILE__, __LINE__, #call, rc_,         \
                    (e)->msg);                                                                     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define SECRET "s3cr3t/value+42"

static struct {
    pthread_mutex_t mu;
    int requests; /* every request that reached the handler */
    int issued;
    int life_s;
    int fail; /* 1: answer 500; 2: answer 401 echoing the secret */
    int delay_ms;
    char tokens[64][48]; /* every token issued */
} S = {.mu = PTHREAD_MUTEX_INITIALIZER, .life_s = 3600};

typedef struct body {
    char data[4096];
    size_t len;
} body;

static enum MHD_Result answer(struct MHD_Connection *c, int status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    body *b = *con_cls;
    char text[512];
    (void)cls;
    (void)version;
    if (!b) {
        *con_cls = calloc(1, sizeof *b);
        return MHD_YES;
    }
    if (*upload_size) {
        size_t k =
            *upload_size < sizeof b->data - 1 - b->len ? *upload_size : sizeof b->data - 1 - b->len;
        memcpy(b->data + b->len, upload, k);
        b->len += k;
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&S.mu);
    S.requests++;
    int fail = S.fail, delay = S.delay_ms;
    pthread_mutex_unlock(&S.mu);
    if (delay)
        usleep((useconds_t)delay * 1000);
    if (strcmp(method, "POST") != 0 || strcmp(url, "/tenant-9/oauth2/v2.0/token") != 0 ||
        !strstr(b->data, "grant_type=client_credentials") || !strstr(b->data, "client_id=cid-9") ||
        !strstr(b->data, "client_secret=s3cr3t%2Fvalue%2B42") ||
        !strstr(b->data, "scope=https%3A%2F%2Fredis.azure.com%2F.default"))
        return answer(c, 400, "{\"error\":\"invalid_request\"}");
    if (fail == 1)
        return answer(c, 500, "{\"error\":\"temporarily_unavailable\"}");
    if (fail == 2)
        return answer(c, 401,
                      "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: "
                      "Invalid client secret provided: " SECRET "\\r\\nTrace ID: 1\"}");
    pthread_mutex_lock(&S.mu);
    int n = S.issued++;
    snprintf(S.tokens[n % 64], sizeof S.tokens[0], "eyJ0.tok-%d-%08lx.sig", n,
             (unsigned long)random());
    snprintf(text, sizeof text,
             "{\"token_type\":\"Bearer\",\"expires_in\":%d,\"access_token\":\"%s\"}", S.life_s,
             S.tokens[n % 64]);
    pthread_mutex_unlock(&S.mu);
    return answer(c, 200, text);
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
                 enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)c;
    (void)t;
    free(*con_cls);
    *con_cls = NULL;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool redacted(const char *s)
{
    char line[256], red[256];
    snprintf(line, sizeof line, "<%s>", s);
    ts_redact(line, red, sizeof red);
    return strcmp(red, "<***>") == 0;
}

static az_id *ID;

static void *hammer(void *arg)
{
    char tok[AZ_ID_TOKEN_MAX];
    ts_err e;
    (void)arg;
    for (int i = 0; i < 50; i++) {
        ts_err_clear(&e);
        CHECK_OK(az_id_token(ID, tok, sizeof tok, NULL, &e), &e);
        CHECK(strncmp(tok, "eyJ0.tok-", 9) == 0);
    }
    return NULL;
}

int main(void)
{
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    char host[64], tok[AZ_ID_TOKEN_MAX], first[64], logpath[] = "/tmp/test_az_id_http.XXXXXX";
    az_id_options o;
    az_id *id;
    ts_err e;
    int64_t exp;
    int fd = mkstemp(logpath);
    FILE *logf = fd >= 0 ? fdopen(fd, "w+") : NULL;

    CHECK(logf);
    ts_log_setup(TS_LOG_DEBUG, 0, logf);
    d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                         NULL, handle, NULL, MHD_OPTION_NOTIFY_COMPLETED, done, NULL,
                         MHD_OPTION_END);
    CHECK(d);
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    CHECK(info && info->port);
    snprintf(host, sizeof host, "http://127.0.0.1:%d", info->port);

    az_id_options_init(&o);
    o.kind = AZ_ID_SERVICE_PRINCIPAL;
    o.scope = AZ_ID_SCOPE_REDIS;
    o.tenant_id = "tenant-9";
    o.client_id = "cid-9";
    o.client_secret = SECRET;
    o.authority_host = host;
    o.setting = "redis";
    ts_err_clear(&e);
    CHECK_OK(az_id_new(&o, &id, &e), &e);
    CHECK(redacted(SECRET));

    /* one fetch, then the cache; the expiry is the token's */
    CHECK_OK(az_id_token(id, tok, sizeof tok, &exp, &e), &e);
    CHECK_EQ(S.issued, 1);
    CHECK(llabs(exp - (wall_us() + 3600LL * 1000000)) < 2000000);
    CHECK(redacted(tok));
    for (int i = 0; i < 5; i++)
        CHECK_OK(az_id_token(id, tok, sizeof tok, NULL, &e), &e);
    CHECK_EQ(S.issued, 1);
    CHECK_EQ(az_id_fetches(id), 1);
    printf("cached: one fetch for 6 calls\n");

    /* many threads, a slow endpoint: still one fetch */
    az_id_invalidate(id);
    S.delay_ms = 300;
    ID = id;
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        CHECK(pthread_create(&th[i], NULL, hammer, NULL) == 0);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    S.delay_ms = 0;
    CHECK_EQ(S.issued, 2);
    printf("8 threads x 50 calls after an invalidate: one fetch\n");

    /* a 4 s token: the same one until half its life, then a new one; the old one leaves
     * the redaction only once the new one is in */
    S.life_s = 4;
    az_id_invalidate(id);
    CHECK_OK(az_id_token(id, tok, sizeof tok, &exp, &e), &e);
    snprintf(first, sizeof first, "%s", tok);
    CHECK_EQ(S.issued, 3);
    usleep(1500000);
    CHECK_OK(az_id_token(id, tok, sizeof tok, NULL, &e), &e);
    CHECK(strcmp(tok, first) == 0);
    usleep(700000); /* 2.2 s: past half of 4 s */
    CHECK_OK(az_id_token(id, tok, sizeof tok, NULL, &e), &e);
    CHECK_EQ(S.issued, 4);
    CHECK(strcmp(tok, first) != 0);
    CHECK(wall_us() < exp); /* the first was still good: refreshed before expiry */
    CHECK(redacted(tok));
    CHECK(!redacted(first));
    printf(
        "refreshed after half of a 4 s lifetime, before expiry; old token out of the redaction\n");

    /* the endpoint fails at refresh time (2.2 s into 4 s): the cached token is kept, with
     * a warning; within the pause that follows, nobody asks the endpoint again */
    usleep(2200000);
    S.fail = 1;
    int before = S.requests;
    snprintf(first, sizeof first, "%s", tok);
    CHECK_OK(az_id_token(id, tok, sizeof tok, NULL, &e), &e);
    CHECK(strcmp(tok, first) == 0);
    CHECK_EQ(S.requests, before + 3); /* one try and two retries of the 500 */
    CHECK_OK(az_id_token(id, tok, sizeof tok, NULL, &e), &e);
    CHECK_EQ(S.requests, before + 3);
    S.fail = 0;
    usleep(400000); /* the pause: a quarter of the 1 s or so that was left */
    CHECK_OK(az_id_token(id, tok, sizeof tok, NULL, &e), &e);
    CHECK(strcmp(tok, first) != 0);
    CHECK_EQ(S.issued, 5);
    printf("a failed refresh keeps the cached token, pauses, then refreshes\n");

    /* refused, and nothing cached to fall back on: the refusal in words, the secret the
     * endpoint echoed redacted */
    S.fail = 2;
    az_id_invalidate(id);
    ts_err_clear(&e);
    CHECK_EQ(az_id_token(id, tok, sizeof tok, NULL, &e), TS_ERR_AUTH);
    printf("refused: %s\n", e.msg);
    CHECK(strstr(e.msg,
                 "HTTP 401 invalid_client: AADSTS7000215: Invalid client secret provided: ***"));
    CHECK(strstr(e.msg, "token endpoint \"http://127.0.0.1:"));
    CHECK(strstr(e.msg, "\"https://redis.azure.com/.default\""));
    CHECK(!strstr(e.msg, SECRET) && !strstr(e.msg, "Trace ID"));
    S.fail = 0;

    /* the endpoint down and no token: a connection error naming the endpoint */
    MHD_stop_daemon(d);
    az_id_invalidate(id);
    ts_err_clear(&e);
    CHECK_EQ(az_id_token(id, tok, sizeof tok, NULL, &e), TS_ERR_CONN);
    printf("endpoint down: %s\n", e.msg);
    CHECK(strstr(e.msg, "could not reach the token endpoint"));
    az_id_free(id);

    /* the log: the warning is there, no token and no secret ever */
    fflush(logf);
    rewind(logf);
    static char log[1 << 20];
    size_t n = fread(log, 1, sizeof log - 1, logf);
    log[n] = '\0';
    CHECK(
        strstr(log, "could not refresh the access token for \"https://redis.azure.com/.default\""));
    CHECK(strstr(log, "got an access token")); /* the debug lines are there to be read */
    CHECK(!strstr(log, SECRET));
    for (int i = 0; i < S.issued && i < 64; i++)
        CHECK(!strstr(log, S.tokens[i]));
    fclose(logf);
    unlink(logpath);
    printf("az_id http: ok\n");
    return 0;
}
