/**
 * What the HTTP forwarders (segment, mixpanel, webhook) share: a batch becomes vendor messages,
 * packed into requests within the vendor's per-message and per-request limits, sent with bounded
 * concurrency and a timeout. Network errors, timeouts, 408, 429 and 5xx are retried with
 * exponential backoff and full jitter (a 429's or 503's Retry-After is honoured) until the retry
 * window closes; any other 4xx is not retried. What a vendor refuses, or what outlived the
 * window, comes back as failures with a code, the reason and the attempts, and the stream puts
 * those records in the dead letters. Every message carries the vendor's dedup id derived from
 * the record id, so a request retried after a timeout (which the vendor may have taken) counts
 * once.
 */
import type { BatchInfo, DeliveryFailure, DeliveryRecord, Destination } from '../destination.ts';

/** How a forwarder retries and how much it sends at once (config `delivery`). */
export interface ForwarderOptions {
  /** Requests in flight at once for one batch. Default 4. */
  concurrency?: number;
  /** A request with no answer after this is abandoned and retried. Default 30. */
  timeout_seconds?: number;
  /** How long a request is retried before its records go to the dead letters (Firehose's retry duration). Default 300. */
  retry_seconds?: number;
}

export const FORWARDER_DEFAULTS = { concurrency: 4, timeout_seconds: 30, retry_seconds: 300 } as const;
const BASE_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
/** A vendor's answer is quoted in a dead letter only this far. */
const MAX_REASON = 500;

/** One record as the vendor's message, with its serialized size (the vendor's limits count bytes). */
export type Prepared<M> = { ok: true; message: M; bytes: number } | { ok: false; code: string; reason: string };

/** A request the forwarder sends. */
export interface OutgoingRequest {
  url: string;
  headers: Record<string, string>;
  body: string | Uint8Array<ArrayBuffer>;
}

/** What a vendor's answer means for the messages of the request (indexes into them). */
export type Verdict =
  | { kind: 'ok' }
  | { kind: 'retry'; reason: string; retryAfterMs?: number; cls?: string }
  | { kind: 'refuse'; code: string; reason: string }
  /** The request as a whole was refused but one message may be the cause: halve it to find which. */
  | { kind: 'split'; code: string; reason: string }
  | { kind: 'partial'; failures: Array<{ index: number; code: string; reason: string }> };

export interface ForwarderSpec<M> {
  kind: string;
  limits: { messageBytes: number; requestMessages: number; requestBytes: number };
  prepare(record: DeliveryRecord): Prepared<M>;
  request(messages: M[], batch: BatchInfo): Promise<OutgoingRequest> | OutgoingRequest;
  /** Reads an answer that was not a network error, timeout, 408, 429 or 5xx. */
  judge(status: number, body: string, messages: M[]): Verdict;
}

/** Retry-After as seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const s = Number(header);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/** The wait before retry `attempt` (1, 2, …): full jitter over an exponential ceiling, at least what the server asked. */
export function backoffMs(attempt: number, serverAsked?: number, random = Math.random): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (attempt - 1));
  return Math.max(serverAsked ?? 0, Math.floor(random() * ceiling));
}

/** A vendor's answer, bounded for a dead letter. */
export function reasonFrom(status: number, body: string): string {
  const text = body.replace(/\s+/g, ' ').trim();
  return `HTTP ${status}${text ? `: ${text.length > MAX_REASON ? text.slice(0, MAX_REASON) + '…' : text}` : ''}`;
}

/** Packs messages (in order) into requests within the count and byte limits. */
export function pack<T extends { bytes: number }>(items: T[], maxMessages: number, maxBytes: number, overhead = 2): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let size = overhead;
  for (const it of items) {
    if (current.length > 0 && (current.length >= maxMessages || size + it.bytes + 1 > maxBytes)) {
      out.push(current);
      current = [];
      size = overhead;
    }
    current.push(it);
    size += it.bytes + 1;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** Runs `work` over items with at most `limit` at once. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  });
  await Promise.all(lanes);
}

interface Item<M> {
  index: number;
  message: M;
  bytes: number;
}

/**
 * A destination's `write` for a vendor.
 *
 * @example const write = forwarder(segmentSpec(config, writeKey), config.delivery); await write(records, batch);
 */
