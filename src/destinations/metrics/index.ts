/**
 * `metrics`: the tenant-isolated metrics store (see metric-point.ts for the record mapping and
 * metrics-store.ts for the storage).
 */
import type { MetricsDestinationConfig } from '../../config/config.ts';
import type { Database } from '../../store/database.ts';
import type { Destination, DeliveryFailure } from '../destination.ts';
import { MetricsStore } from './metrics-store.ts';
import { toPoint, type MetricPoint } from './metric-point.ts';

export const DEFAULT_RETENTION_DAYS = 400;

export interface MetricsDestinationContext {
  db: Database;
  /** Told which tenant and metric got new points (the query cache listens). */
  onWritten?: (pairs: Array<{ tenant: string; metric: string }>) => void;
  now?: () => number;
  /** Dimensions holding pseudonyms (the stream's hashed fields), indexed for erasure. */
  subjectDimensions?: string[];
}

export function createMetricsDestination(config: MetricsDestinationConfig, ctx: MetricsDestinationContext): Destination {
  const store = new MetricsStore(ctx.db, { rollupDimensions: config.rollup_dimensions, subjectDimensions: ctx.subjectDimensions });
  const retention = config.retention_days ?? DEFAULT_RETENTION_DAYS;
  const now = ctx.now ?? Date.now;
  return {
    kind: 'metrics',
    // Inserts are idempotent and rollups additive: two batches may be written at once.
    concurrency: 2,
    async open() {
      await store.prepare();
    },
    async write(records, batch) {
      const failures: DeliveryFailure[] = [];
      const points: MetricPoint[] = [];
      const t = now();
      records.forEach((r, index) => {
        const p = toPoint(r.value, r.id, r.source_tenant, t, retention);
        if (p.ok) points.push(p.point);
        else failures.push({ index, code: p.code, reason: p.reason });
      });
      await store.write(points, batch.erasureEpoch);
      if (ctx.onWritten && points.length > 0) {
        const seen = new Map<string, { tenant: string; metric: string }>();
        for (const p of points) seen.set(p.tenant + '\u0000' + p.metric, { tenant: p.tenant, metric: p.metric });
        ctx.onWritten([...seen.values()]);
      }
      return failures;
    },
    async maintain() {
      await store.applyRetention(retention, now());
    },
  };
}
