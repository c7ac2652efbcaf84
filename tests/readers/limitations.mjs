// limitations.mjs: the known reader limitations, keyed by reader + feature. Each one
// must show up in a run (else it is stale and the matrix fails), and only where its
// scope says, in the way it says (an error text, a reported type, a value form).
// docs/parquet-compat.md carries the same table for people; matrix.mjs checks that the
// two list the same keys.
//
// Fields: reader, feature (the name printed), how ('error' | 'type' | 'value' | 'stats' | 'api'),
// scope(exp, col) -> bool (where it may show up), match (RegExp over the error text or
// the reported type), text (what it means).
const kind = (...ks) => (exp, col) => ks.includes(col.kind);

export const LIMITATIONS = [
  {
    reader: 'duckdb', feature: 'float-stats-infinity', how: 'stats', scope: kind('float', 'double'),
    text: 'parquet_metadata() shows no min/max for a FLOAT/DOUBLE column chunk that holds +/-Infinity (also for files DuckDB writes itself); such chunks are not checked against DuckDB',
  },
  {
    reader: 'duckdb', feature: 'byte-stream-split-non-float', how: 'error',
    scope: (exp, col) => col.encoding === 'byte_stream_split' && !['float', 'double'].includes(col.kind),
    match: /BYTE_STREAM_SPLIT encoding is only supported for FLOAT or DOUBLE/,
    text: 'BYTE_STREAM_SPLIT is read for FLOAT and DOUBLE only; INT32, INT64 and FIXED_LEN_BYTE_ARRAY columns with it (parquet-format 2.11) fail to read',
  },
  {
    reader: 'parquet-wasm', feature: 'statistics', how: 'api',
    text: 'the JS API (ColumnChunkMetaData) exposes no statistics; min/max/null_count are checked with DuckDB and hyparquet only',
  },
  {
    reader: 'parquet-wasm', feature: 'enum-as-binary', how: 'type', scope: kind('enum'), match: /(^|<)z>?$/,
    text: 'the ENUM logical type is read as Arrow Binary, not Utf8 (values compared as UTF-8 bytes)',
  },
  {
    reader: 'parquet-wasm', feature: 'json-logical-type', how: 'type', scope: kind('json'), match: /(^|<)u>?$/,
    text: 'the JSON logical type is read as plain Utf8, without the arrow.json extension type',
  },
  {
    reader: 'parquet-wasm', feature: 'uuid-logical-type', how: 'type', scope: kind('uuid'), match: /(^|<)w:16>?$/,
    text: 'the UUID logical type is read as plain FixedSizeBinary(16), without the arrow.uuid extension type',
  },
  {
    reader: 'hyparquet', feature: 'decimal-float64', how: 'value', scope: kind('dec32', 'dec64', 'dec_flba'),
    text: 'DECIMAL values and statistics come back as a JS Number (unscaled * 10^-scale): digits past float64 precision are lost; compared with the same conversion of the exact value',
  },
  {
    reader: 'hyparquet', feature: 'enum-as-bytes', how: 'value', scope: kind('enum'),
    text: 'with utf8:false (needed to get plain BYTE_ARRAY as bytes) ENUM values come back as raw bytes, not strings (compared as UTF-8)',
  },
  {
    reader: 'hyparquet', feature: 'binary-stats-as-utf8', how: 'value', scope: kind('binary'),
    text: 'min/max statistics of a plain BYTE_ARRAY column are decoded as UTF-8 text whatever the bytes (compared after the same decoding)',
  },
];

export function key(l) {
  return `${l.reader}:${l.feature}`;
}

/** The claimed limitation explaining a read error of a column, or null. */
export function classifyError(reader, exp, col, message) {
  for (const l of LIMITATIONS) {
    if (l.reader !== reader || l.how !== 'error') continue;
    if (l.match.test(message) && (!l.scope || l.scope(exp, col))) return l.feature;
  }
  return null;
}

/** The claimed limitation explaining a reported type that is not the ideal one, or null. */
export function classifyType(reader, exp, col, reported) {
  for (const l of LIMITATIONS) {
    if (l.reader !== reader || l.how !== 'type') continue;
    if (l.match.test(reported) && (!l.scope || l.scope(exp, col))) return l.feature;
  }
  return null;
}

export function claimed(reader, feature) {
  return LIMITATIONS.find((l) => l.reader === reader && l.feature === feature) || null;
}
