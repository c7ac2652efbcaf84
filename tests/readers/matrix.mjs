// matrix.mjs: the CTest driver of the reader-compatibility matrix. Runs pq_matrix_gen,
// then duckdb.mjs, parquet_wasm.mjs and hyparquet.mjs over its output (in parallel), and
// fails on any mismatch, on a limitation that showed up without being listed in
// limitations.mjs, on a listed limitation that did not show up (the list stays honest),
// and when docs/parquet-compat.md and limitations.mjs disagree. Exits 77 (skip), loudly,
// when the readers are not installed.
// Usage: node matrix.mjs --gen PATH/pq_matrix_gen --out DIR [--tools DIR] [--docs FILE]
//        node matrix.mjs --out DIR --no-gen     (re-read an existing matrix)
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, toolsDir, MissingToolError, SKIP, loadIndex, loadExpected } from './common.mjs';
import { LIMITATIONS, key } from './limitations.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const READERS = [['duckdb', 'duckdb.mjs'], ['parquet-wasm', 'parquet_wasm.mjs'], ['hyparquet', 'hyparquet.mjs']];

function runReader(script, out, tools) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(HERE, script), out, '--tools', tools, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Limitation keys (reader:feature) in the table of docs/parquet-compat.md. */
function docKeys(path) {
  const keys = new Set();
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf('<!-- limitations:begin -->');
  const end = text.indexOf('<!-- limitations:end -->');
  if (start < 0 || end < 0) throw new Error(`${path} lacks the <!-- limitations:begin/end --> markers`);
  for (const line of text.slice(start, end).split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 4 || cells[1] === 'reader' || /^-+$/.test(cells[1])) continue;
    keys.add(`${cells[1].replaceAll('`', '')}:${cells[2].replaceAll('`', '')}`);
  }
  return keys;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const out = args.out;
  if (!out) {
    console.error('usage: node matrix.mjs --gen PATH --out DIR [--tools DIR] [--docs FILE]');
    return 2;
  }
  const t0 = Date.now();
  let tools;
  try {
    tools = toolsDir(args);
    for (const pkg of ['@duckdb/node-api', 'parquet-wasm', 'hyparquet', 'hyparquet-compressors']) {
      if (!existsSync(join(tools, 'node_modules', pkg, 'package.json'))) throw new MissingToolError(`package "${pkg}" is not installed in ${tools}/node_modules (run "npm ci" in tools/)`);
    }
  } catch (e) {
    if (e instanceof MissingToolError) {
      console.log(`SKIPPED: the Parquet readers are not installed: ${e.message}`);
      return SKIP;
    }
    throw e;
  }

  if (!args['no-gen']) {
    rmSync(out, { recursive: true, force: true });
    const g = spawnSync(args.gen, [out], { encoding: 'utf8' });
    process.stdout.write(g.stdout || '');
    process.stdout.write(g.stderr || '');
    if (g.status !== 0) {
      console.log(`FAIL pq_matrix_gen exited with ${g.status}${g.error ? `: ${g.error.message}` : ''}`);
      return 1;
    }
  }
  const tGen = Date.now();

  const index = loadIndex(out);
  let nCols = 0;
  let nValues = 0;
  const cover = new Set();
  const dims = { encoding: new Set(), codec: new Set(), layout: new Set(), kind: new Set(), repetition: new Set() };
  for (const entry of index) {
    const exp = loadExpected(out, entry);
    for (const d of ['encoding', 'codec', 'layout']) dims[d].add(exp[d]);
    for (const c of exp.columns) {
      nCols++;
      nValues += c.values.length;
      dims.kind.add(c.kind);
      dims.repetition.add(c.repetition);
      cover.add(`${exp.encoding}/${c.kind}/${c.repetition}`);
    }
  }
  console.log(`matrix: ${index.length} files, ${nCols} columns, ${nValues} rows of column values; ` +
    `${dims.kind.size} kinds x ${dims.repetition.size} repetitions x ${dims.encoding.size} encodings x ${dims.codec.size} codecs x ${dims.layout.size} layouts ` +
    `(${cover.size} encoding/kind/repetition combinations)`);

  const results = await Promise.all(READERS.map(([, s]) => runReader(s, out, tools)));
  const tRead = Date.now();
  let failed = 0;
  let passed = 0;
  const observed = new Map(); // key -> files
  for (let i = 0; i < READERS.length; i++) {
    const [reader] = READERS[i];
    const r = results[i];
    const lines = r.stdout.split('\n');
    const jsonLine = lines.find((l) => l.startsWith('@@JSON '));
    console.log(`\n==== ${reader} ====`);
    console.log(lines.filter((l) => !l.startsWith('@@JSON ')).join('\n').trimEnd());
    if (r.stderr.trim()) console.log(r.stderr.trimEnd());
    if (r.code === SKIP) {
      console.log(`SKIPPED: ${reader} is not installed`);
      return SKIP;
    }
    if (!jsonLine) {
      console.log(`FAIL ${reader}: the script crashed (exit ${r.code})`);
      failed++;
      continue;
    }
    for (const f of JSON.parse(jsonLine.slice(7))) {
      if (f.ok) passed++;
      else failed++;
      for (const feat of Object.keys(f.limits)) {
        const k = `${reader}:${feat}`;
        if (!observed.has(k)) observed.set(k, []);
        observed.get(k).push({ file: f.file, detail: f.limits[feat][0] });
      }
    }
  }

  // The known-limitation list must stay honest both ways.
  console.log('\n==== known reader limitations (docs/parquet-compat.md) ====');
  let honesty = 0;
  for (const l of LIMITATIONS) {
    const k = key(l);
    const seen = observed.get(k);
    if (seen) {
      console.log(`LIMITATION ${k}: ${l.text} -- seen in ${seen.length} file(s), e.g. ${seen[0].file}: ${seen[0].detail}`);
    } else {
      console.log(`FAIL stale limitation ${k}: listed but the reader did not show it in any file (remove it from limitations.mjs and docs/parquet-compat.md)`);
      honesty++;
    }
  }
  for (const [k, seen] of observed) {
    if (!LIMITATIONS.some((l) => key(l) === k)) {
      console.log(`FAIL unlisted limitation ${k}: seen in ${seen.length} file(s), e.g. ${seen[0].file}: ${seen[0].detail}`);
      honesty++;
    }
  }
  if (args.docs) {
    const doc = docKeys(args.docs);
    const code = new Set(LIMITATIONS.map(key));
    for (const k of code) if (!doc.has(k)) { console.log(`FAIL ${k} is in limitations.mjs but not in ${args.docs}`); honesty++; }
    for (const k of doc) if (!code.has(k)) { console.log(`FAIL ${k} is in ${args.docs} but not in limitations.mjs`); honesty++; }
  }
  failed += honesty;
  passed += LIMITATIONS.length - Math.min(honesty, LIMITATIONS.length);

  console.log(`\ntimes: generate ${((tGen - t0) / 1000).toFixed(1)} s, read ${((tRead - tGen) / 1000).toFixed(1)} s`);
  console.log(`readers: ${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
