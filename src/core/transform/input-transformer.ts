/**
 * EventBridge input transformers (InputPathsMap + InputTemplate) and InputPath, with AWS's rules:
 * at most 100 variables; the predefined `aws.events.*` variables; a JSON template inserts a
 * variable outside quotes as a JSON value (strings quoted) and inside quotes as raw text (objects
 * and arrays with their quotes removed); a string template inserts raw text; a path missing from
 * the event gives `null` as a JSON value and nothing inside a string. A JSON template whose
 * result is not valid JSON is not delivered. Configurations AWS refuses are refused when compiled.
 */
import { entriesOf, isObject, JsonEntries, JsonNumber, stringifyLoose, type Loose } from '../json/json-text.ts';
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

/** The result of transforming one event: the exact text the target receives, or why none. */
export type TransformResult = { ok: true; output: string } | { ok: false, error: string };

/**
 * The same result as a value, as a stream record holds it: the text parsed as JSON, or the text
 * itself (a JSON string) when a string template's result is not JSON.
 */
export type TransformValue = { ok: true; value: unknown } | { ok: false, error: string };

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
  /** What `apply` gives, parsed; for most JSON templates built directly, without text. */
  applyValue(event: Loose, ctx: TransformContext): TransformValue;
}

/** A result text as a stream record's value. */
function valueOf(r: TransformResult): TransformValue {
  if (!r.ok) return r;
  try {
    return { ok: true, value: JSON.parse(r.output) as unknown };
  } catch {
    return { ok: true, value: r.output };
  }
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
  const build = json ? valueBuilder(segments) : null;
  const transform: CompiledTransform = {
    applyValue(event, ctx) {
      if (!build) return valueOf(transform.apply(event, ctx));
      const values: unknown[] = [];
      for (const s of segments) {
        if ('text' in s) continue;
        const v = resolve(s.name, vars, event, ctx);
        values.push(v.found ? plainCopy(v.value) : null);
      }
      return { ok: true, value: build(values) };
    },
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
      if (json) {
        try {
          JSON.parse(out);
        } catch (e) {
          return { ok: false, error: `the transformed input is not valid JSON (${(e as Error).message}); EventBridge would not deliver it` };
        }
      }
      return { ok: true, output: out };
    },
  };
  return transform;
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
  const nothing = { ok: false, error: `input path ${path} selects nothing in this event; EventBridge would not deliver it` } as const;
  const transform: CompiledTransform = {
    apply(event) {
      const v = evaluateJsonPath(parsed, event);
      return v.found ? { ok: true, output: stringifyLoose(v.value) } : nothing;
    },
    applyValue(event) {
      const v = evaluateJsonPath(parsed, event);
      return v.found ? { ok: true, value: plainCopy(v.value) } : nothing;
    },
  };
  return transform;
}

/**
 * A value as parsing its JSON text gives it: a fresh copy, never a part of the event itself.
 * Plain values (what JSON.parse made) are copied directly, several times faster than through text.
 */
export function plainCopy(v: Loose): unknown {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number') return Number.isFinite(v) ? (Object.is(v, -0) ? 0 : v) : null;
    return v;
  }
  if (v instanceof JsonNumber || v instanceof JsonEntries) return JSON.parse(stringifyLoose(v)) as unknown;
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = v[i] === undefined ? null : plainCopy(v[i]);
    return out;
  }
  // A shallow copy first, then members replaced in place: the copy keeps the source's shape
  // (V8's fast mode), where members added one by one by name make a dictionary past a dozen,
  // which every later read and JSON.stringify pays for. Spreading defines "__proto__" as a
  // member, as JSON.parse does, and assigning an own member replaces its value.
  const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
  for (const k in out) {
    const x = out[k] as Loose | undefined;
    if (x === undefined) delete out[k];
    else if (typeof x === 'object' || typeof x === 'number') out[k] = plainCopy(x);
  }
  return out;
}

/**
 * The placeholder a string stands for while a template is parsed (`U+0000 i U+0000`; a template
 * holding U+0000 is not built this way), or -1.
 */
function markOf(s: string): number {
  if (s.length < 3 || s.charCodeAt(0) !== 0 || s.charCodeAt(s.length - 1) !== 0) return -1;
  const digits = s.slice(1, -1);
  return /^\d+$/.test(digits) ? Number(digits) : -1;
}

/**
 * For a JSON template whose placeholders all stand as values (none inside a string), a function
 * that builds, from the placeholders' values in order, what parsing the filled-in text would
 * give: the same members in the same order, without writing the text and parsing it again. Null
 * for a template of another shape.
 */
function valueBuilder(segments: Segment[]): ((values: unknown[]) => unknown) | null {
  let n = 0;
  let probe = '';
  for (const s of segments) {
    if ('name' in s) {
      if (s.inString) return null;
      probe += `"\\u0000${n++}\\u0000"`;
    } else {
      if (s.text.includes('\u0000') || /\\u0000/i.test(s.text)) return null;
      probe += s.text;
    }
  }
  let skeleton: unknown;
  try {
    skeleton = JSON.parse(probe);
  } catch {
    return null;
  }
  return builderOf(skeleton);
}

function builderOf(node: unknown): ((values: unknown[]) => unknown) | null {
  if (typeof node === 'string') {
    const i = markOf(node);
    return i < 0 ? () => node : (values) => values[i];
  }
  if (node === null || typeof node !== 'object') return () => node;
  if (Array.isArray(node)) {
    const items = node.map(builderOf);
    if (items.some((b) => b === null)) return null;
    return (values) => items.map((b) => b!(values));
  }
  const keys = Object.keys(node);
  // Assigning "__proto__" would not make a member as JSON.parse does.
  if (keys.includes('__proto__')) return null;
  const members = keys.map((k) => builderOf((node as Record<string, unknown>)[k]));
  if (members.some((b) => b === null)) return null;
  return (values) => {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) out[keys[i]] = members[i]!(values);
    return out;
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
