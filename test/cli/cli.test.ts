// The sluice command as users run it: a child process, its stdout, stderr and exit status.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const root = join(import.meta.dirname, '../..');
const bin = join(root, 'bin/sluice.js');

function sluice(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, input, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('sluice test-pattern', () => {
  it('prints true or false and exits 0', () => {
    const yes = sluice(['test-pattern', '--pattern', '{"source":["aws.ec2"]}', '--event', '{"source":"aws.ec2"}']);
    assert.deepEqual([yes.status, yes.stdout], [0, 'true\n']);
    const no = sluice(['test-pattern', '--pattern', '{"source":["aws.ec2"]}', '--event', '{"source":"aws.s3"}']);
    assert.deepEqual([no.status, no.stdout], [0, 'false\n']);
  });

  it('reads @file arguments', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
    writeFileSync(join(dir, 'p.json'), '{"detail":{"n":[{"numeric":[">",1]}]}}');
    writeFileSync(join(dir, 'e.json'), '{"detail":{"n":2}}');
    const r = sluice(['test-pattern', '--pattern', `@${join(dir, 'p.json')}`, '--event', `@${join(dir, 'e.json')}`]);
    assert.deepEqual([r.status, r.stdout], [0, 'true\n']);
  });

  it('exits 2 with the reason on stderr for an invalid pattern, and for bad usage', () => {
    const bad = sluice(['test-pattern', '--pattern', '{"a":[{"numeric":["<",5,">",1]}]}', '--event', '{}']);
    assert.equal(bad.status, 2);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /invalid pattern: a\[0\]\.numeric: too many elements/);
    const usage = sluice(['test-pattern', '--pattern', '{}']);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /--pattern and --event are required/);
    const unknown = sluice(['test-pattern', '--bogus']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /Unknown option '--bogus'/);
  });

  it('--batch answers one line per input line, in order, including text-level cases', () => {
    const lines = [
      '{"pattern":{"a":[300]},"event":{"a":300}}',
      '{"pattern":{"a":[300]},"event":"{\\"a\\":300.0}"}',
      '{"pattern":"{\\"a\\":[\\"x\\"],\\"a\\":[\\"y\\"]}","event":{"a":"x"}}',
      '{"pattern":{"a":[]},"event":{"a":1}}',
      'not json',
      '',
      '{"pattern":{"a":["x"]},"event":[1]}',
    ];
    const r = sluice(['test-pattern', '--batch'], lines.join('\n') + '\n');
    assert.equal(r.status, 0);
    const out = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.equal(out.length, lines.length);
    assert.deepEqual(out.slice(0, 3), [{ matches: true }, { matches: true }, { matches: false }]);
    assert.match(out[3].error, /empty arrays are not allowed/);
    assert.match(out[4].error, /not valid JSON/);
    assert.match(out[5].error, /not valid JSON/);
    assert.match(out[6].error, /event must be a JSON object/);
  });
});

describe('sluice output into a pipe', () => {
  it('ends quietly, exit 0, when the reader stops reading (| head)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
    const cases = Array.from({ length: 50_000 }, (_, i) => JSON.stringify({ pattern: { source: ['a'] }, event: { source: i % 2 ? 'a' : 'b' } }));
    writeFileSync(join(dir, 'cases.ndjson'), cases.join('\n') + '\n');
    // 50,000 answers are more than a pipe holds: sluice is still writing when head has gone.
    const r = spawnSync('bash', ['-c', `"${process.execPath}" "${bin}" test-pattern --batch < cases.ndjson 2> err.txt | head -1; echo "sluice exited \${PIPESTATUS[0]}"`], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.stdout, '{"matches":false}\nsluice exited 0\n');
    assert.equal(readFileSync(join(dir, 'err.txt'), 'utf8'), '');
  });
});

