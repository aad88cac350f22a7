/**
 * Local stand-ins for Segment's HTTP Tracking API, Mixpanel's /import API and a webhook
 * receiver. Each checks every request against the vendor's published API (method, path, auth,
 * content type and encoding, size limits, required fields, id formats) and records any breach
 * in `violations`, which a test asserts empty. Each counts what it took, by the vendor's dedup id,
 * and can fail on demand: a status for the next N requests (with Retry-After), no answer
 * (timeouts), a dropped connection, or an outage for a while.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';

type Failure = { status: number; retryAfter?: string; body?: string } | 'hang' | 'reset';

export interface FakeVendor {
  url: string;
  /** Every request's accepted messages, by dedup id (a retried message counts once here). */
  unique: Map<string, unknown>;
  /** Messages accepted, counting repeats. */
  accepted: number;
  /** Requests seen, and how each was answered. */
  requests: Array<{ status: number | 'hang' | 'reset'; messages: number }>;
  /** Requests received, answered or not yet. */
  received: number;
  violations: string[];
  /** The next `n` requests fail this way. */
  failNext(n: number, how: Failure): void;
  /** Every request fails with 503 for `ms`. */
  outage(ms: number): void;
  /** Every answer from now on comes `ms` late (a slow vendor). */
  answerAfter(ms: number): void;
  close(): Promise<void>;
}

interface Answer {
  status: number;
  body: unknown;
  /** Messages to count as accepted, by dedup id. */
  accept: Array<[string, unknown]>;
}

