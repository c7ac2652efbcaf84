// duckdb.mjs: reads every file of the matrix with DuckDB (@duckdb/node-api): values
// through read_parquet(), the reported column types, and per row group the codec,
// encodings and statistics through parquet_metadata(); created_by and key-value
// metadata through parquet_file_metadata() / parquet_kv_metadata().
// Usage: node duckdb.mjs MATRIX_DIR [--tools DIR] [--only SUBSTRING] [--json]
import { fileURLToPath } from 'node:url';
import {
  importTool, runStandalone, hex, expectedStats, expectedRowGroups, checkEncodings,
  columnHasValues, sameLeaf, show, DEC_KINDS, compareColumn,
  isList, FLOAT_KINDS, STR_KINDS,
} from './common.mjs';
import { classifyError, classifyType } from './limitations.mjs';

const READER = 'duckdb';

const TYPES = {
  bool: 'BOOLEAN', i32: 'INTEGER', i64: 'BIGINT', float: 'FLOAT', double: 'DOUBLE',
  string: 'VARCHAR', enum: 'VARCHAR', json: 'JSON', binary: 'BLOB', flba: 'BLOB', uuid: 'UUID',
  date: 'DATE', ts_utc: 'TIMESTAMP WITH TIME ZONE', ts_local: 'TIMESTAMP',
  int8: 'TINYINT', int16: 'SMALLINT', int32: 'INTEGER', int64: 'BIGINT',
};

/** The DuckDB type a column must come back as. */
export function duckType(col, leaf = false) {
  let t = TYPES[col.kind];
  if (DEC_KINDS.has(col.kind)) t = `DECIMAL(${col.precision},${col.scale})`;
  return isList(col) && !leaf ? `${t}[]` : t;
}

function typeName(t) {
  if (t.alias) return t.alias;
  if (t.valueType) return `${typeName(t.valueType)}[]`;
  return t.toString();
}

function leaf(col, v, rep) {
  if (v === null || v === undefined) return null;
  const k = col.kind;
  switch (typeof v) {
    case 'boolean': case 'string': return v;
    case 'bigint': return v;
    case 'number':
      if (k === 'float' || k === 'double') return v;
      return Number.isInteger(v) ? BigInt(v) : v;
    default: break;
  }
  const cls = v.constructor && v.constructor.name;
  if (cls === 'DuckDBBlobValue') return hex(v.bytes);
  if (cls === 'DuckDBUUIDValue') return v.toString().replaceAll('-', '');
  if (cls === 'DuckDBDecimalValue') {
    if (v.scale !== col.scale) rep.fail(`${col.name}: decimal value with scale ${v.scale}, expected ${col.scale}`);
    return v.value;
  }
  if (cls === 'DuckDBDateValue') return BigInt(v.days);
  if (cls === 'DuckDBTimestampValue' || cls === 'DuckDBTimestampTZValue' || cls === 'DuckDBTimestampMicrosecondsValue') return v.micros;
  return v;
}

function value(col, v, rep) {
  if (v === null || v === undefined) return null;
  if (isList(col)) {
    if (!v.items) return v;
    return v.items.map((e) => leaf(col, e, rep));
  }
  return leaf(col, v, rep);
}

function quote(id) {
  return `"${id.replaceAll('"', '""')}"`;
}

function lit(s) {
  return `'${s.replaceAll("'", "''")}'`;
}

async function setup(tools) {
  const duck = await importTool(tools, '@duckdb/node-api');
  const inst = await duck.DuckDBInstance.create(':memory:', { threads: '1' });
  const con = await inst.connect();
  return { duck, inst, con, close: async () => { con.closeSync?.(); inst.closeSync?.(); } };
}

async function readColumns(ctx, path, names) {
  const sel = names.map(quote).join(', ');
  const r = await ctx.con.runAndReadAll(`SELECT ${sel} FROM read_parquet(${lit(path)})`);
  return { types: r.columnTypes(), columns: r.getColumns() };
}

