/* fuzz_thrift.c: libFuzzer target over the Thrift compact decoder: the first byte picks
 * FileMetaData, PageHeader or a generic struct skip over the rest of the input. */
#include <stddef.h>
#include <stdint.h>

#include "parquet/thrift_dec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_err err;
    if (size < 1)
        return 0;
    ts_err_clear(&err);
    switch (data[0] % 3) {
    case 0: {
        pq_arena *a = pq_arena_new(size * 32 + (1 << 20));
        pq_file_meta m;
        if (a)
            (void)!pq_tdec_file_metadata(data + 1, size - 1, 0, a, &m, &err);
        pq_arena_free(a);
        break;
    }
    case 1: {
        pq_page_header h;
        (void)!pq_tdec_page_header(data + 1, size - 1, 0, &h, &err);
        break;
    }
    default: {
        pq_tdec d;
        pq_tdec_init(&d, data + 1, size - 1, 0, "fuzz", &err);
        while (d.p < d.end && pq_tdec_skip(&d, PQ_CT_STRUCT) == 0)
            ;
        break;
    }
    }
    return 0;
}
