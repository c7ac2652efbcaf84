/* test_lake_azure.c: the Azure store against the Azurite of TS_TEST_AZURE_* (skips
 * without): a wrong key is a clear 403 that names account and container and not the
 * key; a missing container fails at once when it may not be created; a SAS-only
 * connection string works (account SAS made here with HMAC-SHA256); 6,000 objects
 * list completely across pages (in a container of their own, dropped at the end). */
#include "testutil.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/time.h>

#include "common/alloc.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static lake *open_az(const char *connstr, const char *container, bool create, ts_err *err, int *rc)
{
    lake_options o;
    lake *lk = NULL;
    lake_options_init(&o);
    o.kind = LAKE_AZURE;
    o.connection_string = connstr;
    o.container = container;
    o.create_container = create;
    o.max_retries = 5;
    *rc = lake_open(&lk, &o, err);
    return lk;
}

static void put_small(lake *lk, const char *path, const char *text, ts_err *err, int *rc)
{
    lake_writer *w = NULL;
    *rc = lake_writer_open(lk, path, &w, err);
    if (*rc == TS_OK)
        *rc = lake_writer_write(w, text, strlen(text), err);
    if (*rc == TS_OK)
        *rc = lake_writer_commit(w, NULL, err);
    else
        lake_writer_abort(w);
}

static void no_secret(const char *msg, const char *key, const char *sas_sig)
{
    CHECK(strstr(msg, key) == NULL);
    CHECK(strstr(msg, "AccountKey") == NULL);
    CHECK(strstr(msg, "sig=") == NULL);
    if (sas_sig)
        CHECK(strstr(msg, sas_sig) == NULL);
}

static void test_wrong_key(const az_env *env)
{
    /* the real key with its first four characters changed: valid base64, wrong MAC */
    char key[256], cs[1024];
    ts_err err;
    lake *lk;
    lake_info info;
    int rc;
    double t0;
    snprintf(key, sizeof key, "%s", env->key);
    memcpy(key, key[0] == 'A' ? "BBBB" : "AAAA", 4);
    az_connstr_key(env, key, cs, sizeof cs);
    ts_err_clear(&err);
    lk = open_az(cs, "lake-wrongkey", true, &err, &rc);
    CHECK_OK(rc, &err);
    t0 = now_s();
    put_small(lk, "x/y.txt", "hello", &err, &rc);
    printf("wrong key, put: %s\n", err.msg);
    CHECK_EQ(rc, TS_ERR_AUTH);
    CHECK(now_s() - t0 < 2.0); /* a hard error: no retries */
    CHECK(strstr(err.msg, "403"));
    CHECK(strstr(err.msg, "\"devstoreaccount1\"") || strstr(err.msg, env->account));
    CHECK(strstr(err.msg, "\"lake-wrongkey\""));
    no_secret(err.msg, key, NULL);
    no_secret(err.msg, env->key, NULL);
    ts_err_clear(&err);
    CHECK_EQ(lake_stat(lk, "x/y.txt", &info, &err), TS_ERR_AUTH);
    printf("wrong key, stat: %s\n", err.msg);
    no_secret(err.msg, key, NULL);
    ts_err_clear(&err);
    CHECK_EQ(lake_test(lk, &err), TS_ERR_AUTH);
    printf("wrong key, test: %s\n", err.msg);
    no_secret(err.msg, key, NULL);
    lake_free(lk);
}

