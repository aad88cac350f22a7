/**
 * `/v1/admin/dead-letters` with an admin key, the same as `sluice dlq`:
 *   GET  /v1/admin/dead-letters?stream=&destination=&code=&since=&until=&all=&limit=   list (newest failure first)
 *   GET  /v1/admin/dead-letters/:id                                                 one, with its record
 *   POST /v1/admin/dead-letters/redrive  { filters }                                back through their stream
 *   POST /v1/admin/dead-letters/purge    { filters } or { "everything": true }      delete
 */
import type { Context, Hono } from 'hono';
import type { AppContext } from '../api/app-context.ts';
import { bearer } from '../api/bearer.ts';
import { httpError } from '../api/http-error.ts';
import { readJsonBody } from '../api/read-body.ts';
import { isRecord } from '../core/is-record.ts';
import { DeadLetterError, filterFrom, MAX_LIST, narrows, type DeadLetterFilter } from './dead-letters.ts';

const FILTER_HELP = 'filters: stream, destination, code, since and until (ISO 8601, on the last failure), ids (list), all (include redriven)';

async function admin(c: Context, app: AppContext): Promise<Response | null> {
  const who = await bearer(c, app.keys, ['admin']);
  return who instanceof Response ? who : null;
}

function badFilter(c: Context, e: unknown): Response {
  if (e instanceof DeadLetterError) return httpError(c, 400, 'invalid_filter', `${e.message} (${FILTER_HELP})`);
  throw e;
}

/** The JSON body's filter, or an error response. */
async function bodyFilter(c: Context, extra: string[]): Promise<{ filter: DeadLetterFilter; body: Record<string, unknown> } | Response> {
  const body = await readJsonBody(c, 64 * 1024, 'a dead-letter request');
  if (body instanceof Response) return body;
  if (!isRecord(body)) return httpError(c, 400, 'invalid_request', `expected a JSON object of filters (${FILTER_HELP})`);
  try {
    return { filter: filterFrom(body, extra), body };
  } catch (e) {
    return badFilter(c, e);
  }
}

export function deadLetterRoutes(app: Hono, ctx: AppContext): void {
  app.get('/v1/admin/dead-letters', async (c) => {
    const denied = await admin(c, ctx);
    if (denied) return denied;
    const query = c.req.query();
    const limit = query.limit === undefined ? 100 : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) return httpError(c, 400, 'invalid_filter', `limit must be an integer from 1 to ${MAX_LIST}`);
    try {
      const filter = filterFrom(query, ['limit']);
      return c.json({ dead_letters: await ctx.deadLetters.list(filter, limit), pending: await ctx.deadLetters.counts() });
    } catch (e) {
      return badFilter(c, e);
    }
  });
  app.get('/v1/admin/dead-letters/:id', async (c) => {
    const denied = await admin(c, ctx);
    if (denied) return denied;
    const id = Number(c.req.param('id'));
    if (!Number.isSafeInteger(id) || id < 1) return httpError(c, 400, 'invalid_request', 'the dead letter id is a positive integer');
    const row = await ctx.deadLetters.show(id);
    return row ? c.json(row) : httpError(c, 404, 'not_found', `no dead letter ${id}`);
  });
  app.post('/v1/admin/dead-letters/redrive', async (c) => {
    const denied = await admin(c, ctx);
    if (denied) return denied;
    const got = await bodyFilter(c, []);
    if (got instanceof Response) return got;
    const result = await ctx.deadLetters.redrive(got.filter, Object.keys(ctx.config.streams ?? {}));
    return c.json(result);
  });
  app.post('/v1/admin/dead-letters/purge', async (c) => {
    const denied = await admin(c, ctx);
    if (denied) return denied;
    const got = await bodyFilter(c, ['everything']);
    if (got instanceof Response) return got;
    if (!narrows(got.filter) && got.body.everything !== true) {
      return httpError(c, 400, 'invalid_filter', `purge needs a filter, or "everything": true to delete every dead letter (${FILTER_HELP})`);
    }
    return c.json({ purged: await ctx.deadLetters.purge(got.filter) });
  });
}
