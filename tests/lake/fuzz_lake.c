/* fuzz_lake.c: libFuzzer target for the lake's parsers of outside input: List Blobs
 * pages (what a storage endpoint sends) and connection strings (what a config holds).
 * The first byte picks the parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/alloc.h"
#include "lake/azure_int.h"

static int count(void *ud, const lake_info *info)
{
    (void)info;
    ++*(int *)ud;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_err err;
    if (size < 1)
        return 0;
    ts_err_clear(&err);
    if (data[0] & 1) {
        char *next = NULL;
        int n = 0;
        (void)az_parse_list((const char *)data + 1, size - 1, count, &n, &next, &err);
        ts_free(next);
    } else {
        char *s = ts_strndup((const char *)data + 1, size - 1);
        az_connstr cs;
        if (s && az_connstr_parse(s, &cs, &err) == TS_OK) {
            char *ep = az_connstr_endpoint(&cs, &err);
            ts_free(ep);
            az_connstr_free(&cs);
        }
        ts_free(s);
    }
    return 0;
}
