/**
 * Erasure at the vendors. A stream that forwards to Segment or Mixpanel has handed the subject's
 * pseudonym over as the vendor's user id (`userId`, `distinct_id`), and one that forwards to a
 * webhook has handed over whatever fields it hashes; deleting the rows here leaves those copies.
 * With `erasure` in the destination's config, an erasure also asks the recipient to delete
 * them, through the vendor's own deletion API:
 *
 * - Segment's Public API: `POST /regulations` (or `/regulations/sources/{id}`), Bearer token,
 *   `{ regulationType, subjectType: "USER_ID", subjectIds }`, at most 5,000 ids, answering
 *   `{ data: { regulateId } }`;
 * - Mixpanel's GDPR API v3: `POST /api/app/data-deletions/v3.0/?token=<project token>`, Bearer
 *   OAuth token, `{ distinct_ids, compliance_type }`, at most 2,000 ids and one request a
 *   second, answering `{ status: "ok", results: { task_id } }`;
 * - a webhook's receiver: `POST <erasure.url>`, signed like the batches, `{ type: "erasure", id,
 *   stream, pseudonyms }`, at most 5,000 ids, any 2xx taking it (a string `id` answered is kept).
 *
 * A request is queued in `sluice.vendor_erasures` in the erasure's own transaction, so it is
 * made exactly when the rows here are deleted, and sent once that commits. Network errors,
 * timeouts, 408, 429 and 5xx leave it pending, retried with exponential backoff (a Retry-After
 * is honoured) by the running Sluice and by the next `sluice erase`; another 4xx (a revoked
 * token) marks it failed, with the vendor's answer. Erasing the subject again queues a new one.
 * A request for a destination the config no longer has stays pending, saying so.
 * Requests due at one time are merged per vendor, up to its limit. Both vendors process a
 * request asynchronously (days to weeks); the reference they answer with is kept, and the vendor
 * is asked by it what became of the request until it says it is done ({@link VendorErasures.track}).
 *
 * A batch whose write to the vendor was under way when an erasure committed may land after that
 * erasure's request: {@link withErasureFollowUp} reads the epoch once the write is done and asks
 * again for the subjects of the batch erased meanwhile.
 */
import { createHash } from 'node:crypto';
import type { MixpanelDestinationConfig, SegmentDestinationConfig, SluiceConfig, StreamConfig, WebhookDestinationConfig } from '../config/config.ts';
import type { ConfigIssue } from '../config/check.ts';
import { describeSecret, readSecret } from '../config/secrets.ts';
import { parseJsonPath } from '../core/transform/json-path.ts';
import { isRecord } from '../core/is-record.ts';
import { onceUntilFailed } from '../core/once.ts';
import { requiredSecret } from '../destinations/http/fields.ts';
import { reasonFrom, retryAfterMs, type OutgoingRequest } from '../destinations/http/forwarder.ts';
import type { Destination } from '../destinations/destination.ts';
import { sign } from '../destinations/webhook/index.ts';
import type { Database, Queryable } from '../store/database.ts';
import { erasedAfter } from './fence.ts';
import { hashedPaths, leafOf } from '../config/policy-fields.ts';

export const SEGMENT_API = 'https://api.segmentapis.com';
export const MIXPANEL_GDPR_API = 'https://mixpanel.com';
/** Ids per request: Segment's and Mixpanel's documented limits (and Segment's for webhooks). */
export const VENDOR_ID_LIMITS = { segment: 5000, mixpanel: 2000, webhook: 5000 } as const;
/** An erasure request with no answer by then is pending (short: an erasure over HTTP waits for it, and API Gateway gives up after 30 s). */
const TIMEOUT_MS = 10_000;
/** A claimed request not settled by then (its process died) is due again. */
const LEASE_SECONDS = 600;
const FIRST_RETRY_MS = 30_000;
const MAX_RETRY_MS = 6 * 3_600_000;
/** Requests settled per flush at most; the rest wait for the next one. */
const MAX_ROWS = 2000;
/** Requests whose status one run asks at most (Mixpanel's one call a second makes a run of 100 last up to 100 s). */
const TRACK_ROWS = 100;

