/* test_durable.c: durable files: the exclusive temp file refuses a taken name and a
 * planted symlink, no-replace commits refuse a taken target and leave it intact,
 * every failure and every abort leaves no temp file, mkdir -p. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/durable.h"

static char root[] = "/tmp/ts-durable-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

/* root/name, in a static buffer per call site slot */
static const char *at(int slot, const char *name)
{
    static char buf[4][512];
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", root, name);
    return buf[slot];
}

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void expect_file(const char *path, const char *text)
{
    char buf[256];
    FILE *f = fopen(path, "r");
    size_t n;
    assert_non_null(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_string_equal(buf, text);
}

/* Names in folder dir (relative to root) that look like temp files: random or fixed. */
static int temps_in(const char *dir)
{
    DIR *d = opendir(at(3, dir));
    struct dirent *de;
    int n = 0;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (ts_durable_is_temp(de->d_name, NULL) ||
            (l > 4 && strcmp(de->d_name + l - 4, ".tmp") == 0))
            n++;
    }
    closedir(d);
    return n;
}

static void t_commit(void **state)
{
    ts_durable *d = NULL, *d2 = NULL;
    struct stat st;
    ts_err e;
    const char *tmp;
    (void)state;
    ts_err_clear(&e);
    assert_int_equal(ts_durable_open(&d, at(0, "a.bin"), 0, 0640, &e), TS_OK);
    tmp = ts_durable_temp_path(d);
    assert_true(ts_durable_is_temp(strrchr(tmp, '/') + 1, "a.bin"));
    /* a second writer of the same target gets another name */
    assert_int_equal(ts_durable_open(&d2, at(0, "a.bin"), 0, 0640, &e), TS_OK);
    assert_string_not_equal(ts_durable_temp_path(d2), tmp);
    ts_durable_abort(d2);
    assert_int_equal(ts_durable_write(d, "hello ", 6, &e), TS_OK);
    assert_int_equal(ts_durable_write(d, "world", 5, &e), TS_OK);
    assert_int_equal(ts_durable_size(d), 11);
    assert_int_equal(access(at(0, "a.bin"), F_OK), -1); /* nothing visible before the commit */
    assert_int_equal(ts_durable_commit(d, &st, &e), TS_OK);
    assert_int_equal(st.st_size, 11);
    assert_int_equal(st.st_mode & 0777, 0640); /* the mode asked for (umask 022) */
    expect_file(at(0, "a.bin"), "hello world");
    assert_int_equal(temps_in("."), 0);

    /* without TS_DURABLE_NOREPLACE a commit replaces the file */
    assert_int_equal(ts_durable_open(&d, at(0, "a.bin"), 0, 0644, &e), TS_OK);
    assert_int_equal(ts_durable_write(d, "new", 3, &e), TS_OK);
    assert_int_equal(ts_durable_commit(d, NULL, &e), TS_OK);
    expect_file(at(0, "a.bin"), "new");
    assert_int_equal(temps_in("."), 0);
    assert_int_equal(unlink(at(0, "a.bin")), 0);
}

static void t_noreplace(void **state)
{
    ts_durable *d = NULL;
    ts_err e;
    (void)state;
    put_file(at(0, "taken"), "first");
    ts_err_clear(&e);
    assert_int_equal(ts_durable_open(&d, at(0, "taken"), TS_DURABLE_NOREPLACE, 0644, &e), TS_OK);
    assert_int_equal(ts_durable_write(d, "second", 6, &e), TS_OK);
    assert_int_equal(ts_durable_commit(d, NULL, &e), TS_ERR_EXISTS);
    assert_non_null(strstr(e.msg, "already exists"));
    assert_non_null(strstr(e.msg, "/taken\""));
    expect_file(at(0, "taken"), "first"); /* intact */
    assert_int_equal(temps_in("."), 0);   /* and the loser's temp file is gone */

    /* a free name is taken by the first commit, refused to the second */
    ts_durable *a = NULL, *b = NULL;
    ts_err_clear(&e);
    assert_int_equal(ts_durable_open(&a, at(0, "race"), TS_DURABLE_NOREPLACE, 0644, &e), TS_OK);
    assert_int_equal(ts_durable_open(&b, at(0, "race"), TS_DURABLE_NOREPLACE, 0644, &e), TS_OK);
    assert_int_equal(ts_durable_write(a, "A", 1, &e), TS_OK);
    assert_int_equal(ts_durable_write(b, "B", 1, &e), TS_OK);
    assert_int_equal(ts_durable_commit(b, NULL, &e), TS_OK);
    assert_int_equal(ts_durable_commit(a, NULL, &e), TS_ERR_EXISTS);
    expect_file(at(0, "race"), "B");
    assert_int_equal(temps_in("."), 0);
    assert_int_equal(unlink(at(0, "race")), 0);
    assert_int_equal(unlink(at(0, "taken")), 0);
}

