/** Resolves `Authorization: Bearer <key>` to a principal of one of the allowed kinds. */
import type { Context } from 'hono';
import type { KeyKind, KeyStore, Principal } from '../auth/api-keys.ts';
import { httpError } from './http-error.ts';

export async function bearer(c: Context, keys: KeyStore, kinds: KeyKind[]): Promise<Principal | Response> {
  const h = c.req.header('authorization');
  const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  if (!m) return httpError(c, 401, 'missing_key', `send an API key as "Authorization: Bearer <key>" (a ${kinds.join(' or ')} key)`);
  const who = await keys.verifyBearer(m[1]);
  if (!who) return httpError(c, 401, 'invalid_key', 'the API key is unknown, revoked or malformed');
  if (!kinds.includes(who.kind)) return httpError(c, 403, 'wrong_key_kind', `this endpoint takes a ${kinds.join(' or ')} key, not a ${who.kind} key`);
  return who;
}
