/**
 * The JSON path subset EventBridge accepts in InputPathsMap and InputPath: `$`, dot notation
 * (names may hold letters, digits, `-`, `_`, `/` and other characters except `.`, `[`, `]`
 * and spaces), array indices `[0]` and the wildcard `*`.
 */
import { JsonEntries, entriesOf, isObject, type Loose } from '../json/json-text.ts';

export type PathStep = { key: string } | { index: number } | { wildcard: true };

/** A parsed path. `steps` is empty for `$`; `single` when no step is a wildcard (one value at most). */
export interface JsonPath {
  source: string;
  steps: PathStep[];
  single: boolean;
  /** For a single path: its compiled reader, made on first use ({@link compileSingle}). */
  read?: (v: Loose) => Loose | undefined;
}

const NAME = /^[^.[\]\s*]+/;

/**
 * Parses a path, or returns the reason it is invalid.
 *
 * @example parseJsonPath('$.detail.items[0].id')
 */
export function parseJsonPath(source: string): JsonPath | string {
  if (!source.startsWith('$')) return `"${source}" is not a JSON path: it must start with "$"`;
  const steps: PathStep[] = [];
  let i = 1;
  while (i < source.length) {
    const c = source[i];
    if (c === '.') {
      const rest = source.slice(i + 1);
      if (rest.startsWith('*')) {
        steps.push({ wildcard: true });
        i += 2;
        continue;
      }
      const m = NAME.exec(rest);
      if (!m) return `"${source}" is not a valid JSON path: expected a field name at position ${i + 1}`;
      steps.push({ key: m[0] });
      i += 1 + m[0].length;
    } else if (c === '[') {
      const m = /^\[(\d+|\*)\]/.exec(source.slice(i));
      if (!m) return `"${source}" is not a valid JSON path: brackets may hold only an array index or *; use dot notation for names`;
      steps.push(m[1] === '*' ? { wildcard: true } : { index: Number(m[1]) });
      i += m[0].length;
    } else {
      return `"${source}" is not a valid JSON path: unexpected "${c}" at position ${i}`;
    }
  }
  return { source, steps, single: !steps.some((s) => 'wildcard' in s), read: undefined };
}

/** The member `key` of an object value (the last one when the text repeats it), else undefined. */
function member(v: Loose, key: string): Loose | undefined {
  if (v instanceof JsonEntries) {
    let hit: Loose | undefined;
    for (const [k, x] of v.entries) if (k === key) hit = x;
    return hit;
  }
  return isObject(v) && Object.hasOwn(v, key) ? (v as Record<string, Loose>)[key] : undefined;
}

/** The value a path without wildcards selects, or undefined. */
function singleValue(steps: PathStep[], event: Loose): Loose | undefined {
  let v: Loose | undefined = event;
  for (const step of steps) {
    const i = (step as { index?: number }).index;
    v = 'key' in step ? member(v, step.key) : Array.isArray(v) && i! < v.length ? v[i!] : undefined;
    if (v === undefined) return undefined;
  }
  return v;
}

/**
 * The reader of a path without wildcards, as generated code: each step reads a constant name
 * (or index), so V8 caches the read per object shape, where `singleValue`'s reads by a variable
 * name go through the generic lookup (about 80 ns a step; a table reads 20 columns a row). It
 * takes plain objects (what JSON.parse makes) and arrays; anything else, and a name objects
 * inherit (`toString`, `__proto__`…), goes to `singleValue`, which gives the same answers; so
 * does every read where Node disallows generating code.
 */
function compileSingle(steps: PathStep[]): (v: Loose) => Loose | undefined {
  const generic = (v: Loose): Loose | undefined => singleValue(steps, v);
  if (steps.some((s) => 'key' in s && s.key in Object.prototype)) return generic;
  let body = 'let x = v;\n';
  for (const s of steps) {
    if ('key' in s) {
      body += `if (typeof x !== 'object' || x === null || Array.isArray(x)) return undefined;\n`;
      body += `if (Object.getPrototypeOf(x) !== OP) return G(v);\n`;
      body += `x = x[${JSON.stringify(s.key)}];\n`;
    } else {
      body += `if (!Array.isArray(x)) return undefined;\nx = x[${(s as { index: number }).index}];\n`;
    }
    body += 'if (x === undefined) return undefined;\n';
  }
  try {
    const make = new Function('G', 'OP', `return function read(v) {\n${body}return x;\n}`) as (g: typeof generic, op: object) => (v: Loose) => Loose | undefined;
    return make(generic, Object.prototype);
  } catch {
    return generic; // code generation disallowed (node --disallow-code-generation-from-strings)
  }
}

/** The reader of a single path (no wildcards), compiled on first use and kept on the path. */
const readerOf = (path: JsonPath): ((v: Loose) => Loose | undefined) => (path.read ??= compileSingle(path.steps));

/** The values a path selects; `found` is false when the path leads nowhere in this event. */
export function evaluateJsonPath(path: JsonPath, event: Loose): { found: boolean; value: Loose } {
  // The common case, names and indices only: one value at each step, no arrays built.
  if (path.single) {
    const v = readerOf(path)(event);
    return v === undefined ? { found: false, value: null } : { found: true, value: v };
  }
  let current: Loose[] = [event];
  let multi = false;
  for (const step of path.steps) {
    const next: Loose[] = [];
    for (const v of current) {
      if ('key' in step) {
        const hit = member(v, step.key);
        if (hit !== undefined) next.push(hit);
      } else if ('index' in step) {
        if (Array.isArray(v) && step.index < v.length) next.push(v[step.index]);
      } else {
        multi = true;
        if (Array.isArray(v)) next.push(...v);
        else if (isObject(v)) for (const [, x] of entriesOf(v)) next.push(x);
      }
    }
    current = next;
  }
  if (multi) return { found: true, value: current };
  return current.length === 0 ? { found: false, value: null } : { found: true, value: current[0] };
}

/**
 * A function reading a path from a value (undefined when it is absent); throws on an invalid path
 * (configs are validated before this is called).
 *
 * @example pathReader('$.metadata.user_id')({ metadata: { user_id: 'u1' } }) // 'u1'
 */
export function pathReader(source: string): (value: unknown) => unknown {
  const path = parseJsonPath(source);
  if (typeof path === 'string') throw new Error(path);
  if (path.single) return readerOf(path) as (value: unknown) => unknown;
  return (value) => {
    const hit = evaluateJsonPath(path, value as Loose);
    return hit.found ? hit.value : undefined;
  };
}
