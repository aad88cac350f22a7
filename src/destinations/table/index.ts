/**
 * `table`: records become rows of a SQL table in schema `bi`, for BI tools. Each column's value
 * comes from a JSON path or a function and is checked against its type first: a value that does
 * not fit fails its record (naming the column) and its neighbours are written. A new batch is
 * loaded with COPY; otherwise it is one INSERT, idempotent on the primary key (`keep` the first
 * row, or `update` it). Should the database still refuse a row, the batch is split until the
 * row is found, so it alone fails.
 */
import type { TableColumnConfig, TableDestinationConfig } from '../../config/config.ts';
import { pathReader } from '../../core/transform/json-path.ts';
import { copyField, copyText } from '../../store/copy-text.ts';
import { sqlState, type Database } from '../../store/database.ts';
import { erasedSince, fenceStep } from '../../privacy/fence.ts';
import type { DeliveryFailure, Destination } from '../destination.ts';
import { columnValue, parseColumnType, typeSql, Unfit, type ColumnType } from './column-types.ts';
import { planTable, qualified, quoteIdent, type TablePlan, type TableSpec } from './table-schema.ts';

interface Column {
  name: string;
  type: ColumnType;
  read: (record: unknown) => unknown;
  subject?: string;
}

export interface TableDestination extends Destination {
  readonly spec: TableSpec;
  /** What opening it would change, or refuse (nothing is changed). */
  plan(): Promise<TablePlan>;
}

/** The JSON path a column reads: its `from`, else the field of its name. */
export function columnSource(name: string, column: string | TableColumnConfig): string {
  return (typeof column === 'object' && column.from) || `$.${name}`;
}

function columnsOf(config: TableDestinationConfig): Column[] {
  return Object.entries(config.columns).map(([name, c]) => {
    const spec = typeof c === 'string' ? { type: c } : c;
    const type = parseColumnType(spec.type);
    if (!type) throw new Error(`column ${name}: unknown type ${spec.type}`);
    const read = spec.value ?? pathReader(columnSource(name, c));
    return { name, type, read, subject: spec.subject };
  });
}

/**
 * How the insert reads the value at `i` of a row (`x`, a jsonb array): jsonb as it is; text as
 * text, which a varchar(n) column takes on assignment and refuses when longer, as its input
 * would (an explicit cast would cut it); other types through their input, as if the value's
 * text had been written in the column.
 */
function columnExpr(t: ColumnType, i: number): string {
  if (t.kind === 'jsonb') return `x->${i}`;
  if (t.kind === 'text' || t.kind === 'varchar') return `x->>${i}`;
  return `(x->>${i})::${typeSql(t)}`;
}

/**
 * How COPY reads a column's value (from `columnValue`): jsonb as its JSON (a missing value is
 * JSON null, as the INSERT's `x->i` reads it), other types as their text.
 */
const copyFieldOf = (t: ColumnType): ((v: unknown) => string) => (t.kind === 'jsonb' ? (v) => copyText(JSON.stringify(v ?? null)) : copyField);

/** Data exceptions and constraint violations: the row is wrong, not the database. */
const isRowError = (e: unknown): boolean => /^2[23]/.test(sqlState(e) ?? '');

/**
 * @example createTableDestination({ type: 'table', table: 'transactions', columns: { id: 'text', amount: 'numeric(12,2)' }, primary_key: ['id'] }, { db })
 */
