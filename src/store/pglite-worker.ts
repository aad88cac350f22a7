/**
 * The thread that owns the embedded database: PGlite (PostgreSQL compiled to WebAssembly) and the
 * sockets that share it with other commands and BI tools. The engine runs synchronously while it
 * works; on its own thread a large write no longer holds up the HTTP server, and the process uses
 * a second core. `PgliteDriver` talks to it with the messages below.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { BatchStep } from './database.ts';
import type { PgliteOptions } from './pglite-driver.ts';
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

/** A warning from the database thread, for the process's log. */
export type WorkerNotice = { warn: string };

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

/** After this long, a client's open transaction holding up Sluice's own work is reported (PgliteOptions.transactionWarnMs). */
const TRANSACTION_WARN_MS = 10_000;

/**
 * One user of the session at a time: a socket client's message, or Sluice's own query or
 * transaction. Sluice's own work waits, besides, while a client is inside an extended-query
 * sequence (up to SEQUENCE_WAIT_MS) and for as long as a client's transaction is open: PGlite has
 * one session, so a statement of Sluice's would run inside the client's transaction (undone by
 * its ROLLBACK, acknowledged events included) and Sluice's COMMIT would end the client's
 * transaction halfway. A client that leaves is rolled back by pglite-socket (`transactionEnded`).
 * Settings are the session's too: after a client, Sluice's work first puts its own back.
 */
class Gate {
  private tail: Promise<unknown> = Promise.resolve();
  private open: { since: number; closed: Promise<void>; close: () => void; tx: boolean; warned?: boolean } | null = null;

  /** A client ran something since Sluice's own work last did: the session's settings may be the client's. */
  private touched = false;

  constructor(
    private readonly inTransaction: () => boolean,
    private readonly warn: (message: string) => void,
    /** Puts the session's settings back to Sluice's (a client's SET outlives its connection in the one session). */
    private readonly resetSession: () => Promise<void>,
    private readonly warnAfterMs = TRANSACTION_WARN_MS,
  ) {}

