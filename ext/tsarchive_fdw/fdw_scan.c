/*
 * fdw_scan.c: the scan of an archived table. When it starts it refreshes the Delta log
 * and takes the live files (with chunks 'dropped', only those whose chunk incarnation
 * is no longer in this database); it skips files by the log's statistics and row
 * groups by the footers' statistics, reads only the columns the query uses, one row
 * group at a time, and turns each value into the PostgreSQL value that was archived:
 * the binary form restore sends (archive.h, pg/rowimage.h) through the type's receive
 * function, or the text form through its input function. EXPLAIN shows the files and
 * row groups read and skipped.
 */
#include "postgres.h"

#include <ctype.h>
#include <float.h>
#include <math.h>

#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/stratnum.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/foreign.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "fdw.h"

/* A column of the foreign table. */
typedef struct FdwAtt
{
	bool		needed;			/* the query reads it */
	char	   *name;			/* the column's name */
	char	   *fname;			/* the file column it reads */
	char	   *typname;		/* format_type, for messages */
	Oid			typid;
	int32		typmod;
	Oid			elemid;			/* arrays: the element type */
	bool		is_array;
	bool		is_enum;
	bool		have_recv,
				have_in;
	FmgrInfo	recv;
	Oid			recv_ioparam;
	FmgrInfo	in;
	Oid			in_ioparam;
	int16		typlen;
	bool		typbyval;
	MemoryContext cxt;			/* the scan's: where the functions keep their state */
} FdwAtt;

/* A condition statistics can decide (fdw_plan.c). */
typedef struct FdwCond
{
	int			att;			/* index into atts */
	int			strategy;
	Oid			collation;
	Oid			righttype;
	FmgrInfo	cmp;			/* btree order proc (column type, righttype) */
	ExprState  *arg;
	bool		exec_param;		/* arg needs a PARAM_EXEC: not known in a plain EXPLAIN */
	/* at the scan's (re)start */
	bool		ready;
	bool		never;			/* compared with NULL: no row can match */
	Datum		value;
	int			nvalues;		/* IN */
	Datum	   *values;
} FdwCond;

/* A live file of the table. */
typedef struct FdwFile
{
	char	   *path;			/* lake path */
	int64		size;
	int64		records;
	char	   *stats;
	bool		in_database;	/* chunks 'dropped': its chunk is still in the database */
} FdwFile;

typedef struct FdwScanState
{
	Relation	rel;
	char	   *relname;
	FdwTableOptions opt;
	Oid			serverid;
	Oid			userid;
	FdwLake    *lake;
	int			natts;
	FdwAtt	   *atts;
	int			nconds;
	FdwCond    *conds;
	MemoryContext scancxt,		/* the scan's life */
				argcxt,			/* condition values, per (re)start */
				filecxt,		/* per file */
				rowcxt;			/* per row */
	/* the live files, listed once per scan */
	bool		listed;
	int64		version;
	int			nfiles;
	FdwFile    *files;
	bool		args_ready;
	int			next_file;
	/* the file being read */
	tsa_file   *cur;
	const char *cur_path;
	int			cur_n;			/* planned columns */
	int		   *cur_att;		/* planned column -> att */
	bool	   *cur_text;		/* planned column comes as text (tsa_file_is_text) */
	int		   *att_col;		/* att -> planned column, -1 when the file lacks it */
	const char *cur_colname;	/* for the error context */
	StringInfoData buf;
	MemoryContextCallback cleanup;
	/* what EXPLAIN shows */
	int64		files_in_db,
				files_by_stats,
				files_read,
				rg_read,
				rg_skipped,
				rows;
} FdwScanState;

/* ---- cleanup: malloc'd readers and the lake's reference, also on abort ---- */

static void
scan_cleanup(void *arg)
{
	FdwScanState *st = (FdwScanState *) arg;

	if (st->cur)
	{
		tsa_file_free(st->cur);
		st->cur = NULL;
	}
	if (st->lake)
	{
		fdw_lake_release(st->lake);
		st->lake = NULL;
	}
}

static void
close_file(FdwScanState *st)
{
	if (st->cur)
	{
		tsa_file_free(st->cur);
		st->cur = NULL;
	}
}

/* ---- begin ---- */

static bool
has_exec_param_walker(Node *node, void *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXEC)
		return true;
	return expression_tree_walker(node, has_exec_param_walker, ctx);
}

static void
att_init(FdwScanState *st, int i)
{
	Form_pg_attribute a = TupleDescAttr(RelationGetDescr(st->rel), i);
	FdwAtt	   *att = &st->atts[i];
	Oid			base;

	att->needed = true;
	att->cxt = st->scancxt;
	att->name = pstrdup(NameStr(a->attname));
	att->fname = fdw_column_file_name(RelationGetRelid(st->rel), a->attnum, att->name);
	att->typid = a->atttypid;
	att->typmod = a->atttypmod;
	att->typname = format_type_with_typemod(a->atttypid, a->atttypmod);
	att->typlen = a->attlen;
	att->typbyval = a->attbyval;
	att->elemid = get_element_type(a->atttypid);
	att->is_array = OidIsValid(att->elemid) && a->attlen == -1;
	base = att->is_array ? att->elemid : a->atttypid;
	att->is_enum = type_is_enum(base);
}

