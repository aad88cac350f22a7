/**
 * `segment`: Segment's HTTP Tracking API batch endpoint (`POST /v1/batch`, HTTP Basic with the
 * write key as the user name). Each record becomes a `track` call; `messageId` is the record id,
 * which Segment dedups on, so a retried request counts once. Segment takes at most 32 KB per
 * call and 500 KB per batch and answers 400 beyond them or on malformed JSON; it answers 200
 * otherwise. A 400 batch is halved until the call at fault is found, which goes to the dead
 * letters; 401 and 403 (a wrong write key) refuse the batch.
 */
import type { SegmentDestinationConfig } from '../../config/config.ts';
import { describeSecret, readSecret } from '../../config/secrets.ts';
import { isRecord } from '../../core/is-record.ts';
import type { Destination } from '../destination.ts';
import { epochMs, fieldReaders, requiredSecret } from '../http/fields.ts';
import { forwarderDestination, reasonFrom, type ForwarderSpec } from '../http/forwarder.ts';

export const SEGMENT_LIMITS = { messageBytes: 32 * 1024, requestMessages: 2500, requestBytes: 500 * 1024 };
export const SEGMENT_ENDPOINT = 'https://api.segment.io';

export interface SegmentTrack {
  type: 'track';
  event: string;
  userId?: string;
  anonymousId?: string;
  properties: Record<string, unknown>;
  timestamp: string;
  messageId: string;
  context: { library: { name: string; version: string } };
}

export function segmentSpec(config: SegmentDestinationConfig, writeKey: string): ForwarderSpec<SegmentTrack> {
  const read = fieldReaders(config, { event: '$.metric_name', user_id: '$.metadata.user_id', anonymous_id: null, timestamp: '$.metadata.event_time', properties: '$.data' });
  const endpoint = (config.endpoint ?? SEGMENT_ENDPOINT).replace(/\/+$/, '');
  const auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
  return {
    kind: 'segment',
    limits: SEGMENT_LIMITS,
    prepare(r) {
      const event = read.event(r.value);
      if (typeof event !== 'string' || event.length === 0) return { ok: false, code: 'missing_event', reason: `${config.event ?? '$.metric_name'} must be a non-empty string (the track event name)` };
      const userId = read.user_id(r.value);
      const anonymousId = read.anonymous_id(r.value);
      const id = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : typeof v === 'number' ? String(v) : undefined);
      if (!id(userId) && !id(anonymousId)) return { ok: false, code: 'missing_identity', reason: `Segment needs a userId or anonymousId: ${config.user_id ?? '$.metadata.user_id'} is absent${config.anonymous_id ? ` and so is ${config.anonymous_id}` : ''}` };
      const t = epochMs(read.timestamp(r.value));
      const properties = read.properties(r.value);
      const message: SegmentTrack = {
        type: 'track',
        event,
        ...(id(userId) ? { userId: id(userId) } : {}),
        ...(id(anonymousId) ? { anonymousId: id(anonymousId) } : {}),
        properties: isRecord(properties) ? properties : {},
        timestamp: new Date(Number.isFinite(t) ? t : Date.parse(r.at)).toISOString(),
        messageId: r.id,
        context: { library: { name: 'sluice', version: '0.1.0' } },
      };
      return { ok: true, message, bytes: Buffer.byteLength(JSON.stringify(message)) };
    },
    request(messages) {
      return {
        url: `${endpoint}/v1/batch`,
        headers: { 'content-type': 'application/json', authorization: auth, 'user-agent': 'sluice/0.1.0' },
        body: JSON.stringify({ batch: messages, sentAt: new Date().toISOString() }),
      };
    },
    judge(status, body) {
      if (status >= 200 && status < 300) return { kind: 'ok' };
      if (status === 400 || status === 413) return { kind: 'split', code: 'segment_rejected', reason: reasonFrom(status, body) };
      return { kind: 'refuse', code: `http_${status}`, reason: reasonFrom(status, body) };
    },
  };
}

export function createSegmentDestination(config: SegmentDestinationConfig): Destination {
  const key = () => requiredSecret(() => readSecret(config.write_key), `the Segment write key (${describeSecret(config.write_key)})`);
  return forwarderDestination('segment', async () => segmentSpec(config, await key()), config);
}
