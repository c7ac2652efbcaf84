/* cmd_lake.c: `tsarchive lake test|ls|put|get|rm` on the store the config names
 * (lake.kind: a local folder or Azure Blob Storage); `lake test` also says which identity
 * the lake acts as. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "common/alloc.h"
#include "lake/lake.h"
#include "lake/lake_config.h"

static int lake_usage(void)
{
    cli_errorf("usage: tsarchive lake (test | ls [PREFIX] | put FILE PATH | get PATH [-o FILE] | "
               "rm PATH)");
    return TS_EXIT_USAGE;
}

typedef struct ls_ctx {
    uint64_t n, bytes;
} ls_ctx;

static int print_entry(void *ud, const lake_info *info)
{
    ls_ctx *c = ud;
    char hex[33] = "-";
    if (info->has_md5)
        lake_md5_hex(info->md5, hex);
    printf("%12" PRIu64 "  %-32s  %s\n", info->size, hex, info->name);
    c->n++;
    c->bytes += info->size;
    return 0;
}

/* Streams an object to stdout. */
static int cat_object(lake *lk, const char *path, ts_err *err)
{
    size_t cap = 4u << 20, got = 0;
    uint64_t off = 0;
    uint8_t *buf = ts_malloc(cap);
    int rc = TS_OK;
    if (!buf)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    do {
        if ((rc = lake_read(lk, path, off, cap, buf, &got, err)) != TS_OK)
            break;
        if (got && fwrite(buf, 1, got, stdout) != got) {
            rc = ts_err_set(err, TS_ERR_IO, "could not write to stdout");
            break;
        }
        off += got;
    } while (got == cap);
    if (rc == TS_OK && fflush(stdout) != 0)
        rc = ts_err_set(err, TS_ERR_IO, "could not write to stdout");
    ts_free(buf);
    return rc;
}

int cmd_lake(const ts_config *cfg, int argc, char **argv)
{
    lake_options o;
    lake *lk = NULL;
    ts_err err;
    const char *sub;
    int rc, exit_code = TS_EXIT_FAIL;

    ts_err_clear(&err);
    if (argc < 2)
        return lake_usage();
    sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        lake_usage();
        return TS_EXIT_OK;
    }
    if (lake_options_from_config(&o, cfg, &err) != TS_OK) {
        cli_errorf("%s", err.msg);
        return TS_EXIT_CONFIG;
    }
    if (lake_open(&lk, &o, &err) != TS_OK) {
        cli_errorf("%s", err.msg);
        return err.code == TS_ERR_INVALID ? TS_EXIT_CONFIG : TS_EXIT_FAIL;
    }

    if (strcmp(sub, "test") == 0 && argc == 2) {
        rc = lake_test(lk, &err);
        if (rc == TS_OK)
            printf("ok: %s\nidentity: %s\n", lake_describe(lk), lake_identity(lk));
        else /* which identity was refused is half of the answer */
            fprintf(stderr, "identity: %s\n", lake_identity(lk));
    } else if (strcmp(sub, "ls") == 0 && argc <= 3) {
        ls_ctx c = {0, 0};
        rc = lake_list(lk, argc == 3 ? argv[2] : "", print_entry, &c, &err);
        if (rc == TS_OK && fflush(stdout) != 0)
            rc = ts_err_set(&err, TS_ERR_IO, "could not write to stdout");
        if (rc == TS_OK)
            fprintf(stderr, "%" PRIu64 " objects, %" PRIu64 " bytes\n", c.n, c.bytes);
    } else if (strcmp(sub, "put") == 0 && argc == 4) {
        lake_info info;
        char hex[33];
        rc = lake_put_file(lk, argv[2], argv[3], &info, &err);
        if (rc == TS_OK) {
            char *url = lake_url(lk, argv[3]);
            lake_md5_hex(info.md5, hex);
            printf("%s  %" PRIu64 " bytes  md5 %s\n", url ? url : argv[3], info.size, hex);
            ts_free(url);
        }
    } else if (strcmp(sub, "get") == 0 && (argc == 3 || (argc == 5 && strcmp(argv[3], "-o") == 0))) {
        const char *path = argv[2], *out = argc == 5 ? argv[4] : NULL;
        if (!out) {
            out = strrchr(path, '/');
            out = out ? out + 1 : path;
        }
        if (strcmp(out, "-") == 0) {
            rc = cat_object(lk, path, &err);
        } else {
            lake_info info;
            char hex[33];
            rc = lake_get_file(lk, path, out, &info, &err);
            if (rc == TS_OK) {
                lake_md5_hex(info.md5, hex);
                fprintf(stderr, "%s: %" PRIu64 " bytes, md5 %s\n", out, info.size, hex);
            }
        }
    } else if (strcmp(sub, "rm") == 0 && argc == 3) {
        rc = lake_delete(lk, argv[2], &err);
    } else {
        lake_free(lk);
        return lake_usage();
    }
    if (rc == TS_OK)
        exit_code = TS_EXIT_OK;
    else
        cli_errorf("%s", err.msg);
    lake_free(lk);
    return exit_code;
}
