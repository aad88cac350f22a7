import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileInputPath, compileInputTransformer } from '../../src/core/transform/input-transformer.ts';
import { Router } from '../../src/pipeline/router.ts';

const ctx = { ruleName: 'r', ruleArn: 'arn:aws:events:local:000000000000:rule/r', ingestionTime: '2026-01-01T00:00:00Z' };
const event = { source: 's', 'detail-type': 't', detail: { a: 1, obj: { deep: [1, { x: 'y' }] }, s: 'q"uote', neg: -0 } };

/** What the text path gives, as a record. */
function parsed(t: ReturnType<typeof compileInputTransformer>): { ok: true; value: unknown } | { ok: false; error: string } {
  const r = t.apply(event as never, ctx);
  if (!r.ok) return r;
  try {
    return { ok: true, value: JSON.parse(r.output) };
  } catch {
    return { ok: true, value: r.output };
  }
}

test('a record built from a JSON template is the filled-in text parsed, key order and all', () => {
  const templates = [
    '{"m":"x","n":<a>,"o":<obj>,"list":[<a>,{"k":<s>},[]],"missing":<none>,"rule":<aws.events.rule-name>,"neg":<neg>}',
    '{"k":1,"k":<a>,"z":{"k":2,"j":<obj>,"k":3}}',
    '[<a>, <obj>, "const", 1e400, null, true]',
    '<obj>',
    '{"__proto__":<a>}',
    '{"whole":<aws.events.event>,"json":<aws.events.event.json>}',
    '"<a> and <s>"',
    '{"inside":"<a> in a string"}',
    'plain <a> text',
  ];
  for (const inputTemplate of templates) {
    const t = compileInputTransformer({ inputPathsMap: { a: '$.detail.a', obj: '$.detail.obj', s: '$.detail.s', none: '$.detail.nope', neg: '$.detail.neg' }, inputTemplate });
    const v = t.applyValue(event as never, ctx);
    const expected = parsed(t);
    assert.deepEqual(v, expected, inputTemplate);
    if (v.ok && expected.ok && v.value !== null && typeof v.value === 'object') assert.deepEqual(Object.keys(v.value), Object.keys(expected.value as object), inputTemplate);
  }
  // A quote from the event breaks a JSON template's string: refused either way.
  const broken = compileInputTransformer({ inputPathsMap: { s: '$.detail.s' }, inputTemplate: '"<s>"' }).applyValue(event as never, ctx);
  assert.ok(!broken.ok && broken.error.includes('not valid JSON'));
});

test('a built record shares nothing with the event or with other records', () => {
  const t = compileInputTransformer({ inputPathsMap: { obj: '$.detail.obj' }, inputTemplate: '{"o":<obj>,"c":{"k":[1]}}' });
  const a = t.applyValue(event as never, ctx);
  const b = t.applyValue(event as never, ctx);
  assert.ok(a.ok && b.ok);
  const av = a.value as { o: { deep: unknown[] }; c: { k: number[] } };
  av.o.deep.push('changed');
  av.c.k.push(2);
  assert.deepEqual(event.detail.obj.deep, [1, { x: 'y' }]);
  assert.deepEqual(b.value, { o: { deep: [1, { x: 'y' }] }, c: { k: [1] } });
  const p = compileInputPath('$.detail.obj').applyValue(event as never, ctx);
  assert.ok(p.ok && p.value !== event.detail.obj);
  assert.deepEqual(p.ok && p.value, event.detail.obj);
});

test('the router gives each target its record, and a string template that is not JSON its text', () => {
  const router = new Router({
    rules: [
      {
        name: 'r',
        pattern: { source: ['s'] },
        targets: [
          { stream: 'a', input_transformer: { input_paths_map: { a: '$.detail.a' }, input_template: '{"n":<a>}' } },
          { stream: 'b', input_transformer: { input_paths_map: { a: '$.detail.a' }, input_template: 'value <a>' } },
          { stream: 'c' },
          { stream: 'd', transform: (e: { source: string }) => ({ id: e.source, when: new Date(0) }) },
        ],
      },
    ],
    streams: {},
  } as never);
  assert.deepEqual(
    router.route(event as never, ctx.ingestionTime).map((r) => (r.ok ? r.value : r.error)),
    [{ n: 1 }, 'value 1', JSON.parse(JSON.stringify(event)), { id: 's', when: '1970-01-01T00:00:00.000Z' }],
  );
});

test('InputPath copies what it selects as its text would parse, "__proto__" members included', () => {
  const e = JSON.parse('{"source":"s","detail":{"b":1,"__proto__":{"polluted":true},"arr":[1,[2,{"n":null}]],"1":"one","z":-0}}') as Record<string, unknown>;
  const t = compileInputPath('$.detail');
  const r = t.apply(e as never, ctx);
  const v = t.applyValue(e as never, ctx);
  assert.ok(r.ok && v.ok);
  const fromText = JSON.parse(r.output) as Record<string, unknown>;
  assert.deepEqual(v.value, fromText);
  assert.deepEqual(Object.keys(v.value as object), Object.keys(fromText));
  assert.equal(Object.getPrototypeOf(v.value), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.ok(Object.is((v.value as { z: number }).z, 0));
});

test('InputPath copies a wide object whole and apart from the event: undefined members left out, numbers as JSON has them', () => {
  const detail: Record<string, unknown> = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}`, i % 3 === 0 ? { n: i } : i]));
  Object.assign(detail, { gone: undefined, inf: Infinity, neg: -0, list: [undefined, 1] });
  const v = compileInputPath('$.detail').applyValue({ source: 's', detail } as never, ctx);
  assert.ok(v.ok);
  assert.deepEqual(v.value, JSON.parse(JSON.stringify(detail)));
  assert.deepEqual(Object.keys(v.value as object), Object.keys(JSON.parse(JSON.stringify(detail)) as object));
  (v.value as { f0: { n: number } }).f0.n = 99;
  assert.equal((detail.f0 as { n: number }).n, 0, 'nested objects are copies too');
});
