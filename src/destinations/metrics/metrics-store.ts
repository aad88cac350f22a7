/**
 * Writes points to the metrics store: one transaction per batch loads the points with COPY and
 * adds them to the hourly rollups; a batch holding points already stored is written instead by an
 * INSERT that skips them and adds exactly the inserted ones. Day partitions are created on first
 * use; retention drops whole partitions.
 *
 * Rollups keep only the dimensions named in `rollupDimensions` (low-cardinality ones such as
 * plan or country): a rollup per user id would be as large as the points and cost as much to
 * write. Queries grouping or filtering on another dimension read the points. When the set
 * changes, `prepare` rebuilds the rollups from the points, so they always agree.
 */
import { sqlState, type Database, type Queryable } from '../../store/database.ts';
import type { MetricPoint } from './metric-point.ts';
import { copyJson, copyText } from '../../store/copy-text.ts';
import { dimensionText, subjectKey } from '../../store/subject-key.ts';
import { fenceStep } from '../../privacy/fence.ts';

/** Hourly aggregates of a set of points `p(tenant, metric, time, rolled, measures)`. */
const aggregate = (points: string): string => `
  select tenant, metric, date_trunc('hour', time, 'UTC') as bucket, '' as measure, rolled as dimensions,
         count(*) as count, 0::float8 as sum, null::float8 as min, null::float8 as max
    from ${points} group by 1, 2, 3, 5
  union all
  select i.tenant, i.metric, date_trunc('hour', i.time, 'UTC'), m.key, i.rolled,
         count(*), sum(m.value::float8), min(m.value::float8), max(m.value::float8)
    from ${points} i, jsonb_each_text(i.measures) m group by 1, 2, 3, 4, 5`;

/**
 * The points of a batch as the fallback INSERT reads them: a JSON array with one array per point,
 * `[tenant, metric, time, record_id, dimensions, measures, rolled]`, read by position (arrays,
 * not objects: the database builds its jsonb without sorting each point's keys), in the order
 * the writer sent them (`n`).
 */
const POINTS_FROM = `
  select x->>0 as tenant, x->>1 as metric, (x->>2)::timestamptz as time, x->>3 as record_id, x->4 as dimensions, x->5 as measures, x->6 as rolled, n
    from jsonb_array_elements($1::text::jsonb) with ordinality as e(x, n)`;

/** The columns COPY loads a point into, in the order of {@link pointLine}'s fields. */
const POINTS_COPY = 'sluice.metric_points (tenant, metric, time, record_id, dimensions, measures)';

// The tenant and metric escaped last: consecutive points mostly share them.
const escaped = { tenant: '', tenantField: '', metric: '', metricField: '' };

/** A point as a line of COPY's text format (times are normalized ISO 8601: nothing to escape). */
function pointLine(p: MetricPoint): string {
  if (p.tenant !== escaped.tenant) escaped.tenantField = copyText((escaped.tenant = p.tenant));
  if (p.metric !== escaped.metric) escaped.metricField = copyText((escaped.metric = p.metric));
  return `${escaped.tenantField}\t${escaped.metricField}\t${p.time}\t${copyText(p.record_id)}\t${copyJson(JSON.stringify(p.dimensions))}\t${copyJson(JSON.stringify(p.measures))}\n`;
}

/** Adds pre-aggregated rollups (`$1`, rows as {@link RollupRow}) to the stored ones. */
const ADD_ROLLUPS = `
  insert into sluice.metric_rollups as r (tenant, metric, bucket, measure, dimensions, count, sum, min, max)
  select * from jsonb_to_recordset($1::text::jsonb)
    as pre(tenant text, metric text, bucket timestamptz, measure text, dimensions jsonb, count bigint, sum float8, min float8, max float8)
  order by tenant, metric, bucket, measure, dimensions
  on conflict (tenant, metric, bucket, measure, dimensions) do update
    set count = r.count + excluded.count, sum = r.sum + excluded.sum,
        min = least(r.min, excluded.min), max = greatest(r.max, excluded.max)`;

// The fallback when a point of a batch is already stored (a redelivery, or another process
// writing it at the same moment): inserts the points not yet stored and adds exactly those to the
// rollups, aggregated by the database. `rolled` is the point's dimensions restricted to the rollup
// dimensions; the writer computes it and removes duplicate points from the batch, so each
// inserted point joins one input row.
const INSERT = `
with input as (${POINTS_FROM}
), inserted as (
  insert into sluice.metric_points (tenant, metric, time, record_id, dimensions, measures)
  select tenant, metric, time, record_id, dimensions, measures from input order by n
  on conflict do nothing
  returning tenant, metric, time, record_id
), fresh as (
  select tenant, metric, time, x.rolled, x.measures from inserted join input x using (tenant, metric, time, record_id)
), agg as (${aggregate('fresh')}
), rolled as (
  insert into sluice.metric_rollups as r (tenant, metric, bucket, measure, dimensions, count, sum, min, max)
  select * from agg order by tenant, metric, bucket, measure, dimensions
  on conflict (tenant, metric, bucket, measure, dimensions) do update
    set count = r.count + excluded.count, sum = r.sum + excluded.sum,
        min = least(r.min, excluded.min), max = greatest(r.max, excluded.max)
  returning 1
)
select (select count(*) from inserted)::int as inserted, (select count(*) from rolled)::int as rolled`;