export type Vendor = keyof typeof VENDOR_ID_LIMITS;

/** Where a stream's vendor holds subject fields' pseudonyms, and how to ask for their deletion. */
export interface VendorTarget {
  stream: string;
  vendor: Vendor;
  /** The subject fields (`user_id`) whose pseudonyms the vendor holds (Segment and Mixpanel: as their user id). */
  fields: string[];
  /** Milliseconds between two requests to this vendor (Mixpanel: one a second). */
  spacingMs: number;
  request(ids: string[]): Promise<OutgoingRequest>;
  /** The vendor's id for an accepted request, from its answer. */
  reference(body: string): string | undefined;
  /** How to ask the vendor what became of a request it took (a GET), when it says. */
  status?: {
    request(reference: string): Promise<OutgoingRequest>;
    /** The vendor's status word in its answer, and once final whether the data was deleted. */
    parse(body: string): { status: string; outcome?: VendorOutcome } | undefined;
  };
}

/** What a vendor finally says of a deletion it took. */
export type VendorOutcome = 'deleted' | 'not_deleted';

/** What became of a queued request. */
export interface VendorRequestState {
  id: number;
  /** `segment.<stream>`, `mixpanel.<stream>` or `webhook.<stream>`. */
  place: string;
  ids: number;
  state: 'pending' | 'sent' | 'failed';
  attempts: number;
  /** The vendor's id for the request (Segment's regulateId, Mixpanel's task_id, a webhook receiver's id). */
  reference: string | null;
  last_error: string | null;
  next_attempt_at: string | null;
  created_at: string;
  /** What the vendor last said of a request it took (Segment's overallStatus, Mixpanel's task status); null until asked. */
  vendor_status: string | null;
  /** Once the vendor's status is final: whether the data was deleted. */
  outcome: VendorOutcome | null;
  completed_at: string | null;
}

/** A status word that is final, by vendor, and whether it means the data is deleted. */
const FINAL_STATUS: Record<string, Record<string, VendorOutcome>> = {
  // Segment's regulation overallStatus (INITIALIZED and RUNNING are on their way).
  segment: { FINISHED: 'deleted', PARTIAL_SUCCESS: 'not_deleted', FAILED: 'not_deleted', INVALID: 'not_deleted', NOT_SUPPORTED: 'not_deleted' },
  // Mixpanel's deletion task status (PENDING, STAGING, STARTED and UNKNOWN are on their way).
  mixpanel: { SUCCESS: 'deleted', FAILURE: 'not_deleted', REVOKED: 'not_deleted', NOT_FOUND: 'not_deleted' },
};
const statusWord = (vendor: Vendor, word: unknown) => (typeof word === 'string' && /^[A-Z_]{1,40}$/.test(word) ? { status: word, outcome: FINAL_STATUS[vendor]?.[word] } : undefined);

/** The path a vendor destination takes its user id from. */
function identityPath(d: SegmentDestinationConfig | MixpanelDestinationConfig): string {
  return (d.type === 'segment' ? d.user_id : d.distinct_id) ?? '$.metadata.user_id';
}

/** The dotted form of a JSON path of plain keys (`$.metadata.user_id` → `metadata.user_id`), else null. */
function dotted(path: string): string | null {
  const p = parseJsonPath(path);
  if (typeof p === 'string' || p.steps.length === 0) return null;
  const keys = p.steps.map((s) => ('key' in s ? s.key : null));
  return keys.every((k) => k !== null) ? keys.join('.') : null;
}

/**
 * A vendor erasure needs the vendor's user id to be a pseudonym the stream hashed: that is
 * what an erasure can compute from the raw id without keeping it. A webhook's needs the stream
 * to hash some field.
 */
