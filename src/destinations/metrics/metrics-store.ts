/**
 * Writes points to the metrics store: one statement per batch inserts the points (skipping
 * record ids already stored) and adds exactly the inserted ones to the hourly rollups. Day
 * partitions are created on first use; retention drops whole partitions.
 */
import { sqlState, type Database } from '../../store/database.ts';
import type { MetricPoint } from './metric-point.ts';

const INSERT = `
with input as (
  select * from json_to_recordset($1::text::json)
    as x(tenant text, metric text, time timestamptz, record_id text, dimensions jsonb, measures jsonb)
), inserted as (
  insert into sluice.metric_points (tenant, metric, time, record_id, dimensions, measures)
  select tenant, metric, time, record_id, dimensions, measures from input
  on conflict do nothing
  returning tenant, metric, time, dimensions, measures
), agg as (
  select tenant, metric, date_trunc('hour', time, 'UTC') as bucket, '' as measure, dimensions,
         count(*) as count, 0::float8 as sum, null::float8 as min, null::float8 as max
    from inserted group by 1, 2, 3, 5
  union all
  select i.tenant, i.metric, date_trunc('hour', i.time, 'UTC'), m.key, i.dimensions,
         count(*), sum(m.value::float8), min(m.value::float8), max(m.value::float8)
    from inserted i, jsonb_each_text(i.measures) m group by 1, 2, 3, 4, 5
), rolled as (
  insert into sluice.metric_rollups as r (tenant, metric, bucket, measure, dimensions, count, sum, min, max)
  select * from agg
  on conflict (tenant, metric, bucket, measure, dimensions) do update
    set count = r.count + excluded.count, sum = r.sum + excluded.sum,
        min = least(r.min, excluded.min), max = greatest(r.max, excluded.max)
  returning 1
)
select (select count(*) from inserted)::int as inserted, (select count(*) from rolled)::int as rolled`;

const DAY_MS = 86_400_000;
const dayOf = (iso: string): string => iso.slice(0, 10);
const partitionName = (day: string): string => `metric_points_${day.replace(/-/g, '')}`;

/**
 * @example
 *   const store = new MetricsStore(db);
 *   await store.write([{ tenant: 'acme', metric: 'm', time: '2026-01-01T00:00:00Z', record_id: 'e:1', dimensions: {}, measures: { n: 1 } }]);
 */
export class MetricsStore {
  private readonly days = new Set<string>();

  constructor(private readonly db: Database) {}

  private async ensurePartitions(points: MetricPoint[]): Promise<void> {
    const wanted = new Set<string>();
    for (const p of points) {
      const d = dayOf(p.time);
      if (!this.days.has(d)) wanted.add(d);
    }
    for (const day of wanted) {
      const to = new Date(Date.parse(day) + DAY_MS).toISOString().slice(0, 10);
      try {
        await this.db.query(
          `create table if not exists sluice.${partitionName(day)} partition of sluice.metric_points for values from ('${day}') to ('${to}')`,
        );
      } catch (e) {
        // Another process created it between our check and our statement.
        if (sqlState(e) !== '42P07' && sqlState(e) !== '23505') throw e;
      }
      this.days.add(day);
    }
  }

  /** Writes points; returns how many were new (the rest were already stored). */
  async write(points: MetricPoint[]): Promise<number> {
    if (points.length === 0) return 0;
    await this.ensurePartitions(points);
    const rows = await this.db.query<{ inserted: number }>(INSERT, [JSON.stringify(points)]);
    return rows[0].inserted;
  }

  /** Drops day partitions and rollups older than `retentionDays`. */
  async applyRetention(retentionDays: number, now = Date.now()): Promise<string[]> {
    const cutoff = new Date(now - retentionDays * DAY_MS).toISOString().slice(0, 10);
    const parts = await this.db.query<{ name: string }>(
      `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
        join pg_class p on p.oid = i.inhparent join pg_namespace n on n.oid = p.relnamespace
       where n.nspname = 'sluice' and p.relname = 'metric_points'`,
    );
    const dropped: string[] = [];
    for (const { name } of parts) {
      const m = /^metric_points_(\d{4})(\d{2})(\d{2})$/.exec(name);
      if (!m) continue;
      const day = `${m[1]}-${m[2]}-${m[3]}`;
      if (day < cutoff) {
        await this.db.query(`drop table if exists sluice.${name}`);
        this.days.delete(day);
        dropped.push(day);
      }
    }
    await this.db.query('delete from sluice.metric_rollups where bucket < $1::timestamptz', [cutoff]);
    return dropped;
  }
}
