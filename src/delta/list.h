/* list.h: what `tsarchive lake tables` and `tsarchive lake files TABLE` show: the Delta
 * tables under a prefix, and one table's versions, live files, rows, sizes and the
 * bounds of a chosen column. Structs only; printing is the CLI's. */
#ifndef TS_DELTA_LIST_H
#define TS_DELTA_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "delta/delta.h"

typedef struct delta_table_entry {
    char *root;           /* the table's folder (a lake path; "" for the store's root) */
    int64_t last_version; /* the highest NNN.json in _delta_log/, -1 when none */
    int64_t commits;      /* NNN.json files seen */
    uint64_t log_bytes;   /* their total size */
    bool has_checkpoint;  /* a checkpoint or _last_checkpoint by another writer:
                             delta_table_refresh refuses the table */
} delta_table_entry;

typedef struct delta_table_list {
    size_t n;
    delta_table_entry *tables; /* sorted by root */
} delta_table_list;

/* The Delta tables (folders holding a _delta_log/) whose path starts with prefix ("" =
 * the whole store), from one listing. *out is the caller's (delta_table_list_free). */
int delta_table_list_new(lake *lk, const char *prefix, delta_table_list **out,
                         ts_err *err) TS_MUSTCHECK;
/* NULL is a no-op. */
void delta_table_list_free(delta_table_list *l);

typedef struct delta_file_report {
    const delta_file *file; /* the live file (borrowed from the table) */
    int64_t rows;           /* stats.numRecords, -1 when unknown */
    char *min, *max;        /* the chosen column's bounds from the stats, as text (a string
                               as is, a number as JSON writes it), NULL when absent */
    int64_t null_count;     /* the chosen column's, -1 when unknown */
} delta_file_report;

typedef struct delta_files_report {
    int64_t version;          /* the table's version (versions 0..version exist) */
    size_t nfiles;            /* live files */
    size_t nremoved;          /* tombstones */
    int64_t rows;             /* sum of the known numRecords */
    bool rows_exact;          /* every live file has numRecords */
    uint64_t bytes;           /* sum of the live files' sizes */
    delta_file_report *files; /* nfiles entries, by path */
} delta_files_report;

/* Summarizes the loaded table t; column (NULL = none) picks the column whose bounds
 * each file reports (TS_ERR_NOTFOUND when the schema has no such column). The report
 * borrows from t: free it before t changes. *out is the caller's. */
int delta_files_report_new(const delta_table *t, const char *column, delta_files_report **out,
                           ts_err *err) TS_MUSTCHECK;
/* NULL is a no-op. */
void delta_files_report_free(delta_files_report *r);

#endif
