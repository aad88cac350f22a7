/**
 * Shared CLI plumbing: usage errors (exit 2), reading `json|@file` arguments, and line-by-line
 * batch input on stdin with buffered output.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { JsonEntries, parseJsonText, type Loose } from '../core/json/json-text.ts';
import type { SluiceConfig } from '../config/config.ts';
import { ConfigError, DEFAULT_CONFIG_FILE, formatIssue, loadConfig, readEnvironment } from '../config/load-config.ts';
import { levelFromEnv, type Level } from '../runtime/logger.ts';

/** A bad invocation or bad input: the CLI prints the message and exits with status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * The word a command takes first (`keys create`, `dlq list`, `invoke s3`): `word` when it is one
 * of `choices`, else a usage error that says what is missing or wrong and lists the choices.
 *
 * @example choice(argv[0], 'action', ['create', 'list', 'revoke'])
 */
export function choice<T extends string>(word: string | undefined, what: string, choices: readonly T[]): T {
  if (choices.includes(word as T)) return word as T;
  const list = choices.length === 1 ? choices[0] : `one of ${choices.join(', ')}`;
  if (word === undefined || word === '') throw new UsageError(`the ${what} is required: ${list}`);
  if (word.startsWith('-')) throw new UsageError(`the ${what} comes before the options: ${list} (got ${word} first)`);
  throw new UsageError(`the ${what} must be ${list}, got ${JSON.stringify(word)}`);
}

