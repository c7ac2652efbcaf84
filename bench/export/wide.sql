-- bench/export/wide.sql: the wide table of bench/export (psql -v rows=N -v tbl=NAME):
-- about 30 columns, every mapped type, NULLs, text of varied length, numeric with and
-- without typmod, jsonb and json, arrays, and types that go out as text. Values are
-- functions of the row number (MINSTD hashes), so every run holds the same rows.
\set part :tbl '_p'
\set mood :tbl '_mood'
SET client_min_messages = warning;
DROP TABLE IF EXISTS :tbl CASCADE;
DROP TYPE IF EXISTS :mood CASCADE;
CREATE TYPE :mood AS ENUM ('calm', 'busy', 'alarm', 'offline');
CREATE TABLE :tbl (
  ts timestamptz NOT NULL, id bigint NOT NULL, i2 smallint, i4 integer, i8 bigint,
  f4 real, f8 double precision, ok boolean, d date, t timestamp,
  n12 numeric(12,2), n30 numeric(30,6), nfree numeric, tx text, vc varchar(40), ch char(8),
  js jsonb, jn json, u uuid, by bytea, mood :mood, ia integer[], ta text[],
  fa double precision[], iv interval, ip inet, tsn timestamptz, txn text, nm name, tm time)
  PARTITION BY RANGE (ts);
CREATE TABLE :part PARTITION OF :tbl FOR VALUES FROM ('2020-01-01') TO ('2030-01-01');
INSERT INTO :tbl
SELECT timestamptz '2020-01-01' + g * interval '1 second',
       g,
       (h1 % 65536 - 32768)::smallint,
       CASE WHEN g % 11 = 0 THEN NULL ELSE (h2 % 100000)::int END,
       h1 * 1000003 + h2,
       (h2 % 100000) / 7.0,
       CASE WHEN g % 13 = 0 THEN NULL ELSE (h1 % 1000000) / 977.0 END,
       CASE WHEN g % 17 = 0 THEN NULL ELSE h1 % 3 = 0 END,
       date '2020-01-01' + (g / 86400)::int,
       timestamp '2020-01-01' + g * interval '1 second' + (h2 % 1000) * interval '1 ms',
       ((h1 % 10000000) - 5000000) / 100.0,
       CASE WHEN g % 5 = 0 THEN NULL ELSE (h1::numeric * 1000003 + h2) / 1000000 END,
       CASE WHEN g % 7 = 0 THEN NULL ELSE (h2 % 1000000)::numeric / 1000 END,
       CASE WHEN g % 9 = 0 THEN NULL ELSE repeat(chr(97 + (h1 % 26)::int), (h2 % 120)::int) || ' #' || g END,
       'device-' || (h1 % 5000),
       lpad((h2 % 1000)::text, 8, 'x'),
       CASE WHEN g % 4 = 0 THEN NULL ELSE jsonb_build_object('device', h1 % 500, 'temp', (h2 % 4000) / 100.0, 'tags', jsonb_build_array('a', h1 % 7)) END,
       json_build_object('seq', g, 'ok', h2 % 2 = 0),
       md5(g::text)::uuid,
       CASE WHEN g % 3 = 0 THEN NULL ELSE decode(md5(h1::text), 'hex') END,
       (ARRAY['calm', 'busy', 'alarm', 'offline'])[1 + (h1 % 4)::int]:: :mood,
       CASE WHEN g % 10 = 0 THEN NULL ELSE ARRAY[(h1 % 100)::int, (h2 % 100)::int, NULLIF((g % 9)::int, 0)] END,
       ARRAY['x' || (h1 % 50), 'y' || (h2 % 50)],
       CASE WHEN g % 6 = 0 THEN '{}'::float8[] ELSE ARRAY[(h1 % 1000) / 3.0, (h2 % 1000) / 7.0] END,
       (h2 % 100000) * interval '1 second',
       ('10.' || (h1 % 256) || '.' || (h2 % 256) || '.1')::inet,
       CASE WHEN g % 2 = 0 THEN NULL ELSE timestamptz '2021-01-01' + h2 * interval '1 ms' END,
       CASE WHEN g % 2 = 1 THEN NULL ELSE 'note ' || (h2 % 300) END,
       ('n' || (h1 % 100))::name,
       time '00:00' + (h2 % 86400) * interval '1 second'
FROM (SELECT g, ((g * 48271) % 2147483647) * 48271 % 2147483647 AS h1,
             ((g * 4 + 1) * 48271 % 2147483647) * 48271 % 2147483647 AS h2
      FROM generate_series(1::bigint, :rows) g) s;
VACUUM ANALYZE :part;
