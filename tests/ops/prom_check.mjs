// prom_check.mjs FILE...: parses Prometheus text pages with parse-prometheus-text-format
// (a parser nobody here wrote), checks their shape (every family named tsarchive_*,
// with HELP and TYPE; counters end in _total; histograms have cumulative buckets that
// end in +Inf and equal _count), and prints each sample as "name{labels}\tvalue" for
// the shell test to compare with the work done. Exit 1 on a shape error.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(new URL('../../tools/package.json', import.meta.url));
const parse = require('parse-prometheus-text-format');

let bad = 0;
const fail = (msg) => {
    console.error(`prom_check: ${msg}`);
    bad++;
};
const labels = (l) => {
    const keys = Object.keys(l || {}).sort();
    return keys.length ? `{${keys.map((k) => `${k}="${l[k]}"`).join(',')}}` : '';
};

for (const file of process.argv.slice(2)) {
    const text = readFileSync(file, 'utf8');
    let families;
    try {
        families = parse(text);
    } catch (e) {
        fail(`${file}: does not parse: ${e.message}`);
        continue;
    }
    if (!families.length) fail(`${file}: no metric families`);
    // every HELP/TYPE pair is there in the raw text too
    for (const f of families) {
        if (!f.name.startsWith('tsarchive_')) fail(`${file}: ${f.name}: not named tsarchive_*`);
        if (!f.help) fail(`${file}: ${f.name}: no HELP`);
        if (!text.includes(`# TYPE ${f.name} `)) fail(`${file}: ${f.name}: no TYPE line`);
        if (f.type === 'COUNTER' && !f.name.endsWith('_total')) fail(`${file}: counter ${f.name} does not end in _total`);
        if (!['COUNTER', 'GAUGE', 'HISTOGRAM'].includes(f.type)) fail(`${file}: ${f.name}: unexpected type ${f.type}`);
        for (const m of f.metrics) {
            if (f.type === 'HISTOGRAM') {
                // (object keys that look like integers come first in JS: order by value)
                const les = Object.keys(m.buckets).sort((a, b) => Number(a) - Number(b));
                let prev = -1;
                for (const le of les) {
                    const v = Number(m.buckets[le]);
                    if (v < prev) fail(`${f.name}: bucket le=${le} is not cumulative`);
                    prev = v;
                    console.log(`${f.name}_bucket{le="${le}"}\t${v}`);
                }
                if (les[les.length - 1] !== '+Inf') fail(`${f.name}: the last bucket is not +Inf`);
                if (Number(m.buckets['+Inf']) !== Number(m.count)) fail(`${f.name}: +Inf bucket != _count`);
                console.log(`${f.name}_count${labels(m.labels)}\t${Number(m.count)}`);
                console.log(`${f.name}_sum${labels(m.labels)}\t${Number(m.sum)}`);
            } else {
                if (Number.isNaN(Number(m.value))) fail(`${f.name}: value ${m.value} is not a number`);
                console.log(`${f.name}${labels(m.labels)}\t${Number(m.value)}`);
            }
        }
    }
}
process.exit(bad ? 1 : 0);
