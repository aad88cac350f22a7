/**
 * The query language of `POST /v1/query`, checked and normalised. A request is one query or
 * `{ "queries": [ … ] }`; each names a metric, a time range, a step and aggregations, and may
 * group by and filter on dimensions. Every problem names its path and what is allowed.
 */
import { isRecord } from '../core/is-record.ts';
import { RESERVED_METADATA } from '../destinations/metrics/metric-point.ts';

export const AGGREGATE_FUNCTIONS = ['count', 'sum', 'avg', 'min', 'max', 'p50', 'p90', 'p99'] as const;
export type AggregateFunction = (typeof AGGREGATE_FUNCTIONS)[number];

export const LIMITS = { queries: 20, buckets: 10_000, aggregations: 20, groupBy: 5, filters: 20, filterValues: 100 } as const;

export interface Aggregation {
  /** As written: `count`, `sum:new_findings_count`. */
  name: string;
  fn: AggregateFunction;
  measure: string | null;
}

export interface MetricQuery {
  /** Where the query is in the request, as errors name it: `query`, or `queries[i]` in a batch. */
  at: string;
  tenant: string | null;
  metric: string;
  from: number;
  to: number;
  step: number;
  stepText: string;
  aggregations: Aggregation[];
  groupBy: string[];
  filters: Array<{ dimension: string; values: string[] }>;
}

export class QueryError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;
const STEP_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

const RELATIVE = /^now(?:-(\d{1,6})([smhd]))?$/;
const isRelative = (v: unknown): boolean => typeof v === 'string' && RELATIVE.test(v);

/** A time: ISO 8601, epoch milliseconds, `now`, or `now-7d` / `now-90m` style. */
export function parseTime(v: unknown, now: number, path: string): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string') {
    const rel = RELATIVE.exec(v);
    if (rel) return rel[1] ? now - Number(rel[1]) * STEP_UNITS[rel[2]] : now;
    const t = Date.parse(v);
    if (Number.isFinite(t) && /^\d{4}-\d{2}-\d{2}/.test(v)) return t;
  }
  throw new QueryError(path, 'expected an ISO 8601 time, epoch milliseconds, "now" or "now-<n><s|m|h|d>"');
}

/**
 * A record's tenant_id, event_id and event_time become its point's tenant, id and time, never
 * dimensions: grouping or filtering on them would quietly answer a single group without a value.
 */
function checkDimension(name: string, path: string): void {
  if ((RESERVED_METADATA as readonly string[]).includes(name)) {
    throw new QueryError(path, `"${name}" is not a dimension: a record's tenant_id, event_id and event_time become its point's tenant, id and time (a query reads one tenant; from and to select the time)`);
  }
}