void
fdwBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	FdwScanState *st = palloc0(sizeof(FdwScanState));
	List	   *attnums = list_nth(fsplan->fdw_private, FDW_PRIVATE_ATTNUMS);
	List	   *conds = list_nth(fsplan->fdw_private, FDW_PRIVATE_CONDS);
	ListCell   *lc;
	int			k;

	node->fdw_state = st;
	st->rel = node->ss.ss_currentRelation;
	st->relname = pstrdup(RelationGetRelationName(st->rel));
	st->scancxt = CurrentMemoryContext;
	fdw_table_options(RelationGetRelid(st->rel), &st->opt);
	st->serverid = GetForeignTable(RelationGetRelid(st->rel))->serverid;
	{
		/* the user ExecCheckRTEPerms checks: a view's owner when read through a view */
		RangeTblEntry *rte = exec_rt_fetch(fsplan->scan.scanrelid, estate);

		st->userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
	}

	st->natts = RelationGetDescr(st->rel)->natts;
	st->atts = palloc0(sizeof(FdwAtt) * Max(st->natts, 1));
	foreach(lc, attnums)
	{
		int			attnum = intVal(lfirst(lc));

		if (attnum == 0)		/* the whole row */
		{
			for (k = 0; k < st->natts; k++)
				if (!TupleDescAttr(RelationGetDescr(st->rel), k)->attisdropped)
					att_init(st, k);
			break;
		}
		if (attnum <= st->natts && !TupleDescAttr(RelationGetDescr(st->rel), attnum - 1)->attisdropped)
			att_init(st, attnum - 1);
	}

	st->nconds = list_length(conds);
	st->conds = palloc0(sizeof(FdwCond) * Max(st->nconds, 1));
	k = 0;
	foreach(lc, conds)
	{
		List	   *c = lfirst(lc);
		FdwCond    *cond = &st->conds[k];
		Expr	   *arg = list_nth(fsplan->fdw_exprs, k);
		Oid			opfamily = (Oid) intVal(list_nth(c, FDW_COND_OPFAMILY));
		Oid			lefttype = (Oid) intVal(list_nth(c, FDW_COND_LEFTTYPE));

		cond->att = intVal(list_nth(c, FDW_COND_ATTNUM)) - 1;
		cond->strategy = intVal(list_nth(c, FDW_COND_STRATEGY));
		cond->righttype = (Oid) intVal(list_nth(c, FDW_COND_RIGHTTYPE));
		cond->collation = (Oid) intVal(list_nth(c, FDW_COND_COLLATION));
		if (cond->strategy != FDW_STRATEGY_ISNULL)
		{
			fmgr_info_cxt(get_opfamily_proc(opfamily, lefttype, cond->righttype, BTORDER_PROC),
						  &cond->cmp, st->scancxt);
			cond->arg = ExecInitExpr(arg, &node->ss.ps);
			cond->exec_param = has_exec_param_walker((Node *) arg, NULL);
		}
		if (cond->att < 0 || cond->att >= st->natts || !st->atts[cond->att].needed)
			cond->strategy = -1;	/* cannot happen: its column is read */
		k++;
	}

	st->argcxt = AllocSetContextCreate(st->scancxt, "tsarchive_fdw conditions",
									   ALLOCSET_SMALL_SIZES);
	st->filecxt = AllocSetContextCreate(st->scancxt, "tsarchive_fdw file",
										ALLOCSET_DEFAULT_SIZES);
	st->rowcxt = AllocSetContextCreate(st->scancxt, "tsarchive_fdw row",
									   ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&st->buf);
	st->att_col = palloc(sizeof(int) * Max(st->natts, 1));
	st->cur_att = palloc(sizeof(int) * Max(st->natts, 1));
	st->cur_text = palloc(sizeof(bool) * Max(st->natts, 1));

	st->cleanup.func = scan_cleanup;
	st->cleanup.arg = st;
	MemoryContextRegisterResetCallback(estate->es_query_cxt, &st->cleanup);
	st->lake = fdw_lake_acquire(st->serverid, st->userid);
}

/* ---- the live files ---- */

/*
 * Whether the chunk incarnation a file came from is still read by the live table: its
 * OID is a descendant (partition, chunk) of the archived table now. Without that table
 * here, whether its OID still names a relation of the recorded schema and name.
 */
