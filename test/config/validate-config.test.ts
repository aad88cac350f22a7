// Config validation: every problem at once, each with its path and what is allowed.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load-config.ts';
import { validateConfig } from '../../src/config/validate-config.ts';

const stream = { destination: { type: 'stdout' } };

describe('config validation', () => {
  it('accepts the example config', async () => {
    const config = await loadConfig(join(import.meta.dirname, '../../examples/sluice.config.ts'));
    assert.equal(config.rules?.length, 3);
  });

  it('reports every error at once, each with its path and what is allowed', () => {
    const issues = validateConfig({
      streams: { metrics: { buffer: { max_bytes: '5MB', max_records: 0 }, destination: { type: 'kafka' } } },
      rules: [{ name: 'r', pattern: {}, targets: [] }],
      extra: true,
    });
    const lines = issues.map((i) => `${i.path}: ${i.message}`);
    assert.ok(lines.includes('streams.metrics.buffer.max_bytes: expected a positive integer and ≤ 134217728, got "5MB"'), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('streams.metrics.buffer.max_records: expected a positive integer')), lines.join('\n'));
    assert.ok(lines.includes('streams.metrics.destination.type: expected one of "stdout", "table", "metrics", got "kafka"'), lines.join('\n'));
    assert.ok(lines.includes('rules[0].targets: expected at least 1 entries, got 0'), lines.join('\n'));
    assert.ok(lines.includes('extra: unknown key; allowed keys are: rules, streams, ingest'), lines.join('\n'));
  });

  it('checks rollup dimensions: names, and one list for every metrics destination', () => {
    const metrics = (rollup_dimensions: unknown) => ({ destination: { type: 'metrics', rollup_dimensions } });
    assert.deepEqual(validateConfig({ streams: { a: metrics(['plan']), b: metrics(['plan']) } }), []);
    const bad = validateConfig({ streams: { a: metrics(['plan', 'bad name']) } });
    assert.deepEqual(bad.map((i) => i.path), ['streams.a.destination.rollup_dimensions[1]']);
    const differ = validateConfig({ streams: { a: metrics(['plan']), b: metrics(['country']), c: stream } });
    assert.deepEqual(differ.map((i) => i.path), ['streams.a.destination.rollup_dimensions', 'streams.b.destination.rollup_dimensions']);
    assert.match(differ[0].message, /same rollup_dimensions/);
  });

  it('rejects unknown keys at every level', () => {
    const issues = validateConfig({ streams: { s: { ...stream, buffr: {} } } });
    assert.deepEqual(issues.map((i) => i.path), ['streams.s.buffr']);
  });

  it('rejects an invalid pattern with its path inside the pattern and the reason', () => {
    const issues = validateConfig({
      streams: { s: stream },
      rules: [{ name: 'r', pattern: { detail: { n: [{ numeric: ['>', 6, '<', 5] }] } }, targets: [{ stream: 's' }] }],
    });
    assert.deepEqual(issues, [
      { path: 'rules[0].pattern.detail.n[0].numeric', message: 'the lower bound of a range must be less than its upper bound' },
    ]);
  });

  it('rejects transformers AWS would refuse, unknown streams, duplicate names and mixed target forms', () => {
    const issues = validateConfig({
      streams: { s: stream },
      rules: [
        { name: 'r', pattern: { a: ['x'] }, targets: [{ stream: 's', input_transformer: { input_paths_map: { 'aws.events.event': '$.a' }, input_template: 'x' } }] },
        { name: 'r', pattern: { a: ['x'] }, targets: [{ stream: 'nope', input_path: 'detail' }] },
        { name: 'q', pattern: { a: ['x'] }, targets: [{ stream: 's', input_path: '$', transform: () => 1 }] },
      ],
    });
    const lines = issues.map((i) => `${i.path}: ${i.message}`);
    assert.ok(lines.some((l) => l.startsWith('rules[0].targets[0].input_transformer.input_paths_map.aws.events.event: "aws.events.event" is a predefined variable')), lines.join('\n'));
    assert.ok(lines.includes('rules[1].name: duplicate rule name "r"'), lines.join('\n'));
    assert.ok(lines.includes('rules[1].targets[0].stream: no stream named "nope"; streams: "s"'), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('rules[1].targets[0].input_path: "detail" is not a JSON path')), lines.join('\n'));
    assert.ok(lines.includes('rules[2].targets[0]: input_path and transform are mutually exclusive; use one'), lines.join('\n'));
  });

  it('explains a missing file, a file without a default export, and a file that does not load', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'));
    await assert.rejects(loadConfig(join(dir, 'missing.ts')), (e: ConfigError) => /config file not found/.test(e.issues[0].message));
    writeFileSync(join(dir, 'none.ts'), 'export const x = 1;\n');
    await assert.rejects(loadConfig(join(dir, 'none.ts')), (e: ConfigError) => /no default export/.test(e.issues[0].message));
    writeFileSync(join(dir, 'broken.ts'), 'export default {\n');
    await assert.rejects(loadConfig(join(dir, 'broken.ts')), (e: ConfigError) => /could not load/.test(e.issues[0].message));
  });
});
