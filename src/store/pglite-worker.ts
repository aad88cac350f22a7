/**
 * The thread that owns the embedded database: PGlite (PostgreSQL compiled to WebAssembly) and the
 * sockets that share it with other commands and BI tools. The engine runs synchronously while it
 * works; on its own thread a large write no longer holds up the HTTP server, and the process uses
 * a second core. `PgliteDriver` talks to it with the messages below.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { BatchStep } from './database.ts';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/** A request from the driver; `id` pairs it with its reply. */
export type WorkerRequest =
  | { id: number; op: 'query'; sql: string; params: unknown[]; tx?: number }
  | { id: number; op: 'exec'; sql: string; tx?: number }
  | { id: number; op: 'copy'; into: string; rows: string }
  | { id: number; op: 'batch'; steps: BatchStep[] }
  | { id: number; op: 'begin' }
  | { id: number; op: 'end'; tx: number; commit: boolean }
  | { id: number; op: 'serve'; path?: string; host?: string; port?: number }
  | { id: number; op: 'close' };

/** An error as it crosses threads: its message, name and the database's fields (code, column, …). */
export type WireError = Record<string, string | number> & { message: string; name: string };

export type WorkerReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireError };

const TEXT_OID = 25;
const JSON_OID = 114;

/**
 * Long text and json parameters go to PGlite as their UTF-8 bytes, in binary format (for text and
 * json the binary form is those bytes, which the engine still checks as UTF-8). As strings, PGlite
 * measures each one twice character by character in JavaScript; a batch's JSON or an intake log
 * entry is tens of kilobytes. PGlite's types say a serializer returns a string; its bind message
 * sends a Uint8Array as binary (test/store/pglite-driver.test.ts checks text both ways).
 */
const asBytes = (v: unknown): string | Uint8Array => (typeof v === 'string' && v.length > 256 ? Buffer.from(v) : String(v));
const binary = asBytes as (v: unknown) => string;
const OPTIONS = { serializers: { [TEXT_OID]: binary, [JSON_OID]: binary } };

function toWire(e: unknown): WireError {
  const out: WireError = { message: e instanceof Error ? e.message : String(e), name: e instanceof Error ? e.name : 'Error' };
  if (e && typeof e === 'object') {
    for (const [k, v] of Object.entries(e)) if (typeof v === 'string' || typeof v === 'number') out[k] = v;
  }
  return out;
}

/**
 * What a client's protocol message does to an extended-query sequence (pglite-socket passes
 * messages one at a time): Parse, Bind, Describe, Execute, Flush and Close leave it open, Sync,
 * a simple Query and Terminate end it. Until its Sync the client's unnamed statement and portal
 * live in PGlite's one session, and a query of Sluice's own would replace them.
 */
const OPENS = new Set([0x50, 0x42, 0x44, 0x45, 0x48, 0x43]);
const ENDS = new Set([0x53, 0x51, 0x58]);

/** How long Sluice's queries wait for a client to finish an extended-query sequence. */
const SEQUENCE_WAIT_MS = 2_000;

/**
 * One user of the session at a time: a socket client's message, or Sluice's own query or
 * transaction. Sluice's wait, besides, while a client is inside an extended-query sequence (see
 * `leavesSequenceOpen`), up to SEQUENCE_WAIT_MS.
 */
class Gate {
  private tail: Promise<unknown> = Promise.resolve();
  private open: { since: number; closed: Promise<void>; close: () => void } | null = null;

  private take<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => {});
    return run;
  }

  /** A client's message; `type` reads its type once it has run. */
  client<T>(type: () => number, fn: () => Promise<T>): Promise<T> {
    return this.take(async () => {
      try {
        return await fn();
      } finally {
        const t = type();
        if (OPENS.has(t) && !this.open) {
          let close!: () => void;
          const closed = new Promise<void>((r) => (close = r));
          this.open = { since: Date.now(), closed, close };
        } else if (ENDS.has(t)) this.endSequence();
      }
    });
  }

  endSequence(): void {
    this.open?.close();
    this.open = null;
  }

  /** Sluice's own work, once no client is inside a sequence (or it has had its time). */
  async own<T>(fn: () => Promise<T>): Promise<T> {
    for (;;) {
      const open = this.open;
      if (open) {
        const left = open.since + SEQUENCE_WAIT_MS - Date.now();
        if (left > 0) {
          await Promise.race([open.closed, new Promise((r) => setTimeout(r, left))]);
          continue;
        }
        this.endSequence();
      }
      // Checked again once the session is ours: a client's message may have taken it first.
      let blocked = false;
      const result = await this.take(async () => {
        if (this.open) {
          blocked = true;
          return undefined;
        }
        return fn();
      });
      if (!blocked) return result as T;
    }
  }
}

