/**
 * The server driver: a pool of connections to PostgreSQL (15 or later) through node-postgres
 * (`pg`), with COPY FROM STDIN through `pg-copy-streams`. Timestamps are returned as text and
 * numbers as JavaScript numbers by casting in SQL, so both drivers return the same values.
 *
 * Why node-postgres: batches are loaded with COPY, and a COPY the server refuses (a key already
 * stored, a value too long) must fail with the server's error and leave the connection usable.
 * postgres.js, used before, never settles its COPY stream when the error arrives after the data
 * is sent, which leaves the transaction open and the connection lost (porsager/postgres#1173),
 * and holds the end of a COPY behind Nagle's algorithm (it does not set TCP_NODELAY).
 */
import { basename, dirname } from 'node:path';
import pg from 'pg';
import copyFrom from 'pg-copy-streams/copy-from.js';
import type { BatchStep, Database, Param, Queryable, Row } from './database.ts';

export interface PostgresOptions {
  /** A connection URL (`postgres://user@host:5432/db`) or a Unix socket path (`path`, ending `.s.PGSQL.<port>`). */
  url?: string;
  path?: string;
  /** Pool size. */
  max?: number;
}

/**
 * Distinct statements a driver prepares on the server. A statement with parameters that is not
 * prepared costs a parse and plan each time; a prepared one is a single Bind and Execute.
 * Sluice's hot statements are a few fixed shapes (the intake log's INSERTs by entry count, a
 * destination's write, the deletes); the query API builds statements from what a query asks, so
 * past this many the rest run unprepared and neither side's statement cache grows without bound.
 */
export const PREPARED_STATEMENTS = 256;

/** Runs `COPY <into> FROM STDIN` (text format) on one connection with `rows` as its data; resolves with the rows loaded. */
function copyOn(client: pg.PoolClient, into: string, rows: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = client.query(copyFrom(`copy ${into} from stdin`));
    stream.on('error', reject);
    stream.on('finish', () => resolve(stream.rowCount));
    stream.end(rows);
  });
}

export class PostgresDriver implements Database {
  readonly kind = 'postgres';
  private readonly pool: pg.Pool;
  /** Names of the statements prepared (on each connection that ran them), up to PREPARED_STATEMENTS. */
  private readonly prepared = new Map<string, string>();
  private readonly prepares: boolean;

  /** @example const db = new PostgresDriver({ url: 'postgres://postgres@127.0.0.1:5432/test' }); */
  constructor(opts: PostgresOptions) {
    const common = { max: opts.max ?? 4, application_name: 'sluice' };
    // Through a running Sluice's socket (`path`) every client shares PGlite's one session, where
    // a named statement would outlive the command that made it, and its time zone is already UTC.
    this.pool = opts.path
      ? new pg.Pool({ ...common, host: dirname(opts.path), port: Number(basename(opts.path).replace(/^\.s\.PGSQL\./, '')), database: 'postgres', user: 'postgres' })
      : new pg.Pool({ ...common, connectionString: opts.url ?? '', options: '-c TimeZone=UTC' });
    this.prepares = !opts.path;
    // A connection that fails while idle (the server restarted) leaves the pool; the next query
    // opens another. Without a listener the error would end the process.
    this.pool.on('error', () => {});
  }

  query<R extends Row = Row>(sql: string, params: Param[] = []): Promise<R[]> {
    return this.run<R>(this.pool, sql, params);
  }

  /** The query with a statement name while fewer than PREPARED_STATEMENTS are prepared. */
  private config(text: string, values: Param[]): pg.QueryConfig {
    if (values.length === 0 || !this.prepares) return { text, values };
    let name = this.prepared.get(text);
    if (name === undefined && this.prepared.size < PREPARED_STATEMENTS) this.prepared.set(text, (name = `sluice_${this.prepared.size}`));
    return { text, values, name };
  }

  async copy(into: string, rows: string): Promise<number> {
    return this.withClient((client) => copyOn(client, into, rows));
  }

  /**
   * Runs `fn` on a connection of its own. While it is out of the pool, a connection that fails
   * between statements reports the error on itself, not to a statement: without a listener that
   * would end the process. A connection that failed, or that `fn` leaves unusable (`broken`),
   * is closed rather than returned to the pool.
   */
  private async withClient<T>(fn: (client: pg.PoolClient, fail: (e: Error) => void) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const fail = (e: Error): void => void (broken ??= e);
    client.on('error', fail);
    try {
      return await fn(client, fail);
    } finally {
      client.off('error', fail);
      client.release(broken);
    }
  }

  async exec(sql: string): Promise<void> {
    // Without parameters, one simple-protocol Query: it may hold several statements.
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.inTransaction((client) => fn({ query: <R extends Row = Row>(q: string, params: Param[] = []) => this.run<R>(client, q, params) }));
  }

  batch(steps: BatchStep[]): Promise<Array<Row[] | number>> {
    return this.inTransaction(async (client) => {
      const out: Array<Row[] | number> = [];
      for (const step of steps) out.push('copy' in step ? await copyOn(client, step.copy, step.rows) : await this.run(client, step.sql, step.params ?? []));
      return out;
    });
  }

  /** A statement on the pool (any connection) or on a connection taken from it. */
  private async run<R extends Row = Row>(on: pg.Pool | pg.PoolClient, sql: string, params: Param[]): Promise<R[]> {
    return (await on.query<R>(this.config(sql, params))).rows;
  }

  /** Runs `fn` on one connection inside BEGIN and COMMIT, rolling back when it throws. */
  private inTransaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.withClient(async (client, fail) => {
      try {
        await client.query('begin');
        const result = await fn(client);
        await client.query('commit');
        return result;
      } catch (e) {
        // A connection that cannot roll back is closed rather than returned to the pool.
        await client.query('rollback').catch(fail);
        throw e;
      }
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
