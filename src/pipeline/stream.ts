/**
 * A delivery stream with Firehose's semantics: records are buffered until the count, byte or
 * interval limit is reached (whichever first), then the batch goes through the processors in
 * order and to the destination. Dropped records are counted; those a processor failed go to the
 * error output, those the destination refused (or gave up on after its retries) to the dead
 * letters. A batch the destination cannot take now (it throws) is retried with backoff, never
 * dropped; records are acknowledged (`done`) only after their outcome is durable.
 */
import { createHash } from 'node:crypto';
import { protect, runSteps, type StepResult } from '../processors/run-steps.ts';
import type { BatchInfo, Destination } from '../destinations/destination.ts';
import type { BatchContext, Processor } from '../processors/processor.ts';
import { erasedSince } from '../privacy/fence.ts';
import type { DeadLetter, DeadLetters } from './dead-letters.ts';
import type { ErrorOutput, FailedRecord } from './error-output.ts';
import { retryForever } from './retry.ts';
import type { StreamCounters } from './stream-counters.ts';
import type { Activity } from './activity.ts';

export interface StreamRecord {
  id: string;
  source_tenant: string;
  value: unknown;
  bytes: number;
  /** When the entry it came from was accepted (ISO 8601, UTC). */
  at: string;
  /** Already through the stream's processors (a redriven dead letter): only delivered. */
  processed?: boolean;
  /** Called once the record's outcome is durable (delivered, dropped or in the error output). */
  done: () => void;
}

export interface BufferLimits {
  max_records: number;
  max_bytes: number;
  interval_seconds: number;
  /** Bytes of records held (buffered or being delivered) past which the stream is full. Unbounded if absent. */
  max_pending_bytes?: number;
  /** Bytes of a full stream's records parked in the intake log past which it parks no more (backpressure). Unbounded if absent. */
  max_parked_bytes?: number;
}

export interface StreamParts {
  name: string;
  buffer: BufferLimits;
  processors: Processor[];
  destination: Destination;
  errors: ErrorOutput;
  deadLetters: DeadLetters;
  counters: StreamCounters;
  /** Per-minute counts by tenant for the overview (docs/ui.md). */
  activity?: Activity;
  /** Reports a retried failure (no record content). */
  warn: (message: string) => void;
}

/** The tenant a record is for, when it says (for the error output). */
function tenantOf(v: unknown): string | null {
  const t = (v as { metadata?: { tenant_id?: unknown } } | null)?.metadata?.tenant_id;
  return typeof t === 'string' ? t.slice(0, 63) : null;
}

/** The batch's id (from its record ids, hashed when first read) and its earliest acceptance time. */
export function batchInfo(stream: string, records: Array<{ id: string; at: string }>): BatchInfo {
  let at = records[0]?.at ?? new Date(0).toISOString();
  for (const r of records) if (r.at < at) at = r.at;
  let id: string | undefined;
  return {
    stream,
    at,
    get id() {
      if (id === undefined) {
        const h = createHash('sha256');
        for (const r of records) h.update(r.id).update('\n');
        id = h.digest('hex').slice(0, 32);
      }
      return id;
    },
  };
}