/**
 * The order points are written in, the same in every writer, so two batches written at once
 * cannot deadlock on the same keys: by record id (mostly unique, so mostly one comparison), then
 * the rest of the key. Points with the same key compare equal and keep their order.
 */
function keyOrder(a: MetricPoint, b: MetricPoint): number {
  if (a.record_id !== b.record_id) return a.record_id < b.record_id ? -1 : 1;
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  if (a.tenant !== b.tenant) return a.tenant < b.tenant ? -1 : 1;
  if (a.metric !== b.metric) return a.metric < b.metric ? -1 : 1;
  return 0;
}

/** A rollup row as ADD_ROLLUPS takes it. */
interface RollupRow {
  tenant: string;
  metric: string;
  bucket: string;
  measure: string;
  dimensions: Record<string, string>;
  count: number;
  sum: number;
  min: number | null;
  max: number | null;
}

/** A batch's points without repeats, each with its rollup dimensions (`rolled`) and their JSON (`rolledKey`). */
interface Deduped {
  points: MetricPoint[];
  rolled: Array<Record<string, string>>;
  rolledKey: string[];
}

/** Points per transaction (see `write`). */
const WRITE_BATCH_POINTS = 1000;

/** A subject index's name is this and the dimension's. */
const SUBJECT_INDEX = 'metric_points_key_';

const NO_DIMENSIONS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** The start of a point's hour, ISO 8601 (points' times are normalized: `YYYY-MM-DDTHH:MM:SS.sssZ`). */
function hourOf(time: string): string {
  if (time.length === 24) return `${time.slice(0, 13)}:00:00.000Z`;
  const t = Date.parse(time);
  return new Date(t - (((t % 3_600_000) + 3_600_000) % 3_600_000)).toISOString();
}

/** Adds one value (null: the point count) to the group's row of `measure`, a new row going to `out` as well. */
function addTo(rows: Map<string, RollupRow>, out: RollupRow[], p: MetricPoint, bucket: string, rolled: Record<string, string>, measure: string, value: number | null): void {
  const r = rows.get(measure);
  if (!r) {
    const row = { tenant: p.tenant, metric: p.metric, bucket, measure, dimensions: rolled, count: 1, sum: value ?? 0, min: value, max: value };
    rows.set(measure, row);
    out.push(row);
  } else {
    r.count++;
    if (value !== null) {
      r.sum += value;
      if (value < r.min!) r.min = value;
      if (value > r.max!) r.max = value;
    }
  }
}

/**
 * The hourly rollups of points, as `aggregate` computes them in SQL: measure '' counts the points,
 * each measure its values. Points of one group (tenant, metric, hour, rollup dimensions) hold
 * their rows by measure name; consecutive points mostly share their group, found once for them.
 */
export function rollupsOf({ points, rolled, rolledKey }: Deduped): RollupRow[] {
  const groups = new Map<string, Map<string, RollupRow>>();
  const out: RollupRow[] = [];
  let rows = new Map<string, RollupRow>();
  let prev: MetricPoint | undefined;
  let prevBucket = '';
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    const bucket = prev !== undefined && p.time === prev.time ? prevBucket : hourOf(p.time);
    // The previous point's group, unless one of the group's parts differs.
    if (prev === undefined || p.tenant !== prev.tenant || p.metric !== prev.metric || bucket !== prevBucket || rolledKey[i] !== rolledKey[i - 1]) {
      const key = `${p.tenant}\u0000${p.metric}\u0000${bucket}\u0000${rolledKey[i]}`;
      const found = groups.get(key);
      if (found) rows = found;
      else groups.set(key, (rows = new Map()));
    }
    addTo(rows, out, p, bucket, rolled[i], '', null);
    for (const m in p.measures) addTo(rows, out, p, bucket, rolled[i], m, p.measures[m]);
    prev = p;
    prevBucket = bucket;
  }
  return out;
}

const DAY_MS = 86_400_000;
const dayOf = (iso: string): string => iso.slice(0, 10);
const partitionName = (day: string): string => `metric_points_${day.replace(/-/g, '')}`;

const ROLLUP_SETTING = 'metrics.rollup_dimensions';

