/**
 * What `sluice dev` and `sluice start` share: load the config, open the store, serve, and stop
 * cleanly on SIGTERM or SIGINT (stop taking requests, deliver what was accepted, exit).
 */
import { parseArgs } from 'node:util';
import { startSluice, type RunningSluice } from '../../runtime/sluice-node.ts';
import { createLogger, type Logger } from '../../runtime/logger.ts';
import { createPinoLogger } from '../../runtime/pino-logger.ts';
import { guardDriverFaults } from '../../runtime/driver-faults.ts';
import { loadConfigOrReport, logLevel, shutdownSeconds, untilSignal, UsageError } from '../cli-io.ts';
import { jetStreamOptions } from '../../log/jetstream-intake.ts';
import { STORE_OPTIONS, STORE_USAGE, storeLocation } from '../store-args.ts';

export const serveUsage = (cmd: string): string =>
  `usage: sluice ${cmd} ${STORE_USAGE} [--port N] [--host ADDR] [--shutdown-timeout SECONDS]${cmd === 'dev' ? ' [--pg-port N] [--no-demo]' : ' [--intake sql|jetstream --nats URL [--nats-stream NAME]]'}`;

export interface Served {
  sluice: RunningSluice;
  log: Logger;
  dataDir: string;
  file: string;
}

export async function serve(mode: 'dev' | 'start', argv: string[], after: (s: Served) => Promise<() => void>): Promise<number> {
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    ...STORE_OPTIONS,
    port: { type: 'string' },
    host: { type: 'string' },
    'shutdown-timeout': { type: 'string' },
    ...(mode === 'dev' ? { 'no-demo': { type: 'boolean' }, 'pg-port': { type: 'string' } } : { intake: { type: 'string' }, nats: { type: 'string' }, 'nats-stream': { type: 'string' } }),
  };
  const values = parseArgs({ args: argv, options }).values as Record<string, string | undefined>;
  const intake = values.intake ?? 'sql';
  if (intake !== 'sql' && intake !== 'jetstream') throw new UsageError(`--intake must be sql or jetstream, got ${JSON.stringify(intake)}`);
  const nats = values.nats;
  if (intake === 'jetstream' && !nats) throw new UsageError('--intake jetstream needs --nats nats://HOST:PORT');
  if (nats && !/^(nats|tls):\/\/\S+$/.test(nats)) throw new UsageError(`--nats: expected nats://HOST:PORT, got ${JSON.stringify(nats)}`);
  const port = values.port === undefined ? 8787 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: expected a port number 0 to 65535, got ${JSON.stringify(values.port)}`);
  const pgPort = values['pg-port'] === undefined ? undefined : Number(values['pg-port']);
  if (pgPort !== undefined && (!Number.isInteger(pgPort) || pgPort < 1 || pgPort > 65535)) throw new UsageError(`--pg-port: expected a port number 1 to 65535, got ${JSON.stringify(values['pg-port'])}`);
  const shutdownTimeout = shutdownSeconds(values['shutdown-timeout']);
  const level = logLevel();
  const loaded = await loadConfigOrReport(values.config);
  if (loaded === null) return 2;
  const log = mode === 'dev' ? createLogger('text', undefined, level) : createPinoLogger(level);
  guardDriverFaults(log);
  const where = storeLocation(values);
  let sluice: RunningSluice;
  try {
    if (intake === 'jetstream' && !where.databaseUrl) throw new UsageError('--intake jetstream needs DATABASE_URL: API nodes and workers share one PostgreSQL');
    const jetstream = intake === 'jetstream' ? jetStreamOptions(nats!, loaded.config.jetstream, { stream: values['nats-stream'] }) : undefined;
    sluice = await startSluice({ mode, config: loaded.config, port, host: values.host, dataDir: where.dataDir, databaseUrl: where.databaseUrl, log, pgPort, jetstream });
  } catch (e) {
    if (e instanceof UsageError) throw e;
    log.error(`sluice ${mode}: could not start: ${(e as Error).message}`);
    return 1;
  }
  const stopExtras = await after({ sluice, log, dataDir: where.dataDir, file: loaded.file });
  return untilSignal(log, 'delivering what was accepted', () => {
    stopExtras();
    return sluice.stop();
  }, shutdownTimeout);
}