export function vendorErasureIssues(name: string, stream: StreamConfig): ConfigIssue[] {
  const d = stream.destination;
  if (d.type === 'webhook' && d.erasure && hashedPaths(stream).length === 0) {
    return [{ path: `streams.${name}.destination.erasure`, message: "an erasure request names pseudonyms, and this stream hashes no field: give it a pseudonymize step with a 'hash' field, or remove erasure" }];
  }
  if ((d.type !== 'segment' && d.type !== 'mixpanel') || !d.erasure) return [];
  const path = identityPath(d);
  const field = dotted(path);
  if (field !== null && hashedPaths(stream).includes(field)) return [];
  const what = d.type === 'segment' ? "Segment's userId" : "Mixpanel's distinct_id";
  return [
    {
      path: `streams.${name}.destination.erasure`,
      message: `an erasure asks the vendor to delete pseudonyms, so ${what} (${path}) must be a field this stream hashes: add '${field ?? 'that field'}': 'hash' to its pseudonymize step`,
    },
  ];
}

function segmentTarget(stream: string, d: SegmentDestinationConfig, fields: string[]): VendorTarget {
  const e = d.erasure!;
  const base = (e.endpoint ?? SEGMENT_API).replace(/\/+$/, '');
  const url = e.source_id ? `${base}/regulations/sources/${encodeURIComponent(e.source_id)}` : `${base}/regulations`;
  const token = onceUntilFailed(() => requiredSecret(() => readSecret(e.token), `the Segment Public API token (${describeSecret(e.token)})`));
  return {
    stream,
    vendor: 'segment',
    fields,
    spacingMs: 0,
    async request(ids) {
      return {
        url,
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${await token()}`, 'user-agent': 'sluice/0.1.0' },
        body: JSON.stringify({ regulationType: e.regulation_type ?? 'SUPPRESS_WITH_DELETE', subjectType: 'USER_ID', subjectIds: ids }),
      };
    },
    reference(body) {
      const data = parsed(body)?.data;
      return isRecord(data) && typeof data.regulateId === 'string' ? data.regulateId : undefined;
    },
    // GET /regulations/{regulateId}: { data: { regulation: { overallStatus } } }.
    status: {
      request: async (reference) => ({ url: `${base}/regulations/${encodeURIComponent(reference)}`, headers: { accept: 'application/json', authorization: `Bearer ${await token()}`, 'user-agent': 'sluice/0.1.0' }, body: '' }),
      parse(body) {
        const data = parsed(body)?.data;
        const regulation = isRecord(data) ? data.regulation : undefined;
        return statusWord('segment', isRecord(regulation) ? regulation.overallStatus : undefined);
      },
    },
  };
}

function mixpanelTarget(stream: string, d: MixpanelDestinationConfig, fields: string[]): VendorTarget {
  const e = d.erasure!;
  const base = (e.endpoint ?? MIXPANEL_GDPR_API).replace(/\/+$/, '');
  const projectSource = e.project_token ?? d.project_token!;
  const secrets = onceUntilFailed(() =>
    Promise.all([
      requiredSecret(() => readSecret(e.token), `the Mixpanel GDPR API token (${describeSecret(e.token)})`),
      requiredSecret(() => readSecret(projectSource), `the Mixpanel project token (${describeSecret(projectSource)})`),
    ]),
  );
  return {
    stream,
    vendor: 'mixpanel',
    fields,
    spacingMs: 1000,
    async request(ids) {
      const [token, project] = await secrets();
      return {
        url: `${base}/api/app/data-deletions/v3.0/?token=${encodeURIComponent(project)}`,
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}`, 'user-agent': 'sluice/0.1.0' },
        body: JSON.stringify({ distinct_ids: ids, compliance_type: e.compliance_type ?? 'GDPR' }),
      };
    },
    reference(body) {
      const results = parsed(body)?.results;
      const id = isRecord(results) ? results.task_id : undefined;
      return typeof id === 'string' || typeof id === 'number' ? String(id) : undefined;
    },
    // GET /api/app/data-deletions/v3.0/{task_id}?token=…: { status: "ok", results: { status } }.
    status: {
      async request(reference) {
        const [token, project] = await secrets();
        return { url: `${base}/api/app/data-deletions/v3.0/${encodeURIComponent(reference)}?token=${encodeURIComponent(project)}`, headers: { accept: 'application/json', authorization: `Bearer ${token}`, 'user-agent': 'sluice/0.1.0' }, body: '' };
      },
      parse(body) {
        const results = parsed(body)?.results;
        return statusWord('mixpanel', isRecord(results) ? results.status : undefined);
      },
    },
  };
}