static bool
chunk_in_database(const char *relid, const char *tag, List *descendants, bool have_source)
{
	char		schema[NAMEDATALEN * 4],
				name[NAMEDATALEN * 4];
	char	   *end;
	unsigned long oid;
	HeapTuple	tp;
	bool		same = true;

	if (relid == NULL || relid[0] == '\0')
		return false;			/* its rows had left the database when it was archived */
	errno = 0;
	oid = strtoul(relid, &end, 10);
	if (errno || *end || oid == 0 || oid > PG_UINT32_MAX)
		return false;
	if (have_source)
		return list_member_oid(descendants, (Oid) oid);
	tp = SearchSysCache1(RELOID, ObjectIdGetDatum((Oid) oid));
	if (!HeapTupleIsValid(tp))
		return false;
	if (tsa_chunk_tag_parse(tag, schema, sizeof schema, name, sizeof name) == 0)
	{
		Form_pg_class c = (Form_pg_class) GETSTRUCT(tp);
		char	   *ns = get_namespace_name(c->relnamespace);

		/* an OID reused by another relation is not the chunk */
		same = strcmp(NameStr(c->relname), name) == 0 && ns && strcmp(ns, schema) == 0;
	}
	ReleaseSysCache(tp);
	return same;
}

/* The archived table's descendants (its partitions or chunks, at any depth), or false
 * when the table is not in this database. */
static bool
source_descendants(const char *root, List **out)
{
	char	   *schema = NULL,
			   *table = NULL;
	Oid			nsp,
				relid = InvalidOid;

	*out = NIL;
	if (tsa_root_parts(root, NULL, NULL, &schema, &table) == 0)
	{
		nsp = get_namespace_oid(schema, true);
		if (OidIsValid(nsp))
			relid = get_relname_relid(table, nsp);
	}
	tsa_free(schema);
	tsa_free(table);
	if (!OidIsValid(relid))
		return false;
	/* the planner locked what the live side reads; the list is read as it is now */
	*out = find_all_inheritors(relid, NoLock, NULL);
	return true;
}

static void
list_files(FdwScanState *st)
{
	MemoryContext old = MemoryContextSwitchTo(st->scancxt);
	tsa_table  *t = fdw_lake_table(st->lake, st->opt.root, true);
	List	   *descendants = NIL;
	bool		have_source = false;
	size_t		i,
				n;

	if (st->opt.dropped_only)
	{
		char	   *db = NULL;

		/* relids are only this database's when the archive is this database's */
		if (tsa_root_parts(st->opt.root, NULL, &db, NULL, NULL) != 0 ||
			strcmp(db, get_database_name(MyDatabaseId)) != 0)
		{
			char	   *copy = db ? pstrdup(db) : NULL;

			tsa_free(db);
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("foreign table \"%s\" has chunks 'dropped', but its archive \"%s\" is not of this database%s%s%s",
							st->relname, st->opt.root, copy ? " (it is database \"" : "",
							copy ? copy : "", copy ? "\")" : ""),
					 errhint("Chunks 'dropped' compares the archive's chunks with this database's tables; use chunks 'all' for another database's archive.")));
		}
		tsa_free(db);
	}
	if (st->opt.dropped_only)
		have_source = source_descendants(st->opt.root, &descendants);
	st->version = tsa_table_version(t);
	n = st->version >= 0 ? tsa_table_nfiles(t) : 0;
	st->files = palloc0(sizeof(FdwFile) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		tsa_live_file lf;
		tsa_err		err;
		FdwFile    *f = &st->files[i];

		tsa_err_clear(&err);
		if (tsa_table_file(t, i, &lf, &err) != 0)
			fdw_raise(&err, "listing live files");
		f->path = psprintf("%s/%s", st->opt.root, lf.path);
		f->size = lf.size;
		f->records = lf.records;
		f->stats = lf.stats ? pstrdup(lf.stats) : NULL;
		f->in_database = st->opt.dropped_only &&
			chunk_in_database(lf.relid, lf.chunk_tag, descendants, have_source);
	}
	st->nfiles = (int) n;
	st->listed = true;
	MemoryContextSwitchTo(old);
}

/* Computes each condition's value (preview: a plain EXPLAIN, where PARAM_EXEC values
 * are not there: such conditions are left out). */
static void
eval_conditions(FdwScanState *st, ForeignScanState *node, bool preview)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	int			k;

	MemoryContextReset(st->argcxt);
	for (k = 0; k < st->nconds; k++)
	{
		FdwCond    *c = &st->conds[k];
		Datum		v;
		bool		isnull;
		int16		typlen;
		bool		typbyval;
		MemoryContext old;

		c->ready = c->never = false;
		c->nvalues = 0;
		if (c->strategy < 0)
			continue;
		if (c->strategy == FDW_STRATEGY_ISNULL)
		{
			c->ready = true;
			continue;
		}
		if (preview && c->exec_param)
			continue;
		old = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
		v = ExecEvalExpr(c->arg, econtext, &isnull);
		MemoryContextSwitchTo(st->argcxt);
		c->ready = true;
		if (isnull)
			c->never = true;	/* btree comparisons are strict */
		else if (c->strategy == FDW_STRATEGY_IN)
		{
			ArrayType  *arr = DatumGetArrayTypeP(v);
			Datum	   *elems;
			bool	   *nulls;
			int			n,
						i;
			char		align;

			get_typlenbyvalalign(ARR_ELEMTYPE(arr), &typlen, &typbyval, &align);
			deconstruct_array(arr, ARR_ELEMTYPE(arr), typlen, typbyval, align, &elems, &nulls, &n);
			c->values = palloc(sizeof(Datum) * Max(n, 1));
			for (i = 0; i < n; i++)
				if (!nulls[i])
					c->values[c->nvalues++] = datumCopy(elems[i], typbyval, typlen);
			c->never = c->nvalues == 0;
		}
		else
		{
			get_typlenbyval(c->righttype, &typlen, &typbyval);
			c->value = datumCopy(v, typbyval, typlen);
		}
		MemoryContextSwitchTo(old);
	}
	ResetExprContext(econtext);
	st->args_ready = true;
}