export async function readFile(ctx, path, exp, rep) {
  const cols = exp.columns;
  // Values: all columns at once; on an error, column by column so that one failing
  // column (a known limitation, say) does not hide the others.
  let got = null;
  try {
    got = await readColumns(ctx, path, cols.map((c) => c.name));
  } catch (e) {
    rep.notes.push(`whole-file read failed (${e.message.split('\n')[0]}), reading column by column`);
  }
  for (let i = 0; i < cols.length; i++) {
    const col = cols[i];
    let type, data;
    if (got) {
      type = got.types[i];
      data = got.columns[i] || []; // no rows: getColumns() is empty
    } else {
      try {
        const one = await readColumns(ctx, path, [col.name]);
        type = one.types[0];
        data = one.columns[0] || [];
      } catch (e) {
        const msg = e.message.split('\n')[0];
        const lim = classifyError(READER, exp, col, msg);
        if (lim) rep.limit(lim, `${col.name}: ${msg}`);
        else rep.fail(`${col.name}: read error: ${msg}`);
        continue;
      }
    }
    const reported = typeName(type);
    const want = duckType(col);
    if (reported !== want) {
      const lim = classifyType(READER, exp, col, reported);
      if (lim) rep.limit(lim, `${col.name}: reported ${reported}, ideal ${want}`);
      else rep.fail(`${col.name}: type ${reported}, expected ${want}`);
    }
    const values = data.map((v) => value(col, v, rep));
    compareColumn(rep, col, values);
  }
  await checkMetadata(ctx, path, exp, rep);
}