/** A webhook's receiver: the erasure request signed as the batches are, with an id that is the same on every retry of the same ids. */
function webhookTarget(stream: string, d: WebhookDestinationConfig, fields: string[]): VendorTarget {
  const url = d.erasure!.url;
  const secret = onceUntilFailed(() => requiredSecret(() => readSecret(d.secret), `the webhook signing secret (${describeSecret(d.secret)})`));
  return {
    stream,
    vendor: 'webhook',
    fields,
    spacingMs: 0,
    async request(ids) {
      const id = createHash('sha256').update([...ids].sort().join('\n')).digest('hex').slice(0, 32);
      const body = JSON.stringify({ type: 'erasure', id, stream, pseudonyms: ids });
      return {
        url,
        headers: { ...d.headers, 'content-type': 'application/json', 'idempotency-key': id, 'user-agent': 'sluice/0.1.0', ...sign(await secret(), body, Math.floor(Date.now() / 1000)) },
        body,
      };
    },
    reference(body) {
      const id = parsed(body)?.id;
      return typeof id === 'string' && id.length <= 256 ? id : undefined;
    },
  };
}

function parsed(body: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body);
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The dotted fields of a stream's records that hold pseudonyms its destination's recipient
 * keeps, when the destination takes erasures: the vendor's user id, or every field a webhook's
 * stream hashes. Empty otherwise (and for a config refused by vendorErasureIssues).
 */
function recipientPaths(s: StreamConfig): string[] {
  const d = s.destination;
  if (d.type === 'webhook') return d.erasure ? hashedPaths(s) : [];
  if ((d.type !== 'segment' && d.type !== 'mixpanel') || !d.erasure) return [];
  const field = dotted(identityPath(d));
  return field === null ? [] : [field];
}

/** The vendor destinations of a config that take erasures. */
export function vendorTargets(config: SluiceConfig): VendorTarget[] {
  const out: VendorTarget[] = [];
  for (const [stream, s] of Object.entries(config.streams ?? {})) {
    const d = s.destination;
    const fields = [...new Set(recipientPaths(s).map(leafOf))];
    if (fields.length === 0) continue;
    if (d.type === 'segment') out.push(segmentTarget(stream, d, fields));
    else if (d.type === 'mixpanel') out.push(mixpanelTarget(stream, d, fields));
    else if (d.type === 'webhook') out.push(webhookTarget(stream, d, fields));
  }
  return out;
}

interface Claimed {
  id: number;
  stream: string;
  vendor: string;
  pseudonyms: string[];
  attempts: number;
}

/** What one flush did: the rows it settled, by id, and the places (`segment.<stream>`) of due requests the config has no destination for. */
export interface VendorFlush {
  settled: Map<number, VendorRequestState['state']>;
  unconfigured: string[];
}

/** What the operator's log says of a flush: requests refused, and places waiting for a destination (never an id). */
export function flushWarnings(f: VendorFlush): string[] {
  const out: string[] = [];
  const failed = [...f.settled.values()].filter((s) => s === 'failed').length;
  if (failed > 0) out.push(`vendor erasure requests refused: ${failed} (GET /v1/admin/erasures/vendor-requests?state=failed says why)`);
  if (f.unconfigured.length > 0) out.push(`vendor erasure requests wait for destinations the config does not have: ${f.unconfigured.join(', ')} (kept pending; GET /v1/admin/erasures/vendor-requests?state=pending)`);
  return out;
}

