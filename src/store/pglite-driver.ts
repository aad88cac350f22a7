/**
 * The embedded driver: PGlite (PostgreSQL compiled to WebAssembly) in this process, with its
 * data in a folder. PGlite has one session, so transactions are serialised by PGlite itself and
 * settings must stay transaction-local (`set local`, `set_config(…, true)`).
 */
import { PGlite } from '@electric-sql/pglite';
import type { Database, Param, Queryable, Row } from './database.ts';

const TEXT_OID = 25;
const JSON_OID = 114;

/**
 * Long text and json parameters go to PGlite as their UTF-8 bytes, in binary format (for text and
 * json the binary form is those bytes, which the engine still checks as UTF-8). As strings, PGlite
 * measures each one twice character by character in JavaScript; a batch's JSON or an intake log
 * entry is tens of kilobytes.
 */
const asBytes = (v: unknown): string | Uint8Array => (typeof v === 'string' && v.length > 256 ? Buffer.from(v) : String(v));
// PGlite's types say a serializer returns a string; its bind message sends a Uint8Array as binary
// (the test suite checks that text round-trips both ways).
const binary = asBytes as (v: unknown) => string;
const OPTIONS = { serializers: { [TEXT_OID]: binary, [JSON_OID]: binary } };

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
    return (await this.pg.query<R>(sql, params, OPTIONS)).rows;
  }

  async exec(sql: string): Promise<void> {
    await this.pg.exec(sql);
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.pg.transaction((tx) =>
      fn({ query: async <R extends Row = Row>(sql: string, params: Param[] = []) => (await tx.query<R>(sql, params, OPTIONS)).rows }),
    );
  }

  async close(): Promise<void> {
    if (!this.pg.closed) await this.pg.close();
  }
}
