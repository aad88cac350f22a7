/**
 * The process log: readable lines in `dev`, one JSON object per line in `start`. Messages carry
 * no event content (see STYLE: no personal data in logs).
 */

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(format: 'text' | 'json', write: (s: string) => void = (s) => process.stderr.write(s)): Logger {
  const line = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => {
    if (format === 'json') write(JSON.stringify({ level, time: new Date().toISOString(), msg, ...fields }) + '\n');
    else write(`${level === 'info' ? '' : level + ': '}${msg}${Object.keys(fields).length ? ' ' + JSON.stringify(fields) : ''}\n`);
  };
  return { info: line('info'), warn: line('warn'), error: line('error') };
}