export function createTableDestination(config: TableDestinationConfig, ctx: { db: Database }): TableDestination {
  const columns = columnsOf(config);
  const spec: TableSpec = {
    table: config.table,
    columns: columns.map((c) => ({ name: c.name, type: c.type })),
    primaryKey: config.primary_key,
    indexed: columns.filter((c) => c.subject && !config.primary_key.includes(c.name)).map((c) => c.name),
  };
  const update = config.on_conflict === 'update';
  const keyIndexes = config.primary_key.map((k) => columns.findIndex((c) => c.name === k));
  // A one-column key whose values are always strings (not boolean, not jsonb) is its own map key.
  const textKey = keyIndexes.length === 1 && !['boolean', 'jsonb'].includes(columns[keyIndexes[0]].type.kind);
  const names = columns.map((c) => quoteIdent(c.name)).join(', ');
  const others = columns.filter((c) => !config.primary_key.includes(c.name));
  const conflict =
    update && others.length > 0 ? `do update set ${others.map((c) => `${quoteIdent(c.name)} = excluded.${quoteIdent(c.name)}`).join(', ')}` : 'do nothing';
  // For the INSERT, a batch is a JSON array of rows, each an array of its column values in column
  // order, read by position (objects cost the database their keys, sorted and matched by name for
  // every row), and written in the order sent (`n`).
  const insert = `insert into ${qualified(config.table)} (${names})
    select ${columns.map((c, i) => `${columnExpr(c.type, i)} as ${quoteIdent(c.name)}`).join(', ')} from jsonb_array_elements($1::text::jsonb) with ordinality as e(x, n)
    order by n
    on conflict (${config.primary_key.map(quoteIdent).join(', ')}) ${conflict}`;
  const copyInto = `${qualified(config.table)} (${names})`;
  const fields = columns.map((c) => copyFieldOf(c.type));

  /**
   * Immutable rows (`keep`) of a batch that is new, the common case, are loaded with COPY, which
   * costs the database about half of what an INSERT of the same rows does (docs/benchmarks.md).
   * Resolves false, with nothing of the batch written, when the database refuses it: a key
   * already stored (a redelivery) or a bad row, which the ON CONFLICT statement then sorts out
   * row by row.
   */
  async function insertNew(rows: Array<{ index: number; row: unknown[] }>, erasureEpoch: number | undefined): Promise<boolean> {
    if (update || rows.length === 0) return false;
    let lines = '';
    for (const { row } of rows) {
      for (let i = 0; i < row.length; i++) lines += (i === 0 ? '' : '\t') + fields[i](row[i]);
      lines += '\n';
    }
    try {
      if (erasureEpoch === undefined) await ctx.db.copy(copyInto, lines);
      else await ctx.db.batch([fenceStep(erasureEpoch), { copy: copyInto, rows: lines }]);
      return true;
    } catch (e) {
      if (erasedSince(e)) throw e;
      return false;
    }
  }

  /** Writes rows; rows the database refuses are found by halving and reported. */
  async function insertRows(rows: Array<{ index: number; row: unknown[] }>, failures: DeliveryFailure[], erasureEpoch: number | undefined): Promise<void> {
    if (rows.length === 0) return;
    try {
      const params = [JSON.stringify(rows.map((r) => r.row))];
      if (erasureEpoch === undefined) await ctx.db.query(insert, params);
      else await ctx.db.batch([fenceStep(erasureEpoch), { sql: insert, params }]);
    } catch (e) {
      if (!isRowError(e)) throw e;
      if (rows.length === 1) {
        const column = (e as { column?: string; column_name?: string }).column ?? (e as { column_name?: string }).column_name;
        failures.push({ index: rows[0].index, code: 'row_rejected', reason: `the database refused the row (SQLSTATE ${sqlState(e)}${column ? `, column ${column}` : ''})` });
        return;
      }
      const half = Math.ceil(rows.length / 2);
      await insertRows(rows.slice(0, half), failures, erasureEpoch);
      await insertRows(rows.slice(half), failures, erasureEpoch);
    }
  }

  return {
    kind: 'table',
    spec,
    // One batch at a time: with `update`, a later batch must not be overtaken by an earlier one.
    concurrency: update ? 1 : 2,
    plan: () => planTable(ctx.db, spec),
    async open() {
      await ctx.db.transaction(async (tx) => {
        await tx.query('select pg_advisory_xact_lock(727113)');
        await tx.query('create schema if not exists bi');
        const { statements, problems } = await planTable(tx, spec);
        if (problems.length > 0) throw new Error(problems.join('; '));
        for (const s of statements) await tx.query(s);
      });
    },
    async write(records, batch) {
      const failures: DeliveryFailure[] = [];
      // Within a batch, one row per key: the first (keep) or the last (update).
      const byKey = new Map<string, { index: number; row: unknown[] }>();
      records.forEach((r, index) => {
        const row: unknown[] = [];
        for (const c of columns) {
          let raw: unknown;
          try {
            raw = c.read(r.value);
          } catch (e) {
            failures.push({ index, code: 'column_invalid', reason: `column ${c.name}: its value function threw ${(e as Error)?.name ?? 'an error'}` });
            return;
          }
          const v = columnValue(c.type, raw);
          if (v instanceof Unfit) {
            failures.push({ index, code: 'column_invalid', reason: `column ${c.name} (${typeSql(c.type)}): ${v.reason}` });
            return;
          }
          row.push(v);
        }
        for (const i of keyIndexes) {
          if (row[i] === null) {
            failures.push({ index, code: 'missing_key', reason: `primary key column ${columns[i].name} has no value` });
            return;
          }
        }
        const k = textKey ? (row[keyIndexes[0]] as string) : JSON.stringify(keyIndexes.map((i) => row[i]));
        if (!update && byKey.has(k)) return;
        byKey.set(k, { index, row });
      });
      // Written in key order, the same in every writer, so two batches written at once cannot
      // deadlock on the same keys (the default sort: UTF-16 code units, as `<` compares strings).
      const rows = [...byKey.keys()].sort().map((k) => byKey.get(k)!);
      // Fenced against erasures when the batch holds pseudonyms (privacy/fence.ts).
      const epoch = batch.erasureEpoch;
      if (!(await insertNew(rows, epoch))) await insertRows(rows, failures, epoch);
      return failures;
    },
  };
}
