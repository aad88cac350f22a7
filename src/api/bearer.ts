/** Resolves `Authorization: Bearer <key>` to a principal of one of the allowed kinds. */
import type { Context } from 'hono';
import { TENANT_NAME, type KeyKind, type KeyStore, type Principal } from '../auth/api-keys.ts';
import { httpError } from './http-error.ts';

/** The allowed kinds as a phrase with its article: "an ingest or admin key". */
const keyKinds = (kinds: KeyKind[]): string => `${/^[aeiou]/.test(kinds[0]) ? 'an' : 'a'} ${kinds.join(' or ')} key`;

export async function bearer(c: Context, keys: KeyStore, kinds: KeyKind[]): Promise<Principal | Response> {
  const h = c.req.header('authorization');
  const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  if (!m) return httpError(c, 401, 'missing_key', `send an API key as "Authorization: Bearer <key>" (${keyKinds(kinds)})`);
  const who = await keys.verifyBearer(m[1]);
  if (!who) return httpError(c, 401, 'invalid_key', 'the API key is unknown, revoked or malformed');
  if (!kinds.includes(who.kind)) return httpError(c, 403, 'wrong_key_kind', `this endpoint takes ${keyKinds(kinds)}, not ${keyKinds([who.kind])}`);
  return who;
}

/**
 * The one tenant a request reads or writes: an admin key must name it (`named`, from `?tenant=`
 * or the body); a tenant key acts for its own, and naming another is refused (403), never rescoped.
 */
export async function tenantScope(c: Context, keys: KeyStore, kinds: KeyKind[], named: string | undefined, what: string): Promise<string | Response> {
  const who = await bearer(c, keys, kinds);
  if (who instanceof Response) return who;
  if (who.kind === 'admin') {
    if (!named || !TENANT_NAME.test(named)) return httpError(c, 400, 'invalid_request', 'an admin key must name the tenant (?tenant= or "tenant" in the body)');
    return named;
  }
  if (named !== undefined && named !== who.tenant) return httpError(c, 403, 'forbidden_tenant', `this ${who.kind} key belongs to tenant ${who.tenant}; it cannot read or change another tenant's ${what}`);
  return who.tenant;
}
