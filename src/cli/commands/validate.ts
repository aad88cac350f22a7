/** `sluice validate`: loads the config and prints every problem (exit 2) or `ok`. */
import { parseArgs } from 'node:util';
import { loadConfigOrReport } from '../cli-io.ts';

export const usage = 'usage: sluice validate [--config FILE]';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' } } });
  if ((await loadConfigOrReport(values.config)) === null) return 2;
  process.stdout.write('ok\n');
  return 0;
}
