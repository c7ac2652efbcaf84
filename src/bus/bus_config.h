/* bus_config.h: bus_options from tsarchive's config (the only place bus/ sees
 * ts_config). */
#ifndef TS_BUS_CONFIG_H
#define TS_BUS_CONFIG_H

#include "bus.h"
#include "common/config.h"

/* Fills o from cfg's redis section (url, dead letter and its cap, TLS files).
 * Strings are borrowed from cfg, which must outlive o's use in bus_new. */
void bus_options_from_config(bus_options *o, const ts_config *cfg, const char *client_name);

#endif
