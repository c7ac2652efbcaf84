// readers_rows.mjs FILE...: reads each Parquet file whole with two readers nobody here
// wrote, parquet-wasm (Rust's parquet crate) and hyparquet, and prints
// "<file>\t<rows by parquet-wasm>\t<rows by hyparquet>" (an error instead of a count
// when a reader fails). For the end-to-end tests: the archive's objects, not only the
// writer's test matrix, are read by both.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { importTool, toolPath, toolsDir } from '../readers/common.mjs';

const files = process.argv.slice(2);
if (!files.length) {
    console.error('usage: readers_rows.mjs FILE...');
    process.exit(2);
}
const tools = toolsDir({});
const pw = await import(pathToFileURL(toolPath(tools, 'parquet-wasm', 'node/parquet_wasm.js')).href);
const hp = await importTool(tools, 'hyparquet');
const hc = await importTool(tools, 'hyparquet-compressors');
let failed = 0;
for (const f of files) {
    const bytes = new Uint8Array(readFileSync(f));
    let a, b;
    try {
        const t = pw.readParquet(bytes);
        a = 0;
        for (let i = 0; i < t.numBatches; i++) a += t.recordBatch(i).numRows;
        t.free();
    } catch (e) {
        a = `error: ${String(e.message || e).split('\n')[0]}`;
        failed++;
    }
    try {
        const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
        const rows = await hp.parquetReadObjects({ file: ab, compressors: hc.compressors });
        b = rows.length;
    } catch (e) {
        b = `error: ${String(e.message || e).split('\n')[0]}`;
        failed++;
    }
    console.log(`${f}\t${a}\t${b}`);
}
process.exitCode = failed ? 1 : 0;
