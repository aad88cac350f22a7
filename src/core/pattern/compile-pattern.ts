/**
 * Compiles an EventBridge event pattern into sub-rules: each a list of fields (a dotted path and
 * the matchers any one of which must hold), all of which must hold. `$or` forks sub-rules, as
 * AWS's engine does. Every pattern that PutRule would refuse is refused here, with the place in
 * the pattern and the reason.
 */
import { entriesOf, isObject, JsonNumber, parseJsonText, type Loose } from '../json/json-text.ts';
import { parseCidr } from './cidr.ts';
import { comparableKey, fold, type Matcher } from './value-matcher.ts';
import { compileWildcard, type Wildcard } from './wildcard.ts';

/** One field of a sub-rule: the event path and its alternatives. */
export interface PatternField {
  /** Dotted path, e.g. `detail.state`. */
  path: string;
  matchers: Matcher[];
}

/** A conjunction of fields; a pattern matches when any of its sub-rules does. */
export type SubRule = PatternField[];

/** An invalid pattern: `where` points into the pattern, `reason` says what is wrong. */
export class PatternError extends Error {
  constructor(
    readonly where: string,
    readonly reason: string,
  ) {
    super(where ? `${where}: ${reason}` : reason);
    this.name = 'PatternError';
  }
}

/** PutRule's limit on the length of an event pattern. */
export const MAX_PATTERN_LENGTH = 4096;
/** Bound on the alternatives `$or` may expand into. */
export const MAX_SUB_RULES = 1024;

const OPERATORS = new Set([
  'exact',
  'prefix',
  'suffix',
  'equals-ignore-case',
  'wildcard',
  'anything-but',
  'numeric',
  'exists',
  'cidr',
]);

/**
 * Compiles a pattern given as JSON text or as a value.
 *
 * @example
 *   compilePattern({ source: ['aws.ec2'], detail: { state: [{ prefix: 'run' }] } });
 *   // [[{ path: 'source', … }, { path: 'detail.state', … }]]
 * @throws PatternError
 */
export function compilePattern(pattern: Loose | string): SubRule[] {
  let value: Loose;
  if (typeof pattern === 'string') {
    if (pattern.length > MAX_PATTERN_LENGTH) {
      throw new PatternError('', `pattern is ${pattern.length} characters; at most ${MAX_PATTERN_LENGTH} are allowed`);
    }
    try {
      value = parseJsonText(pattern);
    } catch (e) {
      throw new PatternError('', `pattern is not valid JSON: ${(e as Error).message}`);
    }
  } else {
    value = pattern;
  }
  if (!isObject(value)) throw new PatternError('', 'pattern must be a JSON object');
  const rules: Array<Map<string, Matcher[]>> = [];
  compileObject(value, [], rules, false);
  return rules.map((r) => [...r].map(([path, matchers]) => ({ path, matchers })));
}

type Obj = Parameters<typeof entriesOf>[0];

function where(path: string[]): string {
  return path.join('.');
}

function compileObject(obj: Obj, path: string[], rules: Array<Map<string, Matcher[]>>, inOr: boolean): void {
  const entries = entriesOf(obj);
  if (entries.length === 0) throw new PatternError(where(path), 'empty objects are not allowed');
  for (const [key, v] of entries) {
    if (key === '$or') {
      compileOr(v, path, rules);
      continue;
    }
    if (inOr && OPERATORS.has(key)) {
      throw new PatternError(where([...path, key]), `"${key}" is a reserved operator name and cannot be a field inside $or`);
    }
    const next = [...path, key];
    if (Array.isArray(v)) {
      const matchers = compileValues(v, where(next));
      if (rules.length === 0) rules.push(new Map());
      const name = next.join('.');
      for (const r of rules) r.set(name, matchers);
    } else if (isObject(v)) {
      compileObject(v, next, rules, inOr);
    } else {
      throw new PatternError(where(next), 'must be an object or an array of values to match');
    }
  }
}

function compileOr(v: Loose, path: string[], rules: Array<Map<string, Matcher[]>>): void {
  const at = where([...path, '$or']);
  if (!Array.isArray(v)) throw new PatternError(at, '$or must be an array of at least two objects');
  if (v.length < 2) throw new PatternError(at, '$or must have at least two objects');
  const before = rules.map((r) => new Map(r));
  rules.length = 0;
  for (let i = 0; i < v.length; i++) {
    const alt = v[i];
    if (!isObject(alt)) throw new PatternError(`${at}[${i}]`, 'only objects are allowed in $or');
    const fork = before.length === 0 ? [new Map<string, Matcher[]>()] : before.map((r) => new Map(r));
    compileObject(alt, path, fork, true);
    rules.push(...fork);
    if (rules.length > MAX_SUB_RULES) {
      throw new PatternError(at, `$or expands into more than ${MAX_SUB_RULES} alternatives`);
    }
  }
}

