/* fuzz_az_answer.c: libFuzzer over a token endpoint's answer (az_id_parse_answer), which
 * comes from the network: never a crash, and on success a token without blanks, shorter
 * than AZ_ID_TOKEN_MAX, with a positive lifetime. Seeds in tests/azure/corpus. */
#include <stdlib.h>
#include <string.h>

#include "azure/identity_int.h"
#include "common/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *tok = NULL;
    long in = 0, refresh = 0;
    ts_err e;
    ts_err_clear(&e);
    if (az_id_parse_answer((const char *)data, size, 1700000000, &tok, &in, &refresh, &e) ==
        TS_OK) {
        size_t n = strlen(tok);
        if (!n || n >= AZ_ID_TOKEN_MAX || strcspn(tok, " \t\r\n") != n || in <= 0 || refresh < 0)
            abort();
    } else if (tok || !e.msg[0]) {
        abort();
    }
    ts_free(tok);
    return 0;
}
