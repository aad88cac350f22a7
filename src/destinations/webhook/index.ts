/**
 * `webhook`: JSON batches to any URL, `{ "batch_id", "stream", "records": [{ "id", "at", "value" }] }`,
 * signed so the receiver can check they come from Sluice and are fresh:
 *
 *   Sluice-Timestamp: <unix seconds>
 *   Sluice-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 *
 * The receiver recomputes the HMAC over the raw body, compares in constant time, and refuses a
 * timestamp more than five minutes old. `Idempotency-Key` (the batch id) is the same on every
 * retry of a request, and each record's `id` is stable: receivers dedup on either. A 2xx accepts
 * the request; 400, 413 and 422 halve it to find the record at fault; other 4xx refuse it.
 */
import { createHash, createHmac } from 'node:crypto';
import type { WebhookDestinationConfig } from '../../config/config.ts';
import { describeSecret, readSecret } from '../../config/secrets.ts';
import type { BatchInfo, Destination } from '../destination.ts';
import { requiredSecret } from '../http/fields.ts';
import { forwarderDestination, reasonFrom, type ForwarderSpec } from '../http/forwarder.ts';

export const WEBHOOK_DEFAULTS = { max_request_records: 500, max_request_bytes: 1024 * 1024 };

interface WebhookRecord {
  id: string;
  at: string;
  value: unknown;
}

/**
 * The signature headers of a body.
 *
 * @example sign('whsec', '{"records":[]}', 1763630000) // { 'sluice-timestamp': '1763630000', 'sluice-signature': 'v1=…' }
 */
export function sign(secret: string, body: string, unixSeconds: number): Record<string, string> {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return { 'sluice-timestamp': String(unixSeconds), 'sluice-signature': `v1=${mac}` };
}

export function webhookSpec(config: WebhookDestinationConfig, secret: string): ForwarderSpec<WebhookRecord> {
  const maxRecords = config.max_request_records ?? WEBHOOK_DEFAULTS.max_request_records;
  const maxBytes = config.max_request_bytes ?? WEBHOOK_DEFAULTS.max_request_bytes;
  return {
    kind: 'webhook',
    limits: { messageBytes: maxBytes - 200, requestMessages: maxRecords, requestBytes: maxBytes - 200 },
    prepare(r) {
      const message = { id: r.id, at: r.at, value: r.value };
      return { ok: true, message, bytes: Buffer.byteLength(JSON.stringify(message)) };
    },
    request(messages, batch: BatchInfo) {
      const id = createHash('sha256').update(messages.map((m) => m.id).join('\n')).digest('hex').slice(0, 32);
      const body = JSON.stringify({ batch_id: id, stream: batch.stream, records: messages });
      return {
        url: config.url,
        headers: { ...config.headers, 'content-type': 'application/json', 'idempotency-key': id, 'user-agent': 'sluice/0.1.0', ...sign(secret, body, Math.floor(Date.now() / 1000)) },
        body,
      };
    },
    judge(status, body) {
      if (status >= 200 && status < 300) return { kind: 'ok' };
      if (status === 400 || status === 413 || status === 422) return { kind: 'split', code: `http_${status}`, reason: reasonFrom(status, body) };
      return { kind: 'refuse', code: `http_${status}`, reason: reasonFrom(status, body) };
    },
  };
}

export function createWebhookDestination(config: WebhookDestinationConfig): Destination {
  const secret = () => requiredSecret(() => readSecret(config.secret), `the webhook signing secret (${describeSecret(config.secret)})`);
  return forwarderDestination('webhook', async () => webhookSpec(config, await secret()), config);
}