/** Queues one request per vendor for these pseudonyms; their row ids. */
async function insertRequests(db: Queryable, erasureId: number, to: Array<{ stream: string; vendor: Vendor }>, pseudonyms: string[]): Promise<number[]> {
  const rows = await db.query<{ id: number }>(
    `insert into sluice.vendor_erasures (erasure_id, stream, vendor, pseudonyms)
     select $1, t->>'stream', t->>'vendor', $3::text::jsonb from json_array_elements($2::text::json) t
     returning id::float8 as id`,
    [erasureId, JSON.stringify(to.map((t) => ({ stream: t.stream, vendor: t.vendor }))), JSON.stringify(pseudonyms)],
  );
  return rows.map((r) => r.id);
}

/** A request's outcome for the rows it carried. */
type Outcome = { state: 'sent'; reference: string | null } | { state: 'pending'; error: string; retryAfterMs?: number } | { state: 'failed'; error: string };

/** The wait before the attempt after `attempts`: doubling from 30 s up to 6 h, at least what the vendor asked. */
export function vendorBackoffMs(attempts: number, asked?: number): number {
  return Math.max(asked ?? 0, Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, attempts - 1)));
}

const placeOf = (t: { vendor: string; stream: string }) => `${t.vendor}.${t.stream}`;

/**
 * The queue of vendor erasure requests.
 *
 * @example
 *   const v = new VendorErasures(db, vendorTargets(config));
 *   await db.transaction((tx) => v.queue(tx, 'user_id', ['k1:…'], auditId));
 *   await v.flush();
 */
export class VendorErasures {
  /** When this process last sent to each vendor (its rate limit spaces requests). */
  private readonly lastSent = new Map<VendorTarget, number>();
  /** The last call each vendor has been promised (spaced). */
  private readonly slots = new Map<VendorTarget, Promise<void>>();
  private flushing: Promise<unknown> = Promise.resolve();
  private tracking: Promise<{ asked: number; final: number; errors: number }> | undefined;
  private stopping = false;

  constructor(
    private readonly db: Database,
    readonly targets: VendorTarget[],
  ) {}

  /** The vendors holding pseudonyms of `field`, by place (`segment.<stream>`). */
  placesFor(field: string): string[] {
    return this.targets.filter((t) => t.fields.includes(field)).map(placeOf);
  }

  /** Queues, in the caller's transaction, one request per vendor holding `field`; resolves with their row ids. */
  async queue(tx: Queryable, field: string, pseudonyms: string[], erasureId: number): Promise<number[]> {
    const targets = this.targets.filter((t) => t.fields.includes(field));
    if (targets.length === 0 || pseudonyms.length === 0) return [];
    return insertRequests(tx, erasureId, targets, pseudonyms);
  }

  /**
   * Sends the requests that are due (every pending one whose time has come), merged per vendor
   * up to its id limit, and records what each answer means. Resolves with the settled rows' ids
   * and states, and the places of due requests this config has no destination for. Flushes in
   * this process run one after the other (the vendors' rate limits); beside another process
   * flushing, a row is claimed by one of them.
   */
  flush(): Promise<VendorFlush> {
    const run = this.flushing.then(() => this.flushDue());
    this.flushing = run.catch(() => {});
    return run;
  }

