/* codec.h: base64 and MD5, the encodings and checksums every layer of lake/ uses
 * (lake.c while writing, the stores for keys, block ids and Content-MD5). Depends
 * on OpenSSL only. Not for use outside src/lake/ (lake.h has lake_md5_hex). */
#ifndef TS_LAKE_CODEC_H
#define TS_LAKE_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* base64 (standard alphabet, padded) of n bytes into out (size >= 4*((n+2)/3)+1). */
void lake_b64_encode(const uint8_t *p, size_t n, char *out);
/* Decodes base64 (need not be NUL-terminated); returns the length or -1 when
 * malformed or longer than cap. */
long lake_b64_decode(const char *s, size_t slen, uint8_t *out, size_t cap);
/* MD5 of a buffer. */
void lake_md5(const void *p, size_t n, uint8_t out[16]);

#endif
