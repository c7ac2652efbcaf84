/*
 * fdw_options.c: tsarchive_fdw's options (server: where the lake is; user mapping: the
 * secrets, and only there; foreign table: which archived table; column: which file
 * column), their validator, the per-backend cache of open lakes and loaded Delta
 * tables, and errors from the archive side raised as PostgreSQL errors.
 */
#include "postgres.h"

#include <limits.h>

#include "access/reloptions.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "fdw.h"

/* ---- the options ---- */

typedef struct FdwOption
{
	const char *name;
	Oid			context;		/* the catalog it belongs in */
	bool		secret;
} FdwOption;

static const FdwOption fdw_options[] = {
	/* server: where the lake is (never a secret) */
	{"path", ForeignServerRelationId, false},
	{"account", ForeignServerRelationId, false},
	{"container", ForeignServerRelationId, false},
	{"endpoint", ForeignServerRelationId, false},
	{"prefix", ForeignServerRelationId, false},
	{"auth", ForeignServerRelationId, false},
	{"tenant_id", ForeignServerRelationId, false},
	{"client_id", ForeignServerRelationId, false},
	{"authority_host", ForeignServerRelationId, false},
	{"imds_endpoint", ForeignServerRelationId, false},
	{"client_certificate_file", ForeignServerRelationId, false},
	{"federated_token_file", ForeignServerRelationId, false},
	{"ca_file", ForeignServerRelationId, false},
	{"cluster", ForeignServerRelationId, false},
	{"connect_timeout", ForeignServerRelationId, false},
	{"max_retries", ForeignServerRelationId, false},
	/* user mapping: the secrets, and nowhere else */
	{"connection_string", UserMappingRelationId, true},
	{"account_key", UserMappingRelationId, true},
	{"sas_token", UserMappingRelationId, true},
	{"client_secret", UserMappingRelationId, true},
	/* foreign table */
	{"root", ForeignTableRelationId, false},
	{"source", ForeignTableRelationId, false},
	{"chunks", ForeignTableRelationId, false},
	/* column */
	{"column_name", AttributeRelationId, false},
	{NULL, InvalidOid, false}
};

static const char *
catalog_name(Oid catalog)
{
	switch (catalog)
	{
		case ForeignServerRelationId:
			return "server";
		case UserMappingRelationId:
			return "user mapping";
		case ForeignTableRelationId:
			return "foreign table";
		case AttributeRelationId:
			return "column";
		default:
			return "foreign-data wrapper";
	}
}

static int
int_option(DefElem *def, int min, int max)
{
	char	   *s = defGetString(def),
			   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"%s\" must be an integer from %d to %d", def->defname, min,
						max)));
	return (int) v;
}

PG_FUNCTION_INFO_V1(tsarchive_fdw_validator);

/*
 * Checks each option against the catalog it is given in. A secret anywhere but in a
 * user mapping is refused by name, its value never shown.
 */
