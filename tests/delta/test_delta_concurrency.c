/* test_delta_concurrency.c: many writers, one table.
 *   test_delta_concurrency local|azure [PROCS THREADS ADDS [IO_RETRIES]]   (4 4 10 2)
 * PROCS processes x THREADS threads, each with its own lake handle and table, commit
 * ADDS transactions of one add each to one new table (they also race to create it).
 * Then: versions are gapless 0..N with N + 1 = PROCS x THREADS x ADDS, every commit file
 * is valid JSON lines with one commitInfo and one add, every add is in the log exactly
 * once and live in the replayed table. Then the remove race: two writers that both see
 * a file live remove it at once, many rounds: exactly one wins each round, the other
 * gets TS_ERR_CONFLICT. */
#include <jansson.h>
#include <pthread.h>
#include <sys/wait.h>

#include "delta/delta_int.h"
#include "delta_testutil.h"

static test_lake tl;
static char root[300];
static membuf data; /* the Parquet file every add points at (one copy per path) */
static delta_schema *schema;
static char *stats;
static int procs = 4, threads = 4, adds = 10;
static delta_options opts;

typedef struct worker {
    int proc, thread;
    int failures;
    int64_t max_version;
} worker;

static void *write_adds(void *arg)
{
    worker *w = arg;
    lake *lk = test_lake_again(&tl);
    delta_table *t = NULL;
    ts_err err;
    ts_err_clear(&err);
    CHECK_OK(delta_table_open(lk, root, &opts, &t, &err), &err);
    for (int i = 0; i < adds; i++) {
        char rel[128], who[32], idx[16];
        delta_txn *tx = NULL;
        int64_t v = -1;
        snprintf(rel, sizeof rel, "p%d/t%d/f%03d.parquet", w->proc, w->thread, i);
        snprintf(who, sizeof who, "%d-%d", w->proc, w->thread);
        snprintf(idx, sizeof idx, "%d", i);
        delta_kv tags[] = {{"writer", who}, {"i", idx}};
        put_file(lk, root, rel, &data);
        delta_add a = {rel, (int64_t)data.n, 0, stats, tags, 2};
        ts_err_clear(&err);
        if (delta_txn_new(t, NULL, &tx, &err) != TS_OK || delta_txn_set_schema(tx, schema, &err) ||
            delta_txn_add(tx, &a, &err) != TS_OK || delta_txn_commit(tx, &v, &err) != TS_OK) {
            fprintf(stderr, "writer %s add %d: %s\n", who, i, err.msg);
            w->failures++;
        } else if (v > w->max_version) {
            w->max_version = v;
        }
        delta_txn_free(tx);
    }
    delta_table_free(t);
    lake_free(lk);
    return NULL;
}

static int run_process(int proc)
{
    pthread_t th[64];
    worker ws[64];
    int failures = 0;
    for (int i = 0; i < threads; i++) {
        ws[i] = (worker){proc, i, 0, -1};
        CHECK(pthread_create(&th[i], NULL, write_adds, &ws[i]) == 0);
    }
    for (int i = 0; i < threads; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        failures += ws[i].failures;
    }
    return failures ? 1 : 0;
}

static int count_versions(void *ud, const lake_info *info)
{
    (void)info;
    (*(int64_t *)ud)++;
    return 0;
}

static void verify_log(void)
{
    int64_t total = (int64_t)procs * threads * adds, listed = 0;
    delta_table *t = NULL;
    ts_err err;
    char prefix[400];
    char *seen = calloc((size_t)total, 1);
    ts_err_clear(&err);
    CHECK(seen);

    CHECK_OK(delta_table_load(tl.lk, root, NULL, &t, &err), &err);
    CHECK_EQ(delta_table_version(t), total - 1);
    CHECK_EQ(delta_table_nfiles(t), total);
    CHECK_EQ(delta_table_nremoved(t), 0);
    snprintf(prefix, sizeof prefix, "%s/_delta_log/", root);
    CHECK_OK(lake_list(tl.lk, prefix, count_versions, &listed, &err), &err);
    CHECK_EQ(listed, total); /* 0..N and nothing else: gapless, no leftovers */

    for (int64_t v = 0; v < total; v++) {
        char *path = delta_commit_path(root, v), *text = get_text(tl.lk, path);
        int ncommit = 0, nadd = 0, nmeta = 0, nproto = 0;
        for (char *l = text; *l;) {
            char *nl = strchr(l, '\n');
            CHECK(nl); /* every action ends its line */
            json_error_t je;
            json_t *j = json_loadb(l, (size_t)(nl - l), 0, &je), *a;
            if (!j) {
                fprintf(stderr, "%s: %s\n", path, je.text);
                exit(1);
            }
            if ((a = json_object_get(j, "add")) != NULL) {
                int p, th, i;
                const char *pa = json_string_value(json_object_get(a, "path"));
                CHECK(pa && sscanf(pa, "p%d/t%d/f%d.parquet", &p, &th, &i) == 3);
                int64_t k = ((int64_t)p * threads + th) * adds + i;
                CHECK(k >= 0 && k < total);
                CHECK_EQ(seen[k], 0); /* never doubled */
                seen[k] = 1;
                CHECK(delta_table_find(t, pa));
                CHECK_EQ(delta_table_find(t, pa)->version, v);
                nadd++;
            }
            ncommit += json_object_get(j, "commitInfo") != NULL;
            nmeta += json_object_get(j, "metaData") != NULL;
            nproto += json_object_get(j, "protocol") != NULL;
            json_decref(j);
            l = nl + 1;
        }
        CHECK_EQ(ncommit, 1);
        CHECK_EQ(nadd, 1);
        CHECK_EQ(nmeta, v == 0);
        CHECK_EQ(nproto, v == 0);
        ts_free(text);
        ts_free(path);
    }
    for (int64_t k = 0; k < total; k++)
        CHECK_EQ(seen[k], 1); /* never lost */
    free(seen);
    delta_table_free(t);
    printf("%lld commits by %d writers: versions 0..%lld gapless, every add exactly once\n",
           (long long)total, procs * threads, (long long)(total - 1));
}

