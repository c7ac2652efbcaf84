// hyparquet.mjs: reads every file of the matrix with hyparquet (+ hyparquet-compressors
// for GZIP, ZSTD, LZ4_RAW): values through parquetReadObjects, the schema it parses
// (physical type, LogicalType, legacy ConvertedType, LIST structure), codec, encodings and
// statistics through parquetMetadata, and, with hyparquet's page-header parser, every
// page's CRC32 when the file was written with page CRCs.
// Usage: node hyparquet.mjs MATRIX_DIR [--tools DIR] [--only SUBSTRING] [--json]
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  importTool, toolPath, runStandalone, hex, expectedStats, expectedRowGroups, checkEncodings,
  columnHasValues, expectedLeaf, sameLeaf, show, DEC_KINDS,
  isList, INT_KINDS, leafSlots, statsOf,
} from './common.mjs';
import { classifyError, classifyType } from './limitations.mjs';

const READER = 'hyparquet';

const LEAF = {
  bool: 'BOOLEAN', i32: 'INT32', i64: 'INT64', float: 'FLOAT', double: 'DOUBLE',
  string: 'BYTE_ARRAY/STRING/UTF8', enum: 'BYTE_ARRAY/ENUM/ENUM', json: 'BYTE_ARRAY/JSON/JSON',
  binary: 'BYTE_ARRAY', flba: 'FIXED_LEN_BYTE_ARRAY(5)', uuid: 'FIXED_LEN_BYTE_ARRAY(16)/UUID',
  date: 'INT32/DATE/DATE', ts_utc: 'INT64/TIMESTAMP(MICROS,utc)/TIMESTAMP_MICROS',
  ts_local: 'INT64/TIMESTAMP(MICROS,local)',
  int8: 'INT32/INTEGER(8,signed)/INT_8', int16: 'INT32/INTEGER(16,signed)/INT_16',
  int32: 'INT32/INTEGER(32,signed)/INT_32', int64: 'INT64/INTEGER(64,signed)/INT_64',
};

/** The schema description (see describe()) a column must parse to; alternatives allowed. */
export function hyType(col) {
  let leaf = [LEAF[col.kind]];
  if (DEC_KINDS.has(col.kind)) {
    const phys = { dec32: 'INT32', dec64: 'INT64', dec_flba: 'FIXED_LEN_BYTE_ARRAY(16)' }[col.kind];
    leaf = [`${phys}/DECIMAL(${col.precision},${col.scale})/DECIMAL(${col.precision},${col.scale})`];
  }
  // A local timestamp may carry the legacy TIMESTAMP_MICROS too (DuckDB and arrow write it).
  if (col.kind === 'ts_local') leaf.push(`${leaf[0]}/TIMESTAMP_MICROS`);
  const rep = { LIST: 'OPTIONAL', LIST_REQUIRED: 'REQUIRED' }[col.repetition] || col.repetition;
  return isList(col) ? leaf.map((l) => `LIST<${l} OPTIONAL element> ${rep}`) : leaf.map((l) => `${l} ${rep}`);
}

function logical(lt) {
  if (!lt) return null;
  switch (lt.type) {
    case 'TIMESTAMP': return `TIMESTAMP(${lt.unit},${lt.isAdjustedToUTC ? 'utc' : 'local'})`;
    case 'DECIMAL': return `DECIMAL(${lt.precision},${lt.scale})`;
    case 'INTEGER': return `INTEGER(${lt.bitWidth},${lt.isSigned ? 'signed' : 'unsigned'})`;
    default: return lt.type;
  }
}

function describeLeaf(el) {
  const parts = [el.type + (el.type === 'FIXED_LEN_BYTE_ARRAY' ? `(${el.type_length})` : '')];
  const lt = logical(el.logical_type);
  let ct = el.converted_type || null;
  if (ct === 'DECIMAL') ct = `DECIMAL(${el.precision},${el.scale})`;
  if (lt || ct) parts.push(lt || '-');
  if (ct) parts.push(ct);
  return parts.join('/');
}

/** Describes the schema subtree of a top-level column as parsed by hyparquet. */
function describe(schema, name) {
  // schema is the flat list of SchemaElements: [root, ...depth-first]
  let i = 1;
  while (i < schema.length) {
    const el = schema[i];
    if (el.name === name) break;
    i += 1 + countDescendants(schema, i);
  }
  const el = schema[i];
  if (!el) return 'missing';
  if (!el.num_children) return `${describeLeaf(el)} ${el.repetition_type}`;
  const mid = schema[i + 1];
  const leaf = schema[i + 2];
  const ok = el.converted_type === 'LIST' && el.num_children === 1 && mid && mid.repetition_type === 'REPEATED' &&
    mid.num_children === 1 && leaf && !leaf.num_children;
  if (!ok) return `group ${el.converted_type || ''} ${JSON.stringify([mid && mid.name, mid && mid.repetition_type])}`;
  const lt = el.logical_type ? el.logical_type.type : null;
  if (lt !== null && lt !== 'LIST') return `group logical ${lt}`;
  return `LIST<${describeLeaf(leaf)} ${leaf.repetition_type} ${leaf.name}> ${el.repetition_type}`;
}