  private take<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => {});
    return run;
  }

  /** A client's message; `type` reads its type once it has run. */
  client<T>(type: () => number, fn: () => Promise<T>): Promise<T> {
    return this.take(async () => {
      this.touched = true;
      try {
        return await fn();
      } finally {
        const t = type();
        const tx = this.inTransaction();
        if (tx || OPENS.has(t)) {
          if (!this.open) {
            let close!: () => void;
            const closed = new Promise<void>((r) => (close = r));
            this.open = { since: Date.now(), closed, close, tx };
          }
          this.open.tx = tx;
        } else if (ENDS.has(t)) this.endSequence();
      }
    });
  }

  endSequence(): void {
    this.open?.close();
    this.open = null;
  }

  /** pglite-socket rolled back the transaction of a client that left (or ran something outside the gate). */
  transactionEnded(): void {
    if (this.open?.tx && !this.inTransaction()) this.endSequence();
  }

  /** Sluice's own work, once no client is inside a sequence (or it has had its time) or a transaction. */
  async own<T>(fn: () => Promise<T>): Promise<T> {
    for (;;) {
      const open = this.open;
      if (open?.tx) {
        const held = Date.now() - open.since;
        const warnIn = this.warnAfterMs - held;
        if (warnIn > 0) {
          await Promise.race([open.closed, new Promise((r) => setTimeout(r, warnIn))]);
          if (this.open === open && open.tx && !open.warned) {
            open.warned = true; // once per transaction, however much work waits on it
            this.warn(`a client of the embedded database has held a transaction open for ${Math.round((Date.now() - open.since) / 1000)} s; Sluice's own reads and writes wait until it commits or rolls back (the embedded database has one session)`);
          }
        } else await open.closed;
        continue;
      }
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
        if (this.touched) {
          await this.resetSession();
          this.touched = false;
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

/** A COPY's data held in memory at most (COPY through the socket is loaded at its end). */
const COPY_IN_MAX_BYTES = 256 * 1024 * 1024;
/** A COPY whose client sent nothing for this long is taken as abandoned by a new one. */
const COPY_IN_IDLE_MS = 30_000;

/** A simple Query message (`Q`) for `sql`. */
function queryMessage(sql: string): Uint8Array {
  const text = Buffer.from(sql);
  const m = Buffer.alloc(6 + text.length);
  m[0] = 0x51;
  m.writeInt32BE(5 + text.length, 1);
  text.copy(m, 5);
  return m;
}

/** A statement that fails with SQLSTATE `code` and `message`, as PostgreSQL's own errors do (and a transaction it is in is aborted). */
const failingStatement = (code: string, message: string): string =>
  `do $sluice$ begin raise exception using errcode = '${code}', message = $m$${message.replace(/\$/g, '')}$m$; end $sluice$`;

const COPY_FROM_STDIN = /^\s*copy\s+([\s\S]+?)\s+from\s+stdin\b([\s\S]*?);?\s*$/i;

/**
 * COPY FROM STDIN for socket clients (node-postgres' COPY in `sluice backfill` beside a running
 * Sluice, psql's \copy over `--pg-port`). PGlite cannot read a COPY's data from the protocol
 * stream, which pglite-socket hands it one message at a time: given the Query, the engine fails
 * with "unexpected EOF" and its session is left unusable. So the Query is answered here with
 * CopyInResponse, the CopyData is held, and at CopyDone the same COPY runs from PGlite's
 * `/dev/blob`, its answer (CommandComplete or the error, then ReadyForQuery) going back to the
 * client as it comes. A CopyFail, or data past COPY_IN_MAX_BYTES, fails the COPY with an error
 * of PostgreSQL's kind. One COPY at a time: another client's COPY meanwhile gets an error.
 */
class CopyIn {
  private active: { target: string; options: string; chunks: Array<Uint8Array<ArrayBuffer>>; bytes: number; last: number } | null = null;

  constructor(private readonly pg: PGlite) {}

  /** Handles `m` if it belongs to a COPY FROM STDIN; false when PGlite should run it. */
  async handle(m: Uint8Array, reply: (data: Uint8Array) => void): Promise<boolean> {
    const type = m[0];
    if (type === 0x51) {
      const sql = Buffer.from(m.buffer, m.byteOffset + 5, m.byteLength - 6).toString('utf8');
      const copy = COPY_FROM_STDIN.exec(sql);
      if (!copy) return false;
      if (this.active && Date.now() - this.active.last < COPY_IN_IDLE_MS) {
        await this.run(failingStatement('55006', 'another COPY FROM STDIN is in progress on the embedded database; retry when it has ended'), reply);
        return true;
      }
      this.active = { target: copy[1], options: copy[2], chunks: [], bytes: 0, last: Date.now() };
      const binary = /\bbinary\b/i.test(copy[2]);
      // CopyInResponse: overall format, and no per-column formats (clients do not need them).
      reply(Uint8Array.from([0x47, 0, 0, 0, 7, binary ? 1 : 0, 0, 0]));
      return true;
    }
    const active = this.active;
    if (!active || (type !== 0x64 && type !== 0x63 && type !== 0x66 && type !== 0x48 && type !== 0x53)) return false;
    if (type === 0x48 || type === 0x53) return true; // Flush and Sync mean nothing during COPY IN
    active.last = Date.now();
    if (type === 0x64) {
      active.bytes += m.byteLength - 5;
      if (active.bytes <= COPY_IN_MAX_BYTES) active.chunks.push(new Uint8Array(m.subarray(5)));
      return true;
    }
    this.active = null;
    if (type === 0x66) {
      const why = Buffer.from(m.buffer, m.byteOffset + 5, Math.max(0, m.byteLength - 6)).toString('utf8');
      await this.run(failingStatement('57014', `COPY from stdin failed: ${why}`), reply);
    } else if (active.bytes > COPY_IN_MAX_BYTES) {
      await this.run(failingStatement('54000', `a COPY through the embedded database's socket is held in memory: at most ${COPY_IN_MAX_BYTES} bytes; split it`), reply);
    } else {
      await this.pg._handleBlob(new Blob(active.chunks));
      try {
        await this.run(`copy ${active.target} from '/dev/blob'${active.options}`, reply);
      } finally {
        await this.pg._cleanupBlob();
      }
    }
    return true;
  }

  private run(sql: string, reply: (data: Uint8Array) => void): Promise<void> {
    return this.pg.execProtocolRawStream(queryMessage(sql), { onRawData: reply });
  }
}

/** The session's settings for Sluice's own work: the defaults, in UTC. */
const SESSION_SETTINGS = "reset all; set timezone = 'UTC'";

/** Thrown inside PGlite's transaction to roll it back. */
const ROLLBACK = Symbol('rollback');

async function main(): Promise<void> {
  const port = parentPort!;
  const { dataDir, transactionWarnMs } = workerData as { dataDir?: string } & PgliteOptions;
  let pg: PGlite;
  try {
    pg = await PGlite.create(dataDir ? { dataDir } : {});
    await pg.exec(SESSION_SETTINGS);
  } catch (e) {
    port.postMessage({ id: 0, ok: false, error: toWire(e) } satisfies WorkerReply);
    return;
  }
  const servers: PGLiteSocketServer[] = [];
  const gate = new Gate(
    () => pg.isInTransaction(),
    (message) => port.postMessage({ warn: message } satisfies WorkerNotice),
    // A BI tool's or psql's SET (time zone, statement_timeout, read-only transactions…) is not Sluice's.
    async () => void (await pg.exec(SESSION_SETTINGS)),
    transactionWarnMs,
  );
  const copyIn = new CopyIn(pg);
  // What the socket servers see of PGlite: each client message passes the gate.
  let messageType = 0;
  const shared = {
    waitReady: pg.waitReady,
    isInTransaction: () => pg.isInTransaction(),
    // pglite-socket's ROLLBACK for a client that left inside its transaction.
    exec: async (sql: string) => {
      try {
        return await pg.exec(sql);
      } finally {
        gate.transactionEnded();
      }
    },
    runExclusive: <T>(fn: () => Promise<T>): Promise<T> => gate.client(() => messageType, () => pg.runExclusive(fn)),
    execProtocolRawStream: async (m: Uint8Array, opts: Parameters<PGlite['execProtocolRawStream']>[1]) => {
      messageType = m[0] ?? 0;
      if (!(await copyIn.handle(m, opts.onRawData))) await pg.execProtocolRawStream(m, opts);
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
