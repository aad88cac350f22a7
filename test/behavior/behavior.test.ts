// Runs every behaviour file in test/behavior: event-pattern cases ({pattern, cases: [[event,
// expected]…]} or {pattern, error}) and input-transformer cases ({event, …, expected | error}).
// Each pattern case is checked through every door: the CLI batch line, the rule machine on JSON
// text, the rule machine on a parsed event, and the reference evaluator; and all patterns of a
// file are also matched together in one machine.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { testPatternLine } from '../../src/cli/commands/test-pattern.ts';
import { testTransformLine } from '../../src/cli/commands/test-transform.ts';
import { compileInputPath, compileInputTransformer } from '../../src/core/transform/input-transformer.ts';
import { parseJsonText } from '../../src/core/json/json-text.ts';
import { compilePattern, PatternError } from '../../src/core/pattern/compile-pattern.ts';
import { matchesReference } from '../../src/core/pattern/match-reference.ts';
import { RuleMachine } from '../../src/core/pattern/rule-machine.ts';

type Json = unknown;
interface PatternGroup {
  pattern: Json;
  cases?: Array<[Json, boolean]>;
  error?: string;
}

const dir = (name: string): string => join(import.meta.dirname, name);
const files = (name: string): string[] => readdirSync(dir(name)).filter((f) => f.endsWith('.json')).sort();
const load = <T>(name: string, f: string): T => JSON.parse(readFileSync(join(dir(name), f), 'utf8')) as T;
const text = (v: Json): string => (typeof v === 'string' ? v : JSON.stringify(v));

let patternCases = 0;
let transformCases = 0;

describe('event patterns (test/behavior/patterns)', () => {
  for (const file of files('patterns')) {
    const groups = load<PatternGroup[]>('patterns', file);
    describe(file, () => {
      groups.forEach((g, gi) => {
        const label = `#${gi} ${text(g.pattern).slice(0, 80)}`;
        if (g.error !== undefined) {
          patternCases++;
          it(`${label} is refused: ${g.error}`, () => {
            const out = JSON.parse(testPatternLine(JSON.stringify({ pattern: g.pattern, event: {} })));
            assert.ok(typeof out.error === 'string' && out.error.includes(g.error!), `expected an error containing "${g.error}", got ${JSON.stringify(out)}`);
            assert.throws(() => new RuleMachine().add('r', g.pattern as never), PatternError);
          });
          return;
        }
        for (const [event, expected] of g.cases!) {
          patternCases++;
          it(`${label} ${expected ? 'matches' : 'does not match'} ${text(event).slice(0, 80)}`, () => {
            const line = JSON.parse(testPatternLine(JSON.stringify({ pattern: g.pattern, event })));
            assert.deepEqual(line, { matches: expected }, 'CLI batch line');
            const machine = new RuleMachine<string>();
            machine.add('r', g.pattern as never);
            assert.equal(machine.matchJsonText(text(event)).length > 0, expected, 'rule machine on JSON text');
            assert.equal(machine.matchEvent(parseJsonText(text(event))).length > 0, expected, 'rule machine on a loose value');
            if (typeof event !== 'string') assert.equal(machine.matchEvent(event as never).length > 0, expected, 'rule machine on JSON.parse output');
            const compiled = compilePattern(typeof g.pattern === 'string' ? g.pattern : (g.pattern as never));
            assert.equal(matchesReference(compiled, parseJsonText(text(event))), expected, 'reference evaluator');
          });
        }
      });
      it('all valid patterns of the file in one machine match exactly as each does alone', () => {
        const machine = new RuleMachine<number>();
        const valid = groups.map((g, i) => [g, i] as const).filter(([g]) => g.error === undefined);
        for (const [g, i] of valid) machine.add(i, g.pattern as never);
        for (const [g] of valid) {
          for (const [event] of g.cases!) {
            const expected = valid
              .filter(([h]) => matchesReference(compilePattern(h.pattern as never), parseJsonText(text(event))))
              .map(([, i]) => i);
            assert.deepEqual(machine.matchJsonText(text(event)), expected, text(event));
          }
        }
      });
    });
  }
});

interface TransformCase {
  name: string;
  event: Json;
  inputPathsMap?: Record<string, Json>;
  inputTemplate?: string;
  inputPath?: string;
  ruleName?: string;
  ruleArn?: string;
  ingestionTime?: string;
  manyVariables?: number;
  longTemplate?: number;
  expected?: string;
  error?: string;
}

describe('input transformers (test/behavior/transforms)', () => {
  for (const file of files('transforms')) {
    for (const c of load<TransformCase[]>('transforms', file)) {
      transformCases++;
      it(c.name, () => {
        const { name: _name, expected, error, manyVariables, longTemplate, ...req } = c;
        if (manyVariables) req.inputPathsMap = Object.fromEntries(Array.from({ length: manyVariables }, (_, i) => [`v${i}`, '$.x']));
        if (longTemplate) req.inputTemplate = 'x'.repeat(longTemplate);
        const out = JSON.parse(testTransformLine(JSON.stringify(req)));
        if (error !== undefined) {
          assert.ok(typeof out.error === 'string' && out.error.includes(error), `expected an error containing "${error}", got ${JSON.stringify(out)}`);
        } else {
          assert.deepEqual(out, { output: expected });
          // What a stream record gets, built without the text for most JSON templates, is the text parsed.
          const t = req.inputPath !== undefined ? compileInputPath(req.inputPath) : compileInputTransformer({ inputPathsMap: req.inputPathsMap as Record<string, string>, inputTemplate: req.inputTemplate! });
          const event = JSON.parse(text(req.event)) as Json;
          const ctx = { ruleName: 'r', ruleArn: 'arn:aws:events:local:000000000000:rule/r', ingestionTime: '2026-01-01T00:00:00Z' };
          const r = t.apply(event as never, ctx);
          assert.ok(r.ok);
          let parsed: Json;
          try {
            parsed = JSON.parse(r.output);
          } catch {
            parsed = r.output;
          }
          assert.deepEqual(t.applyValue(event as never, ctx), { ok: true, value: parsed });
        }
      });
    }
  }
});

describe('behaviour files', () => {
  it('hold several hundred cases', () => {
    assert.ok(patternCases + transformCases >= 300, `${patternCases} pattern and ${transformCases} transform cases`);
  });
});