function countDescendants(schema, i) {
  let n = 0;
  for (let c = 0; c < (schema[i].num_children || 0); c++) n += 1 + countDescendants(schema, i + 1 + n);
  return n;
}

async function setup(tools) {
  const hp = await importTool(tools, 'hyparquet');
  const hc = await importTool(tools, 'hyparquet-compressors');
  const col = await import(pathToFileURL(toolPath(tools, 'hyparquet', 'src/column.js')).href);
  const md = await import(pathToFileURL(toolPath(tools, 'hyparquet', 'src/metadata.js')).href);
  return { hp, compressors: hc.compressors, parquetHeader: col.parquetHeader, convertMetadata: md.convertMetadata };
}

// Parsers keep full precision: micros and days as BigInt (the defaults make Dates).
// convertMetadata() needs the full parser set; these are hyparquet's defaults for the rest.
const DEFAULT_PARSERS_LIKE = {
  stringFromBytes: (b) => b && new TextDecoder().decode(b),
  jsonFromBytes: (b) => b && JSON.parse(new TextDecoder().decode(b)),
  uuidFromBytes: (b) => b && hex(b).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'),
};

const PARSERS = {
  timestampFromMicroseconds: (v) => BigInt(v),
  timestampFromMilliseconds: (v) => ({ unexpectedMillis: v }),
  timestampFromNanoseconds: (v) => ({ unexpectedNanos: v }),
  dateFromDays: (v) => BigInt(v),
};

/** hyparquet's value (or statistic) -> canonical form; may note a limitation. */
function canon(col, v, rep, where) {
  if (v === null || v === undefined) return null;
  const k = col.kind;
  if (DEC_KINDS.has(k)) {
    if (typeof v === 'number') {
      rep.limit('decimal-float64', `${where}: ${v}`);
      return { approx: v };
    }
    return v;
  }
  if (k === 'enum' && v instanceof Uint8Array) {
    rep.limit('enum-as-bytes', `${where}: ${hex(v)}`);
    return Buffer.from(v).toString('utf8');
  }
  if (k === 'uuid' && typeof v === 'string') return v.replaceAll('-', '');
  if (v instanceof Uint8Array) return hex(v);
  if (typeof v === 'number' && INT_KINDS.has(k)) return Number.isInteger(v) ? BigInt(v) : v;
  return v;
}

/** Expected value adapted to the forms hyparquet documents (JSON parsed, decimal Number). */
function adaptExpected(col, e, g) {
  if (e === null) return e;
  if (DEC_KINDS.has(col.kind) && g && typeof g === 'object' && 'approx' in g) {
    return { approx: Number(e) * 10 ** -col.scale };
  }
  return e;
}

function same(col, e, g) {
  if (e && typeof e === 'object' && 'approx' in e) return g && typeof g === 'object' && Object.is(e.approx, g.approx);
  if (col.kind === 'json' && e !== null) {
    return g !== null && JSON.stringify(JSON.parse(e)) === JSON.stringify(g);
  }
  return sameLeaf(col.kind, e, g);
}

