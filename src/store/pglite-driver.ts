/**
 * The embedded driver: PGlite (PostgreSQL compiled to WebAssembly) with its data in a folder, run
 * on a thread of its own (pglite-worker.ts). PGlite has one session, so transactions are
 * serialised by PGlite itself and settings must stay transaction-local (`set local`,
 * `set_config(…, true)`).
 */
import { Worker } from 'node:worker_threads';
import type { BatchStep, Database, Param, Queryable, Row } from './database.ts';
import type { WireError, WorkerNotice, WorkerReply, WorkerRequest } from './pglite-worker.ts';

type Request = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** An error from the database thread, with the database's fields (`code`, `column`, …) as own properties. */
function fromWire(w: WireError): Error {
  const e = new Error(w.message);
  Object.assign(e, w);
  return e;
}

const FROM_SOURCES = import.meta.url.endsWith('.ts');
const WORKER = new URL(FROM_SOURCES ? './pglite-worker.ts' : './pglite-worker.js', import.meta.url);

/**
 * The database thread. Run from the TypeScript sources (`bin/sluice.js`, the tests), the thread
 * registers tsx itself first: a worker does not inherit the loader hooks of its parent.
 */
function startWorker(dataDir: string | undefined, opts: PgliteOptions): Worker {
  if (!FROM_SOURCES) return new Worker(WORKER, { workerData: { dataDir, ...opts } });
  const boot = `const { workerData } = require('node:worker_threads');
import(workerData.tsx).then((m) => { m.register(); return import(workerData.entry); });`;
  return new Worker(boot, { eval: true, workerData: { dataDir, ...opts, tsx: import.meta.resolve('tsx/esm/api'), entry: WORKER.href } });
}

export interface PgliteOptions {
  /** After how long a socket client's open transaction that holds up Sluice's own work is reported (onWarning). Default 10,000. */
  transactionWarnMs?: number;
}

export class PgliteDriver implements Database {
  readonly kind = 'pglite';
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private failure: Error | null = null;
  private closing: Promise<void> | null = null;
  /** Where the database thread's warnings go (a client holding Sluice's work up); the running Sluice logs them. */
  onWarning: (message: string) => void = (message) => process.stderr.write(`warn: ${message}\n`);

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: WorkerReply | WorkerNotice) => {
      if ('warn' in m) {
        this.onWarning(m.warn);
        return;
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (m.ok) p.resolve(m.value);
      else p.reject(fromWire(m.error));
    });
    const fail = (e: Error): void => {
      this.failure ??= e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the embedded database's thread exited (code ${code})`)));
    worker.unref();
  }

  /**
   * Opens (or creates) a database in `dataDir`; `undefined` keeps it in memory.
   *
   * @example const db = await PgliteDriver.open('.sluice/pgdata');
   */
  static async open(dataDir: string | undefined, opts: PgliteOptions = {}): Promise<PgliteDriver> {
    const worker = startWorker(dataDir, opts);
    const ready = await new Promise<WorkerReply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (!ready.ok) {
      await worker.terminate();
      throw fromWire(ready.error);
    }
    return new PgliteDriver(worker);
  }

  private call(req: Request): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id });
    });
  }

  async query<R extends Row = Row>(sql: string, params: Param[] = []): Promise<R[]> {
    return (await this.call({ op: 'query', sql, params })) as R[];
  }

  async copy(into: string, rows: string): Promise<number> {
    return (await this.call({ op: 'copy', into, rows })) as number;
  }

  async batch(steps: BatchStep[]): Promise<Array<Row[] | number>> {
    return (await this.call({ op: 'batch', steps })) as Array<Row[] | number>;
  }

  async exec(sql: string): Promise<void> {
    await this.call({ op: 'exec', sql });
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const tx = (await this.call({ op: 'begin' })) as number;
    let result: T;
    try {
      result = await fn({ query: async <R extends Row = Row>(sql: string, params: Param[] = []) => (await this.call({ op: 'query', sql, params, tx })) as R[] });
    } catch (e) {
      await this.call({ op: 'end', tx, commit: false }).catch(() => {});
      throw e;
    }
    await this.call({ op: 'end', tx, commit: true });
    return result;
  }

  /** Serves the database to other processes over PostgreSQL's protocol: a Unix socket (`path`) or TCP. */
  async serve(where: { path: string } | { host: string; port: number }): Promise<void> {
    await this.call({ op: 'serve', ...where });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.failure) await this.call({ op: 'close' }).catch(() => {});
      await this.worker.terminate();
    })();
    return this.closing;
  }
}
