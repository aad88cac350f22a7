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

export class PostgresDriver implements Database {
  readonly kind = 'postgres';
  private readonly sql: postgres.Sql;

  /** @example const db = new PostgresDriver({ url: 'postgres://postgres@127.0.0.1:5432/test' }); */
  constructor(opts: PostgresOptions) {
    const common = {
      max: opts.max ?? 4,
      onnotice: () => {},
      connection: { TimeZone: 'UTC', application_name: 'sluice' },
      // Statements are built from a few fixed shapes; preparing them saves a parse each time.
      prepare: true,
    };
    this.sql = opts.path ? postgres({ ...common, path: opts.path, database: 'postgres', username: 'postgres' }) : postgres(opts.url ?? '', common);
  }

  async query<R extends Row = Row>(sql: string, params: Param[] = []): Promise<R[]> {
    // A plain array, as PGlite returns (the driver's result is an Array subclass).
    return [...(await this.sql.unsafe(sql, params as never[]))] as unknown as R[];
  }

  async exec(sql: string): Promise<void> {
    await this.sql.unsafe(sql).simple();
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return (await this.sql.begin((tx) =>
      fn({ query: async <R extends Row = Row>(q: string, params: Param[] = []) => [...(await tx.unsafe(q, params as never[]))] as unknown as R[] }),
    )) as T;
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}
