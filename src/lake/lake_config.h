/* lake_config.h: lake_options from tsarchive's config (the only place lake/ sees
 * ts_config). */
#ifndef TS_LAKE_CONFIG_H
#define TS_LAKE_CONFIG_H

#include "common/config.h"
#include "lake.h"

/* Fills o from cfg: lake.kind/path/prefix/..., lakehouse_storage_account,
 * lakehouse_container, lakehouse_connection_string. Strings are borrowed from cfg,
 * which must outlive o's use in lake_open. TS_ERR_INVALID for an unknown kind or
 * auth, naming the key. */
int lake_options_from_config(lake_options *o, const ts_config *cfg, ts_err *err) TS_MUSTCHECK;

#endif
