/**
 * `mixpanel`: Mixpanel's `/import` API. Requests are gzip JSON arrays of at most 2,000 events and
 * 10 MB uncompressed, each event under 1 MB; `strict=1` by default, so a 400 names each refused
 * event (`failed_records`, by index) and the rest are imported. `$insert_id` derives from the
 * record id (Mixpanel dedups on it; at most 36 letters, digits and dashes), so a retry counts
 * once. Authentication: the project token as the Basic user name, or a service account (user
 * name and secret) with `project_id`.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { MixpanelDestinationConfig } from '../../config/config.ts';
import { describeSecret, readSecret } from '../../config/secrets.ts';
import { isRecord } from '../../core/is-record.ts';
import type { Destination } from '../destination.ts';
import { epochMs, fieldReaders, requiredSecret } from '../http/fields.ts';
import { forwarderDestination, reasonFrom, type ForwarderSpec, type Verdict } from '../http/forwarder.ts';

export const MIXPANEL_LIMITS = { messageBytes: 1024 * 1024 - 1, requestMessages: 2000, requestBytes: 10 * 1024 * 1024 };
export const MIXPANEL_ENDPOINT = 'https://api.mixpanel.com';
/** Mixpanel refuses more than 255 properties per event. */
const MAX_PROPERTIES = 255;
const gzipAsync = promisify(gzip);

export interface MixpanelEvent {
  event: string;
  properties: Record<string, unknown> & { time: number; distinct_id: string; $insert_id: string };
}

/** The `$insert_id` of a record id: itself when Mixpanel accepts it, else 32 hex digits of its SHA-256. */
export function insertId(recordId: string): string {
  return /^[A-Za-z0-9-]{1,36}$/.test(recordId) ? recordId : createHash('sha256').update(recordId).digest('hex').slice(0, 32);
}

export function mixpanelSpec(config: MixpanelDestinationConfig, auth: { user: string; password: string; projectId?: string }): ForwarderSpec<MixpanelEvent> {
  const read = fieldReaders(config, { event: '$.metric_name', distinct_id: '$.metadata.user_id', time: '$.metadata.event_time', properties: '$.data' });
  const endpoint = (config.endpoint ?? MIXPANEL_ENDPOINT).replace(/\/+$/, '');
  const query = new URLSearchParams({ strict: config.strict === false ? '0' : '1' });
  if (auth.projectId) query.set('project_id', auth.projectId);
  const header = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
  return {
    kind: 'mixpanel',
    limits: MIXPANEL_LIMITS,
    prepare(r) {
      const event = read.event(r.value);
      if (typeof event !== 'string' || event.length === 0) return { ok: false, code: 'missing_event', reason: `${config.event ?? '$.metric_name'} must be a non-empty string (the event name)` };
      const time = epochMs(read.time(r.value));
      if (!Number.isFinite(time)) return { ok: false, code: 'invalid_time', reason: `${config.time ?? '$.metadata.event_time'} must be an ISO 8601 date-time or epoch seconds/milliseconds` };
      const extra = read.properties(r.value);
      const props = isRecord(extra) ? extra : {};
      if (Object.keys(props).length > MAX_PROPERTIES - 3) return { ok: false, code: 'too_many_properties', reason: `Mixpanel takes fewer than ${MAX_PROPERTIES} properties per event` };
      const distinct = read.distinct_id(r.value);
      const message: MixpanelEvent = {
        event,
        properties: { ...props, time, distinct_id: typeof distinct === 'string' || typeof distinct === 'number' ? String(distinct) : '', $insert_id: insertId(r.id) },
      };
      return { ok: true, message, bytes: Buffer.byteLength(JSON.stringify(message)) };
    },
    async request(messages) {
      return {
        url: `${endpoint}/import?${query}`,
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', authorization: header, accept: 'application/json', 'user-agent': 'sluice/0.1.0' },
        body: new Uint8Array(await gzipAsync(JSON.stringify(messages), { level: 1 })),
      };
    },
    judge(status, body, messages): Verdict {
      if (status >= 200 && status < 300) return { kind: 'ok' };
      if (status === 400) {
        let failed: unknown;
        try {
          failed = (JSON.parse(body) as { failed_records?: unknown }).failed_records;
        } catch {
          failed = undefined;
        }
        if (Array.isArray(failed) && failed.length > 0) {
          return {
            kind: 'partial',
            failures: failed
              .filter((f): f is { index: number; field?: string; message?: string } => isRecord(f) && Number.isInteger(f.index) && (f.index as number) < messages.length)
              .map((f) => ({ index: f.index, code: 'mixpanel_invalid', reason: `${f.field ?? 'event'}: ${String(f.message ?? 'refused').slice(0, 500)}` })),
          };
        }
        return { kind: 'split', code: 'mixpanel_rejected', reason: reasonFrom(status, body) };
      }
      if (status === 413) return { kind: 'split', code: 'mixpanel_too_large', reason: reasonFrom(status, body) };
      return { kind: 'refuse', code: `http_${status}`, reason: reasonFrom(status, body) };
    },
  };
}

export function createMixpanelDestination(config: MixpanelDestinationConfig): Destination {
  const auth = async () => {
    const sa = config.service_account;
    if (sa) return { user: sa.username, password: await requiredSecret(() => readSecret(sa.secret), `the Mixpanel service account secret (${describeSecret(sa.secret)})`), projectId: sa.project_id };
    return { user: await requiredSecret(() => readSecret(config.project_token!), `the Mixpanel project token (${describeSecret(config.project_token!)})`), password: '' };
  };
  return forwarderDestination('mixpanel', async () => mixpanelSpec(config, await auth()), config);
}
