// duckdb_delta.mjs: the DuckDB recipe for a tsarchive Delta table (docs/delta.md), with
// DuckDB's built-in JSON and Parquet readers only (no delta extension): the live files
// are the latest action per path in _delta_log/NNNNNNNNNNNNNNNNNNNN.json, an add, and
// the table is read_parquet over exactly those files.
//
// As a module (other tests import it):
//   import { deltaLiveFilesSql, deltaLiveFiles, deltaScan } from './duckdb_delta.mjs';
//   const files = await deltaLiveFiles(con, '/lake/c1/metrics/public.m');
//   const scan = deltaScan(files);   // "read_parquet([...], union_by_name = true)"
// As a command:
//   node duckdb_delta.mjs TABLE_DIR [SQL]
// prints {"version", "files", "rows"} as JSON, or, given SQL that reads the view
// `delta`, its rows as tab-separated lines. Exit 1 on any error.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(new URL('../../tools/package.json', import.meta.url));
const { DuckDBInstance } = require('@duckdb/node-api');

const quote = (s) => `'${String(s).replaceAll("'", "''")}'`;

// SQL giving (file, version) for every live data file of the table at tableDir (a local
// folder), sorted by file. Paths in the log are URI-encoded and relative to the table.
export function deltaLiveFilesSql(tableDir) {
    const dir = tableDir.replace(/\/+$/, '');
    return `
WITH log AS (
  SELECT CAST(regexp_extract(filename, '(\\d{20})\\.json$', 1) AS BIGINT) AS version, add, remove
  FROM read_ndjson(${quote(dir + '/_delta_log/*.json')},
                   columns = {'add': 'STRUCT(path VARCHAR)', 'remove': 'STRUCT(path VARCHAR)'},
                   filename = true)
  WHERE regexp_matches(filename, '/\\d{20}\\.json$')
),
actions AS (
  SELECT version, url_decode(add.path) AS path, true AS is_add FROM log WHERE add IS NOT NULL
  UNION ALL
  SELECT version, url_decode(remove.path) AS path, false AS is_add FROM log WHERE remove IS NOT NULL
)
SELECT ${quote(dir + '/')} || path AS file, max(version) AS version
FROM actions
GROUP BY path
HAVING arg_max(is_add, version)
ORDER BY file`;
}

// The live files (absolute paths) of the table at tableDir.
export async function deltaLiveFiles(con, tableDir) {
    const res = await con.runAndReadAll(deltaLiveFilesSql(tableDir));
    return res.getRows().map((r) => r[0]);
}

// The newest version in the log, -1 when there is none.
export async function deltaVersion(con, tableDir) {
    const dir = tableDir.replace(/\/+$/, '');
    const res = await con.runAndReadAll(
        `SELECT coalesce(max(CAST(regexp_extract(file, '(\\d{20})\\.json$', 1) AS BIGINT)), -1)
         FROM glob(${quote(dir + '/_delta_log/*.json')})
         WHERE regexp_matches(file, '/\\d{20}\\.json$')`);
    return Number(res.getRows()[0][0]);
}

// A table expression over the files (NULL-filled columns for files that predate a
// column), or null when there is no live file.
export function deltaScan(files) {
    if (!files.length)
        return null;
    return `read_parquet([${files.map(quote).join(', ')}], union_by_name = true)`;
}

async function main() {
    const [dir, sql] = process.argv.slice(2);
    if (!dir) {
        console.error('usage: duckdb_delta.mjs TABLE_DIR [SQL over the view "delta"]');
        process.exit(2);
    }
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const files = await deltaLiveFiles(con, dir);
    const scan = deltaScan(files);
    if (sql) {
        if (!scan)
            throw new Error(`table ${dir} has no live file`);
        await con.run(`CREATE VIEW delta AS SELECT * FROM ${scan}`);
        const res = await con.runAndReadAll(sql);
        for (const row of res.getRows())
            console.log(row.map((v) => (v === null ? '\\N' : String(v))).join('\t'));
        return;
    }
    let rows = 0;
    if (scan) {
        const res = await con.runAndReadAll(`SELECT count(*) FROM ${scan}`);
        rows = Number(res.getRows()[0][0]);
    }
    console.log(JSON.stringify({ version: await deltaVersion(con, dir), files, rows }));
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
    try {
        await main();
    } catch (e) {
        console.error(`duckdb_delta: ${e.message}`);
        process.exit(1);
    }
}