export async function readFile(ctx, path, exp, rep) {
  const { hp, compressors } = ctx;
  const buf = readFileSync(path);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const meta = hp.parquetMetadata(ab, { parsers: PARSERS });

  let rows = null;
  try {
    rows = await hp.parquetReadObjects({ file: ab, metadata: meta, compressors, utf8: false, parsers: PARSERS });
  } catch (e) {
    rep.notes.push(`whole-file read failed (${String(e.message || e).split('\n')[0]}), reading column by column`);
  }
  for (const col of exp.columns) {
    const reported = describe(meta.schema, col.name);
    const want = hyType(col);
    if (!want.includes(reported)) {
      const lim = classifyType(READER, exp, col, reported);
      if (lim) rep.limit(lim, `${col.name}: reported ${reported}, ideal ${want[0]}`);
      else rep.fail(`${col.name}: schema ${reported}, expected ${want.join(' or ')}`);
    }
    let values;
    if (rows) {
      values = rows.map((r) => r[col.name]);
    } else {
      try {
        values = (await hp.parquetReadObjects({ file: ab, metadata: meta, compressors, utf8: false, parsers: PARSERS, columns: [col.name] })).map((r) => r[col.name]);
      } catch (e) {
        const msg = String(e.message || e).split('\n')[0];
        const lim = classifyError(READER, exp, col, msg);
        if (lim) rep.limit(lim, `${col.name}: ${msg}`);
        else rep.fail(`${col.name}: read error: ${msg}`);
        continue;
      }
    }
    if (values.length !== col.values.length) rep.fail(`${col.name}: ${values.length} rows read, ${col.values.length} expected`);
    let bad = 0;
    for (let i = 0; i < Math.min(values.length, col.values.length); i++) {
      rep.checked++;
      const raw = col.values[i];
      const g0 = values[i];
      let ok;
      let shownE, shownG;
      if (isList(col)) {
        const g = g0 === null || g0 === undefined ? null : Array.from(g0, (x) => canon(col, x, rep, `${col.name}[row ${i}]`));
        const e = raw === null ? null : raw.map((x, j) => adaptExpected(col, expectedLeaf(col, x), g && g[j]));
        ok = e === null ? g === null : g !== null && g.length === e.length && e.every((x, j) => same(col, x, g[j]));
        shownE = e; shownG = g;
      } else {
        const g = canon(col, g0, rep, `${col.name}[row ${i}]`);
        const e = adaptExpected(col, expectedLeaf(col, raw), g);
        ok = same(col, e, g);
        shownE = e; shownG = g;
      }
      if (!ok && bad++ < 5) rep.fail(`${col.name}[row ${i}]: read ${show(shownG)}, expected ${show(shownE)}`);
    }
    if (bad > 5) rep.fail(`${col.name}: ${bad} mismatching rows in all`);
  }
  checkMetadata(ctx, buf, meta, exp, rep);
}

function checkMetadata(ctx, buf, meta, exp, rep) {
  if (!String(meta.created_by).startsWith('tsarchive version ')) rep.fail(`created_by is ${show(meta.created_by)}`);
  if (BigInt(meta.num_rows) !== BigInt(exp.rows)) rep.fail(`footer num_rows ${meta.num_rows}, expected ${exp.rows}`);
  for (const [k, v] of Object.entries(exp.kv)) {
    const hit = (meta.key_value_metadata || []).find((x) => x.key === k);
    if (!hit || hit.value !== v) rep.fail(`key-value metadata ${k}: read ${show(hit && hit.value)}, expected ${show(v)}`);
  }
  const groups = meta.row_groups.map((g) => Number(g.num_rows));
  const wantGroups = expectedRowGroups(exp);
  if (JSON.stringify(groups.filter((n) => n > 0)) !== JSON.stringify(wantGroups)) {
    rep.fail(`row groups of ${JSON.stringify(groups)} rows, expected ${JSON.stringify(wantGroups)}`);
    return;
  }
  const codec = exp.codec.toUpperCase();
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const stats = exp.columns.map((col) => expectedStats(col, groups));
  const leaves = leafElements(meta.schema);
  if (leaves.length !== exp.columns.length) rep.fail(`${leaves.length} leaf columns in the schema, expected ${exp.columns.length}`);
  let from = 0;
  meta.row_groups.forEach((g, gi) => {
    exp.columns.forEach((col, ci) => {
      const cc = g.columns[ci] && g.columns[ci].meta_data;
      const where = `${col.name} row group ${gi}`;
      if (!cc) { rep.fail(`${where}: no column chunk`); return; }
      if (cc.codec !== codec) rep.fail(`${where}: codec ${cc.codec}, expected ${codec}`);
      const encErr = checkEncodings(exp, col, cc.encodings, columnHasValues(col, from, groups[gi]));
      if (encErr) rep.fail(`${where}: encodings ${cc.encodings.join(',')}: ${encErr}`);
      checkStats(col, cc.statistics, stats[ci][gi], rep, where);
      const slots = leafSlots(col, from, groups[gi]);
      if (BigInt(cc.num_values) !== BigInt(slots.length)) rep.fail(`${where}: num_values ${cc.num_values}, expected ${slots.length} leaf slots`);
      checkPages(ctx, view, cc, exp, col, rep, where, slots, leaves[ci]);
    });
    from += groups[gi];
  });
}

function checkStats(col, st, want, rep, where) {
  if (!st) { rep.fail(`${where}: no statistics`); return; }
  if (st.null_count === undefined || BigInt(st.null_count) !== BigInt(want.null_count)) {
    rep.fail(`${where}: null_count ${show(st.null_count)}, expected ${want.null_count}`);
  }
  for (const side of ['min', 'max']) {
    const raw = st[`${side}_value`];
    let e = want[side];
    if (e === undefined) {
      if (raw !== undefined) rep.fail(`${where}: ${side}_value ${show(raw)} present, expected none (no non-null, non-NaN value)`);
      continue;
    }
    if (raw === undefined) { rep.fail(`${where}: ${side}_value missing, expected ${show(e)}`); continue; }
    let g = canon(col, raw, rep, `${where} ${side}`);
    if (col.kind === 'binary' && typeof raw === 'string') {
      // hyparquet decodes every BYTE_ARRAY statistic as UTF-8, even without STRING.
      rep.limit('binary-stats-as-utf8', `${where} ${side}: ${show(raw)}`);
      e = new TextDecoder().decode(Buffer.from(e, 'hex'));
      g = raw;
    }
    e = adaptExpected(col, e, g);
    if (!same(col, e, g) && !(col.kind === 'json' && e === g)) rep.fail(`${where}: ${side}_value ${show(g)}, expected ${show(e)}`);
  }
}

