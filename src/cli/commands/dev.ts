/**
 * `sluice dev`: runs what Sluice has today on a config. It validates the config, compiles the
 * rules, and routes a file of events (NDJSON) through them, printing each target's input as its
 * stream would receive it. The HTTP intake, streams and store arrive with the pipeline.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { parseJsonText } from '../../core/json/json-text.ts';
import { Router } from '../../pipeline/router.ts';
import { loadConfigOrReport, UsageError } from '../cli-io.ts';

export const usage = 'usage: sluice dev [--config FILE] [--events FILE.ndjson]';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' }, events: { type: 'string' } } });
  const loaded = await loadConfigOrReport(values.config);
  if (loaded === null) return 2;
  const { file, config } = loaded;
  const router = new Router(config);
  const rules = config.rules ?? [];
  const log = (s: string): boolean => process.stderr.write(s + '\n');
  log(`sluice dev: ${file}: ${rules.length} rule(s), ${Object.keys(config.streams ?? {}).length} stream(s)`);
  for (const r of rules) log(`  rule ${r.name} → ${r.targets.map((t) => t.stream).join(', ')}`);
  if (!values.events) {
    log('No --events file given: nothing to route. Try: sluice dev --config examples/sluice.config.ts --events examples/events.ndjson');
    return 0;
  }
  let n = 0;
  let matched = 0;
  let failed = 0;
  const input = createReadStream(values.events);
  const opened = new Promise<void>((resolve, reject) => {
    input.once('open', () => resolve());
    input.once('error', (e: NodeJS.ErrnoException) => reject(new UsageError(`--events: cannot read ${values.events}: ${e.code ?? 'error'}`)));
  });
  await opened;
  const ingestionTime = new Date().toISOString();
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    if (!line.trim()) continue;
    n++;
    let event;
    try {
      event = parseJsonText(line);
    } catch (e) {
      log(`line ${n}: not valid JSON: ${(e as Error).message}`);
      failed++;
      continue;
    }
    const routed = router.route(event, ingestionTime);
    if (routed.length > 0) matched++;
    for (const r of routed) {
      if (r.ok) process.stdout.write(JSON.stringify({ stream: r.stream, rule: r.rule, record: JSON.parse(r.output) }) + '\n');
      else {
        failed++;
        log(`line ${n}: rule ${r.rule} → ${r.stream}: ${r.error}`);
      }
    }
  }
  log(`routed ${n} event(s): ${matched} matched at least one rule, ${failed} failed`);
  return 0;
}