/** The text of an argument given inline or as `@file`. */
export function argText(value: string, name: string): string {
  if (!value.startsWith('@')) return value;
  try {
    return readFileSync(value.slice(1), 'utf8');
  } catch (e) {
    throw new UsageError(`--${name}: cannot read ${value.slice(1)}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** The text of a file named by an option, or of stdin for `-`; unreadable is a usage error naming `what`. */
export function readFileOrStdin(file: string, what: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new UsageError(`${what}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** Parses the JSON text of an argument or field; bad JSON is a usage error naming `what`. */
export function parseJsonArg(text: string, what: string): Loose {
  try {
    return parseJsonText(text);
  } catch (e) {
    throw new UsageError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Loads the config named by `--config`, `SLUICE_CONFIG` or the default file. On problems prints
 * each with the file name on stderr and returns null (the command then exits 2).
 */
export async function loadConfigOrReport(configArg: string | undefined): Promise<{ file: string; config: SluiceConfig } | null> {
  const file = configArg ?? readEnvironment().configFile ?? DEFAULT_CONFIG_FILE;
  try {
    return { file, config: await loadConfig(file) };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const issue of e.issues) process.stderr.write(`${file}: ${formatIssue(issue)}\n`);
    return null;
  }
}

/** Calls `handle` for each line of stdin (a final empty line is not a line) and writes what it returns. */
export async function eachStdinLine(handle: (line: string) => string): Promise<void> {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let buffer = '';
  for await (const line of rl) {
    buffer += handle(line) + '\n';
    if (buffer.length > 65536) {
      if (!process.stdout.write(buffer)) await new Promise((r) => process.stdout.once('drain', r));
      buffer = '';
    }
  }
  if (buffer) process.stdout.write(buffer);
}

/**
 * A batch case's `name` and `expect`, checked: `name` a string, echoed first in the answer;
 * `expect` what the case should give (`isExpected` says whether it is of the right kind).
 * The answer gets `"expect"` and `"pass"` when an expectation was given.
 */
export function withExpectation(
  fields: Partial<Record<string, Loose>>,
  isExpected: (v: Loose) => boolean,
  expectedKind: string,
  answer: Record<string, unknown>,
  passes: (expect: Loose) => boolean,
): object {
  const { name, expect } = fields;
  if (name !== undefined && typeof name !== 'string') throw new UsageError('"name" must be a string');
  if (expect !== undefined && !isExpected(expect)) throw new UsageError(`"expect" must be ${expectedKind}`);
  return named(fields, { ...answer, ...(expect === undefined ? {} : { expect, pass: passes(expect) }) });
}

/** An answer with the case's `name` first, when the line has one: a CI log then says which case it was. */
export function named(fields: Partial<Record<string, Loose>>, answer: object): object {
  return typeof fields.name === 'string' ? { name: fields.name, ...answer } : answer;
}

/**
 * Runs a batch (eachStdinLine) whose cases may carry `expect`. Without any expectation it only
 * answers, exit 0. With them, a case that does not pass or a line that is an error fails the
 * batch: stderr says which lines, and the exit status is 1.
 */
export async function expectationBatch(command: string, answer: (line: string) => string): Promise<number> {
  let lines = 0;
  let expecting = false;
  const failed: number[] = [];
  await eachStdinLine((line) => {
    lines++;
    const out = answer(line);
    const r = JSON.parse(out) as { pass?: boolean; error?: string };
    if (r.pass !== undefined) expecting = true;
    if (r.pass === false || r.error !== undefined) failed.push(lines);
    return out;
  });
  if (!expecting) return 0;
  if (failed.length === 0) {
    process.stderr.write(`${command}: all ${lines} cases passed\n`);
    return 0;
  }
  const shown = failed.slice(0, 20).join(', ') + (failed.length > 20 ? ', …' : '');
  process.stderr.write(`${command}: ${failed.length} of ${lines} cases failed (line${failed.length === 1 ? '' : 's'} ${shown})\n`);
  return 1;
}

/**
 * Answers one batch line: parses it as a JSON object whose keys must be among `allowed` (a
 * duplicate key keeps its last value), computes the answer, and turns an error into
 * `{"error": …}` with `describe` (which rethrows what it does not recognise), after the line's
 * `name` when it has one.
 */
export function answerLine(
  text: string,
  allowed: readonly string[],
  compute: (fields: Partial<Record<string, Loose>>) => object,
  describe: (e: unknown) => string,
): string {
  const fields: Partial<Record<string, Loose>> = {};
  try {
    let line: Loose;
    try {
      line = parseJsonText(text);
    } catch (e) {
      throw new UsageError(`line is not valid JSON: ${(e as Error).message}`);
    }
    if (!(line instanceof JsonEntries)) throw new UsageError(`line must be a JSON object with ${allowed.join(', ')}`);
    for (const [k, v] of line.entries) {
      if (!allowed.includes(k)) throw new UsageError(`unknown field "${k}"; allowed: ${allowed.join(', ')}`);
      fields[k] = v;
    }
    return JSON.stringify(compute(fields));
  } catch (e) {
    return JSON.stringify(named(fields, { error: describe(e) }));
  }
}

/** Seconds SIGTERM may take to drain before the process exits anyway (under Kubernetes' default 30). */
export const DEFAULT_SHUTDOWN_SECONDS = 25;

/**
 * Resolves with the exit status once SIGTERM or SIGINT has stopped the process's work: `stop`
 * (deliver what was taken, close) resolving gives 0, failing gives 1. Shutdown is bounded: when
 * `stop` has not finished after `timeoutSeconds`, or a second signal comes, the process exits
 * with 1 at once. Nothing acknowledged is lost that way: what was not delivered stays in the
 * intake log (or unacknowledged in JetStream) and is delivered after the restart or by another
 * process.
 *
 * @example return untilSignal(log, 'delivering what was accepted', () => sluice.stop(), 25);
 */
export function untilSignal(log: { info(m: string): void; error(m: string): void }, what: string, stop: () => Promise<void>, timeoutSeconds = DEFAULT_SHUTDOWN_SECONDS): Promise<number> {
  return new Promise<number>((done) => {
    let stopping = false;
    const shutdown = (signal: string): void => {
      if (stopping) {
        log.error(`${signal} again: exiting now; what was not delivered stays in the intake log`);
        process.exit(1);
      }
      stopping = true;
      log.info(`${signal}: ${what}, then exiting (at most ${timeoutSeconds} s)`);
      const deadline = setTimeout(() => {
        log.error(`shutdown did not finish within ${timeoutSeconds} s: exiting now; what was not delivered stays in the intake log and is delivered after a restart or by another process`);
        process.exit(1);
      }, timeoutSeconds * 1000);
      deadline.unref();
      const t0 = Date.now();
      stop().then(
        () => {
          clearTimeout(deadline);
          log.info(`stopped after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${what} is done; exiting 0`);
          done(0);
        },
        (e: Error) => {
          clearTimeout(deadline);
          log.error(`shutdown failed: ${e.name}`);
          done(1);
        },
      );
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  });
}

/**
 * `--shutdown-timeout SECONDS`, 1 to 3600.
 *
 * @example shutdownSeconds('10') // 10
 */
export function shutdownSeconds(value: string | undefined): number {
  if (value === undefined) return DEFAULT_SHUTDOWN_SECONDS;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 3600) throw new UsageError(`--shutdown-timeout must be an integer number of seconds from 1 to 3600, got ${JSON.stringify(value)}`);
  return n;
}

/** `SLUICE_LOG_LEVEL`, a bad value being a usage error (exit 2). */
export function logLevel(): Level {
  try {
    return levelFromEnv();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
