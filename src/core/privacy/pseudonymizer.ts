/**
 * Pseudonymization: per-field policies over a record, with HMAC-SHA256 under a key ring. The
 * same key and value always give the same pseudonym, so pseudonyms from different sources join.
 * The output carries the key id (`k1:…`) so a key can be rotated: new pseudonyms use the current
 * key, and `pseudonymsOf` computes a subject's pseudonym under every key for erasure.
 */
import { createHmac } from 'node:crypto';

export const FIELD_POLICIES = ['hash', 'drop', 'truncate-ip', 'coarsen-date', 'keep'] as const;
/**
 * A field's policy: one of FIELD_POLICIES, or `{ bucket }` to replace a number by the lower edge
 * of its bucket: `{ bucket: 100 }` for buckets of width 100 (0, 100, 200…), `{ bucket: [0, 18,
 * 25, 35, 50, 65] }` for buckets between ascending edges (a value below the first is dropped).
 */
export type FieldPolicy = (typeof FIELD_POLICIES)[number] | { bucket: number | number[] };

export interface KeyRing {
  current: string;
  keys: Map<string, Buffer>;
}

/** Thrown for a key ring that cannot be used; the message never contains key material. */
export class KeyRingError extends Error {}

/**
 * Parses a key ring written as `id:secret` pairs separated by commas or whitespace, the first
 * being the current key; or as a JSON object of `"id": "secret"` members (what a Secrets
 * Manager secret generated with GenerateStringKey holds), with `"current": "id"` when it holds
 * more than one. Secrets must be at least 16 characters.
 *
 * @example parseKeyRing('k2:9f8e…,k1:0a1b…').current // 'k2'
 * @example parseKeyRing('{"current":"k2","k2":"9f8e…","k1":"0a1b…"}').current // 'k2'
 */
export function parseKeyRing(text: string): KeyRing {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) return parseJsonKeyRing(trimmed);
  const keys = new Map<string, Buffer>();
  let current = '';
  for (const part of trimmed.split(/[\s,]+/).filter(Boolean)) {
    const i = part.indexOf(':');
    const id = addKey(keys, i > 0 ? part.slice(0, i) : '', part.slice(i + 1));
    current ||= id;
  }
  if (!current) throw new KeyRingError('the key ring is empty; write it as id:secret[,id:secret…]');
  return { current, keys };
}

function addKey(keys: Map<string, Buffer>, id: string, secret: unknown): string {
  if (!/^[A-Za-z0-9_-]{1,16}$/.test(id)) throw new KeyRingError('each key must be written id:secret with an id of 1 to 16 letters, digits, "_" or "-"');
  if (typeof secret !== 'string' || secret.length < 16) throw new KeyRingError(`key ${id}: the secret must be a string of at least 16 characters`);
  if (keys.has(id)) throw new KeyRingError(`key ${id} appears twice`);
  keys.set(id, Buffer.from(secret, 'utf8'));
  return id;
}

function parseJsonKeyRing(text: string): KeyRing {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new KeyRingError('the key ring starts with "{" but is not a JSON object');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new KeyRingError('a JSON key ring must be an object of "id": "secret" members');
  const { current, ...members } = value as Record<string, unknown>;
  const keys = new Map<string, Buffer>();
  for (const [id, secret] of Object.entries(members)) {
    // Another kind of JSON secret (a database password, say) must not be echoed, names included.
    if (!/^[A-Za-z0-9_-]{1,16}$/.test(id) || typeof secret !== 'string' || secret.length < 16) {
      throw new KeyRingError('every member of a JSON key ring must be "id": "secret" with an id of 1 to 16 letters, digits, "_" or "-" and a secret of at least 16 characters');
    }
    addKey(keys, id, secret);
  }
  if (keys.size === 0) throw new KeyRingError('the key ring is empty; write it as {"id": "secret"}');
  if (current === undefined && keys.size > 1) throw new KeyRingError('a JSON key ring with several keys must name the current one: "current": "id"');
  const id = current === undefined ? [...keys.keys()][0] : current;
  if (typeof id !== 'string' || !keys.has(id)) throw new KeyRingError('"current" must name one of the key ring\'s ids');
  return { current: id, keys };
}

/**
 * A bounded cache of recently used values (ids repeat, and HMAC is the pipeline's largest cost):
 * two generations; a hit in the old one is copied to the new one, and when the new one is full
 * the old one is dropped. A hit changes nothing, where a strict LRU's delete and re-insert on
 * every lookup cost a sizeable part of what the cache saves.
 */
class RecentCache {
  private young = new Map<string, string>();
  private old = new Map<string, string>();
  /** Holds at most `2 × generation` values. */
  constructor(private readonly generation: number) {}
  get(k: string): string | undefined {
    const v = this.young.get(k);
    if (v !== undefined) return v;
    const o = this.old.get(k);
    if (o !== undefined) this.set(k, o);
    return o;
  }
  set(k: string, v: string): void {
    if (this.young.size >= this.generation) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(k, v);
  }
}

/** Truncates an IPv4 address to its /24 and an IPv6 address to its /48; anything else is dropped. */
export function truncateIp(v: string): string | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(v);
  if (v4) return `${v4[1]}.${v4[2]}.${v4[3]}.0`;
  if (v.includes(':') && /^[0-9a-fA-F:]+$/.test(v)) {
    const [head] = v.split('::');
    const groups = head.split(':').filter(Boolean).slice(0, 3);
    return `${groups.join(':')}::`;
  }
  return undefined;
}