export class Stream {
  private buffer: StreamRecord[] = [];
  private bytes = 0;
  /** Bytes of the records buffered and being delivered. */
  private held = 0;
  private timer: NodeJS.Timeout | null = null;
  /** The interval passed while every delivery slot was busy: flush as soon as one frees. */
  private overdue = false;
  private readonly inflight = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly parts: StreamParts) {}

  get name(): string {
    return this.parts.name;
  }

  /** Buffered records not yet handed to a flush. */
  get buffered(): number {
    return this.buffer.length;
  }

  /** Bytes of the records buffered and being delivered. */
  get heldBytes(): number {
    return this.held;
  }

  /**
   * At its own limit (a slow or failing destination): new records for it wait in the intake log
   * (the pipeline parks them) rather than in memory.
   */
  get full(): boolean {
    const limit = this.parts.buffer.max_pending_bytes;
    return limit !== undefined && this.held >= limit;
  }

  /** Bytes of this stream's records parked in the intake log (read from the log, plus what was parked since). */
  parkedBytes = 0;

  /**
   * Full, and its parked records below their limit: new records go to the log. Full with the
   * parked limit reached, they stay in memory and the process's own limit pushes back on intake.
   */
  get parks(): boolean {
    const limit = this.parts.buffer.max_parked_bytes;
    return this.full && (limit === undefined || this.parkedBytes < limit);
  }

  /** Bytes it may still take before it is full (unbounded without a limit). */
  get freeBytes(): number {
    const limit = this.parts.buffer.max_pending_bytes;
    return limit === undefined ? Infinity : limit - this.held;
  }

  /** Below half its limit: parked records may come back. */
  get hasRoom(): boolean {
    const limit = this.parts.buffer.max_pending_bytes;
    return limit === undefined || this.held < limit / 2;
  }

  push(record: StreamRecord): void {
    this.buffer.push(record);
    this.bytes += record.bytes;
    this.held += record.bytes;
    if (this.due()) {
      // With every slot busy, the batch in flight flushes when it ends: no timer per record.
      if (this.inflight.size < (this.parts.destination.concurrency ?? 1)) this.flush();
    } else if (!this.timer) this.startTimer();
  }

  /** Records that failed before reaching the stream (routing), straight to the error output. */
  async reject(items: Array<{ record: StreamRecord; step: string; code: string; reason: string }>): Promise<void> {
    await this.retrying(() => this.parts.errors.write(items.map((i) => this.failed(i.record, i.step, i.code, i.reason))));
    for (const i of items) {
      this.left('failed', i.code, i.record.source_tenant);
      i.record.done();
    }
  }

  /** Flushes everything buffered and waits for it (used on shutdown). */
  async drain(): Promise<void> {
    this.closed = true;
    this.flush();
    while (this.inflight.size > 0) {
      await Promise.all(this.inflight);
      this.flush();
    }
  }

  private due(): boolean {
    const { max_records, max_bytes, interval_seconds } = this.parts.buffer;
    return this.buffer.length >= max_records || this.bytes >= max_bytes || interval_seconds === 0 || this.overdue || this.closed;
  }

  private startTimer(): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.overdue = true;
      this.flush();
    }, this.parts.buffer.interval_seconds * 1000);
  }

  /**
   * Starts batches while delivery slots are free (the destination's `concurrency`, 1 unless it
   * says its writes commute): one batch when the interval passed, as many as are full otherwise.
   */
  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const slots = this.parts.destination.concurrency ?? 1;
    while (this.buffer.length > 0 && this.inflight.size < slots && this.due()) {
      this.overdue = false;
      const batch = this.take();
      const running: Promise<void> = this.process(batch)
        .catch((e: Error) => this.parts.warn(`stream ${this.name}: batch failed (${e?.name ?? 'error'})`))
        .finally(() => {
          this.inflight.delete(running);
          this.flush();
        });
      this.inflight.add(running);
    }
    // Records left behind wait for their interval, unless a batch in flight will flush them when it ends.
    if (this.buffer.length > 0 && !this.timer && !this.overdue && !(this.inflight.size > 0 && this.due())) this.startTimer();
  }

  /** At most one buffer's worth, oldest first. */
  private take(): StreamRecord[] {
    const { max_records, max_bytes } = this.parts.buffer;
    let n = 0;
    let size = 0;
    while (n < this.buffer.length && n < max_records && (n === 0 || size + this.buffer[n].bytes <= max_bytes)) size += this.buffer[n++].bytes;
    this.bytes -= size;
    return this.buffer.splice(0, n);
  }

  /** One record left the stream: counted for /metrics and, by its source tenant, for the overview. */
  private left(outcome: 'dropped' | 'failed' | 'dead_lettered', code: string, tenant: string): void {
    this.parts.counters.add(this.name, outcome, code);
    this.parts.activity?.record(this.name, tenant, outcome, code);
  }

  private failed(r: StreamRecord, step: string, code: string, reason: string): FailedRecord {
    return { stream: this.name, tenant: tenantOf(r.value), step, code, reason, record_id: r.id, record: protect(this.parts.processors, r.value) };
  }

  private async process(batch: StreamRecord[]): Promise<void> {
    const { processors, destination, counters, activity } = this.parts;
    const failures: FailedRecord[] = [];
    const failedFrom: string[] = [];
    const refused: DeadLetter[] = [];
    let live: StreamRecord[] = [];
    let values: unknown[] = [];
    const context: BatchContext = {};
    /** Adds the records that steps kept to `live` (with their values); the others leave, counted. */
    const sort = (records: StreamRecord[], results: StepResult[]): void =>
      results.forEach(({ outcome: o, step }, i) => {
        if (o.kind === 'ok') {
          live.push(records[i]);
          values.push(o.value);
        } else if (o.kind === 'drop') this.left('dropped', step, records[i].source_tenant);
        else {
          failures.push(this.failed(records[i], step, o.code, o.reason));
          failedFrom.push(records[i].source_tenant);
        }
      });
    const fresh = batch.filter((r) => !r.processed);
    sort(fresh, await runSteps(processors, fresh.map((r) => r.value), context));
    // Records processed before (a redriven dead letter, an archived line) go only through what
    // still applies to them: the suppression list.
    const processed = batch.filter((r) => r.processed);
    if (processed.length > 0) sort(processed, await runSteps(processors, processed.map((r) => r.value), context, 'recheck'));
    const info = batchInfo(this.name, batch);
    info.erasureEpoch = context.erasureEpoch;
    if (live.length > 0) {
      const labels = { stream: this.name, destination: destination.kind };
      const retried = (cls: string, wait: number): void => {
        counters.count('sluice_destination_batches_total', { ...labels, outcome: 'retried' });
        activity?.record(this.name, '', 'retried', cls);
        this.parts.warn(`stream ${this.name}: write failed (${cls}); retrying in ${wait} ms`);
      };
      // A forwarder retries its requests itself: it says so through the batch.
      info.retrying = retried;
      const answer = await retryForever(async () => {
        for (;;) {
          try {
            return await destination.write(
              live.map((r, i) => ({ id: r.id, source_tenant: r.source_tenant, value: values[i], at: r.at })),
              info,
            );
          } catch (e) {
            if (!erasedSince(e)) throw e;
          }
          // A subject was erased after the batch was checked: what is left is checked again.
          const [before, kept] = [live, values];
          [live, values] = [[], []];
          const again: BatchContext = {};
          sort(before, await runSteps(processors, kept, again, 'recheck'));
          info.erasureEpoch = again.erasureEpoch;
          if (live.length === 0) return [];
        }
      }, retried);
      counters.count('sluice_destination_batches_total', { ...labels, outcome: 'delivered' });
      counters.observe('sluice_batch_records', { stream: this.name }, live.length);
      // Latency per record; the records of one intake entry share their acceptance time.
      const now = Date.now();
      for (let i = 0; i < live.length; ) {
        let j = i + 1;
        while (j < live.length && live[j].at === live[i].at) j++;
        counters.observe('sluice_delivery_latency_seconds', { stream: this.name }, Math.max(0, (now - Date.parse(live[i].at)) / 1000), j - i);
        i = j;
      }
      const bad = new Set<number>();
      for (const f of answer) {
        if (bad.has(f.index)) continue;
        bad.add(f.index);
        const r = live[f.index];
        refused.push({
          stream: this.name,
          destination: destination.kind,
          source_tenant: r.source_tenant,
          tenant: tenantOf(values[f.index]),
          code: f.code,
          reason: f.reason,
          record_id: r.id,
          record: values[f.index] ?? null,
          attempts: f.attempts ?? 1,
        });
      }
      counters.add(this.name, 'ok', '', live.length - bad.size);
      activity?.recordEach(this.name, function* () {
        for (const [i, r] of live.entries()) if (!bad.has(i)) yield r.source_tenant;
      }(), 'ok', '');
    }
    if (failures.length > 0) {
      await this.retrying(() => this.parts.errors.write(failures));
      failures.forEach((f, i) => this.left('failed', f.code, failedFrom[i]));
    }
    if (refused.length > 0) {
      await this.retrying(() => this.parts.deadLetters.write(refused));
      for (const f of refused) this.left('dead_lettered', f.code, f.source_tenant);
    }
    if (destination.writeFailures && (failures.length > 0 || refused.length > 0)) {
      const all = [...failures, ...refused].map((f) => ({ code: f.code, reason: f.reason, record_id: f.record_id, record: f.record }));
      await this.retrying(() => destination.writeFailures!(all, info));
    }
    for (const r of batch) {
      this.held -= r.bytes;
      r.done();
    }
  }

  /** Runs a write until it succeeds, backing off; the batch stays owned and unacknowledged meanwhile. */
  private retrying<T>(write: () => Promise<T>): Promise<T> {
    return retryForever(write, (cls, wait) => this.parts.warn(`stream ${this.name}: write failed (${cls}); retrying in ${wait} ms`));
  }
}
