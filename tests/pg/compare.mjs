// compare.mjs: checks a tsarchive Parquet file value by value against PostgreSQL,
// with readers nobody here wrote: DuckDB (@duckdb/node-api) reads the file directly;
// parquet-wasm (Rust's parquet crate) reads it into Arrow and writes it back out,
// and that copy is compared too (so every value passed through parquet-wasm).
// usage: node compare.mjs --pg CONNINFO --file F --relation 'SQL relation' --key COL
//        [--where 'SQL condition']
// Exit 0 when every row and value matches; prints the differences otherwise.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const tools = process.env.TS_TOOLS_DIR || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../tools');
const require = createRequire(path.join(tools, 'package.json'));
const { DuckDBInstance } = require('@duckdb/node-api');
const wasm = require('parquet-wasm');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const { pg, file, relation, key } = args;
const where = args.where ? ` WHERE ${args.where}` : '';
const psql = process.env.PSQL || 'psql';

const qi = (s) => '"' + s.replace(/"/g, '""') + '"';
const sqlstr = (s) => "'" + s.replace(/'/g, "''") + "'";

const con = await (await DuckDBInstance.create(':memory:')).connect();
async function all(sql) { return (await con.runAndReadAll(sql)).getRowObjectsJS(); }

const kv = {};
for (const r of await all(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${sqlstr(file)})`)) kv[r.k] = r.v;
const cols = JSON.parse(kv['tsarchive.columns']);
const exceptions = kv['tsarchive.exceptions'] ? JSON.parse(kv['tsarchive.exceptions']) : {};

// PostgreSQL side: one canonical string per value.
function pgScalar(x, c) {
  const t = c.pg_type.replace(/\[\]$/, '');
  if (/^timestamp/.test(t)) return `CASE WHEN isfinite(${x}) THEN (extract(epoch FROM ${x}) * 1000000)::numeric(40,0)::text ELSE ${x}::text END`;
  if (t === 'date') return `CASE WHEN isfinite(${x}) THEN (${x} - date '1970-01-01')::text ELSE ${x}::text END`;
  if (t === 'bytea') return `encode(${x}, 'hex')`;
  if (c.mapping === 'text' || /^(json|jsonb|numeric|real|double|integer|smallint|bigint|boolean|uuid)/.test(t)) return `${x}::text`;
  return `to_json(${x}) #>> '{}'`;
}
function pgCanon(c) {
  const x = qi(c.name);
  if (c.mapping === 'text') return `${x}::text`;
  if (c.list) return `CASE WHEN ${x} IS NULL THEN NULL ELSE coalesce((SELECT json_agg(${pgScalar('e', c)} ORDER BY o) FROM unnest(${x}) WITH ORDINALITY u(e, o)), '[]')::text END`;
  return pgScalar(x, c);
}
const pgSql = `SET extra_float_digits = 3; SET TimeZone = 'UTC'; SELECT json_build_array(${cols.map(pgCanon).join(', ')}) FROM ${relation}${where}`;
const pgRows = execFileSync(psql, [pg, '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-c', pgSql], { maxBuffer: 1 << 30 })
  .toString().split('\n').filter((l) => l.length).map((l) => JSON.parse(l));

// DuckDB side.
function duckScalar(x, type) {
  if (/^TIMESTAMP/.test(type)) return `CASE WHEN ${x} = 'infinity' THEN 'infinity' WHEN ${x} = '-infinity' THEN '-infinity' ELSE epoch_us(${x})::VARCHAR END`;
  if (type === 'DATE') return `CASE WHEN ${x} = 'infinity'::DATE THEN 'infinity' WHEN ${x} = '-infinity'::DATE THEN '-infinity' ELSE (${x} - DATE '1970-01-01')::VARCHAR END`;
  if (type === 'BLOB') return `lower(hex(${x}))`;
  return `${x}::VARCHAR`;
}
async function duckRows(f) {
  const desc = await all(`DESCRIBE SELECT * FROM read_parquet(${sqlstr(f)})`);
  const exprs = desc.map((d) => {
    const x = qi(d.column_name);
    const m = /^(.*)\[\]$/.exec(d.column_type);
    if (m) return `CASE WHEN ${x} IS NULL THEN NULL ELSE to_json(list_transform(${x}, e -> ${duckScalar('e', m[1])}))::VARCHAR END`;
    return duckScalar(x, d.column_type);
  });
  const rows = await all(`SELECT ${exprs.map((e, i) => `${e} AS c${i}`).join(', ')} FROM read_parquet(${sqlstr(f)})`);
  return rows.map((r) => exprs.map((_, i) => r['c' + i]));
}

const normDec = (s) => { if (s === null) return null; let v = s.replace(/^(-?)\./, '$1' + '0.').replace(/^(-?)0+(?=\d)/, '$1'); if (v.includes('.')) v = v.replace(/0+$/, '').replace(/\.$/, ''); return v === '-0' ? '0' : v; };
const normFloat = (s, f4) => { if (s === null) return null; const l = s.toLowerCase(); let n = l === 'nan' ? NaN : l === 'inf' || l === 'infinity' ? Infinity : l === '-inf' || l === '-infinity' ? -Infinity : Number(s); if (f4) n = Math.fround(n); return Object.is(n, -0) ? '-0' : String(n); };
function same(c, a, b, isList) {
  if (a === null || b === null) return a === b;
  const t = c.pg_type.replace(/\[\]$/, '');
  if (c.list && !isList) {
    const x = JSON.parse(a), y = JSON.parse(b);
    return x.length === y.length && x.every((v, i) => same(c, v, y[i], true));
  }
  if (c.mapping === 'text') return a === b;
  // arrow-rs (parquet-wasm) reads the ENUM logical type as binary, so its copy holds bytes
  if (c.mapping === 'enum' && a !== b && /^[0-9a-f]*$/.test(b)) return Buffer.from(b, 'hex').toString('utf8') === a;
  if (/^numeric/.test(t)) return normDec(a) === normDec(b);
  if (t === 'real') return normFloat(a, true) === normFloat(b, true);
  if (t === 'double precision') return normFloat(a, false) === normFloat(b, false);
  if (t === 'uuid') return a.replace(/-/g, '') === b.replace(/-/g, '');
  if (t === 'boolean') return a.replace(/^t$/, 'true').replace(/^f$/, 'false') === b;
  if (t === 'jsonb' || t === 'json') return a === b;
  return a === b;
}

function compare(label, fileRows) {
  let bad = 0;
  const ki = cols.findIndex((c) => c.name === key);
  if (ki < 0) throw new Error(`no key column ${key}`);
  if (fileRows.length !== pgRows.length) { console.log(`${label}: ${fileRows.length} rows in the file, ${pgRows.length} in PostgreSQL`); bad++; }
  const byKey = new Map(pgRows.map((r) => [r[ki], r]));
  fileRows.forEach((fr, rowIndex) => {
    const pr = byKey.get(fr[ki]);
    if (!pr) { console.log(`${label}: row key ${fr[ki]} not in PostgreSQL`); bad++; return; }
    cols.forEach((c, i) => {
      let want = pr[i];
      const exc = (exceptions[c.name] || []).find((e) => e[0] === rowIndex);
      if (exc && label === 'duckdb') { // stored as NULL, exact value in the metadata
        if (fr[i] !== null) { console.log(`${label}: ${c.name} row ${rowIndex}: expected NULL for an exception entry`); bad++; }
        return;
      }
      if (exc) return;
      if (!same(c, want, fr[i], false)) { bad++; console.log(`${label}: key ${fr[ki]} column ${c.name} (${c.pg_type}): postgres ${JSON.stringify(want)} file ${JSON.stringify(fr[i])}`); }
    });
  });
  return bad;
}

let bad = compare('duckdb', await duckRows(file));
const nvalues = pgRows.length * cols.length;
// parquet-wasm: read everything into Arrow, write it back, compare that copy.
const bytes = new Uint8Array(readFileSync(file));
const table = wasm.readParquet(bytes);
const meta = wasm.readSchema(bytes).metadata();
if (String(meta.get('tsarchive.rows')) !== String(pgRows.length)) { console.log(`parquet-wasm: tsarchive.rows = ${meta.get('tsarchive.rows')}`); bad++; }
const copy = `${file}.wasm-copy.parquet`;
writeFileSync(copy, wasm.writeParquet(table));
try { bad += compare('parquet-wasm', await duckRows(copy)); } finally { unlinkSync(copy); }
console.log(`${bad ? 'FAIL' : 'ok'}: ${path.basename(file)}: ${pgRows.length} rows x ${cols.length} columns (${nvalues} values) compared with DuckDB and parquet-wasm${bad ? `, ${bad} differences` : ''}`);
process.exit(bad ? 1 : 0);
