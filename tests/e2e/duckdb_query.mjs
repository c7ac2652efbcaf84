// duckdb_query.mjs SQL: runs one query in DuckDB (in memory, its built-in Parquet
// reader) and prints the rows as tab-separated text, for the shell tests.
import { createRequire } from 'node:module';

// the test tools live in tools/node_modules (scripts/deps installs them)
const require = createRequire(new URL('../../tools/package.json', import.meta.url));
const { DuckDBInstance } = require('@duckdb/node-api');

const sql = process.argv[2];
if (!sql) {
    console.error('usage: duckdb_query.mjs SQL');
    process.exit(2);
}
try {
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const res = await con.runAndReadAll(sql);
    for (const row of res.getRows())
        console.log(row.map((v) => (v === null ? '\\N' : String(v))).join('\t'));
} catch (e) {
    console.error(`duckdb: ${e.message}`);
    process.exit(1);
}
