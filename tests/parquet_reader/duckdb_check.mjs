// duckdb_check.mjs: writes reference Parquet files with DuckDB (every type it maps to
// Parquet, NULLs, lists, each codec, data page v1 and v2, several row groups, zero and
// one row), reads each back with tsarchive's reader (the pq_dump test program) and
// with DuckDB, and compares value by value and the logical type of every column.
// With --cli (the tsarchive binary: its `parquet cat` and `parquet inspect`), also checks that
// `cat` prints timestamps, dates, decimals, UUIDs, bytes, floats and lists as promised
// and that `inspect` reports what DuckDB's parquet_metadata() reports.
//   node duckdb_check.mjs --dump PATH/pq_dump --tools /work/main/tools --out DIR [--cli PATH]
// Exit 0: all equal; 1: a mismatch; 77: skipped (the node modules are missing).
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
if (!args.dump || !args.tools || !args.out) {
  console.error('usage: node duckdb_check.mjs --dump PQ_DUMP --tools TOOLS_DIR --out DIR');
  process.exit(2);
}
let duckdb;
try {
  duckdb = createRequire(path.join(args.tools, 'package.json'))('@duckdb/node-api');
} catch (e) {
  console.log(`SKIP: @duckdb/node-api is not installed under ${args.tools}/node_modules ` +
              `(run scripts/deps): ${e.message.split('\n')[0]}`);
  process.exit(77);
}
fs.mkdirSync(args.out, { recursive: true });

const inst = await duckdb.DuckDBInstance.create(':memory:');
const con = await inst.connect();
await con.run('SET threads = 1');
await con.run("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')");
const rows = async (sql) => (await con.runAndReadAll(sql)).getRowsJson();

const ALL_TYPES = (n) => `
SELECT
  i::INTEGER AS id,
  CASE WHEN i % 7 = 0 THEN NULL ELSE i % 2 = 0 END AS b,
  CASE WHEN i % 5 = 0 THEN NULL ELSE (i % 256 - 128)::TINYINT END AS i8,
  (i * 37 % 65536 - 32768)::SMALLINT AS i16,
  CASE WHEN i % 11 = 0 THEN NULL WHEN i = 1 THEN -2147483648 WHEN i = 2 THEN 2147483647
       ELSE (hash(i) % 4294967296)::BIGINT - 2147483648 END::INTEGER AS i32,
  CASE WHEN i = 1 THEN -9223372036854775808 WHEN i = 2 THEN 9223372036854775807
       WHEN i % 3 = 0 THEN NULL ELSE ((hash(i) >> 1)::BIGINT) * (CASE WHEN i % 2 = 0 THEN 1 ELSE -1 END) END AS i64,
  (i % 256)::UTINYINT AS u8, (i * 7 % 65536)::USMALLINT AS u16,
  (hash(i) % 4294967296)::UINTEGER AS u32, hash(i)::UBIGINT AS u64,
  CASE WHEN i % 13 = 0 THEN NULL ELSE (i / 7.0)::FLOAT END AS f32,
  CASE i % 17 WHEN 0 THEN 'nan'::DOUBLE WHEN 1 THEN 'inf'::DOUBLE WHEN 2 THEN '-inf'::DOUBLE
       WHEN 3 THEN NULL ELSE i * 1.000001 - 1000 END AS f64,
  CASE WHEN i % 9 = 0 THEN NULL WHEN i % 9 = 1 THEN '' ELSE 'str ' || i || ' ü€😀' END AS s,
  'low' || (i % 5) AS s_dict,
  CASE WHEN i % 6 = 0 THEN NULL ELSE ('\\x00\\xFFab' || i)::BLOB END AS bl,
  DATE '1970-01-01' + (i * 13 - 20000)::INTEGER AS d,
  TIMESTAMP '1900-01-01' + to_seconds(i * 1234567) AS ts,
  to_timestamp(i * 1000003.0 - 500000000) AS tstz,
  (TIMESTAMP '2000-01-01' + to_seconds(i))::TIMESTAMP_MS AS ts_ms,
  (TIMESTAMP '2262-01-01' - to_seconds(i))::TIMESTAMP_NS AS ts_ns,
  TIME '00:00:00' + to_seconds(i % 86400) AS t,
  (((i % 19999) - 9999) / 100.0)::DECIMAL(4,2) AS dec4,
  CASE WHEN i % 4 = 0 THEN NULL ELSE ((i - 1500) * 1234567.891)::DECIMAL(18,3) END AS dec18,
  CASE WHEN i = 1 THEN '-9999999999999999999999999999.9999999999'::DECIMAL(38,10)
       WHEN i = 2 THEN '9999999999999999999999999999.9999999999'::DECIMAL(38,10)
       ELSE ((i - 1000) * 1.5)::DECIMAL(38,10) END AS dec38,
  md5(i::VARCHAR)::UUID AS u,
  ['sad', 'ok', 'happy'][i % 3 + 1]::mood AS e,
  CASE WHEN i % 10 = 0 THEN NULL WHEN i % 10 = 1 THEN []::INTEGER[] ELSE [i, NULL, i * 2]::INTEGER[] END AS li,
  CASE WHEN i % 8 = 0 THEN NULL WHEN i % 8 = 1 THEN []::VARCHAR[] ELSE ['a' || i, NULL, ''] END AS ls,
  [i::DOUBLE / 3] AS ld,
  CASE WHEN i % 3 = 0 THEN NULL ELSE [md5(i::VARCHAR)::UUID] END AS lu
FROM range(${n}) t(i)`;