export function forwarder<M>(spec: ForwarderSpec<M>, options: ForwarderOptions = {}, fetchImpl: typeof fetch = fetch) {
  const o = { ...FORWARDER_DEFAULTS, ...options };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** Sends one request until it is answered for good or the window closes; returns the failures. */
  async function send(items: Item<M>[], batch: BatchInfo, deadline: number): Promise<DeliveryFailure[]> {
    const messages = items.map((i) => i.message);
    for (let attempt = 1; ; attempt++) {
      let verdict: Verdict;
      try {
        // Built for each attempt: a signature's timestamp must be fresh.
        const request = await spec.request(messages, batch);
        const res = await fetchImpl(request.url, { method: 'POST', headers: request.headers, body: typeof request.body === 'string' ? request.body : new Blob([request.body]), signal: AbortSignal.timeout(o.timeout_seconds * 1000) });
        const body = await res.text();
        if (res.status === 408 || res.status === 429 || res.status >= 500) {
          verdict = { kind: 'retry', reason: reasonFrom(res.status, body), retryAfterMs: retryAfterMs(res.headers.get('retry-after')), cls: `http_${res.status}` };
        } else verdict = spec.judge(res.status, body, messages);
      } catch (e) {
        const err = e as Error & { cause?: { code?: string } };
        const what = err.name === 'TimeoutError' ? `no answer within ${o.timeout_seconds} s` : `network error ${err.cause?.code ?? err.name}`;
        verdict = { kind: 'retry', reason: what, cls: err.name === 'TimeoutError' ? 'timeout' : `network_${err.cause?.code ?? err.name}` };
      }
      if (verdict.kind === 'ok') return [];
      if (verdict.kind === 'refuse') return items.map((i) => ({ index: i.index, code: verdict.code, reason: verdict.reason, attempts: attempt }));
      if (verdict.kind === 'partial') {
        return verdict.failures.filter((f) => items[f.index]).map((f) => ({ index: items[f.index].index, code: f.code, reason: f.reason, attempts: attempt }));
      }
      if (verdict.kind === 'split') {
        if (items.length === 1) return [{ index: items[0].index, code: verdict.code, reason: verdict.reason, attempts: attempt }];
        const half = Math.ceil(items.length / 2);
        return [...(await send(items.slice(0, half), batch, deadline)), ...(await send(items.slice(half), batch, deadline))];
      }
      const wait = backoffMs(attempt, verdict.retryAfterMs);
      if (Date.now() + wait > deadline) {
        return items.map((i) => ({ index: i.index, code: 'retries_exhausted', reason: `${verdict.reason}; gave up after ${attempt} attempts (retry window ${o.retry_seconds} s)`, attempts: attempt }));
      }
      batch.retrying?.(verdict.cls ?? 'retry', wait);
      await sleep(wait);
    }
  }

  return async (records: DeliveryRecord[], batch: BatchInfo): Promise<DeliveryFailure[]> => {
    const failures: DeliveryFailure[] = [];
    const items: Item<M>[] = [];
    records.forEach((r, index) => {
      const p = spec.prepare(r);
      if (!p.ok) failures.push({ index, code: p.code, reason: p.reason });
      else if (p.bytes > spec.limits.messageBytes) {
        failures.push({ index, code: 'message_too_large', reason: `the ${spec.kind} message is ${p.bytes} bytes; ${spec.kind} takes at most ${spec.limits.messageBytes}` });
      } else items.push({ index, message: p.message, bytes: p.bytes });
    });
    const deadline = Date.now() + o.retry_seconds * 1000;
    const requests = pack(items, spec.limits.requestMessages, spec.limits.requestBytes);
    await eachLimited(requests, o.concurrency, async (req) => {
      failures.push(...(await send(req, batch, deadline)));
    });
    return failures.sort((a, b) => a.index - b.index);
  };
}

/**
 * A forwarder as a stream's destination: its spec is made when the destination opens (after its
 * secret is read), and every write goes through {@link forwarder}.
 *
 * @example forwarderDestination('segment', async () => segmentSpec(config, await readKey()), config)
 */
export function forwarderDestination<M>(kind: string, makeSpec: () => Promise<ForwarderSpec<M>>, options: ForwarderOptions): Destination {
  let write: ReturnType<typeof forwarder<M>> | null = null;
  return {
    kind,
    async open() {
      write = forwarder(await makeSpec(), options);
    },
    write(records, batch) {
      if (!write) throw new Error(`the ${kind} destination was not opened`);
      return write(records, batch);
    },
  };
}
