/**
 * One Sluice process on Node: the HTTP API, the intake log, the pipeline and its streams, and
 * upkeep (claiming orphaned log entries, retention). `sluice dev` and `sluice start` run it, and
 * so do the tests.
 */
import { rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import { createApp } from '../api/app.ts';
import { KeyStore } from '../auth/api-keys.ts';
import type { SluiceConfig } from '../config/config.ts';
import { SqlIntakeLog, toLogEntry } from '../log/sql-intake-log.ts';
import { JetStreamIntake, type JetStreamOptions } from '../log/jetstream-intake.ts';
import { Intake } from '../pipeline/intake.ts';
import type { Pipeline } from '../pipeline/pipeline.ts';
import { RateLimiter } from '../pipeline/rate-limiter.ts';
import { StreamCounters } from '../pipeline/stream-counters.ts';
import type { BufferLimits } from '../pipeline/stream.ts';
import { Eraser, pseudonymKeySources, erasureTargets } from '../privacy/erasure.ts';
import { flushWarnings } from '../privacy/vendor-erasure.ts';
import { MetricsStore } from '../destinations/metrics/metrics-store.ts';
import type { Database } from '../store/database.ts';
import { DEFAULT_DATA_DIR, openDatabase, socketPath } from '../store/open-database.ts';
import { PgliteDriver } from '../store/pglite-driver.ts';
import { assemblePipeline } from './assemble.ts';
import { DEFAULT_MAX_LAG_MESSAGES, DEFAULT_MAX_PARKED_BYTES, DEFAULT_MAX_PENDING_BYTES, DEFAULT_RATE } from './limits.ts';
import type { Logger } from './logger.ts';
import { DeadLetters } from '../pipeline/dead-letters.ts';
import { Dashboards } from '../dashboards/dashboards.ts';
import { EmbedKeys } from '../embed/embed-tokens.ts';
import { WebAssets } from '../web/assets.ts';

export interface SluiceOptions {
  mode: 'dev' | 'start';
  config: SluiceConfig;
  port: number;
  host?: string;
  dataDir?: string;
  databaseUrl?: string;
  log: Logger;
  /** How long a silent process keeps its log entries before others claim them. Default 30. */
  leaseSeconds?: number;
  /** How often erasure requests to vendors that are due are sent (retries). Default 15. */
  vendorRetrySeconds?: number;
  /** How often a vendor is asked what became of a deletion it took and has not finished. Default 3600. */
  vendorStatusSeconds?: number;
  /** Also serve the embedded database on this TCP port of 127.0.0.1 (PostgreSQL wire protocol), for psql and BI tools. */
  pgPort?: number;
  /** Writes of the stdout destination (tests capture them). */
  stdout?: (line: string) => void;
  /**
   * Append accepted events to NATS JetStream instead of delivering them here: this process is an
   * API node and `sluice worker` processes deliver (docs/operations.md, Scale-out).
   */
  jetstream?: JetStreamOptions & { maxLagMessages?: number };
}

export interface RunningSluice {
  url: string;
  port: number;
  /** The TCP port serving the embedded database, when asked for. */
  pgPort?: number;
  db: Database;
  keys: KeyStore;
  pipeline: Pipeline;
  intakeLog: SqlIntakeLog;
  counters: StreamCounters;
  /** Stops taking requests, delivers what was accepted, and closes. */
  stop(): Promise<void>;
}

/** Firehose's default buffering hints (5 MiB or 300 s), with a record cap that bounds a batch. */
export const FIREHOSE_DEFAULT_BUFFER: BufferLimits = { max_records: 10_000, max_bytes: 5 * 1024 * 1024, interval_seconds: 300 };
/** `dev` delivers within about a second. */
export const DEV_MAX_INTERVAL_SECONDS = 1;

/**
 * A stream's buffer limits: the config's over `defaults`, and its own pending limit, by default
 * half the process's (so one stuck destination leaves room for the others) but at least one
 * batch; one set below `max_bytes` makes batches that small.
 */
export function streamBuffer(config: SluiceConfig, name: string, defaults: BufferLimits): Required<BufferLimits> {
  const b = { ...defaults, ...config.streams?.[name]?.buffer };
  const processLimit = config.ingest?.max_pending_bytes ?? DEFAULT_MAX_PENDING_BYTES;
  // A batch fits in the stream's memory: an explicit pending limit below max_bytes lowers it.
  const pending = b.max_pending_bytes ?? Math.max(b.max_bytes, Math.floor(processLimit / 2));
  return { ...b, max_bytes: Math.min(b.max_bytes, pending), max_pending_bytes: pending, max_parked_bytes: b.max_parked_bytes ?? DEFAULT_MAX_PARKED_BYTES };
}


type Fetch = (request: Request, env: unknown) => Response | Promise<Response>;

/** Why `what` (a port, named as the user gave it) could not be listened on; `inUse` says what to do when it is taken. */
function cannotListen(what: string, e: NodeJS.ErrnoException, inUse: string): Error {
  const reason = e.code === 'EADDRINUSE' ? `is in use${inUse}` : e.code === 'EACCES' ? 'may not be used by this user' : `cannot be listened on (${e.code ?? e.message})`;
  return new Error(`${what} ${reason}`);
}

/**
 * The HTTP server, listening; it answers 503 until `serve` gives it the app. Bound before the
 * store is opened, so a port in use fails at once and names the port.
 */
export async function listening(port: number, host: string): Promise<{ server: Server; serve: (fetch: Fetch) => void }> {
  let app: Fetch | null = null;
  const starting = (): Response => Response.json({ error: { code: 'starting', message: 'Sluice is starting; retry shortly' } }, { status: 503, headers: { 'Retry-After': '1' } });
  const server = createAdaptorServer({ fetch: (request: Request, env: unknown) => (app ? app(request, env) : starting()), hostname: host }) as Server;
  await new Promise<void>((ready, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => fail(cannotListen(`port ${port} on ${host}`, e, ' (another Sluice, or another program): stop it or give --port')));
    server.listen(port, host, () => ready());
  });
  return { server, serve: (fetch) => (app = fetch) };
}

