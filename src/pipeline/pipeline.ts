/**
 * The pipeline of one process: intake log entries in, routed records out to their streams, and
 * each entry acknowledged to the log once every record derived from it is delivered (or in an
 * error output). It also bounds what is in flight: intake refuses new requests (503) while the
 * accepted-but-undelivered bytes exceed the limit.
 */
import type { Loose } from '../core/json/json-text.ts';
import type { SluiceConfig } from '../config/config.ts';
import type { Destination } from '../destinations/destination.ts';
import type { Processor } from '../processors/processor.ts';
import type { DeadLetters } from './dead-letters.ts';
import type { ErrorOutput } from './error-output.ts';
import { Router } from './router.ts';
import { Stream, type BufferLimits, type StreamRecord } from './stream.ts';
import type { StreamCounters } from './stream-counters.ts';
import type { Activity } from './activity.ts';
import type { LogRow } from '../log/sql-intake-log.ts';
import { retryForever } from './retry.ts';

/** A direct stream record: JSON text already parsed (`value`) or Firehose bytes (`data`, base64). */
export interface DirectRecord {
  id: string;
  value?: unknown;
  data?: string;
}

/** Events to route, records for one stream, or dead letters sent back to their stream. */
export type LogKind = 'events' | 'records' | 'redrive';

/** One intake log entry, as held in memory. */
export interface LogEntry {
  id: number;
  tenant: string;
  kind: LogKind;
  stream: string | null;
  /** Events (EventBridge envelopes), direct records, or redriven dead letters (`{ id, value }`, already processed). */
  items: unknown[];
  bytes: number;
  receivedAt: string;
}

export interface PipelineParts {
  config: SluiceConfig;
  buffer: (stream: string) => BufferLimits;
  processors: (stream: string) => Processor[];
  destination: (stream: string) => Destination;
  errors: ErrorOutput;
  deadLetters: DeadLetters;
  counters: StreamCounters;
  activity?: Activity;
  /**
   * Stores records of a full stream in the intake log, unowned, for whichever process has room
   * for that stream later (docs/operations.md, "A slow or failing destination"). Without it
   * (Lambda) streams have no limit of their own.
   */
  park?: (row: LogRow) => Promise<void>;
  /** Called when an entry is fully delivered. */
  complete: (id: number) => void;
  warn: (message: string) => void;
}

