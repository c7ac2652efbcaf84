// parquet_wasm.mjs: reads every file of the matrix with parquet-wasm (the Rust parquet
// crate compiled to WebAssembly, producing Arrow). The Arrow table is read straight from
// wasm memory through the Arrow C Data Interface (no apache-arrow package needed): the
// reported type is the Arrow format string (plus an extension name, if any). Codec and
// encodings per column chunk come from ParquetFile.metadata().
// Usage: node parquet_wasm.mjs MATRIX_DIR [--tools DIR] [--only SUBSTRING] [--json]
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  toolPath, runStandalone, hex, expectedRowGroups, checkEncodings, columnHasValues,
  compareColumn, DEC_KINDS,
  isList,
} from './common.mjs';
import { classifyError, classifyType } from './limitations.mjs';

const READER = 'parquet-wasm';

const FORMATS = {
  bool: 'b', i32: 'i', i64: 'l', float: 'f', double: 'g', string: 'u', enum: 'u',
  json: 'u+arrow.json', binary: 'z', flba: 'w:5', uuid: 'w:16+arrow.uuid', date: 'tdD',
  ts_utc: 'tsu:UTC', ts_local: 'tsu:', int8: 'c', int16: 's', int32: 'i', int64: 'l',
};

/** The Arrow type (format string [+extension]) a column must come back as. */
export function arrowType(col) {
  let t = FORMATS[col.kind];
  if (DEC_KINDS.has(col.kind)) t = `d:${col.precision},${col.scale}`;
  return isList(col) ? `+l<${t}>` : t;
}

// ---- Arrow C Data Interface, wasm32 layout

class Mem {
  constructor(memory) {
    this.memory = memory;
    this.buf = null;
  }
  // The DataView is rebuilt only when wasm memory grew (which detaches the old buffer).
  get dv() {
    if (this.buf !== this.memory.buffer) {
      this.buf = this.memory.buffer;
      this.view = new DataView(this.buf);
      this.u8 = new Uint8Array(this.buf);
    }
    return this.view;
  }
  get bytesView() {
    this.dv;
    return this.u8;
  }
  u32(p) { return this.dv.getUint32(p, true); }
  i64(p) { return this.dv.getBigInt64(p, true); }
  cstr(p) {
    if (!p) return null;
    const b = this.bytesView;
    let e = p;
    while (b[e]) e++;
    return Buffer.from(b.subarray(p, e)).toString('utf8');
  }
  bytes(p, n) {
    return new Uint8Array(this.memory.buffer.slice(p, p + n));
  }
}

function readSchema(m, p) {
  const format = m.cstr(m.u32(p));
  const name = m.cstr(m.u32(p + 4));
  const metaPtr = m.u32(p + 8);
  const nChildren = Number(m.i64(p + 24));
  const childrenPtr = m.u32(p + 32);
  const dictPtr = m.u32(p + 36);
  const metadata = {};
  if (metaPtr) {
    const dv = m.dv;
    let q = metaPtr;
    const n = dv.getInt32(q, true);
    q += 4;
    for (let i = 0; i < n; i++) {
      const kl = dv.getInt32(q, true); q += 4;
      const k = Buffer.from(m.bytes(q, kl)).toString('utf8'); q += kl;
      const vl = dv.getInt32(q, true); q += 4;
      const v = Buffer.from(m.bytes(q, vl)).toString('utf8'); q += vl;
      metadata[k] = v;
    }
  }
  const children = [];
  for (let i = 0; i < nChildren; i++) children.push(readSchema(m, m.u32(childrenPtr + 4 * i)));
  return { format, name, metadata, children, dictionary: dictPtr ? readSchema(m, dictPtr) : null };
}

function typeString(s) {
  if (s.format === '+l' || s.format === '+L') return `${s.format}<${typeString(s.children[0])}>`;
  let t = s.dictionary ? `dict<${s.format},${typeString(s.dictionary)}>` : s.format;
  const ext = s.metadata['ARROW:extension:name'];
  return ext ? `${t}+${ext}` : t;
}

function bit(m, ptr, i) {
  return (m.bytesView[ptr + (i >> 3)] >> (i & 7)) & 1;
}

