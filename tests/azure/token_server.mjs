// token_server.mjs: the Microsoft Entra ID side of the identity tests, on loopback (node's
// http, https and crypto only). It checks each token request the way the real service
// would and answers with an access token it mints: a JWT signed (RS256) with the tests'
// own key, issuer https://sts.windows.net/<tenant>/ and audience the requested resource,
// which HTTPS Azurite (--oauth basic) then checks.
//
//   node token_server.mjs CONFIG.json
//
// CONFIG.json, read again at every request (a test changes it between cases):
//   https_port, http_port     the token endpoint (TLS: cert, key), IMDS and App Service
//   cert, key, issuer_key     PEM files
//   tenant                    the one tenant; /<tenant>/oauth2/v2.0/token
//   life_s                    lifetime of the tokens it mints
//   clients: { "<client id>": { "secret": "..." } | { "cert": "client.crt" }
//                                | { "federated_file": "/path" }, ... }
//   oid                       the object id put into the tokens (the Redis user)
//   imds: { "client_id": optional user-assigned id it expects }
//   appservice_header         the IDENTITY_HEADER value it expects
//   redis: { "cli": ["redis-cli", "-p", "N", ...], "user": "<oid>" }   optional: every
//       token minted for https://redis.azure.com becomes that ACL user's password, and
//       stops being one when it expires (Redis cannot check a JWT; Azure would)
//   log                       JSON lines: every token minted and every request refused
//   audience_override, lie_exp_s   controls: mint tokens for another audience, or with an
//                             exp claim off by this many seconds
//
// Requests it refuses get the status and JSON error shape of the real endpoints.
import { createServer as createHttp } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { readFileSync, appendFileSync, statSync } from 'node:fs';
import { X509Certificate, createHash, createPrivateKey, createPublicKey, randomUUID, sign, verify } from 'node:crypto';
import { execFileSync } from 'node:child_process';

const cfgPath = process.argv[2];
const cfg = () => JSON.parse(readFileSync(cfgPath, 'utf8'));
const first = cfg();
const seenJti = new Set();
const fedSeen = {};
let minted = 0;

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const sha = (s) => createHash('sha256').update(s).digest('hex').slice(0, 16);
const now = () => Math.floor(Date.now() / 1000);

function log(c, entry) {
  if (c.log) appendFileSync(c.log, JSON.stringify({ t: Date.now(), ...entry }) + '\n');
}

function jwt(key, header, claims) {
  const input = b64url(JSON.stringify(header)) + '.' + b64url(JSON.stringify(claims));
  return input + '.' + b64url(sign('RSA-SHA256', Buffer.from(input), key));
}

// A token for resource (no trailing slash in aud, as Entra ID writes it).
function mint(c, resource, appid, flow) {
  const t = now(), life = c.life_s ?? 3600;
  const aud = resource.replace(/\/$/, '');
  // the controls: a token for another audience, or one whose exp claim lies (already
  // expired), show that Azurite does check what it is given
  const token = jwt(createPrivateKey(readFileSync(c.issuer_key)), { alg: 'RS256', typ: 'JWT', kid: 'tests' }, {
    aud: c.audience_override ?? aud, iss: `https://sts.windows.net/${c.tenant}/`, iat: t - 5, nbf: t - 5,
    exp: t + life + (c.lie_exp_s ?? 0),
    appid, oid: c.oid ?? '00000000-0000-0000-0000-00000000cafe', tid: c.tenant, sub: appid,
    jti: randomUUID(), ver: '1.0',
  });
  minted++;
  if (c.redis && aud === 'https://redis.azure.com') {
    const [cmd, ...args] = c.redis.cli;
    execFileSync(cmd, [...args, 'ACL', 'SETUSER', c.redis.user, 'on', `>${token}`, '~*', '&*', '+@all']);
    setTimeout(() => {
      try { execFileSync(cmd, [...args, 'ACL', 'SETUSER', c.redis.user, `<${token}`]); } catch { /* gone */ }
    }, life * 1000).unref();
  }
  log(c, { minted: flow, resource: aud, appid, life, exp: t + life, token: sha(token) });
  return { token, life, exp: t + life };
}

function send(res, status, body) {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(s) });
  res.end(s);
}