static void
start_scan(FdwScanState *st, ForeignScanState *node, bool preview)
{
	if (!st->listed)
		list_files(st);
	if (!st->args_ready)
		eval_conditions(st, node, preview);
}

/* ---- bounds ---- */

static int
cmp_bound(FdwCond *c, Datum bound, Datum value)
{
	return DatumGetInt32(FunctionCall2Coll(&c->cmp, c->collation, bound, value));
}

/* Whether values lying in [min, max] (a side may be unknown) can meet c in no row. */
static bool
cond_excludes(FdwCond *c, bool has_min, Datum min, bool has_max, Datum max)
{
	int			i;

	if (!c->ready)
		return false;
	if (c->never)
		return true;
	switch (c->strategy)
	{
		case BTLessStrategyNumber:
			return has_min && cmp_bound(c, min, c->value) >= 0;
		case BTLessEqualStrategyNumber:
			return has_min && cmp_bound(c, min, c->value) > 0;
		case BTEqualStrategyNumber:
			return (has_min && cmp_bound(c, min, c->value) > 0) ||
				(has_max && cmp_bound(c, max, c->value) < 0);
		case BTGreaterEqualStrategyNumber:
			return has_max && cmp_bound(c, max, c->value) < 0;
		case BTGreaterStrategyNumber:
			return has_max && cmp_bound(c, max, c->value) <= 0;
		case FDW_STRATEGY_IN:
			for (i = 0; i < c->nvalues; i++)
				if (!((has_min && cmp_bound(c, min, c->values[i]) > 0) ||
					  (has_max && cmp_bound(c, max, c->values[i]) < 0)))
					return false;
			return true;
		default:
			return false;
	}
}

static bool
all_digits(const char *s, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/*
 * Whether a bound from the log's stats is a well-formed value of the type, as the
 * writer writes them (so the input function cannot fail on it): numbers for numbers,
 * ISO dates and timestamps, any string for strings, a uuid's text.
 */
static bool
bound_text_ok(Oid typid, const char *s, bool is_string)
{
	size_t		n = strlen(s);
	char	   *end;

	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			{
				long long	v;

				if (is_string)
					return false;
				errno = 0;
				v = strtoll(s, &end, 10);
				if (errno || end == s || *end)
					return false;
				if (typid == INT2OID)
					return v >= PG_INT16_MIN && v <= PG_INT16_MAX;
				if (typid == INT4OID)
					return v >= PG_INT32_MIN && v <= PG_INT32_MAX;
				return true;
			}
		case FLOAT4OID:
		case FLOAT8OID:
			{
				double		d;

				if (is_string)
					return false;
				errno = 0;
				d = strtod(s, &end);
				if (errno || end == s || *end || !isfinite(d))
					return false;
				return typid == FLOAT8OID || fabs(d) <= FLT_MAX;
			}
		case DATEOID:
			return is_string && n == 10 && all_digits(s, 4) && s[4] == '-' &&
				all_digits(s + 5, 2) && s[7] == '-' && all_digits(s + 8, 2);
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			{
				size_t		i = 19;

				if (!is_string || n < 19 || !bound_text_ok(DATEOID, pnstrdup(s, 10), true) ||
					s[10] != 'T' || !all_digits(s + 11, 2) || s[13] != ':' ||
					!all_digits(s + 14, 2) || s[16] != ':' || !all_digits(s + 17, 2))
					return false;
				if (i < n && s[i] == '.')
				{
					size_t		d = 0;

					for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
						d++;
					if (d == 0 || d > 9)
						return false;
				}
				if (i < n && s[i] == 'Z')
					i++;
				return i == n;
			}
		case TEXTOID:
		case VARCHAROID:
			return is_string && GetDatabaseEncoding() == PG_UTF8;
		case UUIDOID:
			{
				size_t		i;

				if (!is_string || n != 36)
					return false;
				for (i = 0; i < n; i++)
					if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-'
						: !isxdigit((unsigned char) s[i]))
						return false;
				return true;
			}
		default:
			return false;
	}
}

/*
 * The type's input and receive functions, looked up once per scan; their cached state
 * (fn_extra, e.g. array_recv's) lives in the scan's context, not the row's.
 */
