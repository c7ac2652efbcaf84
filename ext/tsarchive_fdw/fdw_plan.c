/*
 * fdw_plan.c: planning a scan of an archived table: which columns it reads, which of
 * the query's conditions can skip files and row groups by their statistics (column
 * op expression for =, <, <=, >, >=, BETWEEN, IN; column IS NULL), and its size from
 * the Delta log's row counts. Every condition still runs as a filter on each row: the
 * statistics only skip what cannot match.
 */
#include "postgres.h"

#include "access/nbtree.h"
#include "access/stratnum.h"
#include "catalog/pg_am.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "mb/pg_wchar.h"
#include "optimizer/clauses.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "utils/lsyscache.h"
#include "utils/pg_locale.h"
#include "utils/rel.h"

#include "fdw.h"

typedef struct FdwPlanState
{
	Bitmapset  *attrs_used;		/* offset by FirstLowInvalidHeapAttributeNumber */
	List	   *conds;			/* lists of FDW_COND_NFIELDS integers */
	List	   *args;			/* each condition's expression (NULL for IS NULL) */
	double		files;			/* live files */
} FdwPlanState;

bool
fdw_type_prunable(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case TEXTOID:
		case VARCHAROID:
		case UUIDOID:
			return true;
		default:
			return false;
	}
}

/* A column of this scan's relation, under any binary-compatible relabeling. */
static Var *
our_var(Node *n, Index relid)
{
	while (n && IsA(n, RelabelType))
		n = (Node *) ((RelabelType *) n)->arg;
	if (n && IsA(n, Var) && ((Var *) n)->varno == relid && ((Var *) n)->varattno > 0 &&
		((Var *) n)->varlevelsup == 0)
		return (Var *) n;
	return NULL;
}

/* An expression the scan can compute once when it starts: no column, nothing volatile,
 * no subquery run per row. */
static bool
computable_at_start(Node *n)
{
	return !contain_var_clause(n) && !contain_volatile_functions(n) && !contain_subplans(n) &&
		!contain_agg_clause(n) && !contain_window_function(n);
}

/*
 * The collation to compare bounds under, or InvalidOid when bounds (which follow the
 * bytes of UTF-8, as Parquet and Delta order strings) cannot decide: a string column
 * compared under a collation other than C, except for equality under a deterministic
 * collation (equal then means byte-equal).
 */
static bool
usable_collation(Oid typid, Oid inputcollid, int strategy, Oid *collation)
{
	*collation = inputcollid;
	if (typid != TEXTOID && typid != VARCHAROID)
		return true;
	if (GetDatabaseEncoding() != PG_UTF8 || !OidIsValid(inputcollid))
		return false;
	if (lc_collate_is_c(inputcollid))
		return true;
	if ((strategy == BTEqualStrategyNumber || strategy == FDW_STRATEGY_IN) &&
		get_collation_isdeterministic(inputcollid))
	{
		*collation = C_COLLATION_OID;
		return true;
	}
	return false;
}

/* A condition as fdw_private keeps it (FDW_COND_*). */
static List *
cond_list(AttrNumber attnum, int strategy, Oid opfamily, Oid lefttype, Oid righttype,
		  Oid collation)
{
	List	   *l = NIL;

	l = lappend(l, makeInteger(attnum));
	l = lappend(l, makeInteger(strategy));
	l = lappend(l, makeInteger((int) opfamily));
	l = lappend(l, makeInteger((int) lefttype));
	l = lappend(l, makeInteger((int) righttype));
	l = lappend(l, makeInteger((int) collation));
	return l;
}

/* Adds "var opno arg" when opno is a btree comparison of var's type. */
static void
add_comparison(FdwPlanState *fp, Var *var, Oid opno, Oid inputcollid, Expr *arg, bool in_list)
{
	Oid			opclass,
				opfamily,
				lefttype,
				righttype,
				collation;
	int			strategy;

	if (!fdw_type_prunable(var->vartype))
		return;
	opclass = GetDefaultOpClass(var->vartype, BTREE_AM_OID);
	if (!OidIsValid(opclass))
		return;
	opfamily = get_opclass_family(opclass);
	if (!op_in_opfamily(opno, opfamily))
		return;
	get_op_opfamily_properties(opno, opfamily, false, &strategy, &lefttype, &righttype);
	if (strategy < BTLessStrategyNumber || strategy > BTGreaterStrategyNumber)
		return;
	if (in_list)
	{
		if (strategy != BTEqualStrategyNumber)
			return;
		strategy = FDW_STRATEGY_IN;
	}
	if (!usable_collation(var->vartype, inputcollid, strategy, &collation))
		return;
	if (!OidIsValid(get_opfamily_proc(opfamily, lefttype, righttype, BTORDER_PROC)))
		return;
	fp->conds = lappend(fp->conds, cond_list(var->varattno, strategy, opfamily, lefttype,
											 righttype, collation));
	fp->args = lappend(fp->args, arg);
}

