/**
 * Creates and evolves the SQL tables of `table` destinations, in schema `bi`. The plan compares
 * the config with the table as it is: new columns are added, safe widenings applied, and nothing
 * is ever dropped or narrowed. A change that cannot be made safely is refused with the column and
 * the reason, and, because every table is planned before any is changed, before anything is
 * written.
 */
import type { Queryable } from '../../store/database.ts';
import { parseColumnType, typeSql, unsafeChange, type ColumnType } from './column-types.ts';
import { columnText, subjectKey } from '../../store/subject-key.ts';

export const BI_SCHEMA = 'bi';

export interface TableSpec {
  table: string;
  columns: Array<{ name: string; type: ColumnType }>;
  primaryKey: string[];
  /** Columns to index (those holding pseudonyms: erasure looks them up). */
  indexed?: string[];
}

export interface TablePlan {
  statements: string[];
  problems: string[];
}

export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;
export const qualified = (table: string): string => `${BI_SCHEMA}.${quoteIdent(table)}`;

/** What it takes to make the table match the spec (statements), or why it cannot (problems). */
export async function planTable(db: Queryable, spec: TableSpec): Promise<TablePlan> {
  const existing = await db.query<{ name: string; type: string; not_null: boolean; has_default: boolean }>(
    `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as not_null, a.atthasdef as has_default
       from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relname = $2 and a.attnum > 0 and not a.attisdropped order by a.attnum`,
    [BI_SCHEMA, spec.table],
  );
  const at = (column: string) => `table ${spec.table}, column ${column}`;
  // Btree indexes on the pseudonym's 64-bit hash (subject-key.ts). Not hash indexes: a subject
  // has many rows, and a hash index keeps all of a key's entries in one bucket chain that every
  // insert walks to its end (docs/benchmarks.md).
  const indexes = (spec.indexed ?? []).map(
    (c) => `create index if not exists ${quoteIdent(subjectIndex(spec.table, c, 'key'))} on ${qualified(spec.table)} (${subjectKey(columnText(quoteIdent(c)))})`,
  );
  if (existing.length === 0) {
    const cols = spec.columns.map((c) => `${quoteIdent(c.name)} ${typeSql(c.type)}${spec.primaryKey.includes(c.name) ? ' not null' : ''}`);
    return {
      statements: [`create table ${qualified(spec.table)} (${[...cols, `primary key (${spec.primaryKey.map(quoteIdent).join(', ')})`].join(', ')})`, ...indexes],
      problems: [],
    };
  }
  const statements: string[] = [];
  const problems: string[] = [];
  const byName = new Map(existing.map((c) => [c.name, c]));
  for (const c of spec.columns) {
    const found = byName.get(c.name);
    if (!found) {
      if (spec.primaryKey.includes(c.name)) problems.push(`${at(c.name)}: a new column cannot join the primary key of an existing table`);
      else statements.push(`alter table ${qualified(spec.table)} add column ${quoteIdent(c.name)} ${typeSql(c.type)}`);
      continue;
    }
    const now = parseColumnType(found.type);
    if (!now) {
      problems.push(`${at(c.name)}: the table has type ${found.type}, which Sluice does not write; declare it as it is or use a new column`);
      continue;
    }
    const why = unsafeChange(now, c.type);
    if (why) problems.push(`${at(c.name)}: cannot change ${typeSql(now)} to ${typeSql(c.type)}: ${why}; add a new column instead`);
    else if (typeSql(now) !== typeSql(c.type)) statements.push(`alter table ${qualified(spec.table)} alter column ${quoteIdent(c.name)} type ${typeSql(c.type)}`);
  }
  const declared = new Set(spec.columns.map((c) => c.name));
  for (const c of existing) {
    if (!declared.has(c.name) && c.not_null && !c.has_default) {
      problems.push(`${at(c.name)}: the table requires it (not null, no default) but the config does not write it; declare it again`);
    }
  }
  const pk = await db.query<{ name: string }>(
    `select a.attname as name from pg_index i join pg_class c on c.oid = i.indrelid join pg_namespace n on n.oid = c.relnamespace
       cross join lateral unnest(i.indkey) with ordinality k(attnum, ord) join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
      where n.nspname = $1 and c.relname = $2 and i.indisprimary order by k.ord`,
    [BI_SCHEMA, spec.table],
  );
  const had = pk.map((r) => r.name).join(', ');
  if (had !== spec.primaryKey.join(', ')) {
    problems.push(`table ${spec.table}: the primary key is (${had || 'none'}) and the config says (${spec.primaryKey.join(', ')}); a primary key cannot change in place`);
  }
  // The subject indexes of earlier versions (a btree on the column itself, then a hash index)
  // are dropped (looked up only when the table has subject columns).
  const oldNames = (spec.indexed ?? []).flatMap((c) => [subjectIndex(spec.table, c, 'idx'), subjectIndex(spec.table, c, 'hash')]);
  const old =
    oldNames.length === 0
      ? []
      : await db.query<{ name: string }>(
          `select c.relname as name from pg_index i join pg_class c on c.oid = i.indexrelid join pg_class t on t.oid = i.indrelid
             join pg_namespace n on n.oid = t.relnamespace where n.nspname = $1 and t.relname = $2 and c.relname in (select json_array_elements_text($3::text::json)) order by 1`,
          [BI_SCHEMA, spec.table, JSON.stringify(oldNames)],
        );
  const dropped = old.map((r) => `drop index ${BI_SCHEMA}.${quoteIdent(r.name)}`);
  return { statements: [...statements, ...indexes, ...dropped], problems };
}

/** The name of a subject column's index (`key`), or of one that earlier versions made. */
const subjectIndex = (table: string, column: string, suffix: 'key' | 'idx' | 'hash'): string => `${table}_${column}_${suffix}`.slice(0, 63);
