/* store.h: the store interface: what a place for objects (local.c, azure.c)
 * implements and lake.c dispatches to. Not for use outside src/lake/.
 *
 * lake/ is layered, each layer using only those below it:
 *   lake_config.c           ts_config -> lake_options
 *   lake.c                  the interface (lake.h): paths, prefix, MD5 while writing,
 *                           layout; picks a store through this header
 *   local.c, azure.c        the stores; azure.c with azure_list.c (List Blobs XML),
 *                           connstr.c (connection strings and endpoints), declared in
 *                           azure_int.h; Entra ID tokens come from src/azure/
 *   codec.c                 base64 and MD5 (codec.h)
 * plus common/ (durable files, time, buffers, errors). No store includes lake.c's
 * code, and codec.c knows no store. */
#ifndef TS_LAKE_STORE_H
#define TS_LAKE_STORE_H

#include "lake.h"

/* A store's operations. Paths handed to it already carry the lake's prefix ("full"
 * paths); lake.c has checked them (lake_path_check). */
typedef struct lake_store_ops {
    const char *name;
    void (*free)(void *st);
    int (*writer_open)(void *st, const char *full, void **w, ts_err *err);
    int (*writer_write)(void *w, const void *p, size_t n, ts_err *err);
    /* size and md5 are what went through writer_write; write-once (TS_ERR_EXISTS when
     * the name is taken); frees w */
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
    /* removes what dead writers left under full_prefix (NULL: nothing to sweep: an
     * Azure upload never committed is invisible and the service discards its blocks) */
    int (*sweep)(void *st, const char *full_prefix, int min_age_s, long long *removed, ts_err *err);
    /* who the store acts as (lake_identity); NULL: the user running tsarchive */
    const char *(*identity)(void *st);
} lake_store_ops;

/* The stores: their operations and constructors. A constructor fills describe (for
 * lake_describe) and *st, which the operations' free releases. */
extern const lake_store_ops lake_local_ops;
extern const lake_store_ops lake_azure_ops;

int lake_local_open(void **st, const lake_options *o, char *describe, size_t dlen,
                    ts_err *err) TS_MUSTCHECK;
int lake_azure_open(void **st, const lake_options *o, char *describe, size_t dlen,
                    ts_err *err) TS_MUSTCHECK;

#endif
