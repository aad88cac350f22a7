/**
 * `/v1/dashboards`: a read key lists and reads its own tenant's dashboards; an admin key reads and
 * writes any tenant's (the tenant in `?tenant=` or the body). A dashboard of another tenant is
 * never found, whatever the id.
 *   GET    /v1/dashboards[?tenant=]         list, in order
 *   POST   /v1/dashboards                   { tenant, name, charts, position? }       admin
 *   GET    /v1/dashboards/:id[?tenant=]
 *   PUT    /v1/dashboards/:id               { tenant, name, charts, position?, version? }   admin
 *   DELETE /v1/dashboards/:id?tenant=                                               admin
 */
import type { Context, Hono } from 'hono';
import type { AppContext } from '../api/app-context.ts';
import { tenantScope } from '../api/bearer.ts';
import { httpError } from '../api/http-error.ts';
import { readJsonBody } from '../api/read-body.ts';
import { DashboardError, parseDashboardBody } from './dashboards.ts';

const MAX_BODY = 256 * 1024;

/** The tenant a request acts for (reads: read or admin key; writes: admin key), or an error response. */
const tenantOf = (c: Context, app: AppContext, write: boolean, named: string | undefined): Promise<string | Response> =>
  tenantScope(c, app.keys, write ? ['admin'] : ['read', 'admin'], named, 'dashboards');

async function body(c: Context): Promise<ReturnType<typeof parseDashboardBody> | Response> {
  const raw = await readJsonBody(c, MAX_BODY, 'a dashboard');
  if (raw instanceof Response) return raw;
  try {
    return parseDashboardBody(raw);
  } catch (e) {
    if (e instanceof DashboardError) return httpError(c, 400, 'invalid_dashboard', e.message);
    throw e;
  }
}

export function dashboardRoutes(app: Hono, ctx: AppContext): void {
  const notFound = (c: Context, id: string, tenant: string): Response => httpError(c, 404, 'not_found', `tenant ${tenant} has no dashboard ${id}`);

  app.get('/v1/dashboards', async (c) => {
    const tenant = await tenantOf(c, ctx, false, c.req.query('tenant'));
    if (tenant instanceof Response) return tenant;
    return c.json({ tenant, dashboards: await ctx.dashboards.list(tenant) });
  });
  app.get('/v1/dashboards/:id', async (c) => {
    const tenant = await tenantOf(c, ctx, false, c.req.query('tenant'));
    if (tenant instanceof Response) return tenant;
    const d = await ctx.dashboards.get(tenant, c.req.param('id'));
    return d ? c.json(d) : notFound(c, c.req.param('id'), tenant);
  });
  app.post('/v1/dashboards', async (c) => {
    const b = await body(c);
    if (b instanceof Response) return b;
    const tenant = await tenantOf(c, ctx, true, b.tenant ?? c.req.query('tenant'));
    if (tenant instanceof Response) return tenant;
    try {
      return c.json(await ctx.dashboards.create(tenant, b), 201);
    } catch (e) {
      if (e instanceof DashboardError) return httpError(c, 409, 'too_many_dashboards', e.message);
      throw e;
    }
  });
  app.put('/v1/dashboards/:id', async (c) => {
    const b = await body(c);
    if (b instanceof Response) return b;
    const tenant = await tenantOf(c, ctx, true, b.tenant ?? c.req.query('tenant'));
    if (tenant instanceof Response) return tenant;
    const d = await ctx.dashboards.update(tenant, c.req.param('id'), b);
    if (d === 'conflict') return httpError(c, 409, 'version_conflict', `dashboard ${c.req.param('id')} was saved by someone else since version ${b.version}; reload it and edit again`);
    return d ? c.json(d) : notFound(c, c.req.param('id'), tenant);
  });
  app.delete('/v1/dashboards/:id', async (c) => {
    const tenant = await tenantOf(c, ctx, true, c.req.query('tenant'));
    if (tenant instanceof Response) return tenant;
    return (await ctx.dashboards.remove(tenant, c.req.param('id'))) ? c.body(null, 204) : notFound(c, c.req.param('id'), tenant);
  });
}
