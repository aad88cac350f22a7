/**
 * Sluice as AWS Lambda handlers: the same rules, streams, processors and destinations as the
 * long-running process, assembled once per container (store connection, key rings from Secrets
 * Manager, migrations checked) and reused by every invocation. The event source is the durable
 * log: a handler answers only once its records are delivered (or in the error output), and
 * reports the rest as failed the way AWS expects, so Lambda retries them; every destination is
 * idempotent on record ids, so retries count once.
 */
import type { SluiceConfig } from '../config/config.ts';
import { ANY_TENANT } from '../auth/api-keys.ts';
import { SqlIntakeLog, toLogEntry } from '../log/sql-intake-log.ts';
import type { LogKind, Pipeline } from '../pipeline/pipeline.ts';
import type { BufferLimits } from '../pipeline/stream.ts';
import { onceUntilFailed } from '../core/once.ts';
import type { Processor } from '../processors/processor.ts';
import { protect, runSteps } from '../processors/run-steps.ts';
import { assemblePipeline } from '../runtime/assemble.ts';
import { createLogger, type Logger } from '../runtime/logger.ts';
import type { Database } from '../store/database.ts';
import { openDatabase } from '../store/open-database.ts';
import { flushWarnings, VendorErasures, vendorTargets } from '../privacy/vendor-erasure.ts';
import { streamRecordToEvent, type DynamoDBStreamEvent } from '../sources/dynamodb/stream-record.ts';

/** What Lambda's context offers that the handlers use. */
export interface LambdaContext {
  getRemainingTimeInMillis?(): number;
}

export interface BatchResponse {
  batchItemFailures: Array<{ itemIdentifier: string }>;
}

/** Firehose's data-transformation contract (one result per recordId, data base64). */
export interface FirehoseTransformationEvent {
  invocationId: string;
  deliveryStreamArn: string;
  region?: string;
  records: Array<{ recordId: string; approximateArrivalTimestamp?: number; data: string }>;
}
export interface FirehoseTransformationResult {
  records: Array<{ recordId: string; result: 'Ok' | 'Dropped' | 'ProcessingFailed'; data: string }>;
}

export interface LambdaOptions {
  config: SluiceConfig;
  /** PostgreSQL (in AWS); without it, the PGlite data dir (local invoke). */
  databaseUrl?: string;
  dataDir?: string;
  log?: Logger;
  stdout?: (line: string) => void;
  /** How streams batch (default: an invocation's records are one batch). */
  buffer?: BufferLimits;
}

/** What a scheduled drain did: intake log entries delivered and left, and erasure requests to vendors settled, by state. */
export interface DrainResult {
  delivered: number;
  remaining: number;
  vendor_requests: { sent: number; pending: number; failed: number };
}

/** Time kept back from Lambda's deadline to answer with the records still undelivered. */
const ANSWER_MARGIN_MS = 2_000;
const DEFAULT_WAIT_MS = 60_000;
export class LambdaRuntime {
  /** Entries handed to the pipeline directly get negative ids; intake log ids are positive. */
  private nextId = -1;
  private readonly waiting = new Map<number, () => void>();
  pipeline!: Pipeline;
  private readonly transformSteps = new Map<string, Processor[]>();
  private processors!: (stream: string) => Processor[];
  assembled!: Awaited<ReturnType<typeof assemblePipeline>>;
  /** The intake log HTTP invocations append to (started on first use). */
  readonly intakeLog = onceUntilFailed(async () => {
    const log = new SqlIntakeLog(this.db, { leaseSeconds: 30, exclusive: false });
    await log.start();
    return log;
  });

  private constructor(
    readonly config: SluiceConfig,
    readonly db: Database,
    readonly log: Logger,
  ) {}

