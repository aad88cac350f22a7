/**
 * How a unified metric record becomes a point, as Timestream models it: the tenant and metric,
 * a time, dimensions (strings: the other metadata and the string or boolean data fields) and
 * measures (the numeric data fields).
 */
import { ANY_TENANT } from '../../auth/api-keys.ts';
import { isRecord } from '../../core/is-record.ts';

export interface MetricPoint {
  tenant: string;
  metric: string;
  time: string;
  record_id: string;
  dimensions: Record<string, string>;
  measures: Record<string, number>;
}

/** Metadata a point holds as its tenant, id and time: never among its dimensions. */
export const RESERVED_METADATA = ['tenant_id', 'event_id', 'event_time'] as const;
const RESERVED = new Set<string>(RESERVED_METADATA);
const DAY_MS = 86_400_000;

// Records of one batch often share their time: the last one is parsed and normalized once.
const last = { text: '', ms: NaN, iso: '' };

/** A time as milliseconds (NaN if not a date) and normalized ISO 8601. */
function timeOf(text: string): { ms: number; iso: string } {
  if (text !== last.text) {
    last.text = text;
    last.ms = Date.parse(text);
    last.iso = Number.isFinite(last.ms) ? new Date(last.ms).toISOString() : '';
  }
  return last;
}


/**
 * The point of a record, or why it cannot be one. `sourceTenant` is the tenant of the key that
 * sent the event: a record may only land in that tenant (an admin key may send for any).
 *
 * @example toPoint({ metric_name: 'm', metadata: { tenant_id: 'acme', event_time: '…' }, data: { n: 1 } }, 'id', 'acme', Date.now(), 400)
 */
export function toPoint(
  value: unknown,
  recordId: string,
  sourceTenant: string,
  now: number,
  retentionDays: number,
): { ok: true; point: MetricPoint } | { ok: false; code: string; reason: string } {
  if (!isRecord(value) || typeof value.metric_name !== 'string' || !isRecord(value.metadata)) {
    return { ok: false, code: 'not_a_metric_record', reason: 'expected { metric_name, metadata: { tenant_id, event_time }, data }' };
  }
  const meta = value.metadata;
  const tenant = meta.tenant_id;
  if (typeof tenant !== 'string' || tenant.length === 0) return { ok: false, code: 'missing_tenant', reason: 'metadata.tenant_id must be a non-empty string' };
  if (sourceTenant !== ANY_TENANT && tenant !== sourceTenant) {
    return { ok: false, code: 'tenant_mismatch', reason: `the ingest key belongs to tenant ${sourceTenant}; a record for another tenant needs an admin key` };
  }
  const { ms: t, iso } = typeof meta.event_time === 'string' ? timeOf(meta.event_time) : { ms: NaN, iso: '' };
  if (!Number.isFinite(t)) return { ok: false, code: 'invalid_time', reason: 'metadata.event_time must be an ISO 8601 date-time' };
  if (t < now - retentionDays * DAY_MS || t > now + DAY_MS) {
    return { ok: false, code: 'time_out_of_range', reason: `metadata.event_time must be within the last ${retentionDays} days and at most one day ahead` };
  }
  const dimensions: Record<string, string> = {};
  const measures: Record<string, number> = {};
  // for…in over own keys of parsed JSON: no entry arrays per record (this runs for every point).
  for (const k in meta) {
    const v = meta[k];
    if (!RESERVED.has(k) && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) dimensions[k] = String(v);
  }
  const data = value.data;
  if (isRecord(data)) {
    for (const k in data) {
      const v = data[k];
      if (typeof v === 'number' && Number.isFinite(v)) measures[k] = v;
      else if (typeof v === 'string' || typeof v === 'boolean') dimensions[k] = String(v);
    }
  }
  const eventId = meta.event_id;
  const id = typeof eventId === 'string' || typeof eventId === 'number' ? `e:${eventId}` : `r:${recordId}`;
  return { ok: true, point: { tenant, metric: value.metric_name, time: iso, record_id: id, dimensions, measures } };
}
