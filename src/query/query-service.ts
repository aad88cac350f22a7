/**
 * Answers metric queries for one tenant: several queries in one transaction (as Jit advises,
 * combined), under the tenant role so row-level security admits only that tenant's rows, with
 * results cached until new points arrive for that tenant and metric.
 */
import type { Database, Queryable, Row } from '../store/database.ts';
import { TENANT_ROLE } from '../store/migrations.ts';
import { metricSql } from './metric-sql.ts';
import type { MetricQuery } from './parse-query.ts';
import { QueryCache } from './query-cache.ts';

export interface Series {
  group: Record<string, string | null>;
  time: string[];
  values: Record<string, Array<number | null>>;
}

export interface QueryResult {
  tenant: string;
  metric: string;
  from: string;
  to: string;
  step: string;
  source: 'rollups' | 'points';
  series: Series[];
}

export interface CatalogMetric {
  name: string;
  measures: string[];
  dimensions: string[];
}

/** At most this many groups (series) per query; the answer says when more were left out. */
export const MAX_SERIES = 200;

function shape(tenant: string, q: MetricQuery, source: 'rollups' | 'points', rows: Row[]): QueryResult & { truncated?: boolean } {
  const n = Math.ceil((q.to - q.from) / q.step);
  const time = Array.from({ length: n }, (_, i) => new Date(q.from + i * q.step).toISOString());
  const byGroup = new Map<string, Series>();
  let truncated = false;
  for (const r of rows) {
    const group: Record<string, string | null> = {};
    q.groupBy.forEach((g, i) => (group[g] = (r[`g${i}`] as string | null) ?? null));
    const key = JSON.stringify(q.groupBy.map((g) => group[g]));
    let s = byGroup.get(key);
    if (!s) {
      if (byGroup.size >= MAX_SERIES) {
        truncated = true;
        continue;
      }
      const values: Series['values'] = {};
      for (const a of q.aggregations) values[a.name] = new Array(n).fill(a.fn === 'count' ? 0 : null);
      byGroup.set(key, (s = { group, time, values }));
    }
    const b = r.b as number;
    if (b < 0 || b >= n) continue;
    if (source === 'points') {
      q.aggregations.forEach((a, i) => (s.values[a.name][b] = (r[`a${i}`] as number | null) ?? null));
      continue;
    }
    const measure = r.measure as string;
    for (const a of q.aggregations) {
      if ((a.measure ?? '') !== measure) continue;
      const count = r.count as number;
      const v =
        a.fn === 'count' ? count : a.fn === 'sum' ? (r.sum as number) : a.fn === 'avg' ? (r.sum as number) / count : a.fn === 'min' ? (r.min as number) : (r.max as number);
      s.values[a.name][b] = v;
    }
  }
  const result: QueryResult & { truncated?: boolean } = {
    tenant,
    metric: q.metric,
    from: new Date(q.from).toISOString(),
    to: new Date(q.to).toISOString(),
    step: q.stepText,
    source,
    series: [...byGroup.values()],
  };
  if (truncated) result.truncated = true;
  return result;
}

/**
 * @example
 *   const qs = new QueryService(db);
 *   await qs.run('acme', parseQueries(body, Date.now()));
 */
export class QueryService {
  readonly cache = new QueryCache();

  private readonly rollupDimensions: ReadonlySet<string>;

  /** `rollupDimensions`: the dimensions the store's rollups keep (the metrics destination's). */
  constructor(
    private readonly db: Database,
    rollupDimensions: string[] = [],
  ) {
    this.rollupDimensions = new Set(rollupDimensions);
  }

  /** Marks a tenant's metric as changed (called by the metrics destination after a write). */
  invalidate(pairs: Array<{ tenant: string; metric: string }>): void {
    for (const p of pairs) this.cache.bump(p.tenant, p.metric);
  }

  /** Runs `fn` in one transaction under the tenant role: row-level security admits that tenant's rows only. */
  private asTenant<T>(tenant: string, fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      // SET LOCAL ROLE and the tenant setting in one round trip.
      await tx.query("select set_config('role', $1, true), set_config('sluice.tenant', $2, true)", [TENANT_ROLE, tenant]);
      return fn(tx);
    });
  }

  /**
   * A tenant's metrics of the last 30 days with their measures, and the dimensions seen in the
   * last day (a sample of points): what a chart editor suggests.
   */
  async catalog(tenant: string): Promise<CatalogMetric[]> {
    const rows = await this.asTenant(tenant, async (tx) => ({
      measures: await tx.query<{ metric: string; measures: string[] }>(
        `select metric, array_agg(distinct measure order by measure) as measures from sluice.metric_rollups
          where tenant = $1 and bucket > now() - interval '30 days' group by metric order by metric limit 500`,
        [tenant],
      ),
      dims: await tx.query<{ metric: string; dimensions: string[] }>(
        `select metric, array_agg(distinct k order by k) as dimensions
           from (select metric, dimensions from sluice.metric_points where tenant = $1 and time > now() - interval '1 day' limit 5000) p,
                jsonb_object_keys(p.dimensions) as k
          group by metric`,
        [tenant],
      ),
    }));
    const dims = new Map(rows.dims.map((r) => [r.metric, r.dimensions]));
    return rows.measures.map((r) => ({ name: r.metric, measures: r.measures.filter((m) => m !== ''), dimensions: dims.get(r.metric) ?? [] }));
  }

  /** Runs queries for one tenant, all in one transaction under that tenant's row-level security. */
  async run(tenant: string, queries: MetricQuery[]): Promise<QueryResult[]> {
    const out: Array<QueryResult | undefined> = queries.map((q) => this.cache.get(tenant, q));
    const missing = queries.map((q, i) => ({ q, i })).filter(({ i }) => out[i] === undefined);
    if (missing.length > 0) {
      const stamps = missing.map(({ q }) => this.cache.stamp(tenant, q.metric));
      const rows = await this.asTenant(tenant, async (tx) => {
        const answers: Array<{ source: 'rollups' | 'points'; rows: Row[] }> = [];
        for (const { q } of missing) {
          const sql = metricSql(tenant, q, this.rollupDimensions);
          answers.push({ source: sql.source, rows: await tx.query(sql.text, sql.params) });
        }
        return answers;
      });
      missing.forEach(({ q, i }, k) => {
        const result = shape(tenant, q, rows[k].source, rows[k].rows);
        this.cache.set(tenant, q, stamps[k], result);
        out[i] = result;
      });
    }
    return out as QueryResult[];
  }
}