function parseOne(q: unknown, at: string, now: number): MetricQuery {
  if (!isRecord(q)) throw new QueryError(at, 'expected a query object');
  const allowed = ['tenant', 'metric', 'from', 'to', 'step', 'aggregations', 'group_by', 'filters'];
  for (const k of Object.keys(q)) if (!allowed.includes(k)) throw new QueryError(`${at}.${k}`, `unknown field; allowed: ${allowed.join(', ')}`);
  if (typeof q.metric !== 'string' || !NAME.test(q.metric)) throw new QueryError(`${at}.metric`, 'expected a metric name');
  if (q.tenant !== undefined && (typeof q.tenant !== 'string' || !/^[a-z0-9][a-z0-9_-]{0,62}$/.test(q.tenant))) {
    throw new QueryError(`${at}.tenant`, 'expected a tenant name');
  }
  const toText = q.to ?? 'now';
  let from = parseTime(q.from, now, `${at}.from`);
  let to = parseTime(toText, now, `${at}.to`);
  if (!(to > from)) throw new QueryError(`${at}.to`, 'must be after from');
  const stepText = q.step ?? '1h';
  const sm = typeof stepText === 'string' ? /^(\d{1,5})([smhd])$/.exec(stepText) : null;
  if (!sm || Number(sm[1]) === 0) throw new QueryError(`${at}.step`, 'expected a duration such as "1m", "1h" or "1d"');
  const step = Number(sm[1]) * STEP_UNITS[sm[2]];
  // A relative range ("now-7d" to "now") is snapped to whole steps counted from the epoch (UTC):
  // its start rounded down, its end up to the end of the last bucket. Buckets then fall on the
  // minute, hour or day whenever the query runs, the hourly rollups can answer an hourly or
  // longer step, and the same query gives the same (cached) answer for a whole step. Times given
  // as instants are taken as they are.
  if (isRelative(q.from)) from = Math.floor(from / step) * step;
  if (isRelative(toText)) to = from + Math.ceil((to - from) / step) * step;
  if ((to - from) / step > LIMITS.buckets) throw new QueryError(`${at}.step`, `the range holds more than ${LIMITS.buckets} steps; use a longer step`);
  const aggs = q.aggregations ?? ['count'];
  if (!Array.isArray(aggs) || aggs.length === 0 || aggs.length > LIMITS.aggregations) {
    throw new QueryError(`${at}.aggregations`, `expected 1 to ${LIMITS.aggregations} aggregations`);
  }
  const aggregations = aggs.map((a, i): Aggregation => {
    const m = typeof a === 'string' ? /^(count|sum|avg|min|max|p50|p90|p99)(?::([A-Za-z_][A-Za-z0-9_.-]{0,127}))?$/.exec(a) : null;
    if (!m || (m[1] !== 'count' && !m[2])) {
      throw new QueryError(`${at}.aggregations[${i}]`, 'expected "count" or "<sum|avg|min|max|p50|p90|p99>:<measure>"');
    }
    return { name: a as string, fn: m[1] as AggregateFunction, measure: m[1] === 'count' ? null : m[2] };
  });
  const groupBy = q.group_by ?? [];
  if (!Array.isArray(groupBy) || groupBy.length > LIMITS.groupBy || !groupBy.every((g) => typeof g === 'string' && NAME.test(g))) {
    throw new QueryError(`${at}.group_by`, `expected at most ${LIMITS.groupBy} dimension names`);
  }
  groupBy.forEach((g: string, i) => checkDimension(g, `${at}.group_by[${i}]`));
  const filters: MetricQuery['filters'] = [];
  if (q.filters !== undefined) {
    if (!isRecord(q.filters) || Object.keys(q.filters).length > LIMITS.filters) {
      throw new QueryError(`${at}.filters`, `expected an object of at most ${LIMITS.filters} dimensions, each a value or a list of values`);
    }
    for (const [dimension, v] of Object.entries(q.filters)) {
      const values = Array.isArray(v) ? v : [v];
      if (!NAME.test(dimension) || values.length === 0 || values.length > LIMITS.filterValues || !values.every((x) => typeof x === 'string')) {
        throw new QueryError(`${at}.filters.${dimension}`, `expected a string or a list of 1 to ${LIMITS.filterValues} strings`);
      }
      checkDimension(dimension, `${at}.filters.${dimension}`);
      filters.push({ dimension, values: values as string[] });
    }
  }
  return { at, tenant: (q.tenant as string | undefined) ?? null, metric: q.metric, from, to, step, stepText: stepText as string, aggregations, groupBy: groupBy as string[], filters };
}

/**
 * @example parseQueries({ metric: 'm', from: 'now-7d', step: '1h', aggregations: ['count'] }, Date.now())
 */
export function parseQueries(body: unknown, now: number): MetricQuery[] {
  if (isRecord(body) && 'queries' in body) {
    const qs = body.queries;
    if (Object.keys(body).length !== 1) throw new QueryError('body', 'with "queries", no other field is allowed');
    if (!Array.isArray(qs) || qs.length === 0 || qs.length > LIMITS.queries) throw new QueryError('queries', `expected 1 to ${LIMITS.queries} queries`);
    return qs.map((q, i) => parseOne(q, `queries[${i}]`, now));
  }
  return [parseOne(body, 'query', now)];
}