function compileValues(values: Loose[], at: string): Matcher[] {
  if (values.length === 0) throw new PatternError(at, 'empty arrays are not allowed');
  return values.map((v, i) => compileValue(v, `${at}[${i}]`));
}

function numberInRange(v: JsonNumber | number, at: string): number {
  const n = typeof v === 'number' ? v : v.value;
  const key = comparableKey(n);
  if (key !== key) throw new PatternError(at, `numbers must be between -5.0E9 and 5.0E9 inclusive, got ${numText(v)}`);
  return key;
}

function numText(v: JsonNumber | number): string {
  return typeof v === 'number' ? JSON.stringify(v) : v.raw;
}

function isNum(v: Loose): v is JsonNumber | number {
  return typeof v === 'number' || v instanceof JsonNumber;
}

function compileValue(v: Loose, at: string): Matcher {
  if (typeof v === 'string') return { kind: 'exact', value: v };
  if (isNum(v)) {
    const n = typeof v === 'number' ? v : v.value;
    if (!Number.isFinite(n)) throw new PatternError(at, 'numbers must be finite');
    return { kind: 'literal', text: numText(v), key: comparableKey(n) };
  }
  if (v === null || typeof v === 'boolean') return { kind: 'literal', text: String(v), key: NaN };
  if (Array.isArray(v)) throw new PatternError(at, 'match values must be strings, numbers, true, false, null or an operator object');
  const entries = entriesOf(v);
  if (entries.length === 0) throw new PatternError(at, 'operator object is empty: expected one of ' + [...OPERATORS].join(', '));
  if (entries.length > 1) throw new PatternError(at, 'only one operator is allowed in an operator object');
  const [op, arg] = entries[0];
  const opAt = `${at}.${op}`;
  switch (op) {
    case 'exact':
      return { kind: 'exact', value: str(arg, opAt, 'exact') };
    case 'prefix':
    case 'suffix': {
      if (isObject(arg)) {
        const inner = single(arg, opAt);
        if (inner[0] !== 'equals-ignore-case') {
          throw new PatternError(opAt, `unsupported ${op} option "${inner[0]}": only equals-ignore-case is allowed`);
        }
        const s = str(inner[1], `${opAt}.equals-ignore-case`, `${op} equals-ignore-case`);
        return { kind: op === 'prefix' ? 'prefix-eic' : 'suffix-eic', value: fold(s) };
      }
      return { kind: op, value: str(arg, opAt, op) };
    }
    case 'equals-ignore-case':
      return { kind: 'eic', value: fold(str(arg, opAt, 'equals-ignore-case')) };
    case 'wildcard': {
      const s = str(arg, opAt, 'wildcard');
      return { kind: 'wildcard', value: s, glob: wildcard(s, opAt) };
    }
    case 'numeric':
      return compileNumeric(arg, opAt);
    case 'exists':
      if (typeof arg !== 'boolean') throw new PatternError(opAt, 'exists must be true or false');
      return { kind: 'exists', exists: arg };
    case 'cidr': {
      const s = str(arg, opAt, 'cidr');
      const range = parseCidr(s);
      if (typeof range === 'string') throw new PatternError(opAt, range);
      return { kind: 'cidr', range };
    }
    case 'anything-but':
      return compileAnythingBut(arg, opAt);
    default:
      throw new PatternError(at, `unrecognized operator "${op}": expected one of ${[...OPERATORS].join(', ')}`);
  }
}

function single(obj: Obj, at: string): [string, Loose] {
  const e = entriesOf(obj);
  if (e.length !== 1) throw new PatternError(at, 'expected an object with exactly one key');
  return e[0];
}

function str(v: Loose, at: string, what: string): string {
  if (typeof v !== 'string') throw new PatternError(at, `${what} match pattern must be a string`);
  return v;
}

function wildcard(s: string, at: string): Wildcard {
  const re = compileWildcard(s);
  if (typeof re === 'string') throw new PatternError(at, `invalid wildcard "${s}": ${re}`);
  return re;
}

