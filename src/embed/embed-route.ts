/**
 * Embedding over HTTP.
 *   POST /v1/embed-tokens   (tenant read key or admin key) mints a token for one tenant
 *   POST /v1/embed/info     { token }            what the token grants, and its dashboard
 *   POST /v1/embed/query    { token, queries }   metric queries within the grant
 *
 * The embed endpoints take the token in the body, so a chart on another origin sends a CORS
 * "simple" request (text/plain, no preflight) and the token stays out of URLs and logs. A browser
 * on another origin may read an answer only when its origin is among the token's `origins`:
 * Access-Control-Allow-Origin is set for those alone (and for the refusal saying why). The token
 * works on these endpoints only: every other route takes API keys, so it never writes or administers.
 */
import type { Context, Hono } from 'hono';
import type { AppContext } from '../api/app-context.ts';
import { bearer } from '../api/bearer.ts';
import { httpError } from '../api/http-error.ts';
import { readJsonBody } from '../api/read-body.ts';
import { isRecord } from '../core/is-record.ts';
import { parseQueries, QueryError } from '../query/parse-query.ts';
import { EmbedRequestError, EmbedTokenError, MAX_EMBED_SECONDS, parseGrant, type EmbedGrant } from './embed-tokens.ts';

const MAX_BODY = 64 * 1024;
const DEFAULT_SECONDS = 3600;

/** The request's Origin when it is another origin than Sluice's own (null for same-origin and non-browser calls). */
function foreignOrigin(c: Context): string | null {
  const origin = c.req.header('origin');
  if (!origin || origin === 'null') return origin === 'null' ? 'null' : null;
  const host = c.req.header('x-forwarded-host') ?? c.req.header('host');
  try {
    return new URL(origin).host === host ? null : origin.toLowerCase();
  } catch {
    return origin;
  }
}

function cors(c: Context, origin: string): void {
  c.header('access-control-allow-origin', origin);
  c.header('vary', 'Origin');
}

/** Reads `{ token, … }` and verifies the token and the page's origin; or the refusal. */
async function grantOf(c: Context, app: AppContext): Promise<{ grant: EmbedGrant; body: Record<string, unknown> } | Response> {
  const origin = foreignOrigin(c);
  // Refusals are readable by the page, so the chart can say why it is empty; data is not.
  if (origin) cors(c, origin);
  const body = await readJsonBody(c, MAX_BODY, 'an embed request');
  if (body instanceof Response) return body;
  if (!isRecord(body) || typeof body.token !== 'string' || body.token.length > 8192) {
    return httpError(c, 401, 'embed_token_missing', 'send the embed token as "token" in a JSON body (mint one with POST /v1/embed-tokens)');
  }
  let grant: EmbedGrant;
  try {
    grant = await app.embed.verify(body.token);
  } catch (e) {
    if (e instanceof EmbedTokenError) return httpError(c, 401, e.code, e.message);
    throw e;
  }
  if (origin && !grant.origins.includes(origin)) {
    return httpError(c, 403, 'forbidden_origin', `this embed token does not allow pages on ${origin}; its origins: ${grant.origins.join(', ') || 'none (same origin only)'}`);
  }
  return { grant, body };
}

/** The metrics a grant reads: its list, or the metrics of its dashboard's charts. */
async function allowedMetrics(app: AppContext, grant: EmbedGrant): Promise<Set<string>> {
  if (grant.metrics) return new Set(grant.metrics);
  const d = await app.dashboards.get(grant.tenant, grant.dashboard!);
  return new Set(d?.charts.map((ch) => ch.metric) ?? []);
}

export function embedRoutes(app: Hono, ctx: AppContext): void {
  app.post('/v1/embed-tokens', async (c) => {
    const who = await bearer(c, ctx.keys, ['read', 'admin']);
    if (who instanceof Response) return who;
    const body = await readJsonBody(c, MAX_BODY, 'an embed token request');
    if (body instanceof Response) return body;
    if (!isRecord(body)) return httpError(c, 400, 'invalid_request', 'expected { tenant, metrics | dashboard, origins?, expires_in? }');
    const allowed = ['tenant', 'metrics', 'dashboard', 'origins', 'expires_in'];
    const unknown = Object.keys(body).find((k) => !allowed.includes(k));
    if (unknown) return httpError(c, 400, 'invalid_request', `${unknown}: unknown field; allowed: ${allowed.join(', ')}`);
    if (who.kind === 'read') {
      if (body.tenant !== undefined && body.tenant !== who.tenant) return httpError(c, 403, 'forbidden_tenant', `this read key belongs to tenant ${who.tenant}; it cannot mint tokens for another tenant`);
      body.tenant = who.tenant;
    }
    let grant;
    try {
      grant = parseGrant(body, (k) => k, (m) => new EmbedRequestError(m));
    } catch (e) {
      if (e instanceof EmbedRequestError) return httpError(c, 400, 'invalid_request', e.message);
      throw e;
    }
    const seconds = body.expires_in ?? DEFAULT_SECONDS;
    if (!Number.isInteger(seconds) || (seconds as number) < 60 || (seconds as number) > MAX_EMBED_SECONDS) {
      return httpError(c, 400, 'invalid_request', `expires_in: expected whole seconds from 60 to ${MAX_EMBED_SECONDS} (24 hours)`);
    }
    if (grant.dashboard && !(await ctx.dashboards.get(grant.tenant, grant.dashboard))) return httpError(c, 404, 'not_found', `tenant ${grant.tenant} has no dashboard ${grant.dashboard}`);
    return c.json({ ...(await ctx.embed.mint(grant, seconds as number)), tenant: grant.tenant }, 201);
  });

  // A page that sends JSON as application/json preflights; the answer itself is what is guarded.
  app.options('/v1/embed/*', (c) => {
    const origin = c.req.header('origin');
    if (origin) cors(c, origin);
    c.header('access-control-allow-methods', 'POST');
    c.header('access-control-allow-headers', 'content-type');
    c.header('access-control-max-age', '600');
    return c.body(null, 204);
  });

  app.post('/v1/embed/info', async (c) => {
    const g = await grantOf(c, ctx);
    if (g instanceof Response) return g;
    const { grant } = g;
    const dashboard = grant.dashboard ? await ctx.dashboards.get(grant.tenant, grant.dashboard) : null;
    if (grant.dashboard && !dashboard) return httpError(c, 404, 'not_found', `the token's dashboard ${grant.dashboard} no longer exists`);
    return c.json({ tenant: grant.tenant, metrics: grant.metrics, dashboard, expires_at: new Date(grant.exp * 1000).toISOString() });
  });

  app.post('/v1/embed/query', async (c) => {
    const g = await grantOf(c, ctx);
    if (g instanceof Response) return g;
    const { grant, body } = g;
    let queries;
    try {
      queries = parseQueries({ queries: body.queries }, Date.now());
    } catch (e) {
      if (e instanceof QueryError) return httpError(c, 400, 'invalid_query', e.message);
      throw e;
    }
    const metrics = await allowedMetrics(ctx, grant);
    for (const [i, q] of queries.entries()) {
      if (q.tenant !== null && q.tenant !== grant.tenant) return httpError(c, 403, 'forbidden_tenant', `queries[${i}].tenant: this embed token reads tenant ${grant.tenant} only`);
      if (!metrics.has(q.metric)) return httpError(c, 403, 'forbidden_metric', `queries[${i}].metric: this embed token does not allow ${q.metric}; it allows ${[...metrics].join(', ') || 'nothing'}`);
    }
    return c.json({ results: await ctx.queries.run(grant.tenant, queries) });
  });
}
