// OUR FHIR Bulk Data ($export) test server, written for medgw's tests: not an independent implementation.
// It plays a SMART Backend Services token endpoint, the async kick-off /
// status / manifest flow and an output file host on another host, and logs
// everything medgw does, so the tests can check medgw's side of the protocol.
//   node tests/peers/fhir_bulk_server.mjs --public-key PEM [--client-id ID] [--scenario plain|flaky]
// Prints "listening on PORT FILEPORT": the FHIR server on 127.0.0.1:PORT and
// the file host on 127.0.0.2:FILEPORT (Linux loopback answers all of 127/8).
// Plain node:http, no dependencies.
//
// FHIR server (127.0.0.1:PORT):
//   POST /auth/token  form: grant_type=client_credentials, scope,
//     client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer,
//     client_assertion=JWT. The JWT must have header alg ES384 (raw r||s
//     signature) or RS384 matching the --public-key type, typ JWT; a valid
//     signature; iss == sub == client id (default medgw-test); aud exactly
//     http://127.0.0.1:PORT/auth/token; exp in the future and at most 300 s
//     ahead; a jti never accepted before. 200 {access_token, token_type:
//     "bearer", expires_in: 300, scope} or 401 {error: "invalid_client",
//     error_description: the failed check}. A wrong grant_type is 400
//     unsupported_grant_type, a wrong client_assertion_type or missing
//     scope/client_assertion 400 invalid_request.
//   Every /fhir request needs "Authorization: Bearer <token issued here, not expired>", else 401.
//   GET /fhir/$export, /fhir/Patient/$export, /fhir/Group/ID/$export: needs
//     "Prefer: respond-async" (else 400); _outputFormat absent or
//     application/fhir+ndjson, application/ndjson, ndjson (else 400); _since
//     (instant; keeps lastUpdated > _since) and _type (comma list) filter.
//     All levels export all resources (no compartment, Group not needed).
//     Other parameters are ignored. 202 with Content-Location
//     http://127.0.0.1:PORT/fhir/_jobs/ID. The job snapshots the data at
//     kick-off; transactionTime is the kick-off time.
//   GET /fhir/_jobs/ID: polls 1 and 2 answer 202 with Retry-After: 1 and
//     X-Progress, later ones 200 with the manifest (one output per type with
//     resources, url http://127.0.0.1:PORT/fhir/_files/ID/TYPE.ndjson).
//     DELETE /fhir/_jobs/ID: 202, the job and its files are gone (404).
//   GET /fhir/_files/ID/TYPE.ndjson: 307 to
//     http://127.0.0.2:FILEPORT/files/ID/TYPE.ndjson?sig=RANDOM.
// File host (127.0.0.2:FILEPORT): GET /files/ID/TYPE.ndjson?sig=... answers
//   the NDJSON (application/fhir+ndjson); 400 "Authorization leaked to
//   another host" if the request has an Authorization header; 403 on a
//   wrong sig.
// --scenario flaky: the first valid kick-off (authorized, Prefer, format and
//   _since fine) answers 429 with Retry-After: 1; the first status poll that would be 200 answers 500 once.
// The server's clock is strictly increasing (every stamp is at least 1 ms
//   after the previous one), so a resource written after a kick-off always
//   has lastUpdated > that job's transactionTime.
// Control routes (on the FHIR listener, not logged):
//   POST /_control/resources  NDJSON body; upserts each resource keeping its
//     id; meta.versionId "1", "2", ...; meta.lastUpdated = now (one stamp per
//     request). Answers {"count": N, "lastUpdated": stamp}.
//   GET /_control/log  JSON array of every other request on both listeners:
//     {listener: "fhir"|"files", method, path, query (object; repeated keys
//     give arrays), authorization (header value or null), time, status of the answer}, plus
//     token_verdict ("ok" or the failed check) on /auth/token requests and
//     leaked_authorization: true on file host requests refused for it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

const args = process.argv.slice(2);
let publicKeyPath = null;
let clientId = 'medgw-test';
let scenario = 'plain';
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--public-key') publicKeyPath = args[++i];
  else if (args[i] === '--client-id') clientId = args[++i];
  else if (args[i] === '--scenario') scenario = args[++i];
  else { console.error(`unknown argument ${args[i]}`); process.exit(2); }
}
if (!publicKeyPath || !['plain', 'flaky'].includes(scenario)) {
  console.error('usage: fhir_bulk_server.mjs --public-key PEM [--client-id ID] [--scenario plain|flaky]');
  process.exit(2);
}
const publicKey = crypto.createPublicKey(fs.readFileSync(publicKeyPath));