/** Decodes an ArrowArray into JS values in the canonical forms of common.mjs. */
function readArray(m, p, schema, out) {
  const length = Number(m.i64(p));
  const offset = Number(m.i64(p + 16));
  const nBuffers = Number(m.i64(p + 24));
  const buffers = m.u32(p + 40);
  const childrenPtr = m.u32(p + 44);
  const dictPtr = m.u32(p + 48);
  const buf = (i) => (i < nBuffers ? m.u32(buffers + 4 * i) : 0);
  const validity = buf(0);
  const valid = (i) => !validity || bit(m, validity, offset + i);
  const f = schema.format;
  const dv = m.dv;

  if (schema.dictionary) {
    const dict = [];
    readArray(m, dictPtr, schema.dictionary, dict);
    const idx = [];
    readArray(m, p, { ...schema, dictionary: null }, idx);
    for (const i of idx) out.push(i === null ? null : dict[Number(i)]);
    return;
  }
  if (f === '+l' || f === '+L') {
    const offs = buf(1);
    const child = [];
    readArray(m, m.u32(childrenPtr), schema.children[0], child);
    const at = (i) => (f === '+l' ? dv.getInt32(offs + 4 * i, true) : Number(dv.getBigInt64(offs + 8 * i, true)));
    for (let i = 0; i < length; i++) {
      out.push(valid(i) ? child.slice(at(offset + i), at(offset + i + 1)) : null);
    }
    return;
  }
  if (f === '+s') {
    throw new Error('nested struct column not expected');
  }
  const data = buf(1);
  for (let i = 0; i < length; i++) {
    if (!valid(i)) { out.push(null); continue; }
    const j = offset + i;
    let v;
    if (f === 'b') v = bit(m, data, j) === 1;
    else if (f === 'c') v = BigInt(dv.getInt8(data + j));
    else if (f === 's') v = BigInt(dv.getInt16(data + 2 * j, true));
    else if (f === 'i' || f === 'tdD') v = BigInt(dv.getInt32(data + 4 * j, true));
    else if (f === 'l' || f.startsWith('ts')) v = dv.getBigInt64(data + 8 * j, true);
    else if (f === 'f') v = dv.getFloat32(data + 4 * j, true);
    else if (f === 'g') v = dv.getFloat64(data + 8 * j, true);
    else if (f === 'u' || f === 'z' || f === 'U' || f === 'Z') {
      const large = f === 'U' || f === 'Z';
      const at = (k) => (large ? Number(dv.getBigInt64(data + 8 * k, true)) : dv.getInt32(data + 4 * k, true));
      const s = at(j), e = at(j + 1);
      const bytes = m.bytes(buf(2) + s, e - s);
      v = f === 'u' || f === 'U' ? Buffer.from(bytes).toString('utf8') : hex(bytes);
    } else if (f.startsWith('w:')) {
      const w = Number(f.slice(2));
      v = hex(m.bytes(data + w * j, w));
    } else if (f.startsWith('d:')) {
      const bits = f.split(',')[2] ? Number(f.split(',')[2]) : 128;
      const nb = bits / 8;
      const b = m.bytes(data + nb * j, nb).reverse();
      let x = 0n;
      for (const c of b) x = (x << 8n) | BigInt(c);
      if (b[0] & 0x80) x -= 1n << BigInt(bits);
      v = x;
    } else {
      throw new Error(`Arrow format "${f}" not handled by this script`);
    }
    out.push(v);
  }
}

async function setup(tools) {
  const path = toolPath(tools, 'parquet-wasm', 'node/parquet_wasm.js');
  const pw = await import(pathToFileURL(path).href);
  return { pw, mem: new Mem(pw.wasmMemory()) };
}

function enumName(en, v) {
  return typeof v === 'string' ? v : en[v];
}

