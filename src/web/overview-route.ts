/**
 * What the web UI reads besides queries and dashboards:
 *   GET /v1/admin/overview?minutes=60   (admin) activity across tenants, dead letters, intake, destination health
 *   GET /v1/admin/tenants               (admin) the tenants that have keys or dashboards
 *   GET /v1/catalog[?tenant=]           (read or admin) a tenant's metrics, their measures and dimensions
 */
import type { Context, Hono } from 'hono';
import type { AppContext } from '../api/app-context.ts';
import { bearer, tenantScope } from '../api/bearer.ts';
import { httpError } from '../api/http-error.ts';
import { MAX_OVERVIEW_MINUTES, type OverviewRow } from '../pipeline/activity.ts';

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
    const tenant = await tenantScope(c, ctx.keys, ['read', 'admin'], c.req.query('tenant'), 'catalog');
    if (tenant instanceof Response) return tenant;
    return c.json({ tenant, metrics: await ctx.queries.catalog(tenant) });
  });
}
