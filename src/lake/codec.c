/* codec.c: base64 and MD5 through OpenSSL, and the hex form of an MD5. */
#include "codec.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/alloc.h"
#include "lake.h"

void lake_md5(const void *p, size_t n, uint8_t out[16])
{
    unsigned int len = 16;
    EVP_Digest(p, n, out, &len, EVP_md5(), NULL);
}

void lake_md5_hex(const uint8_t md5[16], char out[33])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[md5[i] >> 4];
        out[2 * i + 1] = hex[md5[i] & 15];
    }
    out[32] = '\0';
}

void lake_b64_encode(const uint8_t *p, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

long lake_b64_decode(const char *s, size_t slen, uint8_t *out, size_t cap)
{
    uint8_t *tmp;
    long n;
    size_t pad = 0;
    if (slen == 0)
        return 0;
    if (slen % 4 || slen > (size_t)INT_MAX)
        return -1;
    /* EVP_DecodeBlock skips white space and takes "=" anywhere ("Zg==Zg=="): only the
     * alphabet, and padding only at the end. */
    while (pad < 2 && s[slen - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < slen - pad; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '+' && c != '/')
            return -1;
    }
    if (!(tmp = ts_malloc(slen / 4 * 3)))
        return -1;
    n = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)slen);
    if (n >= 0)
        n -= (long)pad; /* EVP_DecodeBlock counts the padding as zero bytes */
    if (n < 0 || (size_t)n > cap) {
        ts_free(tmp);
        return -1;
    }
    memcpy(out, tmp, (size_t)n);
    ts_free(tmp);
    return n;
}