Datum
tsarchive_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	bool		has_path = false,
				has_azure = false,
				has_container = false,
				has_root = false;
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		const FdwOption *o;

		for (o = fdw_options; o->name; o++)
			if (strcmp(o->name, def->defname) == 0)
				break;
		if (o->name && o->secret && catalog != UserMappingRelationId)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("\"%s\" is a secret and cannot be a %s option", def->defname,
							catalog_name(catalog)),
					 errhint("Put it in a user mapping: CREATE USER MAPPING FOR CURRENT_USER SERVER ... OPTIONS (%s '...').",
							 def->defname)));
		if (!o->name || o->context != catalog)
		{
			StringInfoData valid;

			initStringInfo(&valid);
			for (o = fdw_options; o->name; o++)
				if (o->context == catalog)
					appendStringInfo(&valid, "%s%s", valid.len ? ", " : "", o->name);
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\" for a tsarchive_fdw %s", def->defname,
							catalog_name(catalog)),
					 valid.len ? errhint("Valid options here: %s.", valid.data)
					 : errhint("tsarchive_fdw takes no options here.")));
		}

		if (strcmp(def->defname, "path") == 0 ||
			strcmp(def->defname, "client_certificate_file") == 0 ||
			strcmp(def->defname, "federated_token_file") == 0 ||
			strcmp(def->defname, "ca_file") == 0)
		{
			if (!is_absolute_path(defGetString(def)))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("option \"%s\" must be an absolute path", def->defname)));
			/* the server's files, read as the server: as file_fdw asks */
			if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("only superusers and members of pg_read_server_files may name the server's files (option \"%s\")",
								def->defname)));
			if (strcmp(def->defname, "path") == 0)
				has_path = true;
		}
		else if (strcmp(def->defname, "account") == 0 ||
				 strcmp(def->defname, "endpoint") == 0)
			has_azure = true;
		else if (strcmp(def->defname, "container") == 0)
			has_azure = has_container = true;
		else if (strcmp(def->defname, "auth") == 0)
		{
			const char *a = defGetString(def);

			if (strcmp(a, "auto") != 0 && strcmp(a, "shared_key") != 0 && strcmp(a, "sas") != 0 &&
				strcmp(a, "service_principal") != 0 && strcmp(a, "managed_identity") != 0 &&
				strcmp(a, "workload_identity") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("option \"auth\" must be one of auto, shared_key, sas, service_principal, managed_identity, workload_identity")));
		}
		else if (strcmp(def->defname, "connect_timeout") == 0)
			(void) int_option(def, 1, 3600);
		else if (strcmp(def->defname, "max_retries") == 0)
			(void) int_option(def, 0, 100);
		else if (strcmp(def->defname, "root") == 0)
		{
			if (defGetString(def)[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("option \"root\" must name the archived table's folder")));
			has_root = true;
		}
		else if (strcmp(def->defname, "chunks") == 0)
		{
			const char *c = defGetString(def);

			if (strcmp(c, "all") != 0 && strcmp(c, "dropped") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("option \"chunks\" must be \"all\" or \"dropped\"")));
		}
	}

	if (catalog == ForeignServerRelationId)
	{
		if (has_path && has_azure)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("a tsarchive_fdw server names a local folder (path) or an Azure container (account, container, endpoint), not both")));
		if (!has_path && !has_container)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
					 errmsg("a tsarchive_fdw server needs \"path\" (a local lake folder) or \"container\" (an Azure container)")));
	}
	if (catalog == ForeignTableRelationId && !has_root)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("a tsarchive_fdw foreign table needs option \"root\", the archived table's folder"),
				 errhint("IMPORT FOREIGN SCHEMA or tsarchive attach create foreign tables with it.")));
	PG_RETURN_VOID();
}

static const char *
option_of(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, name) == 0)
			return defGetString(def);
	}
	return NULL;
}

void
fdw_table_options(Oid relid, FdwTableOptions *opt)
{
	ForeignTable *ft = GetForeignTable(relid);
	const char *chunks;

	memset(opt, 0, sizeof *opt);
	opt->root = (char *) option_of(ft->options, "root");
	opt->source = (char *) option_of(ft->options, "source");
	chunks = option_of(ft->options, "chunks");
	opt->dropped_only = chunks && strcmp(chunks, "dropped") == 0;
	if (!opt->root)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("foreign table \"%s\" has no option \"root\"", get_rel_name(relid))));
}

char *
fdw_column_file_name(Oid relid, AttrNumber attnum, const char *attname)
{
	List	   *options = GetForeignColumnOptions(relid, attnum);
	const char *n = option_of(options, "column_name");

	return pstrdup(n ? n : attname);
}

const char *
fdw_server_option(Oid serverid, const char *name)
{
	return option_of(GetForeignServer(serverid)->options, name);
}

/* The user mapping's options for userid (else PUBLIC's), or NIL when there is none:
 * a local lake, or Azure with a managed identity, needs no secret. */
static List *
mapping_options(Oid userid, Oid serverid)
{
	HeapTuple	tp;
	Datum		d;
	bool		isnull;
	List	   *options = NIL;

	tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(userid),
						 ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
		tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							 ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
		return NIL;
	d = SysCacheGetAttr(USERMAPPINGUSERSERVER, tp, Anum_pg_user_mapping_umoptions, &isnull);
	if (!isnull)
		options = untransformRelOptions(d);
	ReleaseSysCache(tp);
	return options;
}

/* ---- errors ---- */

int
fdw_interrupted(void *ctx)
{
	(void) ctx;
	return QueryCancelPending || ProcDiePending;
}

void
fdw_raise(const tsa_err *err, const char *what)
{
	int			code;

	/* a read abandoned for a cancel or a timeout: say that, not the read's error */
	CHECK_FOR_INTERRUPTS();
	switch (err->code)
	{
		case TSA_ERR_FORMAT:
			code = ERRCODE_DATA_CORRUPTED;
			break;
		case TSA_ERR_NOMEM:
			code = ERRCODE_OUT_OF_MEMORY;
			break;
		case TSA_ERR_TOOBIG:
			code = ERRCODE_PROGRAM_LIMIT_EXCEEDED;
			break;
		case TSA_ERR_NOTFOUND:
			code = ERRCODE_FDW_TABLE_NOT_FOUND;
			break;
		case TSA_ERR_CONN:
		case TSA_ERR_TIMEOUT:
			code = ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION;
			break;
		case TSA_ERR_AUTH:
			code = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
			break;
		case TSA_ERR_INVALID:
			code = ERRCODE_FDW_INVALID_DATA_TYPE;
			break;
		case TSA_ERR_UNSUPPORTED:
			code = ERRCODE_FEATURE_NOT_SUPPORTED;
			break;
		case TSA_ERR_IO:
			code = ERRCODE_IO_ERROR;
			break;
		default:
			code = ERRCODE_FDW_ERROR;
			break;
	}
	ereport(ERROR,
			(errcode(code),
			 errmsg("tsarchive_fdw: %s: %s", what, err->msg[0] ? err->msg : "unknown error")));
	pg_unreachable();
}

