// duck_write.mjs: DuckDB's side of bench/parquet_write.
//   node duck_write.mjs gen DBFILE ROWS          generate the rows once into DBFILE
//   node duck_write.mjs write DBFILE CODEC ROW_GROUP OUT [CHECK_FILE]
//     (DBFILE may be a .parquet file: its rows are loaded instead)
// The rows come from the same integer formulas as pq_write_bench.c (MINSTD hashes of
// the row number; the random walk is an exact integer running sum divided by 1000), so
// both writers get identical data; CHECK_FILE (a tsarchive file) is compared with the
// table row by row to prove it. "write" loads the table into memory, then times only
// COPY ... TO parquet with SET threads = 1. Prints one JSON line.
import { createRequire } from 'module';
import fs from 'fs';

const require = createRequire(new URL('../../tools/package.json', import.meta.url));
const { DuckDBInstance } = require('@duckdb/node-api');

const [mode, dbfile, ...rest] = process.argv.slice(2);
const inst = await DuckDBInstance.create(':memory:');
const con = await inst.connect();
const run = (sql) => con.run(sql);
const one = async (sql) => (await con.runAndReadAll(sql)).getRowObjects()[0];
await run('SET threads = 1');
await run("SET TimeZone = 'UTC'");

if (mode === 'gen') {
  const rows = BigInt(rest[0] ?? '10000000');
  const h = (k) => `((((i * 4 + ${k} + 1) * 48271) % 2147483647) * 48271) % 2147483647`;
  await run(`ATTACH '${dbfile}' AS disk`);
  await run(`CREATE OR REPLACE TABLE disk.t AS
    SELECT make_timestamp(1700000000000000 + i * 1000000 + ${h(0)} % 200000 - 100000)::TIMESTAMPTZ AS ts,
           (${h(1)} % 1000 + 1)::INTEGER AS device_id,
           (sum(${h(2)} % 2001 - 1000) OVER (ORDER BY i ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))::DOUBLE
             / 1000.0 AS value,
           CASE WHEN ${h(3)} % 100 < 80 THEN 'ok' WHEN ${h(3)} % 100 < 90 THEN 'warn'
                WHEN ${h(3)} % 100 < 95 THEN 'error' WHEN ${h(3)} % 100 < 98 THEN 'offline'
                ELSE 'maintenance' END AS status
    FROM range(${rows}) r(i) ORDER BY i`);
  await run('DETACH disk');
  console.log(JSON.stringify({ generated: Number(rows), db: dbfile }));
} else if (mode === 'write') {
  const [codec, rg, out, check] = rest;
  if (dbfile.endsWith('.parquet')) { // a Parquet file's rows (bench/export's wide table)
    await run(`CREATE TABLE t AS SELECT * FROM read_parquet('${dbfile}')`);
  } else {
    await run(`ATTACH '${dbfile}' AS disk (READ_ONLY)`);
    await run('CREATE TABLE t AS SELECT * FROM disk.t');
    await run('DETACH disk');
  }
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await run(`COPY t TO '${out}' (FORMAT parquet, COMPRESSION ${codec}, ROW_GROUP_SIZE ${BigInt(rg)})`);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cu = process.cpuUsage(c0);
  const rows = Number((await one('SELECT count(*) AS n FROM t')).n);
  const rgs = Number((await one(`SELECT count(DISTINCT row_group_id) AS n FROM parquet_metadata('${out}')`)).n);
  const res = { writer: 'duckdb', codec, rows, seconds: secs, cpu_seconds: (cu.user + cu.system) / 1e6,
    bytes: fs.statSync(out).size, row_groups: rgs };
  if (check) {
    const d = await one(`SELECT (SELECT count(*) FROM (SELECT * FROM t EXCEPT ALL SELECT * FROM '${check}')) +
                                (SELECT count(*) FROM (SELECT * FROM '${check}' EXCEPT ALL SELECT * FROM t)) AS d`);
    res.rows_differing_from_tsarchive = Number(d.d);
  }
  console.log(JSON.stringify(res));
} else {
  console.error('usage: duck_write.mjs gen DBFILE ROWS | write DBFILE CODEC ROW_GROUP OUT [CHECK]');
  process.exit(2);
}
