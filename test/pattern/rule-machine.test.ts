// The indexed rule machine against the reference evaluator on random rules and events: whatever
// the mix of operators, paths, arrays and duplicate keys, both must agree, through both the
// JSON-text and the parsed-event doors. Deterministic (seeded) so a failure reproduces.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseJsonText, type Loose } from '../../src/core/json/json-text.ts';
import { compilePattern } from '../../src/core/pattern/compile-pattern.ts';
import { matchesReference } from '../../src/core/pattern/match-reference.ts';
import { RuleMachine } from '../../src/core/pattern/rule-machine.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const PATHS = [['a'], ['b'], ['d', 'x'], ['d', 'y'], ['d', 'e', 'z']];
const STRINGS = ['', 'ab', 'abc', 'ABC', 'b', 'xyz', '10.0.0.7', 'a*b', 'ba'];
const NUMBERS = [0, 1, 2.5, 10, -3, 300, 5e9, 1e10];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function randomMatcher(r: () => number): unknown {
  const s = pick(r, STRINGS);
  const n = pick(r, NUMBERS.filter((x) => Math.abs(x) <= 5e9));
  switch (Math.floor(r() * 16)) {
    case 0: return s;
    case 1: return pick(r, NUMBERS);
    case 2: return pick(r, [true, false, null]);
    case 3: return { prefix: s };
    case 4: return { suffix: s };
    case 5: return { 'equals-ignore-case': s };
    case 6: return { prefix: { 'equals-ignore-case': s } };
    case 7: return { wildcard: pick(r, ['*', 'a*', '*b', 'a*c', '*b*']) };
    case 8: return { numeric: pick(r, [['>', n], ['<=', n], ['=', n], ['>=', -5, '<', 3]]) };
    case 9: return { 'anything-but': pick(r, [s, [s, 'b'], n, [n, 1]]) };
    case 10: return { 'anything-but': { prefix: s || 'a' } };
    case 11: return { 'anything-but': { 'equals-ignore-case': s } };
    case 12: return { exists: r() < 0.5 };
    case 13: return { cidr: '10.0.0.0/24' };
    case 14: return { 'anything-but': { wildcard: 'a*' } };
    default: return { suffix: { 'equals-ignore-case': s } };
  }
}

function setPath(obj: Record<string, unknown>, path: string[], v: unknown): void {
  let o = obj;
  for (const k of path.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
  o[path[path.length - 1]] = v;
}

function randomPattern(r: () => number): Loose {
  const p: Record<string, unknown> = {};
  const fields = 1 + Math.floor(r() * 3);
  for (let i = 0; i < fields; i++) {
    setPath(p, pick(r, PATHS), Array.from({ length: 1 + Math.floor(r() * 2) }, () => randomMatcher(r)));
  }
  if (r() < 0.15) p.$or = [{ a: [pick(r, STRINGS)] }, { b: [{ exists: true }] }];
  return p as Loose;
}

function randomValue(r: () => number): unknown {
  const k = r();
  if (k < 0.45) return pick(r, STRINGS);
  if (k < 0.75) return pick(r, NUMBERS);
  if (k < 0.85) return pick(r, [true, false, null]);
  return [pick(r, STRINGS), pick(r, NUMBERS)];
}

function randomEvent(r: () => number): string {
  const e: Record<string, unknown> = {};
  for (const path of PATHS) if (r() < 0.6) setPath(e, path, randomValue(r));
  if (r() < 0.15) e.d = [{ x: pick(r, STRINGS), y: pick(r, NUMBERS) }, { x: pick(r, STRINGS) }];
  let text = JSON.stringify(e);
  if (r() < 0.1 && text !== "{}") text = text.replace(/^\{/, `{"a": ${JSON.stringify(randomValue(r))}, `);
  if (r() < 0.1) text = text.replace(/^\{"d":\{/, '{"d.x": "ab", "d":{');
  return text;
}

describe('rule machine', () => {
  it('agrees with the reference evaluator on 3,000 random events over 60 random rules', () => {
    for (let round = 0; round < 5; round++) {
      const r = rng(1000 + round);
      const machine = new RuleMachine<number>();
      const compiled = [];
      for (let i = 0; i < 60; i++) {
        const p = randomPattern(r);
        machine.add(i, p);
        compiled.push(compilePattern(p));
      }
      for (let j = 0; j < 600; j++) {
        const text = randomEvent(r);
        const event = parseJsonText(text);
        const expected: number[] = compiled.map((c, i) => [c, i] as const).filter(([c]) => matchesReference(c, event)).map(([, i]) => i);
        assert.deepEqual(machine.matchJsonText(text), expected, `text ${text}`);
        assert.deepEqual(machine.matchEvent(event), expected, `loose ${text}`);
        if (!/"a":.*"a":/.test(text)) assert.deepEqual(machine.matchEvent(JSON.parse(text)), expected, `parsed ${text}`);
      }
    }
  });

  it('matches the same rules as the reference whatever the number of rules (10,000 exact rules)', () => {
    const machine = new RuleMachine<number>();
    for (let i = 0; i < 10_000; i++) machine.add(i, { detail: { id: [`id-${i}`] }, source: ['s'] });
    assert.deepEqual(machine.matchEvent({ source: 's', detail: { id: 'id-7777' } }), [7777]);
    assert.deepEqual(machine.matchJsonText('{"source":"s","detail":{"id":["id-1","id-2"]}}'), [1, 2]);
    assert.deepEqual(machine.matchEvent({ source: 't', detail: { id: 'id-7777' } }), []);
  });

  it('reports malformed JSON text instead of matching part of it', () => {
    const machine = new RuleMachine<number>();
    machine.add(0, { a: ['x'] });
    for (const bad of ['{"a": "x"', '{"a" "x"}', '[1]', '{"a": "x",}', '{"b": [1, 2}']) {
      assert.throws(() => machine.matchJsonText(bad), /not valid JSON/, bad);
    }
  });

  it('leaves the machine unchanged when a pattern is invalid', () => {
    const machine = new RuleMachine<number>();
    machine.add(0, { a: ['x'] });
    assert.throws(() => machine.add(1, { a: [] }));
    assert.equal(machine.size, 1);
    assert.deepEqual(machine.matchEvent({ a: 'x' }), [0]);
  });
});
