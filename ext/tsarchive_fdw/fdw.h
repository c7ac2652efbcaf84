/* fdw.h: the server side of tsarchive_fdw, shared by its files: options and the lake
 * cache (fdw_options.c), planning (fdw_plan.c), the scan and EXPLAIN (fdw_scan.c),
 * IMPORT FOREIGN SCHEMA (fdw_import.c). The archive itself is reached only through
 * archive.h. */
#ifndef TSARCHIVE_FDW_H
#define TSARCHIVE_FDW_H

#include "postgres.h"

#include "foreign/fdwapi.h"
#include "nodes/pathnodes.h"

#include "archive.h"

/* tsarchive_fdw.max_memory (MB): what one scan's reader holds at most. */
extern int fdw_max_memory_mb;

/* ---- options (fdw_options.c) ---- */

/* A foreign table's options. */
typedef struct FdwTableOptions
{
	char	   *root;			/* the table's folder in the lake */
	char	   *source;			/* "schema.table" archived, or NULL */
	bool		dropped_only;	/* chunks 'dropped': only rows whose chunk left */
} FdwTableOptions;

extern void fdw_table_options(Oid relid, FdwTableOptions *opt);
/* The file column a foreign table's column reads (its column_name option, or its
 * name). palloc'd. */
extern char *fdw_column_file_name(Oid relid, AttrNumber attnum, const char *attname);
/* A server option, or NULL. */
extern const char *fdw_server_option(Oid serverid, const char *name);

/* ---- the lake and its tables, cached per backend (fdw_options.c) ---- */

typedef struct FdwLake FdwLake;

/* The lake of a server as userid sees it (the user mapping's secrets), opened once per
 * backend and shared; the reference is held until fdw_lake_release. Errors are
 * ereport'ed. */
extern FdwLake *fdw_lake_acquire(Oid serverid, Oid userid);
extern void fdw_lake_release(FdwLake *l);
extern tsa_lake *fdw_lake_handle(FdwLake *l);
/* The Delta table at root, cached with the lake; refresh: brought to the newest
 * version first. Valid while the reference is held, until the next fdw_lake_table
 * call for the same root. */
extern tsa_table *fdw_lake_table(FdwLake *l, const char *root, bool refresh);

/* Raises err as an ERROR (after answering a pending cancel or timeout), what saying
 * what was being done. */
extern void fdw_raise(const tsa_err *err, const char *what) pg_attribute_noreturn();
/* For archive.h: whether the query is being cancelled or the backend told to die. */
extern int	fdw_interrupted(void *ctx);

/* ---- planning (fdw_plan.c) ---- */

extern void fdwGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid);
extern void fdwGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid);
extern ForeignScan *fdwGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
									  Oid foreigntableid, ForeignPath *best_path,
									  List *tlist, List *scan_clauses, Plan *outer_plan);

/*
 * A condition the scan can skip files and row groups by: column <strategy> arg (a
 * btree strategy of the column type's default opfamily), or column IS NULL
 * (strategy 0), or column = ANY(array) (strategy FDW_STRATEGY_IN). fdw_private keeps
 * each as a list of integers (FDW_COND_*), fdw_exprs its arg.
 */
#define FDW_STRATEGY_ISNULL 0
#define FDW_STRATEGY_IN 6
enum
{
	FDW_COND_ATTNUM,
	FDW_COND_STRATEGY,
	FDW_COND_OPFAMILY,
	FDW_COND_LEFTTYPE,
	FDW_COND_RIGHTTYPE,
	FDW_COND_COLLATION,
	FDW_COND_NFIELDS
};

/* fdw_private of the plan: the attnums read, and the conditions. */
enum
{
	FDW_PRIVATE_ATTNUMS,
	FDW_PRIVATE_CONDS
};

/* Whether column values of this type can be compared with bounds from statistics. */
extern bool fdw_type_prunable(Oid typid);

/* ---- the scan (fdw_scan.c) ---- */

extern void fdwBeginForeignScan(ForeignScanState *node, int eflags);
extern TupleTableSlot *fdwIterateForeignScan(ForeignScanState *node);
extern void fdwReScanForeignScan(ForeignScanState *node);
extern void fdwEndForeignScan(ForeignScanState *node);
extern void fdwExplainForeignScan(ForeignScanState *node, struct ExplainState *es);

/* ---- IMPORT FOREIGN SCHEMA (fdw_import.c) ---- */

extern List *fdwImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid);

#endif