  private async flushDue(): Promise<VendorFlush> {
    const settled = new Map<number, VendorRequestState['state']>();
    const claimed = (
      await this.db.query<{ id: number; stream: string; vendor: string; pseudonyms: string; attempts: number }>(
        `update sluice.vendor_erasures v set attempts = v.attempts + 1, next_attempt_at = now() + interval '${LEASE_SECONDS} seconds'
          where v.id in (select id from sluice.vendor_erasures where state = 'pending' and next_attempt_at <= now()
                          order by id limit ${MAX_ROWS} for update skip locked)
          returning v.id::float8 as id, v.stream, v.vendor, v.pseudonyms::text as pseudonyms, v.attempts`,
      )
    )
      .sort((a, b) => a.id - b.id)
      .map((r) => ({ ...r, pseudonyms: JSON.parse(r.pseudonyms) as string[] }));
    for (const t of this.targets) {
      const rows: Claimed[] = claimed.filter((r) => r.stream === t.stream && r.vendor === t.vendor);
      for (const group of packRows(rows, VENDOR_ID_LIMITS[t.vendor])) {
        await this.spaced(t);
        const outcome = await this.send(t, [...new Set(group.flatMap((r) => r.pseudonyms))]);
        await this.record(group, outcome);
        for (const r of group) settled.set(r.id, outcome.state);
      }
    }
    // A request for a vendor destination this config does not have (its stream was removed or
    // renamed, its `erasure` block dropped, or another process runs a newer config) is kept
    // pending on the usual backoff, saying why: restoring the destination sends it.
    const unconfigured = new Map<string, Claimed[]>();
    for (const r of claimed) {
      if (this.targets.some((t) => t.stream === r.stream && t.vendor === r.vendor)) continue;
      const place = placeOf(r);
      unconfigured.set(place, [...(unconfigured.get(place) ?? []), r]);
    }
    for (const rows of unconfigured.values()) {
      const [{ vendor, stream }] = rows;
      await this.record(rows, { state: 'pending', error: `no ${vendor} destination with erasure for stream '${stream}' in the config: kept until there is one` });
      for (const r of rows) settled.set(r.id, 'pending');
    }
    return { settled, unconfigured: [...unconfigured.keys()] };
  }

  /**
   * Waits until this process may call the vendor again (its rate limit), and notes the call.
   * Callers (a flush, a status run) take their turns one call at a time, so neither holds up the
   * other for longer than one call's spacing.
   */
  private spaced(t: VendorTarget): Promise<void> {
    const slot = (this.slots.get(t) ?? Promise.resolve()).then(async () => {
      const wait = (this.lastSent.get(t) ?? 0) + t.spacingMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.lastSent.set(t, Date.now());
    });
    this.slots.set(t, slot);
    return slot;
  }

  /**
   * Asks the vendors what became of the requests they took and have not finished, each at most
   * once per `everyMs` (one call per vendor reference, however many rows it carried; at most
   * TRACK_ROWS rows a run), and records their status word and, once final, whether the data was
   * deleted; with `until` (epoch ms), no call is begun that could end after it. A call while a
   * run is under way joins it. Resolves with how many references were
   * asked, how many answered a final status, and how many could not be asked (network, non-2xx:
   * asked again next time).
   */
  track(everyMs: number, until?: number): Promise<{ asked: number; final: number; errors: number }> {
    return (this.tracking ??= this.trackDue(everyMs, until).finally(() => {
      this.tracking = undefined;
    }));
  }

