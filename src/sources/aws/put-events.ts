/**
 * EventBridge `PutEvents` (`X-Amz-Target: AWSEvents.PutEvents`): 1 to 10 entries of at most
 * 256 KiB together (EventBridge's entry size, summed over the request: more is a
 * ValidationException for the whole request, as AWS answers), per-entry results in order with
 * `FailedEntryCount`, entry errors as EventBridge reports them (`InvalidArgument`,
 * `MalformedDetail`).
 */
import { toEnvelope } from '../event-envelope.ts';
import type { Submission } from '../../pipeline/intake.ts';
import { awsError } from './aws-error.ts';
import { isRecord } from '../../core/is-record.ts';

export const PUT_EVENTS_LIMITS = { entries: 10, requestBytes: 256 * 1024 } as const;

type ResultEntry = { EventId: string } | { ErrorCode: string; ErrorMessage: string };


/** Entry size as EventBridge computes it: UTF-8 bytes of Time (14), Source, DetailType, Detail and Resources. */
function entrySize(e: Record<string, unknown>): number {
  let n = e.Time !== undefined ? 14 : 0;
  for (const k of ['Source', 'DetailType', 'Detail']) if (typeof e[k] === 'string') n += Buffer.byteLength(e[k] as string);
  if (Array.isArray(e.Resources)) for (const r of e.Resources) if (typeof r === 'string') n += Buffer.byteLength(r);
  return n;
}

/** Checks a PutEvents request; returns the submission and the answer's entries, or an error response. */
export function putEvents(body: unknown, tenant: string, now: Date): { submission: Submission; entries: ResultEntry[] } | Response {
  const entries = isRecord(body) ? body.Entries : undefined;
  if (!Array.isArray(entries) || entries.length < 1 || entries.length > PUT_EVENTS_LIMITS.entries) {
    return awsError(400, 'ValidationException', `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and ${PUT_EVENTS_LIMITS.entries}`);
  }
  let total = 0;
  for (const e of entries) if (isRecord(e)) total += entrySize(e);
  if (total > PUT_EVENTS_LIMITS.requestBytes) return awsError(400, 'ValidationException', 'Total size of the entries in the request is over the limit.');
  const submission: Submission = { tenant, kind: 'events', stream: null, items: [], lines: [] };
  const results: ResultEntry[] = entries.map((e): ResultEntry => {
    if (!isRecord(e)) return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Entry must be an object.' };
    for (const k of ['Source', 'DetailType', 'Detail']) {
      if (typeof e[k] !== 'string' || (e[k] as string).length === 0) {
        return { ErrorCode: 'InvalidArgument', ErrorMessage: `Parameter ${k} is not valid. Reason: ${k} is a required argument.` };
      }
    }
    let detail: unknown;
    try {
      detail = JSON.parse(e.Detail as string);
    } catch {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    }
    if (!isRecord(detail)) return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    let time: string | undefined;
    if (e.Time !== undefined) {
      const t = typeof e.Time === 'number' ? e.Time * 1000 : NaN;
      if (!Number.isFinite(t)) return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameter Time is not valid. Reason: expected epoch seconds.' };
      time = new Date(t).toISOString();
    }
    const env = toEnvelope(
      { source: e.Source, 'detail-type': e.DetailType, detail, resources: e.Resources, ...(time ? { time } : {}) },
      tenant,
      now,
      e.Detail as string,
    );
    if (!env.ok) return { ErrorCode: env.code === 'malformed_detail' ? 'MalformedDetail' : 'InvalidArgument', ErrorMessage: env.message };
    submission.items.push(env.event);
    submission.lines.push(JSON.stringify(env.event));
    return { EventId: env.event.id };
  });
  return { submission, entries: results };
}

