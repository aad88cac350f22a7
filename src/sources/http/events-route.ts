/**
 * `POST /v1/events`: events for curl and every language. The body is a JSON array or NDJSON of
 * EventBridge envelopes (`source`, `detail-type`, `detail`, …) or unified metric records
 * (`metric_name`, `metadata`, `data`, sent to the stream named by `?stream=`, default
 * `metrics`). The answer has one result per entry, in order; a bad entry never fails the others.
 * 200 means every accepted entry is in the intake log.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ANY_TENANT } from '../../auth/api-keys.ts';
import type { AppContext } from '../../api/app-context.ts';
import { bearer } from '../../api/bearer.ts';
import { httpError } from '../../api/http-error.ts';
import { bodyError, jsonErrorAt, readBody, withoutBom } from '../../api/read-body.ts';
import { toEntry } from '../event-envelope.ts';

export const EVENTS_LIMITS = { bodyBytes: 5 * 1024 * 1024, entries: 500, entryBytes: 256 * 1024 } as const;

type EntryResult = { id: string } | { error: { code: string; status: number; message: string } };

const entryError = (code: string, status: number, message: string): EntryResult => ({ error: { code, status, message } });

export async function postEvents(c: Context, app: AppContext): Promise<Response> {
  const who = await bearer(c, app.keys, ['ingest', 'admin']);
  if (who instanceof Response) return who;
  if (app.stopping()) return httpError(c, 503, 'shutting_down', 'Sluice is shutting down; retry shortly', { 'Retry-After': '1' });
  const tenant = who.kind === 'admin' ? ANY_TENANT : who.tenant;
  const stream = c.req.query('stream') ?? 'metrics';
  const busy = app.intake.overloaded();
  if (busy) return httpError(c, busy.status, busy.code, busy.message, { 'Retry-After': String(busy.retryAfter) });

  let body: Uint8Array;
  try {
    body = await readBody(c, EVENTS_LIMITS.bodyBytes, { decode: true });
  } catch (e) {
    const refused = bodyError(c, e, EVENTS_LIMITS.bodyBytes, 'a request body');
    if (refused) return refused;
    throw e;
  }
  const text = withoutBom(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  const trimmed = text.trimStart();
  if (trimmed.length === 0) return httpError(c, 400, 'empty_body', 'send a JSON array or NDJSON of events');

  // Each entry: its parsed value and byte size, or a parse error (NDJSON lines fail alone).
  const entries: Array<{ value?: unknown; text?: string; size: number; error?: EntryResult }> = [];
  if (trimmed[0] === '[') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return httpError(c, 400, 'malformed_json', `the body is ${jsonErrorAt(text)}`);
    }
    if (!Array.isArray(parsed)) return httpError(c, 400, 'malformed_json', 'the body must be a JSON array or NDJSON');
    if (parsed.length > EVENTS_LIMITS.entries) return httpError(c, 400, 'too_many_entries', `at most ${EVENTS_LIMITS.entries} entries per request, got ${parsed.length}`);
    for (const v of parsed) {
      const json = JSON.stringify(v) as string | undefined;
      entries.push({ value: v, text: json, size: json?.length ?? 0 });
    }
  } else {
    const lines = text.split('\n').filter((l) => l.trim().length > 0);
    if (lines.length > EVENTS_LIMITS.entries) return httpError(c, 400, 'too_many_entries', `at most ${EVENTS_LIMITS.entries} entries per request, got ${lines.length}`);
    for (const line of lines) {
      try {
        entries.push({ value: JSON.parse(line), text: line, size: Buffer.byteLength(line) });
      } catch {
        entries.push({ size: line.length, error: entryError('malformed_json', 400, `the entry is ${jsonErrorAt(line).replace(/line \d+, /, '')}`) });
      }
    }
  }

  const hasRecords = entries.some((e) => (e.value as { metric_name?: unknown } | undefined)?.metric_name !== undefined);
  if (hasRecords && !app.config.streams?.[stream]) {
    const known = Object.keys(app.config.streams ?? {}).join(', ') || 'none';
    return httpError(c, 400, 'unknown_stream', `no stream named "${stream}" for metric records; streams: ${known}`);
  }

  const now = new Date();
  const results: EntryResult[] = [];
  const events: unknown[] = [];
  const eventLines: string[] = [];
  const records: unknown[] = [];
  const recordLines: string[] = [];
  let bytes = 0;
  for (const e of entries) {
    if (e.error) {
      results.push(e.error);
      app.intake.rejected('error' in e.error ? e.error.error.code : 'invalid_event', 1);
      continue;
    }
    if (e.size > EVENTS_LIMITS.entryBytes) {
      results.push(entryError('entry_too_large', 413, `an entry may be at most ${EVENTS_LIMITS.entryBytes} bytes`));
      app.intake.rejected('entry_too_large', 1);
      continue;
    }
    const entry = toEntry(e.value, tenant, stream, now, e.text);
    if (entry.kind === 'error') {
      results.push(entryError(entry.code, 400, entry.message));
      app.intake.rejected(entry.code, 1);
      continue;
    }
    if (entry.kind === 'records') {
      records.push(entry.item);
      recordLines.push(entry.line());
    } else {
      events.push(entry.item);
      eventLines.push(entry.line());
    }
    results.push({ id: entry.item.id });
    bytes += entry.bytes;
  }

  const accepted = events.length + records.length;
  if (accepted > 0) {
    const admission = app.intake.admit(who.tenant, accepted, bytes);
    if (!admission.ok) return httpError(c, admission.status, admission.code, admission.message, { 'Retry-After': String(admission.retryAfter) });
    // The log keeps events as sent; read back, they are completed with the same tenant and time.
    const receivedAt = now.toISOString();
    await Promise.all([
      app.intake.submit({ tenant, kind: 'events', stream: null, items: events, lines: eventLines, receivedAt }),
      app.intake.submit({ tenant, kind: 'records', stream, items: records, lines: recordLines, receivedAt }),
    ]);
  }
  const failed = results.length - accepted;
  let status: ContentfulStatusCode = 200;
  if (accepted === 0) {
    const statuses = new Set(results.map((r) => ('error' in r ? r.error.status : 200)));
    status = (statuses.size === 1 ? [...statuses][0] : 400) as ContentfulStatusCode;
  }
  return c.json({ accepted, failed, results }, status);
}