/* ---- the remove race ---- */

typedef struct racer {
    delta_table *t;
    const char *path;
    pthread_barrier_t *go;
    int rc;
    int64_t version;
    ts_err err;
} racer;

static void *remove_one(void *arg)
{
    racer *r = arg;
    delta_txn *tx = NULL;
    ts_err_clear(&r->err);
    CHECK_OK(delta_txn_new(r->t, "DELETE", &tx, &r->err), &r->err);
    CHECK_OK(delta_txn_remove(tx, r->path, 0, &r->err), &r->err);
    pthread_barrier_wait(r->go);
    r->rc = delta_txn_commit(tx, &r->version, &r->err);
    delta_txn_free(tx);
    return NULL;
}

static void remove_race(int rounds)
{
    lake *lk[2] = {test_lake_again(&tl), test_lake_again(&tl)};
    delta_table *t[2] = {NULL, NULL};
    ts_err err;
    int wins[2] = {0, 0};
    ts_err_clear(&err);
    for (int k = 0; k < 2; k++)
        CHECK_OK(delta_table_load(lk[k], root, NULL, &t[k], &err), &err);
    for (int round = 0; round < rounds; round++) {
        char path[64];
        pthread_barrier_t go;
        pthread_t th[2];
        racer r[2];
        snprintf(path, sizeof path, "p%d/t%d/f%03d.parquet", round % procs,
                 (round / procs) % threads, (round / (procs * threads)) % adds);
        /* both see it live */
        for (int k = 0; k < 2; k++) {
            CHECK_OK(delta_table_refresh(t[k], &err), &err);
            CHECK(delta_table_find(t[k], path));
        }
        CHECK(pthread_barrier_init(&go, NULL, 2) == 0);
        for (int k = 0; k < 2; k++) {
            r[k] = (racer){t[k], path, &go, 0, -1, {0, ""}};
            CHECK(pthread_create(&th[k], NULL, remove_one, &r[k]) == 0);
        }
        for (int k = 0; k < 2; k++)
            CHECK(pthread_join(th[k], NULL) == 0);
        pthread_barrier_destroy(&go);
        int ok = (r[0].rc == TS_OK) + (r[1].rc == TS_OK);
        int conflict = (r[0].rc == TS_ERR_CONFLICT) + (r[1].rc == TS_ERR_CONFLICT);
        if (ok != 1 || conflict != 1) {
            fprintf(stderr, "round %d: rc %d (%s) and %d (%s)\n", round, r[0].rc, r[0].err.msg,
                    r[1].rc, r[1].err.msg);
            exit(1);
        }
        int loser = r[0].rc == TS_OK;
        CHECK(strstr(r[loser].err.msg, "not a live file"));
        wins[r[0].rc == TS_OK ? 0 : 1]++;
    }
    /* the log agrees: each raced file removed exactly once */
    delta_table *fresh = NULL;
    CHECK_OK(delta_table_load(tl.lk, root, NULL, &fresh, &err), &err);
    CHECK_EQ(delta_table_nremoved(fresh), rounds);
    CHECK_EQ(delta_table_nfiles(fresh), (int64_t)procs * threads * adds - rounds);
    delta_table_free(fresh);
    printf("remove race: %d rounds, exactly one winner each (%d / %d)\n", rounds, wins[0], wins[1]);
    for (int k = 0; k < 2; k++) {
        delta_table_free(t[k]);
        lake_free(lk[k]);
    }
}

int main(int argc, char **argv)
{
    const char *kind = argc > 1 ? argv[1] : "local";
    struct timespec t0, t1;
    if (argc > 4) {
        procs = atoi(argv[2]);
        threads = atoi(argv[3]);
        adds = atoi(argv[4]);
    }
    delta_options_init(&opts);
    if (argc > 5)
        opts.io_retries = atoi(argv[5]);
    CHECK(procs > 0 && threads > 0 && threads <= 64 && adds > 0);
    if (test_lake_open(&tl, kind, "delta-conc") != 0)
        return SKIP_CODE;
    snprintf(root, sizeof root, "%s/c1/metrics/public.conc", tl.prefix);
    make_simple_parquet(&data, 10, INT64_C(1704067200000000), 0);
    parquet_schema_stats(&data, &schema, &stats);
    printf("store: %s, table %s, %d processes x %d threads x %d adds\n", lake_describe(tl.lk), root,
           procs, threads, adds);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    fflush(stdout);
    pid_t pids[256];
    CHECK(procs <= 256);
    for (int p = 0; p < procs; p++) {
        pids[p] = fork();
        CHECK(pids[p] >= 0);
        if (pids[p] == 0)
            _exit(run_process(p));
    }
    int failed = 0;
    for (int p = 0; p < procs; p++) {
        int st = 0;
        CHECK(waitpid(pids[p], &st, 0) == pids[p]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "writer process %d failed (status %d)\n", p, st);
            failed++;
        }
    }
    CHECK_EQ(failed, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("committed in %.2f s\n",
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    verify_log();
    remove_race(tl.azure ? 5 : 20);

    delta_schema_free(schema);
    ts_free(stats);
    free(data.p);
    test_lake_close(&tl);
    printf("ok\n");
    return 0;
}