  /** Opens the store and assembles the pipeline (once per container). */
  static async open(opts: LambdaOptions): Promise<LambdaRuntime> {
    const log = opts.log ?? createLogger('json', (s) => process.stderr.write(s));
    const db = await openDatabase({ databaseUrl: opts.databaseUrl, dataDir: opts.dataDir }, { exclusive: false, poolSize: 2 });
    const rt = new LambdaRuntime(opts.config, db, log);
    // A config that cannot be assembled (a missing key ring or secret) must not leave the store open.
    const assembled = await assemblePipeline(opts.config, db, {
      mode: 'tool',
      dataDir: opts.dataDir ?? '.sluice',
      log,
      stdout: opts.stdout,
      // One invocation's records are one batch, delivered at once.
      buffer: () => opts.buffer ?? { max_records: 10_000, max_bytes: 64 * 1024 * 1024, interval_seconds: 0 },
      complete: (id) => {
        if (id > 0) {
          void rt.intakeLog.pending?.then((l) => l.complete(id));
          return;
        }
        rt.waiting.get(id)?.();
        rt.waiting.delete(id);
      },
    }).catch(async (e: unknown) => {
      await db.close().catch(() => {});
      throw e;
    });
    rt.assembled = assembled;
    rt.pipeline = assembled.pipeline;
    rt.processors = assembled.processors;
    return rt;
  }