const FHIR_HOST = '127.0.0.1';
const FILE_HOST = '127.0.0.2';
const TOKEN_LIFETIME = 300;
let fhirPort = 0;
let filePort = 0;

let lastStamp = 0;
function stamp() {
  lastStamp = Math.max(Date.now(), lastStamp + 1);
  return new Date(lastStamp).toISOString();
}

const store = new Map();      // resourceType -> Map(id -> resource)
const log = [];
const tokens = new Map();     // access token -> expiry (ms)
const usedJtis = new Set();
const jobs = new Map();       // job id -> {transactionTime, request, files: Map(type -> {ndjson, count}), polls}
const fileSigs = new Map();   // "job/Type.ndjson" -> Set of sigs
let flakyKickoffDone = false;
let flakyStatusDone = false;

const random = (n = 18) => crypto.randomBytes(n).toString('base64url');

function queryObject(params) {
  const out = {};
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    out[key] = values.length === 1 ? values[0] : values;
  }
  return out;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, body, headers = {}) {
  let data = body;
  if (body === undefined || body === null) data = '';
  else if (typeof body !== 'string' && !Buffer.isBuffer(body)) {
    data = JSON.stringify(body);
    headers = {'Content-Type': 'application/json', ...headers};
  }
  data = Buffer.from(data);
  res.writeHead(status, {...headers, 'Content-Length': data.length});
  res.end(data);
}

const outcome = (code, text) => ({resourceType: 'OperationOutcome', issue: [{severity: 'error', code, diagnostics: text}]});
const sendOutcome = (res, status, code, text, headers = {}) =>
  send(res, status, JSON.stringify(outcome(code, text)), {'Content-Type': 'application/fhir+json', ...headers});

// --- SMART Backend Services token endpoint -------------------------------

const b64json = part => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

function checkAssertion(jwt) {
  const parts = typeof jwt === 'string' ? jwt.split('.') : [];
  if (parts.length !== 3) return 'client_assertion is not a JWS compact serialization';
  let header, claims;
  try { header = b64json(parts[0]); claims = b64json(parts[1]); } catch { return 'JWT header or payload is not base64url JSON'; }
  if (header.typ !== 'JWT') return `header typ must be JWT, got ${JSON.stringify(header.typ)}`;
  const signature = Buffer.from(parts[2], 'base64url');
  const data = Buffer.from(`${parts[0]}.${parts[1]}`);
  let valid;
  if (header.alg === 'ES384') {
    if (publicKey.asymmetricKeyType !== 'ec') return 'alg ES384 does not match the registered key';
    if (signature.length !== 96) return `ES384 signature must be 96 bytes r||s, got ${signature.length}`;
    valid = crypto.verify('sha384', data, {key: publicKey, dsaEncoding: 'ieee-p1363'}, signature);
  } else if (header.alg === 'RS384') {
    if (publicKey.asymmetricKeyType !== 'rsa') return 'alg RS384 does not match the registered key';
    valid = crypto.verify('sha384', data, publicKey, signature);
  } else {
    return `header alg must be ES384 or RS384, got ${JSON.stringify(header.alg)}`;
  }
  if (!valid) return 'signature does not verify against the registered public key';
  if (claims.iss !== clientId) return `iss must be ${clientId}, got ${JSON.stringify(claims.iss)}`;
  if (claims.sub !== clientId) return `sub must be ${clientId}, got ${JSON.stringify(claims.sub)}`;
  const tokenUrl = `http://${FHIR_HOST}:${fhirPort}/auth/token`;
  if (claims.aud !== tokenUrl) return `aud must be ${tokenUrl}, got ${JSON.stringify(claims.aud)}`;
  const now = Date.now() / 1000;
  if (typeof claims.exp !== 'number') return 'exp missing or not a number';
  if (claims.exp <= now) return 'exp is in the past';
  if (claims.exp > now + 300) return 'exp is more than 5 minutes ahead';
  if (typeof claims.jti !== 'string' || claims.jti === '') return 'jti missing';
  if (usedJtis.has(claims.jti)) return 'jti already used (replay)';
  usedJtis.add(claims.jti);
  return null;
}