static void
need_input(FdwAtt *att)
{
	if (!att->have_in)
	{
		Oid			func;

		getTypeInputInfo(att->typid, &func, &att->in_ioparam);
		fmgr_info_cxt(func, &att->in, att->cxt);
		att->have_in = true;
	}
}

static void
need_recv(FdwAtt *att)
{
	if (!att->have_recv)
	{
		Oid			func;

		getTypeBinaryInputInfo(att->typid, &func, &att->recv_ioparam);
		fmgr_info_cxt(func, &att->recv, att->cxt);
		att->have_recv = true;
	}
}

/* A bound from the log's stats as a value of the column's type (typmod -1: a bound is
 * never rounded), or false. */
static bool
log_bound(FdwAtt *att, const char *text, bool is_string, Datum *out)
{
	if (!bound_text_ok(att->typid, text, is_string))
		return false;
	need_input(att);
	*out = InputFunctionCall(&att->in, (char *) text, att->in_ioparam, -1);
	return true;
}

/*
 * Whether the log's statistics of f show that no row can meet the conditions. Numeric
 * bounds are left alone (the log's JSON numbers are read as doubles here), and so is a
 * timestamp's max when the column has NULLs (a NULL may stand for a value after
 * 294247 AD, kept in the file's exceptions).
 */
static bool
file_excluded(FdwScanState *st, FdwFile *f)
{
	tsa_stats  *stats = NULL;
	tsa_err		err;
	int			k;
	typedef struct
	{
		bool		has_min,
					has_max,
					min_str,
					max_str,
					has_nulls;
		int64		nulls;
		char		min[256],
					max[256];
	}			Bounds;
	Bounds	   *b;

	if (!f->stats || st->nconds == 0)
		return false;
	b = palloc0(sizeof(Bounds) * st->nconds);
	tsa_err_clear(&err);
	if (tsa_stats_parse(f->stats, &stats, &err) != 0)
		fdw_raise(&err, "reading a file's statistics");
	for (k = 0; k < st->nconds; k++)
	{
		FdwCond    *c = &st->conds[k];
		const char *col;

		if (!c->ready)
			continue;
		col = st->atts[c->att].fname;
		b[k].has_nulls = tsa_stats_null_count(stats, col, &b[k].nulls) == 1;
		b[k].has_min = tsa_stats_bound(stats, col, false, b[k].min, sizeof b[k].min, &b[k].min_str) == 1;
		b[k].has_max = tsa_stats_bound(stats, col, true, b[k].max, sizeof b[k].max, &b[k].max_str) == 1;
	}
	tsa_stats_free(stats);

	for (k = 0; k < st->nconds; k++)
	{
		FdwCond    *c = &st->conds[k];
		FdwAtt	   *att = &st->atts[c->att];
		Datum		min = (Datum) 0,
					max = (Datum) 0;
		bool		has_min,
					has_max;

		if (!c->ready)
			continue;
		if (c->never)
			return true;
		if (c->strategy == FDW_STRATEGY_ISNULL)
		{
			if (b[k].has_nulls && b[k].nulls == 0)
				return true;
			continue;
		}
		if (att->typid == NUMERICOID)
			continue;
		has_min = b[k].has_min && log_bound(att, b[k].min, b[k].min_str, &min);
		has_max = b[k].has_max && log_bound(att, b[k].max, b[k].max_str, &max);
		if ((att->typid == TIMESTAMPOID || att->typid == TIMESTAMPTZOID) &&
			!(b[k].has_nulls && b[k].nulls == 0))
			has_max = false;
		if (cond_excludes(c, has_min, min, has_max, max))
			return true;
	}
	return false;
}

/* ---- values ---- */

static void
binary_format_error(FdwAtt *att)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("incorrect binary data format for column \"%s\" (%s)", att->name,
					att->typname)));
}

/*
 * The built-in fixed-size types without a typmod, decoded here exactly as their
 * receive functions decode them (int2recv ... timestamptz_recv, range checks
 * included): the hot path of a scan. Returns false for every other type.
 */
