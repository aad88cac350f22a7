/**
 * Loads the key rings pseudonymize steps name, once at start (a Secrets Manager secret is
 * fetched once per process, not per batch). In `dev` a missing key ring is generated into the
 * data dir (so `npm start` works at once); in `start` it is an error.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseKeyRing, type KeyRing } from '../core/privacy/pseudonymizer.ts';
import type { SecretSource } from '../config/config.ts';
import { describeSecret, readSecret } from '../config/secrets.ts';
import type { Logger } from './logger.ts';

/** The loaded rings, looked up by the source a pseudonymize step names. */
export type KeyRings = (source: SecretSource) => KeyRing;

/**
 * Loads every source. `tool` is for commands beside a running Sluice (erase): like `start`,
 * except that it uses the data dir's development key ring when one exists (never creating one).
 */
export async function loadKeyRings(sources: SecretSource[], mode: 'dev' | 'start' | 'tool', dataDir: string, log: Logger): Promise<KeyRings> {
  const rings = new Map<string, KeyRing>();
  for (const source of sources) {
    const id = JSON.stringify(source);
    if (rings.has(id)) continue;
    let text = await readSecret(source);
    if (text === null) {
      const file = join(dataDir, 'dev-pseudonym.keys');
      if (mode === 'start' || (mode === 'tool' && !existsSync(file))) {
        throw new Error(`pseudonymize: no key ring in ${describeSecret(source)}; write it as id:secret (secret of 16+ characters)`);
      }
      if (mode === 'dev' && !existsSync(file)) {
        mkdirSync(dataDir, { recursive: true });
        writeFileSync(file, `dev1:${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
      }
      if (mode === 'dev') log.warn(`pseudonymize: ${describeSecret(source)} is not set; using the development key ring ${file} (sluice start requires a real one)`);
      text = readFileSync(file, 'utf8');
    }
    try {
      rings.set(id, parseKeyRing(text));
    } catch (e) {
      throw new Error(`pseudonymize: the key ring in ${describeSecret(source)} cannot be used: ${(e as Error).message}`);
    }
  }
  return (source) => {
    const ring = rings.get(JSON.stringify(source));
    if (!ring) throw new Error(`pseudonymize: the key ring in ${describeSecret(source)} was not loaded at start`);
    return ring;
  };
}
