/**
 * Embed tokens: JWTs that let a chart inside a customer's product read one tenant's allowed
 * metrics (or one dashboard) until they expire, and nothing else. Sluice mints them on
 * `POST /v1/embed-tokens`, or a customer's backend signs the same claims itself: HS256 with the
 * configured shared secret, or EdDSA (Ed25519) with a key whose public half is configured.
 *
 * Claims (docs/ui.md, "Embedding a chart in your product"): `aud` "sluice:embed", `sub` the tenant, `exp` (at most 24 h after
 * `iat`, or after now when there is no `iat`), `metrics` (names) or `dashboard` (an id), and
 * `origins` (the web origins a browser may read from; CORS is set for those only).
 */
import { createHmac, createPublicKey, randomBytes, timingSafeEqual, verify as verifySignature, type KeyObject } from 'node:crypto';
import { TENANT_NAME } from '../auth/api-keys.ts';
import type { EmbedConfig } from '../config/config.ts';
import { describeSecret, readSecret } from '../config/secrets.ts';
import type { Database } from '../store/database.ts';

export const EMBED_AUDIENCE = 'sluice:embed';
/** The longest an embed token may live, in seconds. */
export const MAX_EMBED_SECONDS = 24 * 3600;
export const EMBED_LIMITS = { metrics: 50, origins: 10 } as const;
const METRIC = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;
const ORIGIN = /^https?:\/\/[A-Za-z0-9.-]{1,253}(:\d{1,5})?$/;
const SKEW_SECONDS = 30;

/** What a verified token allows. */
export interface EmbedGrant {
  tenant: string;
  /** Metric names the token reads, or null when it names a dashboard. */
  metrics: string[] | null;
  dashboard: string | null;
  origins: string[];
  /** Expiry, epoch seconds. */
  exp: number;
}

export type EmbedErrorCode = 'embed_token_expired' | 'embed_token_invalid' | 'embed_token_forged';