/* ---- the cache of lakes and tables ---- */

/*
 * One lake per (server, user): opening it costs nothing on the network, but keeping it
 * keeps Azure's connections alive and the Delta tables loaded (a refresh then probes
 * only the next version). Entries live in TopMemoryContext; the archive side's objects
 * are malloc'd. A change to a server or a user mapping marks every entry stale; a stale
 * entry is freed once no scan holds it.
 */
typedef struct FdwTableEntry
{
	char	   *root;
	tsa_table  *t;
	struct FdwTableEntry *next;
} FdwTableEntry;

struct FdwLake
{
	Oid			serverid;
	Oid			userid;
	tsa_lake   *lk;
	int			refs;
	bool		stale;
	int			ntables;
	FdwTableEntry *tables;		/* most recently used first */
	struct FdwLake *next;
};

#define FDW_MAX_TABLES 64

static FdwLake *lakes;
static bool callbacks_registered;

static void
table_entry_free(FdwTableEntry *e)
{
	tsa_table_free(e->t);
	pfree(e->root);
	pfree(e);
}

static void
lake_entry_free(FdwLake *l)
{
	FdwTableEntry *e = l->tables,
			   *n;

	for (; e; e = n)
	{
		n = e->next;
		table_entry_free(e);
	}
	tsa_lake_free(l->lk);
	pfree(l);
}

static void
sweep_stale(void)
{
	FdwLake   **p = &lakes;

	while (*p)
	{
		FdwLake    *l = *p;

		if (l->stale && l->refs == 0)
		{
			*p = l->next;
			lake_entry_free(l);
		}
		else
			p = &l->next;
	}
}

static void
invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	FdwLake    *l;

	for (l = lakes; l; l = l->next)
		l->stale = true;
}

FdwLake *
fdw_lake_acquire(Oid serverid, Oid userid)
{
	FdwLake    *l;
	ForeignServer *server;
	List	   *um;
	tsa_lake_options o;
	tsa_err		err;
	const char *s;

	if (!callbacks_registered)
	{
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID, invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(USERMAPPINGOID, invalidate, (Datum) 0);
		callbacks_registered = true;
	}
	sweep_stale();
	for (l = lakes; l; l = l->next)
		if (!l->stale && l->serverid == serverid && l->userid == userid)
		{
			l->refs++;
			return l;
		}

	server = GetForeignServer(serverid);
	um = mapping_options(userid, serverid);
	memset(&o, 0, sizeof o);
	o.path = option_of(server->options, "path");
	o.account = option_of(server->options, "account");
	o.container = option_of(server->options, "container");
	o.endpoint = option_of(server->options, "endpoint");
	o.prefix = option_of(server->options, "prefix");
	o.auth = option_of(server->options, "auth");
	o.tenant_id = option_of(server->options, "tenant_id");
	o.client_id = option_of(server->options, "client_id");
	o.authority_host = option_of(server->options, "authority_host");
	o.imds_endpoint = option_of(server->options, "imds_endpoint");
	o.client_certificate_file = option_of(server->options, "client_certificate_file");
	o.federated_token_file = option_of(server->options, "federated_token_file");
	o.ca_file = option_of(server->options, "ca_file");
	o.max_retries = -1;
	if ((s = option_of(server->options, "connect_timeout")) != NULL)
		o.connect_timeout_s = atoi(s);
	if ((s = option_of(server->options, "max_retries")) != NULL)
		o.max_retries = atoi(s);
	o.connection_string = option_of(um, "connection_string");
	o.account_key = option_of(um, "account_key");
	o.sas_token = option_of(um, "sas_token");
	o.client_secret = option_of(um, "client_secret");
	o.interrupted = fdw_interrupted;

	l = MemoryContextAllocZero(TopMemoryContext, sizeof *l);
	tsa_err_clear(&err);
	if (tsa_lake_open(&o, &l->lk, &err) != 0)
	{
		pfree(l);
		fdw_raise(&err, psprintf("server \"%s\"", server->servername));
	}
	l->serverid = serverid;
	l->userid = userid;
	l->refs = 1;
	l->next = lakes;
	lakes = l;
	return l;
}