export async function startSluice(opts: SluiceOptions): Promise<RunningSluice> {
  const dataDir = resolve(opts.dataDir ?? DEFAULT_DATA_DIR);
  const http = await listening(opts.port, opts.host ?? '127.0.0.1');
  let db: Database;
  try {
    db = await openDatabase({ databaseUrl: opts.databaseUrl, dataDir }, { exclusive: true, poolSize: 6 });
  } catch (e) {
    http.server.close();
    throw e;
  }
  try {
    return await run(opts, dataDir, db, http);
  } catch (e) {
    http.server.close();
    await db.close().catch(() => {});
    throw e;
  }
}

async function run(opts: SluiceOptions, dataDir: string, db: Database, { server, serve }: Awaited<ReturnType<typeof listening>>): Promise<RunningSluice> {
  const { config, log, mode } = opts;
  // The embedded database's sockets first: a --pg-port in use fails before anything has started.
  let pgPortServed = false;
  if (db instanceof PgliteDriver) {
    db.onWarning = (message) => log.warn(message);
    const path = socketPath(dataDir);
    rmSync(path, { force: true });
    await db.serve({ path });
    if (opts.pgPort !== undefined) {
      try {
        await db.serve({ host: '127.0.0.1', port: opts.pgPort });
      } catch (e) {
        // The database thread's errors keep their code (EADDRINUSE, EACCES).
        throw cannotListen(`--pg-port ${opts.pgPort} on 127.0.0.1`, e as NodeJS.ErrnoException, ': stop what uses it or give another port');
      }
      pgPortServed = true;
    }
  } else if (opts.pgPort !== undefined) {
    log.warn('--pg-port serves the embedded database only; with DATABASE_URL connect BI tools to that server');
  }
  const keys = new KeyStore(db);
  const intakeLog = new SqlIntakeLog(db, { leaseSeconds: opts.leaseSeconds ?? 30, exclusive: db.kind === 'pglite' });
  const { pipeline, destinations, counters, activity, queries, metricsConfig, keyRing } = await assemblePipeline(config, db, {
    mode,
    activity: true,
    dataDir,
    log,
    stdout: opts.stdout,
    buffer: (name) => {
      const b = streamBuffer(config, name, FIREHOSE_DEFAULT_BUFFER);
      if (mode === 'dev') b.interval_seconds = Math.min(b.interval_seconds, DEV_MAX_INTERVAL_SECONDS);
      return b;
    },
    complete: (id) => intakeLog.complete(id),
    park: (row) => intakeLog.park(row),
  });
  await intakeLog.start();
  activity?.start();
  const rate = { ...DEFAULT_RATE, ...config.ingest?.rate_limit };
  const maxPending = config.ingest?.max_pending_bytes ?? DEFAULT_MAX_PENDING_BYTES;
  // With JetStream, this process only appends; workers deliver. Intake refuses (503) while their
  // lag is past the limit, so JetStream does not fill while producers are told all is well.
  const js = opts.jetstream ? await JetStreamIntake.open({ ...opts.jetstream, role: 'api' }) : null;
  let lagging = false;
  const lagTimer = js
    ? setInterval(() => {
        js.lag().then(
          (l) => {
            // Taken by a worker is not delivered: a worker holds up to its own memory limit.
            lagMessages = l.pending + l.unacknowledged;
            lagging = lagMessages > (opts.jetstream?.maxLagMessages ?? DEFAULT_MAX_LAG_MESSAGES);
          },
          () => {},
        );
      }, 500)
    : null;
  lagTimer?.unref();
  let lagMessages = 0;
  const intake = new Intake(js ?? intakeLog, pipeline, new RateLimiter(rate, config.ingest?.tenants), maxPending, js ? { local: false, lagging: () => lagging, counters } : { counters });
  counters.gauge('sluice_intake_pending_bytes', 'Bytes accepted by this process and not yet delivered.', () => pipeline.pendingBytes);
  pipeline.gauges(counters);
  if (js) counters.gauge('sluice_intake_lag_messages', 'JetStream messages not yet acknowledged by a worker (waiting or being delivered).', () => lagMessages);
  let stopping = false;
  const eraser = new Eraser(db, erasureTargets(config, pseudonymKeySources(config).map(keyRing)), new MetricsStore(db, { rollupDimensions: metricsConfig?.rollup_dimensions }), (pairs) => queries.invalidate(pairs));
  const app = createApp({ config, keys, intake, queries, counters, eraser, log,
    deadLetters: new DeadLetters(db),
    dashboards: new Dashboards(db),
    embed: await EmbedKeys.open(db, config.embed),
    activity,
    web: new WebAssets(),
    intakeStatus: async () => {
      const log = await intakeLog.status();
      return { pending_bytes: pipeline.pendingBytes, lag_messages: js ? lagMessages : null, log_entries: log.entries, oldest_seconds: log.oldest_seconds };
    },
    ready: async () => {
      const store = await db.query('select 1').then(
        () => true,
        () => false,
      );
      return { store, log: js ? js.connected() : store };
    },
    stopping: () => stopping });

  // Entries of a process that died (or of this data dir's last run), and records a full stream
  // parked, are claimed and delivered, 200 at a time while there is room. A recovery is logged
  // when it starts and when nothing is left to claim, not at every round.
  const recovery = { entries: 0, since: 0 };
  const entries = (n: number): string => `${n} intake log entr${n === 1 ? 'y' : 'ies'}`;
  const recover = async (): Promise<void> => {
    // An API node in front of JetStream delivers nothing: workers claim what the SQL log holds (redrives).
    if (!js) pipeline.setParked(await intakeLog.parkedBytes());
    while (!stopping && !js && pipeline.pendingBytes < maxPending / 2) {
      const rows = await intakeLog.claimOrphans(200, pipeline.streamsWithoutRoom());
      if (rows.length === 0) {
        if (recovery.entries > 0) log.info(`recovery done: claimed ${entries(recovery.entries)} in ${((Date.now() - recovery.since) / 1000).toFixed(1)} s`);
        recovery.entries = 0;
        return;
      }
      if (recovery.entries === 0) {
        recovery.since = Date.now();
        log.info(`recovering intake log entries not yet delivered (a stopped process's, or records parked by a full stream): ${entries(rows.length)} claimed first`);
      }
      recovery.entries += rows.length;
      for (const r of rows) pipeline.accept(toLogEntry(r));
    }
  };
  await recover();
  let recovering: Promise<void> = Promise.resolve();
  const recoverTimer = setInterval(() => {
    recovering = recovering.then(recover).catch((e: Error) => log.warn(`recovery failed: ${e.name}`));
  }, 1000);
  const maintain = async (): Promise<void> => {
    for (const d of destinations) await d.maintain?.().catch((e: Error) => log.warn(`retention failed: ${e.name}`));
    await activity?.prune().catch((e: Error) => log.warn(`activity retention failed: ${e.name}`));
  };
  await maintain();
  const maintainTimer = setInterval(() => void maintain(), 3_600_000);
  maintainTimer.unref();
  // A drained intake log is truncated, so raw events do not linger in its files.
  let compacting: Promise<unknown> = Promise.resolve();
  const compactTimer = setInterval(() => {
    compacting = compacting.then(() => intakeLog.compact());
  }, 60_000);
  compactTimer.unref();
  // Erasure requests a vendor has not taken yet (down, rate-limited) are retried when due; also
  // with no vendor destination in this config, since requests queued under an earlier one wait.
  let vendorBacklog = { pending: 0, failed: 0, not_deleted: 0 };
  let flushingVendors: Promise<unknown> = Promise.resolve();
  let trackingVendors: Promise<unknown> = Promise.resolve();
  const flushVendors = async (): Promise<void> => {
    for (const w of flushWarnings(await eraser.vendors.flush())) log.warn(w);
    // What became of the deletions the vendors took: a run of its own (Mixpanel's calls are a
    // second apart), so a long one holds up neither this timer's flushes nor an erasure's.
    trackingVendors = eraser.vendors.track((opts.vendorStatusSeconds ?? 3600) * 1000).catch((e: Error) => log.warn(`vendor erasure status: ${e.name}`));
    const before = vendorBacklog.not_deleted;
    vendorBacklog = await eraser.vendors.backlog();
    if (vendorBacklog.not_deleted > before) log.warn(`vendor erasure requests the vendor says it did not delete: ${vendorBacklog.not_deleted} (GET /v1/admin/erasures/vendor-requests?state=sent shows their vendor_status)`);
  };
  const vendorTimer = setInterval(() => {
    flushingVendors = flushingVendors.then(flushVendors).catch((e: Error) => log.warn(`vendor erasure requests: ${e.name}`));
  }, (opts.vendorRetrySeconds ?? 15) * 1000);
  vendorTimer.unref();
  counters.gauge('sluice_vendor_erasure_requests', 'Erasure requests to vendors not done: pending (retried), failed (refused), not_deleted (taken, and the vendor says it did not delete).', () => [
    [{ state: 'pending' }, vendorBacklog.pending],
    [{ state: 'failed' }, vendorBacklog.failed],
    [{ state: 'not_deleted' }, vendorBacklog.not_deleted],
  ]);

  serve(app.fetch);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;

  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      stopping = true;
      clearInterval(recoverTimer);
      clearInterval(compactTimer);
      clearInterval(maintainTimer);
      clearInterval(vendorTimer);
      if (lagTimer) clearInterval(lagTimer);
      await new Promise<void>((r) => server.close(() => r()));
      await js?.close();
      await recovering;
      await compacting;
      await flushingVendors;
      await eraser.vendors.stop();
      await trackingVendors;
      await pipeline.drain();
      await activity?.stop();
      await intakeLog.stop();
      // The embedded database stops its sockets as it closes.
      await db.close();
    })());

  return { url: `http://127.0.0.1:${port}`, port, pgPort: pgPortServed ? opts.pgPort : undefined, db, keys, pipeline, intakeLog, counters, stop };
}
