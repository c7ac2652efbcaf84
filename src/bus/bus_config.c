/* bus_config.c: bus_options from tsarchive's config, and with redis.auth: entra the
 * credentials callback that AUTHs with a Microsoft Entra ID token (src/azure/). */
#include "bus_config.h"

#include <stdio.h>
#include <string.h>

#include "azure/identity.h"

/* bus_options.credentials for redis.auth: entra: user redis.entra_user, password an
 * access token for Azure Cache for Redis from the identity the lake's settings name.
 * One token source per process and identity (az_id_shared), so every connection of
 * every thread shares its cache; the bus AUTHs again before the token expires. */
static int entra_credentials(void *ud, char *user, size_t ulen, char *pass, size_t plen,
                             int64_t *expires_at_us, ts_err *err)
{
    const ts_config *cfg = ud;
    az_id_options io;
    az_id *id = NULL;
    int rc;

    az_id_options_from_config(&io, cfg, AZ_ID_SCOPE_REDIS);
    if ((rc = az_id_shared(&io, &id, err)) != TS_OK)
        return rc;
    if ((size_t)snprintf(user, ulen, "%s", cfg->redis.entra_user) >= ulen)
        return ts_err_set(err, TS_ERR_INVALID, "redis.entra_user is longer than %zu bytes",
                          ulen - 1);
    return az_id_token(id, pass, plen, expires_at_us, err);
}

void bus_options_from_config(bus_options *o, const ts_config *cfg, const char *client_name)
{
    bus_options_init(o);
    o->url = cfg->redis.url;
    o->deadletter_stream = cfg->redis.deadletter_stream;
    o->deadletter_maxlen = cfg->redis.deadletter_maxlen;
    o->max_deliveries = cfg->redis.max_deliveries;
    o->client_name = client_name;
    o->tls_ca_file = *cfg->redis.tls_ca_file ? cfg->redis.tls_ca_file : NULL;
    o->tls_cert_file = *cfg->redis.tls_cert_file ? cfg->redis.tls_cert_file : NULL;
    o->tls_key_file = *cfg->redis.tls_key_file ? cfg->redis.tls_key_file : NULL;
    o->tls_insecure = cfg->redis.tls_insecure;
    if (cfg->redis.auth && strcmp(cfg->redis.auth, "entra") == 0) {
        o->credentials = entra_credentials;
        o->credentials_ud = (void *)cfg;
    }
}