/**
 * Statements that recompute every rollup from the points, with writers held off (they take ROW
 * EXCLUSIVE on the rollups; this waits for those in flight and then blocks new ones until it
 * commits). Dimension names are parameters; a missing dimension is left out (strip_nulls).
 */
/** SQL for a point's rollup dimensions; the names are parameters from `$<first>` on. */
function rolledSql(dimensions: string[], first: number): string {
  if (dimensions.length === 0) return `'{}'::jsonb`;
  return `jsonb_strip_nulls(jsonb_build_object(${dimensions.map((_, i) => `$${i + first}::text, dimensions->$${i + first}::text`).join(', ')}))`;
}

function rebuild(dimensions: string[]): Array<{ text: string; params: string[] }> {
  const rolled = rolledSql(dimensions, 1);
  return [
    { text: 'lock table sluice.metric_rollups in exclusive mode', params: [] },
    { text: 'delete from sluice.metric_rollups', params: [] },
    {
      text: `with p as (select tenant, metric, time, measures, ${rolled} as rolled from sluice.metric_points)
             insert into sluice.metric_rollups (tenant, metric, bucket, measure, dimensions, count, sum, min, max) ${aggregate('p')}`,
      params: dimensions,
    },
  ];
}

export interface MetricsStoreOptions {
  /** Dimensions the hourly rollups keep (default none: one rollup per tenant, metric, hour and measure). */
  rollupDimensions?: string[];
  /** Dimensions holding pseudonyms, indexed for erasure. */
  subjectDimensions?: string[];
}

/**
 * @example
 *   const store = new MetricsStore(db, { rollupDimensions: ['plan'] });
 *   await store.prepare();
 *   await store.write([{ tenant: 'acme', metric: 'm', time: '2026-01-01T00:00:00Z', record_id: 'e:1', dimensions: { plan: 'pro' }, measures: { n: 1 } }]);
 */
export class MetricsStore {
  private readonly days = new Set<string>();
  readonly rollupDimensions: string[];
  private readonly subjectDimensions: string[];

  constructor(
    private readonly db: Database,
    opts: MetricsStoreOptions = {},
  ) {
    this.rollupDimensions = [...new Set(opts.rollupDimensions ?? [])].sort();
    this.subjectDimensions = [...new Set(opts.subjectDimensions ?? [])].filter((d) => /^[a-z_][a-z0-9_]{0,40}$/.test(d));
  }

  /**
   * The dimensions that have a subject index, made by this config or an earlier one: those
   * whose points erasure can find (and the only ones it searches).
   */
  async indexedSubjectDimensions(): Promise<string[]> {
    const rows = await this.db.query<{ name: string }>(
      "select substr(indexname, length($1) + 1) as name from pg_indexes where schemaname = 'sluice' and tablename = 'metric_points' and starts_with(indexname, $1)",
      [SUBJECT_INDEX],
    );
    return rows.map((r) => r.name);
  }