  /** Resolves when `done` does or when the invocation's time (less the answer margin) is up; true if done. */
  private async beforeDeadline(done: Promise<unknown>, context?: LambdaContext): Promise<boolean> {
    const left = context?.getRemainingTimeInMillis?.() ?? DEFAULT_WAIT_MS + ANSWER_MARGIN_MS;
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([done.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), Math.max(0, left - ANSWER_MARGIN_MS))))]);
    clearTimeout(timer);
    return finished;
  }

  /** Delivers each entry; resolves with the indexes (into `entries`) not delivered before the deadline. */
  async deliver(entries: Array<{ kind: LogKind; stream: string | null; items: unknown[] }>, context?: LambdaContext): Promise<Set<number>> {
    const pending = new Set<number>();
    const done: Array<Promise<void>> = [];
    const receivedAt = new Date().toISOString();
    entries.forEach((entry, i) => {
      const id = this.nextId--;
      pending.add(i);
      done.push(new Promise<void>((resolve) => this.waiting.set(id, resolve)).then(() => void pending.delete(i)));
      this.pipeline.accept({ id, tenant: ANY_TENANT, ...entry, bytes: 1024, receivedAt });
    });
    await this.beforeDeadline(Promise.all(done), context);
    return pending;
  }

  /**
   * DynamoDB Streams: each record becomes an `aws.dynamodb` event routed by the rules. Removals
   * by TTL are skipped unless `sources.dynamodb.ttl_removals` is `route`. A record that is not
   * a stream record, or not delivered in time, is reported in batchItemFailures by its sequence
   * number (Lambda retries from the first; with bisect and an on-failure destination a bad
   * record ends there instead of blocking the shard).
   */
  async dynamodb(event: DynamoDBStreamEvent, context?: LambdaContext): Promise<BatchResponse> {
    const routeTtl = this.config.sources?.dynamodb?.ttl_removals === 'route';
    const failed: string[] = [];
    const accepted: Array<{ seq: string; event: unknown }> = [];
    for (const r of Array.isArray(event?.Records) ? event.Records : []) {
      const seq = String(r?.dynamodb?.SequenceNumber ?? r?.eventID ?? '');
      try {
        const e = streamRecordToEvent(r);
        if (e.detail.ttlRemoval && !routeTtl) continue;
        accepted.push({ seq, event: e });
      } catch (e) {
        this.log.warn(`dynamodb: record ${seq} skipped as failed: ${(e as Error).message}`);
        failed.push(seq);
      }
    }
    const late = await this.deliver(accepted.map((a) => ({ kind: 'events', stream: null, items: [a.event] })), context);
    for (const i of late) failed.push(accepted[i].seq);
    return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
  }

  /**
   * Firehose data transformation: the records of the delivery stream named in the ARN (or
   * `SLUICE_FIREHOSE_STREAM`) go through that Sluice stream's processors. Every recordId comes
   * back once: Ok with the processed record as JSON + newline, Dropped, or ProcessingFailed
   * (with the record after the stream's pseudonymization, never raw).
   */
  async firehoseTransform(event: FirehoseTransformationEvent, streamName?: string): Promise<FirehoseTransformationResult> {
    const name = streamName ?? event.deliveryStreamArn.split('/').at(-1) ?? '';
    const stream = this.config.streams?.[name];
    if (!stream) throw new Error(`no stream named ${JSON.stringify(name)} for delivery stream ${event.deliveryStreamArn}; set SLUICE_FIREHOSE_STREAM`);
    let steps = this.transformSteps.get(name);
    if (!steps) {
      steps = this.processors(name);
      this.transformSteps.set(name, steps);
    }
    const values: unknown[] = [];
    const parsed: boolean[] = [];
    for (const r of event.records) {
      try {
        values.push(JSON.parse(Buffer.from(r.data, 'base64').toString('utf8')));
        parsed.push(true);
      } catch {
        values.push(null);
        parsed.push(false);
      }
    }
    const results = await runSteps(steps, values);
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v) + '\n').toString('base64');
    return {
      records: event.records.map((r, i) => {
        if (!parsed[i]) return { recordId: r.recordId, result: 'ProcessingFailed', data: r.data };
        const o = results[i].outcome;
        if (o.kind === 'ok') return { recordId: r.recordId, result: 'Ok', data: b64(o.value) };
        return { recordId: r.recordId, result: o.kind === 'drop' ? 'Dropped' : 'ProcessingFailed', data: b64(protect(steps, values[i])) };
      }),
    };
  }

  /** Waits, within the invocation's time, until what this container accepted is delivered and removed from the log. */
  async settle(context?: LambdaContext): Promise<boolean> {
    const done = await this.beforeDeadline(this.pipeline.whenIdle(), context);
    const log = this.intakeLog.pending;
    if (log) await (await log).deleteCompleted();
    return done;
  }

  /** Erasure requests to vendors (kept per container: Mixpanel's requests are spaced). */
  private vendors?: VendorErasures;

  /**
   * Scheduled: delivers intake log entries that an invocation accepted but could not deliver
   * (cut off by its deadline, or its container gone), oldest first, until the log is empty or
   * the time is up; then sends the erasure requests to vendors that are due (a vendor that was
   * down when the erasure ran), as the long-running process's timer does.
   */
  async drain(context?: LambdaContext): Promise<DrainResult> {
    const intakeLog = await this.intakeLog();
    let delivered = 0;
    const deadline = Date.now() + (context?.getRemainingTimeInMillis?.() ?? DEFAULT_WAIT_MS + ANSWER_MARGIN_MS) - ANSWER_MARGIN_MS;
    while (Date.now() < deadline) {
      const rows = await intakeLog.claimOrphans(200);
      if (rows.length === 0) break;
      for (const r of rows) this.pipeline.accept(toLogEntry(r));
      if (!(await this.settle({ getRemainingTimeInMillis: () => deadline - Date.now() + ANSWER_MARGIN_MS }))) break;
      delivered += rows.length;
    }
    await intakeLog.forgetStale();
    const remaining = await intakeLog.backlog();
    const vendor_requests = { sent: 0, pending: 0, failed: 0 };
    if (Date.now() < deadline) {
      this.vendors ??= new VendorErasures(this.db, vendorTargets(this.config));
      const flushed = await this.vendors.flush();
      for (const state of flushed.settled.values()) vendor_requests[state]++;
      for (const w of flushWarnings(flushed)) this.log.warn(w);
      // What became of the deletions the vendors took, asked of each at most hourly.
      await this.vendors.track(3_600_000, deadline);
    }
    return { delivered, remaining, vendor_requests };
  }

  async close(): Promise<void> {
    await this.pipeline.drain();
    const log = this.intakeLog.pending;
    if (log) await (await log).stop();
    await this.db.close();
  }
}
