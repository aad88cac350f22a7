/**
 * Dashboards: a tenant's named grid of charts, each a saved metric query (metric, aggregation,
 * group by, filters) with how to draw it. Stored in `sluice.dashboards` with the charts in order
 * as one JSON document, so a reorder is one atomic write; `version` guards concurrent editors.
 */
import { randomBytes } from 'node:crypto';
import { isRecord } from '../core/is-record.ts';
import { parseQueries, QueryError } from '../query/parse-query.ts';
import type { Database } from '../store/database.ts';

export const CHART_TYPES = ['line', 'area', 'bar'] as const;
export type ChartType = (typeof CHART_TYPES)[number];
export const DASHBOARD_LIMITS = { charts: 24, name: 120, title: 120, unit: 16, perTenant: 200 } as const;

export interface Chart {
  id: string;
  title: string;
  metric: string;
  /** One aggregation as the query API writes it: `count`, `sum:new_findings_count`. */
  aggregation: string;
  group_by: string[];
  filters: Record<string, string[]>;
  type: ChartType;
  /** What the values count or measure, shown on the axis and in the tooltip (`findings`, `ms`, `€`). */
  unit: string;
}

export interface Dashboard {
  id: string;
  tenant: string;
  name: string;
  charts: Chart[];
  position: number;
  version: number;
  created_at: string;
  updated_at: string;
}

export class DashboardError extends Error {}

const newId = (): string => randomBytes(9).toString('base64url');

function text(v: unknown, path: string, max: number, fallback?: string): string {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'string' || v.trim().length === 0 || v.length > max) throw new DashboardError(`${path}: expected a non-empty string of at most ${max} characters`);
  return v.trim();
}

/** Checks a chart as an editor sent it; the query parts are checked by the query language itself. */
export function parseChart(v: unknown, path: string): Chart {
  if (!isRecord(v)) throw new DashboardError(`${path}: expected a chart object`);
  const allowed = ['id', 'title', 'metric', 'aggregation', 'group_by', 'filters', 'type', 'unit'];
  for (const k of Object.keys(v)) if (!allowed.includes(k)) throw new DashboardError(`${path}.${k}: unknown field; allowed: ${allowed.join(', ')}`);
  const type = v.type ?? 'line';
  if (!CHART_TYPES.includes(type as ChartType)) throw new DashboardError(`${path}.type: expected one of ${CHART_TYPES.join(', ')}`);
  const aggregation = v.aggregation ?? 'count';
  let q;
  try {
    [q] = parseQueries({ metric: v.metric, from: 'now-1h', step: '1m', aggregations: [aggregation], group_by: v.group_by, filters: v.filters }, Date.now());
  } catch (e) {
    if (e instanceof QueryError) throw new DashboardError(`${path}${e.path.replace(/^query/, '').replace(/\.aggregations\[0\]$/, '.aggregation')}: ${e.message.slice(e.path.length + 2)}`);
    throw e;
  }
  if (q.groupBy.length > 2) throw new DashboardError(`${path}.group_by: a chart groups by at most 2 dimensions`);
  const id = v.id === undefined ? newId() : text(v.id, `${path}.id`, 32);
  return {
    id,
    title: text(v.title, `${path}.title`, DASHBOARD_LIMITS.title, q.metric),
    metric: q.metric,
    aggregation: q.aggregations[0].name,
    group_by: q.groupBy,
    filters: Object.fromEntries(q.filters.map((f) => [f.dimension, f.values])),
    type: type as ChartType,
    unit: v.unit === undefined || v.unit === '' ? '' : text(v.unit, `${path}.unit`, DASHBOARD_LIMITS.unit),
  };
}

/** A dashboard body (`name`, `charts`, optional `position`) as a create or update sent it. */
export function parseDashboardBody(v: unknown): { name: string; charts: Chart[]; position?: number; version?: number; tenant?: string } {
  if (!isRecord(v)) throw new DashboardError('body: expected a dashboard object { name, charts }');
  const allowed = ['tenant', 'name', 'charts', 'position', 'version'];
  for (const k of Object.keys(v)) if (!allowed.includes(k)) throw new DashboardError(`${k}: unknown field; allowed: ${allowed.join(', ')}`);
  const name = text(v.name, 'name', DASHBOARD_LIMITS.name);
  const list = v.charts ?? [];
  if (!Array.isArray(list) || list.length > DASHBOARD_LIMITS.charts) throw new DashboardError(`charts: expected a list of at most ${DASHBOARD_LIMITS.charts} charts`);
  const charts = list.map((c, i) => parseChart(c, `charts[${i}]`));
  const ids = new Set(charts.map((c) => c.id));
  if (ids.size !== charts.length) throw new DashboardError('charts: two charts have the same id');
  if (v.position !== undefined && !(Number.isInteger(v.position) && (v.position as number) >= 0 && (v.position as number) < 10_000)) {
    throw new DashboardError('position: expected an integer from 0 to 9999');
  }
  if (v.version !== undefined && !(Number.isInteger(v.version) && (v.version as number) > 0)) throw new DashboardError('version: expected the version the edit started from');
  if (v.tenant !== undefined && typeof v.tenant !== 'string') throw new DashboardError('tenant: expected a tenant name');
  return { name, charts, position: v.position as number | undefined, version: v.version as number | undefined, tenant: v.tenant as string | undefined };
}

