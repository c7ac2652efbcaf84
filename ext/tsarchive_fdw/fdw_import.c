/*
 * fdw_import.c: IMPORT FOREIGN SCHEMA: one foreign table per table archived from a
 * database, with the archived column types (each column's tsarchive.pg_type in the
 * Delta schema, else the type the Delta type maps to).
 *
 *   IMPORT FOREIGN SCHEMA "<database>" ...                  the server's cluster
 *   IMPORT FOREIGN SCHEMA "<cluster>/<database>" ...
 *   IMPORT FOREIGN SCHEMA "<cluster>/<database>/<schema>" ...  one source schema
 *
 * The cluster is tsarchive's name for it: database.cluster_name, or "pg" and the
 * system identifier (the server option "cluster", else this cluster's). Options:
 * chunks 'all' (default) or 'dropped'; schema 'name' (the same as the third part).
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "fdw.h"

/* The PostgreSQL type a Delta type reads as, when the file recorded none. */
static char *
type_of_delta(const char *t)
{
	static const struct
	{
		const char *delta;
		const char *pg;
	}			map[] = {
		{"boolean", "boolean"}, {"byte", "smallint"}, {"short", "smallint"},
		{"integer", "integer"}, {"long", "bigint"}, {"float", "real"},
		{"double", "double precision"}, {"date", "date"},
		{"timestamp", "timestamp with time zone"}, {"timestamp_ntz", "timestamp without time zone"},
		{"string", "text"}, {"binary", "bytea"},
	};
	int			i,
				p,
				s;

	for (i = 0; i < lengthof(map); i++)
		if (strcmp(t, map[i].delta) == 0)
			return pstrdup(map[i].pg);
	if (sscanf(t, "decimal(%d,%d)", &p, &s) == 2)
		return psprintf("numeric(%d,%d)", p, s);
	if (strncmp(t, "{\"type\":\"array\",\"elementType\":\"", 31) == 0)
	{
		const char *e = t + 31,
				   *q = strchr(e, '"');

		if (q)
		{
			char	   *elem = type_of_delta(pnstrdup(e, q - e));

			if (elem)
				return psprintf("%s[]", elem);
		}
	}
	return NULL;
}

/* The column's type as SQL, checked to be a type of this database. */
static char *
column_type(const char *table, const char *column, const char *pg_type, const char *delta_type)
{
	const char *t = pg_type;
	Oid			typid;
	int32		typmod;

	if (!t)
		t = type_of_delta(delta_type);
	if (!t)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("column \"%s\" of archived table \"%s\" has Delta type %s, which tsarchive_fdw cannot map",
						column, table, delta_type)));
	/* the lake's text is only a name to look up: never pasted into the statement */
	parseTypeString(t, &typid, &typmod, true);
	if (!OidIsValid(typid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("column \"%s\" of archived table \"%s\" has type %s, which this database does not have",
						column, table, t),
				 errhint("Create the type first (e.g. the enum type, as the source database has it), or leave the table out with EXCEPT.")));
	return format_type_with_typemod(typid, typmod);
}

static bool
listed(ImportForeignSchemaStmt *stmt, const char *name)
{
	ListCell   *lc;

	foreach(lc, stmt->table_list)
		if (strcmp(((RangeVar *) lfirst(lc))->relname, name) == 0)
			return true;
	return false;
}

