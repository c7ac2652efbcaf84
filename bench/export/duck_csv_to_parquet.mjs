// duck_csv_to_parquet.mjs: the hand-built pipeline bench/export compares against:
// CSV from stdin (psql COPY ... TO STDOUT (FORMAT csv)) into DuckDB, written as Parquet.
// usage: psql -c "COPY (...) TO STDOUT (FORMAT csv)" | node duck_csv_to_parquet.mjs OUT CODEC
import { createRequire } from 'node:module';
import path from 'node:path';
const tools = process.env.TS_TOOLS_DIR || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../tools');
const require = createRequire(path.join(tools, 'package.json'));
const { DuckDBInstance } = require('@duckdb/node-api');
const [out, codec] = process.argv.slice(2);
const con = await (await DuckDBInstance.create(':memory:')).connect();
await con.run(`COPY (SELECT * FROM read_csv('/dev/stdin', header = false,
  columns = {'ts': 'TIMESTAMPTZ', 'device': 'INTEGER', 'value': 'DOUBLE', 'note': 'VARCHAR'}))
  TO '${out.replace(/'/g, "''")}' (FORMAT parquet, COMPRESSION ${codec})`);
