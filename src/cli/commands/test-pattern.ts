/**
 * `sluice test-pattern`: like EventBridge's TestEventPattern. One pattern and event, or a batch
 * of `{"pattern":…,"event":…}` lines on stdin (each may be a JSON value or a string of JSON text),
 * with an optional `"name"` and `"expect"` for checking a rule file in CI.
 */
import { parseArgs } from 'node:util';
import { isObject, type Loose } from '../../core/json/json-text.ts';
import { PatternError } from '../../core/pattern/compile-pattern.ts';
import { RuleMachine } from '../../core/pattern/rule-machine.ts';
import { answerLine, argText, expectationBatch, parseJsonArg, UsageError, withExpectation } from '../cli-io.ts';

export const usage = `usage: sluice test-pattern --pattern <json|@file> --event <json|@file>
       sluice test-pattern --batch < cases.ndjson`;

/** Whether `pattern` matches `event`; throws PatternError or UsageError. */
export function testPattern(pattern: Loose | string, event: Loose | string): boolean {
  const machine = new RuleMachine<number>();
  machine.add(0, pattern);
  const e = typeof event === 'string' ? parseJsonArg(event, 'event') : event;
  if (!isObject(e)) throw new UsageError('event must be a JSON object');
  return machine.matchEvent(e).length > 0;
}

/** One batch line `{"pattern","event"}` (optionally `"name"` and `"expect": true|false`) in, one result line out. */
export function testPatternLine(text: string): string {
  return answerLine(
    text,
    ['pattern', 'event', 'name', 'expect'],
    (fields) => {
      const { pattern, event } = fields;
      if (pattern === undefined) throw new UsageError('missing "pattern"');
      if (event === undefined) throw new UsageError('missing "event"');
      const matches = testPattern(pattern, event);
      return withExpectation(fields, (v) => typeof v === 'boolean', 'true or false', { matches }, (expect) => expect === matches);
    },
    describe,
  );
}

function describe(e: unknown): string {
  if (e instanceof PatternError) return `invalid pattern: ${e.message}`;
  if (e instanceof UsageError) return e.message;
  throw e;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { pattern: { type: 'string' }, event: { type: 'string' }, batch: { type: 'boolean' } },
  });
  if (values.batch) {
    if (values.pattern || values.event) throw new UsageError('--batch reads pattern and event from stdin; do not also pass --pattern or --event');
    return expectationBatch('sluice test-pattern', testPatternLine);
  }
  if (!values.pattern || !values.event) throw new UsageError('--pattern and --event are required');
  const pattern = argText(values.pattern, 'pattern');
  const event = argText(values.event, 'event');
  try {
    process.stdout.write(String(testPattern(pattern, event)) + '\n');
  } catch (e) {
    process.stderr.write(describe(e) + '\n');
    return 2;
  }
  return 0;
}