function handleToken(req, res, body, entry) {
  const form = new URLSearchParams(body);
  const refuse = (status, error, description) => {
    entry.token_verdict = description;
    send(res, status, {error, error_description: description}, {'Cache-Control': 'no-store'});
  };
  if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? ''))
    return refuse(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
  if (form.get('grant_type') !== 'client_credentials')
    return refuse(400, 'unsupported_grant_type', `grant_type must be client_credentials, got ${JSON.stringify(form.get('grant_type'))}`);
  if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
    return refuse(400, 'invalid_request', 'client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
  if (!form.get('scope')) return refuse(400, 'invalid_request', 'scope missing');
  if (!form.get('client_assertion')) return refuse(400, 'invalid_request', 'client_assertion missing');
  const failure = checkAssertion(form.get('client_assertion'));
  if (failure) return refuse(401, 'invalid_client', failure);
  const token = random(32);
  tokens.set(token, Date.now() + TOKEN_LIFETIME * 1000);
  entry.token_verdict = 'ok';
  send(res, 200, {access_token: token, token_type: 'bearer', expires_in: TOKEN_LIFETIME, scope: form.get('scope')},
       {'Cache-Control': 'no-store'});
}

function authorized(req) {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  const expiry = m && tokens.get(m[1]);
  return Boolean(expiry && expiry > Date.now());
}

// --- Bulk export ---------------------------------------------------------

const OUTPUT_FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function kickOff(req, res, url) {
  if (!/(^|[\s,;])respond-async($|[\s,;])/.test(req.headers.prefer ?? ''))
    return sendOutcome(res, 400, 'invalid', 'Prefer: respond-async is required');
  const format = url.searchParams.get('_outputFormat');
  if (format !== null && !OUTPUT_FORMATS.has(format))
    return sendOutcome(res, 400, 'not-supported', `_outputFormat ${format} is not supported`);
  const since = url.searchParams.get('_since');
  if (since !== null && !INSTANT.test(since)) return sendOutcome(res, 400, 'invalid', `_since ${since} is not a FHIR instant`);
  const sinceMs = since === null ? null : Date.parse(since);
  const typeParam = url.searchParams.getAll('_type').join(',');
  const types = typeParam ? new Set(typeParam.split(',').map(t => t.trim()).filter(Boolean)) : null;

  if (scenario === 'flaky' && !flakyKickoffDone) {
    flakyKickoffDone = true;
    return sendOutcome(res, 429, 'throttled', 'too many requests, try again', {'Retry-After': '1'});
  }

  const id = random(12);
  const transactionTime = stamp();
  const files = new Map();
  for (const [type, resources] of [...store.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    if (types && !types.has(type)) continue;
    const selected = [...resources.values()].filter(r => sinceMs === null || Date.parse(r.meta.lastUpdated) > sinceMs);
    if (selected.length) files.set(type, {ndjson: selected.map(r => JSON.stringify(r) + '\n').join(''), count: selected.length});
  }
  jobs.set(id, {transactionTime, request: `http://${FHIR_HOST}:${fhirPort}${req.url}`, files, polls: 0});
  send(res, 202, '', {'Content-Location': `http://${FHIR_HOST}:${fhirPort}/fhir/_jobs/${id}`});
}

function jobStatus(req, res, id) {
  const job = jobs.get(id);
  if (!job) return sendOutcome(res, 404, 'not-found', `no job ${id}`);
  if (req.method === 'DELETE') {
    jobs.delete(id);
    for (const type of job.files.keys()) fileSigs.delete(`${id}/${type}.ndjson`);
    return send(res, 202, '');
  }
  job.polls += 1;
  if (job.polls <= 2) return send(res, 202, '', {'Retry-After': '1', 'X-Progress': `poll ${job.polls}: exporting`});
  if (scenario === 'flaky' && !flakyStatusDone) {
    flakyStatusDone = true;
    return sendOutcome(res, 500, 'transient', 'temporary failure, poll again');
  }
  send(res, 200, {
    transactionTime: job.transactionTime,
    request: job.request,
    requiresAccessToken: true,
    output: [...job.files.entries()].map(([type, file]) => ({
      type, url: `http://${FHIR_HOST}:${fhirPort}/fhir/_files/${id}/${type}.ndjson`, count: file.count})),
    error: [],
  });
}

function fileRedirect(res, id, name) {
  const type = name.replace(/\.ndjson$/, '');
  if (!name.endsWith('.ndjson') || !jobs.get(id)?.files.has(type)) return sendOutcome(res, 404, 'not-found', 'no such file');
  const key = `${id}/${name}`;
  const sig = random(16);
  if (!fileSigs.has(key)) fileSigs.set(key, new Set());
  fileSigs.get(key).add(sig);
  send(res, 307, '', {Location: `http://${FILE_HOST}:${filePort}/files/${key}?sig=${sig}`});
}

// --- Control routes ------------------------------------------------------

function upsert(res, body) {
  const lines = body.split('\n').map(l => l.trim()).filter(Boolean);
  const resources = [];
  for (const [i, line] of lines.entries()) {
    let r;
    try { r = JSON.parse(line); } catch { return send(res, 400, {error: `line ${i + 1} is not JSON`}); }
    if (typeof r?.resourceType !== 'string' || typeof r.id !== 'string' || !r.id)
      return send(res, 400, {error: `line ${i + 1} needs resourceType and id`});
    resources.push(r);
  }
  const lastUpdated = stamp();
  for (const r of resources) {
    if (!store.has(r.resourceType)) store.set(r.resourceType, new Map());
    const previous = store.get(r.resourceType).get(r.id);
    const version = previous ? parseInt(previous.meta.versionId, 10) + 1 : 1;
    store.get(r.resourceType).set(r.id, {...r, meta: {...r.meta, versionId: String(version), lastUpdated}});
  }
  send(res, 200, {count: resources.length, lastUpdated});
}

// --- Listeners -----------------------------------------------------------

function logEntry(listener, req, url, res) {
  const entry = {listener, method: req.method, path: url.pathname, query: queryObject(url.searchParams),
                 authorization: req.headers.authorization ?? null, time: new Date().toISOString()};
  res.on('finish', () => { entry.status = res.statusCode; });
  log.push(entry);
  return entry;
}

async function handleFhir(req, res) {
  const url = new URL(req.url, `http://${FHIR_HOST}:${fhirPort}`);
  const body = await readBody(req);
  let path;
  try { path = decodeURIComponent(url.pathname); } catch { path = url.pathname; }
  if (path === '/_control/resources' && req.method === 'POST') return upsert(res, body);
  if (path === '/_control/log' && req.method === 'GET') return send(res, 200, log);
  const entry = logEntry('fhir', req, url, res);
  if (path === '/auth/token') {
    if (req.method !== 'POST') return send(res, 405, {error: 'invalid_request', error_description: 'use POST'}, {Allow: 'POST'});
    return handleToken(req, res, body, entry);
  }
  if (path !== '/fhir' && !path.startsWith('/fhir/')) return sendOutcome(res, 404, 'not-found', 'unknown path');
  if (!authorized(req))
    return sendOutcome(res, 401, 'login', 'a valid bearer token is required', {'WWW-Authenticate': 'Bearer'});
  let m;
  if (req.method === 'GET' && /^\/fhir\/((Patient|Group\/[A-Za-z0-9\-.]{1,64})\/)?\$export$/.test(path)) return kickOff(req, res, url);
  if ((req.method === 'GET' || req.method === 'DELETE') && (m = /^\/fhir\/_jobs\/([^/]+)$/.exec(path))) return jobStatus(req, res, m[1]);
  if (req.method === 'GET' && (m = /^\/fhir\/_files\/([^/]+)\/([^/]+)$/.exec(path))) return fileRedirect(res, m[1], m[2]);
  sendOutcome(res, 404, 'not-found', `${req.method} ${path} is not supported here`);
}

async function handleFiles(req, res) {
  const url = new URL(req.url, `http://${FILE_HOST}:${filePort}`);
  await readBody(req);
  const entry = logEntry('files', req, url, res);
  if (req.headers.authorization !== undefined) {
    entry.leaked_authorization = true;
    return send(res, 400, 'Authorization leaked to another host\n', {'Content-Type': 'text/plain'});
  }
  const m = /^\/files\/([^/]+)\/([A-Za-z]+)\.ndjson$/.exec(url.pathname);
  if (req.method !== 'GET' || !m) return send(res, 404, 'not found\n', {'Content-Type': 'text/plain'});
  const key = `${m[1]}/${m[2]}.ndjson`;
  if (!fileSigs.get(key)?.has(url.searchParams.get('sig'))) return send(res, 403, 'bad or missing sig\n', {'Content-Type': 'text/plain'});
  const file = jobs.get(m[1])?.files.get(m[2]);
  if (!file) return send(res, 404, 'not found\n', {'Content-Type': 'text/plain'});
  send(res, 200, file.ndjson, {'Content-Type': 'application/fhir+ndjson'});
}

const wrap = handler => (req, res) => handler(req, res).catch(err => {
  console.error(err);
  if (!res.headersSent) send(res, 500, {error: String(err)});
  else res.destroy();
});

const fhirServer = http.createServer(wrap(handleFhir));
const fileServer = http.createServer(wrap(handleFiles));
fhirServer.listen(0, FHIR_HOST, () => {
  fhirPort = fhirServer.address().port;
  fileServer.listen(0, FILE_HOST, () => {
    filePort = fileServer.address().port;
    console.log(`listening on ${fhirPort} ${filePort}`);
  });
});
