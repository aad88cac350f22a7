/**
 * `POST /v1/admin/erasures` with an admin key: `{ "subject": "…", "field": "user_id",
 * "dry_run": false }`, the same as `sluice erase`. The answer has the pseudonyms and the counts
 * per place; the raw subject is never stored or logged. `{ "subjects": […] }` erases several in
 * one request (one pass over the archives) and answers `{ "erasures": [ … ] }` in their order.
 *
 * `GET /v1/admin/erasures/vendor-requests?state=pending|sent|failed&limit=100`: the requests to
 * Segment, Mixpanel and webhook receivers (vendor-erasure.ts), newest first.
 */
import type { Context } from 'hono';
import type { AppContext } from '../api/app-context.ts';
import { bearer } from '../api/bearer.ts';
import { httpError } from '../api/http-error.ts';
import { readJsonBody } from '../api/read-body.ts';
import { isRecord } from '../core/is-record.ts';
import { ErasureError, MAX_SUBJECTS } from './erasure.ts';

const STATES = ['pending', 'sent', 'failed'] as const;

export async function getVendorRequests(c: Context, app: AppContext): Promise<Response> {
  const who = await bearer(c, app.keys, ['admin']);
  if (who instanceof Response) return who;
  const state = c.req.query('state');
  const limitText = c.req.query('limit') ?? '100';
  const limit = Number(limitText);
  if (state !== undefined && !(STATES as readonly string[]).includes(state)) return httpError(c, 400, 'invalid_request', `state must be one of ${STATES.join(', ')}, got "${state.slice(0, 40)}"`);
  if (!/^[0-9]{1,4}$/.test(limitText) || limit < 1 || limit > 1000) return httpError(c, 400, 'invalid_request', 'limit must be an integer from 1 to 1000');
  const requests = await app.eraser.vendors.list({ state: state as (typeof STATES)[number] | undefined, limit });
  return c.json({ requests }, 200);
}

export async function postErasure(c: Context, app: AppContext): Promise<Response> {
  const who = await bearer(c, app.keys, ['admin']);
  if (who instanceof Response) return who;
  const body = await readJsonBody(c, MAX_SUBJECTS * 1100 + 4096, 'an erasure request');
  if (body instanceof Response) return body;
  const allowed = new Set(['subject', 'subjects', 'field', 'dry_run']);
  const many = isRecord(body) && Array.isArray(body.subjects);
  if (!isRecord(body) || (typeof body.subject === 'string') === many || Object.keys(body).some((k) => !allowed.has(k))) {
    return httpError(c, 400, 'invalid_request', `expected { "subject": string } or { "subjects": [string, …] (1 to ${MAX_SUBJECTS}) }, with "field"?: string (default "user_id") and "dry_run"?: boolean`);
  }
  if ((body.field !== undefined && typeof body.field !== 'string') || (body.dry_run !== undefined && typeof body.dry_run !== 'boolean')) {
    return httpError(c, 400, 'invalid_request', 'field must be a string and dry_run a boolean');
  }
  const subjects = many ? (body.subjects as unknown[]) : [body.subject];
  const notString = subjects.findIndex((s) => typeof s !== 'string');
  if (notString >= 0) return httpError(c, 400, 'invalid_request', `subjects[${notString}] must be a string`);
  try {
    const results = await app.eraser.eraseMany(subjects as string[], (body.field as string | undefined) ?? 'user_id', { dryRun: body.dry_run === true });
    return c.json(many ? { erasures: results } : results[0], 200);
  } catch (e) {
    if (e instanceof ErasureError) return httpError(c, 400, e.code, e.message);
    throw e;
  }
}