List *
fdwImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	ForeignServer *server = GetForeignServer(serverOid);
	List	   *commands = NIL;
	char	   *parts[3] = {NULL, NULL, NULL};
	char	   *cluster,
			   *database,
			   *only_schema = NULL,
			   *prefix,
			   *rs = pstrdup(stmt->remote_schema),
			   *p;
	const char *chunks = "all";
	int			nparts = 0,
				i;
	ListCell   *lc;
	FdwLake    *volatile lake = NULL;
	char	  **volatile roots = NULL;
	volatile int nroots = 0;
	List	   *seen = NIL;

	foreach(lc, stmt->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "chunks") == 0)
		{
			chunks = defGetString(def);
			if (strcmp(chunks, "all") != 0 && strcmp(chunks, "dropped") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("option \"chunks\" must be \"all\" or \"dropped\"")));
		}
		else if (strcmp(def->defname, "schema") == 0)
			only_schema = defGetString(def);
		else
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\" for IMPORT FOREIGN SCHEMA", def->defname),
					 errhint("Valid options: chunks, schema.")));
	}

	for (p = rs; nparts < 3;)
	{
		char	   *slash = strchr(p, '/');

		parts[nparts++] = p;
		if (!slash)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	if (strchr(p, '/') || parts[nparts - 1][0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FDW_SCHEMA_NOT_FOUND),
				 errmsg("remote schema \"%s\" is not \"[<cluster>/]<database>[/<schema>]\"",
						stmt->remote_schema)));
	if (nparts == 1)
	{
		const char *c = fdw_server_option(serverOid, "cluster");

		cluster = c ? pstrdup(c) : psprintf("pg" UINT64_FORMAT, GetSystemIdentifier());
		database = parts[0];
	}
	else
	{
		cluster = parts[0];
		database = parts[1];
		if (nparts == 3)
			only_schema = parts[2];
	}

	PG_TRY();
	{
		tsa_err		err;
		int			n = 0;

		lake = fdw_lake_acquire(serverOid, GetUserId());
		{
			char	   *p = tsa_database_root(cluster, database);

			if (!p)
				elog(ERROR, "out of memory");
			prefix = pstrdup(p);
			tsa_free(p);
		}
		tsa_err_clear(&err);
		{
			char	  **r = NULL;
			int			rc = tsa_list_tables(fdw_lake_handle(lake), prefix, &r, &n, &err);

			roots = r;
			nroots = n;
			if (rc != 0)
				fdw_raise(&err, psprintf("listing the archived tables of \"%s/%s\"", cluster,
										 database));
		}
		for (i = 0; i < nroots; i++)
		{
			char	   *sschema = NULL,
					   *stable = NULL,
					   *qual;
			tsa_table  *t;
			StringInfoData sql;
			int			c,
						ncols;
			ListCell   *lc2;

			if (tsa_root_parts(roots[i], NULL, NULL, &sschema, &stable) != 0)
				continue;		/* not a folder tsarchive names */
			qual = psprintf("%s.%s", sschema, stable);
			{
				char	   *s = pstrdup(sschema),
						   *tn = pstrdup(stable);

				tsa_free(sschema);
				tsa_free(stable);
				sschema = s;
				stable = tn;
			}
			if (only_schema && strcmp(sschema, only_schema) != 0)
				continue;
			if (stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO && !listed(stmt, stable))
				continue;
			if (stmt->list_type == FDW_IMPORT_SCHEMA_EXCEPT && listed(stmt, stable))
				continue;
			foreach(lc2, seen)
				if (strcmp(strchr((char *) lfirst(lc2), '.') + 1, stable) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_DUPLICATE_TABLE),
							 errmsg("archived tables \"%s\" and \"%s\" would both be foreign table \"%s\"",
									(char *) lfirst(lc2), qual, stable),
							 errhint("Import one source schema at a time: IMPORT FOREIGN SCHEMA \"%s/%s/<schema>\".",
									 cluster, database)));
			seen = lappend(seen, qual);

			t = fdw_lake_table(lake, roots[i], true);
			if (tsa_table_version(t) < 0)
				continue;		/* nothing archived yet */
			ncols = tsa_table_ncolumns(t);
			initStringInfo(&sql);
			appendStringInfo(&sql, "CREATE FOREIGN TABLE %s.%s (",
							 quote_identifier(stmt->local_schema), quote_identifier(stable));
			for (c = 0; c < ncols; c++)
			{
				const char *name = tsa_table_column_name(t, c);

				appendStringInfo(&sql, "%s%s %s", c ? ", " : "", quote_identifier(name),
								 column_type(qual, name, tsa_table_column_pg_type(t, c),
											 tsa_table_column_delta_type(t, c)));
				/* a name PostgreSQL would cut keeps reading its file column */
				if (strlen(name) >= NAMEDATALEN)
					appendStringInfo(&sql, " OPTIONS (column_name %s)", quote_literal_cstr(name));
			}
			appendStringInfo(&sql, ") SERVER %s OPTIONS (root %s, source %s, chunks %s)",
							 quote_identifier(server->servername), quote_literal_cstr(roots[i]),
							 quote_literal_cstr(qual), quote_literal_cstr(chunks));
			commands = lappend(commands, sql.data);
		}
		if (commands == NIL)
			ereport(NOTICE,
					(errmsg("tsarchive_fdw: no archived table to import under \"%s\" in %s",
							prefix, tsa_lake_describe(fdw_lake_handle(lake))),
					 errhint("tsarchive lake tables lists the archived tables; the remote schema is \"[<cluster>/]<database>[/<schema>]\".")));
	}
	PG_FINALLY();
	{
		tsa_strings_free(roots, nroots);
		fdw_lake_release(lake);
	}
	PG_END_TRY();
	return commands;
}
