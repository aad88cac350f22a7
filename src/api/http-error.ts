/**
 * Sluice's error answer: `{ "error": { "code", "message" } }` with a stable machine-readable
 * code. Messages say what is wrong and what is allowed, never quoting a payload.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export function httpError(c: Context, status: ContentfulStatusCode, code: string, message: string, headers: Record<string, string> = {}): Response {
  for (const [k, v] of Object.entries(headers)) c.header(k, v);
  return c.json({ error: { code, message } }, status);
}