static void t_exclusive_temp(void **state)
{
    ts_durable *d = NULL;
    ts_err e;
    struct stat sb;
    char link_target[512];
    (void)state;

    /* a file at the fixed temp name is never reused, never truncated */
    put_file(at(0, "x.parquet.tmp"), "someone else's");
    ts_err_clear(&e);
    assert_int_equal(ts_durable_open(&d, at(1, "x.parquet"), TS_DURABLE_FIXED_TEMP, 0644, &e),
                     TS_ERR_EXISTS);
    assert_null(d);
    assert_non_null(strstr(e.msg, "x.parquet.tmp\": it exists"));
    expect_file(at(0, "x.parquet.tmp"), "someone else's");
    assert_int_equal(unlink(at(0, "x.parquet.tmp")), 0);

    /* a symlink planted at the temp name is not followed: its target stays as it was */
    put_file(at(0, "victim"), "precious");
    assert_int_equal(symlink(at(0, "victim"), at(1, "y.parquet.tmp")), 0);
    ts_err_clear(&e);
    assert_int_equal(ts_durable_open(&d, at(2, "y.parquet"), TS_DURABLE_FIXED_TEMP, 0644, &e),
                     TS_ERR_EXISTS);
    expect_file(at(0, "victim"), "precious");
    assert_int_equal(lstat(at(1, "y.parquet.tmp"), &sb), 0);
    assert_true(S_ISLNK(sb.st_mode)); /* and the link is not removed either: not ours */
    assert_int_equal(unlink(at(1, "y.parquet.tmp")), 0);

    /* a dangling one does not create its target */
    snprintf(link_target, sizeof link_target, "%s", at(0, "created-through-link"));
    assert_int_equal(symlink(link_target, at(1, "z.parquet.tmp")), 0);
    ts_err_clear(&e);
    assert_int_equal(ts_durable_open(&d, at(2, "z.parquet"), TS_DURABLE_FIXED_TEMP, 0644, &e),
                     TS_ERR_EXISTS);
    assert_int_equal(access(link_target, F_OK), -1);
    assert_int_equal(unlink(at(1, "z.parquet.tmp")), 0);

    /* the fixed name works once free, and is gone after the commit */
    ts_err_clear(&e);
    assert_int_equal(ts_durable_open(&d, at(2, "z.parquet"), TS_DURABLE_FIXED_TEMP, 0644, &e),
                     TS_OK);
    assert_string_equal(ts_durable_temp_path(d), at(1, "z.parquet.tmp"));
    assert_int_equal(ts_durable_write(d, "z", 1, &e), TS_OK);
    assert_int_equal(ts_durable_commit(d, NULL, &e), TS_OK);
    expect_file(at(2, "z.parquet"), "z");
    assert_int_equal(access(at(1, "z.parquet.tmp"), F_OK), -1);
    assert_int_equal(unlink(at(2, "z.parquet")), 0);
    assert_int_equal(unlink(at(0, "victim")), 0);
}

static void t_abort_leaves_nothing(void **state)
{
    ts_durable *d = NULL;
    ts_err e;
    struct rlimit old, lim;
    (void)state;

    /* an abort in the middle of writing */
    ts_err_clear(&e);
    assert_int_equal(ts_durable_open(&d, at(0, "half"), 0, 0644, &e), TS_OK);
    assert_int_equal(ts_durable_write(d, "partial", 7, &e), TS_OK);
    assert_int_equal(access(ts_durable_temp_path(d), F_OK), 0);
    ts_durable_abort(d);
    ts_durable_abort(NULL);
    assert_int_equal(temps_in("."), 0);
    assert_int_equal(access(at(0, "half"), F_OK), -1);

    /* a write the file system refuses (the file size limit: EFBIG), then the commit */
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(ts_durable_open(&d, at(0, "big"), 0, 0644, &e), TS_OK);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    assert_int_equal(ts_durable_write(d, "0123456789", 10, &e), TS_ERR_IO);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_non_null(strstr(e.msg, "could not write"));
    /* a failed file stays failed, and the first error wins */
    assert_int_equal(ts_durable_write(d, "x", 1, &e), TS_ERR_INTERNAL);
    assert_non_null(strstr(e.msg, "could not write"));
    ts_err_clear(&e);
    assert_int_equal(ts_durable_commit(d, NULL, &e), TS_ERR_INTERNAL);
    assert_int_equal(temps_in("."), 0);
    assert_int_equal(access(at(0, "big"), F_OK), -1);

    /* bytes that went around ts_durable_write: the size check refuses the commit */
    assert_int_equal(ts_durable_open(&d, at(0, "odd"), 0, 0644, &e), TS_OK);
    assert_int_equal(write(ts_durable_fd(d), "zz", 2), 2);
    ts_err_clear(&e);
    assert_int_equal(ts_durable_commit(d, NULL, &e), TS_ERR_IO);
    assert_non_null(strstr(e.msg, "does not hold the 0 bytes written"));
    assert_int_equal(temps_in("."), 0);
    assert_int_equal(access(at(0, "odd"), F_OK), -1);

    /* a folder that does not exist (no TS_DURABLE_MKDIRS) */
    ts_err_clear(&e);
    assert_int_equal(ts_durable_open(&d, at(0, "missing/f"), 0, 0644, &e), TS_ERR_IO);
    assert_non_null(strstr(e.msg, "missing/f.tmp-"));
    assert_int_equal(access(at(0, "missing"), F_OK), -1);
}

