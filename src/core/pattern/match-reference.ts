/**
 * The direct evaluation of compiled sub-rules on an event tree: simple and exact, slow when there
 * are many rules. It implements array consistency as AWS's engine does (two fields never match
 * from objects in different elements of the same array). The indexed {@link RuleMachine} uses it
 * to confirm candidates in events with arrays of objects, and the tests use it as the oracle.
 */
import { entriesOf, isObject, JsonNumber, type Loose } from '../json/json-text.ts';
import type { SubRule } from './compile-pattern.ts';
import { comparableKey, matchValue, V_LITERAL, V_NUMBER, V_STRING, type Matcher, type ValueKind } from './value-matcher.ts';

let arrayIds = 0;

/** Array membership of a value: pairs of (array id, index), outermost first. */
type Trail = number[];

/** Calls `emit` for every leaf value at the dotted `path`, with its array trail. */
export function forEachValue(
  event: Loose,
  path: string,
  emit: (kind: ValueKind, text: string, key: number, trail: Trail) => void,
  ids: WeakMap<object, number> = new WeakMap(),
): void {
  const idOf = (a: object): number => {
    let id = ids.get(a);
    if (id === undefined) ids.set(a, (id = ++arrayIds));
    return id;
  };
  const walk = (node: Loose, rem: string, trail: Trail): void => {
    if (Array.isArray(node)) {
      const id = idOf(node);
      node.forEach((el, i) => walk(el, rem, [...trail, id, i]));
      return;
    }
    if (rem === '') {
      if (typeof node === 'string') emit(V_STRING, node, NaN, trail);
      else if (node instanceof JsonNumber) emit(V_NUMBER, node.raw, comparableKey(node.value), trail);
      else if (typeof node === 'number') emit(V_NUMBER, JSON.stringify(node), comparableKey(node), trail);
      else if (node === null || typeof node === 'boolean') emit(V_LITERAL, String(node), NaN, trail);
      return;
    }
    if (!isObject(node)) return;
    for (const [k, v] of entriesOf(node)) {
      if (rem === k) walk(v, '', trail);
      else if (rem.length > k.length && rem.charCodeAt(k.length) === 46 && rem.startsWith(k)) {
        walk(v, rem.slice(k.length + 1), trail);
      }
    }
  };
  walk(event, path, []);
}

function compatible(a: Trail, b: Trail): boolean {
  for (let i = 0; i < a.length; i += 2) {
    for (let j = 0; j < b.length; j += 2) {
      if (a[i] === b[j] && a[i + 1] !== b[j + 1]) return false;
    }
  }
  return true;
}

/** Whether one sub-rule matches the event. */
export function matchSubRule(event: Loose, rule: SubRule, ids: WeakMap<object, number> = new WeakMap()): boolean {
  const options: Trail[][] = [];
  for (const field of rule) {
    const positive: Matcher[] = field.matchers.filter((m) => !(m.kind === 'exists' && !m.exists));
    const absentOk = positive.length !== field.matchers.length;
    const hits: Trail[] = [];
    let present = false;
    forEachValue(
      event,
      field.path,
      (kind, text, key, trail) => {
        present = true;
        if (positive.some((m) => matchValue(m, kind, text, key))) hits.push(trail);
      },
      ids,
    );
    if (absentOk && !present) continue;
    if (hits.length === 0) return false;
    options.push(hits);
  }
  const chosen: Trail[] = [];
  const search = (i: number): boolean => {
    if (i === options.length) return true;
    for (const t of options[i]) {
      if (chosen.every((c) => compatible(c, t))) {
        chosen.push(t);
        if (search(i + 1)) return true;
        chosen.pop();
      }
    }
    return false;
  };
  return search(0);
}

/**
 * Whether a compiled pattern matches the event, by direct evaluation.
 *
 * @example matchesReference(compilePattern({ a: [1] }), { a: 1.0 }) // true
 */
export function matchesReference(subRules: SubRule[], event: Loose): boolean {
  const ids = new WeakMap<object, number>();
  return subRules.some((r) => matchSubRule(event, r, ids));
}
