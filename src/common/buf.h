/* buf.h: a growable byte buffer with a hard cap (curl dynbuf with toobig), so a huge
 * input cannot run a worker out of memory. */
#ifndef TS_BUF_H
#define TS_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct ts_buf {
    uint8_t *data;
    size_t len;
    size_t cap;   /* allocated */
    size_t limit; /* hard cap on len; 0 = SIZE_MAX */
} ts_buf;

/* Sets up an empty buffer that may hold at most limit bytes (0 = no cap). */
void ts_buf_init(ts_buf *b, size_t limit);
/* Frees the storage; the buffer is empty and usable again. */
void ts_buf_free(ts_buf *b);
/* Empties the buffer, keeping its storage. */
static inline void ts_buf_reset(ts_buf *b) { b->len = 0; }
/* Makes room for n more bytes: TS_OK, TS_ERR_NOMEM or TS_ERR_TOOBIG. */
int ts_buf_reserve(ts_buf *b, size_t n) TS_MUSTCHECK;
int ts_buf_append(ts_buf *b, const void *p, size_t n) TS_MUSTCHECK;
int ts_buf_putc(ts_buf *b, uint8_t c) TS_MUSTCHECK;
/* printf into the buffer; the result stays NUL-terminated (NUL not counted in len). */
int ts_buf_printf(ts_buf *b, const char *fmt, ...) TS_MUSTCHECK TS_PRINTF(2, 3);
/* NUL-terminates without counting it; returns the data as a string ("" when empty). */
const char *ts_buf_cstr(ts_buf *b);

#endif
