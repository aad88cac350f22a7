// Per-tenant ingest quotas: events and bytes per second, per-tenant overrides, a refused request
// takes nothing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateLimiter } from '../../src/pipeline/rate-limiter.ts';

describe('rate limiter', () => {
  it('bounds events and bytes per tenant; a refused request takes nothing; tokens come back with time', () => {
    let now = 0;
    const limiter = new RateLimiter({ events_per_second: 100, burst: 200, bytes_per_second: 10_000, burst_bytes: 20_000 }, { vip: { events_per_second: 1000, burst: 2000 } }, () => now);
    assert.equal(limiter.take('acme', 150, 1000), 0);
    assert.equal(limiter.take('acme', 100, 1000), 1, 'over the event burst: wait a second');
    assert.equal(limiter.take('acme', 50, 1000), 0, 'the refused request took nothing');
    assert.equal(limiter.take('globex', 10, 19_000), 0);
    assert.equal(limiter.take('globex', 10, 5_000), 1, 'over the byte burst');
    assert.equal(limiter.take('vip', 1500, 1000), 0, 'a tenant override');
    now += 1000;
    assert.equal(limiter.take('acme', 100, 1000), 0, '100 events came back in a second');
    assert.equal(limiter.take('globex', 10, 5_000), 0, '10,000 bytes came back in a second');
  });

  it('without a byte limit, bytes are not counted', () => {
    const limiter = new RateLimiter({ events_per_second: 10, burst: 10 }, {}, () => 0);
    assert.equal(limiter.take('acme', 5, 1e12), 0);
  });
});
