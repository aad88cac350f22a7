/**
 * Resolves the key rings pseudonymize steps name, once at start. In `dev` a missing key ring is
 * generated into the data dir (so `npm start` works at once); in `start` it is an error.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseKeyRing, type KeyRing } from '../core/privacy/pseudonymizer.ts';
import type { SecretSource } from '../config/config.ts';
import { describeSecret, readSecret } from '../config/secrets.ts';
import type { Logger } from './logger.ts';

/**
 * `tool` is for commands beside a running Sluice (erase): like `start`, except that it uses the
 * data dir's development key ring when one exists (never creating one).
 */
export function keyRingResolver(mode: 'dev' | 'start' | 'tool', dataDir: string, log: Logger): (s: SecretSource) => KeyRing {
  const rings = new Map<string, KeyRing>();
  return (source) => {
    const id = JSON.stringify(source);
    const known = rings.get(id);
    if (known) return known;
    let text = readSecret(source);
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
    const ring = parseKeyRing(text);
    rings.set(id, ring);
    return ring;
  };
}
