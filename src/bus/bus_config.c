/* bus_config.c: bus_options from tsarchive's config. */
#include "bus_config.h"

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
}
