// make_corpus.mjs: regenerates the fuzzers' seed corpus (small files, a few KB each):
// corpus/reader/ gets Parquet files written by DuckDB (each codec, data page v1 and v2,
// dictionary and delta encodings, NULLs and lists); corpus/thrift/ gets their footers
// and first page headers, prefixed with the selector byte fuzz_thrift.c expects.
//   node tests/fuzz/make_corpus.mjs [TOOLS_DIR]
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const tools = process.argv[2] || path.join(here, '..', '..', 'tools');
const duckdb = createRequire(path.join(tools, 'package.json'))('@duckdb/node-api');
const rdir = path.join(here, 'corpus', 'reader'), tdir = path.join(here, 'corpus', 'thrift');
fs.mkdirSync(rdir, { recursive: true });
fs.mkdirSync(tdir, { recursive: true });

const inst = await duckdb.DuckDBInstance.create(':memory:');
const con = await inst.connect();
const sql = (n) => `SELECT i::INTEGER id, CASE WHEN i % 3 = 0 THEN NULL ELSE i % 2 = 0 END b,
  CASE WHEN i % 4 = 0 THEN NULL ELSE 's' || i END s, 'k' || (i % 2) k, i / 3.0 d, (i / 7.0)::FLOAT f,
  (i * 1.5)::DECIMAL(38,10) dec38, (i - 2)::DECIMAL(9,2) dec9, md5(i::VARCHAR)::UUID u,
  to_timestamp(i * 1000.0) ts, DATE '1969-12-30' + i::INTEGER dt,
  CASE WHEN i % 3 = 0 THEN NULL WHEN i % 3 = 1 THEN []::INTEGER[] ELSE [i, NULL] END li,
  ['x' || i, NULL] ls
  FROM range(${n}) t(i)`;
let k = 0;
for (const codec of ['uncompressed', 'snappy', 'gzip', 'zstd', 'lz4_raw'])
  for (const ver of ['v1', 'v2']) {
    const f = path.join(rdir, `duckdb_${codec}_${ver}.parquet`);
    await con.run(`COPY (${sql(6)}) TO '${f}' (FORMAT parquet, COMPRESSION ${codec}, PARQUET_VERSION ${ver}, ROW_GROUP_SIZE 4)`);
  }
await con.run(`COPY (SELECT 1::INTEGER a) TO '${path.join(rdir, 'duckdb_tiny.parquet')}' (FORMAT parquet, COMPRESSION uncompressed)`);
await con.run(`COPY (${sql(0)}) TO '${path.join(rdir, 'duckdb_empty.parquet')}' (FORMAT parquet)`);
await con.run(`COPY (SELECT {'a': 1, 'b': [2]} st, MAP {'k': 1} m FROM range(2)) TO '${path.join(rdir, 'duckdb_nested.parquet')}' (FORMAT parquet)`);

for (const name of fs.readdirSync(rdir)) {
  const buf = fs.readFileSync(path.join(rdir, name));
  if (buf.length < 12) continue;
  const flen = buf.readUInt32LE(buf.length - 8);
  const footer = buf.subarray(buf.length - 8 - flen, buf.length - 8);
  const base = name.replace(/\.parquet$/, '');
  fs.writeFileSync(path.join(tdir, `${base}_footer`), Buffer.concat([Buffer.from([0]), footer]));
  fs.writeFileSync(path.join(tdir, `${base}_skip`), Buffer.concat([Buffer.from([2]), footer]));
  fs.writeFileSync(path.join(tdir, `${base}_page`), Buffer.concat([Buffer.from([1]), buf.subarray(4, 4 + 48)]));
  k++;
}
console.log(`corpus: ${fs.readdirSync(rdir).length} reader seeds, ${fs.readdirSync(tdir).length} thrift seeds`);