async function startFake(handle: (req: IncomingMessage, raw: Buffer, violations: string[]) => Answer): Promise<FakeVendor> {
  const plan: Failure[] = [];
  let outageUntil = 0;
  let lateMs = 0;
  const hung: ServerResponse[] = [];
  const fake: FakeVendor = {
    url: '',
    unique: new Map(),
    accepted: 0,
    requests: [],
    received: 0,
    violations: [],
    failNext: (n, how) => {
      for (let i = 0; i < n; i++) plan.push(how);
    },
    outage: (ms) => {
      outageUntil = Date.now() + ms;
    },
    answerAfter: (ms) => {
      lateMs = ms;
    },
    close: () =>
      new Promise((r) => {
        for (const res of hung) res.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      fake.received++;
      const raw = Buffer.concat(chunks);
      const failure = Date.now() < outageUntil ? { status: 503, body: '{"error":"service unavailable"}' } : plan.shift();
      if (failure === 'hang') {
        fake.requests.push({ status: 'hang', messages: 0 });
        hung.push(res);
        return;
      }
      if (failure === 'reset') {
        fake.requests.push({ status: 'reset', messages: 0 });
        req.socket.destroy();
        return;
      }
      if (failure) {
        fake.requests.push({ status: failure.status, messages: 0 });
        res.writeHead(failure.status, { 'content-type': 'application/json', ...(failure.retryAfter ? { 'retry-after': failure.retryAfter } : {}) });
        res.end(failure.body ?? '{}');
        return;
      }
      let answer: Answer;
      try {
        answer = handle(req, raw, fake.violations);
      } catch (e) {
        fake.violations.push(`handler failed: ${(e as Error).message}`);
        answer = { status: 500, body: {}, accept: [] };
      }
      const reply = () => {
        for (const [id, m] of answer.accept) fake.unique.set(id, m);
        fake.accepted += answer.accept.length;
        fake.requests.push({ status: answer.status, messages: answer.accept.length });
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer.body));
      };
      if (lateMs > 0) setTimeout(reply, lateMs);
      else reply();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  fake.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return fake;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function basicAuth(req: IncomingMessage): { user: string; password: string } | null {
  const m = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
  if (!m) return null;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const i = text.indexOf(':');
  return i < 0 ? null : { user: text.slice(0, i), password: text.slice(i + 1) };
}

/**
 * Segment's `POST /v1/batch`: Basic auth with the write key as user name, JSON, at most 500 KB
 * per batch and 32 KB per call (400 beyond them or on bad JSON), 200 otherwise; `messageId`
 * dedups. Calls without a userId/anonymousId, an event or a messageId are violations.
 */
export function startFakeSegment(writeKey: string): Promise<FakeVendor> {
  return startFake((req, raw, violations) => {
    if (req.method !== 'POST' || req.url !== '/v1/batch') {
      violations.push(`segment: ${req.method} ${req.url}`);
      return { status: 404, body: {}, accept: [] };
    }
    const auth = basicAuth(req);
    if (!auth || auth.user !== writeKey || auth.password !== '') return { status: 401, body: { error: 'invalid write key' }, accept: [] };
    if (!String(req.headers['content-type']).startsWith('application/json')) violations.push('segment: content-type is not application/json');
    if (raw.length > 500 * 1024) {
      violations.push(`segment: batch of ${raw.length} bytes`);
      return { status: 400, body: { error: 'batch too large' }, accept: [] };
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      violations.push('segment: body is not JSON');
      return { status: 400, body: { error: 'invalid JSON' }, accept: [] };
    }
    if (!isObj(body) || !Array.isArray(body.batch)) {
      violations.push('segment: no batch array');
      return { status: 400, body: {}, accept: [] };
    }
    const accept: Array<[string, unknown]> = [];
    for (const m of body.batch as unknown[]) {
      const size = Buffer.byteLength(JSON.stringify(m));
      if (size > 32 * 1024) {
        violations.push(`segment: a call of ${size} bytes`);
        return { status: 400, body: { error: 'message too large' }, accept: [] };
      }
      if (!isObj(m) || m.type !== 'track' || typeof m.event !== 'string' || typeof m.messageId !== 'string') {
        violations.push(`segment: not a track call with event and messageId: ${JSON.stringify(m).slice(0, 200)}`);
        continue;
      }
      if (typeof m.userId !== 'string' && typeof m.anonymousId !== 'string') violations.push(`segment: call ${m.messageId} has no userId or anonymousId`);
      if (m.timestamp !== undefined && (typeof m.timestamp !== 'string' || !Number.isFinite(Date.parse(m.timestamp)))) violations.push(`segment: call ${m.messageId} has a bad timestamp`);
      if (m.properties !== undefined && !isObj(m.properties)) violations.push(`segment: call ${m.messageId} properties is not an object`);
      accept.push([m.messageId, m]);
    }
    return { status: 200, body: { success: true }, accept };
  });
}

/**
 * Mixpanel's `POST /import`: Basic auth with the project token (user name, empty password) or a
 * service account with `project_id`; gzip or plain JSON array (or NDJSON); at most 2,000 events
 * and 10 MB uncompressed (413); each event with a name, `time`, `distinct_id` and a valid
 * `$insert_id`. With strict=1 invalid events are answered in `failed_records` (400), the rest
 * imported.
 */
export function startFakeMixpanel(auth: { token?: string; serviceAccount?: { username: string; secret: string; projectId: string } }): Promise<FakeVendor> {
  return startFake((req, raw, violations) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method !== 'POST' || url.pathname !== '/import') {
      violations.push(`mixpanel: ${req.method} ${req.url}`);
      return { status: 404, body: {}, accept: [] };
    }
    const who = basicAuth(req);
    const sa = auth.serviceAccount;
    const ok = who && (sa ? who.user === sa.username && who.password === sa.secret && url.searchParams.get('project_id') === sa.projectId : who.user === auth.token);
    if (!ok) return { status: 401, body: { code: 401, error: 'Invalid credentials', status: 'Unauthorized' }, accept: [] };
    let text: string;
    try {
      text = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
    } catch {
      violations.push('mixpanel: content-encoding gzip but the body is not gzip');
      return { status: 400, body: { code: 400, error: 'bad gzip' }, accept: [] };
    }
    if (Buffer.byteLength(text) > 10 * 1024 * 1024) {
      violations.push(`mixpanel: ${Buffer.byteLength(text)} bytes uncompressed`);
      return { status: 413, body: { code: 413, error: 'request exceeds max limit of 10485760 bytes', status: 'Request Entity Too Large' }, accept: [] };
    }
    let events: unknown[];
    try {
      const t = text.trim();
      events = t.startsWith('[') ? (JSON.parse(t) as unknown[]) : t.split('\n').map((l) => JSON.parse(l) as unknown);
    } catch {
      violations.push('mixpanel: body is not JSON');
      return { status: 400, body: { code: 400, error: 'unable to parse body' }, accept: [] };
    }
    if (events.length > 2000) {
      violations.push(`mixpanel: ${events.length} events in one request`);
      return { status: 400, body: { code: 400, error: 'too many events' }, accept: [] };
    }
    const strict = url.searchParams.get('strict') === '1';
    const failed: Array<{ index: number; insert_id: string; field: string; message: string }> = [];
    const accept: Array<[string, unknown]> = [];
    events.forEach((e, index) => {
      const p = isObj(e) && isObj(e.properties) ? e.properties : null;
      const insert = p && typeof p.$insert_id === 'string' ? p.$insert_id : '';
      const fail = (field: string, message: string) => failed.push({ index, insert_id: insert, field, message });
      if (!p || !isObj(e) || typeof e.event !== 'string' || e.event.length === 0) return fail('event', "'event' must be a non-empty string");
      if (Buffer.byteLength(JSON.stringify(e)) >= 1024 * 1024) violations.push(`mixpanel: event ${insert} over 1 MB`);
      if (Object.keys(p).length >= 255) violations.push(`mixpanel: event ${insert} has 255 or more properties`);
      if (!/^[A-Za-z0-9-]{1,36}$/.test(insert)) violations.push(`mixpanel: $insert_id ${JSON.stringify(insert)} is not 1-36 letters, digits or dashes`);
      if (typeof p.distinct_id !== 'string') violations.push(`mixpanel: event ${insert} has no string distinct_id`);
      const t = typeof p.time === 'number' ? (p.time < 1e11 ? p.time * 1000 : p.time) : NaN;
      if (!Number.isFinite(t) || t < Date.UTC(1971, 0, 1) || t > Date.now() + 3600_000) return fail('properties.time', "'properties.time' is invalid: must be specified as seconds or milliseconds since epoch, after 1971 and at most one hour ahead");
      if (p.poison === true) return fail('properties.poison', "'properties.poison' is not allowed");
      accept.push([insert, e]);
    });
    if (failed.length > 0 && strict) {
      return { status: 400, body: { code: 400, error: 'some data points in the request failed validation', status: 'Bad Request', num_records_imported: accept.length, failed_records: failed }, accept };
    }
    return { status: 200, body: { code: 200, num_records_imported: accept.length, status: 'OK' }, accept };
  });
}

