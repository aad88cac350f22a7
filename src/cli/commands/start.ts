/**
 * `sluice start`: Sluice for production: no demo, Firehose's default buffering, JSON logs.
 */
import { serve, serveUsage } from './serve.ts';

export const usage = serveUsage('start');

export async function run(argv: string[]): Promise<number> {
  return serve('start', argv, async ({ sluice, log, file }) => {
    log.info('sluice started', { config: file, url: sluice.url, database: sluice.db.kind });
    return () => {};
  });
}
