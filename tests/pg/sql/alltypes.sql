-- A range-partitioned table holding every mapped type, NULLs everywhere and edge
-- values (tests/pg/it_pg.sh). Run in a fresh schema named by :"s".
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'it''s "quoted"');
CREATE TABLE alltypes (
    ts timestamptz NOT NULL,
    id bigint,
    t timestamp,
    d date,
    i2 smallint,
    i4 integer,
    i8 bigint,
    f4 real,
    f8 double precision,
    b boolean,
    tx text,
    vc varchar(20),
    ch char(5),
    nm name,
    en mood,
    n5_2 numeric(5,2),
    n18_4 numeric(18,4),
    n38_10 numeric(38,10),
    n38_0 numeric(38,0),
    n3_m2 numeric(3,-2),
    n2_5 numeric(2,5),
    n50 numeric(50,5),
    nfree numeric,
    u uuid,
    js json,
    jb jsonb,
    by bytea,
    a_i4 integer[],
    a_tx text[],
    a_ts timestamptz[],
    a_n numeric(10,2)[],
    a_b boolean[],
    a_u uuid[],
    a_jb jsonb[],
    a_en mood[],
    iv interval,
    ip inet,
    tm time,
    ttz timetz,
    md integer[][],
    pt point,
    mny money,
    bits bit varying(10),
    rng tstzrange
) PARTITION BY RANGE (ts);
CREATE TABLE alltypes_2024_01 PARTITION OF alltypes
    FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-02-01 00:00:00+00');
CREATE TABLE alltypes_2024_02 PARTITION OF alltypes
    FOR VALUES FROM ('2024-02-01 00:00:00+00') TO ('2024-03-01 00:00:00+00');
CREATE TABLE alltypes_future PARTITION OF alltypes
    FOR VALUES FROM ('2024-03-01 00:00:00+00') TO (MAXVALUE);

-- row 1: ordinary values
INSERT INTO alltypes VALUES (
 '2024-01-05 12:34:56.789012+00', 1, '2024-01-05 01:02:03.000004', '2024-01-05', 12, 34, 56,
 1.5, 2.25, true, 'hello', 'varchar', 'ab', 'aname', 'ok',
 123.45, 12345678901234.5678, 1234567890123456789012345678.0123456789,
 99999999999999999999999999999999999999, 12300, 0.00012, 1234567890123456789012345678901234567890.12345,
 3.14159265358979323846264338327950288419716939937510, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
 '{"a": [1, 2, {"b": null}]}', '{"k": "v", "n": 1.50}', '\x00ff10', '{1,NULL,3}',
 '{"a","b c",NULL,"d\"e"}', '{"2024-01-01 00:00:00+00",NULL}', '{1.10,NULL,-2.50}', '{t,f,NULL}',
 '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{"{\"x\": 1}",NULL}', '{sad,happy}',
 '1 year 2 mons 3 days 04:05:06.789', '192.168.0.1/24', '12:34:56.123456', '12:34:56+05:30',
 '{{1,2},{3,4}}', '(1.5,2)', 12.34, B'10101', '[2024-01-01,2024-02-01)');
-- row 2: NULL everywhere (but the key)
INSERT INTO alltypes (ts) VALUES ('2024-01-06 00:00:00+00');
-- row 3: edge values
INSERT INTO alltypes VALUES (
 '2024-01-31 23:59:59.999999+00', 3, 'infinity', 'infinity', -32768, -2147483648,
 -9223372036854775808, 'NaN', '-Infinity', false, '', '', '', '', 'it''s "quoted"',
 -999.99, -99999999999999.9999, -9999999999999999999999999999.9999999999,
 -99999999999999999999999999999999999999, -99900, -0.00099, -0.00001, 'NaN',
 '00000000-0000-0000-0000-000000000000', '""', '[]', '\x', '{}', '{}', '{}', '{}', '{}', '{}', '{}',
 '{}', '-178000000 years', '::1', '24:00:00', '00:00:00-15:59', '{}', '(-0,0)', -92233720368547758.08,
 B'', 'empty');
-- row 4: more edges
INSERT INTO alltypes VALUES (
 '2024-01-20 00:00:00+00', 4, '-infinity', '-infinity', 32767, 2147483647, 9223372036854775807,
 'Infinity', 1e308, NULL, E'unicode \u00e9\u4e2d\U0001F600 and \t tab \n newline', 'x',
 'abcde', repeat('n', 63), 'sad', 0, 0, 0, 0, 0, 0, 0, 'Infinity', NULL,
 'null', 'null', NULL, '{NULL}', '{NULL}', '{NULL,"infinity","-infinity"}', '{NULL}', '{NULL}',
 '{NULL}', '{NULL}', '{NULL}', '0', NULL, '00:00:00', NULL, '{{NULL}}', NULL, 0, NULL, NULL);
-- row 5: very small and big, tricky floats, dates at the ends of the range
INSERT INTO alltypes VALUES (
 '2024-01-01 00:00:00+00', 5, '4713-01-01 00:00:00 BC', '4713-01-01 BC', 0, 0, 0,
 1.17549435e-38, 4.9e-324, true, repeat('long text ', 1000), NULL, NULL, NULL, NULL,
 0.01, 0.0001, 0.0000000001, 1, 100, 0.00001, -1e-5, '-Infinity', NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO alltypes VALUES (
 '2024-01-02 00:00:00+00', 6, '294276-12-31 23:59:59.999999', '5874897-12-31', 1, 1, 1,
 -0.0, 0.1, false, 'x', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 -0.000000000000000000000000000000000000001, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
-- row 7 (in February): numeric(p,s) NaN
INSERT INTO alltypes (ts, id, n5_2, n38_10, i4) VALUES ('2024-02-10 00:00:00+00', 7, 'NaN', 'NaN', 7);
INSERT INTO alltypes (ts, id, n5_2, i4) VALUES ('2024-02-11 00:00:00+00', 8, 1.5, 8);
