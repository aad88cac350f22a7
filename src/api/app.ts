/**
 * The HTTP API as one Hono app, the same on Node and (later) on Lambda: ingest (AWS JSON
 * protocol on `/`, `/v1/events`), queries (`/v1/query`), health and Prometheus metrics.
 */
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { postAwsJson } from '../sources/aws/aws-json-route.ts';
import { postEvents } from '../sources/http/events-route.ts';
import { postQuery } from '../query/query-route.ts';
import { getVendorRequests, postErasure } from '../privacy/erasure-route.ts';
import { deadLetterRoutes } from '../pipeline/dead-letters-route.ts';
import { dashboardRoutes } from '../dashboards/dashboards-route.ts';
import { embedRoutes } from '../embed/embed-route.ts';
import { overviewRoutes } from '../web/overview-route.ts';
import { webRoutes } from '../web/web-routes.ts';
import type { AppContext } from './app-context.ts';
import { httpError } from './http-error.ts';
import { opsRoutes } from './ops-routes.ts';
import { LogUnavailable } from '../pipeline/intake.ts';
import type { Logger } from '../runtime/logger.ts';

const fallbackLog: Pick<Logger, 'error'> = { error: (msg, fields) => process.stderr.write(`sluice: ${msg} ${JSON.stringify(fields)}\n`) };

declare module 'hono' {
  interface ContextVariableMap {
    /** The request's id (X-Request-Id), for its log lines. */
    requestId: string;
  }
}

/** A request id a client or proxy may set (`X-Request-Id`); anything else is replaced by a UUID. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * How loud a finished request is: server errors are errors, client mistakes info, answers that
 * are backpressure (429, 503: counted in /metrics) and successes debug.
 */
function requestLevel(status: number): 'debug' | 'info' | 'error' {
  if (status === 429 || status === 503 || status < 400) return 'debug';
  return status >= 500 ? 'error' : 'info';
}

/**
 * The methods the app's routes take on a path (for 405 and its `Allow` header), from the routes
 * registered so far. Route paths are literal segments and `:name` parameters (`*` any rest); any
 * other form throws.
 */
export function allowedMethods(app: Hono): (path: string) => string[] {
  const routes = app.routes
    .filter((r) => r.method !== 'ALL' && r.method !== 'OPTIONS')
    .map((r) => {
      // Hono's regex and optional parameters (`:id{[0-9]+}`, `:id?`) would need more than this
      // reading: a route using one fails every start (and so every test) instead of a 405 going wrong.
      if (/[{}?]/.test(r.path)) throw new Error(`allowedMethods reads only literal segments, :name and *; extend it for ${r.path}`);
      return r;
    })
    .map((r) => ({
      method: r.method,
      pattern: new RegExp(`^${r.path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z_]+/g, '[^/]+').replace(/\*/g, '.*')}$`),
    }));
  return (path) => [...new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method))].sort();
}

/**
 * @example serve({ fetch: createApp(ctx).fetch, port: 8787 });
 */
export function createApp(ctx: AppContext): Hono {
  const app = new Hono();
  // Every answer carries its request id (X-Request-Id), and so does the line it is logged with:
  // method, path (no query string), status and time; never a header or a body.
  app.use(async (c, next) => {
    const given = c.req.header('x-request-id');
    const id = given !== undefined && REQUEST_ID.test(given) ? given : randomUUID();
    c.set('requestId', id);
    const started = performance.now();
    await next();
    c.res.headers.set('x-request-id', id);
    const status = c.res.status;
    ctx.log?.[requestLevel(status)]('request', { req_id: id, method: c.req.method, path: c.req.path, status, ms: Math.round((performance.now() - started) * 10) / 10 });
  });
  app.post('/', (c) => postAwsJson(c, ctx));
  app.post('/v1/events', (c) => postEvents(c, ctx));
  app.post('/v1/query', (c) => postQuery(c, ctx));
  app.post('/v1/admin/erasures', (c) => postErasure(c, ctx));
  app.get('/v1/admin/erasures/vendor-requests', (c) => getVendorRequests(c, ctx));
  deadLetterRoutes(app, ctx);
  dashboardRoutes(app, ctx);
  embedRoutes(app, ctx);
  overviewRoutes(app, ctx);
  if (ctx.web) webRoutes(app, ctx.web);
  opsRoutes(app, ctx);
  const allowed = allowedMethods(app);
  app.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    const methods = allowed(path);
    if (methods.length > 0) {
      return httpError(c, 405, 'method_not_allowed', `${path} takes ${methods.join(', ')}, not ${c.req.method}; see docs/api.md`, { allow: methods.join(', ') });
    }
    return httpError(c, 404, 'not_found', `no route ${c.req.method} ${path}; see docs/api.md`);
  });
  app.onError((e, c) => {
    if (e instanceof LogUnavailable) {
      return httpError(c, 503, 'log_unavailable', 'Sluice cannot store events right now; nothing was acknowledged, retry after the given seconds', { 'retry-after': '1' });
    }
    // Never echo the error: it may quote a payload. The process log has the class.
    (ctx.log ?? fallbackLog).error('request failed', { req_id: c.get('requestId'), method: c.req.method, path: c.req.path, error: e.name });
    return httpError(c, 500, 'internal_error', 'Sluice could not handle the request; it was not acknowledged, retry it');
  });
  return app;
}
