// JSON paths without wildcards are read by generated code (one constant name per step); these
// tests hold it to the path's meaning, written out here as a reference: own members only, the
// last of repeated names in text parsed with its duplicates kept, array indices, nothing else.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { JsonEntries, JsonNumber, parseJsonText, type Loose } from '../../src/core/json/json-text.ts';
import { evaluateJsonPath, parseJsonPath, pathReader, type JsonPath } from '../../src/core/transform/json-path.ts';

/** What a path selects, by its definition. */
function reference(path: JsonPath, value: unknown): unknown {
  let v = value;
  for (const step of path.steps) {
    if ('key' in step) {
      if (v instanceof JsonEntries) v = v.entries.filter(([k]) => k === step.key).at(-1)?.[1];
      else if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof JsonNumber)) v = Object.hasOwn(v, step.key) ? (v as Record<string, unknown>)[step.key] : undefined;
      else v = undefined;
    } else if ('index' in step) {
      v = Array.isArray(v) && step.index < v.length ? v[step.index] : undefined;
    }
    if (v === undefined) return undefined;
  }
  return v;
}

function check(source: string, value: unknown): void {
  const path = parseJsonPath(source) as JsonPath;
  const want = reference(path, value);
  assert.equal(pathReader(source)(value), want, `${source} of ${JSON.stringify(value)}`);
  const hit = evaluateJsonPath(path, value as Loose);
  assert.deepEqual(hit, want === undefined ? { found: false, value: null } : { found: true, value: want }, `${source} (evaluate)`);
}

test('a name objects inherit is read only as an own member', () => {
  const inherited = ['toString', '__proto__', 'constructor', 'hasOwnProperty', 'valueOf'];
  for (const key of inherited) {
    check(`$.${key}`, {});
    check(`$.${key}`, JSON.parse(`{"${key}": 7}`));
    check(`$.a.${key}`, { a: JSON.parse(`{"${key}": {"x": 1}}`) });
    check(`$.a.${key}.x`, { a: JSON.parse(`{"${key}": {"x": 1}}`) });
  }
  assert.equal(pathReader('$.__proto__')(JSON.parse('{"__proto__": 5}')), 5);
  assert.equal(pathReader('$.toString')({}), undefined);
});

test('other objects than plain ones, arrays, primitives and absent members read as the definition says', () => {
  const nullProto = Object.assign(Object.create(null) as Record<string, unknown>, { a: { b: 2 } });
  class Box {
    a = { b: 3 };
  }
  const values: unknown[] = [
    nullProto,
    new Box(),
    parseJsonText('{"a": {"b": 1, "b": 4}, "a": {"b": 5}}'),
    parseJsonText('{"a": 12345678901234567890}'),
    { a: parseJsonText('[1, {"b": 6}]') },
    { a: [{ b: 'x' }, null] },
    { a: 'text' },
    { a: null },
    { a: undefined },
    { a: { b: undefined } },
    { '0': { b: 'digit key' } },
    [{ b: 1 }],
    'a',
    42,
    null,
    undefined,
    { 'a-b': { 'c/d': 'odd names' } },
    { 'q"uote': { 'back\\slash': 'escaped' } },
  ];
  const paths = ['$', '$.a', '$.a.b', '$.a[0]', '$.a[1].b', '$.a[5]', '$.0.b', '$[0].b', '$.a.b.c', '$.a.length', '$.a-b.c/d', '$.q"uote.back\\slash'];
  for (const v of values) for (const p of paths) check(p, v);
});

test('agrees with the definition on random values and paths', () => {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const keys = ['a', 'b', '0', 'toString', 'x-y'];
  const value = (depth: number): unknown => {
    const kind = depth === 0 ? rand(4) : rand(7);
    if (kind === 0) return null;
    if (kind === 1) return rand(100);
    if (kind === 2) return `s${rand(10)}`;
    if (kind === 3) return rand(2) === 0;
    if (kind === 4) return Array.from({ length: rand(3) }, () => value(depth - 1));
    const o: Record<string, unknown> = {};
    for (let i = rand(4); i > 0; i--) o[keys[rand(keys.length)]] = value(depth - 1);
    return kind === 5 ? JSON.parse(JSON.stringify(o)) : o;
  };
  for (let i = 0; i < 2000; i++) {
    const steps = Array.from({ length: 1 + rand(4) }, () => (rand(3) === 0 ? `[${rand(3)}]` : `.${keys[rand(keys.length)]}`));
    check(`$${steps.join('')}`, value(4));
  }
});

test('where Node disallows generating code, paths and rules are read by the generic walk, with the same answers', () => {
  const src = (rel: string): string => JSON.stringify(fileURLToPath(new URL(`../../src/${rel}`, import.meta.url)));
  const script = `
    import { pathReader } from ${src('core/transform/json-path.ts')};
    import { Router } from ${src('pipeline/router.ts')};
    const router = new Router({ rules: [{ name: 'r', pattern: { source: ['s'], detail: { n: [{ numeric: ['>', 1] }] } }, targets: [{ stream: 'x', input_path: '$.detail.n' }] }] });
    console.log(JSON.stringify([pathReader('$.a[1].b')({ a: [0, { b: 3 }] }), pathReader('$.toString')({}), router.route({ source: 's', detail: { n: 5 } }, 't'), router.route({ source: 's', detail: { n: 0 } }, 't')]));`;
  const out = execFileSync(process.execPath, ['--disallow-code-generation-from-strings', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), [3, null, [{ rule: 'r', stream: 'x', ok: true, value: 5 }], []]);
});
