/**
 * The `sluice` command: dispatches to a subcommand; a usage error prints the reason and the
 * usage on stderr and exits with status 2.
 */
import * as backfill from './commands/backfill.ts';
import * as biRole from './commands/bi-role.ts';
import * as build from './commands/build.ts';
import * as dev from './commands/dev.ts';
import * as dlq from './commands/dlq.ts';
import * as erase from './commands/erase.ts';
import * as events from './commands/events.ts';
import * as invoke from './commands/invoke.ts';
import * as keys from './commands/keys.ts';
import * as start from './commands/start.ts';
import * as testPattern from './commands/test-pattern.ts';
import * as testTransform from './commands/test-transform.ts';
import * as validate from './commands/validate.ts';
import * as worker from './commands/worker.ts';
import { UsageError } from './cli-io.ts';

interface Command {
  usage: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  dev,
  start,
  worker,
  keys,
  erase,
  dlq,
  backfill,
  'bi-role': biRole,
  invoke,
  events,
  build,
  'test-pattern': testPattern,
  'test-transform': testTransform,
  validate,
};

const HELP = `sluice — an open event analytics pipeline

commands:
  dev             run Sluice on the embedded database with demo data (npm start)
  start           run Sluice for production: no demo, Firehose buffering, JSON logs (--intake jetstream: an API node)
  worker          consume the JetStream intake and deliver (scale-out behind sluice start --intake jetstream)
  keys            create, list and revoke API keys
  erase           erase a data subject (GDPR) from every table, the metrics store, the error output and the dead letters
  backfill        replay history (files, folders, globs, S3 prefixes, DynamoDB exports, archives) through the rules
  dlq             list, show, redrive and purge dead letters (records a destination refused or gave up on)
  bi-role         create a PostgreSQL login role that can read the BI tables and nothing else
  invoke          run a Lambda handler in-process on an event file, against the configured store
  events          write a Lambda event (DynamoDB stream, Firehose transformation, S3, API Gateway) from plain JSON
  build           build aws: Lambda bundles and a SAM template for sam deploy
  validate        check a config file: prints every problem, or ok
  test-pattern    test an EventBridge event pattern against an event (like TestEventPattern)
  test-transform  show what a target receives through an input transformer or InputPath

Run "sluice <command> --help" for a command's options.`;

/** Runs the CLI and returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP + '\n');
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`sluice: unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(', ')}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.usage + '\n');
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    const err = e as Error & { code?: string };
    if (e instanceof UsageError || err.code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`sluice ${name}: ${err.message}\n${command.usage}\n`);
      return 2;
    }
    // A failure of the work itself (the store, a secret, a handler): its message, no stack.
    if (e instanceof Error) {
      process.stderr.write(`sluice ${name}: ${err.message}\n`);
      return 1;
    }
    throw e;
  }
}