/* The conditions of baserestrictinfo that statistics can decide. */
static void
extract_conditions(RelOptInfo *baserel, FdwPlanState *fp)
{
	ListCell   *lc;

	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		Node	   *clause = (Node *) ri->clause;

		if (IsA(clause, OpExpr) && list_length(((OpExpr *) clause)->args) == 2)
		{
			OpExpr	   *op = (OpExpr *) clause;
			Node	   *l = linitial(op->args),
					   *r = lsecond(op->args);
			Var		   *v;

			if ((v = our_var(l, baserel->relid)) != NULL && computable_at_start(r))
				add_comparison(fp, v, op->opno, op->inputcollid, (Expr *) r, false);
			else if ((v = our_var(r, baserel->relid)) != NULL && computable_at_start(l))
			{
				Oid			commutator = get_commutator(op->opno);

				if (OidIsValid(commutator))
					add_comparison(fp, v, commutator, op->inputcollid, (Expr *) l, false);
			}
		}
		else if (IsA(clause, ScalarArrayOpExpr))
		{
			ScalarArrayOpExpr *sa = (ScalarArrayOpExpr *) clause;
			Var		   *v;

			if (sa->useOr && list_length(sa->args) == 2 &&
				(v = our_var(linitial(sa->args), baserel->relid)) != NULL &&
				computable_at_start(lsecond(sa->args)))
				add_comparison(fp, v, sa->opno, sa->inputcollid, (Expr *) lsecond(sa->args), true);
		}
		else if (IsA(clause, NullTest))
		{
			NullTest   *nt = (NullTest *) clause;
			Var		   *v;

			if (nt->nulltesttype == IS_NULL && !nt->argisrow &&
				(v = our_var((Node *) nt->arg, baserel->relid)) != NULL)
			{
				fp->conds = lappend(fp->conds, cond_list(v->varattno, FDW_STRATEGY_ISNULL,
														 InvalidOid, InvalidOid, InvalidOid,
														 InvalidOid));
				fp->args = lappend(fp->args, makeNullConst(INT4OID, -1, InvalidOid));
			}
		}
	}
}

void
fdwGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	FdwPlanState *fp = palloc0(sizeof(FdwPlanState));
	FdwTableOptions opt;
	ForeignTable *ft = GetForeignTable(foreigntableid);
	RangeTblEntry *rte = planner_rt_fetch(baserel->relid, root);
	Oid			userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
	FdwLake    *volatile lake = NULL;
	double		rows = 0,
				files = 0;
	ListCell   *lc;

	baserel->fdw_private = fp;
	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &fp->attrs_used);
	foreach(lc, baserel->baserestrictinfo)
		pull_varattnos((Node *) lfirst_node(RestrictInfo, lc)->clause, baserel->relid,
					   &fp->attrs_used);
	extract_conditions(baserel, fp);

	/*
	 * The size: the live files' row counts, from the log as the backend last read it
	 * (loaded now if never read; the scan refreshes it when it starts).
	 */
	fdw_table_options(foreigntableid, &opt);
	PG_TRY();
	{
		tsa_table  *t;
		size_t		i,
					n;

		lake = fdw_lake_acquire(ft->serverid, userid);
		t = fdw_lake_table(lake, opt.root, false);
		n = tsa_table_version(t) >= 0 ? tsa_table_nfiles(t) : 0;
		for (i = 0; i < n; i++)
		{
			tsa_live_file lf;
			tsa_err		err;

			tsa_err_clear(&err);
			if (tsa_table_file(t, i, &lf, &err) != 0)
				fdw_raise(&err, "listing live files");
			rows += lf.records > 0 ? lf.records : 0;
			files++;
		}
	}
	PG_FINALLY();
	{
		fdw_lake_release(lake);
	}
	PG_END_TRY();
	fp->files = files;
	baserel->tuples = rows;
	baserel->rows = clamp_row_est(rows * clauselist_selectivity(root, baserel->baserestrictinfo,
															   0, JOIN_INNER, NULL));
}

void
fdwGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	FdwPlanState *fp = (FdwPlanState *) baserel->fdw_private;
	int			ncols = bms_num_members(fp->attrs_used);
	Cost		startup = 100.0;	/* the log's refresh */
	Cost		total;

	/*
	 * Each file costs a footer read; each row its decoding (more for more columns)
	 * plus the filter. Statistics may skip much of it, which this does not try to
	 * foresee.
	 */
	total = startup + fp->files * 10.0 * seq_page_cost +
		baserel->tuples * (cpu_tuple_cost + 0.25 * cpu_operator_cost * Max(ncols, 1)) +
		baserel->tuples * list_length(baserel->baserestrictinfo) * cpu_operator_cost;
	add_path(baserel, (Path *) create_foreignscan_path(root, baserel, NULL, baserel->rows,
													   startup, total, NIL, NULL, NULL, NIL));
}

ForeignScan *
fdwGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				  ForeignPath *best_path, List *tlist, List *scan_clauses, Plan *outer_plan)
{
	FdwPlanState *fp = (FdwPlanState *) baserel->fdw_private;
	List	   *attnums = NIL;
	int			k = -1;

	/* every condition stays a filter: statistics only skip what cannot match */
	scan_clauses = extract_actual_clauses(scan_clauses, false);
	while ((k = bms_next_member(fp->attrs_used, k)) >= 0)
	{
		AttrNumber	attnum = k + FirstLowInvalidHeapAttributeNumber;

		if (attnum == 0)		/* the whole row: every column */
		{
			attnums = list_make1(makeInteger(0));
			break;
		}
		if (attnum > 0)
			attnums = lappend(attnums, makeInteger(attnum));
	}
	return make_foreignscan(tlist, scan_clauses, baserel->relid, fp->args,
							list_make2(attnums, fp->conds), NIL, NIL, outer_plan);
}