void
fdw_lake_release(FdwLake *l)
{
	if (!l)
		return;
	Assert(l->refs > 0);
	l->refs--;
	if (l->stale && l->refs == 0)
		sweep_stale();
}

tsa_lake *
fdw_lake_handle(FdwLake *l)
{
	return l->lk;
}

tsa_table *
fdw_lake_table(FdwLake *l, const char *root, bool refresh)
{
	FdwTableEntry **p,
			   *e = NULL;
	tsa_err		err;
	bool		fresh = false;

	for (p = &l->tables; *p; p = &(*p)->next)
		if (strcmp((*p)->root, root) == 0)
		{
			e = *p;
			*p = e->next;		/* moved to the front below */
			l->ntables--;
			break;
		}
	tsa_err_clear(&err);
	if (!e)
	{
		tsa_table  *t = NULL;

		if (tsa_table_open(l->lk, root, &t, &err) != 0)
			fdw_raise(&err, psprintf("table \"%s\"", root));
		e = MemoryContextAllocZero(TopMemoryContext, sizeof *e);
		e->root = MemoryContextStrdup(TopMemoryContext, root);
		e->t = t;
		fresh = true;
	}
	if (fresh || refresh)
	{
		if (tsa_table_refresh(e->t, &err) != 0)
		{
			/* a failed refresh may leave the table half read: load it afresh next time */
			table_entry_free(e);
			fdw_raise(&err, psprintf("reading the Delta log of \"%s\"", root));
		}
	}
	e->next = l->tables;
	l->tables = e;
	if (++l->ntables > FDW_MAX_TABLES)
	{
		FdwTableEntry *last = l->tables;

		while (last->next && last->next->next)
			last = last->next;
		if (last->next)
		{
			table_entry_free(last->next);
			last->next = NULL;
			l->ntables--;
		}
	}
	return e->t;
}

/* ---- secrets into a user mapping, from a parameter ---- */

PG_FUNCTION_INFO_V1(tsarchive_fdw_set_secret);

/*
 * tsarchive_fdw_set_secret(server, option, value): creates the current user's mapping
 * for server, or changes it, so that option holds value. The secret arrives as a bound
 * parameter, so it never stands in a statement's text (which the server may log with
 * an error); the user mapping is built as a node and run directly.
 */
Datum
tsarchive_fdw_set_secret(PG_FUNCTION_ARGS)
{
	char	   *server = NameStr(*PG_GETARG_NAME(0));
	char	   *option = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *value = text_to_cstring(PG_GETARG_TEXT_PP(2));
	ForeignServer *srv = GetForeignServerByName(server, false);
	ForeignDataWrapper *fdw = GetForeignDataWrapper(srv->fdwid);
	RoleSpec   *role = makeNode(RoleSpec);
	List	   *existing;
	bool		has_mapping;

	if (strcmp(fdw->fdwname, "tsarchive_fdw") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" is not a tsarchive_fdw server", server)));
	role->roletype = ROLESPEC_CURRENT_USER;
	role->location = -1;
	has_mapping = SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(GetUserId()),
										ObjectIdGetDatum(srv->serverid));
	if (!has_mapping)
	{
		CreateUserMappingStmt *stmt = makeNode(CreateUserMappingStmt);

		stmt->user = role;
		stmt->servername = server;
		stmt->if_not_exists = false;
		stmt->options = list_make1(makeDefElem(option, (Node *) makeString(value), -1));
		CreateUserMapping(stmt);
	}
	else
	{
		AlterUserMappingStmt *stmt = makeNode(AlterUserMappingStmt);
		HeapTuple	tp;
		Datum		d;
		bool		isnull;

		existing = NIL;
		tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(GetUserId()),
							 ObjectIdGetDatum(srv->serverid));
		if (HeapTupleIsValid(tp))
		{
			d = SysCacheGetAttr(USERMAPPINGUSERSERVER, tp, Anum_pg_user_mapping_umoptions,
								&isnull);
			if (!isnull)
				existing = untransformRelOptions(d);
			ReleaseSysCache(tp);
		}
		stmt->user = role;
		stmt->servername = server;
		stmt->options = list_make1(makeDefElemExtended(NULL, option, (Node *) makeString(value),
													   option_of(existing, option) ? DEFELEM_SET : DEFELEM_ADD,
													   -1));
		AlterUserMapping(stmt);
	}
	CommandCounterIncrement();
	PG_RETURN_VOID();
}