type DashboardRow = {
  id: string;
  tenant: string;
  name: string;
  charts: Chart[] | string;
  position: number;
  version: number;
  created_at: Date | string;
  updated_at: Date | string;
};

const toDashboard = (r: DashboardRow): Dashboard => ({
  id: r.id,
  tenant: r.tenant,
  name: r.name,
  charts: typeof r.charts === 'string' ? (JSON.parse(r.charts) as Chart[]) : r.charts,
  position: r.position,
  version: r.version,
  created_at: new Date(r.created_at).toISOString(),
  updated_at: new Date(r.updated_at).toISOString(),
});

const COLUMNS = 'id, tenant, name, charts, position, version, created_at, updated_at';

/**
 * Every method takes the tenant: a dashboard of another tenant is never found.
 *
 * @example
 *   const ds = new Dashboards(db);
 *   const d = await ds.create('acme', { name: 'Findings', charts: [parseChart({ metric: 'findings_upload_completed' }, 'c')] });
 */
export class Dashboards {
  constructor(private readonly db: Database) {}

  async list(tenant: string): Promise<Dashboard[]> {
    const rows = await this.db.query<DashboardRow>(`select ${COLUMNS} from sluice.dashboards where tenant = $1 order by position, name, id`, [tenant]);
    return rows.map(toDashboard);
  }

  async get(tenant: string, id: string): Promise<Dashboard | null> {
    const rows = await this.db.query<DashboardRow>(`select ${COLUMNS} from sluice.dashboards where tenant = $1 and id = $2`, [tenant, id]);
    return rows[0] ? toDashboard(rows[0]) : null;
  }

  async create(tenant: string, d: { name: string; charts: Chart[]; position?: number }): Promise<Dashboard> {
    const rows = await this.db.query<DashboardRow>(
      `insert into sluice.dashboards (id, tenant, name, charts, position)
       select $1, $2, $3, $4::text::jsonb, coalesce($5::int, (select coalesce(max(position) + 1, 0) from sluice.dashboards where tenant = $2))
        where (select count(*) from sluice.dashboards where tenant = $2) < $6
       returning ${COLUMNS}`,
      [newId(), tenant, d.name, JSON.stringify(d.charts), d.position ?? null, DASHBOARD_LIMITS.perTenant],
    );
    if (!rows[0]) throw new DashboardError(`tenant ${tenant} already has ${DASHBOARD_LIMITS.perTenant} dashboards; delete one first`);
    return toDashboard(rows[0]);
  }

  /** Replaces name, charts and position; with `version`, only if nobody saved since (else 'conflict'). */
  async update(tenant: string, id: string, d: { name: string; charts: Chart[]; position?: number; version?: number }): Promise<Dashboard | null | 'conflict'> {
    const rows = await this.db.query<DashboardRow>(
      `update sluice.dashboards set name = $3, charts = $4::text::jsonb, position = coalesce($5::int, position), version = version + 1, updated_at = now()
        where tenant = $1 and id = $2 and ($6::int is null or version = $6::int)
       returning ${COLUMNS}`,
      [tenant, id, d.name, JSON.stringify(d.charts), d.position ?? null, d.version ?? null],
    );
    if (rows[0]) return toDashboard(rows[0]);
    return (await this.get(tenant, id)) ? 'conflict' : null;
  }

  async remove(tenant: string, id: string): Promise<boolean> {
    const rows = await this.db.query('delete from sluice.dashboards where tenant = $1 and id = $2 returning id', [tenant, id]);
    return rows.length > 0;
  }

  /** The tenants that have dashboards or keys (the admin's tenant picker). */
  async tenants(): Promise<string[]> {
    const rows = await this.db.query<{ tenant: string }>(
      "select tenant from sluice.dashboards union select tenant from sluice.api_keys where tenant <> '*' and revoked_at is null order by tenant",
    );
    return rows.map((r) => r.tenant);
  }
}
