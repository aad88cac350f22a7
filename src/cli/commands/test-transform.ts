/**
 * `sluice test-transform`: what an EventBridge target would receive through an input
 * transformer or an InputPath. One event, or a batch of JSON lines on stdin.
 */
import { parseArgs } from 'node:util';
import { entriesOf, isObject, stringifyLoose, type Loose } from '../../core/json/json-text.ts';
import {
  compileInputPath,
  compileInputTransformer,
  TransformConfigError,
  type TransformResult,
} from '../../core/transform/input-transformer.ts';
import { answerLine, argText, expectationBatch, named, parseJsonArg, UsageError, withExpectation } from '../cli-io.ts';

export const usage = `usage: sluice test-transform --event <json|@file> (--input-paths-map <json|@file> --input-template <text|@file> | --input-path <path>)
                             [--rule-name N] [--rule-arn A] [--ingestion-time T]
       sluice test-transform --batch < cases.ndjson`;

/** A transform request; the event and map may be values or JSON text. */
export interface TransformRequest {
  event: Loose;
  inputPathsMap?: Loose;
  inputTemplate?: Loose;
  inputPath?: Loose;
  ruleName?: Loose;
  ruleArn?: Loose;
  ingestionTime?: Loose;
}

function asValue(v: Loose, what: string): Loose {
  return typeof v === 'string' ? parseJsonArg(v, what) : v;
}

function optString(v: Loose | undefined, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new UsageError(`${what} must be a string`);
  return v;
}

function prop(event: Loose, key: string): Loose | undefined {
  if (!isObject(event)) return undefined;
  let v: Loose | undefined;
  for (const [k, x] of entriesOf(event)) if (k === key) v = x;
  return v;
}

/** Applies the request's transformer (or InputPath) to its event. */
export function testTransform(req: TransformRequest): TransformResult {
  const event = asValue(req.event, 'event');
  if (!isObject(event)) throw new UsageError('event must be a JSON object');
  const template = optString(req.inputTemplate, 'inputTemplate');
  const path = optString(req.inputPath, 'inputPath');
  const hasMap = req.inputPathsMap !== undefined && req.inputPathsMap !== null;
  if (path !== undefined && (template !== undefined || hasMap)) {
    throw new UsageError('InputPath and InputTransformer are mutually exclusive: give inputPath, or inputPathsMap and inputTemplate');
  }
  const ruleName = optString(req.ruleName, 'ruleName') ?? 'test-rule';
  const region = prop(event, 'region');
  const account = prop(event, 'account');
  const ruleArn =
    optString(req.ruleArn, 'ruleArn') ??
    `arn:aws:events:${typeof region === 'string' ? region : 'us-east-1'}:${typeof account === 'string' ? account : '123456789012'}:rule/${ruleName}`;
  const time = prop(event, 'time');
  const ingestionTime = optString(req.ingestionTime, 'ingestionTime') ?? (typeof time === 'string' ? time : new Date().toISOString());
  if (path !== undefined) return compileInputPath(path).apply(event, { ruleName, ruleArn, ingestionTime });
  if (template === undefined) {
    if (hasMap) throw new TransformConfigError('input_template', 'is required with input_paths_map');
    return { ok: true, output: stringifyLoose(event) };
  }
  let map: Record<string, string> | undefined;
  if (hasMap) {
    const m = asValue(req.inputPathsMap!, 'inputPathsMap');
    if (!isObject(m)) throw new UsageError('inputPathsMap must be a JSON object of variable names to JSON paths');
    map = {};
    for (const [k, v] of entriesOf(m)) {
      if (typeof v !== 'string') throw new TransformConfigError(`input_paths_map.${k}`, 'must be a JSON path string');
      map[k] = v;
    }
  }
  return compileInputTransformer({ inputPathsMap: map, inputTemplate: template }).apply(event, { ruleName, ruleArn, ingestionTime });
}

function describe(e: unknown): string {
  if (e instanceof TransformConfigError) return `invalid transformer: ${e.message}`;
  if (e instanceof UsageError) return e.message;
  throw e;
}

const BATCH_FIELDS = ['event', 'inputPathsMap', 'inputTemplate', 'inputPath', 'ruleName', 'ruleArn', 'ingestionTime', 'name', 'expect'];

/** One batch line in (optionally with `"name"` and `"expect"`: the exact output text), one result line out. */
export function testTransformLine(text: string): string {
  return answerLine(
    text,
    BATCH_FIELDS,
    (fields) => {
      if (fields.event === undefined) throw new UsageError('missing "event"');
      const r = testTransform({ ...fields, event: fields.event });
      if (!r.ok) return named(fields, { error: r.error });
      return withExpectation(fields, (v) => typeof v === 'string', 'the exact output text, a string', { output: r.output }, (expect) => expect === r.output);
    },
    describe,
  );
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      event: { type: 'string' },
      'input-paths-map': { type: 'string' },
      'input-template': { type: 'string' },
      'input-path': { type: 'string' },
      'rule-name': { type: 'string' },
      'rule-arn': { type: 'string' },
      'ingestion-time': { type: 'string' },
      batch: { type: 'boolean' },
    },
  });
  if (values.batch) {
    if (values.event) throw new UsageError('--batch reads its cases from stdin; do not also pass --event');
    return expectationBatch('sluice test-transform', testTransformLine);
  }
  if (!values.event) throw new UsageError('--event is required');
  const map = values['input-paths-map'];
  const template = values['input-template'];
  try {
    const r = testTransform({
      event: argText(values.event, 'event'),
      inputPathsMap: map === undefined ? undefined : argText(map, 'input-paths-map'),
      inputTemplate: template === undefined ? undefined : argText(template, 'input-template'),
      inputPath: values['input-path'],
      ruleName: values['rule-name'],
      ruleArn: values['rule-arn'],
      ingestionTime: values['ingestion-time'],
    });
    if (!r.ok) {
      process.stderr.write(r.error + '\n');
      return 2;
    }
    process.stdout.write(r.output + '\n');
    return 0;
  } catch (e) {
    process.stderr.write(describe(e) + '\n');
    return 2;
  }
}
