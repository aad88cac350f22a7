// The query cache on its own: a result is served only while no point arrived for its tenant and
// metric, and its memory stays bounded however many (tenant, metric) pairs are written, without a
// reset ever letting a result from before it through.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QueryCache } from '../../src/query/query-cache.ts';
import type { MetricQuery } from '../../src/query/parse-query.ts';
import type { QueryResult } from '../../src/query/query-service.ts';

const query = (metric: string): MetricQuery => ({
  at: 'query',
  tenant: null,
  metric,
  from: 0,
  to: 3_600_000,
  step: 3_600_000,
  stepText: '1h',
  aggregations: [],
  groupBy: [],
  filters: [],
});
const result = (tenant: string, metric: string, n: number): QueryResult => ({
  tenant,
  metric,
  from: '1970-01-01T00:00:00.000Z',
  to: '1970-01-01T01:00:00.000Z',
  step: '1h',
  source: 'points',
  series: [{ group: {}, time: ['1970-01-01T00:00:00.000Z'], values: { count: [n] } }] as unknown as QueryResult['series'],
});

describe('query cache', () => {
  it('serves a result until a point arrives for its tenant and metric, and only to its tenant', () => {
    const c = new QueryCache();
    c.set('acme', query('m'), c.stamp('acme', 'm'), result('acme', 'm', 1));
    assert.equal(c.get('acme', query('m'))?.tenant, 'acme');
    assert.equal(c.get('globex', query('m')), undefined);
    c.bump('globex', 'm');
    assert.ok(c.get('acme', query('m')), "another tenant's points leave it");
    c.bump('acme', 'm');
    assert.equal(c.get('acme', query('m')), undefined);
  });

  it('keeps at most maxGenerations pairs however many metrics are written', () => {
    const c = new QueryCache(100, 10_000, 50);
    for (let i = 0; i < 1_000; i++) c.bump('acme', `metric_${i}`);
    assert.ok(c.size.generations <= 50, `${c.size.generations} generations held`);
    for (let i = 0; i < 500; i++) c.set('acme', query(`q_${i}`), c.stamp('acme', `q_${i}`), result('acme', `q_${i}`, i));
    assert.ok(c.size.entries <= 100, `${c.size.entries} results held`);
  });

  it('never serves a result computed before a reset, when its metric was written meanwhile', () => {
    const c = new QueryCache(100, 10_000, 3);
    // A query of a metric never written takes its stamp and runs...
    const stamp = c.stamp('acme', 'late');
    // ...points arrive for it, then enough other metrics to start the generations again...
    c.bump('acme', 'late');
    for (let i = 0; i < 5; i++) c.bump('acme', `other_${i}`);
    // ...and the query's result, from before those points, is stored under its old stamp.
    c.set('acme', query('late'), stamp, result('acme', 'late', 0));
    assert.equal(c.get('acme', query('late')), undefined, 'a stale result was served after the reset');
    // A result computed after the reset is served.
    c.set('acme', query('late'), c.stamp('acme', 'late'), result('acme', 'late', 1));
    assert.ok(c.get('acme', query('late')));
  });
});
