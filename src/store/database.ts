/**
 * The one small interface Sluice's storage code is written against, so the same SQL runs on the
 * embedded PGlite and on a PostgreSQL server. Parameters are strings, numbers, booleans or null.
 * Batches of new rows are loaded with COPY (`copy`); other batches travel as one JSON text
 * parameter (e.g. `jsonb_array_elements($1::text::jsonb)`), which both drivers pass the same way.
 */

export type Row = Record<string, unknown>;
export type Param = string | number | boolean | null;

/** Something that runs one SQL statement with positional parameters. */
export interface Queryable {
  query<R extends Row = Row>(sql: string, params?: Param[]): Promise<R[]>;
}

/** A step of {@link Database.batch}: a statement, or rows to load with COPY. */
export type BatchStep = { sql: string; params?: Param[] } | { copy: string; rows: string };

/**
 * A database connection (or pool).
 *
 * @example
 *   const db = await openDatabase({ dataDir: '.sluice' });
 *   await db.transaction(async (tx) => { await tx.query('select 1'); });
 */
export interface Database extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /**
   * Loads rows with `COPY <into> FROM STDIN` in text format (`into`: a table and its columns),
   * `rows` holding one line per row (see copy-text.ts); resolves with the rows loaded. Like any
   * statement it is atomic: a row the database refuses fails it whole, with that row's error.
   * With other statements in one transaction: {@link Database.batch}.
   */
  copy(into: string, rows: string): Promise<number>;
  /** Runs several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs `fn` in one transaction; it commits when `fn` resolves and rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs the steps in order in one transaction, with nothing decided between them: on PGlite one
   * message to the database thread, so the session is not held while the event loop gets round
   * to the next step. Resolves with each step's rows (a statement) or rows loaded (COPY).
   */
  batch(steps: BatchStep[]): Promise<Array<Row[] | number>>;
  close(): Promise<void>;
}

/** A PostgreSQL error code (SQLSTATE) of an error thrown by either driver, if it has one. */
export function sqlState(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