  private async trackDue(everyMs: number, until = Infinity): Promise<{ asked: number; final: number; errors: number }> {
    const out = { asked: 0, final: 0, errors: 0 };
    const tracked = this.targets.filter((t) => t.status);
    if (tracked.length === 0) return out;
    const rows = await this.db.query<{ id: number; stream: string; vendor: string; reference: string }>(
      `update sluice.vendor_erasures v set status_checked_at = now()
        where v.id in (select id from sluice.vendor_erasures
                        where state = 'sent' and outcome is null and reference is not null
                          and (status_checked_at is null or status_checked_at <= now() - $2::float8 * interval '1 millisecond')
                          and (stream, vendor) in (select s->>'stream', s->>'vendor' from json_array_elements($1::text::json) s)
                        order by status_checked_at nulls first, id limit ${TRACK_ROWS} for update skip locked)
        returning v.id::float8 as id, v.stream, v.vendor, v.reference`,
      [JSON.stringify(tracked.map((t) => ({ stream: t.stream, vendor: t.vendor }))), everyMs],
    );
    for (const t of tracked) {
      const byReference = new Map<string, number[]>();
      for (const r of rows) if (r.stream === t.stream && r.vendor === t.vendor) byReference.set(r.reference, [...(byReference.get(r.reference) ?? []), r.id]);
      for (const [reference, ids] of byReference) {
        if (this.stopping || Date.now() + t.spacingMs + TIMEOUT_MS > until) return out; // the rest are asked after the next interval
        await this.spaced(t);
        out.asked++;
        const said = await this.askStatus(t, reference);
        if (!said) {
          out.errors++;
          continue;
        }
        if (said.outcome) out.final++;
        await this.db.query(
          `update sluice.vendor_erasures set vendor_status = $2, outcome = $3, completed_at = case when $3::text is null then null else now() end
            where id in (select (json_array_elements_text($1::text::json))::bigint)`,
          [JSON.stringify(ids), said.status, said.outcome ?? null],
        );
      }
    }
    return out;
  }

  /** Ends a status run under way after its current call (shutdown); resolves when it has. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.tracking?.catch(() => {});
  }

  private async askStatus(t: VendorTarget, reference: string): Promise<{ status: string; outcome?: VendorOutcome } | undefined> {
    try {
      const request = await t.status!.request(reference);
      const res = await fetch(request.url, { method: 'GET', headers: request.headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
      const body = await res.text();
      return res.status >= 200 && res.status < 300 ? t.status!.parse(body) : undefined;
    } catch {
      return undefined;
    }
  }

  private async send(t: VendorTarget, ids: string[]): Promise<Outcome> {
    let request: OutgoingRequest;
    try {
      request = await t.request(ids);
    } catch (e) {
      // A secret that cannot be read: retried, since it may be set before the next attempt.
      return { state: 'pending', error: (e as Error).message };
    }
    try {
      const res = await fetch(request.url, { method: 'POST', headers: request.headers, body: request.body, signal: AbortSignal.timeout(TIMEOUT_MS) });
      const body = await res.text();
      if (res.status >= 200 && res.status < 300) return { state: 'sent', reference: t.reference(body) ?? null };
      if (res.status === 408 || res.status === 429 || res.status >= 500) return { state: 'pending', error: reasonFrom(res.status, body), retryAfterMs: retryAfterMs(res.headers.get('retry-after')) };
      return { state: 'failed', error: reasonFrom(res.status, body) };
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      return { state: 'pending', error: err.name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS / 1000} s` : `network error ${err.cause?.code ?? err.name}` };
    }
  }

  private async record(rows: Claimed[], o: Outcome): Promise<void> {
    const ids = JSON.stringify(rows.map((r) => r.id));
    const these = 'id in (select (json_array_elements_text($1::text::json))::bigint)';
    if (o.state === 'sent') {
      await this.db.query(`update sluice.vendor_erasures set state = 'sent', sent_at = now(), reference = $2, last_error = null, next_attempt_at = now() where ${these}`, [ids, o.reference]);
    } else if (o.state === 'failed') {
      await this.db.query(`update sluice.vendor_erasures set state = 'failed', last_error = $2, next_attempt_at = now() where ${these}`, [ids, o.error]);
    } else {
      // Rows merged into one request retry together, on the schedule of the most tried.
      const wait = vendorBackoffMs(Math.max(...rows.map((r) => r.attempts)), o.retryAfterMs);
      await this.db.query(`update sluice.vendor_erasures set last_error = $2, next_attempt_at = now() + ($3::float8 * interval '1 millisecond') where ${these}`, [ids, o.error, wait]);
    }
  }

  /** The requests in the queue, newest first: all, or those in one state. */
  async list(opts: { state?: VendorRequestState['state']; limit?: number; ids?: number[] } = {}): Promise<VendorRequestState[]> {
    const rows = await this.db.query<Omit<VendorRequestState, 'place'> & { stream: string; vendor: string }>(
      `select id::float8 as id, stream, vendor, jsonb_array_length(pseudonyms) as ids, state, attempts, reference, last_error,
              case when state = 'pending' then to_char(next_attempt_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') end as next_attempt_at,
              to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as created_at,
              vendor_status, outcome, to_char(completed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as completed_at
         from sluice.vendor_erasures
        where ($1::text is null or state = $1) and ($2::text is null or id in (select (json_array_elements_text($2::text::json))::bigint))
        order by id desc limit $3`,
      [opts.state ?? null, opts.ids ? JSON.stringify(opts.ids) : null, opts.limit ?? 100],
    );
    return rows.map(({ stream, vendor, ...r }) => ({ ...r, place: placeOf({ vendor, stream }) }));
  }