function leafElements(schema) {
  return schema.filter((el, i) => i > 0 && !el.num_children);
}

/**
 * Walks the pages of a chunk with hyparquet's header parser: CRC32, page counts, the
 * dictionary / data page offsets, value counts and each data page's statistics.
 */
function checkPages(ctx, view, cc, exp, col, rep, where, slots, element) {
  const start = Number(cc.dictionary_page_offset ?? cc.data_page_offset);
  const end = start + Number(cc.total_compressed_size);
  const reader = { view, offset: start };
  let dataPages = 0;
  let n = 0;
  let seen = 0; // leaf slots covered by the data pages so far
  while (reader.offset < end) {
    const headerStart = reader.offset;
    let h;
    try {
      h = ctx.parquetHeader(reader);
    } catch (e) {
      rep.fail(`${where}: page header at ${reader.offset} unreadable: ${e.message}`);
      return;
    }
    const body = new Uint8Array(view.buffer, view.byteOffset + reader.offset, h.compressed_page_size);
    if (h.type === 'DICTIONARY_PAGE' && n !== 0) rep.fail(`${where}: dictionary page at position ${n}`);
    if (h.type === 'DATA_PAGE' || h.type === 'DATA_PAGE_V2') {
      if (dataPages === 0 && headerStart !== Number(cc.data_page_offset)) rep.fail(`${where}: data_page_offset ${cc.data_page_offset}, first data page at ${headerStart}`);
      dataPages++;
      const dh = h.data_page_header || h.data_page_header_v2;
      const page = slots.slice(seen, seen + dh.num_values);
      seen += dh.num_values;
      checkPageStats(ctx, col, element, dh.statistics, statsOf(col, page), rep, `${where} page ${n}`);
    }
    if (exp.page_crc) {
      if (h.crc === undefined) rep.fail(`${where}: page ${n} (${h.type}) has no CRC although page_crc is on`);
      else if ((crc32(body) | 0) !== h.crc) rep.fail(`${where}: page ${n} (${h.type}) CRC ${h.crc >>> 0}, computed ${crc32(body)}`);
    }
    reader.offset += h.compressed_page_size;
    n++;
  }
  if (reader.offset !== end) rep.fail(`${where}: pages end at ${reader.offset}, the chunk at ${end}`);
  if (seen !== slots.length) rep.fail(`${where}: data pages hold ${seen} values, expected ${slots.length}`);
  if (exp.layout === 'pages' && col.kind !== 'bool' && col.repetition === 'REQUIRED' && dataPages < 2) {
    rep.fail(`${where}: ${dataPages} data page(s) with page_bytes ${exp.page_bytes}, expected several`);
  }
}

/** Page statistics (raw bytes in the header) through hyparquet's own conversion. */
function checkPageStats(ctx, col, element, st, want, rep, where) {
  if (!st) { rep.fail(`${where}: no page statistics (page_statistics is on by default)`); return; }
  if (st.null_count === undefined || BigInt(st.null_count) !== BigInt(want.null_count)) {
    rep.fail(`${where}: page null_count ${show(st.null_count)}, expected ${want.null_count}`);
  }
  for (const side of ['min', 'max']) {
    const raw = st[`${side}_value`];
    let e = want[side];
    if (e === undefined) {
      if (raw !== undefined) rep.fail(`${where}: page ${side}_value present, expected none`);
      continue;
    }
    if (raw === undefined) { rep.fail(`${where}: page ${side}_value missing, expected ${show(e)}`); continue; }
    let g = canon(col, ctx.convertMetadata(raw, element, { ...DEFAULT_PARSERS_LIKE, ...PARSERS }), rep, `${where} ${side}`);
    if (col.kind === 'binary' && typeof g === 'string') {
      rep.limit('binary-stats-as-utf8', `${where} ${side}`);
      e = new TextDecoder().decode(Buffer.from(e, 'hex'));
    }
    e = adaptExpected(col, e, g);
    if (!same(col, e, g) && !(col.kind === 'json' && e === g)) rep.fail(`${where}: page ${side}_value ${show(g)}, expected ${show(e)}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await runStandalone(READER, readFile, setup);
}

export { setup, READER };
