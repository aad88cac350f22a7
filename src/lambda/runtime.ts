/**
 * Sluice as AWS Lambda handlers: the same rules, streams, processors and destinations as the
 * long-running process, assembled once per container (store connection, key rings from Secrets
 * Manager, migrations checked) and reused by every invocation. The event source is the durable
 * log: a handler answers only once its records are delivered (or in the error output), and
 * reports the rest as failed the way AWS expects, so Lambda retries them; every destination is
 * idempotent on record ids, so retries count once.
 */
import type { Hono } from 'hono';
import { handle } from 'hono/aws-lambda';
import { createApp } from '../api/app.ts';
import type { SluiceConfig } from '../config/config.ts';
import { ANY_TENANT, KeyStore } from '../auth/api-keys.ts';
import { isRecord } from '../core/is-record.ts';
import { MetricsStore } from '../destinations/metrics/metrics-store.ts';
import { SqlIntakeLog, toLogEntry } from '../log/sql-intake-log.ts';
import { ErrorOutput, type FailedRecord } from '../pipeline/error-output.ts';
import { Intake } from '../pipeline/intake.ts';
import type { Pipeline } from '../pipeline/pipeline.ts';
import { RateLimiter } from '../pipeline/rate-limiter.ts';
import { Eraser, pseudonymKeySources, tableSubjects } from '../privacy/erasure.ts';
import { DEFAULT_MAX_PENDING_BYTES, DEFAULT_RATE } from '../runtime/limits.ts';
import { contentId, toEnvelope } from '../sources/event-envelope.ts';
import { createdObjects, objectLines, objectReader, type ObjectReader, type S3Event } from '../sources/s3/object-source.ts';
import type { Processor } from '../processors/processor.ts';
import { protect, runSteps } from '../processors/run-steps.ts';
import { assemblePipeline } from '../runtime/assemble.ts';
import { createLogger, type Logger } from '../runtime/logger.ts';
import type { Database } from '../store/database.ts';
import { openDatabase } from '../store/open-database.ts';
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
}

export interface S3LoadResult {
  objects: Array<{ bucket: string; key: string; version: string; lines: number; loaded: number; failed: number; skipped: boolean }>;
}

export type LambdaHttpEvent = Parameters<ReturnType<typeof handle>>[0];
export type LambdaHttpResult = Awaited<ReturnType<ReturnType<typeof handle>>>;

/** Time kept back from Lambda's deadline to answer with the records still undelivered. */
const ANSWER_MARGIN_MS = 2_000;
const DEFAULT_WAIT_MS = 60_000;
/** Lines of an S3 object delivered as one intake entry; the longest line taken. */
const S3_CHUNK_LINES = 1_000;
export const S3_MAX_LINE_BYTES = 1024 * 1024;

/** The HTTP API on Lambda: the Hono app, and the intake log its accepted requests go to. */
interface HttpParts {
  app: Hono;
  intakeLog: SqlIntakeLog;
}

export class LambdaRuntime {
  /** Entries handed to the pipeline directly get negative ids; intake log ids are positive. */
  private nextId = -1;
  private readonly waiting = new Map<number, () => void>();
  private pipeline!: Pipeline;
  private readonly transformSteps = new Map<string, Processor[]>();
  private processors!: (stream: string) => Processor[];
  private assembled!: Awaited<ReturnType<typeof assemblePipeline>>;
  private reader: ObjectReader | null = null;
  private http: Promise<HttpParts> | null = null;
  private httpHandler: ReturnType<typeof handle> | null = null;

  private constructor(
    readonly config: SluiceConfig,
    readonly db: Database,
    private readonly log: Logger,
  ) {}

