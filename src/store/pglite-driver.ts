/**
 * The embedded driver: PGlite (PostgreSQL compiled to WebAssembly) in this process, with its
 * data in a folder. PGlite has one session, so transactions are serialised by PGlite itself and
 * settings must stay transaction-local (`set local`, `set_config(…, true)`).
 */
import { PGlite } from '@electric-sql/pglite';
import type { Database, Param, Queryable, Row } from './database.ts';

export class PgliteDriver implements Database {
  readonly kind = 'pglite';

  private constructor(readonly pg: PGlite) {}

  /**
   * Opens (or creates) a database in `dataDir`; `undefined` keeps it in memory.
   *
   * @example const db = await PgliteDriver.open('.sluice/pgdata');
   */
  static async open(dataDir: string | undefined): Promise<PgliteDriver> {
    const pg = await PGlite.create(dataDir ? { dataDir } : {});
    await pg.exec("set timezone = 'UTC'");
    return new PgliteDriver(pg);
  }

  async query<R extends Row = Row>(sql: string, params: Param[] = []): Promise<R[]> {
    return (await this.pg.query<R>(sql, params)).rows;
  }

  async exec(sql: string): Promise<void> {
    await this.pg.exec(sql);
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.pg.transaction((tx) =>
      fn({ query: async <R extends Row = Row>(sql: string, params: Param[] = []) => (await tx.query<R>(sql, params)).rows }),
    );
  }

  async close(): Promise<void> {
    if (!this.pg.closed) await this.pg.close();
  }
}