static bool
fixed_value(FdwAtt *att, const uint8 *p, int32 len, Datum *out)
{
	uint64		u = 0;
	int			i;

	if (att->typmod != -1 && (att->typid == TIMESTAMPOID || att->typid == TIMESTAMPTZOID))
		return false;
	switch (att->typid)
	{
		case BOOLOID:
			if (len != 1)
				binary_format_error(att);
			*out = BoolGetDatum(p[0] != 0);
			return true;
		case INT2OID:
		case INT4OID:
		case DATEOID:
		case FLOAT4OID:
			if (len != (att->typid == INT2OID ? 2 : 4))
				binary_format_error(att);
			for (i = 0; i < len; i++)
				u = u << 8 | p[i];
			if (att->typid == INT2OID)
				*out = Int16GetDatum((int16) u);
			else if (att->typid == INT4OID)
				*out = Int32GetDatum((int32) u);
			else if (att->typid == FLOAT4OID)
			{
				union
				{
					float4		f;
					uint32		i;
				}			x;

				x.i = (uint32) u;
				*out = Float4GetDatum(x.f);
			}
			else
			{
				DateADT		d = (DateADT) (int32) u;

				if (!DATE_NOT_FINITE(d) && !IS_VALID_DATE(d))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("date out of range")));
				*out = DateADTGetDatum(d);
			}
			return true;
		case INT8OID:
		case FLOAT8OID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			if (len != 8)
				binary_format_error(att);
			for (i = 0; i < 8; i++)
				u = u << 8 | p[i];
			if (att->typid == INT8OID)
				*out = Int64GetDatum((int64) u);
			else if (att->typid == FLOAT8OID)
			{
				union
				{
					float8		f;
					uint64		i;
				}			x;

				x.i = u;
				*out = Float8GetDatum(x.f);
			}
			else
			{
				Timestamp	t = (Timestamp) u;

				if (!TIMESTAMP_NOT_FINITE(t) && (t < MIN_TIMESTAMP || t >= END_TIMESTAMP))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("timestamp out of range")));
				*out = TimestampGetDatum(t);
			}
			return true;
		default:
			return false;
	}
}

/* A value of a row: the binary send() form through the type's receive function, or
 * the text form through its input function; typmod: the column's, or -1 for a bound. */
static Datum
make_value(FdwScanState *st, FdwAtt *att, bool text, const uint8 *p, int32 len, int32 typmod)
{
	Datum		d;

	if (text)
	{
		char	   *s = pnstrdup((const char *) p, len);

		/* the archive's text is UTF-8 (the export reads with client_encoding UTF8) */
		if (GetDatabaseEncoding() != PG_UTF8)
			s = pg_any_to_server(s, len, PG_UTF8);
		need_input(att);
		return InputFunctionCall(&att->in, s, att->in_ioparam, typmod);
	}
	if (typmod == att->typmod && fixed_value(att, p, len, &d))
		return d;
	need_recv(att);
	resetStringInfo(&st->buf);
	appendBinaryStringInfo(&st->buf, (const char *) p, len);
	d = ReceiveFunctionCall(&att->recv, &st->buf, att->recv_ioparam, typmod);
	if (st->buf.cursor != st->buf.len)
		binary_format_error(att);
	return d;
}

static void
scan_error_context(void *arg)
{
	FdwScanState *st = (FdwScanState *) arg;

	if (st->cur_path && st->cur_colname)
		errcontext("archived file \"%s\", column \"%s\" of foreign table \"%s\"", st->cur_path,
				   st->cur_colname, st->relname);
	else if (st->cur_path)
		errcontext("archived file \"%s\" of foreign table \"%s\"", st->cur_path, st->relname);
}

/* ---- the encoding receive functions read ---- */

/*
 * Receive functions read text in the client's encoding (pq_getmsgtext converts it to
 * the database's), as for COPY ... FROM STDIN (FORMAT binary). The archive's text is
 * UTF-8, which restore sends with client_encoding UTF8; so while values are made the
 * client encoding is UTF-8, and the session's is put back after, errors included.
 */
typedef void (*ValuesFn) (FdwScanState *st, void *arg);

static void
with_utf8_client(FdwScanState *st, ValuesFn fn, void *arg)
{
	int			prev = pg_get_client_encoding();

	if (prev == PG_UTF8)
	{
		fn(st, arg);
		return;
	}
	if (PrepareClientEncoding(PG_UTF8) < 0 || SetClientEncoding(PG_UTF8) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("tsarchive_fdw: no conversion from UTF8 to the database encoding %s",
						GetDatabaseEncodingName())));
	PG_TRY();
	{
		fn(st, arg);
	}
	PG_FINALLY();
	{
		SetClientEncoding(prev);
	}
	PG_END_TRY();
}

/* ---- files ---- */

/* What prune_row_groups works on. */
typedef struct RowGroupPlan
{
	int			ng;
	bool	   *want;
	bool		none;			/* no row of the file can match */
} RowGroupPlan;

