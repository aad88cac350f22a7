import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memberSpan } from '../../src/core/json/json-text.ts';
import { contentId, loggedItems, toEntry, toEnvelope } from '../../src/sources/event-envelope.ts';

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

test('an event sent as text is logged as sent, identified from its detail as sent (as PutEvents does), and read back as acknowledged', () => {
  const event = { source: 'shop', 'detail-type': 'order', time: '2026-03-01T10:00:00.789Z', resources: ['arn:x'], detail: { b: 'x"y', a: [1, { c: null }], é: '\u2028' } };
  const text = JSON.stringify(event);
  const fromText = toEntry(JSON.parse(text), 'acme', 'metrics', NOW, text);
  const parsedOnly = toEntry(JSON.parse(text), 'acme', 'metrics', NOW);
  assert.equal(fromText.kind, 'events');
  assert.equal(parsedOnly.kind, 'events');
  if (fromText.kind !== 'events' || parsedOnly.kind !== 'events') return;
  assert.equal(fromText.line(), text, 'the log keeps the line as sent');
  assert.equal(parsedOnly.line(), JSON.stringify(parsedOnly.item), 'without the text, the complete envelope');
  assert.equal(fromText.item.time, '2026-03-01T10:00:00Z');
  assert.equal(fromText.item.id, parsedOnly.item.id, 'compact text: the same id as serializing the parsed event');

  // Spaced text without a time: the detail is kept (and hashed) as it was sent.
  const spaced = `{ "source": "shop", "detail-type": "order", "detail": { "a" : 1 }\t}\r`;
  const e = toEntry(JSON.parse(spaced), 'acme', 'metrics', NOW, spaced);
  assert.equal(e.kind, 'events');
  if (e.kind !== 'events') return;
  assert.equal(e.line(), spaced);
  assert.equal(e.item.time, '2026-03-01T10:20:30Z');
  const put = toEnvelope({ source: 'shop', 'detail-type': 'order', detail: { a: 1 } }, 'acme', NOW, '{ "a" : 1 }');
  assert.ok(put.ok);
  if (put.ok) assert.equal(e.item.id, put.event.id, 'HTTP and PutEvents give one detail text one id');
  assert.equal(e.item.id, contentId('acme', ['shop', 'order', '2026-03-01T10:20:30Z', '', '{ "a" : 1 }']));

  // A detail over several lines (a pretty-printed file) is serialized: the log is NDJSON.
  const pretty = JSON.stringify({ source: 's', 'detail-type': 't', detail: { a: [1, 2] } }, null, 2);
  const p = toEntry(JSON.parse(pretty), 'acme', 'metrics', NOW, pretty);
  assert.equal(p.kind, 'events');
  if (p.kind !== 'events') return;
  assert.ok(!p.line().includes('\n'));

  // Read back from the log with the entry's tenant and acceptance time: the events as
  // acknowledged, ids and times included. A complete envelope (as PutEvents logs it) stays as
  // it is, whenever it is read back.
  const payload = [fromText.line(), e.line(), p.line()].join('\n');
  assert.deepEqual(loggedItems('events', payload, 'acme', NOW.toISOString()), [fromText.item, e.item, p.item]);
  assert.notDeepEqual(loggedItems('events', e.line(), 'acme', '2026-03-01T10:20:31.000Z'), [e.item], 'another time, another event');
  assert.notDeepEqual(loggedItems('events', e.line(), 'globex', NOW.toISOString()), [e.item], 'another tenant, another id');
  if (put.ok) assert.deepEqual(loggedItems('events', JSON.stringify(put.event), 'acme', '2026-03-02T00:00:00.000Z'), [put.event]);
  const record = { id: 'r1', value: { metric_name: 'm' } };
  assert.deepEqual(loggedItems('records', JSON.stringify(record), 'acme', NOW.toISOString()), [record], 'records are their lines');
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