const cases = [];
for (const codec of ['uncompressed', 'snappy', 'gzip', 'zstd', 'lz4_raw', 'lz4'])
  for (const ver of ['v1', 'v2'])
    cases.push({ name: `all_${codec}_${ver}`, sql: ALL_TYPES(3000), cli: codec === 'zstd' || codec === 'snappy',
                 opts: `COMPRESSION ${codec}, PARQUET_VERSION ${ver}, ROW_GROUP_SIZE 1024` });
cases.push({ name: 'zero_rows', sql: ALL_TYPES(0), opts: 'COMPRESSION zstd' });
cases.push({ name: 'one_row', sql: ALL_TYPES(1), opts: 'COMPRESSION snappy' });
cases.push({ name: 'big_pages', sql: ALL_TYPES(20000), opts: 'COMPRESSION zstd, ROW_GROUP_SIZE 60000' });
cases.push({ name: 'big_pages_v2', sql: ALL_TYPES(20000), opts: 'COMPRESSION snappy, PARQUET_VERSION v2, ROW_GROUP_SIZE 60000' });
// Must fail with a clear "not supported" naming the codec.
const unsupported = [{ name: 'brotli', sql: ALL_TYPES(10), opts: 'COMPRESSION brotli', expect: /BROTLI|brotli/ }];

function canonExpr(col, type) {
  const q = `"${col.replace(/"/g, '""')}"`;
  const one = (x, t) => {
    if (/^DECIMAL/.test(t)) return `${x}::VARCHAR`;
    if (/^(BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE)$/.test(t)) return `${x}::VARCHAR`;
    if (t === 'VARCHAR' || t === 'BLOB' || /^ENUM/.test(t)) return `lower(hex(${x}))`;
    if (t === 'DATE') return `(${x} - DATE '1970-01-01')::VARCHAR`;
    if (t === 'TIMESTAMP' || t === 'TIMESTAMP WITH TIME ZONE' || t === 'TIME') return `epoch_us(${x})::VARCHAR`;
    if (t === 'TIMESTAMP_MS') return `epoch_ms(${x})::VARCHAR`;
    if (t === 'TIMESTAMP_NS') return `epoch_ns(${x})::VARCHAR`;
    if (t === 'UUID') return `replace(${x}::VARCHAR, '-', '')`;
    throw new Error(`no canonical form for ${t}`);
  };
  const m = /^(.*)\[\]$/.exec(type);
  if (m) return `to_json(list_transform(${q}, e -> ${one('e', m[1])}))::VARCHAR`;
  return one(q, type);
}

