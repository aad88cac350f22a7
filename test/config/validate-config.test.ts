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
    assert.ok(lines.includes('streams.metrics.destination.type: expected one of "stdout", "table", "segment", "mixpanel", "webhook", "archive", "metrics", got "kafka"'), lines.join('\n'));
    assert.ok(lines.includes('rules[0].targets: expected at least 1 entries, got 0'), lines.join('\n'));
    assert.ok(lines.includes('extra: unknown key; allowed keys are: rules, streams, ingest, jetstream, embed, sources'), lines.join('\n'));
  });

  it('compiles the rules whose shape is right even when other parts are wrong: one run names them all', () => {
    const lines = validateConfig({
      streams: { metrics: { buffer: { max_bytes: '5MB' }, destination: { type: 'stdout' } } },
      rules: [
        { name: 'range', pattern: { detail: { n: [{ numeric: ['>', 5, '<', 1] }] } }, targets: [{ stream: 'metrics' }] },
        { name: 'nowhere', pattern: { source: ['x'] }, targets: [{ stream: 'metrix', input_path: '$.detail[' }] },
        { name: 'shapeless', pattern: { source: ['x'] }, targets: [{ stream: 'metrics', colour: 'red' }] },
      ],
    }).map((i) => `${i.path}: ${i.message}`);
    assert.deepEqual(
      lines.map((l) => l.slice(0, l.indexOf(':'))),
      ['rules[2].targets[0].colour', 'streams.metrics.buffer.max_bytes', 'rules[0].pattern.detail.n[0].numeric', 'rules[1].targets[0].stream', 'rules[1].targets[0].input_path'],
      lines.join('\n'),
    );
    assert.ok(lines.includes('rules[1].targets[0].stream: no stream named "metrix"; streams: "metrics"'), lines.join('\n'));
    // With `streams` not an object, rules are still compiled but their streams are not looked up.
    const noStreams = validateConfig({ streams: 'metrics', rules: [{ name: 'r', pattern: { source: [{ prefix: 1 }] }, targets: [{ stream: 'metrics' }] }] });
    assert.deepEqual(noStreams.map((i) => i.path), ['streams', 'rules[0].pattern.source[0].prefix']);
  });

  it('checks the jetstream section and a stream\'s own pending limit', () => {
    const lines = validateConfig({
      streams: { s: { buffer: { max_pending_bytes: 10 }, destination: { type: 'stdout' } } },
      jetstream: { stream: 'bad name', replicas: 7, max_lag_messages: 0, ack_wait_seconds: 30 },
    }).map((i) => `${i.path}: ${i.message}`);
    assert.deepEqual(lines.sort(), [
      'jetstream.max_lag_messages: expected a positive integer and ≤ 100000000, got 0',
      'jetstream.replicas: expected a positive integer and ≤ 5, got 7',
      'jetstream.stream: expected a JetStream stream name (letters, digits, _ and -, up to 32), got "bad name"',
      'streams.s.buffer.max_pending_bytes: expected an integer ≥ 65536 and ≤ 1073741824, got 10',
    ]);
  });

  it('checks the embed keys: secret sources, at most 8 public keys', () => {
    assert.deepEqual(validateConfig({ embed: { secret: { env: 'S' }, public_keys: [{ file: '/k.pem' }] } }), []);
    const lines = validateConfig({ embed: { secret: 'inline-secret', public_keys: Array.from({ length: 9 }, () => ({ env: 'K' })), extra: 1 } }).map((i) => `${i.path}: ${i.message}`);
    assert.ok(lines.some((l) => l.startsWith('embed.secret: ')), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('embed.public_keys: ') && l.includes('8')), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('embed.extra: unknown key')), lines.join('\n'));
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

  it('checks the forwarders and the archive: secrets, URLs, paths, retry bounds, one Mixpanel auth', () => {
    const dest = (destination: Record<string, unknown>) => validateConfig({ streams: { s: { destination } } }).map((i) => `${i.path}: ${i.message}`);
    assert.deepEqual(dest({ type: 'segment', write_key: { env: 'SEGMENT_WRITE_KEY' }, endpoint: 'https://events.eu1.segmentapis.com', user_id: '$.metadata.user_id', retry_seconds: 600 }), []);
    assert.deepEqual(dest({ type: 'mixpanel', service_account: { username: 'sa', secret: { file: '/run/secrets/mp' }, project_id: '12345' }, strict: true }), []);
    assert.deepEqual(dest({ type: 'webhook', url: 'https://hooks.example.com/sluice', secret: { env: 'HOOK_SECRET' }, headers: { 'X-Team': 'data' } }), []);
    assert.deepEqual(dest({ type: 'archive', location: 's3://my-archive/events/', region: 'eu-west-1' }), []);
    assert.deepEqual(dest({ type: 'segment' }), ['streams.s.destination.write_key: is required']);
    assert.deepEqual(dest({ type: 'segment', write_key: 'wk_live_123' }), ['streams.s.destination.write_key: expected { env: NAME }, { file: PATH } or { aws_secret: NAME_OR_ARN }, got "wk_live_123"']);
    assert.deepEqual(dest({ type: 'mixpanel' }), ['streams.s.destination: a mixpanel destination needs exactly one of project_token or service_account']);
    assert.match(dest({ type: 'webhook', url: 'ftp://x', secret: { env: 'S' } })[0], /^streams\.s\.destination\.url: expected an http\(s\) URL/);
    assert.match(dest({ type: 'segment', write_key: { env: 'K' }, retry_seconds: 9000 })[0], /^streams\.s\.destination\.retry_seconds: .*7200/);
    assert.match(dest({ type: 'segment', write_key: { env: 'K' }, event: 'metric_name' })[0], /^streams\.s\.destination\.event: .*must start with "\$"/);
  });

  it('checks key sources and field policies, naming the allowed forms', () => {
    const withStep = (step: Record<string, unknown>) => validateConfig({ streams: { s: { processors: [{ type: 'pseudonymize', ...step }], destination: { type: 'stdout' } } } });
    assert.deepEqual(withStep({ key: { aws_secret: 'arn:aws:secretsmanager:eu-west-1:1:secret:keys', region: 'eu-west-1', json_key: 'ring' }, fields: { a: { bucket: 10 }, b: { bucket: [0, 18, 65] } } }), []);
    const at = (issues: Array<{ path: string; message: string }>) => issues.map((i) => `${i.path}: ${i.message}`);
    assert.match(at(withStep({ key: { vault: 'x' }, fields: {} })).join('\n'), /key: expected \{ env: NAME \}, \{ file: PATH \} or \{ aws_secret: NAME_OR_ARN \}/);
    assert.match(at(withStep({ key: { aws_secret: 'k', region: 'Ireland' }, fields: {} })).join('\n'), /key\.region: expected an AWS region/);
    const bad = at(withStep({ key: { env: 'K' }, fields: { a: 'mask', b: { bucket: 0 }, c: { bucket: [5, 1] }, d: { bucket: 10, round: 2 } } })).join('\n');
    assert.match(bad, /fields\.a: expected "hash", "drop", "truncate-ip", "coarsen-date", "keep" or \{ bucket: WIDTH \| \[EDGES\] \}, got "mask"/);
    assert.match(bad, /fields\.b\.bucket: expected a bucket width above 0 or 1 to 100 ascending bucket edges, got 0/);
    assert.match(bad, /fields\.c\.bucket: .*got \[5,1\]/);
    assert.match(bad, /fields\.d\.round: unknown key/);
  });

  it('refuses a pseudonymize policy on a field the stream\'s schema does not have', () => {
    const key = { env: 'K' };
    const issues = validateConfig({
      streams: {
        // the unified metric schema: metadata is an open map, data too; a top-level typo is not
        metrics: { processors: [{ type: 'validate' }, { type: 'pseudonymize', key, fields: { 'metadata.user_id': 'hash', 'data.age': { bucket: 10 }, 'metdata.ip': 'truncate-ip' } }], destination: { type: 'metrics' } },
        // a validate schema of its own
        crm: {
          processors: [
            { type: 'validate', schema: { type: 'object', properties: { user: { type: 'object', properties: { id: { type: 'string' } } }, email: { type: 'string' } } } },
            { type: 'pseudonymize', key, fields: { 'user.id': 'hash', email: 'drop', 'user.mail': 'drop' } },
          ],
          destination: { type: 'stdout' },
        },
        // no schema: the fields the table's columns read (card.number is inside the card column)
        tx: {
          processors: [{ type: 'pseudonymize', key, fields: { user_id: 'hash', 'card.number': 'drop', ip: 'truncate-ip' } }],
          destination: { type: 'table', table: 'tx', columns: { id: 'text', user_id: 'text', card: 'jsonb' }, primary_key: ['id'] },
        },
        // nothing to check against
        debug: { processors: [{ type: 'pseudonymize', key, fields: { anything: 'hash' } }], destination: { type: 'stdout' } },
      },
    });
    assert.deepEqual(
      issues.map((i) => `${i.path}: ${i.message}`),
      [
        'streams.metrics.processors[1].fields."metdata.ip": no field metdata.ip in the unified metric schema; a policy must name a field the records have',
        'streams.crm.processors[1].fields."user.mail": no field user.mail in its validate schema; a policy must name a field the records have',
        'streams.tx.processors[0].fields."ip": no field ip in the fields the columns of table tx read; a policy must name a field the records have',
      ],
    );
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
