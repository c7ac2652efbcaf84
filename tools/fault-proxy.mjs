// fault-proxy.mjs: a small HTTP proxy in front of Azurite (or any HTTP server) for the
// fault-injection tests (tests/faults/lake.sh). Node's http module only.
//
//   node tools/fault-proxy.mjs LISTEN_PORT TARGET_PORT CONTROL_FILE
//
// Listens on 127.0.0.1:LISTEN_PORT and forwards every request verbatim (method, path,
// headers including Host, body streamed) to 127.0.0.1:TARGET_PORT, or answers by
// itself, according to the mode read from CONTROL_FILE on each request (its first
// word; a missing or empty file means pass):
//   pass      forward as is
//   503       answer 503 Server Busy with an Azure-style XML error body, Retry-After: 1
//             and x-ms-error-code: ServerBusy, without forwarding (the body is drained)
//   403-auth  forward with the signature in the Authorization header altered, so the
//             server itself answers 403 (AuthenticationFailed: a wrong key)
//   reset     destroy the client's socket without an answer
//   hang      accept the request and never answer (a lake that hangs)
//   503-log   answer 503 to PUTs of a Delta log commit (a path with _delta_log/),
//             forward everything else (uploads pass, commits fail)
// After each request it writes CONTROL_FILE.stats (atomically: a temp file renamed):
// one "NAME COUNT" line per counter: the requests answered in each mode (pass, 503,
// 403-auth, reset) and the statuses the target answered ("status:403 7"); plus
// "upstream-error N" for requests the target could not be reached for.
import http from 'node:http';
import fs from 'node:fs';

const [listenPort, targetPort, control] = process.argv.slice(2);
if (!listenPort || !targetPort || !control) {
    process.stderr.write('usage: node fault-proxy.mjs LISTEN_PORT TARGET_PORT CONTROL_FILE\n');
    process.exit(2);
}
const MODES = ['pass', '503', '403-auth', 'reset', 'hang', '503-log'];
const counts = new Map(MODES.map((m) => [m, 0]));
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function mode() {
    let m = '';
    try {
        m = fs.readFileSync(control, 'utf8').trim().split(/\s+/)[0] || '';
    } catch {
        m = '';
    }
    return MODES.includes(m) ? m : 'pass';
}

function count(name) {
    counts.set(name, (counts.get(name) || 0) + 1);
    const text = [...counts].map(([k, v]) => `${k} ${v}\n`).join('');
    const tmp = `${control}.stats.tmp`;
    try {
        fs.writeFileSync(tmp, text);
        fs.renameSync(tmp, `${control}.stats`);
    } catch (e) {
        process.stderr.write(`fault-proxy: cannot write stats: ${e.message}\n`);
    }
}

// "SharedKey account:signature" -> the same with a different signature of the same
// length (still valid base64), so the server's check fails, not its parser
function spoil(auth) {
    const m = /^(SharedKey(?:Lite)?\s+[^:]+:)(.+)$/.exec(auth || '');
    if (m) {
        const sig = m[2];
        return m[1] + (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
    }
    if (/^Bearer\s+/.test(auth || '')) return `${auth}x`;
    return 'SharedKey devstoreaccount1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
}

function busy(req, res, name = '503') {
    const id = '00000000-0000-0000-0000-000000000503';
    const body =
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code>' +
        '<Message>The server is currently unable to receive requests. Please retry your request.\n' +
        `RequestId:${id}\nTime:${new Date().toISOString()}</Message></Error>`;
    const send = () => {
        res.writeHead(503, 'Server Busy', {
            'Content-Type': 'application/xml',
            'Content-Length': Buffer.byteLength(body),
            'Retry-After': '1',
            'x-ms-error-code': 'ServerBusy',
            'x-ms-request-id': id,
        });
        res.end(req.method === 'HEAD' ? undefined : body);
        count(name);
    };
    req.on('end', send);
    req.on('error', () => {});
    req.resume(); // drain the upload so the connection stays usable
}

function forward(req, res, m) {
    const headers = {};
    // rawHeaders keeps names' case and order; repeated names are joined by node anyway
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i];
        let value = req.rawHeaders[i + 1];
        if (m === '403-auth' && name.toLowerCase() === 'authorization') value = spoil(value);
        if (headers[name] !== undefined) value = `${headers[name]}, ${value}`;
        headers[name] = value;
    }
    if (m === '403-auth' && !Object.keys(headers).some((h) => h.toLowerCase() === 'authorization'))
        headers.Authorization = spoil('');
    const up = http.request(
        { host: '127.0.0.1', port: Number(targetPort), method: req.method, path: req.url, headers, agent },
        (ures) => {
            res.writeHead(ures.statusCode, ures.statusMessage, ures.rawHeaders);
            ures.pipe(res);
            ures.on('end', () => {
                count(m);
                count(`status:${ures.statusCode}`);
            });
            ures.on('error', () => res.destroy());
        },
    );
    up.on('error', () => {
        count('upstream-error');
        res.destroy(); // the target is down: the client sees the connection drop
    });
    req.pipe(up);
    req.on('error', () => up.destroy());
}

const server = http.createServer((req, res) => {
    const m = mode();
    if (m === 'reset') {
        count('reset');
        req.socket.destroy();
        return;
    }
    if (m === '503') {
        busy(req, res);
        return;
    }
    if (m === '503-log' && req.method === 'PUT' && req.url.includes('_delta_log')) {
        busy(req, res, '503-log');
        return;
    }
    if (m === 'hang') {
        count('hang');
        req.resume(); // read the request, answer nothing, keep the socket open
        return;
    }
    forward(req, res, m === '503-log' ? 'pass' : m);
});
server.keepAliveTimeout = 30000;
server.on('clientError', (err, socket) => socket.destroy());
server.listen(Number(listenPort), '127.0.0.1', () => {
    process.stderr.write(`fault-proxy: 127.0.0.1:${listenPort} -> 127.0.0.1:${targetPort}, mode from ${control}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
