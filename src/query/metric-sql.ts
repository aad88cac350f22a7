/**
 * A metric query as SQL. Hour-aligned queries without percentiles, grouping and filtering only
 * on rollup dimensions, read the hourly rollups (cheap for long ranges); the others read the
 * points. Every value is a parameter; every query
 * names its tenant, and runs under row-level security for that tenant besides.
 */
import type { Param } from '../store/database.ts';
import type { MetricQuery } from './parse-query.ts';

const HOUR = 3_600_000;

export interface MetricSql {
  source: 'rollups' | 'points';
  text: string;
  params: Param[];
}

/** Whether the hourly rollups (which keep only `rolled` dimensions) can answer `q`. */
function usesRollups(q: MetricQuery, rolled: ReadonlySet<string>): boolean {
  return (
    q.step % HOUR === 0 &&
    q.from % HOUR === 0 &&
    q.to % HOUR === 0 &&
    q.aggregations.every((a) => !a.fn.startsWith('p')) &&
    q.groupBy.every((d) => rolled.has(d)) &&
    q.filters.every((f) => rolled.has(f.dimension))
  );
}

const PERCENTILE: Record<string, number> = { p50: 0.5, p90: 0.9, p99: 0.99 };

/** SQL answering rows of (b: bucket index, g0…: group values, and aggregate columns a0…). */
export function metricSql(tenant: string, q: MetricQuery, rollupDimensions: ReadonlySet<string> = new Set()): MetricSql {
  const params: Param[] = [tenant, q.metric, new Date(q.from).toISOString(), new Date(q.to).toISOString(), q.from, q.step];
  const p = (v: Param): string => {
    params.push(v);
    return `$${params.length}`;
  };
  const rollups = usesRollups(q, rollupDimensions);
  const timeCol = rollups ? 'bucket' : 'time';
  const groups = q.groupBy.map((g, i) => `dimensions->>${p(g)} as g${i}`);
  const where = [`tenant = $1`, `metric = $2`, `${timeCol} >= $3::timestamptz`, `${timeCol} < $4::timestamptz`];
  for (const f of q.filters) where.push(`(dimensions->>${p(f.dimension)}) in (select json_array_elements_text(${p(JSON.stringify(f.values))}::text::json))`);
  // date_part is float8 arithmetic (extract would be numeric, several times slower per row).
  const bucket = `floor((date_part('epoch', ${timeCol}) * 1000 - $5::float8) / $6::float8)::int as b`;
  const groupCols = ['b', ...q.groupBy.map((_, i) => `g${i}`)];
  if (rollups) {
    const measures = [...new Set(q.aggregations.map((a) => a.measure ?? ''))];
    where.push(`measure in (select json_array_elements_text(${p(JSON.stringify(measures))}::text::json))`);
    return {
      source: 'rollups',
      params,
      text: `select ${[bucket, ...groups].join(', ')}, measure, sum(count)::float8 as count, sum(sum)::float8 as sum,
                    min(min)::float8 as min, max(max)::float8 as max
               from sluice.metric_rollups where ${where.join(' and ')}
              group by ${[...groupCols, 'measure'].join(', ')}`,
    };
  }
  const cols = q.aggregations.map((a, i) => {
    if (a.fn === 'count') return `count(*)::float8 as a${i}`;
    const v = `(measures->>${p(a.measure)})::float8`;
    if (a.fn in PERCENTILE) return `percentile_cont(${PERCENTILE[a.fn]}) within group (order by ${v}) as a${i}`;
    return `${a.fn}(${v})::float8 as a${i}`;
  });
  return {
    source: 'points',
    params,
    text: `select ${[bucket, ...groups, ...cols].join(', ')} from sluice.metric_points where ${where.join(' and ')} group by ${groupCols.join(', ')}`,
  };
}
