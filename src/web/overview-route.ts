/**
 * What the web UI reads besides queries and dashboards:
 *   GET /v1/admin/overview?minutes=60   (admin) activity across tenants, dead letters, intake, destination health
 *   GET /v1/admin/tenants               (admin) the tenants that have keys or dashboards
 *   GET /v1/catalog[?tenant=]           (read or admin) a tenant's metrics, their measures and dimensions
 */
import type { Context, Hono } from 'hono';
import type { AppContext } from '../api/app-context.ts';
import { bearer } from '../api/bearer.ts';
import { httpError } from '../api/http-error.ts';
import { TENANT_NAME } from '../auth/api-keys.ts';
import { MAX_OVERVIEW_MINUTES, type OverviewRow } from '../pipeline/activity.ts';
import { TENANT_ROLE } from '../store/migrations.ts';

export interface IntakeStatus {
  /** Bytes accepted by this process and not yet delivered. */
  pending_bytes: number;
  /** JetStream messages no worker has taken yet (API nodes in front of JetStream). */
  lag_messages: number | null;
  /** Entries in the SQL intake log not yet delivered, and the age of the oldest. */
  log_entries: number;
  oldest_seconds: number | null;
}

export type Health = 'ok' | 'retrying' | 'dead_lettering' | 'idle';

/** Per stream, from the last 15 minutes: retried writes mean the destination is failing now. */
function destinationHealth(rows: OverviewRow[], streams: Record<string, string>, now: number): Array<{ stream: string; destination: string; status: Health; delivered: number; retries: number; dead_lettered: number; last_delivered: string | null }> {
  const recent = now - 15 * 60_000;
  return Object.entries(streams).map(([stream, destination]) => {
    let delivered = 0;
    let retries = 0;
    let dead = 0;
    let last: string | null = null;
    for (const r of rows) {
      if (r.stream !== stream) continue;
      if (r.outcome === 'ok') last = r.minute > (last ?? '') ? r.minute : last;
      if (Date.parse(r.minute) < recent) continue;
      if (r.outcome === 'ok') delivered += r.n;
      else if (r.outcome === 'retried') retries += r.n;
      else if (r.outcome === 'dead_lettered') dead += r.n;
    }
    const status: Health = retries > 0 ? 'retrying' : dead > 0 ? 'dead_lettering' : delivered > 0 ? 'ok' : 'idle';
    return { stream, destination, status, delivered, retries, dead_lettered: dead, last_delivered: last };
  });
}

export function overviewRoutes(app: Hono, ctx: AppContext): void {
  const admin = async (c: Context): Promise<Response | null> => {
    const who = await bearer(c, ctx.keys, ['admin']);
    return who instanceof Response ? who : null;
  };

  app.get('/v1/admin/overview', async (c) => {
    const denied = await admin(c);
    if (denied) return denied;
    const minutes = Number(c.req.query('minutes') ?? 60);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_OVERVIEW_MINUTES) {
      return httpError(c, 400, 'invalid_request', `minutes: expected an integer from 1 to ${MAX_OVERVIEW_MINUTES}`);
    }
    // Counts still in this process's memory are written first, so the overview is current.
    await ctx.activity?.flush();
    const activity = (await ctx.activity?.since(Math.max(minutes, 15))) ?? [];
    const streams = Object.fromEntries(Object.entries(ctx.config.streams ?? {}).map(([name, s]) => [name, s.destination.type]));
    const now = Date.now();
    const from = new Date(Math.floor(now / 60_000) * 60_000 - minutes * 60_000).toISOString();
    return c.json({
      now: new Date(now).toISOString(),
      minutes,
      activity: activity.filter((r) => r.minute >= from),
      dead_letters: await ctx.deadLetters.counts(),
      intake: ctx.intakeStatus ? await ctx.intakeStatus() : null,
      destinations: destinationHealth(activity, streams, now),
    });
  });

  app.get('/v1/admin/tenants', async (c) => {
    const denied = await admin(c);
    if (denied) return denied;
    return c.json({ tenants: await ctx.dashboards.tenants() });
  });

  app.get('/v1/catalog', async (c) => {
    const who = await bearer(c, ctx.keys, ['read', 'admin']);
    if (who instanceof Response) return who;
    const named = c.req.query('tenant');
    let tenant = who.tenant;
    if (who.kind === 'admin') {
      if (!named || !TENANT_NAME.test(named)) return httpError(c, 400, 'invalid_request', 'an admin key must name the tenant (?tenant=)');
      tenant = named;
    } else if (named !== undefined && named !== who.tenant) {
      return httpError(c, 403, 'forbidden_tenant', `this read key belongs to tenant ${who.tenant}; it cannot read another tenant's catalog`);
    }
    // Under the tenant role, as queries are: row-level security admits this tenant's rows only.
    const rows = await ctx.db.transaction(async (tx) => {
      await tx.query("select set_config('role', $1, true), set_config('sluice.tenant', $2, true)", [TENANT_ROLE, tenant]);
      const measures = await tx.query<{ metric: string; measures: string[] }>(
        `select metric, array_agg(distinct measure order by measure) as measures from sluice.metric_rollups
          where tenant = $1 and bucket > now() - interval '30 days' group by metric order by metric limit 500`,
        [tenant],
      );
      const dims = await tx.query<{ metric: string; dimensions: string[] }>(
        `select metric, array_agg(distinct k order by k) as dimensions
           from (select metric, dimensions from sluice.metric_points where tenant = $1 and time > now() - interval '1 day' limit 5000) p,
                jsonb_object_keys(p.dimensions) as k
          group by metric`,
        [tenant],
      );
      return { measures, dims };
    });
    const dims = new Map(rows.dims.map((r) => [r.metric, r.dimensions]));
    return c.json({
      tenant,
      metrics: rows.measures.map((r) => ({ name: r.metric, measures: r.measures.filter((m) => m !== ''), dimensions: dims.get(r.metric) ?? [] })),
    });
  });
}
