/**
 * Turns what producers send into EventBridge envelopes. Sluice assigns the fields EventBridge
 * assigns (version, account, region, time when absent) and an id derived from the tenant and the
 * event's content, time included, when the producer gives none: a producer's retry of the same
 * event (same time) gets the same id, and destinations count it once.
 */
import { hash } from 'node:crypto';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../pipeline/router.ts';
import { isRecord } from '../core/is-record.ts';
import { memberSpan } from '../core/json/json-text.ts';

export interface Envelope {
  version: string;
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

/** Limits from EventBridge's PutEvents. */
export const MAX_SOURCE_LENGTH = 256;
export const MAX_DETAIL_TYPE_LENGTH = 128;
export const MAX_RESOURCES = 20;

export type EnvelopeResult = { ok: true; event: Envelope } | { ok: false; code: string; message: string };


/** A uuid-shaped id from a hash of the tenant and content. */
export function contentId(tenant: string, parts: string[]): string {
  // Concatenated, not joined: the text is built once, as the hash reads it.
  let text = tenant;
  for (const p of parts) text += `\n${p}`;
  const h = hash('sha256', text, 'hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

// The events of one request mostly share their time: the last one is normalized once.
let lastMs = NaN;
let lastMsIso = '';
let lastTime: unknown;
let lastTimeIso = '';

/** An instant as EventBridge writes `time`: ISO 8601 in UTC, to the second. */
function secondsIso(ms: number): string {
  if (ms === lastMs) return lastMsIso;
  const iso = new Date(ms).toISOString();
  lastMs = ms;
  lastMsIso = iso.length === 24 ? `${iso.slice(0, 19)}Z` : iso.replace(/\.\d{3}Z$/, 'Z');
  return lastMsIso;
}

/**
 * Checks and completes an event given as an envelope (`source`, `detail-type`, `detail`, and
 * optionally `id`, `time`, `resources`, `account`, `region`, `version`).
 *
 * @example toEnvelope({ source: 'findings', 'detail-type': 'findings-uploaded', detail: {} }, 'acme', new Date())
 */
export function toEnvelope(input: unknown, tenant: string, now: Date, detailText?: string): EnvelopeResult {
  if (!isRecord(input)) return { ok: false, code: 'invalid_event', message: 'an event must be a JSON object' };
  const { source, detail, resources, time, id } = input;
  const detailType = input['detail-type'];
  if (typeof source !== 'string' || source.length === 0 || source.length > MAX_SOURCE_LENGTH) {
    return { ok: false, code: 'invalid_event', message: `source must be a string of 1 to ${MAX_SOURCE_LENGTH} characters` };
  }
  if (typeof detailType !== 'string' || detailType.length === 0 || detailType.length > MAX_DETAIL_TYPE_LENGTH) {
    return { ok: false, code: 'invalid_event', message: `detail-type must be a string of 1 to ${MAX_DETAIL_TYPE_LENGTH} characters` };
  }
  if (!isRecord(detail)) return { ok: false, code: 'malformed_detail', message: 'detail must be a JSON object' };
  if (resources !== undefined && (!Array.isArray(resources) || resources.length > MAX_RESOURCES || !resources.every((r) => typeof r === 'string'))) {
    return { ok: false, code: 'invalid_event', message: `resources must be an array of at most ${MAX_RESOURCES} strings` };
  }
  let at: string;
  if (time === undefined) at = secondsIso(now.getTime());
  else if (time === lastTime) at = lastTimeIso;
  else {
    const t = typeof time === 'string' ? Date.parse(time) : NaN;
    if (!Number.isFinite(t)) return { ok: false, code: 'invalid_event', message: 'time must be an ISO 8601 date-time' };
    at = secondsIso(t);
    lastTime = time;
    lastTimeIso = at;
  }
  if (id !== undefined && (typeof id !== 'string' || id.length === 0 || id.length > 256)) {
    return { ok: false, code: 'invalid_event', message: 'id must be a string of 1 to 256 characters' };
  }
  const res = (resources as string[] | undefined) ?? [];
  const eventId = (id as string | undefined) ?? contentId(tenant, [source, detailType, at, res.join(','), detailText ?? JSON.stringify(detail)]);
  return {
    ok: true,
    event: {
      version: '0',
      id: eventId,
      'detail-type': detailType,
      source,
      account: typeof input.account === 'string' ? input.account : LOCAL_ACCOUNT,
      time: at,
      region: typeof input.region === 'string' ? input.region : LOCAL_REGION,
      resources: res,
      detail,
    },
  };
}

/**
 * One entry of a batch of events (`/v1/events`, an S3 object, a backfill): a unified metric
 * record (it has `metric_name`) for `stream`, with an id from the tenant, stream and content;
 * or an EventBridge envelope, completed by {@link toEnvelope}. `text` is the entry's JSON as it
 * arrived, when the caller has it (a line of a request or a file): a record is hashed as is, and
 * an event's detail is hashed as it was sent (as PutEvents' `Detail` is), instead of being
 * serialized again. `line()` is the JSON the intake log keeps: for an event, the text as sent
 * (the log is read back with {@link loggedItems}, which completes it again exactly so). `bytes`,
 * the size of the event or record as JSON, counts against the ingest limits.
 */
export type EntryResult =
  | { kind: 'records'; item: { id: string; value: Record<string, unknown> }; line: () => string; bytes: number }
  | { kind: 'events'; item: Envelope; line: () => string; bytes: number }
  | { kind: 'error'; code: string; message: string };

/** Whether a value is a unified metric record rather than an event. */
export const isMetricRecord = (value: unknown): value is Record<string, unknown> => isRecord(value) && 'metric_name' in value;

export function toEntry(value: unknown, tenant: string, stream: string, now: Date, text?: string): EntryResult {
  if (isMetricRecord(value)) {
    const json = text ?? JSON.stringify(value);
    const item = { id: contentId(tenant, [stream, json]), value };
    const line = text === undefined || text.includes('\n') ? () => JSON.stringify(item) : () => `{"id":"${item.id}","value":${text}}`;
    return { kind: 'records', item, line, bytes: json.length };
  }
  const span = text === undefined ? null : memberSpan(text, 'detail');
  const detailText = span === null ? undefined : text!.slice(span[0], span[1]);
  const env = toEnvelope(value, tenant, now, detailText);
  if (!env.ok) return { kind: 'error', code: env.code, message: env.message };
  // The log keeps one event per line: an event sent over several lines is serialized.
  const line = text === undefined || text.includes('\n') ? JSON.stringify(env.event) : text;
  return { kind: 'events', item: env.event, line: () => line, bytes: line.length };
}

/**
 * The items of an intake log entry, as the pipeline takes them. Records and redriven dead
 * letters are their lines parsed. An events entry holds events as they were sent (or complete
 * envelopes, which stay as they are): each is completed again as when it was accepted, with the
 * entry's tenant and acceptance time, so it gets the same id and time it was acknowledged with.
 *
 * @example loggedItems('events', '{"source":"s","detail-type":"t","detail":{}}', 'acme', '2026-11-22T10:00:00.000Z')
 */
export function loggedItems(kind: string, payload: string, tenant: string, receivedAt: string): unknown[] {
  const lines = payload.split('\n');
  if (kind !== 'events') return lines.map((l) => JSON.parse(l) as unknown);
  const now = new Date(receivedAt);
  return lines.map((l) => {
    const value = JSON.parse(l) as unknown;
    const entry = toEntry(value, tenant, '', now, l);
    if (entry.kind !== 'events') throw new Error('an intake log line of kind events is not an event');
    return entry.item;
  });
}
