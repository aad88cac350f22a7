/**
 * The HTTP API as one Hono app, the same on Node and (later) on Lambda: ingest (AWS JSON
 * protocol on `/`, `/v1/events`), queries (`/v1/query`), health and Prometheus metrics.
 */
import { Hono } from 'hono';
import { postAwsJson } from '../sources/aws/aws-json-route.ts';
import { postEvents } from '../sources/http/events-route.ts';
import { postQuery } from '../query/query-route.ts';
import { postErasure } from '../privacy/erasure-route.ts';
import { deadLetterRoutes } from '../pipeline/dead-letters-route.ts';
import { dashboardRoutes } from '../dashboards/dashboards-route.ts';
import { embedRoutes } from '../embed/embed-route.ts';
import { overviewRoutes } from '../web/overview-route.ts';
import { webRoutes } from '../web/web-routes.ts';
import type { AppContext } from './app-context.ts';
import { httpError } from './http-error.ts';
import { LogUnavailable } from '../pipeline/intake.ts';

/**
 * @example serve({ fetch: createApp(ctx).fetch, port: 8787 });
 */
export function createApp(ctx: AppContext): Hono {
  const app = new Hono();
  app.post('/', (c) => postAwsJson(c, ctx));
  app.post('/v1/events', (c) => postEvents(c, ctx));
  app.post('/v1/query', (c) => postQuery(c, ctx));
  app.post('/v1/admin/erasures', (c) => postErasure(c, ctx));
  deadLetterRoutes(app, ctx);
  dashboardRoutes(app, ctx);
  embedRoutes(app, ctx);
  overviewRoutes(app, ctx);
  if (ctx.web) webRoutes(app, ctx.web);
  app.get('/healthz', (c) => c.json({ ok: !ctx.stopping() }, ctx.stopping() ? 503 : 200));
  // Ready only when the store and the intake log answer: a load balancer sends traffic elsewhere meanwhile.
  app.get('/readyz', async (c) => {
    const r = ctx.ready ? await ctx.ready() : { store: true, log: true };
    const ok = r.store && r.log && !ctx.stopping();
    return c.json({ ok, ...r }, ok ? 200 : 503);
  });
  app.get('/metrics', (c) => c.text(ctx.counters.render(), 200, { 'content-type': 'text/plain; version=0.0.4' }));
  app.notFound((c) => httpError(c, 404, 'not_found', `no route ${c.req.method} ${new URL(c.req.url).pathname}; see docs/api.md`));
  app.onError((e, c) => {
    if (e instanceof LogUnavailable) {
      return httpError(c, 503, 'log_unavailable', 'Sluice cannot store events right now; nothing was acknowledged, retry after the given seconds', { 'retry-after': '1' });
    }
    // Never echo the error: it may quote a payload. The process log has the class.
    process.stderr.write(`sluice: ${c.req.method} ${new URL(c.req.url).pathname} failed: ${e.name}\n`);
    return httpError(c, 500, 'internal_error', 'Sluice could not handle the request; it was not acknowledged, retry it');
  });
  return app;
}