export class EmbedTokenError extends Error {
  constructor(
    readonly code: EmbedErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Thrown for a bad mint request (400 with the message). */
export class EmbedRequestError extends Error {}

/** Checks the grant part of claims or of a mint request; `at` names where, for messages. */
export function parseGrant(v: Record<string, unknown>, at: (k: string) => string, err: (m: string) => Error): Omit<EmbedGrant, 'exp'> {
  const tenant = v.sub ?? v.tenant;
  if (typeof tenant !== 'string' || !TENANT_NAME.test(tenant)) throw err(`${at('tenant')}: expected a tenant name`);
  const metrics = v.metrics;
  const dashboard = v.dashboard;
  if ((metrics === undefined) === (dashboard === undefined)) throw err(`${at('metrics')}: give either metrics (a list of metric names) or dashboard (a dashboard id)`);
  if (metrics !== undefined && (!Array.isArray(metrics) || metrics.length === 0 || metrics.length > EMBED_LIMITS.metrics || !metrics.every((m) => typeof m === 'string' && METRIC.test(m)))) {
    throw err(`${at('metrics')}: expected 1 to ${EMBED_LIMITS.metrics} metric names`);
  }
  if (dashboard !== undefined && (typeof dashboard !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(dashboard))) throw err(`${at('dashboard')}: expected a dashboard id`);
  const origins = v.origins ?? [];
  if (!Array.isArray(origins) || origins.length > EMBED_LIMITS.origins || !origins.every((o) => typeof o === 'string' && ORIGIN.test(o))) {
    throw err(`${at('origins')}: expected at most ${EMBED_LIMITS.origins} web origins such as "https://app.example.com" (scheme, host and port; no path)`);
  }
  return { tenant, metrics: (metrics as string[] | undefined) ?? null, dashboard: (dashboard as string | undefined) ?? null, origins: (origins as string[]).map((o) => o.toLowerCase()) };
}

type Claims = Record<string, unknown>;

const b64json = (part: string): unknown => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/**
 * Verifies and signs compact JWS (JWT) with node:crypto: HS256 and EdDSA (Ed25519) only, the
 * algorithm taken from the header but checked against the kind of key it needs, so a token cannot
 * pick `none` or turn a public key into an HMAC secret.
 *
 * @example
 *   const keys = await EmbedKeys.open(db, config.embed);
 *   const { token } = await keys.mint({ tenant: 'acme', metrics: ['m'], dashboard: null, origins: [] }, 3600);
 *   await keys.verify(token); // { tenant: 'acme', metrics: ['m'], … }
 */
export class EmbedKeys {
  private constructor(
    private readonly hmac: Buffer,
    private readonly publicKeys: KeyObject[],
  ) {}

  static async open(db: Database, config: EmbedConfig | undefined): Promise<EmbedKeys> {
    let secret: string | null = null;
    if (config?.secret) {
      secret = await readSecret(config.secret);
      if (!secret) throw new Error(`embed.secret: the ${describeSecret(config.secret)} is not set`);
      if (Buffer.byteLength(secret) < 32) throw new Error(`embed.secret: the ${describeSecret(config.secret)} is shorter than 32 bytes; HS256 needs at least 32`);
    } else {
      await db.query("insert into sluice.settings (name, value) values ('embed_signing_secret', $1) on conflict do nothing", [randomBytes(32).toString('base64url')]);
      secret = (await db.query<{ value: string }>("select value from sluice.settings where name = 'embed_signing_secret'"))[0].value;
    }
    const publicKeys: KeyObject[] = [];
    for (const [i, source] of (config?.public_keys ?? []).entries()) {
      const pem = await readSecret(source);
      if (!pem) throw new Error(`embed.public_keys[${i}]: the ${describeSecret(source)} is not set`);
      let key: KeyObject | null = null;
      try {
        key = createPublicKey(pem.trim());
      } catch {
        // reported below
      }
      if (key?.asymmetricKeyType !== 'ed25519') throw new Error(`embed.public_keys[${i}]: the ${describeSecret(source)} is not an Ed25519 public key in PEM (SPKI) form`);
      publicKeys.push(key);
    }
    return new EmbedKeys(Buffer.from(secret, 'utf8'), publicKeys);
  }

  /** Signs a token for a grant, valid for `seconds` (at most 24 h). */
  async mint(grant: Omit<EmbedGrant, 'exp'>, seconds: number): Promise<{ token: string; expires_at: string }> {
    const iat = Math.floor(Date.now() / 1000);
    const exp = iat + Math.min(seconds, MAX_EMBED_SECONDS);
    const claims: Claims = { aud: EMBED_AUDIENCE, sub: grant.tenant, iat, exp, ...(grant.metrics ? { metrics: grant.metrics } : { dashboard: grant.dashboard }) };
    if (grant.origins.length > 0) claims.origins = grant.origins;
    const signing = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
    return { token: `${signing}.${createHmac('sha256', this.hmac).update(signing).digest('base64url')}`, expires_at: new Date(exp * 1000).toISOString() };
  }

  /** The grant of a token, or an EmbedTokenError that says why it reads nothing. */
  async verify(token: string): Promise<EmbedGrant> {
    const parts = token.split('.');
    let header: Claims;
    let claims: Claims;
    try {
      if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]*$/.test(p))) throw new Error();
      header = b64json(parts[0]) as Claims;
      claims = b64json(parts[1]) as Claims;
      if (!header || typeof header !== 'object' || !claims || typeof claims !== 'object' || Array.isArray(claims)) throw new Error();
    } catch {
      throw new EmbedTokenError('embed_token_invalid', 'the embed token is not a JWT (three base64url parts: header, claims, signature)');
    }
    if (header.crit !== undefined) throw new EmbedTokenError('embed_token_invalid', 'the embed token has critical header parameters Sluice does not understand');
    const signing = Buffer.from(`${parts[0]}.${parts[1]}`);
    const signature = Buffer.from(parts[2], 'base64url');
    let valid: boolean;
    if (header.alg === 'HS256') {
      const expected = createHmac('sha256', this.hmac).update(signing).digest();
      valid = signature.length === expected.length && timingSafeEqual(signature, expected);
    } else if (header.alg === 'EdDSA' || header.alg === 'Ed25519') {
      valid = signature.length === 64 && this.publicKeys.some((k) => verifySignature(null, signing, k, signature));
    } else throw new EmbedTokenError('embed_token_invalid', `embed tokens are signed with HS256 or EdDSA, not ${JSON.stringify(header.alg ?? null)}`);
    if (!valid) throw new EmbedTokenError('embed_token_forged', 'the embed token’s signature does not match (forged or tampered)');

    const now = Math.floor(Date.now() / 1000);
    const bad = (m: string): EmbedTokenError => new EmbedTokenError('embed_token_invalid', `the embed token’s claims are not valid: ${m}`);
    const aud = claims.aud;
    if (!(aud === EMBED_AUDIENCE || (Array.isArray(aud) && aud.includes(EMBED_AUDIENCE)))) throw bad(`aud must be "${EMBED_AUDIENCE}"`);
    const exp = claims.exp;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) throw bad('exp (expiry, epoch seconds) is required');
    if (claims.iat !== undefined && (typeof claims.iat !== 'number' || claims.iat > now + SKEW_SECONDS)) throw bad('iat must be epoch seconds, not in the future');
    if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > now + SKEW_SECONDS)) throw bad('the token is not valid yet (nbf)');
    if (exp <= now - SKEW_SECONDS) throw new EmbedTokenError('embed_token_expired', 'the embed token has expired; the page must fetch a new one');
    if (typeof claims.sub !== 'string') throw bad('sub (the tenant) is required');
    const from = typeof claims.iat === 'number' ? claims.iat : now;
    if (exp - from > MAX_EMBED_SECONDS + SKEW_SECONDS) throw new EmbedTokenError('embed_token_invalid', 'an embed token lives at most 24 hours (exp − iat ≤ 86400)');
    const grant = parseGrant(claims, (k) => (k === 'tenant' ? 'sub' : k), (m) => bad(m));
    return { ...grant, exp };
  }
}