/* Clears want[g] for each row group whose statistics rule out every row. */
static void
prune_row_groups(FdwScanState *st, void *arg)
{
	RowGroupPlan *rp = (RowGroupPlan *) arg;
	tsa_err		err;
	int			k,
				g;

	tsa_err_clear(&err);
	for (k = 0; k < st->nconds && !rp->none; k++)
	{
		FdwCond    *c = &st->conds[k];
		FdwAtt	   *att = &st->atts[c->att];
		int			j = st->att_col[c->att];

		if (!c->ready)
			continue;
		if (j < 0)
		{
			/* the file lacks the column: NULL in every row, which no comparison meets */
			rp->none = c->strategy != FDW_STRATEGY_ISNULL;
			continue;
		}
		for (g = 0; g < rp->ng; g++)
		{
			const uint8 *p;
			int32		len;
			Datum		min = (Datum) 0,
						max = (Datum) 0;
			bool		has_min,
						has_max;
			int			rc;

			if (!rp->want[g])
				continue;
			if (c->strategy == FDW_STRATEGY_ISNULL)
			{
				int64		nulls;

				if (tsa_file_rg_null_count(st->cur, j, g, &nulls) == 1 && nulls == 0)
					rp->want[g] = false;
				continue;
			}
			if (c->never)
			{
				rp->want[g] = false;
				continue;
			}
			if (tsa_file_is_text(st->cur, j))
				continue;		/* text-cast values: no bounds in the type's order */
			rc = tsa_file_rg_bound(st->cur, j, g, false, &p, &len, &err);
			if (rc < 0)
				fdw_raise(&err, "reading a row group's statistics");
			if ((has_min = rc == 1))
				min = make_value(st, att, false, p, len, -1);
			rc = tsa_file_rg_bound(st->cur, j, g, true, &p, &len, &err);
			if (rc < 0)
				fdw_raise(&err, "reading a row group's statistics");
			if ((has_max = rc == 1))
				max = make_value(st, att, false, p, len, -1);
			if (cond_excludes(c, has_min, min, has_max, max))
				rp->want[g] = false;
		}
	}
}

/*
 * Opens f's footer, plans the columns the query reads that the file has, and skips
 * the row groups whose statistics rule out every row. True when something is left to
 * read (st->cur is then open), false when the file is done with (closed).
 */
static bool
prepare_file(FdwScanState *st, FdwFile *f)
{
	tsa_col    *cols = palloc0(sizeof(tsa_col) * Max(st->natts, 1));
	tsa_err		err;
	bool	   *want;
	RowGroupPlan rp;
	int			i,
				g,
				ng,
				n = 0,
				left = 0;
	bool		none = false;

	tsa_err_clear(&err);
	if (tsa_file_open(fdw_lake_handle(st->lake), f->path, f->size, f->records,
					  (size_t) fdw_max_memory_mb << 20, &st->cur, &err) != 0)
		fdw_raise(&err, psprintf("foreign table \"%s\"", st->relname));
	st->cur_path = f->path;
	st->files_read++;
	for (i = 0; i < st->natts; i++)
	{
		FdwAtt	   *att = &st->atts[i];

		st->att_col[i] = -1;
		if (!att->needed || !tsa_file_has_column(st->cur, att->fname))
			continue;			/* not read, or older than the column: NULL */
		cols[n].name = att->fname;
		cols[n].pg_type = att->typname;
		cols[n].type_oid = att->typid;
		cols[n].elem_oid = att->elemid;
		cols[n].is_array = att->is_array;
		cols[n].is_enum = att->is_enum;
		st->att_col[i] = n;
		st->cur_att[n] = i;
		n++;
	}
	st->cur_n = n;
	if (tsa_file_plan(st->cur, cols, n, &err) != 0)
		fdw_raise(&err, psprintf("foreign table \"%s\"", st->relname));
	for (i = 0; i < n; i++)
		st->cur_text[i] = tsa_file_is_text(st->cur, i);

	rp.ng = ng = tsa_file_nrow_groups(st->cur);
	rp.want = want = palloc(sizeof(bool) * Max(ng, 1));
	rp.none = false;
	for (g = 0; g < ng; g++)
		want[g] = tsa_file_row_group_rows(st->cur, g) > 0;
	with_utf8_client(st, prune_row_groups, &rp);
	none = rp.none;
	for (g = 0; g < ng; g++)
	{
		if (none)
			want[g] = false;
		left += want[g] ? 1 : 0;
	}
	st->rg_read += left;
	st->rg_skipped += ng - left;
	if (left == 0)
	{
		close_file(st);
		return false;
	}
	if (tsa_file_select_row_groups(st->cur, want, &err) != 0)
		fdw_raise(&err, psprintf("foreign table \"%s\"", st->relname));
	return true;
}

/* The next file with rows to read, or false at the end. */
static bool
open_next_file(FdwScanState *st, bool preview)
{
	ErrorContextCallback errcb;
	bool		found = false;

	errcb.callback = scan_error_context;
	errcb.arg = st;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	while (!found && st->next_file < st->nfiles)
	{
		FdwFile    *f = &st->files[st->next_file++];
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		st->cur_path = NULL;
		st->cur_colname = NULL;
		if (f->in_database)
		{
			st->files_in_db++;
			continue;
		}
		MemoryContextReset(st->filecxt);
		old = MemoryContextSwitchTo(st->filecxt);
		st->cur_path = f->path;
		if (file_excluded(st, f))
			st->files_by_stats++;
		else
		{
			found = prepare_file(st, f);
			if (found && preview)
			{
				close_file(st);
				found = false;
			}
		}
		MemoryContextSwitchTo(old);
	}
	error_context_stack = errcb.previous;
	return found;
}

/* ---- the executor's calls ---- */