  /** Opens the store and assembles the pipeline (once per container). */
  static async open(opts: LambdaOptions): Promise<LambdaRuntime> {
    const log = opts.log ?? createLogger('json', (s) => process.stderr.write(s));
    const db = await openDatabase({ databaseUrl: opts.databaseUrl, dataDir: opts.dataDir }, { exclusive: false, poolSize: 2 });
    const rt = new LambdaRuntime(opts.config, db, log);
    const assembled = await assemblePipeline(opts.config, db, {
      mode: 'tool',
      dataDir: opts.dataDir ?? '.sluice',
      log,
      stdout: opts.stdout,
      // One invocation's records are one batch, delivered at once.
      buffer: () => ({ max_records: 10_000, max_bytes: 64 * 1024 * 1024, interval_seconds: 0 }),
      complete: (id) => {
        if (id > 0) {
          void rt.http?.then((h) => h.intakeLog.complete(id));
          return;
        }
        rt.waiting.get(id)?.();
        rt.waiting.delete(id);
      },
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
  private async deliver(entries: Array<{ kind: 'events' | 'records'; stream: string | null; items: unknown[] }>, context?: LambdaContext): Promise<Set<number>> {
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

  /**
   * S3 object created: each NDJSON (or gzip NDJSON) object is read line by line and loaded:
   * unified metric records (`metric_name`) into `sources.s3.stream` (default `metrics`),
   * EventBridge envelopes through the rules. Ids are derived from each line's content (and the
   * object's creation time for envelopes without one), so loading an object again counts
   * nothing twice; a loaded object is recorded and a redelivered notification skips it. A line
   * that is not JSON, not an event or too long goes to the error output by its object and line
   * number (never its content). An object not loaded before the deadline throws, and Lambda's
   * retry loads it again.
   */
  async s3(event: S3Event, context?: LambdaContext): Promise<S3LoadResult> {
    const cfg = this.config.sources?.s3 ?? {};
    const stream = cfg.stream ?? 'metrics';
    this.reader ??= objectReader({ endpoint: cfg.endpoint, forcePathStyle: cfg.force_path_style });
    const errors = new ErrorOutput(this.db);
    const out: S3LoadResult['objects'] = [];
    for (const ref of createdObjects(event)) {
      const where = `s3://${ref.bucket}/${ref.key}`;
      const [seen] = await this.db.query<{ lines: number; failed: number }>('select lines, failed from sluice.loaded_objects where bucket = $1 and key = $2 and version = $3', [ref.bucket, ref.key, ref.version]);
      if (seen) {
        out.push({ bucket: ref.bucket, key: ref.key, version: ref.version, lines: seen.lines, loaded: seen.lines - seen.failed, failed: seen.failed, skipped: true });
        continue;
      }
      const failures: FailedRecord[] = [];
      const fail = (line: number, code: string, reason: string): void => {
        failures.push({ stream: 's3', tenant: null, step: 'source', code, reason: `${where} line ${line}: ${reason}`, record_id: `${where}#${ref.version}:${line}`, record: { bucket: ref.bucket, key: ref.key, line } });
      };
      let events: unknown[] = [];
      let records: unknown[] = [];
      const flush = async (): Promise<void> => {
        const late = await this.deliver([{ kind: 'events', stream: null, items: events }, { kind: 'records', stream, items: records }].filter((e) => e.items.length > 0) as never, context);
        if (late.size > 0) throw new Error(`${where} was not loaded before the invocation's deadline; Lambda's retry loads it again and counts nothing twice`);
        events = [];
        records = [];
      };
      let lines = 0;
      for await (const l of objectLines(await this.reader.open(ref), S3_MAX_LINE_BYTES)) {
        lines++;
        if ('tooLong' in l) {
          fail(l.n, 'line_too_large', `a line may be at most ${S3_MAX_LINE_BYTES} bytes`);
          continue;
        }
        let value: unknown;
        try {
          value = JSON.parse(l.text);
        } catch {
          fail(l.n, 'malformed_json', 'the line is not JSON');
          continue;
        }
        if (isRecord(value) && 'metric_name' in value) records.push({ id: contentId(ANY_TENANT, [stream, l.text]), value });
        else {
          const env = toEnvelope(value, ANY_TENANT, ref.time);
          if (env.ok) events.push(env.event);
          else fail(l.n, env.code, env.message);
        }
        if (events.length + records.length >= S3_CHUNK_LINES) await flush();
      }
      await flush();
      await errors.write(failures);
      await this.db.query('insert into sluice.loaded_objects (bucket, key, version, lines, failed) values ($1, $2, $3, $4, $5) on conflict do nothing', [ref.bucket, ref.key, ref.version, lines, failures.length]);
      if (failures.length > 0) this.log.warn(`s3: ${where}: ${failures.length} of ${lines} lines failed; they are in the error output`);
      out.push({ bucket: ref.bucket, key: ref.key, version: ref.version, lines, loaded: lines - failures.length, failed: failures.length, skipped: false });
    }
    return { objects: out };
  }

  /**
   * The HTTP API (API Gateway v1, v2 or a function URL, through Hono's adapter). Accepted
   * requests are in the intake log before the answer, exactly as on Node; the invocation then
   * delivers them before it returns (a frozen container delivers nothing). What the deadline
   * cuts off stays in the log for `drain`.
   */
  async httpApp(): Promise<Hono> {
    this.http ??= (async () => {
      const intakeLog = new SqlIntakeLog(this.db, { leaseSeconds: 30, exclusive: false });
      await intakeLog.start();
      const rate = { ...DEFAULT_RATE, ...this.config.ingest?.rate_limit };
      const intake = new Intake(intakeLog, this.pipeline, new RateLimiter(rate.events_per_second, rate.burst), this.config.ingest?.max_pending_bytes ?? DEFAULT_MAX_PENDING_BYTES);
      const { keyRing, counters, queries, metricsConfig } = this.assembled;
      const eraser = new Eraser(this.db, { rings: pseudonymKeySources(this.config).map(keyRing), tables: tableSubjects(this.config) }, new MetricsStore(this.db, { rollupDimensions: metricsConfig?.rollup_dimensions }));
      const app = createApp({ config: this.config, keys: new KeyStore(this.db), intake, queries, counters, eraser, stopping: () => false });
      return { app, intakeLog };
    })().catch((e) => {
      this.http = null;
      throw e;
    });
    return (await this.http).app;
  }

  /** An API Gateway (v1, v2) or function URL event through the app; what it accepted is delivered before it returns. */
  async httpInvoke(event: LambdaHttpEvent, context?: LambdaContext): Promise<LambdaHttpResult> {
    this.httpHandler ??= handle(await this.httpApp());
    const response = await this.httpHandler(event, context as never);
    // A frozen container delivers nothing: deliver what this request accepted before returning.
    await this.settle(context);
    return response;
  }

  /** Waits, within the invocation's time, until what this container accepted is delivered and removed from the log. */
  async settle(context?: LambdaContext): Promise<boolean> {
    const done = await this.beforeDeadline(this.pipeline.whenIdle(), context);
    if (this.http) await (await this.http).intakeLog.deleteCompleted();
    return done;
  }

  /**
   * Scheduled: delivers intake log entries that an invocation accepted but could not deliver
   * (cut off by its deadline, or its container gone), oldest first, until the log is empty or
   * the time is up.
   */
  async drain(context?: LambdaContext): Promise<{ delivered: number; remaining: number }> {
    await this.httpApp();
    const { intakeLog } = await this.http!;
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
    return { delivered, remaining: await intakeLog.backlog() };
  }

  async close(): Promise<void> {
    await this.pipeline.drain();
    if (this.http) await (await this.http).intakeLog.stop();
    await this.db.close();
  }
}