/** The answer to a webhook request whose signature or timestamp is wrong, or null when it is right. */
function unsigned(req: IncomingMessage, raw: Buffer, secret: string, violations: string[]): Answer | null {
  const ts = String(req.headers['sluice-timestamp'] ?? '');
  const sig = String(req.headers['sluice-signature'] ?? '');
  const expected = `v1=${createHmac('sha256', secret).update(`${ts}.`).update(raw).digest('hex')}`;
  if (sig.length !== expected.length || !timingSafeEqual(Buffer.from(sig), Buffer.from(expected))) return { status: 401, body: { error: 'bad signature' }, accept: [] };
  if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) {
    violations.push('webhook: stale timestamp');
    return { status: 401, body: { error: 'stale' }, accept: [] };
  }
  if (!req.headers['idempotency-key']) violations.push('webhook: no Idempotency-Key');
  return null;
}

/**
 * A webhook receiver's erasure endpoint, as docs/destinations.md describes it: `POST`, signed
 * like the batches, JSON `{ type: "erasure", id, stream, pseudonyms: [1 to 5,000 strings] }`
 * with `Idempotency-Key` equal to `id`; answers `{ id }`. `unique` holds each pseudonym with the
 * request that named it.
 */
export function startFakeWebhookErasures(secret: string): Promise<FakeVendor> {
  let n = 0;
  return startFake((req, raw, violations) => {
    if (req.method !== 'POST') violations.push(`webhook erasures: ${req.method}`);
    const refused = unsigned(req, raw, secret, violations);
    if (refused) return refused;
    const body = JSON.parse(raw.toString('utf8')) as unknown;
    const bad = (message: string) => {
      violations.push(`webhook erasures: ${message}`);
      return { status: 400, body: { error: message }, accept: [] };
    };
    if (!isObj(body)) return bad('body is not an object');
    const extra = Object.keys(body).filter((k) => !['type', 'id', 'stream', 'pseudonyms'].includes(k));
    if (extra.length > 0) return bad(`unknown fields ${extra.join(', ')}`);
    if (body.type !== 'erasure') return bad(`type ${JSON.stringify(body.type)}`);
    if (typeof body.id !== 'string' || !/^[0-9a-f]{32}$/.test(body.id)) return bad(`id ${JSON.stringify(body.id)}`);
    if (req.headers['idempotency-key'] !== body.id) return bad('Idempotency-Key is not the request id');
    if (typeof body.stream !== 'string') return bad('no stream');
    const ids = body.pseudonyms;
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > 5000 || ids.some((i) => typeof i !== 'string' || i.length === 0)) return bad('pseudonyms must be 1 to 5000 non-empty strings');
    const id = `er-${++n}`;
    return { status: 202, body: { id }, accept: ids.map((i: string) => [i, { id, stream: body.stream }]) };
  });
}

