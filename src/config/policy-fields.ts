/**
 * A pseudonymize policy must name a field the stream's records have: a misspelt path would
 * leave the real field raw, so it is a config error. What a stream's records have is known
 * from, in order: its validate step's JSON Schema (with the per-metric schemas for `data.…`);
 * for a metrics destination, the unified metric schema; for a table destination, the fields
 * its columns read. A stream that says none of these (stdout without validate, or a table with
 * a column computed by a function) cannot be checked, and is not.
 */
import type { ConfigIssue } from './check.ts';
import type { SluiceConfig, StreamConfig, ValidateProcessorConfig } from './config.ts';
import { parseJsonPath, type JsonPath } from '../core/transform/json-path.ts';
import { UNIFIED_METRIC_SCHEMA } from '../processors/validate.ts';
import { columnSource } from '../destinations/table/index.ts';

type Schema = Record<string, unknown>;
const isSchema = (v: unknown): v is Schema => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The schemas a field may be declared in at this step of the path (through allOf/anyOf/oneOf). */
function children(schema: Schema, key: string): Schema[] {
  const out: Schema[] = [];
  const props = schema.properties;
  if (isSchema(props) && isSchema(props[key])) out.push(props[key]);
  const patterns = schema.patternProperties;
  if (isSchema(patterns)) for (const [p, s] of Object.entries(patterns)) if (isSchema(s) && new RegExp(p, 'u').test(key)) out.push(s);
  // An explicit schema for additional properties declares an open map of typed values.
  if (out.length === 0 && isSchema(schema.additionalProperties)) out.push(schema.additionalProperties);
  for (const k of ['allOf', 'anyOf', 'oneOf']) {
    const list = schema[k];
    if (Array.isArray(list)) for (const s of list) if (isSchema(s)) out.push(...children(s, key));
  }
  return out;
}

/** Whether a JSON Schema declares the dotted path. */
export function schemaDeclares(schema: Schema, path: string[]): boolean {
  let level = [schema];
  for (const key of path) {
    level = level.flatMap((s) => children(s, key));
    if (level.length === 0) return false;
  }
  return true;
}

/** How a stream's record fields are known, or null when they cannot be. */
function fieldsOf(stream: StreamConfig): { what: string; has: (path: string[]) => boolean } | null {
  const validate = stream.processors?.find((p): p is ValidateProcessorConfig => p.type === 'validate');
  const unified = (path: string[]) => schemaDeclares(UNIFIED_METRIC_SCHEMA as unknown as Schema, path);
  if (validate && isSchema(validate.schema)) {
    const schema = validate.schema;
    return { what: 'its validate schema', has: (path) => schemaDeclares(schema, path) };
  }
  if (validate || stream.destination.type === 'metrics') {
    const perMetric = Object.values(validate?.metric_schemas ?? {});
    const has = (path: string[]) =>
      path[0] === 'data' && perMetric.length > 0 && path.length > 1 ? perMetric.some((s) => schemaDeclares(s, path.slice(1))) || unified(path) : unified(path);
    return { what: 'the unified metric schema', has };
  }
  const d = stream.destination;
  if (d.type !== 'table') return null;
  const read: string[][] = [];
  for (const [name, c] of Object.entries(d.columns)) {
    if (typeof c === 'object' && c.value !== undefined) return null;
    const parsed = parseJsonPath(columnSource(name, c)) as JsonPath;
    const keys: string[] = [];
    for (const step of parsed.steps) if ('key' in step) keys.push(step.key);
    else break;
    read.push(keys);
  }
  // A policy on a field or on an object a column reads into (or out of) is meaningful.
  const prefix = (a: string[], b: string[]) => a.every((k, i) => b[i] === k);
  return { what: `the fields the columns of table ${d.table} read`, has: (path) => read.some((r) => prefix(r, path) || prefix(path, r)) };
}

/** Problems: pseudonymize fields no record of their stream can have. */
export function policyFieldIssues(config: SluiceConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, stream] of Object.entries(config.streams ?? {})) {
    const steps = stream.processors ?? [];
    const known = steps.some((p) => p.type === 'pseudonymize') ? fieldsOf(stream) : null;
    if (!known) continue;
    steps.forEach((p, i) => {
      if (p.type !== 'pseudonymize') return;
      for (const field of Object.keys(p.fields)) {
        if (!known.has(field.split('.'))) {
          issues.push({ path: `streams.${name}.processors[${i}].fields.${JSON.stringify(field)}`, message: `no field ${field} in ${known.what}; a policy must name a field the records have` });
        }
      }
    });
  }
  return issues;
}

/** The dotted fields a stream's pseudonymize steps hash (`metadata.user_id`), each once. */
export function hashedPaths(stream: StreamConfig): string[] {
  return [...new Set((stream.processors ?? []).flatMap((p) => (p.type === 'pseudonymize' ? Object.keys(p.fields).filter((f) => p.fields[f] === 'hash') : [])))];
}

/** A dotted field's last name (`metadata.user_id` → `user_id`): what an erasure calls the field. */
export const leafOf = (dottedPath: string): string => dottedPath.split('.').at(-1)!;

/** The leaf names of a stream's hashed fields (`metadata.user_id` → `user_id`): its subject dimensions in the metrics store. */
export const hashedFields = (stream: StreamConfig): string[] => hashedPaths(stream).map(leafOf);