export async function readFile(ctx, path, exp, rep) {
  const { pw, mem } = ctx;
  const bytes = new Uint8Array(readFileSync(path));
  let cols = null; // name -> { type, values }
  try {
    cols = readTable(pw, mem, bytes, null);
  } catch (e) {
    rep.notes.push(`whole-file read failed (${String(e.message || e).split('\n')[0]}), reading column by column`);
  }
  for (const col of exp.columns) {
    let got = cols && cols.get(col.name);
    if (!cols) {
      try {
        got = readTable(pw, mem, bytes, [col.name]).get(col.name);
      } catch (e) {
        const msg = String(e.message || e).split('\n')[0];
        const lim = classifyError(READER, exp, col, msg);
        if (lim) rep.limit(lim, `${col.name}: ${msg}`);
        else rep.fail(`${col.name}: read error: ${msg}`);
        continue;
      }
    }
    if (!got) {
      rep.fail(`${col.name}: column missing from the Arrow table`);
      continue;
    }
    const want = arrowType(col);
    if (got.type !== want) {
      const lim = classifyType(READER, exp, col, got.type);
      if (lim) rep.limit(lim, `${col.name}: reported ${got.type}, ideal ${want}`);
      else rep.fail(`${col.name}: Arrow type ${got.type}, expected ${want}`);
    }
    let values = got.values;
    if (col.kind === 'enum' && /(^|<)z>?$/.test(got.type)) {
      // ENUM comes back as Binary: compare the bytes as UTF-8 (the limitation is noted above).
      const utf8 = (v) => (v === null ? null : Buffer.from(v, 'hex').toString('utf8'));
      values = values.map((v) => (v === null ? null : Array.isArray(v) ? v.map(utf8) : utf8(v)));
    }
    compareColumn(rep, col, values);
  }
  await checkMetadata(pw, bytes, exp, rep);
}

function readTable(pw, mem, bytes, columns) {
  const table = pw.readParquet(bytes, columns ? { columns } : undefined);
  const ffi = table.intoFFI();
  try {
    const schema = readSchema(mem, ffi.schemaAddr());
    const out = new Map();
    for (const f of schema.children) out.set(f.name, { type: typeString(f), values: [] });
    const n = ffi.numArrays();
    for (let b = 0; b < n; b++) {
      const addr = ffi.arrayAddr(b);
      const childrenPtr = mem.u32(addr + 44);
      schema.children.forEach((f, i) => readArray(mem, mem.u32(childrenPtr + 4 * i), f, out.get(f.name).values));
    }
    return out;
  } finally {
    ffi.free();
  }
}

async function checkMetadata(pw, bytes, exp, rep) {
  const file = await pw.ParquetFile.fromFile(new Blob([bytes]));
  const md = file.metadata();
  const fm = md.fileMetadata();
  if (!String(fm.createdBy()).startsWith('tsarchive version ')) rep.fail(`created_by is ${fm.createdBy()}`);
  if (fm.numRows() !== exp.rows) rep.fail(`footer num_rows ${fm.numRows()}, expected ${exp.rows}`);
  const kv = fm.keyValueMetadata();
  for (const [k, v] of Object.entries(exp.kv)) if (kv.get(k) !== v) rep.fail(`key-value metadata ${k}: read ${kv.get(k)}, expected ${v}`);
  const groups = md.rowGroups().map((g) => g.numRows());
  const wantGroups = expectedRowGroups(exp);
  if (JSON.stringify(groups.filter((n) => n > 0)) !== JSON.stringify(wantGroups)) {
    rep.fail(`row groups of ${JSON.stringify(groups)} rows, expected ${JSON.stringify(wantGroups)}`);
    return;
  }
  const codec = exp.codec.toUpperCase();
  let from = 0;
  md.rowGroups().forEach((g, gi) => {
    const chunks = g.columns();
    if (chunks.length !== exp.columns.length) rep.fail(`row group ${gi}: ${chunks.length} column chunks, expected ${exp.columns.length}`);
    exp.columns.forEach((col, ci) => {
      const cc = chunks[ci];
      if (!cc) return;
      const where = `${col.name} row group ${gi}`;
      const c = enumName(pw.Compression, cc.compression());
      if (c !== codec) rep.fail(`${where}: codec ${c}, expected ${codec}`);
      const encs = cc.encodings().map((e) => enumName(pw.Encoding, e));
      const encErr = checkEncodings(exp, col, encs, columnHasValues(col, from, groups[gi]));
      if (encErr) rep.fail(`${where}: encodings ${encs.join(',')}: ${encErr}`);
      if (typeof cc.statistics !== 'function' && gi === 0 && ci === 0) rep.limit('statistics', 'ColumnChunkMetaData has no statistics accessor');
    });
    from += groups[gi];
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await runStandalone(READER, readFile, setup);
}

export { setup, READER };