function refuse(c, res, status, error, description, flow) {
  log(c, { refused: flow, status, error, description });
  send(res, status, { error, error_description: description, error_codes: [0], timestamp: new Date().toISOString() });
}

function readBody(req) {
  return new Promise((resolve) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
  });
}

// A client assertion signed with the client's registered certificate (x5t, RS256).
function checkAssertion(c, res, assertion, clientId, certFile, aud) {
  const parts = assertion.split('.');
  if (parts.length !== 3) return refuse(c, res, 400, 'invalid_request', 'AADSTS50027: JWT token is invalid or malformed.', 'certificate');
  let header, claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url'));
    claims = JSON.parse(Buffer.from(parts[1], 'base64url'));
  } catch {
    return refuse(c, res, 400, 'invalid_request', 'AADSTS50027: JWT token is invalid or malformed.', 'certificate');
  }
  const cert = new X509Certificate(readFileSync(certFile));
  const x5t = b64url(Buffer.from(cert.fingerprint.replaceAll(':', ''), 'hex'));
  const t = now();
  const why =
    header.alg !== 'RS256' ? 'alg is not RS256'
    : header.typ !== 'JWT' ? 'typ is not JWT'
    : header.x5t !== x5t ? 'AADSTS700027: the certificate with identifier used to sign the client assertion is not registered on application (x5t)'
    : !verify('RSA-SHA256', Buffer.from(parts[0] + '.' + parts[1]), cert.publicKey, Buffer.from(parts[2], 'base64url'))
      ? 'AADSTS700027: Client assertion contains an invalid signature.'
    : claims.aud !== aud ? `AADSTS700016: aud ${claims.aud} is not ${aud}`
    : claims.iss !== clientId || claims.sub !== clientId ? 'iss and sub must be the client id'
    : !(claims.exp > t) || claims.exp - claims.nbf > 3600 ? 'AADSTS700024: Client assertion is not within its valid time range.'
    : !(claims.nbf <= t + 300) ? 'AADSTS700024: Client assertion is not within its valid time range (nbf).'
    : !claims.jti || seenJti.has(claims.jti) ? 'AADSTS700021: the jti was seen before (a replayed assertion)'
    : null;
  if (why) return refuse(c, res, 401, 'invalid_client', why, 'certificate');
  seenJti.add(claims.jti);
  return true;
}