  /** Requests pending and failed, and those the vendor took but says it did not delete, for the metrics endpoint. */
  async backlog(): Promise<{ pending: number; failed: number; not_deleted: number }> {
    // Sent requests are kept (what was asked of whom, and the vendor's reference) and only grow:
    // the counts read the partial indexes of the others.
    const [r] = await this.db.query<{ pending: number; failed: number; not_deleted: number }>(
      `select count(*) filter (where state = 'pending')::int as pending, count(*) filter (where state = 'failed')::int as failed,
              (select count(*)::int from sluice.vendor_erasures where outcome = 'not_deleted') as not_deleted
         from sluice.vendor_erasures where state <> 'sent'`,
    );
    return r;
  }
}

/** Rows in order, packed into requests of at most `limit` ids (a row is never split). */
function packRows(rows: Claimed[], limit: number): Claimed[][] {
  const out: Claimed[][] = [];
  let current: Claimed[] = [];
  let n = 0;
  for (const r of rows) {
    if (current.length > 0 && n + r.pseudonyms.length > limit) {
      out.push(current);
      current = [];
      n = 0;
    }
    current.push(r);
    n += r.pseudonyms.length;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * A destination that takes erasures (Segment, Mixpanel, a webhook with `erasure`), made to ask
 * again for what lands after a request: once a write of a batch checked at an epoch is done, the
 * epoch is read; if an erasure committed since, the batch's pseudonyms the recipient keeps (the
 * vendor's `userId` / `distinct_id`, a webhook stream's hashed fields) now on the suppression list
 * are queued for deletion again (erasure_id 0), sent by the next flush. With the erasure's own
 * request, sent after its commit, that leaves no gap: an erasure committed before this read is
 * followed up here, one committed after it asks once the batch has landed. Any other destination
 * is returned as it is.
 */
export function withErasureFollowUp(d: Destination, db: Queryable, stream: string, config: StreamConfig): Destination {
  const vendor = config.destination.type;
  const readers = recipientPaths(config).map((p) => {
    const keys = p.split('.');
    return (value: unknown) => keys.reduce<unknown>((v, k) => (isRecord(v) ? v[k] : undefined), value);
  });
  if (readers.length === 0 || (vendor !== 'segment' && vendor !== 'mixpanel' && vendor !== 'webhook')) return d;
  return {
    ...d,
    async write(records, batch) {
      const failures = await d.write(records, batch);
      if (batch.erasureEpoch === undefined) return failures;
      const erased = await erasedAfter(db, batch.erasureEpoch, function* () {
        const refused = new Set(failures.map((f) => f.index));
        for (const [i, r] of records.entries()) {
          if (refused.has(i)) continue;
          for (const read of readers) {
            const id = read(r.value);
            if (typeof id === 'string') yield id;
          }
        }
      });
      if (erased.length > 0) await insertRequests(db, 0, [{ stream, vendor }], erased);
      return failures;
    },
  };
}