/** COPY FROM STDIN in text format: PGlite reads the data from the query's blob, named /dev/blob. */
async function copy(q: Pick<PGlite, 'query'>, into: string, rows: string): Promise<number> {
  return (await q.query(`copy ${into} from '/dev/blob'`, [], { blob: new Blob([rows]) })).affectedRows ?? 0;
}

/** Thrown inside PGlite's transaction to roll it back. */
const ROLLBACK = Symbol('rollback');

async function main(): Promise<void> {
  const port = parentPort!;
  const { dataDir } = workerData as { dataDir?: string };
  let pg: PGlite;
  try {
    pg = await PGlite.create(dataDir ? { dataDir } : {});
    await pg.exec("set timezone = 'UTC'");
  } catch (e) {
    port.postMessage({ id: 0, ok: false, error: toWire(e) } satisfies WorkerReply);
    return;
  }
  const servers: PGLiteSocketServer[] = [];
  const gate = new Gate();
  // What the socket servers see of PGlite: each client message passes the gate.
  let messageType = 0;
  const shared = {
    waitReady: pg.waitReady,
    isInTransaction: () => pg.isInTransaction(),
    exec: (sql: string) => pg.exec(sql),
    runExclusive: <T>(fn: () => Promise<T>): Promise<T> => gate.client(() => messageType, () => pg.runExclusive(fn)),
    execProtocolRawStream: (m: Uint8Array, opts: Parameters<PGlite['execProtocolRawStream']>[1]) => {
      messageType = m[0] ?? 0;
      return pg.execProtocolRawStream(m, opts);
    },
  };
  const txs = new Map<number, { tx: Transaction; finish: (commit: boolean) => void; done: Promise<void> }>();
  let nextTx = 1;
  /** A transaction still open, by its id. */
  const openTx = (id: number) => {
    const t = txs.get(id);
    if (!t) throw new Error('the transaction has ended');
    return t;
  };

  const run = async (m: WorkerRequest): Promise<unknown> => {
    switch (m.op) {
      case 'query': {
        if (m.tx === undefined) return gate.own(async () => (await pg.query(m.sql, m.params, OPTIONS)).rows);
        return (await openTx(m.tx).tx.query(m.sql, m.params, OPTIONS)).rows;
      }
      case 'copy':
        return gate.own(() => copy(pg, m.into, m.rows));
      case 'batch':
        return gate.own(() =>
          pg.transaction(async (tx) => {
            const out: unknown[] = [];
            for (const step of m.steps) out.push('copy' in step ? await copy(tx, step.copy, step.rows) : (await tx.query(step.sql, step.params ?? [], OPTIONS)).rows);
            return out;
          }),
        );
      case 'exec': {
        if (m.tx === undefined) return gate.own(async () => (await pg.exec(m.sql), null));
        await openTx(m.tx).tx.exec(m.sql);
        return null;
      }
      case 'begin': {
        const id = nextTx++;
        let began!: () => void;
        const started = new Promise<void>((r) => (began = r));
        let finish!: (commit: boolean) => void;
        const decided = new Promise<boolean>((r) => (finish = r));
        // The gate stays taken until the transaction ends.
        const done: Promise<void> = gate
          .own(() =>
            pg.transaction(async (tx) => {
              txs.set(id, { tx, finish, done });
              began();
              if (!(await decided)) throw ROLLBACK;
            }),
          )
          .catch((e: unknown) => {
            if (e !== ROLLBACK) throw e;
          })
          .finally(() => txs.delete(id));
        // BEGIN itself failing ends `done` before `started`.
        await Promise.race([started, done]);
        if (!txs.has(id)) {
          await done;
          throw new Error('the transaction could not begin');
        }
        return id;
      }
      case 'end': {
        const t = openTx(m.tx);
        t.finish(m.commit);
        await t.done;
        return null;
      }
      case 'serve': {
        const db = shared as unknown as PGlite;
        const server = new PGLiteSocketServer(m.path ? { db, path: m.path, maxConnections: 8 } : { db, host: m.host, port: m.port, maxConnections: 8 });
        await server.start();
        servers.push(server);
        return null;
      }
      case 'close': {
        for (const s of servers.splice(0)) await s.stop();
        if (!pg.closed) await pg.close();
        return null;
      }
    }
  };

  port.on('message', (m: WorkerRequest) => {
    run(m).then(
      (value) => port.postMessage({ id: m.id, ok: true, value } satisfies WorkerReply),
      (e: unknown) => port.postMessage({ id: m.id, ok: false, error: toWire(e) } satisfies WorkerReply),
    );
  });
  port.postMessage({ id: 0, ok: true, value: null } satisfies WorkerReply);
}

void main();
