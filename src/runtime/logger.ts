/**
 * The process log interface, and the dependency-free logger the Lambda handlers and CLI tools
 * use: readable lines, or one JSON object per line. `sluice start` and `sluice worker` log
 * through pino instead (pino-logger.ts). Messages carry no event content and no keys (see
 * STYLE: no personal data in logs).
 */

export const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type Level = (typeof LEVELS)[number];

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * The level `SLUICE_LOG_LEVEL` names (default info).
 *
 * @example levelFromEnv({ SLUICE_LOG_LEVEL: 'debug' }) // 'debug'
 */
export function levelFromEnv(env: Record<string, string | undefined> = process.env): Level {
  const v = env.SLUICE_LOG_LEVEL;
  if (v === undefined || v === '') return 'info';
  if ((LEVELS as readonly string[]).includes(v)) return v as Level;
  throw new Error(`SLUICE_LOG_LEVEL must be one of ${LEVELS.join(', ')}, got ${JSON.stringify(v)}`);
}

export function createLogger(
  format: 'text' | 'json',
  write: (s: string) => void = (s) => process.stderr.write(s),
  level: Level = 'info',
): Logger {
  const min = LEVELS.indexOf(level);
  const line = (l: Level) => (msg: string, fields: Record<string, unknown> = {}) => {
    if (LEVELS.indexOf(l) < min) return;
    if (format === 'json') write(JSON.stringify({ level: l, time: new Date().toISOString(), msg, ...fields }) + '\n');
    else write(`${l === 'info' ? '' : l + ': '}${msg}${Object.keys(fields).length ? ' ' + JSON.stringify(fields) : ''}\n`);
  };
  return {
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
  };
}