async function checkMetadata(ctx, path, exp, rep) {
  const con = ctx.con;
  const fm = (await con.runAndReadAll(
    `SELECT created_by, num_rows, num_row_groups, CAST(column_orders AS VARCHAR[]) AS orders
     FROM parquet_file_metadata(${lit(path)})`)).getRowObjectsJS()[0];
  if (!/^tsarchive version \d+\.\d+\.\d+ \(build [^)]+\)$/.test(String(fm.created_by))) {
    rep.fail(`created_by is ${show(fm.created_by)}, expected "tsarchive version X.Y.Z (build ID)"`);
  }
  const orders = fm.orders || [];
  if (orders.length !== exp.columns.length || orders.some((o) => !/TypeDefinedOrder/.test(o))) {
    rep.fail(`column_orders ${show(orders)}, expected TypeDefinedOrder for each of ${exp.columns.length} leaves`);
  }
  if (BigInt(fm.num_rows) !== BigInt(exp.rows)) rep.fail(`footer num_rows ${fm.num_rows}, expected ${exp.rows}`);
  const kv = (await con.runAndReadAll(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${lit(path)})`)).getRowObjects();
  for (const [k, v] of Object.entries(exp.kv)) {
    const hit = kv.find((r) => r.k === k);
    if (!hit || hit.v !== v) rep.fail(`key-value metadata ${k}: read ${show(hit && hit.v)}, expected ${show(v)}`);
  }

  // One parquet_metadata() query per file; each column's min/max strings are parsed
  // back by DuckDB into the column's type and turned into a plain text form (statsSql).
  const cases = (side) => `CASE column_id ${exp.columns.map((c, ci) => `WHEN ${ci} THEN ${statsSql(c, `stats_${side}_value`)}`).join(' ')} END`;
  const md = (await con.runAndReadAll(
    `SELECT column_id, row_group_id, row_group_num_rows, compression, encodings, stats_null_count,
            stats_min_value, stats_max_value, ${cases('min')} AS mn, ${cases('max')} AS mx
     FROM parquet_metadata(${lit(path)}) ORDER BY column_id, row_group_id`)).getRowObjects();
  const wantGroups = expectedRowGroups(exp);
  const groups = md.filter((r) => Number(r.column_id) === 0).map((r) => Number(r.row_group_num_rows));
  if (!md.length && Number(fm.num_row_groups) !== 0) {
    rep.fail(`${fm.num_row_groups} row groups without column chunks`);
    return;
  }
  if (JSON.stringify(groups.filter((n) => n > 0)) !== JSON.stringify(wantGroups)) {
    rep.fail(`row groups of ${JSON.stringify(groups)} rows, expected ${JSON.stringify(wantGroups)}`);
    return;
  }
  const codec = exp.codec.toUpperCase();
  for (let ci = 0; ci < exp.columns.length; ci++) {
    const col = exp.columns[ci];
    const rows = md.filter((r) => Number(r.column_id) === ci);
    if (rows.length !== groups.length) rep.fail(`${col.name}: ${rows.length} column chunks, expected ${groups.length}`);
    const stats = expectedStats(col, groups);
    let from = 0;
    for (let g = 0; g < rows.length; g++) {
      const r = rows[g];
      const where = `${col.name} row group ${g}`;
      if (r.compression !== codec) rep.fail(`${where}: codec ${r.compression}, expected ${codec}`);
      const encErr = checkEncodings(exp, col, String(r.encodings).split(',').map((x) => x.trim()), columnHasValues(col, from, groups[g]));
      if (encErr) rep.fail(`${where}: encodings ${r.encodings}: ${encErr}`);
      from += groups[g];
      const want = stats[g];
      if (r.stats_null_count === null || BigInt(r.stats_null_count) !== BigInt(want.null_count)) {
        rep.fail(`${where}: null_count ${show(r.stats_null_count)}, expected ${want.null_count}`);
      }
      for (const [side, raw, cast] of [['min', r.stats_min_value, r.mn], ['max', r.stats_max_value, r.mx]]) {
        const e = want[side];
        if (raw === null && e !== undefined && FLOAT_KINDS.has(col.kind) && hasInfinity(col, from - groups[g], groups[g])) {
          rep.limit('float-stats-infinity', `${where} ${side}: none shown, expected ${show(e)}`);
          continue;
        }
        if (e === undefined) {
          if (raw !== null) rep.fail(`${where}: ${side} ${show(raw)} present, expected none (no non-null, non-NaN value)`);
          continue;
        }
        const g2 = parseStat(col, cast);
        if (!sameLeaf(col.kind, e, g2)) rep.fail(`${where}: ${side} ${show(raw)}, expected ${show(e)}`);
      }
    }
  }
}

/** SQL turning a statistics string into text parseStat() reads exactly (NULL if unparsable). */
function statsSql(col, x) {
  const k = col.kind;
  const t = duckType(col, true);
  if (k === 'string' || k === 'enum' || k === 'json') return x;
  if (k === 'binary' || k === 'flba') return `lower(hex(TRY_CAST(${x} AS BLOB)))`;
  if (k === 'date') return `CAST(TRY_CAST(${x} AS DATE) - DATE '1970-01-01' AS VARCHAR)`;
  if (k === 'ts_utc' || k === 'ts_local') return `CAST(epoch_us(TRY_CAST(${x} AS ${t})) AS VARCHAR)`;
  return `CAST(TRY_CAST(${x} AS ${t}) AS VARCHAR)`;
}

function parseStat(col, s) {
  if (s === null || s === undefined) return null;
  const k = col.kind;
  if (k === 'bool') return s === 'true';
  if (k === 'uuid') return s.replaceAll('-', '');
  if (DEC_KINDS.has(k)) {
    const neg = s.startsWith('-');
    const [i, f = ''] = s.replace('-', '').split('.');
    const v = BigInt(i + f.padEnd(col.scale, '0'));
    return neg ? -v : v;
  }
  if (FLOAT_KINDS.has(k)) {
    const v = { nan: NaN, inf: Infinity, '-inf': -Infinity, infinity: Infinity, '-infinity': -Infinity }[s.toLowerCase()] ?? parseFloat(s);
    return k === 'float' ? Math.fround(v) : v;
  }
  if (k === 'binary' || k === 'flba' || STR_KINDS.has(k)) return s;
  return BigInt(s);
}

function hasInfinity(col, from, n) {
  for (let i = from; i < from + n; i++) {
    const v = col.values[i];
    const leaves = v === null ? [] : isList(col) ? v : [v];
    if (leaves.some((x) => x === 'Infinity' || x === '-Infinity')) return true;
  }
  return false;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await runStandalone(READER, readFile, setup);
}

export { setup, READER };