function decodeDirect(r: DirectRecord): { ok: true; value: unknown } | { ok: false } {
  if (r.data === undefined) return { ok: true, value: r.value };
  try {
    return { ok: true, value: JSON.parse(Buffer.from(r.data, 'base64').toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

/**
 * The records of one entry not yet settled (one more while the entry is being routed). Its
 * `done` is what every record of the entry holds, so it holds only what completing the entry
 * takes: a closure over `accept` would keep the entry's events alive while its records wait in
 * their streams, and the young generation's collections would copy them again and again.
 */
class Outstanding {
  n = 1;
  constructor(
    private readonly id: number,
    private readonly bytes: number,
    private readonly complete: (id: number, bytes: number) => void,
  ) {}
  readonly done = (): void => {
    if (--this.n === 0) this.complete(this.id, this.bytes);
  };
}

/**
 * @example
 *   const pipeline = new Pipeline(parts);
 *   pipeline.accept({ id: 1, tenant: 'acme', kind: 'events', stream: null, items: [event], bytes: 420, receivedAt });
 */
export class Pipeline {
  readonly router: Router;
  readonly streams = new Map<string, Stream>();
  private pending = 0;
  private readonly idle: Array<() => void> = [];

  constructor(private readonly parts: PipelineParts) {
    this.router = new Router(parts.config);
    for (const name of Object.keys(parts.config.streams ?? {})) {
      this.streams.set(
        name,
        new Stream({
          name,
          buffer: parts.park ? parts.buffer(name) : { ...parts.buffer(name), max_pending_bytes: undefined },
          processors: parts.processors(name),
          destination: parts.destination(name),
          errors: parts.errors,
          deadLetters: parts.deadLetters,
          counters: parts.counters,
          activity: parts.activity,
          warn: parts.warn,
        }),
      );
    }
  }

  /** Bytes accepted and not yet delivered. */
  get pendingBytes(): number {
    return this.pending;
  }

  /** An entry is delivered: it leaves the log and the pending bytes. */
  private readonly completeEntry = (id: number, bytes: number): void => {
    this.pending -= bytes;
    this.parts.complete(id);
    if (this.pending === 0) for (const f of this.idle.splice(0)) f();
  };

  accept(entry: LogEntry): void {
    this.pending += entry.bytes;
    const outstanding = new Outstanding(entry.id, entry.bytes, this.completeEntry);
    const done = outstanding.done;
    const per = Math.max(1, Math.floor(entry.bytes / Math.max(1, entry.items.length)));
    const rejected = new Map<Stream, Array<{ record: StreamRecord; step: string; code: string; reason: string }>>();
    const reject = (stream: Stream, record: StreamRecord, step: string, code: string, reason: string): void => {
      let list = rejected.get(stream);
      if (!list) rejected.set(stream, (list = []));
      list.push({ record, step, code, reason });
    };
    const record = (id: string, value: unknown, processed?: boolean): StreamRecord => {
      outstanding.n++;
      return { id, source_tenant: entry.tenant, value, bytes: per, at: entry.receivedAt, processed, done };
    };
    // Records for a stream at its own limit go back to the log as lines of a new entry.
    const parked = new Map<Stream, string[]>();
    const park = (stream: Stream, line: () => string): boolean => {
      if (!stream.parks) return false;
      let lines = parked.get(stream);
      if (!lines) parked.set(stream, (lines = []));
      lines.push(line());
      return true;
    };

    if (entry.kind === 'events') {
      for (const item of entry.items) {
        const event = item as { id: string };
        // The router lists a rule's targets together: n counts the targets of the current rule.
        let rule = '';
        let n = 0;
        for (const r of this.router.route(item as Loose, entry.receivedAt)) {
          const stream = this.streams.get(r.stream);
          if (!stream) continue;
          this.parts.counters.matched(r.rule);
          n = r.rule === rule ? n + 1 : 1;
          rule = r.rule;
          const id = `${event.id}:${r.rule}:${n}`;
          if (r.ok) {
            const value = r.value;
            if (!park(stream, () => JSON.stringify({ id, value }))) stream.push(record(id, value));
          } else reject(stream, record(id, null), 'route', 'transform_failed', `rule ${r.rule}: ${r.error}`);
        }
      }
    } else {
      const stream = entry.stream ? this.streams.get(entry.stream) : undefined;
      if (!stream) {
        // The stream was removed from the config since the entry was accepted: keep it in the log.
        this.parts.warn(`intake entry ${entry.id}: no stream named ${entry.stream}; its records stay in the log`);
        this.pending -= entry.bytes;
        return;
      }
      for (const item of entry.items) {
        if (park(stream, () => JSON.stringify(item))) continue;
        if (entry.kind === 'redrive') {
          const letter = item as { id: string; value: unknown };
          stream.push(record(letter.id, letter.value, true));
          continue;
        }
        const direct = item as DirectRecord;
        const decoded = decodeDirect(direct);
        if (decoded.ok) stream.push(record(direct.id, decoded.value));
        else reject(stream, record(direct.id, null), 'decode', 'invalid_json', 'the record data is not JSON text');
      }
    }
    for (const [stream, items] of rejected) void stream.reject(items);
    for (const [stream, lines] of parked) {
      outstanding.n++;
      void this.park(entry, stream, lines).then(done);
    }
    done();
  }

  /** Registers the streams' gauges for GET /metrics. */
  gauges(counters: StreamCounters): void {
    counters.gauge('sluice_stream_held_bytes', 'Bytes of records a stream holds in memory (buffered or being delivered).', () => [...this.streams.values()].map((s) => [{ stream: s.name }, s.heldBytes]));
    counters.gauge('sluice_stream_parked_bytes', 'Bytes of a stream\'s records parked in the intake log (all processes).', () => [...this.streams.values()].map((s) => [{ stream: s.name }, s.parkedBytes]));
  }

  /** What the intake log holds parked, by stream (SqlIntakeLog.parkedBytes). */
  setParked(bytes: Map<string, number>): void {
    for (const s of this.streams.values()) s.parkedBytes = bytes.get(s.name) ?? 0;
  }

  /** Streams at or past half their limit: their parked entries stay in the log for now. */
  streamsWithoutRoom(): string[] {
    return [...this.streams.values()].filter((s) => !s.hasRoom).map((s) => s.name);
  }

  private async park(entry: LogEntry, stream: Stream, lines: string[]): Promise<void> {
    const row: LogRow = { tenant: entry.tenant, kind: entry.kind === 'redrive' ? 'redrive' : 'records', stream: stream.name, count: lines.length, payload: lines.join('\n'), received_at: entry.receivedAt };
    stream.parkedBytes += row.payload.length;
    await retryForever(
      () => this.parts.park!(row),
      (cls, wait) => this.parts.warn(`stream ${stream.name}: parking records in the intake log failed (${cls}); retrying in ${wait} ms`),
    );
    this.parts.counters.count('sluice_stream_parked_records_total', { stream: stream.name }, lines.length);
  }

  /** Resolves when everything accepted so far is delivered. */
  whenIdle(): Promise<void> {
    return this.pending === 0 ? Promise.resolve() : new Promise((r) => this.idle.push(r));
  }

  /** Flushes every stream (shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.streams.values()].map((s) => s.drain()));
  }
}
