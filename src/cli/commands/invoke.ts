/**
 * `sluice invoke <handler> --event FILE|-`: runs a Lambda handler in-process against the
 * configured store (the data dir's embedded database, beside a running `sluice dev`, or
 * DATABASE_URL) and prints its response: no Docker, no AWS.
 */
import { parseArgs } from 'node:util';
import { invokeHttp } from '../../lambda/http-handler.ts';
import { LambdaRuntime } from '../../lambda/runtime.ts';
import { loadS3Objects } from '../../lambda/s3-handler.ts';
import { createLogger } from '../../runtime/logger.ts';
import { loadConfigOrReport, readFileOrStdin, UsageError, choice } from '../cli-io.ts';
import { STORE_OPTIONS, STORE_USAGE, storeLocation } from '../store-args.ts';

export const HANDLERS = ['dynamodb', 'firehose-transform', 's3', 'http', 'drain', 'migrate'] as const;

export const usage = `usage: sluice invoke ${HANDLERS.join('|')} --event FILE|- [--stream NAME] [--timeout-ms N] ${STORE_USAGE}
  --stream: the Sluice stream a firehose-transform runs (default: the delivery stream's name)
  drain and migrate take no --event (migrate: an empty CloudFormation request, answered here)`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...STORE_OPTIONS, event: { type: 'string' }, stream: { type: 'string' }, 'timeout-ms': { type: 'string' } },
  });
  const handler = choice(positionals[0], 'handler', HANDLERS);
  const needsEvent = handler !== 'drain' && handler !== 'migrate';
  if (needsEvent && !values.event) throw new UsageError('--event is required: a file with the Lambda event (sluice events … writes one), or - for stdin');
  let event: unknown = {};
  if (values.event) {
    const text = readFileOrStdin(values.event, '--event');
    try {
      event = JSON.parse(text);
    } catch {
      throw new UsageError(`--event: ${values.event} is not JSON`);
    }
  }
  const timeout = values['timeout-ms'] === undefined ? 60_000 : Number(values['timeout-ms']);
  if (!Number.isInteger(timeout) || timeout < 1000 || timeout > 900_000) throw new UsageError('--timeout-ms must be an integer from 1000 to 900000 (Lambda allows up to 15 minutes)');
  const loaded = await loadConfigOrReport(values.config);
  if (loaded === null) return 2;
  const where = storeLocation(values);
  const rt = await LambdaRuntime.open({ config: loaded.config, ...where, log: createLogger('text', (s) => process.stderr.write(s)), stdout: (l) => process.stderr.write(l) });
  const deadline = Date.now() + timeout;
  const context = { getRemainingTimeInMillis: () => deadline - Date.now() };
  try {
    let response: unknown;
    if (handler === 'dynamodb') response = await rt.dynamodb(event as never, context);
    else if (handler === 'firehose-transform') response = await rt.firehoseTransform(event as never, values.stream);
    else if (handler === 's3') response = await loadS3Objects(rt, event as never, context);
    else if (handler === 'http') response = await invokeHttp(rt, event as never, context);
    else if (handler === 'drain') response = await rt.drain(context);
    else response = { status: 'SUCCESS', reason: 'store migrated' }; // opening the runtime migrated it
    process.stdout.write(JSON.stringify(response, null, 2) + '\n');
    return 0;
  } finally {
    await rt.close();
  }
}