/* Every allocation in turn fails: no crash, no leak (ASan), no file of any kind. */
static void t_alloc_failures(void **state)
{
    (void)state;
    for (long nth = 1; nth < 12; nth++) {
        ts_durable *d = NULL;
        ts_err e;
        int rc;
        ts_err_clear(&e);
        ts_alloc_fail_after(nth);
        rc = ts_durable_open(&d, at(0, "m/n/o.bin"), TS_DURABLE_MKDIRS, 0644, &e);
        if (rc == TS_OK && (rc = ts_durable_write(d, "abc", 3, &e)) != TS_OK)
            ts_durable_abort(d);
        else if (rc == TS_OK)
            rc = ts_durable_commit(d, NULL, &e);
        ts_alloc_fail_after(0);
        if (rc == TS_OK) {
            expect_file(at(0, "m/n/o.bin"), "abc");
            assert_int_equal(unlink(at(0, "m/n/o.bin")), 0);
        } else {
            assert_int_equal(rc, TS_ERR_NOMEM);
            assert_int_equal(access(at(0, "m/n/o.bin"), F_OK), -1);
        }
        if (access(at(0, "m/n"), F_OK) == 0)
            assert_int_equal(temps_in("m/n"), 0);
    }
}

static void t_mkdirs(void **state)
{
    ts_err e;
    struct stat sb;
    char cwd[1024];
    ts_durable *d = NULL;
    (void)state;
    ts_err_clear(&e);
    assert_int_equal(ts_durable_mkdirs(at(0, "p/q//r/"), &e), TS_OK);
    assert_int_equal(stat(at(0, "p/q/r"), &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(ts_durable_mkdirs(at(0, "p/q/r"), &e), TS_OK); /* exists: fine */
    put_file(at(0, "p/file"), "x");
    assert_int_equal(ts_durable_mkdirs(at(0, "p/file/s"), &e), TS_ERR_IO);
    ts_err_clear(&e);
    assert_int_equal(ts_durable_mkdirs(at(0, "p/file"), &e), TS_ERR_IO);
    assert_non_null(strstr(e.msg, "is not a folder"));
    /* relative paths, from the current folder */
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(root), 0);
    ts_err_clear(&e);
    assert_int_equal(ts_durable_mkdirs("rel/a", &e), TS_OK);
    assert_int_equal(ts_durable_open(&d, "rel/a/b/f", TS_DURABLE_MKDIRS, 0644, &e), TS_OK);
    assert_int_equal(ts_durable_commit(d, NULL, &e), TS_OK);
    assert_int_equal(ts_durable_open(&d, "top", 0, 0644, &e), TS_OK); /* the folder is "." */
    assert_int_equal(ts_durable_commit(d, NULL, &e), TS_OK);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(stat(at(0, "rel/a/b/f"), &sb), 0);
    assert_int_equal(stat(at(0, "top"), &sb), 0);
    assert_int_equal(ts_durable_fsync_dir(at(0, "nope"), &e), TS_ERR_IO);
}

static void t_is_temp(void **state)
{
    (void)state;
    assert_true(ts_durable_is_temp("a.parquet.tmp-Ab3xYz", "a.parquet"));
    assert_true(ts_durable_is_temp("a.parquet.tmp-Ab3xYz", NULL));
    assert_false(ts_durable_is_temp("a.parquet.tmp-Ab3xYz", "a.parque"));
    assert_false(ts_durable_is_temp("b.parquet.tmp-Ab3xYz", "a.parquet"));
    assert_false(ts_durable_is_temp("a.parquet.tmp-Ab3xY", NULL));   /* five */
    assert_false(ts_durable_is_temp("a.parquet.tmp-Ab3xYz0", NULL)); /* seven */
    assert_false(ts_durable_is_temp("a.parquet.tmp-Ab3x.z", NULL));  /* not alphanumeric */
    assert_false(ts_durable_is_temp("a.parquet", NULL));
    assert_false(ts_durable_is_temp(".tmp-Ab3xYz", NULL)); /* no base */
    assert_false(ts_durable_is_temp("a.parquet.tmp", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_commit),         cmocka_unit_test(t_noreplace),
        cmocka_unit_test(t_exclusive_temp), cmocka_unit_test(t_abort_leaves_nothing),
        cmocka_unit_test(t_alloc_failures), cmocka_unit_test(t_mkdirs),
        cmocka_unit_test(t_is_temp),
    };
    umask(022);
    return cmocka_run_group_tests(tests, setup, teardown);
}