/** Coarsens a date or timestamp to the first day of its month (`2024-05-01`); else dropped. */
export function coarsenDate(v: string): string | undefined {
  const m = /^(\d{4})-(\d{2})/.exec(v);
  return m ? `${m[1]}-${m[2]}-01` : undefined;
}

/**
 * The lower edge of a number's bucket (same type as the input: a numeric string stays a
 * string), or undefined for a value that is not a finite number or lies below the first edge.
 */
export function bucketNumber(v: unknown, bucket: number | number[]): number | string | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n)) return undefined;
  let edge: number | undefined;
  if (typeof bucket === 'number') edge = Math.floor(n / bucket) * bucket;
  else for (const e of bucket) if (e <= n) edge = e;
  if (edge === undefined) return undefined;
  edge = Number(edge.toPrecision(15)); // 0.1 * 3 is 0.30000000000000004
  return typeof v === 'string' ? String(edge) : edge;
}

/**
 * Applies field policies to records.
 *
 * @example
 *   const p = new Pseudonymizer(parseKeyRing('k1:0123456789abcdef'), { 'metadata.user_id': 'hash' });
 *   p.apply({ metadata: { user_id: 'u-1' } }); // { metadata: { user_id: 'k1:5c2e…' } }
 */
export class Pseudonymizer {
  /** Pseudonyms by key id, then value. */
  private readonly caches = new Map<string, RecentCache>();
  private readonly paths: Array<{ path: string[]; policy: FieldPolicy }>;

  constructor(
    private readonly ring: KeyRing,
    fields: Record<string, FieldPolicy>,
  ) {
    this.paths = Object.entries(fields).map(([p, policy]) => ({ path: p.split('.'), policy }));
  }

  /** The pseudonym of a value under the current key (or the named one). */
  pseudonym(value: string, keyId = this.ring.current): string {
    let cache = this.caches.get(keyId);
    let out = cache?.get(value);
    if (out === undefined) {
      const key = this.ring.keys.get(keyId);
      if (!key) throw new KeyRingError(`no key ${keyId} in the key ring`);
      out = `${keyId}:${createHmac('sha256', key).update(value).digest('hex').slice(0, 32)}`;
      if (!cache) this.caches.set(keyId, (cache = new RecentCache(50_000)));
      cache.set(value, out);
    }
    return out;
  }

  /** A subject's pseudonym under every key of the ring (for erasure). */
  pseudonymsOf(value: string): string[] {
    const out: string[] = [];
    this.pushPseudonyms(value, out);
    return out;
  }

  /** Appends the value's pseudonym under every key of the ring to `out`. */
  private pushPseudonyms(value: string, out: string[]): void {
    for (const id of this.ring.keys.keys()) out.push(this.pseudonym(value, id));
  }

  /** The pseudonyms, under every key, of the record's `hash` fields (to check against erasures). */
  subjectsOf(record: unknown): string[] {
    const out: string[] = [];
    this.eachHashed(record, (v) => this.pushPseudonyms(typeof v === 'string' ? v : JSON.stringify(v), out));
    return out;
  }

  /**
   * The pseudonyms an already pseudonymized record holds in its `hash` fields (a redriven dead
   * letter, an archived line), to check against erasures again.
   */
  pseudonymsIn(record: unknown): string[] {
    const out: string[] = [];
    this.eachHashed(record, (v) => typeof v === 'string' && out.push(v));
    return out;
  }

  /** Calls `fn` with the value of each `hash` field the record has. */
  private eachHashed(record: unknown, fn: (value: unknown) => void): void {
    for (const { path, policy } of this.paths) {
      if (policy !== 'hash') continue;
      let v: unknown = record;
      for (const k of path) v = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined;
      if (v !== null && v !== undefined) fn(v);
    }
  }

  /** A copy of the record with every policy applied (the input is not changed). */
  apply(record: unknown): unknown {
    if (record === null || typeof record !== 'object' || Array.isArray(record)) return record;
    const out = structuredCloneShallowPaths(record as Record<string, unknown>, this.paths.map((p) => p.path));
    for (const { path, policy } of this.paths) {
      if (policy === 'keep') continue;
      let parent: Record<string, unknown> | undefined = out;
      for (let i = 0; i < path.length - 1 && parent; i++) {
        const next: unknown = parent[path[i]];
        parent = next !== null && typeof next === 'object' && !Array.isArray(next) ? (next as Record<string, unknown>) : undefined;
      }
      const leaf = path[path.length - 1];
      if (!parent || !(leaf in parent)) continue;
      const v = parent[leaf];
      let replaced: unknown;
      if (policy === 'drop' || v === null || v === undefined) replaced = undefined;
      else if (policy === 'hash') replaced = this.pseudonym(typeof v === 'string' ? v : JSON.stringify(v));
      else if (typeof policy === 'object') replaced = bucketNumber(v, policy.bucket);
      else if (policy === 'truncate-ip') replaced = typeof v === 'string' ? truncateIp(v) : undefined;
      else replaced = typeof v === 'string' ? coarsenDate(v) : undefined;
      if (replaced === undefined) delete parent[leaf];
      else parent[leaf] = replaced;
    }
    return out;
  }
}

/** Copies the objects along the given paths so that changing them leaves the input intact. */
function structuredCloneShallowPaths(root: Record<string, unknown>, paths: string[][]): Record<string, unknown> {
  const out = { ...root };
  for (const path of paths) {
    let src: Record<string, unknown> = out;
    for (let i = 0; i < path.length - 1; i++) {
      const next = src[path[i]];
      if (next === null || typeof next !== 'object' || Array.isArray(next)) break;
      const copy = { ...(next as Record<string, unknown>) };
      src[path[i]] = copy;
      src = copy;
    }
  }
  return out;
}
