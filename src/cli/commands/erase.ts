/**
 * `sluice erase --subject ID [--field user_id] [--dry-run] [--json]`: erases a data subject
 * everywhere Sluice stored its pseudonyms (see src/privacy/erasure.ts) and prints the counts per
 * place. Idempotent; works beside a running `sluice dev` on the same data dir.
 */
import { parseArgs } from 'node:util';
import { MetricsStore } from '../../destinations/metrics/metrics-store.ts';
import { Eraser, ErasureError, pseudonymKeySources, erasureTargets } from '../../privacy/erasure.ts';
import { loadKeyRings } from '../../runtime/key-rings.ts';
import { createLogger } from '../../runtime/logger.ts';
import { openDatabase } from '../../store/open-database.ts';
import type { MetricsDestinationConfig } from '../../config/config.ts';
import { loadConfigOrReport, UsageError } from '../cli-io.ts';
import { STORE_OPTIONS, STORE_USAGE, storeLocation } from '../store-args.ts';

export const usage = `usage: sluice erase --subject ID [--field user_id] [--dry-run] [--json] ${STORE_USAGE}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...STORE_OPTIONS, subject: { type: 'string' }, field: { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } },
  });
  if (!values.subject) throw new UsageError('--subject is required: the raw id of the person to erase (it is never stored)');
  const loaded = await loadConfigOrReport(values.config);
  if (loaded === null) return 2;
  const where = storeLocation(values);
  const log = createLogger('text', (s) => process.stderr.write(s));
  let rings;
  try {
    const sources = pseudonymKeySources(loaded.config);
    const keyRing = await loadKeyRings(sources, 'tool', where.dataDir, log);
    rings = sources.map(keyRing);
  } catch (e) {
    process.stderr.write(`sluice erase: ${(e as Error).message}\n`);
    return 2;
  }
  const metrics = Object.values(loaded.config.streams ?? {}).find((s) => s.destination.type === 'metrics')?.destination as MetricsDestinationConfig | undefined;
  const db = await openDatabase(where, { exclusive: false });
  try {
    const eraser = new Eraser(db, erasureTargets(loaded.config, rings), new MetricsStore(db, { rollupDimensions: metrics?.rollup_dimensions }));
    const result = await eraser.erase(values.subject, values.field ?? 'user_id', { dryRun: values['dry-run'] === true });
    if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
    else {
      process.stdout.write(`${result.dry_run ? 'would erase (dry run, nothing changed)' : 'erased'} field ${result.field}, pseudonyms ${result.pseudonyms.join(', ')}:\n`);
      for (const [place, n] of Object.entries(result.counts)) process.stdout.write(`  ${place.padEnd(24)} ${n}\n`);
    }
    return 0;
  } catch (e) {
    if (e instanceof ErasureError) {
      process.stderr.write(`sluice erase: ${e.message}\n`);
      return 2;
    }
    throw e;
  } finally {
    await db.close();
  }
}