/**
 * A receiver that verifies Sluice's webhook signature as docs/destinations.md tells receivers to:
 * HMAC-SHA256 of "<timestamp>.<raw body>" under the shared secret, compared in constant time,
 * and a timestamp at most five minutes old. A record whose `value.data.poison` is true gets 422.
 */
export function startFakeWebhook(secret: string): Promise<FakeVendor> {
  return startFake((req, raw, violations) => {
    const refused = unsigned(req, raw, secret, violations);
    if (refused) return refused;
    const body = JSON.parse(raw.toString('utf8')) as { batch_id?: string; records?: Array<{ id: string; value: unknown }> };
    if (!Array.isArray(body.records) || typeof body.batch_id !== 'string') {
      violations.push('webhook: body is not { batch_id, records }');
      return { status: 400, body: {}, accept: [] };
    }
    if (body.records.some((r) => isObj(r.value) && isObj(r.value.data) && r.value.data.poison === true)) return { status: 422, body: { error: 'a record is not acceptable' }, accept: [] };
    return { status: 200, body: { ok: true }, accept: body.records.map((r) => [r.id, r.value]) };
  });
}

/**
 * Segment's Public API regulations: `POST /regulations` (the workspace) or
 * `POST /regulations/sources/{sourceId}`, Bearer token, JSON `{ regulationType, subjectType,
 * subjectIds }` with a known regulation type, `USER_ID` or `OBJECT_ID`, and 1 to 5,000 string
 * ids; answers `{ data: { regulateId } }`, or 401/400 with `{ errors: [{ type, message }] }`.
 * `unique` holds each regulated id with its regulation.
 */
export async function startFakeSegmentRegulations(token: string): Promise<StatusFake> {
  let n = 0;
  const statuses = new Map<string, string>();
  const fake = await startFake((req, raw, violations) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    // GET /regulations/{regulateId}: { data: { regulation: { id, workspaceId, overallStatus, createdAt } } }.
    const asked = req.method === 'GET' ? /^\/regulations\/([A-Za-z0-9_-]+)$/.exec(path) : null;
    if (asked) {
      if (req.headers.authorization !== `Bearer ${token}`) return { status: 401, body: { errors: [{ type: 'unauthorized', message: 'Unauthorized' }] }, accept: [] };
      const status = statuses.get(asked[1]);
      if (!status) return { status: 404, body: { errors: [{ type: 'not-found', message: 'regulation not found' }] }, accept: [] };
      return { status: 200, body: { data: { regulation: { id: asked[1], workspaceId: 'ws-1', overallStatus: status, createdAt: new Date().toISOString() } } }, accept: [] };
    }
    if (req.method !== 'POST' || !/^\/regulations(\/sources\/[A-Za-z0-9_-]+)?$/.test(path)) {
      violations.push(`segment regulations: ${req.method} ${req.url}`);
      return { status: 404, body: { errors: [{ type: 'not-found', message: 'Not Found' }] }, accept: [] };
    }
    if (req.headers.authorization !== `Bearer ${token}`) return { status: 401, body: { errors: [{ type: 'unauthorized', message: 'Unauthorized' }] }, accept: [] };
    if (!String(req.headers['content-type']).startsWith('application/json')) violations.push('segment regulations: content-type is not application/json');
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      violations.push('segment regulations: body is not JSON');
      return { status: 400, body: { errors: [{ type: 'validation', message: 'invalid JSON' }] }, accept: [] };
    }
    const types = ['DELETE_INTERNAL', 'DELETE_ONLY', 'SUPPRESS_ONLY', 'SUPPRESS_WITH_DELETE', 'SUPPRESS_WITH_DELETE_INTERNAL', 'UNSUPPRESS'];
    const bad = (message: string) => {
      violations.push(`segment regulations: ${message}`);
      return { status: 400, body: { errors: [{ type: 'validation', message }] }, accept: [] };
    };
    if (!isObj(body)) return bad('body is not an object');
    const extra = Object.keys(body).filter((k) => !['regulationType', 'subjectType', 'subjectIds'].includes(k));
    if (extra.length > 0) return bad(`unknown fields ${extra.join(', ')}`);
    if (typeof body.regulationType !== 'string' || !types.includes(body.regulationType)) return bad(`regulationType ${JSON.stringify(body.regulationType)}`);
    if (body.subjectType !== 'USER_ID' && body.subjectType !== 'OBJECT_ID') return bad(`subjectType ${JSON.stringify(body.subjectType)}`);
    const ids = body.subjectIds;
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > 5000 || ids.some((i) => typeof i !== 'string' || i.length === 0)) return bad('subjectIds must be 1 to 5000 non-empty strings');
    const regulateId = `reg-${++n}`;
    statuses.set(regulateId, 'INITIALIZED');
    return { status: 200, body: { data: { regulateId } }, accept: ids.map((i: string) => [i, { regulateId, regulationType: body.regulationType, path }]) };
  });
  return Object.assign(fake, { setStatus: (reference: string, status: string) => void statuses.set(reference, status) });
}

