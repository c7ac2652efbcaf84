/* test_lake_faults.c AZURITE_BIN: starts a private Azurite on a free port in a
 * temporary folder, stops it (SIGKILL, by PID) in the middle of an upload, checks the
 * clear error and that no blob was committed, starts it again on the same folder and
 * port, and checks that the same upload then succeeds. Skips when Azurite is absent. */
#include "testutil.h"

#include <stdbool.h>
#include <sys/stat.h>

#include "common/alloc.h"

#define MIB (1u << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *DEV_KEY =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

static lake *open_private(int port, char *cs, size_t cap)
{
    lake_options o;
    lake *lk = NULL;
    ts_err err;
    ts_err_clear(&err);
    snprintf(cs, cap,
             "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;"
             "BlobEndpoint=http://127.0.0.1:%d/devstoreaccount1",
             DEV_KEY, port);
    lake_options_init(&o);
    o.kind = LAKE_AZURE;
    o.connection_string = cs;
    o.container = "faults";
    o.block_size = MIB;
    o.upload_concurrency = 2;
    o.max_retries = 3;
    o.retry_base_ms = 100;
    o.retry_max_ms = 400;
    o.connect_timeout_s = 2;
    o.stall_timeout_s = 5;
    CHECK_OK(lake_open(&lk, &o, &err), &err);
    return lk;
}

/* Writes total bytes of seed 7; calls kill_at(bytes) once after `at` bytes. */
static int upload(lake *lk, const char *path, size_t total, size_t at, pid_t *kill_pid,
                  lake_info *info, ts_err *err)
{
    lake_writer *w = NULL;
    uint8_t *buf = malloc(256 << 10);
    size_t off = 0;
    int rc;
    CHECK(buf);
    if ((rc = lake_writer_open(lk, path, &w, err)) != TS_OK)
        goto out;
    while (off < total) {
        size_t k = total - off < (256u << 10) ? total - off : (256u << 10);
        if (kill_pid && *kill_pid > 0 && off >= at) {
            printf("killing azurite (pid %d) after %zu bytes written\n", (int)*kill_pid, off);
            azurite_kill(*kill_pid);
            *kill_pid = -1;
        }
        fill_bytes(buf, k, 7, off);
        if ((rc = lake_writer_write(w, buf, k, err)) != TS_OK)
            goto out;
        off += k;
    }
    rc = lake_writer_commit(w, info, err);
    w = NULL;
out:
    lake_writer_abort(w);
    free(buf);
    return rc;
}

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : "";
    char dir[] = "/tmp/lake-faults-XXXXXX", cs[1024], cmd[256];
    int port, rc;
    pid_t pid;
    lake *lk;
    lake_info info;
    ts_err err;
    double t0;
    struct stat sb;

    if (!*bin || stat(bin, &sb) != 0) {
        printf("SKIP lake faults: Azurite not found at \"%s\" (npm install in tools/)\n", bin);
        return SKIP_CODE;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CHECK(mkdtemp(dir));
    port = free_port();
    CHECK(port > 0);
    pid = azurite_start(bin, dir, port);
    if (pid < 0) {
        printf("SKIP lake faults: could not start Azurite (node missing?); see %s/azurite.log\n", dir);
        return SKIP_CODE;
    }
    printf("private azurite pid %d on port %d in %s\n", (int)pid, port, dir);
    lk = open_private(port, cs, sizeof cs);
    ts_err_clear(&err);
    CHECK_OK(lake_test(lk, &err), &err);
    sleep(6); /* Azurite saves its metadata every 5 s: let the container survive a SIGKILL */

    /* 1. killed mid-upload: a clear error, soon, and no blob */
    t0 = now_s();
    ts_err_clear(&err);
    rc = upload(lk, "big/x.bin", 48 * MIB, 6 * MIB, &pid, &info, &err);
    printf("upload with azurite stopped: rc %d after %.1f s: %s\n", rc, now_s() - t0, err.msg);
    CHECK(rc == TS_ERR_CONN || rc == TS_ERR_TIMEOUT);
    CHECK(now_s() - t0 < 30);
    CHECK(strstr(err.msg, "\"faults\"") && strstr(err.msg, "\"devstoreaccount1\""));
    CHECK(strstr(err.msg, "could not reach"));
    CHECK(strstr(err.msg, DEV_KEY) == NULL);

    /* 2. while it is down: the connection test says so, quickly */
    ts_err_clear(&err);
    t0 = now_s();
    CHECK_EQ(lake_test(lk, &err), TS_ERR_CONN);
    printf("lake_test while down (%.1f s): %s\n", now_s() - t0, err.msg);

    /* 3. back up on the same folder and port: nothing was committed */
    pid = azurite_start(bin, dir, port);
    CHECK(pid > 0);
    printf("restarted azurite pid %d\n", (int)pid);
    ts_err_clear(&err);
    CHECK_EQ(lake_stat(lk, "big/x.bin", &info, &err), TS_ERR_NOTFOUND);
    printf("after restart: %s\n", err.msg);
    CHECK(strstr(err.msg, "BlobNotFound"));

    /* 4. the same upload succeeds, on the same lake handle */
    ts_err_clear(&err);
    rc = upload(lk, "big/x.bin", 48 * MIB, 0, NULL, &info, &err);
    CHECK_OK(rc, &err);
    CHECK_EQ(info.size, 48 * MIB);
    {
        lake_info st;
        uint8_t got[4096], want[4096];
        size_t n;
        CHECK_OK(lake_stat(lk, "big/x.bin", &st, &err), &err);
        CHECK_EQ(st.size, 48 * MIB);
        CHECK(memcmp(st.md5, info.md5, 16) == 0);
        CHECK_OK(lake_read(lk, "big/x.bin", 17 * MIB + 5, sizeof got, got, &n, &err), &err);
        fill_bytes(want, sizeof want, 7, 17 * MIB + 5);
        CHECK(n == sizeof got && memcmp(got, want, sizeof got) == 0);
    }
    printf("same upload after restart: ok\n");

    /* 5. killed just before commit (all blocks sent, Put Block List not): no blob */
    ts_err_clear(&err);
    {
        lake_writer *w = NULL;
        uint8_t b[MIB];
        fill_bytes(b, sizeof b, 9, 0);
        CHECK_OK(lake_writer_open(lk, "big/y.bin", &w, &err), &err);
        for (int i = 0; i < 3; i++)
            CHECK_OK(lake_writer_write(w, b, sizeof b, &err), &err);
        sleep(1); /* the blocks are up */
        azurite_kill(pid);
        rc = lake_writer_commit(w, NULL, &err);
        printf("commit with azurite stopped: rc %d: %s\n", rc, err.msg);
        CHECK(rc == TS_ERR_CONN || rc == TS_ERR_TIMEOUT);
        pid = azurite_start(bin, dir, port);
        CHECK(pid > 0);
        ts_err_clear(&err);
        CHECK_EQ(lake_stat(lk, "big/y.bin", &info, &err), TS_ERR_NOTFOUND);
        printf("after restart: %s\n", err.msg);
    }

    lake_free(lk);
    azurite_kill(pid);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    printf("lake faults: ok\n");
    return 0;
}
