/* testutil.h: what the lake tests share: assertions that print both values, the
 * Azure test environment (TS_TEST_AZURE_*), account SAS generation, a private Azurite,
 * deterministic data. Header-only: each test is one program. */
#ifndef TS_LAKE_TESTUTIL_H
#define TS_LAKE_TESTUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/hmac.h>

#include "lake/lake.h"
#include "lake/codec.h"

#include "../check.h"

/* The Azurite that scripts/services started, from the environment. */
typedef struct az_env {
    const char *endpoint; /* http://127.0.0.1:20000/devstoreaccount1 */
    const char *account;
    const char *key;
} az_env;

static inline int az_env_get(az_env *e)
{
    e->endpoint = getenv("TS_TEST_AZURE_BLOB_ENDPOINT");
    e->account = getenv("TS_TEST_AZURE_ACCOUNT");
    e->key = getenv("TS_TEST_AZURE_KEY");
    return e->endpoint && *e->endpoint && e->account && *e->account && e->key && *e->key ? 0 : -1;
}

static inline int az_env_or_skip(az_env *e, const char *test)
{
    if (az_env_get(e) == 0)
        return 0;
    printf("SKIP %s: TS_TEST_AZURE_BLOB_ENDPOINT, TS_TEST_AZURE_ACCOUNT and TS_TEST_AZURE_KEY are "
           "not set; run `eval \"$(scripts/services env)\"` after `scripts/services start` (or "
           "start Azurite and export them)\n",
           test);
    return -1;
}

/* "DefaultEndpointsProtocol=http;AccountName=..;AccountKey=..;BlobEndpoint=..". */
static inline void az_connstr_key(const az_env *e, const char *key, char *out, size_t cap)
{
    snprintf(out, cap, "DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;",
             e->account, key ? key : e->key, e->endpoint);
}

/* An account SAS (sv 2019-12-12: the string-to-sign without an encryption scope):
 * blob service, service/container/object, permissions racwdl, valid for an hour. */
static inline void az_account_sas(const char *account, const char *key_b64, const char *perms,
                                  char *out, size_t cap)
{
    char st[32], se[32], sts[512], sig[64], sigenc[128];
    uint8_t key[128], mac[32];
    unsigned maclen = 0;
    long kl = lake_b64_decode(key_b64, strlen(key_b64), key, sizeof key);
    time_t now = time(NULL), a = now - 300, b = now + 3600;
    struct tm tm;
    size_t o = 0;
    gmtime_r(&a, &tm);
    strftime(st, sizeof st, "%Y-%m-%dT%H:%M:%SZ", &tm);
    gmtime_r(&b, &tm);
    strftime(se, sizeof se, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(sts, sizeof sts, "%s\n%s\nb\nsco\n%s\n%s\n\nhttps,http\n2019-12-12\n", account, perms,
             st, se);
    HMAC(EVP_sha256(), key, (int)kl, (const unsigned char *)sts, strlen(sts), mac, &maclen);
    lake_b64_encode(mac, maclen, sig);
    for (const char *p = sig; *p; p++) {
        if (*p == '+' || *p == '/' || *p == '=')
            o += (size_t)snprintf(sigenc + o, sizeof sigenc - o, "%%%02X", (unsigned char)*p);
        else
            sigenc[o++] = *p;
    }
    sigenc[o] = '\0';
    snprintf(out, cap, "sv=2019-12-12&ss=b&srt=sco&sp=%s&st=%s&se=%s&spr=https,http&sig=%s", perms,
             st, se, sigenc);
}

/* Deterministic bytes (xorshift), so a writer and a checker agree without storing them. */
static inline void fill_bytes(uint8_t *p, size_t n, uint64_t seed, uint64_t offset)
{
    for (size_t i = 0; i < n;) {
        uint64_t pos = offset + i, z = seed * 0x9E3779B97F4A7C15ull + pos / 8;
        z ^= z >> 31;
        z *= 0x94D049BB133111EBull;
        z ^= z >> 29;
        z *= 0xBF58476D1CE4E5B9ull;
        z ^= z >> 32;
        for (unsigned b = (unsigned)(pos % 8); b < 8 && i < n; b++)
            p[i++] = (uint8_t)(z >> (8 * b));
    }
}

static inline int free_port(void)
{
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) != 0)
        return -1;
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* A private Azurite in dir on port; returns its PID or -1. Waits until it answers. */
static inline pid_t azurite_start(const char *azurite_bin, const char *dir, int port)
{
    char portstr[16], logf[1024], url[128];
    pid_t pid;
    snprintf(portstr, sizeof portstr, "%d", port);
    snprintf(logf, sizeof logf, "%s/azurite.log", dir);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setpgid(0, 0);
        execl(azurite_bin, azurite_bin, "--blobHost", "127.0.0.1", "--blobPort", portstr,
              "--location", dir, "--silent", "--skipApiVersionCheck", "--loose", (char *)NULL);
        _exit(127);
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%d/devstoreaccount1?comp=list", port);
    for (int i = 0; i < 1200; i++) { /* up to 120 s: slow on a loaded machine */
        CURL *c = curl_easy_init();
        long code = 0;
        int status;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 2L);
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(c);
        if (code > 0)
            return pid;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return -1;
        usleep(100000);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* Kills the Azurite started above (its process group, by PID) and reaps it. */
static inline void azurite_kill(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

#endif
