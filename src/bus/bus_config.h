/* bus_config.h: bus_options from tsarchive's config (the only place bus/ sees
 * ts_config). */
#ifndef TS_BUS_CONFIG_H
#define TS_BUS_CONFIG_H

#include "bus.h"
#include "common/config.h"

/* Fills o from cfg's redis section (url, dead letter and its cap, TLS files). With
 * redis.auth: entra, o->credentials AUTHs as redis.entra_user with a Microsoft Entra ID
 * token for https://redis.azure.com/.default from the identity of the lake's settings
 * (lake.auth, tenant_id, client_id, client_secret, client_certificate_file, ...; see
 * azure/identity.h), and the URL's credentials are not used. Strings are borrowed from
 * cfg, which must outlive every bus made from o (the callback reads cfg). */
void bus_options_from_config(bus_options *o, const ts_config *cfg, const char *client_name);

#endif