// The logical type the reader must report for a DuckDB type (pq_logical values).
const LT = { NONE: 0, STRING: 1, ENUM: 2, JSON: 3, UUID: 4, DATE: 5, TIMESTAMP: 6, DECIMAL: 7, INT: 8, TIME: 10 };
function expectType(type) {
  const t = type.replace(/\[\]$/, '');
  const ints = { TINYINT: [8, true], SMALLINT: [16, true], INTEGER: [32, true], BIGINT: [64, true],
                 UTINYINT: [8, false], USMALLINT: [16, false], UINTEGER: [32, false], UBIGINT: [64, false] };
  if (ints[t]) return t === 'INTEGER' || t === 'BIGINT' ? { logical: [LT.NONE, LT.INT] }
                                                         : { logical: [LT.INT], bit_width: ints[t][0], is_signed: ints[t][1] };
  const d = /^DECIMAL\((\d+),(\d+)\)$/.exec(t);
  if (d) return { logical: [LT.DECIMAL], precision: +d[1], scale: +d[2] };
  switch (t) {
  case 'VARCHAR': return { logical: [LT.STRING] };
  case 'DATE': return { logical: [LT.DATE] };
  case 'UUID': return { logical: [LT.UUID] };
  case 'TIMESTAMP': return { logical: [LT.TIMESTAMP], ts_utc: false };
  case 'TIMESTAMP WITH TIME ZONE': return { logical: [LT.TIMESTAMP], ts_utc: true, time_unit: 1 };
  case 'TIMESTAMP_MS': return { logical: [LT.TIMESTAMP], time_unit: 0 };
  case 'TIMESTAMP_NS': return { logical: [LT.TIMESTAMP], time_unit: 2 };
  case 'TIME': return { logical: [LT.TIME], time_unit: 1 };
  default: return {};
  }
}

const num = (s) => (s === 'nan' ? NaN : s === 'inf' ? Infinity : s === '-inf' ? -Infinity : Number(s));
function same(a, e, physical) {
  if (a === null || e === null) return a === e;
  if (physical === 'FLOAT' || physical === 'DOUBLE') {
    let x = num(a), y = num(e);
    if (physical === 'FLOAT') { x = Math.fround(x); y = Math.fround(y); }
    return (Number.isNaN(x) && Number.isNaN(y)) || x === y;
  }
  return String(a).toLowerCase() === String(e).toLowerCase();
}

let failures = 0, checked = 0;

// Expected `parquet cat` text for a canonical value (see canonExpr) of a DuckDB type.
function catText(e, t) {
  if (e === null) return null;
  const pad = (n, w) => String(n).padStart(w, '0');
  const ts = (v, per, digits, z) => {
    const big = BigInt(v), p = BigInt(per);
    let secs = big / p, frac = big % p;
    if (frac < 0n) { frac += p; secs -= 1n; }
    const iso = new Date(Number(secs) * 1000).toISOString().slice(0, 19);
    return `${iso}.${pad(frac, digits)}${z ? 'Z' : ''}`;
  };
  switch (t) {
  case 'TIMESTAMP': return ts(e, 1000000, 6, false);
  case 'TIMESTAMP WITH TIME ZONE': return ts(e, 1000000, 6, true);
  case 'TIMESTAMP_NS': return ts(e, 1000000000, 9, false);
  case 'DATE': return new Date(Number(e) * 86400000).toISOString().slice(0, 10);
  case 'UUID': return `${e.slice(0, 8)}-${e.slice(8, 12)}-${e.slice(12, 16)}-${e.slice(16, 20)}-${e.slice(20)}`;
  case 'BLOB': return Buffer.from(e, 'hex').toString('base64');
  case 'VARCHAR': return Buffer.from(e, 'hex').toString('utf8');
  case 'DOUBLE': case 'FLOAT':
    return e === 'nan' ? 'NaN' : e === 'inf' ? 'Infinity' : e === '-inf' ? '-Infinity' : Number(e);
  default: return /^DECIMAL/.test(t) ? e : undefined;
  }
}

