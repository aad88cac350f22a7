/**
 * EventBridge input transformers (InputPathsMap + InputTemplate) and InputPath, with AWS's rules:
 * at most 100 variables; the predefined `aws.events.*` variables; a JSON template inserts a
 * variable outside quotes as a JSON value (strings quoted) and inside quotes as raw text (objects
 * and arrays with their quotes removed); a string template inserts raw text; a path missing from
 * the event gives `null` as a JSON value and nothing inside a string. A JSON template whose
 * result is not valid JSON is not delivered. Configurations AWS refuses are refused when compiled.
 */
import { entriesOf, isObject, JsonEntries, stringifyLoose, type Loose } from '../json/json-text.ts';
import { evaluateJsonPath, parseJsonPath, type JsonPath } from './json-path.ts';

export const MAX_VARIABLES = 100;
export const MAX_TEMPLATE_LENGTH = 8192;
export const MAX_PATH_LENGTH = 256;
const KEY = /^[A-Za-z0-9_-]+$/;
const PREDEFINED = new Set([
  'aws.events.rule-arn',
  'aws.events.rule-name',
  'aws.events.event.ingestion-time',
  'aws.events.event',
  'aws.events.event.json',
]);
const WHOLE_EVENT = new Set(['aws.events.event', 'aws.events.event.json']);

/** An input transformer as EventBridge's API takes it. */
export interface InputTransformerSpec {
  inputPathsMap?: Record<string, string>;
  inputTemplate: string;
}

/** What the predefined variables say. */
export interface TransformContext {
  ruleName: string;
  ruleArn: string;
  /** ISO 8601 time the event was received. */
  ingestionTime: string;
}

/**
 * The result of transforming one event: the exact text the target receives, or why none. A JSON
 * template's result also comes parsed (`value`): checking it is JSON parsed it already.
 */
export type TransformResult = { ok: true; output: string; value?: unknown } | { ok: false, error: string };

/** A configuration AWS would refuse; `where` names the offending part. */
export class TransformConfigError extends Error {
  constructor(
    readonly where: string,
    readonly reason: string,
  ) {
    super(`${where}: ${reason}`);
    this.name = 'TransformConfigError';
  }
}

type Segment = { text: string } | { name: string; inString: boolean };

/** A compiled transformer: apply it to events. */
export interface CompiledTransform {
  apply(event: Loose, ctx: TransformContext): TransformResult;
}

/**
 * Compiles an input transformer, refusing what PutTargets would refuse.
 *
 * @example
 *   const t = compileInputTransformer({ inputPathsMap: { s: '$.detail.state' }, inputTemplate: '"state: <s>"' });
 *   t.apply(event, ctx); // { ok: true, output: '"state: running"' }
 * @throws TransformConfigError
 */