static void test_missing_container(const az_env *env)
{
    char cs[1024], name[64];
    ts_err err;
    lake *lk;
    int rc;
    double t0;
    az_connstr_key(env, NULL, cs, sizeof cs);
    snprintf(name, sizeof name, "lake-missing-%d", (int)getpid());
    ts_err_clear(&err);
    lk = open_az(cs, name, false, &err, &rc);
    CHECK_OK(rc, &err);
    t0 = now_s();
    put_small(lk, "a.txt", "hello", &err, &rc);
    printf("missing container, put: %s\n", err.msg);
    CHECK_EQ(rc, TS_ERR_NOTFOUND);
    CHECK(now_s() - t0 < 2.0);
    CHECK(strstr(err.msg, "ContainerNotFound") && strstr(err.msg, name) &&
          strstr(err.msg, env->account));
    ts_err_clear(&err);
    CHECK_EQ(lake_test(lk, &err), TS_ERR_NOTFOUND);
    lake_free(lk);
}

static int count_cb(void *ud, const lake_info *info)
{
    (void)info;
    ++*(int *)ud;
    return 0;
}

/* Delete Container through an account SAS (the lake itself never drops containers). */
static void drop_container(const az_env *env, const char *container)
{
    char sas[512], url[1024];
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "x-ms-version: 2021-08-06");
    long code = 0;
    az_account_sas(env->account, env->key, "racwdl", sas, sizeof sas);
    snprintf(url, sizeof url, "%s/%s?restype=container&%s", env->endpoint, container, sas);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CHECK(curl_easy_perform(c) == CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    CHECK_EQ(code, 202);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
}

static void test_sas(const az_env *env)
{
    char sas[512], cs[1024], name[64], bad[512];
    ts_err err;
    lake *lk;
    lake_info info;
    uint8_t buf[64];
    size_t got;
    int rc, n = 0;
    az_account_sas(env->account, env->key, "racwdl", sas, sizeof sas);
    snprintf(cs, sizeof cs, "BlobEndpoint=%s;SharedAccessSignature=%s", env->endpoint, sas);
    snprintf(name, sizeof name, "lake-sas-%d", (int)getpid());
    ts_err_clear(&err);
    lk = open_az(cs, name, true, &err, &rc);
    CHECK_OK(rc, &err);
    CHECK_OK(lake_test(lk, &err), &err); /* creates the container, with the SAS */
    put_small(lk, "dir/hello.txt", "hello through a SAS", &err, &rc);
    CHECK_OK(rc, &err);
    CHECK_OK(lake_stat(lk, "dir/hello.txt", &info, &err), &err);
    CHECK_EQ(info.size, 19);
    CHECK_OK(lake_read(lk, "dir/hello.txt", 6, 7, buf, &got, &err), &err);
    CHECK(got == 7 && memcmp(buf, "through", 7) == 0);
    CHECK_OK(lake_list(lk, "dir/", count_cb, &n, &err), &err);
    CHECK_EQ(n, 1);
    CHECK_OK(lake_delete(lk, "dir/hello.txt", &err), &err);
    lake_free(lk);
    printf("SAS-only connection string: ok\n");

    /* a SAS whose signature is wrong: 403, and neither it nor the signature shown */
    snprintf(bad, sizeof bad, "%s", sas);
    {
        char *sig = strstr(bad, "sig=") + 4;
        sig[0] = sig[0] == 'A' ? 'B' : 'A';
    }
    snprintf(cs, sizeof cs, "BlobEndpoint=%s;SharedAccessSignature=%s", env->endpoint, bad);
    lk = open_az(cs, name, true, &err, &rc);
    CHECK_OK(rc, &err);
    put_small(lk, "dir/nope.txt", "x", &err, &rc);
    printf("bad SAS, put: %s\n", err.msg);
    CHECK_EQ(rc, TS_ERR_AUTH);
    no_secret(err.msg, env->key, strstr(bad, "sig=") + 4);
    lake_free(lk);

    /* read-only SAS: reads work, writes are refused */
    az_account_sas(env->account, env->key, "rl", sas, sizeof sas);
    snprintf(cs, sizeof cs, "BlobEndpoint=%s;SharedAccessSignature=%s", env->endpoint, sas);
    ts_err_clear(&err);
    lk = open_az(cs, name, false, &err, &rc);
    CHECK_OK(rc, &err);
    CHECK_OK(lake_test(lk, &err), &err);
    put_small(lk, "dir/ro.txt", "x", &err, &rc);
    CHECK_EQ(rc, TS_ERR_AUTH);
    lake_free(lk);
    drop_container(env, name);
}

