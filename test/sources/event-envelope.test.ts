import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memberSpan } from '../../src/core/json/json-text.ts';
import { contentId, toEntry, toEnvelope } from '../../src/sources/event-envelope.ts';

const span = (text: string, key: string): string | null => {
  const s = memberSpan(text, key);
  return s && text.slice(s[0], s[1]);
};

test('memberSpan finds a top-level member as JSON.parse reads it', () => {
  assert.equal(span('{"a":1,"detail":{"x":[1,{"y":"}"}]}}', 'detail'), '{"x":[1,{"y":"}"}]}');
  assert.equal(span('{"detail":{"a":1},"detail":{"b":2}}', 'detail'), '{"b":2}', 'the last member wins');
  assert.equal(span(' { "d\\u0065tail" : { "z" : true } , "n" : -1.5e3 } ', 'detail'), '{ "z" : true }', 'an escaped key is decoded');
  assert.equal(span('{"n": -1.5e3 ,"s":"a\\"b"}', 'n'), '-1.5e3');
  assert.equal(span('{"n": -1.5e3 ,"s":"a\\"b"}', 's'), '"a\\"b"');
  assert.equal(span('{"a":{"detail":{}}}', 'detail'), null, 'a nested member is not a top-level one');
  assert.equal(span('{"detail-type":"x","details":{}}', 'detail'), null);
  assert.equal(span('{}', 'detail'), null);
  assert.equal(span('[{"detail":{}}]', 'detail'), null);
  for (const text of ['{"a":1,"detail":{"q":"\\\\"},"b":[]}', '{"detail":null}', '{"detail":[1,[2,[3]]],"x":"]"}']) {
    assert.deepEqual(JSON.parse(span(text, 'detail')!), (JSON.parse(text) as { detail: unknown }).detail, text);
  }
});

const NOW = new Date('2026-03-01T10:20:30.456Z');

test('an event sent as text is logged and identified from its detail as sent, as PutEvents does', () => {
  const event = { source: 'shop', 'detail-type': 'order', time: '2026-03-01T10:00:00.789Z', resources: ['arn:x'], detail: { b: 'x"y', a: [1, { c: null }], é: '\u2028' } };
  const text = JSON.stringify(event);
  const fromText = toEntry(JSON.parse(text), 'acme', 'metrics', NOW, text);
  const parsedOnly = toEntry(JSON.parse(text), 'acme', 'metrics', NOW);
  assert.equal(fromText.kind, 'events');
  assert.equal(parsedOnly.kind, 'events');
  if (fromText.kind !== 'events' || parsedOnly.kind !== 'events') return;
  // Compact text: the same line, byte for byte, and the same id as serializing the parsed event.
  assert.equal(fromText.line(), parsedOnly.line());
  assert.equal(fromText.line(), JSON.stringify(fromText.item));
  assert.equal(fromText.item.time, '2026-03-01T10:00:00Z');
  assert.equal(fromText.item.id, parsedOnly.item.id);

  // Spaced text: the detail is kept (and hashed) as it was sent, and the line is still one line of valid JSON.
  const spaced = `{ "source": "shop", "detail-type": "order", "detail": { "a" : 1 }\t}\r`;
  const e = toEntry(JSON.parse(spaced), 'acme', 'metrics', NOW, spaced);
  assert.equal(e.kind, 'events');
  if (e.kind !== 'events') return;
  assert.equal(e.line(), `{"version":"0","id":"${e.item.id}","detail-type":"order","source":"shop","account":"000000000000","time":"2026-03-01T10:20:30Z","region":"local","resources":[],"detail":{ "a" : 1 }}`);
  assert.deepEqual(JSON.parse(e.line()), e.item);
  const put = toEnvelope({ source: 'shop', 'detail-type': 'order', detail: { a: 1 } }, 'acme', NOW, '{ "a" : 1 }');
  assert.ok(put.ok);
  if (put.ok) assert.equal(e.item.id, put.event.id, 'HTTP and PutEvents give one detail text one id');
  assert.equal(e.item.id, contentId('acme', ['shop', 'order', '2026-03-01T10:20:30Z', '', '{ "a" : 1 }']));

  // A detail over several lines (a pretty-printed file) is serialized again: the log is NDJSON.
  const pretty = JSON.stringify({ source: 's', 'detail-type': 't', detail: { a: [1, 2] } }, null, 2);
  const p = toEntry(JSON.parse(pretty), 'acme', 'metrics', NOW, pretty);
  assert.equal(p.kind, 'events');
  if (p.kind === 'events') {
    assert.ok(!p.line().includes('\n'));
    assert.deepEqual(JSON.parse(p.line()), p.item);
  }
});

test('events in one request share their normalized time, and a bad time is still refused', () => {
  const results = ['2026-03-01T10:00:00.100Z', '2026-03-01T10:00:00.900Z', '2026-03-01T11:00:00+01:00', 'yesterday', '2026-03-01T10:00:00.100Z'].map((time) =>
    toEnvelope({ source: 's', 'detail-type': 't', time, detail: {} }, 'acme', NOW),
  );
  assert.deepEqual(
    results.map((r) => (r.ok ? r.event.time : r.code)),
    ['2026-03-01T10:00:00Z', '2026-03-01T10:00:00Z', '2026-03-01T10:00:00Z', 'invalid_event', '2026-03-01T10:00:00Z'],
  );
  const late = toEnvelope({ source: 's', 'detail-type': 't', detail: {} }, 'acme', new Date('2026-03-01T10:20:31.001Z'));
  assert.ok(late.ok && late.event.time === '2026-03-01T10:20:31Z');
});

test('a metric record sent as text is logged as sent, under its content id', () => {
  const text = '{"metric_name":"m","metadata":{"tenant_id":"acme","event_time":"2026-03-01T10:00:00Z"},"data":{"n":1}}';
  const r = toEntry(JSON.parse(text), 'acme', 'metrics', NOW, text);
  assert.equal(r.kind, 'records');
  if (r.kind !== 'records') return;
  assert.equal(r.item.id, contentId('acme', ['metrics', text]));
  assert.equal(r.line(), JSON.stringify(r.item));
});
