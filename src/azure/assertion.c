/* assertion.c: a service principal's certificate credential: the PEM file with the
 * certificate and its key (OpenSSL), the x5t thumbprint, and the signed JWT client
 * assertion Microsoft Entra ID takes in place of a client secret (RS256). */
#include "identity_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "common/alloc.h"
#include "common/log.h"

#define ASSERTION_LIFE_S 600 /* Entra ID: "a short time, 5-10 minutes after nbf" */

void az_b64url(const uint8_t *p, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (int i = 0; i < len; i++)
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
}

/* OpenSSL's first queued reason, for messages; clears the queue. */
static const char *ossl_reason(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(buf, cap, "%s", r ? r : "no reason given");
    ERR_clear_error();
    return buf;
}

int az_cert_load(const char *path, const char *what, az_cert *c, ts_err *err)
{
    FILE *f = NULL;
    X509 *x = NULL;
    unsigned char *der = NULL;
    uint8_t sha[SHA_DIGEST_LENGTH];
    char why[160];
    int len, rc = TS_OK;

    memset(c, 0, sizeof *c);
    ERR_clear_error();
    if (!(f = fopen(path, "r"))) {
        rc = ts_err_set(err, TS_ERR_INVALID, "%s \"%s\": could not open it: %s", what, path,
                        strerror(errno));
        goto out;
    }
    /* the certificate and the key may come in either order */
    if (!(x = PEM_read_X509(f, NULL, NULL, NULL))) {
        rc = ts_err_set(err, TS_ERR_INVALID, "%s \"%s\": no PEM certificate in it (%s)", what, path,
                        ossl_reason(why, sizeof why));
        goto out;
    }
    rewind(f);
    /* a NULL passphrase callback with a "" passphrase: an encrypted key fails here
     * instead of prompting on the terminal */
    if (!(c->key = PEM_read_PrivateKey(f, NULL, NULL, (void *)""))) {
        rc = ts_err_set(err, TS_ERR_INVALID,
                        "%s \"%s\": no usable private key in it (PEM, not encrypted): %s", what,
                        path, ossl_reason(why, sizeof why));
        goto out;
    }
    if (EVP_PKEY_get_base_id(c->key) != EVP_PKEY_RSA) {
        rc = ts_err_set(err, TS_ERR_INVALID,
                        "%s \"%s\": the private key is not RSA (Microsoft Entra ID takes RS256 "
                        "assertions)",
                        what, path);
        goto out;
    }
    if (X509_check_private_key(x, c->key) != 1) {
        rc =
            ts_err_set(err, TS_ERR_INVALID,
                       "%s \"%s\": the private key does not belong to the certificate", what, path);
        goto out;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) /* Entra ID has the last word */
        ts_warn("%s \"%s\": the certificate has expired; Microsoft Entra ID will refuse it", what,
                path);
    if ((len = i2d_X509(x, &der)) <= 0) {
        rc = ts_err_set(err, TS_ERR_INVALID, "%s \"%s\": could not encode the certificate: %s",
                        what, path, ossl_reason(why, sizeof why));
        goto out;
    }
    SHA1(der, (size_t)len, sha);
    az_b64url(sha, sizeof sha, c->x5t);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(c->sha1_hex + 2 * i, 3, "%02X", sha[i]);
out:
    OPENSSL_free(der);
    X509_free(x);
    if (f)
        fclose(f); /* read only: nothing to lose */
    if (rc)
        az_cert_free(c);
    return rc;
}

void az_cert_free(az_cert *c)
{
    if (!c)
        return;
    EVP_PKEY_free(c->key);
    memset(c, 0, sizeof *c);
}

/* base64url of a JSON object's compact text, appended to b. */
static int put_json(ts_buf *b, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t n = s ? strlen(s) : 0;
    char *enc = s ? ts_malloc(4 * ((n + 2) / 3) + 1) : NULL;
    int rc = TS_ERR_NOMEM;
    if (enc) {
        az_b64url((const uint8_t *)s, n, enc);
        rc = ts_buf_append(b, enc, strlen(enc));
    }
    ts_free(enc);
    free(s); /* jansson's */
    return rc;
}

int az_jwt_assertion(const az_cert *c, const char *client_id, const char *aud, long now, char **out,
                     ts_err *err)
{
    json_t *hdr = NULL, *claims = NULL;
    EVP_MD_CTX *md = NULL;
    uint8_t rnd[16], *sig = NULL;
    char jti[37], why[160], *enc = NULL;
    size_t siglen = 0;
    ts_buf b;
    int rc = TS_OK;

    *out = NULL;
    ts_buf_init(&b, 64u << 10);
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        rc = ts_err_set(err, TS_ERR_INTERNAL, "no random bytes for the assertion's jti: %s",
                        ossl_reason(why, sizeof why));
        goto out;
    }
    rnd[6] = (uint8_t)((rnd[6] & 0x0f) | 0x40); /* UUID version 4 */
    rnd[8] = (uint8_t)((rnd[8] & 0x3f) | 0x80);
    snprintf(jti, sizeof jti,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
             rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], rnd[8], rnd[9], rnd[10], rnd[11],
             rnd[12], rnd[13], rnd[14], rnd[15]);
    hdr = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "x5t", c->x5t);
    claims = json_pack("{s:s, s:I, s:s, s:s, s:I, s:s, s:I}", "aud", aud, "exp",
                       (json_int_t)(now + ASSERTION_LIFE_S), "iss", client_id, "jti", jti, "nbf",
                       (json_int_t)now, "sub", client_id, "iat", (json_int_t)now);
    if (!hdr || !claims || put_json(&b, hdr) || ts_buf_putc(&b, '.') || put_json(&b, claims))
        goto nomem;
    if (!(md = EVP_MD_CTX_new()))
        goto nomem;
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, c->key) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, b.data, b.len) != 1) {
        rc = ts_err_set(err, TS_ERR_INTERNAL, "could not sign the client assertion: %s",
                        ossl_reason(why, sizeof why));
        goto out;
    }
    if (!(sig = ts_malloc(siglen)) || !(enc = ts_malloc(4 * ((siglen + 2) / 3) + 1)))
        goto nomem;
    if (EVP_DigestSign(md, sig, &siglen, b.data, b.len) != 1) {
        rc = ts_err_set(err, TS_ERR_INTERNAL, "could not sign the client assertion: %s",
                        ossl_reason(why, sizeof why));
        goto out;
    }
    az_b64url(sig, siglen, enc);
    if (ts_buf_putc(&b, '.') || ts_buf_append(&b, enc, strlen(enc)))
        goto nomem;
    if (!(*out = ts_strdup(ts_buf_cstr(&b))))
        goto nomem;
    goto out;
nomem:
    rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
out:
    EVP_MD_CTX_free(md);
    json_decref(hdr);
    json_decref(claims);
    ts_free(sig);
    ts_free(enc);
    if (b.data)
        memset(b.data, 0, b.len);
    ts_buf_free(&b);
    return rc;
}