export function compileInputTransformer(spec: InputTransformerSpec): CompiledTransform {
  const vars = new Map<string, JsonPath>();
  const map = spec.inputPathsMap ?? {};
  const keys = Object.keys(map);
  if (keys.length > MAX_VARIABLES) {
    throw new TransformConfigError('input_paths_map', `has ${keys.length} variables; at most ${MAX_VARIABLES} are allowed`);
  }
  for (const key of keys) {
    const at = `input_paths_map.${key}`;
    if (PREDEFINED.has(key)) throw new TransformConfigError(at, `"${key}" is a predefined variable and cannot be redefined`);
    if (key.toLowerCase().startsWith('aws.')) throw new TransformConfigError(at, 'variable names cannot start with "AWS."');
    if (!KEY.test(key) || key.length > 256) {
      throw new TransformConfigError(at, 'variable names must be 1 to 256 letters, digits, "_" or "-"');
    }
    const path = map[key];
    if (typeof path !== 'string' || path.length > MAX_PATH_LENGTH) {
      throw new TransformConfigError(at, `must be a JSON path of at most ${MAX_PATH_LENGTH} characters`);
    }
    const parsed = parseJsonPath(path);
    if (typeof parsed === 'string') throw new TransformConfigError(at, parsed);
    vars.set(key, parsed);
  }
  const template = spec.inputTemplate;
  if (typeof template !== 'string' || template.length === 0 || template.length > MAX_TEMPLATE_LENGTH) {
    throw new TransformConfigError('input_template', `must be a string of 1 to ${MAX_TEMPLATE_LENGTH} characters`);
  }
  const known = (name: string): boolean => vars.has(name) || PREDEFINED.has(name);
  const { segments, keyPlaceholder, undefinedOutside } = tokenize(template, known);
  const json = isJsonTemplate(segments);
  const looksJson = /^\s*[[{]/.test(template);
  if ((json || looksJson) && keyPlaceholder) {
    throw new TransformConfigError('input_template', `the placeholder <${keyPlaceholder}> is used as an object key, which a JSON template does not allow`);
  }
  if (looksJson) {
    if (undefinedOutside) {
      throw new TransformConfigError('input_template', `the placeholder <${undefinedOutside}> is not defined in input_paths_map`);
    }
    if (!json) throw new TransformConfigError('input_template', 'looks like JSON but is not valid JSON with its placeholders filled in');
  }
  for (const s of segments) {
    if ('name' in s && WHOLE_EVENT.has(s.name) && (!json || s.inString)) {
      throw new TransformConfigError('input_template', `<${s.name}> can only be used as the value of a JSON field, not inside a string`);
    }
  }
  return {
    apply(event, ctx) {
      let out = '';
      for (const s of segments) {
        if ('text' in s) {
          out += s.text;
          continue;
        }
        const v = resolve(s.name, vars, event, ctx);
        if (!json) out += v.found ? raw(v.value, false) : '';
        else if (s.inString) out += v.found ? raw(v.value, true) : '';
        else out += v.found ? stringifyLoose(v.value) : 'null';
      }
      if (!json) return { ok: true, output: out };
      try {
        return { ok: true, output: out, value: JSON.parse(out) as unknown };
      } catch (e) {
        return { ok: false, error: `the transformed input is not valid JSON (${(e as Error).message}); EventBridge would not deliver it` };
      }
    },
  };
}

/**
 * Compiles an InputPath: the target receives the JSON text of the part of the event it selects.
 *
 * @throws TransformConfigError
 */
export function compileInputPath(path: string): CompiledTransform {
  if (typeof path !== 'string' || path.length === 0 || path.length > MAX_PATH_LENGTH) {
    throw new TransformConfigError('input_path', `must be a JSON path of 1 to ${MAX_PATH_LENGTH} characters`);
  }
  const parsed = parseJsonPath(path);
  if (typeof parsed === 'string') throw new TransformConfigError('input_path', parsed);
  return {
    apply(event) {
      const v = evaluateJsonPath(parsed, event);
      if (!v.found) return { ok: false, error: `input path ${path} selects nothing in this event; EventBridge would not deliver it` };
      return { ok: true, output: stringifyLoose(v.value) };
    },
  };
}

function resolve(name: string, vars: Map<string, JsonPath>, event: Loose, ctx: TransformContext): { found: boolean; value: Loose } {
  switch (name) {
    case 'aws.events.rule-arn':
      return { found: true, value: ctx.ruleArn };
    case 'aws.events.rule-name':
      return { found: true, value: ctx.ruleName };
    case 'aws.events.event.ingestion-time':
      return { found: true, value: ctx.ingestionTime };
    case 'aws.events.event.json':
      return { found: true, value: event };
    case 'aws.events.event':
      return { found: true, value: isObject(event) ? new JsonEntries(entriesOf(event).filter(([k]) => k !== 'detail')) : event };
  }
  return evaluateJsonPath(vars.get(name)!, event);
}

/** A value as raw text: strings unquoted; inside a JSON string, objects and arrays lose their quotes. */
function raw(v: Loose, stripQuotes: boolean): string {
  if (typeof v === 'string') return v;
  const text = stringifyLoose(v);
  return stripQuotes ? text.replace(/"/g, '') : text;
}

/** Splits a template into text and placeholders, noting which placeholders sit inside JSON strings. */
function tokenize(
  template: string,
  known: (name: string) => boolean,
): { segments: Segment[]; keyPlaceholder: string | null; undefinedOutside: string | null } {
  const segments: Segment[] = [];
  let text = '';
  let inString = false;
  let stringHasPlaceholder: string | null = null;
  let keyPlaceholder: string | null = null;
  let pendingBare: string | null = null;
  let undefinedOutside: string | null = null;
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if (c === '<') {
      const end = template.indexOf('>', i + 1);
      const name = end > 0 ? template.slice(i + 1, end) : '';
      if (!inString && /^[A-Za-z0-9_.-]+$/.test(name) && !known(name)) undefinedOutside ??= name;
      if (end > 0 && known(name)) {
        if (text) segments.push({ text });
        text = '';
        segments.push({ name, inString });
        if (inString) stringHasPlaceholder ??= name;
        else pendingBare = name;
        i = end;
        continue;
      }
    }
    text += c;
    if (inString) {
      if (c === '\\') {
        text += template[++i] ?? '';
      } else if (c === '"') {
        inString = false;
        if (stringHasPlaceholder && /^\s*:/.test(template.slice(i + 1))) keyPlaceholder ??= stringHasPlaceholder;
        stringHasPlaceholder = null;
      }
    } else if (c === '"') {
      inString = true;
      pendingBare = null;
    } else if (c === ':' && pendingBare) {
      keyPlaceholder ??= pendingBare;
    } else if (!/\s/.test(c)) {
      pendingBare = null;
    }
  }
  if (text) segments.push({ text });
  return { segments, keyPlaceholder, undefinedOutside };
}

/** A template is JSON when, with its placeholders filled by neutral values, it parses as JSON. */
function isJsonTemplate(segments: Segment[]): boolean {
  const probe = segments.map((s) => ('text' in s ? s.text : s.inString ? '' : 'null')).join('');
  try {
    JSON.parse(probe);
    return true;
  } catch {
    return false;
  }
}