  /**
   * Makes the rollups match `rollupDimensions`: when the store was rolled up with another set
   * (or by a version that kept every dimension), rebuilds them from the points. Returns whether
   * it rebuilt.
   */
  async prepare(): Promise<boolean> {
    for (const d of this.subjectDimensions) {
      // A btree on the pseudonym's 64-bit hash (subject-key.ts). Not a hash index: a subject has
      // many points, and a hash index keeps all of a key's entries in one bucket chain that
      // every insert walks to its end (docs/benchmarks.md). The indexes of earlier versions (a
      // btree on the pseudonym itself, then a hash index) are dropped.
      await this.db.query(`create index if not exists ${SUBJECT_INDEX}${d} on sluice.metric_points (${subjectKey(dimensionText(d))})`);
      for (const old of [`metric_points_subject_${d}`, `metric_points_hash_${d}`]) await this.db.query(`drop index if exists sluice.${old}`);
    }
    const wanted = JSON.stringify(this.rollupDimensions);
    return this.db.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock(727112)');
      const rows = await tx.query<{ value: string }>('select value from sluice.settings where name = $1', [ROLLUP_SETTING]);
      if (rows[0]?.value === wanted) return false;
      const [{ any }] = await tx.query<{ any: boolean }>('select exists (select 1 from sluice.metric_points) as any');
      if (any) for (const { text, params } of rebuild(this.rollupDimensions)) await tx.query(text, params);
      await tx.query('insert into sluice.settings (name, value) values ($1, $2) on conflict (name) do update set value = excluded.value', [ROLLUP_SETTING, wanted]);
      return any;
    });
  }

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

  /**
   * Recomputes the rollups of some hours from the points (after points were deleted, in the
   * caller's transaction). `bucket` is the hour's start, ISO 8601.
   */
  async recompute(tx: Queryable, buckets: Array<{ tenant: string; metric: string; bucket: string }>): Promise<void> {
    const touched = `select distinct tenant, metric, bucket::timestamptz as bucket from json_to_recordset($1::text::json) as x(tenant text, metric text, bucket text)`;
    const list = JSON.stringify(buckets);
    await tx.query(`delete from sluice.metric_rollups r using (${touched}) t where r.tenant = t.tenant and r.metric = t.metric and r.bucket = t.bucket`, [list]);
    await tx.query(
      `with t as (${touched}),
       p as (select q.tenant, q.metric, q.time, q.measures, ${rolledSql(this.rollupDimensions, 2)} as rolled
               from sluice.metric_points q join t on q.tenant = t.tenant and q.metric = t.metric and q.time >= t.bucket and q.time < t.bucket + interval '1 hour')
       insert into sluice.metric_rollups (tenant, metric, bucket, measure, dimensions, count, sum, min, max) ${aggregate('p')}`,
      [list, ...this.rollupDimensions],
    );
  }

  /**
   * Writes points; returns how many were new (the rest were already stored). A large batch goes
   * in transactions of at most WRITE_BATCH_POINTS, each atomic with its rollups: on the
   * embedded database, one session, an intake log commit waits for the batch before it, and
   * a request's acknowledgement with it. With the erasure epoch its points were checked at, each
   * transaction is fenced (privacy/fence.ts).
   */
  async write(points: MetricPoint[], erasureEpoch?: number): Promise<number> {
    if (points.length === 0) return 0;
    await this.ensurePartitions(points);
    const all = this.dedupe([...points].sort(keyOrder));
    let inserted = 0;
    for (let i = 0; i < all.points.length; i += WRITE_BATCH_POINTS) {
      const end = i + WRITE_BATCH_POINTS;
      inserted += await this.writeDeduped({ points: all.points.slice(i, end), rolled: all.rolled.slice(i, end), rolledKey: all.rolledKey.slice(i, end) }, erasureEpoch);
    }
    return inserted;
  }

  /**
   * A batch of new points (the common case) is loaded with COPY and its rollups, aggregated here,
   * added in the same transaction. When a point is already stored the COPY fails on the primary
   * key, nothing of the batch stays, and the INSERT that skips stored points writes it.
   */
  private async writeDeduped(batch: Deduped, erasureEpoch: number | undefined): Promise<number> {
    const fence = erasureEpoch === undefined ? [] : [fenceStep(erasureEpoch)];
    try {
      let lines = '';
      for (const p of batch.points) lines += pointLine(p);
      const done = await this.db.batch([...fence, { copy: POINTS_COPY, rows: lines }, { sql: ADD_ROLLUPS, params: [JSON.stringify(rollupsOf(batch))] }]);
      return done[fence.length] as number;
    } catch (e) {
      // 23505: a point of the batch is already stored.
      if (sqlState(e) !== '23505') throw e;
    }
    const rows = batch.points.map((p, i) => [p.tenant, p.metric, p.time, p.record_id, p.dimensions, p.measures, batch.rolled[i]]);
    const done = await this.db.batch([...fence, { sql: INSERT, params: [JSON.stringify(rows)] }]);
    return (done[fence.length] as Array<{ inserted: number }>)[0].inserted;
  }

  /** The batch without repeated points (first one wins, as the insert would), with their rollup dimensions. */
  private dedupe(points: MetricPoint[]): Deduped {
    // By record id: a point is a repeat of the first with its id when tenant, metric and time
    // agree too. Other points reusing an id (rare) are told apart by their whole key.
    const first = new Map<string, MetricPoint>();
    let others: Set<string> | undefined;
    const out: Deduped = { points: [], rolled: [], rolledKey: [] };
    const dims = this.rollupDimensions;
    for (const p of points) {
      const f = first.get(p.record_id);
      if (f === undefined) first.set(p.record_id, p);
      else {
        // Times of points are normalized ISO strings (toPoint), so equal instants are equal strings.
        if (p.tenant === f.tenant && p.metric === f.metric && p.time === f.time) continue;
        const key = `${p.tenant}\u0000${p.metric}\u0000${p.time}\u0000${p.record_id}`;
        if (others?.has(key)) continue;
        (others ??= new Set()).add(key);
      }
      let rolled = NO_DIMENSIONS;
      if (dims.length > 0) {
        rolled = {};
        for (const d of dims) if (Object.hasOwn(p.dimensions, d)) rolled[d] = p.dimensions[d];
      }
      out.points.push(p);
      out.rolled.push(rolled);
      out.rolledKey.push(rolled === NO_DIMENSIONS ? '{}' : JSON.stringify(rolled));
    }
    return out;
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
