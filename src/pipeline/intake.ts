/**
 * Intake: what every source calls with the entries it accepted. It applies the tenant's rate
 * and the process's backpressure, appends to the intake log (group-committed), and only then
 * answers; the pipeline then takes the entry from memory. Sources answer the producer with
 * what `submit` says.
 */
import type { LogRow } from '../log/sql-intake-log.ts';
import type { Pipeline } from './pipeline.ts';
import type { RateLimiter } from './rate-limiter.ts';
import type { StreamCounters } from './stream-counters.ts';

/** Where accepted entries are made durable: the SQL intake log, or JetStream. */
export interface IntakeSink {
  /** Resolves with the entry's id once it is durable; throws LogUnavailable when it cannot be stored now. */
  append(row: LogRow): Promise<number>;
}

/** The log cannot store entries now (JetStream away): the producer gets 503 with Retry-After. */
export class LogUnavailable extends Error {}

export type Admission = { ok: true } | { ok: false; status: 429 | 503; retryAfter: number; code: 'rate_limited' | 'overloaded'; message: string };

export interface Submission {
  tenant: string;
  kind: 'events' | 'records';
  stream: string | null;
  items: unknown[];
  /** The items as NDJSON lines (what the log stores). */
  lines: string[];
  /** When the items were accepted (ISO 8601), if the source completed them with that time. Default: now. */
  receivedAt?: string;
}

export class Intake {
  private inflight = 0;

  constructor(
    private readonly log: IntakeSink,
    private readonly pipeline: Pipeline,
    private readonly limiter: RateLimiter,
    private readonly maxPendingBytes: number,
    private readonly opts: {
      /** Whether this process delivers what it accepts (false for an API node in front of JetStream workers). */
      local?: boolean;
      /** Whether the workers are too far behind (JetStream lag past its limit). */
      lagging?: () => boolean;
      /** Where accepted and rejected events are counted (GET /metrics). */
      counters?: StreamCounters;
    } = {},
  ) {}

  /** Already past the limit: refuse before reading or parsing a body (which costs memory too). */
  overloaded(): Extract<Admission, { ok: false }> | null {
    if (this.opts.lagging?.()) return { ok: false, status: 503, retryAfter: 1, code: 'overloaded', message: 'the workers are behind on what Sluice accepted; retry after the given seconds' };
    if (this.pipeline.pendingBytes + this.inflight <= this.maxPendingBytes) return null;
    return { ok: false, status: 503, retryAfter: 1, code: 'overloaded', message: 'Sluice is delivering what it accepted; retry after the given seconds' };
  }

  /** Whether a request of `count` entries and `bytes` from `tenant` may go in now. */
  admit(tenant: string, count: number, bytes: number): Admission {
    if (this.pipeline.pendingBytes + this.inflight + bytes > this.maxPendingBytes) {
      this.rejected('overloaded', count);
      return { ok: false, status: 503, retryAfter: 1, code: 'overloaded', message: 'Sluice is delivering what it accepted; retry after the given seconds' };
    }
    const wait = this.limiter.take(tenant, count, bytes);
    if (wait > 0) {
      this.rejected('rate_limited', count);
      return { ok: false, status: 429, retryAfter: wait, code: 'rate_limited', message: `tenant ${tenant} is over its ingest rate (events or bytes per second); retry after ${wait} s` };
    }
    return { ok: true };
  }

  /** Counts events refused, by code (GET /metrics). */
  rejected(code: string, count: number): void {
    this.opts.counters?.count('sluice_intake_events_total', { outcome: 'rejected', code }, count);
  }

  /** Makes the items durable, then hands them to the pipeline. Resolves when it is safe to acknowledge. */
  async submit(s: Submission): Promise<void> {
    if (s.items.length === 0) return;
    const payload = s.lines.join('\n');
    const bytes = payload.length;
    this.inflight += bytes;
    let id: number;
    try {
      id = await this.log.append({ tenant: s.tenant, kind: s.kind, stream: s.stream, count: s.items.length, payload, received_at: s.receivedAt });
    } finally {
      this.inflight -= bytes;
    }
    this.opts.counters?.count('sluice_intake_events_total', { outcome: 'accepted', code: '' }, s.items.length);
    if (this.opts.local !== false) this.pipeline.accept({ id, tenant: s.tenant, kind: s.kind, stream: s.stream, items: s.items, bytes, receivedAt: s.receivedAt ?? new Date().toISOString() });
  }
}
