// common.mjs: what the three reader scripts share: finding tools/node_modules, loading
// the matrix (index.json + one expected JSON per file), the canonical value forms every
// reader's output is brought to, expected statistics, and the per-file verdict.
//
// Canonical forms: null; list -> array; BOOLEAN -> boolean; every integer-based kind
// (INT*, DATE days, TIMESTAMP micros, DECIMAL unscaled) -> BigInt; FLOAT/DOUBLE ->
// Number (NaN, +/-Infinity and -0 kept); strings -> string; BYTE_ARRAY/FLBA/UUID ->
// lowercase hex.
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname, resolve } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

export const SKIP = 77;

/** Thrown when a reader's npm package cannot be found: the scripts exit SKIP, loudly. */
export class MissingToolError extends Error {}

export function parseArgs(argv) {
  const args = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const key = a.slice(2);
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) args[key] = true;
      else { args[key] = next; i++; }
    } else {
      args._.push(a);
    }
  }
  return args;
}

/** tools/ holding node_modules: --tools, $TSARCHIVE_TOOLS, $NODE_PATH, or ../../tools. */
export function toolsDir(args = {}) {
  const cands = [];
  if (typeof args.tools === 'string') cands.push(args.tools);
  if (process.env.TSARCHIVE_TOOLS) cands.push(process.env.TSARCHIVE_TOOLS);
  for (const p of (process.env.NODE_PATH || '').split(':').filter(Boolean)) cands.push(dirname(p));
  cands.push(resolve(dirname(fileURLToPath(import.meta.url)), '../../tools'));
  for (const c of cands) if (existsSync(join(c, 'node_modules'))) return resolve(c);
  throw new MissingToolError(`no node_modules found in any of: ${cands.join(', ')} (run "npm ci" in tools/)`);
}

/** Imports an npm package installed under tools/node_modules (ESM or CommonJS). */
export async function importTool(tools, name) {
  const req = createRequire(join(tools, 'package.json'));
  let path;
  try {
    path = req.resolve(name);
  } catch (e) {
    throw new MissingToolError(`package "${name}" is not installed in ${tools}/node_modules (run "npm ci" in tools/): ${e.message}`);
  }
  return import(pathToFileURL(path).href);
}

/** Resolves a file inside an installed package (for subpath modules). */
export function toolPath(tools, pkg, sub) {
  const p = join(tools, 'node_modules', pkg, sub);
  if (!existsSync(p)) throw new MissingToolError(`"${pkg}/${sub}" is missing from ${tools}/node_modules (run "npm ci" in tools/)`);
  return p;
}

export function loadIndex(dir) {
  return JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')).files;
}

export function loadExpected(dir, entry) {
  return JSON.parse(readFileSync(join(dir, entry.expected), 'utf8'));
}

// ---- kinds

export const INT_KINDS = new Set(['i32', 'i64', 'int8', 'int16', 'int32', 'int64', 'date', 'ts_utc', 'ts_local']);
export const DEC_KINDS = new Set(['dec32', 'dec64', 'dec_flba']);
export const FLOAT_KINDS = new Set(['float', 'double']);
export const STR_KINDS = new Set(['string', 'enum', 'json']);
export const BYTES_KINDS = new Set(['binary', 'flba', 'uuid']);

/** LIST (an optional group) or LIST_REQUIRED (a required group). */
export function isList(col) {
  return col.repetition === 'LIST' || col.repetition === 'LIST_REQUIRED';
}

function parseFloatSpecial(v) {
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (v === '-0') return -0;
  return v;
}

/** The canonical form of one expected (JSON) leaf value of a column. */
export function expectedLeaf(col, v) {
  if (v === null) return null;
  const k = col.kind;
  if (k === 'bool') return v;
  if (INT_KINDS.has(k) || DEC_KINDS.has(k)) return BigInt(v);
  if (k === 'float') return Math.fround(parseFloatSpecial(v));
  if (k === 'double') return parseFloatSpecial(v);
  return v;
}

export function expectedValue(col, v) {
  if (v === null) return null;
  if (isList(col)) return v.map((e) => expectedLeaf(col, e));
  return expectedLeaf(col, v);
}

export function sameLeaf(kind, e, g) {
  if (e === null || g === null || e === undefined || g === undefined) return e === g || (e == null && g == null);
  if (FLOAT_KINDS.has(kind)) return typeof g === 'number' && Object.is(e, g);
  return typeof e === typeof g && e === g;
}

export function sameValue(col, e, g) {
  if (!isList(col)) return sameLeaf(col.kind, e, g);
  if (e === null || g === null) return e === g;
  if (!Array.isArray(g) || g.length !== e.length) return false;
  return e.every((x, i) => sameLeaf(col.kind, x, g[i]));
}