function compileNumeric(arg: Loose, at: string): Matcher {
  if (!Array.isArray(arg)) throw new PatternError(at, 'numeric must be an array such as [">", 0, "<=", 5]');
  const [op1, v1, op2, v2, ...extra] = arg;
  if (typeof op1 !== 'string') throw new PatternError(at, 'numeric must start with an operator: =, <, <=, > or >=');
  if (v1 === undefined || !isNum(v1)) throw new PatternError(at, `the value after "${op1}" must be a number`);
  const k1 = numberInRange(v1, at);
  const hasSecond = arg.length > 2;
  if (op1 === '=' || op1 === '<' || op1 === '<=') {
    if (hasSecond) throw new PatternError(at, `too many elements: "${op1}" cannot be followed by another condition`);
    if (op1 === '=') return { kind: 'numeric', lo: k1, loOpen: false, hi: k1, hiOpen: false };
    return { kind: 'numeric', lo: -Infinity, loOpen: false, hi: k1, hiOpen: op1 === '<' };
  }
  if (op1 !== '>' && op1 !== '>=') throw new PatternError(at, `unrecognized numeric operator "${op1}": expected =, <, <=, > or >=`);
  if (!hasSecond) return { kind: 'numeric', lo: k1, loOpen: op1 === '>', hi: Infinity, hiOpen: false };
  if (op2 !== '<' && op2 !== '<=') {
    throw new PatternError(at, `a range's upper bound must use "<" or "<=", got ${JSON.stringify(op2 ?? null)}`);
  }
  if (v2 === undefined || !isNum(v2)) throw new PatternError(at, `the value after "${op2}" must be a number`);
  if (extra.length > 0) throw new PatternError(at, 'too many elements in numeric expression');
  const k2 = numberInRange(v2, at);
  if (k1 >= k2) throw new PatternError(at, 'the lower bound of a range must be less than its upper bound');
  return { kind: 'numeric', lo: k1, loOpen: op1 === '>', hi: k2, hiOpen: op2 === '<' };
}

function compileAnythingBut(arg: Loose, at: string): Matcher {
  if (isObject(arg)) {
    const [op, v] = single(arg, at);
    const opAt = `${at}.${op}`;
    switch (op) {
      case 'prefix':
      case 'suffix': {
        const s = str(v, opAt, `anything-but ${op}`);
        if (s === '') throw new PatternError(opAt, `anything-but ${op} must not be empty`);
        return { kind: op === 'prefix' ? 'anything-but-prefix' : 'anything-but-suffix', value: s };
      }
      case 'equals-ignore-case': {
        const list = Array.isArray(v) ? v : [v];
        if (list.length === 0) throw new PatternError(opAt, 'empty arrays are not allowed');
        const values = new Set<string>();
        list.forEach((x, i) => values.add(fold(str(x, Array.isArray(v) ? `${opAt}[${i}]` : opAt, 'anything-but equals-ignore-case'))));
        return { kind: 'anything-but-eic', values };
      }
      case 'wildcard': {
        const list = Array.isArray(v) ? v : [v];
        if (list.length === 0) throw new PatternError(opAt, 'empty arrays are not allowed');
        return {
          kind: 'anything-but-wildcard',
          globs: list.map((x, i) => {
            const p = Array.isArray(v) ? `${opAt}[${i}]` : opAt;
            return wildcard(str(x, p, 'anything-but wildcard'), p);
          }),
        };
      }
      default:
        throw new PatternError(at, `unsupported anything-but operator "${op}": expected prefix, suffix, equals-ignore-case or wildcard`);
    }
  }
  const list = Array.isArray(arg) ? arg : [arg];
  const strings = new Set<string>();
  const numbers = new Set<number>();
  list.forEach((x, i) => {
    const p = Array.isArray(arg) ? `${at}[${i}]` : at;
    if (typeof x === 'string') strings.add(x);
    else if (isNum(x)) numbers.add(numberInRange(x, p));
    else throw new PatternError(p, 'anything-but values must be strings or numbers (not null, booleans, objects or arrays)');
  });
  if (strings.size > 0 && numbers.size > 0) {
    throw new PatternError(at, 'anything-but list must be all strings or all numbers, not mixed');
  }
  if (strings.size === 0 && numbers.size === 0) throw new PatternError(at, 'anything-but list must not be empty');
  return { kind: 'anything-but', strings, numbers };
}
