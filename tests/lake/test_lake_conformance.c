/* test_lake_conformance.c: one suite of the lake interface, run on each store:
 *   test_lake_conformance local         (a temporary folder)
 *   test_lake_conformance azure         (the Azurite of TS_TEST_AZURE_*; skips without)
 * Whole-or-absent commits, stat, ranges, listing with a prefix, overwrite, abort,
 * delete, path rules, the store prefix, the chunk layout. */
#include "testutil.h"

#include <stdbool.h>
#include <unistd.h>

#include "common/alloc.h"

static lake *open_store(const char *kind, const char *root, const char *connstr, const char *prefix,
                        const char *container)
{
    lake_options o;
    lake *lk = NULL;
    ts_err err;
    ts_err_clear(&err);
    lake_options_init(&o);
    o.prefix = prefix;
    if (strcmp(kind, "local") == 0) {
        o.kind = LAKE_LOCAL;
        o.path = root;
    } else {
        o.kind = LAKE_AZURE;
        o.connection_string = connstr;
        o.container = container;
        o.block_size = 64 << 10; /* small blocks: many per object, all paths exercised */
        o.upload_concurrency = 3;
        o.max_retries = 2;
    }
    CHECK_OK(lake_open(&lk, &o, &err), &err);
    return lk;
}

static void put_bytes(lake *lk, const char *path, uint64_t seed, size_t size, size_t piece,
                      lake_info *info)
{
    lake_writer *w = NULL;
    ts_err err;
    uint8_t *buf = malloc(piece ? piece : 1);
    size_t off = 0;
    ts_err_clear(&err);
    CHECK(buf);
    CHECK_OK(lake_writer_open(lk, path, &w, &err), &err);
    while (off < size) {
        size_t k = size - off < piece ? size - off : piece;
        fill_bytes(buf, k, seed, off);
        CHECK_OK(lake_writer_write(w, buf, k, &err), &err);
        off += k;
    }
    CHECK_EQ(lake_writer_size(w), size);
    CHECK_OK(lake_writer_commit(w, info, &err), &err);
    free(buf);
}

static void expect_content(lake *lk, const char *path, uint64_t seed, size_t size)
{
    ts_err err;
    lake_info st;
    uint8_t *got = malloc(size + 16), *want = malloc(size + 1), md5[16];
    size_t n = 0, off = 0;
    ts_err_clear(&err);
    CHECK(got && want);
    fill_bytes(want, size, seed, 0);
    CHECK_OK(lake_stat(lk, path, &st, &err), &err);
    CHECK_EQ(st.size, size);
    CHECK(st.has_md5);
    lake_md5(want, size, md5);
    CHECK(memcmp(md5, st.md5, 16) == 0);
    /* read in uneven ranges, the last one asking past the end */
    while (off < size) {
        size_t ask = 50000;
        CHECK_OK(lake_read(lk, path, off, ask, got + off, &n, &err), &err);
        CHECK(n > 0);
        CHECK(n == ask || off + n == size);
        off += n;
    }
    CHECK_EQ(off, size);
    CHECK(memcmp(got, want, size) == 0);
    CHECK_OK(lake_read(lk, path, size, 10, got, &n, &err), &err);
    CHECK_EQ(n, 0);
    free(got);
    free(want);
}

static void expect_absent(lake *lk, const char *path)
{
    ts_err err;
    lake_info st;
    uint8_t b[4];
    size_t n;
    ts_err_clear(&err);
    CHECK_EQ(lake_stat(lk, path, &st, &err), TS_ERR_NOTFOUND);
    ts_err_clear(&err);
    CHECK_EQ(lake_read(lk, path, 0, 4, b, &n, &err), TS_ERR_NOTFOUND);
}

typedef struct names {
    char v[64][256];
    uint64_t size[64];
    int n;
    int stop_after;
} names;

static int collect(void *ud, const lake_info *info)
{
    names *ns = ud;
    CHECK(ns->n < 64);
    snprintf(ns->v[ns->n], sizeof ns->v[0], "%s", info->name);
    ns->size[ns->n++] = info->size;
    if (ns->stop_after && ns->n == ns->stop_after)
        return 42;
    return 0;
}

static void expect_content_raw(lake *lk, const char *path, const char *want, size_t n)
{
    char *got = NULL;
    size_t gl = 0;
    ts_err err;
    ts_err_clear(&err);
    CHECK_OK(lake_get_bytes(lk, path, 1 << 20, &got, &gl, NULL, &err), &err);
    CHECK_EQ(gl, n);
    CHECK(memcmp(got, want, n) == 0);
    ts_free(got);
}

