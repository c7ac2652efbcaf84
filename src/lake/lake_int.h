/* lake_int.h: what lake.c (dispatch) and the stores (local.c, azure.c) share: the
 * store operations table and small helpers. Not for use outside src/lake/. */
#ifndef TS_LAKE_INT_H
#define TS_LAKE_INT_H

#include <openssl/evp.h>

#include "lake.h"

/* A store. Paths handed to it already carry the lake's prefix ("full" paths). */
typedef struct lake_store_ops {
    const char *name;
    void (*free)(void *st);
    int (*writer_open)(void *st, const char *full, void **w, ts_err *err);
    int (*writer_write)(void *w, const void *p, size_t n, ts_err *err);
    /* size and md5 are what went through writer_write; frees w */
    int (*writer_commit)(void *w, uint64_t size, const uint8_t md5[16], lake_info *info,
                         ts_err *err);
    void (*writer_abort)(void *w);
    int (*stat)(void *st, const char *full, lake_info *info, ts_err *err);
    int (*read)(void *st, const char *full, uint64_t off, size_t len, void *buf, size_t *got,
                ts_err *err);
    /* names passed to fn are full paths; lake.c strips the prefix */
    int (*list)(void *st, const char *full_prefix, lake_list_fn fn, void *ud, ts_err *err);
    int (*del)(void *st, const char *full, ts_err *err);
    int (*test)(void *st, ts_err *err);
    char *(*url)(void *st, const char *full);
} lake_store_ops;

extern const lake_store_ops lake_local_ops;
extern const lake_store_ops lake_azure_ops;

int lake_local_open(void **st, const lake_options *o, char *describe, size_t dlen,
                    ts_err *err) TS_MUSTCHECK;
int lake_azure_open(void **st, const lake_options *o, char *describe, size_t dlen,
                    ts_err *err) TS_MUSTCHECK;

/* base64 (standard alphabet, padded) of n bytes into out (size >= 4*((n+2)/3)+1). */
void lake_b64_encode(const uint8_t *p, size_t n, char *out);
/* Decodes base64; returns the length or -1 when malformed or longer than cap. */
long lake_b64_decode(const char *s, size_t slen, uint8_t *out, size_t cap);
/* MD5 of a buffer. */
void lake_md5(const void *p, size_t n, uint8_t out[16]);

#endif
