/**
 * API keys. A key is shown once and stored as the SHA-256 of its secret. Kinds: `ingest` (send
 * events for its tenant), `read` (query its tenant), `admin` (any tenant, and ingest for any).
 *
 * An ingest key doubles as an AWS access key pair for the SigV4-signed AWS protocol: AWS
 * signatures are verified with the secret itself, so an ingest key's secret is derived as
 * HMAC-SHA256(store secret, key id) rather than random, and the store keeps only its hash and
 * the derivation secret (like any AWS-compatible service, whoever reads the store can sign).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Database } from '../store/database.ts';

export const KEY_KINDS = ['ingest', 'read', 'admin'] as const;
export type KeyKind = (typeof KEY_KINDS)[number];

/** Tenant names: lower-case letters, digits, "_" and "-", 1 to 63, starting with a letter or digit. */
export const TENANT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** The tenant an admin key is recorded under when none is given. */
export const ANY_TENANT = '*';

/** Who a request is from, once its key is verified. */
export interface Principal {
  keyId: string;
  tenant: string;
  kind: KeyKind;
}

export interface CreatedKey {
  tenant: string;
  kind: KeyKind;
  key: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

export interface KeyInfo {
  id: string;
  tenant: string;
  kind: KeyKind;
  created_at: string;
  revoked_at: string | null;
  accessKeyId?: string;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const ACCESS_KEY_PREFIX = 'SLIK';

function newId(): string {
  const bytes = randomBytes(16);
  let id = '';
  for (const b of bytes) id += ID_ALPHABET[b & 31];
  return id;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** The access key id of an ingest key id (20 characters, like AWS's). */
export const accessKeyIdOf = (id: string): string => ACCESS_KEY_PREFIX + id;

/**
 * Creates, lists, revokes and verifies keys. Verified keys are cached for `cacheSeconds`, so a
 * revocation takes effect within that time in every process.
 *
 * @example
 *   const keys = new KeyStore(db);
 *   const { key } = await keys.create('acme', 'read');
 *   await keys.verifyBearer(key); // { keyId, tenant: 'acme', kind: 'read' }
 */
export class KeyStore {
  private derivationSecret: Promise<Buffer> | null = null;
  private readonly cache = new Map<string, { at: number; row: { tenant: string; kind: KeyKind; secret_sha256: string } | null }>();

  constructor(
    private readonly db: Database,
    private readonly cacheSeconds = 10,
  ) {}

  private secret(): Promise<Buffer> {
    this.derivationSecret ??= (async () => {
      await this.db.query("insert into sluice.settings (name, value) values ('key_derivation_secret', $1) on conflict do nothing", [
        randomBytes(32).toString('base64'),
      ]);
      const rows = await this.db.query<{ value: string }>("select value from sluice.settings where name = 'key_derivation_secret'");
      return Buffer.from(rows[0].value, 'base64');
    })();
    return this.derivationSecret;
  }

  private async derivedSecret(id: string): Promise<string> {
    return createHmac('sha256', await this.secret()).update(id).digest('base64url').slice(0, 40);
  }

  async create(tenant: string, kind: KeyKind): Promise<CreatedKey> {
    const id = newId();
    const secret = kind === 'ingest' ? await this.derivedSecret(id) : randomBytes(30).toString('base64url');
    await this.db.query('insert into sluice.api_keys (id, tenant, kind, secret_sha256) values ($1, $2, $3, $4)', [id, tenant, kind, sha256(secret)]);
    const created: CreatedKey = { tenant, kind, key: `sl_${kind}_${id}_${secret}` };
    if (kind === 'ingest') {
      created.accessKeyId = accessKeyIdOf(id);
      created.secretAccessKey = secret;
    }
    return created;
  }

  async list(tenant?: string): Promise<KeyInfo[]> {
    const rows = await this.db.query<Omit<KeyInfo, 'accessKeyId'>>(
      `select id, tenant, kind, created_at::text as created_at, revoked_at::text as revoked_at
         from sluice.api_keys where ($1::text is null or tenant = $1) order by created_at, id`,
      [tenant ?? null],
    );
    return rows.map((r) => (r.kind === 'ingest' ? { ...r, accessKeyId: accessKeyIdOf(r.id) } : r));
  }

  /** Revokes a key given as its id, its access key id or the whole key; false if there is none. */
  async revoke(idOrKey: string): Promise<boolean> {
    const id = parseKey(idOrKey)?.id ?? (idOrKey.startsWith(ACCESS_KEY_PREFIX) ? idOrKey.slice(ACCESS_KEY_PREFIX.length) : idOrKey);
    const rows = await this.db.query('update sluice.api_keys set revoked_at = now() where id = $1 and revoked_at is null returning id', [id]);
    this.cache.delete(id);
    return rows.length > 0;
  }

  private async lookup(id: string): Promise<{ tenant: string; kind: KeyKind; secret_sha256: string } | null> {
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at < this.cacheSeconds * 1000) return hit.row;
    const rows = await this.db.query<{ tenant: string; kind: KeyKind; secret_sha256: string }>(
      'select tenant, kind, secret_sha256 from sluice.api_keys where id = $1 and revoked_at is null',
      [id],
    );
    const row = rows[0] ?? null;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(id, { at: Date.now(), row });
    return row;
  }

  /** The principal of a bearer key, or null when it is unknown, revoked or wrong. */
  async verifyBearer(key: string): Promise<Principal | null> {
    const parsed = parseKey(key);
    if (!parsed) return null;
    const row = await this.lookup(parsed.id);
    if (!row || row.kind !== parsed.kind) return null;
    const a = Buffer.from(sha256(parsed.secret), 'hex');
    const b = Buffer.from(row.secret_sha256, 'hex');
    return a.length === b.length && timingSafeEqual(a, b) ? { keyId: parsed.id, tenant: row.tenant, kind: row.kind } : null;
  }

  /** The principal and secret of an access key id, for SigV4 verification; null if unknown. */
  async signingSecret(accessKeyId: string): Promise<{ principal: Principal; secret: string } | null> {
    if (!accessKeyId.startsWith(ACCESS_KEY_PREFIX)) return null;
    const id = accessKeyId.slice(ACCESS_KEY_PREFIX.length);
    const row = await this.lookup(id);
    if (!row || row.kind !== 'ingest') return null;
    return { principal: { keyId: id, tenant: row.tenant, kind: row.kind }, secret: await this.derivedSecret(id) };
  }
}

function parseKey(key: string): { kind: KeyKind; id: string; secret: string } | null {
  const m = /^sl_(ingest|read|admin)_([A-Z2-7]{16})_([A-Za-z0-9_-]{20,64})$/.exec(key);
  return m ? { kind: m[1] as KeyKind, id: m[2], secret: m[3] } : null;
}