async function cliCheck(file, name, names, types, expected, readerCols) {
  let out;
  try {
    out = execFileSync(args.cli, ['parquet', 'cat', file, '--limit', '200'], { maxBuffer: 1 << 28 }).toString();
  } catch (e) { fail(`${name}: cli cat failed: ${e.stderr}`); return; }
  const lines = out.trim().split('\n');
  if (lines.length !== Math.min(200, expected.length)) fail(`${name}: cat --limit 200 printed ${lines.length} lines`);
  lines.forEach((line, r) => {
    const row = JSON.parse(line);
    names.forEach((n, k) => {
      const t = types[k], list = /\[\]$/.test(t), bt = t.replace(/\[\]$/, '');
      let want;
      if (list) {
        if (expected[r][k] === null) want = null;
        else {
          const el = JSON.parse(expected[r][k]).map((x) => (x === null ? null : catText(String(x), bt)));
          if (el.some((x) => x === undefined)) return;
          want = el;
        }
      } else {
        want = catText(expected[r][k], bt);
        if (want === undefined) return;
        // TIMESTAMP(MILLIS), which DuckDB reads as micros: 3 digits of fraction.
        if (readerCols[k].time_unit === 0 && want !== null && /^TIMESTAMP/.test(bt))
          want = want.replace(/(\.\d{3})\d{3}/, '$1');
      }
      const got = row[n];
      const eq = (a, b) => (typeof b === 'number' && typeof a === 'number'
        ? (bt === 'FLOAT' ? Math.fround(a) === Math.fround(b) : a === b) : a === b);
      const ok = Array.isArray(want) ? Array.isArray(got) && got.length === want.length && got.every((x, j) => eq(x, want[j]))
                                     : eq(got, want);
      checked++;
      if (!ok) fail(`${name} cat row ${r} ${n} (${t}): ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    });
  });
  const csv = execFileSync(args.cli, ['parquet', 'cat', file, '--limit', '3', '--format', 'csv']).toString().split('\n');
  if (csv[0] !== names.join(',')) fail(`${name}: csv header ${csv[0]}`);
  // inspect against DuckDB's own view of the footer
  const ins = JSON.parse(execFileSync(args.cli, ['parquet', 'inspect', file], { maxBuffer: 1 << 28 }).toString());
  const md = await rows(`SELECT row_group_id, column_id, compression, encodings, total_compressed_size,
      num_values, stats_null_count FROM parquet_metadata('${file}') ORDER BY row_group_id, column_id`);
  const rg = ins.row_groups;
  if (ins.num_rows !== expected.length) fail(`${name}: inspect num_rows ${ins.num_rows}`);
  for (const [g, col, codec, enc, csize, nv, nulls] of md) {
    const cm = rg[+g] && rg[+g].columns[+col];
    checked++;
    if (!cm) { fail(`${name}: inspect lacks row group ${g} column ${col}`); continue; }
    const mine = cm.encodings.filter((x) => x !== 'RLE' && x !== 'BIT_PACKED').sort().join(',');
    const theirs = enc.split(',').map((x) => x.trim()).filter((x) => x !== 'RLE' && x !== 'BIT_PACKED').sort().join(',');
    if (cm.codec.toUpperCase() !== codec || mine !== theirs || String(cm.compressed_size) !== csize ||
        String(cm.num_values) !== nv || (nulls !== null && cm.statistics && String(cm.statistics.null_count) !== nulls))
      fail(`${name}: inspect rg ${g} col ${col}: ${JSON.stringify(cm)} vs DuckDB ${[codec, enc, csize, nv, nulls]}`);
  }
  console.log(`ok ${name}: cat and inspect agree with DuckDB`);
}
const fail = (msg) => { failures++; if (failures <= 40) console.log(`FAIL ${msg}`); };

for (const c of cases) {
  const file = path.join(args.out, `${c.name}.parquet`);
  await con.run(`COPY (${c.sql}) TO '${file}' (FORMAT parquet, ${c.opts})`);
  const desc = await rows(`DESCRIBE SELECT * FROM read_parquet('${file}')`);
  const names = desc.map((r) => r[0]), types = desc.map((r) => r[1]);
  const exprs = names.map((n, i) => canonExpr(n, types[i]));
  const expected = await rows(`SELECT ${exprs.join(', ')} FROM read_parquet('${file}')`);
  let got;
  try {
    got = JSON.parse(execFileSync(args.dump, [file], { maxBuffer: 1 << 30 }).toString());
  } catch (e) {
    fail(`${c.name}: pq_dump failed: ${e.stderr ? e.stderr.toString() : e.message}`);
    continue;
  }
  if (got.rows.length !== expected.length || got.num_rows !== expected.length) {
    fail(`${c.name}: ${got.rows.length} rows (footer ${got.num_rows}), DuckDB reads ${expected.length}`);
    continue;
  }
  if (got.columns.length !== names.length) { fail(`${c.name}: ${got.columns.length} columns, expected ${names.length}`); continue; }
  got.columns.forEach((col, i) => {
    if (col.name !== names[i]) fail(`${c.name}: column ${i} is "${col.name}", expected "${names[i]}"`);
    if (col.list !== /\[\]$/.test(types[i])) fail(`${c.name}.${col.name}: list flag ${col.list} for ${types[i]}`);
    const want = expectType(types[i]);
    for (const [k, v] of Object.entries(want)) {
      const ok = k === 'logical' ? v.includes(col.logical) : col[k] === v;
      if (!ok) fail(`${c.name}.${col.name} (${types[i]}): ${k} = ${JSON.stringify(col[k])}, expected ${JSON.stringify(v)}`);
    }
  });
  for (let r = 0; r < expected.length; r++) {
    for (let k = 0; k < names.length; k++) {
      const phys = got.columns[k].physical;
      let a = got.rows[r][k];
      // DuckDB reads TIMESTAMP(MILLIS) as TIMESTAMP (micros): scale the raw value.
      if (got.columns[k].logical === LT.TIMESTAMP && got.columns[k].time_unit === 0 && a !== null &&
          /^TIMESTAMP( WITH TIME ZONE)?$/.test(types[k])) a = String(BigInt(a) * 1000n);
      let e = expected[r][k];
      checked++;
      if (got.columns[k].list) {
        e = e === null ? null : JSON.parse(e);
        if (a === null || e === null) { if (a !== e) fail(`${c.name} row ${r} ${names[k]}: ${JSON.stringify(a)} != ${JSON.stringify(e)}`); continue; }
        if (a.length !== e.length || a.some((x, j) => !same(x, e[j] === null ? null : String(e[j]), phys)))
          fail(`${c.name} row ${r} ${names[k]}: ${JSON.stringify(a)} != ${JSON.stringify(e)}`);
      } else if (!same(a, e, phys)) {
        fail(`${c.name} row ${r} ${names[k]}: ${JSON.stringify(a)} != ${JSON.stringify(e)}`);
      }
    }
  }
  console.log(`ok ${c.name}: ${expected.length} rows x ${names.length} columns`);
  if (args.cli && c.cli) await cliCheck(file, c.name, names, types, expected, got.columns);
}

for (const c of unsupported) {
  const file = path.join(args.out, `${c.name}.parquet`);
  await con.run(`COPY (${c.sql}) TO '${file}' (FORMAT parquet, ${c.opts})`);
  try {
    execFileSync(args.dump, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
    fail(`${c.name}: read without error, expected a clear "not supported"`);
  } catch (e) {
    const msg = e.stderr ? e.stderr.toString() : '';
    if (!c.expect.test(msg)) fail(`${c.name}: unclear error: ${msg}`);
    else console.log(`ok ${c.name}: refused as expected: ${msg.trim()}`);
  }
}

console.log(`${checked} values compared, ${failures} failures`);
process.exit(failures ? 1 : 0);