/* The current row's values into the slot (in the row's memory context). */
static void
row_values(FdwScanState *st, void *arg)
{
	TupleTableSlot *slot = (TupleTableSlot *) arg;
	int			j;

	for (j = 0; j < st->cur_n; j++)
	{
		int			i = st->cur_att[j];
		FdwAtt	   *att = &st->atts[i];
		const uint8 *p;
		int32		len;

		tsa_file_field(st->cur, j, &p, &len);
		if (len < 0)
			continue;
		st->cur_colname = att->name;
		slot->tts_values[i] = make_value(st, att, st->cur_text[j], p, len, att->typmod);
		slot->tts_isnull[i] = false;
	}
	st->cur_colname = NULL;
}

TupleTableSlot *
fdwIterateForeignScan(ForeignScanState *node)
{
	FdwScanState *st = (FdwScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	ErrorContextCallback errcb;
	MemoryContext old;
	tsa_err		err;
	int			rc;

	ExecClearTuple(slot);
	start_scan(st, node, false);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (!st->cur && !open_next_file(st, false))
			return slot;
		tsa_err_clear(&err);
		rc = tsa_file_next(st->cur, &err);
		if (rc < 0)
			fdw_raise(&err, psprintf("foreign table \"%s\"", st->relname));
		if (rc > 0)
			break;
		close_file(st);
	}

	MemoryContextReset(st->rowcxt);
	old = MemoryContextSwitchTo(st->rowcxt);
	memset(slot->tts_isnull, true, sizeof(bool) * st->natts);
	errcb.callback = scan_error_context;
	errcb.arg = st;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	with_utf8_client(st, row_values, slot);
	error_context_stack = errcb.previous;
	MemoryContextSwitchTo(old);
	ExecStoreVirtualTuple(slot);
	st->rows++;
	return slot;
}

void
fdwReScanForeignScan(ForeignScanState *node)
{
	FdwScanState *st = (FdwScanState *) node->fdw_state;

	close_file(st);
	st->next_file = 0;
	st->args_ready = false;		/* parameters may have changed */
}

void
fdwEndForeignScan(ForeignScanState *node)
{
	FdwScanState *st = (FdwScanState *) node->fdw_state;

	if (st)
		scan_cleanup(st);
}

/* ---- EXPLAIN ---- */

static const char *
strategy_name(int s)
{
	switch (s)
	{
		case BTLessStrategyNumber:
			return "<";
		case BTLessEqualStrategyNumber:
			return "<=";
		case BTEqualStrategyNumber:
			return "=";
		case BTGreaterEqualStrategyNumber:
			return ">=";
		case BTGreaterStrategyNumber:
			return ">";
		case FDW_STRATEGY_IN:
			return "IN";
		case FDW_STRATEGY_ISNULL:
			return "IS NULL";
		default:
			return "?";
	}
}

void
fdwExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	FdwScanState *st = (FdwScanState *) node->fdw_state;
	StringInfoData s;
	int			i,
				k;

	if (!es->analyze && st->lake)
	{
		/* what the scan would read now: the log, the statistics, the footers */
		start_scan(st, node, true);
		while (open_next_file(st, true))
			;
	}
	ExplainPropertyText("Archive", st->opt.root, es);
	if (st->opt.source)
		ExplainPropertyText("Source Table", st->opt.source, es);
	if (st->lake)
		ExplainPropertyText("Lake", tsa_lake_describe(fdw_lake_handle(st->lake)), es);
	ExplainPropertyText("Chunks", st->opt.dropped_only ? "dropped from the database" : "all",
						es);
	if (st->listed)
		ExplainPropertyInteger("Log Version", NULL, st->version, es);
	initStringInfo(&s);
	for (i = 0; i < st->natts; i++)
		if (st->atts[i].needed)
			appendStringInfo(&s, "%s%s", s.len ? ", " : "", quote_identifier(st->atts[i].name));
	ExplainPropertyText("Columns Read", s.len ? s.data : "none", es);
	resetStringInfo(&s);
	for (k = 0; k < st->nconds; k++)
		if (st->conds[k].strategy >= 0)
			appendStringInfo(&s, "%s%s %s", s.len ? ", " : "",
							 quote_identifier(st->atts[st->conds[k].att].name),
							 strategy_name(st->conds[k].strategy));
	if (s.len)
		ExplainPropertyText("Skip By Statistics", s.data, es);
	if (st->listed)
	{
		ExplainPropertyInteger("Files Live", NULL, st->nfiles, es);
		if (st->opt.dropped_only)
			ExplainPropertyInteger("Files Skipped (Chunk In Database)", NULL, st->files_in_db, es);
		ExplainPropertyInteger("Files Skipped (Log Statistics)", NULL, st->files_by_stats, es);
		ExplainPropertyInteger("Files Read", NULL, st->files_read, es);
		ExplainPropertyInteger("Row Groups Read", NULL, st->rg_read, es);
		ExplainPropertyInteger("Row Groups Skipped (Statistics)", NULL, st->rg_skipped, es);
		if (es->analyze)
			ExplainPropertyInteger("Rows From Files", NULL, st->rows, es);
	}
}
