// The router: every target of every matching rule gets its input, in the form the target asks for.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineConfig } from '../../src/config/config.ts';
import { validateConfig } from '../../src/config/validate-config.ts';
import { Router } from '../../src/pipeline/router.ts';

const config = defineConfig({
  rules: [
    {
      name: 'orders',
      pattern: { source: ['shop'], detail: { total: [{ numeric: ['>', 0] }] } },
      targets: [
        { stream: 'a', input_path: '$.detail' },
        { stream: 'b', transform: (e, ctx) => ({ cents: Math.round((e.detail as { total: number }).total * 100), rule: ctx.ruleName }) },
        { stream: 'c' },
        { stream: 'a', transform: () => undefined },
      ],
    },
    {
      name: 'broken',
      pattern: { source: ['shop'] },
      targets: [{ stream: 'c', transform: () => { throw new Error('secret-user@example.com'); } }],
    },
  ],
  streams: { a: { destination: { type: 'stdout' } }, b: { destination: { type: 'stdout' } }, c: { destination: { type: 'stdout' } } },
});

describe('router', () => {
  it('the config is valid', () => assert.deepEqual(validateConfig(config), []));

  it('sends each target its form of the event, and nothing for a transform that returns undefined', () => {
    const router = new Router(config);
    const event = { source: 'shop', detail: { total: 12.5 } };
    assert.deepEqual(router.match(event), ['orders', 'broken']);
    const routed = router.route(event, '2024-01-01T00:00:00Z');
    assert.deepEqual(routed.slice(0, 3), [
      { rule: 'orders', stream: 'a', ok: true, value: { total: 12.5 } },
      { rule: 'orders', stream: 'b', ok: true, value: { cents: 1250, rule: 'orders' } },
      { rule: 'orders', stream: 'c', ok: true, value: event },
    ]);
    assert.notEqual((routed[2] as { value: unknown }).value, event, 'a copy, not the event itself');
    assert.equal(routed.length, 4);
  });

  it('reports a failing transform function without its message, which may hold event data', () => {
    const routed = new Router(config).route({ source: 'shop', detail: { total: 0 } }, '2024-01-01T00:00:00Z');
    assert.deepEqual(routed, [{ rule: 'broken', stream: 'c', ok: false, error: 'transform function failed: Error' }]);
    assert.ok(!JSON.stringify(routed).includes('secret-user'));
  });
});