static void list(lake *lk, const char *prefix, names *ns)
{
    ts_err err;
    ts_err_clear(&err);
    memset(ns, 0, sizeof *ns);
    CHECK_OK(lake_list(lk, prefix, collect, ns, &err), &err);
}

int main(int argc, char **argv)
{
    const char *kind = argc > 1 ? argv[1] : "local";
    char root[] = "/tmp/lake-conf-XXXXXX", connstr[1024], base[128], p[512];
    az_env env = {NULL, NULL, NULL};
    lake *lk, *lp;
    lake_writer *w, *w2;
    lake_info info;
    names ns;
    ts_err err;
    bool azure = strcmp(kind, "azure") == 0;
    size_t big;

    ts_err_clear(&err);
    if (azure) {
        if (az_env_or_skip(&env, "lake conformance on azure") != 0)
            return SKIP_CODE;
        az_connstr_key(&env, NULL, connstr, sizeof connstr);
    } else {
        CHECK(mkdtemp(root));
    }
    snprintf(base, sizeof base, "conf-%ld-%d", (long)time(NULL), (int)getpid());
    lk = open_store(kind, root, connstr, "", "lake-conformance");
    printf("store: %s\n", lake_describe(lk));
    CHECK_OK(lake_test(lk, &err), &err);

    /* small object written in pieces; stat, ranges, end of object */
    snprintf(p, sizeof p, "%s/small.bin", base);
    put_bytes(lk, p, 1, 1000, 7, &info);
    CHECK_EQ(info.size, 1000);
    expect_content(lk, p, 1, 1000);

    /* several blocks with a partial last one, written in odd pieces */
    big = (size_t)(3.5 * (64 << 10)) + 123;
    snprintf(p, sizeof p, "%s/big.bin", base);
    put_bytes(lk, p, 2, big, 7777, &info);
    CHECK_EQ(info.size, big);
    expect_content(lk, p, 2, big);

    /* exactly one block, and an empty object */
    snprintf(p, sizeof p, "%s/oneblock.bin", base);
    put_bytes(lk, p, 3, 64 << 10, 64 << 10, NULL);
    expect_content(lk, p, 3, 64 << 10);
    snprintf(p, sizeof p, "%s/empty.bin", base);
    put_bytes(lk, p, 4, 0, 1, &info);
    CHECK_EQ(info.size, 0);
    expect_content(lk, p, 4, 0);

    /* write-once: another object under a taken name is refused, the first stays whole;
     * the same bytes again (a retried commit) succeed without replacing anything */
    snprintf(p, sizeof p, "%s/small.bin", base);
    {
        uint8_t b[1000];
        lake_info again;
        char etag[80];
        CHECK_OK(lake_stat(lk, p, &info, &err), &err);
        CHECK(info.etag[0] != '\0');
        snprintf(etag, sizeof etag, "%s", info.etag);
        fill_bytes(b, sizeof b, 5, 0);
        CHECK_OK(lake_writer_open(lk, p, &w, &err), &err);
        CHECK_OK(lake_writer_write(w, b, sizeof b, &err), &err);
        CHECK_EQ(lake_writer_commit(w, NULL, &err), TS_ERR_EXISTS);
        CHECK(strstr(err.msg, "write-once") != NULL);
        ts_err_clear(&err);
        expect_content(lk, p, 1, 1000);
        fill_bytes(b, sizeof b, 1, 0);
        CHECK_OK(lake_put_bytes(lk, p, b, sizeof b, &again, &err), &err);
        CHECK_EQ(again.size, 1000);
        CHECK(strcmp(again.etag, etag) == 0); /* nothing was replaced */
        expect_content(lk, p, 1, 1000);
    }
    /* small objects from and into memory */
    snprintf(p, sizeof p, "%s/log/00001.json", base);
    {
        char *got = NULL;
        size_t gl = 0;
        CHECK_OK(lake_put_bytes(lk, p, "{\"a\":1}\n", 8, &info, &err), &err);
        CHECK_OK(lake_get_bytes(lk, p, 64, &got, &gl, &info, &err), &err);
        CHECK_EQ(gl, 8);
        CHECK(strcmp(got, "{\"a\":1}\n") == 0);
        CHECK_EQ(info.size, 8);
        ts_free(got);
        CHECK_EQ(lake_get_bytes(lk, p, 4, &got, &gl, NULL, &err), TS_ERR_TOOBIG);
        ts_err_clear(&err);
        CHECK_EQ(lake_put_bytes(lk, p, "{\"a\":2}\n", 8, NULL, &err), TS_ERR_EXISTS);
        ts_err_clear(&err);
        snprintf(p, sizeof p, "%s/log/none.json", base);
        CHECK_EQ(lake_get_bytes(lk, p, 64, &got, &gl, NULL, &err), TS_ERR_NOTFOUND);
        ts_err_clear(&err);
    }

    /* abort: nothing visible, before or after blocks went up */
    snprintf(p, sizeof p, "%s/aborted-small.bin", base);
    {
        uint8_t b[1000];
        fill_bytes(b, sizeof b, 6, 0);
        CHECK_OK(lake_writer_open(lk, p, &w, &err), &err);
        CHECK_OK(lake_writer_write(w, b, sizeof b, &err), &err);
        lake_writer_abort(w);
        expect_absent(lk, p);
        snprintf(p, sizeof p, "%s/aborted-big.bin", base);
        CHECK_OK(lake_writer_open(lk, p, &w, &err), &err);
        for (int i = 0; i < 300; i++)
            CHECK_OK(lake_writer_write(w, b, sizeof b, &err), &err);
        expect_absent(lk, p); /* not visible while being written */
        lake_writer_abort(w);
        expect_absent(lk, p);
    }

    /* two writers at once */
    {
        char p2[512];
        uint8_t b[4096];
        snprintf(p, sizeof p, "%s/twin/a.bin", base);
        snprintf(p2, sizeof p2, "%s/twin/b.bin", base);
        CHECK_OK(lake_writer_open(lk, p, &w, &err), &err);
        CHECK_OK(lake_writer_open(lk, p2, &w2, &err), &err);
        for (size_t off = 0; off < 100 * sizeof b; off += sizeof b) {
            fill_bytes(b, sizeof b, 7, off);
            CHECK_OK(lake_writer_write(w, b, sizeof b, &err), &err);
            fill_bytes(b, sizeof b, 8, off);
            CHECK_OK(lake_writer_write(w2, b, sizeof b, &err), &err);
        }
        CHECK_OK(lake_writer_commit(w2, NULL, &err), &err);
        CHECK_OK(lake_writer_commit(w, NULL, &err), &err);
        expect_content(lk, p, 7, 100 * sizeof b);
        expect_content(lk, p2, 8, 100 * sizeof b);
    }

    /* listing: prefix semantics, byte order, sizes, early stop */
    {
        const char *names_in[] = {"ls/b/1", "ls/a/2", "ls/a/1", "lsx", "ls/a b/3"};
        for (int i = 0; i < 5; i++) {
            snprintf(p, sizeof p, "%s/%s", base, names_in[i]);
            put_bytes(lk, p, 9, (size_t)(10 + i), 64, NULL);
        }
        snprintf(p, sizeof p, "%s/ls/", base);
        list(lk, p, &ns);
        CHECK_EQ(ns.n, 4);
        snprintf(p, sizeof p, "%s/ls/a b/3", base);
        CHECK(strcmp(ns.v[0], p) == 0);
        snprintf(p, sizeof p, "%s/ls/a/1", base);
        CHECK(strcmp(ns.v[1], p) == 0);
        CHECK_EQ(ns.size[1], 12);
        snprintf(p, sizeof p, "%s/ls/b/1", base);
        CHECK(strcmp(ns.v[3], p) == 0);
        snprintf(p, sizeof p, "%s/ls/a", base);
        list(lk, p, &ns);
        CHECK_EQ(ns.n, 3); /* "ls/a b/3", "ls/a/1", "ls/a/2" */
        snprintf(p, sizeof p, "%s/ls", base);
        list(lk, p, &ns);
        CHECK_EQ(ns.n, 5);
        snprintf(p, sizeof p, "%s/nothing-here/", base);
        list(lk, p, &ns);
        CHECK_EQ(ns.n, 0);
        memset(&ns, 0, sizeof ns);
        ns.stop_after = 2;
        snprintf(p, sizeof p, "%s/ls", base);
        CHECK_EQ(lake_list(lk, p, collect, &ns, &err), 42);
        CHECK_EQ(ns.n, 2);
        /* aborted and temporary objects never show */
        snprintf(p, sizeof p, "%s/", base);
        list(lk, p, &ns);
        for (int i = 0; i < ns.n; i++) {
            CHECK(strstr(ns.v[i], "aborted") == NULL);
            CHECK(strstr(ns.v[i], ".tmp-") == NULL);
        }
    }

    /* sweep: a dead writer's temp file goes, a live writer's stays (local folders;
     * Azure keeps uncommitted blocks invisible and sweeps nothing) */
    if (!azure) {
        char dead[700];
        long long removed = -1;
        FILE *fp;
        snprintf(p, sizeof p, "%s/sweep/live.bin", base);
        CHECK_OK(lake_writer_open(lk, p, &w, &err), &err);
        CHECK_OK(lake_writer_write(w, "x", 1, &err), &err);
        snprintf(dead, sizeof dead, "%s/%s/sweep/dead.bin.tmp-AbC123", root, base);
        CHECK((fp = fopen(dead, "w")) != NULL);
        fclose(fp);
        snprintf(p, sizeof p, "%s/sweep/", base);
        CHECK_OK(lake_sweep(lk, p, 0, &removed, &err), &err);
        CHECK_EQ(removed, 1);
        CHECK(access(dead, F_OK) != 0);
        CHECK_OK(lake_writer_commit(w, NULL, &err), &err); /* its temp file survived */
        snprintf(p, sizeof p, "%s/sweep/live.bin", base);
        expect_content_raw(lk, p, "x", 1);
    } else {
        long long removed = -1;
        CHECK_OK(lake_sweep(lk, base, 0, &removed, &err), &err);
        CHECK_EQ(removed, 0);
    }

    /* delete */
    snprintf(p, sizeof p, "%s/ls/a/1", base);
    CHECK_OK(lake_delete(lk, p, &err), &err);
    expect_absent(lk, p);
    CHECK_EQ(lake_delete(lk, p, &err), TS_ERR_NOTFOUND);
    ts_err_clear(&err);
    snprintf(p, sizeof p, "%s/never-written", base);
    expect_absent(lk, p);

    /* path rules */
    {
        const char *bad[] = {"", "/abs", "a//b", "../x", "a/./b", "a/..", "a/", "x\\y", "a\nb"};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            ts_err_clear(&err);
            CHECK_EQ(lake_writer_open(lk, bad[i], &w, &err), TS_ERR_INVALID);
            CHECK(w == NULL);
        }
        ts_err_clear(&err);
    }

    /* the store prefix: objects land under it, and listings are relative to it */
    {
        char pre[256];
        snprintf(pre, sizeof pre, "/%s/prefixed/", base);
        lp = open_store(kind, root, connstr, pre, "lake-conformance");
        put_bytes(lp, "x/y.bin", 10, 333, 100, NULL);
        snprintf(p, sizeof p, "%s/prefixed/x/y.bin", base);
        expect_content(lk, p, 10, 333);
        list(lp, "", &ns);
        CHECK_EQ(ns.n, 1);
        CHECK(strcmp(ns.v[0], "x/y.bin") == 0);
        list(lp, "x/", &ns);
        CHECK_EQ(ns.n, 1);
        {
            char *u = lake_url(lp, "x/y.bin");
            CHECK(u && strstr(u, "/prefixed/x/y.bin"));
            if (azure)
                CHECK(strstr(u, env.key) == NULL && strstr(u, "sig=") == NULL);
            ts_free(u);
        }
        lake_free(lp);
    }

    /* the chunk layout is a valid path and round-trips */
    {
        char *op = lake_object_path("metrics", "_timescaledb_internal", "conditions",
                                    "_hyper_1_2_chunk", 1704067200000000LL, 1704672000000000LL);
        CHECK(op);
        CHECK_OK(lake_path_check(op, &err), &err);
        snprintf(p, sizeof p, "%s/%s", base, op);
        put_bytes(lk, p, 11, 5000, 1000, NULL);
        expect_content(lk, p, 11, 5000);
        ts_free(op);
    }

    /* download to a file */
    {
        char f[300];
        lake_info gi;
        FILE *fp;
        uint8_t *b = malloc(200000), *want = malloc(200000);
        snprintf(f, sizeof f, "/tmp/lake-conf-get-%d.bin", (int)getpid());
        snprintf(p, sizeof p, "%s/small2.bin", base);
        put_bytes(lk, p, 5, 200000, 65536, NULL);
        CHECK_OK(lake_get_file(lk, p, f, &gi, &err), &err);
        CHECK_EQ(gi.size, 200000);
        fp = fopen(f, "rb");
        CHECK(fp && fread(b, 1, 200000, fp) == 200000);
        fclose(fp);
        fill_bytes(want, 200000, 5, 0);
        CHECK(memcmp(b, want, 200000) == 0);
        unlink(f);
        free(b);
        free(want);
    }

    /* clean up what this run wrote */
    {
        snprintf(p, sizeof p, "%s/", base);
        list(lk, p, &ns);
        for (int i = 0; i < ns.n; i++)
            CHECK_OK(lake_delete(lk, ns.v[i], &err), &err);
        list(lk, p, &ns);
        CHECK_EQ(ns.n, 0);
    }
    lake_free(lk);
    if (!azure) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        CHECK(system(cmd) == 0);
    }
    printf("lake conformance on %s: ok\n", kind);
    return 0;
}
