/**
 * `sluice erase --subject ID [--field user_id] [--dry-run] [--json]`: erases a data subject
 * everywhere Sluice stored its pseudonyms (see src/privacy/erasure.ts) and prints the counts per
 * place. `--subject` may be repeated, or the subjects read one per line from `--subjects-file`
 * (`-` for stdin): one pass over the archives for all of them. Idempotent; works beside a
 * running `sluice dev` on the same data dir.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MetricsStore } from '../../destinations/metrics/metrics-store.ts';
import { Eraser, ErasureError, MAX_SUBJECTS, pseudonymKeySources, erasureTargets } from '../../privacy/erasure.ts';
import type { VendorRequestState } from '../../privacy/vendor-erasure.ts';
import { loadKeyRings } from '../../runtime/key-rings.ts';
import { createLogger } from '../../runtime/logger.ts';
import { openDatabase } from '../../store/open-database.ts';
import type { MetricsDestinationConfig } from '../../config/config.ts';
import { loadConfigOrReport, UsageError } from '../cli-io.ts';
import { STORE_OPTIONS, STORE_USAGE, storeLocation } from '../store-args.ts';

export const usage = `usage: sluice erase --subject ID [--subject ID…] | --subjects-file FILE|- [--field user_id] [--dry-run] [--json] ${STORE_USAGE}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...STORE_OPTIONS, subject: { type: 'string', multiple: true }, 'subjects-file': { type: 'string' }, field: { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } },
  });
  const subjects = [...(values.subject ?? []), ...(values['subjects-file'] === undefined ? [] : readSubjects(values['subjects-file']))];
  if (subjects.length === 0) throw new UsageError('--subject (or --subjects-file) is required: the raw id of the person to erase (it is never stored)');
  if (subjects.length > MAX_SUBJECTS) throw new UsageError(`at most ${MAX_SUBJECTS} subjects in one erasure, got ${subjects.length}`);
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
    const results = await eraser.eraseMany(subjects, values.field ?? 'user_id', { dryRun: values['dry-run'] === true });
    for (const result of results) {
      if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
      else {
        process.stdout.write(`${result.dry_run ? 'would erase (dry run, nothing changed)' : 'erased'} field ${result.field}, pseudonyms ${result.pseudonyms.join(', ')}:\n`);
        for (const [place, n] of Object.entries(result.counts)) process.stdout.write(`  ${place.padEnd(24)} ${n}\n`);
        for (const r of result.vendor_requests ?? []) process.stdout.write(`  request to ${r.place}: ${describeRequest(r)}\n`);
      }
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

/** What became of a vendor request, for people. */
function describeRequest(r: VendorRequestState): string {
  if (r.state === 'sent') return `sent${r.reference ? ` (vendor's reference ${r.reference})` : ''}`;
  if (r.state === 'failed') return `refused: ${r.last_error} (fix the config and erase again)`;
  return `pending (${r.last_error}); retried from ${r.next_attempt_at} by a running Sluice or the next erasure`;
}

/** The subjects of a file (`-`: stdin), one per line; blank lines are skipped. */
function readSubjects(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new UsageError(`--subjects-file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'cannot be read'}`);
  }
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
}