export function show(v) {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  if (v instanceof Uint8Array) return `bytes(${hex(v)})`;
  if (typeof v === 'object') return JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));
  return JSON.stringify(v);
}

export function hex(bytes) {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Two's complement big-endian bytes -> BigInt. */
export function beSigned(bytes) {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  const bits = BigInt(bytes.length * 8);
  if (bytes.length && v >= 1n << (bits - 1n)) v -= 1n << bits;
  return v;
}

// ---- statistics

function leafOrder(kind) {
  if (kind === 'bool') return (a, b) => Number(a) - Number(b);
  if (INT_KINDS.has(kind) || DEC_KINDS.has(kind)) return (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  if (FLOAT_KINDS.has(kind)) return (a, b) => a - b;
  if (STR_KINDS.has(kind)) return (a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
  return (a, b) => Buffer.compare(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

/**
 * Expected statistics of one column for each row group, given the row groups' row
 * counts: { min, max, null_count } with min/max undefined when the chunk holds no
 * non-null (non-NaN) value. null_count counts leaf slots whose definition level is below
 * the maximum (for a list: a NULL list, an empty list, a NULL element), as parquet-mr,
 * arrow and DuckDB do. Float zero rule of the spec: min -0.0, max +0.0.
 */
export function expectedStats(col, rowGroupRows) {
  const out = [];
  let r = 0;
  for (const n of rowGroupRows) {
    out.push(statsOf(col, leafSlots(col, r, n)));
    r += n;
  }
  return out;
}

/**
 * The leaf slots of rows [from, from + n) in file order, canonical, null where the
 * definition level is below the maximum: one slot per REQUIRED/OPTIONAL value; for a
 * list, one null slot for a NULL or empty list, else one per element.
 */
export function leafSlots(col, from, n) {
  const out = [];
  for (let i = from; i < from + n; i++) {
    const v = expectedValue(col, col.values[i]);
    if (!isList(col)) out.push(v);
    else if (v === null || v.length === 0) out.push(null);
    else out.push(...v);
  }
  return out;
}

/** min / max / null_count of leaf slots (see expectedStats). */
export function statsOf(col, slots) {
  const cmp = leafOrder(col.kind);
  let min, max;
  let nulls = 0;
  for (const v of slots) {
    if (v === null) { nulls++; continue; }
    if (FLOAT_KINDS.has(col.kind) && Number.isNaN(v)) continue;
    if (min === undefined || cmp(v, min) < 0) min = v;
    if (max === undefined || cmp(v, max) > 0) max = v;
  }
  if (FLOAT_KINDS.has(col.kind)) {
    if (min === 0) min = -0;
    if (max === 0) max = 0;
  }
  return { min, max, null_count: nulls };
}

/** Expected row-group sizes when the writer closes a group every row_group_rows rows. */
export function expectedRowGroups(exp) {
  if (!exp.row_group_rows) return exp.rows ? [exp.rows] : [];
  const out = [];
  for (let r = 0; r < exp.rows; r += exp.row_group_rows) out.push(Math.min(exp.row_group_rows, exp.rows - r));
  return out;
}

/** Data encodings a column chunk must show for the matrix's encoding dimension. */
export function checkEncodings(exp, col, encodings, hasValues) {
  const enc = new Set(encodings);
  const dict = enc.has('RLE_DICTIONARY') || enc.has('PLAIN_DICTIONARY');
  const v = col.encoding;
  if (!hasValues) return null;
  if (v === 'plain' || v === 'nodict') {
    if (dict) return `dictionary encoding used although the column asked for ${v}`;
    if (col.kind !== 'bool' && !enc.has('PLAIN')) return 'PLAIN missing';
    return null;
  }
  if (v === 'default') {
    if (col.kind === 'bool') return enc.has('PLAIN') || enc.has('RLE') ? null : 'neither PLAIN nor RLE for a BOOLEAN column';
    return dict ? null : 'no dictionary encoding for a default-encoded column';
  }
  if (v === 'overflow') {
    if (col.kind === 'bool') return null;
    return enc.has('PLAIN') ? null : `no PLAIN fall-back past a ${exp.dictionary_bytes_limit}-byte dictionary limit`;
  }
  const want = { delta_binary_packed: 'DELTA_BINARY_PACKED', delta_length_byte_array: 'DELTA_LENGTH_BYTE_ARRAY', byte_stream_split: 'BYTE_STREAM_SPLIT' }[v];
  if (!enc.has(want)) return `${want} missing`;
  if (dict) return `dictionary encoding used although the column asked for ${want}`;
  return null;
}

/** Does the column hold enough distinct data for the OVERFLOW variant to overflow? */
export function columnHasValues(col, from, n) {
  for (let i = from; i < from + n; i++) {
    const v = col.values[i];
    if (v === null) continue;
    if (!isList(col)) return true;
    if (v.some((e) => e !== null)) return true;
  }
  return false;
}

// ---- verdicts

/**
 * Collects the outcome of one reader on one file: mismatches (failures) and the
 * known-limitation features that showed up (by name), with details.
 */
export class FileReport {
  constructor(reader, entry) {
    this.reader = reader;
    this.file = entry.name;
    this.errors = [];
    this.limits = new Map(); // feature -> [details]
    this.checked = 0; // values compared
    this.notes = [];
  }

  fail(msg) {
    if (this.errors.includes(msg)) return;
    if (this.errors.length < 200) this.errors.push(msg);
    else if (this.errors.length === 200) this.errors.push('... (more mismatches not shown)');
  }

  /** A known reader limitation showed up; feature names are keys in limitations.mjs. */
  limit(feature, detail) {
    if (!this.limits.has(feature)) this.limits.set(feature, []);
    const l = this.limits.get(feature);
    if (l.length < 5) l.push(detail);
  }

  toJSON() {
    return {
      reader: this.reader,
      file: this.file,
      ok: this.errors.length === 0,
      checked: this.checked,
      errors: this.errors,
      limits: Object.fromEntries(this.limits),
      notes: this.notes,
    };
  }
}

/** Compares every value of a column the reader returned with the expected one. */
export function compareColumn(rep, col, got, { leafAdapt } = {}) {
  if (got.length !== col.values.length) {
    rep.fail(`${col.name}: ${got.length} rows read, ${col.values.length} expected`);
  }
  const n = Math.min(got.length, col.values.length);
  let shown = 0;
  for (let i = 0; i < n; i++) {
    let e = expectedValue(col, col.values[i]);
    let g = got[i];
    if (leafAdapt) [e, g] = leafAdapt(e, g, i);
    rep.checked++;
    if (!sameValue(col, e, g) && shown++ < 5) {
      rep.fail(`${col.name}[row ${i}]: read ${show(g)}, expected ${show(e)}`);
    }
  }
  if (shown > 5) rep.fail(`${col.name}: ${shown} mismatching rows in all`);
}

/** Prints one line per file and a summary; returns the exit code (0 ok, 1 failures). */
export function printReports(reader, reports, { json } = {}) {
  let bad = 0;
  for (const r of reports) {
    const lim = [...r.limits.keys()];
    const tag = r.errors.length ? 'FAIL' : 'ok  ';
    if (r.errors.length) bad++;
    console.log(`${tag} ${reader.padEnd(12)} ${r.file.padEnd(48)} ${String(r.checked).padStart(6)} values${lim.length ? `  known limitations: ${lim.join(', ')}` : ''}`);
    for (const e of r.errors) console.log(`       ${e}`);
  }
  console.log(`${reader}: ${reports.length - bad} files ok, ${bad} failed`);
  if (json) console.log(`@@JSON ${JSON.stringify(reports.map((r) => r.toJSON()))}`);
  return bad ? 1 : 0;
}

/** Standalone entry of a reader script: node <reader>.mjs DIR [--tools T] [--json] [--only NAME]. */
export async function runStandalone(reader, readFileFn, setup) {
  const args = parseArgs(process.argv.slice(2));
  const dir = args._[0] || args.dir;
  if (!dir) {
    console.error(`usage: node ${reader}.mjs MATRIX_DIR [--tools DIR] [--only SUBSTRING] [--json]`);
    return 2;
  }
  let ctx;
  try {
    ctx = await setup(toolsDir(args));
  } catch (e) {
    if (e instanceof MissingToolError) {
      console.log(`SKIPPED ${reader}: ${e.message}`);
      return SKIP;
    }
    throw e;
  }
  const reports = [];
  for (const entry of loadIndex(dir)) {
    if (typeof args.only === 'string' && !entry.name.includes(args.only)) continue;
    const rep = new FileReport(reader, entry);
    if (entry.write_error) {
      rep.fail(`the writer failed, no file to read: ${entry.write_error}`);
    } else {
      const exp = loadExpected(dir, entry);
      try {
        await readFileFn(ctx, join(dir, entry.file), exp, rep);
      } catch (e) {
        rep.fail(`unexpected exception: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`);
      }
    }
    reports.push(rep);
  }
  if (ctx.close) await ctx.close();
  return printReports(reader, reports, { json: !!args.json });
}
