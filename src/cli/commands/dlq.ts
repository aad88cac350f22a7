/**
 * `sluice dlq list|show|redrive|purge`: the dead letters (records a destination refused or that
 * exhausted their retries). Filters: --stream, --destination, --code, --since, --until (ISO 8601,
 * on the last failure), --ids. A redrive sends the records back through their stream (skipping
 * the processors they went through); a running Sluice delivers them within a second, else this
 * command delivers them itself. Works beside a running `sluice dev` on the same data dir.
 */
import { parseArgs } from 'node:util';
import { LambdaRuntime } from '../../lambda/runtime.ts';
import { DeadLetterError, DeadLetters, filterFrom, MAX_LIST, narrows, type DeadLetterRow } from '../../pipeline/dead-letters.ts';
import { createLogger } from '../../runtime/logger.ts';
import { openDatabase } from '../../store/open-database.ts';
import { loadConfigOrReport, UsageError, choice } from '../cli-io.ts';
import { STORE_OPTIONS, STORE_USAGE, storeLocation } from '../store-args.ts';

export const usage = `usage: sluice dlq list [FILTERS] [--all] [--limit N] [--json]
       sluice dlq show ID [--json]
       sluice dlq redrive [FILTERS]
       sluice dlq purge [FILTERS] [--all] [--everything]
  FILTERS: --stream NAME --destination TYPE --code CODE --since ISO --until ISO --ids 1,2,3
  --all: also dead letters already redriven; --everything: purge with no filter
  ${STORE_USAGE}`;

const ACTIONS = ['list', 'show', 'redrive', 'purge'] as const;

function line(r: DeadLetterRow): string {
  const state = r.redriven_at ? `redriven ${r.redriven_at}` : 'pending';
  return `${String(r.id).padStart(6)}  ${r.last_failed_at}  ${r.stream}  ${r.destination}  ${r.code}  attempts=${r.attempts}  ${state}\n        ${r.reason}\n`;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...STORE_OPTIONS,
      stream: { type: 'string' },
      destination: { type: 'string' },
      code: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      ids: { type: 'string' },
      all: { type: 'boolean' },
      everything: { type: 'boolean' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const action = choice(positionals[0], 'action', ACTIONS);
  const arg = positionals[1];
  let filter;
  try {
    filter = filterFrom({ stream: values.stream, destination: values.destination, code: values.code, since: values.since, until: values.until, ids: values.ids, all: values.all });
  } catch (e) {
    if (e instanceof DeadLetterError) throw new UsageError(e.message);
    throw e;
  }
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) throw new UsageError(`--limit must be an integer from 1 to ${MAX_LIST}`);
  const id = Number(arg);
  if (action === 'show' && (!Number.isSafeInteger(id) || id < 1)) throw new UsageError('show takes the id of a dead letter (sluice dlq list shows them)');
  if (action === 'purge' && !narrows(filter) && !values.everything) throw new UsageError('purge needs a filter, or --everything to delete every dead letter');

  const loaded = await loadConfigOrReport(values.config);
  if (loaded === null) return 2;
  const where = storeLocation(values);
  const db = await openDatabase(where, { exclusive: false });
  let deliver = false;
  const out = (text: string) => process.stdout.write(text);
  try {
    const dl = new DeadLetters(db);
    if (action === 'list') {
      const rows = await dl.list(filter, limit);
      if (values.json) out(JSON.stringify(rows) + '\n');
      else if (rows.length === 0) out('no dead letters match\n');
      else for (const r of rows) out(line(r));
    } else if (action === 'show') {
      const row = await dl.show(id);
      if (!row) {
        process.stderr.write(`sluice dlq: no dead letter ${id}\n`);
        return 1;
      }
      out(values.json ? JSON.stringify(row) + '\n' : `${line(row)}        record ${row.record_id}: ${JSON.stringify(row.record)}\n`);
    } else if (action === 'purge') {
      out(`purged ${await dl.purge(filter)} dead letters\n`);
    } else {
      const live = await db.query<{ n: number }>("select count(*)::int as n from sluice.workers where heartbeat_at > now() - interval '30 seconds'");
      const result = await dl.redrive(filter, Object.keys(loaded.config.streams ?? {}));
      const per = Object.entries(result.streams).map(([s, n]) => `${s}: ${n}`).join(', ');
      out(`sent ${result.redriven} dead letters back to their streams${per ? ` (${per})` : ''}\n`);
      if (result.redriven > 0 && live[0].n > 0) out('a running Sluice process delivers them; sluice dlq list shows any that fail again\n');
      deliver = result.redriven > 0 && live[0].n === 0;
    }
  } finally {
    await db.close();
  }
  if (deliver) {
    // No process is running: deliver here, with the config's destinations (and their secrets).
    const rt = await LambdaRuntime.open({ config: loaded.config, ...where, log: createLogger('text', (s) => process.stderr.write(s)), stdout: (l) => process.stderr.write(l) });
    try {
      const drained = await rt.drain({ getRemainingTimeInMillis: () => 15 * 60_000 });
      const again = await new DeadLetters(rt.db).list({ ...filter, ids: undefined, all: false }, MAX_LIST);
      out(`delivered ${drained.delivered} intake entries; ${again.length} dead letters pending for this filter\n`);
    } finally {
      await rt.close();
    }
  }
  return 0;
}