/** A vendor whose deletions have a status the test moves on (`setStatus`), and which answers GETs for it. */
export interface StatusFake extends FakeVendor {
  setStatus(reference: string, status: string): void;
}

/**
 * Mixpanel's GDPR API v3 deletions: `POST /api/app/data-deletions/v3.0/?token=<project token>`,
 * Bearer OAuth token, JSON `{ distinct_ids: [1 to 2,000 strings], compliance_type: "GDPR" |
 * "CCPA" }`; answers `{ status: "ok", results: { task_id } }`. At most one request a second: a
 * faster one gets 429 and is a violation. `unique` holds each distinct id with its task.
 */
export async function startFakeMixpanelDeletions(auth: { oauthToken: string; projectToken: string }): Promise<StatusFake> {
  let n = 0;
  let last = 0;
  const statuses = new Map<string, string>();
  const fake = await startFake((req, raw, violations) => {
    const url = new URL(req.url ?? '/', 'http://x');
    // GET /api/app/data-deletions/v3.0/{task_id}?token=…: { status: "ok", results: { status } }; one request a second, as for creating.
    const asked = req.method === 'GET' ? /^\/api\/app\/data-deletions\/v3\.0\/([0-9]+)$/.exec(url.pathname) : null;
    if (asked) {
      if (req.headers.authorization !== `Bearer ${auth.oauthToken}`) return { status: 401, body: { status: 'error', error: 'Invalid OAuth token' }, accept: [] };
      if (url.searchParams.get('token') !== auth.projectToken) violations.push(`mixpanel deletions: project token ${url.searchParams.get('token')}`);
      const now = Date.now();
      if (now - last < 950) violations.push(`mixpanel deletions: two requests ${now - last} ms apart (one a second at most)`);
      last = now;
      const status = statuses.get(asked[1]) ?? 'NOT_FOUND';
      return { status: 200, body: { status: 'ok', results: { status, result: '', distinct_ids: [] } }, accept: [] };
    }
    if (req.method !== 'POST' || url.pathname !== '/api/app/data-deletions/v3.0/') {
      violations.push(`mixpanel deletions: ${req.method} ${req.url}`);
      return { status: 404, body: { status: 'error', error: 'not found' }, accept: [] };
    }
    if (req.headers.authorization !== `Bearer ${auth.oauthToken}`) return { status: 401, body: { status: 'error', error: 'Invalid OAuth token' }, accept: [] };
    if (url.searchParams.get('token') !== auth.projectToken) {
      violations.push(`mixpanel deletions: project token ${url.searchParams.get('token')}`);
      return { status: 400, body: { status: 'error', error: 'invalid project token' }, accept: [] };
    }
    const now = Date.now();
    if (now - last < 950) {
      violations.push(`mixpanel deletions: two requests ${now - last} ms apart (one a second at most)`);
      return { status: 429, body: { status: 'error', error: 'rate limited' }, accept: [] };
    }
    last = now;
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      violations.push('mixpanel deletions: body is not JSON');
      return { status: 400, body: { status: 'error', error: 'invalid JSON' }, accept: [] };
    }
    const ids = isObj(body) ? body.distinct_ids : undefined;
    if (!isObj(body) || !Array.isArray(ids) || ids.length === 0 || ids.length > 2000 || ids.some((i) => typeof i !== 'string')) {
      violations.push('mixpanel deletions: distinct_ids must be 1 to 2000 strings');
      return { status: 400, body: { status: 'error', error: 'invalid distinct_ids' }, accept: [] };
    }
    if (body.compliance_type !== undefined && body.compliance_type !== 'GDPR' && body.compliance_type !== 'CCPA') violations.push(`mixpanel deletions: compliance_type ${JSON.stringify(body.compliance_type)}`);
    const task_id = 1000 + ++n;
    statuses.set(String(task_id), 'PENDING');
    return { status: 200, body: { status: 'ok', results: { task_id } }, accept: ids.map((i: string) => [i, { task_id, compliance_type: body.compliance_type ?? 'GDPR' }]) };
  });
  return Object.assign(fake, { setStatus: (reference: string, status: string) => void statuses.set(reference, status) });
}
