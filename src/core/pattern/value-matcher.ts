/**
 * The value matchers of the EventBridge pattern language, and how one event value is tested
 * against one matcher. Semantics follow AWS's engine (event-ruler): string operators see only
 * string values; numeric ranges only numbers; numbers compare at six decimal places within
 * ±5e9 and by their text outside it; anything-but fails only on an equal value of its own type.
 */
import type { Wildcard } from './wildcard.ts';
import { parseIp, type IpRange } from './cidr.ts';

/** Kinds of event value. */
export const V_STRING = 0;
export const V_NUMBER = 1;
/** `true`, `false` or `null`. */
export const V_LITERAL = 2;
export type ValueKind = typeof V_STRING | typeof V_NUMBER | typeof V_LITERAL;

export type Matcher =
  | { kind: 'exact'; value: string }
  | { kind: 'literal'; text: string; key: number }
  | { kind: 'prefix' | 'suffix' | 'eic' | 'prefix-eic' | 'suffix-eic'; value: string }
  | { kind: 'wildcard'; value: string; glob: Wildcard }
  | { kind: 'numeric'; lo: number; loOpen: boolean; hi: number; hiOpen: boolean }
  | { kind: 'cidr'; range: IpRange }
  | { kind: 'anything-but'; strings: Set<string>; numbers: Set<number> }
  | { kind: 'anything-but-prefix' | 'anything-but-suffix'; value: string }
  | { kind: 'anything-but-eic'; values: Set<string> }
  | { kind: 'anything-but-wildcard'; globs: Wildcard[] }
  | { kind: 'exists'; exists: boolean };

const FIVE_BILLION = 5e9;

/**
 * The comparable form of a number, as AWS's engine computes it: six decimal places, defined
 * within ±5e9 inclusive. NaN outside that range (such numbers only ever match by their text).
 *
 * @example comparableKey(300) === comparableKey(3.0e2) // true
 */
export function comparableKey(x: number): number {
  if (!(x >= -FIVE_BILLION && x <= FIVE_BILLION)) return NaN;
  return Math.trunc(1e6 * (FIVE_BILLION + x));
}

/** Lower-cases for equals-ignore-case comparisons. */
export function fold(s: string): string {
  return s.toLowerCase();
}

/**
 * Tests one event value against one matcher.
 * `text` is the string itself for strings, and the JSON text for numbers and literals;
 * `key` is {@link comparableKey} of a number (NaN otherwise). The text of a number whose key is
 * defined is never read, so callers may pass '' for it.
 */
export function matchValue(m: Matcher, kind: ValueKind, text: string, key: number): boolean {
  switch (m.kind) {
    case 'exact':
      return kind === V_STRING && text === m.value;
    case 'literal':
      if (kind === V_NUMBER) return key === key ? key === m.key : text === m.text;
      return kind === V_LITERAL && text === m.text;
    case 'prefix':
      return kind === V_STRING && text.startsWith(m.value);
    case 'suffix':
      return kind === V_STRING && text.endsWith(m.value);
    case 'eic':
      return kind === V_STRING && fold(text) === m.value;
    case 'prefix-eic':
      return kind === V_STRING && fold(text).startsWith(m.value);
    case 'suffix-eic':
      return kind === V_STRING && fold(text).endsWith(m.value);
    case 'wildcard':
      return kind === V_STRING && m.glob.test(text);
    case 'numeric':
      return kind === V_NUMBER && key === key && inRange(m, key);
    case 'cidr': {
      if (kind !== V_STRING) return false;
      const ip = parseIp(text);
      return ip !== null && ip.v6 === m.range.v6 && ip.value >= m.range.lo && ip.value <= m.range.hi;
    }
    case 'anything-but':
      if (kind === V_STRING) return !m.strings.has(text);
      if (kind === V_NUMBER) return !(key === key && m.numbers.has(key));
      return true;
    case 'anything-but-prefix':
      return !(kind === V_STRING && text.startsWith(m.value));
    case 'anything-but-suffix':
      return !(kind === V_STRING && text.endsWith(m.value));
    case 'anything-but-eic':
      return !(kind === V_STRING && m.values.has(fold(text)));
    case 'anything-but-wildcard':
      return !(kind === V_STRING && m.globs.some((g) => g.test(text)));
    case 'exists':
      return m.exists;
  }
}

/** Whether a comparable key lies in a numeric matcher's range. */
export function inRange(m: { lo: number; loOpen: boolean; hi: number; hiOpen: boolean }, key: number): boolean {
  return (m.loOpen ? key > m.lo : key >= m.lo) && (m.hiOpen ? key < m.hi : key <= m.hi);
}

