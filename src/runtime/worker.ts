/**
 * `sluice worker`: consumers only, for scale-out behind JetStream. Any number of workers share
 * the durable pull consumer and write to one PostgreSQL; each message is acknowledged once
 * everything derived from it is delivered. A worker also delivers the SQL intake log's
 * unowned entries (dead-letter redrives), as a single-node process does.
 */
import type { Server } from 'node:http';
import { Hono } from 'hono';
import { opsRoutes } from '../api/ops-routes.ts';
import type { SluiceConfig } from '../config/config.ts';
import { JetStreamIntake, type JetStreamOptions } from '../log/jetstream-intake.ts';
import { SqlIntakeLog, toLogEntry } from '../log/sql-intake-log.ts';
import type { Pipeline } from '../pipeline/pipeline.ts';
import type { StreamCounters } from '../pipeline/stream-counters.ts';
import { openDatabase } from '../store/open-database.ts';
import type { Database } from '../store/database.ts';
import { assemblePipeline } from './assemble.ts';
import { DEFAULT_MAX_PENDING_BYTES } from './limits.ts';
import type { Logger } from './logger.ts';
import { FIREHOSE_DEFAULT_BUFFER, listening, streamBuffer } from './sluice-node.ts';

/** Messages asked for at a time, at most (each is a request's entry). */
const FETCH_MESSAGES = 200;

/**
 * How many messages a worker asks for now: as many as fit, by the average entry's size, in the
 * process's room (`maxPending` less what it holds) and in the freest stream's; at least one
 * while there is any room, at most FETCH_MESSAGES. Fetching whatever the process had room for
 * overfilled a stream that was only busy: what it could not hold was parked (a round trip
 * through the database) and came back 200 entries a second. A stream that cannot deliver still
 * has its records parked while another stream has room.
 *
 * @example fetchSize({ pendingBytes: 0, streams: [{ freeBytes: 1_000_000 }] }, 16 << 20, 10_000) // 100
 */
export function fetchSize(pipeline: { pendingBytes: number; streams: Iterable<{ freeBytes: number }> }, maxPending: number, entryBytes: number): number {
  let streamFree = -Infinity;
  for (const s of pipeline.streams) streamFree = Math.max(streamFree, s.freeBytes);
  // Without streams nothing is held: only the process's room counts.
  const free = Math.min(maxPending - pipeline.pendingBytes, streamFree === -Infinity ? Infinity : streamFree);
  return free <= 0 ? 0 : Math.max(1, Math.min(FETCH_MESSAGES, Math.floor(free / entryBytes)));
}

export interface WorkerOptions {
  config: SluiceConfig;
  databaseUrl: string;
  jetstream: JetStreamOptions;
  log: Logger;
  leaseSeconds?: number;
  /** Serve GET /metrics, /healthz and /readyz on this port (0: any free port). */
  port?: number;
  host?: string;
}

export interface RunningWorker {
  /** Where /metrics, /healthz and /readyz are served, when a port was asked for. */
  url?: string;
  db: Database;
  pipeline: Pipeline;
  counters: StreamCounters;
  /** Stops taking messages, delivers those taken (and acknowledges them), and closes. */
  stop(): Promise<void>;
}

/**
 * @example const w = await startWorker({ config, databaseUrl, jetstream: { servers: 'nats://127.0.0.1:4222' }, log });
 */
export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const { config, log } = opts;
  // The port first, as sluice start takes it: one in use fails before anything has started.
  const http = opts.port === undefined ? null : await listening(opts.port, opts.host ?? '127.0.0.1');
  let db: Database;
  try {
    db = await openDatabase({ databaseUrl: opts.databaseUrl }, { exclusive: false, poolSize: 4 });
  } catch (e) {
    http?.server.close();
    throw e;
  }
  let js: JetStreamIntake | null = null;
  try {
    const sqlLog = new SqlIntakeLog(db, { leaseSeconds: opts.leaseSeconds ?? 30, exclusive: false });
    let consumer: ReturnType<JetStreamIntake['consume']> | null = null;
    // JetStream sequences are positive; SQL log entries are handed over with negated ids.
    const { pipeline, counters, activity } = await assemblePipeline(config, db, {
      mode: 'start',
      activity: true,
      dataDir: '.sluice',
      log,
      buffer: (name) => streamBuffer(config, name, { ...FIREHOSE_DEFAULT_BUFFER, max_records: 5_000, interval_seconds: 1 }),
      complete: (id) => (id > 0 ? consumer?.ack(id) : sqlLog.complete(-id)),
      park: (row) => sqlLog.park(row),
    });
    js = await JetStreamIntake.open(opts.jetstream);
    await sqlLog.start();
    activity?.start();
    const maxPending = config.ingest?.max_pending_bytes ?? DEFAULT_MAX_PENDING_BYTES;
    pipeline.gauges(counters);
    counters.gauge('sluice_intake_pending_bytes', 'Bytes taken by this worker and not yet delivered.', () => pipeline.pendingBytes);
    // The average size of an entry taken (bytes, a running mean), to size fetches.
    let entryBytes = 32 * 1024;
    consumer = js.consume(
      (entry) => {
        entryBytes += (entry.bytes - entryBytes) / 16;
        pipeline.accept(entry);
      },
      () => fetchSize({ pendingBytes: pipeline.pendingBytes, streams: pipeline.streams.values() }, maxPending, entryBytes),
      (seq, why) => {
        counters.count('sluice_intake_poison_messages_total', {});
        log.warn(`JetStream message ${seq} is not a Sluice intake entry (${why}); terminated, not redelivered`);
      },
    );
    let stopping = false;
    let recovering: Promise<void> = Promise.resolve();
    const recoverTimer = setInterval(() => {
      recovering = recovering
        .then(async () => {
          if (stopping) return;
          pipeline.setParked(await sqlLog.parkedBytes());
          if (pipeline.pendingBytes > maxPending / 2) return;
          for (const r of await sqlLog.claimOrphans(200, pipeline.streamsWithoutRoom())) pipeline.accept({ ...toLogEntry(r), id: -r.id });
        })
        .catch((e: Error) => log.warn(`recovery failed: ${e.name}`));
    }, 1000);
    const running = js;
    const server: Server | null = http?.server ?? null;
    if (http) {
      const app = new Hono();
      opsRoutes(app, {
        counters,
        stopping: () => stopping,
        ready: async () => ({ store: await db.query('select 1').then(() => true, () => false), log: running.connected() }),
      });
      http.serve(app.fetch);
    }
    const address = server?.address();
    const url = address && typeof address === 'object' ? `http://127.0.0.1:${address.port}` : undefined;
    log.info('sluice worker consuming', { stream: js.opts.stream, consumer: js.opts.consumer, ...(url ? { url } : {}) });
    let stopped: Promise<void> | null = null;
    return {
      url,
      db,
      pipeline,
      counters,
      stop: () =>
        (stopped ??= (async () => {
          stopping = true;
          clearInterval(recoverTimer);
          if (server) await new Promise<void>((r) => server!.close(() => r()));
          await consumer!.stop();
          await recovering;
          await pipeline.drain();
          await activity?.stop();
          await sqlLog.stop();
          await running.close();
          await db.close();
        })()),
    };
  } catch (e) {
    http?.server.close();
    await js?.close().catch(() => {});
    await db.close().catch(() => {});
    throw e;
  }
}
