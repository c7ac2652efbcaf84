/* numeric.c: PostgreSQL's binary numeric (base-10000 digits, weight, sign, dscale)
 * to the unscaled 128-bit integer of a Parquet DECIMAL, and back. */
#include <pthread.h>
#include <string.h>

#include "copybin.h"
#include "types.h"

int pg_decimal_flba_len(int precision)
{
    /* smallest n with 2^(8n-1) > 10^precision */
    static const int table[39] = {1,  1,  1,  2,  2,  3,  3,  4,  4,  4,  5,  5,  6,
                                  6,  6,  7,  7,  8,  8,  9,  9,  9,  10, 10, 11, 11,
                                  11, 12, 12, 13, 13, 13, 14, 14, 15, 15, 16, 16, 16};
    return precision >= 0 && precision <= 38 ? table[precision] : 16;
}

static __int128 pow10s[39];
static pthread_once_t pow10s_once = PTHREAD_ONCE_INIT;

static void pow10s_fill(void)
{
    pow10s[0] = 1;
    for (int i = 1; i < 39; i++)
        pow10s[i] = pow10s[i - 1] * 10;
}

/* 10^0 .. 10^38; filled once, whichever thread comes first */
static const __int128 *pow10_table(void)
{
    pthread_once(&pow10s_once, pow10s_fill);
    return pow10s;
}

int pg_numeric_to_i128(const uint8_t *p, int32_t len, int scale, __int128 *out, ts_err *err)
{
    const __int128 *p10 = pow10_table();
    const __int128 limit = p10[38];
    int ndigits, weight, sign;
    __int128 acc = 0;
    if (len < 8)
        return ts_err_set(err, TS_ERR_FORMAT, "numeric value of %d bytes is too short", len);
    ndigits = (int16_t)pg_be16(p);
    weight = (int16_t)pg_be16(p + 2);
    sign = pg_be16(p + 4);
    if (ndigits < 0 || len != 8 + 2 * ndigits)
        return ts_err_set(err, TS_ERR_FORMAT, "numeric value has %d digits in %d bytes", ndigits,
                          len);
    if (sign == 0xC000)
        return 1;
    if (sign == 0xD000 || sign == 0xF000)
        return ts_err_set(err, TS_ERR_UNSUPPORTED,
                          "numeric infinity does not fit a decimal column");
    if (sign != 0 && sign != 0x4000)
        return ts_err_set(err, TS_ERR_FORMAT, "numeric value has sign 0x%04x", sign);
    for (int i = 0; i < ndigits; i++) {
        int d = pg_be16(p + 8 + 2 * i);
        int e = 4 * (weight - i) + scale; /* power of ten this digit group lands on */
        __int128 term;
        if (d > 9999)
            return ts_err_set(err, TS_ERR_FORMAT, "numeric digit %d out of range", d);
        if (d == 0)
            continue;
        if (e >= 0) {
            /* d * 10^e passes 10^38 only when e > 34 and d > 10^(38 - e): no 128-bit
             * division per digit */
            if (e > 38 || (e > 34 && d > (int)p10[38 - e]))
                return ts_err_set(err, TS_ERR_UNSUPPORTED,
                                  "numeric value does not fit DECIMAL(38,%d)", scale);
            term = d * p10[e];
        } else {
            if (e < -4 || d % (int)p10[-e] != 0)
                return ts_err_set(err, TS_ERR_UNSUPPORTED,
                                  "numeric value has more than %d decimal places", scale);
            term = d / (int)p10[-e];
        }
        acc += term;
        if (acc >= limit)
            return ts_err_set(err, TS_ERR_UNSUPPORTED, "numeric value does not fit DECIMAL(38,%d)",
                              scale);
    }
    *out = sign == 0x4000 ? -acc : acc;
    return 0;
}

int pg_i128_to_numeric(__int128 v, int scale, uint8_t *out, size_t cap, size_t *outlen)
{
    /* digits of |v| as text, then base-10000 groups aligned on the decimal point */
    char dig[96];
    int n = 0, ip, lead, ngroups = 0, weight, first = -1, last = -1;
    unsigned __int128 u = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;
    uint16_t groups[24];
    char tmp[48];
    int t = 0;
    if (scale < 0 || scale > 38)
        return TS_ERR_INVALID;
    do {
        tmp[t++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    /* pad so there are at least scale+1 digits: an integer part of at least one digit */
    while (t < scale + 1)
        tmp[t++] = '0';
    for (int i = t - 1; i >= 0; i--)
        dig[n++] = tmp[i];
    ip = n - scale;          /* integer digits */
    lead = (4 - ip % 4) % 4; /* zeros in front of the integer part */
    int total = lead + n, trail = (4 - (total % 4)) % 4;
    char all[112];
    memset(all, '0', sizeof all);
    memcpy(all + lead, dig, (size_t)n);
    total += trail;
    for (int i = 0; i < total; i += 4) {
        groups[ngroups++] = (uint16_t)((all[i] - '0') * 1000 + (all[i + 1] - '0') * 100 +
                                       (all[i + 2] - '0') * 10 + (all[i + 3] - '0'));
    }
    weight = (lead + ip) / 4 - 1;
    for (int i = 0; i < ngroups; i++)
        if (groups[i]) {
            if (first < 0)
                first = i;
            last = i;
        }
    int nd = first < 0 ? 0 : last - first + 1;
    if (cap < 8 + 2 * (size_t)nd)
        return TS_ERR_TOOBIG;
    pg_put_be16(out, (uint16_t)nd);
    pg_put_be16(out + 2, (uint16_t)(int16_t)(first < 0 ? 0 : weight - first));
    pg_put_be16(out + 4, v < 0 ? 0x4000 : 0);
    pg_put_be16(out + 6, (uint16_t)scale);
    for (int i = 0; i < nd; i++)
        pg_put_be16(out + 8 + 2 * i, groups[first + i]);
    *outlen = 8 + 2 * (size_t)nd;
    return TS_OK;
}