async function tokenEndpoint(req, res, port) {
  const c = cfg();
  const flowOf = (f) => f.get('client_secret') ? 'secret' : f.get('client_assertion') ? 'assertion' : 'none';
  const body = await readBody(req);
  const f = new URLSearchParams(body);
  const path = `/${c.tenant}/oauth2/v2.0/token`;
  if (req.method !== 'POST' || new URL(req.url, 'https://x').pathname !== path)
    return refuse(c, res, 404, 'not_found', `AADSTS90002: Tenant not found (${req.url})`, 'token');
  if (!(req.headers['content-type'] || '').startsWith('application/x-www-form-urlencoded'))
    return refuse(c, res, 400, 'invalid_request', 'AADSTS900144: the body must be a form', flowOf(f));
  if (f.get('grant_type') !== 'client_credentials')
    return refuse(c, res, 400, 'unsupported_grant_type', 'AADSTS70003: grant_type must be client_credentials', flowOf(f));
  const scope = f.get('scope') || '';
  if (!scope.endsWith('/.default'))
    return refuse(c, res, 400, 'invalid_scope', 'AADSTS1002012: scope must end with /.default', flowOf(f));
  const id = f.get('client_id');
  const client = (c.clients || {})[id];
  if (!client) return refuse(c, res, 400, 'unauthorized_client', `AADSTS700016: Application with identifier '${id}' was not found.`, flowOf(f));
  let flow;
  if (client.secret !== undefined) {
    flow = 'secret';
    if (f.get('client_assertion')) return refuse(c, res, 401, 'invalid_client', 'AADSTS7000218: client_secret expected', flow);
    if (f.get('client_secret') !== client.secret)
      return refuse(c, res, 401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.', flow);
  } else {
    if (f.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' || !f.get('client_assertion'))
      return refuse(c, res, 401, 'invalid_client', 'AADSTS7000216: client_assertion or client_secret required', 'assertion');
    if (f.get('client_secret')) return refuse(c, res, 401, 'invalid_client', 'AADSTS7000216: a secret was sent as well', 'assertion');
    if (client.cert) {
      flow = 'certificate';
      const aud = `https://127.0.0.1:${port}${path}`;
      if (checkAssertion(c, res, f.get('client_assertion'), id, client.cert, aud) !== true) return;
    } else {
      flow = 'workload';
      // the file's contents now; the ones before only within a second of a rotation (the
      // kubelet's old token stays valid, and a read may race the rename)
      const want = readFileSync(client.federated_file, 'utf8').trim();
      const seen = fedSeen[id] ??= { current: want, prev: null };
      if (seen.current !== want) Object.assign(seen, { prev: seen.current, current: want });
      const fresh = Date.now() - statSync(client.federated_file).mtimeMs < 1000;
      if (f.get('client_assertion') !== want && !(fresh && f.get('client_assertion') === seen.prev))
        return refuse(c, res, 401, 'invalid_client', 'AADSTS700211: No matching federated identity record found for presented assertion.', flow);
    }
  }
  const m = mint(c, scope.slice(0, -'.default'.length), id, flow);
  send(res, 200, { token_type: 'Bearer', expires_in: m.life, ext_expires_in: m.life, access_token: m.token });
}

function identityEndpoints(req, res) {
  const c = cfg();
  const u = new URL(req.url, 'http://x');
  const q = u.searchParams;
  if (u.pathname === '/metadata/identity/oauth2/token' && req.method === 'GET') {
    if (req.headers.metadata !== 'true') return refuse(c, res, 400, 'invalid_request', 'Required metadata header not specified', 'imds');
    if (q.get('api-version') !== '2018-02-01') return refuse(c, res, 400, 'invalid_request', 'Invalid API version', 'imds');
    if (!q.get('resource')) return refuse(c, res, 400, 'invalid_request', 'Required audience parameter not specified', 'imds');
    const want = (c.imds || {}).client_id;
    if ((want || null) !== (q.get('client_id') || null)) return refuse(c, res, 400, 'invalid_request', 'Identity not found', 'imds');
    const m = mint(c, q.get('resource'), want || 'system-assigned', 'imds');
    // IMDS writes its numbers as strings
    return send(res, 200, { access_token: m.token, client_id: want || 'system', expires_in: String(m.life),
      expires_on: String(m.exp), ext_expires_in: String(m.life), not_before: String(m.exp - m.life),
      resource: q.get('resource'), token_type: 'Bearer' });
  }
  if (u.pathname === '/msi/token' && req.method === 'GET') {
    if (!c.appservice_header || req.headers['x-identity-header'] !== c.appservice_header)
      return send(res, 401, { statusCode: 401, message: 'Unauthorized request: X-IDENTITY-HEADER is missing or wrong' }), log(c, { refused: 'appservice', status: 401 });
    if (q.get('api-version') !== '2019-08-01') return send(res, 400, { statusCode: 400, message: 'api-version must be 2019-08-01' }), log(c, { refused: 'appservice', status: 400 });
    if (!q.get('resource')) return send(res, 400, { statusCode: 400, message: 'resource is required' }), log(c, { refused: 'appservice', status: 400 });
    const m = mint(c, q.get('resource'), q.get('client_id') || 'app-service', 'appservice');
    // App Service 2019-08-01: expires_on as Unix seconds in a string, no expires_in
    return send(res, 200, { access_token: m.token, expires_on: String(m.exp), resource: q.get('resource'),
      token_type: 'Bearer', client_id: q.get('client_id') || 'app-service' });
  }
  if (u.pathname === '/stats') return send(res, 200, { minted });
  send(res, 404, { error: 'not_found' });
}

const tls = createHttps({ cert: readFileSync(first.cert), key: readFileSync(first.key) }, (req, res) => {
  tokenEndpoint(req, res, first.https_port).catch((e) => send(res, 500, { error: 'server_error', error_description: String(e) }));
});
const plain = createHttp((req, res) => {
  try { identityEndpoints(req, res); } catch (e) { send(res, 500, { error: 'server_error', error_description: String(e) }); }
});
tls.listen(first.https_port, '127.0.0.1');
plain.listen(first.http_port, '127.0.0.1');
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
