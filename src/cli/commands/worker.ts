/**
 * `sluice worker --nats URL`: consumers only, behind API nodes started with
 * `sluice start --intake jetstream`. Needs DATABASE_URL (the PostgreSQL the API nodes use).
 * Stops cleanly on SIGTERM or SIGINT: takes no more messages, delivers and acknowledges those it
 * took, exits.
 */
import { parseArgs } from 'node:util';
import { createPinoLogger } from '../../runtime/pino-logger.ts';
import { startWorker } from '../../runtime/worker.ts';
import { guardDriverFaults } from '../../runtime/driver-faults.ts';
import { loadConfigOrReport, logLevel, shutdownSeconds, untilSignal, UsageError } from '../cli-io.ts';
import { jetStreamOptions } from '../../log/jetstream-intake.ts';
import { STORE_OPTIONS, storeLocation } from '../store-args.ts';

export const usage = `usage: sluice worker --nats nats://HOST:PORT [--nats-stream NAME] [--ack-wait SECONDS] [--shutdown-timeout SECONDS] [--port N [--host ADDR]] [--config FILE]   (DATABASE_URL: the PostgreSQL server)
  --ack-wait: a message unacknowledged this long goes to another worker (default 30; the API nodes must say the same)
  --port: serve GET /metrics, /healthz and /readyz (on 127.0.0.1 unless --host says otherwise)
  --shutdown-timeout: on SIGTERM, exit after this long even if delivery is not done (default 25)`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...STORE_OPTIONS, nats: { type: 'string' }, 'nats-stream': { type: 'string' }, 'ack-wait': { type: 'string' }, 'shutdown-timeout': { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } } });
  if (!values.nats || !/^(nats|tls):\/\/\S+$/.test(values.nats)) throw new UsageError(`--nats: expected nats://HOST:PORT, got ${JSON.stringify(values.nats ?? '')}`);
  const ackWait = values['ack-wait'] === undefined ? undefined : Number(values['ack-wait']);
  if (ackWait !== undefined && (!Number.isInteger(ackWait) || ackWait < 1 || ackWait > 3600)) throw new UsageError('--ack-wait must be an integer number of seconds from 1 to 3600');
  const shutdownTimeout = shutdownSeconds(values['shutdown-timeout']);
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new UsageError(`--port: expected a port number 0 to 65535, got ${JSON.stringify(values.port)}`);
  const level = logLevel();
  const where = storeLocation(values);
  if (!where.databaseUrl) throw new UsageError('a worker needs DATABASE_URL: the PostgreSQL server the API nodes write to');
  const loaded = await loadConfigOrReport(values.config);
  if (loaded === null) return 2;
  const log = createPinoLogger(level);
  guardDriverFaults(log);
  const worker = await startWorker({ config: loaded.config, databaseUrl: where.databaseUrl, jetstream: jetStreamOptions(values.nats, loaded.config.jetstream, { stream: values['nats-stream'], ackWaitSeconds: ackWait }), log, port, host: values.host });
  return untilSignal(log, 'delivering the messages taken', () => worker.stop(), shutdownTimeout);
}
