// duckdb_lake.mjs DIR SQL: what a reader of the archive sees, through DuckDB: every
// Delta table under the local folder DIR (each folder holding a _delta_log/), read by
// the recipe of docs/delta.md (tests/delta/duckdb_delta.mjs: the live files from the
// log with DuckDB's JSON reader, then read_parquet over them). SQL reads the views
//   lake        every live file's rows, with `filename` (union_by_name)
//   lake_files  (tbl, file, version): the live files
// and its rows are printed tab-separated. Files the logs do not name are never read.
// LAKE_TABLE=SUFFIX keeps only the tables whose folder ends with it ("public.a1"): two
// tables whose columns share a name but not a type cannot be one union_by_name view.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { deltaLiveFiles } from '../delta/duckdb_delta.mjs';

const require = createRequire(new URL('../../tools/package.json', import.meta.url));
const { DuckDBInstance } = require('@duckdb/node-api');

const quote = (s) => `'${String(s).replaceAll("'", "''")}'`;

function tables(dir) {
    const out = [];
    const walk = (d) => {
        let ents = [];
        try {
            ents = fs.readdirSync(d, { withFileTypes: true });
        } catch {
            return;
        }
        if (ents.some((e) => e.isDirectory() && e.name === '_delta_log')) out.push(d);
        for (const e of ents) if (e.isDirectory() && e.name !== '_delta_log') walk(path.join(d, e.name));
    };
    walk(dir);
    return out.sort();
}

const [dir, sql] = process.argv.slice(2);
if (!dir || !sql) {
    console.error('usage: duckdb_lake.mjs DIR SQL');
    process.exit(2);
}
try {
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const rows = [];
    const files = [];
    const only = process.env.LAKE_TABLE;
    for (const t of tables(dir).filter((t) => !only || t.endsWith(`/${only}`))) {
        for (const f of await deltaLiveFiles(con, t)) {
            files.push(f);
            rows.push(`(${quote(path.relative(dir, t))}, ${quote(f)})`);
        }
    }
    await con.run(`CREATE TABLE lake_files (tbl VARCHAR, file VARCHAR)`);
    if (rows.length) await con.run(`INSERT INTO lake_files VALUES ${rows.join(', ')}`);
    if (files.length)
        await con.run(`CREATE VIEW lake AS SELECT * FROM read_parquet([${files.map(quote).join(', ')}],
                       union_by_name = true, filename = true)`);
    else await con.run(`CREATE VIEW lake AS SELECT NULL AS filename WHERE false`);
    const res = await con.runAndReadAll(sql);
    for (const row of res.getRows()) console.log(row.map((v) => (v === null ? '\\N' : String(v))).join('\t'));
} catch (e) {
    console.error(`duckdb_lake: ${e.message}`);
    process.exit(1);
}