describe('sluice test-pattern and test-transform --batch with expectations, for CI', () => {
  it('echoes name, says pass per case, and exits 1 naming the lines that failed', () => {
    const cases = [
      { name: 'running matches', pattern: { detail: { state: [{ 'anything-but': 'pending' }] } }, event: { detail: { state: 'running' } }, expect: true },
      { name: 'pending does not', pattern: { detail: { state: [{ 'anything-but': 'pending' }] } }, event: { detail: { state: 'pending' } }, expect: true },
      { pattern: { a: [1] }, event: { a: 1 } },
    ].map((c) => JSON.stringify(c));
    const r = sluice(['test-pattern', '--batch'], cases.join('\n') + '\n');
    assert.equal(r.status, 1, r.stderr);
    assert.deepEqual(r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l)), [
      { name: 'running matches', matches: true, expect: true, pass: true },
      { name: 'pending does not', matches: false, expect: true, pass: false },
      { matches: true },
    ]);
    assert.match(r.stderr, /sluice test-pattern: 1 of 3 cases failed \(line 2\)/);

    const ok = sluice(['test-pattern', '--batch'], [cases[0], cases[2]].join('\n'));
    assert.equal(ok.status, 0);
    assert.match(ok.stderr, /all 2 cases passed/);
    const badExpect = sluice(['test-pattern', '--batch'], JSON.stringify({ pattern: { a: [1] }, event: { a: 1 }, expect: 'yes' }));
    assert.match(JSON.parse(badExpect.stdout).error, /"expect" must be true or false/);

    const transforms = [
      { name: 'state text', event: { detail: { state: 'running' } }, inputPathsMap: { s: '$.detail.state' }, inputTemplate: '"state is <s>"', expect: '"state is running"' },
      { name: 'wrong text', event: { detail: { state: 'running' } }, inputPathsMap: { s: '$.detail.state' }, inputTemplate: '"<s>"', expect: 'running' },
      { name: 'refused', event: {}, inputPathsMap: { a: '$.a' }, inputTemplate: '{<a>: 1}', expect: 'x' },
    ].map((c) => JSON.stringify(c));
    const t = sluice(['test-transform', '--batch'], transforms.join('\n'));
    assert.equal(t.status, 1);
    const out = t.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(out[0], { name: 'state text', output: '"state is running"', expect: '"state is running"', pass: true });
    assert.deepEqual(out[1], { name: 'wrong text', output: '"running"', expect: 'running', pass: false });
    assert.equal(out[2].name, 'refused');
    assert.match(out[2].error, /object key/);
    assert.match(t.stderr, /sluice test-transform: 2 of 3 cases failed \(lines 2, 3\)/);
  });
});

describe('sluice test-transform', () => {
  const event = '{"time":"2024-01-01T00:00:00Z","detail":{"id":"i-1","n":3}}';

  it('prints the exact output text', () => {
    const r = sluice(['test-transform', '--event', event, '--input-paths-map', '{"id":"$.detail.id","n":"$.detail.n"}', '--input-template', '{"id": <id>, "s": "<id>/<n>", "rule": <aws.events.rule-name>}', '--rule-name', 'my-rule']);
    assert.deepEqual([r.status, r.stdout], [0, '{"id": "i-1", "s": "i-1/3", "rule": "my-rule"}\n']);
    const p = sluice(['test-transform', '--event', event, '--input-path', '$.detail']);
    assert.deepEqual([p.status, p.stdout], [0, '{"id":"i-1","n":3}\n']);
  });

  it('exits 2 when AWS would refuse the configuration', () => {
    const r = sluice(['test-transform', '--event', event, '--input-paths-map', '{"AWS.x":"$.a"}', '--input-template', 'x']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /cannot start with "AWS\."/);
  });

  it('--batch answers output or error per line, in order', () => {
    const lines = [
      JSON.stringify({ event: { detail: { a: 'x' } }, inputPathsMap: { a: '$.detail.a' }, inputTemplate: '<a> here', ruleName: 'r' }),
      JSON.stringify({ event: { detail: {} }, inputPath: '$.detail.none' }),
      JSON.stringify({ event: '{"n": 1.0}', inputPathsMap: '{"n": "$.n"}', inputTemplate: '{"n": <n>}' }),
      JSON.stringify({ event: {}, inputPathsMap: { a: '$.a' }, inputTemplate: '{<a>: 1}' }),
    ];
    const r = sluice(['test-transform', '--batch'], lines.join('\n'));
    assert.equal(r.status, 0);
    const out = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(out[0], { output: 'x here' });
    assert.match(out[1].error, /selects nothing/);
    assert.deepEqual(out[2], { output: '{"n": 1.0}' });
    assert.match(out[3].error, /object key/);
  });
});

describe('sluice validate', () => {
  it('prints ok for a valid config', () => {
    const r = sluice(['validate', '--config', 'examples/sluice.config.ts']);
    assert.deepEqual([r.status, r.stdout], [0, 'ok\n']);
  });

  it('prints every problem with its path and exits 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-validate-'));
    const file = join(dir, 'sluice.config.ts');
    writeFileSync(
      file,
      `export default { streams: { m: { buffer: { max_bytes: "5MB" }, destination: { type: "stdout" } } },
        rules: [{ name: "r", pattern: { source: [{ prefix: 1 }] }, targets: [{ stream: "m" }] }], colour: "blue" };\n`,
    );
    const r = sluice(['validate', '--config', file]);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /streams\.m\.buffer\.max_bytes: expected a positive integer and ≤ 134217728, got "5MB"/);
    assert.match(r.stderr, /colour: unknown key/);
  });
});
