/**
 * `POST /v1/query`: a read key queries its own tenant; an admin key names the tenant in each
 * query. A read key naming another tenant is refused (403) rather than silently rescoped.
 */
import type { Context } from 'hono';
import type { AppContext } from '../api/app-context.ts';
import { bearer } from '../api/bearer.ts';
import { httpError } from '../api/http-error.ts';
import { readJsonBody } from '../api/read-body.ts';
import { parseQueries, QueryError, type MetricQuery } from './parse-query.ts';
import type { QueryResult } from './query-service.ts';

const MAX_BODY = 64 * 1024;

export async function postQuery(c: Context, app: AppContext): Promise<Response> {
  const who = await bearer(c, app.keys, ['read', 'admin']);
  if (who instanceof Response) return who;
  const body = await readJsonBody(c, MAX_BODY, 'a query request');
  if (body instanceof Response) return body;
  let queries: MetricQuery[];
  try {
    queries = parseQueries(body, Date.now());
  } catch (e) {
    if (e instanceof QueryError) return httpError(c, 400, 'invalid_query', e.message);
    throw e;
  }
  // Group by tenant: each tenant's queries run together under that tenant's row-level security.
  const byTenant = new Map<string, number[]>();
  for (const [i, q] of queries.entries()) {
    let tenant: string;
    if (who.kind === 'admin') {
      if (!q.tenant) return httpError(c, 400, 'invalid_query', `${q.at}.tenant: an admin key must name the tenant of each query`);
      tenant = q.tenant;
    } else {
      if (q.tenant !== null && q.tenant !== who.tenant) {
        return httpError(c, 403, 'forbidden_tenant', `this read key belongs to tenant ${who.tenant}; it cannot query another tenant`);
      }
      tenant = who.tenant;
    }
    byTenant.set(tenant, [...(byTenant.get(tenant) ?? []), i]);
  }
  const results: QueryResult[] = new Array(queries.length);
  for (const [tenant, idx] of byTenant) {
    const answers = await app.queries.run(tenant, idx.map((i) => queries[i]));
    idx.forEach((i, k) => (results[i] = answers[k]));
  }
  return c.json({ results });
}
