/**
 * The server driver: a pool of connections to PostgreSQL (15 or later) through `postgres`
 * (porsager). Timestamps are returned as text and numbers as JavaScript numbers by casting in
 * SQL, so both drivers return the same values.
 */
import postgres from 'postgres';
import type { Database, Param, Queryable, Row } from './database.ts';

export interface PostgresOptions {
  /** A connection URL (`postgres://user@host:5432/db`) or a Unix socket path (`path`). */
  url?: string;
  path?: string;
  /** Pool size. */
  max?: number;
}

/**
 * Distinct statements a driver prepares on the server. A statement with parameters that is not
 * prepared costs two round trips (the driver asks the server for its parameter types first) and
 * a parse and plan each time; a prepared one is a single Bind and Execute. Sluice's hot
 * statements are a few fixed shapes (the intake log's INSERTs by entry count, a destination's
 * write, the deletes); the query API builds statements from what a query asks, so past this
 * many the rest run unprepared and neither side's statement cache grows without bound.
 */
export const PREPARED_STATEMENTS = 256;

export class PostgresDriver implements Database {
  readonly kind = 'postgres';
  private readonly sql: postgres.Sql;
  /** The statements prepared (on each connection that ran them), up to PREPARED_STATEMENTS. */
  private readonly prepared = new Set<string>();

  /** @example const db = new PostgresDriver({ url: 'postgres://postgres@127.0.0.1:5432/test' }); */
  constructor(opts: PostgresOptions) {
    const common = {
      max: opts.max ?? 4,
      onnotice: () => {},
      connection: { TimeZone: 'UTC', application_name: 'sluice' },
      // Allows preparing; which statements are prepared is chosen per query (`options`). Not
      // through a running Sluice's socket (`path`): every client there shares PGlite's one
      // session, where a named statement would outlive the command that made it.
      prepare: !opts.path,
    };
    this.sql = opts.path ? postgres({ ...common, path: opts.path, database: 'postgres', username: 'postgres' }) : postgres(opts.url ?? '', common);
  }

  async query<R extends Row = Row>(sql: string, params: Param[] = []): Promise<R[]> {
    // A plain array, as PGlite returns (the driver's result is an Array subclass).
    return [...(await this.sql.unsafe(sql, params as never[], this.options(sql, params)))] as unknown as R[];
  }

  /** Prepares a statement with parameters while fewer than PREPARED_STATEMENTS are. */
  private options(sql: string, params: Param[]): { prepare: boolean } {
    if (params.length === 0) return { prepare: false };
    if (!this.prepared.has(sql)) {
      if (this.prepared.size >= PREPARED_STATEMENTS) return { prepare: false };
      this.prepared.add(sql);
    }
    return { prepare: true };
  }

  async exec(sql: string): Promise<void> {
    await this.sql.unsafe(sql).simple();
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return (await this.sql.begin((tx) =>
      fn({ query: async <R extends Row = Row>(q: string, params: Param[] = []) => [...(await tx.unsafe(q, params as never[], this.options(q, params)))] as unknown as R[] }),
    )) as T;
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}
