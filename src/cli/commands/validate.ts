/** `sluice validate`: loads the config and prints every problem (exit 2) or `ok`. */
import { parseArgs } from 'node:util';
import { ConfigError, DEFAULT_CONFIG_FILE, formatIssue, loadConfig, readEnvironment } from '../../config/load-config.ts';

export const usage = 'usage: sluice validate [--config FILE]';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' } } });
  const file = values.config ?? readEnvironment().configFile ?? DEFAULT_CONFIG_FILE;
  try {
    await loadConfig(file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const issue of e.issues) process.stderr.write(`${file}: ${formatIssue(issue)}\n`);
    return 2;
  }
  process.stdout.write('ok\n');
  return 0;
}