/* ---- 6,000 objects ---- */

#define NOBJ 6000
#define NTHREADS 16

typedef struct job {
    lake *lk;
    const char *base;
    int first, step;
    bool del;
    int rc;
    ts_err err;
} job;

static void *put_many(void *arg)
{
    job *j = arg;
    char p[256], body[64];
    ts_err_clear(&j->err);
    for (int i = j->first; i < NOBJ && j->rc == TS_OK; i += j->step) {
        snprintf(p, sizeof p, "%s/obj-%05d", j->base, i);
        if (j->del) {
            j->rc = lake_delete(j->lk, p, &j->err);
        } else {
            snprintf(body, sizeof body, "object %d", i);
            put_small(j->lk, p, body, &j->err, &j->rc);
        }
    }
    return NULL;
}

typedef struct seen {
    unsigned char *hit;
    int n;
    char last[256];
    bool ordered;
} seen;

static int seen_cb(void *ud, const lake_info *info)
{
    seen *s = ud;
    const char *dash = strrchr(info->name, '-');
    int i = dash ? atoi(dash + 1) : -1;
    if (i >= 0 && i < NOBJ)
        s->hit[i]++;
    if (s->n && strcmp(s->last, info->name) >= 0)
        s->ordered = false;
    snprintf(s->last, sizeof s->last, "%s", info->name);
    s->n++;
    return 0;
}

static void run_jobs(lake *lk, const char *base)
{
    pthread_t t[NTHREADS];
    job j[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        j[i] = (job){lk, base, i, NTHREADS, false, TS_OK, {0, ""}};
        CHECK(pthread_create(&t[i], NULL, put_many, &j[i]) == 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(t[i], NULL);
        if (j[i].rc != TS_OK)
            fprintf(stderr, "thread %d: %s\n", i, j[i].err.msg);
        CHECK_OK(j[i].rc, &j[i].err);
    }
}

static void test_list_6000(const az_env *env)
{
    char cs[1024], base[64], container[64];
    ts_err err;
    lake *lk;
    seen s = {calloc(NOBJ, 1), 0, "", true};
    int rc;
    double t0;
    az_connstr_key(env, NULL, cs, sizeof cs);
    ts_err_clear(&err);
    snprintf(container, sizeof container, "lake-list-%d-%ld", (int)getpid(), (long)time(NULL));
    lk = open_az(cs, container, true, &err, &rc);
    CHECK_OK(rc, &err);
    CHECK_OK(lake_test(lk, &err), &err);
    snprintf(base, sizeof base, "many-%ld-%d", (long)time(NULL), (int)getpid());
    t0 = now_s();
    run_jobs(lk, base);
    printf("6,000 objects written in %.1f s\n", now_s() - t0);
    t0 = now_s();
    CHECK_OK(lake_list(lk, base, seen_cb, &s, &err), &err);
    printf("listed %d objects in %.2f s (pages of 5,000)\n", s.n, now_s() - t0);
    CHECK_EQ(s.n, NOBJ);
    CHECK(s.ordered);
    for (int i = 0; i < NOBJ; i++)
        CHECK_EQ(s.hit[i], 1);
    /* deleting 6,000 blobs one by one is slow on Azurite: drop the container instead */
    drop_container(env, container);
    free(s.hit);
    lake_free(lk);
}

int main(void)
{
    az_env env;
    if (az_env_or_skip(&env, "lake azure") != 0)
        return SKIP_CODE;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    test_wrong_key(&env);
    test_missing_container(&env);
    test_sas(&env);
    test_list_6000(&env);
    printf("lake azure: ok\n");
    return 0;
}
