/* lake_config.c: lake_options from tsarchive's config. */
#include "lake_config.h"

#include <string.h>

int lake_options_from_config(lake_options *o, const ts_config *cfg, ts_err *err)
{
    int auth;
    lake_options_init(o);
    const char *kind = ts_config_lake_kind(cfg);
    if (strcmp(kind, "local") == 0)
        o->kind = LAKE_LOCAL;
    else if (strcmp(kind, "azure") == 0)
        o->kind = LAKE_AZURE;
    else
        return ts_err_set(err, TS_ERR_INVALID, "lake.kind \"%s\" is not one of auto, local, azure",
                          cfg->lake.kind);
    if (cfg->lake.path && *cfg->lake.path)
        o->path = cfg->lake.path;
    o->prefix = cfg->lake.prefix ? cfg->lake.prefix : "";
    o->account = cfg->lakehouse_storage_account;
    o->container = cfg->lakehouse_container;
    o->connection_string = cfg->lakehouse_connection_string;
    if (cfg->lake.block_size_mb > 0)
        o->block_size = (size_t)cfg->lake.block_size_mb << 20;
    if (cfg->lake.upload_concurrency > 0)
        o->upload_concurrency = cfg->lake.upload_concurrency;
    o->create_container = cfg->lake.create_container;
    auth = lake_auth_parse(cfg->lake.auth);
    if (auth < 0)
        return ts_err_set(err, TS_ERR_INVALID,
                          "lake.auth \"%s\" is not one of auto, shared_key, sas, "
                          "service_principal, managed_identity, workload_identity",
                          cfg->lake.auth);
    o->auth = (lake_auth)auth;
    o->tenant_id = cfg->lake.tenant_id;
    o->client_id = cfg->lake.client_id;
    o->client_secret = cfg->lake.client_secret;
    o->client_certificate_file = cfg->lake.client_certificate_file;
    o->authority_host = cfg->lake.authority_host;
    o->imds_endpoint = cfg->lake.imds_endpoint;
    o->federated_token_file = cfg->lake.federated_token_file;
    o->ca_file = *cfg->lake.ca_file ? cfg->lake.ca_file : NULL;
    if (cfg->lake.max_retries >= 0)
        o->max_retries = cfg->lake.max_retries;
    return TS_OK;
}
