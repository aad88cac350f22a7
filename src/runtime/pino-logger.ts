/**
 * The log of `sluice start` and `sluice worker`: pino, one JSON object per line on standard
 * error, `{"level":"warn","time":"…","pid":…,"hostname":"…","msg":"…",…}` with the level as a
 * word. A request's line (and its failure's) carries its `req_id`. The level comes from
 * `SLUICE_LOG_LEVEL` (debug, info, warn, error; default info).
 */
import { pino, destination, stdTimeFunctions, type Logger as Pino } from 'pino';
import type { Level, Logger } from './logger.ts';

function wrap(p: Pino): Logger {
  return {
    debug: (msg, fields) => p.debug(fields ?? {}, msg),
    info: (msg, fields) => p.info(fields ?? {}, msg),
    warn: (msg, fields) => p.warn(fields ?? {}, msg),
    error: (msg, fields) => p.error(fields ?? {}, msg),
  };
}

/**
 * @example const log = createPinoLogger('info'); log.warn('…', { stream });
 * @param write Where lines go (tests); standard error, synchronously, by default (nothing is lost at exit).
 */
export function createPinoLogger(level: Level, write?: (line: string) => void): Logger {
  const out = write ? { write } : destination({ dest: 2, sync: true });
  return wrap(
    pino(
      {
        level,
        timestamp: stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      out,
    ),
  );
}
