/*
 * tsarchive_fdw.c: the foreign data wrapper's entry points: its handler (the
 * callbacks in fdw_plan.c, fdw_scan.c, fdw_import.c) and its settings.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "fdw.h"

PG_MODULE_MAGIC;

int			fdw_max_memory_mb = 1024;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("tsarchive_fdw.max_memory",
							"The most a scan of an archived table holds in memory (its reader: one row group's columns).",
							"A file whose row group needs more fails with an error naming the buffer.",
							&fdw_max_memory_mb, 1024, 16, 1024 * 1024, PGC_USERSET,
							GUC_UNIT_MB, NULL, NULL, NULL);
	MarkGUCPrefixReserved("tsarchive_fdw");
}

PG_FUNCTION_INFO_V1(tsarchive_fdw_handler);

Datum
tsarchive_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *r = makeNode(FdwRoutine);

	r->GetForeignRelSize = fdwGetForeignRelSize;
	r->GetForeignPaths = fdwGetForeignPaths;
	r->GetForeignPlan = fdwGetForeignPlan;
	r->BeginForeignScan = fdwBeginForeignScan;
	r->IterateForeignScan = fdwIterateForeignScan;
	r->ReScanForeignScan = fdwReScanForeignScan;
	r->EndForeignScan = fdwEndForeignScan;
	r->ExplainForeignScan = fdwExplainForeignScan;
	r->ImportForeignSchema = fdwImportForeignSchema;
	PG_RETURN_POINTER(r);
}
