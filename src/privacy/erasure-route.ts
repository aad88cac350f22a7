/**
 * `POST /v1/admin/erasures` with an admin key: `{ "subject": "…", "field": "user_id",
 * "dry_run": false }`, the same as `sluice erase`. The answer has the pseudonyms and the counts
 * per place; the raw subject is never stored or logged.
 */
import type { Context } from 'hono';
import type { AppContext } from '../api/app-context.ts';
import { bearer } from '../api/bearer.ts';
import { httpError } from '../api/http-error.ts';
import { readJsonBody } from '../api/read-body.ts';
import { isRecord } from '../core/is-record.ts';
import { ErasureError } from './erasure.ts';

export async function postErasure(c: Context, app: AppContext): Promise<Response> {
  const who = await bearer(c, app.keys, ['admin']);
  if (who instanceof Response) return who;
  const body = await readJsonBody(c, 8 * 1024, 'an erasure request');
  if (body instanceof Response) return body;
  const allowed = new Set(['subject', 'field', 'dry_run']);
  if (!isRecord(body) || typeof body.subject !== 'string' || Object.keys(body).some((k) => !allowed.has(k))) {
    return httpError(c, 400, 'invalid_request', 'expected { "subject": string, "field"?: string (default "user_id"), "dry_run"?: boolean }');
  }
  if ((body.field !== undefined && typeof body.field !== 'string') || (body.dry_run !== undefined && typeof body.dry_run !== 'boolean')) {
    return httpError(c, 400, 'invalid_request', 'field must be a string and dry_run a boolean');
  }
  try {
    const result = await app.eraser.erase(body.subject, (body.field as string | undefined) ?? 'user_id', { dryRun: body.dry_run === true });
    return c.json(result, 200);
  } catch (e) {
    if (e instanceof ErasureError) return httpError(c, 400, e.code, e.message);
    throw e;
  }
}
